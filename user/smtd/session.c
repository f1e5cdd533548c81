// SPDX-License-Identifier: BSD-2-Clause
/*
 * What the two ways of setting a session up (TLS in tls.c, SMT-tickets in
 * tkt.c) share: the peer smtd's numeric address, the outbound TCP socket,
 * a session's addresses and parameters from its connection and ACCEPT,
 * and the server's checks of a PROPOSE (docs/protocol.md 6.1) with the
 * admission of the session (replace rule, limits, BPF entry) that follows.
 * It calls into ctl.c's table and bpf.c, never into tls.c or tkt.c.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtd.h"

int smtd_address_parse(const char *address, uint16_t default_port,
		       struct sockaddr_storage *ss, socklen_t *sslen, char *err,
		       size_t errlen)
{
	/* numeric only: a name lookup would block the main loop, so libsmt
	 * resolves names in the application (smt_ctl_resolve) */
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST},
			*ai = NULL;
	char host[256], port[16];
	int r;

	if (smt_ctl_split_address(address, host, sizeof(host), port,
				  sizeof(port))) {
		snprintf(err, errlen,
			 "address '%s' is not host, host:port or [ipv6]:port",
			 address);
		return -EINVAL;
	}
	if (!port[0])
		snprintf(port, sizeof(port), "%u", default_port);
	r = getaddrinfo(host, port, &hints, &ai);
	if (r == EAI_NONAME) {
		snprintf(err, errlen,
			 "address '%s' is not a numeric IP address: smtd takes "
			 "addresses only (libsmt's smt_connect resolves host "
			 "names in the application first)",
			 address);
		return -EINVAL;
	}
	if (r) {
		snprintf(err, errlen, "bad address '%s': %s", address,
			 gai_strerror(r));
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int smtd_connect_socket(int family, bool tfo, char *err, size_t errlen)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0) {
		int r = -errno;

		snprintf(err, errlen, "socket: %s", strerror(-r));
		return r;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* with a cookie for the peer cached, connect() returns at once and
	 * the first send goes with the SYN; without one (the first contact,
	 * or bit 0x1 of net.ipv4.tcp_fastopen off) a normal handshake */
	if (tfo)
		setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one,
			   sizeof(one));
	return fd;
}

void smtd_tfo_count(struct smtd *d, int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (!getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) &&
	    (ti.tcpi_options & TCPI_OPT_SYN_DATA))
		d->st.tfo_syn_data++;
}

void smtd_tfo_check(const struct smtd *d)
{
	FILE *f;
	int v = -1;

	if (!d->cfg.tcp_fastopen)
		return;
	f = fopen("/proc/sys/net/ipv4/tcp_fastopen", "r");
	if (f) {
		if (fscanf(f, "%i", &v) != 1)
			v = -1;
		fclose(f);
	}
	if (v >= 0 && (v & 3) == 3)
		return;
	LOG_W("TCP Fast Open is off here (net.ipv4.tcp_fastopen = %d): "
	      "set-ups work, but each waits for the TCP handshake before "
	      "its ClientHello. Set net.ipv4.tcp_fastopen=3 "
	      "(0x1 client, 0x2 server) in this network namespace on both "
	      "hosts, or tcp_fastopen = no in [smtd] to quiet this",
	      v);
}

void smtd_addr_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

void smtd_addr_unmap_v4(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in s4 = {.sin_family = AF_INET};

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

int smtd_sock_addr(int fd, bool peer, struct sockaddr_storage *ss)
{
	socklen_t sl = sizeof(*ss);
	int r;

	memset(ss, 0, sizeof(*ss));
	r = peer ? getpeername(fd, (struct sockaddr *)ss, &sl)
		 : getsockname(fd, (struct sockaddr *)ss, &sl);
	if (!r)
		smtd_addr_unmap_v4(ss);
	return r;
}

void smtd_addr_port_str(const struct sockaddr_storage *ss, uint16_t port,
			char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	smt_ctl_addr_str(ss, a, sizeof(a));
	if (ss->ss_family == AF_INET6)
		snprintf(out, len, "[%s]:%u", a, port);
	else
		snprintf(out, len, "%s:%u", a, port);
}

void smtd_session_fill(struct smt_ctl_session *s, int fd, bool server,
		       const struct smt_params *p)
{
	smtd_sock_addr(fd, false, &s->local);
	smtd_sock_addr(fd, true, &s->peer);
	smtd_addr_set_port(&s->local, server ? p->server_port : p->client_port);
	smtd_addr_set_port(&s->peer, server ? p->client_port : p->server_port);
	s->tls_client = !server;
	s->ipproto = p->ipproto;
	s->B = p->B;
	s->epoch = p->epoch;
	s->max_msg = p->max_msg;
	s->max_pad = p->max_pad;
	s->lifetime_s = p->lifetime_s;
	s->created = time(NULL);
}

int smtd_propose_check(struct smtd *d, const char *service,
		       const struct smt_params *p, bool rekey,
		       struct smt_params *a, struct smtd_ctl_conn **srv,
		       char *why, size_t len)
{
	const struct smtd_config *c = &d->cfg;
	const struct smtd_service *svc = smtd_service_find(c, service);
	unsigned int served = smtd_ctl_served_encaps(d, service);
	const char *w;
	enum smt_encap encap;
	uint16_t port = 0;

	if (!served) {
		snprintf(why, len,
			 "service %s is not served on this host (no "
			 "application called smt_serve for it)",
			 service);
		return SMT_PREFUSE_SERVICE;
	}
	if (!p->client_port) {
		snprintf(why, len, "client SMT port 0");
		return SMT_PREFUSE_PARAMS;
	}
	if (rekey) /* the session's own encapsulation and parameters */
		return 0;
	if (smtd_encap_check(service, p->ipproto, c->ipproto,
			     svc ? svc->encaps : c->encaps, served, &encap, why,
			     len))
		return SMT_PREFUSE_PARAMS;
	*srv = smtd_ctl_server_for(d, service, encap, &port);
	if (!*srv) { /* cannot happen: served says one does */
		snprintf(why, len,
			 "service %s has no application serving it over %s",
			 service, smt_encap_name(encap));
		return SMT_PREFUSE_SERVICE;
	}
	*a = *p;
	a->type = SMT_PARAMS_ACCEPT;
	a->server_port = port;
	a->max_msg = p->max_msg < c->max_msg ? p->max_msg : c->max_msg;
	a->max_pad = p->max_pad < c->max_pad ? p->max_pad : c->max_pad;
	a->lifetime_s = p->lifetime_s < c->lifetime_s ? p->lifetime_s
						      : c->lifetime_s;
	a->hs_port = c->listen_port;
	if (smt_params_check(a->B, a->max_msg, a->max_pad, &w)) {
		snprintf(why, len, "B=%u M=%u P=%u: %s", a->B, a->max_msg,
			 a->max_pad, w);
		return SMT_PREFUSE_PARAMS;
	}
	return 0;
}

int smtd_session_admit(struct smtd *d, struct smtd_ctl_conn *srv,
		       struct smt_ctl_session *s, char *why, size_t len)
{
	struct smtd_session *old;
	char w[160];
	int err;

	/*
	 * A new set-up replaces a session with the same address and ports,
	 * whatever its service (the peer started over: its host or smtd
	 * restarted, or the close never arrived), but only from the identity
	 * that set that one up. The old one goes first, keys wiped in its
	 * application (session_del before the new session on the same
	 * connection) and out of the BPF map; the peer is not told.
	 */
	old = smtd_table_match(d, NULL, &s->local, &s->peer);
	if (old && strcmp(old->s.peer_cert, s->peer_cert)) {
		snprintf(why, len,
			 "client port %u has a session of another client "
			 "identity (certificate); use another SMT port",
			 smt_ctl_port(&s->peer));
		return SMT_PREFUSE_PARAMS;
	}
	if (old) {
		d->st.sessions_replaced++;
		smtd_table_remove(d, old, true, false,
				  "replaced by a new set-up from the same peer "
				  "address, port and identity");
	}
	s->sid = smtd_new_sid(d);
	/* the BPF entry is written now, so that the application never gets
	 * a session whose packets XDP drops */
	err = smtd_ctl_room(d, srv, w, sizeof(w));
	if (!err) {
		err = smtd_bpf_session(d, s, true, -1);
		if (err)
			snprintf(w, sizeof(w),
				 "the BPF sessions map refused the entry: %s",
				 strerror(-err));
	}
	if (!err)
		return 0;
	d->st.sessions_denied++;
	snprintf(why, len, "host cannot take a session of %s now: %s",
		 s->service, w);
	return SMT_PREFUSE_SERVICE;
}

static const char *const hm_names[HM_COUNT] = {
	"start", "tcp", "flight", "tls",   "keys",    "sent",  "recv",
	"push",	 "ack", "done",	  "hello", "checked", "epoch1"};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void smtd_mark(int64_t *mark, enum smtd_mark m)
{
	if (!mark[m])
		mark[m] = mono_us();
}

void smtd_timeline_log(const int64_t *mark, bool server, const char *peer,
		       const char *service)
{
	char line[400];
	size_t n;
	int i;

	if (smtd_log_level < LOG_DEBUG)
		return;
	n = snprintf(line, sizeof(line), "timeline %s %s %s t0=%lld",
		     server ? "server" : "client", peer,
		     *service ? service : "?", (long long)mark[HM_START]);
	for (i = 1; i < HM_COUNT && n < sizeof(line); i++)
		if (mark[i])
			n += snprintf(line + n, sizeof(line) - n, " %s=%lld",
				      hm_names[i],
				      (long long)(mark[i] - mark[HM_START]));
	LOG_D("%s", line);
}
