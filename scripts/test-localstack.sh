#!/usr/bin/env bash
# Runs the AWS test suites against LocalStack (docker-compose.yml) instead of
# moto. Needs Docker; the project's CI uses moto (scripts/test.sh), which
# needs nothing but Python.
#
# Tests that take AWS away mid-test (pause, kill) start private moto
# processes either way, so moto is installed too.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO
export TOOLS_DIR="${TOOLS_DIR:-$REPO/.tools}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
cd "$REPO"
# shellcheck source=lib/moto.sh
source "$REPO/scripts/lib/moto.sh"

docker compose up -d --wait localstack
trap 'docker compose down' EXIT
moto_install
export LOCALSTACK_URL="http://127.0.0.1:4566"

cargo build --workspace --bins
# The end-to-end tests are one binary; module paths select the suites.
SWITCHBOARD_TEST_STORE=dynamodb cargo test --workspace --no-fail-fast --test e2e -- \
    dynamo_store:: files_s3:: aws_media:: aws_transcript_alert:: \
    webhook_ingress:: routing:: durability:: outbound:: lifecycle::
