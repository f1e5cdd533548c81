// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtd's TLS 1.3 handshakes (docs/protocol.md section 6), non-blocking in the
 * main loop: one struct smtd_hs per handshake, driven through TCP connect,
 * the OpenSSL handshake (TLS 1.3 only, ALPN "smt/1", SNI = service name,
 * which the server certificate must carry), key derivation from the TLS
 * exporter, and the parameter exchange of section 6.1 (params.c). The server
 * side hands the session to the application serving the service and answers
 * ACCEPT at once (a first request that beats the install is held by the
 * serving endpoint, docs/protocol.md 8.10); re-keys and the epochs of a
 * 0-RTT set-up wait for the application's ack first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "libsmt.h"
#include "smtd.h"
#include "ticket.h"

#define SMT_ALPN "smt/1"
#define SMT_EXPORTER_LABEL "EXPORTER-SMT v1"
/* 8 bytes that name a session in a CLOSE (docs/protocol.md 6.1) */
#define SMT_TAG_LABEL "EXPORTER-SMT session tag"
/* epoch 0 of a 0-RTT set-up (docs/protocol.md 6.4) */
#define SMT_EARLY_LABEL "EXPORTER-SMT early v1"

enum hs_state {
	HS_TCP_CONNECT,
	HS_QUEUED, /* client: waits for a free slot to its peer (hs_wait) */
	HS_TLS,
	HS_WRITE, /* flushing out[] */
	HS_READ, /* reading a parameter message */
	HS_WAIT_APP, /* server: waiting for the application's ack */
	HS_CLOSE, /* wrote the last message; close when flushed */
	HS_DRAIN, /* server, failed: read until EOF before closing */
};

struct smtd_hs {
	struct smtd_hs *next;
	struct smtd_io io;
	SSL *ssl;
	bool server;
	enum hs_state state;
	int64_t deadline;
	struct smtd_ctl_conn *conn; /* client: requester; server: serving app */
	int64_t req_id;
	char service[SMTD_NAME_MAX];
	char peer_str[INET6_ADDRSTRLEN + 8];
	uint16_t local_port; /* client: the app's SMT port */
	uint8_t ipproto; /* client: proposed (17: over UDP); 0: native */
	struct smt_params prop;
	struct smt_ctl_session sess; /* keys wiped when freed */
	uint8_t out[SMT_PARAMS_REFUSE_MAX];
	size_t out_len;
	uint8_t in[SMT_PARAMS_REFUSE_MAX];
	size_t in_len;
	bool dead;
	const char *sni_refused; /* why sni_cb refused, for the log */
	char address[80]; /* client: the peer smtd as given */
	uint32_t rekey_sid; /* a re-key of this session (0: a new one) */
	struct smt_ctl_session old; /* re-key, close: the session as it was */
	bool closing; /* client: sends a CLOSE for old */
	struct smtd_close *more; /* client: the CLOSEs to send after old's */
	unsigned int closes_answered; /* client: on this connection */
	bool close_conn; /* server: the connection carries CLOSEs */
	bool evicted; /* server: closed for a newer connection (hs_admit) */
	bool peeked; /* server: first byte seen, not a ticket HELLO */
	int64_t mark[HM_COUNT]; /* smtd_mark(): the set-up's timeline */
	struct sockaddr_storage dst; /* client: the peer smtd */
	socklen_t dstlen;
	struct smtd_hs *wnext; /* HS_QUEUED: the next in d->hs_wait */
	/* resumption and 0-RTT (docs/protocol.md 6.4) */
	/* client: the tickets this handshake got, oldest first */
	SSL_SESSION *ticket_new[SMTD_TICKETS_PER_PEER];
	bool early; /* a 0-RTT set-up (EARLY PROPOSE) */
	/* client: the ACCEPT kept with the ticket offered, for an IN_USE
	 * PROPOSE if the handshake resumes (docs/protocol.md 6.4) */
	struct smt_params cached;
	bool has_cached;
	bool pre; /* client: ssl is a ClientHello built ahead (memory BIO) */
	size_t early_off; /* client: the PROPOSE's bytes written ahead */
	uint8_t *pend; /* client: the first flight, for the socket once up */
	size_t pend_len, pend_off;
	bool early_stage0; /* server: epoch 0 is with the application */
	bool early_over; /* server: SSL_read_early_data said FINISH */
	enum { CORK_NONE, CORK_HELD, CORK_DONE } cork; /* server: srv_cork */
	uint32_t early_sid; /* the session handed over in epoch 0 */
	uint8_t e0[48]; /* client: E0, for EARLY_KEYS (wiped) */
	size_t e0_len;
	enum smt_cipher e0_cipher; /* the ticket's suite, epoch 0's */
};

/*
 * Outbound connections to one peer smtd (set-ups, re-keys, CLOSEs) run
 * HS_OUT_PER_PEER at a time; more wait in d->hs_wait, oldest first, for
 * at most HS_QUEUE_MS (then the handshake timeout starts). A burst of
 * connects (1000 applications at once) then neither trips the peer's
 * per-address limit (max_handshakes / 8, 32 by default) nor holds a
 * thousand half-done handshakes: smtd does one handshake's crypto at a
 * time anyway. The CLOSEs of sessions that end during such a burst count
 * too: the peer counts their connections (a batch every CLOSE_BATCH_MS,
 * each open until its last CLOSE is answered), and a slow peer saw 16
 * set-ups and more than 16 of them at once and refused the rest.
 */
#define HS_OUT_PER_PEER 16
#define HS_QUEUE_MS 8000

static void hs_mark(struct smtd_hs *hs, enum smtd_mark m)
{
	smtd_mark(hs->mark, m);
}

/*
 * Server, TLS: OpenSSL writes the whole server flight (ServerHello ...
 * Finished) before SSL_read_early_data returns the early data. The flight
 * waits in the kernel (TCP_CORK) while the EARLY PROPOSE becomes epoch 0
 * and goes to the serving application, and leaves when the application
 * has taken it (hs_app_done): the flight's transmission (on a veth pair
 * also the client's receive, in this context) is off the first request's
 * path, which the serving application, woken on this CPU, runs next.
 * Without early data the flight leaves when srv_early returns. The kernel
 * sends a corked flight after 200 ms whatever happens.
 */
static void srv_cork(struct smtd_hs *hs, bool on)
{
	int v = on;

	/* held once at most: NONE -> HELD -> DONE */
	if (hs->io.fd < 0 || hs->cork != (on ? CORK_NONE : CORK_HELD))
		return;
	hs->cork = on ? CORK_HELD : CORK_DONE;
	setsockopt(hs->io.fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
}

static void hs_log_timeline(const struct smtd_hs *hs)
{
	smtd_timeline_log(hs->mark, hs->server, hs->peer_str, hs->service);
}

/*
 * CLOSEs wait CLOSE_BATCH_MS in d->close_q so that the sessions that end
 * together, with one peer smtd and service, are closed over one TLS
 * connection (docs/protocol.md 6.1): one handshake instead of one each.
 * One that could not be delivered is tried again CLOSE_TRIES times.
 */
#define CLOSE_BATCH_MS 50
#define CLOSE_TRIES 3

struct smtd_close {
	struct smtd_close *next;
	struct smt_ctl_session s; /* no keys */
	int64_t due; /* ms */
	int tries;
};

static void close_q_add(struct smtd *d, struct smtd_close *c, int64_t due)
{
	struct smtd_close **p;

	c->due = due;
	c->next = NULL;
	for (p = &d->close_q; *p; p = &(*p)->next)
		;
	*p = c;
}

/* c was not delivered: queue it again, or give up on it. */
static void close_retry(struct smtd *d, struct smtd_close *c)
{
	if (d->stop) { /* a stopping smtd sends no CLOSE */
		free(c);
		return;
	}
	if (++c->tries < CLOSE_TRIES && !d->stop) {
		close_q_add(d, c, smtd_now_ms());
		return;
	}
	d->st.closes_failed++;
	LOG_W("session %u: gave up telling smtd at %s that it ended", c->s.sid,
	      c->s.handshake);
	free(c);
}

/*
 * The ticket cache key of CLOSE connections to hs's peer smtd: apart from
 * the set-ups' (one ticket each, used once), so that a CLOSE never takes
 * the ticket a 0-RTT set-up needs, and a set-up never takes the CLOSEs'.
 */
static void close_ticket_key(const struct smtd_hs *hs, char *key, size_t len)
{
	snprintf(key, len, "%s#close", hs->address);
}

/* Client: the tickets hs got go to the cache under key (the ACCEPT's
 * values with them, or NULL), oldest first so that the newest is taken
 * first. */
static void tickets_put(struct smtd *d, struct smtd_hs *hs, const char *key,
			const struct smt_params *a)
{
	size_t i;

	for (i = 0; i < SMTD_TICKETS_PER_PEER; i++) {
		smtd_ticket_put(d, hs->service, key, hs->ticket_new[i], a);
		hs->ticket_new[i] = NULL;
	}
}

static void tickets_free(struct smtd_hs *hs)
{
	size_t i;

	for (i = 0; i < SMTD_TICKETS_PER_PEER; i++) {
		SSL_SESSION_free(hs->ticket_new[i]);
		hs->ticket_new[i] = NULL;
	}
}

/* Takes hs out of smtd's lists and its socket out of epoll. */
static void hs_unlink(struct smtd *d, struct smtd_hs *hs)
{
	struct smtd_hs **p;

	for (p = &d->hs_list; *p; p = &(*p)->next)
		if (*p == hs) {
			*p = hs->next;
			d->nhs_in -= hs->server && !hs->evicted;
			break;
		}
	if (hs->state == HS_QUEUED)
		for (p = &d->hs_wait; *p; p = &(*p)->wnext)
			if (*p == hs) {
				*p = hs->wnext;
				break;
			}
	smtd_ctl_push_cancel(d, hs);
	if (hs->io.fd >= 0)
		smtd_io_del(d, &hs->io);
}

/* Ends an unlinked hs: its socket closed, its secrets wiped, freed. */
static void hs_release(struct smtd *d, struct smtd_hs *hs)
{
	if (hs->mark[HM_DONE])
		hs_log_timeline(hs);
	if (hs->io.fd >= 0)
		close(hs->io.fd);
	/* a server-side stateful ticket (resume.c) stays in the session cache
	 * when the peer ends without close_notify, as a stateless one would */
	if (hs->server && hs->ssl)
		SSL_set_shutdown(hs->ssl,
				 SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(hs->ssl);
	if (hs->closing && hs->closes_answered) {
		char key[sizeof(hs->address) + 8];

		/* the next CLOSE connection to that smtd resumes with it */
		close_ticket_key(hs, key, sizeof(key));
		tickets_put(d, hs, key, NULL);
	}
	tickets_free(hs);
	OPENSSL_cleanse(&hs->sess.keys, sizeof(hs->sess.keys));
	while (hs->more) { /* the CLOSEs this connection did not get to */
		struct smtd_close *c = hs->more;

		hs->more = c->next;
		close_retry(d, c);
	}
	free(hs->pend);
	OPENSSL_cleanse(hs->e0, sizeof(hs->e0));
	OPENSSL_cleanse(hs->in, sizeof(hs->in));
	OPENSSL_cleanse(hs->out, sizeof(hs->out));
	OPENSSL_cleanse(&hs->prop, sizeof(hs->prop));
	free(hs);
}

static void hs_free(struct smtd *d, struct smtd_hs *hs)
{
	hs_unlink(d, hs);
	hs_release(d, hs);
}

/*
 * A set-up that ended in its event. A client set-up whose application has
 * its session leaves the loop's path: its socket leaves epoll now; the
 * close, SSL_free and the timeline line (61 us median in the bench) wait
 * for smtd_hs_reap, after the loop's next wait. An application woken on
 * this CPU by the answer does not preempt smtd: before, it ran only after
 * that teardown (docs/smtd.md, "The application's wait for the connect
 * answer").
 */
static void hs_end(struct smtd *d, struct smtd_hs *hs)
{
	if (hs->server || hs->closing || !hs->mark[HM_DONE] ||
	    hs->state == HS_QUEUED) {
		hs_free(d, hs);
		return;
	}
	hs_unlink(d, hs);
	hs->conn = NULL;
	hs->next = d->hs_reap;
	d->hs_reap = hs;
}

void smtd_hs_reap(struct smtd *d)
{
	struct smtd_hs *hs;

	while (d->hs_reap) {
		hs = d->hs_reap;
		d->hs_reap = hs->next;
		hs_release(d, hs);
	}
}

/* The most useful description of why OpenSSL failed on ssl. */
static void ssl_why(SSL *ssl, char *buf, size_t len)
{
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e = ERR_peek_last_error();
	char ebuf[256] = "";

	if (e)
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
	ERR_clear_error();
	if (vr != X509_V_OK)
		snprintf(buf, len, "certificate verification failed: %s%s%s",
			 X509_verify_cert_error_string(vr), *ebuf ? " / " : "",
			 ebuf);
	else
		snprintf(buf, len, "%s", *ebuf ? ebuf : "connection closed");
}

/* Client side: a re-key did not happen; try again in 5 s. */
static void rekey_failed(struct smtd *d, struct smtd_hs *hs)
{
	struct smtd_session *s = smtd_table_find(d, hs->rekey_sid);

	d->st.rekeys_failed++;
	if (s) {
		s->rekey_busy = false;
		s->rekey_retry = time(NULL) + 5;
	}
	hs->rekey_sid = 0;
}

/* A 0-RTT set-up, or a resumed one that did not wait for its ACCEPT
 * (IN_USE), failed after the session went to the application: the
 * session goes (the application's requests in it fail). */
static void early_failed(struct smtd *d, struct smtd_hs *hs, const char *msg)
{
	struct smtd_session *s = smtd_table_find(d, hs->early_sid);
	char why[300];

	hs->early_sid = 0;
	if (!hs->early)
		d->st.resume_in_use_failed++;
	if (!s)
		return;
	snprintf(why, sizeof(why), "its %s set-up failed: %.250s",
		 hs->early ? "0-RTT" : "resumed (IN_USE)", msg);
	smtd_table_remove(d, s, true, false, why);
}

static void hs_fail(struct smtd *d, struct smtd_hs *hs, uint64_t *counter,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void hs_fail(struct smtd *d, struct smtd_hs *hs, uint64_t *counter,
		    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (hs->closing) {
		struct smtd_close *c;

		hs->dead = true;
		/* a peer that takes one CLOSE per connection (an older smtd)
		 * ends it after the first answer: send the rest again */
		c = hs->closes_answered ? calloc(1, sizeof(*c)) : NULL;
		if (c) {
			c->s = hs->old;
			c->tries = 0;
			close_retry(d, c);
			return;
		}
		d->st.closes_failed++;
		LOG_W("session %u: cannot tell smtd at %s that it ended: %s",
		      hs->old.sid, hs->peer_str, msg);
		return;
	}
	d->st.handshakes_failed++;
	if (counter)
		(*counter)++;
	LOG_W("%s handshake %s %s (service %s): %s",
	      hs->server ? "inbound" : "outbound", hs->server ? "from" : "to",
	      hs->peer_str, *hs->service ? hs->service : "?", msg);
	if (!hs->server && hs->conn && !hs->rekey_sid)
		smtd_ctl_connect_done(d, hs->conn, hs->req_id, NULL,
				      -SMT_E_REFUSED, msg);
	if (!hs->server && hs->rekey_sid && !hs->early_sid)
		rekey_failed(d, hs);
	if (hs->early_sid)
		early_failed(d, hs, msg);
	if (hs->state == HS_WAIT_APP)
		smtd_ctl_push_cancel(d, hs);
	if (hs->server && hs->io.fd >= 0 && hs->state != HS_DRAIN) {
		/*
		 * Closing with unread client bytes would send a RST that can
		 * destroy our alert before the client reads it; half-close
		 * and read until the client closes (or 1 s passes).
		 */
		shutdown(hs->io.fd, SHUT_WR);
		hs->state = HS_DRAIN;
		hs->deadline = smtd_now_ms() + 1000;
		smtd_io_mod(d, &hs->io, EPOLLIN);
		return;
	}
	hs->dead = true;
}

/* OpenSSL failed the TLS handshake of hs (hs_fail with the reason). */
static void handshake_failed(struct smtd *d, struct smtd_hs *hs)
{
	char why[300];

	ssl_why(hs->ssl, why, sizeof(why));
	if (hs->sni_refused)
		hs_fail(d, hs, &d->st.refused.unknown_service, "%s",
			hs->sni_refused);
	else
		hs_fail(d, hs, &d->st.refused.tls_failed,
			"TLS handshake failed: %s", why);
}

static int alpn_select(SSL *ssl, const unsigned char **out,
		       unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	static const unsigned char want[] = "\x05" SMT_ALPN;
	unsigned char *sel;

	if (SSL_select_next_proto(&sel, outlen, want, sizeof(want) - 1, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* A session of service that this host set up as the TLS client. */
static bool has_client_session(struct smtd *d, const char *service)
{
	struct smtd_session *s;

	for (s = d->sessions; s; s = s->next)
		if (s->s.tls_client && !strcmp(s->s.service, service))
			return true;
	return false;
}

/*
 * SNI must name a configured service that our certificate carries, or a
 * service this host holds client sessions of: the server of such a session
 * may connect to end it (CLOSE), and it checks our certificate by its hash.
 */
static int sni_cb(SSL *ssl, int *al, void *arg)
{
	struct smtd *d = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	X509 *cert = SSL_get_certificate(ssl);

	struct smtd_hs *hs = SSL_get_app_data(ssl);
	const char *why = NULL;

	if (hs)
		hs_mark(hs, HM_FLIGHT); /* the ClientHello is in */
	smtd_resume_taken(d, ssl);

	if (name && has_client_session(d, name))
		return SSL_TLSEXT_ERR_OK; /* maybe a CLOSE from its server */
	if (!name)
		why = "the client sent no server name (SNI); it must name the "
		      "service";
	else if (!smtd_service_find(&d->cfg, name))
		why = "the requested service is not configured here";
	else if (!cert || X509_check_host(cert, name, 0, 0, NULL) != 1)
		why = "this host's certificate does not name the requested "
		      "service";
	if (!why) {
		smtd_resume_sni(d, ssl, smtd_service_find(&d->cfg, name));
		return SSL_TLSEXT_ERR_OK;
	}
	if (hs) {
		hs->sni_refused = why;
		snprintf(hs->service, sizeof(hs->service), "%s",
			 name ? name : "");
	}
	*al = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Client: a NewSessionTicket for a new set-up (a server sends
 * SMTD_TICKETS_PER_PEER); it enters the cache with
 * the ACCEPT's values once the set-up succeeds (on_answer). A copy: the
 * connection's own session object is marked not resumable when that
 * connection ends without a close_notify. */
static int new_ticket(SSL *ssl, SSL_SESSION *sess)
{
	struct smtd_hs *hs = SSL_get_app_data(ssl);

	if (!hs || hs->server || (hs->rekey_sid && !hs->early))
		return 0;
	/* the newest SMTD_TICKETS_PER_PEER, oldest first */
	SSL_SESSION_free(hs->ticket_new[0]);
	memmove(hs->ticket_new, hs->ticket_new + 1,
		sizeof(hs->ticket_new) - sizeof(hs->ticket_new[0]));
	hs->ticket_new[SMTD_TICKETS_PER_PEER - 1] = SSL_SESSION_dup(sess);
	return 0; /* OpenSSL keeps its reference */
}

/*
 * The certificate chain this host sends, built once here from the CA
 * bundle, without the self-signed root (the peer must hold that already:
 * a root that comes with the chain is never trusted by itself). Left to
 * OpenSSL, a cert file with no intermediates is chained in every
 * handshake: a chain verification of our own certificate each time, and
 * the root on the wire, which the peer parses (OpenSSL 3.0: ~130 us for a
 * certificate) and carries into its chain check for nothing. A cert file
 * that has its intermediates is sent as it is; a certificate the bundle
 * does not verify keeps OpenSSL's per-handshake chaining (as before).
 */
static void fix_chain(SSL_CTX *ctx)
{
	STACK_OF(X509) *chain = NULL;

	if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1 && chain &&
	    sk_X509_num(chain) > 0)
		return;
	if (SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_NO_ROOT) != 1)
		ERR_clear_error();
}

static SSL_CTX *new_ctx(struct smtd *d, bool server, char *err, size_t errlen)
{
	const struct smtd_config *c = &d->cfg;
	SSL_CTX *ctx =
		SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!ctx)
		goto fail;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		goto fail;
	if (!SSL_CTX_set_ciphersuites(ctx, c->ciphersuites))
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1) {
		snprintf(err, errlen, "cannot load certificate %s", c->cert);
		goto fail_msg;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen,
			 "cannot load key %s or it does not match %s", c->key,
			 c->cert);
		goto fail_msg;
	}
	if (SSL_CTX_load_verify_locations(ctx, c->ca, NULL) != 1) {
		snprintf(err, errlen, "cannot load CA bundle %s", c->ca);
		goto fail_msg;
	}
	fix_chain(ctx);
	if (smtd_vcache_ctx(d, ctx)) {
		snprintf(err, errlen, "out of memory");
		goto fail_msg;
	}
	if (smtd_resume_ctx(d, ctx, server, new_ticket, err, errlen))
		goto fail_msg;
	SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
	if (server) {
		int mode = SSL_VERIFY_NONE;

		if (c->client_auth == SMTD_CAUTH_REQUIRE)
			mode = SSL_VERIFY_PEER |
			       SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		else if (c->client_auth == SMTD_CAUTH_OPTIONAL)
			mode = SSL_VERIFY_PEER;
		SSL_CTX_set_verify(ctx, mode, NULL);
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, d);
		SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
		SSL_CTX_set_tlsext_servername_arg(ctx, d);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_set_alpn_protos(
			    ctx, (const unsigned char *)"\x05" SMT_ALPN, 6))
			goto fail;
	}
	return ctx;
fail:
	snprintf(err, errlen, "OpenSSL context set-up failed");
fail_msg : {
	unsigned long e = ERR_get_error();
	size_t n = strlen(err);

	if (e && n + 3 < errlen) {
		snprintf(err + n, errlen - n, ": ");
		ERR_error_string_n(e, err + n + 2, errlen - n - 2);
	}
	ERR_clear_error();
}
	SSL_CTX_free(ctx);
	return NULL;
}

int smtd_tls_init(struct smtd *d, char *err, size_t errlen)
{
	SSL_CTX *s, *c;

	s = new_ctx(d, true, err, errlen);
	if (!s)
		return -EINVAL;
	c = new_ctx(d, false, err, errlen);
	if (!c) {
		SSL_CTX_free(s);
		return -EINVAL;
	}
	/* SIGHUP: new contexts for new handshakes; running ones keep theirs */
	SSL_free(d->srv_spare);
	d->srv_spare = NULL;
	SSL_CTX_free(d->srv_ctx);
	SSL_CTX_free(d->cli_ctx);
	d->srv_ctx = s;
	d->cli_ctx = c;
	return smtd_tkt_load(d, err, errlen);
}

void smtd_tls_adopt(struct smtd *d, struct smtd *from)
{
	smtd_tls_free(d);
	d->srv_ctx = from->srv_ctx;
	d->cli_ctx = from->cli_ctx;
	d->tkt_cfg = from->tkt_cfg;
	from->srv_ctx = from->cli_ctx = NULL;
	from->tkt_cfg = NULL;
	/* the callbacks were given from, which dies with the caller */
	SSL_CTX_set_alpn_select_cb(d->srv_ctx, alpn_select, d);
	SSL_CTX_set_tlsext_servername_arg(d->srv_ctx, d);
	smtd_resume_attach(d);
	smtd_vcache_attach(d, d->srv_ctx);
	smtd_vcache_attach(d, d->cli_ctx);
}

int smtd_tls_check_cert(struct smtd *d, char *err, size_t errlen)
{
	X509 *cert = d->srv_ctx ? SSL_CTX_get0_certificate(d->srv_ctx) : NULL;
	size_t used = 0;
	int i, n = 0;

	err[0] = 0;
#define ADD(...)                                                    \
	do {                                                        \
		n++;                                                \
		if (used < errlen)                                  \
			used += snprintf(err + used, errlen - used, \
					 __VA_ARGS__);              \
	} while (0)
	if (!cert) {
		ADD("%s: [tls] cert = %s: no certificate loaded\n", d->cfg.path,
		    d->cfg.cert);
		return n;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
		ADD("%s: [tls] cert = %s has expired: peers refuse it; renew "
		    "it\n",
		    d->cfg.path, d->cfg.cert);
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
		ADD("%s: [tls] cert = %s is not valid yet (notBefore in the "
		    "future); check the clock or the certificate\n",
		    d->cfg.path, d->cfg.cert);
	for (i = 0; i < d->cfg.nservices; i++) {
		const struct smtd_service *s = &d->cfg.services[i];

		if (X509_check_host(cert, s->name, 0,
				    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
				    NULL) != 1)
			ADD("%s:%d: [service %s]: the certificate %s does not "
			    "name %s (subjectAltName DNS): handshakes for it "
			    "are refused; add the name to the certificate\n",
			    d->cfg.path, s->line, s->name, d->cfg.cert,
			    s->name);
	}
#undef ADD
	return n;
}

void smtd_tls_free(struct smtd *d)
{
	SSL_free(d->srv_spare); /* of the context that goes */
	d->srv_spare = NULL;
	SSL_CTX_free(d->srv_ctx);
	SSL_CTX_free(d->cli_ctx);
	d->srv_ctx = d->cli_ctx = NULL;
	smtd_tkt_cfg_free(d);
}

static enum smt_cipher cipher_of_suite(const SSL_CIPHER *c)
{
	switch (c ? SSL_CIPHER_get_protocol_id(c) : 0) {
	case 0x1301:
		return SMT_CIPHER_AES_128_GCM;
	case 0x1302:
		return SMT_CIPHER_AES_256_GCM;
	case 0x1303:
		return SMT_CIPHER_CHACHA20_POLY1305;
	default:
		return SMT_CIPHER_NONE;
	}
}

static enum smt_cipher cipher_of(SSL *ssl)
{
	return cipher_of_suite(SSL_get_current_cipher(ssl));
}

/*
 * Epoch 0 of a 0-RTT set-up: E0 = TLS-Early-Exporter("EXPORTER-SMT early
 * v1", "", Hash.length) with the ticket's suite, then section 6's keys.
 * E0 is kept in e0 (the client may have to send it: EARLY_KEYS).
 */
static int derive_early(SSL *ssl, struct smt_keys *keys, uint8_t *e0,
			size_t *e0_len, char *why, size_t len)
{
	SSL_SESSION *ss = SSL_get_session(ssl);
	enum smt_cipher c =
		cipher_of_suite(ss ? SSL_SESSION_get0_cipher(ss) : NULL);
	size_t hl = c == SMT_CIPHER_AES_256_GCM ? 48 : 32;
	int err;

	if (c == SMT_CIPHER_NONE) {
		snprintf(why, len,
			 "the ticket's cipher suite is not an SMT one");
		return -EPROTO;
	}
	if (SSL_export_keying_material_early(ssl, e0, hl, SMT_EARLY_LABEL,
					     strlen(SMT_EARLY_LABEL), NULL,
					     0) != 1) {
		snprintf(why, len, "TLS early exporter failed");
		return -EPROTO;
	}
	*e0_len = hl;
	err = smt_keys_derive(c, e0, hl, keys);
	if (err)
		snprintf(why, len, "key derivation failed: %s", strerror(-err));
	return err;
}

/*
 * S = TLS-Exporter("EXPORTER-SMT v1", "", Hash.length), then the direction
 * keys. RFC 8446 7.5 hashes the context always, so an absent and an empty
 * context are the same in TLS 1.3; OpenSSL's use_context flag changes
 * nothing there. We ask with use_context = 1 and, as a guard against a
 * library that behaves otherwise, refuse when use_context = 0 disagrees.
 */
static int derive(SSL *ssl, struct smt_keys *keys, char *why, size_t len)
{
	enum smt_cipher c = cipher_of(ssl);
	uint8_t s1[48], s0[48];
	size_t hl = c == SMT_CIPHER_AES_256_GCM ? 48 : 32;
	int err;

	if (c == SMT_CIPHER_NONE) {
		snprintf(why, len, "negotiated cipher suite is not an SMT one");
		return -EPROTO;
	}
	if (SSL_export_keying_material(ssl, s1, hl, SMT_EXPORTER_LABEL,
				       strlen(SMT_EXPORTER_LABEL), NULL, 0,
				       1) != 1 ||
	    SSL_export_keying_material(ssl, s0, hl, SMT_EXPORTER_LABEL,
				       strlen(SMT_EXPORTER_LABEL), NULL, 0,
				       0) != 1) {
		snprintf(why, len, "TLS exporter failed");
		err = -EPROTO;
		goto out;
	}
	if (CRYPTO_memcmp(s0, s1, hl)) {
		snprintf(why, len,
			 "TLS exporter gives different secrets for an empty "
			 "and an absent context; this OpenSSL is not usable");
		err = -EPROTO;
		goto out;
	}
	err = smt_keys_derive(c, s1, hl, keys);
	if (err)
		snprintf(why, len, "key derivation failed: %s", strerror(-err));
out:
	OPENSSL_cleanse(s0, sizeof(s0));
	OPENSSL_cleanse(s1, sizeof(s1));
	return err;
}

static void set_events(struct smtd *d, struct smtd_hs *hs, int ssl_err)
{
	uint32_t ev = ssl_err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN;

	smtd_io_mod(d, &hs->io, ev);
}

/* After the write: read the answer (client) or close (server, REFUSE). */
static void queue_msg(struct smtd_hs *hs, const struct smt_params *p)
{
	hs->out_len = smt_params_encode(p, hs->out);
	hs->state = HS_WRITE;
	hs->in_len = 0;
}

static void refuse(struct smtd *d, struct smtd_hs *hs, uint16_t code,
		   uint64_t *counter, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void refuse(struct smtd *d, struct smtd_hs *hs, uint16_t code,
		   uint64_t *counter, const char *fmt, ...)
{
	struct smt_params r = {.type = SMT_PARAMS_REFUSE, .code = code};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r.reason, sizeof(r.reason), fmt, ap);
	va_end(ap);
	d->st.handshakes_failed++;
	if (counter)
		(*counter)++;
	LOG_W("refused session from %s for %s: %s", hs->peer_str, hs->service,
	      r.reason);
	queue_msg(hs, &r);
}

/* SHA-256 of the peer's certificate in hex, "" when it sent none. */
static void peer_cert_id(SSL *ssl, char *out, size_t len)
{
	X509 *c = SSL_get0_peer_certificate(ssl);
	unsigned char md[32];
	unsigned int n = 0, i;

	out[0] = 0;
	if (!c || !X509_digest(c, EVP_sha256(), md, &n) || 2 * n + 1 > len)
		return;
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	out[2 * n] = 0;
}

/* The set-up's exporter tag in hex ("" when the exporter fails). It names
 * the session in a later CLOSE, so a CLOSE meant for an older session on
 * the same ports cannot end a newer one. */
static void session_tag(SSL *ssl, char *out, size_t len)
{
	uint8_t t[8];

	out[0] = 0;
	if (len < 2 * sizeof(t) + 1 ||
	    SSL_export_keying_material(ssl, t, sizeof(t), SMT_TAG_LABEL,
				       strlen(SMT_TAG_LABEL), NULL, 0, 1) != 1)
		return;
	hex(t, sizeof(t), out);
}

static void fill_session(struct smtd *d, struct smtd_hs *hs,
			 const struct smt_params *p)
{
	struct smt_ctl_session *s = &hs->sess;

	smtd_session_fill(s, hs->io.fd, hs->server, p);
	if (!hs->server) { /* the address connected to: maybe not up yet */
		s->peer = hs->dst;
		smtd_addr_unmap_v4(&s->peer);
		smtd_addr_set_port(&s->peer, p->server_port);
	}
	snprintf(s->service, sizeof(s->service), "%s", hs->service);
	peer_cert_id(hs->ssl, s->peer_cert, sizeof(s->peer_cert));
	session_tag(hs->ssl, s->tag, sizeof(s->tag));
}

static void hs_app_done(struct smtd *d, void *arg, bool ok, const char *msg);

/*
 * Server: a REKEY proposal names an existing session by the TCP peer's
 * address, client_port and server_port; the new epoch must follow the
 * current one and B, M and P stay as agreed.
 */
static void on_rekey_propose(struct smtd *d, struct smtd_hs *hs,
			     const struct smt_params *p)
{
	struct smtd_session *old;
	struct smt_params a = *p;
	struct smtd_ctl_conn *owner;

	a.type = SMT_PARAMS_ACCEPT;
	a.lifetime_s = p->lifetime_s < d->cfg.lifetime_s ? p->lifetime_s
							 : d->cfg.lifetime_s;
	fill_session(d, hs, &a);
	old = smtd_table_match(d, hs->service, &hs->sess.local, &hs->sess.peer);
	if (!old) {
		refuse(d, hs, SMT_PREFUSE_PARAMS, &d->st.refused.params,
		       "no session of %s with client port %u and server "
		       "port %u to re-key",
		       hs->service, p->client_port, p->server_port);
		return;
	}
	/* only the peer that set the session up may re-key it */
	if (strcmp(old->s.peer_cert, hs->sess.peer_cert)) {
		refuse(d, hs, SMT_PREFUSE_PARAMS, &d->st.refused.params,
		       "re-key of session %u from another client identity "
		       "(certificate) than the one that set it up",
		       old->s.sid);
		return;
	}
	/* one encapsulation for every epoch: its endpoints cannot switch */
	if (p->ipproto != old->s.ipproto) {
		refuse(d, hs, SMT_PREFUSE_PARAMS, &d->st.refused.params,
		       "re-key of session %u must keep its encapsulation "
		       "(ipproto %u, %s), not change it to ipproto %u",
		       old->s.sid, old->s.ipproto,
		       smt_encap_name(smtd_encap_of(old->s.ipproto)),
		       p->ipproto);
		return;
	}
	if (p->epoch != ((old->s.epoch + 1) & 255) || p->B != old->s.B ||
	    p->max_msg != old->s.max_msg || p->max_pad != old->s.max_pad) {
		refuse(d, hs, SMT_PREFUSE_PARAMS, &d->st.refused.params,
		       "re-key of session %u: epoch %u after %u, or B, M, P "
		       "changed",
		       old->s.sid, p->epoch, old->s.epoch);
		return;
	}
	hs->prop = a;
	hs->sess.sid = old->s.sid;
	hs->rekey_sid = old->s.sid;
	owner = smtd_session_owner(d, old->s.sid);
	if (smtd_ctl_push_rekey(d, hs_app_done, hs, &hs->sess)) {
		refuse(d, hs, SMT_PREFUSE_APP, &d->st.refused.app_refused,
		       "cannot hand the new keys to the application");
		return;
	}
	hs->conn = owner;
	hs->state = HS_WAIT_APP;
	smtd_io_mod(d, &hs->io, 0);
}

static bool same_ip(const struct sockaddr_storage *a,
		    const struct sockaddr_storage *b)
{
	char x[INET6_ADDRSTRLEN], y[INET6_ADDRSTRLEN];

	return a->ss_family == b->ss_family &&
	       !strcmp(smt_ctl_addr_str(a, x, sizeof(x)),
		       smt_ctl_addr_str(b, y, sizeof(y)));
}

/*
 * Either role: the peer smtd ended a session (CLOSE). It is the session of
 * this service whose peer is the TCP peer's address, whose ports are the
 * CLOSE's, whose set-up had this tag, and whose peer certificate is the
 * one this connection presented; anything else is refused and changes
 * nothing.
 */
static void on_close(struct smtd *d, struct smtd_hs *hs,
		     const struct smt_params *p)
{
	struct sockaddr_storage peer;
	struct smtd_session *s;
	char cert[65], tag[17];

	smtd_sock_addr(hs->io.fd, true, &peer);
	peer_cert_id(hs->ssl, cert, sizeof(cert));
	hex(p->tag, sizeof(p->tag), tag);
	for (s = d->sessions; s; s = s->next) {
		uint16_t lp = s->s.tls_client ? p->client_port : p->server_port;
		uint16_t pp = s->s.tls_client ? p->server_port : p->client_port;

		if (!strcmp(s->s.service, hs->service) &&
		    !strcmp(s->s.tag, tag) && smt_ctl_port(&s->s.local) == lp &&
		    smt_ctl_port(&s->s.peer) == pp &&
		    same_ip(&s->s.peer, &peer))
			break;
	}
	if (!s) {
		refuse(d, hs, SMT_PREFUSE_PARAMS, &d->st.closes_failed,
		       "CLOSE: no session of %s with client port %u, server "
		       "port %u and this tag",
		       hs->service, p->client_port, p->server_port);
		return;
	}
	if (strcmp(s->s.peer_cert, cert)) {
		refuse(d, hs, SMT_PREFUSE_PARAMS, &d->st.closes_failed,
		       "CLOSE of session %u from another identity "
		       "(certificate) than its peer's",
		       s->s.sid);
		return;
	}
	d->st.closes_received++;
	smtd_table_remove(d, s, true, false, "the peer smtd ended it (CLOSE)");
	queue_msg(hs, p); /* the same CLOSE back: done */
}

/*
 * Server, EARLY PROPOSE (docs/protocol.md 6.4): in early data without
 * EARLY_KEYS (srv_early derived epoch 0 from the early exporter), or after
 * the handshake with EARLY_KEYS (epoch 0 from the client's E0). false:
 * refused.
 */
static bool early_keys(struct smtd *d, struct smtd_hs *hs,
		       const struct smt_params *p)
{
	bool in_early = !SSL_is_init_finished(hs->ssl);
	enum smt_cipher c = cipher_of(hs->ssl);

	if ((p->flags & SMT_PARAMS_F_REKEY) ||
	    in_early == !!(p->flags & SMT_PARAMS_F_EARLY_KEYS)) {
		refuse(d, hs, SMT_PREFUSE_VERSION, &d->st.refused.params,
		       "an EARLY PROPOSE carries E0 (EARLY_KEYS) after the "
		       "handshake and only there, and is no re-key");
		return false;
	}
	if (in_early)
		return true;
	if (p->e0_len != (c == SMT_CIPHER_AES_256_GCM ? 48 : 32) ||
	    smt_keys_derive(c, p->e0, p->e0_len, &hs->sess.keys)) {
		refuse(d, hs, SMT_PREFUSE_VERSION, &d->st.refused.params,
		       "EARLY_KEYS: E0 does not fit the cipher suite");
		return false;
	}
	return true;
}

/* Server, EARLY or IN_USE: the client already uses the parameters of
 * its last ACCEPT; they must still hold exactly. */
static bool early_accept(struct smtd *d, struct smtd_hs *hs,
			 const struct smt_params *p, struct smt_params *a)
{
	a->flags = p->flags & ~SMT_PARAMS_F_EARLY_KEYS;
	a->e0_len = 0;
	OPENSSL_cleanse(a->e0, sizeof(a->e0));
	if (a->server_port == p->server_port && a->max_msg == p->max_msg &&
	    a->max_pad == p->max_pad && a->lifetime_s == p->lifetime_s)
		return true;
	refuse(d, hs, SMT_PREFUSE_PARAMS, &d->st.refused.params,
	       "%s set-up with the parameters of an old ticket: server "
	       "port %u (now %u), M %u (%u), P %u (%u), lifetime %u (%u)",
	       (p->flags & SMT_PARAMS_F_EARLY) ? "0-RTT" : "resumed (IN_USE)",
	       p->server_port, a->server_port, p->max_msg, a->max_msg,
	       p->max_pad, a->max_pad, p->lifetime_s, a->lifetime_s);
	return false;
}

/* tls.c's counter of a REFUSE code of smtd_propose_check/session_admit */
static uint64_t *refused_counter(struct smtd *d, int code)
{
	return code == SMT_PREFUSE_SERVICE ? &d->st.refused.not_served
					   : &d->st.refused.params;
}

/* Server: the new session to the serving application; false: refused. */
static bool push_new(struct smtd *d, struct smtd_hs *hs,
		     struct smtd_ctl_conn *srv, smtd_push_done done, void *arg)
{
	if (smtd_ctl_push_session(d, srv, done, arg, &hs->sess)) {
		smtd_bpf_session(d, &hs->sess, false, -1);
		refuse(d, hs, SMT_PREFUSE_APP, &d->st.refused.app_refused,
		       "cannot hand the session to the application");
		return false;
	}
	hs_mark(hs, HM_PUSH);
	return true;
}

/*
 * The serving application's answer to a new session that was ACCEPTed
 * with the push (srv_accept_now). arg is the session's id: the handshake
 * may be gone by now. A refusal ends the session with a CLOSE to the
 * client's smtd, as if the application had ended it.
 */
static void srv_app_late(struct smtd *d, void *arg, bool ok, const char *msg)
{
	uint32_t sid = (uint32_t)(uintptr_t)arg;
	struct smtd_session *s = smtd_table_find(d, sid);
	char why[400];

	if (ok || !s)
		return;
	d->st.refused.app_refused++;
	snprintf(why, sizeof(why),
		 "the application serving %s did not take it (%.120s); "
		 "telling the peer",
		 s->s.service, msg ? msg : "gone");
	smtd_table_remove(d, s, false, true, why);
}

/*
 * Server, a new session (not 0-RTT, not a re-key): hand it to the serving
 * application and answer ACCEPT at once, without waiting for the
 * application's ack (docs/protocol.md 6.1): the ACCEPT's flight to the
 * client and the application's install overlap. A first request that
 * reaches this host before the application holds the keys is held by its
 * endpoint (section 8.10). The session enters the table now, so that a
 * refusal, an application that goes away or a CLOSE from the client ends
 * it as any session.
 */
static void srv_accept_now(struct smtd *d, struct smtd_hs *hs,
			   struct smtd_ctl_conn *srv)
{
	if (!push_new(d, hs, srv, srv_app_late,
		      (void *)(uintptr_t)hs->sess.sid))
		return;
	if (smtd_table_add(d, srv, &hs->sess, NULL))
		LOG_W("session %u: its BPF entry went missing and cannot be "
		      "written again",
		      hs->sess.sid);
	smtd_keylog(d, &hs->sess);
	d->st.handshakes_ok++;
	LOG_I("session %u: %s from %s, cipher %s, epoch %u", hs->sess.sid,
	      hs->service, hs->peer_str, smt_cipher_name(hs->sess.keys.cipher),
	      hs->sess.epoch);
	OPENSSL_cleanse(&hs->sess.keys, sizeof(hs->sess.keys));
	queue_msg(hs, &hs->prop);
}

/* Server: a PROPOSE (or a CLOSE) arrived. */
static void on_propose(struct smtd *d, struct smtd_hs *hs,
		       const struct smt_params *p)
{
	struct smt_params a;
	struct smtd_ctl_conn *srv = NULL;
	char reason[200];
	int code;

	if (p->type == SMT_PARAMS_CLOSE) {
		hs->close_conn =
			true; /* CLOSEs follow, until the client ends */
		on_close(d, hs, p);
		return;
	}
	if (hs->close_conn) {
		refuse(d, hs, SMT_PREFUSE_VERSION, &d->st.refused.params,
		       "only CLOSEs follow a CLOSE on one connection");
		return;
	}
	if (p->type != SMT_PARAMS_PROPOSE) {
		refuse(d, hs, SMT_PREFUSE_VERSION, &d->st.refused.params,
		       "expected PROPOSE");
		return;
	}
	if ((p->flags & SMT_PARAMS_F_IN_USE) &&
	    (p->flags & (SMT_PARAMS_F_ALL & ~SMT_PARAMS_F_IN_USE))) {
		refuse(d, hs, SMT_PREFUSE_VERSION, &d->st.refused.params,
		       "IN_USE comes alone, without REKEY, EARLY or "
		       "EARLY_KEYS");
		return;
	}
	/* sni_cb let only configured services through; a re-key keeps the
	 * session's encapsulation, whatever the configuration says now */
	code = smtd_propose_check(d, hs->service, p,
				  p->flags & SMT_PARAMS_F_REKEY, &a, &srv,
				  reason, sizeof(reason));
	if (code) {
		refuse(d, hs, code, refused_counter(d, code), "%s", reason);
		return;
	}
	if ((p->flags & SMT_PARAMS_F_EARLY) && !early_keys(d, hs, p))
		return;
	if (p->flags & SMT_PARAMS_F_REKEY) {
		on_rekey_propose(d, hs, p);
		return;
	}
	if ((p->flags & (SMT_PARAMS_F_EARLY | SMT_PARAMS_F_IN_USE)) &&
	    !early_accept(d, hs, p, &a))
		return;
	hs->prop = a;
	fill_session(d, hs, &a);
	if (p->hs_port) /* where to send a CLOSE later */
		smtd_addr_port_str(&hs->sess.peer, p->hs_port,
				   hs->sess.handshake,
				   sizeof(hs->sess.handshake));
	code = smtd_session_admit(d, srv, &hs->sess, reason, sizeof(reason));
	if (code) {
		refuse(d, hs, code, refused_counter(d, code), "%s", reason);
		return;
	}
	if (p->flags & SMT_PARAMS_F_EARLY) {
		/* epoch 0 now; epoch 1 once the handshake completes */
		hs->early_stage0 = true;
		hs->early_sid = hs->sess.sid;
		memset(hs->sess.tag, 0, sizeof(hs->sess.tag));
	}
	if (!hs->early_stage0) {
		srv_accept_now(d, hs, srv);
		return;
	}
	if (!push_new(d, hs, srv, hs_app_done, hs))
		return;
	hs->conn = srv;
	hs->state = HS_WAIT_APP;
	smtd_io_mod(d, &hs->io, 0);
}

/* Either side of a 0-RTT set-up, epoch 1 in place: the session's tag
 * (from the 1-RTT exporter) into the table; the set-up is complete. */
static void early_done(struct smtd *d, struct smtd_hs *hs)
{
	struct smtd_session *s = smtd_table_find(d, hs->early_sid);

	if (s)
		snprintf(s->s.tag, sizeof(s->s.tag), "%s", hs->sess.tag);
	hs->early_sid = 0;
}

/*
 * Server, 0-RTT set-up: the handshake is complete and the application
 * holds epoch 0; hand it epoch 1 from the 1-RTT exporter, then ACCEPT
 * (hs_app_done).
 */
static void srv_epoch1(struct smtd *d, struct smtd_hs *hs)
{
	char why[256];

	if (derive(hs->ssl, &hs->sess.keys, why, sizeof(why))) {
		hs_fail(d, hs, &d->st.refused.tls_failed, "%s", why);
		return;
	}
	hs->sess.epoch = (hs->prop.epoch + 1) & 255;
	session_tag(hs->ssl, hs->sess.tag, sizeof(hs->sess.tag));
	hs->rekey_sid = hs->early_sid;
	hs->conn = smtd_session_owner(d, hs->early_sid);
	if (!hs->conn || smtd_ctl_push_rekey(d, hs_app_done, hs, &hs->sess)) {
		hs->conn = NULL;
		early_failed(d, hs, "its application is gone");
		refuse(d, hs, SMT_PREFUSE_APP, &d->st.refused.app_refused,
		       "cannot hand epoch 1 to the application");
		return;
	}
	hs->state = HS_WAIT_APP;
	smtd_io_mod(d, &hs->io, 0);
}

/* Server, 0-RTT set-up: the application took epoch 0. */
static void srv_stage0_done(struct smtd *d, struct smtd_hs *hs)
{
	hs->early_stage0 = false;
	if (smtd_table_add(d, hs->conn, &hs->sess, NULL))
		LOG_W("session %u: its BPF entry went missing and cannot be "
		      "written again",
		      hs->sess.sid);
	smtd_keylog(d, &hs->sess);
	LOG_I("session %u: %s from %s, 0-RTT epoch %u (%s), cipher %s",
	      hs->sess.sid, hs->service, hs->peer_str, hs->sess.epoch,
	      SSL_is_init_finished(hs->ssl) ? "E0 from the client"
					    : "early exporter",
	      smt_cipher_name(hs->sess.keys.cipher));
	OPENSSL_cleanse(&hs->sess.keys, sizeof(hs->sess.keys));
	hs->conn = NULL;
	if (SSL_is_init_finished(hs->ssl)) { /* EARLY_KEYS */
		srv_epoch1(d, hs);
		if (hs->state == HS_WAIT_APP)
			return;
	} else {
		hs->state = HS_TLS; /* finish the handshake */
	}
	smtd_io_mod(d, &hs->io, EPOLLIN);
	hs->io.cb(d, hs, EPOLLIN);
}

/* The application acknowledged (ok) or refused what hs pushed to it. */
static void hs_app_done(struct smtd *d, void *arg, bool ok, const char *msg)
{
	struct smtd_hs *hs = arg;

	if (hs->state != HS_WAIT_APP)
		return;
	hs_mark(hs, HM_ACK);
	srv_cork(hs, false);
	if (hs->server && ok && hs->early_stage0) {
		srv_stage0_done(d, hs);
		return;
	}
	if (!hs->server) { /* a client-side re-key */
		if (ok) {
			smtd_table_rekeyed(d, &hs->sess);
			if (hs->early_sid)
				early_done(d, hs);
			smtd_keylog(d, &hs->sess);
			LOG_I("session %u re-keyed: epoch %u, cipher %s",
			      hs->sess.sid, hs->sess.epoch,
			      smt_cipher_name(hs->sess.keys.cipher));
		} else {
			LOG_W("session %u: the application did not take the "
			      "epoch %u keys: %s",
			      hs->sess.sid, hs->sess.epoch, msg ? msg : "gone");
			if (hs->early_sid)
				early_failed(d, hs, "epoch 1 not taken");
			else
				rekey_failed(d, hs);
		}
		hs->conn = NULL;
		hs_free(d, hs);
		return;
	}
	if (!ok && hs->rekey_sid) {
		d->st.rekeys_failed++;
		hs->conn = NULL;
		if (hs->early_sid)
			early_failed(d, hs, "epoch 1 not taken");
		refuse(d, hs, SMT_PREFUSE_APP, &d->st.refused.app_refused,
		       "the application serving %s did not take the epoch %u "
		       "keys of session %u: %s",
		       hs->service, hs->sess.epoch, hs->rekey_sid,
		       msg ? msg : "gone");
	} else if (!ok) {
		hs->conn = NULL;
		smtd_bpf_session(d, &hs->sess, false, -1); /* session_admit's */
		refuse(d, hs, SMT_PREFUSE_APP, &d->st.refused.app_refused,
		       "the application serving %s refused the session: %s",
		       hs->service, msg ? msg : "gone");
	} else {
		if (hs->rekey_sid) {
			smtd_table_rekeyed(d, &hs->sess);
			if (hs->early_sid)
				early_done(d, hs);
		} else if (smtd_table_add(d, hs->conn, &hs->sess, NULL))
			LOG_W("session %u: its BPF entry went missing and "
			      "cannot be written again",
			      hs->sess.sid);
		smtd_keylog(d, &hs->sess);
		d->st.handshakes_ok++;
		LOG_I("session %u: %s from %s, cipher %s, epoch %u",
		      hs->sess.sid, hs->service, hs->peer_str,
		      smt_cipher_name(hs->sess.keys.cipher), hs->sess.epoch);
		OPENSSL_cleanse(&hs->sess.keys, sizeof(hs->sess.keys));
		queue_msg(hs, &hs->prop);
	}
	smtd_io_mod(d, &hs->io, EPOLLOUT);
	/* drive now: the write usually completes at once */
	hs->io.cb(d, hs, EPOLLOUT);
}

static void send_close(struct smtd *d, struct smtd_hs *hs);

/* Client of CLOSEs: the answer to one came; send the next, or end. */
static void close_next(struct smtd *d, struct smtd_hs *hs)
{
	struct smtd_close *c = hs->more;

	hs->closes_answered++;
	if (!c) {
		SSL_shutdown(hs->ssl); /* close_notify: the receiver is done */
		hs->dead = true;
		return;
	}
	hs->more = c->next;
	hs->old = c->s;
	free(c);
	send_close(d, hs);
}

/* Client: the server answered. */
static void on_answer(struct smtd *d, struct smtd_hs *hs,
		      const struct smt_params *a)
{
	const struct smt_params *p = &hs->prop;
	const char *why;

	if (hs->closing && a->type == SMT_PARAMS_CLOSE &&
	    a->client_port == p->client_port &&
	    a->server_port == p->server_port &&
	    !memcmp(a->tag, p->tag, sizeof(p->tag))) {
		LOG_I("session %u (%s): smtd at %s ended it too", hs->old.sid,
		      hs->service, hs->peer_str);
		close_next(d, hs);
		return;
	}
	if (hs->closing && a->type == SMT_PARAMS_REFUSE) {
		d->st.closes_failed++;
		LOG_W("session %u: smtd at %s refused its CLOSE: %s (code %u)",
		      hs->old.sid, hs->peer_str, a->reason, a->code);
		close_next(d, hs);
		return;
	}
	if (a->type == SMT_PARAMS_REFUSE) {
		/* a PROPOSE of cached values: the next set-up to that server
		 * waits for a fresh ACCEPT (docs/protocol.md 6.4) */
		if (p->flags & (SMT_PARAMS_F_EARLY | SMT_PARAMS_F_IN_USE))
			smtd_ticket_forget_accept(d, hs->service, hs->address);
		hs_fail(d, hs, &d->st.refused.params,
			"peer smtd refused: %s (code %u)", a->reason, a->code);
		return;
	}
	if (a->type != SMT_PARAMS_ACCEPT || a->client_port != p->client_port ||
	    a->B != p->B || a->epoch != p->epoch || a->ipproto != p->ipproto ||
	    a->max_msg > p->max_msg || a->max_pad > p->max_pad ||
	    a->lifetime_s > p->lifetime_s || !a->server_port ||
	    a->flags != (p->flags & ~SMT_PARAMS_F_EARLY_KEYS) ||
	    ((p->flags & (SMT_PARAMS_F_EARLY | SMT_PARAMS_F_IN_USE)) &&
	     (a->server_port != p->server_port || a->max_msg != p->max_msg ||
	      a->max_pad != p->max_pad || a->lifetime_s != p->lifetime_s)) ||
	    (hs->rekey_sid && a->server_port != p->server_port) ||
	    smt_params_check(a->B, a->max_msg, a->max_pad, &why)) {
		hs_fail(d, hs, &d->st.refused.params,
			"peer smtd answered parameters that do not match the "
			"proposal");
		return;
	}
	fill_session(d, hs, a);
	snprintf(hs->sess.handshake, sizeof(hs->sess.handshake), "%s",
		 hs->address);
	d->st.handshakes_ok++;
	if (!hs->rekey_sid || hs->early) { /* a new set-up: its ticket */
		tickets_put(d, hs, hs->address, a);
	}
	if (p->flags & SMT_PARAMS_F_IN_USE) {
		/* handed over at the Finished (hand_over); the table gets
		 * the tag now, or the CLOSE goes now if the session went */
		hs->sess.sid = hs->early_sid;
		hs->early_sid = 0;
		smtd_early_tag(d, &hs->sess);
		hs->dead = true;
		return;
	}
	if (hs->early) { /* 0-RTT: epoch 1 follows epoch 0 */
		hs->sess.epoch = (a->epoch + 1) & 255;
		hs->rekey_sid = hs->early_sid;
		hs->sess.sid = hs->early_sid;
		if (!smtd_early_tag(d, &hs->sess)) {
			hs->early_sid = 0; /* gone, and now told */
			hs->dead = true;
			return;
		}
	}
	if (hs->rekey_sid) {
		/* hand the new epoch to the owner; hs_app_done ends it */
		hs->sess.sid = hs->rekey_sid;
		hs->conn = smtd_session_owner(d, hs->rekey_sid);
		if (smtd_ctl_push_rekey(d, hs_app_done, hs, &hs->sess)) {
			hs->conn = NULL;
			hs_fail(d, hs, NULL,
				"session %u: its application is gone",
				hs->rekey_sid);
			return;
		}
		/* the TLS connection has done its job */
		hs->state = HS_WAIT_APP;
		smtd_io_del(d, &hs->io);
		return;
	}
	hs->sess.sid = smtd_new_sid(d);
	LOG_I("session %u: %s to %s, cipher %s, epoch %u", hs->sess.sid,
	      hs->service, hs->peer_str, smt_cipher_name(hs->sess.keys.cipher),
	      hs->sess.epoch);
	if (hs->conn) {
		smtd_keylog(d, &hs->sess);
		smtd_ctl_connect_done(d, hs->conn, hs->req_id, &hs->sess, 0,
				      NULL);
		hs_mark(hs, HM_DONE);
	}
	hs->dead = true;
}

/* Client of a CLOSE: the session's ports and tag. When this host was the
 * session's TLS server, the peer is the session's client smtd, whose
 * certificate must be the one that set the session up. */
static void send_close(struct smtd *d, struct smtd_hs *hs)
{
	const struct smt_ctl_session *o = &hs->old;
	char cert[65];
	size_t i;

	if (!o->tls_client) {
		peer_cert_id(hs->ssl, cert, sizeof(cert));
		if (strcmp(cert, o->peer_cert)) {
			hs_fail(d, hs, NULL,
				"its certificate is not the one that set "
				"the session up");
			return;
		}
	}
	hs->prop = (struct smt_params){.type = SMT_PARAMS_CLOSE};
	hs->prop.client_port =
		smt_ctl_port(o->tls_client ? &o->local : &o->peer);
	hs->prop.server_port =
		smt_ctl_port(o->tls_client ? &o->peer : &o->local);
	for (i = 0; i < sizeof(hs->prop.tag); i++) {
		unsigned int v = 0;

		sscanf(o->tag + 2 * i, "%2x", &v);
		hs->prop.tag[i] = v;
	}
	queue_msg(hs, &hs->prop);
}

/* r from an OpenSSL handshake call: 1 done, 0 wait (events set), -1 failed
 * (hs_fail called). */
static int hs_step(struct smtd *d, struct smtd_hs *hs, int r)
{
	int e;

	if (r == 1)
		return 1;
	e = SSL_get_error(hs->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		set_events(d, hs, e);
		return 0;
	}
	handshake_failed(d, hs);
	return -1;
}

/*
 * Client, 0-RTT set-up, handshake complete: the EARLY PROPOSE went as
 * early data; if the server rejected that, send it again with E0
 * (EARLY_KEYS) so that epoch 0, which the application already uses, is
 * the server's too. Then wait for the ACCEPT.
 */
static void cli_early_result(struct smtd *d, struct smtd_hs *hs)
{
	if (SSL_get_early_data_status(hs->ssl) == SSL_EARLY_DATA_ACCEPTED) {
		d->st.early_accepted++;
		hs->state = HS_READ;
		hs->in_len = 0;
		return;
	}
	d->st.early_rejected++;
	if (cipher_of(hs->ssl) != hs->e0_cipher) {
		hs_fail(d, hs, &d->st.refused.params,
			"early data rejected and the new handshake chose "
			"another cipher suite than the ticket's, so epoch 0 "
			"cannot be kept");
		return;
	}
	LOG_I("session %u: %s rejected the early data (%s); sending the "
	      "PROPOSE again with E0",
	      hs->early_sid, hs->peer_str,
	      SSL_session_reused(hs->ssl) ? "ticket accepted"
					  : "ticket not accepted");
	hs->prop.flags |= SMT_PARAMS_F_EARLY_KEYS;
	memcpy(hs->prop.e0, hs->e0, hs->e0_len);
	hs->prop.e0_len = hs->e0_len;
	queue_msg(hs, &hs->prop);
	OPENSSL_cleanse(hs->prop.e0, sizeof(hs->prop.e0));
}

/* Client, 0-RTT set-up: the EARLY PROPOSE (the rest of it after a
 * ClientHello built ahead) as early data, with the ClientHello. 1:
 * written, 0: wait, -1: failed. */
static int early_write(struct smtd *d, struct smtd_hs *hs)
{
	size_t w = 0;
	int r;

	r = hs_step(d, hs,
		    SSL_write_early_data(hs->ssl, hs->out + hs->early_off,
					 hs->out_len - hs->early_off, &w));
	if (r == 1)
		d->st.early_sent++;
	return r;
}

/*
 * Client, before the ACCEPT: the session of hs->prop with hs->sess.keys
 * (0-RTT: epoch 0 from the early exporter; IN_USE: from the 1-RTT
 * exporter) to the application now. Its table entry has no tag until the
 * ACCEPT (smtd_early_tag): the CLOSE of a session that ends before then
 * waits for it, so that it cannot overtake the PROPOSE (docs/protocol.md
 * 6.1). An IN_USE session's application gets its tag at once.
 */
static void hand_over(struct smtd *d, struct smtd_hs *hs)
{
	struct smtd_session *t;

	fill_session(d, hs, &hs->prop);
	if (hs->early) /* no 1-RTT secrets yet: the tag comes with epoch 1 */
		memset(hs->sess.tag, 0, sizeof(hs->sess.tag));
	snprintf(hs->sess.handshake, sizeof(hs->sess.handshake), "%s",
		 hs->address);
	hs->sess.sid = hs->early_sid = smtd_new_sid(d);
	smtd_keylog(d, &hs->sess);
	smtd_ctl_connect_done(d, hs->conn, hs->req_id, &hs->sess, 0, NULL);
	t = smtd_table_find(d, hs->sess.sid);
	if (t)
		t->s.tag[0] = 0;
	hs_mark(hs, HM_DONE); /* handed over; the set-up goes on */
	LOG_I("session %u: %s to %s, %s, cipher %s", hs->sess.sid, hs->service,
	      hs->peer_str,
	      hs->early ? "0-RTT epoch 0" : "resumed, before the ACCEPT",
	      smt_cipher_name(hs->sess.keys.cipher));
	OPENSSL_cleanse(&hs->sess.keys, sizeof(hs->sess.keys));
	hs->conn = NULL;
}

/* Client, 0-RTT: epoch 0 from the early exporter, to the application.
 * 1, or -1 (hs failed). */
static int early_hand_over(struct smtd *d, struct smtd_hs *hs)
{
	char why[300];

	if (derive_early(hs->ssl, &hs->sess.keys, hs->e0, &hs->e0_len, why,
			 sizeof(why))) {
		hs_fail(d, hs, &d->st.refused.tls_failed, "%s", why);
		return -1;
	}
	hs->e0_cipher = hs->sess.keys.cipher;
	hand_over(d, hs);
	return 1;
}

/* Client, 0-RTT set-up: write the EARLY PROPOSE, derive epoch 0 from
 * the early exporter and hand the session to the application now. 1:
 * done, 0: wait, -1: failed. */
static int cli_early_write(struct smtd *d, struct smtd_hs *hs)
{
	int r = early_write(d, hs);

	return r == 1 ? early_hand_over(d, hs) : r;
}

/* Client: the first flight built ahead, to the socket. 1: all of it
 * sent, 0: wait (EPOLLOUT), -1: failed. */
static int pend_write(struct smtd *d, struct smtd_hs *hs)
{
	while (hs->pend_off < hs->pend_len) {
		ssize_t n = send(hs->io.fd, hs->pend + hs->pend_off,
				 hs->pend_len - hs->pend_off, MSG_NOSIGNAL);

		/* EINPROGRESS: TCP Fast Open sent a SYN without the data */
		if (n < 0 && (errno == EAGAIN || errno == EINTR ||
			      errno == EINPROGRESS)) {
			smtd_io_mod(d, &hs->io, EPOLLOUT);
			return 0;
		}
		if (n < 0) {
			hs_fail(d, hs, &d->st.refused.connect_failed,
				"cannot send to smtd at %s: %s", hs->peer_str,
				strerror(errno));
			return -1;
		}
		hs->pend_off += n;
	}
	free(hs->pend);
	hs->pend = NULL;
	hs->pend_len = hs->pend_off = 0;
	return 1;
}

/*
 * Server: early data first (SSL_read_early_data also drives a handshake
 * without any). An EARLY PROPOSE in it gets epoch 0 from the early
 * exporter and goes to on_propose at once. 1: early data over, go on with
 * the handshake; 2: on_propose moved on; 0: wait; -1: failed.
 */
static int srv_early(struct smtd *d, struct smtd_hs *hs)
{
	const unsigned char *alpn = NULL;
	unsigned int alen = 0;
	struct smt_params p;
	const char *perr = "", *sni;
	char why[300];
	size_t n = 0, used = 0;
	int r, e;

	while (!hs->early_over) {
		r = SSL_read_early_data(hs->ssl, hs->in + hs->in_len,
					sizeof(hs->in) - hs->in_len, &n);
		if (r == SSL_READ_EARLY_DATA_FINISH) {
			hs->early_over = true;
			break;
		}
		if (r == SSL_READ_EARLY_DATA_ERROR) {
			e = SSL_get_error(hs->ssl, 0);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE) {
				set_events(d, hs, e);
				return 0;
			}
			handshake_failed(d, hs);
			return -1;
		}
		hs->in_len += n;
		r = smt_params_decode(hs->in, hs->in_len, &p, &used, &perr);
		if (r == -EAGAIN && !hs->early)
			continue;
		if (hs->early || r || used != hs->in_len ||
		    p.type != SMT_PARAMS_PROPOSE ||
		    (p.flags & ~SMT_PARAMS_F_EARLY) != 0 ||
		    !(p.flags & SMT_PARAMS_F_EARLY)) {
			hs_fail(d, hs, &d->st.refused.params,
				"early data is not one EARLY PROPOSE");
			return -1;
		}
		hs->early = true;
		hs->in_len = 0;
		SSL_get0_alpn_selected(hs->ssl, &alpn, &alen);
		if (alen != strlen(SMT_ALPN) || memcmp(alpn, SMT_ALPN, alen)) {
			hs_fail(d, hs, &d->st.refused.alpn,
				"ALPN %s was not negotiated", SMT_ALPN);
			return -1;
		}
		sni = SSL_get_servername(hs->ssl, TLSEXT_NAMETYPE_host_name);
		snprintf(hs->service, sizeof(hs->service), "%s",
			 sni ? sni : "");
		if (derive_early(hs->ssl, &hs->sess.keys, hs->e0, &hs->e0_len,
				 why, sizeof(why))) {
			hs_fail(d, hs, &d->st.refused.tls_failed, "%s", why);
			return -1;
		}
		OPENSSL_cleanse(hs->e0, sizeof(hs->e0));
		d->st.early_accepted++;
		on_propose(d, hs, &p);
		if (hs->dead)
			return -1;
		if (hs->state != HS_TLS)
			return 2;
	}
	return 1;
}

/* Server: the rest of the handshake before a write (a REFUSE of an EARLY
 * PROPOSE). 1: complete, 0: wait, -1: failed. */
static int srv_finish(struct smtd *d, struct smtd_hs *hs)
{
	int r;

	if (SSL_is_init_finished(hs->ssl))
		return 1;
	r = hs->early_over ? 1 : srv_early(d, hs);
	if (r != 1)
		return r == 2 ? 0 : r;
	return hs_step(d, hs, SSL_do_handshake(hs->ssl));
}

/* Client: a PROPOSE of a's parameters: the ACCEPT kept with the ticket
 * offered (flags EARLY or IN_USE, docs/protocol.md 6.4), the session's
 * own for a REKEY, or this smtd's configuration (flags 0). */
static void propose_of(struct smtd *d, struct smtd_hs *hs,
		       const struct smt_params *a, uint8_t flags)
{
	hs->prop = (struct smt_params){
		.type = SMT_PARAMS_PROPOSE,
		.client_port = hs->local_port,
		.server_port = a->server_port,
		.B = a->B,
		.epoch = 0,
		.ipproto = a->ipproto,
		.flags = flags,
		.max_msg = a->max_msg,
		.max_pad = a->max_pad,
		.lifetime_s = a->lifetime_s,
		.hs_port = d->cfg.listen_port,
	};
}

static void after_handshake(struct smtd *d, struct smtd_hs *hs)
{
	struct smt_params want;
	const unsigned char *alpn = NULL;
	unsigned int alen = 0;
	char why[256];
	const char *sni;

	SSL_get0_alpn_selected(hs->ssl, &alpn, &alen);
	if (alen != strlen(SMT_ALPN) || memcmp(alpn, SMT_ALPN, alen)) {
		hs_fail(d, hs, &d->st.refused.alpn,
			"ALPN %s was not negotiated", SMT_ALPN);
		return;
	}
	if (hs->server) {
		sni = SSL_get_servername(hs->ssl, TLSEXT_NAMETYPE_host_name);
		snprintf(hs->service, sizeof(hs->service), "%s",
			 sni ? sni : "");
	}
	if (!hs->server)
		smtd_tfo_count(d, hs->io.fd);
	if (hs->closing) {
		if (SSL_session_reused(hs->ssl))
			d->st.closes_resumed++;
		send_close(d, hs);
		return;
	}
	if (SSL_session_reused(hs->ssl))
		d->st.handshakes_resumed++;
	if (hs->server && hs->early_sid) { /* 0-RTT: epoch 0 is out */
		srv_epoch1(d, hs);
		return;
	}
	if (derive(hs->ssl, &hs->sess.keys, why, sizeof(why))) {
		hs_fail(d, hs, &d->st.refused.tls_failed, "%s", why);
		return;
	}
	hs_mark(hs, HM_KEYS);
	if (!hs->server && hs->early) {
		cli_early_result(d, hs);
		return;
	}
	if (hs->server) {
		hs->state = HS_READ;
		hs->in_len = 0;
		return;
	}
	if (hs->has_cached && SSL_session_reused(hs->ssl)) {
		/* resumed: the ticket's ACCEPT, handed over once written */
		propose_of(d, hs, &hs->cached, SMT_PARAMS_F_IN_USE);
	} else if (hs->rekey_sid) { /* same session, next epoch */
		want = (struct smt_params){
			.server_port = smt_ctl_port(&hs->old.peer),
			.B = hs->old.B,
			.ipproto = hs->old.ipproto,
			.max_msg = hs->old.max_msg,
			.max_pad = hs->old.max_pad,
			.lifetime_s = d->cfg.lifetime_s,
		};
		propose_of(d, hs, &want, SMT_PARAMS_F_REKEY);
		hs->prop.epoch = (hs->old.epoch + 1) & 255;
	} else {
		want = (struct smt_params){
			.B = d->cfg.B,
			.ipproto = hs->ipproto ? hs->ipproto : d->cfg.ipproto,
			.max_msg = d->cfg.max_msg,
			.max_pad = d->cfg.max_pad,
			.lifetime_s = d->cfg.lifetime_s,
		};
		propose_of(d, hs, &want, 0);
	}
	queue_msg(hs, &hs->prop);
}

static void hs_drive(struct smtd *d, struct smtd_hs *hs)
{
	char why[300];
	int r, e;

	for (;;) {
		switch (hs->state) {
		case HS_TCP_CONNECT:
		case HS_QUEUED:
			return;
		case HS_TLS:
			if (hs->server && !hs->peeked) {
				/* an SMT-ticket HELLO starts with "SMT0", a
				 * TLS record never with 'S' (tkt.c) */
				uint8_t b0;
				ssize_t n = recv(hs->io.fd, &b0, 1,
						 MSG_PEEK | MSG_DONTWAIT);

				if (n < 0 && errno == EAGAIN) {
					smtd_io_mod(d, &hs->io, EPOLLIN);
					return;
				}
				hs->peeked = true;
				if (n == 1 && b0 == SMT_TKT_MAGIC[0]) {
					int fd = hs->io.fd;

					smtd_io_del(d, &hs->io);
					hs->io.fd = -1;
					hs->dead = true;
					smtd_tkt_take(d, fd, hs->peer_str);
					return;
				}
			}
			if (hs->pend && pend_write(d, hs) <= 0)
				return;
			if (!hs->server && hs->early && !hs->early_sid &&
			    cli_early_write(d, hs) <= 0)
				return;
			if (hs->server && !hs->early_over) {
				srv_cork(hs, true);
				r = srv_early(d, hs);
				/* an epoch 0 with the application: its ack
				 * uncorks (hs_app_done) */
				if (!hs->dead && !(hs->early_stage0 &&
						   hs->state == HS_WAIT_APP))
					srv_cork(hs, false);
				if (r <= 0)
					return;
				if (r == 2)
					continue;
			}
			r = SSL_do_handshake(hs->ssl);
			if (r == 1) {
				hs_mark(hs, HM_TLS);
				after_handshake(d, hs);
				if (hs->dead)
					return;
				continue;
			}
			e = SSL_get_error(hs->ssl, r);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE) {
				if (!hs->server && e == SSL_ERROR_WANT_READ)
					hs_mark(hs, HM_FLIGHT);
				set_events(d, hs, e);
				return;
			}
			handshake_failed(d, hs);
			return;
		case HS_WRITE:
			if (hs->server && srv_finish(d, hs) <= 0)
				return;
			r = SSL_write(hs->ssl, hs->out, hs->out_len);
			if (r > 0) {
				/* a server answers once, except CLOSEs: each
				 * gets its answer, then the next is read */
				bool last = hs->server
						    ? !hs->close_conn
						    : hs->out[1] ==
							      SMT_PARAMS_REFUSE;

				hs_mark(hs, HM_SENT);
				if (hs->server &&
				    hs->out[1] == SMT_PARAMS_ACCEPT)
					hs_mark(hs, HM_DONE);
				if (!hs->server && !hs->early_sid &&
				    (hs->prop.flags & SMT_PARAMS_F_IN_USE)) {
					d->st.resume_in_use++;
					hand_over(d, hs);
				}

				hs->state = last ? HS_CLOSE : HS_READ;
				continue;
			}
			e = SSL_get_error(hs->ssl, r);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE) {
				set_events(d, hs, e);
				return;
			}
			/* the peer may have refused with an alert: read it */
			if (!hs->server && !ERR_peek_error()) {
				uint8_t b[64];

				SSL_read(hs->ssl, b, sizeof(b));
			}
			ssl_why(hs->ssl, why, sizeof(why));
			hs_fail(d, hs, &d->st.refused.tls_failed,
				"write failed: %s", why);
			return;
		case HS_READ: {
			struct smt_params p;
			const char *perr = "";
			size_t used;

			r = smt_params_decode(hs->in, hs->in_len, &p, &used,
					      &perr);
			if (r == 0) {
				hs_mark(hs, HM_RECV);
				if (hs->server)
					on_propose(d, hs, &p);
				else
					on_answer(d, hs, &p);
				if (hs->dead || hs->state == HS_WAIT_APP)
					return;
				continue;
			}
			if (r != -EAGAIN) {
				if (hs->server)
					refuse(d, hs, SMT_PREFUSE_VERSION,
					       &d->st.refused.params,
					       "bad parameter message: %s",
					       perr);
				else
					hs_fail(d, hs, &d->st.refused.params,
						"bad parameter message from "
						"peer: %s",
						perr);
				if (hs->dead)
					return;
				continue;
			}
			r = SSL_read(hs->ssl, hs->in + hs->in_len,
				     sizeof(hs->in) - hs->in_len);
			if (r > 0) {
				hs->in_len += r;
				continue;
			}
			e = SSL_get_error(hs->ssl, r);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE) {
				set_events(d, hs, e);
				return;
			}
			if (hs->close_conn && !hs->in_len &&
			    (e == SSL_ERROR_ZERO_RETURN ||
			     e == SSL_ERROR_SYSCALL)) {
				/* the sender of CLOSEs is done */
				ERR_clear_error();
				hs->dead = true;
				return;
			}
			ssl_why(hs->ssl, why, sizeof(why));
			hs_fail(d, hs, &d->st.refused.tls_failed,
				"peer closed before the parameter exchange "
				"finished: %s",
				why);
			return;
		}
		case HS_WAIT_APP:
			return;
		case HS_DRAIN: {
			char sink[4096];
			ssize_t n;

			do
				n = read(hs->io.fd, sink, sizeof(sink));
			while (n > 0);
			if (n == 0 || errno != EAGAIN)
				hs->dead = true;
			return;
		}
		case HS_CLOSE:
			SSL_shutdown(hs->ssl);
			hs->dead = true;
			return;
		}
	}
}

static void hs_event(struct smtd *d, void *obj, uint32_t events)
{
	struct smtd_hs *hs = obj;

	if (hs->evicted)
		return;
	if (hs->state == HS_WAIT_APP) {
		/* epoll reports a hang-up even with no events asked for */
		if (events & (EPOLLHUP | EPOLLERR))
			smtd_io_del(d, &hs->io);
		return;
	}
	if (hs->state == HS_TCP_CONNECT) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		getsockopt(hs->io.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			hs_fail(d, hs, &d->st.refused.connect_failed,
				"cannot connect to smtd at %s: %s; is smtd "
				"running there and its port reachable?",
				hs->peer_str, strerror(soerr));
			goto out;
		}
		hs->state = HS_TLS;
		hs_mark(hs, HM_TCP);
	}
	hs_drive(d, hs);
out:
	if (hs->dead)
		hs_end(d, hs);
}

static struct smtd_hs *hs_new(struct smtd *d, int fd, bool server)
{
	struct smtd_hs *hs = calloc(1, sizeof(*hs));

	if (!hs)
		return NULL;
	hs->io.fd = fd;
	hs->io.cb = hs_event;
	hs->io.obj = hs;
	hs->server = server;
	hs->deadline = smtd_now_ms() + d->cfg.handshake_timeout_s * 1000;
	hs_mark(hs, HM_START);
	if (server && d->srv_spare) {
		hs->ssl = d->srv_spare;
		d->srv_spare = NULL;
	} else {
		hs->ssl = SSL_new(server ? d->srv_ctx : d->cli_ctx);
	}
	if (!hs->ssl || !SSL_set_fd(hs->ssl, fd) ||
	    !SSL_set_app_data(hs->ssl, hs)) {
		SSL_free(hs->ssl);
		free(hs);
		return NULL;
	}
	hs->next = d->hs_list;
	d->hs_list = hs;
	d->nhs_in += server;
	return hs;
}

/* Inbound handshakes from the address peer_str. */
static unsigned int hs_from(struct smtd *d, const char *peer_str)
{
	struct smtd_hs *hs;
	unsigned int n = 0;

	for (hs = d->hs_list; hs; hs = hs->next)
		n += hs->server && !hs->evicted &&
		     !strcmp(hs->peer_str, peer_str);
	return n;
}

/* The oldest inbound connection that has not finished TLS yet (the list
 * is newest first), or NULL. */
static struct smtd_hs *hs_oldest_unauth(struct smtd *d)
{
	struct smtd_hs *hs, *old = NULL;

	for (hs = d->hs_list; hs; hs = hs->next)
		if (hs->server && hs->state == HS_TLS && !hs->evicted)
			old = hs;
	return old;
}

/*
 * Limits of the handshake port: max_handshakes inbound connections at
 * once, an eighth of them (at least 4) from one address. A connection over
 * the per-address limit is closed; over the total, the oldest one still in
 * its TLS handshake makes room (idle connections cannot hold the port:
 * genuine handshakes finish in milliseconds). false: close the new one.
 */
static bool hs_admit(struct smtd *d, const char *peer_str)
{
	unsigned int per = d->cfg.max_handshakes / 8;
	struct smtd_hs *old;

	if (hs_from(d, peer_str) >= (per < 4 ? 4 : per)) {
		d->st.hs_conns_refused++;
		LOG_D("handshake connection from %s refused: too many from "
		      "that address",
		      peer_str);
		return false;
	}
	if (d->nhs_in < d->cfg.max_handshakes)
		return true;
	old = hs_oldest_unauth(d);
	d->st.hs_conns_refused++;
	if (!old)
		return false;
	LOG_D("handshake connection from %s closed: max_handshakes reached",
	      old->peer_str);
	/* freed by smtd_hs_tick: an event for it may wait in this round */
	old->evicted = true;
	d->nhs_in--;
	shutdown(old->io.fd, SHUT_RDWR);
	return true;
}

static void on_accept(struct smtd *d, void *obj, uint32_t events)
{
	struct sockaddr_storage ss;
	struct smtd_hs *hs;
	char a[INET6_ADDRSTRLEN];
	int fd, one = 1;

	for (;;) {
		fd = smtd_accept(d, &d->listen_io, &ss);
		if (fd < 0)
			return;
		smtd_addr_unmap_v4(&ss);
		smt_ctl_addr_str(&ss, a, sizeof(a));
		if (!hs_admit(d, a)) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		d->st.handshakes_in++;
		hs = hs_new(d, fd, true);
		if (!hs) {
			close(fd);
			continue;
		}
		snprintf(hs->peer_str, sizeof(hs->peer_str), "%s", a);
		SSL_set_accept_state(hs->ssl);
		hs->state = HS_TLS;
		if (smtd_io_add(d, &hs->io, EPOLLIN)) {
			hs_free(d, hs);
			continue;
		}
		hs_drive(d, hs);
		if (hs->dead)
			hs_free(d, hs);
	}
}

int smtd_tls_listen(struct smtd *d)
{
	struct sockaddr_storage ss;
	int fd, one = 1, err;

	if (smt_ctl_addr_parse(d->cfg.listen_addr, d->cfg.listen_port, &ss)) {
		LOG_E("listen address '%s' is not an IP address",
		      d->cfg.listen_addr);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* a burst of set-ups from many hosts waits in the backlog, not in
	 * SYN retries (the kernel caps it at net.core.somaxconn) */
	if (bind(fd, (struct sockaddr *)&ss, sizeof(ss)) ||
	    listen(fd, SOMAXCONN)) {
		err = -errno;
		LOG_E("cannot listen on %s port %u: %s", d->cfg.listen_addr,
		      d->cfg.listen_port, strerror(-err));
		close(fd);
		return err;
	}
	/* a SYN with a valid cookie hands its ClientHello or HELLO over at
	 * once (bit 0x2 of net.ipv4.tcp_fastopen; smtd_tfo_check) */
	if (d->cfg.tcp_fastopen)
		setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &(int){SOMAXCONN},
			   sizeof(int));
	d->listen_io = (struct smtd_io){.fd = fd, .cb = on_accept};
	return smtd_io_add(d, &d->listen_io, EPOLLIN);
}

enum hs_kind { HS_NEW, HS_REKEY, HS_CLOSE_SESSION };

/*
 * A set-up's ClientHello with a ticket, built ahead while idle
 * (smtd_hs_idle) into a memory BIO. For 0-RTT (early), SSL_write_early_data
 * writes it and the PROPOSE's first SMTD_PRE_EARLY bytes (version, type,
 * length: the same in every PROPOSE); the set-up that takes the ticket
 * writes the rest of its PROPOSE (early data may come in several records)
 * and has its epoch 0 from the early exporter at once. For a resumption
 * without early data, SSL_do_handshake writes the ClientHello alone. The
 * set-up sends the bytes once TCP is up (pre_send). The key share is made
 * for this ClientHello and used once, or wiped with the SSL unused.
 */
#define SMTD_PRE_EARLY 4

static SSL *prepare_hello(struct smtd *d, const char *service,
			  SSL_SESSION *sess, bool early)
{
	struct smt_params p = {.type = SMT_PARAMS_PROPOSE,
			       .flags = SMT_PARAMS_F_EARLY};
	uint8_t hdr[SMT_PARAMS_REFUSE_MAX];
	SSL *ssl = SSL_new(d->cli_ctx);
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
	size_t n = 0;

	if (!ssl || !r || !w) {
		BIO_free(r);
		BIO_free(w);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_bio(ssl, r, w);
	SSL_set_connect_state(ssl);
	smt_params_encode(&p, hdr);
	if (SSL_set_tlsext_host_name(ssl, service) != 1 ||
	    SSL_set1_host(ssl, service) != 1 ||
	    (sess && SSL_set_session(ssl, sess) != 1) ||
	    (early ? SSL_write_early_data(ssl, hdr, SMTD_PRE_EARLY, &n) != 1
		   : SSL_do_handshake(ssl) != -1 ||
			     SSL_get_error(ssl, -1) != SSL_ERROR_WANT_READ)) {
		ERR_clear_error();
		smtd_pre_free(ssl);
		return NULL;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	d->st.hellos_built++;
	return ssl;
}

/*
 * Full set-ups (resumption off: no ticket to offer) to the peers of the
 * last SMTD_HELLO_PEERS such set-ups: their next
 * ClientHello (key share included) built ahead as well, used once, or
 * built again when older than SMTD_PRE_HELLO_MS. A peer not used for
 * SMTD_HELLO_IDLE_MS gets none.
 */
#define SMTD_HELLO_PEERS 4
#define SMTD_HELLO_IDLE_MS 10000

struct smtd_hello {
	char service[SMTD_NAME_MAX];
	char address[80];
	SSL *pre; /* NULL: none built */
	int64_t pre_ms; /* when pre was built */
	int64_t used_ms; /* the peer's last full set-up */
};

static void hello_drop(struct smtd_hello *h)
{
	smtd_pre_free(h->pre);
	h->pre = NULL;
}

static struct smtd_hello *hello_find(struct smtd *d, const char *service,
				     const char *address)
{
	int i;

	for (i = 0; d->hellos && i < SMTD_HELLO_PEERS; i++)
		if (!strcmp(d->hellos[i].service, service) &&
		    !strcmp(d->hellos[i].address, address))
			return &d->hellos[i];
	return NULL;
}

/* A full set-up to (service, address) started: its peer is one to build
 * ClientHellos for (in the place of the least recently used). */
static void hello_note(struct smtd *d, const char *service, const char *address)
{
	struct smtd_hello *h = hello_find(d, service, address);
	int i;

	if (!h && !d->hellos)
		d->hellos = calloc(SMTD_HELLO_PEERS, sizeof(*d->hellos));
	if (!h && d->hellos) {
		h = &d->hellos[0];
		for (i = 1; i < SMTD_HELLO_PEERS; i++)
			if (d->hellos[i].used_ms < h->used_ms)
				h = &d->hellos[i];
		hello_drop(h);
		snprintf(h->service, sizeof(h->service), "%s", service);
		snprintf(h->address, sizeof(h->address), "%s", address);
	}
	if (h)
		h->used_ms = smtd_now_ms();
}

/* The ClientHello built ahead for a full set-up to (service, address),
 * fresh and of the current configuration, out of the list; else NULL. */
static SSL *hello_take(struct smtd *d, const char *service, const char *address)
{
	struct smtd_hello *h = hello_find(d, service, address);
	SSL *pre = h ? h->pre : NULL;

	if (!pre)
		return NULL;
	h->pre = NULL;
	if (smtd_now_ms() - h->pre_ms > SMTD_PRE_HELLO_MS ||
	    SSL_get_SSL_CTX(pre) != d->cli_ctx) {
		smtd_pre_free(pre);
		return NULL;
	}
	return pre;
}

/* One ClientHello built ahead for a recent peer without a fresh one;
 * true if one was built (more may be wanted). */
static bool hello_prepare(struct smtd *d)
{
	int64_t now = smtd_now_ms();
	struct smtd_hello *h;
	int i;

	for (i = 0; d->hellos && i < SMTD_HELLO_PEERS; i++) {
		h = &d->hellos[i];
		if (!h->service[0] || now - h->used_ms > SMTD_HELLO_IDLE_MS ||
		    (h->pre && now - h->pre_ms <= SMTD_PRE_HELLO_MS / 2 &&
		     SSL_get_SSL_CTX(h->pre) == d->cli_ctx))
			continue;
		hello_drop(h);
		h->pre = prepare_hello(d, h->service, NULL, false);
		h->pre_ms = now;
		LOG_D("%s to %s: ClientHello of a full set-up built ahead%s",
		      h->service, h->address, h->pre ? "" : " failed");
		return h->pre != NULL;
	}
	return false;
}

/* Server: the SSL object of the next accepted connection, made while idle
 * (SSL_new copies the context's certificate, key and settings: ~20 us of
 * the accept). A reload frees it with the context it came from. */
static bool srv_spare_prepare(struct smtd *d)
{
	if (d->srv_spare || !d->srv_ctx)
		return false;
	d->srv_spare = SSL_new(d->srv_ctx);
	return d->srv_spare != NULL;
}

/* Not while a set-up waits for its peer, whose answer would wait behind
 * the ~100 us of a ClientHello (a client whose epoch 0 is out only waits
 * for epoch 1, and CLOSEs are off every request's path). */
bool smtd_hs_idle(struct smtd *d)
{
	const struct smtd_hs *hs;

	for (hs = d->hs_list; hs; hs = hs->next)
		if (!hs->dead && hs->state != HS_QUEUED && !hs->closing &&
		    !hs->close_conn && (hs->server || !hs->early_sid))
			return false;
	return smtd_ticket_prepare(d, prepare_hello) || hello_prepare(d) ||
	       srv_spare_prepare(d);
}

/*
 * Client, a ClientHello built ahead: for 0-RTT write the rest of the
 * PROPOSE, then take the whole first flight out of the memory BIO for the
 * socket (sent by hs_drive once TCP is up) and put the socket under the
 * SSL; a 0-RTT set-up then hands epoch 0 over. 0, or -1 (hs failed).
 */
static int pre_send(struct smtd *d, struct smtd_hs *hs)
{
	BIO *w = SSL_get_wbio(hs->ssl);
	socklen_t sl = sizeof(int);
	char *p = NULL;
	int soerr = 0;
	long n;

	hs->pre = false;
	if (hs->early && early_write(d, hs) != 1) {
		if (!hs->dead)
			hs_fail(d, hs, &d->st.refused.tls_failed,
				"the ClientHello built ahead was not usable");
		return -1;
	}
	n = w ? BIO_get_mem_data(w, &p) : 0;
	hs->pend = n > 0 ? malloc(n) : NULL;
	if (hs->pend) {
		memcpy(hs->pend, p, n);
		hs->pend_len = n;
	}
	if (!hs->pend || !SSL_set_fd(hs->ssl, hs->io.fd)) {
		hs_fail(d, hs, &d->st.refused.tls_failed,
			"the ClientHello built ahead was not usable");
		return -1;
	}
	/* the flight first (the server's work starts with it), then the
	 * application's epoch 0 */
	if (pend_write(d, hs) < 0)
		return -1;
	/* with TCP Fast Open the flight went with the SYN, and a refusal
	 * (on a veth, before send returned) is known only from SO_ERROR */
	if (getsockopt(hs->io.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
	    soerr) {
		hs_fail(d, hs, &d->st.refused.connect_failed,
			"cannot connect to smtd at %s: %s", hs->peer_str,
			strerror(soerr));
		return -1;
	}
	if (hs->early && early_hand_over(d, hs) < 0)
		return -1;
	return 0;
}

/* The set-up sends the ClientHello built ahead (pre_send), not its own. */
static void hs_use_pre(struct smtd_hs *hs, SSL *pre)
{
	SSL_set_shutdown(hs->ssl, SSL_SENT_SHUTDOWN);
	SSL_free(hs->ssl);
	hs->ssl = pre;
	SSL_set_app_data(pre, hs);
	hs->pre = true;
}

static enum smtd_resume_policy resume_policy(struct smtd *d,
					     const char *service)
{
	const struct smtd_service *svc = smtd_service_find(&d->cfg, service);

	return svc ? svc->resume : SMTD_RESUME_ON;
}

/* resumed_handover = finished (the default, also for a service not
 * configured here): IN_USE when the handshake resumes */
static bool handover_finished(struct smtd *d, const struct smtd_hs *hs)
{
	const struct smtd_service *svc =
		smtd_service_find(&d->cfg, hs->service);

	return !svc || !svc->handover_accept;
}

static bool hs_must_wait(struct smtd *d, const struct smtd_hs *hs);
static int hs_go(struct smtd *d, struct smtd_hs *hs, char *err, size_t errlen);
/*
 * Client, new set-up: offer the cached ticket of (service, address) (used
 * once: it leaves the cache), and under the 0-rtt policy prepare the
 * EARLY PROPOSE from the last ACCEPT of that server (docs/protocol.md 6.4).
 */
static void offer_ticket(struct smtd *d, struct smtd_hs *hs)
{
	enum smtd_resume_policy pol = resume_policy(d, hs->service);
	uint8_t ipproto = hs->ipproto ? hs->ipproto : d->cfg.ipproto;
	struct smt_params a;
	SSL_SESSION *sess;
	bool has_a, early, pre_early = false;
	SSL *pre;

	if (pol == SMTD_RESUME_OFF)
		return;
	sess = smtd_ticket_take(d, hs->service, hs->address, &a, &has_a, &pre,
				&pre_early);
	if (!sess)
		return;
	early = pol == SMTD_RESUME_0RTT && has_a && a.ipproto == ipproto &&
		SSL_SESSION_get_max_early_data(sess) >= SMT_PARAMS_LEN;
	/* built ahead with this ticket, this configuration and this kind of
	 * set-up: use it */
	if (pre && early == pre_early && SSL_get_SSL_CTX(pre) == d->cli_ctx) {
		hs_use_pre(hs, pre);
		hs->early_off = early ? SMTD_PRE_EARLY : 0;
		if (early)
			d->st.early_prebuilt++;
		else
			d->st.resume_prebuilt++;
		LOG_D("%s to %s: %s with a ClientHello built ahead",
		      hs->service, hs->address, early ? "0-RTT" : "resumption");
		pre = NULL;
	}
	smtd_pre_free(pre); /* not for this set-up (or NULL); never sent */
	if ((hs->pre || SSL_set_session(hs->ssl, sess) == 1) && early) {
		hs->early = true;
		propose_of(d, hs, &a, SMT_PARAMS_F_EARLY);
		hs->out_len = smt_params_encode(&hs->prop, hs->out);
	} else if (has_a && a.ipproto == ipproto && handover_finished(d, hs)) {
		hs->cached = a; /* IN_USE if the server takes the ticket */
		hs->has_cached = true;
	}
	SSL_SESSION_free(sess);
}

/*
 * Client, CLOSE connection: resume with the ticket the last CLOSE
 * connection to that smtd got (PSK with (EC)DHE, no certificates or
 * signatures: a CLOSE costs both smtds a fraction of a full handshake).
 * No early data: a CLOSE waits for the handshake (docs/protocol.md 6.1).
 */
static void offer_close_ticket(struct smtd *d, struct smtd_hs *hs)
{
	char key[sizeof(hs->address) + 8];
	struct smt_params unused;
	SSL_SESSION *sess;
	bool has_a;

	close_ticket_key(hs, key, sizeof(key));
	sess = smtd_ticket_take(d, hs->service, key, &unused, &has_a, NULL,
				NULL);
	if (!sess)
		return;
	SSL_set_session(hs->ssl, sess);
	SSL_SESSION_free(sess);
}

/* Client, a full set-up (resumption off: no ticket offered): the
 * ClientHello built ahead for its peer if there is one, and the peer
 * noted for the next. */
static void hello_full(struct smtd *d, struct smtd_hs *hs)
{
	SSL *pre = hello_take(d, hs->service, hs->address);

	hello_note(d, hs->service, hs->address);
	if (!pre)
		return;
	hs_use_pre(hs, pre);
	d->st.full_prebuilt++;
	LOG_D("%s to %s: full handshake with a ClientHello built ahead",
	      hs->service, hs->address);
}

static int hs_start(struct smtd *d, struct smtd_ctl_conn *c, int64_t req_id,
		    const char *service, const char *address,
		    uint16_t local_port, uint8_t ipproto,
		    const struct smt_ctl_session *old, enum hs_kind kind,
		    struct smtd_close *more, char *err, size_t errlen)
{
	struct sockaddr_storage dst;
	char a[INET6_ADDRSTRLEN];
	struct smtd_hs *hs;
	socklen_t dstlen;
	int fd, r;

	r = smtd_address_parse(address, d->cfg.listen_port, &dst, &dstlen, err,
			       errlen);
	if (r)
		return r;
	fd = smtd_connect_socket(dst.ss_family, d->cfg.tcp_fastopen, err,
				 errlen);
	if (fd < 0)
		return fd;
	hs = hs_new(d, fd, false);
	if (!hs) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(hs->peer_str, sizeof(hs->peer_str), "%s",
		 smt_ctl_addr_str(&dst, a, sizeof(a)));
	snprintf(hs->service, sizeof(hs->service), "%s", service);
	hs->conn = c;
	hs->req_id = req_id;
	hs->local_port = local_port;
	hs->ipproto = ipproto;
	snprintf(hs->address, sizeof(hs->address), "%s", address);
	if (old)
		hs->old = *old;
	if (kind == HS_REKEY)
		hs->rekey_sid = old->sid;
	hs->closing = kind == HS_CLOSE_SESSION;
	hs->more = more; /* hs_free queues the ones not sent */
	SSL_set_connect_state(hs->ssl);
	SSL_set_tlsext_host_name(hs->ssl, service);
	/* the server certificate must name the service (SAN DNS); a CLOSE
	 * to a session's client smtd checks its certificate's hash instead */
	if (!hs->closing || old->tls_client) {
		SSL_set_hostflags(hs->ssl,
				  X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		SSL_set1_host(hs->ssl, service);
	}
	if (kind == HS_NEW)
		offer_ticket(d, hs);
	else if (kind == HS_CLOSE_SESSION)
		offer_close_ticket(d, hs);
	if (kind == HS_NEW && resume_policy(d, service) == SMTD_RESUME_OFF)
		hello_full(d, hs);
	if (!hs->closing)
		d->st.handshakes_out++;
	hs->dst = dst;
	hs->dstlen = dstlen;
	if (hs_must_wait(d, hs)) {
		struct smtd_hs **p;

		hs->state = HS_QUEUED;
		hs->deadline = smtd_now_ms() + HS_QUEUE_MS;
		for (p = &d->hs_wait; *p; p = &(*p)->wnext)
			;
		*p = hs;
		return 0;
	}
	r = hs_go(d, hs, err, errlen);
	if (r) {
		if (!hs->closing) {
			d->st.refused.connect_failed++;
			d->st.handshakes_failed++;
		}
		hs->conn = NULL;
		hs->more = NULL; /* the caller still has them */
		hs_free(d, hs);
		return r;
	}
	if (hs->dead)
		hs_free(d, hs);
	return 0;
}

/* The started outbound connections to peer (not queued ones), but for me:
 * set-ups, re-keys and CLOSEs, as the peer's per-address limit counts
 * every one of them. */
static unsigned int hs_out_active(struct smtd *d, const char *peer,
				  const struct smtd_hs *me)
{
	struct smtd_hs *hs;
	unsigned int n = 0;

	for (hs = d->hs_list; hs; hs = hs->next)
		n += hs != me && !hs->server && !hs->dead &&
		     hs->state != HS_QUEUED && !strcmp(hs->peer_str, peer);
	return n;
}

/* Must hs wait for a slot: the peer has HS_OUT_PER_PEER set-ups running,
 * or older ones wait for it? */
static bool hs_must_wait(struct smtd *d, const struct smtd_hs *hs)
{
	struct smtd_hs *w;

	for (w = d->hs_wait; w; w = w->wnext)
		if (!strcmp(w->peer_str, hs->peer_str))
			return true;
	return hs_out_active(d, hs->peer_str, hs) >= HS_OUT_PER_PEER;
}

/* Connect hs to its peer and start the handshake. 0, or -errno with why
 * in err (nothing started; the caller frees hs). */
static int hs_go(struct smtd *d, struct smtd_hs *hs, char *err, size_t errlen)
{
	int r = connect(hs->io.fd, (struct sockaddr *)&hs->dst, hs->dstlen);

	if (r && errno != EINPROGRESS) {
		r = -errno;
		snprintf(err, errlen, "cannot connect to smtd at %s: %s",
			 hs->address, strerror(-r));
		return r;
	}
	hs->state = r ? HS_TCP_CONNECT : HS_TLS;
	if (!r)
		hs_mark(hs, HM_TCP);
	if (smtd_io_add(d, &hs->io, r ? EPOLLOUT : EPOLLIN)) {
		snprintf(err, errlen, "epoll failed");
		return -EIO;
	}
	if (hs->pre && pre_send(d, hs))
		return 0; /* failed: hs is dead */
	if (!r)
		hs_drive(d, hs);
	return 0;
}

/* Start the queued set-ups that have a free slot to their peer, oldest
 * first; a peer found full is not counted again in this round. */
static void hs_wait_run(struct smtd *d)
{
	char full[8][sizeof(((struct smtd_hs *)0)->peer_str)];
	struct smtd_hs **p, *hs;
	unsigned int nfull = 0, i;
	char err[300];

	for (p = &d->hs_wait; (hs = *p) != NULL;) {
		for (i = 0; i < nfull && strcmp(full[i], hs->peer_str); i++)
			;
		if (i < nfull) {
			p = &hs->wnext;
			continue;
		}
		if (hs_out_active(d, hs->peer_str, hs) >= HS_OUT_PER_PEER) {
			if (nfull == sizeof(full) / sizeof(full[0]))
				return;
			snprintf(full[nfull++], sizeof(full[0]), "%s",
				 hs->peer_str);
			p = &hs->wnext;
			continue;
		}
		*p = hs->wnext;
		hs->wnext = NULL;
		hs->state = HS_TCP_CONNECT;
		hs->deadline =
			smtd_now_ms() + d->cfg.handshake_timeout_s * 1000;
		if (hs_go(d, hs, err, sizeof(err)))
			hs_fail(d, hs, &d->st.refused.connect_failed, "%s",
				err);
		if (hs->dead)
			hs_free(d, hs);
	}
}

/* Start a client handshake for a connect request of c, proposing ipproto
 * (17: SMT over UDP). 0 or -errno (then nothing was started and the caller
 * answers the request). */
static int smtd_hs_connect(struct smtd *d, struct smtd_ctl_conn *c,
			   int64_t req_id, const char *service,
			   const char *address, uint16_t local_port,
			   uint8_t ipproto, char *err, size_t errlen)
{
	return hs_start(d, c, req_id, service, address, local_port, ipproto,
			NULL, HS_NEW, NULL, err, errlen);
}

/* Tell the peer smtd that session s ended here (a CLOSE, docs/protocol.md
 * 6.1): queued for up to 50 ms, then sent over one TLS connection with
 * the other CLOSEs for that peer. 0 or -errno (nothing queued). */
static int smtd_hs_close(struct smtd *d, const struct smt_ctl_session *s)
{
	struct smtd_close *c;

	/* a server-role session needs the client smtd's address and the
	 * client's certificate to check; both sides need the tag */
	if (!s->handshake[0] || !s->tag[0] ||
	    (!s->tls_client && !s->peer_cert[0])) {
		LOG_D("session %u: the peer smtd cannot be told it ended "
		      "(address, tag or certificate unknown)",
		      s->sid);
		return -ENOENT;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->s = *s;
	OPENSSL_cleanse(&c->s.keys, sizeof(c->s.keys));
	close_q_add(d, c, smtd_now_ms() + CLOSE_BATCH_MS);
	return 0;
}

/* Do a and b go to the same peer smtd, service and peer identity (one
 * CLOSE connection)? */
static bool close_same_conn(const struct smt_ctl_session *a,
			    const struct smt_ctl_session *b)
{
	return !strcmp(a->handshake, b->handshake) &&
	       !strcmp(a->service, b->service) &&
	       a->tls_client == b->tls_client &&
	       (a->tls_client || !strcmp(a->peer_cert, b->peer_cert));
}

/* The CLOSEs that are due, each with every queued CLOSE for the same
 * peer, service and identity: one connection each. */
static void close_q_run(struct smtd *d)
{
	int64_t now = smtd_now_ms();
	struct smtd_close **p, **q, *c, *batch, **tail;
	char err[300];
	int r;

	for (p = &d->close_q; (c = *p) != NULL;) {
		if (c->due > now) {
			p = &c->next;
			continue;
		}
		*p = c->next;
		batch = NULL;
		tail = &batch;
		for (q = p; *q;) {
			struct smtd_close *o = *q;

			if (!close_same_conn(&o->s, &c->s)) {
				q = &o->next;
				continue;
			}
			*q = o->next;
			o->next = NULL;
			*tail = o;
			tail = &o->next;
		}
		d->st.close_conns++;
		r = hs_start(d, NULL, 0, c->s.service, c->s.handshake,
			     smt_ctl_port(&c->s.local), 0, &c->s,
			     HS_CLOSE_SESSION, batch, err, sizeof(err));
		if (r) {
			LOG_W("session %u: cannot tell the peer smtd it "
			      "ended: %s",
			      c->s.sid, err);
			while (batch) {
				struct smtd_close *o = batch;

				batch = o->next;
				close_retry(d, o);
			}
			close_retry(d, c);
		} else {
			free(c);
		}
		/* p still points at the first entry not taken */
	}
}

int smtd_hs_next_ms(struct smtd *d, int max)
{
	int64_t now = smtd_now_ms();
	struct smtd_close *c;

	for (c = d->close_q; c; c = c->next)
		if (c->due - now < max)
			max = c->due > now ? (int)(c->due - now) : 0;
	return max;
}

/* Start the epoch + 1 handshake for a client-role session. 0 or -errno. */
static int smtd_hs_rekey(struct smtd *d, struct smtd_session *s)
{
	char err[300];
	int r;

	r = hs_start(d, NULL, 0, s->s.service, s->s.handshake,
		     smt_ctl_port(&s->s.local), 0, &s->s, HS_REKEY, NULL, err,
		     sizeof(err));
	if (r)
		LOG_W("session %u: cannot start the re-key: %s", s->s.sid, err);
	return r;
}

/* A control connection went away: forget it in pending handshakes. */
static void smtd_hs_conn_gone(struct smtd *d, struct smtd_ctl_conn *c)
{
	struct smtd_hs *hs, *next;

	smtd_tkt_conn_gone(d, c);
	for (hs = d->hs_list; hs; hs = next) {
		next = hs->next;
		if (hs->conn != c)
			continue;
		hs->conn = NULL;
		if (hs->server && hs->state == HS_WAIT_APP) {
			/* may free hs */
			hs_app_done(d, hs, false, "the application went away");
		} else if (!hs->server) {
			hs_free(d, hs); /* nobody to hand the session to */
		}
	}
}

void smtd_hs_tick(struct smtd *d)
{
	int64_t now = smtd_now_ms();
	struct smtd_hs *hs, *next;

	close_q_run(d);
	hs_wait_run(d);
	for (hs = d->hs_list; hs; hs = next) {
		next = hs->next;
		if (hs->evicted) {
			hs_free(d, hs);
			continue;
		}
		if (now < hs->deadline)
			continue;
		if (hs->state == HS_DRAIN) {
			hs_free(d, hs);
			continue;
		}
		if (hs->state == HS_QUEUED)
			hs_fail(d, hs, &d->st.refused.timeout,
				"waited %d s for one of the %d set-ups at once "
				"to %s (never started)",
				HS_QUEUE_MS / 1000, HS_OUT_PER_PEER,
				hs->peer_str);
		else
			hs_fail(d, hs, &d->st.refused.timeout,
				"handshake did not finish within %u s",
				d->cfg.handshake_timeout_s);
		hs_free(d, hs);
	}
}

void smtd_hs_free_all(struct smtd *d)
{
	int i;

	for (i = 0; d->hellos && i < SMTD_HELLO_PEERS; i++)
		hello_drop(&d->hellos[i]);
	free(d->hellos);
	d->hellos = NULL;
	smtd_hs_reap(d);
	/* a stopping smtd sends no CLOSE: sessions outlive smtd */
	while (d->hs_list) {
		d->hs_list->conn = NULL;
		hs_free(d, d->hs_list);
	}
	while (d->close_q) {
		struct smtd_close *c = d->close_q;

		d->close_q = c->next;
		free(c);
	}
}

/* A connect request: an SMT-ticket set-up when a ticket applies (epoch 0
 * without a round trip), else the TLS handshake. */
static int setup_connect(struct smtd *d, struct smtd_ctl_conn *c,
			 int64_t req_id, const char *service,
			 const char *address, uint16_t local_port,
			 uint8_t ipproto, char *err, size_t errlen)
{
	int r = smtd_tkt_connect(d, c, req_id, service, address, local_port,
				 ipproto, err, errlen);

	if (r <= 0)
		return r;
	return smtd_hs_connect(d, c, req_id, service, address, local_port,
			       ipproto, err, errlen);
}

const struct smtd_setup_ops smtd_setup_ops = {
	.connect = setup_connect,
	.close = smtd_hs_close,
	.rekey = smtd_hs_rekey,
	.conn_gone = smtd_hs_conn_gone,
	.ticket_export = smtd_tkt_export,
};
