// SPDX-License-Identifier: BSD-2-Clause
/*
 * Sender side of the engine: application messages (requests, oneway
 * messages, responses) become wire streams and DATA packets by the
 * deterministic rule of protocol.md section 3. The first unsched_bytes go
 * out at once at a priority that favours small messages, the rest as GRANTs
 * arrive; RESEND ranges go out again byte for byte with the RETRANSMIT flag;
 * UNKNOWN restarts a message from offset 0. Timers count silent peers: a
 * request asks for its response with RESEND, a response or oneway message
 * asks for its ACK with NEED_ACK, and after max_silent_timeouts the message
 * fails.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bufpool.h"
#include "dlist.h"
#include "engine_tx.h"

struct eng_tx *eng_tx_find(struct eng_session *s, uint8_t epoch,
			   uint64_t msg_id)
{
	struct eng_hnode *n =
		eng_htab_find(&s->tx, smt_engine_id_make(epoch, msg_id));

	return n ? eng_container_of(n, struct eng_tx, node) : NULL;
}

/* Unscheduled priority: the fewer packets a message needs, the higher. */
static uint8_t unsched_prio(uint32_t wire_len, uint32_t maxp)
{
	if (wire_len <= maxp)
		return SMT_PRIO_MAX;
	if (wire_len <= 4 * maxp)
		return SMT_PRIO_MAX - 1;
	if (wire_len <= 16 * maxp)
		return SMT_PRIO_MAX - 2;
	return SMT_PRIO_MAX - 3;
}

uint32_t eng_rec_size(const struct smt_engine *e, uint32_t maxp)
{
	uint32_t r = e->cfg.rec_size, w = r + SMT_REC_OVERHEAD;

	/* records of whole packets: the most that fits under rec_size */
	if (e->cfg.rec_align && maxp < w &&
	    w / maxp * maxp - SMT_REC_OVERHEAD >= SMT_REC_MIN_CONTENT)
		r = w / maxp * maxp - SMT_REC_OVERHEAD;
	return r;
}

/* Padding of a message's last record (lastc content bytes) up to a whole
 * packet, docs/protocol.md 8.5; 0 when not. wl: the unpadded wire bytes. */
static uint32_t last_pad(const struct smt_engine *e,
			 const struct eng_session *s, uint64_t lastc,
			 uint64_t wl)
{
	uint64_t maxp = s->max_payload, part, pad;

	if (!e->cfg.rec_align || wl <= maxp)
		return 0;
	part = (lastc + SMT_REC_OVERHEAD) % maxp;
	pad = part ? maxp - part : 0;
	if (pad > s->lim.max_pad || lastc + pad > SMT_REC_MAX_CONTENT ||
	    pad * 8 > wl)
		return 0;
	return (uint32_t)pad;
}

/* Seals record k from its content's pieces into place. 0 or -errno. */
static int seal_rec(struct eng_tx *t, struct smt_aead *a, uint32_t k,
		    const struct iovec *v, unsigned int nv, uint32_t pad)
{
	int n = smt_record_sealv(a, smt_record_seq(t->msg_id, t->s->lim.B, k),
				 v, nv, pad, t->w.wire + t->w.rec_off[k]);

	return n < 0 ? n : 0;
}

/* t's wire stream buffer of n bytes (t->wbuf). 0 or -ENOMEM. */
static int wire_alloc(struct eng_tx *t, size_t n)
{
	t->wbuf = smt_pool_alloc(sizeof(*t->wbuf) + n);
	if (!t->wbuf)
		return -ENOMEM;
	t->w.wire = t->wbuf->data;
	return 0;
}

/* Frees t's wire stream buffer now, or when the backend no longer sends
 * from it (smt_engine_tx_done). */
static void wire_release(struct smt_engine *e, struct eng_tx *t)
{
	struct eng_wbuf *w = t->wbuf;

	t->wbuf = NULL;
	if (!w)
		return;
	if (!e->tx_refs) {
		smt_pool_free(w);
		return;
	}
	w->next = e->wdead;
	e->wdead = w;
}

void eng_tx_reap(struct smt_engine *e)
{
	struct eng_wbuf *w;

	e->tx_refs = false;
	while ((w = e->wdead)) {
		e->wdead = w->next;
		smt_pool_free(w);
	}
}

/* Frees the wire stream, wiping plaintext not sealed yet. */
static void wire_free(struct smt_engine *e, struct eng_tx *t)
{
	struct smt_wire_msg *m = &t->w;

	if (m->wire && t->sealed < m->nrec)
		explicit_bzero(m->wire + m->rec_off[t->sealed],
			       m->wire_len - m->rec_off[t->sealed]);
	wire_release(e, t);
	if (m->rec_off != t->rec_off_in)
		free(m->rec_off);
	memset(m, 0, sizeof(*m));
}

static uint32_t initial_grant(const struct smt_engine *e, uint32_t wl)
{
	return wl < e->cfg.unsched_bytes ? wl : e->cfg.unsched_bytes;
}

/*
 * Lays a message out (records of the session's rec_size content bytes, a
 * shorter last one, padded by last_pad()). The records that start within
 * the unscheduled window go out in this call without waiting for a GRANT:
 * they are sealed at once, out of place from the inner header and the
 * application's buffer into the wire stream, from where their packets are
 * sent (a message up to the window is never copied). The later records
 * get their plaintext content at the place of their ciphertext and are
 * sealed in place by seal_upto() when their first packet goes out: a
 * 1 MiB reply then costs the window's encryption before its first packet,
 * and the encryption of what waits for GRANTs is spread over the transfer
 * instead of stalling the caller (and every other message) for its whole
 * length. With cfg.tx_pull only record 0 is sealed here (none when the
 * window covers the whole message: tx_tail_ahead()): the window's other
 * records stay in the caller's buffer (t->src) for tx_pipe(), which
 * seals each as it sends it before the call returns. Sealed bytes are
 * kept, so retransmissions stay byte-identical (one nonce, one
 * plaintext). 0 or -errno.
 */
static int wire_layout(struct smt_engine *e, struct eng_tx *t, const void *app,
		       uint32_t len, uint32_t inner)
{
	struct smt_wire_msg *m = &t->w;
	struct smt_inner_hdr ih = {
		.app_len = htobe32(len),
		.inner_flags = htobe32(inner),
	};
	struct eng_epoch *ep = eng_epoch_find(t->s, t->epoch);
	unsigned int B = t->s->lim.B;
	uint32_t rec_size = t->s->rec_size;
	uint64_t content = (uint64_t)len + SMT_INNER_HDR_LEN, done = 0;
	uint64_t nrec = (content + rec_size - 1) / rec_size;
	uint64_t wl = content + nrec * SMT_REC_OVERHEAD;
	uint64_t kmax = smt_rec_idx_limit(B);
	const uint8_t *src = app;
	uint32_t k, off = 0, pad, unsched;
	bool pipe = e->cfg.tx_pull && e->ops.flush, ahead;
	int err;

	memset(m, 0, sizeof(*m));
	t->src = NULL;
	t->src_recs = 0;
	t->tail_off = 0;
	if (!ep)
		return -ENOKEY;
	if (wl > UINT32_MAX || nrec > kmax)
		return -EINVAL;
	pad = last_pad(e, t->s, content - (nrec - 1) * rec_size, wl);
	wl += pad;
	unsched = initial_grant(e, (uint32_t)wl);
	/* the whole message in the window: tx_pipe sends its last record
	 * first, so record 0 waits in the caller's buffer too */
	ahead = pipe && nrec > 1 && wl <= unsched;
	err = wire_alloc(t, wl);
	m->rec_off = nrec + 1 <= SMT_NELEM(t->rec_off_in)
			     ? t->rec_off_in
			     : malloc((nrec + 1) * sizeof(*m->rec_off));
	m->nrec = (uint32_t)nrec;
	t->sealed = m->nrec; /* nothing to wipe on failure */
	if (err || !m->rec_off) {
		wire_free(e, t);
		return -ENOMEM;
	}
	t->sealed = 0;
	m->wire_len = (uint32_t)wl;
	for (k = 0; k < nrec; k++) {
		uint64_t clen = content - done < rec_size ? content - done
							  : rec_size;
		uint8_t *p = m->wire + off + SMT_REC_HDR_LEN;
		uint64_t h = 0;
		struct iovec v[2];

		m->rec_off[k] = off;
		if (done < SMT_INNER_HDR_LEN) /* the inner header first */
			h = SMT_INNER_HDR_LEN - done < clen
				    ? SMT_INNER_HDR_LEN - done
				    : clen;
		v[0].iov_base = (uint8_t *)&ih + (h ? done : 0);
		v[0].iov_len = h;
		v[1].iov_base =
			clen > h
				? (void *)(src + (done + h - SMT_INNER_HDR_LEN))
				: NULL;
		v[1].iov_len = clen - h;
		if ((!k && !ahead) || (off < unsched && !pipe)) {
			err = seal_rec(t, ep->tx, k, v, 2,
				       k + 1 == nrec ? pad : 0);
			if (err) {
				t->sealed = k; /* wipes from record k on */
				wire_free(e, t);
				return err;
			}
			t->sealed = k + 1;
		} else if (off < unsched) { /* the inner header: src_ih */
			t->src = app;
			t->src_recs = k + 1;
			if (!k)
				memcpy(t->src_ih, &ih, sizeof(ih));
		} else {
			if (h)
				memcpy(p, v[0].iov_base, h);
			if (clen > h)
				memcpy(p + h, v[1].iov_base, clen - h);
		}
		off += (uint32_t)(clen + SMT_REC_OVERHEAD);
		if (k + 1 == nrec)
			off += pad;
		done += clen;
	}
	m->rec_off[nrec] = off;
	m->msg_id = t->msg_id;
	t->last_pad = pad;
	return 0;
}

/* Record k's content: in place in the wire stream, or (k below
 * src_recs) in the caller's buffer, after src_ih for record 0. The
 * number of iovecs. */
static unsigned int rec_content(const struct eng_tx *t, uint32_t k,
				struct iovec v[2])
{
	const struct smt_wire_msg *m = &t->w;
	uint32_t ro = m->rec_off[k];
	uint32_t pad = k + 1 == m->nrec ? t->last_pad : 0;
	size_t len = m->rec_off[k + 1] - ro - SMT_REC_OVERHEAD - pad;

	v[0].iov_base = m->wire + ro + SMT_REC_HDR_LEN;
	v[0].iov_len = len;
	if (!t->src || k >= t->src_recs)
		return 1;
	if (k) { /* out of place */
		v[0].iov_base = (void *)(t->src + (size_t)k * t->s->rec_size -
					 SMT_INNER_HDR_LEN);
		return 1;
	}
	v[0].iov_base = (void *)t->src_ih;
	v[0].iov_len = SMT_INNER_HDR_LEN;
	v[1].iov_base = (void *)t->src;
	v[1].iov_len = len - SMT_INNER_HDR_LEN;
	return 2;
}

/* Whether record k is the last one, sealed and sent ahead by
 * tx_tail_ahead(). */
static bool tail_ahead(const struct eng_tx *t, uint32_t k)
{
	return t->tail_off && k + 1 == t->w.nrec;
}

/* Seals records up to and including record k (the last one only once:
 * not again when tx_pipe sealed and sent it ahead). 0 or -errno. */
static int seal_upto(struct eng_tx *t, uint32_t k)
{
	struct eng_epoch *ep = eng_epoch_find(t->s, t->epoch);
	struct smt_wire_msg *m = &t->w;

	if (!ep)
		return -ENOKEY;
	for (; t->sealed <= k && t->sealed < m->nrec; t->sealed++) {
		uint32_t pad = t->sealed + 1 == m->nrec ? t->last_pad : 0;
		struct iovec v[2];
		unsigned int nv = rec_content(t, t->sealed, v);
		int n;

		if (tail_ahead(t, t->sealed))
			continue;
		n = seal_rec(t, ep->tx, t->sealed, v, nv, pad);
		if (n < 0)
			return n;
	}
	return 0;
}

/* Slot of the deterministic packet that starts at off: in order, and no
 * two packets share one (each record adds at most one packet). */
static uint32_t pkt_slot(const struct eng_tx *t, uint32_t off)
{
	return off / t->s->max_payload + smt_wire_msg_record_at(&t->w, off);
}

static uint32_t pkt_slots(const struct eng_tx *t)
{
	return t->w.wire_len / t->s->max_payload + t->w.nrec + 1;
}

/* The packet at off went out less than a round trip ago (eng_rtt_guard):
 * it may still be on its way, the RESEND crossed it. Older than that, the
 * receiver that asks has waited its own timeout for it: send it. */
static bool sent_recently(const struct smt_engine *e, const struct eng_tx *t,
			  uint32_t off)
{
	uint32_t v = t->sent_us ? t->sent_us[pkt_slot(t, off)] : 0;

	return v && e->now < t->created + (uint64_t)(v - 1) * 1000 +
				     eng_rtt_guard(e, t->s);
}

static uint32_t send_one(struct smt_engine *e, struct eng_tx *t, uint32_t off,
			 uint8_t prio, uint16_t flags)
{
	struct eng_session *s = t->s;
	struct smt_data_tmpl tm = {
		.sport = s->lport,
		.dport = s->pport,
		.granted = t->granted,
		.prio = prio,
		.epoch = t->epoch,
		.flags = flags,
	};
	uint8_t *buf = NULL;
	uint32_t n, k;

	if (off >= t->w.wire_len)
		return 0;
	/* the header built where the backend sends it from, the payload
	 * sent from the wire stream by reference: no copy */
	if (e->ops.pkt_buf && !e->closing)
		buf = e->ops.pkt_buf(e->ctx, &s->peer,
				     SMT_HDR_LEN + s->max_payload);
	k = smt_wire_msg_record_at(&t->w, off);
	if (!tail_ahead(t, k) && seal_upto(t, k) < 0) {
		ENG_CNT(e, s, tx_errors, 1);
		return 0;
	}
	if (buf)
		n = smt_data_hdr(&t->w, off, s->max_payload, &tm, buf);
	else
		n = smt_data_build(&t->w, off, s->max_payload, &tm, e->pktbuf);
	if (!n)
		return 0;
	if (t->sent_us) {
		uint64_t us = (e->now - t->created) / 1000 + 1;

		t->sent_us[pkt_slot(t, off)] = us < UINT32_MAX ? us
							       : UINT32_MAX;
	}
	t->last_sent = e->now;
	ENG_CNT(e, s, data_out, 1);
	if (flags & SMT_F_RETRANSMIT) {
		ENG_CNT(e, s, retransmits, 1);
		t->retx = true;
	}
	if (buf)
		eng_send_rawv(e, s, buf, SMT_HDR_LEN, t->w.wire + off, n, prio);
	else
		eng_send_raw(e, s, e->pktbuf, SMT_HDR_LEN + n, prio);
	return n;
}

/* ---- send queue: messages with packets they may send, SRPT order ---- */

static bool sendable(const struct eng_tx *t)
{
	return t->kind != ENG_TX_AWAIT && t->next_off < t->w.wire_len &&
	       t->next_off < t->granted;
}

static uint32_t unsent(const struct eng_tx *t)
{
	return t->w.wire_len - t->next_off;
}

void eng_txq_unlink(struct smt_engine *e, struct eng_tx *t)
{
	if (!t->in_txq)
		return;
	DLIST_DEL(e->txq_head, e->txq_tail, t, qprev, qnext);
	t->in_txq = false;
}

/* Queues t behind the messages with fewer bytes left to send. A queued
 * message only moves forward (it sends from the head), so it stays. */
static void txq_add(struct smt_engine *e, struct eng_tx *t)
{
	struct eng_tx *p = e->txq_tail;
	uint32_t left = unsent(t);

	if (t->in_txq)
		return;
	while (p && unsent(p) > left)
		p = p->qprev;
	t->qprev = p;
	t->qnext = p ? p->qnext : e->txq_head;
	if (t->qnext)
		t->qnext->qprev = t;
	else
		e->txq_tail = t;
	if (p)
		p->qnext = t;
	else
		e->txq_head = t;
	t->in_txq = true;
}

void eng_tx_pump(struct smt_engine *e, struct eng_tx *t)
{
	if (sendable(t))
		txq_add(e, t);
}

/* The last record, sent ahead by tx_pipe, is where the first pass ends
 * (a pass that starts again after a loss sends it again). */
static void tail_skip(struct eng_tx *t)
{
	if (t->tail_off && t->next_off == t->tail_off &&
	    t->next_off >= t->sent_hi)
		t->next_off = t->w.wire_len;
}

/* Sends up to max packets of t from next_off; returns how many. */
static unsigned int tx_send(struct smt_engine *e, struct eng_tx *t,
			    unsigned int max)
{
	struct eng_session *s = t->s;
	uint8_t up = unsched_prio(t->w.wire_len, s->max_payload);
	unsigned int k = 0;

	/* ACKs ride along with the data we send anyway. */
	if (s->ep[0].nacks || s->ep[1].nacks)
		eng_ack_flush(e, s);
	for (; k < max; k++) {
		uint16_t fl;
		uint8_t prio;
		uint32_t n;

		tail_skip(t);
		if (!sendable(t))
			break;
		fl = t->next_off < t->sent_hi ? SMT_F_RETRANSMIT : 0;
		prio = t->next_off < t->unsched ? up : t->sched_prio;
		n = send_one(e, t, t->next_off, prio, fl);
		if (!n)
			break;
		if (fl)
			ENG_CNT(e, s, rtx_restart, 1);
		t->next_off += n;
	}
	if (t->next_off > t->sent_hi)
		t->sent_hi = t->next_off;
	return k;
}

unsigned int eng_tx_pull(struct smt_engine *e, unsigned int max)
{
	unsigned int sent = 0, k;
	struct eng_tx *t;

	while (sent < max && (t = e->txq_head)) {
		k = tx_send(e, t, max - sent);
		sent += k;
		/* done, or a packet could not be built: off the queue (a
		 * GRANT, RESEND or its timer, eng_tx_timer(), queues it
		 * again) */
		if (!sendable(t) || sent < max)
			eng_txq_unlink(e, t);
	}
	return sent;
}

/*
 * A message that the unscheduled window covers whole, held in the
 * caller's buffer from record 0 on (wire_layout): its last record, the
 * shortest, is sealed and sent first, so the peer wakes while record 0
 * is sealed; and it verifies first, so the peer decrypts record 0 and
 * the rest straight into the message's buffer (reasm.c), not record 0
 * into a buffer of its own and copied. tx_send() skips it when the
 * first pass gets there.
 */
static void tx_tail_ahead(struct smt_engine *e, struct eng_tx *t)
{
	struct eng_epoch *ep = eng_epoch_find(t->s, t->epoch);
	struct smt_wire_msg *m = &t->w;
	struct eng_session *s = t->s;
	uint32_t k = m->nrec - 1, off = m->rec_off[k], n;
	uint8_t up = unsched_prio(m->wire_len, s->max_payload);
	struct iovec v[2];
	unsigned int nv;

	if (!ep || m->nrec < 2 || t->src_recs != m->nrec || t->next_off)
		return;
	nv = rec_content(t, k, v);
	if (seal_rec(t, ep->tx, k, v, nv, t->last_pad) < 0)
		return;
	t->tail_off = off;
	if (s->ep[0].nacks || s->ep[1].nacks)
		eng_ack_flush(e, s);
	for (; off < m->wire_len; off += n) {
		n = send_one(e, t, off, up, 0);
		if (!n) { /* the first pass sends the rest */
			t->tail_off = 0;
			break;
		}
	}
	eng_tx_flush(e);
}

/*
 * The records wire_layout() left in the caller's buffer go out one by one
 * while t heads the send queue, each flushed to the backend (with libsmt,
 * its own sendmmsg) before the next is sealed: the wire and the peer's
 * decryption of a record overlap the sealing of the next, where a 64 KiB
 * message used to leave only once all of it was sealed. What does not go
 * now (another message comes first, a batch is open) is sealed before
 * the call returns; should that fail, its plaintext is copied into place
 * and sealed there when it goes, as the records after the window are.
 */
static void tx_pipe(struct smt_engine *e, struct eng_tx *t)
{
	struct smt_wire_msg *m = &t->w;
	uint32_t maxp = t->s->max_payload, k, n;

	if (t->src && !t->sealed && !e->batch && e->txq_head == t)
		tx_tail_ahead(e, t);
	while (t->src && !e->batch && e->txq_head == t &&
	       t->next_off < m->wire_len &&
	       (k = smt_wire_msg_record_at(m, t->next_off)) < t->src_recs) {
		n = (m->rec_off[k + 1] - t->next_off + maxp - 1) / maxp;
		if (eng_tx_pull(e, n) < n)
			break;
		eng_tx_flush(e);
	}
	if (t->src && seal_upto(t, t->src_recs - 1) < 0)
		for (k = t->sealed; k < t->src_recs; k++) {
			uint8_t *p = m->wire + m->rec_off[k] + SMT_REC_HDR_LEN;
			struct iovec v[2];
			unsigned int i, nv = rec_content(t, k, v);

			if (tail_ahead(t, k))
				break; /* sealed ahead */
			for (i = 0; i < nv; p += v[i].iov_len, i++)
				memcpy(p, v[i].iov_base, v[i].iov_len);
		}
	t->src = NULL;
}

/* Start of the deterministic packet that holds offset off. */
static uint32_t pkt_start(const struct eng_tx *t, uint32_t off)
{
	uint32_t k = smt_wire_msg_record_at(&t->w, off);
	uint32_t rs = t->w.rec_off[k];
	uint32_t maxp = t->s->max_payload;

	return rs + (off - rs) / maxp * maxp;
}

uint32_t eng_tx_resend(struct smt_engine *e, struct eng_tx *t, uint32_t off,
		       uint32_t len, uint8_t prio)
{
	uint32_t wl = t->w.wire_len, end, cur, k = 0;

	if (t->kind == ENG_TX_AWAIT || !wl)
		return 0;
	if (!off && !len) {
		/* "The whole message": the receiver holds nothing of it.
		 * What we sent may still be on its way (a requester whose
		 * response is late asks just the same), so only the first
		 * packet goes again: it tells msg_len, and the receiver
		 * then asks for what it misses by range. */
		end = t->sent_hi < 1 ? t->sent_hi : 1;
	} else {
		if (off >= wl)
			return 0;
		end = len > wl - off ? wl : off + len;
	}
	off = pkt_start(t, off);
	/* At most a grant window per RESEND: "all you sent" of a large
	 * message, asked by a receiver that lost track or whose timer fired
	 * during a scheduling stall, must not put the whole message on the
	 * path again; the receiver asks for the rest as it goes. */
	if (end - off > e->cfg.grant_window)
		end = off + e->cfg.grant_window;
	if (prio > SMT_PRIO_MAX)
		prio = SMT_PRIO_MAX;
	/* A receiver asking for bytes also allows them. */
	if (end > t->granted)
		t->granted = end;
	for (cur = off; cur < end && cur < t->sent_hi;) {
		uint32_t n, rend;

		/* Asked again before it could have arrived: skip it. */
		if (sent_recently(e, t, cur)) {
			rend = t->w.rec_off[smt_wire_msg_record_at(&t->w, cur) +
					    1];
			cur = rend - cur > t->s->max_payload
				      ? cur + t->s->max_payload
				      : rend;
			continue;
		}
		n = send_one(e, t, cur, prio, SMT_F_RETRANSMIT);
		if (!n)
			break;
		cur += n;
		k++;
	}
	eng_tx_pump(e, t);
	return k;
}

/*
 * How long after we last heard of t (or probed) its next probe waits: the
 * RESEND timeout doubled per probe without an answer. The first probe of
 * a request is its tail-loss probe: two smoothed round trips (the round
 * trip a one-packet request measures holds the server's service time),
 * at least rto_min_ns, at most resend_timeout_ns (it may come before
 * the RTO, which holds 4 rttvar). A response or oneway
 * waits for its ACK: the peer delays ACKs (up to its ack_delay, taken to
 * be ours, and one more for a timer that fires late).
 */
static uint64_t tx_probe_wait(const struct smt_engine *e,
			      const struct eng_tx *t)
{
	const struct eng_session *s = t->s;
	uint64_t w = eng_rto_backoff(e, s, t->silent), pto, rtt = s->srtt;

	if (t->kind != ENG_TX_REQUEST)
		return w + 2 * e->cfg.ack_delay_ns;
	/* Receipted (docs/protocol.md 4): the server holds it and its
	 * NEED_ACK recovers a lost response; only a safety probe is left,
	 * 4 base timeouts doubling up to 32 */
	if (t->rcpt)
		return e->cfg.resend_timeout_ns
		       << (t->silent < 3 ? t->silent + 2 : 5);
	/* Answered BUSY after all of it went (docs/protocol.md 8.9): held
	 * at the server as a receipted one is, its response queued there
	 * or on its way, and a lost response is the server's to recover
	 * (NEED_ACK); asked again after the base timeout, not the round
	 * trip's back-off (as little as 200 us: a second probe found it
	 * BUSY again, or fetched its response twice). Not while parts of
	 * it are still to go: test_sim_hol's preempted 1 MiB request with
	 * UDP grants was then asked for by the server 6 times (354 DATA
	 * sent again, nothing lost) */
	if (t->busy && t->sent_hi >= t->w.wire_len &&
	    w < e->cfg.resend_timeout_ns)
		return e->cfg.resend_timeout_ns;
	/* a one-packet request: the round trips of its kind (eng_rpc_sample) */
	if (s->rpc_srtt && t->w.wire_len <= s->max_payload)
		rtt = s->rpc_srtt;
	if (!t->silent && rtt) {
		pto = 2 * rtt;
		if (pto < e->cfg.rto_min_ns)
			pto = e->cfg.rto_min_ns;
		w = pto < e->cfg.resend_timeout_ns ? pto
						   : e->cfg.resend_timeout_ns;
	}
	return w;
}

/* The send invariant: a message with packets it may send is in the send
 * queue, and every message of ours has its timer armed (it probes, ends
 * or fails in time). 0, or a short name of what is wrong. */
const char *eng_tx_invariant(const struct eng_tx *t)
{
	if (t->kind == ENG_TX_AWAIT)
		return NULL;
	if (sendable(t) && !t->in_txq)
		return "sendable, not queued";
	if (t->t.idx == ENG_T_IDLE)
		return "no timer";
	return NULL;
}

void eng_tx_dump(const struct smt_engine *e, const struct eng_tx *t, FILE *f)
{
	const char *bad = eng_tx_invariant(t);

	fprintf(f,
		"tx %s epoch %u id %llu len %u next %u granted %u sent_hi %u "
		"queued %d timer %s%lld ms age %llu ms silent %u asked %d "
		"heard %llu ms ago sent %llu ms ago resp %d%s%s\n",
		t->kind == ENG_TX_REQUEST    ? "request"
		: t->kind == ENG_TX_ONEWAY   ? "oneway"
		: t->kind == ENG_TX_RESPONSE ? "response"
					     : "await",
		t->epoch, (unsigned long long)t->msg_id, t->w.wire_len,
		t->next_off, t->granted, t->sent_hi, t->in_txq,
		t->t.idx == ENG_T_IDLE ? "off " : "in ",
		t->t.idx == ENG_T_IDLE
			? 0LL
			: (long long)((int64_t)(t->t.when - e->now) / 1000000),
		(unsigned long long)((e->now - t->created) / 1000000),
		t->silent, t->asked,
		(unsigned long long)((e->now - t->last_heard) / 1000000),
		t->last_sent ? (unsigned long long)((e->now - t->last_sent) /
						    1000000)
			     : 0ULL,
		t->resp != NULL, bad ? " BROKEN: " : "", bad ? bad : "");
}

void eng_tx_heard(struct eng_tx *t, uint64_t now)
{
	eng_tx_alive(t, now);
	t->silent = 0;
}

void eng_tx_alive(struct eng_tx *t, uint64_t now)
{
	t->heard = true;
	t->quiet_restarts = 0;
	t->last_heard = now;
}

void eng_tx_restart(struct smt_engine *e, struct eng_tx *t, uint64_t now)
{
	if (t->kind == ENG_TX_AWAIT)
		return;
	ENG_CNT(e, t->s, restarts, 1);
	if (t->quiet_restarts < UINT16_MAX)
		t->quiet_restarts++;
	t->asked = false;
	t->rcpt = 0; /* the server lost it: probe it again as a new one */
	t->busy = false;
	t->next_off = 0;
	t->granted = initial_grant(e, t->w.wire_len);
	eng_tx_pump(e, t);
	if (t->t.idx == ENG_T_IDLE)
		eng_timer_arm(e, &t->t, now + tx_probe_wait(e, t));
}

#define OUT_PUB_SET (1ULL << 55) /* smt_engine_share.oldest: in use */

/* In a reuseport group: publishes the oldest outstanding request of ep for
 * the group's other engines (group_behind()). */
static void out_publish(const struct smt_engine *e, struct eng_session *s,
			const struct eng_epoch *ep)
{
	uint64_t v = 0;

	if (!s->share || e->cfg.lanes < 2)
		return;
	if (ep->out_head)
		v = (uint64_t)ep->num << 56 | OUT_PUB_SET |
		    ep->out_head->msg_id;
	atomic_store_explicit(&s->share->oldest[e->cfg.lane][ep->num & 1], v,
			      memory_order_relaxed);
}

/* Whether request mid would run 2W past a request another engine of the
 * group still has outstanding in this epoch (protocol.md 4 and 8.8). */
static bool group_behind(const struct smt_engine *e,
			 const struct eng_session *s,
			 const struct eng_epoch *ep, uint64_t mid)
{
	unsigned int l;
	uint64_t v;

	if (!s->share || e->cfg.lanes < 2)
		return false;
	for (l = 0; l < e->cfg.lanes; l++) {
		if (l == e->cfg.lane)
			continue;
		v = atomic_load_explicit(&s->share->oldest[l][ep->num & 1],
					 memory_order_relaxed);
		if ((v & OUT_PUB_SET) && v >> 56 == ep->num &&
		    (v & (OUT_PUB_SET - 1)) + 2 * SMT_REPLAY_WINDOW <= mid)
			return true;
	}
	return false;
}

static void out_unlink(struct smt_engine *e, struct eng_session *s,
		       struct eng_tx *t)
{
	struct eng_epoch *ep = eng_epoch_find(s, t->epoch);

	if (!ep)
		return;
	if (t->oprev)
		t->oprev->onext = t->onext;
	else if (ep->out_head == t)
		ep->out_head = t->onext;
	if (t->onext)
		t->onext->oprev = t->oprev;
	else if (ep->out_tail == t)
		ep->out_tail = t->oprev;
	t->oprev = t->onext = NULL;
	out_publish(e, s, ep);
}

static void out_append(struct eng_epoch *ep, struct eng_tx *t)
{
	t->oprev = ep->out_tail;
	t->onext = NULL;
	if (ep->out_tail)
		ep->out_tail->onext = t;
	else
		ep->out_head = t;
	ep->out_tail = t;
}

/* Off the session's list of requests to receipt (its timer off with the
 * last one). */
static void aw_unlink(struct smt_engine *e, struct eng_session *s,
		      struct eng_tx *t)
{
	if (!t->in_aw)
		return;
	DLIST_DEL(s->aw_head, s->aw_tail, t, aprev, anext);
	t->in_aw = false;
	if (!s->aw_head)
		eng_timer_cancel(e, &s->rcpt_t);
}

static void account_tx(struct smt_engine *e, struct eng_tx *t, int sign)
{
	struct eng_session *s = t->s;

	if (t->kind == ENG_TX_AWAIT) {
		e->st.rx_msgs += sign;
		s->st.rx_msgs += sign;
		s->rx_msgs += sign;
		return;
	}
	e->st.tx_msgs += sign;
	s->st.tx_msgs += sign;
	e->st.tx_bytes += sign * (int64_t)t->w.wire_len;
	s->st.tx_bytes += sign * (int64_t)t->w.wire_len;
	if (t->kind == ENG_TX_RESPONSE) {
		e->nresp += sign;
		s->nresp += sign;
	} else {
		e->own_msgs += sign;
		e->own_bytes += sign * (int64_t)t->w.wire_len;
	}
}

void eng_tx_end(struct smt_engine *e, struct eng_tx *t, enum eng_tx_outcome how,
		int err)
{
	struct eng_session *s = t->s;
	uint64_t id = smt_engine_id_make(t->epoch, t->msg_id);

	eng_timer_cancel(e, &t->t);
	eng_txq_unlink(e, t);
	aw_unlink(e, s, t);
	eng_htab_del(&s->tx, &t->node);
	if (t->kind == ENG_TX_REQUEST || t->kind == ENG_TX_ONEWAY)
		out_unlink(e, s, t);
	if (t->kind == ENG_TX_REQUEST && how == ENG_TX_FAILED) {
		ENG_CNT(e, s, rpcs_failed, 1);
		if (!eng_event_push(e, s, SMT_ENGINE_EV_FAILED, id, t->cookie,
				    err, NULL, 0, false))
			e->ev_tail->ev.since = t->created;
	} else if (t->kind == ENG_TX_ONEWAY) {
		if (how == ENG_TX_FAILED)
			ENG_CNT(e, s, oneways_failed, 1);
		else
			err = 0;
		if (!eng_event_push(e, s, SMT_ENGINE_EV_SENT, id, t->cookie,
				    err, NULL, 0, false) &&
		    err)
			e->ev_tail->ev.since = t->created;
	} else if (t->kind == ENG_TX_RESPONSE && how == ENG_TX_FAILED) {
		ENG_CNT(e, s, responses_expired, 1);
	}
	account_tx(e, t, -1);
	wire_free(e, t);
	if (t->sent_us != t->sent_us_in)
		free(t->sent_us);
	free(t);
}

int eng_tx_timer(struct smt_engine *e, struct eng_tx *t, uint64_t now)
{
	struct eng_session *s = t->s;
	struct eng_epoch *ep = eng_epoch_find(s, t->epoch);
	uint64_t due, dead, quiet;
	bool probed;

	if (t->kind == ENG_TX_AWAIT || !ep)
		return 0;
	if (t->kind == ENG_TX_REQUEST && e->cfg.rpc_timeout_ns &&
	    now - t->created >= e->cfg.rpc_timeout_ns) {
		return -ETIMEDOUT;
	}
	/* Silence is counted in time, not in probes: probes follow the
	 * round trip, failure waits for the silence limit. While the peer
	 * is heard on the session (authenticated), it is alive: a message
	 * that waits behind others is not failed for that. */
	dead = (t->last_heard > s->heard_at ? t->last_heard : s->heard_at) +
	       eng_silence_limit(e, s);
	/* ...plus what the peer needs to take in a message this large
	 * (decrypt, copy, answer: 10 ns a byte, in whole base timeouts):
	 * after the last byte of a 64 MiB request the server is busy, not
	 * silent, for a while */
	dead += (uint64_t)t->w.wire_len * ENG_PEER_PS_PER_BYTE / 1000 /
		e->cfg.resend_timeout_ns * e->cfg.resend_timeout_ns;
	/* Our own silence is not the peer's: while granted bytes of t wait
	 * in our send queue (SRPT sends other messages first) it is not
	 * probed, and the wait counts from its last packet sent too. A
	 * probe for a request whose packets are still ours to send only
	 * found a receiver that knows nothing of it (UNKNOWN: started
	 * again, all of it sent twice) or asked for what is on its way. */
	probed = t->silent && t->probe_at > t->last_heard;
	/* Packets it may send and off the send queue (eng_tx_pull() took
	 * it off when a packet could not be built): queued again here, or
	 * it would wait for a GRANT or RESEND that never comes, its timer
	 * re-armed forever below. */
	if (sendable(t))
		txq_add(e, t);
	if (!probed && sendable(t)) {
		eng_timer_arm(e, &t->t, now + tx_probe_wait(e, t));
		return 0;
	}
	quiet = t->last_heard > t->last_sent ? t->last_heard : t->last_sent;
	due = (t->silent && t->probe_at > quiet ? t->probe_at : quiet) +
	      tx_probe_wait(e, t);
	/* ...and only after a probe went unanswered: a host that did not
	 * run for a while asks once before it gives up */
	if (now >= dead && probed && now >= due) {
		return -ETIMEDOUT;
	}
	if (now < due && (now < dead || probed)) {
		/* the tail-loss probe's time, passed without a probe */
		if (t->rcpt == ENG_RCPT_HELD) {
			t->rcpt = ENG_RCPT_SAVED;
			ENG_CNT(e, s, probes_saved, 1);
		}
		eng_timer_arm(e, &t->t, due < dead || now >= dead ? due : dead);
		return 0;
	}
	t->silent++;
	t->probe_at = now;
	ENG_CNT(e, s, rpc_timeouts, 1);
	/* Nothing goes again here: what we sent may only be waiting at a
	 * busy receiver. The probe below finds out: a receiver that lost
	 * everything answers UNKNOWN (we start again) or, for a response,
	 * asks for it with RESEND; a server still receiving our request
	 * asks for what it misses. */
	if (t->kind == ENG_TX_REQUEST) {
		/* The response's own timers ask while it arrives. */
		if (!t->resp) {
			eng_send_ctl(e, s, ep, SMT_TYPE_RESEND, t->msg_id + 1,
				     0, 0, SMT_PRIO_MAX);
			ENG_CNT(e, s, resends_response, 1);
			t->asked = true;
		}
	} else {
		eng_send_ctl(e, s, ep, SMT_TYPE_NEED_ACK, t->msg_id, 0, 0, 0);
		t->asked = true;
	}
	due = now + tx_probe_wait(e, t);
	eng_timer_arm(e, &t->t, due < dead || dead <= now ? due : dead);
	return 0;
}

static struct eng_tx *tx_alloc(struct eng_session *s, uint8_t kind,
			       uint8_t epoch, uint64_t msg_id)
{
	struct eng_tx *t = smt_zalloc(sizeof(*t));

	if (!t)
		return NULL;
	t->s = s;
	t->kind = kind;
	t->epoch = epoch;
	t->msg_id = msg_id;
	t->t.idx = ENG_T_IDLE;
	t->t.kind = ENG_T_TX;
	return t;
}

/*
 * When a request we delivered and have not answered is receipted
 * (docs/protocol.md 4 and 8.9): half of what we take to be the client's
 * tail-loss probe wait, two round trips plus our service time, at least
 * rto_min_ns, at most the base timeout (as the client's is).
 */
static uint64_t rcpt_delay(const struct smt_engine *e,
			   const struct eng_session *s)
{
	uint64_t p = 2 * (s->srtt + s->svc_srtt);

	if (!s->srtt || p > e->cfg.resend_timeout_ns)
		p = e->cfg.resend_timeout_ns;
	if (p < e->cfg.rto_min_ns)
		p = e->cfg.rto_min_ns;
	return p / 2;
}

/* The rcpt_t timer's wait: the receipt delay, but at least half the base
 * timeout, so that for a quick RPC it falls within the slack of timers
 * already armed (the response's ACK wait: no timerfd set per request,
 * docs/engine.md "Timers"); a busy engine sends receipts sooner from
 * eng_rcpt_due(). */
static uint64_t rcpt_late(const struct smt_engine *e,
			  const struct eng_session *s)
{
	uint64_t d = rcpt_delay(e, s);

	return d > e->cfg.resend_timeout_ns / 2 ? d
						: e->cfg.resend_timeout_ns / 2;
}

int eng_tx_new_await(struct smt_engine *e, struct eng_session *s, uint8_t epoch,
		     uint64_t req_id)
{
	struct eng_tx *t = tx_alloc(s, ENG_TX_AWAIT, epoch, req_id + 1);

	if (!t)
		return -ENOMEM;
	eng_htab_add(&s->tx, &t->node, smt_engine_id_make(epoch, req_id + 1));
	account_tx(e, t, 1);
	t->created = e->now;
	DLIST_ADD_TAIL(s->aw_head, s->aw_tail, t, aprev, anext);
	t->in_aw = true;
	/* One request alone: its client's probe follows our service time
	 * (eng_rpc_sample), and a timer per request would cost a timerfd
	 * set per RPC; input that comes meanwhile sends its receipt
	 * (eng_rcpt_due). Queued ones: the timer. */
	if (t != s->aw_head && s->rcpt_t.idx == ENG_T_IDLE)
		eng_timer_arm(e, &s->rcpt_t, e->now + rcpt_late(e, s));
	return 0;
}

/* The rcpt_t timer: receipts for the requests delivered at least half
 * the delay ago (so one ACK lists many), up to 32 IDs per ACK. */
void eng_rcpt_timer(struct smt_engine *e, struct eng_session *s, uint64_t now)
{
	uint64_t d = rcpt_delay(e, s);
	struct eng_tx *t;

	while ((t = s->aw_head) && now - t->created >= d / 2) {
		struct eng_epoch *ep = eng_epoch_find(s, t->epoch);

		aw_unlink(e, s, t);
		if (!ep)
			continue;
		eng_ack_queue(e, s, ep, t->msg_id - 1, now);
		ENG_CNT(e, s, rcpts_out, 1);
	}
	eng_ack_flush(e, s);
	if (t)
		eng_timer_arm(e, &s->rcpt_t, t->created + rcpt_late(e, s));
}

void eng_rcpt_due(struct smt_engine *e, struct eng_session *s, uint64_t now)
{
	if (s->aw_head && now - s->aw_head->created >= rcpt_delay(e, s))
		eng_rcpt_timer(e, s, now);
}

/* Wire bytes a message of len bytes takes (records of rec_size; aligned
 * records and padding make it a little more). */
static uint64_t wire_estimate(const struct smt_engine *e, uint32_t len)
{
	uint64_t content = (uint64_t)len + SMT_INNER_HDR_LEN;
	uint64_t nrec = (content + e->cfg.rec_size - 1) / e->cfg.rec_size;

	return content + SMT_REC_OVERHEAD * nrec;
}

/*
 * Room for one more request or oneway message. Responses are not checked
 * here: each answers a request admitted under max_rx_msgs and keeps that
 * slot until ACKed, so a host whose own requests fill max_tx_msgs can
 * still answer its peers (else two such hosts would wait on each other).
 */
static int tx_room(const struct smt_engine *e, uint32_t len)
{
	if (e->own_msgs >= e->cfg.max_tx_msgs)
		return -EAGAIN;
	if (e->own_bytes + wire_estimate(e, len) > e->cfg.max_tx_bytes)
		return -EAGAIN;
	return 0;
}

/* Encodes and starts t (kind, epoch, msg_id set). */
static int tx_start(struct smt_engine *e, struct eng_tx *t, const void *data,
		    uint32_t len, uint32_t inner, uint64_t now)
{
	struct eng_session *s = t->s;
	int err;

	err = wire_layout(e, t, data, len, inner);
	if (err)
		return err;
	if (pkt_slots(t) <= SMT_NELEM(t->sent_us_in)) {
		memset(t->sent_us_in, 0, sizeof(t->sent_us_in));
		t->sent_us = t->sent_us_in;
	} else {
		t->sent_us = smt_zalloc(pkt_slots(t) * sizeof(*t->sent_us));
	}
	if (!t->sent_us) {
		wire_free(e, t);
		return -ENOMEM;
	}
	t->unsched = initial_grant(e, t->w.wire_len);
	t->granted = t->unsched;
	t->created = t->last_heard = now;
	ENG_CNT(e, s, msgs_out, 1);
	account_tx(e, t, 1);
	eng_timer_arm(e, &t->t, now + tx_probe_wait(e, t));
	eng_tx_pump(e, t);
	return 0;
}

int smt_engine_send(struct smt_engine *e, uint32_t sid, const void *data,
		    uint32_t len, uint32_t flags, uint64_t cookie, uint64_t *id,
		    uint64_t now_ns)
{
	struct eng_session *s = eng_session_find(e, sid);
	struct eng_epoch *ep;
	struct eng_tx *t;
	uint64_t mid;
	bool oneway = flags & SMT_ENGINE_ONEWAY;
	int err;

	if (!s)
		return -ENOENT;
	e->now = now_ns;
	if (flags & ~SMT_ENGINE_ONEWAY)
		return -EINVAL;
	if (len > s->lim.max_msg)
		return -EMSGSIZE;
	err = tx_room(e, len);
	if (err)
		return err;
	ep = &s->ep[s->cur];
	mid = eng_next_req(e, s, ep);
	if (!smt_msg_id_ok(mid, s->lim.B))
		return -ENOSPC; /* request IDs of this epoch used up: rekey */
	/* Section 4: never run past the peer's replay window. */
	if ((ep->out_head &&
	     ep->out_head->msg_id + 2 * SMT_REPLAY_WINDOW <= mid) ||
	    group_behind(e, s, ep, mid))
		return -EAGAIN;
	t = tx_alloc(s, oneway ? ENG_TX_ONEWAY : ENG_TX_REQUEST, ep->num, mid);
	if (!t)
		return -ENOMEM;
	t->cookie = cookie;
	err = tx_start(e, t, data, len, oneway ? SMT_INNER_ONEWAY : 0, now_ns);
	if (err) {
		free(t);
		return err;
	}
	eng_req_used(s, ep, mid);
	eng_htab_add(&s->tx, &t->node, smt_engine_id_make(ep->num, mid));
	out_append(ep, t);
	out_publish(e, s, ep);
	if (id)
		*id = smt_engine_id_make(ep->num, mid);
	tx_pipe(e, t);
	eng_tx_flush(e);
	return 0;
}

int smt_engine_reply(struct smt_engine *e, uint32_t sid, uint64_t id,
		     const void *data, uint32_t len, uint64_t now_ns)
{
	struct eng_session *s = eng_session_find(e, sid);
	struct eng_epoch *ep;
	struct eng_tx *t;
	uint64_t mid = smt_engine_id_msg(id);
	int err;

	if (!s)
		return -ENOENT;
	e->now = now_ns;
	ep = eng_epoch_find(s, smt_engine_id_epoch(id));
	if (!ep || (mid & 1))
		return -ENOENT;
	t = eng_tx_find(s, ep->num, mid + 1);
	if (!t || t->kind != ENG_TX_AWAIT)
		return -ENOENT;
	if (len > s->lim.max_msg)
		return -EMSGSIZE;
	/* Our service time, for when to receipt (rcpt_delay()) */
	if (t->created && now_ns > t->created) {
		uint64_t svc = now_ns - t->created;

		s->svc_srtt = s->svc_srtt
				      ? s->svc_srtt - s->svc_srtt / 8 + svc / 8
				      : svc;
	}
	aw_unlink(e, s, t);
	/* The placeholder becomes the response: same table slot. */
	account_tx(e, t, -1);
	t->kind = ENG_TX_RESPONSE;
	err = tx_start(e, t, data, len, 0, now_ns);
	if (err) {
		t->kind = ENG_TX_AWAIT;
		account_tx(e, t, 1);
		return err;
	}
	tx_pipe(e, t);
	eng_tx_flush(e);
	return 0;
}

/* The end of an engine call: queued DATA out (unless the backend pulls),
 * then the backend's flush, unless inside a batch
 * (smt_engine_batch_end() does it). */
void eng_tx_flush(struct smt_engine *e)
{
	if (e->batch)
		return;
	if (!e->cfg.tx_pull)
		eng_tx_pull(e, UINT_MAX);
	if (e->sent && e->ops.flush)
		e->ops.flush(e->ctx);
	e->sent = false;
}
