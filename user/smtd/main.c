// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtd entry point: options, daemonizing, signals through a signalfd
 * (SIGTERM/SIGINT stop cleanly, SIGHUP reloads config and certificates
 * without touching sessions), the epoll main loop, sd_notify readiness.
 * What the modules share of the loop (logging, the clock, epoll
 * registration, accept with back-off) is in loop.c, the opt-in
 * SMT_KEYLOGFILE in keylog.c: ctl.c and tls.c do not call into this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "smtd.h"
#include "util.h"

#define SMTD_DEFAULT_CONFIG "/etc/smt/smt.conf"

static struct smtd *the_smtd;

static void on_signal(struct smtd *d, void *obj, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(d->sig_io.fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			d->reload = true;
		else
			d->stop = true;
	}
}

/* SIGHUP: a new config and new TLS contexts, or nothing when either fails.
 * Sessions, serving applications and the sockets stay as they are. */
static void reload(struct smtd *d)
{
	static struct smtd_config nc;
	char err[4096];
	struct smtd tmp;

	sd_notify(0, "RELOADING=1");
	if (smtd_config_load(d->cfg_path, &nc, err, sizeof(err))) {
		LOG_E("reload: %s is invalid, keeping the running "
		      "configuration:\n%s",
		      d->cfg_path, err);
		goto out;
	}
	if (strcmp(nc.ctl_path, d->cfg.ctl_path) ||
	    strcmp(nc.listen_addr, d->cfg.listen_addr) ||
	    nc.listen_port != d->cfg.listen_port ||
	    strcmp(nc.metrics_listen, d->cfg.metrics_listen))
		LOG_W("reload: control socket, listen and metrics address "
		      "changes need a restart; keeping the old ones");
	memset(&tmp, 0, sizeof(tmp));
	tmp.cfg = nc;
	if (smtd_tls_init(&tmp, err, sizeof(err))) {
		LOG_E("reload: %s; keeping the running certificates", err);
		smtd_tls_free(&tmp);
		goto out;
	}
	smtd_tls_adopt(d, &tmp);
	snprintf(nc.ctl_path, sizeof(nc.ctl_path), "%s", d->cfg.ctl_path);
	snprintf(nc.listen_addr, sizeof(nc.listen_addr), "%s",
		 d->cfg.listen_addr);
	nc.listen_port = d->cfg.listen_port;
	snprintf(nc.metrics_listen, sizeof(nc.metrics_listen), "%s",
		 d->cfg.metrics_listen);
	nc.metrics_addr = d->cfg.metrics_addr;
	d->cfg = nc;
	smtd_log_level = d->cfg.log_level;
	d->st.reloads++;
	LOG_I("reloaded %s: %d services, certificate %s", d->cfg_path,
	      d->cfg.nservices, d->cfg.cert);
out:
	sd_notify(0, "READY=1");
}

/* Every control connection and handshake takes a descriptor: take the
 * hard limit (LimitNOFILE, ulimit -Hn), not the soft 1024, so that a burst
 * of a thousand set-ups does not run into accept back-off. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		LOG_W("cannot raise the descriptor limit to %llu: %s",
		      (unsigned long long)rl.rlim_max, strerror(errno));
}

static int setup_signals(struct smtd *d)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	d->sig_io = (struct smtd_io){.fd = fd, .cb = on_signal};
	return smtd_io_add(d, &d->sig_io, EPOLLIN);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: smtd [-f] [-c FILE] [-l LEVEL] [-s] [-p PIDFILE]\n"
		"       smtd --check-config [-c FILE]\n"
		"  -c, --config FILE   configuration (default %s)\n"
		"  -f, --foreground    do not daemonize; log to stderr\n"
		"  -s, --syslog        log to syslog (default when daemonized)\n"
		"  -l, --log-level L   error, warning, info or debug "
		"(overrides the file)\n"
		"  -p, --pidfile FILE  write the daemon's pid there\n"
		"      --check-config  validate the configuration and exit\n"
		"  -h, --help          this text\n"
		"See smtd(8) and smt.conf(5).\n",
		SMTD_DEFAULT_CONFIG);
}

static int parse_level(const char *s)
{
	if (!strcmp(s, "error"))
		return LOG_ERR;
	if (!strcmp(s, "warning"))
		return LOG_WARNING;
	if (!strcmp(s, "info"))
		return LOG_INFO;
	if (!strcmp(s, "debug"))
		return LOG_DEBUG;
	return -1;
}

static int check_config(struct smtd *d)
{
	char err[8192];
	int r = smtd_config_load(d->cfg_path, &d->cfg, err, sizeof(err));

	if (r) {
		fputs(err, stderr);
		fprintf(stderr, "%s: configuration is NOT valid\n",
			d->cfg_path);
		return 1;
	}
	if (smtd_tls_init(d, err, sizeof(err))) {
		fprintf(stderr, "%s: [tls]: %s\n", d->cfg_path, err);
		fprintf(stderr, "%s: configuration is NOT valid\n",
			d->cfg_path);
		return 1;
	}
	if (smtd_tls_check_cert(d, err, sizeof(err))) {
		fputs(err, stderr);
		fprintf(stderr, "%s: configuration is NOT valid\n",
			d->cfg_path);
		smtd_tls_free(d);
		return 1;
	}
	smtd_tls_free(d);
	if (smtd_check_ports(&d->cfg, err, sizeof(err))) {
		fputs(err, stderr);
		fprintf(stderr,
			"%s: configuration is valid, but smtd cannot start "
			"with it now\n",
			d->cfg_path);
		return 1;
	}
	printf("%s: configuration is valid: %d service%s, handshake port %s:%u, "
	       "control socket %s\n",
	       d->cfg_path, d->cfg.nservices, d->cfg.nservices == 1 ? "" : "s",
	       d->cfg.listen_addr, d->cfg.listen_port, d->cfg.ctl_path);
	return 0;
}

/*
 * Daemon mode: the starting process returns only when smtd is ready (its
 * control socket and handshake port are open) with 0, or with 1 when it
 * failed first, so that `smtd && smt-echo ...` works and errors reach the
 * terminal. Returns the pipe end the daemon writes "ready" to, or -1.
 */
static int daemon_start(void)
{
	int p[2], null_fd;
	char c;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(c == 'R' ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0 || chdir("/"))
		return -1;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd >= 0) {
		dup2(null_fd, STDIN_FILENO);
		dup2(null_fd, STDOUT_FILENO);
		close(null_fd);
	}
	smtd_log_tee = true;
	return p[1];
}

static void daemon_ready(int fd)
{
	int null_fd;

	if (fd < 0)
		return;
	if (write(fd, "R", 1) != 1)
		LOG_W("could not tell the starting process that smtd is ready");
	close(fd);
	smtd_log_tee = false;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd >= 0) {
		dup2(null_fd, STDERR_FILENO);
		close(null_fd);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"foreground", no_argument, NULL, 'f'},
		{"syslog", no_argument, NULL, 's'},
		{"log-level", required_argument, NULL, 'l'},
		{"pidfile", required_argument, NULL, 'p'},
		{"check-config", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	static struct smtd d;
	/* SMT-ticket key pairs are made ahead after this long without an
	 * event (smtd_tkt_idle) */
	const struct timespec idle = {.tv_nsec = 200000};
	bool fg = false, check = false, use_syslog = false, fill = true;
	const char *pidfile = NULL;
	int level = -1, c, r, ret = 1, ready_fd = -1;
	char err[8192];

	if (util_version_arg(argc, argv, "smtd"))
		return 0;
	d.cfg_path = SMTD_DEFAULT_CONFIG;
	d.setup = &smtd_setup_ops;
	d.epfd = -1;
	d.ctl_io.fd = d.listen_io.fd = d.sig_io.fd = d.metrics_io.fd = -1;
	while ((c = getopt_long(argc, argv, "c:fsl:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.cfg_path = optarg;
			break;
		case 'f':
			fg = true;
			break;
		case 's':
			use_syslog = true;
			break;
		case 'l':
			level = parse_level(optarg);
			if (level < 0) {
				fprintf(stderr, "smtd: bad log level '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check)
		return check_config(&d);

	the_smtd = &d;
	d.started = time(NULL);
	r = smtd_config_load(d.cfg_path, &d.cfg, err, sizeof(err));
	if (r) {
		fputs(err, stderr);
		fprintf(stderr,
			"smtd: %s is not valid; check it with smtd "
			"--check-config -c %s\n",
			d.cfg_path, d.cfg_path);
		return 1;
	}
	smtd_log_level = level >= 0 ? level : d.cfg.log_level;
	if (level >= 0)
		d.cfg.log_level = level;
	if (!fg) {
		ready_fd = daemon_start();
		if (ready_fd < 0) {
			perror("smtd: daemon");
			return 1;
		}
		use_syslog = true;
	}
	if (use_syslog) {
		openlog("smtd", LOG_PID, LOG_DAEMON);
		smtd_log_syslog = true;
	}
	if (pidfile) {
		FILE *pf = fopen(pidfile, "w");

		if (pf) {
			fprintf(pf, "%d\n", (int)getpid());
			fclose(pf);
		}
	}
	if (smtd_tls_init(&d, err, sizeof(err))) {
		LOG_E("%s: [tls]: %s", d.cfg_path, err);
		return 1;
	}
	if (smtd_tls_check_cert(&d, err, sizeof(err)))
		LOG_W("%s(smtd --check-config says NOT valid)", err);
	raise_nofile();
	d.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d.epfd < 0 || setup_signals(&d))
		goto out;
	smtd_keylog_open(&d);
	if (smtd_ctl_listen(&d))
		goto out;
	if (smtd_tls_listen(&d))
		goto out;
	if (smtd_metrics_listen(&d))
		goto out;
	smtd_bpf_start(&d);
	smtd_tfo_check(&d);
	if (d.cfg.client_auth != SMTD_CAUTH_REQUIRE)
		LOG_W("[tls] client_cert = %s: clients are not all "
		      "authenticated, so a session's re-key or replacement "
		      "is not bound to the identity that set it up; use "
		      "client_cert = require between hosts",
		      d.cfg.client_auth == SMTD_CAUTH_NONE ? "none"
							   : "optional");
	LOG_I("ready: handshakes on %s:%u, control socket %s, %d services, "
	      "IP protocol %u",
	      d.cfg.listen_addr, d.cfg.listen_port, d.cfg.ctl_path,
	      d.cfg.nservices, d.cfg.ipproto);
	sd_notify(0, "READY=1\nSTATUS=serving");
	daemon_ready(ready_fd);
	ready_fd = -1;

	while (!d.stop) {
		struct epoll_event ev[32];
		int i, n;

		/* idle after some work: key pairs made ahead, one a time */
		if (fill) {
			n = epoll_pwait2(d.epfd, ev, 32, &idle, NULL);
			if (!n) {
				fill = smtd_tkt_idle(&d);
				fill = smtd_hs_idle(&d) || fill;
			}
		} else {
			n = epoll_wait(d.epfd, ev, 32,
				       smtd_hs_next_ms(&d, 250));
		}
		if (n > 0)
			fill = true;

		if (n < 0 && errno != EINTR) {
			LOG_E("epoll_wait: %s", strerror(errno));
			break;
		}
		smtd_hs_reap(&d); /* after the wait: off the answers' path */
		for (i = 0; i < n; i++) {
			struct smtd_io *io = ev[i].data.ptr;

			io->cb(&d, io->obj, ev[i].events);
		}
		smtd_accept_tick(&d);
		smtd_hs_tick(&d);
		smtd_tkt_tick(&d);
		smtd_resume_tick(&d);
		smtd_bpf_tick(&d);
		smtd_table_tick(&d);
		smtd_metrics_tick(&d);
		if (d.reload) {
			d.reload = false;
			reload(&d);
		}
	}
	ret = 0;
	LOG_I("shutting down: %u sessions stay with their applications",
	      d.nsessions);
	sd_notify(0, "STOPPING=1");
out:
	d.stop = true;
	smtd_hs_free_all(&d);
	smtd_tkt_free_all(&d);
	smtd_ctl_close_all(&d);
	smtd_metrics_close(&d);
	smtd_bpf_stop(&d);
	if (d.listen_io.fd >= 0)
		close(d.listen_io.fd);
	if (d.sig_io.fd >= 0)
		close(d.sig_io.fd);
	if (d.epfd >= 0)
		close(d.epfd);
	smtd_tls_free(&d);
	smtd_resume_free(&d);
	if (d.keylog)
		fclose(d.keylog);
	if (pidfile)
		unlink(pidfile);
	return ret;
}
