#!/usr/bin/env bash
# Tests of scripts/run-local.sh with the debug binaries (no release build):
#
#   1. a port already taken: it names the program and the port, exits non-zero,
#      prints no URL banner and leaves no program running;
#   2. a program that exits at start (a bad setting): it names it and shows
#      the program's own error;
#   3. everything starts: the banner appears once all three answer, and
#      SIGTERM stops them.
#
#   scripts/run-local.test.sh   (after `cargo build --workspace --bins`)
#
# No fixed sleeps decide a result: each case waits for the script's exit or
# its banner, bounded only to end a broken run.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${RUN_LOCAL_BIN_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}/debug}"
for bin in switchboard switchboard-dev agent-ui; do
    [[ -x "$BIN_DIR/$bin" ]] || { echo "run-local test: $BIN_DIR/$bin is missing: build the binaries first" >&2; exit 1; }
done
WORK="$(mktemp -d)"
HOLDER=""
cleanup() {
    [[ -n "$HOLDER" ]] && kill "$HOLDER" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

failures=0
check() { # check WHAT COMMAND…: runs the assertion, reports it
    local what="$1"
    shift
    if "$@"; then
        echo "ok - $what"
    else
        echo "not ok - $what"
        failures=$((failures + 1))
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# run_local OUT VAR=VALUE…: runs the script with its own ports and data dir; its
# exit status goes to $WORK/OUT.rc, its output to $WORK/OUT.
run_local() {
    local out="$1"
    shift
    (
        cd "$REPO"
        env -u TWILIO_ACCOUNT_SID RUN_LOCAL_BIN_DIR="$BIN_DIR" DATA_DIR="$WORK/data-$out" \
            PORT="$SB_PORT" UI_PORT="$UI_PORT" SIM_PORT="$SIM_PORT" RUST_LOG=warn "$@" \
            timeout 120 bash scripts/run-local.sh >"$WORK/$out" 2>&1 && rc=0 || rc=$?
        echo "$rc" >"$WORK/$out.rc"
    )
}

nothing_listens_on() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

SB_PORT="$(free_port)"
UI_PORT="$(free_port)"
SIM_PORT="$(free_port)"

# 1. The switchboard's port is taken.
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(600)' "$SB_PORT" &
HOLDER=$!
until ! nothing_listens_on "$SB_PORT"; do sleep 0.05; done
run_local taken
check "taken port: exits non-zero" test "$(cat "$WORK/taken.rc")" != 0
check "taken port: names the program and the port" grep -q "switchboard failed to start: port $SB_PORT is already in use" "$WORK/taken"
check "taken port: no URL banner" bash -c "! grep -q 'Agent console' '$WORK/taken'"
check "taken port: the phone simulator is not left running" nothing_listens_on "$SIM_PORT"
check "taken port: the agent UI is not left running" nothing_listens_on "$UI_PORT"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || true
HOLDER=""

# 2. The agent UI exits at start: a bad setting.
run_local badsetting UPSTREAM_PING_SECS=often
check "bad setting: exits non-zero" test "$(cat "$WORK/badsetting.rc")" != 0
check "bad setting: names the program" grep -q "agent-ui failed to start: it exited with status" "$WORK/badsetting"
check "bad setting: shows the program's own error" grep -q "UPSTREAM_PING_SECS" "$WORK/badsetting"
check "bad setting: no URL banner" bash -c "! grep -q 'Agent console' '$WORK/badsetting'"
check "bad setting: the switchboard is not left running" nothing_listens_on "$SB_PORT"

# 3. Everything starts; SIGTERM stops it.
(
    cd "$REPO"
    exec env -u TWILIO_ACCOUNT_SID RUN_LOCAL_BIN_DIR="$BIN_DIR" DATA_DIR="$WORK/data-ok" \
        PORT="$SB_PORT" UI_PORT="$UI_PORT" SIM_PORT="$SIM_PORT" RUST_LOG=warn \
        bash scripts/run-local.sh >"$WORK/ok" 2>&1
) &
RUN=$!
for _ in $(seq 1 1200); do
    grep -q "Terminal agent" "$WORK/ok" 2>/dev/null && break
    kill -0 "$RUN" 2>/dev/null || break
    sleep 0.1
done
check "all up: the banner shows the console's URL" grep -q "Agent console     http://localhost:$UI_PORT/" "$WORK/ok"
check "all up: the console answers" curl -sf "http://127.0.0.1:$UI_PORT/healthz" -o /dev/null
kill -TERM "$RUN" 2>/dev/null || true
wait "$RUN" 2>/dev/null || true
check "all up: SIGTERM stops the switchboard" nothing_listens_on "$SB_PORT"
check "all up: SIGTERM stops the agent UI" nothing_listens_on "$UI_PORT"

if ((failures > 0)); then
    echo "run-local test: $failures check(s) failed; outputs:" >&2
    for f in taken badsetting ok; do
        printf -- '----- %s\n' "$f" >&2
        cat "$WORK/$f" >&2 2>/dev/null || true
    done
    exit 1
fi
echo "run-local test: all checks passed"
