/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Key schedule (docs/protocol.md section 6): HKDF-Expand-Label of RFC 8446
 * section 7.1 and the SMT direction keys derived from the TLS exporter secret.
 * Also the SMT_KEYLOGFILE line format of section 7.
 */
#ifndef SMT_KEYS_H
#define SMT_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "record.h"

/* RFC 5869 HKDF with hash md ("SHA256"/"SHA384"), through OpenSSL's KDF.
 * extract writes the hash length into prk (room for 64 bytes) and returns it;
 * expand returns 0. Both return -errno on failure. */
int smt_hkdf_extract(const char *md, const uint8_t *salt, size_t salt_len,
		     const uint8_t *ikm, size_t ikm_len, uint8_t *prk);
int smt_hkdf_expand(const char *md, const uint8_t *prk, size_t prk_len,
		    const uint8_t *info, size_t info_len, uint8_t *out,
		    size_t out_len);

/* The HkdfLabel structure of RFC 8446 section 7.1 ("tls13 " + label) for
 * out_len and ctx: writes it to buf and returns its length, or -EINVAL. */
int smt_hkdf_label(size_t out_len, const char *label, const uint8_t *ctx,
		   size_t ctx_len, uint8_t *buf, size_t buf_len);

/* RFC 8446 HKDF-Expand-Label with hash md ("SHA256"/"SHA384"); 0 or -errno. */
int smt_hkdf_expand_label(const char *md, const uint8_t *secret,
			  size_t secret_len, const char *label,
			  const uint8_t *ctx, size_t ctx_len, uint8_t *out,
			  size_t out_len);

/* Both directions' keys of one session epoch. */
struct smt_keys {
	enum smt_cipher cipher;
	size_t key_len;
	uint8_t c_key[SMT_KEY_MAX], c_iv[SMT_IV_LEN];
	uint8_t s_key[SMT_KEY_MAX], s_iv[SMT_IV_LEN];
};

/* From S = TLS-Exporter("EXPORTER-SMT v1", "", Hash.length). 0 or -errno. */
int smt_keys_derive(enum smt_cipher c, const uint8_t *secret, size_t secret_len,
		    struct smt_keys *out);
void smt_keys_wipe(struct smt_keys *k);

/* One SMT_SESSION keylog line. Addresses keep their family. */
struct smt_keylog {
	struct sockaddr_storage client, server; /* address and SMT port */
	unsigned int B;
	unsigned int epoch;
	uint32_t max_msg; /* M */
	uint32_t max_pad; /* P */
	struct smt_keys keys;
};

/* Parse one line (trailing newline allowed). 0 or -EINVAL; on error, *err
 * (if given) points to a static string naming the bad field. */
int smt_keylog_parse(const char *line, struct smt_keylog *out,
		     const char **err);
/* Format one line with a trailing newline; returns length or -ENOSPC. */
int smt_keylog_format(const struct smt_keylog *kl, char *buf, size_t len);

#endif /* SMT_KEYS_H */
