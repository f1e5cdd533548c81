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
#include <stdlib.h>
#include <string.h>

/* Sizes the pool serves: below, glibc's per-thread cache does better;
 * above, malloc maps and unmaps the block by itself. */
#define SMT_POOL_MIN 1024
#define SMT_POOL_MAX (128 * 1024)

/* Size classes: class c holds blocks of 2^c to 2^(c+1) - 1 usable bytes,
 * c from 10 (SMT_POOL_MIN) to 17 (SMT_POOL_MAX); a request of n bytes
 * takes a block of class ceil(log2 n), or mallocs 2^ceil(log2 n) bytes.
 * Each class holds at most SMT_POOL_CLASS_BUFS(c) blocks, on its own: what
 * one message size left behind never keeps another size's blocks out, nor
 * makes a request walk past it. 64 blocks up to 16 KiB (an 8 KiB RPC's
 * wire stream is a 16 KiB block: 64 outstanding), 1 MiB nominal above;
 * blocks of the pool's own requests are 2^c, so the pool holds about
 * SMT_POOL_BYTES (5 MiB) at most, and under twice that whatever is freed
 * into it. */
#define SMT_POOL_MIN_SHIFT 10
#define SMT_POOL_MAX_SHIFT 17
#define SMT_POOL_CLASSES (SMT_POOL_MAX_SHIFT - SMT_POOL_MIN_SHIFT + 1)
#define SMT_POOL_CLASS_BUFS(c) \
	((c) <= 14 ? 64u : (unsigned int)((1024 * 1024) >> (c)))
#define SMT_POOL_BYTES ((64 * (1 + 2 + 4 + 8 + 16) + 3 * 1024) * 1024)

/* A buffer of at least n bytes (malloc's block; never zeroed), from the
 * pool when its class holds one; NULL when out of memory. */
void *smt_pool_alloc(size_t n);
/* Keeps p (a malloc() block, or NULL) for a later smt_pool_alloc, or
 * frees it when its size is not the pool's or its class is full. */
void smt_pool_free(void *p);

/* Elements of array a: the inline arrays that spare a small message a
 * malloc of its own (engine_tx.c, reasm.c). */
#define SMT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A zeroed block of n bytes for the objects every message allocates
 * (engine state, reassembly, events): malloc and memset rather than
 * calloc, whose glibc (2.36) path skips the per-thread cache and so costs
 * a trip through the arena for each of them (docs/engine.md "CPU per RPC
 * under load"). Released with free().
 */
static inline void *smt_zalloc(size_t n)
{
	void *p = malloc(n);

	/* opaque to the compiler, which would make the pair a calloc */
	__asm__("" : "+r"(p));
	if (p)
		memset(p, 0, n);
	return p;
}

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
