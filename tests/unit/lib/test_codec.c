// SPDX-License-Identifier: BSD-2-Clause
/*
 * Message codec, sender side and whole round trips (user/lib/codec.c,
 * reasm.c): session limits, the deterministic sender rule with every header
 * field, and encode -> packets (shuffled, duplicated) -> reassembly -> the
 * same bytes, for every cipher and message-ID width.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "codec.h"
#include "smt_test.h"

Test(smt_limits_check, table)
{
	static const struct {
		unsigned int B;
		uint32_t M, P;
		int want;
	} t[] = {
		{48, SMT_M_DEFAULT, 0, 0},
		{40, SMT_M_MAX, SMT_PAD_MAX, 0},
		{39, SMT_M_DEFAULT, 0, -EINVAL},
		{57, 1024, 0, -EINVAL},
		{48, SMT_M_MAX + 1, 0, -EINVAL},
		{48, SMT_M_DEFAULT, SMT_PAD_MAX + 1, -EINVAL},
		/* B = 56: 256 records of 4096 content bytes, inner header
		 * included */
		{56, 1048568, 0, 0},
		{56, 1048569, 0, -EINVAL},
		{56, SMT_M_DEFAULT, 0, -EINVAL},
		{49, SMT_M_MAX, 0, 0}, /* 2^15 records allowed */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct smt_limits l = {t[i].B, t[i].M, t[i].P};

		cr_assert_eq(smt_limits_check(&l), t[i].want, "case %zu", i);
	}
}

Test(smt_max_wire, formula)
{
	struct smt_limits l = {48, 1 << 20, 0};

	/* M + 8 + 22 * ceil((M + 8) / 4096) */
	cr_assert_eq(smt_max_wire(&l), (1u << 20) + 8 + 22 * 257);
	l.max_pad = 100;
	cr_assert_eq(smt_max_wire(&l), (1u << 20) + 8 + 122 * 257);
}

Test(smt_msg_encode, deterministic_layout_and_headers)
{
	static const struct {
		uint32_t len, R, max_payload;
	} t[] = {
		{40000, 16384, 1440}, {40000, 4096, 1420}, {0, 16384, 1440},
		{16376, 16384, 1440}, /* content exactly one record */
		{16377, 16384, 1440},
	};
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 1);

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		static uint8_t app[40000], pkt[2000];
		struct smt_data_tmpl tm = {.sport = 1000,
					   .dport = 2000,
					   .granted = 777,
					   .prio = 5,
					   .epoch = 9,
					   .flags = SMT_F_RETRANSMIT};
		uint64_t content = t[i].len + 8;
		uint32_t nrec = (uint32_t)((content + t[i].R - 1) / t[i].R);
		struct smt_wire_msg m;
		uint32_t off = 0, n;

		th_fill(app, sizeof(app), i);
		cr_assert_eq(
			smt_msg_encode(a, 48, 10, app, t[i].len, 0, t[i].R, &m),
			0);
		cr_assert_eq(m.nrec, nrec, "case %zu", i);
		cr_assert_eq(m.wire_len, content + 22 * nrec);
		for (uint32_t k = 0; k < nrec; k++) {
			uint32_t clen =
				k + 1 < nrec ? t[i].R
					     : (uint32_t)(content -
							  (uint64_t)t[i].R * k);
			uint8_t *r = m.wire + m.rec_off[k];

			cr_assert_eq(m.rec_off[k + 1] - m.rec_off[k],
				     clen + 22);
			cr_assert_eq(r[0], 0x17);
			cr_assert_eq(r[1], 3);
			cr_assert_eq(r[2], 3);
			cr_assert_eq(r[3] << 8 | r[4], (int)clen + 17);
		}
		while ((n = smt_data_build(&m, off, t[i].max_payload, &tm,
					   pkt)) > 0) {
			const struct smt_hdr *h = (const void *)pkt;
			uint32_t k = smt_wire_msg_record_at(&m, off);
			uint32_t left = m.rec_off[k + 1] - off;

			cr_assert_eq(n, left < t[i].max_payload
						? left
						: t[i].max_payload);
			cr_assert_eq(be16toh(h->sport), 1000);
			cr_assert_eq(be16toh(h->dport), 2000);
			cr_assert_eq(be32toh(h->pkt_off), off);
			cr_assert_eq(be32toh(h->seg_off), m.rec_off[k]);
			cr_assert_eq(h->doff_ver, 0xA1);
			cr_assert_eq(h->type, SMT_TYPE_DATA);
			cr_assert_eq(be16toh(h->flags), SMT_F_RETRANSMIT);
			cr_assert_eq(h->csum, 0);
			cr_assert_eq(be16toh(h->rec_idx), k);
			cr_assert_eq(be64toh(h->msg_id), 10);
			cr_assert_eq(be32toh(h->msg_len), m.wire_len);
			cr_assert_eq(be32toh(h->granted), 777);
			cr_assert_eq(h->prio, 5);
			cr_assert_eq(h->epoch, 9);
			cr_assert_eq(be16toh(h->pkt_idx),
				     (off - m.rec_off[k]) / t[i].max_payload);
			cr_assert_arr_eq(pkt + 40, m.wire + off, n);
			off += n;
		}
		cr_assert_eq(off, m.wire_len);
		smt_wire_msg_free(&m);
	}
	smt_aead_free(a);
}

Test(smt_data_build, null_template_grants_msg_len)
{
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 1);
	struct smt_wire_msg m;
	uint8_t pkt[1500];
	const struct smt_hdr *h = (const void *)pkt;

	cr_assert_eq(smt_msg_encode(a, 48, 2, "hi", 2, 0, 16384, &m), 0);
	cr_assert_eq(smt_data_build(&m, 0, 1440, NULL, pkt), 2 + 8 + 22);
	cr_assert_eq(be32toh(h->granted), m.wire_len);
	cr_assert_eq(h->prio, 0);
	cr_assert_eq(h->flags, 0);
	cr_assert_eq(smt_data_build(&m, m.wire_len, 1440, NULL, pkt), 0);
	smt_wire_msg_free(&m);
	smt_aead_free(a);
}

Test(smt_msg_encode, rejects_bad_arguments)
{
	static uint8_t big[2 << 20];
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 1);
	struct smt_wire_msg m;

	cr_assert_eq(smt_msg_encode(a, 48, 1, "x", 1, 0, 16384, &m), -EINVAL);
	cr_assert_eq(smt_msg_encode(a, 48, 1ull << 47, "x", 1, 0, 16384, &m),
		     -EINVAL);
	cr_assert_eq(
		smt_msg_encode(a, 48, (1ull << 47) - 1, "x", 1, 0, 16384, &m),
		0);
	smt_wire_msg_free(&m);
	cr_assert_eq(smt_msg_encode(a, 48, 2, "x", 1, 0, 4095, &m), -EINVAL);
	cr_assert_eq(smt_msg_encode(a, 48, 2, "x", 1, 0, 16385, &m), -EINVAL);
	cr_assert_eq(smt_msg_encode(a, 39, 2, "x", 1, 0, 16384, &m), -EINVAL);
	/* B = 56 allows 256 records: 2 MiB in 4096-byte records is 513 */
	cr_assert_eq(smt_msg_encode(a, 56, 2, big, sizeof(big), 0, 4096, &m),
		     -EINVAL);
	smt_aead_free(a);
}

static void round_trip(enum smt_cipher c, unsigned int B, uint32_t size,
		       uint64_t seed)
{
	static uint8_t app[1048576];
	struct smt_limits l = {B, B == 56 ? 1048568 : SMT_M_DEFAULT, 0};
	struct smt_aead *tx = th_aead(c, (uint8_t)seed);
	struct smt_aead *rx = th_aead(c, (uint8_t)seed);
	/* top of the msg_id range, request or response by seed */
	uint64_t msg_id = (1ull << (B - 1)) - 2 + (seed & 1);
	uint32_t flags = (seed & 1) ? 0 : SMT_INNER_ONEWAY;
	unsigned int drops[SMT_DROP_MAX] = {0};
	struct smt_wire_msg m;
	struct th_pkts p;
	struct smt_rx_msg *rm;
	uint8_t *out;
	uint32_t olen, oflags;
	int r;

	/* at most M: at B = 56 the largest message is 1048568 bytes (and a
	 * receiver refuses app_len > M, protocol.md 3.4) */
	if (size > l.max_msg)
		size = l.max_msg;
	th_fill(app, size, seed);
	cr_assert_eq(smt_msg_encode(tx, B, msg_id, app, size, flags, 16384, &m),
		     0);
	th_packetize(&m, 1440, NULL, &p);
	th_shuffle_dup(&p, p.n / 4 + 1, seed);
	rm = smt_rx_msg_new(msg_id, &l);
	cr_assert_not_null(rm);
	r = th_feed(rm, rx, &l, &p, drops);
	cr_assert_eq(r, SMT_RX_DONE, "cipher %d B %u size %u: %s", c, B, size,
		     r > 0 ? smt_drop_name((unsigned int)r) : "incomplete");
	for (int i = 1; i < SMT_DROP_MAX; i++)
		if (i != SMT_DROP_DUPLICATE)
			cr_assert_eq(drops[i], 0, "drop %s",
				     smt_drop_name((unsigned int)i));
	cr_assert_eq(smt_rx_msg_take(rm, &out, &olen, &oflags), 0);
	cr_assert_eq(olen, size);
	cr_assert_eq(oflags, flags);
	if (size)
		cr_assert_arr_eq(out, app, size);
	free(out);
	smt_rx_msg_free(rm);
	th_pkts_free(&p);
	smt_wire_msg_free(&m);
	smt_aead_free(tx);
	smt_aead_free(rx);
}

Test(smt_msg_encode, round_trip_sizes_ciphers_widths)
{
	static const uint32_t sizes[] = {0,	1,     1391,   1392,   16383,
					 16384, 16385, 100000, 1048576};
	static const enum smt_cipher cs[] = {SMT_CIPHER_AES_128_GCM,
					     SMT_CIPHER_AES_256_GCM,
					     SMT_CIPHER_CHACHA20_POLY1305};
	static const unsigned int Bs[] = {40, 48, 56};
	uint64_t seed = 1;

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (size_t c = 0; c < 3; c++)
			for (size_t b = 0; b < 3; b++)
				round_trip(cs[c], Bs[b], sizes[s], seed++);
}

Test(smt_rx_msg_take, oneway_request_flag_is_delivered)
{
	round_trip(SMT_CIPHER_AES_128_GCM, 48, 10, 2); /* even seed: ONEWAY */
}

/* Largest k with rec_off[k] <= off, by a linear scan. */
static uint32_t record_at_ref(const struct smt_wire_msg *m, uint32_t off)
{
	uint32_t k = 0;

	while (k + 1 < m->nrec && m->rec_off[k + 1] <= off)
		k++;
	return k;
}

/*
 * smt_wire_msg_record_at() guesses the record from record 0's length (a
 * sender's records are equal but the last) and checks the guess: every
 * offset of layouts that are equal, have a shorter or a padded longer
 * last record, or are irregular (a short first record, a long first
 * record, one record) gets the scan's answer.
 */
Test(smt_wire_msg_record_at, every_offset_of_regular_and_irregular_layouts)
{
	static const uint32_t lens[][6] = {
		{5, 100, 100, 100, 100, 100}, /* equal */
		{5, 100, 100, 100, 100, 37}, /* a shorter last one */
		{4, 100, 100, 100, 290, 0}, /* a padded, longer last one */
		{5, 30, 100, 100, 100, 100}, /* a short first one */
		{5, 250, 100, 40, 100, 7}, /* a long first one */
		{1, 77, 0, 0, 0, 0}, /* one record */
	};
	uint32_t rec_off[8];

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct smt_wire_msg m = {.nrec = lens[i][0],
					 .rec_off = rec_off};

		rec_off[0] = 0;
		for (uint32_t k = 0; k < m.nrec; k++)
			rec_off[k + 1] = rec_off[k] + lens[i][k + 1];
		m.wire_len = rec_off[m.nrec];
		for (uint32_t off = 0; off < m.wire_len; off++)
			cr_assert_eq(smt_wire_msg_record_at(&m, off),
				     record_at_ref(&m, off),
				     "layout %zu, offset %u", i, off);
	}
}
