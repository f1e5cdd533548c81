/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The receiver layer of the protocol engine (engine_rx.c), above the
 * sender (engine_tx.h) and below engine.c; see engine_int.h for the
 * layering. Not for use outside the engine.
 */
#ifndef SMT_ENGINE_RX_H
#define SMT_ENGINE_RX_H

#include "engine_tx.h"

struct eng_rx *eng_rx_find(struct eng_session *s, uint8_t epoch,
			   uint64_t msg_id);
int eng_rx_data(struct smt_engine *e, struct eng_session *s,
		const struct smt_pkt *p, uint64_t now);
void eng_rx_free(struct smt_engine *e, struct eng_rx *r);
void eng_rx_timer(struct smt_engine *e, struct eng_rx *r, uint64_t now);
/* Whether r's missing bytes are explained by the peer's DATA at a higher
 * priority that kept arriving since r's timer last looked (a strict
 * priority queue holds r's behind them): then they are not asked again. */
bool eng_rx_overtaken(const struct smt_engine *e, const struct eng_rx *r);
/* Asks the sender for what is missing; returns the RESENDs sent. */
unsigned int eng_rx_ask(struct smt_engine *e, struct eng_rx *r);
void eng_grant_pass(struct smt_engine *e);
/* A grant pass now, or at smt_engine_batch_end() inside a batch. */
void eng_grant_soon(struct smt_engine *e);
/* Ends our message t (eng_tx_end) and first frees its response in
 * reassembly, if any. */
void eng_msg_end(struct smt_engine *e, struct eng_tx *t,
		 enum eng_tx_outcome how, int err);

#endif /* SMT_ENGINE_RX_H */
