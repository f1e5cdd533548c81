# SPDX-License-Identifier: BSD-2-Clause
#
# test-wireshark: the Lua dissector (scripts/wireshark/smt.lua) under tshark,
# against cipher vectors, the captures' bytes and `smt-wire decode` of
# encoded, tampered and netns (test-net's capture scenario) captures
# (tests/wireshark/run.sh; the netns part needs root).

TEST_TIERS += test-wireshark
HELP += '  test-wireshark  the Lua dissector under tshark vs smt-wire decode: vectors, encoded, tampered and netns captures'

.PHONY: test-wireshark
test-wireshark: $(BUILD)/bin/smt-wire $(BUILD)/bin/smt-echo $(BUILD)/bin/smt-fault \
		$(BUILD)/bpf/smt_fault.bpf.o
	$(Q)BUILD=$(BUILD) SMT_WIRE=$(BUILD)/bin/smt-wire tests/wireshark/run.sh
