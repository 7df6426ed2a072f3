#!/usr/bin/env bash
# Runs the AWS test suites against LocalStack's Docker image
# (docker-compose.yml), for people with Docker. scripts/test.sh runs the same
# suites against LocalStack on the host, without Docker (scripts/lib/localstack.sh).
#
# As there, tests that pause or kill their emulator run only on moto, and
# mail assertions need an edition with SES v2 (the free one answers 501);
# the run lists what it did not check, and why.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO
export TOOLS_DIR="${TOOLS_DIR:-$REPO/.tools}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
cd "$REPO"

docker compose up -d --wait localstack
trap 'docker compose down' EXIT
export LOCALSTACK_URL="http://127.0.0.1:4566"
unset MOTO_URL
skipped_log="$(mktemp)"
export SWITCHBOARD_SKIPPED_LOG="$skipped_log"

cargo build --workspace --bins
status=0
# The end-to-end tests are one binary; module paths select the suites.
cargo test --workspace --no-fail-fast --test e2e -- \
    dynamo_store:: files_s3:: aws_media:: aws_transcript_alert:: aws_outage:: || status=1
SWITCHBOARD_TEST_STORE=dynamodb cargo test --workspace --no-fail-fast --test e2e -- \
    webhook_ingress:: routing:: durability:: outbound:: lifecycle:: || status=1
printf '\nnot run on LocalStack:\n'
sort -u "$skipped_log"
rm -f "$skipped_log"
exit "$status"
