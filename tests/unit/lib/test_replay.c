// SPDX-License-Identifier: BSD-2-Clause
/*
 * Control packets and replay windows (user/lib/codec_ctl.c), docs/protocol.md
 * sections 4 and 5: build/verify of every control type, forged, tampered and
 * replayed control packets, the request-ID window (W = 4096, step 2) and the
 * ctl_seq window (1024).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "codec.h"
#include "smt_test.h"

static const struct smt_limits lim = {48, 1 << 20, 0};

/* ---- request window ---------------------------------------------------- */

Test(smt_req_window, fresh_ids_then_replays)
{
	struct smt_req_window w = {0};

	cr_assert_eq(smt_req_window_check(&w, 2), 0);
	smt_req_window_mark(&w, 2);
	cr_assert_eq(smt_req_window_check(&w, 2), SMT_DROP_REQ_REPLAY);
	cr_assert_eq(smt_req_window_check(&w, 4), 0);
	/* out of order inside the window */
	smt_req_window_mark(&w, 10);
	cr_assert_eq(smt_req_window_check(&w, 6), 0);
	smt_req_window_mark(&w, 6);
	cr_assert_eq(smt_req_window_check(&w, 6), SMT_DROP_REQ_REPLAY);
	cr_assert_eq(smt_req_window_check(&w, 8), 0);
	cr_assert_eq(smt_req_window_check(&w, 10), SMT_DROP_REQ_REPLAY);
	cr_assert_eq(w.highest, 10);
}

Test(smt_req_window, odd_and_small_ids_are_not_requests)
{
	struct smt_req_window w = {0};

	cr_assert_eq(smt_req_window_check(&w, 0), SMT_DROP_REQ_REPLAY);
	cr_assert_eq(smt_req_window_check(&w, 3), SMT_DROP_REQ_REPLAY);
}

Test(smt_req_window, edge_of_window)
{
	struct smt_req_window w = {0};
	const uint64_t top = 2 + 2 * 5000;

	smt_req_window_mark(&w, top);
	/* W = 4096 request IDs: top, top - 2, ..., top - 2 * 4095 */
	cr_assert_eq(smt_req_window_check(&w, top - 2 * 4095), 0);
	cr_assert_eq(smt_req_window_check(&w, top - 2 * 4096),
		     SMT_DROP_REQ_REPLAY);
	smt_req_window_mark(&w, top - 2 * 4095);
	cr_assert_eq(smt_req_window_check(&w, top - 2 * 4095),
		     SMT_DROP_REQ_REPLAY);
	/* sliding forward by one forgets the oldest slot, not the others */
	smt_req_window_mark(&w, top + 2);
	cr_assert_eq(smt_req_window_check(&w, top - 2 * 4095),
		     SMT_DROP_REQ_REPLAY, "now below the window");
	cr_assert_eq(smt_req_window_check(&w, top), SMT_DROP_REQ_REPLAY);
	cr_assert_eq(smt_req_window_check(&w, top - 2), 0);
	/* a jump larger than the window clears everything */
	smt_req_window_mark(&w, top + 2 + 2 * 10000);
	cr_assert_eq(smt_req_window_check(&w, top + 2 + 2 * 9999), 0);
	cr_assert_eq(smt_req_window_check(&w, top + 2), SMT_DROP_REQ_REPLAY);
}

Test(smt_req_window, many_in_random_order)
{
	struct smt_req_window w = {0};
	static uint8_t seen[4096];
	uint64_t s = 7;

	/* ids 2..8190 in random order, each delivered once */
	for (int n = 0; n < 20000; n++) {
		uint64_t i = th_rand(&s) % 4095;
		uint64_t id = 2 + 2 * i;
		int want = seen[i] ? SMT_DROP_REQ_REPLAY : 0;

		cr_assert_eq(smt_req_window_check(&w, id), want, "id %lu",
			     (unsigned long)id);
		if (!want) {
			smt_req_window_mark(&w, id);
			seen[i] = 1;
		}
	}
}

Test(smt_req_window, replayed_request_message)
{
	/* a request delivered once is dropped the second time, before any
	 * decryption, and only full verification marks it */
	static uint8_t app[100];
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 1);
	struct smt_req_window w = {0};
	struct smt_wire_msg m;
	struct th_pkts p;

	cr_assert_eq(smt_msg_encode(a, 48, 8, app, sizeof(app), 0, 16384, &m),
		     0);
	th_packetize(&m, 1440, NULL, &p);
	for (int round = 0; round < 2; round++) {
		struct smt_rx_msg *rm;

		if (round == 1) {
			cr_assert_eq(smt_req_window_check(&w, 8),
				     SMT_DROP_REQ_REPLAY);
			break;
		}
		cr_assert_eq(smt_req_window_check(&w, 8), 0);
		rm = smt_rx_msg_new(8, &lim);
		cr_assert_eq(th_feed(rm, a, &lim, &p, NULL), SMT_RX_DONE);
		smt_req_window_mark(&w, 8);
		smt_rx_msg_free(rm);
	}
	th_pkts_free(&p);
	smt_wire_msg_free(&m);
	smt_aead_free(a);
}

/* ---- ctl_seq window ------------------------------------------------------ */

Test(smt_ctl_window, range_and_replay)
{
	struct smt_ctl_window w = {0};

	cr_assert_eq(smt_ctl_window_check(&w, 0), SMT_DROP_CTL_REPLAY);
	cr_assert_eq(smt_ctl_window_check(&w, SMT_CTL_SEQ_MAX + 1),
		     SMT_DROP_CTL_REPLAY);
	cr_assert_eq(smt_ctl_window_check(&w, SMT_CTL_SEQ_MAX), 0);
	cr_assert_eq(smt_ctl_window_check(&w, 1), 0);
	smt_ctl_window_mark(&w, 1);
	cr_assert_eq(smt_ctl_window_check(&w, 1), SMT_DROP_CTL_REPLAY);
	smt_ctl_window_mark(&w, 2000);
	cr_assert_eq(smt_ctl_window_check(&w, 2000 - 1023), 0);
	cr_assert_eq(smt_ctl_window_check(&w, 2000 - 1024),
		     SMT_DROP_CTL_REPLAY);
	cr_assert_eq(smt_ctl_window_check(&w, 1999), 0);
	smt_ctl_window_mark(&w, 1999);
	cr_assert_eq(smt_ctl_window_check(&w, 1999), SMT_DROP_CTL_REPLAY);
	cr_assert_eq(smt_ctl_window_check(&w, 2001), 0);
}

/* ---- control packets ----------------------------------------------------- */

static struct smt_ctl ctl_of(uint8_t type)
{
	struct smt_ctl c = {.type = type,
			    .sport = 4000,
			    .dport = 5000,
			    .hdr_prio = 7,
			    .epoch = 3,
			    .msg_id = 42,
			    .ctl_seq = 99};

	switch (type) {
	case SMT_TYPE_GRANT:
		c.offset = 123456;
		c.prio = 4;
		break;
	case SMT_TYPE_RESEND:
		c.offset = 1000;
		c.length = 2000;
		c.prio = 2;
		break;
	case SMT_TYPE_ACK:
		c.msg_id = 0;
		c.count = SMT_ACK_MAX;
		for (int i = 0; i < SMT_ACK_MAX; i++)
			c.ids[i] = 3 + 2 * (uint64_t)i;
		break;
	}
	return c;
}

static const uint8_t ctl_types[] = {SMT_TYPE_GRANT,    SMT_TYPE_RESEND,
				    SMT_TYPE_UNKNOWN,  SMT_TYPE_BUSY,
				    SMT_TYPE_NEED_ACK, SMT_TYPE_ACK};

static int parse_verify(struct smt_aead *rx, uint8_t *p, int len,
			struct smt_ctl *out)
{
	struct smt_pkt pk;
	int r = smt_pkt_parse(p, (size_t)len, &lim, -1, &pk);

	return r ? r : smt_ctl_verify(rx, &pk, out);
}

Test(smt_ctl_build, round_trip_every_type)
{
	struct smt_aead *a = th_aead(SMT_CIPHER_CHACHA20_POLY1305, 1);

	for (size_t i = 0; i < sizeof(ctl_types); i++) {
		struct smt_ctl c = ctl_of(ctl_types[i]), d;
		uint8_t p[512];
		const struct smt_hdr *h = (const void *)p;
		int len = smt_ctl_build(a, &c, p, sizeof(p));
		uint64_t seq;

		cr_assert_gt(len, 0);
		cr_assert_eq(h->doff_ver, 0xA1);
		cr_assert_eq(h->type, c.type);
		cr_assert_eq(h->pkt_off | h->seg_off | h->msg_len | h->granted,
			     0);
		cr_assert_eq(h->rec_idx | h->pkt_idx | h->csum | h->flags, 0);
		memcpy(&seq, p + len - 24, 8);
		cr_assert_eq(be64toh(seq), 99);
		cr_assert_eq(parse_verify(a, p, len, &d), 0, "type 0x%x",
			     c.type);
		cr_assert_eq(d.type, c.type);
		cr_assert_eq(d.sport, 4000);
		cr_assert_eq(d.dport, 5000);
		cr_assert_eq(d.hdr_prio, 7);
		cr_assert_eq(d.epoch, 3);
		cr_assert_eq(d.msg_id, c.msg_id);
		cr_assert_eq(d.ctl_seq, 99);
		cr_assert_eq(d.offset, c.offset);
		cr_assert_eq(d.length, c.length);
		cr_assert_eq(d.prio, c.prio);
		cr_assert_eq(d.count, c.count);
		cr_assert_arr_eq(d.ids, c.ids, sizeof(c.ids));
	}
	smt_aead_free(a);
}

Test(smt_ctl_build, exact_lengths_and_errors)
{
	static const struct {
		uint8_t type;
		int len;
	} t[] = {
		{SMT_TYPE_GRANT, 72},	 {SMT_TYPE_RESEND, 76},
		{SMT_TYPE_UNKNOWN, 64},	 {SMT_TYPE_BUSY, 64},
		{SMT_TYPE_NEED_ACK, 64}, {SMT_TYPE_ACK, 66 + 8 * 32},
	};
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 1);
	uint8_t p[512];
	struct smt_ctl c;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		c = ctl_of(t[i].type);
		cr_assert_eq(smt_ctl_build(a, &c, p, sizeof(p)), t[i].len);
		cr_assert_eq(smt_ctl_build(a, &c, p, (size_t)t[i].len - 1),
			     -ENOSPC);
	}
	c = ctl_of(SMT_TYPE_ACK);
	c.count = 0;
	cr_assert_eq(smt_ctl_build(a, &c, p, sizeof(p)), -EINVAL);
	c = ctl_of(SMT_TYPE_GRANT);
	c.ctl_seq = 0;
	cr_assert_eq(smt_ctl_build(a, &c, p, sizeof(p)), -EINVAL);
	c.ctl_seq = SMT_CTL_SEQ_MAX + 1;
	cr_assert_eq(smt_ctl_build(a, &c, p, sizeof(p)), -EINVAL);
	c = ctl_of(SMT_TYPE_DATA);
	cr_assert_eq(smt_ctl_build(a, &c, p, sizeof(p)), -EINVAL);
	smt_aead_free(a);
}

Test(smt_ctl_verify, forged_with_another_key)
{
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 1);
	struct smt_aead *b = th_aead(SMT_CIPHER_AES_128_GCM, 2);

	for (size_t i = 0; i < sizeof(ctl_types); i++) {
		struct smt_ctl c = ctl_of(ctl_types[i]);
		uint8_t p[512];
		int len = smt_ctl_build(b, &c, p, sizeof(p));

		cr_assert_eq(parse_verify(a, p, len, NULL), SMT_DROP_CTL_AUTH);
	}
	smt_aead_free(a);
	smt_aead_free(b);
}

Test(smt_ctl_verify, any_flipped_bit_but_csum_fails)
{
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_256_GCM, 1);
	struct smt_ctl c = ctl_of(SMT_TYPE_RESEND);
	uint8_t p[128], bad[128];
	int len = smt_ctl_build(a, &c, p, sizeof(p));

	for (int pos = 0; pos < len; pos++) {
		int r, want;

		memcpy(bad, p, (size_t)len);
		bad[pos] ^= 0x01;
		r = parse_verify(a, bad, len, NULL);
		switch (pos) {
		case 12: /* doff_ver */
			want = SMT_DROP_BAD_VERSION;
			break;
		case 13: /* type 0x12 -> 0x13 (UNKNOWN): wrong length */
			want = SMT_DROP_BAD_CTL_LEN;
			break;
		case 16: /* csum: taken as 0 */
		case 17:
			want = 0;
			break;
		default: /* header, body, ctl_seq, tag */
			want = SMT_DROP_CTL_AUTH;
		}
		cr_assert_eq(r, want, "byte %d: %s", pos,
			     smt_drop_name((unsigned int)r));
	}
	smt_aead_free(a);
}

Test(smt_ctl_verify, ctl_seq_out_of_range_is_replay)
{
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 1);
	struct smt_ctl c = ctl_of(SMT_TYPE_BUSY);
	uint8_t p[128];
	int len = smt_ctl_build(a, &c, p, sizeof(p));
	uint64_t zero = 0, top = htobe64(SMT_CTL_SEQ_MAX + 1);

	memcpy(p + len - 24, &zero, 8);
	cr_assert_eq(parse_verify(a, p, len, NULL), SMT_DROP_CTL_REPLAY);
	memcpy(p + len - 24, &top, 8);
	cr_assert_eq(parse_verify(a, p, len, NULL), SMT_DROP_CTL_REPLAY);
	smt_aead_free(a);
}

Test(smt_ctl_verify, replayed_packet_is_caught_by_window)
{
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 1);
	struct smt_ctl_window w = {0};
	struct smt_ctl c = ctl_of(SMT_TYPE_GRANT), d;
	uint8_t p[128];
	int len = smt_ctl_build(a, &c, p, sizeof(p));

	for (int round = 0; round < 2; round++) {
		cr_assert_eq(parse_verify(a, p, len, &d), 0);
		if (round == 0) {
			cr_assert_eq(smt_ctl_window_check(&w, d.ctl_seq), 0);
			smt_ctl_window_mark(&w, d.ctl_seq);
		} else {
			cr_assert_eq(smt_ctl_window_check(&w, d.ctl_seq),
				     SMT_DROP_CTL_REPLAY);
		}
	}
	smt_aead_free(a);
}

/* Authentic but with fields the sender must leave 0: re-tag after editing. */
static int retag(struct smt_aead *a, uint8_t *p, int len)
{
	uint64_t seq;

	memcpy(&seq, p + len - 24, 8);
	cr_assert_eq(
		smt_ctl_tag(a, be64toh(seq), p, (size_t)len - 16, p + len - 16),
		0);
	return len;
}

Test(smt_ctl_verify, authentic_bad_fields)
{
	static const struct {
		uint8_t type;
		int off;
		uint8_t val;
	} t[] = {
		{SMT_TYPE_GRANT, 4, 1}, /* pkt_off */
		{SMT_TYPE_GRANT, 8, 1}, /* seg_off */
		{SMT_TYPE_BUSY, 18, 1}, /* rec_idx */
		{SMT_TYPE_BUSY, 28, 1}, /* msg_len */
		{SMT_TYPE_BUSY, 32, 1}, /* granted */
		{SMT_TYPE_BUSY, 36, 8}, /* prio 8 */
		{SMT_TYPE_BUSY, 38, 1}, /* pkt_idx */
		{SMT_TYPE_ACK, 27, 1}, /* msg_id in ACK */
		{SMT_TYPE_GRANT, 44, 8}, /* body prio */
		{SMT_TYPE_GRANT, 45, 1}, /* reserved */
		{SMT_TYPE_RESEND, 48, 9}, /* body prio */
		{SMT_TYPE_RESEND, 51, 1}, /* reserved */
	};
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 1);

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct smt_ctl c = ctl_of(t[i].type);
		uint8_t p[512];
		int len = smt_ctl_build(a, &c, p, sizeof(p));

		p[t[i].off] = t[i].val;
		retag(a, p, len);
		cr_assert_eq(parse_verify(a, p, len, NULL),
			     SMT_DROP_BAD_CTL_FIELDS, "case %zu", i);
	}
	smt_aead_free(a);
}
