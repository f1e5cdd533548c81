// SPDX-License-Identifier: BSD-2-Clause
/*
 * Protocol engine, top layer: configuration, sessions and their key
 * epochs, the demultiplexing of received packets to sessions, control
 * packets (verified and replay-checked before anything acts on them),
 * timer dispatch, the event queue's pull side, counters and the rest of
 * the public API. Below it (engine_int.h has the layering): the receiver
 * side and SRPT grants (engine_rx.c), the sender side (engine_tx.c) and
 * the bottom layer (engine_core.c). No clocks, sockets or randomness here.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "bufpool.h"
#include "bytes.h"
#include "engine_hold.h"
#include "engine_rx.h"

uint64_t smt_engine_next_deadline(const struct smt_engine *e)
{
	uint64_t t = e->timers.n ? e->timers.a[0]->when : UINT64_MAX;
	uint64_t h = eng_hold_deadline(e);

	return h < t ? h : t;
}

/* ---- configuration and life cycle ----------------------------------------- */

#define ENG_RTO_MIN_DEFAULT 100000 /* 100 us: two veth round trips */
/* A 64 KiB message whole, with no GRANT round trip (docs/engine.md): its
 * longest wire stream is 65918 bytes (records of 4096) plus at most an
 * eighth of the message of rec_align padding, 74110 <= 74 KiB. */
#define ENG_UNSCHED_DEFAULT 75776

#define DEF(field, v)                   \
	do {                            \
		if (!c->field)          \
			c->field = (v); \
	} while (0)

static int cfg_fill(struct smt_engine_cfg *c)
{
	DEF(rec_size, SMT_REC_MAX_CONTENT);
	DEF(unsched_bytes, ENG_UNSCHED_DEFAULT);
	DEF(grant_window, 60000);
	DEF(max_granted, 4 * c->grant_window);
	DEF(max_grant_msgs, 8);
	DEF(grant_step, c->grant_window / 8);
	DEF(resend_timeout_ns, 2000000);
	DEF(rto_min_ns, c->resend_timeout_ns < ENG_RTO_MIN_DEFAULT
				? c->resend_timeout_ns
				: ENG_RTO_MIN_DEFAULT);
	DEF(max_silent_timeouts, 10);
	DEF(reasm_timeouts, 10);
	DEF(ack_delay_ns, 20000);
	DEF(epoch_drain_ns,
	    (c->max_silent_timeouts + 2) * c->resend_timeout_ns);
	DEF(max_sessions, 1024);
	DEF(max_tx_msgs, 8192);
	DEF(max_tx_bytes, 256ULL << 20);
	DEF(max_rx_msgs, 8192);
	DEF(max_rx_bytes, 256ULL << 20);
	DEF(max_rx_msgs_session, c->max_rx_msgs);
	DEF(lanes, 1);
	if (c->lane >= c->lanes || c->lanes > SMT_ENGINE_LANES_MAX)
		return -EINVAL;
	if (c->rec_size < SMT_REC_MIN_CONTENT ||
	    c->rec_size > SMT_REC_MAX_CONTENT ||
	    c->rto_min_ns > c->resend_timeout_ns ||
	    c->grant_step > c->grant_window)
		return -EINVAL;
	return 0;
}

struct smt_engine *smt_engine_new(const struct smt_engine_cfg *cfg,
				  const struct smt_engine_ops *ops, void *ctx)
{
	struct smt_engine *e;

	if (!ops || !ops->send) {
		errno = EINVAL;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		errno = ENOMEM;
		return NULL;
	}
	if (cfg)
		e->cfg = *cfg;
	if (cfg_fill(&e->cfg)) {
		free(e);
		errno = EINVAL;
		return NULL;
	}
	e->ops = *ops;
	e->ctx = ctx;
	e->next_sid = 1;
	if (eng_htab_init(&e->by_id, 16) || eng_htab_init(&e->by_addr, 16)) {
		eng_htab_fini(&e->by_id);
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	return e;
}

void smt_engine_get_cfg(const struct smt_engine *e, struct smt_engine_cfg *c)
{
	*c = e->cfg;
}

static void event_free_all(struct smt_engine *e);
static void session_free(struct smt_engine *e, struct eng_session *s, int err);

void smt_engine_free(struct smt_engine *e)
{
	struct eng_hnode *n;

	if (!e)
		return;
	e->closing = true;
	while ((n = eng_htab_any(&e->by_id)))
		session_free(e,
			     eng_container_of(n, struct eng_session, id_node),
			     -ECONNABORTED);
	event_free_all(e);
	eng_tx_reap(e);
	eng_hold_fini(e);
	eng_htab_fini(&e->by_id);
	eng_htab_fini(&e->by_addr);
	free(e->timers.a);
	free(e);
}

void smt_engine_tx_done(struct smt_engine *e)
{
	if (e)
		eng_tx_reap(e);
}

int smt_engine_get_stats(const struct smt_engine *e, uint32_t sid,
			 struct smt_engine_stats *out)
{
	const struct eng_session *s;

	if (!sid) {
		*out = e->st;
		return 0;
	}
	s = eng_session_find(e, sid);
	if (!s)
		return -ENOENT;
	*out = s->st;
	out->srtt_ns = s->srtt;
	out->rttvar_ns = s->rttvar;
	out->rto_ns = s->srtt ? eng_rto(e, s) : 0;
	return 0;
}

unsigned int smt_engine_check(const struct smt_engine *e, FILE *f,
			      uint64_t min_age_ns)
{
	unsigned int bad = 0;
	size_t i, j;

	for (i = 0; i < e->by_id.nb; i++) {
		const struct eng_hnode *sn;

		for (sn = e->by_id.b[i]; sn; sn = sn->next) {
			const struct eng_session *s = eng_container_of(
				sn, struct eng_session, id_node);

			for (j = 0; j < s->tx.nb; j++) {
				const struct eng_hnode *n;

				for (n = s->tx.b[j]; n; n = n->next) {
					const struct eng_tx *t =
						eng_container_of(
							n, struct eng_tx, node);

					bad += eng_tx_invariant(t) != NULL;
					if (f && t->kind != ENG_TX_AWAIT &&
					    e->now - t->created >= min_age_ns)
						eng_tx_dump(e, t, f);
				}
			}
		}
	}
	return bad;
}

/* ---- events ------------------------------------------------------------------ */

static void event_unlink(struct smt_engine *e, struct eng_event *v)
{
	struct eng_session *s = eng_session_find(e, v->ev.session);

	e->ev_head = v->next;
	if (!e->ev_head)
		e->ev_tail = NULL;
	e->st.events--;
	if (s)
		s->st.events--;
	e->st.rx_bytes -= v->charged;
	if (s)
		s->st.rx_bytes -= v->charged;
	if (v->charged_msg)
		e->st.rx_msgs--;
}

unsigned int smt_engine_rx_active(const struct smt_engine *e)
{
	return e->rx_active;
}

int smt_engine_next_event(struct smt_engine *e, struct smt_engine_event *ev)
{
	struct eng_event *v = e->ev_head;

	if (!v)
		return 0;
	event_unlink(e, v);
	*ev = v->ev;
	free(v);
	return 1;
}

size_t smt_engine_events_pending(const struct smt_engine *e)
{
	return e->st.events;
}

size_t smt_engine_timers_armed(const struct smt_engine *e)
{
	return e->timers.n;
}

void smt_engine_event_free(struct smt_engine_event *ev)
{
	smt_pool_free(ev->data);
	memset(ev, 0, sizeof(*ev));
}

static void event_free_all(struct smt_engine *e)
{
	struct smt_engine_event ev;

	while (smt_engine_next_event(e, &ev))
		smt_engine_event_free(&ev);
}

/* ---- sessions ------------------------------------------------------------------- */

static uint64_t addr_key(const struct sockaddr *sa, uint16_t pport,
			 uint16_t lport)
{
	uint64_t k = ((uint64_t)pport << 16 | lport) * 0x9e3779b97f4a7c15ULL;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		k ^= in->sin_addr.s_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		uint64_t a, b;

		memcpy(&a, in6->sin6_addr.s6_addr, 8);
		memcpy(&b, in6->sin6_addr.s6_addr + 8, 8);
		k ^= a * 31 + b;
	}
	return k;
}

static bool addr_eq(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr,
		       sizeof(struct in6_addr));
}

static struct eng_session *session_by_addr(const struct smt_engine *e,
					   const struct sockaddr *sa,
					   uint16_t pport, uint16_t lport)
{
	struct eng_hnode *n =
		eng_htab_find(&e->by_addr, addr_key(sa, pport, lport));

	for (; n; n = eng_htab_next(n)) {
		struct eng_session *s =
			eng_container_of(n, struct eng_session, addr_node);

		if (s->pport == pport && s->lport == lport &&
		    addr_eq(sa, &s->peer))
			return s;
	}
	return NULL;
}

static int epoch_init(struct eng_epoch *ep, uint8_t num,
		      const struct smt_keys *k, bool tls_client)
{
	const uint8_t *wk = tls_client ? k->c_key : k->s_key;
	const uint8_t *wiv = tls_client ? k->c_iv : k->s_iv;
	const uint8_t *rk = tls_client ? k->s_key : k->c_key;
	const uint8_t *riv = tls_client ? k->s_iv : k->c_iv;

	memset(ep, 0, sizeof(*ep));
	ep->tx = smt_aead_new(k->cipher, wk, k->key_len, wiv);
	ep->rx = smt_aead_new(k->cipher, rk, k->key_len, riv);
	if (!ep->tx || !ep->rx) {
		int err = errno ? -errno : -EINVAL;

		smt_aead_free(ep->tx);
		smt_aead_free(ep->rx);
		memset(ep, 0, sizeof(*ep));
		return err;
	}
	ep->valid = true;
	ep->num = num;
	ep->next_req = SMT_MSG_ID_MIN;
	return 0;
}

/* Ends every message of epoch num (all epochs when all is set). */
static void session_end_msgs(struct smt_engine *e, struct eng_session *s,
			     bool all, uint8_t num, int err)
{
	struct eng_hnode *n, *next;
	size_t i;

	for (i = 0; i < s->rx.nb; i++) {
		for (n = s->rx.b[i]; n; n = next) {
			struct eng_rx *r =
				eng_container_of(n, struct eng_rx, node);

			next = n->next;
			if (all || r->epoch == num)
				eng_rx_free(e, r);
		}
	}
	for (i = 0; i < s->tx.nb; i++) {
		for (n = s->tx.b[i]; n; n = next) {
			struct eng_tx *t =
				eng_container_of(n, struct eng_tx, node);

			next = n->next;
			if (all || t->epoch == num)
				eng_msg_end(e, t, ENG_TX_FAILED, err);
		}
	}
}

static void epoch_wipe(struct smt_engine *e, struct eng_session *s,
		       struct eng_epoch *ep, int err)
{
	if (!ep->valid)
		return;
	eng_ack_flush_epoch(e, s, ep);
	session_end_msgs(e, s, false, ep->num, err);
	smt_aead_free(ep->tx);
	smt_aead_free(ep->rx);
	memset(ep, 0, sizeof(*ep));
}

static void session_free(struct smt_engine *e, struct eng_session *s, int err)
{
	unsigned int i, n = 0;

	for (i = 0; i < e->nquery; i++) /* its probes go unanswered */
		if (e->query[i].sid != s->id)
			e->query[n++] = e->query[i];
	e->nquery = n;
	session_end_msgs(e, s, true, 0, err);
	epoch_wipe(e, s, &s->ep[0], err);
	epoch_wipe(e, s, &s->ep[1], err);
	eng_timer_cancel(e, &s->ack_t);
	eng_timer_cancel(e, &s->rcpt_t);
	eng_timer_cancel(e, &s->drain_t);
	eng_htab_del(&e->by_id, &s->id_node);
	eng_htab_del(&e->by_addr, &s->addr_node);
	eng_htab_fini(&s->tx);
	eng_htab_fini(&s->rx);
	e->st.sessions--;
	free(s);
}

static int input_session(struct smt_engine *e, struct eng_session *s,
			 const uint8_t *smt, size_t len, int ipv4_id,
			 uint64_t now_ns);

/* The packets held for new session s (protocol.md 8.10), in arrival
 * order, through the receive path as if they arrived at now (0: the
 * engine's latest time). */
static void hold_replay(struct smt_engine *e, struct eng_session *s,
			uint64_t now)
{
	struct eng_held *h;

	if (now > e->now)
		e->now = now;
	eng_hold_expire(e, e->now);
	while ((h = eng_hold_take(e, &s->peer, s->pport, s->lport))) {
		input_session(e, s, h->data, h->len, h->ipv4_id, e->now);
		free(h);
	}
	eng_tx_flush(e);
}

int smt_engine_session_add(struct smt_engine *e,
			   const struct smt_engine_session *p, uint32_t *id)
{
	struct eng_session *s;
	int err;

	if (p->peer.ss_family != AF_INET && p->peer.ss_family != AF_INET6)
		return -EINVAL;
	if (!p->local_port || !p->peer_port)
		return -EINVAL;
	if (session_by_addr(e, (const struct sockaddr *)&p->peer, p->peer_port,
			    p->local_port))
		return -EEXIST;
	if (e->st.sessions >= e->cfg.max_sessions)
		return -EAGAIN;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->peer = p->peer;
	s->lport = p->local_port;
	s->pport = p->peer_port;
	s->tls_client = p->tls_client;
	s->user = p->user;
	s->share = p->share;
	s->lim = p->limits;
	if (!s->lim.B)
		s->lim.B = SMT_B_DEFAULT;
	if (!s->lim.max_msg)
		s->lim.max_msg = SMT_M_DEFAULT;
	err = smt_limits_check(&s->lim);
	if (err)
		goto fail;
	s->max_payload = p->max_payload;
	if (!s->max_payload)
		s->max_payload = p->peer.ss_family == AF_INET ? 1440 : 1420;
	if (s->max_payload < SMT_REC_START_MIN ||
	    s->max_payload > ENG_MAX_PAYLOAD) {
		err = -EINVAL;
		goto fail;
	}
	s->rec_size = eng_rec_size(e, s->max_payload);
	s->prov_credit = ENG_PROV_BURST;
	s->ack_t.idx = s->drain_t.idx = s->rcpt_t.idx = ENG_T_IDLE;
	s->ack_t.kind = ENG_T_ACK;
	s->rcpt_t.kind = ENG_T_RCPT;
	s->drain_t.kind = ENG_T_DRAIN;
	err = eng_htab_init(&s->tx, 16);
	if (!err)
		err = eng_htab_init(&s->rx, 16);
	if (err)
		goto fail;
	err = epoch_init(&s->ep[0], p->epoch, &p->keys, p->tls_client);
	if (err)
		goto fail;
	do {
		s->id = e->next_sid++;
		if (!s->id)
			s->id = e->next_sid++;
	} while (eng_session_find(e, s->id));
	eng_htab_add(&e->by_id, &s->id_node, s->id);
	eng_htab_add(&e->by_addr, &s->addr_node,
		     addr_key((const struct sockaddr *)&s->peer, s->pport,
			      s->lport));
	e->st.sessions++;
	*id = s->id;
	hold_replay(e, s, p->now_ns);
	return 0;
fail:
	eng_htab_fini(&s->tx);
	eng_htab_fini(&s->rx);
	free(s);
	return err;
}

int smt_engine_session_del(struct smt_engine *e, uint32_t id)
{
	struct eng_session *s = eng_session_find(e, id);

	if (!s)
		return -ENOENT;
	session_free(e, s, -ECONNABORTED);
	eng_tx_flush(e);
	return 0;
}

int smt_engine_session_rekey(struct smt_engine *e, uint32_t id,
			     uint8_t new_epoch, const struct smt_keys *keys,
			     uint64_t now_ns)
{
	struct eng_session *s = eng_session_find(e, id);
	struct eng_epoch fresh;
	int old, err;

	if (!s)
		return -ENOENT;
	if (s->ep[s->cur].num == new_epoch)
		return -EINVAL;
	e->now = now_ns;
	err = epoch_init(&fresh, new_epoch, keys, s->tls_client);
	if (err)
		return err;
	old = !s->cur;
	epoch_wipe(e, s, &s->ep[old], -ETIMEDOUT);
	s->ep[old] = fresh;
	s->cur = old;
	eng_timer_arm(e, &s->drain_t, now_ns + e->cfg.epoch_drain_ns);
	eng_tx_flush(e);
	return 0;
}

void *smt_engine_session_user(const struct smt_engine *e, uint32_t id)
{
	struct eng_session *s = eng_session_find(e, id);

	return s ? s->user : NULL;
}

/* ---- control packets in ----------------------------------------------------------- */

/* Keeps a RESEND 0/0 for an answer after the input that waits (once per
 * message); false when ENG_QUERIES already wait. */
static bool query_defer(struct smt_engine *e, const struct eng_session *s,
			const struct eng_epoch *ep, const struct smt_ctl *c)
{
	unsigned int i;

	for (i = 0; i < e->nquery; i++)
		if (e->query[i].msg_id == c->msg_id &&
		    e->query[i].sid == s->id && e->query[i].epoch == ep->num)
			return true;
	if (e->nquery == ENG_QUERIES)
		return false;
	e->query[e->nquery++] = (struct eng_query){
		.sid = s->id,
		.epoch = ep->num,
		.prio = c->prio,
		.offset = c->offset,
		.length = c->length,
		.msg_id = c->msg_id,
	};
	return true;
}

static void ctl_resend(struct smt_engine *e, struct eng_session *s,
		       struct eng_epoch *ep, const struct smt_ctl *c,
		       uint64_t now)
{
	struct eng_tx *t = eng_tx_find(s, ep->num, c->msg_id);
	struct eng_rx *r;

	if (t && t->kind == ENG_TX_AWAIT) {
		eng_send_ctl(e, s, ep, SMT_TYPE_BUSY, c->msg_id, 0, 0, 0);
		return;
	}
	if (t) {
		uint32_t k = eng_tx_resend(e, t, c->offset, c->length, c->prio);

		eng_tx_heard(t, now);
		ENG_CNT(e, s, rtx_resend, k);
		/* Nothing went again (all of it on its way, or not sent
		 * yet): tell the receiver we are alive and working on it. */
		if (!k)
			eng_send_ctl(e, s, ep, SMT_TYPE_BUSY, c->msg_id, 0, 0,
				     0);
		return;
	}
	/* A response we have not started: BUSY while its request is still
	 * arriving, else we know nothing of it. The client waits for it:
	 * when the request has not progressed for a round trip (what is
	 * missing would have come), ask for its missing part now rather than
	 * at our own timeout: the client's probe is the tail-loss probe of
	 * its request, and the client has measured the round trip. */
	r = (c->msg_id & 1) ? eng_rx_find(s, ep->num, c->msg_id - 1) : NULL;
	if (r) {
		/* a round trip, longer when our asks came too early */
		uint64_t wait = eng_rtt_guard(e, s) << s->spur;

		eng_send_ctl(e, s, ep, SMT_TYPE_BUSY, c->msg_id, 0, 0, 0);
		if (!e->backlog && now >= r->progress_at + wait &&
		    now >= r->action_at + wait && !eng_rx_overtaken(e, r)) {
			r->action_at = now;
			ENG_CNT(e, s, resends_probe, eng_rx_ask(e, r));
		}
		return;
	}
	/* Its first packets may wait in our own input queue, behind this
	 * control packet: not known yet is not unknown. It is answered when
	 * that input has been processed (queries_answer()), not with BUSY
	 * now: a burst of probes is a backlog of its own, and a probe that
	 * always came before the last of its burst would be answered BUSY
	 * round after round while its request stayed lost (issue 16: a
	 * pipelined Redis session wedged at 1 % loss). Past ENG_QUERIES
	 * waiting, UNKNOWN at once: a request sent twice is dropped as a
	 * duplicate, one never sent again never arrives. */
	if (e->backlog && (c->msg_id & 1) && query_defer(e, s, ep, c))
		return;
	eng_send_ctl(e, s, ep, SMT_TYPE_UNKNOWN, c->msg_id, 0, 0, 0);
}

/* Answers the deferred probes (ctl_resend) now that the input before them
 * was processed. */
static void queries_answer(struct smt_engine *e)
{
	unsigned int i, n = e->nquery;

	e->nquery = 0;
	for (i = 0; i < n; i++) {
		const struct eng_query *q = &e->query[i];
		struct eng_session *s = eng_session_find(e, q->sid);
		struct eng_epoch *ep = s ? eng_epoch_find(s, q->epoch) : NULL;
		struct smt_ctl c = {
			.type = SMT_TYPE_RESEND,
			.msg_id = q->msg_id,
			.offset = q->offset,
			.length = q->length,
			.prio = q->prio,
		};

		if (ep)
			ctl_resend(e, s, ep, &c, e->now);
	}
}

/*
 * UNKNOWN only ever names a message its sender would send (it answers a
 * GRANT or RESEND; NEED_ACK is answered with ACK or RESEND, never UNKNOWN:
 * docs/protocol.md 8.7), so here it is about a message we receive. For
 * the response to our request, the request itself was lost: start it
 * again (a receiver that has it drops the copy). Partial receptions of
 * other messages are left to their own timeouts.
 */
static void ctl_unknown(struct smt_engine *e, struct eng_session *s,
			struct eng_epoch *ep, uint64_t id, uint64_t now)
{
	struct eng_rx *r = eng_rx_find(s, ep->num, id);
	struct eng_tx *t;

	/* Its sender holds no message id: what we hold of it without a
	 * verified record came from someone else (docs/protocol.md 3.4,
	 * "Amplification"). Free it now rather than ask again. */
	if (r && !r->authed) {
		ENG_CNT(e, s, prov_freed, 1);
		eng_rx_free(e, r);
		eng_grant_soon(e);
	}

	/* The peer holds no outgoing message id (docs/protocol.md 8.7):
	 * if it is the response to our request, the request was lost. */
	if (id & 1) {
		t = eng_tx_find(s, ep->num, id - 1);
		if (!t || t->kind != ENG_TX_REQUEST || !t->asked || t->resp)
			return;
		/* A server that answers every probe with UNKNOWN and drops
		 * every copy sent again (it answered the request, then let
		 * the response expire while the path was down: each copy is
		 * a replay to it) would keep the request going round for
		 * ever, the session's traffic keeping it alive. A loaded
		 * server may also discard a partial request it cannot grant
		 * yet, and take it on a later try: so not at the first
		 * UNKNOWNs, but after ENG_QUIET_RESTARTS x max_silent_timeouts
		 * restarts without news of it (docs/engine.md, Timeouts) */
		if (t->quiet_restarts >=
		    ENG_QUIET_RESTARTS * e->cfg.max_silent_timeouts) {
			eng_msg_end(e, t, ENG_TX_FAILED, -ETIMEDOUT);
			return;
		}
		eng_tx_restart(e, t, now);
	}
}

static void ctl_busy(struct smt_engine *e, struct eng_session *s,
		     struct eng_epoch *ep, uint64_t id, uint64_t now)
{
	struct eng_rx *r = eng_rx_find(s, ep->num, id);
	struct eng_tx *t;

	/* The sender has what we asked for on its way: wait another
	 * timeout before asking again, and do not count the wait against
	 * the reassembly timeout (the peer, authenticated, is alive). */
	if (r) {
		r->action_at = now;
		r->prov_asks = 0; /* its sender holds it: not forged */
		if (r->verified_at)
			r->verified_at = now;
	}
	/* Our request, whose response we asked for: the server holds it
	 * (docs/protocol.md 8.9), so its next probe waits the base timeout */
	if (id & 1) {
		t = eng_tx_find(s, ep->num, id - 1);
		if (t && t->kind == ENG_TX_REQUEST) {
			eng_tx_alive(t, now);
			t->busy = true;
		}
	}
	/* Our own message being received (answer to NEED_ACK, or a
	 * receiver over its limits): alive. When the peer meant its own
	 * message of the same number, this only delays our next probe. */
	t = eng_tx_find(s, ep->num, id);
	if (t && (t->kind == ENG_TX_ONEWAY || t->kind == ENG_TX_RESPONSE))
		eng_tx_alive(t, now);
}

static void ctl_need_ack(struct smt_engine *e, struct eng_session *s,
			 struct eng_epoch *ep, uint64_t id, uint64_t now)
{
	struct eng_rx *r = eng_rx_find(s, ep->num, id);
	struct eng_tx *req = NULL;
	bool done;

	if (r) {
		/* Still arriving: its own no-progress timer asks for what
		 * is missing; asking now as well would fetch again what is
		 * merely on its way. Tell the sender we hold it. */
		eng_send_ctl(e, s, ep, SMT_TYPE_BUSY, id, 0, 0, 0);
		return;
	}
	if (id & 1) {
		done = smt_req_window_check(&ep->resp_win, id - 1) != 0;
		req = eng_tx_find(s, ep->num, id - 1);
		if (req && req->kind != ENG_TX_REQUEST)
			req = NULL;
	} else {
		done = smt_req_window_check(&ep->req_win, id) != 0;
	}
	if (req) { /* still waiting for it: all of it, please */
		eng_send_ctl(e, s, ep, SMT_TYPE_RESEND, id, 0, 0, SMT_PRIO_MAX);
		ENG_CNT(e, s, resends_need_ack, 1);
	} else if (done || (id & 1))
		/* delivered, or a response to a request no longer
		 * outstanding (cancelled or failed): it may be dropped */
		eng_ack_queue(e, s, ep, id, now);
	else {
		/* a oneway never received: ask for all of it. Never UNKNOWN
		 * here: UNKNOWN names its sender's own message
		 * (docs/protocol.md 8.7) */
		eng_send_ctl(e, s, ep, SMT_TYPE_RESEND, id, 0, 0, SMT_PRIO_MAX);
		ENG_CNT(e, s, resends_need_ack, 1);
	}
}

static void ctl_ack(struct smt_engine *e, struct eng_session *s,
		    struct eng_epoch *ep, const struct smt_ctl *c, uint64_t now)
{
	unsigned int i;

	for (i = 0; i < c->count; i++) {
		struct eng_tx *t = eng_tx_find(s, ep->num, c->ids[i]);

		if (!t)
			continue;
		/* A receipt (docs/protocol.md 4): our request is at the peer,
		 * its response will come. It completes nothing; it only
		 * spares the request its tail-loss probe. */
		if (t->kind == ENG_TX_REQUEST) {
			if (!t->rcpt && !(c->ids[i] & 1)) {
				t->rcpt = ENG_RCPT_HELD;
				ENG_CNT(e, s, rcpts_in, 1);
				eng_tx_heard(t, now);
			}
			continue;
		}
		/* a one-packet message sent once: its ACK closes a round trip
		 * (plus the peer's ACK delay: an estimate on the long side,
		 * which is the safe side for the sender's timers) */
		if ((t->kind == ENG_TX_ONEWAY || t->kind == ENG_TX_RESPONSE) &&
		    !t->retx && t->w.wire_len <= s->max_payload)
			eng_rtt_sample(e, s, now - t->created,
				       e->cfg.ack_delay_ns);
		if (t->kind == ENG_TX_ONEWAY) {
			ENG_CNT(e, s, oneways_acked, 1);
			eng_tx_end(e, t, ENG_TX_DONE, 0);
		} else if (t->kind == ENG_TX_RESPONSE) {
			ENG_CNT(e, s, responses_acked, 1);
			eng_tx_end(e, t, ENG_TX_DONE, 0);
		}
	}
}

static int input_ctl(struct smt_engine *e, struct eng_session *s,
		     const struct smt_pkt *p, uint64_t now)
{
	struct eng_epoch *ep = eng_epoch_find(s, p->epoch);
	struct smt_ctl c;
	struct eng_tx *t;
	uint64_t seq;
	int rc;

	if (!ep)
		return SMT_DROP_NO_EPOCH_KEYS;
	seq = smt_get_be64(p->raw + p->raw_len - SMT_CTL_TRAILER_LEN);
	rc = smt_ctl_window_check(&ep->ctl_win, seq);
	if (rc)
		return rc;
	rc = smt_ctl_verify(ep->rx, p, &c);
	if (rc)
		return rc;
	smt_ctl_window_mark(&ep->ctl_win, seq);
	s->heard_at = now;
	ENG_CNT(e, s, ctl_in, 1);
	switch (c.type) {
	case SMT_TYPE_GRANT:
		ENG_CNT(e, s, grants_in, 1);
		t = eng_tx_find(s, ep->num, c.msg_id);
		if (t && t->kind != ENG_TX_AWAIT) {
			eng_tx_heard(t, now);
			if (c.offset > t->granted)
				t->granted = c.offset < t->w.wire_len
						     ? c.offset
						     : t->w.wire_len;
			t->sched_prio = c.prio;
			eng_tx_pump(e, t);
		}
		break;
	case SMT_TYPE_RESEND:
		ENG_CNT(e, s, resends_in, 1);
		ctl_resend(e, s, ep, &c, now);
		break;
	case SMT_TYPE_UNKNOWN:
		ENG_CNT(e, s, unknown_in, 1);
		ctl_unknown(e, s, ep, c.msg_id, now);
		break;
	case SMT_TYPE_BUSY:
		ENG_CNT(e, s, busy_in, 1);
		ctl_busy(e, s, ep, c.msg_id, now);
		break;
	case SMT_TYPE_NEED_ACK:
		ENG_CNT(e, s, need_acks_in, 1);
		ctl_need_ack(e, s, ep, c.msg_id, now);
		break;
	case SMT_TYPE_ACK:
		ENG_CNT(e, s, acks_in, 1);
		ctl_ack(e, s, ep, &c, now);
		break;
	}
	return 0;
}

/* ---- input ---------------------------------------------------------------------- */

/* A packet of session s: parsed, checked and acted on; 0 or the drop
 * reason (counted). */
static int input_session(struct smt_engine *e, struct eng_session *s,
			 const uint8_t *smt, size_t len, int ipv4_id,
			 uint64_t now_ns)
{
	struct smt_pkt p;
	int rc;

	s->st.pkts_in++;
	s->st.bytes_in += len;
	rc = smt_pkt_parse(smt, len, &s->lim, ipv4_id, &p);
	if (!rc) {
		if (p.type == SMT_TYPE_DATA) {
			ENG_CNT(e, s, data_in, 1);
			rc = eng_rx_data(e, s, &p, now_ns);
		} else {
			rc = input_ctl(e, s, &p, now_ns);
		}
	}
	if (rc > 0)
		eng_drop(e, s, rc);
	else
		rc = 0;
	eng_rcpt_due(e, s, now_ns);
	return rc;
}

int smt_engine_input(struct smt_engine *e, const struct sockaddr *peer,
		     const uint8_t *smt, size_t len, int ipv4_id,
		     uint64_t now_ns)
{
	struct eng_session *s;
	int rc;

	e->now = now_ns;
	e->st.pkts_in++;
	e->st.bytes_in += len;
	if (len < SMT_HDR_LEN) {
		eng_drop(e, NULL, SMT_DROP_SHORT_HEADER);
		return SMT_DROP_SHORT_HEADER;
	}
	s = session_by_addr(e, peer, (uint16_t)(smt[0] << 8 | smt[1]),
			    (uint16_t)(smt[2] << 8 | smt[3]));
	if (!s) /* held for its session, or dropped (protocol.md 8.10) */
		return eng_hold_add(e, peer, smt, len, ipv4_id, now_ns);
	rc = input_session(e, s, smt, len, ipv4_id, now_ns);
	if (e->nquery && !e->backlog)
		queries_answer(e);
	eng_tx_flush(e);
	return rc;
}

/* ---- time ------------------------------------------------------------------------ */

static void session_drain(struct smt_engine *e, struct eng_session *s)
{
	epoch_wipe(e, s, &s->ep[!s->cur], -ETIMEDOUT);
}

void smt_engine_advance(struct smt_engine *e, uint64_t now_ns)
{
	smt_engine_advance_due(e, now_ns, now_ns);
}

void smt_engine_set_backlog(struct smt_engine *e, bool pending)
{
	e->backlog = pending;
}

void smt_engine_advance_due(struct smt_engine *e, uint64_t now_ns,
			    uint64_t due_ns)
{
	struct eng_heap *h = &e->timers;

	e->now = now_ns;
	if (e->nquery && !e->backlog)
		queries_answer(e);
	eng_hold_expire(e, now_ns);
	if (due_ns > now_ns)
		due_ns = now_ns;
	while (h->n && h->a[0]->when <= due_ns) {
		struct eng_timer *t = h->a[0];

		eng_timer_cancel(e, t);
		switch (t->kind) {
		case ENG_T_TX: {
			struct eng_tx *x =
				eng_container_of(t, struct eng_tx, t);
			int err = eng_tx_timer(e, x, now_ns);

			if (err)
				eng_msg_end(e, x, ENG_TX_FAILED, err);
			break;
		}
		case ENG_T_RX:
			eng_rx_timer(e, eng_container_of(t, struct eng_rx, t),
				     now_ns);
			break;
		case ENG_T_ACK:
			eng_ack_flush(e, eng_container_of(t, struct eng_session,
							  ack_t));
			break;
		case ENG_T_DRAIN:
			session_drain(e, eng_container_of(t, struct eng_session,
							  drain_t));
			break;
		case ENG_T_RCPT:
			eng_rcpt_timer(
				e,
				eng_container_of(t, struct eng_session, rcpt_t),
				now_ns);
			break;
		}
	}
	eng_tx_flush(e);
}

unsigned int smt_engine_pull(struct smt_engine *e, unsigned int max)
{
	unsigned int n = eng_tx_pull(e, max);

	eng_tx_flush(e);
	return n;
}

bool smt_engine_tx_pending(const struct smt_engine *e)
{
	return e->txq_head != NULL;
}

void smt_engine_batch_begin(struct smt_engine *e)
{
	e->batch = true;
}

void smt_engine_batch_end(struct smt_engine *e)
{
	e->batch = false;
	if (e->grant_due) {
		e->grant_due = false;
		eng_grant_pass(e);
	}
	eng_tx_flush(e);
}

int smt_engine_cancel(struct smt_engine *e, uint32_t sid, uint64_t id,
		      uint64_t now_ns)
{
	struct eng_session *s = eng_session_find(e, sid);
	uint8_t epoch = smt_engine_id_epoch(id);
	uint64_t mid = smt_engine_id_msg(id);
	struct eng_tx *t;

	if (!s)
		return -ENOENT;
	e->now = now_ns;
	t = eng_tx_find(s, epoch, mid);
	if (t && (t->kind == ENG_TX_REQUEST || t->kind == ENG_TX_ONEWAY)) {
		eng_msg_end(e, t, ENG_TX_FAILED, -ECANCELED);
		eng_tx_flush(e);
		return 0;
	}
	t = eng_tx_find(s, epoch, mid + 1);
	if (t && (t->kind == ENG_TX_AWAIT || t->kind == ENG_TX_RESPONSE)) {
		eng_tx_end(e, t, ENG_TX_DONE, 0);
		return 0;
	}
	return -ENOENT;
}
