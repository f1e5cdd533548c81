# SPDX-License-Identifier: BSD-2-Clause
#
# smt top-level build. Everything lands in $(BUILD) (default build/):
#   build/bin/   every program        build/lib/  libsmt.a, libsmt.so, libsmt.pc
#   build/bpf/   *.bpf.o, *.skel.h    build/kmod/ smt.ko (with kernel headers)
# Component rules live next to their sources in */*.mk fragments, which this
# file includes; each fragment appends to ALL_TARGETS, TEST_TIERS, HELP, ...
# `make help` lists the targets. V=1 shows full commands.

BUILD ?= build
PREFIX ?= /usr/local
# smt.conf goes to $(SYSCONFDIR)/smt (an existing one is kept)
SYSCONFDIR ?= /etc
DESTDIR ?=
SMT_IPPROTO ?= 253

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config

# The release version: libsmt's smt_version(), libsmt.pc and every --version.
SMT_VERSION := 0.1.0

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CFLAGS ?= -O2 -g
SMT_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -fPIC -D_GNU_SOURCE \
	-DSMT_IPPROTO_BUILD=$(SMT_IPPROTO) -DSMT_VERSION_STRING='"$(SMT_VERSION)"' -Iinclude -Iuser/lib -I$(BUILD)/bpf
LDLIBS_SMT := -lssl -lcrypto -ljson-c
LDLIBS_TOOLS := $(LDLIBS_SMT) -lbpf -lelf -lz -lpthread -lm

ALL_TARGETS :=
TEST_TIERS :=
CLEAN_EXTRA :=
HELP :=
# Test tiers run in this order when present; fragments add theirs.
TEST_ORDER := test-check test-unit test-asan test-fuzz test-bpf test-kmod-unit test-net \
	test-smtd test-vm

.PHONY: all test check install uninstall clean help deps bench demo fuzz
.DEFAULT_GOAL := all

# ---- dependencies -----------------------------------------------------------
# A stamp records that scripts/setup-deps.sh ran; it installs what is missing.
DEPS_STAMP := $(BUILD)/.deps-ok
$(DEPS_STAMP): scripts/setup-deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)scripts/setup-deps.sh
	$(Q)touch $@
deps: $(DEPS_STAMP)

# ---- libsmt -----------------------------------------------------------------
LIB_SRCS := $(sort $(wildcard user/lib/*.c))
LIB_OBJS := $(patsubst user/lib/%.c,$(BUILD)/obj/lib/%.o,$(LIB_SRCS))
LIB_A := $(BUILD)/lib/libsmt.a
LIB_SO := $(BUILD)/lib/libsmt.so
LIB_PC := $(BUILD)/lib/libsmt.pc

$(BUILD)/obj/lib/%.o: user/lib/%.c | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SMT_CFLAGS) -fvisibility=default -MMD -MP -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_OBJS) user/lib/libsmt.map
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -shared -Wl,--version-script=user/lib/libsmt.map \
		-Wl,-soname,libsmt.so.0 -o $@.0 $(LIB_OBJS) $(LDLIBS_SMT)
	$(Q)ln -sf libsmt.so.0 $@

# SMT_VERSION is used by version.c alone; that object and libsmt.pc follow
# the Makefile. libsmt.pc is rewritten when PREFIX or the version differ from
# what it says (a `make install PREFIX=/usr` after a plain `make`).
$(BUILD)/obj/lib/version.o: Makefile

.PHONY: FORCE
$(LIB_PC): FORCE
	$(Q)mkdir -p $(@D)
	$(Q)printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: libsmt\nDescription: Secure Message Transport: encrypted RPC messages over a Homa-like transport\nVersion: %s\nRequires.private: libssl libcrypto json-c\nLibs: -L$${libdir} -lsmt\nCflags: -I$${includedir}\n' \
		'$(PREFIX)' '$(SMT_VERSION)' > $@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

ALL_TARGETS += $(LIB_A) $(LIB_SO) $(LIB_PC)

# ---- programs ---------------------------------------------------------------
# user/tools/NAME.c is one program, user/tools/NAME/*.c too; the files in
# user/tools/common/ are linked into all programs; user/smtd/ and
# user/smtctl/ are one program each.
TOOL_COMMON_SRCS := $(wildcard user/tools/common/*.c)
TOOL_COMMON_OBJS := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(TOOL_COMMON_SRCS))
TOOL_NAMES := $(basename $(notdir $(wildcard user/tools/*.c)))
TOOL_DIRS := $(filter-out common,$(notdir $(patsubst %/,%,$(dir $(wildcard user/tools/*/*.c)))))
DAEMON_DIRS := $(filter-out lib tools,$(notdir $(patsubst %/,%,$(dir $(wildcard user/*/*.c)))))
PROGS := $(addprefix $(BUILD)/bin/,$(TOOL_NAMES) $(sort $(DAEMON_DIRS) $(TOOL_DIRS)))

$(BUILD)/obj/%.o: user/%.c | $(DEPS_STAMP) bpf-skels
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SMT_CFLAGS) -Iuser/tools/common -MMD -MP -c $< -o $@

define tool_rule
$(BUILD)/bin/$(1): $(BUILD)/obj/tools/$(1).o $(TOOL_COMMON_OBJS) $(LIB_A)
	$$(call msg,LD,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$$(CC) -o $$@ $$^ $$(LDLIBS_TOOLS) $$(LDLIBS_$(1))
endef
$(foreach t,$(TOOL_NAMES),$(eval $(call tool_rule,$(t))))

define daemon_rule
$(BUILD)/bin/$(1): $(patsubst user/%.c,$(BUILD)/obj/%.o,$(wildcard user/$(1)/*.c)) $(TOOL_COMMON_OBJS) $(LIB_A)
	$$(call msg,LD,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$$(CC) -o $$@ $$^ $$(LDLIBS_TOOLS) $$(LDLIBS_$(1))
endef
$(foreach d,$(sort $(DAEMON_DIRS)),$(eval $(call daemon_rule,$(d))))

define tooldir_rule
$(BUILD)/bin/$(1): $(patsubst user/%.c,$(BUILD)/obj/%.o,$(wildcard user/tools/$(1)/*.c)) $(TOOL_COMMON_OBJS) $(LIB_A)
	$$(call msg,LD,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$$(CC) -o $$@ $$^ $$(LDLIBS_TOOLS) $$(LDLIBS_$(1))
endef
$(foreach d,$(sort $(TOOL_DIRS)),$(eval $(call tooldir_rule,$(d))))

# Shell programs for operators, versioned like the others (@VERSION@).
SCRIPT_PROGS := $(BUILD)/bin/smt-certs $(BUILD)/bin/smt-rotate-stek
$(SCRIPT_PROGS): $(BUILD)/bin/%: scripts/% Makefile
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)sed 's|@VERSION@|$(SMT_VERSION)|' $< > $@ && chmod 0755 $@

ALL_TARGETS += $(PROGS) $(SCRIPT_PROGS)

# ---- BPF objects and skeletons ----------------------------------------------
BPF_SRCS := $(sort $(wildcard bpf/*.bpf.c))
BPF_NAMES := $(patsubst bpf/%.bpf.c,%,$(BPF_SRCS))
BPF_OBJS := $(patsubst %,$(BUILD)/bpf/%.bpf.o,$(BPF_NAMES))
BPF_SKELS := $(patsubst %,$(BUILD)/bpf/%.skel.h,$(BPF_NAMES))
VMLINUX_H := $(BUILD)/bpf/vmlinux.h
BPF_ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(BPF_ARCH) \
	-DSMT_IPPROTO_BUILD=$(SMT_IPPROTO) -Iinclude -Ibpf -I$(BUILD)/bpf

# vmlinux.h from the running kernel's BTF, or the committed copy without it.
$(VMLINUX_H): | $(DEPS_STAMP)
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)if [ -r /sys/kernel/btf/vmlinux ]; then \
		$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp; \
	else xz -dc bpf/vmlinux.h.xz > $@.tmp; fi && mv $@.tmp $@

$(BUILD)/bpf/%.tmp.o: bpf/%.bpf.c $(VMLINUX_H) $(wildcard bpf/lib/*.h) $(wildcard include/smt/*.h)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/%.bpf.o: $(BUILD)/bpf/%.tmp.o
	$(call msg,GENOBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GENSKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@.tmp && mv $@.tmp $@

.PHONY: bpf-skels
bpf-skels: $(BPF_SKELS)
.SECONDARY: $(patsubst %,$(BUILD)/bpf/%.tmp.o,$(BPF_NAMES)) $(VMLINUX_H)
ALL_TARGETS += $(BPF_OBJS) $(BPF_SKELS)

# ---- fragments --------------------------------------------------------------
include $(sort $(wildcard user/*/*.mk bpf/*.mk kmod/*.mk tests/*/*.mk scripts/*.mk docs/*.mk))

all: $(ALL_TARGETS)

# ---- tests ------------------------------------------------------------------
# make test runs check first: style and static analysis are part of passing.
.PHONY: test-check
TEST_TIERS += test-check
test-check: check

RUN_TIERS := $(filter $(TEST_TIERS),$(TEST_ORDER)) $(filter-out $(TEST_ORDER),$(TEST_TIERS))
test: all
	@fail=; for t in $(RUN_TIERS); do \
		echo "==== $$t"; \
		$(MAKE) --no-print-directory $$t || fail="$$fail $$t"; \
	done; \
	if [ -n "$$fail" ]; then echo "==== FAILED tiers:$$fail"; exit 1; fi; \
	echo "==== all test tiers passed:$(RUN_TIERS)"

# ---- check ------------------------------------------------------------------
FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null | grep -v -e '^tests/fuzz/corpus' -e 'vmlinux')
check: $(DEPS_STAMP)
	$(call msg,FORMAT,kernel style)
	$(Q)clang-format --dry-run --Werror $(FORMAT_SRCS)
	$(call msg,CPPCHECK,user/ include/)
	$(Q)cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability -D__CPPCHECK__ --force \
		--inline-suppr --suppress=missingIncludeSystem \
		-Iinclude -Iuser/lib -Iuser/tools/common user/ include/

# ---- install ----------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/include/smt $(DESTDIR)$(PREFIX)/lib/smt/bpf \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/lib/systemd/system \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(PROGS) $(SCRIPT_PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(SYSCONFDIR)/smt
	[ -e $(DESTDIR)$(SYSCONFDIR)/smt/smt.conf ] || \
		install -m 0644 scripts/smt.conf.example $(DESTDIR)$(SYSCONFDIR)/smt/smt.conf
	install -m 0644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(LIB_SO).0 $(DESTDIR)$(PREFIX)/lib/
	ln -sf libsmt.so.0 $(DESTDIR)$(PREFIX)/lib/libsmt.so
	install -m 0644 $(LIB_PC) $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 0644 include/smt/*.h $(DESTDIR)$(PREFIX)/include/smt/
	install -m 0644 user/lib/libsmt.h $(DESTDIR)$(PREFIX)/include/
	install -m 0644 scripts/smtctl.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/smtctl
	sed 's|/usr/local|$(PREFIX)|g' scripts/smtd.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/smtd.service
	sed 's|/usr/local|$(PREFIX)|g' scripts/smt-proxy.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/smt-proxy.service
	$(if $(BPF_OBJS),install -m 0644 $(BPF_OBJS) $(DESTDIR)$(PREFIX)/lib/smt/bpf/)
	for s in 1 5 8; do for f in docs/man/*.$$s; do [ -e "$$f" ] && \
		install -m 0644 $$f $(DESTDIR)$(PREFIX)/share/man/man$$s/; done; done; true
	install -m 0755 scripts/smt-user.sh $(DESTDIR)$(PREFIX)/lib/smt/
	# smtd's own user (smtd.service User=smt), on this machine only
	[ -n "$(DESTDIR)" ] || [ "$$(id -u)" != 0 ] || scripts/smt-user.sh $(SYSCONFDIR)

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(PROGS) $(SCRIPT_PROGS)))
	rm -f $(DESTDIR)$(PREFIX)/lib/libsmt.* $(DESTDIR)$(PREFIX)/lib/pkgconfig/libsmt.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/smt $(DESTDIR)$(PREFIX)/lib/smt
	rm -f $(DESTDIR)$(PREFIX)/include/libsmt.h
	rm -f $(DESTDIR)$(PREFIX)/lib/systemd/system/smtd.service
	rm -f $(DESTDIR)$(PREFIX)/lib/systemd/system/smt-proxy.service
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/smtctl
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/,$(foreach f,$(wildcard docs/man/*.[158]),man$(subst .,,$(suffix $(f)))/$(notdir $(f))))

clean:
	rm -rf $(BUILD) $(CLEAN_EXTRA)

help:
	@echo 'smt build targets (BUILD=$(BUILD), V=1 for full commands):'
	@echo '  all        build libsmt, every program and every BPF object (default)'
	@echo '  test       build, then run every test tier this machine supports'
	@echo '  check      clang-format (kernel style) and cppcheck; fails on findings'
	@echo '  bench      benchmarks, side by side with baselines, reported as ratios'
	@echo '  demo       client, middlebox and server in network namespaces'
	@echo '  install    install under $$(DESTDIR)$$(PREFIX) (PREFIX=$(PREFIX))'
	@echo '  deps       install missing Debian packages (scripts/setup-deps.sh)'
	@echo '  fuzz       run the libFuzzer targets for longer (FUZZ_SECONDS=...)'
	@echo '  clean      remove $(BUILD)/'
	@printf '%s\n' $(HELP)
	@echo 'test tiers, in order: $(RUN_TIERS)'

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
