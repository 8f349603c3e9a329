#!/bin/sh
# mmdebstrap --setup-hook: runs on the host before any package is unpacked ($1 = rootfs).
# Keeps the initramfs small (a fixed module list instead of "most"), which is what makes its one
# generation under qemu-user take seconds rather than ten minutes.
set -eu
root="${1:?usage: $0 ROOTFS}"
# A hook run with an empty or host root would write to this machine: refuse.
case "$root" in /|"") echo "$0: refusing rootfs '$root'" >&2; exit 1;; esac
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/usr/share/initramfs-tools/modules.d" "$root/boot/firmware"
cat > "$root/etc/initramfs-tools/conf.d/kiana.conf" <<'CONF'
# kiana image: only the modules listed in /usr/share/initramfs-tools/modules.d/kiana
MODULES=list
COMPRESS=gzip
CONF
cat > "$root/usr/share/initramfs-tools/modules.d/kiana" <<'MODS'
# Root and data file systems
ext4
vfat
nls_cp437
nls_iso8859_1
# QEMU -M virt (generic-arm64 boot test)
virtio_mmio
virtio_pci
virtio_blk
virtio_scsi
sd_mod
# Raspberry Pi 4/5: SD card, eMMC and USB mass storage
mmc_block
sdhci_iproc
sdhci_brcmstb
bcm2835
pcie_brcmstb
reset_raspberrypi
xhci_pci
usb_storage
uas
MODS
