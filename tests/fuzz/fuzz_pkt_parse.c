// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target: one packet through smt_pkt_parse (every stateless
 * receive rule, IPID_OFF offsets) and, for a control packet it accepts,
 * smt_ctl_verify under the fixed key and the ctl_seq window. Input layout in
 * fuzz_common.h. Any crash, leak or sanitizer report is a finding.
 */
#include <stdlib.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smt_aead *rx;
	struct smt_limits l = fuzz_limits();
	struct smt_ctl_window w = {0};
	struct smt_ctl c;
	struct smt_pkt p;
	int ipv4_id, r;

	if (!rx)
		rx = smt_aead_new(FUZZ_CIPHER, fuzz_key, sizeof(fuzz_key),
				  fuzz_iv);
	if (!rx)
		abort();
	if (size < FUZZ_PKT_PREFIX)
		return 0;
	ipv4_id = (data[0] & 1) ? -1 : (data[1] << 8 | data[2]);
	data += FUZZ_PKT_PREFIX;
	size -= FUZZ_PKT_PREFIX;

	r = smt_pkt_parse(data, size, &l, ipv4_id, &p);
	if (r < 0 || r >= SMT_DROP_MAX)
		abort(); /* a reason must be one of the list */
	if (r)
		return 0;
	if (p.type == SMT_TYPE_DATA) {
		/* what the parser promised */
		if (!p.payload_len || p.seg_off > p.pkt_off ||
		    (uint64_t)p.pkt_off + p.payload_len > p.msg_len ||
		    p.msg_len > smt_max_wire(&l))
			abort();
		return 0;
	}
	r = smt_ctl_verify(rx, &p, &c);
	if (r)
		return 0;
	if (smt_ctl_window_check(&w, c.ctl_seq))
		abort(); /* verify accepted an out-of-range ctl_seq */
	smt_ctl_window_mark(&w, c.ctl_seq);
	if (smt_ctl_window_check(&w, c.ctl_seq) != SMT_DROP_CTL_REPLAY)
		abort();
	return 0;
}
