// SPDX-License-Identifier: BSD-2-Clause
/*
 * Key schedule (user/lib/keys.c): RFC 5869 HKDF known answers, SMT direction
 * key derivation (docs/protocol.md section 6) and the SMT_KEYLOGFILE line
 * format (section 7): round trips and errors that name the bad field.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>

#include <criterion/criterion.h>

#include "keys.h"
#include "smt_test.h"

/* RFC 5869 appendix A, test cases 1 to 3 (SHA-256). */
static const struct {
	const char *ikm, *salt, *info, *prk, *okm;
} rfc5869[] = {
	{"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
	 "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9",
	 "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
	 "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
	 "34007208d5b887185865"},
	{"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	 "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	 "404142434445464748494a4b4c4d4e4f",
	 "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	 "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	 "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
	 "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	 "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
	 "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
	 "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
	 "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
	 "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
	 "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
	{"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
	 "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
	 "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	 "9d201395faa4b61a96c8"},
};

Test(smt_hkdf, rfc5869_sha256_cases_1_to_3)
{
	for (size_t i = 0; i < sizeof(rfc5869) / sizeof(rfc5869[0]); i++) {
		uint8_t ikm[128], salt[128], info[128], prk[64], okm[128];
		uint8_t want_prk[64], want_okm[128], got[128];
		size_t ni = th_hex(rfc5869[i].ikm, ikm, sizeof(ikm));
		size_t ns = th_hex(rfc5869[i].salt, salt, sizeof(salt));
		size_t nf = th_hex(rfc5869[i].info, info, sizeof(info));
		size_t np = th_hex(rfc5869[i].prk, want_prk, sizeof(want_prk));
		size_t no = th_hex(rfc5869[i].okm, want_okm, sizeof(want_okm));

		cr_assert_eq(smt_hkdf_extract("SHA256", salt, ns, ikm, ni, prk),
			     (int)np, "case %zu extract", i + 1);
		cr_assert_arr_eq(prk, want_prk, np, "case %zu PRK", i + 1);
		cr_assert_eq(
			smt_hkdf_expand("SHA256", prk, np, info, nf, okm, no),
			0);
		cr_assert_arr_eq(okm, want_okm, no, "case %zu OKM", i + 1);
		(void)got;
	}
}

Test(smt_hkdf_expand_label, rejects_bad_arguments)
{
	uint8_t s[32] = {0}, out[32];
	char label[260];

	memset(label, 'a', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	cr_assert_eq(
		smt_hkdf_expand_label("SHA256", s, 32, label, NULL, 0, out, 16),
		-EINVAL);
	cr_assert_neq(smt_hkdf_expand_label("NOSUCHHASH", s, 32, "key", NULL, 0,
					    out, 16),
		      0);
	/* SHA-256 HKDF cannot expand beyond 255 * 32 bytes: checked by
	 * OpenSSL; a 16-byte request works */
	cr_assert_eq(
		smt_hkdf_expand_label("SHA256", s, 32, "key", NULL, 0, out, 16),
		0);
}

Test(smt_keys_derive, labels_and_lengths_per_cipher)
{
	static const struct {
		enum smt_cipher c;
		const char *md;
		size_t key_len, secret_len;
	} t[] = {
		{SMT_CIPHER_AES_128_GCM, "SHA256", 16, 32},
		{SMT_CIPHER_AES_256_GCM, "SHA384", 32, 48},
		{SMT_CIPHER_CHACHA20_POLY1305, "SHA256", 32, 32},
	};
	uint8_t secret[48];

	th_fill(secret, sizeof(secret), 77);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct smt_keys k;
		uint8_t want[32];

		cr_assert_eq(
			smt_keys_derive(t[i].c, secret, t[i].secret_len, &k),
			0);
		cr_assert_eq(k.cipher, t[i].c);
		cr_assert_eq(k.key_len, t[i].key_len);
		smt_hkdf_expand_label(t[i].md, secret, t[i].secret_len,
				      "smt c key", NULL, 0, want, t[i].key_len);
		cr_assert_arr_eq(k.c_key, want, t[i].key_len);
		smt_hkdf_expand_label(t[i].md, secret, t[i].secret_len,
				      "smt c iv", NULL, 0, want, 12);
		cr_assert_arr_eq(k.c_iv, want, 12);
		smt_hkdf_expand_label(t[i].md, secret, t[i].secret_len,
				      "smt s key", NULL, 0, want, t[i].key_len);
		cr_assert_arr_eq(k.s_key, want, t[i].key_len);
		smt_hkdf_expand_label(t[i].md, secret, t[i].secret_len,
				      "smt s iv", NULL, 0, want, 12);
		cr_assert_arr_eq(k.s_iv, want, 12);
		cr_assert_arr_neq(k.c_key, k.s_key, t[i].key_len);
		smt_keys_wipe(&k);
		for (size_t j = 0; j < sizeof(k.c_key); j++)
			cr_assert_eq(k.c_key[j], 0);
	}
}

Test(smt_keys_derive, rfc8448_exporter_secret_differs_from_traffic_keys)
{
	/* SMT keys come from the exporter, never equal the TLS traffic keys
	 * (RFC 8448 section 3 exporter_master_secret stands in for S). */
	uint8_t s[32], tls_key[16];
	struct smt_keys k;

	th_hex("fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50",
	       s, sizeof(s));
	th_hex("17422dda596ed5d9acd890e3c63f5051", tls_key, sizeof(tls_key));
	cr_assert_eq(smt_keys_derive(SMT_CIPHER_AES_128_GCM, s, 32, &k), 0);
	cr_assert_arr_neq(k.c_key, tls_key, 16);
	smt_keys_wipe(&k);
	cr_assert_eq(smt_keys_derive(SMT_CIPHER_NONE, s, 32, &k), -EINVAL);
}

#define KL_V4                                                                \
	"SMT_SESSION 10.0.0.1 4000 10.0.0.2 5000 TLS_AES_128_GCM_SHA256 48 " \
	"3 1048576 0 000102030405060708090a0b0c0d0e0f "                      \
	"a0a1a2a3a4a5a6a7a8a9aaab 101112131415161718191a1b1c1d1e1f "         \
	"b0b1b2b3b4b5b6b7b8b9babb\n"
#define KL_V6                                                               \
	"SMT_SESSION 2001:db8::1 1 fe80::2:3 65535 "                        \
	"TLS_CHACHA20_POLY1305_SHA256 56 255 1048568 16383 "                \
	"000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f " \
	"a0a1a2a3a4a5a6a7a8a9aaab "                                         \
	"101112131415161718191a1b1c1d1e1f101112131415161718191a1b1c1d1e1f " \
	"b0b1b2b3b4b5b6b7b8b9babb\n"

Test(smt_keylog_parse, ipv4_fields)
{
	struct smt_keylog kl;
	const char *err = "unset";
	const struct sockaddr_in *c = (const void *)&kl.client;
	const struct sockaddr_in *s = (const void *)&kl.server;

	cr_assert_eq(smt_keylog_parse(KL_V4, &kl, &err), 0, "%s", err);
	cr_assert_null(err);
	cr_assert_eq(kl.client.ss_family, AF_INET);
	cr_assert_eq(ntohl(c->sin_addr.s_addr), 0x0a000001);
	cr_assert_eq(ntohs(c->sin_port), 4000);
	cr_assert_eq(ntohl(s->sin_addr.s_addr), 0x0a000002);
	cr_assert_eq(ntohs(s->sin_port), 5000);
	cr_assert_eq(kl.keys.cipher, SMT_CIPHER_AES_128_GCM);
	cr_assert_eq(kl.keys.key_len, 16);
	cr_assert_eq(kl.B, 48);
	cr_assert_eq(kl.epoch, 3);
	cr_assert_eq(kl.max_msg, 1048576);
	cr_assert_eq(kl.max_pad, 0);
	cr_assert_eq(kl.keys.c_key[15], 0x0f);
	cr_assert_eq(kl.keys.c_iv[0], 0xa0);
	cr_assert_eq(kl.keys.s_key[0], 0x10);
	cr_assert_eq(kl.keys.s_iv[11], 0xbb);
}

Test(smt_keylog_format, round_trip_ipv4_and_ipv6)
{
	static const char *const lines[] = {KL_V4, KL_V6};

	for (size_t i = 0; i < 2; i++) {
		struct smt_keylog kl;
		char buf[512];
		const char *err = NULL;

		cr_assert_eq(smt_keylog_parse(lines[i], &kl, &err), 0, "%s",
			     err);
		cr_assert_eq(smt_keylog_format(&kl, buf, sizeof(buf)),
			     (int)strlen(lines[i]));
		cr_assert_str_eq(buf, lines[i]);
		cr_assert_eq(smt_keylog_format(&kl, buf, 20), -ENOSPC);
	}
}

Test(smt_keylog_format, ipv6_in_rfc5952_form)
{
	struct smt_keylog kl;
	char buf[512];

	cr_assert_eq(
		smt_keylog_parse("SMT_SESSION 2001:0DB8:0:0:0:0:0:0001 1 ::1 2 "
				 "TLS_AES_128_GCM_SHA256 48 0 1024 0 "
				 "000102030405060708090a0b0c0d0e0f "
				 "a0a1a2a3a4a5a6a7a8a9aaab "
				 "101112131415161718191a1b1c1d1e1f "
				 "b0b1b2b3b4b5b6b7b8b9babb",
				 &kl, NULL),
		0);
	cr_assert_gt(smt_keylog_format(&kl, buf, sizeof(buf)), 0);
	cr_assert(!strncmp(buf, "SMT_SESSION 2001:db8::1 1 ::1 2 ", 32), "%s",
		  buf);
}

/* Replace field idx (0-based) of KL_V4 with val. */
static void kl_with(char *out, size_t len, int idx, const char *val)
{
	char tmp[512], *f[16], *s = tmp;
	int n = 0;

	strcpy(tmp, KL_V4);
	tmp[strlen(tmp) - 1] = '\0';
	while (s && n < 16) {
		f[n++] = s;
		s = strchr(s, ' ');
		if (s)
			*s++ = '\0';
	}
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		strncat(out, i == idx ? val : f[i], len - strlen(out) - 1);
		if (i + 1 < n)
			strncat(out, " ", len - strlen(out) - 1);
	}
}

Test(smt_keylog_parse, errors_name_the_field)
{
	static const struct {
		int idx;
		const char *val, *field;
	} t[] = {
		{0, "SMT_SESSIONX", "label"},
		{1, "10.0.0.300", "client ip"},
		{1, "[::1]", "client ip"},
		{2, "65536", "client port"},
		{2, "-1", "client port"},
		{3, "host.example", "server ip"},
		{4, "x", "server port"},
		{5, "aes128gcm", "cipher"},
		{5, "TLS_AES_128_CCM_SHA256", "cipher"},
		{6, "39", "B"},
		{6, "57", "B"},
		{7, "256", "epoch"},
		{8, "67108865", "M"},
		{9, "16384", "P"},
		{10, "000102030405060708090a0b0c0d0e", "c_key"},
		{10, "000102030405060708090A0B0C0D0E0F", "c_key"},
		{11, "a0a1a2a3a4a5a6a7a8a9aaabcc", "c_iv"},
		{12, "zz1112131415161718191a1b1c1d1e1f", "s_key"},
		{13, "", "line"},
		{13, "b0b1b2b3b4b5b6b7b8b9babb extra", "line"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char line[600];
		struct smt_keylog kl;
		const char *err = NULL;

		kl_with(line, sizeof(line), t[i].idx, t[i].val);
		cr_assert_eq(smt_keylog_parse(line, &kl, &err), -EINVAL,
			     "line %s", line);
		cr_assert_not_null(err);
		cr_assert(!strncmp(err, t[i].field, strlen(t[i].field)) &&
				  err[strlen(t[i].field)] == ':',
			  "case %zu: error '%s' should name '%s'", i, err,
			  t[i].field);
	}
}

Test(smt_keylog_parse, b56_needs_small_m)
{
	/* B = 56 allows 256 records: M = 1 MiB is refused at set-up */
	char line[600];
	struct smt_keylog kl;
	const char *err = NULL;

	kl_with(line, sizeof(line), 6, "56");
	cr_assert_eq(smt_keylog_parse(line, &kl, &err), -EINVAL);
	cr_assert(!strncmp(err, "M:", 2), "%s", err);
}

Test(smt_keylog_parse, double_space_is_rejected)
{
	struct smt_keylog kl;
	const char *err = NULL;

	cr_assert_eq(smt_keylog_parse("SMT_SESSION  10.0.0.1 4000", &kl, &err),
		     -EINVAL);
	cr_assert_not_null(err);
}
