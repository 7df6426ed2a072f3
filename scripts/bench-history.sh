#!/usr/bin/env bash
# The history benchmark in one command (README, "Benchmark" → "History and
# search"): the sled store (release, DURABILITY=fsync) with
# HISTORY_BENCH_MESSAGES (100,000) messages — 20 per customer, half of them
# agents' replies, each customer resolved after its 10th and 20th message —
# then search p50/p99 (first and second pages of 20, common to rare words,
# two words, word beginnings, a whole number, its start and its last four
# digits), the Resolved view's page time
# (the team's and one agent's, page 1 and page 50) and a customer's past
# conversations, 200 runs each
# (`switchboard/src/store/history_bench.rs`, an `#[ignore]`d test).
#
# Prints the table and writes it to bench/results/history-latest.md. Figures
# only: nothing here passes or fails on a timing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
export HISTORY_BENCH_MESSAGES="${HISTORY_BENCH_MESSAGES:-100000}"
out="$root/bench/results/history-latest.md"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== history benchmark: $HISTORY_BENCH_MESSAGES messages on sled (release)"
cargo test --quiet --release -p switchboard --lib -- --ignored --nocapture \
    store::history_bench >"$work/bench.log" 2>&1 || { cat "$work/bench.log" >&2; exit 1; }
grep '^history bench:' "$work/bench.log" | sed 's/^/  /'

field() { sed -E "s/.*$1=([^ ]+).*/\\1/" <<<"$2"; }
setup="$(grep -m1 '^history bench: messages=' "$work/bench.log")"
disk="$(grep -m1 '^history bench: disk_mb=' "$work/bench.log")"
label="$(date -u +%Y-%m-%dT%H:%MZ)"
if rev="$(git rev-parse --short HEAD 2>/dev/null)"; then
    label="$label, commit $rev$(git diff --quiet HEAD 2>/dev/null || echo '+dirty')"
fi
{
    echo "# Switchboard history benchmark — latest run"
    echo
    echo "- **run**: $label (\`scripts/bench-history.sh\`)"
    echo "- **machine**: $(nproc) cores, $(uname -sr); other work may share it"
    echo "- **store**: sled, release, DURABILITY=fsync; $(field messages "$setup") messages from $(field customers "$setup") customers (half agents' replies), $(field resolves "$setup") resolves; stored in $(field load_s "$setup") s (512 writes in flight); $(field disk_mb "$disk") MB on disk"
    echo "- **timed**: the store's history port as \`/v1/history/…\` calls it (no HTTP), 200 runs each (the supervisor's figures with nothing cached: 10), pages of 20"
    echo
    echo "| query | results | p50 ms | p99 ms | max ms |"
    echo "|---|---:|---:|---:|---:|"
    grep '^history bench: what=' "$work/bench.log" | while read -r l; do
        what="$(sed -E 's/.*what="(.*)" results=.*/\1/' <<<"$l")"
        printf '| %s | %s | %s | %s | %s |\n' "$what" "$(field results "$l")" \
            "$(field p50_ms "$l")" "$(field p99_ms "$l")" "$(field max_ms "$l")"
    done
} >"$out"
echo
cat "$out"
echo "written to $out"
