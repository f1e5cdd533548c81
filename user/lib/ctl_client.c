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
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include <openssl/crypto.h>

#include "ctlproto.h"
#include "endpoint.h"
#include "rpgroup.h"
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
#define CTL_PUSH_READS 64 /* reads of pushes per wake-up (on_readable) */

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
	int tfd; /* reconnect backoff, then the stats push period; made
		    when first set (ctl_timer) */
	bool stats_on; /* tfd runs the stats period of this connection */
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

/* Is fd a raw socket of family and proto? */
static bool raw_of(int fd, int family, unsigned int proto)
{
	int v[3];
	socklen_t l = sizeof(int);
	const int opt[3] = {SO_DOMAIN, SO_TYPE, SO_PROTOCOL};

	for (int i = 0; i < 3; i++)
		if (getsockopt(fd, SOL_SOCKET, opt[i], &v[i], &l))
			return false;
	return v[0] == family && v[1] == SOCK_RAW && v[2] == (int)proto;
}

int smt_ctl_raw_socket(int family, unsigned int proto)
{
	char line[512], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = line, .iov_len = sizeof(line) - 1};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf)};
	json_object *req, *resp = NULL;
	struct cmsghdr *cm;
	int fd, rfd = -1, err;
	ssize_t n;

	fd = smt_ctl_open(NULL, false);
	if (fd < 0)
		return fd;
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("raw_socket"));
	json_object_object_add(req, "id", json_object_new_int(1));
	json_object_object_add(req, "family",
			       json_object_new_int(family == AF_INET6 ? 6 : 4));
	err = smt_ctl_send(fd, req, 1000);
	json_object_put(req);
	if (!err)
		err = wait_fd(fd, POLLIN, 3000);
	if (!err) {
		do
			n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		while (n < 0 && errno == EINTR);
		err = n > 0 ? 0 : n < 0 ? -errno : -EPIPE;
	}
	close(fd);
	if (err)
		return err;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&rfd, CMSG_DATA(cm), sizeof(int));
	line[n] = 0;
	resp = json_tokener_parse(line);
	if (!smt_ctl_bool(resp, "ok", false)) {
		snprintf(ctl_errbuf, sizeof(ctl_errbuf), "%s",
			 smt_ctl_str(resp, "error", "smtd refused"));
		err = -(int)smt_ctl_int(resp, "code", EACCES);
	} else if (rfd < 0 || !raw_of(rfd, family, proto)) {
		err = -EPROTO;
	}
	json_object_put(resp);
	if (err) {
		if (rfd >= 0)
			close(rfd);
		return err;
	}
	return rfd;
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

static void arm_fd(int tfd, unsigned int ms, bool periodic)
{
	struct itimerspec its = {0};

	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	if (periodic)
		its.it_interval = its.it_value;
	timerfd_settime(tfd, 0, &its, NULL);
}

static void on_timer(struct smt_endpoint *ep, int fd, void *arg);

/* The state's timerfd, in the endpoint's epoll set. Made when it is first
 * set, after the first request's answer: smt_connect's request leaves
 * three system calls sooner (docs/smtd.md "The endpoint's own set-up"). */
static int ctl_timer(struct ctl_state *st)
{
	if (st->tfd >= 0)
		return 0;
	st->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (st->tfd < 0)
		return -errno;
	if (smt_ep_watch_fd(st->ep, st->tfd, on_timer, st)) {
		close(st->tfd);
		st->tfd = -1;
		return -EIO;
	}
	return 0;
}

static void arm(struct ctl_state *st, unsigned int ms, bool periodic)
{
	if (!ctl_timer(st))
		arm_fd(st->tfd, ms, periodic);
}

/* The periodic app_stats (and the check for sessions the application
 * removed), once per connection, from its first answer on. */
static void stats_start(struct ctl_state *st)
{
	if (st->fd < 0 || st->stats_on)
		return;
	st->stats_on = true;
	arm(st, CTL_STATS_MS, true);
}

/* stats_start put off (smt_ep_ctl_later): after a connect's answer the
 * application's first request and its answer go before the timer is made
 * and set (a timerfd_settime alone is 10 us or more on these VMs). */
static void stats_later(struct ctl_state *st)
{
	if (st->fd >= 0 && !st->stats_on)
		smt_ep_ctl_later(st->ep);
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
	st->stats_on = false;
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

/* Removes ep's session with peer, whoever added it. */
static void remove_ep_peer(struct smt_endpoint *ep,
			   const struct sockaddr_storage *peer)
{
	struct smt_session_params p;
	uint32_t *ids;
	int n, m, k;

	n = smt_ep_sessions(ep, NULL, 0);
	ids = n > 0 ? calloc(n, sizeof(*ids)) : NULL;
	if (!ids)
		return;
	m = smt_ep_sessions(ep, ids, n);
	for (k = 0; k < n && k < m; k++) {
		p.sz = sizeof(p);
		if (smt_ep_session_params(ep, ids[k], &p))
			continue;
		smt_session_params_wipe(&p);
		if (same_peer(&p.peer, peer)) {
			smt_session_remove(ep, ids[k]);
			break;
		}
	}
	free(ids);
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
	size_t i;

	for (i = 0; i < st->nsess; i++)
		if (same_peer(&st->sess[i].meta.peer, peer)) {
			smt_session_remove(st->ep, st->sess[i].handle);
			tell_closed(st, st->sess[i].meta.sid);
			st->sess[i] = st->sess[--st->nsess];
			return;
		}
	remove_ep_peer(st->ep, peer);
}

/* Wipes a session's key material; its cipher stays (it is registered). */
static void meta_wipe_keys(struct smt_ctl_session *s)
{
	OPENSSL_cleanse(&s->keys.c_key,
			sizeof(s->keys) - offsetof(struct smt_keys, c_key));
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
	meta_wipe_keys(s);
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
static int session_fits(unsigned int want, const struct smt_ctl_session *s,
			char *msg, size_t len)
{
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
	/* a 0-RTT session's tag comes with epoch 1 (re-registered later) */
	if (s->tag[0])
		memcpy(st->sess[i].meta.tag, s->tag, sizeof(s->tag));
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
		err = session_fits(smt_ep_ipproto(st->ep), &s, msg,
				   sizeof(msg));
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

/*
 * Reads what smtd pushed until its socket is empty (at most
 * CTL_PUSH_READS reads a call). One read of the buffer's room (8 KiB, a
 * dozen session pushes) a wake-up made a burst of set-ups wait for the
 * endpoint's packet work between reads (up to EP_WORK_MAX packets, the
 * probes of the very clients whose sessions wait here among them):
 * 60 pushes took 5 rounds and 0.6 s, and clients that had sent their
 * request timed out (docs/smtd.md "Many set-ups at once").
 */
static void on_readable(struct smt_endpoint *ep, int fd, void *arg)
{
	struct ctl_state *st = arg;
	json_object *m;
	unsigned int reads = 0;
	int n, r;

	do {
		n = smt_ctl_fill(&st->buf, fd);
		if (n == 0 || (n < 0 && n != -EAGAIN)) {
			disconnect(st);
			return;
		}
		while (st->fd >= 0 && (r = smt_ctl_next(&st->buf, &m)) != 0) {
			if (r == 1)
				on_push(m, st);
			json_object_put(m);
		}
	} while (n > 0 && st->fd == fd && ++reads < CTL_PUSH_READS);
}

/* An answer with ok false: its error becomes this thread's last error,
 * *resp is dropped and the code mapped (docs/control-protocol.md). */
static int resp_error(json_object **resp)
{
	int64_t code;

	if (smt_ctl_bool(*resp, "ok", false))
		return 0;
	code = smt_ctl_int(*resp, "code", 0);
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

/* Pushes read together with a response: epoll will not report those bytes
 * again, so they are handled once the caller has acted on the response. */
static void drain_pushes(struct ctl_state *st)
{
	json_object *m;
	int r;

	while (st->fd >= 0 && (r = smt_ctl_next(&st->buf, &m)) != 0) {
		if (r == 1)
			on_push(m, st);
		json_object_put(m);
	}
}

/*
 * One request and its response. Pushes that came before the response are
 * handled in smt_ctl_call; those read with it stay in the buffer until the
 * caller's drain_pushes(): smtd sends them after the response, and they may
 * be about what the response brought (a connect's epoch 1 "rekey", or its
 * "session_del", right behind the connect's answer of a 0-RTT set-up).
 */
static int call_keep(struct ctl_state *st, json_object *req, json_object **resp)
{
	int err = smt_ctl_call(st->fd, &st->buf, req, resp, CTL_CALL_MS,
			       on_push, st);

	json_object_put(req);
	if (err) {
		set_error("lost the connection to smtd");
		disconnect(st);
		return -SMT_E_NOSMTD;
	}
	return resp_error(resp);
}

static int call(struct ctl_state *st, json_object *req, json_object **resp)
{
	int err = call_keep(st, req, resp);

	drain_pushes(st);
	return err;
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
	return 0; /* the stats period starts with an answer (stats_start) */
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

/* The counters app_stats carries (docs/control-protocol.md). */
#define APP_STATS(F)        \
	F(tx_packets);      \
	F(tx_bytes);        \
	F(rx_packets);      \
	F(rx_bytes);        \
	F(tx_msgs);         \
	F(rx_msgs);         \
	F(tx_retransmits);  \
	F(rpcs_ok);         \
	F(rpcs_failed);     \
	F(drops_total);     \
	F(rx_icmp_errors);  \
	F(tx_calls);        \
	F(rx_calls);        \
	F(tx_gso_sends);    \
	F(tx_gso_segments); \
	F(tx_gso_fallback); \
	F(rx_gro_bufs);     \
	F(rx_gro_segments); \
	F(rx_held);         \
	F(rx_held_replayed)

static json_object *stats_json_of(const struct smt_stats *s)
{
	json_object *o, *drops;
	const char *name;
	unsigned int i;

	o = json_object_new_object();
#define F(f) json_object_object_add(o, #f, json_object_new_int64(s->f))
	APP_STATS(F);
#undef F
	drops = json_object_new_object();
	for (i = 0; i < SMT_STATS_DROP_SLOTS; i++) {
		name = smt_drop_reason_name(i);
		if (!name)
			break;
		if (i && s->drops[i])
			json_object_object_add(
				drops, name,
				json_object_new_int64(s->drops[i]));
	}
	json_object_object_add(o, "drops", drops);
	return o;
}

static json_object *stats_json(struct smt_endpoint *ep)
{
	struct smt_stats s = {.sz = sizeof(s)};

	if (smt_stats_get(ep, 0, &s))
		return NULL;
	return stats_json_of(&s);
}

json_object *smt_ctl_stats_json(struct smt_endpoint *ep)
{
	return stats_json(ep);
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
		stats_start(st);
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

static void ctl_endpoint_closed(struct smt_endpoint *ep);
static void ctl_group_work(struct smt_endpoint *ep);

static void ctl_later(struct smt_endpoint *ep)
{
	struct ctl_state *st;

	pthread_mutex_lock(&ctl_lock);
	for (st = ctl_states; st && st->ep != ep; st = st->next)
		;
	pthread_mutex_unlock(&ctl_lock);
	if (st)
		stats_start(st);
}

/* What api.c calls back once smtd is used (endpoint.h). */
static const struct smt_ctl_hooks ctl_hooks = {
	.endpoint_closed = ctl_endpoint_closed,
	.group_work = ctl_group_work,
	.later = ctl_later,
};

/* Whether ep watches st's fds: not when st belongs to an endpoint that
 * was closed (without ctl_endpoint_closed) and whose memory ep reuses. A
 * state that never connected has none, and nothing to start over. */
static bool ep_owns(struct smt_endpoint *ep, struct ctl_state *st)
{
	int fd = st->tfd >= 0 ? st->tfd : st->fd;

	if (fd < 0 || smt_ep_watch_fd(ep, fd, on_timer, st) == -EEXIST)
		return true;
	smt_ep_unwatch_fd(ep, fd); /* the probe added it */
	return false;
}

/* The endpoint's control state, connected; created on first use. */
static int get_state(struct smt_endpoint *ep, struct ctl_state **out)
{
	struct ctl_state *st;
	int err;

	smt_ep_ctl_hooks(&ctl_hooks);
	pthread_mutex_lock(&ctl_lock);
	for (st = ctl_states; st; st = st->next)
		if (st->ep == ep)
			break;
	if (st && !ep_owns(ep, st)) { /* start over */
		if (st->fd >= 0)
			close(st->fd);
		st->fd = -1;
		st->buf.len = 0;
		st->nserv = 0;
		st->nsess = 0;
		st->stats_on = false;
		if (st->tfd >= 0 &&
		    smt_ep_watch_fd(ep, st->tfd, on_timer, st)) {
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
		st->fd = st->tfd = -1;
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

static void group_member_closed(struct smt_endpoint *ep);

/* smt_endpoint_close (through hooks): forget ep's control state. */
static void ctl_endpoint_closed(struct smt_endpoint *ep)
{
	struct ctl_state **p, *st;

	if (smt_ep_lanes(ep) > 1) {
		group_member_closed(ep);
		return;
	}

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
	if (st->tfd >= 0)
		close(st->tfd);
	smt_ctl_buf_free(&st->buf);
	free(st->sess);
	free(st);
}

/* ---- endpoint groups ---------------------------------------------------- */

/*
 * The endpoints of one reuseport group (smt_endpoint_open_group) share one
 * control connection, owned by the group: one `serve` or `connect` names
 * the group's port, and smtd sees one application (docs/smtd.md, "Endpoint
 * groups"). A thread of the group's own reads the connection; every
 * session smtd hands over (or a member's smt_connect() got) goes to every
 * open member as an item in the member's inbox, which the member applies
 * in its own thread (smt_process, woken by smt_rpg_ctl_kick): endpoints
 * are not thread-safe, so nobody else touches them. A pushed session or
 * re-key is acknowledged to smtd when every open member applied it. The
 * connection lives until the group's last member closes.
 */

enum gitem_kind { GI_ADD, GI_REKEY, GI_DEL };

/* A push smtd waits an ack for: done when every member applied it. */
struct gpush {
	int64_t push;
	unsigned int left;
	int err;
	char msg[300];
};

/* A session of the group: what smtd knows, the members' handles. */
struct gsess {
	struct gsess *next;
	struct smt_ctl_session meta; /* keys wiped */
	unsigned int refs; /* the list's and the items' */
	bool listed;
	bool quiet_lane_set; /* no SESSION_UP for quiet_lane (its connect) */
	unsigned int quiet_lane;
	uint32_t handle[]; /* per lane, 0: none */
};

struct gitem {
	struct gitem *next;
	enum gitem_kind kind;
	struct gsess *gs;
	struct gpush *gp; /* NULL: nothing to acknowledge */
	struct smt_ctl_session s; /* ADD, REKEY: with keys */
};

struct ctl_group {
	struct ctl_group *next;
	struct smt_rpg *g;
	unsigned int n; /* lanes */
	uint16_t port; /* the group's SMT port */
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond; /* a call's answer, a call slot free */
	pthread_t thread;
	bool stop;
	int fd; /* -1 while smtd is away */
	int tfd; /* reconnect backoff, then the 1 s period */
	int wfd; /* wakes the thread */
	struct smt_ctl_buf buf;
	int64_t next_id;
	unsigned int backoff_ms;
	int nserv;
	char serv[CTL_MAX_SERVICES][64];
	struct gsess *sess;
	bool call_busy;
	int64_t want_id;
	json_object *resp;
	/* a call's answer is being acted on: greadable leaves the pushes
	 * read behind it until gcall_end() (they may be about it) */
	bool resp_held;
	unsigned int nalive;
	bool *alive;
	struct gitem **inbox;
	bool *scan; /* the member checks its sessions, reports counters */
	struct smt_stats *stats; /* each member's last counters */
};

static struct ctl_group *ctl_groups; /* under ctl_lock */

static void gs_put(struct ctl_group *cg, struct gsess *gs)
{
	if (--gs->refs)
		return;
	OPENSSL_cleanse(&gs->meta, sizeof(gs->meta));
	free(gs);
	(void)cg;
}

static void gs_unlist(struct ctl_group *cg, struct gsess *gs)
{
	struct gsess **pp;

	for (pp = &cg->sess; *pp; pp = &(*pp)->next)
		if (*pp == gs) {
			*pp = gs->next;
			gs->listed = false;
			gs_put(cg, gs);
			return;
		}
}

static struct gsess *gs_find(struct ctl_group *cg, int64_t sid)
{
	struct gsess *gs;

	for (gs = cg->sess; gs; gs = gs->next)
		if (gs->meta.sid == sid)
			return gs;
	return NULL;
}

static void gdisconnect(struct ctl_group *cg)
{
	static const uint64_t one = 1;

	if (cg->fd < 0)
		return;
	close(cg->fd);
	cg->fd = -1;
	cg->buf.len = 0;
	cg->backoff_ms = CTL_BACKOFF_MIN_MS;
	arm_fd(cg->tfd, cg->backoff_ms, false);
	pthread_cond_broadcast(&cg->cond); /* a waiting call fails */
	if (write(cg->wfd, &one, sizeof(one)) < 0) {
		/* saturated: readable anyway */
	}
}

/* Sends o on the group's connection (and drops it). */
static void gsend(struct ctl_group *cg, json_object *o)
{
	if (cg->fd >= 0 && smt_ctl_send(cg->fd, o, 1000))
		gdisconnect(cg);
	json_object_put(o);
}

static json_object *greq(struct ctl_group *cg, const char *op)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "op", json_object_new_string(op));
	json_object_object_add(o, "id", json_object_new_int64(++cg->next_id));
	return o;
}

/* {"size": n, "members": open ones}: the group in serve and connect. */
static json_object *group_json(struct ctl_group *cg)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "size", json_object_new_int(cg->n));
	json_object_object_add(o, "members", json_object_new_int(cg->nalive));
	return o;
}

static json_object *gserve_req(struct ctl_group *cg, const char *service)
{
	json_object *req = greq(cg, "serve");

	json_object_object_add(req, "service", json_object_new_string(service));
	json_object_object_add(req, "port", json_object_new_int(cg->port));
	json_object_object_add(req, "encap", json_object_new_string("udp"));
	json_object_object_add(req, "group", group_json(cg));
	return req;
}

static void gack(struct ctl_group *cg, int64_t push, int err, const char *msg)
{
	json_object *ack = json_object_new_object();

	json_object_object_add(ack, "op", json_object_new_string("ack"));
	json_object_object_add(ack, "push", json_object_new_int64(push));
	json_object_object_add(ack, "ok", json_object_new_boolean(!err));
	if (err)
		json_object_object_add(
			ack, "error",
			json_object_new_string(*msg ? msg : smt_strerror(err)));
	gsend(cg, ack);
}

static void gtell_closed(struct ctl_group *cg, uint32_t sid)
{
	json_object *o = greq(cg, "closed");

	json_object_object_add(o, "sid", json_object_new_int64(sid));
	gsend(cg, o);
}

/* Queues an item for every open member but `except` (n: none). */
static int genqueue(struct ctl_group *cg, enum gitem_kind kind,
		    struct gsess *gs, struct gpush *gp,
		    const struct smt_ctl_session *s, unsigned int except)
{
	unsigned int lane, k = 0;
	struct gitem *it, **pp;

	for (lane = 0; lane < cg->n; lane++) {
		if (!cg->alive[lane] || lane == except)
			continue;
		it = calloc(1, sizeof(*it));
		if (!it)
			continue; /* that member misses it: a gap, not a leak */
		it->kind = kind;
		it->gs = gs;
		gs->refs++;
		it->gp = gp;
		if (s)
			it->s = *s;
		for (pp = &cg->inbox[lane]; *pp; pp = &(*pp)->next)
			;
		*pp = it;
		k++;
		smt_rpg_ctl_kick(cg->g, lane);
	}
	if (gp)
		gp->left = k;
	return (int)k;
}

/* One member applied (or dropped) an item of a push. */
static void gpush_done(struct ctl_group *cg, struct gitem *it, int err,
		       const char *msg)
{
	struct gpush *gp = it->gp;

	if (!gp)
		return;
	if (err && !gp->err) {
		gp->err = err;
		snprintf(gp->msg, sizeof(gp->msg), "%s", msg);
	}
	if (--gp->left)
		return;
	gack(cg, gp->push, gp->err, gp->msg);
	/* a session some member could not take: nobody keeps it (smtd
	 * refuses the set-up, so it never uses it either) */
	if (gp->err && it->kind == GI_ADD && it->gs->listed) {
		genqueue(cg, GI_DEL, it->gs, NULL, NULL, cg->n);
		gs_unlist(cg, it->gs);
	}
	free(gp);
}

static void gitem_free(struct ctl_group *cg, struct gitem *it)
{
	OPENSSL_cleanse(&it->s, sizeof(it->s));
	gs_put(cg, it->gs);
	free(it);
}

/* Member ep (lane) applies one item; in ep's thread, cg locked. */
static void gapply(struct ctl_group *cg, struct smt_endpoint *ep,
		   unsigned int lane, struct gitem *it)
{
	struct smt_session_params p;
	uint32_t *h = &it->gs->handle[lane];
	char msg[300] = "";
	int err = 0;

	switch (it->kind) {
	case GI_ADD:
		params_from(&it->s, &p);
		err = smt_session_add(ep, &p, h);
		if (err == -EEXIST) {
			/* the peer started over on these ports */
			remove_ep_peer(ep, &it->s.peer);
			err = smt_session_add(ep, &p, h);
		}
		smt_session_params_wipe(&p);
		if (err) {
			*h = 0;
			snprintf(msg, sizeof(msg),
				 "member %u of the endpoint group cannot add "
				 "the session: %s",
				 lane, smt_strerror(err));
		} else if (!it->gs->quiet_lane_set ||
			   it->gs->quiet_lane != lane) {
			smt_ep_notify_session_up(ep, *h);
		}
		break;
	case GI_REKEY:
		params_from(&it->s, &p);
		err = *h ? smt_ep_session_rekey(ep, *h, &p) : -SMT_E_NOSESSION;
		smt_session_params_wipe(&p);
		if (err)
			snprintf(msg, sizeof(msg),
				 "member %u of the endpoint group cannot "
				 "re-key the session: %s",
				 lane, smt_strerror(err));
		break;
	case GI_DEL:
		if (*h)
			smt_session_remove(ep, *h);
		*h = 0;
		break;
	}
	gpush_done(cg, it, err, msg);
}

/* Sessions the application removed from member ep: the group closes
 * them (smtd, the peer and every other member). */
static void gscan(struct ctl_group *cg, struct smt_endpoint *ep,
		  unsigned int lane)
{
	struct smt_session_params p;
	struct gsess *gs, *next;

	for (gs = cg->sess; gs; gs = next) {
		next = gs->next;
		if (!gs->handle[lane])
			continue;
		p.sz = sizeof(p);
		if (!smt_ep_session_params(ep, gs->handle[lane], &p)) {
			smt_session_params_wipe(&p);
			continue;
		}
		gs->handle[lane] = 0;
		gtell_closed(cg, gs->meta.sid);
		genqueue(cg, GI_DEL, gs, NULL, NULL, lane);
		gs_unlist(cg, gs);
	}
	cg->stats[lane].sz = sizeof(cg->stats[lane]);
	smt_stats_get(ep, 0, &cg->stats[lane]);
}

static struct ctl_group *group_of(struct smt_endpoint *ep)
{
	struct smt_rpg *g = smt_ep_group(ep);
	struct ctl_group *cg;

	pthread_mutex_lock(&ctl_lock);
	for (cg = ctl_groups; cg && cg->g != g; cg = cg->next)
		;
	pthread_mutex_unlock(&ctl_lock);
	return cg;
}

/* Member ep's inbox (and the periodic check), cg locked. */
static void gwork(struct ctl_group *cg, struct smt_endpoint *ep)
{
	unsigned int lane = smt_ep_lane(ep);
	struct gitem *it;

	while ((it = cg->inbox[lane])) {
		cg->inbox[lane] = it->next;
		gapply(cg, ep, lane, it);
		gitem_free(cg, it);
	}
	if (cg->scan[lane]) {
		cg->scan[lane] = false;
		gscan(cg, ep, lane);
	}
}

/* smt_process of a group member (through hooks), after a kick. */
static void ctl_group_work(struct smt_endpoint *ep)
{
	struct ctl_group *cg = group_of(ep);

	if (!cg)
		return;
	pthread_mutex_lock(&cg->lock);
	gwork(cg, ep);
	pthread_mutex_unlock(&cg->lock);
}

/* A session or re-key smtd pushed: to every open member. */
static void gpush_session(struct ctl_group *cg, json_object *m, bool rekey)
{
	struct smt_ctl_session s;
	struct gsess *gs = NULL, *old;
	struct gpush *gp;
	const char *why = "";
	json_object *js;
	char msg[300] = "";
	int64_t push = smt_ctl_int(m, "push", -1);
	int err = -EINVAL;

	if (!json_object_object_get_ex(m, "session", &js) ||
	    smt_ctl_session_from_json(js, &s, true, &why)) {
		gack(cg, push, err, "");
		return;
	}
	err = session_fits(SMT_IPPROTO_UDP, &s, msg, sizeof(msg));
	if (!err && rekey) {
		gs = gs_find(cg, s.sid);
		if (!gs)
			err = -SMT_E_NOSESSION;
	} else if (!err) {
		/* a new set-up from the same peer address and port replaces
		 * the old one (smtd sent session_del before, normally) */
		for (old = cg->sess; old; old = old->next)
			if (same_peer(&old->meta.peer, &s.peer))
				break;
		if (old) {
			genqueue(cg, GI_DEL, old, NULL, NULL, cg->n);
			gs_unlist(cg, old);
		}
		gs = calloc(1, sizeof(*gs) + cg->n * sizeof(gs->handle[0]));
		err = gs ? 0 : -ENOMEM;
	}
	gp = err ? NULL : calloc(1, sizeof(*gp));
	if (!err && !gp)
		err = -ENOMEM;
	if (!err && !rekey) {
		gs->meta = s;
		meta_wipe_keys(&gs->meta);
		gs->refs = 1;
		gs->listed = true;
		gs->next = cg->sess;
		cg->sess = gs;
	} else if (!rekey) {
		free(gs);
	}
	if (!err) {
		gp->push = push;
		if (!genqueue(cg, rekey ? GI_REKEY : GI_ADD, gs, gp, &s,
			      cg->n)) {
			free(gp);
			err = -ENOMEM;
			if (!rekey)
				gs_unlist(cg, gs);
		} else if (rekey) {
			gs->meta.epoch = s.epoch;
			gs->meta.created = s.created;
			gs->meta.lifetime_s = s.lifetime_s;
		}
	}
	OPENSSL_cleanse(&s, sizeof(s));
	if (err)
		gack(cg, push, err, msg);
}

static void gpush(struct ctl_group *cg, json_object *m)
{
	const char *ev = smt_ctl_str(m, "event", "");
	struct gsess *gs;

	if (!strcmp(ev, "session_del")) {
		gs = gs_find(cg, smt_ctl_int(m, "sid", -1));
		if (gs) {
			genqueue(cg, GI_DEL, gs, NULL, NULL, cg->n);
			gs_unlist(cg, gs);
		}
	} else if (!strcmp(ev, "session") || !strcmp(ev, "rekey")) {
		gpush_session(cg, m, !strcmp(ev, "rekey"));
	}
}

/* Reads what smtd sent: answers go to the waiting call, pushes out. */
static void greadable(struct ctl_group *cg)
{
	json_object *m;
	int r;

	r = smt_ctl_fill(&cg->buf, cg->fd);
	if (r == 0 || (r < 0 && r != -EAGAIN)) {
		gdisconnect(cg);
		return;
	}
	while (cg->fd >= 0 && (r = smt_ctl_next(&cg->buf, &m)) != 0) {
		if (r == 1 && json_object_object_get_ex(m, "id", NULL)) {
			if (cg->call_busy && !cg->resp &&
			    smt_ctl_int(m, "id", -2) == cg->want_id) {
				cg->resp = json_object_get(m);
				cg->resp_held = true;
				pthread_cond_broadcast(&cg->cond);
				/* a connect's epoch 1 or session_del can
				 * follow its answer in this same read: not
				 * before the caller listed the session */
				while (cg->resp_held && !cg->stop)
					pthread_cond_wait(&cg->cond, &cg->lock);
			}
		} else if (r == 1) {
			gpush(cg, m);
		}
		json_object_put(m);
	}
}

static void gconnected(struct ctl_group *cg)
{
	json_object *req;
	struct gsess *gs;
	int k;

	/* after smtd came back: serve again, register every session (the
	 * answers are not waited for) */
	for (k = 0; k < cg->nserv; k++)
		gsend(cg, gserve_req(cg, cg->serv[k]));
	for (gs = cg->sess; gs && cg->fd >= 0; gs = gs->next) {
		req = greq(cg, "register");
		json_object_object_add(
			req, "session",
			smt_ctl_session_to_json(&gs->meta, false));
		gsend(cg, req);
	}
}

static void gtimer(struct ctl_group *cg)
{
	struct smt_stats sum = {.sz = sizeof(sum)};
	json_object *o;
	unsigned int lane, i;
	uint64_t n;

	if (read(cg->tfd, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return;
	if (cg->fd < 0) {
		cg->fd = smt_ctl_open(NULL, false);
		if (cg->fd < 0) {
			cg->fd = -1;
			cg->backoff_ms *= 2;
			if (cg->backoff_ms > CTL_BACKOFF_MAX_MS)
				cg->backoff_ms = CTL_BACKOFF_MAX_MS;
			arm_fd(cg->tfd, cg->backoff_ms, false);
			return;
		}
		cg->buf.len = 0;
		arm_fd(cg->tfd, CTL_STATS_MS, true);
		gconnected(cg);
		return;
	}
	/* every member checks its sessions; counters of the last period */
	for (lane = 0; lane < cg->n; lane++) {
		if (!cg->alive[lane])
			continue;
#define F(f) sum.f += cg->stats[lane].f
		APP_STATS(F);
#undef F
		for (i = 0; i < SMT_STATS_DROP_SLOTS; i++)
			sum.drops[i] += cg->stats[lane].drops[i];
		cg->scan[lane] = true;
		smt_rpg_ctl_kick(cg->g, lane);
	}
	o = json_object_new_object();
	json_object_object_add(o, "event", json_object_new_string("app_stats"));
	json_object_object_add(o, "stats", stats_json_of(&sum));
	gsend(cg, o);
}

static void *gthread(void *arg)
{
	struct ctl_group *cg = arg;
	struct pollfd p[3];
	uint64_t n;

	pthread_mutex_lock(&cg->lock);
	while (!cg->stop) {
		p[0] = (struct pollfd){.fd = cg->wfd, .events = POLLIN};
		p[1] = (struct pollfd){.fd = cg->tfd, .events = POLLIN};
		p[2] = (struct pollfd){.fd = cg->fd, .events = POLLIN};
		pthread_mutex_unlock(&cg->lock);
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			usleep(10000);
		pthread_mutex_lock(&cg->lock);
		if (p[0].revents && read(cg->wfd, &n, sizeof(n)) < 0) {
			/* nothing to take */
		}
		if (cg->stop)
			break;
		if (p[1].revents)
			gtimer(cg);
		/* the fd polled may have been closed meanwhile */
		if (p[2].revents && p[2].fd >= 0 && p[2].fd == cg->fd)
			greadable(cg);
	}
	pthread_mutex_unlock(&cg->lock);
	return NULL;
}

static void gfree(struct ctl_group *cg)
{
	struct gitem *it;
	struct gsess *gs;
	unsigned int lane;

	for (lane = 0; lane < cg->n; lane++)
		while ((it = cg->inbox[lane])) {
			cg->inbox[lane] = it->next;
			free(it->gp && !--it->gp->left ? it->gp : NULL);
			gitem_free(cg, it);
		}
	while ((gs = cg->sess))
		gs_unlist(cg, gs);
	if (cg->fd >= 0)
		close(cg->fd);
	if (cg->tfd >= 0)
		close(cg->tfd);
	if (cg->wfd >= 0)
		close(cg->wfd);
	smt_ctl_buf_free(&cg->buf);
	json_object_put(cg->resp);
	free(cg->alive);
	free(cg->inbox);
	free(cg->scan);
	free(cg->stats);
	pthread_cond_destroy(&cg->cond);
	pthread_mutex_destroy(&cg->lock);
	smt_rpg_put(cg->g);
	free(cg);
}

/* The group's control state, connected to smtd; made on first use. */
static int group_get(struct smt_endpoint *ep, struct ctl_group **out)
{
	struct smt_rpg *g = smt_ep_group(ep);
	struct ctl_group *cg;
	unsigned int lane;
	int err = -ENOMEM;

	smt_ep_ctl_hooks(&ctl_hooks);
	pthread_mutex_lock(&ctl_lock);
	for (cg = ctl_groups; cg && cg->g != g; cg = cg->next)
		;
	if (cg) {
		pthread_mutex_unlock(&ctl_lock);
		*out = cg;
		return 0;
	}
	cg = calloc(1, sizeof(*cg));
	if (!cg)
		goto fail_unlock;
	cg->g = g;
	smt_rpg_get(g);
	cg->n = smt_ep_lanes(ep);
	cg->port = smt_endpoint_port(ep);
	cg->fd = cg->tfd = cg->wfd = -1;
	pthread_mutex_init(&cg->lock, NULL);
	pthread_cond_init(&cg->cond, NULL);
	cg->alive = calloc(cg->n, sizeof(*cg->alive));
	cg->inbox = calloc(cg->n, sizeof(*cg->inbox));
	cg->scan = calloc(cg->n, sizeof(*cg->scan));
	cg->stats = calloc(cg->n, sizeof(*cg->stats));
	if (!cg->alive || !cg->inbox || !cg->scan || !cg->stats)
		goto fail;
	for (lane = 0; lane < cg->n; lane++) {
		cg->alive[lane] = smt_rpg_alive(g, lane);
		cg->nalive += cg->alive[lane];
	}
	cg->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	cg->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	err = -EIO;
	if (cg->tfd < 0 || cg->wfd < 0)
		goto fail;
	cg->fd = smt_ctl_open(NULL, false);
	if (cg->fd < 0) {
		err = cg->fd;
		cg->fd = -1;
		snprintf(ctl_errbuf, sizeof(ctl_errbuf),
			 "cannot reach smtd at %s: %s", smt_ctl_path(NULL),
			 strerror(-err));
		err = -SMT_E_NOSMTD;
		goto fail;
	}
	arm_fd(cg->tfd, CTL_STATS_MS, true);
	err = -pthread_create(&cg->thread, NULL, gthread, cg);
	if (err)
		goto fail;
	cg->next = ctl_groups;
	ctl_groups = cg;
	pthread_mutex_unlock(&ctl_lock);
	*out = cg;
	return 0;
fail:
	gfree(cg);
fail_unlock:
	pthread_mutex_unlock(&ctl_lock);
	return err;
}

/* One request, its answer; cg locked (released while waiting). */
/* The caller of gcall() has acted on its answer (under cg->lock): the
 * pushes that came behind it may be handled now. */
static void gcall_end(struct ctl_group *cg)
{
	cg->resp_held = false;
	pthread_cond_broadcast(&cg->cond);
}

static int gcall(struct ctl_group *cg, json_object *req, json_object **resp)
{
	struct timespec dl;
	int err = 0;

	*resp = NULL;
	while (cg->call_busy)
		pthread_cond_wait(&cg->cond, &cg->lock);
	if (cg->fd < 0) {
		json_object_put(req);
		set_error("lost the connection to smtd");
		return -SMT_E_NOSMTD;
	}
	cg->call_busy = true;
	cg->want_id = smt_ctl_int(req, "id", -1);
	gsend(cg, req);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += CTL_CALL_MS / 1000;
	while (!cg->resp && cg->fd >= 0 && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&cg->cond, &cg->lock, &dl);
	*resp = cg->resp;
	cg->resp = NULL;
	cg->call_busy = false;
	pthread_cond_broadcast(&cg->cond);
	if (!*resp) {
		set_error("lost the connection to smtd");
		return -SMT_E_NOSMTD;
	}
	return resp_error(resp);
}

static int group_serve(struct smt_endpoint *ep, const char *service)
{
	struct ctl_group *cg;
	json_object *resp;
	int err, k;

	err = group_get(ep, &cg);
	if (err)
		return err;
	pthread_mutex_lock(&cg->lock);
	for (k = 0; k < cg->nserv; k++)
		if (!strcmp(cg->serv[k], service))
			break;
	if (k < cg->nserv) { /* another member asked already */
		pthread_mutex_unlock(&cg->lock);
		return 0;
	}
	err = cg->nserv == CTL_MAX_SERVICES ? -ENOSPC : 0;
	err = err ?: gcall(cg, gserve_req(cg, service), &resp);
	if (!err) {
		json_object_put(resp);
		strcpy(cg->serv[cg->nserv++], service);
	}
	gcall_end(cg);
	pthread_mutex_unlock(&cg->lock);
	return err;
}

static int group_connect(struct smt_endpoint *ep, const char *service,
			 const char *numeric, uint32_t *session_out)
{
	unsigned int lane = smt_ep_lane(ep);
	struct smt_ctl_session s;
	struct ctl_group *cg;
	struct gsess *gs;
	json_object *req, *resp, *js;
	const char *why = "";
	int err;

	err = group_get(ep, &cg);
	if (err)
		return err;
	pthread_mutex_lock(&cg->lock);
	req = greq(cg, "connect");
	json_object_object_add(req, "service", json_object_new_string(service));
	json_object_object_add(req, "address", json_object_new_string(numeric));
	json_object_object_add(req, "port",
			       json_object_new_int(smt_endpoint_port(ep)));
	json_object_object_add(req, "encap", json_object_new_string("udp"));
	json_object_object_add(req, "group", group_json(cg));
	err = gcall(cg, req, &resp);
	if (err)
		goto out;
	err = -EPROTO;
	if (!json_object_object_get_ex(resp, "session", &js) ||
	    smt_ctl_session_from_json(js, &s, true, &why)) {
		snprintf(ctl_errbuf, sizeof(ctl_errbuf),
			 "smtd answered a bad session (field %s)", why);
		json_object_put(resp);
		goto out;
	}
	json_object_put(resp);
	err = session_fits(SMT_IPPROTO_UDP, &s, ctl_errbuf, sizeof(ctl_errbuf));
	gs = err ? NULL
		 : calloc(1, sizeof(*gs) + cg->n * sizeof(gs->handle[0]));
	if (!err && !gs)
		err = -ENOMEM;
	if (err) {
		gtell_closed(cg, s.sid); /* smtd and the peer drop it */
		OPENSSL_cleanse(&s, sizeof(s));
		goto out;
	}
	gs->meta = s;
	meta_wipe_keys(&gs->meta);
	gs->refs = 1;
	gs->listed = true;
	gs->quiet_lane_set = true; /* the caller gets the handle instead */
	gs->quiet_lane = lane;
	gs->next = cg->sess;
	cg->sess = gs;
	/* every member, this one now (what waits in its inbox first) */
	genqueue(cg, GI_ADD, gs, NULL, &s, cg->n);
	OPENSSL_cleanse(&s, sizeof(s));
	gwork(cg, ep);
	err = gs->handle[lane] ? 0 : -ENOMEM;
	if (err) {
		snprintf(ctl_errbuf, sizeof(ctl_errbuf),
			 "cannot add the session to the endpoint");
		gtell_closed(cg, gs->meta.sid);
		genqueue(cg, GI_DEL, gs, NULL, NULL, cg->n);
		gs_unlist(cg, gs);
	} else if (session_out) {
		*session_out = gs->handle[lane];
	}
out:
	gcall_end(cg);
	pthread_mutex_unlock(&cg->lock);
	return err;
}

/* A member closes: the others keep the group's sessions; the last one
 * closes the connection (smtd ends the sessions). */
static void group_member_closed(struct smt_endpoint *ep)
{
	struct ctl_group *cg = group_of(ep), **pp;
	unsigned int lane = smt_ep_lane(ep);
	struct gitem *it;
	struct gsess *gs;
	json_object *o;
	bool last;

	if (!cg)
		return;
	pthread_mutex_lock(&cg->lock);
	if (cg->alive[lane]) {
		cg->alive[lane] = false;
		cg->nalive--;
	}
	while ((it = cg->inbox[lane])) {
		cg->inbox[lane] = it->next;
		gpush_done(cg, it, 0, "");
		gitem_free(cg, it);
	}
	for (gs = cg->sess; gs; gs = gs->next)
		gs->handle[lane] = 0;
	last = !cg->nalive;
	if (!last) {
		o = json_object_new_object();
		json_object_object_add(o, "event",
				       json_object_new_string("group"));
		json_object_object_add(o, "members",
				       json_object_new_int(cg->nalive));
		gsend(cg, o);
	} else {
		static const uint64_t one = 1;

		cg->stop = true;
		pthread_cond_broadcast(&cg->cond);
		if (write(cg->wfd, &one, sizeof(one)) < 0) {
			/* saturated: readable anyway */
		}
	}
	pthread_mutex_unlock(&cg->lock);
	if (!last)
		return;
	pthread_join(cg->thread, NULL);
	pthread_mutex_lock(&ctl_lock);
	for (pp = &ctl_groups; *pp; pp = &(*pp)->next)
		if (*pp == cg) {
			*pp = cg->next;
			break;
		}
	pthread_mutex_unlock(&ctl_lock);
	gfree(cg);
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
	/* smtd takes IP addresses only (its loop must not block on DNS):
	 * names are resolved here, in the application's thread */
	err = smt_ctl_resolve(address, numeric, sizeof(numeric), ctl_errbuf,
			      sizeof(ctl_errbuf));
	if (err)
		return keep_error(ep, err == -ENOENT ? -SMT_E_REFUSED : err);
	if (smt_ep_lanes(ep) > 1) /* for every member of the group */
		return group_connect(ep, service, numeric, session_out);
	err = get_state(ep, &st);
	if (err)
		return keep_error(ep, err);
	req = new_req(st, "connect");
	json_object_object_add(req, "service", json_object_new_string(service));
	json_object_object_add(req, "address", json_object_new_string(numeric));
	json_object_object_add(req, "port",
			       json_object_new_int(smt_endpoint_port(ep)));
	json_object_object_add(req, "encap", encap_json(ep));
	err = call_keep(st, req, &resp);
	if (err) {
		drain_pushes(st);
		stats_later(st);
		return keep_error(ep, err);
	}
	err = -EPROTO;
	if (json_object_object_get_ex(resp, "session", &js) &&
	    !smt_ctl_session_from_json(js, &s, true, &why)) {
		err = session_fits(smt_ep_ipproto(ep), &s, ctl_errbuf,
				   sizeof(ctl_errbuf));
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
	drain_pushes(st); /* after install: they may be about this session */
	stats_later(st);
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
	if (smt_ep_lanes(ep) > 1) /* for every member of the group */
		return group_serve(ep, service);
	err = get_state(ep, &st);
	if (err)
		return keep_error(ep, err);
	req = serve_req(st, service);
	err = call(st, req, &resp);
	stats_later(st);
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
