/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One table of SMT packets and the verdict every receiver must give them
 * (docs/protocol.md sections 2.1 and 8.2, include/smt/rules.h). The same
 * rows run through
 *   - libsmt's codec, smt_pkt_parse()          tests/unit/lib/test_rules.c
 *   - BPF_PROG_TEST_RUN of smt_xdp and
 *     mtp_inspect                              tests/bpf/test_bpf_run.c
 *   - the kernel module's smt_rx_verdict()     tests/unit/kmod/test_rules.c
 * A row is the packet's SMT bytes (rt_build()) plus what the receiver knows:
 * the session's B (libsmt, smt_xdp), the IPv4 ID or IPv6. `reason` is the
 * verdict with the session (0: accepted); a `session_only` row breaks a rule
 * that needs the session's B or max_wire, so receivers that judge without
 * the session (mtp_inspect, the module's hook: loosest bounds) accept it.
 * The expected values are written out here, not computed from rules.h, so
 * a broken rule in rules.h fails all three.
 */
#ifndef SMT_TESTS_RULE_TABLE_H
#define SMT_TESTS_RULE_TABLE_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

#include <smt/drop.h>
#include <smt/wire.h>

struct rule_row {
	char name[48];
	uint8_t B; /* session B; 0: SMT_B_DEFAULT */
	uint8_t v6;
	uint16_t ipid; /* IPv4 ID */
	uint8_t doff_ver; /* 0: SMT_DOFF_VER */
	uint16_t type; /* 0: DATA; 0x100: type byte 0 */
	uint16_t flags, rec_idx, pkt_idx;
	uint64_t msg_id;
	uint32_t msg_len, pkt_off, seg_off;
	uint32_t len; /* SMT bytes; 0: 40 + 1440 (DATA), the type's (control) */
	int rec_len; /* record header length field; 0: to msg_len, <= 16401 */
	uint8_t rec_type; /* record header type byte; 0: 0x17 */
	uint16_t ack_count; /* 0: 1 */
	int reason;
	int session_only;
};

/* Session limits every consumer uses: M = 1 MiB, P = 0 (max_wire 1054238). */
#define RT_MAX_MSG SMT_M_DEFAULT
#define RT_MAX_WIRE 1054238u

/* DATA of a 3000-byte message of one record (record length 2995). */
#define RD(nm, rsn, ...)                                                 \
	{                                                                \
		.name = nm, .reason = rsn, .msg_id = 2, .msg_len = 3000, \
		__VA_ARGS__                                              \
	}
/* A control packet of type t. */
#define RC(nm, rsn, t, ...)                                          \
	{                                                            \
		.name = nm, .reason = rsn, .type = (t), .msg_id = 2, \
		__VA_ARGS__                                          \
	}

/* clang-format off */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
static const struct rule_row rule_rows[] = {
	RD("data_first", 0),
	RD("data_middle", 0, .pkt_off = 1440),
	RD("data_last", 0, .pkt_off = 2880, .len = 40 + 120),
	RD("data_ipv6", 0, .v6 = 1),
	RD("short_header", SMT_DROP_SHORT_HEADER, .len = 39),
	/* doff is the high nibble of doff_ver, the version the low one. */
	RD("doff_0xB1", SMT_DROP_BAD_VERSION, .doff_ver = 0xB1),
	RD("doff_0x91", SMT_DROP_BAD_VERSION, .doff_ver = 0x91),
	RD("version_0xA2", SMT_DROP_BAD_VERSION, .doff_ver = 0xA2),
	RD("version_0xA0", SMT_DROP_BAD_VERSION, .doff_ver = 0xA0),
	RC("type_0x15", SMT_DROP_UNKNOWN_TYPE, 0x15, .len = 64),
	RC("type_0x16", SMT_DROP_UNKNOWN_TYPE, 0x16, .len = 64),
	RC("type_0x19", SMT_DROP_UNKNOWN_TYPE, 0x19, .len = 64),
	RC("type_0x00", SMT_DROP_UNKNOWN_TYPE, 0x00 + 0x100, .len = 64),
	RC("type_0xff", SMT_DROP_UNKNOWN_TYPE, 0xff, .len = 64),
	/* msg_id 0 and 1 are reserved for every receiver (item 15). */
	RD("msg_id_0", SMT_DROP_BAD_MSG_ID, .msg_id = 0),
	RD("msg_id_1", SMT_DROP_BAD_MSG_ID, .msg_id = 1),
	RD("msg_id_2pow47_minus_1_b48", 0, .msg_id = (1ULL << 47) - 1),
	RD("msg_id_2pow47_b48", SMT_DROP_BAD_MSG_ID, .msg_id = 1ULL << 47, .session_only = 1),
	RD("msg_id_2pow39_minus_1_b40", 0, .B = 40, .msg_id = (1ULL << 39) - 1),
	RD("msg_id_2pow39_b40", SMT_DROP_BAD_MSG_ID, .B = 40, .msg_id = 1ULL << 39, .session_only = 1),
	RD("msg_id_2pow55_minus_1_b56", 0, .B = 56, .msg_id = (1ULL << 55) - 1),
	RD("msg_id_2pow55_b56", SMT_DROP_BAD_MSG_ID, .B = 56, .msg_id = 1ULL << 55),
	RD("msg_id_2pow63", SMT_DROP_BAD_MSG_ID, .msg_id = 1ULL << 63),
	RD("msg_len_max_wire", 0, .msg_len = RT_MAX_WIRE),
	RD("msg_len_over_max_wire", SMT_DROP_MSG_TOO_LONG, .msg_len = RT_MAX_WIRE + 1, .session_only = 1),
	RD("empty_payload", SMT_DROP_EMPTY_PAYLOAD, .pkt_off = 1440, .len = 40),
	RD("past_msg_len", SMT_DROP_PAST_MSG_LEN, .pkt_off = 2880, .len = 40 + 121),
	RD("seg_off_after_pkt_off", SMT_DROP_SEG_AFTER_PKT, .pkt_off = 1440, .seg_off = 1500, .len = 140),
	/* 8.2: ends more than 16406 bytes after seg_off, header unseen. */
	RD("past_longest_record", SMT_DROP_PAST_RECORD, .msg_len = 40000, .pkt_off = 16000),
	RD("end_of_longest_record", 0, .msg_len = 40000, .pkt_off = 14966),
	RD("past_announced_record", SMT_DROP_PAST_RECORD, .len = 140, .rec_len = 20),
	RD("short_record_start", SMT_DROP_SHORT_REC_START, .len = 44),
	RD("record_start_5_bytes", 0, .len = 45, .rec_len = 17),
	RD("record_type_0x16", SMT_DROP_BAD_RECORD_HDR, .rec_type = 0x16),
	RD("record_len_16", SMT_DROP_BAD_RECORD_HDR, .rec_len = 16, .len = 40 + 21),
	RD("record_len_16402", SMT_DROP_BAD_RECORD_HDR, .msg_len = 40000, .rec_len = 16402),
	RD("record_past_msg_len", SMT_DROP_BAD_RECORD_HDR, .rec_len = 2996),
	/* 8.2: k x 4118 <= seg_off <= k x 16406, k < min(2^(64-B), 2^16). */
	RD("rec_idx_1_seg_off_4118", 0, .msg_len = 40000, .rec_idx = 1, .seg_off = 4118, .pkt_off = 4118),
	RD("rec_idx_1_seg_off_4117", SMT_DROP_BAD_REC_IDX, .msg_len = 40000, .rec_idx = 1, .seg_off = 4117, .pkt_off = 4117),
	RD("rec_idx_1_seg_off_16406", 0, .msg_len = 40000, .rec_idx = 1, .seg_off = 16406, .pkt_off = 16406),
	RD("rec_idx_1_seg_off_16407", SMT_DROP_BAD_REC_IDX, .msg_len = 40000, .rec_idx = 1, .seg_off = 16407, .pkt_off = 16407),
	RD("rec_idx_0_seg_off_1", SMT_DROP_BAD_REC_IDX, .seg_off = 1, .pkt_off = 1),
	RD("rec_idx_2_middle_seg_off_4118", SMT_DROP_BAD_REC_IDX, .msg_len = 40000, .rec_idx = 2, .seg_off = 4118, .pkt_off = 5000),
	RD("rec_idx_255_b56", 0, .B = 56, .msg_len = RT_MAX_WIRE, .rec_idx = 255, .seg_off = 255 * 4118, .pkt_off = 255 * 4118),
	RD("rec_idx_256_b56", SMT_DROP_BAD_REC_IDX, .B = 56, .msg_len = RT_MAX_WIRE, .rec_idx = 256, .seg_off = 256 * 4118, .pkt_off = 256 * 4118, .len = 40 + 30, .session_only = 1),
	/* IPID_OFF (2.2): real offset seg_off + ID x G, G in pkt_idx. */
	RD("ipid_off_id_1", 0, .flags = SMT_F_IPID_OFF, .pkt_idx = 1440, .ipid = 1),
	RD("ipid_off_id_3_past_msg_len", SMT_DROP_PAST_MSG_LEN, .flags = SMT_F_IPID_OFF, .pkt_idx = 1440, .ipid = 3),
	RD("ipid_off_ipv6", SMT_DROP_IPID_OFF_V6, .v6 = 1, .flags = SMT_F_IPID_OFF, .pkt_idx = 1440),
	/* Control packets (2.1 rule 10, section 5). */
	RC("grant", 0, SMT_TYPE_GRANT),
	RC("grant_70", SMT_DROP_BAD_CTL_LEN, SMT_TYPE_GRANT, .len = 70),
	RC("resend", 0, SMT_TYPE_RESEND),
	RC("resend_72", SMT_DROP_BAD_CTL_LEN, SMT_TYPE_RESEND, .len = 72),
	RC("unknown", 0, SMT_TYPE_UNKNOWN),
	RC("busy", 0, SMT_TYPE_BUSY),
	RC("busy_65", SMT_DROP_BAD_CTL_LEN, SMT_TYPE_BUSY, .len = 65),
	RC("need_ack", 0, SMT_TYPE_NEED_ACK),
	RC("ack_1", 0, SMT_TYPE_ACK, .msg_id = 0),
	RC("ack_32", 0, SMT_TYPE_ACK, .msg_id = 0, .ack_count = 32),
	RC("ack_count_0", SMT_DROP_BAD_ACK_COUNT, SMT_TYPE_ACK, .msg_id = 0, .ack_count = 0x8000, .len = 66),
	RC("ack_count_33", SMT_DROP_BAD_ACK_COUNT, SMT_TYPE_ACK, .msg_id = 0, .ack_count = 33),
	RC("ack_count_2_length_74", SMT_DROP_BAD_CTL_LEN, SMT_TYPE_ACK, .msg_id = 0, .ack_count = 2, .len = 74),
	RC("ack_65", SMT_DROP_BAD_CTL_LEN, SMT_TYPE_ACK, .msg_id = 0, .len = 65),
};
#pragma GCC diagnostic pop
/* clang-format on */

#define RULE_ROWS (sizeof(rule_rows) / sizeof(rule_rows[0]))

static inline unsigned int rt_b(const struct rule_row *r)
{
	return r->B ? r->B : SMT_B_DEFAULT;
}

/* The IPv4 ID as libsmt's smt_pkt_parse() takes it: -1 on IPv6. */
static inline int rt_ipv4_id(const struct rule_row *r)
{
	return r->v6 ? -1 : r->ipid;
}

/* The verdict of a receiver that does not know the session. */
static inline int rt_reason_nob(const struct rule_row *r)
{
	return r->session_only ? 0 : r->reason;
}

/*
 * The row's SMT bytes into buf (cap bytes). Returns their length, or 0 when
 * they do not fit. Payload bytes are 0xab; a record-starting DATA packet
 * (pkt_off == seg_off) with 5 bytes or more begins with a record header.
 */
static inline uint32_t rt_build(const struct rule_row *r, uint8_t *buf,
				uint32_t cap)
{
	struct smt_hdr *h = (struct smt_hdr *)buf;
	uint8_t type = (uint8_t)r->type; /* 0x100: type 0 */
	int data = !r->type;
	uint16_t count = r->ack_count == 0x8000 ? 0
			 : r->ack_count		? r->ack_count
						: 1;
	uint32_t len = r->len;

	if (!len && data)
		len = SMT_HDR_LEN + 1440;
	else if (!len && type == SMT_TYPE_ACK)
		len = SMT_ACK_LEN(count);
	else if (!len)
		len = smt_ctl_fixed_len(type);
	if (len > cap || cap < SMT_HDR_LEN)
		return 0;
	memset(buf, 0xab, len > SMT_HDR_LEN ? len : SMT_HDR_LEN);
	memset(h, 0, sizeof(*h));
	h->sport = htobe16(1000);
	h->dport = htobe16(2000);
	h->doff_ver = r->doff_ver ? r->doff_ver : SMT_DOFF_VER;
	h->type = data ? SMT_TYPE_DATA : type;
	h->flags = htobe16(r->flags);
	h->msg_id = htobe64(r->msg_id);
	if (data) {
		h->pkt_off = htobe32(r->pkt_off);
		h->seg_off = htobe32(r->seg_off);
		h->rec_idx = htobe16(r->rec_idx);
		h->pkt_idx = htobe16(r->pkt_idx);
		h->msg_len = htobe32(r->msg_len);
		h->granted = htobe32(r->msg_len);
		if (r->pkt_off == r->seg_off && len >= SMT_HDR_LEN + 5) {
			uint8_t *p = buf + SMT_HDR_LEN;
			int64_t rl = r->rec_len;

			if (!rl) /* the record ends at msg_len or is the longest */
				rl = (int64_t)r->msg_len - r->seg_off - 5;
			if (!r->rec_len && rl > SMT_REC_MAX_LEN)
				rl = SMT_REC_MAX_LEN;
			p[0] = r->rec_type ? r->rec_type : SMT_REC_TYPE;
			p[1] = SMT_REC_VER_HI;
			p[2] = SMT_REC_VER_LO;
			p[3] = (uint8_t)(rl >> 8);
			p[4] = (uint8_t)rl;
		}
	} else {
		memset(buf + SMT_HDR_LEN, 0, len - SMT_HDR_LEN);
		if (type == SMT_TYPE_ACK && len >= SMT_HDR_LEN + 2) {
			buf[SMT_HDR_LEN] = (uint8_t)(count >> 8);
			buf[SMT_HDR_LEN + 1] = (uint8_t)count;
		}
	}
	return len;
}

#endif /* SMT_TESTS_RULE_TABLE_H */
