#!/usr/bin/env bash
# What a message costs on DynamoDB, in one command (README, "Benchmark" →
# "DynamoDB cost"): starts LocalStack on this host (its DynamoDB is DynamoDB
# Local, which computes consumed capacity from item sizes as AWS does), runs
# tests/e2e/dynamo_cost.rs with CUSTOMERS × TEXTS customers' texts, each
# answered by an agent and delivered through the phone simulator, then an
# idle window, and writes the table to bench/results/dynamo-cost-latest.md.
#
# The switchboard counts every DynamoDB request and the capacity units
# DynamoDB reports (`/metrics`: switchboard_dynamodb_requests_total,
# switchboard_dynamodb_capacity_centiunits_total); the table divides them by
# the messages. Counts, not timings: a busy machine changes only how many
# Streams polls fall in the window.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
export TOOLS_DIR="${TOOLS_DIR:-$root/.tools}"
# shellcheck source=lib/localstack.sh
source scripts/lib/localstack.sh

CUSTOMERS="${CUSTOMERS:-20}"
TEXTS="${TEXTS:-10}"
IDLE_SECS="${IDLE_SECS:-60}"
out="$root/bench/results/dynamo-cost-latest.md"

trap 'localstack_stop || true' EXIT
localstack_install
echo "building the switchboard and the end-to-end tests…"
cargo build --quiet --workspace --bins --tests
localstack_start
tmp="$(mktemp)"
env -u MOTO_URL LOCALSTACK_URL="$LOCALSTACK_URL" \
    DYNAMO_COST_CUSTOMERS="$CUSTOMERS" DYNAMO_COST_TEXTS="$TEXTS" \
    DYNAMO_COST_IDLE_SECS="$IDLE_SECS" DYNAMO_COST_OUT="$tmp" \
    cargo test --quiet --test e2e -- --exact \
    dynamo_cost::dynamodb_requests_and_capacity_per_message_are_counted --nocapture
{
    echo "# DynamoDB cost per message"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), \`scripts/bench-dynamo-cost.sh\` (CUSTOMERS=$CUSTOMERS TEXTS=$TEXTS IDLE_SECS=$IDLE_SECS)."
    echo
    cat "$tmp"
} > "$out"
rm -f "$tmp"
echo "written to $out"
