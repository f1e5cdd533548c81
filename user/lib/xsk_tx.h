/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * AF_XDP transmit path of the raw IP backend (opts.xsk_tx): IPv4 SMT
 * packets framed by libsmt (Ethernet and IPv4 headers) and queued on the TX
 * ring of an AF_XDP socket in copy mode, one socket and UMEM per interface
 * and process, bound to queue 0. No XDP program and no RX ring: the socket
 * only sends. The route and neighbour of each peer come from rtnetlink and
 * are cached per peer address. Internal to libsmt (backend_raw.c).
 */
#ifndef SMT_XSK_TX_H
#define SMT_XSK_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <netinet/in.h>

#define SMT_XSK_ETH_LEN 14
#define SMT_XSK_IP_LEN 20
#define SMT_XSK_HDRS (SMT_XSK_ETH_LEN + SMT_XSK_IP_LEN)
#define SMT_XSK_FRAME 4096 /* UMEM chunk: the largest frame */
#define SMT_XSK_CACHE 64 /* cached peers per port (direct mapped) */

/* Where and how a packet to one IPv4 peer leaves. */
struct smt_xsk_route {
	struct in_addr dst; /* cache key */
	struct in_addr src; /* the route's preferred source */
	int ifindex;
	uint32_t mtu; /* of the interface */
	uint8_t smac[6], dmac[6];
	bool used; /* the slot holds dst */
	bool ok; /* usable: else the packet goes through the raw socket */
	uint64_t next_ns; /* look up again from then on */
};

/* Fields of the IPv4 header libsmt writes. */
struct smt_xsk_ip {
	uint8_t proto, tos;
	uint16_t id;
};

/*
 * Writes the Ethernet and IPv4 headers for r and the SMT packet pkt (len
 * bytes) into frame (room bytes). Returns the frame length, or 0 when it
 * does not fit in room or in the interface MTU.
 */
size_t smt_xsk_build_frame(uint8_t *frame, size_t room,
			   const struct smt_xsk_route *r,
			   const struct smt_xsk_ip *ip, const uint8_t *pkt,
			   size_t len);
/* The same with the SMT packet gathered from n pieces (its header and
 * the payload where it lies). */
size_t smt_xsk_build_framev(uint8_t *frame, size_t room,
			    const struct smt_xsk_route *r,
			    const struct smt_xsk_ip *ip, const struct iovec *v,
			    size_t n);
/* The Internet checksum of an IPv4 header (hlen bytes, check field 0). */
uint16_t smt_xsk_ip_csum(const void *hdr, size_t hlen);

/* Per-port state: a netlink socket and the peer cache. */
struct smt_xsk_port {
	int nl; /* NETLINK_ROUTE, -1 until first used */
	uint32_t seq;
	uint16_t ip_id;
	struct smt_xsk_route cache[SMT_XSK_CACHE];
};

void smt_xsk_port_init(struct smt_xsk_port *x);
void smt_xsk_port_fini(struct smt_xsk_port *x);
/*
 * The route to dst: from the cache while fresh, else looked up again (at
 * most once per second while it works, sooner after a failure). NULL when
 * the packet cannot go through an XSK (no usable neighbour, not Ethernet,
 * local, ...).
 */
const struct smt_xsk_route *smt_xsk_route(struct smt_xsk_port *x,
					  struct in_addr dst, uint64_t now_ns);

/* One AF_XDP socket and its UMEM (queue 0 of one interface). */
struct smt_xsk;

/* Users of the process-wide sockets: the last put closes them all. */
void smt_xsk_get(void);
void smt_xsk_put(void);
/* The socket of ifindex, created on first use (NULL if it cannot be: a
 * failure is retried at most once per second); priority: SO_PRIORITY. */
struct smt_xsk *smt_xsk_for(int ifindex, uint8_t priority, uint64_t now_ns);
/* Queueing a batch: lock, reserve + fill + commit per packet, unlock. */
void smt_xsk_lock(struct smt_xsk *s);
void smt_xsk_unlock(struct smt_xsk *s);
/* A free frame (reaping completions, kicking once if none): its address
 * in *frame, or false when the ring or the UMEM is full. */
bool smt_xsk_reserve(struct smt_xsk *s, uint8_t **frame);
/* Puts the frame of the last smt_xsk_reserve() on the TX ring. */
void smt_xsk_commit(struct smt_xsk *s, uint32_t len);
/* Returns the frame of the last smt_xsk_reserve() unused. */
void smt_xsk_cancel(struct smt_xsk *s);
/* Publishes the committed descriptors and asks the kernel to send them. */
void smt_xsk_kick(struct smt_xsk *s);

#endif /* SMT_XSK_TX_H */
