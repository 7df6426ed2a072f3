#!/usr/bin/env bash
# The one command that runs every test. It installs and starts what the
# tests need by itself (Twilio's OpenAPI mock, Twilio's Python helper library
# as a signature oracle, moto and LocalStack as AWS emulators, promtool for
# deploy/'s alert rules, hadolint for the Dockerfile, nginx for the test of
# deploy/nginx.conf), builds the
# binaries the end-to-end tests start, and runs lint + every test of the
# workspace; the AWS suites run on moto, then again on LocalStack.
#
#   scripts/test.sh            everything
#   scripts/test.sh --no-lint  skip rustfmt/clippy (quicker while iterating)
#
# Builds go to $CARGO_TARGET_DIR, by default a cache outside the clone so
# repeated runs on one machine stay warm.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO
export TOOLS_DIR="${TOOLS_DIR:-$REPO/.tools}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
LINT=1
for arg in "$@"; do
    case "$arg" in
        --no-lint) LINT=0 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done
cd "$REPO"

step() { printf '\n==> %s\n' "$*"; }

# shellcheck source=lib/prism.sh
source "$REPO/scripts/lib/prism.sh"
# shellcheck source=lib/pyoracle.sh
source "$REPO/scripts/lib/pyoracle.sh"
# shellcheck source=lib/browser.sh
source "$REPO/scripts/lib/browser.sh"
# shellcheck source=lib/moto.sh
source "$REPO/scripts/lib/moto.sh"
# shellcheck source=lib/localstack.sh
source "$REPO/scripts/lib/localstack.sh"
# shellcheck source=lib/promtool.sh
source "$REPO/scripts/lib/promtool.sh"
# shellcheck source=lib/hadolint.sh
source "$REPO/scripts/lib/hadolint.sh"
# shellcheck source=lib/nginx.sh
source "$REPO/scripts/lib/nginx.sh"

cleanup() {
    prism_stop || true
    moto_stop || true
    localstack_stop || true
}
trap cleanup EXIT

# Each suite runs even when an earlier one failed; the exit status says
# whether all passed.
failed=()

step "installing test tools (Prism, Twilio's Python library, moto, LocalStack, Chromium, promtool, hadolint, nginx)"
prism_install
pyoracle_install
moto_install
# Without LocalStack the moto passes still run; the run fails at the end.
LOCALSTACK=1
localstack_install || { LOCALSTACK=0; failed+=("LocalStack install"); }
browser_install
PROMTOOL=1
promtool_install || { PROMTOOL=0; failed+=("promtool install"); }
HADOLINT=1
hadolint_install || { HADOLINT=0; failed+=("hadolint install"); }
# Exports NGINX_BIN: tests/e2e/nginx_front.rs runs only when it is set, so
# a failed install fails the run here instead of skipping those tests.
nginx_install || failed+=("nginx install")

if [[ "$LINT" == 1 ]]; then
    step "rustfmt and clippy"
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings
fi

if [[ "$PROMTOOL" == 1 ]]; then
    step "Prometheus alert rules (promtool check rules deploy/prometheus-alerts.yml)"
    promtool_check || failed+=("promtool check rules")
fi

if [[ "$HADOLINT" == 1 ]]; then
    step "Dockerfile lint (hadolint Dockerfile)"
    hadolint_check || failed+=("hadolint Dockerfile")
fi

step "building the binaries the end-to-end tests start"
cargo build --workspace --bins

step "starting Prism with Twilio's OpenAPI description"
prism_start
echo "Prism at $PRISM_URL"

step "starting the AWS emulator (moto: S3, DynamoDB + Streams, SES v2)"
moto_start
echo "moto at $MOTO_URL"

step "running every Rust test"
cargo test --workspace --no-fail-fast || failed+=("cargo test")

# The core suite again, with DynamoDB (on the emulator) as the store. The
# end-to-end tests are one binary (tests/e2e/); module-path filters pick the
# core suites out of it. `--workspace`, as above, so the binary built for the
# run above is reused, not rebuilt with other features.
step "core end-to-end suite on the DynamoDB store"
CORE_SUITES=(webhook_ingress:: routing:: durability:: outbound:: once_only:: outbound_media:: lifecycle:: customer_texts:: notes_canned:: history::)
# Every filter must select tests (a renamed module would otherwise drop its
# suite from this pass without a word), and the run must pass all of them.
core_list="$(cargo test --workspace --test e2e --quiet -- --list 2>/dev/null | grep ': test$' || true)"
core_listed=0
for suite in "${CORE_SUITES[@]}"; do
    n="$(grep -c "^$suite" <<<"$core_list" || true)"
    echo "$suite $n tests"
    (( n > 0 )) || failed+=("core suite on DynamoDB: no test matches $suite")
    core_listed=$((core_listed + n))
done
core_log="$(mktemp)"
if SWITCHBOARD_TEST_STORE=dynamodb cargo test --workspace --no-fail-fast --test e2e \
    -- "${CORE_SUITES[@]}" 2>&1 | tee "$core_log"; then
    core_ran="$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$core_log" | tail -n 1)"
    echo "core suite on DynamoDB: ${core_ran:-0} of $core_listed tests passed"
    [[ "${core_ran:-0}" == "$core_listed" ]] \
        || failed+=("core suite on DynamoDB (${core_ran:-0} of $core_listed tests passed)")
else
    failed+=("core suite on DynamoDB")
fi
rm -f "$core_log"

# The AWS suites and the core suite on DynamoDB again, on LocalStack: one
# shared instance (tests use unique table, bucket and address names). Tests
# that pause or kill their emulator need a private one per test, and
# LocalStack's free edition answers SES v2 with 501: those tests and mail
# assertions say so and are listed below, not silently passed.
if [[ "$LOCALSTACK" == 1 ]]; then
    step "starting LocalStack $LOCALSTACK_VERSION on this host (S3, DynamoDB + Streams, SES)"
    if localstack_start; then
        echo "LocalStack at $LOCALSTACK_URL"
        skipped_log="$(mktemp)"
        on_localstack=(env -u MOTO_URL LOCALSTACK_URL="$LOCALSTACK_URL"
            SWITCHBOARD_SKIPPED_LOG="$skipped_log")

        step "AWS suites on LocalStack"
        "${on_localstack[@]}" cargo test --workspace --no-fail-fast --test e2e -- \
            dynamo_store:: dynamo_cost:: files_s3:: aws_media:: aws_transcript_alert:: aws_outage:: \
            || failed+=("AWS suites on LocalStack")

        step "core end-to-end suite on the DynamoDB store in LocalStack"
        "${on_localstack[@]}" SWITCHBOARD_TEST_STORE=dynamodb cargo test --workspace --no-fail-fast \
            --test e2e -- "${CORE_SUITES[@]}" \
            || failed+=("core suite on DynamoDB in LocalStack")

        step "not run on LocalStack (they run on moto above)"
        if [[ -s "$skipped_log" ]]; then
            sort -u "$skipped_log"
        else
            echo "(none)"
        fi
        rm -f "$skipped_log"
        localstack_stop
    else
        failed+=("LocalStack start")
    fi
fi

step "the console page's modules (node's test runner)"
node --test static/ || failed+=("page modules")

step "scripts/run-local.sh: refuses to pretend when a program cannot start"
RUN_LOCAL_BIN_DIR="$CARGO_TARGET_DIR/debug" bash scripts/run-local.test.sh || failed+=("run-local")

step "agent UI end-to-end in headless Chromium"
browser_test || failed+=("browser")

if (( ${#failed[@]} > 0 )); then
    printf '\nFAILED: %s\n' "${failed[*]}" >&2
    exit 1
fi
printf '\nall suites passed\n'
