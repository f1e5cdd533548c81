# SPDX-License-Identifier: BSD-2-Clause
#
# libFuzzer targets for the packet parser, the message decoder, the
# set-up inputs (session-parameter messages, key log lines), smtd's control
# socket (fuzz_ctl_request: ctl.c with libsmt's ctlproto code) and smtd's
# configuration parser (fuzz_config_parse).
#   test-fuzz   each target for FUZZ_SECONDS (default 30); fails on a finding
#   fuzz        the same for longer (FUZZ_SECONDS default 600)
#   fuzz-seeds  regenerate the committed seed corpus (tests/fuzz/corpus/)
# Targets and the codec sources are built with clang -fsanitize=fuzzer,
# address,undefined into $(BUILD)/fuzz/. Each run starts from the committed
# corpus and writes what it finds to $(BUILD)/fuzz/work/<target>/ (the
# committed corpus is never modified); a crashing input is saved as
# $(BUILD)/fuzz/artifacts/<target>-crash-* and printed for reproduction.

FUZZ_TARGETS := fuzz_pkt_parse fuzz_msg_decode fuzz_setup_parse \
	fuzz_ctl_request fuzz_config_parse fuzz_ticket_parse \
	fuzz_metrics_request
FUZZ_LIB_SRCS := user/lib/record.c user/lib/keys.c user/lib/codec.c \
	user/lib/codec_ctl.c user/lib/reasm.c user/lib/bufpool.c \
	user/smtd/params.c
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE \
	-Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
	-Wstrict-prototypes -Iinclude -Iuser/lib -Iuser/smtd -Itests/fuzz
# reasm.c checks its running byte count against the sum it stands for
$(BUILD)/fuzz/obj/lib/reasm.o: FUZZ_CFLAGS += -DSMT_REASM_CHECK
FUZZ_LIB_OBJS := $(patsubst user/%.c,$(BUILD)/fuzz/obj/%.o,$(FUZZ_LIB_SRCS))
FUZZ_BINS := $(addprefix $(BUILD)/fuzz/bin/,$(FUZZ_TARGETS))
FUZZ_GEN := $(BUILD)/fuzz/bin/gen_seeds
# smtd's targets: smtd's own files (bpf.c as its stubs: smt_bpf.h is not
# on the include path), and the rest of libsmt as an archive, from which
# the linker takes what they need
FUZZ_REST_OBJS := $(patsubst user/%.c,$(BUILD)/fuzz/obj/%.o, \
	$(filter-out $(FUZZ_LIB_SRCS),$(wildcard user/lib/*.c)))
FUZZ_REST_A := $(BUILD)/fuzz/libsmt-rest.a
FUZZ_CFG_OBJS := $(BUILD)/fuzz/obj/smtd/config.o $(BUILD)/fuzz/obj/smtd/bpf.o \
	$(BUILD)/fuzz/obj/tools/common/util.o
FUZZ_CTL_OBJS := $(FUZZ_CFG_OBJS) $(BUILD)/fuzz/obj/smtd/ctl.o \
	$(BUILD)/fuzz/obj/smtd/tls.o $(BUILD)/fuzz/obj/smtd/tkt.o \
	$(BUILD)/fuzz/obj/smtd/ticket.o $(BUILD)/fuzz/obj/smtd/resume.o \
	$(BUILD)/fuzz/obj/smtd/session.o $(BUILD)/fuzz/obj/smtd/vcache.o
# config.c parses sizes with util.h (not the whole tools dir: bpf.c must
# not see smt_bpf.h)
$(BUILD)/fuzz/obj/smtd/config.o: FUZZ_CFLAGS += -Iuser/tools/common
$(FUZZ_REST_A): $(FUZZ_REST_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^
# NLMSG_OK compares signed with unsigned (clang's -Wextra says so)
$(BUILD)/fuzz/obj/lib/xsk_tx.o: FUZZ_CFLAGS += -Wno-sign-compare
$(BUILD)/fuzz/bin/fuzz_ticket_parse: $(BUILD)/fuzz/obj/smtd/ticket.o
$(BUILD)/fuzz/bin/fuzz_ticket_parse: FUZZ_EXTRA = $(BUILD)/fuzz/obj/smtd/ticket.o
$(BUILD)/fuzz/bin/fuzz_config_parse: $(FUZZ_CFG_OBJS) $(FUZZ_REST_A)
$(BUILD)/fuzz/bin/fuzz_config_parse: FUZZ_EXTRA = $(FUZZ_CFG_OBJS) \
	$(FUZZ_REST_A) -linih
$(BUILD)/fuzz/bin/fuzz_metrics_request: $(BUILD)/fuzz/obj/smtd/metrics_http.o
$(BUILD)/fuzz/bin/fuzz_metrics_request: FUZZ_EXTRA = \
	$(BUILD)/fuzz/obj/smtd/metrics_http.o
$(BUILD)/fuzz/bin/fuzz_ctl_request: $(FUZZ_CTL_OBJS) $(FUZZ_REST_A)
$(BUILD)/fuzz/bin/fuzz_ctl_request: FUZZ_EXTRA = $(FUZZ_CTL_OBJS) \
	$(FUZZ_REST_A) -linih

$(BUILD)/fuzz/obj/%.o: user/%.c | $(DEPS_STAMP)
	$(call msg,CLANG-FZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
		-MMD -MP -c $< -o $@

$(BUILD)/fuzz/bin/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_LIB_OBJS)
	$(call msg,CLANG-FZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer \
		-o $@ $< $(FUZZ_LIB_OBJS) $(FUZZ_EXTRA) $(LDLIBS_SMT)

$(FUZZ_GEN): tests/fuzz/gen_seeds.c tests/fuzz/fuzz_common.h $(LIB_A)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SMT_CFLAGS) -Itests/fuzz -o $@ $< $(LIB_A) $(LDLIBS_TOOLS)

.PHONY: fuzz-build fuzz-seeds test-fuzz fuzz-run
fuzz-build: $(FUZZ_BINS)

# fuzz_setup_parse's seeds (tests/fuzz/corpus/fuzz_setup_parse) are
# written by hand: one of each parameter message and a key log line.
fuzz-seeds: $(FUZZ_GEN)
	$(Q)rm -rf tests/fuzz/corpus/fuzz_pkt_parse tests/fuzz/corpus/fuzz_msg_decode
	$(Q)$(FUZZ_GEN) tests/fuzz/corpus
	@echo "seed corpus written to tests/fuzz/corpus/; commit it"

FUZZ_RUN = tests/fuzz/run-fuzz.sh $(BUILD)/fuzz $(1) $(FUZZ_TARGETS)

test-fuzz: $(FUZZ_BINS)
	$(Q)$(call FUZZ_RUN,$(or $(FUZZ_SECONDS),30))

fuzz-run: $(FUZZ_BINS)
	$(Q)$(call FUZZ_RUN,$(or $(FUZZ_SECONDS),600))
fuzz: fuzz-run

TEST_TIERS += test-fuzz
HELP += '  test-fuzz  libFuzzer targets, FUZZ_SECONDS (30) each; fuzz-seeds regenerates the corpus'

-include $(shell find $(BUILD)/fuzz -name '*.d' 2>/dev/null)
# kept between runs (pattern-rule prerequisites would be deleted)
.SECONDARY: $(FUZZ_LIB_OBJS) $(FUZZ_CTL_OBJS) $(FUZZ_REST_OBJS)
