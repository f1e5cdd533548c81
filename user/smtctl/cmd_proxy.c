// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtctl proxy show: the counters and connections of running smt-proxy
 * sections, read from each section's control socket (smt-proxy(8),
 * control_socket: it writes one JSON object to every connection, then
 * closes). A NAME is /run/smt/smt-proxy-NAME.sock (the directory is
 * $SMT_PROXY_DIR when set); without arguments every such socket there.
 */
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctlproto.h"
#include "smtctl.h"

#define PROXY_STATUS_MAX (16 << 20)

static const char *proxy_dir(void)
{
	const char *d = getenv("SMT_PROXY_DIR");

	return d && *d ? d : "/run/smt";
}

/* The status JSON of the section listening on path: 0, or an error
 * printed and 1. */
static int proxy_read(struct smtctl_ctx *ctx, const char *path,
		      json_object **out)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	size_t len = 0, cap = 65536;
	char *buf;
	ssize_t r;
	int fd;

	if (strlen(path) >= sizeof(un.sun_path))
		return smtctl_err(ctx, "proxy: path too long: %s", path);
	strcpy(un.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un))) {
		r = errno;
		if (fd >= 0)
			close(fd);
		return smtctl_err(ctx,
				  "proxy: cannot connect to %s: %s (is "
				  "smt-proxy running?)",
				  path, strerror((int)r));
	}
	buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return smtctl_err(ctx, "proxy: out of memory");
	}
	for (;;) {
		if (len == cap) {
			char *n = cap >= PROXY_STATUS_MAX
					  ? NULL
					  : realloc(buf, cap * 2 + 1);

			if (!n) {
				free(buf);
				close(fd);
				return smtctl_err(ctx,
						  "proxy: %s: answer too large",
						  path);
			}
			buf = n;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = 0;
	*out = json_tokener_parse(buf);
	free(buf);
	if (!*out || !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		return smtctl_err(ctx, "proxy: %s: not a status object", path);
	}
	json_object_object_add(*out, "control_socket",
			       json_object_new_string(path));
	return 0;
}

static void proxy_text(FILE *f, json_object *arr)
{
	static const char *const client_cols[] = {
		"id",	   "peer",     "age",	    "requests", "responses",
		"pending", "bytes_in", "bytes_out", "state",	NULL};
	static const char *const server_cols[] = {
		"id", "session", "age", "in_flight", "held", "state", NULL};
	size_t i, n = json_object_array_length(arr);

	for (i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i), *l = NULL;
		bool client = !strcmp(smt_ctl_str(o, "role", ""), "client");

		if (json_object_object_get_ex(o, "connection_list", &l))
			json_object_get(l);
		json_object_object_del(o, "connection_list");
		fprintf(f, "%s[proxy %s]\n", i ? "\n" : "",
			smt_ctl_str(o, "name", "?"));
		smtctl_text_generic(f, o);
		if (l && json_object_array_length(l)) {
			fprintf(f, "%s:\n",
				client ? "client connections"
				       : "backend connections (per client "
					 "connection)");
			smtctl_text_table(f, l,
					  client ? client_cols : server_cols);
		}
		json_object_put(l);
	}
}

static int do_proxy_show(struct smtctl_ctx *ctx, int argc, char **argv)
{
	json_object *all = json_object_new_array(), *o;
	char path[512];
	glob_t g = {0};
	size_t i;
	int rc = 0;

	if (!argc) {
		snprintf(path, sizeof(path), "%s/smt-proxy-*.sock",
			 proxy_dir());
		if (glob(path, 0, NULL, &g) || !g.gl_pathc) {
			globfree(&g);
			json_object_put(all);
			return smtctl_err(ctx,
					  "proxy: no smt-proxy control socket "
					  "in %s (name one, or set "
					  "SMT_PROXY_DIR)",
					  proxy_dir());
		}
		for (i = 0; i < g.gl_pathc; i++)
			if (proxy_read(ctx, g.gl_pathv[i], &o))
				rc = 1;
			else
				json_object_array_add(all, o);
		globfree(&g);
	}
	for (i = 0; i < (size_t)argc; i++) {
		if (strchr(argv[i], '/'))
			snprintf(path, sizeof(path), "%s", argv[i]);
		else
			snprintf(path, sizeof(path), "%s/smt-proxy-%s.sock",
				 proxy_dir(), argv[i]);
		if (proxy_read(ctx, path, &o))
			rc = 1;
		else
			json_object_array_add(all, o);
	}
	if (json_object_array_length(all))
		smtctl_emit(ctx, all, proxy_text);
	else
		json_object_put(all);
	return rc;
}

static const struct smtctl_cmd proxy_cmds[] = {
	{"show", do_proxy_show, "[ NAME | SOCKET ]...",
	 "counters, session and connections of running smt-proxy sections"},
	{0},
};

SMTCTL_OBJECT_DFLT(proxy, "smt-proxy sections (their control sockets)",
		   proxy_cmds, do_proxy_show);
