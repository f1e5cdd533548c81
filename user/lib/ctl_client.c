// SPDX-License-Identifier: BSD-2-Clause
/*
 * Control-socket client side of libsmt: the newline-delimited JSON framing
 * shared with smtd and smtctl (ctlproto.h), the JSON form of a session, and
 * smt_connect()/smt_serve(), which ask the local smtd for sessions and
 * install them in an endpoint. The control connection stays open; when smtd
 * goes away, it is re-opened with backoff and the endpoint's live sessions
 * are registered again so that smtd rebuilds its table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>
#include <sys/timerfd.h>

#include <openssl/crypto.h>

#include "ctlproto.h"
#include "endpoint.h"
#include "smt/wire.h"

const char *smt_ctl_path(const char *path)
{
	const char *env;

	if (path && *path)
		return path;
	env = getenv(SMT_CTL_SOCK_ENV);
	if (env && *env)
		return env;
	return SMT_CTL_SOCK_DEFAULT;
}

int smt_ctl_open(const char *path, bool nonblock)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, err;

	path = smt_ctl_path(path);
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = ev};
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r ? 0 : -ETIMEDOUT;
}

int smt_ctl_send(int fd, json_object *msg, int timeout_ms)
{
	const char *s;
	size_t len, off = 0;
	char *line;
	ssize_t n;
	int err = 0;

	json_object_object_add(msg, "v", json_object_new_int(SMT_CTL_VERSION));
	s = json_object_to_json_string_ext(
		msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return -ENOMEM;
	len = strlen(s);
	if (len + 1 > SMT_CTL_MAX_LINE)
		return -EMSGSIZE;
	line = malloc(len + 1);
	if (!line)
		return -ENOMEM;
	memcpy(line, s, len);
	line[len++] = '\n';
	while (off < len) {
		n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			err = wait_fd(fd, POLLOUT, timeout_ms);
			if (err)
				break;
			continue;
		}
		err = n < 0 ? -errno : -EPIPE;
		break;
	}
	/* the line may carry key material */
	OPENSSL_cleanse(line, len);
	free(line);
	return err;
}

int smt_ctl_fill(struct smt_ctl_buf *b, int fd)
{
	ssize_t n;

	if (b->cap - b->len < 4096) {
		size_t ncap = b->cap ? b->cap * 2 : 8192;
		char *nd;

		if (ncap > 2 * SMT_CTL_MAX_LINE)
			ncap = 2 * SMT_CTL_MAX_LINE;
		if (ncap <= b->len)
			return -EMSGSIZE;
		nd = malloc(ncap);
		if (!nd)
			return -ENOMEM;
		if (b->data) {
			memcpy(nd, b->data, b->len);
			OPENSSL_cleanse(b->data, b->cap);
			free(b->data);
		}
		b->data = nd;
		b->cap = ncap;
	}
	do
		n = recv(fd, b->data + b->len, b->cap - b->len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	b->len += n;
	if (n > 0 && !memchr(b->data, '\n', b->len) &&
	    b->len >= SMT_CTL_MAX_LINE)
		return -EMSGSIZE;
	return n;
}

int smt_ctl_next(struct smt_ctl_buf *b, json_object **out)
{
	json_tokener *tok;
	json_object *o;
	char *nl;
	size_t llen;
	int ret = 1;

	*out = NULL;
	if (!b->len)
		return 0;
	nl = memchr(b->data, '\n', b->len);
	if (!nl)
		return 0;
	llen = nl - b->data;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, b->data, llen);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)llen ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
		ret = -EPROTO;
	}
	json_tokener_free(tok);
	OPENSSL_cleanse(b->data, llen + 1);
	memmove(b->data, nl + 1, b->len - llen - 1);
	b->len -= llen + 1;
	if (o && smt_ctl_int(o, "v", -1) != SMT_CTL_VERSION)
		ret = -EPROTONOSUPPORT;
	*out = o;
	return ret;
}

void smt_ctl_buf_free(struct smt_ctl_buf *b)
{
	if (b->data) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int smt_ctl_call(int fd, struct smt_ctl_buf *b, json_object *req,
		 json_object **resp, int timeout_ms,
		 void (*other_cb)(json_object *msg, void *arg), void *arg)
{
	int64_t id = smt_ctl_int(req, "id", -1), deadline;
	json_object *m;
	int err;

	*resp = NULL;
	err = smt_ctl_send(fd, req, timeout_ms);
	if (err)
		return err;
	deadline = now_ms() + timeout_ms;
	for (;;) {
		err = smt_ctl_next(b, &m);
		if (err == 1 || err == -EPROTONOSUPPORT) {
			if (json_object_object_get_ex(m, "id", NULL) &&
			    smt_ctl_int(m, "id", -2) == id) {
				*resp = m;
				return err == 1 ? 0 : err;
			}
			if (other_cb)
				other_cb(m, arg);
			json_object_put(m);
			continue;
		}
		if (err < 0)
			return err;
		int left = (int)(deadline - now_ms());

		if (left <= 0)
			return -ETIMEDOUT;
		err = wait_fd(fd, POLLIN, left);
		if (err)
			return err;
		err = smt_ctl_fill(b, fd);
		if (err == 0)
			return -ECONNRESET;
		if (err < 0 && err != -EAGAIN)
			return err;
	}
}

const char *smt_ctl_str(json_object *o, const char *key, const char *def)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return def;
	return json_object_get_string(v);
}

int64_t smt_ctl_int(json_object *o, const char *key, int64_t def)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return def;
	return json_object_get_int64(v);
}

bool smt_ctl_bool(json_object *o, const char *key, bool def)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return def;
	return json_object_get_boolean(v);
}

const char *smt_ctl_addr_str(const struct sockaddr_storage *sa, char *buf,
			     size_t len)
{
	const void *a =
		sa->ss_family == AF_INET6
			? (const void *)&((const struct sockaddr_in6 *)sa)
				  ->sin6_addr
			: (const void *)&((const struct sockaddr_in *)sa)
				  ->sin_addr;

	if (!inet_ntop(sa->ss_family, a, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

uint16_t smt_ctl_port(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

int smt_ctl_addr_parse(const char *addr, uint16_t port,
		       struct sockaddr_storage *sa)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;

	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

int smt_ctl_split_address(const char *address, char *host, size_t hlen,
			  char *port, size_t plen)
{
	const char *colon = strrchr(address, ':');
	size_t n;

	port[0] = 0;
	if (address[0] == '[') {
		const char *end = strchr(address, ']');

		if (!end)
			return -EINVAL;
		n = end - address - 1;
		if (n >= hlen)
			return -EINVAL;
		memcpy(host, address + 1, n);
		host[n] = 0;
		if (end[1] == ':')
			snprintf(port, plen, "%s", end + 2);
		else if (end[1])
			return -EINVAL;
		return 0;
	}
	if (colon && colon == strchr(address, ':')) { /* exactly one ':' */
		n = colon - address;
		if (n >= hlen)
			return -EINVAL;
		memcpy(host, address, n);
		host[n] = 0;
		snprintf(port, plen, "%s", colon + 1);
		return 0;
	}
	if (strlen(address) >= hlen)
		return -EINVAL;
	strcpy(host, address);
	return 0;
}

int smt_ctl_resolve(const char *address, char *out, size_t len, char *err,
		    size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	struct sockaddr_storage ss;
	char host[256], port[16], a[INET6_ADDRSTRLEN];
	int r;

	if (smt_ctl_split_address(address, host, sizeof(host), port,
				  sizeof(port))) {
		snprintf(err, errlen,
			 "address '%s' is not host, host:port or [ipv6]:port",
			 address);
		return -EINVAL;
	}
	if (!smt_ctl_addr_parse(host, 0, &ss)) {
		snprintf(out, len, "%s", address);
		return 0;
	}
	r = getaddrinfo(host, NULL, &hints, &ai);
	if (r || !ai) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host,
			 r ? gai_strerror(r) : "no address");
		return -ENOENT;
	}
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	smt_ctl_addr_str(&ss, a, sizeof(a));
	if (ss.ss_family == AF_INET6)
		snprintf(out, len, "[%s]%s%s", a, *port ? ":" : "", port);
	else
		snprintf(out, len, "%s%s%s", a, *port ? ":" : "", port);
	return 0;
}

static json_object *hex_json(const uint8_t *p, size_t n)
{
	char buf[2 * SMT_KEY_MAX + 1];
	json_object *o;
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(buf + 2 * i, 3, "%02x", p[i]);
	buf[2 * n] = 0;
	o = json_object_new_string(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	return o;
}

static json_object *endpoint_json(const struct sockaddr_storage *sa)
{
	json_object *o = json_object_new_object();
	char buf[INET6_ADDRSTRLEN];

	json_object_object_add(
		o, "addr",
		json_object_new_string(smt_ctl_addr_str(sa, buf, sizeof(buf))));
	json_object_object_add(o, "port",
			       json_object_new_int(smt_ctl_port(sa)));
	return o;
}

json_object *smt_ctl_session_to_json(const struct smt_ctl_session *s,
				     bool with_keys)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "sid", json_object_new_int64(s->sid));
	json_object_object_add(o, "service",
			       json_object_new_string(s->service));
	json_object_object_add(
		o, "role",
		json_object_new_string(s->tls_client ? "client" : "server"));
	json_object_object_add(o, "local", endpoint_json(&s->local));
	json_object_object_add(o, "peer", endpoint_json(&s->peer));
	json_object_object_add(
		o, "cipher",
		json_object_new_string(smt_cipher_name(s->keys.cipher)));
	json_object_object_add(o, "ipproto", json_object_new_int(s->ipproto));
	json_object_object_add(
		o, "encap",
		json_object_new_string(s->ipproto == SMT_IPPROTO_UDP ? "udp"
								     : "ip"));
	json_object_object_add(o, "B", json_object_new_int(s->B));
	json_object_object_add(o, "epoch", json_object_new_int(s->epoch));
	json_object_object_add(o, "max_msg", json_object_new_int64(s->max_msg));
	json_object_object_add(o, "max_pad", json_object_new_int64(s->max_pad));
	json_object_object_add(o, "lifetime",
			       json_object_new_int64(s->lifetime_s));
	json_object_object_add(o, "created", json_object_new_int64(s->created));
	if (s->handshake[0])
		json_object_object_add(o, "handshake",
				       json_object_new_string(s->handshake));
	if (s->peer_cert[0])
		json_object_object_add(o, "peer_cert",
				       json_object_new_string(s->peer_cert));
	if (s->tag[0])
		json_object_object_add(o, "tag",
				       json_object_new_string(s->tag));
	if (with_keys) {
		size_t kl = s->keys.key_len;
		json_object *k = json_object_new_object();

		json_object_object_add(k, "c_key", hex_json(s->keys.c_key, kl));
		json_object_object_add(k, "c_iv",
				       hex_json(s->keys.c_iv, SMT_IV_LEN));
		json_object_object_add(k, "s_key", hex_json(s->keys.s_key, kl));
		json_object_object_add(k, "s_iv",
				       hex_json(s->keys.s_iv, SMT_IV_LEN));
		json_object_object_add(o, "keys", k);
	}
	return o;
}

static int unhex(const char *h, uint8_t *out, size_t n)
{
	size_t i;

	if (!h || strlen(h) != 2 * n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		unsigned int v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = v;
	}
	return 0;
}

static int endpoint_from_json(json_object *o, const char *key,
			      struct sockaddr_storage *sa)
{
	json_object *e;
	int64_t port;

	if (!json_object_object_get_ex(o, key, &e))
		return -EINVAL;
	port = smt_ctl_int(e, "port", -1);
	if (port < 0 || port > 65535)
		return -EINVAL;
	return smt_ctl_addr_parse(smt_ctl_str(e, "addr", ""), port, sa);
}

int smt_ctl_session_from_json(json_object *o, struct smt_ctl_session *s,
			      bool need_keys, const char **err)
{
	const char *svc = smt_ctl_str(o, "service", NULL);
	const char *role = smt_ctl_str(o, "role", "");
	json_object *k;
	int64_t v;

	memset(s, 0, sizeof(*s));
#define BAD(f)             \
	do {               \
		*err = f;  \
		goto fail; \
	} while (0)
	v = smt_ctl_int(o, "sid", -1);
	if (v < 0 || v > UINT32_MAX)
		BAD("sid");
	s->sid = v;
	if (!svc || !*svc || strlen(svc) >= sizeof(s->service))
		BAD("service");
	strcpy(s->service, svc);
	if (strcmp(role, "client") && strcmp(role, "server"))
		BAD("role");
	s->tls_client = !strcmp(role, "client");
	if (endpoint_from_json(o, "local", &s->local))
		BAD("local");
	if (endpoint_from_json(o, "peer", &s->peer))
		BAD("peer");
	s->keys.cipher = smt_cipher_from_name(smt_ctl_str(o, "cipher", ""));
	if (s->keys.cipher == SMT_CIPHER_NONE)
		BAD("cipher");
	s->keys.key_len = smt_cipher_key_len(s->keys.cipher);
	v = smt_ctl_int(o, "ipproto", -1);
	if (v < 1 || v > 255)
		BAD("ipproto");
	s->ipproto = v;
	/* absent from old smtds; when there, it must agree with ipproto */
	if (json_object_object_get_ex(o, "encap", NULL) &&
	    strcmp(smt_ctl_str(o, "encap", ""),
		   v == SMT_IPPROTO_UDP ? "udp" : "ip"))
		BAD("encap");
	v = smt_ctl_int(o, "B", -1);
	if (v < 40 || v > 56)
		BAD("B");
	s->B = v;
	v = smt_ctl_int(o, "epoch", -1);
	if (v < 0 || v > 255)
		BAD("epoch");
	s->epoch = v;
	v = smt_ctl_int(o, "max_msg", -1);
	if (v < 1 || v > 64 * 1024 * 1024)
		BAD("max_msg");
	s->max_msg = v;
	v = smt_ctl_int(o, "max_pad", -1);
	if (v < 0 || v > 16383)
		BAD("max_pad");
	s->max_pad = v;
	v = smt_ctl_int(o, "lifetime", -1);
	if (v < 0 || v > UINT32_MAX)
		BAD("lifetime");
	s->lifetime_s = v;
	s->created = smt_ctl_int(o, "created", 0);
	snprintf(s->handshake, sizeof(s->handshake), "%s",
		 smt_ctl_str(o, "handshake", ""));
	snprintf(s->peer_cert, sizeof(s->peer_cert), "%s",
		 smt_ctl_str(o, "peer_cert", ""));
	snprintf(s->tag, sizeof(s->tag), "%s", smt_ctl_str(o, "tag", ""));
	if (json_object_object_get_ex(o, "keys", &k)) {
		size_t kl = s->keys.key_len;

		if (unhex(smt_ctl_str(k, "c_key", NULL), s->keys.c_key, kl) ||
		    unhex(smt_ctl_str(k, "c_iv", NULL), s->keys.c_iv,
			  SMT_IV_LEN) ||
		    unhex(smt_ctl_str(k, "s_key", NULL), s->keys.s_key, kl) ||
		    unhex(smt_ctl_str(k, "s_iv", NULL), s->keys.s_iv,
			  SMT_IV_LEN))
			BAD("keys");
	} else if (need_keys) {
		BAD("keys");
	}
#undef BAD
	return 0;
fail:
	OPENSSL_cleanse(&s->keys, sizeof(s->keys));
	return -EINVAL;
}

/* ---- smt_connect / smt_serve -------------------------------------------- */

#define CTL_CALL_MS 15000 /* longer than smtd's handshake timeout */
#define CTL_BACKOFF_MIN_MS 50
#define CTL_BACKOFF_MAX_MS 1000
#define CTL_STATS_MS 1000
#define CTL_MAX_SERVICES 8

struct ctl_sess {
	uint32_t handle; /* the endpoint's session id */
	struct smt_ctl_session meta; /* what smtd knows; keys wiped */
};

/* Control state of one endpoint: its smtd connection, what it serves and
 * the sessions smtd handed it, so that all can be registered again. */
struct ctl_state {
	struct ctl_state *next;
	struct smt_endpoint *ep;
	int fd; /* -1 while smtd is away */
	int tfd; /* reconnect backoff, then the stats push period */
	struct smt_ctl_buf buf;
	int nserv;
	char serv[CTL_MAX_SERVICES][64];
	struct ctl_sess *sess;
	size_t nsess, capsess;
	unsigned int backoff_ms;
	int64_t next_id;
	char err[512]; /* smt_last_error() */
};

static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctl_state *ctl_states;
static __thread char ctl_errbuf[512];

const char *smt_ctl_last_error(void)
{
	return ctl_errbuf;
}

/* The calling thread's last error becomes ep's (smt_last_error); returns
 * err. */
static int keep_error(struct smt_endpoint *ep, int err)
{
	struct ctl_state *st;

	pthread_mutex_lock(&ctl_lock);
	for (st = ctl_states; st; st = st->next)
		if (st->ep == ep)
			snprintf(st->err, sizeof(st->err), "%s",
				 err ? ctl_errbuf : "");
	pthread_mutex_unlock(&ctl_lock);
	return err;
}

const char *smt_last_error(const struct smt_endpoint *ep)
{
	struct ctl_state *st;
	const char *e = NULL;

	pthread_mutex_lock(&ctl_lock);
	for (st = ctl_states; st; st = st->next)
		if (st->ep == ep)
			e = st->err;
	pthread_mutex_unlock(&ctl_lock);
	/* no state yet: the failure came before smtd was asked, in this
	 * thread */
	return e ? e : ctl_errbuf;
}

static void set_error(const char *msg)
{
	snprintf(ctl_errbuf, sizeof(ctl_errbuf), "%s", msg ? msg : "");
}

static void arm(struct ctl_state *st, unsigned int ms, bool periodic)
{
	struct itimerspec its = {0};

	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	if (periodic)
		its.it_interval = its.it_value;
	timerfd_settime(st->tfd, 0, &its, NULL);
}

static json_object *new_req(struct ctl_state *st, const char *op)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "op", json_object_new_string(op));
	json_object_object_add(o, "id", json_object_new_int64(++st->next_id));
	return o;
}

static void disconnect(struct ctl_state *st)
{
	if (st->fd < 0)
		return;
	smt_ep_unwatch_fd(st->ep, st->fd);
	close(st->fd);
	st->fd = -1;
	st->buf.len = 0;
	st->backoff_ms = CTL_BACKOFF_MIN_MS;
	arm(st, st->backoff_ms, false);
}

static void params_from(const struct smt_ctl_session *s,
			struct smt_session_params *p)
{
	static const uint16_t suites[] = {
		[SMT_CIPHER_AES_128_GCM] = SMT_TLS_AES_128_GCM_SHA256,
		[SMT_CIPHER_AES_256_GCM] = SMT_TLS_AES_256_GCM_SHA384,
		[SMT_CIPHER_CHACHA20_POLY1305] =
			SMT_TLS_CHACHA20_POLY1305_SHA256,
	};

	memset(p, 0, sizeof(*p));
	p->sz = sizeof(*p);
	p->peer = s->peer;
	p->suite = suites[s->keys.cipher];
	p->tls_client = s->tls_client;
	p->epoch = s->epoch;
	p->B = s->B;
	p->max_msg = s->max_msg;
	p->max_pad = s->max_pad;
	p->key_len = s->keys.key_len;
	memcpy(p->c_key, s->keys.c_key, s->keys.key_len);
	memcpy(p->s_key, s->keys.s_key, s->keys.key_len);
	memcpy(p->c_iv, s->keys.c_iv, SMT_IV_LEN);
	memcpy(p->s_iv, s->keys.s_iv, SMT_IV_LEN);
}

static void tell_closed(struct ctl_state *st, uint32_t sid);

static bool same_peer(const struct sockaddr_storage *a,
		      const struct sockaddr_storage *b)
{
	char x[INET6_ADDRSTRLEN], y[INET6_ADDRSTRLEN];

	return a->ss_family == b->ss_family &&
	       smt_ctl_port(a) == smt_ctl_port(b) &&
	       !strcmp(smt_ctl_addr_str(a, x, sizeof(x)),
		       smt_ctl_addr_str(b, y, sizeof(y)));
}

/*
 * Removes the endpoint's session with peer, and tells smtd if it was ours.
 * smtd normally removed it already (session_del before the new session);
 * this covers sessions the application added itself. Every session is
 * looked at, however many the endpoint holds.
 */
static void replace_peer(struct ctl_state *st,
			 const struct sockaddr_storage *peer)
{
	struct smt_session_params p;
	uint32_t *ids;
	size_t i;
	int n, m, k;

	for (i = 0; i < st->nsess; i++)
		if (same_peer(&st->sess[i].meta.peer, peer)) {
			smt_session_remove(st->ep, st->sess[i].handle);
			tell_closed(st, st->sess[i].meta.sid);
			st->sess[i] = st->sess[--st->nsess];
			return;
		}
	n = smt_ep_sessions(st->ep, NULL, 0);
	ids = n > 0 ? calloc(n, sizeof(*ids)) : NULL;
	if (!ids)
		return;
	m = smt_ep_sessions(st->ep, ids, n);
	for (k = 0; k < n && k < m; k++) {
		p.sz = sizeof(p);
		if (smt_ep_session_params(st->ep, ids[k], &p))
			continue;
		smt_session_params_wipe(&p);
		if (same_peer(&p.peer, peer)) {
			smt_session_remove(st->ep, ids[k]);
			break;
		}
	}
	free(ids);
}

/* Adds the session smtd handed over to the endpoint and remembers it. */
static int install(struct ctl_state *st, struct smt_ctl_session *s,
		   uint32_t *handle)
{
	struct smt_session_params p;
	int err;

	if (st->nsess == st->capsess) {
		size_t cap = st->capsess ? st->capsess * 2 : 8;
		struct ctl_sess *n = realloc(st->sess, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		st->sess = n;
		st->capsess = cap;
	}
	params_from(s, &p);
	err = smt_session_add(st->ep, &p, handle);
	if (err == -EEXIST) {
		/* A new authenticated set-up from the same peer address and
		 * port: the peer started over, so it replaces the old one. */
		replace_peer(st, &s->peer);
		err = smt_session_add(st->ep, &p, handle);
	}
	smt_session_params_wipe(&p);
	OPENSSL_cleanse(&s->keys.c_key,
			sizeof(s->keys) - offsetof(struct smt_keys, c_key));
	if (err)
		return err;
	st->sess[st->nsess].handle = *handle;
	st->sess[st->nsess].meta = *s;
	st->nsess++;
	return 0;
}

static const char *encap_words(unsigned int ipproto)
{
	return ipproto == SMT_IPPROTO_UDP ? "UDP" : "native IP";
}

/*
 * A session smtd hands over must travel as the endpoint's packets do
 * (docs/protocol.md 6.1): in its encapsulation and, natively, with its
 * protocol number. 0, or -EPROTO with a sentence in msg.
 */
static int session_fits(struct smt_endpoint *ep,
			const struct smt_ctl_session *s, char *msg, size_t len)
{
	unsigned int want = smt_ep_ipproto(ep);

	if (s->ipproto == want)
		return 0;
	if (s->ipproto == SMT_IPPROTO_UDP || want == SMT_IPPROTO_UDP)
		snprintf(msg, len,
			 "smtd set up session %u of %s over %s, but this "
			 "endpoint uses %s (every session of an endpoint "
			 "uses the endpoint's encapsulation)",
			 s->sid, s->service, encap_words(s->ipproto),
			 encap_words(want));
	else
		snprintf(msg, len,
			 "smtd set up session %u of %s on IP protocol %u, but "
			 "this endpoint uses protocol %u; make smtd's ipproto "
			 "(smt.conf) and the endpoint's ($SMT_IPPROTO) agree",
			 s->sid, s->service, s->ipproto, want);
	return -EPROTO;
}

/* New epoch keys for a session smtd handed us earlier. */
static int rekey(struct ctl_state *st, struct smt_ctl_session *s)
{
	struct smt_session_params p;
	size_t i;
	int err;

	for (i = 0; i < st->nsess; i++)
		if (st->sess[i].meta.sid == s->sid)
			break;
	if (i == st->nsess)
		return -SMT_E_NOSESSION;
	params_from(s, &p);
	err = smt_ep_session_rekey(st->ep, st->sess[i].handle, &p);
	smt_session_params_wipe(&p);
	if (err)
		return err;
	st->sess[i].meta.epoch = s->epoch;
	st->sess[i].meta.created = s->created;
	st->sess[i].meta.lifetime_s = s->lifetime_s;
	return 0;
}

static void tell_closed(struct ctl_state *st, uint32_t sid)
{
	json_object *o = new_req(st, "closed");

	json_object_object_add(o, "sid", json_object_new_int64(sid));
	if (st->fd >= 0 && smt_ctl_send(st->fd, o, 1000))
		disconnect(st);
	json_object_put(o);
}

/* Pushed by smtd: a new session of a served service, or a deletion. */
static void on_push(json_object *m, void *arg)
{
	struct ctl_state *st = arg;
	const char *ev = smt_ctl_str(m, "event", "");
	struct smt_ctl_session s;
	const char *why = "";
	json_object *js, *ack;
	uint32_t handle = 0;
	char msg[300] = "";
	size_t i;
	int err = -EINVAL;

	if (!strcmp(ev, "session_del")) {
		int64_t sid = smt_ctl_int(m, "sid", -1);

		for (i = 0; i < st->nsess; i++)
			if (st->sess[i].meta.sid == sid) {
				smt_session_remove(st->ep, st->sess[i].handle);
				st->sess[i] = st->sess[--st->nsess];
				break;
			}
		return;
	}
	if (strcmp(ev, "session") && strcmp(ev, "rekey"))
		return;
	if (json_object_object_get_ex(m, "session", &js) &&
	    !smt_ctl_session_from_json(js, &s, true, &why)) {
		err = session_fits(st->ep, &s, msg, sizeof(msg));
		if (err)
			; /* refused below with msg */
		else if (!strcmp(ev, "rekey"))
			err = rekey(st, &s);
		else
			err = install(st, &s, &handle);
	}
	OPENSSL_cleanse(&s, sizeof(s));
	ack = json_object_new_object();
	json_object_object_add(ack, "op", json_object_new_string("ack"));
	json_object_object_add(
		ack, "push", json_object_new_int64(smt_ctl_int(m, "push", -1)));
	json_object_object_add(ack, "ok", json_object_new_boolean(!err));
	if (err)
		json_object_object_add(
			ack, "error",
			json_object_new_string(*msg ? msg : smt_strerror(err)));
	if (st->fd >= 0 && smt_ctl_send(st->fd, ack, 1000))
		disconnect(st);
	json_object_put(ack);
	if (!err && handle)
		smt_ep_notify_session_up(st->ep, handle);
}

static void on_readable(struct smt_endpoint *ep, int fd, void *arg)
{
	struct ctl_state *st = arg;
	json_object *m;
	int r;

	r = smt_ctl_fill(&st->buf, fd);
	if (r == 0 || (r < 0 && r != -EAGAIN)) {
		disconnect(st);
		return;
	}
	while (st->fd >= 0 && (r = smt_ctl_next(&st->buf, &m)) != 0) {
		if (r == 1)
			on_push(m, st);
		json_object_put(m);
	}
}

static int call(struct ctl_state *st, json_object *req, json_object **resp)
{
	int err = smt_ctl_call(st->fd, &st->buf, req, resp, CTL_CALL_MS,
			       on_push, st);
	json_object *m;
	int r;

	json_object_put(req);
	if (err) {
		set_error("lost the connection to smtd");
		disconnect(st);
		return -SMT_E_NOSMTD;
	}
	/* pushes read together with the response: epoll will not report
	 * those bytes again, so handle them now */
	while (st->fd >= 0 && (r = smt_ctl_next(&st->buf, &m)) != 0) {
		if (r == 1)
			on_push(m, st);
		json_object_put(m);
	}
	if (!smt_ctl_bool(*resp, "ok", false)) {
		int64_t code = smt_ctl_int(*resp, "code", 0);

		set_error(smt_ctl_str(*resp, "error", "refused by smtd"));
		json_object_put(*resp);
		*resp = NULL;
		if (code == EACCES || code == EPERM)
			return -EACCES;
		if (code == EINVAL)
			return -EINVAL;
		if (code == SMT_E_LIMIT)
			return -SMT_E_LIMIT;
		return -SMT_E_REFUSED;
	}
	return 0;
}

static int do_connect(struct ctl_state *st)
{
	int fd = smt_ctl_open(NULL, false);

	if (fd < 0)
		return fd;
	st->fd = fd;
	st->buf.len = 0;
	if (smt_ep_watch_fd(st->ep, fd, on_readable, st)) {
		close(fd);
		st->fd = -1;
		return -EIO;
	}
	arm(st, CTL_STATS_MS, true);
	return 0;
}

/* The endpoint's encapsulation, as requests name it. */
static json_object *encap_json(struct smt_endpoint *ep)
{
	const char *e = smt_encap_name(smt_endpoint_encap(ep));

	return json_object_new_string(e ? e : "ip");
}

/* A serve request: the service, the endpoint's SMT port and encap. */
static json_object *serve_req(struct ctl_state *st, const char *service)
{
	json_object *req = new_req(st, "serve");

	json_object_object_add(req, "service", json_object_new_string(service));
	json_object_object_add(req, "port",
			       json_object_new_int(smt_endpoint_port(st->ep)));
	json_object_object_add(req, "encap", encap_json(st->ep));
	return req;
}

/* After a reconnect: serve again, register every live session again. */
static void reregister(struct ctl_state *st)
{
	struct smt_session_params p;
	json_object *req, *resp;
	size_t i;
	int k;

	for (k = 0; k < st->nserv && st->fd >= 0; k++) {
		req = serve_req(st, st->serv[k]);
		if (!call(st, req, &resp))
			json_object_put(resp);
	}
	for (i = 0; i < st->nsess && st->fd >= 0;) {
		p.sz = sizeof(p);
		if (smt_ep_session_params(st->ep, st->sess[i].handle, &p)) {
			/* the application removed it meanwhile */
			st->sess[i] = st->sess[--st->nsess];
			continue;
		}
		smt_session_params_wipe(&p);
		req = new_req(st, "register");
		json_object_object_add(
			req, "session",
			smt_ctl_session_to_json(&st->sess[i].meta, false));
		if (!call(st, req, &resp))
			json_object_put(resp);
		i++;
	}
}

static json_object *stats_json(struct smt_endpoint *ep)
{
	struct smt_stats s = {.sz = sizeof(s)};
	json_object *o, *drops;
	const char *name;
	unsigned int i;

	if (smt_stats_get(ep, 0, &s))
		return NULL;
	o = json_object_new_object();
#define F(f) json_object_object_add(o, #f, json_object_new_int64(s.f))
	F(tx_packets);
	F(tx_bytes);
	F(rx_packets);
	F(rx_bytes);
	F(tx_msgs);
	F(rx_msgs);
	F(tx_retransmits);
	F(rpcs_ok);
	F(rpcs_failed);
	F(drops_total);
	F(rx_icmp_errors);
	F(tx_calls);
	F(rx_calls);
	F(tx_gso_sends);
	F(tx_gso_segments);
	F(tx_gso_fallback);
	F(rx_gro_bufs);
	F(rx_gro_segments);
#undef F
	drops = json_object_new_object();
	for (i = 0; i < SMT_STATS_DROP_SLOTS; i++) {
		name = smt_drop_reason_name(i);
		if (!name)
			break;
		if (i && s.drops[i])
			json_object_object_add(
				drops, name, json_object_new_int64(s.drops[i]));
	}
	json_object_object_add(o, "drops", drops);
	return o;
}

static void on_timer(struct smt_endpoint *ep, int fd, void *arg)
{
	struct ctl_state *st = arg;
	uint64_t n;
	json_object *o, *js;
	size_t i;

	if (read(fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return;
	if (st->fd < 0) {
		if (do_connect(st)) {
			st->backoff_ms *= 2;
			if (st->backoff_ms > CTL_BACKOFF_MAX_MS)
				st->backoff_ms = CTL_BACKOFF_MAX_MS;
			arm(st, st->backoff_ms, false);
			return;
		}
		reregister(st);
		return;
	}
	/* sessions the application removed itself: tell smtd */
	for (i = 0; i < st->nsess;) {
		struct smt_session_params p = {.sz = sizeof(p)};

		if (smt_ep_session_params(st->ep, st->sess[i].handle, &p)) {
			tell_closed(st, st->sess[i].meta.sid);
			st->sess[i] = st->sess[--st->nsess];
			continue;
		}
		smt_session_params_wipe(&p);
		i++;
	}
	js = stats_json(ep);
	if (!js || st->fd < 0) {
		json_object_put(js);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "event", json_object_new_string("app_stats"));
	json_object_object_add(o, "stats", js);
	if (smt_ctl_send(st->fd, o, 1000))
		disconnect(st);
	json_object_put(o);
}

/* The endpoint's control state, connected; created on first use. */
static int get_state(struct smt_endpoint *ep, struct ctl_state **out)
{
	struct ctl_state *st;
	int err;

	pthread_mutex_lock(&ctl_lock);
	for (st = ctl_states; st; st = st->next)
		if (st->ep == ep)
			break;
	/*
	 * A state whose timer fd this endpoint does not watch belongs to an
	 * endpoint that was closed (without smt_ctl_endpoint_closed) and
	 * whose memory ep now reuses: start over.
	 */
	if (st && smt_ep_watch_fd(ep, st->tfd, on_timer, st) != -EEXIST) {
		smt_ep_unwatch_fd(ep, st->tfd);
		if (st->fd >= 0)
			close(st->fd);
		st->fd = -1;
		st->buf.len = 0;
		st->nserv = 0;
		st->nsess = 0;
		if (smt_ep_watch_fd(ep, st->tfd, on_timer, st)) {
			pthread_mutex_unlock(&ctl_lock);
			return -EIO;
		}
	}
	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st) {
			pthread_mutex_unlock(&ctl_lock);
			return -ENOMEM;
		}
		st->ep = ep;
		st->fd = -1;
		st->tfd = timerfd_create(CLOCK_MONOTONIC,
					 TFD_NONBLOCK | TFD_CLOEXEC);
		if (st->tfd < 0 || smt_ep_watch_fd(ep, st->tfd, on_timer, st)) {
			if (st->tfd >= 0)
				close(st->tfd);
			free(st);
			pthread_mutex_unlock(&ctl_lock);
			return -EIO;
		}
		st->next = ctl_states;
		ctl_states = st;
	}
	pthread_mutex_unlock(&ctl_lock);
	*out = st;
	if (st->fd >= 0)
		return 0;
	err = do_connect(st);
	if (err) {
		snprintf(ctl_errbuf, sizeof(ctl_errbuf),
			 "cannot reach smtd at %s: %s", smt_ctl_path(NULL),
			 strerror(-err));
		return -SMT_E_NOSMTD;
	}
	return 0;
}

void smt_ctl_endpoint_closed(struct smt_endpoint *ep)
{
	struct ctl_state **p, *st;

	pthread_mutex_lock(&ctl_lock);
	for (p = &ctl_states; (st = *p) != NULL; p = &st->next)
		if (st->ep == ep) {
			*p = st->next;
			break;
		}
	pthread_mutex_unlock(&ctl_lock);
	if (!st)
		return;
	/* the endpoint is going away: no unwatch, just close our fds */
	if (st->fd >= 0)
		close(st->fd);
	close(st->tfd);
	smt_ctl_buf_free(&st->buf);
	free(st->sess);
	free(st);
}

int smt_connect(struct smt_endpoint *ep, const char *service,
		const char *address, uint32_t *session_out)
{
	struct smt_ctl_session s;
	struct ctl_state *st;
	json_object *req, *resp, *js;
	const char *why = "";
	char numeric[300];
	uint32_t handle;
	int err;

	set_error(NULL);
	if (!ep || !service || !address)
		return -EINVAL;
	if (smt_ep_lanes(ep) > 1) /* smtd keys one endpoint per session */
		return -EOPNOTSUPP;
	/* smtd takes IP addresses only (its loop must not block on DNS):
	 * names are resolved here, in the application's thread */
	err = smt_ctl_resolve(address, numeric, sizeof(numeric), ctl_errbuf,
			      sizeof(ctl_errbuf));
	if (err)
		return keep_error(ep, err == -ENOENT ? -SMT_E_REFUSED : err);
	err = get_state(ep, &st);
	if (err)
		return keep_error(ep, err);
	req = new_req(st, "connect");
	json_object_object_add(req, "service", json_object_new_string(service));
	json_object_object_add(req, "address", json_object_new_string(numeric));
	json_object_object_add(req, "port",
			       json_object_new_int(smt_endpoint_port(ep)));
	json_object_object_add(req, "encap", encap_json(ep));
	err = call(st, req, &resp);
	if (err)
		return keep_error(ep, err);
	err = -EPROTO;
	if (json_object_object_get_ex(resp, "session", &js) &&
	    !smt_ctl_session_from_json(js, &s, true, &why)) {
		err = session_fits(ep, &s, ctl_errbuf, sizeof(ctl_errbuf));
		if (err) {
			tell_closed(st, s.sid); /* smtd and the peer drop it */
		} else {
			err = install(st, &s, &handle);
			if (err) {
				snprintf(ctl_errbuf, sizeof(ctl_errbuf),
					 "cannot add the session to the "
					 "endpoint: %s",
					 smt_strerror(err));
				tell_closed(st, s.sid);
			}
		}
	} else {
		snprintf(ctl_errbuf, sizeof(ctl_errbuf),
			 "smtd answered a bad session (field %s)", why);
	}
	OPENSSL_cleanse(&s, sizeof(s));
	json_object_put(resp);
	if (!err && session_out)
		*session_out = handle;
	return keep_error(ep, err);
}

int smt_serve(struct smt_endpoint *ep, const char *service)
{
	struct ctl_state *st;
	json_object *req, *resp;
	int err, k;

	set_error(NULL);
	if (!ep || !service || strlen(service) >= sizeof(st->serv[0]))
		return -EINVAL;
	if (smt_ep_lanes(ep) > 1) /* smtd keys one endpoint per session */
		return -EOPNOTSUPP;
	err = get_state(ep, &st);
	if (err)
		return keep_error(ep, err);
	req = serve_req(st, service);
	err = call(st, req, &resp);
	if (err)
		return keep_error(ep, err);
	json_object_put(resp);
	keep_error(ep, 0);
	for (k = 0; k < st->nserv; k++)
		if (!strcmp(st->serv[k], service))
			return 0;
	if (st->nserv == CTL_MAX_SERVICES)
		return -ENOSPC;
	strcpy(st->serv[st->nserv++], service);
	return 0;
}
