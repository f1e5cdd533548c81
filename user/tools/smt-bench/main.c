// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-bench: SMT against UDP, TCP and TLS 1.3 over TCP, with the same echo
 * RPC workload on each. `smt-bench server` runs in one network namespace
 * and serves every transport at once; `smt-bench client` runs the plan
 * from the other and writes the results (see smt-bench(1) and
 * scripts/bench.sh, which sets up the namespaces and runs both).
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smt-bench server --cert FILE --key FILE [...]\n"
		"       smt-bench client --server ADDR --ca FILE [...]\n"
		"       smt-bench {server|client} --help\n"
		"SMT is %s in this build.\n",
		bench_have_smt ? "included" : "NOT included");
}

int main(int argc, char **argv)
{
	if (util_version_arg(argc, argv, "smt-bench"))
		return 0;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "server"))
		return server_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "client"))
		return client_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "smt-bench: unknown command %s\n", argv[1]);
	usage(stderr);
	return 2;
}
