#!/usr/bin/env bash
# End-to-end test of auth_strategy = token with the clients users type: creates a Python
# venv (target/e2e-identity-venv) with python-openstackclient and openstacksdk from PyPI,
# starts the release binary with auth_strategy = token and a bootstrap file, and runs
# `openstack --os-auth-url http://127.0.0.1:PORT/identity …` commands plus an openstacksdk
# session. Prints one line per check and `N passed, N failed` last; exits non-zero on any
# failure. Bounded: every client command has a timeout, the whole run a few minutes.
#
# Usage: scripts/e2e_identity.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${E2E_IDENTITY_VENV:-target/e2e-identity-venv}"
PORT="${E2E_IDENTITY_PORT:-18775}"
ROOT="$(pwd)"

if [[ ! -x "$VENV/bin/openstack" ]]; then
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check \
        python-openstackclient openstacksdk
fi

cargo build --release --locked --quiet
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ringnova-e2e-identity.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/bootstrap.ini" <<'INI'
[project:admin]
[project:demo]
[user:admin]
password = e2e-admin-pw
admin = admin
[user:alice]
password = e2e-alice-pw
member = demo
INI
cat >"$WORK/ringnova.conf" <<CONF
[api]
auth_strategy = token
[wsgi]
api_paste_config = $ROOT/config/api-paste.ini
[identity]
bootstrap_file = $WORK/bootstrap.ini
CONF

target/release/ringnova --config-file "$WORK/ringnova.conf" --listen "127.0.0.1:$PORT" \
    --workers 2 --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/healthcheck"; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.1
done

AUTH_URL="http://127.0.0.1:$PORT/identity"
passed=0
failed=0
# check NAME PATTERN COMMAND…: passes when the command succeeds and its output matches
# the extended regular expression PATTERN.
check() {
    local name="$1" pattern="$2"
    shift 2
    local out
    if out="$("$@" 2>&1)" && grep -Eq -- "$pattern" <<<"$out"; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        sed 's/^/     | /' <<<"$out" | tail -n 15
        failed=$((failed + 1))
    fi
}
# os USER PASSWORD PROJECT ARGS…: the openstack CLI as a user would type it.
os() {
    local user="$1" password="$2" project="$3"
    shift 3
    timeout 120 env -u OS_CLOUD "$VENV/bin/openstack" --os-auth-url "$AUTH_URL" \
        --os-username "$user" --os-password "$password" --os-project-name "$project" \
        --os-user-domain-name Default --os-project-domain-name Default \
        --os-identity-api-version 3 --os-interface public "$@"
}

check "openstack token issue" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' os admin e2e-admin-pw admin token issue -f value -c expires
check "openstack flavor list" 'm1\.tiny' os admin e2e-admin-pw admin flavor list
check "openstack flavor show m1.tiny" '"ram": 512' os admin e2e-admin-pw admin flavor show m1.tiny -f json
check "openstack keypair create" 'e2e-key' os alice e2e-alice-pw demo keypair create e2e-key --private-key "$WORK/e2e-key.pem" -f value -c name
check "openstack keypair list" 'e2e-key' os alice e2e-alice-pw demo keypair list
check "openstack keypair delete" '^$' os alice e2e-alice-pw demo keypair delete e2e-key
check "openstack limits show --absolute" 'total_ram +\| +51200' os alice e2e-alice-pw demo limits show --absolute
check "openstack quota show" 'key-pairs|key_pairs' os alice e2e-alice-pw demo quota show
# check_fails NAME COMMAND…: passes when the command fails.
check_fails() {
    local name="$1"
    shift
    if "$@" >/dev/null 2>&1; then
        echo "FAIL $name (the command succeeded)"
        failed=$((failed + 1))
    else
        echo "ok   $name"
        passed=$((passed + 1))
    fi
}
check_fails "wrong password is refused" os alice wrong-pw demo flavor list
check "openstacksdk session lists flavors" 'm1\.tiny' timeout 120 "$VENV/bin/python" - "$AUTH_URL" <<'PY'
import sys
import openstack

conn = openstack.connect(
    auth_url=sys.argv[1], username="alice", password="e2e-alice-pw", project_name="demo",
    user_domain_name="Default", project_domain_name="Default",
)
names = sorted(f.name for f in conn.compute.flavors())
assert "m1.tiny" in names, names
print(" ".join(names))
PY

if [[ $failed != 0 ]]; then
    echo "--- server log ---"
    tail -n 30 "$WORK/server.log"
fi
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
