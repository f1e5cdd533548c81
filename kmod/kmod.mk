# SPDX-License-Identifier: BSD-2-Clause
#
# Kernel module, its mock-kernel unit tests and the QEMU VM tier.
#   make kmod          build $(BUILD)/kmod/smt.ko against KDIR; when no KDIR
#                      is found, fetch Debian's linux-headers-amd64 into
#                      $(SMT_VM_CACHE) first (never installed system-wide)
#   make vm-test       build smt.ko against Debian's kernel and the guest
#                      test program, boot the kernel in QEMU (TCG), run
#                      tests/vm/init.sh, read PASS/FAIL from the console
#   test-kmod-unit     the module's own .c files against a userspace mock of
#                      the kernel (tests/unit/kmod/), Criterion + ASan
#   test-vm            vm-test; SKIP (loudly) when QEMU or the Debian
#                      registry is unavailable, FAIL then when CI=true
# kbuild writes next to its sources, so the sources are copied to
# $(BUILD)/kmod/src and built there with M=.

SMT_VM_CACHE ?= /var/cache/smt-vm
KMOD_SRCS := $(wildcard kmod/*.c kmod/*.h) kmod/Kbuild
KMOD_HDRS := $(wildcard include/smt/*.h)
KMOD_KO := $(BUILD)/kmod/smt.ko
# KDIR: given on the command line, else the running kernel's build tree,
# else Debian's headers already fetched into the VM cache.
KDIR_RUNNING := $(wildcard /lib/modules/$(shell uname -r)/build/Makefile)
KDIR_CACHE := $(shell d=$$(cat $(SMT_VM_CACHE)/KDIR 2>/dev/null) && \
	[ -f "$$d/Makefile" ] && echo "$$d")
KDIR ?= $(firstword $(patsubst %/Makefile,%,$(KDIR_RUNNING)) $(KDIR_CACHE))

# $(1): kernel build tree, $(2): output directory (gets src/, kbuild.log
# and the module), $(3): source files, $(4): module name.
# MAKEFLAGS is cleared so that our command-line variables (BUILD, CFLAGS,
# ...) do not leak into kbuild.
define kbuild_module
	$(call msg,KBUILD,$(2)/$(4).ko)
	$(Q)rm -rf $(2)/src && mkdir -p $(2)/src
	$(Q)cp $(3) $(2)/src/
	$(Q)env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(MAKE) -s -C $(1) \
		M=$(abspath $(2)/src) SMT_INCLUDE=$(abspath include) modules \
		$(if $(filter 1,$(V)),V=1,) >$(2)/kbuild.log 2>&1 || \
		{ cat $(2)/kbuild.log; exit 1; }
	$(Q)cp $(2)/src/$(4).ko $(2)/$(4).ko
endef
# $(1): kernel build tree, $(2): output directory (gets src/ and smt.ko).
kmod_build = $(call kbuild_module,$(1),$(2),$(KMOD_SRCS),smt)

$(KMOD_KO): $(KMOD_SRCS) $(KMOD_HDRS)
	$(if $(KDIR),,$(error no kernel headers: run `make kmod`, or give KDIR=))
	$(call kmod_build,$(KDIR),$(BUILD)/kmod)

.PHONY: kmod kmod-hint vm-test test-vm test-kmod-unit
kmod:
	$(Q)kdir='$(KDIR)'; if [ -z "$$kdir" ]; then \
		scripts/vm-fetch.sh '$(SMT_VM_CACHE)' >/dev/null && \
		kdir=$$(cat '$(SMT_VM_CACHE)/KDIR'); fi; \
	$(MAKE) --no-print-directory $(KMOD_KO) KDIR="$$kdir"

kmod-hint:
	@echo 'note: smt.ko not built: no kernel headers (no KDIR, no'
	@echo '      /lib/modules/$(shell uname -r)/build, nothing in $(SMT_VM_CACHE)).'
	@echo '      `make kmod` fetches Debian'"'"'s linux-headers-amd64 into'
	@echo '      $(SMT_VM_CACHE) and builds it; or pass KDIR=/path/to/kernel/build.'

ifneq ($(KDIR),)
ALL_TARGETS += $(KMOD_KO)
else
ALL_TARGETS += kmod-hint
endif

# ---- VM tier ----------------------------------------------------------------
VM_OUT := $(BUILD)/vm
VM_PROG := $(VM_OUT)/smt-vm-test
# smt_tlsdev.ko: test-only device pair with software TLS TX offload, for
# the offload pass of the VM tier only (kmod/test/smt_tlsdev.c).
KMOD_TEST_SRCS := $(wildcard kmod/test/*.c) kmod/test/Kbuild
VM_TEST_KO_OUT := $(VM_OUT)/kmod-test
# The fetched Debian headers (read when the recipe runs, after vm-fetch.sh).
VM_KDIR = $$(cat '$(SMT_VM_CACHE)/KDIR')
VM_CFLAGS := -O2 -g $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser/lib

$(VM_PROG): tests/vm/smt_vm_test.c $(LIB_A) $(KMOD_HDRS) \
		tests/unit/common/seq_vectors.h
	$(call msg,CCSTATIC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(VM_CFLAGS) -static -o $@ $< $(LIB_A) -lssl -lcrypto \
		-lpthread 2>&1 | { grep -v -e 'statically linked' \
		-e 'in function' || true; }; test -x $@

# Always Debian's headers here: the module must match the guest kernel.
vm-test: $(VM_PROG)
	$(Q)scripts/vm-fetch.sh '$(SMT_VM_CACHE)' >/dev/null
	$(call kmod_build,$(VM_KDIR),$(VM_OUT)/kmod)
	$(call kbuild_module,$(VM_KDIR),$(VM_TEST_KO_OUT),$(KMOD_TEST_SRCS),smt_tlsdev)
	$(Q)scripts/vm-run.sh '$(SMT_VM_CACHE)' $(VM_OUT)/kmod/smt.ko \
		$(VM_PROG) $(VM_OUT) $(VM_TEST_KO_OUT)/smt_tlsdev.ko

test-vm:
	@if ! command -v qemu-system-x86_64 >/dev/null || \
	    ! scripts/vm-fetch.sh '$(SMT_VM_CACHE)' >/dev/null; then \
		if [ "$$CI" = true ]; then \
			echo 'FAIL test-vm: QEMU or the Debian kernel packages unavailable (CI=true)'; \
			exit 1; fi; \
		echo '*** SKIP test-vm: QEMU or the Debian kernel packages unavailable; NOT a pass ***'; \
		exit 0; fi; \
	$(MAKE) --no-print-directory vm-test

TEST_TIERS += test-kmod-unit test-vm
CLEAN_EXTRA +=
HELP += '  kmod       build $$(BUILD)/kmod/smt.ko (fetches Debian kernel headers if none)'
HELP += '  vm-test    boot Debian'"'"'s kernel in QEMU and run the kernel-module tests'

# ---- mock-kernel unit tests -------------------------------------------------
# The module's logic files compiled in userspace against tests/unit/kmod/
# mock_kernel.h (SMT_KMOD_MOCK), with libsmt's record layer and codec as the
# reference implementation, under ASan and UBSan.
KUNIT_OUT := $(BUILD)/test-kmod
KUNIT_BIN := $(KUNIT_OUT)/test_kmod
KUNIT_KSRCS := $(filter-out kmod/smt_plumbing.c kmod/smt_ip.c,\
	$(wildcard kmod/*.c))
KUNIT_SRCS := $(KUNIT_KSRCS) $(wildcard tests/unit/kmod/*.c)
# (filter-out takes one % per word: the backends and engine files by name)
KUNIT_LIBSRCS := $(filter-out user/lib/api.c user/lib/ctl_client.c \
	$(wildcard user/lib/backend_*.c user/lib/engine*.c), \
	$(wildcard user/lib/*.c))
KUNIT_CFLAGS := -O1 -g $(WARN) -std=gnu11 -D_GNU_SOURCE -DSMT_KMOD_MOCK \
	-fsanitize=address,undefined -fno-omit-frame-pointer \
	-Itests/unit/kmod -Ikmod -Iinclude -Iuser/lib

# Every header the binary compiles: the module's, the mock's, libsmt's
# (record.h, codec.h, ...) and include/smt (rules.h): a change to any of
# them rebuilds it.
$(KUNIT_BIN): $(KUNIT_SRCS) $(KUNIT_LIBSRCS) $(wildcard tests/unit/kmod/*.h) \
		$(wildcard kmod/*.h) $(wildcard user/lib/*.h) \
		$(wildcard tests/unit/common/*.h) $(KMOD_HDRS) | $(DEPS_STAMP)
	$(call msg,CCASAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(KUNIT_CFLAGS) -o $@ $(KUNIT_SRCS) $(KUNIT_LIBSRCS) \
		-lcriterion -lssl -lcrypto

test-kmod-unit: $(KUNIT_BIN)
	$(Q)ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
		$(KUNIT_BIN) --jobs 1
