/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The SMT protocol engine (docs/protocol.md sections 3 to 6): pure and
 * deterministic. It turns application messages into SMT packets and SMT
 * packets into messages, and keeps all reliability state: unscheduled bytes,
 * SRPT grants, RESEND, BUSY, UNKNOWN, ACK and NEED_ACK, RPC timeouts, replay
 * windows and key epochs. It has no sockets, clocks or randomness: packets
 * and time come in through function calls, packets go out through a
 * callback, delivered messages and RPC outcomes come out of an event queue.
 * Memory is bounded by struct smt_engine_cfg; a full bound gives an error
 * code (send side) or a counted drop (receive side), never silent loss.
 *
 * Not thread-safe: one engine is driven by one thread at a time. The send
 * callback must not call back into the engine.
 *
 * Identifiers: a message handle (smt_engine_id) is the wire msg_id in the low
 * 56 bits and the key epoch in the top 8 bits, so handles stay unique across
 * epochs. For requests the handle names the request (responses carry
 * msg_id + 1 on the wire, the engine hides that).
 */
#ifndef SMT_ENGINE_H
#define SMT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <smt/drop.h>

#include "codec.h"
#include "keys.h"

struct smt_engine;

#define SMT_ENGINE_ID_EPOCH_SHIFT 56
static inline uint64_t smt_engine_id_make(uint8_t epoch, uint64_t msg_id)
{
	return ((uint64_t)epoch << SMT_ENGINE_ID_EPOCH_SHIFT) | msg_id;
}
static inline uint64_t smt_engine_id_msg(uint64_t id)
{
	return id & ((1ULL << SMT_ENGINE_ID_EPOCH_SHIFT) - 1);
}
static inline uint8_t smt_engine_id_epoch(uint64_t id)
{
	return (uint8_t)(id >> SMT_ENGINE_ID_EPOCH_SHIFT);
}

/* ---- configuration ------------------------------------------------------ */

/*
 * Engine configuration; zero in any field means its default (in brackets).
 * Fields are only appended.
 */
struct smt_engine_cfg {
	uint32_t rec_size; /* record content bytes, 4096..16384 [16384] */
	uint32_t
		unsched_bytes; /* sent before any GRANT [75776: 64 KiB whole] */
	uint32_t
		max_granted; /* granted-not-received bytes, all msgs [240000] */
	uint32_t grant_window; /* per message granted-not-received [60000] */
	uint32_t max_grant_msgs; /* messages granted at once (SRPT top) [8] */
	/* The RESEND timeout before a round trip is measured, and 1/16 of
	 * the largest adaptive one [2 ms] (see rto_min_ns) */
	uint64_t resend_timeout_ns;
	uint32_t max_silent_timeouts; /* silent timeouts -> RPC fails [10] */
	uint32_t
		reasm_timeouts; /* reassembly timeout, in resend timeouts [10] */
	uint64_t rpc_timeout_ns; /* hard bound on an RPC's life; 0 = none */
	uint64_t ack_delay_ns; /* pending ACKs are flushed after this [20 us] */
	uint64_t epoch_drain_ns; /* old epoch kept after a rekey
				    [(max_silent + 2) * resend timeout] */
	uint32_t max_sessions; /* [1024] */
	uint32_t max_tx_msgs; /* our requests and oneways in flight [8192] */
	uint64_t max_tx_bytes; /* wire bytes of those [256 MiB] */
	/* Peer requests and oneways held: in reassembly, queued for the
	 * application, delivered and awaiting our reply, and our responses
	 * awaiting their ACK [8192]. So a reply never waits for tx room: it
	 * keeps the slot of its request. Responses to our own requests are
	 * always accepted (bounded by max_tx_msgs instead). */
	uint32_t max_rx_msgs;
	uint64_t max_rx_bytes; /* wire bytes in reassembly + bytes queued for
				  the application, same rules [256 MiB] */
	uint32_t max_rx_msgs_session; /* per-session cap; 0 = max_rx_msgs */
	/* Nonzero: fresh DATA packets (a new message's unscheduled bytes,
	 * what GRANTs allow) wait in the engine's send queue, fewest unsent
	 * bytes first, until smt_engine_pull() sends them; the caller then
	 * decides how much goes out between reading packets. Zero [0]: every
	 * engine call sends all it can before it returns. Control packets and
	 * RESEND answers always go out at once. */
	uint32_t tx_pull;
	/* One of several engines serving one SMT port (a reuseport group,
	 * docs/engine.md "Several engines on one port"): this engine is
	 * lane `lane` of `lanes` and takes only request msg_ids and ctl_seq
	 * values of its lane (smt_msg_lane(), ctl_seq % lanes == lane), so
	 * the engines that hold one session never use one nonce twice and
	 * the peer's responses and control packets steer back to it.
	 * lanes 0 or 1 [0]: alone on its port. */
	uint16_t lane, lanes;
	/* Nonzero: records end on packet boundaries (docs/protocol.md 8.5):
	 * a session's records hold the most content <= rec_size that fills
	 * whole packets of its max_payload, and the last record of a message
	 * of more than one packet is padded up to a whole packet where the
	 * session's P allows it and that adds at most an eighth of the
	 * message. Every packet of a message but its last then has one size
	 * (one UDP GSO run), and so do the messages that follow. [0] */
	uint32_t rec_align;
	/* Floor of the adaptive RESEND timeout, which otherwise follows the
	 * measured round trip (srtt + 4 rttvar); at most resend_timeout_ns
	 * [100 us, or resend_timeout_ns when that is smaller]. */
	uint64_t rto_min_ns;
	/* Packets that arrive before their session (docs/protocol.md 8.10):
	 * DATA packets of no known session held, at most hold_pkts and
	 * hold_bytes in all [0: none held, dropped at once; bytes
	 * 64 KiB], hold_peer_pkts and hold_peer_bytes per peer address [8,
	 * 16 KiB], each for hold_ns [10 ms]; smt_engine_session_add() runs
	 * those of its session through the receive path. */
	uint32_t hold_pkts, hold_bytes, hold_peer_pkts, hold_peer_bytes;
	uint64_t hold_ns;
	/* A message's next GRANT waits until it would allow this many more
	 * bytes (or the rest of the message) [grant_window / 8, at least
	 * one full DATA packet of the session]. Each GRANT is a packet
	 * that may wake the sender, so a large message costs
	 * (msg_len - unsched_bytes) / grant_step of them; the sender keeps
	 * grant_window - grant_step bytes to send while one travels. */
	uint32_t grant_step;
};

#define SMT_ENGINE_LANES_MAX 256 /* engines on one port */

/* The lane of a msg_id among n (docs/protocol.md 8.8): what the reuseport
 * steering program computes from the header (bits 1..31 of msg_id mod n),
 * so a request and its response (msg_id + 1) share a lane. */
static inline unsigned int smt_msg_lane(uint64_t msg_id, unsigned int n)
{
	return n > 1 ? (unsigned int)(((uint32_t)msg_id >> 1) % n) : 0;
}

/*
 * Counters shared by the engines of one reuseport group that hold the same
 * session (smt_engine_session.share): per epoch, the highest request
 * msg_id + 2 and the highest ctl_seq any of them used. An engine starts
 * above them (in its own lane), so what the peer receives from the group
 * rises as from one engine and stays inside its replay windows. Only
 * ordering depends on them; uniqueness comes from the lanes.
 */
struct smt_engine_share {
	_Atomic uint64_t next_req[256];
	_Atomic uint64_t ctl_seq[256];
	/* per lane and epoch parity: the oldest outstanding request, as
	 * epoch << 56 | 1 << 55 | msg_id, 0 when none (protocol.md 4: no
	 * engine of the group starts a request 2W past it) */
	_Atomic uint64_t oldest[SMT_ENGINE_LANES_MAX][2];
};

/* One packet handed to the backend. */
struct smt_engine_tx {
	uint32_t session; /* session handle */
	void *session_user; /* smt_engine_session.user */
	const struct sockaddr_storage *peer; /* peer address (port unused) */
	const uint8_t *pkt; /* SMT bytes: common header onward */
	size_t len;
	/* Only when pkt came from ops.pkt_buf: the DATA payload, which
	 * follows pkt's len bytes on the wire, where it lies in the
	 * message's wire stream (sent by iovec, not copied). It stays valid
	 * until smt_engine_tx_done(). NULL / 0: pkt is the whole packet. */
	const uint8_t *payload;
	size_t payload_len;
	uint8_t prio; /* 0 lowest .. 7 highest, as in the header */
};

struct smt_engine_ops {
	/* Send one packet; the engine does not keep pkt after the call (nor
	 * payload after smt_engine_tx_done()). A negative return counts
	 * tx_errors (the protocol recovers the loss). */
	int (*send)(void *ctx, const struct smt_engine_tx *tx);
	/* Optional: called once at the end of every engine call that sent
	 * packets, so the backend can send its batch. */
	void (*flush)(void *ctx);
	/* Optional: where the next DATA packet to peer (at most len bytes)
	 * is built: the backend's own send buffer, so that send() with pkt
	 * equal to it queues the packet without copying it. NULL: the
	 * engine's buffer. The engine writes only the header there and
	 * hands the payload by reference (smt_engine_tx.payload): an owner
	 * that gives pkt_buf calls smt_engine_tx_done() whenever everything
	 * handed to send() has left (after its batch went out). */
	uint8_t *(*pkt_buf)(void *ctx, const struct sockaddr_storage *peer,
			    size_t len);
};

/* Returns NULL with errno set (EINVAL for a bad cfg, ENOMEM). cfg may be
 * NULL (all defaults). ctx is passed to the ops. */
struct smt_engine *smt_engine_new(const struct smt_engine_cfg *cfg,
				  const struct smt_engine_ops *ops, void *ctx);
/* Frees everything (sessions, messages, queued events); wipes keys. With
 * pkt_buf, what send() was handed must have left first. */
void smt_engine_free(struct smt_engine *e);
/* With ops.pkt_buf: every packet handed to send() has left (the backend's
 * batch is sent), so the wire streams of messages that ended meanwhile,
 * which their payloads pointed into, can be freed. */
void smt_engine_tx_done(struct smt_engine *e);
/* The effective configuration (defaults filled in). */
void smt_engine_get_cfg(const struct smt_engine *e, struct smt_engine_cfg *c);

/* ---- sessions ------------------------------------------------------------ */

struct smt_engine_session {
	struct sockaddr_storage peer; /* AF_INET or AF_INET6 address */
	uint16_t local_port, peer_port; /* SMT ports */
	bool tls_client; /* true: write c_key/c_iv, read s_key/s_iv */
	uint8_t epoch;
	struct smt_keys keys; /* copied; the caller wipes its copy */
	struct smt_limits limits; /* B, M, P (zero: 48, 1 MiB, 0) */
	uint32_t max_payload; /* DATA payload bytes per packet: MTU - IP
				 header - 40; 0 = 1440 (v4) / 1420 (v6) */
	void *user; /* handed back in smt_engine_tx and events */
	/* NULL, or counters shared with the other engines of a reuseport
	 * group that hold this session (outlives the session) */
	struct smt_engine_share *share;
	/* the time of the add, for the held packets it takes in (cfg
	 * hold_pkts); 0: the time of the engine's latest call */
	uint64_t now_ns;
};

/*
 * Adds a session; *id receives its handle (never 0). -EEXIST for a session
 * with the same (peer address, peer port, local port), -EAGAIN at
 * max_sessions, -EINVAL for bad limits/keys/ports, -ENOMEM. Held packets
 * of the session (cfg hold_pkts) are then processed as received at
 * s->now_ns: events may be queued and packets sent by this call.
 */
int smt_engine_session_add(struct smt_engine *e,
			   const struct smt_engine_session *s, uint32_t *id);
/*
 * Removes a session: its keys are wiped, its messages freed; each
 * outstanding request ends with an SMT_ENGINE_EV_FAILED event (error
 * -ECONNABORTED) and each unacknowledged oneway with SMT_ENGINE_EV_SENT
 * (-ECONNABORTED). 0 or -ENOENT.
 */
int smt_engine_session_del(struct smt_engine *e, uint32_t id);
/*
 * New keys for epoch new_epoch: new messages use them; the previous epoch's
 * keys stay for epoch_drain_ns so messages in flight finish, then they are
 * wiped and what is still pending on them fails (-ETIMEDOUT). An epoch
 * older than the previous one is dropped at once. 0, -ENOENT, -EINVAL
 * (new_epoch equal to the current one, or bad keys), -ENOMEM.
 */
int smt_engine_session_rekey(struct smt_engine *e, uint32_t id,
			     uint8_t new_epoch, const struct smt_keys *keys,
			     uint64_t now_ns);
/* user pointer of a session, NULL if it does not exist */
void *smt_engine_session_user(const struct smt_engine *e, uint32_t id);

/* ---- packets in, time -------------------------------------------------- */

/*
 * One received packet: smt points at the SMT common header, len runs to the
 * end of the IP payload; peer is the source address (port ignored);
 * ipv4_id is the IPv4 ID, or -1 for IPv6. Returns 0 when the packet was
 * used (or held for a session not added yet: cfg hold_pkts), or the
 * positive SMT_DROP_* reason it was dropped for (also counted).
 */
int smt_engine_input(struct smt_engine *e, const struct sockaddr *peer,
		     const uint8_t *smt, size_t len, int ipv4_id,
		     uint64_t now_ns);
/*
 * Input batching: between smt_engine_batch_begin() and
 * smt_engine_batch_end() the SRPT grant pass that every DATA packet may
 * trigger is deferred to the end, so a burst of packets read together
 * costs one GRANT per message instead of one per packet, and the flush
 * callback is not called until the end. Nothing else changes: packets are
 * still sent through ops.send as they are made. Calls do not nest.
 */
void smt_engine_batch_begin(struct smt_engine *e);
void smt_engine_batch_end(struct smt_engine *e);
/*
 * Input waits: the caller holds packets it read but has not given to
 * smt_engine_input() yet (it processes control packets and high
 * priorities first). While set, what the engine does not know may only be
 * queued behind: a RESEND 0/0 for the response to a request it holds no
 * state of is not answered UNKNOWN (which would make the client send all
 * of it again) but kept until the engine is called without the backlog,
 * then answered from what it holds then, and a request still arriving does not
 * ask for its missing part on a client's probe. The caller bounds how
 * long it stays set (libsmt: one base RESEND timeout), so a flood cannot
 * keep an UNKNOWN from ever going.
 */
void smt_engine_set_backlog(struct smt_engine *e, bool pending);
/* With cfg.tx_pull: sends up to max queued DATA packets (messages with
 * the fewest unsent bytes first) and calls ops.flush; returns how many. */
unsigned int smt_engine_pull(struct smt_engine *e, unsigned int max);
/* True when DATA packets wait in the send queue (only with tx_pull). */
bool smt_engine_tx_pending(const struct smt_engine *e);
/* Runs every timer due at now_ns (RESEND, NEED_ACK, ACK flush, RPC
 * failures, reassembly timeouts, epoch drain). */
void smt_engine_advance(struct smt_engine *e, uint64_t now_ns);
/* The same for the timers due at or before due_ns (<= now_ns) only: a
 * caller whose received packets up to a time are not all processed yet
 * runs only the timers whose silence it has seen. */
void smt_engine_advance_due(struct smt_engine *e, uint64_t now_ns,
			    uint64_t due_ns);
/* The time of the next timer, or UINT64_MAX when none is armed. */
uint64_t smt_engine_next_deadline(const struct smt_engine *e);

/* ---- application operations ------------------------------------------- */

#define SMT_ENGINE_ONEWAY 0x1u /* smt_engine_send flag */

/*
 * Sends a request (flags 0) or a oneway message (SMT_ENGINE_ONEWAY) of len
 * bytes on session sid; the engine copies data. *id receives the handle;
 * cookie comes back in the events of this message. Returns 0, -ENOENT (no
 * session), -EMSGSIZE (len > M), -EAGAIN (a tx limit is full, or the
 * request window would be overrun: retry after completions), -ENOMEM.
 */
int smt_engine_send(struct smt_engine *e, uint32_t sid, const void *data,
		    uint32_t len, uint32_t flags, uint64_t cookie, uint64_t *id,
		    uint64_t now_ns);
/*
 * Replies to request id (from an SMT_ENGINE_EV_REQUEST) of session sid.
 * 0, -ENOENT (no session, or no such request awaiting a reply),
 * -EMSGSIZE, -ENOMEM. Never -EAGAIN: see max_rx_msgs.
 */
int smt_engine_reply(struct smt_engine *e, uint32_t sid, uint64_t id,
		     const void *data, uint32_t len, uint64_t now_ns);
/*
 * Cancels our outstanding request id (it ends with SMT_ENGINE_EV_FAILED,
 * -ECANCELED; a late response is dropped), or an unacknowledged oneway
 * (SMT_ENGINE_EV_SENT, -ECANCELED), or forgets a peer's request we will not
 * answer. 0 or -ENOENT.
 */
int smt_engine_cancel(struct smt_engine *e, uint32_t sid, uint64_t id,
		      uint64_t now_ns);

/* ---- events -------------------------------------------------------------- */

enum smt_engine_ev_type {
	SMT_ENGINE_EV_REQUEST = 1, /* peer's request: reply with its id */
	SMT_ENGINE_EV_ONEWAY = 2, /* peer's oneway message */
	SMT_ENGINE_EV_RESPONSE = 3, /* response to our request id */
	SMT_ENGINE_EV_FAILED = 4, /* our request id failed: error */
	SMT_ENGINE_EV_SENT = 5, /* our oneway id: ACKed (0) or failed */
};

/*
 * One event. data (len bytes, NULL when len is 0) belongs to the caller
 * after smt_engine_next_event() and is freed with smt_engine_event_free().
 * error: FAILED: -ETIMEDOUT (peer silent for max_silent_timeouts, or
 * rpc_timeout_ns passed), -ECANCELED, -ECONNABORTED (session removed);
 * SENT: 0 or the same codes.
 */
struct smt_engine_event {
	enum smt_engine_ev_type type;
	uint32_t session;
	void *session_user;
	uint64_t id; /* handle of the request / oneway message */
	uint64_t cookie; /* RESPONSE, FAILED, SENT: smt_engine_send's */
	int error;
	uint8_t *data;
	uint32_t len;
	/* FAILED, SENT with an error: when the message was first queued (the
	 * now of smt_engine_send), so an ICMP error from the peer since then
	 * can be named as the reason; 0 otherwise */
	uint64_t since;
};

/* Takes the oldest event: 1 when *ev was filled, 0 when none is queued. */
int smt_engine_next_event(struct smt_engine *e, struct smt_engine_event *ev);
/* Number of queued events. */
size_t smt_engine_events_pending(const struct smt_engine *e);
/* Timers the engine holds (a message in flight has one) */
size_t smt_engine_timers_armed(const struct smt_engine *e);
/* Inbound messages in reassembly (more of their packets are expected). */
unsigned int smt_engine_rx_active(const struct smt_engine *e);
/* Frees ev->data and clears *ev. */
void smt_engine_event_free(struct smt_engine_event *ev);

/* ---- counters ------------------------------------------------------------ */

struct smt_engine_stats {
	uint64_t pkts_in, bytes_in, pkts_out, bytes_out;
	uint64_t data_in, data_out, ctl_in, ctl_out;
	uint64_t retransmits; /* DATA sent again (RETRANSMIT flag) */
	uint64_t grants_out, grants_in;
	uint64_t resends_out, resends_in;
	uint64_t busy_out, busy_in, unknown_out, unknown_in;
	uint64_t need_acks_out, need_acks_in, acks_out, acks_in;
	uint64_t msgs_out; /* messages handed to smt_engine_send/reply */
	uint64_t msgs_delivered; /* REQUEST, ONEWAY, RESPONSE events */
	uint64_t rpcs_ok, rpcs_failed, oneways_acked, oneways_failed;
	uint64_t responses_acked, responses_expired;
	uint64_t restarts; /* messages sent again from 0 after UNKNOWN */
	uint64_t resend_timeouts; /* receiver no-progress timeouts */
	uint64_t rpc_timeouts; /* sender/client silent timeouts */
	uint64_t discards; /* provisional state discarded */
	uint64_t tx_errors; /* send callback failures */
	/* RESEND packets we sent, by reason */
	uint64_t resends_timer; /* reassembly made no progress */
	uint64_t resends_record; /* a record failed to verify */
	uint64_t resends_need_ack; /* the sender asked (NEED_ACK) */
	uint64_t resends_response; /* client: asks for a response */
	uint64_t resends_probe; /* server: that client waits for a request
				   that stalled */
	/* DATA retransmitted, by reason */
	uint64_t rtx_resend; /* answering a RESEND */
	uint64_t rtx_restart; /* started again after UNKNOWN */
	/* Receiver: DATA that brought nothing new (held already, or of a
	 * message already delivered), and of those the ones flagged
	 * RETRANSMIT: retransmissions whose original (or an earlier copy)
	 * had arrived, i.e. spurious ones */
	uint64_t dup_data_in, spurious_rtx_in;
	uint64_t rtt_samples; /* round trips measured */
	/* Receipts (docs/protocol.md 4): request IDs we listed in ACKs
	 * (server), receipts for our outstanding requests received
	 * (client), and of those the requests whose tail-loss probe time
	 * passed without a probe (would have been sent before the rule) */
	uint64_t rcpts_out, rcpts_in, probes_saved;
	/* gauges, session stats only: smoothed round trip, its variation
	 * and the RESEND timeout now (ns; 0 before the first sample) */
	uint64_t srtt_ns, rttvar_ns, rto_ns;
	/* provisional messages (no record verified) freed: their sender
	 * answered UNKNOWN, or ENG_PROV_ASKS RESENDs went unanswered */
	uint64_t prov_freed;
	/* GRANTs and RESENDs for provisional messages not sent: the
	 * session's budget for them was used up (a flood of forged packets) */
	uint64_t prov_withheld;
	/* engine stats only: DATA of no known session held (cfg
	 * hold_pkts), processed when its session was added, dropped when it
	 * expired, and not held because a bound was reached (the last two
	 * also count drops[unknown_session]) */
	uint64_t held, hold_replayed, hold_expired, hold_overflow;
	uint64_t drops_total;
	uint64_t drops[SMT_DROP_MAX];
	/* gauges: what is held now */
	uint64_t tx_msgs, tx_bytes, rx_msgs, rx_bytes, events;
	uint64_t sessions; /* engine stats only */
};

/* Debugging and tests: how many of our messages break the send invariant
 * (one with packets it may send is in the send queue; every one has its
 * timer armed); with f, one line per message of ours at least min_age_ns
 * old, its state. */
unsigned int smt_engine_check(const struct smt_engine *e, FILE *f,
			      uint64_t min_age_ns);

/* Counters of the engine (sid 0) or of one session. 0 or -ENOENT. */
int smt_engine_get_stats(const struct smt_engine *e, uint32_t sid,
			 struct smt_engine_stats *out);

#endif /* SMT_ENGINE_H */
