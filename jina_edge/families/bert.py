"""Classic BERT: learned absolute positions, GELU feed-forward (all-MiniLM, bge-small, ...)."""

from jina_edge.families import BERT_ATTENTION, BERT_EMBEDDINGS, Family, register

FAMILY = register(Family(
    name="bert",
    summary="BERT with absolute positions (sentence-transformers models)",
    source="transformers' BertModel",
    hf_architectures=("BertModel", "BertForMaskedLM"),
    gguf_architecture="bert",
    embeddings={**BERT_EMBEDDINGS, "position_embd": "embeddings.position_embeddings"},
    layer={**BERT_ATTENTION, "ffn_up": "intermediate.dense", "ffn_down": "output.dense",
           "layer_output_norm": "output.LayerNorm"},
    feed_forward="gelu",
    config={"position_embedding_type": ("absolute", None), "hidden_act": ("gelu", None)},
))
