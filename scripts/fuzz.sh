#!/usr/bin/env bash
# Coverage-guided fuzzing of the decoders and validators that take untrusted
# input (fuzz/fuzz_targets/): cargo-fuzz (libFuzzer) on the stable toolchain
# with `--sanitizer none` (no nightly needed: without a sanitizer cargo-fuzz
# passes no -Z flag). Runs each target in turn, niced, and prints per target
# the executions, the rate and the crashes (saved in fuzz/artifacts/<target>/).
#
#   scripts/fuzz.sh [seconds-per-target] [target…]      (default 60 s, all targets)
#   FUZZ_RUNS=10000000 scripts/fuzz.sh 0 file_key       (a number of executions instead)
#
# Needs `cargo install cargo-fuzz` and a C++ compiler (libFuzzer is built from source).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(webhook_form agent_frame browser_command sms_segments file_key)
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 2; }

nice -n 19 cargo fuzz build --sanitizer none --target-dir "$CARGO_TARGET_DIR"

limit=(-max_total_time="$secs")
if [ -n "${FUZZ_RUNS:-}" ]; then
  limit=(-runs="$FUZZ_RUNS")
fi

summary=()
failed=0
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  log="fuzz/artifacts/$target/last-run.log"
  before=$(find "fuzz/artifacts/$target" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
  echo "== $target"
  status=0
  # The binary cargo-fuzz built, run directly (what `cargo fuzz run` does
  # after building), so a run holds no lock on the build directory.
  nice -n 19 "$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/$target" \
    "fuzz/corpus/$target" "${limit[@]}" -print_final_stats=1 -max_len=4096 \
    -artifact_prefix="fuzz/artifacts/$target/" >"$log" 2>&1 || status=$?
  after=$(find "fuzz/artifacts/$target" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$((after - before))
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    echo "   cargo fuzz failed (exit $status); see $log" >&2
    tail -20 "$log" >&2
    failed=1
  fi
  [ "$crashes" -gt 0 ] && failed=1
  summary+=("$(printf '%-16s %14s execs %10s/s  %s crashes' "$target" "${execs:-?}" "${rate:-?}" "$crashes")")
  echo "   ${summary[-1]}"
done

echo
echo "target           executions            rate      crashes"
printf '%s\n' "${summary[@]}"
exit "$failed"
