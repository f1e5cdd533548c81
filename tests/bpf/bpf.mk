# SPDX-License-Identifier: BSD-2-Clause
#
# BPF tests and benchmark. `test-bpf`: BPF_PROG_TEST_RUN fixtures of every
# program (test_bpf_run, Criterion), loading by bpftool, iproute2 and the
# skeleton library (load.sh), netns scenarios with a middlebox and cpumap
# steering (netns.sh). `bench-bpf`: ns per packet of each program beside an
# XDP_PASS-only program. All need root; see tests/bpf/run-tier.sh for SKIP.

TB_OUT := $(BUILD)/tests/bpf
TB_CFLAGS := $(filter-out -Wshadow,$(SMT_CFLAGS)) -Wno-override-init -Wno-missing-field-initializers \
	-Itests/bpf -I$(TB_OUT)
TB_LIBS := -lbpf -lelf -lz

$(TB_OUT)/xdp_pass.tmp.o: tests/bpf/xdp_pass.bpf.c $(VMLINUX_H)
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(TB_OUT)/xdp_pass.bpf.o: $(TB_OUT)/xdp_pass.tmp.o
	$(Q)$(BPFTOOL) gen object $@ $<
$(TB_OUT)/xdp_pass.skel.h: $(TB_OUT)/xdp_pass.bpf.o
	$(Q)$(BPFTOOL) gen skeleton $< name xdp_pass > $@.tmp && mv $@.tmp $@

$(TB_OUT)/test_bpf_run: tests/bpf/test_bpf_run.c tests/bpf/pkt.c tests/bpf/pkt.h \
		$(BPF_SKELS) $(wildcard include/smt/*.h) \
		tests/unit/common/rule_table.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TB_CFLAGS) -o $@ tests/bpf/test_bpf_run.c tests/bpf/pkt.c \
		-lcriterion $(TB_LIBS)

$(TB_OUT)/bench_bpf: tests/bpf/bench_bpf.c tests/bpf/pkt.c tests/bpf/pkt.h \
		$(BPF_SKELS) $(TB_OUT)/xdp_pass.skel.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TB_CFLAGS) -o $@ tests/bpf/bench_bpf.c tests/bpf/pkt.c $(TB_LIBS)

$(TB_OUT)/smt_craft: tests/bpf/smt_craft.c tests/bpf/pkt.c tests/bpf/pkt.h | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TB_CFLAGS) -o $@ tests/bpf/smt_craft.c tests/bpf/pkt.c

$(TB_OUT)/xsk_rx: tests/bpf/xsk_rx.c include/smt/maps.h | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TB_CFLAGS) -o $@ tests/bpf/xsk_rx.c -lxdp $(TB_LIBS)

TB_BINS := $(TB_OUT)/test_bpf_run $(TB_OUT)/xdp_pass.bpf.o \
	$(TB_OUT)/bench_bpf $(TB_OUT)/smt_craft $(TB_OUT)/xsk_rx
ALL_TARGETS += $(TB_BINS)

TEST_TIERS += test-bpf
HELP += '  test-bpf   BPF test-run fixtures, bpftool/ip/skeleton loading, netns middlebox, cpumap and SMT-over-UDP scenarios (root)'
HELP += '  bench-bpf  ns per packet of each BPF program vs an XDP_PASS program'

.PHONY: test-bpf bench-bpf
test-bpf: $(TB_BINS) $(BPF_OBJS) $(BUILD)/bin/smtctl
	$(Q)BUILD=$(BUILD) tests/bpf/run-tier.sh

bench: bench-bpf
bench-bpf: $(TB_OUT)/bench_bpf $(TB_OUT)/xdp_pass.bpf.o
	$(Q)mkdir -p $(BUILD)/bench
	$(Q)tests/bpf/run-tier.sh --bench $(TB_OUT)/bench_bpf \
		$(TB_OUT)/xdp_pass.bpf.o $(BUILD)/bench/bpf.csv
