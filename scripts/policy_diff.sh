#!/usr/bin/env bash
# Differential test of the policy engine against the reference, oslo.policy: creates a
# Python venv with oslo.policy from PyPI, builds ringnova (debug), and runs
# tests/policy_diff/gen_and_compare.py, which generates random rule expressions, named
# rules, credentials and targets, evaluates each case with oslo.policy and with
# `ringnova policy check --batch`, and fails on any difference.
#
# Usage: scripts/policy_diff.sh
# Environment: POLICY_DIFF_SEED (default random; printed), POLICY_DIFF_CASES (12000),
#              POLICY_VENV (target/policy-venv), OSLO_POLICY_SPEC (oslo.policy==6.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${POLICY_VENV:-target/policy-venv}"
SPEC="${OSLO_POLICY_SPEC:-oslo.policy==6.0.1}"

if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
timeout 300 "$VENV/bin/pip" install -q --disable-pip-version-check "$SPEC"

cargo build --locked --quiet --bin ringnova
timeout 120 "$VENV/bin/python" tests/policy_diff/gen_and_compare.py target/debug/ringnova
