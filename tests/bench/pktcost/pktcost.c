// SPDX-License-Identifier: BSD-2-Clause
/*
 * pktcost: the CPU cost of one SMT-shaped packet (IPv4, the SMT protocol
 * number, a payload of --size bytes) on its way from one network namespace
 * to another over a veth pair, for each way an SMT backend could move it:
 *
 *   raw  an AF_INET raw socket, batches of 64 by sendmmsg / recvmmsg
 *        (libsmt's backend today);
 *   xsk  an AF_XDP socket in copy mode, batches of 64; on receive, the
 *        pktcost_redir XDP program steers the protocol's frames to it;
 *   pkt  (send only) an AF_PACKET socket with PACKET_QDISC_BYPASS, whole
 *        Ethernet frames by sendmmsg.
 *   udp  a UDP socket (SMT over UDP, libsmt's UDP backend without its
 *        offloads), datagrams of --size bytes, batches of 64 by sendmmsg /
 *        recvmmsg;
 *   udp-gso  the same with the kernel's UDP offloads, as libsmt uses them:
 *        each message a UDP_SEGMENT (GSO) buffer of up to 64 datagrams and
 *        65000 bytes, enough per sendmmsg for 64 datagrams; the receiver
 *        sets UDP_GRO and splits coalesced buffers by their segment size.
 *
 * `tx` sends as fast as it can; `rx` receives, checks the sequence numbers
 * for losses and, over a window that opens --warm seconds after the first
 * packet and lasts --secs, reports its own CPU time, that of every
 * ksoftirqd thread and the machine's softirq and busy time. `tx` reports
 * its CPU time over a window of the same length. `ping` and `pong` bounce
 * one 64-byte packet at a time and report round-trip times and CPU time
 * per round trip. Every role prints one line of key=value pairs; the
 * runner (run.sh) pins the roles to CPUs, runs the cases and summarises.
 *
 * CPU times come from getrusage: on a kernel without IRQ time accounting
 * they include the softirq work that runs in the process's context, and
 * over a veth that is where the receiving side's stack runs (the sender's
 * CPU, right after the transmit).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ip.h>
#include <linux/if_xdp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>
#include <smt/wire.h>
#include "pktcost_redir.skel.h"

#ifndef SMT_IPPROTO_BUILD
#define SMT_IPPROTO_BUILD SMT_IPPROTO_DEFAULT
#endif

#define BATCH 64
#define NFRAMES 4096
#define FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE
#define BUF_SIZE 2048
#define ETH_LEN 14
#define IP_LEN 20
#define MAX_PAYLOAD 1480
#define PING_WARMUP 200
#define PING_TIMEOUT_MS 200
#define TX_TAIL_S 0.5
#define RX_FIRST_TIMEOUT_S 15.0
#define XSK_BIND_RETRY_S 10.0
#define UDP_PORT 7999
#define GSO_SEGS_MAX 64
#define GSO_BYTES 65000
#define GRO_BUF 65536

struct opts {
	const char *mode, *dev, *src, *dst, *dst_mac;
	int size, count;
	double warm, secs;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = 1;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* ---- CPU accounting ------------------------------------------------------ */

/* What a measured window starts and ends with. */
struct snap {
	double t, usr, sys;
	unsigned long long ksoftirqd, busy, softirq; /* clock ticks */
};

static int ksoftirqd_pids[256];
static int n_ksoftirqd;

static void find_ksoftirqd(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc");
	char path[64], comm[32];

	while (d && (e = readdir(d)) && n_ksoftirqd < 256) {
		int pid = atoi(e->d_name);
		FILE *f;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "ksoftirqd/", 10))
			ksoftirqd_pids[n_ksoftirqd++] = pid;
		fclose(f);
	}
	if (d)
		closedir(d);
}

static unsigned long long ksoftirqd_ticks(void)
{
	unsigned long long sum = 0, utime, stime;
	char path[64], line[512], *p;

	for (int i = 0; i < n_ksoftirqd; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/stat",
			 ksoftirqd_pids[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		/* Fields 14 and 15, counted after the ")" that ends comm. */
		if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')) &&
		    sscanf(p + 2,
			   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			   &utime, &stime) == 2)
			sum += utime + stime;
		fclose(f);
	}
	return sum;
}

/* All CPUs together, from the "cpu " line of /proc/stat. */
static void machine_ticks(unsigned long long *busy, unsigned long long *sirq)
{
	unsigned long long v[8] = {0}, total = 0;
	FILE *f = fopen("/proc/stat", "r");

	*busy = *sirq = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", v, v + 1,
		   v + 2, v + 3, v + 4, v + 5, v + 6, v + 7) == 8) {
		for (int i = 0; i < 8; i++)
			total += v[i];
		/* All but idle, iowait and steal. */
		*busy = total - v[3] - v[4] - v[7];
		*sirq = v[6];
	}
	fclose(f);
}

static void take_snap(struct snap *s, bool system)
{
	struct rusage r;

	s->t = now_s();
	getrusage(RUSAGE_SELF, &r);
	s->usr = r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6;
	s->sys = r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
	if (system) {
		s->ksoftirqd = ksoftirqd_ticks();
		machine_ticks(&s->busy, &s->softirq);
	}
}

/*
 * A measured window: it opens @warm seconds after @origin and closes @secs
 * later; window_tick() counts the packets of each batch while it is open.
 */
struct window {
	double origin, warm, secs;
	bool system;
	int state; /* 0 warming up, 1 open, 2 closed */
	unsigned long pkts;
	struct snap s0, s1;
};

static void window_tick(struct window *w, unsigned long n)
{
	double t = now_s() - w->origin;

	if (w->state == 1)
		w->pkts += n;
	if (w->state == 0 && t >= w->warm) {
		take_snap(&w->s0, w->system);
		w->state = 1;
	} else if (w->state == 1 && t >= w->warm + w->secs) {
		take_snap(&w->s1, w->system);
		w->state = 2;
	}
}

static void print_cpu(const struct window *w)
{
	double usr = w->s1.usr - w->s0.usr, sys = w->s1.sys - w->s0.sys;

	printf(" secs=%.3f cpu_s=%.4f usr_s=%.4f sys_s=%.4f", w->s1.t - w->s0.t,
	       usr + sys, usr, sys);
}

static void print_system(const struct window *w)
{
	double hz = sysconf(_SC_CLK_TCK);

	printf(" ksoftirqd_s=%.3f softirq_s=%.3f busy_s=%.3f ncpu=%ld",
	       (w->s1.ksoftirqd - w->s0.ksoftirqd) / hz,
	       (w->s1.softirq - w->s0.softirq) / hz,
	       (w->s1.busy - w->s0.busy) / hz, sysconf(_SC_NPROCESSORS_ONLN));
}

/* ---- frames -------------------------------------------------------------- */

static int parse_mac(const char *s, uint8_t *mac)
{
	if (!s || sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", mac, mac + 1,
			 mac + 2, mac + 3, mac + 4, mac + 5) != 6)
		return -EINVAL;
	return 0;
}

static int dev_mac(const char *dev, uint8_t *mac)
{
	struct ifreq ifr = {0};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	close(fd);
	return err;
}

static uint16_t ip_csum(const void *hdr, int len)
{
	const uint16_t *w = hdr;
	uint32_t sum = 0;

	for (; len > 1; len -= 2)
		sum += *w++;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* The Ethernet frame of one packet from @o; returns its length. */
static int build_frame(uint8_t *f, const uint8_t *src_mac,
		       const uint8_t *dst_mac, const struct opts *o)
{
	struct ethhdr *eth = (struct ethhdr *)f;
	struct iphdr *ip = (struct iphdr *)(f + ETH_LEN);

	memcpy(eth->h_dest, dst_mac, ETH_ALEN);
	memcpy(eth->h_source, src_mac, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = SMT_IPPROTO_BUILD;
	ip->tot_len = htons(IP_LEN + o->size);
	inet_pton(AF_INET, o->src, &ip->saddr);
	inet_pton(AF_INET, o->dst, &ip->daddr);
	ip->check = ip_csum(ip, IP_LEN);
	memset(f + ETH_LEN + IP_LEN, 0x5a, o->size);
	return ETH_LEN + IP_LEN + o->size;
}

/* The sequence number in the first 4 bytes of a payload. */
static void put_seq(uint8_t *payload, uint32_t seq)
{
	memcpy(payload, &seq, sizeof(seq));
}

static uint32_t get_seq(const uint8_t *payload)
{
	uint32_t seq;

	memcpy(&seq, payload, sizeof(seq));
	return seq;
}

/* Offset of the payload in an IPv4 packet of @len bytes, or -1. */
static int ip_payload_off(const uint8_t *ip, uint32_t len)
{
	uint32_t ihl;

	if (len < IP_LEN)
		return -1;
	ihl = (ip[0] & 0xf) * 4u;
	return ihl >= IP_LEN && len >= ihl + 4 ? (int)ihl : -1;
}

/* Counts packets and the gaps in their sequence numbers. */
struct seqcheck {
	bool started;
	uint32_t next;
	unsigned long lost;
};

static void seq_seen(struct seqcheck *c, uint32_t seq)
{
	if (c->started && seq != c->next)
		c->lost += (uint32_t)(seq - c->next);
	c->started = true;
	c->next = seq + 1;
}

/* ---- sockets ------------------------------------------------------------- */

static int raw_open(void)
{
	int fd, buf = 8 << 20;

	fd = socket(AF_INET, SOCK_RAW, SMT_IPPROTO_BUILD);
	if (fd < 0)
		return -errno;
	/* Best effort: the defaults only make drops more likely. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	return fd;
}

struct msgs {
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	uint8_t buf[BATCH][BUF_SIZE];
};

static void msgs_init(struct msgs *v, void *name, socklen_t namelen, size_t len)
{
	memset(v->m, 0, sizeof(v->m));
	for (int i = 0; i < BATCH; i++) {
		v->iov[i].iov_base = v->buf[i];
		v->iov[i].iov_len = len;
		v->m[i].msg_hdr.msg_iov = &v->iov[i];
		v->m[i].msg_hdr.msg_iovlen = 1;
		v->m[i].msg_hdr.msg_name = name;
		v->m[i].msg_hdr.msg_namelen = namelen;
	}
}

struct xsk {
	void *area;
	struct xsk_umem *umem;
	struct xsk_socket *sock;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	struct pktcost_redir *skel;
	struct bpf_link *link;
	uint64_t free_addr[NFRAMES];
	unsigned int nfree;
	int fd;
};

static void xsk_close(struct xsk *x)
{
	bpf_link__destroy(x->link);
	pktcost_redir__destroy(x->skel);
	if (x->sock)
		xsk_socket__delete(x->sock);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->area && x->area != MAP_FAILED)
		munmap(x->area, (size_t)NFRAMES * FRAME_SIZE);
	memset(x, 0, sizeof(*x));
}

/* Steers the protocol's frames on queue 0 of @dev to @x. */
static int xsk_steer(struct xsk *x, const char *dev)
{
	unsigned int ifindex = if_nametoindex(dev);
	uint32_t queue = 0;
	int err;

	if (!ifindex)
		return -errno;
	x->skel = pktcost_redir__open_and_load();
	if (!x->skel)
		return -errno;
	x->link =
		bpf_program__attach_xdp(x->skel->progs.pktcost_redir, ifindex);
	if (!x->link)
		return -errno;
	err = bpf_map__update_elem(x->skel->maps.pktcost_xsks, &queue,
				   sizeof(queue), &x->fd, sizeof(x->fd), 0);
	return err;
}

/*
 * An AF_XDP socket in copy mode on queue 0 of @dev. A receiving one gets
 * the XDP program and half the frames in its fill ring (all of them when
 * it does not send); the others are free for sending.
 */
static int xsk_open(struct xsk *x, const char *dev, bool rx, bool tx)
{
	struct xsk_umem_config ucfg = {
		.fill_size = NFRAMES,
		.comp_size = NFRAMES,
		.frame_size = FRAME_SIZE,
	};
	struct xsk_socket_config cfg = {
		.rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS,
		.tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
	};
	unsigned int nfill = rx ? (tx ? NFRAMES / 2 : NFRAMES) : 0, i;
	double deadline = now_s() + XSK_BIND_RETRY_S;
	uint32_t idx;
	int err;

	memset(x, 0, sizeof(*x));
	x->area = mmap(NULL, (size_t)NFRAMES * FRAME_SIZE,
		       PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (x->area == MAP_FAILED)
		return -errno;
	err = xsk_umem__create(&x->umem, x->area,
			       (uint64_t)NFRAMES * FRAME_SIZE, &x->fill,
			       &x->comp, &ucfg);
	if (err)
		goto fail;
	/* The queue of a socket that just closed stays busy for a while. */
	do {
		err = xsk_socket__create(&x->sock, dev, 0, x->umem,
					 rx ? &x->rx : NULL, tx ? &x->tx : NULL,
					 &cfg);
		if (err == -EBUSY)
			usleep(100 * 1000);
	} while (err == -EBUSY && now_s() < deadline);
	if (err)
		goto fail;
	x->fd = xsk_socket__fd(x->sock);
	if (rx) {
		err = xsk_steer(x, dev);
		if (err)
			goto fail;
		if (xsk_ring_prod__reserve(&x->fill, nfill, &idx) != nfill) {
			err = -ENOSPC;
			goto fail;
		}
		for (i = 0; i < nfill; i++)
			*xsk_ring_prod__fill_addr(&x->fill, idx + i) =
				(uint64_t)i * FRAME_SIZE;
		xsk_ring_prod__submit(&x->fill, nfill);
	}
	for (i = nfill; i < NFRAMES; i++)
		x->free_addr[x->nfree++] = (uint64_t)i * FRAME_SIZE;
	return 0;
fail:
	xsk_close(x);
	return err;
}

static uint8_t *xsk_frame(struct xsk *x, uint64_t addr)
{
	return (uint8_t *)x->area + addr;
}

/* Takes the completed transmits back into the free list. */
static void xsk_reap(struct xsk *x)
{
	uint32_t idx, n, i;

	n = xsk_ring_cons__peek(&x->comp, NFRAMES, &idx);
	for (i = 0; i < n; i++)
		x->free_addr[x->nfree++] =
			*xsk_ring_cons__comp_addr(&x->comp, idx + i);
	if (n)
		xsk_ring_cons__release(&x->comp, n);
}

/* In copy mode, nothing is sent until a syscall asks for it. */
static int xsk_kick(struct xsk *x)
{
	if (!xsk_ring_prod__needs_wakeup(&x->tx))
		return 0;
	if (sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
	    errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)
		return -errno;
	return 0;
}

/* Queues up to @n frames of @len bytes from the free list; returns how many. */
static unsigned int xsk_queue(struct xsk *x, unsigned int n, uint32_t len,
			      uint32_t *seq)
{
	uint32_t idx, i;

	if (n > x->nfree)
		n = x->nfree;
	if (!n || xsk_ring_prod__reserve(&x->tx, n, &idx) != n)
		return 0;
	for (i = 0; i < n; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + i);

		d->addr = x->free_addr[--x->nfree];
		d->len = len;
		put_seq(xsk_frame(x, d->addr) + ETH_LEN + IP_LEN, (*seq)++);
	}
	xsk_ring_prod__submit(&x->tx, n);
	return n;
}

static void xsk_refill(struct xsk *x, const uint64_t *addr, uint32_t n)
{
	uint32_t idx, i;

	/* The fill ring holds every frame, so there is always room. */
	if (xsk_ring_prod__reserve(&x->fill, n, &idx) != n)
		return;
	for (i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&x->fill, idx + i) = addr[i];
	xsk_ring_prod__submit(&x->fill, n);
}

/* ---- tx ------------------------------------------------------------------ */

static void tx_report(const struct opts *o, const struct window *w)
{
	printf("tx mode=%s size=%d pkts=%lu", o->mode, o->size, w->pkts);
	print_cpu(w);
	printf("\n");
}

static bool tx_done(const struct window *w)
{
	return now_s() - w->origin >= w->warm + w->secs + TX_TAIL_S;
}

/* Sends the batch in @v until the window is over; seq at @seq_off. */
static int tx_mmsg(int fd, struct msgs *v, size_t seq_off, struct window *w)
{
	uint32_t seq = 0;
	int n, i;

	w->origin = now_s();
	while (!tx_done(w)) {
		for (i = 0; i < BATCH; i++)
			put_seq(v->buf[i] + seq_off, seq + i);
		n = sendmmsg(fd, v->m, BATCH, 0);
		if (n < 0 && errno != ENOBUFS && errno != EAGAIN)
			return -errno;
		n = n < 0 ? 0 : n;
		seq += n;
		window_tick(w, n);
	}
	return 0;
}

static int tx_raw(const struct opts *o, struct window *w)
{
	static struct msgs v;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd, i, err;

	if (inet_pton(AF_INET, o->dst, &sin.sin_addr) != 1)
		return -EINVAL;
	fd = raw_open();
	if (fd < 0)
		return fd;
	msgs_init(&v, &sin, sizeof(sin), o->size);
	for (i = 0; i < BATCH; i++)
		memset(v.buf[i], 0x5a, o->size);
	err = tx_mmsg(fd, &v, 0, w);
	close(fd);
	return err;
}

static int tx_packet(const struct opts *o, struct window *w)
{
	static struct msgs v;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_halen = ETH_ALEN};
	uint8_t src_mac[ETH_ALEN], dst_mac[ETH_ALEN];
	int fd, i, len = 0, one = 1, err;

	err = parse_mac(o->dst_mac, dst_mac);
	if (!err)
		err = dev_mac(o->dev, src_mac);
	if (err)
		return err;
	sll.sll_ifindex = if_nametoindex(o->dev);
	memcpy(sll.sll_addr, dst_mac, ETH_ALEN);
	fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: receives nothing */
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one,
		       sizeof(one))) {
		err = -errno;
		close(fd);
		return err;
	}
	for (i = 0; i < BATCH; i++)
		len = build_frame(v.buf[i], src_mac, dst_mac, o);
	msgs_init(&v, &sll, sizeof(sll), len);
	err = tx_mmsg(fd, &v, ETH_LEN + IP_LEN, w);
	close(fd);
	return err;
}

static int tx_xsk(const struct opts *o, struct window *w)
{
	static struct xsk x;
	uint8_t src_mac[ETH_ALEN], dst_mac[ETH_ALEN];
	unsigned int before;
	uint32_t seq = 0, len = 0;
	int err, i;

	err = parse_mac(o->dst_mac, dst_mac);
	if (!err)
		err = dev_mac(o->dev, src_mac);
	if (!err)
		err = xsk_open(&x, o->dev, false, true);
	if (err)
		return err;
	for (i = 0; i < NFRAMES; i++)
		len = build_frame(xsk_frame(&x, (uint64_t)i * FRAME_SIZE),
				  src_mac, dst_mac, o);
	w->origin = now_s();
	while (!tx_done(w)) {
		/* Packets count when the kernel has completed them. */
		before = x.nfree;
		xsk_reap(&x);
		window_tick(w, x.nfree - before);
		xsk_queue(&x, BATCH, len, &seq);
		err = xsk_kick(&x);
		if (err)
			break;
	}
	xsk_close(&x);
	return err;
}

/* ---- rx ------------------------------------------------------------------ */

/*
 * Called after every wait: opens the window at the first packet and
 * reports when it closes. Returns 1 when done, 0 to go on, -ETIMEDOUT when
 * no packet came at all.
 */
static int rx_tick(const struct opts *o, struct window *w,
		   const struct seqcheck *c, unsigned long n, double started)
{
	if (!w->origin) {
		if (n)
			w->origin = now_s();
		else if (now_s() - started > RX_FIRST_TIMEOUT_S)
			return -ETIMEDOUT;
		else
			return 0;
	}
	window_tick(w, n);
	if (w->state != 2)
		return 0;
	printf("rx mode=%s pkts=%lu lost=%lu", o->mode, w->pkts, c->lost);
	print_cpu(w);
	print_system(w);
	printf("\n");
	return 1;
}

static void ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

static int rx_raw(const struct opts *o, struct window *w)
{
	static struct msgs v;
	struct seqcheck c = {0}, warmup = {0}, *cw;
	struct pollfd p = {.events = POLLIN};
	double started = now_s();
	int n, i, off, done = 0;

	p.fd = raw_open();
	if (p.fd < 0)
		return p.fd;
	msgs_init(&v, NULL, 0, BUF_SIZE);
	ready();
	while (!done) {
		n = 0;
		if (poll(&p, 1, 100) > 0) {
			n = recvmmsg(p.fd, v.m, BATCH, MSG_DONTWAIT, NULL);
			n = n < 0 ? 0 : n;
		}
		/* Losses count inside the window only. */
		cw = w->state == 1 ? &c : &warmup;
		for (i = 0; i < n; i++) {
			off = ip_payload_off(v.buf[i], v.m[i].msg_len);
			if (off >= 0)
				seq_seen(cw, get_seq(v.buf[i] + off));
		}
		done = rx_tick(o, w, &c, n, started);
	}
	close(p.fd);
	return done < 0 ? done : 0;
}

/* ---- UDP, with and without the kernel's offloads ------------------------ */

static int udp_socket(bool gro)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), buf = 8 << 20, one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	if (gro && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* GSO messages for sendmmsg: segs datagrams of size bytes each. */
struct gso_msgs {
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(uint16_t))];
	} ctl[BATCH];
	uint8_t buf[BATCH][GSO_BYTES];
};

static int tx_udp(const struct opts *o, struct window *w, bool gso)
{
	static struct msgs v;
	static struct gso_msgs g;
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons(UDP_PORT)};
	int segs = GSO_BYTES / o->size, nmsg, fd, i, k, n;
	uint32_t seq = 0;

	if (inet_pton(AF_INET, o->dst, &sin.sin_addr) != 1)
		return -EINVAL;
	fd = udp_socket(false);
	if (fd < 0)
		return fd;
	if (!gso) {
		msgs_init(&v, &sin, sizeof(sin), o->size);
		for (i = 0; i < BATCH; i++)
			memset(v.buf[i], 0x5a, o->size);
		n = tx_mmsg(fd, &v, 0, w);
		close(fd);
		return n;
	}
	if (segs > GSO_SEGS_MAX)
		segs = GSO_SEGS_MAX;
	nmsg = (BATCH + segs - 1) / segs;
	memset(&g, 0x5a, sizeof(g));
	for (i = 0; i < nmsg; i++) {
		struct msghdr *h = &g.m[i].msg_hdr;
		struct cmsghdr *c;
		uint16_t sz = (uint16_t)o->size;

		memset(h, 0, sizeof(*h));
		g.iov[i].iov_base = g.buf[i];
		g.iov[i].iov_len = (size_t)segs * o->size;
		h->msg_iov = &g.iov[i];
		h->msg_iovlen = 1;
		h->msg_name = &sin;
		h->msg_namelen = sizeof(sin);
		h->msg_control = g.ctl[i].b;
		h->msg_controllen = sizeof(g.ctl[i].b);
		c = CMSG_FIRSTHDR(h);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(sz));
		memcpy(CMSG_DATA(c), &sz, sizeof(sz));
	}
	w->origin = now_s();
	while (!tx_done(w)) {
		for (i = 0; i < nmsg; i++)
			for (k = 0; k < segs; k++)
				put_seq(g.buf[i] + k * o->size,
					seq + (uint32_t)(i * segs + k));
		n = sendmmsg(fd, g.m, nmsg, 0);
		if (n < 0 && errno != ENOBUFS && errno != EAGAIN) {
			n = -errno;
			close(fd);
			return n;
		}
		n = n < 0 ? 0 : n;
		seq += (uint32_t)(n * segs);
		window_tick(w, (unsigned long)n * segs);
	}
	close(fd);
	return 0;
}

/* The segment size of a coalesced buffer (UDP_GRO cmsg), 0 for one
 * datagram. */
static int gro_seg(struct msghdr *h)
{
	struct cmsghdr *c;
	int v;

	for (c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			return v;
		}
	return 0;
}

static int rx_udp(const struct opts *o, struct window *w, bool gro)
{
	static struct mmsghdr m[BATCH];
	static struct iovec iov[BATCH];
	static union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(int))];
	} ctl[BATCH];
	static uint8_t buf[BATCH][GRO_BUF];
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons(UDP_PORT)};
	struct seqcheck c = {0}, warmup = {0}, *cw;
	struct pollfd p = {.events = POLLIN};
	double started = now_s();
	int n, i, done = 0;

	p.fd = udp_socket(gro);
	if (p.fd < 0)
		return p.fd;
	if (bind(p.fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		n = -errno;
		close(p.fd);
		return n;
	}
	ready();
	while (!done) {
		unsigned long pkts = 0;

		n = 0;
		for (i = 0; i < BATCH; i++) {
			memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
			iov[i].iov_base = buf[i];
			iov[i].iov_len = gro ? GRO_BUF : BUF_SIZE;
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_control = ctl[i].b;
			m[i].msg_hdr.msg_controllen = sizeof(ctl[i].b);
		}
		if (poll(&p, 1, 100) > 0) {
			n = recvmmsg(p.fd, m, BATCH, MSG_DONTWAIT, NULL);
			n = n < 0 ? 0 : n;
		}
		cw = w->state == 1 ? &c : &warmup;
		for (i = 0; i < n; i++) {
			uint32_t len = m[i].msg_len, off;
			int seg = gro_seg(&m[i].msg_hdr);

			if (seg <= 0 || (uint32_t)seg > len)
				seg = (int)len;
			for (off = 0; off + 4 <= len; off += (uint32_t)seg) {
				seq_seen(cw, get_seq(buf[i] + off));
				pkts++;
			}
		}
		done = rx_tick(o, w, &c, pkts, started);
	}
	close(p.fd);
	return done < 0 ? done : 0;
}

static int rx_xsk(const struct opts *o, struct window *w)
{
	static struct xsk x;
	static uint64_t addr[BATCH];
	struct seqcheck c = {0}, warmup = {0}, *cw;
	struct pollfd p = {.events = POLLIN};
	double started = now_s();
	uint32_t n, idx, i;
	int err, off, done = 0;

	err = xsk_open(&x, o->dev, true, false);
	if (err)
		return err;
	p.fd = x.fd;
	ready();
	while (!done) {
		n = 0;
		if (poll(&p, 1, 100) > 0)
			n = xsk_ring_cons__peek(&x.rx, BATCH, &idx);
		cw = w->state == 1 ? &c : &warmup;
		for (i = 0; i < n; i++) {
			const struct xdp_desc *d =
				xsk_ring_cons__rx_desc(&x.rx, idx + i);
			const uint8_t *f = xsk_frame(&x, d->addr);

			addr[i] = xsk_umem__extract_addr(d->addr);
			off = d->len > ETH_LEN
				      ? ip_payload_off(f + ETH_LEN,
						       d->len - ETH_LEN)
				      : -1;
			if (off >= 0)
				seq_seen(cw, get_seq(f + ETH_LEN + off));
		}
		if (n) {
			xsk_ring_cons__release(&x.rx, n);
			xsk_refill(&x, addr, n);
		}
		done = rx_tick(o, w, &c, n, started);
	}
	xsk_close(&x);
	return done < 0 ? done : 0;
}

/* ---- ping-pong ----------------------------------------------------------- */

/* One frame from an AF_XDP socket into @buf; returns its length or -errno. */
static int xsk_recv1(struct xsk *x, uint8_t *buf, int timeout_ms)
{
	struct pollfd p = {.fd = x->fd, .events = POLLIN};
	uint32_t idx, len;
	uint64_t addr;

	while (xsk_ring_cons__peek(&x->rx, 1, &idx) != 1) {
		if (stopping)
			return -EINTR;
		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
	}
	addr = xsk_umem__extract_addr(
		xsk_ring_cons__rx_desc(&x->rx, idx)->addr);
	len = xsk_ring_cons__rx_desc(&x->rx, idx)->len;
	if (len > BUF_SIZE)
		len = BUF_SIZE;
	memcpy(buf, xsk_frame(x, addr), len);
	xsk_ring_cons__release(&x->rx, 1);
	xsk_refill(x, &addr, 1);
	return len;
}

static int xsk_send1(struct xsk *x, const uint8_t *frame, uint32_t len)
{
	uint32_t idx;
	uint64_t addr;

	xsk_reap(x);
	if (!x->nfree || xsk_ring_prod__reserve(&x->tx, 1, &idx) != 1)
		return -ENOBUFS;
	addr = x->free_addr[--x->nfree];
	memcpy(xsk_frame(x, addr), frame, len);
	xsk_ring_prod__tx_desc(&x->tx, idx)->addr = addr;
	xsk_ring_prod__tx_desc(&x->tx, idx)->len = len;
	xsk_ring_prod__submit(&x->tx, 1);
	return xsk_kick(x);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Waits for the reply carrying @seq; returns 1 when it came, 0 if not. */
static int ping_wait(bool xsk, struct xsk *x, int fd, uint32_t seq)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint8_t buf[BUF_SIZE];
	int len, off;

	for (;;) {
		if (xsk) {
			len = xsk_recv1(x, buf, PING_TIMEOUT_MS);
			if (len < 0)
				return 0;
			off = len > ETH_LEN ? ip_payload_off(buf + ETH_LEN,
							     len - ETH_LEN)
					    : -1;
			if (off >= 0 && get_seq(buf + ETH_LEN + off) == seq)
				return 1;
			continue;
		}
		if (poll(&p, 1, PING_TIMEOUT_MS) <= 0)
			return 0;
		len = recv(fd, buf, sizeof(buf), 0);
		off = len > 0 ? ip_payload_off(buf, len) : -1;
		if (off >= 0 && get_seq(buf + off) == seq)
			return 1;
	}
}

static int do_ping(const struct opts *o)
{
	bool xsk = !strcmp(o->mode, "xsk");
	struct sockaddr_in sin = {.sin_family = AF_INET};
	uint8_t frame[BUF_SIZE], src_mac[ETH_ALEN], dst_mac[ETH_ALEN];
	int n = o->count, got = 0, lost = 0, len = 0, fd = -1, err = 0, i;
	static struct xsk x;
	struct snap s0, s1;
	double *rtt, t;

	rtt = calloc(n, sizeof(*rtt));
	if (!rtt)
		return -ENOMEM;
	if (xsk) {
		err = parse_mac(o->dst_mac, dst_mac);
		if (!err)
			err = dev_mac(o->dev, src_mac);
		if (!err)
			err = xsk_open(&x, o->dev, true, true);
		if (!err)
			len = build_frame(frame, src_mac, dst_mac, o);
	} else {
		fd = raw_open();
		err = fd < 0 ? fd : 0;
		if (inet_pton(AF_INET, o->dst, &sin.sin_addr) != 1)
			err = -EINVAL;
		memset(frame, 0x5a, o->size);
	}
	if (err)
		goto out;
	for (i = -PING_WARMUP; i < n; i++) {
		if (i == 0)
			take_snap(&s0, false);
		t = now_s();
		if (xsk) {
			put_seq(frame + ETH_LEN + IP_LEN, i);
			err = xsk_send1(&x, frame, len);
		} else {
			put_seq(frame, i);
			if (sendto(fd, frame, o->size, 0,
				   (struct sockaddr *)&sin, sizeof(sin)) < 0)
				err = -errno;
		}
		if (err)
			goto out;
		if (!ping_wait(xsk, &x, fd, i))
			lost += i >= 0;
		else if (i >= 0)
			rtt[got++] = (now_s() - t) * 1e6;
	}
	take_snap(&s1, false);
	if (!got) {
		err = -ETIMEDOUT;
		goto out;
	}
	qsort(rtt, got, sizeof(*rtt), cmp_double);
	printf("ping mode=%s n=%d lost=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f cpu_us_per_rt=%.2f\n",
	       o->mode, got, lost, rtt[got / 2], rtt[got * 9 / 10],
	       rtt[got * 99 / 100],
	       (s1.usr + s1.sys - s0.usr - s0.sys) * 1e6 / n);
out:
	if (xsk)
		xsk_close(&x);
	else if (fd >= 0)
		close(fd);
	free(rtt);
	return err;
}

/* Sends every packet back where it came from, until SIGTERM or SIGINT. */
static int do_pong(const struct opts *o)
{
	bool xsk = !strcmp(o->mode, "xsk");
	struct sigaction sa = {.sa_handler = on_signal};
	uint8_t buf[BUF_SIZE], mac[ETH_ALEN];
	unsigned long n = 0;
	static struct xsk x;
	struct snap s0, s1;
	int fd = -1, err, len;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (xsk) {
		err = xsk_open(&x, o->dev, true, true);
		if (err)
			return err;
	} else {
		fd = raw_open();
		if (fd < 0)
			return fd;
	}
	ready();
	take_snap(&s0, false);
	while (!stopping) {
		if (xsk) {
			struct iphdr *ip = (struct iphdr *)(buf + ETH_LEN);
			uint32_t a;

			len = xsk_recv1(&x, buf, 100);
			if (len < ETH_LEN + IP_LEN)
				continue;
			memcpy(mac, buf, ETH_ALEN);
			memcpy(buf, buf + ETH_ALEN, ETH_ALEN);
			memcpy(buf + ETH_ALEN, mac, ETH_ALEN);
			a = ip->saddr;
			ip->saddr = ip->daddr;
			ip->daddr = a; /* the checksum does not change */
			err = xsk_send1(&x, buf, len);
		} else {
			struct sockaddr_in from;
			socklen_t fromlen = sizeof(from);
			struct pollfd p = {.fd = fd, .events = POLLIN};
			int off;

			if (poll(&p, 1, 100) <= 0)
				continue;
			len = recvfrom(fd, buf, sizeof(buf), 0,
				       (struct sockaddr *)&from, &fromlen);
			off = len > 0 ? ip_payload_off(buf, len) : -1;
			if (off < 0)
				continue;
			if (sendto(fd, buf + off, len - off, 0,
				   (struct sockaddr *)&from, fromlen) < 0)
				err = -errno;
		}
		if (err)
			break;
		n++;
	}
	take_snap(&s1, false);
	printf("pong mode=%s n=%lu cpu_us_per_pkt=%.2f\n", o->mode, n,
	       (s1.usr + s1.sys - s0.usr - s0.sys) * 1e6 / (n ? n : 1));
	if (xsk)
		xsk_close(&x);
	else
		close(fd);
	return err;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pktcost tx   --mode raw|xsk|pkt|udp|udp-gso --dev IF --src IP --dst IP --dst-mac MAC\n"
		"                    [--size BYTES] [--warm S] [--secs S]\n"
		"       pktcost rx   --mode raw|xsk|udp|udp-gso --dev IF [--warm S] [--secs S]\n"
		"       pktcost ping --mode raw|xsk --dev IF --src IP --dst IP --dst-mac MAC [--count N]\n"
		"       pktcost pong --mode raw|xsk --dev IF\n"
		"Run it from tests/bench/pktcost/run.sh (make bench-pktcost), which sets up\n"
		"the namespaces, the veth pair and the neighbour entries.\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"dev", required_argument, NULL, 'd'},
		{"src", required_argument, NULL, 's'},
		{"dst", required_argument, NULL, 't'},
		{"dst-mac", required_argument, NULL, 'M'},
		{"size", required_argument, NULL, 'z'},
		{"count", required_argument, NULL, 'c'},
		{"warm", required_argument, NULL, 'w'},
		{"secs", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.mode = "raw",
			   .size = 64,
			   .count = 10000,
			   .warm = 0.5,
			   .secs = 2.0};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o->mode = optarg;
			break;
		case 'd':
			o->dev = optarg;
			break;
		case 's':
			o->src = optarg;
			break;
		case 't':
			o->dst = optarg;
			break;
		case 'M':
			o->dst_mac = optarg;
			break;
		case 'z':
			o->size = atoi(optarg);
			break;
		case 'c':
			o->count = atoi(optarg);
			break;
		case 'w':
			o->warm = atof(optarg);
			break;
		case 'S':
			o->secs = atof(optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (o->size < 4 || o->size > MAX_PAYLOAD) {
		fprintf(stderr, "pktcost: --size must be 4..%d bytes\n",
			MAX_PAYLOAD);
		return -EINVAL;
	}
	if (o->count < 1 || o->warm < 0 || o->secs <= 0) {
		fprintf(stderr,
			"pktcost: --count, --warm, --secs out of range\n");
		return -EINVAL;
	}
	return 0;
}

static int libbpf_errors_only(enum libbpf_print_level level, const char *fmt,
			      va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

/* What to check when a role fails with @err. */
static const char *hint(int err)
{
	switch (err) {
	case -ETIMEDOUT:
		return " (no packet arrived: is the sender running, is the neighbour entry set?)";
	case -EPERM:
	case -EACCES:
		return " (needs root: CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF)";
	case -EBUSY:
		return " (another XDP program or AF_XDP socket holds queue 0 of the device)";
	default:
		return "";
	}
}

static int run_role(const char *role, const struct opts *o, struct window *w)
{
	bool raw = !strcmp(o->mode, "raw"), xsk = !strcmp(o->mode, "xsk");
	bool udp = !strcmp(o->mode, "udp"), gso = !strcmp(o->mode, "udp-gso");

	if (udp || gso) {
		if (!strcmp(role, "tx"))
			return tx_udp(o, w, gso);
		if (!strcmp(role, "rx")) {
			w->system = true;
			find_ksoftirqd();
			return rx_udp(o, w, gso);
		}
		return -EOPNOTSUPP;
	}
	if (!strcmp(role, "tx")) {
		if (raw)
			return tx_raw(o, w);
		if (xsk)
			return tx_xsk(o, w);
		if (!strcmp(o->mode, "pkt"))
			return tx_packet(o, w);
	} else if (!strcmp(role, "rx") && (raw || xsk)) {
		w->system = true;
		find_ksoftirqd();
		return raw ? rx_raw(o, w) : rx_xsk(o, w);
	} else if (!strcmp(role, "ping") && (raw || xsk)) {
		return do_ping(o);
	} else if (!strcmp(role, "pong") && (raw || xsk)) {
		return do_pong(o);
	}
	return -EOPNOTSUPP;
}

int main(int argc, char **argv)
{
	struct window w = {0};
	bool need_dev, need_addr;
	const char *role;
	struct opts o;
	int err;

	if (argc < 2 || argv[1][0] == '-') {
		usage(stderr);
		return 2;
	}
	role = argv[1];
	if (parse_opts(argc - 1, argv + 1, &o)) {
		usage(stderr);
		return 2;
	}
	need_dev = strcmp(o.mode, "raw") && strcmp(o.mode, "udp") &&
		   strcmp(o.mode, "udp-gso");
	need_addr = !strcmp(role, "tx") || !strcmp(role, "ping");
	if ((need_dev && !o.dev) ||
	    (need_addr && (!o.dst || (need_dev && (!o.src || !o.dst_mac))))) {
		fprintf(stderr,
			"pktcost %s --mode %s: missing --dev, --src, --dst or --dst-mac\n",
			role, o.mode);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_errors_only);
	w.warm = o.warm;
	w.secs = o.secs;
	err = run_role(role, &o, &w);
	if (err == -EOPNOTSUPP) {
		fprintf(stderr, "pktcost: no role \"%s\" in mode \"%s\"\n",
			role, o.mode);
		usage(stderr);
		return 2;
	}
	if (err) {
		fprintf(stderr, "pktcost %s --mode %s%s%s: %s%s\n", role,
			o.mode, o.dev ? " --dev " : "", o.dev ? o.dev : "",
			strerror(-err), hint(err));
		return 1;
	}
	if (!strcmp(role, "tx")) {
		if (w.state != 2) {
			fprintf(stderr,
				"pktcost tx: the window never closed\n");
			return 1;
		}
		tx_report(&o, &w);
	}
	return 0;
}
