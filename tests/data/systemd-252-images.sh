#!/bin/bash
# What systemd-machined 252 (Debian 12's /lib/systemd/systemd-machined) answers about images: ListImages,
# GetImage of odd names, the image objects' properties, the GetImage* methods on images whose files are
# missing, escaping symbolic links, oversized or not hostnames, raw images, and what systemd's machinectl
# prints for them (list-images, image-status, show-image, start). The ground truth of
# machined_images_test.cpp and docs/machined.md, "Images". Prints each question and its answer.
#   flock /tmp/berth-tests.lock tests/data/systemd-252-images.sh
# Not asked: a FIFO at an image's /etc/hostname. 252 reads it in machined's own loop and hangs there for
# good (every later call times out), which is why berth reads in a worker and refuses non-regular files.
# Everything is private: a mount namespace of the script's own with a tmpfs on /run/systemd and the
# script's own directory bound on /var/lib/machines (the images are made there, so the host's pool is
# never seen or touched), a dbus-daemon on a socket in that directory.
set -euo pipefail
if [ -z "${BERTH_PROBE_NAMESPACE:-}" ]; then
    BERTH_PROBE_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@"
fi
dir=$(mktemp -d /tmp/machine1-images.XXXXXX)
bus_pid="" machined_pid=""
P=/var/lib/machines
cleanup() {
    set +e  # every step, whatever one before did (a daemon already gone)
    [ -z "$machined_pid" ] || { kill "$machined_pid"; wait "$machined_pid" || true; }
    [ -z "$bus_pid" ] || kill "$bus_pid"
    chattr -i "$dir/pool/ro" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
mount -t tmpfs tmpfs /run/systemd
mkdir /run/systemd/system  # systemd's machinectl refuses to run without it
mkdir "$dir/pool"
mount --bind "$dir/pool" $P
mkdir -p $P/deb/etc $P/.hidden $P/ro $P/empty $P/esc/etc $P/badid/etc $P/big/etc $P/usrrel/usr/lib \
    "$P/bad name" $P/dir.raw $P/a:b $P/UPPER
printf 'ID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\n' >$P/deb/etc/os-release
echo debhost >$P/deb/etc/hostname
echo 0123456789abcdef0123456789abcdef >$P/deb/etc/machine-id
printf 'PRETTY_HOSTNAME="Deb Box"\nCHASSIS=container\n' >$P/deb/etc/machine-info
printf 'ID=usr\n' >$P/usrrel/usr/lib/os-release
# Absolute links: resolved inside the image they loop onto themselves.
for f in hostname os-release machine-id; do ln -s /etc/$f $P/esc/etc/$f; done
echo uninitialized >$P/badid/etc/machine-id
echo "  spaced.host  " >$P/badid/etc/hostname
head -c 3000000 /dev/zero | tr '\0' a >$P/big/etc/hostname
chattr +i $P/ro
touch -d '2020-01-01 00:00:00' $P/empty
truncate -s 1M $P/disk.raw $P/rodisk.raw
chmod 444 $P/rodisk.raw
echo x >$P/notanimage
# shellcheck source=tests/fixtures/private-bus.sh
source "$(dirname "$0")/../fixtures/private-bus.sh"
start_private_machined "$dir"
ask() {
    echo "\$ $*"
    timeout 30 "$@" 2>&1 || echo "(exit status $?)"
}
M=(org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager)
ask busctl --system call "${M[@]}" ListImages
for n in nope deb .hidden "bad name" .host "" ../x a/b a:b dir.raw dir disk.raw disk notanimage; do
    ask busctl --system call "${M[@]}" GetImage s "$n"
done
for o in deb _2ehost ro rodisk .hidden; do
    ask busctl --system introspect org.freedesktop.machine1 "/org/freedesktop/machine1/image/$o" org.freedesktop.machine1.Image
done
for n in deb esc badid empty big usrrel disk nope "" a/b ../x .host; do
    for m in GetImageHostname GetImageMachineID GetImageMachineInfo GetImageOSRelease; do
        ask busctl --system call "${M[@]}" "$m" s "$n"
    done
done
ask busctl --system call "${M[@]}" SetPoolLimit t 1000000
for args in "list-images" "list-images -a" "image-status deb" "image-status .host" "image-status disk" \
    "show-image deb" "image-status nope" "start deb" "start nope"; do
    # shellcheck disable=SC2086 # the verb and its arguments
    SYSTEMD_COLORS=0 ask machinectl --no-pager $args
done
