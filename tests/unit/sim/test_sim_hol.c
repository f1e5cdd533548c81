// SPDX-License-Identifier: BSD-2-Clause
/*
 * Head-of-line independence in the simulator: 64-byte RPCs run next to a
 * 1 MiB request on the same session whose DATA packets suffer heavy loss.
 * The small RPCs must finish as fast as they do alone (within a few packet
 * times), never waiting for the large message's retransmissions.
 */
#include <inttypes.h>

#include <criterion/criterion.h>

#include "sim.h"

#define NSMALL 300
#define SMALL_EVERY_NS 20000
#define RTO_NS 1000000

struct hol_tap {
	double loss;
	uint64_t dropped;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* Drops a share of the large message's DATA packets, nothing else. */
static bool large_loss(struct sim *sim, void *arg, int src, int dst,
		       const uint8_t *pkt, size_t len)
{
	struct hol_tap *t = arg;

	if (len < 40 || pkt[13] != 0x10 || be32(pkt + 28) < 500000)
		return false;
	if (sim_unit(sim) < t->loss) {
		t->dropped++;
		return true;
	}
	return false;
}

/* Returns the largest small-RPC latency; *large_ns the large one's. */
static uint64_t run(bool with_large, double loss, uint64_t *large_ns,
		    uint64_t *dropped)
{
	struct hol_tap tap = {.loss = loss};
	struct sim_cfg c = {
		.seed = 42,
		.nhosts = 2,
		.link = {.delay_ns = 5000, .jitter_ns = 500, .gbps = 10},
		.eng = {.resend_timeout_ns = RTO_NS, .max_silent_timeouts = 30},
		.tap = large_loss,
		.tap_arg = &tap,
	};
	struct sim *sim = sim_new(&c);
	uint64_t worst = 0;
	int big = -1, i;

	cr_assert_not_null(sim);
	if (with_large)
		big = sim_rpc_add(sim, 0, 0, 1, 1 << 20, 100, false);
	for (i = 0; i < NSMALL; i++)
		sim_rpc_add(sim, 10000 + (uint64_t)i * SMALL_EVERY_NS, 0, 1, 64,
			    64, false);
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	for (i = 0; i < sim_rpc_count(sim); i++) {
		struct sim_rpc *r = sim_rpc(sim, i);
		uint64_t lat = r->done_ns - r->start_ns;

		if (i == big)
			*large_ns = lat;
		else if (lat > worst)
			worst = lat;
	}
	*dropped = tap.dropped;
	sim_free(sim);
	return worst;
}

Test(sim_hol, small_rpcs__not_held_back_by_lossy_large_message)
{
	static const double losses[] = {0.0, 0.01, 0.02, 0.3};
	uint64_t large = 0, dropped = 0;
	uint64_t alone = run(false, 0, &large, &dropped);
	unsigned int i;

	for (i = 0; i < sizeof(losses) / sizeof(losses[0]); i++) {
		uint64_t worst = run(true, losses[i], &large, &dropped);

		cr_log_info("large-message loss %.0f%% (%" PRIu64
			    " packets dropped): small RPC worst %" PRIu64
			    " ns (alone %" PRIu64 " ns), 1 MiB RPC %" PRIu64
			    " ns",
			    losses[i] * 100, dropped, worst, alone, large);
		if (losses[i] >= 0.3)
			cr_assert_gt(large, RTO_NS,
				     "the large message must have waited for "
				     "retransmissions");
		/* A small packet waits behind at most one large packet per
		 * queue (strict priority, no preemption): ~1.2 us each. */
		cr_assert_leq(worst, alone + 5000,
			      "loss %.2f: small RPC took %" PRIu64
			      " ns, alone %" PRIu64 " ns",
			      losses[i], worst, alone);
	}
}
