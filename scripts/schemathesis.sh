#!/usr/bin/env bash
# Fuzzes the compute API with schemathesis against its own OpenAPI document: creates a Python
# venv with schemathesis and openapi-spec-validator from PyPI, starts ringnova on a free
# loopback port with a scratch data directory, checks that the served document is valid
# OpenAPI 3.0, and runs `schemathesis run` on http://…/openapi.json as the noauth2 admin at
# the newest microversion. Checks: no 5xx (not_a_server_error), every status declared
# (2XX, or 4XX with a Nova fault body), declared content types and fault bodies that match
# the fault schema. Bounded: a fixed seed, a few examples per operation, a per-request
# timeout and an overall timeout. Fails on any finding.
#
# Usage: scripts/schemathesis.sh
#   SCHEMATHESIS_EXAMPLES=N  examples per operation and phase (default 3)
#   RINGNOVA_BIN=PATH        binary to test (default: the debug build, built if needed)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${SCHEMATHESIS_VENV:-target/schemathesis-venv}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-3}"
VERSION_HEADER="OpenStack-API-Version: compute 2.60"

if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check schemathesis openapi-spec-validator

BIN="${RINGNOVA_BIN:-}"
if [[ -z "$BIN" ]]; then
    cargo build --locked --quiet
    BIN=target/debug/ringnova
fi

mkdir -p target
WORK="$(mktemp -d "$PWD/target/schemathesis-run.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Port 0: the kernel picks a free port; the first line of stdout names it. The file exists
# before the server starts, so the first poll cannot race the shell's redirection.
: >"$WORK/stdout"
"$BIN" --config-file config/ringnova.conf --listen 127.0.0.1:0 --workers 2 --driver legacy \
    --cpus off --data-dir "$WORK/data" >"$WORK/stdout" 2>"$WORK/server.log" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 1 200); do
    ADDR="$(sed -n '1s|.*http://\([0-9.:]*\).*|\1|p' "$WORK/stdout")"
    [[ -n "$ADDR" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.1
done
[[ -n "$ADDR" ]] || { echo "ringnova did not start"; cat "$WORK/server.log"; exit 1; }

# The served document must be valid OpenAPI 3.0 before anything is generated from it.
"$VENV/bin/python" - "$ADDR" <<'PY'
import json, sys, urllib.request
from openapi_spec_validator import validate
with urllib.request.urlopen(f"http://{sys.argv[1]}/openapi.json", timeout=10) as resp:
    validate(json.load(resp))
print("openapi.json: valid OpenAPI 3.0")
PY

# Objects for the path parameters, so requests get past the lookups to validation: a private
# flavor shared with the caller's project (extra spec k1), a key pair, an ACTIVE server
# (metadata k1) and a snapshot of it. DELETE keeps generated ids, so the objects last the run.
python3 - "$ADDR" "$WORK/schemathesis.toml" <<'PY'
import json, sys, time, urllib.request

addr, config = sys.argv[1], sys.argv[2]
headers = {"X-Auth-Token": "admin:admin", "OpenStack-API-Version": "compute 2.60",
           "Content-Type": "application/json"}

def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{addr}/v2.1{path}", data=data, method=method,
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read()
        return json.loads(text) if text else None

flavor = call("POST", "/flavors", {"flavor": {"name": "fuzz", "ram": 64, "vcpus": 1,
              "disk": 0, "os-flavor-access:is_public": False}})["flavor"]["id"]
call("POST", f"/flavors/{flavor}/action", {"addTenantAccess": {"tenant": "admin"}})
call("POST", f"/flavors/{flavor}/os-extra_specs", {"extra_specs": {"k1": "v1"}})
call("POST", "/os-keypairs", {"keypair": {"name": "fuzz"}})
server = call("POST", "/servers", {"server": {"name": "fuzz", "flavorRef": flavor,
              "imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "networks": "none",
              "metadata": {"k1": "v1"}}})["server"]["id"]
deadline = time.time() + 30
def settle():
    while time.time() < deadline:
        shown = call("GET", f"/servers/{server}")["server"]
        if shown["status"] == "ACTIVE" and shown["OS-EXT-STS:task_state"] is None:
            return
        time.sleep(0.1)
    sys.exit(f"server {server} did not become ACTIVE")
settle()
image = call("POST", f"/servers/{server}/action", {"createImage": {"name": "fuzz"}})["image_id"]
settle()

fixed = {
    "/v2.1/flavors/{id}": {"path.id": flavor},
    "/v2.1/flavors/{id}/action": {"path.id": flavor},
    "/v2.1/flavors/{flavor_id}/os-flavor-access": {"path.flavor_id": flavor},
    "/v2.1/flavors/{flavor_id}/os-extra_specs": {"path.flavor_id": flavor},
    "/v2.1/flavors/{flavor_id}/os-extra_specs/{id}": {"path.flavor_id": flavor, "path.id": "k1"},
    "/v2.1/os-keypairs/{id}": {"path.id": "fuzz"},
    "/v2.1/os-quota-sets/{id}": {"path.id": "admin"},
    "/v2.1/os-quota-sets/{id}/detail": {"path.id": "admin"},
    "/v2.1/os-quota-sets/{id}/defaults": {"path.id": "admin"},
    "/v2.1/servers/{id}": {"path.id": server},
    "/v2.1/servers/{id}/action": {"path.id": server},
    "/v2.1/servers/{server_id}/metadata": {"path.server_id": server},
    "/v2.1/servers/{server_id}/metadata/{id}": {"path.server_id": server, "path.id": "k1"},
    "/v2.1/images/{id}": {"path.id": image},
    "/v2.1/versions/{id}": {"path.id": "v2.1"},
}
with open(config, "w") as out:
    for path, params in fixed.items():
        out.write("[[operations]]\n")
        out.write(f"include-path = {json.dumps(path)}\n")
        out.write('exclude-method = "DELETE"\n')
        pairs = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in params.items())
        out.write(f"parameters = {{ {pairs} }}\n\n")
PY

# From the scratch directory, so schemathesis's cache of earlier findings (.schemathesis/)
# never outlives the run.
# One worker thread: with two, hypothesis (describing a strategy's lambdas by parsing their
# source) now and then hits a CPython 3.11 ast bug when both threads parse at once ("AST
# constructor recursion depth mismatch"), which schemathesis reports as a runtime error.
status=0
cd "$WORK"
timeout 240 "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" \
    run "http://$ADDR/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --header "X-Auth-Token: admin:admin" \
    --header "$VERSION_HEADER" \
    --phases examples,coverage,fuzzing \
    --max-examples "$EXAMPLES" \
    --seed 20261130 \
    --workers 1 \
    --request-timeout 10 \
    --generation-database none \
    --suppress-health-check all \
    --no-color || status=$?
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "ringnova exited during the run"
    status=1
fi
if [[ $status != 0 ]]; then
    echo "--- server log (last 50 lines) ---"
    tail -n 50 "$WORK/server.log"
fi
exit $status
