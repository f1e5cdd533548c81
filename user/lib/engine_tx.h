/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The sender layer of the protocol engine (engine_tx.c), above the bottom
 * layer of engine_int.h and below the receiver (engine_rx.h); see
 * engine_int.h for the layering. Not for use outside the engine.
 */
#ifndef SMT_ENGINE_TX_H
#define SMT_ENGINE_TX_H

#include <stdio.h>

#include "engine_int.h"

/* How a message of ours ends (eng_tx_end). */
enum eng_tx_outcome {
	/* The peer has it: a oneway reports SENT with error 0; a request
	 * (its response was delivered, with its own event), a response
	 * (ACKed) and a pending reply end without an event. */
	ENG_TX_DONE,
	/* Failed with an error: a request reports FAILED, a oneway SENT
	 * with the error; a response counts as expired. */
	ENG_TX_FAILED,
};

struct eng_tx *eng_tx_find(struct eng_session *s, uint8_t epoch,
			   uint64_t msg_id);
/* Queues t for sending its fresh packets up to the granted offset. */
void eng_tx_pump(struct smt_engine *e, struct eng_tx *t);
/* Sends up to max queued DATA packets, SRPT order; returns how many. */
unsigned int eng_tx_pull(struct smt_engine *e, unsigned int max);
/* The end of every engine call: queued DATA out (unless the backend
 * pulls) and the backend's flush, both left to smt_engine_batch_end()
 * inside a batch. */
void eng_tx_flush(struct smt_engine *e);
void eng_txq_unlink(struct smt_engine *e, struct eng_tx *t);
/* Frees the wire streams that waited for the backend (smt_engine_tx_done). */
void eng_tx_reap(struct smt_engine *e);
/* Returns the number of DATA packets sent again. */
uint32_t eng_tx_resend(struct smt_engine *e, struct eng_tx *t, uint32_t off,
		       uint32_t len, uint8_t prio);
/* Starts the message again from offset 0 (after UNKNOWN); t has no
 * response in reassembly (t->resp is NULL). */
void eng_tx_restart(struct smt_engine *e, struct eng_tx *t, uint64_t now);
/* Frees t, with the event its outcome gives (err: the error of
 * ENG_TX_FAILED). A request's response in reassembly must have been freed
 * first (eng_msg_end() in engine_rx.h does both). */
void eng_tx_end(struct smt_engine *e, struct eng_tx *t, enum eng_tx_outcome how,
		int err);
/* t's timer: probes a silent peer. Returns 0, or the error t failed with
 * (-ETIMEDOUT); the caller then ends it with eng_msg_end(). */
int eng_tx_timer(struct smt_engine *e, struct eng_tx *t, uint64_t now);
/* News of t from its peer: not silent, and its probes start again from
 * the shortest wait. */
void eng_tx_heard(struct eng_tx *t, uint64_t now);
/* The peer is alive but t made no progress (BUSY): not silent, but the
 * probes keep backing off. */
void eng_tx_alive(struct eng_tx *t, uint64_t now);
/* The peer's request req_id delivered: its placeholder, on the list of
 * requests to receipt (docs/protocol.md 4) */
int eng_tx_new_await(struct smt_engine *e, struct eng_session *s, uint8_t epoch,
		     uint64_t req_id);
/* s's rcpt_t timer: receipts for the requests unanswered long enough. */
void eng_rcpt_timer(struct smt_engine *e, struct eng_session *s, uint64_t now);
/* The same, when the oldest is due: while the engine runs anyway (input),
 * receipts go out at their delay, not at the timer's later one. */
void eng_rcpt_due(struct smt_engine *e, struct eng_session *s, uint64_t now);
/* NULL when t keeps the send invariant (a message with packets it may send
 * is queued, and its timer is armed), else what breaks it. */
const char *eng_tx_invariant(const struct eng_tx *t);
/* One line of t's state into f (smt_engine_dump). */
void eng_tx_dump(const struct smt_engine *e, const struct eng_tx *t, FILE *f);
/* Record content size of a session (docs/protocol.md 8.5). */
uint32_t eng_rec_size(const struct smt_engine *e, uint32_t max_payload);

#endif /* SMT_ENGINE_TX_H */
