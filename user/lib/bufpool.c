// SPDX-License-Identifier: BSD-2-Clause
/*
 * The message buffer pool (bufpool.h). A held buffer keeps its list link
 * and its usable size in its own first bytes, so the pool allocates
 * nothing of its own; one mutex guards it, as smt_msg_release() may run
 * on any thread. First fit over at most SMT_POOL_BUFS buffers, most
 * recently kept first: a steady flow of one message size takes the
 * buffer it gave back a moment ago.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include "bufpool.h"

struct pool_node {
	struct pool_node *next;
	size_t size;
};

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pool_node *pool_head;
static struct smt_pool_stats pool_st;

void *smt_pool_alloc(size_t n)
{
	struct pool_node **pp, *b;

	if (n < SMT_POOL_MIN || n > SMT_POOL_MAX)
		return malloc(n ? n : 1);
	pthread_mutex_lock(&pool_mu);
	for (pp = &pool_head; (b = *pp); pp = &b->next)
		if (b->size >= n && b->size <= 2 * n)
			break;
	if (b) {
		*pp = b->next;
		pool_st.bufs--;
		pool_st.bytes -= b->size;
		pool_st.hits++;
	} else {
		pool_st.misses++;
	}
	pthread_mutex_unlock(&pool_mu);
	return b ? (void *)b : malloc(n);
}

void smt_pool_free(void *p)
{
	struct pool_node *b = p;
	size_t size;

	if (!p)
		return;
	size = malloc_usable_size(p);
	if (size < SMT_POOL_MIN || size > SMT_POOL_MAX) {
		free(p);
		return;
	}
	pthread_mutex_lock(&pool_mu);
	if (pool_st.bufs >= SMT_POOL_BUFS ||
	    pool_st.bytes + size > SMT_POOL_BYTES) {
		pool_st.freed++;
		pthread_mutex_unlock(&pool_mu);
		free(p);
		return;
	}
	b->size = size;
	b->next = pool_head;
	pool_head = b;
	pool_st.bufs++;
	pool_st.bytes += size;
	pool_st.kept++;
	pthread_mutex_unlock(&pool_mu);
}

void smt_pool_get_stats(struct smt_pool_stats *st)
{
	pthread_mutex_lock(&pool_mu);
	*st = pool_st;
	pthread_mutex_unlock(&pool_mu);
}

void smt_pool_drain(void)
{
	struct pool_node *b;

	pthread_mutex_lock(&pool_mu);
	b = pool_head;
	pool_head = NULL;
	pool_st.bufs = 0;
	pool_st.bytes = 0;
	pthread_mutex_unlock(&pool_mu);
	while (b) {
		struct pool_node *next = b->next;

		free(b);
		b = next;
	}
}
