// SPDX-License-Identifier: BSD-2-Clause
/*
 * The bottom layer of the protocol engine (engine_int.h): the hash table
 * and timer heap, counters and drops, the event queue's push side, key
 * epochs by number, packets out (raw and control, with ctl_seq and the
 * reuseport group's shared counters), ACK batching, and the round-trip
 * estimate with the timeouts derived from it. It calls nothing of the
 * sender (engine_tx.c), the receiver (engine_rx.c) or engine.c above it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bufpool.h"
#include "engine_int.h"

/* ---- hash table ----------------------------------------------------------- */

static size_t eng_hash(uint64_t k, size_t nb)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return (size_t)k & (nb - 1);
}

int eng_htab_init(struct eng_htab *t, size_t nb)
{
	t->b = calloc(nb, sizeof(*t->b));
	if (!t->b)
		return -ENOMEM;
	t->nb = nb;
	t->n = 0;
	return 0;
}

void eng_htab_fini(struct eng_htab *t)
{
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
}

static void eng_htab_grow(struct eng_htab *t)
{
	size_t nb = t->nb * 2, i;
	struct eng_hnode **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (i = 0; i < t->nb; i++) {
		struct eng_hnode *n = t->b[i], *next;

		for (; n; n = next) {
			size_t h = eng_hash(n->key, nb);

			next = n->next;
			n->next = b[h];
			b[h] = n;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

void eng_htab_add(struct eng_htab *t, struct eng_hnode *n, uint64_t key)
{
	size_t h;

	if (t->n >= t->nb)
		eng_htab_grow(t);
	h = eng_hash(key, t->nb);
	n->key = key;
	n->next = t->b[h];
	t->b[h] = n;
	t->n++;
}

void eng_htab_del(struct eng_htab *t, struct eng_hnode *n)
{
	struct eng_hnode **pp = &t->b[eng_hash(n->key, t->nb)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->n--;
			return;
		}
	}
}

struct eng_hnode *eng_htab_find(const struct eng_htab *t, uint64_t key)
{
	struct eng_hnode *n = t->b[eng_hash(key, t->nb)];

	while (n && n->key != key)
		n = n->next;
	return n;
}

struct eng_hnode *eng_htab_next(const struct eng_hnode *n)
{
	struct eng_hnode *m = n->next;

	while (m && m->key != n->key)
		m = m->next;
	return m;
}

struct eng_hnode *eng_htab_any(const struct eng_htab *t)
{
	size_t i;

	if (!t->n)
		return NULL;
	for (i = 0; i < t->nb; i++)
		if (t->b[i])
			return t->b[i];
	return NULL;
}

/* ---- timer heap ----------------------------------------------------------- */

static void heap_set(struct eng_heap *h, size_t i, struct eng_timer *t)
{
	h->a[i] = t;
	t->idx = (uint32_t)i;
}

static void heap_up(struct eng_heap *h, size_t i)
{
	struct eng_timer *t = h->a[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (h->a[p]->when <= t->when)
			break;
		heap_set(h, i, h->a[p]);
		i = p;
	}
	heap_set(h, i, t);
}

static void heap_down(struct eng_heap *h, size_t i)
{
	struct eng_timer *t = h->a[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1]->when < h->a[c]->when)
			c++;
		if (h->a[c]->when >= t->when)
			break;
		heap_set(h, i, h->a[c]);
		i = c;
	}
	heap_set(h, i, t);
}

void eng_timer_cancel(struct smt_engine *e, struct eng_timer *t)
{
	struct eng_heap *h = &e->timers;
	struct eng_timer *moved;
	size_t i = t->idx;

	if (i == ENG_T_IDLE)
		return;
	t->idx = ENG_T_IDLE;
	h->n--;
	if (i == h->n)
		return;
	moved = h->a[h->n];
	heap_set(h, i, moved);
	heap_down(h, i);
	heap_up(h, moved->idx);
}

void eng_timer_arm(struct smt_engine *e, struct eng_timer *t, uint64_t when)
{
	struct eng_heap *h = &e->timers;

	if (t->idx != ENG_T_IDLE) {
		uint64_t old = t->when;

		t->when = when;
		if (when < old)
			heap_up(h, t->idx);
		else
			heap_down(h, t->idx);
		return;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct eng_timer **a = realloc(h->a, cap * sizeof(*a));

		if (!a)
			return; /* the object stays without a timer: its
				   limits and the peer's timers still act */
		h->a = a;
		h->cap = cap;
	}
	t->when = when;
	heap_set(h, h->n++, t);
	heap_up(h, h->n - 1);
}

#define ENG_RTO_MAX_MULT 16
#define ENG_BACKOFF_MAX 16 /* doublings (then resend_timeout_ns caps) */

static uint64_t rto_clamp(const struct smt_engine *e, uint64_t v)
{
	uint64_t lo = e->cfg.rto_min_ns;
	uint64_t hi = e->cfg.resend_timeout_ns * ENG_RTO_MAX_MULT;

	if (v < lo)
		return lo;
	return v < hi ? v : hi;
}

uint64_t eng_rto(const struct smt_engine *e, const struct eng_session *s)
{
	if (!s->srtt)
		return rto_clamp(e, e->cfg.resend_timeout_ns << s->spur);
	return rto_clamp(e, (s->srtt + 4 * s->rttvar) << s->spur);
}

void eng_spur_step(struct smt_engine *e, struct eng_session *s,
		   enum eng_spur ev)
{
	uint64_t rto = eng_rto(e, s);

	switch (ev) {
	case ENG_SPUR_EARLY: /* at most one finding per RTO */
		if (s->spur >= ENG_SPUR_MAX || e->now < s->spur_at + rto)
			return;
		s->spur++;
		break;
	case ENG_SPUR_USEFUL:
		if (!s->spur || e->now < s->spur_at + rto)
			return;
		s->spur--;
		break;
	case ENG_SPUR_NEW:
		if (!s->spur || e->now < s->spur_at + ENG_SPUR_DECAY * rto)
			return;
		s->spur--;
		break;
	}
	s->spur_at = e->now;
}

uint64_t eng_rto_backoff(const struct smt_engine *e,
			 const struct eng_session *s, unsigned int n)
{
	uint64_t rto = eng_rto(e, s), hi = e->cfg.resend_timeout_ns;

	if (rto >= hi)
		return rto;
	rto <<= n < ENG_BACKOFF_MAX ? n : ENG_BACKOFF_MAX;
	return rto < hi ? rto : hi;
}

uint64_t eng_rtt_guard(const struct smt_engine *e, const struct eng_session *s)
{
	uint64_t g = s->rtt_min + s->rtt_min / 2, rto = eng_rto(e, s);

	if (!s->srtt)
		return rto; /* nothing measured: the base timeout */
	if (g < e->cfg.rto_min_ns / 2)
		g = e->cfg.rto_min_ns / 2;
	return g < rto ? g : rto;
}

uint64_t eng_silence_limit(const struct smt_engine *e,
			   const struct eng_session *s)
{
	uint64_t rto = eng_rto(e, s);

	if (rto < e->cfg.resend_timeout_ns)
		rto = e->cfg.resend_timeout_ns;
	return (e->cfg.max_silent_timeouts + 1) * rto;
}

/* A one-packet request's round trip to its response, smoothed apart from
 * srtt: srtt also takes GRANT samples, which hold the time the peer's
 * earlier granted packets take to leave before the one the GRANT allowed
 * (a large transfer natively on IP: hundreds of us), so the tail-loss
 * probe of a small request next to a transfer waited 2 srtt for a lost
 * packet instead of a few round trips (Timeouts rule 3). */
void eng_rpc_sample(struct eng_session *s, uint64_t rtt)
{
	s->rpc_srtt = s->rpc_srtt ? s->rpc_srtt - s->rpc_srtt / 8 + rtt / 8
				  : rtt;
	if (!s->rpc_srtt)
		s->rpc_srtt = 1;
}

/* RFC 6298 smoothing: srtt += (r - srtt) / 8, rttvar += (|d| - rttvar) / 4. */
void eng_rtt_sample(struct smt_engine *e, struct eng_session *s, uint64_t rtt,
		    uint64_t delay)
{
	uint64_t d, m = rtt > delay ? rtt - delay : 1;

	ENG_CNT(e, s, rtt_samples, 1);
	/* The path's round trip without queueing: the smallest sample less
	 * the peer's delay (samples after a busy peer only come longer),
	 * drifting up by 1/64 of the difference so that a changed path is
	 * learnt again. */
	if (!s->rtt_min || m < s->rtt_min)
		s->rtt_min = m;
	else
		s->rtt_min += (m - s->rtt_min) / 64;
	if (!s->srtt) {
		s->srtt = rtt ? rtt : 1;
		s->rttvar = rtt / 2;
		return;
	}
	d = rtt > s->srtt ? rtt - s->srtt : s->srtt - rtt;
	s->rttvar = s->rttvar - s->rttvar / 4 + d / 4;
	s->srtt = s->srtt - s->srtt / 8 + rtt / 8;
	if (!s->srtt)
		s->srtt = 1;
}

/* ---- counters and sessions by id --------------------------------------------- */

struct eng_session *eng_session_find(const struct smt_engine *e, uint32_t id)
{
	struct eng_hnode *n = eng_htab_find(&e->by_id, id);

	return n ? eng_container_of(n, struct eng_session, id_node) : NULL;
}

void eng_drop(struct smt_engine *e, struct eng_session *s, int reason)
{
	if (reason <= 0 || reason >= SMT_DROP_MAX)
		reason = SMT_DROP_NONE;
	e->st.drops[reason]++;
	e->st.drops_total++;
	if (s) { /* NULL before a session is known */
		s->st.drops[reason]++;
		s->st.drops_total++;
	}
}

/* ---- events ------------------------------------------------------------------ */

int eng_event_push(struct smt_engine *e, struct eng_session *s,
		   enum smt_engine_ev_type type, uint64_t id, uint64_t cookie,
		   int error, uint8_t *data, uint32_t len, bool charge)
{
	struct eng_event *v = smt_zalloc(sizeof(*v));

	if (!v) {
		free(data);
		return -ENOMEM;
	}
	v->ev.type = type;
	v->ev.session = s->id;
	v->ev.session_user = s->user;
	v->ev.id = id;
	v->ev.cookie = cookie;
	v->ev.error = error;
	v->ev.data = data;
	v->ev.len = len;
	if (charge) {
		v->charged = len;
		v->charged_msg = true;
		ENG_CNT(e, s, rx_bytes, len);
		e->st.rx_msgs++; /* the session's own cap counts reassembly */
	}
	if (e->ev_tail)
		e->ev_tail->next = v;
	else
		e->ev_head = v;
	e->ev_tail = v;
	ENG_CNT(e, s, events, 1);
	return 0;
}

/* ---- output -------------------------------------------------------------------- */

void eng_send_rawv(struct smt_engine *e, struct eng_session *s,
		   const uint8_t *pkt, size_t len, const uint8_t *payload,
		   size_t plen, uint8_t prio)
{
	struct smt_engine_tx tx = {
		.session = s->id,
		.session_user = s->user,
		.peer = &s->peer,
		.pkt = pkt,
		.len = len,
		.payload = plen ? payload : NULL,
		.payload_len = plen,
		.prio = prio,
	};

	if (e->closing)
		return;
	e->sent = true;
	if (plen) /* sent from where it lies: held until tx_done */
		e->tx_refs = true;
	if (e->ops.send(e->ctx, &tx) < 0) {
		ENG_CNT(e, s, tx_errors, 1);
		return;
	}
	ENG_CNT(e, s, pkts_out, 1);
	ENG_CNT(e, s, bytes_out, len + plen);
}

void eng_send_raw(struct smt_engine *e, struct eng_session *s,
		  const uint8_t *pkt, size_t len, uint8_t prio)
{
	eng_send_rawv(e, s, pkt, len, NULL, 0, prio);
}

/* Raises a shared counter to v (never lowers it). */
static void share_raise(_Atomic uint64_t *a, uint64_t v)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);

	while (old < v &&
	       !atomic_compare_exchange_weak_explicit(
		       a, &old, v, memory_order_relaxed, memory_order_relaxed))
		;
}

/* Our next ctl_seq: above our last and the group's (when the session is
 * shared), in our lane (ctl_seq % lanes == lane); never 0. */
static uint64_t eng_next_ctl_seq(const struct smt_engine *e,
				 const struct eng_session *s,
				 const struct eng_epoch *ep)
{
	uint64_t v = ep->ctl_seq + 1, g, n = e->cfg.lanes;

	if (s->share) {
		g = atomic_load_explicit(&s->share->ctl_seq[ep->num],
					 memory_order_relaxed);
		if (g >= v)
			v = g + 1;
	}
	if (n > 1)
		v += (e->cfg.lane + n - v % n) % n;
	return v;
}

uint64_t eng_next_req(const struct smt_engine *e, const struct eng_session *s,
		      const struct eng_epoch *ep)
{
	uint64_t mid = ep->next_req, g;

	if (s->share) {
		g = atomic_load_explicit(&s->share->next_req[ep->num],
					 memory_order_relaxed);
		if (g > mid)
			mid = g;
	}
	/* at most lanes steps (the lane of bits 1..31 can jump at 2^32) */
	while (smt_msg_lane(mid, e->cfg.lanes) != e->cfg.lane)
		mid += 2;
	return mid;
}

void eng_req_used(struct eng_session *s, struct eng_epoch *ep, uint64_t mid)
{
	ep->next_req = mid + 2;
	if (s->share)
		share_raise(&s->share->next_req[ep->num], mid + 2);
}

void eng_send_ctl(struct smt_engine *e, struct eng_session *s,
		  struct eng_epoch *ep, uint8_t type, uint64_t msg_id,
		  uint32_t off, uint32_t len, uint8_t prio)
{
	struct smt_ctl c = {
		.type = type,
		.sport = s->lport,
		.dport = s->pport,
		.hdr_prio = SMT_PRIO_MAX,
		.epoch = ep->num,
		.msg_id = msg_id,
		.offset = off,
		.length = len,
		.prio = prio,
	};
	uint8_t buf[SMT_ACK_LEN(SMT_ACK_MAX)];
	int n;

	c.ctl_seq = eng_next_ctl_seq(e, s, ep);
	if (c.ctl_seq > SMT_CTL_SEQ_MAX)
		return; /* epoch exhausted: the owner must rekey */
	ep->ctl_seq = c.ctl_seq;
	if (s->share)
		share_raise(&s->share->ctl_seq[ep->num], c.ctl_seq);
	if (type == SMT_TYPE_ACK) {
		c.msg_id = 0;
		c.count = ep->nacks;
		memcpy(c.ids, ep->acks, ep->nacks * sizeof(ep->acks[0]));
	}
	n = smt_ctl_build(ep->tx, &c, buf, sizeof(buf));
	if (n < 0) {
		ENG_CNT(e, s, tx_errors, 1);
		return;
	}
	ENG_CNT(e, s, ctl_out, 1);
	switch (type) {
	case SMT_TYPE_GRANT:
		ENG_CNT(e, s, grants_out, 1);
		break;
	case SMT_TYPE_RESEND:
		ENG_CNT(e, s, resends_out, 1);
		break;
	case SMT_TYPE_BUSY:
		ENG_CNT(e, s, busy_out, 1);
		break;
	case SMT_TYPE_UNKNOWN:
		ENG_CNT(e, s, unknown_out, 1);
		break;
	case SMT_TYPE_NEED_ACK:
		ENG_CNT(e, s, need_acks_out, 1);
		break;
	case SMT_TYPE_ACK:
		ENG_CNT(e, s, acks_out, 1);
		break;
	}
	eng_send_raw(e, s, buf, (size_t)n, SMT_PRIO_MAX);
}

void eng_ack_flush_epoch(struct smt_engine *e, struct eng_session *s,
			 struct eng_epoch *ep)
{
	if (!ep->valid || !ep->nacks)
		return;
	eng_send_ctl(e, s, ep, SMT_TYPE_ACK, 0, 0, 0, 0);
	ep->nacks = 0;
}

void eng_ack_flush(struct smt_engine *e, struct eng_session *s)
{
	eng_ack_flush_epoch(e, s, &s->ep[0]);
	eng_ack_flush_epoch(e, s, &s->ep[1]);
	eng_timer_cancel(e, &s->ack_t);
}

void eng_ack_queue(struct smt_engine *e, struct eng_session *s,
		   struct eng_epoch *ep, uint64_t msg_id, uint64_t now)
{
	unsigned int i;

	for (i = 0; i < ep->nacks; i++)
		if (ep->acks[i] == msg_id)
			return;
	ep->acks[ep->nacks++] = msg_id;
	if (ep->nacks == SMT_ACK_MAX)
		eng_ack_flush_epoch(e, s, ep);
	else if (s->ack_t.idx == ENG_T_IDLE)
		eng_timer_arm(e, &s->ack_t, now + e->cfg.ack_delay_ns);
}

struct eng_epoch *eng_epoch_find(struct eng_session *s, uint8_t num)
{
	int i;

	for (i = 0; i < 2; i++)
		if (s->ep[i].valid && s->ep[i].num == num)
			return &s->ep[i];
	return NULL;
}
