"""Process-wide llama.cpp settings made by the backend module."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = (
    "import os; from jina_edge.backend import gpu_available; gpu_available(); "
    "print(os.environ['OMP_WAIT_POLICY'])"
)


def _policy_after_init(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def test_openmp_threads_wait_passively_by_default() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy_after_init(env) == "PASSIVE"


def test_a_users_openmp_setting_is_kept() -> None:
    assert _policy_after_init({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
