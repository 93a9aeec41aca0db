#!/usr/bin/env bash
# Runs one test of the integration binary alone, N times in a row, stopping at the first
# failure, by default while `stress-ng --cpu 2` loads the machine. For proving a flaky
# test fixed: "passes 50 times in a row run alone under load".
#
#   scripts/repeat-test.sh TEST [-n RUNS] [--no-load]
#
# TEST       the test's full name, e.g. browser::flows::setup_sign_in_create_copy_and_delete_a_key
# -n RUNS    how many runs (default 50)
# --no-load  no stress-ng beside the runs
#
# Runs with CI=true, and on PostgreSQL too when KEYWARD_TEST_POSTGRES_URL is set. Each
# failing run's output is kept in target/repeat-test/. Exit status 0 when all runs passed.
set -uo pipefail
cd "$(dirname "$0")/.."

test_name="" runs=50 load=1
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs=$2; shift 2 ;;
    --no-load) load=0; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) test_name=$1; shift ;;
  esac
done
[ -n "$test_name" ] || { echo "error: name the test to repeat (see --help)" >&2; exit 2; }
case "$runs" in ''|*[!0-9]*) echo "error: -n takes a whole number" >&2; exit 2 ;; esac

cargo test -q --test it --no-run 2>/dev/null || { echo "error: the test binary does not build" >&2; exit 1; }
bin=$(cargo test -q --test it --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*/deps/it-[^"]*"' | tail -n 1 | cut -d'"' -f4)
[ -x "$bin" ] || { echo "error: could not find the test binary" >&2; exit 1; }
listed=$("$bin" --exact "$test_name" --list 2>/dev/null)
grep -q ': test$' <<<"$listed" ||
  { echo "error: no test is called $test_name" >&2; exit 2; }

stress_pid=""
cleanup() { [ -n "$stress_pid" ] && kill "$stress_pid" 2>/dev/null; }
trap cleanup EXIT
if [ "$load" = 1 ]; then
  command -v stress-ng >/dev/null 2>&1 || { echo "error: stress-ng is not installed (apt-get install stress-ng)" >&2; exit 1; }
  stress-ng --cpu 2 --quiet &
  stress_pid=$!
fi

logs=target/repeat-test
mkdir -p "$logs"
echo "repeat-test: $test_name, $runs runs; $(nproc) cores; load: $([ "$load" = 1 ] && echo 'stress-ng --cpu 2' || echo none)"
start=$(date +%s)
for i in $(seq 1 "$runs"); do
  run_start=$(date +%s)
  if ! CI=true "$bin" --exact "$test_name" --test-threads 1 >"$logs/last.log" 2>&1; then
    cp "$logs/last.log" "$logs/failed-run-$i.log"
    echo "run $i: FAILED after $((i - 1)) passes in a row ($logs/failed-run-$i.log)"
    exit 1
  fi
  echo "run $i: passed in $(($(date +%s) - run_start))s (load average $(cut -d' ' -f1 /proc/loadavg))"
done
echo "repeat-test: $runs of $runs passed in a row in $(($(date +%s) - start))s"
