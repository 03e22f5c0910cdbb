#!/usr/bin/env bash
# Fuzzes upkeep for SECONDS (default 60) of wall-clock time, as one job.
#
# With a nightly toolchain: `cargo +nightly fuzz run pipeline` (libFuzzer,
# the target in fuzz/fuzz_targets/pipeline.rs; cargo-fuzz is installed from
# crates.io when missing), seeded from fuzz/seeds, fuzz/regressions,
# fixtures/ and the real-world corpus, all read in place. The corpus is
# $UPKEEP_CORPUS, else ../shared/corpus beside the checkout, else
# /work/shared/corpus (as the tests find it). New inputs go to
# fuzz/corpus/pipeline (not committed), findings to fuzz/artifacts/ and are
# then copied to fuzz/regressions/, which `cargo test` replays
# (tests/fuzz_seeds.rs): fix each, or move it to fuzz/open/ with an
# explanation.
#
# Without nightly: the stable mutation driver (tests/mutate.rs) for the
# same time; it writes its findings to fuzz/regressions/ itself.
#
# Exit status: 0 when nothing was found, 1 when something was, 2 on a
# setup error.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
case "$seconds" in
    '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;;
esac

corpus=""
if [ -n "${UPKEEP_CORPUS:-}" ]; then
    corpus="$UPKEEP_CORPUS"
elif [ -d ../shared/corpus ]; then
    corpus=../shared/corpus
elif [ -d /work/shared/corpus ]; then
    corpus=/work/shared/corpus
fi
if [ -n "$corpus" ] && [ ! -d "$corpus" ]; then
    echo "fuzz.sh: UPKEEP_CORPUS=$corpus is not a directory" >&2
    exit 2
fi
[ -n "$corpus" ] && corpus="$(cd "$corpus" && pwd)"
[ -n "$corpus" ] || echo "fuzz.sh: no real-world corpus found (set UPKEEP_CORPUS); seeding from the fixtures only" >&2

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: no nightly toolchain; running the stable mutation driver (tests/mutate.rs) for ${seconds}s" >&2
    if env UPKEEP_FUZZ_SECONDS="$seconds" ${corpus:+UPKEEP_CORPUS="$corpus"} \
        cargo test --release --test mutate -- --nocapture; then
        exit 0
    fi
    echo "fuzz.sh: findings are in fuzz/regressions/ (git status shows them)" >&2
    exit 1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

mkdir -p fuzz/corpus/pipeline fuzz/artifacts/pipeline
before="$(ls fuzz/artifacts/pipeline)"
seeds=(fuzz/seeds fuzz/regressions fixtures)
[ -n "$corpus" ] && seeds+=("$corpus")

# One worker (-fork=1) that goes on after a finding, for the whole time;
# the largest corpus file is 9 KB, 64 KiB leaves room to grow. A finding
# is reported as "crash" whether it is a panic, an internal error (which
# fuzz_one turns into a panic), a timeout or running out of memory.
log="fuzz/artifacts/pipeline.log"
set +e
cargo +nightly fuzz run pipeline fuzz/corpus/pipeline "${seeds[@]}" -- \
    -max_total_time="$seconds" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix=fuzz/artifacts/pipeline/ 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

new=()
for f in fuzz/artifacts/pipeline/*; do
    [ -e "$f" ] || continue
    name="$(basename "$f")"
    grep -qxF "$name" <<<"$before" && continue
    new+=("$name")
done
# The last status line: executions, coverage, corpus, findings.
summary="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
echo "fuzz.sh: ${seconds}s, libFuzzer exit $status; last status: ${summary:-none}" >&2
if [ ${#new[@]} -eq 0 ]; then
    echo "fuzz.sh: no findings" >&2
    exit 0
fi
for name in "${new[@]}"; do
    # Timeouts and OOMs are kept as crash-* too: the replay runs them all.
    case "$name" in
        crash-* | timeout-* | oom-* | slow-unit-*) ;;
        *) continue ;;
    esac
    cp "fuzz/artifacts/pipeline/$name" "fuzz/regressions/crash-${name#*-}"
    echo "fuzz.sh: finding fuzz/regressions/crash-${name#*-} (from $name)" >&2
done
echo "fuzz.sh: fix each finding, or move it to fuzz/open/ with an explanation (fuzz/open/README.md)" >&2
exit 1
