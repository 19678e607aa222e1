#!/usr/bin/env bash
# Mixed read/write latency: does a stream of committed writes stall the readers?
#
# Starts ringnova (release) with 2 workers, then for each `[database] synchronous`
# setting (normal, full) runs, for BENCH_SECONDS each:
#   1. reads alone:   wrk -c32 GET /v2.1/flavors/detail
#   2. reads + writes: the same reads while a second wrk (-c8) imports and deletes
#      key pairs as fast as it can (bench/keypair_writes.lua; every request is a
#      write transaction), spread over both workers by SO_REUSEPORT.
# It prints read req/s and p50/p99/max with and without the writers, and the
# writers' own req/s and p99. Loopback only; stops everything it started.
#
# Usage: bench/mixed_rw.sh        (BENCH_SECONDS=10 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
PORT="${BENCH_PORT:-18190}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ringnova-mixed.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

AUTH="X-Auth-Token: admin:admin"
URL="http://127.0.0.1:$PORT"

# wrk output -> "rps p50 p99 max"
summary() {
    awk '/^Requests\/sec:/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} /Latency/ && !max {max=$4}
         /Non-2xx/ {bad=$NF}
         END {printf "%s %s %s %s %s\n", rps, p50, p99, max, (bad==""?0:bad)}' "$1"
}

echo "# mixed read/write latency"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); machine: $(nproc) CPUs, $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r); load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- command: \`bench/mixed_rw.sh\` (BENCH_SECONDS=$SECONDS_PER_RUN); ringnova --workers 2, reads \`wrk -t1 -c32 GET /v2.1/flavors/detail\`, writes \`wrk -t1 -c8 -s bench/keypair_writes.lua\` (key pair import + delete)"
echo
echo "| synchronous | load | read req/s | read p50 | read p99 | read max | write req/s | write p99 |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for sync in normal full; do
    printf '[database]\nsynchronous = %s\n[ringnova]\naccess_log = false\nlog_level = warn\n' "$sync" >"$WORK/ringnova.conf"
    printf '[wsgi]\napi_paste_config = %s/config/api-paste.ini\n' "$PWD" >>"$WORK/ringnova.conf"
    rm -rf "$WORK/data"
    target/release/ringnova --config-file "$WORK/ringnova.conf" --listen "127.0.0.1:$PORT" \
        --workers 2 --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do curl -s -o /dev/null "$URL/healthcheck" && break; sleep 0.1; done
    wrk -t1 -c16 -d1s -H "$AUTH" "$URL/v2.1/flavors/detail" >/dev/null 2>&1 || true

    wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" --latency -H "$AUTH" "$URL/v2.1/flavors/detail" >"$WORK/reads.txt"
    read -r rps p50 p99 max bad < <(summary "$WORK/reads.txt")
    echo "| $sync | reads alone | $rps | $p50 | $p99 | $max | – | – |"
    [[ "$bad" == 0 ]] || echo "  (reads: $bad non-2xx responses)"

    wrk -t1 -c8 -d"$((SECONDS_PER_RUN + 1))s" --latency -s bench/keypair_writes.lua "$URL" -- admin:admin >"$WORK/writes.txt" &
    WRITER=$!
    sleep 0.5
    wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" --latency -H "$AUTH" "$URL/v2.1/flavors/detail" >"$WORK/reads.txt"
    wait "$WRITER"
    read -r rps p50 p99 max bad < <(summary "$WORK/reads.txt")
    read -r wrps _ wp99 _ wbad < <(summary "$WORK/writes.txt")
    echo "| $sync | reads + writes | $rps | $p50 | $p99 | $max | $wrps | $wp99 |"
    [[ "$bad" == 0 && "$wbad" == 0 ]] || echo "  (non-2xx: reads $bad, writes $wbad)"
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
done
