/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Finding SMT behind the IP header, for every program: the bare L4 finder
 * of the programs that only sort packets and judge no header (smt_fault,
 * bench_loss): Ethernet without a VLAN tag, then IPv4 (options skipped,
 * nothing else checked) or the fixed IPv6 header (no extension headers);
 * and the one copy of the recognition of SMT over UDP (protocol.md 1.1,
 * checks 2 to 4: configured port ranges, length, doff_ver), which the
 * checked parser of smt_xdp, smt_tc and mtp_inspect (parse.bpf.h) uses too.
 */
#ifndef SMT_L4_BPF_H
#define SMT_L4_BPF_H

#include <smt/wire.h>
#include <smt/maps.h>

#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD
#define IP_MF_ 0x2000
#define IP_OFFMASK_ 0x1fff

/*
 * The L4 protocol of the frame at data (IPv4 protocol, IPv6 next header),
 * with *l4 set to where its header starts (maybe beyond data_end: the
 * caller checks what it reads); -1 for a frame that is not IP, an IPv4 ihl
 * below 5 or a truncated IP header. *frag (when frag is not NULL) is set
 * for an IPv4 fragment (MF or an offset): its L4 header is not at *l4 or
 * not whole.
 */
static __always_inline int smt_l4_find(void *data, void *data_end, void **l4,
				       int *frag)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP_)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return -1;
		/* Verifier: masked so that it sees a bounded offset. */
		*l4 = (void *)ip + ((__u32)ip->ihl & 0xf) * 4;
		if (frag)
			*frag = !!(ip->frag_off &
				   bpf_htons(IP_MF_ | IP_OFFMASK_));
		return ip->protocol;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6_)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		*l4 = ip6 + 1;
		if (frag)
			*frag = 0;
		return ip6->nexthdr;
	}
	return -1;
}

/*
 * Check 2 of protocol.md 1.1: does sport or dport (host order) lie in one
 * of the ranges of `ranges`, an array map of SMT_UDP_PORT_RANGES struct
 * smt_udp_port_range (`udp_ports` and its copies)? The first entry with
 * lo == 0 ends the list, so an empty map matches nothing and costs one
 * lookup.
 */
static __always_inline int smt_udp_port_match(void *ranges, __u16 sport,
					      __u16 dport)
{
	struct smt_udp_port_range *r;
	__u32 i, k;

	/* Verifier: a constant bound; each pass is a few instructions. */
	for (i = 0; i < SMT_UDP_PORT_RANGES; i++) {
		k = i;
		r = bpf_map_lookup_elem(ranges, &k);
		if (!r || !r->lo)
			return 0;
		if ((sport >= r->lo && sport <= r->hi) ||
		    (dport >= r->lo && dport <= r->hi))
			return 1;
	}
	return 0;
}

/*
 * Checks 2 to 4 of protocol.md 1.1 for the UDP header at uh (check 1, the
 * IP part, is the caller's): ports in a range of `ranges`, a UDP payload of
 * at least 40 bytes (by the UDP length field), doff_ver 0xA1. Returns the
 * SMT header behind the UDP header, with *smt_len set to the UDP payload
 * length, or NULL when the datagram is not SMT and must pass untouched.
 * The SMT header may end past data_end: the caller checks what it reads.
 */
static __always_inline struct smt_hdr *smt_udp_recognise(void *ranges,
							 struct udphdr *uh,
							 void *data_end,
							 __u32 *smt_len)
{
	struct smt_hdr *h = (void *)(uh + 1);
	__u32 ulen;

	if ((void *)(uh + 1) > data_end)
		return NULL;
	if (!smt_udp_port_match(ranges, bpf_ntohs(uh->source),
				bpf_ntohs(uh->dest)))
		return NULL;
	ulen = bpf_ntohs(uh->len);
	if (ulen < SMT_UDP_HDR_LEN + SMT_HDR_LEN)
		return NULL;
	/* Verifier: byte 12 of the payload must be inside the packet. */
	if ((void *)&h->doff_ver + 1 > data_end)
		return NULL;
	if (h->doff_ver != SMT_DOFF_VER)
		return NULL;
	*smt_len = ulen - SMT_UDP_HDR_LEN;
	return h;
}

/*
 * The SMT header of the frame at data for the programs that judge no
 * header: native (protocol ipproto) or over UDP by all four checks of
 * protocol.md 1.1 (ranges: as for smt_udp_recognise). *encap gets the
 * SMT_KEY_ENCAP_* of the packet. NULL when the frame is not SMT or its
 * whole SMT header is not in the packet.
 */
static __always_inline struct smt_hdr *
smt_l4_smt(void *data, void *data_end, __u8 ipproto, void *ranges, __u8 *encap)
{
	struct smt_hdr *h;
	__u32 len;
	int proto, frag = 0;
	void *l4;

	proto = smt_l4_find(data, data_end, &l4, &frag);
	if (proto < 0)
		return NULL;
	if (proto == ipproto) {
		h = l4;
		*encap = SMT_KEY_ENCAP_IP;
	} else if (proto == SMT_IPPROTO_UDP && !frag) {
		h = smt_udp_recognise(ranges, l4, data_end, &len);
		*encap = SMT_KEY_ENCAP_UDP;
	} else {
		return NULL;
	}
	if (!h || (void *)(h + 1) > data_end)
		return NULL;
	return h;
}

#endif /* SMT_L4_BPF_H */
