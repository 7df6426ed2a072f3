# shellcheck shell=bash
# promtool, Prometheus' rule checker, from Debian's `prometheus` package (no
# lighter package ships it). Source this file, then:
#
#   promtool_install   # apt-get install when promtool is missing (root; idempotent)
#   promtool_check     # check deploy/'s alert rules
#
# Safe under `set -euo pipefail`.

promtool_install() {
    command -v promtool >/dev/null 2>&1 && return 0
    local sudo=()
    [[ "$(id -u)" == 0 ]] || sudo=(sudo)
    # The package's service is not started: installing it is only for promtool.
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    command -v promtool >/dev/null 2>&1 || { echo "promtool: not installed" >&2; return 1; }
}

promtool_check() {
    local repo="${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
    promtool check rules "$repo/deploy/prometheus-alerts.yml"
}
