"""Process-wide llama.cpp settings made by the backend module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROBE = (
    "import os; from jina_edge.engines.llama_cpp import gpu_available; gpu_available(); "
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


@pytest.mark.parametrize("amx", [False, True])
def test_amx_weight_buffers_are_off_where_llama_cpp_would_use_them(
        jina_tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch, amx: bool) -> None:
    import llama_cpp

    from jina_edge.engines.llama_cpp import LlamaCppEngine, LlamaCppSettings

    info = llama_cpp.llama_print_system_info().replace(b"AMX_INT8 = 1 | ", b"")
    if amx:
        info += b"AMX_INT8 = 1 | "
    monkeypatch.setattr(llama_cpp, "llama_print_system_info", lambda: info)
    loaded = []
    load = llama_cpp.llama_model_load_from_file

    def spy(path: bytes, params: object) -> object:
        loaded.append(params.use_extra_bufts)  # type: ignore[attr-defined]
        return load(path, params)

    monkeypatch.setattr(llama_cpp, "llama_model_load_from_file", spy)
    backend = LlamaCppEngine(jina_tiny_gguf, LlamaCppSettings(max_tokens=16, batch_tokens=16,
                                                           max_sequences=1, threads=1))
    try:
        (states,) = backend.token_states([backend.tokenize("hello world")])
    finally:
        backend.close()
    assert loaded == [not amx]
    assert np.isfinite(states).all() and states.shape[1] == backend.n_embd
