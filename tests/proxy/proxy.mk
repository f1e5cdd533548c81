# SPDX-License-Identifier: BSD-2-Clause
#
# test-proxy: smt-proxy's framers (Criterion unit tests), the open-loop load
# generator smt-resp-load against a local redis-server
# (tests/tools/test-resp-load.sh), bench-redis's report on made-up rows
# (the fixed-rate verdict, tests/tools/test-bench-redis-report.sh), then
# real Redis (redis-server, redis-cli, redis-benchmark) through smt-proxy
# over SMT in network namespaces, both encapsulations (tests/proxy/run.sh,
# root).
TEST_TIERS += test-proxy
HELP += '  test-proxy smt-proxy: framer unit tests, then redis-cli/redis-benchmark over SMT (netns)'

# tests/proxy/test_X.c unit-tests user/tools/smt-proxy/X.c
PROXY_UNIT := $(BUILD)/proxy-unit/test_framer
PROXY_LIO_UNIT := $(BUILD)/proxy-unit/test_lio
$(BUILD)/proxy-unit/test_%: tests/proxy/test_%.c user/tools/smt-proxy/%.c \
		user/tools/smt-proxy/%.h | $(DEPS_STAMP)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SMT_CFLAGS) -Iuser/tools/smt-proxy -o $@ \
		$(filter %.c,$^) -lcriterion

.PHONY: test-proxy test-proxy-unit
test-proxy-unit: $(PROXY_UNIT) $(PROXY_LIO_UNIT)
	$(Q)$(PROXY_UNIT) --short-filename
	$(Q)$(PROXY_LIO_UNIT) --short-filename
test-proxy: test-proxy-unit $(BUILD)/bin/smtd $(BUILD)/bin/smtctl $(BUILD)/bin/smt-proxy \
		$(BUILD)/bin/smt-fault $(filter %/smt_fault.bpf.o,$(BPF_OBJS)) \
		$(BUILD)/bin/smt-resp-load
	$(Q)tests/tools/test-resp-load.sh $(BUILD)/bin/smt-resp-load
	$(Q)tests/tools/test-bench-redis-report.sh
	$(Q)BUILD=$(BUILD) tests/proxy/run.sh

# the framers' libFuzzer target runs in test-fuzz with the others
FUZZ_TARGETS += fuzz_proxy_framer
$(BUILD)/fuzz/bin/fuzz_proxy_framer: tests/fuzz/fuzz_proxy_framer.c \
		user/tools/smt-proxy/framer.c user/tools/smt-proxy/framer.h | $(DEPS_STAMP)
	$(call msg,CLANG-FZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -Iuser/tools/smt-proxy $(FUZZ_SAN) \
		-fsanitize=fuzzer -o $@ tests/fuzz/fuzz_proxy_framer.c \
		user/tools/smt-proxy/framer.c
test-fuzz fuzz-run: $(BUILD)/fuzz/bin/fuzz_proxy_framer

# Redis over plain TCP, Redis's TLS, stunnel and smt-proxy (ip, udp) side by
# side (scripts/bench-redis.sh; not part of make test; needs the lock).
.PHONY: bench-redis
HELP += '  bench-redis redis-benchmark: TCP, Redis TLS, stunnel, smt-proxy ip/udp'
bench-redis: $(BUILD)/bin/smtd $(BUILD)/bin/smtctl $(BUILD)/bin/smt-proxy \
		$(BUILD)/bin/smt-resp-load
	$(Q)BUILD=$(BUILD) scripts/bench-redis.sh
