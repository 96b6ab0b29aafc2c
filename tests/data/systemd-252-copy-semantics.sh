#!/bin/bash
# What systemd-machined 252 (Debian 12's /lib/systemd/systemd-machined) answers to CopyToMachine,
# CopyToMachineWithFlags and BindMountMachine at their edges: a file onto a file or a directory, with and
# without the replace flag, a directory onto a directory (merge) or a file, a trailing slash, "/" and "..",
# unknown flags, missing paths. The ground truth of machined_copy_test.cpp's EdgeCasesAnswerAsSystemd252
# and of docs/machined.md, "Copying files". Prints each case and what came back.
#   flock /tmp/berth-tests.lock tests/data/systemd-252-copy-semantics.sh
# Registration needs the leader's systemd unit, which a host without systemd has none of: the leader is put
# in a cgroup named like a scope (made here in the unified and name=systemd hierarchies, removed at the
# end). Everything else is private: a mount namespace of the script's own with a tmpfs on /run/systemd, a
# dbus-daemon on a socket in a temporary directory.
set -euo pipefail
if [ -z "${BERTH_PROBE_NAMESPACE:-}" ]; then
    BERTH_PROBE_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@"
fi
dir=$(mktemp -d /tmp/machine1-copy.XXXXXX)
cg=berth-probe-$$.scope
bus_pid="" machined_pid="" leader_pid=""
cleanup() {
    set +e  # every step, whatever one before did (a daemon already gone)
    [ -z "$leader_pid" ] || { kill "$leader_pid"; wait "$leader_pid" || true; }
    [ -z "$machined_pid" ] || { kill "$machined_pid"; wait "$machined_pid" || true; }
    [ -z "$bus_pid" ] || kill "$bus_pid"
    rmdir "/sys/fs/cgroup/unified/$cg" "/sys/fs/cgroup/systemd/$cg" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
mount -t tmpfs tmpfs /run/systemd
# shellcheck source=tests/fixtures/private-bus.sh
source "$(dirname "$0")/../fixtures/private-bus.sh"
start_private_machined "$dir"
mkdir "/sys/fs/cgroup/unified/$cg" "/sys/fs/cgroup/systemd/$cg"
unshare --mount --propagation private sleep 1000 &
leader_pid=$!
for h in unified systemd; do echo "$leader_pid" >"/sys/fs/cgroup/$h/$cg/cgroup.procs"; done
call() { busctl --system call org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager "$@"; }
call RegisterMachine sayssus probe 0 test container "$leader_pid" / >/dev/null
w=$dir/w
mkdir -p "$w/host/d/sub" "$w/guest/dir" "$w/guest/d/sub"
echo new >"$w/host/f"; echo old >"$w/guest/f"; echo x >"$w/guest/notdir"
echo ha >"$w/host/d/a"; echo hb >"$w/host/d/b"; echo hs >"$w/host/d/sub/s"
echo ga >"$w/guest/d/a"; echo gs >"$w/guest/d/sub/s"
case_() { local what=$1; shift; printf '== %s: ' "$what"; if out=$("$@" 2>&1); then echo "ok"; else echo "$out"; fi; }
case_ "file onto file" call CopyToMachine sss probe "$w/host/f" "$w/guest/f"
echo "   guest f: $(cat "$w/guest/f")"
case_ "file onto file, replace" call CopyToMachineWithFlags ssst probe "$w/host/f" "$w/guest/f" 1
echo "   guest f: $(cat "$w/guest/f")"
case_ "file onto directory" call CopyToMachine sss probe "$w/host/f" "$w/guest/dir"
case_ "file onto directory, replace" call CopyToMachineWithFlags ssst probe "$w/host/f" "$w/guest/dir" 1
case_ "directory onto directory" call CopyToMachine sss probe "$w/host/d" "$w/guest/d"
echo "   guest d: $(cat "$w/guest/d/a" "$w/guest/d/b" "$w/guest/d/sub/s" | tr '\n' ' ')"
case_ "directory onto directory, replace" call CopyToMachineWithFlags ssst probe "$w/host/d" "$w/guest/d" 1
echo "   guest d: $(cat "$w/guest/d/a" "$w/guest/d/b" "$w/guest/d/sub/s" | tr '\n' ' ')"
case_ "directory onto file" call CopyToMachine sss probe "$w/host/d" "$w/guest/notdir"
case_ "trailing slash" call CopyToMachine sss probe "$w/host/d/" "$w/guest/d2"
case_ "the root directory" call CopyToMachine sss probe / "$w/guest/root"
case_ "a last component .." call CopyToMachine sss probe "$w/host/d/.." "$w/guest/dd"
case_ "flags 2" call CopyToMachineWithFlags ssst probe "$w/host/f" "$w/guest/g" 2
case_ "missing source" call CopyToMachine sss probe "$w/host/nope" "$w/guest/nope"
case_ "missing destination parent" call CopyToMachine sss probe "$w/host/f" "$w/guest/nodir/f"
case_ "bind (no propagation directory)" call BindMountMachine sssbb probe "$w/host" "$w/guest/dir" false false
case_ "bind, relative source" call BindMountMachine sssbb probe host/x "$w/guest/dir" false false
