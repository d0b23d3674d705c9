"""jina-reranker-v1-*-en: the JinaBERT v2 encoder with BERT's pooler and a one-label classifier.

The original (JinaBertForSequenceClassification, a transformers
BertForSequenceClassification) scores a pair as
classifier(tanh(pooler.dense(h_CLS))). The published files' config.json
names the bare JinaBertModel: the classifier tells them apart.
"""

from jina_edge.families.jina_bert_v2 import JINA_ARCHITECTURES, JINA_LAYER, register_jina

FAMILY = register_jina(
    name="jina-reranker-v1",
    summary="JinaBERT v2 cross-encoder (reranker)",
    source="jinaai/jina-bert-implementation (JinaBertForSequenceClassification)",
    hf_architectures=(*JINA_ARCHITECTURES, "JinaBertForSequenceClassification"),
    layer=JINA_LAYER,
    head={"pooler": "pooler.dense", "cls": "classifier"},
    pooling="cls",
)
