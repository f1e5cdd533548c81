// SPDX-License-Identifier: BSD-2-Clause
/*
 * Lossless network, slow hosts: the simulator's CPU model makes each host
 * spend time per packet it reads and per byte it encrypts, so packets wait
 * in the host's queue and its timers run late, as on a real event loop
 * (the veth bench saw most DATA retransmitted at 0 % loss). Nothing is lost
 * here, so every retransmission is spurious: the test bounds them and
 * requires every RPC to finish.
 */
#include <inttypes.h>
#include <stdio.h>

#include <criterion/criterion.h>

#include "sim.h"

struct slow_run {
	struct smt_engine_stats st[2];
	uint64_t worst_ns;
	int failed;
};

/*
 * conc RPCs of req/resp bytes at once from host 0 to host 1, n in all
 * (each starts when an earlier one would be done, roughly), 2 ms RESEND
 * timeout, 1 ns per byte and 2 us per packet of CPU on both hosts.
 */
static void run_on(uint64_t seed, int n, int conc, uint32_t req, uint32_t resp,
		   double gbps, struct slow_run *out)
{
	struct sim_cfg c = {
		.seed = seed,
		.nhosts = 2,
		.link = {.delay_ns = 5000, .jitter_ns = 2000, .gbps = gbps},
		.eng = {.resend_timeout_ns = 2000000,
			.max_silent_timeouts = 10},
		.cpu_pkt_ns = 2000,
		.cpu_byte_ps = 1000,
		/* a collapse shows as the time limit */
		.time_limit_ns = 2000000000,
	};
	struct sim *sim = sim_new(&c);
	int i;

	cr_assert_not_null(sim);
	for (i = 0; i < n; i++)
		sim_rpc_add(sim, (uint64_t)(i / conc) * 1000000, 0, 1, req,
			    resp, false);
	cr_assert_eq(sim_run(sim), 0, "seed %" PRIu64 ": %s", seed,
		     sim_error(sim));
	cr_assert_eq(sim_check(sim, true), 0, "seed %" PRIu64 ": %s", seed,
		     sim_error(sim));
	out->failed = 0;
	out->worst_ns = 0;
	for (i = 0; i < n; i++) {
		struct sim_rpc *r = sim_rpc(sim, i);

		if (r->state != SIM_RPC_DONE)
			out->failed++;
		else if (r->done_ns - r->start_ns > out->worst_ns)
			out->worst_ns = r->done_ns - r->start_ns;
	}
	for (i = 0; i < 2; i++)
		smt_engine_get_stats(sim_engine(sim, i), 0, &out->st[i]);
	sim_free(sim);
}

static void run(uint64_t seed, int n, int conc, uint32_t req, uint32_t resp,
		struct slow_run *out)
{
	run_on(seed, n, conc, req, resp, 10, out);
}

/* Fails on any failed RPC or reassembly timeout, or when more than pct %
 * of the DATA packets were retransmitted. */
static void check(const char *what, const struct slow_run *r, unsigned int pct)
{
	uint64_t data = r->st[0].data_out + r->st[1].data_out;
	uint64_t rtx = r->st[0].retransmits + r->st[1].retransmits;

	fprintf(stderr,
		"sim_slow %s: %" PRIu64 " of %" PRIu64
		" DATA retransmitted, RESENDs %" PRIu64 "+%" PRIu64
		", failed %d, worst %" PRIu64 " us\n",
		what, rtx, data, r->st[0].resends_out, r->st[1].resends_out,
		r->failed, r->worst_ns / 1000);
	for (int i = 0; i < 2; i++) {
		const struct smt_engine_stats *t = &r->st[i];

		fprintf(stderr,
			"  host %d RESEND: timer %" PRIu64 " record %" PRIu64
			" need_ack %" PRIu64 " response %" PRIu64
			"; DATA again: resend %" PRIu64 " restart %" PRIu64
			"; discards %" PRIu64 " busy in %" PRIu64
			" silent timeouts %" PRIu64 "\n",
			i, t->resends_timer, t->resends_record,
			t->resends_need_ack, t->resends_response, t->rtx_resend,
			t->rtx_restart, t->discards, t->busy_in,
			t->rpc_timeouts);
	}
	cr_assert_eq(r->failed, 0, "%s: %d RPCs failed at 0 %% loss", what,
		     r->failed);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(r->st[i].drops[SMT_DROP_REASSEMBLY_TIMEOUT], 0,
			     "%s: host %d freed a message waiting for its "
			     "grants (reassembly timeout)",
			     what, i);
	cr_assert_leq(rtx * 100, data * pct,
		      "%s: %" PRIu64 " of %" PRIu64
		      " DATA packets retransmitted at 0 %% loss",
		      what, rtx, data);
}

Test(sim_slow, large_rpcs__few_retransmissions)
{
	struct slow_run r;

	run(1, 16, 8, 1 << 20, 1 << 20, &r);
	check("1 MiB x8", &r, 3);
}

Test(sim_slow, medium_rpcs__few_retransmissions)
{
	struct slow_run r;

	run(2, 160, 16, 65536, 65536, &r);
	check("64 KiB x16", &r, 3);
}

Test(sim_slow, small_responses__few_retransmissions)
{
	struct slow_run r;

	run(3, 320, 32, 16384, 16384, &r);
	check("16 KiB x32", &r, 3);
}

/* 8 MiB of responses wait for grants on a 1 Gbps link for far longer
 * than the reassembly timeout: waiting for our own grants is not the
 * sender's silence (before: messages freed, 15 RPCs failed, 96 % of the
 * DATA retransmitted). Bytes granted at the lowest priority still wait in
 * the sender's strict-priority queue for longer than the RESEND timeout,
 * so the receiver asks for them again at a higher one: a share of
 * spurious retransmission remains (about 28 %). */
Test(sim_slow, srpt_waiting_messages__not_timed_out)
{
	struct slow_run r;

	run_on(4, 16, 8, 1000, 1 << 20, 1, &r);
	check("1 MiB responses x8, 1 Gbps", &r, 35);
}
