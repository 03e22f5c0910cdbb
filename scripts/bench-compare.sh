#!/usr/bin/env bash
# upkeep at two commits, side by side in one run: "is this change slower?"
# Builds REV (default: the parent of HEAD) in its own worktree and target
# directory, builds the checkout as it is, and times both with hyperfine
# on scripts/bench.sh's shapes (few and many backends per size, N site
# files), `--diff` (the whole pipeline) with the output thrown away. Each
# input is timed twice, in both orders, so that a machine that slows down
# during the run does not favour one side. Results: target/bench-compare/,
# a table with the ratio new/old per input (below 1: faster).
#
# usage: scripts/bench-compare.sh [REV]
# environment: SIZES="300000 3000000", FILES="300", RUNS=10
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rev=${1:-HEAD~1}
out=$root/target/bench-compare
mkdir -p "$out"
command -v hyperfine >/dev/null || {
    [ "$(id -u)" = 0 ] || { echo "install hyperfine" >&2; exit 2; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
}

sha=$(git rev-parse --short=12 "$rev")
base=$out/worktree-$sha
if [ ! -x "$out/upkeep-$sha" ]; then
    rm -rf "$base"
    git worktree add -f --detach "$base" "$sha" >/dev/null
    CARGO_TARGET_DIR=$out/target-base cargo build --release --locked -q --manifest-path "$base/Cargo.toml"
    cp "$out/target-base/release/upkeep" "$out/upkeep-$sha"
    git worktree remove --force "$base"
fi
cargo build --release --locked -q
cp "${CARGO_TARGET_DIR:-target}/release/upkeep" "$out/upkeep-new"
old=$out/upkeep-$sha
new=$out/upkeep-new

inputs=()
for shape in few many; do
    for size in ${SIZES:-300000 3000000}; do
        conf=$out/$shape-$size.conf
        flag=()
        [ "$shape" = many ] && flag=(--many)
        [ -f "$conf" ] || python3 scripts/gen-bench-config.py "$size" "$conf" "${flag[@]}"
        inputs+=("$shape-$size:$conf")
    done
done
for n in ${FILES:-300}; do
    dir=$out/files-$n
    [ -f "$dir/nginx.conf" ] || python3 scripts/gen-bench-config.py --files "$n" "$dir"
    inputs+=("files-$n:$dir/nginx.conf")
done

results=$out/results.md
{
    echo "upkeep $(git rev-parse --short=12 HEAD)$(git diff --quiet || echo '+changes') vs $sha, $(date -u +%F), $(nproc) cores"
    echo
    echo "| input | old median | new median | new / old |"
    echo "|---|---|---|---|"
} >"$results"
for entry in "${inputs[@]}"; do
    name=${entry%%:*}
    conf=${entry#*:}
    for order in 1 2; do
        if [ "$order" = 1 ]; then a=$old b=$new; else a=$new b=$old; fi
        hyperfine -N --warmup 1 --runs "${RUNS:-10}" --export-json "$out/$name-$order.json" \
            -n "$(basename "$a")" "$a --no-config -q --diff $conf" \
            -n "$(basename "$b")" "$b --no-config -q --diff $conf" >/dev/null
    done
    python3 - "$name" "$out" "$sha" >>"$results" <<'PY'
import json, statistics, sys
name, out, sha = sys.argv[1:]
times = {"old": [], "new": []}
for order in (1, 2):
    for r in json.load(open(f"{out}/{name}-{order}.json"))["results"]:
        side = "new" if r["command"] == "upkeep-new" else "old"
        times[side].extend(r["times"])
old, new = statistics.median(times["old"]), statistics.median(times["new"])
print(f"| {name} | {old * 1000:.1f} ms | {new * 1000:.1f} ms | {new / old:.3f} |")
PY
done
cat "$results"
