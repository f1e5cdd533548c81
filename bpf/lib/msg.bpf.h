/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-message byte accounting shared by the XDP, TC and middlebox programs,
 * plus the per-CPU counter helpers. A message counts as complete when its
 * payload bytes reach msg_len. Duplicates are handled approximately: a DATA
 * packet that lies wholly inside the contiguous prefix already covered from
 * offset 0, or arrives after completion, is a duplicate and adds no bytes;
 * a duplicate of an out-of-order packet beyond that prefix is counted again
 * and may complete a message early. Exact tracking would need a per-message
 * bitmap that does not fit a map value for 1 MiB messages. Updates are not
 * atomic: packets of one message arriving on two CPUs at once may lose a
 * count (the same trade-off as every non-atomic BPF counter).
 */
#ifndef SMT_MSG_BPF_H
#define SMT_MSG_BPF_H

#include "parse.bpf.h"

/* Outcome of smt_msg_account(). */
#define SMT_ACC_NEW_BYTES 0
#define SMT_ACC_DUP 1
#define SMT_ACC_DONE 2 /* this packet completed the message */

/*
 * Account DATA packet p (checked by smt_check_hdr) in message m; m is any
 * struct with the fields of struct smt_msg_state's accounting part.
 */
#define smt_msg_account(m, p, now)                                       \
	({                                                               \
		__u32 end_ = (p)->off + (p)->len;                        \
		int ret_ = SMT_ACC_NEW_BYTES;                            \
		(m)->packets++;                                          \
		(m)->last_ns = (now);                                    \
		if ((m)->state == SMT_MSG_DONE || end_ <= (m)->contig) { \
			ret_ = SMT_ACC_DUP;                              \
		} else {                                                 \
			(m)->bytes += (p)->len;                          \
			if ((p)->off <= (m)->contig)                     \
				(m)->contig = end_;                      \
			if ((p)->off == (p)->seg_off)                    \
				(m)->records++;                          \
			if ((m)->contig >= (m)->msg_len ||               \
			    (m)->bytes >= (m)->msg_len) {                \
				(m)->state = SMT_MSG_DONE;               \
				ret_ = SMT_ACC_DONE;                     \
			}                                                \
		}                                                        \
		ret_;                                                    \
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

/* Add one to a per-CPU u64 array slot. */
static __always_inline void smt_count(void *map, __u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(map, &idx);

	if (v)
		*v += 1;
}

#endif /* SMT_MSG_BPF_H */
