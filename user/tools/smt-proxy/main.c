// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-proxy: unmodified request-response applications over SMT.
 *
 * Client role: accepts TCP (and Unix socket) connections, cuts each
 * connection's byte stream into requests with a framer and sends each as
 * one SMT request on the section's one session (smt_connect through the
 * local smtd), or, when one read held several whole requests (a
 * pipelining client), consecutive ones up to `batch` bytes as one message
 * (a batch, answered with all their replies); responses are written back
 * in each connection's request order. Server role: smt_serve; each client connection gets its own TCP
 * connection to the backend (so per-connection state such as SELECT,
 * MULTI/EXEC or AUTH behaves as with a direct connection); requests are
 * written to it in the client's order (SMT may deliver them in any order),
 * and the framer cuts the backend's byte stream into responses, each the
 * SMT response of its request (a batch's: all of them, or parts of at
 * most 64 KiB or one reply, the rest asked for with MORE requests).
 *
 * One thread, one epoll set: listeners, client connections, backend
 * connections, each endpoint's smt_fd, a signalfd and a 1 s timerfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lio.h"
#include "proxy.h"
#include "util.h"

enum ev_type {
	EV_LISTEN,
	EV_CONN,
	EV_SMT,
	EV_BACKEND,
	EV_SIGNAL,
	EV_TIMER,
	EV_CTL_LISTEN,
	EV_CTL,
};

struct ev {
	enum ev_type type;
	void *obj;
	int fd;
	uint32_t mask; /* what epoll watches now */
	int pre; /* rd holds this pass's read (read_ahead) */
	struct lio_op rd;
};

struct buf {
	uint8_t *d;
	size_t off, len, cap; /* data is d[off..len) */
};

struct counters {
	uint64_t conns_total, conns, requests, responses, refused;
	uint64_t protocol_errors, rpc_failed, backend_errors;
	uint64_t backend_connects, bytes_in, bytes_out;
	/* client: sessions set up, lost; in-flight requests sent again on a
	 * new session, or answered with an error because they may have run */
	uint64_t session_setups, sessions_lost, retried, lost_in_flight;
	/* messages that carried several requests (client: sent, server:
	 * received); responses sent (server) or received (client) in parts */
	uint64_t batches, parts;
	/* client: MOREs that found the send window full and waited */
	uint64_t more_waits;
};

struct proxy;

/* ---- client side ---------------------------------------------------------- */

/* A read-only request up to this size is kept inside its creq (a GET of
 * a short key is about 40 bytes). */
#define CREQ_INLINE 96
/* Freed creqs kept for reuse, per proxy, at most this many:
 * no calloc/free per request (perf: malloc and free were 10 to 15 % of
 * a pipelined proxy's samples). */
#define SPARE_MAX 4096

struct creq {
	struct creq *next;
	struct cconn *c; /* NULL once the connection is gone */
	struct proxy *p;
	int done, close_after, local;
	int unsent; /* waits to be sent (again, on a new session; a more:
		       when the send window has room) */
	int more; /* a MORE: the rest of the replies of the batch before it */
	uint32_t gen; /* the session generation it was sent in */
	uint8_t *data; /* the reply bytes, or a local error text */
	size_t len;
	uint8_t *frame; /* a read-only request's bytes, kept for a resend */
	size_t flen;
	uint32_t nreq; /* requests it carries (a batch: several); 0: none */
	uint8_t small[CREQ_INLINE]; /* frame, when it fits: no malloc */
};

struct cconn {
	struct ev ev;
	struct proxy *p;
	struct cconn *prev, *next;
	struct buf in, out;
	struct creq *head, *tail;
	uint64_t npend;
	uint32_t id, seq;
	int eof; /* no more input will be read */
	int dead; /* closed: freed after this epoll batch (zombies) */
	int sent_any;
	uint32_t gen; /* the session generation seq counts in */
	int stateful; /* sent a command that keeps state in its backend
			 connection (SELECT, AUTH, MULTI, ...) */
	int lost; /* that state was lost with a session */
	int dirty; /* on the proxy's dirty list: replies to write */
	int resend; /* a creq is unsent: conn_resend() has work */
	int close_now; /* write_dirty: closes after the replies written */
	struct lio_op wr; /* write_dirty's send */
	struct cconn *dnext;
	uint64_t nreq, nresp, bin, bout;
	time_t since;
	char peer[64];
};

/* ---- server side ---------------------------------------------------------- */

struct sreq {
	struct sreq *next;
	uint64_t id;
	uint32_t seq;
	int type;
	uint8_t *data; /* the whole SMT message; payload after the header */
	size_t len;
};

#define STREAM_BUCKETS 1024

/* A request message written to the backend: the SMT request to answer,
 * and how many replies (a batch: several) its response carries. */
struct ifl_ent {
	uint64_t id;
	uint32_t n;
	int wait; /* a part was sent: id is answered; waits for a MORE */
};

struct stream {
	struct ev ev;
	struct proxy *p;
	struct stream *hnext;
	uint32_t sid, conn;
	int connected, dead, closing;
	struct buf in, out;
	uint32_t next_seq;
	struct sreq *held; /* out of order, sorted by seq */
	uint64_t nheld;
	struct ifl_ent *ifl; /* requests written to the backend, FIFO ring */
	size_t ifl_head, ifl_n, ifl_cap;
	/* the replies the backend sent for ifl's head so far: racc bytes
	 * of in (from in.off), rgot replies */
	size_t racc;
	uint32_t rgot;
	time_t last_active;
	int dirty; /* on the proxy's dirty list: requests to write */
	int freed; /* closed: freed after this epoll batch (stream_zombies) */
	struct lio_op wr; /* write_dirty's send */
	struct stream *dnext;
};

struct proxy {
	struct proxy_cfg *cfg;
	struct smt_endpoint *ep;
	uint32_t sid; /* client: the session */
	int up; /* client: sid is a live session */
	int flush; /* client: flush_all() due */
	uint32_t gen; /* client: sessions set up so far */
	uint64_t retry_at, retry_ms; /* client: next set-up attempt (ms) */
	uint64_t down_since; /* client: ms */
	char why[160]; /* client: why the last session was lost or refused */
	struct ev smt_ev, tcp_ev, unix_ev, ctl_ev;
	struct cconn *conns;
	uint32_t next_conn_id;
	uint64_t outstanding; /* client: requests sent, not answered */
	struct stream *streams[STREAM_BUCKETS];
	uint64_t nstreams;
	/* what a batch of SMT messages touched, written once after it:
	 * client connections with replies, backend connections with
	 * requests (one write each instead of one per message) */
	struct cconn *dirty_conns;
	struct stream *dirty_streams;
	/* one message (header + request, status + reply) is built here
	 * before libsmt copies it: no malloc per message */
	struct buf msg;
	struct creq *spare_creqs; /* freed, for reuse (SPARE_MAX) */
	unsigned int nspare_creqs;
	struct counters ct;
};

static int epfd = -1;
static time_t now_s; /* time(NULL) once per event-loop pass */
static struct cconn *zombies; /* closed connections, freed between batches */
static struct stream *stream_zombies; /* the same for backend connections */
static int stopping;
static int verbose;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("smt-proxy: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- buffers -------------------------------------------------------------- */

static int buf_reserve(struct buf *b, size_t more)
{
	uint8_t *n;
	size_t cap;

	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + more <= b->cap)
		return 0;
	if (b->off) {
		memmove(b->d, b->d + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + more <= b->cap)
			return 0;
	}
	cap = b->cap ? b->cap : 16384;
	while (cap < b->len + more)
		cap *= 2;
	n = realloc(b->d, cap);
	if (!n)
		return -1;
	b->d = n;
	b->cap = cap;
	return 0;
}

static int buf_add(struct buf *b, const void *d, size_t n)
{
	if (buf_reserve(b, n))
		return -1;
	memcpy(b->d + b->len, d, n);
	b->len += n;
	return 0;
}

static size_t buf_used(const struct buf *b)
{
	return b->len - b->off;
}

static void buf_free(struct buf *b)
{
	free(b->d);
	memset(b, 0, sizeof(*b));
}

/* n bytes of p's message scratch buffer (valid until the next call). */
static uint8_t *msg_space(struct proxy *p, size_t n)
{
	p->msg.off = p->msg.len = 0;
	return buf_reserve(&p->msg, n) ? NULL : p->msg.d;
}

/* Reads what fd has (up to 256 KiB a call): >0 bytes, 0 at EOF, -1 error,
 * -2 nothing now. */
static ssize_t buf_read(struct buf *b, int fd)
{
	ssize_t r;

	if (buf_reserve(b, 65536))
		return -1;
	r = read(fd, b->d + b->len, b->cap - b->len);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? -2 : -1;
	b->len += (size_t)r;
	return r;
}

/* Writes what it can: 0, or -1 on an error. */
static int buf_write(struct buf *b, int fd, uint64_t *bytes)
{
	ssize_t r;

	while (buf_used(b)) {
		r = send(fd, b->d + b->off, buf_used(b), MSG_NOSIGNAL);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		b->off += (size_t)r;
		*bytes += (uint64_t)r;
	}
	b->off = b->len = 0;
	return 0;
}

/* Queues the send of what b holds to fd as op (lio.h); op->len 0: none. */
static void buf_write_queue(struct buf *b, int fd, struct lio_op *op)
{
	*op = (struct lio_op){
		.p = b->d + b->off, .len = buf_used(b), .fd = fd, .send = 1};
	if (op->len)
		lio_queue(op);
}

/* op's result (buf_write_queue, after lio_run) applied to b: 0, or -1 on
 * an error (as buf_write; what did not fit waits for EPOLLOUT). */
static int buf_written(struct buf *b, const struct lio_op *op, uint64_t *bytes)
{
	if (!op->len || op->res == -EAGAIN)
		return 0;
	if (op->res < 0)
		return -1;
	b->off += (size_t)op->res;
	*bytes += (uint64_t)op->res;
	if (b->off == b->len)
		b->off = b->len = 0;
	return 0;
}

/* The read of e's fd into b: the one read_ahead made in this pass, or one
 * now. As buf_read: >0 bytes, 0 at EOF, -1 error, -2 nothing now. */
static ssize_t ev_read(struct ev *e, struct buf *b)
{
	if (!e->pre)
		return buf_read(b, e->fd);
	e->pre = 0;
	if (e->rd.res >= 0)
		return e->rd.res; /* (in b already) */
	return e->rd.res == -EAGAIN ? -2 : -1;
}

/* ---- epoll ---------------------------------------------------------------- */

static int ev_set(struct ev *e, uint32_t mask)
{
	struct epoll_event ee = {.events = mask, .data.ptr = e};
	int op = e->mask == (uint32_t)-1 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;

	if (e->mask == mask)
		return 0;
	if (epoll_ctl(epfd, op, e->fd, &ee))
		return -1;
	e->mask = mask;
	return 0;
}

static void ev_init(struct ev *e, enum ev_type t, void *obj, int fd)
{
	e->type = t;
	e->obj = obj;
	e->fd = fd;
	e->mask = (uint32_t)-1;
}

static void ev_close(struct ev *e)
{
	if (e->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, e->fd, NULL);
		close(e->fd);
	}
	e->fd = -1;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* The 24-bit counts of the BATCH and PART headers, bytes 1..3. */
static void put24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

static uint32_t get24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* ---- client side ---------------------------------------------------------- */

/* A zeroed creq of p: a spare one, or a new one. */
static struct creq *creq_new(struct proxy *p)
{
	struct creq *r = p->spare_creqs;

	if (!r)
		return calloc(1, sizeof(*r));
	p->spare_creqs = r->next;
	p->nspare_creqs--;
	memset(r, 0, offsetof(struct creq, small));
	return r;
}

static void creq_free(struct creq *r)
{
	struct proxy *p = r->p;

	free(r->data);
	if (r->frame != r->small)
		free(r->frame);
	if (p && p->nspare_creqs < SPARE_MAX) {
		r->next = p->spare_creqs;
		p->spare_creqs = r;
		p->nspare_creqs++;
		return;
	}
	free(r);
}

/* from's frame (a resend's bytes) moves to to. */
static void creq_move_frame(struct creq *to, struct creq *from)
{
	if (from->frame == from->small) {
		memcpy(to->small, from->small, from->flen);
		to->frame = to->small;
	} else {
		to->frame = from->frame;
	}
	to->flen = from->flen;
	from->frame = NULL;
	from->flen = 0;
}

/* Its connection is going away: free it now, or when the SMT message
 * for it arrives (a response or a failure). */
static void creq_drop(struct creq *r)
{
	r->next = NULL;
	if (r->done || r->unsent)
		creq_free(r);
	else
		r->c = NULL;
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Sends one request message (header + frame) with r as its cookie: data
 * (a batch when r carries several requests), close, or more (the rest of
 * r's batch's replies: no frame, no sequence number of its own). */
static int send_req(struct proxy *p, struct cconn *c, int type,
		    const uint8_t *frame, size_t n, struct creq *r)
{
	uint8_t *m = msg_space(p, PROXY_HDR_LEN + n);
	uint64_t id;
	int err;

	if (!m)
		return -ENOMEM;
	if (c->gen != p->gen) {
		/* a new session: a new backend connection, counted from 0 */
		c->gen = p->gen;
		c->seq = 0;
		c->sent_any = 0;
	}
	memset(m, 0, 4);
	if (type == PROXY_REQ_DATA && r->nreq > 1) {
		type = PROXY_REQ_BATCH;
		put24(m + 1, r->nreq);
	}
	m[0] = (uint8_t)type;
	put32(m + 4, c->id);
	put32(m + 8, c->seq);
	if (n)
		memcpy(m + PROXY_HDR_LEN, frame, n);
	err = smt_send_request(p->ep, p->sid, m, PROXY_HDR_LEN + n,
			       (uint64_t)(uintptr_t)r, &id);
	if (err)
		return err;
	r->gen = p->gen;
	if (type != PROXY_REQ_MORE)
		c->seq++;
	if (type == PROXY_REQ_BATCH)
		p->ct.batches++;
	c->sent_any = 1;
	p->outstanding++;
	return 0;
}

/* What r counts for in its connection's pipeline (max_pipeline). */
static uint32_t creq_weight(const struct creq *r)
{
	return r->nreq ? r->nreq : 1;
}

static void conn_append(struct cconn *c, struct creq *r)
{
	r->c = c;
	r->p = c->p;
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	c->npend += creq_weight(r);
}

static const char *errprefix(const struct proxy *p)
{
	return p->cfg->framer == FRAMER_RESP ? "-ERR smt-proxy: " : "";
}

/* r answered with an error line (none for len32: a len32 peer would not
 * parse it; the connection is closed). */
static void creq_error(struct creq *r, const char *text)
{
	char line[320];

	free(r->data);
	r->data = NULL;
	if (r->p->cfg->framer != FRAMER_LEN32 &&
	    snprintf(line, sizeof(line), "%s%s\r\n", errprefix(r->p), text) > 0)
		r->data = (uint8_t *)strdup(line);
	r->len = r->data ? strlen((char *)r->data) : 0;
	r->done = 1;
	r->unsent = 0;
	r->close_after = 1;
}

/* A locally answered request (an error text), in order with the others. */
static void conn_local(struct cconn *c, const char *text, int close_after)
{
	struct creq *r = creq_new(c->p);

	if (!r) {
		c->eof = 1;
		return;
	}
	r->p = c->p;
	creq_error(r, text);
	r->local = 1;
	r->close_after = close_after;
	conn_append(c, r);
	if (close_after)
		c->eof = 1;
}

static void conn_free(struct cconn *c)
{
	struct proxy *p = c->p;
	struct creq *r, *nx;

	/* tell the server side to close its backend connection */
	if (c->sent_any) {
		r = creq_new(p);
		if (r) {
			r->p = p;
			if (send_req(p, c, PROXY_REQ_CLOSE, NULL, 0, r))
				creq_free(r);
		}
	}
	for (r = c->head; r; r = nx) {
		nx = r->next;
		creq_drop(r);
	}
	ev_close(&c->ev);
	buf_free(&c->in);
	buf_free(&c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->ct.conns--;
	/* an event of this batch may still name it: freed after the batch */
	c->dead = 1;
	c->next = zombies;
	zombies = c;
}

/* Moves finished replies, in request order, to the output; 1 when the
 * connection is to close after them. */
static int conn_collect(struct cconn *c)
{
	struct creq *r;
	int close_now = 0;

	while ((r = c->head) && r->done && !close_now) {
		if (r->len && buf_add(&c->out, r->data, r->len))
			close_now = 1;
		if (r->close_after)
			close_now = 1;
		c->head = r->next;
		if (!c->head)
			c->tail = NULL;
		c->npend -= creq_weight(r);
		creq_free(r);
	}
	return close_now;
}

/* After c's output was written (werr: the write failed): closed when it
 * failed, or when close_now (conn_collect) or EOF and nothing is left.
 * Returns -1 when the connection was freed. */
static int conn_written(struct cconn *c, int close_now, int werr)
{
	struct creq *r;

	if (werr) {
		conn_free(c);
		return -1;
	}
	if (close_now) {
		/* what the error line needs, then close; the rest is lost */
		c->eof = 1;
		while ((r = c->head)) {
			c->head = r->next;
			c->npend -= creq_weight(r);
			creq_drop(r);
		}
		c->tail = NULL;
	}
	if (c->eof && !c->head && !buf_used(&c->out)) {
		conn_free(c);
		return -1;
	}
	return 0;
}

/* Moves finished replies, in request order, to the output and writes.
 * Returns -1 when the connection was freed. */
static int conn_flush(struct cconn *c)
{
	struct proxy *p = c->p;
	int close_now = conn_collect(c), werr;

	c->bout -= p->ct.bytes_out;
	werr = buf_write(&c->out, c->ev.fd, &p->ct.bytes_out);
	c->bout += p->ct.bytes_out;
	return conn_written(c, close_now, werr);
}

static void session_down(struct proxy *p, const char *why);

/* Sends again, in order, the requests a lost session left unanswered
 * that are safe to repeat. 1 when none waits any more. */
static int conn_resend(struct cconn *c)
{
	struct proxy *p = c->p;
	struct creq *r;
	int err;

	for (r = c->head; r; r = r->next) {
		if (!r->unsent)
			continue;
		if (!p->up)
			return 0;
		err = send_req(p, c, r->more ? PROXY_REQ_MORE : PROXY_REQ_DATA,
			       r->frame, r->flen, r);
		if (err == -SMT_E_NOSESSION) {
			session_down(p, "the session was removed");
			return 0;
		}
		if (err == -EAGAIN)
			return 0;
		if (err) {
			creq_error(r, "cannot send again");
			continue;
		}
		r->unsent = 0;
		if (!r->more)
			p->ct.retried++;
	}
	c->resend = 0;
	return 1;
}

/* The request of n bytes at f is followed in c's input by whole requests
 * that may go in the same message (a batch): up to the section's batch
 * bytes in all, none refused or empty, within max_pipeline. Returns the
 * bytes of the batch; *nreq counts its requests, *cls is the class of the
 * batch (read-only when all are, stateful when one is). */
static ssize_t batch_more(struct cconn *c, const uint8_t *f, size_t n,
			  uint32_t *nreq, enum framer_cmd_class *cls)
{
	const struct proxy_cfg *cf = c->p->cfg;
	size_t avail = buf_used(&c->in) - (size_t)(f - (c->in.d + c->in.off));
	enum framer_cmd_class k;
	struct framer_req info;
	ssize_t m;

	while (cf->batch && c->npend + *nreq < cf->max_pipeline &&
	       *nreq < PROXY_BATCH_MAX) {
		m = framer_request(cf->framer, f + n, avail - n, cf->max_frame,
				   &info);
		if (m <= 0 || n + (size_t)m > cf->batch)
			break;
		if (cf->framer == FRAMER_RESP &&
		    (info.nargs == 0 || framer_resp_refusal(&info)))
			break;
		k = cf->framer == FRAMER_RESP ? framer_resp_class(&info)
					      : FRAMER_CMD_STATEFUL;
		if (k == FRAMER_CMD_STATEFUL || *cls == FRAMER_CMD_STATEFUL)
			*cls = FRAMER_CMD_STATEFUL;
		else if (k != *cls)
			*cls = FRAMER_CMD_WRITE;
		n += (size_t)m;
		(*nreq)++;
	}
	return (ssize_t)n;
}

/* Cuts requests out of the input and sends them. */
static void conn_parse(struct cconn *c)
{
	struct proxy *p = c->p;
	enum framer_cmd_class cls;
	struct framer_req info;
	const char *why;
	char text[128];
	uint32_t nreq;
	ssize_t n;
	int err;

	if (!conn_resend(c))
		return;
	while (!c->eof && buf_used(&c->in) && c->npend < p->cfg->max_pipeline &&
	       p->up) {
		struct creq *r;
		const uint8_t *f = c->in.d + c->in.off;

		n = framer_request(p->cfg->framer, f, buf_used(&c->in),
				   p->cfg->max_frame, &info);
		if (n == 0)
			return;
		if (n < 0) {
			p->ct.protocol_errors++;
			conn_local(
				c,
				n == FRAMER_ERR_BIG
					? "Protocol error: request larger "
					  "than max_frame"
					: "Protocol error: malformed request",
				1);
			return;
		}
		if (p->cfg->framer == FRAMER_RESP && info.nargs == 0) {
			c->in.off += (size_t)n; /* Redis ignores empty lines */
			continue;
		}
		if (p->cfg->framer == FRAMER_RESP &&
		    (why = framer_resp_refusal(&info))) {
			p->ct.refused++;
			snprintf(text, sizeof(text), "%s %s", info.name, why);
			conn_local(c, text, 0);
			c->in.off += (size_t)n;
			continue;
		}
		cls = p->cfg->framer == FRAMER_RESP ? framer_resp_class(&info)
						    : FRAMER_CMD_STATEFUL;
		nreq = 1;
		n = batch_more(c, f, (size_t)n, &nreq, &cls);
		if (c->lost) {
			conn_local(c,
				   "the SMT session was set up again and this "
				   "connection's state (SELECT, AUTH, MULTI, "
				   "...) is gone",
				   1);
			return;
		}
		r = creq_new(p);
		if (!r)
			return;
		r->p = p;
		r->nreq = nreq;
		if (cls == FRAMER_CMD_READONLY) {
			r->frame = (size_t)n <= sizeof(r->small)
					   ? r->small
					   : malloc((size_t)n);
			if (r->frame) {
				memcpy(r->frame, f, (size_t)n);
				r->flen = (size_t)n;
			}
		}
		err = send_req(p, c, PROXY_REQ_DATA, f, (size_t)n, r);
		if (err == -EAGAIN || err == -SMT_E_NOSESSION) {
			/* send window full: retried after events; or the
			 * session is gone: sent on the next one */
			creq_free(r);
			if (err == -SMT_E_NOSESSION)
				session_down(p, "the session was removed");
			return;
		}
		if (err) {
			creq_free(r);
			p->ct.rpc_failed++;
			snprintf(text, sizeof(text), "cannot send: %s",
				 smt_strerror(err));
			conn_local(c, text, 1);
			return;
		}
		conn_append(c, r);
		p->ct.requests += nreq;
		c->nreq += nreq;
		if (cls == FRAMER_CMD_STATEFUL)
			c->stateful = 1; /* lines, len32: unknown, kept */
		c->in.off += (size_t)n;
	}
}

static void conn_update(struct cconn *c)
{
	uint32_t m = 0;

	if (!c->eof && c->npend < c->p->cfg->max_pipeline &&
	    buf_used(&c->in) <= c->p->cfg->max_frame)
		m |= EPOLLIN;
	if (buf_used(&c->out))
		m |= EPOLLOUT;
	ev_set(&c->ev, m);
}

static void conn_event(struct cconn *c, uint32_t events)
{
	struct proxy *p = c->p;
	ssize_t r;

	if (c->dead)
		return;
	if (events & EPOLLIN) {
		r = ev_read(&c->ev, &c->in);
		if (r > 0) {
			p->ct.bytes_in += (uint64_t)r;
			c->bin += (uint64_t)r;
		} else if (r == 0)
			c->eof = 1;
		else if (r == -1) {
			conn_free(c);
			return;
		}
		conn_parse(c);
	} else if (events & (EPOLLHUP | EPOLLERR)) {
		conn_free(c); /* reset: nothing can be written any more */
		return;
	}
	if (conn_flush(c) < 0)
		return;
	conn_update(c);
}

static void accept_conns(struct proxy *p, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct cconn *c;
	int fd, one = 1;

	while ((fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		sl = sizeof(ss);
		if (p->ct.conns >= p->cfg->max_conns || stopping) {
			close(fd);
			p->ct.refused++;
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->p = p;
		c->id = p->next_conn_id++;
		c->gen = p->gen;
		c->since = time(NULL);
		if (ss.ss_family == AF_UNIX)
			snprintf(c->peer, sizeof(c->peer), "unix");
		else
			util_format_addr(&ss, 1, c->peer, sizeof(c->peer));
		ev_init(&c->ev, EV_CONN, c, fd);
		c->next = p->conns;
		if (p->conns)
			p->conns->prev = c;
		p->conns = c;
		p->ct.conns++;
		p->ct.conns_total++;
		conn_update(c);
	}
}

/* A part of the replies of r's batch (m: PROXY_RESP_PART): r is answered
 * with them, and a new request after r in c's order, sent as MORE, waits
 * for the others. 0, or -1 when the part is not one of r (then r gets a
 * backend error). */
static int batch_part(struct proxy *p, struct cconn *c, struct creq *r,
		      struct smt_msg *m)
{
	uint32_t k = get24(m->data + 1);
	struct creq *rest;
	int err;

	if (!k || k >= r->nreq || !(rest = creq_new(p)))
		return -1;
	rest->p = p;
	rest->c = c;
	rest->nreq = r->nreq - k;
	rest->more = 1;
	r->nreq = k;
	rest->next = r->next;
	r->next = rest;
	if (c->tail == r)
		c->tail = rest;
	err = send_req(p, c, PROXY_REQ_MORE, NULL, 0, rest);
	if (err == -EAGAIN) {
		/* no room: sent when there is (smt_event retries the
		 * connection, conn_resend). Not send_window's count (the
		 * part's own request just left it) but libsmt's request
		 * window: 4096 requests past the oldest one unanswered
		 * (test-proxy's more-wait check) */
		rest->unsent = 1;
		c->resend = 1;
		p->ct.more_waits++;
	} else if (err) {
		creq_error(rest, "cannot ask for the rest of a pipeline's "
				 "replies");
	}
	p->ct.parts++;
	p->ct.responses += k;
	c->nresp += k;
	memmove(m->data, m->data + PROXY_RESP_HDR_PART,
		m->len - PROXY_RESP_HDR_PART);
	r->data = m->data;
	m->data = NULL;
	r->len = m->len - PROXY_RESP_HDR_PART;
	return 0;
}

/* A response or a failure for one of our requests. */
static void client_msg(struct proxy *p, struct smt_msg *m)
{
	struct creq *r = (struct creq *)(uintptr_t)m->cookie;
	struct cconn *c;
	char text[160];

	if (!r)
		return;
	p->outstanding--;
	if (r->c && m->kind == SMT_MSG_FAILED && r->gen == p->gen &&
	    (m->error == -SMT_E_SESSION_GONE ||
	     m->error == -SMT_E_RPC_TIMEOUT ||
	     m->error == -SMT_E_UNREACHABLE)) {
		/* the session is dead or its peer silent: each request in
		 * flight is sent again on a new one or answered with an
		 * error (session_down), this one too */
		snprintf(text, sizeof(text), "%s", smt_strerror(m->error));
		session_down(p, text);
	}
	c = r->c;
	if (!c) { /* its connection is gone, or it was replaced */
		creq_free(r);
		return;
	}
	if (m->kind == SMT_MSG_FAILED) {
		p->ct.rpc_failed++;
		snprintf(text, sizeof(text), "request failed: %s",
			 smt_strerror(m->error));
		r->data = (uint8_t *)strdup(text);
		r->close_after = 1;
	} else if (m->len >= PROXY_RESP_HDR_PART &&
		   m->data[0] == PROXY_RESP_PART &&
		   batch_part(p, c, r, m) == 0) {
		/* the first replies of r's batch; the rest asked for */
	} else if (m->len < 1 || m->data[0] != PROXY_RESP_OK) {
		p->ct.backend_errors++;
		snprintf(text, sizeof(text), "%s%.*s\r\n", errprefix(p),
			 m->len > 1 ? (int)(m->len - 1 > 100 ? 100 : m->len - 1)
				    : 0,
			 m->len > 1 ? (const char *)m->data + 1 : "");
		r->data = p->cfg->framer == FRAMER_LEN32
				  ? NULL
				  : (uint8_t *)strdup(text);
		r->close_after = 1;
	} else {
		p->ct.responses += creq_weight(r);
		c->nresp += creq_weight(r);
		/* take the message's buffer: smt_msg_release() frees it */
		memmove(m->data, m->data + 1, m->len - 1);
		r->data = m->data;
		m->data = NULL;
		r->len = m->len - 1;
	}
	if (r->close_after && p->cfg->framer == FRAMER_LEN32) {
		free(r->data); /* a len32 peer gets no text: closed */
		r->data = NULL;
	}
	if (r->close_after) {
		if (r->data && r->data[strlen((char *)r->data) - 1] != '\n') {
			char *t = NULL;

			if (asprintf(&t, "%s%s\r\n", errprefix(p),
				     (char *)r->data) < 0)
				t = NULL;
			free(r->data);
			r->data = (uint8_t *)t;
		}
		r->len = r->data ? strlen((char *)r->data) : 0;
	}
	r->done = 1;
	if (!c->dirty) {
		c->dirty = 1;
		c->dnext = p->dirty_conns;
		p->dirty_conns = c;
	}
}

/* ---- client side: the session dies, a new one is set up ------------------- */

/* The session died: every request of c still in flight is replaced, in
 * its place in c's order, by one sent again on the next session (a
 * read-only command of a connection without backend state) or by the
 * error that it may have run, which ends the connection after the replies
 * before it. The request itself is dropped: its SMT failure frees it. */
static void conn_session_lost(struct cconn *c, const char *why)
{
	struct proxy *p = c->p;
	struct creq **pp, *r, *n;
	int bad = c->stateful;
	char text[256];

	if (c->stateful && c->sent_any)
		c->lost = 1; /* its next request is refused */
	for (pp = &c->head; (r = *pp); pp = &n->next) {
		n = r;
		if (r->done)
			continue;
		if (r->unsent && r->more) {
			/* its batch's replies went with the backend
			 * connection: never sent, so no SMT failure frees it */
			bad = 1;
			p->ct.lost_in_flight++;
			creq_error(r, "SMT session lost before the rest of the "
				      "pipeline's replies");
			continue;
		}
		if (r->unsent)
			continue;
		n = creq_new(p);
		if (!n) {
			n = r;
			c->eof = 1;
			continue;
		}
		n->c = c;
		n->p = p;
		n->next = r->next;
		n->nreq = r->nreq;
		if (!bad && r->frame) {
			n->unsent = 1;
			c->resend = 1;
			creq_move_frame(n, r);
		} else {
			bad = 1;
			p->ct.lost_in_flight++;
			snprintf(text, sizeof(text),
				 "SMT session lost (%s) before the reply; the "
				 "request may or may not have run",
				 why);
			creq_error(n, text);
		}
		if (c->tail == r)
			c->tail = n;
		*pp = n;
		r->c = NULL;
		r->next = NULL;
	}
}

static void session_down(struct proxy *p, const char *why)
{
	struct cconn *c;
	uint64_t lost = p->ct.lost_in_flight, out = p->outstanding;

	if (!p->up)
		return;
	p->up = 0;
	p->ct.sessions_lost++;
	p->down_since = p->retry_at = now_ms();
	p->retry_ms = 100;
	snprintf(p->why, sizeof(p->why), "%s", why);
	logf_("%s: SMT session %u lost (%s): setting up a new one",
	      p->cfg->name, p->sid, why);
	for (c = p->conns; c; c = c->next)
		conn_session_lost(c, why);
	/* what is still outstanding on it fails now (SESSION_GONE): the
	 * dropped requests, freed as their failures arrive */
	smt_session_remove(p->ep, p->sid);
	logf_("%s: %" PRIu64 " requests were in flight; %" PRIu64
	      " answered with the session-lost error, the others wait to be "
	      "sent again",
	      p->cfg->name, out, p->ct.lost_in_flight - lost);
	/* written (and connections closed) by flush_all() from the main
	 * loop: a caller may be in the middle of one of them */
	p->flush = 1;
}

/* After session_down(): the error replies out, their connections closed. */
static void flush_all(struct proxy *p)
{
	struct cconn *c, *nx;

	if (!p->flush)
		return;
	p->flush = 0;
	for (c = p->conns; c; c = nx) {
		nx = c->next;
		if (conn_flush(c) == 0)
			conn_update(c);
	}
}

/* Sets up a session through smtd (blocks for the handshake). 0 or -1. */
static int session_connect(struct proxy *p)
{
	const char *why;
	uint32_t sid;
	int err = smt_connect(p->ep, p->cfg->service, p->cfg->connect, &sid);

	if (err) {
		why = smt_last_error(p->ep);
		snprintf(p->why, sizeof(p->why), "%s%s%s", smt_strerror(err),
			 why && *why ? ": " : "", why ? why : "");
		return -1;
	}
	p->sid = sid;
	p->up = 1;
	p->gen++;
	p->ct.session_setups++;
	return 0;
}

/* While the session is down: a new one every retry_ms (100 ms doubling
 * to 1 s); connections whose requests waited 10 s get an error. */
static void session_retry(struct proxy *p)
{
	struct cconn *c, *nx;
	struct creq *r;
	uint64_t now = now_ms();

	if (p->up || p->cfg->role != ROLE_CLIENT || now < p->retry_at)
		return;
	if (session_connect(p) == 0) {
		logf_("%s: new SMT session %u after %" PRIu64 " ms",
		      p->cfg->name, p->sid, now_ms() - p->down_since);
	} else {
		p->retry_at = now_ms() + p->retry_ms;
		p->retry_ms = p->retry_ms * 2 > 1000 ? 1000 : p->retry_ms * 2;
		if (verbose)
			logf_("%s: no new session yet: %s", p->cfg->name,
			      p->why);
		if (now - p->down_since < 10000)
			return;
	}
	for (c = p->conns; c; c = nx) {
		nx = c->next;
		if (!p->up && (buf_used(&c->in) || c->head)) {
			for (r = c->head; r; r = r->next)
				if (r->unsent) {
					creq_error(r,
						   "no SMT session for 10 s");
					p->ct.lost_in_flight++;
				}
			c->in.off = c->in.len;
			conn_local(c, "no SMT session for 10 s", 1);
		}
		conn_parse(c);
		if (conn_flush(c) == 0)
			conn_update(c);
	}
}

/* ---- server side ---------------------------------------------------------- */

static struct stream **stream_slot(struct proxy *p, uint32_t sid, uint32_t conn)
{
	struct stream **s = &p->streams[(sid * 31 + conn) % STREAM_BUCKETS];

	while (*s && ((*s)->sid != sid || (*s)->conn != conn))
		s = &(*s)->hnext;
	return s;
}

/* The response to request id: hlen header bytes (status, a part's count)
 * and n bytes of replies or an error text; nrep: the replies it carries. */
static void reply_hdr(struct proxy *p, uint32_t sid, uint64_t id,
		      const uint8_t *hdr, size_t hlen, const void *d, size_t n,
		      uint32_t nrep)
{
	uint8_t *m = msg_space(p, n + hlen);
	int err;

	if (!m)
		return;
	memcpy(m, hdr, hlen);
	if (n)
		memcpy(m + hlen, d, n);
	err = smt_reply(p->ep, sid, id, m, n + hlen);
	if (err == -SMT_E_TOOBIG) {
		static const char t[] = "response larger than the session's M";
		static const uint8_t e = PROXY_RESP_ERROR;

		p->ct.protocol_errors++;
		reply_hdr(p, sid, id, &e, 1, t, sizeof(t) - 1, 0);
		return;
	}
	if (err) {
		p->ct.rpc_failed++;
		if (verbose)
			logf_("%s: reply: %s", p->cfg->name, smt_strerror(err));
		return;
	}
	if (hdr[0] != PROXY_RESP_ERROR)
		p->ct.responses += nrep;
}

static void reply(struct proxy *p, uint32_t sid, uint64_t id, int status,
		  const void *d, size_t n)
{
	uint8_t st = (uint8_t)status;

	reply_hdr(p, sid, id, &st, 1, d, n, 1);
}

static void stream_fail_all(struct stream *s, const char *why)
{
	while (s->ifl_n) {
		/* (a batch waiting for its MORE has no request to answer:
		 * the MORE gets an error when it comes) */
		if (!s->ifl[s->ifl_head].wait)
			reply(s->p, s->sid, s->ifl[s->ifl_head].id,
			      PROXY_RESP_ERROR, why, strlen(why));
		s->ifl_head = (s->ifl_head + 1) % s->ifl_cap;
		s->ifl_n--;
	}
	s->racc = 0;
	s->rgot = 0;
}

static void stream_kill(struct stream *s, const char *why)
{
	if (!s->dead) {
		s->p->ct.backend_errors++;
		if (verbose)
			logf_("%s: backend connection %u/%u: %s",
			      s->p->cfg->name, s->sid, s->conn, why);
	}
	s->dead = 1;
	stream_fail_all(s, why);
	ev_close(&s->ev);
}

static void stream_free(struct stream *s)
{
	struct proxy *p = s->p;
	struct stream **slot = stream_slot(p, s->sid, s->conn);
	struct sreq *r;

	*slot = s->hnext;
	stream_fail_all(s, "connection closed");
	while ((r = s->held)) {
		s->held = r->next;
		reply(p, s->sid, r->id, PROXY_RESP_ERROR, "connection closed",
		      17);
		free(r->data);
		free(r);
	}
	ev_close(&s->ev);
	buf_free(&s->in);
	buf_free(&s->out);
	free(s->ifl);
	p->nstreams--;
	p->ct.conns--;
	/* an event of this epoll batch may still name it (a CLOSE in an SMT
	 * message frees it before its backend's event is handled) */
	s->freed = 1;
	s->hnext = stream_zombies;
	stream_zombies = s;
}

static socklen_t addr_len(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_UNIX)
		return sizeof(struct sockaddr_un);
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					: sizeof(struct sockaddr_in);
}

static struct stream *stream_new(struct proxy *p, uint32_t sid, uint32_t conn)
{
	const struct sockaddr_storage *a = &p->cfg->backend_addr;
	struct stream *s;
	int fd, one = 1;

	if (p->nstreams >= p->cfg->max_conns)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->p = p;
	s->sid = sid;
	s->conn = conn;
	s->last_active = now_s;
	fd = socket(a->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	ev_init(&s->ev, EV_BACKEND, s, fd);
	if (fd < 0) {
		s->dead = 1;
	} else {
		if (a->ss_family != AF_UNIX)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
		/* a Unix socket connects at once or fails (EAGAIN: the
		 * backend's backlog is full), counted as a backend error */
		if (connect(fd, (const struct sockaddr *)a, addr_len(a)) == 0)
			s->connected = 1;
		else if (errno != EINPROGRESS)
			s->dead = 1;
		if (s->dead)
			ev_close(&s->ev);
		else
			ev_set(&s->ev, EPOLLIN | EPOLLOUT);
	}
	if (s->dead)
		p->ct.backend_errors++;
	p->ct.backend_connects++;
	p->ct.conns++;
	p->ct.conns_total++;
	s->hnext = NULL;
	*stream_slot(p, sid, conn) = s;
	p->nstreams++;
	return s;
}

static int ifl_push(struct stream *s, uint64_t id, uint32_t nrep)
{
	if (s->ifl_n == s->ifl_cap) {
		size_t cap = s->ifl_cap ? s->ifl_cap * 2 : 64, i;
		struct ifl_ent *n = malloc(cap * sizeof(*n));

		if (!n)
			return -1;
		for (i = 0; i < s->ifl_n; i++)
			n[i] = s->ifl[(s->ifl_head + i) % s->ifl_cap];
		free(s->ifl);
		s->ifl = n;
		s->ifl_cap = cap;
		s->ifl_head = 0;
	}
	s->ifl[(s->ifl_head + s->ifl_n) % s->ifl_cap] =
		(struct ifl_ent){.id = id, .n = nrep};
	s->ifl_n++;
	return 0;
}

/* The batch at the head of s sent a part and waits for the client's MORE
 * (the replies behind it wait too). */
static int stream_waits(const struct stream *s)
{
	return s->ifl_n && s->ifl[s->ifl_head].wait;
}

static void stream_update(struct stream *s)
{
	uint32_t m = buf_used(&s->out) || !s->connected ? EPOLLOUT : 0;

	if (s->dead)
		return;
	/* while waiting for a MORE, what the backend sends is kept only up
	 * to a part's worth beyond a reply (max_frame) */
	if (!stream_waits(s) ||
	    buf_used(&s->in) < PROXY_PART_BYTES + s->p->cfg->max_frame)
		m |= EPOLLIN;
	ev_set(&s->ev, m);
}

/* Whether s's requests can be written to its backend connection. */
static int stream_writable(const struct stream *s)
{
	return !s->dead && s->connected;
}

/* After s's requests were written (werr: the write failed). Returns -1
 * when the stream was freed. */
static int stream_settled(struct stream *s, int werr)
{
	if (werr)
		stream_kill(s, "backend write failed");
	/* closing: the client connection is gone, so a batch waiting for
	 * its MORE will not get one (a MORE on its way gets an error); its
	 * requests, and those after it, have reached the backend */
	if (s->closing && !s->held &&
	    (!s->ifl_n || (stream_waits(s) && !buf_used(&s->out)))) {
		stream_free(s);
		return -1;
	}
	stream_update(s);
	return 0;
}

/* Writes s's requests. Returns -1 when the stream was freed. */
static int stream_settle(struct stream *s)
{
	return stream_settled(
		s, stream_writable(s) &&
			   buf_write(&s->out, s->ev.fd, &s->p->ct.bytes_out));
}

/* The request next in the client's order (message d, len bytes, header
 * included): queued for the backend, or answered. */
static void stream_take(struct stream *s, uint64_t id, int type,
			const uint8_t *d, size_t len)
{
	uint32_t nrep = type == PROXY_REQ_BATCH ? get24(d + 1) : 1;

	s->next_seq++;
	if (type == PROXY_REQ_BATCH && nrep < 2) {
		s->p->ct.protocol_errors++;
		reply(s->p, s->sid, id, PROXY_RESP_ERROR, "bad batch", 9);
	} else if (type == PROXY_REQ_CLOSE) {
		reply(s->p, s->sid, id, PROXY_RESP_OK, NULL, 0);
		s->closing = 1;
	} else if (s->dead) {
		reply(s->p, s->sid, id, PROXY_RESP_ERROR,
		      "backend connection failed", 25);
	} else if (buf_add(&s->out, d + PROXY_HDR_LEN, len - PROXY_HDR_LEN) ||
		   ifl_push(s, id, nrep)) {
		reply(s->p, s->sid, id, PROXY_RESP_ERROR, "out of memory", 13);
	}
}

/* Writes the held requests that are next in the client's order. */
static void stream_pump(struct stream *s)
{
	struct sreq *r;

	while ((r = s->held) && r->seq == s->next_seq) {
		s->held = r->next;
		s->nheld--;
		stream_take(s, r->id, r->type, r->data, r->len);
		free(r->data);
		free(r);
	}
}

/* s is written once after this batch of SMT messages (write_dirty). */
static void stream_dirty(struct stream *s)
{
	if (!s->dirty) {
		s->dirty = 1;
		s->dnext = s->p->dirty_streams;
		s->p->dirty_streams = s;
	}
}

static void stream_more(struct proxy *p, struct stream *s, uint32_t sid,
			uint64_t id);

static void server_request(struct proxy *p, struct smt_msg *m)
{
	struct sreq *r, **pp;
	struct stream *s;
	uint32_t conn, seq;

	if (m->len < PROXY_HDR_LEN || m->data[0] > PROXY_REQ_MORE) {
		p->ct.protocol_errors++;
		reply(p, m->session, m->id, PROXY_RESP_ERROR,
		      "bad smt-proxy header", 20);
		return;
	}
	conn = get32(m->data + 4);
	seq = get32(m->data + 8);
	s = *stream_slot(p, m->session, conn);
	if (m->data[0] == PROXY_REQ_MORE) {
		stream_more(p, s, m->session, m->id);
		return;
	}
	if (!s && m->data[0] == PROXY_REQ_CLOSE) {
		reply(p, m->session, m->id, PROXY_RESP_OK, NULL, 0);
		return;
	}
	if (!s && !(s = stream_new(p, m->session, conn))) {
		p->ct.refused++;
		reply(p, m->session, m->id, PROXY_RESP_ERROR,
		      "too many backend connections", 28);
		return;
	}
	if (s->nheld >= p->cfg->max_pipeline ||
	    (int32_t)(seq - s->next_seq) < 0) {
		p->ct.protocol_errors++;
		reply(p, m->session, m->id, PROXY_RESP_ERROR,
		      "request out of window", 21);
		return;
	}
	if (m->data[0] == PROXY_REQ_DATA)
		p->ct.requests++;
	if (m->data[0] == PROXY_REQ_BATCH) {
		p->ct.requests += get24(m->data + 1);
		p->ct.batches++;
	}
	s->last_active = now_s;
	if (seq == s->next_seq) {
		/* in order (the common case): straight to the backend's
		 * output, no sreq; then what it let through */
		stream_take(s, m->id, m->data[0], m->data, m->len);
		stream_pump(s);
		stream_dirty(s);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		reply(p, m->session, m->id, PROXY_RESP_ERROR, "out of memory",
		      13);
		return;
	}
	r->id = m->id;
	r->seq = seq;
	r->type = m->data[0];
	r->data = m->data; /* taken: smt_msg_release() frees it otherwise */
	r->len = m->len;
	m->data = NULL;
	for (pp = &s->held; *pp && (int32_t)((*pp)->seq - seq) < 0;
	     pp = &(*pp)->next)
		;
	r->next = *pp;
	*pp = r;
	s->nheld++;
	stream_dirty(s);
}

/* After a batch of SMT messages: each connection it touched written once
 * (the replies of a client connection, the requests of a backend one),
 * all of them with one system call (lio.h). */
static void write_dirty(struct proxy *p)
{
	struct cconn *c;
	struct stream *s;
	uint64_t bytes = 0;

	for (s = p->dirty_streams; s; s = s->dnext) {
		s->wr.len = 0;
		if (!s->freed && stream_writable(s)) {
			buf_write_queue(&s->out, s->ev.fd, &s->wr);
		}
	}
	for (c = p->dirty_conns; c; c = c->dnext) {
		c->wr.len = 0;
		if (!c->dead) {
			c->close_now = conn_collect(c);
			buf_write_queue(&c->out, c->ev.fd, &c->wr);
		}
	}
	lio_run();
	while ((s = p->dirty_streams)) {
		p->dirty_streams = s->dnext;
		s->dirty = 0;
		if (!s->freed)
			stream_settled(s, buf_written(&s->out, &s->wr,
						      &p->ct.bytes_out));
	}
	while ((c = p->dirty_conns)) {
		p->dirty_conns = c->dnext;
		c->dirty = 0;
		if (c->dead)
			continue;
		if (conn_written(c, c->close_now,
				 buf_written(&c->out, &c->wr, &bytes)) == 0)
			conn_update(c);
		c->bout += bytes;
		p->ct.bytes_out += bytes;
		bytes = 0;
	}
}

/* The input buffer an event of e reads into, NULL when its handler does
 * not read (or reads otherwise: a backend connection still connecting). */
static struct buf *ev_in(struct ev *e, uint32_t events)
{
	struct cconn *c;
	struct stream *s;

	if (e->type == EV_CONN && (events & EPOLLIN)) {
		c = e->obj;
		return c->dead ? NULL : &c->in;
	}
	if (e->type == EV_BACKEND &&
	    (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		s = e->obj;
		return s->freed || !stream_writable(s) ? NULL : &s->in;
	}
	return NULL;
}

/* The reads of a pass's events, all with one system call (lio.h), before
 * any is handled: each result waits in its ev (ev_read). */
static void read_ahead(struct epoll_event *evs, int nev)
{
	struct ev *e;
	struct buf *b;
	int k;

	for (k = 0; k < nev; k++) {
		e = evs[k].data.ptr;
		e->pre = 0;
		if (!(b = ev_in(e, evs[k].events)) || buf_reserve(b, 65536))
			continue;
		e->rd = (struct lio_op){.p = b->d + b->len,
					.len = b->cap - b->len,
					.fd = e->fd};
		e->pre = 1;
		lio_queue(&e->rd);
	}
	lio_run();
	for (k = 0; k < nev; k++) {
		e = evs[k].data.ptr;
		if (e->pre && e->rd.res > 0)
			ev_in(e, evs[k].events)->len += (size_t)e->rd.res;
	}
}

/* Answers ifl's head with the backend's replies: all of them when they
 * are in, or (a batch whose replies run large) a part, the rest when the
 * client's MORE comes. A part ends before the reply that would take it
 * past PROXY_PART_BYTES, so no response is larger than that or than one
 * reply (max_frame): within the session's M. */
static void stream_replies(struct stream *s)
{
	struct proxy *p = s->p;
	struct ifl_ent *h;
	uint8_t hdr[PROXY_RESP_HDR_PART] = {PROXY_RESP_OK};
	int part;
	ssize_t n;

	while (!s->dead) {
		h = s->ifl_n ? &s->ifl[s->ifl_head] : NULL;
		n = 0;
		part = 0;
		if (h && s->rgot < h->n) {
			n = framer_response(
				p->cfg->framer, s->in.d + s->in.off + s->racc,
				buf_used(&s->in) - s->racc, p->cfg->max_frame);
			if (n == 0)
				break;
			part = n > 0 && s->rgot &&
			       s->racc + (size_t)n > PROXY_PART_BYTES;
		} else if (!h) {
			n = framer_response(p->cfg->framer, s->in.d + s->in.off,
					    buf_used(&s->in),
					    p->cfg->max_frame);
			if (n == 0)
				break;
		}
		if (n < 0 || !h) {
			p->ct.protocol_errors++;
			stream_kill(s, n == FRAMER_ERR_BIG
					       ? "backend response larger "
						 "than max_frame"
					       : "backend response "
						 "malformed or unsolicited");
			break;
		}
		if (n > 0 && !part) {
			s->racc += (size_t)n;
			s->rgot++;
			if (s->rgot < h->n)
				continue;
		}
		/* all of h's replies are in, or a part is due */
		if (h->wait)
			break; /* the client's MORE not yet here */
		hdr[0] = part ? PROXY_RESP_PART : PROXY_RESP_OK;
		put24(hdr + 1, s->rgot);
		reply_hdr(p, s->sid, h->id, hdr, part ? sizeof(hdr) : 1,
			  s->in.d + s->in.off, s->racc, s->rgot);
		s->in.off += s->racc;
		if (part) {
			p->ct.parts++;
			h->n -= s->rgot;
			h->wait = 1;
		} else {
			s->ifl_head = (s->ifl_head + 1) % s->ifl_cap;
			s->ifl_n--;
		}
		s->racc = 0;
		s->rgot = 0;
	}
}

/* A MORE request (id): the rest of the replies of the batch at the head of
 * s, which got a part. */
static void stream_more(struct proxy *p, struct stream *s, uint32_t sid,
			uint64_t id)
{
	struct ifl_ent *h = s && s->ifl_n ? &s->ifl[s->ifl_head] : NULL;

	if (!h || !h->wait) {
		p->ct.protocol_errors++;
		reply(p, sid, id, PROXY_RESP_ERROR,
		      "no replies wait for this request", 32);
		return;
	}
	h->id = id;
	h->wait = 0;
	s->last_active = now_s;
	stream_replies(s);
	stream_dirty(s);
}

static void backend_event(struct stream *s, uint32_t events)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	ssize_t n;

	if (s->freed)
		return;
	if (!s->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		getsockopt(s->ev.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			stream_kill(s, strerror(soerr));
			stream_settle(s);
			return;
		}
		s->connected = 1;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		n = ev_read(&s->ev, &s->in);
		if (n == 0 || n == -1) {
			stream_kill(s, n ? "backend read failed"
					 : "backend closed the connection");
			stream_settle(s);
			return;
		}
		stream_replies(s);
		s->last_active = now_s;
	}
	stream_settle(s);
}

static void server_idle(struct proxy *p, time_t now)
{
	struct stream *s, *nx;
	unsigned int i;

	for (i = 0; i < STREAM_BUCKETS; i++)
		for (s = p->streams[i]; s; s = nx) {
			nx = s->hnext;
			if (!s->ifl_n && !s->held &&
			    (s->dead || now - s->last_active >=
						(time_t)p->cfg->idle_timeout))
				stream_free(s);
		}
}

/* ---- SMT events ----------------------------------------------------------- */

static void smt_event(struct proxy *p)
{
	struct smt_msg m;
	struct cconn *c, *nx;
	int err = smt_process(p->ep);

	if (err < 0 && err != -EAGAIN && err != -EINTR && verbose)
		logf_("%s: smt_process: %s", p->cfg->name, smt_strerror(err));
	while (smt_recv(p->ep, &m) == 0) {
		if (m.kind == SMT_MSG_REQUEST && p->cfg->role == ROLE_SERVER)
			server_request(p, &m);
		else if ((m.kind == SMT_MSG_RESPONSE ||
			  m.kind == SMT_MSG_FAILED) &&
			 p->cfg->role == ROLE_CLIENT)
			client_msg(p, &m);
		smt_msg_release(&m);
	}
	write_dirty(p);
	/* connections that waited for room in the send window */
	if (p->cfg->role == ROLE_CLIENT)
		for (c = p->conns; c; c = nx) {
			nx = c->next;
			if ((buf_used(&c->in) && !c->eof) || c->resend) {
				conn_parse(c);
				if (conn_flush(c) == 0)
					conn_update(c);
			}
		}
}

/* ---- set-up --------------------------------------------------------------- */

/* A listening socket on sa, registered as ev. */
static int listen_one(struct proxy *p, struct ev *ev, const void *sa,
		      socklen_t salen, const char *what)
{
	int family = ((const struct sockaddr *)sa)->sa_family, one = 1;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 ||
	    (family != AF_UNIX &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))) ||
	    bind(fd, sa, salen) || listen(fd, 512)) {
		logf_("%s: listen on %s: %s", p->cfg->name, what,
		      strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ev_init(ev, EV_LISTEN, p, fd);
	return ev_set(ev, EPOLLIN);
}

static int listen_on(struct proxy *p)
{
	const struct proxy_cfg *cf = p->cfg;
	struct sockaddr_un un = {.sun_family = AF_UNIX};

	if (cf->listen[0] && listen_one(p, &p->tcp_ev, &cf->listen_addr,
					cf->listen_addr.ss_family == AF_INET6
						? sizeof(struct sockaddr_in6)
						: sizeof(struct sockaddr_in),
					cf->listen))
		return -1;
	if (cf->unix_path[0]) {
		if (strlen(cf->unix_path) >= sizeof(un.sun_path)) {
			logf_("%s: unix path too long", cf->name);
			return -1;
		}
		strcpy(un.sun_path, cf->unix_path);
		unlink(cf->unix_path);
		if (listen_one(p, &p->unix_ev, &un, sizeof(un), cf->unix_path))
			return -1;
	}
	return 0;
}

/* ---- counters and the control socket (smtctl proxy show) ------------------- */

/* JSON through json-c: names, peers and error texts escaped by it. */
static void jadd_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void jadd_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* The endpoint's SMT counters (client: its session's, server: all
 * sessions'), as "smt": packets, control packets, retransmissions, drops:
 * what to look at when requests stop being answered. */
static void smt_json(const struct proxy *p, json_object *o)
{
	struct smt_stats st = {.sz = sizeof(st)};
	const struct {
		const char *k;
		const uint64_t *v;
	} f[] = {
		{"tx_packets", &st.tx_packets},
		{"rx_packets", &st.rx_packets},
		{"tx_ctl", &st.tx_ctl},
		{"rx_ctl", &st.rx_ctl},
		{"tx_retransmits", &st.tx_retransmits},
		{"rx_dup_data", &st.rx_dup_data},
		{"rpcs_ok", &st.rpcs_ok},
		{"rpcs_failed", &st.rpcs_failed},
		{"tx_errors", &st.tx_errors},
		{"drops_total", &st.drops_total},
		{"srtt_us", &st.srtt_us},
		{"rto_us", &st.rto_us},
		{"tx_rcpts", &st.tx_rcpts},
		{"rx_rcpts", &st.rx_rcpts},
		{"probes_saved", &st.probes_saved},
		{"tx_probes", &st.tx_probes},
	};
	json_object *m;
	size_t i;

	if (!p->ep ||
	    smt_stats_get(p->ep, p->cfg->role == ROLE_CLIENT ? p->sid : 0, &st))
		return;
	m = json_object_new_object();
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		jadd_u64(m, f[i].k, *f[i].v);
	json_object_object_add(o, "smt", m);
}

/* The local hops' reads and sends and the system calls they took (the
 * process's, every section's together): "io_uring" says whether a pass's
 * reads, and its sends, go in one call (lio.h). */
static void lio_json(json_object *o)
{
	uint64_t ops, calls;

	lio_counts(&ops, &calls);
	json_object_object_add(o, "io_uring",
			       json_object_new_boolean(lio_ring()));
	jadd_u64(o, "local_ops", ops);
	jadd_u64(o, "local_calls", calls);
}

/* The section's counters, added to o. */
static void counters_json(const struct proxy *p, json_object *o)
{
	const struct counters *c = &p->ct;

	jadd_str(o, "name", p->cfg->name);
	jadd_str(o, "role", p->cfg->role == ROLE_CLIENT ? "client" : "server");
	jadd_str(o, "service", p->cfg->service);
	jadd_str(o, "framer", framer_name(p->cfg->framer));
	jadd_str(o, "encap", smt_encap_name(smt_endpoint_encap(p->ep)));
	jadd_u64(o, "connections", c->conns);
	jadd_u64(o, "connections_total", c->conns_total);
	jadd_u64(o, "requests", c->requests);
	jadd_u64(o, "responses", c->responses);
	jadd_u64(o, "refused", c->refused);
	jadd_u64(o, "protocol_errors", c->protocol_errors);
	jadd_u64(o, "rpc_failed", c->rpc_failed);
	jadd_u64(o, "backend_errors", c->backend_errors);
	jadd_u64(o, "backend_connects", c->backend_connects);
	jadd_u64(o, "outstanding", p->outstanding);
	jadd_u64(o, "bytes_in", c->bytes_in);
	jadd_u64(o, "bytes_out", c->bytes_out);
	jadd_u64(o, "batches", c->batches);
	jadd_u64(o, "parts", c->parts);
	lio_json(o);
	smt_json(p, o);
	if (p->cfg->role != ROLE_CLIENT)
		return;
	jadd_u64(o, "session", p->sid);
	json_object_object_add(o, "session_up", json_object_new_boolean(p->up));
	jadd_u64(o, "session_setups", c->session_setups);
	jadd_u64(o, "sessions_lost", c->sessions_lost);
	jadd_u64(o, "retried", c->retried);
	jadd_u64(o, "more_waits", c->more_waits);
	jadd_u64(o, "lost_in_flight", c->lost_in_flight);
	jadd_str(o, "session_error", p->why);
}

/* At most this many connections in one answer. */
#define CTL_MAX_CONNS 1000

/* o as one line of text into b. */
static void json_to_buf(json_object *o, struct buf *b)
{
	const char *t = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	if (t && !buf_add(b, t, strlen(t)))
		buf_add(b, "\n", 1);
	json_object_put(o);
}

/* Everything smtctl proxy show prints: the counters, then each client
 * connection (client) or backend connection (server). */
static void status_json(const struct proxy *p, struct buf *b)
{
	json_object *o = json_object_new_object(), *l, *e;
	const struct cconn *c;
	const struct stream *s;
	unsigned int i, n = 0;
	time_t now = time(NULL);

	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	counters_json(p, o);
	l = json_object_new_array();
	for (c = p->conns; c && n < CTL_MAX_CONNS; c = c->next, n++) {
		e = json_object_new_object();
		jadd_u64(e, "id", c->id);
		jadd_str(e, "peer", c->peer);
		json_object_object_add(e, "age",
				       json_object_new_int64(now - c->since));
		jadd_u64(e, "requests", c->nreq);
		jadd_u64(e, "responses", c->nresp);
		jadd_u64(e, "pending", c->npend);
		jadd_u64(e, "bytes_in", c->bin);
		jadd_u64(e, "bytes_out", c->bout);
		jadd_str(e, "state",
			 c->lost  ? "lost"
			 : c->eof ? "closing"
				  : "open");
		json_object_array_add(l, e);
	}
	for (i = 0; i < STREAM_BUCKETS; i++)
		for (s = p->streams[i]; s && n < CTL_MAX_CONNS;
		     s = s->hnext, n++) {
			e = json_object_new_object();
			jadd_u64(e, "id", s->conn);
			jadd_u64(e, "session", s->sid);
			json_object_object_add(
				e, "age",
				json_object_new_int64(now - s->last_active));
			jadd_u64(e, "in_flight", s->ifl_n);
			jadd_u64(e, "held", s->nheld);
			jadd_str(e, "state",
				 s->dead	? "failed"
				 : s->closing	? "closing"
				 : s->connected ? "open"
						: "connecting");
			json_object_array_add(l, e);
		}
	json_object_object_add(o, "connection_list", l);
	jadd_u64(o, "connections_listed", n);
	json_to_buf(o, b);
}

static void stats_write(const struct proxy *p)
{
	json_object *o = json_object_new_object();
	struct buf b = {0};
	char tmp[PROXY_PATH_MAX + 8];

	counters_json(p, o);
	json_to_buf(o, &b);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p->cfg->stats_file);
	if (b.d && util_write_file(tmp, b.d, b.len) == 0)
		rename(tmp, p->cfg->stats_file);
	buf_free(&b);
}

struct ctlc {
	struct ev ev;
	struct buf out;
};

static void ctl_close(struct ctlc *k)
{
	ev_close(&k->ev);
	buf_free(&k->out);
	free(k);
}

/* Each connection gets the status, then EOF; it sends nothing. */
static void ctl_accept(struct proxy *p)
{
	struct ctlc *k;
	uint64_t ignored = 0;
	int fd;

	while ((fd = accept4(p->ctl_ev.fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		k = calloc(1, sizeof(*k));
		if (!k) {
			close(fd);
			continue;
		}
		ev_init(&k->ev, EV_CTL, k, fd);
		status_json(p, &k->out);
		if (buf_write(&k->out, fd, &ignored) || !buf_used(&k->out) ||
		    ev_set(&k->ev, EPOLLOUT))
			ctl_close(k);
	}
}

static void ctl_event(struct ctlc *k)
{
	uint64_t ignored = 0;

	if (buf_write(&k->out, k->ev.fd, &ignored) || !buf_used(&k->out))
		ctl_close(k);
}

/* The section's control socket; the proxy runs without it when it cannot
 * be made (logged). */
static void ctl_listen(struct proxy *p)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	const char *path = p->cfg->control_socket;

	if (!strcmp(path, "none"))
		return;
	if (strlen(path) >= sizeof(un.sun_path)) {
		logf_("%s: control_socket path too long", p->cfg->name);
		return;
	}
	strcpy(un.sun_path, path);
	unlink(path);
	if (listen_one(p, &p->ctl_ev, &un, sizeof(un), path)) {
		logf_("%s: running without a control socket (smtctl proxy "
		      "show)",
		      p->cfg->name);
		return;
	}
	p->ctl_ev.type = EV_CTL_LISTEN;
	chmod(path, 0660);
}

static int proxy_open(struct proxy *p)
{
	const struct proxy_cfg *cf = p->cfg;
	struct smt_endpoint_opts o = {.sz = sizeof(o),
				      .port = cf->role == ROLE_SERVER ? cf->port
								      : 0,
				      .encap = cf->encap,
				      .max_tx_msgs = (uint32_t)cf->send_window,
				      /* run() sleeps until the next timer:
				       * no timerfd_settime per batch */
				      .caller_timers = true};
	const char *why;
	int err;

	ev_init(&p->tcp_ev, EV_LISTEN, p, -1);
	ev_init(&p->unix_ev, EV_LISTEN, p, -1);
	ev_init(&p->ctl_ev, EV_CTL_LISTEN, p, -1);
	err = smt_endpoint_open(&o, &p->ep);
	if (err) {
		logf_("%s: SMT endpoint: %s", cf->name, smt_strerror(err));
		return -1;
	}
	if (cf->smtd_socket[0])
		setenv("SMT_CTL_SOCKET", cf->smtd_socket, 1);
	if (cf->role == ROLE_CLIENT) {
		if (session_connect(p)) {
			logf_("%s: connecting to %s through smtd: %s", cf->name,
			      cf->service, p->why);
			return -1;
		}
	} else {
		err = smt_serve(p->ep, cf->service);
		if (err) {
			why = smt_last_error(p->ep);
			logf_("%s: serving %s through smtd: %s%s%s", cf->name,
			      cf->service, smt_strerror(err),
			      why && *why ? ": " : "", why ? why : "");
			return -1;
		}
	}
	ev_init(&p->smt_ev, EV_SMT, p, smt_fd(p->ep));
	if (ev_set(&p->smt_ev, EPOLLIN))
		return -1;
	if (cf->role == ROLE_CLIENT && listen_on(p))
		return -1;
	ctl_listen(p);
	logf_("%s: %s, service %s, encap %s, framer %s", cf->name,
	      cf->role == ROLE_CLIENT ? "client" : "server", cf->service,
	      smt_encap_name(smt_endpoint_encap(p->ep)),
	      framer_name(cf->framer));
	return 0;
}

static int show_stats(const struct proxy_cfg *cfg, unsigned int n)
{
	uint8_t *d;
	size_t len;
	unsigned int i;
	int rc = 0;

	for (i = 0; i < n; i++) {
		if (util_read_file(cfg[i].stats_file, 1 << 16, &d, &len)) {
			fprintf(stderr,
				"smt-proxy: %s: no counters in %s (not "
				"running?)\n",
				cfg[i].name, cfg[i].stats_file);
			rc = 1;
			continue;
		}
		fwrite(d, 1, len, stdout);
		free(d);
	}
	return rc;
}

/* ---- main loop ------------------------------------------------------------ */

static int busy_streams(const struct proxy *p)
{
	const struct stream *s;
	unsigned int i;

	for (i = 0; i < STREAM_BUCKETS; i++)
		for (s = p->streams[i]; s; s = s->hnext)
			if (s->ifl_n || s->held)
				return 1;
	return 0;
}

static int drained(struct proxy *ps, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (ps[i].cfg->role == ROLE_CLIENT &&
		    (ps[i].conns || ps[i].outstanding))
			return 0;
		if (ps[i].cfg->role == ROLE_SERVER && busy_streams(&ps[i]))
			return 0;
	}
	return 1;
}

/* SIGTERM: stop accepting and reading; answer what was sent. */
static void begin_stop(struct proxy *ps, unsigned int n)
{
	struct cconn *c, *nx;
	unsigned int i;

	stopping = 1;
	for (i = 0; i < n; i++) {
		ev_close(&ps[i].tcp_ev);
		ev_close(&ps[i].unix_ev);
		for (c = ps[i].conns; c; c = nx) {
			nx = c->next;
			c->eof = 1;
			if (conn_flush(c) == 0)
				conn_update(c);
		}
	}
}

static void handle(struct ev *e, uint32_t events, struct proxy *ps,
		   unsigned int n)
{
	struct signalfd_siginfo si;
	uint64_t ticks;
	unsigned int i;

	switch (e->type) {
	case EV_LISTEN:
		accept_conns(e->obj, e->fd);
		break;
	case EV_CONN:
		conn_event(e->obj, events);
		break;
	case EV_SMT:
		smt_event(e->obj);
		break;
	case EV_BACKEND:
		backend_event(e->obj, events);
		break;
	case EV_CTL_LISTEN:
		ctl_accept(e->obj);
		break;
	case EV_CTL:
		ctl_event(e->obj);
		break;
	case EV_SIGNAL:
		if (read(e->fd, &si, sizeof(si)) == sizeof(si) && !stopping) {
			logf_("signal %u: answering what was sent, then "
			      "exiting",
			      si.ssi_signo);
			begin_stop(ps, n);
		}
		break;
	case EV_TIMER:
		if (read(e->fd, &ticks, sizeof(ticks)) < 0)
			break;
		for (i = 0; i < n; i++) {
			if (ps[i].cfg->role == ROLE_SERVER)
				server_idle(&ps[i], now_s);
			stats_write(&ps[i]);
		}
		break;
	}
}

static int run(struct proxy_cfg *cfg, unsigned int n)
{
	struct proxy ps[PROXY_MAX];
	struct itimerspec its = {.it_interval = {1, 0}, .it_value = {1, 0}};
	struct epoll_event evs[64];
	struct ev sig_ev, tim_ev;
	struct timespec t0 = {0}, t;
	uint64_t drain = 0;
	unsigned int i;
	sigset_t ss;
	int k, nev, timeout, rc = 0;
	int64_t tns;

	memset(ps, 0, sizeof(ps));
	now_s = time(NULL);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	ev_init(&sig_ev, EV_SIGNAL, NULL, signalfd(-1, &ss, SFD_CLOEXEC));
	ev_init(&tim_ev, EV_TIMER, NULL,
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
	timerfd_settime(tim_ev.fd, 0, &its, NULL);
	if (epfd < 0 || ev_set(&sig_ev, EPOLLIN) || ev_set(&tim_ev, EPOLLIN)) {
		logf_("epoll/signalfd: %s", strerror(errno));
		return 1;
	}
	k = lio_open(128);
	if (k)
		logf_("io_uring %s: a system call per local read and send",
		      k == -ECANCELED ? "off (SMT_PROXY_IO_URING=0)"
				      : strerror(-k));
	for (i = 0; i < n; i++) {
		ps[i].cfg = &cfg[i];
		ps[i].next_conn_id = 1;
		if (proxy_open(&ps[i]))
			return 1;
	}
	for (;;) {
		/* the endpoints' timers are kept here (caller_timers): the
		 * wait ends at the earliest, to the nanosecond */
		timeout = 1000;
		tns = -1;
		for (i = 0; i < n; i++) {
			int64_t d = smt_next_timeout_ns(ps[i].ep);

			if (d >= 0 && (tns < 0 || d < tns))
				tns = d;
			if (cfg[i].role == ROLE_CLIENT && !ps[i].up)
				timeout = 100;
		}
		if (stopping) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (!t0.tv_sec) {
				t0 = t;
				for (i = 0; i < n; i++)
					if (cfg[i].drain_timeout > drain)
						drain = cfg[i].drain_timeout;
			}
			/* the server side lingers 300 ms for late requests
			 * and the ACKs of its last responses */
			if ((drained(ps, n) &&
			     t.tv_sec * 1000 + t.tv_nsec / 1000000 -
					     (t0.tv_sec * 1000 +
					      t0.tv_nsec / 1000000) >=
				     300) ||
			    (uint64_t)(t.tv_sec - t0.tv_sec) >= drain) {
				rc = drained(ps, n) ? 0 : 1;
				if (rc)
					logf_("drain timeout: requests left "
					      "unanswered");
				break;
			}
			if (timeout > 50)
				timeout = 50;
		}
		if (tns < 0 || tns >= (int64_t)timeout * 1000000)
			tns = (int64_t)timeout * 1000000;
		nev = util_epoll_wait_ns(epfd, evs, 64, tns);
		now_s = time(NULL);
		if (nev < 0 && errno != EINTR) {
			logf_("epoll_wait: %s", strerror(errno));
			rc = 1;
			break;
		}
		/* what the batch sends (requests cut from the connections'
		 * reads, replies read from backends) leaves in one sendmmsg
		 * per endpoint at its end */
		for (i = 0; i < n; i++)
			smt_hold(ps[i].ep);
		read_ahead(evs, nev);
		for (k = 0; k < nev; k++)
			handle(evs[k].data.ptr, evs[k].events, ps, n);
		for (i = 0; i < n; i++)
			smt_flush(ps[i].ep);
		while (zombies) {
			struct cconn *z = zombies;

			zombies = z->next;
			free(z);
		}
		while (stream_zombies) {
			struct stream *z = stream_zombies;

			stream_zombies = z->hnext;
			free(z);
		}
		/* timers and held sends of endpoints without a ready fd;
		 * sessions to set up again */
		for (i = 0; i < n; i++) {
			if (smt_next_timeout_ms(ps[i].ep) == 0)
				smt_event(&ps[i]);
			session_retry(&ps[i]);
			flush_all(&ps[i]);
		}
	}
	for (i = 0; i < n; i++) {
		stats_write(&ps[i]);
		smt_endpoint_close(ps[i].ep);
		buf_free(&ps[i].msg);
		while (ps[i].spare_creqs) {
			struct creq *r = ps[i].spare_creqs;

			ps[i].spare_creqs = r->next;
			free(r);
		}
		if (cfg[i].unix_path[0])
			unlink(cfg[i].unix_path);
		if (ps[i].ctl_ev.fd >= 0)
			unlink(cfg[i].control_socket);
	}
	lio_close();
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: smt-proxy -c FILE [-n NAME] [-v]   run the [proxy] "
		   "sections of FILE\n"
		   "       smt-proxy -c FILE [-n NAME] --check-config\n"
		   "       smt-proxy -c FILE [-n NAME] --stats\n"
		   "See smt-proxy(8).\n");
}

int main(int argc, char **argv)
{
	static struct proxy_cfg cfg[PROXY_MAX];
	const char *conf = "/etc/smt/smt-proxy.conf", *only = NULL;
	int check = 0, stats = 0, i;
	unsigned int n = 0, k, m = 0;
	char err[512];

	if (util_version_arg(argc, argv, "smt-proxy"))
		return 0;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-c") && i + 1 < argc)
			conf = argv[++i];
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--check-config"))
			check = 1;
		else if (!strcmp(argv[i], "--stats"))
			stats = 1;
		else if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (proxy_config_load(conf, cfg, &n, err, sizeof(err))) {
		fprintf(stderr, "smt-proxy: %s\n", err);
		return 1;
	}
	for (k = 0; k < n; k++)
		if (!only || !strcmp(cfg[k].name, only)) {
			if (m != k)
				cfg[m] = cfg[k];
			m++;
		}
	if (!m) {
		fprintf(stderr, "smt-proxy: %s: no [proxy %s]\n", conf, only);
		return 1;
	}
	if (check) {
		printf("smt-proxy: %s: %u proxies, configuration OK\n", conf,
		       m);
		return 0;
	}
	if (stats)
		return show_stats(cfg, m);
	return run(cfg, m);
}
