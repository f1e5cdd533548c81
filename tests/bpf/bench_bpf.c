// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench-bpf: ns per packet of each SMT BPF program under BPF_PROG_TEST_RUN
 * (repeat 1,000,000, the kernel's own timing), beside an XDP_PASS-only
 * program measured in the same run, reported as a ratio. Each case runs
 * three times and the median is kept. Prints a table and writes CSV.
 * Note: test_run repeats one packet, so after the first repetition the
 * message state exists and DATA takes the duplicate path; TC sees the DSCP
 * already rewritten. The numbers are the per-packet parse/lookup cost.
 *
 * Usage: bench_bpf XDP_PASS_OBJ CSV [REPEAT]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <smt/maps.h>
#include "smt_xdp.skel.h"
#include "smt_tc.skel.h"
#include "mtp_inspect.skel.h"
#include "pkt.h"

static unsigned int repeat = 1000000;

/* Median of three timed runs, ns per packet; < 0 on error. */
static double time_prog(int fd, const struct pkt_spec *s, int skb)
{
	uint8_t pkt[2048], out[2048];
	struct __sk_buff ctx = {0};
	double t[3], x;
	int len = pkt_build(s, pkt, sizeof(pkt)), i, j;

	for (i = 0; i < 3; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt,
			    .data_size_in = len, .data_out = out,
			    .data_size_out = sizeof(out), .repeat = repeat);

		if (skb) {
			o.ctx_in = &ctx;
			o.ctx_size_in = sizeof(ctx);
		}
		if (bpf_prog_test_run_opts(fd, &o))
			return -errno;
		t[i] = o.duration;
	}
	for (i = 0; i < 3; i++)
		for (j = i + 1; j < 3; j++)
			if (t[j] < t[i]) {
				x = t[i];
				t[i] = t[j];
				t[j] = x;
			}
	return t[1];
}

struct row {
	const char *prog, *what;
	double ns;
};

int main(int argc, char **argv)
{
	struct pkt_spec data = {
		.msg_id = 2, .msg_len = 3000, .pkt_off = 1440, .payload = 1440};
	struct pkt_spec unknown = data, udp = {.not_smt = 1};
	struct smt_session_key k = {0};
	struct smt_session_val v = {.sess_id = 1};
	struct bpf_object *pass_obj;
	struct smt_xdp *xs;
	struct smt_tc *ts;
	struct mtp_inspect *ms;
	struct row r[8];
	double base;
	int n = 0, i, pass_fd;
	FILE *csv;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_bpf XDP_PASS_OBJ CSV [REPEAT]\n");
		return 2;
	}
	if (argc > 3)
		repeat = strtoul(argv[3], NULL, 0);
	libbpf_set_print(NULL);
	pass_obj = bpf_object__open_file(argv[1], NULL);
	if (!pass_obj || bpf_object__load(pass_obj)) {
		fprintf(stderr, "bench_bpf: cannot load %s (root needed)\n",
			argv[1]);
		return 1;
	}
	pass_fd = bpf_program__fd(bpf_object__next_program(pass_obj, NULL));
	xs = smt_xdp__open_and_load();
	ts = smt_tc__open_and_load();
	ms = mtp_inspect__open_and_load();
	if (!xs || !ts || !ms) {
		fprintf(stderr, "bench_bpf: cannot load the SMT programs: %s\n",
			strerror(errno));
		return 1;
	}
	inet_pton(AF_INET, "10.0.0.1", k.addr);
	k.family = SMT_FAM_IPV4;
	k.peer_port = htons(1000);
	k.local_port = htons(2000);
	bpf_map_update_elem(bpf_map__fd(xs->maps.sessions), &k, &v, BPF_ANY);
	unknown.sport = 999;

	r[n++] = (struct row){"xdp_pass", "any packet (baseline)",
			      time_prog(pass_fd, &data, 0)};
	r[n++] = (struct row){
		"smt_xdp", "non-SMT UDP, passed",
		time_prog(bpf_program__fd(xs->progs.smt_xdp), &udp, 0)};
	r[n++] = (struct row){
		"smt_xdp", "DATA, known session",
		time_prog(bpf_program__fd(xs->progs.smt_xdp), &data, 0)};
	r[n++] = (struct row){
		"smt_xdp", "DATA, unknown session (drop)",
		time_prog(bpf_program__fd(xs->progs.smt_xdp), &unknown, 0)};
	r[n++] = (struct row){
		"smt_tc", "DATA egress, class + DSCP",
		time_prog(bpf_program__fd(ts->progs.smt_tc), &data, 1)};
	r[n++] = (struct row){
		"mtp_inspect", "DATA, no policy",
		time_prog(bpf_program__fd(ms->progs.mtp_inspect), &data, 0)};
	/* Baseline again at the end: drift between the two shows noise. */
	r[n++] = (struct row){"xdp_pass", "any packet (baseline, again)",
			      time_prog(pass_fd, &data, 0)};
	base = (r[0].ns + r[n - 1].ns) / 2;

	csv = fopen(argv[2], "w");
	if (!csv) {
		fprintf(stderr, "bench_bpf: cannot write %s: %s\n", argv[2],
			strerror(errno));
		return 1;
	}
	fprintf(csv, "program,case,ns_per_packet,ratio_to_xdp_pass,repeat\n");
	printf("BPF_PROG_TEST_RUN, repeat %u, median of 3\n", repeat);
	printf("%-12s %-32s %10s %8s\n", "program", "case", "ns/pkt", "x pass");
	for (i = 0; i < n; i++) {
		if (r[i].ns < 0) {
			fprintf(stderr, "bench_bpf: %s failed: %s\n", r[i].prog,
				strerror((int)-r[i].ns));
			return 1;
		}
		printf("%-12s %-32s %10.1f %8.2f\n", r[i].prog, r[i].what,
		       r[i].ns, r[i].ns / base);
		fprintf(csv, "%s,\"%s\",%.1f,%.3f,%u\n", r[i].prog, r[i].what,
			r[i].ns, r[i].ns / base, repeat);
	}
	fclose(csv);
	printf("CSV: %s\n", argv[2]);
	smt_xdp__destroy(xs);
	smt_tc__destroy(ts);
	mtp_inspect__destroy(ms);
	bpf_object__close(pass_obj);
	return 0;
}
