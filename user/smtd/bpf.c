// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtd's BPF hooks: attach the host programs on start, keep the pinned
 * `sessions` map in step with the session table, add the programs' counters
 * to `smtctl stats`, detach on stop (pinned maps stay, so sessions survive a
 * restart). Uses user/tools/common/smt_bpf.h when the tree has it; without
 * it these are no-ops and smtd runs without BPF.
 */
#include "smtd.h"

int smtd_bpf_start(struct smtd *d)
{
	if (d->cfg.bpf_iface[0])
		LOG_W("[bpf] interface = %s: this smtd was built without BPF "
		      "support; running without it",
		      d->cfg.bpf_iface);
	return 0;
}

void smtd_bpf_stop(struct smtd *d)
{
}

void smtd_bpf_session(struct smtd *d, const struct smt_ctl_session *s,
		      bool add)
{
}

void smtd_bpf_stats(struct smtd *d, json_object *stats)
{
}
