/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Reuseport groups: n endpoints of one process (one engine and thread each)
 * serving one SMT-over-UDP port (docs/api.md "Several endpoints on one
 * port", docs/engine.md). Their UDP sockets join one SO_REUSEPORT group
 * with a classic BPF program that steers each datagram by message: lane
 * smt_msg_lane(msg_id, n), which is the index of the member socket that
 * holds the message. A coalesced buffer (GRO, or a GSO buffer that crossed
 * a veth or loopback whole) is steered by its first datagram, so the
 * backend steers every datagram again in software and hands the ones of
 * another lane to that member through an in-process queue. The group also
 * keeps the counters the members' engines share per session.
 */
#ifndef SMT_RPGROUP_H
#define SMT_RPGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine.h"

struct smt_rpg;

/* A group of n members (2..SMT_ENGINE_LANES_MAX) whose datagrams are at
 * most max_dgram bytes, and one reference to
 * it; NULL with errno set. */
struct smt_rpg *smt_rpg_new(unsigned int n, size_t max_dgram);
void smt_rpg_get(struct smt_rpg *g);
void smt_rpg_put(struct smt_rpg *g);
unsigned int smt_rpg_size(const struct smt_rpg *g);

/* Sets SO_REUSEPORT on fd (before bind). 0 or -errno. */
int smt_rpg_sock_prebind(int fd);
/* Attaches the steering program for the group's size to fd's reuseport
 * group (after bind; members bind in lane order, so the kernel's socket
 * index is the lane). 0 or -errno. */
int smt_rpg_sock_attach(const struct smt_rpg *g, int fd);

/*
 * The lane a datagram (SMT header first) belongs to, as the kernel program
 * computes it: by msg_id, for an ACK by its first listed msg_id. -1 when
 * it does not parse as SMT (shorter than the header, another doff_ver, an
 * ACK without a listed ID): such a datagram stays where it arrived.
 */
int smt_rpg_lane(const uint8_t *smt, size_t len, unsigned int n);

/* Member `lane` starts receiving: kick_fd is written (an eventfd) when
 * its queue turns non-empty. */
void smt_rpg_join(struct smt_rpg *g, unsigned int lane, int kick_fd);
/* Member `lane` leaves: its queue is dropped, its lane goes to the lowest
 * member still there. */
void smt_rpg_leave(struct smt_rpg *g, unsigned int lane);
/* Is member `lane` open (joined and not left)? */
bool smt_rpg_alive(struct smt_rpg *g, unsigned int lane);
/* Work for member `lane`'s control hook (ctl_client.c: sessions smtd
 * handed the group): flag it and wake the member's thread. */
void smt_rpg_ctl_kick(struct smt_rpg *g, unsigned int lane);
/* Takes member `lane`'s flag: true once after each kick. */
bool smt_rpg_ctl_take(struct smt_rpg *g, unsigned int lane);

/*
 * The members a datagram goes to, in out[0..] (distinct; room for
 * SMT_ACK_MAX): the member of its lane (when that member left, the lowest
 * member still there); for an ACK, the members of every listed msg_id, so
 * that each engine hears of its own messages (each verifies the ACK by
 * itself). 0 when it does not parse: it stays where it arrived.
 */
unsigned int smt_rpg_targets(struct smt_rpg *g, const uint8_t *smt, size_t len,
			     unsigned int *out);
/* Queues a datagram for member to. false when its queue is full or it
 * left (the caller drops and counts it). */
bool smt_rpg_forward(struct smt_rpg *g, unsigned int to, const uint8_t *smt,
		     size_t len, const struct sockaddr_storage *peer);

typedef void (*smt_rpg_rx_cb)(void *arg, const uint8_t *smt, size_t len,
			      const struct sockaddr_storage *peer);
/* Hands member lane's queued datagrams to cb; returns how many. */
unsigned int smt_rpg_drain(struct smt_rpg *g, unsigned int lane,
			   smt_rpg_rx_cb cb, void *arg);

/* The counters shared by the members' engines for the session with peer
 * (address and SMT port), one reference; NULL when out of memory. */
struct smt_engine_share *smt_rpg_share_get(struct smt_rpg *g,
					   const struct sockaddr_storage *peer);
void smt_rpg_share_put(struct smt_rpg *g, struct smt_engine_share *sh);

#endif /* SMT_RPGROUP_H */
