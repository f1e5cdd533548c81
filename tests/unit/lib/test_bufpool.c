// SPDX-License-Identifier: BSD-2-Clause
/*
 * The message buffer pool (user/lib/bufpool.c): what it keeps, what it
 * hands out again, and its bounds.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bufpool.h"

static struct smt_pool_stats pool_stats(void)
{
	struct smt_pool_stats st;

	smt_pool_get_stats(&st);
	return st;
}

Test(bufpool, a_freed_buffer_serves_the_next_of_about_its_size)
{
	uint8_t *a, *b, *c;

	smt_pool_drain();
	a = smt_pool_alloc(8192);
	cr_assert_not_null(a);
	memset(a, 1, 8192);
	smt_pool_free(a);
	cr_assert_eq(pool_stats().bufs, 1);
	/* 5000 bytes fit in it, and it is less than twice as large */
	b = smt_pool_alloc(5000);
	cr_assert_eq(b, a, "the kept buffer comes back");
	cr_assert_geq(malloc_usable_size(b), 5000);
	cr_assert_eq(pool_stats().bufs, 0);
	smt_pool_free(b);
	/* 3000 bytes would waste more than half of it: a new one */
	c = smt_pool_alloc(3000);
	cr_assert_neq(c, a);
	cr_assert_eq(pool_stats().bufs, 1);
	/* larger than any kept: a new one */
	b = smt_pool_alloc(9000);
	cr_assert_neq(b, a);
	free(b); /* a pool buffer is a malloc block */
	free(c);
	cr_assert_eq(pool_stats().hits, 1);
	smt_pool_drain();
	cr_assert_eq(pool_stats().bufs, 0);
	cr_assert_eq(pool_stats().bytes, 0);
}

Test(bufpool, sizes_outside_the_pool_go_to_malloc)
{
	void *small, *large;

	smt_pool_drain();
	small = smt_pool_alloc(SMT_POOL_MIN / 2);
	large = smt_pool_alloc(SMT_POOL_MAX + 1);
	cr_assert(small && large);
	smt_pool_free(small);
	smt_pool_free(large);
	smt_pool_free(NULL);
	cr_assert_eq(pool_stats().bufs, 0, "neither kept");
	cr_assert_eq(pool_stats().misses, 0, "neither counted");
}

Test(bufpool, holds_at_most_its_bound_in_buffers_and_bytes)
{
	enum { N = SMT_POOL_BUFS + 10 };
	static void *p[N];
	struct smt_pool_stats st;
	unsigned int i;

	smt_pool_drain();
	for (i = 0; i < N; i++)
		p[i] = smt_pool_alloc(2048);
	for (i = 0; i < N; i++)
		smt_pool_free(p[i]);
	st = pool_stats();
	cr_assert_eq(st.bufs, SMT_POOL_BUFS);
	cr_assert_eq(st.kept, SMT_POOL_BUFS);
	cr_assert_eq(st.freed, 10);
	smt_pool_drain();
	/* 64 KiB buffers: the byte bound comes first */
	for (i = 0; i < 40; i++)
		p[i] = smt_pool_alloc(64 * 1024);
	for (i = 0; i < 40; i++)
		smt_pool_free(p[i]);
	st = pool_stats();
	cr_assert_leq(st.bytes, SMT_POOL_BYTES);
	cr_assert_lt(st.bufs, 40);
	cr_assert_geq(st.bufs, SMT_POOL_BYTES / (64 * 1024 + 4096));
	smt_pool_drain();
}
