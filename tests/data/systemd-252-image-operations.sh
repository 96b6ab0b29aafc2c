#!/bin/bash
# What systemd-machined 252 (Debian 12's /lib/systemd/systemd-machined) does to images when asked to clone,
# rename, mark read-only and remove them (CloneImage, RenameImage, MarkImageReadOnly, RemoveImage, and
# systemd's machinectl clone/rename/read-only/remove): the answers, the errors, what is on disk after
# (kinds, the immutable attribute, modes, the .nspawn settings file), and an image whose lock a running
# machine holds. The ground truth of the image operation tests and docs/machined.md, "Images".
#   flock /tmp/berth-tests.lock tests/data/systemd-252-image-operations.sh
# Everything is private, as in systemd-252-images.sh: a mount namespace of the script's own with a tmpfs
# on /run/systemd, the script's own directories bound on /var/lib/machines and /etc/systemd/nspawn, a
# dbus-daemon on a socket in its directory.
set -euo pipefail
if [ -z "${BERTH_PROBE_NAMESPACE:-}" ]; then
    BERTH_PROBE_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@"
fi
dir=$(mktemp -d /tmp/machine1-imageops.XXXXXX)
bus_pid="" machined_pid="" holder_pid=""
P=/var/lib/machines
cleanup() {
    set +e  # every step, whatever one before did (a daemon already gone)
    [ -z "$holder_pid" ] || kill "$holder_pid" 2>/dev/null || true
    [ -z "$machined_pid" ] || { kill "$machined_pid"; wait "$machined_pid" || true; }
    [ -z "$bus_pid" ] || kill "$bus_pid"
    chattr -R -i "$dir/pool" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
mount -t tmpfs tmpfs /run/systemd
mkdir /run/systemd/system  # systemd's machinectl refuses to run without it
mkdir "$dir/pool" "$dir/settings"
mount --bind "$dir/pool" $P
mkdir -p /etc/systemd/nspawn
mount --bind "$dir/settings" /etc/systemd/nspawn
mkdir -p $P/deb/etc $P/deb/sub $P/busy $P/ro
echo debhost >$P/deb/etc/hostname
ln -s /etc/hostname $P/deb/link
echo x >$P/deb/sub/file
ln $P/deb/sub/file $P/deb/hardlink
mkfifo $P/deb/fifo
chmod 4755 $P/deb/sub/file
printf '[Exec]\nBoot=yes\n' >/etc/systemd/nspawn/deb.nspawn
chattr +i $P/ro
truncate -s 1M $P/disk.raw
# shellcheck source=tests/fixtures/private-bus.sh
source "$(dirname "$0")/../fixtures/private-bus.sh"
start_private_machined "$dir"
ask() {
    echo "\$ $*"
    timeout 60 "$@" 2>&1 || echo "(exit status $?)"
}
show() {  # what is on disk
    echo "--- pool:"
    (cd $P && for f in * .[!.]*; do [ -e "$f" ] || continue; printf '%s %s %s\n' "$f" "$(stat -c '%F %a' "$f")" "$(lsattr -d "$f" 2>/dev/null | cut -d' ' -f1)"; done)
    echo "--- settings: $(cd /etc/systemd/nspawn && echo *)"
}
M=(org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager)
show
ask busctl --system call "${M[@]}" CloneImage ssb deb deb2 false
ask busctl --system call "${M[@]}" CloneImage ssb deb deb2 false
ask busctl --system call "${M[@]}" CloneImage ssb deb "bad/name" false
ask busctl --system call "${M[@]}" CloneImage ssb nope x false
ask busctl --system call "${M[@]}" CloneImage ssb .host hostclone false
ask busctl --system call "${M[@]}" CloneImage ssb deb debro true
ask busctl --system call "${M[@]}" CloneImage ssb disk disk2 false
show
echo "--- deb2 tree:"; (cd $P/deb2 && find . -printf '%p %y %m %n %l\n' | sort)
ask busctl --system get-property org.freedesktop.machine1 /org/freedesktop/machine1/image/debro org.freedesktop.machine1.Image ReadOnly
ask busctl --system call "${M[@]}" RenameImage ss deb2 deb3
ask busctl --system call "${M[@]}" RenameImage ss deb3 deb
ask busctl --system call "${M[@]}" RenameImage ss deb3 "a/b"
ask busctl --system call "${M[@]}" RenameImage ss nope x
ask busctl --system call "${M[@]}" RenameImage ss .host x
ask busctl --system call "${M[@]}" RenameImage ss disk2 disk3
ask busctl --system call "${M[@]}" RenameImage ss ro ro2
show
ask busctl --system call "${M[@]}" MarkImageReadOnly sb deb3 true
ask busctl --system call "${M[@]}" MarkImageReadOnly sb disk3 true
show
ask busctl --system call "${M[@]}" RemoveImage s deb3
ask busctl --system call "${M[@]}" RemoveImage s disk3
ask busctl --system call "${M[@]}" MarkImageReadOnly sb deb3 false
ask busctl --system call "${M[@]}" MarkImageReadOnly sb disk3 false
show
ask busctl --system call "${M[@]}" RemoveImage s deb3
ask busctl --system call "${M[@]}" RemoveImage s disk3
ask busctl --system call "${M[@]}" RemoveImage s nope
ask busctl --system call "${M[@]}" RemoveImage s .host
ask busctl --system call "${M[@]}" RemoveImage s ro2
ask busctl --system call "${M[@]}" MarkImageReadOnly sb .host false
# An image a running systemd-nspawn holds: its lock under /run/systemd/nspawn/locks (inode-DEV:INO).
mkdir -p /run/systemd/nspawn/locks
lock=/run/systemd/nspawn/locks/inode-$(stat -c '%d:%i' $P/busy)
# The holder is the sleep itself (flock(1) would fork it, and killing flock leave it running).
(exec 9>"$lock" && flock -x 9 && exec sleep 600) &
holder_pid=$!
sleep 0.3
ask busctl --system call "${M[@]}" RemoveImage s busy
ask busctl --system call "${M[@]}" RenameImage ss busy busy2
ask busctl --system call "${M[@]}" MarkImageReadOnly sb busy true
ask busctl --system call "${M[@]}" CloneImage ssb busy busyclone false
kill "$holder_pid"; holder_pid=""
show
for args in "clone deb d4" "rename d4 d5" "read-only d5" "read-only d5 no" "remove d5" "remove nope" "clone deb deb"; do
    # shellcheck disable=SC2086 # the verb and its arguments
    SYSTEMD_COLORS=0 ask machinectl --no-pager $args
done
show
echo "--- machined's log:"; cat "$dir/machined.log"
