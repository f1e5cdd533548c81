/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the SMT BPF programs: a cursor walks Ethernet (with one
 * VLAN tag), IPv4 or IPv6 and the SMT common header, natively (protocol
 * ipproto) or over UDP (protocol.md 1.1: recognised on the port ranges of a
 * `udp_ports` map, then the UDP ports checked against the SMT ports). Each
 * step returns the next header type (SMT_NH_*) or a negative drop reason
 * (-SMT_DROP_*), so the callers read as a chain of "what comes next".
 * smt_check_hdr() then applies the stateless receive rules of protocol.md
 * section 2, the same for both encapsulations. Works on XDP and on TC
 * (direct packet access) alike: only data/data_end pointers are used.
 */
#ifndef SMT_PARSE_BPF_H
#define SMT_PARSE_BPF_H

#include <smt/wire.h>
#include <smt/drop.h>
#include <smt/rules.h>
#include <smt/maps.h>
#include "maps.bpf.h"
#include "l4.bpf.h"

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8

/* Next header types returned by the parse steps. */
enum smt_nh {
	SMT_NH_OTHER = 0, /* not for us: pass untouched */
	SMT_NH_IPV4,
	SMT_NH_IPV6,
	SMT_NH_SMT,
	SMT_NH_UDP, /* UDP, maybe SMT: smt_parse_udp() decides */
};

struct smt_cursor {
	void *pos;
	void *end;
};

/* What the parse steps learned about one packet. */
struct smt_pkt {
	struct smt_hdr *smt;
	void *l3; /* IP header */
	__u8 *saddr; /* in the packet */
	__u8 *daddr;
	__u32 l3_off; /* offset of the IP header from the frame start */
	__u32 ip_len; /* SMT bytes: the IP payload per the IP header, or
		       * over UDP the UDP payload per the UDP header */
	__u16 ipv4_id; /* host order; IPv4 only */
	__u8 family; /* SMT_FAM_* */
	__u8 encap; /* SMT_KEY_ENCAP_* */
	/* Filled by smt_check_hdr() for DATA. */
	__u32 off; /* real payload offset (IPID_OFF applied) */
	__u32 len; /* payload length */
	__u32 seg_off;
	__u32 msg_len;
	__u64 msg_id;
};

static __always_inline int smt_parse_eth(struct smt_cursor *c, __u32 *l3_off)
{
	struct ethhdr *eth = c->pos;
	struct vlan_hdr *vh;
	__u16 proto;

	if ((void *)(eth + 1) > c->end)
		return SMT_NH_OTHER;
	proto = eth->h_proto;
	c->pos = eth + 1;
	/* One tag, 802.1Q or 802.1ad; no loop, so no bounded-loop games. */
	if (proto == bpf_htons(ETH_P_8021Q_) ||
	    proto == bpf_htons(ETH_P_8021AD_)) {
		vh = c->pos;
		if ((void *)(vh + 1) > c->end)
			return SMT_NH_OTHER;
		proto = vh->h_vlan_encapsulated_proto;
		c->pos = vh + 1;
	}
	*l3_off = c->pos - (void *)eth;
	if (proto == bpf_htons(ETH_P_IP_))
		return SMT_NH_IPV4;
	if (proto == bpf_htons(ETH_P_IPV6_))
		return SMT_NH_IPV6;
	return SMT_NH_OTHER;
}

/*
 * IPv4: returns SMT_NH_SMT when the protocol is ipproto, SMT_NH_UDP for a
 * well-formed unfragmented UDP packet (check 1 of protocol.md 1.1),
 * SMT_NH_OTHER for anything else, or a negative drop reason for a malformed
 * or fragmented native SMT packet. A header too short to read is not ours
 * to judge: pass. So is a malformed or fragmented UDP packet: nothing says
 * it is SMT (protocol.md 1.1), and the stack judges it.
 */
static __always_inline int smt_parse_ipv4(struct smt_cursor *c,
					  struct smt_pkt *p, __u8 ipproto)
{
	struct iphdr *ip = c->pos;
	__u32 ihl, tot;
	int udp;

	if ((void *)(ip + 1) > c->end)
		return SMT_NH_OTHER;
	udp = ip->protocol == SMT_IPPROTO_UDP;
	if (ip->protocol != ipproto && !udp)
		return SMT_NH_OTHER;
	ihl = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || ihl < sizeof(*ip) || tot < ihl)
		return udp ? SMT_NH_OTHER : -SMT_DROP_BAD_IP;
	if (ip->frag_off & bpf_htons(IP_MF_ | IP_OFFMASK_))
		return udp ? SMT_NH_OTHER : -SMT_DROP_IP_FRAGMENT;
	/* Verifier: ihl is 20..60, a bounded variable offset from pos. */
	if (ihl > 60 || c->pos + ihl > c->end)
		return udp ? SMT_NH_OTHER : -SMT_DROP_BAD_IP;
	p->l3 = ip;
	p->saddr = (__u8 *)&ip->saddr;
	p->daddr = (__u8 *)&ip->daddr;
	p->ip_len = tot - ihl;
	p->ipv4_id = bpf_ntohs(ip->id);
	p->family = SMT_FAM_IPV4;
	c->pos += ihl;
	return udp ? SMT_NH_UDP : SMT_NH_SMT;
}

/*
 * IPv6 without extension headers: SMT (or UDP, check 1 of protocol.md 1.1)
 * must be the first next header. A packet with extension headers in front
 * of SMT is passed, not parsed. Returns as smt_parse_ipv4().
 */
static __always_inline int smt_parse_ipv6(struct smt_cursor *c,
					  struct smt_pkt *p, __u8 ipproto)
{
	struct ipv6hdr *ip6 = c->pos;
	int udp;

	if ((void *)(ip6 + 1) > c->end)
		return SMT_NH_OTHER;
	udp = ip6->nexthdr == SMT_IPPROTO_UDP;
	if (ip6->nexthdr != ipproto && !udp)
		return SMT_NH_OTHER;
	if (ip6->version != 6)
		return udp ? SMT_NH_OTHER : -SMT_DROP_BAD_IP;
	p->l3 = ip6;
	p->saddr = (__u8 *)&ip6->saddr;
	p->daddr = (__u8 *)&ip6->daddr;
	p->ip_len = bpf_ntohs(ip6->payload_len);
	p->family = SMT_FAM_IPV6;
	c->pos = ip6 + 1;
	return udp ? SMT_NH_UDP : SMT_NH_SMT;
}

/*
 * UDP (after check 1): checks 2 to 4 of protocol.md 1.1 on the port ranges
 * of `ranges`. SMT_NH_SMT with the cursor on the SMT header and p->ip_len
 * the UDP payload length, or SMT_NH_OTHER: not SMT, pass untouched. A UDP
 * length beyond the IP payload is a broken datagram, not SMT: the stack
 * drops it.
 */
static __always_inline int smt_parse_udp(struct smt_cursor *c,
					 struct smt_pkt *p, void *ranges)
{
	struct smt_hdr *h;
	__u32 len;

	h = smt_udp_recognise(ranges, c->pos, c->end, &len);
	if (!h || len + SMT_UDP_HDR_LEN > p->ip_len)
		return SMT_NH_OTHER;
	p->ip_len = len;
	p->encap = SMT_KEY_ENCAP_UDP;
	c->pos = h;
	return SMT_NH_SMT;
}

/*
 * Ethernet through the SMT header, native or over UDP on the port ranges
 * of `ranges` (the program's `udp_ports` map). Returns SMT_NH_SMT with
 * p->smt and p->encap set, SMT_NH_OTHER for packets that are not SMT, or a
 * negative drop reason. Over UDP the SMT ports must equal the UDP ports,
 * checked right after the length (protocol.md 1.1).
 */
static __always_inline int smt_parse(void *data, void *data_end,
				     struct smt_pkt *p, __u8 ipproto,
				     void *ranges)
{
	struct smt_cursor c = {.pos = data, .end = data_end};
	struct udphdr *uh = NULL;
	struct smt_hdr *h;
	__u32 avail;
	int nh;

	p->encap = SMT_KEY_ENCAP_IP;
	nh = smt_parse_eth(&c, &p->l3_off);
	if (nh == SMT_NH_IPV4)
		nh = smt_parse_ipv4(&c, p, ipproto);
	else if (nh == SMT_NH_IPV6)
		nh = smt_parse_ipv6(&c, p, ipproto);
	else
		return SMT_NH_OTHER;
	if (nh == SMT_NH_UDP) {
		uh = c.pos;
		nh = smt_parse_udp(&c, p, ranges);
	}
	if (nh != SMT_NH_SMT)
		return nh;
	avail = c.end - c.pos;
	/* Trailing link-layer padding may follow; fewer bytes may not. */
	if (p->ip_len > avail)
		return -SMT_DROP_BAD_IP;
	h = c.pos;
	if (p->ip_len < SMT_HDR_LEN || (void *)(h + 1) > c.end)
		return -SMT_DROP_SHORT_HEADER;
	/* Verifier: the bounds check inside smt_udp_recognise() was made on
	 * another copy of the pointer; repeat it on this one. */
	if (uh && (void *)(uh + 1) <= c.end &&
	    (h->sport != uh->source || h->dport != uh->dest))
		return -SMT_DROP_UDP_PORT_MISMATCH;
	p->smt = h;
	return SMT_NH_SMT;
}

/*
 * smt_parse() for the XDP entry programs, which count every packet in their
 * per-CPU `stats` array: SMT_XS_NON_SMT for SMT_NH_OTHER (non-SMT UDP
 * included), else SMT_XS_RX_SMT (malformed SMT packets included). Returns
 * what smt_parse() returned.
 */
static __always_inline int smt_parse_count(void *data, void *data_end,
					   struct smt_pkt *p, __u8 ipproto,
					   void *ranges, void *stats)
{
	int nh = smt_parse(data, data_end, p, ipproto, ranges);

	if (nh == SMT_NH_OTHER) {
		smt_count(stats, SMT_XS_NON_SMT);
		return SMT_NH_OTHER;
	}
	smt_count(stats, SMT_XS_RX_SMT);
	return nh;
}

/* Copy an address into a 16-byte key field (IPv4: 4 bytes, rest zero). */
static __always_inline void smt_addr_copy(__u8 *dst, const __u8 *src,
					  __u8 family)
{
	if (family == SMT_FAM_IPV4) {
		__builtin_memcpy(dst, src, 4);
		__builtin_memset(dst + 4, 0, 12);
	} else {
		__builtin_memcpy(dst, src, 16);
	}
}

/*
 * Header-level rules every SMT packet must pass: version and known type
 * (include/smt/rules.h). Returns 0 or a drop reason.
 */
static __always_inline int smt_check_common(const struct smt_pkt *p)
{
	return smt_rule_hdr(p->smt->doff_ver, p->smt->type);
}

/*
 * The per-packet rules of protocol.md section 2 for DATA and control
 * packets (after smt_check_common), from include/smt/rules.h in the order
 * of protocol.md 8.2. b: the session's B, 0 when not known (the loosest
 * bounds, msg_id 0 and 1 still dropped); max_wire: 0 when not known. On
 * success fills p->off/len/seg_off/msg_len/msg_id for DATA and returns 0;
 * otherwise returns the drop reason.
 */
static __always_inline int smt_check_hdr(struct smt_pkt *p, void *data_end,
					 __u32 b, __u32 max_wire)
{
	struct smt_hdr *h = p->smt;
	__u8 *payload = (__u8 *)(h + 1);
	struct smt_data_view d = {};
	int reason;

	p->msg_id = bpf_be64_to_cpu(h->msg_id);
	if (h->type != SMT_TYPE_DATA) {
		struct smt_ack_body *ack = (void *)payload;
		__u16 count = 0;

		if (p->ip_len >= SMT_ACK_LEN(0) &&
		    (void *)(ack + 1) <= data_end)
			count = bpf_ntohs(ack->count);
		return smt_rule_ctl_len(h->type, p->ip_len, count);
	}

	d.msg_id = p->msg_id;
	d.pkt_off = bpf_ntohl(h->pkt_off);
	d.seg_off = bpf_ntohl(h->seg_off);
	d.msg_len = bpf_ntohl(h->msg_len);
	d.len = p->ip_len - SMT_HDR_LEN;
	d.ipv4_id = p->family == SMT_FAM_IPV4 ? p->ipv4_id : -1;
	d.flags = bpf_ntohs(h->flags);
	d.rec_idx = bpf_ntohs(h->rec_idx);
	d.pkt_idx = bpf_ntohs(h->pkt_idx);
	/* Verifier: the record header must be inside the packet; a shorter
	 * payload is judged by its length before these bytes are read. */
	if (payload + SMT_REC_HDR_LEN <= (__u8 *)data_end)
		__builtin_memcpy(d.rec, payload, SMT_REC_HDR_LEN);
	reason = smt_rule_data(&d, b, max_wire);
	p->msg_len = d.msg_len;
	p->len = d.len;
	p->seg_off = d.seg_off;
	p->off = d.off;
	return reason;
}

/* splitmix64 finaliser: spreads consecutive msg_ids over all buckets. */
static __always_inline __u64 smt_mix64(__u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/*
 * The hash that spreads a flow's messages (cpumap CPU on hosts, next hop
 * on the middlebox): msg_id, the two SMT ports and addr, 32 bits mixed from
 * the addresses by the caller.
 */
static __always_inline __u64 smt_msg_hash(__u64 msg_id, __be16 port_hi,
					  __be16 port_lo, __u32 addr)
{
	return smt_mix64(msg_id ^ ((__u64)port_hi << 48) ^
			 ((__u64)port_lo << 32) ^ addr);
}

#endif /* SMT_PARSE_BPF_H */
