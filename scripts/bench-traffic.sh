#!/usr/bin/env bash
# What the migration buys a running nginx: real nginx on loopback with the
# counting test backend, once on the motivating fixture's input and once on
# upkeep's output, driven by wrk at 1, 16 and 64 connections for a fixed
# time each. Prints requests/s, p50/p99 latency, backend connections opened
# and errors, then the ratios. Installs wrk and nginx-light when missing.
#
# usage: scripts/bench-traffic.sh [SECONDS]   (default 10 per run)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        echo "install wrk (apt-get install wrk)" >&2; exit 2
    fi
fi
bash scripts/install-test-deps.sh
UPKEEP_WRK_SECONDS="${1:-10}" cargo test --release --locked --test traffic -- --ignored --nocapture wrk_before_and_after 2>&1 \
    | grep -E '^\|'
