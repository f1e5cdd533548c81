# SPDX-License-Identifier: BSD-2-Clause
#
# smt-wire and smt-recbench: the test tier `test-wire` (encode/decode round
# trips, tampered captures, bad arguments, a byte-exact golden pcap) and the
# record-layer benchmark `bench-record`, which `make bench` runs.

LDLIBS_smt-wire := -ljson-c

TEST_TIERS += test-wire
HELP += '  test-wire  smt-wire round trips, tamper, bad-argument and golden checks'
HELP += '  bench-record  record seal/open MB/s per cipher next to openssl speed'

.PHONY: test-wire bench-record
test-wire: $(BUILD)/bin/smt-wire
	$(Q)SMT_WIRE=$(BUILD)/bin/smt-wire tests/tools/test-wire.sh

bench: bench-record
bench-record: $(BUILD)/bin/smt-recbench
	$(Q)scripts/bench-record.sh $(BUILD)/bin/smt-recbench
