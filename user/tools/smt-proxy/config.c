// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-proxy configuration: [proxy NAME] sections in the style of smt.conf
 * (docs/man/smt-proxy.8, CONFIGURATION).
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "proxy.h"
#include "util.h"

struct parse_state {
	struct proxy_cfg *cfg;
	unsigned int n;
	char *err;
	size_t err_len;
	char section[PROXY_NAME_MAX + 16];
};

static int set_str(char *dst, const char *v, size_t cap, char *err,
		   size_t err_len)
{
	if (strlen(v) >= cap) {
		snprintf(err, err_len, "value longer than %zu bytes", cap - 1);
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

static void defaults(struct proxy_cfg *c, const char *name)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->framer = FRAMER_RESP;
	c->max_frame = 1024 * 1024 - 64;
	c->max_conns = 1024;
	c->max_pipeline = 1024;
	c->batch = PROXY_BATCH_DEFAULT;
	c->idle_timeout = 300;
	c->drain_timeout = 10;
}

static int set_key(struct proxy_cfg *c, const char *k, const char *v, char *e,
		   size_t el)
{
	uint64_t u;

	if (!strcmp(k, "role")) {
		if (!strcmp(v, "client"))
			c->role = ROLE_CLIENT;
		else if (!strcmp(v, "server"))
			c->role = ROLE_SERVER;
		else {
			snprintf(e, el, "role must be client or server");
			return -1;
		}
		return 0;
	}
	if (!strcmp(k, "service"))
		return set_str(c->service, v, sizeof(c->service), e, el);
	if (!strcmp(k, "connect"))
		return set_str(c->connect, v, sizeof(c->connect), e, el);
	if (!strcmp(k, "listen"))
		return set_str(c->listen, v, sizeof(c->listen), e, el);
	if (!strcmp(k, "unix"))
		return set_str(c->unix_path, v, sizeof(c->unix_path), e, el);
	if (!strcmp(k, "backend"))
		return set_str(c->backend, v, sizeof(c->backend), e, el);
	if (!strcmp(k, "smtd_socket"))
		return set_str(c->smtd_socket, v, sizeof(c->smtd_socket), e,
			       el);
	if (!strcmp(k, "stats_file"))
		return set_str(c->stats_file, v, sizeof(c->stats_file), e, el);
	if (!strcmp(k, "control_socket"))
		return set_str(c->control_socket, v, sizeof(c->control_socket),
			       e, el);
	if (!strcmp(k, "encap")) {
		if (smt_encap_parse(v, &c->encap)) {
			snprintf(e, el, "encap must be ip or udp");
			return -1;
		}
		return 0;
	}
	if (!strcmp(k, "framer")) {
		c->framer = framer_parse(v);
		if (!c->framer) {
			snprintf(e, el, "framer must be resp, lines or len32");
			return -1;
		}
		return 0;
	}
	if (!strcmp(k, "port")) {
		if (util_parse_u64(v, 1, 65535, &u, e, el))
			return -1;
		c->port = (uint16_t)u;
		return 0;
	}
	if (!strcmp(k, "max_frame"))
		return util_parse_size(v, 512ULL << 20, &c->max_frame, e, el);
	if (!strcmp(k, "max_conns"))
		return util_parse_u64(v, 1, 1000000, &c->max_conns, e, el);
	if (!strcmp(k, "max_pipeline"))
		return util_parse_u64(v, 1, 1000000, &c->max_pipeline, e, el);
	if (!strcmp(k, "batch"))
		return util_parse_size(v, PROXY_BATCH_MAX, &c->batch, e, el);
	if (!strcmp(k, "send_window"))
		return util_parse_u64(v, 0, 1000000, &c->send_window, e, el);
	if (!strcmp(k, "idle_timeout"))
		return util_parse_u64(v, 1, 86400, &c->idle_timeout, e, el);
	if (!strcmp(k, "drain_timeout"))
		return util_parse_u64(v, 0, 3600, &c->drain_timeout, e, el);
	snprintf(e, el, "unknown key '%s'", k);
	return -1;
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parse_state *ps = user;
	struct proxy_cfg *c;
	unsigned int i;

	if (strcmp(section, ps->section)) {
		if (strncmp(section, "proxy ", 6) || !section[6]) {
			snprintf(ps->err, ps->err_len,
				 "section [%s]: only [proxy NAME] sections",
				 section);
			return 0;
		}
		for (i = 0; i < ps->n; i++)
			if (!strcmp(ps->cfg[i].name, section + 6)) {
				snprintf(ps->err, ps->err_len,
					 "[%s] appears twice", section);
				return 0;
			}
		if (ps->n >= PROXY_MAX ||
		    strlen(section + 6) >= PROXY_NAME_MAX) {
			snprintf(ps->err, ps->err_len,
				 "[%s]: too many sections or name too long",
				 section);
			return 0;
		}
		defaults(&ps->cfg[ps->n++], section + 6);
		snprintf(ps->section, sizeof(ps->section), "%s", section);
	}
	c = &ps->cfg[ps->n - 1];
	if (set_key(c, name, value, ps->err, ps->err_len))
		return 0;
	return 1;
}

/* The checks that need a whole section. */
static int check(struct proxy_cfg *c, char *e, size_t el)
{
	char why[128];

	if (!c->role) {
		snprintf(e, el, "[proxy %s]: role = client|server missing",
			 c->name);
		return -1;
	}
	if (!c->service[0]) {
		snprintf(e, el, "[proxy %s]: service missing", c->name);
		return -1;
	}
	if (c->role == ROLE_CLIENT) {
		if (!c->connect[0] || (!c->listen[0] && !c->unix_path[0])) {
			snprintf(e, el,
				 "[proxy %s]: a client needs connect and "
				 "listen or unix",
				 c->name);
			return -1;
		}
		if (c->listen[0] &&
		    util_parse_addr_port(c->listen, &c->listen_addr, 0, why,
					 sizeof(why))) {
			snprintf(e, el, "[proxy %s]: listen: %s", c->name, why);
			return -1;
		}
	} else {
		if (!c->backend[0] || !c->port) {
			snprintf(e, el,
				 "[proxy %s]: a server needs backend and port",
				 c->name);
			return -1;
		}
		if (c->backend[0] == '/') {
			/* a Unix socket: no TCP stack on the local hop */
			struct sockaddr_un *un =
				(struct sockaddr_un *)&c->backend_addr;

			if (strlen(c->backend) >= sizeof(un->sun_path)) {
				snprintf(e, el,
					 "[proxy %s]: backend: path too long",
					 c->name);
				return -1;
			}
			un->sun_family = AF_UNIX;
			strcpy(un->sun_path, c->backend);
		} else if (util_parse_addr_port(c->backend, &c->backend_addr, 0,
						why, sizeof(why))) {
			snprintf(e, el, "[proxy %s]: backend: %s", c->name,
				 why);
			return -1;
		}
	}
	if (c->max_frame < 64) {
		snprintf(e, el, "[proxy %s]: max_frame below 64", c->name);
		return -1;
	}
	if (!c->stats_file[0])
		snprintf(c->stats_file, sizeof(c->stats_file),
			 "/run/smt/smt-proxy-%.64s.json", c->name);
	if (!c->control_socket[0])
		snprintf(c->control_socket, sizeof(c->control_socket),
			 "/run/smt/smt-proxy-%.64s.sock", c->name);
	return 0;
}

int proxy_config_load(const char *path, struct proxy_cfg *cfg, unsigned int *n,
		      char *err, size_t err_len)
{
	struct parse_state ps = {.cfg = cfg, .err = err, .err_len = err_len};
	char msg[256] = "";
	unsigned int i;
	int r;

	ps.err = msg;
	ps.err_len = sizeof(msg);
	r = ini_parse(path, handler, &ps);
	if (r < 0) {
		snprintf(err, err_len, "%s: %s", path,
			 r == -1 ? strerror(errno) : "out of memory");
		return -1;
	}
	if (r > 0) {
		snprintf(err, err_len, "%s:%d: %s", path, r,
			 msg[0] ? msg : "syntax error");
		return -1;
	}
	if (!ps.n) {
		snprintf(err, err_len, "%s: no [proxy NAME] section", path);
		return -1;
	}
	for (i = 0; i < ps.n; i++)
		if (check(&cfg[i], msg, sizeof(msg))) {
			snprintf(err, err_len, "%s: %s", path, msg);
			return -1;
		}
	*n = ps.n;
	return 0;
}
