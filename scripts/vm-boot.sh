# SPDX-License-Identifier: BSD-2-Clause
#
# Sourced by scripts/vm-run.sh and scripts/vm-systemd.sh: boots the cached
# Debian kernel with an initramfs in QEMU (TCG, one CPU, no reboot), prints
# the guest's verdict lines from the serial console and exits with the
# verdict (0 when the guest printed "SMT-VM-RESULT: PASS").
#
# vm_boot NAME CACHE_DIR OUT_DIR TIMEOUT APPEND LINES_ERE
#   NAME       the calling script's name, for messages
#   CACHE_DIR  made by scripts/vm-fetch.sh (vmlinux)
#   OUT_DIR    holds initramfs.cpio; receives console.log
#   TIMEOUT    seconds before the guest is killed
#   APPEND     the kernel command line
#   LINES_ERE  the console lines worth printing (grep -E)
# Environment: SMT_VM_MEM (guest memory, default 1G).

vm_boot() {
	_name=$1 _cache=$2 _out=$3 _timeout=$4 _append=$5 _lines=$6
	_log=$_out/console.log
	_start=$(date +%s)
	set +e
	timeout --foreground -k 5 "$_timeout" qemu-system-x86_64 -accel tcg \
		-m "${SMT_VM_MEM:-1G}" -smp 1 -nographic -no-reboot \
		-kernel "$_cache/vmlinux" -initrd "$_out/initramfs.cpio" \
		-append "$_append" </dev/null >"$_log" 2>&1
	_qrc=$?
	set -e
	_end=$(date +%s)
	grep -aE "$_lines" "$_log" | tr -d '\r' || true
	echo "$_name: guest ran $((_end - _start)) s (qemu exit $_qrc)"
	grep -aq '^SMT-VM-RESULT: PASS' "$_log" && exit 0
	[ "$_qrc" = 124 ] &&
		echo "$_name: FAIL: guest timed out after ${_timeout}s" >&2
	echo "$_name: FAIL: see $_log" >&2
	exit 1
}
