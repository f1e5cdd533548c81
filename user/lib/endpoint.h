/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libsmt internals shared by api.c, the backends and ctl_client.c: hooks
 * into an endpoint's event loop (watched file descriptors), enumeration of
 * its sessions (smtd re-registers them after a restart), and the raw IP
 * backend's interface. Not installed; applications use libsmt.h.
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
/* The IP protocol number the endpoint uses. */
uint8_t smt_ep_ipproto(const struct smt_endpoint *ep);

/* ---- raw IP backend (backend_raw.c) ----------------------------------- */

/*
 * One SMT port held by one endpoint on the process-wide raw socket pair of
 * one IP protocol number. The sockets are opened by the first port and
 * closed with the last; packets read by any port are handed to the port
 * their destination SMT port names (queued, with an eventfd wake-up, when
 * it belongs to another endpoint).
 */
/* CLOCK_MONOTONIC in nanoseconds: the endpoint's and the backend's clock. */
static inline uint64_t smt_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct smt_raw_port;

struct smt_raw_stats {
	uint64_t rx_no_endpoint; /* dport held by nobody in this process */
	uint64_t rx_bad_ip; /* malformed IP header or too short for ports */
	uint64_t rx_queue_full; /* dropped: another endpoint's queue full */
	uint64_t tx_errors; /* sendmmsg failures (packets) */
	uint64_t tx_packets, tx_bytes; /* both paths */
	uint64_t tx_xsk_packets; /* sent through an AF_XDP socket (xsk_tx) */
	uint64_t tx_xsk_fallback; /* xsk_tx on, sent by the raw socket */
};

/* Called for every packet of the port: smt points at the SMT header. */
typedef void (*smt_raw_rx_cb)(void *arg, const uint8_t *smt, size_t len,
			      const struct sockaddr_storage *peer, int ipv4_id);

/*
 * Holds SMT port `port` (0 = ephemeral) for protocol ipproto. mtu sizes the
 * buffers; priority (0..7) sets the sockets' SO_PRIORITY and TOS when they
 * are created; prio_tos marks every packet's TOS / traffic class with its
 * own SMT priority; xsk_tx sends IPv4 packets through AF_XDP sockets where
 * it can (xsk_tx.h). Returns 0, -SMT_E_NOCAP without CAP_NET_RAW,
 * -SMT_E_PORT_IN_USE, or -errno.
 */
int smt_raw_open(uint8_t ipproto, uint16_t port, uint32_t mtu, uint32_t rcvbuf,
		 uint8_t priority, bool prio_tos, bool xsk_tx,
		 struct smt_raw_port **out);
void smt_raw_close(struct smt_raw_port *p);
uint16_t smt_raw_port_num(const struct smt_raw_port *p);
/* File descriptors to poll: raw IPv4, raw IPv6 (-1 if IPv6 is off) and the
 * wake-up eventfd. */
void smt_raw_fds(const struct smt_raw_port *p, int fds[3]);
/* Sources of smt_raw_rx, in the order of smt_raw_fds(). */
#define SMT_RAW_RX_V4 0x1u
#define SMT_RAW_RX_V6 0x2u
#define SMT_RAW_RX_QUEUE 0x4u /* the wake-up eventfd */
#define SMT_RAW_RX_ALL 0x7u
/*
 * Reads up to budget packets and hands this port's to cb. *ready (NULL:
 * all) names the sources worth a system call (those the caller's poll
 * found readable); a source found empty (a short recvmmsg batch, or the
 * eventfd read) has its bit cleared, so the caller does not ask it again
 * until poll says so. Packets queued by other endpoints are always taken.
 * Returns how many were handed, or -errno.
 */
int smt_raw_rx(struct smt_raw_port *p, smt_raw_rx_cb cb, void *arg,
	       unsigned int budget, unsigned int *ready);
/* Queues one packet to peer (address; the port field is ignored); sends
 * the batch when it is full. 0 or -errno (-EMSGSIZE over the MTU). */
int smt_raw_tx(struct smt_raw_port *p, const struct sockaddr_storage *peer,
	       const uint8_t *pkt, size_t len, uint8_t prio);
/* Makes the port's wake-up eventfd readable (work is left for the next
 * smt_raw_rx call). */
void smt_raw_kick(struct smt_raw_port *p);
/* Sends every queued packet (sendmmsg). 0 or -errno. */
int smt_raw_flush(struct smt_raw_port *p);
void smt_raw_get_stats(const struct smt_raw_port *p, struct smt_raw_stats *s);

#endif /* SMT_ENDPOINT_H */
