// SPDX-License-Identifier: GPL-2.0-only
/*
 * Record protection in the kernel crypto API (docs/protocol.md section 3):
 * a session's sending key from kTLS's tls12_crypto_info_* structs becomes an
 * AEAD transform ("gcm(aes)" or "rfc7539(chacha20,poly1305)") with the
 * TLS 1.3 static IV; each record is sealed in place with nonce = IV XOR seq
 * and the 5-byte record header as AAD, exactly as TLS 1.3 does.
 */
#include "smt_impl.h"

#ifndef SMT_KMOD_MOCK
#include <linux/scatterlist.h>
#include <linux/string.h>
#include <crypto/aead.h>
#include <linux/tls.h>
#endif

/**
 * smt_crypto_info_check() - validate a kTLS crypto_info for SMT.
 * @ci:      the struct from userspace
 * @key:     out: the key bytes inside @ci
 * @key_len: out: 16 or 32
 * @iv:      out: the 12-byte TLS 1.3 static IV
 *
 * Return: 0, or -EINVAL for a version other than TLS 1.3 or an unknown
 * cipher.
 */
int smt_crypto_info_check(const union smt_kmod_crypto *ci, const u8 **key,
			  u8 *key_len, u8 iv[SMT_AEAD_IV_LEN])
{
	if (ci->info.version != TLS_1_3_VERSION)
		return -EINVAL;
	switch (ci->info.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		*key = ci->aes_gcm_128.key;
		*key_len = TLS_CIPHER_AES_GCM_128_KEY_SIZE;
		memcpy(iv, ci->aes_gcm_128.salt, 4);
		memcpy(iv + 4, ci->aes_gcm_128.iv, 8);
		return 0;
	case TLS_CIPHER_AES_GCM_256:
		*key = ci->aes_gcm_256.key;
		*key_len = TLS_CIPHER_AES_GCM_256_KEY_SIZE;
		memcpy(iv, ci->aes_gcm_256.salt, 4);
		memcpy(iv + 4, ci->aes_gcm_256.iv, 8);
		return 0;
	case TLS_CIPHER_CHACHA20_POLY1305:
		*key = ci->chacha20_poly1305.key;
		*key_len = TLS_CIPHER_CHACHA20_POLY1305_KEY_SIZE;
		memcpy(iv, ci->chacha20_poly1305.iv, 12);
		return 0;
	}
	return -EINVAL;
}

/**
 * smt_kaead_init() - set up a sending key.
 * @a:  zeroed struct to fill
 * @ci: kTLS crypto_info (TLS 1.3)
 *
 * Return: 0, -EINVAL for a bad crypto_info, or the crypto API's error.
 */
int smt_kaead_init(struct smt_kaead *a, const union smt_kmod_crypto *ci)
{
	const char *alg;
	const u8 *key;
	int err;

	err = smt_crypto_info_check(ci, &key, &a->key_len, a->iv);
	if (err)
		return err;
	a->cipher = ci->info.cipher_type;
	alg = a->cipher == TLS_CIPHER_CHACHA20_POLY1305
		      ? "rfc7539(chacha20,poly1305)"
		      : "gcm(aes)";
	a->tfm = crypto_alloc_aead(alg, 0, 0);
	if (IS_ERR(a->tfm)) {
		err = PTR_ERR(a->tfm);
		a->tfm = NULL;
		goto fail;
	}
	err = crypto_aead_setauthsize(a->tfm, SMT_TAG_LEN);
	if (!err)
		err = crypto_aead_setkey(a->tfm, key, a->key_len);
	if (!err)
		return 0;
	crypto_free_aead(a->tfm);
	a->tfm = NULL;
fail:
	memzero_explicit(a->iv, sizeof(a->iv));
	return err;
}

/**
 * smt_kaead_destroy() - free the transform and wipe the IV.
 * @a: key set up by smt_kaead_init(), or zeroed
 *
 * The transform wipes its own key schedule when freed.
 */
void smt_kaead_destroy(struct smt_kaead *a)
{
	if (a->tfm)
		crypto_free_aead(a->tfm);
	a->tfm = NULL;
	memzero_explicit(a->iv, sizeof(a->iv));
}

/**
 * smt_krecord_frame() - the plaintext frame of one record, in place.
 * @rec:  buffer of clen + 22 bytes; the content sits at rec + 5
 * @clen: content bytes (<= 16384)
 *
 * Writes the header 17 03 03 len and the inner type 0x17 after the content
 * and zeroes the 16 bytes of room for the tag: the record as a TLS TX
 * offload device takes it, and the input of smt_krecord_seal().
 */
void smt_krecord_frame(u8 *rec, u32 clen)
{
	u32 len = clen + 1 + SMT_TAG_LEN;

	rec[0] = SMT_REC_TYPE;
	rec[1] = SMT_REC_VER_HI;
	rec[2] = SMT_REC_VER_LO;
	rec[3] = len >> 8;
	rec[4] = len & 0xff;
	rec[SMT_REC_HDR_LEN + clen] = SMT_INNER_TYPE;
	memset(rec + SMT_REC_HDR_LEN + clen + 1, 0, SMT_TAG_LEN);
}

/**
 * smt_krecord_seal() - seal one record in place.
 * @a:    sending key
 * @seq:  record sequence number
 * @rec:  buffer of clen + 22 bytes, linear kernel memory; the content sits
 *        at rec + 5 on entry; on return it holds the whole TLS record
 * @clen: content bytes (<= 16384)
 *
 * Frames the record (smt_krecord_frame()), then encrypts content || 0x17
 * and writes the tag, with the header as AAD.
 *
 * Return: 0 or the crypto API's negative error.
 */
int smt_krecord_seal(struct smt_kaead *a, u64 seq, u8 *rec, u32 clen)
{
	u8 nonce[SMT_AEAD_IV_LEN];
	struct aead_request *req;
	struct scatterlist sg;
	DECLARE_CRYPTO_WAIT(wait);
	int err;

	if (clen > SMT_REC_MAX_CONTENT)
		return -EINVAL;
	smt_krecord_frame(rec, clen);

	req = aead_request_alloc(a->tfm, GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	smt_record_nonce(a->iv, seq, nonce); /* include/smt/rules.h */
	sg_init_one(&sg, rec, SMT_REC_HDR_LEN + clen + 1 + SMT_TAG_LEN);
	aead_request_set_callback(
		req, CRYPTO_TFM_REQ_MAY_BACKLOG | CRYPTO_TFM_REQ_MAY_SLEEP,
		crypto_req_done, &wait);
	aead_request_set_ad(req, SMT_REC_HDR_LEN);
	aead_request_set_crypt(req, &sg, &sg, clen + 1, nonce);
	err = crypto_wait_req(crypto_aead_encrypt(req), &wait);
	aead_request_free(req);
	memzero_explicit(nonce, sizeof(nonce));
	return err;
}
