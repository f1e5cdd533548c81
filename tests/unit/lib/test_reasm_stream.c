// SPDX-License-Identifier: BSD-2-Clause
/*
 * Records opened as their bytes come (docs/engine.md "Copies per
 * message"): a record's reader (smt_rec_rd) takes each packet's payload
 * that continues what it took straight from the packet, into the
 * application's buffer; bytes ahead of a gap wait in the record's buffer.
 * Checked here: the reader gives smt_record_open's bytes for any cut of a
 * record (the tag and the header split too) and wipes its output on a
 * failed tag; reassembly gives the exact message for packets of any size,
 * in order, reversed, shuffled with duplicates, retransmitted with other
 * boundaries, and through one reused buffer as a GRO buffer's segments
 * (nothing is kept pointing into a packet); a byte flipped in any packet
 * delivers nothing, and the genuine packets still complete the message.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "codec.h"
#include "record.h"
#include "smt_test.h"

static const struct smt_limits lim = {48, 1 << 20, 0};

/* ---- the reader alone -------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Feeds rec[5..len) to r in pieces of random sizes (1..max). */
static void feed_cut(struct smt_rec_rd *r, const uint8_t *rec, size_t len,
		     size_t max, uint64_t *s)
{
	size_t pos = SMT_REC_HDR_LEN;

	while (pos < len) {
		size_t n = 1 + th_rand(s) % max;

		if (n > len - pos)
			n = len - pos;
		cr_assert_eq(smt_rec_rd_feed(r, rec + pos, n), 0);
		pos += n;
	}
}

Test(smt_rec_rd, any_cut_gives_the_record_and_a_failed_tag_wipes)
{
	static const enum smt_cipher cs[] = {SMT_CIPHER_AES_128_GCM,
					     SMT_CIPHER_AES_256_GCM,
					     SMT_CIPHER_CHACHA20_POLY1305};
	static const size_t lens[] = {0, 1, 7, 8, 9, 100, 1500, 16384 - 40};
	static uint8_t content[16384], rec[16384 + 64], ref[16384], out[16384];
	uint64_t s = 7;

	th_fill(content, sizeof(content), 3);
	for (size_t c = 0; c < 3; c++) {
		struct smt_aead *a = th_aead(cs[c], 9);

		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			size_t pad = i % 2 ? 40 : 0, rl;
			uint8_t ih[SMT_INNER_HDR_LEN];
			struct smt_rec_rd *r;
			int n, want;

			rl = (size_t)smt_record_seal(a, 5, content, lens[i],
						     pad, rec);
			want = smt_record_open(a, 5, rec, rl, ref);
			cr_assert_eq(want, (int)lens[i]);
			for (size_t max = 1; max < 4000; max = max * 3 + 1) {
				size_t h;

				r = smt_rec_rd_get(a);
				cr_assert_not_null(r);
				memset(out, 0xaa, sizeof(out));
				cr_assert_eq(smt_rec_rd_start(r, a, 5, rec, rl,
							      ih, sizeof(ih),
							      out),
					     0);
				feed_cut(r, rec, rl, max, &s);
				n = smt_rec_rd_end(r);
				cr_assert_eq(n, want, "cipher %zu len %zu", c,
					     lens[i]);
				h = (size_t)n < sizeof(ih) ? (size_t)n
							   : sizeof(ih);
				cr_assert_arr_eq(ih, ref, h);
				if ((size_t)n > h)
					cr_assert_arr_eq(out, ref + h, n - h);
				/* one byte flipped: nothing usable left */
				rec[SMT_REC_HDR_LEN + th_rand(&s) % (rl - 5)] ^=
					0x10;
				cr_assert_eq(smt_rec_rd_start(r, a, 5, rec, rl,
							      ih, sizeof(ih),
							      out),
					     0);
				feed_cut(r, rec, rl, max, &s);
				cr_assert_eq(smt_rec_rd_end(r),
					     -SMT_DROP_RECORD_AUTH);
				/* the split counts content + padding */
				h = rl - 22 < sizeof(ih) ? rl - 22 : sizeof(ih);
				cr_assert(all_zero(ih, h));
				cr_assert(all_zero(out, rl - 22 - h));
				/* same bytes, another seq: no either */
				rl = (size_t)smt_record_seal(a, 5, content,
							     lens[i], pad, rec);
				cr_assert_eq(smt_rec_rd_start(r, a, 6, rec, rl,
							      NULL, 0, out),
					     0);
				feed_cut(r, rec, rl, max, &s);
				cr_assert_eq(smt_rec_rd_end(r),
					     -SMT_DROP_RECORD_AUTH);
				smt_rec_rd_put(a, r);
			}
		}
		/* a reader keyed by another aead is refused */
		{
			struct smt_aead *b = th_aead(cs[c], 10);
			struct smt_rec_rd *r = smt_rec_rd_get(b);

			cr_assert_neq(smt_rec_rd_start(r, a, 5, rec, 100, NULL,
						       0, out),
				      0);
			smt_rec_rd_put(a, r); /* freed, not pooled */
			smt_aead_free(b);
		}
		smt_aead_free(a);
	}
}

/* ---- reassembly from fragments ----------------------------------------- */

struct msg {
	struct smt_wire_msg m;
	uint8_t *app;
	uint32_t len;
};

static struct smt_aead *key;

static void setup(void)
{
	key = th_aead(SMT_CIPHER_AES_128_GCM, 1);
}

static void teardown(void)
{
	smt_aead_free(key);
}

TestSuite(rx_stream, .init = setup, .fini = teardown);

static void msg_make(struct msg *x, uint32_t len, uint32_t rec, uint64_t seed)
{
	x->app = malloc(len ? len : 1);
	cr_assert_not_null(x->app);
	th_fill(x->app, len, seed);
	x->len = len;
	cr_assert_eq(smt_msg_encode(key, lim.B, 2, x->app, len, 0, rec, &x->m),
		     0);
}

static void msg_free(struct msg *x)
{
	smt_wire_msg_free(&x->m);
	free(x->app);
}

/* One packet, through a buffer shared by every packet (as a GRO buffer's
 * segments, or the receive queue's slots): poisoned after the call. */
static int add_via(struct smt_rx_msg *rm, uint8_t *buf, const uint8_t *pkt,
		   uint32_t len)
{
	struct smt_pkt pk;
	bool prog;
	int r;

	memcpy(buf, pkt, len);
	r = smt_pkt_parse(buf, len, &lim, -1, &pk);
	if (!r)
		r = smt_rx_msg_add(rm, &pk, key, &prog);
	memset(buf, 0xee, len);
	return r;
}

/* Every packet of p through add_via; DONE, or the first drop but
 * duplicates, or MORE. */
static int feed_all(struct smt_rx_msg *rm, const struct th_pkts *p)
{
	static uint8_t buf[SMT_HDR_LEN + 20000];
	int res = SMT_RX_MORE;

	for (size_t i = 0; i < p->n; i++) {
		int r = add_via(rm, buf, p->pkt[i], p->len[i]);

		if (r == SMT_RX_DONE)
			return r;
		if (r > 0 && r != SMT_DROP_DUPLICATE && res == SMT_RX_MORE)
			res = r;
	}
	return res;
}

static void expect_msg(struct smt_rx_msg *rm, const struct msg *x)
{
	uint8_t *out;
	uint32_t olen;

	cr_assert_eq(smt_rx_msg_take(rm, &out, &olen, NULL), 0);
	cr_assert_eq(olen, x->len);
	if (olen)
		cr_assert_arr_eq(out, x->app, olen, "len %u", x->len);
	free(out);
}

static void reverse(struct th_pkts *p)
{
	for (size_t i = 0; i < p->n / 2; i++) {
		uint8_t *t = p->pkt[i];
		uint32_t l = p->len[i];

		p->pkt[i] = p->pkt[p->n - 1 - i];
		p->len[i] = p->len[p->n - 1 - i];
		p->pkt[p->n - 1 - i] = t;
		p->len[p->n - 1 - i] = l;
	}
}

static const uint32_t msg_lens[] = {0, 1, 8, 100, 4088, 4089, 9000, 40000};
static const uint32_t pay_sizes[] = {5, 7, 16, 21, 1000, 1432, 9000};

/* In order, reversed, shuffled with duplicates: every packet size, every
 * message, records of 4096 and 16384 bytes. */
Test(rx_stream, exact_across_record_and_packet_splits, .timeout = 60)
{
	for (size_t i = 0; i < sizeof(msg_lens) / sizeof(msg_lens[0]); i++) {
		for (uint32_t rec = 4096; rec <= 16384; rec *= 4) {
			struct msg x;

			msg_make(&x, msg_lens[i], rec, i + rec);
			for (size_t j = 0;
			     j < sizeof(pay_sizes) / sizeof(pay_sizes[0]);
			     j++) {
				struct th_pkts p;

				if (x.m.wire_len / pay_sizes[j] > 3000)
					continue; /* enough at 16 bytes */
				for (int order = 0; order < 3; order++) {
					struct smt_rx_msg *rm;

					th_packetize(&x.m, pay_sizes[j], NULL,
						     &p);
					if (order == 1)
						reverse(&p);
					if (order == 2)
						th_shuffle_dup(&p, p.n / 3 + 1,
							       i * 10 + j);
					rm = smt_rx_msg_new(2, &lim);
					cr_assert_eq(
						feed_all(rm, &p), SMT_RX_DONE,
						"len %u payload %u order "
						"%d",
						x.len, pay_sizes[j], order);
					expect_msg(rm, &x);
					smt_rx_msg_free(rm);
					th_pkts_free(&p);
				}
			}
			msg_free(&x);
		}
	}
}

/* A retransmission may cut the stream elsewhere: some packets of one cut,
 * then all of another, whose packets overlap bytes the reader took and
 * bytes kept ahead of a gap. */
Test(rx_stream, retransmitted_with_other_boundaries)
{
	struct msg x;

	msg_make(&x, 40000, 4096, 5);
	for (size_t a = 0; a < 4; a++) {
		for (size_t b = 0; b < 4; b++) {
			static const uint32_t cut[] = {700, 1000, 1432, 333};
			struct th_pkts p, q;
			struct smt_rx_msg *rm = smt_rx_msg_new(2, &lim);
			static uint8_t buf[SMT_HDR_LEN + 2000];
			int r = SMT_RX_MORE;

			th_packetize(&x.m, cut[a], NULL, &p);
			th_packetize(&x.m, cut[b], NULL, &q);
			/* every third packet of the first cut, then the
			 * second cut shuffled */
			for (size_t i = 0; i < p.n; i += 3)
				cr_assert_eq(add_via(rm, buf, p.pkt[i],
						     p.len[i]) > 0,
					     false);
			th_shuffle_dup(&q, 4, a * 4 + b);
			for (size_t i = 0; i < q.n && r != SMT_RX_DONE; i++) {
				r = add_via(rm, buf, q.pkt[i], q.len[i]);
				cr_assert(r <= 0 || r == SMT_DROP_DUPLICATE,
					  "drop %d", r);
			}
			cr_assert_eq(r, SMT_RX_DONE, "cuts %u %u", cut[a],
				     cut[b]);
			expect_msg(rm, &x);
			smt_rx_msg_free(rm);
			th_pkts_free(&p);
			th_pkts_free(&q);
		}
	}
	msg_free(&x);
}

/* The segments of one coalesced buffer, read into one buffer that the
 * next read overwrites: each is a slice of the same memory, and nothing of
 * a read may be used after it. */
Test(rx_stream, segments_of_a_reused_coalesced_buffer)
{
	static uint8_t gro[64 * (SMT_HDR_LEN + 1432)];
	struct msg x;
	struct th_pkts p;
	struct smt_rx_msg *rm;
	size_t i = 0;
	int r = SMT_RX_MORE;

	msg_make(&x, 70000, 16384, 9);
	th_packetize(&x.m, 1432, NULL, &p);
	rm = smt_rx_msg_new(2, &lim);
	while (i < p.n && r != SMT_RX_DONE) {
		size_t nseg = 0, off = 0;

		/* up to 7 segments a buffer: one read */
		for (; i + nseg < p.n && nseg < 7; nseg++) {
			memcpy(gro + off, p.pkt[i + nseg], p.len[i + nseg]);
			off += p.len[i + nseg];
		}
		off = 0;
		for (size_t k = 0; k < nseg && r != SMT_RX_DONE; k++) {
			struct smt_pkt pk;
			bool prog;

			cr_assert_eq(smt_pkt_parse(gro + off, p.len[i + k],
						   &lim, -1, &pk),
				     0);
			r = smt_rx_msg_add(rm, &pk, key, &prog);
			cr_assert_leq(r, 0);
			off += p.len[i + k];
		}
		memset(gro, 0xee, off);
		i += nseg;
	}
	cr_assert_eq(r, SMT_RX_DONE);
	expect_msg(rm, &x);
	smt_rx_msg_free(rm);
	th_pkts_free(&p);
	msg_free(&x);
}

/*
 * A byte flipped in any packet (the record header, ciphertext, the tag,
 * any packet of any record): the message is not delivered, the record
 * that held it fails, and the genuine packets then complete it with the
 * exact bytes, whether the forged packet came first in order, last, or
 * before its genuine copy.
 */
Test(rx_stream, a_flipped_byte_in_any_packet_delivers_nothing, .timeout = 60)
{
	static const uint32_t lens[] = {100, 3000, 9000};
	static uint8_t bad[SMT_HDR_LEN + 2000], tmp[SMT_HDR_LEN + 2000];
	unsigned int refused_first = 0;

	for (size_t l = 0; l < 3; l++) {
		struct msg x;
		struct th_pkts p;

		msg_make(&x, lens[l], 4096, l + 20);
		th_packetize(&x.m, 1000, NULL, &p);
		for (size_t i = 0; i < p.n; i++) {
			uint32_t pl = p.len[i] - SMT_HDR_LEN;
			const uint32_t at[] = {0,      4,	5,
					       pl / 2, pl - 16, pl - 1};

			for (size_t a = 0; a < 6; a++) {
				for (int order = 0; order < 2; order++) {
					struct smt_rx_msg *rm =
						smt_rx_msg_new(2, &lim);
					uint8_t *out = NULL;
					uint32_t olen = 0;
					int r = SMT_RX_MORE;

					memcpy(bad, p.pkt[i], p.len[i]);
					bad[SMT_HDR_LEN + at[a]] ^= 0x04;
					/* order 0: the forged packet in its
					 * place; 1: it comes first */
					if (order == 1)
						r = add_via(rm, tmp, bad,
							    p.len[i]);
					for (size_t k = 0;
					     k < p.n && r != SMT_RX_DONE; k++)
						r = add_via(rm, tmp,
							    k == i && !order
								    ? bad
								    : p.pkt[k],
							    p.len[k]);
					/* the genuine copy after a forged one
					 * that was dropped unused may
					 * complete it: the exact bytes */
					if (order == 1 && r == SMT_RX_DONE) {
						expect_msg(rm, &x);
						smt_rx_msg_free(rm);
						continue;
					}
					cr_assert_neq(r, SMT_RX_DONE,
						      "len %u pkt %zu byte %u "
						      "delivered",
						      lens[l], i, at[a]);
					refused_first += order;
					cr_assert_eq(smt_rx_msg_take(rm, &out,
								     &olen,
								     NULL),
						     -EINVAL);
					cr_assert_null(out);
					/* the genuine packets after it (a
					 * forged header may have fixed another
					 * length: provisional, as the
					 * engine's timer would find) */
					smt_rx_msg_discard_provisional(rm);
					cr_assert_eq(feed_all(rm, &p),
						     SMT_RX_DONE,
						     "len %u pkt %zu byte %u",
						     lens[l], i, at[a]);
					expect_msg(rm, &x);
					smt_rx_msg_free(rm);
				}
			}
		}
		th_pkts_free(&p);
		msg_free(&x);
	}
	/* forged bytes the reader took kept their genuine copy out */
	cr_assert_gt(refused_first, 0);
}
