// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target: the set-up inputs that come from outside the host or
 * the process, which the packet targets do not reach. Byte 0 chooses:
 * even, the rest is a stream of session-parameter messages from a peer
 * smtd (docs/protocol.md section 6.1, user/smtd/params.c), decoded one
 * after another as smtd reads them; odd, the rest is one SMT_SESSION key
 * log line (protocol.md section 7, smt_keylog_parse). What decodes must
 * encode back to the same bytes (a REFUSE reason after its control bytes
 * became '?'), and a parsed key log line must format and parse to the same
 * values. Any crash, sanitizer report or broken round trip is a finding.
 */
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "smtd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void params_stream(const uint8_t *b, size_t n)
{
	uint8_t out[SMT_PARAMS_REFUSE_MAX];
	struct smt_params p, q;
	const char *why;
	size_t used, used2;

	while (n) {
		why = NULL;
		used = 0;
		if (smt_params_decode(b, n, &p, &used, &why))
			return; /* -EAGAIN or -EPROTO: smtd stops here too */
		if (!used || used > n || used > sizeof(out))
			abort();
		if (smt_params_encode(&p, out) != used)
			abort();
		if (p.type != SMT_PARAMS_REFUSE && memcmp(out, b, used))
			abort();
		if (smt_params_decode(out, used, &q, &used2, &why) ||
		    used2 != used || memcmp(&p, &q, sizeof(p)))
			abort();
		for (size_t i = 0; p.type == SMT_PARAMS_REFUSE && p.reason[i];
		     i++)
			if ((uint8_t)p.reason[i] < 0x20 ||
			    (uint8_t)p.reason[i] == 0x7f)
				abort();
		b += used;
		n -= used;
	}
}

static void keylog_line(const uint8_t *b, size_t n)
{
	struct smt_keylog a, c;
	char line[1024], again[1024];
	const char *err = NULL;
	int len;

	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, b, n);
	line[n] = 0;
	memset(&a, 0, sizeof(a));
	if (smt_keylog_parse(line, &a, &err)) {
		if (!err)
			abort(); /* an error always names its field */
		return;
	}
	len = smt_keylog_format(&a, again, sizeof(again));
	if (len < 0)
		abort();
	memset(&c, 0, sizeof(c));
	if (smt_keylog_parse(again, &c, &err) ||
	    smt_keylog_format(&c, line, sizeof(line)) != len ||
	    memcmp(line, again, (size_t)len))
		abort();
	smt_keys_wipe(&a.keys);
	smt_keys_wipe(&c.keys);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1)
		keylog_line(data + 1, size - 1);
	else
		params_stream(data + 1, size - 1);
	return 0;
}
