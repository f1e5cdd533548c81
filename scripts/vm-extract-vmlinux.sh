#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Extract the uncompressed ELF vmlinux from a bzImage: find each place where a
# known compression format's magic appears, try to decompress from there, and
# keep the first result that is an ELF file. QEMU boots such an ELF through
# its PVH note, which is much faster under TCG than running the bzImage's
# own decompressor.
#
# Usage: scripts/vm-extract-vmlinux.sh BZIMAGE OUT
set -eu

[ $# -eq 2 ] || {
	echo "usage: $0 BZIMAGE OUT" >&2
	exit 2
}
img=$1
out=$2

# magic as a grep -P byte pattern, then the decompressor reading stdin.
try() {
	pat=$1
	shift
	for off in $(LC_ALL=C grep -obUaP "$pat" "$img" 2>/dev/null |
		cut -d: -f1); do
		tail -c +$((off + 1)) "$img" | "$@" >"$out" 2>/dev/null || true
		if [ "$(head -c 4 "$out" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
			return 0
		fi
	done
	return 1
}

try '\xfd7zXZ\x00' xz -dcq && exit 0
try '\x28\xb5\x2f\xfd' zstd -dcq && exit 0
try '\x1f\x8b\x08' gzip -dcq && exit 0
try '\x5d\x00\x00\x00' xz -dcq --format=lzma && exit 0
rm -f "$out"
echo "vm-extract-vmlinux: no compressed ELF kernel found in $img" >&2
exit 1
