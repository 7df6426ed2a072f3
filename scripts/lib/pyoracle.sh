# shellcheck shell=bash
# Twilio's Python helper library, used by tests/e2e/signature_oracle.rs as an
# independent reference for X-Twilio-Signature. Source this file, then:
#
#   pyoracle_install   # venv in $TOOLS_DIR/venv-twilio, export TWILIO_PYTHON
#
# TOOLS_DIR defaults to $REPO/.tools; REPO defaults to this repository's root.
# Safe under `set -euo pipefail`; quiet on success, prints pip's log on failure.

TWILIO_PY_VERSION="9.13.0"

_pyoracle_tools_dir() {
    if [[ -n "${TOOLS_DIR:-}" ]]; then
        printf '%s\n' "$TOOLS_DIR"
    elif [[ -n "${REPO:-}" ]]; then
        printf '%s\n' "$REPO/.tools"
    else
        (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && printf '%s/.tools\n' "$(pwd)")
    fi
}

_pyoracle_fail() {
    printf 'pyoracle: %s\n' "$*" >&2
    return 1
}

_pyoracle_ready() {
    [[ -x "$1/bin/python" ]] && "$1/bin/python" - "$TWILIO_PY_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
from twilio.request_validator import RequestValidator  # noqa: F401
sys.exit(0 if version("twilio") == sys.argv[1] else 1)
PY
}

pyoracle_install() {
    local dir venv log
    dir="$(_pyoracle_tools_dir)"
    venv="$dir/venv-twilio"
    if ! _pyoracle_ready "$venv"; then
        command -v python3 >/dev/null 2>&1 || { _pyoracle_fail "python3 is not installed"; return 1; }
        mkdir -p "$dir"
        log="$dir/pyoracle-install.log"
        if ! { python3 -m venv "$venv" \
            && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                "twilio==$TWILIO_PY_VERSION"; } >"$log" 2>&1; then
            cat "$log" >&2
            _pyoracle_fail "installing twilio==$TWILIO_PY_VERSION into $venv failed (log: $log)"
            return 1
        fi
        _pyoracle_ready "$venv" || { _pyoracle_fail "twilio==$TWILIO_PY_VERSION not importable from $venv"; return 1; }
    fi
    export TWILIO_PYTHON="$venv/bin/python"
}
