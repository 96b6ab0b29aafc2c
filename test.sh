#!/usr/bin/env bash
# Install what berth needs, build it, and run every test: unit and integration with CTest, then the
# sanitizer build's tests (tests/sanitize.sh) and the fuzz targets (tests/fuzz/run.sh).
# Needs root and no terminal, so it runs the same by hand, from a fresh clone and in CI.
# Extra arguments go to ctest, e.g. ./test.sh -R integration.Basics or ./test.sh -L integration.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
source tests/fixtures/common.sh

require_root
install_deps
build
debian_rootfs
# With arguments: just those tests of the normal build.
if (($#)); then
    exec ctest --test-dir build --output-on-failure "$@" </dev/null
fi
step "running the tests" "see the failed tests' output above"
ctest --test-dir build --output-on-failure </dev/null
# Then the unit, machined and machinectl tests again in a build with AddressSanitizer and
# UndefinedBehaviorSanitizer, and every fuzz target for a bounded time (tests/fuzz/run.sh).
# Each reports its own failure in one line, and test.sh adds none (BERTH_NESTED).
step "testing with sanitizers"
BERTH_NESTED=1 tests/sanitize.sh
step "fuzzing"
BERTH_NESTED=1 tests/fuzz/run.sh
