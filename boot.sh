#!/usr/bin/env bash
# Install what berth needs, build it, and boot a ready Debian 12 machine on this terminal.
# The machine image is made on first use; every later run goes straight to the boot.
# Extra arguments go to nspawn after -b, i.e. to the guest's systemd (e.g. systemd.unit=rescue.target).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
source tests/fixtures/common.sh

# /var/lib/machines/debian: a copy of the cached rootfs, made ready to log in to. Built under a hidden
# name and renamed into place, so an interrupted run never leaves half an image in the pool.
debian_image() {
    local image=/var/lib/machines/debian tmp=/var/lib/machines/.#debian.boot-sh
    [[ -d $image ]] && return 0
    step "creating the image $image"
    say "creating $image from $BERTH_DEBIAN_ROOTFS"
    install -d -m 0700 /var/lib/machines  # root's alone: the images' set-user-ID programs belong to host root
    remove_tree "$tmp"
    mkdir "$tmp"
    cp -a --reflink=auto "$BERTH_DEBIAN_ROOTFS/." "$tmp/"
    # A demo machine: root logs in on the console without a password (Debian's PAM allows an empty
    # one with nullok); its own name and its own machine ID rather than the cache's.
    sed -i 's/^root:[^:]*:/root::/' "$tmp/etc/shadow"
    echo debian >"$tmp/etc/hostname"
    printf '127.0.1.1\tdebian\n' >>"$tmp/etc/hosts"
    tr -d - </proc/sys/kernel/random/uuid >"$tmp/etc/machine-id"
    mv "$tmp" "$image"
}

require_root
install_deps
build
debian_rootfs
debian_image
step "booting the machine"
exec build/bin/nspawn -b -M debian "$@"
