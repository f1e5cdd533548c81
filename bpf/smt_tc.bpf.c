// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * smt_tc: host egress on clsact. Counts SMT packets (native, or over UDP on
 * the port ranges of `udp_ports`, shared with smt_xdp) per session and per
 * message (`tx_sess_stats`, `tx_messages`) and sets skb->priority and the
 * DSCP (IPv4 TOS with the header checksum fixed, IPv6 traffic class) from
 * the message's size class: msg_len against the class bounds of
 * `tc_config`, smallest class first, so switches that honour DSCP can
 * favour small messages as Homa's priorities do. Control packets belong to
 * the smallest class. Never drops: every packet continues (TC_ACT_OK).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lib/host.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_ACT_OK_ 0
/* Ethernet + VLAN + IPv6 + UDP + SMT header + record header */
#define SMT_TC_PULL \
	(14 + 4 + 40 + SMT_UDP_HDR_LEN + SMT_HDR_LEN + SMT_REC_HDR_LEN)

const volatile __u8 smt_ipproto = SMT_IPPROTO_BUILD;
/* Built-in classes: <= 1500, <= 16 KiB, <= 256 KiB, rest. */
const volatile __u32 smt_tc_dscp_on = 1;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, SMT_MAX_SESSIONS);
	__type(key, struct smt_session_key);
	__type(value, struct smt_sess_stats);
} tx_sess_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SMT_MAX_MESSAGES);
	__type(key, struct smt_msg_key);
	__type(value, struct smt_msg_state);
} tx_messages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct smt_tc_config);
} tc_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SMT_XS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tc_stats SEC(".maps");

static const struct smt_tc_config smt_tc_default = {
	.flags = SMT_TC_CFG_VALID | SMT_TC_CFG_DSCP,
	.n_classes = 4,
	.bound = {1500, 16384, 262144, 0xffffffff},
	.prio = {6, 4, 2, 0},
	.dscp = {46, 34, 18, 0}, /* EF, AF41, AF21, best effort */
};

/* Size class of msg_len: the first class whose bound holds it. */
static __always_inline __u32 smt_tc_class(const struct smt_tc_config *cfg,
					  __u32 msg_len)
{
	__u32 n = cfg->n_classes, i;

	if (n < 1 || n > SMT_TC_CLASSES)
		n = SMT_TC_CLASSES;
		/* Verifier: constant trip count, unrolled. */
#pragma unroll
	for (i = 0; i < SMT_TC_CLASSES - 1; i++) {
		if (i + 1 >= n || msg_len <= cfg->bound[i])
			return i;
	}
	return SMT_TC_CLASSES - 1;
}

/* Rewrite DSCP, keeping ECN. Returns 1 when the packet changed. */
static __always_inline int smt_tc_set_dscp(struct __sk_buff *skb,
					   struct smt_pkt *p, __u8 dscp)
{
	__u32 l3 = p->l3_off;

	if (p->family == SMT_FAM_IPV4) {
		struct iphdr *ip = p->l3;
		__u8 old = ip->tos, tos = (dscp << 2) | (old & 3);
		__u16 oldw, neww;

		if (tos == old)
			return 0;
		/* The checksum covers 16-bit words: version/ihl + tos. */
		oldw = bpf_htons(((__u16)(*(__u8 *)ip) << 8) | old);
		neww = bpf_htons(((__u16)(*(__u8 *)ip) << 8) | tos);
		bpf_l3_csum_replace(skb, l3 + offsetof(struct iphdr, check),
				    oldw, neww, 2);
		bpf_skb_store_bytes(skb, l3 + offsetof(struct iphdr, tos), &tos,
				    1, 0);
		return 1;
	} else {
		struct ipv6hdr *ip6 = p->l3;
		__u8 b0 = *(__u8 *)ip6, b1 = *((__u8 *)ip6 + 1), tc;
		__u8 nb[2];

		tc = ((b0 & 0x0f) << 4) | (b1 >> 4);
		if ((tc >> 2) == dscp)
			return 0;
		tc = (dscp << 2) | (tc & 3);
		nb[0] = (b0 & 0xf0) | (tc >> 4);
		nb[1] = (tc << 4) | (b1 & 0x0f);
		bpf_skb_store_bytes(skb, l3, nb, 2, 0);
		return 1;
	}
}

/*
 * Section "classifier", not "tc": iproute2's `tc filter ... bpf obj FILE`
 * without `sec` looks for "classifier", and libbpf (1.1 and later) still
 * maps that name to a sched_cls program, so both loaders find it.
 */
SEC("classifier")
int smt_tc(struct __sk_buff *skb)
{
	struct smt_sess_stats *st, zero = {};
	const struct smt_tc_config *cfg;
	struct smt_session_key sk = {};
	struct smt_msg_key mk;
	struct smt_pkt p = {};
	void *data, *data_end;
	__u32 key = 0, cls = 0, want;

	/* Headers may sit in paged data: pull what the parser reads (never
	 * more than the packet holds, or the pull fails). */
	want = skb->len < SMT_TC_PULL ? skb->len : SMT_TC_PULL;
	if (skb->data_end - skb->data < want)
		bpf_skb_pull_data(skb, want);
	/*
	 * Verifier: without this barrier clang keeps skb + offsetof(data_end)
	 * in a register across the call and loads through the modified ctx
	 * pointer, which the verifier refuses.
	 */
	asm volatile("" : "+r"(skb));
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (smt_parse(data, data_end, &p, smt_ipproto, &udp_ports) !=
		    SMT_NH_SMT ||
	    !p.smt)
		return TC_ACT_OK_;
	if (smt_check_common(&p) || smt_check_hdr(&p, data_end, 0, 0))
		return TC_ACT_OK_; /* not ours to judge on the way out */
	smt_count(&tc_stats, SMT_XS_TX_SMT);

	cfg = bpf_map_lookup_elem(&tc_config, &key);
	if (!cfg || !(cfg->flags & SMT_TC_CFG_VALID))
		cfg = &smt_tc_default;
	if (p.smt->type == SMT_TYPE_DATA)
		cls = smt_tc_class(cfg, p.msg_len);

	smt_session_key_of(&sk, &p, SMT_DIR_EGRESS);
	st = smt_map_get_or_add(&tx_sess_stats, &sk, &zero);
	smt_sess_count(st, &p);
	/* Egress keeps no SMT_XS_MSG_* counts and sends no events. */
	if (p.smt->type == SMT_TYPE_DATA)
		smt_host_track(&tx_messages, NULL, &mk, &sk, &p, st, 0, cls);

	/* Verifier: cls < SMT_TC_CLASSES by construction; mask for proof. */
	cls &= SMT_TC_CLASSES - 1;
	skb->priority = cfg->prio[cls];
	if (smt_tc_dscp_on && (cfg->flags & SMT_TC_CFG_DSCP) &&
	    smt_tc_set_dscp(skb, &p, cfg->dscp[cls] & 0x3f))
		smt_count(&tc_stats, SMT_XS_TX_REMARK);
	return TC_ACT_OK_;
}
