// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtd's SMT-ticket set-ups (docs/protocol.md 6.3): the long-term keys a
 * server holds per service and the tickets it exports; the tickets a
 * client holds (files in [tickets] dir, checked when loaded); and the
 * HELLO / ACCEPT exchange over TCP on the handshake port, non-blocking in
 * the main loop beside tls.c's TLS handshakes.
 *
 * Client: smt_connect for a service with a ticket gets epoch 0's keys at
 * once (no round trip), the HELLO goes out, and the ACCEPT's finished is
 * checked before epoch 1 is pushed to the application like a re-key.
 * Server: a HELLO is checked (ticket, freshness, replay, PROPOSE), epoch 0
 * and then epoch 1 are pushed to the serving application, and only then
 * the ACCEPT goes back.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "libsmt.h"
#include "smtd.h"
#include "ticket.h"

/* ---- what is loaded from the configuration (replaced on SIGHUP) ---------- */

#define TKT_GOOD 8

struct tkt_key { /* server: one service's long-term key */
	char service[SMTD_NAME_MAX];
	uint8_t pub[32], id[SMT_TKT_ID_LEN];
	EVP_PKEY *pk; /* the private key, made once (smt_x25519_key) */
	/* SHA-256 of tickets whose signature verified (own_ticket) */
	uint8_t good[TKT_GOOD][32];
	unsigned int ngood, next_good;
};

struct tkt_held { /* client: one server's ticket, checked at load */
	char service[SMTD_NAME_MAX];
	uint8_t *raw;
	size_t len;
	struct smt_ticket t;
	bool refused; /* the server does not take it: use TLS */
};

struct smtd_tkt_cfg {
	struct tkt_key keys[SMTD_MAX_SERVICES];
	int nkeys;
	struct tkt_held held[SMTD_MAX_SERVICES];
	int nheld;
};

/* ---- set-ups in progress and the replay record (kept across SIGHUP) ------- */

enum tkt_state {
	TKT_CONNECT, /* client: TCP connect in progress */
	TKT_WRITE, /* writing out[] */
	TKT_READ, /* reading one message */
	TKT_WAIT_APP, /* waiting for the application's ack */
	TKT_DONE,
};

struct tkt_conn {
	struct tkt_conn *next;
	struct smtd_io io;
	bool server;
	enum tkt_state state;
	int64_t deadline;
	char peer_str[INET6_ADDRSTRLEN + 8];
	uint8_t *in; /* SMT_TKT_MSG_MAX */
	size_t in_len;
	uint8_t *out;
	size_t out_len, out_off;
	uint16_t suite;
	uint8_t es[SMT_TKT_HASH_MAX];
	struct smt_ctl_session sess; /* keys wiped when freed */
	struct smt_params prop;
	/* client */
	struct smtd_ctl_conn *conn;
	EVP_PKEY *c_key; /* the HELLO's ephemeral key, until the ACCEPT */
	size_t hello_len; /* the HELLO is out[0 .. hello_len) */
	size_t ticket_off, ticket_len; /* T inside the HELLO */
	/* server */
	struct smtd_ctl_conn *srv;
	uint8_t s1[SMT_TKT_HASH_MAX];
	int pushes; /* acks still to come: epoch 0, then epoch 1 */
	uint8_t c_share[32]; /* the HELLO's share, for accept_make */
	bool dead;
	int64_t mark[HM_COUNT]; /* smtd_mark(): the set-up's timeline */
};

#define SEEN_GEN 2
#define TKT_POOL 4
struct seen_gen { /* open addressing on the first 8 random bytes */
	uint8_t (*r)[SMT_TKT_RANDOM_LEN];
	size_t cap, n;
};

struct smtd_tkt {
	struct tkt_conn *conns;
	unsigned int nconns;
	struct seen_gen gen[SEEN_GEN]; /* [0] current, [1] previous */
	int64_t gen_start_ms;
	int64_t start_ms; /* HELLOs made earlier are refused */
	/* ephemeral X25519 key pairs made while idle, each taken once */
	EVP_PKEY *pool[TKT_POOL];
	uint8_t pool_pub[TKT_POOL][32];
	int npool;
	/* client: X25519 of a pooled pair with the share of the ticket used
	 * last, made ahead too (pool_dh_for: that share; zero: none) */
	uint8_t pool_dh[TKT_POOL][32], pool_dh_for[TKT_POOL][32];
	uint8_t last_share[32];
	/* client: the ECDSA nonces of HELLO signatures, made ahead for the
	 * host key while idle, each taken once (smt_tkt_nonce) */
	struct smt_tkt_nonce nonce[TKT_POOL];
	int nnonce;
	bool no_nonce; /* the host key is not P-256 */
};

static struct smtd_tkt *rt(struct smtd *d)
{
	if (!d->tkt) {
		d->tkt = calloc(1, sizeof(struct smtd_tkt));
		if (d->tkt)
			((struct smtd_tkt *)d->tkt)->start_ms =
				(int64_t)time(NULL) * 1000;
	}
	return d->tkt;
}

/* ---- loading ------------------------------------------------------------- */

static void cfg_free(struct smtd_tkt_cfg *k)
{
	int i;

	if (!k)
		return;
	for (i = 0; i < k->nkeys; i++)
		EVP_PKEY_free(k->keys[i].pk);
	for (i = 0; i < k->nheld; i++)
		free(k->held[i].raw);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

void smtd_tkt_cfg_free(struct smtd *d)
{
	cfg_free(d->tkt_cfg);
	d->tkt_cfg = NULL;
}

static int load_key(const struct smtd_service *s, struct tkt_key *k, char *err,
		    size_t errlen)
{
	FILE *f = fopen(s->ticket_key, "r");
	EVP_PKEY *p = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	uint8_t md[32];
	size_t n = 32;
	int r = -EINVAL;

	if (f)
		fclose(f);
	if (!p || EVP_PKEY_get_base_id(p) != EVP_PKEY_X25519 ||
	    EVP_PKEY_get_raw_public_key(p, k->pub, &n) != 1 || n != 32) {
		snprintf(err, errlen,
			 "[service %s] ticket_key = %s: not an X25519 private "
			 "key in PEM (make one with: openssl genpkey "
			 "-algorithm X25519 -out FILE)",
			 s->name, s->ticket_key);
		goto out;
	}
	/* the ticket_id names the key: servers sharing it agree on it */
	if (EVP_Digest(k->pub, 32, md, NULL, EVP_sha256(), NULL) != 1)
		goto out;
	memcpy(k->id, md, SMT_TKT_ID_LEN);
	snprintf(k->service, sizeof(k->service), "%s", s->name);
	k->pk = p;
	p = NULL;
	r = 0;
out:
	EVP_PKEY_free(p);
	ERR_clear_error();
	return r;
}

static int read_all(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "r");
	size_t cap = 4 * SMT_TKT_MAX / 3 + 4096;

	*buf = NULL;
	if (!f)
		return -errno;
	*buf = malloc(cap);
	if (!*buf) {
		fclose(f);
		return -ENOMEM;
	}
	*len = fread(*buf, 1, cap, f);
	fclose(f);
	return 0;
}

/* One ticket file; a bad one is skipped with a warning, never fatal. */
static void load_ticket(struct smtd *d, struct smtd_tkt_cfg *k,
			X509_STORE *store, const char *path)
{
	struct tkt_held *h = &k->held[k->nheld];
	const char *why = "cannot read it";
	char *text = NULL;
	size_t tl = 0;
	int i;

	if (k->nheld == SMTD_MAX_SERVICES) {
		LOG_W("tickets: %s skipped: more than %d tickets", path,
		      SMTD_MAX_SERVICES);
		return;
	}
	h->raw = malloc(SMT_TKT_MAX);
	if (!h->raw || read_all(path, &text, &tl) ||
	    smt_ticket_unarmor(text, tl, h->raw, SMT_TKT_MAX, &h->len, &why) ||
	    smt_ticket_parse(h->raw, h->len, &h->t, &why) ||
	    smt_ticket_verify(&h->t, store, time(NULL), &why)) {
		LOG_W("tickets: %s is not used: %s", path, why);
		goto drop;
	}
	for (i = 0; i < k->nheld; i++)
		if (!strcmp(k->held[i].service, h->t.service) &&
		    k->held[i].t.not_after >= h->t.not_after) {
			LOG_W("tickets: %s is not used: %s has a newer one",
			      path, h->t.service);
			goto drop;
		}
	memcpy(h->service, h->t.service, sizeof(h->service));
	for (i = 0; i < k->nheld; i++)
		if (!strcmp(k->held[i].service, h->service)) {
			free(k->held[i].raw);
			k->held[i] = *h; /* the newer one replaces it */
			memset(h, 0, sizeof(*h));
			free(text);
			return;
		}
	k->nheld++;
	LOG_I("tickets: %s: 0-RTT for %s until %llu", path, h->service,
	      (unsigned long long)h->t.not_after);
	free(text);
	(void)d;
	return;
drop:
	free(h->raw);
	memset(h, 0, sizeof(*h));
	free(text);
}

int smtd_tkt_load(struct smtd *d, char *err, size_t errlen)
{
	struct smtd_tkt_cfg *k = calloc(1, sizeof(*k));
	const struct smtd_config *c = &d->cfg;
	X509_STORE *store = NULL;
	struct dirent *e;
	DIR *dir;
	int i;

	if (!k) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < c->nservices; i++) {
		if (!c->services[i].ticket_key[0])
			continue;
		if (load_key(&c->services[i], &k->keys[k->nkeys], err,
			     errlen)) {
			cfg_free(k);
			return -EINVAL;
		}
		k->nkeys++;
	}
	if (c->ticket_dir[0]) {
		store = X509_STORE_new();
		if (!store || X509_STORE_load_file(store, c->ca) != 1) {
			snprintf(err, errlen, "cannot load CA bundle %s",
				 c->ca);
			X509_STORE_free(store);
			cfg_free(k);
			return -EINVAL;
		}
		dir = opendir(c->ticket_dir);
		while (dir && (e = readdir(dir))) {
			size_t n = strlen(e->d_name);
			char path[600];

			if (n < 8 || strcmp(e->d_name + n - 7, ".ticket"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", c->ticket_dir,
				 e->d_name);
			load_ticket(d, k, store, path);
		}
		if (dir)
			closedir(dir);
		X509_STORE_free(store);
	}
	ERR_clear_error();
	cfg_free(d->tkt_cfg);
	d->tkt_cfg = k;
	return 0;
}

static struct tkt_key *key_for(struct smtd *d, const char *service)
{
	struct smtd_tkt_cfg *k = d->tkt_cfg;
	int i;

	for (i = 0; k && i < k->nkeys; i++)
		if (!strcmp(k->keys[i].service, service))
			return &k->keys[i];
	return NULL;
}

/* ---- export ---------------------------------------------------------------- */

static uint16_t first_suite(const char *list)
{
	if (!strncmp(list, "TLS_AES_256_GCM_SHA384", 22))
		return 0x1302;
	if (!strncmp(list, "TLS_CHACHA20_POLY1305_SHA256", 28))
		return 0x1303;
	return 0x1301;
}

int smtd_tkt_export(struct smtd *d, const char *service, char *out, size_t cap,
		    char *err, size_t errlen)
{
	const struct tkt_key *k = key_for(d, service);
	STACK_OF(X509) *chain = NULL, *extra = NULL;
	struct smt_ticket t = {0};
	uint8_t *raw = NULL;
	const char *why = "out of memory";
	EVP_PKEY *pk;
	X509 *leaf;
	size_t len;
	uint16_t port = 0;
	int r = -EINVAL, i;

	if (!k) {
		snprintf(err, errlen,
			 "service %s has no ticket_key in its [service] "
			 "section of %s, so this host issues no SMT-tickets "
			 "for it",
			 service, d->cfg.path);
		return -ENOENT;
	}
	if (smtd_ctl_server_for(d, service, SMT_ENCAP_UDP, &port))
		t.ipproto = SMT_IPPROTO_UDP;
	else if (smtd_ctl_server_for(d, service, SMT_ENCAP_IP, &port))
		t.ipproto = d->cfg.ipproto;
	else {
		snprintf(err, errlen,
			 "no application serves %s now; start it first (a "
			 "ticket carries the service's SMT port)",
			 service);
		return -ENOENT;
	}
	pk = SSL_CTX_get0_privatekey(d->srv_ctx);
	leaf = SSL_CTX_get0_certificate(d->srv_ctx);
	chain = sk_X509_new_null();
	raw = malloc(SMT_TKT_MAX);
	if (!pk || !leaf || !chain || !raw || !sk_X509_push(chain, leaf))
		goto out;
	SSL_CTX_get0_chain_certs(d->srv_ctx, &extra);
	for (i = 0; i < sk_X509_num(extra); i++)
		sk_X509_push(chain, sk_X509_value(extra, i));
	t.flags = d->cfg.client_auth == SMTD_CAUTH_REQUIRE
			  ? SMT_TKT_F_CLIENT_CERT
			  : 0;
	t.suite = first_suite(d->cfg.ciphersuites);
	t.not_before = time(NULL);
	t.not_after = t.not_before + d->cfg.ticket_lifetime_s;
	memcpy(t.id, k->id, sizeof(t.id));
	t.hs_port = d->cfg.listen_port;
	t.smt_port = port;
	snprintf(t.service, sizeof(t.service), "%s", service);
	memcpy(t.share, k->pub, sizeof(t.share));
	if (smt_ticket_build(&t, pk, chain, raw, SMT_TKT_MAX, &len, &why))
		goto out;
	r = smt_ticket_armor(raw, len, out, cap);
	if (r < 0)
		why = "no room for the ticket";
out:
	if (r < 0)
		snprintf(err, errlen, "cannot make a ticket for %s: %s",
			 service, why);
	sk_X509_free(chain); /* the certificates belong to the context */
	free(raw);
	ERR_clear_error();
	return r < 0 ? r : 0;
}

/* ---- the replay record ------------------------------------------------------- */

static uint64_t seen_hash(const uint8_t *r)
{
	uint64_t h;

	memcpy(&h, r, sizeof(h)); /* random bytes: already uniform */
	return h;
}

static bool gen_has(const struct seen_gen *g, const uint8_t *r)
{
	size_t i;

	if (!g->cap)
		return false;
	for (i = seen_hash(r) % g->cap;; i = (i + 1) % g->cap) {
		static const uint8_t zero[SMT_TKT_RANDOM_LEN];

		if (!memcmp(g->r[i], zero, sizeof(zero)))
			return false;
		if (!memcmp(g->r[i], r, SMT_TKT_RANDOM_LEN))
			return true;
	}
}

/* Remember r: 0, or -ENOSPC when the current generation is full. */
static int gen_add(struct seen_gen *g, size_t max, const uint8_t *r)
{
	static const uint8_t zero[SMT_TKT_RANDOM_LEN];
	size_t i;

	if (!g->cap) {
		g->cap = 2 * max; /* at most half full: probes stay short */
		g->r = calloc(g->cap, SMT_TKT_RANDOM_LEN);
		if (!g->r) {
			g->cap = 0;
			return -ENOMEM;
		}
	}
	if (g->n >= max)
		return -ENOSPC;
	for (i = seen_hash(r) % g->cap; memcmp(g->r[i], zero, sizeof(zero));
	     i = (i + 1) % g->cap)
		;
	memcpy(g->r[i], r, SMT_TKT_RANDOM_LEN);
	g->n++;
	return 0;
}

/*
 * The freshness and replay rules of section 6.3: 0, or a reason. Each
 * generation covers W; the previous one is kept, so a random is known for
 * at least W after it was seen, and a HELLO older than W is refused.
 */
static const char *fresh(struct smtd *d, const struct smt_tkt_hello *h)
{
	struct smtd_tkt *t = rt(d);
	int64_t now = (int64_t)time(NULL) * 1000;
	int64_t w = (int64_t)d->cfg.ticket_window_s * 1000;
	int64_t ct = (int64_t)h->time_ms;

	if (!t)
		return "out of memory";
	if (ct < now - w || ct > now + w)
		return "HELLO is not fresh (client clock more than the replay "
		       "window away)";
	if (ct < t->start_ms)
		return "HELLO is older than this smtd";
	if (now - t->gen_start_ms >= w) {
		free(t->gen[1].r);
		t->gen[1] = t->gen[0];
		memset(&t->gen[0], 0, sizeof(t->gen[0]));
		t->gen_start_ms = now;
	}
	if (gen_has(&t->gen[0], h->random) || gen_has(&t->gen[1], h->random))
		return "HELLO replayed (its client_random was seen)";
	if (gen_add(&t->gen[0], d->cfg.ticket_replay_max, h->random))
		return "replay record is full; try a full handshake";
	return NULL;
}

/* ---- connections ---------------------------------------------------------- */

static void conn_free(struct smtd *d, struct tkt_conn *k)
{
	struct smtd_tkt *t = d->tkt;
	struct tkt_conn **p;

	for (p = &t->conns; *p; p = &(*p)->next)
		if (*p == k) {
			*p = k->next;
			t->nconns--;
			break;
		}
	smtd_ctl_push_cancel(d, k);
	if (k->mark[HM_DONE])
		smtd_timeline_log(k->mark, k->server, k->peer_str,
				  k->sess.service);
	if (k->io.fd >= 0) {
		smtd_io_del(d, &k->io);
		close(k->io.fd);
	}
	OPENSSL_cleanse(&k->sess.keys, sizeof(k->sess.keys));
	OPENSSL_cleanse(k->es, sizeof(k->es));
	OPENSSL_cleanse(k->s1, sizeof(k->s1));
	EVP_PKEY_free(k->c_key); /* wipes it */
	free(k->in);
	free(k->out);
	free(k);
}

static void conn_event(struct smtd *d, void *obj, uint32_t events);
static void app_done(struct smtd *d, void *arg, bool ok, const char *msg);

static struct tkt_conn *conn_new(struct smtd *d, int fd, bool server)
{
	struct smtd_tkt *t = rt(d);
	struct tkt_conn *k = t ? calloc(1, sizeof(*k)) : NULL;

	if (!k)
		return NULL;
	k->in = malloc(SMT_TKT_MSG_MAX);
	k->out = malloc(SMT_TKT_MSG_MAX);
	if (!k->in || !k->out) {
		free(k->in);
		free(k->out);
		free(k);
		return NULL;
	}
	k->io.fd = fd;
	k->io.cb = conn_event;
	k->io.obj = k;
	k->server = server;
	k->deadline = smtd_now_ms() + 1000 * d->cfg.handshake_timeout_s;
	k->next = t->conns;
	t->conns = k;
	t->nconns++;
	return k;
}

static void fail(struct smtd *d, struct tkt_conn *k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct smtd *d, struct tkt_conn *k, const char *fmt, ...)
{
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	d->st.tickets_failed++;
	LOG_W("SMT-ticket set-up %s %s: %s", k->server ? "from" : "to",
	      k->peer_str, why);
	if (!k->server && k->sess.sid) {
		struct smtd_session *s = smtd_table_find(d, k->sess.sid);

		/* the application holds epoch 0 of a session that will
		 * never be confirmed: take it back */
		if (s)
			smtd_table_remove(d, s, true, false, why);
	}
	k->dead = true;
}

/* Server: a REFUSE (section 6.1's message after the 8-byte header). */
static void refuse(struct smtd *d, struct tkt_conn *k, uint16_t code,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void refuse(struct smtd *d, struct tkt_conn *k, uint16_t code,
		   const char *fmt, ...)
{
	struct smt_params r = {.type = SMT_PARAMS_REFUSE, .code = code};
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(r.reason, sizeof(r.reason), fmt, ap);
	va_end(ap);
	d->st.tickets_refused++;
	LOG_W("refused SMT-ticket set-up from %s: %s", k->peer_str, r.reason);
	n = smt_params_encode(&r, k->out + SMT_TKT_HDR_LEN);
	smt_tkt_put_hdr(k->out, SMT_TKT_REFUSE, SMT_TKT_HDR_LEN + n);
	k->out_len = SMT_TKT_HDR_LEN + n;
	k->out_off = 0;
	k->state = TKT_WRITE;
	smtd_io_mod(d, &k->io, EPOLLOUT);
}

static enum smt_cipher suite_cipher(uint16_t suite)
{
	return suite == 0x1302	 ? SMT_CIPHER_AES_256_GCM
	       : suite == 0x1303 ? SMT_CIPHER_CHACHA20_POLY1305
				 : SMT_CIPHER_AES_128_GCM;
}

static int keys_from(uint16_t suite, const uint8_t *secret,
		     struct smt_keys *keys)
{
	size_t hl;

	smt_tkt_md(suite, &hl);
	return smt_keys_derive(suite_cipher(suite), secret, hl, keys);
}

static void hexs(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* SHA-256 hex of a chain's leaf (its first certificate) */
static void leaf_id(const uint8_t *chain, size_t len, char *out)
{
	uint8_t md[32];
	size_t n = (size_t)chain[0] << 16 | chain[1] << 8 | chain[2];

	out[0] = 0;
	if (len >= 3 + n &&
	    EVP_Digest(chain + 3, n, md, NULL, EVP_sha256(), NULL) == 1)
		hexs(md, 32, out);
}

/*
 * An ephemeral X25519 key pair for one set-up (the HELLO's or the ACCEPT's
 * share): one made while smtd was idle (smtd_tkt_idle), taken out of the
 * pool so that no other set-up gets it, or a new one when the pool is
 * empty. NULL when none can be made. For a client, also the X25519 of the
 * pair with share (*have), when it was made ahead for that very share
 * (the ticket of the previous set-up); whatever was made ahead goes with
 * the pair, wiped.
 */
static EVP_PKEY *eph_take_dh(struct smtd *d, uint8_t pub[32],
			     const uint8_t *share, uint8_t dh[32], bool *have)
{
	struct smtd_tkt *t = rt(d);
	EVP_PKEY *k;
	int i;

	if (have)
		*have = false;
	if (t && t->npool > 0) {
		i = --t->npool;
		k = t->pool[i];
		t->pool[i] = NULL;
		memcpy(pub, t->pool_pub[i], 32);
		if (share && have &&
		    !CRYPTO_memcmp(t->pool_dh_for[i], share, 32)) {
			memcpy(dh, t->pool_dh[i], 32);
			*have = true;
		}
		OPENSSL_cleanse(t->pool_dh[i], 32);
		memset(t->pool_dh_for[i], 0, 32);
		d->st.x25519_pooled++;
		return k;
	}
	d->st.x25519_made++;
	return smt_x25519_gen(pub);
}

static EVP_PKEY *eph_take(struct smtd *d, uint8_t pub[32])
{
	return eph_take_dh(d, pub, NULL, NULL, NULL);
}

/*
 * The nonce for a HELLO's signature by key, into *n: one made while idle,
 * taken out of the pool, or none (n zeroed: the signature makes its own).
 * Nonces made for another key (the host key was reloaded) are wiped.
 */
static void nonce_take(struct smtd *d, EVP_PKEY *key, struct smt_tkt_nonce *n)
{
	struct smtd_tkt *t = rt(d);

	memset(n, 0, sizeof(*n));
	while (t && t->nnonce > 0) {
		*n = t->nonce[--t->nnonce];
		memset(&t->nonce[t->nnonce], 0, sizeof(*n));
		if (n->key == key) {
			d->st.sig_nonce_pooled++;
			return;
		}
		smt_tkt_nonce_wipe(n);
	}
	d->st.sig_nonce_made++;
}

/* A client that holds a ticket asking for a client certificate signs its
 * HELLOs: one more nonce for its host key, if it is P-256. */
static bool nonce_fill(struct smtd *d, struct smtd_tkt *t)
{
	const struct smtd_tkt_cfg *c = d->tkt_cfg;
	EVP_PKEY *key = d->cli_ctx ? SSL_CTX_get0_privatekey(d->cli_ctx) : NULL;
	bool signs = false;
	int i, r;

	for (i = 0; c && i < c->nheld && !signs; i++)
		signs = c->held[i].t.flags & SMT_TKT_F_CLIENT_CERT;
	if (!signs || !key || t->no_nonce || t->nnonce >= TKT_POOL)
		return false;
	r = smt_tkt_nonce_make(key, &t->nonce[t->nnonce]);
	if (r) {
		t->no_nonce = r == -EOPNOTSUPP; /* RSA, Ed25519: as before */
		return false;
	}
	return ++t->nnonce < TKT_POOL;
}

/* The pool is kept only where set-ups with tickets can happen, and filled
 * between their steps: not while a server's set-up is under way (its
 * steps and the serving application's answer to the held request, often
 * on the same CPU, would wait behind it), nor while a client's HELLO is
 * not out yet; a client waiting for its ACCEPT (epoch 1, off the first
 * request's path) is idle. */
static bool pool_wanted(struct smtd *d)
{
	const struct smtd_tkt_cfg *c = d->tkt_cfg;
	const struct smtd_tkt *t = d->tkt;
	const struct tkt_conn *k;

	if (!c || (!c->nkeys && !c->nheld))
		return false;
	for (k = t ? t->conns : NULL; k; k = k->next)
		if (!k->dead && k->state != TKT_DONE &&
		    (k->server || k->state != TKT_READ))
			return false;
	return true;
}

bool smtd_tkt_idle(struct smtd *d)
{
	static const uint8_t zero[32];
	struct smtd_tkt *t;
	int i;

	if (!pool_wanted(d) || !(t = rt(d)))
		return false;
	if (t->npool >= TKT_POOL) /* the pairs first, then the nonces */
		return nonce_fill(d, t);
	i = t->npool;
	t->pool[i] = smt_x25519_gen(t->pool_pub[i]);
	if (!t->pool[i])
		return false;
	/* a client's next HELLO: its X25519 with the last ticket's share */
	if (CRYPTO_memcmp(t->last_share, zero, 32) &&
	    !smt_x25519_derive(t->pool[i], t->last_share, t->pool_dh[i]))
		memcpy(t->pool_dh_for[i], t->last_share, 32);
	t->npool++;
	return true; /* more pairs or the nonces */
}

/* ---- server ----------------------------------------------------------------- */

/*
 * The ticket's signature, by this host's certificate: a server sees the
 * few tickets it exported again and again, so the SHA-256 of a ticket
 * whose signature verified (all its bytes: the signed part, which holds
 * the certificate that own_ticket compared with this host's, and the
 * signature) is remembered with its key, TKT_GOOD of them, and the same
 * bytes are not verified again. A reload (SIGHUP) makes new keys with
 * nothing remembered; failures are not remembered.
 */
static bool ticket_sig_ok(struct tkt_key *key, const struct smt_ticket *t,
			  X509 *leaf)
{
	uint8_t id[32], md[32];
	unsigned int i;

	if (EVP_Digest(t->raw, t->raw_len, id, NULL, EVP_sha256(), NULL) != 1)
		return false;
	for (i = 0; i < key->ngood; i++)
		if (!CRYPTO_memcmp(key->good[i], id, sizeof(id)))
			return true;
	if (EVP_Digest(t->raw, t->signed_len, md, NULL, EVP_sha256(), NULL) !=
		    1 ||
	    !smt_tkt_sig_ok(X509_get0_pubkey(leaf), "server", md, sizeof(md),
			    t->sig_scheme, t->sig, t->sig_len))
		return false;
	memcpy(key->good[key->next_good], id, sizeof(id));
	key->next_good = (key->next_good + 1) % TKT_GOOD;
	if (key->ngood < TKT_GOOD)
		key->ngood++;
	return true;
}

/* Is t one this host issued: its own certificate, signature, times, key? */
static const char *own_ticket(struct smtd *d, const struct smt_ticket *t,
			      struct tkt_key **key)
{
	X509 *leaf = SSL_CTX_get0_certificate(d->srv_ctx);
	unsigned char *der = NULL;
	int64_t now = time(NULL);
	size_t n = (size_t)t->chain[0] << 16 | t->chain[1] << 8 | t->chain[2];
	int dl = leaf ? i2d_X509(leaf, &der) : -1;
	bool same = dl > 0 && (size_t)dl == n && !memcmp(der, t->chain + 3, n);

	OPENSSL_free(der);
	*key = key_for(d, t->service);
	if (!*key || memcmp((*key)->id, t->id, SMT_TKT_ID_LEN) ||
	    memcmp((*key)->pub, t->share, SMT_TKT_SHARE_LEN))
		return "ticket names no long-term key this host holds";
	if (!same)
		return "ticket carries another certificate than this host's";
	if ((uint64_t)now >= t->not_after ||
	    (uint64_t)now + SMT_TKT_SKEW_S < t->not_before)
		return "ticket has expired";
	if (!ticket_sig_ok(*key, t, leaf))
		return "ticket signature does not verify";
	return NULL;
}

/* The client's chain and signature, when sent (or required). */
static const char *client_auth(struct smtd *d, struct tkt_conn *k,
			       const struct smt_tkt_hello *h)
{
	uint8_t th[SMT_TKT_HASH_MAX];
	const char *why = NULL;
	X509 *leaf;
	size_t hl;
	const char *md = smt_tkt_md(k->suite, &hl);
	bool ok;

	if (!h->chain_len)
		return d->cfg.client_auth == SMTD_CAUTH_REQUIRE
			       ? "this host requires a client certificate"
			       : NULL;
	leaf = smtd_vcache_der(d->srv_ctx, h->chain, h->chain_len,
			       X509_PURPOSE_SSL_CLIENT, &why);
	if (!leaf)
		return why;
	ok = EVP_Digest(k->in + SMT_TKT_HDR_LEN,
			h->signed_len - SMT_TKT_HDR_LEN, th, NULL,
			EVP_get_digestbyname(md), NULL) == 1 &&
	     smt_tkt_sig_ok(X509_get0_pubkey(leaf), "client", th, hl,
			    h->sig_scheme, h->sig, h->sig_len);
	X509_free(leaf);
	if (!ok)
		return "client signature does not verify";
	leaf_id(h->chain, h->chain_len, k->sess.peer_cert);
	return NULL;
}

static void on_hello(struct smtd *d, struct tkt_conn *k, size_t len)
{
	const struct smtd_config *c = &d->cfg;
	struct tkt_key *key;
	struct smt_tkt_hello h;
	struct smt_ticket t;
	struct smt_params p, a;
	struct smtd_ctl_conn *srv;
	uint8_t dh[32], s0[SMT_TKT_HASH_MAX];
	const char *why = NULL;
	char reason[200];
	size_t used;
	int r;

	smtd_mark(k->mark, HM_HELLO);
	if (smt_tkt_hello_parse(k->in, len, &h, &why) ||
	    smt_ticket_parse(h.ticket, h.ticket_len, &t, &why)) {
		refuse(d, k, SMT_PREFUSE_VERSION, "bad HELLO: %s", why);
		return;
	}
	k->suite = t.suite;
	why = own_ticket(d, &t, &key);
	if (why) {
		refuse(d, k, SMT_TKT_REFUSE_TICKET, "%s", why);
		return;
	}
	why = client_auth(d, k, &h);
	if (why) {
		refuse(d, k, SMT_PREFUSE_PARAMS, "%s", why);
		return;
	}
	if (smt_params_decode(h.propose, sizeof(h.propose), &p, &used, &why) ||
	    p.type != SMT_PARAMS_PROPOSE || p.flags || p.epoch ||
	    p.server_port != t.smt_port) {
		refuse(d, k, SMT_PREFUSE_PARAMS,
		       "the HELLO's PROPOSE is not one for a new session on "
		       "the ticket's port");
		return;
	}
	snprintf(k->sess.service, sizeof(k->sess.service), "%s", t.service);
	r = smtd_propose_check(d, t.service, &p, false, &a, &srv, reason,
			       sizeof(reason));
	if (r) {
		refuse(d, k, r, "%s", reason);
		return;
	}
	if (a.server_port != p.server_port) {
		refuse(d, k, SMT_PREFUSE_SERVICE,
		       "service %s is not served on SMT port %u here now",
		       t.service, p.server_port);
		return;
	}
	/* the client already uses its proposal: take it whole, or refuse */
	if (a.max_msg != p.max_msg || a.max_pad != p.max_pad) {
		refuse(d, k, SMT_PREFUSE_PARAMS,
		       "B=%u M=%u P=%u are not within this host's limits "
		       "(M <= %u, P <= %u)",
		       p.B, p.max_msg, p.max_pad, c->max_msg, c->max_pad);
		return;
	}
	why = fresh(d, &h);
	if (why) {
		refuse(d, k, SMT_TKT_REFUSE_REPLAY, "%s", why);
		return;
	}
	/* keys: ES and epoch 0; the ACCEPT's (epoch 1) after the push */
	if (smt_x25519_derive(key->pk, h.share, dh) ||
	    smt_tkt_early(t.suite, dh, h.ticket, h.ticket_len, k->in, len,
			  k->es, s0)) {
		refuse(d, k, SMT_PREFUSE_PARAMS, "key agreement failed");
		goto wipe;
	}
	if (keys_from(t.suite, s0, &k->sess.keys)) {
		refuse(d, k, SMT_PREFUSE_PARAMS, "key derivation failed");
		goto wipe;
	}
	smtd_mark(k->mark, HM_CHECKED);
	k->prop = a;
	smtd_session_fill(&k->sess, k->io.fd, true, &a); /* epoch 0 */
	if (p.hs_port) /* where to send a CLOSE later */
		smtd_addr_port_str(&k->sess.peer, p.hs_port, k->sess.handshake,
				   sizeof(k->sess.handshake));
	r = smtd_session_admit(d, srv, &k->sess, reason, sizeof(reason));
	if (r) {
		refuse(d, k, r, "%s", reason);
		goto wipe;
	}
	if (smtd_ctl_push_session(d, srv, app_done, k, &k->sess)) {
		smtd_bpf_session(d, &k->sess, false, -1);
		refuse(d, k, SMT_PREFUSE_APP,
		       "cannot hand the session to the application");
		goto wipe;
	}
	smtd_mark(k->mark, HM_PUSH);
	k->srv = srv;
	k->pushes = 2;
	k->state = TKT_WAIT_APP;
	/* what accept_make needs once epoch 0 is taken */
	memcpy(k->c_share, h.share, sizeof(k->c_share));
	k->hello_len = len;
	k->ticket_off = (size_t)(h.ticket - k->in);
	k->ticket_len = h.ticket_len;
	smtd_io_mod(d, &k->io, 0);
wipe:
	OPENSSL_cleanse(dh, sizeof(dh));
	OPENSSL_cleanse(s0, sizeof(s0));
}

/*
 * The server's ACCEPT (its ephemeral share, the agreed parameters, the
 * finished), epoch 1's secret and the session's tag: made when the
 * application has taken epoch 0, not before the push. The first request,
 * held by the serving application, waits for that push only; and the
 * application, on the CPU smtd shares with it, runs once smtd goes back
 * to its loop, so work done after the push but before that (the second
 * X25519, ~50 us, and the HKDFs) delayed it all the same. The ack comes
 * in when the application sleeps again, most often after it answered
 * the held request. 0 or -1.
 */
static int accept_make(struct smtd *d, struct tkt_conn *k)
{
	uint8_t dh[32], s_pub[32], fin[SMT_TKT_HASH_MAX], tag[8];
	size_t hl, sh = SMT_TKT_HDR_LEN + 32 + SMT_PARAMS_LEN;
	EVP_PKEY *eph = eph_take(d, s_pub);
	int r = -1;

	smt_tkt_md(k->suite, &hl);
	if (!eph || smt_x25519_derive(eph, k->c_share, dh))
		goto out;
	smt_tkt_put_hdr(k->out, SMT_TKT_ACCEPT, sh + hl);
	memcpy(k->out + SMT_TKT_HDR_LEN, s_pub, 32);
	smt_params_encode(&k->prop, k->out + SMT_TKT_HDR_LEN + 32);
	if (smt_tkt_fs(k->suite, k->es, dh, k->in + k->ticket_off,
		       k->ticket_len, k->in, k->hello_len, k->out, sh, k->s1,
		       fin, tag))
		goto out;
	memcpy(k->out + sh, fin, hl);
	k->out_len = sh + hl;
	k->out_off = 0;
	hexs(tag, 8, k->sess.tag);
	r = 0;
out:
	OPENSSL_cleanse(dh, sizeof(dh));
	OPENSSL_cleanse(fin, sizeof(fin));
	OPENSSL_cleanse(tag, sizeof(tag));
	EVP_PKEY_free(eph); /* wipes it */
	return r;
}

/* ---- client ------------------------------------------------------------------ */

static const struct tkt_held *held_for(struct smtd *d, const char *service)
{
	struct smtd_tkt_cfg *k = d->tkt_cfg;
	int64_t now = time(NULL);
	int i;

	for (i = 0; k && i < k->nheld; i++)
		if (!strcmp(k->held[i].service, service) &&
		    !k->held[i].refused &&
		    (uint64_t)now < k->held[i].t.not_after)
			return &k->held[i];
	return NULL;
}

/* The server does not take service's ticket (rotated key, expired, 0-RTT
 * off): later set-ups use TLS until the tickets are loaded again. */
static void forget_ticket(struct smtd *d, const char *service)
{
	struct smtd_tkt_cfg *k = d->tkt_cfg;
	int i;

	for (i = 0; k && i < k->nheld; i++)
		if (!strcmp(k->held[i].service, service)) {
			k->held[i].refused = true;
			LOG_W("tickets: the server refused the %s ticket; "
			      "set-ups use TLS until a new one is loaded",
			      service);
		}
}

static void on_accept(struct smtd *d, struct tkt_conn *k, size_t len)
{
	const uint8_t *m = k->in;
	const uint8_t *hello = k->out;
	uint8_t dh[32], fin[SMT_TKT_HASH_MAX], tag[8];
	struct smt_params a;
	const char *why = "";
	size_t used, hl, sh = SMT_TKT_HDR_LEN + 32 + SMT_PARAMS_LEN;
	const struct smt_params *p = &k->prop;
	char tags[17];

	smtd_mark(k->mark, HM_RECV);
	smtd_tfo_count(d, k->io.fd);
	smt_tkt_md(k->suite, &hl);
	if (m[5] == SMT_TKT_REFUSE) {
		if (smt_params_decode(m + SMT_TKT_HDR_LEN,
				      len - SMT_TKT_HDR_LEN, &a, &used, &why) ||
		    a.type != SMT_PARAMS_REFUSE)
			fail(d, k, "peer smtd refused with a malformed REFUSE");
		else
			fail(d, k, "peer smtd refused: %s (code %u)", a.reason,
			     a.code);
		if (a.code == SMT_TKT_REFUSE_TICKET ||
		    a.code == SMT_TKT_REFUSE_OFF)
			forget_ticket(d, k->sess.service);
		return;
	}
	if (m[5] != SMT_TKT_ACCEPT || len != sh + hl ||
	    smt_params_decode(m + SMT_TKT_HDR_LEN + 32, SMT_PARAMS_LEN, &a,
			      &used, &why) ||
	    a.type != SMT_PARAMS_ACCEPT || a.client_port != p->client_port ||
	    a.server_port != p->server_port || a.B != p->B || a.epoch ||
	    a.ipproto != p->ipproto || a.flags || a.max_msg != p->max_msg ||
	    a.max_pad != p->max_pad || a.lifetime_s > p->lifetime_s) {
		fail(d, k,
		     "peer smtd answered an ACCEPT that does not match "
		     "the HELLO");
		return;
	}
	if (smt_x25519_derive(k->c_key, m + SMT_TKT_HDR_LEN, dh) ||
	    smt_tkt_fs(k->suite, k->es, dh, hello + k->ticket_off,
		       k->ticket_len, hello, k->hello_len, m, sh, k->s1, fin,
		       tag)) {
		OPENSSL_cleanse(dh, sizeof(dh));
		fail(d, k, "key agreement failed");
		return;
	}
	OPENSSL_cleanse(dh, sizeof(dh));
	EVP_PKEY_free(k->c_key); /* wipes it */
	k->c_key = NULL;
	if (CRYPTO_memcmp(fin, m + sh, hl)) {
		d->st.tickets_bad_finished++;
		fail(d, k,
		     "ACCEPT's finished does not verify: the peer does "
		     "not hold the ticket's long-term key");
		return;
	}
	hexs(tag, 8, tags);
	snprintf(k->sess.tag, sizeof(k->sess.tag), "%s", tags);
	if (!smtd_early_tag(d, &k->sess)) {
		k->state = TKT_DONE; /* gone, and now told */
		return;
	}
	/* epoch 1, forward secret, to the application like a re-key */
	k->sess.epoch = 1;
	k->sess.lifetime_s = a.lifetime_s;
	k->sess.created = time(NULL);
	if (keys_from(k->suite, k->s1, &k->sess.keys) ||
	    smtd_ctl_push_rekey(d, app_done, k, &k->sess)) {
		fail(d, k,
		     "session %u: cannot hand epoch 1 to its "
		     "application",
		     k->sess.sid);
		return;
	}
	k->state = TKT_WAIT_APP;
	smtd_io_mod(d, &k->io, 0);
}

/*
 * The client's chain and signature after the HELLO's first *off bytes
 * (section 6.3): the host certificate of the TLS client context. The
 * header is written first, as the signature covers it.
 */
static int sign_hello(struct smtd *d, uint16_t suite, uint8_t *b, size_t *off,
		      char *err, size_t errlen)
{
	STACK_OF(X509) *chain = sk_X509_new_null(), *extra = NULL;
	EVP_PKEY *pk = SSL_CTX_get0_privatekey(d->cli_ctx);
	X509 *leaf = SSL_CTX_get0_certificate(d->cli_ctx);
	uint8_t th[SMT_TKT_HASH_MAX];
	struct smt_tkt_nonce nonce;
	size_t cl, hl, sl;
	uint16_t scheme;
	const char *md = smt_tkt_md(suite, &hl);
	int i, r = -EIO;

	if (!chain || !pk || !leaf || !md || !sk_X509_push(chain, leaf))
		goto out;
	SSL_CTX_get0_chain_certs(d->cli_ctx, &extra);
	for (i = 0; i < sk_X509_num(extra); i++)
		sk_X509_push(chain, sk_X509_value(extra, i));
	if (smt_tkt_put_chain(chain, b + *off, SMT_TKT_CHAIN_MAX + 3, &cl))
		goto out;
	*off += 3 + cl;
	/* from after the header, whose length counts the signature */
	r = -ENOSPC;
	if (EVP_Digest(b + SMT_TKT_HDR_LEN, *off - SMT_TKT_HDR_LEN, th, NULL,
		       EVP_get_digestbyname(md), NULL) != 1)
		goto out;
	nonce_take(d, pk, &nonce);
	r = smt_tkt_sign_pre(pk, "client", th, hl, &nonce, &scheme,
			     b + *off + 4, &sl);
	if (r)
		goto out;
	smt_put_be16(b + *off, scheme);
	smt_put_be16(b + *off + 2, sl);
	*off += 4 + sl;
out:
	if (r)
		snprintf(err, errlen,
			 "cannot sign the SMT-ticket HELLO with the host key "
			 "(the server asks for a client certificate)");
	sk_X509_free(chain);
	ERR_clear_error();
	return r;
}

/* A non-blocking connect that has finished, without error, by now. */
static bool tcp_up(int fd)
{
	struct pollfd pf = {.fd = fd, .events = POLLOUT};
	socklen_t sl = sizeof(int);
	int soerr = 0;

	return poll(&pf, 1, 0) == 1 && pf.revents == POLLOUT &&
	       !getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) && !soerr;
}

/*
 * smt_connect for a service this smtd holds a ticket of: epoch 0 to the
 * application now, the HELLO on its way. 1 when there is no usable ticket
 * (the caller runs a TLS handshake), 0 when started or answered, -errno
 * (nothing started, err says why).
 */
int smtd_tkt_connect(struct smtd *d, struct smtd_ctl_conn *c, int64_t req_id,
		     const char *service, const char *address,
		     uint16_t local_port, uint8_t ipproto, char *err,
		     size_t errlen)
{
	const struct tkt_held *t = held_for(d, service);
	uint8_t dh[32], pub[32], s0[SMT_TKT_HASH_MAX], *b;
	struct sockaddr_storage dst;
	struct tkt_conn *k;
	struct smt_params p;
	socklen_t dstlen;
	bool have_dh = false;
	size_t off;
	int fd, r;

	if (!t || t->t.ipproto != ipproto)
		return 1;
	/* tls.c says what is wrong with a bad address */
	if (smtd_address_parse(address, t->t.hs_port, &dst, &dstlen, err,
			       errlen) ||
	    smt_ctl_port(&dst) != t->t.hs_port) {
		*err = 0;
		return 1; /* or another smtd than the ticket's */
	}
	/* no TCP Fast Open: a HELLO with the client's certificate is longer
	 * than a SYN carries, and its rest waited for the SYN-ACK and an
	 * EPOLLOUT round (+130 us to the first RPC, docs/smtd.md) */
	fd = smtd_connect_socket(dst.ss_family, false, err, errlen);
	if (fd < 0)
		return fd;
	r = connect(fd, (struct sockaddr *)&dst, dstlen);
	if (r && errno != EINPROGRESS) {
		close(fd);
		return 1; /* let the TLS path fail with its message */
	}
	k = conn_new(d, fd, false);
	if (!k) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	smtd_mark(k->mark, HM_START); /* after socket() and connect() */
	if (!r)
		smtd_mark(k->mark, HM_TCP);
	snprintf(k->peer_str, sizeof(k->peer_str), "%s", address);
	k->conn = c;
	k->suite = t->t.suite;
	p = (struct smt_params){
		.type = SMT_PARAMS_PROPOSE,
		.client_port = local_port,
		.server_port = t->t.smt_port,
		.B = d->cfg.B,
		.ipproto = ipproto,
		.max_msg = d->cfg.max_msg,
		.max_pad = d->cfg.max_pad,
		.lifetime_s = d->cfg.lifetime_s,
		.hs_port = d->cfg.listen_port,
	};
	k->prop = p;
	/* the HELLO */
	b = k->out;
	if (RAND_bytes(b + 8, SMT_TKT_RANDOM_LEN) != 1 ||
	    !(k->c_key = eph_take_dh(d, pub, t->t.share, dh, &have_dh)))
		goto fail;
	if (rt(d))
		memcpy(rt(d)->last_share, t->t.share, 32);
	smt_put_be64(b + 40, (uint64_t)time(NULL) * 1000);
	memcpy(b + 48, pub, 32);
	smt_params_encode(&p, b + SMT_TKT_PROPOSE_OFF);
	smt_put_be24(b + SMT_TKT_TICKET_OFF, t->len);
	k->ticket_off = SMT_TKT_TICKET_OFF + 3;
	k->ticket_len = t->len;
	memcpy(b + k->ticket_off, t->raw, t->len);
	off = k->ticket_off + t->len;
	if (t->t.flags & SMT_TKT_F_CLIENT_CERT) {
		if (sign_hello(d, k->suite, b, &off, err, errlen))
			goto fail_err;
	} else {
		smt_put_be24(b + off, 0); /* no client certificate */
		off += 3;
	}
	smt_tkt_put_hdr(b, SMT_TKT_HELLO, off);
	k->hello_len = off;
	k->out_len = off;
	/* The HELLO leaves before the application is answered when the
	 * connection is up by now: the server's check of it and its push of
	 * epoch 0 are the first request's longer way, and the answer's
	 * wake-up of the application may take this CPU first. */
	if (r && tcp_up(fd)) {
		r = 0;
		smtd_mark(k->mark, HM_TCP);
	}
	if (!r) {
		ssize_t n = send(fd, b, off, MSG_NOSIGNAL);

		if (n > 0)
			k->out_off = (size_t)n;
		if (k->out_off == off)
			smtd_mark(k->mark, HM_HELLO);
	}
	if ((!have_dh && smt_x25519_derive(k->c_key, t->t.share, dh)) ||
	    smt_tkt_early(k->suite, dh, t->raw, t->len, b, off, k->es, s0) ||
	    keys_from(k->suite, s0, &k->sess.keys)) {
		OPENSSL_cleanse(dh, sizeof(dh));
		OPENSSL_cleanse(s0, sizeof(s0));
		goto fail;
	}
	OPENSSL_cleanse(dh, sizeof(dh));
	OPENSSL_cleanse(s0, sizeof(s0));
	smtd_mark(k->mark, HM_KEYS);
	/* epoch 0's session, to the application at once; the peer is the
	 * address connected to (the connection may not be up yet) */
	smtd_session_fill(&k->sess, fd, false, &p);
	k->sess.peer = dst;
	smtd_addr_set_port(&k->sess.peer, t->t.smt_port);
	snprintf(k->sess.service, sizeof(k->sess.service), "%s", service);
	snprintf(k->sess.handshake, sizeof(k->sess.handshake), "%s", address);
	k->sess.sid = smtd_new_sid(d);
	d->st.tickets_out++;
	smtd_keylog(d, &k->sess);
	LOG_I("session %u: %s to %s with an SMT-ticket, epoch 0 (0-RTT)",
	      k->sess.sid, service, address);
	smtd_ctl_connect_done(d, c, req_id, &k->sess, 0, NULL);
	smtd_mark(k->mark, HM_DONE);
	OPENSSL_cleanse(&k->sess.keys, sizeof(k->sess.keys));
	if (!smtd_table_find(d, k->sess.sid)) {
		/* refused (limits, BPF map): the application got the error */
		k->dead = true;
		conn_free(d, k);
		return 0;
	}
	k->state = r ? TKT_CONNECT : TKT_WRITE;
	if (!r && k->out_off == k->out_len) { /* sent whole above */
		k->state = TKT_READ;
		k->in_len = 0;
	}
	if (smtd_io_add(d, &k->io, k->state == TKT_READ ? EPOLLIN : EPOLLOUT)) {
		fail(d, k, "epoll failed");
		conn_free(d, k);
	}
	return 0;
fail:
	snprintf(err, errlen, "SMT-ticket set-up failed (key agreement)");
fail_err:
	OPENSSL_cleanse(dh, sizeof(dh));
	conn_free(d, k);
	return -EIO;
}

/* ---- the event loop ------------------------------------------------------------ */

static void drive(struct smtd *d, struct tkt_conn *k)
{
	const char *why = NULL;
	ssize_t n;
	int len;

	for (;;) {
		switch (k->state) {
		case TKT_CONNECT:
		case TKT_WAIT_APP:
			return;
		case TKT_DONE:
			k->dead = true;
			return;
		case TKT_WRITE:
			n = send(k->io.fd, k->out + k->out_off,
				 k->out_len - k->out_off, MSG_NOSIGNAL);
			if (n < 0 && errno == EAGAIN) {
				smtd_io_mod(d, &k->io, EPOLLOUT);
				return;
			}
			if (n <= 0) {
				fail(d, k, "write failed: %s",
				     n ? strerror(errno) : "closed");
				return;
			}
			k->out_off += n;
			if (k->out_off < k->out_len)
				continue;
			if (k->server) {
				smtd_mark(k->mark, HM_SENT);
				smtd_mark(k->mark, HM_DONE);
				shutdown(k->io.fd, SHUT_WR);
				k->state = TKT_DONE;
				/* done: one pair ahead for the next one, as
				 * a busy server may have no idle time */
				smtd_tkt_idle(d);
				continue;
			}
			smtd_mark(k->mark, HM_HELLO);
			k->state = TKT_READ;
			k->in_len = 0;
			smtd_io_mod(d, &k->io, EPOLLIN);
			continue;
		case TKT_READ:
			len = smt_tkt_msg_len(k->in, k->in_len, &why);
			if (len < 0) {
				if (k->server)
					refuse(d, k, SMT_PREFUSE_VERSION, "%s",
					       why);
				else
					fail(d, k, "%s", why);
				if (k->dead)
					return;
				continue;
			}
			if (len > 0) {
				if (k->server && k->in[5] != SMT_TKT_HELLO)
					refuse(d, k, SMT_PREFUSE_VERSION,
					       "expected a HELLO");
				else if (k->server)
					on_hello(d, k, len);
				else
					on_accept(d, k, len);
				if (k->dead)
					return;
				continue;
			}
			n = recv(k->io.fd, k->in + k->in_len,
				 SMT_TKT_MSG_MAX - k->in_len, 0);
			if (n < 0 && errno == EAGAIN) {
				smtd_io_mod(d, &k->io, EPOLLIN);
				return;
			}
			if (n <= 0) {
				fail(d, k,
				     "peer closed before the exchange "
				     "finished");
				return;
			}
			k->in_len += n;
			continue;
		}
	}
}

static void conn_event(struct smtd *d, void *obj, uint32_t events)
{
	struct tkt_conn *k = obj;

	if (k->state == TKT_WAIT_APP)
		return;
	if (k->state == TKT_CONNECT) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		getsockopt(k->io.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			fail(d, k, "cannot connect: %s", strerror(soerr));
			conn_free(d, k);
			return;
		}
		smtd_mark(k->mark, HM_TCP);
		k->state = TKT_WRITE;
	}
	drive(d, k);
	if (k->dead)
		conn_free(d, k);
}

/* tls.c: an inbound connection whose first bytes are "SMT0". */
void smtd_tkt_take(struct smtd *d, int fd, const char *peer_str)
{
	struct smtd_tkt *t = rt(d);
	struct tkt_conn *k;

	if (!t || t->nconns >= d->cfg.max_handshakes ||
	    !(k = conn_new(d, fd, true))) {
		d->st.hs_conns_refused++;
		close(fd);
		return;
	}
	smtd_mark(k->mark, HM_START);
	snprintf(k->peer_str, sizeof(k->peer_str), "%s", peer_str);
	d->st.tickets_in++;
	k->state = TKT_READ;
	if (smtd_io_add(d, &k->io, EPOLLIN)) {
		conn_free(d, k);
		return;
	}
	drive(d, k);
	if (k->dead)
		conn_free(d, k);
}

/* The application acknowledged (ok) or refused what set-up k pushed. */
static void app_done(struct smtd *d, void *arg, bool ok, const char *msg)
{
	struct tkt_conn *k = arg;

	if (k->state != TKT_WAIT_APP)
		return;
	if (!ok) {
		if (k->server && k->pushes == 2)
			smtd_bpf_session(d, &k->sess, false, -1);
		if (k->server) {
			struct smtd_session *s =
				k->pushes == 1 ? smtd_table_find(d, k->sess.sid)
					       : NULL;

			if (s)
				smtd_table_remove(d, s, true, false,
						  "epoch 1 refused");
			refuse(d, k, SMT_PREFUSE_APP,
			       "the application serving %s refused the "
			       "session: %s",
			       k->sess.service, msg ? msg : "gone");
		} else {
			fail(d, k, "the application did not take epoch 1: %s",
			     msg ? msg : "gone");
		}
		goto out;
	}
	if (!k->server) {
		struct smtd_session *s = smtd_table_find(d, k->sess.sid);

		smtd_mark(k->mark, HM_EPOCH1);
		smtd_table_rekeyed(d, &k->sess);
		if (s) /* the tag that a CLOSE names the session by */
			snprintf(s->s.tag, sizeof(s->s.tag), "%s", k->sess.tag);
		smtd_keylog(d, &k->sess);
		d->st.tickets_ok++;
		LOG_I("session %u: SMT-ticket set-up confirmed, epoch 1 "
		      "(forward secret)",
		      k->sess.sid);
		k->state = TKT_DONE;
		k->dead = true; /* done: nothing drives it to TKT_DONE's end */
		smtd_tkt_idle(d); /* as a server does after its ACCEPT */
		goto out;
	}
	if (k->pushes == 2) { /* epoch 0 taken: into the table, then 1 */
		bool made;

		smtd_mark(k->mark, HM_ACK);
		made = !accept_make(d, k);
		if (smtd_table_add(d, k->srv, &k->sess, NULL))
			LOG_W("session %u: its BPF entry went missing",
			      k->sess.sid);
		smtd_keylog(d, &k->sess);
		k->pushes = 1;
		k->sess.epoch = 1;
		k->sess.created = time(NULL);
		if (!made || keys_from(k->suite, k->s1, &k->sess.keys) ||
		    smtd_ctl_push_rekey(d, app_done, k, &k->sess)) {
			struct smtd_session *s =
				smtd_table_find(d, k->sess.sid);

			if (s)
				smtd_table_remove(d, s, true, false,
						  "epoch 1 not handed over");
			refuse(d, k, SMT_PREFUSE_APP,
			       "cannot hand epoch 1 to the application");
			goto out;
		}
		return;
	}
	/* epoch 1 taken: now the ACCEPT may go */
	smtd_mark(k->mark, HM_EPOCH1);
	smtd_table_rekeyed(d, &k->sess);
	smtd_keylog(d, &k->sess);
	OPENSSL_cleanse(&k->sess.keys, sizeof(k->sess.keys));
	d->st.tickets_ok++;
	d->st.handshakes_ok++;
	LOG_I("session %u: %s from %s with an SMT-ticket, epochs 0 and 1",
	      k->sess.sid, k->sess.service, k->peer_str);
	k->state = TKT_WRITE;
	smtd_io_mod(d, &k->io, EPOLLOUT);
	drive(d, k);
out:
	if (k->dead)
		conn_free(d, k);
}

void smtd_tkt_conn_gone(struct smtd *d, struct smtd_ctl_conn *c)
{
	struct smtd_tkt *t = d->tkt;
	struct tkt_conn *k;

	for (k = t ? t->conns : NULL; k; k = k->next) {
		if (k->conn == c)
			k->conn = NULL;
		if (k->srv == c)
			k->srv = NULL;
	}
}

void smtd_tkt_tick(struct smtd *d)
{
	struct smtd_tkt *t = d->tkt;
	int64_t now = smtd_now_ms();
	struct tkt_conn *k, *next;

	for (k = t ? t->conns : NULL; k; k = next) {
		next = k->next;
		if (now < k->deadline)
			continue;
		if (!k->dead)
			fail(d, k, "set-up did not finish within %u s",
			     d->cfg.handshake_timeout_s);
		conn_free(d, k);
	}
}

void smtd_tkt_free_all(struct smtd *d)
{
	struct smtd_tkt *t = d->tkt;
	int i;

	while (t && t->conns)
		conn_free(d, t->conns);
	while (t && t->npool > 0)
		EVP_PKEY_free(t->pool[--t->npool]); /* wipes them */
	while (t && t->nnonce > 0)
		smt_tkt_nonce_wipe(&t->nonce[--t->nnonce]);
	if (t) {
		OPENSSL_cleanse(t->pool_dh, sizeof(t->pool_dh));
		for (i = 0; i < SEEN_GEN; i++)
			free(t->gen[i].r);
		free(t);
	}
	d->tkt = NULL;
	smtd_tkt_cfg_free(d);
}
