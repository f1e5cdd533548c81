// SPDX-License-Identifier: BSD-2-Clause
/*
 * The verification cache of one TLS context (docs/smtd.md, "Names and
 * certificates"; docs/security.md): a peer that sets up sessions again and
 * again sends the same certificate chain each time, and OpenSSL would check
 * it against the CA bundle again each time. A chain that verified is
 * remembered by the SHA-256 of its exact DER bytes (leaf and every
 * certificate the peer sent, in order) and the host names the check asked
 * for; the same bytes and names get the same answer from the same store,
 * so the check is skipped while every certificate of the verified chain is
 * still within its validity period (checked again at every hit) and at
 * most VC_TTL_S after the full check. The cache belongs to the SSL_CTX and
 * goes with it: a reload (SIGHUP) that reads the CA bundle again starts an
 * empty one, so a CA taken out of the bundle is not trusted through it.
 * Only successes are kept; the signature over the handshake (the peer's
 * proof that it holds the key) is checked by OpenSSL in every handshake.
 * An SMT-ticket HELLO's client chain (tkt.c) is checked through the same
 * cache of the server context, keyed by its encoded bytes and purpose
 * (smtd_vcache_der); its signature is checked by tkt.c every time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "smtd.h"
#include "ticket.h"

#define VC_SLOTS 64
#define VC_TTL_S 300

struct vc_entry {
	uint8_t key[32];
	STACK_OF(X509) * chain; /* as verified: leaf first, trust anchor last */
	time_t until;
};

struct vcache {
	struct smtd *d; /* counters; the running smtd after a reload */
	struct vc_entry e[VC_SLOTS];
	unsigned int next; /* the slot written next (the oldest) */
};

static int vc_idx = -1;

static void vc_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		    long argl, void *argp)
{
	struct vcache *vc = ptr;
	unsigned int i;

	if (!vc)
		return;
	for (i = 0; i < VC_SLOTS; i++)
		sk_X509_pop_free(vc->e[i].chain, X509_free);
	free(vc);
}

static int hash_cert(EVP_MD_CTX *m, X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	uint8_t len[4];
	int ok;

	if (n <= 0)
		return 0;
	len[0] = (uint8_t)(n >> 24);
	len[1] = (uint8_t)(n >> 16);
	len[2] = (uint8_t)(n >> 8);
	len[3] = (uint8_t)n;
	ok = EVP_DigestUpdate(m, len, sizeof(len)) &&
	     EVP_DigestUpdate(m, der, n);
	OPENSSL_free(der);
	return ok;
}

/* SHA-256 over the chain as sent and the host names asked for, with
 * their matching flags. */
static int vc_key(X509_STORE_CTX *sctx, uint8_t key[32])
{
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(sctx);
	STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(sctx);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned int klen = 0, flags;
	const char *h;
	int i, ok;

	ok = m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) &&
	     hash_cert(m, X509_STORE_CTX_get0_cert(sctx));
	for (i = 0; ok && sent && i < sk_X509_num(sent); i++)
		ok = hash_cert(m, sk_X509_value(sent, i));
	for (i = 0; ok && (h = X509_VERIFY_PARAM_get0_host(param, i)); i++)
		ok = EVP_DigestUpdate(m, "\0host", 5) &&
		     EVP_DigestUpdate(m, h, strlen(h) + 1);
	/* how the names are matched (wildcards) is part of the question */
	flags = X509_VERIFY_PARAM_get_hostflags(param);
	ok = ok && EVP_DigestUpdate(m, "\0flags", 6) &&
	     EVP_DigestUpdate(m, &flags, sizeof(flags));
	ok = ok && EVP_DigestFinal_ex(m, key, &klen) && klen == 32;
	EVP_MD_CTX_free(m);
	return ok;
}

/* Every certificate of the chain within its validity period now. */
static bool chain_valid_now(STACK_OF(X509) * chain)
{
	int i;

	for (i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0 ||
		    X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
			return false;
	}
	return true;
}

/* The verified chain remembered under key, if it is still good (its
 * time and every certificate's validity); a stale one is dropped. */
static STACK_OF(X509) *
	vc_find(struct vcache *vc, const uint8_t *key, time_t now)
{
	struct vc_entry *e;
	unsigned int i;

	for (i = 0; i < VC_SLOTS; i++) {
		e = &vc->e[i];
		if (!e->chain || memcmp(e->key, key, sizeof(e->key)))
			continue;
		if (now < e->until && chain_valid_now(e->chain))
			return e->chain;
		/* stale: checked in full again */
		sk_X509_pop_free(e->chain, X509_free);
		e->chain = NULL;
		return NULL;
	}
	return NULL;
}

/* Remember chain (taken over) under key, in the oldest slot. */
static void vc_put(struct vcache *vc, const uint8_t *key,
		   STACK_OF(X509) * chain, time_t now)
{
	struct vc_entry *e = &vc->e[vc->next];

	vc->next = (vc->next + 1) % VC_SLOTS;
	sk_X509_pop_free(e->chain, X509_free);
	memcpy(e->key, key, sizeof(e->key));
	e->chain = chain;
	e->until = now + VC_TTL_S;
}

static int vc_verify(X509_STORE_CTX *sctx, void *arg)
{
	struct vcache *vc = arg;
	time_t now = time(NULL);
	STACK_OF(X509) *c = NULL;
	uint8_t key[32];
	bool keyed = vc_key(sctx, key);
	int r;

	if (keyed && (c = vc_find(vc, key, now)) &&
	    (c = X509_chain_up_ref(c))) {
		X509_STORE_CTX_set0_verified_chain(sctx, c);
		X509_STORE_CTX_set_error(sctx, X509_V_OK);
		vc->d->st.verify_cached++;
		return 1;
	}
	vc->d->st.verify_full++;
	r = X509_verify_cert(sctx);
	if (r == 1 && keyed && (c = X509_STORE_CTX_get1_chain(sctx)))
		vc_put(vc, key, c, now);
	return r;
}

/* SHA-256 over the encoded chain's exact bytes and the purpose, apart
 * from vc_key's inputs (which start with a certificate's length). */
static int der_key(const uint8_t *chain, size_t len, int purpose,
		   uint8_t key[32])
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned int klen = 0;
	int ok;

	ok = m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(m, "\0der", 4) &&
	     EVP_DigestUpdate(m, &purpose, sizeof(purpose)) &&
	     EVP_DigestUpdate(m, chain, len) &&
	     EVP_DigestFinal_ex(m, key, &klen) && klen == 32;
	EVP_MD_CTX_free(m);
	return ok;
}

X509 *smtd_vcache_der(SSL_CTX *ctx, const uint8_t *chain, size_t len,
		      int purpose, const char **why)
{
	struct vcache *vc = vc_idx >= 0 ? SSL_CTX_get_ex_data(ctx, vc_idx)
					: NULL;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509) *c = NULL;
	time_t now = time(NULL);
	uint8_t key[32];
	bool keyed = vc && der_key(chain, len, purpose, key);
	X509 *leaf;

	if (keyed && (c = vc_find(vc, key, now)) && sk_X509_num(c) > 0 &&
	    X509_up_ref(sk_X509_value(c, 0))) {
		vc->d->st.verify_cached++;
		return sk_X509_value(c, 0);
	}
	if (vc)
		vc->d->st.verify_full++;
	c = NULL;
	leaf = smt_tkt_chain_verify(chain, len, store, purpose,
				    keyed ? &c : NULL, why);
	if (leaf && c)
		vc_put(vc, key, c, now);
	return leaf;
}

int smtd_vcache_ctx(struct smtd *d, SSL_CTX *ctx)
{
	struct vcache *vc;

	if (vc_idx < 0)
		vc_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, vc_free);
	vc = vc_idx >= 0 ? calloc(1, sizeof(*vc)) : NULL;
	if (!vc || !SSL_CTX_set_ex_data(ctx, vc_idx, vc)) {
		free(vc);
		return -ENOMEM;
	}
	vc->d = d;
	SSL_CTX_set_cert_verify_callback(ctx, vc_verify, vc);
	return 0;
}

void smtd_vcache_attach(struct smtd *d, SSL_CTX *ctx)
{
	struct vcache *vc =
		ctx && vc_idx >= 0 ? SSL_CTX_get_ex_data(ctx, vc_idx) : NULL;

	if (vc)
		vc->d = d;
}
