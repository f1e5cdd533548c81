// SPDX-License-Identifier: BSD-2-Clause
/*
 * Adversarial simulations: forged DATA (wrong key, altered bytes), replayed
 * requests, responses and control packets, forged control packets,
 * truncated messages and garbage headers are injected between two hosts.
 * They must be rejected and counted by reason, never delivered, and never
 * cost an honest RPC more than two RESEND timeouts (forged data) or its
 * success.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "engine_int.h"
#include "sim.h"

#define RTO_NS 1000000

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static struct sim *two_hosts(sim_tap_fn tap, void *arg, uint32_t rec_size)
{
	struct sim_cfg c = {
		.seed = 7,
		.nhosts = 2,
		.link = {.delay_ns = 5000, .gbps = 10},
		.eng = {.resend_timeout_ns = RTO_NS,
			.max_silent_timeouts = 10,
			.rec_size = rec_size},
		.tap = tap,
		.tap_arg = arg,
	};
	struct sim *sim = sim_new(&c);

	cr_assert_not_null(sim);
	return sim;
}

static uint64_t drops(struct sim *sim, int host, int reason)
{
	struct smt_engine_stats st;

	smt_engine_get_stats(sim_engine(sim, host), 0, &st);
	return st.drops[reason];
}

static struct smt_aead *wrong_key(void)
{
	uint8_t key[16], iv[12];

	memset(key, 0xa5, sizeof(key));
	memset(iv, 0x5a, sizeof(iv));
	return smt_aead_new(SMT_CIPHER_AES_128_GCM, key, sizeof(key), iv);
}

/* Latency of one 40 KB request (3 records) from 0 to 1, with a tap. */
static uint64_t one_rpc(sim_tap_fn tap, void *arg, struct sim **out)
{
	struct sim *sim = two_hosts(tap, arg, 0);
	struct sim_rpc *r;
	int idx = sim_rpc_add(sim, 1000, 0, 1, 40000, 2000, false);

	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	r = sim_rpc(sim, idx);
	*out = sim;
	return r->done_ns - r->start_ns;
}

/* ---- forged DATA ------------------------------------------------------------ */

struct forge {
	bool done;
	int count;
};

/*
 * Before the request's first packet of each record reaches host 1, a
 * forged copy with altered bytes gets there first: the honest packet then
 * contradicts what is held, the record fails, and a RESEND fetches it.
 */
static bool forge_first(struct sim *sim, void *arg, int src, int dst,
			const uint8_t *pkt, size_t len)
{
	struct forge *f = arg;
	uint8_t bad[2048];

	if (src != 0 || len < 60 || len > sizeof(bad) || pkt[13] != 0x10 ||
	    (be64(pkt + 20) & 1) || be32(pkt + 4) != be32(pkt + 8) ||
	    (pkt[15] & 1) || f->count >= 3)
		return false;
	memcpy(bad, pkt, len);
	bad[len - 1] ^= 0xff;
	bad[50] ^= 0x01;
	sim_inject(sim, 0, 1, bad, len, 0);
	f->count++;
	return false;
}

Test(sim_adversary, forged_data__counted_and_costs_at_most_two_timeouts)
{
	struct forge f = {0};
	struct sim *sim;
	uint64_t base = one_rpc(NULL, NULL, &sim);
	uint64_t lat;

	sim_free(sim);
	lat = one_rpc(forge_first, &f, &sim);
	cr_log_info("40 KB RPC: %" PRIu64 " ns clean, %" PRIu64
		    " ns with %d forged record starts",
		    base, lat, f.count);
	cr_assert_eq(f.count, 3);
	cr_assert_gt(drops(sim, 1, SMT_DROP_RECORD_AUTH) +
			     drops(sim, 1, SMT_DROP_BYTES_MISMATCH),
		     0);
	cr_assert_leq(lat, base + 2 * RTO_NS + 200000,
		      "forgery cost more than two RESEND timeouts");
	sim_free(sim);
}

/* A whole message under a wrong key, on the ID the client uses next. */
static void inject_wrong_key_msg(struct sim *sim, uint64_t msg_id, uint32_t len)
{
	struct smt_aead *k = wrong_key();
	struct smt_wire_msg w;
	struct smt_data_tmpl t = {.sport = sim_port(sim, 0),
				  .dport = sim_port(sim, 1)};
	uint8_t *app = calloc(1, len), pkt[1500];
	uint32_t off = 0, n;

	cr_assert_not_null(k);
	cr_assert_eq(smt_msg_encode(k, 48, msg_id, app, len, 0, 16384, &w), 0);
	t.granted = w.wire_len;
	while ((n = smt_data_build(&w, off, 1440, &t, pkt)) > 0) {
		sim_inject(sim, 0, 1, pkt, 40 + n, 0);
		off += n;
	}
	smt_wire_msg_free(&w);
	smt_aead_free(k);
	free(app);
}

Test(sim_adversary, wrong_key_message__never_delivered_rpc_survives)
{
	struct sim *sim = two_hosts(NULL, NULL, 0);
	int i;

	/* IDs 2 and 4 are forged before the client uses them. */
	inject_wrong_key_msg(sim, 2, 3000);
	inject_wrong_key_msg(sim, 4, 30000);
	for (i = 0; i < 3; i++)
		sim_rpc_add(sim, 100000 + (uint64_t)i * 1000, 0, 1, 3000 * i,
			    500, false);
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	cr_assert_gt(drops(sim, 1, SMT_DROP_RECORD_AUTH), 0);
	for (i = 0; i < 3; i++) {
		struct sim_rpc *r = sim_rpc(sim, i);

		cr_assert_leq(r->done_ns - r->start_ns, 2 * RTO_NS + 200000,
			      "rpc %d took %" PRIu64 " ns", i,
			      r->done_ns - r->start_ns);
	}
	sim_free(sim);
}

/* ---- replays ---------------------------------------------------------------- */

struct capture {
	int n;
	int src[4096];
	uint32_t len[4096];
	uint8_t *pkt[4096];
};

static bool record(struct sim *sim, void *arg, int src, int dst,
		   const uint8_t *pkt, size_t len)
{
	struct capture *c = arg;

	if (c->n < 4096) {
		c->src[c->n] = src;
		c->len[c->n] = (uint32_t)len;
		c->pkt[c->n] = malloc(len);
		memcpy(c->pkt[c->n], pkt, len);
		c->n++;
	}
	return false;
}

Test(sim_adversary, replayed_packets__rejected_and_counted)
{
	static struct capture cap;
	struct sim *sim = two_hosts(record, &cap, 0);
	uint64_t delivered;
	int i;

	for (i = 0; i < 10; i++)
		sim_rpc_add(sim, (uint64_t)i * 3000, i & 1, !(i & 1),
			    (uint32_t)i * 2500, 700, i == 9);
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	delivered = sim_stats(sim)->delivered;
	/* Replay everything, twice, in order and backwards. */
	for (i = 0; i < cap.n; i++)
		sim_inject(sim, cap.src[i], !cap.src[i], cap.pkt[i], cap.len[i],
			   1000);
	for (i = cap.n - 1; i >= 0; i--)
		sim_inject(sim, cap.src[i], !cap.src[i], cap.pkt[i], cap.len[i],
			   2000);
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_stats(sim)->delivered, delivered,
		     "a replayed message was delivered");
	for (i = 0; i < 2; i++) {
		cr_assert_gt(drops(sim, i, SMT_DROP_CTL_REPLAY), 0);
		cr_assert_gt(drops(sim, i, SMT_DROP_REQ_REPLAY) +
				     drops(sim, i, SMT_DROP_DUPLICATE),
			     0);
	}
	cr_log_info("replayed %d packets twice: req_replay %" PRIu64 "+%" PRIu64
		    " duplicate %" PRIu64 "+%" PRIu64 " ctl_replay %" PRIu64
		    "+%" PRIu64,
		    cap.n, drops(sim, 0, SMT_DROP_REQ_REPLAY),
		    drops(sim, 1, SMT_DROP_REQ_REPLAY),
		    drops(sim, 0, SMT_DROP_DUPLICATE),
		    drops(sim, 1, SMT_DROP_DUPLICATE),
		    drops(sim, 0, SMT_DROP_CTL_REPLAY),
		    drops(sim, 1, SMT_DROP_CTL_REPLAY));
	for (i = 0; i < cap.n; i++)
		free(cap.pkt[i]);
	sim_free(sim);
}

/* ---- forged control packets ------------------------------------------------- */

struct ctl_forge {
	struct smt_aead *k;
	uint64_t seq;
	int count;
};

/* Every honest packet 1 -> 0 is preceded by forged control packets of
 * every type about the same msg_id; accepted, they would stall, restart or
 * complete messages wrongly. */
static bool forge_ctl(struct sim *sim, void *arg, int src, int dst,
		      const uint8_t *pkt, size_t len)
{
	static const uint8_t types[] = {SMT_TYPE_GRANT,	   SMT_TYPE_RESEND,
					SMT_TYPE_UNKNOWN,  SMT_TYPE_BUSY,
					SMT_TYPE_NEED_ACK, SMT_TYPE_ACK};
	struct ctl_forge *f = arg;
	uint64_t id = be64(pkt + 20);
	unsigned int i;

	for (i = 0; i < sizeof(types); i++) {
		struct smt_ctl c = {
			.type = types[i],
			.sport = sim_port(sim, src),
			.dport = sim_port(sim, dst),
			.msg_id = types[i] == SMT_TYPE_ACK ? 0 : id,
			.ctl_seq = ++f->seq,
			.offset = 0,
			.count = 1,
			.ids = {id | 1},
		};
		uint8_t buf[128];
		int n = smt_ctl_build(f->k, &c, buf, sizeof(buf));

		cr_assert_gt(n, 0);
		sim_inject(sim, src, dst, buf, (size_t)n, 0);
		f->count++;
	}
	(void)len;
	return false;
}

Test(sim_adversary, forged_control__rejected_rpcs_unharmed)
{
	struct ctl_forge f = {.k = wrong_key()};
	struct sim *sim = two_hosts(forge_ctl, &f, 0);
	int i;

	for (i = 0; i < 6; i++)
		sim_rpc_add(sim, (uint64_t)i * 2000, i & 1, !(i & 1),
			    (uint32_t)i * 20000, 3000, i == 5);
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	cr_assert_eq(drops(sim, 0, SMT_DROP_CTL_AUTH) +
			     drops(sim, 1, SMT_DROP_CTL_AUTH),
		     (uint64_t)f.count, "every forged control packet counted");
	for (i = 0; i < 6; i++) {
		struct sim_rpc *r = sim_rpc(sim, i);

		cr_assert_lt(r->done_ns - r->start_ns, RTO_NS,
			     "rpc %d slowed down by forged control", i);
	}
	smt_aead_free(f.k);
	sim_free(sim);
}

/* ---- truncation ------------------------------------------------------------- */

struct trunc {
	uint64_t victim;
	int injected;
};

/*
 * The first transmission of request 2 is swallowed; its record-0 packets
 * arrive instead with msg_len cut to the end of record 0, so the stream
 * verifies record by record but is shorter than its app_len says.
 */
static bool truncate_first(struct sim *sim, void *arg, int src, int dst,
			   const uint8_t *pkt, size_t len)
{
	struct trunc *t = arg;
	uint8_t cut[2048];

	if (src != 0 || len < 40 || pkt[13] != SMT_TYPE_DATA ||
	    be64(pkt + 20) != t->victim || (pkt[15] & SMT_F_RETRANSMIT))
		return false;
	if (be32(pkt + 8) == 0 && len <= sizeof(cut)) {
		memcpy(cut, pkt, len);
		put32(cut + 28, 4096 + 22); /* end of record 0 */
		put32(cut + 32, 4096 + 22);
		sim_inject(sim, 0, 1, cut, len, 0);
		t->injected++;
	}
	return true;
}

Test(sim_adversary, truncated_message__rejected_then_recovered)
{
	struct trunc t = {.victim = 2};
	/* records of 4096 content bytes: the message has 10 of them */
	struct sim *sim = two_hosts(truncate_first, &t, 4096);
	int idx = sim_rpc_add(sim, 1000, 0, 1, 40000, 100, false);

	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	cr_assert_gt(t.injected, 0);
	cr_assert_eq(drops(sim, 1, SMT_DROP_TRUNCATED), 1);
	cr_assert_eq(sim_rpc(sim, idx)->req_delivered, 1);
	sim_free(sim);
}

/* ---- garbage ------------------------------------------------------------------ */

Test(sim_adversary, garbage_headers__dropped_by_reason)
{
	struct sim *sim = two_hosts(NULL, NULL, 0);
	uint8_t buf[300];
	uint64_t total = 0;
	int i, r;

	for (i = 0; i < 20; i++)
		sim_rpc_add(sim, (uint64_t)i * 5000, i & 1, !(i & 1),
			    (uint32_t)i * 700, 100, false);
	for (i = 0; i < 5000; i++) {
		size_t len = sim_rand(sim) % sizeof(buf), k;

		for (k = 0; k < len; k++)
			buf[k] = (uint8_t)sim_rand(sim);
		if (len >= 4 && i % 4) { /* right ports: reach the session */
			buf[0] = 0;
			buf[1] = (uint8_t)sim_port(sim, 0);
			buf[2] = (uint8_t)(sim_port(sim, 1) >> 8);
			buf[3] = (uint8_t)sim_port(sim, 1);
			buf[0] = (uint8_t)(sim_port(sim, 0) >> 8);
		}
		if (len >= 40 && i % 4 >= 2) { /* right version and type */
			buf[12] = SMT_DOFF_VER;
			buf[13] = (uint8_t)(0x10 + sim_rand(sim) % 9);
			buf[37] = 0;
		}
		sim_inject(sim, 0, 1, buf, len, sim_rand(sim) % 100000);
	}
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	cr_assert_eq(sim_stats(sim)->delivered, 40); /* 20 RPCs */
	for (r = 1; r < SMT_DROP_MAX; r++)
		total += drops(sim, 1, r);
	cr_assert_geq(total, 5000 - 50, "garbage must be counted (%" PRIu64 ")",
		      total);
	cr_assert_gt(drops(sim, 1, SMT_DROP_SHORT_HEADER), 0);
	cr_assert_gt(drops(sim, 1, SMT_DROP_BAD_VERSION), 0);
	cr_assert_gt(drops(sim, 1, SMT_DROP_UNKNOWN_SESSION), 0);
	sim_free(sim);
}

/* ---- amplification ------------------------------------------------------------ */

/*
 * docs/protocol.md 3.4, "Amplification": a forged DATA packet (anyone can
 * send one with the session's addresses and ports) may cost its victim at
 * most AMP_MAX packets (one GRANT and two RESENDs), and the genuine peer
 * at most one answer per RESEND. When the peer's answers arrive, its
 * first UNKNOWN frees the provisional state: at most AMP_MAX_ANSWERED
 * (with UNKNOWN ignored, 3 here).
 */
#define AMP_FORGED 300
#define AMP_FLOOD 3000 /* the flood case: 3000 in 6 ms */
#define AMP_MAX 3
#define AMP_MAX_ANSWERED 2

struct amp {
	uint64_t id[AMP_FLOOD];
	int n;
	unsigned int victim[AMP_FLOOD]; /* host 1 -> 0 about forged id i */
	unsigned int peer[AMP_FLOOD]; /* host 0 -> 1 about forged id i */
	bool drop_answers; /* the peer's answers are lost */
	int count; /* forged packets; 0: AMP_FORGED */
	uint64_t gap_ns; /* between them; 0: 7919 */
	uint64_t end_ns; /* when the simulation went quiet */
};

static int amp_find(const struct amp *a, uint64_t id)
{
	int i;

	for (i = 0; i < a->n; i++)
		if (a->id[i] == id)
			return i;
	return -1;
}

static bool amp_tap(struct sim *sim, void *arg, int src, int dst,
		    const uint8_t *pkt, size_t len)
{
	struct amp *a = arg;
	int i;

	(void)sim;
	(void)dst;
	if (len < 40)
		return false;
	i = amp_find(a, be64(pkt + 20));
	if (i < 0)
		return false;
	if (src == 1) {
		a->victim[i]++;
		return false;
	}
	a->peer[i]++;
	return a->drop_answers;
}

/*
 * AMP_FORGED forged first packets from "host 0" to host 1 with random
 * msg_ids, each its own message: half the first packet of a large message
 * (msg_len up to max_wire, granted either small or all of it), half a
 * whole one-packet message that fails its tag at once. Genuine RPCs (one
 * of 300 KB that needs grants) run alongside.
 */
static void amp_run(struct amp *a, uint64_t *lat_max)
{
	struct smt_aead *k = wrong_key();
	struct sim *sim = two_hosts(amp_tap, a, 0);
	struct smt_data_tmpl t = {.sport = sim_port(sim, 0),
				  .dport = sim_port(sim, 1)};
	struct smt_wire_msg big, small;
	uint8_t app[20000] = {0}, first[1500], one[1500];
	uint32_t nbig, nsmall, max_wire = SMT_MAX_WIRE(1u << 20, 0);
	int i;

	cr_assert_not_null(k);
	cr_assert_eq(smt_msg_encode(k, 48, 2, app, sizeof(app), 0, 16384, &big),
		     0);
	cr_assert_eq(smt_msg_encode(k, 48, 2, app, 500, 0, 16384, &small), 0);
	t.granted = big.wire_len;
	nbig = 40 + smt_data_build(&big, 0, 1440, &t, first);
	t.granted = small.wire_len;
	nsmall = 40 + smt_data_build(&small, 0, 1440, &t, one);
	for (i = 0; i < 12; i++)
		sim_rpc_add(sim, (uint64_t)i * 200000, i & 1, !(i & 1),
			    i == 4 ? 300000 : 100 + (uint32_t)i * 700, 500,
			    false);
	for (i = 0; i < (a->count ? a->count : AMP_FORGED); i++) {
		uint8_t pkt[1500];
		bool whole = i & 1;
		uint32_t n = whole ? nsmall : nbig, mlen;
		uint64_t id;

		do
			id = (sim_rand(sim) % (1ULL << 46)) & ~1ULL;
		while (id < 1000 || amp_find(a, id) >= 0);
		a->id[a->n++] = id;
		memcpy(pkt, whole ? one : first, n);
		pkt[20] = (uint8_t)(id >> 56);
		pkt[21] = (uint8_t)(id >> 48);
		put32(pkt + 22, (uint32_t)(id >> 16));
		pkt[26] = (uint8_t)(id >> 8);
		pkt[27] = (uint8_t)id;
		if (!whole) {
			mlen = 16406 + (uint32_t)(sim_rand(sim) %
						  (max_wire - 16406 + 1));
			put32(pkt + 28, mlen);
			put32(pkt + 32, (i & 2) ? mlen : 1440);
		}
		sim_inject(sim, 0, 1, pkt, n,
			   (uint64_t)i * (a->gap_ns ? a->gap_ns : 7919));
	}
	cr_assert_eq(sim_run(sim), 0, "%s", sim_error(sim));
	a->end_ns = sim_now(sim);
	cr_assert_eq(sim_check(sim, false), 0, "%s", sim_error(sim));
	*lat_max = 0;
	for (i = 0; i < sim_rpc_count(sim); i++) {
		struct sim_rpc *r = sim_rpc(sim, i);

		if (r->done_ns - r->start_ns > *lat_max)
			*lat_max = r->done_ns - r->start_ns;
	}
	smt_wire_msg_free(&big);
	smt_wire_msg_free(&small);
	smt_aead_free(k);
	sim_free(sim);
}

static void amp_check(const struct amp *a, const char *what)
{
	unsigned int vmax = 0, vsum = 0, psum = 0;
	unsigned int bound = a->drop_answers ? AMP_MAX : AMP_MAX_ANSWERED;
	int i;

	for (i = 0; i < a->n; i++) {
		vsum += a->victim[i];
		psum += a->peer[i];
		if (a->victim[i] > vmax)
			vmax = a->victim[i];
	}
	cr_log_info("%s: %d forged packets cost the victim %u packets (at "
		    "most %u for one) and the peer %u",
		    what, a->n, vsum, vmax, psum);
	cr_assert_leq(vmax, bound,
		      "%s: one forged packet cost the victim %u packets (bound "
		      "%u)",
		      what, vmax, bound);
	cr_assert_leq(psum, vsum, "%s: the peer answered more than asked",
		      what);
}

Test(sim_adversary, forged_first_packets__bounded_amplification)
{
	static struct amp a;
	uint64_t lat;

	amp_run(&a, &lat);
	amp_check(&a, "peer answers");
	/* 300 KB at 10 Gbps with 5 us links takes ~0.3 ms: forged claims
	 * must not hold up its grants (nor anything else) for long */
	cr_assert_lt(lat, 2 * RTO_NS, "an RPC took %" PRIu64 " ns", lat);
}

Test(sim_adversary, forged_first_packets__bounded_when_peer_is_silent)
{
	static struct amp a = {.drop_answers = true};
	uint64_t lat;

	amp_run(&a, &lat);
	amp_check(&a, "answers lost");
}

/*
 * A flood: 3000 forged packets in 6 ms (500,000 a second), half of them
 * first packets of large messages. Each still costs at most
 * AMP_MAX_ANSWERED, and all of them together at most the session's budget
 * for provisional messages (docs/protocol.md 3.4): ENG_PROV_BURST, then one
 * per ENG_PROV_REFILL_NS of the run. Genuine RPCs are not slowed down.
 */
Test(sim_adversary, forged_flood__answers_bounded_by_the_budget)
{
	static struct amp a = {.count = AMP_FLOOD, .gap_ns = 2000};
	unsigned int vsum = 0, bound;
	uint64_t lat;
	int i;

	amp_run(&a, &lat);
	amp_check(&a, "flood");
	for (i = 0; i < a.n; i++)
		vsum += a.victim[i];
	bound = ENG_PROV_BURST + (unsigned int)(a.end_ns / ENG_PROV_REFILL_NS) +
		1;
	cr_log_info("flood: %u answers in %" PRIu64 " ns, budget %u", vsum,
		    a.end_ns, bound);
	cr_assert_leq(vsum, bound,
		      "%d forged packets in %" PRIu64 " ns cost %u answers, "
		      "budget %u",
		      a.n, a.end_ns, vsum, bound);
	cr_assert_lt(lat, 2 * RTO_NS, "an RPC took %" PRIu64 " ns", lat);
}
