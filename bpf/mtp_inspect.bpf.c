// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mtp_inspect: XDP on the ingress interfaces of a forwarding box that holds
 * no keys. SMT comes natively or over UDP on the port ranges of
 * `mtp_udp_ports` (the box's own, apart from a host's `udp_ports`). From
 * the plaintext SMT header it finds message starts, ends and
 * record boundaries (pkt_off == seg_off, real offsets under IPID_OFF), keeps
 * per-flow (`mtp_flows`) and per-message (`mtp_msgs`) counters and emits an
 * `mtp_events` record when it has seen every byte of a message: size,
 * packets, records, first-to-last time at this box, packets dropped.
 *
 * Policy is decided once per message, at the first packet seen of it, and
 * then applied to every packet of that message, never to part of one:
 *   - max message size: msg_len over the limit drops the whole message;
 *   - per-flow message rate: a token bucket per flow (rate messages/s, burst
 *     messages) admits or drops the whole message;
 *   - path choice: a next hop chosen by a hash of (flow, msg_id) and stored
 *     with the message; its packets get the next hop's MACs and leave through
 *     XDP_REDIRECT into the devmap `mtp_ports` (slot i = next hop i). On veth
 *     the peer of the egress device needs an XDP program of its own for
 *     redirected frames to be received (any XDP_PASS program will do); on a
 *     physical NIC nothing else is needed. Without next hops: XDP_PASS and
 *     the kernel routes.
 * Malformed SMT packets are dropped and counted by reason (`mtp_drops`):
 * without a trustworthy header no whole-message decision is possible.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lib/msg.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u8 smt_ipproto = SMT_IPPROTO_BUILD;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SMT_MAX_FLOWS);
	__type(key, struct smt_flow_key);
	__type(value, struct smt_mtp_flow);
} mtp_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SMT_MAX_MESSAGES);
	__type(key, struct smt_mtp_msg_key);
	__type(value, struct smt_mtp_msg);
} mtp_msgs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SMT_EVENTS_BYTES);
} mtp_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SMT_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mtp_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SMT_XS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mtp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct smt_mtp_config);
} mtp_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, SMT_MTP_MAX_NH);
	__type(key, __u32);
	__type(value, __u32);
} mtp_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SMT_MTP_MAX_NH);
	__type(key, __u32);
	__type(value, struct smt_mtp_nh_stats);
} mtp_nh_stats SEC(".maps");

/* UDP port ranges that carry SMT through this box (protocol.md 1.1). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SMT_UDP_PORT_RANGES);
	__type(key, __u32);
	__type(value, struct smt_udp_port_range);
} mtp_udp_ports SEC(".maps");

static __always_inline int mtp_drop(struct smt_mtp_flow *fl, int reason)
{
	smt_count(&mtp_drops, reason);
	smt_count(&mtp_stats, SMT_XS_DROP);
	if (fl)
		fl->pkts_dropped++;
	return XDP_DROP;
}

/* Token bucket in millitokens: one message costs 1000. */
static __always_inline int mtp_rate_admit(struct smt_mtp_flow *fl,
					  const struct smt_mtp_config *cfg,
					  __u64 now)
{
	__u64 cap = (__u64)(cfg->burst ? cfg->burst : 1) * 1000;
	__u64 dt = now - fl->refill_ns, add;

	/* rate msgs/s = rate / 1e6 millitokens per ns; cap dt against
	 * overflow (one minute refills any bucket anyway). */
	if (dt > 60000000000ULL)
		dt = 60000000000ULL;
	add = dt * cfg->rate / 1000000;
	if (add) {
		fl->tokens += add;
		fl->refill_ns = now;
	}
	if (fl->tokens > cap)
		fl->tokens = cap;
	if (fl->tokens < 1000)
		return 0;
	fl->tokens -= 1000;
	return 1;
}

static __always_inline void mtp_emit(struct smt_mtp_msg_key *mk,
				     struct smt_mtp_msg *m)
{
	struct smt_msg_event *ev;

	ev = smt_ev_reserve(&mtp_events, &mtp_stats, SMT_EV_MB_DONE);
	if (!ev)
		return;
	ev->family = mk->flow.family;
	ev->encap = mk->flow.encap;
	ev->verdict = m->verdict;
	ev->path = m->nh;
	__builtin_memcpy(ev->saddr, mk->flow.saddr, 16);
	__builtin_memcpy(ev->daddr, mk->flow.daddr, 16);
	ev->sport = mk->flow.sport;
	ev->dport = mk->flow.dport;
	ev->drops = m->drops;
	smt_ev_submit_msg(ev, mk, m);
}

/* Send the packet to next hop nh: its MACs, then the devmap slot. */
static __always_inline int mtp_forward(struct xdp_md *ctx,
				       const struct smt_mtp_config *cfg,
				       __u64 nh, int new_msg)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct smt_mtp_nh_stats *ns;
	struct ethhdr *eth = data;
	__u32 key;

	/*
	 * Verifier: nh indexes cfg->nh[]. It is 64-bit so that clang does
	 * not zero-extend a copy made before the check, and the barrier
	 * keeps it from reusing an unchecked copy.
	 */
	asm volatile("" : "+r"(nh));
	if (nh >= SMT_MTP_MAX_NH)
		return XDP_PASS;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	__builtin_memcpy(eth->h_dest, cfg->nh[nh].dmac, 6);
	__builtin_memcpy(eth->h_source, cfg->nh[nh].smac, 6);
	key = nh;
	ns = bpf_map_lookup_elem(&mtp_nh_stats, &key);
	if (ns) {
		ns->packets++;
		if (new_msg)
			ns->msgs++;
	}
	smt_count(&mtp_stats, SMT_XS_MB_REDIRECT);
	return bpf_redirect_map(&mtp_ports, key, XDP_PASS);
}

SEC("xdp")
int mtp_inspect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct smt_mtp_flow *fl, fzero = {};
	struct smt_mtp_msg_key mk = {};
	struct smt_mtp_config *cfg;
	struct smt_mtp_msg *m;
	struct smt_pkt p = {};
	__u32 zero = 0, n_nh = 0, nh;
	int nhdr, reason, acc, new_msg = 0;
	__u64 now, h;

	nhdr = smt_parse_count(data, data_end, &p, smt_ipproto, &mtp_udp_ports,
			       &mtp_stats);
	if (nhdr == SMT_NH_OTHER)
		return XDP_PASS;
	if (nhdr < 0)
		return mtp_drop(NULL, -nhdr);
	if (!p.smt) /* Verifier: non-NULL only on SMT_NH_SMT. */
		return XDP_PASS;

	smt_addr_copy(mk.flow.saddr, p.saddr, p.family);
	smt_addr_copy(mk.flow.daddr, p.daddr, p.family);
	mk.flow.family = p.family;
	mk.flow.encap = p.encap;
	mk.flow.sport = p.smt->sport;
	mk.flow.dport = p.smt->dport;
	now = bpf_ktime_get_ns();
	fl = bpf_map_lookup_elem(&mtp_flows, &mk.flow);
	if (!fl) {
		cfg = bpf_map_lookup_elem(&mtp_config, &zero);
		fzero.refill_ns = now;
		fzero.tokens = cfg && cfg->burst ? (__u64)cfg->burst * 1000
						 : 1000;
		fl = smt_map_insert(&mtp_flows, &mk.flow, &fzero);
	}
	reason = smt_check_common(&p);
	if (!reason)
		reason = smt_check_hdr(&p, data_end, 0, 0);
	if (reason)
		return mtp_drop(fl, reason);
	if (fl) {
		fl->packets++;
		fl->bytes += p.ip_len;
	}

	cfg = bpf_map_lookup_elem(&mtp_config, &zero);
	if (cfg && (cfg->flags & SMT_MTP_CFG_VALID))
		n_nh = cfg->n_nh > SMT_MTP_MAX_NH ? SMT_MTP_MAX_NH : cfg->n_nh;
	h = smt_msg_hash(p.msg_id, mk.flow.sport, mk.flow.dport,
			 *(__u32 *)&mk.flow.saddr[12] ^
				 *(__u32 *)&mk.flow.saddr[0] ^
				 *(__u32 *)&mk.flow.daddr[0]);
	nh = n_nh ? h % n_nh : 0;

	if (p.smt->type != SMT_TYPE_DATA) {
		/* Control packets follow the hash too; nothing to decide. */
		smt_count(&mtp_stats, SMT_XS_RX_CTL);
		if (cfg && n_nh)
			return mtp_forward(ctx, cfg, nh, 0);
		smt_count(&mtp_stats, SMT_XS_PASS);
		return XDP_PASS;
	}
	smt_count(&mtp_stats, SMT_XS_RX_DATA);

	mk.msg_id = p.msg_id;
	mk.epoch = p.smt->epoch;
	smt_msg_find(m, &mtp_msgs, &mk, &p, now);
	if (!m) {
		struct smt_mtp_msg init = {
			.first_ns = now,
			.msg_len = p.msg_len,
			.nh = nh,
			.verdict = SMT_MB_FORWARD,
		};

		/* The whole-message decision, taken once. */
		if (cfg && (cfg->flags & SMT_MTP_CFG_VALID)) {
			if (cfg->max_msg_len && p.msg_len > cfg->max_msg_len)
				init.verdict = SMT_MB_DROP_SIZE;
			else if (cfg->rate && fl &&
				 !mtp_rate_admit(fl, cfg, now))
				init.verdict = SMT_MB_DROP_RATE;
		}
		m = smt_map_insert(&mtp_msgs, &mk, &init);
		if (!m)
			return mtp_drop(fl, SMT_DROP_NO_MEMORY);
		new_msg = 1;
		smt_count(&mtp_stats, SMT_XS_MSG_START);
		if (fl) {
			fl->msgs++;
			if (m->verdict != SMT_MB_FORWARD)
				fl->msgs_dropped++;
		}
	}
	if (m->verdict != SMT_MB_FORWARD)
		m->drops++;
	acc = smt_msg_account(m, &p, now);
	if (acc == SMT_ACC_DONE) {
		smt_count(&mtp_stats, SMT_XS_MSG_DONE);
		if (fl)
			fl->msgs_done++;
		mtp_emit(&mk, m);
	}
	if (acc != SMT_ACC_DUP && p.off == p.seg_off && fl)
		fl->records++;

	if (m->verdict == SMT_MB_DROP_SIZE)
		return mtp_drop(fl, SMT_DROP_MB_OVERSIZE);
	if (m->verdict == SMT_MB_DROP_RATE)
		return mtp_drop(fl, SMT_DROP_MB_RATE);
	if (cfg && n_nh)
		return mtp_forward(ctx, cfg, m->nh, new_msg);
	smt_count(&mtp_stats, SMT_XS_PASS);
	return XDP_PASS;
}
