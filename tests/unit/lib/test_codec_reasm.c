// SPDX-License-Identifier: BSD-2-Clause
/*
 * Reassembly (user/lib/reasm.c), docs/protocol.md section 3 "Receiving":
 * tampering fails with the right drop reason and never delivers anything;
 * contradictions are counted; state stays provisional until a record
 * verifies, so forged packets cost a retry, not the message; truncation and
 * inner-header checks; missing ranges; bounded memory.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "codec.h"
#include "smt_test.h"

#define MAXP 1000

static const struct smt_limits lim = {48, 1 << 20, 0};

/* A message of 3 records (R = 4096) under key 1, as packets in order. */
struct msg {
	struct smt_wire_msg m;
	struct th_pkts p;
	uint8_t app[72 * 1024]; /* 18 records of 4096 */
	uint32_t len;
};

static struct smt_aead *key1, *key2;

static void setup(void)
{
	key1 = th_aead(SMT_CIPHER_AES_128_GCM, 1);
	key2 = th_aead(SMT_CIPHER_AES_128_GCM, 2);
}

static void teardown(void)
{
	smt_aead_free(key1);
	smt_aead_free(key2);
}

TestSuite(smt_rx_msg, .init = setup, .fini = teardown);

static void msg_make(struct msg *x, uint64_t id, uint32_t len, uint32_t flags,
		     uint64_t seed)
{
	cr_assert_leq(len, sizeof(x->app));
	th_fill(x->app, len, seed);
	x->len = len;
	cr_assert_eq(smt_msg_encode(key1, lim.B, id, x->app, len, flags, 4096,
				    &x->m),
		     0);
	th_packetize(&x->m, MAXP, NULL, &x->p);
}

static void msg_free(struct msg *x)
{
	th_pkts_free(&x->p);
	smt_wire_msg_free(&x->m);
}

static int add_raw(struct smt_rx_msg *rm, const uint8_t *pkt, uint32_t len,
		   bool *prog)
{
	struct smt_pkt pk;
	int r = smt_pkt_parse(pkt, len, &lim, -1, &pk);

	return r ? r : smt_rx_msg_add(rm, &pk, key1, prog);
}

/* Feed packets [from, to) of x; returns SMT_RX_DONE when the message
 * completed, else the last drop reason, else SMT_RX_MORE. */
static int feed_range(struct smt_rx_msg *rm, const struct msg *x, size_t from,
		      size_t to)
{
	int res = SMT_RX_MORE;

	for (size_t i = from; i < to; i++) {
		bool prog;
		int r = add_raw(rm, x->p.pkt[i], x->p.len[i], &prog);

		if (r == SMT_RX_DONE)
			return SMT_RX_DONE;
		if (r != SMT_RX_MORE)
			res = r;
	}
	return res;
}

static void expect_app(struct smt_rx_msg *rm, const struct msg *x)
{
	uint8_t *out;
	uint32_t olen;

	cr_assert_eq(smt_rx_msg_take(rm, &out, &olen, NULL), 0);
	cr_assert_eq(olen, x->len);
	if (olen)
		cr_assert_arr_eq(out, x->app, olen);
	else
		cr_assert_null(out);
	free(out);
}

/* index of the first packet whose pkt_off >= off */
static size_t pkt_at(const struct msg *x, uint32_t off)
{
	for (size_t i = 0; i < x->p.n; i++)
		if (be32toh(((struct smt_hdr *)x->p.pkt[i])->pkt_off) >= off)
			return i;
	return x->p.n;
}

/*
 * Copies of packets [from, to) of x with their record moved: seg_off and
 * pkt_off shifted by delta, rec_idx set to k (k < 0: kept), msg_len set to
 * msg_len (0: kept). The bytes stay genuine.
 */
static void moved_copy(const struct msg *x, size_t from, size_t to,
		       int64_t delta, int k, uint32_t msg_len,
		       struct th_pkts *out)
{
	out->n = to - from;
	out->pkt = calloc(out->n, sizeof(*out->pkt));
	out->len = calloc(out->n, sizeof(*out->len));
	cr_assert(out->pkt && out->len);
	for (size_t i = 0; i < out->n; i++) {
		struct smt_hdr *h;

		out->len[i] = x->p.len[from + i];
		out->pkt[i] = malloc(out->len[i]);
		cr_assert_not_null(out->pkt[i]);
		memcpy(out->pkt[i], x->p.pkt[from + i], out->len[i]);
		h = (struct smt_hdr *)out->pkt[i];
		h->seg_off = htobe32((uint32_t)(be32toh(h->seg_off) + delta));
		h->pkt_off = htobe32((uint32_t)(be32toh(h->pkt_off) + delta));
		if (k >= 0)
			h->rec_idx = htobe16((uint16_t)k);
		if (msg_len)
			h->msg_len = htobe32(msg_len);
	}
}

Test(smt_rx_msg, in_order_completes_once)
{
	struct msg x;
	struct smt_rx_msg *rm;

	msg_make(&x, 2, 10000, 0, 1);
	rm = smt_rx_msg_new(2, &lim);
	cr_assert_eq(feed_range(rm, &x, 0, x.p.n), SMT_RX_DONE);
	cr_assert(smt_rx_msg_any_verified(rm));
	cr_assert_eq(smt_rx_msg_len(rm), x.m.wire_len);
	cr_assert_eq(smt_rx_msg_received(rm), x.m.wire_len);
	/* late packets after completion */
	cr_assert_eq(feed_range(rm, &x, 0, 1), SMT_DROP_DUPLICATE);
	expect_app(rm, &x);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, exact_duplicate_is_ignored)
{
	struct msg x;
	struct smt_rx_msg *rm;
	bool prog;

	msg_make(&x, 2, 10000, 0, 1);
	rm = smt_rx_msg_new(2, &lim);
	cr_assert_eq(add_raw(rm, x.p.pkt[1], x.p.len[1], &prog), SMT_RX_MORE);
	cr_assert(prog);
	cr_assert_eq(add_raw(rm, x.p.pkt[1], x.p.len[1], &prog), SMT_RX_MORE);
	cr_assert_not(prog);
	cr_assert_eq(smt_rx_msg_received(rm), x.p.len[1] - 40);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, flipped_bit_in_record_fails_with_record_auth)
{
	struct msg x;

	msg_make(&x, 2, 10000, 0, 1);
	/* sample positions across every record: ciphertext and tag bytes
	 * (the header bytes are covered by smt_pkt_parse's rules) */
	for (uint32_t pos = 5; pos < x.m.wire_len; pos += 311) {
		uint32_t k = smt_wire_msg_record_at(&x.m, pos);
		struct smt_rx_msg *rm = smt_rx_msg_new(2, &lim);
		unsigned int drops[SMT_DROP_MAX] = {0};
		size_t i = pkt_at(&x, pos + 1) - 1;
		uint32_t po;
		int r;

		if (pos - x.m.rec_off[k] < 5)
			continue;
		po = be32toh(((struct smt_hdr *)x.p.pkt[i])->pkt_off);
		x.p.pkt[i][40 + pos - po] ^= 0x20;
		r = th_feed(rm, key1, &lim, &x.p, drops);
		cr_assert_eq(r, SMT_DROP_RECORD_AUTH, "pos %u: %s", pos,
			     smt_drop_name((unsigned int)r));
		cr_assert_eq(drops[SMT_DROP_RECORD_AUTH], 1);
		cr_assert_eq(smt_rx_msg_max_record_failures(rm), 1);
		/* the retransmission (original bytes) repairs it */
		x.p.pkt[i][40 + pos - po] ^= 0x20;
		cr_assert_eq(th_feed(rm, key1, &lim, &x.p, NULL), SMT_RX_DONE,
			     "pos %u", pos);
		expect_app(rm, &x);
		smt_rx_msg_free(rm);
	}
	msg_free(&x);
}

Test(smt_rx_msg, record_moved_to_another_message)
{
	struct msg a, b;
	struct smt_rx_msg *rm;
	size_t s, e;

	msg_make(&a, 2, 10000, 0, 1);
	msg_make(&b, 4, 10000, 0, 2); /* same layout, other msg_id */
	s = pkt_at(&a, a.m.rec_off[1]);
	e = pkt_at(&a, a.m.rec_off[2]);
	for (size_t i = s; i < e; i++) {
		memcpy(b.p.pkt[i], a.p.pkt[i], a.p.len[i]);
		((struct smt_hdr *)b.p.pkt[i])->msg_id = htobe64(4);
	}
	rm = smt_rx_msg_new(4, &lim);
	cr_assert_eq(th_feed(rm, key1, &lim, &b.p, NULL), SMT_DROP_RECORD_AUTH);
	cr_assert_not(smt_rx_msg_any_verified(rm) &&
		      smt_rx_msg_received(rm) == b.m.wire_len);
	smt_rx_msg_free(rm);
	msg_free(&a);
	msg_free(&b);
}

Test(smt_rx_msg, record_moved_to_another_index)
{
	struct msg x;
	struct smt_rx_msg *rm;
	size_t s1 = 0, e1;
	unsigned int drops[SMT_DROP_MAX] = {0};
	struct th_pkts p = {0};

	msg_make(&x, 2, 10000, 0, 1);
	/* records 0 and 1 have the same length: put record 1's bytes where
	 * record 0 belongs, as record 0 */
	s1 = pkt_at(&x, x.m.rec_off[1]);
	e1 = pkt_at(&x, x.m.rec_off[2]);
	moved_copy(&x, s1, e1, -(int64_t)x.m.rec_off[1], 0, 0, &p);
	rm = smt_rx_msg_new(2, &lim);
	cr_assert_eq(th_feed(rm, key1, &lim, &p, drops), SMT_DROP_RECORD_AUTH);
	cr_assert_eq(drops[SMT_DROP_RECORD_AUTH], 1);
	cr_assert_not(smt_rx_msg_any_verified(rm));
	th_pkts_free(&p);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, msg_id_changed_fails_every_record)
{
	struct msg x;
	struct smt_rx_msg *rm;
	unsigned int drops[SMT_DROP_MAX] = {0};

	msg_make(&x, 2, 10000, 0, 1);
	for (size_t i = 0; i < x.p.n; i++)
		((struct smt_hdr *)x.p.pkt[i])->msg_id = htobe64(6);
	rm = smt_rx_msg_new(6, &lim);
	cr_assert_eq(th_feed(rm, key1, &lim, &x.p, drops),
		     SMT_DROP_RECORD_AUTH);
	cr_assert_eq(drops[SMT_DROP_RECORD_AUTH], x.m.nrec);
	cr_assert_not(smt_rx_msg_any_verified(rm));
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, wrong_key_fails)
{
	struct msg x;
	struct smt_rx_msg *rm;

	msg_make(&x, 2, 10000, 0, 1);
	rm = smt_rx_msg_new(2, &lim);
	cr_assert_eq(th_feed(rm, key2, &lim, &x.p, NULL), SMT_DROP_RECORD_AUTH);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, truncation_is_detected_by_app_len)
{
	struct msg x;
	struct smt_rx_msg *rm;
	size_t last, n;
	uint8_t *out = (uint8_t *)1;
	uint32_t olen = 7;

	msg_make(&x, 2, 10000, 0, 1);
	/* drop the last record and lower msg_len to the end of record 1 */
	last = pkt_at(&x, x.m.rec_off[x.m.nrec - 1]);
	n = x.p.n;
	x.p.n = last;
	for (size_t i = 0; i < last; i++)
		((struct smt_hdr *)x.p.pkt[i])->msg_len =
			htobe32(x.m.rec_off[x.m.nrec - 1]);
	rm = smt_rx_msg_new(2, &lim);
	cr_assert_eq(th_feed(rm, key1, &lim, &x.p, NULL), SMT_RX_DONE);
	cr_assert_eq(smt_rx_msg_take(rm, &out, &olen, NULL),
		     SMT_DROP_TRUNCATED);
	cr_assert_null(out);
	cr_assert_eq(olen, 0);
	x.p.n = n;
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, unknown_inner_flag_is_bad_inner)
{
	struct msg x;
	struct smt_rx_msg *rm;
	uint8_t *out;
	uint32_t olen;

	msg_make(&x, 2, 100, 0x2, 1);
	rm = smt_rx_msg_new(2, &lim);
	cr_assert_eq(th_feed(rm, key1, &lim, &x.p, NULL), SMT_RX_DONE);
	cr_assert_eq(smt_rx_msg_take(rm, &out, &olen, NULL),
		     SMT_DROP_BAD_INNER);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, oneway_response_is_bad_inner)
{
	struct msg x;
	struct smt_rx_msg *rm;
	uint8_t *out;
	uint32_t olen;

	msg_make(&x, 3, 100, SMT_INNER_ONEWAY, 1);
	rm = smt_rx_msg_new(3, &lim);
	cr_assert_eq(th_feed(rm, key1, &lim, &x.p, NULL), SMT_RX_DONE);
	cr_assert_eq(smt_rx_msg_take(rm, &out, &olen, NULL),
		     SMT_DROP_BAD_INNER);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, contradictions_are_counted)
{
	struct msg x;
	struct smt_rx_msg *rm;
	uint8_t p[2000];
	bool prog;

	msg_make(&x, 2, 10000, 0, 1);
	rm = smt_rx_msg_new(2, &lim);
	cr_assert_eq(add_raw(rm, x.p.pkt[1], x.p.len[1], &prog), SMT_RX_MORE);

	/* another msg_len */
	memcpy(p, x.p.pkt[2], x.p.len[2]);
	((struct smt_hdr *)p)->msg_len = htobe32(x.m.wire_len + 1);
	cr_assert_eq(add_raw(rm, p, x.p.len[2], &prog),
		     SMT_DROP_MSG_LEN_MISMATCH);

	/* different bytes at an offset already held */
	memcpy(p, x.p.pkt[1], x.p.len[1]);
	p[100] ^= 1;
	cr_assert_eq(add_raw(rm, p, x.p.len[1], &prog),
		     SMT_DROP_BYTES_MISMATCH);
	/* an overlapping packet that differs only in the new part is fine */
	memcpy(p, x.p.pkt[1], x.p.len[1]);
	((struct smt_hdr *)p)->pkt_off = htobe32(MAXP + 10);
	memcpy(p + 40, x.m.wire + MAXP + 10, MAXP);
	cr_assert_eq(add_raw(rm, p, 40 + MAXP, &prog), SMT_RX_MORE);
	cr_assert(prog);
	cr_assert_eq(smt_rx_msg_received(rm), MAXP + 10);

	/* another seg_off for rec_idx 2: record 2 first seen at its place */
	{
		size_t i = pkt_at(&x, x.m.rec_off[2] + 1);

		cr_assert_eq(add_raw(rm, x.p.pkt[i], x.p.len[i], &prog),
			     SMT_RX_MORE);
		memcpy(p, x.p.pkt[i], x.p.len[i]);
		((struct smt_hdr *)p)->seg_off = htobe32(x.m.rec_off[2] + 1);
		cr_assert_eq(add_raw(rm, p, x.p.len[i], &prog),
			     SMT_DROP_SEG_OFF_MISMATCH);
	}
	/* the honest rest still completes the message */
	{
		int r = feed_range(rm, &x, 0, x.p.n);

		cr_assert_eq(r, SMT_RX_DONE, "%d %s", r, smt_drop_name(r));
	}
	expect_app(rm, &x);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, forged_msg_len_is_provisional)
{
	struct msg x;
	struct smt_rx_msg *rm;
	uint8_t p[2000];
	struct smt_range r[4];
	bool prog;

	msg_make(&x, 2, 10000, 0, 1);
	rm = smt_rx_msg_new(2, &lim);
	/* a forged packet arrives first and claims a longer message */
	memcpy(p, x.p.pkt[1], x.p.len[1]);
	((struct smt_hdr *)p)->msg_len = htobe32(x.m.wire_len + 5000);
	p[60] ^= 0xff;
	cr_assert_eq(add_raw(rm, p, x.p.len[1], &prog), SMT_RX_MORE);
	cr_assert_eq(smt_rx_msg_len(rm), x.m.wire_len + 5000);
	/* honest packets now contradict it */
	cr_assert_eq(feed_range(rm, &x, 0, x.p.n), SMT_DROP_MSG_LEN_MISMATCH);
	cr_assert_not(smt_rx_msg_any_verified(rm));
	/* two RESEND timeouts later: provisional state goes, msg_len too */
	smt_rx_msg_discard_provisional(rm);
	cr_assert_eq(smt_rx_msg_len(rm), 0);
	cr_assert_eq(smt_rx_msg_received(rm), 0);
	cr_assert_eq(smt_rx_msg_missing(rm, r, 4), 1);
	cr_assert_eq(r[0].off, 0);
	cr_assert_eq(r[0].len, 0);
	cr_assert_eq(feed_range(rm, &x, 0, x.p.n), SMT_RX_DONE);
	expect_app(rm, &x);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, msg_len_kept_once_a_record_verified)
{
	struct msg x;
	struct smt_rx_msg *rm;
	size_t e0;

	msg_make(&x, 2, 10000, 0, 1);
	rm = smt_rx_msg_new(2, &lim);
	e0 = pkt_at(&x, x.m.rec_off[1]);
	cr_assert_eq(feed_range(rm, &x, 0, e0), SMT_RX_MORE);
	cr_assert(smt_rx_msg_any_verified(rm));
	cr_assert_eq(feed_range(rm, &x, e0, e0 + 1), SMT_RX_MORE);
	smt_rx_msg_discard_provisional(rm);
	cr_assert_eq(smt_rx_msg_len(rm), x.m.wire_len);
	/* record 0 stays, record 1's partial bytes are gone */
	cr_assert_eq(smt_rx_msg_received(rm), x.m.rec_off[1]);
	cr_assert_eq(feed_range(rm, &x, e0, x.p.n), SMT_RX_DONE);
	expect_app(rm, &x);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, forged_bytes_cost_a_retry_not_the_message)
{
	struct msg x;
	struct smt_rx_msg *rm;
	uint8_t p[2000];
	bool prog;
	int r;

	msg_make(&x, 2, 10000, 0, 1);
	rm = smt_rx_msg_new(2, &lim);
	for (int round = 1; round <= 3; round++) {
		/* a forged copy of packet 1 wins the race each time */
		memcpy(p, x.p.pkt[1], x.p.len[1]);
		p[200] ^= 0x55;
		cr_assert_eq(add_raw(rm, p, x.p.len[1], &prog), SMT_RX_MORE);
		r = feed_range(rm, &x, 0, x.p.n);
		cr_assert_eq(r, SMT_DROP_RECORD_AUTH, "round %d: %s", round,
			     smt_drop_name((unsigned int)r));
		cr_assert_eq(smt_rx_msg_max_record_failures(rm),
			     (unsigned int)round);
	}
	/* three failures of one record: the caller frees the message; the
	 * sender's retransmission starts a new one that completes */
	smt_rx_msg_free(rm);
	rm = smt_rx_msg_new(2, &lim);
	cr_assert_eq(feed_range(rm, &x, 0, x.p.n), SMT_RX_DONE);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, verified_record_at_wrong_offset_fails)
{
	struct msg x;
	struct smt_rx_msg *rm;
	struct th_pkts moved = {0};
	size_t s2, e2, s1, e1;
	unsigned int drops[SMT_DROP_MAX] = {0};
	const uint32_t shift = 100;

	msg_make(&x, 2, 10000, 0, 1);
	s2 = pkt_at(&x, x.m.rec_off[2]);
	e2 = x.p.n;
	/* record 2's genuine bytes, announced 100 bytes further on */
	moved_copy(&x, s2, e2, shift, -1, x.m.wire_len + shift, &moved);
	/* it verifies (the bytes are authentic) before records 0, 1 */
	rm = smt_rx_msg_new(2, &lim);
	{
		int r = th_feed(rm, key1, &lim, &moved, NULL);

		cr_assert_eq(r, SMT_RX_MORE, "%d %s", r, smt_drop_name(r));
	}
	cr_assert(smt_rx_msg_any_verified(rm));
	/* honest packets disagree on msg_len, which is now confirmed */
	cr_assert_eq(th_feed(rm, key1, &lim, &x.p, drops),
		     SMT_DROP_MSG_LEN_MISMATCH);
	cr_assert_eq(drops[SMT_DROP_MSG_LEN_MISMATCH], x.p.n);
	smt_rx_msg_free(rm);

	th_pkts_free(&moved);

	/* same msg_len: record 1's genuine bytes 100 bytes further on verify
	 * first; once record 0 confirms the layout, record 1 contradicts it
	 * and fails, and the honest record 1 is then accepted */
	s1 = pkt_at(&x, x.m.rec_off[1]);
	e1 = pkt_at(&x, x.m.rec_off[2]);
	moved_copy(&x, s1, e1, shift, -1, 0, &moved);
	rm = smt_rx_msg_new(2, &lim);
	cr_assert_eq(th_feed(rm, key1, &lim, &moved, NULL), SMT_RX_MORE);
	cr_assert(smt_rx_msg_any_verified(rm));
	/* record 0 completes: the moved record 1 fails */
	cr_assert_eq(feed_range(rm, &x, 0, s1), SMT_DROP_SEG_OFF_MISMATCH);
	cr_assert_eq(smt_rx_msg_max_record_failures(rm), 1);
	cr_assert_eq(feed_range(rm, &x, s1, x.p.n), SMT_RX_DONE);
	expect_app(rm, &x);
	th_pkts_free(&moved);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, missing_ranges)
{
	struct msg x;
	struct smt_rx_msg *rm;
	struct smt_range r[8];
	int n;

	msg_make(&x, 2, 10000, 0, 1);
	rm = smt_rx_msg_new(2, &lim);
	cr_assert_eq(smt_rx_msg_missing(rm, r, 8), 1);
	cr_assert_eq(r[0].len, 0, "unknown msg_len: the whole message");
	/* packets 1 and 3 */
	feed_range(rm, &x, 1, 2);
	feed_range(rm, &x, 3, 4);
	n = smt_rx_msg_missing(rm, r, 8);
	cr_assert_eq(n, 3);
	cr_assert_eq(r[0].off, 0);
	cr_assert_eq(r[0].len, MAXP);
	cr_assert_eq(r[1].off, 2 * MAXP);
	cr_assert_eq(r[1].len, MAXP);
	cr_assert_eq(r[2].off, 4 * MAXP);
	cr_assert_eq(r[2].len, x.m.wire_len - 4 * MAXP);
	cr_assert_eq(smt_rx_msg_missing(rm, r, 2), 2);
	feed_range(rm, &x, 0, x.p.n);
	cr_assert_eq(smt_rx_msg_missing(rm, r, 8), 0);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

Test(smt_rx_msg, memory_bounded_by_record_not_msg_len)
{
	/* one forged packet claiming the largest message allocates at most
	 * one record's buffer */
	static const struct smt_limits big = {48, SMT_M_MAX, 0};
	struct smt_rx_msg *rm = smt_rx_msg_new(2, &big);
	uint8_t p[40 + 100] = {0};
	struct smt_hdr *h = (struct smt_hdr *)p;
	uint32_t ml = (uint32_t)smt_max_wire(&big);
	struct smt_pkt pk;
	bool prog;

	h->doff_ver = SMT_DOFF_VER;
	h->type = SMT_TYPE_DATA;
	h->msg_id = htobe64(2);
	h->msg_len = htobe32(ml);
	h->rec_idx = htobe16(10000);
	h->seg_off = htobe32(10000 * 4118 + 50);
	h->pkt_off = htobe32(10000 * 4118 + 60);
	cr_assert_eq(smt_pkt_parse(p, sizeof(p), &big, -1, &pk), 0);
	cr_assert_eq(smt_rx_msg_add(rm, &pk, key1, &prog), SMT_RX_MORE);
	cr_assert_lt(smt_rx_msg_mem(rm), 16406 + 10240 * 40 + 4096, "mem %zu",
		     smt_rx_msg_mem(rm));
	smt_rx_msg_free(rm);
}

Test(smt_rx_msg, take_before_done_is_einval)
{
	struct smt_rx_msg *rm = smt_rx_msg_new(2, &lim);
	uint8_t *out;
	uint32_t olen;

	cr_assert_eq(smt_rx_msg_take(rm, &out, &olen, NULL), -EINVAL);
	smt_rx_msg_free(rm);
	cr_assert_null(smt_rx_msg_new(1, &lim));
	cr_assert_null(smt_rx_msg_new(1ull << 47, &lim));
}

/* A stream of records sealed with padding (the deterministic encoder never
 * pads; other senders may, up to P bytes per record). */
static void padded_msg(struct smt_wire_msg *m, uint64_t id, const uint8_t *app,
		       uint32_t len, uint32_t R, uint32_t pad)
{
	uint8_t *content = malloc(len + 8);
	uint32_t clen = len + 8, nrec = (clen + R - 1) / R, off = 0;

	cr_assert_not_null(content);
	content[0] = (uint8_t)(len >> 24);
	content[1] = (uint8_t)(len >> 16);
	content[2] = (uint8_t)(len >> 8);
	content[3] = (uint8_t)len;
	memset(content + 4, 0, 4);
	memcpy(content + 8, app, len);
	m->msg_id = id;
	m->nrec = nrec;
	m->wire = malloc(clen + nrec * (22 + pad));
	m->rec_off = malloc((nrec + 1) * sizeof(*m->rec_off));
	cr_assert(m->wire && m->rec_off);
	for (uint32_t k = 0; k < nrec; k++) {
		uint32_t c = clen - k * R < R ? clen - k * R : R;
		int n;

		m->rec_off[k] = off;
		n = smt_record_seal(key1, smt_record_seq(id, lim.B, k),
				    content + k * R, c, pad, m->wire + off);
		cr_assert_gt(n, 0);
		off += (uint32_t)n;
	}
	m->rec_off[nrec] = off;
	m->wire_len = off;
	free(content);
}

Test(smt_rx_msg, padded_records)
{
	static const struct smt_limits plim = {48, 1 << 20, 300};
	static uint8_t app[9000];
	struct smt_wire_msg m;
	struct th_pkts p;
	struct smt_rx_msg *rm;
	uint8_t *out;
	uint32_t olen;

	th_fill(app, sizeof(app), 11);
	padded_msg(&m, 2, app, sizeof(app), 4096, 300);
	cr_assert_eq(m.wire_len, 9008 + 3 * (22 + 300));
	cr_assert_eq(smt_wire_msg_record_at(&m, 0), 0);
	cr_assert_eq(smt_wire_msg_record_at(&m, m.rec_off[1] - 1), 0);
	cr_assert_eq(smt_wire_msg_record_at(&m, m.rec_off[1]), 1);
	cr_assert_eq(smt_wire_msg_record_at(&m, m.wire_len - 1), 2);
	th_packetize(&m, 1200, NULL, &p);
	th_shuffle_dup(&p, 5, 3);
	rm = smt_rx_msg_new(2, &plim);
	cr_assert_eq(th_feed(rm, key1, &plim, &p, NULL), SMT_RX_DONE);
	cr_assert_eq(smt_rx_msg_take(rm, &out, &olen, NULL), 0);
	cr_assert_eq(olen, sizeof(app));
	cr_assert_arr_eq(out, app, olen);
	free(out);
	smt_rx_msg_free(rm);
	th_pkts_free(&p);
	smt_wire_msg_free(&m);
}

Test(smt_rx_msg, discard_keeps_verified_records)
{
	struct msg x;
	struct smt_rx_msg *rm;
	struct smt_range r[4];
	size_t s1 = 0, s2;

	msg_make(&x, 2, 10000, 0, 1);
	s1 = pkt_at(&x, x.m.rec_off[1]);
	s2 = pkt_at(&x, x.m.rec_off[2]);
	rm = smt_rx_msg_new(2, &lim);
	/* record 1 complete (verified out of order), record 2 partial */
	cr_assert_eq(feed_range(rm, &x, s1, s2 + 1), SMT_RX_MORE);
	cr_assert(smt_rx_msg_any_verified(rm));
	smt_rx_msg_discard_provisional(rm);
	cr_assert_eq(smt_rx_msg_received(rm), x.m.rec_off[2] - x.m.rec_off[1]);
	cr_assert_eq(smt_rx_msg_missing(rm, r, 4), 2);
	cr_assert_eq(r[0].off, 0);
	cr_assert_eq(r[0].len, x.m.rec_off[1]);
	cr_assert_eq(r[1].off, x.m.rec_off[2]);
	cr_assert_eq(r[1].len, x.m.wire_len - x.m.rec_off[2]);
	cr_assert_eq(feed_range(rm, &x, 0, x.p.n), SMT_RX_DONE);
	expect_app(rm, &x);
	smt_rx_msg_free(rm);
	msg_free(&x);
}

/* Records open into the message's application buffer: straight from the
 * record when it completes in order (one record: a buffer of its size),
 * in place and then copied when it completes ahead of a gap. Every order
 * gives the same bytes, and a failed record leaves the message waiting. */
Test(smt_rx_msg, records_open_into_the_app_buffer_in_any_order)
{
	static const uint32_t lens[] = {0, 1, 100, 4088, 4089, 10000};
	struct msg x;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct smt_rx_msg *rm;
		int r = SMT_RX_MORE;

		msg_make(&x, 2, lens[i], 0, i + 3);
		/* the last record first, the first one last */
		rm = smt_rx_msg_new(2, &lim);
		for (uint32_t k = x.m.nrec; k-- > 0;)
			r = feed_range(rm, &x, pkt_at(&x, x.m.rec_off[k]),
				       pkt_at(&x, x.m.rec_off[k + 1]));
		cr_assert_eq(r, SMT_RX_DONE, "len %u", lens[i]);
		expect_app(rm, &x);
		smt_rx_msg_free(rm);
		/* in order, the last record's tag broken once */
		rm = smt_rx_msg_new(2, &lim);
		x.p.pkt[x.p.n - 1][x.p.len[x.p.n - 1] - 1] ^= 1;
		cr_assert_eq(feed_range(rm, &x, 0, x.p.n),
			     SMT_DROP_RECORD_AUTH);
		cr_assert_eq(smt_rx_msg_max_record_failures(rm), 1);
		x.p.pkt[x.p.n - 1][x.p.len[x.p.n - 1] - 1] ^= 1;
		cr_assert_eq(feed_range(rm, &x, 0, x.p.n), SMT_RX_DONE);
		expect_app(rm, &x);
		smt_rx_msg_free(rm);
		msg_free(&x);
	}
}

/* The last record verified first (engine_tx.c sends it ahead): record 0
 * then opens straight into the message's buffer, allocated at its first
 * packet, not into one of its own (4118 bytes, copied later); also after
 * a forged first try of it, whose failure frees that buffer. */
Test(smt_rx_msg, record_0_after_the_last_opens_into_the_app_buffer)
{
	struct msg x;

	for (int forged = 0; forged < 2; forged++) {
		struct smt_rx_msg *rm = smt_rx_msg_new(2, &lim);
		size_t r0, r1, rl, mem;

		msg_make(&x, 2, 10000, 0, 7);
		cr_assert_eq(x.m.nrec, 3);
		r0 = pkt_at(&x, 0);
		r1 = pkt_at(&x, x.m.rec_off[1]);
		rl = pkt_at(&x, x.m.rec_off[2]);
		cr_assert_eq(feed_range(rm, &x, rl, x.p.n), SMT_RX_MORE);
		mem = smt_rx_msg_mem(rm);
		if (forged) {
			x.p.pkt[r1 - 1][x.p.len[r1 - 1] - 1] ^= 1;
			cr_assert_eq(feed_range(rm, &x, r0, r1),
				     SMT_DROP_RECORD_AUTH);
			x.p.pkt[r1 - 1][x.p.len[r1 - 1] - 1] ^= 1;
			mem = smt_rx_msg_mem(rm);
		}
		cr_assert_eq(feed_range(rm, &x, r0, r0 + 1), SMT_RX_MORE);
		/* the message's buffer now, not one of the record's size */
		cr_assert_geq(smt_rx_msg_mem(rm), mem + x.m.wire_len,
			      "record 0 took a buffer of its own: %zu -> %zu",
			      mem, smt_rx_msg_mem(rm));
		cr_assert_lt(smt_rx_msg_mem(rm),
			     mem + x.m.wire_len + x.m.rec_off[1]);
		cr_assert_eq(feed_range(rm, &x, r0 + 1, rl), SMT_RX_DONE);
		expect_app(rm, &x);
		smt_rx_msg_free(rm);
		msg_free(&x);
	}
}

/*
 * docs/protocol.md 3.4: app_len above the session's M is refused even when
 * msg_len stays within max_wire. With P = 16383 the room for padding lets
 * an unpadded stream carry 17 times M = 1000 here; exactly M is delivered.
 */
Test(smt_rx_msg, app_len_over_m_is_bad_inner)
{
	static const struct smt_limits mlim = {48, 1000, 16383};
	static uint8_t app[17000];
	static const uint32_t lens[] = {17000, 1001, 1000};
	unsigned int i;

	th_fill(app, sizeof(app), 12);
	for (i = 0; i < 3; i++) {
		struct smt_wire_msg m;
		struct th_pkts p;
		struct smt_rx_msg *rm;
		uint8_t *out = NULL;
		uint32_t olen = 0;
		int rc;

		padded_msg(&m, 2, app, lens[i], 16384, 0);
		cr_assert_leq(m.wire_len, SMT_MAX_WIRE(1000, 16383));
		th_packetize(&m, 1200, NULL, &p);
		rm = smt_rx_msg_new(2, &mlim);
		cr_assert_eq(th_feed(rm, key1, &mlim, &p, NULL), SMT_RX_DONE);
		rc = smt_rx_msg_take(rm, &out, &olen, NULL);
		if (lens[i] > mlim.max_msg) {
			cr_assert_eq(rc, SMT_DROP_BAD_INNER,
				     "app_len %u > M delivered", lens[i]);
			cr_assert_null(out);
			cr_assert_eq(olen, 0);
		} else {
			cr_assert_eq(rc, 0);
			cr_assert_eq(olen, lens[i]);
			free(out);
		}
		smt_rx_msg_free(rm);
		th_pkts_free(&p);
		smt_wire_msg_free(&m);
	}
}

/*
 * A message of more records than one chunk holds (REC_CHUNK, 16) fed in
 * order: the chunk table leaves its inline slot for the heap while chunk
 * 0 holds verified records (without the copy in rec_at chunk 0 leaks:
 * test-asan fails), and in reverse order (the table starts on the heap).
 */
Test(smt_rx_msg, records_over_several_chunks)
{
	struct msg x;

	msg_make(&x, 2, sizeof(x.app), 0, 7);
	cr_assert_gt(x.m.nrec, 16);
	for (int rev = 0; rev < 2; rev++) {
		struct smt_rx_msg *rm = smt_rx_msg_new(2, &lim);
		int r = SMT_RX_MORE;

		for (uint32_t i = 0; i < x.m.nrec; i++) {
			uint32_t k = rev ? x.m.nrec - 1 - i : i;

			r = feed_range(rm, &x, pkt_at(&x, x.m.rec_off[k]),
				       pkt_at(&x, x.m.rec_off[k + 1]));
		}
		cr_assert_eq(r, SMT_RX_DONE, "rev %d", rev);
		expect_app(rm, &x);
		smt_rx_msg_free(rm);
	}
	msg_free(&x);
}
