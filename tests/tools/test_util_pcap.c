// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of the tools' shared helpers (user/tools/common): util.c (hex,
 * address:port, sizes) and pcap.c (files libpcap reads back, link layers,
 * IPv4/IPv6 header build and parse).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <pcap/pcap.h>

#include "pcap.h"
#include "util.h"

static char err[UTIL_ERR_LEN];

Test(util_parse_hex, accepts_prefix_and_either_case)
{
	uint8_t b[4];
	size_t n = 0;

	cr_assert_eq(
		util_parse_hex("0xA0b1", b, sizeof(b), 0, &n, err, sizeof(err)),
		0);
	cr_assert_eq(n, 2);
	cr_assert_eq(b[0], 0xa0);
	cr_assert_eq(b[1], 0xb1);
}

Test(util_parse_hex, names_the_bad_digit_and_its_position)
{
	uint8_t b[4];

	cr_assert_eq(
		util_parse_hex("00g1", b, sizeof(b), 0, NULL, err, sizeof(err)),
		-EINVAL);
	cr_assert_str_eq(err, "'g' at position 3 is not a hex digit");
}

Test(util_parse_hex, rejects_odd_length)
{
	uint8_t b[4];

	cr_assert_eq(
		util_parse_hex("abc", b, sizeof(b), 0, NULL, err, sizeof(err)),
		-EINVAL);
	cr_assert(strstr(err, "odd number of hex digits (3)"), "%s", err);
}

Test(util_parse_hex, wrong_length_says_what_is_needed)
{
	uint8_t b[16];

	cr_assert_eq(util_parse_hex("0011", b, sizeof(b), 12, NULL, err,
				    sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(err, "2 bytes given, 12 bytes (24 hex digits) needed");
	cr_assert_eq(util_parse_hex("001122", b, 2, 0, NULL, err, sizeof(err)),
		     -EINVAL);
}

Test(util_parse_addr_port, ipv4)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	cr_assert_eq(util_parse_addr_port("192.0.2.1:40000", &ss, 0, err,
					  sizeof(err)),
		     0);
	cr_assert_eq(ss.ss_family, AF_INET);
	cr_assert_eq(ntohl(sin->sin_addr.s_addr), 0xc0000201);
	cr_assert_eq(util_addr_port(&ss), 40000);
}

Test(util_parse_addr_port, ipv6_in_brackets_round_trips)
{
	struct sockaddr_storage ss;
	char buf[UTIL_ADDR_LEN];

	cr_assert_eq(util_parse_addr_port("[2001:db8::1]:5000", &ss, 0, err,
					  sizeof(err)),
		     0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_str_eq(util_format_addr(&ss, 1, buf, sizeof(buf)),
			 "[2001:db8::1]:5000");
	cr_assert_str_eq(util_format_addr(&ss, 0, buf, sizeof(buf)),
			 "2001:db8::1");
}

Test(util_parse_addr_port, ipv6_without_brackets_is_refused)
{
	struct sockaddr_storage ss;

	cr_assert_eq(
		util_parse_addr_port("2001:db8::1:5", &ss, 0, err, sizeof(err)),
		-EINVAL);
	cr_assert(strstr(err, "[ADDR]:PORT"), "%s", err);
	cr_assert_eq(util_parse_addr_port("2001:db8::zz:5", &ss, 0, err,
					  sizeof(err)),
		     -EINVAL);
	cr_assert(strstr(err, "looks like IPv6"), "%s", err);
}

Test(util_parse_addr_port, bare_ipv6_needs_brackets_for_a_port)
{
	struct sockaddr_storage ss;

	cr_assert_eq(
		util_parse_addr_port("2001:db8::1", &ss, 1, err, sizeof(err)),
		0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(
		util_parse_addr_port("2001:db8::1", &ss, 0, err, sizeof(err)),
		-EINVAL);
	cr_assert_str_eq(err, "'2001:db8::1' has no port; write IPv6 "
			      "addresses with brackets: [ADDR]:PORT");
}

Test(util_parse_addr_port, port_required_unless_optional)
{
	struct sockaddr_storage ss;

	cr_assert_eq(
		util_parse_addr_port("192.0.2.1", &ss, 0, err, sizeof(err)),
		-EINVAL);
	cr_assert(strstr(err, "has no port"), "%s", err);
	cr_assert_eq(
		util_parse_addr_port("192.0.2.1", &ss, 1, err, sizeof(err)), 0);
	cr_assert_eq(util_addr_port(&ss), 0);
}

Test(util_parse_addr_port, bad_port_and_bad_address)
{
	struct sockaddr_storage ss;

	cr_assert_eq(util_parse_addr_port("192.0.2.1:65536", &ss, 0, err,
					  sizeof(err)),
		     -EINVAL);
	cr_assert(strstr(err, "port '65536'"), "%s", err);
	cr_assert_eq(
		util_parse_addr_port("300.0.0.1:1", &ss, 0, err, sizeof(err)),
		-EINVAL);
	cr_assert(strstr(err, "not an IPv4 or IPv6 address"), "%s", err);
	cr_assert_eq(util_parse_addr_port("[::1", &ss, 0, err, sizeof(err)),
		     -EINVAL);
}

Test(util_parse_size, suffixes_are_powers_of_1024)
{
	uint64_t v;

	cr_assert_eq(util_parse_size("10", 1 << 30, &v, err, sizeof(err)), 0);
	cr_assert_eq(v, 10);
	cr_assert_eq(util_parse_size("4K", 1 << 30, &v, err, sizeof(err)), 0);
	cr_assert_eq(v, 4096);
	cr_assert_eq(util_parse_size("2MiB", 1 << 30, &v, err, sizeof(err)), 0);
	cr_assert_eq(v, 2 << 20);
	cr_assert_eq(util_parse_size("1G", 1ULL << 30, &v, err, sizeof(err)),
		     0);
	cr_assert_eq(v, 1 << 30);
}

Test(util_parse_size, rejects_junk_negative_and_too_large)
{
	uint64_t v;

	cr_assert_eq(util_parse_size("10X", 1 << 30, &v, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(util_parse_size("1Kx", 1 << 30, &v, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(util_parse_size("-1", 1 << 30, &v, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(util_parse_size("65M", 64 << 20, &v, err, sizeof(err)),
		     -EINVAL);
	cr_assert(strstr(err, "more than the limit"), "%s", err);
}

Test(util_parse_u64, range_and_hex)
{
	uint64_t v;

	cr_assert_eq(util_parse_u64("0x10", 0, 100, &v, err, sizeof(err)), 0);
	cr_assert_eq(v, 16);
	cr_assert_eq(util_parse_u64("101", 0, 100, &v, err, sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(err, "101 is out of range 0..100");
	cr_assert_eq(util_parse_u64("1x", 0, 100, &v, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(util_parse_u64("", 0, 100, &v, err, sizeof(err)), -EINVAL);
}

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;

	cr_assert_eq(util_parse_addr_port(s, &ss, 1, err, sizeof(err)), 0, "%s",
		     err);
	return ss;
}

/* The first 20 bytes of the golden packet of tests/tools/test-wire.sh,
 * checksum worked out by hand. */
Test(ip_build, ipv4_header_and_checksum)
{
	static const uint8_t want[20] = {
		0x45, 0x00, 0x05, 0xdc, 0x00, 0x00, 0x40, 0x00, 0x40, 0xfd,
		0xb0, 0x21, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02,
	};
	struct sockaddr_storage s = addr("192.0.2.1"), d = addr("192.0.2.2");
	uint8_t h[20];

	cr_assert_eq(ip_build(h, &s, &d, 253, 1480, 0), 20);
	cr_assert_arr_eq(h, want, 20);
}

Test(ip_build, mixed_families_refused)
{
	struct sockaddr_storage s = addr("192.0.2.1"), d = addr("::1");
	uint8_t h[40];

	cr_assert_eq(ip_build(h, &s, &d, 253, 10, 0), 0);
}

Test(ip_parse, ipv4_round_trip_cuts_link_padding)
{
	struct sockaddr_storage s = addr("192.0.2.1"), d = addr("192.0.2.2");
	uint8_t p[64] = {0};
	struct ip_info ip;

	ip_build(p, &s, &d, 253, 10, 7);
	cr_assert_eq(ip_parse(p, sizeof(p), &ip), 0);
	cr_assert_eq(ip.family, AF_INET);
	cr_assert_eq(ip.proto, 253);
	cr_assert_eq(ip.ipv4_id, 7);
	cr_assert_not(ip.fragment);
	cr_assert_eq(ip.l4, p + 20);
	cr_assert_eq(ip.l4_len, 10);
}

Test(ip_parse, ipv4_fragment_and_bad_length)
{
	struct sockaddr_storage s = addr("192.0.2.1"), d = addr("192.0.2.2");
	uint8_t p[64] = {0};
	struct ip_info ip;

	ip_build(p, &s, &d, 253, 10, 0);
	p[6] = 0x20; /* MF */
	cr_assert_eq(ip_parse(p, 30, &ip), 0);
	cr_assert(ip.fragment);
	p[6] = 0x40;
	p[7] = 0x01; /* offset 8 */
	cr_assert_eq(ip_parse(p, 30, &ip), 0);
	cr_assert(ip.fragment);
	cr_assert_eq(ip_parse(p, 29, &ip), -EBADMSG); /* total 30 > 29 */
	p[0] = 0x44; /* IHL 16 bytes */
	cr_assert_eq(ip_parse(p, 30, &ip), -EBADMSG);
}

Test(ip_parse, ipv6_extension_headers_and_fragment)
{
	struct sockaddr_storage s = addr("2001:db8::1"),
				d = addr("2001:db8::2");
	uint8_t p[40 + 8 + 8 + 12] = {0};
	struct ip_info ip;

	ip_build(p, &s, &d, 0 /* hop-by-hop */, 28, 0);
	p[40] = 60; /* hop-by-hop -> destination options */
	p[48] = 253; /* destination options -> SMT */
	cr_assert_eq(ip_parse(p, sizeof(p), &ip), 0);
	cr_assert_eq(ip.family, AF_INET6);
	cr_assert_eq(ip.proto, 253);
	cr_assert_eq(ip.ipv4_id, -1);
	cr_assert_eq(ip.l4, p + 56);
	cr_assert_eq(ip.l4_len, 12);
	cr_assert_not(ip.fragment);
	p[40] = 44; /* -> fragment header */
	p[48] = 253;
	cr_assert_eq(ip_parse(p, sizeof(p), &ip), 0);
	cr_assert(ip.fragment);
	p[41] = 9; /* hop-by-hop longer than the packet */
	p[40] = 60;
	cr_assert_eq(ip_parse(p, sizeof(p), &ip), -EBADMSG);
}

Test(pcap_frame_ip, link_layers)
{
	static const uint8_t eth_vlan[18 + 1] = {[12] = 0x81,
						 [13] = 0x00,
						 [16] = 0x86,
						 [17] = 0xdd,
						 [18] = 0x60};
	static const uint8_t eth_arp[14] = {[12] = 0x08, [13] = 0x06};
	static const uint8_t sll[16 + 1] = {
		[14] = 0x08, [15] = 0x00, [16] = 0x45};
	static const uint8_t sll2[20 + 1] = {
		[0] = 0x86, [1] = 0xdd, [20] = 0x60};
	const uint8_t *ip;
	size_t len;

	cr_assert_eq(pcap_frame_ip(PCAP_LINKTYPE_EN10MB, eth_vlan,
				   sizeof(eth_vlan), &ip, &len),
		     0);
	cr_assert_eq(ip, eth_vlan + 18);
	cr_assert_eq(len, 1);
	cr_assert_eq(pcap_frame_ip(PCAP_LINKTYPE_EN10MB, eth_arp,
				   sizeof(eth_arp), &ip, &len),
		     -ENOENT);
	cr_assert_eq(pcap_frame_ip(PCAP_LINKTYPE_LINUX_SLL, sll, sizeof(sll),
				   &ip, &len),
		     0);
	cr_assert_eq(ip, sll + 16);
	cr_assert_eq(pcap_frame_ip(PCAP_LINKTYPE_LINUX_SLL2, sll2, sizeof(sll2),
				   &ip, &len),
		     0);
	cr_assert_eq(ip, sll2 + 20);
	cr_assert_eq(
		pcap_frame_ip(PCAP_LINKTYPE_LINUX_SLL2, sll2, 19, &ip, &len),
		-EBADMSG);
}

static char *tmp_path(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "/tmp/smt-test-pcap-%d-%s", getpid(),
		 name);
	return path;
}

/* What pcap.c writes, libpcap reads: link type, times, bytes, the end. */
Test(pcap_write, libpcap_reads_it_back_in_order)
{
	char *path = tmp_path("rt.pcap"), errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	struct pcap_writer w;
	uint8_t a[3] = {1, 2, 3}, b[1] = {9};
	pcap_t *p;

	cr_assert_eq(pcap_writer_open(&w, path), 0);
	cr_assert_eq(pcap_write(&w, a, sizeof(a), 5, 6), 0);
	cr_assert_eq(pcap_write(&w, b, sizeof(b), 7, 8), 0);
	cr_assert_eq(pcap_writer_close(&w), 0);
	p = pcap_open_offline(path, errbuf);
	cr_assert_not_null(p, "%s", errbuf);
	cr_assert_eq(pcap_datalink(p), DLT_RAW);
	cr_assert_eq(pcap_snapshot(p), PCAP_SNAPLEN);
	cr_assert_eq(pcap_next_ex(p, &h, &data), 1);
	cr_assert_eq(h->caplen, 3);
	cr_assert_eq(h->len, 3);
	cr_assert_eq(h->ts.tv_sec, 5);
	cr_assert_eq(h->ts.tv_usec, 6);
	cr_assert_arr_eq(data, a, 3);
	cr_assert_eq(pcap_next_ex(p, &h, &data), 1);
	cr_assert_eq(h->ts.tv_sec, 7);
	cr_assert_eq(data[0], 9);
	cr_assert_eq(pcap_next_ex(p, &h, &data), PCAP_ERROR_BREAK);
	pcap_close(p);
	unlink(path);
}

Test(pcap_linktype_known, the_link_types_pcap_frame_ip_reads)
{
	static const uint8_t ip4[1] = {0x45};
	static const uint32_t lt[] = {
		PCAP_LINKTYPE_EN10MB,	 PCAP_LINKTYPE_RAW,
		PCAP_LINKTYPE_IPV4,	 PCAP_LINKTYPE_IPV6,
		PCAP_LINKTYPE_LINUX_SLL, PCAP_LINKTYPE_LINUX_SLL2};
	const uint8_t *ip;
	size_t i, len;

	for (i = 0; i < sizeof(lt) / sizeof(lt[0]); i++)
		cr_assert(pcap_linktype_known(lt[i]), "%u", lt[i]);
	cr_assert_not(pcap_linktype_known(189)); /* USB */
	cr_assert_eq(pcap_frame_ip(189, ip4, sizeof(ip4), &ip, &len),
		     -EPROTONOSUPPORT);
}

Test(inet_csum, odd_length_and_fold)
{
	static const uint8_t b[3] = {0xff, 0xff, 0x01};

	/* ffff + 0100 = 100ff, folded 0100 */
	cr_assert_eq(inet_csum_fold(inet_csum_add(0, b, 3)), 0x0100);
	cr_assert_eq(inet_csum_fold(inet_csum_add(0xffff, b, 2)), 0xffff);
}

/* UDP 192.0.2.1:40000 > 192.0.2.2:7000 carrying "ab", checksums worked out
 * by hand: pseudo-header c000 0201 c000 0202 0011 000a, header 9c40 1b58
 * 000a, data 6162: sum 9d24, checksum 62db. */
static size_t udp_pkt(uint8_t *p, const char *src, const char *dst,
		      const char *data, struct ip_info *ip)
{
	struct sockaddr_storage s, d;
	size_t n = strlen(data), ih;

	cr_assert_eq(util_parse_addr_port(src, &s, 0, err, sizeof(err)), 0);
	cr_assert_eq(util_parse_addr_port(dst, &d, 0, err, sizeof(err)), 0);
	ih = ip_hdr_len(s.ss_family);
	memcpy(p + ih + UDP_HDR_LEN, data, n);
	cr_assert_eq(udp_build(p + ih, &s, &d, n), UDP_HDR_LEN);
	cr_assert_eq(ip_build(p, &s, &d, 17, UDP_HDR_LEN + n, 0), ih);
	cr_assert_eq(ip_parse(p, ih + UDP_HDR_LEN + n, ip), 0);
	return ih;
}

Test(udp_build, ipv4_checksum_by_hand)
{
	static const uint8_t want[10] = {0x9c, 0x40, 0x1b, 0x58, 0x00,
					 0x0a, 0x62, 0xdb, 'a',	 'b'};
	struct ip_info ip;
	struct udp_info u;
	uint8_t p[64];

	udp_pkt(p, "192.0.2.1:40000", "192.0.2.2:7000", "ab", &ip);
	cr_assert_arr_eq(p + 20, want, sizeof(want));
	cr_assert_eq(udp_parse(&ip, &u), 0);
	cr_assert_eq(u.csum_state, UDP_CSUM_OK);
	cr_assert_eq(u.sport, 40000);
	cr_assert_eq(u.dport, 7000);
	cr_assert_eq(u.payload, p + 28);
	cr_assert_eq(u.payload_len, 2);
	cr_assert_eq(u.want, 0x62db);
}

/* Same over IPv6 2001:db8::1 > 2001:db8::2: checksum 8b6a by hand; an odd
 * length ("abc" over IPv4: ffd8) is padded with a zero byte. */
Test(udp_build, ipv6_and_odd_length_by_hand)
{
	struct ip_info ip;
	struct udp_info u;
	uint8_t p[96];

	udp_pkt(p, "[2001:db8::1]:40000", "[2001:db8::2]:7000", "ab", &ip);
	cr_assert_eq(p[46], 0x8b);
	cr_assert_eq(p[47], 0x6a);
	cr_assert_eq(udp_parse(&ip, &u), 0);
	cr_assert_eq(u.csum_state, UDP_CSUM_OK);
	udp_pkt(p, "192.0.2.1:40000", "192.0.2.2:7000", "abc", &ip);
	cr_assert_eq(p[26], 0xff);
	cr_assert_eq(p[27], 0xd8);
}

Test(udp_parse, bad_absent_offloaded_and_malformed)
{
	struct ip_info ip;
	struct udp_info u;
	uint8_t p[96];

	udp_pkt(p, "192.0.2.1:40000", "192.0.2.2:7000", "ab", &ip);
	p[29] ^= 1; /* data changed */
	cr_assert_eq(udp_parse(&ip, &u), 0);
	cr_assert_eq(u.csum_state, UDP_CSUM_BAD);
	cr_assert_eq(u.csum, 0x62db);
	cr_assert_eq(u.want, 0x62da);
	p[26] = p[27] = 0;
	cr_assert_eq(udp_parse(&ip, &u), 0);
	cr_assert_eq(u.csum_state, UDP_CSUM_ABSENT);
	/* the pseudo-header sum alone: c000+0201+c000+0202+0011+000a */
	p[26] = 0x84;
	p[27] = 0x1f;
	cr_assert_eq(udp_parse(&ip, &u), 0);
	cr_assert_eq(u.csum_state, UDP_CSUM_PARTIAL);
	p[25] = 11; /* UDP length beyond the IP payload */
	cr_assert_eq(udp_parse(&ip, &u), -EBADMSG);
	p[25] = 7;
	cr_assert_eq(udp_parse(&ip, &u), -EBADMSG);
	ip.l4_len = 7;
	cr_assert_eq(udp_parse(&ip, &u), -EBADMSG);
	/* zero over IPv6 is no "absent": it is wrong */
	udp_pkt(p, "[2001:db8::1]:40000", "[2001:db8::2]:7000", "ab", &ip);
	p[46] = p[47] = 0;
	cr_assert_eq(udp_parse(&ip, &u), 0);
	cr_assert_eq(u.csum_state, UDP_CSUM_BAD);
}

Test(util_parse_port_ranges, lists_ranges_and_errors)
{
	struct util_port_range r[3];
	size_t n;

	cr_assert_eq(util_parse_port_ranges("7000,9000-9099", r, 3, &n, err,
					    sizeof(err)),
		     0);
	cr_assert_eq(n, 2);
	cr_assert_eq(r[0].lo, 7000);
	cr_assert_eq(r[0].hi, 7000);
	cr_assert_eq(r[1].lo, 9000);
	cr_assert_eq(r[1].hi, 9099);
	cr_assert(util_port_in_ranges(r, n, 9099));
	cr_assert_not(util_port_in_ranges(r, n, 9100));
	cr_assert_not(util_port_in_ranges(r, n, 6999));
	cr_assert_eq(
		util_parse_port_ranges("1,2,3,4", r, 3, &n, err, sizeof(err)),
		-EINVAL);
	cr_assert_str_eq(err, "more than 3 port ranges");
	cr_assert_eq(util_parse_port_ranges("9-8", r, 3, &n, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(util_parse_port_ranges("0", r, 3, &n, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(
		util_parse_port_ranges("70000", r, 3, &n, err, sizeof(err)),
		-EINVAL);
	cr_assert_eq(util_parse_port_ranges(",", r, 3, &n, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(util_parse_port_ranges("1-", r, 3, &n, err, sizeof(err)),
		     -EINVAL);
}

Test(util_parse_size, fractions_come_to_whole_bytes)
{
	uint64_t v;

	cr_assert_eq(util_parse_size("1.5K", 1 << 30, &v, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(v, 1536);
	cr_assert_eq(util_parse_size("0.5K", 1 << 30, &v, err, sizeof(err)), 0);
	cr_assert_eq(v, 512);
	cr_assert_eq(util_parse_size("2.25MiB", 1 << 30, &v, err, sizeof(err)),
		     0);
	cr_assert_eq(v, (2 << 20) + (1 << 18));
	cr_assert_eq(util_parse_size("1.000000001G", 1ULL << 31, &v, err,
				     sizeof(err)),
		     -EINVAL, "not whole bytes");
	cr_assert_eq(util_parse_size("0.1K", 1 << 30, &v, err, sizeof(err)),
		     -EINVAL);
	cr_assert(strstr(err, "whole number of bytes"), "%s", err);
	cr_assert_eq(util_parse_size("0.5", 1 << 30, &v, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(util_parse_size("1.K", 1 << 30, &v, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(util_parse_size(".5K", 1 << 30, &v, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(
		util_parse_size("1.0000000001K", 1 << 30, &v, err, sizeof(err)),
		-EINVAL, "at most 9 digits after the point");
	cr_assert_eq(
		util_parse_size("1.500000000K", 1 << 30, &v, err, sizeof(err)),
		0);
	cr_assert_eq(v, 1536);
}

Test(util_parse_size, limits_at_the_edges_never_wrap)
{
	uint64_t v;

	cr_assert_eq(
		util_parse_size("4294967295", UINT32_MAX, &v, err, sizeof(err)),
		0);
	cr_assert_eq(v, UINT32_MAX);
	cr_assert_eq(
		util_parse_size("4294967296", UINT32_MAX, &v, err, sizeof(err)),
		-EINVAL);
	cr_assert_eq(util_parse_size("4G", 4ULL << 30, &v, err, sizeof(err)),
		     0);
	cr_assert_eq(
		util_parse_size("4G", (4ULL << 30) - 1, &v, err, sizeof(err)),
		-EINVAL);
	cr_assert_eq(
		util_parse_size("4194304K", UINT32_MAX, &v, err, sizeof(err)),
		-EINVAL, "2^32 bytes");
	cr_assert_eq(
		util_parse_size("4194303.5K", UINT32_MAX, &v, err, sizeof(err)),
		0);
	cr_assert_eq(v, UINT32_MAX - 511);
	/* a fraction alone above the limit */
	cr_assert_eq(util_parse_size("0.5K", 100, &v, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(util_parse_size("18446744073709551615", UINT64_MAX, &v,
				     err, sizeof(err)),
		     0);
	cr_assert_eq(v, UINT64_MAX);
	cr_assert_eq(util_parse_size("18446744073709551616", UINT64_MAX, &v,
				     err, sizeof(err)),
		     -EINVAL);
	/* 2^34 G = 2^64 bytes: would wrap to 0 if multiplied first */
	cr_assert_eq(util_parse_size("17179869184G", UINT64_MAX, &v, err,
				     sizeof(err)),
		     -EINVAL);
	cr_assert_eq(util_parse_size("17179869183.5G", UINT64_MAX, &v, err,
				     sizeof(err)),
		     0);
	cr_assert_eq(v, UINT64_MAX - (1ULL << 29) + 1);
}
