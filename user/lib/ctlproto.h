/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The smtd control-socket protocol (docs/control-protocol.md), shared by
 * smtd, smtctl and libsmt's ctl_client.c: newline-delimited JSON objects over
 * a Unix stream socket, every message carrying "v": SMT_CTL_VERSION. This
 * header holds the framing helpers and the JSON form of a session (with or
 * without its keys); ctl_client.c implements them. Internal to the project,
 * not part of the public libsmt.h API.
 */
#ifndef SMT_CTLPROTO_H
#define SMT_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <json-c/json.h>

#include "keys.h"

#define SMT_CTL_VERSION 1
#define SMT_CTL_SOCK_DEFAULT "/run/smt/smtd.sock"
#define SMT_CTL_SOCK_ENV "SMT_CTL_SOCKET"
#define SMT_CTL_MAX_LINE 65536 /* one message, newline included */

/* Buffered reader of one control connection. */
struct smt_ctl_buf {
	char *data;
	size_t len, cap;
};

/* path, else $SMT_CTL_SOCKET, else SMT_CTL_SOCK_DEFAULT. */
const char *smt_ctl_path(const char *path);
/* Connected, close-on-exec Unix stream socket; fd or -errno. */
int smt_ctl_open(const char *path, bool nonblock);
/* Write msg (adds "v") as one line; handles short writes and EAGAIN by
 * polling up to timeout_ms. 0 or -errno. msg is not consumed. */
int smt_ctl_send(int fd, json_object *msg, int timeout_ms);
/*
 * Read what fd has (once) into b. Returns bytes read (> 0), 0 at EOF,
 * -EAGAIN when nothing is there, -EMSGSIZE when a line exceeds
 * SMT_CTL_MAX_LINE, or another -errno.
 */
int smt_ctl_fill(struct smt_ctl_buf *b, int fd);
/*
 * Take the next complete message out of b: 1 and *out (a JSON object; the
 * caller puts it), 0 when no complete line is buffered, -EPROTO when a line
 * is not a JSON object (the line is consumed), -EPROTONOSUPPORT when its "v"
 * is not SMT_CTL_VERSION (*out is still set so that the caller can answer
 * with its id).
 */
int smt_ctl_next(struct smt_ctl_buf *b, json_object **out);
void smt_ctl_buf_free(struct smt_ctl_buf *b);
/* Blocking request/response: send req, wait up to timeout_ms for the
 * response with the same "id" (other messages are handed to other_cb when
 * given, else dropped). 0 or -errno; -ETIMEDOUT on timeout. */
int smt_ctl_call(int fd, struct smt_ctl_buf *b, json_object *req,
		 json_object **resp, int timeout_ms,
		 void (*other_cb)(json_object *msg, void *arg), void *arg);

/* Field helpers; return def when the field is absent or has another type. */
const char *smt_ctl_str(json_object *o, const char *key, const char *def);
int64_t smt_ctl_int(json_object *o, const char *key, int64_t def);
bool smt_ctl_bool(json_object *o, const char *key, bool def);

/* A session as smtd hands it over (docs/control-protocol.md, "session"). */
struct smt_ctl_session {
	uint32_t sid; /* smtd's session id, unique per host */
	char service[64];
	bool tls_client; /* this host initiated the handshake */
	struct sockaddr_storage local, peer; /* addresses and SMT ports */
	unsigned int ipproto, B, epoch;
	uint32_t max_msg, max_pad, lifetime_s;
	int64_t created; /* unix time of the epoch's handshake */
	char peer_cert[65]; /* SHA-256 of the peer's certificate, hex; ""
			     * when it sent none */
	char handshake[80]; /* the peer smtd's handshake address (client
			     * role: as given to connect, for re-keying;
			     * server role: the client smtd's, for CLOSE);
			     * "" when unknown */
	char tag[17]; /* hex of the set-up's exporter tag that names the
		       * session in a CLOSE; "" when unknown */
	struct smt_keys keys;
};

/* with_keys adds the four hex key fields. NULL on ENOMEM. */
json_object *smt_ctl_session_to_json(const struct smt_ctl_session *s,
				     bool with_keys);
/* 0 or -EINVAL; *err names the bad field. need_keys: keys must be there. */
int smt_ctl_session_from_json(json_object *o, struct smt_ctl_session *s,
			      bool need_keys, const char **err);

/*
 * Split "host", "host:port", "[v6]:port" or a bare IPv6 address into host
 * and port ("" when absent). 0 or -EINVAL.
 */
int smt_ctl_split_address(const char *address, char *host, size_t hlen,
			  char *port, size_t plen);
/*
 * The same address with the host resolved (getaddrinfo, blocking) when it
 * is a name: "a.b.c.d[:port]" or "[v6][:port]" into out. 0, -EINVAL for a
 * malformed address, -ENOENT (with a sentence in err) when the name does
 * not resolve.
 */
int smt_ctl_resolve(const char *address, char *out, size_t len, char *err,
		    size_t errlen);
/* "addr" text of sa without port (RFC 5952 for IPv6); returns buf. */
const char *smt_ctl_addr_str(const struct sockaddr_storage *sa, char *buf,
			     size_t len);
uint16_t smt_ctl_port(const struct sockaddr_storage *sa);
/* Parse an address text and a port into sa; 0 or -EINVAL. */
int smt_ctl_addr_parse(const char *addr, uint16_t port,
		       struct sockaddr_storage *sa);

/*
 * libsmt side (ctl_client.c, besides smt_connect/smt_serve of libsmt.h).
 * smt_ctl_last_error: smtd's explanation of the calling thread's last
 * failed smt_connect/smt_serve ("" if none), for tools to print.
 */
struct smt_endpoint;
const char *smt_ctl_last_error(void);
/*
 * A raw IP socket (family AF_INET or AF_INET6) of protocol proto from smtd
 * (op raw_socket, passed with SCM_RIGHTS), for applications without
 * CAP_NET_RAW. The fd (close-on-exec), or -errno: smtd unreachable, refused
 * (its reason in smt_ctl_last_error), or another protocol than proto.
 */
int smt_ctl_raw_socket(int family, unsigned int proto);
/* ep's counters and drops by reason name as libsmt reports them to smtd
 * (app_stats); NULL when they cannot be read. */
json_object *smt_ctl_stats_json(struct smt_endpoint *ep);

#endif /* SMT_CTLPROTO_H */
