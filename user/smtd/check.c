// SPDX-License-Identifier: BSD-2-Clause
/*
 * `smtd --check-config`'s look at what a start would bind: the handshake
 * port, the control socket and the metrics address. Each is tried the way
 * smtd takes it (a TCP bind with SO_REUSEADDR, a connect to the socket
 * file) and released at once, so that a port another program holds, an
 * address this host does not have, a privileged port or a running smtd on
 * the control socket are reported before the start, with what to change.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "smtd.h"

static void add(char *err, size_t len, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add(char *err, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n < len - *used ? (size_t)n : len - *used - 1;
}

/* Try a TCP bind of ss; 0 or -errno. */
static int try_bind(const struct sockaddr_storage *ss)
{
	int fd, one = 1, e = 0;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sizeof(*ss)) || listen(fd, 1))
		e = -errno;
	close(fd);
	return e;
}

static const char *bind_advice(int e)
{
	switch (-e) {
	case EADDRINUSE:
		return "another program (or a running smtd) listens there; see "
		       "`ss -ltnp`, stop it or choose another port";
	case EACCES:
		return "a port below 1024 needs CAP_NET_BIND_SERVICE; choose "
		       "a port above 1023";
	case EADDRNOTAVAIL:
		return "this host has no such address; use one of `ip addr`, "
		       "or 0.0.0.0 / ::";
	default:
		return "fix the address";
	}
}

int smtd_check_ports(const struct smtd_config *c, char *err, size_t len)
{
	struct sockaddr_storage ss;
	struct stat st;
	size_t used = 0;
	int n = 0, e, fd;

	if (len)
		err[0] = 0;
	if (smt_ctl_addr_parse(c->listen_addr, c->listen_port, &ss)) {
		add(err, len, &used,
		    "%s: [smtd] listen = %s is not an IP address\n", c->path,
		    c->listen_addr);
		n++;
	} else if ((e = try_bind(&ss))) {
		add(err, len, &used,
		    "%s: handshake port %s port %u: cannot listen: %s; %s "
		    "([smtd] listen, port)\n",
		    c->path, c->listen_addr, c->listen_port, strerror(-e),
		    bind_advice(e));
		n++;
	}
	if (c->metrics_listen[0] && (e = try_bind(&c->metrics_addr))) {
		add(err, len, &used,
		    "%s: metrics address %s: cannot listen: %s; %s ([metrics] "
		    "listen)\n",
		    c->path, c->metrics_listen, strerror(-e), bind_advice(e));
		n++;
	}
	fd = smt_ctl_open(c->ctl_path, false);
	if (fd >= 0) {
		close(fd);
		add(err, len, &used,
		    "%s: control socket %s: a running smtd answers there; stop "
		    "it, or give this one another control_socket ([smtd]; "
		    "applications then need SMT_CTL_SOCKET)\n",
		    c->path, c->ctl_path);
		n++;
	} else if (strlen(c->ctl_path) >=
		   sizeof(((struct sockaddr_un *)0)->sun_path)) {
		add(err, len, &used,
		    "%s: control socket %s: path longer than %zu bytes; use a "
		    "shorter control_socket\n",
		    c->path, c->ctl_path,
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		n++;
	} else if (!lstat(c->ctl_path, &st) && !S_ISSOCK(st.st_mode)) {
		add(err, len, &used,
		    "%s: control socket %s: a file that is not a socket is "
		    "there; smtd would delete it: move it, or change "
		    "control_socket\n",
		    c->path, c->ctl_path);
		n++;
	}
	return n;
}
