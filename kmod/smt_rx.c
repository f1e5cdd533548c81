// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the module's receive hook checks in an arriving SMT packet: the
 * stateless rules of include/smt/rules.h (protocol.md sections 2.1 and
 * 8.2), with B and max_wire not known (the hook sees no session: the
 * loosest bounds of any session apply, msg_id 0 and 1 are still dropped).
 * The module has no receive path; this only counts by reason.
 */
#include "smt_impl.h"

/**
 * smt_rx_verdict() - the first stateless rule an SMT packet breaks.
 * @smt:     the SMT header, followed by at least min(@len, 45) - 40
 *           readable bytes when @avail allows
 * @avail:   bytes readable at @smt
 * @len:     SMT bytes of the packet (IP payload)
 * @ipv4_id: the IPv4 header's ID, -1 on IPv6
 *
 * Return: 0 or a drop reason of include/smt/drop.h.
 */
int smt_rx_verdict(const u8 *smt, u32 avail, u32 len, int ipv4_id)
{
	const struct smt_hdr *h = (const struct smt_hdr *)smt;
	struct smt_data_view d = {};
	u16 count = 0;
	u32 n;
	int r;

	if (len < SMT_HDR_LEN || avail < SMT_HDR_LEN)
		return SMT_DROP_SHORT_HEADER;
	r = smt_rule_hdr(h->doff_ver, h->type);
	if (r)
		return r;
	if (h->type != SMT_TYPE_DATA) {
		if (avail >= SMT_HDR_LEN + 2)
			count = (u16)(smt[SMT_HDR_LEN] << 8 |
				      smt[SMT_HDR_LEN + 1]);
		return smt_rule_ctl_len(h->type, len, count);
	}
	d.msg_id = be64_to_cpu(h->msg_id);
	d.pkt_off = be32_to_cpu(h->pkt_off);
	d.seg_off = be32_to_cpu(h->seg_off);
	d.msg_len = be32_to_cpu(h->msg_len);
	d.len = len - SMT_HDR_LEN;
	d.ipv4_id = ipv4_id;
	d.flags = be16_to_cpu(h->flags);
	d.rec_idx = be16_to_cpu(h->rec_idx);
	d.pkt_idx = be16_to_cpu(h->pkt_idx);
	n = min_t(u32, min_t(u32, avail, len) - SMT_HDR_LEN, SMT_REC_HDR_LEN);
	memcpy(d.rec, smt + SMT_HDR_LEN, n);
	return smt_rule_data(&d, 0, 0);
}
