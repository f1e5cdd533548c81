/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Batches of datagrams for recvmmsg/sendmmsg, shared by the socket
 * backends (backend_raw.c, backend_udp.c): fixed slots with their own
 * buffers, addresses and a TOS/traffic-class cmsg each, sorted by SMT
 * priority before they leave. Also the socket options both backends set.
 * Internal to libsmt.
 */
#ifndef SMT_SOCKBATCH_H
#define SMT_SOCKBATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define SMT_BATCH 64

struct smt_sock_batch {
	struct mmsghdr msg[SMT_BATCH];
	struct iovec iov[SMT_BATCH]; /* the slots' own buffers */
	/* tx: what msg[i] sends, the packet and the payload it points to */
	struct iovec tx_iov[SMT_BATCH][2];
	struct sockaddr_storage name[SMT_BATCH];
	uint8_t *buf; /* SMT_BATCH * bufsz */
	uint32_t bufsz;
	unsigned int n;
	/* rx: slots [0, rx_set) point at their buffer, name and control
	 * space; of those, [0, rx_used) may hold what a recvmmsg wrote back
	 * (lengths, flags) */
	unsigned int rx_set, rx_used;
	uint8_t prio[SMT_BATCH]; /* tx: SMT priority of msg[i] */
	/* tx: IP_TOS / IPV6_TCLASS per packet (prio_tos) */
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(int))];
	} ctl[SMT_BATCH];
};

/* Counters a send updates. */
struct smt_batch_tx_stats {
	uint64_t *packets, *bytes, *errors, *calls;
};

int smt_batch_init(struct smt_sock_batch *b, uint32_t bufsz);
void smt_batch_free(struct smt_sock_batch *b);
/* Sets up the first n (<= SMT_BATCH) slots for recvmmsg, each with room
 * for one int-sized control message. */
void smt_batch_prepare_rx(struct smt_sock_batch *b, unsigned int n);
/* What the recvmmsg on the prepared slots returned: the next
 * smt_batch_prepare_rx() resets only the slots it may have written. */
void smt_batch_rx_done(struct smt_sock_batch *b, int ret);
/* The buffer of the next slot (the batch must have room): a packet built
 * there is not copied by smt_batch_add(). */
static inline uint8_t *smt_batch_slot(struct smt_sock_batch *b)
{
	return b->iov[b->n].iov_base;
}
/*
 * Appends one datagram to peer (copied unless it was built in
 * smt_batch_slot(); len <= bufsz, the caller checks);
 * with prio_tos its TOS / traffic class is prio << 5. keep_port false
 * sends to port 0 (raw sockets take none). The batch must have room.
 */
void smt_batch_add(struct smt_sock_batch *b,
		   const struct sockaddr_storage *peer, bool keep_port,
		   const uint8_t *pkt, size_t len, uint8_t prio, bool prio_tos);
/* The same with plen bytes of payload after the packet's len: sent from
 * where they lie (an iovec of their own), so they must stay put until the
 * batch is sent (len + plen <= bufsz). */
void smt_batch_addv(struct smt_sock_batch *b,
		    const struct sockaddr_storage *peer, bool keep_port,
		    const uint8_t *pkt, size_t len, const uint8_t *payload,
		    size_t plen, uint8_t prio, bool prio_tos);
/* Bytes of datagram h (the sum of its iovecs). */
size_t smt_batch_len(const struct msghdr *h);
/* Highest SMT priority first, FIFO within one (a link queue is FIFO, so
 * a small message's packet made after a large burst still leaves first). */
void smt_batch_sort(struct smt_sock_batch *b);
/* sendmmsg of the whole batch (a packet the kernel refuses is skipped and
 * counted); empties it. 0 or the last -errno. */
int smt_batch_send(struct smt_sock_batch *b, int fd,
		   const struct smt_batch_tx_stats *st);

/*
 * Buffer sizes (FORCE past rmem_max with CAP_NET_ADMIN, else best
 * effort), SO_PRIORITY and TOS class from priority.
 */
void smt_sock_setup(int fd, int family, uint32_t bufsz, uint8_t priority);

#endif /* SMT_SOCKBATCH_H */
