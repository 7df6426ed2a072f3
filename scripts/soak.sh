#!/usr/bin/env bash
# The kill -9 soak (not run in CI): steady signed webhook load from customers,
# agents answering every message, the switchboard killed with SIGKILL and
# restarted 20 times at random moments, then a full audit — every
# acknowledged message stored once and delivered once in order, every
# acknowledged reply sent to the Twilio stand-in exactly once, crashes
# included. The load, agents and audit are the bench
# crate's `soak` binary (bench/src/soak/).
#
#   scripts/soak.sh [sled|dynamodb|both] [extra soak flags…]    (default: both)
#
# DynamoDB runs on a private moto (scripts/lib/moto.sh; set TOOLS_DIR to reuse
# an installed one). Everything runs under `nice`. Logs and data stay in the
# printed work directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
which="${1:-both}"
shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"

nice -n 19 cargo build --quiet -p switchboard -p switchboard-bench --bin switchboard --bin soak
bin="$CARGO_TARGET_DIR/debug"
work="$(mktemp -d /tmp/switchboard-soak.XXXXXX)"
echo "work directory: $work"

run() {
  local store="$1"
  shift
  echo "== soak on $store"
  nice -n 19 "$bin/soak" --switchboard-bin "$bin/switchboard" --store "$store" \
    --work-dir "$work/$store" "$@"
}

status=0
if [[ "$which" == sled || "$which" == both ]]; then
  run sled "$@" || status=1
fi
if [[ "$which" == dynamodb || "$which" == both ]]; then
  # shellcheck source=lib/moto.sh
  source scripts/lib/moto.sh
  moto_install
  moto_start
  trap moto_stop EXIT
  AWS_ENDPOINT_URL="$MOTO_URL" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test \
    AWS_SECRET_ACCESS_KEY=test run dynamodb "$@" || status=1
fi
exit "$status"
