// SPDX-License-Identifier: BSD-2-Clause
/*
 * SMT key schedule (docs/protocol.md sections 6 and 7): HKDF (RFC 5869) and
 * HKDF-Expand-Label (RFC 8446 section 7.1) through OpenSSL's "HKDF" KDF, the
 * four direction keys and IVs derived from the TLS exporter secret, and the
 * SMT_KEYLOGFILE line format. Intermediate key material is wiped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "codec.h"
#include "keys.h"

#define HKDF_LABEL_PREFIX "tls13 "
#define HKDF_LABEL_MAX (2 + 1 + 255 + 1 + 255)

static int hkdf(int mode, const char *md, const uint8_t *key, size_t key_len,
		const uint8_t *salt, size_t salt_len, const uint8_t *info,
		size_t info_len, uint8_t *out, size_t out_len)
{
	OSSL_PARAM params[6], *p = params;
	EVP_KDF_CTX *kctx = NULL;
	EVP_KDF *kdf;
	int ret = -EINVAL;

	if (!md || !key || !out)
		return -EINVAL;
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf)
		return -ENOSYS;
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!kctx)
		return -ENOMEM;
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)md, 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)key, key_len);
	if (salt)
		*p++ = OSSL_PARAM_construct_octet_string(
			OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	if (info && info_len)
		*p++ = OSSL_PARAM_construct_octet_string(
			OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, out_len, params) == 1)
		ret = 0;
	EVP_KDF_CTX_free(kctx);
	return ret;
}

int smt_hkdf_extract(const char *md, const uint8_t *salt, size_t salt_len,
		     const uint8_t *ikm, size_t ikm_len, uint8_t *prk)
{
	static const uint8_t nosalt[1];
	const EVP_MD *d;
	int len, ret;

	if (!md)
		return -EINVAL;
	d = EVP_get_digestbyname(md);
	if (!d)
		return -EINVAL;
	len = EVP_MD_get_size(d);
	if (len <= 0 || len > 64)
		return -EINVAL;
	/* OpenSSL wants a non-NULL key: an empty IKM is still valid HKDF. */
	ret = hkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, md, ikm ? ikm : nosalt,
		   ikm_len, salt ? salt : nosalt, salt_len, NULL, 0, prk,
		   (size_t)len);
	return ret ? ret : len;
}

int smt_hkdf_expand(const char *md, const uint8_t *prk, size_t prk_len,
		    const uint8_t *info, size_t info_len, uint8_t *out,
		    size_t out_len)
{
	return hkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, md, prk, prk_len, NULL, 0,
		    info, info_len, out, out_len);
}

int smt_hkdf_label(size_t out_len, const char *label, const uint8_t *ctx,
		   size_t ctx_len, uint8_t *buf, size_t buf_len)
{
	size_t plen = strlen(HKDF_LABEL_PREFIX), llen, n;

	if (!label || out_len > 0xffff || ctx_len > 255 || (ctx_len && !ctx))
		return -EINVAL;
	llen = plen + strlen(label);
	if (llen < 7 || llen > 255)
		return -EINVAL;
	n = 2 + 1 + llen + 1 + ctx_len;
	if (!buf || buf_len < n)
		return -EINVAL;
	buf[0] = (uint8_t)(out_len >> 8);
	buf[1] = (uint8_t)out_len;
	buf[2] = (uint8_t)llen;
	memcpy(buf + 3, HKDF_LABEL_PREFIX, plen);
	memcpy(buf + 3 + plen, label, llen - plen);
	buf[3 + llen] = (uint8_t)ctx_len;
	if (ctx_len)
		memcpy(buf + 4 + llen, ctx, ctx_len);
	return (int)n;
}

int smt_hkdf_expand_label(const char *md, const uint8_t *secret,
			  size_t secret_len, const char *label,
			  const uint8_t *ctx, size_t ctx_len, uint8_t *out,
			  size_t out_len)
{
	uint8_t info[HKDF_LABEL_MAX];
	int n;

	n = smt_hkdf_label(out_len, label, ctx, ctx_len, info, sizeof(info));
	if (n < 0)
		return n;
	return smt_hkdf_expand(md, secret, secret_len, info, (size_t)n, out,
			       out_len);
}

void smt_keys_wipe(struct smt_keys *k)
{
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
}

int smt_keys_derive(enum smt_cipher c, const uint8_t *secret, size_t secret_len,
		    struct smt_keys *out)
{
	const char *md = smt_cipher_md(c);
	size_t kl = smt_cipher_key_len(c);
	int ret;

	if (!md || !kl || !secret || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->cipher = c;
	out->key_len = kl;
	ret = smt_hkdf_expand_label(md, secret, secret_len, "smt c key", NULL,
				    0, out->c_key, kl);
	if (!ret)
		ret = smt_hkdf_expand_label(md, secret, secret_len, "smt c iv",
					    NULL, 0, out->c_iv, SMT_IV_LEN);
	if (!ret)
		ret = smt_hkdf_expand_label(md, secret, secret_len, "smt s key",
					    NULL, 0, out->s_key, kl);
	if (!ret)
		ret = smt_hkdf_expand_label(md, secret, secret_len, "smt s iv",
					    NULL, 0, out->s_iv, SMT_IV_LEN);
	if (ret)
		smt_keys_wipe(out);
	return ret;
}

/* ---- SMT_KEYLOGFILE lines (section 7) ---------------------------------- */

#define KEYLOG_LABEL "SMT_SESSION"
#define KEYLOG_FIELDS 14
#define KEYLOG_LINE_MAX 512

/* Decimal digits only (no sign, no spaces), at most max. */
static int parse_dec(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Exactly len bytes of lowercase hex. */
static int parse_hex(const char *s, uint8_t *out, size_t len)
{
	if (strlen(s) != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < 2 * len; i++) {
		char ch = s[i];
		int v;

		if (ch >= '0' && ch <= '9')
			v = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v = ch - 'a' + 10;
		else
			return -EINVAL;
		if (i & 1)
			out[i / 2] |= (uint8_t)v;
		else
			out[i / 2] = (uint8_t)(v << 4);
	}
	return 0;
}

static int parse_addr(const char *ip, const char *port,
		      struct sockaddr_storage *ss, const char **err,
		      const char *ip_err, const char *port_err)
{
	unsigned long p;

	memset(ss, 0, sizeof(*ss));
	if (parse_dec(port, 65535, &p)) {
		*err = port_err;
		return -EINVAL;
	}
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)ss)->sin_addr) ==
	    1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)ss)->sin6_addr) ==
	    1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		return 0;
	}
	*err = ip_err;
	return -EINVAL;
}

int smt_keylog_parse(const char *line, struct smt_keylog *out, const char **err)
{
	char buf[KEYLOG_LINE_MAX], *f[KEYLOG_FIELDS], *s;
	const char *dummy, *ename = NULL;
	struct smt_limits lim;
	unsigned long v;
	size_t len, kl;
	int n = 0, ret = -EINVAL;

	if (!err)
		err = &dummy;
	*err = NULL;
	if (!line || !out) {
		*err = "line: missing";
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	len = strlen(line);
	if (len && line[len - 1] == '\n')
		len--;
	if (len && line[len - 1] == '\r')
		len--;
	if (len >= sizeof(buf)) {
		*err = "line: too long for an SMT_SESSION line";
		return -EINVAL;
	}
	memcpy(buf, line, len);
	buf[len] = '\0';

	for (s = buf; s; n++) {
		char *sp = strchr(s, ' ');

		if (n < KEYLOG_FIELDS)
			f[n] = s;
		if (sp)
			*sp++ = '\0';
		s = sp;
	}
	if (strcmp(f[0], KEYLOG_LABEL)) {
		*err = "label: line does not start with SMT_SESSION";
		goto out;
	}
	if (n != KEYLOG_FIELDS) {
		*err = "line: expected 14 fields separated by single spaces";
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (!*f[i]) {
			*err = "line: empty field (fields are separated by one space)";
			goto out;
		}
	}
	if (parse_addr(f[1], f[2], &out->client, err,
		       "client ip: not an IPv4 or IPv6 address",
		       "client port: not a decimal number 0..65535") ||
	    parse_addr(f[3], f[4], &out->server, err,
		       "server ip: not an IPv4 or IPv6 address",
		       "server port: not a decimal number 0..65535"))
		goto out;

	out->keys.cipher = smt_cipher_from_name(f[5]);
	if (out->keys.cipher == SMT_CIPHER_NONE ||
	    strcmp(f[5], smt_cipher_name(out->keys.cipher))) {
		*err = "cipher: not TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 or TLS_CHACHA20_POLY1305_SHA256";
		goto out;
	}
	kl = smt_cipher_key_len(out->keys.cipher);
	out->keys.key_len = kl;

	if (parse_dec(f[6], SMT_B_MAX, &v) || v < SMT_B_MIN) {
		*err = "B: not a decimal number 40..56";
		goto out;
	}
	out->B = (unsigned int)v;
	if (parse_dec(f[7], 255, &v)) {
		*err = "epoch: not a decimal number 0..255";
		goto out;
	}
	out->epoch = (unsigned int)v;
	if (parse_dec(f[8], SMT_M_MAX, &v)) {
		*err = "M: not a decimal number 0..67108864";
		goto out;
	}
	out->max_msg = (uint32_t)v;
	if (parse_dec(f[9], SMT_PAD_MAX, &v)) {
		*err = "P: not a decimal number 0..16383";
		goto out;
	}
	out->max_pad = (uint32_t)v;
	lim.B = out->B;
	lim.max_msg = out->max_msg;
	lim.max_pad = out->max_pad;
	if (smt_limits_check(&lim)) {
		*err = "M: a message of M bytes needs more records than B allows";
		goto out;
	}

	if (parse_hex(f[10], out->keys.c_key, kl))
		ename = kl == 16 ? "c_key: not 32 lowercase hex digits"
				 : "c_key: not 64 lowercase hex digits";
	else if (parse_hex(f[11], out->keys.c_iv, SMT_IV_LEN))
		ename = "c_iv: not 24 lowercase hex digits";
	else if (parse_hex(f[12], out->keys.s_key, kl))
		ename = kl == 16 ? "s_key: not 32 lowercase hex digits"
				 : "s_key: not 64 lowercase hex digits";
	else if (parse_hex(f[13], out->keys.s_iv, SMT_IV_LEN))
		ename = "s_iv: not 24 lowercase hex digits";
	if (ename) {
		*err = ename;
		goto out;
	}
	ret = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (ret)
		smt_keys_wipe(&out->keys);
	return ret;
}

static int fmt_addr(const struct sockaddr_storage *ss, char *ip,
		    unsigned int *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		*port = ntohs(sin->sin_port);
		return inet_ntop(AF_INET, &sin->sin_addr, ip, INET6_ADDRSTRLEN)
			       ? 0
			       : -EINVAL;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		*port = ntohs(sin6->sin6_port);
		return inet_ntop(AF_INET6, &sin6->sin6_addr, ip,
				 INET6_ADDRSTRLEN)
			       ? 0
			       : -EINVAL;
	}
	return -EINVAL;
}

static char *put_hex(char *p, const uint8_t *b, size_t n)
{
	static const char hx[] = "0123456789abcdef";

	*p++ = ' ';
	for (size_t i = 0; i < n; i++) {
		*p++ = hx[b[i] >> 4];
		*p++ = hx[b[i] & 15];
	}
	return p;
}

int smt_keylog_format(const struct smt_keylog *kl, char *buf, size_t len)
{
	char cip[INET6_ADDRSTRLEN], sip[INET6_ADDRSTRLEN];
	char line[KEYLOG_LINE_MAX], *p;
	unsigned int cport, sport;
	const char *cname;
	size_t klen;
	int n;

	if (!kl || !buf)
		return -EINVAL;
	cname = smt_cipher_name(kl->keys.cipher);
	klen = smt_cipher_key_len(kl->keys.cipher);
	if (!cname || fmt_addr(&kl->client, cip, &cport) ||
	    fmt_addr(&kl->server, sip, &sport))
		return -EINVAL;
	n = snprintf(line, sizeof(line), "%s %s %u %s %u %s %u %u %u %u",
		     KEYLOG_LABEL, cip, cport, sip, sport, cname, kl->B,
		     kl->epoch, kl->max_msg, kl->max_pad);
	if (n < 0 || (size_t)n + 4 * (2 * SMT_KEY_MAX + 1) + 2 > sizeof(line))
		return -EINVAL;
	p = line + n;
	p = put_hex(p, kl->keys.c_key, klen);
	p = put_hex(p, kl->keys.c_iv, SMT_IV_LEN);
	p = put_hex(p, kl->keys.s_key, klen);
	p = put_hex(p, kl->keys.s_iv, SMT_IV_LEN);
	*p++ = '\n';
	*p = '\0';
	n = (int)(p - line);
	if ((size_t)n + 1 > len) {
		OPENSSL_cleanse(line, sizeof(line));
		return -ENOSPC;
	}
	memcpy(buf, line, (size_t)n + 1);
	OPENSSL_cleanse(line, sizeof(line));
	return n;
}
