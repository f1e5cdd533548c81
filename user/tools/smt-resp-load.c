// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-resp-load: an open-loop load generator for a RESP (Redis) server.
 * Requests are scheduled at a fixed total rate (evenly spaced or Poisson),
 * dealt round robin over N connections, and each one's latency runs from
 * its scheduled send time to the end of its reply, so that a server or path
 * that stalls pays for every request scheduled behind the stall (no
 * coordinated omission, unlike a closed loop such as redis-benchmark, whose
 * clients stop sending while they wait). One thread, epoll, nonblocking
 * sockets, optionally TLS (OpenSSL); replies cut by smt-proxy's RESP framer and checked (errors
 * counted, GET values compared with what the tool wrote). One key=value
 * line on stdout; see smt-resp-load(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "opts.h"
#include "smt-proxy/framer.h"
#include "util.h"

#define PROG "smt-resp-load"
#define KEY_FMT "key:%012u" /* redis-benchmark -r's keys */
#define KEY_LEN 16
#define VALUE_MAX (1024 * 1024)
#define READ_CHUNK 65536
#define FILL_BATCH 256

/* One request assigned to a connection and not yet answered. */
struct req {
	uint64_t sched; /* scheduled send time, ns (CLOCK_MONOTONIC) */
	uint32_t key;
	bool counted; /* scheduled after the warm-up */
};

struct conn {
	int fd;
	SSL *ssl; /* with --tls */
	bool dead;
	bool want_out; /* EPOLLOUT armed */
	/* requests in order: [head, head + nsent) sent, then the backlog */
	struct req *q;
	size_t qcap, head, nq, nsent;
	uint8_t *out, *in;
	size_t out_len, out_cap, in_len, in_cap;
};

struct cfg {
	const char *host, *unix_path, *op_name, *cacert, *sni;
	bool set, poisson, no_fill, tls;
	uint64_t conns, rate, size, keys, cap, requests, seed;
	double duration, warmup, drain;
};

struct stats {
	uint64_t warm, sched, sent, answered, errors, bad, nil, late, closed;
	uint64_t *lat, *lag; /* ns, one per answered / promptly sent request */
	size_t nlat, nlag, lat_cap, lag_cap;
	uint64_t first_reply, last_reply;
};

static struct cfg cfg = {
	.op_name = "get",
	.conns = 32,
	.rate = 1000,
	.size = 64,
	.keys = 1000,
	.cap = 64,
	.seed = 1,
	.duration = 10,
	.warmup = 1,
	.drain = 5,
};
static struct stats st;
static struct conn *conns;
static uint8_t *pattern; /* values: key k holds pattern[k % 26 ..][0..size) */
static uint64_t rng;
static SSL_CTX *tls_ctx;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64: keys and Poisson gaps, reproducible with --seed */
static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static int push_u64(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
	if (grow((void **)a, cap, *n + 1, sizeof(**a)))
		return -ENOMEM;
	(*a)[(*n)++] = v;
	return 0;
}

/* Append one GET or SET of key k to c's output. */
static int put_request(struct conn *c, uint32_t k, bool set)
{
	size_t need = 64 + (set ? cfg.size + 32 : 0);
	char key[KEY_LEN + 1];
	uint8_t *p;
	int n;

	if (grow((void **)&c->out, &c->out_cap, c->out_len + need, 1))
		return -ENOMEM;
	snprintf(key, sizeof(key), KEY_FMT, k);
	p = c->out + c->out_len;
	if (!set) {
		n = sprintf((char *)p, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n",
			    KEY_LEN, key);
	} else {
		n = sprintf((char *)p,
			    "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%u\r\n", KEY_LEN,
			    key, (unsigned int)cfg.size);
		memcpy(p + n, pattern + k % 26, cfg.size);
		n += (int)cfg.size;
		memcpy(p + n, "\r\n", 2);
		n += 2;
	}
	c->out_len += (size_t)n;
	return 0;
}

/*
 * send() or SSL_write(): bytes written, or -1 with errno (EAGAIN when the
 * socket or TLS wants to wait; EPROTO for a TLS failure).
 */
static ssize_t io_send(struct conn *c, const void *buf, size_t len)
{
	int n, e;

	if (!c->ssl)
		return send(c->fd, buf, len, MSG_NOSIGNAL);
	n = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return n;
	e = SSL_get_error(c->ssl, n);
	errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN
		: e == SSL_ERROR_SYSCALL && errno		      ? errno
								      : EPROTO;
	return -1;
}

/* recv() or SSL_read(): as recv, 0 at the end of the stream. */
static ssize_t io_recv(struct conn *c, void *buf, size_t len)
{
	int n, e;

	if (!c->ssl)
		return recv(c->fd, buf, len, 0);
	n = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return n;
	e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN
		: e == SSL_ERROR_SYSCALL && errno		      ? errno
								      : EPROTO;
	return -1;
}

static void conn_close(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	fprintf(stderr,
		PROG
		": connection %td: %s; its %zu unanswered requests stay unanswered\n",
		c - conns, why, c->nq);
	close(c->fd);
	c->dead = true;
	st.closed++;
}

static int flush_out(int ep, struct conn *c)
{
	struct epoll_event ev = {.data.ptr = c};
	ssize_t n;

	while (c->out_len && !c->dead) {
		n = io_send(c, c->out, c->out_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			conn_close(c, strerror(errno));
			return 0;
		}
		if (n < 0)
			break;
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	if (c->dead || !c->out_len == !c->want_out)
		return 0;
	c->want_out = c->out_len != 0;
	ev.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) ? -errno : 0;
}

/* Send backlogged requests while c has room under the cap. */
static int send_backlog(struct conn *c)
{
	struct req *r;

	while (c->nsent < c->nq && c->nsent < cfg.cap) {
		r = &c->q[(c->head + c->nsent) % c->qcap];
		if (put_request(c, r->key, cfg.set))
			return -ENOMEM;
		c->nsent++;
		if (r->counted)
			st.sent++;
	}
	return 0;
}

/* A new request scheduled at sched, given to c. */
static int assign(struct conn *c, uint64_t sched, bool counted, uint64_t now)
{
	struct req *nq;
	size_t i, cap;

	if (c->nq == c->qcap) {
		cap = c->qcap ? c->qcap * 2 : 64;
		nq = malloc(cap * sizeof(*nq));
		if (!nq)
			return -ENOMEM;
		for (i = 0; i < c->nq; i++)
			nq[i] = c->q[(c->head + i) % c->qcap];
		free(c->q);
		c->q = nq;
		c->qcap = cap;
		c->head = 0;
	}
	c->q[(c->head + c->nq) % c->qcap] =
		(struct req){.sched = sched,
			     .key = (uint32_t)(rnd() % cfg.keys),
			     .counted = counted};
	c->nq++;
	if (counted)
		st.sched++;
	else
		st.warm++;
	if (c->nsent + 1 < c->nq || c->nsent >= cfg.cap) {
		/* held by the cap: timed from its schedule all the same */
		if (counted)
			st.late++;
		return 0;
	}
	if (counted && push_u64(&st.lag, &st.nlag, &st.lag_cap, now - sched))
		return -ENOMEM;
	return send_backlog(c);
}

/* Check one reply (len bytes at p) to request r. */
static void check_reply(const uint8_t *p, size_t len, const struct req *r)
{
	long v;

	if (p[0] == '-' || p[0] == '!') {
		st.errors++;
		return;
	}
	if (cfg.set) {
		if (len != 5 || memcmp(p, "+OK\r\n", 5))
			st.bad++;
		return;
	}
	if (p[0] == '_' || (len == 5 && !memcmp(p, "$-1\r\n", 5))) {
		st.nil++;
		return;
	}
	v = p[0] == '$' ? strtol((const char *)p + 1, NULL, 10) : -1;
	if (v != (long)cfg.size || len < (size_t)v + 3 ||
	    memcmp(p + len - 2 - (size_t)v, pattern + r->key % 26, (size_t)v))
		st.bad++;
}

/* Cut and account the replies in c's input. */
static int take_replies(struct conn *c, uint64_t now)
{
	size_t off = 0;
	ssize_t n;
	struct req *r;

	for (;;) {
		n = framer_response(FRAMER_RESP, c->in + off, c->in_len - off,
				    VALUE_MAX + 1024);
		if (n == 0)
			break;
		if (n < 0 || !c->nsent) {
			conn_close(c, n < 0 ? "malformed reply"
					    : "a reply to no request");
			return 0;
		}
		r = &c->q[c->head];
		if (r->counted) {
			st.answered++;
			check_reply(c->in + off, (size_t)n, r);
			if (push_u64(&st.lat, &st.nlat, &st.lat_cap,
				     now - r->sched))
				return -ENOMEM;
			if (!st.first_reply)
				st.first_reply = now;
			st.last_reply = now;
		}
		c->head = (c->head + 1) % c->qcap;
		c->nq--;
		c->nsent--;
		off += (size_t)n;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return send_backlog(c);
}

static int read_conn(struct conn *c)
{
	ssize_t n;

	for (;;) {
		if (grow((void **)&c->in, &c->in_cap, c->in_len + READ_CHUNK,
			 1))
			return -ENOMEM;
		n = io_recv(c, c->in + c->in_len, c->in_cap - c->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			conn_close(c, n ? strerror(errno)
					: "the server closed it");
			return 0;
		}
		c->in_len += (size_t)n;
		if (take_replies(c, now_ns()))
			return -ENOMEM;
		if (c->dead)
			return 0;
	}
}

static int connect_one(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	char why[UTIL_ERR_LEN];
	socklen_t sl;
	int fd, one = 1;

	if (cfg.unix_path) {
		snprintf(un.sun_path, sizeof(un.sun_path), "%s", cfg.unix_path);
		memcpy(&ss, &un, sizeof(un));
		sl = sizeof(un);
	} else {
		if (util_parse_addr_port(cfg.host, &ss, 0, why, sizeof(why)))
			return -EINVAL; /* checked in main() */
		sl = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					      : sizeof(struct sockaddr_in);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl)) {
		int e = errno;

		close(fd);
		return -e;
	}
	if (!cfg.unix_path)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/*
 * Before a GET run: every key set to its value over connection 0 (still
 * blocking), FILL_BATCH SETs at a time, each reply +OK.
 */
static int fill(struct conn *c)
{
	uint64_t k = 0, want;
	size_t off;
	ssize_t n;

	while (k < cfg.keys) {
		c->out_len = 0;
		for (want = 0; want < FILL_BATCH && k < cfg.keys; want++, k++)
			if (put_request(c, (uint32_t)k, true))
				return -ENOMEM;
		for (off = 0; off < c->out_len; off += (size_t)n) {
			/* blocking, but TLS writes one record at a time */
			n = io_send(c, c->out + off, c->out_len - off);
			if (n <= 0)
				return -EIO;
		}
		c->out_len = 0;
		while (want) {
			n = framer_response(FRAMER_RESP, c->in, c->in_len,
					    VALUE_MAX + 1024);
			if (n > 0) {
				if (n != 5 || memcmp(c->in, "+OK\r\n", 5)) {
					fprintf(stderr,
						PROG
						": setting key " KEY_FMT
						" before the GETs: the server answered '%.*s'\n",
						(unsigned int)(k - want),
						(int)(n > 80 ? 80 : n - 2),
						(const char *)c->in);
					return -EPROTO;
				}
				memmove(c->in, c->in + n,
					c->in_len - (size_t)n);
				c->in_len -= (size_t)n;
				want--;
				continue;
			}
			if (n < 0)
				return -EPROTO;
			if (grow((void **)&c->in, &c->in_cap,
				 c->in_len + READ_CHUNK, 1))
				return -ENOMEM;
			n = io_recv(c, c->in + c->in_len,
				    c->in_cap - c->in_len);
			if (n <= 0)
				return n ? -errno : -ECONNRESET;
			c->in_len += (size_t)n;
		}
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile q (0..1] of sorted v[0..n), in ms. */
static double pct(const uint64_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)ceil(q * (double)n);
	return (double)v[(i ? i : 1) - 1] / 1e6;
}

/* The start of the counted requests' schedule (after the warm-up). */
static uint64_t t_meas;

static void report(void)
{
	double secs = st.last_reply > t_meas
			      ? (double)(st.last_reply - t_meas) / 1e9
			      : 0;
	double sum = 0;
	size_t i;

	qsort(st.lat, st.nlat, sizeof(*st.lat), cmp_u64);
	qsort(st.lag, st.nlag, sizeof(*st.lag), cmp_u64);
	for (i = 0; i < st.nlat; i++)
		sum += (double)st.lat[i];
	printf("op=%s conns=%llu rate=%llu arrivals=%s warmup=%llu sched=%llu sent=%llu answered=%llu unanswered=%llu errors=%llu bad=%llu nil=%llu late=%llu closed=%llu secs=%.3f achieved=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f mean_ms=%.3f lag_p50_ms=%.3f lag_p99_ms=%.3f lag_max_ms=%.3f\n",
	       cfg.set ? "SET" : "GET", (unsigned long long)cfg.conns,
	       (unsigned long long)cfg.rate,
	       cfg.poisson ? "poisson" : "uniform", (unsigned long long)st.warm,
	       (unsigned long long)st.sched, (unsigned long long)st.sent,
	       (unsigned long long)st.answered,
	       (unsigned long long)(st.sched - st.answered),
	       (unsigned long long)st.errors, (unsigned long long)st.bad,
	       (unsigned long long)st.nil, (unsigned long long)st.late,
	       (unsigned long long)st.closed, secs,
	       secs > 0 ? (double)st.answered / secs : 0,
	       pct(st.lat, st.nlat, 0.5), pct(st.lat, st.nlat, 0.9),
	       pct(st.lat, st.nlat, 0.99), pct(st.lat, st.nlat, 0.999),
	       st.nlat ? (double)st.lat[st.nlat - 1] / 1e6 : 0,
	       st.nlat ? sum / (double)st.nlat / 1e6 : 0,
	       pct(st.lag, st.nlag, 0.5), pct(st.lag, st.nlag, 0.99),
	       st.nlag ? (double)st.lag[st.nlag - 1] / 1e6 : 0);
	fflush(stdout);
}

/* The run itself: schedule, send, read, until the last reply or the drain. */
static int run(int ep)
{
	const double gap = 1e9 / (double)cfg.rate;
	const uint64_t t0 = now_ns() + 1000000;
	struct epoll_event ev[64];
	uint64_t i = 0, next = t0, now, stop = 0, live, until, t_end;
	double poisson_t = 0;
	bool scheduling = true;
	struct conn *c;
	int n, k, ret;

	t_meas = t0 + (uint64_t)(cfg.warmup * 1e9);
	t_end = t_meas + (uint64_t)(cfg.duration * 1e9);
	while (true) {
		now = now_ns();
		while (scheduling && next <= now) {
			bool counted = next >= t_meas;

			if (counted && (cfg.requests ? st.sched >= cfg.requests
						     : next >= t_end)) {
				scheduling = false;
				stop = now + (uint64_t)(cfg.drain * 1e9);
				break;
			}
			/* round robin over the connections still open */
			for (live = 0; live < cfg.conns; live++)
				if (!conns[(i + live) % cfg.conns].dead)
					break;
			if (live == cfg.conns)
				return -ECONNRESET;
			i += live;
			c = &conns[i % cfg.conns];
			ret = assign(c, next, counted, now);
			if (ret)
				return ret;
			i++;
			if (cfg.poisson) {
				/* 1 - U in (0, 1]: log() stays finite */
				poisson_t +=
					-log(1.0 - (double)(rnd() >> 11) /
							   9007199254740992.0) *
					gap;
				next = t0 + (uint64_t)poisson_t;
			} else {
				next = t0 + (uint64_t)((double)i * gap);
			}
		}
		for (k = 0; k < (int)cfg.conns; k++) {
			ret = flush_out(ep, &conns[k]);
			if (ret)
				return ret;
		}
		if (!scheduling) {
			for (live = 0, k = 0; k < (int)cfg.conns; k++)
				live += conns[k].dead ? 0 : conns[k].nq;
			if (!live || now >= stop)
				break;
		}
		until = scheduling ? next : stop;
		n = util_epoll_wait_ns(
			ep, ev, 64, until > now ? (int64_t)(until - now) : 0);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (k = 0; k < n; k++) {
			c = ev[k].data.ptr;
			if (c->dead)
				continue;
			if (ev[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				ret = read_conn(c);
				if (ret)
					return ret;
			}
		}
	}
	report();
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " (--host ADDR:PORT | --unix PATH)\n"
		"       [--tls [--cacert FILE] [--sni NAME]] [--op get|set]\n"
		"       [--conns N] [--rate R] [--poisson] [--size V] [--keys K]\n"
		"       [--duration S | --requests K] [--warmup S] [--max-outstanding M]\n"
		"       [--no-fill] [--drain S] [--seed N]\n"
		"Open-loop load on a RESP (Redis) server: R requests per second in all\n"
		"(evenly spaced, or Poisson arrivals), dealt round robin over N\n"
		"connections (default 32), GET or SET of V-byte values (default 64) of\n"
		"keys key:000000000000 to key:K-1 (default 1000) at random, over TLS\n"
		"with --tls (the server checked against --cacert and --sni). Each\n"
		"request's latency runs from its scheduled send time to the end of its\n"
		"reply. At most M requests (default 64) are outstanding per connection;\n"
		"more wait (counted as late) and are still timed from their schedule.\n"
		"A GET run first sets every key (unless --no-fill) and checks every\n"
		"value it reads. The requests of the warm-up (default 1 s) are not\n"
		"counted; then S seconds (default 10) or K requests are; then up to\n"
		"--drain seconds (default 5) for the last replies. Prints one line:\n"
		"  op= conns= rate= arrivals= warmup= sched= sent= answered= unanswered=\n"
		"  errors= bad= nil= late= closed= secs= achieved= p50_ms= p90_ms= p99_ms=\n"
		"  p999_ms= max_ms= mean_ms= lag_p99_ms= lag_max_ms=\n"
		"Exit status 0 after a run, 1 when it could not run or a connection\n"
		"was lost, 2 for bad arguments.\n");
}

static int opt_secs(const struct tool_opt *opt, char *arg, char *err,
		    size_t err_len)
{
	double *d = opt->dst;
	char *end;

	errno = 0;
	*d = strtod(arg, &end);
	if (errno || end == arg || *end || !(*d >= 0) || *d > 86400) {
		snprintf(err, err_len,
			 "--%s: '%s' is not a number of seconds in 0..86400",
			 opt->name, arg);
		return -1;
	}
	return 0;
}

static int opt_size(const struct tool_opt *opt, char *arg, char *err,
		    size_t err_len)
{
	char why[UTIL_ERR_LEN];

	if (!util_parse_size(arg, VALUE_MAX, opt->dst, why, sizeof(why)))
		return 0;
	snprintf(err, err_len, "--%s: %s (at most 1M)", opt->name, why);
	return -1;
}

/*
 * The TLS context of --tls: the peer verified against --cacert (or the
 * system's CAs), its name against --sni.
 */
static int tls_setup(void)
{
	tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!tls_ctx)
		return -ENOMEM;
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
					  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (cfg.cacert ? SSL_CTX_load_verify_locations(tls_ctx, cfg.cacert,
						       NULL) != 1
		       : SSL_CTX_set_default_verify_paths(tls_ctx) != 1) {
		fprintf(stderr, PROG ": --cacert %s: cannot load it: %s\n",
			cfg.cacert ? cfg.cacert : "(system)",
			ERR_reason_error_string(ERR_get_error()));
		return -EINVAL;
	}
	return 0;
}

/* The TLS handshake on c's (still blocking) socket. */
static int tls_open(struct conn *c)
{
	unsigned long e;

	c->ssl = SSL_new(tls_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    (cfg.sni && (SSL_set_tlsext_host_name(c->ssl, cfg.sni) != 1 ||
			 SSL_set1_host(c->ssl, cfg.sni) != 1)))
		return -ENOMEM;
	if (SSL_connect(c->ssl) == 1)
		return 0;
	e = ERR_get_error();
	fprintf(stderr, PROG ": TLS handshake with %s failed: %s\n",
		cfg.host ? cfg.host : cfg.unix_path,
		e ? ERR_reason_error_string(e) : "the server closed it");
	return -EPROTO;
}

static int setup(int ep)
{
	struct epoll_event ev = {.events = EPOLLIN};
	uint64_t k;
	int fd;

	conns = calloc(cfg.conns, sizeof(*conns));
	pattern = malloc(cfg.size + 26);
	if (!conns || !pattern)
		return -ENOMEM;
	if (cfg.tls && tls_setup())
		return -1;
	for (k = 0; k < cfg.size + 26; k++)
		pattern[k] = (uint8_t)('a' + k % 26);
	for (k = 0; k < cfg.conns; k++) {
		fd = connect_one();
		if (fd < 0) {
			fprintf(stderr, PROG ": cannot connect to %s: %s\n",
				cfg.host ? cfg.host : cfg.unix_path,
				strerror(-fd));
			return -1;
		}
		conns[k].fd = fd;
		if (cfg.tls && tls_open(&conns[k]))
			return -1;
	}
	if (!cfg.set && !cfg.no_fill && fill(&conns[0])) {
		fprintf(stderr,
			PROG ": cannot set the %llu keys before the GETs\n",
			(unsigned long long)cfg.keys);
		return -1;
	}
	for (k = 0; k < cfg.conns; k++) {
		fcntl(conns[k].fd, F_SETFL, O_NONBLOCK);
		ev.data.ptr = &conns[k];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[k].fd, &ev))
			return -errno;
	}
	return 0;
}

int main(int argc, char **argv)
{
	bool dur_seen = false;
	const struct tool_opt opts[] = {
		OPT_STR("host", 'H', &cfg.host),
		OPT_STR("unix", 's', &cfg.unix_path),
		OPT_FLAG("tls", 'L', &cfg.tls),
		OPT_STR("cacert", 'A', &cfg.cacert),
		OPT_STR("sni", 'I', &cfg.sni),
		OPT_STR("op", 't', &cfg.op_name),
		OPT_U64("conns", 'c', &cfg.conns, 1, 10000),
		OPT_U64("rate", 'r', &cfg.rate, 1, 10000000),
		OPT_FLAG("poisson", 'p', &cfg.poisson),
		OPT_FN("size", 'd', &cfg.size, opt_size),
		OPT_U64("keys", 'k', &cfg.keys, 1, 1000000000),
		OPT_FN("duration", 'D', &cfg.duration, opt_secs,
		       .seen = &dur_seen),
		OPT_U64("requests", 'n', &cfg.requests, 1, 1000000000),
		OPT_FN("warmup", 'w', &cfg.warmup, opt_secs),
		OPT_U64("max-outstanding", 'P', &cfg.cap, 1, 1000000),
		OPT_FLAG("no-fill", 'N', &cfg.no_fill),
		OPT_FN("drain", 'T', &cfg.drain, opt_secs),
		OPT_U64("seed", 'S', &cfg.seed, 0, UINT64_MAX),
		OPT_HELP("help", 'h'),
	};
	char err[TOOL_OPTS_ERR_LEN] = "", why[UTIL_ERR_LEN];
	struct sockaddr_storage ss;
	int ret, ep;

	if (util_version_arg(argc, argv, PROG))
		return 0;
	ret = tool_opts_parse(argc, argv, "H:s:LA:I:t:c:r:pd:k:D:n:w:P:NT:S:h",
			      opts, TOOL_OPTS_N(opts), err, sizeof(err));
	if (ret == TOOL_OPTS_HELP) {
		usage(stdout);
		return 0;
	}
	if (ret == TOOL_OPTS_UNKNOWN) {
		usage(stderr);
		return 2;
	}
	if (!ret && optind < argc)
		snprintf(err, sizeof(err), "unexpected argument '%s'",
			 argv[optind]);
	else if (!ret && !cfg.host == !cfg.unix_path)
		snprintf(
			err, sizeof(err),
			"give the server as one of --host ADDR:PORT or --unix PATH");
	else if (!ret && cfg.host &&
		 util_parse_addr_port(cfg.host, &ss, 0, why, sizeof(why)))
		snprintf(err, sizeof(err), "--host: %s", why);
	else if (!ret && cfg.unix_path &&
		 strlen(cfg.unix_path) >=
			 sizeof(((struct sockaddr_un *)0)->sun_path))
		snprintf(err, sizeof(err), "--unix: the path is too long");
	else if (!ret && strcmp(cfg.op_name, "get") &&
		 strcmp(cfg.op_name, "set"))
		snprintf(err, sizeof(err), "--op: '%s' is not get or set",
			 cfg.op_name);
	else if (!ret && !cfg.tls && (cfg.cacert || cfg.sni))
		snprintf(err, sizeof(err), "--cacert and --sni need --tls");
	else if (!ret && cfg.requests && dur_seen)
		snprintf(err, sizeof(err),
			 "--duration and --requests: give one of them");
	else if (!ret && !cfg.requests && cfg.duration <= 0)
		snprintf(err, sizeof(err), "--duration: must be above 0");
	if (ret || *err) {
		if (*err)
			fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	cfg.set = !strcmp(cfg.op_name, "set");
	rng = cfg.seed;
	signal(SIGPIPE, SIG_IGN);
	/* wake-ups on time: the schedule is tens of microseconds apart */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || setup(ep)) {
		if (ep < 0)
			fprintf(stderr, PROG ": epoll: %s\n", strerror(errno));
		return 1;
	}
	ret = run(ep);
	if (ret == -ECONNRESET) {
		fprintf(stderr, PROG ": every connection was lost\n");
		report();
		return 1;
	}
	if (ret) {
		fprintf(stderr, PROG ": %s\n", strerror(-ret));
		return 1;
	}
	return st.closed ? 1 : 0;
}
