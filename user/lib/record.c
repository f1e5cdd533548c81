// SPDX-License-Identifier: BSD-2-Clause
/*
 * TLS 1.3 record protection for SMT (docs/protocol.md sections 3 and 5):
 * seal and open one record, and the tag of a control packet, with AES-GCM or
 * ChaCha20-Poly1305 through OpenSSL EVP. Each struct smt_aead keeps one
 * encrypting and one decrypting context, keyed once; a record only sets a
 * new nonce (IV xor seq), so the data path never allocates. Keys and IV are
 * wiped when the object is freed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <smt/drop.h>
#include <smt/wire.h>

#include "record.h"

struct smt_aead {
	enum smt_cipher cipher;
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	uint8_t iv[SMT_IV_LEN];
};

static const struct {
	enum smt_cipher c;
	const char *iana;
	const char *shortname;
	const char *md;
	size_t key_len;
} ciphers[] = {
	{SMT_CIPHER_AES_128_GCM, "TLS_AES_128_GCM_SHA256", "aes128gcm",
	 "SHA256", 16},
	{SMT_CIPHER_AES_256_GCM, "TLS_AES_256_GCM_SHA384", "aes256gcm",
	 "SHA384", 32},
	{SMT_CIPHER_CHACHA20_POLY1305, "TLS_CHACHA20_POLY1305_SHA256",
	 "chacha20poly1305", "SHA256", 32},
};

#define NCIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))

static int cipher_idx(enum smt_cipher c)
{
	for (size_t i = 0; i < NCIPHERS; i++)
		if (ciphers[i].c == c)
			return (int)i;
	return -1;
}

enum smt_cipher smt_cipher_from_name(const char *name)
{
	if (!name)
		return SMT_CIPHER_NONE;
	for (size_t i = 0; i < NCIPHERS; i++)
		if (!strcasecmp(name, ciphers[i].iana) ||
		    !strcasecmp(name, ciphers[i].shortname))
			return ciphers[i].c;
	return SMT_CIPHER_NONE;
}

const char *smt_cipher_name(enum smt_cipher c)
{
	int i = cipher_idx(c);

	return i < 0 ? NULL : ciphers[i].iana;
}

size_t smt_cipher_key_len(enum smt_cipher c)
{
	int i = cipher_idx(c);

	return i < 0 ? 0 : ciphers[i].key_len;
}

const char *smt_cipher_md(enum smt_cipher c)
{
	int i = cipher_idx(c);

	return i < 0 ? NULL : ciphers[i].md;
}

static const EVP_CIPHER *evp_cipher(enum smt_cipher c)
{
	switch (c) {
	case SMT_CIPHER_AES_128_GCM:
		return EVP_aes_128_gcm();
	case SMT_CIPHER_AES_256_GCM:
		return EVP_aes_256_gcm();
	case SMT_CIPHER_CHACHA20_POLY1305:
		return EVP_chacha20_poly1305();
	default:
		return NULL;
	}
}

/* Key a context once; later records only change the nonce. */
static EVP_CIPHER_CTX *ctx_new(const EVP_CIPHER *ev, const uint8_t *key,
			       int enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx)
		return NULL;
	if (EVP_CipherInit_ex(ctx, ev, NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, SMT_IV_LEN,
				NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct smt_aead *smt_aead_new(enum smt_cipher c, const uint8_t *key,
			      size_t key_len, const uint8_t iv[SMT_IV_LEN])
{
	const EVP_CIPHER *ev = evp_cipher(c);
	struct smt_aead *a;

	if (!ev || !key || !iv || key_len != smt_cipher_key_len(c)) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	a->cipher = c;
	memcpy(a->iv, iv, SMT_IV_LEN);
	a->enc = ctx_new(ev, key, 1);
	a->dec = ctx_new(ev, key, 0);
	if (!a->enc || !a->dec) {
		smt_aead_free(a);
		errno = ENOMEM;
		return NULL;
	}
	return a;
}

void smt_aead_free(struct smt_aead *a)
{
	if (!a)
		return;
	/* EVP_CIPHER_CTX_free cleanses the key schedule it holds. */
	EVP_CIPHER_CTX_free(a->enc);
	EVP_CIPHER_CTX_free(a->dec);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

enum smt_cipher smt_aead_cipher(const struct smt_aead *a)
{
	return a ? a->cipher : SMT_CIPHER_NONE;
}

static int set_nonce(EVP_CIPHER_CTX *ctx, const struct smt_aead *a,
		     uint64_t seq)
{
	uint8_t nonce[SMT_IV_LEN];
	int ret;

	smt_record_nonce(a->iv, seq, nonce); /* TLS 1.3 section 5.3 */
	ret = EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, -1);
	OPENSSL_cleanse(nonce, sizeof(nonce));
	return ret == 1 ? 0 : -EIO;
}

static const uint8_t zeros[256];

/* Records of at most this many plaintext bytes are sealed in one call. */
#define SMT_REC_GATHER 512

int smt_record_sealv(struct smt_aead *a, uint64_t seq,
		     const struct iovec *content, unsigned int niov, size_t pad,
		     uint8_t *out)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t inner = SMT_INNER_TYPE;
	size_t len = 0, clen, done = 0;
	unsigned int i;
	uint8_t *p;
	int n;

	if (!a || !out || (niov && !content))
		return -EINVAL;
	for (i = 0; i < niov; i++) {
		if (content[i].iov_len && !content[i].iov_base)
			return -EINVAL;
		len += content[i].iov_len;
	}
	if (len + pad > SMT_REC_MAX_CONTENT)
		return -EINVAL;
	clen = len + 1 + pad;
	ctx = a->enc;
	out[0] = SMT_REC_TYPE;
	out[1] = SMT_REC_VER_HI;
	out[2] = SMT_REC_VER_LO;
	out[3] = (uint8_t)((clen + SMT_TAG_LEN) >> 8);
	out[4] = (uint8_t)(clen + SMT_TAG_LEN);
	p = out + SMT_REC_HDR_LEN;

	if (set_nonce(ctx, a, seq))
		return -EIO;
	if (EVP_EncryptUpdate(ctx, NULL, &n, out, SMT_REC_HDR_LEN) != 1)
		return -EIO;
	/* A small record (every message of one short packet) is gathered
	 * into place and sealed in one call: OpenSSL 3 costs more per call
	 * than AES costs for a few blocks (docs/engine.md "Batching under
	 * load"). memmove: a piece may already sit at its place. */
	if (clen <= SMT_REC_GATHER) {
		for (i = 0; i < niov; i++) {
			if (!content[i].iov_len)
				continue;
			memmove(p + done, content[i].iov_base,
				content[i].iov_len);
			done += content[i].iov_len;
		}
		p[done] = inner;
		memset(p + done + 1, 0, pad);
		if (EVP_EncryptUpdate(ctx, p, &n, p, (int)clen) != 1)
			return -EIO;
		done = (size_t)n;
		pad = 0;
		goto final;
	}
	/* one piece may already sit at its place in out (in place) */
	for (i = 0; i < niov; i++) {
		if (!content[i].iov_len)
			continue;
		if (EVP_EncryptUpdate(ctx, p + done, &n, content[i].iov_base,
				      (int)content[i].iov_len) != 1)
			return -EIO;
		done += (size_t)n;
	}
	if (EVP_EncryptUpdate(ctx, p + done, &n, &inner, 1) != 1)
		return -EIO;
	done += (size_t)n;
	while (pad) {
		size_t chunk = pad < sizeof(zeros) ? pad : sizeof(zeros);

		if (EVP_EncryptUpdate(ctx, p + done, &n, zeros, (int)chunk) !=
		    1)
			return -EIO;
		done += (size_t)n;
		pad -= chunk;
	}
final:
	if (EVP_EncryptFinal_ex(ctx, p + done, &n) != 1)
		return -EIO;
	done += (size_t)n;
	if (done != clen)
		return -EIO;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SMT_TAG_LEN,
				p + clen) != 1)
		return -EIO;
	return (int)(SMT_REC_HDR_LEN + clen + SMT_TAG_LEN);
}

int smt_record_seal(struct smt_aead *a, uint64_t seq, const uint8_t *content,
		    size_t len, size_t pad, uint8_t *out)
{
	struct iovec v = {.iov_base = (void *)content, .iov_len = len};

	if (len && !content)
		return -EINVAL;
	return smt_record_sealv(a, seq, &v, len ? 1 : 0, pad, out);
}

/* Byte j of the plaintext opened to hdr[0..h) then out. */
static uint8_t split_at(const uint8_t *hdr, size_t h, const uint8_t *out,
			size_t j)
{
	return j < h ? hdr[j] : out[j - h];
}

int smt_record_open_split(struct smt_aead *a, uint64_t seq, const uint8_t *rec,
			  size_t rec_len, uint8_t *hdr, size_t hdr_len,
			  uint8_t *out)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t tag[SMT_TAG_LEN], last;
	size_t hlen, plen, n, h;
	int m, ret = -SMT_DROP_RECORD_AUTH;

	if (!a || !rec || rec_len < SMT_REC_HDR_LEN + SMT_REC_MIN_LEN ||
	    rec_len > SMT_REC_HDR_LEN + SMT_REC_MAX_LEN)
		return -SMT_DROP_BAD_RECORD_HDR;
	hlen = (size_t)rec[3] << 8 | rec[4];
	if (rec[0] != SMT_REC_TYPE || rec[1] != SMT_REC_VER_HI ||
	    rec[2] != SMT_REC_VER_LO || hlen != rec_len - SMT_REC_HDR_LEN)
		return -SMT_DROP_BAD_RECORD_HDR;
	ctx = a->dec;
	plen = hlen - SMT_TAG_LEN; /* content + inner type + pad, >= 1 */
	n = plen - 1;
	h = hdr && hdr_len < n ? hdr_len : hdr ? n : 0;
	/* The tag may be overwritten by in-place output: keep a copy. */
	memcpy(tag, rec + rec_len - SMT_TAG_LEN, SMT_TAG_LEN);

	if (set_nonce(ctx, a, seq))
		goto fail;
	if (EVP_DecryptUpdate(ctx, NULL, &m, rec, SMT_REC_HDR_LEN) != 1)
		goto fail;
	/* hdr gets the first h bytes, out room for the other plen - 1 - h;
	 * the last byte goes to `last` */
	if (h &&
	    EVP_DecryptUpdate(ctx, hdr, &m, rec + SMT_REC_HDR_LEN, (int)h) != 1)
		goto fail;
	if (n > h && EVP_DecryptUpdate(ctx, out, &m, rec + SMT_REC_HDR_LEN + h,
				       (int)(n - h)) != 1)
		goto fail;
	if (EVP_DecryptUpdate(ctx, &last, &m, rec + SMT_REC_HDR_LEN + n, 1) !=
	    1)
		goto fail;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SMT_TAG_LEN, tag) !=
	    1)
		goto fail;
	if (EVP_DecryptFinal_ex(ctx, out + (n - h), &m) != 1)
		goto fail;

	/* Strip zero padding; the last non-zero byte is the inner type. */
	if (last != 0) {
		if (last == SMT_INNER_TYPE)
			return (int)n;
	} else {
		while (n > 0 && !split_at(hdr, h, out, n - 1))
			n--;
		if (n > 0 && split_at(hdr, h, out, n - 1) == SMT_INNER_TYPE)
			return (int)(n - 1);
	}
	ret = -SMT_DROP_BAD_INNER;
fail:
	if (h)
		OPENSSL_cleanse(hdr, h);
	OPENSSL_cleanse(out, plen - 1 - h);
	last = 0;
	return ret;
}

int smt_record_open(struct smt_aead *a, uint64_t seq, const uint8_t *rec,
		    size_t rec_len, uint8_t *out)
{
	return smt_record_open_split(a, seq, rec, rec_len, NULL, 0, out);
}

static int ctl_tag(struct smt_aead *a, uint64_t ctl_seq, const uint8_t *aad,
		   size_t aad_len, uint8_t tag[SMT_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx;
	int n;

	if (!a || (aad_len && !aad) || aad_len > INT32_MAX)
		return -EINVAL;
	ctx = a->enc;
	if (set_nonce(ctx, a, SMT_CTL_SEQ_BIT | ctl_seq))
		return -EIO;
	if (aad_len && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		return -EIO;
	if (EVP_EncryptFinal_ex(ctx, NULL, &n) != 1)
		return -EIO;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SMT_TAG_LEN, tag) !=
	    1)
		return -EIO;
	return 0;
}

int smt_ctl_tag(struct smt_aead *a, uint64_t ctl_seq, const uint8_t *aad,
		size_t aad_len, uint8_t tag[16])
{
	if (ctl_seq & SMT_CTL_SEQ_BIT)
		return -EINVAL;
	return ctl_tag(a, ctl_seq, aad, aad_len, tag);
}

int smt_ctl_tag_verify(struct smt_aead *a, uint64_t ctl_seq, const uint8_t *aad,
		       size_t aad_len, const uint8_t tag[16])
{
	uint8_t want[SMT_TAG_LEN];
	int ret;

	if (ctl_seq & SMT_CTL_SEQ_BIT)
		return -SMT_DROP_CTL_AUTH;
	ret = ctl_tag(a, ctl_seq, aad, aad_len, want);
	if (!ret && CRYPTO_memcmp(want, tag, SMT_TAG_LEN))
		ret = -SMT_DROP_CTL_AUTH;
	else if (ret)
		ret = -SMT_DROP_CTL_AUTH;
	OPENSSL_cleanse(want, sizeof(want));
	return ret;
}
