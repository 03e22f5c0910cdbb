#!/usr/bin/env bash
# Rewrites fixtures/<case>/expected.conf from upkeep's current output, for
# every case or the ones named (`scripts/bless.sh 01-motivating-frontend`).
# Review `git diff fixtures/` before committing: the differential test
# (tests/differential.rs) then checks each expected output on real nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=($(ls fixtures))
for c in "${cases[@]}"; do
    dir=fixtures/$c
    [ -f "$dir/input.conf" ] || continue
    args=()
    [ -f "$dir/args" ] && mapfile -t args < <(grep -v '^[[:space:]]*$' "$dir/args")
    ./target/debug/upkeep "${args[@]}" --quiet --write - < "$dir/input.conf" > "$dir/expected.conf"
done
