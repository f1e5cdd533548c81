/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * SMT-tickets (docs/protocol.md section 6.3): the signed ticket that carries
 * a server's long-term X25519 share, the HELLO / ACCEPT / REFUSE messages
 * of a ticket set-up, and its key schedule. Pure functions over byte
 * buffers and OpenSSL objects: no sockets, no smtd state, so that unit
 * tests and fuzzers can drive them.
 */
#ifndef SMTD_TICKET_H
#define SMTD_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "bytes.h" /* the formats' big-endian fields */

#define SMT_TKT_VERSION 1
#define SMT_TKT_ID_LEN 16
#define SMT_TKT_SHARE_LEN 32
#define SMT_TKT_RANDOM_LEN 32
#define SMT_TKT_NAME_MAX 63
#define SMT_TKT_CHAIN_MAX 16384
#define SMT_TKT_SIG_MAX 1024
#define SMT_TKT_MAX \
	(77 + SMT_TKT_NAME_MAX + SMT_TKT_CHAIN_MAX + 4 + SMT_TKT_SIG_MAX)
#define SMT_TKT_LIFETIME_MAX 604800u /* 7 days (RFC 8446 4.6.1) */
#define SMT_TKT_LIFETIME_DEFAULT 3600u
#define SMT_TKT_SKEW_S 60 /* not_before may be this far in the future */
#define SMT_TKT_F_CLIENT_CERT 0x01

#define SMT_TKT_MAGIC "SMT0"
#define SMT_TKT_HDR_LEN 8
#define SMT_TKT_PROPOSE_OFF 80
#define SMT_TKT_TICKET_OFF 104
#define SMT_TKT_HELLO_MIN 110 /* fixed part, empty ticket and chain */
#define SMT_TKT_MSG_MAX                                            \
	(SMT_TKT_HELLO_MIN + SMT_TKT_MAX + SMT_TKT_CHAIN_MAX + 4 + \
	 SMT_TKT_SIG_MAX)
#define SMT_TKT_HASH_MAX 48

enum smt_tkt_type {
	SMT_TKT_HELLO = 1,
	SMT_TKT_ACCEPT = 2,
	SMT_TKT_REFUSE = 3,
};

/* REFUSE codes added to section 6.1's */
#define SMT_TKT_REFUSE_TICKET 5 /* unknown or expired ticket */
#define SMT_TKT_REFUSE_REPLAY 6 /* stale or replayed HELLO */
#define SMT_TKT_REFUSE_OFF 7 /* 0-RTT is off for the service */

/* A parsed ticket. chain, sig and raw point into the parsed buffer. */
struct smt_ticket {
	uint8_t flags;
	uint16_t suite;
	uint64_t not_before, not_after;
	uint8_t id[SMT_TKT_ID_LEN];
	uint16_t hs_port, smt_port;
	uint8_t ipproto;
	char service[SMT_TKT_NAME_MAX + 1];
	uint8_t share[SMT_TKT_SHARE_LEN];
	const uint8_t *chain;
	size_t chain_len;
	uint16_t sig_scheme;
	const uint8_t *sig;
	size_t sig_len;
	const uint8_t *raw;
	size_t raw_len;
	size_t signed_len; /* bytes covered by the signature's hash */
};

/* A parsed HELLO; ticket, chain and sig point into the parsed buffer
 * (the ticket is only framed here: smt_ticket_parse it). */
struct smt_tkt_hello {
	uint8_t random[SMT_TKT_RANDOM_LEN];
	uint64_t time_ms;
	uint8_t share[SMT_TKT_SHARE_LEN];
	uint8_t propose[24];
	const uint8_t *ticket;
	size_t ticket_len;
	const uint8_t *chain;
	size_t chain_len;
	uint16_t sig_scheme;
	const uint8_t *sig;
	size_t sig_len;
	size_t signed_len; /* HELLO bytes up to and including the chain */
};

/*
 * Structure only: every field present, lengths exact, version, flags and
 * suite known, the lifetime bound. 0, or -EINVAL with *why.
 */
int smt_ticket_parse(const uint8_t *b, size_t len, struct smt_ticket *t,
		     const char **why);

/*
 * Build and sign a ticket from t's fields (flags, suite, times, id, ports,
 * ipproto, service, share) with key, whose certificate chain (leaf first)
 * is chain. Writes out (cap bytes) and *len. 0 or -errno with *why.
 */
int smt_ticket_build(const struct smt_ticket *t, EVP_PKEY *key,
		     STACK_OF(X509) * chain, uint8_t *out, size_t cap,
		     size_t *len, const char **why);

/*
 * The checks of section 6.3 at unix time now: times, the chain against
 * store for TLS server use, the service name in the leaf, the signature.
 * Parse first. 0 or -errno with *why.
 */
int smt_ticket_verify(const struct smt_ticket *t, X509_STORE *store,
		      int64_t now, const char **why);

/* The text form (BEGIN/END lines around base64, 64 columns). Returns the
 * length written (with a terminating NUL after it) or -ENOSPC. */
int smt_ticket_armor(const uint8_t *b, size_t len, char *out, size_t cap);
/* The bytes of the first ticket in text. 0 or -EINVAL with *why. */
int smt_ticket_unarmor(const char *text, size_t text_len, uint8_t *out,
		       size_t cap, size_t *len, const char **why);

/* The message header: magic, version, type, length (8 bytes). */
void smt_tkt_put_hdr(uint8_t *b, enum smt_tkt_type type, size_t len);
/* Check a header: magic, version 1, length within have (bytes read so
 * far, at least 8). Returns the message length, 0 when more bytes are
 * needed, -EINVAL (with *why) when it is not a valid header. */
int smt_tkt_msg_len(const uint8_t *b, size_t have, const char **why);

int smt_tkt_hello_parse(const uint8_t *b, size_t len, struct smt_tkt_hello *h,
			const char **why);

/*
 * Sign content with key as section 6.3 says for role ("server" or
 * "client"): 64 x 0x20, "SMT-ticket v1 <role>", 0, hash. Writes *scheme,
 * sig (room for SMT_TKT_SIG_MAX) and *sig_len.
 */
int smt_tkt_sign(EVP_PKEY *key, const char *role, const uint8_t *hash,
		 size_t hash_len, uint16_t *scheme, uint8_t *sig,
		 size_t *sig_len);
int smt_tkt_sig_ok(EVP_PKEY *key, const char *role, const uint8_t *hash,
		   size_t hash_len, uint16_t scheme, const uint8_t *sig,
		   size_t sig_len);

/*
 * An ECDSA signature's per-signature part made ahead: the random nonce k,
 * k^-1 and r = (k*G).x, for one P-256 key. That scalar multiplication is
 * most of an ECDSA signature's cost; what is left when the message is
 * known is a few field operations. Each nonce signs once: a nonce used
 * twice gives away the private key, so smt_tkt_sign_pre wipes it whether
 * it signs or not.
 */
struct smt_tkt_nonce {
	EVP_PKEY *key; /* a reference: the key the nonce belongs to */
	void *ec; /* its EC_KEY */
	void *kinv, *r; /* BIGNUMs */
};

/* A nonce for key (P-256 only). 0, -EOPNOTSUPP for other keys, -EIO. */
int smt_tkt_nonce_make(EVP_PKEY *key, struct smt_tkt_nonce *n);
/* Frees and wipes; n may be unused (zero). */
void smt_tkt_nonce_wipe(struct smt_tkt_nonce *n);
/* smt_tkt_sign, with the nonce n made ahead when it belongs to key (n is
 * wiped in any case); without one (n NULL or unused, another key), as
 * smt_tkt_sign. The signature is the same kind (ECDSA, DER). */
int smt_tkt_sign_pre(EVP_PKEY *key, const char *role, const uint8_t *hash,
		     size_t hash_len, struct smt_tkt_nonce *n, uint16_t *scheme,
		     uint8_t *sig, size_t *sig_len);
/* A chain (leaf first) as 3-byte chain_len then each certificate with its
 * 3-byte length, into out (cap bytes); *len gets chain_len. 0 or -errno. */
int smt_tkt_put_chain(STACK_OF(X509) * chain, uint8_t *out, size_t cap,
		      size_t *len);
/* The leaf of an encoded chain, verified against store for purpose
 * (X509_PURPOSE_SSL_SERVER / _CLIENT). Caller frees. NULL with *why.
 * With verified, *verified gets the verified chain (leaf first, trust
 * anchor last; caller frees with sk_X509_pop_free). */
X509 *smt_tkt_chain_verify(const uint8_t *chain, size_t len, X509_STORE *store,
			   int purpose, STACK_OF(X509) * *verified,
			   const char **why);

/* X25519 (RFC 7748). 0 or -errno. */
int smt_x25519_keygen(uint8_t priv[32], uint8_t pub[32]);
int smt_x25519(const uint8_t priv[32], const uint8_t peer[32], uint8_t out[32]);
int smt_x25519_public(const uint8_t priv[32], uint8_t pub[32]);
/* The same with the private key held as an EVP_PKEY, which OpenSSL
 * completes with its public key when it is made (one scalar
 * multiplication): made once, a key derives with one multiplication each
 * time. smt_x25519_key: from raw bytes; smt_x25519_gen: a new random pair
 * (*pub gets its share). NULL on failure; EVP_PKEY_free wipes the key. */
EVP_PKEY *smt_x25519_key(const uint8_t priv[32]);
EVP_PKEY *smt_x25519_gen(uint8_t pub[32]);
int smt_x25519_derive(EVP_PKEY *k, const uint8_t peer[32], uint8_t out[32]);

/* Hash name and length of a TLS 1.3 suite; NULL for others. */
const char *smt_tkt_md(uint16_t suite, size_t *hash_len);

/*
 * Key schedule of section 6.3. early: ES and S0 from X25519(c_eph, s_lt),
 * the ticket T and the HELLO CH. fs: S1, finished and the session tag
 * from ES, X25519(c_eph, s_eph), T, CH and SH (the ACCEPT before
 * finished). Outputs are hash-length (tag: 8). 0 or -errno.
 */
int smt_tkt_early(uint16_t suite, const uint8_t dh_lt[32], const uint8_t *T,
		  size_t t_len, const uint8_t *CH, size_t ch_len, uint8_t *es,
		  uint8_t *s0);
int smt_tkt_fs(uint16_t suite, const uint8_t *es, const uint8_t dh_eph[32],
	       const uint8_t *T, size_t t_len, const uint8_t *CH, size_t ch_len,
	       const uint8_t *SH, size_t sh_len, uint8_t *s1, uint8_t *finished,
	       uint8_t tag[8]);

#endif /* SMTD_TICKET_H */
