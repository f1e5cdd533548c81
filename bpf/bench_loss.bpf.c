// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_loss: random loss for smt-bench's head-of-line test, applied alike
 * to every transport it compares. An XDP program on each host's veth drops
 * IPv4/IPv6 packets whose protocol is TCP, UDP or native SMT with
 * probability drop_ppm / 10^6, except TCP/UDP packets to or from keep_port
 * (the benchmark's control connection, which must not perturb the
 * measurement). SMT over UDP (protocol.md 1.1) and smt-bench's QUIC are
 * UDP, so they see the same loss as plain UDP without port ranges of their
 * own: only keep_port must not be an SMT or QUIC port. smt_fault matches SMT packets only, which is why this
 * exists: TLS/TCP must see the same loss. Configuration lives in .bss, which userspace writes
 * through the skeleton's memory-mapped view while the program runs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lib/l4.bpf.h"

#define IPPROTO_TCP_NUM 6
#define IPPROTO_UDP_NUM 17

const volatile __u8 smt_proto = SMT_IPPROTO_BUILD;

__u32 drop_ppm; /* written by smt-bench between test points */
__u16 keep_port; /* host order; 0 = none */
__u64 seen, dropped; /* packets of the matched protocols */

SEC("xdp")
int bench_loss(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *l4 = NULL;
	int proto = smt_l4_find(data, data_end, &l4, NULL);

	if (proto != IPPROTO_TCP_NUM && proto != IPPROTO_UDP_NUM &&
	    proto != smt_proto)
		return XDP_PASS;
	if (proto != smt_proto && keep_port) {
		/* TCP and UDP both start with the two ports. */
		__be16 *ports = l4;

		if ((void *)(ports + 2) > data_end)
			return XDP_PASS;
		if (ports[0] == bpf_htons(keep_port) ||
		    ports[1] == bpf_htons(keep_port))
			return XDP_PASS;
	}
	__sync_fetch_and_add(&seen, 1);
	if (drop_ppm && bpf_get_prandom_u32() % 1000000 < drop_ppm) {
		__sync_fetch_and_add(&dropped, 1);
		return XDP_DROP;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
