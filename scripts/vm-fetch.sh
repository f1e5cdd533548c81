#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Fetch Debian's own kernel for the smt VM tier and kernel-module build:
# linux-image-amd64 and linux-headers-amd64 of the same version (resolved
# through their metapackages), downloaded with `apt-get download` into a cache
# directory and unpacked there with `dpkg -x` (never installed system-wide:
# the host runs another kernel). Also writes an uncompressed ELF vmlinux
# (PVH-bootable) extracted from the packaged bzImage.
#
# Usage: scripts/vm-fetch.sh [CACHE_DIR]     (default $SMT_VM_CACHE or
#        /var/cache/smt-vm). Prints the cache directory's KVER on success.
# Result: CACHE/KVER            kernel release, e.g. 6.1.0-56-amd64
#         CACHE/root/           unpacked packages (lib/modules, usr/src)
#         CACHE/vmlinux         uncompressed kernel (ELF)
#         CACHE/KDIR            path of the kbuild headers directory
# A second run with everything present downloads nothing.
set -eu

CACHE=${1:-${SMT_VM_CACHE:-/var/cache/smt-vm}}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$CACHE/debs" "$CACHE/root"
CACHE=$(cd "$CACHE" && pwd)

# One fetch at a time per cache (parallel builds share it).
if command -v flock >/dev/null; then
	exec 9>"$CACHE/.lock"
	flock 9
fi

if [ -s "$CACHE/KVER" ] && [ -s "$CACHE/vmlinux" ] && [ -s "$CACHE/KDIR" ] &&
	[ -d "$(cat "$CACHE/KDIR")" ]; then
	cat "$CACHE/KVER"
	exit 0
fi

die() {
	echo "vm-fetch: $*" >&2
	exit 1
}

command -v apt-get >/dev/null || die "apt-get not found; a Debian host is needed"
command -v dpkg >/dev/null || die "dpkg not found"

# The metapackages name the ABI-versioned packages of the candidate version.
dep_of() {
	apt-cache depends "$1" 2>/dev/null |
		sed -n "s/^  Depends: \($2\)$/\1/p" | head -1
}
img=$(dep_of linux-image-amd64 'linux-image-[0-9].*-amd64')
hdr=$(dep_of linux-headers-amd64 'linux-headers-[0-9].*-amd64')
if [ -z "$img" ] || [ -z "$hdr" ]; then
	apt-get update -qq >/dev/null 2>&1 || true
	img=$(dep_of linux-image-amd64 'linux-image-[0-9].*-amd64')
	hdr=$(dep_of linux-headers-amd64 'linux-headers-[0-9].*-amd64')
fi
if [ -z "$img" ] || [ -z "$hdr" ]; then
	die "cannot resolve linux-image-amd64/linux-headers-amd64 (apt-get update?)"
fi
kver=${img#linux-image-}
[ "$kver" = "${hdr#linux-headers-}" ] ||
	die "image $img and headers $hdr differ in version"
common=$(dep_of "$hdr" 'linux-headers-.*-common')
kbuild=$(dep_of "$hdr" 'linux-kbuild-.*')
if [ -z "$common" ] || [ -z "$kbuild" ]; then
	die "cannot resolve the dependencies of $hdr"
fi

echo "vm-fetch: kernel $kver into $CACHE" >&2
cd "$CACHE/debs"
for p in "$img" "$hdr" "$common" "$kbuild"; do
	if ! ls "${p}"_*.deb >/dev/null 2>&1; then
		echo "vm-fetch: apt-get download $p" >&2
		apt-get download -q -o APT::Sandbox::User=root "$p" >/dev/null ||
			die "apt-get download $p failed (network? apt-get update?)"
	fi
done
for p in "$img" "$hdr" "$common" "$kbuild"; do
	deb=$(find . -maxdepth 1 -name "${p}_*.deb" | sort | tail -1)
	dpkg -x "$deb" "$CACHE/root"
done

kdir="$CACHE/root/usr/src/linux-headers-$kver"
[ -f "$kdir/Makefile" ] || die "no kbuild tree at $kdir"
# The headers package's Makefile includes the -common tree by its absolute
# /usr/src path; point it into the cache instead.
sed -i "s|^include /usr/src/|include $CACHE/root/usr/src/|" "$kdir/Makefile"

bz="$CACHE/root/boot/vmlinuz-$kver"
[ -f "$bz" ] || die "no $bz in $img"
"$here/vm-extract-vmlinux.sh" "$bz" "$CACHE/vmlinux.tmp"
mv "$CACHE/vmlinux.tmp" "$CACHE/vmlinux"
echo "$kdir" >"$CACHE/KDIR"
echo "$kver" >"$CACHE/KVER"
echo "$kver"
