# SPDX-License-Identifier: BSD-2-Clause
#
# BPF extras. The generic rules in the top-level Makefile build every
# bpf/*.bpf.c; this fragment only regenerates the committed fallback
# bpf/vmlinux.h.xz (used when /sys/kernel/btf/vmlinux is absent): the running
# kernel's vmlinux.h trimmed to the types bpf/ and tests/bpf use.

HELP += '  bpf-vmlinux-xz  regenerate bpf/vmlinux.h.xz from this kernel (needs BTF)'

.PHONY: bpf-vmlinux-xz
bpf-vmlinux-xz: $(VMLINUX_H)
	$(call msg,TRIM,bpf/vmlinux.h.xz)
	$(Q)python3 tests/bpf/trim-vmlinux.py $(VMLINUX_H) bpf/*.bpf.c \
		bpf/lib/*.h include/smt/*.h tests/bpf/*.bpf.c \
		/usr/include/bpf/bpf_helpers.h /usr/include/bpf/bpf_helper_defs.h \
		/usr/include/bpf/bpf_endian.h /usr/include/bpf/bpf_tracing.h \
		> $(BUILD)/bpf/vmlinux.trim.h
	$(Q)xz -9 -c $(BUILD)/bpf/vmlinux.trim.h > bpf/vmlinux.h.xz
