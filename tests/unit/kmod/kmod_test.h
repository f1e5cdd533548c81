/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared fixtures of the kmod unit tests: test keys in kTLS form and in
 * libsmt form for the same cipher, a session set up the way SMT_IOC_SESSION_ADD
 * does, and a leak check over the mock's allocation counters.
 */
#ifndef SMT_KMOD_TEST_H
#define SMT_KMOD_TEST_H

#include "../../../kmod/smt_impl.h"
#include "record.h"

#include <criterion/criterion.h>

/* Fill a kTLS crypto_info for a TLS_CIPHER_* with key/iv derived from seed. */
static inline void kt_crypto(union smt_kmod_crypto *ci, u16 cipher, u8 seed)
{
	u8 *key, *salt = NULL, *iv;
	unsigned int klen, ivlen;

	memset(ci, 0, sizeof(*ci));
	ci->info.version = TLS_1_3_VERSION;
	ci->info.cipher_type = cipher;
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
		key = ci->aes_gcm_128.key, klen = 16;
		salt = ci->aes_gcm_128.salt, iv = ci->aes_gcm_128.iv, ivlen = 8;
		break;
	case TLS_CIPHER_AES_GCM_256:
		key = ci->aes_gcm_256.key, klen = 32;
		salt = ci->aes_gcm_256.salt, iv = ci->aes_gcm_256.iv, ivlen = 8;
		break;
	default:
		key = ci->chacha20_poly1305.key, klen = 32;
		iv = ci->chacha20_poly1305.iv, ivlen = 12;
		break;
	}
	for (unsigned int i = 0; i < klen; i++)
		key[i] = (u8)(seed + 3 * i);
	/* The 12-byte TLS 1.3 IV is bytes 0x80 + seed + i, split as kTLS does. */
	for (unsigned int i = 0; i < 12; i++) {
		u8 b = (u8)(0x80 + seed + i);

		if (salt && i < 4)
			salt[i] = b;
		else
			iv[i - (salt ? 4 : 0)] = b;
	}
	(void)ivlen;
}

/* The same key as a libsmt AEAD. */
static inline struct smt_aead *kt_libsmt_aead(u16 cipher, u8 seed)
{
	u8 key[32], iv[12];
	enum smt_cipher c = cipher == TLS_CIPHER_AES_GCM_128
				    ? SMT_CIPHER_AES_128_GCM
			    : cipher == TLS_CIPHER_AES_GCM_256
				    ? SMT_CIPHER_AES_256_GCM
				    : SMT_CIPHER_CHACHA20_POLY1305;

	for (unsigned int i = 0; i < 32; i++)
		key[i] = (u8)(seed + 3 * i);
	for (unsigned int i = 0; i < 12; i++)
		iv[i] = (u8)(0x80 + seed + i);
	return smt_aead_new(c, key, smt_cipher_key_len(c), iv);
}

static inline void kt_params(struct smt_kmod_session *p, u16 cipher)
{
	memset(p, 0, sizeof(*p));
	p->family = AF_INET;
	p->local_port = 4001;
	p->peer_port = 4002;
	p->peer_addr[0] = 10;
	p->peer_addr[3] = 2;
	kt_crypto(&p->crypto, cipher, 7);
}

/* The IP layer of mock_ip.c: one route, and the packets that reached the
 * device (kt_ip.wire, in order; freeing them runs their destructors). */
struct kt_ip {
	struct net_device *dev; /* the route's device */
	struct net_device *xmit_dev; /* where packets really go, if not dev */
	u32 mtu;
	int route_err;
	int xmit_err; /* returned by the local out after xmit_ok packets */
	unsigned int xmit_ok;
	void (*on_xmit)(struct sk_buff *skb);
	struct dst_entry dst;
	int routes_held;
	long core_drops, segmented;
	struct sk_buff *wire, **wire_tail;
	unsigned int nwire;
};
extern struct kt_ip kt_ip;
void kt_ip_reset(struct net_device *dev, u32 mtu);
void kt_wire_free(void);

/* Suite fini: nothing allocated or keyed is left, failure flags reset. */
static inline void kt_leak_check(void)
{
	kt_wire_free();
	cr_expect_eq(mock_allocs, 0, "%ld blocks leaked", mock_allocs);
	cr_expect_eq(mock_tfms, 0, "%ld transforms leaked", mock_tfms);
	cr_expect_eq(kt_ip.routes_held, 0, "routes held");
	cr_expect_eq(mock_socks, 0, "%ld sockets leaked", mock_socks);
	cr_expect_eq(mock_module_refs, 0, "module references left");
	cr_expect_eq(mock_symbol_refs, 0, "tls.ko references left");
	mock_fail_alloc_aead = mock_fail_encrypt = mock_fail_segment = false;
	mock_fail_sock_create = false;
	mock_tls_module_loaded = true;
	smt_tls_offload_enabled = false;
	smt_stat_reset();
}

static const u16 kt_ciphers[] = {TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
				 TLS_CIPHER_CHACHA20_POLY1305};

#endif /* SMT_KMOD_TEST_H */
