// SPDX-License-Identifier: BSD-2-Clause
/*
 * The QUIC baseline: ngtcp2 (0.12) with GnuTLS, both roles, the same echo
 * RPC as every other transport. One bidirectional stream per RPC carries
 * the request (the 16-byte bench header and the payload, FIN at its end)
 * and, back, the response; the client opens as many streams as it keeps
 * RPCs outstanding. TLS 1.3 with TLS_AES_128_GCM_SHA256 only, the bench's
 * P-256 certificate checked by name ("smt-bench"), ALPN "smt-bench".
 *
 * What the stack does, so that the comparison is fair and can be checked:
 * - Congestion control: ngtcp2's CUBIC; pacing: ngtcp2's (rate cwnd /
 *   smoothed RTT * 1.25, in bursts of at most the send quantum, with the
 *   library's 1 ms slack for an event loop); loss recovery: RFC 9002 as
 *   ngtcp2 implements it (packet and time thresholds, PTO).
 * - Packets: 1472-byte UDP payloads (the veth MTU of 1500; path MTU
 *   discovery off), several small streams' frames packed into one packet
 *   (NGTCP2_WRITE_STREAM_FLAG_MORE), streams written round robin, one
 *   packet each in turn, so that a 1 MiB stream does not starve a 64 B one.
 * - Sending: a request with no other RPC in flight is flushed at once;
 *   else it waits for the event loop's next flush with whatever else was
 *   issued. Every packet a flush produces is built into one buffer, cut
 *   into UDP GSO messages (UDP_SEGMENT: runs of equal-size packets, a
 *   shorter one last) and handed to the kernel in one sendmmsg.
 * - Receiving: recvmmsg of up to QC_RX_BATCH buffers with UDP_GRO on, a
 *   coalesced buffer split at its segment size.
 * - Acknowledgements: ngtcp2's defaults (an ACK after 2 ack-eliciting
 *   packets, max_ack_delay 25 ms); ngtcp2 0.12 has no ACK_FREQUENCY.
 * - Flow control: 4 MiB per stream, 64 MiB per connection, credit given
 *   back as soon as the data is read; 1024 concurrent streams, 512 more
 *   granted (MAX_STREAMS) each time 512 have closed.
 * - Initial RTT 10 ms, not RFC 9002's 333 ms: ngtcp2 0.12 paces even the
 *   handshake at the initial RTT until it has a sample.
 * - Set-up: a full 1-RTT handshake, or (the resumption test) a session
 *   ticket with 0-RTT: the first request rides in 0-RTT packets with the
 *   Initial, the server checks it against replay (GnuTLS anti-replay with
 *   an in-memory table) and answers it with its first flight.
 * - Threads (`server --threads N`, quic_srv_open_group): N servers, one
 *   per server thread, whose UDP sockets form a reuseport group on one
 *   port. A classic BPF program steers each datagram by the first byte of
 *   its destination connection ID (modulo N), and server thread k issues
 *   only connection IDs whose first byte is k modulo N, so every packet of
 *   a connection reaches the thread that holds it (what QUIC-LB and the
 *   eBPF steering of QUIC servers do). A client's first DCID is random but
 *   for that byte, which the threads test sets to its thread's index: one
 *   connection per server thread, as the TCP and TLS connections are
 *   handed out in turn.
 */
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "bench.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define QC_NAME "smt-bench" /* the certificate's name, also the ALPN */
#define QC_PKT 1472 /* UDP payload: MTU 1500 - 20 - 8 */
#define QC_TX_PKTS 64 /* packets per flush round (one sendmmsg) */
#define QC_GSO_MAX 44 /* packets per GSO message: 44 * 1472 < 64 KiB */
#define QC_RX_BATCH 16 /* recvmmsg buffers */
#define QC_RX_BUF 65536 /* one GRO buffer */
#define QC_SCID_LEN 16
#define QC_MAX_CIDS 8
#define QC_STREAM_WIN (4u << 20)
#define QC_CONN_WIN (64u << 20)
#define QC_STREAMS 1024
#define QC_IDLE_NS (10ull * NGTCP2_SECONDS)
#define QC_OPEN_NS (5ull * NGTCP2_SECONDS) /* handshake limit (client) */
#define QC_REPLAY_SLOTS 1024
#define QC_INITIAL_RTT (10ull * NGTCP2_MILLISECONDS)

static const char qc_priority[] =
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:"
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:%DISABLE_TLS13_COMPAT_MODE";
static const gnutls_datum_t qc_alpn = {(unsigned char *)QC_NAME,
				       sizeof(QC_NAME) - 1};

/* One RPC's stream. Client: the request goes out from hdr and the shared
 * pattern; the response is checked as it arrives. Server: the request is
 * gathered in buf, the response goes out from buf. */
struct qstream {
	int64_t id; /* -1: to be opened again (0-RTT rejected) */
	struct qstream *prev, *next; /* send queue */
	struct qstream *all_prev, *all_next; /* every stream of the conn */
	bool queued, blocked, done;
	ngtcp2_vec v[2];
	size_t nv, total, off; /* bytes to send, bytes handed to ngtcp2 */
	uint8_t hdr[BENCH_HDR_LEN];
	uint64_t rpc; /* client: the RPC's id */
	size_t got; /* bytes received */
	uint32_t resp_len;
	bool bad;
	uint8_t *buf; /* server: the request, then the response */
	size_t len, cap;
};

struct quic_resume {
	gnutls_datum_t ticket; /* GnuTLS session data, malloc'd */
	ngtcp2_transport_params tp; /* the server's, for 0-RTT */
	bool have;
	uint64_t early_ok, early_rejected;
};

struct quic_server;

struct quic_conn {
	ngtcp2_conn *conn;
	ngtcp2_crypto_conn_ref ref;
	gnutls_session_t tls;
	bool server;
	int fd;
	struct sockaddr_storage local, remote;
	socklen_t local_len, remote_len;
	struct qstream *txh, *txt, *all;
	bool gso; /* UDP_SEGMENT works on fd */
	int err; /* fatal: -errno */
	struct bench_io io;
	/* server */
	struct quic_server *srv;
	struct quic_conn *next;
	ngtcp2_cid cids[QC_MAX_CIDS]; /* its SCIDs, the client's first DCID */
	int ncids;
	unsigned int cid_next;
	size_t closed; /* streams closed since the last MAX_STREAMS */
	/* client */
	resp_fn fn;
	void *ctx;
	bool want_flush, early, reopen;
	size_t waiting; /* RPCs sent and not answered */
	struct quic_resume *res;
};

struct qc_rx;

struct quic_server {
	int fd, tfd;
	struct qc_rx *rx; /* its receive buffers (one server per thread) */
	unsigned int lane, lanes; /* its place in a group (lanes > 1) */
	struct sockaddr_storage local;
	socklen_t local_len;
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t stek;
	gnutls_anti_replay_t ar;
	struct quic_conn *conns;
	uint64_t timer_at;
	bool gso;
	struct {
		uint8_t key[64];
		uint8_t len;
	} seen[QC_REPLAY_SLOTS];
	unsigned int seen_next;
};

/* Receive buffers: a server's own, and one set per client thread (the
 * threads test drives a connection per thread); send buffer per thread. */
struct qc_rx {
	struct mmsghdr msg[QC_RX_BATCH];
	struct iovec iov[QC_RX_BATCH];
	struct sockaddr_storage addr[QC_RX_BATCH];
	char cbuf[QC_RX_BATCH][CMSG_SPACE(sizeof(int))];
	uint8_t buf[QC_RX_BATCH][QC_RX_BUF];
};
static __thread struct qc_rx *rx_cli;
static __thread uint8_t tx_buf[QC_TX_PKTS * QC_PKT];
static pthread_key_t rx_key; /* frees a client thread's rx_cli at exit */
static pthread_once_t rx_once = PTHREAD_ONCE_INIT;
static const uint8_t *qpat; /* msg_fill of BENCH_MAX_MSG bytes */
static gnutls_certificate_credentials_t cli_cred;

static uint64_t ts_now(void)
{
	return now_ns();
}

static int qc_rand(void *p, size_t n)
{
	return gnutls_rnd(GNUTLS_RND_RANDOM, p, n) ? -EIO : 0;
}

static const uint8_t *pattern(void)
{
	if (!qpat) {
		struct bench_hdr h = {0};
		uint8_t *p = malloc(BENCH_MAX_MSG);

		if (!p)
			return NULL;
		msg_fill(p, BENCH_MAX_MSG, &h);
		qpat = p;
	}
	return qpat;
}

static struct qc_rx *rx_alloc(struct qc_rx **slot)
{
	if (!*slot) {
		struct qc_rx *r = calloc(1, sizeof(*r));

		if (!r)
			return NULL;
		for (int i = 0; i < QC_RX_BATCH; i++) {
			r->iov[i].iov_base = r->buf[i];
			r->iov[i].iov_len = QC_RX_BUF;
		}
		*slot = r;
	}
	return *slot;
}

static void rx_key_make(void)
{
	pthread_key_create(&rx_key, free);
}

/* This thread's client receive buffers (freed when the thread ends). */
static struct qc_rx *rx_cli_get(void)
{
	if (!rx_cli && rx_alloc(&rx_cli)) {
		pthread_once(&rx_once, rx_key_make);
		pthread_setspecific(rx_key, rx_cli);
	}
	return rx_cli;
}

/* A server in a group issues connection IDs whose first byte is its lane
 * modulo the group's size: the steering program sends them to it. */
static void cid_steer(const struct quic_server *sv, uint8_t *cid)
{
	if (sv && sv->lanes > 1)
		cid[0] = (uint8_t)(sv->lane +
				   sv->lanes * (cid[0] % (256 / sv->lanes)));
}

/* ---- streams ------------------------------------------------------------ */

static void txq_push(struct quic_conn *qc, struct qstream *s)
{
	if (s->queued)
		return;
	s->queued = true;
	s->next = NULL;
	s->prev = qc->txt;
	if (qc->txt)
		qc->txt->next = s;
	else
		qc->txh = s;
	qc->txt = s;
}

static void txq_del(struct quic_conn *qc, struct qstream *s)
{
	if (!s->queued)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		qc->txh = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		qc->txt = s->prev;
	s->queued = false;
	s->prev = s->next = NULL;
}

static struct qstream *qs_new(struct quic_conn *qc, int64_t id)
{
	struct qstream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = id;
	s->all_next = qc->all;
	if (qc->all)
		qc->all->all_prev = s;
	qc->all = s;
	return s;
}

static void qs_free(struct quic_conn *qc, struct qstream *s)
{
	txq_del(qc, s);
	if (s->all_prev)
		s->all_prev->all_next = s->all_next;
	else
		qc->all = s->all_next;
	if (s->all_next)
		s->all_next->all_prev = s->all_prev;
	free(s->buf);
	free(s);
}

/* The vectors of what s has left to hand to ngtcp2, from s->off. */
static size_t qs_vec(const struct qstream *s, ngtcp2_vec *out)
{
	size_t skip = s->off, n = 0;

	for (size_t i = 0; i < s->nv; i++) {
		if (skip >= s->v[i].len) {
			skip -= s->v[i].len;
			continue;
		}
		out[n].base = s->v[i].base + skip;
		out[n].len = s->v[i].len - skip;
		skip = 0;
		n++;
	}
	return n;
}

/* ---- sending ------------------------------------------------------------ */

/* One sendmmsg of n packets of sizes sz[] lying back to back in tx_buf:
 * runs of equal sizes (a shorter one may end a run) go out as one UDP GSO
 * message each. Packets the socket cannot take now are dropped: QUIC
 * recovers them as losses. */
static void qc_send(struct quic_conn *qc, const size_t *sz, int n)
{
	struct mmsghdr msg[QC_TX_PKTS];
	struct iovec iov[QC_TX_PKTS];
	char cbuf[QC_TX_PKTS][CMSG_SPACE(sizeof(uint16_t))];
	int ng = 0, i = 0, sent = 0, tries = 0;
	size_t off = 0;

	memset(msg, 0, sizeof(msg[0]) * n);
	while (i < n) {
		size_t seg = sz[i], len = 0;
		int k = 0;

		while (i < n && k < (qc->gso ? QC_GSO_MAX : 1) &&
		       sz[i] <= seg) {
			len += sz[i];
			k++;
			if (sz[i++] < seg)
				break; /* a shorter packet ends the run */
		}
		iov[ng].iov_base = tx_buf + off;
		iov[ng].iov_len = len;
		off += len;
		msg[ng].msg_hdr.msg_iov = &iov[ng];
		msg[ng].msg_hdr.msg_iovlen = 1;
		if (qc->server) {
			msg[ng].msg_hdr.msg_name = &qc->remote;
			msg[ng].msg_hdr.msg_namelen = qc->remote_len;
		}
		if (k > 1) {
			struct cmsghdr *c;

			msg[ng].msg_hdr.msg_control = cbuf[ng];
			msg[ng].msg_hdr.msg_controllen = sizeof(cbuf[ng]);
			c = CMSG_FIRSTHDR(&msg[ng].msg_hdr);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			*(uint16_t *)CMSG_DATA(c) = (uint16_t)seg;
		}
		qc->io.gso_sends++;
		qc->io.gso_segments += k;
		ng++;
	}
	while (sent < ng) {
		int r = sendmmsg(qc->fd, msg + sent, ng - sent, 0);

		qc->io.tx_calls++;
		if (r > 0) {
			sent += r;
			continue;
		}
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == ENOBUFS) && tries++ < 10) {
			struct pollfd p = {.fd = qc->fd, .events = POLLOUT};

			poll(&p, 1, 1);
			continue;
		}
		if (errno == EIO && qc->gso) {
			qc->gso = false; /* no GSO here: packet by packet */
			if (qc->srv)
				qc->srv->gso = false;
		}
		sent++; /* dropped */
	}
}

static int qc_fail(struct quic_conn *qc, int err)
{
	if (!qc->err)
		qc->err = err;
	return err;
}

/* Writes every packet ngtcp2 has for qc now, streams in turn; the
 * congestion window and pacing stop it. 0 or a fatal -errno. */
static int qc_flush(struct quic_conn *qc)
{
	ngtcp2_path_storage ps;
	uint64_t ts = ts_now();

	if (qc->err)
		return qc->err;
	ngtcp2_path_storage_zero(&ps);
	if (qc->reopen && ngtcp2_conn_get_handshake_completed(qc->conn)) {
		/* 0-RTT was rejected: the RPCs again, on new streams */
		qc->reopen = false;
		for (struct qstream *s = qc->all; s; s = s->all_next) {
			if (s->id >= 0)
				continue;
			if (ngtcp2_conn_open_bidi_stream(qc->conn, &s->id, s)) {
				s->id = -1;
				qc->reopen = true;
				break;
			}
			txq_push(qc, s);
		}
	}
	for (;;) {
		size_t sz[QC_TX_PKTS], quantum, max;
		int n = 0;
		size_t off = 0;

		quantum = ngtcp2_conn_get_send_quantum(qc->conn) / QC_PKT;
		max = quantum < 1	     ? 1
		      : quantum > QC_TX_PKTS ? QC_TX_PKTS
					     : quantum;
		while ((size_t)n < max) {
			struct qstream *s = qc->txh;
			ngtcp2_vec v[2];
			size_t nv = 0;
			ngtcp2_ssize nw, ndata = -1;
			ngtcp2_pkt_info pi;
			uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;

			while (s && s->blocked)
				s = s->next;
			if (s && !ngtcp2_conn_get_max_data_left(qc->conn))
				s = NULL;
			if (s) {
				nv = qs_vec(s, v);
				flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
			}
			nw = ngtcp2_conn_writev_stream(
				qc->conn, &ps.path, &pi, tx_buf + off, QC_PKT,
				&ndata, flags, s ? s->id : -1, v, nv, ts);
			if (s && ndata >= 0) {
				s->off += (size_t)ndata;
				/* FIN went with the last byte: done; else
				 * to the back of the queue (round robin) */
				txq_del(qc, s);
				if (s->off < s->total)
					txq_push(qc, s);
			}
			if (nw == NGTCP2_ERR_WRITE_MORE)
				continue;
			if (nw == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
				s->blocked = true;
				continue;
			}
			if (nw == NGTCP2_ERR_STREAM_SHUT_WR ||
			    nw == NGTCP2_ERR_STREAM_NOT_FOUND) {
				txq_del(qc, s);
				continue;
			}
			if (nw < 0) {
				fprintf(stderr, "smt-bench quic: write: %s\n",
					ngtcp2_strerror((int)nw));
				return qc_fail(qc, -EPROTO);
			}
			if (!nw)
				break;
			sz[n++] = (size_t)nw;
			off += (size_t)nw;
		}
		ngtcp2_conn_update_pkt_tx_time(qc->conn, ts);
		if (n)
			qc_send(qc, sz, n);
		if ((size_t)n < max)
			return 0;
	}
}

/* Sends CONNECTION_CLOSE (no error) once, unless closing already. */
static void qc_close_send(struct quic_conn *qc)
{
	ngtcp2_connection_close_error ce;
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	ngtcp2_ssize nw;
	size_t sz;

	if (!qc->conn || ngtcp2_conn_is_in_closing_period(qc->conn) ||
	    ngtcp2_conn_is_in_draining_period(qc->conn))
		return;
	ngtcp2_connection_close_error_default(&ce);
	if (qc->err)
		ngtcp2_connection_close_error_set_application_error(&ce, 1,
								    NULL, 0);
	ngtcp2_path_storage_zero(&ps);
	nw = ngtcp2_conn_write_connection_close(qc->conn, &ps.path, &pi, tx_buf,
						QC_PKT, &ce, ts_now());
	if (nw > 0) {
		sz = (size_t)nw;
		qc_send(qc, &sz, 1);
	}
}

/* ---- callbacks shared by both roles ------------------------------------ */

static void cb_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *rctx)
{
	(void)rctx;
	qc_rand(dest, len);
}

static int cb_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token,
		      size_t cidlen, void *user)
{
	struct quic_conn *qc = user;

	(void)conn;
	if (qc_rand(cid->data, cidlen) ||
	    qc_rand(token, NGTCP2_STATELESS_RESET_TOKENLEN))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	cid->datalen = cidlen;
	cid_steer(qc->srv, cid->data);
	if (qc->server) {
		/* when full, the oldest issued one goes (long retired) */
		if (qc->ncids < QC_MAX_CIDS)
			qc->cids[qc->ncids++] = *cid;
		else
			qc->cids[2 + qc->cid_next++ % (QC_MAX_CIDS - 2)] = *cid;
	}
	return 0;
}

static int cb_extend_stream(ngtcp2_conn *conn, int64_t id, uint64_t max,
			    void *user, void *sud)
{
	struct qstream *s = sud;

	(void)conn;
	(void)id;
	(void)max;
	(void)user;
	if (s)
		s->blocked = false;
	return 0;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct quic_conn *)ref->user_data)->conn;
}

static void qc_log(void *user, const char *fmt, ...)
{
	va_list ap;

	(void)user;
	fprintf(stderr, "%.6f ", ts_now() / 1e9);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Common ngtcp2 settings and transport parameters of both roles. */
static void qc_config(ngtcp2_settings *st, ngtcp2_transport_params *tp)
{
	ngtcp2_settings_default(st);
	if (getenv("SMT_BENCH_QUIC_LOG")) /* ngtcp2's own trace */
		st->log_printf = qc_log;
	st->initial_ts = ts_now();
	st->cc_algo = NGTCP2_CC_ALGO_CUBIC;
	st->max_tx_udp_payload_size = QC_PKT;
	st->no_tx_udp_payload_size_shaping = 1;
	st->no_pmtud = 1;
	/* ngtcp2 0.12 paces from the first packet on, at the initial RTT
	 * until it has a sample: RFC 9002's 333 ms would hold the client's
	 * Finished ~26 ms behind its Initial on a 0.1 ms path */
	st->initial_rtt = QC_INITIAL_RTT;
	st->max_window = QC_CONN_WIN;
	st->max_stream_window = QC_STREAM_WIN;
	ngtcp2_transport_params_default(tp);
	tp->initial_max_stream_data_bidi_local = QC_STREAM_WIN;
	tp->initial_max_stream_data_bidi_remote = QC_STREAM_WIN;
	tp->initial_max_data = QC_CONN_WIN;
	tp->max_idle_timeout = QC_IDLE_NS;
}

static void qc_free(struct quic_conn *qc)
{
	while (qc->all)
		qs_free(qc, qc->all);
	if (qc->conn)
		ngtcp2_conn_del(qc->conn);
	if (qc->tls)
		gnutls_deinit(qc->tls);
	free(qc);
}

/* Reads one packet into qc; 0, or -EPIPE when the connection is over. */
static int qc_read(struct quic_conn *qc, const struct sockaddr *from,
		   socklen_t from_len, const uint8_t *p, size_t len)
{
	ngtcp2_path path = {
		.local = {(struct sockaddr *)&qc->local, qc->local_len},
		.remote = {(struct sockaddr *)from, from_len},
	};
	ngtcp2_pkt_info pi = {0};
	int r;

	qc->io.rx_packets++;
	r = ngtcp2_conn_read_pkt(qc->conn, &path, &pi, p, len, ts_now());
	if (!r)
		return 0;
	if (r == NGTCP2_ERR_DRAINING || r == NGTCP2_ERR_DROP_CONN ||
	    r == NGTCP2_ERR_CLOSING)
		return qc_fail(qc, -EPIPE);
	if (r == NGTCP2_ERR_DISCARD_PKT)
		return 0;
	fprintf(stderr, "smt-bench quic: %s: read: %s%s%s\n",
		qc->server ? "server" : "client", ngtcp2_strerror(r),
		r == NGTCP2_ERR_CRYPTO ? ", TLS: " : "",
		r == NGTCP2_ERR_CRYPTO
			? gnutls_alert_get_name(
				  ngtcp2_conn_get_tls_alert(qc->conn))
			: "");
	qc_fail(qc, -EPROTO);
	qc_close_send(qc);
	return -EPROTO;
}

/* The segment size of a GRO buffer (UDP_GRO cmsg), or 0. */
static size_t gro_size(struct msghdr *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO)
			return (size_t) * (int *)CMSG_DATA(c);
	return 0;
}

/* Opens fd's GSO and GRO; returns whether GSO is usable. */
static bool sock_setup(int fd)
{
	int sz = 4 << 20, one = 1, seg = QC_PKT;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
	/* UDP_SEGMENT as a socket option probes kernel support */
	if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)))
		return false;
	seg = 0;
	setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg));
	return true;
}

/* recvmmsg on fd until it is empty; every packet (GRO buffers split)
 * goes to fn. */
static void rx_drain(int fd, struct qc_rx *r, struct bench_io *io,
		     void (*fn)(void *arg, const struct sockaddr *from,
				socklen_t flen, const uint8_t *p, size_t len),
		     void *arg)
{
	for (;;) {
		int n;

		for (int i = 0; i < QC_RX_BATCH; i++) {
			struct msghdr *m = &r->msg[i].msg_hdr;

			m->msg_name = &r->addr[i];
			m->msg_namelen = sizeof(r->addr[i]);
			m->msg_iov = &r->iov[i];
			m->msg_iovlen = 1;
			m->msg_control = r->cbuf[i];
			m->msg_controllen = sizeof(r->cbuf[i]);
			m->msg_flags = 0;
		}
		n = recvmmsg(fd, r->msg, QC_RX_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		io->rx_calls++;
		for (int i = 0; i < n; i++) {
			struct msghdr *m = &r->msg[i].msg_hdr;
			size_t len = r->msg[i].msg_len, seg = gro_size(m);

			if (!seg)
				seg = len;
			for (size_t off = 0; off < len; off += seg)
				fn(arg, m->msg_name, m->msg_namelen,
				   r->buf[i] + off,
				   len - off < seg ? len - off : seg);
		}
		if (n < QC_RX_BATCH)
			return;
	}
}

/* ---- server -------------------------------------------------------------- */

static int sv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t id,
			  uint64_t offset, const uint8_t *data, size_t len,
			  void *user, void *sud)
{
	struct quic_conn *qc = user;
	struct qstream *s = sud;
	struct bench_hdr h;

	(void)offset;
	if (!s) {
		s = qs_new(qc, id);
		if (!s || ngtcp2_conn_set_stream_user_data(conn, id, s))
			return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	ngtcp2_conn_extend_max_stream_offset(conn, id, len);
	ngtcp2_conn_extend_max_offset(conn, len);
	if (s->done)
		return 0;
	if (s->len + len > BENCH_MAX_MSG) {
		ngtcp2_conn_shutdown_stream(conn, id, 1);
		s->done = true;
		return 0;
	}
	if (s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		uint8_t *b;

		while (cap < s->len + len)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (!b)
			return NGTCP2_ERR_CALLBACK_FAILURE;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	if (!(flags & NGTCP2_STREAM_DATA_FLAG_FIN))
		return 0;
	/* The whole request: echo it (a longer response: the pattern). */
	s->done = true;
	if (!msg_hdr(s->buf, s->len, &h) || h.resp_len < BENCH_HDR_LEN ||
	    h.resp_len > BENCH_MAX_MSG) {
		ngtcp2_conn_shutdown_stream(conn, id, 1);
		return 0;
	}
	if (h.resp_len > s->len) {
		uint8_t *b = realloc(s->buf, h.resp_len);

		if (!b)
			return NGTCP2_ERR_CALLBACK_FAILURE;
		s->buf = b;
		s->cap = h.resp_len;
		msg_fill(s->buf, h.resp_len, &h);
	}
	s->v[0].base = s->buf;
	s->v[0].len = h.resp_len;
	s->nv = 1;
	s->total = h.resp_len;
	txq_push(qc, s);
	return 0;
}

static int sv_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t id,
			   uint64_t code, void *user, void *sud)
{
	struct quic_conn *qc = user;

	(void)flags;
	(void)code;
	if (sud)
		qs_free(qc, sud);
	/* more streams for the client, half the limit at a time (one
	 * MAX_STREAMS frame per 512 RPCs, not one per RPC) */
	if (ngtcp2_is_bidi_stream(id) && ++qc->closed >= QC_STREAMS / 2) {
		ngtcp2_conn_extend_max_streams_bidi(conn, qc->closed);
		qc->closed = 0;
	}
	return 0;
}

static int sv_handshake_done(ngtcp2_conn *conn, void *user)
{
	struct quic_conn *qc = user;

	(void)conn;
	/* one ticket per connection, for resumption and 0-RTT */
	return gnutls_session_ticket_send(qc->tls, 1, 0)
		       ? NGTCP2_ERR_CALLBACK_FAILURE
		       : 0;
}

/* GnuTLS anti-replay: a ClientHello's key seen before is a replay. */
static int sv_replay_add(void *arg, time_t exp, const gnutls_datum_t *key,
			 const gnutls_datum_t *data)
{
	struct quic_server *sv = arg;
	size_t n = key->size < 64 ? key->size : 64;

	(void)exp;
	(void)data;
	for (unsigned int i = 0; i < QC_REPLAY_SLOTS; i++)
		if (sv->seen[i].len == n &&
		    !memcmp(sv->seen[i].key, key->data, n))
			return GNUTLS_E_DB_ENTRY_EXISTS;
	memcpy(sv->seen[sv->seen_next].key, key->data, n);
	sv->seen[sv->seen_next].len = (uint8_t)n;
	sv->seen_next = (sv->seen_next + 1) % QC_REPLAY_SLOTS;
	return 0;
}

static const ngtcp2_callbacks sv_cbs = {
	.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb,
	.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	.handshake_completed = sv_handshake_done,
	.encrypt = ngtcp2_crypto_encrypt_cb,
	.decrypt = ngtcp2_crypto_decrypt_cb,
	.hp_mask = ngtcp2_crypto_hp_mask_cb,
	.recv_stream_data = sv_stream_data,
	.stream_close = sv_stream_close,
	.rand = cb_rand,
	.get_new_connection_id = cb_new_cid,
	.update_key = ngtcp2_crypto_update_key_cb,
	.extend_max_stream_data = cb_extend_stream,
	.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
	.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
};

static struct quic_conn *sv_new_conn(struct quic_server *sv,
				     const ngtcp2_pkt_hd *hd,
				     const struct sockaddr *from,
				     socklen_t flen)
{
	struct quic_conn *qc = calloc(1, sizeof(*qc));
	ngtcp2_settings st;
	ngtcp2_transport_params tp;
	ngtcp2_cid scid = {.datalen = QC_SCID_LEN};
	ngtcp2_path path;

	if (!qc)
		return NULL;
	qc->server = true;
	qc->srv = sv;
	qc->fd = sv->fd;
	qc->gso = sv->gso;
	qc->local = sv->local;
	qc->local_len = sv->local_len;
	memcpy(&qc->remote, from, flen);
	qc->remote_len = flen;
	qc->ref.get_conn = get_conn;
	qc->ref.user_data = qc;
	if (qc_rand(scid.data, scid.datalen))
		goto fail;
	cid_steer(sv, scid.data);
	qc_config(&st, &tp);
	tp.initial_max_streams_bidi = QC_STREAMS;
	tp.original_dcid = hd->dcid;
	tp.stateless_reset_token_present = 1;
	if (qc_rand(tp.stateless_reset_token, sizeof(tp.stateless_reset_token)))
		goto fail;
	path.local.addr = (struct sockaddr *)&qc->local;
	path.local.addrlen = qc->local_len;
	path.remote.addr = (struct sockaddr *)&qc->remote;
	path.remote.addrlen = qc->remote_len;
	path.user_data = NULL;
	if (ngtcp2_conn_server_new(&qc->conn, &hd->scid, &scid, &path,
				   hd->version, &sv_cbs, &st, &tp, NULL, qc))
		goto fail;
	qc->cids[0] = scid;
	qc->cids[1] = hd->dcid;
	qc->ncids = 2;
	if (gnutls_init(&qc->tls, GNUTLS_SERVER | GNUTLS_ENABLE_EARLY_DATA |
					  GNUTLS_NO_AUTO_SEND_TICKET |
					  GNUTLS_NO_END_OF_EARLY_DATA) ||
	    gnutls_priority_set_direct(qc->tls, qc_priority, NULL) ||
	    gnutls_session_ticket_enable_server(qc->tls, &sv->stek) ||
	    ngtcp2_crypto_gnutls_configure_server_session(qc->tls) ||
	    gnutls_credentials_set(qc->tls, GNUTLS_CRD_CERTIFICATE, sv->cred) ||
	    gnutls_alpn_set_protocols(qc->tls, &qc_alpn, 1,
				      GNUTLS_ALPN_MANDATORY))
		goto fail;
	gnutls_anti_replay_enable(qc->tls, sv->ar);
	gnutls_record_set_max_early_data_size(qc->tls, 0xffffffffu);
	gnutls_session_set_ptr(qc->tls, &qc->ref);
	ngtcp2_conn_set_tls_native_handle(qc->conn, qc->tls);
	qc->next = sv->conns;
	sv->conns = qc;
	return qc;
fail:
	qc_free(qc);
	return NULL;
}

static struct quic_conn *sv_find(struct quic_server *sv, const uint8_t *dcid,
				 size_t len)
{
	for (struct quic_conn *qc = sv->conns; qc; qc = qc->next)
		for (int i = 0; i < qc->ncids; i++)
			if (qc->cids[i].datalen == len &&
			    !memcmp(qc->cids[i].data, dcid, len))
				return qc;
	return NULL;
}

static void sv_packet(void *arg, const struct sockaddr *from, socklen_t flen,
		      const uint8_t *p, size_t len)
{
	struct quic_server *sv = arg;
	ngtcp2_version_cid vc;
	struct quic_conn *qc;

	if (ngtcp2_pkt_decode_version_cid(&vc, p, len, QC_SCID_LEN))
		return; /* not QUIC v1: dropped */
	qc = sv_find(sv, vc.dcid, vc.dcidlen);
	if (!qc) {
		ngtcp2_pkt_hd hd;

		if (ngtcp2_accept(&hd, p, len))
			return; /* no connection, not an Initial */
		qc = sv_new_conn(sv, &hd, from, flen);
		if (!qc)
			return;
	}
	if (!qc->err)
		qc_read(qc, from, flen, p, len);
}

/* Flushes every connection, frees the finished ones, sets the timer to
 * the earliest expiry. */
static void sv_service(struct quic_server *sv)
{
	struct quic_conn **pp = &sv->conns;
	uint64_t next = UINT64_MAX, now = ts_now();

	while (*pp) {
		struct quic_conn *qc = *pp;
		uint64_t exp;

		if (!qc->err && ngtcp2_conn_get_expiry(qc->conn) <= now) {
			int r = ngtcp2_conn_handle_expiry(qc->conn, now);

			if (r)
				qc_fail(qc, r == NGTCP2_ERR_IDLE_CLOSE
						    ? -ETIMEDOUT
						    : -EPROTO);
		}
		if (!qc->err)
			qc_flush(qc);
		if (qc->err) {
			*pp = qc->next;
			qc_free(qc);
			continue;
		}
		exp = ngtcp2_conn_get_expiry(qc->conn);
		if (exp < next)
			next = exp;
		pp = &qc->next;
	}
	/* Millisecond timers, as the client's poll() has (and libev's, which
	 * ngtcp2's examples use): ngtcp2 asks for a wake-up a few us after
	 * every packet (its pacing timer, which has 1 ms of slack anyway).
	 * Re-armed only when something is due earlier than the armed time:
	 * timerfd_settime is costly (on this VM most of a small RPC's
	 * server time), and expiries mostly move later. A timer that fires
	 * early finds nothing due and is armed again for what is. */
	if (next != UINT64_MAX && next < now + NGTCP2_MILLISECONDS)
		next = now + NGTCP2_MILLISECONDS;
	if (next < sv->timer_at) {
		struct itimerspec its = {0};

		its.it_value.tv_sec = (time_t)(next / 1000000000ull);
		its.it_value.tv_nsec = (long)(next % 1000000000ull);
		timerfd_settime(sv->tfd, TFD_TIMER_ABSTIME, &its, NULL);
		sv->timer_at = next;
	}
}

void quic_srv_input(struct quic_server *sv)
{
	struct bench_io io = {0};

	rx_drain(sv->fd, sv->rx, &io, sv_packet, sv);
	sv_service(sv);
}

void quic_srv_timer(struct quic_server *sv)
{
	uint64_t v;

	if (read(sv->tfd, &v, sizeof(v)) < 0) {
		/* not expired yet: nothing to read */
	}
	sv->timer_at = UINT64_MAX; /* fired: arm it for what is next */
	sv_service(sv);
}

int quic_srv_fd(const struct quic_server *sv)
{
	return sv->fd;
}

int quic_srv_timer_fd(const struct quic_server *sv)
{
	return sv->tfd;
}

/* One server: its socket at addr (joining addr's reuseport group when
 * reuse), timer, credentials, ticket key and anti-replay table. */
static int sv_open(const struct sockaddr_in *addr, const char *cert,
		   const char *key, bool reuse, struct quic_server **out,
		   char *err, size_t err_len)
{
	struct quic_server *sv = calloc(1, sizeof(*sv));
	int r, one = 1;

	if (!sv || !rx_alloc(&sv->rx) || !pattern()) {
		snprintf(err, err_len, "QUIC: out of memory");
		if (sv)
			free(sv->rx);
		free(sv);
		return -ENOMEM;
	}
	sv->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sv->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (sv->fd < 0 || sv->tfd < 0 ||
	    (reuse &&
	     setsockopt(sv->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) ||
	    bind(sv->fd, (const struct sockaddr *)addr, sizeof(*addr))) {
		r = -errno;
		snprintf(err, err_len, "QUIC: cannot bind UDP port %u: %s",
			 ntohs(addr->sin_port), strerror(-r));
		if (sv->fd >= 0)
			close(sv->fd);
		if (sv->tfd >= 0)
			close(sv->tfd);
		free(sv->rx);
		free(sv);
		return r;
	}
	sv->gso = sock_setup(sv->fd);
	sv->local_len = sizeof(sv->local);
	getsockname(sv->fd, (struct sockaddr *)&sv->local, &sv->local_len);
	r = gnutls_certificate_allocate_credentials(&sv->cred);
	if (!r)
		r = gnutls_certificate_set_x509_key_file(sv->cred, cert, key,
							 GNUTLS_X509_FMT_PEM);
	if (!r)
		r = gnutls_session_ticket_key_generate(&sv->stek);
	if (!r)
		r = gnutls_anti_replay_init(&sv->ar);
	if (r) {
		snprintf(err, err_len, "QUIC: GnuTLS: %s (%s, %s)",
			 gnutls_strerror(r), cert, key);
		return -EINVAL;
	}
	sv->timer_at = UINT64_MAX;
	sv->lanes = 1;
	gnutls_anti_replay_set_add_function(sv->ar, sv_replay_add);
	gnutls_anti_replay_set_ptr(sv->ar, sv);
	*out = sv;
	return 0;
}

int quic_srv_open(const struct sockaddr_in *addr, const char *cert,
		  const char *key, struct quic_server **out, char *err,
		  size_t err_len)
{
	return sv_open(addr, cert, key, false, out, err, err_len);
}

/* The group's steering program. The kernel runs it with the UDP payload
 * at offset 0: the destination connection ID starts at byte 6 of a long
 * header (flags, version, DCID length), at byte 1 of a short one; its
 * first byte modulo n is the member. A datagram too short to read makes
 * the program return 0 (member 0, which drops it as no QUIC). */
static int sv_steer(int fd, unsigned int n)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x80, 0, 2),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
		BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 1),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog p = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &p,
			  sizeof(p))
		       ? -errno
		       : 0;
}

int quic_srv_open_group(const struct sockaddr_in *addr, const char *cert,
			const char *key, unsigned int n,
			struct quic_server **out, char *err, size_t err_len)
{
	int r;

	if (n < 1 || n > 256) {
		snprintf(err, err_len, "QUIC: a group of %u servers", n);
		return -EINVAL;
	}
	/* members join the group in order: member i is socket i */
	for (unsigned int i = 0; i < n; i++) {
		r = sv_open(addr, cert, key, true, &out[i], err, err_len);
		if (r)
			return r;
		out[i]->lane = i;
		out[i]->lanes = n;
	}
	r = sv_steer(out[0]->fd, n);
	if (r)
		snprintf(err, err_len,
			 "QUIC: cannot attach the steering program: %s",
			 strerror(-r));
	return r;
}

/* ---- client -------------------------------------------------------------- */

static int cl_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t id,
			  uint64_t offset, const uint8_t *data, size_t len,
			  void *user, void *sud)
{
	struct quic_conn *qc = user;
	struct qstream *s = sud;

	ngtcp2_conn_extend_max_stream_offset(conn, id, len);
	ngtcp2_conn_extend_max_offset(conn, len);
	if (!s || s->done)
		return 0;
	if (bench_verify && !s->bad) {
		/* byte-exact: the request's header, then the pattern */
		for (size_t i = 0; i < len; i++) {
			uint64_t at = offset + i;
			uint8_t want = at < BENCH_HDR_LEN   ? s->hdr[at]
				       : at < BENCH_MAX_MSG ? qpat[at]
							    : 0;

			if (data[i] != want || at >= s->resp_len) {
				fprintf(stderr,
					"smt-bench quic: response to RPC %llu "
					"differs at byte %llu\n",
					(unsigned long long)s->rpc,
					(unsigned long long)at);
				s->bad = true;
				break;
			}
		}
	}
	s->got = offset + len;
	if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) {
		s->done = true;
		qc->waiting--;
		if (qc->fn)
			qc->fn(qc->ctx, s->rpc, s->bad ? 0 : s->got, 0);
	}
	return 0;
}

static int cl_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t id,
			   uint64_t code, void *user, void *sud)
{
	struct quic_conn *qc = user;
	struct qstream *s = sud;

	(void)conn;
	(void)flags;
	(void)code;
	(void)id;
	if (!s)
		return 0;
	if (!s->done) {
		qc->waiting--;
		if (qc->fn)
			qc->fn(qc->ctx, s->rpc, 0, -ECONNRESET);
	}
	qs_free(qc, s);
	return 0;
}

static int cl_handshake_done(ngtcp2_conn *conn, void *user)
{
	struct quic_conn *qc = user;

	if (!qc->early)
		return 0;
	if (gnutls_session_get_flags(qc->tls) & GNUTLS_SFLAGS_EARLY_DATA) {
		qc->res->early_ok++;
		return 0;
	}
	qc->res->early_rejected++;
	return ngtcp2_conn_early_data_rejected(conn)
		       ? NGTCP2_ERR_CALLBACK_FAILURE
		       : 0;
}

/* ngtcp2 dropped the 0-RTT streams: send their RPCs again after the
 * handshake (qc_flush). */
static int cl_early_rejected(ngtcp2_conn *conn, void *user)
{
	struct quic_conn *qc = user;

	(void)conn;
	for (struct qstream *s = qc->all; s; s = s->all_next) {
		txq_del(qc, s);
		s->id = -1;
		s->off = 0;
		s->got = 0;
		s->blocked = false;
		qc->reopen = true;
	}
	qc->want_flush = true;
	return 0;
}

/* Frees the kept session (ticket and resumption secret), wiped. */
static void ticket_wipe(struct quic_resume *res)
{
	if (res->ticket.data)
		gnutls_memset(res->ticket.data, 0, res->ticket.size);
	free(res->ticket.data);
	res->ticket.data = NULL;
	res->ticket.size = 0;
	res->have = false;
}

/* The server's session ticket: kept for the next connection. */
static int cl_ticket(gnutls_session_t tls, unsigned int htype, unsigned when,
		     unsigned int incoming, const gnutls_datum_t *msg)
{
	ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(tls);
	struct quic_conn *qc = ref->user_data;
	struct quic_resume *res = qc->res;
	const ngtcp2_transport_params *tp;
	gnutls_datum_t d;

	(void)when;
	(void)incoming;
	(void)msg;
	tp = ngtcp2_conn_get_remote_transport_params(qc->conn);
	if (htype != GNUTLS_HANDSHAKE_NEW_SESSION_TICKET || !res || !tp ||
	    gnutls_session_get_data2(tls, &d))
		return 0;
	ticket_wipe(res);
	res->ticket.data = malloc(d.size);
	if (res->ticket.data)
		memcpy(res->ticket.data, d.data, d.size);
	res->ticket.size = res->ticket.data ? d.size : 0;
	gnutls_memset(d.data, 0, d.size); /* it holds the resumption secret */
	gnutls_free(d.data);
	res->tp = *tp;
	res->tp.version_info_present = 0;
	res->have = res->ticket.size > 0;
	return 0;
}

static const ngtcp2_callbacks cl_cbs = {
	.client_initial = ngtcp2_crypto_client_initial_cb,
	.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	.handshake_completed = cl_handshake_done,
	.encrypt = ngtcp2_crypto_encrypt_cb,
	.decrypt = ngtcp2_crypto_decrypt_cb,
	.hp_mask = ngtcp2_crypto_hp_mask_cb,
	.recv_stream_data = cl_stream_data,
	.stream_close = cl_stream_close,
	.recv_retry = ngtcp2_crypto_recv_retry_cb,
	.rand = cb_rand,
	.get_new_connection_id = cb_new_cid,
	.update_key = ngtcp2_crypto_update_key_cb,
	.extend_max_stream_data = cb_extend_stream,
	.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
	.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
	.early_data_rejected = cl_early_rejected,
};

static void cl_packet(void *arg, const struct sockaddr *from, socklen_t flen,
		      const uint8_t *p, size_t len)
{
	struct quic_conn *qc = arg;

	if (!qc->err)
		qc_read(qc, from, flen, p, len);
}

/* Reads what arrived, runs due timers, sends what is due. */
static int cl_step(struct quic_conn *qc)
{
	if (!rx_cli_get())
		return -ENOMEM;
	rx_drain(qc->fd, rx_cli, &qc->io, cl_packet, qc);
	if (!qc->err && ngtcp2_conn_get_expiry(qc->conn) <= ts_now()) {
		int r = ngtcp2_conn_handle_expiry(qc->conn, ts_now());

		if (r)
			qc_fail(qc, r == NGTCP2_ERR_IDLE_CLOSE ? -ETIMEDOUT
							       : -EPROTO);
	}
	qc->want_flush = false;
	return qc_flush(qc);
}

static int cl_tls(struct quic_conn *qc, const char *ca, char *err,
		  size_t err_len)
{
	int r;

	if (!cli_cred) {
		r = gnutls_certificate_allocate_credentials(&cli_cred);
		if (!r) {
			r = gnutls_certificate_set_x509_trust_file(
				cli_cred, ca, GNUTLS_X509_FMT_PEM);
			r = r > 0 ? 0 : r ? r : GNUTLS_E_NO_CERTIFICATE_FOUND;
		}
		if (r) {
			snprintf(err, err_len, "QUIC: CA %s: %s", ca,
				 gnutls_strerror(r));
			gnutls_certificate_free_credentials(cli_cred);
			cli_cred = NULL;
			return -EINVAL;
		}
	}
	r = gnutls_init(&qc->tls, GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA |
					  GNUTLS_NO_END_OF_EARLY_DATA);
	if (!r)
		r = gnutls_priority_set_direct(qc->tls, qc_priority, NULL);
	if (!r && ngtcp2_crypto_gnutls_configure_client_session(qc->tls))
		r = GNUTLS_E_INTERNAL_ERROR;
	if (!r)
		r = gnutls_credentials_set(qc->tls, GNUTLS_CRD_CERTIFICATE,
					   cli_cred);
	if (!r)
		r = gnutls_alpn_set_protocols(qc->tls, &qc_alpn, 1,
					      GNUTLS_ALPN_MANDATORY);
	if (!r)
		r = gnutls_server_name_set(qc->tls, GNUTLS_NAME_DNS, QC_NAME,
					   strlen(QC_NAME));
	if (!r && qc->res && qc->res->have) {
		r = gnutls_session_set_data(qc->tls, qc->res->ticket.data,
					    qc->res->ticket.size);
		qc->early = !r;
		r = 0; /* a bad ticket: a full handshake */
	}
	if (r) {
		snprintf(err, err_len, "QUIC: GnuTLS set-up: %s",
			 gnutls_strerror(r));
		return -EINVAL;
	}
	/* the certificate is checked against the name, like TLS's */
	gnutls_session_set_verify_cert(qc->tls, QC_NAME, 0);
	gnutls_handshake_set_hook_function(qc->tls,
					   GNUTLS_HANDSHAKE_NEW_SESSION_TICKET,
					   GNUTLS_HOOK_POST, cl_ticket);
	gnutls_session_set_ptr(qc->tls, &qc->ref);
	return 0;
}

int quic_cli_open(struct cconn *c, const struct bench_target *t, char *err,
		  size_t err_len)
{
	struct quic_conn *qc = calloc(1, sizeof(*qc));
	struct sockaddr_in a = t->addr;
	ngtcp2_settings st;
	ngtcp2_transport_params tp;
	ngtcp2_cid dcid = {.datalen = 18}, scid = {.datalen = QC_SCID_LEN};
	ngtcp2_path path;
	uint64_t end;
	int r;

	if (!qc || !pattern()) {
		free(qc);
		snprintf(err, err_len, "QUIC: out of memory");
		return -ENOMEM;
	}
	c->q = qc;
	qc->ref.get_conn = get_conn;
	qc->ref.user_data = qc;
	qc->res = t->quic_resume;
	a.sin_port = htons(t->base_port + PORT_QUIC);
	qc->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (qc->fd < 0 || connect(qc->fd, (struct sockaddr *)&a, sizeof(a))) {
		snprintf(err, err_len, "QUIC: cannot open UDP socket: %s",
			 strerror(errno));
		return -errno;
	}
	c->fd = qc->fd;
	qc->gso = sock_setup(qc->fd);
	memcpy(&qc->remote, &a, sizeof(a));
	qc->remote_len = sizeof(a);
	qc->local_len = sizeof(qc->local);
	getsockname(qc->fd, (struct sockaddr *)&qc->local, &qc->local_len);
	r = cl_tls(qc, t->ca_file, err, err_len);
	if (r)
		return r;
	if (qc_rand(dcid.data, dcid.datalen) ||
	    qc_rand(scid.data, scid.datalen))
		return -EIO;
	if (t->quic_lane) /* the threads test: its server thread */
		dcid.data[0] = (uint8_t)(t->quic_lane - 1);
	qc_config(&st, &tp);
	path.local.addr = (struct sockaddr *)&qc->local;
	path.local.addrlen = qc->local_len;
	path.remote.addr = (struct sockaddr *)&qc->remote;
	path.remote.addrlen = qc->remote_len;
	path.user_data = NULL;
	r = ngtcp2_conn_client_new(&qc->conn, &dcid, &scid, &path,
				   NGTCP2_PROTO_VER_V1, &cl_cbs, &st, &tp, NULL,
				   qc);
	if (r) {
		snprintf(err, err_len, "QUIC: %s", ngtcp2_strerror(r));
		return -ENOMEM;
	}
	ngtcp2_conn_set_tls_native_handle(qc->conn, qc->tls);
	if (qc->early) {
		/* usable now: the first requests go as 0-RTT with the
		 * Initial (the first flush sends both) */
		ngtcp2_conn_set_early_remote_transport_params(qc->conn,
							      &qc->res->tp);
		qc->want_flush = true;
		return 0;
	}
	end = ts_now() + QC_OPEN_NS;
	r = qc_flush(qc);
	while (!r && !ngtcp2_conn_get_handshake_completed(qc->conn)) {
		struct pollfd p = {.fd = qc->fd, .events = POLLIN};
		int tmo = quic_cli_timeout_ms(c);

		if (ts_now() > end) {
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, tmo < 0 || tmo > 100 ? 100 : tmo) < 0 &&
		    errno != EINTR) {
			r = -errno;
			break;
		}
		r = cl_step(qc);
	}
	if (r) {
		snprintf(err, err_len, "QUIC handshake failed: %s",
			 r == -ETIMEDOUT ? "no answer for 5 s"
			 : r == -EPROTO	 ? "protocol or TLS error (see above)"
					 : strerror(-r));
		return r;
	}
	return 0;
}

void quic_cli_close(struct cconn *c)
{
	struct quic_conn *qc = c->q;

	if (!qc)
		return;
	qc->fn = NULL;
	if (qc->conn && qc->fd >= 0)
		qc_close_send(qc);
	if (qc->fd >= 0)
		close(qc->fd);
	qc_free(qc);
	c->q = NULL;
	c->fd = -1;
}

int quic_cli_send(struct cconn *c, uint64_t id, size_t len, size_t resp_len)
{
	struct quic_conn *qc = c->q;
	struct bench_hdr h = {.id = id, .resp_len = (uint32_t)resp_len};
	struct qstream *s;
	int64_t sid;
	int r;

	if (qc->err)
		return qc->err;
	s = qs_new(qc, -1);
	if (!s)
		return -ENOMEM;
	r = ngtcp2_conn_open_bidi_stream(qc->conn, &sid, s);
	if (r) {
		qs_free(qc, s);
		return r == NGTCP2_ERR_STREAM_ID_BLOCKED ? -EAGAIN : -EPROTO;
	}
	s->id = sid;
	s->rpc = id;
	s->resp_len = (uint32_t)resp_len;
	memcpy(s->hdr, &h, sizeof(h));
	s->v[0].base = s->hdr;
	s->v[0].len = BENCH_HDR_LEN;
	s->v[1].base = (uint8_t *)qpat + BENCH_HDR_LEN;
	s->v[1].len = len - BENCH_HDR_LEN;
	s->nv = len > BENCH_HDR_LEN ? 2 : 1;
	s->total = len;
	/* The only RPC in flight (unloaded): sent at once. With others in
	 * flight: sent by the next flush with whatever else the caller
	 * issues meanwhile (cconn_events asks for POLLOUT), several
	 * streams' frames per packet. */
	if (!qc->waiting++ && !qc->want_flush &&
	    ngtcp2_conn_get_handshake_completed(qc->conn)) {
		txq_push(qc, s);
		return qc_flush(qc);
	}
	txq_push(qc, s);
	qc->want_flush = true;
	return 0;
}

short quic_cli_events(const struct cconn *c)
{
	return c->q && c->q->want_flush ? POLLIN | POLLOUT : POLLIN;
}

int quic_cli_timeout_ms(const struct cconn *c)
{
	uint64_t exp, now;

	if (!c->q || !c->q->conn)
		return -1;
	exp = ngtcp2_conn_get_expiry(c->q->conn);
	now = ts_now();
	if (exp == UINT64_MAX)
		return -1;
	if (exp <= now)
		return 0;
	return (int)((exp - now + 999999) / 1000000);
}

int quic_cli_input(struct cconn *c, resp_fn fn, void *ctx)
{
	struct quic_conn *qc = c->q;
	int r;

	qc->fn = fn;
	qc->ctx = ctx;
	r = cl_step(qc);
	qc->fn = NULL;
	return r;
}

int quic_cli_io(const struct cconn *c, struct bench_io *io)
{
	if (!c->q)
		return -ENOTSUP;
	*io = c->q->io;
	return 0;
}

struct quic_resume *quic_resume_new(void)
{
	return calloc(1, sizeof(struct quic_resume));
}

void quic_resume_stats(const struct quic_resume *r, uint64_t *ok,
		       uint64_t *rejected)
{
	*ok = r ? r->early_ok : 0;
	*rejected = r ? r->early_rejected : 0;
}

void quic_resume_free(struct quic_resume *r)
{
	if (!r)
		return;
	ticket_wipe(r);
	free(r);
}
