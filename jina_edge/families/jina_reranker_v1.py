"""jina-reranker-v1-*-en: the JinaBERT v2 encoder with BERT's pooler and a one-label classifier.

The original (JinaBertForSequenceClassification, a transformers
BertForSequenceClassification) scores a pair as
classifier(tanh(pooler.dense(h_CLS))). The published files' config.json
names the bare JinaBertModel: the classifier tells them apart.
"""

from jina_edge.families import BERT_EMBEDDINGS, Family, register
from jina_edge.families.jina_bert_v2 import JINA_ARCHITECTURES, JINA_CONFIG, JINA_LAYER

FAMILY = register(Family(
    name="jina-reranker-v1",
    summary="JinaBERT v2 cross-encoder (reranker)",
    source="jinaai/jina-bert-implementation (JinaBertForSequenceClassification)",
    hf_architectures=(*JINA_ARCHITECTURES, "JinaBertForSequenceClassification"),
    gguf_architecture="jina-bert-v2",
    embeddings=dict(BERT_EMBEDDINGS),
    layer=JINA_LAYER,
    head={"pooler": "pooler.dense", "cls": "classifier"},
    feed_forward="geglu",
    config=JINA_CONFIG,
    pooling="cls",
    tokenizer_pre="jina-v2-en",
))
