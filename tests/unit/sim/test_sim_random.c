// SPDX-License-Identifier: BSD-2-Clause
/*
 * Randomized network simulations of the engine: thousands of seeded
 * scenarios (2 to 4 hosts, every cipher, IPv4 and IPv6, loss, duplication,
 * reordering, jitter, bandwidth and queue limits, engine parameters and
 * workloads drawn from the seed). In every scenario each message is
 * delivered exactly once and byte for byte or its RPC fails with an error,
 * and all engine memory is released at the end.
 *
 * SMT_SIM_SEED=n replays one scenario; SMT_SIM_SCENARIOS=n sets how many
 * run in total (default 2400, 400 under ASan, split over the tests below).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <criterion/criterion.h>

#include "sim.h"

#define SHARDS 4
#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_SCENARIOS 400 /* ASan tier: same code, fewer seeds */
#else
#define DEFAULT_SCENARIOS 2400
#endif

static uint64_t pick(uint64_t *r, uint64_t n)
{
	*r = *r * 6364136223846793005ULL + 1442695040888963407ULL;
	return (*r >> 33) % n;
}

static uint32_t msg_size(uint64_t *r, bool *large_used)
{
	uint64_t c = pick(r, 100);

	if (c < 65)
		return (uint32_t)pick(r, 1500);
	if (c < 88)
		return 1500 + (uint32_t)pick(r, 30000);
	if (c < 99 || *large_used)
		return 30000 + (uint32_t)pick(r, 170000);
	*large_used = true;
	return 200000 + (uint32_t)pick(r, (1u << 20) - 200000);
}

/* Draws one scenario from seed. Returns whether RPCs may fail (they may
 * when the limits are so tight that a host refuses messages for long). */
static bool scenario(uint64_t seed, struct sim_cfg *c, uint64_t *r)
{
	static const double loss[] = {0, 0, 0.01, 0.05, 0.2};
	static const double dup[] = {0, 0, 0.01, 0.05};
	static const double reorder[] = {0, 0.05, 0.3};
	static const double gbps[] = {1, 10, 25, 100};
	static const uint32_t payload[] = {0, 0, 512, 1000, 8960};
	static const uint32_t unsched[] = {0, 0, 3000, 20000};
	uint64_t r2;

	*r = seed * 0x9e3779b97f4a7c15ULL + 1;
	memset(c, 0, sizeof(*c));
	c->seed = seed;
	c->nhosts = 2 + (int)pick(r, 3);
	c->ipv6 = pick(r, 4) == 0;
	c->cipher = (enum smt_cipher)(1 + pick(r, 3));
	c->link.loss = loss[pick(r, 5)];
	c->link.dup = dup[pick(r, 4)];
	c->link.reorder = reorder[pick(r, 3)];
	c->link.reorder_ns = 2000 + pick(r, 50000);
	c->link.delay_ns = 1000 + pick(r, 20000);
	c->link.jitter_ns = pick(r, 5000);
	c->link.gbps = gbps[pick(r, 4)];
	c->link.qlimit = 300000 + pick(r, 2000000);
	c->max_payload = payload[pick(r, 5)];
	c->service_max_ns = pick(r, 2) ? 0 : pick(r, 200000);
	/* a timeout well above the time a full queue takes to drain */
	c->eng.resend_timeout_ns =
		1000000 + pick(r, 2000000) + (c->link.gbps < 10 ? 16000000 : 0);
	c->eng.max_silent_timeouts = 14;
	c->eng.unsched_bytes = unsched[pick(r, 4)];
	c->eng.rec_size = pick(r, 2) ? 0 : 4096 + (uint32_t)pick(r, 12289);
	c->eng.max_granted = pick(r, 2) ? 0 : 20000 + (uint32_t)pick(r, 400000);
	c->limits.B = 40 + (unsigned int)pick(r, 13);
	/* records on packet boundaries, last records padded where P allows
	 * (UDP mode, docs/protocol.md 8.5), from a stream of their own so
	 * the other draws of a seed stay as they were */
	r2 = seed * 0xd1b54a32d192ed03ULL + 7;
	c->eng.rec_align = pick(&r2, 2) == 0;
	c->limits.max_pad = pick(&r2, 2) ? 0 : (uint32_t)pick(&r2, 3000);
	if (pick(r, 8) == 0) { /* tight limits: refusals, BUSY, -EAGAIN */
		c->eng.max_rx_msgs = 2 + (uint32_t)pick(r, 7);
		c->eng.max_tx_msgs = 2 + (uint32_t)pick(r, 7);
		return true;
	}
	return false;
}

/* Totals of one shard, to show that the scenarios did stress the engine. */
static struct {
	uint64_t pkts, lost, dups, retransmits, resends, restarts, delivered;
} tot;

static void add_totals(struct sim *sim, int nhosts)
{
	const struct sim_stats *ss = sim_stats(sim);
	int i;

	tot.pkts += ss->pkts;
	tot.lost += ss->dropped_loss + ss->dropped_queue;
	tot.dups += ss->dups;
	tot.delivered += ss->delivered;
	for (i = 0; i < nhosts; i++) {
		struct smt_engine_stats st;

		smt_engine_get_stats(sim_engine(sim, i), 0, &st);
		tot.retransmits += st.retransmits;
		tot.resends += st.resends_out;
		tot.restarts += st.restarts;
	}
}

static int run_seed(uint64_t seed, int *nmsgs)
{
	struct sim_cfg c;
	struct sim *sim;
	uint64_t r;
	bool large = false;
	int n, i, rc;

	bool tight = scenario(seed, &c, &r);

	sim = sim_new(&c);
	cr_assert_not_null(sim, "seed %" PRIu64 ": sim_new failed", seed);
	n = 1 + (int)pick(&r, 40);
	for (i = 0; i < n; i++) {
		int src = (int)pick(&r, (uint64_t)c.nhosts);
		int dst = (src + 1 + (int)pick(&r, (uint64_t)c.nhosts - 1)) %
			  c.nhosts;
		uint32_t req = msg_size(&r, &large);
		uint32_t resp = msg_size(&r, &large);

		uint64_t start = pick(&r, 2000000);
		int idx = sim_rpc_add(sim, start, src, dst, req, resp,
				      pick(&r, 5) == 0);

		if (pick(&r, 20) == 0) /* the application gives up on some */
			sim_rpc_cancel_at(sim, idx, start + pick(&r, 3000000));
	}
	rc = sim_run(sim);
	if (!rc)
		rc = sim_check(sim, tight);
	if (rc)
		cr_log_error("seed %" PRIu64 " (replay: SMT_SIM_SEED=%" PRIu64
			     "): %s",
			     seed, seed, sim_error(sim));
	*nmsgs += n;
	add_totals(sim, c.nhosts);
	sim_free(sim);
	return rc;
}

static void shard(int k)
{
	const char *one = getenv("SMT_SIM_SEED");
	const char *cnt = getenv("SMT_SIM_SCENARIOS");
	uint64_t total = cnt ? strtoull(cnt, NULL, 0) : DEFAULT_SCENARIOS;
	uint64_t s, failed = 0, first_bad = 0;
	struct timespec a, b;
	int nmsgs = 0;

	if (one) {
		if (k == 0) {
			uint64_t seed = strtoull(one, NULL, 0);

			cr_assert_eq(run_seed(seed, &nmsgs), 0,
				     "seed %" PRIu64 " failed", seed);
		}
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (s = (uint64_t)k; s < total; s += SHARDS) {
		if (run_seed(s + 1, &nmsgs) && !failed++)
			first_bad = s + 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_log_info("shard %d: %" PRIu64 " scenarios, %d RPCs, %.2f s; "
		    "packets %" PRIu64 " lost %" PRIu64 " duplicated %" PRIu64
		    " retransmitted %" PRIu64 " RESENDs %" PRIu64
		    " restarts %" PRIu64 " delivered %" PRIu64,
		    k, (total - (uint64_t)k + SHARDS - 1) / SHARDS, nmsgs,
		    (double)(b.tv_sec - a.tv_sec) +
			    (double)(b.tv_nsec - a.tv_nsec) / 1e9,
		    tot.pkts, tot.lost, tot.dups, tot.retransmits, tot.resends,
		    tot.restarts, tot.delivered);
	cr_assert_eq(failed, 0,
		     "%" PRIu64
		     " scenarios failed; first: SMT_SIM_SEED=%" PRIu64,
		     failed, first_bad);
}

Test(sim_random, scenarios__shard0, .timeout = 300)
{
	shard(0);
}

Test(sim_random, scenarios__shard1, .timeout = 300)
{
	shard(1);
}

Test(sim_random, scenarios__shard2, .timeout = 300)
{
	shard(2);
}

Test(sim_random, scenarios__shard3, .timeout = 300)
{
	shard(3);
}
