#!/usr/bin/env bash
# The switchboard benchmark in one command: builds the release binaries, then
# measures, on this machine and in one run, durable webhook ingest against a
# trivial axum handler, webhook → agent latency, WebSocket bytes per message
# and peak RSS, and checks that no acknowledged message was lost; then the
# agent UI: its enrichment cost per message on one core, and webhook →
# browser-tab latency through `agent-ui serve`.
# Prints the table and writes it to bench/results/latest.md.
# Extra arguments go to `loadgen suite` (see `loadgen suite --help`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"

cargo build --release --quiet -p switchboard -p agent-ui -p switchboard-bench
bin="$CARGO_TARGET_DIR/release"

label="$(date -u +%Y-%m-%dT%H:%MZ)"
if rev="$(git rev-parse --short HEAD 2>/dev/null)"; then
  label="$label, commit $rev$(git diff --quiet HEAD 2>/dev/null || echo '+dirty')"
fi

exec "$bin/loadgen" suite \
  --switchboard-bin "$bin/switchboard" \
  --trivial-bin "$bin/trivial" \
  --agent-ui-bin "$bin/agent-ui" \
  --static-dir "$root/static" \
  --sentiment-eval "$root/agent-ui/eval/sentiment.tsv" \
  --out "$root/bench/results/latest.md" \
  --label "$label" \
  "$@"
