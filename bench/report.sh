#!/usr/bin/env bash
# The whole benchmark report in one command: runs every scenario — bench/run.sh's matrix
# (BENCH_SET=all: ringnova under both drivers and the peers in bench/peers/, GET /,
# /healthcheck, flavors/detail, os-keypairs, the peer's /db), bench/servers.sh,
# bench/mixed_rw.sh, bench/instructions.sh (when valgrind is installed), the identity and
# policy micro-benchmarks (examples/token_verify_bench.rs, benches/policy.rs) and
# bench/footprint.sh — printing a progress line per step, then rewrites the generated block of
# bench/RESULTS.md (between the `BEGIN bench/report.sh` and `END bench/report.sh` markers;
# the hand-written analysis outside it is kept) and draws bench/results.png (µs/request,
# req/s and p99 per scenario) with matplotlib from a venv in target/bench-venv.
#
# Environment:
#   BENCH_QUICK=1        CI smoke: 1 s runs of run.sh only, a 3-start footprint, no servers,
#                        mixed or instructions runs; writes bench/out/RESULTS.md and
#                        bench/out/results.png instead of the committed files
#   BENCH_SECONDS        seconds per wrk run for run.sh (default 10), servers.sh and
#                        mixed_rw.sh (their defaults otherwise)
#   BENCH_SERVERS        passed to run.sh (default: all five servers)
#   REPORT_INSTRUCTIONS  0 skips the callgrind counts (default: run them when valgrind exists)
#   REPORT_MICRO         0 skips the identity and policy micro-benchmarks
#   REPORT_OUT, REPORT_PNG  where the report and the chart go
#
# Usage: bench/report.sh                 (the full matrix; tens of minutes)
#        BENCH_QUICK=1 BENCH_SERVERS="ringnova-legacy ringnova-uring" bench/report.sh
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK="${BENCH_QUICK:-0}"
if [[ "$QUICK" == 1 ]]; then
    OUT="${REPORT_OUT:-bench/out/RESULTS.md}"
    PNG="${REPORT_PNG:-bench/out/results.png}"
else
    OUT="${REPORT_OUT:-bench/RESULTS.md}"
    PNG="${REPORT_PNG:-bench/results.png}"
fi
PARTS=bench/out/report
VENV=target/bench-venv
BEGIN_MARK='<!-- BEGIN bench/report.sh: generated, do not edit by hand (rerun bench/report.sh) -->'
END_MARK='<!-- END bench/report.sh -->'
mkdir -p "$PARTS" "$(dirname "$OUT")" "$(dirname "$PNG")"
rm -f "$PARTS"/*.md

STARTED=$SECONDS
STEPS=8
STEP=0
progress() {
    STEP=$((STEP + 1))
    local t=$((SECONDS - STARTED))
    printf '[report %d/%d, %dm%02ds] %s\n' "$STEP" "$STEPS" $((t / 60)) $((t % 60)) "$*" >&2
}
skipped() { printf '_(%s)_\n' "$1" >"$PARTS/$2.md"; }
# A script's report without its own title line and the blank lines after it.
untitled() { sed -e '1{/^# /d}' | sed -e '/./,$!d'; }

progress "building the release binary and the chart's venv ($VENV, matplotlib from PyPI)"
cargo build --release --locked --quiet
if ! "$VENV/bin/python" -c 'import matplotlib' >/dev/null 2>&1; then
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check matplotlib
fi
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

progress "bench/run.sh — the matrix (BENCH_SET=all${BENCH_SERVERS:+, BENCH_SERVERS=$BENCH_SERVERS})"
BENCH_SET=all bench/run.sh >/dev/null
# The runner's own title goes; its sub-headings move under ours.
untitled <bench/out/latest.md | sed -e 's/^## /#### /' >"$PARTS/matrix.md"

if [[ "$QUICK" == 1 ]]; then
    progress "bench/servers.sh — skipped in the quick run"
    skipped "not run in the quick smoke run" servers
    progress "bench/mixed_rw.sh — skipped in the quick run"
    skipped "not run in the quick smoke run" mixed
    progress "bench/instructions.sh — skipped in the quick run"
    skipped "not run in the quick smoke run" instructions
    progress "identity and policy micro-benchmarks — skipped in the quick run"
    skipped "not run in the quick smoke run" micro
else
    progress "bench/servers.sh — POST /servers and servers/detail"
    bench/servers.sh | untitled >"$PARTS/servers.md"
    progress "bench/mixed_rw.sh — reads with and without concurrent writes"
    bench/mixed_rw.sh | untitled >"$PARTS/mixed.md"
    if [[ "${REPORT_INSTRUCTIONS:-1}" != 0 ]] && command -v valgrind >/dev/null 2>&1; then
        progress "bench/instructions.sh — callgrind instruction counts (BENCH_SET=all)"
        BENCH_SET=all bench/instructions.sh | untitled >"$PARTS/instructions.md"
    else
        progress "bench/instructions.sh — skipped (valgrind missing or REPORT_INSTRUCTIONS=0)"
        skipped "not run: valgrind missing or REPORT_INSTRUCTIONS=0" instructions
    fi
    if [[ "${REPORT_MICRO:-1}" != 0 ]]; then
        progress "identity and policy micro-benchmarks (token_verify_bench, cargo bench --bench policy)"
        {
            echo "- commands: \`cargo run --release --example token_verify_bench\`, \`cargo bench --bench policy -- --quick\`; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
            echo
            echo '```'
            cargo run --release --locked --quiet --example token_verify_bench
            cargo bench --locked --quiet --bench policy -- --quick 2>/dev/null | grep -v -E '^(Benchmarking|Gnuplot|WARNING|$)' || true
            echo '```'
        } >"$PARTS/micro.md"
    else
        progress "identity and policy micro-benchmarks — skipped (REPORT_MICRO=0)"
        skipped "not run: REPORT_MICRO=0" micro
    fi
fi

progress "bench/footprint.sh — binary size, idle RSS, start-to-first-response"
RINGNOVA_BIN=target/release/ringnova bench/footprint.sh >"$PARTS/footprint.md"

progress "writing $OUT and $PNG"
{
    echo "$BEGIN_MARK"
    echo
    echo "## Generated report"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD 2>/dev/null || echo ' (work tree has changes)')"
    echo "- command: \`${BENCH_QUICK:+BENCH_QUICK=$BENCH_QUICK }${BENCH_SECONDS:+BENCH_SECONDS=$BENCH_SECONDS }${BENCH_SERVERS:+BENCH_SERVERS=\"$BENCH_SERVERS\" }bench/report.sh\` ($(( (SECONDS - STARTED) / 60 )) min)"
    echo "- machine: $(nproc) CPUs, kernel $(uname -r); load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "![µs/request, req/s and p99 per scenario]($(basename "$PNG"))"
    echo
    echo "### Edge footprint (bench/footprint.sh)"
    echo
    cat "$PARTS/footprint.md"
    echo
    echo "### Full matrix (bench/run.sh, BENCH_SET=all)"
    echo
    cat "$PARTS/matrix.md"
    echo
    echo "### Servers (bench/servers.sh)"
    echo
    cat "$PARTS/servers.md"
    echo
    echo "### Mixed reads and writes (bench/mixed_rw.sh)"
    echo
    cat "$PARTS/mixed.md"
    echo
    echo "### Instruction counts (bench/instructions.sh)"
    echo
    cat "$PARTS/instructions.md"
    echo
    echo "### Identity and policy micro-benchmarks"
    echo
    cat "$PARTS/micro.md"
    echo
    echo "$END_MARK"
} >"$PARTS/generated.md"

# Splice: the committed file's text outside the markers is kept; the block is replaced (or
# appended when the file has none).
python3 - bench/RESULTS.md "$PARTS/generated.md" "$OUT" "$BEGIN_MARK" "$END_MARK" <<'PY'
import sys

source, block, out, begin, end = sys.argv[1:6]
text = open(source, encoding="utf-8").read() if source else ""
generated = open(block, encoding="utf-8").read().rstrip("\n") + "\n"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    text = head + generated.rstrip("\n") + tail
else:
    text = text.rstrip("\n") + "\n\n" + generated
open(out, "w", encoding="utf-8").write(text)
PY
"$VENV/bin/python" bench/plot_results.py "$PARTS/generated.md" "$PNG" \
    "ringnova and peers, $(date -u '+%Y-%m-%d') (load before: $LOAD_BEFORE)"
[[ -s "$PNG" ]] || { echo "report: no chart written" >&2; exit 1; }
grep -qF "$BEGIN_MARK" "$OUT" || { echo "report: $OUT has no generated block" >&2; exit 1; }
t=$((SECONDS - STARTED))
printf '[report done, %dm%02ds] %s, %s\n' $((t / 60)) $((t % 60)) "$OUT" "$PNG" >&2
