// SPDX-License-Identifier: BSD-2-Clause
/*
 * OpenSSL contexts for the TLS 1.3 baseline and for the handshake that keys
 * SMT sessions: TLS 1.3 only, TLS_AES_128_GCM_SHA256 only, the server's
 * certificate checked by the client against the bench CA (the bench script
 * makes a self-signed P-256 certificate). kTLS is requested when asked and
 * the kernel has it; tls_ktls_state() says what a connection really uses.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <openssl/err.h>

#include "bench.h"

#define BENCH_SUITE "TLS_AES_128_GCM_SHA256"

const char *tls_errstr(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (!e)
		return "no OpenSSL error queued";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static SSL_CTX *ctx_common(const SSL_METHOD *m, bool ktls, char *err,
			   size_t err_len)
{
	SSL_CTX *ctx = SSL_CTX_new(m);

	if (!ctx) {
		snprintf(err, err_len, "SSL_CTX_new: %s", tls_errstr());
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, BENCH_SUITE)) {
		snprintf(err, err_len, "cannot restrict TLS to 1.3 and %s: %s",
			 BENCH_SUITE, tls_errstr());
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* No tickets: every set-up in the benchmark is a full handshake. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
#ifdef SSL_OP_ENABLE_KTLS
	if (ktls)
		SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
#endif
	return ctx;
}

/* ctx's own certificate chain and key; 0 or -1 with err set (ctx freed) */
static int ctx_use_cert(SSL_CTX *ctx, const char *cert, const char *key,
			char *err, size_t err_len)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) == 1 &&
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1)
		return 0;
	snprintf(err, err_len,
		 "cannot load certificate %s and key %s: %s (make them with "
		 "scripts/bench.sh or openssl req)",
		 cert, key, tls_errstr());
	SSL_CTX_free(ctx);
	return -1;
}

/* the CA that ctx checks its peer against; 0 or -1 as ctx_use_cert */
static int ctx_use_ca(SSL_CTX *ctx, const char *ca, char *err, size_t err_len)
{
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) == 1)
		return 0;
	snprintf(err, err_len, "cannot load CA certificate %s: %s", ca,
		 tls_errstr());
	SSL_CTX_free(ctx);
	return -1;
}

SSL_CTX *tls_server_ctx(const char *cert, const char *key, bool ktls, char *err,
			size_t err_len)
{
	SSL_CTX *ctx = ctx_common(TLS_server_method(), ktls, err, err_len);

	if (!ctx || ctx_use_cert(ctx, cert, key, err, err_len))
		return NULL;
	return ctx;
}

SSL_CTX *tls_client_ctx(const char *ca, bool ktls, char *err, size_t err_len)
{
	SSL_CTX *ctx = ctx_common(TLS_client_method(), ktls, err, err_len);

	if (!ctx || ctx_use_ca(ctx, ca, err, err_len))
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

SSL_CTX *tls_mutual_ctx(bool server, const char *cert, const char *key,
			const char *ca, char *err, size_t err_len)
{
	SSL_CTX *ctx =
		ctx_common(server ? TLS_server_method() : TLS_client_method(),
			   false, err, err_len);

	if (!ctx || ctx_use_cert(ctx, cert, key, err, err_len) ||
	    ctx_use_ca(ctx, ca, err, err_len))
		return NULL;
	/* the certificate files hold the leaf: send it alone, as smtd does
	 * (OpenSSL would add the CA from the store in every handshake) */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_verify(
		ctx,
		SSL_VERIFY_PEER |
			(server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
		NULL);
	return ctx;
}

const char *tls_ktls_state(SSL *ssl)
{
	bool tx = BIO_get_ktls_send(SSL_get_wbio(ssl)) > 0;
	bool rx = BIO_get_ktls_recv(SSL_get_rbio(ssl)) > 0;

	if (tx && rx)
		return "kTLS tx+rx";
	if (tx)
		return "kTLS tx";
	if (rx)
		return "kTLS rx";
	return "no kTLS (OpenSSL userspace records)";
}

bool tls_kernel_has_ktls(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = false;

	/* The ULP attaches only to an established socket. */
	if (l >= 0 && c >= 0 && !bind(l, (struct sockaddr *)&a, sizeof(a)) &&
	    !listen(l, 1) && !getsockname(l, (struct sockaddr *)&a, &alen) &&
	    !connect(c, (struct sockaddr *)&a, sizeof(a)))
		ok = !setsockopt(c, SOL_TCP, TCP_ULP, "tls", sizeof("tls"));
	if (l >= 0)
		close(l);
	if (c >= 0)
		close(c);
	return ok;
}
