// SPDX-License-Identifier: BSD-2-Clause
/*
 * SMT-tickets (docs/protocol.md 6.3, user/smtd/ticket.c): the key schedule
 * against known answers computed with the openssl command line
 * (tests/smtd/ticket-kat.sh), tickets built with real certificates from
 * scripts/mkcerts.sh (directory in $SMT_TKT_CERTS) and every way a ticket
 * or a HELLO can be wrong. Run by `make test-smtd`, no root needed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "keys.h"
#include "ticket.h"

#define KAT "tests/smtd/vectors/smt-ticket-kat.txt"

/* ---- known answers ------------------------------------------------------- */

static size_t kat(const char *name, uint8_t *out, size_t cap)
{
	FILE *f = fopen(KAT, "r");
	char line[512], hex[400];
	size_t n = 0;

	cr_assert(f, "cannot open %s (run from the top of the tree)", KAT);
	while (fgets(line, sizeof(line), f)) {
		char key[64];

		if (sscanf(line, "%63s %399s", key, hex) == 2 &&
		    !strcmp(key, name)) {
			for (n = 0; hex[2 * n] && n < cap; n++)
				cr_assert(sscanf(hex + 2 * n, "%2hhx",
						 &out[n]) == 1);
			break;
		}
	}
	fclose(f);
	cr_assert(n, "%s: no value %s", KAT, name);
	return n;
}

static void expect_kat(const char *name, const uint8_t *got, size_t len)
{
	uint8_t want[64];
	size_t n = kat(name, want, sizeof(want));

	cr_expect_eq(n, len, "%s: length %zu, want %zu", name, len, n);
	cr_expect(!memcmp(got, want, n), "%s differs from %s", name, KAT);
}

Test(ticket_kat, x25519_and_schedule)
{
	uint8_t c[32], slt[32], seph[32], pub[32], dh_lt[32], dh_eph[32];
	uint8_t T[64], CH[64], SH[64];
	size_t tl, chl, shl;
	static const struct {
		uint16_t suite;
		const char *md;
		size_t hl;
	} suites[] = {{0x1301, "SHA256", 32}, {0x1302, "SHA384", 48}};
	size_t i;

	kat("c_priv", c, 32);
	kat("s_lt_priv", slt, 32);
	kat("s_eph_priv", seph, 32);
	tl = kat("T", T, sizeof(T));
	chl = kat("CH", CH, sizeof(CH));
	shl = kat("SH", SH, sizeof(SH));
	cr_assert_eq(smt_x25519_public(c, pub), 0);
	expect_kat("c_pub", pub, 32);
	cr_assert_eq(smt_x25519_public(slt, pub), 0);
	expect_kat("s_lt_pub", pub, 32);
	cr_assert_eq(smt_x25519(c, pub, dh_lt), 0);
	expect_kat("dh_lt", dh_lt, 32);
	cr_assert_eq(smt_x25519_public(seph, pub), 0);
	cr_assert_eq(smt_x25519(c, pub, dh_eph), 0);
	expect_kat("dh_eph", dh_eph, 32);

	for (i = 0; i < 2; i++) {
		uint8_t es[48], s0[48], s1[48], fin[48], tag[8];
		char name[32];

		cr_assert_eq(smt_tkt_early(suites[i].suite, dh_lt, T, tl, CH,
					   chl, es, s0),
			     0);
		cr_assert_eq(smt_tkt_fs(suites[i].suite, es, dh_eph, T, tl, CH,
					chl, SH, shl, s1, fin, tag),
			     0);
#define K(field, buf, len)                                       \
	snprintf(name, sizeof(name), "%s." field, suites[i].md); \
	expect_kat(name, buf, len)
		K("es", es, suites[i].hl);
		K("s0", s0, suites[i].hl);
		K("s1", s1, suites[i].hl);
		K("finished", fin, suites[i].hl);
		K("tag", tag, 8);
#undef K
	}
}

Test(ticket_kat, small_order_share_refused)
{
	uint8_t c[32], zero[32] = {0}, out[32];

	kat("c_priv", c, 32);
	/* the all-zero point gives the all-zero secret (RFC 7748 6.1) */
	cr_expect_lt(smt_x25519(c, zero, out), 0);
}

/* smtd's keys held as EVP_PKEYs (the long-term key, pooled ephemeral
 * pairs) give the known answers, and a new pair is new each time */
Test(ticket_kat, x25519_held_keys)
{
	uint8_t c[32], slt[32], pub[32], pub2[32], dh[32], raw[32];
	uint8_t zero[32] = {0};
	EVP_PKEY *k, *g, *g2;
	size_t n = 32;

	kat("c_priv", c, 32);
	kat("s_lt_priv", slt, 32);
	k = smt_x25519_key(c);
	cr_assert(k);
	cr_assert_eq(smt_x25519_public(slt, pub), 0);
	cr_assert_eq(smt_x25519_derive(k, pub, dh), 0);
	expect_kat("dh_lt", dh, 32);
	cr_expect_lt(smt_x25519_derive(k, zero, dh), 0);
	EVP_PKEY_free(k);

	g = smt_x25519_gen(pub);
	g2 = smt_x25519_gen(pub2);
	cr_assert(g && g2);
	cr_expect(memcmp(pub, pub2, 32), "two new pairs, one share");
	/* the share is the pair's: DH both ways agrees */
	cr_assert_eq(EVP_PKEY_get_raw_private_key(g, raw, &n), 1);
	cr_assert_eq(smt_x25519(raw, pub2, dh), 0);
	cr_assert_eq(smt_x25519_derive(g2, pub, c), 0);
	cr_expect(!memcmp(dh, c, 32), "DH of two new pairs differs by side");
	OPENSSL_cleanse(raw, sizeof(raw));
	EVP_PKEY_free(g);
	EVP_PKEY_free(g2);
}

/* ---- tickets with real certificates ---------------------------------------- */

static const char *certs(void)
{
	const char *d = getenv("SMT_TKT_CERTS");

	cr_assert(d, "SMT_TKT_CERTS names no certificate directory "
		     "(scripts/mkcerts.sh DIR echo.smt)");
	return d;
}

static EVP_PKEY *load_key(const char *name)
{
	char path[512];
	EVP_PKEY *k;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.key", certs(), name);
	f = fopen(path, "r");
	cr_assert(f, "cannot open %s", path);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert(k);
	return k;
}

static STACK_OF(X509) * load_chain(const char *name)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	char path[512];
	X509 *x;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.crt", certs(), name);
	f = fopen(path, "r");
	cr_assert(f, "cannot open %s", path);
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)))
		sk_X509_push(sk, x);
	ERR_clear_error();
	fclose(f);
	cr_assert(sk_X509_num(sk) > 0);
	return sk;
}

static X509_STORE *store(void)
{
	X509_STORE *s = X509_STORE_new();
	char path[512];

	snprintf(path, sizeof(path), "%s/ca.crt", certs());
	cr_assert_eq(X509_STORE_load_file(s, path), 1);
	return s;
}

static uint8_t tkt[SMT_TKT_MAX];
static size_t tkt_len;

static struct smt_ticket fields(const char *service, int64_t nb, uint64_t life)
{
	struct smt_ticket t = {
		.suite = 0x1301,
		.not_before = nb,
		.not_after = nb + life,
		.hs_port = 4433,
		.smt_port = 9000,
		.ipproto = 17,
	};
	uint8_t priv[32];

	snprintf(t.service, sizeof(t.service), "%s", service);
	memset(t.id, 0xab, sizeof(t.id));
	cr_assert_eq(smt_x25519_keygen(priv, t.share), 0);
	return t;
}

static int make(const char *cert, const char *service, int64_t nb,
		uint64_t life)
{
	struct smt_ticket t = fields(service, nb, life);
	EVP_PKEY *k = load_key(cert);
	STACK_OF(X509) *sk = load_chain(cert);
	const char *why = NULL;
	int r = smt_ticket_build(&t, k, sk, tkt, sizeof(tkt), &tkt_len, &why);

	EVP_PKEY_free(k);
	sk_X509_pop_free(sk, X509_free);
	return r;
}

static int check(int64_t now, const char **why)
{
	struct smt_ticket t;
	X509_STORE *s = store();
	int r = smt_ticket_parse(tkt, tkt_len, &t, why);

	if (!r)
		r = smt_ticket_verify(&t, s, now, why);
	X509_STORE_free(s);
	return r;
}

Test(ticket, build_armor_parse_verify)
{
	int64_t now = time(NULL);
	static char text[4 * SMT_TKT_MAX / 3 + 256];
	static uint8_t back[SMT_TKT_MAX];
	struct smt_ticket t;
	const char *why = NULL;
	size_t n;

	cr_assert_eq(make("host", "echo.smt", now, 3600), 0);
	cr_expect_eq(check(now, &why), 0, "%s", why);
	cr_assert_gt(smt_ticket_armor(tkt, tkt_len, text, sizeof(text)), 0);
	cr_assert_eq(smt_ticket_unarmor(text, strlen(text), back, sizeof(back),
					&n, &why),
		     0, "%s", why);
	cr_assert_eq(n, tkt_len);
	cr_assert(!memcmp(back, tkt, n));
	cr_assert_eq(smt_ticket_parse(back, n, &t, &why), 0);
	cr_expect_str_eq(t.service, "echo.smt");
	cr_expect_eq(t.smt_port, 9000);
	cr_expect_eq(t.hs_port, 4433);
	cr_expect_eq(t.ipproto, 17);
	cr_expect_eq(t.sig_scheme, 0x0403); /* mkcerts makes P-256 keys */
}

Test(ticket, times)
{
	int64_t now = time(NULL);
	const char *why = NULL;

	cr_assert_eq(make("host", "echo.smt", now - 3600, 3600), 0);
	cr_expect_neq(check(now, &why), 0, "expired at now");
	cr_expect_str_eq(why, "ticket has expired");
	cr_expect_eq(check(now - 1, &why), 0, "one second before its end");
	cr_assert_eq(make("host", "echo.smt", now + 61, 3600), 0);
	cr_expect_neq(check(now, &why), 0);
	cr_expect_str_eq(why, "ticket is not valid yet");
	cr_assert_eq(make("host", "echo.smt", now + 60, 3600), 0);
	cr_expect_eq(check(now, &why), 0, "60 s of clock skew: %s", why);
	/* 7 days at most, when built and when parsed */
	cr_expect_neq(make("host", "echo.smt", now, SMT_TKT_LIFETIME_MAX + 1),
		      0);
	cr_assert_eq(make("host", "echo.smt", now, SMT_TKT_LIFETIME_MAX), 0);
	cr_expect_eq(check(now, &why), 0, "%s", why);
	/* not_after + 1 s (big-endian, last byte at 19; a carry goes on:
	 * a last byte of 0xff wrapped to 0 and the check met the signature
	 * first, about once in 256 seconds): 7 days + 1 s */
	for (int i = 19; i >= 12 && ++tkt[i] == 0; i--)
		;
	cr_expect_neq(check(now, &why), 0);
	cr_expect_str_eq(why, "ticket lifetime is not within 7 days");
}

Test(ticket, wrong_name_ca_or_expired_cert)
{
	int64_t now = time(NULL);
	const char *why = NULL;

	cr_assert_eq(make("host", "kv.smt", now, 3600), 0);
	cr_expect_neq(check(now, &why), 0);
	cr_expect_str_eq(why, "the certificate does not name the ticket's "
			      "service");
	cr_assert_eq(make("other", "echo.smt", now, 3600), 0);
	cr_expect_neq(check(now, &why), 0, "a certificate of another CA");
	cr_assert_eq(make("expired", "echo.smt", now, 3600), 0);
	cr_expect_neq(check(now, &why), 0, "an expired certificate");
}

/* Every byte of the signed part and of the signature matters. */
Test(ticket, forged_bytes)
{
	int64_t now = time(NULL);
	struct smt_ticket t;
	const char *why = NULL;
	size_t i, step;

	cr_assert_eq(make("host", "echo.smt", now, 3600), 0);
	cr_assert_eq(smt_ticket_parse(tkt, tkt_len, &t, &why), 0);
	step = tkt_len / 97 + 1;
	for (i = 0; i < tkt_len; i += step) {
		tkt[i] ^= 0x01;
		cr_expect_neq(check(now, &why), 0, "byte %zu flipped", i);
		tkt[i] ^= 0x01;
	}
	/* the server's share and the last signature byte in particular */
	tkt[42 + 8] ^= 0x80;
	cr_expect_neq(check(now, &why), 0);
	cr_expect_str_eq(why, "ticket signature does not verify");
	tkt[42 + 8] ^= 0x80;
	tkt[tkt_len - 1] ^= 0x01;
	cr_expect_neq(check(now, &why), 0);
	tkt[tkt_len - 1] ^= 0x01;
	cr_expect_eq(check(now, &why), 0, "restored: %s", why);
}

Test(ticket, truncated_and_trailing)
{
	int64_t now = time(NULL);
	struct smt_ticket t;
	const char *why = NULL;
	size_t n;

	cr_assert_eq(make("host", "echo.smt", now, 3600), 0);
	for (n = 0; n < tkt_len; n++)
		cr_expect_neq(smt_ticket_parse(tkt, n, &t, &why), 0,
			      "%zu of %zu bytes parse", n, tkt_len);
	tkt[tkt_len] = 0;
	cr_expect_neq(smt_ticket_parse(tkt, tkt_len + 1, &t, &why), 0);
	tkt[1] = 0x02; /* an unknown flag */
	cr_expect_neq(smt_ticket_parse(tkt, tkt_len, &t, &why), 0);
	cr_expect_str_eq(why, "unknown ticket flag set");
	tkt[1] = 0;
	tkt[0] = 2;
	cr_expect_neq(smt_ticket_parse(tkt, tkt_len, &t, &why), 0);
	tkt[0] = 1;
	tkt[3] = 0x04; /* TLS_AES_128_CCM_SHA256 is not an SMT suite */
	cr_expect_neq(smt_ticket_parse(tkt, tkt_len, &t, &why), 0);
}

Test(ticket, unarmor_errors)
{
	uint8_t out[64];
	const char *why = NULL;
	size_t n;
	const char *bad[] = {
		"",
		"-----BEGIN SMT TICKET-----\nAAAA\n",
		"-----BEGIN SMT TICKET-----\n-----END SMT TICKET-----\n",
		"-----BEGIN SMT TICKET-----\nAAA\n-----END SMT TICKET-----\n",
		"-----BEGIN SMT TICKET-----\n!!!!\n-----END SMT TICKET-----\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_neq(smt_ticket_unarmor(bad[i], strlen(bad[i]), out,
						 sizeof(out), &n, &why),
			      0, "case %zu", i);
}

/* ---- HELLO --------------------------------------------------------------- */

/* A HELLO with a 5-byte ticket and a chain of chain_len bytes */
static size_t hello(uint8_t *b, size_t chain_len)
{
	size_t len = SMT_TKT_HELLO_MIN + 5 + chain_len;
	uint8_t *c = b + SMT_TKT_TICKET_OFF + 3 + 5;

	memset(b, 0x5a, len);
	smt_tkt_put_hdr(b, SMT_TKT_HELLO, len);
	b[SMT_TKT_TICKET_OFF] = 0;
	b[SMT_TKT_TICKET_OFF + 1] = 0;
	b[SMT_TKT_TICKET_OFF + 2] = 5;
	c[0] = chain_len >> 16;
	c[1] = chain_len >> 8;
	c[2] = chain_len;
	return len;
}

Test(ticket_hello, layout_and_errors)
{
	uint8_t b[512];
	struct smt_tkt_hello h;
	const char *why = NULL;
	size_t len = hello(b, 0), n;

	cr_assert_eq(smt_tkt_msg_len(b, len, &why), (int)len);
	cr_expect_eq(smt_tkt_msg_len(b, 7, &why), 0, "needs more");
	cr_assert_eq(smt_tkt_hello_parse(b, len, &h, &why), 0, "%s", why);
	cr_expect_eq(h.chain_len, 0);
	cr_expect_eq(h.ticket_len, 5);
	cr_expect(h.ticket == b + SMT_TKT_TICKET_OFF + 3);
	cr_expect_eq(h.time_ms, 0x5a5a5a5a5a5a5a5aull);
	for (n = 0; n < len; n++)
		cr_expect_neq(smt_tkt_hello_parse(b, n, &h, &why), 0);
	b[0] = 0x16; /* a TLS record */
	cr_expect_lt(smt_tkt_msg_len(b, len, &why), 0);
	b[0] = 'S';
	b[5] = 4;
	cr_expect_lt(smt_tkt_msg_len(b, len, &why), 0);
	/* a chain without its signature, a malformed chain */
	len = hello(b, 10);
	n = SMT_TKT_HELLO_MIN + 5;
	b[n] = 0;
	b[n + 1] = 0;
	b[n + 2] = 7;
	cr_expect_neq(smt_tkt_hello_parse(b, len, &h, &why), 0);
	len = hello(b, 10);
	cr_expect_neq(smt_tkt_hello_parse(b, len, &h, &why), 0);
	/* an empty ticket, a ticket longer than the HELLO */
	len = hello(b, 0);
	b[SMT_TKT_TICKET_OFF + 2] = 0;
	cr_expect_neq(smt_tkt_hello_parse(b, len, &h, &why), 0);
	b[SMT_TKT_TICKET_OFF + 2] = 6;
	cr_expect_neq(smt_tkt_hello_parse(b, len, &h, &why), 0);
}

Test(ticket_hello, client_signature)
{
	EVP_PKEY *k = load_key("host");
	uint8_t hash[32] = {1, 2, 3}, sig[SMT_TKT_SIG_MAX];
	uint16_t scheme;
	size_t sl;

	cr_assert_eq(smt_tkt_sign(k, "client", hash, 32, &scheme, sig, &sl), 0);
	cr_expect(smt_tkt_sig_ok(k, "client", hash, 32, scheme, sig, sl));
	/* the role is part of the content: a server signature does not
	 * pass for a client's */
	cr_expect(!smt_tkt_sig_ok(k, "server", hash, 32, scheme, sig, sl));
	hash[0] ^= 1;
	cr_expect(!smt_tkt_sig_ok(k, "client", hash, 32, scheme, sig, sl));
	cr_expect(!smt_tkt_sig_ok(k, "client", hash, 32, 0x0807, sig, sl),
		  "another scheme");
	EVP_PKEY_free(k);
}

/* A client signature of hash by k with nonce n (smt_tkt_sign_pre), checked
 * to verify; its r (caller frees). */
static BIGNUM *signed_r(EVP_PKEY *k, const uint8_t *hash,
			struct smt_tkt_nonce *n)
{
	uint8_t sig[SMT_TKT_SIG_MAX];
	const unsigned char *p = sig;
	ECDSA_SIG *s;
	BIGNUM *r;
	uint16_t scheme;
	size_t sl;

	cr_assert_eq(
		smt_tkt_sign_pre(k, "client", hash, 32, n, &scheme, sig, &sl),
		0);
	cr_expect_eq(scheme, 0x0403);
	cr_expect(smt_tkt_sig_ok(k, "client", hash, 32, scheme, sig, sl));
	cr_expect(!smt_tkt_sig_ok(k, "server", hash, 32, scheme, sig, sl));
	s = d2i_ECDSA_SIG(NULL, &p, (long)sl);
	r = s ? BN_dup(ECDSA_SIG_get0_r(s)) : NULL;
	ECDSA_SIG_free(s);
	cr_assert(r);
	return r;
}

/*
 * A HELLO signature with its nonce made ahead (smt_tkt_nonce): a valid
 * signature whose r is the nonce's, the nonce wiped by its one use (a
 * second signature with it makes a fresh one), a nonce of another key not
 * used, and none for a key that is not P-256.
 */
Test(ticket_hello, client_signature_nonce_made_ahead)
{
	EVP_PKEY *k = load_key("host"), *other = EVP_EC_gen("P-256"),
		 *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	uint8_t hash[32] = {4, 5, 6};
	struct smt_tkt_nonce n1, n2, no;
	BIGNUM *r1, *r2, *want;

	cr_assert(k && other && ed);
	cr_assert_eq(smt_tkt_nonce_make(k, &n1), 0);
	cr_assert_eq(smt_tkt_nonce_make(k, &n2), 0);
	want = BN_dup(n1.r);
	r1 = signed_r(k, hash, &n1);
	cr_expect(!BN_cmp(r1, want), "the nonce made ahead was used");
	cr_expect(!n1.key && !n1.kinv && !n1.r && !n1.ec,
		  "a nonce is wiped by its use");
	BN_free(want);
	/* the used nonce again: a fresh one, another r */
	r2 = signed_r(k, hash, &n1);
	cr_expect(BN_cmp(r1, r2), "a used nonce signs no second time");
	BN_free(r2);
	/* the second nonce: its own r */
	r2 = signed_r(k, hash, &n2);
	cr_expect(BN_cmp(r1, r2));
	BN_free(r2);
	/* another key's nonce: not used (and wiped), k's signature made */
	cr_assert_eq(smt_tkt_nonce_make(other, &n2), 0);
	want = BN_dup(n2.r);
	r2 = signed_r(k, hash, &n2);
	cr_expect(BN_cmp(r2, want), "another key's nonce not used");
	cr_expect(!n2.key);
	BN_free(r2);
	BN_free(want);
	cr_expect_eq(smt_tkt_nonce_make(ed, &no), -EOPNOTSUPP);
	BN_free(r1);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	EVP_PKEY_free(ed);
}
