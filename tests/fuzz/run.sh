#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS]: build the fuzz targets with clang (build-fuzz/, BERTH_FUZZ=ON: libFuzzer,
# AddressSanitizer, UndefinedBehaviorSanitizer) and run each for SECONDS (default 30, or
# $BERTH_FUZZ_SECONDS) from its seed corpus in tests/fuzz/corpus/TARGET. The corpus is copied first: what
# a run finds stays in build-fuzz/corpus, the committed seeds do not change. A crash, a leak, a sanitizer
# report or a violated property fails the run, naming the target and the input (build-fuzz/artifacts/);
# add that input as a regression test. test.sh runs this after the normal suite.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
source tests/fixtures/common.sh

seconds=${1:-${BERTH_FUZZ_SECONDS:-30}}
dir=build-fuzz
step "configuring the fuzz build" "see $dir/CMakeFiles/CMakeOutput.log and CMakeError.log"
if [[ ! -f $dir/build.ninja ]]; then
    say "configuring $dir/ (clang, libFuzzer, ASan, UBSan)"
    CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTH_FUZZ=ON \
        -DBUILD_TESTING=OFF >/dev/null
fi
step "building the fuzz targets" "see the compiler's messages above"
cmake --build "$dir" --target fuzz-targets

step "fuzzing"
mkdir -p "$dir/artifacts" "$dir/corpus"
failed=()
for seeds in tests/fuzz/corpus/*/; do
    target=$(basename "$seeds")
    corpus=$dir/corpus/$target
    mkdir -p "$corpus"
    cp -n "$seeds"* "$corpus"/ 2>/dev/null || true
    log=$dir/artifacts/$target.log
    if "$dir/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/$target-" "$corpus" >"$log" 2>&1; then
        say "fuzz $target: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs, no finding"
    else
        say "fuzz $target: FAILED, see $log and $dir/artifacts/$target-*"
        grep -E 'ERROR|runtime error|property violated|SUMMARY' "$log" | head -5 >&2 || true
        failed+=("$target")
    fi
done
if ((${#failed[@]})); then
    die "fuzzing found problems in: ${failed[*]} (inputs in $dir/artifacts/)"
fi
