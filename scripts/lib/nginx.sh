# shellcheck shell=bash
# nginx from Debian, for tests/e2e/nginx_front.rs (nginx from deploy/nginx.conf
# in front of the services). The package's own service is not started: each
# test runs its own nginx in the foreground with every path in a temp dir.
# Source this file, then:
#
#   nginx_install   # apt-get install when nginx is missing (root; idempotent);
#                   # exports NGINX_BIN, which the test requires when set
#
# Safe under `set -euo pipefail`.

nginx_install() {
    if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
        local sudo=()
        [[ "$(id -u)" == 0 ]] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends nginx >/dev/null
    fi
    local bin
    bin="$(command -v nginx || echo /usr/sbin/nginx)"
    [[ -x "$bin" ]] || { echo "nginx: not installed" >&2; return 1; }
    export NGINX_BIN="$bin"
}
