#!/usr/bin/env bash
# Runs every check and test of ringnova: formatting, lints, unit and integration tests under
# both I/O drivers, the real OpenStack clients (python-novaclient, openstacksdk) end to end
# against the release binary, the openstack CLI against the built-in identity endpoint
# (auth_strategy = token), the policy engine against oslo.policy on random cases, and a
# seconds-long benchmark smoke run, and every fuzz target for a few seconds (scripts/fuzz.sh).
# Usage: scripts/test.sh            (everything)
#        SKIP_E2E=1 SKIP_POLICY_DIFF=1 SKIP_BENCH_SMOKE=1 SKIP_FUZZ=1 scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (unit, doc and integration tests; drivers: ${RINGNOVA_TEST_DRIVERS:-uring legacy})"
cargo test --locked -- --test-threads 4

if [ -z "${SKIP_E2E:-}" ]; then
    step "real OpenStack clients end to end (scripts/e2e_clients.sh)"
    scripts/e2e_clients.sh
    step "auth_strategy = token end to end: openstack CLI and openstacksdk (scripts/e2e_identity.sh)"
    scripts/e2e_identity.sh
fi

if [ -z "${SKIP_POLICY_DIFF:-}" ]; then
    step "policy engine against oslo.policy (scripts/policy_diff.sh)"
    scripts/policy_diff.sh
fi

if [ -z "${SKIP_BENCH_SMOKE:-}" ]; then
    step "benchmark smoke run (1 s per scenario, ringnova only)"
    BENCH_QUICK=1 BENCH_SERVERS="${BENCH_SERVERS:-ringnova-legacy ringnova-uring}" bench/run.sh
fi

if [ -z "${SKIP_FUZZ:-}" ]; then
    step "fuzz targets, ${FUZZ_SECONDS:-10} s each (scripts/fuzz.sh)"
    scripts/fuzz.sh
fi

step "all checks passed"
