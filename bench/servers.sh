#!/usr/bin/env bash
# Servers benchmark: server CPU µs per request for
#   1. POST /v2.1/servers (bench/server_create.lua; each request writes an instance and
#      its build task in one transaction and queues it for the orchestration thread), and
#   2. GET /v2.1/servers/detail with 100 ACTIVE servers, plain and pipelined x16.
# ringnova runs one worker pinned to CPU 0 (the orchestration and fsync threads are part of
# the process and counted); wrk -t1 runs on CPU 1. The fake driver's simulated time is
# waiting, not CPU, so it is not counted. Quotas are unlimited for the run.
#
# Usage: bench/servers.sh          (BENCH_SECONDS=5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${BENCH_SECONDS:-5}"
PORT="${BENCH_PORT:-18195}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ringnova-servers.XXXXXX")"
PID=""
cleanup() {
    if [[ -n "$PID" ]]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
URL="http://127.0.0.1:$PORT"
AUTH=(-H "X-Auth-Token: admin:admin" -H "OpenStack-API-Version: compute 2.60")
CLK_TCK="$(getconf CLK_TCK)"
ticks() { local s; s="$(<"/proc/$1/stat")"; s="${s##*) }"; local -a f; read -r -a f <<<"$s"; echo $((f[11] + f[12])); }

start() { # extra config
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
$1
CONF
    rm -rf "$WORK/data"
    taskset -c 0 target/release/ringnova --config-file "$WORK/ringnova.conf" --listen "127.0.0.1:$PORT" \
        --workers 1 --cpus 0 --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do curl -s -o /dev/null "$URL/healthcheck" && return 0; sleep 0.1; done
    echo "ringnova did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

# measure LABEL wrk-args... -> one table row
measure() {
    local label=$1; shift
    local before after
    before="$(ticks "$PID")"
    taskset -c 1 wrk -t1 -d"${SECS}s" --latency "$@" >"$WORK/wrk.txt" 2>&1
    after="$(ticks "$PID")"
    awk -v t=$((after - before)) -v hz="$CLK_TCK" -v label="$label" '
        /^Requests\/sec:/ {rps = $2} /requests in/ {n = $1} $1 == "99%" {p99 = $2}
        /Non-2xx/ {bad = $NF}
        END { printf "| %s | %.0f | %s | %d | %s | **%.1f** |\n", label, rps, p99, n, (bad == "" ? 0 : bad), (t / hz) * 1e6 / n }' "$WORK/wrk.txt"
}

echo "# servers benchmark"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); machine: $(nproc) CPUs, $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- command: \`bench/servers.sh\` (BENCH_SECONDS=$SECS); one worker on CPU 0, \`wrk -t1\` on CPU 1"
echo
echo "| scenario | req/s | p99 | requests | non-2xx | server CPU µs/req |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
start "[fake_driver]
build_time = 0.2"
measure "POST /v2.1/servers, c16" -c16 -s bench/server_create.lua "$URL"
stop

start "[fake_driver]
build_time = 0"
for i in $(seq 1 100); do
    curl -s -o /dev/null "${AUTH[@]}" -H 'Content-Type: application/json' \
        -d "{\"server\": {\"name\": \"d$i\", \"imageRef\": \"70a599e0-31e7-49b7-b260-868f441e862b\", \"flavorRef\": \"1\", \"networks\": \"none\"}}" \
        "$URL/v2.1/servers"
done
for _ in $(seq 1 100); do
    active="$(curl -s "${AUTH[@]}" "$URL/v2.1/servers/detail" | grep -o '"status": "ACTIVE"' | wc -l)"
    [[ "$active" -ge 100 ]] && break
    sleep 0.2
done
echo "  (servers ACTIVE before the detail runs: $active)"
measure "GET /v2.1/servers/detail (100 servers), c16" -c16 "${AUTH[@]}" "$URL/v2.1/servers/detail"
measure "GET /v2.1/servers/detail (100 servers), pipelined x16 c16" -c16 -s bench/pipeline.lua "${AUTH[@]}" "$URL/v2.1/servers/detail" -- 16
stop
