# shellcheck shell=bash
# Stoplight Prism serving Twilio's own OpenAPI description (2010-04-01 API) as
# a validating mock, so the REST client's requests are checked against the
# spec rather than against our reading of it. Source this file, then:
#
#   prism_install   # npm install into $TOOLS_DIR (skipped when already there)
#   prism_start     # start on 127.0.0.1, export PRISM_URL and PRISM_PID
#   prism_stop      # stop the Prism this shell started
#
# TOOLS_DIR defaults to $REPO/.tools; REPO defaults to this repository's root.
# Safe under `set -euo pipefail`; quiet on success, prints Prism's log on failure.

# 5.15+ require Node >= 24; 5.14.2 is the newest that runs on Debian's Node 20.
PRISM_VERSION="5.14.2"
PRISM_MIN_NODE_MAJOR=18

_prism_repo() {
    if [[ -n "${REPO:-}" ]]; then
        printf '%s\n' "$REPO"
    else
        (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    fi
}

_prism_tools_dir() {
    printf '%s\n' "${TOOLS_DIR:-$(_prism_repo)/.tools}"
}

_prism_fail() {
    printf 'prism: %s\n' "$*" >&2
    return 1
}

_prism_installed_version() {
    local pkg
    pkg="$(_prism_tools_dir)/node_modules/@stoplight/prism-cli/package.json"
    [[ -f "$pkg" ]] || return 0
    node -p "require(process.argv[1]).version" "$pkg" 2>/dev/null || true
}

prism_install() {
    command -v node >/dev/null 2>&1 || { _prism_fail "node is not installed (apt-get install -y nodejs npm)"; return 1; }
    command -v npm >/dev/null 2>&1 || { _prism_fail "npm is not installed (apt-get install -y npm)"; return 1; }
    local node_major
    node_major="$(node -p 'process.versions.node.split(".")[0]')"
    if (( node_major < PRISM_MIN_NODE_MAJOR )); then
        _prism_fail "Prism $PRISM_VERSION needs Node >= $PRISM_MIN_NODE_MAJOR, found $(node --version)"
        return 1
    fi
    if [[ "$(_prism_installed_version)" == "$PRISM_VERSION" && -x "$(_prism_tools_dir)/node_modules/.bin/prism" ]]; then
        return 0
    fi
    local dir log
    dir="$(_prism_tools_dir)"
    mkdir -p "$dir"
    log="$dir/prism-install.log"
    if ! npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
        "@stoplight/prism-cli@$PRISM_VERSION" >"$log" 2>&1; then
        cat "$log" >&2
        _prism_fail "npm install @stoplight/prism-cli@$PRISM_VERSION failed (log: $log)"
        return 1
    fi
    if [[ "$(_prism_installed_version)" != "$PRISM_VERSION" ]]; then
        _prism_fail "installed @stoplight/prism-cli is '$(_prism_installed_version)', wanted $PRISM_VERSION"
        return 1
    fi
}

_prism_port_free() {
    node -e '
        const s = require("net").createServer();
        s.once("error", () => process.exit(1));
        s.listen(Number(process.argv[1]), "127.0.0.1", () => s.close(() => process.exit(0)));
    ' "$1" 2>/dev/null
}

_prism_any_free_port() {
    node -e '
        const s = require("net").createServer();
        s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => console.log(p)); });
    '
}

_prism_answers() {
    local code
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1/" 2>/dev/null || true)"
    [[ -n "$code" && "$code" != "000" ]]
}

prism_start() {
    if [[ -n "${PRISM_PID:-}" ]] && kill -0 "$PRISM_PID" 2>/dev/null \
        && [[ -n "${PRISM_URL:-}" ]] && _prism_answers "$PRISM_URL"; then
        return 0
    fi
    local dir bin spec port log deadline
    dir="$(_prism_tools_dir)"
    bin="$dir/node_modules/.bin/prism"
    [[ -x "$bin" ]] || { _prism_fail "not installed in $dir: call prism_install first"; return 1; }
    spec="${TWILIO_OAI_SPEC:-$(_prism_repo)/../shared/vendor/twilio-oai/twilio_api_v2010.json}"
    [[ -f "$spec" ]] || { _prism_fail "Twilio OpenAPI spec not found at $spec"; return 1; }
    if _prism_port_free 4010; then
        port=4010
    else
        port="$(_prism_any_free_port)"
    fi
    mkdir -p "$dir"
    log="$dir/prism.log"
    # Static mode only: `-d` invents values that break typed parsing, and
    # `--errors` turns the spec's own example violations into 500s.
    "$bin" mock -h 127.0.0.1 -p "$port" "$spec" >"$log" 2>&1 &
    PRISM_PID=$!
    export PRISM_PID
    export PRISM_URL="http://127.0.0.1:$port"
    deadline=$((SECONDS + 90))
    until _prism_answers "$PRISM_URL"; do
        if ! kill -0 "$PRISM_PID" 2>/dev/null; then
            cat "$log" >&2
            unset PRISM_PID PRISM_URL
            _prism_fail "exited before answering on port $port (log above)"
            return 1
        fi
        if (( SECONDS > deadline )); then
            cat "$log" >&2
            prism_stop
            _prism_fail "did not answer on port $port within 90 s (log above)"
            return 1
        fi
        sleep 0.2
    done
}

prism_stop() {
    if [[ -n "${PRISM_PID:-}" ]]; then
        kill "$PRISM_PID" 2>/dev/null || true
        wait "$PRISM_PID" 2>/dev/null || true
    fi
    unset PRISM_PID PRISM_URL
}
