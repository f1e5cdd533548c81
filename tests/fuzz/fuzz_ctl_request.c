// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target: smtd's control socket (docs/control-protocol.md) as a
 * local user reaches it. The real ctl.c (framing, JSON, every request and
 * the access model), tls.c, config.c and libsmt's ctlproto code run on a
 * real Unix socket; only loop.c's epoll glue is replaced by direct calls.
 * Byte 0 chooses the client's uid (odd: nobody, through seteuid around
 * connect(), so SO_PEERCRED says 65534; even: root); the rest is written to
 * the socket as the client's bytes, and smtd handles them until the
 * connection is drained, while the client reads nothing (its answers pile
 * up in smtd's bounded output buffer). No TLS context is loaded, so a
 * `connect` request stops before any packet leaves: nothing reaches the
 * network. A crash, sanitizer report, leak or a session left in the table
 * after its connection closed is a finding.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "smtd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- loop.c's part, without epoll ---------------------------------------- */

int smtd_log_level = -1; /* quiet */
bool smtd_log_syslog;
static struct smtd_io *conn_io; /* the one control connection */

void smtd_log(int level, const char *fmt, ...)
{
}

int64_t smtd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int smtd_io_add(struct smtd *d, struct smtd_io *io, uint32_t events)
{
	if (io != &d->ctl_io && io->fd != d->ctl_io.fd)
		conn_io = io;
	return 0;
}

int smtd_io_mod(struct smtd *d, struct smtd_io *io, uint32_t events)
{
	return 0;
}

void smtd_io_del(struct smtd *d, struct smtd_io *io)
{
	if (io == conn_io)
		conn_io = NULL;
}

int smtd_accept(struct smtd *d, struct smtd_io *lio,
		struct sockaddr_storage *ss)
{
	socklen_t sl = sizeof(*ss);

	return accept4(lio->fd, (struct sockaddr *)ss, ss ? &sl : NULL,
		       SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void smtd_keylog(struct smtd *d, const struct smt_ctl_session *s)
{
}

/* ---- the daemon under test ---------------------------------------------- */

static const char conf[] = "[smtd]\n"
			   "max_sessions = 8\n"
			   "max_sessions_per_uid = 3\n"
			   "[service echo.smt]\n"
			   "port = 7000\n"
			   "uids = 0, 65534\n"
			   "[service kv.smt]\n"
			   "uids = root\n"
			   "encap = udp\n";

static struct smtd d;

static void init(void)
{
	char err[4096];

	/* cert, key and ca are missing: reported, and nothing needs them */
	smtd_config_parse("fuzz.conf", conf, sizeof(conf) - 1, &d.cfg, err,
			  sizeof(err));
	snprintf(d.cfg.ctl_path, sizeof(d.cfg.ctl_path),
		 "/tmp/fuzz-smtd-%d.sock", (int)getpid());
	d.setup = &smtd_setup_ops;
	d.epfd = -1;
	d.reserve_fd = -1;
	d.listen_io.fd = -1;
	if (smtd_ctl_listen(&d)) {
		fprintf(stderr, "fuzz_ctl_request: cannot listen on %s\n",
			d.cfg.ctl_path);
		abort();
	}
}

static int client(bool nobody)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, r;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", d.cfg.ctl_path);
	if (nobody && geteuid() == 0 && seteuid(65534))
		nobody = false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	if (nobody && seteuid(0))
		abort();
	if (r) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	int fd, i;

	if (!ready) {
		init();
		ready = true;
	}
	if (!size)
		return 0;
	fd = client(data[0] & 1);
	if (fd < 0)
		abort();
	d.ctl_io.cb(&d, NULL, EPOLLIN); /* accept */
	if (!conn_io)
		abort();
	fcntl(fd, F_SETFL, O_NONBLOCK);
	/* the socket takes far more than -max_len; what does not fit is
	 * simply not sent */
	if (size > 1 && send(fd, data + 1, size - 1, MSG_NOSIGNAL) < 0)
		abort();
	for (i = 0; i < 64 && conn_io; i++)
		conn_io->cb(&d, conn_io->obj, EPOLLIN | EPOLLOUT);
	close(fd);
	for (i = 0; i < 64 && conn_io; i++)
		conn_io->cb(&d, conn_io->obj, EPOLLIN);
	if (conn_io || d.conns || d.nconns)
		abort(); /* EOF must end the connection */
	smtd_hs_free_all(&d);
	if (d.sessions || d.nsessions)
		abort(); /* sessions belong to their connection */
	return 0;
}
