// SPDX-License-Identifier: BSD-2-Clause
/*
 * TLS 1.3 record protection for SMT (docs/protocol.md sections 3 and 5):
 * seal and open one record, and the tag of a control packet, with AES-GCM or
 * ChaCha20-Poly1305 through OpenSSL (AES-GCM through its provider's own
 * functions, the rest through EVP). Each struct smt_aead keeps one
 * encrypting and one decrypting context, keyed once; a record only sets a
 * new nonce (IV xor seq), so the data path never allocates. Keys and IV are
 * wiped when the object is freed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include <smt/drop.h>
#include <smt/wire.h>

#include "record.h"

/*
 * AES-GCM's functions in the provider that implements it, called without
 * EVP in between. Per record, EVP in OpenSSL 3.0 sets the nonce only
 * through the provider's parameters (a look-up by name of each parameter
 * the provider knows, strcmp by strcmp) or through EVP_CipherInit_ex,
 * which asks for the IV length the same way first; under load that was
 * 5 to 8 % of a small RPC's CPU (docs/engine.md "CPU per RPC under
 * load"). The provider's own init takes the nonce as an argument. Found
 * once per process through the public provider interface
 * (OSSL_PROVIDER_query_operation); when it is not found, EVP as for
 * ChaCha20-Poly1305.
 */
struct gcm_fns {
	OSSL_FUNC_cipher_newctx_fn *newctx;
	OSSL_FUNC_cipher_freectx_fn *freectx;
	OSSL_FUNC_cipher_dupctx_fn *dupctx;
	OSSL_FUNC_cipher_encrypt_init_fn *einit;
	OSSL_FUNC_cipher_decrypt_init_fn *dinit;
	OSSL_FUNC_cipher_update_fn *update;
	OSSL_FUNC_cipher_final_fn *final;
	OSSL_FUNC_cipher_get_ctx_params_fn *get;
	OSSL_FUNC_cipher_set_ctx_params_fn *set;
	void *provctx;
	EVP_CIPHER *pin; /* held for good: keeps the provider loaded */
	bool ok;
};

/* One direction's context: the provider's own (AES-GCM) or EVP's. */
struct rctx {
	EVP_CIPHER_CTX *evp;
	void *p;
	const struct gcm_fns *f;
	int enc;
};

struct smt_aead {
	enum smt_cipher cipher;
	struct rctx enc;
	struct rctx dec;
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
	struct rctx ctx;
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

static struct gcm_fns gcm_fns[2]; /* AES-128-GCM, AES-256-GCM */
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;

/* Whether name is one of the names in list (colon-separated). */
static bool name_in(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ':');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && !strncasecmp(p, name, n))
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

static void gcm_find(struct gcm_fns *f, const char *name)
{
	const OSSL_ALGORITHM *algs, *al;
	const OSSL_PROVIDER *prov;
	int no_cache = 0;

	f->pin = EVP_CIPHER_fetch(NULL, name, NULL);
	prov = f->pin ? EVP_CIPHER_get0_provider(f->pin) : NULL;
	algs = prov ? OSSL_PROVIDER_query_operation(prov, OSSL_OP_CIPHER,
						    &no_cache)
		    : NULL;
	for (al = algs; al && al->algorithm_names; al++) {
		if (!name_in(al->algorithm_names, name))
			continue;
		for (const OSSL_DISPATCH *d = al->implementation;
		     d && d->function_id; d++) {
			switch (d->function_id) {
			case OSSL_FUNC_CIPHER_NEWCTX:
				f->newctx = OSSL_FUNC_cipher_newctx(d);
				break;
			case OSSL_FUNC_CIPHER_FREECTX:
				f->freectx = OSSL_FUNC_cipher_freectx(d);
				break;
			case OSSL_FUNC_CIPHER_DUPCTX:
				f->dupctx = OSSL_FUNC_cipher_dupctx(d);
				break;
			case OSSL_FUNC_CIPHER_ENCRYPT_INIT:
				f->einit = OSSL_FUNC_cipher_encrypt_init(d);
				break;
			case OSSL_FUNC_CIPHER_DECRYPT_INIT:
				f->dinit = OSSL_FUNC_cipher_decrypt_init(d);
				break;
			case OSSL_FUNC_CIPHER_UPDATE:
				f->update = OSSL_FUNC_cipher_update(d);
				break;
			case OSSL_FUNC_CIPHER_FINAL:
				f->final = OSSL_FUNC_cipher_final(d);
				break;
			case OSSL_FUNC_CIPHER_GET_CTX_PARAMS:
				f->get = OSSL_FUNC_cipher_get_ctx_params(d);
				break;
			case OSSL_FUNC_CIPHER_SET_CTX_PARAMS:
				f->set = OSSL_FUNC_cipher_set_ctx_params(d);
				break;
			default:
				break;
			}
		}
		break;
	}
	if (algs)
		OSSL_PROVIDER_unquery_operation(prov, OSSL_OP_CIPHER, algs);
	f->provctx = prov ? OSSL_PROVIDER_get0_provider_ctx(prov) : NULL;
	f->ok = f->provctx && f->newctx && f->freectx && f->dupctx &&
		f->einit && f->dinit && f->update && f->final && f->get &&
		f->set;
}

static void gcm_find_all(void)
{
	gcm_find(&gcm_fns[0], "AES-128-GCM");
	gcm_find(&gcm_fns[1], "AES-256-GCM");
}

static const struct gcm_fns *gcm_of(enum smt_cipher c)
{
	int i = c == SMT_CIPHER_AES_128_GCM   ? 0
		: c == SMT_CIPHER_AES_256_GCM ? 1
					      : -1;

	if (i < 0 || pthread_once(&gcm_once, gcm_find_all))
		return NULL;
	return gcm_fns[i].ok ? &gcm_fns[i] : NULL;
}

static void rc_free(struct rctx *c)
{
	/* both cleanse the key schedule they hold */
	if (c->p)
		c->f->freectx(c->p);
	EVP_CIPHER_CTX_free(c->evp);
	c->p = NULL;
	c->evp = NULL;
}

/* Key a context once; later records only change the nonce. */
static int rc_new(struct rctx *c, enum smt_cipher cipher, const EVP_CIPHER *ev,
		  const uint8_t *key, size_t key_len, int enc)
{
	const struct gcm_fns *f = gcm_of(cipher);

	*c = (struct rctx){.f = f, .enc = enc};
	if (f) {
		c->p = f->newctx(f->provctx);
		if (c->p && (enc ? f->einit : f->dinit)(c->p, key, key_len,
							NULL, 0, NULL) == 1)
			return 0;
		rc_free(c);
		return -1;
	}
	c->evp = EVP_CIPHER_CTX_new();
	if (c->evp &&
	    EVP_CipherInit_ex(c->evp, ev, NULL, NULL, NULL, enc) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_SET_IVLEN, SMT_IV_LEN,
				NULL) == 1 &&
	    EVP_CipherInit_ex(c->evp, NULL, NULL, key, NULL, enc) == 1)
		return 0;
	rc_free(c);
	return -1;
}

static int rc_dup(struct rctx *dst, const struct rctx *src)
{
	*dst = (struct rctx){.f = src->f, .enc = src->enc};
	if (src->p) {
		dst->p = src->f->dupctx(src->p);
		return dst->p ? 0 : -1;
	}
	dst->evp = EVP_CIPHER_CTX_new();
	if (dst->evp && EVP_CIPHER_CTX_copy(dst->evp, src->evp) == 1)
		return 0;
	rc_free(dst);
	return -1;
}

static int rc_nonce(struct rctx *c, const uint8_t nonce[SMT_IV_LEN])
{
	if (c->p)
		return (c->enc ? c->f->einit : c->f->dinit)(
			       c->p, NULL, 0, nonce, SMT_IV_LEN, NULL) == 1
			       ? 0
			       : -EIO;
	return EVP_CipherInit_ex(c->evp, NULL, NULL, NULL, nonce, -1) == 1
		       ? 0
		       : -EIO;
}

/* len bytes through the cipher (out NULL: associated data); the bytes
 * written, or -1. */
static int rc_update(struct rctx *c, uint8_t *out, const uint8_t *in,
		     size_t len)
{
	size_t ol;
	int n;

	if (len > INT32_MAX)
		return -1;
	if (c->p)
		return c->f->update(c->p, out, &ol, len, in, len) == 1 ? (int)ol
								       : -1;
	return EVP_CipherUpdate(c->evp, out, &n, in, (int)len) == 1 ? n : -1;
}

/* The end of a record: its tag made (sealing) or checked (opening, after
 * rc_tag set it); the bytes written (none for an AEAD), or -1. */
static int rc_final(struct rctx *c, uint8_t *out)
{
	size_t ol;
	int n;

	if (c->p)
		return c->f->final(c->p, out, &ol, 0) == 1 ? (int)ol : -1;
	return EVP_CipherFinal_ex(c->evp, out, &n) == 1 ? n : -1;
}

/* The tag through the provider's parameters (EVP_CIPHER_CTX_ctrl only
 * translates to them in OpenSSL 3): read (set 0) or set (1). */
static int rc_tag(struct rctx *c, uint8_t *tag, int set)
{
	OSSL_PARAM p[2] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						  tag, SMT_TAG_LEN),
		OSSL_PARAM_construct_end(),
	};
	int ok;

	if (c->p)
		ok = set ? c->f->set(c->p, p) : c->f->get(c->p, p);
	else
		ok = set ? EVP_CIPHER_CTX_set_params(c->evp, p)
			 : EVP_CIPHER_CTX_get_params(c->evp, p);
	return ok == 1 ? 0 : -EIO;
}

struct smt_aead *smt_aead_new(enum smt_cipher c, const uint8_t *key,
			      size_t key_len, const uint8_t iv[SMT_IV_LEN])
{
	static _Atomic uint64_t gens;
	struct smt_aead *a;
	EVP_CIPHER *ev;
	int err;

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
	err = rc_new(&a->enc, c, ev, key, key_len, 1) |
	      rc_new(&a->dec, c, ev, key, key_len, 0);
	EVP_CIPHER_free(ev); /* the contexts hold their own references */
	if (err) {
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
		rc_free(&r->ctx);
		free(r);
	}
	rc_free(&a->enc);
	rc_free(&a->dec);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

enum smt_cipher smt_aead_cipher(const struct smt_aead *a)
{
	return a ? a->cipher : SMT_CIPHER_NONE;
}

int smt_aead_direct(const struct smt_aead *a)
{
	return a && a->enc.p && a->dec.p;
}

static int set_nonce(struct rctx *ctx, const struct smt_aead *a, uint64_t seq)
{
	uint8_t nonce[SMT_IV_LEN];
	int ret;

	smt_record_nonce(a->iv, seq, nonce); /* TLS 1.3 section 5.3 */
	ret = rc_nonce(ctx, nonce);
	OPENSSL_cleanse(nonce, sizeof(nonce));
	return ret;
}

static const uint8_t zeros[256];

/* Records of at most this many plaintext bytes are sealed in one call. */
#define SMT_REC_GATHER 512

int smt_record_sealv(struct smt_aead *a, uint64_t seq,
		     const struct iovec *content, unsigned int niov, size_t pad,
		     uint8_t *out)
{
	struct rctx *ctx;
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
	ctx = &a->enc;
	out[0] = SMT_REC_TYPE;
	out[1] = SMT_REC_VER_HI;
	out[2] = SMT_REC_VER_LO;
	out[3] = (uint8_t)((clen + SMT_TAG_LEN) >> 8);
	out[4] = (uint8_t)(clen + SMT_TAG_LEN);
	p = out + SMT_REC_HDR_LEN;

	if (set_nonce(ctx, a, seq))
		return -EIO;
	if (rc_update(ctx, NULL, out, SMT_REC_HDR_LEN) < 0)
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
		n = rc_update(ctx, p, p, clen);
		if (n < 0)
			return -EIO;
		done = (size_t)n;
		pad = 0;
		goto final;
	}
	/* one piece may already sit at its place in out (in place) */
	for (i = 0; i < niov; i++) {
		if (!content[i].iov_len)
			continue;
		n = rc_update(ctx, p + done, content[i].iov_base,
			      content[i].iov_len);
		if (n < 0)
			return -EIO;
		done += (size_t)n;
	}
	n = rc_update(ctx, p + done, &inner, 1);
	if (n < 0)
		return -EIO;
	done += (size_t)n;
	while (pad) {
		size_t chunk = pad < sizeof(zeros) ? pad : sizeof(zeros);

		n = rc_update(ctx, p + done, zeros, chunk);
		if (n < 0)
			return -EIO;
		done += (size_t)n;
		pad -= chunk;
	}
final:
	n = rc_final(ctx, p + done);
	if (n < 0)
		return -EIO;
	done += (size_t)n;
	if (done != clen)
		return -EIO;
	if (rc_tag(ctx, p + clen, 0))
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
	if (set_nonce(&r->ctx, a, seq) ||
	    rc_update(&r->ctx, NULL, rec, SMT_REC_HDR_LEN) < 0)
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
		m = rc_update(&r->ctx, dst, in, take);
		if (m < 0 || (size_t)m != take)
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

	if (!r->len || r->pos != r->len)
		goto fail;
	if (rc_tag(&r->ctx, r->tag, 1) || rc_final(&r->ctx, fin) < 0)
		goto fail;
	/* Strip zero padding; the last non-zero byte is the inner type. */
	if (r->last != 0) {
		if (r->last == SMT_INNER_TYPE)
			return (int)n;
	} else {
		/* the zero padding in out a word at a time (a last record
		 * padded to a whole packet carries up to max_pad of it),
		 * then byte by byte */
		while (n >= r->h + 8) {
			uint64_t w;

			memcpy(&w, r->out + (n - r->h - 8), 8);
			if (w)
				break;
			n -= 8;
		}
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
	r.ctx = a->dec; /* borrowed: not freed here */
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
	if (rc_dup(&r->ctx, &a->dec)) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->gen = a->gen;
	return r;
}

void smt_rec_rd_put(struct smt_aead *a, struct smt_rec_rd *r)
{
	struct rctx ctx;
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
	rc_free(&ctx);
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
	struct rctx *ctx;

	if (!a || (aad_len && !aad) || aad_len > INT32_MAX)
		return -EINVAL;
	ctx = &a->enc;
	if (set_nonce(ctx, a, SMT_CTL_SEQ_BIT | ctl_seq))
		return -EIO;
	if (aad_len && rc_update(ctx, NULL, aad, aad_len) < 0)
		return -EIO;
	if (rc_final(ctx, NULL) < 0)
		return -EIO;
	return rc_tag(ctx, tag, 0);
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
