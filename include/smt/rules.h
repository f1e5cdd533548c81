/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SMT receive rules and sequence arithmetic, host byte order (docs/protocol.md
 * sections 2.1, 3, 4 and 8.2): the one definition of
 *   - the header rules (doff_ver, type), the control packet lengths,
 *   - the stateless DATA rules (IPID_OFF, msg_id bounds with the reserved
 *     ids 0 and 1, msg_len, offsets, the record header, the past-record
 *     rule and the rec_idx/seg_off bounds of section 8.2), in the order
 *     section 8.2 gives,
 *   - the record sequence number seq = (msg_id << (64 - B)) | k and the
 *     TLS 1.3 nonce IV xor (0^32 || seq).
 * libsmt (codec.c, record.c, reasm.c), the BPF programs (lib/parse.bpf.h)
 * and the kernel module compile this file unchanged: pure functions on
 * integers, no libc, no byte swapping, every shift bounded (the BPF
 * verifier sees B clamped to 40..56 before any shift by it).
 *
 * B == 0 means "B not known": a middlebox or the module's receive hook
 * judges a packet without its session. The bounds are then those of the
 * loosest session (msg_id < 2^(SMT_B_MAX - 1), k < 2^16), so no packet of
 * any valid session is dropped, and msg_id 0 and 1 still are.
 */
#ifndef SMT_RULES_H
#define SMT_RULES_H

#include <smt/wire.h>
#include <smt/drop.h>

#define SMT_RULE_FN static inline __attribute__((always_inline))

#define SMT_NONCE_LEN 12 /* TLS 1.3 AEAD nonce and static IV */
#define SMT_REC_WIRE_MIN (SMT_REC_MIN_CONTENT + SMT_REC_OVERHEAD) /* 4118 */
#define SMT_REC_WIRE_MAX (SMT_REC_HDR_LEN + SMT_REC_MAX_LEN) /* 16406 */

/* B if it is a valid session B (40..56), else 0 ("not known"). */
SMT_RULE_FN unsigned int smt_rule_b(unsigned int B)
{
	return B >= SMT_B_MIN && B <= SMT_B_MAX ? B : 0;
}

/* msg_id < this (section 4): 2^(B-1); B unknown: 2^(SMT_B_MAX-1). */
SMT_RULE_FN __u64 smt_msg_id_limit(unsigned int B)
{
	B = smt_rule_b(B);
	return 1ULL << ((B ? B : SMT_B_MAX) - 1);
}

/* A DATA msg_id is 2 .. 2^(B-1) - 1; 0 and 1 are reserved (section 4). */
SMT_RULE_FN int smt_msg_id_ok(__u64 msg_id, unsigned int B)
{
	return msg_id >= SMT_MSG_ID_MIN && msg_id < smt_msg_id_limit(B);
}

/* rec_idx k < this: min(2^(64-B), 2^16); B unknown: 2^16. */
SMT_RULE_FN __u32 smt_rec_idx_limit(unsigned int B)
{
	B = smt_rule_b(B);
	if (!B || 64 - B >= 16)
		return SMT_REC_IDX_LIMIT;
	return 1U << (64 - B);
}

/*
 * Record sequence number of record k of message msg_id (section 3):
 * the message id in the high B bits, k in the low 64 - B bits.
 */
SMT_RULE_FN __u64 smt_record_seq(__u64 msg_id, unsigned int B, __u32 k)
{
	return (msg_id << (64 - B)) | k;
}

/*
 * TLS 1.3 per-record nonce (RFC 8446 5.3): the 64-bit seq, big-endian,
 * left-padded with zeros to 12 bytes and XORed into the static IV.
 */
SMT_RULE_FN void smt_record_nonce(const __u8 iv[SMT_NONCE_LEN], __u64 seq,
				  __u8 nonce[SMT_NONCE_LEN])
{
	int i;

	for (i = 0; i < SMT_NONCE_LEN; i++)
		nonce[i] = iv[i];
	for (i = 0; i < 8; i++)
		nonce[SMT_NONCE_LEN - 1 - i] ^= (__u8)(seq >> (8 * i));
}

/*
 * Epoch bitmap of a session (struct smt_session_val.epochs, include/smt/
 * maps.h): bit e % 64 of word e / 64 says epoch e has keys. smtd sets the
 * bits, smt_xdp tests them (the word index masked for the verifier).
 */
#define SMT_EPOCH_WORDS 4 /* 256 epochs (section 6) */
SMT_RULE_FN void smt_epoch_set(__u64 ep[SMT_EPOCH_WORDS], unsigned int epoch)
{
	ep[(epoch >> 6) & 3] |= 1ULL << (epoch & 63);
}

SMT_RULE_FN int smt_epoch_has(const __u64 ep[SMT_EPOCH_WORDS],
			      unsigned int epoch)
{
	return !!(ep[(epoch >> 6) & 3] & (1ULL << (epoch & 63)));
}

/* Rules 2 and 3 of section 2.1: doff_ver, then a type that is not reserved. */
SMT_RULE_FN int smt_rule_hdr(__u8 doff_ver, __u8 type)
{
	if (doff_ver != SMT_DOFF_VER)
		return SMT_DROP_BAD_VERSION;
	if (type != SMT_TYPE_DATA && smt_ctl_fixed_len(type) < 0)
		return SMT_DROP_UNKNOWN_TYPE;
	return 0;
}

/*
 * Rule 10 of section 2.1 and the ACK count of section 5: a control packet
 * of len SMT bytes (header, body and trailer). ack_count is the ACK's count
 * field, read only when len >= SMT_ACK_LEN(0).
 */
SMT_RULE_FN int smt_rule_ctl_len(__u8 type, __u32 len, __u16 ack_count)
{
	int want = smt_ctl_fixed_len(type);

	if (want < 0)
		return SMT_DROP_UNKNOWN_TYPE;
	if (want == 0) { /* ACK: its count decides */
		if (len < SMT_ACK_LEN(0))
			return SMT_DROP_BAD_CTL_LEN;
		if (ack_count < 1 || ack_count > SMT_ACK_MAX)
			return SMT_DROP_BAD_ACK_COUNT;
		want = SMT_ACK_LEN(ack_count);
	}
	return len == (__u32)want ? 0 : SMT_DROP_BAD_CTL_LEN;
}

/* A DATA packet's fields in host order, as smt_rule_data() reads them. */
struct smt_data_view {
	__u64 msg_id;
	__u64 off; /* out: the real offset of the first payload byte */
	__u32 pkt_off; /* as sent */
	__u32 seg_off;
	__u32 msg_len;
	__u32 len; /* payload bytes */
	__s32 ipv4_id; /* the IPv4 header's ID; -1 on IPv6 */
	__u16 flags;
	__u16 rec_idx;
	__u16 pkt_idx; /* G under IPID_OFF */
	__u8 rec[SMT_REC_HDR_LEN]; /* the first min(len, 5) payload bytes */
};

/*
 * The stateless DATA rules (sections 2.1, 2.2 and 8.2) in the order of
 * section 8.2; returns 0 or the first rule broken. B: the session's B, 0
 * when not known; max_wire: the session's max_wire, 0 when not known (no
 * msg_len bound). Sets d->off (IPID_OFF applied) on every path that gets
 * that far.
 */
SMT_RULE_FN int smt_rule_data(struct smt_data_view *d, unsigned int B,
			      __u64 max_wire)
{
	__u64 end, rec_min, rec_max;
	__u32 rlen;

	d->off = d->pkt_off;
	if (d->flags & SMT_F_IPID_OFF) {
		/* Template header (2.2): real offset = seg_off + ID * G. */
		if (d->ipv4_id < 0)
			return SMT_DROP_IPID_OFF_V6;
		d->off = (__u64)d->seg_off +
			 (__u64)(d->ipv4_id & 0xffff) * d->pkt_idx;
	}
	if (!smt_msg_id_ok(d->msg_id, B))
		return SMT_DROP_BAD_MSG_ID;
	if (max_wire && d->msg_len > max_wire)
		return SMT_DROP_MSG_TOO_LONG;
	if (!d->len)
		return SMT_DROP_EMPTY_PAYLOAD;
	end = d->off + d->len;
	if (end > d->msg_len)
		return SMT_DROP_PAST_MSG_LEN;
	if (d->seg_off > d->off)
		return SMT_DROP_SEG_AFTER_PKT;
	/* 8.2: no record is longer than 16406 bytes on the wire. */
	if (end > (__u64)d->seg_off + SMT_REC_WIRE_MAX)
		return SMT_DROP_PAST_RECORD;
	if (d->off == d->seg_off) {
		if (d->len < SMT_REC_START_MIN)
			return SMT_DROP_SHORT_REC_START;
		rlen = (__u32)d->rec[3] << 8 | d->rec[4];
		if (d->rec[0] != SMT_REC_TYPE || d->rec[1] != SMT_REC_VER_HI ||
		    d->rec[2] != SMT_REC_VER_LO || rlen < SMT_REC_MIN_LEN ||
		    rlen > SMT_REC_MAX_LEN ||
		    (__u64)d->seg_off + SMT_REC_HDR_LEN + rlen > d->msg_len)
			return SMT_DROP_BAD_RECORD_HDR;
		if (end > (__u64)d->seg_off + SMT_REC_HDR_LEN + rlen)
			return SMT_DROP_PAST_RECORD;
	}
	/*
	 * 8.2: record k starts after k records of 4096..16384 content bytes
	 * each (every record but the last), so rec_idx and seg_off agree.
	 */
	rec_min = (__u64)d->rec_idx * SMT_REC_WIRE_MIN;
	rec_max = (__u64)d->rec_idx * SMT_REC_WIRE_MAX;
	if (d->rec_idx >= smt_rec_idx_limit(B) || d->seg_off < rec_min ||
	    d->seg_off > rec_max)
		return SMT_DROP_BAD_REC_IDX;
	return 0;
}

#endif /* SMT_RULES_H */
