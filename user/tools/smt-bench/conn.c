// SPDX-License-Identifier: BSD-2-Clause
/*
 * The client's connection to the server over one transport. Opening is
 * blocking (TCP connect, TLS handshake, SMT keying); after that everything
 * is non-blocking: cconn_send() queues or sends one request, the caller
 * waits with cconn_wait() (cconn_events() on c->fd), and cconn_input() reads every response
 * that arrived and hands it to a callback. TCP and TLS keep one connection
 * and pipeline requests on it (responses come back in order); UDP sends one
 * datagram per request on a connected socket; SMT (natively on IP or over
 * UDP) sends one message per request on one session.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "bench.h"
#include "util.h"

#define BENCH_TLS_NAME "smt-bench" /* the name in the bench certificate */

bool bench_verify;

static int tcp_connect(const struct bench_target *t, uint16_t port, char *err,
		       size_t err_len)
{
	struct sockaddr_in a = t->addr;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_port = htons(port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		int e = errno;

		snprintf(err, err_len,
			 "cannot connect to the server on TCP port %u: %s "
			 "(is `smt-bench server` running in the peer "
			 "namespace?)",
			 port, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int tls_handshake(struct stream *st, SSL_CTX *ctx, char *err,
			 size_t err_len)
{
	st->ssl = SSL_new(ctx);
	if (!st->ssl || SSL_set_fd(st->ssl, st->fd) != 1 ||
	    SSL_set1_host(st->ssl, BENCH_TLS_NAME) != 1 ||
	    SSL_set_tlsext_host_name(st->ssl, BENCH_TLS_NAME) != 1) {
		snprintf(err, err_len, "cannot set up TLS: %s", tls_errstr());
		return -ENOMEM;
	}
	if (SSL_connect(st->ssl) != 1) {
		snprintf(err, err_len, "TLS handshake failed: %s",
			 tls_errstr());
		return -EPROTO;
	}
	return 0;
}

int cconn_open(struct cconn *c, enum bench_tp tp, const struct bench_target *t,
	       char *err, size_t err_len)
{
	static const uint16_t port[TP_COUNT] = {
		[TP_SMT] = PORT_SMT_KEYS, [TP_SMTU] = PORT_SMTU_KEYS,
		[TP_UDP] = PORT_UDP,	  [TP_TCP] = PORT_TCP,
		[TP_TLS] = PORT_TLS,
	};
	int ret;

	memset(c, 0, sizeof(*c));
	c->tp = tp;
	c->fd = -1;
	c->st.fd = -1;
	if (tp == TP_QUIC) {
		ret = quic_cli_open(c, t, err, err_len);
		if (ret)
			goto fail;
		c->t_ready = now_ns();
		return 0;
	}
	if (tp == TP_UDP) {
		struct sockaddr_in a = t->addr;
		int sz = 4 << 20;

		a.sin_port = htons(t->base_port + port[tp]);
		c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0 ||
		    connect(c->fd, (struct sockaddr *)&a, sizeof(a))) {
			ret = -errno;
			snprintf(err, err_len, "cannot open UDP socket: %s",
				 strerror(-ret));
			goto fail;
		}
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		c->txbuf = malloc(65536);
		c->rxbuf = malloc(65536);
		if (!c->txbuf || !c->rxbuf) {
			ret = -ENOMEM;
			goto fail;
		}
		c->t_ready = now_ns();
		return 0;
	}
	if (tp_is_smt(tp)) {
		c->txbuf = malloc(BENCH_MAX_MSG);
		if (!c->txbuf) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	if (tp_is_smt(tp) && t->via_smtd) {
		ret = smt_cli_open_smtd(c, t, err, err_len);
		if (ret)
			goto fail;
		c->t_ready = now_ns();
		return 0;
	}
	ret = tcp_connect(
		t, t->base_port + (t->mutual ? PORT_TLS_MUTUAL : port[tp]), err,
		err_len);
	if (ret < 0)
		goto fail;
	c->st.fd = ret;
	if (tp == TP_TLS || tp_is_smt(tp)) {
		ret = tls_handshake(&c->st, t->tls, err, err_len);
		if (ret)
			goto fail;
	}
	if (fcntl(c->st.fd, F_SETFL, O_NONBLOCK)) {
		ret = -errno;
		goto fail;
	}
	if (tp_is_smt(tp)) {
		ret = smt_cli_open(c, t, err, err_len);
		if (ret)
			goto fail;
	} else {
		c->fd = c->st.fd;
	}
	c->t_ready = now_ns();
	return 0;
fail:
	cconn_close(c);
	return ret;
}

/* Ends the SMT keying connection and waits (up to 1 s) until the server
 * closed its side, which it does after removing the session: the next
 * endpoint may get the same ephemeral port, and its set-up must not meet
 * the old session. */
static void keys_close(struct stream *st)
{
	uint64_t end = now_ns() + 1000000000ull;

	if (st->fd < 0)
		return;
	if (st->ssl)
		SSL_shutdown(st->ssl);
	shutdown(st->fd, SHUT_WR);
	while (!st->eof && now_ns() < end) {
		struct pollfd pfd = {.fd = st->fd, .events = POLLIN};

		if (poll(&pfd, 1, 100) < 0 || stream_read(st))
			break;
		bbuf_consume(&st->in, bbuf_len(&st->in));
	}
}

void cconn_close(struct cconn *c)
{
	quic_cli_close(c);
	if (tp_is_smt(c->tp)) {
		smt_cli_close(c);
		keys_close(&c->st);
	}
	if (c->tp == TP_UDP && c->fd >= 0)
		close(c->fd);
	stream_close(&c->st);
	free(c->txbuf);
	free(c->rxbuf);
	c->txbuf = c->rxbuf = NULL;
	c->fd = -1;
}

int cconn_send(struct cconn *c, uint64_t id, size_t len, size_t resp_len)
{
	struct bench_hdr h = {.id = id, .resp_len = (uint32_t)resp_len};
	int ret;

	switch (c->tp) {
	case TP_SMT:
	case TP_SMTU:
		return smt_cli_send(c, id, len, resp_len);
	case TP_QUIC:
		return quic_cli_send(c, id, len, resp_len);
	case TP_UDP:
		msg_fill(c->txbuf, len, &h);
		if (send(c->fd, c->txbuf, len, 0) < 0)
			return errno == ENOBUFS || errno == EAGAIN ? -EAGAIN
								   : -errno;
		return 0;
	default:
		ret = stream_put_msg(&c->st, &h, len);
		if (ret)
			return ret;
		ret = stream_flush(&c->st);
		return ret == -EAGAIN ? 0 : ret;
	}
}

short cconn_events(const struct cconn *c)
{
	if (c->tp == TP_QUIC)
		return quic_cli_events(c);
	if ((c->tp == TP_TCP || c->tp == TP_TLS) && bbuf_len(&c->st.out))
		return POLLIN | POLLOUT;
	return POLLIN;
}

int cconn_wait(const struct cconn *c, int timeout_ms)
{
	struct pollfd pfd = {.fd = c->fd, .events = cconn_events(c)};
	struct epoll_event ev;
	int ret;

	/* SMT's fd is the endpoint's epoll set: wait in it, as smt_wait()
	 * does, so that a packet on the raw sockets the endpoints of this
	 * process share wakes one of them, not all (docs/api.md). With
	 * caller_timers the wait keeps the endpoint's time, to the
	 * nanosecond (cconn_input() then runs the timers due). */
	if (tp_is_smt(c->tp)) {
		int64_t ns = timeout_ms < 0 ? -1 : timeout_ms * 1000000LL;

		if (smt_bench_caller_timers()) {
			int64_t t = smt_ep_timeout_ns(c->ep);

			if (t >= 0 && (ns < 0 || t < ns))
				ns = t;
		}
		ret = util_epoll_wait_ns(c->fd, &ev, 1, ns);
	} else
		ret = poll(&pfd, 1, timeout_ms);
	return ret < 0 && errno != EINTR ? -errno : 0;
}

int cconn_timeout_ms(const struct cconn *c)
{
	if (c->tp == TP_QUIC)
		return quic_cli_timeout_ms(c);
	return tp_is_smt(c->tp) ? smt_cli_timeout_ms(c) : -1;
}

int cconn_io(const struct cconn *c, struct bench_io *io)
{
	return c->tp == TP_QUIC ? quic_cli_io(c, io) : smt_cli_io(c, io);
}

int cconn_input(struct cconn *c, resp_fn fn, void *ctx)
{
	struct bench_hdr h;
	int ret;

	switch (c->tp) {
	case TP_SMT:
	case TP_SMTU:
		return smt_cli_input(c, fn, ctx);
	case TP_QUIC:
		return quic_cli_input(c, fn, ctx);
	case TP_UDP:
		for (;;) {
			ssize_t n = recv(c->fd, c->rxbuf, 65536, MSG_DONTWAIT);

			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			if (!msg_hdr(c->rxbuf, n, &h))
				continue;
			if (bench_verify && !msg_check(c->rxbuf, n, h.id))
				n = 0; /* counted as the wrong length */
			fn(ctx, h.id, n, 0);
		}
	default:
		ret = stream_read(&c->st);
		if (ret)
			return ret;
		for (;;) {
			const uint8_t *p;
			long len = stream_frame(&c->st, &p);

			if (len == -EAGAIN)
				break;
			if (len < 0)
				return (int)len;
			bool have = msg_hdr(p, len, &h);
			bool ok = have &&
				  (!bench_verify || msg_check(p, len, h.id));

			bbuf_consume(&c->st.in, BENCH_FRAME_LEN + len);
			/* a bad one counts as the wrong length */
			fn(ctx, have ? h.id : 0, ok ? (size_t)len : 0, 0);
		}
		if (c->st.eof)
			return -ECONNRESET;
		ret = stream_flush(&c->st);
		return ret == -EAGAIN ? 0 : ret;
	}
}
