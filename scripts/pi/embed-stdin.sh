#!/usr/bin/env bash
# Embed each line of standard input and save the vectors to a .npy file.
#
#   cat sentences.txt | ./embed-stdin.sh vectors.npy
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 OUTPUT.npy < lines.txt" >&2
    exit 2
fi
jina-edge embed --long-input truncate --npy "$1"
