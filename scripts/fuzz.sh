#!/usr/bin/env bash
# Builds every fuzz target (fuzz/, cargo-fuzz layout) and runs each for a bounded time.
#
# Stable Rust only: targets are built with `--sanitizer none` (no -Z flags), so no nightly
# toolchain is needed; libFuzzer's coverage instrumentation uses stable -C flags. Each target
# starts from its committed seeds (fuzz/seeds/<target>/) plus whatever an earlier run left in
# fuzz/corpus/<target>/ (not committed); a crash or timeout input goes to
# fuzz/artifacts/<target>/ and fails the script.
#
# Usage: scripts/fuzz.sh                       (every target, FUZZ_SECONDS each)
#        FUZZ_SECONDS=300 scripts/fuzz.sh http_framing chunked
# Knobs: FUZZ_SECONDS (10), FUZZ_RSS_MB (1024), FUZZ_TIMEOUT (10 s per input),
#        FUZZ_MAX_LEN (4096 bytes), FUZZ_CODEGEN_UNITS (16: a quicker build, slightly slower
#        runs), FUZZ_TOOLCHAIN (stable). A target's dictionary is fuzz/dicts/<target>.dict.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-10}"
rss_mb="${FUZZ_RSS_MB:-1024}"
timeout="${FUZZ_TIMEOUT:-10}"
max_len="${FUZZ_MAX_LEN:-4096}"
codegen_units="${FUZZ_CODEGEN_UNITS:-16}"
export RUSTUP_TOOLCHAIN="${FUZZ_TOOLCHAIN:-stable}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo fmt -- --check
flags=(--sanitizer none --release --debug-assertions --codegen-units "$codegen_units")
cargo fuzz build "${flags[@]}"

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "seeds/$target"
    options=(
        "-max_total_time=$seconds"
        "-rss_limit_mb=$rss_mb"
        "-malloc_limit_mb=$rss_mb"
        "-timeout=$timeout"
        "-max_len=$max_len"
        -print_final_stats=1
    )
    if [ -f "dicts/$target.dict" ]; then
        options+=("-dict=dicts/$target.dict")
    fi
    printf -- '--- %s (%s s)\n' "$target" "$seconds"
    log="$(mktemp)"
    if ! cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "seeds/$target" \
        -- "${options[@]}" >"$log" 2>&1; then
        tail -n 60 "$log"
        rm -f "$log"
        echo "fuzz target $target failed; the input is under fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
    printf 'corpus: %s inputs, %s bytes\n' "$(find "corpus/$target" -type f | wc -l)" \
        "$(find "corpus/$target" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')"
    rm -f "$log"
done
