// SPDX-License-Identifier: BSD-2-Clause
/*
 * The engine's DATA path without copies (docs/engine.md "Copies per
 * message"): an owner that gives ops.pkt_buf gets each DATA packet as a
 * header built there and a payload by reference into the message's wire
 * stream, valid until smt_engine_tx_done(). Records in the unscheduled
 * window are sealed out of place from the application's buffer, the later
 * ones in place when their first packet goes. Checked here: the wire
 * stream so built is byte for byte the deterministic encoder's
 * (smt_msg_encode), across records that span packets; retransmissions
 * repeat the first bytes; a payload handed by reference outlives the end
 * of its message until smt_engine_tx_done() (ASan in test-asan).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <criterion/criterion.h>

#include "codec.h"
#include "engine.h"
#include "record.h"

#define REC 4096u /* record content bytes */
#define UNSCHED 10000u /* records 0 and 1 start in the window */
#define MSG 40000u /* 10 records */

struct ref {
	const uint8_t *at; /* the engine's payload */
	size_t pkt, off, len; /* where its copy is in out[] */
};

struct cpkt {
	uint32_t len;
	uint8_t data[1600];
};

struct side {
	struct smt_engine *e;
	uint32_t sid;
	struct sockaddr_storage addr;
	uint8_t hdr[SMT_HDR_LEN + 1500];
	struct cpkt *out;
	size_t nout, cap;
	struct ref *refs;
	size_t nrefs, caprefs;
	size_t split; /* packets sent as header + payload reference */
	size_t flush_at[16]; /* nout at each ops.flush (tx_pull pairs) */
	size_t nflush;
};

struct pair {
	struct side s[2];
	uint64_t now;
	struct smt_keys keys;
};

static uint8_t *cp_pkt_buf(void *ctx, const struct sockaddr_storage *peer,
			   size_t len)
{
	struct side *sd = ctx;

	(void)peer;
	cr_assert_leq(len, sizeof(sd->hdr));
	return sd->hdr;
}

static int cp_send(void *ctx, const struct smt_engine_tx *tx)
{
	struct side *sd = ctx;
	struct cpkt *k;

	cr_assert_leq(tx->len + tx->payload_len, sizeof(sd->out[0].data));
	if (sd->nout == sd->cap) {
		sd->cap = sd->cap ? 2 * sd->cap : 64;
		sd->out = realloc(sd->out, sd->cap * sizeof(*sd->out));
		cr_assert_not_null(sd->out);
	}
	k = &sd->out[sd->nout];
	k->len = (uint32_t)(tx->len + tx->payload_len);
	memcpy(k->data, tx->pkt, tx->len);
	if (tx->payload_len) {
		cr_assert_eq(tx->pkt, sd->hdr, "a header outside pkt_buf");
		memcpy(k->data + tx->len, tx->payload, tx->payload_len);
		if (sd->nrefs == sd->caprefs) {
			sd->caprefs = sd->caprefs ? 2 * sd->caprefs : 64;
			sd->refs = realloc(sd->refs,
					   sd->caprefs * sizeof(*sd->refs));
			cr_assert_not_null(sd->refs);
		}
		sd->refs[sd->nrefs++] = (struct ref){tx->payload, sd->nout,
						     tx->len, tx->payload_len};
		sd->split++;
	}
	sd->nout++;
	return 0;
}

/* The owner's batch went out: every payload still holds what it held
 * when it was handed over; then the engine may free it. */
static void batch_sent(struct side *sd)
{
	size_t i;

	for (i = 0; i < sd->nrefs; i++) {
		const struct ref *r = &sd->refs[i];

		cr_assert_eq(
			memcmp(sd->out[r->pkt].data + r->off, r->at, r->len), 0,
			"payload %zu changed before the batch left", i);
	}
	sd->nrefs = 0;
	smt_engine_tx_done(sd->e);
}

static void cp_flush(void *ctx)
{
	struct side *sd = ctx;

	if (sd->nflush < 16)
		sd->flush_at[sd->nflush++] = sd->nout;
}

static const struct smt_limits lim = {.B = 48, .max_msg = 1u << 20};

/* pull: the engine runs as libsmt's endpoints do (cfg.tx_pull, a flush) */
static void pair_init_as(struct pair *p, bool pull)
{
	struct smt_engine_ops ops = {.send = cp_send,
				     .pkt_buf = cp_pkt_buf,
				     .flush = pull ? cp_flush : NULL};
	struct smt_engine_cfg c = {
		.rec_size = REC,
		.unsched_bytes = UNSCHED,
		.tx_pull = pull,
	};
	int i;

	memset(p, 0, sizeof(*p));
	cr_assert_eq(smt_limits_check(&lim), 0);
	p->keys.cipher = SMT_CIPHER_AES_128_GCM;
	p->keys.key_len = 16;
	for (i = 0; i < 16; i++) {
		p->keys.c_key[i] = (uint8_t)(3 * i);
		p->keys.s_key[i] = (uint8_t)(0x50 + i);
	}
	for (i = 0; i < 12; i++) {
		p->keys.c_iv[i] = (uint8_t)(0x90 + i);
		p->keys.s_iv[i] = (uint8_t)(0xd0 + i);
	}
	for (i = 0; i < 2; i++) {
		struct sockaddr_in *a = (void *)&p->s[i].addr;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(0x0a000101u + (uint32_t)i);
		p->s[i].e = smt_engine_new(&c, &ops, &p->s[i]);
		cr_assert_not_null(p->s[i].e);
	}
	for (i = 0; i < 2; i++) {
		struct smt_engine_session s = {
			.peer = p->s[!i].addr,
			.local_port = (uint16_t)(7100 + i),
			.peer_port = (uint16_t)(7100 + !i),
			.tls_client = i == 0,
			.keys = p->keys,
			.limits = lim,
			.now_ns = p->now,
		};

		cr_assert_eq(
			smt_engine_session_add(p->s[i].e, &s, &p->s[i].sid), 0);
	}
}

static void pair_init(struct pair *p)
{
	pair_init_as(p, false);
}

static void pair_fini(struct pair *p)
{
	int i;

	for (i = 0; i < 2; i++) {
		batch_sent(&p->s[i]);
		smt_engine_free(p->s[i].e);
		free(p->s[i].out);
		free(p->s[i].refs);
	}
}

static uint32_t be32at(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static uint64_t be64at(const uint8_t *b)
{
	return (uint64_t)be32at(b) << 32 | be32at(b + 4);
}

/* What the client's DATA packets carried: the wire stream by pkt_off, the
 * first copy of each offset kept, every later one compared with it. */
struct seen {
	uint8_t *wire;
	uint8_t *have; /* per byte */
	uint32_t len;
	uint64_t msg_id;
	unsigned int again; /* retransmitted packets compared */
};

static void see_data(struct seen *w, const struct cpkt *k)
{
	uint32_t off = be32at(k->data + 4), n = k->len - SMT_HDR_LEN, i;

	if (k->data[13] != SMT_TYPE_DATA)
		return;
	if (!w->wire) {
		w->len = be32at(k->data + 28);
		w->msg_id = be64at(k->data + 20);
		w->wire = calloc(1, w->len);
		w->have = calloc(1, w->len);
		cr_assert(w->wire && w->have);
	}
	cr_assert_leq((uint64_t)off + n, w->len);
	if (w->have[off])
		w->again++;
	for (i = 0; i < n; i++) {
		const uint8_t b = k->data[SMT_HDR_LEN + i];

		if (w->have[off + i])
			cr_assert_eq(w->wire[off + i], b,
				     "byte %u sent again differs", off + i);
		w->wire[off + i] = b;
		w->have[off + i] = 1;
	}
}

/*
 * Runs the pair until the server holds the request: every packet of one
 * side goes to the other (drop: a predicate on the client's DATA packets
 * of the first pass), time advancing a millisecond per round.
 */
static void run(struct pair *p, struct seen *w, bool (*drop)(size_t i))
{
	size_t sent = 0;
	int round, side;

	for (round = 0; round < 2000; round++) {
		for (side = 0; side < 2; side++) {
			struct side *sd = &p->s[side];
			size_t n, i;
			struct cpkt *b;

			smt_engine_pull(sd->e, UINT_MAX); /* tx_pull pairs */
			n = sd->nout;
			b = malloc(n * sizeof(*b) + 1);

			cr_assert_not_null(b);
			if (n) /* out is NULL before the first packet */
				memcpy(b, sd->out, n * sizeof(*b));
			batch_sent(sd);
			sd->nout = 0;
			for (i = 0; i < n; i++) {
				if (!side) {
					see_data(w, &b[i]);
					if (drop &&
					    b[i].data[13] == SMT_TYPE_DATA &&
					    drop(sent++))
						continue;
				}
				smt_engine_input(
					p->s[!side].e,
					(const struct sockaddr *)&sd->addr,
					b[i].data, b[i].len, 0, p->now);
			}
			free(b);
		}
		if (smt_engine_events_pending(p->s[1].e))
			return;
		p->now += 1000000;
		smt_engine_advance(p->s[0].e, p->now);
		smt_engine_advance(p->s[1].e, p->now);
	}
	cr_assert_fail("the request never arrived");
}

static void app_fill(uint8_t *app, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		app[i] = (uint8_t)(i * 7 + (i >> 9));
}

/* The server got app; the bytes the client sent are the reference
 * encoder's for the same message. */
static void check_msg(struct pair *p, struct seen *w, const uint8_t *app,
		      uint32_t len, uint32_t nrec)
{
	struct smt_engine_event ev;
	struct smt_wire_msg ref;
	struct smt_aead *a;
	uint32_t i;

	cr_assert_eq(smt_engine_next_event(p->s[1].e, &ev), 1);
	cr_assert_eq(ev.type, SMT_ENGINE_EV_REQUEST);
	cr_assert_eq(ev.len, len);
	cr_assert_eq(memcmp(ev.data, app, len), 0);
	smt_engine_event_free(&ev);

	a = smt_aead_new(p->keys.cipher, p->keys.c_key, p->keys.key_len,
			 p->keys.c_iv);
	cr_assert_not_null(a);
	cr_assert_eq(
		smt_msg_encode(a, lim.B, w->msg_id, app, len, 0, REC, &ref), 0);
	cr_assert_eq(ref.nrec, nrec);
	cr_assert_eq(w->len, ref.wire_len);
	for (i = 0; i < w->len; i++)
		cr_assert(w->have[i], "wire byte %u never sent", i);
	cr_assert_eq(memcmp(w->wire, ref.wire, w->len), 0,
		     "sealed bytes differ from the reference encoder");
	smt_wire_msg_free(&ref);
	smt_aead_free(a);
	cr_assert_gt(p->s[0].split, 0, "no payload went by reference");
	free(w->wire);
	free(w->have);
}

static void check(struct pair *p, struct seen *w, const uint8_t *app)
{
	check_msg(p, w, app, MSG, 10);
}

/* Records sealed out of place (0, 1: in the window) and in place (2..9,
 * after GRANTs), each spanning packets of 1460 bytes at most, make the
 * deterministic rule's wire stream. */
Test(copies, sealed_out_of_place_equals_the_reference_encoder)
{
	static uint8_t app[MSG];
	struct seen w = {0};
	struct pair p;
	uint64_t id;

	app_fill(app, sizeof(app));
	pair_init(&p);
	cr_assert_eq(smt_engine_send(p.s[0].e, p.s[0].sid, app, MSG, 0, 0, &id,
				     p.now),
		     0);
	/* the engine copied what it needs: the caller's buffer is free */
	run(&p, &w, NULL);
	cr_assert_eq(w.again, 0);
	check(&p, &w, app);
	pair_fini(&p);
}

/* A pair run as libsmt runs the engine (tx_pull, a flush), the client
 * sending app (a copy kept in orig), inside a batch of input if asked. */
static void pulled_send(struct pair *p, uint8_t *app, uint8_t *orig,
			bool in_batch)
{
	uint64_t id;

	app_fill(app, MSG);
	memcpy(orig, app, MSG);
	pair_init_as(p, true);
	if (in_batch)
		smt_engine_batch_begin(p->s[0].e);
	cr_assert_eq(smt_engine_send(p->s[0].e, p->s[0].sid, app, MSG, 0, 0,
				     &id, p->now),
		     0);
}

/* The caller overwrites its buffer once the send returned (then ends
 * the batch of pulled_send); the server still gets orig, sealed as the
 * reference encoder seals it. */
static void reuse_and_check(struct pair *p, uint8_t *app, const uint8_t *orig,
			    bool in_batch)
{
	struct seen w = {0};

	memset(app, 0xee, MSG);
	if (in_batch)
		smt_engine_batch_end(p->s[0].e);
	run(p, &w, NULL);
	check(p, &w, orig);
	pair_fini(p);
}

/* The records in the unscheduled window (0, 1 and 2: they start before
 * 10000) leave one by one within the send, each flushed before the next
 * is sealed from the caller's buffer (engine_tx.c tx_pipe), and nothing
 * of that buffer is read after the send returned. */
Test(copies, window_records_flushed_one_by_one_from_the_callers_buffer)
{
	static uint8_t app[MSG], orig[MSG];
	struct pair p;
	size_t i, pkts = 0;

	pulled_send(&p, app, orig, false);
	/* a record of 4118 wire bytes is 3 packets of at most 1460; the
	 * window ends in record 2's third packet */
	cr_assert_eq(p.s[0].nflush, 3, "%zu flushes", p.s[0].nflush);
	for (i = 0; i < 3; i++) {
		pkts += i < 2 ? 3 : 2;
		cr_assert_eq(p.s[0].flush_at[i], pkts,
			     "flush %zu after %zu packets, not one record", i,
			     p.s[0].flush_at[i]);
	}
	reuse_and_check(&p, app, orig, false);
}

/* A message that the window covers whole (records of 4096, 4096 and 492
 * content bytes) leaves its last, shortest record first, in a flush of
 * its own, then records 0 and 1 one by one (engine_tx.c
 * tx_tail_ahead): the peer wakes while record 0 is sealed, and with the
 * last record verified first it decrypts the others straight into the
 * message's buffer. Each packet goes once, the wire stream is the
 * reference encoder's, and the caller's buffer is not read after the
 * send returned. */
#define WHOLE (2 * REC + 484u)

Test(copies, whole_window_message_sends_its_last_record_first)
{
	static uint8_t app[WHOLE], orig[WHOLE];
	struct seen w = {0};
	struct pair p;
	uint64_t id;

	app_fill(app, WHOLE);
	memcpy(orig, app, WHOLE);
	pair_init_as(&p, true);
	cr_assert_eq(smt_engine_send(p.s[0].e, p.s[0].sid, app, WHOLE, 0, 0,
				     &id, p.now),
		     0);
	cr_assert_eq(p.s[0].nflush, 3, "%zu flushes", p.s[0].nflush);
	cr_assert_eq(p.s[0].flush_at[0], 1, "the last record, one packet");
	cr_assert_eq(be32at(p.s[0].out[0].data + 4),
		     2 * (REC + SMT_REC_OVERHEAD),
		     "the first packet is not the last record's");
	cr_assert_eq(p.s[0].flush_at[1], 4, "then record 0");
	cr_assert_eq(p.s[0].flush_at[2], 7, "then record 1");
	memset(app, 0xee, WHOLE);
	run(&p, &w, NULL);
	cr_assert_eq(w.again, 0, "%u packets sent twice", w.again);
	check_msg(&p, &w, orig, WHOLE, 3);
	pair_fini(&p);
}

/* The same inside a batch of input (smt_engine_batch_begin: nothing is
 * flushed before its end): the window's records cannot leave during the
 * send, so they are sealed before it returns, from the caller's buffer
 * while it is still the caller's. */
Test(copies, window_records_held_in_a_batch_sealed_before_return)
{
	static uint8_t app[MSG], orig[MSG];
	struct pair p;

	pulled_send(&p, app, orig, true);
	cr_assert_eq(p.s[0].nout, 0);
	reuse_and_check(&p, app, orig, true);
}

/* Every third DATA packet of the first pass lost: each is sent again,
 * byte for byte the first (one nonce, one plaintext), from records sealed
 * out of place and in place alike. */
static bool every_third(size_t i)
{
	return i % 3 == 1;
}

Test(copies, retransmission_equals_the_first_send)
{
	static uint8_t app[MSG];
	struct seen w = {0};
	struct pair p;
	uint64_t id;

	app_fill(app, sizeof(app));
	pair_init(&p);
	cr_assert_eq(smt_engine_send(p.s[0].e, p.s[0].sid, app, MSG, 0, 0, &id,
				     p.now),
		     0);
	run(&p, &w, every_third);
	cr_assert_geq(w.again, 9, "only %u packets went again", w.again);
	check(&p, &w, app);
	pair_fini(&p);
}

/* A request cancelled while its packets wait in the owner's batch: the
 * payloads they point to stay until smt_engine_tx_done() (ASan sees a
 * read of freed memory in batch_sent otherwise). */
Test(copies, payload_outlives_its_message_until_tx_done)
{
	static uint8_t app[MSG];
	struct pair p;
	uint64_t id;

	app_fill(app, sizeof(app));
	pair_init(&p);
	cr_assert_eq(smt_engine_send(p.s[0].e, p.s[0].sid, app, MSG, 0, 0, &id,
				     p.now),
		     0);
	cr_assert_gt(p.s[0].nrefs, 6, "the window's packets by reference");
	cr_assert_eq(smt_engine_cancel(p.s[0].e, p.s[0].sid, id, p.now), 0);
	memset(app, 0, sizeof(app)); /* the caller's buffer is not used */
	batch_sent(&p.s[0]);
	/* and a message freed with no packet outstanding goes at once */
	cr_assert_eq(smt_engine_send(p.s[0].e, p.s[0].sid, app, 100, 0, 0, &id,
				     p.now),
		     0);
	batch_sent(&p.s[0]);
	cr_assert_eq(smt_engine_cancel(p.s[0].e, p.s[0].sid, id, p.now), 0);
	pair_fini(&p);
}
