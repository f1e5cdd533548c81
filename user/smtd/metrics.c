// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtd's metrics endpoint ([metrics] listen in smt.conf, docs/metrics.md):
 * a small HTTP/1.x server in smtd's main loop that answers GET /metrics
 * with Prometheus text 0.0.4, or OpenMetrics 1.0 text when the client's
 * Accept header asks for it. It is bounded everywhere: at most
 * max_clients connections (more are closed at once and counted), one
 * request of at most SMTD_METRICS_REQ_MAX bytes per connection, every
 * connection closed after its answer or after METRICS_TIMEOUT_MS, and
 * sockets non-blocking so that a slow or silent client never holds the
 * loop. Per-session series stop at max_session_series sessions; how many
 * were left out is itself a metric.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "smt/drop.h"
#include "smt/maps.h"
#include "smtd.h"

#define METRICS_TIMEOUT_MS 5000

struct mconn {
	struct smtd_io io;
	struct mconn *next;
	int64_t deadline;
	char *out; /* the answer, once the request is complete */
	size_t olen, off;
	bool draining; /* answered: reading what is left until the close */
	size_t rlen;
	char req[SMTD_METRICS_REQ_MAX];
};

struct mstate {
	struct mconn *conns;
	unsigned int n;
};

/* ---- the exposition ----------------------------------------------------- */

struct mbuf {
	char *p;
	size_t len, cap;
	bool oom, om;
};

static void put(struct mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += n;
			return;
		}
		size_t cap = (b->cap + n + 1) * 2;
		char *np = realloc(b->p, cap);

		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* A label value with \, " and newline escaped (text formats' rule). */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = 0;
	return buf;
}

/* HELP and TYPE of a family. A counter's samples are NAME_total; its
 * family is NAME in OpenMetrics and NAME_total in Prometheus text. */
static void family(struct mbuf *b, const char *name, bool counter,
		   const char *help)
{
	const char *sfx = counter && !b->om ? "_total" : "";

	put(b, "# HELP %s%s %s\n# TYPE %s%s %s\n", name, sfx, help, name, sfx,
	    counter ? "counter" : "gauge");
}

static void counter(struct mbuf *b, const char *name, const char *help,
		    uint64_t v)
{
	family(b, name, true, help);
	put(b, "%s_total %llu\n", name, (unsigned long long)v);
}

static void gauge(struct mbuf *b, const char *name, const char *help,
		  long long v)
{
	family(b, name, false, help);
	put(b, "%s %lld\n", name, v);
}

static void smtd_part(struct smtd *d, struct mbuf *b)
{
	family(b, "smtd_build_info", false,
	       "smtd's version; the value is always 1");
	put(b, "smtd_build_info{version=\"%s\"} 1\n", smt_version());
	gauge(b, "smtd_start_time_seconds", "unix time smtd started",
	      d->started);
	gauge(b, "smtd_sessions", "sessions in smtd's table", d->nsessions);
	gauge(b, "smtd_services", "services configured", d->cfg.nservices);
	gauge(b, "smtd_control_clients", "control-socket connections",
	      d->nconns);
	gauge(b, "smtd_handshakes_inbound", "inbound handshakes in progress",
	      d->nhs_in);
#define X(n, desc) counter(b, "smtd_" #n, desc, d->st.n);
	SMTD_COUNTERS(X)
#undef X
	family(b, "smtd_handshakes_refused", true,
	       "handshakes refused or failed, by reason");
#define X(n, desc)                                                        \
	put(b, "smtd_handshakes_refused_total{reason=\"" #n "\"} %llu\n", \
	    (unsigned long long)d->st.refused.n);
	SMTD_REFUSALS(X)
#undef X
}

/* A libsmt counter name: lower case, digits and '_', not too long. */
static bool plain_name(const char *k)
{
	size_t i;

	if (!*k || *k < 'a' || *k > 'z')
		return false;
	for (i = 0; k[i]; i++)
		if (i >= 48 || !((k[i] >= 'a' && k[i] <= 'z') ||
				 (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return false;
	return true;
}

/* What the applications reported (app_stats events), summed; names that
 * are not plain are left out, so an application cannot break the text. */
static void apps_part(struct smtd *d, struct mbuf *b)
{
	json_object *sum = smtd_ctl_apps_stats(d), *r;
	char name[128];
	size_t kl;

	gauge(b, "smtd_apps_reporting",
	      "applications that reported their counters to smtd",
	      smt_ctl_int(sum, "reporting", 0));
	json_object_object_foreach(sum, k, v)
	{
		if (!plain_name(k) || !strcmp(k, "reporting") ||
		    !json_object_is_type(v, json_type_int))
			continue;
		kl = strlen(k);
		if (kl > 6 && !strcmp(k + kl - 6, "_total"))
			kl -= 6;
		snprintf(name, sizeof(name), "smtd_apps_%.*s", (int)kl, k);
		family(b, name, true,
		       "sum over the reporting applications (libsmt's "
		       "struct smt_stats)");
		put(b, "%s_total %lld\n", name,
		    (long long)json_object_get_int64(v));
	}
	if (json_object_object_get_ex(sum, "drops", &r) &&
	    json_object_is_type(r, json_type_object)) {
		family(b, "smtd_apps_drops_by_reason", true,
		       "packets the reporting applications dropped, by reason");
		json_object_object_foreach(r, k2, v2)
		{
			if (plain_name(k2))
				put(b,
				    "smtd_apps_drops_by_reason_total{reason="
				    "\"%s\"} %lld\n",
				    k2, (long long)json_object_get_int64(v2));
		}
	}
	json_object_put(sum);
}

static void bpf_part(struct smtd *d, struct mbuf *b)
{
	uint64_t drops[SMT_DROP_MAX], xdp[SMT_XS_MAX];
	bool ok = !smtd_bpf_counters(d, drops, xdp);
	unsigned int i;

	gauge(b, "smtd_bpf_attached",
	      "1 when smtd attached the BPF programs ([bpf] interface)", ok);
	if (!ok)
		return;
	family(b, "smtd_bpf_drops", true,
	       "packets the BPF programs dropped, by reason (drops map)");
	for (i = 1; i < SMT_DROP_MAX; i++)
		put(b, "smtd_bpf_drops_total{reason=\"%s\"} %llu\n",
		    smt_drop_name(i), (unsigned long long)drops[i]);
	family(b, "smtd_bpf_xdp_stats", true,
	       "the BPF programs' counters (xdp_stats map), by name");
#define X(n, num, str, desc)                                           \
	put(b, "smtd_bpf_xdp_stats_total{counter=\"" str "\"} %llu\n", \
	    (unsigned long long)xdp[num]);
	SMT_XDP_STATS(X)
#undef X
}

/* Per-session series, for the first max_session_series sessions. */
enum sess_field {
	SF_EPOCH,
	SF_CREATED,
	SF_RX_PACKETS,
	SF_RX_BYTES,
	SF_RX_MSGS,
	SF_RX_DROPS,
	SF_TX_PACKETS,
	SF_TX_BYTES,
	SF_MAX
};

static const struct {
	const char *name, *help;
	bool counter, bpf;
} sess_fields[SF_MAX] = {
	[SF_EPOCH] = {"smtd_session_epoch", "the session's key epoch"},
	[SF_CREATED] = {"smtd_session_epoch_start_time_seconds",
			"unix time of the epoch's handshake"},
	[SF_RX_PACKETS] = {"smtd_session_rx_packets",
			   "SMT packets received (BPF sess_stats)", true, true},
	[SF_RX_BYTES] = {"smtd_session_rx_bytes",
			 "SMT bytes received (BPF sess_stats)", true, true},
	[SF_RX_MSGS] = {"smtd_session_rx_messages",
			"messages completed (BPF sess_stats)", true, true},
	[SF_RX_DROPS] = {"smtd_session_rx_drops",
			 "packets dropped (BPF sess_stats)", true, true},
	[SF_TX_PACKETS] = {"smtd_session_tx_packets",
			   "SMT packets sent (BPF tx_sess_stats)", true, true},
	[SF_TX_BYTES] = {"smtd_session_tx_bytes",
			 "SMT bytes sent (BPF tx_sess_stats)", true, true},
};

static uint64_t sess_value(const struct smtd_session *s, enum sess_field f,
			   const struct smt_sess_stats *rx,
			   const struct smt_sess_stats *tx)
{
	switch (f) {
	case SF_EPOCH:
		return s->s.epoch;
	case SF_CREATED:
		return s->s.created;
	case SF_RX_PACKETS:
		return rx->packets;
	case SF_RX_BYTES:
		return rx->bytes;
	case SF_RX_MSGS:
		return rx->msgs_completed;
	case SF_RX_DROPS:
		return rx->drops;
	case SF_TX_PACKETS:
		return tx->packets;
	case SF_TX_BYTES:
		return tx->bytes;
	default:
		return 0;
	}
}

static void sessions_part(struct smtd *d, struct mbuf *b)
{
	unsigned int lim = d->cfg.metrics_max_sessions, n = 0, i;
	struct smt_sess_stats *rx = NULL, *tx = NULL;
	bool bpf = d->bpf != NULL;
	struct smtd_session *s;
	char svc[160];
	int f;

	for (s = d->sessions; s && n < lim; s = s->next)
		n++;
	if (bpf && n) {
		rx = calloc(n, sizeof(*rx));
		tx = calloc(n, sizeof(*tx));
		for (i = 0, s = d->sessions; rx && tx && i < n;
		     i++, s = s->next)
			if (smtd_bpf_sess_counters(d, &s->s, &rx[i], &tx[i]))
				bpf = false;
		if (!rx || !tx)
			bpf = false;
	}
	for (f = 0; f < SF_MAX; f++) {
		const char *nm = sess_fields[f].name;

		if (sess_fields[f].bpf && !bpf)
			continue;
		family(b, nm, sess_fields[f].counter, sess_fields[f].help);
		for (i = 0, s = d->sessions; i < n; i++, s = s->next)
			put(b,
			    "%s%s{sid=\"%u\",service=\"%s\",encap=\"%s\","
			    "role=\"%s\"} %llu\n",
			    nm, sess_fields[f].counter ? "_total" : "",
			    s->s.sid, esc(s->s.service, svc, sizeof(svc)),
			    s->s.ipproto == SMT_IPPROTO_UDP ? "udp" : "ip",
			    s->s.tls_client ? "client" : "server",
			    (unsigned long long)sess_value(
				    s, f, bpf ? &rx[i] : NULL,
				    bpf ? &tx[i] : NULL));
	}
	free(rx);
	free(tx);
	gauge(b, "smtd_metrics_session_series_limit",
	      "[metrics] max_session_series: sessions with series of their own",
	      lim);
	gauge(b, "smtd_metrics_sessions_omitted",
	      "sessions left out of the per-session series (over the limit)",
	      d->nsessions > n ? d->nsessions - n : 0);
}

char *smtd_metrics_render(struct smtd *d, bool om, size_t *len)
{
	struct mbuf b = {.om = om};

	smtd_part(d, &b);
	apps_part(d, &b);
	bpf_part(d, &b);
	sessions_part(d, &b);
	if (om)
		put(&b, "# EOF\n");
	if (b.oom || !b.p) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* ---- the connections ---------------------------------------------------- */

static void conn_close(struct smtd *d, struct mconn *c)
{
	struct mstate *m = d->metrics;
	struct mconn **pp;

	for (pp = &m->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	m->n--;
	smtd_io_del(d, &c->io);
	close(c->io.fd);
	free(c->out);
	free(c);
}

static const char *reason(int st)
{
	switch (st) {
	case 200:
		return "OK";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Bad Request";
	}
}

/* Compose the whole answer into c->out. */
static void answer(struct smtd *d, struct mconn *c, int st, bool om, bool head)
{
	static const char *const ctype[] = {
		"text/plain; version=0.0.4; charset=utf-8",
		"application/openmetrics-text; version=1.0.0; charset=utf-8"};
	char *body = NULL, msg[160];
	size_t blen = 0;
	int hl;

	if (st == 200) {
		body = smtd_metrics_render(d, om, &blen);
		if (!body)
			st = 503;
	}
	if (st == 200) {
		d->st.metrics_scrapes++;
	} else {
		d->st.metrics_bad_requests++;
		blen = snprintf(msg, sizeof(msg),
				"%d %s: smtd serves GET "
				"/metrics here (smtd(8))\n",
				st, reason(st));
		om = false;
	}
	c->out = malloc(256 + (head ? 0 : blen));
	if (!c->out) {
		free(body);
		return;
	}
	hl = snprintf(c->out, 256,
		      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		      st, reason(st), st == 200 ? ctype[om] : "text/plain",
		      blen);
	c->olen = hl;
	if (!head) {
		memcpy(c->out + hl, st == 200 ? body : msg, blen);
		c->olen += blen;
	}
	free(body);
}

static void conn_write(struct smtd *d, struct mconn *c)
{
	ssize_t n;

	while (c->off < c->olen) {
		n = send(c->io.fd, c->out + c->off, c->olen - c->off,
			 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			smtd_io_mod(d, &c->io, EPOLLOUT);
			return;
		}
		if (n <= 0)
			break;
		c->off += n;
	}
	if (c->off < c->olen) {
		conn_close(d, c);
		return;
	}
	/* A close with unread bytes would reset the connection and could
	 * take the answer with it (a 431 after a long request): end the
	 * sending side, and read until the client closes (or the deadline). */
	shutdown(c->io.fd, SHUT_WR);
	c->draining = true;
	smtd_io_mod(d, &c->io, EPOLLIN);
}

static void conn_drain(struct smtd *d, struct mconn *c)
{
	ssize_t n;

	do
		n = recv(c->io.fd, c->req, sizeof(c->req), 0);
	while (n > 0 || (n < 0 && errno == EINTR));
	if (n < 0 && errno == EAGAIN)
		return;
	conn_close(d, c);
}

static void on_conn(struct smtd *d, void *obj, uint32_t events)
{
	struct mconn *c = obj;
	bool om, head;
	ssize_t n;
	int st = 0;

	if (c->draining) {
		conn_drain(d, c);
		return;
	}
	if (c->out) {
		if (events & (EPOLLERR | EPOLLHUP))
			conn_close(d, c);
		else
			conn_write(d, c);
		return;
	}
	while (!st && c->rlen < sizeof(c->req)) {
		n = recv(c->io.fd, c->req + c->rlen, sizeof(c->req) - c->rlen,
			 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* gone (or half-closed) before a whole request */
			d->st.metrics_bad_requests++;
			conn_close(d, c);
			return;
		}
		c->rlen += n;
		st = smtd_metrics_request(c->req, c->rlen, &om, &head);
	}
	if (!st)
		st = smtd_metrics_request(c->req, c->rlen, &om, &head);
	answer(d, c, st, om, head);
	if (!c->out) {
		conn_close(d, c);
		return;
	}
	conn_write(d, c);
}

static void on_accept(struct smtd *d, void *obj, uint32_t events)
{
	struct mstate *m = d->metrics;
	struct mconn *c;
	int fd, i;

	for (i = 0; i < 16; i++) {
		fd = smtd_accept(d, &d->metrics_io, NULL);
		if (fd < 0)
			return;
		c = m->n < d->cfg.metrics_max_clients ? calloc(1, sizeof(*c))
						      : NULL;
		if (!c) {
			d->st.metrics_conns_refused++;
			close(fd);
			continue;
		}
		c->io = (struct smtd_io){.fd = fd, .cb = on_conn, .obj = c};
		c->deadline = smtd_now_ms() + METRICS_TIMEOUT_MS;
		if (smtd_io_add(d, &c->io, EPOLLIN)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = m->conns;
		m->conns = c;
		m->n++;
	}
}

int smtd_metrics_listen(struct smtd *d)
{
	const struct sockaddr_storage *ss = &d->cfg.metrics_addr;
	int fd, one = 1, err;

	d->metrics_io.fd = -1;
	if (!d->cfg.metrics_listen[0])
		return 0;
	d->metrics = calloc(1, sizeof(struct mstate));
	if (!d->metrics)
		return -ENOMEM;
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sizeof(*ss)) ||
	    listen(fd, 16)) {
		err = -errno;
		LOG_E("cannot serve metrics on %s: %s (fix [metrics] listen "
		      "in %s)",
		      d->cfg.metrics_listen, strerror(-err), d->cfg.path);
		close(fd);
		return err;
	}
	d->metrics_io = (struct smtd_io){.fd = fd, .cb = on_accept};
	LOG_I("metrics on http://%s/metrics", d->cfg.metrics_listen);
	return smtd_io_add(d, &d->metrics_io, EPOLLIN);
}

void smtd_metrics_tick(struct smtd *d)
{
	struct mstate *m = d->metrics;
	int64_t now = smtd_now_ms();
	struct mconn *c, *nx;

	if (!m)
		return;
	for (c = m->conns; c; c = nx) {
		nx = c->next;
		if (now < c->deadline)
			continue;
		if (!c->out)
			d->st.metrics_bad_requests++;
		conn_close(d, c);
	}
}

void smtd_metrics_close(struct smtd *d)
{
	struct mstate *m = d->metrics;

	if (!m)
		return;
	while (m->conns)
		conn_close(d, m->conns);
	if (d->metrics_io.fd >= 0) {
		smtd_io_del(d, &d->metrics_io);
		close(d->metrics_io.fd);
		d->metrics_io.fd = -1;
	}
	free(m);
	d->metrics = NULL;
}
