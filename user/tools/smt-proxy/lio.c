// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-proxy: a pass's local reads and sends in one io_uring_enter (lio.h).
 * The ring is set up with the raw system calls (no liburing): one
 * submission queue filled in order, one completion queue read back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lio.h"

/* Operations queued before lio_run() issues them (more: issued early). */
#define LIO_QUEUE 256

static struct {
	int fd;
	unsigned int entries;
	unsigned int *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	void *sq_map, *cq_map;
	size_t sq_len, cq_len, sqes_len;
} ring = {.fd = -1};

static struct lio_op *queue[LIO_QUEUE];
static unsigned int nqueued;

/*
 * One operation per descriptor and direction per lio_run(): the ring may
 * run a pass's operations in any order, so two sends (or two reads) of one
 * stream in one pass could reorder its bytes. The caller keeps one op per
 * connection and direction; lio_queue() checks it with a bit per
 * descriptor (below LIO_FD_BITS) and direction, cleared by lio_run().
 */
#define LIO_FD_BITS 65536
static uint64_t queued_bits[2][LIO_FD_BITS / 64];

static bool queued_flip(const struct lio_op *op)
{
	uint64_t *w, bit;

	if (op->fd < 0 || op->fd >= LIO_FD_BITS)
		return false;
	w = &queued_bits[!!op->send][op->fd / 64];
	bit = 1ULL << (op->fd % 64);
	*w ^= bit;
	return !(*w & bit); /* it was set */
}
static uint64_t nops, ncalls;

void lio_counts(uint64_t *ops, uint64_t *calls)
{
	*ops = nops;
	*calls = ncalls;
}

int lio_ring(void)
{
	return ring.fd >= 0;
}

void lio_close(void)
{
	if (ring.sqes)
		munmap(ring.sqes, ring.sqes_len);
	if (ring.cq_map && ring.cq_map != ring.sq_map)
		munmap(ring.cq_map, ring.cq_len);
	if (ring.sq_map)
		munmap(ring.sq_map, ring.sq_len);
	if (ring.fd >= 0)
		close(ring.fd);
	memset(&ring, 0, sizeof(ring));
	ring.fd = -1;
}

int lio_open(unsigned int entries)
{
	struct io_uring_params p = {0};
	const char *env = getenv("SMT_PROXY_IO_URING");
	uint8_t *sq, *cq;
	int fd, err;

	if (env && !strcmp(env, "0"))
		return -ECANCELED;
	if (entries > LIO_QUEUE)
		entries = LIO_QUEUE;
	fd = (int)syscall(__NR_io_uring_setup, entries, &p);
	if (fd < 0)
		return -errno;
	ring.fd = fd;
	ring.entries = p.sq_entries;
	ring.sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	ring.cq_len =
		p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (ring.cq_len > ring.sq_len)
			ring.sq_len = ring.cq_len;
		ring.cq_len = ring.sq_len;
	}
	ring.sq_map = mmap(NULL, ring.sq_len, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	if (ring.sq_map == MAP_FAILED) {
		ring.sq_map = NULL;
		goto fail;
	}
	ring.cq_map = ring.sq_map;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
		ring.cq_map = mmap(NULL, ring.cq_len, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_POPULATE, fd,
				   IORING_OFF_CQ_RING);
		if (ring.cq_map == MAP_FAILED) {
			ring.cq_map = NULL;
			goto fail;
		}
	}
	ring.sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	ring.sqes = mmap(NULL, ring.sqes_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (ring.sqes == MAP_FAILED) {
		ring.sqes = NULL;
		goto fail;
	}
	sq = ring.sq_map;
	cq = ring.cq_map;
	ring.sq_head = (unsigned int *)(sq + p.sq_off.head);
	ring.sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	ring.sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	ring.sq_array = (unsigned int *)(sq + p.sq_off.array);
	ring.cq_head = (unsigned int *)(cq + p.cq_off.head);
	ring.cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	ring.cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	ring.cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
fail:
	err = -errno;
	lio_close();
	return err;
}

void lio_queue(struct lio_op *op)
{
	if (nqueued == LIO_QUEUE)
		lio_run();
	if (queued_flip(op)) {
		fprintf(stderr,
			"smt-proxy: bug: a second %s of descriptor %d "
			"queued in one pass\n",
			op->send ? "send" : "read", op->fd);
		abort();
	}
	queue[nqueued++] = op;
}

/* op done with the plain system call, as non-blocking as the ring's. */
static void lio_one(struct lio_op *op)
{
	ssize_t r = op->send ? send(op->fd, op->p, op->len,
				    MSG_NOSIGNAL | MSG_DONTWAIT)
			     : recv(op->fd, op->p, op->len, MSG_DONTWAIT);

	op->res = r < 0 ? (errno == EINTR ? -EAGAIN : -errno) : r;
}

/* Issues queue[from..from+n) (n <= the ring's entries) through the ring;
 * the system calls it made, or 0 when the ring failed before taking any
 * (then nothing was issued). */
static unsigned int lio_ring_run(unsigned int from, unsigned int n)
{
	unsigned int start = *ring.sq_tail, tail = start, mask = *ring.sq_mask;
	unsigned int i, head, got = 0, taken, calls = 0;
	struct io_uring_sqe *e;
	struct io_uring_cqe *c;
	struct lio_op *op;

	for (i = 0; i < n; i++, tail++) {
		op = queue[from + i];
		e = &ring.sqes[tail & mask];
		memset(e, 0, sizeof(*e));
		e->opcode = op->send ? IORING_OP_SEND : IORING_OP_RECV;
		e->fd = op->fd;
		e->addr = (uint64_t)(uintptr_t)op->p;
		e->len = (uint32_t)op->len;
		/* never waits for the socket: completed (or -EAGAIN) inside
		 * the io_uring_enter that issues it */
		e->msg_flags = MSG_DONTWAIT | (op->send ? MSG_NOSIGNAL : 0);
		e->user_data = (uint64_t)(uintptr_t)op;
		ring.sq_array[tail & mask] = tail & mask;
	}
	__atomic_store_n(ring.sq_tail, tail, __ATOMIC_RELEASE);
	for (;;) {
		taken = __atomic_load_n(ring.sq_head, __ATOMIC_ACQUIRE) - start;
		if (taken == n)
			break;
		calls++;
		if (syscall(__NR_io_uring_enter, ring.fd, n - taken, 0, 0, NULL,
			    0) >= 0 ||
		    errno == EINTR || errno == EAGAIN || errno == EBUSY)
			continue;
		taken = __atomic_load_n(ring.sq_head, __ATOMIC_ACQUIRE) - start;
		/* the ring refused them: the rest with the plain calls */
		__atomic_store_n(ring.sq_tail, start + taken, __ATOMIC_RELEASE);
		if (!taken)
			return 0;
		for (i = taken; i < n; i++) {
			lio_one(queue[from + i]);
			calls++;
		}
		n = taken;
		break;
	}
	for (;;) {
		head = *ring.cq_head;
		while (head !=
		       __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE)) {
			c = &ring.cqes[head & *ring.cq_mask];
			op = (struct lio_op *)(uintptr_t)c->user_data;
			op->res = c->res == -EINTR ? -EAGAIN : c->res;
			head++;
			got++;
		}
		__atomic_store_n(ring.cq_head, head, __ATOMIC_RELEASE);
		if (got >= n)
			return calls;
		/* (not expected: each completes in the enter that issued it) */
		calls++;
		syscall(__NR_io_uring_enter, ring.fd, 0, n - got,
			IORING_ENTER_GETEVENTS, NULL, 0);
	}
}

unsigned int lio_run(void)
{
	unsigned int i = 0, n, k, calls = 0;

	while (i < nqueued) {
		n = nqueued - i;
		if (ring.fd < 0 || n == 1) {
			lio_one(queue[i++]);
			calls++;
			continue;
		}
		if (n > ring.entries)
			n = ring.entries;
		k = lio_ring_run(i, n);
		if (!k) {
			lio_close(); /* the plain calls from here on */
			continue;
		}
		i += n;
		calls += k;
	}
	for (i = 0; i < nqueued; i++)
		queued_flip(queue[i]);
	nops += nqueued;
	ncalls += calls;
	nqueued = 0;
	return calls;
}
