#!/usr/bin/env bash
# Differential test of ringnova's HTTP/1.1 framing against h11: creates a Python venv with
# h11 from PyPI, builds ringnova (debug), and runs scripts/h11_compare.py, which feeds every
# case of tests/desync_cases.json to h11 and, over loopback, to ringnova, prints each
# disagreement with its reason, and fails on any disagreement the corpus does not explain.
# Seconds long; see docs/desync.md.
#
# Usage: scripts/h11_compare.sh
# Environment: H11_VENV (target/h11-venv), H11_SPEC (h11==0.16.0).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${H11_VENV:-target/h11-venv}"
SPEC="${H11_SPEC:-h11==0.16.0}"

if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import sys, h11; sys.exit(h11.__version__ != sys.argv[1].split("==")[-1])' "$SPEC" 2>/dev/null; then
    timeout 300 "$VENV/bin/pip" install -q --disable-pip-version-check "$SPEC"
fi

cargo build --locked --quiet --bin ringnova
timeout 120 "$VENV/bin/python" scripts/h11_compare.py target/debug/ringnova
