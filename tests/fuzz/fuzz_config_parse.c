// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target: smtd's configuration parser (smt.conf(5), config.c on
 * libinih) on arbitrary file contents, as `smtd --check-config` reads them.
 * Whatever the text, the result must be a consistent configuration or
 * errors: every message is "fuzz.conf[:LINE]: ..." with a line number
 * inside the file, services have valid names and are at most
 * SMTD_MAX_SERVICES, and a file accepted once is accepted again with the
 * same result. A crash, sanitizer report or broken invariant is a finding.
 */
#include <stdlib.h>
#include <string.h>

#include "smtd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int smtd_log_level = -1;
bool smtd_log_syslog;

void smtd_log(int level, const char *fmt, ...)
{
}

static void check_messages(const char *err, size_t lines)
{
	const char *p = err;

	while (*p) {
		const char *nl = strchr(p, '\n');
		long line = 0;

		if (!nl)
			break; /* cut where the buffer ended */
		if (strncmp(p, "fuzz.conf:", 10) &&
		    strncmp(p, "fuzz.conf: ", 11))
			abort();
		if (p[9] == ':' && p[10] >= '0' && p[10] <= '9') {
			line = strtol(p + 10, NULL, 10);
			if (line < 1 || (size_t)line > lines)
				abort();
		}
		p = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtd_config a, b;
	static char ea[8192], eb[8192];
	size_t lines = 1, i;
	int ra, rb, s;

	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	ra = smtd_config_parse("fuzz.conf", (const char *)data, size, &a, ea,
			       sizeof(ea));
	check_messages(ea, lines);
	if (a.nservices < 0 || a.nservices > SMTD_MAX_SERVICES)
		abort();
	for (s = 0; s < a.nservices; s++) {
		const char *n = a.services[s].name;

		if (!*n || strlen(n) >= SMTD_NAME_MAX ||
		    strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789-.") !=
			    strlen(n) ||
		    !a.services[s].encaps)
			abort();
	}
	rb = smtd_config_parse("fuzz.conf", (const char *)data, size, &b, eb,
			       sizeof(eb));
	if (ra != rb || strcmp(ea, eb) || memcmp(&a, &b, sizeof(a)))
		abort();
	return 0;
}
