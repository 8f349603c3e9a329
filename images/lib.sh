# Sourced by images/build and images/boot-test: the repository's Bun set-up, the host packages in
# images/host-packages.txt (installed with apt-get as root; otherwise named, exit 1) and qemu-aarch64
# in binfmt_misc.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/setup.sh"

ensure_image_host() {
  ensure_debian_packages "$KIANA_ROOT/images/host-packages.txt" "image builds"
  if [ "$(uname -m)" != aarch64 ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    update-binfmts --enable qemu-aarch64 2>/dev/null || update-binfmts --import qemu-aarch64 2>/dev/null || true
  fi
  if ! arch-test arm64 >/dev/null 2>&1; then
    echo "images: this machine cannot run arm64 binaries (qemu-aarch64 is not registered in binfmt_misc)" >&2
    exit 1
  fi
}
