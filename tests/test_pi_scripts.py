"""The Raspberry Pi kit, checked on x86: shellcheck, dry runs with faked memory, unit files."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest

PI = Path(__file__).resolve().parents[1] / "scripts" / "pi"
SCRIPTS = sorted(PI.glob("*.sh"))


def test_scripts_pass_shellcheck() -> None:
    assert SCRIPTS
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "install shellcheck (apt-get install shellcheck); .ci/run does"
    result = subprocess.run([shellcheck, *map(str, SCRIPTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(("ram_kb", "model_type", "max_tokens"), [
    (1_900_000, "q4_k_m", 2048),   # a 2 GB board
    (3_900_000, "q8_0", 4096),     # 4 GB
    (7_800_000, "q8_0", 8192),     # 8 GB
])
def test_install_dry_run_sizes_the_model_by_memory(tmp_path: Path, ram_kb: int,
                                                   model_type: str, max_tokens: int) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal:       {ram_kb} kB\nMemFree: 1000 kB\n")
    env = {**os.environ, "MEMINFO": str(meminfo), "HOME": str(tmp_path),
           "JINA_EDGE_HOME": str(tmp_path / "home")}
    result = subprocess.run(["bash", str(PI / "install.sh"), "--dry-run"], env=env,
                            capture_output=True, text=True, check=True)
    out = result.stdout
    assert f"models pull jina-embeddings-v2-small-en --type {model_type}" in out
    assert f'"max_tokens": {max_tokens}' in out
    assert f"pip install {PI.parents[1]}" in out  # installs the checkout it belongs to
    assert not (tmp_path / "home").exists()  # a dry run changes nothing


def test_unknown_option_is_refused() -> None:
    result = subprocess.run(["bash", str(PI / "install.sh"), "--frobnicate"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "unknown option" in result.stderr


@pytest.mark.parametrize("unit", ["jina-edge-sync.service", "jina-edge-watch.service"])
def test_service_units_run_jina_edge(unit: str) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(PI / unit)
    exec_start = parser["Service"]["ExecStart"]
    assert exec_start.startswith("%h/.local/bin/jina-edge index ")
    assert parser["Unit"]["Description"]


def test_timer_runs_nightly() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(PI / "jina-edge-sync.timer")
    assert parser["Timer"]["OnCalendar"] == "*-*-* 02:30:00"
    assert parser["Install"]["WantedBy"] == "timers.target"


def test_example_scripts_explain_their_usage() -> None:
    for script in ("index-and-search.sh", "embed-stdin.sh"):
        result = subprocess.run(["bash", str(PI / script)], capture_output=True, text=True)
        assert result.returncode == 2 and "usage:" in result.stderr


def test_embed_stdin_writes_vectors(tmp_path: Path, jina_tiny_gguf: Path) -> None:
    import numpy as np

    out = tmp_path / "v.npy"
    env = {**os.environ, "JINA_EDGE_MODEL": str(jina_tiny_gguf)}
    subprocess.run(["bash", str(PI / "embed-stdin.sh"), str(out)], input="one\ntwo\nthree\n",
                   env=env, text=True, check=True, capture_output=True)
    assert np.load(out).shape == (3, 32)
