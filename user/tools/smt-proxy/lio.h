/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smt-proxy: the local hops' reads and sends of one event-loop pass in one
 * system call (io_uring). Each of the proxy's local reads and sends (the
 * client's connections, the server's backend connections) was a system
 * call of its own, 1.0 read and 1.0 send per request per proxy, and a
 * system call costs 1.4 to 2 us on the hosts measured (docs/performance-redis.md,
 * issue-16 notes of 2026-12-07 11:00): a pass that reads or writes k
 * connections queues them here and lio_run() issues all k with one
 * io_uring_enter. Every operation is non-blocking (MSG_DONTWAIT: io_uring
 * completes it at once, -EAGAIN when the socket has no data or no room),
 * so lio_run() never waits for a socket.
 *
 * Without io_uring (an old kernel, a seccomp filter, kernel.io_uring_disabled)
 * or with a single operation queued, lio_run() makes the plain read and
 * send system calls instead: the same results.
 */
#ifndef SMT_PROXY_LIO_H
#define SMT_PROXY_LIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One queued operation: its result lands in res. */
struct lio_op {
	uint8_t *p; /* where to read to / what to send */
	size_t len;
	int fd;
	int send; /* 1: send (MSG_NOSIGNAL), 0: read */
	/* bytes, 0 at EOF (read), -EAGAIN for nothing now, or -errno */
	ssize_t res;
};

/* Sets up the ring (entries: operations issued per system call). 0, or a
 * negative errno: lio_run() then uses one system call per operation.
 * SMT_PROXY_IO_URING=0 in the environment leaves the ring off (-ECANCELED). */
int lio_open(unsigned int entries);

/* Whether the ring is in use (smtctl proxy show: "io_uring"). */
int lio_ring(void);

void lio_close(void);

/* Queues op (op must stay valid until lio_run returns). */
void lio_queue(struct lio_op *op);

/* Operations issued and the system calls they took, since the start. */
void lio_counts(uint64_t *ops, uint64_t *calls);

/* Issues everything queued, fills each op's res; returns the number of
 * system calls it made (counted for smtctl proxy show). */
unsigned int lio_run(void);

#endif
