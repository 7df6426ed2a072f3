#!/usr/bin/env bash
# The one command that runs the whole system locally on its embedded default:
# sled on disk, no cloud account: the switchboard and the agent UI, and —
# without Twilio credentials — the phone simulator, which plays the
# customer's phone and stands in for Twilio's REST API.
#
#   scripts/run-local.sh
#
# Ctrl-C stops everything cleanly. Data lives in ./data (DATA_DIR).
#
# If a program cannot start (a port is taken, a setting is wrong), it stops
# the others, says which one failed and why, and exits non-zero; the URL
# banner is printed only once every program answers.
#
# RUN_LOCAL_BIN_DIR=dir uses the binaries in dir instead of building them
# (the test of this script, scripts/run-local.test.sh, does that).
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

if [[ -n "${RUN_LOCAL_BIN_DIR:-}" ]]; then
    BIN_DIR="$RUN_LOCAL_BIN_DIR"
else
    echo "building (release)…"
    cargo build --release --quiet -p switchboard -p agent-ui -p switchboard-devtools
    BIN_DIR="$CARGO_TARGET_DIR/release"
fi
BIN="$BIN_DIR/switchboard"
DEV_BIN="$BIN_DIR/switchboard-dev"
UI_BIN="$BIN_DIR/agent-ui"

export PORT="${PORT:-3000}"
export DATA_DIR="${DATA_DIR:-$REPO/data}"
# One local file directory for both: the agent UI serves what the switchboard stored.
export FILES_DIR="${FILES_DIR:-$DATA_DIR/files}"
export AGENTS="${AGENTS:-alice:alice,bob:bob}"
export RUST_LOG="${RUST_LOG:-info}"
UI_PORT="${UI_PORT:-8080}"
PIDS=()
# Each program's output goes to the terminal and to a log, so a failed start
# can be explained from it.
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/run-local.XXXXXX")"
stop() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait
    rm -rf "$LOG_DIR"
}
trap stop EXIT INT TERM

# fail NAME WHY: say which program could not start and why, stop the rest.
fail() {
    local name="$1" why="$2" log="$LOG_DIR/$1.log"
    {
        printf '\nrun-local: %s failed to start: %s\n' "$name" "$why"
        if [[ -s "$log" ]]; then
            printf 'run-local: the last lines %s printed:\n' "$name"
            tail -n 15 "$log" | sed 's/^/    /'
        fi
    } >&2
    exit 1
}

# A port something else already listens on: starting would fail (or, worse,
# the readiness check would be answered by that other program).
port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

for pair in "switchboard:PORT:$PORT" "agent-ui:UI_PORT:$UI_PORT"; do
    IFS=: read -r name var port <<<"$pair"
    if port_taken "$port"; then
        fail "$name" "port $port is already in use (another run-local.sh? set $var=… to use another port)"
    fi
done
if [[ -z "${TWILIO_ACCOUNT_SID:-}" ]] && port_taken "${SIM_PORT:-4000}"; then
    fail "phone-sim" "port ${SIM_PORT:-4000} is already in use (set SIM_PORT=… to use another port)"
fi

# start NAME CMD…: runs it in the background, output to the terminal and its log.
declare -A PID_OF
start() {
    local name="$1"
    shift
    "$@" > >(tee -a "$LOG_DIR/$name.log") 2>&1 &
    PID_OF[$name]=$!
    PIDS+=($!)
}

# ready NAME URL: waits until URL answers 2xx; fails if NAME exits first or
# does not answer within a minute.
ready() {
    local name="$1" url="$2" status
    for _ in $(seq 1 600); do
        if ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
            wait "${PID_OF[$name]}" && status=0 || status=$?
            fail "$name" "it exited with status $status"
        fi
        curl -sf "$url" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "$name" "no answer at $url within 60 s"
}

if [[ -z "${TWILIO_ACCOUNT_SID:-}" ]]; then
    # Demo credentials shared by the simulator and the switchboard.
    export SIM_PORT="${SIM_PORT:-4000}"
    export TWILIO_ACCOUNT_SID="AC00000000000000000000000000000000"
    export TWILIO_AUTH_TOKEN="local-demo-token"
    export TWILIO_FROM="+15550001000"
    export TWILIO_API_BASE="http://127.0.0.1:$SIM_PORT"
    export SIM_WEBHOOK_URL="http://localhost:$PORT/twilio/sms"
    start phone-sim "$DEV_BIN" phone-sim
    SIM_URL="http://localhost:$SIM_PORT/"
fi

start switchboard "$BIN" serve
SWITCHBOARD_WS_URL="ws://127.0.0.1:$PORT/v1/agent"
start agent-ui env PORT="$UI_PORT" SWITCHBOARD_WS_URL="$SWITCHBOARD_WS_URL" STATIC_DIR="$REPO/static" "$UI_BIN" serve

if [[ -n "${SIM_URL:-}" ]]; then
    ready phone-sim "http://127.0.0.1:$SIM_PORT/sim/info"
fi
ready switchboard "http://127.0.0.1:$PORT/readyz"
ready agent-ui "http://127.0.0.1:$UI_PORT/healthz"
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
