// SPDX-License-Identifier: BSD-2-Clause
/*
 * Record layer (user/lib/record.c): RFC 8448 section 3 known answers, seal /
 * open round trips with padding for every cipher, tamper and header checks,
 * the inner content type, and control tags.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "keys.h"
#include "record.h"
#include "smt_test.h"

/* RFC 8448 section 3 (Simple 1-RTT Handshake), TLS_AES_128_GCM_SHA256,
 * via /work/shared/vectors/rfc8448-1rtt.txt. */
#define RFC8448_CLIENT_AP_SECRET \
	"9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5"
#define RFC8448_SERVER_AP_SECRET \
	"a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643"
#define RFC8448_KEY_INFO "001009746c733133206b657900"
#define RFC8448_IV_INFO "000c08746c73313320697600"
#define RFC8448_CLIENT_AP_KEY "17422dda596ed5d9acd890e3c63f5051"
#define RFC8448_CLIENT_AP_IV "5b78923dee08579033e523d9"
#define RFC8448_SERVER_AP_KEY "9f02283b6c9c07efc26bb9f2ac92e356"
#define RFC8448_SERVER_AP_IV "cf782b88dd83549aadf1e984"
#define RFC8448_APP_PAYLOAD                                                \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" \
	"202122232425262728292a2b2c2d2e2f3031"
#define RFC8448_CLIENT_APP_RECORD_SEQ0                                     \
	"1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f" \
	"2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae6" \
	"3aeebb21694915e4"
#define RFC8448_SERVER_APP_RECORD_SEQ1                                     \
	"17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36" \
	"e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf33254" \
	"0dd032e167c2955d"
/* an alert record: inner content type 0x15, not application data */
#define RFC8448_CLIENT_ALERT_RECORD_SEQ1 \
	"1703030013c9872760655666b74d7ff1153efd6db6d0b0e3"

struct ap_vec {
	const char *name, *secret, *key, *iv, *record;
	uint64_t seq;
};

static const struct ap_vec ap_vecs[] = {
	{"client", RFC8448_CLIENT_AP_SECRET, RFC8448_CLIENT_AP_KEY,
	 RFC8448_CLIENT_AP_IV, RFC8448_CLIENT_APP_RECORD_SEQ0, 0},
	{"server", RFC8448_SERVER_AP_SECRET, RFC8448_SERVER_AP_KEY,
	 RFC8448_SERVER_AP_IV, RFC8448_SERVER_APP_RECORD_SEQ1, 1},
};

Test(smt_hkdf_label, rfc8448_key_and_iv_info)
{
	uint8_t want[64], got[64];
	size_t n;

	n = th_hex(RFC8448_KEY_INFO, want, sizeof(want));
	cr_assert_eq(smt_hkdf_label(16, "key", NULL, 0, got, sizeof(got)),
		     (int)n);
	cr_assert_arr_eq(got, want, n);
	n = th_hex(RFC8448_IV_INFO, want, sizeof(want));
	cr_assert_eq(smt_hkdf_label(12, "iv", NULL, 0, got, sizeof(got)),
		     (int)n);
	cr_assert_arr_eq(got, want, n);
}

Test(smt_hkdf_label, protocol_md_smt_c_key_example)
{
	/* docs/protocol.md section 6 */
	uint8_t want[64], got[64];
	size_t n = th_hex("00 10 0f 746c73313320736d742063206b6579 00", want,
			  sizeof(want));

	cr_assert_eq(smt_hkdf_label(16, "smt c key", NULL, 0, got, sizeof(got)),
		     (int)n);
	cr_assert_arr_eq(got, want, n);
}

Test(smt_hkdf_expand_label, rfc8448_application_traffic_keys)
{
	for (size_t i = 0; i < sizeof(ap_vecs) / sizeof(ap_vecs[0]); i++) {
		const struct ap_vec *v = &ap_vecs[i];
		uint8_t secret[32], key[16], iv[12], want[32];

		th_hex(v->secret, secret, sizeof(secret));
		cr_assert_eq(smt_hkdf_expand_label("SHA256", secret, 32, "key",
						   NULL, 0, key, 16),
			     0);
		th_hex(v->key, want, sizeof(want));
		cr_assert_arr_eq(key, want, 16, "%s key", v->name);
		cr_assert_eq(smt_hkdf_expand_label("SHA256", secret, 32, "iv",
						   NULL, 0, iv, 12),
			     0);
		th_hex(v->iv, want, sizeof(want));
		cr_assert_arr_eq(iv, want, 12, "%s iv", v->name);
	}
}

static struct smt_aead *vec_aead(const struct ap_vec *v)
{
	uint8_t key[16], iv[12];

	th_hex(v->key, key, sizeof(key));
	th_hex(v->iv, iv, sizeof(iv));
	return smt_aead_new(SMT_CIPHER_AES_128_GCM, key, 16, iv);
}

Test(smt_record_open, rfc8448_application_records)
{
	for (size_t i = 0; i < sizeof(ap_vecs) / sizeof(ap_vecs[0]); i++) {
		const struct ap_vec *v = &ap_vecs[i];
		struct smt_aead *a = vec_aead(v);
		uint8_t rec[128], out[128], want[64];
		size_t rlen = th_hex(v->record, rec, sizeof(rec));
		size_t wlen = th_hex(RFC8448_APP_PAYLOAD, want, sizeof(want));

		cr_assert(a);
		/* the record's inner type is 0x17: 50 + 1 + 16 = 0x43 */
		cr_assert_eq(rlen, 5 + wlen + 1 + 16);
		cr_assert_eq(smt_record_open(a, v->seq, rec, rlen, out),
			     (int)wlen, "%s record opens", v->name);
		cr_assert_arr_eq(out, want, wlen);
		/* wrong sequence number */
		cr_assert_eq(smt_record_open(a, v->seq + 1, rec, rlen, out),
			     -SMT_DROP_RECORD_AUTH);
		smt_aead_free(a);
	}
}

Test(smt_record_seal, rfc8448_client_record_seq0)
{
	struct smt_aead *a = vec_aead(&ap_vecs[0]);
	uint8_t app[64], want[128], out[128];
	size_t alen = th_hex(RFC8448_APP_PAYLOAD, app, sizeof(app));
	size_t wlen =
		th_hex(RFC8448_CLIENT_APP_RECORD_SEQ0, want, sizeof(want));

	static const size_t cuts[] = {0, 1, 8, 49, 50};

	cr_assert_eq(smt_record_seal(a, 0, app, alen, 0, out), (int)wlen);
	cr_assert_arr_eq(out, want, wlen);
	/* out of place from pieces (the inner header and the application's
	 * buffer): the same record */
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct iovec v[3] = {
			{.iov_base = app, .iov_len = cuts[i]},
			{.iov_base = NULL, .iov_len = 0},
			{.iov_base = app + cuts[i], .iov_len = alen - cuts[i]},
		};

		memset(out, 0, sizeof(out));
		cr_assert_eq(smt_record_sealv(a, 0, v, 3, 0, out), (int)wlen);
		cr_assert_arr_eq(out, want, wlen, "cut at %zu", cuts[i]);
	}
	smt_aead_free(a);
}

Test(smt_record_open, alert_inner_type_is_bad_inner)
{
	struct smt_aead *a = vec_aead(&ap_vecs[0]);
	uint8_t rec[64], out[64];
	size_t rlen =
		th_hex(RFC8448_CLIENT_ALERT_RECORD_SEQ1, rec, sizeof(rec));

	memset(out, 0xee, sizeof(out));
	cr_assert_eq(smt_record_open(a, 1, rec, rlen, out),
		     -SMT_DROP_BAD_INNER);
	/* the alert plaintext 01 00 must not be left behind */
	for (size_t i = 0; i < rlen - 22; i++)
		cr_assert_eq(out[i], 0, "out[%zu] cleared", i);
	smt_aead_free(a);
}

static const enum smt_cipher all_ciphers[] = {
	SMT_CIPHER_AES_128_GCM,
	SMT_CIPHER_AES_256_GCM,
	SMT_CIPHER_CHACHA20_POLY1305,
};

Test(smt_record_seal, round_trip_sizes_and_padding)
{
	static const size_t lens[] = {0, 1, 15, 16, 17, 1000, 16383, 16384};
	static const size_t pads[] = {0, 1, 255, 256, 300};
	static uint8_t in[16384], rec[16384 + 22], out[16384 + 22];

	th_fill(in, sizeof(in), 1);
	for (size_t c = 0; c < 3; c++) {
		struct smt_aead *a = th_aead(all_ciphers[c], 3);

		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			for (size_t j = 0; j < sizeof(pads) / sizeof(pads[0]);
			     j++) {
				size_t len = lens[i], pad = pads[j];
				int n;

				if (len + pad > 16384)
					continue;
				n = smt_record_seal(a, 42, in, len, pad, rec);
				cr_assert_eq(n, (int)(len + pad + 22));
				cr_assert_eq(rec[3] << 8 | rec[4],
					     (int)(len + pad + 17));
				cr_assert_eq(smt_record_open(a, 42, rec,
							     (size_t)n, out),
					     (int)len,
					     "cipher %zu len %zu pad %zu", c,
					     len, pad);
				cr_assert_arr_eq(out, in, len);
			}
		}
		smt_aead_free(a);
	}
}

Test(smt_record_seal, too_long_is_einval)
{
	static uint8_t in[16385], rec[16385 + 22];
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 1);

	cr_assert_eq(smt_record_seal(a, 0, in, 16385, 0, rec), -EINVAL);
	cr_assert_eq(smt_record_seal(a, 0, in, 16000, 385, rec), -EINVAL);
	smt_aead_free(a);
}

Test(smt_record_open, in_place)
{
	uint8_t in[3000], rec[3000 + 22];
	struct smt_aead *a = th_aead(SMT_CIPHER_CHACHA20_POLY1305, 9);
	int n;

	th_fill(in, sizeof(in), 2);
	memcpy(rec + 5, in, sizeof(in));
	n = smt_record_seal(a, 7, rec + 5, sizeof(in), 0, rec);
	cr_assert_eq(n, (int)sizeof(rec));
	cr_assert_eq(smt_record_open(a, 7, rec, sizeof(rec), rec + 5),
		     (int)sizeof(in));
	cr_assert_arr_eq(rec + 5, in, sizeof(in));
	smt_aead_free(a);
}

Test(smt_record_open, flipped_bit_anywhere_fails_and_clears)
{
	uint8_t in[600], rec[600 + 22], bad[600 + 22], out[600 + 22];

	th_fill(in, sizeof(in), 5);
	for (size_t c = 0; c < 3; c++) {
		struct smt_aead *a = th_aead(all_ciphers[c], 4);
		int n = smt_record_seal(a, 1, in, sizeof(in), 0, rec);

		cr_assert_eq(n, (int)sizeof(rec));
		/* every byte of the record, a different bit each time */
		for (size_t pos = 0; pos < sizeof(rec); pos++) {
			int r, want;

			memcpy(bad, rec, sizeof(rec));
			bad[pos] ^= (uint8_t)(1u << (pos % 8));
			memset(out, 0xee, sizeof(out));
			r = smt_record_open(a, 1, bad, sizeof(bad), out);
			want = pos < 5 ? -SMT_DROP_BAD_RECORD_HDR
				       : -SMT_DROP_RECORD_AUTH;
			cr_assert_eq(r, want, "cipher %zu byte %zu", c, pos);
			if (pos >= 5)
				for (size_t i = 0; i < sizeof(in); i++)
					cr_assert_eq(out[i], 0);
		}
		smt_aead_free(a);
	}
}

Test(smt_record_open, header_rules)
{
	uint8_t in[100], rec[200], out[200];
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 1);
	int n = smt_record_seal(a, 3, in, sizeof(in), 0, rec);

	memset(in, 1, sizeof(in));
	cr_assert_eq(n, 122);
	/* length field must match the record length */
	cr_assert_eq(smt_record_open(a, 3, rec, 121, out),
		     -SMT_DROP_BAD_RECORD_HDR);
	/* shorter than header + 17 */
	cr_assert_eq(smt_record_open(a, 3, rec, 21, out),
		     -SMT_DROP_BAD_RECORD_HDR);
	/* longer than 16406 */
	cr_assert_eq(smt_record_open(a, 3, rec, 16407, out),
		     -SMT_DROP_BAD_RECORD_HDR);
	smt_aead_free(a);
}

/* Seal plaintext as-is (no inner type added), with plain OpenSSL. */
static size_t raw_seal(const uint8_t key[16], const uint8_t iv[12],
		       const uint8_t *pt, size_t n, uint8_t *rec)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int m;

	rec[0] = 0x17;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (uint8_t)((n + 16) >> 8);
	rec[4] = (uint8_t)(n + 16);
	cr_assert(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, key, iv));
	cr_assert(EVP_EncryptUpdate(ctx, NULL, &m, rec, 5));
	cr_assert(EVP_EncryptUpdate(ctx, rec + 5, &m, pt, (int)n));
	cr_assert(EVP_EncryptFinal_ex(ctx, rec + 5 + n, &m));
	cr_assert(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16,
				      rec + 5 + n));
	EVP_CIPHER_CTX_free(ctx);
	return 5 + n + 16;
}

Test(smt_record_open, inner_type_after_padding)
{
	static const struct {
		const char *pt;
		int want;
	} t[] = {
		{"aabb17", 2}, /* content aa bb, type 0x17 */
		{"aabb170000", 2}, /* two bytes of zero padding */
		{"aa00170000", 2}, /* a zero inside the content stays */
		{"17", 0}, /* empty content */
		{"000000", -SMT_DROP_BAD_INNER}, /* no type at all */
		{"aabb150000", -SMT_DROP_BAD_INNER}, /* alert */
		{"aabb16", -SMT_DROP_BAD_INNER}, /* handshake */
	};
	uint8_t key[16] = {1}, iv[12] = {2}, pt[16], rec[64], out[64];
	struct smt_aead *a = smt_aead_new(SMT_CIPHER_AES_128_GCM, key, 16, iv);

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = th_hex(t[i].pt, pt, sizeof(pt));
		size_t rlen = raw_seal(key, iv, pt, n, rec);

		cr_assert_eq(smt_record_open(a, 0, rec, rlen, out), t[i].want,
			     "plaintext %s", t[i].pt);
		if (t[i].want > 0)
			cr_assert_arr_eq(out, pt, (size_t)t[i].want);
	}
	smt_aead_free(a);
}

/* A last record padded to a whole packet (up to max_pad, 1500 in the
 * bench) is stripped a word at a time: content that itself ends in zero
 * bytes, of every length around the word size, keeps them, opened whole
 * and in two parts (the type byte stops the scan). */
Test(smt_record_open, long_padding_after_zero_content)
{
	static uint8_t in[64], rec[64 + 1500 + 22], out[64 + 1500 + 22];
	uint8_t hdr[8];

	for (size_t len = 1; len <= sizeof(in); len += 3) {
		for (size_t pad = 1493; pad <= 1500; pad++) {
			struct smt_aead *a = th_aead(all_ciphers[0], 4);
			size_t z = len < 20 ? len - 1 : 20;
			int n;

			th_fill(in, len, (unsigned int)len);
			in[0] = 0xaa; /* not all zero */
			memset(in + len - z, 0, z);
			n = smt_record_seal(a, 9, in, len, pad, rec);
			cr_assert_eq(smt_record_open_split(a, 9, rec, (size_t)n,
							   hdr, sizeof(hdr),
							   out),
				     (int)len, "len %zu pad %zu", len, pad);
			cr_assert_arr_eq(hdr, in, len < 8 ? len : 8);
			if (len > 8)
				cr_assert_arr_eq(out, in + 8, len - 8);
			cr_assert_eq(smt_record_open(a, 9, rec, (size_t)n, out),
				     (int)len, "len %zu pad %zu", len, pad);
			cr_assert_arr_eq(out, in, len);
			smt_aead_free(a);
		}
	}
}

Test(smt_aead_new, rejects_bad_key_length_and_cipher)
{
	uint8_t key[32] = {0}, iv[12] = {0};

	errno = 0;
	cr_assert_null(smt_aead_new(SMT_CIPHER_AES_128_GCM, key, 32, iv));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(smt_aead_new(SMT_CIPHER_AES_256_GCM, key, 16, iv));
	cr_assert_null(smt_aead_new(SMT_CIPHER_NONE, key, 16, iv));
	cr_assert_null(smt_aead_new((enum smt_cipher)9, key, 16, iv));
}

/* AES-GCM's records go to the provider's functions, not through EVP's
 * parameter look-ups per record (docs/engine.md "CPU per RPC under
 * load"); the known-answer tests above check what they seal. */
Test(smt_aead_new, aes_gcm_keys_skip_evp)
{
	uint8_t key[32] = {0}, iv[12] = {0};
	struct smt_aead *a128 =
		smt_aead_new(SMT_CIPHER_AES_128_GCM, key, 16, iv);
	struct smt_aead *a256 =
		smt_aead_new(SMT_CIPHER_AES_256_GCM, key, 32, iv);
	struct smt_aead *ch =
		smt_aead_new(SMT_CIPHER_CHACHA20_POLY1305, key, 32, iv);

	cr_assert(a128 && a256 && ch);
	cr_assert_eq(smt_aead_direct(a128), 1);
	cr_assert_eq(smt_aead_direct(a256), 1);
	cr_assert_eq(smt_aead_direct(ch), 0);
	smt_aead_free(a128);
	smt_aead_free(a256);
	smt_aead_free(ch);
}

Test(smt_cipher_from_name, iana_and_short_names)
{
	static const struct {
		const char *name;
		enum smt_cipher c;
	} t[] = {
		{"TLS_AES_128_GCM_SHA256", SMT_CIPHER_AES_128_GCM},
		{"TLS_AES_256_GCM_SHA384", SMT_CIPHER_AES_256_GCM},
		{"TLS_CHACHA20_POLY1305_SHA256", SMT_CIPHER_CHACHA20_POLY1305},
		{"aes128gcm", SMT_CIPHER_AES_128_GCM},
		{"aes256gcm", SMT_CIPHER_AES_256_GCM},
		{"chacha20poly1305", SMT_CIPHER_CHACHA20_POLY1305},
		{"TLS_AES_128_CCM_SHA256", SMT_CIPHER_NONE},
		{"", SMT_CIPHER_NONE},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_assert_eq(smt_cipher_from_name(t[i].name), t[i].c, "%s",
			     t[i].name);
	cr_assert_str_eq(smt_cipher_name(SMT_CIPHER_AES_256_GCM),
			 "TLS_AES_256_GCM_SHA384");
	cr_assert_eq(smt_cipher_key_len(SMT_CIPHER_AES_128_GCM), 16);
	cr_assert_eq(smt_cipher_key_len(SMT_CIPHER_CHACHA20_POLY1305), 32);
	cr_assert_str_eq(smt_cipher_md(SMT_CIPHER_AES_256_GCM), "SHA384");
}

Test(smt_ctl_tag, verifies_and_rejects_changes)
{
	uint8_t aad[48], tag[16], bad[16];

	th_fill(aad, sizeof(aad), 8);
	for (size_t c = 0; c < 3; c++) {
		struct smt_aead *a = th_aead(all_ciphers[c], 2);
		struct smt_aead *other = th_aead(all_ciphers[c], 3);

		cr_assert_eq(smt_ctl_tag(a, 5, aad, sizeof(aad), tag), 0);
		cr_assert_eq(smt_ctl_tag_verify(a, 5, aad, sizeof(aad), tag),
			     0);
		cr_assert_eq(smt_ctl_tag_verify(a, 6, aad, sizeof(aad), tag),
			     -SMT_DROP_CTL_AUTH);
		cr_assert_eq(
			smt_ctl_tag_verify(other, 5, aad, sizeof(aad), tag),
			-SMT_DROP_CTL_AUTH);
		aad[10] ^= 4;
		cr_assert_eq(smt_ctl_tag_verify(a, 5, aad, sizeof(aad), tag),
			     -SMT_DROP_CTL_AUTH);
		aad[10] ^= 4;
		memcpy(bad, tag, 16);
		bad[15] ^= 1;
		cr_assert_eq(smt_ctl_tag_verify(a, 5, aad, sizeof(aad), bad),
			     -SMT_DROP_CTL_AUTH);
		smt_aead_free(a);
		smt_aead_free(other);
	}
}

Test(smt_ctl_tag, differs_from_record_seq_space)
{
	/* ctl_seq 0 uses seq 1 << 63, never a data record's seq */
	uint8_t aad[8] = {0}, t1[16], t2[16], rec[64];
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 2);

	cr_assert_eq(smt_ctl_tag(a, 1, aad, sizeof(aad), t1), 0);
	cr_assert_eq(smt_ctl_tag(a, 2, aad, sizeof(aad), t2), 0);
	cr_assert_arr_neq(t1, t2, 16);
	cr_assert_eq(smt_ctl_tag(a, SMT_CTL_SEQ_BIT | 1, aad, 8, t1), -EINVAL);
	cr_assert_gt(smt_record_seal(a, 1, aad, 8, 0, rec), 0);
	smt_aead_free(a);
}

Test(smt_record_sealv, padding_and_limits)
{
	static uint8_t in[16384], rec[16384 + 22], out[16384 + 22];
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_256_GCM, 6);
	struct iovec v[2] = {{.iov_base = in, .iov_len = 8},
			     {.iov_base = in + 8, .iov_len = 1000}};
	struct iovec bad = {.iov_base = NULL, .iov_len = 1};
	int n;

	th_fill(in, sizeof(in), 3);
	n = smt_record_sealv(a, 9, v, 2, 418, rec);
	cr_assert_eq(n, 1008 + 418 + 22);
	cr_assert_eq(smt_record_open(a, 9, rec, (size_t)n, out), 1008);
	cr_assert_arr_eq(out, in, 1008);
	v[1].iov_len = 16384 - 8;
	cr_assert_eq(smt_record_sealv(a, 9, v, 2, 1, rec), -EINVAL);
	cr_assert_eq(smt_record_sealv(a, 9, &bad, 1, 0, rec), -EINVAL);
	smt_aead_free(a);
}

/* Opened in two parts (the message's inner header and its application
 * buffer): the same content as in one, the known answers too; a failure
 * clears both parts. */
Test(smt_record_open_split, two_parts_and_failures_clear_both)
{
	static const size_t lens[] = {0, 3, 8, 9, 600};
	static const size_t pads[] = {0, 1, 300};
	uint8_t in[600], rec[600 + 300 + 22], hdr[8], out[600 + 300 + 22];

	th_fill(in, sizeof(in), 7);
	for (size_t c = 0; c < 3; c++) {
		struct smt_aead *a = th_aead(all_ciphers[c], 5);

		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			for (size_t j = 0; j < sizeof(pads) / sizeof(pads[0]);
			     j++) {
				size_t len = lens[i], h = len < 8 ? len : 8;
				int n = smt_record_seal(a, 3, in, len, pads[j],
							rec);

				memset(hdr, 0xee, sizeof(hdr));
				cr_assert_eq(smt_record_open_split(
						     a, 3, rec, (size_t)n, hdr,
						     sizeof(hdr), out),
					     (int)len,
					     "cipher %zu len %zu pad %zu", c,
					     len, pads[j]);
				cr_assert_arr_eq(hdr, in, h);
				if (len > 8)
					cr_assert_arr_eq(out, in + 8, len - 8);
				/* a flipped tag bit: nothing left behind */
				rec[n - 1] ^= 0x10;
				memset(hdr, 0xee, sizeof(hdr));
				memset(out, 0xee, sizeof(out));
				cr_assert_eq(smt_record_open_split(
						     a, 3, rec, (size_t)n, hdr,
						     sizeof(hdr), out),
					     -SMT_DROP_RECORD_AUTH);
				/* hdr took the first 8 bytes of content,
				 * type and padding */
				h = len + pads[j] < 8 ? len + pads[j] : 8;
				for (size_t k = 0; k < h; k++)
					cr_assert_eq(hdr[k], 0);
				for (size_t k = 0; k + 22 < (size_t)n - h; k++)
					cr_assert_eq(out[k], 0);
			}
		}
		smt_aead_free(a);
	}
	for (size_t i = 0; i < sizeof(ap_vecs) / sizeof(ap_vecs[0]); i++) {
		struct smt_aead *a = vec_aead(&ap_vecs[i]);
		uint8_t r[128], want[64];
		size_t rlen = th_hex(ap_vecs[i].record, r, sizeof(r));
		size_t wlen = th_hex(RFC8448_APP_PAYLOAD, want, sizeof(want));

		cr_assert_eq(smt_record_open_split(a, ap_vecs[i].seq, r, rlen,
						   hdr, sizeof(hdr), out),
			     (int)wlen);
		cr_assert_arr_eq(hdr, want, 8);
		cr_assert_arr_eq(out, want + 8, wlen - 8);
		smt_aead_free(a);
	}
}

/* Records around the size sealed in one call (record.c SMT_REC_GATHER):
 * from pieces, in place (the content already at its place in the output)
 * and padded, the same bytes each way, and they open to the content. */
Test(smt_record_sealv, small_records_gathered_in_place_and_padded)
{
	static const size_t lens[] = {0,   1,	15,  16,  64,
				      480, 510, 511, 512, 600};
	static const size_t pads[] = {0, 1, 17, 300};
	static uint8_t in[1024], a_out[2048], b_out[2048], got[2048];
	struct smt_aead *a = th_aead(SMT_CIPHER_AES_128_GCM, 8);

	th_fill(in, sizeof(in), 5);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t j = 0; j < sizeof(pads) / sizeof(pads[0]); j++) {
			size_t len = lens[i], pad = pads[j],
			       h = len < 8 ? len : 8;
			struct iovec v[2] = {
				{.iov_base = in, .iov_len = h},
				{.iov_base = in + h, .iov_len = len - h}};
			struct iovec w = {.iov_base = b_out + 5,
					  .iov_len = len};
			int n = smt_record_sealv(a, 7, v, 2, pad, a_out);

			cr_assert_eq(n, (int)(len + pad + 22),
				     "len %zu pad %zu", len, pad);
			memcpy(b_out + 5, in, len);
			cr_assert_eq(smt_record_sealv(a, 7, &w, 1, pad, b_out),
				     n);
			cr_assert_arr_eq(a_out, b_out, (size_t)n,
					 "len %zu pad %zu", len, pad);
			cr_assert_eq(
				smt_record_open(a, 7, a_out, (size_t)n, got),
				(int)len);
			cr_assert_arr_eq(got, in, len);
		}
	smt_aead_free(a);
}
