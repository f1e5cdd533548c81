/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Internals of the protocol engine: the object layouts, an intrusive hash
 * table keyed by 64-bit values, a binary min-heap of timers and the
 * helpers of the bottom layer (engine_core.c). Not for use outside the
 * engine.
 *
 * The engine is built in layers; each file calls only the layers below it
 * and includes only the header of the layer right below:
 *   engine_core.c  this header: tables, timers, counters, events in,
 *                  packets out, ACK batching, round-trip estimate
 *   engine_tx.c    engine_tx.h: the sender side
 *   engine_rx.c    engine_rx.h: the receiver side and SRPT grants (it ends
 *                  our request when its response is delivered)
 *   engine.c       sessions, epochs, demultiplexing, control packets in,
 *                  timer dispatch, the rest of the public API
 * A lower layer reports upwards by its return values (eng_tx_timer()
 * returns the error a message failed with; its caller ends it).
 */
#ifndef SMT_ENGINE_INT_H
#define SMT_ENGINE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define eng_container_of(ptr, type, member) \
	((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- hash table: chained, intrusive, power-of-two buckets --------------- */

struct eng_hnode {
	struct eng_hnode *next;
	uint64_t key;
};

struct eng_htab {
	struct eng_hnode **b;
	size_t nb, n;
};

int eng_htab_init(struct eng_htab *t, size_t nb);
void eng_htab_fini(struct eng_htab *t);
/* Inserts n with key; grows the table when it gets full (a failed grow
 * only makes chains longer). */
void eng_htab_add(struct eng_htab *t, struct eng_hnode *n, uint64_t key);
void eng_htab_del(struct eng_htab *t, struct eng_hnode *n);
/* First node with key, then the next one with the same key. */
struct eng_hnode *eng_htab_find(const struct eng_htab *t, uint64_t key);
struct eng_hnode *eng_htab_next(const struct eng_hnode *n);
/* Any node (for tear-down loops), NULL when empty. */
struct eng_hnode *eng_htab_any(const struct eng_htab *t);

/* ---- timers: binary min-heap with back-indices -------------------------- */

enum eng_timer_kind {
	ENG_T_TX = 1, /* struct eng_tx */
	ENG_T_RX, /* struct eng_rx */
	ENG_T_ACK, /* struct eng_session: flush pending ACKs */
	ENG_T_DRAIN, /* struct eng_session: wipe the previous epoch */
	ENG_T_RCPT, /* struct eng_session: receipts for unanswered requests */
};

#define ENG_T_IDLE UINT32_MAX
/* Provisional messages (no record verified, docs/protocol.md 3.4): RESEND
 * packets sent for one without progress in between before it is freed,
 * and the most it is charged against max_rx_bytes (the longest record on
 * the wire). */
#define ENG_PROV_ASKS 2
/* A peer's processing time per byte of a message, added to the silence
 * limit of our messages (10 ns: 100 MB/s to decrypt, copy and answer). */
#define ENG_PEER_PS_PER_BYTE 10000
/* A request started again after UNKNOWN this many times max_silent_timeouts
 * without news of it in between fails (-ETIMEDOUT): its server keeps
 * dropping it (ctl_unknown()). */
#define ENG_QUIET_RESTARTS 4
#define ENG_PROV_BYTES (SMT_REC_HDR_LEN + SMT_REC_MAX_LEN)
/* A session's budget of GRANTs and RESENDs for provisional messages
 * (docs/protocol.md 3.4): ENG_PROV_BURST at once, then one per
 * ENG_PROV_REFILL_NS; a message authenticated later gives back what it
 * took. A flood of forged first packets then makes us send at most about
 * 1000 packets a second per session, whatever its rate. */
#define ENG_PROV_BURST 64
#define ENG_PROV_REFILL_NS 1000000
#define ENG_MAX_PAYLOAD 65495 /* 64 KiB IP packet less IPv4 and SMT headers */

struct eng_timer {
	uint64_t when;
	uint32_t idx; /* place in the heap, ENG_T_IDLE when not armed */
	uint8_t kind;
};

struct eng_heap {
	struct eng_timer **a;
	size_t n, cap;
};

/* ---- objects -------------------------------------------------------------- */

struct eng_tx;

/* One key epoch of a session (section 6). */
struct eng_epoch {
	bool valid;
	uint8_t num;
	struct smt_aead *tx, *rx;
	uint64_t next_req; /* our next request msg_id */
	uint64_t ctl_seq; /* last ctl_seq we sent */
	struct smt_ctl_window ctl_win; /* peer's ctl_seq values accepted */
	struct smt_req_window req_win; /* peer's requests delivered */
	struct smt_req_window resp_win; /* our requests answered */
	struct eng_tx *out_head, *out_tail; /* our outstanding requests,
					       oldest first */
	uint16_t nacks; /* ACKs waiting to be sent */
	uint64_t acks[SMT_ACK_MAX];
};

struct eng_session {
	struct eng_hnode id_node, addr_node;
	uint32_t id;
	void *user;
	struct sockaddr_storage peer;
	uint16_t lport, pport;
	bool tls_client;
	struct smt_limits lim;
	uint32_t max_payload;
	uint32_t rec_size; /* content bytes per record (8.5 when aligned) */
	struct eng_epoch ep[2];
	int cur; /* ep[cur] is current, ep[!cur] the previous (if valid) */
	struct eng_timer ack_t, drain_t, rcpt_t;
	/* The peer's requests delivered, not answered and not receipted
	 * yet, oldest first (docs/protocol.md 4, Receipts) */
	struct eng_tx *aw_head, *aw_tail;
	uint64_t svc_srtt; /* smoothed delivery-to-response time of ours */
	struct eng_htab tx, rx; /* by handle smt_engine_id_make(epoch, id) */
	uint32_t rx_msgs; /* for max_rx_msgs_session */
	uint32_t nresp; /* our responses not yet ACKed */
	uint64_t srtt, rttvar; /* ns; 0: no sample yet (see eng_rto) */
	struct smt_engine_share *share; /* reuseport group, or NULL */
	uint64_t rtt_min; /* smallest sample, drifting up slowly */
	uint64_t rpc_srtt; /* smoothed one-packet request to its response
			      (service time included), for their probes */
	uint64_t heard_at; /* last authenticated news from the peer: a
			      verified control packet or a message in full */
	uint32_t prov_credit; /* answers to provisional messages left */
	uint64_t prov_at; /* when prov_credit was last topped up */
	/* New bytes of authenticated messages received, by the priority
	 * their DATA came at: a message whose bytes travel at a lower
	 * priority waits behind them in a strict priority queue
	 * (eng_rx_timer) */
	uint64_t prio_bytes[SMT_PRIO_MAX + 1];
	/* Our asks came too early: DATA sent again arrived after an earlier
	 * copy. Each such finding (at most one per RTO) doubles the RTO
	 * (eng_rto), up to ENG_SPUR_MAX; a retransmission that brought new
	 * bytes halves it again. */
	uint8_t spur;
	uint64_t spur_at;
	struct smt_engine_stats st;
};

enum eng_tx_kind {
	ENG_TX_REQUEST = 1, /* our request; lives until its response */
	ENG_TX_ONEWAY, /* our oneway; lives until ACKed */
	ENG_TX_RESPONSE, /* our response; lives until ACKed */
	ENG_TX_AWAIT, /* peer's request delivered, reply pending (no bytes) */
};

struct eng_rx;

struct eng_tx {
	struct eng_hnode node; /* key: handle of the wire msg_id */
	struct eng_timer t;
	struct eng_session *s;
	uint8_t kind, epoch;
	bool asked; /* we sent NEED_ACK (ONEWAY/RESPONSE) or a RESEND for
		       the response (REQUEST): an UNKNOWN may answer it */
	bool heard; /* the peer said something about this message */
	bool retx; /* some of it went out twice (no RTT sample from it) */
	/* times started again after UNKNOWN without news of it since */
	uint16_t quiet_restarts;
	uint8_t sched_prio;
	uint64_t msg_id, cookie;
	struct eng_wbuf *wbuf; /* w.wire is its data */
	struct smt_wire_msg w; /* records [0, sealed) are sealed; the others
				  still hold their plaintext content */
	uint32_t sealed;
	/* records [sealed, src_recs) are sealed from the caller's buffer
	 * src when their first packet goes, during the send or reply call
	 * (tx_pipe); src is NULL outside it */
	const uint8_t *src;
	uint32_t src_recs;
	/* with src from record 0 on: its inner header; tail_off: where the
	 * last record starts once tx_pipe sent it ahead of the others (0:
	 * not sent ahead) */
	uint8_t src_ih[SMT_INNER_HDR_LEN];
	uint32_t tail_off;
	uint32_t last_pad; /* zero bytes padding the last record */
	uint32_t granted, next_off, sent_hi, unsched;
	uint32_t *sent_us; /* per packet slot: when it last went out, in us
			      since created, plus 1; 0 = never */
	/* w.rec_off and sent_us of a small message (one record, a few
	 * packets) point here instead of to a malloc block of their own */
	uint32_t rec_off_in[2];
	uint32_t sent_us_in[4];
	uint32_t silent; /* probes since we last heard of it */
	uint64_t created, last_heard, probe_at; /* probe_at: last probe */
	uint64_t last_sent; /* when a DATA packet of it last went out */
	struct eng_tx *oprev, *onext; /* outstanding request list */
	struct eng_tx *qprev, *qnext; /* send queue (in_txq) */
	bool in_txq;
	struct eng_rx *resp; /* REQUEST: response in reassembly */
	/* AWAIT: on the session's list of requests to receipt */
	struct eng_tx *aprev, *anext;
	bool in_aw;
	/* REQUEST: the peer receipted it (docs/protocol.md 4), so no
	 * tail-loss probe; ENG_RCPT_SAVED once that probe's time passed */
	uint8_t rcpt;
	/* REQUEST: the peer answered a probe of it BUSY (it holds it): the
	 * next probe waits at least the base timeout (tx_probe_wait()) */
	bool busy;
};
#define ENG_RCPT_HELD 1
#define ENG_RCPT_SAVED 2

struct eng_rx {
	struct eng_hnode node;
	struct eng_timer t;
	struct eng_session *s;
	uint8_t epoch;
	bool in_glist;
	bool stuck; /* DATA came without progress since the last progress */
	/* A record of it verified (as of the last rx_update): until then all
	 * of it is provisional and may be one forged packet, so it gets no
	 * grant budget, a small charge and a bounded number of RESENDs
	 * (docs/protocol.md 3.4, "Amplification") */
	bool authed;
	uint8_t noprog;
	uint8_t backoff; /* RESENDs since the last progress */
	uint8_t prov_asks; /* RESENDs sent while provisional, no progress */
	uint8_t prov_taken; /* answers it took from prov_credit */
	bool prov_held; /* a GRANT was withheld at rcvd == gg_rcvd */
	uint64_t msg_id;
	struct smt_rx_msg *m;
	uint32_t g; /* offset granted to the sender */
	uint32_t gg; /* the part of it our GRANTs allowed */
	uint32_t gg_rcvd; /* rcvd when we last granted */
	uint32_t msg_len; /* known msg_len, 0 if none */
	uint32_t rcvd; /* bytes held, as of the last update */
	/* RTT probe: when our GRANT that first allowed byte gprobe_off went
	 * out (0 = none pending); its first packet closes the round trip */
	uint64_t gprobe_at;
	uint32_t gprobe_off;
	uint64_t reserved; /* rx_bytes charged */
	uint64_t first_at, verified_at, progress_at, action_at;
	uint64_t rto_hi; /* largest RESEND timeout its timer has seen */
	/* Priority its missing bytes travel at (of its last DATA, or of
	 * our last GRANT or RESEND for it), and the session's bytes at a
	 * higher priority when its timer last looked */
	uint8_t prio;
	uint64_t above_seen;
	struct eng_rx *gprev, *gnext; /* engine-wide SRPT grant list */
	struct eng_tx *req; /* response: our request */
};

struct eng_event {
	struct eng_event *next;
	struct smt_engine_event ev;
	uint64_t charged; /* rx_bytes charged while queued */
	bool charged_msg; /* counts in rx_msgs while queued */
};

/* Packets of no known session held (engine_hold.c), oldest first. */
struct eng_held;
struct eng_hold {
	struct eng_held *head, *tail;
	uint32_t n, bytes;
};

/* Deferred answers to probes (struct smt_engine.query); more are
 * answered at once. */
#define ENG_QUERIES 64

struct smt_engine {
	struct smt_engine_cfg cfg;
	struct smt_engine_ops ops;
	void *ctx;
	bool sent; /* packets went out since the last flush */
	bool closing; /* smt_engine_free: the backend may be gone, send nothing */
	bool batch; /* smt_engine_batch_begin: defer grants and the flush */
	bool backlog; /* smt_engine_set_backlog: input waits unprocessed */
	/* RESEND 0/0 for responses to requests we had not seen, received
	 * while input waited: answered once it is processed (engine.c,
	 * ctl_resend) */
	struct eng_query {
		uint32_t sid;
		uint8_t epoch;
		uint8_t prio;
		uint32_t offset, length;
		uint64_t msg_id;
	} query[ENG_QUERIES];
	unsigned int nquery;
	uint64_t now; /* time of the latest engine call that had one */
	bool grant_due; /* a grant pass was deferred */
	uint32_t next_sid;
	struct eng_htab by_id, by_addr;
	struct eng_heap timers;
	struct eng_event *ev_head, *ev_tail;
	struct eng_rx *g_head, *g_tail; /* SRPT order, fewest bytes left */
	/* messages with DATA packets they may send now, fewest unsent
	 * bytes first; drained by flush_out() or smt_engine_pull() */
	struct eng_tx *txq_head, *txq_tail;
	uint64_t granted_out; /* sum over rx of max(0, g - rcvd) */
	uint32_t nresp; /* our responses not yet ACKed (an rx slot each) */
	uint32_t own_msgs; /* our requests and oneways (max_tx_msgs) */
	uint32_t rx_active; /* inbound messages in reassembly */
	uint64_t own_bytes; /* their wire bytes (max_tx_bytes) */
	struct smt_engine_stats st;
	struct eng_hold hold;
	/* DATA payloads were handed to ops.send by reference since the last
	 * smt_engine_tx_done(): a wire stream freed meanwhile waits in
	 * wdead, as the backend may still send from it */
	bool tx_refs;
	struct eng_wbuf *wdead;
	uint8_t pktbuf[SMT_HDR_LEN + ENG_MAX_PAYLOAD];
};

/* A wire stream's buffer (smt_wire_msg.wire is data), so that a freed one
 * can wait for the backend in a list without a node of its own. */
struct eng_wbuf {
	struct eng_wbuf *next;
	uint64_t pad; /* data 16-byte aligned */
	uint8_t data[];
};

/* ---- bottom layer (engine_core.c) ---------------------------------------- */

/* Counter bump on the session and the engine. */
#define ENG_CNT(e, s, field, v)              \
	do {                                 \
		uint64_t eng_cnt_v_ = (v);   \
		(e)->st.field += eng_cnt_v_; \
		(s)->st.field += eng_cnt_v_; \
	} while (0)

void eng_drop(struct smt_engine *e, struct eng_session *s, int reason);
struct eng_session *eng_session_find(const struct smt_engine *e, uint32_t id);
void eng_timer_arm(struct smt_engine *e, struct eng_timer *t, uint64_t when);
void eng_timer_cancel(struct smt_engine *e, struct eng_timer *t);
struct eng_epoch *eng_epoch_find(struct eng_session *s, uint8_t num);
/* Queues an event; data (len bytes) is handed over. charge: the bytes and
 * message count it keeps charged to the rx limits while queued. 0 or
 * -ENOMEM (then data is freed). */
int eng_event_push(struct smt_engine *e, struct eng_session *s,
		   enum smt_engine_ev_type type, uint64_t id, uint64_t cookie,
		   int error, uint8_t *data, uint32_t len, bool charge);
/* Packet out through the backend, with counters. */
void eng_send_raw(struct smt_engine *e, struct eng_session *s,
		  const uint8_t *pkt, size_t len, uint8_t prio);
/* The same with plen bytes of payload after pkt's len, sent by reference
 * (smt_engine_tx.payload): they must outlive the backend's batch. */
void eng_send_rawv(struct smt_engine *e, struct eng_session *s,
		   const uint8_t *pkt, size_t len, const uint8_t *payload,
		   size_t plen, uint8_t prio);
/* Control packet of type about msg_id in epoch ep (RESEND: off/len/prio;
 * GRANT: off/prio). */
/* Our next request msg_id in session s, epoch ep (this engine's lane,
 * above what the group used); eng_req_used() once it is taken. */
uint64_t eng_next_req(const struct smt_engine *e, const struct eng_session *s,
		      const struct eng_epoch *ep);
void eng_req_used(struct eng_session *s, struct eng_epoch *ep, uint64_t mid);
void eng_send_ctl(struct smt_engine *e, struct eng_session *s,
		  struct eng_epoch *ep, uint8_t type, uint64_t msg_id,
		  uint32_t off, uint32_t len, uint8_t prio);
void eng_ack_queue(struct smt_engine *e, struct eng_session *s,
		   struct eng_epoch *ep, uint64_t msg_id, uint64_t now);
void eng_ack_flush(struct smt_engine *e, struct eng_session *s);
/* Sends the ACKs queued in one epoch now. */
void eng_ack_flush_epoch(struct smt_engine *e, struct eng_session *s,
			 struct eng_epoch *ep);
/* The session's RESEND timeout: its RTT estimate (srtt + 4 rttvar), or
 * resend_timeout_ns before the first sample, clamped to [rto_min_ns,
 * 16 x resend_timeout_ns]. */
uint64_t eng_rto(const struct smt_engine *e, const struct eng_session *s);
#define ENG_SPUR_MAX 6
/* What the peer's DATA says about the session's RTO (Timeouts rule 9 in
 * docs/engine.md). EARLY: a retransmission arrived after an earlier copy,
 * we asked too soon: the RTO doubles (up to ENG_SPUR_MAX times), at most
 * once per RTO. USEFUL: a retransmission brought new bytes: it halves
 * back, at most once per RTO. NEW: first-copy new bytes: ENG_SPUR_DECAY
 * RTOs without a change halve it back (a lossless path would otherwise
 * keep it long for good). */
#define ENG_SPUR_DECAY 8
enum eng_spur { ENG_SPUR_EARLY, ENG_SPUR_USEFUL, ENG_SPUR_NEW };
void eng_spur_step(struct smt_engine *e, struct eng_session *s,
		   enum eng_spur ev);
/* eng_rto() doubled n times (consecutive timeouts without news), up to
 * resend_timeout_ns (or eng_rto() when that is longer): under loss the
 * probes slow down to one per base timeout, as without an RTT estimate,
 * so max_silent_timeouts of them fit in the silence limit. */
uint64_t eng_rto_backoff(const struct smt_engine *e,
			 const struct eng_session *s, unsigned int n);
/* How long a packet we sent may still be on its way (a RESEND that asks
 * for it may have crossed it): 1.5 of the smallest round trip measured,
 * at least rto_min_ns / 2, at most eng_rto(), which it is before the
 * first sample. */
uint64_t eng_rtt_guard(const struct smt_engine *e, const struct eng_session *s);
/* How long a peer may stay silent about our message before it fails:
 * max_silent_timeouts + 1 RESEND timeouts of at least resend_timeout_ns
 * each (as many as when every probe waited one such timeout). */
uint64_t eng_silence_limit(const struct smt_engine *e,
			   const struct eng_session *s);
/* One round-trip sample: one-packet request -> first response packet,
 * one-packet response or oneway -> its ACK, GRANT -> first packet it
 * allowed. delay: how long the peer may have held its answer (its ACK
 * delay, taken to be ours), left out of the smallest round trip. */
void eng_rpc_sample(struct eng_session *s, uint64_t rtt);
void eng_rtt_sample(struct smt_engine *e, struct eng_session *s, uint64_t rtt,
		    uint64_t delay);

#endif /* SMT_ENGINE_INT_H */
