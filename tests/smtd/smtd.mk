# SPDX-License-Identifier: BSD-2-Clause
#
# test-smtd: unit tests of smtd's pure parts (Criterion, no root), then
# smtd, smtctl and libsmt's smtd client with real processes in network
# namespaces (root). `make demo` runs scripts/demo.sh.
TEST_TIERS += test-smtd
HELP += '  test-smtd  smtd/smtctl: unit tests, then netns (ciphers, refusals, restart, re-key, keylog, BPF)'

SMTD_UNIT := $(BUILD)/smtd-unit/test_smtd_unit
# bpf.o: config.c checks [bpf] udp_ports with it (smt_bpf.h's parser)
SMTD_UNIT_OBJS := $(BUILD)/obj/smtd/params.o $(BUILD)/obj/smtd/config.o \
	$(BUILD)/obj/smtd/metrics_http.o $(BUILD)/obj/smtd/check.o \
	$(BUILD)/obj/smtd/bpf.o $(TOOL_COMMON_OBJS)

$(SMTD_UNIT): tests/smtd/test_smtd_unit.c $(SMTD_UNIT_OBJS) $(LIB_A)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SMT_CFLAGS) -Iuser/smtd -o $@ $^ -lcriterion -linih \
		$(LDLIBS_TOOLS)

# SMT-tickets: certificates from scripts/mkcerts.sh, known answers that
# tests/smtd/ticket-kat.sh computes with the openssl command line
SMTD_TICKET := $(BUILD)/smtd-unit/test_ticket
$(SMTD_TICKET): tests/smtd/test_ticket.c $(BUILD)/obj/smtd/ticket.o $(LIB_A)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SMT_CFLAGS) -Iuser/smtd -o $@ $^ -lcriterion $(LDLIBS_TOOLS)

.PHONY: test-smtd-ticket
test-smtd-ticket: $(SMTD_TICKET)
	$(Q)rm -rf $(BUILD)/smtd-unit/certs
	$(Q)scripts/mkcerts.sh $(BUILD)/smtd-unit/certs echo.smt >/dev/null
	$(Q)SMT_TKT_CERTS=$(BUILD)/smtd-unit/certs $(SMTD_TICKET) --short-filename
	$(Q)tests/smtd/ticket-kat.sh | diff -u tests/smtd/vectors/smt-ticket-kat.txt - \
		|| { echo "test-smtd: the openssl CLI derives other SMT-ticket values than the vectors"; exit 1; }
	$(Q)echo "test-smtd: SMT-ticket known answers re-derived with the openssl CLI: same"

SMTD_REOPEN := $(BUILD)/smtd-unit/reopen
$(SMTD_REOPEN): tests/smtd/reopen.c $(LIB_A)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SMT_CFLAGS) -o $@ $^ $(LDLIBS_TOOLS)

# smtd, smtctl and smt-echo rebuilt with ASan+UBSan in their own build
# directory, then the netns cases that exercise the most of smtd's state
# (SMT-tickets, re-keys, daemon mode and SIGHUP, shared ticket keys and
# their reloads); any sanitizer report in an smtd log, leaks at exit
# included, fails the tier.
SMTD_ASAN := $(BUILD)/asan-smtd
SMTD_ASAN_CFLAGS := -O1 -g -fsanitize=address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=all
.PHONY: test-smtd-asan
test-smtd-asan:
	$(Q)$(MAKE) --no-print-directory BUILD=$(SMTD_ASAN) \
		CFLAGS="$(SMTD_ASAN_CFLAGS)" \
		LDLIBS_TOOLS="-fsanitize=address,undefined $(LDLIBS_TOOLS)" \
		$(SMTD_ASAN)/bin/smtd $(SMTD_ASAN)/bin/smtctl $(SMTD_ASAN)/bin/smt-echo
	$(Q)BUILD=$(SMTD_ASAN) SMTD_SANITIZED=1 \
		ASAN_OPTIONS=detect_leaks=1:exitcode=23 \
		tests/smtd/run.sh t_ticket t_rekey t_daemon t_stek t_vcache

.PHONY: test-smtd demo-smtd
test-smtd: test-smtd-ticket $(SMTD_UNIT) $(SMTD_REOPEN) $(BUILD)/bin/smtd $(BUILD)/bin/smtctl \
		$(BUILD)/bin/smt-echo \
		$(if $(wildcard user/tools/smt-wire.c),$(BUILD)/bin/smt-wire) \
		$(filter %/smt_xdp.bpf.o %/smt_tc.bpf.o,$(BPF_OBJS))
	$(Q)$(SMTD_UNIT) --short-filename
	$(Q)BUILD=$(BUILD) tests/smtd/run.sh
	$(Q)$(MAKE) --no-print-directory test-smtd-asan

demo: demo-smtd
demo-smtd: all
	$(Q)BUILD=$(BUILD) scripts/demo.sh
