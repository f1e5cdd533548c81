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
