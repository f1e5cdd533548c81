// SPDX-License-Identifier: GPL-2.0-only
/*
 * The unit tests' stand-in for kmod/smt_ip.c: one route whose device and
 * MTU the test sets (kt_ip), a 20- or 40-byte IP header, segmentation
 * through the module's own smt_gso_segment(), and a "local out" that does
 * what dev_queue_xmit()'s validate_xmit_skb() does with the socket of a
 * packet (sk_validate_xmit_skb, or a drop for a plaintext packet without
 * one), segments what the device would not, and queues what reaches the
 * device on kt_ip.wire, in order, for the test to inspect and free.
 */
#include "kmod_test.h"

struct kt_ip kt_ip;

void kt_ip_reset(struct net_device *dev, u32 mtu)
{
	kt_wire_free();
	memset(&kt_ip, 0, sizeof(kt_ip));
	kt_ip.dev = dev;
	kt_ip.mtu = mtu;
	kt_ip.wire_tail = &kt_ip.wire;
}

void kt_wire_free(void)
{
	kfree_skb_list(kt_ip.wire);
	kt_ip.wire = NULL;
	kt_ip.wire_tail = &kt_ip.wire;
	kt_ip.nwire = 0;
}

int smt_route_lookup(struct smt_ksession *s, struct smt_route *r)
{
	memset(r, 0, sizeof(*r));
	if (kt_ip.route_err)
		return kt_ip.route_err;
	kt_ip.dst.dev = kt_ip.dev;
	r->dst = &kt_ip.dst;
	r->dev = kt_ip.dev;
	r->mtu = kt_ip.mtu;
	kt_ip.routes_held++;
	return 0;
}

void smt_route_put(struct smt_route *r)
{
	if (r->dst)
		kt_ip.routes_held--;
	r->dst = NULL;
}

void smt_ip_push(struct smt_ksession *s, struct sk_buff *skb,
		 const struct smt_route *r)
{
	unsigned int n = s->family == AF_INET6 ? SMT_IPV6_HDR_LEN
					       : SMT_IPV4_HDR_LEN;
	u8 *h = skb_push(skb, n);

	memset(h, 0, n);
	h[0] = s->family == AF_INET6 ? 0x60 : 0x45;
	h[s->family == AF_INET6 ? 6 : 9] = s->ipproto;
	skb_reset_network_header(skb);
}

struct sk_buff *smt_ip_segment(struct sk_buff *skb)
{
	unsigned int iphlen = skb->transport_header - skb->network_header;
	struct sk_buff *segs, *seg, *first = NULL, **tail = &first;
	u8 *iph = skb->data;

	/* As inet_gso_segment(): pull the IP header, the SMT handler pulls
	 * its own; the caller frees the skb. */
	__skb_pull(skb, iphlen);
	segs = smt_gso_segment(skb, 0);
	if (IS_ERR_OR_NULL(segs))
		return segs;
	for (seg = segs; seg; seg = seg->next) {
		struct sk_buff *p = alloc_skb(iphlen + seg->len, GFP_KERNEL);

		cr_assert_not_null(p);
		memcpy(skb_put(p, iphlen), iph, iphlen);
		memcpy(skb_put(p, seg->len), seg->data, seg->len);
		p->transport_header = iphlen;
		*tail = p;
		tail = &p->next;
	}
	kfree_skb_list(segs);
	kt_ip.segmented++;
	return first;
}

static void kt_wire_add(struct sk_buff *skb)
{
	skb->next = NULL;
	*kt_ip.wire_tail = skb;
	kt_ip.wire_tail = &skb->next;
	kt_ip.nwire++;
	if (kt_ip.on_xmit)
		kt_ip.on_xmit(skb);
}

int smt_ip_local_out(struct smt_ksession *s, struct sk_buff *skb)
{
	struct net_device *dev = kt_ip.xmit_dev ? kt_ip.xmit_dev : kt_ip.dev;
	struct sk_buff *segs, *seg, *next;

	if (kt_ip.xmit_err && kt_ip.xmit_ok-- == 0) {
		kfree_skb(skb);
		return kt_ip.xmit_err;
	}
	if (skb->sk && skb->sk->sk_validate_xmit_skb) {
		skb = skb->sk->sk_validate_xmit_skb(skb->sk, dev, skb);
		if (!skb)
			return 0; /* dropped at the device queue, not an error */
	} else if (skb->decrypted) {
		kt_ip.core_drops++; /* "unencrypted skb with no socket" */
		kfree_skb(skb);
		return 0;
	}
	if (!skb_is_gso(skb)) {
		kt_wire_add(skb);
		return 0;
	}
	/* No device segments SMT_GSO_TYPE: validate_xmit_skb() does. */
	segs = smt_ip_segment(skb);
	kfree_skb(skb);
	if (IS_ERR_OR_NULL(segs))
		return 0;
	skb_list_walk_safe(segs, seg, next) kt_wire_add(seg);
	return 0;
}
