# SPDX-License-Identifier: BSD-2-Clause
#
# test-net: end-to-end scenarios with smt-echo in network namespaces, each
# natively on IP and over UDP (tests/net/run.sh; root). bench-echo (under
# `make bench`): smt-echo latency by size and the head-of-line test, in both
# encapsulations (tests/net/bench-echo.sh).
# Also builds smt-echo with ASan+UBSan into $(BUILD)/net-asan/ for the
# scenario that runs under the sanitizers.

NET_ASAN_DIR := $(BUILD)/net-asan
NET_ASAN_ECHO := $(NET_ASAN_DIR)/smt-echo
NET_ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
NET_ASAN_SRCS := $(LIB_SRCS) $(TOOL_COMMON_SRCS) user/tools/smt-echo.c

$(NET_ASAN_ECHO): $(NET_ASAN_SRCS) $(wildcard user/lib/*.h include/smt/*.h user/tools/common/*.h) | $(DEPS_STAMP) bpf-skels
	$(call msg,ASAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(filter-out -O2,$(SMT_CFLAGS)) $(NET_ASAN_FLAGS) -Iuser/tools/common \
		-o $@ $(NET_ASAN_SRCS) $(LDLIBS_TOOLS)

NET_DEPS := $(BUILD)/bin/smt-echo $(BUILD)/bin/smt-fault $(BUILD)/bin/smt-wire \
	$(BUILD)/bpf/smt_fault.bpf.o $(NET_ASAN_ECHO) $(BUILD)/tests/bpf/smt_craft

TEST_TIERS += test-net
HELP += '  test-net   smt-echo in netns, native IP and UDP: sizes to 8 MiB, loss/dup, 1000 RPCs, ASan, pcap, ICMP, nobody (root)'
HELP += '  bench-echo smt-echo latency by size and head-of-line test, both encapsulations (root)'

.PHONY: test-net bench-echo
test-net: $(NET_DEPS)
	$(Q)BUILD=$(BUILD) NET_ASAN_ECHO=$(NET_ASAN_ECHO) tests/net/run.sh

bench: bench-echo
bench-echo: $(BUILD)/bin/smt-echo $(BUILD)/bin/smt-fault
	$(Q)BUILD=$(BUILD) tests/net/bench-echo.sh
