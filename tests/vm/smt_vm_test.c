// SPDX-License-Identifier: BSD-2-Clause
/*
 * Guest-side test program of the VM tier (tests/vm/init.sh runs it inside
 * QEMU, linked statically against libsmt's record layer and codec):
 *
 *   smt-vm-test ksend DADDR   send every test message through /dev/smt
 *   smt-vm-test recv READY [6]  receive them on a raw socket with libsmt
 *                             (IPv6 with "6"),
 *                             check each message byte-exact and each packet
 *                             identical to the one libsmt builds itself
 *   smt-vm-test bad DADDR     send malformed SMT packets on a raw socket
 *                             (the module's receive counters must see them)
 *   smt-vm-test ktls          write libsmt-sealed records on a TCP socket
 *                             whose peer has kernel TLS_RX (rec_seq = the
 *                             composite sequence number) and compare the
 *                             plaintext the kernel's TLS returns
 *
 * The messages are a fixed table: every cipher times a list of sizes from
 * 0 B to 1 MiB, each with its own msg_id, keys derived from the cipher
 * number, payload bytes from (msg_id, offset). SMT_VM_MSGS=FIRST:COUNT in
 * the environment of ksend and recv restricts both to COUNT messages of
 * the table from index FIRST (index = cipher * 10 + size index). Prints one
 * "PASS name" or "FAIL name: why" line per check; exits 0 only when all
 * passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <smt/kmod_uapi.h>
#include <smt/wire.h>

#include "codec.h"
#include "record.h"
#include "../unit/common/seq_vectors.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

#define SPORT 4001
#define DPORT 4002
#define RSIZE 16384
#define MTU 1500
/* Payload per packet: MTU - IP header - 40; IPv6 when the address says so. */
static uint32_t max_payload = MTU - 20 - SMT_HDR_LEN;
#define B_BITS 48

static const enum smt_cipher ciphers[] = {SMT_CIPHER_AES_128_GCM,
					  SMT_CIPHER_AES_256_GCM,
					  SMT_CIPHER_CHACHA20_POLY1305};
static const uint32_t sizes[] = {0,	1,     100,   1431,   16376,
				 16377, 40000, 65536, 262144, 1048576};
#define NCIPH (sizeof(ciphers) / sizeof(ciphers[0]))
#define NSIZE (sizeof(sizes) / sizeof(sizes[0]))
#define NMSG (NCIPH * NSIZE)

static int failures;
/* Messages [msg_lo, msg_hi) of the table take part (SMT_VM_MSGS). */
static unsigned int msg_lo, msg_hi = NMSG;

static void pass(const char *what)
{
	printf("PASS %s\n", what);
	fflush(stdout);
}

static void fail(const char *what, const char *why)
{
	printf("FAIL %s: %s\n", what, why);
	fflush(stdout);
	failures++;
}

static void test_keys(enum smt_cipher c, uint8_t key[32], uint8_t iv[12])
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x40 + 13 * i + c);
	for (int i = 0; i < 12; i++)
		iv[i] = (uint8_t)(0x90 + 7 * i + c);
}

static uint64_t msg_id_of(unsigned int i)
{
	return 2 * (i + 1); /* requests: even, from 2 */
}

static void fill_payload(uint8_t *p, uint32_t len, uint64_t msg_id)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 131u) ^ (i >> 8) ^ (msg_id * 29u));
}

static struct smt_aead *aead_for(enum smt_cipher c)
{
	uint8_t key[32], iv[12];

	test_keys(c, key, iv);
	return smt_aead_new(c, key, smt_cipher_key_len(c), iv);
}

/* The libsmt wire stream of a message of len bytes. */
static int encode_id(struct smt_aead *a, unsigned int B, uint64_t msg_id,
		     uint32_t len, struct smt_wire_msg *out)
{
	uint8_t *app = malloc(len ? len : 1);
	int err;

	if (!app)
		return -ENOMEM;
	fill_payload(app, len, msg_id);
	err = smt_msg_encode(a, B, msg_id, app, len, 0, RSIZE, out);
	free(app);
	return err;
}

/* The libsmt wire stream of test message i. */
static int encode_msg(unsigned int i, struct smt_aead *a,
		      struct smt_wire_msg *out)
{
	return encode_id(a, B_BITS, msg_id_of(i), sizes[i % NSIZE], out);
}

static void kcrypto_of(enum smt_cipher c, union smt_kmod_crypto *ci)
{
	uint8_t key[32], iv[12];

	test_keys(c, key, iv);
	memset(ci, 0, sizeof(*ci));
	ci->info.version = TLS_1_3_VERSION;
	switch (c) {
	case SMT_CIPHER_AES_128_GCM:
		ci->info.cipher_type = TLS_CIPHER_AES_GCM_128;
		memcpy(ci->aes_gcm_128.key, key, 16);
		memcpy(ci->aes_gcm_128.salt, iv, 4);
		memcpy(ci->aes_gcm_128.iv, iv + 4, 8);
		break;
	case SMT_CIPHER_AES_256_GCM:
		ci->info.cipher_type = TLS_CIPHER_AES_GCM_256;
		memcpy(ci->aes_gcm_256.key, key, 32);
		memcpy(ci->aes_gcm_256.salt, iv, 4);
		memcpy(ci->aes_gcm_256.iv, iv + 4, 8);
		break;
	default:
		ci->info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
		memcpy(ci->chacha20_poly1305.key, key, 32);
		memcpy(ci->chacha20_poly1305.iv, iv, 12);
		break;
	}
}

/* ---- ksend -------------------------------------------------------------- */

static void expect_errno(const char *name, int fd, unsigned long cmd, void *arg,
			 int want)
{
	char why[64];

	if (ioctl(fd, cmd, arg) == 0) {
		fail(name, "accepted");
	} else if (errno != want) {
		snprintf(why, sizeof(why), "errno %d, want %d", errno, want);
		fail(name, why);
	} else {
		pass(name);
	}
}

/* Bad requests are refused with their errno, and nothing is sent. */
static void bad_requests(int fd, uint32_t session, const char *daddr)
{
	struct smt_kmod_send m = {.session = session, .msg_id = 1};
	struct smt_kmod_session s = {
		.family = AF_INET, .local_port = SPORT, .peer_port = DPORT};

	expect_errno("ksend msg_id 1 refused", fd, SMT_IOC_SEND, &m, EINVAL);
	m.msg_id = 1ull << (B_BITS - 1);
	expect_errno("ksend msg_id 2^(B-1) refused", fd, SMT_IOC_SEND, &m,
		     EINVAL);
	m.msg_id = 2;
	m.inner_flags = 2;
	expect_errno("ksend unknown inner flag refused", fd, SMT_IOC_SEND, &m,
		     EINVAL);
	m.inner_flags = 0;
	m.len = SMT_KMOD_MAX_MSG + 1;
	expect_errno("ksend 1 MiB + 1 refused", fd, SMT_IOC_SEND, &m, EMSGSIZE);
	m.len = 0;
	m.session = 999;
	expect_errno("ksend unknown session refused", fd, SMT_IOC_SEND, &m,
		     ENOENT);

	inet_pton(AF_INET, strchr(daddr, ':') ? "10.99.0.2" : daddr,
		  s.peer_addr);
	kcrypto_of(SMT_CIPHER_AES_128_GCM, &s.crypto);
	s.B = 57;
	expect_errno("session B 57 refused", fd, SMT_IOC_SESSION_ADD, &s,
		     EINVAL);
	s.B = 0;
	s.crypto.info.version = TLS_1_2_VERSION;
	expect_errno("session TLS 1.2 key refused", fd, SMT_IOC_SESSION_ADD, &s,
		     EINVAL);
	s.crypto.info.version = TLS_1_3_VERSION;
	s.family = AF_PACKET;
	expect_errno("session AF_PACKET refused", fd, SMT_IOC_SESSION_ADD, &s,
		     EAFNOSUPPORT);
	explicit_bzero(&s.crypto, sizeof(s.crypto));
	expect_errno("unknown ioctl refused", fd, _IO(SMT_IOC_MAGIC, 99), NULL,
		     ENOTTY);
}

static int cmd_ksend(const char *daddr)
{
	struct smt_kmod_session s;
	uint32_t ids[NCIPH];
	char name[96];
	int fd;

	fd = open("/dev/smt", O_RDWR);
	if (fd < 0) {
		fail("ksend open /dev/smt", strerror(errno));
		return 1;
	}
	for (unsigned int c = 0; c < NCIPH; c++) {
		memset(&s, 0, sizeof(s));
		s.family = strchr(daddr, ':') ? AF_INET6 : AF_INET;
		s.local_port = SPORT;
		s.peer_port = DPORT;
		if (inet_pton(s.family, daddr, s.peer_addr) != 1) {
			fail("ksend", "bad address");
			return 1;
		}
		kcrypto_of(ciphers[c], &s.crypto);
		if (ioctl(fd, SMT_IOC_SESSION_ADD, &s) < 0) {
			snprintf(name, sizeof(name), "ksend add session %s",
				 smt_cipher_name(ciphers[c]));
			fail(name, strerror(errno));
			return 1;
		}
		ids[c] = s.id;
	}
	for (unsigned int i = msg_lo; i < msg_hi; i++) {
		struct smt_kmod_send m = {0};
		uint32_t len = sizes[i % NSIZE];
		uint8_t *app = malloc(len ? len : 1);

		fill_payload(app, len, msg_id_of(i));
		m.session = ids[i / NSIZE];
		m.msg_id = msg_id_of(i);
		m.payload = (uintptr_t)app;
		m.len = len;
		snprintf(name, sizeof(name), "ksend %s %u B",
			 smt_cipher_name(ciphers[i / NSIZE]), len);
		if (ioctl(fd, SMT_IOC_SEND, &m) < 0)
			fail(name, strerror(errno));
		free(app);
		usleep(20000); /* let the receiver drain its socket */
	}
	bad_requests(fd, ids[0], daddr);
	for (unsigned int c = 0; c < NCIPH; c++)
		if (ioctl(fd, SMT_IOC_SESSION_DEL, &ids[c]) < 0)
			fail("ksend del session", strerror(errno));
	if (ioctl(fd, SMT_IOC_SESSION_DEL, &ids[0]) == 0 || errno != ENOENT)
		fail("ksend del twice refused", "accepted");
	close(fd);
	if (!failures)
		pass("ksend all messages handed to the module");
	return failures ? 1 : 0;
}

/* ---- recv --------------------------------------------------------------- */

struct rx_state {
	struct smt_wire_msg ref; /* libsmt's own encoding */
	struct smt_rx_msg *rx;
	uint32_t expect_pkts, got_pkts, mismatches;
	bool done, ok;
	uint8_t *seen; /* per packet index of ref: received already */
};

static uint32_t packets_of(const struct smt_wire_msg *m)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < m->nrec; k++) {
		uint32_t len = m->rec_off[k + 1] - m->rec_off[k];

		n += (len + max_payload - 1) / max_payload;
	}
	return n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void check_done(unsigned int i, struct rx_state *st)
{
	uint8_t *app = NULL, *want;
	uint32_t len = 0, flags = 0;
	char name[96];
	int r;

	snprintf(name, sizeof(name), "kernel->libsmt %s %u B",
		 smt_cipher_name(ciphers[i / NSIZE]), sizes[i % NSIZE]);
	st->done = true;
	r = smt_rx_msg_take(st->rx, &app, &len, &flags);
	if (r) {
		fail(name, smt_drop_name(r));
		return;
	}
	want = malloc(sizes[i % NSIZE] + 1);
	fill_payload(want, sizes[i % NSIZE], msg_id_of(i));
	if (len != sizes[i % NSIZE] || (len && memcmp(app, want, len)))
		fail(name, "delivered bytes differ");
	else {
		st->ok = true;
		pass(name);
	}
	free(want);
	free(app);
}

static int cmd_recv(const char *ready_file, bool v6)
{
	struct smt_limits lim = {.B = B_BITS, .max_msg = SMT_KMOD_MAX_MSG};
	struct smt_aead *aead[NCIPH];
	static struct rx_state st[NMSG];
	static uint8_t pkt[65536], ref[MTU];
	unsigned int ndone = 0;
	int fd, big = 64 << 20;
	double deadline, idle_until;
	char name[96];

	for (unsigned int c = 0; c < NCIPH; c++)
		aead[c] = aead_for(ciphers[c]);
	for (unsigned int i = 0; i < NMSG; i++) {
		if (encode_msg(i, aead[i / NSIZE], &st[i].ref)) {
			fail("recv libsmt encode", strerror(errno));
			return 1;
		}
		st[i].rx = smt_rx_msg_new(msg_id_of(i), &lim);
		st[i].expect_pkts = packets_of(&st[i].ref);
		st[i].seen = calloc(st[i].ref.wire_len + 1, 1);
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW, SMT_IPPROTO_DEFAULT);
	if (fd < 0) {
		fail("recv raw socket", strerror(errno));
		return 1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (ready_file) {
		FILE *f = fopen(ready_file, "w");

		if (f)
			fclose(f);
	}
	/* At most 120 s in all, and 15 s without a packet (a broken sender
	 * fails the tier quickly instead of running into its timeout). */
	deadline = now_s() + 120;
	idle_until = now_s() + 15;
	while (ndone < msg_hi - msg_lo && now_s() < deadline &&
	       now_s() < idle_until) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		struct smt_pkt p;
		const struct iphdr *iph = (const struct iphdr *)pkt;
		unsigned int i;
		uint32_t n;
		bool progress;
		ssize_t got;
		int r;

		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		got = recv(fd, pkt, sizeof(pkt), 0);
		idle_until = now_s() + 15;
		if (v6) /* IPv6 raw sockets deliver the payload only */
			r = got > 0 ? smt_pkt_parse(pkt, got, &lim, -1, &p)
				    : SMT_DROP_SHORT_HEADER;
		else if (got < (ssize_t)sizeof(*iph) || got < iph->ihl * 4)
			continue;
		else
			r = smt_pkt_parse(pkt + iph->ihl * 4,
					  got - iph->ihl * 4, &lim,
					  ntohs(iph->id), &p);
		if (r) {
			fail("recv packet parse", smt_drop_name(r));
			continue;
		}
		if (p.msg_id < 2 || p.msg_id > 2 * NMSG || (p.msg_id & 1))
			continue;
		i = p.msg_id / 2 - 1;
		if (st[i].done || i < msg_lo || i >= msg_hi)
			continue;
		/* The same packet from libsmt: byte for byte. */
		n = smt_data_build(
			&st[i].ref, p.pkt_off, max_payload,
			&(struct smt_data_tmpl){.sport = SPORT,
						.dport = DPORT,
						.granted = st[i].ref.wire_len},
			ref);
		if (!n || n + SMT_HDR_LEN != p.raw_len ||
		    memcmp(ref, p.raw, p.raw_len)) {
			st[i].mismatches++;
		} else if (!st[i].seen[p.pkt_off]) {
			st[i].seen[p.pkt_off] = 1;
			st[i].got_pkts++;
		}
		r = smt_rx_msg_add(st[i].rx, &p, aead[i / NSIZE], &progress);
		if (r == SMT_RX_DONE) {
			check_done(i, &st[i]);
			ndone++;
			snprintf(name, sizeof(name),
				 "kernel==libsmt packets %s %u B (%u packets)",
				 smt_cipher_name(ciphers[i / NSIZE]),
				 sizes[i % NSIZE], st[i].expect_pkts);
			if (st[i].mismatches ||
			    st[i].got_pkts != st[i].expect_pkts) {
				char why[80];

				snprintf(why, sizeof(why),
					 "%u identical of %u, %u differ",
					 st[i].got_pkts, st[i].expect_pkts,
					 st[i].mismatches);
				fail(name, why);
			} else {
				pass(name);
			}
		} else if (r > 0) {
			snprintf(name, sizeof(name), "recv msg %u add", i);
			fail(name, smt_drop_name(r));
		}
	}
	for (unsigned int i = 0; i < NMSG; i++) {
		if (!st[i].done && i >= msg_lo && i < msg_hi) {
			snprintf(name, sizeof(name), "kernel->libsmt %s %u B",
				 smt_cipher_name(ciphers[i / NSIZE]),
				 sizes[i % NSIZE]);
			fail(name, "not received in time");
		}
		smt_rx_msg_free(st[i].rx);
		smt_wire_msg_free(&st[i].ref);
		free(st[i].seen);
	}
	for (unsigned int c = 0; c < NCIPH; c++)
		smt_aead_free(aead[c]);
	close(fd);
	return failures ? 1 : 0;
}

/* ---- ktls --------------------------------------------------------------- */

static int tcp_pair(int *wr, int *rd)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int l, one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &alen))
		return -errno;
	*wr = socket(AF_INET, SOCK_STREAM, 0);
	if (*wr < 0 || connect(*wr, (struct sockaddr *)&a, sizeof(a)))
		return -errno;
	*rd = accept(l, NULL, NULL);
	close(l);
	if (*rd < 0)
		return -errno;
	setsockopt(*wr, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/*
 * Plaintext of a message of len bytes (cipher c, width B) through the
 * kernel's TLS_RX with rec_seq = seq (record 0's): content (inner header +
 * app bytes) must come out; returns 0 when it does. kTLS numbers the
 * following records seq + 1, seq + 2, ... and builds each nonce itself.
 */
static int ktls_msg(struct smt_aead *a, enum smt_cipher c, unsigned int B,
		    uint64_t msg_id, uint64_t seq, uint32_t len,
		    const char **why)
{
	struct smt_wire_msg m;
	union smt_kmod_crypto ci;
	uint32_t want_len = len + 8, got = 0;
	uint8_t *want, *out;
	int wr = -1, rd = -1, ret = -1;

	*why = "setup";
	if (encode_id(a, B, msg_id, len, &m))
		return -1;
	want = malloc(want_len);
	out = malloc(want_len + 1);
	want[0] = len >> 24;
	want[1] = len >> 16;
	want[2] = len >> 8;
	want[3] = len;
	memset(want + 4, 0, 4);
	fill_payload(want + 8, len, msg_id);
	if (tcp_pair(&wr, &rd)) {
		*why = "tcp pair";
		goto out;
	}
	if (setsockopt(rd, SOL_TCP, TCP_ULP, "tls", sizeof("tls"))) {
		*why = "TCP_ULP tls (is tls.ko loaded?)";
		goto out;
	}
	kcrypto_of(c, &ci);
	for (int b = 0; b < 8; b++) {
		uint8_t v = (uint8_t)(seq >> (56 - 8 * b));

		if (ci.info.cipher_type == TLS_CIPHER_AES_GCM_128)
			ci.aes_gcm_128.rec_seq[b] = v;
		else if (ci.info.cipher_type == TLS_CIPHER_AES_GCM_256)
			ci.aes_gcm_256.rec_seq[b] = v;
		else
			ci.chacha20_poly1305.rec_seq[b] = v;
	}
	if (setsockopt(rd, SOL_TLS, TLS_RX, &ci,
		       ci.info.cipher_type == TLS_CIPHER_AES_GCM_128
			       ? sizeof(ci.aes_gcm_128)
			       : sizeof(ci.aes_gcm_256))) {
		*why = "setsockopt TLS_RX";
		goto out;
	}
	for (uint32_t off = 0; off < m.wire_len;) {
		ssize_t n = write(wr, m.wire + off, m.wire_len - off);

		if (n <= 0) {
			*why = "write";
			goto out;
		}
		off += n;
		/* Drain as we go so that neither buffer fills. */
		while (got < want_len) {
			struct pollfd pfd = {.fd = rd, .events = POLLIN};

			if (poll(&pfd, 1, off < m.wire_len ? 0 : 5000) <= 0)
				break;
			n = read(rd, out + got, want_len + 1 - got);
			if (n <= 0) {
				*why = "kernel TLS read failed (bad record?)";
				goto out;
			}
			got += n;
		}
	}
	if (got != want_len || memcmp(out, want, want_len)) {
		*why = "plaintext differs";
		goto out;
	}
	ret = 0;
out:
	if (wr >= 0)
		close(wr);
	if (rd >= 0)
		close(rd);
	free(want);
	free(out);
	smt_wire_msg_free(&m);
	return ret;
}

static int cmd_ktls(void)
{
	char name[96];

	for (unsigned int c = 0; c < NCIPH; c++) {
		struct smt_aead *a = aead_for(ciphers[c]);

		for (unsigned int s = 0; s < NSIZE; s++) {
			unsigned int i = c * NSIZE + s;
			const char *why;

			snprintf(name, sizeof(name), "libsmt->kTLS %s %u B",
				 smt_cipher_name(ciphers[c]), sizes[s]);
			if (ktls_msg(a, ciphers[c], B_BITS, msg_id_of(i),
				     smt_record_seq(msg_id_of(i), B_BITS, 0),
				     sizes[s], &why))
				fail(name, why);
			else
				pass(name);
		}
		/* msg_id near 2^(B-1), three records (k 0..2), B 40/48/56:
		 * rec_seq from the hand-written seq of seq_vectors.h, so a
		 * nonce of only the low 32 bits of seq or another shift in
		 * libsmt fails here. */
		for (unsigned int v = 0; v < SEQ_VECTORS; v++) {
			const struct seq_vector *sv = &seq_vectors[v];
			const char *why;

			snprintf(name, sizeof(name),
				 "libsmt->kTLS %s B %u msg_id 2^%u-3 40000 B",
				 smt_cipher_name(ciphers[c]), sv->B, sv->B - 1);
			if (ktls_msg(a, ciphers[c], sv->B, sv->msg_id, sv->seq0,
				     40000, &why))
				fail(name, why);
			else
				pass(name);
		}
		smt_aead_free(a);
	}
	return failures ? 1 : 0;
}

/* ---- bad --------------------------------------------------------------- */

/* One packet each for short_header, bad_doff_ver and unknown_type. */
static int cmd_bad(const char *daddr)
{
	struct sockaddr_in to = {.sin_family = AF_INET};
	uint8_t pkt[SMT_HDR_LEN] = {0};
	struct smt_hdr *h = (struct smt_hdr *)pkt;
	int fd = socket(AF_INET, SOCK_RAW, SMT_IPPROTO_DEFAULT);

	if (fd < 0 || inet_pton(AF_INET, daddr, &to.sin_addr) != 1) {
		fail("bad: raw socket", strerror(errno));
		return 1;
	}
	h->doff_ver = SMT_DOFF_VER;
	h->type = SMT_TYPE_DATA;
	if (sendto(fd, pkt, 10, 0, (struct sockaddr *)&to, sizeof(to)) != 10)
		fail("bad: send short", strerror(errno));
	h->doff_ver = 0xB1;
	if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
		   sizeof(to)) != sizeof(pkt))
		fail("bad: send version", strerror(errno));
	h->doff_ver = SMT_DOFF_VER;
	h->type = 0x15;
	if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
		   sizeof(to)) != sizeof(pkt))
		fail("bad: send type", strerror(errno));
	close(fd);
	return failures ? 1 : 0;
}

/* SMT_VM_MSGS=FIRST:COUNT; returns -1 when malformed. */
static int msg_range(void)
{
	const char *e = getenv("SMT_VM_MSGS");
	unsigned int first, count;

	if (!e)
		return 0;
	if (sscanf(e, "%u:%u", &first, &count) != 2 || first >= NMSG ||
	    count == 0 || count > NMSG - first)
		return -1;
	msg_lo = first;
	msg_hi = first + count;
	return 0;
}

int main(int argc, char **argv)
{
	if (msg_range()) {
		fprintf(stderr, "bad SMT_VM_MSGS (FIRST:COUNT within %zu)\n",
			NMSG);
		return 2;
	}
	if (argc >= 3 && !strcmp(argv[1], "ksend"))
		return cmd_ksend(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "recv")) {
		bool v6 = argc >= 4 && !strcmp(argv[3], "6");

		if (v6)
			max_payload = MTU - 40 - SMT_HDR_LEN;
		return cmd_recv(argc >= 3 ? argv[2] : NULL, v6);
	}
	if (argc >= 3 && !strcmp(argv[1], "ksend") && strchr(argv[2], ':'))
		max_payload = MTU - 40 - SMT_HDR_LEN;
	if (argc >= 3 && !strcmp(argv[1], "bad"))
		return cmd_bad(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "ktls"))
		return cmd_ktls();
	fprintf(stderr,
		"usage: %s ksend DADDR | recv [READY_FILE [6]] | bad DADDR | ktls\n",
		argv[0]);
	return 2;
}
