// SPDX-License-Identifier: BSD-2-Clause
/*
 * AF_XDP transmit path of the raw IP backend (see xsk_tx.h): the frame
 * builder, the route and neighbour look-up over rtnetlink with its per-port
 * cache, and the process-wide AF_XDP sockets (copy mode, TX and completion
 * rings only) driven through the kernel's AF_XDP interface directly, so
 * libsmt needs no extra library and loads no XDP program.
 */
#include <errno.h>
#include <net/if_arp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_xdp.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "xsk_tx.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define XSK_NFRAMES 1024 /* UMEM frames = TX ring = completion ring */
#define XSK_FILL_SIZE 64 /* the kernel wants a fill ring; never used */
#define XSK_KICKS 16 /* sendto calls per kick (32 frames each, copy mode) */
#define XSK_RETRY_NS 1000000000ull /* failed socket, fresh route: 1 s */
#define XSK_NEIGH_RETRY_NS 1000000ull /* unresolved neighbour: 1 ms */
#define NL_BUF 8192

/* ---- frames ---------------------------------------------------------- */

uint16_t smt_xsk_ip_csum(const void *hdr, size_t hlen)
{
	const uint8_t *b = hdr;
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < hlen; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (hlen & 1)
		sum += (uint32_t)b[hlen - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

size_t smt_xsk_build_frame(uint8_t *frame, size_t room,
			   const struct smt_xsk_route *r,
			   const struct smt_xsk_ip *ip, const uint8_t *pkt,
			   size_t len)
{
	struct iovec v = {.iov_base = (void *)pkt, .iov_len = len};

	return smt_xsk_build_framev(frame, room, r, ip, &v, 1);
}

size_t smt_xsk_build_framev(uint8_t *frame, size_t room,
			    const struct smt_xsk_route *r,
			    const struct smt_xsk_ip *ip, const struct iovec *pv,
			    size_t n)
{
	uint8_t *h = frame + SMT_XSK_ETH_LEN, *d;
	size_t tot = SMT_XSK_IP_LEN, i;
	uint16_t v;

	for (i = 0; i < n; i++)
		tot += pv[i].iov_len;
	if (SMT_XSK_ETH_LEN + tot > room || tot > r->mtu || tot > 0xffff)
		return 0;
	memcpy(frame, r->dmac, 6);
	memcpy(frame + 6, r->smac, 6);
	frame[12] = 0x08; /* ETH_P_IP */
	frame[13] = 0x00;
	h[0] = 0x45; /* version 4, 5 words */
	h[1] = ip->tos;
	h[2] = (uint8_t)(tot >> 8);
	h[3] = (uint8_t)tot;
	h[4] = (uint8_t)(ip->id >> 8);
	h[5] = (uint8_t)ip->id;
	h[6] = 0x40; /* DF, offset 0 */
	h[7] = 0;
	h[8] = 64; /* TTL */
	h[9] = ip->proto;
	h[10] = h[11] = 0;
	memcpy(h + 12, &r->src, 4);
	memcpy(h + 16, &r->dst, 4);
	v = smt_xsk_ip_csum(h, SMT_XSK_IP_LEN);
	memcpy(h + 10, &v, 2);
	d = h + SMT_XSK_IP_LEN;
	for (i = 0; i < n; i++) {
		memcpy(d, pv[i].iov_base, pv[i].iov_len);
		d += pv[i].iov_len;
	}
	return SMT_XSK_ETH_LEN + tot;
}

/* ---- rtnetlink ------------------------------------------------------- */

struct nl_req {
	struct nlmsghdr n;
	union {
		struct rtmsg rt;
		struct ndmsg nd;
		struct ifinfomsg ifi;
	};
	uint8_t attrs[64];
};

static void nl_put_attr(struct nl_req *q, uint16_t type, const void *data,
			uint16_t len)
{
	struct rtattr *a =
		(struct rtattr *)((uint8_t *)q + NLMSG_ALIGN(q->n.nlmsg_len));

	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	q->n.nlmsg_len = NLMSG_ALIGN(q->n.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* A "get" request of type with a fixed header of hdr_len bytes. */
static void nl_req_init(struct nl_req *q, uint16_t type, size_t hdr_len)
{
	memset(q, 0, sizeof(*q));
	q->n.nlmsg_len = NLMSG_LENGTH(hdr_len);
	q->n.nlmsg_type = type;
	q->n.nlmsg_flags = NLM_F_REQUEST;
}

/* Sends q and reads its answer into buf: the answer's header when it is of
 * type want, else NULL (*err: the kernel's error or -EIO). */
static struct nlmsghdr *nl_call(struct smt_xsk_port *x, struct nl_req *q,
				uint16_t want, uint8_t *buf, int *err)
{
	struct nlmsghdr *h;
	int n, tries;

	*err = -EIO;
	if (x->nl < 0) {
		x->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
			       NETLINK_ROUTE);
		if (x->nl < 0) {
			*err = -errno;
			return NULL;
		}
	}
	q->n.nlmsg_seq = ++x->seq;
	if (send(x->nl, q, q->n.nlmsg_len, 0) < 0) {
		*err = -errno;
		return NULL;
	}
	/* the kernel answers a "get" before send returns: never wait */
	for (tries = 0; tries < 8; tries++) {
		n = (int)recv(x->nl, buf, NL_BUF, MSG_DONTWAIT);
		if (n < 0)
			return NULL;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != x->seq)
				continue; /* a late answer to an old query */
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				*err = e->error ? e->error : -ENOENT;
				return NULL;
			}
			return h->nlmsg_type == want ? h : NULL;
		}
	}
	return NULL;
}

/*
 * Copies attribute type of the answer h (fixed header hdr_len bytes) to
 * dst: len bytes, which must be all of it when exact. False if absent.
 */
static bool nl_copy(const struct nlmsghdr *h, size_t hdr_len, uint16_t type,
		    void *dst, size_t len, bool exact)
{
	const struct rtattr *a;
	int left;

	a = (const struct rtattr *)((const uint8_t *)NLMSG_DATA(h) +
				    NLMSG_ALIGN(hdr_len));
	left = (int)h->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(hdr_len));
	for (; RTA_OK(a, left); a = RTA_NEXT(a, left)) {
		if (a->rta_type != type)
			continue;
		if (RTA_PAYLOAD(a) < len || (exact && RTA_PAYLOAD(a) != len))
			return false;
		memcpy(dst, RTA_DATA(a), len);
		return true;
	}
	return false;
}

/* Route to r->dst: interface, preferred source, next hop. */
static int nl_route(struct smt_xsk_port *x, struct smt_xsk_route *r,
		    struct in_addr *hop, uint8_t *buf)
{
	struct nlmsghdr *h;
	struct nl_req q;
	int err;

	nl_req_init(&q, RTM_GETROUTE, sizeof(q.rt));
	q.rt.rtm_family = AF_INET;
	q.rt.rtm_dst_len = 32;
	nl_put_attr(&q, RTA_DST, &r->dst, 4);
	h = nl_call(x, &q, RTM_NEWROUTE, buf, &err);
	if (!h)
		return err;
	/* local, broadcast, blackhole, ...: not for us */
	if (((struct rtmsg *)NLMSG_DATA(h))->rtm_type != RTN_UNICAST ||
	    !nl_copy(h, sizeof(q.rt), RTA_OIF, &r->ifindex, 4, true))
		return -ENETUNREACH;
	if (!nl_copy(h, sizeof(q.rt), RTA_PREFSRC, &r->src, 4, true))
		return -EADDRNOTAVAIL;
	if (!nl_copy(h, sizeof(q.rt), RTA_GATEWAY, hop, 4, true))
		*hop = r->dst; /* on link */
	return 0;
}

/* The interface: Ethernet, its address and MTU. */
static int nl_link(struct smt_xsk_port *x, struct smt_xsk_route *r,
		   uint8_t *buf)
{
	struct nlmsghdr *h;
	struct nl_req q;
	int err;

	nl_req_init(&q, RTM_GETLINK, sizeof(q.ifi));
	q.ifi.ifi_family = AF_UNSPEC;
	q.ifi.ifi_index = r->ifindex;
	h = nl_call(x, &q, RTM_NEWLINK, buf, &err);
	if (!h)
		return err;
	if (((struct ifinfomsg *)NLMSG_DATA(h))->ifi_type != ARPHRD_ETHER ||
	    !nl_copy(h, sizeof(q.ifi), IFLA_ADDRESS, r->smac, 6, true))
		return -EPFNOSUPPORT;
	if (!nl_copy(h, sizeof(q.ifi), IFLA_MTU, &r->mtu, 4, true))
		return -EIO;
	return 0;
}

/*
 * The next hop's address. STALE is not usable: nothing of ours would make
 * the kernel confirm it again, so such a packet goes through the raw socket
 * (which starts the kernel's re-confirmation) and the next one looks again.
 */
static int nl_neigh(struct smt_xsk_port *x, struct smt_xsk_route *r,
		    struct in_addr hop, uint8_t *buf)
{
	const uint16_t usable = NUD_REACHABLE | NUD_PERMANENT | NUD_DELAY |
				NUD_PROBE | NUD_NOARP;
	struct nlmsghdr *h;
	struct nl_req q;
	int err;

	nl_req_init(&q, RTM_GETNEIGH, sizeof(q.nd));
	q.nd.ndm_family = AF_INET;
	q.nd.ndm_ifindex = r->ifindex;
	nl_put_attr(&q, NDA_DST, &hop, 4);
	h = nl_call(x, &q, RTM_NEWNEIGH, buf, &err);
	if (!h)
		return err;
	if (!(((struct ndmsg *)NLMSG_DATA(h))->ndm_state & usable) ||
	    !nl_copy(h, sizeof(q.nd), NDA_LLADDR, r->dmac, 6, true))
		return -EHOSTUNREACH;
	return 0;
}

void smt_xsk_port_init(struct smt_xsk_port *x)
{
	memset(x, 0, sizeof(*x));
	x->nl = -1;
}

void smt_xsk_port_fini(struct smt_xsk_port *x)
{
	if (x->nl >= 0)
		close(x->nl);
	x->nl = -1;
}

const struct smt_xsk_route *smt_xsk_route(struct smt_xsk_port *x,
					  struct in_addr dst, uint64_t now_ns)
{
	uint32_t k = ntohl(dst.s_addr);
	struct smt_xsk_route *r;
	struct in_addr hop = dst;
	uint8_t *buf;
	int err;

	k ^= k >> 16;
	k ^= k >> 6;
	r = &x->cache[k % SMT_XSK_CACHE];
	if (r->used && r->dst.s_addr == dst.s_addr && now_ns < r->next_ns)
		return r->ok ? r : NULL;
	memset(r, 0, sizeof(*r));
	r->used = true;
	r->dst = dst;
	r->next_ns = now_ns + XSK_RETRY_NS;
	buf = malloc(NL_BUF);
	if (!buf)
		return NULL;
	err = nl_route(x, r, &hop, buf);
	err = err ?: nl_link(x, r, buf);
	if (!err) {
		err = nl_neigh(x, r, hop, buf);
		if (err) /* the raw socket resolves it meanwhile */
			r->next_ns = now_ns + XSK_NEIGH_RETRY_NS;
	}
	free(buf);
	r->ok = !err;
	return r->ok ? r : NULL;
}

/* ---- AF_XDP sockets -------------------------------------------------- */

struct xsk_ring {
	uint32_t *producer, *consumer;
	void *desc;
	void *map;
	size_t map_len;
	uint32_t cached_prod, cached_cons, mask;
};

struct smt_xsk {
	struct smt_xsk *next;
	int ifindex;
	int fd; /* -1: creation failed, retry at retry_ns */
	uint64_t retry_ns;
	pthread_mutex_t lock;
	uint8_t *area;
	struct xsk_ring tx, comp;
	uint64_t free_addr[XSK_NFRAMES];
	unsigned int nfree;
	uint64_t cur; /* frame of the last reserve */
};

static pthread_mutex_t xsk_global = PTHREAD_MUTEX_INITIALIZER;
static struct smt_xsk *xsk_list;
static int xsk_users;

static void ring_unmap(struct xsk_ring *r)
{
	if (r->map && r->map != MAP_FAILED)
		munmap(r->map, r->map_len);
	r->map = NULL;
}

static int ring_map(int fd, struct xsk_ring *r, const struct xdp_ring_offset *o,
		    uint32_t n, size_t desc_sz, off_t pgoff)
{
	r->map_len = o->desc + n * desc_sz;
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_POPULATE, fd, pgoff);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -errno;
	}
	r->producer = (uint32_t *)((uint8_t *)r->map + o->producer);
	r->consumer = (uint32_t *)((uint8_t *)r->map + o->consumer);
	r->desc = (uint8_t *)r->map + o->desc;
	r->mask = n - 1;
	r->cached_prod = *r->producer;
	r->cached_cons = *r->consumer;
	return 0;
}

static void xsk_close(struct smt_xsk *s)
{
	ring_unmap(&s->tx);
	ring_unmap(&s->comp);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->area)
		munmap(s->area, (size_t)XSK_NFRAMES * SMT_XSK_FRAME);
	s->area = NULL;
}

static int xsk_setopt(int fd, int name, const void *v, socklen_t len)
{
	return setsockopt(fd, SOL_XDP, name, v, len) < 0 ? -errno : 0;
}

static int xsk_open(struct smt_xsk *s, uint8_t priority)
{
	struct xdp_umem_reg reg = {
		.len = (uint64_t)XSK_NFRAMES * SMT_XSK_FRAME,
		.chunk_size = SMT_XSK_FRAME,
	};
	struct sockaddr_xdp sxdp = {
		.sxdp_family = AF_XDP,
		.sxdp_flags = XDP_COPY,
		.sxdp_ifindex = (uint32_t)s->ifindex,
		.sxdp_queue_id = 0,
	};
	uint32_t n = XSK_NFRAMES, fill = XSK_FILL_SIZE;
	struct xdp_mmap_offsets off;
	socklen_t ol = sizeof(off);
	int err, prio = priority;
	unsigned int i;

	s->area = mmap(NULL, reg.len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (s->area == MAP_FAILED) {
		s->area = NULL;
		return -errno;
	}
	reg.addr = (uint64_t)(uintptr_t)s->area;
	s->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	err = xsk_setopt(s->fd, XDP_UMEM_REG, &reg, sizeof(reg));
	err = err ?: xsk_setopt(s->fd, XDP_UMEM_FILL_RING, &fill, 4);
	err = err ?: xsk_setopt(s->fd, XDP_UMEM_COMPLETION_RING, &n, 4);
	err = err ?: xsk_setopt(s->fd, XDP_TX_RING, &n, 4);
	if (err)
		return err;
	if (getsockopt(s->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol) < 0)
		return -errno;
	err = ring_map(s->fd, &s->tx, &off.tx, n, sizeof(struct xdp_desc),
		       XDP_PGOFF_TX_RING);
	err = err
		      ?: ring_map(s->fd, &s->comp, &off.cr, n, sizeof(uint64_t),
				  XDP_UMEM_PGOFF_COMPLETION_RING);
	if (err)
		return err;
	s->tx.cached_cons += n; /* producer view: free slots end there */
	if (priority)
		setsockopt(s->fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio));
	if (bind(s->fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) < 0)
		return -errno;
	for (i = 0; i < XSK_NFRAMES; i++)
		s->free_addr[i] = (uint64_t)i * SMT_XSK_FRAME;
	s->nfree = XSK_NFRAMES;
	return 0;
}

static void xsk_drain(struct smt_xsk *s);

void smt_xsk_get(void)
{
	pthread_mutex_lock(&xsk_global);
	xsk_users++;
	pthread_mutex_unlock(&xsk_global);
}

void smt_xsk_put(void)
{
	struct smt_xsk *s;

	pthread_mutex_lock(&xsk_global);
	if (--xsk_users == 0) {
		while ((s = xsk_list)) {
			xsk_list = s->next;
			xsk_drain(s);
			xsk_close(s);
			pthread_mutex_destroy(&s->lock);
			free(s);
		}
	}
	pthread_mutex_unlock(&xsk_global);
}

struct smt_xsk *smt_xsk_for(int ifindex, uint8_t priority, uint64_t now_ns)
{
	struct smt_xsk *s;

	pthread_mutex_lock(&xsk_global);
	for (s = xsk_list; s; s = s->next)
		if (s->ifindex == ifindex)
			break;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			goto out;
		s->ifindex = ifindex;
		s->fd = -1;
		pthread_mutex_init(&s->lock, NULL);
		s->next = xsk_list;
		xsk_list = s;
	}
	if (s->fd < 0 && now_ns >= s->retry_ns) {
		/* e.g. -EBUSY: another process holds queue 0 */
		if (xsk_open(s, priority)) {
			xsk_close(s);
			s->retry_ns = now_ns + XSK_RETRY_NS;
		}
	}
	if (s->fd < 0)
		s = NULL;
out:
	pthread_mutex_unlock(&xsk_global);
	return s;
}

void smt_xsk_lock(struct smt_xsk *s)
{
	pthread_mutex_lock(&s->lock);
}

void smt_xsk_unlock(struct smt_xsk *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* Takes the frames the kernel has sent back into the free list. */
static void xsk_reap(struct smt_xsk *s)
{
	struct xsk_ring *c = &s->comp;
	const uint64_t *addr = c->desc;
	uint32_t prod, i;

	prod = __atomic_load_n(c->producer, __ATOMIC_ACQUIRE);
	for (i = c->cached_cons; i != prod; i++)
		if (s->nfree < XSK_NFRAMES)
			s->free_addr[s->nfree++] = addr[i & c->mask];
	c->cached_cons = prod;
	__atomic_store_n(c->consumer, prod, __ATOMIC_RELEASE);
}

static bool tx_room(struct smt_xsk *s)
{
	struct xsk_ring *t = &s->tx;

	if (t->cached_cons != t->cached_prod)
		return true;
	t->cached_cons =
		__atomic_load_n(t->consumer, __ATOMIC_ACQUIRE) + t->mask + 1;
	return t->cached_cons != t->cached_prod;
}

void smt_xsk_kick(struct smt_xsk *s)
{
	struct xsk_ring *t = &s->tx;
	uint32_t cons, last;
	int i;

	__atomic_store_n(t->producer, t->cached_prod, __ATOMIC_RELEASE);
	/* copy mode sends at most 32 frames a call, then says EAGAIN;
	 * EBUSY / ENOBUFS (or EAGAIN without progress): the frames stay
	 * queued for the next kick */
	last = __atomic_load_n(t->consumer, __ATOMIC_ACQUIRE);
	for (i = 0; i < XSK_KICKS && last != t->cached_prod; i++) {
		if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			break;
		cons = __atomic_load_n(t->consumer, __ATOMIC_ACQUIRE);
		if (cons == last && errno == EAGAIN)
			break;
		last = cons;
	}
	xsk_reap(s);
}

/* Before the socket closes: what is still on the TX ring goes out. */
static void xsk_drain(struct smt_xsk *s)
{
	int i;

	for (i = 0; i < XSK_KICKS && s->fd >= 0; i++) {
		if (__atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE) ==
		    s->tx.cached_prod)
			break;
		smt_xsk_kick(s);
	}
}

bool smt_xsk_reserve(struct smt_xsk *s, uint8_t **frame)
{
	if (!s->nfree || !tx_room(s)) {
		xsk_reap(s);
		if (!s->nfree || !tx_room(s)) {
			smt_xsk_kick(s);
			if (!s->nfree || !tx_room(s))
				return false;
		}
	}
	s->cur = s->free_addr[--s->nfree];
	*frame = s->area + s->cur;
	return true;
}

void smt_xsk_commit(struct smt_xsk *s, uint32_t len)
{
	struct xsk_ring *t = &s->tx;
	struct xdp_desc *d = t->desc;

	d += t->cached_prod & t->mask;
	d->addr = s->cur;
	d->len = len;
	d->options = 0;
	t->cached_prod++;
}

void smt_xsk_cancel(struct smt_xsk *s)
{
	s->free_addr[s->nfree++] = s->cur;
}
