/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The bare L4 finder of the programs that only sort packets and judge no
 * header (smt_fault, bench_loss): Ethernet without a VLAN tag, then IPv4
 * (options skipped, nothing else checked) or the fixed IPv6 header (no
 * extension headers). The checked parser of smt_xdp, smt_tc and mtp_inspect
 * is parse.bpf.h, which takes its EtherTypes from here.
 */
#ifndef SMT_L4_BPF_H
#define SMT_L4_BPF_H

#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD

/*
 * The L4 protocol of the frame at data (IPv4 protocol, IPv6 next header),
 * with *l4 set to where its header starts (maybe beyond data_end: the
 * caller checks what it reads); -1 for a frame that is not IP, an IPv4 ihl
 * below 5 or a truncated IP header.
 */
static __always_inline int smt_l4_find(void *data, void *data_end, void **l4)
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
		return ip->protocol;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6_)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		*l4 = ip6 + 1;
		return ip6->nexthdr;
	}
	return -1;
}

#endif /* SMT_L4_BPF_H */
