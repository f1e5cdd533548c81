// SPDX-License-Identifier: BSD-2-Clause
/*
 * Test packet builder (see pkt.h): frames for BPF_PROG_TEST_RUN fixtures and
 * IP packets for the netns traffic sender, native or SMT over UDP. Payload bytes are a fixed pattern:
 * the BPF programs never look past the record header.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include "pkt.h"

static uint16_t ip_csum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (b[i] << 8) | b[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons(~s & 0xffff);
}

static int smt_part(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	struct smt_hdr *h = (void *)buf;
	uint8_t type = s->type ? s->type : SMT_TYPE_DATA;
	size_t len;

	if (s->smt_raw) {
		if (s->smt_raw_len > cap)
			return -1;
		memcpy(buf, s->smt_raw, s->smt_raw_len);
		return s->smt_raw_len;
	}
	if (type == SMT_TYPE_DATA)
		len = SMT_HDR_LEN + s->payload;
	else if (s->ctl_len)
		len = s->ctl_len;
	else if (type == SMT_TYPE_GRANT)
		len = SMT_GRANT_LEN;
	else if (type == SMT_TYPE_RESEND)
		len = SMT_RESEND_LEN;
	else if (type == SMT_TYPE_ACK)
		len = SMT_ACK_LEN(s->ack_count ? s->ack_count : 1);
	else
		len = SMT_EMPTY_CTL_LEN;
	if (len > cap || len < SMT_HDR_LEN)
		return -1;
	memset(buf, 0xab, len);
	memset(h, 0, sizeof(*h));
	h->sport = htons(s->sport ? s->sport : 1000);
	h->dport = htons(s->dport ? s->dport : 2000);
	h->doff_ver = s->doff_ver ? s->doff_ver : SMT_DOFF_VER;
	h->type = type;
	h->flags = htons(s->flags);
	h->msg_id = htobe64(s->msg_id);
	h->prio = s->prio;
	h->epoch = s->epoch;
	if (type == SMT_TYPE_DATA) {
		h->pkt_off = htonl(s->pkt_off);
		h->seg_off = htonl(s->seg_off);
		h->rec_idx = htons(s->rec_idx);
		h->pkt_idx = htons(s->pkt_idx);
		h->msg_len = htonl(s->msg_len);
		h->granted = htonl(s->msg_len);
		if (s->pkt_off == s->seg_off && s->payload >= 5) {
			uint8_t *r = buf + SMT_HDR_LEN;
			int rl = s->rec_len;

			if (!rl) /* the record ends at msg_len or 16406 */
				rl = s->msg_len - s->seg_off - SMT_REC_HDR_LEN;
			if (rl > SMT_REC_MAX_LEN)
				rl = SMT_REC_MAX_LEN;
			r[0] = s->bad_rec_hdr ? 0x16 : SMT_REC_TYPE;
			r[1] = SMT_REC_VER_HI;
			r[2] = SMT_REC_VER_LO;
			r[3] = rl >> 8;
			r[4] = rl & 0xff;
		}
	} else if (type == SMT_TYPE_ACK && len >= SMT_ACK_LEN(0)) {
		/* With an explicit length the count is taken as given. */
		uint16_t c =
			htons(s->ctl_len || s->ack_count ? s->ack_count : 1);

		memcpy(buf + SMT_HDR_LEN, &c, 2);
	}
	return len;
}

/* Sum of 16-bit big-endian words, not folded (checksum building block). */
static uint32_t sum16(const void *p, size_t n, uint32_t s)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (b[i] << 8) | b[i + 1];
	if (n & 1)
		s += b[n - 1] << 8;
	return s;
}

/*
 * The UDP header of an SMT-over-UDP packet in front of the n SMT bytes at
 * u + 8, with its checksum over the pseudo-header of the IP addresses at
 * src and dst (alen bytes each): receivers let their stack verify it.
 */
static void udp_part(const struct pkt_spec *s, struct udphdr *u, int n,
		     const void *src, const void *dst, size_t alen)
{
	uint16_t sp = s->sport ? s->sport : 1000,
		 dp = s->dport ? s->dport : 2000;
	uint32_t sum;

	u->source = htons(s->udp_sport ? s->udp_sport : sp);
	u->dest = htons(s->udp_dport ? s->udp_dport : dp);
	u->len = htons(s->udp_len ? s->udp_len : 8 + n);
	u->check = 0;
	sum = sum16(src, alen, 0);
	sum = sum16(dst, alen, sum);
	sum += 17 + 8 + n;
	sum = sum16(u, 8 + n, sum);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	u->check = htons(~sum & 0xffff) ? htons(~sum & 0xffff) : 0xffff;
}

int pkt_build_ip(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	size_t l3 = s->v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	size_t l4 = s->udp ? sizeof(struct udphdr) : 0;
	uint8_t proto = s->proto ? s->proto : SMT_IPPROTO_DEFAULT;
	int n;

	if (cap < l3 + l4 + 8)
		return -1;
	if (s->tcp_dport) { /* a SYN, no options; the checksum is unused */
		struct tcphdr *t = (void *)(buf + l3);

		if (cap < l3 + sizeof(*t))
			return -1;
		n = sizeof(*t);
		memset(t, 0, n);
		t->source = htons(s->sport ? s->sport : 40000);
		t->dest = htons(s->tcp_dport);
		t->seq = htonl(1);
		t->doff = 5;
		t->syn = 1;
		t->window = htons(65535);
		proto = 6;
	} else if (s->not_smt) {
		struct udphdr *u = (void *)(buf + l3);

		n = 8 + 32;
		memset(u, 0x5a, n);
		u->source = htons(53);
		u->dest = htons(53);
		u->len = htons(n);
		u->check = 0;
		proto = 17;
	} else {
		n = smt_part(s, buf + l3 + l4, cap - l3 - l4);
		if (n < 0)
			return -1;
	}
	if (s->smt_len) /* truncate: the tests of short headers */
		n = s->smt_len;
	if (s->udp) { /* the UDP header goes in once the addresses are set */
		n += l4;
		proto = 17;
	}
	if (s->v6) {
		struct ipv6hdr *ip6 = (void *)buf;

		memset(ip6, 0, sizeof(*ip6));
		ip6->version = 6;
		ip6->priority = s->tos >> 4;
		ip6->flow_lbl[0] = (s->tos & 0xf) << 4;
		ip6->payload_len = htons(n);
		ip6->nexthdr = proto;
		ip6->hop_limit = 64;
		inet_pton(AF_INET6, s->saddr[0] ? s->saddr : "fd00::1",
			  &ip6->saddr);
		inet_pton(AF_INET6, s->daddr[0] ? s->daddr : "fd00::2",
			  &ip6->daddr);
		if (s->udp)
			udp_part(s, (void *)(buf + l3), n - l4, &ip6->saddr,
				 &ip6->daddr, 16);
	} else {
		struct iphdr *ip = (void *)buf;

		memset(ip, 0, sizeof(*ip));
		ip->version = 4;
		ip->ihl = 5;
		ip->tos = s->tos;
		ip->tot_len = htons(l3 + n);
		ip->id = htons(s->ipid);
		ip->frag_off = htons(s->frag ? 0x2000 : 0x4000);
		ip->ttl = 64;
		ip->protocol = proto;
		inet_pton(AF_INET, s->saddr[0] ? s->saddr : "10.0.0.1",
			  &ip->saddr);
		inet_pton(AF_INET, s->daddr[0] ? s->daddr : "10.0.0.2",
			  &ip->daddr);
		ip->check = ip_csum(ip, sizeof(*ip));
		if (s->udp)
			udp_part(s, (void *)(buf + l3), n - l4, &ip->saddr,
				 &ip->daddr, 4);
	}
	return l3 + n;
}

int pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	size_t l2 = ETH_HLEN + (s->vlan ? 4 : 0);
	uint16_t proto = htons(s->v6 ? ETH_P_IPV6 : ETH_P_IP);
	int n;

	if (cap < l2)
		return -1;
	n = pkt_build_ip(s, buf + l2, cap - l2);
	if (n < 0)
		return -1;
	memcpy(buf, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	if (s->vlan) {
		uint16_t tpid = htons(ETH_P_8021Q), tci = htons(100);

		memcpy(buf + 12, &tpid, 2);
		memcpy(buf + 14, &tci, 2);
		memcpy(buf + 16, &proto, 2);
	} else {
		memcpy(buf + 12, &proto, 2);
	}
	return l2 + n;
}

int pkt_layout(uint32_t app_len, uint32_t rec_content, uint32_t mss,
	       struct pkt_slot *slots, int max, uint32_t *wire_len,
	       uint32_t *records)
{
	uint32_t content = app_len + SMT_INNER_HDR_LEN, done = 0, off = 0;
	int n = 0;
	uint16_t k = 0;

	while (done < content) {
		uint32_t c = content - done < rec_content ? content - done
							  : rec_content;
		uint32_t rl = c + SMT_REC_OVERHEAD, r = 0;
		uint16_t idx = 0;

		while (r < rl) {
			uint32_t len = rl - r < mss ? rl - r : mss;

			if (n < max) {
				slots[n].pkt_off = off + r;
				slots[n].seg_off = off;
				slots[n].len = len;
				slots[n].rec_len = rl - SMT_REC_HDR_LEN;
				slots[n].rec_idx = k;
				slots[n].pkt_idx = idx;
			}
			n++;
			idx++;
			r += len;
		}
		off += rl;
		done += c;
		k++;
	}
	*wire_len = off;
	*records = k;
	return n;
}
