#!/usr/bin/env bash
# Tries docs/DEPLOY.md end to end on this machine (not part of `cargo test`):
# one PostgreSQL database, two `keyward serve` instances with one session secret, Debian's
# nginx terminating TLS in front of them (run as our own process, 127.0.0.1 only), then:
# sign-in through nginx served by either instance, a key revoked through one instance
# refused through the other, the allow-list seeing the client through the trusted proxy,
# metrics, a rolling restart (SIGTERM exits 0), and a pg_dump backup that restores and
# migrates.
#
#   scripts/deploy-check.sh            # uses target/release/keyward, else target/debug/keyward
#   KEYWARD_BIN=/path/to/keyward KEYWARD_DEPLOY_PG=postgres://postgres@127.0.0.1:5432/postgres scripts/deploy-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${KEYWARD_BIN:-}
if [[ -z $BIN ]]; then
  if [[ -x target/release/keyward ]]; then BIN=target/release/keyward; else BIN=target/debug/keyward; fi
fi
[[ -x $BIN ]] || { echo "no keyward binary at $BIN: run cargo build --release first" >&2; exit 1; }
BIN=$(realpath "$BIN")
PG_ADMIN=${KEYWARD_DEPLOY_PG:-postgres://postgres@127.0.0.1:5432/postgres}
NGINX=${NGINX:-/usr/sbin/nginx}
for tool in psql pg_dump openssl curl python3 "$NGINX"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/keyward-deploy-check.XXXXXX)
DB=keyward_deploy_check_$$
RESTORED=${DB}_restored
PIDS=()
passed=0
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -f $WORK/nginx.pid ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $RESTORED WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
fail() { echo "FAILED - $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
db_url() { python3 -c 'import sys; u=sys.argv[1]; b,_,q=u.partition("?"); i=b.find("/", b.find("://")+3); print((b[:i] if i>0 else b)+"/"+sys.argv[2]+("?"+q if q else ""))' "$PG_ADMIN" "$1"; }

# --- the systemd unit of docs/DEPLOY.md, as written there (binary and user swapped in) ---
if command -v systemd-analyze >/dev/null; then
  sed -n '/^\[Unit\]/,/^WantedBy/p' docs/DEPLOY.md \
    | sed -e "s#/usr/local/bin/keyward#$BIN#" -e "s#^User=keyward#User=root#" -e "s#^Group=keyward#Group=root#" \
    >"$WORK/keyward.service"
  systemd-analyze verify "$WORK/keyward.service" || fail "systemd-analyze verify rejects the unit in docs/DEPLOY.md"
  ok "systemd-analyze verify accepts the unit in docs/DEPLOY.md"
fi

P1=$(free_port); P2=$(free_port); PN=$(free_port)
PUBLIC=https://127.0.0.1:$PN
URL=$(db_url "$DB")
psql -q "$PG_ADMIN" -c "CREATE DATABASE $DB" >/dev/null
echo "# keyward $("$BIN" --version | cut -d' ' -f2) from $BIN; instances on :$P1 and :$P2, nginx (TLS) on :$PN, database $DB"

# --- configuration shared by both instances (docs/DEPLOY.md, "Environment") ---
export KEYWARD_DATABASE_URL=$URL
export KEYWARD_SESSION_SECRET=$(openssl rand -base64 64 | tr -d '\n')
export KEYWARD_METRICS_TOKEN=$(openssl rand -hex 32)
export KEYWARD_PUBLIC_URL=$PUBLIC
export KEYWARD_TRUSTED_PROXIES=127.0.0.1/32
export KEYWARD_LOG=warn
export KEYWARD_SHUTDOWN_TIMEOUT=20

start_instance() { # port; sets STARTED to its pid (a child of this shell, so `wait` works)
  KEYWARD_BIND=127.0.0.1:$1 "$BIN" serve >"$WORK/keyward-$1.log" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
}
wait_ready() { # port
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0
    sleep 0.1
  done
  cat "$WORK/keyward-$1.log" >&2; fail "instance on :$1 did not become ready"
}
# Both at once on an empty database: migrations run under PostgreSQL's advisory lock.
start_instance "$P1"; A=$STARTED
start_instance "$P2"
wait_ready "$P1"; wait_ready "$P2"
ok "two instances started together on one empty PostgreSQL database and migrated it once"

# --- bootstrap with keyward admin ---
"$BIN" admin create-tenant --name "Acme" --slug acme >/dev/null
echo "correct horse battery staple" | "$BIN" admin create-user --email ada@example.com --name Ada --password-stdin >/dev/null
"$BIN" admin add-member --email ada@example.com --tenant acme --role admin >/dev/null
KEY=$("$BIN" admin --json create-key --account ada@example.com --tenant acme --name deploy-check | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
ok "keyward admin created a tenant, an admin and a key"

# --- nginx terminating TLS for both instances ---
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
  -keyout "$WORK/tls.key" -out "$WORK/tls.crt" >/dev/null 2>&1
sed -e "s#@WORK@#$WORK#g" -e "s#@PN@#$PN#g" -e "s#@P1@#$P1#g" -e "s#@P2@#$P2#g" >"$WORK/nginx.conf" <<'NGINX'
worker_processes 1;
pid @WORK@/nginx.pid;
error_log @WORK@/nginx-error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path @WORK@/body; proxy_temp_path @WORK@/proxy;
  fastcgi_temp_path @WORK@/fastcgi; uwsgi_temp_path @WORK@/uwsgi; scgi_temp_path @WORK@/scgi;
  upstream keyward {
    server 127.0.0.1:@P1@;
    server 127.0.0.1:@P2@;
    keepalive 16;
  }
  server {
    listen 127.0.0.1:@PN@ ssl;
    ssl_certificate @WORK@/tls.crt;
    ssl_certificate_key @WORK@/tls.key;
    client_max_body_size 1m;
    location / {
      proxy_pass http://keyward;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host:$server_port;
      # nginx is the edge: it replaces whatever X-Forwarded-For the client sent.
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host:$server_port;
      # Only for this check: which instance answered.
      add_header X-Upstream $upstream_addr always;
    }
  }
}
NGINX
"$NGINX" -t -q -p "$WORK" -c "$WORK/nginx.conf" -g 'user root;' 2>/dev/null || "$NGINX" -t -p "$WORK" -c "$WORK/nginx.conf"
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -g 'user root;'
for _ in $(seq 1 50); do curl -skf "$PUBLIC/healthz" >/dev/null && break; sleep 0.1; done
ok "nginx $("$NGINX" -v 2>&1 | cut -d/ -f2) terminates TLS on $PUBLIC for both instances"

# --- a browser session through nginx, served by either instance ---
JAR=$WORK/cookies
status=$(curl -sk -c "$JAR" -b "$JAR" -o /dev/null -w '%{http_code}' \
  --data-urlencode email=ada@example.com --data-urlencode 'password=correct horse battery staple' \
  --data-urlencode next=/user/api-keys "$PUBLIC/login")
[[ $status == 303 ]] || fail "sign-in through nginx answered $status"
grep -q "__Host-keyward_session" "$JAR" || fail "no Secure __Host- session cookie behind https"
ok "signed in through nginx: a Secure __Host- session cookie (the public URL is https)"
declare -A served=()
for _ in $(seq 1 8); do
  out=$(curl -sk -b "$JAR" -D - -o "$WORK/page.html" "$PUBLIC/user/api-keys")
  [[ $(head -1 <<<"$out") == *" 200"* ]] || fail "the keys page through nginx: $(head -1 <<<"$out")"
  grep -q "deploy-check" "$WORK/page.html" || fail "the keys page does not list the key"
  served[$(grep -i '^x-upstream:' <<<"$out" | tr -d '\r' | cut -d' ' -f2)]=1
done
[[ ${#served[@]} -eq 2 ]] || fail "one session was not served by both instances: ${!served[*]}"
ok "the same session was served by both instances: ${!served[*]}"

# --- revocation through one instance, refused through the other ---
gql() { # base key query -> answer
  curl -sk "$1/graphql" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data "$3"
}
whoami() { curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "$1/api/whoami"; }
ADA=$(gql "$PUBLIC" "$KEY" '{"query":"{ auth_info { user_id } }"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["auth_info"]["user_id"])')
created=$(gql "http://127.0.0.1:$P1" "$KEY" "{\"query\":\"mutation { create_api_key(input: {user_id: \\\"$ADA\\\", name: \\\"short-lived\\\"}) { id key } }\"}")
K2_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["create_api_key"]["id"])' "$created")
K2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["create_api_key"]["key"])' "$created")
[[ $(whoami "http://127.0.0.1:$P2" "$K2") == 200 ]] || fail "a key made on instance A does not work on B"
gql "http://127.0.0.1:$P1" "$KEY" "{\"query\":\"mutation { delete_api_key(input: {key_id: \\\"$K2_ID\\\"}) { success } }\"}" | grep -q '"success":true' \
  || fail "revocation on instance A"
[[ $(whoami "http://127.0.0.1:$P2" "$K2") == 401 ]] || fail "a key revoked on A still works on B"
[[ $(whoami "$PUBLIC" "$K2") == 401 ]] || fail "a revoked key still works through nginx"
ok "a key revoked through instance A is refused at once through instance B and through nginx"

# --- the client address through the trusted proxy ---
answer=$(gql "$PUBLIC" "$KEY" "{\"query\":\"mutation { create_api_key(input: {user_id: \\\"$ADA\\\", name: \\\"office only\\\", allowed_ips: [\\\"203.0.113.0/24\\\"]}) { key } }\"}")
K3=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["create_api_key"]["key"])' "$answer")
refusal=$(gql "$PUBLIC" "$K3" '{"query":"{ auth_info { user_id } }"}')
grep -q 'may not be used from 127.0.0.1' <<<"$refusal" || fail "allow-list through nginx: $refusal"
# A client-supplied X-Forwarded-For is replaced by nginx, so the instance still sees the
# real address.
refusal=$(curl -sk "$PUBLIC/graphql" -H "Authorization: Bearer $K3" -H 'X-Forwarded-For: 203.0.113.9' \
  -H 'Content-Type: application/json' --data '{"query":"{ auth_info { user_id } }"}')
grep -q 'may not be used from 127.0.0.1' <<<"$refusal" || fail "a spoofed X-Forwarded-For was believed: $refusal"
ok "an IP allow-list sees the client nginx saw (127.0.0.1), not a spoofed X-Forwarded-For"

# --- metrics ---
[[ $(curl -sk -o /dev/null -w '%{http_code}' "$PUBLIC/metrics") == 401 ]] || fail "metrics without the token"
curl -skf -H "Authorization: Bearer $KEYWARD_METRICS_TOKEN" "$PUBLIC/metrics" >"$WORK/metrics.txt"
grep -q '^keyward_http_requests_total{method="GET",route="/user/api-keys",status="200"}' "$WORK/metrics.txt" \
  || fail "no request counts in the metrics"
grep -q '^keyward_auth_failures_total{reason="ip_not_allowed"}' "$WORK/metrics.txt" || fail "no auth failures in the metrics"
ok "GET /metrics answers 401 without the token and Prometheus text with it"

# --- rolling restart: SIGTERM one instance while the other serves ---
kill -TERM "$A"
code=0; wait "$A" || code=$?
[[ $code == 0 ]] || fail "instance A exited $code after SIGTERM"
[[ $(whoami "$PUBLIC" "$KEY") == 200 ]] || fail "nginx did not fail over to instance B"
start_instance "$P1"; wait_ready "$P1"
[[ $(whoami "http://127.0.0.1:$P1" "$KEY") == 200 ]] || fail "the restarted instance refuses the key"
ok "SIGTERM stopped instance A with exit 0, nginx kept serving from B, A came back"

# --- backup with pg_dump, restored and migrated ---
pg_dump --no-owner --format=custom --file "$WORK/keyward.dump" "$URL"
psql -q "$PG_ADMIN" -c "CREATE DATABASE $RESTORED" >/dev/null
pg_restore --no-owner --dbname "$(db_url "$RESTORED")" "$WORK/keyward.dump"
KEYWARD_DATABASE_URL=$(db_url "$RESTORED") "$BIN" migrate >/dev/null
keys=$(psql -tA "$(db_url "$RESTORED")" -c "SELECT count(*) FROM api_keys")
[[ $keys == 2 ]] || fail "the restored database holds $keys keys, not 2"
ok "pg_dump backup restored into a new database, migrated, and holds both remaining keys"

echo "deploy-check: all $passed checks passed"
