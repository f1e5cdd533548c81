// SPDX-License-Identifier: BSD-2-Clause
/*
 * libsmt's smtd client (ctl_client.c) against a fake smtd on a Unix
 * socket: connect and serve requests name the endpoint's encapsulation, and
 * a session in another encapsulation (docs/protocol.md 6.1) is refused,
 * whether it comes as a connect answer (the fake is told "closed") or
 * pushed to a server (acknowledged ok:false with the reason). UDP endpoints
 * only: they need no capability.
 */
#include <arpa/inet.h>
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
#include "smt_test.h"

/* What the fake smtd does and what it saw. */
struct fake {
	int lfd;
	char path[108];
	bool serve; /* answer serve, then push two sessions */
	bool rekey; /* the connect's answer and its epoch 1 in one write */
	int npush; /* with serve: push this many UDP sessions (0: two) */
	unsigned int ipproto[2]; /* of the sessions it hands over */
	uint16_t peer_port;
	/* seen */
	char encap[16]; /* the first request's "encap" ("-": absent) */
	char op[16]; /* the first request's op */
	int64_t closed_sid; /* a "closed" request's sid, -1: none */
	int timerfds; /* the process's when the first request came */
	int nacks, nacks_ok;
	bool ack_ok[2];
	char ack_err[2][300];
	volatile bool pushed; /* every push written */
	volatile bool done;
};

static json_object *session(unsigned int ipproto, uint32_t sid,
			    uint16_t local_port, uint16_t peer_port)
{
	struct smt_ctl_session s = {.sid = sid, .ipproto = ipproto, .B = 48};

	strcpy(s.service, "echo.smt");
	s.tls_client = false;
	smt_ctl_addr_parse("127.0.0.1", local_port, &s.local);
	smt_ctl_addr_parse("127.0.0.1", peer_port, &s.peer);
	s.max_msg = 1 << 20;
	s.lifetime_s = 3600;
	s.keys.cipher = SMT_CIPHER_AES_128_GCM;
	s.keys.key_len = 16;
	memset(s.keys.c_key, 1, sizeof(s.keys.c_key));
	memset(s.keys.s_key, 2, sizeof(s.keys.s_key));
	return smt_ctl_session_to_json(&s, true);
}

/* The next message from fd within 3 s, or NULL. */
static json_object *next_msg(int fd, struct smt_ctl_buf *b)
{
	json_object *m;
	int r;

	for (int i = 0; i < 300; i++) {
		r = smt_ctl_next(b, &m);
		if (r == 1)
			return m;
		json_object_put(m);
		if (r < 0)
			return NULL;
		if (poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 10) >
			    0 &&
		    smt_ctl_fill(b, fd) == 0)
			return NULL;
	}
	return NULL;
}

/*
 * A connect's answer (o) and, in the same write, the "rekey" push of the
 * session's epoch 1, as a 0-RTT set-up whose ACCEPT came quickly leaves
 * them in smtd's output: the application reads both at once.
 */
static void send_with_epoch1(int fd, json_object *o, unsigned int ipproto,
			     uint16_t port, uint16_t peer_port)
{
	json_object *p = json_object_new_object(), *js;
	char buf[2 * SMT_CTL_MAX_LINE];
	int n;

	js = session(ipproto, 77, port, peer_port);
	json_object_object_add(js, "epoch", json_object_new_int(1));
	json_object_object_add(p, "event", json_object_new_string("rekey"));
	json_object_object_add(p, "push", json_object_new_int64(1));
	json_object_object_add(p, "session", js);
	json_object_object_add(o, "v", json_object_new_int(SMT_CTL_VERSION));
	json_object_object_add(p, "v", json_object_new_int(SMT_CTL_VERSION));
	n = snprintf(buf, sizeof(buf), "%s\n%s\n",
		     json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		     json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
	cr_assert(n > 0 && (size_t)n < sizeof(buf));
	cr_assert_eq(send(fd, buf, n, MSG_NOSIGNAL), n);
	json_object_put(p);
}

static void *fake_smtd(void *arg)
{
	struct fake *f = arg;
	struct smt_ctl_buf b = {0};
	json_object *m, *o;
	int fd = accept(f->lfd, NULL, NULL), pushed = 0;
	uint16_t port;

	f->closed_sid = -1;
	m = next_msg(fd, &b);
	if (!m)
		goto out;
	f->timerfds = th_timerfds(0);
	snprintf(f->op, sizeof(f->op), "%s", smt_ctl_str(m, "op", "?"));
	snprintf(f->encap, sizeof(f->encap), "%s",
		 smt_ctl_str(m, "encap", "-"));
	port = smt_ctl_int(m, "port", 0);
	o = json_object_new_object();
	json_object_object_add(o, "id",
			       json_object_new_int64(smt_ctl_int(m, "id", 0)));
	json_object_object_add(o, "ok", json_object_new_boolean(true));
	if (!f->serve)
		json_object_object_add(
			o, "session",
			session(f->ipproto[0], 77, port, f->peer_port));
	json_object_put(m);
	if (f->rekey)
		send_with_epoch1(fd, o, f->ipproto[0], port, f->peer_port);
	else
		smt_ctl_send(fd, o, 1000);
	json_object_put(o);
	for (; f->serve && pushed < (f->npush ? f->npush : 2); pushed++) {
		o = json_object_new_object();
		json_object_object_add(o, "event",
				       json_object_new_string("session"));
		json_object_object_add(o, "push",
				       json_object_new_int64(pushed + 1));
		json_object_object_add(
			o, "session",
			session(f->npush ? SMT_IPPROTO_UDP : f->ipproto[pushed],
				80 + pushed, port, f->peer_port + pushed));
		smt_ctl_send(fd, o, 1000);
		json_object_put(o);
	}
	f->pushed = true;
	/* then: a "closed" (connect) or the acks (serve); app_stats pass */
	while ((m = next_msg(fd, &b)) != NULL) {
		const char *op = smt_ctl_str(m, "op", "");

		if (!strcmp(op, "closed"))
			f->closed_sid = smt_ctl_int(m, "sid", -1);
		if (!strcmp(op, "ack")) {
			int64_t k = smt_ctl_int(m, "push", 0) - 1;

			if (k == 0 || k == 1) {
				f->ack_ok[k] = smt_ctl_bool(m, "ok", false);
				snprintf(f->ack_err[k], sizeof(f->ack_err[k]),
					 "%s", smt_ctl_str(m, "error", ""));
			}
			f->nacks_ok += smt_ctl_bool(m, "ok", false);
			f->nacks++;
		}
		json_object_put(m);
		if ((!f->serve && f->closed_sid >= 0) ||
		    (f->serve && f->nacks == (f->npush ? f->npush : 2)) ||
		    (f->rekey && f->nacks == 1))
			break;
	}
out:
	f->done = true;
	smt_ctl_buf_free(&b);
	if (fd >= 0)
		close(fd);
	return NULL;
}

static pthread_t start_fake(struct fake *f)
{
	pthread_t t;

	f->lfd = fake_listen("ctl-unit", f->path, sizeof(f->path));
	cr_assert_eq(pthread_create(&t, NULL, fake_smtd, f), 0);
	return t;
}

static void stop_fake(struct fake *f, pthread_t t)
{
	pthread_join(t, NULL);
	close(f->lfd);
	unlink(f->path);
}

static struct smt_endpoint *udp_ep(void)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o), .encap = SMT_ENCAP_UDP};
	struct smt_endpoint *ep = NULL;
	int r = smt_endpoint_open(&o, &ep);

	cr_assert_eq(r, 0, "open: %s", smt_strerror(r));
	return ep;
}

/* A UDP endpoint connected through the fake smtd f (running in *t), its
 * session in *h: smt_connect must succeed. */
static struct smt_endpoint *udp_connected(struct fake *f, pthread_t *t,
					  uint32_t *h)
{
	struct smt_endpoint *ep = udp_ep();
	int r;

	*t = start_fake(f);
	r = smt_connect(ep, "echo.smt", "127.0.0.1", h);
	cr_assert_eq(r, 0, "smt_connect: %s: %s", smt_strerror(r),
		     smt_last_error(ep));
	return ep;
}

Test(ctl_client, connect_names_encap_and_refuses_a_native_session)
{
	struct fake f = {.ipproto = {253}, .peer_port = 7000};
	struct smt_endpoint *ep = udp_ep();
	pthread_t t = start_fake(&f);
	uint32_t h = 0;
	int r = smt_connect(ep, "echo.smt", "127.0.0.1", &h);

	for (int i = 0; i < 300 && !f.done; i++)
		usleep(10000);
	cr_expect_eq(r, -EPROTO, "smt_connect: %d (%s)", r, smt_strerror(r));
	cr_expect_str_eq(f.op, "connect");
	cr_expect_str_eq(f.encap, "udp");
	cr_expect(strstr(smt_last_error(ep),
			 "smtd set up session 77 of echo.smt over native IP, "
			 "but this endpoint uses UDP") != NULL,
		  "%s", smt_last_error(ep));
	cr_expect_eq(f.closed_sid, 77, "smtd is told the session is closed");
	smt_endpoint_close(ep);
	stop_fake(&f, t);
}

/*
 * The request leaves before any timerfd is made (docs/smtd.md "The
 * endpoint's own set-up"), and the answer adds none either: the
 * endpoint's comes with its first timer, the control state's (its 1 s
 * app_stats period) at the end of the first smt_process that leaves the
 * caller nothing to read (its first request and answer are through).
 */
Test(ctl_client, connect_installs_a_udp_session_timers_after_the_request)
{
	struct fake f = {.ipproto = {SMT_IPPROTO_UDP}, .peer_port = 7000};
	int t0 = th_timerfds(0), p0 = th_timerfds(1000);
	pthread_t t;
	uint32_t h = 0;
	struct smt_endpoint *ep = udp_connected(&f, &t, &h);

	cr_expect_str_eq(f.encap, "udp");
	cr_expect_eq(f.timerfds, t0, "%d timerfd(s) made before the request",
		     f.timerfds - t0);
	cr_expect_eq(th_timerfds(0), t0, "a timerfd made with the answer");
	cr_expect_eq(smt_process(ep), 0, "nothing to read");
	cr_expect_eq(th_timerfds(1000), p0 + 1,
		     "no app_stats period after smt_process");
	cr_expect_eq(th_timerfds(0), t0 + 1);
	smt_endpoint_close(ep); /* the fake sees the connection end */
	stop_fake(&f, t);
}

/* A caller that always has something to read (here a note it does not
 * take) never goes back to sleep: the put-off app_stats period starts at
 * its 16th smt_process (EP_CTL_LATER_MAX in api.c), not never. */
Test(ctl_client, app_stats_starts_on_a_busy_endpoint_too)
{
	struct fake f = {.ipproto = {SMT_IPPROTO_UDP}, .peer_port = 7000};
	int p0 = th_timerfds(1000), n;
	pthread_t t;
	uint32_t h = 0;
	struct smt_endpoint *ep = udp_connected(&f, &t, &h);

	cr_assert_eq(smt_ep_notify_session_up(ep, h), 0);
	for (n = 1; n <= 40; n++) {
		cr_assert_geq(smt_process(ep), 1, "the note is still there");
		if (th_timerfds(1000) == p0 + 1)
			break;
	}
	cr_expect_eq(n, 16, "app_stats period after %d busy smt_process calls",
		     n);
	smt_endpoint_close(ep);
	stop_fake(&f, t);
}

/* smtd's epoch 1 push read together with the connect's answer is applied
 * after the session is installed, not refused for a session not known yet
 * (which left the application without its session: a 0-RTT set-up's first
 * request failed with "no such session") */
Test(ctl_client, epoch1_read_with_the_connect_answer_is_taken)
{
	struct fake f = {
		.ipproto = {SMT_IPPROTO_UDP}, .peer_port = 7000, .rekey = true};
	struct smt_endpoint *ep = udp_ep();
	pthread_t t = start_fake(&f);
	struct smt_session_params p = {.sz = sizeof(p)};
	uint32_t h = 0;
	int r = smt_connect(ep, "echo.smt", "127.0.0.1", &h);

	for (int i = 0; i < 300 && !f.done; i++)
		usleep(10000);
	cr_expect_eq(r, 0, "smt_connect: %s: %s", smt_strerror(r),
		     smt_last_error(ep));
	cr_expect_eq(f.nacks, 1, "the push was acknowledged");
	cr_expect(f.ack_ok[0], "epoch 1 refused: %s", f.ack_err[0]);
	cr_expect_eq(smt_ep_session_params(ep, h, &p), 0);
	cr_expect_eq(p.epoch, 1, "the session is at epoch %u", p.epoch);
	smt_session_params_wipe(&p);
	smt_endpoint_close(ep);
	stop_fake(&f, t);
}

Test(ctl_client, serve_names_encap_and_acks_only_its_encap)
{
	struct fake f = {.serve = true,
			 .ipproto = {253, SMT_IPPROTO_UDP},
			 .peer_port = 9000};
	struct smt_endpoint *ep = udp_ep();
	pthread_t t = start_fake(&f);
	int r = smt_serve(ep, "echo.smt");

	cr_expect_eq(r, 0, "smt_serve: %s: %s", smt_strerror(r),
		     smt_last_error(ep));
	/* the pushes arrive while the application runs its loop (3 s at
	 * most; a session-up message makes smt_wait return at once) */
	for (int i = 0; i < 300 && !f.done; i++) {
		struct smt_msg msg;

		smt_wait(ep, 10);
		while (smt_recv(ep, &msg) == 0)
			smt_msg_release(&msg);
		usleep(1000);
	}
	cr_expect_str_eq(f.op, "serve");
	cr_expect_str_eq(f.encap, "udp");
	cr_assert_eq(f.nacks, 2);
	cr_expect_not(f.ack_ok[0], "a native session must be refused");
	cr_expect(strstr(f.ack_err[0],
			 "session 80 of echo.smt over native "
			 "IP, but this endpoint uses UDP") != NULL,
		  "%s", f.ack_err[0]);
	cr_expect(f.ack_ok[1], "the UDP session: %s", f.ack_err[1]);
	smt_endpoint_close(ep);
	stop_fake(&f, t);
}

/*
 * A burst of set-ups: the sessions smtd pushed while the application was
 * busy are all installed in the first smt_wait() that sees them, before
 * its packet work. It read one buffer (8 KiB, about a dozen pushes) a
 * wake-up, then up to EP_WORK_MAX packets, the probes of the very
 * clients whose sessions waited among them: in test-smtd 60 set-ups to
 * an application stopped for 0.5 s took 5 such rounds and a third of the
 * clients timed out (docs/smtd.md "Many set-ups at once").
 */
Test(ctl_client, pushes_waiting_are_all_installed_in_one_wait)
{
	struct fake f = {.serve = true, .npush = 60, .peer_port = 9000};
	struct smt_endpoint *ep = udp_ep();
	pthread_t t = start_fake(&f);
	int r = smt_serve(ep, "echo.smt"), acks;

	cr_assert_eq(r, 0, "smt_serve: %s: %s", smt_strerror(r),
		     smt_last_error(ep));
	for (int i = 0; i < 300 && !f.pushed; i++)
		usleep(10000);
	cr_assert(f.pushed, "the fake smtd wrote its pushes");
	usleep(50000); /* all of them in the socket */
	smt_wait(ep, 100);
	/* the acks were sent in that call; the fake reads them */
	for (int i = 0; i < 300 && !f.done; i++)
		usleep(10000);
	acks = f.nacks;
	cr_expect_eq(acks, 60, "%d of 60 pushes acknowledged after one wait",
		     acks);
	cr_expect_eq(f.nacks_ok, acks, "every session installed");
	/* let the fake finish if the assertion above failed */
	for (int i = 0; i < 300 && !f.done; i++) {
		smt_wait(ep, 10);
		usleep(1000);
	}
	smt_endpoint_close(ep);
	stop_fake(&f, t);
}

Test(ctl_client, session_json_encap_agrees_with_ipproto)
{
	struct smt_ctl_session s;
	const char *why = "";
	json_object *o = session(SMT_IPPROTO_UDP, 5, 1, 2);

	cr_expect_str_eq(smt_ctl_str(o, "encap", ""), "udp");
	cr_expect_eq(smt_ctl_session_from_json(o, &s, true, &why), 0, "%s",
		     why);
	json_object_object_add(o, "encap", json_object_new_string("ip"));
	cr_expect_eq(smt_ctl_session_from_json(o, &s, true, &why), -EINVAL);
	cr_expect_str_eq(why, "encap");
	json_object_object_del(o, "encap"); /* from an older smtd */
	cr_expect_eq(smt_ctl_session_from_json(o, &s, true, &why), 0);
	json_object_put(o);
	o = session(253, 6, 1, 2);
	cr_expect_str_eq(smt_ctl_str(o, "encap", ""), "ip");
	json_object_put(o);
}
