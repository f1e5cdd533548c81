#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Install every Debian package that smt's build, tests, demo and benchmarks
# need, idempotently: packages already present are left alone, and apt-get
# runs only when something is missing. Needs root to install (as CI is).
# Usage: scripts/setup-deps.sh [--check]   (--check: list missing, exit 1)
set -eu

PKGS="
build-essential pkg-config make gcc clang llvm
libssl-dev openssl
libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev
libbpf-dev bpftool libelf-dev zlib1g-dev libxdp-dev xdp-tools
libcriterion-dev libinih-dev libjson-c-dev libsystemd-dev libcap-dev
libpcap-dev
libclang-rt-14-dev
iproute2 tcpdump ethtool util-linux procps psmisc python3 perl coreutils
clang-format cppcheck
gnuplot-nox linux-perf
tshark
redis-server redis-tools stunnel4
curl prometheus systemd
qemu-system-x86 busybox-static cpio kmod xz-utils zstd
"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "missing Debian packages:$missing"
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "setup-deps: missing packages:$missing" >&2
	echo "setup-deps: run as root (or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "setup-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# tshark's wireshark-common asks whether non-root users may capture: no
# (test-wireshark only reads files), answered here so nothing prompts.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	debconf-set-selections
# Refresh the index once if it is missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
	apt-get update -qq
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing
}
