#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root or with sudo) and builds PaxosKV
# into ./build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential meson ninja-build pkg-config liburing-dev libsodium-dev check
      libncurses-dev iproute2 python3 python3-pytest ${PKV_EXTRA_PACKAGES:-})
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "installing: ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

builddir=${BUILD_DIR:-build}
if [ ! -f "$builddir/build.ninja" ]; then
	meson setup "$builddir" ${MESON_ARGS:-}
fi
ninja -C "$builddir"
