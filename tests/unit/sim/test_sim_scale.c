// SPDX-License-Identifier: BSD-2-Clause
/*
 * Many RPCs at once: 3000 requests issued within 100 us on one session
 * (both directions), with loss and duplication. Every one must finish
 * byte-exact and the engines must end empty; the wall-clock time printed
 * shows that per-message lookups do not grow with the number in flight.
 */
#include <inttypes.h>
#include <time.h>

#include <criterion/criterion.h>

#include "sim.h"

Test(sim_scale, rpcs__3000_concurrent_with_loss)
{
	struct sim_cfg c = {
		.seed = 3000,
		.nhosts = 2,
		.link = {.loss = 0.05,
			 .dup = 0.01,
			 .delay_ns = 5000,
			 .jitter_ns = 3000,
			 .gbps = 25},
		.eng = {.resend_timeout_ns = 2000000,
			.max_silent_timeouts = 12},
	};
	struct sim *sim = sim_new(&c);
	struct timespec a, b;
	int i;

	cr_assert_not_null(sim);
	for (i = 0; i < 3000; i++)
		sim_rpc_add(sim, (uint64_t)(i % 100) * 1000, i & 1, !(i & 1),
			    (uint32_t)(i * 131) % 4000,
			    (uint32_t)(i * 71) % 4000, i % 10 == 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	cr_log_info("3000 concurrent RPCs, 5%% loss: %" PRIu64
		    " packets, virtual %.1f ms, wall %.2f s",
		    sim_stats(sim)->pkts, (double)sim_now(sim) / 1e6,
		    (double)(b.tv_sec - a.tv_sec) +
			    (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	sim_free(sim);
}
