// SPDX-License-Identifier: BSD-2-Clause
/*
 * Reuseport groups (smt_endpoint_open_group, rpgroup.c) over loopback:
 * several endpoints on one UDP port, the kernel's classic BPF program and
 * the software steering put every packet of a message on the member of its
 * lane, members' own requests and control packets stay in their lanes, an
 * ACK reaches every member whose responses it lists, datagrams that do not
 * parse stay where they arrived, and a large message held up on one
 * member's thread does not hold back small RPCs on another.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <smt/drop.h>
#include <smt/wire.h>

#include "engine.h"
#include "libsmt.h"
#include "smt_test.h"

#define MAXE 4
#define ID_MSG(id) ((id) & ((1ULL << 56) - 1))

struct world {
	struct smt_endpoint *cli[MAXE], *srv[MAXE];
	unsigned int nc, ns;
	uint32_t csess[MAXE], ssess[MAXE];
	unsigned int srv_reqs[MAXE]; /* requests each member served */
	unsigned int done, failed;
	unsigned int resp_at[MAXE]; /* responses each client received */
};

/* A RESEND timeout of 20 ms: the tests pump several endpoints from one
 * thread on a shared machine, and count retransmissions as errors. */
static struct smt_endpoint_opts udp_opts(void)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o),
				      .encap = SMT_ENCAP_UDP,
				      .resend_timeout_us = 20000};

	return o;
}

/* Every client member holds a session to the server port, every server
 * member one to every client port (same keys). */
static void world_join(struct world *w)
{
	struct smt_session_params p;
	uint16_t sport = smt_endpoint_port(w->srv[0]);
	unsigned int i, j;

	for (i = 0; i < w->nc; i++) {
		th_loopback_params(&p, sport, true, 7);
		cr_assert_eq(smt_session_add(w->cli[i], &p, &w->csess[i]), 0);
	}
	for (j = 0; j < w->ns; j++) {
		th_loopback_params(&p, smt_endpoint_port(w->cli[0]), false, 7);
		cr_assert_eq(smt_session_add(w->srv[j], &p, &w->ssess[j]), 0);
	}
	smt_session_params_wipe(&p);
}

static void world_open(struct world *w, unsigned int nc, unsigned int ns,
		       const struct smt_endpoint_opts *copts)
{
	struct smt_endpoint_opts o = udp_opts();

	memset(w, 0, sizeof(*w));
	w->nc = nc;
	w->ns = ns;
	cr_assert_eq(smt_endpoint_open_group(&o, ns, w->srv), 0);
	cr_assert_eq(smt_endpoint_open_group(copts ? copts : &o, nc, w->cli),
		     0);
	world_join(w);
}

static void world_close(struct world *w)
{
	unsigned int i;

	for (i = 0; i < w->nc; i++)
		smt_endpoint_close(w->cli[i]);
	for (i = 0; i < w->ns; i++)
		smt_endpoint_close(w->srv[i]);
}

/* One turn of every endpoint: servers echo (XOR 0x5a) and check that each
 * request reached the member of its lane; clients check that each response
 * reached the member that sent the request (cookie: member index). */
static void world_turn(struct world *w)
{
	struct smt_msg m;
	unsigned int i;

	for (i = 0; i < w->ns; i++) {
		smt_wait(w->srv[i], 0);
		while (smt_recv(w->srv[i], &m) == 0) {
			cr_assert_eq(m.kind, SMT_MSG_REQUEST);
			cr_assert_eq(smt_msg_lane(ID_MSG(m.id), w->ns), i,
				     "request %llu on member %u",
				     (unsigned long long)ID_MSG(m.id), i);
			w->srv_reqs[i]++;
			for (size_t k = 0; k < m.len; k++)
				m.data[k] ^= 0x5a;
			cr_assert_eq(smt_reply(w->srv[i], m.session, m.id,
					       m.data, m.len),
				     0);
			smt_msg_release(&m);
		}
	}
	for (i = 0; i < w->nc; i++) {
		smt_wait(w->cli[i], 0);
		while (smt_recv(w->cli[i], &m) == 0) {
			if (m.kind == SMT_MSG_FAILED)
				w->failed++;
			else
				cr_assert_eq(m.kind, SMT_MSG_RESPONSE);
			cr_assert_eq(m.cookie, i,
				     "response of member %llu on %u",
				     (unsigned long long)m.cookie, i);
			/* a client group's own requests are in its lane */
			if (w->nc > 1)
				cr_assert_eq(smt_msg_lane(ID_MSG(m.id), w->nc),
					     i);
			w->resp_at[i]++;
			w->done++;
			smt_msg_release(&m);
		}
	}
}

static void world_until(struct world *w, unsigned int done, unsigned int ms)
{
	uint64_t end = th_mono_ms() + ms;

	while (w->done < done && th_mono_ms() < end)
		world_turn(w);
	cr_assert_eq(w->done, done, "%u of %u RPCs done", w->done, done);
	cr_assert_eq(w->failed, 0);
}

static void world_pump_ms(struct world *w, unsigned int ms)
{
	uint64_t end = th_mono_ms() + ms;

	while (th_mono_ms() < end)
		world_turn(w);
}

static void stats_of(struct smt_endpoint *ep, struct smt_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sz = sizeof(*st);
	cr_assert_eq(smt_stats_get(ep, 0, st), 0);
}

/* Sends n requests of len bytes from client member c. */
static void world_send(struct world *w, unsigned int c, unsigned int n,
		       size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	uint64_t id;
	unsigned int i;

	cr_assert_not_null(buf);
	th_fill(buf, len, 5 + c);
	for (i = 0; i < n; i++)
		cr_assert_eq(smt_send_request(w->cli[c], w->csess[c], buf, len,
					      c, &id),
			     0);
	free(buf);
}

/* No drops anywhere: a ctl_seq two members both used would be dropped as
 * a replay at the client, a packet on a member that lacks its message as
 * unexpected. (Retransmissions are not counted against the group: the
 * RESEND timeout follows the round trip, down to rto_min (100 us; the 20
 * ms of udp_opts() is its ceiling), and one thread pumping three
 * endpoints can let it pass without any loss. The copy that arrives
 * after its message was delivered is dropped as a duplicate: 5-16 % of
 * kernel_program_steers runs failed on "client 0: 8 drops". So every
 * duplicate DATA must be such a retransmission, flag RETRANSMIT, and no
 * other drop is allowed.) */
static void no_drops(struct smt_endpoint *ep, const char *who, unsigned int i)
{
	struct smt_stats st;
	char why[256] = "";
	size_t n = 0;

	stats_of(ep, &st);
	for (unsigned int r = 0; r < SMT_DROP_MAX && n < sizeof(why); r++)
		if (st.drops[r])
			n += (size_t)snprintf(why + n, sizeof(why) - n,
					      " %s %llu", smt_drop_name(r),
					      (unsigned long long)st.drops[r]);
	cr_assert_eq(st.drops_total, st.drops[SMT_DROP_DUPLICATE],
		     "%s %u: %llu drops:%s", who, i,
		     (unsigned long long)st.drops_total, why);
	cr_assert_eq(st.rx_dup_data, st.rx_spurious_rtx,
		     "%s %u: %llu duplicate DATA, %llu of them retransmitted "
		     "(drops:%s)",
		     who, i, (unsigned long long)st.rx_dup_data,
		     (unsigned long long)st.rx_spurious_rtx, why);
}

static void world_no_drops(struct world *w)
{
	unsigned int i;

	for (i = 0; i < w->nc; i++)
		no_drops(w->cli[i], "client", i);
	for (i = 0; i < w->ns; i++)
		no_drops(w->srv[i], "server", i);
}

/* Datagrams one by one (no GSO at the client): the kernel program alone
 * steers; both members serve, nothing is handed between them. Large
 * requests make both members send GRANTs to the one client on the same
 * key: their ctl_seq values must differ. */
Test(rpgroup, kernel_program_steers)
{
	struct smt_endpoint_opts co = udp_opts();
	struct world w;
	struct smt_stats st;
	uint64_t in = 0, copies = 0;
	unsigned int i;

	co.no_udp_offload = true;
	world_open(&w, 1, 2, &co);
	world_send(&w, 0, 40, 64);
	world_send(&w, 0, 6, 200000);
	world_until(&w, 46, 10000);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(w.srv_reqs[i], 23, "member %u served %u", i,
			     w.srv_reqs[i]);
		stats_of(w.srv[i], &st);
		cr_assert_eq(st.rx_steered_out, 0, "member %u handed %llu", i,
			     (unsigned long long)st.rx_steered_out);
		/* only copies of ACKs that name both members' responses */
		in += st.rx_steered_in;
		copies += st.rx_ack_copies;
		cr_assert_gt(st.tx_ctl, 0); /* its GRANTs */
	}
	cr_assert_leq(in, copies); /* some may still be queued */
	world_no_drops(&w);
	world_close(&w);
}

/* A server answers a batch of requests in one sendmmsg: its 64 B
 * responses to the client group leave in one GSO buffer that loopback
 * keeps whole, the kernel steers it by its first datagram, and the member
 * that gets it hands the other lane's datagrams over. The two members'
 * requests arrive interleaved, 4 at a time: smt_process() hands the server
 * 16 at a time (docs/engine.md "The pipeline bubble at 32 outstanding"),
 * and each batch of replies names both lanes. */
Test(rpgroup, coalesced_buffers_steered_again)
{
	struct smt_endpoint_opts o = udp_opts();
	struct smt_stats a, b;
	struct world w;
	struct smt_msg m;
	uint64_t end;
	unsigned int i, got = 0;

	memset(&w, 0, sizeof(w));
	w.nc = 2;
	w.ns = 1;
	cr_assert_eq(smt_endpoint_open(&o, &w.srv[0]), 0);
	cr_assert_eq(smt_endpoint_open_group(&o, 2, w.cli), 0);
	world_join(&w);
	/* the 3 requests of each burst held behind its first (docs/api.md
	 * "Event loop") leave at the client's next turn */
	for (i = 0; i < 8; i++) {
		world_send(&w, i % 2, 4, 64);
		smt_process(w.cli[i % 2]);
	}
	/* all 32 requests wait in the server's socket, then one turn */
	usleep(50000);
	end = th_mono_ms() + 5000;
	while (got < 32 && th_mono_ms() < end) {
		smt_wait(w.srv[0], 1);
		while (smt_recv(w.srv[0], &m) == 0) {
			cr_assert_eq(smt_reply(w.srv[0], m.session, m.id,
					       m.data, m.len),
				     0);
			smt_msg_release(&m);
			got++;
		}
	}
	cr_assert_eq(got, 32);
	w.ns = 0; /* the clients only from now on */
	world_until(&w, 32, 5000);
	w.ns = 1;
	stats_of(w.cli[0], &a);
	stats_of(w.cli[1], &b);
	cr_assert_eq(w.resp_at[0], 16);
	cr_assert_eq(w.resp_at[1], 16);
	cr_assert_gt(a.rx_steered_out + b.rx_steered_out, 0);
	cr_assert_eq(a.rx_steered_out + b.rx_steered_out + a.rx_ack_copies +
			     b.rx_ack_copies,
		     a.rx_steered_in + b.rx_steered_in);
	world_no_drops(&w);
	world_close(&w);
}

/* Groups on both sides share one session: each client member's requests
 * are in its lane and its responses come back to it. */
Test(rpgroup, both_sides_grouped)
{
	struct world w;
	unsigned int i;

	world_open(&w, 2, 2, NULL);
	for (i = 0; i < 2; i++) {
		world_send(&w, i, 20, 100);
		world_send(&w, i, 2, 100000);
	}
	world_until(&w, 44, 10000);
	cr_assert_eq(w.resp_at[0], 22);
	cr_assert_eq(w.resp_at[1], 22);
	world_no_drops(&w);
	world_close(&w);
}

/* One client ACKs responses of both members in one ACK: each member hears
 * of its own (else it would ask with NEED_ACK after its RESEND timeout). */
Test(rpgroup, ack_reaches_every_owner)
{
	struct smt_endpoint_opts so = udp_opts(), co = udp_opts();
	struct world w;
	struct smt_stats st;
	uint64_t ctl[2];
	unsigned int i;

	memset(&w, 0, sizeof(w));
	w.nc = 1;
	w.ns = 2;
	so.resend_timeout_us = 100000; /* NEED_ACK after >= 100 ms */
	co.resend_timeout_us = 2000; /* ACK after 1 ms */
	cr_assert_eq(smt_endpoint_open_group(&so, 2, w.srv), 0);
	cr_assert_eq(smt_endpoint_open(&co, &w.cli[0]), 0);
	world_join(&w);
	world_send(&w, 0, 16, 64);
	world_until(&w, 16, 5000);
	world_pump_ms(&w, 30);
	for (i = 0; i < 2; i++) {
		stats_of(w.srv[i], &st);
		ctl[i] = st.tx_ctl;
	}
	world_pump_ms(&w, 300);
	for (i = 0; i < 2; i++) {
		stats_of(w.srv[i], &st);
		cr_assert_eq(st.tx_ctl, ctl[i], "member %u asked for ACKs", i);
	}
	world_no_drops(&w);
	world_close(&w);
}

/* Datagrams that do not parse as SMT stay where the kernel put them and
 * are dropped and counted there, once. */
Test(rpgroup, unparsed_datagrams_stay)
{
	struct world w;
	struct smt_stats a, b;
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t junk[64] = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	world_open(&w, 1, 2, NULL);
	to.sin_port = htons(smt_endpoint_port(w.srv[0]));
	cr_assert_eq(
		sendto(fd, junk, 10, 0, (struct sockaddr *)&to, sizeof(to)),
		10);
	junk[12] = 0xB1; /* another doff_ver */
	cr_assert_eq(sendto(fd, junk, sizeof(junk), 0, (struct sockaddr *)&to,
			    sizeof(to)),
		     (ssize_t)sizeof(junk));
	close(fd);
	world_pump_ms(&w, 50);
	stats_of(w.srv[0], &a);
	stats_of(w.srv[1], &b);
	cr_assert_eq(a.drops_total + b.drops_total, 2);
	cr_assert_eq(a.rx_steered_out + b.rx_steered_out, 0);
	world_close(&w);
}

Test(rpgroup, open_checks)
{
	struct smt_endpoint_opts o = udp_opts(), ip = udp_opts();
	struct smt_endpoint *eps[3] = {0}, *one = NULL;

	ip.encap = SMT_ENCAP_IP;
	cr_assert_eq(smt_endpoint_open_group(&ip, 2, eps), -EINVAL);
	cr_assert_eq(smt_endpoint_open_group(&o, 0, eps), -EINVAL);
	cr_assert_eq(smt_endpoint_open_group(&o, SMT_GROUP_MAX + 1, eps),
		     -EINVAL);
	cr_assert_eq(smt_endpoint_open_group(&o, 3, eps), 0);
	cr_assert_eq(smt_endpoint_port(eps[1]), smt_endpoint_port(eps[0]));
	cr_assert_eq(smt_endpoint_port(eps[2]), smt_endpoint_port(eps[0]));
	/* an endpoint outside the group cannot take the port */
	o.port = smt_endpoint_port(eps[0]);
	cr_assert_eq(smt_endpoint_open(&o, &one), -SMT_E_PORT_IN_USE);
	/* members go through smtd as a group (tests/unit/ctl/
	 * test_ctl_group.c); with no smtd there, they say so */
	setenv("SMT_CTL_SOCKET", "/nonexistent/smtd.sock", 1);
	cr_assert_eq(smt_serve(eps[0], "x"), -SMT_E_NOSMTD);
	cr_assert(strstr(smt_last_error(eps[1]), "cannot reach smtd") != NULL,
		  "%s", smt_last_error(eps[1]));
	smt_endpoint_close(eps[0]);
	smt_endpoint_close(eps[1]);
	smt_endpoint_close(eps[2]);
	/* nor can a group take a port a plain endpoint holds */
	o.port = 0;
	cr_assert_eq(smt_endpoint_open(&o, &one), 0);
	o.port = smt_endpoint_port(one);
	cr_assert_eq(smt_endpoint_open_group(&o, 2, eps), -SMT_E_PORT_IN_USE);
	smt_endpoint_close(one);
}

/* Members on their own threads: member `slow` holds a large request for
 * 400 ms before it answers (a busy core); the other member keeps serving
 * small RPCs meanwhile. */
struct srv_thread {
	struct smt_endpoint *ep;
	bool stall_large;
	volatile bool stop;
	pthread_t t;
};

static void *srv_main(void *arg)
{
	struct srv_thread *s = arg;
	struct smt_msg m;

	while (!s->stop) {
		smt_wait(s->ep, 5);
		while (smt_recv(s->ep, &m) == 0) {
			if (m.kind == SMT_MSG_REQUEST) {
				if (s->stall_large && m.len > 100000)
					usleep(400000);
				smt_reply(s->ep, m.session, m.id, m.data,
					  m.len);
			}
			smt_msg_release(&m);
		}
	}
	return NULL;
}

Test(rpgroup, large_on_one_thread_small_on_the_other)
{
	struct smt_endpoint_opts o = udp_opts();
	struct srv_thread st[2] = {0};
	struct world w;
	uint8_t *big = calloc(1, 500000), small[64] = {0};
	uint64_t id, big_id, t0, big_ms = 0;
	unsigned int i, fast = 0, slow_lane, small_ok = 0;
	struct smt_msg m;

	cr_assert_not_null(big);
	memset(&w, 0, sizeof(w));
	w.nc = 1;
	w.ns = 2;
	cr_assert_eq(smt_endpoint_open_group(&o, 2, w.srv), 0);
	o.rpc_timeouts = 2000; /* the stalled member is silent for 400 ms */
	cr_assert_eq(smt_endpoint_open(&o, &w.cli[0]), 0);
	world_join(&w);
	cr_assert_eq(
		smt_send_request(w.cli[0], w.csess[0], big, 500000, 1, &big_id),
		0);
	slow_lane = smt_msg_lane(ID_MSG(big_id), 2);
	for (i = 0; i < 2; i++) {
		st[i].ep = w.srv[i];
		st[i].stall_large = i == slow_lane;
		cr_assert_eq(pthread_create(&st[i].t, NULL, srv_main, &st[i]),
			     0);
	}
	t0 = th_mono_ms();
	/* small RPCs one at a time until the large one is answered */
	while (!big_ms && th_mono_ms() - t0 < 5000) {
		cr_assert_eq(smt_send_request(w.cli[0], w.csess[0], small,
					      sizeof(small), 0, &id),
			     0);
		for (;;) {
			smt_wait(w.cli[0], 5);
			if (smt_recv(w.cli[0], &m) < 0)
				continue;
			cr_assert_eq(m.kind, SMT_MSG_RESPONSE, "kind %d: %s",
				     m.kind, smt_strerror(m.error));
			if (m.cookie == 1) {
				big_ms = th_mono_ms() - t0;
				smt_msg_release(&m);
				continue; /* the small one is still out */
			}
			small_ok++;
			if (smt_msg_lane(ID_MSG(m.id), 2) != slow_lane &&
			    !big_ms)
				fast++;
			smt_msg_release(&m);
			break;
		}
	}
	cr_assert_geq(big_ms, 400);
	/* while the large request waited 400 ms on its member, small RPCs
	 * of the other lane kept completing (they alternate lanes, so a
	 * small one on the slow lane waits too: about one per stall) */
	cr_assert_gt(fast, 0, "%u small RPCs, %u of the free lane", small_ok,
		     fast);
	for (i = 0; i < 2; i++) {
		st[i].stop = true;
		pthread_join(st[i].t, NULL);
	}
	world_close(&w);
	free(big);
}

/* The engines' lanes and shared counters: two engines of a group of two
 * allocate request msg_ids and ctl_seq values in their own lanes, above
 * each other's. */
struct cap {
	uint64_t ctl_seq[16];
	unsigned int n;
};

static int cap_send(void *ctx, const struct smt_engine_tx *tx)
{
	struct cap *c = ctx;
	uint64_t v = 0;
	unsigned int i;

	if (tx->pkt[13] == SMT_TYPE_DATA || c->n == 16)
		return 0;
	for (i = 0; i < 8; i++) /* ctl_seq: before the 16-byte tag */
		v = v << 8 | tx->pkt[tx->len - 24 + i];
	c->ctl_seq[c->n++] = v;
	return 0;
}

static const struct smt_engine_ops cap_ops = {.send = cap_send};

/* Two engines, lanes 0 and 1 of a group of two, holding one session with
 * shared counters sh; sid[i] is the session on e[i]. */
static void engine_pair(struct smt_engine *e[2], struct cap cap[2],
			struct smt_engine_share *sh, uint32_t sid[2])
{
	struct smt_engine_cfg c = {.lanes = 2};
	struct smt_engine_session s = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&s.peer;
	unsigned int i;

	cr_assert_not_null(sh);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.local_port = 1000;
	s.peer_port = 2000;
	s.keys.cipher = SMT_CIPHER_AES_128_GCM;
	s.keys.key_len = 16;
	s.share = sh;
	for (i = 0; i < 2; i++) {
		c.lane = (uint16_t)i;
		e[i] = smt_engine_new(&c, &cap_ops, &cap[i]);
		cr_assert_not_null(e[i]);
		cr_assert_eq(smt_engine_session_add(e[i], &s, &sid[i]), 0);
	}
	c.lane = 2; /* past the group */
	cr_assert_null(smt_engine_new(&c, &cap_ops, NULL));
}

Test(rpgroup, engine_lanes_and_shared_counters)
{
	struct smt_engine_share *sh = calloc(1, sizeof(*sh));
	struct smt_engine *e[2];
	struct cap cap[2] = {0};
	uint32_t sid[2];
	uint64_t id, last = 0;
	unsigned int i, k;

	engine_pair(e, cap, sh, sid);
	/* engine 0 sends 5, then engine 1 one: above all of engine 0's */
	for (k = 0; k < 6; k++) {
		i = k < 5 ? 0 : 1;
		cr_assert_eq(
			smt_engine_send(e[i], sid[i], "x", 1, 0, 0, &id, 1), 0);
		id = smt_engine_id_msg(id);
		cr_assert_eq(id & 1, 0);
		cr_assert_eq(smt_msg_lane(id, 2), i, "id %llu on engine %u",
			     (unsigned long long)id, i);
		cr_assert_gt(id, last);
		last = id;
	}
	/* silent requests: each engine asks for its responses (RESEND 0/0,
	 * a control packet) with a ctl_seq of its lane, none used twice */
	for (i = 0; i < 2; i++) {
		smt_engine_advance(e[i], 1000000000ULL);
		cr_assert_gt(cap[i].n, 0);
		for (k = 0; k < cap[i].n; k++)
			cr_assert_eq(cap[i].ctl_seq[k] % 2, i, "ctl_seq %llu",
				     (unsigned long long)cap[i].ctl_seq[k]);
	}
	cr_assert_gt(cap[1].ctl_seq[0], cap[0].ctl_seq[cap[0].n - 1]);
	for (i = 0; i < 2; i++)
		smt_engine_free(e[i]);
	free(sh);
}

/* protocol.md 4 across a group: no engine starts a request 2W past one
 * that another engine of the group still has outstanding (a peer with one
 * window for all lanes would drop it as a replay). */
Test(rpgroup, engine_group_replay_window)
{
	struct smt_engine_share *sh = calloc(1, sizeof(*sh));
	struct smt_engine *e[2];
	struct cap cap[2] = {0};
	uint32_t sid[2];
	uint64_t old, id, last = 0;
	unsigned int i, n = 0;
	int ret;

	engine_pair(e, cap, sh, sid);
	cr_assert_eq(smt_engine_send(e[0], sid[0], "x", 1, 0, 0, &old, 1), 0);
	old = smt_engine_id_msg(old);
	/* engine 1's own requests end at once: only engine 0's holds it */
	while ((ret = smt_engine_send(e[1], sid[1], "y", 1, 0, 0, &id, 1)) ==
	       0) {
		last = smt_engine_id_msg(id);
		cr_assert_eq(smt_engine_cancel(e[1], sid[1], id, 1), 0);
		n++;
		cr_assert_lt(n, 5000);
	}
	cr_assert_eq(ret, -EAGAIN);
	cr_assert_lt(last, old + 2 * SMT_REPLAY_WINDOW);
	cr_assert_geq(last + 4, old + 2 * SMT_REPLAY_WINDOW - 4,
		      "stopped at %llu, old %llu", (unsigned long long)last,
		      (unsigned long long)old);
	/* the old request ends: engine 1 may go on */
	cr_assert_eq(smt_engine_cancel(e[0], sid[0], old, 2), 0);
	cr_assert_eq(smt_engine_send(e[1], sid[1], "y", 1, 0, 0, &id, 3), 0);
	for (i = 0; i < 2; i++)
		smt_engine_free(e[i]);
	free(sh);
}
