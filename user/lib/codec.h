/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * SMT message codec (docs/protocol.md sections 2 to 5), stateless where it
 * can be: a message becomes its wire stream and packets; a packet is checked
 * against every header rule; a message is reassembled from packets in any
 * order, record by record, with the provisional-state rules of section 3;
 * control packets are built and verified; replay windows for request IDs and
 * ctl_seq. No sockets, clocks or randomness: the engine and smt-wire both
 * drive it.
 *
 * Drop reasons are enum smt_drop_reason from include/smt/drop.h; functions
 * that can drop return 0 or a positive SMT_DROP_* reason unless said
 * otherwise.
 */
#ifndef SMT_CODEC_H
#define SMT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <smt/wire.h>
#include <smt/drop.h>

#include "record.h"

/* A session's limits, as agreed at set-up (section 6, 7). */
struct smt_limits {
	unsigned int B; /* message-ID width, 40..56 */
	uint32_t max_msg; /* M, application bytes */
	uint32_t max_pad; /* P, max padding per record */
};

static inline uint64_t smt_max_wire(const struct smt_limits *l)
{
	return SMT_MAX_WIRE(l->max_msg, l->max_pad);
}

/* 0 when B, M, P satisfy sections 6 and 7, else -EINVAL. */
int smt_limits_check(const struct smt_limits *l);

/* ---- Sender: wire stream ---------------------------------------------- */

/* A message's wire stream with its record layout. */
struct smt_wire_msg {
	uint64_t msg_id;
	uint8_t *wire; /* wire_len bytes, owned */
	uint32_t wire_len;
	uint32_t nrec;
	uint32_t *rec_off; /* nrec + 1 entries, rec_off[nrec] == wire_len */
};

/*
 * Encode app[0..len) with inner_flags as message msg_id under tx: content
 * cut into records of rec_size (4096..16384) bytes with a shorter last one,
 * no padding (the deterministic rule). Returns 0 or -errno (-EINVAL for a
 * bad msg_id / rec_size / too many records, -ENOMEM).
 */
int smt_msg_encode(struct smt_aead *tx, unsigned int B, uint64_t msg_id,
		   const void *app, uint32_t len, uint32_t inner_flags,
		   uint32_t rec_size, struct smt_wire_msg *out);
void smt_wire_msg_free(struct smt_wire_msg *m);

/* Record index holding wire offset off (off < wire_len). */
uint32_t smt_wire_msg_record_at(const struct smt_wire_msg *m, uint32_t off);

/* What a sender puts in the header besides the stream layout. */
struct smt_data_tmpl {
	uint16_t sport, dport;
	uint32_t granted;
	uint8_t prio, epoch;
	uint16_t flags; /* SMT_F_RETRANSMIT */
};

/*
 * Build the DATA packet whose payload starts at wire offset off and carries
 * min(record bytes left from off, max_payload) bytes (max_payload = MTU -
 * IP header - 40). pkt receives 40 + payload bytes. Returns the payload
 * length (> 0), or 0 when off >= wire_len.
 */
uint32_t smt_data_build(const struct smt_wire_msg *m, uint32_t off,
			uint32_t max_payload, const struct smt_data_tmpl *t,
			uint8_t *pkt);
/* Only its 40-byte header: the payload is m->wire + off, the length
 * returned (sent from there by iovec). */
uint32_t smt_data_hdr(const struct smt_wire_msg *m, uint32_t off,
		      uint32_t max_payload, const struct smt_data_tmpl *t,
		      uint8_t *pkt);

/* ---- Receiver: header rules ------------------------------------------- */

/* A parsed packet, host byte order; payload points into the packet. */
struct smt_pkt {
	uint8_t type;
	uint16_t sport, dport;
	uint32_t pkt_off, seg_off; /* real offsets (IPID_OFF applied) */
	uint16_t flags, rec_idx, pkt_idx;
	uint64_t msg_id;
	uint32_t msg_len, granted;
	uint8_t prio, epoch;
	const uint8_t *payload; /* DATA payload or control body */
	uint32_t payload_len;
	const uint8_t *raw; /* start of the SMT header */
	uint32_t raw_len;
};

/*
 * Check every stateless receive rule of section 2 on the SMT bytes of one
 * packet (from the common header to the end of the IP payload). ipv4_id is
 * the IPv4 ID (for IPID_OFF) or -1 on IPv6. Returns 0 or a drop reason.
 * Under IPID_OFF, out->pkt_off is the real offset seg_off + ID * G and
 * out->pkt_idx the ID. Beyond the list of section 2, a record-starting DATA
 * packet must carry a valid record header (17 03 03, length 17..16401,
 * ending within msg_len: else BAD_RECORD_HDR) and stay inside that record
 * (PAST_RECORD), and rec_idx must fit seg_off (record k starts between
 * k * 4118 and k * 16406, k below min(2^(64-B), 2^16): else BAD_REC_IDX).
 * For control packets, payload is the body (between header and ctl_seq).
 */
int smt_pkt_parse(const uint8_t *buf, size_t len, const struct smt_limits *l,
		  int ipv4_id, struct smt_pkt *out);

/* ---- Receiver: reassembly of one message ------------------------------ */

struct smt_rx_msg;

enum smt_rx_status {
	SMT_RX_MORE = 0, /* accepted (or exact duplicate), message incomplete */
	SMT_RX_DONE = -1, /* every record verified; smt_rx_msg_take() now */
	/* > 0: the packet or a record was dropped for that SMT_DROP_* reason */
};

/* max_pad bounds the lengths records may claim. NULL on ENOMEM. */
struct smt_rx_msg *smt_rx_msg_new(uint64_t msg_id, const struct smt_limits *l);
void smt_rx_msg_free(struct smt_rx_msg *m); /* wipes plaintext */

/*
 * Add one DATA packet (already through smt_pkt_parse, same msg_id).
 * Decrypts each record under rx as its bytes come in order, straight from
 * the packets (p's payload is not used after the call), and checks its tag
 * when it completes (user/lib/reasm.c). *progress is set when new
 * bytes were placed or a record verified. Returns SMT_RX_MORE, SMT_RX_DONE
 * or a drop reason (a record that failed to verify is discarded, counted by
 * smt_rx_msg_max_record_failures() and its range is then missing again).
 * Failures: RECORD_AUTH, BAD_INNER (tag fine, inner type not 0x17),
 * BAD_RECORD_HDR and PAST_RECORD (held bytes overrun the header's length),
 * SEG_OFF_MISMATCH (a verified record that does not tile after the verified
 * records before it). Plain drops: MSG_LEN_MISMATCH, SEG_OFF_MISMATCH,
 * BYTES_MISMATCH (against bytes held, not those decrypted already),
 * PAST_RECORD, NO_MEMORY. Packets for a record that already
 * verified are exact duplicates (SMT_RX_MORE, no progress); after
 * SMT_RX_DONE every packet returns SMT_DROP_DUPLICATE.
 */
int smt_rx_msg_add(struct smt_rx_msg *m, const struct smt_pkt *p,
		   struct smt_aead *rx, bool *progress);

/* Wire-stream ranges still missing, up to max of them; returns the count.
 * Before msg_len is known the single range {0, 0} means "the whole
 * message". */
struct smt_range {
	uint32_t off, len;
};
int smt_rx_msg_missing(const struct smt_rx_msg *m, struct smt_range *r,
		       int max);

/* Drop the provisional state of incomplete records (and msg_len when no
 * record has verified) after two RESEND timeouts without progress. */
void smt_rx_msg_discard_provisional(struct smt_rx_msg *m);

uint32_t smt_rx_msg_len(const struct smt_rx_msg *m); /* 0 if unknown */
uint32_t smt_rx_msg_received(const struct smt_rx_msg *m); /* bytes held */
unsigned int smt_rx_msg_max_record_failures(const struct smt_rx_msg *m);
/* At this many failures of one record the caller frees the message. */
#define SMT_RX_RECORD_FAILURES_MAX 3
bool smt_rx_msg_any_verified(const struct smt_rx_msg *m);
size_t smt_rx_msg_mem(const struct smt_rx_msg *m); /* bytes allocated */

/*
 * After SMT_RX_DONE: check the inner header (app_len <= M, app_len ==
 * content - 8, known inner flags) and hand the application bytes to the caller (*app is
 * malloc'd, caller frees; may be NULL when *len == 0). Returns 0 or
 * SMT_DROP_TRUNCATED / SMT_DROP_BAD_INNER (also for ONEWAY on a response
 * and app_len > M),
 * SMT_DROP_NO_MEMORY (nothing handed out), or -EINVAL before SMT_RX_DONE.
 */
int smt_rx_msg_take(struct smt_rx_msg *m, uint8_t **app, uint32_t *len,
		    uint32_t *inner_flags);

/* ---- Control packets (section 5) -------------------------------------- */

struct smt_ctl {
	uint8_t type; /* SMT_TYPE_GRANT .. SMT_TYPE_ACK */
	uint16_t sport, dport;
	uint8_t hdr_prio, epoch;
	uint64_t msg_id; /* 0 for ACK */
	uint64_t ctl_seq;
	uint32_t offset, length; /* GRANT: offset; RESEND: offset, length */
	uint8_t prio; /* GRANT, RESEND body prio */
	uint16_t count; /* ACK */
	uint64_t ids[SMT_ACK_MAX];
};

/* Build and tag; returns the packet length or -errno (-ENOSPC, -EINVAL). */
int smt_ctl_build(struct smt_aead *tx, const struct smt_ctl *c, uint8_t *out,
		  size_t out_len);

/*
 * Verify a parsed control packet (smt_pkt_parse accepted its length) under
 * rx and decode it. Does not consult the ctl_seq window; the caller checks
 * smt_ctl_window_check() before and marks after. Returns 0 or a drop reason
 * (SMT_DROP_CTL_AUTH, SMT_DROP_BAD_ACK_COUNT, SMT_DROP_BAD_CTL_FIELDS,
 * SMT_DROP_CTL_REPLAY for ctl_seq outside 1..2^63-1).
 */
int smt_ctl_verify(struct smt_aead *rx, const struct smt_pkt *p,
		   struct smt_ctl *out);

/* ---- Replay windows (sections 4 and 5) -------------------------------- */

/* Requests of the peer: highest delivered and a W = 4096 request window. */
struct smt_req_window {
	uint64_t highest; /* 0 = nothing delivered yet */
	uint64_t bits[SMT_REPLAY_WINDOW / 64];
};
/* 0 when msg_id (even, a request) may still be delivered, else
 * SMT_DROP_REQ_REPLAY. Marking happens only after full verification. */
int smt_req_window_check(const struct smt_req_window *w, uint64_t msg_id);
void smt_req_window_mark(struct smt_req_window *w, uint64_t msg_id);

struct smt_ctl_window {
	uint64_t highest;
	uint64_t bits[SMT_CTL_WINDOW / 64];
};
int smt_ctl_window_check(const struct smt_ctl_window *w, uint64_t ctl_seq);
void smt_ctl_window_mark(struct smt_ctl_window *w, uint64_t ctl_seq);

#endif /* SMT_CODEC_H */
