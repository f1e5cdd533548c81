/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map ABI of the fault injector bpf/smt_fault.bpf.c, shared with its CLI
 * user/tools/smt-fault.c. Three array maps: smt_fault_cfg (one entry:
 * probabilities and which packet types they apply to), smt_fault_rules
 * (exact rules: act on the nth..nth+count-1 packets that match a type,
 * msg_id and wire offset) and smt_fault_stats (one entry of counters).
 * Probabilities are in parts per million so that 0.5% is exact.
 */
#ifndef SMT_FAULT_H
#define SMT_FAULT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SMT_FAULT_PPM 1000000u
#define SMT_FAULT_MAX_RULES 16
#define SMT_FAULT_MARK 0x534d5446u /* "SMTF": our own duplicate, let it by */

/* Bit of packet type t in type_mask; 0 as a mask means every type. */
#define SMT_FAULT_TYPE_BIT(t) (1u << ((t)&0x1f))

struct smt_fault_cfg {
	__u32 drop_ppm; /* drop this share of matching SMT packets */
	__u32 dup_ppm; /* duplicate this share (TC only) */
	__u32 type_mask; /* SMT_FAULT_TYPE_BIT(type)s; 0 = all types */
	__u8 ipproto; /* SMT protocol number; 0 = SMT_IPPROTO_BUILD */
	__u8 pad[3];
};

enum smt_fault_action {
	SMT_FAULT_NONE = 0, /* unused rule slot */
	SMT_FAULT_DROP = 1,
	SMT_FAULT_DUP = 2,
};

#define SMT_FAULT_ANY_OFF 0xffffffffu

struct smt_fault_rule {
	__u8 action; /* enum smt_fault_action */
	__u8 type; /* packet type to match; 0 = any */
	__u8 pad[2];
	__u32 pkt_off; /* DATA wire offset to match; SMT_FAULT_ANY_OFF = any */
	__u64 msg_id; /* 0 = any */
	__u32 nth; /* act from the nth matching packet (0-based) ... */
	__u32 count; /* ... on count of them; 0 = all from nth on */
	__u64 matched; /* packets that matched so far (written by BPF) */
	__u64 acted; /* packets the rule dropped or duplicated */
};

struct smt_fault_stats {
	__u64 seen; /* SMT packets of our protocol */
	__u64 passed;
	__u64 dropped_random;
	__u64 duplicated_random;
	__u64 dropped_rule;
	__u64 duplicated_rule;
	__u64 dup_failed; /* bpf_clone_redirect failed */
	__u64 dup_unsupported; /* duplication asked for under XDP */
};

_Static_assert(sizeof(struct smt_fault_cfg) == 16, "smt_fault_cfg ABI");
_Static_assert(sizeof(struct smt_fault_rule) == 40, "smt_fault_rule ABI");
_Static_assert(sizeof(struct smt_fault_stats) == 64, "smt_fault_stats ABI");
_Static_assert(__builtin_offsetof(struct smt_fault_rule, msg_id) == 8,
	       "smt_fault_rule.msg_id at 8");

#endif /* SMT_FAULT_H */
