#!/usr/bin/env bash
# The key path measured with wrk, as people measure it: a release `keyward serve` on a
# fresh database (SQLite file, or a fresh PostgreSQL database), one tenant, one admin and
# one key made through `keyward admin`, then for each route N rounds of
# `wrk -t2 -c32 -dS --latency`, the routes interleaved round by round so that a noisy
# neighbour hits all of them alike. Prints every run, then per route the median of the
# rounds with the spread (min–max), the ratio to `/healthz` (each round's own ratio, its
# median), p99 and the largest max latency, and the server's CPU time per request.
#
#   scripts/wrk-bench.sh [--backend sqlite|postgres] [--rounds 5] [--seconds 5]
#                        [--connections 32] [--bin target/release/keyward] [--perf ROUTE]
#
# --perf whoami|auth_info records a profile of the server (perf, Debian's linux-perf)
# during one extra run of that route and prints `perf report --no-children --sort sym`;
# WRK_BENCH_PERF_DATA=FILE keeps the recording; WRK_BENCH_PERF_CALLGRAPH=dwarf records
# call graphs a release build without frame pointers can be read by.
# PostgreSQL: KEYWARD_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres)
# names the server; a database `keyward_wrk_<pid>` is made and dropped.
set -euo pipefail

backend=sqlite rounds=5 seconds=5 connections=32 bin=target/release/keyward perf_route=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --backend) backend=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --perf) perf_route=$2; shift 2 ;;
    *) echo "wrk-bench: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk-bench: wrk is missing (apt-get install wrk)" >&2; exit 2; }
[[ -x $bin ]] || { echo "wrk-bench: no binary at $bin (cargo build --release)" >&2; exit 2; }
bin=$(realpath "$bin")

work=$(mktemp -d /tmp/wrk-bench.XXXXXX)
server_pid=""
pg_admin=${KEYWARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg_db=keyward_wrk_$$
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [[ $backend == postgres ]] && psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

case "$backend" in
  sqlite) export KEYWARD_DATABASE_URL="sqlite://$work/keyward.db" ;;
  postgres)
    psql -q "$pg_admin" -c "CREATE DATABASE $pg_db" >/dev/null
    export KEYWARD_DATABASE_URL="${pg_admin%/*}/$pg_db"
    KEYWARD_SESSION_SECRET=$(head -c 64 /dev/urandom | base64 -w0)
    export KEYWARD_SESSION_SECRET ;;
  *) echo "wrk-bench: --backend is sqlite or postgres" >&2; exit 2 ;;
esac

"$bin" migrate >/dev/null
"$bin" admin create-tenant --name Acme --slug acme >/dev/null
printf 'bench password 123\n' | "$bin" admin create-user --email bench@example.com --name Bench --password-stdin >/dev/null
"$bin" admin add-member --email bench@example.com --tenant acme --role admin >/dev/null
key=$("$bin" admin create-key --account bench@example.com --tenant acme --name bench --json \
  | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')
[[ -n $key ]] || { echo "wrk-bench: could not make a key" >&2; exit 1; }

port=$((20000 + $$ % 20000))
"$bin" serve --bind "127.0.0.1:$port" >/dev/null 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
curl -fsS -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/whoami" >/dev/null \
  || { echo "wrk-bench: the server did not answer; its log:" >&2; tail -20 "$work/server.log" >&2; exit 1; }

# Resident memory by kind (anonymous: heaps, stacks, relocated data; file: mapped code).
rss_now() { awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s %s %s  ", $1, $2, $3}' "/proc/$server_pid/status"; }
rss_at_start=$(rss_now)

cat >"$work/auth_info.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"{ auth_info { user_id tenant_id api_key_id role account_type } }"}'
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
hz=$(getconf CLK_TCK)

# One wrk run: prints "req/s p50_ms p99_ms max_ms requests non2xx cpu_us_per_request".
run() {
  local route=$1 out before after
  local url="http://127.0.0.1:$port"
  local args=(-t2 -c"$connections" -d"${seconds}s" --latency)
  case "$route" in
    healthz) args+=("$url/healthz") ;;
    whoami) args+=(-H "Authorization: Bearer $key" "$url/api/whoami") ;;
    auth_info) args+=(-s "$work/auth_info.lua" -H "Authorization: Bearer $key" "$url/graphql") ;;
  esac
  before=$(cpu_ticks)
  out=$(wrk "${args[@]}")
  after=$(cpu_ticks)
  echo "$out" | awk -v ticks=$((after - before)) -v hz="$hz" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^    Latency/ { max = ms($4) }
    /^     50%/ { p50 = ms($2) }
    /^     99%/ { p99 = ms($2) }
    /requests in/ { n = $1 }
    /Non-2xx/ { bad = $NF }
    /^Requests\/sec/ { rps = $2 }
    END { printf "%.0f %.2f %.2f %.2f %d %d %.1f\n", rps, p50, p99, max, n, bad + 0, n ? ticks / hz * 1e6 / n : 0 }'
}

routes=(healthz whoami auth_info)
echo "wrk-bench: $backend, $rounds rounds of ${seconds}s, $connections connections, $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load $(cut -d' ' -f1-3 /proc/loadavg)"
run healthz >/dev/null   # warm-up
for r in $(seq "$rounds"); do
  for route in "${routes[@]}"; do
    line=$(run "$route")
    echo "$r $route $line" | tee -a "$work/runs"
  done
done

echo
printf '%-10s %9s %17s %7s %8s %9s %8s %9s\n' route req/s "(min–max)" ×healthz p50_ms p99_ms max_ms cpu_us/req
for route in "${routes[@]}"; do
  awk -v route="$route" '
    $2 == "healthz" { h[$1] = $3 }
    $2 == route { rps[$1] = $3; p50[$1] = $4; p99[$1] = $5; if ($6 > mx) mx = $6; cpu[$1] = $9; bad += $8; n++ }
    function median(a, k, i, j, t, v) {
      k = 0; for (i in a) v[++k] = a[i]
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
    }
    function lo(a, i, m) { m = ""; for (i in a) if (m == "" || a[i] < m) m = a[i]; return m }
    function hi(a, i, m) { m = ""; for (i in a) if (m == "" || a[i] > m) m = a[i]; return m }
    END {
      for (i in rps) ratio[i] = rps[i] / h[i]
      printf "%-10s %9.0f %17s %7.3f %8.2f %9.2f %8.2f %9.1f%s\n", route, median(rps),
        sprintf("(%.0f–%.0f)", lo(rps), hi(rps)), median(ratio), median(p50), median(p99), mx, median(cpu),
        bad ? sprintf("  NON-2XX: %d", bad) : ""
    }' "$work/runs"
done
echo "(ratio, p50, p99 and CPU: medians of the rounds; max_ms: the largest of all rounds; p99 spread:"
for route in "${routes[@]}"; do
  awk -v route="$route" '$2 == route { printf "%s%s", sep, $5; sep = " " } END { print "" }' "$work/runs" \
    | sed "s/^/  $route p99 ms by round: /"
done
echo "server peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/$server_pid/status")"
echo "server RSS at start: $rss_at_start"
echo "server RSS at the end: $(rss_now)"

if [[ -n $perf_route ]]; then
  command -v perf >/dev/null || { echo "wrk-bench: perf is missing (apt-get install linux-perf)" >&2; exit 2; }
  perf record -q -F 999 --call-graph "${WRK_BENCH_PERF_CALLGRAPH:-fp}" -o "$work/perf.data" -p "$server_pid" -- sleep "$seconds" 2>/dev/null &
  perf_pid=$!
  run "$perf_route" >/dev/null
  wait "$perf_pid" || true
  echo
  echo "profile of $perf_route (perf report --no-children --sort sym, top 40):"
  # WRK_BENCH_PERF_DATA=FILE keeps the recording (for `perf report --children`).
  if [[ -n ${WRK_BENCH_PERF_DATA:-} ]]; then cp "$work/perf.data" "$WRK_BENCH_PERF_DATA"; fi
  perf report -q -i "$work/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null \
    | grep -v '^$' | head -40
fi
