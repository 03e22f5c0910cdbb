#!/usr/bin/env bash
# Coverage of the `*_pass` targets: runs upkeep (default flags, one file at
# a time, `--format json`) over the shared corpus and the fixtures' inputs
# and sorts every `proxy_pass`, `fastcgi_pass`, `grpc_pass`,
# `memcached_pass`, `uwsgi_pass` and `scgi_pass` line into pooled or left
# alone, with the reason upkeep gave (its note at that line, with addresses,
# names and quoted text replaced by placeholders), counted by reason.
#
#   scripts/coverage.sh            # the table (markdown) on stdout
#   UPKEEP_CORPUS=DIR scripts/coverage.sh
#   UPKEEP_COVERAGE_ARGS="--resolve --nginx-version 1.31.4" scripts/coverage.sh
#
# The corpus is read where it lies ($UPKEEP_CORPUS, ../shared/corpus or
# /work/shared/corpus), never copied. Without one the fixtures alone are
# counted and the script says so on stderr (and fails with CI set).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${UPKEEP_CORPUS:-}"
if [ -z "$corpus" ]; then
    for d in ../shared/corpus /work/shared/corpus; do
        if [ -d "$d" ]; then corpus="$d"; break; fi
    done
fi
if [ -z "$corpus" ] || [ ! -d "$corpus" ]; then
    echo "coverage: no corpus found (set UPKEEP_CORPUS): counting the fixtures only" >&2
    if [ -n "${CI:-}" ]; then exit 1; fi
    corpus=""
fi
cargo build --quiet --release
exec python3 - "$corpus" "${UPKEEP_COVERAGE_ARGS:-}" <<'PY'
import json, os, re, shlex, subprocess, sys
from collections import Counter, defaultdict

corpus = sys.argv[1]
extra = shlex.split(sys.argv[2])
binary = "target/release/upkeep"
PASS = re.compile(r"(?:^|[;{}\s])((?:proxy|fastcgi|grpc|memcached|uwsgi|scgi)_pass)\s+([^;{}\s]+)\s*;")
POOLING_RULES = {"proxy-pass-target", "fastcgi-pass-target", "grpc-pass-target",
                 "memcached-pass-target", "upstream-resolve"}

def files():
    sets = [("fixtures", sorted(
        os.path.join("fixtures", d, "input.conf") for d in os.listdir("fixtures")
        if os.path.isfile(os.path.join("fixtures", d, "input.conf"))))]
    if corpus:
        found = []
        for root, _, names in os.walk(corpus):
            found += [os.path.join(root, n) for n in names if n.endswith(".conf")]
        sets.append(("corpus", sorted(found)))
    return sets

def shape(message):
    """A note with what varies per target replaced, so notes count together."""
    m = re.sub(r"`[^`]*`", "`…`", message)
    m = re.sub(r'"[^"]*"', '"…"', m)
    m = re.sub(r"\b((?:proxy|fastcgi|grpc|memcached|uwsgi|scgi)_pass) (?!with |in |is |left )\S+", r"\1 TARGET", m)
    m = re.sub(r"\[[0-9a-fA-F:.]+\](?::\d+)?|\b[\w.-]+:\d+\b|unix:\S+", "HOST:PORT", m)
    m = re.sub(r"\(\S+\)", "(…)", m)
    m = re.sub(r"\d+", "N", m)
    # The first sentence says why; the rest says what to do.
    return re.split(r"; |: (?=[a-z])", m, maxsplit=1)[0] if not m.startswith("left alone: ") else "left alone: " + re.split(r"; |, and |: (?=[A-Za-z`])", m[len("left alone: "):], maxsplit=1)[0]

def host(target):
    """The upstream name a `*_pass` target names, lowercased."""
    t = target.strip("\"'").split("://", 1)[-1]
    return re.split(r"[/:?]", t, maxsplit=1)[0].lower()

totals = {}
for name, paths in files():
    outcome = Counter()
    per_protocol = defaultdict(Counter)
    errors = 0
    for path in paths:
        try:
            text = open(path, "rb").read().decode("utf-8", "replace")
        except OSError:
            continue
        lines = {}
        for i, line in enumerate(text.split("\n"), 1):
            stripped = line.split("#", 1)[0]
            for m in PASS.finditer(stripped):
                lines.setdefault(i, []).append((m.group(1), m.group(2)))
        if not lines:
            continue
        run = subprocess.run([binary, "--no-config", "--format", "json", *extra, path],
                             capture_output=True, timeout=60)
        try:
            report = json.loads(run.stdout)
        except ValueError:
            report = None
        if not report or not report.get("files") or report["files"][0].get("status") == "error" or report.get("errors"):
            errors += 1
            for l, dirs in lines.items():
                for d, _ in dirs:
                    outcome["file not processed (parse error or unreadable)"] += 1
                    per_protocol[d]["not processed"] += 1
            continue
        f = report["files"][0]
        changed = {c["line"] for c in f.get("changes", []) if c.get("rule") in POOLING_RULES}
        notes = defaultdict(list)
        for n in f.get("notes", []) + f.get("suppressed", []):
            notes[n.get("line")].append(n["message"])
        any_change = bool(f.get("changes"))
        pooled_already = {m.group(1).lower() for ns in notes.values() for n in ns
                          for m in [re.match(r'upstream "([^"]+)" already has keepalive', n)] if m}
        for l, dirs in lines.items():
            for d, target in dirs:
                if l in changed:
                    key = "pooled: target rewritten to an upstream"
                elif notes.get(l):
                    key = shape(notes[l][0])
                elif host(target) in pooled_already:
                    key = "pooled already: names an upstream block with keepalive"
                elif any_change:
                    key = "pooled: names an upstream block (keepalive added or present)"
                else:
                    key = "nothing to change, no note"
                outcome[key] += 1
                per_protocol[d]["pooled" if key.startswith("pooled") else "left alone"] += 1
    totals[name] = (outcome, per_protocol, errors, len(paths))

for name, (outcome, per_protocol, errors, n) in totals.items():
    total = sum(outcome.values())
    pooled = sum(v for k, v in outcome.items() if k.startswith("pooled"))
    print(f"### {name}: {n} files, {total} `*_pass` lines, {pooled} pooled, {errors} files not processed\n")
    print("| protocol | pooled | left alone / not processed |")
    print("|---|---:|---:|")
    for d in sorted(per_protocol):
        c = per_protocol[d]
        print(f"| {d} | {c['pooled']} | {c['left alone'] + c['not processed']} |")
    print("\n| outcome or reason | lines |")
    print("|---|---:|")
    for k, v in sorted(outcome.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"| {k.replace('|', '/')} | {v} |")
    print()
PY
