// SPDX-License-Identifier: BSD-2-Clause
/*
 * The largest message (docs/protocol.md 7: M up to 64 MiB) at the timeouts
 * libsmt endpoints use by default (RESEND timeout 2 ms, 50 silent
 * timeouts, reassembly timeout 50 RESEND timeouts): an RPC's timeout
 * counts silence, not transfer time, so a 64 MiB request and response
 * that take far longer than 50 timeouts to move must succeed.
 */
#include <inttypes.h>

#include <criterion/criterion.h>

#include "sim.h"

Test(sim_big, rpc__64_MiB_each_way_at_default_timeouts)
{
	struct sim_cfg c = {
		.seed = 64,
		.nhosts = 2,
		.link = {.delay_ns = 5000, .gbps = 10},
		.limits = {.max_msg = 64u << 20},
		.eng = {.resend_timeout_ns = 2000000,
			.max_silent_timeouts = 50,
			.reasm_timeouts = 50},
		/* 200 MB/s of crypto and copies per host: 64 MiB cost 0.3 s */
		.cpu_pkt_ns = 300,
		.cpu_byte_ps = 5000,
		.time_limit_ns = 60ULL * 1000000000,
	};
	struct sim *sim = sim_new(&c);
	struct sim_rpc *r;
	int idx;

	cr_assert_not_null(sim);
	idx = sim_rpc_add(sim, 0, 0, 1, 64u << 20, 64u << 20, false);
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	r = sim_rpc(sim, idx);
	cr_log_info("64 MiB each way: state %d error %d, %.1f ms, %" PRIu64
		    " packets",
		    r->state, r->error,
		    (double)(r->done_ns - r->start_ns) / 1e6,
		    sim_stats(sim)->pkts);
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	cr_assert_eq(r->state, SIM_RPC_DONE);
	sim_free(sim);
}
