#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with Rust: installs what
# cargo does not (scripts/install-test-deps.sh), then runs every test of the
# workspace (the grammar crate included). `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
cargo test --workspace --locked "$@"
