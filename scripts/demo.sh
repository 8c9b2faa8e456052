#!/usr/bin/env bash
# `make demo`: runs what polyhunter can do today on embedded defaults, for real, from a fresh clone.
set -euo pipefail
BIN=${BIN:-.venv/bin}
export POLYHUNTER_HOME=${POLYHUNTER_HOME:-$(pwd)/.polyhunter}

"$BIN/polyhunter" --version
"$BIN/polyhunter" --help
"$BIN/polyhunter" chain down >/dev/null 2>&1 || true
"$BIN/polyhunter" chain up --detach --port 0
trap '"$BIN/polyhunter" chain down' EXIT
"$BIN/polyhunter" chain status
