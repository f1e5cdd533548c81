// SPDX-License-Identifier: BSD-2-Clause
/*
 * Classic pcap writing, link-layer frames, and raw IPv4/IPv6 header build
 * and parse for the smt tools (see pcap.h). Files are written little-endian
 * so that the same input gives the same bytes on every host.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "pcap.h"

#define PCAP_MAGIC_USEC 0xa1b2c3d4u

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int pcap_writer_open(struct pcap_writer *w, const char *path)
{
	uint8_t h[24];

	memset(w, 0, sizeof(*w));
	w->f = fopen(path, "wbe");
	if (!w->f)
		return -errno;
	put_le32(h, PCAP_MAGIC_USEC);
	put_le16(h + 4, 2); /* version 2.4 */
	put_le16(h + 6, 4);
	put_le32(h + 8, 0); /* thiszone */
	put_le32(h + 12, 0); /* sigfigs */
	put_le32(h + 16, PCAP_SNAPLEN);
	put_le32(h + 20, PCAP_LINKTYPE_RAW);
	if (fwrite(h, sizeof(h), 1, w->f) != 1) {
		fclose(w->f);
		w->f = NULL;
		return -EIO;
	}
	return 0;
}

int pcap_write(struct pcap_writer *w, const void *pkt, size_t len,
	       uint32_t ts_sec, uint32_t ts_usec)
{
	uint8_t h[16];

	if (len > PCAP_SNAPLEN)
		return -EMSGSIZE;
	put_le32(h, ts_sec);
	put_le32(h + 4, ts_usec);
	put_le32(h + 8, (uint32_t)len);
	put_le32(h + 12, (uint32_t)len);
	if (fwrite(h, sizeof(h), 1, w->f) != 1 ||
	    (len && fwrite(pkt, len, 1, w->f) != 1))
		return -EIO;
	w->count++;
	return 0;
}

int pcap_writer_close(struct pcap_writer *w)
{
	int ret = 0;

	if (!w->f)
		return 0;
	if (fflush(w->f) || ferror(w->f))
		ret = -EIO;
	if (fclose(w->f) && !ret)
		ret = -errno;
	w->f = NULL;
	return ret;
}

bool pcap_linktype_known(uint32_t linktype)
{
	switch (linktype) {
	case PCAP_LINKTYPE_EN10MB:
	case PCAP_LINKTYPE_RAW:
	case PCAP_LINKTYPE_IPV4:
	case PCAP_LINKTYPE_IPV6:
	case PCAP_LINKTYPE_LINUX_SLL:
	case PCAP_LINKTYPE_LINUX_SLL2:
		return true;
	}
	return false;
}

#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86dd
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88a8

int pcap_frame_ip(uint32_t linktype, const uint8_t *frame, size_t len,
		  const uint8_t **ip, size_t *ip_len)
{
	size_t hl;
	uint16_t et;

	switch (linktype) {
	case PCAP_LINKTYPE_RAW:
	case PCAP_LINKTYPE_IPV4:
	case PCAP_LINKTYPE_IPV6:
		*ip = frame;
		*ip_len = len;
		return len ? 0 : -EBADMSG;
	case PCAP_LINKTYPE_EN10MB:
		if (len < 14)
			return -EBADMSG;
		et = get_be16(frame + 12);
		hl = 14;
		if (et == ETH_P_8021Q_ || et == ETH_P_8021AD_) {
			if (len < 18)
				return -EBADMSG;
			et = get_be16(frame + 16);
			hl = 18;
		}
		break;
	case PCAP_LINKTYPE_LINUX_SLL:
		/* type, ARPHRD, addr len, addr[8], protocol */
		if (len < 16)
			return -EBADMSG;
		et = get_be16(frame + 14);
		hl = 16;
		break;
	case PCAP_LINKTYPE_LINUX_SLL2:
		/* protocol, reserved, ifindex, ARPHRD, type, addr len, addr[8] */
		if (len < 20)
			return -EBADMSG;
		et = get_be16(frame);
		hl = 20;
		break;
	default:
		return -EPROTONOSUPPORT;
	}
	if (et != ETH_P_IP_ && et != ETH_P_IPV6_)
		return -ENOENT;
	*ip = frame + hl;
	*ip_len = len - hl;
	return 0;
}

uint32_t inet_csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t s = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += get_be16(b + i);
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8; /* padded with a zero byte */
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t inet_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void set_addr(struct sockaddr_storage *ss, int family, const void *a)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)family;
	if (family == AF_INET)
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, a, 4);
	else
		memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, a, 16);
}

static int ipv6_parse(const uint8_t *p, size_t len, struct ip_info *o)
{
	size_t plen, off = 40, ext;
	uint8_t nh;

	if (len < 40)
		return -EBADMSG;
	plen = get_be16(p + 4);
	if (40 + plen > len)
		return -EBADMSG;
	len = 40 + plen;
	set_addr(&o->src, AF_INET6, p + 8);
	set_addr(&o->dst, AF_INET6, p + 24);
	o->family = AF_INET6;
	o->ipv4_id = -1;
	nh = p[6];
	for (;;) {
		if (nh == 0 || nh == 43 || nh == 60) { /* hop, routing, dest */
			if (off + 8 > len)
				return -EBADMSG;
			ext = ((size_t)p[off + 1] + 1) * 8;
		} else if (nh == 44) { /* fragment */
			if (off + 8 > len)
				return -EBADMSG;
			o->fragment = true;
			o->frag_off = get_be16(p + off + 2) & 0xfff8;
			ext = 8;
		} else {
			break;
		}
		if (off + ext > len)
			return -EBADMSG;
		nh = p[off];
		off += ext;
	}
	o->proto = nh;
	o->l4 = p + off;
	o->l4_len = len - off;
	return 0;
}

int ip_parse(const uint8_t *p, size_t len, struct ip_info *o)
{
	size_t ihl, tot;
	uint16_t frag;

	memset(o, 0, sizeof(*o));
	if (len < 1)
		return -EBADMSG;
	if (p[0] >> 4 == 6)
		return ipv6_parse(p, len, o);
	if (p[0] >> 4 != 4 || len < 20)
		return -EBADMSG;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	tot = get_be16(p + 2);
	if (ihl < 20 || tot < ihl || tot > len)
		return -EBADMSG;
	frag = get_be16(p + 6);
	o->family = AF_INET;
	o->fragment = (frag & 0x2000) || (frag & 0x1fff);
	o->frag_off = (uint32_t)(frag & 0x1fff) * 8;
	o->ipv4_id = get_be16(p + 4);
	o->proto = p[9];
	set_addr(&o->src, AF_INET, p + 12);
	set_addr(&o->dst, AF_INET, p + 16);
	o->l4 = p + ihl;
	o->l4_len = tot - ihl;
	return 0;
}

size_t ip_build(uint8_t *out, const struct sockaddr_storage *src,
		const struct sockaddr_storage *dst, uint8_t proto,
		size_t payload_len, uint16_t ipv4_id)
{
	uint16_t c;

	if (src->ss_family != dst->ss_family)
		return 0;
	if (src->ss_family == AF_INET) {
		if (payload_len > 65535 - 20)
			return 0;
		out[0] = 0x45;
		out[1] = 0;
		out[2] = (uint8_t)((20 + payload_len) >> 8);
		out[3] = (uint8_t)(20 + payload_len);
		out[4] = (uint8_t)(ipv4_id >> 8);
		out[5] = (uint8_t)ipv4_id;
		out[6] = 0x40; /* DF */
		out[7] = 0;
		out[8] = 64;
		out[9] = proto;
		out[10] = out[11] = 0;
		memcpy(out + 12, &((const struct sockaddr_in *)src)->sin_addr,
		       4);
		memcpy(out + 16, &((const struct sockaddr_in *)dst)->sin_addr,
		       4);
		c = (uint16_t)~inet_csum_fold(inet_csum_add(0, out, 20));
		out[10] = (uint8_t)(c >> 8);
		out[11] = (uint8_t)c;
		return 20;
	}
	if (src->ss_family == AF_INET6) {
		if (payload_len > 65535)
			return 0;
		memset(out, 0, 8);
		out[0] = 0x60;
		out[4] = (uint8_t)(payload_len >> 8);
		out[5] = (uint8_t)payload_len;
		out[6] = proto;
		out[7] = 64;
		memcpy(out + 8, &((const struct sockaddr_in6 *)src)->sin6_addr,
		       16);
		memcpy(out + 24, &((const struct sockaddr_in6 *)dst)->sin6_addr,
		       16);
		return 40;
	}
	return 0;
}

/* Sum of the pseudo-header of a UDP datagram of len bytes (RFC 768/8200). */
static uint32_t udp_pseudo(const struct sockaddr_storage *src,
			   const struct sockaddr_storage *dst, size_t len)
{
	uint32_t sum;

	if (src->ss_family == AF_INET) {
		sum = inet_csum_add(
			0, &((const struct sockaddr_in *)src)->sin_addr, 4);
		sum = inet_csum_add(
			sum, &((const struct sockaddr_in *)dst)->sin_addr, 4);
	} else {
		sum = inet_csum_add(
			0, &((const struct sockaddr_in6 *)src)->sin6_addr, 16);
		sum = inet_csum_add(
			sum, &((const struct sockaddr_in6 *)dst)->sin6_addr,
			16);
	}
	/* zero, protocol 17, length: the IPv4 and IPv6 forms sum alike */
	return sum + 17 + (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff);
}

static uint16_t sock_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

size_t udp_build(uint8_t *out, const struct sockaddr_storage *src,
		 const struct sockaddr_storage *dst, size_t payload_len)
{
	size_t len = UDP_HDR_LEN + payload_len;
	uint16_t c;

	if (src->ss_family != dst->ss_family ||
	    (src->ss_family != AF_INET && src->ss_family != AF_INET6) ||
	    len > 65535)
		return 0;
	out[0] = (uint8_t)(sock_port(src) >> 8);
	out[1] = (uint8_t)sock_port(src);
	out[2] = (uint8_t)(sock_port(dst) >> 8);
	out[3] = (uint8_t)sock_port(dst);
	out[4] = (uint8_t)(len >> 8);
	out[5] = (uint8_t)len;
	out[6] = out[7] = 0;
	c = (uint16_t)~inet_csum_fold(
		inet_csum_add(udp_pseudo(src, dst, len), out, len));
	if (!c)
		c = 0xffff; /* 0 would mean "no checksum" */
	out[6] = (uint8_t)(c >> 8);
	out[7] = (uint8_t)c;
	return UDP_HDR_LEN;
}

int udp_parse(const struct ip_info *ip, struct udp_info *o)
{
	const uint8_t *u = ip->l4;
	uint16_t fold;

	memset(o, 0, sizeof(*o));
	if (ip->l4_len < UDP_HDR_LEN)
		return -EBADMSG;
	o->sport = get_be16(u);
	o->dport = get_be16(u + 2);
	o->len = get_be16(u + 4);
	o->csum = get_be16(u + 6);
	if (o->len < UDP_HDR_LEN || o->len > ip->l4_len)
		return -EBADMSG;
	o->payload = u + UDP_HDR_LEN;
	o->payload_len = o->len - UDP_HDR_LEN;
	/* The sum over everything, checksum field included, is 0xffff when
	 * the checksum is right. */
	fold = inet_csum_fold(inet_csum_add(
		udp_pseudo(&ip->src, &ip->dst, o->len), u, o->len));
	/* what the field should hold: the sum without it, inverted */
	o->want =
		(uint16_t)~inet_csum_fold((uint32_t)fold + (uint16_t)~o->csum);
	if (!o->want)
		o->want = 0xffff;
	if (!o->csum && ip->family == AF_INET)
		o->csum_state = UDP_CSUM_ABSENT;
	else if (o->csum && fold == 0xffff)
		o->csum_state = UDP_CSUM_OK;
	else if (o->csum ==
		 inet_csum_fold(udp_pseudo(&ip->src, &ip->dst, o->len)))
		o->csum_state = UDP_CSUM_PARTIAL;
	else
		o->csum_state = UDP_CSUM_BAD;
	return 0;
}
