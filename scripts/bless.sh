#!/usr/bin/env bash
# Rewrites the expected outputs from upkeep's current output:
# fixtures/<case>/expected.conf for the one-file cases and
# fixtures/trees/<case>/expected/ for the tree cases; all of them, or the
# ones whose names contain NAME (`scripts/bless.sh 01-motivating`).
# Review `git diff fixtures/` before committing: the same tests then check
# the outputs on real nginx, and the differential test runs traffic on them.
set -euo pipefail
cd "$(dirname "$0")/.."
UPKEEP_BLESS=1 cargo test --quiet --test fixtures --test trees -- "$@"
