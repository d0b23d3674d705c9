#!/usr/bin/env bash
# Install jina-edge on a Raspberry Pi (Raspberry Pi OS 64-bit, Pi 4 or 5) and
# pull the small model, sized for the board's memory.
#
#   ./install.sh              install for the current user
#   ./install.sh --dry-run    print every step without running it
#   ./install.sh --from SRC   install from SRC (a checkout, a wheel, or "jina-edge"
#                             for PyPI) instead of the checkout holding this script
#
# Environment: JINA_EDGE_HOME (data folder), MEMINFO (file to read the RAM
# size from; /proc/meminfo by default, set by the tests).
set -euo pipefail

DRY_RUN=0
# Default: the checkout this script is part of (jina-edge is not on PyPI yet).
SOURCE="$(cd "$(dirname "$0")/../.." && pwd)"
[ -f "$SOURCE/pyproject.toml" ] || SOURCE="jina-edge"
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --from) SOURCE="$2"; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
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
model=$( (tr -d '\0' < /proc/device-tree/model) 2>/dev/null || echo "unknown board")
echo "board: $model, $arch, ${ram_mb} MB RAM"
if [ "$arch" != "aarch64" ]; then
    echo "warning: this script is meant for 64-bit Raspberry Pi OS (aarch64), not $arch" >&2
fi

# Memory: the small model's weights are 33 MB at q8_0; what grows with the
# window is llama.cpp's compute buffer (measured, small-en q8_0: 176 MB peak at
# 512 tokens, 253 MB at 1,024, 413 MB at 2,048, 1.46 GB at 8,192). A 2,048-token
# window keeps the whole process well under 1 GB on a 2 GB board.
if [ "$ram_mb" -lt 3000 ]; then
    model_type="q4_k_m"; max_tokens=2048
elif [ "$ram_mb" -lt 6000 ]; then
    model_type="q8_0"; max_tokens=4096
else
    model_type="q8_0"; max_tokens=8192
fi
threads=$(nproc 2>/dev/null || echo 4)
echo "choosing: model type $model_type, max_tokens $max_tokens, $threads threads"

run sudo apt-get update
run sudo apt-get install -y python3-venv python3-dev build-essential cmake git

venv="${JINA_EDGE_VENV:-$HOME/.local/share/jina-edge/venv}"
run python3 -m venv "$venv"
# llama.cpp tunes itself for the CPU it is built on (Cortex-A72 on a Pi 4,
# Cortex-A76 on a Pi 5); the build takes 20-40 minutes on a Pi 4.
export CMAKE_ARGS="-DGGML_NATIVE=ON"
run "$venv/bin/pip" install --upgrade pip
run "$venv/bin/pip" install "$SOURCE"

config_home="${JINA_EDGE_HOME:-${XDG_CONFIG_HOME:-$HOME/.config}/jina-edge}"
run mkdir -p "$config_home"
config="{\"threads\": $threads, \"max_tokens\": $max_tokens}"
echo "+ write $config_home/config.json: $config"
if [ "$DRY_RUN" -eq 0 ]; then
    if [ -e "$config_home/config.json" ]; then
        echo "keeping the existing $config_home/config.json" >&2
    else
        printf '%s\n' "$config" > "$config_home/config.json"
    fi
fi
run "$venv/bin/jina-edge" models pull jina-embeddings-v2-small-en --type "$model_type"
run mkdir -p "$HOME/.local/bin"
run ln -sf "$venv/bin/jina-edge" "$HOME/.local/bin/jina-edge"
echo "done: try  jina-edge embed \"hello\"  (add ~/.local/bin to PATH if needed)"
