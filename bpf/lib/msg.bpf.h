/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-message byte accounting shared by the XDP, TC and middlebox programs,
 * plus finding a message's entry and filling its ring-buffer event. Each
 * message keeps the contiguous prefix covered from offset 0 and up to
 * SMT_MSG_ISLANDS covered ranges beyond it (include/smt/maps.h). A DATA
 * packet whose bytes are all covered already, or that arrives after
 * completion, is a duplicate and adds nothing; a message is complete when
 * the prefix reaches msg_len. This is exact for any packet layout and any
 * reordering that leaves at most SMT_MSG_ISLANDS separate ranges beyond the
 * prefix at a time. Beyond that it loses exact tracking (cover_lost): it
 * then completes when its counted bytes reach msg_len, and a duplicate of an
 * untracked range is counted again and can complete it early. Updates are
 * not atomic: packets of one message arriving on two CPUs at once may lose
 * a count (the same trade-off as every non-atomic BPF counter).
 */
#ifndef SMT_MSG_BPF_H
#define SMT_MSG_BPF_H

#include "parse.bpf.h"

/* Outcome of smt_msg_account(). */
#define SMT_ACC_NEW_BYTES 0
#define SMT_ACC_DUP 1
#define SMT_ACC_DONE 2 /* this packet completed the message */

/*
 * The coverage functions are global BPF functions: the verifier checks each
 * once, on its own, instead of every path of its loops at every call site
 * (inlined, they pushed smt_tc past the verifier's complexity limit).
 * A global function's pointer argument may be NULL for the verifier.
 */

/* Is [s, e) covered by the prefix (contig) or by one island of c? */
__noinline int smt_cover_has(const struct smt_msg_cover *c, __u32 contig,
			     __u32 s, __u32 e)
{
	int i;

	if (e <= contig)
		return 1;
	if (!c)
		return 0;
	for (i = 0; i < SMT_MSG_ISLANDS; i++)
		if (c->isl[i].end && s >= c->isl[i].start && e <= c->isl[i].end)
			return 1;
	return 0;
}

/*
 * Add [s, e) to the coverage: merge every island it overlaps or touches
 * (islands never touch each other, so one pass finds them all), then extend
 * the prefix or take a free island. Returns the new prefix end, plus
 * SMT_COVER_LOST when no island was free and the range is not tracked.
 */
#define SMT_COVER_LOST (1ULL << 32)
__noinline __u64 smt_cover_add(struct smt_msg_cover *c, __u32 contig, __u32 s,
			       __u32 e)
{
	int i;

	if (!c)
		return contig | SMT_COVER_LOST;
	for (i = 0; i < SMT_MSG_ISLANDS; i++) {
		struct smt_msg_island *is = &c->isl[i];

		if (!is->end || is->start > e || is->end < s)
			continue;
		if (is->start < s)
			s = is->start;
		if (is->end > e)
			e = is->end;
		is->start = 0;
		is->end = 0;
	}
	if (s <= contig) {
		/* Islands start after the old prefix and the ones that
		 * touched [s, e) are merged: none is inside the new one. */
		return e > contig ? e : contig;
	}
	for (i = 0; i < SMT_MSG_ISLANDS; i++) {
		if (!c->isl[i].end) {
			c->isl[i].start = s;
			c->isl[i].end = e;
			return contig;
		}
	}
	return contig | SMT_COVER_LOST;
}

/*
 * Account DATA packet p (checked by smt_check_hdr) in message m; m is any
 * struct with the fields of struct smt_msg_state's accounting part (msg_len,
 * bytes, contig, packets, records, state, last_ns, cover_lost, cover).
 */
#define smt_msg_account(m, p, now)                                             \
	({                                                                     \
		__u32 end_ = (p)->off + (p)->len;                              \
		int ret_ = SMT_ACC_NEW_BYTES;                                  \
		__u64 c_;                                                      \
		(m)->packets++;                                                \
		(m)->last_ns = (now);                                          \
		if ((m)->state == SMT_MSG_DONE ||                              \
		    smt_cover_has(&(m)->cover, (m)->contig, (p)->off, end_))   \
			ret_ = SMT_ACC_DUP;                                    \
		if (ret_ != SMT_ACC_DUP) {                                     \
			(m)->bytes += (p)->len;                                \
			c_ = smt_cover_add(&(m)->cover, (m)->contig, (p)->off, \
					   end_);                              \
			(m)->contig = (__u32)c_;                               \
			if (c_ & SMT_COVER_LOST)                               \
				(m)->cover_lost = 1;                           \
			if ((p)->off == (p)->seg_off)                          \
				(m)->records++;                                \
			if ((m)->contig >= (m)->msg_len ||                     \
			    ((m)->cover_lost && (m)->bytes >= (m)->msg_len)) { \
				(m)->state = SMT_MSG_DONE;                     \
				ret_ = SMT_ACC_DONE;                           \
			}                                                      \
		}                                                              \
		ret_;                                                          \
	})

/*
 * A message key (session or flow, msg_id, epoch) can come back for a new
 * message: a new session between the same ports starting again at epoch 0,
 * or a test tool restarted. Treat the entry as a new message when the
 * packet's msg_len differs, or when the entry is done, idle for over a
 * second and the packet starts the wire stream. (A late duplicate of a first
 * packet then opens an entry that the sweep later reports.)
 */
#define SMT_MSG_REUSE_NS 1000000000ULL
#define smt_msg_reused(m, p, now)                        \
	((m)->msg_len != (p)->msg_len ||                 \
	 ((m)->state == SMT_MSG_DONE && (p)->off == 0 && \
	  (now) - (m)->last_ns > SMT_MSG_REUSE_NS))

/*
 * Set m (a pointer to the value type of map, an LRU hash of message states)
 * to the entry of message key mk, or to NULL when there is none or when
 * packet p starts a new message under a reused key (smt_msg_reused), whose
 * old entry is then deleted.
 */
#define smt_msg_find(m, map, mk, p, now)                \
	do {                                            \
		(m) = bpf_map_lookup_elem(map, mk);     \
		if ((m) && smt_msg_reused(m, p, now)) { \
			bpf_map_delete_elem(map, mk);   \
			(m) = NULL;                     \
		}                                       \
	} while (0)

/*
 * Reserve a zeroed event of kind in ring buffer rb. When it is full: NULL,
 * and SMT_XS_EV_LOST counted in the per-CPU array stats.
 */
static __always_inline struct smt_msg_event *
smt_ev_reserve(void *rb, void *stats, __u8 kind)
{
	struct smt_msg_event *ev;

	ev = bpf_ringbuf_reserve(rb, sizeof(*ev), 0);
	if (!ev) {
		smt_count(stats, SMT_XS_EV_LOST);
		return NULL;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	return ev;
}

/*
 * Complete event ev from message key mk (msg_id, epoch) and message m (the
 * accounting part, as for smt_msg_account), stamp the CPU and submit it.
 * The caller has filled the rest: family, addresses, ports and whatever its
 * kind of event carries.
 */
#define smt_ev_submit_msg(ev, mk, m)                    \
	do {                                            \
		(ev)->epoch = (mk)->epoch;              \
		(ev)->msg_id = (mk)->msg_id;            \
		(ev)->msg_len = (m)->msg_len;           \
		(ev)->bytes = (m)->bytes;               \
		(ev)->packets = (m)->packets;           \
		(ev)->records = (m)->records;           \
		(ev)->first_ns = (m)->first_ns;         \
		(ev)->last_ns = (m)->last_ns;           \
		(ev)->cpu = bpf_get_smp_processor_id(); \
		bpf_ringbuf_submit(ev, 0);              \
	} while (0)

#endif /* SMT_MSG_BPF_H */
