#!/usr/bin/env bash
# Install what berth needs, build it, and run every test (unit and integration) with CTest.
# Needs root and no terminal, so it runs the same by hand, from a fresh clone and in CI.
# Extra arguments go to ctest, e.g. ./test.sh -R integration.Basics or ./test.sh -L integration.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
source tests/fixtures/common.sh

require_root
install_deps
build
debian_rootfs
exec ctest --test-dir build --output-on-failure "$@" </dev/null
