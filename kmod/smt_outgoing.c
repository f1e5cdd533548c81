// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sending messages: a message becomes its content (8-byte inner header and
 * the application bytes), cut into records of R content bytes by the
 * deterministic sender rule (docs/protocol.md section 3); each record is
 * sealed in place in its own skb, gets the 40-byte SMT DATA header of the
 * record's first packet and an IP header, and leaves through the IP stack
 * (smt_ip.c) after a route lookup, so netfilter, routing and the egress
 * device see a normal packet. A record longer than one packet's payload is
 * one GSO skb (gso_size = MTU - IP header - 40), segmented by smt_offload.c
 * or by the device. When the egress device offers TLS TX offload and the
 * tls_offload parameter allows it, the records stay plaintext and are
 * handed to the device under one offload context for the message
 * (smt_tls_offload.c), segmented here, one packet per skb.
 */
#include "smt_impl.h"

#ifndef SMT_KMOD_MOCK
#include <linux/slab.h>
#include <linux/sched.h>
#endif

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
	if (nrec > smt_rec_idx_limit(B))
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
 * smt_record_skb() - one record with its SMT header, as an skb whose data
 * starts at the SMT header; a GSO skb when it needs more than one packet.
 * @s:       session
 * @l:       layout
 * @msg_id:  message id
 * @k:       record index
 * @content: the message content (inner header first)
 * @mss:     payload bytes per packet
 * @plain:   leave the record plaintext with room for the tag, for a TLS TX
 *           offload device (smt_krecord_frame()); else seal it
 *
 * Return: the skb or an ERR_PTR.
 */
struct sk_buff *smt_record_skb(struct smt_ksession *s,
			       const struct smt_layout *l, u64 msg_id, u32 k,
			       const u8 *content, u32 mss, bool plain)
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
	if (plain) {
		smt_krecord_frame(rec, clen);
	} else {
		err = smt_krecord_seal(&s->tx, smt_record_seq(msg_id, s->B, k),
				       rec, clen);
		if (err) {
			smt_stat_add(SMT_CNT_CRYPTO_ERRORS, 1);
			kfree_skb(skb);
			return ERR_PTR(err);
		}
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

/*
 * Push the IP header and hand the record to the IP stack, segmented here
 * first when smt_segment_here() says so or when it goes to a TLS offload
 * device (@tx): then every packet is owned by the message's carrier socket
 * and marked plaintext, so that the device finds the context and the core
 * drops it should it lose the socket on the way.
 */
static int smt_xmit_record(struct smt_ksession *s, struct sk_buff *skb,
			   const struct smt_route *r, struct smt_tls_tx_ctx *tx)
{
	struct sk_buff *segs, *seg, *next;
	int err = 0;

	smt_ip_push(s, skb, r);
	/* No L4 checksum: csum stays 0 (section 2), and this tells GSO so. */
	skb->ip_summed = CHECKSUM_UNNECESSARY;
	if (skb_is_gso(skb))
		smt_stat_add(SMT_CNT_GSO_SKBS, 1);
	if (!skb_is_gso(skb) ||
	    !(tx || smt_segment_here(skb, r->dev->features))) {
		if (tx)
			smt_tls_offload_own(tx, skb);
		return smt_ip_local_out(s, skb);
	}

	segs = smt_ip_segment(skb);
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
		if (tx)
			smt_tls_offload_own(tx, seg);
		err = smt_ip_local_out(s, seg);
	}
	return err;
}

/*
 * A device TLS TX context for the message when the route's device can take
 * one; NULL (software encryption) otherwise or when the device refuses.
 */
static struct smt_tls_tx_ctx *
smt_msg_offload(struct smt_ksession *s, const struct smt_route *r, u64 msg_id)
{
	struct smt_tls_tx_ctx *tx;

	if (!smt_tls_offload_capable(r->dev))
		return NULL;
	if (smt_tls_offload_begin(&tx, r->dev, s, msg_id)) {
		smt_stat_add(SMT_CNT_TLS_OFFLOAD_FALLBACKS, 1);
		return NULL;
	}
	return tx;
}

/**
 * smt_send_msg() - encrypt (or have the device encrypt) and send a message.
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
	struct smt_tls_tx_ctx *tx = NULL;
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
	mtu = r.mtu;
	if (s->mtu && s->mtu < mtu)
		mtu = s->mtu;
	if (mtu < iphlen + SMT_HDR_LEN + SMT_REC_START_MIN) {
		err = -EMSGSIZE;
		goto out;
	}
	mss = smt_max_payload(mtu, iphlen);
	tx = smt_msg_offload(s, &r, msg_id);

	for (k = 0; k < l.nrec; k++) {
		struct sk_buff *skb;

		if (tx && smt_tls_offload_resync(tx, smt_layout_rec_off(&l, k),
						 k) > 0)
			smt_stat_add(SMT_CNT_TLS_OFFLOAD_RESYNCS, 1);
		skb = smt_record_skb(s, &l, msg_id, k, content, mss,
				     tx != NULL);
		if (IS_ERR(skb)) {
			err = PTR_ERR(skb);
			goto out;
		}
		err = smt_xmit_record(s, skb, &r, tx);
		if (err)
			goto out;
		smt_stat_add(SMT_CNT_RECORDS_SENT, 1);
		smt_stat_add(SMT_CNT_SKBS_SENT, 1);
		if (tx)
			smt_stat_add(SMT_CNT_TLS_OFFLOAD_RECORDS, 1);
		cond_resched();
	}
	smt_stat_add(SMT_CNT_MSGS_SENT, 1);
	smt_stat_add(SMT_CNT_WIRE_BYTES_SENT, l.wire_len);
out:
	/* The device context lives on until the last packet is freed. */
	if (tx)
		smt_tls_offload_end(tx);
	smt_route_put(&r);
	if (err)
		smt_stat_add(SMT_CNT_SEND_ERRORS, 1);
	return err;
}
