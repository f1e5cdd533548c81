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

/* Drops every every-th DATA packet of a small message, nothing else. */
struct small_tap {
	unsigned int n, every;
	uint64_t dropped;
};

static bool small_loss(struct sim *sim, void *arg, int src, int dst,
		       const uint8_t *pkt, size_t len)
{
	struct small_tap *t = arg;

	if (len < 40 || pkt[13] != 0x10 || be32(pkt + 28) >= 1000)
		return false;
	if (++t->n % t->every)
		return false;
	t->dropped++;
	return true;
}

/* Two 1 MiB echoes from host 0 to host 1 at once, 200 64 B RPCs beside
 * them from 0.5 ms on, run to the end; every RPC must end well. */
static void run_echoes_beside_small_rpcs(struct sim *sim)
{
	int i;

	cr_assert_not_null(sim);
	for (i = 0; i < 2; i++)
		sim_rpc_add(sim, 0, 0, 1, 1 << 20, 1 << 20, false);
	for (i = 0; i < 200; i++)
		sim_rpc_add(sim, 500000 + (uint64_t)i * 20000, 0, 1, 64, 64,
			    false);
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
}

/*
 * Timeouts rule 3 next to a transfer: 1 MiB echoes keep a 1 Gb/s link
 * busy, so every GRANT sample holds the time a grant window of earlier
 * packets takes to leave (about 0.5 ms), while a small RPC's packets pass
 * them in the switch's priority queues (a round trip of about 20 us).
 * A lost small request or response must be recovered by its tail-loss
 * probe within a few of its own round trips (bounded below by rto_min,
 * 100 us), not after two smoothed round trips of the transfer: before
 * the probe followed one-packet requests' own samples (eng_rpc_sample),
 * the worst small RPC here took 1.3 ms.
 */
Test(sim_hol, lost_small_packet__probe_follows_small_rpcs_round_trip)
{
	struct small_tap tap = {.every = 30};
	struct sim_cfg c = {
		.seed = 7,
		.nhosts = 2,
		.link = {.delay_ns = 5000, .jitter_ns = 500, .gbps = 1},
		.cpu_pkt_ns = 5000,
		.eng = {.resend_timeout_ns = 2000000,
			.max_silent_timeouts = 30},
		.tap = small_loss,
		.tap_arg = &tap,
	};
	struct sim *sim = sim_new(&c);
	uint64_t worst = 0;
	int i, n;

	run_echoes_beside_small_rpcs(sim);
	n = sim_rpc_count(sim);
	for (i = 2; i < n; i++) {
		struct sim_rpc *r = sim_rpc(sim, i);

		if (r->done_ns - r->start_ns > worst)
			worst = r->done_ns - r->start_ns;
	}
	cr_log_info("%" PRIu64
		    " small packets dropped: worst small RPC %" PRIu64
		    " ns, 1 MiB echoes %" PRIu64 " and %" PRIu64 " ns",
		    tap.dropped, worst,
		    sim_rpc(sim, 0)->done_ns - sim_rpc(sim, 0)->start_ns,
		    sim_rpc(sim, 1)->done_ns - sim_rpc(sim, 1)->start_ns);
	cr_assert_gt(tap.dropped, 10);
	cr_assert_leq(worst, 500000, "a lost small packet took %" PRIu64 " ns",
		      worst);
	sim_free(sim);
}

/*
 * Preempted, not lost: two 1 MiB requests share a 1 Gb/s link with small
 * RPCs and nothing is dropped. The server grants the shorter request at
 * a higher priority than the other, so the other's granted packets wait
 * behind it in the switch's strict priority queue for milliseconds. Its
 * receiver must not take that silence for loss: a RESEND puts a second
 * copy on the path at the higher priority, ahead of the first, the link
 * carries duplicates, and every copy that arrives late asks again (before
 * eng_rx_overtaken(): 15,000 DATA sent again within 40 ms, the
 * simulator's queue past 1 GiB).
 */
/* Runs the workload above with the engine's grant_window and grant_step
 * (0: its defaults) and asserts nothing is sent again. */
static void preempted_not_asked(uint32_t window, uint32_t step)
{
	struct sim_cfg c = {
		.seed = 11,
		.nhosts = 2,
		.link = {.delay_ns = 5000, .jitter_ns = 500, .gbps = 1},
		.cpu_pkt_ns = 5000,
		.eng = {.resend_timeout_ns = 2000000,
			.max_silent_timeouts = 30,
			.grant_window = window,
			.grant_step = step},
	};
	struct sim *sim = sim_new(&c);
	struct smt_engine_stats cli, srv;

	run_echoes_beside_small_rpcs(sim);
	cr_assert_eq(smt_engine_get_stats(sim_engine(sim, 0), 0, &cli), 0);
	cr_assert_eq(smt_engine_get_stats(sim_engine(sim, 1), 0, &srv), 0);
	cr_log_info("no loss, grants %u/%u: DATA sent again %" PRIu64
		    " / %" PRIu64 " (client / server), RESENDs %" PRIu64
		    " / %" PRIu64 ", %" PRIu64 " packets",
		    window, step, cli.retransmits, srv.retransmits,
		    cli.resends_out, srv.resends_out, sim_stats(sim)->pkts);
	/* a few tail-loss probes of small requests may still go early */
	cr_assert_leq(cli.retransmits + srv.retransmits, 32,
		      "%" PRIu64 " + %" PRIu64 " DATA sent again, nothing lost",
		      cli.retransmits, srv.retransmits);
	sim_free(sim);
}

Test(sim_hol, preempted_message__not_asked_again)
{
	preempted_not_asked(0, 0);
}

/* The same with libsmt's grants over UDP (api.c EP_GRANT_WINDOW_UDP,
 * EP_GRANT_STEP_UDP): a larger GRANT step must not make the overtaken
 * message ask (its threshold stays an eighth of the window). */
Test(sim_hol, preempted_message__not_asked_again__udp_grants)
{
	preempted_not_asked(80000, 40000);
}

/*
 * Several large transfers at once on a slow link, no loss: each host's
 * uplink queue holds milliseconds of granted bytes while timeouts follow
 * the small RPCs' 20 us round trip. Asks that come too early find their
 * answers arriving after the first copies (spurious retransmissions at
 * the receiver), and each such finding doubles the session's RTO
 * (eng_spur_step). Without that, every late copy asked again: 3 hosts at
 * 1 Gb/s sent 367,000 DATA again and hit the packet cap; 1-3 Gb/s all
 * collapsed, 5 Gb/s and more did not.
 */
Test(sim_hol, large_transfers_on_a_slow_link__no_retransmission_collapse)
{
	static const double gbps[] = {1, 2, 3};
	unsigned int k;

	for (k = 0; k < sizeof(gbps) / sizeof(gbps[0]); k++) {
		struct sim_cfg c = {
			.seed = 1 + k,
			.nhosts = 3,
			.link = {.delay_ns = 5000,
				 .jitter_ns = 500,
				 .gbps = gbps[k]},
			.cpu_pkt_ns = 2000,
			.eng = {.resend_timeout_ns = 2000000,
				.max_silent_timeouts = 30},
			.max_pkts = 200000,
		};
		struct sim *sim = sim_new(&c);
		uint64_t rtx = 0, pkts;
		int i;

		cr_assert_not_null(sim);
		for (i = 0; i < 6; i++)
			sim_rpc_add(sim, (uint64_t)i * 100000, 1 + i % 2, 0,
				    (uint32_t)(1 + i % 4) << 18,
				    (uint32_t)(4 - i % 4) << 18, false);
		for (i = 0; i < 300; i++)
			sim_rpc_add(sim, 100000 + (uint64_t)i * 20000, i % 3,
				    (i + 1) % 3, 64 + (uint32_t)(i * 37) % 3000,
				    64, false);
		cr_assert_eq(sim_run(sim), 0, "%.0f Gb/s: %s", gbps[k],
			     sim_error(sim));
		cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
		for (i = 0; i < 3; i++) {
			struct smt_engine_stats st;

			smt_engine_get_stats(sim_engine(sim, i), 0, &st);
			rtx += st.retransmits;
		}
		pkts = sim_stats(sim)->pkts;
		cr_log_info("%.0f Gb/s, no loss: %" PRIu64
			    " DATA sent again of %" PRIu64
			    " packets, done at %.1f ms",
			    gbps[k], rtx, pkts, sim_now(sim) / 1e6);
		cr_assert_leq(rtx * 4, pkts,
			      "%.0f Gb/s: %" PRIu64 " of %" PRIu64
			      " packets sent again",
			      gbps[k], rtx, pkts);
		/* Then a quiet second of small RPCs: the RTOs the early asks
		 * lengthened come back down (eng_spur_step, ENG_SPUR_NEW). */
		for (i = 0; i < 500; i++)
			sim_rpc_add(sim, sim_now(sim) + (uint64_t)i * 2000000,
				    i % 3, (i + 1) % 3, 64, 64, false);
		cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
		for (i = 0; i < 3; i++) {
			struct smt_engine_stats st;
			int peer = (i + 1) % 3;

			cr_assert_eq(smt_engine_get_stats(
					     sim_engine(sim, i),
					     sim_session(sim, i, peer), &st),
				     0);
			cr_log_info(
				"host %d to %d: RTO %.0f us after the quiet "
				"second",
				i, peer, st.rto_ns / 1e3);
			cr_assert_leq(st.rto_ns, 1000000,
				      "host %d: RTO %" PRIu64 " ns", i,
				      st.rto_ns);
		}
		sim_free(sim);
	}
}
