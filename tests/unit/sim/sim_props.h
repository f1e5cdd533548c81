/* SPDX-License-Identifier: BSD-2-Clause */
/* Wire properties and caps checked while the simulator runs (sim_props.c). */
#ifndef SMT_SIM_PROPS_H
#define SMT_SIM_PROPS_H

#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_PKTS_DEFAULT 20000000ULL /* packets sent per scenario */
#define SIM_MAX_RSS_DEFAULT (1ULL << 30) /* resident bytes */

struct sim_props;

struct sim_props *sim_props_new(void);
void sim_props_free(struct sim_props *p);
/* A packet from src delivered to host dst's engine. */
void sim_props_data_in(struct sim_props *p, int src, int dst,
		       const uint8_t *pkt, size_t len);
/* A packet host src sends to dst: 0, or -1 with err set (grant window). */
int sim_props_ctl_out(struct sim_props *p, int src, int dst, const uint8_t *pkt,
		      size_t len, uint32_t window, char *err, size_t errlen);
/* After each step: 0, or -1 with err set when a cap is passed. */
int sim_props_caps(uint64_t steps, uint64_t pkts, uint64_t max_pkts,
		   uint64_t max_rss, char *err, size_t errlen);

#endif /* SMT_SIM_PROPS_H */
