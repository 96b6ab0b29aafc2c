#!/usr/bin/env bash
# tests/sanitize.sh [CTEST ARGS]: build berth with AddressSanitizer and UndefinedBehaviorSanitizer
# (build-asan/, BERTH_SANITIZE=ON) and run there the unit tests and the machined and machinectl
# integration tests: the programs they start (nspawn, machined, machinectl) are the sanitized ones, so a
# memory error, a leak at exit or undefined behaviour in any of them fails its test. test.sh runs this
# after the normal suite. Extra arguments go to ctest (default: -L 'unit|machined|machinectl').
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
source tests/fixtures/common.sh

require_root
dir=build-asan
step "configuring the sanitizer build" "see $dir/CMakeFiles/CMakeOutput.log and CMakeError.log"
if [[ ! -f $dir/build.ninja ]]; then
    say "configuring $dir/ (AddressSanitizer, UndefinedBehaviorSanitizer)"
    # -O0 (Debug): the sanitizers find the same errors, and the build takes half the time.
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBERTH_SANITIZE=ON >/dev/null
fi
step "building with sanitizers" "see the compiler's messages above"
# What the tests below run: not the nspawn integration tests, the probes or the benchmarks.
cmake --build "$dir" --target nspawn machined machinectl berth-unit-tests berth-machinectl-unit-tests \
    berth-machined-unit-tests berth-machined-tests berth-machinectl-tests

step "testing with sanitizers"
# Every report ends the process with an error (UBSan too: -fno-sanitize-recover), and says where.
# Full stacks on allocation (libsystemd has no frame pointers), so tests/lsan.supp can match its frames.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86:strict_string_checks=1:detect_stack_use_after_return=1:fast_unwind_on_malloc=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=exitcode=86:suppressions=$PWD/tests/lsan.supp
if (($#)); then
    ctest --test-dir "$dir" --output-on-failure "$@" </dev/null
else
    ctest --test-dir "$dir" --output-on-failure -L 'unit|machined|machinectl' </dev/null
fi
