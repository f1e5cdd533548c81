// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP program of the pktcost benchmark's AF_XDP receivers: untagged IPv4
 * frames of the SMT protocol number go to the AF_XDP socket of their receive
 * queue (the pktcost_xsks map); everything else, and every SMT frame whose
 * queue has no socket, goes on to the kernel's stack.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <smt/wire.h>

#ifndef SMT_IPPROTO_BUILD
#define SMT_IPPROTO_BUILD SMT_IPPROTO_DEFAULT
#endif
#define PKTCOST_ETH_P_IP 0x0800

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} pktcost_xsks SEC(".maps");

SEC("xdp")
int pktcost_redir(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > end ||
	    eth->h_proto != bpf_htons(PKTCOST_ETH_P_IP) ||
	    ip->protocol != SMT_IPPROTO_BUILD)
		return XDP_PASS;
	/* The low bits of the flags are the action when the slot is empty. */
	return bpf_redirect_map(&pktcost_xsks, ctx->rx_queue_index, XDP_PASS);
}
