// SPDX-License-Identifier: BSD-2-Clause
/*
 * Reassembly of one SMT message (docs/protocol.md section 3, "Receiving").
 *
 * Each record has its own buffer, allocated when its first packet arrives
 * and never larger than one record (16406 bytes) or the rest of msg_len, so
 * one forged packet cannot make the receiver allocate a whole message. The
 * bytes of a record, its seg_off and the message's msg_len are provisional
 * until the record verifies. A record is decrypted as its bytes come:
 * from its first packet on (the header fixes its length) a reader of its
 * own (smt_rec_rd) takes each packet's payload that continues the bytes
 * it has taken straight from the packet, and bytes that come ahead of a
 * gap are kept in the record's buffer until the gap fills; the tag is
 * checked when the last byte is in. A verified record's position is
 * confirmed once every record before it is verified and they tile the
 * stream from 0; a verified record that does not fit that tiling was
 * moved and fails. The message is done when the confirmed records end
 * exactly at msg_len. Where the plaintext goes is chosen when the record
 * starts: a message of one record into an application buffer of the
 * record's size (inner header aside); the record next in the confirmed
 * order into the message's application buffer after the content confirmed
 * before it (record 0 too once a later record verified, as when the
 * sender sends the last record first); any other (a message's first
 * record of several while none verified, since the buffer of msg_len
 * bytes is allocated only after a record verified, or a record ahead of
 * a gap) into its own buffer, copied once confirmed. A
 * failed tag wipes what the record wrote. Plaintext leaves only through
 * smt_rx_msg_take(), whole or not at all: it hands that buffer over.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "bufpool.h"
#include "codec.h"

#define REC_WIRE_MAX (SMT_REC_HDR_LEN + SMT_REC_MAX_LEN) /* 16406 */
#define REC_WIRE_MIN (SMT_REC_MIN_CONTENT + SMT_REC_OVERHEAD) /* 4118 */
#define REC_CHUNK 16 /* a forged rec_idx costs one chunk, not an array */
#define RD_MEM 1024 /* what a record's reader costs, about */

enum rec_state { REC_EMPTY, REC_PARTIAL, REC_VERIFIED };

/* Where a record's plaintext goes (see the top). */
enum rec_dest {
	DEST_OWN, /* its own buffer, in place: buf + 5 */
	DEST_ONLY, /* record 0 (the only one, or the first, its buffer
		      there): ih, then app */
	DEST_NEXT, /* next in order: app + app_len */
};

struct ivl {
	uint32_t s, e; /* [s, e) relative to seg_off */
};

struct rx_rec {
	/* wire bytes held ahead of the reader; DEST_OWN: the plaintext in
	 * place before dec, the content after verification */
	uint8_t *buf;
	struct ivl *iv; /* received ranges, sorted, disjoint, not adjacent */
	struct ivl iv_in; /* iv while one range is enough (in-order bytes) */
	struct smt_rec_rd *rd; /* from the first packet to the tag */
	uint32_t dec; /* bytes the reader took (0: none; then from 5) */
	uint32_t seg_off;
	uint32_t len; /* record bytes with header; 0 until the header is in */
	uint32_t cap; /* bytes allocated in buf */
	uint32_t held; /* bytes received */
	uint32_t content_len; /* after verification */
	uint16_t niv, civ;
	uint8_t state;
	uint8_t failures;
	uint8_t dest; /* enum rec_dest */
	bool in_app; /* its content is in the app buffer */
};

struct smt_rx_msg {
	uint64_t msg_id;
	struct smt_limits lim;
	uint32_t msg_len; /* 0 = unknown */
	uint32_t rcvd; /* sum of rec_bytes() over the records */
	bool any_verified;
	bool done;
	uint32_t nconf; /* records 0..nconf-1 verified and tiling from 0 */
	uint32_t conf_end; /* wire offset where record nconf must start */
	struct rx_rec **chunk; /* records in chunks of REC_CHUNK, on demand */
	struct rx_rec *chunk_in[1]; /* chunk while one is enough */
	uint32_t nchunk;
	size_t mem;
	unsigned int max_fail;
	/* confirmed content: the inner header, then the application bytes */
	uint8_t ih[SMT_INNER_HDR_LEN];
	uint32_t ih_len;
	uint8_t *app;
	uint32_t app_len, app_cap;
};

struct smt_rx_msg *smt_rx_msg_new(uint64_t msg_id, const struct smt_limits *l)
{
	struct smt_rx_msg *m;

	if (!l || !smt_rule_b(l->B) || !smt_msg_id_ok(msg_id, l->B)) {
		errno = EINVAL;
		return NULL;
	}
	m = smt_zalloc(sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	m->msg_id = msg_id;
	m->lim = *l;
	m->mem = sizeof(*m);
	return m;
}

static void app_free(struct smt_rx_msg *m)
{
	if (m->app) {
		OPENSSL_cleanse(m->app, m->app_cap);
		smt_pool_free(m->app);
		m->mem -= m->app_cap;
	}
	m->app = NULL;
	m->app_len = m->app_cap = 0;
}

/* The record's reader back to rx's pool (NULL: freed). */
static void rd_drop(struct smt_rx_msg *m, struct rx_rec *r, struct smt_aead *rx)
{
	if (!r->rd)
		return;
	smt_rec_rd_put(rx, r->rd);
	r->rd = NULL;
	m->mem -= RD_MEM;
}

/* What record r adds to smt_rx_msg_received(). */
static uint32_t rec_bytes(const struct rx_rec *r)
{
	return r->state == REC_VERIFIED ? r->len : r->held;
}

/* Forgets r's received ranges (r->iv NULL, no room). */
static void iv_drop(struct smt_rx_msg *m, struct rx_rec *r)
{
	if (r->iv != &r->iv_in)
		free(r->iv);
	m->mem -= (size_t)r->civ * sizeof(*r->iv);
	r->iv = NULL;
	r->niv = r->civ = 0;
}

static void rec_clear(struct smt_rx_msg *m, struct rx_rec *r)
{
	m->rcvd -= rec_bytes(r);
	/* what an unfinished reader wrote is not authentic */
	smt_rec_rd_wipe(r->rd);
	rd_drop(m, r, NULL);
	if (r->state != REC_VERIFIED && r->dest == DEST_ONLY) {
		app_free(m);
		OPENSSL_cleanse(m->ih, sizeof(m->ih));
		m->ih_len = 0;
	}
	if (r->buf) {
		/* plaintext: verified, or a reader's in place */
		OPENSSL_cleanse(r->buf, r->cap);
		free(r->buf);
		m->mem -= r->cap;
	}
	iv_drop(m, r);
	r->buf = NULL;
	r->seg_off = r->len = r->cap = r->held = r->content_len = 0;
	r->dec = 0;
	r->state = REC_EMPTY;
	r->dest = DEST_OWN;
	r->in_app = false;
}

void smt_rx_msg_free(struct smt_rx_msg *m)
{
	if (!m)
		return;
	for (uint32_t c = 0; c < m->nchunk; c++) {
		if (!m->chunk[c])
			continue;
		for (uint32_t i = 0; i < REC_CHUNK; i++) {
			struct rx_rec *r = &m->chunk[c][i];

			/* a record never touched holds nothing to wipe (a
			 * message of one record leaves 15 such) */
			if (r->state != REC_EMPTY || r->dest != DEST_OWN ||
			    r->buf || r->iv || r->rd)
				rec_clear(m, r);
		}
		free(m->chunk[c]);
	}
	if (m->chunk != m->chunk_in)
		free(m->chunk);
	app_free(m);
	OPENSSL_cleanse(m->ih, sizeof(m->ih));
	free(m);
}

/* Records a stream of msg_len bytes can hold: k < this. */
static uint32_t rec_limit(const struct smt_rx_msg *m, uint32_t msg_len)
{
	uint32_t lim = smt_rec_idx_limit(m->lim.B);
	uint32_t by_len = msg_len / REC_WIRE_MIN + 1;

	return by_len < lim ? by_len : lim;
}

/* Record k, or NULL when it was never touched (and create is false). */
static struct rx_rec *rec_at(struct smt_rx_msg *m, uint32_t k, bool create)
{
	uint32_t c = k / REC_CHUNK;

	if (c >= m->nchunk) {
		struct rx_rec **t;

		if (!create)
			return NULL;
		if (c < SMT_NELEM(m->chunk_in))
			t = m->chunk_in;
		else if (m->chunk == m->chunk_in)
			t = malloc((size_t)(c + 1) * sizeof(*t));
		else
			t = realloc(m->chunk, (size_t)(c + 1) * sizeof(*t));
		if (!t)
			return NULL;
		if (m->chunk == m->chunk_in)
			memcpy(t, m->chunk_in, m->nchunk * sizeof(*t));
		memset(t + m->nchunk, 0, (c + 1 - m->nchunk) * sizeof(*t));
		m->mem += (c + 1 - m->nchunk) * sizeof(*t);
		m->chunk = t;
		m->nchunk = c + 1;
	}
	if (!m->chunk[c]) {
		if (!create)
			return NULL;
		m->chunk[c] = smt_zalloc(REC_CHUNK * sizeof(struct rx_rec));
		if (!m->chunk[c])
			return NULL;
		m->mem += REC_CHUNK * sizeof(struct rx_rec);
	}
	return &m->chunk[c][k % REC_CHUNK];
}

/* Every record slot that exists, for loops: k from 0 to rec_end(m). */
static uint32_t rec_end(const struct smt_rx_msg *m)
{
	return m->nchunk * REC_CHUNK;
}

static const struct rx_rec *rec_peek(const struct smt_rx_msg *m, uint32_t k)
{
	uint32_t c = k / REC_CHUNK;

	if (c >= m->nchunk || !m->chunk[c])
		return NULL;
	return &m->chunk[c][k % REC_CHUNK];
}

/* A record failed: forget its bytes and layout, count it. */
static int rec_fail(struct smt_rx_msg *m, struct rx_rec *r, int reason)
{
	rec_clear(m, r);
	if (r->failures < 255)
		r->failures++;
	if (r->failures > m->max_fail)
		m->max_fail = r->failures;
	return reason;
}

/* Compares [a, b) where it overlaps bytes held, except those the reader
 * took (they are gone; its tag decides); *fresh = bytes not held. */
static int rec_check(const struct rx_rec *r, uint32_t a, uint32_t b,
		     const uint8_t *data, uint32_t *fresh)
{
	uint32_t nb = b - a, i;

	for (i = 0; i < r->niv && r->iv[i].s < b; i++) {
		uint32_t lo, hi;

		if (r->iv[i].e <= a)
			continue;
		lo = a > r->iv[i].s ? a : r->iv[i].s;
		hi = b < r->iv[i].e ? b : r->iv[i].e;
		nb -= hi - lo;
		if (lo < r->dec)
			lo = hi < r->dec ? hi : r->dec;
		if (hi > lo && memcmp(r->buf + lo, data + (lo - a), hi - lo))
			return SMT_DROP_BYTES_MISMATCH;
	}
	*fresh = nb;
	return 0;
}

/* Room for one more range. 0 or SMT_DROP_NO_MEMORY. */
static int rec_iv_room(struct smt_rx_msg *m, struct rx_rec *r)
{
	uint16_t nc = r->civ > 1 ? r->civ * 2 : 4;
	struct ivl *v;

	if (r->niv < r->civ)
		return 0;
	if (r->civ >= 0x8000)
		return SMT_DROP_NO_MEMORY;
	if (!r->civ) {
		nc = 1;
		v = &r->iv_in;
	} else if (r->iv == &r->iv_in) {
		v = malloc(nc * sizeof(*v));
		if (v)
			v[0] = r->iv_in;
	} else {
		v = realloc(r->iv, nc * sizeof(*v));
	}
	if (!v)
		return SMT_DROP_NO_MEMORY;
	m->mem += (size_t)(nc - r->civ) * sizeof(*v);
	r->iv = v;
	r->civ = nc;
	return 0;
}

/* Takes [a, b) (nb new bytes in it, checked; room for a range made): the
 * reader takes them straight from data when they continue what it took,
 * else they are kept in buf (cap bytes, allocated here); then the reader
 * takes what was kept and now follows. 0, SMT_DROP_NO_MEMORY (nothing
 * changed; never for bytes the reader takes) or SMT_DROP_RECORD_AUTH (the
 * reader failed). */
static int rec_put(struct smt_rx_msg *m, struct rx_rec *r, uint32_t a,
		   uint32_t b, const uint8_t *data, uint32_t nb, uint32_t cap)
{
	bool direct = r->rd && a <= r->dec;
	uint32_t i, j, ns = a, ne = b;

	if (!direct && !r->buf) {
		r->buf = malloc(cap);
		if (!r->buf)
			return SMT_DROP_NO_MEMORY;
		r->cap = cap;
		m->mem += cap;
	}
	if (direct) {
		if (b > r->dec &&
		    smt_rec_rd_feed(r->rd, data + (r->dec - a), b - r->dec))
			return SMT_DROP_RECORD_AUTH;
		if (b > r->dec)
			r->dec = b;
	} else {
		memcpy(r->buf + a, data, b - a);
	}
	for (i = 0; i < r->niv && r->iv[i].e < a; i++)
		;
	for (j = i; j < r->niv && r->iv[j].s <= b; j++) {
		if (r->iv[j].s < ns)
			ns = r->iv[j].s;
		if (r->iv[j].e > ne)
			ne = r->iv[j].e;
	}
	memmove(&r->iv[i + 1], &r->iv[j], (r->niv - j) * sizeof(*r->iv));
	r->iv[i].s = ns;
	r->iv[i].e = ne;
	r->niv = (uint16_t)(r->niv - (j - i) + 1);
	r->held += nb;
	m->rcvd += nb;
	/* what was kept ahead of the gap this filled */
	if (r->rd && r->iv[0].s == 0 && r->iv[0].e > r->dec) {
		if (smt_rec_rd_feed(r->rd, r->buf + r->dec,
				    r->iv[0].e - r->dec))
			return SMT_DROP_RECORD_AUTH;
		r->dec = r->iv[0].e;
	}
	return 0;
}

/* Header of a record's first packet: 17 03 03, length in range, in msg_len. */
static uint32_t rec_hdr_len(uint32_t msg_len, uint32_t seg_off,
			    const uint8_t *h)
{
	uint32_t l = (uint32_t)h[3] << 8 | h[4];

	if (h[0] != SMT_REC_TYPE || h[1] != SMT_REC_VER_HI ||
	    h[2] != SMT_REC_VER_LO || l < SMT_REC_MIN_LEN ||
	    l > SMT_REC_MAX_LEN ||
	    (uint64_t)seg_off + SMT_REC_HDR_LEN + l > msg_len)
		return 0;
	return SMT_REC_HDR_LEN + l;
}

static bool any_verified(const struct smt_rx_msg *m)
{
	for (uint32_t k = 0; k < rec_end(m); k++) {
		const struct rx_rec *r = rec_peek(m, k);

		if (r && r->state == REC_VERIFIED)
			return true;
	}
	return false;
}

/* Appends n content bytes: the inner header first, then the app buffer
 * (which has room). */
static void content_put(struct smt_rx_msg *m, const uint8_t *src, uint32_t n)
{
	uint32_t h = SMT_INNER_HDR_LEN - m->ih_len;

	if (h > n)
		h = n;
	memcpy(m->ih + m->ih_len, src, h);
	m->ih_len += h;
	if (n > h) {
		memcpy(m->app + m->app_len, src + h, n - h);
		m->app_len += n - h;
	}
}

/* The app buffer: msg_len bytes bound the content (allocated once a
 * record verified, so msg_len is no forger's word alone). */
static int app_alloc(struct smt_rx_msg *m)
{
	if (m->app)
		return 0;
	m->app = smt_pool_alloc(m->msg_len);
	if (!m->app)
		return -ENOMEM;
	m->app_cap = m->msg_len;
	m->mem += m->app_cap;
	return 0;
}

/* A verified record decrypted in place is confirmed: its content moves to
 * the app buffer and its own buffer goes. 0 or -ENOMEM. */
static int app_put(struct smt_rx_msg *m, struct rx_rec *r)
{
	if (app_alloc(m))
		return -ENOMEM;
	content_put(m, r->buf + SMT_REC_HDR_LEN, r->content_len);
	OPENSSL_cleanse(r->buf, r->cap);
	free(r->buf);
	m->mem -= r->cap;
	r->buf = NULL;
	r->cap = 0;
	r->in_app = true;
	return 0;
}

/*
 * Record k's first packet is in (hdr: its first bytes, r->len known): its
 * reader starts, and where its plaintext goes is chosen. 0 or
 * SMT_DROP_NO_MEMORY, with nothing changed.
 */
static int rec_start(struct smt_rx_msg *m, uint32_t k, struct rx_rec *r,
		     uint32_t msg_len, const uint8_t *hdr, struct smt_aead *rx)
{
	uint64_t seq = smt_record_seq(m->msg_id, m->lim.B, k);
	uint32_t plain = r->len - SMT_REC_OVERHEAD; /* content + pad */
	uint8_t *ih = NULL, *out;
	size_t ih_len = 0;

	r->rd = smt_rec_rd_get(rx);
	if (!r->rd)
		return SMT_DROP_NO_MEMORY;
	m->mem += RD_MEM;
	if (k == 0 && r->len == msg_len && !m->app) {
		/* one record: a buffer of its size, however forged */
		m->app_cap = plain > SMT_INNER_HDR_LEN
				     ? plain - SMT_INNER_HDR_LEN
				     : 1;
		m->app = smt_pool_alloc(m->app_cap);
		if (!m->app) {
			m->app_cap = 0;
			goto nomem;
		}
		m->mem += m->app_cap;
		r->dest = DEST_ONLY;
		ih = m->ih;
		ih_len = SMT_INNER_HDR_LEN;
		out = m->app;
	} else if (k == 0 && !r->seg_off && !m->nconf && m->any_verified &&
		   !app_alloc(m) && !m->app_len && !m->ih_len &&
		   (uint64_t)m->app_cap + SMT_INNER_HDR_LEN >= plain) {
		/* record 0 of several, a later record verified first (the
		 * sender sends the last ahead: engine_tx.c tx_tail_ahead):
		 * msg_len is confirmed, so the message's buffer, and no
		 * buffer of its own and no copy. A failure frees it: it
		 * holds nothing confirmed yet (rec_clear) */
		r->dest = DEST_ONLY;
		ih = m->ih;
		ih_len = SMT_INNER_HDR_LEN;
		out = m->app;
	} else if (k == m->nconf && r->seg_off == m->conf_end && m->app &&
		   m->ih_len == SMT_INNER_HDR_LEN &&
		   m->app_cap - m->app_len >= plain) {
		r->dest = DEST_NEXT;
		out = m->app + m->app_len;
	} else {
		if (!r->buf) {
			r->buf = malloc(r->len);
			if (!r->buf)
				goto nomem;
			r->cap = r->len;
			m->mem += r->cap;
		}
		r->dest = DEST_OWN;
		out = r->buf + SMT_REC_HDR_LEN;
	}
	if (smt_rec_rd_start(r->rd, rx, seq, hdr, r->len, ih, ih_len, out)) {
		if (r->dest == DEST_ONLY)
			app_free(m);
		r->dest = DEST_OWN;
		goto nomem;
	}
	r->dec = SMT_REC_HDR_LEN;
	return 0;
nomem:
	rd_drop(m, r, rx);
	return SMT_DROP_NO_MEMORY;
}

/*
 * Extend the confirmed prefix over verified records that tile from 0. A
 * verified record at the wrong place was moved: it fails. A provisional
 * record whose seg_off contradicts the confirmed layout is discarded.
 */
static int confirm_chain(struct smt_rx_msg *m)
{
	for (;;) {
		struct rx_rec *r = rec_at(m, m->nconf, false);

		if (!r || r->state == REC_EMPTY)
			return 0;
		if (r->seg_off != m->conf_end) {
			if (r->state != REC_VERIFIED) {
				rec_clear(m, r);
				return 0;
			}
			rec_fail(m, r, SMT_DROP_SEG_OFF_MISMATCH);
			/* msg_len stays confirmed only by a record in place */
			m->any_verified = m->nconf > 0 || any_verified(m);
			return SMT_DROP_SEG_OFF_MISMATCH;
		}
		if (r->state != REC_VERIFIED)
			return 0;
		if (!r->in_app && app_put(m, r))
			return SMT_DROP_NO_MEMORY;
		m->conf_end += r->len;
		m->nconf++;
		if (m->conf_end == m->msg_len) {
			m->done = true;
			return 0;
		}
	}
	return 0;
}

/* Every byte of record r is in and its reader took them: the tag. */
static int rec_finish(struct smt_rx_msg *m, struct rx_rec *r,
		      struct smt_aead *rx)
{
	int n = r->rd && r->dec == r->len ? smt_rec_rd_end(r->rd)
					  : -SMT_DROP_RECORD_AUTH;

	rd_drop(m, r, rx);
	if (n < 0)
		return rec_fail(m, r, -n); /* wiped by the reader, rec_clear */
	r->content_len = (uint32_t)n;
	if (r->dest == DEST_ONLY) {
		m->ih_len = (uint32_t)n < SMT_INNER_HDR_LEN ? (uint32_t)n
							    : SMT_INNER_HDR_LEN;
		m->app_len = (uint32_t)n - m->ih_len;
	} else if (r->dest == DEST_NEXT) {
		m->app_len += (uint32_t)n;
	}
	if (r->dest != DEST_OWN) { /* buf held ciphertext only */
		free(r->buf);
		m->mem -= r->cap;
		r->buf = NULL;
		r->cap = 0;
		r->in_app = true;
	}
	m->rcvd += r->len - r->held; /* held == len here */
	r->state = REC_VERIFIED;
	iv_drop(m, r);
	m->any_verified = true;
	return confirm_chain(m);
}

int smt_rx_msg_add(struct smt_rx_msg *m, const struct smt_pkt *p,
		   struct smt_aead *rx, bool *progress)
{
	uint32_t msg_len, k, rel, rend, bound, fresh = 0, new_len = 0;
	bool was_empty;
	struct rx_rec *r;
	bool dummy;
	int ret;

	if (!progress)
		progress = &dummy;
	*progress = false;
	if (!m || !p || !rx || p->type != SMT_TYPE_DATA ||
	    p->msg_id != m->msg_id)
		return SMT_DROP_BAD_MSG_ID;
	if (m->done)
		return SMT_DROP_DUPLICATE;
	msg_len = m->msg_len ? m->msg_len : p->msg_len;
	if (p->msg_len != msg_len)
		return SMT_DROP_MSG_LEN_MISMATCH;
	/* Defensive repeats of the stateless rules smt_pkt_parse applied. */
	if (!p->payload_len)
		return SMT_DROP_EMPTY_PAYLOAD;
	if (p->seg_off > p->pkt_off)
		return SMT_DROP_SEG_AFTER_PKT;
	if ((uint64_t)p->pkt_off + p->payload_len > msg_len ||
	    msg_len > smt_max_wire(&m->lim))
		return SMT_DROP_PAST_MSG_LEN;
	rel = p->pkt_off - p->seg_off;
	rend = rel + p->payload_len;
	if (rend > REC_WIRE_MAX)
		return SMT_DROP_PAST_RECORD;

	k = p->rec_idx;
	if (k >= rec_limit(m, msg_len))
		return SMT_DROP_BAD_REC_IDX;
	r = rec_at(m, k, true);
	if (!r)
		return SMT_DROP_NO_MEMORY;

	/* Where the confirmed layout says record k starts. */
	if ((k == 0 && p->seg_off != 0) ||
	    (k == m->nconf && p->seg_off != m->conf_end) ||
	    (r->state != REC_EMPTY && r->seg_off != p->seg_off))
		return SMT_DROP_SEG_OFF_MISMATCH;
	if (r->state == REC_VERIFIED) {
		/* Its bytes are plaintext now; the tag vouched for them. */
		return rend > r->len ? SMT_DROP_PAST_RECORD : SMT_RX_MORE;
	}

	bound = msg_len - p->seg_off;
	if (bound > REC_WIRE_MAX)
		bound = REC_WIRE_MAX;
	if (r->len)
		bound = r->len;
	if (rend > bound)
		return SMT_DROP_PAST_RECORD;

	was_empty = r->state == REC_EMPTY;
	if (rel == 0 && !r->len) {
		/* The record's first packet: its header fixes the length. */
		if (p->payload_len < SMT_REC_START_MIN)
			return SMT_DROP_SHORT_REC_START;
		new_len = rec_hdr_len(msg_len, p->seg_off, p->payload);
		if (!new_len) {
			if (was_empty)
				return SMT_DROP_BAD_RECORD_HDR;
			return rec_fail(m, r, SMT_DROP_BAD_RECORD_HDR);
		}
		if (rend > new_len)
			return SMT_DROP_PAST_RECORD;
		/* bytes already held overrun the length: the record fails */
		if (r->niv && r->iv[r->niv - 1].e > new_len)
			return rec_fail(m, r, SMT_DROP_PAST_RECORD);
	}
	ret = rec_check(r, rel, rend, p->payload, &fresh);
	if (!ret && fresh)
		ret = rec_iv_room(m, r);
	if (ret || !fresh) {
		if (was_empty)
			rec_clear(m, r);
		return ret ? ret : SMT_RX_MORE;
	}
	r->seg_off = p->seg_off;
	if (new_len) {
		r->len = new_len;
		bound = new_len;
		/* before the reader may write into it */
		if (r->cap > new_len) {
			uint8_t *nb = realloc(r->buf, new_len);

			if (nb) {
				m->mem -= r->cap - new_len;
				r->buf = nb;
				r->cap = new_len;
			}
		}
		ret = rec_start(m, k, r, msg_len, p->payload, rx);
		if (ret) { /* what it held goes too: buf may be shorter */
			rec_clear(m, r);
			return ret;
		}
	}
	r->state = REC_PARTIAL;
	ret = rec_put(m, r, rel, rend, p->payload, fresh, bound);
	if (ret == SMT_DROP_NO_MEMORY) {
		if (was_empty)
			rec_clear(m, r);
		return ret;
	}
	m->msg_len = msg_len;
	if (ret)
		return rec_fail(m, r, ret);
	*progress = true;

	if (r->len && r->held == r->len) {
		ret = rec_finish(m, r, rx);
		if (ret)
			return ret;
	} else {
		ret = confirm_chain(m);
		if (ret)
			return ret;
	}
	return m->done ? SMT_RX_DONE : SMT_RX_MORE;
}

static int cmp_range(const void *a, const void *b)
{
	const struct smt_range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

int smt_rx_msg_missing(const struct smt_rx_msg *m, struct smt_range *r, int max)
{
	struct smt_range *held;
	uint32_t n = 0, pos = 0;
	int out = 0;

	if (!m || max <= 0 || !r)
		return 0;
	if (!m->msg_len) {
		r[0].off = 0;
		r[0].len = 0;
		return 1;
	}
	if (m->done)
		return 0;
	for (uint32_t k = 0; k < rec_end(m); k++) {
		const struct rx_rec *x = rec_peek(m, k);

		if (x)
			n += x->state == REC_VERIFIED ? 1u : x->niv;
	}
	held = calloc(n ? n : 1, sizeof(*held));
	if (!held) {
		r[0].off = 0;
		r[0].len = 0;
		return 1;
	}
	n = 0;
	for (uint32_t k = 0; k < rec_end(m); k++) {
		const struct rx_rec *x = rec_peek(m, k);

		if (!x)
			continue;
		if (x->state == REC_VERIFIED) {
			held[n].off = x->seg_off;
			held[n++].len = x->len;
			continue;
		}
		for (uint32_t i = 0; i < x->niv; i++) {
			held[n].off = x->seg_off + x->iv[i].s;
			held[n++].len = x->iv[i].e - x->iv[i].s;
		}
	}
	qsort(held, n, sizeof(*held), cmp_range);
	for (uint32_t i = 0; i < n && out < max; i++) {
		if (held[i].off > pos) {
			r[out].off = pos;
			r[out++].len = held[i].off - pos;
		}
		if (held[i].off + held[i].len > pos)
			pos = held[i].off + held[i].len;
	}
	if (pos < m->msg_len && out < max) {
		r[out].off = pos;
		r[out++].len = m->msg_len - pos;
	}
	free(held);
	return out;
}

void smt_rx_msg_discard_provisional(struct smt_rx_msg *m)
{
	if (!m)
		return;
	for (uint32_t k = 0; k < rec_end(m); k++) {
		struct rx_rec *r = rec_at(m, k, false);

		if (r && r->state == REC_PARTIAL)
			rec_clear(m, r);
	}
	if (!m->any_verified)
		m->msg_len = 0;
}

uint32_t smt_rx_msg_len(const struct smt_rx_msg *m)
{
	return m ? m->msg_len : 0;
}

/* The running count (kept where held and state change: O(1) per packet),
 * checked against the sum it stands for where SMT_REASM_CHECK is defined
 * (the fuzzers' and test-asan's builds of this file). */
uint32_t smt_rx_msg_received(const struct smt_rx_msg *m)
{
	if (!m)
		return 0;
#ifdef SMT_REASM_CHECK
	uint32_t n = 0;

	for (uint32_t k = 0; k < rec_end(m); k++) {
		const struct rx_rec *r = rec_peek(m, k);

		if (r)
			n += rec_bytes(r);
	}
	if (n != m->rcvd)
		abort();
#endif
	return m->rcvd;
}

unsigned int smt_rx_msg_max_record_failures(const struct smt_rx_msg *m)
{
	return m ? m->max_fail : 0;
}

bool smt_rx_msg_any_verified(const struct smt_rx_msg *m)
{
	return m && m->any_verified;
}

size_t smt_rx_msg_mem(const struct smt_rx_msg *m)
{
	return m ? m->mem : 0;
}

int smt_rx_msg_take(struct smt_rx_msg *m, uint8_t **app, uint32_t *len,
		    uint32_t *inner_flags)
{
	struct smt_inner_hdr ih;
	uint32_t alen, flags;

	if (!m || !app || !len || !m->done)
		return -EINVAL;
	*app = NULL;
	*len = 0;
	if (m->ih_len < SMT_INNER_HDR_LEN)
		return SMT_DROP_TRUNCATED;
	memcpy(&ih, m->ih, sizeof(ih));
	alen = be32toh(ih.app_len);
	flags = be32toh(ih.inner_flags);
	/* never more than the session's M, even when padding let msg_len
	 * carry it within max_wire (docs/protocol.md 3.4) */
	if (alen > m->lim.max_msg)
		return SMT_DROP_BAD_INNER;
	if (alen != m->app_len)
		return SMT_DROP_TRUNCATED;
	if ((flags & ~SMT_INNER_KNOWN_FLAGS) ||
	    ((flags & SMT_INNER_ONEWAY) && (m->msg_id & 1)))
		return SMT_DROP_BAD_INNER;
	if (alen) { /* the buffer the records were opened into */
		*app = m->app;
		m->mem -= m->app_cap;
		m->app = NULL;
		m->app_len = m->app_cap = 0;
	}
	*len = alen;
	if (inner_flags)
		*inner_flags = flags;
	return 0;
}
