// SPDX-License-Identifier: BSD-2-Clause
/*
 * The shared verdict table (tests/unit/common/rule_table.h) through
 * libsmt's smt_pkt_parse(), with the session's B and max_wire; the same
 * rows run through smt_xdp and mtp_inspect (tests/bpf) and the kernel
 * module (tests/unit/kmod/test_rules.c). Also the rules of
 * include/smt/rules.h against values written out by hand.
 */
#include <criterion/criterion.h>

#include "codec.h"
#include "rule_table.h"
#include "seq_vectors.h"
#include "smt_test.h"

Test(rule_table, smt_pkt_parse)
{
	static uint8_t buf[2048];
	unsigned int i, bad = 0;

	for (i = 0; i < RULE_ROWS; i++) {
		const struct rule_row *r = &rule_rows[i];
		struct smt_limits l = {rt_b(r), RT_MAX_MSG, 0};
		struct smt_pkt p;
		uint32_t len = rt_build(r, buf, sizeof(buf));
		int got;

		cr_assert_gt(len, 0, "%s: does not fit", r->name);
		cr_assert_eq(smt_max_wire(&l), RT_MAX_WIRE);
		got = smt_pkt_parse(buf, len, &l, rt_ipv4_id(r), &p);
		if (got != r->reason) {
			cr_log_error("%s: %s, want %s", r->name,
				     smt_drop_name(got),
				     smt_drop_name(r->reason));
			bad++;
		}
	}
	cr_expect_eq(bad, 0, "%u of %zu rows wrong", bad, RULE_ROWS);
}

/* B unknown (0): the loosest session's bounds, 0 and 1 still reserved. */
Test(rule_table, rules_h_bounds)
{
	cr_expect_eq(smt_msg_id_limit(40), 1ULL << 39);
	cr_expect_eq(smt_msg_id_limit(48), 1ULL << 47);
	cr_expect_eq(smt_msg_id_limit(56), 1ULL << 55);
	cr_expect_eq(smt_msg_id_limit(0), 1ULL << 55);
	cr_expect_eq(smt_msg_id_limit(39), 1ULL << 55);
	cr_expect_not(smt_msg_id_ok(1, 0));
	cr_expect(smt_msg_id_ok(2, 0));
	cr_expect_eq(smt_rec_idx_limit(40), 65536);
	cr_expect_eq(smt_rec_idx_limit(48), 65536);
	cr_expect_eq(smt_rec_idx_limit(49), 32768);
	cr_expect_eq(smt_rec_idx_limit(56), 256);
	cr_expect_eq(smt_rec_idx_limit(0), 65536);
}

/* The epoch bitmap smtd writes and smt_xdp reads, written out by hand:
 * every word, bit 63, the wrap 255 -> 0 (tests/bpf has the XDP side). */
Test(rule_table, rules_h_epoch_bitmap)
{
	__u64 ep[SMT_EPOCH_WORDS] = {0};
	static const unsigned int on[] = {0, 64, 127, 255};
	unsigned int i;

	for (i = 0; i < sizeof(on) / sizeof(on[0]); i++)
		smt_epoch_set(ep, on[i]);
	cr_expect_eq(ep[0], 1);
	cr_expect_eq(ep[1], 1 | 1ULL << 63);
	cr_expect_eq(ep[2], 0);
	cr_expect_eq(ep[3], 1ULL << 63);
	for (i = 0; i < 256; i++)
		cr_expect_eq(smt_epoch_has(ep, i),
			     i == 0 || i == 64 || i == 127 || i == 255,
			     "epoch %u", i);
}

/* seq = msg_id << (64 - B) | k: written out for B 40, 48, 56. */
Test(rule_table, rules_h_record_seq)
{
	cr_expect_eq(smt_record_seq(0x7fffffffffULL, 40, 0xabcd),
		     0x7fffffffff00abcdULL);
	cr_expect_eq(smt_record_seq(0x7fffffffffffULL, 48, 3),
		     0x7fffffffffff0003ULL);
	cr_expect_eq(smt_record_seq(0x7fffffffffffffULL, 56, 0xff),
		     0x7fffffffffffffffULL);
	cr_expect_eq(smt_record_seq(2, 48, 0), 0x20000ULL);
}

Test(rule_table, rules_h_nonce_all_64_bits)
{
	const uint8_t iv[12] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
				0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b};
	const uint8_t want[12] = {0x10,	       0x11,	    0x12,
				  0x13,	       0x14 ^ 0x7f, 0x15 ^ 0xff,
				  0x16 ^ 0xff, 0x17 ^ 0xff, 0x18 ^ 0xfe,
				  0x19,	       0x1a,	    0x1b ^ 0x05};
	uint8_t nonce[12];

	smt_record_nonce(iv, 0x7ffffffffe000005ULL, nonce);
	cr_expect_arr_eq(nonce, want, 12);
}

/*
 * msg_id near 2^(B-1), records k > 0, every cipher, B 40/48/56: libsmt's
 * seq and its sealed records (smt_record_seal and the whole encoder) match
 * the hand-written seq and the independent sealer of seq_vectors.h.
 */
Test(seq_vectors, libsmt_records_at_top_msg_ids)
{
	static const enum smt_cipher ciphers[] = {SMT_CIPHER_AES_128_GCM,
						  SMT_CIPHER_AES_256_GCM,
						  SMT_CIPHER_CHACHA20_POLY1305};
	static uint8_t app[9000], want[4200], key[32], iv[12];
	unsigned int v, c, k;

	for (size_t i = 0; i < sizeof(app); i++)
		app[i] = (uint8_t)(i * 13 + 5);
	for (size_t i = 0; i < sizeof(key); i++) /* th_aead(c, 5)'s key */
		key[i] = (uint8_t)(5 + i);
	for (size_t i = 0; i < sizeof(iv); i++)
		iv[i] = (uint8_t)(5 * 7 + i);
	for (v = 0; v < SEQ_VECTORS; v++) {
		const struct seq_vector *sv = &seq_vectors[v];

		for (k = 0; k < 3; k++)
			cr_expect_eq(smt_record_seq(sv->msg_id, sv->B, k),
				     sv->seq0 | k, "B %u k %u", sv->B, k);
		for (c = 0; c < 3; c++) {
			struct smt_aead *a = th_aead(ciphers[c], 5);
			struct smt_wire_msg m;

			/* 9008 content bytes in records of 4096: k = 0..2 */
			cr_assert_eq(smt_msg_encode(a, sv->B, sv->msg_id, app,
						    sizeof(app), 0, 4096, &m),
				     0);
			cr_assert_eq(m.nrec, 3);
			for (k = 1; k < 3; k++) {
				uint32_t off = m.rec_off[k];
				uint32_t rl = m.rec_off[k + 1] - off;
				/* content of record k: app bytes after the
				 * 8-byte inner header */
				const uint8_t *ct = app + k * 4096 - 8;
				int n = ref_record_seal((int)ciphers[c], key,
							iv, sv->seq0 | k, ct,
							rl - 22, want);

				cr_assert_eq(n, (int)rl);
				cr_expect_arr_eq(m.wire + off, want, rl,
						 "B %u cipher %d record %u",
						 sv->B, ciphers[c], k);
			}
			smt_wire_msg_free(&m);
			smt_aead_free(a);
		}
	}
}
