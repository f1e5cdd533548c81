// SPDX-License-Identifier: BSD-2-Clause
/*
 * The SMT transports of smt-bench: SMT natively on IP (libsmt's raw IP
 * backend, transport "smt") and SMT over UDP (its UDP backend, "smt-udp"),
 * each on an endpoint of its own on the server. Sessions are
 * keyed the way docs/protocol.md section 6 allows an application to do it
 * itself: a TLS 1.3 handshake over TCP (the same OpenSSL contexts as the TLS
 * baseline), then both sides take S from the TLS exporter ("EXPORTER-SMT
 * v1"), derive the direction keys and add the session to their endpoint.
 * The two SMT ports travel over that TLS connection (2 bytes each way); the
 * session lives as long as the connection. Sessions over UDP are keyed on a
 * keying port of their own (PORT_SMTU_KEYS). smtd is not involved, so the
 * set-up test measures what the protocol costs, not a daemon round trip.
 *
 * Built without SMT (BENCH_HAVE_SMT undefined: libsmt's engine not in the
 * tree yet) every function fails with -ENOSYS and bench_have_smt is false.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "bench.h"

/* Endpoint options given with --smt-opt; 0 keeps libsmt's default (but
 * max_pad, the sessions' P: 1500 unless given, as smtd's default; and
 * caller_timers: the client's and the server's loops sleep at most until
 * smt_next_timeout_ns(), as smt-proxy's do, so 1 unless given). */
static struct {
	const char *name;
	uint32_t val;
} smt_opts[] = {
	{"rpc_timeouts", 0}, {"resend_us", 0},	   {"unsched", 0},
	{"max_granted", 0},  {"mtu", 0},	   {"busy_poll_us", 0},
	{"xsk_tx", 0},	     {"rto_min_us", 0},	   {"max_pad", 1500},
	{"hold_ms", 0},	     {"caller_timers", 1},
};
#define N_SMT_OPTS (sizeof(smt_opts) / sizeof(smt_opts[0]))

int smt_opt_parse(const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *end;

	for (size_t i = 0; eq && i < N_SMT_OPTS; i++) {
		unsigned long v;

		if (strlen(smt_opts[i].name) != (size_t)(eq - kv) ||
		    strncmp(kv, smt_opts[i].name, eq - kv))
			continue;
		errno = 0;
		v = strtoul(eq + 1, &end, 0);
		if (errno || *end || end == eq + 1 || v > UINT32_MAX)
			return -EINVAL;
		smt_opts[i].val = (uint32_t)v;
		return 0;
	}
	return -EINVAL;
}

int smt_encaps_parse(const char *list, bool on[TP_COUNT])
{
	char buf[64], *tok, *save = NULL;
	bool ip = false, udp = false;

	if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf))
		return -EINVAL;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "ip"))
			ip = true;
		else if (!strcmp(tok, "udp"))
			udp = true;
		else
			return -EINVAL;
	}
	if (!ip && !udp)
		return -EINVAL;
	on[TP_SMT] = ip;
	on[TP_SMTU] = udp;
	return 0;
}

const char *smt_opts_str(void)
{
	static char buf[256];
	size_t len = 0;

	buf[0] = 0;
	for (size_t i = 0; i < N_SMT_OPTS; i++)
		if (smt_opts[i].val)
			len += snprintf(buf + len, sizeof(buf) - len, "%s%s=%u",
					len ? " " : "", smt_opts[i].name,
					smt_opts[i].val);
	return len ? buf : "libsmt defaults";
}

#ifdef BENCH_HAVE_SMT
#include "libsmt.h"
#include "keys.h"
#include "ctlproto.h" /* smt_ctl_last_error() */

const bool bench_have_smt = true;

#define SMT_EXPORTER_LABEL "EXPORTER-SMT v1"

/* Fills p's keys from the handshake on ssl. */
static int derive(SSL *ssl, bool client, struct smt_session_params *p,
		  char *err, size_t err_len)
{
	uint8_t secret[32];
	struct smt_keys k;
	int ret;

	if (SSL_export_keying_material(
		    ssl, secret, sizeof(secret), SMT_EXPORTER_LABEL,
		    strlen(SMT_EXPORTER_LABEL), NULL, 0, 1) != 1) {
		snprintf(err, err_len, "TLS exporter failed: %s", tls_errstr());
		return -EPROTO;
	}
	ret = smt_keys_derive(SMT_CIPHER_AES_128_GCM, secret, sizeof(secret),
			      &k);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (ret) {
		snprintf(err, err_len, "SMT key derivation failed: %s",
			 strerror(-ret));
		return ret;
	}
	p->sz = sizeof(*p);
	p->suite = SMT_TLS_AES_128_GCM_SHA256;
	p->tls_client = client;
	p->max_msg = BENCH_MAX_MSG;
	/* P, padding per record the peers allow (both sides take the same
	 * --smt-opt): over UDP a last record is padded to a whole packet
	 * within it (docs/protocol.md 8.5) */
	p->max_pad = smt_opts[8].val;
	p->key_len = k.key_len;
	memcpy(p->c_key, k.c_key, k.key_len);
	memcpy(p->c_iv, k.c_iv, sizeof(p->c_iv));
	memcpy(p->s_key, k.s_key, k.key_len);
	memcpy(p->s_iv, k.s_iv, sizeof(p->s_iv));
	smt_keys_wipe(&k);
	return 0;
}

/* Opens n endpoints (n > 1: a reuseport group over UDP) on port; a server's
 * hold up to SRV_MAX_SESSIONS sessions (the concurrent set-up test). */
#define SRV_MAX_SESSIONS 4096

static int ep_open_n(uint16_t port, bool udp, unsigned int n, bool server,
		     struct smt_endpoint **ep, char *err, size_t err_len)
{
	struct smt_endpoint_opts o = {
		.sz = sizeof(o),
		.port = port,
		.max_sessions = server ? SRV_MAX_SESSIONS : 0,
		.encap = udp ? SMT_ENCAP_UDP : SMT_ENCAP_IP,
		/* --smt-opt values, in the order of smt_opts[] */
		.rpc_timeouts = smt_opts[0].val,
		.resend_timeout_us = smt_opts[1].val,
		.unsched_bytes = smt_opts[2].val,
		.max_granted = smt_opts[3].val,
		.mtu = smt_opts[4].val,
		.busy_poll_us = smt_opts[5].val,
		.xsk_tx = smt_opts[6].val != 0,
		.rto_min_us = smt_opts[7].val,
		.hold_ms = smt_opts[9].val,
		.caller_timers = smt_opts[10].val != 0,
	};
	int ret = n > 1 ? smt_endpoint_open_group(&o, n, ep)
			: smt_endpoint_open(&o, ep);

	if (ret)
		snprintf(err, err_len,
			 "cannot open %u SMT endpoint(s) (encap %s) on port "
			 "%u: %s",
			 n, udp ? "udp" : "ip", port, smt_strerror(ret));
	return ret;
}

static int ep_open(uint16_t port, bool udp, struct smt_endpoint **ep, char *err,
		   size_t err_len)
{
	return ep_open_n(port, udp, 1, false, ep, err, err_len);
}

/*
 * Client endpoints take their SMT ports in turn from a range rather than an
 * ephemeral one: a port that comes back soon after its last session would
 * meet that session still on the server (or in smtd), since a set-up can
 * overtake the previous session's teardown. Over UDP the range lies below
 * the kernel's ephemeral UDP ports (32768..), where the UDP baseline's
 * sockets and smtd's live, and apart from native IP's.
 */
#define CLI_PORT_FIRST 20000
#define CLI_PORT_COUNT 12000
#define CLI_UDP_PORT_FIRST 8000
#define CLI_UDP_PORT_COUNT 12000

static int cli_ep_open(bool udp, struct smt_endpoint **ep, char *err,
		       size_t err_len)
{
	static unsigned int next[2]; /* client threads take ports too */
	int ret = -SMT_E_PORT_IN_USE;

	for (int i = 0; i < 64 && ret == -SMT_E_PORT_IN_USE; i++) {
		unsigned int k =
			__atomic_fetch_add(&next[udp], 1, __ATOMIC_RELAXED);

		ret = ep_open(udp ? CLI_UDP_PORT_FIRST + k % CLI_UDP_PORT_COUNT
				  : CLI_PORT_FIRST + k % CLI_PORT_COUNT,
			      udp, ep, err, err_len);
	}
	return ret;
}

int smt_srv_open(uint16_t port, bool udp, struct smt_endpoint **ep, char *err,
		 size_t err_len)
{
	return ep_open_n(port, udp, 1, true, ep, err, err_len);
}

int smt_srv_open_group(uint16_t port, unsigned int n, struct smt_endpoint **eps,
		       char *err, size_t err_len)
{
	return ep_open_n(port, true, n, true, eps, err, err_len);
}

uint16_t smt_ep_port(struct smt_endpoint *ep)
{
	return smt_endpoint_port(ep);
}

/*
 * The server's sessions by peer (address and SMT port): the client's
 * ephemeral SMT port comes round again, and a new set-up from a peer can
 * arrive before the close of its previous keying connection (or while smtd
 * still holds the previous session), so a new set-up replaces the old
 * session, as smtd does. owner is the keying connection, NULL for sessions
 * that smtd added.
 */
#define SRV_SESS_MAX 4096

static struct srv_sess {
	const struct smt_endpoint *ep; /* its endpoint (encapsulation) */
	struct sockaddr_in peer;
	uint32_t sess;
	const void *owner;
	bool used;
} srv_sess[SRV_SESS_MAX];
/* server threads (--threads) add and drop their members' sessions */
static pthread_mutex_t srv_sess_lock = PTHREAD_MUTEX_INITIALIZER;

static struct srv_sess *srv_sess_find(const struct smt_endpoint *ep,
				      const struct sockaddr_in *peer)
{
	for (int i = 0; i < SRV_SESS_MAX; i++)
		if (srv_sess[i].used && srv_sess[i].ep == ep &&
		    srv_sess[i].peer.sin_addr.s_addr == peer->sin_addr.s_addr &&
		    srv_sess[i].peer.sin_port == peer->sin_port)
			return &srv_sess[i];
	return NULL;
}

static void srv_sess_note(const struct smt_endpoint *ep,
			  const struct sockaddr_storage *peer, uint32_t sess,
			  const void *owner)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
	struct srv_sess *e = srv_sess_find(ep, in);

	for (int i = 0; !e && i < SRV_SESS_MAX; i++)
		if (!srv_sess[i].used)
			e = &srv_sess[i];
	if (!e)
		return; /* full: replacement just will not happen */
	e->ep = ep;
	e->peer = *in;
	e->sess = sess;
	e->owner = owner;
	e->used = true;
}

void *smt_srv_derive(SSL *ssl, const struct sockaddr_storage *peer, char *err,
		     size_t err_len)
{
	struct smt_session_params *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	if (derive(ssl, false, p, err, err_len)) {
		free(p);
		return NULL;
	}
	p->peer = *peer;
	return p;
}

void smt_srv_keys_free(void *keys)
{
	if (keys) {
		smt_session_params_wipe(keys);
		free(keys);
	}
}

int smt_srv_add(struct smt_endpoint *ep, const void *keys, uint32_t *sess,
		const void *owner, char *err, size_t err_len)
{
	const struct smt_session_params *p = keys;
	struct srv_sess *old;
	int ret;

	pthread_mutex_lock(&srv_sess_lock);
	old = srv_sess_find(ep, (const struct sockaddr_in *)&p->peer);
	if (old) {
		smt_session_remove(ep, old->sess);
		old->used = false;
	}
	ret = smt_session_add(ep, p, sess);
	if (ret)
		snprintf(err, err_len, "cannot add SMT session: %s",
			 smt_strerror(ret));
	else
		srv_sess_note(ep, &p->peer, *sess, owner);
	pthread_mutex_unlock(&srv_sess_lock);
	return ret;
}

int smt_srv_key(struct smt_endpoint *ep, SSL *ssl,
		const struct sockaddr_storage *peer, uint32_t *sess,
		const void *owner, char *err, size_t err_len)
{
	void *keys = smt_srv_derive(ssl, peer, err, err_len);
	int ret;

	if (!keys)
		return -EPROTO;
	ret = smt_srv_add(ep, keys, sess, owner, err, err_len);
	smt_srv_keys_free(keys);
	return ret;
}

int smt_srv_process(struct smt_endpoint *ep)
{
	/* per server thread, on the heap: 1 MiB of static TLS would go into
	 * every thread of the process (the concurrent set-up test's too) */
	static __thread uint8_t *tx;
	struct smt_msg m;
	int ret = smt_process(ep);

	if (ret < 0)
		return ret;
	if (!tx) {
		tx = malloc(BENCH_MAX_MSG);
		if (!tx)
			return -ENOMEM;
	}
	while (!smt_recv(ep, &m)) {
		struct bench_hdr h;

		if (m.kind == SMT_MSG_SESSION_UP) {
			pthread_mutex_lock(&srv_sess_lock);
			srv_sess_note(ep, &m.peer, m.session, NULL);
			pthread_mutex_unlock(&srv_sess_lock);
		}
		if (m.kind == SMT_MSG_REQUEST && msg_hdr(m.data, m.len, &h) &&
		    h.resp_len >= BENCH_HDR_LEN &&
		    h.resp_len <= BENCH_MAX_MSG) {
			const uint8_t *out = m.data;

			if (h.resp_len > m.len) {
				msg_fill(tx, h.resp_len, &h);
				out = tx;
			}
			smt_reply(ep, m.session, m.id, out, h.resp_len);
		}
		smt_msg_release(&m);
	}
	return 0;
}

static void ep_stats(struct smt_endpoint *ep, char *buf, size_t len);

/* Removes the session of ep keyed by owner (any id when all_ids). */
static void srv_drop(struct smt_endpoint *ep, uint32_t sess, const void *owner,
		     bool all_ids)
{
	pthread_mutex_lock(&srv_sess_lock);
	for (int i = 0; i < SRV_SESS_MAX; i++) {
		if (srv_sess[i].used && srv_sess[i].ep == ep &&
		    srv_sess[i].owner == owner &&
		    (all_ids || srv_sess[i].sess == sess)) {
			smt_session_remove(ep, srv_sess[i].sess);
			srv_sess[i].used = false;
			break;
		}
	}
	pthread_mutex_unlock(&srv_sess_lock);
	if (getenv("SMT_BENCH_STATS")) { /* the server's side, for profiling */
		char line[2048];

		ep_stats(ep, line, sizeof(line));
		fprintf(stderr, "smt-bench server: session closed: %s\n", line);
	}
}

void smt_srv_drop(struct smt_endpoint *ep, uint32_t sess, const void *owner)
{
	srv_drop(ep, sess, owner, false);
}

void smt_srv_drop_owner(struct smt_endpoint *ep, const void *owner)
{
	srv_drop(ep, 0, owner, true);
}

int smt_ep_fd(struct smt_endpoint *ep)
{
	return smt_fd(ep);
}

void smt_ep_close(struct smt_endpoint *ep)
{
	smt_endpoint_close(ep);
}

/* Blocking exchange on the (non-blocking) keying stream. */
static int keys_io(struct stream *st, const void *out, void *in, char *err,
		   size_t err_len)
{
	int ret = bbuf_put(&st->out, out, 2);

	while (!ret) {
		struct pollfd pfd = {.fd = st->fd, .events = POLLIN};

		ret = stream_flush(st);
		if (ret == -EAGAIN) {
			pfd.events |= POLLOUT;
			ret = 0;
		} else if (ret) {
			break;
		}
		ret = stream_read(st);
		if (ret)
			break;
		if (bbuf_len(&st->in) >= 2) {
			memcpy(in, st->in.data + st->in.head, 2);
			bbuf_consume(&st->in, 2);
			return 0;
		}
		if (st->eof) {
			ret = -ECONNRESET;
			break;
		}
		if (poll(&pfd, 1, 5000) <= 0) {
			ret = -ETIMEDOUT;
			break;
		}
	}
	snprintf(err, err_len, "SMT keying exchange failed: %s",
		 strerror(-ret));
	return ret;
}

int smt_cli_open(struct cconn *c, const struct bench_target *t, char *err,
		 size_t err_len)
{
	struct smt_session_params p = {0};
	uint16_t mine, theirs;
	struct sockaddr_in *sa;
	int ret;

	/* c->st holds the keying TLS connection, handshake done. */
	ret = cli_ep_open(c->tp == TP_SMTU, &c->ep, err, err_len);
	if (ret)
		return ret;
	mine = htons(smt_endpoint_port(c->ep));
	ret = keys_io(&c->st, &mine, &theirs, err, err_len);
	if (ret)
		return ret;
	ret = derive(c->st.ssl, true, &p, err, err_len);
	if (ret)
		return ret;
	sa = (struct sockaddr_in *)&p.peer;
	*sa = t->addr;
	sa->sin_port = theirs;
	ret = smt_session_add(c->ep, &p, &c->sess);
	smt_session_params_wipe(&p);
	if (ret) {
		snprintf(err, err_len, "cannot add SMT session: %s",
			 smt_strerror(ret));
		return ret;
	}
	c->fd = smt_fd(c->ep);
	return 0;
}

const struct smtd_kind smtd_kinds[SMTD_KINDS] = {
	{"resumed", TEST_SETUP_SMTD_RES, true},
	{"0rtt", TEST_SETUP_SMTD_0RTT, true},
	{"ticket", TEST_SETUP_SMTD_TKT, false},
};

int smtd_kinds_parse(const char *list)
{
	char buf[128], *save = NULL, *w;
	int mask = 0, k;

	if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf))
		return -1;
	for (w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (!strcmp(w, "all")) {
			mask |= (1 << SMTD_KINDS) - 1;
			continue;
		}
		for (k = 0; k < SMTD_KINDS && strcmp(w, smtd_kinds[k].suffix);
		     k++)
			;
		if (k == SMTD_KINDS)
			return -1;
		mask |= 1 << k;
	}
	return mask;
}

/* SERVICE, or SERVICE-KIND */
static void kind_service(char *buf, size_t len, const char *service,
			 const char *kind)
{
	if (kind)
		snprintf(buf, len, "%s-%s", service, kind);
	else
		snprintf(buf, len, "%s", service);
}

int smt_cli_open_smtd(struct cconn *c, const struct bench_target *t, char *err,
		      size_t err_len)
{
	char service[128], addr[INET_ADDRSTRLEN];
	int ret;

	kind_service(service, sizeof(service),
		     c->tp == TP_SMTU ? t->smtd_service_udp : t->smtd_service,
		     t->smtd_kind);

	ret = cli_ep_open(c->tp == TP_SMTU, &c->ep, err, err_len);
	if (ret)
		return ret;
	inet_ntop(AF_INET, &t->addr.sin_addr, addr, sizeof(addr));
	ret = smt_connect(c->ep, service, addr, &c->sess);
	if (ret) {
		const char *why = smt_ctl_last_error();

		snprintf(err, err_len,
			 "SMT session (encap %s) for %s at %s through smtd "
			 "failed: %s%s%s (is smtd running? $SMT_CTL_SOCKET?)",
			 c->tp == TP_SMTU ? "udp" : "ip", service, addr,
			 smt_strerror(ret), *why ? ": " : "", why);
		return ret;
	}
	c->fd = smt_fd(c->ep);
	return 0;
}

int smt_srv_serve_kinds(struct smt_endpoint *ep, const char *service, int mask,
			char *err, size_t err_len)
{
	char name[128];
	int ret = smt_srv_serve(ep, service, err, err_len);

	for (int k = 0; !ret && k < SMTD_KINDS; k++) {
		if (!(mask & 1 << k))
			continue;
		kind_service(name, sizeof(name), service, smtd_kinds[k].suffix);
		ret = smt_srv_serve(ep, name, err, err_len);
	}
	return ret;
}

int smt_srv_serve(struct smt_endpoint *ep, const char *service, char *err,
		  size_t err_len)
{
	int ret = smt_serve(ep, service);

	if (ret) {
		const char *why = smt_ctl_last_error();

		snprintf(err, err_len,
			 "cannot serve %s through smtd: %s%s%s (is smtd "
			 "running? $SMT_CTL_SOCKET?)",
			 service, smt_strerror(ret), *why ? ": " : "", why);
	}
	return ret;
}

int smt_cli_send(struct cconn *c, uint64_t id, size_t len, size_t resp_len)
{
	struct bench_hdr h = {.id = id, .resp_len = (uint32_t)resp_len};
	int ret;

	msg_fill(c->txbuf, len, &h);
	ret = smt_send_request(c->ep, c->sess, c->txbuf, len, id, NULL);
	if (ret == -SMT_E_LIMIT)
		return -EAGAIN;
	return ret;
}

int smt_cli_input(struct cconn *c, resp_fn fn, void *ctx)
{
	struct smt_msg m;
	int ret = smt_process(c->ep);

	if (ret < 0)
		return ret;
	while (!smt_recv(c->ep, &m)) {
		if (m.kind == SMT_MSG_RESPONSE)
			fn(ctx, m.cookie, m.len, 0);
		else if (m.kind == SMT_MSG_FAILED)
			fn(ctx, m.cookie, 0, m.error ? m.error : -EIO);
		smt_msg_release(&m);
	}
	return 0;
}

int smt_cli_timeout_ms(const struct cconn *c)
{
	return smt_next_timeout_ms(c->ep);
}

bool smt_bench_caller_timers(void)
{
	return smt_opts[10].val != 0;
}

int64_t smt_ep_timeout_ns(const struct smt_endpoint *ep)
{
	return smt_next_timeout_ns(ep);
}

const char *smt_errstr(int err)
{
	return smt_strerror(err);
}

int smt_cli_io(const struct cconn *c, struct bench_io *io)
{
	struct smt_stats st = {.sz = sizeof(st)};

	if (!c->ep || smt_stats_get(c->ep, 0, &st))
		return -ENOTSUP;
	io->tx_calls = st.tx_calls;
	io->rx_calls = st.rx_calls;
	io->gso_sends = st.tx_gso_sends;
	io->gso_segments = st.tx_gso_segments;
	io->rx_packets = st.rx_packets;
	io->tx_ctl = st.tx_ctl;
	return 0;
}

/* One line of an endpoint's counters (empty when there are none). */
static void ep_stats(struct smt_endpoint *ep, char *buf, size_t len)
{
	struct smt_stats st = {.sz = sizeof(st)};
	size_t n;

	buf[0] = 0;
	if (!ep || smt_stats_get(ep, 0, &st))
		return;
	n = snprintf(buf, len,
		     "encap %s, tx %llu pkts, rx %llu pkts, retransmits %llu, "
		     "received twice %llu (spurious retransmissions %llu), "
		     "ctl %llu/%llu, rpcs ok %llu failed %llu, ICMP errors "
		     "%llu, sendmmsg %llu, recvmmsg %llu, epoll_wait skipped "
		     "%llu, timerfd set %llu, timer wake-ups %llu (early "
		     "%llu), receipts sent %llu received %llu (probes "
		     "saved %llu), drops %llu, GSO sends %llu (%llu segments), "
		     "GRO buffers %llu (%llu segments), batched %llu, steered "
		     "out %llu in %llu (ACK copies %llu, drops %llu)",
		     smt_encap_name(smt_endpoint_encap(ep)),
		     (unsigned long long)st.tx_packets,
		     (unsigned long long)st.rx_packets,
		     (unsigned long long)st.tx_retransmits,
		     (unsigned long long)st.rx_dup_data,
		     (unsigned long long)st.rx_spurious_rtx,
		     (unsigned long long)st.tx_ctl,
		     (unsigned long long)st.rx_ctl,
		     (unsigned long long)st.rpcs_ok,
		     (unsigned long long)st.rpcs_failed,
		     (unsigned long long)st.rx_icmp_errors,
		     (unsigned long long)st.tx_calls,
		     (unsigned long long)st.rx_calls,
		     (unsigned long long)st.rx_epoll_skipped,
		     (unsigned long long)st.timer_arms,
		     (unsigned long long)st.timer_wakeups,
		     (unsigned long long)st.timer_early,
		     (unsigned long long)st.tx_rcpts,
		     (unsigned long long)st.rx_rcpts,
		     (unsigned long long)st.probes_saved,
		     (unsigned long long)st.drops_total,
		     (unsigned long long)st.tx_gso_sends,
		     (unsigned long long)st.tx_gso_segments,
		     (unsigned long long)st.rx_gro_bufs,
		     (unsigned long long)st.rx_gro_segments,
		     (unsigned long long)st.tx_batched,
		     (unsigned long long)st.rx_steered_out,
		     (unsigned long long)st.rx_steered_in,
		     (unsigned long long)st.rx_ack_copies,
		     (unsigned long long)st.rx_steer_drops);
	for (unsigned int i = 0; i < SMT_STATS_DROP_SLOTS && n < len; i++)
		if (st.drops[i] && smt_drop_reason_name(i))
			n += snprintf(buf + n, len - n, " %s=%llu",
				      smt_drop_reason_name(i),
				      (unsigned long long)st.drops[i]);
}

void smt_cli_stats(struct cconn *c, char *buf, size_t len)
{
	ep_stats(c->ep, buf, len);
}

void smt_cli_counters(struct cconn *c, struct result *res)
{
	struct smt_stats st = {.sz = sizeof(st)};

	if (!c->ep || smt_stats_get(c->ep, 0, &st))
		return;
	res->smt_rtx = st.tx_retransmits;
	res->smt_dup_in = st.rx_dup_data;
	res->smt_spurious_in = st.rx_spurious_rtx;
	res->smt_probes = st.tx_probes;
	res->smt_probes_saved = st.probes_saved;
	st.sz = sizeof(st);
	if (c->sess && !smt_stats_get(c->ep, c->sess, &st))
		res->smt_rto_us = st.rto_us;
}

void smt_cli_close(struct cconn *c)
{
	if (c->ep)
		smt_endpoint_close(c->ep);
	c->ep = NULL;
}

#else /* !BENCH_HAVE_SMT */

const bool bench_have_smt = false;

static int no_smt(char *err, size_t err_len)
{
	if (err)
		snprintf(err, err_len,
			 "this smt-bench was built without SMT (libsmt's "
			 "engine was not in the tree); rebuild");
	return -ENOSYS;
}

int smt_srv_open(uint16_t port, bool udp, struct smt_endpoint **ep, char *err,
		 size_t err_len)
{
	return no_smt(err, err_len);
}

int smt_srv_key(struct smt_endpoint *ep, SSL *ssl,
		const struct sockaddr_storage *peer, uint32_t *sess,
		const void *owner, char *err, size_t err_len)
{
	return no_smt(err, err_len);
}

int smt_srv_open_group(uint16_t port, unsigned int n, struct smt_endpoint **eps,
		       char *err, size_t err_len)
{
	return no_smt(err, err_len);
}

void *smt_srv_derive(SSL *ssl, const struct sockaddr_storage *peer, char *err,
		     size_t err_len)
{
	no_smt(err, err_len);
	return NULL;
}

void smt_srv_keys_free(void *keys)
{
}

int smt_srv_add(struct smt_endpoint *ep, const void *keys, uint32_t *sess,
		const void *owner, char *err, size_t err_len)
{
	return no_smt(err, err_len);
}

void smt_srv_drop_owner(struct smt_endpoint *ep, const void *owner)
{
}

uint16_t smt_ep_port(struct smt_endpoint *ep)
{
	return 0;
}

int smt_srv_process(struct smt_endpoint *ep)
{
	return -ENOSYS;
}

void smt_srv_drop(struct smt_endpoint *ep, uint32_t sess, const void *owner)
{
}

int smt_ep_fd(struct smt_endpoint *ep)
{
	return -1;
}

void smt_ep_close(struct smt_endpoint *ep)
{
}

int smt_cli_open(struct cconn *c, const struct bench_target *t, char *err,
		 size_t err_len)
{
	return no_smt(err, err_len);
}

int smt_cli_open_smtd(struct cconn *c, const struct bench_target *t, char *err,
		      size_t err_len)
{
	return no_smt(err, err_len);
}

int smt_srv_serve(struct smt_endpoint *ep, const char *service, char *err,
		  size_t err_len)
{
	return no_smt(err, err_len);
}

int smt_cli_send(struct cconn *c, uint64_t id, size_t len, size_t resp_len)
{
	return -ENOSYS;
}

int smt_cli_input(struct cconn *c, resp_fn fn, void *ctx)
{
	return -ENOSYS;
}

int smt_cli_timeout_ms(const struct cconn *c)
{
	return -1;
}

const char *smt_errstr(int err)
{
	return strerror(-err);
}

void smt_cli_close(struct cconn *c)
{
}

void smt_cli_stats(struct cconn *c, char *buf, size_t len)
{
	buf[0] = 0;
}

int smt_cli_io(const struct cconn *c, struct bench_io *io)
{
	return -ENOTSUP;
}

void smt_cli_counters(struct cconn *c, struct result *res)
{
}

#endif /* BENCH_HAVE_SMT */
