#!/usr/bin/env bash
# Runs every check and test of ringnova: formatting, lints, unit and integration tests under
# both I/O drivers, the real OpenStack clients (python-novaclient, openstacksdk) end to end
# against the release binary, the openstack CLI against the built-in identity endpoint
# (auth_strategy = token) and against noauth2, the policy engine against oslo.policy on random cases, the HTTP
# framing against h11 on the desync corpus, install.sh into a temporary root, and a
# seconds-long smoke run of the benchmark report.
# Usage: scripts/test.sh            (everything)
#        SKIP_E2E=1 SKIP_POLICY_DIFF=1 SKIP_H11=1 SKIP_BENCH_SMOKE=1 scripts/test.sh
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
    step "the openstack CLI end to end, noauth2 and token endpoints (scripts/e2e_cli.sh)"
    scripts/e2e_cli.sh
fi

step "install.sh into temporary DESTDIRs, the systemd unit verified (scripts/install_test.sh)"
scripts/install_test.sh

if [ -z "${SKIP_POLICY_DIFF:-}" ]; then
    step "policy engine against oslo.policy (scripts/policy_diff.sh)"
    scripts/policy_diff.sh
fi

if [ -z "${SKIP_H11:-}" ]; then
    step "HTTP framing against h11 on the desync corpus (scripts/h11_compare.sh)"
    scripts/h11_compare.sh
fi

if [ -z "${SKIP_BENCH_SMOKE:-}" ]; then
    step "benchmark report smoke run (bench/report.sh: 1 s per scenario, ringnova only, footprint, chart)"
    BENCH_QUICK=1 BENCH_SERVERS="${BENCH_SERVERS:-ringnova-legacy ringnova-uring}" bench/report.sh
fi

step "all checks passed"
