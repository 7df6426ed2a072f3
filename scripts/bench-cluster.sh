#!/usr/bin/env bash
# The cluster benchmark in one command (README, "Benchmark" → "Cluster"):
#
# 1. webhooks/s and answer p50/p99 through nginx (deploy/nginx.conf) on
#    DynamoDB in the emulator (moto), with 1 and then 3 switchboards behind
#    it — the same `loadgen http` load, each on a fresh moto — and the CPU
#    each process used meanwhile (moto's beside the switchboards');
# 2. failover time over FAILOVER_KILLS (10) `kill -9`s of the leader, with
#    an agent connected and webhooks flowing (tests/e2e/cluster.rs, 2 s lease);
# 3. the single router's decisions per second (`Core::step` alone, release).
#
# Prints the table and writes it to bench/results/cluster-latest.md. Figures
# only: nothing here passes or fails on a timing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
export TOOLS_DIR="${TOOLS_DIR:-$root/.tools}"
# shellcheck source=lib/moto.sh
source scripts/lib/moto.sh
# shellcheck source=lib/nginx.sh
source scripts/lib/nginx.sh

DURATION_SECS="${DURATION_SECS:-20}"
WARMUP_SECS="${WARMUP_SECS:-3}"
CONNECTIONS="${CONNECTIONS:-32}"
FAILOVER_KILLS="${FAILOVER_KILLS:-10}"
AUTH_TOKEN="cluster-bench-auth-token"
out="$root/bench/results/cluster-latest.md"

work="$(mktemp -d)"
# nginx's workers run as an unprivileged user when the master is root.
chmod 755 "$work"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    moto_stop || true
}
trap 'cleanup; rm -rf "$work"' EXIT

moto_install
nginx_install
echo "building (release: switchboard, loadgen; debug: the e2e test's binaries)…"
cargo build --release --quiet -p switchboard -p switchboard-bench
cargo build --quiet --workspace --bins
bin="$CARGO_TARGET_DIR/release"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# CPU seconds (user + system) a process has used so far, its threads
# included; 0 once it is gone.
cpu_secs() {
    local ticks
    ticks="$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0)"
    awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'
}

# Waits until `url` answers anything over HTTP (nginx's /twilio/ answers a
# GET with the switchboard's 405), for 30 s at most.
until_http() {
    local i
    for i in $(seq 1 300); do
        if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" != 000 ]]; then
            return 0
        fi
        sleep 0.1
    done
    echo "no answer from $1" >&2
    return 1
}

# One configuration: $1 switchboards on a fresh moto behind nginx; appends a
# table row to $work/rows.
run_config() {
    local n="$1" i port sb_ports=() sb_pids=() nginx_port nginx_pid prefix env_common dir
    moto_start
    nginx_port="$(free_port)"
    prefix="bench$n-$RANDOM-"
    dir="$work/n$n"
    mkdir -p "$dir"
    chmod 755 "$dir"
    env_common=(
        "AWS_ENDPOINT_URL=$MOTO_URL"
        "AWS_ENDPOINT_URL_DYNAMODB=$MOTO_URL"
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS=$MOTO_URL"
        "AWS_REGION=us-east-1" "AWS_ACCESS_KEY_ID=test" "AWS_SECRET_ACCESS_KEY=test"
        "STORE=dynamodb" "DYNAMODB_TABLE_PREFIX=$prefix"
        # Twilio (and so loadgen) signs nginx's URL.
        "PUBLIC_URL=http://127.0.0.1:$nginx_port" "TRUSTED_PROXIES=127.0.0.1"
        "TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef"
        "TWILIO_AUTH_TOKEN=$AUTH_TOKEN" "TWILIO_FROM=+15550000000"
        # No reply is sent; nothing may reach the real Twilio anyway.
        "TWILIO_API_BASE=http://127.0.0.1:9"
        "AGENTS=alice:alice-pw" "RUST_LOG=warn"
    )
    env -i PATH="$PATH" "${env_common[@]}" DATA_DIR="$dir/migrate" "$bin/switchboard" migrate \
        >"$dir/migrate.log" 2>&1
    for i in $(seq 1 "$n"); do
        port="$(free_port)"
        env -i PATH="$PATH" "${env_common[@]}" PORT="$port" BIND_ADDR=127.0.0.1 \
            DATA_DIR="$dir/data$i" INSTANCE_ID="member-$i" \
            "$bin/switchboard" serve >"$dir/switchboard$i.log" 2>&1 &
        sb_pids+=($!)
        pids+=($!)
        sb_ports+=("$port")
    done
    for port in "${sb_ports[@]}"; do
        until_http "http://127.0.0.1:$port/readyz"
    done
    # With one switchboard, all three slots name it (deploy/nginx.conf's
    # header). No agent UI runs: port 9 refuses, and nothing asks for it.
    LISTEN="127.0.0.1:$nginx_port" PREFIX="$dir" \
        SWITCHBOARD_1="127.0.0.1:${sb_ports[0]}" \
        SWITCHBOARD_2="127.0.0.1:${sb_ports[$((1 % n))]}" \
        SWITCHBOARD_3="127.0.0.1:${sb_ports[$((2 % n))]}" \
        AGENT_UI_1=127.0.0.1:9 AGENT_UI_2=127.0.0.1:9 \
        envsubst '${LISTEN} ${PREFIX} ${SWITCHBOARD_1} ${SWITCHBOARD_2} ${SWITCHBOARD_3} ${AGENT_UI_1} ${AGENT_UI_2}' \
        <deploy/nginx.conf >"$dir/nginx.conf"
    "$NGINX_BIN" -p "$dir" -c nginx.conf -e "$dir/error.log" -g 'daemon off;' \
        >"$dir/nginx.out" 2>&1 &
    nginx_pid=$!
    pids+=("$nginx_pid")
    until_http "http://127.0.0.1:$nginx_port/twilio/sms"

    # CPU before and after the load, per process (nginx: master + workers).
    local nginx_all before_moto before_sb=() before_nginx=0 start end line
    nginx_all=("$nginx_pid" $(pgrep -P "$nginx_pid" || true))
    before_moto="$(cpu_secs "$MOTO_PID")"
    for i in "${!sb_pids[@]}"; do before_sb[i]="$(cpu_secs "${sb_pids[i]}")"; done
    for i in "${nginx_all[@]}"; do before_nginx="$(awk -v a="$before_nginx" -v b="$(cpu_secs "$i")" 'BEGIN {print a + b}')"; done
    start="$(date +%s.%N)"
    line="$(TWILIO_AUTH_TOKEN="$AUTH_TOKEN" "$bin/loadgen" http \
        --addr "127.0.0.1:$nginx_port" \
        --signed-url "http://127.0.0.1:$nginx_port/twilio/sms" \
        --connections "$CONNECTIONS" --warmup-secs "$WARMUP_SECS" \
        --duration-secs "$DURATION_SECS" --requests 100000 --numbers 200)"
    end="$(date +%s.%N)"
    echo "  $n switchboard(s): $line"
    local wall moto_cores sb_cores=() nginx_cores after_nginx=0 roles=""
    wall="$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')"
    cores() { awk -v a="$1" -v b="$2" -v w="$wall" 'BEGIN {printf "%.2f", (b - a) / w}'; }
    moto_cores="$(cores "$before_moto" "$(cpu_secs "$MOTO_PID")")"
    for i in "${!sb_pids[@]}"; do
        sb_cores[i]="$(cores "${before_sb[i]}" "$(cpu_secs "${sb_pids[i]}")")"
        roles+="$(curl -s "http://127.0.0.1:${sb_ports[i]}/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("role","?"))' 2>/dev/null || echo '?') "
    done
    for i in "${nginx_all[@]}"; do after_nginx="$(awk -v a="$after_nginx" -v b="$(cpu_secs "$i")" 'BEGIN {print a + b}')"; done
    nginx_cores="$(cores "$before_nginx" "$after_nginx")"

    # "1,234 req/s (…), latency p50 / p99 12.3 / 45.6 ms, sent N, errors E {…}"
    local rate p50 p99 errors statuses
    rate="$(sed -E 's/^([0-9,.]+) req\/s.*/\1/' <<<"$line")"
    p50="$(sed -E 's/.*p50 \/ p99 ([0-9.]+) \/ ([0-9.]+) ms.*/\1/' <<<"$line")"
    p99="$(sed -E 's/.*p50 \/ p99 ([0-9.]+) \/ ([0-9.]+) ms.*/\2/' <<<"$line")"
    errors="$(sed -E 's/.*errors ([0-9]+).*/\1/' <<<"$line")"
    statuses="$(sed -E 's/.*errors [0-9]+ (\{[^}]*\}).*/\1/' <<<"$line")"
    # CPU per webhook: cores over the whole run ÷ the measured rate (the
    # warm-up runs at the same rate, so the two agree closely).
    local per_webhook sb_sum
    sb_sum="$(printf '%s\n' "${sb_cores[@]}" | awk '{s += $1} END {print s}')"
    per_webhook() { awk -v c="$1" -v r="$(tr -d , <<<"$rate")" 'BEGIN {printf "%.1f", (r > 0 ? c * 1000 / r : 0)}'; }
    printf '| %s | %s | %s / %s ms | %s (%s ms/webhook) | %s (%s) (%s ms/webhook) | %s | %s | %s |\n' \
        "$n" "$rate" "$p50" "$p99" "$moto_cores" "$(per_webhook "$moto_cores")" \
        "$(IFS=' '; echo "${sb_cores[*]}")" "${roles% }" "$(per_webhook "$sb_sum")" \
        "$nginx_cores" "$errors" "$statuses" >>"$work/rows"
    echo "$rate" >"$work/rate$n"

    kill "$nginx_pid" "${sb_pids[@]}" 2>/dev/null || true
    for i in "$nginx_pid" "${sb_pids[@]}"; do wait "$i" 2>/dev/null || true; done
    pids=()
    moto_stop
}

echo "1. webhooks through nginx on DynamoDB (moto), ${DURATION_SECS} s each after ${WARMUP_SECS} s warm-up, $CONNECTIONS connections"
: >"$work/rows"
run_config 1
run_config 3

echo "2. failover over $FAILOVER_KILLS kill -9s of the leader (tests/e2e/cluster.rs)"
moto_start
failover_log="$work/failover.log"
if ! FAILOVER_KILLS="$FAILOVER_KILLS" MOTO_URL="$MOTO_URL" MOTO_SERVER="$MOTO_SERVER" \
    cargo test --quiet --test e2e -- --exact \
    cluster::kill_9_the_leader_under_load_another_takes_over_and_the_agent_misses_nothing \
    --nocapture >"$failover_log" 2>&1; then
    cat "$failover_log" >&2
    echo "the failover scenario failed (above)" >&2
    exit 1
fi
moto_stop
grep '^failover' "$failover_log" | sed 's/^/  /'
failover="$(grep '^failover distribution:' "$failover_log" || grep '^failover:' "$failover_log" | tail -1)"

echo "3. the router's decisions per second (Core::step alone, release)"
router_log="$work/router.log"
cargo test --quiet --release -p switchboard --lib -- --ignored --nocapture \
    router::tests::decisions_rate >"$router_log" 2>&1 || { cat "$router_log" >&2; exit 1; }
grep '^router decisions:' "$router_log" | sed 's/^/  /'

# Figures pulled out of the lines above: "key=value" pairs.
field() { sed -E "s/.*$1=([^ ]+).*/\\1/" <<<"$2"; }
ratio="$(awk -v a="$(tr -d , <"$work/rate1")" -v b="$(tr -d , <"$work/rate3")" 'BEGIN {printf "%.2f", b / a}')"
label="$(date -u +%Y-%m-%dT%H:%MZ)"
if rev="$(git rev-parse --short HEAD 2>/dev/null)"; then
    label="$label, commit $rev$(git diff --quiet HEAD 2>/dev/null || echo '+dirty')"
fi
{
    echo "# Switchboard cluster benchmark — latest run"
    echo
    echo "- **run**: $label (\`scripts/bench-cluster.sh\`)"
    echo "- **machine**: $(nproc) cores, $(uname -sr); moto, nginx, the switchboards and the load generator share it (so this shows overhead and correctness, not scaling)"
    echo "- **load**: \`loadgen http\` to nginx (deploy/nginx.conf), $CONNECTIONS keep-alive connections, ${WARMUP_SECS} s warm-up + ${DURATION_SECS} s measured, signed webhooks from 200 numbers, unique MessageSids, no agent connected"
    echo "- **store**: DynamoDB in moto $MOTO_VERSION (a fresh one per row), release switchboards, default LEASE_SECS"
    echo "- **CPU**: cores used over the load's whole run (warm-up included), from /proc"
    echo
    echo "| switchboards | webhooks/s | answer p50 / p99 | moto CPU, cores | switchboards' CPU, cores (role) | nginx CPU, cores | errors | non-200 |"
    echo "|---:|---:|---|---:|---|---:|---:|---|"
    cat "$work/rows"
    echo
    echo "3 ÷ 1 switchboards: **$ratio×** the webhooks/s."
    echo
    echo "**Failover** (kill -9 of the leader with an agent connected and a text every 100 ms; LEASE_SECS=2, debug build):"
    if [[ "$failover" == "failover distribution:"* ]]; then
        echo "$(field kills "$failover") kills; kill → agent routing again min / median / max" \
            "$(field routed_again_min "$failover") / $(field routed_again_median "$failover") /" \
            "$(field routed_again_max "$failover"); kill → agent reconnected min / median / max" \
            "$(field reconnected_min "$failover") / $(field reconnected_median "$failover") /" \
            "$(field reconnected_max "$failover")."
    else
        echo "$failover"
    fi
    echo
    echo "**Router** (\`Core::step\` alone, release, one thread; mix of new conversations, texts to assigned ones, replies and resolves):"
    echo
    echo "| agents | decisions/s | µs per decision |"
    echo "|---:|---:|---:|"
    grep '^router decisions:' "$router_log" | while read -r l; do
        printf '| %s | %s | %s |\n' "$(field agents "$l")" "$(field per_sec "$l")" "$(field us_per_decision "$l")"
    done
} >"$out"
echo
cat "$out"
echo "written to $out"
