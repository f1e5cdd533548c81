// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sending messages: a message becomes its content (8-byte inner header and
 * the application bytes), cut into records of R content bytes by the
 * deterministic sender rule (docs/protocol.md section 3); each record is
 * sealed in place in its own skb, gets the 40-byte SMT DATA header of the
 * record's first packet and an IP header, and leaves through
 * ip_local_out() or ip6_local_out() after a route lookup, so netfilter, routing and the egress
 * device see a normal packet. A record longer than one packet's payload is
 * one GSO skb (gso_size = MTU - IP header - 40), segmented by smt_offload.c
 * or by the device. IPv4 (ip_local_out) and IPv6 (ip6_local_out).
 */
#include "smt_impl.h"

#ifndef SMT_KMOD_MOCK
#include <linux/ip.h>
#include <linux/slab.h>
#include <linux/ipv6.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/ip6_route.h>
#include <net/route.h>
#include <net/dst.h>
#endif

/**
 * smt_msg_id_ok() - 2 <= msg_id < 2^(B-1) (section 4).
 * @msg_id: message id
 * @B:      message-ID width
 *
 * Return: true when valid.
 */
bool smt_msg_id_ok(u64 msg_id, unsigned int B)
{
	return msg_id >= SMT_MSG_ID_MIN && msg_id < (1ull << (B - 1));
}

/**
 * smt_layout_init() - records of a message of @app_len bytes.
 * @l:        out
 * @app_len:  application bytes
 * @rec_size: R, 4096..16384
 * @B:        message-ID width (bounds the record count)
 *
 * Return: 0 or -EINVAL (bad R, too long, too many records).
 */
int smt_layout_init(struct smt_layout *l, u32 app_len, u32 rec_size,
		    unsigned int B)
{
	u64 content = (u64)app_len + SMT_INNER_HDR_LEN;
	u64 nrec;

	if (rec_size < SMT_REC_MIN_CONTENT || rec_size > SMT_REC_MAX_CONTENT)
		return -EINVAL;
	if (app_len > SMT_KMOD_MAX_MSG)
		return -EMSGSIZE;
	nrec = (content + rec_size - 1) / rec_size;
	if (nrec > SMT_REC_IDX_LIMIT || nrec > (1ull << (64 - B)))
		return -EINVAL;
	l->content_len = (u32)content;
	l->rec_size = rec_size;
	l->nrec = (u32)nrec;
	l->wire_len = (u32)(content + SMT_REC_OVERHEAD * nrec);
	return 0;
}

/**
 * smt_layout_rec_clen() - content bytes of record @k.
 * @l: layout
 * @k: record index < l->nrec
 *
 * Return: R, or the rest for the last record.
 */
u32 smt_layout_rec_clen(const struct smt_layout *l, u32 k)
{
	u32 start = k * l->rec_size;

	return min_t(u32, l->rec_size, l->content_len - start);
}

/**
 * smt_layout_rec_off() - wire-stream offset of record @k.
 * @l: layout
 * @k: record index <= l->nrec
 *
 * Return: k * (R + 22); every record before the last is full.
 */
u32 smt_layout_rec_off(const struct smt_layout *l, u32 k)
{
	return k * (l->rec_size + SMT_REC_OVERHEAD);
}

/**
 * smt_max_payload() - payload bytes of one packet.
 * @mtu:    packet size cap including the IP header
 * @iphlen: 20 (IPv4) or 40 (IPv6)
 *
 * Return: mtu - iphlen - 40 (1440 for IPv4, 1420 for IPv6 at MTU 1500).
 */
u32 smt_max_payload(u32 mtu, u32 iphlen)
{
	return mtu - iphlen - SMT_HDR_LEN;
}

/**
 * smt_data_hdr_init() - header of record @k's first packet, the template
 * every segment of the record copies.
 * @h:      out, 40 bytes
 * @s:      session (ports, epoch)
 * @l:      layout
 * @msg_id: message id
 * @k:      record index
 */
void smt_data_hdr_init(struct smt_hdr *h, const struct smt_ksession *s,
		       const struct smt_layout *l, u64 msg_id, u32 k)
{
	u32 off = smt_layout_rec_off(l, k);

	memset(h, 0, sizeof(*h));
	h->sport = cpu_to_be16(s->sport);
	h->dport = cpu_to_be16(s->dport);
	h->pkt_off = cpu_to_be32(off);
	h->seg_off = cpu_to_be32(off);
	h->doff_ver = SMT_DOFF_VER;
	h->type = SMT_TYPE_DATA;
	h->rec_idx = cpu_to_be16((u16)k);
	h->msg_id = cpu_to_be64(msg_id);
	h->msg_len = cpu_to_be32(l->wire_len);
	h->granted = cpu_to_be32(l->wire_len);
	h->epoch = s->epoch;
}

#define SMT_SKB_HEADROOM (MAX_HEADER + SMT_IPV6_HDR_LEN + SMT_HDR_LEN)

/**
 * smt_record_skb() - one sealed record with its SMT header, as an skb whose
 * data starts at the SMT header; a GSO skb when it needs more than one packet.
 * @s:       session
 * @l:       layout
 * @msg_id:  message id
 * @k:       record index
 * @content: the message content (inner header first)
 * @mss:     payload bytes per packet
 *
 * Return: the skb or an ERR_PTR.
 */
struct sk_buff *smt_record_skb(struct smt_ksession *s,
			       const struct smt_layout *l, u64 msg_id, u32 k,
			       const u8 *content, u32 mss)
{
	u32 clen = smt_layout_rec_clen(l, k);
	u32 rlen = clen + SMT_REC_OVERHEAD;
	struct sk_buff *skb;
	struct smt_hdr *h;
	u8 *rec;
	int err;

	skb = alloc_skb(SMT_SKB_HEADROOM + rlen, GFP_KERNEL);
	if (!skb)
		return ERR_PTR(-ENOMEM);
	skb_reserve(skb, SMT_SKB_HEADROOM);
	rec = skb_put(skb, rlen);
	memcpy(rec + SMT_REC_HDR_LEN, content + (size_t)k * l->rec_size, clen);
	err = smt_krecord_seal(&s->tx, (msg_id << (64 - s->B)) | k, rec, clen);
	if (err) {
		smt_stat_add(SMT_CNT_CRYPTO_ERRORS, 1);
		kfree_skb(skb);
		return ERR_PTR(err);
	}
	h = skb_push(skb, SMT_HDR_LEN);
	skb_reset_transport_header(skb);
	smt_data_hdr_init(h, s, l, msg_id, k);
	if (rlen > mss) {
		skb_shinfo(skb)->gso_size = mss;
		skb_shinfo(skb)->gso_type = SMT_GSO_TYPE;
		skb_shinfo(skb)->gso_segs = DIV_ROUND_UP(rlen, mss);
	}
	return skb;
}

/* Set by the gso_in_module parameter (smt_plumbing.c). */
bool smt_gso_in_module;

/**
 * smt_segment_here() - must the module segment a record itself?
 * @skb:      the record's skb
 * @features: the egress device's features
 *
 * SMT_GSO_TYPE is a type no software device segments, but a NIC with ESP
 * segmentation offload (NETIF_F_GSO_ESP) would take the super-packet for an
 * IPsec one; such records are segmented here, before the IP stack, as they
 * are when the gso_in_module parameter asks for it.
 *
 * Return: true to segment in the module.
 */
bool smt_segment_here(const struct sk_buff *skb, netdev_features_t features)
{
	return skb_is_gso(skb) &&
	       (smt_gso_in_module || (features & NETIF_F_GSO_ESP));
}

#ifndef SMT_KMOD_MOCK
/* A route to a session's peer, either family. */
struct smt_route {
	struct dst_entry *dst;
	union {
		struct flowi4 fl4;
		struct flowi6 fl6;
	};
};

static int smt_route_lookup(struct smt_ksession *s, struct smt_route *r)
{
	struct rtable *rt;

	memset(r, 0, sizeof(*r));
	if (s->family == AF_INET6) {
		r->fl6.daddr = s->daddr6;
		r->fl6.saddr = s->saddr6;
		r->fl6.flowi6_proto = s->ipproto;
		r->dst = ip6_dst_lookup_flow(s->net, NULL, &r->fl6, NULL);
		if (IS_ERR(r->dst))
			return PTR_ERR(r->dst);
		return 0;
	}
	r->fl4.daddr = s->daddr;
	r->fl4.saddr = s->saddr;
	r->fl4.flowi4_proto = s->ipproto;
	rt = ip_route_output_key(s->net, &r->fl4);
	if (IS_ERR(rt))
		return PTR_ERR(rt);
	r->dst = &rt->dst;
	return 0;
}

/* Hand one packet or GSO skb (with its IP header) to the IP stack. */
static int smt_local_out(struct smt_ksession *s, struct sk_buff *skb)
{
	int err = s->family == AF_INET6 ? ip6_local_out(s->net, NULL, skb)
					: ip_local_out(s->net, NULL, skb);

	return err > 0 ? net_xmit_errno(err) : err;
}

static void smt_push_ipv4(struct smt_ksession *s, struct sk_buff *skb,
			  const struct smt_route *r)
{
	struct iphdr *iph;

	BUILD_BUG_ON(sizeof(*iph) != SMT_IPV4_HDR_LEN);
	iph = skb_push(skb, sizeof(*iph));
	skb_reset_network_header(skb);
	iph->version = 4;
	iph->ihl = 5;
	iph->tos = 0;
	iph->frag_off = htons(IP_DF);
	iph->ttl = ip4_dst_hoplimit(r->dst);
	iph->protocol = s->ipproto;
	iph->saddr = r->fl4.saddr;
	iph->daddr = r->fl4.daddr;
	iph->tot_len = htons(skb->len);
	skb->protocol = htons(ETH_P_IP);
	skb_dst_set(skb, dst_clone(r->dst));
	ip_select_ident(s->net, skb, NULL);
}

static void smt_push_ipv6(struct smt_ksession *s, struct sk_buff *skb,
			  const struct smt_route *r)
{
	struct ipv6hdr *ip6h;

	BUILD_BUG_ON(sizeof(*ip6h) != SMT_IPV6_HDR_LEN);
	ip6h = skb_push(skb, sizeof(*ip6h));
	skb_reset_network_header(skb);
	ip6_flow_hdr(ip6h, 0, 0);
	ip6h->payload_len = htons(skb->len - sizeof(*ip6h));
	ip6h->nexthdr = s->ipproto;
	ip6h->hop_limit = ip6_dst_hoplimit(r->dst);
	ip6h->saddr = r->fl6.saddr;
	ip6h->daddr = r->fl6.daddr;
	skb->protocol = htons(ETH_P_IPV6);
	skb_dst_set(skb, dst_clone(r->dst));
}

/* Push the IP header and hand the skb to the IP stack, segmented here
 * first when smt_segment_here() says so. */
static int smt_ip_xmit(struct smt_ksession *s, struct sk_buff *skb,
		       const struct smt_route *r)
{
	struct sk_buff *segs, *seg, *next;
	int err = 0;

	if (s->family == AF_INET6)
		smt_push_ipv6(s, skb, r);
	else
		smt_push_ipv4(s, skb, r);
	/* No L4 checksum: csum stays 0 (section 2), and this tells GSO so. */
	skb->ip_summed = CHECKSUM_UNNECESSARY;
	if (!skb_is_gso(skb))
		return smt_local_out(s, skb);
	smt_stat_add(SMT_CNT_GSO_SKBS, 1);
	if (!smt_segment_here(skb, r->dst->dev->features))
		return smt_local_out(s, skb);

	/* Through inet(6)_gso_segment() and smt_gso_segment(), in software. */
	segs = skb_gso_segment(skb, 0);
	if (IS_ERR_OR_NULL(segs)) {
		kfree_skb(skb);
		return segs ? PTR_ERR(segs) : -EINVAL;
	}
	consume_skb(skb);
	skb_list_walk_safe(segs, seg, next)
	{
		skb_mark_not_on_list(seg);
		if (err) {
			kfree_skb(seg);
			continue;
		}
		err = smt_local_out(s, seg);
	}
	return err;
}

/**
 * smt_send_msg() - encrypt and send one message.
 * @s:           session
 * @msg_id:      message id, 2 <= msg_id < 2^(B-1)
 * @inner_flags: SMT_INNER_ONEWAY or 0
 * @content:     buffer of 8 + @len bytes: 8 bytes of room for the inner
 *               header, then the application bytes
 * @len:         application bytes
 *
 * Return: 0 or a negative errno (the records sent before an error stay sent).
 */
int smt_send_msg(struct smt_ksession *s, u64 msg_id, u32 inner_flags,
		 u8 *content, u32 len)
{
	struct smt_inner_hdr *ih = (struct smt_inner_hdr *)content;
	u32 iphlen = s->family == AF_INET6 ? SMT_IPV6_HDR_LEN
					   : SMT_IPV4_HDR_LEN;
	struct smt_layout l;
	struct smt_route r;
	u32 mtu, mss, k;
	int err;

	if (!smt_msg_id_ok(msg_id, s->B) ||
	    (inner_flags & ~SMT_INNER_KNOWN_FLAGS))
		return -EINVAL;
	err = smt_layout_init(&l, len, s->rec_size, s->B);
	if (err)
		return err;
	ih->app_len = cpu_to_be32(len);
	ih->inner_flags = cpu_to_be32(inner_flags);

	err = smt_route_lookup(s, &r);
	if (err) {
		smt_stat_add(SMT_CNT_ROUTE_ERRORS, 1);
		smt_stat_add(SMT_CNT_SEND_ERRORS, 1);
		return err;
	}
	mtu = dst_mtu(r.dst);
	if (s->mtu && s->mtu < mtu)
		mtu = s->mtu;
	if (mtu < iphlen + SMT_HDR_LEN + SMT_REC_START_MIN) {
		err = -EMSGSIZE;
		goto out;
	}
	mss = smt_max_payload(mtu, iphlen);

	for (k = 0; k < l.nrec; k++) {
		struct sk_buff *skb;

		skb = smt_record_skb(s, &l, msg_id, k, content, mss);
		if (IS_ERR(skb)) {
			err = PTR_ERR(skb);
			goto out;
		}
		err = smt_ip_xmit(s, skb, &r);
		if (err)
			goto out;
		smt_stat_add(SMT_CNT_RECORDS_SENT, 1);
		smt_stat_add(SMT_CNT_SKBS_SENT, 1);
		cond_resched();
	}
	smt_stat_add(SMT_CNT_MSGS_SENT, 1);
	smt_stat_add(SMT_CNT_WIRE_BYTES_SENT, l.wire_len);
out:
	dst_release(r.dst);
	if (err)
		smt_stat_add(SMT_CNT_SEND_ERRORS, 1);
	return err;
}
#endif
