/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A process-wide pool of message-sized heap buffers (docs/engine.md
 * "Buffers"): received messages' buffers that the application gave back
 * (smt_msg_release) and wire streams that were freed are kept, up to a
 * bound, for the next messages instead of going back to malloc. Every
 * buffer is an ordinary malloc() block: whatever the pool hands out may
 * be released with free(), and free() stays the way to release anything
 * libsmt allocated.
 *
 * Why: glibc gives the top of its heap back to the kernel (brk) when a
 * free leaves more than 128 KiB there, and a flow of 8 KiB messages
 * crosses that line back and forth: a server at 8 KiB x 32 outstanding
 * spent 15 % of its CPU in brk() and 8 % faulting the pages in again.
 */
#ifndef SMT_BUFPOOL_H
#define SMT_BUFPOOL_H

#include <stddef.h>
#include <stdint.h>

/* Sizes the pool serves: below, glibc's per-thread cache does better;
 * above, malloc maps and unmaps the block by itself. */
#define SMT_POOL_MIN 1024
#define SMT_POOL_MAX (128 * 1024)
/* What the pool holds at most, in buffers and in bytes. */
#define SMT_POOL_BUFS 128
#define SMT_POOL_BYTES (2 * 1024 * 1024)

/* A buffer of at least n bytes (malloc's block; never zeroed), from the
 * pool when it holds one of n to 2n bytes; NULL when out of memory. */
void *smt_pool_alloc(size_t n);
/* Keeps p (a malloc() block, or NULL) for a later smt_pool_alloc, or
 * frees it when its size is not the pool's or the pool is full. */
void smt_pool_free(void *p);

struct smt_pool_stats {
	uint64_t hits; /* smt_pool_alloc served from the pool */
	uint64_t misses; /* smt_pool_alloc of a pool size that called malloc */
	uint64_t kept, freed; /* smt_pool_free of a pool size: kept, freed */
	uint64_t bufs, bytes; /* held now */
};
void smt_pool_get_stats(struct smt_pool_stats *st);
/* Frees every buffer the pool holds (tests; the pool works on after). */
void smt_pool_drain(void);

#endif
