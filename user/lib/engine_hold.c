// SPDX-License-Identifier: BSD-2-Clause
/*
 * Packets that arrive before their session (docs/protocol.md 8.10): with
 * 0-RTT a client sends its first request as soon as it has keys, and the
 * request usually reaches the serving endpoint before the server's smtd
 * has handed it the session. Instead of dropping it (and waiting for the
 * client's loss recovery), the engine keeps such DATA packets in one FIFO,
 * bounded per peer address and in all, packets and bytes, each for
 * cfg.hold_ns; smt_engine_session_add() runs those of its session through
 * the ordinary receive path, which judges them as any packet. Nothing is
 * sent in answer to a held packet. The FIFO is short (cfg.hold_pkts, 64
 * in libsmt), so it is searched linearly.
 */
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "engine_hold.h"

#define HOLD_BYTES_DEFAULT 65536
#define HOLD_PEER_PKTS_DEFAULT 8
#define HOLD_PEER_BYTES_DEFAULT 16384
#define HOLD_NS_DEFAULT 10000000ULL /* 10 ms: five base RESEND timeouts */

/* The address bytes of a peer (16 for IPv6, 4 for IPv4), and how many. */
static size_t peer_ip(const struct sockaddr_storage *ss, const uint8_t **ip)
{
	if (ss->ss_family == AF_INET6) {
		*ip = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		return 16;
	}
	*ip = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
	return 4;
}

static bool same_ip(const struct sockaddr_storage *a,
		    const struct sockaddr_storage *b)
{
	const uint8_t *x, *y;
	size_t n = peer_ip(a, &x);

	return a->ss_family == b->ss_family && n == peer_ip(b, &y) &&
	       !memcmp(x, y, n);
}

static uint32_t cfg_or(uint32_t v, uint32_t def)
{
	return v ? v : def;
}

static void held_unlink(struct smt_engine *e, struct eng_held *prev,
			struct eng_held *h)
{
	if (prev)
		prev->next = h->next;
	else
		e->hold.head = h->next;
	if (e->hold.tail == h)
		e->hold.tail = prev;
	e->hold.n--;
	e->hold.bytes -= h->len;
}

int eng_hold_add(struct smt_engine *e, const struct sockaddr *peer,
		 const uint8_t *smt, size_t len, int ipv4_id, uint64_t now)
{
	const struct smt_engine_cfg *c = &e->cfg;
	uint32_t peer_pkts = 0, peer_bytes = (uint32_t)len;
	struct sockaddr_storage ss = {0};
	struct eng_held *h;

	/* only DATA of this version: a control packet's sender times out
	 * and sends it again anyway */
	if (!c->hold_pkts || smt[12] != SMT_DOFF_VER ||
	    smt[13] != SMT_TYPE_DATA ||
	    (peer->sa_family != AF_INET && peer->sa_family != AF_INET6))
		goto drop;
	memcpy(&ss, peer,
	       peer->sa_family == AF_INET ? sizeof(struct sockaddr_in)
					  : sizeof(struct sockaddr_in6));
	eng_hold_expire(e, now);
	for (h = e->hold.head; h; h = h->next) {
		if (same_ip(&h->peer, &ss)) {
			peer_pkts++;
			peer_bytes += h->len;
		}
	}
	if (e->hold.n >= c->hold_pkts ||
	    e->hold.bytes + len > cfg_or(c->hold_bytes, HOLD_BYTES_DEFAULT) ||
	    peer_pkts >= cfg_or(c->hold_peer_pkts, HOLD_PEER_PKTS_DEFAULT) ||
	    peer_bytes > cfg_or(c->hold_peer_bytes, HOLD_PEER_BYTES_DEFAULT)) {
		e->st.hold_overflow++;
		goto drop;
	}
	h = malloc(sizeof(*h) + len);
	if (!h) {
		e->st.hold_overflow++;
		goto drop;
	}
	h->next = NULL;
	h->peer = ss;
	h->pport = (uint16_t)(smt[0] << 8 | smt[1]);
	h->lport = (uint16_t)(smt[2] << 8 | smt[3]);
	h->ipv4_id = ipv4_id;
	h->at = now;
	h->len = (uint32_t)len;
	memcpy(h->data, smt, len);
	if (e->hold.tail)
		e->hold.tail->next = h;
	else
		e->hold.head = h;
	e->hold.tail = h;
	e->hold.n++;
	e->hold.bytes += h->len;
	e->st.held++;
	return 0;
drop:
	eng_drop(e, NULL, SMT_DROP_UNKNOWN_SESSION);
	return SMT_DROP_UNKNOWN_SESSION;
}

void eng_hold_expire(struct smt_engine *e, uint64_t now)
{
	uint64_t life = e->cfg.hold_ns ? e->cfg.hold_ns : HOLD_NS_DEFAULT;
	struct eng_held *h;

	/* arrival order: the oldest first */
	while ((h = e->hold.head) && now >= h->at && now - h->at >= life) {
		held_unlink(e, NULL, h);
		e->st.hold_expired++;
		eng_drop(e, NULL, SMT_DROP_UNKNOWN_SESSION);
		free(h);
	}
}

struct eng_held *eng_hold_take(struct smt_engine *e,
			       const struct sockaddr_storage *peer,
			       uint16_t pport, uint16_t lport)
{
	struct eng_held *h, *prev = NULL;

	for (h = e->hold.head; h; prev = h, h = h->next) {
		if (h->pport == pport && h->lport == lport &&
		    same_ip(&h->peer, peer)) {
			held_unlink(e, prev, h);
			e->st.hold_replayed++;
			return h;
		}
	}
	return NULL;
}

uint64_t eng_hold_deadline(const struct smt_engine *e)
{
	uint64_t life = e->cfg.hold_ns ? e->cfg.hold_ns : HOLD_NS_DEFAULT;

	return e->hold.head ? e->hold.head->at + life : UINT64_MAX;
}

void eng_hold_fini(struct smt_engine *e)
{
	struct eng_held *h;

	while ((h = e->hold.head)) {
		e->hold.head = h->next;
		free(h);
	}
	e->hold.tail = NULL;
	e->hold.n = 0;
	e->hold.bytes = 0;
}
