"""Proving a converted GGUF right: probe texts through the runtime and the reference.

The GGUF is run exactly as users run it (`jina_edge.Embedder`, or for a
cross-encoder `jina_edge.Reranker`, on the engine the settings choose); the
checkpoint is run by the independent numpy forward pass in
`jina_edge.convert.reference`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jina_edge.convert.reference import ReferenceModel

_SENTENCES = (
    "The pump was sized for a peak flow of twelve litres per minute.",
    "Late chunking embeds the whole document before splitting it into passages.",
    "A Raspberry Pi 4 with 4 GB of memory can index a notes folder overnight.",
    "Quantized weights trade a little accuracy for a much smaller file.",
    "She moved to Lisbon in 2019 and opened a small bakery near the river.",
    "Gradient descent follows the negative slope of the loss surface.",
    "The meeting was postponed because half of the team had the flu.",
    "def mean(xs): return sum(xs) / len(xs)  # average of a list",
)
# Built-in probes: short, medium, and longer than 512 tokens (BERT's window),
# so that positions past 512 are checked on models that have them.
PROBES: dict[str, str] = {
    "short": "Hello world!",
    "question": "How did we size the pump for the greenhouse irrigation?",
    "unicode": "Café déjà vu — naïve façade, 東京タワー, emoji 🙂 and tabs\tand\nnewlines.",
    "languages": "Die Größe der Pumpe passt. La bomba funciona bien. 水泵的尺寸合适。",
    "code": "def mean(xs):\n    return sum(xs) / len(xs)  # {'a': [1, 2]} != None",
    # One word over 100 characters: WordPiece's [UNK], but pieces in llama.cpp's WPM.
    "long word": "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "paragraph": " ".join(_SENTENCES),
    "long": " ".join(_SENTENCES * 12),
}
# Verification fails below these cosines (float types) ...
FAIL_BELOW = {"f32": 0.9999, "f16": 0.999, "bf16": 0.999}
# ... and warns below these (quantized types).
WARN_BELOW = {"q8_0": 0.99, "q6_k": 0.99, "q5_k_m": 0.98, "q4_k_m": 0.97, "q4_0": 0.97}
# A reranker's probes pair this query with each probe text above.
RERANK_QUERY = PROBES["question"]
# A reranker fails when a pair's score (logit) is further than this from the
# reference's (float types), and warns beyond the second table (quantized types).
# Set above the differences seen on random weights (flash attention keeps K and V
# in f16; measured: see docs/performance.md, "Figures behind constants in the code").
SCORE_FAIL_ABOVE = {"f32": 0.02, "f16": 0.05, "bf16": 0.08}
SCORE_WARN_ABOVE = {"q8_0": 0.15, "q6_k": 0.15, "q5_k_m": 0.25, "q4_k_m": 0.4, "q4_0": 0.4}

ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ProbeResult:
    """One probe text: token counts, whether ids agree, cosine against the reference.

    `tokens_match` compares the tokenizer jina-edge runs (the one in the GGUF)
    with the checkpoint's and decides the verdict; `llama_tokens_match` compares
    llama.cpp's own tokenizer with the checkpoint's, for those who run the file
    in plain llama.cpp, and is information only (None: llama.cpp did not run).
    """

    name: str
    n_tokens: int
    tokens_match: bool
    cosine: float | None  # None: longer than the model's window, not run
    llama_tokens_match: bool | None = None
    score_error: float | None = None  # rerankers: |score - the reference's|, in logits


@dataclass(frozen=True)
class Verification:
    """The verification table and its verdict ("ok", "warn" or "fail")."""

    output_type: str
    probes: list[ProbeResult]
    status: str
    message: str

    @property
    def min_cosine(self) -> float:
        """The lowest cosine over the probes that ran."""
        return min(p.cosine for p in self.probes if p.cosine is not None)

    def table(self) -> str:
        """The verification table as aligned text (rerankers add the score difference)."""
        scores = any(p.score_error is not None for p in self.probes)
        score_head = f" {'score Δ':>9}" if scores else ""
        lines = [f"{'probe':<10} {'tokens':>6}  {'ids':<5} {'cosine':>9}{score_head}  "
                 "llama.cpp ids"]
        for p in self.probes:
            cosine = "skipped" if p.cosine is None else f"{p.cosine:.6f}"
            ids = "same" if p.tokens_match else "DIFF"
            native = {True: "same", False: "differ (information)",
                      None: "not run"}[p.llama_tokens_match]
            error = "" if not scores else " " + (
                f"{'skipped':>9}" if p.score_error is None else f"{p.score_error:>9.5f}")
            lines.append(f"{p.name:<10} {p.n_tokens:>6}  {ids:<5} {cosine:>9}{error}  {native}")
        lines.append(f"{self.status.upper()}: {self.message}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for JSON."""
        return asdict(self)


def verify_model(
    gguf_path: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    output_type: str,
    *,
    progress: ProgressCallback | None = None,
) -> Verification:
    """Embed the probe texts with the GGUF and the reference and compare them."""
    from jina_edge.embedder import Embedder  # the runtime sits above the converter

    reference = ReferenceModel.from_checkpoint(Path(checkpoint))
    if reference.is_reranker:
        return _verify_reranker(gguf_path, reference, output_type, progress)
    results = []
    with Embedder.from_config(gguf_path, device="cpu", long_input="error") as embedder:
        for done, (name, text) in enumerate(PROBES.items()):
            if progress:
                progress("verify", done, len(PROBES))
            ref_ids = reference.tokenize(text)
            ids = embedder.tokenize(text)
            cosine = None
            if len(ids) <= min(embedder.max_tokens, reference.max_tokens):
                states = reference.token_states(ids)
                expected = states[0] if embedder.pooling == "cls" else states.mean(axis=0)
                got = embedder.embed(text).astype(np.float64)
                cosine = float(np.dot(expected, got) / np.linalg.norm(expected))
            native = embedder.llama_tokenize(text)
            results.append(ProbeResult(name, len(ref_ids), ids == ref_ids, cosine,
                                       None if native is None else native == ref_ids))
    if progress:
        progress("verify", len(PROBES), len(PROBES))
    return _verdict(output_type, results)


def _verify_reranker(gguf_path: str | os.PathLike[str], reference: ReferenceModel,
                     output_type: str, progress: ProgressCallback | None) -> Verification:
    """Score (RERANK_QUERY, probe text) pairs with the GGUF and the reference.

    The cosine is that of the first token's state (what llama.cpp computes),
    the score error that of the logit (the head, applied by jina-edge).
    """
    from jina_edge.reranker import Reranker  # the runtime sits above the converter

    results = []
    with Reranker.from_config(gguf_path, device="cpu", long_input="error") as reranker:
        for done, (name, text) in enumerate(PROBES.items()):
            if progress:
                progress("verify", done, len(PROBES))
            ref_ids = reference.tokenize_pair(RERANK_QUERY, text)
            ids = reranker.tokenize_pair(RERANK_QUERY, text)
            cosine = error = None
            if len(ids) <= min(reranker.max_tokens, reference.max_tokens):
                logits, states = reranker.score_ids([ids])
                expected = reference.token_states(ids)[0]
                got = states[0].astype(np.float64)
                cosine = float(expected @ got / (np.linalg.norm(expected) * np.linalg.norm(got)))
                error = abs(float(logits[0]) - reference.score(ids))
            # llama.cpp's own pair, as its server builds one: [BOS] q [EOS] [SEP] d [EOS].
            assert reranker.info is not None  # a Reranker always loads a file
            sep = reranker.info.metadata.get("tokenizer.ggml.seperator_token_id")
            query, document = reranker.llama_tokenize(RERANK_QUERY), reranker.llama_tokenize(text)
            native = None if query is None or document is None else (
                [*query, sep, *document[1:]] == ref_ids)
            results.append(ProbeResult(name, len(ref_ids), ids == ref_ids, cosine, native, error))
    if progress:
        progress("verify", len(PROBES), len(PROBES))
    verdict = _verdict(output_type, results)
    errors = [p.score_error for p in results if p.score_error is not None]
    if verdict.status == "fail" or not errors:
        return verdict
    worst = max(errors)
    if output_type in SCORE_FAIL_ABOVE and worst > SCORE_FAIL_ABOVE[output_type]:
        return Verification(output_type, results, "fail",
                            f"scores differ from the reference by up to {worst:.5f} "
                            f"(> {SCORE_FAIL_ABOVE[output_type]} for {output_type}): the "
                            "conversion is wrong")
    limit = SCORE_WARN_ABOVE.get(output_type, max(SCORE_WARN_ABOVE.values()))
    if output_type not in SCORE_FAIL_ABOVE and worst > limit:
        return Verification(output_type, results, "warn",
                            f"scores differ from the reference by up to {worst:.5f} (> {limit}):"
                            f" {output_type} loses noticeable accuracy on this model; consider "
                            "q8_0 or f16")
    return Verification(output_type, results, verdict.status,
                        f"{verdict.message}; scores within {worst:.5f} of the reference")


def _verdict(output_type: str, probes: list[ProbeResult]) -> Verification:
    def make(status: str, message: str) -> Verification:
        return Verification(output_type, probes, status, message)

    bad_ids = [p.name for p in probes if not p.tokens_match]
    if bad_ids:
        return make("fail", "token ids differ from the checkpoint's tokenizer on: "
                    + ", ".join(bad_ids))
    lowest = min(p.cosine for p in probes if p.cosine is not None)
    if output_type in FAIL_BELOW:
        floor = FAIL_BELOW[output_type]
        if lowest < floor:
            return make("fail", f"cosine {lowest:.6f} is below {floor} for {output_type}: "
                        "the conversion is wrong")
        return make("ok", f"lowest cosine {lowest:.6f} (>= {floor})")
    floor = WARN_BELOW.get(output_type, 0.97)
    if lowest < floor:
        return make("warn", f"lowest cosine {lowest:.6f} is below {floor}: {output_type} loses "
                    "noticeable quality on this model; consider q8_0 or f16")
    return make("ok", f"lowest cosine {lowest:.6f} (>= {floor})")
