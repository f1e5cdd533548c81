// SPDX-License-Identifier: BSD-2-Clause
/*
 * The deterministic network simulator (see sim.h): hosts with engines, a
 * switch with strict-priority egress queues, loss, duplication, reordering,
 * jitter and bandwidth in virtual time, and the RPC workload with its
 * property checks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "sim.h"
#include "sim_props.h"

struct sim_pkt {
	struct sim_pkt *next;
	int src, dst;
	uint8_t prio;
	uint32_t len;
	uint8_t data[];
};

enum { EV_ARRIVE = 1, EV_EGRESS, EV_SEND, EV_REPLY, EV_CANCEL };

struct sim_ev {
	uint64_t t, seq;
	int type, host, idx;
	struct sim_pkt *pkt;
};

struct sim_host {
	struct sim *sim;
	int idx;
	struct smt_engine *e;
	struct sockaddr_storage addr;
	uint16_t port;
	uint32_t sid[SIM_MAX_HOSTS];
	int peer_of_sid[SIM_MAX_HOSTS + 1]; /* sids are 1..n-1 */
	struct sim_pkt *qh[SMT_PRIO_MAX + 1], *qt[SMT_PRIO_MAX + 1];
	uint64_t qbytes;
	bool busy;
	uint64_t cpu_free; /* the host's CPU is busy until then */
	/* DATA headers are built here (ops.pkt_buf) and their payloads
	 * handed by reference, as to api.c's backends, whose batch may wait
	 * past several engine calls (held bursts, a batch of input): each
	 * reference is checked when the host's link next takes a packet
	 * (still there, same bytes), then smt_engine_tx_done() */
	uint8_t hdr[SMT_HDR_LEN + 64];
	struct sim_ref {
		const uint8_t *ref;
		struct sim_pkt *p;
		uint32_t off, len;
	} * refs;
	size_t nrefs, caprefs;
};

struct rpc_key {
	int src, dst;
	uint64_t id;
	int idx; /* -1 = empty */
};

struct sim {
	struct sim_cfg cfg;
	uint64_t now, rng, seq;
	struct sim_host h[SIM_MAX_HOSTS];
	struct smt_keys keys[SIM_MAX_HOSTS][SIM_MAX_HOSTS];
	struct sim_ev *ev;
	size_t nev, capev;
	struct sim_rpc *rpc;
	int nrpc, caprpc;
	struct rpc_key *map;
	size_t mapcap, mapn;
	struct sim_stats st;
	bool trace;
	char err[512];
	/* wire properties and caps (sim_props.c) */
	struct sim_props *props;
	uint32_t grant_window;
	uint64_t steps;
};

/* SMT_SIM_TRACE=1: one line per packet event on stderr, for debugging. */
static void trace_pkt(const struct sim *sim, const char *what,
		      const struct sim_pkt *p)
{
	const uint8_t *d = p->data;
	uint64_t id = 0;
	uint32_t off, seg, mlen, gr;
	int i;

	if (!sim->trace || p->len < SMT_HDR_LEN)
		return;
	for (i = 0; i < 8; i++)
		id = id << 8 | d[20 + i];
	off = (uint32_t)d[4] << 24 | d[5] << 16 | d[6] << 8 | d[7];
	seg = (uint32_t)d[8] << 24 | d[9] << 16 | d[10] << 8 | d[11];
	mlen = (uint32_t)d[28] << 24 | d[29] << 16 | d[30] << 8 | d[31];
	gr = (uint32_t)d[32] << 24 | d[33] << 16 | d[34] << 8 | d[35];
	if (d[13] != SMT_TYPE_DATA && p->len >= SMT_HDR_LEN + 8) {
		off = (uint32_t)d[40] << 24 | d[41] << 16 | d[42] << 8 | d[43];
		seg = (uint32_t)d[44] << 24 | d[45] << 16 | d[46] << 8 | d[47];
	}
	fprintf(stderr,
		"%10llu %-6s %d->%d type %#x id %llu off %u seg/len %u "
		"msg_len %u granted %u flags %u prio %u len %u\n",
		(unsigned long long)sim->now, what, p->src, p->dst, d[13],
		(unsigned long long)id, off, seg, mlen, gr, d[15], d[36],
		p->len);
}

/* ---- randomness -------------------------------------------------------------- */

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t sim_rand(struct sim *sim)
{
	sim->rng = splitmix(sim->rng);
	return sim->rng;
}

double sim_unit(struct sim *sim)
{
	return (double)(sim_rand(sim) >> 11) / (double)(1ULL << 53);
}

void sim_payload(int idx, int dir, uint8_t *buf, uint32_t len)
{
	uint64_t base = splitmix((uint64_t)idx * 2 + (uint64_t)dir + 77);
	uint32_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t v = splitmix(base + i);
		uint32_t k;

		for (k = 0; k < 8 && i + k < len; k++)
			buf[i + k] = (uint8_t)(v >> (8 * k));
	}
}

static void fail(struct sim *sim, const char *fmt, ...)
{
	va_list ap;

	if (sim->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(sim->err, sizeof(sim->err), fmt, ap);
	va_end(ap);
}

const char *sim_error(const struct sim *sim)
{
	return sim->err;
}

/* ---- event heap ------------------------------------------------------------------ */

static bool ev_less(const struct sim_ev *a, const struct sim_ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void ev_push(struct sim *sim, struct sim_ev ev)
{
	size_t i;

	if (sim->nev == sim->capev) {
		sim->capev = sim->capev ? sim->capev * 2 : 256;
		sim->ev = realloc(sim->ev, sim->capev * sizeof(*sim->ev));
		if (!sim->ev)
			abort();
	}
	ev.seq = sim->seq++;
	i = sim->nev++;
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!ev_less(&ev, &sim->ev[p]))
			break;
		sim->ev[i] = sim->ev[p];
		i = p;
	}
	sim->ev[i] = ev;
}

static struct sim_ev ev_pop(struct sim *sim)
{
	struct sim_ev top = sim->ev[0], last = sim->ev[--sim->nev];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= sim->nev)
			break;
		if (c + 1 < sim->nev && ev_less(&sim->ev[c + 1], &sim->ev[c]))
			c++;
		if (!ev_less(&sim->ev[c], &last))
			break;
		sim->ev[i] = sim->ev[c];
		i = c;
	}
	if (sim->nev)
		sim->ev[i] = last;
	return top;
}

/* ---- rpc map ---------------------------------------------------------------------- */

static size_t map_slot(const struct sim *sim, int src, int dst, uint64_t id)
{
	return splitmix(id * 131 + (uint64_t)src * 17 + (uint64_t)dst) &
	       (sim->mapcap - 1);
}

static void map_put(struct sim *sim, int src, int dst, uint64_t id, int idx);

static void map_grow(struct sim *sim)
{
	struct rpc_key *old = sim->map;
	size_t oldcap = sim->mapcap, i;

	sim->mapcap = oldcap ? oldcap * 2 : 64;
	sim->map = malloc(sim->mapcap * sizeof(*sim->map));
	if (!sim->map)
		abort();
	for (i = 0; i < sim->mapcap; i++)
		sim->map[i].idx = -1;
	sim->mapn = 0;
	for (i = 0; i < oldcap; i++)
		if (old[i].idx >= 0)
			map_put(sim, old[i].src, old[i].dst, old[i].id,
				old[i].idx);
	free(old);
}

static void map_put(struct sim *sim, int src, int dst, uint64_t id, int idx)
{
	size_t i;

	if ((sim->mapn + 1) * 2 > sim->mapcap)
		map_grow(sim);
	i = map_slot(sim, src, dst, id);
	while (sim->map[i].idx >= 0)
		i = (i + 1) & (sim->mapcap - 1);
	sim->map[i] = (struct rpc_key){src, dst, id, idx};
	sim->mapn++;
}

static int map_get(const struct sim *sim, int src, int dst, uint64_t id)
{
	size_t i;

	if (!sim->mapcap)
		return -1;
	for (i = map_slot(sim, src, dst, id); sim->map[i].idx >= 0;
	     i = (i + 1) & (sim->mapcap - 1)) {
		const struct rpc_key *k = &sim->map[i];

		if (k->src == src && k->dst == dst && k->id == id)
			return k->idx;
	}
	return -1;
}

/* ---- the network --------------------------------------------------------------------- */

static void egress_kick(struct sim *sim, struct sim_host *h)
{
	if (h->busy)
		return;
	h->busy = true;
	ev_push(sim, (struct sim_ev){
			     .t = sim->now, .type = EV_EGRESS, .host = h->idx});
}

static int sim_send(void *ctx, const struct smt_engine_tx *tx)
{
	struct sim_host *h = ctx;
	struct sim *sim = h->sim;
	int dst = h->peer_of_sid[tx->session];
	struct sim_pkt *p;
	uint8_t prio = tx->prio > SMT_PRIO_MAX ? SMT_PRIO_MAX : tx->prio;
	size_t len = tx->len + tx->payload_len;

	sim->st.pkts++;
	p = malloc(sizeof(*p) + len);
	if (!p)
		abort();
	p->next = NULL;
	p->src = h->idx;
	p->dst = dst;
	p->prio = prio;
	p->len = (uint32_t)len;
	memcpy(p->data, tx->pkt, tx->len);
	if (tx->payload_len)
		memcpy(p->data + tx->len, tx->payload, tx->payload_len);
	if (!sim->err[0])
		sim_props_ctl_out(sim->props, h->idx, dst, p->data, len,
				  sim->grant_window, sim->err,
				  sizeof(sim->err));
	if (sim->cfg.tap &&
	    sim->cfg.tap(sim, sim->cfg.tap_arg, h->idx, dst, p->data, len)) {
		sim->st.dropped_tap++;
		free(p);
		return 0;
	}
	if (sim->cfg.link.qlimit && h->qbytes + len > sim->cfg.link.qlimit) {
		if (sim->trace)
			fprintf(stderr, "%10llu QDROP  %d->%d\n",
				(unsigned long long)sim->now, h->idx, dst);
		sim->st.dropped_queue++;
		free(p);
		return 0;
	}
	if (tx->payload_len) {
		if (h->nrefs == h->caprefs) {
			h->caprefs = h->caprefs ? 2 * h->caprefs : 64;
			h->refs =
				realloc(h->refs, h->caprefs * sizeof(*h->refs));
			if (!h->refs)
				abort();
		}
		h->refs[h->nrefs++] =
			(struct sim_ref){tx->payload, p, (uint32_t)tx->len,
					 (uint32_t)tx->payload_len};
	}
	if (h->qt[prio])
		h->qt[prio]->next = p;
	else
		h->qh[prio] = p;
	h->qt[prio] = p;
	h->qbytes += p->len;
	egress_kick(sim, h);
	return 0;
}

/* The host's batch leaves: the payloads the engine handed by reference
 * must still hold what they held (freed memory: ASan). */
static void sim_batch_sent(struct sim_host *h)
{
	size_t i;

	for (i = 0; i < h->nrefs; i++) {
		const struct sim_ref *r = &h->refs[i];

		if (memcmp(r->p->data + r->off, r->ref, r->len))
			fail(h->sim,
			     "host %d: a DATA payload changed before "
			     "the flush",
			     h->idx);
	}
	h->nrefs = 0;
	smt_engine_tx_done(h->e);
}

static uint8_t *sim_pkt_buf(void *ctx, const struct sockaddr_storage *peer,
			    size_t len)
{
	struct sim_host *h = ctx;

	(void)peer;
	(void)len;
	return h->hdr;
}

static void arrive_at(struct sim *sim, struct sim_pkt *p, uint64_t t)
{
	ev_push(sim,
		(struct sim_ev){
			.t = t, .type = EV_ARRIVE, .host = p->dst, .pkt = p});
}

static uint64_t flight(struct sim *sim)
{
	const struct sim_link *l = &sim->cfg.link;
	uint64_t d = l->delay_ns;

	if (l->jitter_ns)
		d += sim_rand(sim) % (l->jitter_ns + 1);
	if (l->reorder > 0 && sim_unit(sim) < l->reorder && l->reorder_ns)
		d += sim_rand(sim) % (l->reorder_ns + 1);
	return d;
}

static void egress(struct sim *sim, struct sim_host *h)
{
	const struct sim_link *l = &sim->cfg.link;
	struct sim_pkt *p = NULL;
	uint64_t tx_ns = 0;
	int prio;

	sim_batch_sent(h);
	for (prio = SMT_PRIO_MAX; prio >= 0 && !p; prio--) {
		p = h->qh[prio];
		if (p) {
			h->qh[prio] = p->next;
			if (!h->qh[prio])
				h->qt[prio] = NULL;
		}
	}
	if (!p) {
		h->busy = false;
		return;
	}
	h->qbytes -= p->len;
	p->next = NULL;
	if (l->gbps > 0)
		tx_ns = (uint64_t)((p->len + 20 + 18) * 8 / l->gbps);
	if (l->loss > 0 && sim_unit(sim) < l->loss) {
		trace_pkt(sim, "LOST", p);
		sim->st.dropped_loss++;
		free(p);
	} else {
		if (l->dup > 0 && sim_unit(sim) < l->dup) {
			struct sim_pkt *c = malloc(sizeof(*c) + p->len);

			if (!c)
				abort();
			memcpy(c, p, sizeof(*c) + p->len);
			sim->st.dups++;
			arrive_at(sim, c, sim->now + tx_ns + flight(sim));
		}
		arrive_at(sim, p, sim->now + tx_ns + flight(sim));
	}
	ev_push(sim, (struct sim_ev){.t = sim->now + tx_ns,
				     .type = EV_EGRESS,
				     .host = h->idx});
}

void sim_inject(struct sim *sim, int src, int dst, const uint8_t *pkt,
		size_t len, uint64_t delay_ns)
{
	struct sim_pkt *p = malloc(sizeof(*p) + len);

	if (!p)
		abort();
	p->next = NULL;
	p->src = src;
	p->dst = dst;
	p->prio = 0;
	p->len = (uint32_t)len;
	memcpy(p->data, pkt, len);
	arrive_at(sim, p, sim->now + delay_ns);
}

/* ---- the application ------------------------------------------------------------------ */

static bool payload_check(int idx, int dir, const uint8_t *data, uint32_t len,
			  uint32_t want)
{
	uint8_t *buf;
	bool ok;

	if (len != want)
		return false;
	if (!len)
		return true;
	buf = malloc(len);
	if (!buf)
		abort();
	sim_payload(idx, dir, buf, len);
	ok = !memcmp(buf, data, len);
	free(buf);
	return ok;
}

static void app_send(struct sim *sim, int idx)
{
	struct sim_rpc *r = &sim->rpc[idx];
	struct sim_host *h = &sim->h[r->src];
	uint8_t *buf = r->req_len ? malloc(r->req_len) : NULL;
	int err;

	if (r->req_len && !buf)
		abort();
	sim_payload(idx, 0, buf, r->req_len);
	err = smt_engine_send(h->e, h->sid[r->dst], buf, r->req_len,
			      r->oneway ? SMT_ENGINE_ONEWAY : 0, (uint64_t)idx,
			      &r->id, sim->now);
	free(buf);
	if (err == -EAGAIN) { /* a limit: try again a little later */
		ev_push(sim, (struct sim_ev){.t = sim->now + 100000,
					     .type = EV_SEND,
					     .idx = idx});
		return;
	}
	if (err) {
		fail(sim, "rpc %d: smt_engine_send: %d", idx, err);
		return;
	}
	r->state = SIM_RPC_PENDING;
	r->start_ns = sim->now;
	map_put(sim, r->src, r->dst, r->id, idx);
}

static void app_reply(struct sim *sim, int idx)
{
	struct sim_rpc *r = &sim->rpc[idx];
	struct sim_host *h = &sim->h[r->dst];
	uint8_t *buf = r->resp_len ? malloc(r->resp_len) : NULL;
	int err;

	if (r->resp_len && !buf)
		abort();
	sim_payload(idx, 1, buf, r->resp_len);
	err = smt_engine_reply(h->e, h->sid[r->src], r->id, buf, r->resp_len,
			       sim->now);
	free(buf);
	/* -ENOENT: the request's epoch was drained; never -EAGAIN */
	if (err && err != -ENOENT)
		fail(sim, "rpc %d: smt_engine_reply: %d", idx, err);
	r->replied = true;
}

static void app_cancel(struct sim *sim, int idx)
{
	struct sim_rpc *r = &sim->rpc[idx];
	struct sim_host *h = &sim->h[r->src];
	int err;

	if (r->state != SIM_RPC_PENDING)
		return; /* not issued yet or ended already: nothing to do */
	err = smt_engine_cancel(h->e, h->sid[r->dst], r->id, sim->now);
	if (err)
		fail(sim, "rpc %d: cancel of a pending rpc: %d", idx, err);
	r->canceled = true;
}

void sim_rpc_cancel_at(struct sim *sim, int idx, uint64_t t)
{
	ev_push(sim, (struct sim_ev){.t = t, .type = EV_CANCEL, .idx = idx});
}

static void app_event(struct sim *sim, struct sim_host *h,
		      struct smt_engine_event *ev)
{
	int peer = h->peer_of_sid[ev->session];
	struct sim_rpc *r;
	int idx;

	if (sim->trace)
		fprintf(stderr,
			"%10llu EVENT  host %d type %d id %llu err %d "
			"len %u\n",
			(unsigned long long)sim->now, h->idx, ev->type,
			(unsigned long long)ev->id, ev->error, ev->len);
	switch (ev->type) {
	case SMT_ENGINE_EV_REQUEST:
	case SMT_ENGINE_EV_ONEWAY:
		idx = map_get(sim, peer, h->idx, ev->id);
		if (idx < 0) {
			fail(sim,
			     "host %d: delivered unknown message %#llx "
			     "from host %d",
			     h->idx, (unsigned long long)ev->id, peer);
			break;
		}
		r = &sim->rpc[idx];
		if (r->oneway != (ev->type == SMT_ENGINE_EV_ONEWAY))
			fail(sim, "rpc %d: oneway flag flipped", idx);
		if (++r->req_delivered > 1)
			fail(sim, "rpc %d: request delivered twice", idx);
		if (!payload_check(idx, 0, ev->data, ev->len, r->req_len))
			fail(sim, "rpc %d: request corrupted (len %u want %u)",
			     idx, ev->len, r->req_len);
		sim->st.delivered++;
		if (!r->oneway)
			ev_push(sim,
				(struct sim_ev){.t = sim->now + r->service_ns,
						.type = EV_REPLY,
						.idx = idx});
		break;
	case SMT_ENGINE_EV_RESPONSE:
	case SMT_ENGINE_EV_FAILED:
	case SMT_ENGINE_EV_SENT:
		idx = (int)ev->cookie;
		if (idx < 0 || idx >= sim->nrpc ||
		    map_get(sim, h->idx, peer, ev->id) != idx) {
			fail(sim, "host %d: event %d for unknown rpc %#llx",
			     h->idx, ev->type, (unsigned long long)ev->id);
			break;
		}
		r = &sim->rpc[idx];
		if (r->state != SIM_RPC_PENDING) {
			fail(sim, "rpc %d: second outcome (event %d)", idx,
			     ev->type);
			break;
		}
		r->done_ns = sim->now;
		if (ev->type == SMT_ENGINE_EV_RESPONSE) {
			if (r->oneway)
				fail(sim, "rpc %d: response to oneway", idx);
			if (++r->resp_delivered > 1)
				fail(sim, "rpc %d: response twice", idx);
			if (!payload_check(idx, 1, ev->data, ev->len,
					   r->resp_len))
				fail(sim, "rpc %d: response corrupted", idx);
			sim->st.delivered++;
			r->state = SIM_RPC_DONE;
		} else if (ev->error) {
			r->state = SIM_RPC_FAILED;
			r->error = ev->error;
			if (ev->error == -ECANCELED && !r->canceled)
				fail(sim, "rpc %d: canceled by nobody", idx);
			if (r->canceled && ev->error != -ECANCELED)
				fail(sim, "rpc %d: canceled, but error %d", idx,
				     ev->error);
			if (!r->canceled)
				sim->st.failed++;
		} else {
			r->state = SIM_RPC_DONE; /* oneway ACKed */
			if (r->req_delivered != 1)
				fail(sim, "rpc %d: oneway ACKed, delivered %u",
				     idx, r->req_delivered);
		}
		break;
	}
}

static void app_drain(struct sim *sim)
{
	int i;

	for (i = 0; i < sim->cfg.nhosts; i++) {
		struct sim_host *h = &sim->h[i];
		struct smt_engine_event ev;

		while (smt_engine_next_event(h->e, &ev)) {
			app_event(sim, h, &ev);
			smt_engine_event_free(&ev);
		}
	}
}

/* ---- set-up -------------------------------------------------------------------------- */

static void host_addr(struct sim *sim, int i, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (sim->cfg.ipv6) {
		struct sockaddr_in6 *a = (void *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr.s6_addr[0] = 0xfd;
		a->sin6_addr.s6_addr[15] = (uint8_t)(i + 1);
	} else {
		struct sockaddr_in *a = (void *)ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(0x0a000001u + (uint32_t)i);
	}
}

struct sim *sim_new(const struct sim_cfg *cfg)
{
	struct smt_engine_ops ops = {
		.send = sim_send,
		.pkt_buf = sim_pkt_buf,
	};
	struct sim *sim;
	int i, j;

	if (cfg->nhosts < 2 || cfg->nhosts > SIM_MAX_HOSTS) {
		errno = EINVAL;
		return NULL;
	}
	sim = calloc(1, sizeof(*sim));
	if (!sim)
		return NULL;
	sim->cfg = *cfg;
	if (!sim->cfg.cipher)
		sim->cfg.cipher = SMT_CIPHER_AES_128_GCM;
	if (!sim->cfg.time_limit_ns)
		sim->cfg.time_limit_ns = 20000000000ULL;
	if (!sim->cfg.max_pkts)
		sim->cfg.max_pkts = SIM_MAX_PKTS_DEFAULT;
	if (!sim->cfg.max_rss)
		sim->cfg.max_rss = SIM_MAX_RSS_DEFAULT;
	sim->props = sim_props_new();
	if (!sim->props) {
		free(sim);
		return NULL;
	}
	sim->rng = cfg->seed ^ 0x5eed5eed5eedULL;
	sim->trace = getenv("SMT_SIM_TRACE") != NULL;
	for (i = 0; i < cfg->nhosts; i++) {
		for (j = i + 1; j < cfg->nhosts; j++) {
			struct smt_keys *k = &sim->keys[i][j];
			size_t b;

			k->cipher = sim->cfg.cipher;
			k->key_len = smt_cipher_key_len(k->cipher);
			for (b = 0; b < SMT_KEY_MAX; b++) {
				k->c_key[b] = (uint8_t)sim_rand(sim);
				k->s_key[b] = (uint8_t)sim_rand(sim);
			}
			for (b = 0; b < SMT_IV_LEN; b++) {
				k->c_iv[b] = (uint8_t)sim_rand(sim);
				k->s_iv[b] = (uint8_t)sim_rand(sim);
			}
			sim->keys[j][i] = *k;
		}
	}
	for (i = 0; i < cfg->nhosts; i++) {
		struct sim_host *h = &sim->h[i];

		h->sim = sim;
		h->idx = i;
		h->port = (uint16_t)(4000 + i);
		host_addr(sim, i, &h->addr);
		h->e = smt_engine_new(&cfg->eng, &ops, h);
		if (!h->e) {
			sim_free(sim);
			return NULL;
		}
	}
	for (i = 0; i < cfg->nhosts; i++) {
		for (j = 0; j < cfg->nhosts; j++) {
			struct smt_engine_session s = {0};
			int err;

			if (i == j)
				continue;
			s.peer = sim->h[j].addr;
			s.local_port = sim->h[i].port;
			s.peer_port = sim->h[j].port;
			s.tls_client = i < j;
			s.keys = sim->keys[i][j];
			s.limits = cfg->limits;
			s.max_payload = cfg->max_payload;
			err = smt_engine_session_add(sim->h[i].e, &s,
						     &sim->h[i].sid[j]);
			if (err || sim->h[i].sid[j] > SIM_MAX_HOSTS) {
				sim_free(sim);
				errno = err ? -err : EINVAL;
				return NULL;
			}
			sim->h[i].peer_of_sid[sim->h[i].sid[j]] = j;
		}
	}
	{
		struct smt_engine_cfg ec;

		smt_engine_get_cfg(sim->h[0].e, &ec);
		sim->grant_window = ec.grant_window;
	}
	return sim;
}

void sim_free(struct sim *sim)
{
	int i, p;

	if (!sim)
		return;
	for (i = 0; i < SIM_MAX_HOSTS; i++) {
		smt_engine_free(sim->h[i].e);
		free(sim->h[i].refs);
		for (p = 0; p <= SMT_PRIO_MAX; p++) {
			while (sim->h[i].qh[p]) {
				struct sim_pkt *n = sim->h[i].qh[p]->next;

				free(sim->h[i].qh[p]);
				sim->h[i].qh[p] = n;
			}
		}
	}
	while (sim->nev) {
		struct sim_ev ev = ev_pop(sim);

		free(ev.pkt);
	}
	free(sim->ev);
	free(sim->rpc);
	free(sim->map);
	sim_props_free(sim->props);
	explicit_bzero(sim->keys, sizeof(sim->keys));
	free(sim);
}

int sim_rpc_add(struct sim *sim, uint64_t start_ns, int src, int dst,
		uint32_t req_len, uint32_t resp_len, bool oneway)
{
	struct sim_rpc *r;

	if (sim->nrpc == sim->caprpc) {
		sim->caprpc = sim->caprpc ? sim->caprpc * 2 : 64;
		sim->rpc = realloc(sim->rpc, sim->caprpc * sizeof(*sim->rpc));
		if (!sim->rpc)
			abort();
	}
	r = &sim->rpc[sim->nrpc];
	memset(r, 0, sizeof(*r));
	r->start_ns = start_ns;
	r->src = src;
	r->dst = dst;
	r->req_len = req_len;
	r->resp_len = resp_len;
	r->oneway = oneway;
	if (sim->cfg.service_max_ns)
		r->service_ns = sim_rand(sim) % (sim->cfg.service_max_ns + 1);
	ev_push(sim, (struct sim_ev){
			     .t = start_ns, .type = EV_SEND, .idx = sim->nrpc});
	return sim->nrpc++;
}

struct sim_rpc *sim_rpc(struct sim *sim, int idx)
{
	return &sim->rpc[idx];
}

int sim_rpc_count(const struct sim *sim)
{
	return sim->nrpc;
}

/* ---- running ------------------------------------------------------------------------- */

/* When host h runs its timers next: not before its CPU is free. */
static uint64_t host_deadline(const struct sim_host *h)
{
	uint64_t d = smt_engine_next_deadline(h->e);

	return d != UINT64_MAX && d < h->cpu_free ? h->cpu_free : d;
}

static uint64_t next_engine(const struct sim *sim)
{
	uint64_t t = UINT64_MAX;
	int i;

	for (i = 0; i < sim->cfg.nhosts; i++) {
		uint64_t d = host_deadline(&sim->h[i]);

		if (d < t)
			t = d;
	}
	return t;
}

/* CPU model: a busy host's event waits; else the host works for cost. */
static bool cpu_take(struct sim *sim, struct sim_host *h, struct sim_ev *ev,
		     uint64_t pkts, uint64_t bytes)
{
	if (h->cpu_free > sim->now) {
		ev->t = h->cpu_free;
		ev_push(sim, *ev);
		return false;
	}
	if (sim->cfg.cpu_pkt_ns || sim->cfg.cpu_byte_ps)
		h->cpu_free = sim->now + pkts * sim->cfg.cpu_pkt_ns +
			      bytes * sim->cfg.cpu_byte_ps / 1000;
	return true;
}

static int step(struct sim *sim, uint64_t until)
{
	uint64_t te = next_engine(sim);
	uint64_t tv = sim->nev ? sim->ev[0].t : UINT64_MAX;
	uint64_t t = te < tv ? te : tv;
	int i;

	if (t == UINT64_MAX)
		return 0; /* quiescent */
	if (t > until)
		return 0;
	if (t > sim->now)
		sim->now = t;
	if (tv <= te) {
		struct sim_ev ev = ev_pop(sim);
		struct sim_host *h = &sim->h[ev.host];

		switch (ev.type) {
		case EV_ARRIVE:
			if (!cpu_take(sim, h, &ev, 1, ev.pkt->len))
				return 1;
			trace_pkt(sim, "IN", ev.pkt);
			sim_props_data_in(sim->props, ev.pkt->src, ev.host,
					  ev.pkt->data, ev.pkt->len);
			smt_engine_input(
				h->e,
				(const struct sockaddr *)&sim->h[ev.pkt->src]
					.addr,
				ev.pkt->data, ev.pkt->len,
				sim->cfg.ipv6 ? -1 : 0, sim->now);
			free(ev.pkt);
			break;
		case EV_EGRESS:
			egress(sim, h);
			break;
		case EV_SEND:
			if (cpu_take(sim, &sim->h[sim->rpc[ev.idx].src], &ev, 0,
				     sim->rpc[ev.idx].req_len))
				app_send(sim, ev.idx);
			break;
		case EV_REPLY:
			if (cpu_take(sim, &sim->h[sim->rpc[ev.idx].dst], &ev, 0,
				     sim->rpc[ev.idx].resp_len))
				app_reply(sim, ev.idx);
			break;
		case EV_CANCEL:
			app_cancel(sim, ev.idx);
			break;
		}
	} else {
		for (i = 0; i < sim->cfg.nhosts; i++)
			if (host_deadline(&sim->h[i]) <= sim->now)
				smt_engine_advance(sim->h[i].e, sim->now);
	}
	app_drain(sim);
	/* the send invariant (docs/engine.md, Timeouts 8), every 64 steps:
	 * a message with packets it may send is queued, each has a timer */
	for (i = 0; !(sim->steps & 63) && !sim->err[0] && i < sim->cfg.nhosts;
	     i++)
		if (smt_engine_check(sim->h[i].e, NULL, 0))
			fail(sim,
			     "host %d: a message breaks the send invariant", i);
	if (!sim->err[0])
		sim_props_caps(++sim->steps, sim->st.pkts, sim->cfg.max_pkts,
			       sim->cfg.max_rss, sim->err, sizeof(sim->err));
	return 1;
}

int sim_run_until(struct sim *sim, uint64_t t)
{
	while (!sim->err[0] && step(sim, t))
		;
	return sim->err[0] ? -1 : 0;
}

int sim_run(struct sim *sim)
{
	sim_run_until(sim, sim->cfg.time_limit_ns);
	if (!sim->err[0] && (sim->nev || next_engine(sim) != UINT64_MAX))
		fail(sim,
		     "not quiescent at the time limit (%llu ns): %zu "
		     "events, next timer %llu",
		     (unsigned long long)sim->now, sim->nev,
		     (unsigned long long)next_engine(sim));
	return sim->err[0] ? -1 : 0;
}

int sim_check(struct sim *sim, bool allow_fail)
{
	int i;

	for (i = 0; i < sim->nrpc && !sim->err[0]; i++) {
		struct sim_rpc *r = &sim->rpc[i];

		if (r->state == SIM_RPC_PENDING || r->state == SIM_RPC_WAIT)
			fail(sim,
			     "rpc %d (%s %u/%u B, host %d->%d) never "
			     "ended",
			     i, r->oneway ? "oneway" : "request", r->req_len,
			     r->resp_len, r->src, r->dst);
		else if (r->state == SIM_RPC_FAILED && !allow_fail &&
			 !r->canceled)
			fail(sim, "rpc %d (%s %u/%u B) failed: %d", i,
			     r->oneway ? "oneway" : "request", r->req_len,
			     r->resp_len, r->error);
		else if (r->state == SIM_RPC_DONE && !r->oneway &&
			 (r->req_delivered != 1 || r->resp_delivered != 1))
			fail(sim, "rpc %d done with %u/%u deliveries", i,
			     r->req_delivered, r->resp_delivered);
	}
	for (i = 0; i < sim->cfg.nhosts && !sim->err[0]; i++) {
		struct smt_engine_stats st;

		smt_engine_get_stats(sim->h[i].e, 0, &st);
		if (st.tx_msgs || st.tx_bytes || st.rx_msgs || st.rx_bytes ||
		    st.events)
			fail(sim,
			     "host %d still holds tx %llu msgs/%llu B, "
			     "rx %llu msgs/%llu B, %llu events",
			     i, (unsigned long long)st.tx_msgs,
			     (unsigned long long)st.tx_bytes,
			     (unsigned long long)st.rx_msgs,
			     (unsigned long long)st.rx_bytes,
			     (unsigned long long)st.events);
	}
	return sim->err[0] ? -1 : 0;
}

uint64_t sim_now(const struct sim *sim)
{
	return sim->now;
}

struct smt_engine *sim_engine(struct sim *sim, int host)
{
	return sim->h[host].e;
}

uint32_t sim_session(const struct sim *sim, int host, int peer)
{
	return sim->h[host].sid[peer];
}

const struct sockaddr_storage *sim_addr(const struct sim *sim, int host)
{
	return &sim->h[host].addr;
}

uint16_t sim_port(const struct sim *sim, int host)
{
	return sim->h[host].port;
}

const struct smt_keys *sim_keys(const struct sim *sim, int host, int peer,
				bool *tls_client)
{
	if (tls_client)
		*tls_client = host < peer;
	return &sim->keys[host][peer];
}

const struct sim_stats *sim_stats(const struct sim *sim)
{
	return &sim->st;
}
