#!/usr/bin/env bash
# Install jina-edge on a Raspberry Pi (Raspberry Pi OS 64-bit, Pi 4 or 5) and
# pull the small model, sized for the board's memory.
#
#   ./install.sh              install for the current user
#   ./install.sh --dry-run    print every step without running it
#   ./install.sh --from SRC   install from SRC (a checkout, a wheel, or "jina-edge"
#                             for PyPI) instead of the checkout holding this script
#   ./install.sh --model PATH import PATH (a checkpoint folder or a GGUF copied from
#                             another machine) instead of downloading the small model
#
# Environment: JINA_EDGE_HOME (data folder), JINA_EDGE_VENV (the venv), MEMINFO
# and BOARD_MODEL (files to read the RAM size and the board name from;
# /proc/meminfo and /proc/device-tree/model by default, set by the tests).
set -euo pipefail

DRY_RUN=0
MODEL_PATH=""
# Default: the checkout this script is part of (jina-edge is not on PyPI yet).
SOURCE="$(cd "$(dirname "$0")/../.." && pwd)"
[ -f "$SOURCE/pyproject.toml" ] || SOURCE="jina-edge"
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --from) [ $# -ge 2 ] || { echo "--from needs a value" >&2; exit 2; }
                SOURCE="$2"; shift ;;
        --model) [ $# -ge 2 ] || { echo "--model needs a path" >&2; exit 2; }
                 MODEL_PATH="$2"; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

run() {
    echo "+ $*"
    if [ "$DRY_RUN" -eq 0 ]; then
        "$@"
    fi
}

MEMINFO="${MEMINFO:-/proc/meminfo}"
ram_kb=$(awk '/^MemTotal:/ {print $2}' "$MEMINFO")
ram_mb=$((ram_kb / 1024))
arch=$(uname -m)
BOARD_MODEL="${BOARD_MODEL:-/proc/device-tree/model}"
model=$( (tr -d '\0' < "$BOARD_MODEL") 2>/dev/null || echo "unknown board")
echo "board: $model, $arch, ${ram_mb} MB RAM"
if [ "$arch" != "aarch64" ]; then
    echo "warning: this script is meant for 64-bit Raspberry Pi OS (aarch64), not $arch" >&2
fi

# Memory: the small model's weights are 24 MB at q4_k_m, 33 MB at q8_0; what
# grows with the window is llama.cpp's compute buffer. Peak RSS of one embed,
# measured (small-en size, x86; scripts/pi/README.md has the emulated Pi numbers):
# 194 MB at 512 tokens, 273 MB at 1,024, 432 MB at 2,048, 763 MB at 4,096 and
# 1.47 GB at 8,192. Each tier keeps the process under half the board's memory.
if [ "$ram_mb" -lt 1500 ]; then
    model_type="q4_k_m"; max_tokens=1024
elif [ "$ram_mb" -lt 3000 ]; then
    model_type="q4_k_m"; max_tokens=2048
elif [ "$ram_mb" -lt 6000 ]; then
    model_type="q8_0"; max_tokens=4096
else
    model_type="q8_0"; max_tokens=8192
fi
threads=$(nproc 2>/dev/null || echo 4)
echo "choosing: model type $model_type, max_tokens $max_tokens, $threads threads"

# llama.cpp is built for the board's core. Named, not "native": gcc reads the
# core from /proc/cpuinfo, which an emulator or container may not show. The Pi 4
# and Pi 400 (Cortex-A72, BCM2711) are Armv8.0 with CRC and without the crypto extensions;
# the Pi 5 (Cortex-A76) adds the dot-product and fp16 instructions that
# llama.cpp's quantized kernels use. No llava/mtmd library: nothing here uses
# it, and it only adds build time. A CMAKE_ARGS of your own wins.
case "$model" in
    *"Raspberry Pi 5"*|*"Compute Module 5"*) cpu="cortex-a76"; march="armv8.2-a+dotprod+fp16" ;;
    *"Raspberry Pi 4"*|*"Compute Module 4"*) cpu="cortex-a72"; march="armv8-a+crc" ;;
    *) cpu="" ;;
esac
if [ -n "$cpu" ]; then
    build="-DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=$march"
    build="$build -DCMAKE_C_FLAGS=-mtune=$cpu -DCMAKE_CXX_FLAGS=-mtune=$cpu"
else
    build="-DGGML_NATIVE=ON"
fi
export CMAKE_ARGS="${CMAKE_ARGS:-$build -DLLAVA_BUILD=OFF}"
echo "llama.cpp build: CMAKE_ARGS=$CMAKE_ARGS"

# apt only for what is missing: a second run asks for no password.
packages="python3-venv python3-dev build-essential cmake git"
missing=""
for package in $packages; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $package"
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ -n "$missing" ]; then
    run $sudo apt-get update
    # shellcheck disable=SC2086  # one word per package
    run $sudo apt-get install -y $missing
else
    echo "apt packages: all installed ($packages)"
fi

venv="${JINA_EDGE_VENV:-$HOME/.local/share/jina-edge/venv}"
run python3 -m venv "$venv"
# With the llama extra: the memory budgets above were measured on llama.cpp, and
# the small boards' q4_k_m is its quantizer's. Its build takes 20-40 minutes on
# a Pi 4; pip keeps the wheel.
run "$venv/bin/pip" install --upgrade pip
run "$venv/bin/pip" install "${SOURCE}[llama]"

config_home="${JINA_EDGE_HOME:-${XDG_CONFIG_HOME:-$HOME/.config}/jina-edge}"
run mkdir -p "$config_home"
# llama.cpp alone: the memory budgets above were measured with it, and ONNX
# Runtime (the default engine elsewhere) holds a float32 copy of the weights.
config="{\"threads\": $threads, \"max_tokens\": $max_tokens, \"engine\": \"llama.cpp\"}"
echo "+ write $config_home/config.json: $config"
if [ "$DRY_RUN" -eq 0 ]; then
    if [ -e "$config_home/config.json" ]; then
        echo "keeping the existing $config_home/config.json" >&2
    else
        printf '%s\n' "$config" > "$config_home/config.json"
    fi
fi
if [ -n "$MODEL_PATH" ]; then
    # Named after the folder or file, and made the default the examples use.
    name=$(basename "${MODEL_PATH%/}" .gguf)
    run "$venv/bin/jina-edge" models import "$MODEL_PATH" --name "$name" --type "$model_type"
    run "$venv/bin/jina-edge" models default "$name"
else
    run "$venv/bin/jina-edge" models pull jina-embeddings-v2-small-en --type "$model_type"
fi
run mkdir -p "$HOME/.local/bin"
run ln -sf "$venv/bin/jina-edge" "$HOME/.local/bin/jina-edge"
echo "done: try  jina-edge embed \"hello\"  (add ~/.local/bin to PATH if needed)"
