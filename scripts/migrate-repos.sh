#!/usr/bin/env bash
# Runs `upkeep --write` over many local clones and commits the result on a
# branch of each, then prints a table: repository, result, branch.
#
#   scripts/migrate-repos.sh [OPTIONS] [REPO...] [-- UPKEEP_ARGS...]
#
#   -l, --list FILE     read repository paths from FILE, one a line
#                       (blank lines and lines starting with # skipped)
#   -b, --branch NAME   the branch to commit on (default upkeep/keepalive)
#   -m, --message TEXT  the commit's subject line
#       --upkeep PATH   the upkeep binary (default: upkeep on PATH, or $UPKEEP)
#       --no-verify     commit without the repositories' git hooks
#
# Per repository, in its top directory:
# - a working tree with any change (tracked or untracked) is skipped:
#   "skipped: dirty". Nothing is run there.
# - the branch is created from HEAD (an existing branch of that name is an
#   error), upkeep --write runs (it reads the repository's upkeep.toml when
#   there is one, else the whole tree; UPKEEP_ARGS after -- are added),
#   and what it changed is committed with a message listing upkeep's
#   summary lines and the files: "changed N files".
# - nothing changed: "no change", and the branch is deleted again.
# - upkeep failed (a syntax error, say) or the commit failed: "error:
#   MESSAGE"; every file is put back as it was, the branch is deleted.
# In every case the repository is back on the branch (or detached commit)
# it was on, with the working tree it had.
#
# Exit status: 0 when every repository was changed or needed no change,
# 1 when one was skipped or failed, 2 on a usage error.
set -uo pipefail

branch=upkeep/keepalive
subject="nginx: pool backend connections (upkeep)"
upkeep=${UPKEEP:-upkeep}
verify=()
repos=()
upkeep_args=()

usage() {
    sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
    -l | --list)
        [ $# -ge 2 ] || usage
        [ -r "$2" ] || { echo "migrate-repos: cannot read $2" >&2; exit 2; }
        while IFS= read -r line || [ -n "$line" ]; do
            case "$line" in '' | '#'*) continue ;; esac
            repos+=("$line")
        done <"$2"
        shift 2
        ;;
    -b | --branch) [ $# -ge 2 ] || usage; branch=$2; shift 2 ;;
    -m | --message) [ $# -ge 2 ] || usage; subject=$2; shift 2 ;;
    --upkeep) [ $# -ge 2 ] || usage; upkeep=$2; shift 2 ;;
    --no-verify) verify=(--no-verify); shift ;;
    -h | --help) usage ;;
    --) shift; upkeep_args=("$@"); break ;;
    -*) echo "migrate-repos: unknown option $1" >&2; usage ;;
    *) repos+=("$1"); shift ;;
    esac
done
[ ${#repos[@]} -gt 0 ] || usage
command -v "$upkeep" >/dev/null || { echo "migrate-repos: no upkeep at '$upkeep' (--upkeep PATH)" >&2; exit 2; }
git check-ref-format --branch "$branch" >/dev/null 2>&1 || { echo "migrate-repos: not a branch name: $branch" >&2; exit 2; }

# A relative --upkeep is meant from where the script was started.
case "$upkeep" in */*) upkeep=$(cd "$(dirname "$upkeep")" && pwd)/$(basename "$upkeep") ;; esac

results=()
failed=0

# Back to where the repository was: its files as at HEAD (upkeep's writes
# undone; the tree was clean before), the original branch, no new branch.
restore() {
    git reset -q --hard HEAD
    git clean -q -fd
    git checkout -q "$original"
    git branch -q -D "$branch" >/dev/null 2>&1
}

# The first line of file $1 that says something, without upkeep's own
# "error: " in front.
first_line() { grep -m 1 -v '^[[:space:]]*$' "$1" | sed 's/^error: //' | cut -c 1-160; }

# One repository; prints "RESULT<TAB>BRANCH" on stdout.
migrate() {
    local repo=$1
    cd "$repo" 2>/dev/null || { printf 'error: no such directory\t-\n'; return 1; }
    local top
    top=$(git rev-parse --show-toplevel 2>/dev/null) || { printf 'error: not a git repository\t-\n'; return 1; }
    cd "$top" || return 1
    git rev-parse -q --verify HEAD >/dev/null || { printf 'error: no commit yet\t-\n'; return 1; }
    if [ -n "$(git status --porcelain --ignore-submodules=none)" ]; then
        printf 'skipped: dirty\t-\n'
        return 1
    fi
    if git show-ref -q --verify "refs/heads/$branch"; then
        printf 'error: branch %s exists\t-\n' "$branch"
        return 1
    fi
    # The branch name, or the commit for a detached HEAD.
    original=$(git symbolic-ref -q --short HEAD || git rev-parse HEAD)
    git checkout -q -b "$branch" || { printf 'error: cannot create branch %s\t-\n' "$branch"; return 1; }

    local log
    log=$(mktemp)
    if ! "$upkeep" --write --color never ${upkeep_args[@]+"${upkeep_args[@]}"} >"$log" 2>&1; then
        printf 'error: %s\t-\n' "$(first_line "$log")"
        rm -f "$log"
        restore
        return 1
    fi
    git add -A
    local files
    files=$(git diff --cached --name-only)
    if [ -z "$files" ]; then
        rm -f "$log"
        restore
        printf 'no change\t-\n'
        return 0
    fi
    local count
    count=$(printf '%s\n' "$files" | wc -l | tr -d ' ')
    local message
    message=$(
        printf '%s\n\n' "$subject"
        printf 'upkeep --write%s said:\n\n' "${upkeep_args[*]+ ${upkeep_args[*]}}"
        sed 's/^/    /' "$log"
        printf '\nFiles changed:\n\n'
        printf '%s\n' "$files" | sed 's/^/- /'
        printf '\n%s\n' "$("$upkeep" --version)"
    )
    rm -f "$log"
    local err
    err=$(mktemp)
    if ! git commit -q ${verify[@]+"${verify[@]}"} -m "$message" >"$err" 2>&1; then
        printf 'error: commit failed: %s\t-\n' "$(first_line "$err")"
        rm -f "$err"
        restore
        return 1
    fi
    rm -f "$err"
    git checkout -q "$original"
    printf 'changed %s file%s\t%s\n' "$count" "$([ "$count" = 1 ] || echo s)" "$branch"
}

for repo in "${repos[@]}"; do
    # A subshell: its cd and variables stay there.
    line=$(migrate "$repo") || failed=1
    results+=("$repo	$line")
done

# The table, columns as wide as their longest entry.
{
    printf 'REPOSITORY\tRESULT\tBRANCH\n'
    printf '%s\n' "${results[@]}"
} | awk -F '\t' '
    { for (i = 1; i <= 3; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
    END { f = "%-" w[1] "s  %-" w[2] "s  %s\n"; for (r = 1; r <= NR; r++) printf f, cell[r, 1], cell[r, 2], cell[r, 3] }'
exit "$failed"
