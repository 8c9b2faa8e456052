#!/usr/bin/env bash
# `make demo`: the end-to-end copy-trading demo on a local chain (polyhunter demo), from a fresh clone.
set -euo pipefail
BIN=${BIN:-.venv/bin}
"$BIN/polyhunter" --version
"$BIN/polyhunter" demo
