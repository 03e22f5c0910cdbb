#!/usr/bin/env bash
# upkeep's speed and memory side by side with the parsers people use, in
# one run, on the shapes of issue #12.
#
# Installs what it needs (hyperfine, nginx-light from Debian; crossplane and
# certbot from PyPI into target/bench-venv) and generates the inputs with
# scripts/gen-bench-config.py (not committed):
#   few   one file, a few backends shared by many servers, per size
#   many  one file, two backends of its own per server (10,000 at 2.8 MB)
#   files a main config including N small site files, one upstream each
# and times with hyperfine:
#   upkeep --diff            the whole pipeline (parse, plan, apply, verify
#                            with the behaviour check, diff)
#   upkeep --parse-only      its raw parse (tree-sitter + nginx token checks)
#   crossplane parse         NGINX's Python parser
#   certbot nginxparser      certbot's whitespace-preserving parser, load +
#                            dump of every file
#   nginx -t                 on a variant with one IP literal per backend
#                            (no DNS)
# Peak memory comes from /usr/bin/time -v. Results: target/bench/results.md,
# with the ratios the issue asks about at its end.
#
# usage: scripts/bench.sh [SIZES...]   (default: 300000 3000000 30000000)
#        scripts/bench.sh --report     (results.md again from the last run's
#                                       target/bench/results.jsonl)
# environment: FILES="300 3000" (the many-files case; empty skips it),
# SHAPES="few many", RUNS (hyperfine runs below 10 MB, default 10; 3 above),
# CERTBOT_MAX_BYTES (default 3000000: certbot's parser takes about 40 s per
# run at 3 MB, and is reported as skipped above that; it runs once per input
# above 1 MB, three times below).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/bench
mkdir -p "$out"

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "install: ${need[*]}" >&2; exit 2
    fi
fi
bash scripts/install-test-deps.sh
venv=$root/target/bench-venv
if [ ! -x "$venv/bin/crossplane" ] || ! "$venv/bin/python" -c 'import certbot._internal.plugins.nginx.nginxparser' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q crossplane certbot pyparsing
fi
cargo build --release --locked -q
upkeep=$root/target/release/upkeep

report_only=0
if [ "${1:-}" = --report ]; then
    report_only=1
    shift
fi
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(300000 3000000 30000000)
read -r -a shapes <<< "${SHAPES:-few many}"
read -r -a file_counts <<< "${FILES-300 3000}"
certbot_max=${CERTBOT_MAX_BYTES:-3000000}

# certbot's parser on every file named (a tree: each file on its own, as
# certbot reads includes).
cat > "$out/certbot_roundtrip.py" <<'PY'
import sys
from certbot._internal.plugins.nginx import nginxparser
for path in sys.argv[1:]:
    with open(path) as f:
        tree = nginxparser.load(f)
    nginxparser.dumps(tree)
PY

prefix=$out/nginx-prefix
mkdir -p "$prefix/logs"
nginx_t() { # CONF [PREFIX]
    echo "/usr/sbin/nginx -t -q -p ${2:-$prefix}/ -c $1 -e $prefix/logs/error.log -g 'pid $prefix/nginx.pid;'"
}

[ "$report_only" = 1 ] || : > "$out/results.jsonl"
# measure NAME BYTES RUNS CERTBOT_CMD CMD... : hyperfine over the contenders
# (pairs of name and command), peak RSS of one run of each; one JSON line.
measure() {
    local input=$1 bytes=$2 runs=$3 certbot=$4
    shift 4
    local warmup=1
    [ "$runs" -ge 10 ] || warmup=0
    local args=() tsv=$out/commands-$input.tsv
    : > "$tsv"
    while [ $# -gt 0 ]; do
        args+=(-n "$1" "$2")
        printf '%s\t%s\n' "$1" "$2" >> "$tsv"
        shift 2
    done
    hyperfine --style basic --warmup "$warmup" --runs "$runs" --export-json "$out/hyperfine-$input.json" "${args[@]}" >&2
    if [ -n "$certbot" ]; then
        local certbot_runs=3
        [ "$bytes" -le 1000000 ] || certbot_runs=1
        printf '%s\t%s\n' "certbot load+dump" "$certbot" >> "$tsv"
        hyperfine --style basic --runs "$certbot_runs" --export-json "$out/hyperfine-$input-certbot.json" -n "certbot load+dump" "$certbot" >&2
    else
        rm -f "$out/hyperfine-$input-certbot.json"
    fi
    python3 - "$input" "$bytes" "$out" >> "$out/results.jsonl" <<'PY'
import json, os, subprocess, sys
input, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
results = json.load(open(f"{out}/hyperfine-{input}.json"))["results"]
certbot = f"{out}/hyperfine-{input}-certbot.json"
if os.path.exists(certbot):
    results += json.load(open(certbot))["results"]
commands = dict(l.rstrip("\n").split("\t", 1) for l in open(f"{out}/commands-{input}.tsv"))
row = {"input": input, "bytes": size, "contenders": {}}
for r in results:
    # Peak memory of one run of the command hyperfine ran, by name.
    p = subprocess.run(["/usr/bin/time", "-v", "sh", "-c", commands[r["command"]] + " >/dev/null 2>&1"],
                       capture_output=True, text=True)
    kb = int([l for l in p.stderr.splitlines() if "Maximum resident" in l][0].split()[-1])
    row["contenders"][r["command"]] = {
        "median": r["median"], "mean": r["mean"], "stddev": r["stddev"] or 0.0,
        "min": r["min"], "max": r["max"], "runs": len(r["times"]), "rss_kb": kb,
        # CPU time in the process and in the kernel (mean of the runs): the
        # kernel's share is page faults, which grow with peak memory.
        "user": r["user"], "system": r["system"],
    }
print(json.dumps(row))
PY
}

# compare INPUT BYTES RUNS CERTBOT CONF IPCONF [NGINX_PREFIX]: the four
# contenders on a config (upkeep reads CONF, nginx the IP-literal IPCONF).
compare() {
    measure "$1" "$2" "$3" "$4" \
        "upkeep --diff" "$upkeep --no-config -q $5" \
        "upkeep parse-only" "$upkeep --no-config --parse-only $5" \
        "crossplane parse" "$venv/bin/crossplane parse $5" \
        "nginx -t" "$(nginx_t "$6" "${7:-}")"
}

if [ "$report_only" = 0 ]; then
    for shape in "${shapes[@]}"; do
        for size in "${sizes[@]}"; do
            flag=()
            [ "$shape" = many ] && flag=(--many)
            conf=$out/$shape-$size.conf
            ipconf=$out/$shape-$size-ip.conf
            python3 scripts/gen-bench-config.py "$size" "$conf" "${flag[@]}"
            python3 scripts/gen-bench-config.py "$size" "$ipconf" "${flag[@]}" --ip
            bytes=$(wc -c < "$conf")
            runs=${RUNS:-10}
            [ "$size" -lt 10000000 ] || runs=3
            certbot=""
            [ "$bytes" -gt "$certbot_max" ] || certbot="$venv/bin/python $out/certbot_roundtrip.py $conf"
            compare "$shape-$size" "$bytes" "$runs" "$certbot" "$conf" "$ipconf"
        done
    done

    for n in "${file_counts[@]}"; do
        [ -n "$n" ] || continue
        dir=$out/files-$n
        ipdir=$out/files-$n-ip
        rm -rf "$dir" "$ipdir"
        python3 scripts/gen-bench-config.py --files "$n" "$dir"
        python3 scripts/gen-bench-config.py --files "$n" "$ipdir" --ip
        bytes=$(cat "$dir/nginx.conf" "$dir"/conf.d/*.conf | wc -c)
        certbot=""
        [ "$bytes" -gt "$certbot_max" ] || certbot="$venv/bin/python $out/certbot_roundtrip.py $dir/nginx.conf $dir/conf.d/*.conf"
        compare "files-$n" "$bytes" "${RUNS:-10}" "$certbot" "$dir/nginx.conf" "$ipdir/nginx.conf" "$ipdir"
    done
fi

report=$out/results.md
{
    echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
    echo "versions: $($upkeep --version), crossplane $("$venv/bin/pip" show crossplane | awk '/Version/ {print $2}'), certbot $("$venv/bin/pip" show certbot | awk '/Version/ {print $2}'), $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //'), $(hyperfine --version)"
    echo
    python3 - "$out/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def ms(s): return f"{s * 1000:.1f} ms" if s < 10 else f"{s:.2f} s"
for row in rows:
    c = row["contenders"]
    base = c["upkeep --diff"]["median"]
    print(f"## {row['input']} ({row['bytes']:,} bytes)\n")
    print("| contender | median | min–max | runs | vs upkeep --diff | peak RSS | RSS / input |")
    print("|---|---|---|---|---|---|---|")
    for name, r in c.items():
        ratio = r["median"] / base
        rel = f"{ratio:.2f}x" if ratio >= 1 else f"{1 / ratio:.2f}x faster"
        print(f"| {name} | {ms(r['median'])} | {ms(r['min'])}–{ms(r['max'])} | {r['runs']} | {rel} "
              f"| {r['rss_kb'] / 1024:.0f} MiB | {r['rss_kb'] * 1024 / row['bytes']:.1f}x |")
    print()
print("## Against the targets of issue #27 (medians of this run)\n")
print("RSS targets hold for inputs of 3 MB and more; the smaller rows show the fixed cost.\n")
print("| input | whole / raw parse (≤ 3×) | nginx -t / whole (> 1: faster than nginx -t) "
      "| crossplane / whole (≥ 3) | peak RSS / input (≤ 30×) | peak RSS / raw parse's (≤ 2×) |")
print("|---|---|---|---|---|---|")
for row in rows:
    c = row["contenders"]
    whole = c["upkeep --diff"]
    parse = c["upkeep parse-only"]
    print(f"| {row['input']} | {whole['median'] / parse['median']:.2f}× "
          f"| {c['nginx -t']['median'] / whole['median']:.2f} "
          f"| {c['crossplane parse']['median'] / whole['median']:.2f} "
          f"| {whole['rss_kb'] * 1024 / row['bytes']:.1f}× "
          f"| {whole['rss_kb'] / parse['rss_kb']:.2f}× |")
print()
print("Scaling, upkeep --diff (10× the input: ≤ 11× the time; CPU time in the process and in the kernel apart):\n")
print("| from | to | input × | time × | user CPU × | kernel CPU × | raw parse time × |")
print("|---|---|---|---|---|---|---|")
by_kind = {}
for row in rows:
    kind = row["input"].rsplit("-", 1)[0]
    by_kind.setdefault(kind, []).append(row)
for kind, list_ in by_kind.items():
    for a, b in zip(list_, list_[1:]):
        ca, cb = a["contenders"], b["contenders"]
        wa, wb = ca['upkeep --diff'], cb['upkeep --diff']
        print(f"| {a['input']} | {b['input']} | {b['bytes'] / a['bytes']:.1f} "
              f"| {wb['median'] / wa['median']:.1f} "
              f"| {wb['user'] / wa['user']:.1f} | {wb['system'] / wa['system']:.1f} "
              f"| {cb['upkeep parse-only']['median'] / ca['upkeep parse-only']['median']:.1f} |")
PY
} > "$report"
cat "$report"
