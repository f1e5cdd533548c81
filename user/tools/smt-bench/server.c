// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-bench server: one thread, one epoll loop, serving the echo RPC on
 * every transport at once (UDP, TCP, TLS 1.3 over TCP, SMT natively on IP
 * and SMT over UDP, each SMT on an endpoint of its own, QUIC), plus the TLS
 * listeners that key SMT sessions and a line-based control port the
 * client asks for the server's CPU time. Only one benchmark runs at a time,
 * so the CPU the process used between two control queries is the server's
 * cost of that run. With --threads N, worker threads also serve a
 * multi-threaded service on ports + MT_PORT_OFF (see below).
 *
 * A request's header names the size of its response: the server echoes the
 * request's bytes when the response is not longer, else fills the pattern.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "bench.h"
#include "util.h"

enum sconn_kind {
	SK_LISTEN,
	SK_CTL,
	SK_TCP,
	SK_TLS,
	SK_KEYS,
	SK_UDP,
	SK_SMT,
	SK_INBOX, /* a worker's queue of operations (--threads) */
	SK_QUIC, /* the QUIC server's UDP socket */
	SK_QUIC_TIMER /* its timerfd */
};

/* --threads N: the multi-threaded service on ports P + MT_PORT_OFF + the
 * usual offsets (TCP, TLS, both SMT keying ports, SMT over UDP), served by
 * N worker threads: TCP and TLS connections go to the workers in turn,
 * each worker has an SMT endpoint natively on IP of its own (sessions go
 * to the workers in turn), one member of a reuseport group on the SMT
 * over UDP port (every session goes to every member) and one QUIC server
 * of a reuseport group on the QUIC port (steered by connection ID: a
 * connection stays on one worker). The single-threaded service on the
 * usual ports is unchanged. */
#define MT_PORT_OFF BENCH_MT_PORT_OFF
#define MT_MAX BENCH_MT_MAX

struct sconn {
	enum sconn_kind kind;
	enum sconn_kind listen_for; /* SK_LISTEN: what accepted sockets are */
	bool udp; /* SK_KEYS, SK_SMT and their listener: SMT over UDP */
	bool mt; /* the multi-threaded service's (listener, keying) */
	bool mutual; /* SK_TLS and its listener: client certificates */
	int worker; /* SK_KEYS, mt, native IP: the worker holding it */
	struct stream st;
	bool handshaking;
	bool keyed;
	uint32_t sess;
	struct sockaddr_storage peer;
	uint32_t events;
};

struct server {
	int epfd;
	SSL_CTX *tls;
	SSL_CTX *tls_mutual; /* --mtls-*: TLS on P+9 requires a certificate */
	struct smt_endpoint *ep, *ep_udp; /* SMT natively on IP, over UDP */
	int udp;
	uint8_t udp_buf[65536], udp_tx[65536];
	bool quit;
	bool verbose;
	struct mt *mt; /* the main thread's: workers (--threads) */
	struct quic_server *quic;
};

struct worker;

/* An operation a worker runs on its own thread (its endpoints are its
 * own): add the session of keys, or drop the one of owner. */
struct wop {
	struct wop *next;
	bool add, udp;
	const void *keys, *owner;
	struct mt_wait *wait; /* add: the keying handler waits for it */
};

struct mt_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int left, err;
	uint32_t sess;
};

struct worker {
	struct server sv; /* its own epoll set and endpoints */
	pthread_t t;
	struct sconn inbox;
	pthread_mutex_t lock;
	struct wop *head, **tail;
};

struct mt {
	int n;
	unsigned int next; /* round robin for connections and sessions */
	struct worker w[MT_MAX];
};

static int listen_on(const struct sockaddr_in *a, int type)
{
	int one = 1;
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)a, sizeof(*a)) ||
	    (type == SOCK_STREAM && listen(fd, 1024))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int watch(struct server *s, int fd, struct sconn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};

	c->events = ev;
	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

static void rewatch(struct server *s, struct sconn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};

	if (c->events == ev)
		return;
	c->events = ev;
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->st.fd, &e);
}

static void wop_post(struct worker *w, struct wop *op)
{
	static const uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	*w->tail = op;
	w->tail = &op->next;
	pthread_mutex_unlock(&w->lock);
	if (write(w->inbox.st.fd, &one, sizeof(one)) < 0) {
		/* counter saturated: readable anyway */
	}
}

/* The workers that hold keying connection c's session. */
static void mt_targets(struct mt *m, const struct sconn *c, int *first,
		       int *last)
{
	*first = c->udp ? 0 : c->worker;
	*last = c->udp ? m->n - 1 : c->worker;
}

static void mt_drop(struct mt *m, const struct sconn *c)
{
	int i, first, last;

	mt_targets(m, c, &first, &last);
	for (i = first; i <= last; i++) {
		struct wop *op = calloc(1, sizeof(*op));

		if (!op)
			continue; /* the session stays until its port recurs */
		op->udp = c->udp;
		op->owner = c;
		wop_post(&m->w[i], op);
	}
}

/* Adds keying connection c's session to its workers' endpoints and waits
 * until they all did. 0 or -errno. */
static int mt_add(struct mt *m, struct sconn *c, const void *keys)
{
	struct mt_wait wt = {.lock = PTHREAD_MUTEX_INITIALIZER,
			     .cond = PTHREAD_COND_INITIALIZER};
	int i, first, last;

	if (!c->udp)
		c->worker = (int)(m->next++ % (unsigned int)m->n);
	mt_targets(m, c, &first, &last);
	wt.left = last - first + 1;
	for (i = first; i <= last; i++) {
		struct wop *op = calloc(1, sizeof(*op));

		if (!op) {
			pthread_mutex_lock(&wt.lock);
			wt.left--;
			wt.err = -ENOMEM;
			pthread_mutex_unlock(&wt.lock);
			continue;
		}
		op->add = true;
		op->udp = c->udp;
		op->keys = keys;
		op->owner = c;
		op->wait = &wt;
		wop_post(&m->w[i], op);
	}
	pthread_mutex_lock(&wt.lock);
	while (wt.left)
		pthread_cond_wait(&wt.cond, &wt.lock);
	pthread_mutex_unlock(&wt.lock);
	c->sess = wt.sess;
	return wt.err;
}

/* A worker runs its queued operations. */
static void wop_run(struct worker *w)
{
	struct wop *op, *next;
	uint64_t v;
	char err[256];

	if (read(w->inbox.st.fd, &v, sizeof(v)) < 0) {
		/* nothing new: run what is there */
	}
	pthread_mutex_lock(&w->lock);
	op = w->head;
	w->head = NULL;
	w->tail = &w->head;
	pthread_mutex_unlock(&w->lock);
	for (; op; op = next) {
		struct smt_endpoint *ep = op->udp ? w->sv.ep_udp : w->sv.ep;
		uint32_t sess = 0;
		int ret;

		next = op->next;
		if (!op->add) {
			smt_srv_drop_owner(ep, op->owner);
			free(op);
			continue;
		}
		ret = smt_srv_add(ep, op->keys, &sess, op->owner, err,
				  sizeof(err));
		if (ret)
			fprintf(stderr, "smt-bench server: %s\n", err);
		pthread_mutex_lock(&op->wait->lock);
		if (ret)
			op->wait->err = ret;
		op->wait->sess = sess;
		if (!--op->wait->left)
			pthread_cond_signal(&op->wait->cond);
		pthread_mutex_unlock(&op->wait->lock);
		free(op);
	}
}

static void sconn_free(struct server *s, struct sconn *c)
{
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->st.fd, NULL);
	if (c->kind == SK_KEYS && c->keyed && c->mt)
		mt_drop(s->mt, c);
	else if (c->kind == SK_KEYS && c->keyed)
		smt_srv_drop(c->udp ? s->ep_udp : s->ep, c->sess, c);
	stream_close(&c->st);
	free(c);
}

static void do_accept(struct server *s, struct sconn *l)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		struct server *target = s;
		int one = 1;
		struct sconn *c;
		int fd = accept4(l->st.fd, (struct sockaddr *)&peer, &plen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->kind = l->listen_for;
		c->udp = l->udp;
		c->mt = l->mt;
		c->mutual = l->mutual;
		c->st.fd = fd;
		c->peer = peer;
		if (c->kind == SK_TLS || c->kind == SK_KEYS) {
			c->st.ssl = SSL_new(c->mutual ? s->tls_mutual : s->tls);
			if (!c->st.ssl || SSL_set_fd(c->st.ssl, fd) != 1) {
				stream_close(&c->st);
				free(c);
				continue;
			}
			SSL_set_accept_state(c->st.ssl);
			c->handshaking = true;
		}
		/* the multi-threaded service's streams: a worker each, in
		 * turn (keying stays here) */
		if (c->mt && c->kind != SK_KEYS)
			target = &s->mt->w[s->mt->next++ % s->mt->n].sv;
		if (watch(target, fd, c, EPOLLIN)) {
			stream_close(&c->st);
			free(c);
		}
	}
}

/* Queues the response to one request of len bytes at req. */
static int echo_frame(struct stream *st, const uint8_t *req, size_t len)
{
	struct bench_hdr h;
	uint32_t be;
	size_t rlen;
	int err;

	msg_hdr(req, len, &h);
	rlen = h.resp_len;
	if (rlen < BENCH_HDR_LEN || rlen > BENCH_MAX_MSG)
		return -EPROTO;
	if (rlen > len)
		return stream_put_msg(st, &h, rlen);
	err = bbuf_reserve(&st->out, BENCH_FRAME_LEN + rlen);
	if (err)
		return err;
	be = htonl((uint32_t)rlen);
	memcpy(st->out.data + st->out.tail, &be, sizeof(be));
	memcpy(st->out.data + st->out.tail + BENCH_FRAME_LEN, req, rlen);
	st->out.tail += BENCH_FRAME_LEN + rlen;
	return 0;
}

static int handle_ctl(struct sconn *c)
{
	char *nl;

	while ((nl = memchr(c->st.in.data + c->st.in.head, '\n',
			    bbuf_len(&c->st.in)))) {
		char *line = (char *)c->st.in.data + c->st.in.head;
		size_t n = nl - line + 1;
		char reply[64];
		int len;

		*nl = 0;
		if (!strcmp(line, "cpu"))
			len = snprintf(reply, sizeof(reply), "%llu\n",
				       (unsigned long long)cpu_ns_self());
		else if (!strcmp(line, "ping"))
			len = snprintf(reply, sizeof(reply), "pong\n");
		else
			len = snprintf(reply, sizeof(reply), "error\n");
		bbuf_consume(&c->st.in, n);
		if (bbuf_put(&c->st.out, reply, len))
			return -ENOMEM;
	}
	return 0;
}

/* Keying connection after its handshake: the client's SMT port (2 bytes,
 * big endian) in, the server's out; the session lives as long as the TCP
 * connection does. Connections to PORT_SMTU_KEYS key sessions over UDP. */
static int handle_keys(struct server *s, struct sconn *c)
{
	char err[256];
	uint16_t port;
	int ret;

	if (c->keyed) {
		/* Nothing more is expected; ignore. */
		bbuf_consume(&c->st.in, bbuf_len(&c->st.in));
		return 0;
	}
	if (bbuf_len(&c->st.in) < 2)
		return 0;
	memcpy(&port, c->st.in.data + c->st.in.head, 2);
	bbuf_consume(&c->st.in, 2);
	((struct sockaddr_in *)&c->peer)->sin_port = port;
	if (c->mt) {
		void *keys =
			smt_srv_derive(c->st.ssl, &c->peer, err, sizeof(err));

		ret = keys ? mt_add(s->mt, c, keys) : -EPROTO;
		smt_srv_keys_free(keys);
		if (ret) {
			fprintf(stderr,
				"smt-bench server: SMT keying failed: %s\n",
				keys ? strerror(-ret) : err);
			return ret;
		}
		c->keyed = true;
		port = htons(c->udp ? BENCH_BASE_PORT + MT_PORT_OFF + PORT_SMTU
				    : smt_ep_port(s->mt->w[c->worker].sv.ep));
		return bbuf_put(&c->st.out, &port, 2);
	}
	ret = smt_srv_key(c->udp ? s->ep_udp : s->ep, c->st.ssl, &c->peer,
			  &c->sess, c, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "smt-bench server: SMT keying failed: %s\n",
			err);
		return ret;
	}
	c->keyed = true;
	port = htons(BENCH_BASE_PORT + (c->udp ? PORT_SMTU : PORT_SMT));
	return bbuf_put(&c->st.out, &port, 2);
}

static void handle_stream(struct server *s, struct sconn *c, uint32_t ev)
{
	int err = 0;

	if (c->handshaking) {
		int r = SSL_accept(c->st.ssl);

		if (r != 1) {
			int e = SSL_get_error(c->st.ssl, r);

			if (e == SSL_ERROR_WANT_READ)
				rewatch(s, c, EPOLLIN);
			else if (e == SSL_ERROR_WANT_WRITE)
				rewatch(s, c, EPOLLIN | EPOLLOUT);
			else
				goto close;
			return;
		}
		c->handshaking = false;
		if (s->verbose)
			fprintf(stderr, "smt-bench server: TLS up: %s\n",
				tls_ktls_state(c->st.ssl));
	}
	err = stream_read(&c->st);
	if (err)
		goto close;
	switch (c->kind) {
	case SK_CTL:
		err = handle_ctl(c);
		if (!err && bbuf_len(&c->st.in) > 4096)
			err = -EPROTO;
		break;
	case SK_KEYS:
		err = handle_keys(s, c);
		break;
	default:
		for (;;) {
			const uint8_t *p;
			long len = stream_frame(&c->st, &p);

			if (len == -EAGAIN)
				break;
			if (len < 0) {
				err = (int)len;
				break;
			}
			err = echo_frame(&c->st, p, len);
			bbuf_consume(&c->st.in, BENCH_FRAME_LEN + len);
			if (err)
				break;
		}
	}
	if (err)
		goto close;
	err = stream_flush(&c->st);
	if (err && err != -EAGAIN)
		goto close;
	if (c->st.eof && !bbuf_len(&c->st.out))
		goto close;
	rewatch(s, c, err == -EAGAIN ? EPOLLIN | EPOLLOUT : EPOLLIN);
	(void)ev;
	return;
close:
	sconn_free(s, c);
}

static void handle_udp(struct server *s)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		struct bench_hdr h;
		const uint8_t *out;
		ssize_t n = recvfrom(s->udp, s->udp_buf, sizeof(s->udp_buf),
				     MSG_DONTWAIT, (struct sockaddr *)&peer,
				     &plen);

		if (n < 0)
			return;
		if (!msg_hdr(s->udp_buf, n, &h) || h.resp_len < BENCH_HDR_LEN ||
		    h.resp_len > BENCH_UDP_MAX)
			continue;
		out = s->udp_buf;
		if (h.resp_len > n) {
			msg_fill(s->udp_tx, h.resp_len, &h);
			out = s->udp_tx;
		}
		sendto(s->udp, out, h.resp_len, 0, (struct sockaddr *)&peer,
		       plen);
	}
}

static void dispatch(struct server *s, const struct epoll_event *ev)
{
	struct sconn *c = ev->data.ptr;

	switch (c->kind) {
	case SK_LISTEN:
		do_accept(s, c);
		break;
	case SK_UDP:
		handle_udp(s);
		break;
	case SK_SMT:
		smt_srv_process(c->udp ? s->ep_udp : s->ep);
		break;
	case SK_INBOX:
		wop_run((struct worker *)((char *)c -
					  offsetof(struct worker, inbox)));
		break;
	case SK_QUIC:
		quic_srv_input(s->quic);
		break;
	case SK_QUIC_TIMER:
		quic_srv_timer(s->quic);
		break;
	default:
		handle_stream(s, c, ev->events);
	}
}

/*
 * Waits for s's events. With --smt-opt caller_timers=1 the SMT endpoints
 * set no timerfd: the wait ends at the earlier of their next timers
 * (epoll_pwait2, nanoseconds), and srv_smt_timers() then processes those
 * whose timers are due.
 */
static int srv_wait(struct server *s, struct epoll_event *ev, int max)
{
	struct smt_endpoint *eps[2] = {s->ep, s->ep_udp};
	int64_t ns = -1;

	for (int i = 0; i < 2 && smt_bench_caller_timers(); i++) {
		int64_t t = eps[i] ? smt_ep_timeout_ns(eps[i]) : -1;

		if (t >= 0 && (ns < 0 || t < ns))
			ns = t;
	}
	return util_epoll_wait_ns(s->epfd, ev, max, ns);
}

static void srv_smt_timers(struct server *s)
{
	struct smt_endpoint *eps[2] = {s->ep, s->ep_udp};

	for (int i = 0; i < 2 && smt_bench_caller_timers(); i++)
		if (eps[i] && !smt_ep_timeout_ns(eps[i]))
			smt_srv_process(eps[i]);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		struct epoll_event ev[64];
		int n = srv_wait(&w->sv, ev, 64);

		for (int i = 0; i < n; i++)
			dispatch(&w->sv, &ev[i]);
		srv_smt_timers(&w->sv);
	}
	return NULL;
}

/* Watches an SMT endpoint of s (its SK_SMT entry). */
static int watch_smt(struct server *s, struct smt_endpoint *ep, bool udp)
{
	struct sconn *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->kind = SK_SMT;
	l->udp = udp;
	l->st.fd = smt_ep_fd(ep);
	return watch(s, l->st.fd, l, EPOLLIN);
}

/* Watches s->quic: its socket and its timer. */
static int quic_watch(struct server *s)
{
	struct sconn *l[2];

	for (int i = 0; i < 2; i++) {
		l[i] = calloc(1, sizeof(*l[i]));
		if (!l[i])
			return -ENOMEM;
		l[i]->kind = i ? SK_QUIC_TIMER : SK_QUIC;
		l[i]->st.fd = i ? quic_srv_timer_fd(s->quic)
				: quic_srv_fd(s->quic);
		if (watch(s, l[i]->st.fd, l[i], EPOLLIN))
			return -errno;
	}
	return 0;
}

/* The QUIC server on port P + PORT_QUIC. */
static int quic_start(struct server *s, struct sockaddr_in a, const char *cert,
		      const char *key, char *err, size_t err_len)
{
	a.sin_port = htons(BENCH_BASE_PORT + PORT_QUIC);
	if (quic_srv_open(&a, cert, key, &s->quic, err, err_len))
		return -EIO;
	return quic_watch(s);
}

/* --threads n: the workers, their endpoints and the listeners of the
 * multi-threaded service. 0 or -errno with err filled. */
static int mt_start(struct server *s, int n, bool smt_ip, bool smt_udp,
		    struct sockaddr_in a, const char *cert, const char *key,
		    char *err, size_t err_len)
{
	static const struct {
		uint16_t off;
		enum sconn_kind kind;
		bool udp, smt;
	} lk[] = {
		{PORT_TCP, SK_TCP, false, false},
		{PORT_TLS, SK_TLS, false, false},
		{PORT_SMT_KEYS, SK_KEYS, false, true},
		{PORT_SMTU_KEYS, SK_KEYS, true, true},
	};
	struct smt_endpoint *eps[MT_MAX];
	struct quic_server *qs[MT_MAX];
	struct mt *m = calloc(1, sizeof(*m));
	int i, ret;

	if (!m)
		return -ENOMEM;
	m->n = n;
	s->mt = m;
	a.sin_port = htons(BENCH_BASE_PORT + MT_PORT_OFF + PORT_QUIC);
	if (quic_srv_open_group(&a, cert, key, (unsigned int)n, qs, err,
				err_len))
		return -EIO;
	if (smt_udp &&
	    smt_srv_open_group(BENCH_BASE_PORT + MT_PORT_OFF + PORT_SMTU,
			       (unsigned int)n, eps, err, err_len))
		return -EIO;
	for (i = 0; i < n; i++) {
		struct worker *w = &m->w[i];

		w->sv.epfd = epoll_create1(EPOLL_CLOEXEC);
		w->sv.tls = s->tls;
		w->sv.udp = -1;
		w->tail = &w->head;
		pthread_mutex_init(&w->lock, NULL);
		w->inbox.kind = SK_INBOX;
		w->inbox.st.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->sv.epfd < 0 || w->inbox.st.fd < 0 ||
		    watch(&w->sv, w->inbox.st.fd, &w->inbox, EPOLLIN))
			return -errno;
		w->sv.quic = qs[i];
		ret = quic_watch(&w->sv);
		if (ret)
			return ret;
		if (smt_udp) {
			w->sv.ep_udp = eps[i];
			ret = watch_smt(&w->sv, eps[i], true);
			if (ret)
				return ret;
		}
		if (smt_ip) {
			if (smt_srv_open(0, false, &w->sv.ep, err, err_len))
				return -EIO;
			ret = watch_smt(&w->sv, w->sv.ep, false);
			if (ret)
				return ret;
		}
	}
	for (size_t k = 0; k < sizeof(lk) / sizeof(lk[0]); k++) {
		struct sconn *l;
		int fd;

		if (lk[k].smt && !(lk[k].udp ? smt_udp : smt_ip))
			continue;
		a.sin_port = htons(BENCH_BASE_PORT + MT_PORT_OFF + lk[k].off);
		fd = listen_on(&a, SOCK_STREAM);
		l = calloc(1, sizeof(*l));
		if (fd < 0 || !l) {
			snprintf(err, err_len, "cannot listen on port %d: %s",
				 BENCH_BASE_PORT + MT_PORT_OFF + lk[k].off,
				 strerror(fd < 0 ? -fd : ENOMEM));
			return -EIO;
		}
		l->kind = SK_LISTEN;
		l->listen_for = lk[k].kind;
		l->udp = lk[k].udp;
		l->mt = true;
		l->st.fd = fd;
		watch(s, fd, l, EPOLLIN);
	}
	for (i = 0; i < n; i++) {
		ret = pthread_create(&m->w[i].t, NULL, worker_main, &m->w[i]);
		if (ret) {
			snprintf(err, err_len, "pthread_create: %s",
				 strerror(ret));
			return -ret;
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smt-bench server --cert FILE --key FILE [--addr A]\n"
		"                        [--no-smt] [--encap ip|udp|ip,udp] [--ktls]\n"
		"                        [--smt-opt K=V]... [--smtd-service NAME]\n"
		"                        [--smtd-service-udp NAME] [--threads N]\n"
		"                        [--smtd-setups resumed,0rtt,ticket|all]\n"
		"                        [--mtls-cert F --mtls-key F --mtls-ca F]\n"
		"Serves the echo RPC on UDP (P+1), TCP (P+2), TLS 1.3 (P+3),\n"
		"SMT keying over TLS (P+4), SMT natively on IP (SMT port P+5),\n"
		"SMT-over-UDP keying over TLS (P+6), SMT over UDP (UDP port P+7),\n"
		"QUIC (UDP port P+8) and a control port (P), with P = %d. --encap picks the SMT\n"
		"endpoints (default both). --mtls-cert FILE --mtls-key FILE\n"
		"--mtls-ca FILE: TLS 1.3 on P+9 too, requiring a client certificate\n"
		"issued by that CA (the client's set-up row \"tls, mutual\").\n"
		"--threads N (2..%d) also serves TCP,\n"
		"TLS, SMT keying, SMT over UDP and QUIC on P+%d+offset with N\n"
		"threads (SMT over UDP and QUIC: N sockets on one port, a\n"
		"reuseport group).\n"
		"--smtd-setups also serves NAME-KIND of each --smtd-service.\n",
		BENCH_BASE_PORT, MT_MAX, MT_PORT_OFF);
}

int server_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"addr", required_argument, NULL, 'a'},
		{"no-smt", no_argument, NULL, 'n'},
		{"ktls", no_argument, NULL, 'K'},
		{"smt-opt", required_argument, NULL, 'o'},
		{"smtd-service", required_argument, NULL, 's'},
		{"smtd-service-udp", required_argument, NULL, 'S'},
		{"encap", required_argument, NULL, 'e'},
		{"threads", required_argument, NULL, 't'},
		{"smtd-setups", required_argument, NULL, 'T'},
		{"mtls-cert", required_argument, NULL, 'C'},
		{"mtls-key", required_argument, NULL, 'Y'},
		{"mtls-ca", required_argument, NULL, 'A'},
		{"help", no_argument, NULL, 'h'},
		{}};
	const char *cert = NULL, *key = NULL, *addr = "0.0.0.0";
	const char *mcert = NULL, *mkey = NULL, *mca = NULL;
	const char *service = NULL, *service_udp = NULL;
	struct sockaddr_in a = {.sin_family = AF_INET};
	/* listeners: port offset, kind, SMT over UDP, client certificates */
	static const struct {
		uint16_t off;
		enum sconn_kind kind;
		bool udp, mutual;
	} lk[] = {
		{PORT_UDP, SK_UDP, false, false},
		{PORT_TCP, SK_TCP, false, false},
		{PORT_TLS, SK_TLS, false, false},
		{PORT_SMT_KEYS, SK_KEYS, false, false},
		{PORT_SMTU_KEYS, SK_KEYS, true, false},
		{PORT_TLS_MUTUAL, SK_TLS, false, true},
		{PORT_CTL, SK_CTL, false, false},
	};
	bool use_smt = bench_have_smt, ktls = false;
	bool encaps[TP_COUNT] = {[TP_SMT] = true, [TP_SMTU] = true};
	struct server *s;
	char err[256];
	int o, threads = 1, kinds = 0;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'C':
			mcert = optarg;
			break;
		case 'Y':
			mkey = optarg;
			break;
		case 'A':
			mca = optarg;
			break;
		case 'a':
			addr = optarg;
			break;
		case 'n':
			use_smt = false;
			break;
		case 'K':
			ktls = true;
			break;
		case 's':
			service = optarg;
			break;
		case 'S':
			service_udp = optarg;
			break;
		case 'e':
			if (smt_encaps_parse(optarg, encaps)) {
				fprintf(stderr,
					"smt-bench server: --encap %s: want "
					"ip, udp or ip,udp\n",
					optarg);
				return 2;
			}
			break;
		case 'o':
			if (!strncmp(optarg, "encap=", 6)) {
				if (smt_encaps_parse(optarg + 6, encaps)) {
					fprintf(stderr,
						"smt-bench server: --smt-opt "
						"%s: want encap=ip, udp or "
						"ip,udp\n",
						optarg);
					return 2;
				}
			} else if (smt_opt_parse(optarg)) {
				fprintf(stderr,
					"smt-bench server: --smt-opt %s: want "
					"rpc_timeouts, resend_us, unsched, "
					"max_granted, mtu, busy_poll_us, "
					"xsk_tx, rto_min_us, max_pad or hold_ms "
					"=NUMBER, or "
					"encap=LIST\n",
					optarg);
				return 2;
			}
			break;
		case 'T':
			kinds = smtd_kinds_parse(optarg);
			if (kinds < 0) {
				fprintf(stderr,
					"smt-bench server: --smtd-setups %s: "
					"want resumed, 0rtt, ticket, all\n",
					optarg);
				return 2;
			}
			break;
		case 't':
			threads = atoi(optarg);
			if (threads < 1 || threads > MT_MAX) {
				fprintf(stderr,
					"smt-bench server: --threads %s: want "
					"1..%d\n",
					optarg, MT_MAX);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!cert || !key ||
	    ((mcert || mkey || mca) && !(mcert && mkey && mca))) {
		usage(stderr);
		return 2;
	}
	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
		fprintf(stderr,
			"smt-bench server: --addr %s: not an IPv4 "
			"address\n",
			addr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	s = calloc(1, sizeof(*s));
	if (!s)
		return 1;
	s->verbose = false;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->tls = tls_server_ctx(cert, key, ktls, err, sizeof(err));
	if (s->tls && mcert)
		s->tls_mutual = tls_mutual_ctx(true, mcert, mkey, mca, err,
					       sizeof(err));
	if (!s->tls || (mcert && !s->tls_mutual)) {
		fprintf(stderr, "smt-bench server: %s\n", err);
		return 1;
	}
	for (int u = 0; use_smt && u < 2; u++) {
		struct smt_endpoint **ep = u ? &s->ep_udp : &s->ep;
		const char *svc = u ? service_udp : service;

		if (!encaps[u ? TP_SMTU : TP_SMT])
			continue;
		if (smt_srv_open(BENCH_BASE_PORT + (u ? PORT_SMTU : PORT_SMT),
				 u, ep, err, sizeof(err))) {
			fprintf(stderr, "smt-bench server: %s\n", err);
			return 1;
		}
		if (svc &&
		    smt_srv_serve_kinds(*ep, svc, kinds, err, sizeof(err))) {
			fprintf(stderr, "smt-bench server: %s\n", err);
			return 1;
		}
		if (watch_smt(s, *ep, u))
			return 1;
	}
	if (quic_start(s, a, cert, key, err, sizeof(err))) {
		fprintf(stderr, "smt-bench server: %s\n", err);
		return 1;
	}
	if (threads > 1 && mt_start(s, threads, use_smt && encaps[TP_SMT],
				    use_smt && encaps[TP_SMTU], a, cert, key,
				    err, sizeof(err))) {
		fprintf(stderr, "smt-bench server: --threads: %s\n", err);
		return 1;
	}
	/* the listeners last, the control port last of them: a client that
	 * reached it finds every service up, the multi-threaded one too
	 * (a client that came before mt_start's listeners were open was
	 * refused on them) */
	for (size_t i = 0; i < sizeof(lk) / sizeof(lk[0]); i++) {
		struct sconn *l;
		int fd;

		if ((lk[i].kind == SK_KEYS &&
		     (!use_smt || !encaps[lk[i].udp ? TP_SMTU : TP_SMT])) ||
		    (lk[i].mutual && !s->tls_mutual))
			continue;
		l = calloc(1, sizeof(*l));
		a.sin_port = htons(BENCH_BASE_PORT + lk[i].off);
		fd = listen_on(&a,
			       lk[i].kind == SK_UDP ? SOCK_DGRAM : SOCK_STREAM);
		if (fd < 0 || !l) {
			fprintf(stderr,
				"smt-bench server: cannot listen on %s port "
				"%u: %s (is another server running?)\n",
				addr, BENCH_BASE_PORT + (unsigned int)lk[i].off,
				strerror(-fd));
			return 1;
		}
		l->kind = lk[i].kind == SK_UDP ? SK_UDP : SK_LISTEN;
		l->listen_for = lk[i].kind;
		l->udp = lk[i].udp;
		l->mutual = lk[i].mutual;
		l->st.fd = fd;
		if (lk[i].kind == SK_UDP) {
			int sz = 4 << 20;

			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
			s->udp = fd;
		}
		watch(s, fd, l, EPOLLIN);
	}
	fprintf(stderr, "smt-bench server: serving on %s ports %d..%d%s%s%s\n",
		addr, BENCH_BASE_PORT, BENCH_BASE_PORT + PORT_QUIC,
		use_smt ? "" : " (without SMT)",
		use_smt && !encaps[TP_SMT] ? " (no SMT natively on IP)" : "",
		use_smt && !encaps[TP_SMTU] ? " (no SMT over UDP)" : "");
	while (!s->quit) {
		struct epoll_event ev[64];
		int n = srv_wait(s, ev, 64);

		if (n < 0 && errno != EINTR) {
			perror("smt-bench server: epoll_pwait2");
			return 1;
		}
		for (int i = 0; i < n; i++)
			dispatch(s, &ev[i]);
		srv_smt_timers(s);
	}
	return 0;
}
