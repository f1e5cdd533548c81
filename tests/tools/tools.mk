# SPDX-License-Identifier: BSD-2-Clause
#
# smt-wire and smt-recbench: the test tier `test-wire` (encode/decode round
# trips, tampered captures, bad arguments, a byte-exact golden pcap; every
# program's --version and libsmt.pc against an install; smtctl's command
# line and bash completion; smt-echo keygen's limits) and the
# record-layer benchmark `bench-record`, which `make bench` runs.

# smt-wire reads captures with libpcap (pcap, pcapng, capture filters).
LIBPCAP_LIBS := $(shell pkg-config --libs libpcap 2>/dev/null || echo -lpcap)
LDLIBS_smt-wire := -ljson-c $(LIBPCAP_LIBS)

TEST_TIERS += test-wire
HELP += '  test-wire  smt-wire round trips, tamper, bad-argument and golden checks, pcapng, filters, --live; util/pcap unit tests'
HELP += '  bench-record  record seal/open MB/s per cipher next to openssl speed'

# Criterion tests of the tools' shared helpers (util.c, pcap.c); libpcap
# reads back what pcap.c writes.
WIRE_UNIT := $(BUILD)/tests/tools/test_util_pcap
WIRE_UNIT_SRCS := tests/tools/test_util_pcap.c user/tools/common/util.c \
	user/lib/version.c \
	user/tools/common/pcap.c
$(WIRE_UNIT): $(WIRE_UNIT_SRCS) $(wildcard user/tools/common/*.h) | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SMT_CFLAGS) -Iuser/tools/common -o $@ $(WIRE_UNIT_SRCS) \
		-lcriterion $(LIBPCAP_LIBS)

.PHONY: test-wire bench-record
test-wire: $(BUILD)/bin/smt-wire $(WIRE_UNIT) $(PROGS) $(LIB_PC)
	$(Q)$(WIRE_UNIT) --short-filename
	$(Q)SMT_WIRE=$(BUILD)/bin/smt-wire tests/tools/test-wire.sh
	$(Q)tests/tools/test-version.sh $(BUILD)
	$(Q)tests/tools/test-smtctl-cli.sh $(BUILD)/bin/smtctl
	$(Q)tests/tools/test-echo-keygen.sh $(BUILD)/bin/smt-echo
	$(Q)tests/tools/test-bench-cli.sh $(BUILD)/bin/smt-bench
	$(Q)tests/tools/test-unit-hardening.sh scripts/smtd.service

bench: bench-record
bench-record: $(BUILD)/bin/smt-recbench
	$(Q)scripts/bench-record.sh $(BUILD)/bin/smt-recbench
