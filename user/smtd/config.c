// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtd configuration: the INI file of smt.conf(5), parsed with libinih and
 * validated. Every problem is reported as "FILE:LINE: message" so that
 * `smtd --check-config` can say exactly what to fix. libinih's handler does
 * not receive line numbers in Debian's build, so the reader callback counts
 * lines itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "smt/wire.h"
#include "smtd.h"
#include "util.h"

struct seen_key {
	char section[SMTD_NAME_MAX + 16];
	char key[32];
	int line;
};

struct parse_state {
	struct smtd_config *cfg;
	const char *buf; /* the whole file */
	size_t len, pos;
	int line;
	struct seen_key *seen; /* keys so far, for duplicates */
	int nseen;
	char *err;
	size_t errlen, errused;
	int nerr;
	struct smtd_service *cur_svc;
};

static void cfg_error(struct parse_state *ps, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cfg_error(struct parse_state *ps, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	ps->nerr++;
	if (ps->errused >= ps->errlen)
		return;
	if (line > 0)
		n = snprintf(ps->err + ps->errused, ps->errlen - ps->errused,
			     "%s:%d: ", ps->cfg->path, line);
	else
		n = snprintf(ps->err + ps->errused, ps->errlen - ps->errused,
			     "%s: ", ps->cfg->path);
	if (n > 0)
		ps->errused += n;
	if (ps->errused >= ps->errlen)
		return;
	va_start(ap, fmt);
	n = vsnprintf(ps->err + ps->errused, ps->errlen - ps->errused, fmt, ap);
	va_end(ap);
	if (n > 0)
		ps->errused += n;
	if (ps->errused + 1 < ps->errlen) {
		ps->err[ps->errused++] = '\n';
		ps->err[ps->errused] = 0;
	}
}

static void section_line(struct parse_state *ps, const char *line);

/* An indented line that is not a key = value: libinih would append it to
 * the previous value (a continuation), which smt.conf(5) does not have. */
static bool continuation(const char *l, size_t n)
{
	size_t i = 0;

	if (!n || (l[0] != ' ' && l[0] != '\t'))
		return false;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i == n || l[i] == '\n' || l[i] == '\r' || l[i] == ';' ||
	    l[i] == '#' || l[i] == '[')
		return false;
	return !memchr(l + i, '=', n - i) && !memchr(l + i, ':', n - i);
}

/*
 * libinih's reader: one whole line of the file per call, so that line
 * numbers stay right. A line that does not fit libinih's buffer (num, with
 * its newline and terminator), holds a NUL byte or continues the previous
 * value is reported here and handed on as an empty line.
 */
static char *line_reader(char *str, int num, void *stream)
{
	struct parse_state *ps = stream;
	const char *p = ps->buf + ps->pos, *nl;
	size_t n, body;

	if (ps->pos >= ps->len || num < 3)
		return NULL;
	nl = memchr(p, '\n', ps->len - ps->pos);
	n = nl ? (size_t)(nl - p) + 1 : ps->len - ps->pos;
	body = nl ? n - 1 : n;
	ps->pos += n;
	ps->line++;
	if (body + 2 > (size_t)num) {
		cfg_error(ps, ps->line,
			  "line too long (%zu bytes; at most %d): shorten it",
			  body, num - 2);
	} else if (memchr(p, 0, n)) {
		cfg_error(ps, ps->line, "a NUL byte in the line");
	} else if (continuation(p, body)) {
		cfg_error(ps, ps->line,
			  "an indented line without '=' (smt.conf has no "
			  "continuation lines): put the value on the key's "
			  "line");
	} else {
		memcpy(str, p, n);
		str[n] = 0;
		section_line(ps, str);
		return str;
	}
	strcpy(str, "\n");
	return str;
}

/* A key given twice in one section is an error, not "the last wins". */
static bool duplicate_key(struct parse_state *ps, const char *section,
			  const char *key)
{
	struct seen_key *k;
	int i;

	for (i = 0; i < ps->nseen; i++)
		if (!strcmp(ps->seen[i].section, section) &&
		    !strcmp(ps->seen[i].key, key)) {
			cfg_error(ps, ps->line,
				  "'%s' is set twice in [%s] (first at line "
				  "%d); keep one",
				  key, section, ps->seen[i].line);
			return true;
		}
	if (!(ps->nseen & 63)) {
		k = realloc(ps->seen, (ps->nseen + 64) * sizeof(*k));
		if (!k)
			return false;
		ps->seen = k;
	}
	k = &ps->seen[ps->nseen++];
	snprintf(k->section, sizeof(k->section), "%s", section);
	snprintf(k->key, sizeof(k->key), "%s", key);
	k->line = ps->line;
	return false;
}

/* A number in min..max, with the size suffixes of byte counts (K, M, G,
 * fractions like 1.5M): the tree's one size parser, which checks the bound
 * before it multiplies. */
static bool parse_uint(const char *v, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	char why[128];
	uint64_t x;

	if (util_parse_size(v, max, &x, why, sizeof(why)) || x < min)
		return false;
	*out = x;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
	    !strcasecmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
		 !strcasecmp(v, "off") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

static bool copy_str(char *dst, size_t n, const char *v)
{
	if (strlen(v) >= n)
		return false;
	strcpy(dst, v);
	return true;
}

static int parse_uids(struct parse_state *ps, struct smtd_service *s,
		      const char *v)
{
	char buf[1024], *tok, *save = NULL;

	if (!copy_str(buf, sizeof(buf), v)) {
		cfg_error(ps, ps->line, "uids: list too long");
		return 0;
	}
	s->nuids = 0;
	s->any_uid = false;
	for (tok = strtok_r(buf, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		unsigned long u;
		struct passwd *pw;

		if (!strcmp(tok, "any") || !strcmp(tok, "*")) {
			s->any_uid = true;
			continue;
		}
		if (s->nuids >= SMTD_MAX_UIDS) {
			cfg_error(ps, ps->line, "uids: more than %d entries",
				  SMTD_MAX_UIDS);
			return 0;
		}
		if (parse_uint(tok, 0, UINT_MAX - 1, &u)) {
			s->uids[s->nuids++] = u;
			continue;
		}
		pw = getpwnam(tok);
		if (!pw) {
			cfg_error(ps, ps->line,
				  "uids: '%s' is neither a number nor a user "
				  "name known to this host",
				  tok);
			return 0;
		}
		s->uids[s->nuids++] = pw->pw_uid;
	}
	return 1;
}

/* "ip", "udp", "ip,udp" or "ip udp" into a SMTD_ENCAPS_* mask. */
static void parse_encaps(struct parse_state *ps, const char *v,
			 unsigned int *out)
{
	char buf[64], *tok, *save = NULL;
	unsigned int m = 0;
	enum smt_encap e;

	if (!copy_str(buf, sizeof(buf), v))
		goto bad;
	for (tok = strtok_r(buf, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (smt_encap_parse(tok, &e))
			goto bad;
		m |= 1u << e;
	}
	if (!m)
		goto bad;
	*out = m;
	return;
bad:
	cfg_error(ps, ps->line,
		  "encap: '%s' is not a list of encapsulations; write ip "
		  "(native IP), udp (SMT over UDP) or ip,udp (both, the "
		  "default)",
		  v);
}

static const struct {
	const char *name;
	int level;
} log_levels[] = {
	{"error", LOG_ERR}, {"warning", LOG_WARNING},
	{"info", LOG_INFO}, {"debug", LOG_DEBUG},
	{NULL, 0},
};

/* Returns 1 when the key was known (even with a bad value), 0 otherwise. */
/* [smtd]'s limits: count keys of 1..max. */
static const struct {
	const char *key;
	unsigned long max;
	size_t off;
} limit_keys[] = {
	{"max_sessions", 1000000, offsetof(struct smtd_config, max_sessions)},
	{"max_sessions_per_uid", 1000000,
	 offsetof(struct smtd_config, max_sessions_uid)},
	{"max_control_clients", 100000,
	 offsetof(struct smtd_config, max_ctl_clients)},
	{"max_handshakes", 100000,
	 offsetof(struct smtd_config, max_handshakes)},
};

/* One of limit_keys: set (or reported) and true; else false. */
static bool limit_key(struct parse_state *ps, const char *k, const char *v)
{
	unsigned long u;
	size_t i;

	for (i = 0; i < sizeof(limit_keys) / sizeof(limit_keys[0]); i++) {
		if (strcmp(k, limit_keys[i].key))
			continue;
		if (!parse_uint(v, 1, limit_keys[i].max, &u))
			cfg_error(ps, ps->line, "%s: '%s' is not 1..%lu", k, v,
				  limit_keys[i].max);
		else
			*(unsigned int *)((char *)ps->cfg + limit_keys[i].off) =
				u;
		return true;
	}
	return false;
}

static int key_smtd(struct parse_state *ps, const char *k, const char *v)
{
	struct smtd_config *c = ps->cfg;
	unsigned long u;
	int i;

	if (!strcmp(k, "listen")) {
		if (!copy_str(c->listen_addr, sizeof(c->listen_addr), v))
			cfg_error(ps, ps->line, "listen: address too long");
	} else if (!strcmp(k, "port")) {
		if (!parse_uint(v, 1, 65535, &u))
			cfg_error(ps, ps->line,
				  "port: '%s' is not a TCP port 1..65535", v);
		else
			c->listen_port = u;
	} else if (!strcmp(k, "control_socket")) {
		if (!copy_str(c->ctl_path, sizeof(c->ctl_path), v) || *v != '/')
			cfg_error(ps, ps->line,
				  "control_socket: needs an absolute path "
				  "shorter than %zu bytes",
				  sizeof(c->ctl_path));
	} else if (!strcmp(k, "ipproto")) {
		/* the native number; 17 in a PROPOSE means SMT over UDP */
		if (!parse_uint(v, 1, 254, &u) || u == 6 ||
		    u == SMT_IPPROTO_UDP)
			cfg_error(ps, ps->line,
				  "ipproto: '%s' is not a usable native IP "
				  "protocol number (1..254, not 0, 6 (TCP) or "
				  "17 (UDP); 253 is the default); for SMT over "
				  "UDP write encap = udp instead",
				  v);
		else
			c->ipproto = u;
	} else if (!strcmp(k, "encap")) {
		parse_encaps(ps, v, &c->encaps);
	} else if (!strcmp(k, "log_level")) {
		for (i = 0; log_levels[i].name; i++)
			if (!strcmp(v, log_levels[i].name))
				break;
		if (!log_levels[i].name)
			cfg_error(ps, ps->line,
				  "log_level: '%s' is not one of error, "
				  "warning, info, debug",
				  v);
		else
			c->log_level = log_levels[i].level;
	} else if (!strcmp(k, "handshake_timeout")) {
		if (!parse_uint(v, 1, 300, &u))
			cfg_error(ps, ps->line,
				  "handshake_timeout: '%s' is not 1..300 "
				  "seconds",
				  v);
		else
			c->handshake_timeout_s = u;
	} else if (!strcmp(k, "tcp_fastopen")) {
		if (!parse_bool(v, &c->tcp_fastopen))
			cfg_error(ps, ps->line,
				  "tcp_fastopen: '%s' is not yes or no", v);
	} else if (limit_key(ps, k, v)) {
		/* the counts of [smtd] */
	} else {
		return 0;
	}
	return 1;
}

/* [tls] ticket_lifetime and ticket_cache (docs/protocol.md 6.4) */
static int key_tls_tickets(struct parse_state *ps, const char *k, const char *v)
{
	struct smtd_config *c = ps->cfg;
	unsigned long u;

	if (!strcmp(k, "ticket_cache")) {
		if (!parse_uint(v, 0, 65536, &u))
			cfg_error(ps, ps->line,
				  "ticket_cache: '%s' is not 0..65536 tickets",
				  v);
		else
			c->tls_ticket_cache = u;
	} else if (parse_uint(v, 1, ~0UL, &u) && u > SMTD_TICKET_LIFETIME_MAX) {
		cfg_error(ps, ps->line,
			  "ticket_lifetime: %lu s is above 604800 s (7 days), "
			  "the longest RFC 8446 allows a TLS 1.3 ticket",
			  u);
	} else if (!parse_uint(v, 1, SMTD_TICKET_LIFETIME_MAX, &u)) {
		cfg_error(ps, ps->line,
			  "ticket_lifetime: '%s' is not 1..604800 seconds", v);
	} else {
		c->tls_ticket_lifetime_s = u;
	}
	return 1;
}

static int key_tls(struct parse_state *ps, const char *k, const char *v)
{
	struct smtd_config *c = ps->cfg;
	char *dst = NULL;

	if (!strcmp(k, "cert"))
		dst = c->cert;
	else if (!strcmp(k, "key"))
		dst = c->key;
	else if (!strcmp(k, "ca"))
		dst = c->ca;
	if (dst) {
		if (!copy_str(dst, sizeof(c->cert), v))
			cfg_error(ps, ps->line, "%s: path too long", k);
		return 1;
	}
	if (!strcmp(k, "client_cert")) {
		if (!strcmp(v, "require"))
			c->client_auth = SMTD_CAUTH_REQUIRE;
		else if (!strcmp(v, "optional"))
			c->client_auth = SMTD_CAUTH_OPTIONAL;
		else if (!strcmp(v, "none"))
			c->client_auth = SMTD_CAUTH_NONE;
		else
			cfg_error(ps, ps->line,
				  "client_cert: '%s' is not one of require, "
				  "optional, none",
				  v);
		return 1;
	}
	if (!strcmp(k, "ticket_keys")) {
		if (!copy_str(c->tls_ticket_keys, sizeof(c->tls_ticket_keys),
			      v))
			cfg_error(ps, ps->line, "%s: path too long", k);
		return 1;
	}
	if (!strcmp(k, "ticket_lifetime") || !strcmp(k, "ticket_cache"))
		return key_tls_tickets(ps, k, v);
	if (!strcmp(k, "ciphersuites")) {
		char buf[256], *tok, *save = NULL;

		if (!copy_str(buf, sizeof(buf), v)) {
			cfg_error(ps, ps->line, "ciphersuites: too long");
			return 1;
		}
		c->ciphersuites[0] = 0;
		for (tok = strtok_r(buf, ":, \t", &save); tok;
		     tok = strtok_r(NULL, ":, \t", &save)) {
			enum smt_cipher sc = smt_cipher_from_name(tok);

			if (sc == SMT_CIPHER_NONE) {
				cfg_error(ps, ps->line,
					  "ciphersuites: '%s' is not an SMT "
					  "suite (TLS_AES_128_GCM_SHA256, "
					  "TLS_AES_256_GCM_SHA384, "
					  "TLS_CHACHA20_POLY1305_SHA256)",
					  tok);
				return 1;
			}
			if (c->ciphersuites[0])
				strcat(c->ciphersuites, ":");
			strcat(c->ciphersuites, smt_cipher_name(sc));
		}
		if (!c->ciphersuites[0])
			cfg_error(ps, ps->line, "ciphersuites: empty list");
		return 1;
	}
	return 0;
}

static int key_defaults(struct parse_state *ps, const char *k, const char *v)
{
	struct smtd_config *c = ps->cfg;
	unsigned long u;

	if (!strcmp(k, "B")) {
		if (!parse_uint(v, SMT_B_MIN, SMT_B_MAX, &u))
			cfg_error(ps, ps->line,
				  "B: '%s' is not a message-ID width 40..56",
				  v);
		else
			c->B = u;
	} else if (!strcmp(k, "max_msg")) {
		if (!parse_uint(v, 1, 64UL << 20, &u))
			cfg_error(ps, ps->line,
				  "max_msg: '%s' is not 1..64M bytes", v);
		else
			c->max_msg = u;
	} else if (!strcmp(k, "max_pad")) {
		if (!parse_uint(v, 0, 16383, &u))
			cfg_error(ps, ps->line,
				  "max_pad: '%s' is not 0..16383 bytes", v);
		else
			c->max_pad = u;
	} else if (!strcmp(k, "lifetime")) {
		if (!parse_uint(v, 10, 7UL * 24 * 3600, &u))
			cfg_error(ps, ps->line,
				  "lifetime: '%s' is not 10..604800 seconds",
				  v);
		else
			c->lifetime_s = u;
	} else if (!strcmp(k, "rekey_margin")) {
		if (!parse_uint(v, 0, 3600, &u))
			cfg_error(ps, ps->line,
				  "rekey_margin: '%s' is not 0..3600 seconds",
				  v);
		else
			c->rekey_margin_s = u;
	} else {
		return 0;
	}
	return 1;
}

static int key_bpf(struct parse_state *ps, const char *k, const char *v)
{
	struct smtd_config *c = ps->cfg;

	if (!strcmp(k, "interface")) {
		if (!copy_str(c->bpf_iface, sizeof(c->bpf_iface), v))
			cfg_error(ps, ps->line, "interface: name too long");
	} else if (!strcmp(k, "xdp_mode")) {
		if (strcmp(v, "native") && strcmp(v, "generic") &&
		    strcmp(v, "auto"))
			cfg_error(ps, ps->line,
				  "xdp_mode: '%s' is not one of native, "
				  "generic, auto",
				  v);
		else
			copy_str(c->bpf_xdp_mode, sizeof(c->bpf_xdp_mode), v);
	} else if (!strcmp(k, "session_filter")) {
		if (!parse_bool(v, &c->bpf_session_filter))
			cfg_error(ps, ps->line,
				  "session_filter: '%s' is not yes or no", v);
	} else if (!strcmp(k, "udp_ports")) {
		char why[128];

		if (smtd_bpf_check_udp_ports(v, why, sizeof(why)))
			cfg_error(ps, ps->line, "udp_ports: %s", why);
		else if (!copy_str(c->bpf_udp_ports, sizeof(c->bpf_udp_ports),
				   v))
			cfg_error(ps, ps->line, "udp_ports: list too long");
	} else {
		return 0;
	}
	return 1;
}

static int key_metrics(struct parse_state *ps, const char *k, const char *v)
{
	struct smtd_config *c = ps->cfg;
	char host[64], port[16];
	unsigned long u;

	if (!strcmp(k, "listen")) {
		c->metrics_listen[0] = 0;
		if (!strcmp(v, "off") || !strcmp(v, "no") || !*v)
			return 1;
		if (smt_ctl_split_address(v, host, sizeof(host), port,
					  sizeof(port)) ||
		    !port[0] || !parse_uint(port, 1, 65535, &u) ||
		    smt_ctl_addr_parse(host, u, &c->metrics_addr) ||
		    !copy_str(c->metrics_listen, sizeof(c->metrics_listen), v))
			cfg_error(ps, ps->line,
				  "listen: '%s' is not ADDRESS:PORT with a "
				  "numeric address, like 127.0.0.1:9470 or "
				  "[::1]:9470 (or off)",
				  v);
	} else if (!strcmp(k, "max_session_series")) {
		if (!parse_uint(v, 0, 100000, &u))
			cfg_error(ps, ps->line,
				  "max_session_series: '%s' is not 0..100000",
				  v);
		else
			c->metrics_max_sessions = u;
	} else if (!strcmp(k, "max_clients")) {
		if (!parse_uint(v, 1, 64, &u))
			cfg_error(ps, ps->line,
				  "max_clients: '%s' is not 1..64", v);
		else
			c->metrics_max_clients = u;
	} else {
		return 0;
	}
	return 1;
}

static int key_service(struct parse_state *ps, const char *k, const char *v)
{
	struct smtd_service *s = ps->cur_svc;
	unsigned long u;

	if (!s)
		return 1; /* section header already reported */
	if (!strcmp(k, "port")) {
		if (!parse_uint(v, 0, 65535, &u))
			cfg_error(ps, ps->line,
				  "port: '%s' is not an SMT port 0..65535", v);
		else
			s->port = u;
	} else if (!strcmp(k, "uids")) {
		parse_uids(ps, s, v);
	} else if (!strcmp(k, "encap")) {
		parse_encaps(ps, v, &s->encaps);
	} else if (!strcmp(k, "ticket_key")) {
		if (!copy_str(s->ticket_key, sizeof(s->ticket_key), v))
			cfg_error(ps, ps->line, "ticket_key: path too long");
	} else if (!strcmp(k, "resumed_handover")) {
		if (!strcmp(v, "finished") || !strcmp(v, "accept"))
			s->handover_accept = !strcmp(v, "accept");
		else
			cfg_error(ps, ps->line,
				  "resumed_handover: '%s' is not one of "
				  "finished, accept",
				  v);
	} else if (!strcmp(k, "resumption")) {
		if (!strcmp(v, "on"))
			s->resume = SMTD_RESUME_ON;
		else if (!strcmp(v, "off"))
			s->resume = SMTD_RESUME_OFF;
		else if (!strcmp(v, "0-rtt"))
			s->resume = SMTD_RESUME_0RTT;
		else
			cfg_error(ps, ps->line,
				  "resumption: '%s' is not one of on, off, "
				  "0-rtt (0-rtt only for services whose "
				  "first request is idempotent)",
				  v);
	} else {
		return 0;
	}
	return 1;
}

/* [tickets]: SMT-tickets (docs/protocol.md 6.3) */
static int key_tickets(struct parse_state *ps, const char *k, const char *v)
{
	struct smtd_config *c = ps->cfg;
	unsigned long u;

	if (!strcmp(k, "lifetime")) {
		if (!parse_uint(v, 60, 604800, &u))
			cfg_error(ps, ps->line,
				  "lifetime: '%s' is not 60..604800 seconds "
				  "(RFC 8446 bounds tickets to 7 days)",
				  v);
		else
			c->ticket_lifetime_s = u;
	} else if (!strcmp(k, "replay_window")) {
		if (!parse_uint(v, 1, 600, &u))
			cfg_error(ps, ps->line,
				  "replay_window: '%s' is not 1..600 seconds",
				  v);
		else
			c->ticket_window_s = u;
	} else if (!strcmp(k, "replay_max")) {
		if (!parse_uint(v, 16, 10000000, &u))
			cfg_error(ps, ps->line,
				  "replay_max: '%s' is not 16..10000000", v);
		else
			c->ticket_replay_max = u;
	} else if (!strcmp(k, "dir")) {
		if (!copy_str(c->ticket_dir, sizeof(c->ticket_dir), v))
			cfg_error(ps, ps->line, "dir: path too long");
	} else {
		return 0;
	}
	return 1;
}

/* "service NAME" or "service \"NAME\"" */
static struct smtd_service *new_service(struct parse_state *ps,
					const char *section)
{
	struct smtd_config *c = ps->cfg;
	char name[SMTD_NAME_MAX + 2];
	const char *p = section + strlen("service");
	struct smtd_service *s;
	size_t n;
	int i;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!copy_str(name, sizeof(name), p))
		goto bad;
	n = strlen(name);
	if (n >= 2 && name[0] == '"' && name[n - 1] == '"') {
		memmove(name, name + 1, n - 2);
		name[n - 2] = 0;
	}
	n = strlen(name);
	if (!n || n >= SMTD_NAME_MAX)
		goto bad;
	for (i = 0; name[i]; i++)
		if (!(name[i] == '-' || name[i] == '.' ||
		      (name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			goto bad;
	if (smtd_service_find(c, name)) {
		cfg_error(ps, ps->line,
			  "[service %s] is defined twice (first at line %d)",
			  name, smtd_service_find(c, name)->line);
		return NULL;
	}
	if (c->nservices >= SMTD_MAX_SERVICES) {
		cfg_error(ps, ps->line, "more than %d services",
			  SMTD_MAX_SERVICES);
		return NULL;
	}
	s = &c->services[c->nservices++];
	memset(s, 0, sizeof(*s));
	strcpy(s->name, name);
	s->line = ps->line;
	return s;
bad:
	cfg_error(ps, ps->line,
		  "[%s]: a service needs a DNS name (lowercase letters, "
		  "digits, '-' and '.', under %d bytes): [service NAME]",
		  section, SMTD_NAME_MAX);
	return NULL;
}

/*
 * Debian's libinih does not call the handler for a section header, so the
 * line reader looks at headers itself: a service exists from its
 * [service NAME] line on, even when the section has no keys.
 */
static void section_line(struct parse_state *ps, const char *line)
{
	char sec[128];
	const char *end;
	size_t n;

	while (*line == ' ' || *line == '\t')
		line++;
	if (*line != '[')
		return;
	end = strchr(line, ']');
	if (!end)
		return; /* libinih reports the syntax error */
	n = end - line - 1;
	if (n >= sizeof(sec))
		n = sizeof(sec) - 1;
	memcpy(sec, line + 1, n);
	sec[n] = 0;
	ps->cur_svc = NULL;
	if (!strncmp(sec, "service", 7) &&
	    (sec[7] == ' ' || sec[7] == '\t' || !sec[7]))
		ps->cur_svc = new_service(ps, sec);
	else if (strcmp(sec, "smtd") && strcmp(sec, "tls") &&
		 strcmp(sec, "defaults") && strcmp(sec, "bpf") &&
		 strcmp(sec, "tickets") && strcmp(sec, "metrics"))
		cfg_error(ps, ps->line,
			  "unknown section [%s]; sections are [smtd], [tls], "
			  "[defaults], [bpf], [tickets], [metrics] and "
			  "[service NAME]",
			  sec);
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parse_state *ps = user;
	int known;

	if (duplicate_key(ps, section, name))
		return 1;
	if (!strcmp(section, "smtd"))
		known = key_smtd(ps, name, value);
	else if (!strcmp(section, "tls"))
		known = key_tls(ps, name, value);
	else if (!strcmp(section, "defaults"))
		known = key_defaults(ps, name, value);
	else if (!strcmp(section, "bpf"))
		known = key_bpf(ps, name, value);
	else if (!strcmp(section, "tickets"))
		known = key_tickets(ps, name, value);
	else if (!strcmp(section, "metrics"))
		known = key_metrics(ps, name, value);
	else if (!strncmp(section, "service", 7))
		known = key_service(ps, name, value);
	else
		return 1; /* reported by section_line() */
	if (!known)
		cfg_error(ps, ps->line,
			  "unknown key '%s' in [%s]; see smt.conf(5)", name,
			  section);
	return 1;
}

static void defaults(struct smtd_config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->listen_addr, "0.0.0.0");
	c->listen_port = 7443;
	strcpy(c->ctl_path, SMT_CTL_SOCK_DEFAULT);
	c->ipproto = 253;
	c->encaps = SMTD_ENCAPS_ALL;
	c->log_level = LOG_INFO;
	c->handshake_timeout_s = 5;
	c->tcp_fastopen = true;
	c->max_sessions = 4096;
	c->max_sessions_uid = 1024;
	c->max_ctl_clients = 1024;
	c->max_handshakes = 256;
	c->client_auth = SMTD_CAUTH_NONE;
	strcpy(c->ciphersuites, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
				"TLS_CHACHA20_POLY1305_SHA256");
	c->tls_ticket_lifetime_s = 3600;
	c->tls_ticket_cache = 1024;
	c->B = 48;
	c->max_msg = 1 << 20;
	/* a message's last record may be padded to a whole packet over UDP
	 * (docs/protocol.md 8.5), so messages continue one GSO run */
	c->max_pad = 1500;
	c->lifetime_s = 3600;
	c->rekey_margin_s = 60;
	strcpy(c->bpf_xdp_mode, "auto");
	c->bpf_session_filter = true;
	strcpy(c->bpf_udp_ports, "49152-65535"); /* libsmt's ephemeral ports */
	c->ticket_lifetime_s = 3600;
	c->ticket_window_s = 10;
	c->ticket_replay_max = 65536;
	c->metrics_max_sessions = 100;
	c->metrics_max_clients = 8;
}

static void check_file(struct parse_state *ps, const char *what,
		       const char *path, bool required)
{
	if (!*path) {
		if (required)
			cfg_error(ps, 0, "[tls] %s is missing; smtd needs it",
				  what);
		return;
	}
	if (access(path, R_OK))
		cfg_error(ps, 0, "[tls] %s = %s: cannot read it: %s", what,
			  path, strerror(errno));
}

/* ---- [tls] ticket_keys: the shared ticket-key (STEK) file ------------------ */

#define STEK_FILE_MAX 4096
#define STEK_HEX (2 * sizeof(struct smtd_stek_key))

/* One key line (n characters, no newline) into k; 0 or -EINVAL with why.
 * Messages name positions and lengths, never the digits. */
static int stek_line(const char *l, size_t n, int line, struct smtd_stek_key *k,
		     char *err, size_t errlen)
{
	char hex[STEK_HEX + 1], why[UTIL_ERR_LEN];
	const uint8_t *b = (const uint8_t *)k;
	uint8_t any = 0;
	size_t got, i;
	int r = -EINVAL;

	if (n && l[n - 1] == '\r') {
		snprintf(err, errlen,
			 "line %d ends in a carriage return (CRLF): write "
			 "Unix line ends",
			 line);
	} else if (n != STEK_HEX) {
		snprintf(err, errlen,
			 "line %d has %zu characters, a key is %zu hex digits "
			 "(16-byte name, 32-byte AES key, 32-byte HMAC key: "
			 "openssl rand -hex 80)",
			 line, n, STEK_HEX);
	} else {
		memcpy(hex, l, n);
		hex[n] = 0;
		if (util_parse_hex(hex, (uint8_t *)k, sizeof(*k), sizeof(*k),
				   &got, why, sizeof(why))) {
			snprintf(err, errlen, "line %d: %s", line, why);
		} else {
			for (i = 0; i < sizeof(*k); i++)
				any |= b[i];
			if (any)
				r = 0;
			else
				snprintf(err, errlen,
					 "line %d is an all-zero key", line);
		}
		OPENSSL_cleanse(hex, sizeof(hex));
	}
	return r;
}

int smtd_stek_parse(const char *buf, size_t len, struct smtd_stek_key *keys,
		    int *n, char *err, size_t errlen)
{
	size_t pos = 0, ll;
	int line = 0, nk = 0, r = 0;
	const char *l, *nl;

	while (!r && pos < len) {
		l = buf + pos;
		nl = memchr(l, '\n', len - pos);
		ll = nl ? (size_t)(nl - l) : len - pos;
		pos += ll + (nl ? 1 : 0);
		line++;
		if (!ll || l[0] == '#')
			continue; /* empty line or comment */
		if (nk == SMTD_STEK_KEYS) {
			snprintf(err, errlen,
				 "line %d: a third key; the file holds the "
				 "current key and at most one previous key",
				 line);
			r = -EINVAL;
		} else {
			r = stek_line(l, ll, line, &keys[nk++], err, errlen);
		}
	}
	if (!r && !nk) {
		snprintf(err, errlen,
			 "no key: write one line of 160 hex digits (the "
			 "current key), then optionally the previous key");
		r = -EINVAL;
	}
	if (!r && nk == 2 && !memcmp(keys[0].name, keys[1].name, 16)) {
		snprintf(err, errlen,
			 "both keys have the same name (their first 32 hex "
			 "digits): a new key needs a new name");
		r = -EINVAL;
	}
	if (r)
		OPENSSL_cleanse(keys, SMTD_STEK_KEYS * sizeof(*keys));
	else
		*n = nk;
	return r;
}

int smtd_stek_read(const char *path, struct smtd_stek_key *keys, int *n,
		   struct stat *stp, char *err, size_t errlen)
{
	char buf[STEK_FILE_MAX + 1];
	struct stat st;
	size_t len = 0;
	ssize_t got;
	int fd, r;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open it: %s", strerror(errno));
		return r;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		close(fd);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "mode %04o lets group or others at it; whoever reads "
			 "it can decrypt every ticket it made: chmod 600 it "
			 "(owned by the user smtd runs as)",
			 (unsigned int)(st.st_mode & 07777));
		close(fd);
		return -EPERM;
	}
	while (len < sizeof(buf)) {
		got = read(fd, buf + len, sizeof(buf) - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += got;
	}
	close(fd);
	if (len > STEK_FILE_MAX) {
		snprintf(err, errlen, "larger than %d bytes; it holds two keys",
			 STEK_FILE_MAX);
		r = -EINVAL;
	} else {
		r = smtd_stek_parse(buf, len, keys, n, err, errlen);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (!r && stp)
		*stp = st;
	return r;
}

/* The largest smt.conf read: far above any real one. */
#define CONFIG_MAX_BYTES (1 << 20)

int smtd_config_parse(const char *path, const char *buf, size_t len,
		      struct smtd_config *cfg, char *err, size_t errlen)
{
	struct parse_state ps = {.cfg = cfg, .err = err, .errlen = errlen};
	const char *why;
	int r;

	defaults(cfg);
	if (errlen)
		err[0] = 0;
	if (!copy_str(cfg->path, sizeof(cfg->path), path)) {
		snprintf(err, errlen, "%s: path too long\n", path);
		return -ENAMETOOLONG;
	}
	ps.buf = buf;
	ps.len = len;
	r = ini_parse_stream(line_reader, &ps, handler, &ps);
	free(ps.seen);
	if (r > 0)
		cfg_error(&ps, r,
			  "syntax error: expected [section] or "
			  "key = value");
	else if (r < 0)
		cfg_error(&ps, 0, "cannot parse (out of memory)");
	/* a service without its own encap takes [smtd] encap, wherever
	 * in the file that is */
	for (int i = 0; i < cfg->nservices; i++)
		if (!cfg->services[i].encaps)
			cfg->services[i].encaps = cfg->encaps;
	check_file(&ps, "cert", cfg->cert, true);
	check_file(&ps, "key", cfg->key, true);
	check_file(&ps, "ca", cfg->ca, true);
	for (int i = 0; i < cfg->nservices; i++) {
		const struct smtd_service *sv = &cfg->services[i];

		if (sv->ticket_key[0] && access(sv->ticket_key, R_OK))
			cfg_error(&ps, sv->line,
				  "[service %s] ticket_key = %s: cannot read "
				  "it: %s",
				  sv->name, sv->ticket_key, strerror(errno));
	}
	if (cfg->ticket_dir[0] && access(cfg->ticket_dir, R_OK | X_OK))
		cfg_error(&ps, 0, "[tickets] dir = %s: cannot read it: %s",
			  cfg->ticket_dir, strerror(errno));
	if (cfg->tls_ticket_keys[0]) {
		struct smtd_stek_key k[SMTD_STEK_KEYS];
		char msg[256];
		int n;

		if (smtd_stek_read(cfg->tls_ticket_keys, k, &n, NULL, msg,
				   sizeof(msg)))
			cfg_error(&ps, 0, "[tls] ticket_keys = %s: %s",
				  cfg->tls_ticket_keys, msg);
		OPENSSL_cleanse(k, sizeof(k));
	}
	if (smt_params_check(cfg->B, cfg->max_msg, cfg->max_pad, &why))
		cfg_error(&ps, 0, "[defaults] B = %u with max_msg = %u: %s",
			  cfg->B, cfg->max_msg, why);
	if (cfg->rekey_margin_s >= cfg->lifetime_s)
		cfg_error(&ps, 0,
			  "[defaults] rekey_margin (%u s) must be shorter than "
			  "lifetime (%u s)",
			  cfg->rekey_margin_s, cfg->lifetime_s);
	return ps.nerr ? -EINVAL : 0;
}

int smtd_config_load(const char *path, struct smtd_config *cfg, char *err,
		     size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	/* O_NONBLOCK: a FIFO must not hang the open */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open: %s\n", path,
			 strerror(errno));
		return r;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_MAX_BYTES) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		snprintf(err, errlen,
			 "%s: %s; the configuration is a regular file of at "
			 "most %d bytes\n",
			 path,
			 S_ISDIR(st.st_mode)   ? "is a directory"
			 : S_ISREG(st.st_mode) ? "too large"
					       : "not a regular file",
			 CONFIG_MAX_BYTES);
		close(fd);
		return r;
	}
	buf = malloc(st.st_size + 1);
	while (buf && len < (size_t)st.st_size) {
		n = read(fd, buf + len, st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory\n", path);
		return -ENOMEM;
	}
	r = smtd_config_parse(path, buf, len, cfg, err, errlen);
	free(buf);
	return r;
}

const struct smtd_service *smtd_service_find(const struct smtd_config *cfg,
					     const char *name)
{
	int i;

	for (i = 0; i < cfg->nservices; i++)
		if (!strcmp(cfg->services[i].name, name))
			return &cfg->services[i];
	return NULL;
}

bool smtd_service_uid_ok(const struct smtd_service *s, uid_t uid)
{
	int i;

	if (s->any_uid || uid == 0)
		return true;
	for (i = 0; i < s->nuids; i++)
		if (s->uids[i] == uid)
			return true;
	return false;
}
