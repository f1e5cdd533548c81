/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Test packet builder for the BPF tests: describe an SMT packet by its
 * fields (struct pkt_spec), get Ethernet (+ VLAN) + IPv4/IPv6 (+ UDP for
 * SMT over UDP) + SMT header + payload bytes built from include/smt/wire.h. Also lays out messages by
 * the deterministic sender rule of protocol.md section 3 (record and packet
 * boundaries), which the traffic sender of the netns tests uses.
 */
#ifndef SMT_TESTS_BPF_PKT_H
#define SMT_TESTS_BPF_PKT_H

#include <stddef.h>
#include <stdint.h>
#include <smt/wire.h>

struct pkt_spec {
	int v6; /* IPv6 instead of IPv4 */
	int vlan; /* one 802.1Q tag */
	int not_smt; /* UDP instead of SMT */
	uint16_t tcp_dport; /* not SMT: a TCP SYN to this port instead */
	uint8_t proto; /* IP protocol; 0: SMT_IPPROTO_DEFAULT */
	/* Arrays, not pointers: Criterion copies fixtures between processes. */
	char saddr[40]; /* default 10.0.0.1 / fd00::1 */
	char daddr[40]; /* default 10.0.0.2 / fd00::2 */
	uint16_t sport, dport; /* default 1000, 2000 */
	uint8_t type; /* 0: DATA */
	uint8_t doff_ver; /* 0: SMT_DOFF_VER */
	uint16_t flags;
	uint16_t rec_idx, pkt_idx;
	uint64_t msg_id;
	uint32_t msg_len, pkt_off, seg_off;
	uint8_t epoch, prio;
	uint16_t ipid;
	uint8_t tos; /* IPv4 TOS / IPv6 traffic class */
	int frag; /* set IPv4 MF */
	uint32_t payload; /* DATA payload bytes */
	int rec_len; /* record header length field; 0: from msg layout */
	int bad_rec_hdr; /* record header type byte wrong */
	int ctl_len; /* control: total SMT length; 0: the type's */
	int ack_count; /* ACK count field; 0: 1 unless ctl_len is set */
	int smt_len; /* force the SMT length: IP payload, over UDP the UDP
		      * payload (short header tests) */
	/* SMT over UDP (protocol.md 1.1): IP protocol 17, UDP header, SMT */
	int udp;
	uint16_t udp_sport, udp_dport; /* 0: the SMT sport / dport */
	uint16_t udp_len; /* UDP length field; 0: 8 + the SMT length */
	/* Given SMT bytes instead of the fields above (not in fixtures that
	 * Criterion copies: a pointer) */
	const uint8_t *smt_raw;
	uint32_t smt_raw_len;
};

/* Build into buf (size cap). Returns the frame length or -1. */
int pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap);

/* Build only the IP packet (no Ethernet), for raw IP_HDRINCL sockets. */
int pkt_build_ip(const struct pkt_spec *s, uint8_t *buf, size_t cap);

/*
 * Deterministic sender layout: for a message of app_len application bytes,
 * records of rec_content content bytes, packets of mss payload bytes.
 * pkt_layout() returns the number of packets (at most max) and fills the
 * per-packet offsets; *wire_len and *records receive the totals.
 */
struct pkt_slot {
	uint32_t pkt_off, seg_off, len, rec_len;
	uint16_t rec_idx, pkt_idx;
};
int pkt_layout(uint32_t app_len, uint32_t rec_content, uint32_t mss,
	       struct pkt_slot *slots, int max, uint32_t *wire_len,
	       uint32_t *records);

#endif
