"""JinaBERT v2 with LayerNorms on the query and key projections (jina-embeddings-v2-base-es).

The plain layout plus `attention.self.layer_norm_q` / `layer_norm_k` over the
full Q and K projections, after their Linear and before the split into heads;
llama.cpp's jina-bert-v2 applies its optional `attn_q_norm` / `attn_k_norm`
at the same place.
"""

from jina_edge.families.jina_bert_v2 import JINA_LAYER, register_jina

FAMILY = register_jina(
    name="jina-bert-v2-qk-norm",
    summary="JinaBERT v2 with LayerNorms on queries and keys",
    source="jinaai/jina-bert-v2-qk-devlin-norm-1e-2",
    layer={**JINA_LAYER, "attn_q_norm": "attention.self.layer_norm_q",
           "attn_k_norm": "attention.self.layer_norm_k"},
)
