// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-recbench: record-layer micro-benchmark. For each cipher and record
 * size it seals (smt_record_seal) and opens (smt_record_open) records in a
 * tight loop for a fixed CPU time, several runs, and prints the median
 * throughput in content bytes per second, one line per cipher, operation
 * and size:
 *
 *     <IANA cipher> <seal|open> <size> <bytes/s>
 *
 * plus "evp-seal" lines: the same record sealed by a bare OpenSSL EVP loop
 * (new nonce, 5-byte AAD, content || 0x17 in one update, final, tag), the
 * least any TLS 1.3 record costs through EVP. scripts/bench-record.sh puts
 * these next to `openssl speed` for the same cipher and size. Time is process CPU time, as openssl speed measures by
 * default, so that other load on the machine counts less.
 */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include <smt/wire.h>

#include "opts.h"
#include "record.h"
#include "util.h"

#define MAX_SIZES 16

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * One run: seal or open records of size content bytes for at least secs of
 * CPU time. Returns content bytes per second, or a negative errno.
 */
static double run_once(struct smt_aead *a, bool seal, size_t size, double secs,
		       uint8_t *content, uint8_t *rec, uint8_t *out)
{
	const uint64_t seq = smt_record_seq(2, SMT_B_DEFAULT, 0);
	uint64_t iters = 0, i;
	double t0, t;
	int rec_len, r;

	rec_len = smt_record_seal(a, seq, content, size, 0, rec);
	if (rec_len < 0)
		return rec_len;
	t0 = cpu_now();
	do {
		/* Check the clock every 64 records only. */
		for (i = 0; i < 64; i++) {
			if (seal)
				r = smt_record_seal(a, seq + i, content, size,
						    0, out);
			else
				r = smt_record_open(a, seq, rec,
						    (size_t)rec_len, out);
			if (r < 0)
				return r;
		}
		iters += 64;
		t = cpu_now() - t0;
	} while (t < secs);
	return (double)iters * (double)size / t;
}

/* The bare EVP reference: one record's work with nothing around it. */
static double evp_once(enum smt_cipher c, const uint8_t *key, const uint8_t *iv,
		       size_t size, double secs, uint8_t *in, uint8_t *out)
{
	const EVP_CIPHER *ev = c == SMT_CIPHER_AES_128_GCM ? EVP_aes_128_gcm()
			       : c == SMT_CIPHER_AES_256_GCM
				       ? EVP_aes_256_gcm()
				       : EVP_chacha20_poly1305();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t nonce[SMT_IV_LEN], aad[SMT_REC_HDR_LEN] = {0x17, 3, 3};
	uint64_t iters = 0;
	double t0, t = 0;
	int n, i, ok = 1;

	if (!ctx || EVP_EncryptInit_ex(ctx, ev, NULL, key, iv) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return -EIO;
	}
	memcpy(nonce, iv, sizeof(nonce));
	in[size] = SMT_INNER_TYPE;
	t0 = cpu_now();
	do {
		for (i = 0; i < 64; i++) {
			nonce[SMT_IV_LEN - 1] = (uint8_t)i;
			ok &= EVP_EncryptInit_ex(ctx, NULL, NULL, NULL,
						 nonce) == 1;
			ok &= EVP_EncryptUpdate(ctx, NULL, &n, aad,
						sizeof(aad)) == 1;
			ok &= EVP_EncryptUpdate(ctx, out, &n, in,
						(int)size + 1) == 1;
			ok &= EVP_EncryptFinal_ex(ctx, out + n, &n) == 1;
			ok &= EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
						  SMT_TAG_LEN,
						  out + size + 1) == 1;
		}
		iters += 64;
		t = cpu_now() - t0;
	} while (t < secs);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? (double)iters * (double)size / t : -EIO;
}

static const char *const op_name[] = {"seal", "open", "evp-seal"};

static int bench(enum smt_cipher c, const size_t *sizes, int nsizes, int runs,
		 double secs)
{
	uint8_t key[SMT_KEY_MAX], iv[SMT_IV_LEN];
	uint8_t *content = NULL, *rec = NULL, *out = NULL;
	double res[32];
	struct smt_aead *a;
	int s, op, i, ret = 0;

	for (i = 0; i < SMT_KEY_MAX; i++)
		key[i] = (uint8_t)(0x40 + i);
	for (i = 0; i < SMT_IV_LEN; i++)
		iv[i] = (uint8_t)(0xa0 + i);
	a = smt_aead_new(c, key, smt_cipher_key_len(c), iv);
	content = calloc(1, SMT_REC_MAX_CONTENT + 1);
	rec = malloc(SMT_REC_MAX_LEN + SMT_REC_HDR_LEN);
	out = malloc(SMT_REC_MAX_LEN + SMT_REC_HDR_LEN);
	if (!a || !content || !rec || !out) {
		fprintf(stderr, "smt-recbench: cannot set up %s: %s\n",
			smt_cipher_name(c), strerror(errno ? errno : ENOMEM));
		ret = -ENOMEM;
		goto out;
	}
	for (s = 0; s < nsizes; s++) {
		for (op = 0; op < 3; op++) {
			for (i = 0; i < runs; i++) {
				res[i] = op == 2 ? evp_once(c, key, iv,
							    sizes[s], secs,
							    content, out)
						 : run_once(a, op == 0,
							    sizes[s], secs,
							    content, rec, out);
				if (res[i] < 0) {
					fprintf(stderr,
						"smt-recbench: %s %s of %zu bytes failed: %s\n",
						smt_cipher_name(c), op_name[op],
						sizes[s],
						strerror((int)-res[i]));
					ret = (int)res[i];
					goto out;
				}
			}
			qsort(res, (size_t)runs, sizeof(res[0]), cmp_double);
			printf("%s %s %zu %.0f\n", smt_cipher_name(c),
			       op_name[op], sizes[s], res[runs / 2]);
			fflush(stdout);
		}
	}
out:
	smt_aead_free(a);
	free(content);
	free(rec);
	free(out);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: smt-recbench [--cipher C] [--sizes N,N,...] [--runs R]\n"
		"                    [--ms T]\n"
		"Seal and open TLS 1.3 records with libsmt's record layer and print\n"
		"the median of R runs (default 5) of T ms CPU time each (default\n"
		"200) per cipher, operation and size (default 64,1024,16384):\n"
		"  <cipher> <seal|open> <size> <content bytes per second>\n");
}

/* Sizes of records to try, from --sizes. */
struct size_list {
	size_t v[MAX_SIZES];
	int n;
};

/* Option callbacks (opts.h): they print what is wrong themselves. */
static int opt_cipher(const struct tool_opt *opt, char *arg, char *err,
		      size_t err_len)
{
	enum smt_cipher *c = opt->dst;

	*c = smt_cipher_from_name(arg);
	if (*c != SMT_CIPHER_NONE)
		return 0;
	fprintf(stderr,
		"smt-recbench: --cipher: unknown cipher '%s'; use aes128gcm, aes256gcm or chacha20poly1305\n",
		arg);
	return -1;
}

static int opt_sizes(const struct tool_opt *opt, char *arg, char *err,
		     size_t err_len)
{
	struct size_list *l = opt->dst;
	char why[UTIL_ERR_LEN], *tok, *save;
	uint64_t v;

	l->n = 0;
	for (tok = strtok_r(arg, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (l->n == MAX_SIZES ||
		    util_parse_size(tok, SMT_REC_MAX_CONTENT, &v, why,
				    sizeof(why)) ||
		    !v) {
			fprintf(stderr,
				"smt-recbench: --sizes: '%s' is not a record size in 1..16384 (at most %d sizes)\n",
				tok, MAX_SIZES);
			return -1;
		}
		l->v[l->n++] = (size_t)v;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const enum smt_cipher all[] = {SMT_CIPHER_AES_128_GCM,
					      SMT_CIPHER_AES_256_GCM,
					      SMT_CIPHER_CHACHA20_POLY1305};
	struct size_list sizes = {.v = {64, 1024, 16384}, .n = 3};
	enum smt_cipher one = SMT_CIPHER_NONE;
	uint64_t runs = 5, ms = 200;
	const struct tool_opt opts[] = {
		OPT_FN("cipher", 'c', &one, opt_cipher),
		OPT_FN("sizes", 's', &sizes, opt_sizes),
		OPT_U64("runs", 'r', &runs, 1, 31),
		OPT_U64("ms", 't', &ms, 1, 60000),
		OPT_HELP("help", 'h'),
	};
	char err[TOOL_OPTS_ERR_LEN];
	unsigned int i;
	int ret;

	if (util_version_arg(argc, argv, "smt-recbench"))
		return 0;
	ret = tool_opts_parse(argc, argv, "h", opts, TOOL_OPTS_N(opts), err,
			      sizeof(err));
	if (ret == TOOL_OPTS_HELP) {
		usage(stdout);
		return 0;
	}
	if (ret == TOOL_OPTS_UNKNOWN) {
		usage(stderr);
		return 2;
	}
	if (ret) {
		if (*err)
			fprintf(stderr, "smt-recbench: %s\n", err);
		return 2;
	}
	if (!sizes.n) {
		fprintf(stderr, "smt-recbench: --sizes: no size given\n");
		return 2;
	}
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (one != SMT_CIPHER_NONE && all[i] != one)
			continue;
		if (bench(all[i], sizes.v, sizes.n, (int)runs,
			  (double)ms / 1000.0))
			return 1;
	}
	return 0;
}
