# SPDX-License-Identifier: BSD-2-Clause
#
# smt-bench: `make bench` runs the whole comparison (SMT, UDP, TCP, TLS 1.3
# over TCP, QUIC) in two network namespaces and regenerates docs/performance.md;
# QUICK=1 runs a short plan for development. `make test-bench` is the smoke
# tier: every transport runs a few RPCs of every workload, and it fails if
# any transport fails; it runs with --verify, so every TCP, TLS, UDP and
# QUIC response is checked byte for byte (16 B to 1 MiB, and under 1 %
# loss in the head-of-line test). Both need root (network namespaces, raw IP, XDP).

BENCH_BIN = $(BUILD)/bin/smt-bench
# smtd and smtctl, when the tree has them: set-up through smtd is timed too.
BENCH_DEPS = $(BENCH_BIN) $(BUILD)/bpf/bench_loss.bpf.o \
	$(filter $(BUILD)/bin/smtd $(BUILD)/bin/smtctl,$(PROGS))

# SMT joins when libsmt's public API and key schedule are in the tree.
BENCH_SMT_SRCS := $(shell grep -ls '^int smt_endpoint_open' user/lib/*.c 2>/dev/null)
BENCH_SMT_KEYS := $(shell grep -ls '^int smt_keys_derive' user/lib/*.c 2>/dev/null)
ifneq ($(and $(BENCH_SMT_SRCS),$(BENCH_SMT_KEYS)),)
$(BUILD)/obj/tools/smt-bench/smt.o: SMT_CFLAGS += -DBENCH_HAVE_SMT
$(BUILD)/obj/tools/smt-bench/smt.o: $(BENCH_SMT_SRCS) $(BENCH_SMT_KEYS)
endif

# The QUIC baseline (user/tools/smt-bench/quic.c): ngtcp2 with GnuTLS.
LDLIBS_smt-bench += -lngtcp2_crypto_gnutls -lngtcp2 -lgnutls

# A full run measures the per-packet cost of the backends first (make
# bench-pktcost, tests/bench/pktcost.mk); docs/performance.md includes it.
BENCH_PKTCOST = $(if $(filter 1,$(QUICK)),,bench-pktcost)

.PHONY: bench-main test-bench
bench: bench-main
bench-main: $(BENCH_DEPS) $(BENCH_PKTCOST)
	$(Q)scripts/bench.sh --build $(BUILD) $(if $(filter 1,$(QUICK)),--quick,--pktcost $(BUILD)/bench/pktcost.md)

test-bench: $(BENCH_DEPS)
	$(Q)scripts/bench.sh --build $(BUILD) --smoke

TEST_TIERS += test-bench
HELP += '  bench QUICK=1  short benchmark plan (development)'
HELP += '  test-bench smoke test of the benchmark harness, every transport'
