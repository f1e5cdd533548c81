/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Packets that arrive before their session (engine_hold.c,
 * docs/protocol.md 8.10): a bounded FIFO of DATA packets of no known
 * session, taken out by smt_engine_session_add() for its session. Beside
 * the bottom layer (it uses engine_int.h only); engine.c calls it. Not
 * for use outside the engine.
 */
#ifndef SMT_ENGINE_HOLD_H
#define SMT_ENGINE_HOLD_H

#include "engine_int.h"

/* One held packet: the arguments smt_engine_input() had. */
struct eng_held {
	struct eng_held *next;
	struct sockaddr_storage peer;
	uint16_t pport, lport;
	int ipv4_id;
	uint64_t at; /* when it arrived */
	uint32_t len;
	uint8_t data[];
};

/*
 * A packet of no known session: held (0) when holding is on, it is DATA
 * and the bounds allow it; otherwise dropped and counted, and the reason
 * (SMT_DROP_UNKNOWN_SESSION) returned.
 */
int eng_hold_add(struct smt_engine *e, const struct sockaddr *peer,
		 const uint8_t *smt, size_t len, int ipv4_id, uint64_t now);
/* Drops (and counts) the packets held longer than cfg.hold_ns at now. */
void eng_hold_expire(struct smt_engine *e, uint64_t now);
/* Takes out the oldest held packet of (peer address, pport, lport), NULL
 * when none; the caller processes it and frees it with free(). */
struct eng_held *eng_hold_take(struct smt_engine *e,
			       const struct sockaddr_storage *peer,
			       uint16_t pport, uint16_t lport);
/* When the oldest held packet expires, UINT64_MAX when none is held. */
uint64_t eng_hold_deadline(const struct smt_engine *e);
/* Frees every held packet (smt_engine_free), uncounted. */
void eng_hold_fini(struct smt_engine *e);

#endif /* SMT_ENGINE_HOLD_H */
