// SPDX-License-Identifier: BSD-2-Clause
/*
 * Raw IP backend: SMT packets over raw IPv4 and IPv6 sockets of the SMT
 * protocol number, batched with recvmmsg/sendmmsg. A raw socket receives
 * every packet of its protocol on the host, so one socket pair per protocol
 * number is shared by all endpoints of the process and packets are handed
 * out by destination SMT port: straight to the endpoint that reads them, or
 * through a bounded queue and an eventfd to the endpoint that holds the
 * port. Packets for ports nobody here holds are counted and ignored. A port
 * is also reserved host-wide (per network namespace) with an abstract Unix
 * socket, so two processes do not pick the same port. With xsk_tx, IPv4
 * packets leave through an AF_XDP socket instead where they can
 * (xsk_tx.c); the rest still goes through the raw socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctlproto.h"
#include "endpoint.h"
#include "sockbatch.h"
#include "xsk_tx.h"

#define RAW_QUEUE_MAX 8192 /* packets queued for another endpoint */
#define RAW_EPHEMERAL_LO 49152
#define RAW_BUF_EXTRA 64 /* an IPv4 header with options */
#define RAW_PORT_BUCKETS 256 /* the ports of a process, by port % 256 */
/* Packets one call may read for other endpoints once its own budget has
 * room: the endpoint woken for the shared socket empties it (see raw_rx). */
#define RAW_DRAIN_MAX 1024

struct raw_qpkt {
	struct sockaddr_storage peer;
	int ipv4_id;
	uint32_t len;
	uint8_t data[];
};

struct raw_shared;

/* Readiness bits of raw_rx, in the order of raw_fds(). */
#define RAW_RX_V4 0x1u
#define RAW_RX_V6 0x2u
#define RAW_RX_QUEUE 0x4u /* the wake-up eventfd */
#define RAW_RX_ALL 0x7u

struct smt_raw_port {
	struct smt_bk bk; /* first: the endpoint holds &bk */
	struct raw_shared *sh;
	struct smt_raw_port *next;
	uint16_t port;
	int efd; /* wake-up for packets queued by other endpoints */
	int resv_fd; /* abstract Unix socket reserving the port */
	uint32_t bufsz;
	bool prio_tos;
	bool xsk_tx;
	struct raw_qpkt **q; /* ring of RAW_QUEUE_MAX */
	unsigned int qhead, qlen;
	struct smt_sock_batch tx4, tx6;
	struct smt_bk_stats st;
	struct smt_xsk_port xp; /* with xsk_tx: peers' routes */
};

struct raw_shared {
	struct raw_shared *next;
	uint8_t proto;
	uint8_t priority; /* of the sockets: their TOS class */
	int fd4, fd6;
	int refs;
	pthread_mutex_t lock; /* rx buffers, port table, queues */
	struct smt_raw_port *ports[RAW_PORT_BUCKETS];
	uint32_t bufsz;
	struct smt_sock_batch rx;
};

static pthread_mutex_t raw_global = PTHREAD_MUTEX_INITIALIZER;
static struct raw_shared *raw_list;

static int raw_socket(int family, uint8_t proto, uint32_t rcvbuf,
		      uint8_t priority)
{
	int fd;

	fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, proto);
	/* without CAP_NET_RAW: smtd hands one over (SCM_RIGHTS) to uids its
	 * configuration allows native IP */
	if (fd < 0 && (errno == EPERM || errno == EACCES)) {
		fd = smt_ctl_raw_socket(family, proto);
		if (fd < 0)
			return -SMT_E_NOCAP;
	}
	if (fd < 0)
		return -errno;
	smt_sock_setup(fd, family, rcvbuf, priority);
	if (family == AF_INET6) {
		int one = 1;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	return fd;
}

static void shared_put(struct raw_shared *sh)
{
	struct raw_shared **pp;

	if (--sh->refs > 0)
		return;
	for (pp = &raw_list; *pp; pp = &(*pp)->next) {
		if (*pp == sh) {
			*pp = sh->next;
			break;
		}
	}
	if (sh->fd4 >= 0)
		close(sh->fd4);
	if (sh->fd6 >= 0)
		close(sh->fd6);
	free(sh->rx.buf);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

/* Caller holds raw_global. */
static int shared_get(uint8_t proto, uint32_t bufsz, uint32_t rcvbuf,
		      uint8_t priority, struct raw_shared **out)
{
	struct raw_shared *sh;
	int err;

	for (sh = raw_list; sh; sh = sh->next) {
		if (sh->proto == proto && sh->bufsz >= bufsz) {
			sh->refs++;
			*out = sh;
			return 0;
		}
	}
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	sh->proto = proto;
	sh->priority = priority;
	sh->refs = 1;
	sh->bufsz = bufsz;
	sh->fd6 = -1;
	pthread_mutex_init(&sh->lock, NULL);
	sh->fd4 = raw_socket(AF_INET, proto, rcvbuf, priority);
	if (sh->fd4 < 0) {
		err = sh->fd4;
		goto fail;
	}
	/* IPv6 may be disabled on the host; IPv4 alone still works. */
	sh->fd6 = raw_socket(AF_INET6, proto, rcvbuf, priority);
	if (sh->fd6 == -SMT_E_NOCAP) {
		err = sh->fd6;
		sh->fd6 = -1;
		goto fail;
	}
	if (sh->fd6 < 0)
		sh->fd6 = -1;
	err = smt_batch_init(&sh->rx, bufsz);
	if (err)
		goto fail;
	sh->next = raw_list;
	raw_list = sh;
	*out = sh;
	return 0;
fail:
	sh->refs = 1;
	sh->next = NULL;
	/* not on raw_list: shared_put's unlink finds nothing */
	shared_put(sh);
	return err;
}

/* The endpoint of the process that holds port, or NULL (under sh->lock,
 * or raw_global for a port being picked). */
static struct smt_raw_port *port_find(const struct raw_shared *sh,
				      uint16_t port)
{
	struct smt_raw_port *p;

	for (p = sh->ports[port % RAW_PORT_BUCKETS]; p; p = p->next)
		if (p->port == port)
			return p;
	return NULL;
}

/* Reserves proto/port in this network namespace; fd or -errno. */
static int port_reserve(uint8_t proto, uint16_t port)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd, n;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
		     "smt-port/%u/%u", proto, port);
	len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
	if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
		n = errno;
		close(fd);
		return n == EADDRINUSE ? -SMT_E_PORT_IN_USE : -n;
	}
	return fd;
}

static int port_pick(struct smt_raw_port *p, uint16_t want)
{
	unsigned int tries;
	uint16_t r;
	int fd;

	if (want) {
		if (port_find(p->sh, want))
			return -SMT_E_PORT_IN_USE;
		fd = port_reserve(p->sh->proto, want);
		if (fd < 0)
			return fd;
		p->port = want;
		p->resv_fd = fd;
		return 0;
	}
	for (tries = 0; tries < 256; tries++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return -EIO;
		r = RAW_EPHEMERAL_LO + r % (65536 - RAW_EPHEMERAL_LO);
		if (port_find(p->sh, r))
			continue;
		fd = port_reserve(p->sh->proto, r);
		if (fd == -SMT_E_PORT_IN_USE)
			continue;
		if (fd < 0)
			return fd;
		p->port = r;
		p->resv_fd = fd;
		return 0;
	}
	return -EADDRNOTAVAIL;
}

static const struct smt_bk_ops raw_ops;

int smt_raw_open(const struct smt_bk_cfg *cfg, struct smt_bk **out)
{
	struct smt_raw_port *p;
	uint32_t bufsz;
	int err;

	if (cfg->mtu < 1280 || cfg->mtu > 65535)
		return -EINVAL;
	bufsz = cfg->mtu + RAW_BUF_EXTRA;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->bk.ops = &raw_ops;
	p->bk.sock_bits = RAW_RX_V4 | RAW_RX_V6;
	p->efd = -1;
	p->resv_fd = -1;
	p->bufsz = bufsz;
	p->prio_tos = cfg->prio_tos;
	smt_xsk_port_init(&p->xp);
	p->q = calloc(RAW_QUEUE_MAX, sizeof(*p->q));
	if (!p->q) {
		free(p);
		return -ENOMEM;
	}
	if (smt_batch_init(&p->tx4, bufsz) || smt_batch_init(&p->tx6, bufsz)) {
		err = -ENOMEM;
		goto fail_free;
	}
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		err = -errno;
		goto fail_free;
	}

	pthread_mutex_lock(&raw_global);
	err = shared_get(cfg->ipproto, bufsz, cfg->rcvbuf, cfg->priority,
			 &p->sh);
	if (err) {
		pthread_mutex_unlock(&raw_global);
		goto fail_free;
	}
	pthread_mutex_lock(&p->sh->lock);
	err = port_pick(p, cfg->port);
	if (!err) {
		p->next = p->sh->ports[p->port % RAW_PORT_BUCKETS];
		p->sh->ports[p->port % RAW_PORT_BUCKETS] = p;
	}
	pthread_mutex_unlock(&p->sh->lock);
	if (err)
		shared_put(p->sh);
	pthread_mutex_unlock(&raw_global);
	if (err)
		goto fail_free;
	if (cfg->xsk_tx) {
		p->xsk_tx = true;
		smt_xsk_get();
		if (getrandom(&p->xp.ip_id, sizeof(p->xp.ip_id), 0) < 0)
			p->xp.ip_id = (uint16_t)p->port;
	}
	p->bk.port = p->port;
	*out = &p->bk;
	return 0;

fail_free:
	if (p->efd >= 0)
		close(p->efd);
	free(p->tx4.buf);
	free(p->tx6.buf);
	free(p->q);
	free(p);
	return err;
}

static int raw_flush(struct smt_bk *b);

static void raw_close(struct smt_bk *b)
{
	struct smt_raw_port *p = (struct smt_raw_port *)b, **pp;
	struct raw_shared *sh;

	raw_flush(b);
	sh = p->sh;
	pthread_mutex_lock(&raw_global);
	pthread_mutex_lock(&sh->lock);
	for (pp = &sh->ports[p->port % RAW_PORT_BUCKETS]; *pp;
	     pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	pthread_mutex_unlock(&sh->lock);
	shared_put(sh);
	pthread_mutex_unlock(&raw_global);
	while (p->qlen) {
		free(p->q[p->qhead]);
		p->qhead = (p->qhead + 1) % RAW_QUEUE_MAX;
		p->qlen--;
	}
	close(p->efd);
	if (p->resv_fd >= 0)
		close(p->resv_fd);
	smt_xsk_port_fini(&p->xp);
	if (p->xsk_tx)
		smt_xsk_put();
	free(p->tx4.buf);
	free(p->tx6.buf);
	free(p->q);
	free(p);
}

static void raw_fds(const struct smt_bk *b, int fds[SMT_BK_FDS])
{
	const struct smt_raw_port *p = (const struct smt_raw_port *)b;

	fds[0] = p->sh->fd4;
	fds[1] = p->sh->fd6;
	fds[2] = p->efd;
	fds[3] = -1;
}

static void raw_stats(const struct smt_bk *b, struct smt_bk_stats *s)
{
	*s = ((const struct smt_raw_port *)b)->st;
}

static void port_kick(struct smt_raw_port *p)
{
	static const uint64_t one = 1;

	if (write(p->efd, &one, sizeof(one)) < 0) {
		/* counter saturated: it is readable anyway */
	}
}

static void port_enqueue(struct smt_raw_port *to, const uint8_t *smt,
			 size_t len, const struct sockaddr_storage *peer,
			 int ipv4_id)
{
	struct raw_qpkt *q;

	if (to->qlen >= RAW_QUEUE_MAX) {
		to->st.rx_queue_full++;
		return;
	}
	q = malloc(sizeof(*q) + len);
	if (!q) {
		to->st.rx_queue_full++;
		return;
	}
	q->peer = *peer;
	q->ipv4_id = ipv4_id;
	q->len = len;
	memcpy(q->data, smt, len);
	to->q[(to->qhead + to->qlen) % RAW_QUEUE_MAX] = q;
	to->qlen++;
	port_kick(to);
}

/*
 * Finds the SMT bytes of one received datagram. Raw IPv4 sockets deliver
 * the IP header (we need its ID for IPID_OFF); IPv6 ones do not.
 */
static int raw_payload(int family, uint8_t *buf, size_t len,
		       const uint8_t **smt, size_t *smt_len, int *ipv4_id)
{
	const struct iphdr *ip = (const struct iphdr *)buf;
	size_t ihl, tot;

	if (family == AF_INET6) {
		*smt = buf;
		*smt_len = len;
		*ipv4_id = -1;
		return 0;
	}
	if (len < sizeof(*ip) || ip->version != 4)
		return -1;
	ihl = (size_t)ip->ihl * 4;
	tot = ntohs(ip->tot_len);
	if (ihl < sizeof(*ip) || ihl > len)
		return -1;
	if (tot >= ihl && tot < len)
		len = tot;
	*smt = buf + ihl;
	*smt_len = len - ihl;
	*ipv4_id = ntohs(ip->id);
	return 0;
}

/* Caller holds sh->lock. Returns packets read, 0 when drained, -errno;
 * *short_read tells that the socket gave fewer than asked (it is empty:
 * asking again would only cost a system call). */
static int rx_batch(struct smt_raw_port *self, int fd, int family,
		    unsigned int max, smt_bk_rx_cb cb, void *arg,
		    unsigned int *mine, bool *short_read)
{
	struct raw_shared *sh = self->sh;
	unsigned int want = max < SMT_BATCH ? max : SMT_BATCH;
	struct smt_raw_port *to;
	int n, i, ipv4_id;
	const uint8_t *smt;
	size_t smt_len;
	uint16_t dport;

	smt_batch_prepare_rx(&sh->rx, want);
	self->st.rx_calls++;
	n = recvmmsg(fd, sh->rx.msg, want, MSG_DONTWAIT, NULL);
	smt_batch_rx_done(&sh->rx, n);
	*short_read = n < (int)want;
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
	for (i = 0; i < n; i++) {
		struct msghdr *h = &sh->rx.msg[i].msg_hdr;
		struct sockaddr_storage *peer = h->msg_name;

		if (raw_payload(family, h->msg_iov->iov_base,
				sh->rx.msg[i].msg_len, &smt, &smt_len,
				&ipv4_id) < 0 ||
		    smt_len < 4) {
			self->st.rx_bad_ip++;
			continue;
		}
		dport = (uint16_t)(smt[2] << 8 | smt[3]);
		/* the peer's SMT port goes where the IP layer has none */
		if (family == AF_INET)
			((struct sockaddr_in *)peer)->sin_port =
				htons((uint16_t)(smt[0] << 8 | smt[1]));
		else
			((struct sockaddr_in6 *)peer)->sin6_port =
				htons((uint16_t)(smt[0] << 8 | smt[1]));
		if (dport == self->port) {
			cb(arg, smt, smt_len, peer, ipv4_id);
			(*mine)++;
			continue;
		}
		to = port_find(sh, dport);
		if (to)
			port_enqueue(to, smt, smt_len, peer, ipv4_id);
		else
			self->st.rx_no_endpoint++;
	}
	return n;
}

/* One socket's turn in smt_raw_rx: reads when its bit is in *ready and
 * clears the bit once the socket is empty. */
static int rx_source(struct smt_raw_port *p, int fd, int family,
		     unsigned int bit, unsigned int *ready, unsigned int left,
		     smt_bk_rx_cb cb, void *arg, unsigned int *mine)
{
	bool empty;
	int n;

	if (fd < 0 || !(*ready & bit) || !left) {
		if (fd < 0)
			*ready &= ~bit;
		return 0;
	}
	n = rx_batch(p, fd, family, left, cb, arg, mine, &empty);
	if (empty)
		*ready &= ~bit;
	return n;
}

static int raw_rx(struct smt_bk *b, smt_bk_rx_cb cb, void *arg,
		  unsigned int budget, unsigned int *ready)
{
	struct smt_raw_port *p = (struct smt_raw_port *)b;
	struct raw_shared *sh = p->sh;
	unsigned int mine = 0, nread = 0, all = RAW_RX_ALL;
	uint64_t ev;
	int n, err = 0;

	if (!ready)
		ready = &all;
	/* clear the wake-up (only when poll saw it: reading an idle eventfd
	 * is a wasted system call); the queue below is the truth */
	if (*ready & RAW_RX_QUEUE) {
		if (read(p->efd, &ev, sizeof(ev)) < 0 && errno != EAGAIN)
			err = -errno;
		*ready &= ~RAW_RX_QUEUE;
	}
	pthread_mutex_lock(&sh->lock);
	while (p->qlen && mine < budget) {
		struct raw_qpkt *q = p->q[p->qhead];

		p->qhead = (p->qhead + 1) % RAW_QUEUE_MAX;
		p->qlen--;
		cb(arg, q->data, q->len, &q->peer, q->ipv4_id);
		free(q);
		mine++;
	}
	/*
	 * never more of our own packets than budget: each read is bounded
	 * by what is left of it. Others' packets are read until the socket
	 * is empty (up to RAW_DRAIN_MAX): a packet wakes one endpoint that
	 * waits in epoll_wait (EPOLLEXCLUSIVE), and what it left in the
	 * socket would wake nobody until the next packet arrives.
	 */
	while (mine < budget && nread < RAW_DRAIN_MAX &&
	       (*ready & (RAW_RX_V4 | RAW_RX_V6))) {
		n = rx_source(p, sh->fd4, AF_INET, RAW_RX_V4, ready,
			      budget - mine, cb, arg, &mine);
		if (n < 0) {
			err = n;
			*ready &= ~RAW_RX_V4;
		} else {
			nread += n;
		}
		n = rx_source(p, sh->fd6, AF_INET6, RAW_RX_V6, ready,
			      budget - mine, cb, arg, &mine);
		if (n < 0) {
			err = n;
			*ready &= ~RAW_RX_V6;
		} else {
			nread += n;
		}
	}
	if (p->qlen) /* left for the next call: stay readable */
		port_kick(p);
	pthread_mutex_unlock(&sh->lock);
	return err && !mine ? err : (int)mine;
}

/* Frames packet i of b for the XSK of route r; false if it cannot go. */
static bool xsk_put(struct smt_raw_port *p, struct smt_xsk *s,
		    const struct smt_xsk_route *r, struct smt_sock_batch *b,
		    unsigned int i)
{
	const struct msghdr *h = &b->msg[i].msg_hdr;
	struct smt_xsk_ip ip = {.proto = p->sh->proto, .id = p->xp.ip_id};
	size_t n = smt_batch_len(h), len;
	uint8_t *frame;

	/* the TOS the raw socket would give it */
	ip.tos = p->prio_tos ? (b->prio[i] & 7) << 5 : p->sh->priority << 5;
	if (SMT_XSK_HDRS + n > SMT_XSK_FRAME || SMT_XSK_IP_LEN + n > r->mtu)
		return false; /* the builder would refuse it */
	if (!smt_xsk_reserve(s, &frame))
		return false;
	/* the packet and its payload gathered into the UMEM frame */
	len = smt_xsk_build_framev(frame, SMT_XSK_FRAME, r, &ip, h->msg_iov,
				   h->msg_iovlen);
	if (!len) {
		smt_xsk_cancel(s);
		return false;
	}
	smt_xsk_commit(s, (uint32_t)len);
	p->xp.ip_id++;
	p->st.tx_xsk_packets++;
	p->st.tx_packets++;
	p->st.tx_bytes += n;
	return true;
}

/*
 * Sends what it can of the sorted IPv4 batch b through AF_XDP sockets (in
 * b's order, one kick per socket) and leaves the rest in b, in order, for
 * the raw socket.
 */
static void batch_xsk(struct smt_raw_port *p, struct smt_sock_batch *b)
{
	const struct smt_xsk_route *r;
	struct smt_xsk *s = NULL;
	unsigned int i, keep = 0;
	uint64_t now = smt_mono_ns();
	int ifindex = 0;

	for (i = 0; i < b->n; i++) {
		const struct sockaddr_in *sin = b->msg[i].msg_hdr.msg_name;

		r = smt_xsk_route(&p->xp, sin->sin_addr, now);
		if (r && r->ifindex != ifindex) {
			if (s) {
				smt_xsk_kick(s);
				smt_xsk_unlock(s);
			}
			ifindex = r->ifindex;
			s = smt_xsk_for(ifindex, p->sh->priority, now);
			if (s)
				smt_xsk_lock(s);
		}
		if (r && s && xsk_put(p, s, r, b, i))
			continue;
		p->st.tx_xsk_fallback++;
		b->msg[keep] = b->msg[i];
		b->prio[keep] = b->prio[i];
		keep++;
	}
	if (s) {
		smt_xsk_kick(s);
		smt_xsk_unlock(s);
	}
	b->n = keep;
}

static int batch_send(struct smt_raw_port *p, struct smt_sock_batch *b, int fd)
{
	const struct smt_batch_tx_stats st = {&p->st.tx_packets,
					      &p->st.tx_bytes, &p->st.tx_errors,
					      &p->st.tx_calls};

	smt_batch_sort(b);
	if (p->xsk_tx && b == &p->tx4)
		batch_xsk(p, b);
	else if (p->xsk_tx)
		p->st.tx_xsk_fallback += b->n; /* IPv6 */
	return smt_batch_send(b, fd, &st);
}

static int raw_flush(struct smt_bk *bk)
{
	struct smt_raw_port *p = (struct smt_raw_port *)bk;
	int e4 = 0, e6 = 0;

	if (p->tx4.n)
		e4 = batch_send(p, &p->tx4, p->sh->fd4);
	if (p->tx6.n)
		e6 = p->sh->fd6 >= 0 ? batch_send(p, &p->tx6, p->sh->fd6)
				     : -EAFNOSUPPORT;
	return e4 ? e4 : e6;
}

static struct smt_sock_batch *tx_queue(struct smt_raw_port *p,
				       const struct sockaddr_storage *peer)
{
	if (peer->ss_family == AF_INET)
		return &p->tx4;
	if (peer->ss_family == AF_INET6)
		return &p->tx6;
	return NULL;
}

/* The engine builds DATA packets in the send batch itself. */
static uint8_t *raw_tx_buf(struct smt_bk *bk,
			   const struct sockaddr_storage *peer, size_t len)
{
	struct smt_raw_port *p = (struct smt_raw_port *)bk;
	struct smt_sock_batch *b = tx_queue(p, peer);

	if (!b || len > p->bufsz - RAW_BUF_EXTRA)
		return NULL;
	if (b->n == SMT_BATCH)
		raw_flush(bk);
	return smt_batch_slot(b);
}

static int raw_txv(struct smt_bk *bk, const struct sockaddr_storage *peer,
		   const uint8_t *pkt, size_t len, const uint8_t *payload,
		   size_t plen, uint8_t prio)
{
	struct smt_raw_port *p = (struct smt_raw_port *)bk;
	struct smt_sock_batch *b = tx_queue(p, peer);
	int err = 0;

	if (len + plen > p->bufsz - RAW_BUF_EXTRA)
		return -EMSGSIZE;
	if (!b)
		return -EAFNOSUPPORT;
	if (b->n == SMT_BATCH)
		err = raw_flush(bk);
	smt_batch_addv(b, peer, false, pkt, len, payload, plen, prio,
		       p->prio_tos);
	return err;
}

static int raw_tx(struct smt_bk *bk, const struct sockaddr_storage *peer,
		  const uint8_t *pkt, size_t len, uint8_t prio)
{
	return raw_txv(bk, peer, pkt, len, NULL, 0, prio);
}

static void raw_kick(struct smt_bk *b)
{
	port_kick((struct smt_raw_port *)b);
}

static const struct smt_bk_ops raw_ops = {
	.name = "raw",
	.encap_hdr = 0,
	.fds = raw_fds,
	.shared_fds = RAW_RX_V4 | RAW_RX_V6,
	.rx = raw_rx,
	.tx = raw_tx,
	.flush = raw_flush,
	.tx_buf = raw_tx_buf,
	.txv = raw_txv,
	.kick = raw_kick,
	.stats = raw_stats,
	.close = raw_close,
};
