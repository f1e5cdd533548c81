// SPDX-License-Identifier: BSD-2-Clause
/*
 * Tests of the AF_XDP transmit path's pieces that need no interface
 * (xsk_tx.h): the frame builder (Ethernet header, every IPv4 header field
 * and the header checksum, size limits), the route look-up refusing a
 * local peer, and an xsk_tx endpoint over loopback, where every packet
 * must fall back to the raw socket and still arrive. The endpoint test
 * skips loudly without CAP_NET_RAW and fails under CI=true. The AF_XDP
 * socket itself is exercised by tests/net (xsk scenario).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "libsmt.h"
#include "smt_test.h"
#include "xsk_tx.h"

static const uint8_t dmac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
static const uint8_t smac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};

static void route_for(struct smt_xsk_route *r, uint32_t mtu)
{
	memset(r, 0, sizeof(*r));
	inet_pton(AF_INET, "10.1.2.3", &r->src);
	inet_pton(AF_INET, "192.168.7.9", &r->dst);
	memcpy(r->smac, smac, 6);
	memcpy(r->dmac, dmac, 6);
	r->mtu = mtu;
	r->ok = true;
}

Test(smt_xsk_ip_csum, known_header)
{
	/* a textbook header whose checksum is 0xb861 */
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40,
			 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
			 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	uint16_t c = smt_xsk_ip_csum(h, sizeof(h));

	cr_assert_eq(ntohs(c), 0xb861, "got %#x", ntohs(c));
	memcpy(h + 10, &c, 2);
	/* a header with its checksum sums to 0xffff: complement 0 */
	cr_assert_eq(smt_xsk_ip_csum(h, sizeof(h)), 0);
}

Test(smt_xsk_build_frame, ethernet_and_ipv4_headers)
{
	struct smt_xsk_ip ip = {.proto = 253, .tos = 5 << 5, .id = 0xbeef};
	struct smt_xsk_route r;
	uint8_t pkt[300], frame[SMT_XSK_FRAME];
	const uint8_t *h = frame + SMT_XSK_ETH_LEN;
	struct in_addr a;
	size_t len, i;

	route_for(&r, 1500);
	for (i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7 + 1);
	memset(frame, 0xcc, sizeof(frame));
	len = smt_xsk_build_frame(frame, sizeof(frame), &r, &ip, pkt,
				  sizeof(pkt));
	cr_assert_eq(len, 14 + 20 + sizeof(pkt));
	cr_assert_arr_eq(frame, dmac, 6);
	cr_assert_arr_eq(frame + 6, smac, 6);
	cr_assert_eq(frame[12], 0x08);
	cr_assert_eq(frame[13], 0x00);
	cr_assert_eq(h[0], 0x45, "version 4, IHL 5");
	cr_assert_eq(h[1], 0xa0, "TOS");
	cr_assert_eq(h[2] << 8 | h[3], 20 + sizeof(pkt), "total length");
	cr_assert_eq(h[4] << 8 | h[5], 0xbeef, "ID");
	cr_assert_eq(h[6], 0x40, "DF, no fragment offset");
	cr_assert_eq(h[7], 0);
	cr_assert_eq(h[8], 64, "TTL");
	cr_assert_eq(h[9], 253, "protocol");
	memcpy(&a, h + 12, 4);
	cr_assert_eq(a.s_addr, r.src.s_addr, "source");
	memcpy(&a, h + 16, 4);
	cr_assert_eq(a.s_addr, r.dst.s_addr, "destination");
	cr_assert_eq(smt_xsk_ip_csum(h, 20), 0, "header checksum");
	cr_assert_arr_eq(h + 20, pkt, sizeof(pkt));
	cr_assert_eq(frame[len], 0xcc, "nothing written past the frame");
}

/* A packet's header and its payload (sent by reference from the wire
 * stream) gathered into the frame: the same frame as from one buffer;
 * the MTU bounds the sum of the pieces. */
Test(smt_xsk_build_frame, header_and_payload_gathered)
{
	struct smt_xsk_ip ip = {.proto = 253, .tos = 1 << 5, .id = 7};
	static uint8_t pkt[1480], one[SMT_XSK_FRAME], two[SMT_XSK_FRAME];
	struct iovec v[2] = {{pkt, 40}, {pkt + 40, 1000}};
	struct smt_xsk_route r;
	size_t i;

	route_for(&r, 1500);
	for (i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 11 + 3);
	cr_assert_eq(smt_xsk_build_frame(one, sizeof(one), &r, &ip, pkt, 1040),
		     14 + 20 + 1040);
	cr_assert_eq(smt_xsk_build_framev(two, sizeof(two), &r, &ip, v, 2),
		     14 + 20 + 1040);
	cr_assert_arr_eq(one, two, 14 + 20 + 1040);
	v[1].iov_len = 1440;
	cr_assert_eq(smt_xsk_build_framev(two, sizeof(two), &r, &ip, v, 2),
		     14 + 1500);
	v[1].iov_len = 1441;
	cr_assert_eq(smt_xsk_build_framev(two, sizeof(two), &r, &ip, v, 2), 0);
}

Test(smt_xsk_build_frame, refuses_what_does_not_fit)
{
	struct smt_xsk_ip ip = {.proto = 253};
	struct smt_xsk_route r;
	static uint8_t pkt[9000], frame[SMT_XSK_FRAME];

	route_for(&r, 1500);
	/* the interface MTU bounds the IP packet */
	cr_assert_eq(
		smt_xsk_build_frame(frame, sizeof(frame), &r, &ip, pkt, 1480),
		14 + 1500);
	cr_assert_eq(
		smt_xsk_build_frame(frame, sizeof(frame), &r, &ip, pkt, 1481),
		0);
	/* and the frame size bounds the frame */
	route_for(&r, 9000);
	cr_assert_eq(smt_xsk_build_frame(frame, sizeof(frame), &r, &ip, pkt,
					 SMT_XSK_FRAME - 34),
		     SMT_XSK_FRAME);
	cr_assert_eq(smt_xsk_build_frame(frame, sizeof(frame), &r, &ip, pkt,
					 SMT_XSK_FRAME - 33),
		     0);
}

Test(smt_xsk_route, local_peer_is_not_for_xsk)
{
	struct smt_xsk_port x;
	struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)};

	smt_xsk_port_init(&x);
	cr_assert_null(smt_xsk_route(&x, lo, 1));
	/* cached: the same answer without a new look-up */
	cr_assert_null(smt_xsk_route(&x, lo, 2));
	cr_assert_geq(x.nl, 0, "the look-up used rtnetlink");
	smt_xsk_port_fini(&x);
	cr_assert_eq(x.nl, -1);
}

static struct smt_endpoint *xsk_ep(void)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o), .xsk_tx = true};

	return th_ep_open(&o);
}

Test(smt_xsk_tx, loopback_falls_back_to_raw_without_loss)
{
	struct smt_endpoint *a = xsk_ep(), *b = xsk_ep();
	struct smt_stats st = {.sz = sizeof(st)};
	uint8_t *buf = malloc(200000);
	struct smt_msg m = {0};
	uint32_t sa, sb;
	time_t end;
	bool got = false;
	size_t i;

	for (i = 0; i < 200000; i++)
		buf[i] = (uint8_t)(i * 13);
	th_join(a, b, 0x31, &sa, &sb);
	cr_assert_eq(smt_send_request(a, sa, buf, 200000, 9, NULL), 0);
	end = time(NULL) + 5;
	while (!got && time(NULL) < end) {
		smt_wait(a, 1);
		smt_wait(b, 1);
		while (smt_recv(b, &m) == 0) {
			if (m.kind == SMT_MSG_REQUEST)
				cr_assert_eq(
					smt_reply(b, sb, m.id, m.data, m.len),
					0);
			smt_msg_release(&m);
		}
		got = smt_recv(a, &m) == 0;
	}
	cr_assert(got, "no response within 5 s");
	cr_assert_eq(m.kind, SMT_MSG_RESPONSE);
	cr_assert_eq(m.len, 200000);
	cr_assert_arr_eq(m.data, buf, 200000);
	smt_msg_release(&m);
	cr_assert_eq(smt_stats_get(a, 0, &st), 0);
	cr_assert_eq(st.tx_xsk_packets, 0, "loopback is no XSK route");
	cr_assert_gt(st.tx_xsk_fallback, 100);
	smt_endpoint_close(a);
	smt_endpoint_close(b);
	free(buf);
}
