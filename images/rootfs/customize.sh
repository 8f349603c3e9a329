#!/bin/sh
# mmdebstrap --customize-hook: runs on the host after all packages are installed ($1 = rootfs).
# Removes per-device state that must not be baked into an image shared by many boards.
set -eu
root="${1:?usage: $0 ROOTFS}"
# A hook run with an empty or host root would write to this machine: refuse.
case "$root" in /|"") echo "$0: refusing rootfs '$root'" >&2; exit 1;; esac
# SSH host keys are regenerated on first boot (kiana-ssh-keygen.service from the image overlay).
rm -f "$root"/etc/ssh/ssh_host_*
# Every board gets its own machine id on first boot.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# Build-time caches that only take space on the card.
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/tmp/*
