#!/usr/bin/env bash
# Counts user-space instructions per POST /v2.1/servers with valgrind's callgrind, over the
# whole process (worker, orchestration thread and flush thread), as bench/servers.sh's
# create run does: one worker, the epoll driver (valgrind has no io_uring), quotas
# unlimited, the fake driver's build_time 0.2 s, bench/server_create.lua at c16. The first
# run warms up (files grow, statements are prepared); the counts are of the second run,
# divided by the creates it completed (per thread on stderr: 01 main, then the threads in
# start order). The orchestration work of creates still in flight
# when counting stops is partly counted; BENCH_SECONDS long enough makes that small.
#
# Usage: bench/create_instructions.sh              (BENCH_SECONDS=10 by default)
#        RINGNOVA=path/to/ringnova bench/create_instructions.sh   (another build)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
SECS=${BENCH_SECONDS:-10}
PORT=${BENCH_PORT:-18197}
if [[ -z "${RINGNOVA:-}" ]]; then
    cargo build --release --quiet
    RINGNOVA=target/release/ringnova
fi
OUT=bench/out/callgrind
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ringnova-create-instr.XXXXXX")"
PID=""
cleanup() {
    if [[ -n "$PID" ]]; then kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
URL="http://127.0.0.1:$PORT"
cat >"$WORK/ringnova.conf" <<CONF
[wsgi]
api_paste_config = $PWD/config/api-paste.ini
[ringnova]
access_log = false
log_level = warn
[quota]
instances = -1
cores = -1
ram = -1
[orchestrator]
queue_size = 1000000
[fake_driver]
build_time = 0.2
CONF
FILE="$OUT/create.out"
rm -f "$FILE" "$FILE".*
taskset -c 0 valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$FILE" "$RINGNOVA" \
    --config-file "$WORK/ringnova.conf" --listen "127.0.0.1:$PORT" --workers 1 --cpus 0 \
    --driver legacy --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 300); do curl -s -o /dev/null "$URL/healthcheck" && break; sleep 0.1; done
load() {
    taskset -c 1 wrk -t1 -c16 "-d${SECS}s" -s bench/server_create.lua "$URL" >"$WORK/wrk.txt" 2>&1
    if grep -q Non-2xx "$WORK/wrk.txt"; then cat "$WORK/wrk.txt" >&2; exit 1; fi
    awk '/requests in/ {print $1}' "$WORK/wrk.txt"
}
load >/dev/null # warm-up
sleep 2          # let the warm-up's builds finish
callgrind_control -z "$PID" >/dev/null 2>&1 || true
n=$(load)
sleep 1          # the last builds' steps (0.2 s) land inside the count
callgrind_control -d "$PID" >/dev/null 2>&1
sleep 1
kill -9 "$PID" 2>/dev/null || true
wait "$PID" 2>/dev/null || true
PID=""
total=0
for part in "$FILE".*; do
    t=$(callgrind_annotate "$part" 2>/dev/null |
        awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print ($1 ~ /^[0-9]+$/ ? $1 : 0)}')
    total=$((total + ${t:-0}))
    echo "  thread ${part##*-}: $((${t:-0} / n)) per create" >&2
done
echo "| POST /v2.1/servers c16 | $n creates ($SECS s under callgrind) | $total instructions | **$((total / n))** per create |"
