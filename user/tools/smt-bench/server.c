// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-bench server: one thread, one epoll loop, serving the echo RPC on
 * every transport at once (UDP, TCP, TLS 1.3 over TCP, SMT natively on IP
 * and SMT over UDP, each SMT on an endpoint of its own), plus the TLS
 * listeners that key SMT sessions and a line-based control port the
 * client asks for the server's CPU time. Only one benchmark runs at a time,
 * so the CPU the process used between two control queries is the server's
 * cost of that run.
 *
 * A request's header names the size of its response: the server echoes the
 * request's bytes when the response is not longer, else fills the pattern.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
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

enum sconn_kind { SK_LISTEN, SK_CTL, SK_TCP, SK_TLS, SK_KEYS, SK_UDP, SK_SMT };

struct sconn {
	enum sconn_kind kind;
	enum sconn_kind listen_for; /* SK_LISTEN: what accepted sockets are */
	bool udp; /* SK_KEYS, SK_SMT and their listener: SMT over UDP */
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
	struct smt_endpoint *ep, *ep_udp; /* SMT natively on IP, over UDP */
	int udp;
	uint8_t udp_buf[65536], udp_tx[65536];
	bool quit;
	bool verbose;
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

static void sconn_free(struct server *s, struct sconn *c)
{
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->st.fd, NULL);
	if (c->kind == SK_KEYS && c->keyed)
		smt_srv_drop(c->udp ? s->ep_udp : s->ep, c->sess, c);
	stream_close(&c->st);
	free(c);
}

static void do_accept(struct server *s, struct sconn *l)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
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
		c->st.fd = fd;
		c->peer = peer;
		if (c->kind == SK_TLS || c->kind == SK_KEYS) {
			c->st.ssl = SSL_new(s->tls);
			if (!c->st.ssl || SSL_set_fd(c->st.ssl, fd) != 1) {
				stream_close(&c->st);
				free(c);
				continue;
			}
			SSL_set_accept_state(c->st.ssl);
			c->handshaking = true;
		}
		if (watch(s, fd, c, EPOLLIN)) {
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

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smt-bench server --cert FILE --key FILE [--addr A]\n"
		"                        [--no-smt] [--encap ip|udp|ip,udp] [--ktls]\n"
		"                        [--smt-opt K=V]... [--smtd-service NAME]\n"
		"                        [--smtd-service-udp NAME]\n"
		"Serves the echo RPC on UDP (P+1), TCP (P+2), TLS 1.3 (P+3),\n"
		"SMT keying over TLS (P+4), SMT natively on IP (SMT port P+5),\n"
		"SMT-over-UDP keying over TLS (P+6), SMT over UDP (UDP port P+7)\n"
		"and a control port (P), with P = %d. --encap picks the SMT\n"
		"endpoints (default both).\n",
		BENCH_BASE_PORT);
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
		{"help", no_argument, NULL, 'h'},
		{}};
	const char *cert = NULL, *key = NULL, *addr = "0.0.0.0";
	const char *service = NULL, *service_udp = NULL;
	struct sockaddr_in a = {.sin_family = AF_INET};
	/* listeners: port offset, kind, SMT over UDP */
	static const struct {
		uint16_t off;
		enum sconn_kind kind;
		bool udp;
	} lk[] = {
		{PORT_CTL, SK_CTL, false},
		{PORT_UDP, SK_UDP, false},
		{PORT_TCP, SK_TCP, false},
		{PORT_TLS, SK_TLS, false},
		{PORT_SMT_KEYS, SK_KEYS, false},
		{PORT_SMTU_KEYS, SK_KEYS, true},
	};
	bool use_smt = bench_have_smt, ktls = false;
	bool encaps[TP_COUNT] = {[TP_SMT] = true, [TP_SMTU] = true};
	struct server *s;
	char err[256];
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
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
					"max_granted, mtu, busy_poll_us or "
					"xsk_tx =NUMBER, or encap=LIST\n",
					optarg);
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
	if (!cert || !key) {
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
	if (!s->tls) {
		fprintf(stderr, "smt-bench server: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < sizeof(lk) / sizeof(lk[0]); i++) {
		struct sconn *l;
		int fd;

		if (lk[i].kind == SK_KEYS &&
		    (!use_smt || !encaps[lk[i].udp ? TP_SMTU : TP_SMT]))
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
		l->st.fd = fd;
		if (lk[i].kind == SK_UDP) {
			int sz = 4 << 20;

			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
			s->udp = fd;
		}
		watch(s, fd, l, EPOLLIN);
	}
	for (int u = 0; use_smt && u < 2; u++) {
		struct smt_endpoint **ep = u ? &s->ep_udp : &s->ep;
		const char *svc = u ? service_udp : service;
		struct sconn *l;

		if (!encaps[u ? TP_SMTU : TP_SMT])
			continue;
		l = calloc(1, sizeof(*l));
		if (!l ||
		    smt_srv_open(BENCH_BASE_PORT + (u ? PORT_SMTU : PORT_SMT),
				 u, ep, err, sizeof(err))) {
			fprintf(stderr, "smt-bench server: %s\n", err);
			return 1;
		}
		if (svc && smt_srv_serve(*ep, svc, err, sizeof(err))) {
			fprintf(stderr, "smt-bench server: %s\n", err);
			return 1;
		}
		l->kind = SK_SMT;
		l->udp = u;
		l->st.fd = smt_ep_fd(*ep);
		watch(s, l->st.fd, l, EPOLLIN);
	}
	fprintf(stderr, "smt-bench server: serving on %s ports %d..%d%s%s%s\n",
		addr, BENCH_BASE_PORT, BENCH_BASE_PORT + PORT_SMTU,
		use_smt ? "" : " (without SMT)",
		use_smt && !encaps[TP_SMT] ? " (no SMT natively on IP)" : "",
		use_smt && !encaps[TP_SMTU] ? " (no SMT over UDP)" : "");
	while (!s->quit) {
		struct epoll_event ev[64];
		int n = epoll_wait(s->epfd, ev, 64, -1);

		if (n < 0 && errno != EINTR) {
			perror("smt-bench server: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct sconn *c = ev[i].data.ptr;

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
			default:
				handle_stream(s, c, ev[i].events);
			}
		}
	}
	return 0;
}
