#!/usr/bin/env bash
# Rewrites the expected outputs from upkeep's current output:
# fixtures/<case>/expected.conf for every one-file case (or the ones named:
# `scripts/bless.sh 01-motivating-frontend`), and fixtures/trees/<case>/expected/
# for every tree case. Review `git diff fixtures/` before committing: the
# differential test (tests/differential.rs) and the tree test
# (tests/trees.rs, real `nginx -T`) then check them on real nginx.
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
if [ $# -eq 0 ]; then
    UPKEEP_BLESS=1 cargo test --quiet --test trees trees_rewrite_exactly_and_idempotently
fi
