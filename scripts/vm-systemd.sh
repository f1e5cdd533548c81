#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test-systemd: smtd started by a real systemd as PID 1, with the unit
# `make install` installs (scripts/smtd.service, hardened, User=smt). This
# host's PID 1 is not systemd, so Debian's kernel boots in QEMU (TCG, the
# cache of scripts/vm-fetch.sh) with an initramfs that holds this host's
# systemd (the Debian 12 package, with its libraries) as /init, and what
# `make install DESTDIR=...` wrote: smtd, smtctl, smtd.service,
# /etc/smt/smt.conf; the user and group smt as scripts/smt-user.sh makes
# them, and a host certificate from smt-certs. systemd starts
# smt-check.service (tests/vm/systemd-check.sh), which runs
# `systemctl start smtd` and checks that it runs as user smt with exactly
# the unit's capabilities, no_new_privs and a seccomp filter, answers on its
# control socket, reloads, and stops; it prints PASS/FAIL lines and
# "SMT-VM-RESULT: PASS|FAIL", then powers the guest off.
# Usage: scripts/vm-systemd.sh CACHE_DIR BUILD OUT_DIR
# Environment: SMT_VM_TIMEOUT (seconds, default 240), SMT_VM_MEM (1G).
set -eu

[ $# -eq 3 ] || {
	echo "usage: $0 CACHE_DIR BUILD OUT_DIR" >&2
	exit 2
}
cache=$1
build=$2
out=$3
top=$(cd "$(dirname "$0")/.." && pwd)
die() {
	echo "vm-systemd: $*" >&2
	exit 1
}
for t in qemu-system-x86_64 busybox cpio make; do
	command -v "$t" >/dev/null || die "$t not found (scripts/setup-deps.sh installs it)"
done
SYSTEMD=/usr/lib/systemd/systemd
[ -x "$SYSTEMD" ] || die "no $SYSTEMD (Debian's systemd package; scripts/setup-deps.sh)"
[ -s "$cache/vmlinux" ] || die "no $cache/vmlinux (run scripts/vm-fetch.sh)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
ir=$out/initramfs
stage=$out/stage
rm -rf "$ir" "$stage"
# merged /usr, as Debian 12
mkdir -p "$ir"/usr/{bin,sbin,lib,lib64} "$ir"/{proc,sys,dev,run,tmp,etc,var,root}
ln -s usr/bin "$ir/bin"
ln -s usr/sbin "$ir/sbin"
ln -s usr/lib "$ir/lib"
ln -s usr/lib64 "$ir/lib64"
chmod 1777 "$ir/tmp"

# what make install writes, staged, then the parts smtd needs
make -s -C "$top" install DESTDIR="$stage" PREFIX=/usr/local \
	BUILD="$(cd "$build" && pwd)" WIRESHARK_LUA_DIR=/usr/local/lib/wireshark \
	>"$out/install.log" 2>&1 || die "make install failed: $(tail -3 "$out/install.log")"
mkdir -p "$ir/usr/local/bin" "$ir/etc/systemd/system" "$ir/etc/smt"
cp "$stage/usr/local/lib/systemd/system/smtd.service" "$ir/etc/systemd/system/"
cp "$stage/etc/smt/smt.conf" "$ir/etc/smt/smt.conf"

# a program and its shared libraries, at their real paths
copy_bin() { # FILE [DEST]
	local f=$1 d=${2:-$1} lib
	mkdir -p "$ir$(dirname "$d")"
	cp -L "$f" "$ir$d"
	for lib in $(ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
		lib=/usr${lib#/usr} # the name the loader asks for, merged /usr
		[ -e "$ir$lib" ] && continue
		mkdir -p "$ir$(dirname "$lib")"
		cp -L "$lib" "$ir$lib"
	done
}
copy_bin "$SYSTEMD"
copy_bin /usr/bin/systemctl
copy_bin "$(command -v busybox)" /usr/bin/busybox
copy_bin "$stage/usr/local/bin/smtd" /usr/local/bin/smtd
copy_bin "$stage/usr/local/bin/smtctl" /usr/local/bin/smtctl
# the dynamic loader where binaries look for it
ld=$(readlink -f /lib64/ld-linux-x86-64.so.2)
mkdir -p "$ir$(dirname "$ld")"
cp -L "$ld" "$ir$ld"
[ -e "$ir/usr/lib64/ld-linux-x86-64.so.2" ] ||
	ln -s "$ld" "$ir/usr/lib64/ld-linux-x86-64.so.2"
# busybox for the rest (sh, awk, mount, poweroff, ...)
for a in $(busybox --list); do
	[ -e "$ir/usr/bin/$a" ] || [ -e "$ir/usr/sbin/$a" ] ||
		ln -s busybox "$ir/usr/bin/$a"
done

# users and groups: root, and smt as scripts/smt-user.sh creates it
cat >"$ir/etc/passwd" <<EOT
root:x:0:0:root:/root:/bin/sh
smt:x:998:998:SMT session daemon:/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOT
cat >"$ir/etc/group" <<EOT
root:x:0:
smt:x:998:
nogroup:x:65534:
EOT
printf 'passwd: files\ngroup: files\nshadow: files\n' >"$ir/etc/nsswitch.conf"
echo "ID=debian" >"$ir/etc/os-release"
: >"$ir/etc/machine-id"

# the host certificate for the example config's service
PATH="$stage/usr/local/bin:$PATH" smt-certs --force ca "$out/ca" >/dev/null
PATH="$stage/usr/local/bin:$PATH" smt-certs --force host "$out/ca" "$ir/etc/smt" \
	echo.example >/dev/null

# the units: minimal targets (no udev, no journald in this guest) and the
# check, which systemd starts as its default target's only job
u=$ir/etc/systemd/system
for t in sysinit basic network-online network multi-user shutdown; do
	printf '[Unit]\nDescription=%s (vm-systemd)\n' "$t" >"$u/$t.target"
done
printf '[Unit]\nDescription=System slice (vm-systemd)\nDefaultDependencies=no\n' \
	>"$u/system.slice"
cat >"$u/smt-check.target" <<EOT
[Unit]
Description=smtd under systemd (vm-systemd)
Wants=smt-check.service
EOT
cat >"$u/smt-check.service" <<EOT
[Unit]
Description=systemctl start smtd, checked
DefaultDependencies=no
[Service]
Type=oneshot
ExecStart=/usr/bin/busybox sh /smt/systemd-check.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
EOT
mkdir -p "$ir/smt"
cp "$top/tests/vm/systemd-check.sh" "$top/tests/vm/check.sh" "$ir/smt/"

# the key file group smt (gid 998) may read, as smt-user.sh leaves it
chgrp 998 "$ir/etc/smt/host.key"
chmod 0640 "$ir/etc/smt/host.key"
(cd "$ir" && find . | cpio -o -H newc --quiet) >"$out/initramfs.cpio"

timeout=${SMT_VM_TIMEOUT:-240}
echo "vm-systemd: booting $(cat "$cache/KVER") with systemd $("$SYSTEMD" --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') as PID 1 under TCG (timeout ${timeout}s), console in $out/console.log"
. "$top/scripts/vm-boot.sh"
vm_boot vm-systemd "$cache" "$out" "$timeout" \
	"console=ttyS0 panic=-1 quiet loglevel=4 rdinit=/usr/lib/systemd/systemd systemd.unit=smt-check.target systemd.show_status=0" \
	'^(PASS|FAIL|SKIP|SMT-VM|  )'
