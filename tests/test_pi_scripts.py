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
    (900_000, "q4_k_m", 1024),     # a 1 GB board: 2,048 tokens would take half of it
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
    assert '"engine": "llama.cpp"' in out  # the budgets were measured with llama.cpp alone
    assert f"pip install {PI.parents[1]}[llama]" in out  # the checkout it belongs to
    assert not (tmp_path / "home").exists()  # a dry run changes nothing


def _dry_run(tmp_path: Path, *args: str, board: str | None = None) -> str:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       3900000 kB\n")
    env = {k: v for k, v in os.environ.items() if k != "CMAKE_ARGS"}
    env.update(MEMINFO=str(meminfo), HOME=str(tmp_path), JINA_EDGE_HOME=str(tmp_path / "home"),
               BOARD_MODEL=str(tmp_path / "no-such-file"))
    if board is not None:
        (tmp_path / "model").write_text(board + "\0")
        env["BOARD_MODEL"] = str(tmp_path / "model")
    result = subprocess.run(["bash", str(PI / "install.sh"), "--dry-run", *args], env=env,
                            capture_output=True, text=True, check=True)
    return result.stdout


@pytest.mark.parametrize(("board", "flags"), [
    ("Raspberry Pi 4 Model B Rev 1.5", "-DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=armv8-a+crc "),
    ("Raspberry Pi 400 Rev 1.0", "-DGGML_CPU_ARM_ARCH=armv8-a+crc "),
    ("Raspberry Pi 5 Model B Rev 1.0", "-DGGML_CPU_ARM_ARCH=armv8.2-a+dotprod+fp16 "),
    (None, "-DGGML_NATIVE=ON "),
])
def test_llama_cpp_is_built_for_the_boards_core(tmp_path: Path, board: str | None,
                                                flags: str) -> None:
    # Named, not -mcpu=native: under emulation gcc cannot see the core.
    out = _dry_run(tmp_path, board=board)
    assert flags in out and "-DLLAVA_BUILD=OFF" in out


def test_model_option_imports_instead_of_pulling(tmp_path: Path) -> None:
    out = _dry_run(tmp_path, "--model", "/media/usb/small-en.gguf")
    assert "models import /media/usb/small-en.gguf --name small-en --type q8_0" in out
    assert "models default small-en" in out
    assert "models pull" not in out


def test_option_without_its_value_is_refused() -> None:
    result = subprocess.run(["bash", str(PI / "install.sh"), "--model"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--model needs a path" in result.stderr


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
