#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Boot Debian's kernel in QEMU (TCG) with an initramfs holding busybox,
# iproute2's ip, the kernel modules the tests need (from the cached Debian
# image package, with a modules.dep made by depmod), smt.ko, the test-only
# TLS offload device smt_tlsdev.ko and the guest test program, run
# tests/vm/init.sh as /init, and read the verdict from the serial console.
#
# Usage: scripts/vm-run.sh CACHE_DIR SMT_KO GUEST_PROG OUT_DIR TLSDEV_KO
#   CACHE_DIR  made by scripts/vm-fetch.sh (vmlinux, root/lib/modules)
#   OUT_DIR    receives initramfs.cpio and console.log
#   TLSDEV_KO  kmod/test/smt_tlsdev.c built against the same kernel
# Environment: SMT_VM_TIMEOUT (seconds, default 280), SMT_VM_MEM (1G).
# Exit status: 0 when the guest printed "SMT-VM-RESULT: PASS".
set -eu

[ $# -eq 5 ] || {
	echo "usage: $0 CACHE_DIR SMT_KO GUEST_PROG OUT_DIR TLSDEV_KO" >&2
	exit 2
}
cache=$1
ko=$2
prog=$3
out=$4
tlsdev=$5
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
kver=$(cat "$cache/KVER")
mods="tls veth gcm ghash_generic ctr chacha20poly1305 chacha_generic poly1305_generic"

die() {
	echo "vm-run: $*" >&2
	exit 1
}
for t in qemu-system-x86_64 busybox cpio depmod modprobe; do
	command -v "$t" >/dev/null || die "$t not found (scripts/setup-deps.sh installs it)"
done
[ -s "$cache/vmlinux" ] || die "no $cache/vmlinux (run scripts/vm-fetch.sh)"
[ -f "$ko" ] || die "no module $ko"
[ -f "$tlsdev" ] || die "no module $tlsdev"
[ -x "$prog" ] || die "no guest program $prog"

mkdir -p "$out"
ir="$out/initramfs"
rm -rf "$ir"
mkdir -p "$ir/bin" "$ir/sbin" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/tmp" \
	"$ir/run" "$ir/var/run/netns" "$ir/etc" "$ir/smt" "$ir/lib/modules/$kver"

cp "$(command -v busybox)" "$ir/bin/busybox"
# iproute2's ip (netns, veth) with its shared libraries.
ipbin=$(command -v ip)
cp "$ipbin" "$ir/bin/ip.iproute2"
for lib in $(ldd "$ipbin" | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
	mkdir -p "$ir$(dirname "$lib")"
	cp -L "$lib" "$ir$lib"
done

# Modules with their dependencies, at their own paths, then depmod.
modroot="$cache/root"
[ -f "$modroot/lib/modules/$kver/modules.dep" ] || depmod -b "$modroot" "$kver"
for m in $mods; do
	modprobe -d "$modroot" -S "$kver" --show-depends "$m" |
		sed -n 's/^insmod \([^ ]*\).*/\1/p'
done | sort -u | while read -r f; do
	rel=${f#"$modroot"}
	mkdir -p "$ir$(dirname "$rel")"
	cp "$f" "$ir$rel"
done
cp "$modroot/lib/modules/$kver/modules.order" \
	"$modroot/lib/modules/$kver/modules.builtin" \
	"$modroot/lib/modules/$kver/modules.builtin.modinfo" \
	"$ir/lib/modules/$kver/" 2>/dev/null || true
depmod -b "$ir" "$kver"

cp "$ko" "$ir/smt/smt.ko"
cp "$tlsdev" "$ir/smt/smt_tlsdev.ko"
cp "$prog" "$ir/smt/smt-vm-test"
cp "$top/tests/vm/init.sh" "$ir/init"
cp "$top/tests/vm/check.sh" "$ir/smt/check.sh"
chmod +x "$ir/init"

(cd "$ir" && find . | cpio -o -H newc --quiet) >"$out/initramfs.cpio"

timeout=${SMT_VM_TIMEOUT:-280}
echo "vm-run: booting $kver under TCG (timeout ${timeout}s), console in $out/console.log"
. "$here/vm-boot.sh"
vm_boot vm-run "$cache" "$out" "$timeout" \
	"console=ttyS0 panic=-1 quiet loglevel=4" '^(PASS|FAIL|SKIP|SMT-VM)'
