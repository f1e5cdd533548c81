// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * smt_xdp: host ingress. Parses Ethernet (+ one VLAN tag), IPv4/IPv6 and
 * the SMT header, native or over UDP on the port ranges of `udp_ports`
 * (shared with smt_tc through its pin), drops packets that break a per-packet receive rule of
 * protocol.md section 2 (counted per CPU in `drops` by reason), drops
 * packets of unknown sessions (the `sessions` filter, on by default; DATA
 * from an address that sent TCP to smtd's handshake port in the last
 * SMT_PENDING_NS passes it, see `pending`), keeps
 * per-session and per-message counters, emits a ring-buffer event when a
 * message completes, and steers SMT packets: to a cpumap CPU chosen by a
 * hash of (session, msg_id), to an AF_XDP socket, or to the stack. Packets
 * that are not SMT pass untouched.
 *
 * A second program, smt_cpumap, runs on the target CPU of a cpumap redirect
 * and counts there (per-CPU `xdp_stats`), which shows where messages land.
 *
 * Incomplete messages are not reported from here: an LRU map evicts silently,
 * so userspace sweeps `messages` (smt_bpf_sweep_messages) and reports the
 * stale incomplete ones as SMT_EV_EVICTED.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lib/host.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Tunables, set before load (skeleton) or left at these defaults. */
const volatile __u8 smt_ipproto = SMT_IPPROTO_BUILD;
const volatile __u32 smt_filter = 1; /* drop unknown sessions */
const volatile __u32 smt_steer = SMT_STEER_PASS;
const volatile __u32 smt_n_cpus = 0;
const volatile __u32 smt_b_default = SMT_B_DEFAULT;
const volatile __u32 smt_max_wire_default = SMT_MAX_WIRE(SMT_M_DEFAULT, 0);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SMT_MAX_SESSIONS);
	__type(key, struct smt_session_key);
	__type(value, struct smt_session_val);
} sessions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, SMT_MAX_SESSIONS);
	__type(key, struct smt_session_key);
	__type(value, struct smt_sess_stats);
} sess_stats SEC(".maps");

/* Addresses with a set-up under way: the time of their last TCP packet to
 * smtd's handshake port (struct smt_pending_key). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SMT_MAX_PENDING);
	__type(key, struct smt_pending_key);
	__type(value, __u64);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SMT_MAX_MESSAGES);
	__type(key, struct smt_msg_key);
	__type(value, struct smt_msg_state);
} messages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SMT_EVENTS_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SMT_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SMT_XS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xdp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct smt_xdp_config);
} xdp_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, SMT_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpu_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, SMT_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct smt_xdp_rt {
	__u32 filter;
	__u32 steer;
	__u32 n_cpus;
	__u32 b;
	__u32 max_wire;
	__u32 hs_port;
};

static __always_inline void smt_xdp_runtime(struct smt_xdp_rt *rt)
{
	__u32 zero = 0;
	struct smt_xdp_config *cfg = bpf_map_lookup_elem(&xdp_config, &zero);

	if (cfg && (cfg->flags & SMT_XDP_CFG_VALID)) {
		rt->filter = !!(cfg->flags & SMT_XDP_CFG_FILTER);
		rt->steer = cfg->steer;
		rt->n_cpus = cfg->n_cpus;
		rt->b = cfg->b ? cfg->b : smt_b_default;
		rt->max_wire = cfg->max_wire ? cfg->max_wire
					     : smt_max_wire_default;
		rt->hs_port = cfg->hs_port;
		return;
	}
	rt->hs_port = 0;
	rt->filter = smt_filter;
	rt->steer = smt_steer;
	rt->n_cpus = smt_n_cpus;
	rt->b = smt_b_default;
	rt->max_wire = smt_max_wire_default;
}

static __always_inline int smt_drop(struct smt_sess_stats *st, int reason)
{
	smt_count(&drops, reason);
	smt_count(&xdp_stats, SMT_XS_DROP);
	if (st)
		st->drops++;
	return XDP_DROP;
}

/* Report message mk (entry m), which the current packet completed. */
static __always_inline void smt_emit_done(struct smt_msg_key *mk,
					  struct smt_msg_state *m)
{
	struct smt_msg_event *ev;

	ev = smt_ev_reserve(&events, &xdp_stats, SMT_EV_COMPLETE);
	if (!ev)
		return;
	ev->family = mk->sess.family;
	ev->encap = mk->sess.encap;
	ev->path = m->cpu;
	ev->sess_id = m->sess_id;
	__builtin_memcpy(ev->saddr, mk->sess.addr, 16);
	ev->sport = mk->sess.peer_port;
	ev->dport = mk->sess.local_port;
	smt_ev_submit_msg(ev, mk, m);
}

/*
 * A packet that is not SMT: when it is TCP to smtd's handshake port (a
 * set-up's SYN, ClientHello or HELLO), its source address goes into
 * `pending` with the time. Only with the filter on and hs_port set.
 */
static __always_inline void smt_note_handshake(void *data, void *data_end,
					       __u32 hs_port)
{
	struct smt_cursor c = {.pos = data, .end = data_end};
	struct smt_pending_key k = {};
	struct tcphdr *th;
	__u64 now;
	__u32 off;
	int nh;

	nh = smt_parse_eth(&c, &off);
	if (nh == SMT_NH_IPV4) {
		struct iphdr *ip = c.pos;
		__u32 ihl;

		if ((void *)(ip + 1) > c.end || ip->protocol != 6 /* TCP */ ||
		    (ip->frag_off & bpf_htons(IP_OFFMASK_)))
			return;
		ihl = ip->ihl * 4;
		if (ihl < sizeof(*ip) || ihl > 60)
			return;
		smt_addr_copy(k.addr, (__u8 *)&ip->saddr, SMT_FAM_IPV4);
		k.family = SMT_FAM_IPV4;
		th = c.pos + ihl;
	} else if (nh == SMT_NH_IPV6) {
		struct ipv6hdr *ip6 = c.pos;

		if ((void *)(ip6 + 1) > c.end || ip6->nexthdr != 6)
			return;
		smt_addr_copy(k.addr, (__u8 *)&ip6->saddr, SMT_FAM_IPV6);
		k.family = SMT_FAM_IPV6;
		th = (void *)(ip6 + 1);
	} else {
		return;
	}
	if ((void *)(th + 1) > c.end || th->dest != bpf_htons(hs_port))
		return;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&pending, &k, &now, BPF_ANY);
}

/* May DATA of no known session from p's source pass the filter: did that
 * address send TCP to the handshake port in the last SMT_PENDING_NS? */
static __always_inline int smt_pending(const struct smt_pkt *p)
{
	struct smt_pending_key k = {};
	__u64 *at;

	smt_addr_copy(k.addr, p->saddr, p->family);
	k.family = p->family;
	at = bpf_map_lookup_elem(&pending, &k);
	return at && bpf_ktime_get_ns() - *at < SMT_PENDING_NS;
}

SEC("xdp")
int smt_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct smt_session_key sk = {};
	struct smt_session_val *sv;
	struct smt_sess_stats *st = NULL, st_zero = {};
	struct smt_msg_key mk;
	struct smt_msg_state *m;
	struct smt_xdp_rt rt;
	struct smt_pkt p = {};
	__u32 b, max_wire, target = 0;
	__u8 epoch;
	int nh, reason;

	nh = smt_parse_count(data, data_end, &p, smt_ipproto, &udp_ports,
			     &xdp_stats);
	if (nh == SMT_NH_OTHER) {
		smt_xdp_runtime(&rt);
		if (rt.filter && rt.hs_port)
			smt_note_handshake(data, data_end, rt.hs_port);
		return XDP_PASS;
	}
	if (nh < 0)
		return smt_drop(NULL, -nh);
	/* Verifier: p.smt is only known non-NULL on SMT_NH_SMT. */
	if (!p.smt)
		return XDP_PASS;

	/* The session first, so that a malformed packet of a known session
	 * counts in that session's drops too (docs/bpf.md). */
	smt_xdp_runtime(&rt);
	smt_session_key_of(&sk, &p, SMT_DIR_INGRESS);
	sv = bpf_map_lookup_elem(&sessions, &sk);
	if (!sv && rt.filter) {
		/* a 0-RTT request may outrun smtd's entry: it goes on to
		 * the endpoint's bounded hold (docs/protocol.md 8.10) */
		if (!rt.hs_port || p.smt->type != SMT_TYPE_DATA ||
		    !smt_pending(&p))
			return smt_drop(NULL, SMT_DROP_UNKNOWN_SESSION);
		smt_count(&xdp_stats, SMT_XS_PENDING_PASS);
	}
	st = smt_map_get_or_add(&sess_stats, &sk, &st_zero);
	reason = smt_check_common(&p);
	if (reason)
		return smt_drop(st, reason);
	b = rt.b;
	max_wire = rt.max_wire;
	if (sv) {
		if (sv->b)
			b = sv->b;
		if (sv->max_wire)
			max_wire = sv->max_wire;
		epoch = p.smt->epoch;
		if ((sv->flags & SMT_SESS_F_EPOCHS) &&
		    !smt_epoch_has(sv->epochs, epoch))
			return smt_drop(st, SMT_DROP_NO_EPOCH_KEYS);
	}
	if (!smt_rule_b(b)) /* a session always has a B: never "unknown" */
		b = SMT_B_DEFAULT;
	reason = smt_check_hdr(&p, data_end, b, max_wire);
	if (reason)
		return smt_drop(st, reason);

	smt_sess_count(st, &p);
	if (rt.steer == SMT_STEER_CPUMAP && rt.n_cpus)
		target = smt_msg_hash(p.msg_id, sk.peer_port, sk.local_port,
				      *(__u32 *)&sk.addr[12] ^
					      *(__u32 *)&sk.addr[0]) %
			 rt.n_cpus;
	if (p.smt->type == SMT_TYPE_DATA) {
		smt_count(&xdp_stats, SMT_XS_RX_DATA);
		m = smt_host_track(&messages, &xdp_stats, &mk, &sk, &p, st,
				   sv ? sv->sess_id : 0, target);
		if (m)
			smt_emit_done(&mk, m);
	} else {
		smt_count(&xdp_stats, SMT_XS_RX_CTL);
	}

	if (rt.steer == SMT_STEER_CPUMAP && rt.n_cpus) {
		smt_count(&xdp_stats, SMT_XS_REDIR_CPU);
		return bpf_redirect_map(&cpu_map, target, XDP_PASS);
	}
	if (rt.steer == SMT_STEER_XSK) {
		smt_count(&xdp_stats, SMT_XS_REDIR_XSK);
		return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
	}
	smt_count(&xdp_stats, SMT_XS_PASS);
	return XDP_PASS;
}

/*
 * Runs on the cpumap target CPU for each redirected frame: counts the frame
 * and, for the packet that starts a message (pkt_off 0), the message, so the
 * per-CPU values of `xdp_stats` show how messages spread.
 */
SEC("xdp/cpumap")
int smt_cpumap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct smt_pkt p = {};

	smt_count(&xdp_stats, SMT_XS_CPUMAP_RX);
	/* Under IPID_OFF every packet of the first segment has pkt_off 0:
	 * only IPv4 ID 0 starts the message. */
	if (smt_parse(data, data_end, &p, smt_ipproto, &udp_ports) ==
		    SMT_NH_SMT &&
	    p.smt && p.smt->type == SMT_TYPE_DATA && p.smt->pkt_off == 0 &&
	    (!(p.smt->flags & bpf_htons(SMT_F_IPID_OFF)) || p.ipv4_id == 0))
		smt_count(&xdp_stats, SMT_XS_CPUMAP_MSGS);
	return XDP_PASS;
}
