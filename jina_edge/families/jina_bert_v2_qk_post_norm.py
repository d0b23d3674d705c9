"""JinaBERT v2's qk-post-norm layout (jina-embeddings-v2-base-code).

LayerNorms on the full Q and K projections; `layer_norm_1` over x + the
attention block's output (itself LayerNorm(dense + x)); `mlp.up_gated_layer`
holds [up; gate] with GELU on the gate; `layer_norm_2` over h + FFN(h).
"""

from jina_edge.families import BERT_ATTENTION
from jina_edge.families.jina_bert_v2 import register_jina

FAMILY = register_jina(
    name="jina-bert-v2-qk-post-norm",
    summary="JinaBERT v2 with query/key norms and a second residual norm (code)",
    source="jinaai/jina-bert-v2-qk-post-norm",
    layer={**BERT_ATTENTION, "attn_q_norm": "attention.self.layer_norm_q",
           "attn_k_norm": "attention.self.layer_norm_k", "attn_norm_2": "layer_norm_1",
           "ffn_up": "mlp.up_gated_layer", "ffn_down": "mlp.down_layer",
           "layer_output_norm": "layer_norm_2"},
    feed_forward="geglu-up-first",
)
