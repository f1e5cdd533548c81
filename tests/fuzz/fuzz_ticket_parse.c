// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target: the SMT-ticket inputs that come from outside
 * (docs/protocol.md 6.3, user/smtd/ticket.c). Byte 0 chooses: 0, the rest
 * is a ticket's bytes; 1, a ticket file's text (BEGIN/END lines around
 * base64), unarmored and parsed; otherwise a stream from a peer smtd's TCP
 * connection, framed by smt_tkt_msg_len as smtd reads it, each HELLO
 * parsed. Parsed fields must stay inside the input (chain, signature);
 * any crash or sanitizer report is a finding.
 */
#include <stdlib.h>
#include <string.h>

#include "ticket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const uint8_t *p, size_t n, const uint8_t *b, size_t len)
{
	if (n && (p < b || p + n > b + len))
		abort();
}

static void ticket(const uint8_t *b, size_t n)
{
	struct smt_ticket t;
	const char *why = NULL;

	if (smt_ticket_parse(b, n, &t, &why)) {
		if (!why)
			abort();
		return;
	}
	inside(t.chain, t.chain_len, b, n);
	inside(t.sig, t.sig_len, b, n);
	if (t.signed_len + 4 + t.sig_len != n || strlen(t.service) == 0)
		abort();
}

static void stream(const uint8_t *b, size_t n)
{
	while (n) {
		struct smt_tkt_hello h;
		const char *why = NULL;
		int len = smt_tkt_msg_len(b, n, &why);

		if (len <= 0)
			return;
		if ((size_t)len > n)
			abort();
		if (b[5] == SMT_TKT_HELLO &&
		    !smt_tkt_hello_parse(b, (size_t)len, &h, &why)) {
			inside(h.chain, h.chain_len, b, (size_t)len);
			inside(h.sig, h.sig_len, b, (size_t)len);
		}
		b += len;
		n -= (size_t)len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[SMT_TKT_MAX];
	const char *why = NULL;
	size_t n;

	if (!size)
		return 0;
	if (data[0] == 0) {
		ticket(data + 1, size - 1);
	} else if (data[0] == 1) {
		if (!smt_ticket_unarmor((const char *)data + 1, size - 1, out,
					sizeof(out), &n, &why))
			ticket(out, n);
	} else {
		stream(data + 1, size - 1);
	}
	return 0;
}
