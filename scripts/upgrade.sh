#!/usr/bin/env bash
# Zero-downtime binary upgrade under load, shown end to end on loopback.
#
# Starts ringnova (process A) on a port, puts it under load with wrk twice over — keep-alive
# connections, and "Connection: close" requests that open a NEW connection for every request
# (the only load that exercises the listen backlog) — then, ROUNDS times: starts the next
# process on the same port (SO_REUSEPORT), waits for its ready line, sends the old one
# SIGQUIT (stop accepting, serve what is queued, drain, exit) and waits for it to exit.
# At the end it prints total requests, non-2xx responses and socket errors
# (connect/read/write/timeout), and fails unless every request succeeded.
#
# net.ipv4.tcp_migrate_req decides how the old process gives up its listeners (see
# docs/operations-signals.md). MIGRATE=auto (default) leaves it as it is, MIGRATE=on sets it
# to 1, MIGRATE=off to 0 (the socket-filter path); the old value is restored at exit. When the
# sysctl cannot be written the run goes on with whatever the kernel has, and says so.
#
# Usage: scripts/upgrade.sh
#   ROUNDS=3 ROUND_SECS=3 WORKERS=2 DRIVER=auto MIGRATE=auto KEEPALIVE_CONNS=16 CLOSE_CONNS=8
#   BIN=path/to/ringnova (default: build and use target/release/ringnova)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
ROUND_SECS=${ROUND_SECS:-3}
WORKERS=${WORKERS:-2}
DRIVER=${DRIVER:-auto}
MIGRATE=${MIGRATE:-auto}
KEEPALIVE_CONNS=${KEEPALIVE_CONNS:-16}
CLOSE_CONNS=${CLOSE_CONNS:-8}

log() { printf 'upgrade: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

command -v wrk >/dev/null || die "wrk is not installed (.ci/run installs it)"
if [ -z "${BIN:-}" ]; then
    log "building ringnova (release)"
    cargo build --release --locked >&2
    BIN=target/release/ringnova
fi
[ -x "$BIN" ] || die "no binary at $BIN"

WORK=$(mktemp -d /tmp/ringnova-upgrade.XXXXXX)
SYSCTL=/proc/sys/net/ipv4/tcp_migrate_req
MIGRATE_BEFORE=$(cat "$SYSCTL" 2>/dev/null || echo unavailable)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    if [ "$MIGRATE_BEFORE" != unavailable ] && [ "$(cat "$SYSCTL" 2>/dev/null)" != "$MIGRATE_BEFORE" ]; then
        echo "$MIGRATE_BEFORE" >"$SYSCTL" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

case "$MIGRATE" in
    on) want=1 ;;
    off) want=0 ;;
    auto) want= ;;
    *) die "MIGRATE must be auto, on or off" ;;
esac
if [ -n "$want" ] && [ "$MIGRATE_BEFORE" != "$want" ]; then
    echo "$want" >"$SYSCTL" 2>/dev/null || log "cannot set tcp_migrate_req=$want here; going on"
fi
case "$(cat "$SYSCTL" 2>/dev/null || echo x)" in
    1) MODE="kernel migration (tcp_migrate_req=1)" ;;
    0) MODE="SYN filter + accept-queue drain (tcp_migrate_req=0)" ;;
    *) MODE="SYN filter + accept-queue drain (no tcp_migrate_req on this kernel)" ;;
esac
log "handover mode: $MODE; driver $DRIVER; $WORKERS workers; $ROUNDS rounds"

cat >"$WORK/ringnova.conf" <<EOF
[wsgi]
api_paste_config = $PWD/config/api-paste.ini
[ringnova]
access_log = false
log_level = info
shutdown_timeout = 10
EOF

# start NAME ADDR: starts a process and waits for its ready line; sets STARTED_PID and
# STARTED_PORT.
start() {
    local name=$1 addr=$2 out="$WORK/$1.out" i
    "$BIN" --config-file "$WORK/ringnova.conf" --listen "$addr" --workers "$WORKERS" \
        --driver "$DRIVER" --cpus off --data-dir "$WORK/data" >"$out" 2>"$WORK/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    for i in $(seq 1 200); do
        if grep -q "ringnova ready" "$out" 2>/dev/null; then
            STARTED_PORT=$(sed -n 's/.*http:\/\/[^ ]*:\([0-9]*\) .*/\1/p' "$out" | head -1)
            STARTED_PID=$pid
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$WORK/$name.err" >&2
    die "process $name did not become ready"
}

start A 127.0.0.1:0
PID=$STARTED_PID
PORT=$STARTED_PORT
URL="http://127.0.0.1:$PORT/v2.1/"
log "process A (pid $PID) serves $URL"

# Counts non-2xx responses (wrk's own count starts at 400) across threads.
cat >"$WORK/count.lua" <<'EOF'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non2xx = 0 end
function response(status, headers, body)
    if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
    local n = 0
    for _, t in ipairs(threads) do n = n + t:get("non2xx") end
    io.write(string.format("non-2xx: %d\n", n))
end
EOF

DURATION=$(( (ROUNDS + 1) * ROUND_SECS + 2 ))
wrk -t1 -c"$KEEPALIVE_CONNS" -d"${DURATION}s" --timeout 5s -s "$WORK/count.lua" "$URL" \
    >"$WORK/wrk-keepalive.txt" 2>&1 &
WRK1=$!
wrk -t1 -c"$CLOSE_CONNS" -d"${DURATION}s" --timeout 5s -s "$WORK/count.lua" \
    -H "Connection: close" "$URL" >"$WORK/wrk-close.txt" 2>&1 &
WRK2=$!
sleep "$ROUND_SECS"

names=(B C D E F G H I J K)
for round in $(seq 1 "$ROUNDS"); do
    name=${names[$(( (round - 1) % ${#names[@]} ))]}
    start "$name" "127.0.0.1:$PORT"
    NEXT=$STARTED_PID
    log "round $round: process $name (pid $NEXT) serves the port; SIGQUIT to pid $PID"
    kill -QUIT "$PID"
    for _ in $(seq 1 300); do
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$PID" 2>/dev/null && die "pid $PID did not exit within 15 s of SIGQUIT"
    wait "$PID" || die "pid $PID exited with status $?"
    PID=$NEXT
    sleep "$ROUND_SECS"
done

wait "$WRK1" || die "wrk (keep-alive) failed: $(cat "$WORK/wrk-keepalive.txt")"
wait "$WRK2" || die "wrk (new connection per request) failed: $(cat "$WORK/wrk-close.txt")"
kill -TERM "$PID"
wait "$PID" || true

failed=0
total=0
report() {
    local label=$1 file=$2 requests non2xx connect=0 read=0 write=0 timeout=0
    requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$file")
    non2xx=$(sed -n 's/^non-2xx: \([0-9]*\)/\1/p' "$file")
    if grep -q "Socket errors" "$file"; then
        read -r connect read write timeout < <(sed -n \
            's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$file")
    fi
    [ -n "$requests" ] && [ -n "$non2xx" ] || { cat "$file" >&2; die "cannot read wrk's report"; }
    printf '%-32s requests %8d  non-2xx %d  socket errors: connect %d read %d write %d timeout %d\n' \
        "$label" "$requests" "$non2xx" "$connect" "$read" "$write" "$timeout"
    total=$((total + requests))
    failed=$((failed + non2xx + connect + read + write + timeout))
}
echo "zero-downtime upgrade: $ROUNDS rounds, driver $DRIVER, $WORKERS workers, $MODE"
report "keep-alive ($KEEPALIVE_CONNS conns)" "$WORK/wrk-keepalive.txt"
report "new connection per request ($CLOSE_CONNS)" "$WORK/wrk-close.txt"
echo "total requests $total, failed $failed"
[ "$total" -gt 0 ] || die "no requests were made"
if [ "$failed" -ne 0 ]; then
    cat "$WORK"/*.err >&2
    die "$failed requests failed during the upgrade"
fi
log "OK: no request failed"
