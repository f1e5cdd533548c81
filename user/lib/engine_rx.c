// SPDX-License-Identifier: BSD-2-Clause
/*
 * Receiver side of the engine: admission of new messages (request replay
 * window, outstanding requests for responses, memory limits), reassembly
 * through the codec, delivery, RESEND after a timeout without progress,
 * discarding provisional state after a second one, the reassembly timeout,
 * and SRPT grants: the message with the fewest bytes left is granted first,
 * with the total of granted-but-not-received bytes bounded by max_granted.
 */
#include <errno.h>
#include <stdlib.h>

#include "bufpool.h"
#include "dlist.h"
#include "engine_rx.h"

struct eng_rx *eng_rx_find(struct eng_session *s, uint8_t epoch,
			   uint64_t msg_id)
{
	struct eng_hnode *n =
		eng_htab_find(&s->rx, smt_engine_id_make(epoch, msg_id));

	return n ? eng_container_of(n, struct eng_rx, node) : NULL;
}

/* ---- SRPT grant list -------------------------------------------------------- */

/* Granted-not-received bytes, counted against max_granted. Before the
 * message is authenticated only what we granted counts, not what its
 * packets claim the sender may send (granted): a forged claim must not use
 * up the budget of every genuine message. */
static uint64_t outstanding(const struct eng_rx *r)
{
	uint32_t g = r->authed ? r->g : r->gg;

	return g > r->rcvd ? g - r->rcvd : 0;
}

/* What a message is charged against max_rx_bytes: msg_len once a record
 * verified, before that at most one record (the buffers it can hold
 * without a verified record are allocated per packet received). */
static uint64_t charge(const struct eng_rx *r, uint64_t msg_len)
{
	return r->authed || msg_len < ENG_PROV_BYTES ? msg_len : ENG_PROV_BYTES;
}

/*
 * The session's budget of answers (GRANTs and RESENDs) to provisional
 * messages (docs/protocol.md 3.4, "Amplification"), topped up for the
 * time passed; false, counted, when it is used up.
 */
static bool prov_budget(struct smt_engine *e, struct eng_session *s)
{
	uint64_t n = e->now > s->prov_at
			     ? (e->now - s->prov_at) / ENG_PROV_REFILL_NS
			     : 0;

	if (n) {
		s->prov_at += n * ENG_PROV_REFILL_NS;
		s->prov_credit = n < ENG_PROV_BURST - s->prov_credit
					 ? s->prov_credit + (uint32_t)n
					 : ENG_PROV_BURST;
	}
	if (!s->prov_credit)
		ENG_CNT(e, s, prov_withheld, 1);
	return s->prov_credit > 0;
}

/* Takes one answer for provisional r from the budget. */
static bool prov_take(struct smt_engine *e, struct eng_rx *r)
{
	struct eng_session *s = r->s;

	if (!prov_budget(e, s))
		return false;
	s->prov_credit--;
	if (r->prov_taken < UINT8_MAX)
		r->prov_taken++;
	return true;
}

/* r was authenticated: what it took from the budget goes back. */
static void prov_give_back(struct eng_rx *r)
{
	struct eng_session *s = r->s;

	s->prov_credit = r->prov_taken < ENG_PROV_BURST - s->prov_credit
				 ? s->prov_credit + r->prov_taken
				 : ENG_PROV_BURST;
	r->prov_taken = 0;
}

static uint32_t remaining(const struct eng_rx *r)
{
	return r->msg_len > r->rcvd ? r->msg_len - r->rcvd : 0;
}

static void glist_unlink(struct smt_engine *e, struct eng_rx *r)
{
	if (!r->in_glist)
		return;
	DLIST_DEL(e->g_head, e->g_tail, r, gprev, gnext);
	r->in_glist = false;
}

/* Puts r where SRPT order wants it, searching back from hint. */
static void glist_place(struct smt_engine *e, struct eng_rx *r)
{
	struct eng_rx *p = r->in_glist ? r->gprev : e->g_tail;
	struct eng_rx *n = r->in_glist ? r->gnext : NULL;
	uint32_t rem = remaining(r);

	glist_unlink(e, r);
	if (!r->msg_len || r->g >= r->msg_len)
		return;
	while (n && remaining(n) < rem) {
		p = n;
		n = n->gnext;
	}
	while (p && remaining(p) > rem)
		p = p->gprev;
	r->gprev = p;
	r->gnext = p ? p->gnext : e->g_head;
	if (r->gnext)
		r->gnext->gprev = r;
	else
		e->g_tail = r;
	if (p)
		p->gnext = r;
	else
		e->g_head = r;
	r->in_glist = true;
}

static uint8_t grant_prio(unsigned int rank)
{
	return rank < 3 ? (uint8_t)(3 - rank) : 0;
}

/* b, at least one full DATA packet of r's session. */
static uint32_t at_least_pkt(const struct eng_rx *r, uint32_t b)
{
	return b > r->s->max_payload ? b : r->s->max_payload;
}

/* Smallest grant worth a packet: cfg.grant_step. */
static uint32_t grant_step(const struct smt_engine *e, const struct eng_rx *r)
{
	return at_least_pkt(r, e->cfg.grant_step);
}

/* Scheduled bytes of the peer above a message's priority that say it is
 * overtaken, not lost: an eighth of the window (not grant_step: a larger
 * step must not hold back the RESENDs of a message that is lost). */
static uint32_t overtake_bytes(const struct smt_engine *e,
			       const struct eng_rx *r)
{
	return at_least_pkt(r, e->cfg.grant_window / 8);
}

/* New bytes the session received at a priority our GRANTs give (0 to
 * grant_prio(0)) above prio: scheduled traffic that we rank before a
 * message granted at prio. Unscheduled bytes (higher priorities) do not
 * count: a small message's loss must be asked for at once. */
static uint64_t bytes_above(const struct eng_session *s, uint8_t prio)
{
	uint64_t n = 0;
	unsigned int p;

	for (p = prio + 1u; p <= grant_prio(0); p++)
		n += s->prio_bytes[p];
	return n;
}

/* Its missing bytes may now travel at prio: from here on, the traffic
 * above that is what may hold them back. */
static void lower_prio(struct eng_rx *r, uint8_t prio)
{
	if (prio < r->prio) {
		r->prio = prio;
		r->above_seen = bytes_above(r->s, prio);
	}
}

/* above: bytes_above(r->s, r->prio) now. */
static bool overtaken(const struct smt_engine *e, const struct eng_rx *r,
		      uint64_t above)
{
	return r->authed && above - r->above_seen >= overtake_bytes(e, r);
}

bool eng_rx_overtaken(const struct smt_engine *e, const struct eng_rx *r)
{
	return overtaken(e, r, bytes_above(r->s, r->prio));
}

void eng_grant_soon(struct smt_engine *e)
{
	if (e->batch)
		e->grant_due = true;
	else
		eng_grant_pass(e);
}

void eng_grant_pass(struct smt_engine *e)
{
	struct eng_rx *r, *next;
	unsigned int rank = 0;

	for (r = e->g_head; r && rank < e->cfg.max_grant_msgs; r = next) {
		struct eng_epoch *ep = eng_epoch_find(r->s, r->epoch);
		uint64_t want, add, room, old;

		next = r->gnext;
		if (!ep)
			continue;
		want = (uint64_t)r->rcvd + e->cfg.grant_window;
		if (want > r->msg_len)
			want = r->msg_len;
		/* Provisional (maybe forged): no SRPT rank while it needs no
		 * grant, and a GRANT only when bytes came since our last one
		 * (at most one per DATA packet, docs/protocol.md 3.4). */
		if (!r->authed && (want <= r->g || ((r->gg || r->prov_held) &&
						    r->rcvd <= r->gg_rcvd)))
			continue;
		rank++;
		if (want <= r->g)
			continue;
		if (e->granted_out >= e->cfg.max_granted)
			break;
		add = want - r->g;
		room = e->cfg.max_granted - e->granted_out;
		/* Not worth a GRANT yet: one per packet received would double
		 * the packets on the path (and their per-packet cost). When
		 * the max_granted budget is what limits, a packet's worth is
		 * enough (waiting for more could wait forever). */
		if (add > room) {
			add = room;
			if (r->g + add < r->msg_len && add < r->s->max_payload)
				continue;
		} else if (r->g + add < r->msg_len && add < grant_step(e, r)) {
			continue;
		}
		if (!r->authed && !prov_take(e, r)) {
			/* none until bytes come again */
			r->prov_held = true;
			r->gg_rcvd = r->rcvd;
			continue;
		}
		old = outstanding(r);
		if (!r->gprobe_at) {
			r->gprobe_at = e->now ? e->now : 1;
			r->gprobe_off = r->g;
		}
		r->g += (uint32_t)add;
		r->gg = r->g;
		r->gg_rcvd = r->rcvd;
		e->granted_out += outstanding(r) - old;
		lower_prio(r, grant_prio(rank - 1));
		eng_send_ctl(e, r->s, ep, SMT_TYPE_GRANT, r->msg_id, r->g, 0,
			     grant_prio(rank - 1));
		if (r->g >= r->msg_len)
			glist_unlink(e, r);
	}
}

void eng_msg_end(struct smt_engine *e, struct eng_tx *t,
		 enum eng_tx_outcome how, int err)
{
	if (t->resp)
		eng_rx_free(e, t->resp);
	eng_tx_end(e, t, how, err);
}

/* ---- state ----------------------------------------------------------------- */

/* Re-reads what the codec holds: bytes, msg_len, reservation, SRPT place. */
static void rx_update(struct smt_engine *e, struct eng_rx *r, uint32_t hint_g)
{
	struct eng_session *s = r->s;
	uint64_t old = outstanding(r), want;

	r->rcvd = smt_rx_msg_received(r->m);
	r->msg_len = smt_rx_msg_len(r->m);
	r->authed = smt_rx_msg_any_verified(r->m);
	if (r->authed && r->prov_taken)
		prov_give_back(r);
	if (hint_g > r->g)
		r->g = hint_g;
	if (r->msg_len && r->g > r->msg_len)
		r->g = r->msg_len;
	e->granted_out = e->granted_out - old + outstanding(r);
	want = r->msg_len ? charge(r, r->msg_len) : r->reserved;
	if (want != r->reserved) {
		e->st.rx_bytes += want - r->reserved;
		s->st.rx_bytes += want - r->reserved;
		r->reserved = want;
	}
	glist_place(e, r);
}

void eng_rx_free(struct smt_engine *e, struct eng_rx *r)
{
	struct eng_session *s = r->s;

	eng_timer_cancel(e, &r->t);
	eng_htab_del(&s->rx, &r->node);
	glist_unlink(e, r);
	e->granted_out -= outstanding(r);
	e->st.rx_msgs--;
	s->st.rx_msgs--;
	s->rx_msgs--;
	e->rx_active--;
	e->st.rx_bytes -= r->reserved;
	s->st.rx_bytes -= r->reserved;
	if (r->req)
		r->req->resp = NULL;
	smt_rx_msg_free(r->m);
	free(r);
}

static uint8_t resend_prio(const struct smt_engine *e, const struct eng_rx *r)
{
	return r->msg_len && r->msg_len <= e->cfg.unsched_bytes ? SMT_PRIO_MAX
								: 3;
}

#define ENG_MAX_RANGES 8

/* Missing ranges inside what the sender may send; count or 0. */
static int missing_granted(const struct eng_rx *r, struct smt_range *rg)
{
	int n = smt_rx_msg_missing(r->m, rg, ENG_MAX_RANGES), i, k = 0;

	if (n == 1 && !rg[0].off && !rg[0].len) {
		/* msg_len unknown (discarded): what the sender may send */
		rg[0].len = r->g;
		return 1; /* 0/0: the whole message */
	}
	for (i = 0; i < n; i++) {
		if (rg[i].off >= r->g)
			continue;
		rg[k].off = rg[i].off;
		rg[k].len = rg[i].len < r->g - rg[i].off ? rg[i].len
							 : r->g - rg[i].off;
		k++;
	}
	return k;
}

unsigned int eng_rx_ask(struct smt_engine *e, struct eng_rx *r)
{
	struct eng_epoch *ep = eng_epoch_find(r->s, r->epoch);
	struct smt_range rg[ENG_MAX_RANGES];
	uint32_t budget = e->cfg.grant_window;
	int n, i;

	if (!ep)
		return 0;
	/* Provisional: one RESEND per ask (spanning its holes; the sender
	 * skips what it sent less than a timeout ago) and ENG_PROV_ASKS without
	 * progress in all, then eng_rx_timer() frees it (a forged first
	 * packet costs its victim a constant number of packets). */
	if (!r->authed && r->prov_asks >= ENG_PROV_ASKS)
		return 0;
	r->gprobe_at = 0; /* what comes next may answer this, not a GRANT */
	n = missing_granted(r, rg);
	if (!r->authed && n > 1) { /* one RESEND spanning every hole */
		rg[0].len = rg[n - 1].off + rg[n - 1].len - rg[0].off;
		n = 1;
	}
	if (!r->authed && n) {
		if (!prov_take(e, r))
			return 0; /* eng_rx_timer() frees it */
		r->prov_asks++;
	}
	/* At most a grant window of retransmission per timeout: asking for
	 * more while the sender's queue still holds the last answer only
	 * feeds a congestion collapse. */
	for (i = 0; i < n && budget > 0; i++) {
		uint32_t len = rg[i].len < budget ? rg[i].len : budget;

		if (rg[i].len)
			budget -= len;
		eng_send_ctl(e, r->s, ep, SMT_TYPE_RESEND, r->msg_id, rg[i].off,
			     len, resend_prio(e, r));
	}
	return (unsigned int)i;
}

void eng_rx_timer(struct smt_engine *e, struct eng_rx *r, uint64_t now)
{
	struct eng_session *s = r->s;
	struct smt_range rg[ENG_MAX_RANGES];
	uint64_t rto = eng_rto(e, s), wait;
	uint64_t base, dead, since, above;
	bool waiting = !missing_granted(r, rg);

	/* Everything granted is in: the message waits for our grants
	 * (others go first by SRPT), not for its sender. A message with a
	 * verified record is not timed out for that. */
	if (waiting && r->verified_at)
		r->verified_at = now;
	/* Nor is a response that waits for our grants silence about the
	 * request. */
	if (waiting && r->req)
		eng_tx_heard(r->req, now);
	/* The reassembly deadline counts in base timeouts (or the largest
	 * adaptive one the timer has seen): a timeout that follows a short
	 * round trip asks sooner, it does not give up sooner. */
	if (rto > r->rto_hi)
		r->rto_hi = rto;
	base = r->verified_at ? r->verified_at : r->first_at;
	dead = base +
	       e->cfg.reasm_timeouts * (r->rto_hi > e->cfg.resend_timeout_ns
						? r->rto_hi
						: e->cfg.resend_timeout_ns);
	since = r->progress_at > r->action_at ? r->progress_at : r->action_at;
	if (now >= dead) {
		eng_drop(e, s, SMT_DROP_REASSEMBLY_TIMEOUT);
		eng_rx_free(e, r);
		eng_grant_soon(e);
		return;
	}
	/* Each RESEND without progress doubles the wait for the next. */
	wait = eng_rto_backoff(e, s, r->backoff);
	if (now >= since + wait) {
		r->action_at = now;
		/* provisional, and its RESENDs brought nothing, or the
		 * budget allows none (then its UNKNOWN would have freed
		 * it: a flood cannot make forged state live longer) */
		if (!r->authed &&
		    (r->prov_asks >= ENG_PROV_ASKS || !prov_budget(e, s))) {
			ENG_CNT(e, s, prov_freed, 1);
			eng_drop(e, s, SMT_DROP_REASSEMBLY_TIMEOUT);
			eng_rx_free(e, r);
			eng_grant_soon(e);
			return;
		}
		above = bytes_above(s, r->prio);
		if (!waiting && overtaken(e, r, above)) {
			/* Overtaken, not lost: since the timer last looked,
			 * the peer's DATA at a higher priority than ours
			 * (another message we rank first) kept coming, and in
			 * a strict priority queue ours waits behind it.
			 * Asking again would put a second copy on the path
			 * ahead of the first, the storm a congested link
			 * feeds on. Time it as a message waiting for us. */
			if (r->verified_at)
				r->verified_at = now;
			if (r->req)
				eng_tx_heard(r->req, now);
		} else if (!waiting) {
			ENG_CNT(e, s, resend_timeouts, 1);
			/* Discard only when DATA came that did not fit (a
			 * forged packet may block the real bytes): when
			 * nothing came, the sender or the path is only slow
			 * and what we hold is good. */
			if (++r->noprog >= 2 && r->stuck) {
				smt_rx_msg_discard_provisional(r->m);
				ENG_CNT(e, s, discards, 1);
				r->noprog = 0;
				rx_update(e, r, 0);
				r->stuck = false;
			}
			ENG_CNT(e, s, resends_timer, eng_rx_ask(e, r));
			if (r->backoff < UINT8_MAX)
				r->backoff++;
		} else if (!r->authed) {
			r->prov_asks++; /* waits for a grant: no news either */
		}
		r->above_seen = above;
		since = now;
		wait = eng_rto_backoff(e, s, r->backoff);
	}
	eng_timer_arm(e, &r->t, since + wait < dead ? since + wait : dead);
}

/* ---- delivery ------------------------------------------------------------------ */

static void rx_deliver(struct smt_engine *e, struct eng_session *s,
		       struct eng_epoch *ep, struct eng_rx *r, uint64_t now)
{
	uint64_t mid = r->msg_id;
	struct eng_tx *req = r->req;
	uint32_t len = 0, inner = 0;
	uint8_t *app = NULL;
	int rc;

	s->heard_at = now;
	rc = smt_rx_msg_take(r->m, &app, &len, &inner);
	if (!rc && (mid & 1) && (inner & SMT_INNER_ONEWAY))
		rc = SMT_DROP_BAD_INNER; /* a response is never ONEWAY */
	if (!rc && !(mid & 1) && smt_req_window_check(&ep->req_win, mid))
		rc = SMT_DROP_DUPLICATE;
	eng_rx_free(e, r);
	if (rc) {
		free(app);
		eng_drop(e, s, rc);
		return;
	}
	ENG_CNT(e, s, msgs_delivered, 1);
	if (mid & 1) {
		smt_req_window_mark(&ep->resp_win, mid - 1);
		ENG_CNT(e, s, rpcs_ok, 1);
		eng_event_push(e, s, SMT_ENGINE_EV_RESPONSE,
			       smt_engine_id_make(ep->num, mid - 1),
			       req ? req->cookie : 0, 0, app, len, true);
		if (req)
			eng_tx_end(e, req, ENG_TX_DONE, 0);
		eng_ack_queue(e, s, ep, mid, now);
		return;
	}
	/* Marked only now that every record verified (section 4). */
	smt_req_window_mark(&ep->req_win, mid);
	if (inner & SMT_INNER_ONEWAY) {
		eng_event_push(e, s, SMT_ENGINE_EV_ONEWAY,
			       smt_engine_id_make(ep->num, mid), 0, 0, app, len,
			       true);
		eng_ack_queue(e, s, ep, mid, now);
		return;
	}
	eng_tx_new_await(e, s, ep->num, mid);
	eng_event_push(e, s, SMT_ENGINE_EV_REQUEST,
		       smt_engine_id_make(ep->num, mid), 0, 0, app, len, true);
}

/* ---- DATA in ------------------------------------------------------------------- */

/* DATA that brought nothing new; flagged RETRANSMIT, it was a spurious
 * retransmission (an earlier copy had arrived). */
static void rx_dup(struct smt_engine *e, struct eng_session *s,
		   const struct smt_pkt *p)
{
	ENG_CNT(e, s, dup_data_in, 1);
	if (p->flags & SMT_F_RETRANSMIT) {
		ENG_CNT(e, s, spurious_rtx_in, 1);
		eng_spur_step(e, s, ENG_SPUR_EARLY);
	}
}

/* Checks whether a first packet of msg_id may open reassembly state. */
static int rx_admit(struct smt_engine *e, struct eng_session *s,
		    struct eng_epoch *ep, const struct smt_pkt *p,
		    struct eng_tx **req)
{
	uint64_t mid = p->msg_id;
	struct eng_tx *t;

	*req = NULL;
	if (!(mid & 1)) {
		/* Dropped without decrypting (section 4). */
		if (smt_req_window_check(&ep->req_win, mid)) {
			t = eng_tx_find(s, ep->num, mid + 1);
			return t ? SMT_DROP_DUPLICATE : SMT_DROP_REQ_REPLAY;
		}
	} else {
		t = eng_tx_find(s, ep->num, mid - 1);
		if (!t || t->kind != ENG_TX_REQUEST)
			return smt_req_window_check(&ep->resp_win, mid - 1)
				       ? SMT_DROP_DUPLICATE
				       : SMT_DROP_UNEXPECTED_RESPONSE;
		*req = t;
	}
	/* Responses to our outstanding requests are always taken: they are
	 * bounded by max_tx_msgs, and refusing them could leave two hosts
	 * each waiting for the other's ACK to free a slot. */
	if (*req)
		return 0;
	if (e->st.rx_msgs + e->nresp >= e->cfg.max_rx_msgs ||
	    s->rx_msgs + s->nresp >= e->cfg.max_rx_msgs_session ||
	    e->st.rx_bytes + p->msg_len > e->cfg.max_rx_bytes) {
		if (!p->pkt_off) /* once per message start: alive, full */
			eng_send_ctl(e, s, ep, SMT_TYPE_BUSY, mid, 0, 0, 0);
		return SMT_DROP_LIMIT;
	}
	return 0;
}

static struct eng_rx *rx_new(struct smt_engine *e, struct eng_session *s,
			     struct eng_epoch *ep, const struct smt_pkt *p,
			     struct eng_tx *req, uint64_t now)
{
	struct eng_rx *r = smt_zalloc(sizeof(*r));

	if (!r)
		return NULL;
	r->m = smt_rx_msg_new(p->msg_id, &s->lim);
	if (!r->m) {
		free(r);
		return NULL;
	}
	r->s = s;
	r->epoch = ep->num;
	r->msg_id = p->msg_id;
	r->t.idx = ENG_T_IDLE;
	r->t.kind = ENG_T_RX;
	r->first_at = r->progress_at = r->action_at = now;
	r->reserved = charge(r, p->msg_len);
	e->st.rx_msgs++;
	s->st.rx_msgs++;
	e->rx_active++;
	s->rx_msgs++;
	e->st.rx_bytes += r->reserved;
	s->st.rx_bytes += r->reserved;
	eng_htab_add(&s->rx, &r->node, smt_engine_id_make(ep->num, p->msg_id));
	if (req) {
		bool once = !req->retx && !(p->flags & SMT_F_RETRANSMIT);

		r->req = req;
		req->resp = r;
		/* Karn: only requests that went out once answered by a
		 * response packet sent once (not one our probe asked for),
		 * timed from the request's last packet (the sample is then a
		 * round trip plus the peer's service time, not our transfer
		 * time; a one-packet request's from its creation, as it
		 * always was). One-packet requests also keep their own
		 * estimate (eng_rpc_sample); without the others, a session of
		 * multi-packet RPCs never measured a round trip and kept the
		 * base timeout's probes and ACK timers (docs/engine.md
		 * "Unloaded 4 KiB to 64 KiB RPCs") */
		if (once && req->w.wire_len <= s->max_payload) {
			eng_rtt_sample(e, s, now - req->created, 0);
			eng_rpc_sample(s, now - req->created);
		} else if (once && req->sent_hi >= req->w.wire_len &&
			   now >= req->last_sent) {
			eng_rtt_sample(e, s, now - req->last_sent, 0);
		}
	}
	r->rto_hi = eng_rto(e, s);
	r->prio = p->prio > SMT_PRIO_MAX ? SMT_PRIO_MAX : p->prio;
	r->above_seen = bytes_above(s, r->prio);
	eng_timer_arm(e, &r->t, now + r->rto_hi);
	return r;
}

int eng_rx_data(struct smt_engine *e, struct eng_session *s,
		const struct smt_pkt *p, uint64_t now)
{
	struct eng_epoch *ep = eng_epoch_find(s, p->epoch);
	struct eng_tx *req;
	struct eng_rx *r;
	unsigned int fails;
	bool progress = false;
	uint32_t hint;
	uint8_t prio;
	int rc;

	if (!ep)
		return SMT_DROP_NO_EPOCH_KEYS;
	r = eng_rx_find(s, ep->num, p->msg_id);
	if (!r) {
		rc = rx_admit(e, s, ep, p, &req);
		if (rc == SMT_DROP_DUPLICATE)
			rx_dup(e, s, p); /* of a message delivered */
		if (rc)
			return rc;
		r = rx_new(e, s, ep, p, req, now);
		if (!r)
			return SMT_DROP_NO_MEMORY;
	}
	/* The first packet a GRANT allowed closes a round trip (Karn: not
	 * from a retransmission, which may answer an older request). */
	if (r->gprobe_at && p->pkt_off >= r->gprobe_off) {
		if (!(p->flags & SMT_F_RETRANSMIT) && now > r->gprobe_at)
			eng_rtt_sample(e, s, now - r->gprobe_at, 0);
		r->gprobe_at = 0;
	}
	fails = smt_rx_msg_max_record_failures(r->m);
	rc = smt_rx_msg_add(r->m, p, ep->rx, &progress);
	r->stuck = !progress;
	if (rc == SMT_RX_MORE && !progress)
		rx_dup(e, s, p); /* held already */
	if (progress) {
		eng_spur_step(e, s,
			      p->flags & SMT_F_RETRANSMIT ? ENG_SPUR_USEFUL
							  : ENG_SPUR_NEW);
		r->progress_at = now;
		r->noprog = 0;
		r->backoff = 0;
		r->prov_asks = 0;
		if (r->req)
			eng_tx_heard(r->req, now);
		if (smt_rx_msg_any_verified(r->m)) {
			r->verified_at = now;
			prio = p->prio > SMT_PRIO_MAX ? SMT_PRIO_MAX : p->prio;
			/* new bytes: the packet's, give or take an overlap */
			s->prio_bytes[prio] += p->payload_len;
			lower_prio(r, prio);
		}
	}
	if (rc == SMT_RX_DONE) {
		rx_deliver(e, s, ep, r, now);
		eng_grant_soon(e);
		return 0;
	}
	/* The sender's granted field is a hint of what it may send. */
	hint = p->granted < p->msg_len ? p->granted : p->msg_len;
	rx_update(e, r, hint);
	if (rc > 0 && smt_rx_msg_max_record_failures(r->m) > fails) {
		if (smt_rx_msg_max_record_failures(r->m) >= 3) {
			eng_drop(e, s, rc);
			eng_rx_free(e, r);
			eng_grant_soon(e);
			return SMT_DROP_RECORD_FAILED;
		}
		/* that record's range, again */
		ENG_CNT(e, s, resends_record, eng_rx_ask(e, r));
	}
	eng_grant_soon(e);
	return rc > 0 ? rc : 0;
}
