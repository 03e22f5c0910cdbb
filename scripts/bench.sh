#!/usr/bin/env bash
# upkeep's speed side by side with the parsers people use, in one run.
#
# Installs what it needs (hyperfine, nginx-light from Debian; crossplane and
# certbot from PyPI into target/bench-venv), generates the inputs (about
# 25 KB, 2.5 MB and 25 MB; not committed), and times with hyperfine:
#   upkeep --diff            the whole pipeline (parse, plan, apply, verify, diff)
#   upkeep --parse-only      its raw parse (tree-sitter + nginx token checks)
#   crossplane parse         NGINX's Python parser
#   certbot nginxparser      certbot's whitespace-preserving parser, load + dump
#   nginx -t                 on a variant with 127.0.0.1 literals (no DNS)
# Peak memory comes from /usr/bin/time -v. Results: target/bench/results.md.
#
# usage: scripts/bench.sh [SIZES...]   (default: 25000 2500000 25000000)
# certbot's parser takes minutes on the largest input; it is timed up to
# CERTBOT_MAX_BYTES (default 3000000) and reported as skipped above that.
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

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(25000 2500000 25000000)

cat > "$out/certbot_roundtrip.py" <<'PY'
import sys
from certbot._internal.plugins.nginx import nginxparser
with open(sys.argv[1]) as f:
    tree = nginxparser.load(f)
nginxparser.dumps(tree)
PY

report=$out/results.md
{
    echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
    echo "versions: $($upkeep --version), crossplane $("$venv/bin/pip" show crossplane | awk '/Version/ {print $2}'), certbot $("$venv/bin/pip" show certbot | awk '/Version/ {print $2}'), $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //'), $(hyperfine --version)"
    echo
} > "$report"

for size in "${sizes[@]}"; do
    conf=$out/bench-$size.conf
    ipconf=$out/bench-$size-ip.conf
    python3 scripts/gen-bench-config.py "$size" "$conf"
    python3 scripts/gen-bench-config.py "$size" "$ipconf" --ip
    prefix=$out/nginx-prefix
    mkdir -p "$prefix/logs"
    runs=10
    warmup=1
    if [ "$size" -ge 10000000 ]; then runs=3; warmup=0; fi
    names=("upkeep --diff" "upkeep parse-only" "crossplane parse" "nginx -t")
    cmds=(
        "$upkeep -q $conf"
        "$upkeep --parse-only $conf"
        "$venv/bin/crossplane parse $conf"
        "/usr/sbin/nginx -t -q -p $prefix/ -c $ipconf -e $prefix/logs/error.log -g 'pid $prefix/nginx.pid;'"
    )
    if [ "$size" -le "${CERTBOT_MAX_BYTES:-3000000}" ]; then
        names+=("certbot load+dump")
        cmds+=("$venv/bin/python $out/certbot_roundtrip.py $conf")
    fi
    args=()
    : > "$out/commands-$size.tsv"
    for i in "${!names[@]}"; do
        args+=(-n "${names[$i]}" "${cmds[$i]}")
        printf '%s\t%s\n' "${names[$i]}" "${cmds[$i]}" >> "$out/commands-$size.tsv"
    done
    hyperfine --style basic --warmup "$warmup" --runs "$runs" --export-json "$out/hyperfine-$size.json" "${args[@]}" >&2
    {
        echo "## $(du -h "$conf" | cut -f1) ($(wc -c < "$conf") bytes)"
        echo
        echo "| contender | mean | ± | vs upkeep --diff | peak RSS | RSS / input |"
        echo "|---|---|---|---|---|---|"
        python3 - "$out/hyperfine-$size.json" "$conf" "$out/commands-$size.tsv" <<'PY'
import json, subprocess, sys, os
data = json.load(open(sys.argv[1]))["results"]
size = os.path.getsize(sys.argv[2])
commands = dict(line.rstrip("\n").split("\t", 1) for line in open(sys.argv[3]))
base = next(r for r in data if r["command"] == "upkeep --diff")["mean"]
for r in data:
    cmd = r["command"]
    # peak memory of one run (the command hyperfine ran, by name)
    rss = "n/a"
    try:
        exe = commands[cmd]
        p = subprocess.run(["/usr/bin/time", "-v", "sh", "-c", exe + " >/dev/null 2>&1"], capture_output=True, text=True)
        kb = int([l for l in p.stderr.splitlines() if "Maximum resident" in l][0].split()[-1])
        rss = kb
    except Exception:
        pass
    ratio = r["mean"] / base
    rel = f"{ratio:.2f}x" if ratio >= 1 else f"{1/ratio:.2f}x faster"
    rss_text = f"{rss/1024:.0f} MiB" if isinstance(rss, int) else rss
    per_input = f"{rss*1024/size:.1f}x" if isinstance(rss, int) else "n/a"
    print(f"| {cmd} | {r['mean']*1000:.1f} ms | {r['stddev']*1000:.1f} | {rel} | {rss_text} | {per_input} |")
PY
        if [ "$size" -gt "${CERTBOT_MAX_BYTES:-3000000}" ]; then
            echo "certbot load+dump: not timed at this size (minutes per run; see the smaller sizes)."
        fi
        echo
    } >> "$report"
done
cat "$report"
