#!/usr/bin/env bash
# Sentiment benchmark: our scorer (`agent-ui score`) against the original's, the npm
# `sentiment` package (AFINN-165), side by side on agent-ui/eval/sentiment.tsv.
#
# Prints 3-class accuracy with per-class confusion for both, then single-core scoring
# throughput (messages/s, pinned to one CPU, start-up and I/O excluded: each side times
# its own loop in-process after an equal untimed warm-up) and the ratio.
#
#   scripts/bench-sentiment.sh
#
# Environment: BENCH_MESSAGES (timed messages per run, default 200000), BENCH_ROUNDS
# (alternating runs per side, best kept, default 3), BENCH_CPU (default 0).
# Needs cargo, node and npm; installs the baseline into .tools/ (gitignored) if missing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
eval_dir=$root/agent-ui/eval
set_file=$eval_dir/sentiment.tsv
baseline_dir=$root/.tools/sentiment-baseline
baseline_version=5.0.2
messages=${BENCH_MESSAGES:-200000}
rounds=${BENCH_ROUNDS:-3}
cpu=${BENCH_CPU:-0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}

for tool in cargo node npm; do
  command -v "$tool" >/dev/null || { echo "bench-sentiment: $tool is required" >&2; exit 1; }
done

if [ ! -f "$baseline_dir/node_modules/sentiment/package.json" ]; then
  echo "== installing baseline: sentiment@$baseline_version (AFINN-165) into .tools/"
  npm install --prefix "$baseline_dir" --no-audit --no-fund --loglevel=error \
    "sentiment@$baseline_version" >/dev/null
fi

echo "== building agent-ui (release)"
cargo build --quiet --release -p agent-ui --manifest-path "$root/Cargo.toml"
bin=$CARGO_TARGET_DIR/release/agent-ui

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cut -f2- "$set_file" >"$work/messages.txt"

echo "== accuracy on $(wc -l <"$work/messages.txt") labelled messages ($(cut -f1 "$set_file" | sort | uniq -c | awk '{printf "%s %s  ", $1, $2}'))"
"$bin" score <"$work/messages.txt" >"$work/ours.jsonl"
node "$eval_dir/baseline.js" <"$work/messages.txt" >"$work/afinn.jsonl"
node "$eval_dir/accuracy.js" "$set_file" "ours=$work/ours.jsonl" "afinn-165=$work/afinn.jsonl"

# Pin to one CPU where possible so both sides get exactly one core.
pin=()
if command -v taskset >/dev/null && taskset -c "$cpu" true 2>/dev/null; then
  pin=(taskset -c "$cpu")
fi

echo
echo "== throughput: $messages messages per run (the set repeated), ${pin[*]:-unpinned}, best of $rounds alternating runs"
rate() { sed -n 's/.*"per_sec":\([0-9.e+]*\).*/\1/p'; }
best_ours=0
best_afinn=0
for ((r = 1; r <= rounds; r++)); do
  ours=$("${pin[@]}" "$bin" score --bench "$messages" <"$work/messages.txt" | rate)
  afinn=$("${pin[@]}" node "$eval_dir/baseline.js" --bench "$messages" <"$work/messages.txt" | rate)
  printf '  run %d: ours %12.0f msg/s   afinn-165 %12.0f msg/s\n' "$r" "$ours" "$afinn"
  best_ours=$(awk -v a="$best_ours" -v b="$ours" 'BEGIN { print (b > a ? b : a) }')
  best_afinn=$(awk -v a="$best_afinn" -v b="$afinn" 'BEGIN { print (b > a ? b : a) }')
done
awk -v o="$best_ours" -v a="$best_afinn" 'BEGIN {
  printf "  best:  ours %12.0f msg/s   afinn-165 %12.0f msg/s   ratio %.1fx\n", o, a, o / a
}'
