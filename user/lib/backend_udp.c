// SPDX-License-Identifier: BSD-2-Clause
/*
 * UDP backend: SMT over UDP (docs/protocol.md section 1.1). Each endpoint
 * has its own UDP socket per address family, bound to its SMT port (the
 * UDP port is the SMT port), so the kernel hands it exactly its own
 * datagrams: no sharing between endpoints, no capability needed. Batched
 * with recvmmsg/sendmmsg (sockbatch.c). The kernel computes the UDP
 * checksum (IPv4 and IPv6) and never fragments (IP_PMTUDISC_PROBE: DF set,
 * sizes are the endpoint's MTU, not what an ICMP message claims).
 * With the kernel's UDP offloads (on unless cfg->no_offload): a run of
 * datagrams to one peer at one priority, all of one size but a shorter
 * last, leaves as one UDP_SEGMENT (GSO) message, and the sockets set
 * UDP_GRO, so a coalesced buffer arrives in one receive and is split here
 * by its segment size. A device that cannot checksum GSO packets makes the
 * send fail with EIO: GSO is then off for the endpoint (counted), and the
 * datagrams go one by one.
 * The IPv6 socket is opened and bound with the IPv4 one (the port is the
 * endpoint's on both families), but its buffers and options are set only
 * once it carries traffic: the first IPv6 session, send or receive
 * (udp_v6_ready). A client that talks IPv4 saves five system calls before
 * its first request (docs/smtd.md "The endpoint's own set-up").
 * ICMP errors for packets sent (port or host unreachable) arrive on the
 * socket's error queue (IP_RECVERR): they are counted and remembered per
 * peer so that an RPC that times out can say why, but they end nothing
 * themselves, because anybody can forge them.
 */
#include <errno.h>
#include <time.h> /* before linux/errqueue.h */
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h> /* SOL_UDP */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <smt/wire.h>

#include "endpoint.h"
#include "rpgroup.h"
#include "sockbatch.h"

#define UDP_EPHEMERAL_LO 49152 /* as the raw backend: BPF ranges know it */
#define UDP_UNREACH_SLOTS 16 /* peers remembered with an ICMP error */
#define UDP_ERRQ_MAX 64 /* error-queue entries read per turn */
#define UDP_GSO_SEGS 64 /* the kernel's UDP_MAX_SEGMENTS */
#define UDP_GSO_BYTES 65000 /* a GSO message's payload: below 64 KiB */
#define UDP_GRO_BUF 65536 /* a coalesced receive buffer */

/* Readiness bits, in the order of udp_fds(); the error bits are set by the
 * endpoint for fds that polled EPOLLERR (bit << SMT_BK_FDS). */
#define UDP_RX_V4 0x1u
#define UDP_RX_V6 0x2u
#define UDP_RX_WAKE 0x4u
#define UDP_ERR(bit) ((bit) << SMT_BK_FDS)

struct udp_unreach {
	struct sockaddr_storage peer;
	uint64_t at; /* 0: empty */
};

/* A batch regrouped into GSO messages (segments[i] datagrams each). */
struct udp_gso {
	struct mmsghdr msg[SMT_BATCH];
	struct iovec iov[2 * SMT_BATCH]; /* each datagram's header, payload */
	unsigned int segments[SMT_BATCH];
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(uint16_t)) +
			  CMSG_SPACE(sizeof(int))];
	} ctl[SMT_BATCH];
};

struct udp_port {
	struct smt_bk bk; /* first: the endpoint holds &bk */
	int fd4, fd6, efd;
	/* we wrote efd and nobody has read it since: it is readable, a
	 * kick needs no write (others in a reuseport group may write it
	 * too; only reading it clears this) */
	bool kicked;
	bool prio_tos;
	bool gso, gro; /* the kernel's UDP offloads in use */
	bool v6_ready; /* fd6 has its buffers and options (udp_v6_ready) */
	uint32_t rcvbuf; /* socket buffer bytes asked for */
	uint8_t priority;
	struct smt_sock_batch rx, tx4, tx6;
	struct udp_gso g;
	struct smt_bk_stats st;
	struct udp_unreach unr[UDP_UNREACH_SLOTS];
	unsigned int unr_next;
	struct smt_rpg *grp; /* reuseport group, or NULL */
	unsigned int lane; /* our member index in grp */
};

static const struct smt_bk_ops udp_ops;

static uint16_t ss_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_port;
	return ((const struct sockaddr_in6 *)ss)->sin6_port;
}

/* Same family, address and port. */
static bool ss_equal(const struct sockaddr_storage *a,
		     const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family || ss_port(a) != ss_port(b))
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr,
		       sizeof(struct in6_addr));
}

/* Buffers, error queue, DF and GRO of a socket that carries traffic. */
static void udp_sock_opts(int fd, int family, uint32_t rcvbuf, uint8_t priority,
			  bool *gro)
{
	int v = 1;

	smt_sock_setup(fd, family, rcvbuf, priority);
	if (family == AF_INET) {
		setsockopt(fd, IPPROTO_IP, IP_RECVERR, &v, sizeof(v));
		v = IP_PMTUDISC_PROBE;
		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
	} else {
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &v, sizeof(v));
		v = IPV6_PMTUDISC_PROBE;
		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v));
	}
	v = 1;
	if (*gro && setsockopt(fd, SOL_UDP, UDP_GRO, &v, sizeof(v)) < 0)
		*gro = false; /* a kernel before 5.0 */
}

/* An IPv4 socket ready for traffic; an IPv6 one only IPv6-only, to be
 * bound (its options wait for udp_v6_ready). */
static int udp_socket(int family, const struct smt_bk_cfg *cfg, bool *gro)
{
	int fd, one = 1;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family == AF_INET)
		udp_sock_opts(fd, family, cfg->rcvbuf, cfg->priority, gro);
	else
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	return fd;
}

/* The IPv6 socket's buffers and options, before its first traffic. A
 * kernel without UDP_GRO on IPv6 leaves that socket without it: it then
 * receives single datagrams, which the GRO-sized buffers take as well. */
static void udp_v6_ready(struct udp_port *u)
{
	bool gro = u->gro;

	if (u->v6_ready || u->fd6 < 0)
		return;
	u->v6_ready = true;
	udp_sock_opts(u->fd6, AF_INET6, u->rcvbuf, u->priority, &gro);
}

static int udp_bind(int fd, int family, uint16_t port,
		    const struct smt_bk_cfg *cfg)
{
	struct sockaddr_storage ss = {.ss_family = (sa_family_t)family};
	socklen_t len;

	if (family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
		len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		len = sizeof(struct sockaddr_in6);
	}
	/* a group's members bind in lane order: the kernel's index of a
	 * socket in the reuseport group is its lane */
	if (cfg->group) {
		int err = smt_rpg_sock_prebind(fd);

		if (err)
			return err;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		return errno == EADDRINUSE ? -SMT_E_PORT_IN_USE : -errno;
	return cfg->group ? smt_rpg_sock_attach(cfg->group, fd) : 0;
}

static void udp_close_fds(struct udp_port *u)
{
	if (u->fd4 >= 0)
		close(u->fd4);
	if (u->fd6 >= 0)
		close(u->fd6);
	u->fd4 = u->fd6 = -1;
}

/* Opens both sockets on one port; IPv6 may be missing on the host. */
static int udp_open_port(struct udp_port *u, const struct smt_bk_cfg *cfg,
			 uint16_t port)
{
	int err;

	u->fd4 = udp_socket(AF_INET, cfg, &u->gro);
	if (u->fd4 < 0)
		return u->fd4;
	err = udp_bind(u->fd4, AF_INET, port, cfg);
	if (err)
		goto fail;
	u->fd6 = udp_socket(AF_INET6, cfg, &u->gro);
	if (u->fd6 == -EAFNOSUPPORT) {
		u->fd6 = -1;
		return 0;
	}
	if (u->fd6 < 0) {
		err = u->fd6;
		goto fail;
	}
	err = udp_bind(u->fd6, AF_INET6, port, cfg);
	if (!err)
		return 0;
fail:
	udp_close_fds(u);
	return err;
}

static int udp_pick_port(struct udp_port *u, const struct smt_bk_cfg *cfg)
{
	unsigned int tries;
	uint16_t r;
	int err;

	if (cfg->port) {
		err = udp_open_port(u, cfg, cfg->port);
		if (!err)
			u->bk.port = cfg->port;
		return err;
	}
	for (tries = 0; tries < 256; tries++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return -EIO;
		r = UDP_EPHEMERAL_LO + r % (65536 - UDP_EPHEMERAL_LO);
		err = udp_open_port(u, cfg, r);
		if (err == -SMT_E_PORT_IN_USE)
			continue;
		if (!err)
			u->bk.port = r;
		return err;
	}
	return -EADDRNOTAVAIL;
}

static void udp_free(struct udp_port *u)
{
	if (u->grp) {
		smt_rpg_leave(u->grp, u->lane);
		smt_rpg_put(u->grp);
	}
	udp_close_fds(u);
	if (u->efd >= 0)
		close(u->efd);
	smt_batch_free(&u->rx);
	smt_batch_free(&u->tx4);
	smt_batch_free(&u->tx6);
	free(u);
}

int smt_udp_open(const struct smt_bk_cfg *cfg, struct smt_bk **out)
{
	struct udp_port *u;
	int err;

	if (cfg->mtu < 1280 || cfg->mtu > 65535)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->bk.ops = &udp_ops;
	u->bk.sock_bits = UDP_RX_V4 | UDP_RX_V6;
	u->fd4 = u->fd6 = -1;
	u->prio_tos = cfg->prio_tos;
	u->rcvbuf = cfg->rcvbuf;
	u->priority = cfg->priority;
	u->gso = u->gro = !cfg->no_offload;
	u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->efd < 0) {
		err = -errno;
		goto fail;
	}
	/* a datagram holds at most the MTU's worth of SMT bytes; one byte
	 * more tells an oversized one (MSG_TRUNC) */
	err = smt_batch_init(&u->tx4, cfg->mtu);
	err = err ?: smt_batch_init(&u->tx6, cfg->mtu);
	err = err ?: udp_pick_port(u, cfg);
	/* with GRO a buffer holds up to 64 KiB of segments */
	err = err
		      ?: smt_batch_init(&u->rx,
					u->gro ? UDP_GRO_BUF : cfg->mtu + 1);
	if (err)
		goto fail;
	if (cfg->group) {
		u->grp = cfg->group;
		u->lane = cfg->lane;
		smt_rpg_get(u->grp);
		smt_rpg_join(u->grp, u->lane, u->efd);
	}
	/* a group member's socket takes packets steered to it and hands
	 * others on through the group (udp_steer): epoll says when */
	u->bk.spec_rx = !u->grp;
	u->st.udp_gso = u->gso;
	u->st.udp_gro = u->gro;
	*out = &u->bk;
	return 0;
fail:
	udp_free(u);
	return err;
}

static void udp_fds(const struct smt_bk *b, int fds[SMT_BK_FDS])
{
	const struct udp_port *u = (const struct udp_port *)b;

	fds[0] = u->fd4;
	fds[1] = u->fd6;
	fds[2] = u->efd;
	fds[3] = -1;
}

static void udp_stats(const struct smt_bk *b, struct smt_bk_stats *s)
{
	*s = ((const struct udp_port *)b)->st;
}

static void udp_kick(struct smt_bk *b)
{
	static const uint64_t one = 1;
	struct udp_port *u = (struct udp_port *)b;

	if (u->kicked)
		return;
	u->kicked = true;
	if (write(u->efd, &one, sizeof(one)) < 0) {
		/* counter saturated: it is readable anyway */
	}
}

static void unreach_note(struct udp_port *u,
			 const struct sockaddr_storage *peer)
{
	unsigned int i;

	for (i = 0; i < UDP_UNREACH_SLOTS; i++)
		if (u->unr[i].at && ss_equal(&u->unr[i].peer, peer))
			break;
	if (i == UDP_UNREACH_SLOTS) {
		i = u->unr_next;
		u->unr_next = (u->unr_next + 1) % UDP_UNREACH_SLOTS;
	}
	u->unr[i].peer = *peer;
	u->unr[i].at = smt_mono_ns();
}

static void errq_drain(struct udp_port *u, int fd);

static bool udp_unreachable(const struct smt_bk *b,
			    const struct sockaddr_storage *peer,
			    uint64_t since_ns)
{
	/* the port is not const: errors that arrived but were not read yet
	 * (the event loop had not seen EPOLLERR before the timeout) count */
	struct udp_port *u = (struct udp_port *)b;
	unsigned int i;

	if (u->fd4 >= 0)
		errq_drain(u, u->fd4);
	if (u->fd6 >= 0)
		errq_drain(u, u->fd6);

	for (i = 0; i < UDP_UNREACH_SLOTS; i++)
		if (u->unr[i].at && u->unr[i].at >= since_ns &&
		    ss_equal(&u->unr[i].peer, peer))
			return true;
	return false;
}

/*
 * Reads the socket's error queue: each entry is an ICMP error about a
 * datagram we sent, msg_name its destination (the peer).
 */
static void errq_drain(struct udp_port *u, int fd)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(struct sock_extended_err) +
				     sizeof(struct sockaddr_in6))];
	} ctl;
	struct sockaddr_storage peer;
	uint8_t data[64];
	struct iovec iov = {data, sizeof(data)};
	unsigned int i;

	for (i = 0; i < UDP_ERRQ_MAX; i++) {
		struct msghdr h = {.msg_name = &peer,
				   .msg_namelen = sizeof(peer),
				   .msg_iov = &iov,
				   .msg_iovlen = 1,
				   .msg_control = ctl.b,
				   .msg_controllen = sizeof(ctl.b)};
		const struct sock_extended_err *ee = NULL;
		struct cmsghdr *c;

		memset(&peer, 0, sizeof(peer));
		if (recvmsg(fd, &h, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			return;
		for (c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c))
			if ((c->cmsg_level == IPPROTO_IP &&
			     c->cmsg_type == IP_RECVERR) ||
			    (c->cmsg_level == IPPROTO_IPV6 &&
			     c->cmsg_type == IPV6_RECVERR))
				ee = (const struct sock_extended_err *)
					CMSG_DATA(c);
		if (!ee || (ee->ee_origin != SO_EE_ORIGIN_ICMP &&
			    ee->ee_origin != SO_EE_ORIGIN_ICMP6))
			continue;
		u->st.rx_icmp_errors++;
		if (h.msg_namelen && peer.ss_family)
			unreach_note(u, &peer);
	}
}

/* recvmmsg reports a pending ICMP error (sk_err) as one of these. */
static bool icmp_errno(int e)
{
	return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH ||
	       e == EHOSTDOWN || e == EPROTO || e == EMSGSIZE ||
	       e == ENOPROTOOPT;
}

/*
 * A group member steers each datagram again (the kernel program saw only
 * the first datagram of a coalesced buffer): what belongs to another
 * member goes to its queue. True when the datagram is ours too.
 */
static bool udp_steer(struct udp_port *u, const uint8_t *smt, size_t len,
		      const struct sockaddr_storage *peer)
{
	unsigned int to[SMT_ACK_MAX], n, i;
	bool ours = false;

	n = smt_rpg_targets(u->grp, smt, len, to);
	if (!n)
		return true; /* not SMT: the engine drops and counts it */
	for (i = 0; i < n; i++)
		ours |= to[i] == u->lane;
	for (i = 0; i < n; i++) {
		if (to[i] == u->lane)
			continue;
		if (ours) /* an ACK that names others' messages too */
			u->st.rx_ack_copies +=
				smt_rpg_forward(u->grp, to[i], smt, len, peer);
		else if (smt_rpg_forward(u->grp, to[i], smt, len, peer))
			u->st.rx_steered_out++;
		else
			u->st.rx_steer_drops++;
	}
	return ours;
}

/* A datagram another member steered to us. */
struct udp_fwd_ctx {
	struct udp_port *u;
	smt_bk_rx_cb cb;
	void *arg;
};

static void udp_fwd_in(void *arg, const uint8_t *smt, size_t len,
		       const struct sockaddr_storage *peer)
{
	struct udp_fwd_ctx *c = arg;

	c->u->st.rx_steered_in++;
	c->cb(c->arg, smt, len, peer, -1);
}

/* Hands one datagram (one segment of a coalesced buffer) on. */
static void rx_one(struct udp_port *u, const uint8_t *smt, size_t len,
		   const struct sockaddr_storage *peer, smt_bk_rx_cb cb,
		   void *arg)
{
	/* protocol.md 1.1: the UDP ports are the SMT ports. Shorter than a
	 * header: the engine counts short_header first. */
	if (len >= SMT_HDR_LEN &&
	    ((uint16_t)(smt[0] << 8 | smt[1]) != ntohs(ss_port(peer)) ||
	     (uint16_t)(smt[2] << 8 | smt[3]) != u->bk.port)) {
		u->st.rx_port_mismatch++;
		return;
	}
	if (u->grp && !udp_steer(u, smt, len, peer))
		return;
	cb(arg, smt, len, peer, -1);
}

/* The segment size of a GRO buffer (UDP_GRO cmsg), 0 for a datagram. */
static size_t gro_size(struct msghdr *h)
{
	struct cmsghdr *c;
	int v;

	for (c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			return v > 0 ? (size_t)v : 0;
		}
	return 0;
}

/* Reads up to max buffers from fd and hands the SMT datagrams on (a GRO
 * buffer is split into its segments). Returns datagrams handed, 0 when
 * empty, -errno; *empty when fewer buffers came than asked for. */
static int rx_batch(struct udp_port *u, int fd, unsigned int max,
		    smt_bk_rx_cb cb, void *arg, bool *empty)
{
	unsigned int want = max < SMT_BATCH ? max : SMT_BATCH, got = 0;
	int n, i, tries = 0;

again:
	smt_batch_prepare_rx(&u->rx, want);
	u->st.rx_calls++;
	n = recvmmsg(fd, u->rx.msg, want, MSG_DONTWAIT, NULL);
	smt_batch_rx_done(&u->rx, n);
	*empty = n < (int)want;
	if (n < 0) {
		if (icmp_errno(errno) && tries++ < 2) {
			errq_drain(u, fd);
			goto again;
		}
		return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
	}
	for (i = 0; i < n; i++) {
		struct msghdr *h = &u->rx.msg[i].msg_hdr;
		const struct sockaddr_storage *peer = h->msg_name;
		const uint8_t *smt = h->msg_iov->iov_base;
		size_t len = u->rx.msg[i].msg_len, seg = gro_size(h), off;

		if (h->msg_flags & MSG_TRUNC) { /* larger than our buffer */
			u->st.rx_bad_ip++;
			continue;
		}
		if (!seg || seg >= len) {
			rx_one(u, smt, len, peer, cb, arg);
			got++;
			continue;
		}
		u->st.rx_gro_bufs++;
		for (off = 0; off < len; off += seg, got++) {
			rx_one(u, smt + off, len - off < seg ? len - off : seg,
			       peer, cb, arg);
			u->st.rx_gro_segments++;
		}
	}
	return (int)got;
}

static int udp_rx(struct smt_bk *b, smt_bk_rx_cb cb, void *arg,
		  unsigned int budget, unsigned int *ready)
{
	static const unsigned int bits[2] = {UDP_RX_V4, UDP_RX_V6};
	struct udp_port *u = (struct udp_port *)b;
	int fds[2] = {u->fd4, u->fd6};
	unsigned int got = 0, all = UDP_RX_V4 | UDP_RX_V6 | UDP_RX_WAKE, i;
	uint64_t ev;
	bool empty;
	int n, err = 0;

	if (!ready)
		ready = &all;
	if (*ready & UDP_RX_WAKE) {
		u->kicked = false;
		if (read(u->efd, &ev, sizeof(ev)) < 0 && errno != EAGAIN)
			err = -errno;
		*ready &= ~UDP_RX_WAKE;
		if (u->grp) {
			struct udp_fwd_ctx c = {u, cb, arg};

			got += smt_rpg_drain(u->grp, u->lane, udp_fwd_in, &c);
		}
	}
	for (i = 0; i < 2; i++) {
		if (fds[i] >= 0 && (*ready & UDP_ERR(bits[i])))
			errq_drain(u, fds[i]);
		*ready &= ~UDP_ERR(bits[i]);
	}
	while (got < budget && (*ready & (UDP_RX_V4 | UDP_RX_V6))) {
		for (i = 0; i < 2; i++) {
			if (fds[i] < 0 || !(*ready & bits[i]) ||
			    got >= budget) {
				if (fds[i] < 0)
					*ready &= ~bits[i];
				continue;
			}
			if (i == 1)
				udp_v6_ready(u);
			n = rx_batch(u, fds[i], budget - got, cb, arg, &empty);
			if (n < 0) {
				err = n;
				empty = true;
			} else {
				got += (unsigned int)n;
			}
			if (empty)
				*ready &= ~bits[i];
		}
	}
	return err && !got ? err : (int)got;
}

/* Appends datagram h's iovecs at g->iov[at]; returns how many. */
static unsigned int gso_iov(struct udp_gso *g, unsigned int at,
			    const struct msghdr *h)
{
	unsigned int i;

	for (i = 0; i < h->msg_iovlen; i++)
		g->iov[at + i] = h->msg_iov[i];
	return i;
}

/*
 * Groups the sorted batch q from datagram `from` on into GSO messages in
 * u->g: a run of datagrams to one peer at one priority, all of the run's
 * first size but a shorter last one, at most UDP_GSO_SEGS and
 * UDP_GSO_BYTES, is one message with a UDP_SEGMENT cmsg (without GSO,
 * every datagram is a message of its own). Returns the message count.
 */
static unsigned int gso_group(struct udp_port *u, struct smt_sock_batch *q,
			      unsigned int from)
{
	struct udp_gso *g = &u->g;
	unsigned int i = from, j, k = 0, nv = 0;

	while (i < q->n) {
		const struct msghdr *h = &q->msg[i].msg_hdr;
		size_t size = smt_batch_len(h), total = size;
		struct msghdr *m = &g->msg[k].msg_hdr;
		struct iovec *v = &g->iov[nv];
		struct cmsghdr *c;
		size_t clen = 0;

		/* a datagram's pieces (header, payload) go in a row: the
		 * kernel cuts the concatenation into size-byte segments */
		nv += gso_iov(g, nv, h);
		for (j = i + 1; u->gso && j < q->n && j - i < UDP_GSO_SEGS;
		     j++) {
			const struct msghdr *hj = &q->msg[j].msg_hdr;
			size_t len = smt_batch_len(hj);

			if (q->prio[j] != q->prio[i] || len > size ||
			    total + len > UDP_GSO_BYTES ||
			    !ss_equal(hj->msg_name, h->msg_name))
				break;
			nv += gso_iov(g, nv, hj);
			total += len;
			if (len < size) { /* a shorter one ends the run */
				j++;
				break;
			}
		}
		memset(m, 0, sizeof(*m));
		m->msg_name = h->msg_name;
		m->msg_namelen = h->msg_namelen;
		m->msg_iov = v;
		m->msg_iovlen = (size_t)(&g->iov[nv] - v);
		m->msg_control = g->ctl[k].b;
		m->msg_controllen = sizeof(g->ctl[k].b);
		c = CMSG_FIRSTHDR(m);
		if (j - i > 1) {
			uint16_t seg = (uint16_t)size;

			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(seg));
			memcpy(CMSG_DATA(c), &seg, sizeof(seg));
			clen += CMSG_SPACE(sizeof(seg));
			c = CMSG_NXTHDR(m, c);
		}
		if (u->prio_tos) {
			int tos = (q->prio[i] & 7) << 5;
			bool v4 = ((const struct sockaddr *)h->msg_name)
					  ->sa_family == AF_INET;

			c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
			c->cmsg_type = v4 ? IP_TOS : IPV6_TCLASS;
			c->cmsg_len = CMSG_LEN(sizeof(tos));
			memcpy(CMSG_DATA(c), &tos, sizeof(tos));
			clen += CMSG_SPACE(sizeof(tos));
		}
		m->msg_controllen = clen;
		if (!clen)
			m->msg_control = NULL;
		g->segments[k++] = j - i;
		i = j;
	}
	return k;
}

/* Sends the sorted batch q on fd, in GSO messages where it can; empties
 * q. 0 or the last -errno. */
static int gso_send(struct udp_port *u, struct smt_sock_batch *q, int fd)
{
	struct udp_gso *g = &u->g;
	unsigned int from = 0, k, done, m, s;
	int n, err = 0;

	while (from < q->n) {
		k = gso_group(u, q, from);
		u->st.tx_calls++;
		n = sendmmsg(fd, g->msg, k, 0);
		if (n < 0 && errno == EINTR)
			continue;
		done = n > 0 ? (unsigned int)n : 0;
		for (m = 0; m < done; m++) {
			s = g->segments[m];
			from += s;
			u->st.tx_packets += s;
			u->st.tx_bytes += g->msg[m].msg_len;
			if (s > 1) {
				u->st.tx_gso_sends++;
				u->st.tx_gso_segments += s;
			}
		}
		if (n >= 0 && done == k)
			continue;
		if (n >= 0) /* stopped at message `done`: ask why */
			continue;
		/* message 0 failed. EIO: the route's device cannot checksum
		 * GSO packets; send one by one from now on and retry. */
		if (errno == EIO && u->gso && g->segments[0] > 1) {
			u->gso = false;
			u->st.udp_gso = 0;
			u->st.tx_gso_fallback++;
			continue;
		}
		err = -errno;
		u->st.tx_errors += g->segments[0];
		from += g->segments[0];
	}
	q->n = 0;
	return err;
}

static int udp_flush(struct smt_bk *b)
{
	struct udp_port *u = (struct udp_port *)b;
	int e4 = 0, e6 = 0;

	if (u->tx4.n) {
		smt_batch_sort(&u->tx4);
		e4 = gso_send(u, &u->tx4, u->fd4);
	}
	if (u->tx6.n) {
		udp_v6_ready(u);
		smt_batch_sort(&u->tx6);
		e6 = u->fd6 >= 0 ? gso_send(u, &u->tx6, u->fd6) : -EAFNOSUPPORT;
		u->tx6.n = 0;
	}
	return e4 ? e4 : e6;
}

static struct smt_sock_batch *tx_queue(struct udp_port *u,
				       const struct sockaddr_storage *peer)
{
	if (peer->ss_family == AF_INET)
		return &u->tx4;
	if (peer->ss_family == AF_INET6)
		return &u->tx6;
	return NULL;
}

/* The engine builds DATA packets in the send batch itself. */
static uint8_t *udp_tx_buf(struct smt_bk *b,
			   const struct sockaddr_storage *peer, size_t len)
{
	struct udp_port *u = (struct udp_port *)b;
	struct smt_sock_batch *q = tx_queue(u, peer);

	if (!q || len > q->bufsz)
		return NULL;
	if (q->n == SMT_BATCH)
		udp_flush(b);
	return smt_batch_slot(q);
}

static int udp_txv(struct smt_bk *b, const struct sockaddr_storage *peer,
		   const uint8_t *pkt, size_t len, const uint8_t *payload,
		   size_t plen, uint8_t prio)
{
	struct udp_port *u = (struct udp_port *)b;
	struct smt_sock_batch *q = tx_queue(u, peer);
	int err = 0;

	if (!q)
		return -EAFNOSUPPORT;
	if (len + plen > q->bufsz)
		return -EMSGSIZE;
	if (q->n == SMT_BATCH)
		err = udp_flush(b);
	/* the peer's SMT port is its UDP port */
	smt_batch_addv(q, peer, true, pkt, len, payload, plen, prio,
		       u->prio_tos);
	return err;
}

static int udp_tx(struct smt_bk *b, const struct sockaddr_storage *peer,
		  const uint8_t *pkt, size_t len, uint8_t prio)
{
	return udp_txv(b, peer, pkt, len, NULL, 0, prio);
}

static void udp_peer_added(struct smt_bk *b,
			   const struct sockaddr_storage *peer)
{
	if (peer->ss_family == AF_INET6)
		udp_v6_ready((struct udp_port *)b);
}

static void udp_close(struct smt_bk *b)
{
	udp_flush(b);
	udp_free((struct udp_port *)b);
}

static const struct smt_bk_ops udp_ops = {
	.name = "udp",
	.encap_hdr = SMT_UDP_HDR_LEN,
	.fds = udp_fds,
	.rx = udp_rx,
	.tx = udp_tx,
	.flush = udp_flush,
	.tx_buf = udp_tx_buf,
	.txv = udp_txv,
	.kick = udp_kick,
	.stats = udp_stats,
	.unreachable = udp_unreachable,
	.peer_added = udp_peer_added,
	.close = udp_close,
};
