// SPDX-License-Identifier: BSD-2-Clause
/*
 * BPF_PROG_TEST_RUN fixtures for smt_xdp, smt_tc, mtp_inspect and
 * smt_fault. Each fixture is a row: a few packets (built from
 * include/smt/wire.h structs by pkt.c, native or SMT over UDP), the verdict
 * expected for each, and the counter deltas expected afterwards (drop
 * reason, non-SMT packets, messages started/completed, ring-buffer events,
 * per-session counters). Every row loads a fresh skeleton, so rows do not
 * share map state. UDP port ranges are the same in every program
 * (udp_ranges below). Needs root (CAP_BPF + CAP_NET_ADMIN).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <smt/drop.h>
#include <smt/maps.h>
#include "smt_xdp.skel.h"
#include "smt_tc.skel.h"
#include "mtp_inspect.skel.h"
#include "smt_fault.skel.h"
#include <smt/fault.h>
#include "pkt.h"
#include "../unit/common/rule_table.h"

#define MAX_STEPS 12
#define FRAME 4096

struct step {
	struct pkt_spec s;
	int verdict;
};

/* One fixture row: packets, verdicts, expected counter deltas. */
struct fix {
	char name[48]; /* an array: Criterion copies rows between processes */
	struct step steps[MAX_STEPS];
	int drop; /* expected drop reason (count = ndrop, default 1) */
	int ndrop;
	int msg_start, msg_done, events, ctl, dups;
	int non_smt; /* packets counted as not SMT (XDP programs) */
	int filter_off;
	int steer_cpumap;
	int steer_xsk;
	/* TC only */
	int tc_dscp; /* expected DSCP in data_out, -1: unchecked */
	int tc_prio;
	int tc_classes; /* nonzero: install a 2-class config, bound 100 */
	/* middlebox only */
	uint32_t mb_max, mb_rate;
	int mb_nh; /* next hops to configure */
	int ev_verdict, ev_records, ev_packets, ev_drops;
};

static int ncpus;

/*
 * The UDP port ranges every program gets: the local port 2000 (and 2001,
 * for dport mismatches inside a range) and 40000-40100; entry 2 is empty,
 * so entry 3 (5000) must be ignored.
 */
static const struct smt_udp_port_range udp_ranges[SMT_UDP_PORT_RANGES] = {
	{2000, 2001}, {40000, 40100}, {0, 0}, {5000, 5000}};

static void set_udp_ranges(int fd)
{
	uint32_t i;

	for (i = 0; i < SMT_UDP_PORT_RANGES; i++)
		cr_assert_eq(
			bpf_map_update_elem(fd, &i, &udp_ranges[i], BPF_ANY), 0,
			"udp ranges: %s", strerror(errno));
}

static int step_used(const struct step *st)
{
	return st->s.payload || st->s.type || st->s.not_smt || st->s.msg_id;
}

static uint64_t sum_percpu_u64(int fd, uint32_t key)
{
	uint64_t v[256], s = 0;
	int i;

	if (bpf_map_lookup_elem(fd, &key, v))
		return 0;
	for (i = 0; i < ncpus; i++)
		s += v[i];
	return s;
}

static int run_prog(int prog_fd, const uint8_t *pkt, int len, uint8_t *out,
		    uint32_t *out_len, struct __sk_buff *skb)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len,
		    .data_out = out, .data_size_out = FRAME, .repeat = 1);
	int err;

	if (skb) {
		o.ctx_in = skb;
		o.ctx_size_in = sizeof(*skb);
		o.ctx_out = skb;
		o.ctx_size_out = sizeof(*skb);
	}
	err = bpf_prog_test_run_opts(prog_fd, &o);
	cr_assert_eq(err, 0, "test_run failed: %s", strerror(errno));
	*out_len = o.data_size_out;
	return o.retval;
}

static int count_event(void *ctx, void *data, size_t len)
{
	struct smt_msg_event *last = ctx;

	cr_assert_eq(len, sizeof(*last), "event size %zu", len);
	memcpy(last, data, sizeof(*last));
	last->pad[0]++; /* scratch: not part of any check */
	return 0;
}

static int drain_events(int map_fd, struct smt_msg_event *last)
{
	struct ring_buffer *rb;
	int n;

	memset(last, 0, sizeof(*last));
	rb = ring_buffer__new(map_fd, count_event, last, NULL);
	cr_assert_not_null(rb, "ring_buffer__new");
	n = ring_buffer__consume(rb);
	ring_buffer__free(rb);
	return n;
}

static void sess_add(int fd, const char *addr, int v6, uint16_t peer_port,
		     uint8_t b, int epochs, int udp)
{
	struct smt_session_key k = {0};
	struct smt_session_val v = {0};

	inet_pton(v6 ? AF_INET6 : AF_INET, addr, k.addr);
	k.family = v6 ? SMT_FAM_IPV6 : SMT_FAM_IPV4;
	k.encap = udp ? SMT_KEY_ENCAP_UDP : SMT_KEY_ENCAP_IP;
	k.peer_port = htons(peer_port);
	k.local_port = htons(2000);
	v.sess_id = peer_port;
	v.b = b;
	if (epochs) {
		v.flags = SMT_SESS_F_EPOCHS;
		v.epochs[0] = 0x3; /* epochs 0 and 1 have keys */
	}
	cr_assert_eq(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
}

/* A native IPv4 session of peer port peer_port with keys for the epochs
 * of the bitmap ep (bit e of ep[e / 64]). */
static void sess_add_epochs(int fd, uint16_t peer_port, const uint64_t ep[4])
{
	struct smt_session_key k = {0};
	struct smt_session_val v = {0};

	inet_pton(AF_INET, "10.0.0.1", k.addr);
	k.family = SMT_FAM_IPV4;
	k.encap = SMT_KEY_ENCAP_IP;
	k.peer_port = htons(peer_port);
	k.local_port = htons(2000);
	v.sess_id = peer_port;
	v.flags = SMT_SESS_F_EPOCHS;
	memcpy(v.epochs, ep, sizeof(v.epochs));
	cr_assert_eq(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
}

static struct smt_sess_stats sess_get(int fd, uint16_t peer_port, int v6,
				      int udp)
{
	struct smt_sess_stats v[256], s = {0};
	struct smt_session_key k = {0};
	int i;

	inet_pton(v6 ? AF_INET6 : AF_INET, v6 ? "fd00::1" : "10.0.0.1", k.addr);
	k.family = v6 ? SMT_FAM_IPV6 : SMT_FAM_IPV4;
	k.encap = udp ? SMT_KEY_ENCAP_UDP : SMT_KEY_ENCAP_IP;
	k.peer_port = htons(peer_port);
	k.local_port = htons(2000);
	if (bpf_map_lookup_elem(fd, &k, v))
		return s;
	for (i = 0; i < ncpus; i++) {
		s.packets += v[i].packets;
		s.ctl_packets += v[i].ctl_packets;
		s.msgs_started += v[i].msgs_started;
		s.msgs_completed += v[i].msgs_completed;
		s.drops += v[i].drops;
		s.dup_packets += v[i].dup_packets;
	}
	return s;
}

static void init(void)
{
	ncpus = libbpf_num_possible_cpus();
	cr_assert(ncpus > 0 && ncpus <= 256);
	libbpf_set_print(NULL);
}

/* A 3000-byte message (one record, rec_len 2995) in three packets. */
#define M3(off, len, ...)                                       \
	{                                                       \
		.msg_id = 2, .msg_len = 3000, .pkt_off = (off), \
		.payload = (len), __VA_ARGS__                   \
	}
#define FIRST M3(0, 1440)
#define MIDDLE M3(1440, 1440)
#define LAST M3(2880, 120)
/* The same message over UDP, packets of 1432 bytes (IPv4, MTU 1500). */
#define FIRST_U M3(0, 1432, .udp = 1)
#define MIDDLE_U M3(1432, 1432, .udp = 1)
#define LAST_U M3(2864, 136, .udp = 1)
#define ONE(...)                                                         \
	{                                                                \
		.msg_id = 4, .msg_len = 100, .payload = 100, __VA_ARGS__ \
	}
/* Packet k of an 11-packet message of one record (15840 bytes). */
#define W(k)                                                           \
	{                                                              \
		.msg_id = 10, .msg_len = 15840, .pkt_off = 1440 * (k), \
		.payload = 1440                                        \
	}
#define P XDP_PASS
#define D XDP_DROP

/* clang-format off */
static struct fix xdp_fixtures[] = {
	{ "data_first", { { FIRST, P } }, .msg_start = 1 },
	{ "data_middle_before_first", { { MIDDLE, P } }, .msg_start = 1 },
	{ "data_first_middle_last", { { FIRST, P }, { MIDDLE, P }, { LAST, P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "data_last_middle_first", { { LAST, P }, { MIDDLE, P }, { FIRST, P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "data_duplicate_first", { { FIRST, P }, { FIRST, P } },
	  .msg_start = 1, .dups = 1 },
	{ "data_duplicate_after_done",
	  { { FIRST, P }, { MIDDLE, P }, { LAST, P }, { MIDDLE, P } },
	  .msg_start = 1, .msg_done = 1, .events = 1, .dups = 1 },
	/* Byte coverage: duplicates beyond the prefix are recognised. */
	{ "data_duplicate_out_of_order_not_complete",
	  { { MIDDLE, P }, { MIDDLE, P }, { LAST, P } },
	  .msg_start = 1, .dups = 1 },
	{ "data_duplicate_out_of_order_then_first_completes",
	  { { MIDDLE, P }, { MIDDLE, P }, { LAST, P }, { FIRST, P } },
	  .msg_start = 1, .msg_done = 1, .events = 1, .dups = 1 },
	{ "data_four_islands_exact",
	  { { W(1), P }, { W(3), P }, { W(5), P }, { W(7), P }, { W(7), P },
	    { W(0), P }, { W(2), P }, { W(4), P }, { W(6), P }, { W(8), P },
	    { W(9), P }, { W(10), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1, .dups = 1 },
	{ "data_five_islands_complete_by_bytes",
	  { { W(1), P }, { W(3), P }, { W(5), P }, { W(7), P }, { W(9), P },
	    { W(0), P }, { W(2), P }, { W(4), P }, { W(6), P }, { W(8), P },
	    { W(10), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "data_five_islands_not_done_early",
	  { { W(1), P }, { W(3), P }, { W(5), P }, { W(7), P }, { W(9), P },
	    { W(0), P }, { W(2), P }, { W(4), P }, { W(6), P }, { W(8), P } },
	  .msg_start = 1 },
	{ "msg_id_reused_other_msg_len_new_message",
	  { { ONE(.msg_id = 2), P }, { FIRST, P }, { MIDDLE, P }, { LAST, P } },
	  .msg_start = 2, .msg_done = 2, .events = 2 },
	{ "ipv6_message", { { ONE(.v6 = 1), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "vlan_message", { { ONE(.vlan = 1), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "vlan_ipv6_message", { { ONE(.vlan = 1, .v6 = 1), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "non_smt_udp_untouched", { { { .not_smt = 1 }, P } }, .non_smt = 1 },
	{ "other_ip_protocol_untouched", { { ONE(.proto = 254), P } },
	  .non_smt = 1 },
	{ "ctl_grant", { { { .type = SMT_TYPE_GRANT, .msg_id = 2 }, P } }, .ctl = 1 },
	{ "ctl_resend", { { { .type = SMT_TYPE_RESEND, .msg_id = 2 }, P } }, .ctl = 1 },
	{ "ctl_unknown", { { { .type = SMT_TYPE_UNKNOWN, .msg_id = 2 }, P } }, .ctl = 1 },
	{ "ctl_busy", { { { .type = SMT_TYPE_BUSY, .msg_id = 2 }, P } }, .ctl = 1 },
	{ "ctl_need_ack", { { { .type = SMT_TYPE_NEED_ACK, .msg_id = 3 }, P } }, .ctl = 1 },
	{ "ctl_ack_3", { { { .type = SMT_TYPE_ACK, .ack_count = 3 }, P } }, .ctl = 1 },
	{ "ctl_ack_32", { { { .type = SMT_TYPE_ACK, .ack_count = 32 }, P } }, .ctl = 1 },
	{ "ctl_ipv6_grant", { { { .v6 = 1, .type = SMT_TYPE_GRANT, .msg_id = 2 }, P } },
	  .ctl = 1 },
	{ "drop_short_header", { { ONE(.smt_len = 39), D } },
	  .drop = SMT_DROP_SHORT_HEADER },
	{ "drop_bad_doff_ver", { { ONE(.doff_ver = 0xA2), D } },
	  .drop = SMT_DROP_BAD_VERSION },
	{ "drop_unknown_type", { { { .type = 0x15, .msg_id = 2 }, D } },
	  .drop = SMT_DROP_UNKNOWN_TYPE },
	{ "drop_unknown_session", { { ONE(.sport = 999), D } },
	  .drop = SMT_DROP_UNKNOWN_SESSION },
	{ "drop_unknown_session_v6", { { ONE(.v6 = 1, .saddr = "fd00::9"), D } },
	  .drop = SMT_DROP_UNKNOWN_SESSION },
	{ "pass_unknown_session_filter_off", { { ONE(.sport = 999), P } },
	  .filter_off = 1, .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "drop_epoch_without_keys", { { ONE(.epoch = 5), D } },
	  .drop = SMT_DROP_NO_EPOCH_KEYS },
	{ "pass_epoch_with_keys", { { ONE(.epoch = 1), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	/* Peer port 1200: keys for epochs 0, 64, 127 and 255 (a re-key
	 * across the wrap 255 -> 0): every word of epochs[] is read. */
	{ "pass_epoch_64_word_1", { { ONE(.sport = 1200, .epoch = 64), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "drop_epoch_65", { { ONE(.sport = 1200, .epoch = 65), D } },
	  .drop = SMT_DROP_NO_EPOCH_KEYS },
	{ "pass_epoch_127_word_1_bit_63",
	  { { ONE(.sport = 1200, .epoch = 127), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "drop_epoch_128", { { ONE(.sport = 1200, .epoch = 128), D } },
	  .drop = SMT_DROP_NO_EPOCH_KEYS },
	{ "drop_epoch_192", { { ONE(.sport = 1200, .epoch = 192), D } },
	  .drop = SMT_DROP_NO_EPOCH_KEYS },
	{ "pass_epoch_255_before_wrap",
	  { { ONE(.sport = 1200, .epoch = 255), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "pass_epoch_0_after_wrap", { { ONE(.sport = 1200, .epoch = 0), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "drop_epoch_1_after_wrap", { { ONE(.sport = 1200, .epoch = 1), D } },
	  .drop = SMT_DROP_NO_EPOCH_KEYS },
	{ "drop_msg_id_0", { { ONE(.msg_id = 0), D } }, .drop = SMT_DROP_BAD_MSG_ID },
	{ "drop_msg_id_1", { { ONE(.msg_id = 1), D } }, .drop = SMT_DROP_BAD_MSG_ID },
	{ "drop_msg_id_2pow47", { { ONE(.msg_id = 1ULL << 47), D } },
	  .drop = SMT_DROP_BAD_MSG_ID },
	{ "pass_msg_id_2pow47_minus_1", { { ONE(.msg_id = (1ULL << 47) - 1), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "pass_msg_id_2pow48_b56", { { ONE(.sport = 1001, .msg_id = 1ULL << 48), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "drop_rec_idx_256_b56",
	  { { ONE(.sport = 1001, .rec_idx = 256, .seg_off = 0), D } },
	  .drop = SMT_DROP_BAD_REC_IDX },
	{ "drop_msg_len_over_max_wire",
	  { { { .msg_id = 2, .msg_len = 1054239, .payload = 1440 }, D } },
	  .drop = SMT_DROP_MSG_TOO_LONG },
	{ "pass_msg_len_max_wire",
	  { { { .msg_id = 2, .msg_len = 1054238, .payload = 1440 }, P } },
	  .msg_start = 1 },
	{ "drop_empty_payload", { { M3(1440, 0), D } },
	  .drop = SMT_DROP_EMPTY_PAYLOAD },
	{ "drop_past_msg_len", { { M3(2880, 121), D } },
	  .drop = SMT_DROP_PAST_MSG_LEN },
	{ "drop_past_record", { { M3(0, 100, .rec_len = 20), D } },
	  .drop = SMT_DROP_PAST_RECORD },
	{ "drop_seg_off_after_pkt_off", { { M3(1440, 100, .seg_off = 1500), D } },
	  .drop = SMT_DROP_SEG_AFTER_PKT },
	{ "drop_short_record_start", { { M3(0, 4), D } },
	  .drop = SMT_DROP_SHORT_REC_START },
	{ "drop_bad_record_header", { { M3(0, 1440, .bad_rec_hdr = 1), D } },
	  .drop = SMT_DROP_BAD_RECORD_HDR },
	{ "drop_ipid_off_on_ipv6",
	  { { M3(0, 1440, .v6 = 1, .flags = SMT_F_IPID_OFF, .pkt_idx = 1440), D } },
	  .drop = SMT_DROP_IPID_OFF_V6 },
	/* IPID_OFF: real offset seg_off + id * G; id 1 is the middle packet. */
	{ "ipid_off_real_offset_middle",
	  { { M3(0, 1440, .flags = SMT_F_IPID_OFF, .pkt_idx = 1440, .ipid = 1), P } },
	  .msg_start = 1 },
	{ "ipid_off_whole_message",
	  { { M3(0, 1440, .flags = SMT_F_IPID_OFF, .pkt_idx = 1440, .ipid = 0), P },
	    { M3(0, 1440, .flags = SMT_F_IPID_OFF, .pkt_idx = 1440, .ipid = 1), P },
	    { M3(0, 120, .flags = SMT_F_IPID_OFF, .pkt_idx = 1440, .ipid = 2), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "drop_ipid_off_real_offset_past_msg_len",
	  { { M3(0, 1440, .flags = SMT_F_IPID_OFF, .pkt_idx = 1440, .ipid = 3), D } },
	  .drop = SMT_DROP_PAST_MSG_LEN },
	{ "drop_ip_fragment", { { ONE(.frag = 1), D } }, .drop = SMT_DROP_IP_FRAGMENT },
	{ "drop_grant_wrong_length",
	  { { { .type = SMT_TYPE_GRANT, .msg_id = 2, .ctl_len = 70 }, D } },
	  .drop = SMT_DROP_BAD_CTL_LEN },
	{ "drop_resend_wrong_length",
	  { { { .type = SMT_TYPE_RESEND, .msg_id = 2, .ctl_len = 72 }, D } },
	  .drop = SMT_DROP_BAD_CTL_LEN },
	{ "drop_busy_wrong_length",
	  { { { .type = SMT_TYPE_BUSY, .msg_id = 2, .ctl_len = 65 }, D } },
	  .drop = SMT_DROP_BAD_CTL_LEN },
	{ "drop_ack_count_0", { { { .type = SMT_TYPE_ACK, .ack_count = 0,
				    .ctl_len = 66 }, D } },
	  .drop = SMT_DROP_BAD_ACK_COUNT },
	{ "drop_ack_count_33",
	  { { { .type = SMT_TYPE_ACK, .ack_count = 33 }, D } },
	  .drop = SMT_DROP_BAD_ACK_COUNT },
	{ "drop_ack_length_not_count",
	  { { { .type = SMT_TYPE_ACK, .ack_count = 2, .ctl_len = 74 }, D } },
	  .drop = SMT_DROP_BAD_CTL_LEN },
	{ "steer_cpumap_redirect", { { FIRST, XDP_REDIRECT } },
	  .steer_cpumap = 1, .msg_start = 1 },
	/* No socket bound to the queue: the redirect falls back to the stack. */
	{ "steer_xsk_without_socket_passes", { { FIRST, P } },
	  .steer_xsk = 1, .msg_start = 1 },

	/* SMT over UDP (protocol.md 1.1): the same rules, own sessions. */
	{ "udp_first_middle_last",
	  { { FIRST_U, P }, { MIDDLE_U, P }, { LAST_U, P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "udp_last_middle_first_duplicate",
	  { { LAST_U, P }, { MIDDLE_U, P }, { MIDDLE_U, P }, { FIRST_U, P } },
	  .msg_start = 1, .msg_done = 1, .events = 1, .dups = 1 },
	{ "udp_ipv6_message", { { ONE(.udp = 1, .v6 = 1), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "udp_vlan_ipv6_message", { { ONE(.udp = 1, .vlan = 1, .v6 = 1), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "udp_ctl_grant", { { { .udp = 1, .type = SMT_TYPE_GRANT, .msg_id = 2 }, P } },
	  .ctl = 1 },
	{ "udp_ctl_resend", { { { .udp = 1, .type = SMT_TYPE_RESEND, .msg_id = 2 }, P } },
	  .ctl = 1 },
	{ "udp_ctl_unknown", { { { .udp = 1, .type = SMT_TYPE_UNKNOWN, .msg_id = 2 }, P } },
	  .ctl = 1 },
	{ "udp_ctl_busy", { { { .udp = 1, .type = SMT_TYPE_BUSY, .msg_id = 2 }, P } },
	  .ctl = 1 },
	{ "udp_ctl_need_ack", { { { .udp = 1, .type = SMT_TYPE_NEED_ACK, .msg_id = 3 }, P } },
	  .ctl = 1 },
	{ "udp_ctl_ack_3", { { { .udp = 1, .type = SMT_TYPE_ACK, .ack_count = 3 }, P } },
	  .ctl = 1 },
	{ "udp_ctl_ipv6_ack_32",
	  { { { .udp = 1, .v6 = 1, .type = SMT_TYPE_ACK, .ack_count = 32 }, P } },
	  .ctl = 1 },
	{ "udp_drop_sport_mismatch", { { ONE(.udp = 1, .udp_sport = 1001), D } },
	  .drop = SMT_DROP_UDP_PORT_MISMATCH },
	{ "udp_drop_dport_mismatch", { { ONE(.udp = 1, .udp_dport = 2001), D } },
	  .drop = SMT_DROP_UDP_PORT_MISMATCH },
	{ "udp_drop_port_mismatch_v6",
	  { { ONE(.udp = 1, .v6 = 1, .udp_sport = 40001), D } },
	  .drop = SMT_DROP_UDP_PORT_MISMATCH },
	/* The port check comes before every rule after the length. */
	{ "udp_port_mismatch_before_unknown_type",
	  { { { .udp = 1, .type = 0x15, .msg_id = 2, .udp_sport = 1001 }, D } },
	  .drop = SMT_DROP_UDP_PORT_MISMATCH },
	{ "udp_short_payload_not_smt", { { ONE(.udp = 1, .smt_len = 39), P } },
	  .non_smt = 1 },
	{ "udp_short_payload_v6_not_smt",
	  { { ONE(.udp = 1, .v6 = 1, .smt_len = 39), P } }, .non_smt = 1 },
	{ "udp_length_field_short_not_smt", { { ONE(.udp = 1, .udp_len = 47), P } },
	  .non_smt = 1 },
	{ "udp_payload_40_is_smt", { { ONE(.udp = 1, .smt_len = 40), D } },
	  .drop = SMT_DROP_EMPTY_PAYLOAD },
	{ "udp_other_doff_ver_not_smt", { { ONE(.udp = 1, .doff_ver = 0xA2), P } },
	  .non_smt = 1 },
	{ "udp_ports_out_of_range_not_smt",
	  { { ONE(.udp = 1, .sport = 3000, .dport = 3001), P } }, .non_smt = 1 },
	{ "udp_v6_ports_out_of_range_not_smt",
	  { { ONE(.udp = 1, .v6 = 1, .sport = 3000, .dport = 1999), P } },
	  .non_smt = 1 },
	{ "udp_ranges_end_at_empty_entry",
	  { { ONE(.udp = 1, .sport = 5000, .dport = 5000), P } }, .non_smt = 1 },
	{ "udp_fragment_not_smt", { { ONE(.udp = 1, .frag = 1), P } },
	  .non_smt = 1 },
	{ "udp_length_past_ip_payload_not_smt",
	  { { ONE(.udp = 1, .udp_len = 200), P } }, .non_smt = 1 },
	{ "udp_source_port_in_range", { { ONE(.udp = 1, .sport = 40050, .dport = 3000), D } },
	  .drop = SMT_DROP_UNKNOWN_SESSION },
	{ "udp_second_range_filter_off",
	  { { ONE(.udp = 1, .sport = 3000, .dport = 40100), P } },
	  .filter_off = 1, .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "udp_drop_unknown_session", { { ONE(.udp = 1, .sport = 999), D } },
	  .drop = SMT_DROP_UNKNOWN_SESSION },
	{ "udp_drop_unknown_session_v6",
	  { { ONE(.udp = 1, .v6 = 1, .saddr = "fd00::9"), D } },
	  .drop = SMT_DROP_UNKNOWN_SESSION },
	/* Peer port 1100 has a UDP session only, 1001 a native one only. */
	{ "native_packet_misses_udp_session", { { ONE(.sport = 1100), D } },
	  .drop = SMT_DROP_UNKNOWN_SESSION },
	{ "udp_packet_misses_native_session", { { ONE(.udp = 1, .sport = 1001), D } },
	  .drop = SMT_DROP_UNKNOWN_SESSION },
	{ "udp_session_only_udp_packet_passes", { { ONE(.udp = 1, .sport = 1100), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "udp_pass_unknown_session_filter_off", { { ONE(.udp = 1, .sport = 999), P } },
	  .filter_off = 1, .msg_start = 1, .msg_done = 1, .events = 1 },
	{ "udp_drop_epoch_without_keys", { { ONE(.udp = 1, .epoch = 5), D } },
	  .drop = SMT_DROP_NO_EPOCH_KEYS },
	{ "udp_drop_msg_id_1", { { ONE(.udp = 1, .msg_id = 1), D } },
	  .drop = SMT_DROP_BAD_MSG_ID },
	{ "udp_drop_past_msg_len", { { M3(2880, 121, .udp = 1), D } },
	  .drop = SMT_DROP_PAST_MSG_LEN },
	{ "udp_drop_bad_record_header", { { M3(0, 1432, .udp = 1, .bad_rec_hdr = 1), D } },
	  .drop = SMT_DROP_BAD_RECORD_HDR },
	{ "udp_drop_grant_wrong_length",
	  { { { .udp = 1, .type = SMT_TYPE_GRANT, .msg_id = 2, .ctl_len = 70 }, D } },
	  .drop = SMT_DROP_BAD_CTL_LEN },
	{ "udp_drop_ack_count_33",
	  { { { .udp = 1, .type = SMT_TYPE_ACK, .ack_count = 33 }, D } },
	  .drop = SMT_DROP_BAD_ACK_COUNT },
	{ "udp_drop_ipid_off_on_ipv6",
	  { { M3(0, 1412, .udp = 1, .v6 = 1, .flags = SMT_F_IPID_OFF, .pkt_idx = 1412), D } },
	  .drop = SMT_DROP_IPID_OFF_V6 },
	{ "udp_steer_cpumap_redirect", { { FIRST_U, XDP_REDIRECT } },
	  .steer_cpumap = 1, .msg_start = 1 },
};
/* clang-format on */

ParameterizedTestParameters(smt_xdp, fixture)
{
	return cr_make_param_array(struct fix, xdp_fixtures,
				   sizeof(xdp_fixtures) /
					   sizeof(xdp_fixtures[0]));
}

static void xdp_setup(struct smt_xdp *skel, const struct fix *f)
{
	int sfd = bpf_map__fd(skel->maps.sessions);

	sess_add(sfd, "10.0.0.1", 0, 1000, 0, 1, 0);
	sess_add(sfd, "fd00::1", 1, 1000, 0, 0, 0);
	sess_add(sfd, "10.0.0.1", 0, 1001, 56, 0, 0);
	sess_add(sfd, "10.0.0.1", 0, 1000, 0, 1, 1);
	sess_add(sfd, "fd00::1", 1, 1000, 0, 0, 1);
	sess_add(sfd, "10.0.0.1", 0, 1100, 0, 0, 1);
	sess_add_epochs(sfd, 1200,
			(const uint64_t[4]){1, 1 | 1ULL << 63, 0, 1ULL << 63});
	set_udp_ranges(bpf_map__fd(skel->maps.udp_ports));
	if (f->filter_off || f->steer_cpumap || f->steer_xsk) {
		struct smt_xdp_config c = {.flags = SMT_XDP_CFG_VALID};
		uint32_t zero = 0, i;

		if (!f->filter_off)
			c.flags |= SMT_XDP_CFG_FILTER;
		if (f->steer_xsk)
			c.steer = SMT_STEER_XSK;
		if (f->steer_cpumap) {
			c.steer = SMT_STEER_CPUMAP;
			c.n_cpus = 1;
			for (i = 0; i < c.n_cpus; i++) {
				struct bpf_cpumap_val v = {.qsize = 64};

				cr_assert_eq(
					bpf_map_update_elem(
						bpf_map__fd(skel->maps.cpu_map),
						&i, &v, BPF_ANY),
					0, "cpumap entry: %s", strerror(errno));
			}
		}
		cr_assert_eq(
			bpf_map_update_elem(bpf_map__fd(skel->maps.xdp_config),
					    &zero, &c, BPF_ANY),
			0);
	}
}

ParameterizedTest(struct fix *f, smt_xdp, fixture, .init = init)
{
	struct smt_xdp *skel = smt_xdp__open_and_load();
	uint8_t pkt[FRAME], out[FRAME];
	struct smt_msg_event ev;
	struct smt_sess_stats ss;
	int dfd, xfd, i, ndrop = f->ndrop ? f->ndrop : (f->drop ? 1 : 0);
	uint64_t before[SMT_DROP_MAX];

	if (getenv("TB_TRACE"))
		fprintf(stderr, "row %s\n", f->name);
	cr_assert_not_null(skel, "%s: load smt_xdp: %s", f->name,
			   strerror(errno));
	xdp_setup(skel, f);
	dfd = bpf_map__fd(skel->maps.drops);
	xfd = bpf_map__fd(skel->maps.xdp_stats);
	for (i = 0; i < SMT_DROP_MAX; i++)
		before[i] = sum_percpu_u64(dfd, i);

	for (i = 0; i < MAX_STEPS && step_used(&f->steps[i]); i++) {
		int len = pkt_build(&f->steps[i].s, pkt, sizeof(pkt));
		uint32_t olen;
		int v;

		cr_assert_gt(len, 0);
		v = run_prog(bpf_program__fd(skel->progs.smt_xdp), pkt, len,
			     out, &olen, NULL);
		cr_expect_eq(v, f->steps[i].verdict,
			     "%s: packet %d: verdict %d, want %d", f->name, i,
			     v, f->steps[i].verdict);
		if (v == XDP_PASS)
			cr_expect(olen == (uint32_t)len &&
					  !memcmp(out, pkt, len),
				  "%s: packet %d changed", f->name, i);
	}
	for (i = 1; i < SMT_DROP_MAX; i++) {
		uint64_t d = sum_percpu_u64(dfd, i) - before[i];
		uint64_t want = i == f->drop ? ndrop : 0;

		cr_expect_eq(d, want, "%s: drops[%s] +%lu, want +%lu", f->name,
			     smt_drop_name(i), (unsigned long)d,
			     (unsigned long)want);
	}
	cr_expect_eq(sum_percpu_u64(xfd, SMT_XS_MSG_START), f->msg_start,
		     "%s: msg_start", f->name);
	cr_expect_eq(sum_percpu_u64(xfd, SMT_XS_MSG_DONE), f->msg_done,
		     "%s: msg_done", f->name);
	cr_expect_eq(sum_percpu_u64(xfd, SMT_XS_RX_CTL), f->ctl, "%s: ctl",
		     f->name);
	cr_expect_eq(sum_percpu_u64(xfd, SMT_XS_NON_SMT), f->non_smt,
		     "%s: non_smt", f->name);
	cr_expect_eq(sum_percpu_u64(xfd, SMT_XS_REDIR_XSK), f->steer_xsk,
		     "%s: redirect_xsk", f->name);
	cr_expect_eq(sum_percpu_u64(xfd, SMT_XS_REDIR_CPU), f->steer_cpumap,
		     "%s: redirect_cpu", f->name);
	cr_expect_eq(drain_events(bpf_map__fd(skel->maps.events), &ev),
		     f->events, "%s: events", f->name);
	if (f->events) {
		cr_expect_eq(ev.kind, SMT_EV_COMPLETE);
		cr_expect_eq(ev.bytes, ev.msg_len, "%s: event bytes", f->name);
	}
	ss = sess_get(bpf_map__fd(skel->maps.sess_stats), 1000,
		      f->steps[0].s.v6, f->steps[0].s.udp);
	cr_expect_eq(ss.dup_packets, f->dups, "%s: dups", f->name);
	if (f->msg_done && f->steps[0].s.sport == 0)
		cr_expect_eq(ss.msgs_completed, f->msg_done,
			     "%s: session msgs_completed", f->name);
	smt_xdp__destroy(skel);
}

/*
 * Steering: with two cpumap targets, every packet of one message gets the
 * same target and the messages of one session use both.
 */
Test(smt_xdp, steer__message_stays_messages_spread, .init = init)
{
	struct smt_xdp *skel = smt_xdp__open_and_load();
	struct smt_xdp_config c = {.flags = SMT_XDP_CFG_VALID |
					    SMT_XDP_CFG_FILTER,
				   .steer = SMT_STEER_CPUMAP,
				   .n_cpus = 2};
	uint8_t pkt[FRAME], out[FRAME];
	uint32_t zero = 0, olen, i, used[2] = {0, 0};
	uint64_t id;

	cr_assert_not_null(skel);
	xdp_setup(skel, &(struct fix){0});
	bpf_map_update_elem(bpf_map__fd(skel->maps.xdp_config), &zero, &c,
			    BPF_ANY);
	for (id = 2; id < 66; id += 2) {
		struct smt_msg_key k = {0};
		struct smt_msg_state m;
		struct pkt_spec s[3] = {FIRST, MIDDLE, LAST};

		for (i = 0; i < 3; i++) {
			int len;

			s[i].msg_id = id;
			len = pkt_build(&s[i], pkt, sizeof(pkt));
			run_prog(bpf_program__fd(skel->progs.smt_xdp), pkt, len,
				 out, &olen, NULL);
		}
		inet_pton(AF_INET, "10.0.0.1", k.sess.addr);
		k.sess.family = SMT_FAM_IPV4;
		k.sess.peer_port = htons(1000);
		k.sess.local_port = htons(2000);
		k.msg_id = id;
		cr_assert_eq(bpf_map_lookup_elem(
				     bpf_map__fd(skel->maps.messages), &k, &m),
			     0);
		cr_expect_eq(m.packets, 3);
		cr_assert_lt(m.cpu, 2);
		used[m.cpu]++;
	}
	cr_expect(used[0] > 4 && used[1] > 4, "spread %u/%u", used[0], used[1]);
	smt_xdp__destroy(skel);
}

/* Runs packet s through skel's smt_xdp; its verdict. */
static int xdp_run_one(struct smt_xdp *skel, const struct pkt_spec *s)
{
	uint8_t pkt[FRAME], out[FRAME];
	uint32_t olen;
	int len = pkt_build(s, pkt, sizeof(pkt));

	cr_assert_gt(len, 0);
	return run_prog(bpf_program__fd(skel->progs.smt_xdp), pkt, len, out,
			&olen, NULL);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * The set-up window of the session filter (docs/bpf.md, `pending`): DATA
 * of no session passes only from an address that sent TCP to the
 * handshake port within SMT_PENDING_NS, only DATA, only with hs_port set.
 */
Test(smt_xdp, pending__handshake_opens_the_filter_for_data, .init = init)
{
	struct smt_xdp *skel = smt_xdp__open_and_load();
	struct smt_xdp_config c = {.flags = SMT_XDP_CFG_VALID |
					    SMT_XDP_CFG_FILTER,
				   .hs_port = 7443};
	/* port 999: no session of 10.0.0.1 (or fd00::1) has it */
	struct pkt_spec data = ONE(.sport = 999),
			data6 = ONE(.sport = 999, .v6 = 1),
			resend = {.type = SMT_TYPE_RESEND,
				  .msg_id = 4,
				  .sport = 999},
			syn = {.tcp_dport = 7443},
			syn6 = {.tcp_dport = 7443, .v6 = 1},
			syn_other = {.tcp_dport = 7443, .saddr = "10.0.0.9"},
			web = {.tcp_dport = 80};
	struct smt_pending_key k = {.family = SMT_FAM_IPV4};
	int xfd, dfd, pfd;
	uint32_t zero = 0;
	uint64_t old;

	cr_assert_not_null(skel);
	xdp_setup(skel, &(struct fix){0});
	xfd = bpf_map__fd(skel->maps.xdp_stats);
	dfd = bpf_map__fd(skel->maps.drops);
	pfd = bpf_map__fd(skel->maps.pending);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.xdp_config),
					 &zero, &c, BPF_ANY),
		     0);
	cr_expect_eq(xdp_run_one(skel, &data), XDP_DROP, "no set-up yet");
	cr_expect_eq(xdp_run_one(skel, &syn_other), XDP_PASS);
	cr_expect_eq(xdp_run_one(skel, &web), XDP_PASS);
	cr_expect_eq(xdp_run_one(skel, &data), XDP_DROP,
		     "a set-up from another address, TCP to another port");
	cr_expect_eq(xdp_run_one(skel, &syn), XDP_PASS);
	cr_expect_eq(xdp_run_one(skel, &data), XDP_PASS, "set-up under way");
	cr_expect_eq(xdp_run_one(skel, &resend), XDP_DROP,
		     "control packets of no session stay dropped");
	cr_expect_eq(xdp_run_one(skel, &data6), XDP_DROP, "IPv6: not yet");
	cr_expect_eq(xdp_run_one(skel, &syn6), XDP_PASS);
	cr_expect_eq(xdp_run_one(skel, &data6), XDP_PASS, "IPv6 set-up");
	cr_expect_eq(sum_percpu_u64(xfd, SMT_XS_PENDING_PASS), 2);
	cr_expect_eq(sum_percpu_u64(dfd, SMT_DROP_UNKNOWN_SESSION), 4);
	/* the window closes SMT_PENDING_NS after the last handshake packet */
	inet_pton(AF_INET, "10.0.0.1", k.addr);
	old = mono_ns() - SMT_PENDING_NS - 1000000;
	cr_assert_eq(bpf_map_update_elem(pfd, &k, &old, BPF_EXIST), 0);
	cr_expect_eq(xdp_run_one(skel, &data), XDP_DROP, "window over");
	/* without hs_port (smtd's [bpf] before, or smt-bpf.sh) no window */
	cr_expect_eq(xdp_run_one(skel, &syn), XDP_PASS);
	c.hs_port = 0;
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.xdp_config),
					 &zero, &c, BPF_ANY),
		     0);
	cr_expect_eq(xdp_run_one(skel, &data), XDP_DROP, "no hs_port");
	cr_expect_eq(sum_percpu_u64(xfd, SMT_XS_PENDING_PASS), 2);
	smt_xdp__destroy(skel);
}

/* ---- smt_tc ---------------------------------------------------------- */

static int tc_dscp_of(const uint8_t *frame, int v6)
{
	if (v6)
		return (((frame[14] & 0x0f) << 4) | (frame[15] >> 4)) >> 2;
	return frame[15] >> 2;
}

/* clang-format off */
static struct fix tc_fixtures[] = {
	{ "small_ipv4_ef", { { ONE(.daddr = "10.0.0.1", .sport = 2000, .dport = 1000), TC_ACT_OK } },
	  .tc_dscp = 46, .tc_prio = 6, .msg_start = 1, .msg_done = 1 },
	{ "medium_ipv4_af21", { { { .msg_id = 2, .msg_len = 100000, .payload = 1440 }, TC_ACT_OK } },
	  .tc_dscp = 18, .tc_prio = 2, .msg_start = 1 },
	{ "af41_16k", { { { .msg_id = 2, .msg_len = 16384, .payload = 1440 }, TC_ACT_OK } },
	  .tc_dscp = 34, .tc_prio = 4, .msg_start = 1 },
	{ "large_ipv6_best_effort",
	  { { { .v6 = 1, .msg_id = 2, .msg_len = 1000000, .payload = 1420 }, TC_ACT_OK } },
	  .tc_dscp = 0, .tc_prio = 0, .msg_start = 1 },
	{ "small_ipv6_ef", { { ONE(.v6 = 1), TC_ACT_OK } },
	  .tc_dscp = 46, .tc_prio = 6, .msg_start = 1, .msg_done = 1 },
	{ "vlan_small_ef", { { ONE(.vlan = 1), TC_ACT_OK } },
	  .tc_dscp = 46, .tc_prio = 6, .msg_start = 1, .msg_done = 1 },
	{ "grant_smallest_class", { { { .type = SMT_TYPE_GRANT, .msg_id = 2 }, TC_ACT_OK } },
	  .tc_dscp = 46, .tc_prio = 6, .ctl = 1 },
	{ "configured_classes", { { ONE(.msg_len = 1000, .payload = 1000), TC_ACT_OK } },
	  .tc_classes = 1, .tc_dscp = 10, .tc_prio = 1, .msg_start = 1, .msg_done = 1 },
	{ "message_in_three_packets",
	  { { FIRST, TC_ACT_OK }, { MIDDLE, TC_ACT_OK }, { LAST, TC_ACT_OK } },
	  .tc_dscp = 34, .tc_prio = 4, .msg_start = 1, .msg_done = 1 },
	{ "non_smt_untouched", { { { .not_smt = 1 }, TC_ACT_OK } }, .tc_dscp = -1 },
	/* SMT over UDP: egress local port 2000 is in udp_ranges. */
	{ "udp_small_ipv4_ef",
	  { { ONE(.udp = 1, .daddr = "10.0.0.1", .sport = 2000, .dport = 1000), TC_ACT_OK } },
	  .tc_dscp = 46, .tc_prio = 6, .msg_start = 1, .msg_done = 1 },
	{ "udp_large_ipv6_best_effort",
	  { { { .udp = 1, .v6 = 1, .msg_id = 2, .msg_len = 1000000, .payload = 1412 },
	      TC_ACT_OK } },
	  .tc_dscp = 0, .tc_prio = 0, .msg_start = 1 },
	{ "udp_vlan_small_ef", { { ONE(.udp = 1, .vlan = 1), TC_ACT_OK } },
	  .tc_dscp = 46, .tc_prio = 6, .msg_start = 1, .msg_done = 1 },
	{ "udp_grant_smallest_class",
	  { { { .udp = 1, .type = SMT_TYPE_GRANT, .msg_id = 2 }, TC_ACT_OK } },
	  .tc_dscp = 46, .tc_prio = 6, .ctl = 1 },
	{ "udp_message_in_three_packets",
	  { { FIRST_U, TC_ACT_OK }, { MIDDLE_U, TC_ACT_OK }, { LAST_U, TC_ACT_OK } },
	  .tc_dscp = 34, .tc_prio = 4, .msg_start = 1, .msg_done = 1 },
	{ "udp_out_of_range_untouched",
	  { { ONE(.udp = 1, .sport = 3000, .dport = 3001), TC_ACT_OK } }, .tc_dscp = -1 },
	{ "udp_short_untouched", { { ONE(.udp = 1, .smt_len = 39), TC_ACT_OK } },
	  .tc_dscp = -1 },
	{ "udp_port_mismatch_untouched",
	  { { ONE(.udp = 1, .udp_sport = 1001), TC_ACT_OK } }, .tc_dscp = -1 },
};
/* clang-format on */

ParameterizedTestParameters(smt_tc, fixture)
{
	return cr_make_param_array(struct fix, tc_fixtures,
				   sizeof(tc_fixtures) /
					   sizeof(tc_fixtures[0]));
}

ParameterizedTest(struct fix *f, smt_tc, fixture, .init = init)
{
	struct smt_tc *skel = smt_tc__open_and_load();
	uint8_t pkt[FRAME], out[FRAME];
	int i, v6 = f->steps[0].s.v6, l3 = f->steps[0].s.vlan ? 18 : 14;
	struct smt_sess_stats ss;

	cr_assert_not_null(skel, "load smt_tc: %s", strerror(errno));
	set_udp_ranges(bpf_map__fd(skel->maps.udp_ports));
	if (f->tc_classes) {
		struct smt_tc_config c = {
			.flags = SMT_TC_CFG_VALID | SMT_TC_CFG_DSCP,
			.n_classes = 2,
			.bound = {100},
			.prio = {7, 1},
			.dscp = {46, 10},
		};
		uint32_t zero = 0;

		cr_assert_eq(
			bpf_map_update_elem(bpf_map__fd(skel->maps.tc_config),
					    &zero, &c, BPF_ANY),
			0);
	}
	for (i = 0; i < MAX_STEPS && step_used(&f->steps[i]); i++) {
		struct __sk_buff skb = {0};
		struct pkt_spec s = f->steps[i].s;
		int len, v;
		uint32_t olen;

		s.tos = 1; /* ECN ECT(1): must survive the rewrite */
		len = pkt_build(&s, pkt, sizeof(pkt));
		v = run_prog(bpf_program__fd(skel->progs.smt_tc), pkt, len, out,
			     &olen, &skb);
		cr_expect_eq(v, f->steps[i].verdict, "%s: verdict %d", f->name,
			     v);
		cr_assert_eq(olen, (uint32_t)len);
		if (f->tc_dscp < 0) {
			cr_expect(!memcmp(out, pkt, len), "%s: changed",
				  f->name);
			continue;
		}
		cr_expect_eq(tc_dscp_of(out + l3 - 14, v6), f->tc_dscp,
			     "%s: dscp %d want %d", f->name,
			     tc_dscp_of(out + l3 - 14, v6), f->tc_dscp);
		cr_expect_eq(v6 ? out[l3 + 1] >> 4 & 3 : out[l3 + 1] & 3, 1,
			     "%s: ECN bits lost", f->name);
		cr_expect_eq(skb.priority, (uint32_t)f->tc_prio,
			     "%s: priority %u", f->name, skb.priority);
		if (!v6) {
			uint32_t sum = 0;
			int k;

			for (k = 0; k < 20; k += 2)
				sum += (out[l3 + k] << 8) | out[l3 + k + 1];
			while (sum >> 16)
				sum = (sum & 0xffff) + (sum >> 16);
			cr_expect_eq(sum, 0xffff, "%s: IPv4 checksum wrong",
				     f->name);
		}
	}
	if (f->tc_dscp >= 0) {
		uint16_t peer = f->steps[0].s.dport ? f->steps[0].s.dport
						    : 2000;
		struct smt_session_key k = {0};
		struct smt_sess_stats v[256];
		int c;

		inet_pton(v6 ? AF_INET6 : AF_INET,
			  f->steps[0].s.daddr[0] ? f->steps[0].s.daddr
			  : v6			 ? "fd00::2"
						 : "10.0.0.2",
			  k.addr);
		k.family = v6 ? SMT_FAM_IPV6 : SMT_FAM_IPV4;
		k.encap = f->steps[0].s.udp ? SMT_KEY_ENCAP_UDP
					    : SMT_KEY_ENCAP_IP;
		k.peer_port = htons(peer);
		k.local_port =
			htons(f->steps[0].s.sport ? f->steps[0].s.sport : 1000);
		memset(&ss, 0, sizeof(ss));
		cr_assert_eq(
			bpf_map_lookup_elem(
				bpf_map__fd(skel->maps.tx_sess_stats), &k, v),
			0, "%s: no tx session entry", f->name);
		for (c = 0; c < ncpus; c++) {
			ss.packets += v[c].packets;
			ss.msgs_started += v[c].msgs_started;
			ss.msgs_completed += v[c].msgs_completed;
			ss.ctl_packets += v[c].ctl_packets;
		}
		cr_expect_eq(ss.packets, (uint64_t)i, "%s: tx packets",
			     f->name);
		cr_expect_eq(ss.msgs_started, (uint64_t)f->msg_start,
			     "%s: tx msgs_started", f->name);
		cr_expect_eq(ss.msgs_completed, (uint64_t)f->msg_done,
			     "%s: tx msgs_completed", f->name);
		cr_expect_eq(ss.ctl_packets, (uint64_t)f->ctl, "%s: tx ctl",
			     f->name);
	}
	smt_tc__destroy(skel);
}

/* ---- mtp_inspect ----------------------------------------------------- */

/* A two-record message: record 0 of 4096 content bytes, then 173 bytes. */
#define R2(off, len, seg, k)                                       \
	{                                                          \
		.msg_id = 6, .msg_len = 4318, .pkt_off = (off),    \
		.seg_off = (seg), .payload = (len), .rec_idx = (k) \
	}
#define MSG_B(off, len) M3(off, len, .msg_id = 8)
/* R2 over UDP, packets of 1432 bytes. */
#define R2U(off, len, seg, k)                                                \
	{                                                                    \
		.msg_id = 6, .msg_len = 4318, .pkt_off = (off),              \
		.seg_off = (seg), .payload = (len), .rec_idx = (k), .udp = 1 \
	}

/* clang-format off */
static struct fix mb_fixtures[] = {
	{ "three_packet_message_reported",
	  { { FIRST, P }, { MIDDLE, P }, { LAST, P } },
	  .msg_start = 1, .msg_done = 1, .events = 1, .ev_records = 1,
	  .ev_packets = 3 },
	{ "two_records_counted",
	  { { R2(0, 1440, 0, 0), P }, { R2(1440, 1440, 0, 0), P },
	    { R2(2880, 1238, 0, 0), P }, { R2(4118, 200, 4118, 1), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1, .ev_records = 2,
	  .ev_packets = 4 },
	{ "oversize_dropped_whole",
	  { { MIDDLE, D }, { FIRST, D }, { LAST, D } }, .mb_max = 2000,
	  .drop = SMT_DROP_MB_OVERSIZE, .ndrop = 3, .msg_start = 1,
	  .msg_done = 1, .events = 1, .ev_verdict = SMT_MB_DROP_SIZE,
	  .ev_records = 1, .ev_packets = 3, .ev_drops = 3 },
	{ "msg_id_reused_decided_again",
	  { { ONE(.msg_id = 2), P }, { FIRST, D }, { MIDDLE, D } },
	  .mb_max = 2000, .drop = SMT_DROP_MB_OVERSIZE, .ndrop = 2,
	  .msg_start = 2, .msg_done = 1, .events = 1, .ev_records = 1,
	  .ev_packets = 1 },
	{ "duplicate_out_of_order_not_reported",
	  { { MIDDLE, P }, { MIDDLE, P }, { LAST, P } }, .msg_start = 1 },
	{ "duplicate_out_of_order_then_first_reported",
	  { { MIDDLE, P }, { MIDDLE, P }, { LAST, P }, { FIRST, P } },
	  .msg_start = 1, .msg_done = 1, .events = 1, .ev_records = 1,
	  .ev_packets = 4 },
	{ "at_size_limit_forwarded", { { FIRST, P }, { MIDDLE, P } },
	  .mb_max = 3000, .msg_start = 1 },
	{ "rate_limit_whole_messages",
	  { { FIRST, P }, { MSG_B(0, 1440), D }, { MIDDLE, P },
	    { MSG_B(1440, 1440), D }, { LAST, P }, { MSG_B(2880, 120), D } },
	  .mb_rate = 1, .drop = SMT_DROP_MB_RATE, .ndrop = 3, .msg_start = 2,
	  .msg_done = 2, .events = 2 },
	{ "malformed_dropped", { { ONE(.doff_ver = 0x51), D } },
	  .drop = SMT_DROP_BAD_VERSION },
	{ "control_passed", { { { .type = SMT_TYPE_GRANT, .msg_id = 2 }, P } } },
	{ "non_smt_passed", { { { .not_smt = 1 }, P } }, .non_smt = 1 },
	{ "ipv6_vlan_message", { { ONE(.v6 = 1, .vlan = 1), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1, .ev_records = 1,
	  .ev_packets = 1 },
	{ "path_one_next_hop_per_message",
	  { { FIRST, P }, { MIDDLE, P }, { LAST, P } }, .mb_nh = 2,
	  .msg_start = 1, .msg_done = 1, .events = 1, .ev_records = 1,
	  .ev_packets = 3 },
	/* SMT over UDP: message boundaries, actions and drops as natively. */
	{ "udp_three_packet_message_reported",
	  { { FIRST_U, P }, { MIDDLE_U, P }, { LAST_U, P } },
	  .msg_start = 1, .msg_done = 1, .events = 1, .ev_records = 1,
	  .ev_packets = 3 },
	{ "udp_two_records_counted",
	  { { R2U(0, 1432, 0, 0), P }, { R2U(1432, 1432, 0, 0), P },
	    { R2U(2864, 1254, 0, 0), P }, { R2U(4118, 200, 4118, 1), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1, .ev_records = 2,
	  .ev_packets = 4 },
	{ "udp_ipv6_vlan_message", { { ONE(.udp = 1, .v6 = 1, .vlan = 1), P } },
	  .msg_start = 1, .msg_done = 1, .events = 1, .ev_records = 1,
	  .ev_packets = 1 },
	{ "udp_oversize_dropped_whole",
	  { { MIDDLE_U, D }, { FIRST_U, D }, { LAST_U, D } }, .mb_max = 2000,
	  .drop = SMT_DROP_MB_OVERSIZE, .ndrop = 3, .msg_start = 1,
	  .msg_done = 1, .events = 1, .ev_verdict = SMT_MB_DROP_SIZE,
	  .ev_records = 1, .ev_packets = 3, .ev_drops = 3 },
	{ "udp_rate_limit_whole_messages",
	  { { FIRST_U, P }, { M3(0, 1432, .udp = 1, .msg_id = 8), D },
	    { MIDDLE_U, P }, { LAST_U, P } },
	  .mb_rate = 1, .drop = SMT_DROP_MB_RATE, .ndrop = 1, .msg_start = 2,
	  .msg_done = 1, .events = 1, .ev_records = 1, .ev_packets = 3 },
	{ "udp_path_one_next_hop_per_message",
	  { { FIRST_U, P }, { MIDDLE_U, P }, { LAST_U, P } }, .mb_nh = 2,
	  .msg_start = 1, .msg_done = 1, .events = 1, .ev_records = 1,
	  .ev_packets = 3 },
	{ "udp_port_mismatch_dropped", { { ONE(.udp = 1, .udp_sport = 1001), D } },
	  .drop = SMT_DROP_UDP_PORT_MISMATCH },
	{ "udp_malformed_dropped", { { ONE(.udp = 1, .v6 = 1, .msg_len = 50), D } },
	  .drop = SMT_DROP_PAST_MSG_LEN },
	{ "udp_control_passed",
	  { { { .udp = 1, .type = SMT_TYPE_GRANT, .msg_id = 2 }, P } } },
	{ "udp_short_not_smt", { { ONE(.udp = 1, .smt_len = 39), P } },
	  .non_smt = 1 },
	{ "udp_other_doff_ver_not_smt", { { ONE(.udp = 1, .doff_ver = 0x51), P } },
	  .non_smt = 1 },
	{ "udp_out_of_range_not_smt",
	  { { ONE(.udp = 1, .v6 = 1, .sport = 3000, .dport = 3001), P } },
	  .non_smt = 1 },
	{ "udp_fragment_not_smt", { { ONE(.udp = 1, .frag = 1), P } },
	  .non_smt = 1 },
};
/* clang-format on */

ParameterizedTestParameters(mtp_inspect, fixture)
{
	return cr_make_param_array(struct fix, mb_fixtures,
				   sizeof(mb_fixtures) /
					   sizeof(mb_fixtures[0]));
}

static void mb_config(struct mtp_inspect *skel, uint32_t max, uint32_t rate,
		      int n_nh)
{
	struct smt_mtp_config c = {.flags = SMT_MTP_CFG_VALID,
				   .max_msg_len = max,
				   .rate = rate,
				   .burst = 1,
				   .n_nh = n_nh};
	uint32_t zero = 0;
	int i;

	for (i = 0; i < n_nh; i++) {
		c.nh[i].ifindex = 1;
		memcpy(c.nh[i].dmac, "\x02\xaa\x00\x00\x00", 5);
		c.nh[i].dmac[5] = i + 1;
		memcpy(c.nh[i].smac, "\x02\xbb\x00\x00\x00", 5);
		c.nh[i].smac[5] = i + 1;
	}
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.mtp_config),
					 &zero, &c, BPF_ANY),
		     0);
}

ParameterizedTest(struct fix *f, mtp_inspect, fixture, .init = init)
{
	struct mtp_inspect *skel = mtp_inspect__open_and_load();
	uint8_t pkt[FRAME], out[FRAME];
	int i, dfd, sfd, ndrop = f->ndrop ? f->ndrop : (f->drop ? 1 : 0);
	int dmac_last = -1;
	struct smt_msg_event ev;

	cr_assert_not_null(skel, "load mtp_inspect: %s", strerror(errno));
	set_udp_ranges(bpf_map__fd(skel->maps.mtp_udp_ports));
	if (f->mb_max || f->mb_rate || f->mb_nh)
		mb_config(skel, f->mb_max, f->mb_rate, f->mb_nh);
	dfd = bpf_map__fd(skel->maps.mtp_drops);
	sfd = bpf_map__fd(skel->maps.mtp_stats);
	for (i = 0; i < MAX_STEPS && step_used(&f->steps[i]); i++) {
		int len = pkt_build(&f->steps[i].s, pkt, sizeof(pkt)), v;
		uint32_t olen;

		v = run_prog(bpf_program__fd(skel->progs.mtp_inspect), pkt, len,
			     out, &olen, NULL);
		cr_expect_eq(v, f->steps[i].verdict, "%s: packet %d verdict %d",
			     f->name, i, v);
		if (f->mb_nh) {
			/* Empty devmap: fallback XDP_PASS, MACs rewritten. */
			cr_expect(out[0] == 0x02 && out[1] == 0xaa,
				  "%s: next-hop MAC not set", f->name);
			if (dmac_last >= 0)
				cr_expect_eq(out[5], dmac_last,
					     "%s: packet %d changed path",
					     f->name, i);
			dmac_last = out[5];
		}
	}
	for (i = 1; i < SMT_DROP_MAX; i++) {
		uint64_t d = sum_percpu_u64(dfd, i);
		uint64_t want = i == f->drop ? ndrop : 0;

		cr_expect_eq(d, want, "%s: mtp_drops[%s] = %lu, want %lu",
			     f->name, smt_drop_name(i), (unsigned long)d,
			     (unsigned long)want);
	}
	cr_expect_eq(sum_percpu_u64(sfd, SMT_XS_MSG_START), f->msg_start,
		     "%s: msg_start", f->name);
	cr_expect_eq(sum_percpu_u64(sfd, SMT_XS_MSG_DONE), f->msg_done,
		     "%s: msg_done", f->name);
	cr_expect_eq(sum_percpu_u64(sfd, SMT_XS_NON_SMT), f->non_smt,
		     "%s: non_smt", f->name);
	cr_expect_eq(drain_events(bpf_map__fd(skel->maps.mtp_events), &ev),
		     f->events, "%s: events", f->name);
	if (f->events == 1) {
		cr_expect_eq(ev.kind, SMT_EV_MB_DONE);
		cr_expect_eq(ev.verdict, f->ev_verdict, "%s: verdict", f->name);
		cr_expect_eq(ev.records, (uint32_t)f->ev_records,
			     "%s: records %u", f->name, ev.records);
		cr_expect_eq(ev.packets, (uint32_t)f->ev_packets,
			     "%s: packets %u", f->name, ev.packets);
		cr_expect_eq(ev.drops, (uint32_t)f->ev_drops, "%s: drops %u",
			     f->name, ev.drops);
		cr_expect_eq(ev.bytes, ev.msg_len, "%s: bytes", f->name);
		cr_expect_geq(ev.last_ns, ev.first_ns);
	}
	mtp_inspect__destroy(skel);
}

/* Path choice: over many messages both next hops are used, and the
 * per-next-hop message counters add up to the messages sent. */
Test(mtp_inspect, counters__data_control_pass, .init = init)
{
	struct mtp_inspect *skel = mtp_inspect__open_and_load();
	struct pkt_spec data = ONE(),
			ctl = {.type = SMT_TYPE_GRANT, .msg_id = 2},
			other = {.not_smt = 1};
	uint8_t pkt[FRAME], out[FRAME];
	uint32_t olen;
	int sfd, fd;

	cr_assert_not_null(skel, "load mtp_inspect: %s", strerror(errno));
	fd = bpf_program__fd(skel->progs.mtp_inspect);
	sfd = bpf_map__fd(skel->maps.mtp_stats);
	run_prog(fd, pkt, pkt_build(&data, pkt, sizeof(pkt)), out, &olen, NULL);
	run_prog(fd, pkt, pkt_build(&ctl, pkt, sizeof(pkt)), out, &olen, NULL);
	run_prog(fd, pkt, pkt_build(&ctl, pkt, sizeof(pkt)), out, &olen, NULL);
	run_prog(fd, pkt, pkt_build(&other, pkt, sizeof(pkt)), out, &olen,
		 NULL);
	cr_expect_eq(sum_percpu_u64(sfd, SMT_XS_RX_SMT), 3);
	cr_expect_eq(sum_percpu_u64(sfd, SMT_XS_RX_DATA), 1);
	cr_expect_eq(sum_percpu_u64(sfd, SMT_XS_RX_CTL), 2);
	cr_expect_eq(sum_percpu_u64(sfd, SMT_XS_PASS), 3);
	cr_expect_eq(sum_percpu_u64(sfd, SMT_XS_NON_SMT), 1);
	mtp_inspect__destroy(skel);
}

Test(mtp_inspect, path__messages_spread_over_next_hops, .init = init)
{
	struct mtp_inspect *skel = mtp_inspect__open_and_load();
	uint8_t pkt[FRAME], out[FRAME];
	struct smt_mtp_nh_stats v[256];
	uint64_t msgs[2] = {0, 0}, pkts = 0;
	uint32_t olen, k;
	uint64_t id;
	int c;

	cr_assert_not_null(skel);
	mb_config(skel, 0, 0, 2);
	for (id = 2; id < 66; id += 2) {
		struct pkt_spec s[3] = {FIRST, MIDDLE, LAST};
		int i, len, first = -1;

		for (i = 0; i < 3; i++) {
			s[i].msg_id = id;
			len = pkt_build(&s[i], pkt, sizeof(pkt));
			run_prog(bpf_program__fd(skel->progs.mtp_inspect), pkt,
				 len, out, &olen, NULL);
			if (first < 0)
				first = out[5];
			cr_expect_eq(out[5], first, "msg %lu split",
				     (unsigned long)id);
		}
	}
	for (k = 0; k < 2; k++) {
		cr_assert_eq(
			bpf_map_lookup_elem(
				bpf_map__fd(skel->maps.mtp_nh_stats), &k, v),
			0);
		for (c = 0; c < ncpus; c++) {
			msgs[k] += v[c].msgs;
			pkts += v[c].packets;
		}
	}
	cr_expect_eq(msgs[0] + msgs[1], 32);
	cr_expect_eq(pkts, 96);
	cr_expect(msgs[0] > 4 && msgs[1] > 4, "spread %lu/%lu",
		  (unsigned long)msgs[0], (unsigned long)msgs[1]);
	mtp_inspect__destroy(skel);
}

/* ---- smt_fault ------------------------------------------------------- */

/* One smt_fault row: packets and whether the injector drops each. */
struct fault_fix {
	char name[48];
	struct step steps[MAX_STEPS];
	uint32_t drop_ppm; /* random share (1000000: all) */
	int rule; /* one exact rule: drop DATA of msg_id 4, the 2nd match on */
	int seen; /* expected smt_fault_stats.seen */
};

/* clang-format off */
static struct fault_fix fault_fixtures[] = {
	{ "native_dropped", { { ONE(), D } }, .drop_ppm = 1000000, .seen = 1 },
	{ "udp_dropped", { { ONE(.udp = 1), D } }, .drop_ppm = 1000000, .seen = 1 },
	{ "udp_v6_control_dropped",
	  { { { .udp = 1, .v6 = 1, .type = SMT_TYPE_ACK, .ack_count = 2 }, D } },
	  .drop_ppm = 1000000, .seen = 1 },
	{ "udp_source_port_in_range_dropped",
	  { { ONE(.udp = 1, .sport = 40000, .dport = 9), D } },
	  .drop_ppm = 1000000, .seen = 1 },
	{ "udp_out_of_range_passed",
	  { { ONE(.udp = 1, .sport = 3000, .dport = 3001), P } },
	  .drop_ppm = 1000000 },
	{ "udp_short_passed", { { ONE(.udp = 1, .smt_len = 39), P } },
	  .drop_ppm = 1000000 },
	{ "udp_length_field_short_passed", { { ONE(.udp = 1, .udp_len = 47), P } },
	  .drop_ppm = 1000000 },
	{ "udp_other_doff_ver_passed", { { ONE(.udp = 1, .doff_ver = 0xA2), P } },
	  .drop_ppm = 1000000 },
	{ "udp_fragment_passed", { { ONE(.udp = 1, .frag = 1), P } },
	  .drop_ppm = 1000000 },
	{ "non_smt_udp_passed", { { { .not_smt = 1 }, P } }, .drop_ppm = 1000000 },
	{ "udp_rule_drops_second_match",
	  { { ONE(.udp = 1), P }, { ONE(.udp = 1, .msg_id = 6), P },
	    { ONE(.udp = 1), D }, { ONE(.udp = 1, .v6 = 1), D } },
	  .rule = 1, .seen = 4 },
	{ "udp_rule_mixed_with_native",
	  { { ONE(), P }, { ONE(.udp = 1), D }, { ONE(.udp = 1, .sport = 3000, .dport = 3001), P } },
	  .rule = 1, .seen = 2 },
};
/* clang-format on */

ParameterizedTestParameters(smt_fault, fixture)
{
	return cr_make_param_array(struct fault_fix, fault_fixtures,
				   sizeof(fault_fixtures) /
					   sizeof(fault_fixtures[0]));
}

ParameterizedTest(struct fault_fix *f, smt_fault, fixture, .init = init)
{
	struct smt_fault *skel = smt_fault__open_and_load();
	struct smt_fault_cfg cfg = {.drop_ppm = f->drop_ppm,
				    .ipproto = SMT_IPPROTO_DEFAULT};
	struct smt_fault_stats st = {0};
	uint8_t pkt[FRAME], out[FRAME];
	uint32_t zero = 0, olen;
	int i;

	cr_assert_not_null(skel, "load smt_fault: %s", strerror(errno));
	set_udp_ranges(bpf_map__fd(skel->maps.smt_fault_ports));
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.smt_fault_cfg),
					 &zero, &cfg, BPF_ANY),
		     0);
	if (f->rule) {
		struct smt_fault_rule r = {.action = SMT_FAULT_DROP,
					   .type = SMT_TYPE_DATA,
					   .pkt_off = SMT_FAULT_ANY_OFF,
					   .msg_id = 4,
					   .nth = 1};

		cr_assert_eq(bpf_map_update_elem(
				     bpf_map__fd(skel->maps.smt_fault_rules),
				     &zero, &r, BPF_ANY),
			     0);
	}
	for (i = 0; i < MAX_STEPS && step_used(&f->steps[i]); i++) {
		int len = pkt_build(&f->steps[i].s, pkt, sizeof(pkt)), v;

		v = run_prog(bpf_program__fd(skel->progs.smt_fault_xdp), pkt,
			     len, out, &olen, NULL);
		cr_expect_eq(v, f->steps[i].verdict,
			     "%s: packet %d: verdict %d, want %d", f->name, i,
			     v, f->steps[i].verdict);
	}
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.smt_fault_stats), &zero,
			    &st);
	cr_expect_eq(st.seen, (uint64_t)f->seen, "%s: seen %llu", f->name,
		     (unsigned long long)st.seen);
	smt_fault__destroy(skel);
}

/*
 * The shared verdict table (tests/unit/common/rule_table.h), the same rows
 * libsmt and the kernel module judge: smt_xdp with a session of the row's B
 * (peer port 3000 + B) gives the row's verdict, counts the drop by reason
 * and, once the SMT header is there to name the session, in that session's
 * drops (docs/bpf.md); mtp_inspect, which knows no session, gives the
 * verdict without B and max_wire.
 */
static int rt_frame(const struct rule_row *r, uint8_t *smt, uint8_t *pkt)
{
	uint32_t n = rt_build(r, smt, 2048);
	struct pkt_spec s = {.v6 = r->v6, .ipid = r->ipid};

	cr_assert_gt(n, 0, "%s: does not fit", r->name);
	smt[0] = (3000 + rt_b(r)) >> 8; /* sport: the session of B */
	smt[1] = (3000 + rt_b(r)) & 0xff;
	s.smt_raw = smt;
	s.smt_raw_len = n;
	return pkt_build(&s, pkt, FRAME);
}

/* Drops judged before the SMT header can name a session. */
static int rt_before_session(int reason)
{
	return reason == SMT_DROP_SHORT_HEADER || reason == SMT_DROP_BAD_IP ||
	       reason == SMT_DROP_IP_FRAGMENT ||
	       reason == SMT_DROP_UDP_PORT_MISMATCH;
}

Test(rule_table, smt_xdp, .init = init)
{
	struct smt_xdp *skel = smt_xdp__open_and_load();
	static const uint8_t bs[] = {40, 48, 56};
	uint8_t smt[2048], pkt[FRAME], out[FRAME];
	unsigned int i, j, bad = 0;
	int dfd, sfd;

	cr_assert_not_null(skel, "load smt_xdp: %s", strerror(errno));
	sfd = bpf_map__fd(skel->maps.sess_stats);
	for (j = 0; j < sizeof(bs); j++) {
		sess_add(bpf_map__fd(skel->maps.sessions), "10.0.0.1", 0,
			 3000 + bs[j], bs[j], 0, 0);
		sess_add(bpf_map__fd(skel->maps.sessions), "fd00::1", 1,
			 3000 + bs[j], bs[j], 0, 0);
	}
	dfd = bpf_map__fd(skel->maps.drops);
	for (i = 0; i < RULE_ROWS; i++) {
		const struct rule_row *r = &rule_rows[i];
		uint16_t port = 3000 + rt_b(r);
		uint64_t before = sum_percpu_u64(dfd, r->reason);
		uint64_t sdrops = sess_get(sfd, port, r->v6, 0).drops;
		int want = r->reason ? XDP_DROP : XDP_PASS, len, v;
		uint64_t sd;
		uint32_t olen;

		len = rt_frame(r, smt, pkt);
		v = run_prog(bpf_program__fd(skel->progs.smt_xdp), pkt, len,
			     out, &olen, NULL);
		sd = sess_get(sfd, port, r->v6, 0).drops - sdrops;
		if (v != want ||
		    (r->reason &&
		     sum_percpu_u64(dfd, r->reason) != before + 1) ||
		    sd != (r->reason && !rt_before_session(r->reason))) {
			cr_log_error(
				"smt_xdp %s: verdict %d (want %d), "
				"drops[%s] +%lu, session drops +%lu",
				r->name, v, want, smt_drop_name(r->reason),
				(unsigned long)(sum_percpu_u64(dfd, r->reason) -
						before),
				(unsigned long)sd);
			bad++;
		}
	}
	cr_expect_eq(bad, 0, "%u of %zu rows wrong", bad, RULE_ROWS);
	smt_xdp__destroy(skel);
}

Test(rule_table, mtp_inspect, .init = init)
{
	struct mtp_inspect *skel = mtp_inspect__open_and_load();
	uint8_t smt[2048], pkt[FRAME], out[FRAME];
	unsigned int i, bad = 0;
	int dfd;

	cr_assert_not_null(skel, "load mtp_inspect: %s", strerror(errno));
	dfd = bpf_map__fd(skel->maps.mtp_drops);
	for (i = 0; i < RULE_ROWS; i++) {
		const struct rule_row *r = &rule_rows[i];
		int reason = rt_reason_nob(r);
		uint64_t before = sum_percpu_u64(dfd, reason);
		int want = reason ? XDP_DROP : XDP_PASS, len, v;
		uint32_t olen;

		len = rt_frame(r, smt, pkt);
		v = run_prog(bpf_program__fd(skel->progs.mtp_inspect), pkt, len,
			     out, &olen, NULL);
		if (v != want ||
		    (reason && sum_percpu_u64(dfd, reason) != before + 1)) {
			cr_log_error(
				"mtp_inspect %s: verdict %d (want %d), "
				"mtp_drops[%s] +%lu",
				r->name, v, want, smt_drop_name(reason),
				(unsigned long)(sum_percpu_u64(dfd, reason) -
						before));
			bad++;
		}
	}
	cr_expect_eq(bad, 0, "%u of %zu rows wrong", bad, RULE_ROWS);
	mtp_inspect__destroy(skel);
}
