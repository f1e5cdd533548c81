# SPDX-License-Identifier: BSD-2-Clause
#
# pktcost: CPU time per packet of the ways an SMT backend could move its
# packets between two network namespaces over a veth (raw IP sockets,
# AF_XDP in copy mode, AF_PACKET, UDP sockets without and with UDP GSO/GRO),
# and a 64 B ping-pong; sources and the
# runner in tests/bench/pktcost/. `make bench-pktcost` (root) runs it and
# writes $(BUILD)/bench/pktcost.md; `make pktcost` only builds it. A full
# `make bench` runs it first and puts its tables in docs/performance.md;
# neither `make` nor `make test` builds it.

PKTCOST_OUT := $(BUILD)/tests/bench/pktcost
PKTCOST_BIN := $(PKTCOST_OUT)/pktcost
PKTCOST_SKEL := $(PKTCOST_OUT)/pktcost_redir.skel.h

$(PKTCOST_OUT)/pktcost_redir.tmp.o: tests/bench/pktcost/pktcost_redir.bpf.c \
		$(VMLINUX_H) include/smt/wire.h
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(PKTCOST_OUT)/pktcost_redir.bpf.o: $(PKTCOST_OUT)/pktcost_redir.tmp.o
	$(call msg,GENOBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<
$(PKTCOST_SKEL): $(PKTCOST_OUT)/pktcost_redir.bpf.o
	$(call msg,GENSKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name pktcost_redir > $@.tmp && mv $@.tmp $@

$(PKTCOST_BIN): tests/bench/pktcost/pktcost.c $(PKTCOST_SKEL) include/smt/wire.h \
		| $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)$(CC) $(SMT_CFLAGS) -I$(PKTCOST_OUT) -o $@ $< -lxdp -lbpf -lelf -lz

.PHONY: pktcost bench-pktcost
pktcost: $(PKTCOST_BIN)
bench-pktcost: $(PKTCOST_BIN)
	$(Q)tests/bench/pktcost/run.sh --bin $(PKTCOST_BIN) \
		--out $(BUILD)/bench/pktcost.md

HELP += '  pktcost    build the pktcost benchmark only (needs libxdp; not part of all)'
HELP += '  bench-pktcost  CPU ns per packet over veth: raw IP sockets vs AF_XDP vs AF_PACKET vs UDP (plain, GSO/GRO), and a ping-pong (root, ~2 min)'
