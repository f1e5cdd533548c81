// SPDX-License-Identifier: BSD-2-Clause
/*
 * The opt-in SMT_KEYLOGFILE (debug only): every session's keys appended
 * in smt_keylog_format's line format, with a loud warning at start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "smtd.h"

void smtd_keylog(struct smtd *d, const struct smt_ctl_session *s)
{
	struct smt_keylog kl = {0};
	char line[512];
	int n;

	if (!d->keylog)
		return;
	kl.client = s->tls_client ? s->local : s->peer;
	kl.server = s->tls_client ? s->peer : s->local;
	kl.B = s->B;
	kl.epoch = s->epoch;
	kl.max_msg = s->max_msg;
	kl.max_pad = s->max_pad;
	kl.keys = s->keys;
	n = smt_keylog_format(&kl, line, sizeof(line));
	if (n > 0) {
		fwrite(line, 1, n, d->keylog);
		fflush(d->keylog);
	}
	OPENSSL_cleanse(&kl, sizeof(kl));
	OPENSSL_cleanse(line, sizeof(line));
}

void smtd_keylog_open(struct smtd *d)
{
	const char *path = getenv("SMT_KEYLOGFILE");

	if (!path || !*path)
		return;
	d->keylog = fopen(path, "a");
	if (!d->keylog) {
		LOG_E("SMT_KEYLOGFILE=%s: cannot open: %s", path,
		      strerror(errno));
		return;
	}
	/* the keys of every session decrypt its traffic: say so loudly */
	LOG_W("**********************************************************");
	LOG_W("SMT_KEYLOGFILE is set: session keys are written to %s.", path);
	LOG_W("Anyone who reads it can decrypt SMT traffic. Debug only!");
	LOG_W("**********************************************************");
	if (smtd_log_syslog)
		fprintf(stderr,
			"smtd: WARNING: SMT_KEYLOGFILE=%s: writing session "
			"keys (debug only)\n",
			path);
}
