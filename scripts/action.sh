#!/usr/bin/env bash
# The shell steps of the GitHub Action (action.yml), kept here so that they
# can be run and tested outside GitHub (tests/packaging.rs runs them with
# GitHub's environment faked). Three subcommands, one per step:
#
#   action.sh install   install upkeep                 (UPKEEP_VERSION)
#   action.sh check     run upkeep --check, write the  (UPKEEP_ARGS,
#                       diff, SARIF, annotations,       UPKEEP_SARIF,
#                       outputs; upkeep itself writes   UPKEEP_ANNOTATIONS,
#                       the step summary; exits 0       UPKEEP_SUMMARY)
#                       whatever upkeep said
#   action.sh finish    exit with upkeep's status      (UPKEEP_EXIT_CODE)
#
# `check` never fails on upkeep's verdict so that the SARIF upload and the
# summary happen on a failing check too; `finish` then fails the job with
# upkeep's exit code (1: a config needs changes, 2: an error).
#
# GitHub's variables it reads: RUNNER_TEMP, GITHUB_OUTPUT,
# GITHUB_STEP_SUMMARY, GITHUB_PATH (install), GITHUB_SERVER_URL. Others:
# UPKEEP_BIN (the upkeep to run; default `upkeep` on PATH), ACTION_PATH,
# ACTION_REF and ACTION_REPOSITORY (install).
set -euo pipefail

die() {
    echo "::error title=upkeep action::$*"
    exit 2
}

# `KEY=value` into $GITHUB_OUTPUT (values here are one line each).
output() {
    if [ -n "${GITHUB_OUTPUT:-}" ]; then
        printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
    fi
}

cmd_install() {
    local version=${UPKEEP_VERSION:-}
    case "$version" in
    installed)
        command -v upkeep >/dev/null || die "version: installed, but there is no upkeep on PATH"
        ;;
    "")
        [ -n "${ACTION_PATH:-}" ] && [ -f "$ACTION_PATH/Cargo.toml" ] ||
            die "ACTION_PATH (the action's checkout) has no Cargo.toml: ${ACTION_PATH:-unset}"
        command -v cargo >/dev/null || die "cargo is needed to build upkeep (GitHub's hosted runners have it; on others, install Rust first)"
        echo "building upkeep from the action's checkout ($ACTION_PATH)"
        # GitHub unpacks an action without .git, so build.rs cannot ask
        # git: a ref that is a commit sha names the commit.
        if [ -z "${UPKEEP_COMMIT:-}" ] && [[ "${ACTION_REF:-}" =~ ^[0-9a-f]{40}$ ]]; then
            export UPKEEP_COMMIT="${ACTION_REF:0:12}"
        fi
        cargo install --locked --path "$ACTION_PATH" --bin upkeep
        ;;
    *)
        [ -n "${ACTION_REPOSITORY:-}" ] ||
            die "version: $version needs the action's repository, which GitHub did not give; write the ref in \`uses: OWNER/upkeep@REF\` instead"
        command -v cargo >/dev/null || die "cargo is needed to build upkeep"
        echo "building upkeep $version from ${GITHUB_SERVER_URL:-https://github.com}/$ACTION_REPOSITORY"
        cargo install --locked --git "${GITHUB_SERVER_URL:-https://github.com}/$ACTION_REPOSITORY" --rev "$version" --bin upkeep upkeep
        ;;
    esac
    if [ "$version" != installed ]; then
        local bin="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
        [ -z "${GITHUB_PATH:-}" ] || echo "$bin" >>"$GITHUB_PATH"
        export PATH="$bin:$PATH"
    fi
    local said
    said=$(upkeep --version) || die "the installed upkeep does not run"
    echo "$said"
    output version "${said#upkeep }"
}

cmd_check() {
    local upkeep=${UPKEEP_BIN:-upkeep}
    local out="${RUNNER_TEMP:?RUNNER_TEMP is not set}/upkeep"
    mkdir -p "$out"
    local diff="$out/upkeep.diff" sarif="$out/upkeep.sarif" stderr="$out/upkeep.stderr"
    rm -f "$diff" "$sarif" "$stderr"
    # Split on whitespace, no glob expansion; arguments with spaces belong
    # in upkeep.toml.
    local -a args=()
    read -r -a args <<<"${UPKEEP_ARGS:-}" || true

    local rc=0
    "$upkeep" --check --color never ${args[@]+"${args[@]}"} -o "$diff" 2>"$stderr" || rc=$?
    # The job log: the diff and what upkeep said.
    [ ! -s "$diff" ] || cat "$diff"
    cat "$stderr" >&2

    local sarif_file=""
    if [ "${UPKEEP_SARIF:-true}" = true ]; then
        "$upkeep" --check --color never --format sarif ${args[@]+"${args[@]}"} -o "$sarif" 2>/dev/null || true
        if [ -s "$sarif" ]; then
            sarif_file=$sarif
        else
            echo "::warning title=upkeep action::upkeep wrote no SARIF log; nothing to upload"
        fi
    fi
    # Workflow commands on stdout become annotations; with
    # GITHUB_STEP_SUMMARY set, upkeep appends the step summary (what
    # happened, the changed locations, the places left alone, the diff).
    local annotations=${UPKEEP_ANNOTATIONS:-true} summary=${UPKEEP_SUMMARY:-true}
    [ "$summary" = true ] && [ -n "${GITHUB_STEP_SUMMARY:-}" ] || summary=false
    if [ "$annotations" = true ] || [ "$summary" = true ]; then
        local -a env_args=()
        [ "$summary" = true ] || env_args=(-u GITHUB_STEP_SUMMARY)
        if [ "$annotations" = true ]; then
            env ${env_args[@]+"${env_args[@]}"} "$upkeep" --check --color never --format github ${args[@]+"${args[@]}"} 2>/dev/null || true
        else
            env ${env_args[@]+"${env_args[@]}"} "$upkeep" --check --color never --format github ${args[@]+"${args[@]}"} >/dev/null 2>&1 || true
        fi
    fi

    local changed=0
    [ ! -s "$diff" ] || changed=$(grep -c '^+++ ' "$diff" || true)
    local result
    case "$rc" in
    0) result=clean ;;
    1) result=changes ;;
    *) result=error ;;
    esac

    output exit-code "$rc"
    output result "$result"
    output changed-files "$changed"
    output diff-file "$diff"
    output sarif-file "$sarif_file"
    echo "upkeep: $result (exit $rc)"
}

cmd_finish() {
    local rc=${UPKEEP_EXIT_CODE:-}
    case "$rc" in
    0) echo "upkeep: no change needed" ;;
    1) echo "::error title=upkeep::nginx configs open a new backend connection per request: run upkeep --write (the diff is in the step summary)" ;;
    [0-9]*) echo "::error title=upkeep::upkeep failed (exit $rc)" ;;
    *) die "UPKEEP_EXIT_CODE is not set: did the check step run?" ;;
    esac
    exit "$rc"
}

case "${1:-}" in
install) cmd_install ;;
check) cmd_check ;;
finish) cmd_finish ;;
*)
    echo "usage: $0 install|check|finish" >&2
    exit 2
    ;;
esac
