/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libsmt internals shared by api.c, the backends and ctl_client.c: hooks
 * into an endpoint's event loop (watched file descriptors), enumeration of
 * its sessions (smtd re-registers them after a restart), and the backend
 * interface. Not installed; applications use libsmt.h.
 */
#ifndef SMT_ENDPOINT_H
#define SMT_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "libsmt.h"

/* ---- event loop hooks (for ctl_client.c) ------------------------------- */

typedef void (*smt_ep_watch_cb)(struct smt_endpoint *ep, int fd, void *arg);

/*
 * Adds fd to the endpoint's epoll set (smt_fd()): when it is readable,
 * smt_process() calls cb(ep, fd, arg). The endpoint does not own fd.
 * 0, -EEXIST if fd is watched already, or -errno.
 */
int smt_ep_watch_fd(struct smt_endpoint *ep, int fd, smt_ep_watch_cb cb,
		    void *arg);
/* Stops watching fd (safe to call from its own callback). 0 or -ENOENT. */
int smt_ep_unwatch_fd(struct smt_endpoint *ep, int fd);

/*
 * Session handles of the endpoint in ids[0..max); returns how many sessions
 * exist (may exceed max; call again with a larger array).
 */
int smt_ep_sessions(struct smt_endpoint *ep, uint32_t *ids, size_t max);
/* Copies a session's parameters, keys included (wipe them after use). */
int smt_ep_session_params(struct smt_endpoint *ep, uint32_t id,
			  struct smt_session_params *out);
/* smt_session_rekey() under the name ctl_client.c looks up (weakly). */
int smt_ep_session_rekey(struct smt_endpoint *ep, uint32_t id,
			 const struct smt_session_params *p);
/* Queues an SMT_MSG_SESSION_UP message for the application. */
int smt_ep_notify_session_up(struct smt_endpoint *ep, uint32_t id);
/* Endpoints in the endpoint's reuseport group (1: alone on its port). */
unsigned int smt_ep_lanes(const struct smt_endpoint *ep);
/* The endpoint's reuseport group (NULL: alone on its port) and its lane
 * (member index) in it. */
struct smt_rpg *smt_ep_group(const struct smt_endpoint *ep);
unsigned int smt_ep_lane(const struct smt_endpoint *ep);
/*
 * What ctl_client.c (smt_connect, smt_serve) needs done by api.c, which
 * does not call into it: ctl_client.c registers these at its first use
 * (a process that never uses smtd links and runs none of it).
 * endpoint_closed: forget ep's control state, first thing in
 * smt_endpoint_close; group_work: a group member's control work, in the
 * member's thread (smt_process, once per smt_rpg_ctl_kick); later: work
 * ctl_client.c put off with smt_ep_ctl_later, at the end of the first
 * smt_process that leaves the caller nothing to read (its first request
 * and answer are through by then: off a set-up's path), or of the 16th.
 */
struct smt_ctl_hooks {
	void (*endpoint_closed)(struct smt_endpoint *ep);
	void (*group_work)(struct smt_endpoint *ep);
	void (*later)(struct smt_endpoint *ep);
};
void smt_ep_ctl_hooks(const struct smt_ctl_hooks *h);
void smt_ep_ctl_later(struct smt_endpoint *ep);
/* The IP protocol number the endpoint uses. */
uint8_t smt_ep_ipproto(const struct smt_endpoint *ep);

/* CLOCK_MONOTONIC in nanoseconds: the endpoint's and the backends' clock. */
static inline uint64_t smt_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- backends -------------------------------------------------------- */

/*
 * A backend moves an endpoint's SMT packets (header first, no IP or UDP
 * header) to and from the network for one local SMT port. api.c reaches
 * every backend through struct smt_bk_ops only: the raw IP backend
 * (backend_raw.c, native IP, with its opt-in AF_XDP transmit path), the UDP
 * backend (backend_udp.c, SMT over UDP) and, in unit tests, in-memory
 * backends. The engine above never learns the encapsulation; the
 * endpoint only sizes packets by the backend's encap_hdr.
 */
#define SMT_BK_FDS 4 /* file descriptors a backend asks to be polled */

struct smt_bk_stats {
	uint64_t rx_no_endpoint; /* dport held by nobody in this process */
	uint64_t rx_bad_ip; /* malformed IP header or too short for ports */
	uint64_t rx_queue_full; /* dropped: another endpoint's queue full */
	uint64_t rx_port_mismatch; /* UDP: SMT ports are not the UDP ports */
	uint64_t rx_icmp_errors; /* UDP: ICMP errors for packets sent */
	uint64_t tx_errors; /* packets the kernel refused */
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_xsk_packets; /* raw, xsk_tx: sent through AF_XDP */
	uint64_t tx_xsk_fallback; /* raw, xsk_tx: sent by the raw socket */
	uint64_t tx_calls, rx_calls; /* send and receive system calls */
	uint64_t tx_gso_sends, tx_gso_segments; /* UDP GSO messages, their
						   datagrams */
	uint64_t tx_gso_fallback; /* GSO refused (EIO): off from then on */
	uint64_t rx_gro_bufs, rx_gro_segments; /* coalesced receives */
	uint64_t udp_gso, udp_gro; /* 1: the offload is in use */
	uint64_t rx_steered_out; /* UDP group: handed to another member */
	uint64_t rx_steered_in; /* UDP group: received from another member */
	uint64_t rx_steer_drops; /* UDP group: that member's queue full */
	uint64_t rx_ack_copies; /* UDP group: copies of an ACK of ours
				   handed to other members it names */
};

/* What an endpoint asks of its backend (smt_endpoint_opts, resolved). */
struct smt_bk_cfg {
	uint8_t ipproto; /* native IP protocol number (raw backend) */
	uint16_t port; /* 0 = an ephemeral port, 49152..65535 */
	uint32_t mtu; /* sizes the buffers; packets never exceed it */
	uint32_t rcvbuf; /* socket buffer bytes */
	uint8_t priority; /* 0..7: SO_PRIORITY and TOS of the sockets */
	bool prio_tos; /* TOS / traffic class per packet from its prio */
	bool xsk_tx; /* raw backend: AF_XDP transmit path (xsk_tx.h) */
	bool no_offload; /* UDP backend: no GSO/GRO */
	struct smt_rpg *group; /* UDP backend: reuseport group (rpgroup.h) */
	unsigned int lane; /* this member's lane in group */
};

/*
 * Called for every received packet of the backend's port: smt points at
 * the SMT header, peer holds the peer's address and SMT port, ipv4_id is
 * the IPv4 ID (IPID_OFF) or -1 when the backend cannot see it.
 */
typedef void (*smt_bk_rx_cb)(void *arg, const uint8_t *smt, size_t len,
			     const struct sockaddr_storage *peer, int ipv4_id);

struct smt_bk;

struct smt_bk_ops {
	const char *name;
	/* Bytes of encapsulation between the IP header and the SMT header
	 * (0 native, 8 UDP): payload per packet shrinks by as much. */
	uint32_t encap_hdr;
	/* File descriptors to poll for POLLIN, -1 for unused slots. Bit i of
	 * the rx() readiness mask stands for fds[i]. */
	void (*fds)(const struct smt_bk *b, int fds[SMT_BK_FDS]);
	/* Bits of fds() shared by every endpoint of the process (the raw
	 * backend's sockets): each endpoint polls them with EPOLLEXCLUSIVE,
	 * so that a packet wakes one waiting endpoint, which hands the
	 * others' packets over, instead of every endpoint at once. */
	unsigned int shared_fds;
	/*
	 * Reads up to budget packets of this port and hands them to cb.
	 * *ready names the sources worth a system call (those poll found
	 * readable, or that the caller wants asked again); a source found
	 * empty has its bit cleared. Bit i << SMT_BK_FDS says that fds[i]
	 * polled EPOLLERR (its error queue is worth reading); rx clears it.
	 * Returns packets handed, or -errno.
	 */
	int (*rx)(struct smt_bk *b, smt_bk_rx_cb cb, void *arg,
		  unsigned int budget, unsigned int *ready);
	/* Queues one packet to peer (address and SMT port); may send a
	 * full batch. 0 or -errno (-EMSGSIZE over the MTU). */
	int (*tx)(struct smt_bk *b, const struct sockaddr_storage *peer,
		  const uint8_t *pkt, size_t len, uint8_t prio);
	/* Sends every queued packet. 0 or -errno. */
	int (*flush)(struct smt_bk *b);
	/* Optional: the buffer the next tx() to peer queues (room for len
	 * bytes; a full batch is sent first), or NULL. A packet built there
	 * and handed to tx() is queued without a copy. */
	uint8_t *(*tx_buf)(struct smt_bk *b,
			   const struct sockaddr_storage *peer, size_t len);
	/* Optional, with tx_buf: tx() of a packet whose last plen bytes are
	 * sent from payload, where they lie (their own iovec, no copy); they
	 * must stay there until the next flush() returns. */
	int (*txv)(struct smt_bk *b, const struct sockaddr_storage *peer,
		   const uint8_t *pkt, size_t len, const uint8_t *payload,
		   size_t plen, uint8_t prio);
	/* Makes one of fds() readable, so that the caller comes back to rx()
	 * for work left over (the bit of that fd in wake_bit). */
	void (*kick)(struct smt_bk *b);
	void (*stats)(const struct smt_bk *b, struct smt_bk_stats *s);
	/* Optional: true when an ICMP error reported peer (address and
	 * port) unreachable at or after since_ns. Only explains a failure
	 * (ICMP is not authenticated): it never ends an RPC by itself. */
	bool (*unreachable)(const struct smt_bk *b,
			    const struct sockaddr_storage *peer,
			    uint64_t since_ns);
	/* Optional: a session with peer was added (sockets of its address
	 * family get ready for its traffic before it comes). */
	void (*peer_added)(struct smt_bk *b,
			   const struct sockaddr_storage *peer);
	/* Flushes, releases the port and frees b. */
	void (*close)(struct smt_bk *b);
};

/* Every backend's state starts with this. */
struct smt_bk {
	const struct smt_bk_ops *ops;
	uint16_t port; /* the SMT port held */
	/* rx() readiness bits of the sockets that packets arrive on (asked
	 * again while a transfer keeps the endpoint busy) */
	unsigned int sock_bits;
	/* the sockets are this endpoint's alone: rx() may be tried before
	 * epoll says they are readable (smt_process, ep_spec_read) */
	bool spec_rx;
};

/*
 * Opens the raw IP backend (native IP, protocol cfg->ipproto; one raw
 * socket pair per protocol shared by the process's endpoints). 0,
 * -SMT_E_NOCAP without CAP_NET_RAW, -SMT_E_PORT_IN_USE, or -errno.
 */
int smt_raw_open(const struct smt_bk_cfg *cfg, struct smt_bk **out);
/*
 * Opens the UDP backend (SMT over UDP, docs/protocol.md 1.1): a UDP socket
 * per address family bound to the SMT port. Needs no capability. 0,
 * -SMT_E_PORT_IN_USE, or -errno.
 */
int smt_udp_open(const struct smt_bk_cfg *cfg, struct smt_bk **out);

/*
 * Opens an endpoint on a backend the caller made (unit tests: in-memory
 * backends). The endpoint owns b from then on, also on failure; opts'
 * port, ipproto, backend and socket options are ignored.
 */
int smt_endpoint_open_on(const struct smt_endpoint_opts *opts, struct smt_bk *b,
			 struct smt_endpoint **out);

#endif /* SMT_ENDPOINT_H */
