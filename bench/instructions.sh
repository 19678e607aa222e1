#!/usr/bin/env bash
# Counts user-space instructions per request with valgrind's callgrind: ringnova and the
# minimal monoio peer, GET / and GET /healthcheck, pipelined 16 deep. Instruction counts do
# not depend on how busy the machine is, so this is the noise-free complement of run.sh
# (kernel time is not counted). Both servers run the epoll driver (valgrind has no io_uring).
#
# Usage: bench/instructions.sh        (3 s of load per case)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

PORT=${BENCH_PORT:-18090}
OUT=bench/out/callgrind
mkdir -p "$OUT"
CARGO_PROFILE_RELEASE_DEBUG=true CARGO_PROFILE_RELEASE_STRIP=false \
    cargo build --release --quiet --target-dir target/bench-prof
cargo build --release --quiet --manifest-path bench/peers/minimal-monoio/Cargo.toml
RINGNOVA=target/bench-prof/release/ringnova
MINIMAL=bench/peers/minimal-monoio/target/release/minimal-monoio

cleanup() { pkill -9 -f "callgrind-out-file=$OUT" 2>/dev/null || true; }
trap cleanup EXIT

wait_port() {
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/healthcheck" && return 0
        sleep 0.1
    done
    echo "server on port $PORT did not start" >&2
    return 1
}

# measure NAME PATH -- command...
measure() {
    local name=$1 path=$2; shift 3
    local file="$OUT/$name-${path//\//_}.out"
    rm -f "$file" "$file".*
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$file" "$@" >/dev/null 2>&1 &
    disown  # killed by cleanup; keeps bash from reporting it
    wait_port
    curl -s -o "$OUT/body.json" "http://127.0.0.1:$PORT/"
    local n
    n=$(taskset -c 1 wrk -t1 -c8 -d3s -s bench/pipeline.lua "http://127.0.0.1:$PORT$path" -- 16 |
        awk '/requests in/ {print $1}')
    callgrind_control -z "$(pgrep -f "callgrind-out-file=$file")" >/dev/null 2>&1 || true
    n=$(taskset -c 1 wrk -t1 -c8 -d3s -s bench/pipeline.lua "http://127.0.0.1:$PORT$path" -- 16 |
        awk '/requests in/ {print $1}')
    callgrind_control -d "$(pgrep -f "callgrind-out-file=$file")" >/dev/null 2>&1
    sleep 1
    cleanup
    sleep 0.5
    local total
    total=$(callgrind_annotate "$(ls -t "$file".* | head -1)" 2>/dev/null |
        awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    printf '| %s | `%s` | %s | %s | **%s** |\n' "$name" "$path" "$n" "$total" "$((total / n))"
}

echo "| server | endpoint | requests (3 s under callgrind) | instructions | instructions/request |"
echo "| --- | --- | ---: | ---: | ---: |"
for path in / /healthcheck; do
    measure ringnova "$path" -- "$RINGNOVA" --config-file bench/ringnova-bench.conf \
        --listen "127.0.0.1:$PORT" --workers 1 --cpus 0 --driver legacy
    if [[ ! -s "$OUT/body.json" ]]; then echo "no body from ringnova" >&2; exit 1; fi
    cp "$OUT/body.json" "$OUT/root-body.json"
    measure minimal "$path" -- "$MINIMAL" --listen "127.0.0.1:$PORT" --cpu 0 \
        --body-file "$OUT/root-body.json" --driver legacy
done
