/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The BPF map ABI shared by the bpf/ programs, smtd, smtctl and the tests: keys and
 * values of every map, the ring-buffer event, the config structs, the per-CPU
 * counter indexes and the pin paths. Fixed-width types, explicit padding and
 * build-time checks of every size and key offset, so BPF and userspace agree
 * without mirroring anything by hand. Addresses and ports are kept in network
 * byte order exactly as on the wire; msg_id is kept in host order.
 */
#ifndef SMT_MAPS_H
#define SMT_MAPS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* bpffs layout: programs under SMT_PIN_DIR/NAME, maps under SMT_PIN_MAPS. */
#define SMT_BPFFS "/sys/fs/bpf"
#define SMT_PIN_DIR "/sys/fs/bpf/smt"
#define SMT_PIN_MAPS "/sys/fs/bpf/smt/maps"

/* Map names (BPF object names are at most 15 characters). */
#define SMT_MAP_SESSIONS "sessions"
#define SMT_MAP_SESS_STATS "sess_stats"
#define SMT_MAP_MESSAGES "messages"
#define SMT_MAP_EVENTS "events"
#define SMT_MAP_DROPS "drops"
#define SMT_MAP_XDP_STATS "xdp_stats"
#define SMT_MAP_XDP_CONFIG "xdp_config"
#define SMT_MAP_CPU_MAP "cpu_map"
#define SMT_MAP_XSKS "xsks"
#define SMT_MAP_TX_STATS "tx_sess_stats"
#define SMT_MAP_PENDING "pending"
#define SMT_MAP_TX_MESSAGES "tx_messages"
#define SMT_MAP_TC_CONFIG "tc_config"
#define SMT_MAP_MTP_FLOWS "mtp_flows"
#define SMT_MAP_MTP_MSGS "mtp_msgs"
#define SMT_MAP_MTP_EVENTS "mtp_events"
#define SMT_MAP_MTP_DROPS "mtp_drops"
#define SMT_MAP_MTP_CONFIG "mtp_config"
#define SMT_MAP_MTP_PORTS "mtp_ports"
#define SMT_MAP_MTP_NH "mtp_nh_stats"

/* Map sizes. */
#define SMT_MAX_SESSIONS 65536
#define SMT_MAX_MESSAGES 65536
#define SMT_MAX_FLOWS 16384
#define SMT_EVENTS_BYTES (256 * 1024)
#define SMT_MAX_CPUS 64 /* cpumap entries */
#define SMT_MAX_QUEUES 64 /* xskmap entries */

/* Address families in keys (not AF_*, which differ between systems). */
#define SMT_FAM_IPV4 4
#define SMT_FAM_IPV6 6

/**
 * struct smt_session_key - key of `sessions`, `sess_stats`, `tx_sess_stats`.
 * @addr:       peer address; IPv4 in the first 4 bytes, the rest zero
 * @family:     SMT_FAM_IPV4 or SMT_FAM_IPV6
 * @encap:      SMT_KEY_ENCAP_IP (native IP) or SMT_KEY_ENCAP_UDP (SMT over
 *              UDP): a session lives in one encapsulation (protocol.md 1.1)
 * @peer_port:  the peer's SMT port (network order)
 * @local_port: our SMT port (network order)
 * @pad2:       zero
 *
 * On ingress the peer is the IP source and sport; on egress the destination
 * and dport.
 */
struct smt_session_key {
	__u8 addr[16];
	__u8 family;
	__u8 encap;
	__be16 peer_port;
	__be16 local_port;
	__u16 pad2;
};

/* smt_session_key.encap */
#define SMT_KEY_ENCAP_IP 0
#define SMT_KEY_ENCAP_UDP 1

/*
 * `udp_ports` (array, SMT_UDP_PORT_RANGES entries): the UDP port ranges on
 * which a BPF program looks for SMT over UDP (protocol.md 1.1). Entry i
 * covers ports lo..hi (host order, inclusive); the first entry with lo == 0
 * ends the list, so an all-zero map recognises no UDP at all.
 */
#define SMT_MAP_UDP_PORTS "udp_ports"
#define SMT_UDP_PORT_RANGES 16
struct smt_udp_port_range {
	__u16 lo;
	__u16 hi;
};

/* smt_session_val.flags */
#define SMT_SESS_F_EPOCHS 0x01 /* epochs[] lists the epochs that have keys */

/**
 * struct smt_session_val - value of `sessions`, written by smtd.
 * @sess_id:  smtd's session id, carried into events
 * @max_wire: DATA msg_len limit (protocol.md section 7); 0: the default
 * @b:        message-ID width B; 0: the default (48)
 * @flags:    SMT_SESS_F_*
 * @pad:      zero
 * @epochs:   bitmap of the epochs with keys (bit e of epochs[e / 64]:
 *            smt_epoch_set/smt_epoch_has, include/smt/rules.h)
 */
struct smt_session_val {
	__u32 sess_id;
	__u32 max_wire;
	__u8 b;
	__u8 flags;
	__u16 pad;
	__u32 pad2;
	__u64 epochs[4];
};

/**
 * struct smt_sess_stats - per-CPU values of `sess_stats` (XDP ingress) and
 * `tx_sess_stats` (TC egress); userspace sums the CPUs.
 */
struct smt_sess_stats {
	__u64 packets;
	__u64 bytes; /* IP payload bytes: SMT header and what follows */
	__u64 ctl_packets;
	__u64 msgs_started;
	__u64 msgs_completed;
	__u64 drops;
	__u64 dup_packets; /* DATA whose bytes were all covered already */
	__u64 pad;
};

/**
 * struct smt_msg_key - key of `messages` and `tx_messages`.
 * @sess:   the session as in `sessions`
 * @msg_id: host byte order
 * @epoch:  the packet's epoch (msg_id numbering restarts per epoch)
 */
struct smt_msg_key {
	struct smt_session_key sess;
	__u64 msg_id;
	__u8 epoch;
	__u8 pad[7];
};

/* smt_msg_state.state */
#define SMT_MSG_OPEN 0
#define SMT_MSG_DONE 1

/*
 * Byte ranges covered beyond the contiguous prefix, per message: a packet
 * inside the prefix or inside an island is a duplicate. A message whose
 * covered bytes need more than SMT_MSG_ISLANDS separate ranges loses exact
 * tracking (cover_lost) and completes when its counted bytes reach msg_len.
 */
#define SMT_MSG_ISLANDS 4

/* [start, end) of the wire stream; end == 0: unused */
struct smt_msg_island {
	__u32 start;
	__u32 end;
};

struct smt_msg_cover {
	struct smt_msg_island isl[SMT_MSG_ISLANDS];
};

/**
 * struct smt_msg_state - value of `messages` (LRU) and `tx_messages`.
 * @first_ns: bpf_ktime_get_ns() of the first packet
 * @last_ns:  ... of the latest packet
 * @msg_len:  wire-stream length from the first packet
 * @bytes:    payload bytes counted (duplicates of covered bytes skipped)
 * @contig:   end of the contiguous prefix covered from offset 0
 * @packets:  DATA packets, duplicates included
 * @records:  record-starting packets counted (not duplicates)
 * @state:    SMT_MSG_OPEN / SMT_MSG_DONE (event sent)
 * @cpu:      egress: size class; ingress: the steering target index
 * @dups:     duplicate packets
 * @sess_id:  from `sessions`, 0 when unknown
 * @cover_lost: more separate ranges than islands were seen (see above)
 * @cover:    covered ranges beyond @contig
 */
struct smt_msg_state {
	__u64 first_ns;
	__u64 last_ns;
	__u32 msg_len;
	__u32 bytes;
	__u32 contig;
	__u32 packets;
	__u16 records;
	__u8 state;
	__u8 cpu;
	__u32 dups;
	__u32 sess_id;
	__u8 cover_lost;
	__u8 pad[3];
	struct smt_msg_cover cover;
};

/* smt_msg_event.kind */
#define SMT_EV_COMPLETE 1 /* host: every byte of a message seen */
#define SMT_EV_EVICTED 2 /* host: incomplete, removed by a userspace sweep */
#define SMT_EV_MB_DONE 3 /* middlebox: every byte seen, or the end */

/* smt_msg_event.verdict and the middlebox per-message verdict */
#define SMT_MB_FORWARD 0
#define SMT_MB_DROP_SIZE 1
#define SMT_MB_DROP_RATE 2

/**
 * struct smt_msg_event - ring-buffer record of `events` and `mtp_events`.
 * @kind:     SMT_EV_*
 * @family:   SMT_FAM_*
 * @verdict:  middlebox verdict SMT_MB_*; 0 on hosts
 * @path:     middlebox next-hop index; host: steering index
 * @sess_id:  host: from `sessions`; 0 otherwise
 * @saddr:    IP source (host events: the peer)
 * @daddr:    IP destination (host events: zero)
 * @sport:    SMT source port
 * @dport:    SMT destination port
 * @epoch:    epoch of the message
 * @msg_id:   host order
 * @msg_len:  wire-stream length
 * @bytes:    payload bytes counted
 * @packets:  DATA packets seen (forwarded and dropped)
 * @records:  records started
 * @drops:    packets of this message dropped (middlebox)
 * @first_ns: first packet, bpf_ktime_get_ns()
 * @last_ns:  last packet
 * @cpu:      CPU that emitted the event
 */
struct smt_msg_event {
	__u8 kind;
	__u8 family;
	__u8 verdict;
	__u8 path;
	__u32 sess_id;
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 epoch;
	__u8 encap; /* SMT_KEY_ENCAP_* */
	__u8 pad[2];
	__u64 msg_id;
	__u32 msg_len;
	__u32 bytes;
	__u32 packets;
	__u32 records;
	__u32 drops;
	__u32 cpu;
	__u64 first_ns;
	__u64 last_ns;
};

/* Per-CPU counters of `xdp_stats` (u64 per index). */
#define SMT_XDP_STATS(X)                                                     \
	X(RX_SMT, 0, "rx_smt", "SMT packets parsed")                         \
	X(RX_DATA, 1, "rx_data", "DATA packets accepted")                    \
	X(RX_CTL, 2, "rx_control", "control packets accepted")               \
	X(NON_SMT, 3, "non_smt", "other packets, passed untouched")          \
	X(PASS, 4, "pass", "SMT packets passed to the stack")                \
	X(REDIR_CPU, 5, "redirect_cpu", "SMT packets sent to a cpumap CPU")  \
	X(REDIR_XSK, 6, "redirect_xsk", "SMT packets sent to an XSK")        \
	X(DROP, 7, "drop", "SMT packets dropped (see drops)")                \
	X(MSG_START, 8, "msg_start", "messages started")                     \
	X(MSG_DONE, 9, "msg_done", "messages completed")                     \
	X(CPUMAP_RX, 10, "cpumap_rx", "packets run on this CPU via cpumap")  \
	X(CPUMAP_MSGS, 11, "cpumap_msgs",                                    \
	  "message-starting packets run on this CPU via cpumap")             \
	X(EV_LOST, 12, "events_lost", "ring buffer full, event lost")        \
	X(TX_SMT, 13, "tx_smt", "SMT packets seen on egress")                \
	X(TX_REMARK, 14, "tx_dscp_set", "egress packets whose DSCP was set") \
	X(MB_REDIRECT, 15, "mb_redirect",                                    \
	  "middlebox: packets sent to a configured next hop")                \
	X(PENDING_PASS, 16, "pending_pass",                                  \
	  "DATA of no session passed: a set-up from its address is under way")

enum smt_xdp_stat {
#define SMT_XDP_STAT_ENUM(name, num, str, desc) SMT_XS_##name = num,
	SMT_XDP_STATS(SMT_XDP_STAT_ENUM)
#undef SMT_XDP_STAT_ENUM
		SMT_XS_MAX
};

/* smt_xdp_config.flags */
#define SMT_XDP_CFG_VALID 0x01 /* this entry overrides the rodata defaults */
#define SMT_XDP_CFG_FILTER 0x02 /* drop packets of unknown sessions */

/*
 * struct smt_pending_key - key of `pending` (smt_xdp): a peer address that
 * sent TCP to smtd's handshake port (smt_xdp_config.hs_port); the value is
 * the bpf_ktime_get_ns() of its last such packet. For SMT_PENDING_NS after
 * it, DATA of a session not in `sessions` from that address passes the
 * session filter (a 0-RTT request that outran smtd's map entry goes on to
 * the endpoint's bounded hold, docs/protocol.md 8.10).
 * @addr:   IPv4 in the first 4 bytes, the rest zero
 * @family: SMT_FAM_IPV4 or SMT_FAM_IPV6
 * @pad:    zero
 */
struct smt_pending_key {
	__u8 addr[16];
	__u8 family;
	__u8 pad[3];
};

#define SMT_MAX_PENDING 4096
#define SMT_PENDING_NS (100ULL * 1000 * 1000) /* 100 ms */

/* smt_xdp_config.steer */
#define SMT_STEER_PASS 0
#define SMT_STEER_CPUMAP 1
#define SMT_STEER_XSK 2

/**
 * struct smt_xdp_config - entry 0 of `xdp_config`.
 * @flags:    SMT_XDP_CFG_*; without VALID the rodata defaults apply
 * @steer:    SMT_STEER_*
 * @n_cpus:   cpumap entries 0..n_cpus-1 in use (SMT_STEER_CPUMAP)
 * @b:        default B for packets of no known session (filter off)
 * @max_wire: default max_wire likewise
 * @hs_port:  smtd's handshake TCP port (host order), 0: none. With the
 *            filter on, TCP to it opens the `pending` window of its source
 */
struct smt_xdp_config {
	__u32 flags;
	__u32 steer;
	__u32 n_cpus;
	__u32 b;
	__u32 max_wire;
	__u32 hs_port;
};

/* TC egress: message size classes, smallest first. */
#define SMT_TC_CLASSES 4
#define SMT_TC_CFG_VALID 0x01
#define SMT_TC_CFG_DSCP 0x02 /* rewrite DSCP (else only skb->priority) */

/**
 * struct smt_tc_config - entry 0 of `tc_config`.
 * @flags:     SMT_TC_CFG_*; without VALID the built-in defaults apply
 * @n_classes: classes in use (1..SMT_TC_CLASSES); the last takes the rest
 * @bound:     class i holds msg_len <= bound[i] (the last class: any)
 * @prio:      skb->priority per class
 * @dscp:      DSCP (6 bits) per class
 */
struct smt_tc_config {
	__u32 flags;
	__u32 n_classes;
	__u32 bound[SMT_TC_CLASSES];
	__u32 prio[SMT_TC_CLASSES];
	__u8 dscp[SMT_TC_CLASSES];
};

/**
 * struct smt_flow_key - middlebox flow: both endpoints, as seen on the wire.
 */
struct smt_flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u8 family;
	__u8 encap; /* SMT_KEY_ENCAP_*: a native and a UDP flow differ */
	__be16 sport;
	__be16 dport;
	__u16 pad2;
};

/**
 * struct smt_mtp_flow - value of `mtp_flows` (LRU): counters and the token
 * bucket of the flow's message rate limit.
 */
struct smt_mtp_flow {
	__u64 packets;
	__u64 bytes;
	__u64 msgs;
	__u64 msgs_done;
	__u64 msgs_dropped;
	__u64 pkts_dropped;
	__u64 records;
	__u64 tokens; /* in millitokens */
	__u64 refill_ns;
};

/* key of `mtp_msgs` */
struct smt_mtp_msg_key {
	struct smt_flow_key flow;
	__u64 msg_id;
	__u8 epoch;
	__u8 pad[7];
};

/**
 * struct smt_mtp_msg - value of `mtp_msgs` (LRU): one message in transit,
 * with the decision taken at its first packet.
 */
struct smt_mtp_msg {
	__u64 first_ns;
	__u64 last_ns;
	__u32 msg_len;
	__u32 bytes;
	__u32 contig;
	__u32 packets;
	__u32 records;
	__u32 drops;
	__u8 verdict; /* SMT_MB_* */
	__u8 nh; /* next-hop index */
	__u8 state; /* SMT_MSG_* */
	__u8 cover_lost; /* as in smt_msg_state */
	__u8 pad[4];
	struct smt_msg_cover cover;
};

#define SMT_MTP_MAX_NH 4
#define SMT_MTP_CFG_VALID 0x01

/**
 * struct smt_mtp_nexthop - one configured path.
 * @ifindex: egress interface; the devmap `mtp_ports` entry of the same index
 *           must hold it too (XDP_REDIRECT goes through the devmap)
 * @dmac:    next hop's MAC
 * @smac:    egress interface's MAC
 */
struct smt_mtp_nexthop {
	__u32 ifindex;
	__u8 dmac[6];
	__u8 smac[6];
};

/**
 * struct smt_mtp_config - entry 0 of `mtp_config`.
 * @flags:       SMT_MTP_CFG_*; without VALID: count only, pass everything
 * @max_msg_len: drop whole messages with a larger msg_len; 0: no limit
 * @rate:        messages per second per flow; 0: no limit
 * @burst:       token bucket depth in messages (at least 1 when rate set)
 * @n_nh:        next hops in use; 0: XDP_PASS (the kernel routes)
 * @nh:          the next hops
 */
struct smt_mtp_config {
	__u32 flags;
	__u32 max_msg_len;
	__u32 rate;
	__u32 burst;
	__u32 n_nh;
	__u32 pad;
	struct smt_mtp_nexthop nh[SMT_MTP_MAX_NH];
};

/* Per-CPU counters per next hop in `mtp_nh_stats`. */
struct smt_mtp_nh_stats {
	__u64 packets;
	__u64 msgs;
};

#define SMT_MAPS_SIZE(type, n) \
	_Static_assert(sizeof(struct type) == (n), #type " size is ABI")
#define SMT_MAPS_OFF(type, field, off)                                  \
	_Static_assert(__builtin_offsetof(struct type, field) == (off), \
		       #type "." #field " offset is ABI")

SMT_MAPS_SIZE(smt_session_key, 24);
SMT_MAPS_OFF(smt_session_key, family, 16);
SMT_MAPS_OFF(smt_session_key, encap, 17);
SMT_MAPS_SIZE(smt_udp_port_range, 4);
SMT_MAPS_OFF(smt_session_key, peer_port, 18);
SMT_MAPS_OFF(smt_session_key, local_port, 20);
SMT_MAPS_SIZE(smt_session_val, 48);
SMT_MAPS_OFF(smt_session_val, b, 8);
SMT_MAPS_OFF(smt_session_val, epochs, 16);
SMT_MAPS_SIZE(smt_sess_stats, 64);
SMT_MAPS_SIZE(smt_msg_key, 40);
SMT_MAPS_OFF(smt_msg_key, msg_id, 24);
SMT_MAPS_OFF(smt_msg_key, epoch, 32);
SMT_MAPS_SIZE(smt_msg_state, 80);
SMT_MAPS_OFF(smt_msg_state, cover, 48);
SMT_MAPS_SIZE(smt_msg_event, 96);
SMT_MAPS_OFF(smt_msg_event, saddr, 8);
SMT_MAPS_OFF(smt_msg_event, msg_id, 48);
SMT_MAPS_OFF(smt_msg_event, first_ns, 80);
SMT_MAPS_SIZE(smt_xdp_config, 24);
SMT_MAPS_SIZE(smt_pending_key, 20);
SMT_MAPS_SIZE(smt_tc_config, 44);
SMT_MAPS_SIZE(smt_flow_key, 40);
SMT_MAPS_OFF(smt_flow_key, family, 32);
SMT_MAPS_OFF(smt_flow_key, sport, 34);
SMT_MAPS_OFF(smt_flow_key, encap, 33);
SMT_MAPS_OFF(smt_msg_event, encap, 45);
SMT_MAPS_SIZE(smt_mtp_flow, 72);
SMT_MAPS_SIZE(smt_mtp_msg_key, 56);
SMT_MAPS_OFF(smt_mtp_msg_key, msg_id, 40);
SMT_MAPS_SIZE(smt_mtp_msg, 80);
SMT_MAPS_OFF(smt_mtp_msg, cover, 48);
SMT_MAPS_SIZE(smt_mtp_nexthop, 16);
SMT_MAPS_SIZE(smt_mtp_config, 88);
SMT_MAPS_SIZE(smt_mtp_nh_stats, 16);

#endif /* SMT_MAPS_H */
