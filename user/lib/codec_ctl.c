// SPDX-License-Identifier: BSD-2-Clause
/*
 * SMT control packets and replay windows (docs/protocol.md sections 4 and 5).
 * A control packet is the common header, a type-specific body, ctl_seq and
 * the AEAD tag of an empty plaintext under the sender's direction key with
 * seq = (1 << 63) | ctl_seq, whose AAD is every SMT byte before the tag with
 * csum taken as 0. The windows are sliding bitmaps: request IDs of the peer
 * (step 2, W = 4096) and ctl_seq values (step 1, 1024).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "codec.h"

#define CTL_MAX_LEN SMT_ACK_LEN(SMT_ACK_MAX)
#define CSUM_OFF 16

static size_t ctl_len(const struct smt_ctl *c)
{
	int len = smt_ctl_fixed_len(c->type);

	if (len != 0)
		return len < 0 ? 0 : (size_t)len;
	if (c->count < 1 || c->count > SMT_ACK_MAX)
		return 0;
	return SMT_ACK_LEN(c->count);
}

int smt_ctl_build(struct smt_aead *tx, const struct smt_ctl *c, uint8_t *out,
		  size_t out_len)
{
	struct smt_hdr *h = (struct smt_hdr *)out;
	size_t len, blen;
	uint8_t *b;
	__be64 seq;
	int ret;

	if (!tx || !c || !out)
		return -EINVAL;
	len = ctl_len(c);
	if (!len || c->ctl_seq < 1 || c->ctl_seq > SMT_CTL_SEQ_MAX ||
	    c->hdr_prio > SMT_PRIO_MAX)
		return -EINVAL;
	if ((c->type == SMT_TYPE_GRANT || c->type == SMT_TYPE_RESEND) &&
	    c->prio > SMT_PRIO_MAX)
		return -EINVAL;
	if (out_len < len)
		return -ENOSPC;
	memset(out, 0, len);
	h->sport = htobe16(c->sport);
	h->dport = htobe16(c->dport);
	h->doff_ver = SMT_DOFF_VER;
	h->type = c->type;
	h->msg_id = htobe64(c->type == SMT_TYPE_ACK ? 0 : c->msg_id);
	h->prio = c->hdr_prio;
	h->epoch = c->epoch;

	b = out + SMT_HDR_LEN;
	blen = len - SMT_HDR_LEN - SMT_CTL_TRAILER_LEN;
	switch (c->type) {
	case SMT_TYPE_GRANT: {
		struct smt_grant_body *g = (struct smt_grant_body *)b;

		g->offset = htobe32(c->offset);
		g->prio = c->prio;
		break;
	}
	case SMT_TYPE_RESEND: {
		struct smt_resend_body *r = (struct smt_resend_body *)b;

		r->offset = htobe32(c->offset);
		r->length = htobe32(c->length);
		r->prio = c->prio;
		break;
	}
	case SMT_TYPE_ACK:
		b[0] = (uint8_t)(c->count >> 8);
		b[1] = (uint8_t)c->count;
		for (unsigned int i = 0; i < c->count; i++) {
			__be64 id = htobe64(c->ids[i]);

			memcpy(b + 2 + 8 * i, &id, 8);
		}
		break;
	}
	seq = htobe64(c->ctl_seq);
	memcpy(b + blen, &seq, 8);
	ret = smt_ctl_tag(tx, c->ctl_seq, out, len - SMT_TAG_LEN,
			  out + len - SMT_TAG_LEN);
	return ret ? ret : (int)len;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

int smt_ctl_verify(struct smt_aead *rx, const struct smt_pkt *p,
		   struct smt_ctl *out)
{
	uint8_t aad[CTL_MAX_LEN];
	const uint8_t *b;
	__be64 seq;
	size_t alen;
	struct smt_ctl c;

	if (!rx || !p || !p->raw || p->raw_len < SMT_EMPTY_CTL_LEN ||
	    p->raw_len > CTL_MAX_LEN)
		return SMT_DROP_BAD_CTL_LEN;
	alen = p->raw_len - SMT_TAG_LEN;
	memcpy(&seq, p->raw + alen - 8, 8);
	memset(&c, 0, sizeof(c));
	c.ctl_seq = be64toh(seq);
	if (c.ctl_seq < 1 || c.ctl_seq > SMT_CTL_SEQ_MAX)
		return SMT_DROP_CTL_REPLAY;
	memcpy(aad, p->raw, alen);
	aad[CSUM_OFF] = aad[CSUM_OFF + 1] = 0;
	if (smt_ctl_tag_verify(rx, c.ctl_seq, aad, alen, p->raw + alen))
		return SMT_DROP_CTL_AUTH;

	/* Authentic: now check what the sender should have left at 0. */
	if (p->pkt_off || p->seg_off || p->rec_idx || p->msg_len ||
	    p->granted || p->pkt_idx || p->prio > SMT_PRIO_MAX ||
	    (p->type == SMT_TYPE_ACK && p->msg_id))
		return SMT_DROP_BAD_CTL_FIELDS;
	c.type = p->type;
	c.sport = p->sport;
	c.dport = p->dport;
	c.hdr_prio = p->prio;
	c.epoch = p->epoch;
	c.msg_id = p->msg_id;
	b = p->raw + SMT_HDR_LEN;
	switch (p->type) {
	case SMT_TYPE_GRANT: {
		const struct smt_grant_body *g = (const void *)b;

		if (g->prio > SMT_PRIO_MAX || !all_zero(g->zero, 3))
			return SMT_DROP_BAD_CTL_FIELDS;
		c.offset = be32toh(g->offset);
		c.prio = g->prio;
		break;
	}
	case SMT_TYPE_RESEND: {
		const struct smt_resend_body *r = (const void *)b;

		if (r->prio > SMT_PRIO_MAX || !all_zero(r->zero, 3))
			return SMT_DROP_BAD_CTL_FIELDS;
		c.offset = be32toh(r->offset);
		c.length = be32toh(r->length);
		c.prio = r->prio;
		break;
	}
	case SMT_TYPE_ACK:
		c.count = (uint16_t)(b[0] << 8 | b[1]);
		if (c.count < 1 || c.count > SMT_ACK_MAX ||
		    p->raw_len != (uint32_t)SMT_ACK_LEN(c.count))
			return SMT_DROP_BAD_ACK_COUNT;
		for (unsigned int i = 0; i < c.count; i++) {
			__be64 id;

			memcpy(&id, b + 2 + 8 * i, 8);
			c.ids[i] = be64toh(id);
		}
		break;
	case SMT_TYPE_UNKNOWN:
	case SMT_TYPE_BUSY:
	case SMT_TYPE_NEED_ACK:
		if (p->raw_len != SMT_EMPTY_CTL_LEN)
			return SMT_DROP_BAD_CTL_LEN;
		break;
	default:
		return SMT_DROP_UNKNOWN_TYPE;
	}
	if (out)
		*out = c;
	return 0;
}

/* ---- Sliding windows ---------------------------------------------------- */

/*
 * Both windows are a ring of bits indexed by position (id / step) modulo the
 * window size; `highest` is the newest marked id, 0 before the first. An id
 * is acceptable when it is newer than highest, or within the window and not
 * yet marked.
 */
static int win_check(uint64_t highest, const uint64_t *bits, unsigned int size,
		     uint64_t pos, uint64_t hpos)
{
	uint64_t slot;

	if (!highest || pos > hpos)
		return 0;
	if (hpos - pos >= size)
		return -1;
	slot = pos % size;
	return (bits[slot / 64] >> (slot % 64)) & 1 ? -1 : 0;
}

static void win_mark(uint64_t *highest, uint64_t *bits, unsigned int size,
		     uint64_t id, uint64_t pos, uint64_t hpos)
{
	uint64_t slot;

	if (!*highest || pos > hpos) {
		uint64_t adv = *highest ? pos - hpos : size;

		if (adv >= size) {
			memset(bits, 0, size / 8);
		} else {
			/* clear the slots the window slides over */
			for (uint64_t q = hpos + 1; q <= pos; q++) {
				slot = q % size;
				bits[slot / 64] &= ~(1ull << (slot % 64));
			}
		}
		*highest = id;
	} else if (hpos - pos >= size) {
		return;
	}
	slot = pos % size;
	bits[slot / 64] |= 1ull << (slot % 64);
}

int smt_req_window_check(const struct smt_req_window *w, uint64_t msg_id)
{
	if (!w || msg_id < SMT_MSG_ID_MIN || (msg_id & 1))
		return SMT_DROP_REQ_REPLAY;
	return win_check(w->highest, w->bits, SMT_REPLAY_WINDOW, msg_id / 2,
			 w->highest / 2)
		       ? SMT_DROP_REQ_REPLAY
		       : 0;
}

void smt_req_window_mark(struct smt_req_window *w, uint64_t msg_id)
{
	if (!w || msg_id < SMT_MSG_ID_MIN || (msg_id & 1))
		return;
	win_mark(&w->highest, w->bits, SMT_REPLAY_WINDOW, msg_id, msg_id / 2,
		 w->highest / 2);
}

int smt_ctl_window_check(const struct smt_ctl_window *w, uint64_t ctl_seq)
{
	if (!w || ctl_seq < 1 || ctl_seq > SMT_CTL_SEQ_MAX)
		return SMT_DROP_CTL_REPLAY;
	return win_check(w->highest, w->bits, SMT_CTL_WINDOW, ctl_seq,
			 w->highest)
		       ? SMT_DROP_CTL_REPLAY
		       : 0;
}

void smt_ctl_window_mark(struct smt_ctl_window *w, uint64_t ctl_seq)
{
	if (!w || ctl_seq < 1 || ctl_seq > SMT_CTL_SEQ_MAX)
		return;
	win_mark(&w->highest, w->bits, SMT_CTL_WINDOW, ctl_seq, ctl_seq,
		 w->highest);
}
