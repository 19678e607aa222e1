#!/usr/bin/env bash
# Runs every check and test of ringnova: formatting, lints, unit and integration tests under
# both I/O drivers, the real OpenStack clients (python-novaclient, openstacksdk) end to end
# against the release binary, the openstack CLI against the built-in identity endpoint
# (auth_strategy = token) and against noauth2, the policy engine against oslo.policy on random
# cases, the hardening checks (h11 framing comparison, schemathesis, zero-downtime upgrade,
# kill -9 crash safety, slow and abusive clients, every fuzz target for a few seconds),
# /metrics through the Prometheus client's parser, install.sh into a temporary root, and a
# seconds-long smoke run of the benchmark report. Optional steps have a SKIP_* switch:
# Usage: scripts/test.sh            (everything)
#        SKIP_E2E=1 SKIP_POLICY_DIFF=1 SKIP_H11=1 SKIP_SCHEMATHESIS=1 SKIP_UPGRADE=1 \
#        SKIP_CRASH=1 SKIP_METRICS=1 SKIP_ABUSE=1 SKIP_FUZZ=1 SKIP_BENCH_SMOKE=1 scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (unit, doc and integration tests; drivers: ${RINGNOVA_TEST_DRIVERS:-uring legacy})"
cargo test --locked -- --test-threads 4

step "embedding example: a program with its own API extension, self-test over loopback"
cargo run --locked --quiet --example embedded_extension -- --self-test

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

# SKIP_SCHEMATHESIS=1 skips the bounded schemathesis run against /openapi.json.
if [ -z "${SKIP_SCHEMATHESIS:-}" ]; then
    step "schemathesis against the served OpenAPI document (scripts/schemathesis.sh)"
    scripts/schemathesis.sh
fi

if [ -z "${SKIP_UPGRADE:-}" ]; then
    # SKIP_UPGRADE=1 skips it. Two rounds each: with kernel migration of queued connections
    # where the sysctl can be set, then with the socket-filter path; ~10 s per run.
    step "zero-downtime upgrade under load (scripts/upgrade.sh, CI-sized)"
    ROUNDS=2 ROUND_SECS=2 MIGRATE=on scripts/upgrade.sh
    ROUNDS=2 ROUND_SECS=2 MIGRATE=off DRIVER=legacy scripts/upgrade.sh
fi

if [ -z "${SKIP_CRASH:-}" ]; then
    step "crash safety: kill -9 under load, synchronous normal and full (scripts/crash_safety.sh)"
    scripts/crash_safety.sh
fi

if [ -z "${SKIP_METRICS:-}" ]; then
    step "GET /metrics through the Prometheus client's parser (scripts/metrics_check.sh)"
    scripts/metrics_check.sh
fi

if [ -z "${SKIP_ABUSE:-}" ]; then
    step "slow and abusive clients, idle connection memory (scripts/abuse.sh, CI size)"
    ABUSE_QUICK=1 scripts/abuse.sh
fi

if [ -z "${SKIP_BENCH_SMOKE:-}" ]; then
    step "benchmark report smoke run (bench/report.sh: 1 s per scenario, ringnova only, footprint, chart)"
    BENCH_QUICK=1 BENCH_SERVERS="${BENCH_SERVERS:-ringnova-legacy ringnova-uring}" bench/report.sh
fi

if [ -z "${SKIP_FUZZ:-}" ]; then
    step "fuzz targets, ${FUZZ_SECONDS:-10} s each (scripts/fuzz.sh)"
    scripts/fuzz.sh
fi

step "all checks passed"
