"""JinaBERT v2: symmetric ALiBi instead of positions, GEGLU feed-forward.

jina-embeddings-v2-small-en, -base-en, -base-de and -base-zh. The feed-forward's
`mlp.gated_layers` holds [gate; up] and `mlp.layernorm` normalises x + FFN(x).
"""

from typing import Any

from jina_edge.families import BERT_ATTENTION, BERT_EMBEDDINGS, Family, register

# What every JinaBERT v2 layout's config.json says, and what they share.
JINA_CONFIG: dict[str, tuple[object, ...]] = {
    "position_embedding_type": ("alibi", None), "feed_forward_type": ("geglu", None),
    "emb_pooler": ("mean", None), "hidden_act": ("gelu", None)}
JINA_ARCHITECTURES = ("JinaBertModel", "JinaBertForMaskedLM")
JINA_LAYER = {**BERT_ATTENTION, "ffn_up": "mlp.gated_layers", "ffn_down": "mlp.wo",
              "layer_output_norm": "mlp.layernorm"}



def register_jina(**fields: Any) -> Family:
    """Register a JinaBERT v2 layout: what they all share, and `fields` (which may override it)."""
    shared: dict[str, Any] = {
        "hf_architectures": JINA_ARCHITECTURES, "gguf_architecture": "jina-bert-v2",
        "embeddings": dict(BERT_EMBEDDINGS), "feed_forward": "geglu", "config": JINA_CONFIG,
        "tokenizer_pre": "jina-v2-en"}
    return register(Family(**{**shared, **fields}))


FAMILY = register_jina(
    name="jina-bert-v2",
    summary="JinaBERT v2 (ALiBi, GEGLU)",
    source="jinaai/jina-bert-implementation",
    layer=JINA_LAYER,
)
