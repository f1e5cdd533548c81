// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt_craft: crafted SMT traffic for the BPF netns tests, no keys needed.
 *
 *   smt_craft send SRC DST SPORT DPORT SIZE[,SIZE...] [FIRST_MSG_ID] [PROTO]
 *	sends one message per SIZE (application bytes) over a raw IPv4
 *	socket (IPv6 when DST has a colon), laid out by the deterministic sender rule (16384-byte
 *	records, 1440-byte packets), and prints one line per message:
 *	"msg ID app_len L msg_len W records R packets P". SIZE:K sends only
 *	the first K packets of that message (an incomplete message). PROTO
 *	"udp" (or 17) sends SMT over UDP (protocol.md 1.1: UDP ports = SMT
 *	ports, checksum set, 1432-byte packets) through the same raw socket.
 *   smt_craft flood SRC DST SPORT DPORT PPS SECONDS [PROTO]
 *	forged first packets of 1 MiB requests with random msg_ids at PPS
 *	per second (test-net's flood scenario).
 *   smt_craft recv SECONDS [PROTO]
 *	counts SMT DATA packets per (msg_id, receiving interface) for SECONDS
 *	and prints "msg ID ifindex I packets P" lines, then "total N". PROTO
 *	"udp" counts SMT-over-UDP datagrams (any UDP with 0xA1 at byte 12).
 *
 * Record bodies are filler: only a BPF program reads these packets.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "pkt.h"

#define MAX_PKTS 4096

/* PROTO argument: "udp" or 17 is SMT over UDP, else a native number. */
static int parse_proto(const char *s)
{
	if (!strcmp(s, "udp"))
		return 17;
	return atoi(s);
}

static int do_send(int argc, char **argv)
{
	struct sockaddr_in dst = {.sin_family = AF_INET};
	struct sockaddr_in6 dst6 = {.sin6_family = AF_INET6};
	int v6 = strchr(argv[1], ':') != NULL;
	static struct pkt_slot slots[MAX_PKTS];
	uint64_t id = argc > 5 ? strtoull(argv[5], NULL, 0) : 2;
	int proto = argc > 6 ? parse_proto(argv[6]) : SMT_IPPROTO_DEFAULT;
	int udp = proto == 17;
	/* MTU 1500 less IP, UDP and the SMT header (protocol.md 1.1). */
	uint32_t mss = 1500 - (v6 ? 40 : 20) - (udp ? 8 : 0) - SMT_HDR_LEN;
	char *sizes = argv[4], *tok, *save = NULL;
	uint8_t buf[2048];
	int fd, one = 1;

	/* IPv6 IPPROTO_RAW sockets take the header as given (IPV6_HDRINCL). */
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0 || (!v6 && setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one,
					 sizeof(one)))) {
		perror("smt_craft: raw socket (needs CAP_NET_RAW)");
		return 1;
	}
	if (v6)
		inet_pton(AF_INET6, argv[1], &dst6.sin6_addr);
	else
		inet_pton(AF_INET, argv[1], &dst.sin_addr);
	for (tok = strtok_r(sizes, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), id += 2) {
		char *colon = strchr(tok, ':');
		uint32_t app = strtoul(tok, NULL, 0), wire, recs;
		int n = pkt_layout(app, SMT_REC_MAX_CONTENT, mss, slots,
				   MAX_PKTS, &wire, &recs),
		    i, last;

		if (n > MAX_PKTS) {
			fprintf(stderr, "smt_craft: message too large\n");
			return 1;
		}
		last = colon ? atoi(colon + 1) : n;
		if (last > n)
			last = n;
		for (i = 0; i < last; i++) {
			struct pkt_spec s = {
				.v6 = v6,
				.proto = udp ? 0 : proto,
				.udp = udp,
				.sport = atoi(argv[2]),
				.dport = atoi(argv[3]),
				.msg_id = id,
				.msg_len = wire,
				.pkt_off = slots[i].pkt_off,
				.seg_off = slots[i].seg_off,
				.rec_idx = slots[i].rec_idx,
				.pkt_idx = slots[i].pkt_idx,
				.payload = slots[i].len,
				.rec_len = slots[i].rec_len,
			};
			int len;

			snprintf(s.saddr, sizeof(s.saddr), "%s", argv[0]);
			snprintf(s.daddr, sizeof(s.daddr), "%s", argv[1]);
			len = pkt_build_ip(&s, buf, sizeof(buf));
			if (len < 0 ||
			    (v6 ? sendto(fd, buf, len, 0,
					 (struct sockaddr *)&dst6, sizeof(dst6))
				: sendto(fd, buf, len, 0,
					 (struct sockaddr *)&dst,
					 sizeof(dst))) != len) {
				perror("smt_craft: sendto");
				return 1;
			}
			/* Pace a little: veth queues are short. */
			if (i % 32 == 31)
				usleep(200);
		}
		printf("msg %llu app_len %u msg_len %u records %u packets %d\n",
		       (unsigned long long)id, app, wire, recs, n);
	}
	close(fd);
	return 0;
}

/*
 * flood SRC DST SPORT DPORT PPS SECONDS [PROTO]: forged first packets of
 * 1 MiB requests with random even msg_ids (docs/protocol.md 3.4,
 * "Amplification"), PPS per second for SECONDS, paced in bursts of 10;
 * prints "flood sent N seconds S pps R".
 */
static int do_flood(int argc, char **argv)
{
	struct sockaddr_in dst = {.sin_family = AF_INET};
	int proto = argc > 6 ? parse_proto(argv[6]) : SMT_IPPROTO_DEFAULT;
	int udp = proto == 17, fd, one = 1, i;
	uint32_t mss = 1500 - 20 - (udp ? 8 : 0) - SMT_HDR_LEN, wire, recs;
	double pps = atof(argv[4]), secs = atof(argv[5]), el;
	static struct pkt_slot slots[MAX_PKTS];
	struct timespec t0, next, now;
	uint64_t sent = 0, rnd = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
	uint8_t buf[2048];

	if (pps <= 0 || secs <= 0 || strchr(argv[1], ':')) {
		fprintf(stderr, "smt_craft flood: IPv4, PPS and SECONDS > 0\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one))) {
		perror("smt_craft: raw socket (needs CAP_NET_RAW)");
		return 1;
	}
	inet_pton(AF_INET, argv[1], &dst.sin_addr);
	pkt_layout(1u << 20, SMT_REC_MAX_CONTENT, mss, slots, MAX_PKTS, &wire,
		   &recs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	next = t0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		el = (double)(now.tv_sec - t0.tv_sec) +
		     (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
		if (el >= secs)
			break;
		for (i = 0; i < 10; i++) {
			struct pkt_spec s = {
				.proto = udp ? 0 : proto,
				.udp = udp,
				.sport = atoi(argv[2]),
				.dport = atoi(argv[3]),
				.msg_len = wire,
				.payload = slots[0].len,
				.rec_len = slots[0].rec_len,
			};
			int len;

			rnd ^= rnd << 13;
			rnd ^= rnd >> 7;
			rnd ^= rnd << 17;
			/* even, 2^20 .. 2^40: above any genuine request */
			s.msg_id = ((rnd % (1ULL << 40)) | (1ULL << 20)) &
				   ~1ULL;
			snprintf(s.saddr, sizeof(s.saddr), "%s", argv[0]);
			snprintf(s.daddr, sizeof(s.daddr), "%s", argv[1]);
			len = pkt_build_ip(&s, buf, sizeof(buf));
			if (len > 0 &&
			    sendto(fd, buf, len, 0, (struct sockaddr *)&dst,
				   sizeof(dst)) == len)
				sent++;
		}
		next.tv_nsec += (long)(10 * 1e9 / pps);
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	printf("flood sent %llu seconds %.2f pps %.0f\n",
	       (unsigned long long)sent, el, (double)sent / el);
	close(fd);
	return 0;
}

struct cnt {
	uint64_t id;
	int ifindex;
	unsigned int packets;
};

static int do_recv(int argc, char **argv)
{
	static struct cnt c[8192];
	int proto = argc > 1 ? parse_proto(argv[1]) : SMT_IPPROTO_DEFAULT;
	int l4 = proto == 17 ? 8 : 0; /* the UDP header before SMT */
	int fd, one = 1, n = 0, i, rcv = 8 << 20;
	struct timespec t0, t;
	unsigned long total = 0;
	double secs = atof(argv[0]);
	uint8_t buf[4096];

	fd = socket(AF_INET, SOCK_RAW, proto);
	if (fd < 0) {
		perror("smt_craft: raw socket");
		return 1;
	}
	setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	printf("ready\n");
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char cbuf[256];
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		struct pollfd pfd = {fd, POLLIN, 0};
		struct cmsghdr *cm;
		struct smt_hdr *h;
		int ifindex = 0;
		ssize_t len;
		uint64_t id;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 >=
		    secs)
			break;
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		len = recvmsg(fd, &mh, 0);
		if (len < (buf[0] & 0xf) * 4 + l4 + SMT_HDR_LEN)
			continue;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == IPPROTO_IP &&
			    cm->cmsg_type == IP_PKTINFO)
				ifindex = ((struct in_pktinfo *)CMSG_DATA(cm))
						  ->ipi_ifindex;
		h = (struct smt_hdr *)(buf + (buf[0] & 0xf) * 4 + l4);
		if (h->doff_ver != SMT_DOFF_VER || h->type != SMT_TYPE_DATA)
			continue;
		id = be64toh(h->msg_id);
		total++;
		for (i = 0; i < n; i++)
			if (c[i].id == id && c[i].ifindex == ifindex)
				break;
		if (i == n && n < 8192) {
			c[n].id = id;
			c[n].ifindex = ifindex;
			c[n].packets = 0;
			n++;
		}
		if (i < 8192)
			c[i].packets++;
	}
	for (i = 0; i < n; i++)
		printf("msg %llu ifindex %d packets %u\n",
		       (unsigned long long)c[i].id, c[i].ifindex, c[i].packets);
	printf("total %lu\n", total);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 7 && !strcmp(argv[1], "send"))
		return do_send(argc - 2, argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "recv"))
		return do_recv(argc - 2, argv + 2);
	if (argc >= 8 && !strcmp(argv[1], "flood"))
		return do_flood(argc - 2, argv + 2);
	fprintf(stderr,
		"usage: smt_craft send SRC DST SPORT DPORT SIZE[,SIZE...] [FIRST_MSG_ID] [PROTO]\n"
		"       smt_craft recv SECONDS [PROTO]\n"
		"       smt_craft flood SRC DST SPORT DPORT PPS SECONDS [PROTO]\n");
	return 2;
}
