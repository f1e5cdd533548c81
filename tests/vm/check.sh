# SPDX-License-Identifier: BSD-2-Clause
#
# Sourced by the guest scripts (tests/vm/init.sh, tests/vm/systemd-check.sh)
# from /smt/check.sh in the initramfs: check NAME CMD... runs CMD, prints
# "PASS NAME" or "FAIL NAME" on the console, and clears ok on a failure.
ok=1
check() {
	name=$1
	shift
	if "$@"; then
		echo "PASS $name"
	else
		echo "FAIL $name"
		ok=0
	fi
}
