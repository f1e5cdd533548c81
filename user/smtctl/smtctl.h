/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smtctl's internal interface: the object/command tables every cmd_*.c file
 * registers, and the one print path. A handler builds its result as a json-c
 * tree and hands it to smtctl_emit(), which prints it as JSON (-j, -p pretty)
 * or as text (a per-command text printer, or the generic one). Errors go
 * through smtctl_err(), which prints {"error": "..."} under -j and
 * "Error: ..." on stderr otherwise. Handlers return 0 on success or nonzero
 * (then smtctl exits with status 1).
 *
 * Objects register themselves from a constructor so that a cmd_*.c file can
 * be added or left out without touching main.c:
 *
 *	static const struct smtctl_cmd prog_cmds[] = {
 *		{ "show", do_prog_show, "", "list attached SMT programs" },
 *		{ 0 }
 *	};
 *	SMTCTL_OBJECT(prog, "BPF programs attached by smt", prog_cmds);
 *
 * Command and object names match by unique prefix ("smtctl ses l"); an
 * exact name always wins. `help` works at every level.
 */
#ifndef SMTCTL_H
#define SMTCTL_H

#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>

struct smtctl_ctx {
	bool json; /* -j: JSON output */
	bool pretty; /* -p: pretty JSON (implies json) */
	const char *sock_path; /* -s: smtd control socket */
	const char *prog; /* argv[0] for messages */
	const char *object; /* current object's name */
};

/* argc/argv: the arguments after the command word (argv[0] is the first
 * argument, not the command). */
typedef int (*smtctl_handler)(struct smtctl_ctx *ctx, int argc, char **argv);

struct smtctl_cmd {
	const char *name;
	smtctl_handler fn;
	const char *args; /* usage of the arguments, "" if none */
	const char *help; /* one line */
};

struct smtctl_object {
	const char *name;
	const char *help; /* one line */
	const struct smtctl_cmd *cmds; /* ends with { 0 } */
	smtctl_handler dflt; /* run when no command is given; may be NULL */
	struct smtctl_object *next; /* registry link, set by smtctl_register */
};

void smtctl_register(struct smtctl_object *obj);

#define SMTCTL_OBJECT_DFLT(id, help_, cmds_, dflt_)                    \
	static struct smtctl_object smtctl_obj_##id = {                \
		.name = #id,                                           \
		.help = help_,                                         \
		.cmds = cmds_,                                         \
		.dflt = dflt_,                                         \
	};                                                             \
	__attribute__((constructor)) static void smtctl_reg_##id(void) \
	{                                                              \
		smtctl_register(&smtctl_obj_##id);                     \
	}
#define SMTCTL_OBJECT(id, help_, cmds_) \
	SMTCTL_OBJECT_DFLT(id, help_, cmds_, NULL)

/*
 * Text printer for one result: prints obj (the tree given to smtctl_emit)
 * to f. NULL means the generic printer: "key: value" lines for an object,
 * one line of key=value pairs per element for an array, nested objects
 * indented.
 */
typedef void (*smtctl_text_fn)(FILE *f, json_object *obj);

/*
 * The one print path. Prints obj as JSON (one line, or pretty under -p) or
 * through text_fn, then drops the caller's reference to obj. For streams
 * (watch commands) call it once per event: under -j that gives JSON lines.
 */
void smtctl_emit(struct smtctl_ctx *ctx, json_object *obj,
		 smtctl_text_fn text_fn);

/* Print an error (JSON under -j). Always returns 1, for `return smtctl_err`. */
int smtctl_err(struct smtctl_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Generic text printing, for text_fn implementations to reuse. */
void smtctl_text_generic(FILE *f, json_object *obj);
/*
 * A table: one header line of the column names, then one row per element of
 * arr (an array of objects); a missing field prints "-". cols ends with
 * NULL.
 */
void smtctl_text_table(FILE *f, json_object *arr, const char *const *cols);

/* true when word is a non-empty prefix of name. */
bool smtctl_is_prefix(const char *word, const char *name);

/*
 * Parse "NAME VALUE" option pairs of a command line: for argv[i] that
 * matches (by prefix) one of names, *values[j] = argv[i + 1]. Returns 0, or
 * prints an error and returns 1 on an unknown word or a missing value.
 */
int smtctl_parse_kv(struct smtctl_ctx *ctx, int argc, char **argv,
		    const char *const *names, const char **values);

/*
 * One request/response round trip with smtd over the control socket
 * (docs/control-protocol.md). req is consumed. On success *resp is the
 * response object (caller puts it) and 0 is returned; on failure an error
 * has been printed through smtctl_err and 1 is returned.
 */
int smtctl_request(struct smtctl_ctx *ctx, json_object *req,
		   json_object **resp);

/*
 * Extra sections for `smtctl stats`: each provider adds fields (for example
 * "bpf": {...}) to the stats object. It returns 0, or -errno when its source
 * is absent (then stats prints without it and notes why under "notes").
 */
typedef int (*smtctl_stats_fn)(struct smtctl_ctx *ctx, json_object *stats);
struct smtctl_stats_provider {
	const char *name;
	smtctl_stats_fn fn;
	struct smtctl_stats_provider *next;
};
void smtctl_register_stats(struct smtctl_stats_provider *p);

#define SMTCTL_STATS_PROVIDER(id, fn_)                                  \
	static struct smtctl_stats_provider smtctl_stats_##id = {       \
		.name = #id,                                            \
		.fn = fn_,                                              \
	};                                                              \
	__attribute__((constructor)) static void smtctl_sreg_##id(void) \
	{                                                               \
		smtctl_register_stats(&smtctl_stats_##id);              \
	}

#endif /* SMTCTL_H */
