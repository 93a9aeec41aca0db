#!/usr/bin/env bash
# A real Prefect 1.x agent against Keyward: starts `keyward serve` on a fresh SQLite
# database, gives a service-account key to `prefect agent local start`, shows the agent
# registered and polling (`agents`, and the key's clients), revokes the key with
# `keyward admin revoke-key`, and shows the agent's next poll refused and the agent
# listed as KEY_REVOKED.
#
# Needs Prefect 1.x in a virtualenv (never a dependency of `cargo test`):
#   python3 -m venv /work/venv-prefect && /work/venv-prefect/bin/pip install 'prefect<2'
# Usage:
#   scripts/prefect-agent-check.sh
# Environment: PREFECT_VENV (default /work/venv-prefect), KEYWARD_BIN (default
# target/debug/keyward, built if missing), PORT (default: a free one).
set -euo pipefail

cd "$(dirname "$0")/.."
PREFECT_VENV=${PREFECT_VENV:-/work/venv-prefect}
KEYWARD_BIN=${KEYWARD_BIN:-target/debug/keyward}
PREFECT="$PREFECT_VENV/bin/prefect"
if [[ ! -x "$PREFECT" ]]; then
    echo "no prefect at $PREFECT: python3 -m venv $PREFECT_VENV && $PREFECT_VENV/bin/pip install 'prefect<2'" >&2
    exit 2
fi
[[ -x "$KEYWARD_BIN" ]] || cargo build -q --bin keyward

WORK=$(mktemp -d)
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
URL="http://127.0.0.1:$PORT"
export KEYWARD_DATABASE_URL="sqlite://$WORK/keyward.db"
SERVER_PID= AGENT_PID=
cleanup() {
    [[ -n "$AGENT_PID" ]] && kill "$AGENT_PID" 2>/dev/null || true
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    [[ -n "${KEEP:-}" ]] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n### %s\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed -E 's/(kw[us]_)[0-9A-Za-z]{32}/\1…/g'; "$@"; }
# A GraphQL query with a key; prints the answer's JSON.
gql() { curl -s "$URL/graphql" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    -d "$(jq -n --arg q "$2" '{query: $q}')"; }

say "Keyward on $URL, a tenant, the service account the agent runs as, and an observer"
"$KEYWARD_BIN" migrate >/dev/null
run "$KEYWARD_BIN" admin create-tenant --slug acme --name "Acme"
echo "\$ $KEYWARD_BIN admin create-service-account --tenant acme --name \"build bot\" --json"
"$KEYWARD_BIN" admin create-service-account --tenant acme --name "build bot" --json > "$WORK/sa.json"
cat "$WORK/sa.json"; echo
SA_ID=$(jq -r .id "$WORK/sa.json")
"$KEYWARD_BIN" admin create-key --account "$SA_ID" --tenant acme --name "build agent key" --json > "$WORK/key.json"
AGENT_KEY=$(jq -r .key "$WORK/key.json")
AGENT_KEY_ID=$(jq -r .id "$WORK/key.json")
echo "agent key: id $AGENT_KEY_ID (the secret goes to the agent only)"
"$KEYWARD_BIN" admin create-service-account --tenant acme --name "observer" --json > "$WORK/obs.json"
OBSERVER_KEY=$("$KEYWARD_BIN" admin create-key --account "$(jq -r .id "$WORK/obs.json")" --tenant acme --name "observer key" --json | jq -r .key)

KEYWARD_BIND="127.0.0.1:$PORT" KEYWARD_LOG=warn "$KEYWARD_BIN" serve > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

say "The real agent: prefect agent local start (Prefect $("$PREFECT_VENV/bin/python" -c 'import prefect; print(prefect.__version__)'))"
export PREFECT__HOME_DIR="$WORK/prefect" PREFECT__BACKEND=cloud PREFECT__CLOUD__API="$URL/graphql"
export PREFECT__CLOUD__AGENT__LEVEL=DEBUG
echo "\$ PREFECT__BACKEND=cloud PREFECT__CLOUD__API=$URL/graphql prefect agent local start -k kws_… --name build-agent -l etl --no-hostname-label"
"$PREFECT" agent local start -k "$AGENT_KEY" --name build-agent -l etl --no-hostname-label > "$WORK/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 300); do grep -q "No ready flow runs" "$WORK/agent.log" && break; sleep 0.1; done
grep -E "Registering|Registration|agent id|Test query|Waiting for flow runs|ready flow runs" "$WORK/agent.log" | head -8

say "Keyward sees it: agents (as the observer, an admin of acme)"
gql "$OBSERVER_KEY" '{ agents { id name type labels api_key_id status first_seen_at last_seen_at } }' | jq .
say "and the key's clients: auth_api_key { clients }"
gql "$OBSERVER_KEY" "{ auth_api_key(where: {name: {_eq: \"build agent key\"}}) { name clients { user_agent ip } } }" | jq .

say "Revoke the agent's key"
run "$KEYWARD_BIN" admin revoke-key --id "$AGENT_KEY_ID"

say "The agent's next poll is refused (its log)"
for _ in $(seq 300); do grep -q "^prefect.exceptions.AuthorizationError" "$WORK/agent.log" && break; sleep 0.1; done
grep -E "Failed to query|^prefect.exceptions.AuthorizationError" "$WORK/agent.log" | head -2
echo "(the agent keeps polling, with back-off, and is refused each time)"
say "The same key by hand"
gql "$AGENT_KEY" '{ hello }' | jq -c .
say "and the agent is listed as KEY_REVOKED"
gql "$OBSERVER_KEY" '{ agents { name status api_key_id api_key_name } }' | jq .
