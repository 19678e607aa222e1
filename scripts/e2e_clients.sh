#!/usr/bin/env bash
# End-to-end test with the real OpenStack clients: creates a Python venv with
# python-novaclient and openstacksdk from PyPI, starts the release binary on a
# loopback port with a fresh data directory, runs tests/e2e/real_clients.py
# against it and stops the server. Fails when any check fails.
#
# Usage: scripts/e2e_clients.sh          (venv kept in target/e2e-venv)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${E2E_VENV:-target/e2e-venv}"
PORT="${E2E_PORT:-18774}"

if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check python-novaclient openstacksdk

cargo build --release --locked --quiet
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ringnova-e2e.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

target/release/ringnova --config-file config/ringnova.conf --listen "127.0.0.1:$PORT" \
    --workers 2 --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/healthcheck"; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.1
done

status=0
timeout 300 "$VENV/bin/python" tests/e2e/real_clients.py "http://127.0.0.1:$PORT" || status=$?
if [[ $status != 0 ]]; then
    echo "--- server log ---"
    tail -n 50 "$WORK/server.log"
fi
exit $status
