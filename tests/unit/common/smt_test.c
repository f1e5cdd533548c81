// SPDX-License-Identifier: BSD-2-Clause
/*
 * Shared unit-test helpers (see smt_test.h): hex, RNG, packets of a message,
 * endpoints that skip without CAP_NET_RAW.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "smt_test.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t th_hex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	int hi = -1;

	for (; *hex; hex++) {
		int v;

		if (*hex == ' ' || *hex == '\n' || *hex == '\t')
			continue;
		v = hexval(*hex);
		cr_assert(v >= 0, "bad hex digit '%c'", *hex);
		if (hi < 0) {
			hi = v;
			continue;
		}
		cr_assert(n < max, "hex longer than %zu bytes", max);
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	cr_assert(hi < 0, "odd number of hex digits");
	return n;
}

uint64_t th_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

void th_fill(uint8_t *buf, size_t n, uint64_t seed)
{
	uint64_t s = seed | 1;

	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(th_rand(&s) >> 56);
}

static void pkts_push(struct th_pkts *p, const uint8_t *pkt, uint32_t len)
{
	p->pkt = realloc(p->pkt, (p->n + 1) * sizeof(*p->pkt));
	p->len = realloc(p->len, (p->n + 1) * sizeof(*p->len));
	cr_assert(p->pkt && p->len);
	p->pkt[p->n] = malloc(len);
	cr_assert(p->pkt[p->n]);
	memcpy(p->pkt[p->n], pkt, len);
	p->len[p->n++] = len;
}

void th_packetize(const struct smt_wire_msg *m, uint32_t max_payload,
		  const struct smt_data_tmpl *t, struct th_pkts *out)
{
	uint8_t *buf = malloc(SMT_HDR_LEN + max_payload);
	uint32_t off = 0, n;

	cr_assert(buf);
	memset(out, 0, sizeof(*out));
	while ((n = smt_data_build(m, off, max_payload, t, buf)) > 0) {
		pkts_push(out, buf, SMT_HDR_LEN + n);
		off += n;
	}
	cr_assert_eq(off, m->wire_len, "packets cover the wire stream");
	free(buf);
}

void th_shuffle_dup(struct th_pkts *p, size_t ndup, uint64_t seed)
{
	uint64_t s = seed | 1;

	for (size_t i = p->n; i > 1; i--) {
		size_t j = th_rand(&s) % i;
		uint8_t *tp = p->pkt[i - 1];
		uint32_t tl = p->len[i - 1];

		p->pkt[i - 1] = p->pkt[j];
		p->len[i - 1] = p->len[j];
		p->pkt[j] = tp;
		p->len[j] = tl;
	}
	for (size_t d = 0; d < ndup && p->n; d++) {
		size_t j = th_rand(&s) % p->n;

		pkts_push(p, p->pkt[j], p->len[j]);
	}
}

void th_pkts_free(struct th_pkts *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->pkt[i]);
	free(p->pkt);
	free(p->len);
	memset(p, 0, sizeof(*p));
}

struct smt_aead *th_aead(enum smt_cipher c, uint8_t seed)
{
	uint8_t key[SMT_KEY_MAX], iv[SMT_IV_LEN];
	struct smt_aead *a;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(seed + i);
	for (size_t i = 0; i < sizeof(iv); i++)
		iv[i] = (uint8_t)(seed * 7 + i);
	a = smt_aead_new(c, key, smt_cipher_key_len(c), iv);
	cr_assert(a, "smt_aead_new(%d)", c);
	return a;
}

int th_feed(struct smt_rx_msg *m, struct smt_aead *rx,
	    const struct smt_limits *l, const struct th_pkts *p,
	    unsigned int *drops)
{
	int last = SMT_RX_MORE, first_drop = 0;

	for (size_t i = 0; i < p->n; i++) {
		struct smt_pkt pk;
		bool prog;
		int r = smt_pkt_parse(p->pkt[i], p->len[i], l, -1, &pk);

		if (!r)
			r = smt_rx_msg_add(m, &pk, rx, &prog);
		if (r > 0) {
			if (drops)
				drops[r]++;
			if (!first_drop && r != SMT_DROP_DUPLICATE)
				first_drop = r;
			continue;
		}
		if (r == SMT_RX_DONE)
			last = SMT_RX_DONE;
	}
	if (last == SMT_RX_DONE)
		return SMT_RX_DONE;
	return first_drop ? first_drop : SMT_RX_MORE;
}

struct smt_endpoint *th_ep_open(const struct smt_endpoint_opts *o)
{
	struct smt_endpoint *ep = NULL;
	const char *ci = getenv("CI");
	int err;

	err = smt_endpoint_open(o, &ep);
	if (err == -SMT_E_NOCAP) {
		cr_assert(!(ci && !strcmp(ci, "true")),
			  "CI=true but no CAP_NET_RAW: %s", smt_strerror(err));
		cr_skip_test("SKIP: %s", smt_strerror(err));
	}
	cr_assert_eq(err, 0, "smt_endpoint_open: %s", smt_strerror(err));
	return ep;
}

void th_loopback_params(struct smt_session_params *p, uint16_t peer_port,
			bool tls_client, uint8_t key_seed)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&p->peer;
	unsigned int i;

	memset(p, 0, sizeof(*p));
	p->sz = sizeof(*p);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(peer_port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->tls_client = tls_client;
	p->suite = SMT_TLS_AES_128_GCM_SHA256;
	for (i = 0; i < 16; i++) {
		p->c_key[i] = key_seed + i;
		p->s_key[i] = key_seed + 0x40 + i;
	}
	for (i = 0; i < 12; i++) {
		p->c_iv[i] = key_seed + 0x80 + i;
		p->s_iv[i] = key_seed + 0xc0 + i;
	}
}

void th_join(struct smt_endpoint *a, struct smt_endpoint *b, uint8_t key_seed,
	     uint32_t *sa, uint32_t *sb)
{
	struct smt_session_params p;

	cr_assert_neq(smt_endpoint_port(a), smt_endpoint_port(b));
	th_loopback_params(&p, smt_endpoint_port(b), true, key_seed);
	cr_assert_eq(smt_session_add(a, &p, sa), 0);
	th_loopback_params(&p, smt_endpoint_port(a), false, key_seed);
	cr_assert_eq(smt_session_add(b, &p, sb), 0);
	smt_session_params_wipe(&p);
}

uint64_t th_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t th_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void th_pump_until(struct smt_endpoint *a, struct smt_endpoint *b,
		   struct smt_msg *a_msg, unsigned int ms)
{
	uint64_t end = th_mono_ms() + ms;
	struct smt_msg m;

	while (th_mono_ms() < end) {
		smt_wait(a, 1);
		smt_wait(b, 1);
		while (smt_recv(b, &m) == 0) {
			if (m.kind == SMT_MSG_REQUEST) {
				for (size_t i = 0; i < m.len; i++)
					m.data[i] ^= 0x5a;
				cr_assert_eq(smt_reply(b, m.session, m.id,
						       m.data, m.len),
					     0);
			}
			smt_msg_release(&m);
		}
		if (smt_recv(a, a_msg) == 0)
			return;
	}
	cr_assert_fail("no message on endpoint a within %u ms", ms);
}

/* Whether fd's timerfd repeats every ms (its fdinfo's it_interval). */
static bool tfd_period_is(int fd, unsigned int ms)
{
	char path[64], line[128], want[64];
	bool yes = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	snprintf(want, sizeof(want), "it_interval: (%u, %u)", ms / 1000,
		 ms % 1000 * 1000000);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!yes && fgets(line, sizeof(line), f))
		yes = !strncmp(line, want, strlen(want));
	fclose(f);
	return yes;
}

int th_timerfds(unsigned int periodic_ms)
{
	char path[64], link[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		ssize_t k;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		k = readlink(path, link, sizeof(link) - 1);
		if (k <= 0)
			continue;
		link[k] = 0;
		if (strcmp(link, "anon_inode:[timerfd]"))
			continue;
		n += !periodic_ms || tfd_period_is(fd, periodic_ms);
	}
	return n;
}
