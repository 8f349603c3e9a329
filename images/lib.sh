# Sourced by images/build and images/boot-test: the repository's Bun set-up, the host packages in
# images/host-packages.txt (installed with apt-get as root; otherwise named, exit 1) and qemu-aarch64
# in binfmt_misc.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/setup.sh"

ensure_image_host() {
  local list="$KIANA_ROOT/images/host-packages.txt" missing=() pkg
  while read -r pkg; do
    pkg="${pkg%%#*}"; pkg="${pkg//[[:space:]]/}"
    [ -n "$pkg" ] || continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < "$list"
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
      echo "images: missing Debian packages: ${missing[*]}" >&2
      echo "install them with: sudo apt-get install ${missing[*]}" >&2
      exit 1
    fi
    step "installing Debian packages for image builds: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
  if [ "$(uname -m)" != aarch64 ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    update-binfmts --enable qemu-aarch64 2>/dev/null || update-binfmts --import qemu-aarch64 2>/dev/null || true
  fi
  if ! arch-test arm64 >/dev/null 2>&1; then
    echo "images: this machine cannot run arm64 binaries (qemu-aarch64 is not registered in binfmt_misc)" >&2
    exit 1
  fi
}
