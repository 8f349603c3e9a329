# Sourced by scripts/dev, scripts/test, scripts/build and scripts/bench: puts the pinned Bun (from the npm package
# `bun`, installed under .tools/) on PATH and installs the npm dependencies from bun.lock.
# Needs only Node.js and npm on a fresh machine.
set -euo pipefail

KIANA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUN_VERSION="$(tr -d '[:space:]' < "$KIANA_ROOT/.bun-version")"
export PATH="$KIANA_ROOT/.tools/node_modules/.bin:$KIANA_ROOT/node_modules/.bin:$PATH"

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_bun() {
  local have=""
  if [ -x "$KIANA_ROOT/.tools/node_modules/.bin/bun" ]; then
    have="$("$KIANA_ROOT/.tools/node_modules/.bin/bun" --version 2>/dev/null || true)"
  fi
  if [ "$have" != "$BUN_VERSION" ]; then
    command -v npm >/dev/null || { echo "npm is needed to install Bun; install Node.js and npm first" >&2; exit 1; }
    step "installing Bun $BUN_VERSION (npm package bun) into .tools/"
    mkdir -p "$KIANA_ROOT/.tools"
    [ -f "$KIANA_ROOT/.tools/package.json" ] || echo '{"private":true}' > "$KIANA_ROOT/.tools/package.json"
    npm install --prefix "$KIANA_ROOT/.tools" --no-audit --no-fund --loglevel=error "bun@$BUN_VERSION" >&2
  fi
}

ensure_npm_deps() {
  local stamp="$KIANA_ROOT/node_modules/.kiana-lock-stamp"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$KIANA_ROOT/bun.lock"; then return 0; fi
  step "installing npm dependencies (bun install --frozen-lockfile)"
  (cd "$KIANA_ROOT" && bun install --frozen-lockfile >&2)
  cp "$KIANA_ROOT/bun.lock" "$stamp"
}

# Installs the Debian packages listed in scripts/debian-packages.txt that are missing.
# Installs the packages listed in $1 (default scripts/debian-packages.txt) that are missing; $2 says
# what they are for in the messages.
ensure_debian_packages() {
  local list="${1:-$KIANA_ROOT/scripts/debian-packages.txt}" purpose="${2:-}" missing=() pkg
  [ -f "$list" ] || return 0
  while read -r pkg; do
    pkg="${pkg%%#*}"; pkg="${pkg//[[:space:]]/}"
    [ -n "$pkg" ] || continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < "$list"
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages${purpose:+ for $purpose}: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  step "installing Debian packages${purpose:+ for $purpose}: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_bun
ensure_npm_deps
