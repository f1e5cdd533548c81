// SPDX-License-Identifier: GPL-2.0-only
/*
 * Software segmentation of SMT record super-packets: an inet_add_offload()
 * handler for the SMT protocol number. The sender hands the IP stack one GSO
 * skb per TLS record, whose header is the record's template (pkt_off ==
 * seg_off, pkt_idx 0); when the egress device does not segment it,
 * validate_xmit_skb() calls smt_gso_segment(), which cuts the payload into
 * gso_size pieces with skb_segment() and fixes each packet's pkt_off and
 * pkt_idx (docs/protocol.md sections 2 and 3); inet_gso_segment() then fixes
 * each IPv4 header's length, ID and checksum, ipv6_gso_segment() each IPv6
 * payload length. The same handler serves both families.
 */
#include "smt_impl.h"

#ifndef SMT_KMOD_MOCK
#include <linux/skbuff.h>
#include <net/protocol.h>
#endif

/**
 * smt_gso_fix_hdr() - turn a copy of the record's template header into the
 * header of packet @idx of the record.
 * @h:   header of the segment (copied from the template)
 * @idx: packet index inside the record
 * @mss: payload bytes of every packet but the last
 */
void smt_gso_fix_hdr(struct smt_hdr *h, u32 idx, u32 mss)
{
	u32 seg_off = be32_to_cpu(h->seg_off);

	h->pkt_off = cpu_to_be32(seg_off + idx * mss);
	h->pkt_idx = cpu_to_be16((u16)idx);
}

/**
 * smt_gso_segment() - net_offload gso_segment callback for SMT.
 * @skb:      GSO skb, data at the SMT header (IP header already pulled)
 * @features: what the egress device can do
 *
 * Return: the list of segments, or an ERR_PTR (-EINVAL for a header that
 * is not a record template, or for a plaintext record).
 */
struct sk_buff *smt_gso_segment(struct sk_buff *skb, netdev_features_t features)
{
	struct sk_buff *segs, *seg;
	struct smt_hdr *h;
	u32 mss, idx = 0;

	/* Plaintext for a TLS offload device is segmented by the module, each
	 * packet given the message's socket; one arriving here lost it. */
	if (smt_skb_plaintext(skb) || !pskb_may_pull(skb, SMT_HDR_LEN))
		return ERR_PTR(-EINVAL);
	h = (struct smt_hdr *)skb->data;
	mss = skb_shinfo(skb)->gso_size;
	if (h->doff_ver != SMT_DOFF_VER || h->type != SMT_TYPE_DATA || !mss ||
	    h->pkt_off != h->seg_off)
		return ERR_PTR(-EINVAL);
	__skb_pull(skb, SMT_HDR_LEN);
	segs = skb_segment(skb, features);
	if (IS_ERR_OR_NULL(segs)) {
		__skb_push(skb, SMT_HDR_LEN);
		return segs;
	}
	for (seg = segs; seg; seg = seg->next, idx++)
		smt_gso_fix_hdr((struct smt_hdr *)skb_transport_header(seg),
				idx, mss);
	smt_stat_add(SMT_CNT_GSO_SEGMENTS, idx);
	return segs;
}

#ifndef SMT_KMOD_MOCK
static const struct net_offload smt_net_offload = {
	.callbacks =
		{
			.gso_segment = smt_gso_segment,
		},
};

/**
 * smt_offload_init() - register the segmentation handler for @proto, for
 * IPv4 and IPv6.
 * @proto: SMT's IP protocol number
 *
 * Return: 0, or -EBUSY when another offload owns the number.
 */
int smt_offload_init(u8 proto)
{
	if (inet_add_offload(&smt_net_offload, proto))
		return -EBUSY;
	if (inet6_add_offload(&smt_net_offload, proto)) {
		inet_del_offload(&smt_net_offload, proto);
		return -EBUSY;
	}
	return 0;
}

/**
 * smt_offload_exit() - unregister; waits for handlers running elsewhere.
 * @proto: the number given to smt_offload_init()
 */
void smt_offload_exit(u8 proto)
{
	inet6_del_offload(&smt_net_offload, proto);
	inet_del_offload(&smt_net_offload, proto);
}
#endif
