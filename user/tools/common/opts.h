/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Command-line options from a table, shared by the smt tools. A tool lists
 * each option once (long name, getopt value, what its argument becomes and
 * where it is stored) and tool_opts_parse() runs getopt_long over the table,
 * so the tools no longer each spell out a switch that stores optarg field by
 * field. Nothing here prints except getopt itself (unknown options); a bad
 * value comes back as a sentence in a caller buffer.
 */
#ifndef SMT_TOOLS_OPTS_H
#define SMT_TOOLS_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum tool_opt_type {
	TOOL_OPT_STR, /* const char *: the argument itself */
	TOOL_OPT_FLAG, /* bool: true */
	TOOL_OPT_SET, /* integer: .lo (e.g. a mode switch) */
	TOOL_OPT_ATOI, /* integer: atoi(), unchecked (smt-echo's old way) */
	TOOL_OPT_STRTOU, /* integer: strtoull(arg, NULL, 0), unchecked */
	TOOL_OPT_DOUBLE, /* double: atof(), unchecked */
	TOOL_OPT_U64, /* integer: util_parse_u64 in .lo..hi, else an error */
	TOOL_OPT_FN, /* .fn(opt, arg) stores it; nonzero is a failure */
	TOOL_OPT_HELP, /* tool_opts_parse returns TOOL_OPTS_HELP */
};

struct tool_opt;

/*
 * Callback of TOOL_OPT_FN: parse arg (optarg itself, which it may cut up in
 * place) into opt->dst. Returns 0, or nonzero after it either reported the
 * problem itself or put a sentence into err.
 */
typedef int (*tool_opt_fn)(const struct tool_opt *opt, char *arg, char *err,
			   size_t err_len);

struct tool_opt {
	const char *name; /* long name without "--" */
	int has_arg; /* no_argument or required_argument */
	int val; /* getopt value: the short option letter, or a unique one */
	enum tool_opt_type type;
	void *dst;
	size_t size; /* sizeof(*dst) for the integer types */
	uint64_t lo, hi;
	tool_opt_fn fn;
	bool *seen; /* if set: true once the option was read */
};

#define TOOL_OPT_(n, a, v, t, p)                                          \
	.name = (n), .has_arg = (a), .val = (v), .type = (t), .dst = (p), \
	.size = sizeof(*(p))
#ifndef __CPPCHECK__
/* p itself, when it points to a T; else a compile error */
#define TOOL_OPT_PTR_(p, T) _Generic((p), T * : (p))
#else
/* cppcheck 2.10 cannot parse _Generic (internalAstError); make check
 * defines __CPPCHECK__ so that it sees the plain pointer */
#define TOOL_OPT_PTR_(p, T) (p)
#endif

/*
 * Table entries: long name n, getopt value v, destination p. Entries with
 * "..." take further fields, e.g. .seen = &flag.
 */
/* const char *p = the argument */
#define OPT_STR(n, v, p)                                         \
	{                                                        \
		TOOL_OPT_(n, required_argument, v, TOOL_OPT_STR, \
			  TOOL_OPT_PTR_(p, const char *))        \
	}
/* bool *p = true */
#define OPT_FLAG(n, v, p)                                   \
	{                                                   \
		TOOL_OPT_(n, no_argument, v, TOOL_OPT_FLAG, \
			  TOOL_OPT_PTR_(p, bool))           \
	}
/* integer *p = x, without argument */
#define OPT_SET(n, v, p, x)                                              \
	{                                                                \
		TOOL_OPT_(n, no_argument, v, TOOL_OPT_SET, p), .lo = (x) \
	}
/* integer *p = atoi(arg) */
#define OPT_ATOI(n, v, p)                                            \
	{                                                            \
		TOOL_OPT_(n, required_argument, v, TOOL_OPT_ATOI, p) \
	}
/* integer *p = strtoull(arg, NULL, 0) */
#define OPT_STRTOU(n, v, p)                                            \
	{                                                              \
		TOOL_OPT_(n, required_argument, v, TOOL_OPT_STRTOU, p) \
	}
/* double *p = atof(arg) */
#define OPT_DOUBLE(n, v, p)                                         \
	{                                                           \
		TOOL_OPT_(n, required_argument, v, TOOL_OPT_DOUBLE, \
			  TOOL_OPT_PTR_(p, double))                 \
	}
/* integer *p = the argument, a number in l..h */
#define OPT_U64(n, v, p, l, h, ...)                                  \
	{                                                            \
		TOOL_OPT_(n, required_argument, v, TOOL_OPT_U64, p), \
			.lo = (l), .hi = (h), ##__VA_ARGS__          \
	}
/* f(opt, arg, ...) parses the argument into p */
#define OPT_FN(n, v, p, f, ...)                                     \
	{                                                           \
		TOOL_OPT_(n, required_argument, v, TOOL_OPT_FN, p), \
			.fn = (f), ##__VA_ARGS__                    \
	}
/* tool_opts_parse returns TOOL_OPTS_HELP */
#define OPT_HELP(n, v)                                           \
	{                                                        \
		.name = (n), .has_arg = no_argument, .val = (v), \
		.type = TOOL_OPT_HELP                            \
	}

#define TOOL_OPTS_N(a) (sizeof(a) / sizeof((a)[0]))
/* An err buffer that holds "--NAME: " and any util.h sentence. */
#define TOOL_OPTS_ERR_LEN (UTIL_ERR_LEN + 64)

/* Returns of tool_opts_parse besides 0 (all options read). */
#define TOOL_OPTS_HELP 1 /* the help option was given */
#define TOOL_OPTS_BAD (-1) /* a value was bad; err says why, or is "" */
#define TOOL_OPTS_UNKNOWN (-2) /* getopt did not know it (and said so) */

/*
 * Read the options of argv with getopt_long(argc, argv, shortopts, ...) over
 * opts[0..n-1], storing each in turn; stops at the first failure or at the
 * help option. A TOOL_OPT_U64 value out of range or not a number fills err
 * with "--NAME: why". On 0, optind is at the first operand, as after
 * getopt_long (the caller resets optind first when it parses twice).
 */
int tool_opts_parse(int argc, char **argv, const char *shortopts,
		    const struct tool_opt *opts, size_t n, char *err,
		    size_t err_len);

/* Store v into opt->dst, truncated to opt->size bytes as a cast would. */
void tool_opt_store(const struct tool_opt *opt, uint64_t v);

#endif /* SMT_TOOLS_OPTS_H */
