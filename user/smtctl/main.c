// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtctl entry point and shared machinery (smtctl.h): option parsing, the
 * object registry with prefix matching and `help` at every level, the one
 * print path (json-c tree -> JSON or text), errors (JSON under -j) and the
 * control-socket round trip to smtd.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctlproto.h"
#include "libsmt.h"
#include "smtctl.h"

static struct smtctl_object *objects;
static struct smtctl_stats_provider *stats_providers;

void smtctl_register(struct smtctl_object *obj)
{
	struct smtctl_object **p = &objects;

	/* keep the registry sorted by name so that help lists are stable */
	while (*p && strcmp((*p)->name, obj->name) < 0)
		p = &(*p)->next;
	obj->next = *p;
	*p = obj;
}

void smtctl_register_stats(struct smtctl_stats_provider *sp)
{
	struct smtctl_stats_provider **p = &stats_providers;

	while (*p && strcmp((*p)->name, sp->name) < 0)
		p = &(*p)->next;
	sp->next = *p;
	*p = sp;
}

struct smtctl_stats_provider *smtctl_stats_providers(void);
struct smtctl_stats_provider *smtctl_stats_providers(void)
{
	return stats_providers;
}

bool smtctl_is_prefix(const char *word, const char *name)
{
	size_t n = strlen(word);

	return n && n <= strlen(name) && !strncmp(word, name, n);
}

void smtctl_emit(struct smtctl_ctx *ctx, json_object *obj,
		 smtctl_text_fn text_fn)
{
	if (!obj)
		return;
	if (ctx->json) {
		int fl = JSON_C_TO_STRING_NOSLASHESCAPE |
			 (ctx->pretty ? JSON_C_TO_STRING_PRETTY |
						JSON_C_TO_STRING_SPACED
				      : JSON_C_TO_STRING_PLAIN);

		puts(json_object_to_json_string_ext(obj, fl));
	} else {
		(text_fn ? text_fn : smtctl_text_generic)(stdout, obj);
	}
	fflush(stdout);
	json_object_put(obj);
}

int smtctl_err(struct smtctl_ctx *ctx, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (ctx->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "error", json_object_new_string(buf));
		smtctl_emit(ctx, o, NULL);
	} else {
		fprintf(stderr, "Error: %s\n", buf);
	}
	return 1;
}

static void text_value(FILE *f, json_object *v)
{
	if (!v)
		fputs("-", f);
	else if (json_object_is_type(v, json_type_string))
		fputs(json_object_get_string(v), f);
	else
		fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
		      f);
}

static void text_obj(FILE *f, json_object *obj, int indent)
{
	json_object_object_foreach(obj, key, val)
	{
		if (json_object_is_type(val, json_type_object)) {
			fprintf(f, "%*s%s:\n", indent, "", key);
			text_obj(f, val, indent + 2);
		} else if (json_object_is_type(val, json_type_array) &&
			   json_object_array_length(val) &&
			   json_object_is_type(
				   json_object_array_get_idx(val, 0),
				   json_type_object)) {
			size_t i, n = json_object_array_length(val);

			fprintf(f, "%*s%s:\n", indent, "", key);
			for (i = 0; i < n; i++) {
				fprintf(f, "%*s-\n", indent + 2, "");
				text_obj(f, json_object_array_get_idx(val, i),
					 indent + 4);
			}
		} else {
			fprintf(f, "%*s%s: ", indent, "", key);
			text_value(f, val);
			fputc('\n', f);
		}
	}
}

void smtctl_text_generic(FILE *f, json_object *obj)
{
	if (json_object_is_type(obj, json_type_array)) {
		size_t i, n = json_object_array_length(obj);

		for (i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(obj, i);
			bool first = true;

			if (!json_object_is_type(e, json_type_object)) {
				text_value(f, e);
				fputc('\n', f);
				continue;
			}
			json_object_object_foreach(e, key, val)
			{
				fprintf(f, "%s%s ", first ? "" : "  ", key);
				text_value(f, val);
				first = false;
			}
			fputc('\n', f);
		}
	} else if (json_object_is_type(obj, json_type_object)) {
		text_obj(f, obj, 0);
	} else {
		text_value(f, obj);
		fputc('\n', f);
	}
}

/* Dotted paths ("peer.addr") reach into nested objects. */
static json_object *get_path(json_object *o, const char *path)
{
	char key[64];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		size_t n = dot - path;

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path = dot + 1;
	}
	return json_object_object_get_ex(o, path, &o) ? o : NULL;
}

void smtctl_text_table(FILE *f, json_object *arr, const char *const *cols)
{
	size_t ncol = 0, i, c, n = json_object_array_length(arr);
	size_t width[32] = {0};

	while (ncol < 32 && cols[ncol])
		ncol++;
	for (c = 0; c < ncol; c++)
		width[c] = strlen(cols[c]);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);

		for (c = 0; c < ncol; c++) {
			json_object *v = get_path(e, cols[c]);
			const char *s =
				!v ? "-"
				: json_object_is_type(v, json_type_string)
					? json_object_get_string(v)
					: json_object_to_json_string(v);

			if (strlen(s) > width[c])
				width[c] = strlen(s);
		}
	}
	for (c = 0; c < ncol; c++)
		fprintf(f, "%-*s%s", (int)width[c], cols[c],
			c + 1 < ncol ? "  " : "\n");
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);

		for (c = 0; c < ncol; c++) {
			json_object *v = get_path(e, cols[c]);
			const char *s =
				!v ? "-"
				: json_object_is_type(v, json_type_string)
					? json_object_get_string(v)
					: json_object_to_json_string(v);

			fprintf(f, "%-*s%s", (int)width[c], s,
				c + 1 < ncol ? "  " : "\n");
		}
	}
}

int smtctl_parse_kv(struct smtctl_ctx *ctx, int argc, char **argv,
		    const char *const *names, const char **values)
{
	int i, j;

	for (i = 0; i < argc; i += 2) {
		for (j = 0; names[j]; j++)
			if (smtctl_is_prefix(argv[i], names[j]))
				break;
		if (!names[j])
			return smtctl_err(ctx, "%s: unknown argument '%s'",
					  ctx->object, argv[i]);
		if (i + 1 >= argc)
			return smtctl_err(ctx, "%s: '%s' needs a value",
					  ctx->object, names[j]);
		values[j] = argv[i + 1];
	}
	return 0;
}

int smtctl_request(struct smtctl_ctx *ctx, json_object *req, json_object **resp)
{
	struct smt_ctl_buf b = {0};
	const char *path = smt_ctl_path(ctx->sock_path);
	int fd, err;

	*resp = NULL;
	json_object_object_add(req, "id", json_object_new_int(1));
	fd = smt_ctl_open(path, false);
	if (fd < 0) {
		json_object_put(req);
		return smtctl_err(ctx,
				  "cannot connect to smtd at %s: %s; is smtd "
				  "running (or give its socket with -s)?",
				  path, strerror(-fd));
	}
	err = smt_ctl_call(fd, &b, req, resp, 10000, NULL, NULL);
	json_object_put(req);
	smt_ctl_buf_free(&b);
	close(fd);
	if (err) {
		json_object_put(*resp);
		*resp = NULL;
		return smtctl_err(ctx, "request to smtd at %s failed: %s", path,
				  strerror(-err));
	}
	if (!smt_ctl_bool(*resp, "ok", false)) {
		err = smtctl_err(ctx, "smtd: %s",
				 smt_ctl_str(*resp, "error", "request failed"));
		json_object_put(*resp);
		*resp = NULL;
		return err;
	}
	return 0;
}

static void usage_objects(FILE *f, const char *prog)
{
	struct smtctl_object *o;

	fprintf(f,
		"Usage: %s [OPTIONS] OBJECT { COMMAND | help }\n"
		"       %s [OPTIONS] help\n"
		"OPTIONS := { -j | --json } { -p | --pretty } "
		"{ -s | --socket PATH } { -h | --help } { -V | --version }\n"
		"OBJECT := {",
		prog, prog);
	for (o = objects; o; o = o->next)
		fprintf(f, " %s%s", o->name, o->next ? " |" : " }\n");
	fprintf(f, "\n");
	for (o = objects; o; o = o->next)
		fprintf(f, "  %-10s %s\n", o->name, o->help);
	fprintf(f,
		"Names match by unique prefix; `%s OBJECT help` lists the "
		"commands of an object.\n",
		prog);
}

static void usage_object(FILE *f, const char *prog,
			 const struct smtctl_object *o)
{
	const struct smtctl_cmd *c;

	fprintf(f, "Usage: %s [OPTIONS] %s { COMMAND | help }\n", prog,
		o->name);
	for (c = o->cmds; c->name; c++)
		fprintf(f, "       %s %s %s %s\n", prog, o->name, c->name,
			c->args ? c->args : "");
	fprintf(f, "\n");
	for (c = o->cmds; c->name; c++)
		fprintf(f, "  %-8s %s\n", c->name, c->help);
}

/* Unique-prefix lookup in a name list; an exact name always wins. */
static int match(const char *word, const char *const *names, int n, int *found)
{
	int i, hits = 0;

	for (i = 0; i < n; i++) {
		if (!strcmp(word, names[i])) {
			*found = i;
			return 1;
		}
		if (smtctl_is_prefix(word, names[i])) {
			*found = i;
			hits++;
		}
	}
	return hits;
}

/* "a, b, c": the names that word is a prefix of (for an ambiguity error). */
static const char *candidates(const char *word, const char *const *names, int n,
			      char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = 0;
	for (i = 0; i < n && off < len; i++)
		if (smtctl_is_prefix(word, names[i]))
			off += snprintf(buf + off, len - off, "%s%s",
					off ? ", " : "", names[i]);
	return buf;
}

static int run_object(struct smtctl_ctx *ctx, struct smtctl_object *o, int argc,
		      char **argv)
{
	const char *names[64];
	int n = 0, idx, hits;

	ctx->object = o->name;
	if (argc == 0) {
		if (o->dflt)
			return o->dflt(ctx, 0, argv);
		usage_object(stderr, ctx->prog, o);
		return 1;
	}
	if (!strcmp(argv[0], "help") || !strcmp(argv[0], "-h") ||
	    !strcmp(argv[0], "--help")) {
		usage_object(stdout, ctx->prog, o);
		return 0;
	}
	while (n < 64 && o->cmds[n].name) {
		names[n] = o->cmds[n].name;
		n++;
	}
	hits = match(argv[0], names, n, &idx);
	if (hits == 0)
		return smtctl_err(ctx,
				  "%s: unknown command '%s'; try '%s %s help'",
				  o->name, argv[0], ctx->prog, o->name);
	if (hits > 1) {
		char cand[512];

		return smtctl_err(
			ctx,
			"%s: command '%s' is ambiguous (%s); try '%s "
			"%s help'",
			o->name, argv[0],
			candidates(argv[0], names, n, cand, sizeof(cand)),
			ctx->prog, o->name);
	}
	if (argc > 1 && !strcmp(argv[argc - 1], "help")) {
		printf("Usage: %s %s %s %s\n  %s\n", ctx->prog, o->name,
		       o->cmds[idx].name, o->cmds[idx].args, o->cmds[idx].help);
		return 0;
	}
	return o->cmds[idx].fn(ctx, argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"pretty", no_argument, NULL, 'p'},
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0}};
	struct smtctl_ctx ctx = {.prog = "smtctl"};
	struct smtctl_object *o, *hit = NULL;
	const char *names[64];
	bool want_help = false;
	char *words[64];
	int c, hits = 0, n = 0;

	/*
	 * Options go anywhere, as with bpftool: `smtctl prog show -j` is
	 * `smtctl -j prog show` (GNU getopt permutes; no command takes an
	 * argument that starts with '-'). -h after an object or a command asks
	 * for that object's or command's help.
	 */
	while ((c = getopt_long(argc, argv, "jps:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			ctx.json = true;
			break;
		case 'p':
			ctx.json = ctx.pretty = true;
			break;
		case 's':
			ctx.sock_path = optarg;
			break;
		case 'h':
			want_help = true;
			break;
		case 'V':
			printf("smtctl (smt) %s, control protocol v%d\n",
			       smt_version(), SMT_CTL_VERSION);
			return 0;
		default:
			usage_objects(stderr, ctx.prog);
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (want_help && argc == 0) {
		usage_objects(stdout, ctx.prog);
		return 0;
	}
	if (argc == 0) {
		usage_objects(stderr, ctx.prog);
		return 1;
	}
	if (want_help) {
		if (argc + 2 > (int)(sizeof(words) / sizeof(words[0])))
			return smtctl_err(&ctx, "too many arguments");
		memcpy(words, argv, argc * sizeof(*argv));
		words[argc++] = "help";
		words[argc] = NULL;
		argv = words;
	}
	if (!strcmp(argv[0], "help")) {
		usage_objects(stdout, ctx.prog);
		return 0;
	}
	for (o = objects; o && n < 64; o = o->next)
		names[n++] = o->name;
	for (o = objects; o; o = o->next) {
		if (!strcmp(argv[0], o->name)) {
			hit = o;
			hits = 1;
			break;
		}
		if (smtctl_is_prefix(argv[0], o->name)) {
			hit = o;
			hits++;
		}
	}
	if (hits > 1) {
		char cand[512];

		return smtctl_err(
			&ctx, "object '%s' is ambiguous (%s); try '%s help'",
			argv[0],
			candidates(argv[0], names, n, cand, sizeof(cand)),
			ctx.prog);
	}
	if (hits == 0)
		return smtctl_err(&ctx, "object '%s' is unknown; try '%s help'",
				  argv[0], ctx.prog);
	return run_object(&ctx, hit, argc - 1, argv + 1) ? 1 : 0;
}
