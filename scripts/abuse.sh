#!/usr/bin/env bash
# Slow and abusive clients against the release build, bounded in time (examples/abuse.rs).
#
# For each driver: one server takes slowloris connections, slow bodies, never-reading
# pipelining clients and then a connection flood past max_connections, while a normal
# client measures p50/p99/max and errors; a second server holds N idle keep-alive
# connections (each after one request) and its resident memory per connection is reported.
# Fails when the normal client sees an error, its p99 is over the bound, the server's peak
# RSS is over the bound, or an idle connection costs more than the bound.
#
# Usage: scripts/abuse.sh                  full run (~2 min per driver; figures in bench/RESULTS.md)
#        ABUSE_QUICK=1 scripts/abuse.sh    CI run (seconds; generous bounds for a loaded box)
# Knobs: ABUSE_DRIVERS (default "legacy uring"), ABUSE_PHASES (default "abuse idle"; "idle"
#        runs only the idle connections), ABUSE_P99_MS, ABUSE_MAX_RSS_MIB,
#        ABUSE_PER_CONN_KIB, ABUSE_MARGINAL_KIB, ABUSE_IDLE, ABUSE_SECONDS.
# Idle memory: two figures, the average (RSS with − RSS without) / N and the marginal cost
# (RSS growth over the second half of the connections, per connection). The full run's
# bound is the issue's target, 4 KiB for both (measured: 1.35 and 1.1–1.3 KiB); the CI run's,
# 8 KiB for both, still catches a connection that holds its buffers again (~21 KiB) or an
# allocator that keeps the opening burst's pages (~7 KiB). Figures: bench/RESULTS.md,
# "10,000 idle keep-alive connections".
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK="${ABUSE_QUICK:-0}"
DRIVERS="${ABUSE_DRIVERS:-legacy uring}"
PHASES=" ${ABUSE_PHASES:-abuse idle} "
if [[ "$QUICK" == 1 ]]; then
    SECONDS_ABUSE="${ABUSE_SECONDS:-4}" FLOOD_SECONDS=2 BYTE_INTERVAL=1
    SLOWLORIS=200 SLOW_BODY=20 NO_READ=10 FLOOD=800 MAX_CONNECTIONS=256
    IDLE="${ABUSE_IDLE:-2000}" SETTLE=2
    # A loaded CI box: bound what a broken server would blow, not what a quiet one does.
    P99_MS="${ABUSE_P99_MS:-250}" MAX_RSS_MIB="${ABUSE_MAX_RSS_MIB:-256}"
    # Few connections: the buffer pools' growth (fixed, up to 2 MiB a worker) weighs on the
    # average (2.5 KiB measured against 1.6 marginal); both stay well under 8 KiB.
    PER_CONN_KIB="${ABUSE_PER_CONN_KIB:-8}" MARGINAL_KIB="${ABUSE_MARGINAL_KIB:-8}"
else
    SECONDS_ABUSE="${ABUSE_SECONDS:-30}" FLOOD_SECONDS=10 BYTE_INTERVAL=3
    SLOWLORIS=1000 SLOW_BODY=100 NO_READ=50 FLOOD=3000 MAX_CONNECTIONS=1024
    IDLE="${ABUSE_IDLE:-10000}" SETTLE=3
    P99_MS="${ABUSE_P99_MS:-10}" MAX_RSS_MIB="${ABUSE_MAX_RSS_MIB:-256}"
    PER_CONN_KIB="${ABUSE_PER_CONN_KIB:-4}" MARGINAL_KIB="${ABUSE_MARGINAL_KIB:-4}"
fi

# Every connection is a descriptor on both sides: raise the limit for us and the server.
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < IDLE + 1000 )); then
    echo "abuse.sh: RLIMIT_NOFILE hard limit $(ulimit -Hn) is too low for $IDLE connections" >&2
    exit 1
fi

cargo build --release --locked --bin ringnova --example abuse >&2
BIN=target/release/ringnova
TOOL=target/release/examples/abuse
SCRATCH="target/abuse-scratch/$$"
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

# start_server NAME DRIVER MAX_CONNECTIONS: sets SERVER_PID and ADDR.
start_server() {
    local dir="$SCRATCH/$1"
    mkdir -p "$dir"
    cat >"$dir/ringnova.conf" <<EOF
[wsgi]
api_paste_config = $PWD/config/api-paste.ini
[ringnova]
log_level = error
access_log = false
max_connections = $3
EOF
    "$BIN" --config-file "$dir/ringnova.conf" --listen 127.0.0.1:0 --workers 2 \
        --driver "$2" --data-dir "$dir/data" >"$dir/stdout" 2>"$dir/stderr" &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        if grep -q "ready" "$dir/stdout" 2>/dev/null; then break; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.05
    done
    ADDR="$(grep -o 'http://[0-9.:]*' "$dir/stdout" | head -1 | sed 's|http://||')"
    if [[ -z "$ADDR" ]]; then
        echo "abuse.sh: ringnova ($2) did not start:" >&2
        cat "$dir/stderr" >&2
        exit 1
    fi
}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
}

status=0
echo "machine: $(nproc) cores, $(uname -r); load: $(uptime | sed 's/.*load average/load average/')"
for driver in $DRIVERS; do
    if [[ "$PHASES" == *" abuse "* ]]; then
        echo
        echo "== driver $driver: abuse (max_connections = $MAX_CONNECTIONS per worker, 2 workers)"
        start_server "abuse-$driver" "$driver" "$MAX_CONNECTIONS"
        "$TOOL" --mode abuse --addr "$ADDR" --pid "$SERVER_PID" --seconds "$SECONDS_ABUSE" \
            --flood-seconds "$FLOOD_SECONDS" --byte-interval "$BYTE_INTERVAL" \
            --slowloris "$SLOWLORIS" --slow-body "$SLOW_BODY" --no-read "$NO_READ" \
            --flood "$FLOOD" --settle "$SETTLE" --max-p99-ms "$P99_MS" \
            --max-rss-mib "$MAX_RSS_MIB" || status=1
        stop_server
    fi
    if [[ "$PHASES" == *" idle "* ]]; then
        echo
        echo "== driver $driver: $IDLE idle keep-alive connections"
        start_server "idle-$driver" "$driver" $((IDLE + 1000))
        "$TOOL" --mode idle --addr "$ADDR" --pid "$SERVER_PID" --idle "$IDLE" \
            --settle "$SETTLE" --max-per-conn-kib "$PER_CONN_KIB" \
            --max-marginal-kib "$MARGINAL_KIB" || status=1
        stop_server
    fi
    echo "load after driver $driver: $(uptime | sed 's/.*load average/load average/')"
done
if [[ "$status" != 0 ]]; then
    echo "abuse.sh: FAILED" >&2
fi
exit "$status"
