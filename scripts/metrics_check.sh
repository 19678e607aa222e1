#!/usr/bin/env bash
# Checks GET /metrics with the Prometheus Python client's parser: creates a Python venv with
# prometheus-client from PyPI, builds ringnova (debug), and runs scripts/metrics_check.py,
# which starts the binary on loopback, makes known requests and validates both scrapes
# (families, types, label names and values, histograms, exact counts). Seconds long.
#
# Usage: scripts/metrics_check.sh
# Environment: METRICS_VENV (target/metrics-venv), METRICS_SPEC (prometheus-client==0.26.0).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${METRICS_VENV:-target/metrics-venv}"
SPEC="${METRICS_SPEC:-prometheus-client==0.26.0}"

if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import sys, importlib.metadata as m; sys.exit(m.version("prometheus-client") != sys.argv[1].split("==")[-1])' "$SPEC" 2>/dev/null; then
    timeout 300 "$VENV/bin/pip" install -q --disable-pip-version-check "$SPEC"
fi

cargo build --locked --quiet --bin ringnova
timeout 120 "$VENV/bin/python" scripts/metrics_check.py target/debug/ringnova
