# SPDX-License-Identifier: BSD-2-Clause
#
# test-smtd: smtd, smtctl and libsmt's smtd client with real processes in
# network namespaces (root). `make demo` runs scripts/demo.sh.
TEST_TIERS += test-smtd
HELP += '  test-smtd  smtd/smtctl in netns: ciphers, refusals, restart, keylog'

.PHONY: test-smtd demo-smtd
test-smtd: $(BUILD)/bin/smtd $(BUILD)/bin/smtctl $(BUILD)/bin/smt-echo \
		$(if $(wildcard user/tools/smt-wire.c),$(BUILD)/bin/smt-wire)
	$(Q)BUILD=$(BUILD) tests/smtd/run.sh

demo: demo-smtd
demo-smtd: all
	$(Q)BUILD=$(BUILD) scripts/demo.sh
