// SPDX-License-Identifier: GPL-2.0-only
/*
 * The IP layer under the send path (smt_outgoing.c): the route to a
 * session's peer, the IPv4 header (DF, ID 0, TTL of the route) or the IPv6
 * header (no extension headers, hop limit of the route) in front of a
 * record, software segmentation through the stack's own GSO entry, and
 * ip_local_out() / ip6_local_out(), so that netfilter, routing, qdiscs and
 * the egress device see ordinary packets. Kernel only: the unit tests
 * replace this file by tests/unit/kmod/mock_ip.c.
 */
#include "smt_impl.h"

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/ip6_route.h>
#include <net/route.h>
#include <net/dst.h>

/**
 * smt_route_lookup() - route to @s's peer in its namespace.
 * @s: session
 * @r: out; release with smt_route_put()
 *
 * ip_route_output_key() for IPv4; ip6_dst_lookup_flow() for IPv6, which
 * also picks the source address when the session has none.
 *
 * Return: 0 or the routing error.
 */
int smt_route_lookup(struct smt_ksession *s, struct smt_route *r)
{
	struct rtable *rt;

	memset(r, 0, sizeof(*r));
	if (s->family == AF_INET6) {
		r->fl6.daddr = s->daddr6;
		r->fl6.saddr = s->saddr6;
		r->fl6.flowi6_proto = s->ipproto;
		r->dst = ip6_dst_lookup_flow(s->net, NULL, &r->fl6, NULL);
		if (IS_ERR(r->dst)) {
			int err = PTR_ERR(r->dst);

			r->dst = NULL;
			return err;
		}
	} else {
		r->fl4.daddr = s->daddr;
		r->fl4.saddr = s->saddr;
		r->fl4.flowi4_proto = s->ipproto;
		rt = ip_route_output_key(s->net, &r->fl4);
		if (IS_ERR(rt))
			return PTR_ERR(rt);
		r->dst = &rt->dst;
	}
	r->dev = r->dst->dev;
	r->mtu = dst_mtu(r->dst);
	return 0;
}

/**
 * smt_route_put() - release a route from smt_route_lookup().
 * @r: route; NULL dst allowed
 */
void smt_route_put(struct smt_route *r)
{
	dst_release(r->dst);
	r->dst = NULL;
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

/**
 * smt_ip_push() - push the IP header of @s's family in front of a record
 * and attach the route.
 * @s:   session
 * @skb: record skb, data at the SMT header
 * @r:   route from smt_route_lookup()
 */
void smt_ip_push(struct smt_ksession *s, struct sk_buff *skb,
		 const struct smt_route *r)
{
	if (s->family == AF_INET6)
		smt_push_ipv6(s, skb, r);
	else
		smt_push_ipv4(s, skb, r);
}

/**
 * smt_ip_segment() - segment a record super-packet in software.
 * @skb: GSO skb with its IP header, data at the IP header
 *
 * Through inet(6)_gso_segment() and smt_gso_segment(): each packet gets
 * its IP header fixed and its own pkt_off and pkt_idx.
 *
 * Return: the list of packets (@skb is left to the caller), NULL or an
 * ERR_PTR.
 */
struct sk_buff *smt_ip_segment(struct sk_buff *skb)
{
	return skb_gso_segment(skb, 0);
}

/**
 * smt_ip_local_out() - hand one packet or GSO skb to the IP stack.
 * @s:   session (namespace and family)
 * @skb: packet with its IP header; consumed
 *
 * Return: 0 or a negative errno.
 */
int smt_ip_local_out(struct smt_ksession *s, struct sk_buff *skb)
{
	int err = s->family == AF_INET6 ? ip6_local_out(s->net, NULL, skb)
					: ip_local_out(s->net, NULL, skb);

	return err > 0 ? net_xmit_errno(err) : err;
}
