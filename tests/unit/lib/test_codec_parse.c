// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt_pkt_parse (user/lib/codec.c): every stateless receive rule of
 * docs/protocol.md section 2 as a table of (packet change, expected drop
 * reason), on DATA packets of a real encoded message and on control packets
 * of every type; IPID_OFF real-offset computation.
 */
#include <endian.h>
#include <string.h>

#include <criterion/criterion.h>

#include "codec.h"
#include "smt_test.h"

#define MAXP 1440

static const struct smt_limits lim = {48, 65536, 0};

/* Packets of a 3-record message (R = 4096): 0 starts record 0, 1 is the
 * middle of record 0, and a start of record 1. */
struct fixture {
	struct smt_aead *a;
	struct smt_wire_msg m;
	uint8_t start[2000], mid[2000], rec1[2000];
	uint32_t start_len, mid_len, rec1_len;
};

static struct fixture fx;

static void fx_setup(void)
{
	static uint8_t app[10000];

	th_fill(app, sizeof(app), 3);
	fx.a = th_aead(SMT_CIPHER_AES_128_GCM, 1);
	cr_assert_eq(
		smt_msg_encode(fx.a, 48, 6, app, sizeof(app), 0, 4096, &fx.m),
		0);
	fx.start_len = 40 + smt_data_build(&fx.m, 0, MAXP, NULL, fx.start);
	fx.mid_len = 40 + smt_data_build(&fx.m, MAXP, MAXP, NULL, fx.mid);
	fx.rec1_len = 40 + smt_data_build(&fx.m, fx.m.rec_off[1], MAXP, NULL,
					  fx.rec1);
}

static void fx_teardown(void)
{
	smt_wire_msg_free(&fx.m);
	smt_aead_free(fx.a);
}

TestSuite(smt_pkt_parse, .init = fx_setup, .fini = fx_teardown);

static struct smt_hdr *H(uint8_t *p)
{
	return (struct smt_hdr *)p;
}

enum which { START, MID, REC1 };

/* A change to one packet; returns the new length. */
typedef uint32_t (*mutate_fn)(uint8_t *p, uint32_t len);

static uint32_t m_none(uint8_t *p, uint32_t len)
{
	return len;
}
static uint32_t m_short(uint8_t *p, uint32_t len)
{
	return 39;
}
static uint32_t m_hdr_only(uint8_t *p, uint32_t len)
{
	return 40;
}
/* doff is the high nibble of doff_ver (10 words), the version the low one. */
static uint32_t m_doff(uint8_t *p, uint32_t len)
{
	H(p)->doff_ver = 0xB1;
	return len;
}
static uint32_t m_doff9(uint8_t *p, uint32_t len)
{
	H(p)->doff_ver = 0x91;
	return len;
}
static uint32_t m_ver0(uint8_t *p, uint32_t len)
{
	H(p)->doff_ver = 0xA0;
	return len;
}
static uint32_t m_ver2(uint8_t *p, uint32_t len)
{
	H(p)->doff_ver = 0xA2;
	return len;
}
static uint32_t m_type_15(uint8_t *p, uint32_t len)
{
	H(p)->type = 0x15;
	return len;
}
static uint32_t m_type_00(uint8_t *p, uint32_t len)
{
	H(p)->type = 0x00;
	return len;
}
static uint32_t m_type_19(uint8_t *p, uint32_t len)
{
	H(p)->type = 0x19;
	return len;
}
static uint32_t m_id0(uint8_t *p, uint32_t len)
{
	H(p)->msg_id = 0;
	return len;
}
static uint32_t m_id1(uint8_t *p, uint32_t len)
{
	H(p)->msg_id = htobe64(1);
	return len;
}
static uint32_t m_id_top(uint8_t *p, uint32_t len)
{
	H(p)->msg_id = htobe64(1ull << 47);
	return len;
}
static uint32_t m_id_max_ok(uint8_t *p, uint32_t len)
{
	H(p)->msg_id = htobe64((1ull << 47) - 1);
	return len;
}
static uint32_t m_len_huge(uint8_t *p, uint32_t len)
{
	H(p)->msg_len = htobe32((uint32_t)smt_max_wire(&lim) + 1);
	return len;
}
static uint32_t m_len_max_ok(uint8_t *p, uint32_t len)
{
	H(p)->msg_len = htobe32((uint32_t)smt_max_wire(&lim));
	return len;
}
static uint32_t m_len_short(uint8_t *p, uint32_t len)
{
	/* msg_len ends inside this packet */
	H(p)->msg_len = htobe32(be32toh(H(p)->pkt_off) + len - 40 - 1);
	return len;
}
static uint32_t m_seg_after(uint8_t *p, uint32_t len)
{
	H(p)->seg_off = htobe32(be32toh(H(p)->pkt_off) + 1);
	return len;
}
static uint32_t m_start4(uint8_t *p, uint32_t len)
{
	return 44;
}
static uint32_t m_start5(uint8_t *p, uint32_t len)
{
	return 45;
}
static uint32_t m_rec_len_small(uint8_t *p, uint32_t len)
{
	/* the record header claims fewer bytes than this packet carries */
	p[40 + 3] = 0;
	p[40 + 4] = 100;
	return len;
}
static uint32_t m_rec_type(uint8_t *p, uint32_t len)
{
	p[40] = 0x16;
	return len;
}
static uint32_t m_rec_ver(uint8_t *p, uint32_t len)
{
	p[40 + 2] = 0x04;
	return len;
}
static uint32_t m_rec_len16(uint8_t *p, uint32_t len)
{
	p[40 + 3] = 0;
	p[40 + 4] = 16;
	return len;
}
static uint32_t m_rec_len_big(uint8_t *p, uint32_t len)
{
	p[40 + 3] = (16402 >> 8);
	p[40 + 4] = (16402 & 0xff);
	return len;
}
static uint32_t m_past_record(uint8_t *p, uint32_t len)
{
	/* a non-start packet more than 16406 bytes past its record start */
	H(p)->seg_off = 0;
	H(p)->pkt_off = htobe32(16406 - 10);
	H(p)->msg_len = htobe32(40000);
	return len;
}
static uint32_t m_rec_idx(uint8_t *p, uint32_t len)
{
	H(p)->rec_idx = htobe16(1); /* record 1 cannot start at 0 */
	return len;
}
static uint32_t m_rec_idx_far(uint8_t *p, uint32_t len)
{
	H(p)->rec_idx = htobe16(0); /* record 0 cannot start at 4118 */
	return len;
}
static uint32_t m_ipid_v6(uint8_t *p, uint32_t len)
{
	H(p)->flags = htobe16(SMT_F_IPID_OFF);
	return len;
}
static uint32_t m_flags_other(uint8_t *p, uint32_t len)
{
	H(p)->flags = htobe16(0xfff1); /* unknown bits are ignored */
	H(p)->csum = htobe16(0x1234); /* csum is ignored */
	return len;
}

static const struct {
	const char *name;
	enum which which;
	mutate_fn fn;
	int want;
} rules[] = {
	{"valid start", START, m_none, 0},
	{"valid middle", MID, m_none, 0},
	{"valid record 1", REC1, m_none, 0},
	{"39 bytes", START, m_short, SMT_DROP_SHORT_HEADER},
	{"doff 11 (0xB1)", START, m_doff, SMT_DROP_BAD_VERSION},
	{"doff 9 (0x91)", MID, m_doff9, SMT_DROP_BAD_VERSION},
	{"version 0 (0xA0)", START, m_ver0, SMT_DROP_BAD_VERSION},
	{"version 2", MID, m_ver2, SMT_DROP_BAD_VERSION},
	{"type 0x15", START, m_type_15, SMT_DROP_UNKNOWN_TYPE},
	{"type 0x00", START, m_type_00, SMT_DROP_UNKNOWN_TYPE},
	{"type 0x19", MID, m_type_19, SMT_DROP_UNKNOWN_TYPE},
	{"msg_id 0", START, m_id0, SMT_DROP_BAD_MSG_ID},
	{"msg_id 1", START, m_id1, SMT_DROP_BAD_MSG_ID},
	{"msg_id 2^(B-1)", MID, m_id_top, SMT_DROP_BAD_MSG_ID},
	{"msg_id 2^(B-1)-1", MID, m_id_max_ok, 0},
	{"msg_len > max_wire", START, m_len_huge, SMT_DROP_MSG_TOO_LONG},
	{"msg_len = max_wire", MID, m_len_max_ok, 0},
	{"empty payload", MID, m_hdr_only, SMT_DROP_EMPTY_PAYLOAD},
	{"past msg_len", MID, m_len_short, SMT_DROP_PAST_MSG_LEN},
	{"seg_off > pkt_off", MID, m_seg_after, SMT_DROP_SEG_AFTER_PKT},
	{"record start, 4 bytes", START, m_start4, SMT_DROP_SHORT_REC_START},
	{"record start, 5 bytes", REC1, m_start5, 0},
	{"start past own record", START, m_rec_len_small, SMT_DROP_PAST_RECORD},
	{"middle past 16406", MID, m_past_record, SMT_DROP_PAST_RECORD},
	{"record type 0x16", START, m_rec_type, SMT_DROP_BAD_RECORD_HDR},
	{"record version 0304", REC1, m_rec_ver, SMT_DROP_BAD_RECORD_HDR},
	{"record length 16", START, m_rec_len16, SMT_DROP_BAD_RECORD_HDR},
	{"record length 16402", START, m_rec_len_big, SMT_DROP_BAD_RECORD_HDR},
	{"rec_idx 1 at 0", START, m_rec_idx, SMT_DROP_BAD_REC_IDX},
	{"rec_idx 0 at 4118", REC1, m_rec_idx_far, SMT_DROP_BAD_REC_IDX},
	{"IPID_OFF on IPv6", MID, m_ipid_v6, SMT_DROP_IPID_OFF_V6},
	{"other flags, csum", MID, m_flags_other, 0},
};

Test(smt_pkt_parse, data_rules_table)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		uint8_t p[2000];
		uint32_t len;
		struct smt_pkt pk;

		switch (rules[i].which) {
		case START:
			memcpy(p, fx.start, fx.start_len);
			len = fx.start_len;
			break;
		case MID:
			memcpy(p, fx.mid, fx.mid_len);
			len = fx.mid_len;
			break;
		default:
			memcpy(p, fx.rec1, fx.rec1_len);
			len = fx.rec1_len;
		}
		len = rules[i].fn(p, len);
		cr_assert_eq(smt_pkt_parse(p, len, &lim, -1, &pk),
			     rules[i].want, "%s: got %s", rules[i].name,
			     smt_drop_name((unsigned int)smt_pkt_parse(
				     p, len, &lim, -1, &pk)));
	}
}

Test(smt_pkt_parse, decodes_fields)
{
	struct smt_pkt pk;

	cr_assert_eq(smt_pkt_parse(fx.mid, fx.mid_len, &lim, -1, &pk), 0);
	cr_assert_eq(pk.type, SMT_TYPE_DATA);
	cr_assert_eq(pk.pkt_off, MAXP);
	cr_assert_eq(pk.seg_off, 0);
	cr_assert_eq(pk.rec_idx, 0);
	cr_assert_eq(pk.pkt_idx, 1);
	cr_assert_eq(pk.msg_id, 6);
	cr_assert_eq(pk.msg_len, fx.m.wire_len);
	cr_assert_eq(pk.payload, fx.mid + 40);
	cr_assert_eq(pk.payload_len, fx.mid_len - 40);
	cr_assert_eq(pk.raw, fx.mid);
	cr_assert_eq(pk.raw_len, fx.mid_len);
}

/* IPID_OFF: the template header (pkt_off = seg_off, pkt_idx = G) is copied
 * into every packet; the IPv4 ID i gives the real offset seg_off + i * G. */
static uint32_t ipid_pkt(uint8_t *p, uint32_t rec, uint32_t i, uint32_t G)
{
	uint32_t seg = fx.m.rec_off[rec], end = fx.m.rec_off[rec + 1];
	uint32_t off = seg + i * G, n = end - off < G ? end - off : G;
	struct smt_hdr *h = H(p);

	cr_assert_gt(smt_data_build(&fx.m, off, G, NULL, p), 0);
	h->pkt_off = htobe32(seg);
	h->pkt_idx = htobe16((uint16_t)G);
	h->flags = htobe16(SMT_F_IPID_OFF);
	return 40 + n;
}

Test(smt_pkt_parse, ipid_off_real_offset)
{
	uint8_t p[2000];
	struct smt_pkt pk;
	uint32_t len;

	for (uint32_t i = 0; i < 3; i++) {
		len = ipid_pkt(p, 1, i, 1000);
		cr_assert_eq(smt_pkt_parse(p, len, &lim, (int)i, &pk), 0);
		cr_assert_eq(pk.pkt_off, fx.m.rec_off[1] + i * 1000);
		cr_assert_eq(pk.seg_off, fx.m.rec_off[1]);
		cr_assert_eq(pk.pkt_idx, i);
		cr_assert_arr_eq(pk.payload, fx.m.wire + pk.pkt_off, len - 40);
	}
	/* packet 0 of the segment starts the record: 5-byte rule applies */
	len = ipid_pkt(p, 1, 0, 1000);
	cr_assert_eq(smt_pkt_parse(p, 44, &lim, 0, &pk),
		     SMT_DROP_SHORT_REC_START);
	/* an ID that puts the packet past msg_len */
	cr_assert_eq(smt_pkt_parse(p, len, &lim, 60000, &pk),
		     SMT_DROP_PAST_MSG_LEN);
	/* an ID that puts it past its record: only the record's first packet
	 * says where the record ends, so reassembly drops it */
	{
		struct smt_rx_msg *rm = smt_rx_msg_new(6, &lim);
		uint8_t p0[2000];
		uint32_t len0 = ipid_pkt(p0, 1, 0, 1000);
		bool prog;

		cr_assert_eq(smt_pkt_parse(p0, len0, &lim, 0, &pk), 0);
		cr_assert_eq(smt_rx_msg_add(rm, &pk, fx.a, &prog), SMT_RX_MORE);
		cr_assert_eq(smt_pkt_parse(p, len, &lim, 4, &pk), 0);
		cr_assert_eq(smt_rx_msg_add(rm, &pk, fx.a, &prog),
			     SMT_DROP_PAST_RECORD);
		smt_rx_msg_free(rm);
	}
	/* the same packet from IPv6 */
	cr_assert_eq(smt_pkt_parse(p, len, &lim, -1, &pk),
		     SMT_DROP_IPID_OFF_V6);
}

Test(smt_pkt_parse, ipid_off_packets_reassemble)
{
	struct smt_rx_msg *rm = smt_rx_msg_new(6, &lim);
	uint8_t p[2000];
	bool prog;
	int r = SMT_RX_MORE;

	/* every record as one IPID_OFF segment of G = 1000 */
	for (uint32_t k = 0; k < fx.m.nrec; k++) {
		uint32_t rl = fx.m.rec_off[k + 1] - fx.m.rec_off[k];

		for (uint32_t i = 0; i * 1000 < rl; i++) {
			struct smt_pkt pk;
			uint32_t len = ipid_pkt(p, k, i, 1000);

			cr_assert_eq(smt_pkt_parse(p, len, &lim, (int)i, &pk),
				     0);
			r = smt_rx_msg_add(rm, &pk, fx.a, &prog);
			cr_assert_leq(r, 0, "%s", smt_drop_name((unsigned)r));
		}
	}
	cr_assert_eq(r, SMT_RX_DONE);
	smt_rx_msg_free(rm);
}

/* Control packets: exact lengths per type, ACK counts. */
static int ctl_parse(uint8_t type, uint32_t len, uint16_t count)
{
	uint8_t p[512] = {0};
	struct smt_pkt pk;

	H(p)->doff_ver = SMT_DOFF_VER;
	H(p)->type = type;
	p[40] = (uint8_t)(count >> 8);
	p[41] = (uint8_t)count;
	return smt_pkt_parse(p, len, &lim, -1, &pk);
}

Test(smt_pkt_parse, control_lengths_table)
{
	static const struct {
		uint8_t type;
		uint32_t len;
		uint16_t count;
		int want;
	} t[] = {
		{SMT_TYPE_GRANT, 72, 0, 0},
		{SMT_TYPE_GRANT, 71, 0, SMT_DROP_BAD_CTL_LEN},
		{SMT_TYPE_GRANT, 73, 0, SMT_DROP_BAD_CTL_LEN},
		{SMT_TYPE_RESEND, 76, 0, 0},
		{SMT_TYPE_RESEND, 72, 0, SMT_DROP_BAD_CTL_LEN},
		{SMT_TYPE_UNKNOWN, 64, 0, 0},
		{SMT_TYPE_UNKNOWN, 65, 0, SMT_DROP_BAD_CTL_LEN},
		{SMT_TYPE_BUSY, 64, 0, 0},
		{SMT_TYPE_BUSY, 63, 0, SMT_DROP_BAD_CTL_LEN},
		{SMT_TYPE_NEED_ACK, 64, 0, 0},
		{SMT_TYPE_NEED_ACK, 40, 0, SMT_DROP_BAD_CTL_LEN},
		{SMT_TYPE_ACK, 74, 1, 0},
		{SMT_TYPE_ACK, 66 + 8 * 32, 32, 0},
		{SMT_TYPE_ACK, 66, 0, SMT_DROP_BAD_ACK_COUNT},
		{SMT_TYPE_ACK, 66 + 8 * 33, 33, SMT_DROP_BAD_ACK_COUNT},
		{SMT_TYPE_ACK, 74, 2, SMT_DROP_BAD_CTL_LEN},
		{SMT_TYPE_ACK, 82, 1, SMT_DROP_BAD_CTL_LEN},
		{SMT_TYPE_ACK, 65, 1, SMT_DROP_BAD_CTL_LEN},
		{SMT_TYPE_ACK, 41, 1, SMT_DROP_BAD_CTL_LEN},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_assert_eq(ctl_parse(t[i].type, t[i].len, t[i].count),
			     t[i].want, "case %zu: type 0x%x len %u", i,
			     t[i].type, t[i].len);
}

Test(smt_pkt_parse, control_payload_is_body)
{
	uint8_t p[512] = {0};
	struct smt_pkt pk;

	H(p)->doff_ver = SMT_DOFF_VER;
	H(p)->type = SMT_TYPE_RESEND;
	cr_assert_eq(smt_pkt_parse(p, 76, &lim, -1, &pk), 0);
	cr_assert_eq(pk.payload, p + 40);
	cr_assert_eq(pk.payload_len, 12);
	cr_assert_eq(pk.raw_len, 76);
}
