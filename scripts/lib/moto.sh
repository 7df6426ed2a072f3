# shellcheck shell=bash
# The AWS emulator the tests run against: moto in server mode (S3, DynamoDB +
# Streams, SES v2 on one port). Source this file, then:
#
#   moto_install   # venv in $TOOLS_DIR/venv-aws, export MOTO_SERVER
#   moto_start     # a shared instance on a free port, export MOTO_URL
#   moto_stop      # stop it (call from an EXIT trap)
#
# Tests that need an outage start private instances from $MOTO_SERVER
# themselves (tests/e2e/common/aws.rs). Safe under `set -euo pipefail`.

MOTO_VERSION="5.2.5"

_moto_tools_dir() {
    if [[ -n "${TOOLS_DIR:-}" ]]; then
        printf '%s\n' "$TOOLS_DIR"
    else
        (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && printf '%s/.tools\n' "$(pwd)")
    fi
}

_moto_ready() {
    [[ -x "$1/bin/moto_server" ]] && "$1/bin/python" - "$MOTO_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
sys.exit(0 if version("moto") == sys.argv[1] else 1)
PY
}

moto_install() {
    local dir venv log
    dir="$(_moto_tools_dir)"
    venv="$dir/venv-aws"
    if ! _moto_ready "$venv"; then
        command -v python3 >/dev/null 2>&1 || { echo "moto: python3 is not installed" >&2; return 1; }
        mkdir -p "$dir"
        log="$dir/moto-install.log"
        if ! { python3 -m venv "$venv" \
            && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                "moto[server]==$MOTO_VERSION"; } >"$log" 2>&1; then
            cat "$log" >&2
            echo "moto: installing moto[server]==$MOTO_VERSION into $venv failed (log: $log)" >&2
            return 1
        fi
    fi
    export MOTO_SERVER="$venv/bin/moto_server"
}

moto_start() {
    local port log i
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    log="$(_moto_tools_dir)/moto.log"
    "$MOTO_SERVER" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    MOTO_PID=$!
    export MOTO_URL="http://127.0.0.1:$port"
    for i in $(seq 1 200); do
        if curl -sf "$MOTO_URL/moto-api/" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$MOTO_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    echo "moto: not ready at $MOTO_URL" >&2
    return 1
}

moto_stop() {
    if [[ -n "${MOTO_PID:-}" ]]; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
        MOTO_PID=""
    fi
}
