#!/usr/bin/env bash
# The one command that runs the whole system locally on its embedded default:
# sled on disk, no cloud account: the switchboard and the agent UI, and —
# without Twilio credentials — the phone simulator, which plays the
# customer's phone and stands in for Twilio's REST API.
#
#   scripts/run-local.sh
#
# Ctrl-C stops everything cleanly. Data lives in ./data (DATA_DIR).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
cd "$REPO"
if [[ -f .env ]]; then
    set -a
    # shellcheck disable=SC1091
    source .env
    set +a
fi

echo "building (release)…"
cargo build --release --quiet -p switchboard -p agent-ui -p switchboard-devtools
BIN="$CARGO_TARGET_DIR/release/switchboard"
DEV_BIN="$CARGO_TARGET_DIR/release/switchboard-dev"
UI_BIN="$CARGO_TARGET_DIR/release/agent-ui"

export PORT="${PORT:-3000}"
export DATA_DIR="${DATA_DIR:-$REPO/data}"
# One local file directory for both: the agent UI serves what the switchboard stored.
export FILES_DIR="${FILES_DIR:-$DATA_DIR/files}"
export AGENTS="${AGENTS:-alice:alice,bob:bob}"
export RUST_LOG="${RUST_LOG:-info}"
PIDS=()
stop() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait
}
trap stop EXIT INT TERM

if [[ -z "${TWILIO_ACCOUNT_SID:-}" ]]; then
    # Demo credentials shared by the simulator and the switchboard.
    export SIM_PORT="${SIM_PORT:-4000}"
    export TWILIO_ACCOUNT_SID="AC00000000000000000000000000000000"
    export TWILIO_AUTH_TOKEN="local-demo-token"
    export TWILIO_FROM="+15550001000"
    export TWILIO_API_BASE="http://127.0.0.1:$SIM_PORT"
    export SIM_WEBHOOK_URL="http://localhost:$PORT/twilio/sms"
    "$DEV_BIN" phone-sim &
    PIDS+=($!)
    SIM_URL="http://localhost:$SIM_PORT/"
fi

"$BIN" serve &
PIDS+=($!)
UI_PORT="${UI_PORT:-8080}"
SWITCHBOARD_WS_URL="ws://127.0.0.1:$PORT/v1/agent"
PORT="$UI_PORT" SWITCHBOARD_WS_URL="$SWITCHBOARD_WS_URL" STATIC_DIR="$REPO/static" "$UI_BIN" serve &
PIDS+=($!)

for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
cat <<MSG

  Agent console     http://localhost:$UI_PORT/   (sign in as $(sed 's/,.*//' <<<"$AGENTS" | sed 's/:/ \/ /'); agents: AGENTS=name:password,…)
  Switchboard       http://localhost:$PORT/   (webhook: /twilio/sms, agents: ws://localhost:$PORT/v1/agent)
MSG
if [[ -n "${SIM_URL:-}" ]]; then
    echo "  Phone simulator   $SIM_URL   (text the switchboard as a customer)"
fi
echo "  Terminal agent    $DEV_BIN agent --name bob --password bob"
echo
wait
