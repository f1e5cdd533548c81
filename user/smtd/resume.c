// SPDX-License-Identifier: BSD-2-Clause
/*
 * TLS 1.3 resumption and 0-RTT for smtd (docs/protocol.md 6.4): the
 * server's ticket and early-data settings, its shared ticket keys ([tls]
 * ticket_keys, reloaded on SIGHUP and when the file changes), its record
 * of the ClientHello randoms of accepted early data (RFC 8446 8.2), and
 * the client's ticket cache, SMTD_TICKETS_PER_PEER tickets per (service,
 * server address), bounded in number. The handshake state machine that uses them is in
 * tls.c; the ticket-key file's format is checked in config.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "smtd.h"

/* an accepted ClientHello random is remembered this long: beyond the
 * ticket-age allowance (10 s in OpenSSL), after which the ClientHello
 * cannot get early data accepted again anyway */
#define REPLAY_WINDOW_MS 20000
#define REPLAY_SLOTS 4096
/* server: stateful tickets (sessions) kept without [tls] ticket_keys */
#define SMTD_SRV_TICKETS_MAX 8192

struct ticket {
	struct ticket *next;
	char service[SMTD_NAME_MAX];
	char address[80];
	SSL_SESSION *sess;
	int64_t expires; /* unix seconds */
	struct smt_params accept; /* the last ACCEPT from that server */
	bool has_accept;
	/* a ClientHello with this ticket built ahead (not sent) */
	SSL *pre;
	int64_t pre_ms; /* when it was built */
	bool pre_early; /* with the EARLY PROPOSE's start as early data */
};

struct replay_slot {
	uint8_t random[32];
	int64_t t_ms;
};

struct smtd_resume {
	struct ticket *tickets; /* newest first */
	unsigned int ntickets;
	struct replay_slot *record; /* ring of REPLAY_SLOTS */
	unsigned int rec_next; /* the slot written next (the oldest) */
};

static struct smtd_resume *rs_of(struct smtd *d)
{
	if (!d->resume)
		d->resume = calloc(1, sizeof(*d->resume));
	return d->resume;
}

/* ---- server ------------------------------------------------------------- */

/*
 * OpenSSL calls this for a ClientHello with a valid ticket of ours, fresh
 * per its ticket-age check, and early data in it. Accept only under the
 * service's 0-rtt policy and for a ClientHello random not seen within the
 * window; a full record (all slots younger than the window) refuses too.
 */
static int allow_early(SSL *ssl, void *arg)
{
	struct smtd *d = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	const struct smtd_service *svc = name ? smtd_service_find(&d->cfg, name)
					      : NULL;
	struct smtd_resume *rs = rs_of(d);
	int64_t now = smtd_now_ms();
	uint8_t rnd[32];
	unsigned int i, k;

	const char *was = SSL_SESSION_get0_hostname(SSL_get_session(ssl));

	if (!svc || svc->resume != SMTD_RESUME_0RTT) {
		d->st.early_refused_policy++;
		return 0;
	}
	if (!was || strcmp(was, name))
		return 0; /* a ticket of another service */
	if (!rs || SSL_get_client_random(ssl, rnd, sizeof(rnd)) != sizeof(rnd))
		return 0;
	if (!rs->record) {
		rs->record = calloc(REPLAY_SLOTS, sizeof(*rs->record));
		if (!rs->record)
			return 0;
	}
	/* newest first, until the window's end */
	for (i = 1; i <= REPLAY_SLOTS; i++) {
		k = (rs->rec_next + REPLAY_SLOTS - i) % REPLAY_SLOTS;
		if (!rs->record[k].t_ms ||
		    now - rs->record[k].t_ms > REPLAY_WINDOW_MS)
			break;
		if (!memcmp(rs->record[k].random, rnd, sizeof(rnd))) {
			d->st.early_replays++;
			LOG_W("early data refused: ClientHello random seen %lld "
			      "ms ago (a replay), service %s",
			      (long long)(now - rs->record[k].t_ms), name);
			return 0;
		}
	}
	k = rs->rec_next;
	if (rs->record[k].t_ms &&
	    now - rs->record[k].t_ms <= REPLAY_WINDOW_MS) {
		d->st.early_record_full++;
		return 0;
	}
	memcpy(rs->record[k].random, rnd, sizeof(rnd));
	rs->record[k].t_ms = now;
	rs->rec_next = (k + 1) % REPLAY_SLOTS;
	return 1;
}

/* ---- server: shared ticket keys ([tls] ticket_keys) ------------------------ */

/* the file is looked at this often for a change */
#define STEK_CHECK_MS 1000

/*
 * The keys of one server context, in its ex_data: a SIGHUP makes a new
 * context with the file read again, and the old context's keys are wiped
 * when the last handshake that uses it ends (stek_free). A change of the
 * file replaces the running context's keys in place (smtd_resume_tick).
 */
struct stek_set {
	struct smtd *d; /* counters; the running smtd after attach */
	struct smtd_stek_key key[SMTD_STEK_KEYS]; /* [0]: current */
	int n;
	char path[256]; /* as [tls] ticket_keys */
	struct stat st; /* of the file loaded */
	struct stat bad; /* of a version refused, when bad_set */
	bool bad_set;
	bool fresh; /* loaded, not counted and logged yet */
	int64_t next_check;
};

static int stek_idx = -1;

static void stek_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		      long argl, void *argp)
{
	if (!ptr)
		return;
	OPENSSL_cleanse(ptr, sizeof(struct stek_set));
	free(ptr);
}

static struct stek_set *stek_of(SSL_CTX *ctx)
{
	return ctx && stek_idx >= 0 ? SSL_CTX_get_ex_data(ctx, stek_idx) : NULL;
}

/*
 * OpenSSL's ticket key callback (OpenSSL's own ticket layout: key name,
 * IV, AES-256-CBC, HMAC-SHA256 over the three). A new ticket is made with
 * the current key; one of the current or the previous key is taken and
 * renewed; one of a key not loaded is not decrypted (0: a full handshake).
 */
static int stek_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
		   EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	static char sha256[] = "SHA256";
	struct stek_set *ks = stek_of(SSL_get_SSL_CTX(ssl));
	struct smtd_stek_key *k;
	OSSL_PARAM p[3];
	int i = 0, ok;

	if (!ks || !ks->n) /* cannot happen: the callback comes with them */
		return enc ? -1 : 0;
	if (enc) {
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) /* AES-CBC: 16 */
			return -1;
		memcpy(name, ks->key[0].name, sizeof(ks->key[0].name));
	} else {
		while (i < ks->n && memcmp(name, ks->key[i].name, 16))
			i++;
		if (i == ks->n) {
			ks->d->st.stek_unknown++;
			return 0;
		}
		if (i)
			ks->d->st.stek_previous++;
		else
			ks->d->st.stek_current++;
	}
	k = &ks->key[i];
	p[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k->hmac,
						 sizeof(k->hmac));
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256,
						0);
	p[2] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hctx, p))
		return -1;
	if (enc)
		ok = EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes,
					iv);
	else
		ok = EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes,
					iv);
	if (!ok)
		return -1;
	/*
	 * 2, "renew", for every ticket taken: in TLS 1.3 OpenSSL sends a
	 * NewSessionTicket after a resumption only then (its own keys always
	 * renew), and a client uses each ticket once; the new ticket is of
	 * the current key, so one of the previous key is replaced too.
	 */
	return 2;
}

static int stek_ctx(struct smtd *d, SSL_CTX *ctx, char *err, size_t errlen)
{
	struct stek_set *ks;
	char why[256];
	int r;

	if (stek_idx < 0)
		stek_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
						    stek_free);
	ks = stek_idx >= 0 ? calloc(1, sizeof(*ks)) : NULL;
	if (!ks) {
		snprintf(err, errlen, "ticket_keys: out of memory");
		return -ENOMEM;
	}
	snprintf(ks->path, sizeof(ks->path), "%s", d->cfg.tls_ticket_keys);
	r = smtd_stek_read(ks->path, ks->key, &ks->n, &ks->st, why,
			   sizeof(why));
	if (r || !SSL_CTX_set_ex_data(ctx, stek_idx, ks)) {
		if (r)
			snprintf(err, errlen, "ticket_keys = %s: %s", ks->path,
				 why);
		else
			snprintf(err, errlen, "ticket_keys: out of memory");
		stek_free(NULL, ks, NULL, 0, 0, NULL);
		return r ? r : -ENOMEM;
	}
	ks->d = d;
	ks->fresh = true;
	ks->next_check = smtd_now_ms() + STEK_CHECK_MS;
	if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, stek_cb) != 1) {
		snprintf(err, errlen,
			 "ticket_keys: OpenSSL refused the ticket "
			 "key callback");
		return -EINVAL; /* ks goes with ctx */
	}
	return 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static const char *stek_what(int n)
{
	return n == 2 ? "current and previous key" : "current key only";
}

void smtd_resume_tick(struct smtd *d)
{
	struct stek_set *ks = stek_of(d->srv_ctx);
	struct smtd_stek_key k[SMTD_STEK_KEYS];
	struct stat st, got;
	char why[256];
	int64_t now;
	int n;

	if (!ks)
		return;
	ks->d = d;
	if (ks->fresh) { /* a start or SIGHUP made this context */
		ks->fresh = false;
		d->st.stek_loads++;
		LOG_I("ticket keys loaded from %s (%s)", ks->path,
		      stek_what(ks->n));
	}
	now = smtd_now_ms();
	if (now < ks->next_check)
		return;
	ks->next_check = now + STEK_CHECK_MS;
	if (stat(ks->path, &st))
		memset(&st, 0, sizeof(st)); /* gone: refused once below */
	if (same_file(&st, &ks->st) ||
	    (ks->bad_set && same_file(&st, &ks->bad)))
		return;
	if (smtd_stek_read(ks->path, k, &n, &got, why, sizeof(why))) {
		d->st.stek_load_failed++;
		LOG_E("[tls] ticket_keys = %s changed but is refused: %s; "
		      "keeping the ticket keys in use",
		      ks->path, why);
		ks->bad = st;
		ks->bad_set = true;
		return;
	}
	/* the keys rotated out are wiped here */
	OPENSSL_cleanse(ks->key, sizeof(ks->key));
	memcpy(ks->key, k, sizeof(k));
	OPENSSL_cleanse(k, sizeof(k));
	ks->n = n;
	ks->st = got;
	ks->bad_set = false;
	d->st.stek_loads++;
	LOG_I("ticket keys reloaded from %s: the file changed (%s)", ks->path,
	      stek_what(n));
}

/* After a reload built the contexts with a temporary struct smtd
 * (smtd_tls_adopt): the callbacks' argument is the running one. */
void smtd_resume_attach(struct smtd *d)
{
	struct stek_set *ks = stek_of(d->srv_ctx);

	SSL_CTX_set_allow_early_data_cb(d->srv_ctx, allow_early, d);
	if (ks)
		ks->d = d;
}

void smtd_resume_sni(struct smtd *d, SSL *ssl, const struct smtd_service *svc)
{
	enum smtd_resume_policy r = svc ? svc->resume : SMTD_RESUME_OFF;

	SSL_set_num_tickets(ssl,
			    r == SMTD_RESUME_OFF ? 0 : SMTD_TICKETS_PER_PEER);
	SSL_set_max_early_data(ssl, r == SMTD_RESUME_0RTT ? SMTD_EARLY_MAX : 0);
}

/*
 * Server, without [tls] ticket_keys: the tickets are stateful (the
 * session stays in this context's cache, the ticket names it), and one
 * that a ClientHello resumes with leaves the cache now, before the
 * handshake makes its successor: single use (RFC 8446 8.1), so that the
 * cache holds the tickets clients still have, and a replayed ClientHello
 * finds no session (a full handshake it cannot finish, no early data).
 * Called for every ClientHello (the SNI callback runs after OpenSSL took
 * the PSK); a session not from the cache is not in it.
 */
void smtd_resume_taken(struct smtd *d, SSL *ssl)
{
	SSL_SESSION *s = SSL_get_session(ssl), *k;
	const unsigned char *id;
	unsigned int n = 0;

	if (!s || !SSL_session_reused(ssl) ||
	    !(SSL_get_options(ssl) & SSL_OP_NO_TICKET))
		return;
	id = SSL_SESSION_get_id(s, &n);
	k = n ? SSL_SESSION_new() : NULL;
	if (!k)
		return;
	/* by its id and version (the cache's key): the connection's own
	 * session, a copy, stays as it is */
	if (SSL_SESSION_set1_id(k, id, n) == 1 &&
	    SSL_SESSION_set_protocol_version(
		    k, SSL_SESSION_get_protocol_version(s)) == 1 &&
	    SSL_CTX_remove_session(SSL_get_SSL_CTX(ssl), k) == 1)
		d->st.tickets_taken++;
	SSL_SESSION_free(k);
}

int smtd_resume_ctx(struct smtd *d, SSL_CTX *ctx, bool server,
		    int (*new_ticket)(SSL *, SSL_SESSION *), char *err,
		    size_t errlen)
{
	if (!server) {
		/* tickets go to our cache (new_ticket), not OpenSSL's */
		SSL_CTX_set_session_cache_mode(
			ctx, SSL_SESS_CACHE_CLIENT |
				     SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, new_ticket);
		return 0;
	}
	/*
	 * OpenSSL's own anti-replay off (it would keep sessions for every
	 * 0-RTT service); the replay defence is allow_early's record, and
	 * without shared keys the single use of stateful tickets besides.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_ANTI_REPLAY);
	/* needed to resume with client certificates; the service is bound by
	 * the SNI check of allow_early and OpenSSL's own */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"smt/1", 5);
	/*
	 * Without shared keys a ticket is good on this context only, stateless
	 * or not: stateful, then (OpenSSL's session cache, bounded; the ticket
	 * names the session): a stateless ticket holds the client's
	 * certificate, which OpenSSL 3.0 decodes again at every resumption and
	 * for every ticket it makes (~150 us each, the first on the 0-RTT
	 * path). With shared keys, stateless tickets that every server of the
	 * service decrypts.
	 */
	if (!d->cfg.tls_ticket_keys[0]) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_sess_set_cache_size(ctx, SMTD_SRV_TICKETS_MAX);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	SSL_CTX_set_num_tickets(ctx, SMTD_TICKETS_PER_PEER);
	SSL_CTX_set_timeout(ctx, d->cfg.tls_ticket_lifetime_s);
	SSL_CTX_set_max_early_data(ctx, SMTD_EARLY_MAX);
	SSL_CTX_set_recv_max_early_data(ctx, SMTD_EARLY_MAX);
	SSL_CTX_set_allow_early_data_cb(ctx, allow_early, d);
	/* shared ticket keys; without, OpenSSL's own random ones per context */
	return d->cfg.tls_ticket_keys[0] ? stek_ctx(d, ctx, err, errlen) : 0;
}

/* ---- client: the ticket cache ---------------------------------------------- */

/* A prepared ClientHello never sent: its key share goes unused. Marked
 * shut down, as otherwise SSL_free would mark the ticket not resumable. */
void smtd_pre_free(SSL *pre)
{
	if (pre)
		SSL_set_shutdown(pre,
				 SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(pre);
}

static void ticket_free(struct ticket *t)
{
	smtd_pre_free(t->pre);
	SSL_SESSION_free(t->sess);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}

/* A ClientHello built ahead with t, young enough to be sent (its ticket
 * age, docs/protocol.md 6.4), at now_ms (0: any). */
static bool pre_fresh(const struct ticket *t, int64_t now_ms, int64_t max_ms)
{
	return t->pre && (!now_ms || now_ms - t->pre_ms <= max_ms);
}

/* Unlinks and returns the entry for (service, address) with a fresh
 * ClientHello built ahead (with now_ms), else the newest, or NULL. */
static struct ticket *ticket_unlink(struct smtd_resume *rs, const char *service,
				    const char *address, int64_t now_ms)
{
	struct ticket **p, *t, **first = NULL;

	for (p = &rs->tickets; (t = *p); p = &t->next) {
		if (strcmp(t->service, service) || strcmp(t->address, address))
			continue;
		if (!first)
			first = p;
		if (!now_ms || pre_fresh(t, now_ms, SMTD_PRE_HELLO_MS))
			break;
	}
	if (!t)
		p = first;
	if (!p)
		return NULL;
	t = *p;
	*p = t->next;
	rs->ntickets--;
	return t;
}

/* Frees the entries for (service, address) after the newest keep, but
 * for one with a fresh ClientHello built ahead: the next set-up takes
 * that one (ticket_unlink), so it stays beside them. */
static void ticket_trim(struct smtd_resume *rs, const char *service,
			const char *address, unsigned int keep)
{
	int64_t now = smtd_now_ms();
	struct ticket **p, *t;

	for (p = &rs->tickets; (t = *p);) {
		bool other = strcmp(t->service, service) ||
			     strcmp(t->address, address);
		bool pre = !other && pre_fresh(t, now, SMTD_PRE_HELLO_MS);

		if (other || keep || pre) {
			keep -= !other && !pre && keep;
			p = &t->next;
			continue;
		}
		*p = t->next;
		rs->ntickets--;
		ticket_free(t);
	}
}

SSL_SESSION *smtd_ticket_take(struct smtd *d, const char *service,
			      const char *address, struct smt_params *accept,
			      bool *has_accept, SSL **pre, bool *pre_early)
{
	struct smtd_resume *rs = d->resume;
	int64_t now = pre ? smtd_now_ms() : 0;
	struct ticket *t = rs ? ticket_unlink(rs, service, address, now) : NULL;
	SSL_SESSION *s = NULL;

	*has_accept = false;
	if (pre)
		*pre = NULL;
	if (!t)
		return NULL;
	if (time(NULL) < t->expires && SSL_SESSION_is_resumable(t->sess)) {
		s = t->sess;
		t->sess = NULL;
		*accept = t->accept;
		*has_accept = t->has_accept;
		if (pre && pre_fresh(t, now, SMTD_PRE_HELLO_MS)) {
			*pre = t->pre;
			*pre_early = t->pre_early;
			t->pre = NULL;
		}
	} else {
		d->st.tickets_expired++;
	}
	ticket_free(t);
	return s;
}

/*
 * While idle: build the ClientHello of the ticket a set-up to its server
 * would take next (the newest of its (service, address)), with prepare(),
 * so that the set-up finds its key share and binder (and for 0-RTT its
 * early secrets) made. One a call; true if more may be wanted. A prepared
 * one older than SMTD_PRE_HELLO_MS is not used (its ticket age would be
 * stale) and is built again.
 */
bool smtd_ticket_prepare(struct smtd *d,
			 SSL *(*prepare)(struct smtd *, const char *,
					 SSL_SESSION *, bool))
{
	struct smtd_resume *rs = d->resume;
	int64_t now = smtd_now_ms();
	struct ticket *t, *u;

	for (t = rs ? rs->tickets : NULL; t; t = t->next) {
		const struct smtd_service *svc =
			smtd_service_find(&d->cfg, t->service);
		const struct ticket *first = NULL;
		bool ready = false;

		bool early;

		if (!svc || svc->resume == SMTD_RESUME_OFF)
			continue;
		early = svc->resume == SMTD_RESUME_0RTT && t->has_accept &&
			SSL_SESSION_get_max_early_data(t->sess) >=
				SMT_PARAMS_LEN;
		/* one per server: the newest, unless one is still fresh */
		for (u = rs->tickets; u; u = u->next) {
			if (strcmp(u->service, t->service) ||
			    strcmp(u->address, t->address))
				continue;
			if (!first)
				first = u;
			ready = ready ||
				pre_fresh(u, now, SMTD_PRE_HELLO_MS / 2);
		}
		if (ready || first != t)
			continue;
		smtd_pre_free(t->pre);
		t->pre = prepare(d, t->service, t->sess, early);
		t->pre_ms = now;
		t->pre_early = early;
		LOG_D("%s to %s: ClientHello built ahead%s", t->service,
		      t->address, t->pre ? "" : " failed");
		return t->pre != NULL;
	}
	return false;
}

void smtd_ticket_put(struct smtd *d, const char *service, const char *address,
		     SSL_SESSION *sess, const struct smt_params *accept)
{
	const struct smtd_service *svc = smtd_service_find(&d->cfg, service);
	struct smtd_resume *rs = rs_of(d);
	struct ticket *t, **p;
	int64_t exp;

	if (!sess)
		return;
	if (!rs || !d->cfg.tls_ticket_cache ||
	    (svc && svc->resume == SMTD_RESUME_OFF)) {
		SSL_SESSION_free(sess);
		return;
	}
	/* room for this one beside the newest others of that server */
	ticket_trim(rs, service, address, SMTD_TICKETS_PER_PEER - 1);
	t = calloc(1, sizeof(*t));
	if (!t) {
		SSL_SESSION_free(sess);
		return;
	}
	/* our lifetime, or the server's hint when that is shorter */
	exp = time(NULL) + d->cfg.tls_ticket_lifetime_s;
	if (SSL_SESSION_get_time(sess) + SSL_SESSION_get_timeout(sess) < exp)
		exp = SSL_SESSION_get_time(sess) +
		      SSL_SESSION_get_timeout(sess);
	snprintf(t->service, sizeof(t->service), "%s", service);
	snprintf(t->address, sizeof(t->address), "%s", address);
	t->sess = sess;
	t->expires = exp;
	if (accept) {
		t->accept = *accept;
		t->has_accept = true;
	}
	t->next = rs->tickets;
	rs->tickets = t;
	rs->ntickets++;
	d->st.tickets_cached++;
	/* over the bound: the oldest (last) goes */
	while (rs->ntickets > d->cfg.tls_ticket_cache) {
		for (p = &rs->tickets; (*p)->next; p = &(*p)->next)
			;
		ticket_free(*p);
		*p = NULL;
		rs->ntickets--;
	}
}

void smtd_ticket_forget_accept(struct smtd *d, const char *service,
			       const char *address)
{
	struct ticket *t;

	for (t = d->resume ? d->resume->tickets : NULL; t; t = t->next)
		if (!strcmp(t->service, service) &&
		    !strcmp(t->address, address))
			t->has_accept = false;
}

unsigned int smtd_tickets_held(const struct smtd *d)
{
	return d->resume ? d->resume->ntickets : 0;
}

void smtd_resume_free(struct smtd *d)
{
	struct smtd_resume *rs = d->resume;
	struct ticket *t;

	if (!rs)
		return;
	while ((t = rs->tickets)) {
		rs->tickets = t->next;
		ticket_free(t);
	}
	free(rs->record);
	free(rs);
	d->resume = NULL;
}
