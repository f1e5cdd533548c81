/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SMT wire format, version 1 (docs/protocol.md sections 2, 3 and 5).
 *
 * The one definition of the common header, the control bodies and trailer,
 * the type and flag values and the record constants. It compiles unchanged in
 * BPF programs (after vmlinux.h), in the kernel module and in userspace: only
 * fixed-width big-endian fields, packed, with every offset checked at build
 * time. Helpers that need byte swapping live with their users, not here.
 */
#ifndef SMT_WIRE_H
#define SMT_WIRE_H

#ifndef __VMLINUX_H__ /* BPF programs get the types from vmlinux.h */
#include <linux/types.h>
#endif

#define SMT_IPPROTO_DEFAULT 253 /* RFC 3692 experimentation; 146 is Homa's */
#define SMT_VERSION 1
#define SMT_DOFF_VER 0xA1 /* header length 40 / 4 = 10, version 1 */
#define SMT_HDR_LEN 40

/*
 * SMT over UDP (docs/protocol.md section 1.1): IP protocol 17, a UDP header
 * whose ports are the SMT ports, then the unchanged 40-byte SMT header. A
 * session's encapsulation is agreed at set-up: the session parameter
 * message's ipproto is SMT_IPPROTO_UDP for UDP, the native number else.
 */
#define SMT_IPPROTO_UDP 17
#define SMT_UDP_HDR_LEN 8
#define SMT_IPV4_HDR_LEN 20 /* senders write no options */
#define SMT_IPV6_HDR_LEN 40 /* senders write no extension headers */
/* Payload bytes per packet (section 3.3): mtu - IP - UDP (if any) - 40. */
#define SMT_PKT_PAYLOAD(mtu, ipv6, udp)                           \
	((mtu) - ((ipv6) ? SMT_IPV6_HDR_LEN : SMT_IPV4_HDR_LEN) - \
	 ((udp) ? SMT_UDP_HDR_LEN : 0) - SMT_HDR_LEN)

/* Packet types, in TCP's flag byte. */
#define SMT_TYPE_DATA 0x10
#define SMT_TYPE_GRANT 0x11
#define SMT_TYPE_RESEND 0x12
#define SMT_TYPE_UNKNOWN 0x13
#define SMT_TYPE_BUSY 0x14
#define SMT_TYPE_NEED_ACK 0x17
#define SMT_TYPE_ACK 0x18

/* Header flags (16 bits); other bits are 0 on send and ignored on receive. */
#define SMT_F_RETRANSMIT 0x0001
#define SMT_F_IPID_OFF 0x0002

#define SMT_PRIO_MAX 7

/**
 * struct smt_hdr - the 40-byte common header, shaped like TCP with options.
 * @sport:    sender's SMT port
 * @dport:    receiver's SMT port
 * @pkt_off:  DATA: wire-stream offset of the first payload byte; else 0
 * @seg_off:  DATA: wire-stream offset of this packet's record; else 0
 * @doff_ver: SMT_DOFF_VER
 * @type:     SMT_TYPE_*
 * @flags:    SMT_F_*
 * @csum:     0 on send, ignored on receive
 * @rec_idx:  DATA: record index k; else 0
 * @msg_id:   message identifier; 0 in ACK
 * @msg_len:  DATA: length of the message's wire stream; else 0
 * @granted:  DATA: offset up to which the sender may send; else 0
 * @prio:     priority this packet was sent at (0..7)
 * @epoch:    key epoch of the session
 * @pkt_idx:  DATA: index of this packet in its record (informational)
 */
struct smt_hdr {
	__be16 sport;
	__be16 dport;
	__be32 pkt_off;
	__be32 seg_off;
	__u8 doff_ver;
	__u8 type;
	__be16 flags;
	__be16 csum;
	__be16 rec_idx;
	__be64 msg_id;
	__be32 msg_len;
	__be32 granted;
	__u8 prio;
	__u8 epoch;
	__be16 pkt_idx;
} __attribute__((packed));

#define SMT_CHECK_OFF(type, field, off)                                 \
	_Static_assert(__builtin_offsetof(struct type, field) == (off), \
		       #type "." #field " must sit at offset " #off)

_Static_assert(sizeof(struct smt_hdr) == SMT_HDR_LEN, "smt_hdr is 40 bytes");
SMT_CHECK_OFF(smt_hdr, sport, 0);
SMT_CHECK_OFF(smt_hdr, dport, 2);
SMT_CHECK_OFF(smt_hdr, pkt_off, 4);
SMT_CHECK_OFF(smt_hdr, seg_off, 8);
SMT_CHECK_OFF(smt_hdr, doff_ver, 12);
SMT_CHECK_OFF(smt_hdr, type, 13);
SMT_CHECK_OFF(smt_hdr, flags, 14);
SMT_CHECK_OFF(smt_hdr, csum, 16);
SMT_CHECK_OFF(smt_hdr, rec_idx, 18);
SMT_CHECK_OFF(smt_hdr, msg_id, 20);
SMT_CHECK_OFF(smt_hdr, msg_len, 28);
SMT_CHECK_OFF(smt_hdr, granted, 32);
SMT_CHECK_OFF(smt_hdr, prio, 36);
SMT_CHECK_OFF(smt_hdr, epoch, 37);
SMT_CHECK_OFF(smt_hdr, pkt_idx, 38);

/* Control bodies (section 5). */
struct smt_grant_body {
	__be32 offset;
	__u8 prio;
	__u8 zero[3];
} __attribute__((packed));

struct smt_resend_body {
	__be32 offset;
	__be32 length;
	__u8 prio;
	__u8 zero[3];
} __attribute__((packed));

/* ACK: count (1..SMT_ACK_MAX) then count big-endian 64-bit msg_ids. */
struct smt_ack_body {
	__be16 count;
} __attribute__((packed));

#define SMT_TAG_LEN 16

/* Every control packet ends with ctl_seq and the AEAD tag of an empty text. */
struct smt_ctl_trailer {
	__be64 ctl_seq;
	__u8 tag[SMT_TAG_LEN];
} __attribute__((packed));

_Static_assert(sizeof(struct smt_grant_body) == 8, "GRANT body is 8 bytes");
_Static_assert(sizeof(struct smt_resend_body) == 12, "RESEND body is 12 bytes");
_Static_assert(sizeof(struct smt_ack_body) == 2, "ACK body head is 2 bytes");
_Static_assert(sizeof(struct smt_ctl_trailer) == 24, "trailer is 24 bytes");
SMT_CHECK_OFF(smt_grant_body, prio, 4);
SMT_CHECK_OFF(smt_resend_body, length, 4);
SMT_CHECK_OFF(smt_resend_body, prio, 8);
SMT_CHECK_OFF(smt_ctl_trailer, tag, 8);

#define SMT_ACK_MAX 32
#define SMT_CTL_TRAILER_LEN 24
#define SMT_GRANT_LEN 72
#define SMT_RESEND_LEN 76
#define SMT_EMPTY_CTL_LEN 64 /* UNKNOWN, BUSY, NEED_ACK */
#define SMT_ACK_LEN(count) (66 + 8 * (count))
#define SMT_CTL_SEQ_MAX 0x7fffffffffffffffULL
#define SMT_CTL_SEQ_BIT 0x8000000000000000ULL /* record seq of control tags */
#define SMT_CTL_WINDOW 1024

_Static_assert(SMT_HDR_LEN + 8 + SMT_CTL_TRAILER_LEN == SMT_GRANT_LEN, "GRANT");
_Static_assert(SMT_HDR_LEN + 12 + SMT_CTL_TRAILER_LEN == SMT_RESEND_LEN,
	       "RESEND");
_Static_assert(SMT_HDR_LEN + SMT_CTL_TRAILER_LEN == SMT_EMPTY_CTL_LEN, "empty");
_Static_assert(SMT_HDR_LEN + 2 + SMT_CTL_TRAILER_LEN == SMT_ACK_LEN(0), "ACK");

/*
 * Exact length of a control packet of the given type (section 5): 0 for
 * ACK, whose length depends on its count (SMT_ACK_LEN), -1 for a type
 * that is not a control type. Shared by libsmt and the BPF parsers.
 */
static inline __attribute__((always_inline)) int smt_ctl_fixed_len(__u8 type)
{
	switch (type) {
	case SMT_TYPE_GRANT:
		return SMT_GRANT_LEN;
	case SMT_TYPE_RESEND:
		return SMT_RESEND_LEN;
	case SMT_TYPE_UNKNOWN:
	case SMT_TYPE_BUSY:
	case SMT_TYPE_NEED_ACK:
		return SMT_EMPTY_CTL_LEN;
	case SMT_TYPE_ACK:
		return 0;
	}
	return -1;
}

/* Records (section 3): standard TLS 1.3 records around the message content. */
#define SMT_REC_HDR_LEN 5
#define SMT_REC_TYPE 0x17 /* outer opaque_type, application_data */
#define SMT_REC_VER_HI 0x03
#define SMT_REC_VER_LO 0x03
#define SMT_INNER_TYPE 0x17 /* inner content type after the content */
#define SMT_REC_MAX_CONTENT 16384 /* content + pad */
#define SMT_REC_MIN_CONTENT 4096 /* every record but the last */
#define SMT_REC_OVERHEAD (SMT_REC_HDR_LEN + 1 + SMT_TAG_LEN) /* 22 */
#define SMT_REC_MIN_LEN (1 + SMT_TAG_LEN) /* record length field bounds */
#define SMT_REC_MAX_LEN (SMT_REC_MAX_CONTENT + 1 + SMT_TAG_LEN)
#define SMT_REC_START_MIN 5 /* a record-starting packet carries >= 5 bytes */
#define SMT_REC_IDX_LIMIT 65536 /* k < 2^16 (and < 2^(64-B)) */

/* Inner header at the start of every message's content. */
struct smt_inner_hdr {
	__be32 app_len;
	__be32 inner_flags;
} __attribute__((packed));
_Static_assert(sizeof(struct smt_inner_hdr) == 8, "inner header is 8 bytes");
#define SMT_INNER_HDR_LEN 8
#define SMT_INNER_ONEWAY 0x00000001u
#define SMT_INNER_KNOWN_FLAGS SMT_INNER_ONEWAY

/* Message IDs and sessions (sections 4 and 6). */
#define SMT_B_MIN 40
#define SMT_B_MAX 56
#define SMT_B_DEFAULT 48
#define SMT_MSG_ID_MIN 2
#define SMT_REPLAY_WINDOW 4096
#define SMT_M_DEFAULT (1u << 20) /* 1 MiB */
#define SMT_M_MAX (64u << 20) /* 64 MiB */
#define SMT_PAD_MAX 16383

/* Records needed for M application bytes in the worst case (4096-byte records). */
#define SMT_MAX_RECORDS(M) (((__u64)(M) + 8 + 4095) / 4096)
/* Section 7: the largest wire stream a sender can produce for M and P. */
#define SMT_MAX_WIRE(M, P) \
	((__u64)(M) + 8 + (22 + (__u64)(P)) * SMT_MAX_RECORDS(M))

#endif /* SMT_WIRE_H */
