#!/usr/bin/env bash
# Runs CI again and again, as CI runs it: each run clones the repository afresh and runs
# `CI=true bash .ci/run` in the clone, by default while `stress-ng --cpu 2` loads the
# machine (a busy shared CI machine). Prints one line a run, with the names of any tests
# that failed, and a summary; each run's whole output is kept in the log directory.
#
#   scripts/ci-soak.sh [-n RUNS] [--no-load] [--branch BRANCH] [--repo PATH]
#                      [--reuse-target DIR] [--logs DIR]
#
# -n RUNS             how many runs (default 5)
# --no-load           no stress-ng beside the runs
# --branch BRANCH     what to clone (default main)
# --repo PATH         the repository to clone (default: this one)
# --reuse-target DIR  build into DIR in every run (CARGO_TARGET_DIR), so only the first
#                     run compiles everything; without it each run builds from nothing, as CI does
# --logs DIR          where each run's output goes (default target/ci-soak/<date>)
#
# Exit status: 0 when every run was green, 1 otherwise.
set -uo pipefail

runs=5 load=1 branch=main target="" logs=""
repo=$(cd "$(dirname "$0")/.." && pwd)
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs=$2; shift 2 ;;
    --no-load) load=0; shift ;;
    --branch) branch=$2; shift 2 ;;
    --repo) repo=$2; shift 2 ;;
    --reuse-target) target=$2; shift 2 ;;
    --logs) logs=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$runs" in ''|*[!0-9]*) echo "error: -n takes a whole number" >&2; exit 2 ;; esac
logs=${logs:-$repo/target/ci-soak/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$logs"

stress_pid=""
cleanup() { [ -n "$stress_pid" ] && kill "$stress_pid" 2>/dev/null; }
trap cleanup EXIT
if [ "$load" = 1 ]; then
  if ! command -v stress-ng >/dev/null 2>&1; then
    echo "stress-ng is not installed; installing Debian's stress-ng"
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q stress-ng >/dev/null
  fi
  stress-ng --cpu 2 --quiet &
  stress_pid=$!
fi

echo "ci-soak: $runs runs of .ci/run on fresh clones of $branch ($(git -C "$repo" rev-parse --short "$branch")); $(nproc) cores; load: $([ "$load" = 1 ] && echo 'stress-ng --cpu 2' || echo none); logs in $logs"
green=0
for i in $(seq 1 "$runs"); do
  clone=$(mktemp -d /tmp/keyward-soak-XXXXXX)
  git clone -q --branch "$branch" "$repo" "$clone/keyward"
  start=$(date +%s)
  (
    cd "$clone/keyward" || exit 1
    [ -n "$target" ] && export CARGO_TARGET_DIR=$target
    CI=true bash .ci/run
  ) >"$logs/run-$i.log" 2>&1 </dev/null
  status=$?
  seconds=$(($(date +%s) - start))
  if [ "$status" = 0 ]; then
    green=$((green + 1))
    echo "run $i: green in ${seconds}s ($(awk '/^test result:/ { n += $4; if ($4 > most) { most = $4; took = $NF } }
      END { printf "%d tests passed; the integration tests: %d in %s", n, most, took }' "$logs/run-$i.log"))"
  else
    failed=$(grep -oE '^---- [^ ]+' "$logs/run-$i.log" | cut -c6- | sort -u | tr '\n' ' ')
    echo "run $i: RED (exit $status) in ${seconds}s; failed: ${failed:-see $logs/run-$i.log}"
  fi
  rm -rf "$clone"
done
echo "ci-soak: $green of $runs runs green"
[ "$green" = "$runs" ]
