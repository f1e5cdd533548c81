// SPDX-License-Identifier: BSD-2-Clause
/*
 * The HTTP request of smtd's metrics endpoint (metrics.c), on its own so
 * that the unit tests and the fuzz target (fuzz_metrics_request) take it
 * without the server: a request line "GET|HEAD /metrics[?...] HTTP/1.x",
 * header fields "NAME: VALUE" up to an empty line, nothing else. Any byte
 * sequence gets an answer or "read more"; the whole request must fit in
 * SMTD_METRICS_REQ_MAX bytes.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "smtd.h"

/* The end of the header block ("\r\n\r\n" or "\n\n") in buf, or NULL. */
static const char *headers_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return buf + i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return buf + i + 3;
	}
	return NULL;
}

/* Length of the line at p (before "\r\n" or "\n"), which ends before end. */
static size_t line_len(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', end - p);
	size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

	return n && p[n - 1] == '\r' ? n - 1 : n;
}

static int request_line(const char *p, size_t n, bool *head)
{
	const char *sp1 = memchr(p, ' ', n), *sp2, *tgt, *q;
	size_t mlen, tlen, vlen, i;

	if (!sp1)
		return 400;
	mlen = sp1 - p;
	tgt = sp1 + 1;
	sp2 = memchr(tgt, ' ', p + n - tgt);
	if (!sp2 || !mlen || mlen > 16)
		return 400;
	tlen = sp2 - tgt;
	vlen = p + n - (sp2 + 1);
	for (i = 0; i < mlen; i++)
		if (p[i] < 'A' || p[i] > 'Z')
			return 400;
	if (!tlen || tgt[0] != '/')
		return 400;
	for (i = 0; i < tlen; i++)
		if (tgt[i] < 0x21 || tgt[i] > 0x7e)
			return 400;
	/* "HTTP/" DIGIT "." DIGIT; of those, 1.0 and 1.1 */
	if (vlen != 8 || memcmp(sp2 + 1, "HTTP/", 5) ||
	    !isdigit((unsigned char)sp2[6]) || sp2[7] != '.' ||
	    !isdigit((unsigned char)sp2[8]))
		return 400;
	if (sp2[6] != '1' || (sp2[8] != '0' && sp2[8] != '1'))
		return 505;
	if (mlen == 3 && !memcmp(p, "GET", 3))
		*head = false;
	else if (mlen == 4 && !memcmp(p, "HEAD", 4))
		*head = true;
	else
		return 405;
	q = memchr(tgt, '?', tlen);
	if (q)
		tlen = q - tgt;
	return tlen == 8 && !memcmp(tgt, "/metrics", 8) ? 200 : 404;
}

int smtd_metrics_request(const char *buf, size_t len, bool *om, bool *head)
{
	static const char want[] = "application/openmetrics-text";
	const char *end, *p, *colon;
	size_t n;
	int st;

	*om = *head = false;
	if (memchr(buf, 0, len))
		return 400;
	end = headers_end(buf, len);
	if (!end)
		return len >= SMTD_METRICS_REQ_MAX ? 431 : 0;
	n = line_len(buf, end);
	st = request_line(buf, n, head);
	if (st != 200)
		return st;
	/* header fields: NAME ":" VALUE, up to the empty line */
	for (p = buf + n; p < end && *p != '\n';) {
		p = (const char *)memchr(p, '\n', end - p) + 1;
		n = line_len(p, end);
		if (!n)
			break;
		colon = memchr(p, ':', n);
		if (!colon || colon == p || p[0] == ' ' || p[0] == '\t')
			return 400;
		if (colon - p == 6 && !strncasecmp(p, "accept", 6) &&
		    memmem(colon, p + n - colon, want, sizeof(want) - 1))
			*om = true;
	}
	return 200;
}
