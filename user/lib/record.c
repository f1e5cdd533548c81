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

#include <openssl/core_names.h>
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
	uint64_t gen; /* which key: a reader goes back to its own pool only */
	struct smt_rec_rd *pool; /* spare readers, keyed as dec */
	unsigned int npool;
};

/*
 * A record opened as its bytes come, in order: the header as associated
 * data at the start, then each piece of ciphertext decrypted to where its
 * plaintext goes (the first h bytes to hdr, the rest but the last to out,
 * the last, the inner type or padding, to `last`), the tag kept, checked
 * at the end. ctx is the aead's own dec for a record opened in one call,
 * else a copy of it from the pool.
 */
struct smt_rec_rd {
	EVP_CIPHER_CTX *ctx;
	struct smt_rec_rd *next; /* in the pool */
	uint64_t gen;
	uint8_t *hdr, *out;
	size_t h, plen; /* plen: content + inner type + padding */
	size_t len, pos; /* record bytes with header; bytes taken */
	uint8_t tag[SMT_TAG_LEN];
	uint8_t last;
};

#define SMT_RD_POOL 64 /* spare readers kept per key */

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

/*
 * The provider's cipher, fetched once per key for both contexts: with
 * EVP_aes_128_gcm() and the like, OpenSSL 3 fetches it again on each
 * context's first init.
 */
static EVP_CIPHER *evp_cipher(enum smt_cipher c)
{
	switch (c) {
	case SMT_CIPHER_AES_128_GCM:
		return EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	case SMT_CIPHER_AES_256_GCM:
		return EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	case SMT_CIPHER_CHACHA20_POLY1305:
		return EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	default:
		return NULL;
	}
}

/*
 * The tag through the provider's parameters, not EVP_CIPHER_CTX_ctrl: in
 * OpenSSL 3 the ctrl only translates to these, at a cost per record
 * (docs/engine.md "Batching under load").
 */
static int aead_tag(EVP_CIPHER_CTX *ctx, uint8_t *tag, int set)
{
	OSSL_PARAM p[2] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						  tag, SMT_TAG_LEN),
		OSSL_PARAM_construct_end(),
	};

	return (set ? EVP_CIPHER_CTX_set_params(ctx, p)
		    : EVP_CIPHER_CTX_get_params(ctx, p)) == 1
		       ? 0
		       : -EIO;
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
	static _Atomic uint64_t gens;
	struct smt_aead *a;
	EVP_CIPHER *ev;

	if (cipher_idx(c) < 0 || !key || !iv ||
	    key_len != smt_cipher_key_len(c)) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	ev = evp_cipher(c);
	if (!a || !ev) {
		EVP_CIPHER_free(ev);
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	a->cipher = c;
	a->gen = ++gens;
	memcpy(a->iv, iv, SMT_IV_LEN);
	a->enc = ctx_new(ev, key, 1);
	a->dec = ctx_new(ev, key, 0);
	EVP_CIPHER_free(ev); /* the contexts hold their own references */
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
	while (a->pool) {
		struct smt_rec_rd *r = a->pool;

		a->pool = r->next;
		EVP_CIPHER_CTX_free(r->ctx);
		free(r);
	}
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
	/*
	 * AES-GCM: the whole nonce as the "fixed IV" of length -1, which the
	 * provider takes as the complete IV. EVP_CipherInit_ex costs about
	 * 2.5 times more in OpenSSL 3.0: it asks the provider for the IV
	 * length first, through its parameter look-ups, on every call.
	 */
	if (a->cipher != SMT_CIPHER_CHACHA20_POLY1305) {
		OSSL_PARAM p[2] = {
			OSSL_PARAM_construct_octet_string(
				OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, nonce,
				(size_t)-1),
			OSSL_PARAM_construct_end(),
		};

		ret = EVP_CIPHER_CTX_set_params(ctx, p);
	} else {
		ret = EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, -1);
	}
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
	if (aead_tag(ctx, p + clen, 0))
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

static int rd_start(struct smt_rec_rd *r, struct smt_aead *a, uint64_t seq,
		    const uint8_t *rec, size_t rec_len, uint8_t *hdr,
		    size_t hdr_len, uint8_t *out)
{
	size_t hlen, n;
	int m;

	r->hdr = r->out = NULL;
	r->h = r->plen = r->len = r->pos = 0;
	if (!rec || rec_len < SMT_REC_HDR_LEN + SMT_REC_MIN_LEN ||
	    rec_len > SMT_REC_HDR_LEN + SMT_REC_MAX_LEN)
		return -SMT_DROP_BAD_RECORD_HDR;
	hlen = (size_t)rec[3] << 8 | rec[4];
	if (rec[0] != SMT_REC_TYPE || rec[1] != SMT_REC_VER_HI ||
	    rec[2] != SMT_REC_VER_LO || hlen != rec_len - SMT_REC_HDR_LEN)
		return -SMT_DROP_BAD_RECORD_HDR;
	r->plen = hlen - SMT_TAG_LEN; /* >= 1 */
	n = r->plen - 1;
	r->h = hdr && hdr_len < n ? hdr_len : hdr ? n : 0;
	r->hdr = hdr;
	r->out = out;
	r->len = rec_len;
	if (set_nonce(r->ctx, a, seq) ||
	    EVP_DecryptUpdate(r->ctx, NULL, &m, rec, SMT_REC_HDR_LEN) != 1)
		return -SMT_DROP_RECORD_AUTH;
	r->pos = SMT_REC_HDR_LEN;
	return 0;
}

/* The next n bytes of the record, from where the last piece ended. */
static int rd_feed(struct smt_rec_rd *r, const uint8_t *in, size_t n)
{
	size_t ct_end = r->len - SMT_TAG_LEN;

	if (!r->len || n > r->len - r->pos || (n && !in))
		return -EINVAL;
	while (n) {
		size_t take, j = r->pos - SMT_REC_HDR_LEN;
		uint8_t *dst;
		int m;

		if (r->pos >= ct_end) {
			memcpy(r->tag + (r->pos - ct_end), in, n);
			r->pos += n;
			return 0;
		}
		if (j < r->h) {
			dst = r->hdr + j;
			take = r->h - j;
		} else if (j < r->plen - 1) {
			dst = r->out + (j - r->h);
			take = r->plen - 1 - j;
		} else {
			dst = &r->last;
			take = 1;
		}
		if (take > n)
			take = n;
		if (EVP_DecryptUpdate(r->ctx, dst, &m, in, (int)take) != 1 ||
		    (size_t)m != take)
			return -EIO;
		in += take;
		n -= take;
		r->pos += take;
	}
	return 0;
}

static void rd_wipe(struct smt_rec_rd *r)
{
	if (r->h)
		OPENSSL_cleanse(r->hdr, r->h);
	if (r->out && r->plen > 1 + r->h)
		OPENSSL_cleanse(r->out, r->plen - 1 - r->h);
	r->last = 0;
}

/* Tag, then the padding stripped: the content length, or -reason with
 * the output wiped. */
static int rd_end(struct smt_rec_rd *r)
{
	size_t n = r->plen - 1;
	uint8_t fin[32];
	int m;

	if (!r->len || r->pos != r->len)
		goto fail;
	if (aead_tag(r->ctx, r->tag, 1) ||
	    EVP_DecryptFinal_ex(r->ctx, fin, &m) != 1)
		goto fail;
	/* Strip zero padding; the last non-zero byte is the inner type. */
	if (r->last != 0) {
		if (r->last == SMT_INNER_TYPE)
			return (int)n;
	} else {
		while (n > 0 && !split_at(r->hdr, r->h, r->out, n - 1))
			n--;
		if (n > 0 &&
		    split_at(r->hdr, r->h, r->out, n - 1) == SMT_INNER_TYPE)
			return (int)(n - 1);
	}
	rd_wipe(r);
	return -SMT_DROP_BAD_INNER;
fail:
	rd_wipe(r);
	return -SMT_DROP_RECORD_AUTH;
}

int smt_record_open_split(struct smt_aead *a, uint64_t seq, const uint8_t *rec,
			  size_t rec_len, uint8_t *hdr, size_t hdr_len,
			  uint8_t *out)
{
	struct smt_rec_rd r = {0};
	int ret;

	if (!a)
		return -SMT_DROP_BAD_RECORD_HDR;
	r.ctx = a->dec;
	ret = rd_start(&r, a, seq, rec, rec_len, hdr, hdr_len, out);
	if (ret)
		return ret;
	/* In place (out == rec + 5), plaintext ends before the tag, which
	 * rd_feed reads last. */
	if (rd_feed(&r, rec + SMT_REC_HDR_LEN, rec_len - SMT_REC_HDR_LEN)) {
		rd_wipe(&r);
		return -SMT_DROP_RECORD_AUTH;
	}
	ret = rd_end(&r);
	OPENSSL_cleanse(&r, sizeof(r));
	return ret;
}

struct smt_rec_rd *smt_rec_rd_get(struct smt_aead *a)
{
	struct smt_rec_rd *r;

	if (!a) {
		errno = EINVAL;
		return NULL;
	}
	if (a->pool) {
		r = a->pool;
		a->pool = r->next;
		a->npool--;
		r->next = NULL;
		return r;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->ctx = EVP_CIPHER_CTX_new();
	if (!r->ctx || EVP_CIPHER_CTX_copy(r->ctx, a->dec) != 1) {
		EVP_CIPHER_CTX_free(r->ctx);
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->gen = a->gen;
	return r;
}

void smt_rec_rd_put(struct smt_aead *a, struct smt_rec_rd *r)
{
	EVP_CIPHER_CTX *ctx;
	uint64_t gen;

	if (!r)
		return;
	ctx = r->ctx;
	gen = r->gen;
	OPENSSL_cleanse(r, sizeof(*r));
	r->ctx = ctx;
	r->gen = gen;
	if (a && a->gen == gen && a->npool < SMT_RD_POOL) {
		r->next = a->pool;
		a->pool = r;
		a->npool++;
		return;
	}
	EVP_CIPHER_CTX_free(ctx);
	free(r);
}

int smt_rec_rd_start(struct smt_rec_rd *r, struct smt_aead *a, uint64_t seq,
		     const uint8_t *rec_hdr, size_t rec_len, uint8_t *hdr,
		     size_t hdr_len, uint8_t *out)
{
	if (!r || !a || a->gen != r->gen)
		return -EINVAL;
	return rd_start(r, a, seq, rec_hdr, rec_len, hdr, hdr_len, out);
}

int smt_rec_rd_feed(struct smt_rec_rd *r, const uint8_t *wire, size_t n)
{
	return r ? rd_feed(r, wire, n) : -EINVAL;
}

int smt_rec_rd_end(struct smt_rec_rd *r)
{
	return r ? rd_end(r) : -SMT_DROP_RECORD_AUTH;
}

void smt_rec_rd_wipe(struct smt_rec_rd *r)
{
	if (r)
		rd_wipe(r);
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
	return aead_tag(ctx, tag, 0);
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
