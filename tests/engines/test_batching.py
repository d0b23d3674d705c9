"""One run plan for every engine: each index once, within the engine's limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jina_edge.engines import RunLimits, plan_runs
from jina_edge.engines.llama_cpp import MAX_PACKED_SEQUENCES, PACK_TOKENS
from jina_edge.engines.onnx_runtime import LIMITS

LLAMA_CPP = RunLimits(tokens=PACK_TOKENS, sequences=MAX_PACKED_SEQUENCES)


def test_runs_group_similar_lengths() -> None:
    lengths = [5, 300, 6, 290, 7] + [10] * 40
    runs = plan_runs(lengths, LIMITS)
    assert {1, 3} in [set(run) for run in runs]  # the two long ones together, alone
    assert {0, 2, 4} in [set(run) for run in runs]  # 5, 6, 7: 10 is over 1.5 x 5


@given(st.lists(st.integers(min_value=1, max_value=9000), max_size=200),
       st.sampled_from([LIMITS, LLAMA_CPP]))
def test_every_sequence_runs_once_within_the_limits(lengths: list[int],
                                                    limits: RunLimits) -> None:
    runs = plan_runs(lengths, limits)
    assert sorted(i for run in runs for i in run) == list(range(len(lengths)))
    for run in runs:
        width = max(lengths[i] for i in run)
        assert len(run) <= limits.sequences
        assert len(run) == 1 or len(run) * width <= limits.tokens  # a longer one runs alone
        assert width <= limits.max_padding * min(lengths[i] for i in run)
