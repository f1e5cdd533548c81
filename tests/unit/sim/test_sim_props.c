// SPDX-License-Identifier: BSD-2-Clause
/*
 * The simulator's own guards (sim_props.c): every scenario fails when it
 * passes its packet or memory cap, and every GRANT on the wire is checked
 * against the grant window of its message (bytes delivered + window).
 */
#include <string.h>

#include <criterion/criterion.h>

#include "sim.h"

static struct sim *busy_sim(uint64_t max_pkts, uint64_t max_rss)
{
	struct sim_cfg c = {
		.seed = 17,
		.nhosts = 2,
		.link = {.delay_ns = 5000, .gbps = 10},
		.max_pkts = max_pkts,
		.max_rss = max_rss,
	};
	struct sim *sim = sim_new(&c);
	int i;

	cr_assert_not_null(sim);
	for (i = 0; i < 200; i++)
		sim_rpc_add(sim, (uint64_t)i * 1000, i & 1, !(i & 1), 20000,
			    3000, false);
	return sim;
}

Test(sim_props, packet_cap_fails_the_scenario)
{
	struct sim *sim = busy_sim(100, 0);

	cr_assert_eq(sim_run(sim), -1);
	cr_expect(strstr(sim_error(sim), "packet cap"), "%s", sim_error(sim));
	sim_free(sim);
}

Test(sim_props, memory_cap_fails_the_scenario)
{
	struct sim *sim = busy_sim(0, 1 << 20);

	cr_assert_eq(sim_run(sim), -1);
	cr_expect(strstr(sim_error(sim), "memory cap"), "%s", sim_error(sim));
	sim_free(sim);
}

Test(sim_props, default_caps_let_a_scenario_finish)
{
	struct sim *sim = busy_sim(0, 0);

	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	sim_free(sim);
}

/*
 * Messages of many grant windows, under loss and reordering: grants are
 * sent all along (so the per-message window check of sim_props.c runs on
 * each of them), and none offers more than the window past what the
 * receiver was handed.
 */
Test(sim_props, grant_window_per_message_under_loss)
{
	struct sim_cfg c = {
		.seed = 5,
		.nhosts = 3,
		.link = {.loss = 0.02,
			 .reorder = 0.05,
			 .reorder_ns = 20000,
			 .delay_ns = 5000,
			 .gbps = 10},
		.eng = {.grant_window = 20000},
	};
	struct sim *sim = sim_new(&c);
	struct smt_engine_stats st;
	uint64_t grants = 0;
	int i;

	cr_assert_not_null(sim);
	for (i = 0; i < 12; i++)
		sim_rpc_add(sim, (uint64_t)i * 20000, i % 3, (i + 1) % 3,
			    300000 + 1000 * i, 200000, false);
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	for (i = 0; i < 3; i++) {
		smt_engine_get_stats(sim_engine(sim, i), 0, &st);
		grants += st.grants_out;
	}
	cr_expect_gt(grants, 12 * 10, "%lu grants", (unsigned long)grants);
	sim_free(sim);
}
