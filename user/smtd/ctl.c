// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtd's control socket (docs/control-protocol.md) and session table.
 * Applications (libsmt's ctl_client.c) ask for sessions (connect), register
 * as servers of a service (serve), acknowledge pushed sessions (ack) and
 * re-register their live sessions after an smtd restart (register); smtctl
 * reads the table and counters. Every connection's uid comes from
 * SO_PEERCRED and is checked against the service's uid list. A session
 * belongs to the control connection of its application: when that
 * connection closes, the application is gone and so is the session.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "smtd.h"

#define MAX_SERVED 16
/* Pushes waiting for their ack, per application connection: the table
 * starts at PENDING_MIN and doubles as needed up to max_sessions (each
 * pending push is a session being handed over; a burst of set-ups can
 * outrun a busy application's acks). */
#define PENDING_MIN 64
/* Answers and events waiting for a client that does not read: four
 * longest lines. A client that lets more pile up is disconnected. */
#define CTL_OUT_MAX (4 * SMT_CTL_MAX_LINE)

/* A push waiting for the application's ack; free when done is NULL. */
struct pending_push {
	int64_t push_id;
	smtd_push_done done;
	void *arg;
};

struct smtd_ctl_conn {
	struct smtd_ctl_conn *next;
	struct smtd_io io;
	struct smt_ctl_buf buf;
	uid_t uid;
	pid_t pid;
	int nserved;
	struct {
		char name[SMTD_NAME_MAX];
		uint16_t port;
		enum smt_encap encap; /* the serving endpoint's */
		uint16_t group; /* endpoint group size (0: one endpoint) */
	} served[MAX_SERVED];
	uint16_t members; /* a group's members still open (event group) */
	struct pending_push *pending;
	int npending; /* slots in pending */
	int64_t next_push;
	json_object *app_stats; /* latest counters the application sent */
	char *out; /* what the client has not taken yet (may hold keys) */
	size_t out_len, out_cap;
	bool want_out; /* EPOLLOUT asked for */
	bool dead;
};

/* Drop c: it is freed by on_conn, which the shutdown wakes. */
static void conn_kill(struct smtd_ctl_conn *c)
{
	c->dead = true;
	shutdown(c->io.fd, SHUT_RDWR);
}

/* Write what is queued for c without waiting; wipe what left. */
static void conn_flush(struct smtd *d, struct smtd_ctl_conn *c)
{
	ssize_t n;
	bool want;

	while (c->out_len && !c->dead) {
		n = send(c->io.fd, c->out, c->out_len,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_kill(c);
			break;
		}
		memmove(c->out, c->out + n, c->out_len - n);
		OPENSSL_cleanse(c->out + c->out_len - n, n);
		c->out_len -= n;
	}
	want = c->out_len && !c->dead;
	if (want != c->want_out) {
		c->want_out = want;
		smtd_io_mod(d, &c->io, want ? EPOLLIN | EPOLLOUT : EPOLLIN);
	}
}

/* Queue one line for c; never waits. A client whose queue would pass
 * CTL_OUT_MAX does not read its answers: it is disconnected. */
static void conn_queue(struct smtd *d, struct smtd_ctl_conn *c, const char *s,
		       size_t len)
{
	size_t need = c->out_len + len + 1;
	char *n;

	if (need > CTL_OUT_MAX) {
		d->st.ctl_overflows++;
		LOG_W("control client pid %d (uid %u) does not read its "
		      "answers (%zu bytes waiting); dropping it",
		      (int)c->pid, c->uid, c->out_len);
		conn_kill(c);
		return;
	}
	if (need > c->out_cap) {
		n = malloc(need * 2 > CTL_OUT_MAX ? CTL_OUT_MAX : need * 2);
		if (!n) {
			conn_kill(c);
			return;
		}
		if (c->out_len)
			memcpy(n, c->out, c->out_len);
		if (c->out)
			OPENSSL_cleanse(c->out, c->out_cap);
		free(c->out);
		c->out = n;
		c->out_cap = need * 2 > CTL_OUT_MAX ? CTL_OUT_MAX : need * 2;
	}
	memcpy(c->out + c->out_len, s, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	conn_flush(d, c);
}

static json_object *reply(int64_t id, bool ok)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(id));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	return o;
}

/* One message to c, queued (smtd never waits for a client). The JSON
 * text may hold keys: json-c's copy is wiped before o is put. */
static void send_msg(struct smtd *d, struct smtd_ctl_conn *c, json_object *o)
{
	const char *s;
	size_t len;

	json_object_object_add(o, "v", json_object_new_int(SMT_CTL_VERSION));
	s = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = s ? strlen(s) : 0;
	if (!c->dead && s && len < SMT_CTL_MAX_LINE)
		conn_queue(d, c, s, len);
	else if (!c->dead)
		conn_kill(c);
	if (s)
		OPENSSL_cleanse((char *)s, len);
	json_object_put(o);
}

static void send_error(struct smtd *d, struct smtd_ctl_conn *c, int64_t id,
		       int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void send_error(struct smtd *d, struct smtd_ctl_conn *c, int64_t id,
		       int code, const char *fmt, ...)
{
	json_object *o = reply(id, false);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "error", json_object_new_string(msg));
	json_object_object_add(o, "code", json_object_new_int(code));
	send_msg(d, c, o);
}

uint32_t smtd_new_sid(struct smtd *d)
{
	struct smtd_session *s;
	uint32_t sid;

	/* random ids: ids re-registered after a restart never collide with
	 * a counter that started again from 1 */
	for (;;) {
		if (RAND_bytes((unsigned char *)&sid, sizeof(sid)) != 1)
			sid = (uint32_t)random();
		sid &= 0x7fffffff;
		if (!sid)
			continue;
		for (s = d->sessions; s; s = s->next)
			if (s->s.sid == sid)
				break;
		if (!s)
			return sid;
	}
}

struct smtd_session *smtd_table_find(struct smtd *d, uint32_t sid)
{
	struct smtd_session *s;

	for (s = d->sessions; s; s = s->next)
		if (s->s.sid == sid)
			return s;
	return NULL;
}

int smtd_table_add(struct smtd *d, struct smtd_ctl_conn *c,
		   const struct smt_ctl_session *sess,
		   struct smtd_session **out)
{
	struct smtd_session *s = calloc(1, sizeof(*s));
	int err;

	if (out)
		*out = NULL;
	if (!s)
		return -ENOMEM;
	s->s = *sess;
	OPENSSL_cleanse(&s->s.keys, sizeof(s->s.keys));
	s->s.keys.cipher = sess->keys.cipher;
	s->s.keys.key_len = sess->keys.key_len;
	/* no map entry, no packets: such a session is no session */
	err = smtd_bpf_session(d, &s->s, true, -1);
	if (err) {
		d->st.sessions_denied++;
		free(s);
		return err;
	}
	s->owner = c;
	s->owner_pid = c ? c->pid : 0;
	s->owner_uid = c ? c->uid : 0;
	s->next = d->sessions;
	d->sessions = s;
	d->nsessions++;
	d->st.sessions_added++;
	if (out)
		*out = s;
	return 0;
}

static void table_del(struct smtd *d, struct smtd_session *victim)
{
	struct smtd_session **p, *o;

	for (p = &d->sessions; *p && *p != victim; p = &(*p)->next)
		;
	if (!*p)
		return;
	*p = victim->next;
	d->nsessions--;
	d->st.sessions_removed++;
	/* a stopping smtd keeps the entry (the pinned map outlives it); an
	 * entry that is another live session's too stays, as that one's */
	for (o = d->sessions; o && !d->stop; o = o->next)
		if (smtd_bpf_same_key(&o->s, &victim->s))
			break;
	if (o && !d->stop)
		smtd_bpf_session(d, &o->s, true, -1);
	else if (!d->stop)
		smtd_bpf_session(d, &victim->s, false, -1);
	free(victim);
}

void smtd_table_remove(struct smtd *d, struct smtd_session *s, bool tell_owner,
		       bool tell_peer, const char *why)
{
	json_object *o;

	LOG_I("session %u (%s, %s): %s", s->s.sid, s->s.service,
	      s->s.tls_client ? "client" : "server", why);
	if (tell_owner && s->owner && !s->owner->dead) {
		o = json_object_new_object();
		json_object_object_add(o, "event",
				       json_object_new_string("session_del"));
		json_object_object_add(o, "sid",
				       json_object_new_int64(s->s.sid));
		send_msg(d, s->owner, o);
	}
	/* sessions outlive smtd: a stopping smtd tells nobody */
	if (tell_peer && !d->stop && !d->setup->close(d, &s->s))
		d->st.closes_sent++;
	table_del(d, s);
}

bool smtd_early_tag(struct smtd *d, const struct smt_ctl_session *s)
{
	struct smtd_session *t = smtd_table_find(d, s->sid);

	if (t) {
		snprintf(t->s.tag, sizeof(t->s.tag), "%s", s->tag);
		return true;
	}
	LOG_I("session %u (%s): ended before its set-up completed; telling "
	      "the peer now that it has the session",
	      s->sid, s->service);
	if (!d->stop && !d->setup->close(d, s))
		d->st.closes_sent++;
	return false;
}

void smtd_table_tick(struct smtd *d)
{
	int64_t now = time(NULL);
	struct smtd_session *s;

	for (s = d->sessions; s; s = s->next) {
		int64_t end = s->s.created + s->s.lifetime_s;

		if (!s->s.lifetime_s ||
		    now < end - (int64_t)d->cfg.rekey_margin_s)
			continue;
		if (!s->rekey_retry) {
			d->st.rekeys_due++;
			s->rekey_retry = now;
			LOG_I("session %u (%s): epoch %u reaches its lifetime "
			      "at %lld; %s",
			      s->s.sid, s->s.service, s->s.epoch,
			      (long long)end,
			      s->s.tls_client ? "re-keying"
					      : "the client side re-keys");
		}
		/* the TLS client drives the re-key, like the first set-up */
		if (!s->s.tls_client || s->rekey_busy || now < s->rekey_retry ||
		    !s->owner || s->owner->dead)
			continue;
		if (!s->s.handshake[0]) {
			s->rekey_retry = now + 3600;
			LOG_W("session %u: cannot re-key: the peer smtd's "
			      "address is unknown (registered by an old "
			      "libsmt)",
			      s->s.sid);
			continue;
		}
		s->rekey_busy = true;
		if (d->setup->rekey(d, s)) {
			s->rekey_busy = false;
			s->rekey_retry = now + 5;
			d->st.rekeys_failed++;
		}
	}
}

void smtd_table_rekeyed(struct smtd *d, const struct smt_ctl_session *n)
{
	struct smtd_session *s = smtd_table_find(d, n->sid);
	unsigned int prev;

	if (!s)
		return;
	prev = s->s.epoch;
	s->s.epoch = n->epoch;
	s->s.created = n->created;
	s->s.lifetime_s = n->lifetime_s;
	s->rekey_busy = false;
	s->rekey_retry = 0;
	d->st.rekeys_ok++;
	/* the previous epoch stays valid in XDP while messages drain */
	smtd_bpf_session(d, &s->s, true, prev);
}

static bool same_addr(const struct sockaddr_storage *a,
		      const struct sockaddr_storage *b)
{
	char x[INET6_ADDRSTRLEN], y[INET6_ADDRSTRLEN];

	return a->ss_family == b->ss_family &&
	       smt_ctl_port(a) == smt_ctl_port(b) &&
	       !strcmp(smt_ctl_addr_str(a, x, sizeof(x)),
		       smt_ctl_addr_str(b, y, sizeof(y)));
}

struct smtd_session *smtd_table_match(struct smtd *d, const char *service,
				      const struct sockaddr_storage *local,
				      const struct sockaddr_storage *peer)
{
	struct smtd_session *s;

	for (s = d->sessions; s; s = s->next)
		if (!s->s.tls_client &&
		    (!service || !strcmp(s->s.service, service)) &&
		    smt_ctl_port(&s->s.local) == smt_ctl_port(local) &&
		    same_addr(&s->s.peer, peer))
			return s;
	return NULL;
}

/* Send c the event ("session" or "rekey") of s with keys, waiting for an
 * ack that goes to done(arg). 0 or -errno (done will not run). */
/* Room for more pushes in c's table; -1 when it is at its bound
 * (max_sessions, at least PENDING_MIN) or memory is short. */
static int pending_grow(struct smtd *d, struct smtd_ctl_conn *c)
{
	int max = d->cfg.max_sessions > PENDING_MIN ? (int)d->cfg.max_sessions
						    : PENDING_MIN;
	int n = c->npending ? 2 * c->npending : PENDING_MIN;
	struct pending_push *p;

	if (c->npending >= max)
		return -1;
	if (n > max)
		n = max;
	p = realloc(c->pending, n * sizeof(*p));
	if (!p)
		return -1;
	memset(p + c->npending, 0, (n - c->npending) * sizeof(*p));
	c->pending = p;
	c->npending = n;
	return 0;
}

static int push(struct smtd *d, struct smtd_ctl_conn *c, const char *event,
		smtd_push_done done, void *arg, const struct smt_ctl_session *s)
{
	json_object *o;
	int i;

	if (c->dead)
		return -EBUSY;
	for (i = 0; i < c->npending; i++)
		if (!c->pending[i].done)
			break;
	if (i == c->npending && pending_grow(d, c))
		return -EBUSY;
	o = json_object_new_object();
	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, "push",
			       json_object_new_int64(++c->next_push));
	json_object_object_add(o, "session", smt_ctl_session_to_json(s, true));
	c->pending[i].push_id = c->next_push;
	c->pending[i].done = done;
	c->pending[i].arg = arg;
	send_msg(d, c, o); /* the line was wiped by send_msg */
	if (c->dead) {
		c->pending[i].done = NULL;
		return -EPIPE;
	}
	return 0;
}

int smtd_ctl_push_rekey(struct smtd *d, smtd_push_done done, void *arg,
			const struct smt_ctl_session *sess)
{
	struct smtd_session *s = smtd_table_find(d, sess->sid);
	struct smtd_ctl_conn *c = s ? s->owner : NULL;

	if (!c || c->dead)
		return -ENOENT;
	return push(d, c, "rekey", done, arg, sess);
}

/* The owner connection of session sid (for a re-key's pending push). */
struct smtd_ctl_conn *smtd_session_owner(struct smtd *d, uint32_t sid)
{
	struct smtd_session *s = smtd_table_find(d, sid);

	return s ? s->owner : NULL;
}

/* SMTD_ENCAPS_* of the live applications that serve service. */
unsigned int smtd_ctl_served_encaps(struct smtd *d, const char *service)
{
	struct smtd_ctl_conn *c;
	unsigned int m = 0;
	int i;

	for (c = d->conns; c; c = c->next)
		for (i = 0; !c->dead && i < c->nserved; i++)
			if (!strcmp(c->served[i].name, service))
				m |= 1u << c->served[i].encap;
	return m;
}

struct smtd_ctl_conn *smtd_ctl_server_for(struct smtd *d, const char *service,
					  enum smt_encap encap, uint16_t *port)
{
	struct smtd_ctl_conn *c;
	int i;

	for (c = d->conns; c; c = c->next) {
		if (c->dead)
			continue;
		for (i = 0; i < c->nserved; i++)
			if (!strcmp(c->served[i].name, service) &&
			    c->served[i].encap == encap) {
				*port = c->served[i].port;
				return c;
			}
	}
	return NULL;
}

int smtd_ctl_push_session(struct smtd *d, struct smtd_ctl_conn *c,
			  smtd_push_done done, void *arg,
			  const struct smt_ctl_session *s)
{
	return push(d, c, "session", done, arg, s);
}

void smtd_ctl_push_cancel(struct smtd *d, const void *arg)
{
	struct smtd_ctl_conn *c;
	int i;

	for (c = d->conns; c; c = c->next)
		for (i = 0; i < c->npending; i++)
			if (c->pending[i].done && c->pending[i].arg == arg)
				c->pending[i].done = NULL;
}

/* ---- the access model (docs/smtd.md, "Who may do what") -------------- */

/* A session of another uid than uid that uses SMT port port here in
 * encapsulation e: the port is that uid's while the session lives. */
static struct smtd_session *port_owner(struct smtd *d, enum smt_encap e,
				       uint16_t port, uid_t uid)
{
	struct smtd_session *s;

	for (s = d->sessions; s; s = s->next)
		if (s->owner_uid != uid && smtd_encap_of(s->s.ipproto) == e &&
		    smt_ctl_port(&s->s.local) == port)
			return s;
	return NULL;
}

int smtd_ctl_room(struct smtd *d, struct smtd_ctl_conn *c, char *why,
		  size_t len)
{
	struct smtd_session *s;
	unsigned int mine = 0;

	if (d->nsessions >= d->cfg.max_sessions) {
		snprintf(why, len,
			 "smtd holds max_sessions = %u sessions already",
			 d->cfg.max_sessions);
		return -SMT_E_LIMIT;
	}
	if (!c || !c->uid)
		return 0;
	for (s = d->sessions; s; s = s->next)
		mine += s->owner_uid == c->uid;
	if (mine >= d->cfg.max_sessions_uid) {
		snprintf(why, len,
			 "uid %u holds max_sessions_per_uid = %u sessions "
			 "already",
			 c->uid, d->cfg.max_sessions_uid);
		return -SMT_E_LIMIT;
	}
	return 0;
}

/* May c hold a new session on SMT port port in e? 0, or -errno and
 * the reason in why. */
static int may_hold(struct smtd *d, struct smtd_ctl_conn *c, enum smt_encap e,
		    uint16_t port, char *why, size_t len)
{
	struct smtd_session *o = port_owner(d, e, port, c->uid);

	if (o) {
		snprintf(why, len,
			 "SMT port %u (%s) belongs to uid %u while its "
			 "session %u lives; use another port",
			 port, smt_encap_name(e), o->owner_uid, o->s.sid);
		return -EADDRINUSE;
	}
	return smtd_ctl_room(d, c, why, len);
}

/* Refuse a request with may_hold's answer; true when refused. */
static bool deny_hold(struct smtd *d, struct smtd_ctl_conn *c, int64_t id,
		      enum smt_encap e, uint16_t port)
{
	char why[200];
	int r = may_hold(d, c, e, port, why, sizeof(why));

	if (!r)
		return false;
	d->st.sessions_denied++;
	LOG_W("uid %u (pid %d): %s", c->uid, (int)c->pid, why);
	send_error(d, c, id, -r, "%s", why);
	return true;
}

void smtd_ctl_connect_done(struct smtd *d, struct smtd_ctl_conn *c,
			   int64_t req_id, const struct smt_ctl_session *s,
			   int err, const char *msg)
{
	struct smtd_session *n;
	json_object *o;

	if (err || !s) {
		send_error(d, c, req_id, err ? -err : EIO, "%s",
			   msg ? msg : "handshake failed");
		return;
	}
	/* checked at the request too; the table may have changed since */
	if (deny_hold(d, c, req_id, smtd_encap_of(s->ipproto),
		      smt_ctl_port(&s->local)))
		return;
	err = smtd_table_add(d, c, s, &n);
	if (err) {
		send_error(d, c, req_id, -err,
			   "the session cannot enter the BPF sessions map "
			   "(%s), so XDP would drop its packets; see smtd's "
			   "log",
			   strerror(-err));
		return;
	}
	o = reply(req_id, true);
	json_object_object_add(o, "session", smt_ctl_session_to_json(s, true));
	send_msg(d, c, o);
	if (c->dead)
		table_del(d, n);
}

/* ---- requests -------------------------------------------------------- */

/* The uid policy: the service must be configured and allow c's uid. */
static const struct smtd_service *policy(struct smtd *d,
					 struct smtd_ctl_conn *c, int64_t id,
					 const char *svc, bool must_exist)
{
	const struct smtd_service *s;

	if (!svc || !*svc) {
		d->st.ctl_bad_requests++;
		send_error(d, c, id, EINVAL,
			   "malformed request: \"service\" is missing");
		return NULL;
	}
	s = smtd_service_find(&d->cfg, svc);
	if (!s) {
		if (!must_exist)
			return (const struct smtd_service *)-1;
		send_error(d, c, id, ENOENT,
			   "service %s is not configured in %s; add a "
			   "[service %s] section",
			   svc, d->cfg.path, svc);
		return NULL;
	}
	if (!smtd_service_uid_ok(s, c->uid)) {
		d->st.ctl_denied++;
		LOG_W("uid %u (pid %d) may not use service %s", c->uid,
		      (int)c->pid, svc);
		send_error(d, c, id, EACCES,
			   "uid %u may not use service %s (allowed uids are "
			   "set by 'uids' in its [service] section)",
			   c->uid, svc);
		return NULL;
	}
	return s;
}

/* The request's "encap": "ip" when absent (libsmt before SMT over UDP).
 * false when malformed (answered). */
static bool req_encap(struct smtd *d, struct smtd_ctl_conn *c, int64_t id,
		      json_object *req, enum smt_encap *out)
{
	const char *e = smt_ctl_str(req, "encap", NULL);

	*out = SMT_ENCAP_IP;
	if (!json_object_object_get_ex(req, "encap", NULL) ||
	    (e && !smt_encap_parse(e, out)))
		return true;
	d->st.ctl_bad_requests++;
	send_error(d, c, id, EINVAL,
		   "malformed request: \"encap\" must be \"ip\" or \"udp\"");
	return false;
}

/*
 * The request's "group": {"size": n, "members": m} when the application's
 * endpoint is one of n that share its SMT port (libsmt's endpoint groups,
 * docs/smtd.md "Endpoint groups"); absent for one endpoint. A group is
 * one application: one control connection, one uid, SMT over UDP only.
 * false when malformed (answered).
 */
static bool req_group(struct smtd *d, struct smtd_ctl_conn *c, int64_t id,
		      json_object *req, enum smt_encap encap, uint16_t *size)
{
	json_object *g;
	int64_t n, m;

	*size = 0;
	if (!json_object_object_get_ex(req, "group", &g))
		return true;
	n = smt_ctl_int(g, "size", -1);
	m = smt_ctl_int(g, "members", -1);
	if (!json_object_is_type(g, json_type_object) || n < 2 ||
	    n > SMT_GROUP_MAX || m < 1 || m > n) {
		d->st.ctl_bad_requests++;
		send_error(d, c, id, EINVAL,
			   "malformed request: \"group\" must be {\"size\": "
			   "2..%d, \"members\": 1..size}",
			   SMT_GROUP_MAX);
		return false;
	}
	if (encap != SMT_ENCAP_UDP) {
		send_error(d, c, id, EPROTONOSUPPORT,
			   "an endpoint group shares its SMT port over UDP "
			   "only, but the endpoint uses encap %s",
			   smt_encap_name(encap));
		return false;
	}
	*size = (uint16_t)n;
	c->members = (uint16_t)m;
	return true;
}

static void req_connect(struct smtd *d, struct smtd_ctl_conn *c, int64_t id,
			json_object *req)
{
	uint16_t group;
	const char *svc = smt_ctl_str(req, "service", NULL);
	const char *addr = smt_ctl_str(req, "address", NULL);
	int64_t port = smt_ctl_int(req, "port", -1);
	const struct smtd_service *s;
	unsigned int allowed = d->cfg.encaps;
	enum smt_encap encap;
	char err[300];
	int r;

	s = policy(d, c, id, svc, false);
	if (!s)
		return;
	if (!addr || port < 1 || port > 65535) {
		d->st.ctl_bad_requests++;
		send_error(d, c, id, EINVAL,
			   "malformed request: connect needs \"address\" and "
			   "\"port\" (the application's SMT port, 1..65535)");
		return;
	}
	if (!req_encap(d, c, id, req, &encap) ||
	    !req_group(d, c, id, req, encap, &group))
		return;
	/* a service configured here has its own encap, others [smtd]'s */
	if (s != (const struct smtd_service *)-1)
		allowed = s->encaps;
	if (!(allowed & (1u << encap))) {
		send_error(d, c, id, EPROTONOSUPPORT,
			   "service %s: %s allows encap %s only, but the "
			   "endpoint uses %s; add %s to 'encap' in %s of %s, "
			   "or open the endpoint with encap %s",
			   svc, d->cfg.path, smtd_encaps_str(allowed),
			   smt_encap_name(encap), smt_encap_name(encap),
			   s != (const struct smtd_service *)-1
				   ? "its [service] section"
				   : "[smtd]",
			   d->cfg.path, smtd_encaps_str(allowed));
		return;
	}
	if (deny_hold(d, c, id, encap, port))
		return;
	r = d->setup->connect(d, c, id, svc, addr, port,
			      encap == SMT_ENCAP_UDP ? SMT_IPPROTO_UDP
						     : d->cfg.ipproto,
			      err, sizeof(err));
	if (r)
		send_error(d, c, id, -r, "%s", err);
}

static void req_serve(struct smtd *d, struct smtd_ctl_conn *c, int64_t id,
		      json_object *req)
{
	const char *svc = smt_ctl_str(req, "service", NULL);
	int64_t port = smt_ctl_int(req, "port", -1);
	const struct smtd_service *s = policy(d, c, id, svc, true);
	enum smt_encap encap;
	uint16_t group;
	json_object *o;
	int i;

	if (!s)
		return;
	if (port < 1 || port > 65535) {
		d->st.ctl_bad_requests++;
		send_error(d, c, id, EINVAL,
			   "malformed request: serve needs \"port\" (the "
			   "application's SMT port, 1..65535)");
		return;
	}
	if (!req_encap(d, c, id, req, &encap) ||
	    !req_group(d, c, id, req, encap, &group))
		return;
	/* it would never get a session: say so now, not at each PROPOSE */
	if (!(s->encaps & (1u << encap))) {
		send_error(
			d, c, id, EPROTONOSUPPORT,
			"service %s allows encap %s only (smt.conf), but the "
			"endpoint uses %s; add %s to 'encap' in its "
			"[service %s] section of %s, or open the endpoint "
			"with encap %s",
			svc, smtd_encaps_str(s->encaps), smt_encap_name(encap),
			smt_encap_name(encap), svc, d->cfg.path,
			smtd_encaps_str(s->encaps));
		return;
	}
	if (s->port && s->port != port) {
		send_error(d, c, id, EADDRNOTAVAIL,
			   "service %s uses SMT port %u (smt.conf), but the "
			   "endpoint holds port %lld; open the endpoint on "
			   "port %u",
			   svc, s->port, (long long)port, s->port);
		return;
	}
	for (i = 0; i < c->nserved; i++)
		if (!strcmp(c->served[i].name, svc))
			break;
	if (i == c->nserved) {
		if (c->nserved == MAX_SERVED) {
			send_error(d, c, id, ENOSPC, "too many services");
			return;
		}
		c->nserved++;
	}
	snprintf(c->served[i].name, sizeof(c->served[i].name), "%s", svc);
	c->served[i].port = port;
	c->served[i].encap = encap;
	c->served[i].group = group;
	LOG_I("pid %d (uid %u) serves %s on SMT port %lld over %s%s",
	      (int)c->pid, c->uid, svc, (long long)port,
	      encap == SMT_ENCAP_UDP ? "UDP" : "native IP",
	      group ? " with an endpoint group" : "");
	o = reply(id, true);
	json_object_object_add(o, "port", json_object_new_int64(port));
	send_msg(d, c, o);
}

static void req_ack(struct smtd *d, struct smtd_ctl_conn *c, json_object *req)
{
	int64_t push = smt_ctl_int(req, "push", -1);
	smtd_push_done done;
	int i;

	for (i = 0; i < c->npending; i++)
		if (c->pending[i].done && c->pending[i].push_id == push)
			break;
	if (i == c->npending) {
		d->st.ctl_bad_requests++;
		return;
	}
	done = c->pending[i].done;
	c->pending[i].done = NULL;
	done(d, c->pending[i].arg, smt_ctl_bool(req, "ok", false),
	     smt_ctl_str(req, "error", "refused"));
}

/* Does c serve service on SMT port port in e? */
static bool serves(const struct smtd_ctl_conn *c, const char *service,
		   enum smt_encap e, uint16_t port)
{
	int i;

	for (i = 0; i < c->nserved; i++)
		if (!strcmp(c->served[i].name, service) &&
		    c->served[i].encap == e && c->served[i].port == port)
			return true;
	return false;
}

static void req_register(struct smtd *d, struct smtd_ctl_conn *c, int64_t id,
			 json_object *req)
{
	struct smt_ctl_session s;
	struct smtd_session *old, *n;
	json_object *js;
	const char *why = "session";
	int err;

	if (!json_object_object_get_ex(req, "session", &js) ||
	    smt_ctl_session_from_json(js, &s, false, &why)) {
		d->st.ctl_bad_requests++;
		send_error(d, c, id, EINVAL,
			   "malformed request: register: bad field \"%s\"",
			   why);
		return;
	}
	OPENSSL_cleanse(&s.keys.c_key,
			sizeof(s.keys) - offsetof(struct smt_keys, c_key));
	/* root may register anything; others only sessions of a service
	 * configured for their uid, of a port no other uid holds */
	if (!policy(d, c, id, s.service, c->uid != 0))
		return;
	old = smtd_table_find(d, s.sid);
	if (old && old->owner != c) {
		d->st.ctl_denied++;
		send_error(d, c, id, EEXIST,
			   "session id %u is held by another application",
			   s.sid);
		return;
	}
	if (c->uid && !s.tls_client &&
	    !serves(c, s.service, smtd_encap_of(s.ipproto),
		    smt_ctl_port(&s.local))) {
		d->st.ctl_denied++;
		send_error(d, c, id, EACCES,
			   "register: a server-role session of %s on SMT "
			   "port %u needs this connection to serve it there "
			   "(serve first)",
			   s.service, smt_ctl_port(&s.local));
		return;
	}
	if (old)
		table_del(d, old); /* the same session again */
	if (deny_hold(d, c, id, smtd_encap_of(s.ipproto),
		      smt_ctl_port(&s.local)))
		return;
	err = smtd_table_add(d, c, &s, &n);
	if (err) {
		send_error(d, c, id, -err,
			   "the session cannot enter the BPF sessions map: %s",
			   strerror(-err));
		return;
	}
	n->reregistered = true;
	d->st.sessions_added--;
	d->st.sessions_reregistered++;
	LOG_I("session %u (%s) re-registered by pid %d", s.sid, s.service,
	      (int)c->pid);
	send_msg(d, c, reply(id, true));
}

static void req_closed(struct smtd *d, struct smtd_ctl_conn *c, int64_t id,
		       json_object *req)
{
	struct smtd_session *s =
		smtd_table_find(d, smt_ctl_int(req, "sid", -1));

	if (!s || s->owner != c) {
		send_error(d, c, id, ENOENT, "no such session of yours");
		return;
	}
	smtd_table_remove(d, s, false, true,
			  "the application removed it; telling the peer");
	send_msg(d, c, reply(id, true));
}

static json_object *session_json(const struct smtd_session *s)
{
	json_object *o = smt_ctl_session_to_json(&s->s, false);

	/* only the two ends of the set-up know the tag; a CLOSE needs it */
	json_object_object_del(o, "tag");
	json_object_object_add(o, "owner_pid",
			       json_object_new_int(s->owner_pid));
	json_object_object_add(o, "owner_uid",
			       json_object_new_int64(s->owner_uid));
	json_object_object_add(o, "reregistered",
			       json_object_new_boolean(s->reregistered));
	return o;
}

/* Sessions from index "from" on, as many as fit well within one line;
 * "next" is where the following page starts when there are more. */
#define SESSION_PAGE_BYTES (SMT_CTL_MAX_LINE / 2)

static void req_session_list(struct smtd *d, struct smtd_ctl_conn *c,
			     int64_t id, json_object *req)
{
	json_object *o = reply(id, true), *arr = json_object_new_array();
	int64_t from = smt_ctl_int(req, "from", 0), i = 0;
	struct smtd_session *s;
	size_t bytes = 0;

	for (s = d->sessions; s; s = s->next, i++) {
		json_object *e;

		if (i < from)
			continue;
		if (bytes > SESSION_PAGE_BYTES) {
			json_object_object_add(o, "next",
					       json_object_new_int64(i));
			break;
		}
		e = session_json(s);
		bytes += strlen(json_object_to_json_string_ext(
			e, JSON_C_TO_STRING_PLAIN));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "sessions", arr);
	send_msg(d, c, o);
}

static void req_session_show(struct smtd *d, struct smtd_ctl_conn *c,
			     int64_t id, json_object *req, bool del)
{
	int64_t sid = smt_ctl_int(req, "sid", -1);
	struct smtd_session *s = sid >= 0 ? smtd_table_find(d, sid) : NULL;
	char why[80];
	json_object *o;

	if (!s) {
		send_error(d, c, id, ENOENT, "no session with id %lld",
			   (long long)sid);
		return;
	}
	if (!del) {
		o = reply(id, true);
		json_object_object_add(o, "session", session_json(s));
		send_msg(d, c, o);
		return;
	}
	if (c->uid != 0 && c->uid != s->owner_uid) {
		d->st.ctl_denied++;
		send_error(d, c, id, EPERM,
			   "only root or uid %u may delete session %lld",
			   s->owner_uid, (long long)sid);
		return;
	}
	snprintf(why, sizeof(why), "deleted by uid %u; telling the peer",
		 c->uid);
	smtd_table_remove(d, s, true, true, why);
	send_msg(d, c, reply(id, true));
}

static void req_peer_list(struct smtd *d, struct smtd_ctl_conn *c, int64_t id)
{
	json_object *o = reply(id, true), *peers = json_object_new_object();
	json_object *arr = json_object_new_array();
	struct smtd_session *s;
	char a[INET6_ADDRSTRLEN];

	for (s = d->sessions; s; s = s->next) {
		json_object *p, *svcs;
		const char *addr = smt_ctl_addr_str(&s->s.peer, a, sizeof(a));
		size_t i;

		if (!json_object_object_get_ex(peers, addr, &p)) {
			p = json_object_new_object();
			json_object_object_add(p, "addr",
					       json_object_new_string(addr));
			json_object_object_add(p, "sessions",
					       json_object_new_int(0));
			json_object_object_add(p, "services",
					       json_object_new_array());
			json_object_object_add(peers, addr, p);
			json_object_array_add(arr, json_object_get(p));
		}
		json_object_object_add(
			p, "sessions",
			json_object_new_int(smt_ctl_int(p, "sessions", 0) + 1));
		json_object_object_get_ex(p, "services", &svcs);
		for (i = 0; i < json_object_array_length(svcs); i++)
			if (!strcmp(json_object_get_string(
					    json_object_array_get_idx(svcs, i)),
				    s->s.service))
				break;
		if (i == json_object_array_length(svcs))
			json_object_array_add(
				svcs, json_object_new_string(s->s.service));
	}
	json_object_put(peers);
	json_object_object_add(o, "peers", arr);
	send_msg(d, c, o);
}

/* May uid have a raw socket of the native protocol? Root, and the uids
 * that a service open to native IP lets serve or call it. */
static bool raw_allowed(struct smtd *d, uid_t uid)
{
	int i;

	for (i = 0; i < d->cfg.nservices; i++)
		if ((d->cfg.services[i].encaps & SMTD_ENCAPS_IP) &&
		    smtd_service_uid_ok(&d->cfg.services[i], uid))
			return true;
	return uid == 0;
}

/*
 * raw_socket: a raw IP socket of this host's native protocol, handed to
 * the application over the control socket (SCM_RIGHTS) so that it needs
 * no CAP_NET_RAW of its own (docs/control-protocol.md). The descriptor
 * rides on the answer's first byte, so the connection must have nothing
 * else queued (libsmt asks on a connection of its own).
 */
static void req_raw_socket(struct smtd *d, struct smtd_ctl_conn *c, int64_t id,
			   json_object *req)
{
	int64_t fam = smt_ctl_int(req, "family", 0);
	char line[128], cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {.iov_base = line};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	json_object *o;
	int fd, n;

	if (fam != 4 && fam != 6) {
		d->st.ctl_bad_requests++;
		send_error(d, c, id, EINVAL,
			   "malformed request: \"family\" is 4 or 6");
		return;
	}
	if (!(d->cfg.encaps & SMTD_ENCAPS_IP)) {
		send_error(d, c, id, EPROTONOSUPPORT,
			   "native IP is off on this host ([smtd] encap = "
			   "%s); use SMT over UDP",
			   smtd_encaps_str(d->cfg.encaps));
		return;
	}
	if (!raw_allowed(d, c->uid)) {
		d->st.ctl_denied++;
		send_error(d, c, id, EACCES,
			   "uid %u may not use native IP: no service with "
			   "encap ip lists it in uids (smt.conf(5))",
			   (unsigned int)c->uid);
		return;
	}
	if (c->out_len) {
		send_error(d, c, id, EBUSY,
			   "ask for a raw socket on a connection without "
			   "answers pending");
		return;
	}
	fd = socket(fam == 6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC,
		    d->cfg.ipproto);
	if (fd < 0) {
		send_error(d, c, id, errno,
			   "smtd cannot open a raw socket of protocol %u: %s "
			   "(smtd needs CAP_NET_RAW for native IP, smtd(8))",
			   d->cfg.ipproto, strerror(errno));
		return;
	}
	o = reply(id, true);
	json_object_object_add(o, "family", json_object_new_int(fam));
	json_object_object_add(o, "ipproto",
			       json_object_new_int(d->cfg.ipproto));
	json_object_object_add(o, "v", json_object_new_int(SMT_CTL_VERSION));
	n = snprintf(line, sizeof(line), "%s\n",
		     json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	iov.iov_len = n;
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(c->io.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
		conn_kill(c); /* a fresh connection takes 100 bytes */
	else
		d->st.raw_sockets_handed++;
	close(fd);
}

static void req_service_list(struct smtd *d, struct smtd_ctl_conn *c,
			     int64_t id)
{
	json_object *o = reply(id, true), *arr = json_object_new_array();
	int i, j;

	for (i = 0; i < d->cfg.nservices; i++) {
		const struct smtd_service *sv = &d->cfg.services[i];
		json_object *e = json_object_new_object(), *u;
		struct smtd_ctl_conn *cc;
		struct smtd_session *s;
		int servers = 0, sessions = 0, members = 0;

		json_object_object_add(e, "name",
				       json_object_new_string(sv->name));
		json_object_object_add(e, "port",
				       json_object_new_int(sv->port));
		if (sv->any_uid) {
			u = json_object_new_string("any");
		} else {
			u = json_object_new_array();
			for (j = 0; j < sv->nuids; j++)
				json_object_array_add(
					u, json_object_new_int64(sv->uids[j]));
		}
		json_object_object_add(e, "uids", u);
		for (cc = d->conns; cc; cc = cc->next)
			for (j = 0; j < cc->nserved; j++) {
				if (strcmp(cc->served[j].name, sv->name))
					continue;
				servers++;
				members += cc->served[j].group ? cc->members
							       : 1;
			}
		for (s = d->sessions; s; s = s->next)
			sessions += !strcmp(s->s.service, sv->name);
		json_object_object_add(e, "servers",
				       json_object_new_int(servers));
		json_object_object_add(e, "endpoints",
				       json_object_new_int(members));
		json_object_object_add(
			e, "encap",
			json_object_new_string(smtd_encaps_str(sv->encaps)));
		json_object_object_add(
			e, "served_encap",
			json_object_new_string(smtd_encaps_str(
				smtd_ctl_served_encaps(d, sv->name))));
		json_object_object_add(e, "sessions",
				       json_object_new_int(sessions));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "services", arr);
	send_msg(d, c, o);
}

/* Sum of the counters applications reported ("app_stats" events). */
static json_object *apps_stats(struct smtd *d)
{
	json_object *sum = json_object_new_object();
	struct smtd_ctl_conn *c;
	int napps = 0;

	for (c = d->conns; c; c = c->next) {
		if (!c->app_stats)
			continue;
		napps++;
		json_object_object_foreach(c->app_stats, k, v)
		{
			if (json_object_is_type(v, json_type_int)) {
				json_object_object_add(
					sum, k,
					json_object_new_int64(
						smt_ctl_int(sum, k, 0) +
						json_object_get_int64(v)));
			} else if (json_object_is_type(v, json_type_object)) {
				json_object *sub;

				if (!json_object_object_get_ex(sum, k, &sub)) {
					sub = json_object_new_object();
					json_object_object_add(sum, k, sub);
				}
				json_object_object_foreach(v, k2, v2)
				{
					json_object_object_add(
						sub, k2,
						json_object_new_int64(
							smt_ctl_int(sub, k2,
								    0) +
							json_object_get_int64(
								v2)));
				}
			}
		}
	}
	json_object_object_add(sum, "reporting", json_object_new_int(napps));
	return sum;
}

json_object *smtd_ctl_apps_stats(struct smtd *d)
{
	return apps_stats(d);
}

static void req_stats(struct smtd *d, struct smtd_ctl_conn *c, int64_t id)
{
	json_object *o = reply(id, true), *st = json_object_new_object();
	json_object *sd = json_object_new_object(),
		    *rf = json_object_new_object();

#define X(n, desc) \
	json_object_object_add(sd, #n, json_object_new_int64(d->st.n));
	SMTD_COUNTERS(X)
#undef X
#define X(n, desc) \
	json_object_object_add(rf, #n, json_object_new_int64(d->st.refused.n));
	SMTD_REFUSALS(X)
#undef X
	json_object_object_add(sd, "sessions",
			       json_object_new_int(d->nsessions));
	json_object_object_add(sd, "refused", rf);
	json_object_object_add(st, "smtd", sd);
	json_object_object_add(st, "apps", apps_stats(d));
	smtd_bpf_stats(d, st);
	json_object_object_add(o, "stats", st);
	send_msg(d, c, o);
}

/* An SMT-ticket of a service (public: anyone may ask). */
static void req_ticket_export(struct smtd *d, struct smtd_ctl_conn *c,
			      int64_t id, json_object *req)
{
	const char *svc = smt_ctl_str(req, "service", NULL);
	static char text[SMT_CTL_MAX_LINE / 2]; /* a line must hold it */
	char err[300];
	json_object *o;
	int r;

	if (!svc || !*svc) {
		d->st.ctl_bad_requests++;
		send_error(d, c, id, EINVAL,
			   "malformed request: \"service\" is missing");
		return;
	}
	r = d->setup->ticket_export(d, svc, text, sizeof(text), err,
				    sizeof(err));
	if (r) {
		send_error(d, c, id, -r, "%s", err);
		return;
	}
	o = reply(id, true);
	json_object_object_add(o, "ticket", json_object_new_string(text));
	send_msg(d, c, o);
}

static void handle(struct smtd *d, struct smtd_ctl_conn *c, json_object *req)
{
	const char *op = smt_ctl_str(req, "op", NULL);
	int64_t id = smt_ctl_int(req, "id", 0);

	d->st.ctl_requests++;
	if (!op) {
		json_object *ev;

		/* events from applications */
		if (!strcmp(smt_ctl_str(req, "event", ""), "app_stats") &&
		    json_object_object_get_ex(req, "stats", &ev) &&
		    json_object_is_type(ev, json_type_object)) {
			json_object_put(c->app_stats);
			c->app_stats = json_object_get(ev);
			return;
		}
		/* an endpoint group's member closed: how many are left */
		if (!strcmp(smt_ctl_str(req, "event", ""), "group")) {
			int64_t m = smt_ctl_int(req, "members", -1);

			if (m >= 1 && m <= SMT_GROUP_MAX) {
				c->members = (uint16_t)m;
				return;
			}
		}
		d->st.ctl_bad_requests++;
		send_error(d, c, id, EINVAL,
			   "malformed request: no \"op\" (see "
			   "docs/control-protocol.md)");
		return;
	}
	if (!strcmp(op, "connect"))
		req_connect(d, c, id, req);
	else if (!strcmp(op, "serve"))
		req_serve(d, c, id, req);
	else if (!strcmp(op, "ack"))
		req_ack(d, c, req);
	else if (!strcmp(op, "register"))
		req_register(d, c, id, req);
	else if (!strcmp(op, "closed"))
		req_closed(d, c, id, req);
	else if (!strcmp(op, "session_list"))
		req_session_list(d, c, id, req);
	else if (!strcmp(op, "session_show"))
		req_session_show(d, c, id, req, false);
	else if (!strcmp(op, "session_del"))
		req_session_show(d, c, id, req, true);
	else if (!strcmp(op, "peer_list"))
		req_peer_list(d, c, id);
	else if (!strcmp(op, "service_list"))
		req_service_list(d, c, id);
	else if (!strcmp(op, "stats"))
		req_stats(d, c, id);
	else if (!strcmp(op, "ticket_export"))
		req_ticket_export(d, c, id, req);
	else if (!strcmp(op, "raw_socket"))
		req_raw_socket(d, c, id, req);
	else if (!strcmp(op, "ping"))
		send_msg(d, c, reply(id, true));
	else {
		d->st.ctl_bad_requests++;
		send_error(d, c, id, EOPNOTSUPP,
			   "malformed request: unknown op \"%.40s\"", op);
	}
}

static void conn_free(struct smtd *d, struct smtd_ctl_conn *c)
{
	struct smtd_ctl_conn **p;
	struct smtd_session *s, *next;

	for (p = &d->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	d->setup->conn_gone(d, c);
	for (s = d->sessions; s; s = next) {
		next = s->next;
		if (s->owner == c) {
			char why[80];

			snprintf(why, sizeof(why),
				 "application pid %d went away%s", (int)c->pid,
				 d->stop ? "" : "; telling the peer");
			smtd_table_remove(d, s, false, true, why);
		}
	}
	smtd_io_del(d, &c->io);
	close(c->io.fd);
	d->nconns--;
	if (c->out)
		OPENSSL_cleanse(c->out, c->out_cap);
	free(c->out);
	smt_ctl_buf_free(&c->buf);
	json_object_put(c->app_stats);
	free(c->pending);
	free(c);
}

static void on_conn(struct smtd *d, void *obj, uint32_t events)
{
	struct smtd_ctl_conn *c = obj;
	json_object *m;
	int r;

	if (events & EPOLLOUT)
		conn_flush(d, c);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->dead)
		return;
	r = smt_ctl_fill(&c->buf, c->io.fd);
	if (r == 0 || (r < 0 && r != -EAGAIN)) {
		if (r == -EMSGSIZE) {
			d->st.ctl_bad_requests++;
			send_error(d, c, 0, EMSGSIZE,
				   "malformed request: line longer than %d "
				   "bytes",
				   SMT_CTL_MAX_LINE);
		}
		c->dead = true;
	}
	while (!c->dead && (r = smt_ctl_next(&c->buf, &m)) != 0) {
		if (r == -EPROTO) {
			d->st.ctl_bad_requests++;
			send_error(d, c, 0, EPROTO,
				   "malformed request: not a JSON object on "
				   "one line");
			continue;
		}
		if (r == -EPROTONOSUPPORT) {
			d->st.ctl_bad_requests++;
			send_error(d, c, smt_ctl_int(m, "id", 0),
				   EPROTONOSUPPORT,
				   "unsupported control protocol version "
				   "(this smtd speaks v%d)",
				   SMT_CTL_VERSION);
		} else if (r == 1) {
			handle(d, c, m);
		} else {
			c->dead = true;
		}
		json_object_put(m);
	}
	if (c->dead)
		conn_free(d, c);
}

/* Control connections of uid now. */
static unsigned int conns_of(struct smtd *d, uid_t uid)
{
	struct smtd_ctl_conn *c;
	unsigned int n = 0;

	for (c = d->conns; c; c = c->next)
		n += c->uid == uid;
	return n;
}

/*
 * Limits for uids other than 0: max_control_clients connections of all
 * of them together, a quarter of that per uid. Root is never refused (it
 * could raise the limit anyway); fds run out first (accept back-off).
 */
static const char *conn_refusal(struct smtd *d, uid_t uid)
{
	unsigned int all = d->nconns - conns_of(d, 0);
	unsigned int per = d->cfg.max_ctl_clients / 4;

	if (!uid)
		return NULL;
	if (all >= d->cfg.max_ctl_clients)
		return "max_control_clients connections of non-root users";
	if (conns_of(d, uid) >= (per ? per : 1))
		return "a quarter of max_control_clients for one uid";
	return NULL;
}

static void on_ctl_accept(struct smtd *d, void *obj, uint32_t events)
{
	struct smtd_ctl_conn *c;
	struct ucred cr;
	socklen_t sl = sizeof(cr);
	const char *why;
	int fd;

	for (;;) {
		fd = smtd_accept(d, &d->ctl_io, NULL);
		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl)) {
			close(fd);
			continue;
		}
		why = conn_refusal(d, cr.uid);
		if (why) {
			static const char line[] =
				"{\"id\":0,\"ok\":false,\"code\":24,"
				"\"error\":\"smtd: too many control "
				"connections\",\"v\":1}\n";

			d->st.ctl_conns_refused++;
			LOG_D("control client pid %d uid %u refused: %s",
			      (int)cr.pid, cr.uid, why);
			send(fd, line, sizeof(line) - 1,
			     MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->uid = cr.uid;
		c->pid = cr.pid;
		c->io = (struct smtd_io){.fd = fd, .cb = on_conn, .obj = c};
		if (smtd_io_add(d, &c->io, EPOLLIN)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = d->conns;
		d->conns = c;
		d->nconns++;
		LOG_D("control client pid %d uid %u", (int)c->pid, c->uid);
		/* libsmt writes its request right after connect(): read it
		 * now rather than after one more epoll round */
		on_conn(d, c, EPOLLIN);
	}
}

int smtd_ctl_listen(struct smtd *d)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path = d->cfg.ctl_path;
	char dir[sizeof(sun.sun_path)], *slash;
	int fd, probe, err;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) && errno != EEXIST)
			LOG_W("cannot create %s: %s", dir, strerror(errno));
	}
	/* a socket file that answers belongs to a running smtd */
	probe = smt_ctl_open(path, false);
	if (probe >= 0) {
		close(probe);
		LOG_E("another smtd is running on %s; stop it first", path);
		return -EADDRINUSE;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* a thousand applications may connect at once */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    listen(fd, SOMAXCONN)) {
		err = -errno;
		LOG_E("cannot listen on control socket %s: %s", path,
		      strerror(-err));
		close(fd);
		return err;
	}
	/* everyone may connect; the uid policy is per request */
	chmod(path, 0666);
	d->ctl_io = (struct smtd_io){.fd = fd, .cb = on_ctl_accept};
	return smtd_io_add(d, &d->ctl_io, EPOLLIN);
}

void smtd_ctl_close_all(struct smtd *d)
{
	while (d->conns)
		conn_free(d, d->conns);
	while (d->sessions)
		table_del(d, d->sessions);
	if (d->ctl_io.fd > 0) {
		smtd_io_del(d, &d->ctl_io);
		close(d->ctl_io.fd);
		unlink(d->cfg.ctl_path);
		d->ctl_io.fd = -1;
	}
}
