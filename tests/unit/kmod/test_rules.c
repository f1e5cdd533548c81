// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shared verdict table (tests/unit/common/rule_table.h) through the
 * module's receive check, smt_rx_verdict() (kmod/smt_rx.c): the hook knows
 * no session, so rows that need B or max_wire pass (rt_reason_nob()). The
 * same rows run through libsmt (tests/unit/lib/test_rules.c) and smt_xdp /
 * mtp_inspect (tests/bpf).
 */
#include <criterion/criterion.h>

#include "kmod_test.h"
#include "../common/rule_table.h"

TestSuite(kmod_rules, .fini = kt_leak_check);

Test(kmod_rules, smt_rx_verdict__rule_table)
{
	static u8 buf[2048];
	unsigned int i, bad = 0;

	for (i = 0; i < RULE_ROWS; i++) {
		const struct rule_row *r = &rule_rows[i];
		u32 len = rt_build(r, buf, sizeof(buf));
		int got;

		cr_assert_gt(len, 0, "%s: does not fit", r->name);
		got = smt_rx_verdict(buf, len, len, rt_ipv4_id(r));
		if (got != rt_reason_nob(r)) {
			cr_log_error("%s: %s, want %s", r->name,
				     smt_drop_name(got),
				     smt_drop_name(rt_reason_nob(r)));
			bad++;
		}
	}
	cr_expect_eq(bad, 0, "%u of %zu rows wrong", bad, RULE_ROWS);
}

/* Only the linear part is read: a record header beyond it is not. */
Test(kmod_rules, smt_rx_verdict__short_linear_part)
{
	static u8 buf[2048];
	u32 len = rt_build(&rule_rows[0], buf, sizeof(buf));

	cr_expect_eq(smt_rx_verdict(buf, 39, len, 0), SMT_DROP_SHORT_HEADER);
	cr_expect_eq(smt_rx_verdict(buf, 40, len, 0), SMT_DROP_BAD_RECORD_HDR);
	cr_expect_eq(smt_rx_verdict(buf, 45, len, 0), 0);
}
