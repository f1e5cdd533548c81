# SPDX-License-Identifier: BSD-2-Clause
#
# test-systemd: `systemctl start smtd` under a real systemd (PID 1 of a QEMU
# guest, scripts/vm-systemd.sh) with the unit and files `make install`
# writes: smtd runs as user smt with the unit's capabilities only. SKIP
# (loudly) without QEMU, systemd or the Debian kernel; FAIL then when
# CI=true.

TEST_TIERS += test-systemd
HELP += '  test-systemd  smtd started by systemd (PID 1 in QEMU) with the installed unit'

.PHONY: test-systemd
test-systemd: all
	@if ! command -v qemu-system-x86_64 >/dev/null || \
	    ! [ -x /usr/lib/systemd/systemd ] || \
	    ! scripts/vm-fetch.sh '$(SMT_VM_CACHE)' >/dev/null; then \
		if [ "$$CI" = true ]; then \
			echo 'FAIL test-systemd: QEMU, systemd or the Debian kernel packages unavailable (CI=true)'; \
			exit 1; fi; \
		echo '*** SKIP test-systemd: QEMU, systemd or the Debian kernel packages unavailable; NOT a pass ***'; \
		exit 0; fi; \
	scripts/vm-systemd.sh '$(SMT_VM_CACHE)' '$(BUILD)' '$(BUILD)/vm-systemd'
