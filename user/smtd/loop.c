// SPDX-License-Identifier: BSD-2-Clause
/*
 * What smtd's modules share of the main loop (main.c runs it): logging to
 * stderr or syslog with levels, the monotonic clock in ms, registration of
 * file descriptors in the epoll set, and accept() with a back-off when
 * descriptors run out. It calls no other smtd module, so ctl.c and tls.c
 * depend on it and not on main.c (the fuzzers stub exactly this file).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtd.h"

int smtd_log_level = LOG_INFO;
bool smtd_log_syslog;
/* a daemon's messages also go to the starting terminal until it is ready */
bool smtd_log_tee;

void smtd_log(int level, const char *fmt, ...)
{
	static const char *const names[] = {"emerg", "alert",	"crit",
					    "error", "warning", "notice",
					    "info",  "debug"};
	va_list ap;

	if (level > smtd_log_level)
		return;
	va_start(ap, fmt);
	if (smtd_log_syslog) {
		va_list ap2;

		va_copy(ap2, ap);
		vsyslog(level, fmt, ap2);
		va_end(ap2);
	}
	if (!smtd_log_syslog || smtd_log_tee) {
		/* one write: stderr is unbuffered, and three writes a line
		 * cost a set-up's path ~10 us at log_level info */
		char line[1024];
		int h = snprintf(line, sizeof(line),
				 "smtd[%d]: %s: ", (int)getpid(),
				 names[level & 7]);
		va_list ap3;
		int m;

		va_copy(ap3, ap);
		m = vsnprintf(line + h, sizeof(line) - h - 1, fmt, ap3);
		va_end(ap3);
		if (m >= 0 && (size_t)(h + m) < sizeof(line) - 1) {
			line[h + m] = '\n';
			fwrite(line, 1, h + m + 1, stderr);
		} else { /* longer: in pieces */
			fwrite(line, 1, h, stderr);
			vfprintf(stderr, fmt, ap);
			fputc('\n', stderr);
		}
	}
	va_end(ap);
}

int64_t smtd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int smtd_io_add(struct smtd *d, struct smtd_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, io->fd, &ev) ? -errno : 0;
}

int smtd_io_mod(struct smtd *d, struct smtd_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	return epoll_ctl(d->epfd, EPOLL_CTL_MOD, io->fd, &ev) ? -errno : 0;
}

void smtd_io_del(struct smtd *d, struct smtd_io *io)
{
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

#define ACCEPT_PAUSE_MS 100

int smtd_accept(struct smtd *d, struct smtd_io *lio,
		struct sockaddr_storage *ss)
{
	socklen_t sl = sizeof(*ss);
	int fd, e;

	if (lio->paused_until)
		return -1;
	fd = accept4(lio->fd, (struct sockaddr *)ss, ss ? &sl : NULL,
		     SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0 || (errno != EMFILE && errno != ENFILE &&
			errno != ENOBUFS && errno != ENOMEM))
		return fd;
	e = errno;
	/* take the one waiting so that its client sees a close, not a hang */
	if (d->reserve_fd >= 0) {
		close(d->reserve_fd);
		fd = accept4(lio->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		d->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (!(d->st.accept_paused++ % 100))
		LOG_W("cannot accept connections: %s; pausing %d ms (raise "
		      "LimitNOFILE, or lower max_control_clients or "
		      "max_handshakes)",
		      strerror(e), ACCEPT_PAUSE_MS);
	lio->paused_until = smtd_now_ms() + ACCEPT_PAUSE_MS;
	smtd_io_mod(d, lio, 0);
	return -1;
}

void smtd_accept_tick(struct smtd *d)
{
	struct smtd_io *l[] = {&d->ctl_io, &d->listen_io, &d->metrics_io};
	int64_t now = smtd_now_ms();
	size_t i;

	if (d->reserve_fd < 0)
		d->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < sizeof(l) / sizeof(l[0]); i++)
		if (l[i]->paused_until && now >= l[i]->paused_until &&
		    l[i]->fd >= 0) {
			l[i]->paused_until = 0;
			smtd_io_mod(d, l[i], EPOLLIN);
		}
}
