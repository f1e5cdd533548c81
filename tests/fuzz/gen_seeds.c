// SPDX-License-Identifier: BSD-2-Clause
/*
 * Writes the committed seed corpora of the fuzz targets (make fuzz-seeds):
 * valid DATA packets of messages encoded under the fixed fuzz key, control
 * packets of every type tagged under it, and a few near misses, so that the
 * fuzzers start past the header rules and reach decryption.
 * Usage: gen_seeds DIR   (writes DIR/fuzz_pkt_parse/, DIR/fuzz_msg_decode/)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <endian.h>

#include "fuzz_common.h"

static const char *out_dir;

static void put(const char *target, const char *name, const uint8_t *buf,
		size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* A message's packets, framed for fuzz_msg_decode into buf. */
struct stream {
	uint8_t buf[65536];
	size_t len;
};

static void stream_add(struct stream *s, const uint8_t *pkt, size_t len)
{
	if (s->len + 2 + len > sizeof(s->buf)) {
		fprintf(stderr, "gen_seeds: stream too long\n");
		exit(1);
	}
	s->buf[s->len++] = (uint8_t)(len >> 8);
	s->buf[s->len++] = (uint8_t)len;
	memcpy(s->buf + s->len, pkt, len);
	s->len += len;
}

static void encode(struct smt_aead *a, uint64_t id, uint32_t size,
		   uint32_t flags, uint32_t R, struct smt_wire_msg *m)
{
	uint8_t *app = malloc(size ? size : 1);

	for (uint32_t i = 0; i < size; i++)
		app[i] = (uint8_t)(i * 7 + id);
	if (!app || smt_msg_encode(a, FUZZ_B, id, app, size, flags, R, m)) {
		fprintf(stderr, "gen_seeds: encode failed\n");
		exit(1);
	}
	free(app);
}

/* Packets of m with max_payload, in order or reversed, each dup times. */
static void packets(const struct smt_wire_msg *m, uint32_t maxp,
		    struct stream *s, int reverse, int dup)
{
	uint32_t offs[256], n = 0, off = 0, len;
	uint8_t pkt[SMT_HDR_LEN + 2048];

	while ((len = smt_data_build(m, off, maxp, NULL, pkt)) > 0 && n < 256) {
		offs[n++] = off;
		off += len;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t o = offs[reverse ? n - 1 - i : i];

		len = smt_data_build(m, o, maxp, NULL, pkt);
		for (int d = 0; d < dup; d++)
			stream_add(s, pkt, SMT_HDR_LEN + len);
	}
}

static void pkt_seeds(struct smt_aead *a)
{
	static const uint8_t types[] = {SMT_TYPE_GRANT,	   SMT_TYPE_RESEND,
					SMT_TYPE_UNKNOWN,  SMT_TYPE_BUSY,
					SMT_TYPE_NEED_ACK, SMT_TYPE_ACK};
	uint8_t buf[FUZZ_PKT_PREFIX + 2048];
	struct smt_wire_msg m;
	char name[64];
	uint32_t len;

	encode(a, 2, 5000, 0, 4096, &m);
	/* DATA: record start, middle, record 1 start; IPv6 and IPv4 */
	buf[0] = 1;
	buf[1] = buf[2] = 0;
	len = smt_data_build(&m, 0, 1000, NULL, buf + FUZZ_PKT_PREFIX);
	put("fuzz_pkt_parse", "data_start", buf, FUZZ_PKT_PREFIX + 40 + len);
	len = smt_data_build(&m, 1000, 1000, NULL, buf + FUZZ_PKT_PREFIX);
	put("fuzz_pkt_parse", "data_middle", buf, FUZZ_PKT_PREFIX + 40 + len);
	len = smt_data_build(&m, m.rec_off[1], 1000, NULL,
			     buf + FUZZ_PKT_PREFIX);
	put("fuzz_pkt_parse", "data_rec1", buf, FUZZ_PKT_PREFIX + 40 + len);
	/* IPID_OFF template on IPv4, packet 2 of a G = 1000 segment */
	buf[0] = 0;
	buf[2] = 2;
	len = smt_data_build(&m, 2000, 1000, NULL, buf + FUZZ_PKT_PREFIX);
	{
		struct smt_hdr *h = (struct smt_hdr *)(buf + FUZZ_PKT_PREFIX);

		h->pkt_off = h->seg_off;
		h->pkt_idx = htobe16(1000);
		h->flags = htobe16(SMT_F_IPID_OFF);
	}
	put("fuzz_pkt_parse", "data_ipid_off", buf, FUZZ_PKT_PREFIX + 40 + len);
	smt_wire_msg_free(&m);

	buf[0] = 1;
	for (size_t i = 0; i < sizeof(types); i++) {
		struct smt_ctl c = {.type = types[i],
				    .sport = 1,
				    .dport = 2,
				    .msg_id = types[i] == SMT_TYPE_ACK ? 0 : 4,
				    .ctl_seq = 7 + i,
				    .offset = 100,
				    .length = 200,
				    .prio = 3,
				    .count = 2,
				    .ids = {3, 5}};
		int n = smt_ctl_build(a, &c, buf + FUZZ_PKT_PREFIX, 2048);

		if (n < 0)
			exit(1);
		snprintf(name, sizeof(name), "ctl_%02x", types[i]);
		put("fuzz_pkt_parse", name, buf, FUZZ_PKT_PREFIX + (size_t)n);
	}
	/* near misses: short header, bad version */
	memset(buf, 0, sizeof(buf));
	buf[FUZZ_PKT_PREFIX + 12] = SMT_DOFF_VER;
	put("fuzz_pkt_parse", "short_header", buf, FUZZ_PKT_PREFIX + 39);
	buf[FUZZ_PKT_PREFIX + 12] = 0x51;
	buf[FUZZ_PKT_PREFIX + 13] = SMT_TYPE_DATA;
	put("fuzz_pkt_parse", "bad_version", buf, FUZZ_PKT_PREFIX + 60);
}

/* The valid streams must decode, or the fuzzer never reaches delivery. */
static void check_stream(struct smt_aead *a, const struct stream *s,
			 int want_take)
{
	struct smt_limits l = fuzz_limits();
	struct smt_rx_msg *m = NULL;
	size_t i = 0;
	int r = SMT_RX_MORE;

	while (i + 2 <= s->len && r != SMT_RX_DONE) {
		size_t n = (size_t)s->buf[i] << 8 | s->buf[i + 1];
		struct smt_pkt p;
		bool prog;

		i += 2;
		if (!n) {
			smt_rx_msg_discard_provisional(m);
			continue;
		}
		if (smt_pkt_parse(s->buf + i, n, &l, -1, &p))
			break;
		i += n;
		if (!m)
			m = smt_rx_msg_new(p.msg_id, &l);
		r = smt_rx_msg_add(m, &p, a, &prog);
	}
	if (r == SMT_RX_DONE) {
		uint8_t *app;
		uint32_t len;

		r = smt_rx_msg_take(m, &app, &len, NULL);
		if (!r)
			free(app);
		if (r == want_take) {
			smt_rx_msg_free(m);
			return;
		}
	}
	fprintf(stderr, "gen_seeds: a seed stream does not decode (%d)\n", r);
	exit(1);
}

static void msg_seeds(struct smt_aead *a)
{
	struct smt_wire_msg m;
	struct stream s;

	/* one record, one packet */
	encode(a, 2, 100, 0, 16384, &m);
	s.len = 0;
	packets(&m, 1440, &s, 0, 1);
	check_stream(a, &s, 0);
	put("fuzz_msg_decode", "one_record", s.buf, s.len);
	smt_wire_msg_free(&m);

	/* three records of 4096, 1000-byte packets, reversed, duplicated */
	encode(a, 4, 9000, 0, 4096, &m);
	s.len = 0;
	packets(&m, 1000, &s, 1, 2);
	check_stream(a, &s, 0);
	put("fuzz_msg_decode", "three_records_rev_dup", s.buf, s.len);
	s.len = 0;
	packets(&m, 700, &s, 0, 1);
	check_stream(a, &s, 0);
	put("fuzz_msg_decode", "three_records_700", s.buf, s.len);
	/* a discard marker in the middle, then the whole message again */
	s.len = 0;
	packets(&m, 1000, &s, 0, 1);
	s.buf[s.len++] = 0;
	s.buf[s.len++] = 0;
	packets(&m, 1000, &s, 1, 1);
	put("fuzz_msg_decode", "discard_then_again", s.buf, s.len);
	smt_wire_msg_free(&m);

	/* one record with 200 bytes of zero padding, as a padding sender
	 * would make it */
	{
		uint8_t content[8 + 50] = {0, 0, 0, 50};
		uint32_t off[2] = {0, 0};
		int n;

		m.msg_id = 10;
		m.nrec = 1;
		m.rec_off = off;
		m.wire = malloc(sizeof(content) + 22 + 200);
		n = smt_record_seal(a, smt_record_seq(10, FUZZ_B, 0), content,
				    sizeof(content), 200, m.wire);
		if (!m.wire || n < 0)
			exit(1);
		m.wire_len = off[1] = (uint32_t)n;
		s.len = 0;
		packets(&m, 100, &s, 1, 1);
		check_stream(a, &s, 0);
		put("fuzz_msg_decode", "padded_record", s.buf, s.len);
		free(m.wire);
	}

	/* ONEWAY response (rejected at take), empty message */
	encode(a, 7, 10, SMT_INNER_ONEWAY, 16384, &m);
	s.len = 0;
	packets(&m, 1440, &s, 0, 1);
	check_stream(a, &s, SMT_DROP_BAD_INNER);
	put("fuzz_msg_decode", "oneway_response", s.buf, s.len);
	smt_wire_msg_free(&m);
	encode(a, 8, 0, 0, 16384, &m);
	s.len = 0;
	packets(&m, 1440, &s, 0, 1);
	check_stream(a, &s, 0);
	put("fuzz_msg_decode", "empty", s.buf, s.len);
	smt_wire_msg_free(&m);
}

int main(int argc, char **argv)
{
	struct smt_aead *a;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	if (mkdir(out_dir, 0755) && errno != EEXIST) {
		perror(out_dir);
		return 1;
	}
	a = smt_aead_new(FUZZ_CIPHER, fuzz_key, sizeof(fuzz_key), fuzz_iv);
	if (!a) {
		fprintf(stderr, "gen_seeds: cannot make the fuzz key\n");
		return 1;
	}
	pkt_seeds(a);
	msg_seeds(a);
	smt_aead_free(a);
	return 0;
}
