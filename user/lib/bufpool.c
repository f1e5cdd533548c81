// SPDX-License-Identifier: BSD-2-Clause
/*
 * The message buffer pool (bufpool.h). A held buffer keeps its list link
 * and its usable size in its own first bytes, so the pool allocates
 * nothing of its own. One list per size class, each with its own mutex
 * (smt_msg_release() may run on any thread): a request takes the head of
 * its class's list or mallocs a block of the class's size, in constant
 * time, most recently kept first (a steady flow of one message size takes
 * the buffer it gave back a moment ago).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include "bufpool.h"

struct pool_node {
	struct pool_node *next;
	size_t size;
};

struct pool_class {
	pthread_mutex_t mu;
	struct pool_node *head;
	struct smt_pool_stats st;
} __attribute__((aligned(64)));

#define CLASS_INIT                              \
	{                                       \
		.mu = PTHREAD_MUTEX_INITIALIZER \
	}
static struct pool_class pool[SMT_POOL_CLASSES] = {
	CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT,
	CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT,
};
_Static_assert(SMT_POOL_CLASSES == 8, "one CLASS_INIT per class");

/* floor(log2 n), n > 0 */
static unsigned int log2_floor(size_t n)
{
	return 63 - (unsigned int)__builtin_clzll((unsigned long long)n);
}

void *smt_pool_alloc(size_t n)
{
	struct pool_class *pc;
	struct pool_node *b;
	unsigned int c;

	if (n < SMT_POOL_MIN || n > SMT_POOL_MAX)
		return malloc(n ? n : 1);
	c = log2_floor(n - 1) + 1; /* ceil(log2 n): n >= 1024 */
	pc = &pool[c - SMT_POOL_MIN_SHIFT];
	pthread_mutex_lock(&pc->mu);
	b = pc->head;
	if (b) {
		pc->head = b->next;
		pc->st.bufs--;
		pc->st.bytes -= b->size;
		pc->st.hits++;
	} else {
		pc->st.misses++;
	}
	pthread_mutex_unlock(&pc->mu);
	return b ? (void *)b : malloc((size_t)1 << c);
}

void smt_pool_free(void *p)
{
	struct pool_node *b = p;
	struct pool_class *pc;
	unsigned int c;
	size_t size;

	if (!p)
		return;
	size = malloc_usable_size(p);
	if (size < SMT_POOL_MIN || size >= 2 * (size_t)SMT_POOL_MAX) {
		free(p);
		return;
	}
	c = log2_floor(size);
	pc = &pool[c - SMT_POOL_MIN_SHIFT];
	pthread_mutex_lock(&pc->mu);
	if (pc->st.bufs >= SMT_POOL_CLASS_BUFS(c)) {
		pc->st.freed++;
		pthread_mutex_unlock(&pc->mu);
		free(p);
		return;
	}
	b->size = size;
	b->next = pc->head;
	pc->head = b;
	pc->st.bufs++;
	pc->st.bytes += size;
	pc->st.kept++;
	pthread_mutex_unlock(&pc->mu);
}

void smt_pool_get_stats(struct smt_pool_stats *st)
{
	unsigned int i;

	*st = (struct smt_pool_stats){0};
	for (i = 0; i < SMT_POOL_CLASSES; i++) {
		struct pool_class *pc = &pool[i];

		pthread_mutex_lock(&pc->mu);
		st->hits += pc->st.hits;
		st->misses += pc->st.misses;
		st->kept += pc->st.kept;
		st->freed += pc->st.freed;
		st->bufs += pc->st.bufs;
		st->bytes += pc->st.bytes;
		pthread_mutex_unlock(&pc->mu);
	}
}

void smt_pool_drain(void)
{
	unsigned int i;

	for (i = 0; i < SMT_POOL_CLASSES; i++) {
		struct pool_class *pc = &pool[i];
		struct pool_node *b;

		pthread_mutex_lock(&pc->mu);
		b = pc->head;
		pc->head = NULL;
		pc->st.bufs = 0;
		pc->st.bytes = 0;
		pthread_mutex_unlock(&pc->mu);
		while (b) {
			struct pool_node *next = b->next;

			free(b);
			b = next;
		}
	}
}
