// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target: smt-proxy's framers (user/tools/smt-proxy/framer.c),
 * which cut what TCP clients and backends send. Byte 0 chooses the framer
 * (resp, lines, len32), the direction (request or response) and the frame
 * limit; the rest is a byte stream, cut frame after frame as the proxy
 * does. Findings: a crash or sanitizer report, a length outside 1..len or
 * above the limit, a frame whose own bytes alone do not give the same
 * length, or a resp command the refusal check cannot classify.
 */
#include <stdlib.h>
#include <string.h>

#include "framer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t limits[] = {16, 100, 4096, 1 << 20};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum framer_kind k;
	struct framer_req info;
	size_t max, off;
	ssize_t r, again;
	int req;

	if (size < 1)
		return 0;
	k = (enum framer_kind)((data[0] & 3) % 3 + 1);
	req = data[0] >> 2 & 1;
	max = limits[data[0] >> 3 & 3];
	for (off = 1; off < size; off += (size_t)r) {
		r = req ? framer_request(k, data + off, size - off, max, &info)
			: framer_response(k, data + off, size - off, max);
		if (r <= 0) {
			if (r != 0 && r != FRAMER_ERR_PROTO &&
			    r != FRAMER_ERR_BIG)
				abort();
			break;
		}
		if ((size_t)r > size - off || (size_t)r > max)
			abort();
		/* the frame alone (an exact-size copy, so ASan sees any
		 * read past its end) gives the same length */
		uint8_t *copy = malloc((size_t)r);

		if (!copy)
			return 0;
		memcpy(copy, data + off, (size_t)r);
		again = req ? framer_request(k, copy, (size_t)r, max, NULL)
			    : framer_response(k, copy, (size_t)r, max);
		free(copy);
		if (again != r)
			abort();
		if (req && k == FRAMER_RESP) {
			if (memchr(info.name, 0, sizeof(info.name)) == NULL)
				abort();
			(void)framer_resp_refusal(&info);
		}
	}
	return 0;
}
