#!/bin/bash
# Captures systemd-machined's own introspection (Debian 12: systemd-container 252.x) into this directory:
# the ground truth tests/integration/machined_introspect_test.cpp compares berth's machined with.
#   flock /tmp/berth-tests.lock tests/data/capture-systemd-machine1.sh
# systemd-machined writes its state under /run/systemd: a tmpfs there, in a mount namespace of the
# script's own, keeps the host's untouched. The bus is a private dbus-daemon in a temporary directory;
# both daemons are stopped and the directory removed before the script returns.
set -euo pipefail
# Re-executes itself in a mount namespace of its own first: the tmpfs below must never cover the host's
# /run/systemd (whether this shell is in the host's namespace cannot be told reliably from inside).
if [ -z "${BERTH_CAPTURE_NAMESPACE:-}" ]; then
    BERTH_CAPTURE_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@"
fi
out=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/machine1-capture.XXXXXX)
machined_pid=""
bus_pid=""
cleanup() {
    set +e  # every step, whatever one before did (a daemon already gone)
    [ -z "$machined_pid" ] || { kill "$machined_pid"; wait "$machined_pid" || true; }
    [ -z "$bus_pid" ] || kill "$bus_pid"
    rm -rf "$dir"
}
trap cleanup EXIT
mount -t tmpfs tmpfs /run/systemd
# A system bus on which anyone may own and call anything: only introspection is asked for.
# shellcheck source=tests/fixtures/private-bus.sh
source "$out/../fixtures/private-bus.sh"
private_bus_config "$dir"
bus_pid=$(start_private_bus "$dir")
address=unix:path=$dir/bus.sock
DBUS_SYSTEM_BUS_ADDRESS=$address /lib/systemd/systemd-machined &
machined_pid=$!
for _ in $(seq 100); do
    busctl --address="$address" status org.freedesktop.machine1 >/dev/null 2>&1 && break
    sleep 0.1
done
version=$(/lib/systemd/systemd-machined --version | head -1)
# Only the org.freedesktop.machine1.* interface of each object (not org.freedesktop.DBus.*, not the
# child nodes): the Manager on /org/freedesktop/machine1, the Machine on .host's object, the Image on the
# .host image's object (every image object is served by one vtable too; .host is there without a pool). .host is a
# machine object like any other (same vtable); registering another machine needs a systemd unit of the
# leader, which this host without systemd cannot give (RegisterMachine answers ENXIO).
capture() {
    busctl --address="$address" introspect --xml-interface org.freedesktop.machine1 "$1" >"$dir/full.xml"
    {
        sed -n '1,3p' "$dir/full.xml"
        sed -n '/<interface name="org.freedesktop.machine1/,/<\/interface>/p' "$dir/full.xml"
        echo '</node>'
    } >"$out/$2"
}
capture /org/freedesktop/machine1 systemd-252-machine1-manager.xml
capture /org/freedesktop/machine1/machine/_2ehost systemd-252-machine1-machine.xml
capture /org/freedesktop/machine1/image/_2ehost systemd-252-machine1-image.xml
echo "captured from $version"
