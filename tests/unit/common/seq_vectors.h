/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Record sequence numbers at the top of the msg_id space, written out by
 * hand (seq = msg_id << (64 - B) | k, protocol.md section 3), and a TLS 1.3
 * record sealer that builds its nonce itself from the 64-bit seq with
 * OpenSSL EVP: the oracle against which libsmt, the kernel module and the
 * VM's kTLS are checked, so that a nonce or seq formula broken in
 * include/smt/rules.h (only the low 32 bits of seq XORed, a shift of 63 - B)
 * fails everywhere. Header-only: included by tests/unit/lib and
 * tests/unit/kmod.
 */
#ifndef SMT_TESTS_SEQ_VECTORS_H
#define SMT_TESTS_SEQ_VECTORS_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

struct seq_vector {
	unsigned int B;
	uint64_t msg_id; /* 2^(B-1) - 3: near the top of the ID space */
	uint64_t seq0; /* record 0's seq, written out */
};

static const struct seq_vector seq_vectors[] = {
	{40, 0x7ffffffffdULL, 0x7ffffffffd000000ULL},
	{48, 0x7ffffffffffdULL, 0x7ffffffffffd0000ULL},
	{56, 0x7ffffffffffffdULL, 0x7ffffffffffffd00ULL},
};

#define SEQ_VECTORS (sizeof(seq_vectors) / sizeof(seq_vectors[0]))

/*
 * Seal content (len bytes, no padding) as TLS 1.3 record number seq:
 * 17 03 03 len+17, then AEAD(content || 0x17) with nonce = iv XOR
 * (0^32 || seq) and the 5-byte header as AAD. cipher: 1 AES-128-GCM,
 * 2 AES-256-GCM, 3 ChaCha20-Poly1305 (enum smt_cipher). Returns the record
 * length or -1.
 */
static inline int ref_record_seal(int cipher, const uint8_t *key,
				  const uint8_t iv[12], uint64_t seq,
				  const uint8_t *content, size_t len,
				  uint8_t *out)
{
	const EVP_CIPHER *ev = cipher == 1   ? EVP_aes_128_gcm()
			       : cipher == 2 ? EVP_aes_256_gcm()
					     : EVP_chacha20_poly1305();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t nonce[12], seq_be[8], inner = 0x17;
	uint64_t s = htobe64(seq);
	int n, m, ok;

	memcpy(seq_be, &s, 8);
	memcpy(nonce, iv, 12);
	for (int i = 0; i < 8; i++) /* bytes 4..11 of the nonce */
		nonce[4 + i] ^= seq_be[i];
	out[0] = 0x17;
	out[1] = 0x03;
	out[2] = 0x03;
	out[3] = (uint8_t)((len + 17) >> 8);
	out[4] = (uint8_t)(len + 17);
	ok = ctx && EVP_EncryptInit_ex(ctx, ev, NULL, NULL, NULL) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) == 1 &&
	     EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) == 1 &&
	     EVP_EncryptUpdate(ctx, NULL, &n, out, 5) == 1 &&
	     EVP_EncryptUpdate(ctx, out + 5, &n, content, (int)len) == 1 &&
	     EVP_EncryptUpdate(ctx, out + 5 + n, &m, &inner, 1) == 1 &&
	     EVP_EncryptFinal_ex(ctx, out + 5 + n + m, &m) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16,
				 out + 5 + len + 1) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? (int)(len + 22) : -1;
}

#endif /* SMT_TESTS_SEQ_VECTORS_H */
