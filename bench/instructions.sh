#!/usr/bin/env bash
# Counts user-space instructions per request with valgrind's callgrind, pipelined 16 deep.
# Instruction counts do not depend on how busy the machine is, so this is the noise-free
# complement of run.sh (kernel time is not counted). Both servers run the epoll driver
# (valgrind has no io_uring).
#
# Sets (BENCH_SET, as in run.sh):
#   core (default)  ringnova and the minimal monoio peer, GET / and GET /healthcheck
#   api             ringnova's GET /v2.1/flavors/detail and GET /v2.1/os-keypairs as admin
#                   (`X-Auth-Token: admin:admin`, five key pairs seeded as run.sh does) and
#                   the peer's GET /db (one SQLite point read, `--db PATH`)
#   all             both
#
# Usage: bench/instructions.sh               (3 s of load per case)
#        BENCH_SET=api bench/instructions.sh
#        BENCH_SECONDS=1 BENCH_SET=api bench/instructions.sh   (quicker; same counts per request)
#        RINGNOVA_BIN=path/to/ringnova BENCH_PEER=0 BENCH_CONF=other.conf bench/instructions.sh
#            (a binary built elsewhere, e.g. an older commit's, without building; no peer runs;
#            another configuration than bench/ringnova-bench.conf)
#        BENCH_CORE_PATHS="/v2.1/" BENCH_PEER=0 bench/instructions.sh   (other paths for the core set)
# The callgrind files stay in bench/out/callgrind/ for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

BENCH_SET=${BENCH_SET:-core}
case "$BENCH_SET" in
    core | api | all) ;;
    *) echo "BENCH_SET must be core, api or all" >&2; exit 1 ;;
esac
SECONDS_PER_RUN=${BENCH_SECONDS:-3}
[[ "$SECONDS_PER_RUN" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_SECONDS must be a positive integer" >&2; exit 1; }
PORT=${BENCH_PORT:-18090}
OUT=bench/out/callgrind
AUTH_HEADER="X-Auth-Token: admin:admin"
mkdir -p "$OUT"
BENCH_PEER=${BENCH_PEER:-1}
BENCH_CONF=${BENCH_CONF:-bench/ringnova-bench.conf}
if [[ -z "${RINGNOVA_BIN:-}" ]]; then
    CARGO_PROFILE_RELEASE_DEBUG=true CARGO_PROFILE_RELEASE_STRIP=false \
        cargo build --release --quiet --target-dir target/bench-prof
fi
if [[ "$BENCH_PEER" != 0 ]]; then
    CARGO_PROFILE_RELEASE_DEBUG=true CARGO_PROFILE_RELEASE_STRIP=false \
        cargo build --release --quiet --manifest-path bench/peers/minimal-monoio/Cargo.toml
fi
RINGNOVA=${RINGNOVA_BIN:-target/bench-prof/release/ringnova}
MINIMAL=bench/peers/minimal-monoio/target/release/minimal-monoio

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ringnova-instr.XXXXXX")"
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/healthcheck" && return 0
        sleep 0.1
    done
    echo "server on port $PORT did not start" >&2
    return 1
}

# The key pairs GET /v2.1/os-keypairs lists: five, imported as admin (as run.sh's seed_keypairs).
KEY_BLOB="AAAAC3NzaC1lZDI1NTE5AAAAIHB0iJbMHpTPbDzBXf3XEbvlnMS0eFqO/sV3TY5mODRn"
seed_keypairs() {
    local i code
    for i in 1 2 3 4 5; do
        code="$(curl -s -o /dev/null -w '%{http_code}' -m 30 -H "$AUTH_HEADER" \
            -H 'Content-Type: application/json' \
            -d "{\"keypair\": {\"name\": \"bench-$i\", \"public_key\": \"ssh-ed25519 $KEY_BLOB bench-$i\"}}" \
            "http://127.0.0.1:$PORT/v2.1/os-keypairs")" || code=000
        [[ "$code" == 200 ]] || { echo "could not create key pair bench-$i (HTTP $code)" >&2; exit 1; }
    done
}

# wrk PATH: one pipelined run of BENCH_SECONDS; prints the completed requests.
load() {
    local -a header=()
    [[ "$1" == /v2* ]] && header=(-H "$AUTH_HEADER")
    taskset -c 1 wrk -t1 -c8 "-d${SECONDS_PER_RUN}s" "${header[@]}" -s bench/pipeline.lua "http://127.0.0.1:$PORT$1" -- 16 |
        awk '/requests in/ {print $1}'
}

# measure NAME PATH -- command...
measure() {
    local name=$1 path=$2; shift 3
    local file="$OUT/$name-${path//\//_}.out"
    rm -f "$file" "$file".*
    # taskset execs valgrind, which runs the server in the same process: $! is its pid.
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$file" "$@" >/dev/null 2>&1 &
    SERVER_PID=$!
    wait_port
    curl -s -o "$OUT/body.json" "http://127.0.0.1:$PORT/"
    if [[ "$path" == /v2.1/os-keypairs ]]; then seed_keypairs; fi
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH_HEADER" "http://127.0.0.1:$PORT$path")
    [[ "$status" == 200 ]] || { echo "$name $path answered $status" >&2; exit 1; }
    local n
    n=$(load "$path")  # warm-up
    callgrind_control -z "$SERVER_PID" >/dev/null 2>&1 || true
    n=$(load "$path")
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    sleep 1
    stop_server
    sleep 0.5
    local total
    total=$(callgrind_annotate "$(ls -t "$file".* | head -1)" 2>/dev/null |
        awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    printf '| %s | `%s` | %s | %s | **%s** |\n' "$name" "$path" "$n" "$total" "$((total / n))"
}

ringnova() { # data dir
    echo "$RINGNOVA" --config-file "$BENCH_CONF" --listen "127.0.0.1:$PORT" \
        --workers 1 --cpus 0 --driver legacy --data-dir "$1"
}

echo "| server | endpoint | requests ($SECONDS_PER_RUN s under callgrind) | instructions | instructions/request |"
echo "| --- | --- | ---: | ---: | ---: |"
if [[ "$BENCH_SET" != api ]]; then
    for path in ${BENCH_CORE_PATHS:-/ /healthcheck}; do
        # shellcheck disable=SC2046 # word splitting wanted: paths have no spaces
        measure ringnova "$path" -- $(ringnova "$WORK_DIR/data${path//\//_}")
        if [[ ! -s "$OUT/body.json" ]]; then echo "no body from ringnova" >&2; exit 1; fi
        cp "$OUT/body.json" "$OUT/root-body.json"
        [[ "$BENCH_PEER" != 0 ]] || continue
        measure minimal "$path" -- "$MINIMAL" --listen "127.0.0.1:$PORT" --cpu 0 \
            --body-file "$OUT/root-body.json" --driver legacy
    done
fi
if [[ "$BENCH_SET" != core ]]; then
    for path in /v2.1/flavors/detail /v2.1/os-keypairs; do
        # shellcheck disable=SC2046
        measure ringnova "$path" -- $(ringnova "$WORK_DIR/data${path//\//_}")
    done
    [[ -s "$OUT/root-body.json" ]] || printf '{}' >"$OUT/root-body.json"
    [[ "$BENCH_PEER" != 0 ]] || exit 0
    measure minimal /db -- "$MINIMAL" --listen "127.0.0.1:$PORT" --cpu 0 \
        --body-file "$OUT/root-body.json" --driver legacy --db "$WORK_DIR/world.sqlite"
fi
