// SPDX-License-Identifier: BSD-2-Clause
/*
 * Endpoint groups through smtd (docs/smtd.md "Endpoint groups"): libsmt's
 * ctl_client against a fake smtd on a Unix socket. One registration for
 * the group (one connection, one serve with "group"), every pushed session
 * and re-key reaches every member and is acknowledged only when all
 * applied it, session_del reaches all, a session a member got through
 * smt_connect appears in the others, a session the application removes
 * from one member is closed for all, and a member that closes is reported
 * with the members left. UDP endpoints: no capability needed.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <smt/wire.h>

#include "ctlproto.h"
#include "endpoint.h"
#include "fake_sock.h"
#include "libsmt.h"

#define SEEN_MAX 64

struct gfake {
	int lfd, fd;
	char path[108];
	pthread_t t;
	pthread_mutex_t mu;
	json_object *seen[SEEN_MAX]; /* every message libsmt sent */
	int nseen;
	bool epoch1; /* a connect's answer and its epoch 1 in one write */
	volatile bool stop, eof;
};

static json_object *gsession(uint32_t sid, uint8_t epoch, uint8_t key,
			     uint16_t local_port, uint16_t peer_port)
{
	struct smt_ctl_session s = {.sid = sid,
				    .ipproto = SMT_IPPROTO_UDP,
				    .B = 48,
				    .epoch = epoch};

	strcpy(s.service, "echo.smt");
	smt_ctl_addr_parse("127.0.0.1", local_port, &s.local);
	smt_ctl_addr_parse("127.0.0.1", peer_port, &s.peer);
	s.max_msg = 1 << 20;
	s.lifetime_s = 3600;
	s.keys.cipher = SMT_CIPHER_AES_128_GCM;
	s.keys.key_len = 16;
	memset(s.keys.c_key, key, sizeof(s.keys.c_key));
	memset(s.keys.s_key, key + 1, sizeof(s.keys.s_key));
	return smt_ctl_session_to_json(&s, true);
}

/*
 * A connect's answer (o) and, in the same write, the "rekey" push (push 5)
 * of its session's epoch 1, as a 0-RTT set-up whose ACCEPT came quickly
 * leaves them in smtd's output: the group's reader gets both in one read.
 */
static void send_with_epoch1(int fd, json_object *o, uint16_t port)
{
	json_object *p = json_object_new_object();
	static char buf[2 * SMT_CTL_MAX_LINE];
	int n;

	json_object_object_add(p, "event", json_object_new_string("rekey"));
	json_object_object_add(p, "push", json_object_new_int64(5));
	json_object_object_add(p, "session", gsession(90, 1, 9, port, 7000));
	json_object_object_add(o, "v", json_object_new_int(SMT_CTL_VERSION));
	json_object_object_add(p, "v", json_object_new_int(SMT_CTL_VERSION));
	n = snprintf(buf, sizeof(buf), "%s\n%s\n",
		     json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		     json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
	if (n > 0 && (size_t)n < sizeof(buf) &&
	    send(fd, buf, n, MSG_NOSIGNAL) != n)
		fprintf(stderr, "fake smtd: short write\n");
	json_object_put(p);
}

/* Answers every request ok (connect: with session 90 on the asking
 * port), records everything. */
static void *gfake_run(void *arg)
{
	struct gfake *f = arg;
	struct smt_ctl_buf b = {0};
	json_object *m, *o;
	int r;

	f->fd = accept(f->lfd, NULL, NULL);
	while (!f->stop && f->fd >= 0) {
		r = smt_ctl_next(&b, &m);
		if (r == 1) {
			const char *op = smt_ctl_str(m, "op", NULL);

			o = NULL;
			if (op && strcmp(op, "ack")) {
				o = json_object_new_object();
				json_object_object_add(
					o, "id",
					json_object_new_int64(
						smt_ctl_int(m, "id", 0)));
				json_object_object_add(
					o, "ok", json_object_new_boolean(true));
				if (!strcmp(op, "connect"))
					json_object_object_add(
						o, "session",
						gsession(90, 0, 7,
							 smt_ctl_int(m, "port",
								     0),
							 7000));
			}
			/* recorded before the answer: a test that counts
			 * right after its call returns sees it */
			pthread_mutex_lock(&f->mu);
			if (f->nseen < SEEN_MAX)
				f->seen[f->nseen++] = m;
			else
				json_object_put(m);
			if (o && f->epoch1 && !strcmp(op, "connect"))
				send_with_epoch1(f->fd, o,
						 smt_ctl_int(m, "port", 0));
			else if (o)
				smt_ctl_send(f->fd, o, 1000);
			pthread_mutex_unlock(&f->mu);
			json_object_put(o);
			continue;
		}
		json_object_put(m);
		if (poll(&(struct pollfd){.fd = f->fd, .events = POLLIN}, 1,
			 10) > 0 &&
		    smt_ctl_fill(&b, f->fd) == 0) {
			f->eof = true;
			break;
		}
	}
	smt_ctl_buf_free(&b);
	return NULL;
}

static void gfake_start(struct gfake *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	pthread_mutex_init(&f->mu, NULL);
	f->lfd = fake_listen("ctl-group", f->path, sizeof(f->path));
	cr_assert_eq(pthread_create(&f->t, NULL, gfake_run, f), 0);
}

static void gfake_stop(struct gfake *f)
{
	f->stop = true;
	pthread_join(f->t, NULL);
	for (int i = 0; i < f->nseen; i++)
		json_object_put(f->seen[i]);
	if (f->fd >= 0)
		close(f->fd);
	close(f->lfd);
	unlink(f->path);
}

/* A push from the fake smtd. */
static void gfake_push(struct gfake *f, const char *ev, int64_t push,
		       json_object *session, int64_t sid)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "event", json_object_new_string(ev));
	if (push)
		json_object_object_add(o, "push", json_object_new_int64(push));
	if (session)
		json_object_object_add(o, "session", session);
	if (sid >= 0)
		json_object_object_add(o, "sid", json_object_new_int64(sid));
	pthread_mutex_lock(&f->mu);
	smt_ctl_send(f->fd, o, 1000);
	pthread_mutex_unlock(&f->mu);
	json_object_put(o);
}

/* How many messages with "op" (or "event") name the fake saw; *last: the
 * last one (a reference the fake keeps). */
static int gfake_count(struct gfake *f, const char *key, const char *name,
		       json_object **last)
{
	int n = 0;

	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nseen; i++)
		if (!strcmp(smt_ctl_str(f->seen[i], key, ""), name)) {
			n++;
			if (last)
				*last = f->seen[i];
		}
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* gfake_count() once it reaches want, or after about 2 s: libsmt has
 * sent the message, and the fake's thread (10 ms polls) may not have read
 * it yet on a loaded host. */
static int gfake_await(struct gfake *f, const char *key, const char *name,
		       int want, json_object **last)
{
	int n = 0;

	for (int i = 0; i < 400; i++) {
		n = gfake_count(f, key, name, last);
		if (n >= want)
			break;
		usleep(5000);
	}
	return n;
}

/* Runs the loops of the members in mask for ms; counts SESSION_UP. */
static void drive(struct smt_endpoint **eps, unsigned int mask, int ms,
		  int *ups)
{
	struct smt_msg m;

	for (int t = 0; t < ms; t += 5)
		for (unsigned int i = 0; i < 2; i++) {
			if (!(mask & 1u << i))
				continue;
			smt_wait(eps[i], 0);
			while (smt_recv(eps[i], &m) == 0) {
				if (m.kind == SMT_MSG_SESSION_UP && ups)
					ups[i]++;
				smt_msg_release(&m);
			}
			usleep(2500);
		}
}

static int nsess(struct smt_endpoint *ep)
{
	return smt_ep_sessions(ep, NULL, 0);
}

static uint8_t epoch_of(struct smt_endpoint *ep)
{
	struct smt_session_params p = {.sz = sizeof(p)};
	uint32_t id = 0;

	if (smt_ep_sessions(ep, &id, 1) != 1 ||
	    smt_ep_session_params(ep, id, &p))
		return 0xff;
	smt_session_params_wipe(&p);
	return p.epoch;
}

static void open_group(struct smt_endpoint **eps)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o), .encap = SMT_ENCAP_UDP};
	int r = smt_endpoint_open_group(&o, 2, eps);

	cr_assert_eq(r, 0, "open_group: %s", smt_strerror(r));
}

Test(ctl_group, serve_push_rekey_del_reach_every_member, .timeout = 30)
{
	struct smt_endpoint *eps[2];
	struct gfake f;
	json_object *last = NULL, *g;
	int ups[2] = {0, 0}, r;

	gfake_start(&f);
	open_group(eps);
	r = smt_serve(eps[0], "echo.smt");
	cr_assert_eq(r, 0, "serve: %s: %s", smt_strerror(r),
		     smt_ctl_last_error());
	cr_assert_eq(smt_serve(eps[1], "echo.smt"), 0);
	/* one registration for the group, members named */
	cr_expect_eq(gfake_count(&f, "op", "serve", &last), 1);
	cr_assert(last);
	cr_expect_str_eq(smt_ctl_str(last, "encap", ""), "udp");
	cr_expect_eq(smt_ctl_int(last, "port", 0), smt_endpoint_port(eps[0]));
	cr_assert(json_object_object_get_ex(last, "group", &g));
	cr_expect_eq(smt_ctl_int(g, "size", 0), 2);
	cr_expect_eq(smt_ctl_int(g, "members", 0), 2);

	/* a session: no ack while member 1 has not applied it */
	gfake_push(&f, "session", 1,
		   gsession(80, 0, 3, smt_endpoint_port(eps[0]), 9000), -1);
	drive(eps, 1, 300, ups);
	cr_expect_eq(gfake_count(&f, "op", "ack", NULL), 0,
		     "acked before every member had the session");
	cr_expect_eq(nsess(eps[0]), 1);
	cr_expect_eq(nsess(eps[1]), 0);
	drive(eps, 2, 300, ups);
	cr_expect_eq(gfake_await(&f, "op", "ack", 1, &last), 1);
	cr_expect(smt_ctl_bool(last, "ok", false), "%s",
		  smt_ctl_str(last, "error", ""));
	cr_expect_eq(smt_ctl_int(last, "push", 0), 1);
	cr_expect_eq(nsess(eps[1]), 1);
	cr_expect_eq(ups[0], 1);
	cr_expect_eq(ups[1], 1);

	/* a re-key: both members move to epoch 1 before the ack */
	gfake_push(&f, "rekey", 2,
		   gsession(80, 1, 5, smt_endpoint_port(eps[0]), 9000), -1);
	drive(eps, 2, 300, NULL);
	cr_expect_eq(gfake_count(&f, "op", "ack", NULL), 1);
	cr_expect_eq(epoch_of(eps[1]), 1);
	drive(eps, 1, 300, NULL);
	cr_expect_eq(gfake_await(&f, "op", "ack", 2, &last), 2);
	cr_expect(smt_ctl_bool(last, "ok", false), "%s",
		  smt_ctl_str(last, "error", ""));
	cr_expect_eq(epoch_of(eps[0]), 1);

	/* a re-key of a session the group does not hold is refused */
	gfake_push(&f, "rekey", 3,
		   gsession(81, 1, 5, smt_endpoint_port(eps[0]), 9001), -1);
	drive(eps, 3, 200, NULL);
	cr_expect_eq(gfake_await(&f, "op", "ack", 3, &last), 3);
	cr_expect_not(smt_ctl_bool(last, "ok", true));

	/* session_del: gone from both */
	gfake_push(&f, "session_del", 0, NULL, 80);
	drive(eps, 3, 200, NULL);
	cr_expect_eq(nsess(eps[0]), 0);
	cr_expect_eq(nsess(eps[1]), 0);

	/* a member closes: smtd hears how many are left, the connection
	 * stays; the last one closes it */
	smt_endpoint_close(eps[1]);
	for (int i = 0; i < 100 && !gfake_count(&f, "event", "group", &last);
	     i++)
		usleep(10000);
	cr_assert_eq(gfake_count(&f, "event", "group", &last), 1);
	cr_expect_eq(smt_ctl_int(last, "members", 0), 1);
	cr_expect_not(f.eof);
	smt_endpoint_close(eps[0]);
	for (int i = 0; i < 100 && !f.eof; i++)
		usleep(10000);
	cr_expect(f.eof, "the last member's close ends the connection");
	gfake_stop(&f);
}

Test(ctl_group, connect_reaches_the_others_and_close_reaches_all, .timeout = 30)
{
	struct smt_endpoint *eps[2];
	struct gfake f;
	json_object *last = NULL, *g;
	int ups[2] = {0, 0}, r;
	uint32_t h = 0;

	gfake_start(&f);
	open_group(eps);
	r = smt_connect(eps[0], "echo.smt", "127.0.0.1", &h);
	cr_assert_eq(r, 0, "connect: %s: %s", smt_strerror(r),
		     smt_ctl_last_error());
	cr_expect_neq(h, 0);
	cr_expect_eq(gfake_count(&f, "op", "connect", &last), 1);
	cr_assert(json_object_object_get_ex(last, "group", &g));
	cr_expect_eq(smt_ctl_int(g, "size", 0), 2);
	cr_expect_eq(nsess(eps[0]), 1, "the caller has it on return");
	drive(eps, 3, 200, ups);
	cr_expect_eq(nsess(eps[1]), 1);
	cr_expect_eq(ups[0], 0, "the caller got the handle instead");
	cr_expect_eq(ups[1], 1);

	/* the application removes it from member 1: closed for all */
	cr_assert_eq(smt_ep_sessions(eps[1], &h, 1), 1);
	cr_assert_eq(smt_session_remove(eps[1], h), 0);
	for (int i = 0; i < 60 && !gfake_count(&f, "op", "closed", NULL); i++)
		drive(eps, 3, 50, NULL);
	cr_expect_eq(gfake_count(&f, "op", "closed", &last), 1);
	cr_expect_eq(smt_ctl_int(last, "sid", 0), 90);
	drive(eps, 3, 100, NULL);
	cr_expect_eq(nsess(eps[0]), 0, "member 0 dropped it too");
	smt_endpoint_close(eps[0]);
	smt_endpoint_close(eps[1]);
	for (int i = 0; i < 100 && !f.eof; i++)
		usleep(10000);
	cr_expect(f.eof);
	gfake_stop(&f);
}

/* smtd's epoch 1 push read with the connect's answer is applied to every
 * member once the session is listed, not refused as unknown */
Test(ctl_group, epoch1_read_with_the_connect_answer_is_taken, .timeout = 30)
{
	struct smt_endpoint *eps[2];
	struct gfake f;
	json_object *last = NULL;
	uint32_t h = 0;
	int r;

	gfake_start(&f);
	f.epoch1 = true;
	open_group(eps);
	r = smt_connect(eps[0], "echo.smt", "127.0.0.1", &h);
	cr_assert_eq(r, 0, "connect: %s: %s", smt_strerror(r),
		     smt_ctl_last_error());
	for (int i = 0; i < 60 && !gfake_count(&f, "op", "ack", NULL); i++)
		drive(eps, 3, 50, NULL);
	cr_assert_eq(gfake_count(&f, "op", "ack", &last), 1);
	cr_expect_eq(smt_ctl_int(last, "push", 0), 5);
	cr_expect(smt_ctl_bool(last, "ok", false), "epoch 1 refused: %s",
		  smt_ctl_str(last, "error", ""));
	cr_expect_eq(epoch_of(eps[0]), 1);
	cr_expect_eq(epoch_of(eps[1]), 1);
	smt_endpoint_close(eps[0]);
	smt_endpoint_close(eps[1]);
	gfake_stop(&f);
}

/* smtd restarts: the group serves again and registers its session once */
Test(ctl_group, reconnect_serves_and_registers_again, .timeout = 30)
{
	struct smt_endpoint *eps[2];
	struct gfake f, f2;
	json_object *last = NULL, *js;
	int ups[2] = {0, 0};

	gfake_start(&f);
	open_group(eps);
	cr_assert_eq(smt_serve(eps[0], "echo.smt"), 0);
	gfake_push(&f, "session", 1,
		   gsession(80, 0, 3, smt_endpoint_port(eps[0]), 9000), -1);
	drive(eps, 3, 300, ups);
	cr_assert_eq(gfake_await(&f, "op", "ack", 1, NULL), 1);
	/* smtd goes away; a new one listens on another path */
	gfake_stop(&f);
	gfake_start(&f2);
	for (int i = 0; i < 300 && gfake_count(&f2, "op", "register", NULL) < 1;
	     i++)
		drive(eps, 3, 10, NULL);
	cr_expect_eq(gfake_count(&f2, "op", "serve", NULL), 1);
	cr_assert_eq(gfake_count(&f2, "op", "register", &last), 1);
	cr_assert(json_object_object_get_ex(last, "session", &js));
	cr_expect_eq(smt_ctl_int(js, "sid", 0), 80);
	smt_endpoint_close(eps[0]);
	smt_endpoint_close(eps[1]);
	gfake_stop(&f2);
}
