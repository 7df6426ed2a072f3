#!/usr/bin/env bash
# The kill -9 soak (not run in CI): steady signed webhook load from customers,
# agents answering every message, the switchboard killed with SIGKILL and
# restarted 20 times at random moments, then a full audit — every
# acknowledged message stored once and delivered once in order, every
# acknowledged reply sent to the Twilio stand-in exactly once, crashes
# included. The load, agents and audit are the bench
# crate's `soak` binary (bench/src/soak/).
#
#   scripts/soak.sh [sled|dynamodb|both] [--emulator moto|localstack] [extra soak flags…]
#                                                    (default: both, on moto)
#
# DynamoDB runs on a private moto (scripts/lib/moto.sh) or, with
# `--emulator localstack`, a private LocalStack (scripts/lib/localstack.sh:
# DynamoDB Local behind it); set TOOLS_DIR to reuse installed ones. moto
# 5.2.x fails concurrent TransactWriteItems now and then (a RuntimeError in
# moto, answered as HTTP 500; README, "Soak"). Everything runs under `nice`.
# Logs and data stay in the printed work directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
which="${1:-both}"
shift || true
emulator=moto
soak_args=()
while (($#)); do
  case "$1" in
    --emulator) emulator="${2:-}"; shift 2 || shift ;;
    --emulator=*) emulator="${1#*=}"; shift ;;
    *) soak_args+=("$1"); shift ;;
  esac
done
case "$emulator" in
  moto | localstack) ;;
  *) echo "unknown --emulator '$emulator' (moto or localstack)" >&2; exit 2 ;;
esac
set -- ${soak_args[@]+"${soak_args[@]}"}
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
  if [[ "$emulator" == localstack ]]; then
    # shellcheck source=lib/localstack.sh
    source scripts/lib/localstack.sh
    localstack_install
    trap localstack_stop EXIT
    localstack_start
    endpoint="$LOCALSTACK_URL"
  else
    # shellcheck source=lib/moto.sh
    source scripts/lib/moto.sh
    moto_install
    moto_start
    trap moto_stop EXIT
    endpoint="$MOTO_URL"
  fi
  echo "DynamoDB on $emulator at $endpoint"
  AWS_ENDPOINT_URL="$endpoint" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test \
    AWS_SECRET_ACCESS_KEY=test run "dynamodb" "$@" || status=1
fi
exit "$status"
