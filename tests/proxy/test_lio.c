// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of smt-proxy's batched local I/O (user/tools/smt-proxy/lio.c):
 * reads and sends of one pass issued together, through the ring and with
 * the plain calls, give the same results; -EAGAIN for an empty socket;
 * and the one-operation-per-descriptor-and-direction rule is enforced
 * (a second send of one descriptor in a pass is a bug: abort).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lio.h"

static int sp[2][2];

static void setup_pairs(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[0]), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[1]), 0);
}

static void teardown_pairs(void)
{
	int i, j;

	lio_close();
	for (i = 0; i < 2; i++)
		for (j = 0; j < 2; j++)
			close(sp[i][j]);
}

/* Two sends, a read with data waiting and an empty read, in one pass. */
static void one_pass(int want_ring)
{
	uint8_t in[64] = {0}, empty[8];
	struct lio_op s0 = {
		.p = (uint8_t *)"hello", .len = 5, .fd = sp[0][0], .send = 1};
	struct lio_op s1 = {
		.p = (uint8_t *)"world!", .len = 6, .fd = sp[1][0], .send = 1};
	struct lio_op r0, r1;
	uint64_t ops, calls;

	cr_assert_eq(lio_ring(), want_ring);
	lio_queue(&s0);
	lio_queue(&s1);
	cr_assert_eq(lio_run(), want_ring ? 1u : 2u);
	cr_assert_eq(s0.res, 5);
	cr_assert_eq(s1.res, 6);

	r0 = (struct lio_op){.p = in, .len = sizeof(in), .fd = sp[0][1]};
	r1 = (struct lio_op){.p = empty, .len = sizeof(empty), .fd = sp[0][0]};
	lio_queue(&r0);
	lio_queue(&r1);
	lio_run();
	cr_assert_eq(r0.res, 5);
	cr_assert_eq(memcmp(in, "hello", 5), 0);
	cr_assert_eq(r1.res, -EAGAIN, "an empty socket reads -EAGAIN, got %zd",
		     r1.res);
	lio_counts(&ops, &calls);
	cr_assert_eq(ops, 4);
}

TestSuite(lio, .init = setup_pairs, .fini = teardown_pairs);

Test(lio, ring_one_call_per_pass)
{
	unsetenv("SMT_PROXY_IO_URING");
	int r = lio_open(32);
	const char *ci = getenv("CI");

	/* CI's kernels have io_uring: there a refusal is a failure */
	if (r && ci && !strcmp(ci, "true"))
		cr_assert_fail("io_uring refused (%s) with CI=true",
			       strerror(-r));
	if (r)
		cr_skip_test("io_uring refused by this kernel (%s)",
			     strerror(-r));
	one_pass(1);
}

Test(lio, plain_calls_same_results)
{
	setenv("SMT_PROXY_IO_URING", "0", 1);
	cr_assert_eq(lio_open(32), -ECANCELED);
	one_pass(0);
}

/* A read and a send of one descriptor may share a pass (two streams);
 * after lio_run the descriptor may be queued again. */
Test(lio, read_and_send_of_one_fd_then_again)
{
	uint8_t b[8];
	struct lio_op s = {
		.p = (uint8_t *)"x", .len = 1, .fd = sp[0][0], .send = 1};
	struct lio_op r = {.p = b, .len = sizeof(b), .fd = sp[0][0]};
	int pass;

	unsetenv("SMT_PROXY_IO_URING");
	lio_open(32);
	for (pass = 0; pass < 3; pass++) {
		lio_queue(&r);
		lio_queue(&s);
		lio_run();
		cr_assert_eq(s.res, 1, "pass %d", pass);
	}
}

Test(lio, second_send_of_one_fd_in_a_pass_aborts, .signal = SIGABRT)
{
	struct lio_op a = {
		.p = (uint8_t *)"a", .len = 1, .fd = sp[0][0], .send = 1};
	struct lio_op b = a;

	lio_queue(&a);
	lio_queue(&b);
}
