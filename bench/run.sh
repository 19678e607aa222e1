#!/usr/bin/env bash
# ringnova benchmark runner.
#
# Builds ringnova and the two peers, then for each server: starts it pinned to
# core 0, drives it with one wrk thread pinned to core 1, and measures the
# server process's own CPU time around every wrk run. The headline number is
# server CPU microseconds per completed request; see bench/README.md.
#
# Environment:
#   BENCH_SECONDS   seconds per wrk run (default 10)
#   BENCH_QUICK=1   1 s per run, only c64 plain + c64 pipelined (CI smoke run)
#   BENCH_SERVERS   space-separated subset of:
#                   ringnova-legacy ringnova-uring minimal-legacy minimal-uring actix
#                   (default: all of them)
#   BENCH_SET       core (GET / and /healthcheck; default), api (ringnova's
#                   GET /v2.1/flavors/detail and /v2.1/os-keypairs as admin
#                   against the minimal peer's one-SQLite-read GET /db), or all
#   BENCH_PORT_BASE first loopback port; servers use BASE..BASE+4 (default 18080)
#   BENCH_BODY_FILE body for the peers' GET / when no ringnova server is run
#   PIPELINE_DEPTH  requests per pipelined write (default 16)
#
# Output: a markdown report on stdout (progress on stderr), also written to
# bench/out/latest.md; raw wrk output and server logs go to bench/out/.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

COMMAND_LINE="bench/run.sh${*:+ $*}"
for v in BENCH_SECONDS BENCH_QUICK BENCH_SERVERS BENCH_SET BENCH_PORT_BASE BENCH_BODY_FILE PIPELINE_DEPTH; do
    if [[ -n "${!v:-}" ]]; then
        if [[ "${!v}" =~ ^[A-Za-z0-9._/:-]+$ ]]; then
            COMMAND_LINE="$v=${!v} $COMMAND_LINE"
        else
            COMMAND_LINE="$v=\"${!v}\" $COMMAND_LINE"
        fi
    fi
done

ALL_SERVERS="ringnova-legacy ringnova-uring minimal-legacy minimal-uring actix"
BENCH_SERVERS="${BENCH_SERVERS:-$ALL_SERVERS}"
BENCH_QUICK="${BENCH_QUICK:-0}"
PIPELINE_DEPTH="${PIPELINE_DEPTH:-16}"
PORT_BASE="${BENCH_PORT_BASE:-18080}"
SERVER_CPU=0
CLIENT_CPU=1
if [[ "$BENCH_QUICK" == 1 ]]; then
    DURATION=1
    MODES="c64 pipe-c64"
else
    DURATION="${BENCH_SECONDS:-10}"
    MODES="c64 c256 pipe-c64"
fi
BENCH_SET="${BENCH_SET:-core}"
case "$BENCH_SET" in
    core | api | all) ;;
    *) echo "BENCH_SET must be core, api or all" >&2; exit 1 ;;
esac
# The API scenarios' token (noauth2: user admin, project admin).
AUTH_HEADER="X-Auth-Token: admin:admin"
API_PATHS="/v2.1/flavors/detail /v2.1/os-keypairs"

# Paths measured on one server: the core set on every server; the API set on
# ringnova, and its floor (one SQLite point read, GET /db) on the minimal peer.
paths_for() { # name
    local core="" api=""
    [[ "$BENCH_SET" != api ]] && core="/ /healthcheck"
    if [[ "$BENCH_SET" != core ]]; then
        case "$1" in
            ringnova-*) api="$API_PATHS" ;;
            minimal-*) api="/db" ;;
        esac
    fi
    echo "$core $api"
}

OUT_DIR="$REPO_ROOT/bench/out"
REPORT="$OUT_DIR/latest.md"
RAW_DIR="$OUT_DIR/raw"
LOG_DIR="$OUT_DIR/logs"

MINIMAL_BIN="bench/peers/minimal-monoio/target/release/minimal-monoio"
ACTIX_BIN="bench/peers/actix/target/release/actix-peer"
RINGNOVA_BIN="target/release/ringnova"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# Report line: stdout and bench/out/latest.md.
out() { printf '%s\n' "$*" | tee -a "$REPORT"; }

# ---------------------------------------------------------------- selection
want() { [[ " $BENCH_SERVERS " == *" $1 "* ]]; }
for s in $BENCH_SERVERS; do
    [[ " $ALL_SERVERS " == *" $s "* ]] || die "unknown server '$s' in BENCH_SERVERS (known: $ALL_SERVERS)"
done
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a positive integer"
[[ "$PIPELINE_DEPTH" =~ ^[1-9][0-9]*$ ]] || die "PIPELINE_DEPTH must be a positive integer"

port_of() {
    case "$1" in
        ringnova-legacy) echo $((PORT_BASE + 0)) ;;
        ringnova-uring) echo $((PORT_BASE + 1)) ;;
        minimal-legacy) echo $((PORT_BASE + 2)) ;;
        minimal-uring) echo $((PORT_BASE + 3)) ;;
        actix) echo $((PORT_BASE + 4)) ;;
    esac
}

# ---------------------------------------------------------------- cleanup
WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ringnova-bench.XXXXXX")"
SERVER_PIDS=()
WRK_PID=""

stop_pid() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    if [[ -n "$WRK_PID" ]]; then
        kill -TERM "$WRK_PID" 2>/dev/null || true
        wait "$WRK_PID" 2>/dev/null || true
    fi
    for pid in "${SERVER_PIDS[@]}"; do
        stop_pid "$pid"
    done
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools + builds
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk"
    if [[ "$(id -u)" == 0 ]]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >&2
fi
for tool in wrk curl taskset getconf awk; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
(($(nproc) >= 2)) || die "needs at least 2 CPUs (server on $SERVER_CPU, wrk on $CLIENT_CPU)"

if want ringnova-legacy || want ringnova-uring; then
    log "building ringnova (release)"
    cargo build --release >&2
fi
if want minimal-legacy || want minimal-uring; then
    log "building minimal-monoio peer (release)"
    cargo build --release --manifest-path bench/peers/minimal-monoio/Cargo.toml >&2
fi
if want actix; then
    log "building actix-web peer (release)"
    cargo build --release --manifest-path bench/peers/actix/Cargo.toml >&2
fi

mkdir -p "$OUT_DIR" "$RAW_DIR" "$LOG_DIR"
: >"$REPORT"

CLK_TCK="$(getconf CLK_TCK)"

# ---------------------------------------------------------------- helpers
# utime + stime of a process (all its threads), in clock ticks.
cpu_ticks() {
    local stat rest
    stat="$(<"/proc/$1/stat")" || return 1
    # Field 2 (comm) may hold spaces; everything after its ')' starts at field 3.
    rest="${stat##*) }"
    local -a f
    read -r -a f <<<"$rest"
    echo $((f[11] + f[12])) # fields 14 (utime) and 15 (stime)
}

http_status() { # url -> status code, 000 when nothing answers
    curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
}

wait_ready() { # name pid port
    local name="$1" pid="$2" port="$3" i code
    for ((i = 0; i < 300; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before answering; its log:"
            sed 's/^/    /' "$LOG_DIR/$name.log" >&2 || true
            return 1
        fi
        code="$(http_status "http://127.0.0.1:$port/healthcheck")"
        [[ "$code" == 200 ]] && return 0
        sleep 0.1
    done
    log "$name did not answer GET /healthcheck with 200 within 30 s; its log:"
    sed 's/^/    /' "$LOG_DIR/$name.log" >&2 || true
    return 1
}

BODY_FILE="$WORK_DIR/root-body.json"
BODY_NOTE=""

start_server() { # name -> sets SERVER_PID
    local name="$1" port
    port="$(port_of "$name")"
    if [[ "$(http_status "http://127.0.0.1:$port/healthcheck")" != 000 ]]; then
        die "port $port already answers HTTP; stop whatever is listening there or set BENCH_PORT_BASE"
    fi
    local -a cmd
    case "$name" in
        ringnova-*)
            local driver="${name#ringnova-}"
            mkdir -p "$WORK_DIR/data-$name"
            cmd=("$RINGNOVA_BIN" --config-file bench/ringnova-bench.conf
                --listen "127.0.0.1:$port" --workers 1 --cpus "$SERVER_CPU"
                --driver "$driver" --data-dir "$WORK_DIR/data-$name")
            ;;
        minimal-*)
            cmd=("$MINIMAL_BIN" --listen "127.0.0.1:$port" --cpu "$SERVER_CPU"
                --body-file "$BODY_FILE" --driver "${name#minimal-}"
                --db "$WORK_DIR/world-$name.sqlite")
            ;;
        actix)
            cmd=("$ACTIX_BIN" --listen "127.0.0.1:$port" --cpu "$SERVER_CPU"
                --body-file "$BODY_FILE")
            ;;
    esac
    log "starting $name on 127.0.0.1:$port: taskset -c $SERVER_CPU ${cmd[*]}"
    # taskset execs the server, so $! is the server's own pid.
    taskset -c "$SERVER_CPU" "${cmd[@]}" >"$LOG_DIR/$name.log" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    wait_ready "$name" "$SERVER_PID" "$port"
}

stop_server() {
    stop_pid "$1"
    local -a keep=() p
    for p in "${SERVER_PIDS[@]}"; do
        [[ "$p" == "$1" ]] || keep+=("$p")
    done
    SERVER_PIDS=("${keep[@]}")
}

# The peers serve ringnova's own GET / body so every server sends the same bytes.
fetch_ringnova_body() { # port
    local port="$1" code
    code="$(curl -s -m 5 -o "$BODY_FILE" -w '%{http_code}' \
        -H "Host: 127.0.0.1:$port" "http://127.0.0.1:$port/")" || code=000
    [[ -s "$BODY_FILE" ]] || die "ringnova's GET / returned no body (HTTP $code)"
    cp "$BODY_FILE" "$OUT_DIR/root-body.json"
    BODY_NOTE="ringnova's GET / (HTTP $code, $(wc -c <"$BODY_FILE") bytes; the peers answer 200 with the same bytes)"
    log "GET / body: $BODY_NOTE"
}

placeholder_body() {
    if [[ -n "${BENCH_BODY_FILE:-}" ]]; then
        cp "$BENCH_BODY_FILE" "$BODY_FILE"
        BODY_NOTE="BENCH_BODY_FILE $BENCH_BODY_FILE ($(wc -c <"$BODY_FILE") bytes)"
    else
        # Shape of a compute API version document; used only when ringnova is not run.
        printf '%s' '{"versions": [{"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z", "links": [{"rel": "self", "href": "http://127.0.0.1:18080/v2/"}]}, {"id": "v2.1", "status": "CURRENT", "version": "2.96", "min_version": "2.1", "updated": "2013-07-23T11:33:21Z", "links": [{"rel": "self", "href": "http://127.0.0.1:18080/v2.1/"}]}]}' >"$BODY_FILE"
        BODY_NOTE="placeholder version document ($(wc -c <"$BODY_FILE") bytes; ringnova not run)"
    fi
    log "GET / body: $BODY_NOTE"
}

# The key pairs GET /v2.1/os-keypairs lists: five, imported as admin.
KEY_BLOB="AAAAC3NzaC1lZDI1NTE5AAAAIHB0iJbMHpTPbDzBXf3XEbvlnMS0eFqO/sV3TY5mODRn"
seed_keypairs() { # port
    local i code
    for i in 1 2 3 4 5; do
        code="$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H "$AUTH_HEADER" \
            -H 'Content-Type: application/json' \
            -d "{\"keypair\": {\"name\": \"bench-$i\", \"public_key\": \"ssh-ed25519 $KEY_BLOB bench-$i\"}}" \
            "http://127.0.0.1:$1/v2.1/os-keypairs")" || code=000
        [[ "$code" == 200 ]] || die "could not create key pair bench-$i (HTTP $code)"
    done
}

# wrk output -> "rps|p99|requests|non2xx|sockerr"
parse_wrk() {
    awk '
        /^Requests\/sec:/ { rps = $2 }
        /requests in/ { reqs = $1 }
        $1 == "99%" { p99 = $2 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ {
            gsub(",", "")
            sock = $4 + $6 + $8 + $10
        }
        END {
            printf "%s|%s|%s|%s|%s\n", (rps == "" ? 0 : rps), (p99 == "" ? "n/a" : p99),
                (reqs == "" ? 0 : reqs), (non2xx == "" ? 0 : non2xx), (sock == "" ? 0 : sock)
        }' "$1"
}

declare -A US_PER_REQ=()
FAILURES=0

mode_label() {
    case "$1" in
        c64) echo "plain c64" ;;
        c256) echo "plain c256" ;;
        pipe-c64) echo "pipelined x$PIPELINE_DEPTH c64" ;;
    esac
}

run_one() { # name pid port path mode
    local name="$1" pid="$2" port="$3" path="$4" mode="$5"
    local conns=64 raw
    local -a script=()
    case "$mode" in
        c256) conns=256 ;;
        pipe-c64) script=(-s bench/pipeline.lua) ;;
    esac
    local slug="${path#/}"
    slug="${slug//\//_}"
    raw="$RAW_DIR/$name-${slug:-root}-$mode.txt"
    local -a cmd=(taskset -c "$CLIENT_CPU" wrk -t1 "-c$conns" "-d${DURATION}s" --latency
        "${script[@]}")
    if [[ "$path" == /v2* ]]; then
        cmd+=(-H "$AUTH_HEADER")
    fi
    cmd+=("http://127.0.0.1:$port$path")
    if [[ ${#script[@]} -gt 0 ]]; then
        cmd+=(-- "$PIPELINE_DEPTH")
    fi
    log "$name $path $(mode_label "$mode"): ${cmd[*]}"

    local before after
    before="$(cpu_ticks "$pid")"
    # In the background + wait, so that a signal to this script is handled at
    # once instead of after wrk finishes.
    "${cmd[@]}" >"$raw" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || log "wrk exited non-zero (see ${raw#"$REPO_ROOT"/})"
    WRK_PID=""
    after="$(cpu_ticks "$pid" 2>/dev/null)" || after=""

    local rps p99 reqs non2xx sock
    IFS='|' read -r rps p99 reqs non2xx sock < <(parse_wrk "$raw")
    if [[ -z "$after" ]] || ! kill -0 "$pid" 2>/dev/null; then
        log "$name died during the run"
        FAILURES=$((FAILURES + 1))
        out "| $name | \`$path\` | $(mode_label "$mode") | server died | | | | | | |"
        return 1
    fi
    if [[ "$reqs" == 0 ]]; then
        FAILURES=$((FAILURES + 1))
        out "| $name | \`$path\` | $(mode_label "$mode") | no requests completed (see ${raw#"$REPO_ROOT"/}) | | | | | | |"
        return 0
    fi
    # wrk 4 takes one latency sample per pipelined batch and its
    # coordinated-omission correction then corrupts the percentiles.
    if [[ "$mode" == pipe-* ]]; then
        p99="n/a"
    fi

    local cpu_s us
    cpu_s="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')"
    us="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$reqs" \
        'BEGIN { printf "%.3f", (t / hz) * 1e6 / n }')"
    US_PER_REQ["$name|$path|$mode"]="$us"
    # Every endpoint answers 200: any other status means a broken server, not a slow one.
    if [[ "${non2xx:-0}" != 0 ]]; then
        log "$name $path $(mode_label "$mode"): $non2xx non-2xx responses"
        FAILURES=$((FAILURES + 1))
    fi
    # shellcheck disable=SC2016 # the backticks are markdown, not expansions
    out "$(printf '| %s | `%s` | %s | %.0f | %s | %s | %s | %s | %s | **%s** |' \
        "$name" "$path" "$(mode_label "$mode")" "$rps" "$p99" "$reqs" "$non2xx" "$sock" "$cpu_s" "$us")"
}

ratio() { # a b -> "a/b" with two decimals, or n/a
    if [[ -n "${1:-}" && -n "${2:-}" ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
    else
        echo "n/a"
    fi
}

# Percent of all CPUs busy over one second, before any server starts: other
# work on the box (a compile, say) skews req/s much more than µs/req.
background_busy() {
    local a b
    a="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)"
    sleep 1
    b="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)"
    awk -v a="$a" -v b="$b" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        busy = y[1] - x[1]; idle = y[2] - x[2]
        printf "%.0f", (busy + idle > 0) ? 100 * busy / (busy + idle) : 0
    }'
}

# ---------------------------------------------------------------- report head
cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
out "# ringnova benchmark"
out ""
out "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
out "- command: \`$COMMAND_LINE\`"
out "- machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, kernel $(uname -r)"
out "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD 2>/dev/null || echo ' (work tree has changes)')"
out "- tools: $(wrk --version 2>&1 | head -n1 | awk '{ print $1, $2 }'), $(rustc --version 2>/dev/null || echo 'rustc unknown')"
out "- setup: each server pinned to CPU $SERVER_CPU (\`taskset -c $SERVER_CPU\`), \`wrk -t1\` pinned to CPU $CLIENT_CPU, loopback, ${DURATION} s per run, pipelined runs send $PIPELINE_DEPTH requests per write (bench/pipeline.lua)"
busy="$(background_busy)"
if ((busy > 10)); then
    log "warning: the machine is ${busy}% busy before the benchmark; req/s will be skewed"
    out "- background load: **${busy}% of all CPUs busy before the runs** (other work on the machine; req/s is skewed, µs/req less so)"
else
    out "- background load: ${busy}% of all CPUs busy before the runs"
fi
out "- µs/req = server process CPU (utime+stime from /proc/PID/stat, CLK_TCK=$CLK_TCK) × 10⁶ / requests completed"
out ""

# ---------------------------------------------------------------- runs
RAN_RINGNOVA=0
if ! want ringnova-legacy && ! want ringnova-uring; then
    placeholder_body
fi

table_started=0
for name in $ALL_SERVERS; do
    want "$name" || continue
    if [[ "$name" != ringnova-* && ! -s "$BODY_FILE" ]]; then
        die "no GET / body for the peers"
    fi
    start_server "$name" || {
        FAILURES=$((FAILURES + 1))
        die "$name did not start"
    }
    pid="$SERVER_PID"
    port="$(port_of "$name")"
    if [[ "$name" == ringnova-* && "$RAN_RINGNOVA" == 0 ]]; then
        fetch_ringnova_body "$port"
        RAN_RINGNOVA=1
    fi
    if [[ "$table_started" == 0 ]]; then
        out "GET / body: $BODY_NOTE"
        out ""
        out "| server | endpoint | load | req/s | p99 | requests | non-2xx | socket errors | server CPU s | µs/req |"
        out "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        table_started=1
    fi
    if [[ "$BENCH_QUICK" != 1 ]]; then
        # Unmeasured warm-up: caches, connection setup paths, lazy state.
        taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d1s "http://127.0.0.1:$port/healthcheck" >/dev/null 2>&1 || true
    fi
    if [[ "$name" == ringnova-* && "$BENCH_SET" != core ]]; then
        seed_keypairs "$port"
    fi
    for path in $(paths_for "$name"); do
        for mode in $MODES; do
            run_one "$name" "$pid" "$port" "$path" "$mode" || break 2
        done
    done
    stop_server "$pid"
done

# ---------------------------------------------------------------- ratios
pipe_ratios() { # path-on-ringnova path-on-peers
    local driver rn mm ax
    for driver in legacy uring; do
        rn="${US_PER_REQ["ringnova-$driver|$1|pipe-c64"]:-}"
        [[ -n "$rn" ]] || continue
        mm="${US_PER_REQ["minimal-$driver|$2|pipe-c64"]:-}"
        if [[ "$1" == "$2" ]]; then
            ax="${US_PER_REQ["actix|$1|pipe-c64"]:-}"
            out "- \`$1\` ringnova-$driver $rn µs/req: ÷ minimal-$driver = $(ratio "$rn" "$mm")×, ÷ actix-web = $(ratio "$rn" "$ax")×"
        else
            out "- \`$1\` ringnova-$driver $rn µs/req: ÷ minimal-$driver \`$2\` (one SQLite point read) = $(ratio "$rn" "$mm")×"
        fi
    done
}

out ""
out "## Ratios (server CPU µs per request, pipelined x$PIPELINE_DEPTH c64; lower is better for ringnova)"
out ""
if [[ "$BENCH_SET" != api ]]; then
    pipe_ratios / /
    pipe_ratios /healthcheck /healthcheck
fi
if [[ "$BENCH_SET" != core ]]; then
    for path in $API_PATHS; do
        pipe_ratios "$path" /db
    done
fi
if ! want ringnova-legacy && ! want ringnova-uring; then
    out "- ringnova not run (BENCH_SERVERS=\"$BENCH_SERVERS\")"
fi

# Which ringnova driver was cheaper: per scenario, and the geometric mean of
# uring/legacy over all scenarios that both completed.
if want ringnova-legacy && want ringnova-uring; then
    uring_wins=0 legacy_wins=0 both=0 log_sum=0
    for path in $(paths_for ringnova-uring); do
        for mode in $MODES; do
            l="${US_PER_REQ["ringnova-legacy|$path|$mode"]:-}"
            u="${US_PER_REQ["ringnova-uring|$path|$mode"]:-}"
            [[ -n "$l" && -n "$u" ]] || continue
            both=$((both + 1))
            if awk -v u="$u" -v l="$l" 'BEGIN { exit !(u < l) }'; then
                uring_wins=$((uring_wins + 1))
            else
                legacy_wins=$((legacy_wins + 1))
            fi
            log_sum="$(awk -v s="$log_sum" -v u="$u" -v l="$l" 'BEGIN { printf "%.9f", s + log(u / l) }')"
        done
    done
    if ((both > 0)); then
        gm="$(awk -v s="$log_sum" -v n="$both" 'BEGIN { printf "%.3f", exp(s / n) }')"
        if awk -v g="$gm" 'BEGIN { exit !(g < 1) }'; then cheaper=uring; else cheaper=legacy; fi
        out "- cheaper ringnova driver: **$cheaper** (uring/legacy µs/req geometric mean $gm over $both scenarios; uring cheaper in $uring_wins, legacy in $legacy_wins)"
    fi
fi
out ""
out "Raw wrk output: bench/out/raw/; server logs: bench/out/logs/. Pipelined p99 is n/a: wrk 4 records one latency sample per pipelined batch and its coordinated-omission correction then corrupts the percentiles."

log "report written to ${REPORT#"$REPO_ROOT"/}"
if ((FAILURES > 0)); then
    die "$FAILURES run(s) failed"
fi
