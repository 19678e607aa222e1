#!/usr/bin/env bash
# The openstack CLI end to end, as a user types it, against both ways of authenticating:
#   noauth   [api] auth_strategy = noauth2, clouds.yaml `auth_type: admin_token` with the
#            token `admin:admin` and the compute endpoint (no Keystone anywhere);
#   token    [api] auth_strategy = token, clouds.yaml `auth_type: password` against
#            ringnova's own identity endpoint (/identity).
# For each: flavor list/create/show/delete, keypair create/list/delete, server
# create/list/show/delete (waiting for ACTIVE and for the delete, as `--wait` does),
# quota show, limits show. Installs python-openstackclient from PyPI into
# target/e2e-identity-venv (shared with scripts/e2e_identity.sh), starts two release
# servers on loopback with fresh data directories, and stops them on exit. Prints one line
# per check and `N passed, N failed` last; exits non-zero on any failure. Bounded: every
# command has a timeout, the fake driver builds in 1 s.
#
# Usage: scripts/e2e_cli.sh
#        E2E_CLI_CLOUDS=ringnova-token scripts/e2e_cli.sh     (one of the two)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${E2E_IDENTITY_VENV:-target/e2e-identity-venv}"
NOAUTH_PORT="${E2E_CLI_PORT:-18776}"
TOKEN_PORT=$((NOAUTH_PORT + 1))
ROOT="$(pwd)"
# The image ringnova seeds by default.
IMAGE=70a599e0-31e7-49b7-b260-868f441e862b

if [[ ! -x "$VENV/bin/openstack" ]]; then
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check \
        python-openstackclient openstacksdk
fi

cargo build --release --locked --quiet
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ringnova-e2e-cli.XXXXXX")"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/bootstrap.ini" <<'INI'
[project:admin]
[project:demo]
[user:admin]
password = cli-admin-pw
admin = admin
[user:alice]
password = cli-alice-pw
member = demo
INI
for mode in noauth token; do
    strategy=noauth2
    [[ $mode == token ]] && strategy=token
    cat >"$WORK/$mode.conf" <<CONF
[api]
auth_strategy = $strategy
[wsgi]
api_paste_config = $ROOT/config/api-paste.ini
[identity]
bootstrap_file = $WORK/bootstrap.ini
[fake_driver]
build_time = 1
delete_time = 0.2
[ringnova]
access_log = false
CONF
done

start() { # mode port
    target/release/ringnova --config-file "$WORK/$1.conf" --listen "127.0.0.1:$2" \
        --workers 2 --data-dir "$WORK/data-$1" >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    local pid=$!
    for _ in $(seq 1 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$2/healthcheck"; then return 0; fi
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/$1.log"; exit 1; }
        sleep 0.1
    done
    echo "ringnova ($1) did not start" >&2
    exit 1
}
start noauth "$NOAUTH_PORT"
start token "$TOKEN_PORT"

# What a user writes in ~/.config/openstack/clouds.yaml (the README shows the same).
cat >"$WORK/clouds.yaml" <<YAML
clouds:
  ringnova-noauth:
    auth_type: admin_token
    auth:
      endpoint: http://127.0.0.1:$NOAUTH_PORT/v2.1
      token: "admin:admin"
    identity_api_version: 3
    identity_endpoint_override: http://127.0.0.1:$NOAUTH_PORT/identity/v3
  ringnova-token:
    auth_type: password
    auth:
      auth_url: http://127.0.0.1:$TOKEN_PORT/identity
      username: admin
      password: cli-admin-pw
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    identity_api_version: 3
    # No image service: the CLI's lookup of an image by ID is answered by the compute API's
    # images proxy.
    image_endpoint_override: http://127.0.0.1:$TOKEN_PORT/v2.1
YAML

passed=0
failed=0
# check NAME PATTERN COMMAND…: passes when the command succeeds and its output matches the
# extended regular expression PATTERN.
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
# check_not NAME PATTERN COMMAND…: passes when the command succeeds and PATTERN is absent.
check_not() {
    local name="$1" pattern="$2"
    shift 2
    local out
    if out="$("$@" 2>&1)" && ! grep -Eq -- "$pattern" <<<"$out"; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        sed 's/^/     | /' <<<"$out" | tail -n 15
        failed=$((failed + 1))
    fi
}

CLOUD=""
os() {
    OS_CLIENT_CONFIG_FILE="$WORK/clouds.yaml" timeout 120 env -u OS_CLOUD \
        "$VENV/bin/openstack" --os-cloud "$CLOUD" "$@"
}

suite() { # cloud
    CLOUD="$1"
    local c="[$1]" flavor="cli.flavor.$1" key="cli-key-$1" vm="cli-vm-$1"
    check "$c flavor list" 'm1\.tiny' os flavor list
    check "$c flavor create" "^$flavor\$" os flavor create --ram 256 --disk 1 --vcpus 1 \
        "$flavor" -f value -c name
    check "$c flavor show" '"ram": 256' os flavor show "$flavor" -f json
    check "$c flavor delete" '^$' os flavor delete "$flavor"
    check_not "$c flavor list after delete" "$flavor" os flavor list
    check "$c keypair create" "^$key\$" os keypair create "$key" \
        --private-key "$WORK/$key.pem" -f value -c name
    check "$c keypair create wrote the private key" 'PRIVATE KEY' cat "$WORK/$key.pem"
    check "$c keypair list" "$key" os keypair list
    check "$c keypair delete" '^$' os keypair delete "$key"
    check_not "$c keypair list after delete" "$key" os keypair list
    check "$c server create --wait" '^ACTIVE$' os server create --flavor m1.tiny \
        --image "$IMAGE" --nic none --wait "$vm" -f value -c status
    check "$c server list" "$vm +\| ACTIVE" os server list
    check "$c server show" '"status": "ACTIVE"' os server show "$vm" -f json
    check "$c server delete --wait" '^$' os server delete --wait "$vm"
    check_not "$c server list after delete" "$vm" os server list
    check "$c quota show --compute admin" 'instances +\| +10' os quota show --compute admin
    check "$c limits show --absolute" 'total_ram +\| +51200' os limits show --absolute
}

for cloud in ${E2E_CLI_CLOUDS:-ringnova-noauth ringnova-token}; do
    suite "$cloud"
done
# The token endpoint refuses a wrong password.
CLOUD=ringnova-token
if os --os-password wrong flavor list >/dev/null 2>&1; then
    echo "FAIL [ringnova-token] wrong password refused (the command succeeded)"
    failed=$((failed + 1))
else
    echo "ok   [ringnova-token] wrong password refused"
    passed=$((passed + 1))
fi

if [[ $failed != 0 ]]; then
    for mode in noauth token; do
        echo "--- server log ($mode) ---"
        tail -n 20 "$WORK/$mode.log"
    done
fi
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
