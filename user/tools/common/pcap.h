/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Classic pcap files and raw IP packets for the smt tools. Writing produces
 * linktype RAW (101): every record is one IPv4 or IPv6 packet, little-endian
 * file header, microsecond timestamps. Captures are read with libpcap (pcap
 * and pcapng); pcap_frame_ip() finds the IP packet in a frame of the link
 * types a capture of SMT traffic usually has: RAW (and its IPv4/IPv6
 * variants), Ethernet with at most one VLAN tag, and Linux cooked captures
 * SLL and SLL2 (`tcpdump -i any`).
 */
#ifndef SMT_TOOLS_PCAP_H
#define SMT_TOOLS_PCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define PCAP_LINKTYPE_EN10MB 1
#define PCAP_LINKTYPE_RAW 101
#define PCAP_LINKTYPE_LINUX_SLL 113
#define PCAP_LINKTYPE_IPV4 228
#define PCAP_LINKTYPE_IPV6 229
#define PCAP_LINKTYPE_LINUX_SLL2 276
#define PCAP_SNAPLEN 262144

struct pcap_writer {
	FILE *f;
	uint32_t count; /* records written */
};

/* Create path and write a RAW file header; 0 or -errno. */
int pcap_writer_open(struct pcap_writer *w, const char *path);
/* Append one packet; 0 or -errno. */
int pcap_write(struct pcap_writer *w, const void *pkt, size_t len,
	       uint32_t ts_sec, uint32_t ts_usec);
/* Flush and close; 0 or -errno (a failed flush means a short file). */
int pcap_writer_close(struct pcap_writer *w);

/* True for the link types pcap_frame_ip() reads. */
bool pcap_linktype_known(uint32_t linktype);

/*
 * Find the IP packet inside one link-layer frame. Returns 0, or -ENOENT
 * when the frame carries something else than IPv4/IPv6 (ARP, LLDP...),
 * -EBADMSG when it is too short for its link header.
 */
int pcap_frame_ip(uint32_t linktype, const uint8_t *frame, size_t len,
		  const uint8_t **ip, size_t *ip_len);

/* One parsed IPv4 or IPv6 header. Addresses carry port 0. */
struct ip_info {
	int family; /* AF_INET or AF_INET6 */
	struct sockaddr_storage src, dst;
	uint8_t proto; /* upper-layer protocol after IPv6 extension headers */
	int ipv4_id; /* IPv4 ID, or -1 for IPv6 */
	bool fragment; /* IPv4 MF/offset, or an IPv6 fragment header */
	uint32_t frag_off; /* fragment offset in bytes (0: first or whole) */
	const uint8_t *l4; /* upper-layer bytes (trailing link padding cut) */
	size_t l4_len;
};

/* 0, or -EBADMSG for a malformed or truncated IP header. */
int ip_parse(const uint8_t *pkt, size_t len, struct ip_info *out);

/*
 * Write an IP header for payload_len bytes of protocol proto from src to dst
 * (same family) at out: IPv4 (20 bytes, DF, TTL 64, the given ID, checksum
 * filled) or IPv6 (40 bytes, hop limit 64, no flow label). Returns the header
 * length, or 0 when the family is wrong or the payload too large.
 */
size_t ip_build(uint8_t *out, const struct sockaddr_storage *src,
		const struct sockaddr_storage *dst, uint8_t proto,
		size_t payload_len, uint16_t ipv4_id);
static inline size_t ip_hdr_len(int family)
{
	return family == AF_INET6 ? 40 : 20;
}

/*
 * RFC 1071 internet checksum: add len bytes at p to a running sum (only the
 * last piece may have an odd length), then fold to 16 bits (not inverted).
 */
uint32_t inet_csum_add(uint32_t sum, const void *p, size_t len);
uint16_t inet_csum_fold(uint32_t sum);

#define UDP_HDR_LEN 8

/*
 * Write a UDP header at out in front of the payload_len bytes already at
 * out + 8: ports from src and dst, length, and the checksum over the IPv4 or
 * IPv6 pseudo-header (0 is sent as 0xffff). Returns 8, or 0 when the
 * families differ or the datagram would be too long.
 */
size_t udp_build(uint8_t *out, const struct sockaddr_storage *src,
		 const struct sockaddr_storage *dst, size_t payload_len);

enum udp_csum {
	UDP_CSUM_OK,
	UDP_CSUM_BAD,
	UDP_CSUM_ABSENT, /* 0 over IPv4: "not computed" */
	/* does not verify, but holds the pseudo-header sum that checksum
	 * offload leaves in packets captured on the sending host */
	UDP_CSUM_PARTIAL,
};

/* One UDP header inside an IP packet. */
struct udp_info {
	uint16_t sport, dport, len; /* len from the header, >= 8 */
	uint16_t csum, want; /* as sent; what it should be */
	enum udp_csum csum_state;
	const uint8_t *payload;
	size_t payload_len;
};

/*
 * Parse and verify the UDP datagram that is ip's payload (ip->proto 17):
 * 0, or -EBADMSG when it is shorter than 8 bytes or its length field is
 * below 8 or beyond the IP payload. Bytes after the UDP length are cut, as
 * receivers do.
 */
int udp_parse(const struct ip_info *ip, struct udp_info *out);

#endif /* SMT_TOOLS_PCAP_H */
