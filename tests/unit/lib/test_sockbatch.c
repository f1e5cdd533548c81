// SPDX-License-Identifier: BSD-2-Clause
/*
 * The socket batch's receive slots: smt_batch_prepare_rx() resets only
 * what the last recvmmsg may have written back (smt_batch_rx_done), so
 * every prepared slot must look as a freshly set up one does, whatever
 * the previous call wrote and whether the batch sent meanwhile.
 */
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "sockbatch.h"

#define BUFSZ 2048

/* Slots [0, n) as recvmmsg must find them. */
static void assert_prepared(const struct smt_sock_batch *b, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		const struct msghdr *h = &b->msg[i].msg_hdr;

		cr_assert_eq(h->msg_iov, &b->iov[i], "slot %u", i);
		cr_assert_eq(h->msg_iovlen, 1, "slot %u", i);
		cr_assert_eq(b->iov[i].iov_base, b->buf + (size_t)i * BUFSZ);
		cr_assert_eq(b->iov[i].iov_len, BUFSZ, "slot %u", i);
		cr_assert_eq(h->msg_name, &b->name[i], "slot %u", i);
		cr_assert_eq(h->msg_namelen, sizeof(b->name[i]), "slot %u", i);
		cr_assert_eq(h->msg_control, b->ctl[i].b, "slot %u", i);
		cr_assert_eq(h->msg_controllen, sizeof(b->ctl[i].b), "slot %u",
			     i);
		cr_assert_eq(h->msg_flags, 0, "slot %u", i);
		cr_assert_eq(b->msg[i].msg_len, 0, "slot %u", i);
	}
}

/* What the kernel writes back into slot i of a receive. */
static void kernel_writes(struct smt_sock_batch *b, unsigned int i)
{
	b->msg[i].msg_hdr.msg_namelen = 16;
	b->msg[i].msg_hdr.msg_controllen = 0;
	b->msg[i].msg_hdr.msg_flags = MSG_TRUNC;
	b->msg[i].msg_len = 1234;
}

static struct smt_sock_batch *batch_new(void)
{
	struct smt_sock_batch *b = calloc(1, sizeof(*b));

	cr_assert_not_null(b);
	cr_assert_eq(smt_batch_init(b, BUFSZ), 0);
	return b;
}

Test(smt_batch_prepare_rx, slots_written_by_the_last_receive_are_reset)
{
	struct smt_sock_batch *b = batch_new();

	smt_batch_prepare_rx(b, 8);
	assert_prepared(b, 8);
	/* 3 datagrams, and a failure at the fourth that wrote into it */
	for (unsigned int i = 0; i < 4; i++)
		kernel_writes(b, i);
	smt_batch_rx_done(b, 3);
	smt_batch_prepare_rx(b, SMT_BATCH);
	assert_prepared(b, SMT_BATCH);
	/* an error before the first datagram */
	kernel_writes(b, 0);
	smt_batch_rx_done(b, -1);
	smt_batch_prepare_rx(b, SMT_BATCH);
	assert_prepared(b, SMT_BATCH);
	/* a short read after a long one: what the long one wrote is reset
	 * though the short one's slots end before it */
	smt_batch_prepare_rx(b, SMT_BATCH);
	for (unsigned int i = 0; i < 11; i++)
		kernel_writes(b, i);
	smt_batch_rx_done(b, 10);
	smt_batch_prepare_rx(b, 5);
	assert_prepared(b, 5);
	for (unsigned int i = 0; i < 5; i++)
		kernel_writes(b, i);
	smt_batch_rx_done(b, 5);
	smt_batch_prepare_rx(b, SMT_BATCH);
	assert_prepared(b, SMT_BATCH);
	/* a whole batch, told nothing: all reset */
	for (unsigned int i = 0; i < SMT_BATCH; i++)
		kernel_writes(b, i);
	smt_batch_prepare_rx(b, SMT_BATCH);
	assert_prepared(b, SMT_BATCH);
	smt_batch_free(b);
	free(b);
}

Test(smt_batch_prepare_rx, a_batch_that_sent_is_set_up_again)
{
	static const uint8_t pkt[40], pay[100];
	struct sockaddr_storage peer = {.ss_family = AF_INET};
	struct smt_sock_batch *b = batch_new();

	smt_batch_prepare_rx(b, SMT_BATCH);
	smt_batch_rx_done(b, 0);
	for (unsigned int i = 0; i < 5; i++)
		smt_batch_addv(b, &peer, true, pkt, sizeof(pkt), pay,
			       sizeof(pay), (uint8_t)i, false);
	smt_batch_sort(b);
	b->n = 0;
	smt_batch_prepare_rx(b, SMT_BATCH);
	assert_prepared(b, SMT_BATCH);
	smt_batch_free(b);
	free(b);
}
