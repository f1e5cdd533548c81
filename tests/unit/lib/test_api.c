// SPDX-License-Identifier: BSD-2-Clause
/*
 * Tests of the public libsmt API (libsmt.h) and its internal event-loop
 * hooks (endpoint.h): error strings, extensible options, two endpoints of
 * one process talking over loopback through the shared raw socket pair
 * (requests both ways, oneway, cancel), port reservation, watched fds,
 * key log parsing and counters. Tests that need raw sockets skip loudly
 * without CAP_NET_RAW, and fail under CI=true.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <smt/drop.h>

#include "endpoint.h"
#include "libsmt.h"
#include "smt_test.h"

/* Opens an endpoint or skips (fails under CI) without CAP_NET_RAW. */
static struct smt_endpoint *ep_open(uint16_t port)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o), .port = port};

	return th_ep_open(&o);
}

/* Two endpoints with one session between them (a is the TLS client). */
struct pair {
	struct smt_endpoint *a, *b;
	uint32_t sa, sb;
};

static void pair_open(struct pair *pr, uint8_t seed)
{
	pr->a = ep_open(0);
	pr->b = ep_open(0);
	th_join(pr->a, pr->b, seed, &pr->sa, &pr->sb);
}

static void pair_close(struct pair *pr)
{
	smt_endpoint_close(pr->a);
	smt_endpoint_close(pr->b);
}

/* Runs both endpoints until *a_msg (from a) is filled; b echoes requests
 * XOR 0x5a. Fails after 5 s. */
static void pump_until(struct pair *pr, struct smt_msg *a_msg)
{
	th_pump_until(pr->a, pr->b, a_msg, 5000);
}

Test(smt_strerror, names_smt_and_errno_codes)
{
	cr_assert(strstr(smt_strerror(-SMT_E_NOCAP), "CAP_NET_RAW"));
	cr_assert_str_eq(smt_strerror(-ENOMEM), strerror(ENOMEM));
	cr_assert_str_eq(smt_strerror(0), "success");
	cr_assert_not_null(smt_strerror(-SMT_E_MAX - 5));
}

Test(smt_drop_reason_name, matches_drop_h)
{
	cr_assert_str_eq(smt_drop_reason_name(SMT_DROP_RECORD_AUTH),
			 "record_auth_failed");
	cr_assert_str_eq(smt_drop_reason_name(SMT_DROP_UNKNOWN_SESSION),
			 "unknown_session");
	cr_assert_null(smt_drop_reason_name(SMT_DROP_MAX));
}

Test(smt_endpoint_open, rejects_unknown_nonzero_trailing_options)
{
	struct {
		struct smt_endpoint_opts o;
		uint64_t future;
	} big = {.o = {.sz = sizeof(big)}, .future = 1};
	struct smt_endpoint *ep = NULL;

	cr_assert_eq(smt_endpoint_open(&big.o, &ep), -E2BIG);
	cr_assert_null(ep);
}

Test(smt_endpoint_open, rejects_unknown_backend)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o), .backend = 77};
	struct smt_endpoint *ep = NULL;

	cr_assert_eq(smt_endpoint_open(&o, &ep), -SMT_E_BACKEND);
}

Test(smt_endpoint_open, port_in_use_in_same_process)
{
	struct smt_endpoint *a = ep_open(0), *b = NULL;
	struct smt_endpoint_opts o = {.sz = sizeof(o)};

	o.port = smt_endpoint_port(a);
	cr_assert_eq(smt_endpoint_open(&o, &b), -SMT_E_PORT_IN_USE);
	smt_endpoint_close(a);
	/* released with its endpoint */
	cr_assert_eq(smt_endpoint_open(&o, &b), 0);
	smt_endpoint_close(b);
}

Test(smt_session_add, duplicate_peer_is_eexist)
{
	struct smt_endpoint *a = ep_open(0);
	struct smt_session_params p;
	uint32_t id;

	th_loopback_params(&p, 7000, true, 1);
	cr_assert_eq(smt_session_add(a, &p, &id), 0);
	cr_assert_neq(id, 0);
	cr_assert_eq(smt_session_add(a, &p, &id), -EEXIST);
	p.key_len = 32; /* AES-128 takes 16 */
	((struct sockaddr_in *)&p.peer)->sin_port = htons(7001);
	cr_assert_eq(smt_session_add(a, &p, &id), -EINVAL);
	smt_endpoint_close(a);
}

Test(smt_api, two_endpoints_one_process_requests_both_ways)
{
	static const size_t sizes[] = {0, 1, 100, 1441, 50000, 300000};
	struct pair pr;
	struct smt_msg m;
	struct smt_stats st = {.sz = sizeof(st)};
	uint8_t *buf = malloc(300000);
	uint64_t id;
	size_t i, k;

	cr_assert_not_null(buf);
	pair_open(&pr, 7);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (k = 0; k < sizes[i]; k++)
			buf[k] = (uint8_t)(k * 7 + i);
		cr_assert_eq(smt_send_request(pr.a, pr.sa, buf, sizes[i],
					      100 + i, &id),
			     0);
		pump_until(&pr, &m);
		cr_assert_eq(m.kind, SMT_MSG_RESPONSE, "kind %d error %s",
			     m.kind, smt_strerror(m.error));
		cr_assert_eq(m.id, id);
		cr_assert_eq(m.cookie, 100 + i);
		cr_assert_eq(m.session, pr.sa);
		cr_assert_eq(m.len, sizes[i]);
		for (k = 0; k < sizes[i]; k++)
			cr_assert_eq(m.data[k], (uint8_t)(buf[k] ^ 0x5a));
		cr_assert_eq(ntohs(((struct sockaddr_in *)&m.peer)->sin_port),
			     smt_endpoint_port(pr.b));
		smt_msg_release(&m);
	}
	/* the TLS server side may send requests too */
	memcpy(buf, "hello", 5);
	cr_assert_eq(smt_send_request(pr.b, pr.sb, buf, 5, 9, &id), 0);
	{
		uint64_t end = th_mono_ms() + 5000;
		bool got = false;

		while (!got && th_mono_ms() < end) {
			smt_wait(pr.a, 1);
			smt_wait(pr.b, 1);
			while (smt_recv(pr.a, &m) == 0) {
				if (m.kind == SMT_MSG_REQUEST) {
					cr_assert_eq(m.len, 5);
					cr_assert_eq(smt_reply(pr.a, m.session,
							       m.id, "world",
							       5),
						     0);
				}
				smt_msg_release(&m);
			}
			while (smt_recv(pr.b, &m) == 0) {
				if (m.kind == SMT_MSG_RESPONSE) {
					cr_assert_eq(m.id, id);
					cr_assert_eq(memcmp(m.data, "world", 5),
						     0);
					got = true;
				}
				smt_msg_release(&m);
			}
		}
		cr_assert(got, "no response to b's request");
	}
	cr_assert_eq(smt_stats_get(pr.a, pr.sa, &st), 0);
	cr_assert_geq(st.rx_msgs, 6);
	cr_assert_eq(st.drops[SMT_DROP_RECORD_AUTH], 0);
	cr_assert_eq(smt_stats_get(pr.a, 999999, &st), -SMT_E_NOSESSION);
	pair_close(&pr);
	free(buf);
}

Test(smt_api, oneway_is_delivered_and_acknowledged)
{
	struct pair pr;
	struct smt_msg m;
	uint64_t id, end;
	bool delivered = false, sent = false;

	pair_open(&pr, 9);
	cr_assert_eq(smt_send_oneway(pr.a, pr.sa, "note", 4, 55, &id), 0);
	end = th_mono_ms() + 5000;
	while (!(delivered && sent) && th_mono_ms() < end) {
		smt_wait(pr.a, 1);
		smt_wait(pr.b, 1);
		while (smt_recv(pr.b, &m) == 0) {
			cr_assert_eq(m.kind, SMT_MSG_ONEWAY);
			cr_assert_eq(m.len, 4);
			cr_assert_eq(memcmp(m.data, "note", 4), 0);
			/* a oneway takes no reply */
			cr_assert_eq(smt_reply(pr.b, m.session, m.id, "x", 1),
				     -SMT_E_NORPC);
			delivered = true;
			smt_msg_release(&m);
		}
		while (smt_recv(pr.a, &m) == 0) {
			cr_assert_eq(m.kind, SMT_MSG_SENT);
			cr_assert_eq(m.id, id);
			cr_assert_eq(m.cookie, 55);
			cr_assert_eq(m.error, 0);
			sent = true;
			smt_msg_release(&m);
		}
	}
	cr_assert(delivered && sent, "delivered %d acked %d", delivered, sent);
	pair_close(&pr);
}

Test(smt_cancel, outstanding_request_fails_canceled)
{
	struct pair pr;
	struct smt_msg m;
	uint64_t id;

	pair_open(&pr, 11);
	cr_assert_eq(smt_send_request(pr.a, pr.sa, "q", 1, 1, &id), 0);
	cr_assert_eq(smt_cancel(pr.a, pr.sa, id), 0);
	cr_assert_eq(smt_recv(pr.a, &m), 0);
	cr_assert_eq(m.kind, SMT_MSG_FAILED);
	cr_assert_eq(m.id, id);
	cr_assert_eq(m.error, -SMT_E_CANCELED);
	smt_msg_release(&m);
	cr_assert_eq(smt_cancel(pr.a, pr.sa, id), -SMT_E_NORPC);
	cr_assert_eq(smt_cancel(pr.a, 12345, id), -SMT_E_NOSESSION);
	pair_close(&pr);
}

Test(smt_session_remove, fails_outstanding_requests)
{
	struct pair pr;
	struct smt_msg m;
	uint64_t id;

	pair_open(&pr, 13);
	cr_assert_eq(smt_send_request(pr.a, pr.sa, "q", 1, 3, &id), 0);
	cr_assert_eq(smt_session_remove(pr.a, pr.sa), 0);
	cr_assert_eq(smt_recv(pr.a, &m), 0);
	cr_assert_eq(m.kind, SMT_MSG_FAILED);
	cr_assert_eq(m.error, -SMT_E_SESSION_GONE);
	smt_msg_release(&m);
	cr_assert_eq(smt_send_request(pr.a, pr.sa, "q", 1, 3, &id),
		     -SMT_E_NOSESSION);
	cr_assert_eq(smt_session_remove(pr.a, pr.sa), -SMT_E_NOSESSION);
	pair_close(&pr);
}

static void on_pipe(struct smt_endpoint *ep, int fd, void *arg)
{
	char c;

	cr_assert_eq(read(fd, &c, 1), 1);
	(*(int *)arg)++;
	smt_ep_unwatch_fd(ep, fd); /* allowed from its own callback */
}

Test(smt_ep_watch_fd, callback_runs_from_smt_process)
{
	struct smt_endpoint *ep = ep_open(0);
	uint32_t ids[4];
	int fds[2], calls = 0;

	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(smt_ep_watch_fd(ep, fds[0], on_pipe, &calls), 0);
	cr_assert_eq(smt_ep_watch_fd(ep, fds[0], on_pipe, &calls), -EEXIST);
	cr_assert_eq(write(fds[1], "x", 1), 1);
	smt_wait(ep, 1000);
	cr_assert_eq(calls, 1);
	cr_assert_eq(smt_ep_unwatch_fd(ep, fds[0]), -ENOENT);
	cr_assert_eq(smt_ep_sessions(ep, ids, 4), 0);
	close(fds[0]);
	close(fds[1]);
	smt_endpoint_close(ep);
}

Test(smt_session_params_from_keylog, picks_the_peer_by_side)
{
	static const char line[] =
		"SMT_SESSION 10.0.0.1 4000 10.0.0.2 5000 "
		"TLS_AES_128_GCM_SHA256 48 3 1048576 0 "
		"000102030405060708090a0b0c0d0e0f 101112131415161718191a1b "
		"202122232425262728292a2b2c2d2e2f 303132333435363738393a3b\n";
	struct smt_session_params p;
	const char *err = NULL;

	cr_assert_eq(smt_session_params_from_keylog(line, true, &p, &err), 0);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&p.peer)->sin_port), 5000);
	cr_assert_eq(p.suite, SMT_TLS_AES_128_GCM_SHA256);
	cr_assert_eq(p.epoch, 3);
	cr_assert_eq(p.key_len, 16);
	cr_assert_eq(p.c_key[15], 0x0f);
	cr_assert_eq(p.s_iv[0], 0x30);
	cr_assert(p.tls_client);
	cr_assert_eq(smt_session_params_from_keylog(line, false, &p, &err), 0);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&p.peer)->sin_port), 4000);
	cr_assert_eq(smt_session_params_from_keylog("SMT_SESSION 1 2", true, &p,
						    &err),
		     -EINVAL);
	smt_session_params_wipe(&p);
}

/* One thread's worth of traffic on its own pair of endpoints. */
struct thr_arg {
	struct pair pr;
	int ok;
};

static void *thr_run(void *p)
{
	struct thr_arg *a = p;
	uint64_t end = th_mono_ms() + 10000;
	uint8_t buf[3000];
	struct smt_msg m;
	int sent = 0;

	while (a->ok < 200 && th_mono_ms() < end) {
		if (sent == a->ok) {
			memset(buf, sent & 0xff, sizeof(buf));
			if (smt_send_request(a->pr.a, a->pr.sa, buf,
					     (size_t)(sent * 13) % sizeof(buf),
					     sent, NULL) == 0)
				sent++;
		}
		smt_wait(a->pr.a, 1);
		smt_wait(a->pr.b, 1);
		while (smt_recv(a->pr.b, &m) == 0) {
			if (m.kind == SMT_MSG_REQUEST)
				smt_reply(a->pr.b, m.session, m.id, m.data,
					  m.len);
			smt_msg_release(&m);
		}
		while (smt_recv(a->pr.a, &m) == 0) {
			if (m.kind == SMT_MSG_RESPONSE &&
			    m.cookie == (uint64_t)a->ok &&
			    m.len == (size_t)(a->ok * 13) % sizeof(buf) &&
			    (!m.len || m.data[0] == (a->ok & 0xff)))
				a->ok++;
			smt_msg_release(&m);
		}
	}
	return NULL;
}

Test(smt_api, endpoints_in_different_threads_share_the_sockets)
{
	struct thr_arg t[2];
	pthread_t th[2];
	int i;

	memset(t, 0, sizeof(t));
	for (i = 0; i < 2; i++)
		pair_open(&t[i].pr, (uint8_t)(20 + i));
	for (i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, thr_run, &t[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(t[i].ok, 200, "thread %d: %d of 200 RPCs", i,
			     t[i].ok);
		pair_close(&t[i].pr);
	}
}

Test(smt_session_rekey, new_epoch_keys_carry_rpcs)
{
	struct smt_session_params p, q;
	struct pair pr;
	struct smt_msg m;
	uint64_t id;

	pair_open(&pr, 31);
	th_loopback_params(&p, smt_endpoint_port(pr.b), true, 77);
	p.epoch = 1;
	cr_assert_eq(smt_session_rekey(pr.a, pr.sa, &p), 0);
	th_loopback_params(&p, smt_endpoint_port(pr.a), false, 77);
	p.epoch = 1;
	cr_assert_eq(smt_session_rekey(pr.b, pr.sb, &p), 0);
	/* the same epoch again is refused */
	cr_assert_eq(smt_session_rekey(pr.b, pr.sb, &p), -EINVAL);
	cr_assert_eq(smt_session_rekey(pr.b, 4242, &p), -SMT_E_NOSESSION);
	cr_assert_eq(smt_ep_session_params(pr.a, pr.sa, &q), 0);
	cr_assert_eq(q.epoch, 1);
	cr_assert_eq(q.c_key[0], 77);
	smt_session_params_wipe(&q);
	cr_assert_eq(smt_send_request(pr.a, pr.sa, "epoch1", 6, 5, &id), 0);
	cr_assert_eq(id >> 56, 1, "handle carries epoch 1");
	pump_until(&pr, &m);
	cr_assert_eq(m.kind, SMT_MSG_RESPONSE);
	cr_assert_eq(m.len, 6);
	cr_assert_eq(m.data[0], (uint8_t)('e' ^ 0x5a));
	smt_msg_release(&m);
	smt_session_params_wipe(&p);
	pair_close(&pr);
}

/* Sends n requests from a and runs b until all n are ready there. */
static void ready_n(struct pair *pr, int n)
{
	uint64_t end = th_mono_ms() + 5000, id;
	int ready = 0;

	for (int i = 0; i < n; i++)
		cr_assert_eq(smt_send_request(pr->a, pr->sa, "q", 1, i, &id),
			     0);
	while (ready < n && th_mono_ms() < end) {
		smt_wait(pr->a, 1);
		ready = smt_wait(pr->b, 1);
	}
	cr_assert_geq(ready, n, "only %d of %d requests ready on b", ready, n);
}

/* Responses that reached a within ms milliseconds. */
static int responses_within(struct pair *pr, unsigned int ms)
{
	uint64_t end = th_mono_ms() + ms;
	struct smt_msg m;
	int got = 0;

	while (th_mono_ms() < end) {
		smt_wait(pr->a, 1);
		while (smt_recv(pr->a, &m) == 0) {
			got += m.kind == SMT_MSG_RESPONSE;
			smt_msg_release(&m);
		}
	}
	return got;
}

static void recv_reply(struct pair *pr)
{
	struct smt_msg m;

	cr_assert_eq(smt_recv(pr->b, &m), 0);
	cr_assert_eq(m.kind, SMT_MSG_REQUEST);
	cr_assert_eq(smt_reply(pr->b, m.session, m.id, "r", 1), 0);
	smt_msg_release(&m);
}

Test(smt_reply, replies_to_a_ready_batch_leave_together)
{
	struct pair pr;

	pair_open(&pr, 11);
	ready_n(&pr, 3);
	recv_reply(&pr); /* two more ready: held */
	recv_reply(&pr); /* one more ready: held */
	cr_assert_eq(smt_next_timeout_ms(pr.b), 0,
		     "held replies must keep the caller from sleeping");
	cr_assert_eq(responses_within(&pr, 30), 0,
		     "a reply left before the batch ended");
	recv_reply(&pr); /* the last: all three go now */
	cr_assert_eq(responses_within(&pr, 500), 3);
	pair_close(&pr);
}

Test(smt_reply, held_replies_leave_when_the_caller_stops_draining)
{
	struct pair pr;

	pair_open(&pr, 12);
	ready_n(&pr, 2);
	recv_reply(&pr); /* one more ready: held */
	/* the application goes back to its poll loop instead of smt_recv */
	smt_wait(pr.b, 1000);
	cr_assert_eq(responses_within(&pr, 500), 1);
	pair_close(&pr);
}

Test(smt_reply, held_replies_leave_when_the_endpoint_closes)
{
	struct pair pr;
	struct smt_endpoint *b;

	pair_open(&pr, 13);
	ready_n(&pr, 2);
	recv_reply(&pr); /* held */
	b = pr.b;
	smt_endpoint_close(b);
	pr.b = ep_open(0); /* pair_close closes something */
	cr_assert_eq(responses_within(&pr, 500), 1);
	pair_close(&pr);
}

/* Requests ready on b within ms milliseconds (a runs too). */
static int requests_within(struct pair *pr, unsigned int ms)
{
	uint64_t end = th_mono_ms() + ms;
	int ready = 0;

	while (th_mono_ms() < end) {
		smt_wait(pr->b, 1);
		ready = smt_wait(pr->b, 0);
	}
	return ready;
}

Test(smt_hold, held_requests_leave_together_at_flush)
{
	struct pair pr;
	uint64_t id;

	pair_open(&pr, 14);
	smt_hold(pr.a);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(smt_send_request(pr.a, pr.sa, "q", 1, i, &id), 0);
	cr_assert_eq(smt_next_timeout_ms(pr.a), 0,
		     "held requests must keep the caller from sleeping");
	cr_assert_eq(requests_within(&pr, 30), 0,
		     "a request left before smt_flush");
	smt_flush(pr.a);
	cr_assert_eq(requests_within(&pr, 300), 3);
	pair_close(&pr);
}

Test(smt_endpoint_open, rejects_busy_poll_over_a_tenth_of_a_second)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o), .busy_poll_us = 100001};
	struct smt_endpoint *ep = NULL;

	cr_assert_eq(smt_endpoint_open(&o, &ep), -EINVAL);
	cr_assert_null(ep);
}

/* The client side of busy_poll_receives_messages_whole: sends requests of
 * many packets from its own thread while the main thread's endpoint spins. */
struct spin_arg {
	struct pair *pr;
	int ok;
};

static void *spin_client(void *p)
{
	struct spin_arg *a = p;
	uint64_t end = th_mono_ms() + 10000;
	static uint8_t buf[50000];
	struct smt_msg m;
	int sent = 0;

	while (a->ok < 20 && th_mono_ms() < end) {
		if (sent == a->ok) {
			memset(buf, sent, sizeof(buf));
			if (!smt_send_request(a->pr->a, a->pr->sa, buf,
					      sizeof(buf), sent, NULL))
				sent++;
		}
		smt_wait(a->pr->a, 1);
		while (smt_recv(a->pr->a, &m) == 0) {
			if (m.kind == SMT_MSG_RESPONSE && m.len == 1 &&
			    m.data[0] == (uint8_t)a->ok)
				a->ok++;
			smt_msg_release(&m);
		}
	}
	return NULL;
}

/* With busy polling, a server that answers 50 000-byte requests (35
 * packets each, all unscheduled) gets every byte right and answers each. */
Test(smt_api, busy_poll_receives_messages_whole)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o), .busy_poll_us = 2000};
	struct spin_arg arg = {0};
	struct smt_msg m;
	struct pair pr;
	pthread_t th;
	uint64_t end;
	int answered = 0;

	pr.a = ep_open(0);
	pr.b = th_ep_open(&o);
	th_join(pr.a, pr.b, 41, &pr.sa, &pr.sb);
	arg.pr = &pr;
	cr_assert_eq(pthread_create(&th, NULL, spin_client, &arg), 0);
	end = th_mono_ms() + 10000;
	while (answered < 20 && th_mono_ms() < end) {
		smt_wait(pr.b, 1);
		while (smt_recv(pr.b, &m) == 0) {
			if (m.kind == SMT_MSG_REQUEST) {
				uint8_t v = m.data[0];
				size_t k = 0;

				while (k < m.len && m.data[k] == v)
					k++;
				cr_assert_eq(m.len, 50000);
				cr_assert_eq(k, m.len, "byte %zu differs", k);
				cr_assert_eq(
					smt_reply(pr.b, m.session, m.id, &v, 1),
					0);
				answered++;
			}
			smt_msg_release(&m);
		}
	}
	pthread_join(th, NULL);
	cr_assert_eq(answered, 20);
	cr_assert_eq(arg.ok, 20);
	pair_close(&pr);
}
