// SPDX-License-Identifier: BSD-2-Clause
/*
 * Table-driven command-line options for the smt tools (see opts.h): one
 * getopt_long loop that stores each option's argument as its table entry
 * says. Only getopt prints (for options it does not know).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "util.h"

void tool_opt_store(const struct tool_opt *opt, uint64_t v)
{
	switch (opt->size) {
	case 1:
		*(uint8_t *)opt->dst = (uint8_t)v;
		break;
	case 2:
		*(uint16_t *)opt->dst = (uint16_t)v;
		break;
	case 4:
		*(uint32_t *)opt->dst = (uint32_t)v;
		break;
	default:
		*(uint64_t *)opt->dst = v;
		break;
	}
}

static const struct tool_opt *find_opt(const struct tool_opt *opts, size_t n,
				       int val)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (opts[i].val == val)
			return &opts[i];
	return NULL;
}

/* Store arg as opt says; 0, TOOL_OPTS_HELP or TOOL_OPTS_BAD. */
static int take_opt(const struct tool_opt *opt, char *arg, char *err,
		    size_t err_len)
{
	char why[UTIL_ERR_LEN];
	uint64_t v;

	switch (opt->type) {
	case TOOL_OPT_STR:
		*(const char **)opt->dst = arg;
		break;
	case TOOL_OPT_FLAG:
		*(bool *)opt->dst = true;
		break;
	case TOOL_OPT_SET:
		tool_opt_store(opt, opt->lo);
		break;
	case TOOL_OPT_ATOI:
		/* int to a narrower or unsigned type: as a cast would */
		tool_opt_store(opt, (uint64_t)(int64_t)atoi(arg));
		break;
	case TOOL_OPT_STRTOU:
		tool_opt_store(opt, strtoull(arg, NULL, 0));
		break;
	case TOOL_OPT_DOUBLE:
		*(double *)opt->dst = atof(arg);
		break;
	case TOOL_OPT_U64:
		if (util_parse_u64(arg, opt->lo, opt->hi, &v, why,
				   sizeof(why))) {
			snprintf(err, err_len, "--%s: %s", opt->name, why);
			return TOOL_OPTS_BAD;
		}
		tool_opt_store(opt, v);
		break;
	case TOOL_OPT_FN:
		if (opt->fn(opt, arg, err, err_len))
			return TOOL_OPTS_BAD;
		break;
	case TOOL_OPT_HELP:
		return TOOL_OPTS_HELP;
	}
	if (opt->seen)
		*opt->seen = true;
	return 0;
}

int tool_opts_parse(int argc, char **argv, const char *shortopts,
		    const struct tool_opt *opts, size_t n, char *err,
		    size_t err_len)
{
	const struct tool_opt *opt;
	struct option *lo;
	size_t i;
	int c, ret = 0;

	if (err_len)
		err[0] = '\0';
	lo = calloc(n + 1, sizeof(*lo));
	if (!lo) {
		snprintf(err, err_len, "out of memory");
		return TOOL_OPTS_BAD;
	}
	for (i = 0; i < n; i++) {
		lo[i].name = opts[i].name;
		lo[i].has_arg = opts[i].has_arg;
		lo[i].val = opts[i].val;
	}
	while (!ret &&
	       (c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		opt = find_opt(opts, n, c);
		if (!opt)
			ret = TOOL_OPTS_UNKNOWN;
		else
			ret = take_opt(opt, optarg, err, err_len);
	}
	free(lo);
	return ret;
}
