// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmod/smt_crypto.c against the mock: kTLS crypto_info parsing, the TLS 1.3
 * nonce, and record sealing that must give libsmt's record bytes exactly.
 */
#include <criterion/criterion.h>

#include "kmod_test.h"
#include "../common/seq_vectors.h"

TestSuite(kmod_crypto, .fini = kt_leak_check);

Test(kmod_crypto, smt_record_nonce__xors_seq_into_last_8_bytes)
{
	const u8 iv[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
	const u8 want[12] = {0,	       1,	 2,	    3,
			     4 ^ 0x01, 5 ^ 0x23, 6 ^ 0x45,  7 ^ 0x67,
			     8 ^ 0x89, 9 ^ 0xab, 10 ^ 0xcd, 11 ^ 0xef};
	u8 nonce[12];

	smt_record_nonce(iv, 0x0123456789abcdefull, nonce);
	cr_assert_arr_eq(nonce, want, 12);
}

Test(kmod_crypto, smt_crypto_info_check__aes_gcm_iv_is_salt_then_iv)
{
	union smt_kmod_crypto ci;
	const u8 *key;
	u8 klen, iv[12];

	kt_crypto(&ci, TLS_CIPHER_AES_GCM_128, 1);
	cr_assert_eq(smt_crypto_info_check(&ci, &key, &klen, iv), 0);
	cr_expect_eq(klen, 16);
	cr_expect_eq(key, ci.aes_gcm_128.key);
	cr_expect_arr_eq(iv, ci.aes_gcm_128.salt, 4);
	cr_expect_arr_eq(iv + 4, ci.aes_gcm_128.iv, 8);
}

Test(kmod_crypto, smt_crypto_info_check__chacha_iv_is_whole_iv)
{
	union smt_kmod_crypto ci;
	const u8 *key;
	u8 klen, iv[12];

	kt_crypto(&ci, TLS_CIPHER_CHACHA20_POLY1305, 1);
	cr_assert_eq(smt_crypto_info_check(&ci, &key, &klen, iv), 0);
	cr_expect_eq(klen, 32);
	cr_expect_arr_eq(iv, ci.chacha20_poly1305.iv, 12);
}

Test(kmod_crypto, smt_crypto_info_check__rejects_tls12)
{
	union smt_kmod_crypto ci;
	const u8 *key;
	u8 klen, iv[12];

	kt_crypto(&ci, TLS_CIPHER_AES_GCM_128, 1);
	ci.info.version = TLS_1_2_VERSION;
	cr_expect_eq(smt_crypto_info_check(&ci, &key, &klen, iv), -EINVAL);
}

Test(kmod_crypto, smt_crypto_info_check__rejects_unknown_cipher)
{
	union smt_kmod_crypto ci;
	const u8 *key;
	u8 klen, iv[12];

	kt_crypto(&ci, TLS_CIPHER_AES_GCM_128, 1);
	ci.info.cipher_type = TLS_CIPHER_AES_CCM_128;
	cr_expect_eq(smt_crypto_info_check(&ci, &key, &klen, iv), -EINVAL);
}

Test(kmod_crypto, smt_aead_init__alloc_failure_leaves_nothing)
{
	union smt_kmod_crypto ci;
	struct smt_kaead a = {0};
	const u8 zero[12] = {0};

	kt_crypto(&ci, TLS_CIPHER_AES_GCM_256, 2);
	mock_fail_alloc_aead = true;
	cr_expect_eq(smt_kaead_init(&a, &ci), -ENOENT);
	cr_expect_null(a.tfm);
	cr_expect_arr_eq(a.iv, zero, 12, "IV must be wiped on failure");
}

Test(kmod_crypto, smt_aead_destroy__wipes_iv)
{
	union smt_kmod_crypto ci;
	struct smt_kaead a = {0};
	const u8 zero[12] = {0};

	kt_crypto(&ci, TLS_CIPHER_AES_GCM_128, 2);
	cr_assert_eq(smt_kaead_init(&a, &ci), 0);
	smt_kaead_destroy(&a);
	cr_expect_null(a.tfm);
	cr_expect_arr_eq(a.iv, zero, 12);
}

/* Seal the same content with the module's code and with libsmt. */
static void seal_vs_libsmt(u16 cipher, u32 clen, u64 seq)
{
	union smt_kmod_crypto ci;
	struct smt_kaead a = {0};
	struct smt_aead *ref = kt_libsmt_aead(cipher, 9);
	u8 *content = malloc(clen), *rec = malloc(clen + 22),
	   *want = malloc(clen + 22);
	int n;

	cr_assert(ref && content && rec && want);
	for (u32 i = 0; i < clen; i++)
		content[i] = (u8)(i * 7 + 1);
	kt_crypto(&ci, cipher, 9);
	cr_assert_eq(smt_kaead_init(&a, &ci), 0);
	memcpy(rec + 5, content, clen);
	cr_assert_eq(smt_krecord_seal(&a, seq, rec, clen), 0);
	n = smt_record_seal(ref, seq, content, clen, 0, want);
	cr_assert_eq(n, (int)clen + 22);
	cr_expect_arr_eq(rec, want, clen + 22, "cipher %u clen %u", cipher,
			 clen);
	smt_kaead_destroy(&a);
	smt_aead_free(ref);
	free(content);
	free(rec);
	free(want);
}

Test(kmod_crypto, smt_krecord_seal__matches_libsmt_every_cipher)
{
	static const u32 lens[] = {1, 8, 100, 4096, 16384};

	for (unsigned int c = 0; c < 3; c++)
		for (unsigned int l = 0; l < 5; l++)
			seal_vs_libsmt(kt_ciphers[c], lens[l],
				       (42ull << 16) | l);
}

Test(kmod_crypto, smt_krecord_seal__rejects_oversized_content)
{
	union smt_kmod_crypto ci;
	struct smt_kaead a = {0};
	u8 *rec = calloc(1, 16385 + 22);

	kt_crypto(&ci, TLS_CIPHER_AES_GCM_128, 3);
	cr_assert_eq(smt_kaead_init(&a, &ci), 0);
	cr_expect_eq(smt_krecord_seal(&a, 5, rec, 16385), -EINVAL);
	smt_kaead_destroy(&a);
	free(rec);
}

Test(kmod_crypto, smt_krecord_seal__encrypt_error_propagates)
{
	union smt_kmod_crypto ci;
	struct smt_kaead a = {0};
	u8 rec[64] = {0};

	kt_crypto(&ci, TLS_CIPHER_AES_GCM_128, 3);
	cr_assert_eq(smt_kaead_init(&a, &ci), 0);
	mock_fail_encrypt = true;
	cr_expect_eq(smt_krecord_seal(&a, 5, rec, 10), -EIO);
	smt_kaead_destroy(&a);
}

/*
 * msg_id near 2^(B-1), records k > 0, every cipher, B 40/48/56: the
 * module's seq and sealed records match the hand-written seq and the
 * independent sealer of tests/unit/common/seq_vectors.h (not libsmt, which
 * shares include/smt/rules.h with the module).
 */
Test(kmod_crypto, smt_krecord_seal__top_msg_ids_match_reference)
{
	static const int ref_cipher[] = {1, 2, 3}; /* as kt_ciphers[] */
	u8 content[300], rec[322], want[322], key[32], iv[12];

	for (unsigned int i = 0; i < sizeof(content); i++)
		content[i] = (u8)(i * 5 + 3);
	for (unsigned int i = 0; i < 32; i++) /* kt_crypto(.., 9)'s key */
		key[i] = (u8)(9 + 3 * i);
	for (unsigned int i = 0; i < 12; i++)
		iv[i] = (u8)(0x80 + 9 + i);
	for (unsigned int v = 0; v < SEQ_VECTORS; v++) {
		const struct seq_vector *sv = &seq_vectors[v];

		for (unsigned int c = 0; c < 3; c++) {
			union smt_kmod_crypto ci;
			struct smt_kaead a = {0};

			kt_crypto(&ci, kt_ciphers[c], 9);
			cr_assert_eq(smt_kaead_init(&a, &ci), 0);
			for (u32 k = 1; k < 4; k++) {
				u64 seq = smt_record_seq(sv->msg_id, sv->B, k);

				cr_expect_eq(seq, sv->seq0 | k, "B %u k %u",
					     sv->B, k);
				memcpy(rec + 5, content, sizeof(content));
				cr_assert_eq(smt_krecord_seal(&a, seq, rec,
							      sizeof(content)),
					     0);
				cr_assert_eq(
					ref_record_seal(ref_cipher[c], key, iv,
							sv->seq0 | k, content,
							sizeof(content), want),
					(int)sizeof(want));
				cr_expect_arr_eq(rec, want, sizeof(want),
						 "B %u cipher %u k %u", sv->B,
						 kt_ciphers[c], k);
			}
			smt_kaead_destroy(&a);
		}
	}
}
