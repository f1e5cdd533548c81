/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The host side's per-packet bookkeeping, the same on ingress (smt_xdp:
 * `sess_stats`, `messages`) and egress (smt_tc: `tx_sess_stats`,
 * `tx_messages`): the session key of a packet, its session's counters and
 * its message's entry (struct smt_msg_state). What each direction decides
 * (filtering, steering, DSCP) stays in its program.
 */
#ifndef SMT_HOST_BPF_H
#define SMT_HOST_BPF_H

#include "msg.bpf.h"

/* UDP port ranges that carry SMT (protocol.md 1.1): one map, pinned by
 * name, shared by smt_xdp and smt_tc on a host. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SMT_UDP_PORT_RANGES);
	__type(key, __u32);
	__type(value, struct smt_udp_port_range);
} udp_ports SEC(".maps");

/* Direction of a packet, for smt_session_key_of(). */
#define SMT_DIR_INGRESS 0
#define SMT_DIR_EGRESS 1

/*
 * The session of packet p (parsed by smt_parse) in direction dir
 * (SMT_DIR_*): the peer is the IP source and sport on ingress, the
 * destination and dport on egress; the encapsulation is part of it, so a
 * native packet never matches a UDP session. sk's padding is left as it is.
 */
static __always_inline void smt_session_key_of(struct smt_session_key *sk,
					       const struct smt_pkt *p, int dir)
{
	int egress = dir == SMT_DIR_EGRESS;

	smt_addr_copy(sk->addr, egress ? p->daddr : p->saddr, p->family);
	sk->family = p->family;
	sk->encap = p->encap;
	sk->peer_port = egress ? p->smt->dport : p->smt->sport;
	sk->local_port = egress ? p->smt->sport : p->smt->dport;
}

/* Count accepted packet p in its session's counters st (may be NULL). */
static __always_inline void smt_sess_count(struct smt_sess_stats *st,
					   const struct smt_pkt *p)
{
	if (!st)
		return;
	st->packets++;
	st->bytes += p->ip_len;
	if (p->smt->type != SMT_TYPE_DATA)
		st->ctl_packets++;
}

/*
 * Account DATA packet p (checked by smt_check_hdr) of session sk in its
 * message's entry in msgs (`messages` or `tx_messages`) and in the
 * session's counters st (may be NULL). The first packet of a message opens
 * its entry with sess_id and cpu (ingress: the steering target; egress: the
 * size class). stats, a per-CPU array or NULL, counts SMT_XS_MSG_START and
 * SMT_XS_MSG_DONE; callers pass NULL as a constant, so the compiler drops
 * those counts and the verifier never sees a NULL map pointer. Fills all of
 * *mk (the key). Returns the message's entry when this packet completed the
 * message, else NULL.
 */
static __always_inline struct smt_msg_state *
smt_host_track(void *msgs, void *stats, struct smt_msg_key *mk,
	       const struct smt_session_key *sk, struct smt_pkt *p,
	       struct smt_sess_stats *st, __u32 sess_id, __u8 cpu)
{
	struct smt_msg_state *m;
	__u64 now = bpf_ktime_get_ns();

	/* All of it: the padding is part of the hash key. */
	__builtin_memset(mk, 0, sizeof(*mk));
	mk->sess = *sk;
	mk->msg_id = p->msg_id;
	mk->epoch = p->smt->epoch;
	smt_msg_find(m, msgs, mk, p, now);
	if (!m) {
		struct smt_msg_state init = {
			.first_ns = now,
			.msg_len = p->msg_len,
			.sess_id = sess_id,
			.cpu = cpu,
		};

		m = smt_map_insert(msgs, mk, &init);
		if (!m)
			return NULL;
		if (st)
			st->msgs_started++;
		if (stats)
			smt_count(stats, SMT_XS_MSG_START);
	}
	switch (smt_msg_account(m, p, now)) {
	case SMT_ACC_DUP:
		m->dups++;
		if (st)
			st->dup_packets++;
		break;
	case SMT_ACC_DONE:
		if (st)
			st->msgs_completed++;
		if (stats)
			smt_count(stats, SMT_XS_MSG_DONE);
		return m;
	}
	return NULL;
}

#endif /* SMT_HOST_BPF_H */
