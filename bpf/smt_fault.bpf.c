// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * smt_fault: fault injection for SMT packets, since these kernels have no
 * netem. As XDP it drops; as TC (clsact ingress or egress) it drops and
 * duplicates, the copy made with bpf_clone_redirect to the same device and
 * direction and marked so that it passes the second time. What to do comes
 * from the maps of include/smt/fault.h: random drop/duplicate shares by
 * packet type, and exact rules (the nth packets matching a type, msg_id and
 * wire offset). SMT is native (the configured protocol) or over UDP on the
 * port ranges of `smt_fault_ports` (protocol.md 1.1, all four checks; the
 * smt-fault tool fills it, by default with every port). It parses only
 * what it needs (lib/l4.bpf.h), not the checked parser of the other
 * programs: malformed SMT packets get faults too.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <smt/wire.h>
#include <smt/fault.h>
#include "lib/l4.bpf.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define BPF_F_INGRESS_FLAG 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct smt_fault_cfg);
} smt_fault_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SMT_FAULT_MAX_RULES);
	__type(key, __u32);
	__type(value, struct smt_fault_rule);
} smt_fault_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct smt_fault_stats);
} smt_fault_stats SEC(".maps");

/* UDP port ranges on which SMT over UDP is recognised (include/smt/maps.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SMT_UDP_PORT_RANGES);
	__type(key, __u32);
	__type(value, struct smt_udp_port_range);
} smt_fault_ports SEC(".maps");

enum verdict { V_PASS, V_DROP, V_DUP, V_NOT_SMT };

struct smt_view {
	__u8 type;
	__u64 msg_id;
	__u32 pkt_off;
};

/*
 * Finds the SMT header behind Ethernet + IPv4/IPv6, native or over UDP;
 * 0 or -1 (not SMT).
 */
static __always_inline int parse(void *data, void *data_end, __u8 proto,
				 struct smt_view *v)
{
	struct smt_hdr *smt;
	__u8 encap;

	smt = smt_l4_smt(data, data_end, proto, &smt_fault_ports, &encap);
	if (!smt)
		return -1;
	v->type = smt->type;
	v->msg_id = bpf_be64_to_cpu(smt->msg_id);
	v->pkt_off = bpf_ntohl(smt->pkt_off);
	return 0;
}

static __always_inline bool chance(__u32 ppm)
{
	if (!ppm)
		return false;
	if (ppm >= SMT_FAULT_PPM)
		return true;
	return bpf_get_prandom_u32() % SMT_FAULT_PPM < ppm;
}

static __always_inline int decide(void *data, void *data_end)
{
	struct smt_fault_stats *st;
	struct smt_fault_cfg *cfg;
	struct smt_view v;
	__u32 zero = 0, i;
	__u8 proto;

	cfg = bpf_map_lookup_elem(&smt_fault_cfg, &zero);
	st = bpf_map_lookup_elem(&smt_fault_stats, &zero);
	if (!cfg || !st)
		return V_NOT_SMT;
	proto = cfg->ipproto ? cfg->ipproto : SMT_IPPROTO_BUILD;
	if (parse(data, data_end, proto, &v) < 0)
		return V_NOT_SMT;
	__sync_fetch_and_add(&st->seen, 1);

	for (i = 0; i < SMT_FAULT_MAX_RULES; i++) {
		struct smt_fault_rule *r;
		__u64 n;
		__u32 key = i;

		r = bpf_map_lookup_elem(&smt_fault_rules, &key);
		if (!r || r->action == SMT_FAULT_NONE)
			continue;
		if (r->type && r->type != v.type)
			continue;
		if (r->msg_id && r->msg_id != v.msg_id)
			continue;
		if (r->pkt_off != SMT_FAULT_ANY_OFF && r->pkt_off != v.pkt_off)
			continue;
		n = __sync_fetch_and_add(&r->matched, 1);
		if (n < r->nth || (r->count && n >= (__u64)r->nth + r->count))
			continue;
		__sync_fetch_and_add(&r->acted, 1);
		if (r->action == SMT_FAULT_DROP) {
			__sync_fetch_and_add(&st->dropped_rule, 1);
			return V_DROP;
		}
		__sync_fetch_and_add(&st->duplicated_rule, 1);
		return V_DUP;
	}

	if (cfg->type_mask && !(cfg->type_mask & SMT_FAULT_TYPE_BIT(v.type)))
		goto pass;
	if (chance(cfg->drop_ppm)) {
		__sync_fetch_and_add(&st->dropped_random, 1);
		return V_DROP;
	}
	if (chance(cfg->dup_ppm)) {
		__sync_fetch_and_add(&st->duplicated_random, 1);
		return V_DUP;
	}
pass:
	__sync_fetch_and_add(&st->passed, 1);
	return V_PASS;
}

static __always_inline void count(__u32 off)
{
	__u32 zero = 0;
	__u64 *p;

	p = bpf_map_lookup_elem(&smt_fault_stats, &zero);
	if (p)
		__sync_fetch_and_add(p + off / sizeof(__u64), 1);
}

SEC("xdp")
int smt_fault_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int v = decide(data, data_end);

	if (v == V_DROP)
		return XDP_DROP;
	if (v == V_DUP) /* XDP cannot copy a frame; say so in the stats */
		count(__builtin_offsetof(struct smt_fault_stats,
					 dup_unsupported));
	return XDP_PASS;
}

static __always_inline int tc_run(struct __sk_buff *skb, __u64 flags)
{
	void *data, *data_end;
	int v;

	/* our own copy comes through again: let it by, unmarked */
	if (skb->mark == SMT_FAULT_MARK) {
		skb->mark = 0;
		return TC_ACT_OK;
	}
	/* make the headers we read linear (no-op for small veth frames) */
	bpf_skb_pull_data(skb, 14 + 40 + SMT_UDP_HDR_LEN + SMT_HDR_LEN);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	v = decide(data, data_end);
	if (v == V_DROP)
		return TC_ACT_SHOT;
	if (v == V_DUP) {
		__u32 old = skb->mark;

		skb->mark = SMT_FAULT_MARK;
		if (bpf_clone_redirect(skb, skb->ifindex, flags) < 0)
			count(__builtin_offsetof(struct smt_fault_stats,
						 dup_failed));
		skb->mark = old;
	}
	return TC_ACT_OK;
}

SEC("tc")
int smt_fault_tc_ingress(struct __sk_buff *skb)
{
	return tc_run(skb, BPF_F_INGRESS_FLAG);
}

SEC("tc")
int smt_fault_tc_egress(struct __sk_buff *skb)
{
	return tc_run(skb, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
