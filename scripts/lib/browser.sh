# shellcheck shell=bash
# End-to-end tests of the agent UI in a real headless Chromium (Debian's
# /usr/bin/chromium driven by playwright-core, no browser download). Source
# this file, then:
#
#   browser_install   # apt-get install chromium if missing; npm ci in tests/browser
#   browser_test      # node --test tests/browser (needs the binaries built)
#
# The tests start `switchboard serve`, `switchboard-dev phone-sim` and
# `agent-ui serve` from $CARGO_TARGET_DIR/debug (default
# ~/.cache/switchboard/target/debug). Screenshots go to
# $REPO/test-artifacts/screenshots/, process and browser logs to
# $REPO/test-artifacts/browser-logs/.
# Safe under `set -euo pipefail`; quiet on success, prints logs on failure.

BROWSER_CHROMIUM="${BROWSER_CHROMIUM:-/usr/bin/chromium}"

_browser_repo() {
    if [[ -n "${REPO:-}" ]]; then
        printf '%s\n' "$REPO"
    else
        (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    fi
}

_browser_fail() {
    printf 'browser: %s\n' "$*" >&2
    return 1
}

# Every dependency package.json pins (playwright-core, axe-core) is
# installed at that version.
_browser_deps_ready() {
    local dir="$1"
    [[ -f "$dir/node_modules/playwright-core/package.json" ]] || return 1
    node -e '
        const [dir] = process.argv.slice(1);
        const deps = require(dir + "/package.json").dependencies;
        const ok = Object.entries(deps).every(([name, want]) => {
            try {
                return require(dir + "/node_modules/" + name + "/package.json").version === want;
            } catch {
                return false;
            }
        });
        process.exit(ok ? 0 : 1);
    ' "$dir" 2>/dev/null
}

browser_install() {
    local dir log
    dir="$(_browser_repo)/tests/browser"
    if [[ ! -x "$BROWSER_CHROMIUM" ]]; then
        command -v apt-get >/dev/null 2>&1 || { _browser_fail "$BROWSER_CHROMIUM missing and no apt-get to install chromium"; return 1; }
        log="$(mktemp)"
        # Only refresh the package lists when apt does not know the package yet.
        if ! apt-cache show chromium >/dev/null 2>&1 || ! apt-get install -y -q chromium >"$log" 2>&1; then
            if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } >"$log" 2>&1; then
                cat "$log" >&2
                rm -f "$log"
                _browser_fail "apt-get install chromium failed"
                return 1
            fi
        fi
        rm -f "$log"
        [[ -x "$BROWSER_CHROMIUM" ]] || { _browser_fail "chromium installed but $BROWSER_CHROMIUM is missing"; return 1; }
    fi
    command -v node >/dev/null 2>&1 || { _browser_fail "node is not installed (apt-get install -y nodejs npm)"; return 1; }
    command -v npm >/dev/null 2>&1 || { _browser_fail "npm is not installed (apt-get install -y npm)"; return 1; }
    if ! _browser_deps_ready "$dir"; then
        log="$(mktemp)"
        if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            _browser_fail "npm ci in $dir failed"
            return 1
        fi
        rm -f "$log"
        _browser_deps_ready "$dir" || { _browser_fail "the packages in $dir/node_modules do not match package.json"; return 1; }
    fi
}

browser_test() {
    local repo dir target
    repo="$(_browser_repo)"
    dir="$repo/tests/browser"
    target="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
    [[ -d "$dir/node_modules/playwright-core" ]] || { _browser_fail "call browser_install first"; return 1; }
    for bin in switchboard switchboard-dev agent-ui; do
        [[ -x "$target/debug/$bin" ]] || { _browser_fail "$target/debug/$bin is missing: build the workspace's binaries first"; return 1; }
    done
    mkdir -p "$repo/test-artifacts/screenshots"
    # Files run one at a time: each starts its own processes and a browser,
    # and the machine has two cores.
    (
        cd "$dir" &&
            SWITCHBOARD_BIN_DIR="$target/debug" \
            CHROMIUM="$BROWSER_CHROMIUM" \
            ARTIFACTS_DIR="$repo/test-artifacts" \
            SCREENSHOT_DIR="$repo/test-artifacts/screenshots" \
            node --test --test-concurrency=1 --test-reporter=spec ./*.test.js
    )
}
