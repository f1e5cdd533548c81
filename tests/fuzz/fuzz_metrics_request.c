// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target: the request parser of smtd's metrics endpoint
 * (metrics_http.c) on arbitrary bytes, as a client sends them. The answer
 * must be "read more" (0) or one of the statuses the endpoint knows; a
 * buffer at the size limit must get a status, never "read more"; every
 * prefix of a request that got a status other than 431 gets that status
 * or "read more" (the server may answer as soon as the headers end); and
 * the same input gives the same answer. A crash, sanitizer report or
 * broken invariant is a finding.
 */
#include <stdlib.h>
#include <string.h>

#include "smtd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool known(int st)
{
	return st == 0 || st == 200 || st == 400 || st == 404 || st == 405 ||
	       st == 431 || st == 505;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	bool om, head, om2, head2;
	int st, st2;

	if (size > SMTD_METRICS_REQ_MAX)
		size = SMTD_METRICS_REQ_MAX;
	st = smtd_metrics_request(buf, size, &om, &head);
	if (!known(st))
		abort();
	if (size == SMTD_METRICS_REQ_MAX && !st)
		abort();
	st2 = smtd_metrics_request(buf, size, &om2, &head2);
	if (st2 != st || om2 != om || head2 != head)
		abort();
	if (st && st != 431 && size > 1) {
		st2 = smtd_metrics_request(buf, size - 1, &om2, &head2);
		if (st2 != 0 && st2 != st && !memchr(buf, 0, size))
			abort();
	}
	return 0;
}
