// SPDX-License-Identifier: BSD-2-Clause
/*
 * SMT-tickets: format, signatures, HELLO parsing and key schedule
 * (docs/protocol.md section 6.3). See ticket.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "keys.h"
#include "ticket.h"

#define BEGIN_LINE "-----BEGIN SMT TICKET-----"
#define END_LINE "-----END SMT TICKET-----"

static int fail(const char **why, const char *msg)
{
	if (why)
		*why = msg;
	return -EINVAL;
}

const char *smt_tkt_md(uint16_t suite, size_t *hash_len)
{
	switch (suite) {
	case 0x1301:
	case 0x1303:
		*hash_len = 32;
		return "SHA256";
	case 0x1302:
		*hash_len = 48;
		return "SHA384";
	default:
		return NULL;
	}
}

/* Each certificate a 3-byte length and DER; the whole within max. */
static bool chain_well_formed(const uint8_t *c, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t n;

		if (len - off < 3)
			return false;
		n = smt_get_be24(c + off);
		off += 3;
		if (!n || n > len - off)
			return false;
		off += n;
	}
	return len > 0;
}

/* sig_scheme, sig_len, sig at b[off..len) exactly. */
static int parse_sig(const uint8_t *b, size_t off, size_t len, uint16_t *scheme,
		     const uint8_t **sig, size_t *sig_len, const char **why)
{
	if (len - off < 4)
		return fail(why, "truncated before its signature");
	*scheme = smt_get_be16(b + off);
	*sig_len = smt_get_be16(b + off + 2);
	if (!*sig_len || *sig_len > SMT_TKT_SIG_MAX)
		return fail(why, "signature length out of range");
	if (len - off - 4 != *sig_len)
		return fail(why, "signature length does not match the size");
	*sig = b + off + 4;
	return 0;
}

int smt_ticket_parse(const uint8_t *b, size_t len, struct smt_ticket *t,
		     const char **why)
{
	size_t n, off, hl;

	memset(t, 0, sizeof(*t));
	if (len < 42 || len > SMT_TKT_MAX)
		return fail(why, "ticket size out of range");
	if (b[0] != SMT_TKT_VERSION)
		return fail(why, "unknown ticket version");
	t->flags = b[1];
	if (t->flags & ~SMT_TKT_F_CLIENT_CERT)
		return fail(why, "unknown ticket flag set");
	t->suite = smt_get_be16(b + 2);
	if (!smt_tkt_md(t->suite, &hl))
		return fail(why, "ticket names no SMT cipher suite");
	t->not_before = smt_get_be64(b + 4);
	t->not_after = smt_get_be64(b + 12);
	if (t->not_after <= t->not_before ||
	    t->not_after - t->not_before > SMT_TKT_LIFETIME_MAX)
		return fail(why, "ticket lifetime is not within 7 days");
	memcpy(t->id, b + 20, SMT_TKT_ID_LEN);
	t->hs_port = smt_get_be16(b + 36);
	t->smt_port = smt_get_be16(b + 38);
	t->ipproto = b[40];
	if (!t->hs_port || !t->smt_port)
		return fail(why, "ticket has a zero port");
	n = b[41];
	if (!n || n > SMT_TKT_NAME_MAX)
		return fail(why, "service name length out of range");
	if (len < 77 + n)
		return fail(why, "ticket truncated");
	memcpy(t->service, b + 42, n);
	t->service[n] = 0;
	if (strlen(t->service) != n)
		return fail(why, "service name holds a NUL byte");
	memcpy(t->share, b + 42 + n, SMT_TKT_SHARE_LEN);
	t->chain_len = smt_get_be24(b + 74 + n);
	t->chain = b + 77 + n;
	off = 77 + n;
	if (t->chain_len > len - off || t->chain_len > SMT_TKT_CHAIN_MAX)
		return fail(why, "certificate chain length out of range");
	if (!chain_well_formed(t->chain, t->chain_len))
		return fail(why, "certificate chain is malformed");
	off += t->chain_len;
	t->signed_len = off;
	if (parse_sig(b, off, len, &t->sig_scheme, &t->sig, &t->sig_len, why))
		return -EINVAL;
	t->raw = b;
	t->raw_len = len;
	return 0;
}

static int sha256(const uint8_t *b, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	return EVP_Digest(b, len, out, &n, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

/* The signature's content: 64 spaces, the context string, 0, hash. */
static size_t sig_content(const char *role, const uint8_t *hash,
			  size_t hash_len, uint8_t *out)
{
	size_t n;

	memset(out, 0x20, 64);
	n = 64 + (size_t)sprintf((char *)out + 64, "SMT-ticket v1 %s", role);
	out[n++] = 0;
	memcpy(out + n, hash, hash_len);
	return n + hash_len;
}

/* The scheme that key signs with, and the digest (NULL for Ed25519). */
static int key_scheme(EVP_PKEY *key, uint16_t *scheme, const EVP_MD **md)
{
	char group[32];

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) ||
		    strcmp(group, "prime256v1"))
			return -EOPNOTSUPP;
		*scheme = 0x0403;
		*md = EVP_sha256();
		return 0;
	case EVP_PKEY_RSA:
		*scheme = 0x0804;
		*md = EVP_sha256();
		return 0;
	case EVP_PKEY_ED25519:
		*scheme = 0x0807;
		*md = NULL;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static EVP_MD_CTX *sig_ctx(EVP_PKEY *key, uint16_t scheme, bool sign)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *p = NULL;
	const EVP_MD *md;
	uint16_t want;
	int ok;

	if (!m || key_scheme(key, &want, &md) || want != scheme)
		goto fail;
	ok = sign ? EVP_DigestSignInit(m, &p, md, NULL, key)
		  : EVP_DigestVerifyInit(m, &p, md, NULL, key);
	if (ok != 1)
		goto fail;
	if (scheme == 0x0804 &&
	    (EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(p, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto fail;
	return m;
fail:
	EVP_MD_CTX_free(m);
	return NULL;
}

int smt_tkt_sign(EVP_PKEY *key, const char *role, const uint8_t *hash,
		 size_t hash_len, uint16_t *scheme, uint8_t *sig,
		 size_t *sig_len)
{
	uint8_t content[64 + 32 + SMT_TKT_HASH_MAX];
	size_t clen = sig_content(role, hash, hash_len, content);
	const EVP_MD *md;
	EVP_MD_CTX *m;
	int err = -EIO;

	if (key_scheme(key, scheme, &md))
		return -EOPNOTSUPP;
	m = sig_ctx(key, *scheme, true);
	*sig_len = SMT_TKT_SIG_MAX;
	if (m && EVP_DigestSign(m, NULL, sig_len, content, clen) == 1 &&
	    *sig_len <= SMT_TKT_SIG_MAX &&
	    EVP_DigestSign(m, sig, sig_len, content, clen) == 1)
		err = 0;
	EVP_MD_CTX_free(m);
	return err;
}

/*
 * OpenSSL 3.0 has no provider call for an ECDSA signature with a nonce made
 * ahead: ECDSA_sign_setup and ECDSA_do_sign_ex on the key's EC_KEY are the
 * (deprecated, still supported) way.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
int smt_tkt_nonce_make(EVP_PKEY *key, struct smt_tkt_nonce *n)
{
	BIGNUM *kinv = NULL, *r = NULL;
	const EVP_MD *md;
	uint16_t scheme;
	EC_KEY *ec;

	memset(n, 0, sizeof(*n));
	if (key_scheme(key, &scheme, &md) || scheme != 0x0403)
		return -EOPNOTSUPP;
	ec = EVP_PKEY_get1_EC_KEY(key);
	if (!ec || ECDSA_sign_setup(ec, NULL, &kinv, &r) != 1 ||
	    !EVP_PKEY_up_ref(key)) {
		BN_clear_free(kinv);
		BN_clear_free(r);
		EC_KEY_free(ec);
		ERR_clear_error();
		return -EIO;
	}
	*n = (struct smt_tkt_nonce){.key = key, .ec = ec, .kinv = kinv, .r = r};
	return 0;
}

void smt_tkt_nonce_wipe(struct smt_tkt_nonce *n)
{
	BN_clear_free(n->kinv);
	BN_clear_free(n->r);
	EC_KEY_free(n->ec);
	EVP_PKEY_free(n->key);
	memset(n, 0, sizeof(*n));
}

int smt_tkt_sign_pre(EVP_PKEY *key, const char *role, const uint8_t *hash,
		     size_t hash_len, struct smt_tkt_nonce *n, uint16_t *scheme,
		     uint8_t *sig, size_t *sig_len)
{
	uint8_t content[64 + 32 + SMT_TKT_HASH_MAX], dg[32];
	size_t clen = sig_content(role, hash, hash_len, content);
	ECDSA_SIG *s = NULL;
	uint8_t *p = sig;
	int len, err = -EIO;

	if (!n || !n->key || n->key != key) {
		if (n)
			smt_tkt_nonce_wipe(n);
		return smt_tkt_sign(key, role, hash, hash_len, scheme, sig,
				    sig_len);
	}
	*scheme = 0x0403;
	if (EVP_Digest(content, clen, dg, NULL, EVP_sha256(), NULL) == 1)
		s = ECDSA_do_sign_ex(dg, sizeof(dg), n->kinv, n->r, n->ec);
	smt_tkt_nonce_wipe(n);
	if (!s) { /* s = 0 with this nonce (never seen): a fresh one */
		ERR_clear_error();
		return smt_tkt_sign(key, role, hash, hash_len, scheme, sig,
				    sig_len);
	}
	len = i2d_ECDSA_SIG(s, NULL);
	if (len > 0 && len <= SMT_TKT_SIG_MAX && i2d_ECDSA_SIG(s, &p) == len) {
		*sig_len = (size_t)len;
		err = 0;
	}
	ECDSA_SIG_free(s);
	OPENSSL_cleanse(dg, sizeof(dg));
	ERR_clear_error();
	return err;
}
#pragma GCC diagnostic pop

int smt_tkt_sig_ok(EVP_PKEY *key, const char *role, const uint8_t *hash,
		   size_t hash_len, uint16_t scheme, const uint8_t *sig,
		   size_t sig_len)
{
	uint8_t content[64 + 32 + SMT_TKT_HASH_MAX];
	size_t clen = sig_content(role, hash, hash_len, content);
	EVP_MD_CTX *m = sig_ctx(key, scheme, false);
	int ok = m && EVP_DigestVerify(m, sig, sig_len, content, clen) == 1;

	EVP_MD_CTX_free(m);
	ERR_clear_error();
	return ok;
}

int smt_ticket_build(const struct smt_ticket *t, EVP_PKEY *key,
		     STACK_OF(X509) * chain, uint8_t *out, size_t cap,
		     size_t *len, const char **why)
{
	size_t n = strlen(t->service), off, hl;
	uint8_t hash[32];
	uint16_t scheme;
	size_t sig_len, cl;

	if (!n || n > SMT_TKT_NAME_MAX || cap < 77 + n)
		return fail(why, "service name too long");
	if (!smt_tkt_md(t->suite, &hl))
		return fail(why, "not an SMT cipher suite");
	if (t->not_after <= t->not_before ||
	    t->not_after - t->not_before > SMT_TKT_LIFETIME_MAX)
		return fail(why, "ticket lifetime is not within 7 days");
	out[0] = SMT_TKT_VERSION;
	out[1] = t->flags;
	smt_put_be16(out + 2, t->suite);
	smt_put_be64(out + 4, t->not_before);
	smt_put_be64(out + 12, t->not_after);
	memcpy(out + 20, t->id, SMT_TKT_ID_LEN);
	smt_put_be16(out + 36, t->hs_port);
	smt_put_be16(out + 38, t->smt_port);
	out[40] = t->ipproto;
	out[41] = n;
	memcpy(out + 42, t->service, n);
	memcpy(out + 42 + n, t->share, SMT_TKT_SHARE_LEN);
	if (smt_tkt_put_chain(chain, out + 74 + n, cap - (74 + n), &cl))
		return fail(why, "certificate chain too large or empty");
	off = 77 + n + cl;
	if (off + 4 + SMT_TKT_SIG_MAX > cap)
		return fail(why, "no room for the signature");
	if (sha256(out, off, hash) ||
	    smt_tkt_sign(key, "server", hash, sizeof(hash), &scheme,
			 out + off + 4, &sig_len))
		return fail(why, "cannot sign with this key (P-256, RSA or "
				 "Ed25519 keys can sign tickets)");
	smt_put_be16(out + off, scheme);
	smt_put_be16(out + off + 2, sig_len);
	*len = off + 4 + sig_len;
	return 0;
}

int smt_tkt_put_chain(STACK_OF(X509) * chain, uint8_t *out, size_t cap,
		      size_t *len)
{
	size_t off = 3;
	uint8_t *p;
	int i;

	for (i = 0; i < sk_X509_num(chain); i++) {
		int dl = i2d_X509(sk_X509_value(chain, i), NULL);

		if (dl <= 0 || off + 3 + (size_t)dl > cap ||
		    off + (size_t)dl > SMT_TKT_CHAIN_MAX)
			return -ENOSPC;
		smt_put_be24(out + off, dl);
		p = out + off + 3;
		i2d_X509(sk_X509_value(chain, i), &p);
		off += 3 + dl;
	}
	if (off == 3)
		return -EINVAL;
	smt_put_be24(out, off - 3);
	*len = off - 3;
	return 0;
}

X509 *smt_tkt_chain_verify(const uint8_t *chain, size_t len, X509_STORE *store,
			   int purpose, STACK_OF(X509) * *verified,
			   const char **why)
{
	STACK_OF(X509) *rest = sk_X509_new_null();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *leaf = NULL;
	size_t off = 0;
	bool ok = false;

	if (!rest || !ctx)
		goto out;
	while (off < len) {
		size_t n = smt_get_be24(chain + off);
		const uint8_t *p = chain + off + 3;
		X509 *x = d2i_X509(NULL, &p, n);

		if (!x || p != chain + off + 3 + n) {
			X509_free(x);
			fail(why, "a certificate does not parse");
			goto out;
		}
		if (!leaf)
			leaf = x;
		else if (!sk_X509_push(rest, x))
			X509_free(x);
		off += 3 + n;
	}
	if (!leaf || X509_STORE_CTX_init(ctx, store, leaf, rest) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, purpose) != 1)
		goto out;
	if (X509_verify_cert(ctx) != 1) {
		fail(why, "certificate chain does not verify against the CA "
			  "bundle");
		goto out;
	}
	if (verified && !(*verified = X509_STORE_CTX_get1_chain(ctx)))
		goto out;
	ok = true;
out:
	if (!ok && why && !*why)
		*why = "certificate chain cannot be checked";
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(rest, X509_free);
	ERR_clear_error();
	if (!ok) {
		X509_free(leaf);
		return NULL;
	}
	return leaf;
}

int smt_ticket_verify(const struct smt_ticket *t, X509_STORE *store,
		      int64_t now, const char **why)
{
	uint8_t hash[32];
	X509 *leaf;
	int err = -EINVAL;

	if (why)
		*why = NULL;
	if (now < 0 || (uint64_t)now + SMT_TKT_SKEW_S < t->not_before)
		return fail(why, "ticket is not valid yet");
	if ((uint64_t)now >= t->not_after)
		return fail(why, "ticket has expired");
	leaf = smt_tkt_chain_verify(t->chain, t->chain_len, store,
				    X509_PURPOSE_SSL_SERVER, NULL, why);
	if (!leaf)
		return -EINVAL;
	if (X509_check_host(leaf, t->service, strlen(t->service),
			    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL) != 1)
		fail(why, "the certificate does not name the ticket's service");
	else if (sha256(t->raw, t->signed_len, hash) ||
		 !smt_tkt_sig_ok(X509_get0_pubkey(leaf), "server", hash,
				 sizeof(hash), t->sig_scheme, t->sig,
				 t->sig_len))
		fail(why, "ticket signature does not verify");
	else
		err = 0;
	X509_free(leaf);
	ERR_clear_error();
	return err;
}

int smt_ticket_armor(const uint8_t *b, size_t len, char *out, size_t cap)
{
	size_t b64 = 4 * ((len + 2) / 3), need, o, i;
	char *tmp;

	need = sizeof(BEGIN_LINE) + b64 + b64 / 64 + 1 + sizeof(END_LINE) + 1;
	if (need > cap)
		return -ENOSPC;
	tmp = OPENSSL_malloc(b64 + 1);
	if (!tmp)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)tmp, b, len);
	o = (size_t)sprintf(out, "%s\n", BEGIN_LINE);
	for (i = 0; i < b64; i += 64) {
		size_t n = b64 - i < 64 ? b64 - i : 64;

		memcpy(out + o, tmp + i, n);
		o += n;
		out[o++] = '\n';
	}
	o += (size_t)sprintf(out + o, "%s\n", END_LINE);
	OPENSSL_free(tmp);
	return (int)o;
}

int smt_ticket_unarmor(const char *text, size_t text_len, uint8_t *out,
		       size_t cap, size_t *len, const char **why)
{
	const char *b = memmem(text, text_len, BEGIN_LINE, strlen(BEGIN_LINE));
	const char *e;
	size_t n = 0, pad = 0, i;
	char *clean;
	int r;

	if (!b)
		return fail(why, "no '" BEGIN_LINE "' line");
	b += strlen(BEGIN_LINE);
	e = memmem(b, text_len - (size_t)(b - text), END_LINE,
		   strlen(END_LINE));
	if (!e)
		return fail(why, "no '" END_LINE "' line");
	clean = OPENSSL_malloc((size_t)(e - b) + 1);
	if (!clean)
		return -ENOMEM;
	for (i = 0; b + i < e; i++) {
		char c = b[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		clean[n++] = c;
	}
	if (!n || n % 4 || n / 4 * 3 > cap) {
		OPENSSL_free(clean);
		return fail(why, "ticket text is not base64 of a ticket");
	}
	pad = (clean[n - 1] == '=') + (clean[n - 2] == '=');
	r = EVP_DecodeBlock(out, (unsigned char *)clean, (int)n);
	OPENSSL_free(clean);
	if (r < 0 || (size_t)r < pad)
		return fail(why, "ticket text is not valid base64");
	*len = (size_t)r - pad;
	return 0;
}

void smt_tkt_put_hdr(uint8_t *b, enum smt_tkt_type type, size_t len)
{
	memcpy(b, SMT_TKT_MAGIC, 4);
	b[4] = SMT_TKT_VERSION;
	b[5] = type;
	smt_put_be16(b + 6, len);
}

int smt_tkt_msg_len(const uint8_t *b, size_t have, const char **why)
{
	size_t n;

	if (have < SMT_TKT_HDR_LEN)
		return 0;
	if (memcmp(b, SMT_TKT_MAGIC, 4))
		return fail(why, "not an SMT-ticket message");
	if (b[4] != SMT_TKT_VERSION)
		return fail(why, "unknown SMT-ticket message version");
	if (b[5] < SMT_TKT_HELLO || b[5] > SMT_TKT_REFUSE)
		return fail(why, "unknown SMT-ticket message type");
	n = smt_get_be16(b + 6);
	if (n < SMT_TKT_HDR_LEN)
		return fail(why, "SMT-ticket message length too small");
	return have >= n ? (int)n : 0;
}

int smt_tkt_hello_parse(const uint8_t *b, size_t len, struct smt_tkt_hello *h,
			const char **why)
{
	size_t off;

	memset(h, 0, sizeof(*h));
	if (len < SMT_TKT_HELLO_MIN || memcmp(b, SMT_TKT_MAGIC, 4) ||
	    b[4] != SMT_TKT_VERSION || b[5] != SMT_TKT_HELLO ||
	    smt_get_be16(b + 6) != len)
		return fail(why, "malformed HELLO");
	memcpy(h->random, b + 8, SMT_TKT_RANDOM_LEN);
	h->time_ms = smt_get_be64(b + 40);
	memcpy(h->share, b + 48, SMT_TKT_SHARE_LEN);
	memcpy(h->propose, b + SMT_TKT_PROPOSE_OFF, sizeof(h->propose));
	h->ticket_len = smt_get_be24(b + SMT_TKT_TICKET_OFF);
	off = SMT_TKT_TICKET_OFF + 3;
	if (!h->ticket_len || h->ticket_len > len - off - 3 ||
	    h->ticket_len > SMT_TKT_MAX)
		return fail(why, "HELLO ticket length out of range");
	h->ticket = b + off;
	off += h->ticket_len;
	h->chain_len = smt_get_be24(b + off);
	off += 3;
	if (h->chain_len > len - off || h->chain_len > SMT_TKT_CHAIN_MAX)
		return fail(why, "HELLO chain length out of range");
	h->chain = h->chain_len ? b + off : NULL;
	off += h->chain_len;
	h->signed_len = off;
	if (!h->chain_len) {
		if (off != len)
			return fail(why, "HELLO has trailing bytes");
		return 0;
	}
	if (!chain_well_formed(h->chain, h->chain_len))
		return fail(why, "HELLO certificate chain is malformed");
	return parse_sig(b, off, len, &h->sig_scheme, &h->sig, &h->sig_len,
			 why);
}

/* ---- X25519 ------------------------------------------------------------ */

int smt_x25519_public(const uint8_t priv[32], uint8_t pub[32])
{
	EVP_PKEY *k =
		EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	size_t n = 32;
	int err = -EIO;

	if (k && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == 32)
		err = 0;
	EVP_PKEY_free(k);
	return err;
}

int smt_x25519_keygen(uint8_t priv[32], uint8_t pub[32])
{
	if (RAND_bytes(priv, 32) != 1)
		return -EIO;
	return smt_x25519_public(priv, pub);
}

EVP_PKEY *smt_x25519_key(const uint8_t priv[32])
{
	EVP_PKEY *k =
		EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);

	ERR_clear_error();
	return k;
}

EVP_PKEY *smt_x25519_gen(uint8_t pub[32])
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	size_t n = 32;

	if (k && (EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != 32)) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	ERR_clear_error();
	return k;
}

int smt_x25519_derive(EVP_PKEY *k, const uint8_t peer[32], uint8_t out[32])
{
	static const uint8_t zero[32];
	EVP_PKEY *p =
		EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
	EVP_PKEY_CTX *c = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	size_t n = 32;
	int err = -EIO;

	if (c && p && EVP_PKEY_derive_init(c) == 1 &&
	    EVP_PKEY_derive_set_peer(c, p) == 1 &&
	    EVP_PKEY_derive(c, out, &n) == 1 && n == 32)
		err = 0;
	/* RFC 7748 section 6.1: an all-zero result means a small-order
	 * peer share; refuse it */
	if (!err && !CRYPTO_memcmp(out, zero, 32))
		err = -EINVAL;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(p);
	ERR_clear_error();
	return err;
}

int smt_x25519(const uint8_t priv[32], const uint8_t peer[32], uint8_t out[32])
{
	EVP_PKEY *k = smt_x25519_key(priv);
	int err = smt_x25519_derive(k, peer, out);

	EVP_PKEY_free(k);
	return err;
}

/* ---- key schedule -------------------------------------------------------- */

/* Hash(a || b || c) with the suite's hash. */
static int thash(const char *md, const uint8_t *a, size_t al, const uint8_t *b,
		 size_t bl, const uint8_t *c, size_t cl, uint8_t *out)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	const EVP_MD *d = EVP_get_digestbyname(md);
	int err = -EIO;

	if (m && d && EVP_DigestInit_ex(m, d, NULL) == 1 &&
	    EVP_DigestUpdate(m, a, al) == 1 &&
	    EVP_DigestUpdate(m, b, bl) == 1 &&
	    (!cl || EVP_DigestUpdate(m, c, cl) == 1) &&
	    EVP_DigestFinal_ex(m, out, NULL) == 1)
		err = 0;
	EVP_MD_CTX_free(m);
	return err;
}

int smt_tkt_early(uint16_t suite, const uint8_t dh_lt[32], const uint8_t *T,
		  size_t t_len, const uint8_t *CH, size_t ch_len, uint8_t *es,
		  uint8_t *s0)
{
	uint8_t zero[SMT_TKT_HASH_MAX] = {0}, th[SMT_TKT_HASH_MAX];
	size_t hl;
	const char *md = smt_tkt_md(suite, &hl);
	int r;

	if (!md)
		return -EINVAL;
	r = smt_hkdf_extract(md, zero, hl, dh_lt, 32, es);
	if (r < 0)
		return r;
	r = thash(md, T, t_len, CH, ch_len, NULL, 0, th);
	if (!r)
		r = smt_hkdf_expand_label(md, es, hl, "smt tkt early", th, hl,
					  s0, hl);
	return r;
}

int smt_tkt_fs(uint16_t suite, const uint8_t *es, const uint8_t dh_eph[32],
	       const uint8_t *T, size_t t_len, const uint8_t *CH, size_t ch_len,
	       const uint8_t *SH, size_t sh_len, uint8_t *s1, uint8_t *finished,
	       uint8_t tag[8])
{
	uint8_t des[SMT_TKT_HASH_MAX], hs[SMT_TKT_HASH_MAX];
	uint8_t fk[SMT_TKT_HASH_MAX], th[SMT_TKT_HASH_MAX];
	size_t hl, fl = 0;
	const char *md = smt_tkt_md(suite, &hl);
	int r;

	if (!md)
		return -EINVAL;
	r = smt_hkdf_expand_label(md, es, hl, "smt tkt derived", NULL, 0, des,
				  hl);
	if (!r)
		r = smt_hkdf_extract(md, des, hl, dh_eph, 32, hs);
	if (r >= 0)
		r = thash(md, T, t_len, CH, ch_len, SH, sh_len, th);
	if (!r)
		r = smt_hkdf_expand_label(md, hs, hl, "smt tkt fs", th, hl, s1,
					  hl);
	if (!r)
		r = smt_hkdf_expand_label(md, hs, hl, "smt tkt finished", NULL,
					  0, fk, hl);
	if (!r)
		r = smt_hkdf_expand_label(md, hs, hl, "smt tkt tag", NULL, 0,
					  tag, 8);
	if (!r && (!EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, fk, hl, th, hl,
			      finished, hl, &fl) ||
		   fl != hl))
		r = -EIO;
	OPENSSL_cleanse(des, sizeof(des));
	OPENSSL_cleanse(hs, sizeof(hs));
	OPENSSL_cleanse(fk, sizeof(fk));
	return r;
}
