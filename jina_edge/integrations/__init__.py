"""Adapters for frameworks: LangChain and LlamaIndex, each behind its own extra."""
