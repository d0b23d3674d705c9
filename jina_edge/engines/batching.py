"""Which token sequences run together: one plan for every engine, within the engine's limits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RunLimits:
    """How much one run of an engine may take.

    Attributes:
        tokens: sequences times the longest of them (a longer sequence runs alone).
        sequences: sequences in one run.
        max_padding: the longest sequence of a run is at most this many times its shortest.
    """

    tokens: int
    sequences: int
    max_padding: float = math.inf


def plan_runs(lengths: Sequence[int], limits: RunLimits) -> list[list[int]]:
    """Indices of the sequences, in runs of similar length within `limits`, shortest first."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    runs: list[list[int]] = []
    for i in order:
        run = runs[-1] if runs else []
        if (run and len(run) < limits.sequences
                and (len(run) + 1) * lengths[i] <= limits.tokens
                and lengths[i] <= limits.max_padding * max(lengths[run[0]], 1)):
            run.append(i)
        else:
            runs.append([i])
    return runs
