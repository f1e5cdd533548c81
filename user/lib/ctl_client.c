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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ctlproto.h"

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
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
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
	struct pollfd p = { .fd = fd, .events = ev };
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
	s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE);
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
	const void *a = sa->ss_family == AF_INET6 ?
				(const void *)&((const struct sockaddr_in6 *)sa)
					->sin6_addr :
				(const void *)&((const struct sockaddr_in *)sa)
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
	json_object_object_add(o, "port", json_object_new_int(smt_ctl_port(sa)));
	return o;
}

json_object *smt_ctl_session_to_json(const struct smt_ctl_session *s,
				     bool with_keys)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "sid", json_object_new_int64(s->sid));
	json_object_object_add(o, "service", json_object_new_string(s->service));
	json_object_object_add(o, "role",
			       json_object_new_string(s->tls_client ? "client" :
								      "server"));
	json_object_object_add(o, "local", endpoint_json(&s->local));
	json_object_object_add(o, "peer", endpoint_json(&s->peer));
	json_object_object_add(
		o, "cipher",
		json_object_new_string(smt_cipher_name(s->keys.cipher)));
	json_object_object_add(o, "ipproto", json_object_new_int(s->ipproto));
	json_object_object_add(o, "B", json_object_new_int(s->B));
	json_object_object_add(o, "epoch", json_object_new_int(s->epoch));
	json_object_object_add(o, "max_msg", json_object_new_int64(s->max_msg));
	json_object_object_add(o, "max_pad", json_object_new_int64(s->max_pad));
	json_object_object_add(o, "lifetime",
			       json_object_new_int64(s->lifetime_s));
	json_object_object_add(o, "created", json_object_new_int64(s->created));
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
#define BAD(f)                     \
	do {                       \
		*err = f;          \
		goto fail;         \
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
