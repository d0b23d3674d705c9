#!/usr/bin/env bash
# Index a folder and search it from the shell.
#
#   ./index-and-search.sh ~/Notes "how did we size the pump"
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 FOLDER QUERY [jina-edge search options...]" >&2
    exit 2
fi
folder="$1"; query="$2"; shift 2
jina-edge index add "$folder" 2>/dev/null || true   # already added is fine
jina-edge index sync
jina-edge search "$query" "$@"
