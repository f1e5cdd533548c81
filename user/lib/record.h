/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * TLS 1.3 record protection for SMT (docs/protocol.md section 3), in the
 * picotls way: caller-owned buffers, explicit sequence numbers, one reusable
 * OpenSSL EVP context per direction key, keys wiped when freed. Opening never
 * leaves partial plaintext behind on failure.
 */
#ifndef SMT_RECORD_H
#define SMT_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/types.h>
#include <smt/rules.h>

enum smt_cipher {
	SMT_CIPHER_NONE = 0,
	SMT_CIPHER_AES_128_GCM = 1, /* TLS_AES_128_GCM_SHA256 (default) */
	SMT_CIPHER_AES_256_GCM = 2, /* TLS_AES_256_GCM_SHA384 */
	SMT_CIPHER_CHACHA20_POLY1305 = 3, /* TLS_CHACHA20_POLY1305_SHA256 */
};

#define SMT_KEY_MAX 32
#define SMT_IV_LEN SMT_NONCE_LEN

/* IANA name ("TLS_AES_128_GCM_SHA256") or short name ("aes128gcm",
 * "aes256gcm", "chacha20poly1305"); returns SMT_CIPHER_NONE when unknown. */
enum smt_cipher smt_cipher_from_name(const char *name);
const char *smt_cipher_name(enum smt_cipher c); /* IANA name */
size_t smt_cipher_key_len(enum smt_cipher c); /* 16 or 32; 0 if unknown */
const char *smt_cipher_md(enum smt_cipher c); /* "SHA256" or "SHA384" */

struct smt_aead; /* one direction key + IV, with its reusable contexts */

/* Returns NULL with errno set (EINVAL for a bad cipher/key length). */
struct smt_aead *smt_aead_new(enum smt_cipher c, const uint8_t *key,
			      size_t key_len, const uint8_t iv[SMT_IV_LEN]);
void smt_aead_free(struct smt_aead *a); /* wipes key and IV */
enum smt_cipher smt_aead_cipher(const struct smt_aead *a);
/* 1 when a's contexts are the provider's own, called without EVP (AES-GCM
 * where the provider's functions were found), 0 for EVP's. */
int smt_aead_direct(const struct smt_aead *a);

/* smt_record_seq(msg_id, B, k) and the nonce: include/smt/rules.h */

/*
 * Seal one record: out receives 5-byte header + ciphertext of
 * content || 0x17 || zeros(pad) + tag, i.e. len + pad + 22 bytes.
 * Requires len + pad <= 16384. Returns the record length or -errno.
 */
int smt_record_seal(struct smt_aead *a, uint64_t seq, const uint8_t *content,
		    size_t len, size_t pad, uint8_t *out);
/*
 * The same with the content gathered from niov pieces (the inner header
 * and the application's buffer: sealed out of place, no copy first). A
 * piece may sit at its place in out (in place).
 */
int smt_record_sealv(struct smt_aead *a, uint64_t seq,
		     const struct iovec *content, unsigned int niov, size_t pad,
		     uint8_t *out);

/*
 * Open one record of rec_len bytes (header included). Checks the header
 * (17 03 03, length matching rec_len and within 17..16401), the tag, the
 * inner content type (0x17 after stripping zero padding). On success writes
 * the content to out (room for rec_len - 22 bytes; may equal rec + 5 for
 * in-place) and returns its length. On failure returns -SMT_DROP_BAD_RECORD_HDR,
 * -SMT_DROP_RECORD_AUTH or -SMT_DROP_BAD_INNER and out holds nothing usable
 * (it is cleared).
 */
int smt_record_open(struct smt_aead *a, uint64_t seq, const uint8_t *rec,
		    size_t rec_len, uint8_t *out);
/*
 * The same, out of place in two parts: the first min(hdr_len, plaintext)
 * bytes of the plaintext go to hdr, the rest to out (room for rec_len - 22
 * - hdr_len bytes), so a message's inner header and its application bytes
 * land in separate buffers. Returns the content length counted over both;
 * on failure both are cleared.
 */
int smt_record_open_split(struct smt_aead *a, uint64_t seq, const uint8_t *rec,
			  size_t rec_len, uint8_t *hdr, size_t hdr_len,
			  uint8_t *out);

/*
 * Opening a record as its bytes come (docs/engine.md "Copies per
 * message"): a reader is a decrypting context of its own, keyed as a's,
 * so records of several messages may be in progress at once. start takes
 * the record's 5-byte header (rec_len: the whole record's length) and
 * where the plaintext goes, as smt_record_open_split; feed takes the next
 * n bytes of the record, in order, from anywhere (the packets' payloads);
 * end checks the tag and returns the content length, or -reason with the
 * output wiped. Nothing written before end is authentic. put returns a
 * reader to a's pool (a NULL, or another key: freed), wiping its state;
 * wipe clears the output of a record abandoned before its end.
 */
struct smt_rec_rd;
struct smt_rec_rd *smt_rec_rd_get(struct smt_aead *a);
void smt_rec_rd_put(struct smt_aead *a, struct smt_rec_rd *r);
int smt_rec_rd_start(struct smt_rec_rd *r, struct smt_aead *a, uint64_t seq,
		     const uint8_t *rec_hdr, size_t rec_len, uint8_t *hdr,
		     size_t hdr_len, uint8_t *out);
int smt_rec_rd_feed(struct smt_rec_rd *r, const uint8_t *wire, size_t n);
int smt_rec_rd_end(struct smt_rec_rd *r);
void smt_rec_rd_wipe(struct smt_rec_rd *r);

/* Control tag (section 5): AEAD tag of an empty plaintext, seq =
 * (1 << 63) | ctl_seq, AAD = aad. verify returns 0 or -SMT_DROP_CTL_AUTH. */
int smt_ctl_tag(struct smt_aead *a, uint64_t ctl_seq, const uint8_t *aad,
		size_t aad_len, uint8_t tag[16]);
int smt_ctl_tag_verify(struct smt_aead *a, uint64_t ctl_seq, const uint8_t *aad,
		       size_t aad_len, const uint8_t tag[16]);

#endif /* SMT_RECORD_H */
