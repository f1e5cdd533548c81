// SPDX-License-Identifier: BSD-2-Clause
/*
 * Classic pcap read/write and raw IPv4/IPv6 header build and parse for the
 * smt tools (see pcap.h). Files are written little-endian so that the same
 * input gives the same bytes on every host.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "pcap.h"

#define PCAP_MAGIC_USEC 0xa1b2c3d4u
#define PCAP_MAGIC_NSEC 0xa1b23c4du
#define PCAPNG_MAGIC 0x0a0d0d0au

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

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
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

static uint32_t rd32(const struct pcap_reader *r, const uint8_t *p)
{
	uint32_t v = get_le32(p);

	return r->swap ? __builtin_bswap32(v) : v;
}

static uint16_t rd16(const struct pcap_reader *r, const uint8_t *p)
{
	uint16_t v = (uint16_t)(p[0] | p[1] << 8);

	return r->swap ? __builtin_bswap16(v) : v;
}

/* pcapng block types and the section header's byte-order magic */
#define PCAPNG_IDB 1
#define PCAPNG_PB 2 /* obsolete Packet Block */
#define PCAPNG_SPB 3
#define PCAPNG_EPB 6
#define PCAPNG_BOM 0x1a2b3c4du
#define PCAPNG_BLOCK_MAX (1u << 24) /* bounds what a corrupt file allocates */

static int classic_open(struct pcap_reader *r, const uint8_t *h)
{
	uint32_t magic = get_le32(h);

	if (magic == PCAP_MAGIC_USEC || magic == PCAP_MAGIC_NSEC) {
		r->swap = false;
	} else if (__builtin_bswap32(magic) == PCAP_MAGIC_USEC ||
		   __builtin_bswap32(magic) == PCAP_MAGIC_NSEC) {
		r->swap = true;
		magic = __builtin_bswap32(magic);
	} else {
		return -EBADMSG;
	}
	r->nsec = magic == PCAP_MAGIC_NSEC;
	r->snaplen = rd32(r, h + 16);
	/* The upper bits of the link-type field carry FCS info; ignore. */
	r->linktype = rd32(r, h + 20) & 0x0fffffff;
	if (!strcmp(pcap_linktype_name(r->linktype), "unknown"))
		return -EPROTONOSUPPORT;
	return 0;
}

/* Make room for n bytes in r->buf. */
static int reserve(struct pcap_reader *r, size_t n)
{
	uint8_t *nb;

	if (n <= r->cap)
		return 0;
	nb = realloc(r->buf, n);
	if (!nb)
		return -ENOMEM;
	r->buf = nb;
	r->cap = n;
	return 0;
}

/*
 * A section header block whose 8-byte head (type, length) is in h: take the
 * section's byte order and forget the previous section's interfaces.
 */
static int ng_section(struct pcap_reader *r, const uint8_t *h)
{
	uint8_t bom[4];
	uint32_t len, v = get_le32(h + 4);
	size_t rest;

	if (fread(bom, sizeof(bom), 1, r->f) != 1)
		return -EBADMSG;
	if (get_le32(bom) == PCAPNG_BOM)
		r->swap = false;
	else if (__builtin_bswap32(get_le32(bom)) == PCAPNG_BOM)
		r->swap = true;
	else
		return -EBADMSG;
	len = r->swap ? __builtin_bswap32(v) : v;
	if (len < 28 || len % 4 || len > PCAPNG_BLOCK_MAX)
		return -EBADMSG;
	rest = len - 12; /* version, section length, options, length */
	if (reserve(r, rest) || fread(r->buf, rest, 1, r->f) != 1)
		return -EBADMSG;
	if (rd32(r, r->buf + rest - 4) != len)
		return -EBADMSG;
	/* Major version 1 is the only one there is. */
	if (rd16(r, r->buf) != 1)
		return -EBADMSG;
	r->nifs = 0;
	return 0;
}

int pcap_reader_open(struct pcap_reader *r, const char *path)
{
	uint8_t h[24];
	int ret;

	memset(r, 0, sizeof(*r));
	r->f = fopen(path, "rbe");
	if (!r->f)
		return -errno;
	if (fread(h, 8, 1, r->f) != 1) {
		ret = -EBADMSG;
		goto err;
	}
	if (get_le32(h) == PCAPNG_MAGIC) {
		r->ng = true;
		ret = ng_section(r, h);
	} else if (fread(h + 8, sizeof(h) - 8, 1, r->f) != 1) {
		ret = -EBADMSG;
	} else {
		ret = classic_open(r, h);
	}
	if (!ret)
		return 0;
err:
	pcap_reader_close(r);
	return ret;
}

/* Interface description: link type, snap length and if_tsresol. */
static int ng_interface(struct pcap_reader *r, const uint8_t *b, size_t len)
{
	struct pcapng_if *ni, *i;
	size_t off = 8;
	uint16_t code, olen;

	if (len < 8)
		return -EBADMSG;
	ni = realloc(r->ifs, (r->nifs + 1) * sizeof(*ni));
	if (!ni)
		return -ENOMEM;
	r->ifs = ni;
	i = &ni[r->nifs];
	i->linktype = rd16(r, b);
	i->snaplen = rd32(r, b + 4);
	i->tsresol = 6; /* microseconds unless an option says otherwise */
	while (off + 4 <= len) {
		code = rd16(r, b + off);
		olen = rd16(r, b + off + 2);
		if (!code || off + 4 + olen > len)
			break;
		if (code == 9 && olen == 1)
			i->tsresol = b[off + 4];
		off += 4 + ((olen + 3u) & ~3u);
	}
	if (!r->nifs)
		r->linktype = i->linktype;
	r->nifs++;
	return 0;
}

/* A 64-bit timestamp in the interface's units as seconds and ns. */
static void ng_time(const struct pcapng_if *i, uint64_t ts,
		    struct pcap_rec *rec)
{
	unsigned int n = i->tsresol & 0x7f;
	unsigned __int128 units = 1, frac;

	if (i->tsresol & 0x80) {
		if (n > 64)
			n = 64;
		units <<= n;
	} else {
		if (n > 19)
			n = 19;
		while (n--)
			units *= 10;
	}
	frac = ts % units;
	rec->ts_sec = (uint32_t)(ts / units);
	rec->ts_nsec = (uint32_t)(frac * 1000000000u / units);
}

/* One packet block: the packet's bytes, lengths, time and link type. */
static int ng_packet(struct pcap_reader *r, uint32_t type, const uint8_t *b,
		     size_t len, struct pcap_rec *rec)
{
	const struct pcapng_if *i;
	uint32_t ifx = 0;
	size_t hl;

	if (type == PCAPNG_SPB) {
		if (len < 4 || !r->nifs)
			return -EBADMSG;
		rec->origlen = rd32(r, b);
		rec->caplen = rec->origlen;
		if (r->ifs[0].snaplen && rec->caplen > r->ifs[0].snaplen)
			rec->caplen = r->ifs[0].snaplen;
		hl = 4;
		rec->ts_sec = rec->ts_nsec = 0;
	} else {
		if (len < 20)
			return -EBADMSG;
		ifx = type == PCAPNG_PB ? rd16(r, b) : rd32(r, b);
		rec->caplen = rd32(r, b + 12);
		rec->origlen = rd32(r, b + 16);
		hl = 20;
	}
	if (ifx >= r->nifs || rec->caplen > len - hl)
		return -EBADMSG;
	i = &r->ifs[ifx];
	if (type != PCAPNG_SPB)
		ng_time(i, (uint64_t)rd32(r, b + 4) << 32 | rd32(r, b + 8),
			rec);
	rec->linktype = i->linktype;
	rec->data = b + hl;
	return 1;
}

static int ng_next(struct pcap_reader *r, struct pcap_rec *rec)
{
	uint8_t h[8];
	uint32_t type, len;
	size_t got, body;
	int ret;

	for (;;) {
		got = fread(h, 1, sizeof(h), r->f);
		if (got == 0 && feof(r->f))
			return 0;
		if (got != sizeof(h))
			return -EBADMSG;
		if (get_le32(h) == PCAPNG_MAGIC) {
			ret = ng_section(r, h);
			if (ret)
				return ret;
			continue;
		}
		type = rd32(r, h);
		len = rd32(r, h + 4);
		if (len < 12 || len % 4 || len > PCAPNG_BLOCK_MAX)
			return -EBADMSG;
		body = len - 12;
		if (reserve(r, body + 4) ||
		    fread(r->buf, body + 4, 1, r->f) != 1)
			return -EBADMSG;
		if (rd32(r, r->buf + body) != len)
			return -EBADMSG;
		if (type == PCAPNG_IDB) {
			ret = ng_interface(r, r->buf, body);
			if (ret)
				return ret;
		} else if (type == PCAPNG_EPB || type == PCAPNG_SPB ||
			   type == PCAPNG_PB) {
			ret = ng_packet(r, type, r->buf, body, rec);
			if (ret > 0)
				r->count++;
			return ret;
		}
	}
}

int pcap_next(struct pcap_reader *r, struct pcap_rec *rec)
{
	uint8_t h[16];
	size_t got;

	if (r->ng)
		return ng_next(r, rec);
	got = fread(h, 1, sizeof(h), r->f);
	if (got == 0 && feof(r->f))
		return 0;
	if (got != sizeof(h))
		return -EBADMSG;
	rec->ts_sec = rd32(r, h);
	rec->ts_nsec = rd32(r, h + 4);
	if (!r->nsec)
		rec->ts_nsec *= 1000;
	rec->caplen = rd32(r, h + 8);
	rec->origlen = rd32(r, h + 12);
	rec->linktype = r->linktype;
	/* Bound what a corrupt file can make us allocate. */
	if (rec->caplen > (1u << 24))
		return -EBADMSG;
	if (reserve(r, rec->caplen))
		return -ENOMEM;
	if (rec->caplen && fread(r->buf, rec->caplen, 1, r->f) != 1)
		return -EBADMSG;
	rec->data = r->buf;
	r->count++;
	return 1;
}

void pcap_reader_close(struct pcap_reader *r)
{
	if (r->f)
		fclose(r->f);
	free(r->buf);
	free(r->ifs);
	memset(r, 0, sizeof(*r));
}

const char *pcap_linktype_name(uint32_t linktype)
{
	switch (linktype) {
	case PCAP_LINKTYPE_EN10MB:
		return "EN10MB";
	case PCAP_LINKTYPE_RAW:
		return "RAW";
	case PCAP_LINKTYPE_IPV4:
		return "IPV4";
	case PCAP_LINKTYPE_IPV6:
		return "IPV6";
	case PCAP_LINKTYPE_LINUX_SLL:
		return "LINUX_SLL";
	case PCAP_LINKTYPE_LINUX_SLL2:
		return "LINUX_SLL2";
	}
	return "unknown";
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
