// SPDX-License-Identifier: BSD-2-Clause
/*
 * Key epochs under traffic: in the middle of a lossy run every host moves
 * its sessions to new keys (one host a little later than the other, so
 * packets of the new epoch meet a peer that has no keys for it yet). RPCs
 * started in the old epoch finish in it during the drain time, RPCs started
 * after use the new one, nothing is delivered twice and nothing is left.
 */
#include <inttypes.h>

#include <criterion/criterion.h>

#include "sim.h"

static void rekey_host(struct sim *sim, int host, int nhosts, uint8_t epoch)
{
	int peer;

	for (peer = 0; peer < nhosts; peer++) {
		struct smt_keys k;

		if (peer == host)
			continue;
		k = *sim_keys(sim, host, peer, NULL);
		k.c_key[0] ^= epoch; /* both sides derive the same new keys */
		k.s_key[1] ^= epoch;
		cr_assert_eq(
			smt_engine_session_rekey(sim_engine(sim, host),
						 sim_session(sim, host, peer),
						 epoch, &k, sim_now(sim)),
			0);
	}
}

Test(sim_epoch, rekey_under_traffic__old_rpcs_drain_new_use_new_keys)
{
	struct sim_cfg c = {
		.seed = 99,
		.nhosts = 3,
		.link = {.loss = 0.05,
			 .dup = 0.02,
			 .delay_ns = 5000,
			 .jitter_ns = 2000,
			 .gbps = 25},
		.eng = {.resend_timeout_ns = 1000000,
			.max_silent_timeouts = 12},
	};
	struct sim *sim = sim_new(&c);
	struct smt_engine_stats st;
	uint64_t no_keys = 0;
	int i, late_epoch1 = 0;

	cr_assert_not_null(sim);
	for (i = 0; i < 300; i++)
		sim_rpc_add(sim, (uint64_t)i * 60000, i % 3,
			    (i % 3 + 1 + (i / 3) % 2) % 3,
			    (uint32_t)(i * 997) % 70000,
			    (uint32_t)(i * 331) % 5000, i % 7 == 0);
	cr_assert_eq(sim_run_until(sim, 6000000), 0, "%s", sim_error(sim));
	rekey_host(sim, 0, 3, 1);
	rekey_host(sim, 2, 3, 1);
	cr_assert_eq(sim_run_until(sim, 6200000), 0, "%s", sim_error(sim));
	rekey_host(sim, 1, 3, 1);
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	for (i = 0; i < sim_rpc_count(sim); i++) {
		struct sim_rpc *r = sim_rpc(sim, i);

		if (r->start_ns > 6300000) {
			cr_assert_eq(smt_engine_id_epoch(r->id), 1,
				     "rpc %d started after the rekey in epoch "
				     "%u",
				     i, smt_engine_id_epoch(r->id));
			late_epoch1++;
		}
	}
	for (i = 0; i < 3; i++) {
		smt_engine_get_stats(sim_engine(sim, i), 0, &st);
		no_keys += st.drops[SMT_DROP_NO_EPOCH_KEYS];
	}
	cr_log_info("%d RPCs after the rekey in epoch 1; %" PRIu64
		    " packets met a peer without the new keys yet",
		    late_epoch1, no_keys);
	cr_assert_gt(late_epoch1, 100);
	sim_free(sim);
}
