"""The `jina-edge` command: `main` (embed, convert, models, serve) and `index` (index, search)."""
