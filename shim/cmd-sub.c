/*
 * Subcommands that are operations with arguments: `baton note set KEY
 * VALUE`, `baton task claim ID`, `baton release NAME TOKEN`...  A row of
 * a command's table (struct cmd_sub) names the operation, the arguments
 * its words fill and the arguments its options set; their types, bounds
 * and defaults come from the operation table (common/ops.c).  So the
 * command line is parsed, packed, checked and sent here, once, for every
 * such command: the arguments are packed a single time, checked with
 * op_validate before any broker is contacted, and sent as they are.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define CMD_STDIN_MAX (2 * 1024 * 1024)

/* The operation called name; a name missing from the table is a bug. */
static const struct op *
cmd_op(const char *name)
{
	const struct op *op;

	if ((op = op_find(name, strlen(name))) == NULL)
		fatalx("cmd: no operation %s in the table", name);
	return (op);
}

/* The index of op's argument name; an argument the operation lacks is a bug. */
static size_t
cmd_index(const struct op *op, const char *name, const struct op_arg **ap)
{
	const struct op_arg *a;

	if ((a = op_arg_find(op, name, strlen(name))) == NULL)
		fatalx("cmd: %s has no argument %s", op->name, name);
	if (ap != NULL)
		*ap = a;
	return ((size_t)(a - op->args));
}

/* What was given for argument name, to set it. */
static struct cmd_val *
cmd_val(struct cmd_call *cc, const char *name, const struct op_arg **ap)
{
	return (&cc->v[cmd_index(cc->op, name, ap)]);
}

/* What was given for argument name, to read it. */
static const struct cmd_val *
cmd_given(const struct cmd_call *cc, const char *name)
{
	return (&cc->v[cmd_index(cc->op, name, NULL)]);
}

/* Ready cc to call op (no subcommand: an exec making a call of its own). */
void
cmd_call_init(struct cmd_call *cc, const struct client_opts *o, const char *op)
{
	memset(cc, 0, sizeof *cc);
	cc->o = o;
	cc->op = cmd_op(op);
	cc->c.fd = -1;
	msgpack_unpacked_init(&cc->u);
}

/* Free what cc holds and end its session. */
void
cmd_call_done(struct cmd_call *cc)
{
	size_t i;

	for (i = 0; i < cc->op->nargs; i++)
		free(cc->v[i].list);
	free(cc->words);
	free(cc->stdin_text);
	msgpack_unpacked_destroy(&cc->u);
	free(cc->rbuf);
	if (cc->open)
		conn_close(&cc->c);
}

/* A usage error in cc's command line, with the subcommand's usage; exit status 64. */
int printflike(2, 3) cmd_usage_err(const struct cmd_call *cc, const char *fmt, ...)
{
	const char *usage = cc->sub != NULL ? cc->sub->usage : cc->op->name;
	va_list ap;
	char *msg;
	int r;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	r = cli_usage_err("%s; usage: baton %.*s", msg, (int)strcspn(usage, "\n"), usage);
	free(msg);
	return (r);
}

/* Set argument name to a string (NULL: not given). */
void
cmd_set_str(struct cmd_call *cc, const char *name, const char *s)
{
	struct cmd_val *v = cmd_val(cc, name, NULL);

	v->set = s != NULL;
	v->text = s;
}

/* Set a number or boolean argument. */
void
cmd_set_num(struct cmd_call *cc, const char *name, double d)
{
	struct cmd_val *v = cmd_val(cc, name, NULL);

	v->set = 1;
	v->num = d;
}

/* Set a list argument to n words (0: not given). */
void
cmd_set_list(struct cmd_call *cc, const char *name, char **words, size_t n)
{
	struct cmd_val *v = cmd_val(cc, name, NULL);
	size_t i;

	v->n = 0;
	v->set = n > 0;
	v->list = xreallocarray(v->list, n + 1, sizeof *v->list);
	for (i = 0; i < n; i++)
		v->list[v->n++] = words[i];
}

/* Was argument name given? */
int
cmd_has(const struct cmd_call *cc, const char *name)
{
	return (cmd_given(cc, name)->set);
}

/* The string given for argument name, or NULL. */
const char *
cmd_str(const struct cmd_call *cc, const char *name)
{
	const struct cmd_val *v = cmd_given(cc, name);

	return (v->set ? v->text : NULL);
}

/* The number given for argument name, or 0. */
double
cmd_num(const struct cmd_call *cc, const char *name)
{
	const struct cmd_val *v = cmd_given(cc, name);

	return (v->set ? v->num : 0);
}

/* The text of local option name, or NULL when not given. */
const char *
cmd_local(const struct cmd_call *cc, const char *name)
{
	const struct cmd_opt *co;

	for (co = cc->sub->opts; co != NULL && co->name != NULL; co++) {
		if (strcmp(co->name, name) == 0 && co->arg == NULL)
			return (cc->local[co - cc->sub->opts]);
	}
	fatalx("cmd: %s has no local option %s", cc->sub->usage, name);
}

/* A boolean field of the last result (false when absent). */
int
cmd_result_bool(const struct cmd_call *cc, const char *key)
{
	return (mp_get_bool(cc->r, key, 0));
}

/* Parse text as a number (whole: an integer); 0 or -1. */
static int
cmd_number(const char *text, int whole, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !isfinite(d) ||
	    (whole && d != floor(d)))
		return (-1);
	*out = d;
	return (0);
}

/*
 * Set argument name from the text of a word or an option value (label
 * names it in a message), typed by the table.  0, or a usage error.
 */
static int
cmd_set_text(struct cmd_call *cc, const char *name, const char *text, const char *label)
{
	const struct op_arg *a;
	struct cmd_val *v = cmd_val(cc, name, &a);

	switch (a->type) {
	case ARG_INT:
	case ARG_NUMBER:
		if (cmd_number(text, a->type == ARG_INT, &v->num) != 0)
			return (cmd_usage_err(cc, "%s takes %s, not '%s'", label,
			    a->type == ARG_INT ? "a whole number" : "a number", text));
		break;
	case ARG_BOOL: v->num = strcmp(text, "false") != 0; break;
	case ARG_STRINGS:
		v->list = xreallocarray(v->list, v->n + 1, sizeof *v->list);
		v->list[v->n++] = text;
		break;
	case ARG_STRING:
	case ARG_JSON: v->text = text; break;
	}
	v->set = 1;
	return (0);
}

/* The words beyond the subcommand's positions: all of them go to its rest list. */
static int
cmd_set_rest(struct cmd_call *cc, char **w, int n)
{
	const struct op_arg *a;
	struct cmd_val *v = cmd_val(cc, cc->sub->rest, &a);
	double d;
	int i, r;

	for (i = 0; i < n; i++) {
		if (a->type != ARG_JSON) {
			if ((r = cmd_set_text(cc, cc->sub->rest, w[i], a->name)) != 0)
				return (r);
			continue;
		}
		/* a JSON list of ids: message ids, whole numbers from 1 */
		if (cmd_number(w[i], 1, &d) != 0 || d < 1)
			return (cmd_usage_err(cc, "'%s' is not an id (a whole number from 1)",
			    w[i]));
		v->list = xreallocarray(v->list, v->n + 1, sizeof *v->list);
		v->list[v->n++] = w[i];
		v->set = 1;
	}
	return (0);
}

/* The words of the command line into the arguments pos and rest name. */
static int
cmd_set_words(struct cmd_call *cc, char **w, int n)
{
	const struct cmd_sub *sub = cc->sub;
	int i, npos, r;

	for (npos = 0; npos < (int)nitems(sub->pos) && sub->pos[npos] != NULL; npos++)
		;
	if (n > npos && sub->rest == NULL)
		return (cmd_usage_err(cc, "too many arguments"));
	if (n < sub->npos)
		return (cmd_usage_err(cc, "missing arguments"));
	if (n > npos)
		return (cmd_set_rest(cc, w, n));
	for (i = 0; i < n; i++) {
		if (sub->stdin_arg != NULL && strcmp(sub->pos[i], sub->stdin_arg) == 0 &&
		    strcmp(w[i], "-") == 0) {
			if ((cc->stdin_text = cli_read_stdin(CMD_STDIN_MAX, "the text")) ==
			    NULL)
				return (EXIT_DATAERR);
			w[i] = cc->stdin_text;
		}
		if ((r = cmd_set_text(cc, sub->pos[i], w[i], sub->pos[i])) != 0)
			return (r);
	}
	return (0);
}

/* Does option co take a word as its value? */
static int
cmd_opt_takes_value(const struct cmd_call *cc, const struct cmd_opt *co)
{
	const struct op_arg *a;

	if (co->value != NULL)
		return (0);
	if (co->arg == NULL)
		return (1);
	cmd_index(cc->op, co->arg, &a);
	return (a->type != ARG_BOOL);
}

/* Apply option co with value val (NULL when it takes none). */
static int
cmd_opt_apply(struct cmd_call *cc, const struct cmd_opt *co, const char *val, const char *label)
{
	if (val == NULL)
		val = co->value != NULL ? co->value : "true";
	if (co->arg == NULL) {
		if (co - cc->sub->opts >= CMD_OPTS_MAX)
			fatalx("cmd: %s has more than %d options", cc->sub->usage,
			    CMD_OPTS_MAX);
		cc->local[co - cc->sub->opts] = val;
		return (0);
	}
	return (cmd_set_text(cc, co->arg, val, label));
}

/* The option of cc's subcommand with long name (n bytes) or short letter ch. */
static const struct cmd_opt *
cmd_opt_find(const struct cmd_call *cc, const char *name, size_t n, int ch)
{
	const struct cmd_opt *co;

	for (co = cc->sub->opts; co != NULL && co->name != NULL; co++) {
		if (name != NULL && strlen(co->name) == n && strncmp(co->name, name, n) == 0)
			return (co);
		if (name == NULL && ch != 0 && co->ch == ch)
			return (co);
	}
	return (NULL);
}

/* A long option, --name or --name=value, at argv[*i]. */
static int
cmd_long_opt(struct cmd_call *cc, int argc, char **argv, int *i)
{
	const struct cmd_opt *co;
	const char *a = argv[*i] + 2, *eq = strchr(a, '=');
	size_t n = eq != NULL ? (size_t)(eq - a) : strlen(a);

	if ((co = cmd_opt_find(cc, a, n, 0)) == NULL)
		return (cmd_usage_err(cc, "unknown option '%s'", argv[*i]));
	if (!cmd_opt_takes_value(cc, co)) {
		if (eq != NULL)
			return (cmd_usage_err(cc, "--%s takes no value", co->name));
		return (cmd_opt_apply(cc, co, NULL, argv[*i]));
	}
	if (eq != NULL)
		return (cmd_opt_apply(cc, co, eq + 1, argv[*i]));
	if (*i + 1 >= argc)
		return (cmd_usage_err(cc, "%s needs a value", argv[*i]));
	*i += 1;
	return (cmd_opt_apply(cc, co, argv[*i], argv[*i - 1]));
}

/* Short options at argv[*i]: -x, -xy (flags together), -wVALUE or -w VALUE. */
static int
cmd_short_opts(struct cmd_call *cc, int argc, char **argv, int *i)
{
	const struct cmd_opt *co;
	const char *p;
	char label[3] = "-?";
	int r;

	for (p = argv[*i] + 1; *p != '\0'; p++) {
		label[1] = *p;
		if (*p == 'j' && (cc->sub->flags & CMD_JSON)) {
			cc->json = 1;
			continue;
		}
		if ((co = cmd_opt_find(cc, NULL, 0, (unsigned char)*p)) == NULL)
			return (cmd_usage_err(cc, "unknown option '%s'", label));
		if (!cmd_opt_takes_value(cc, co)) {
			if ((r = cmd_opt_apply(cc, co, NULL, label)) != 0)
				return (r);
			continue;
		}
		if (p[1] != '\0')
			return (cmd_opt_apply(cc, co, p + 1, label));
		if (*i + 1 >= argc)
			return (cmd_usage_err(cc, "%s needs a value", label));
		*i += 1;
		return (cmd_opt_apply(cc, co, argv[*i], label));
	}
	return (0);
}

/*
 * Parse the words after the subcommand (argv[0] is its word): options
 * anywhere until "--" (or, CMD_STOP, until the first word), words in
 * order.  0, -1 when help was asked for (and printed), or an exit status.
 */
static int
cmd_parse(struct cmd_call *cc, int argc, char **argv)
{
	const struct cmd_sub *sub = cc->sub;
	char **w;
	int i, n = 0, opts = 1, r = 0;

	if (sub->preset[0] != NULL &&
	    (r = cmd_set_text(cc, sub->preset[0], sub->preset[1], sub->preset[0])) != 0)
		return (r);
	w = xcalloc((size_t)argc, sizeof *w);
	for (i = 1; i < argc && r == 0; i++) {
		if (!opts || argv[i][0] != '-' || argv[i][1] == '\0') {
			w[n++] = argv[i];
			if (sub->flags & CMD_STOP)
				opts = 0;
		} else if (strcmp(argv[i], "--") == 0)
			opts = 0;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			help_sub(stdout, cc->cmd, sub);
			r = -1;
		} else if (strcmp(argv[i], "--json") == 0 && (sub->flags & CMD_JSON))
			cc->json = 1;
		else if (strcmp(argv[i], "--json-value") == 0 && (sub->flags & CMD_JSON_VALUE))
			cc->json_value = 1;
		else if (argv[i][1] == '-')
			r = cmd_long_opt(cc, argc, argv, &i);
		else
			r = cmd_short_opts(cc, argc, argv, &i);
	}
	if (r == 0 && (sub->flags & CMD_STOP)) {
		cc->words = w;
		cc->nwords = n;
		return (0);
	}
	if (r == 0)
		r = cmd_set_words(cc, w, n);
	free(w);
	return (r);
}

/* Pack a JSON argument: a list of ids, JSON text (--json-value) or a string. */
static int
cmd_pack_json(const struct cmd_call *cc, const struct cmd_val *v, struct fbuf *fb)
{
	cJSON *j;
	size_t k;
	int r;

	if (v->list != NULL) {
		pk_array(fb, v->n);
		for (k = 0; k < v->n; k++)
			pk_int(fb, strtoll(v->list[k], NULL, 10));
		return (0);
	}
	if (!cc->json_value) {
		pk_str(fb, v->text);
		return (0);
	}
	if ((j = cJSON_ParseWithOpts(v->text, NULL, 1)) == NULL) {
		cli_err("invalid JSON value '%.40s'; quote strings (\"text\") or drop "
			"--json-value",
		    v->text);
		return (-1);
	}
	if (cli_json_nul(v->text)) {
		cJSON_Delete(j);
		return (-1);
	}
	r = json_pack(fb, j);
	cJSON_Delete(j);
	return (r);
}

/* Pack the arguments given, as one map in table order. */
static int
cmd_pack(const struct cmd_call *cc, struct fbuf *fb)
{
	const struct op_arg *a;
	const struct cmd_val *v;
	size_t i, k;

	pk_map_open(fb);
	for (i = 0; i < cc->op->nargs; i++) {
		a = &cc->op->args[i];
		v = &cc->v[i];
		if (!v->set)
			continue;
		pk_str(fb, a->name);
		switch (a->type) {
		case ARG_INT: pk_int(fb, (int64_t)v->num); break;
		case ARG_NUMBER: pk_double(fb, v->num); break;
		case ARG_BOOL: pk_bool(fb, v->num != 0); break;
		case ARG_STRINGS:
			pk_array(fb, v->n);
			for (k = 0; k < v->n; k++)
				pk_str(fb, v->list[k]);
			break;
		case ARG_JSON:
			if (cmd_pack_json(cc, v, fb) != 0)
				return (-1);
			break;
		case ARG_STRING: pk_str(fb, v->text); break;
		}
	}
	pk_map_close(fb);
	return (0);
}

/*
 * Call the operation with the arguments set: pack them, check them
 * against the table, open the session on first use, send.  0 with the
 * result in cc->r, or an exit status (the failure said).
 */
int
cmd_call_op(struct cmd_call *cc)
{
	const msgpack_object *vals[OP_MAX_ARGS];
	struct op_error err;
	msgpack_unpacked a;
	struct fbuf fb;
	const char *args;
	size_t len, off = 0;
	int status = 0;

	memset(&err, 0, sizeof err);
	fbuf_init(&fb);
	msgpack_unpacked_init(&a);
	if (cmd_pack(cc, &fb) != 0) {
		status = EXIT_DATAERR;
		goto out;
	}
	args = fb.sb.data + FRAME_HDR;
	len = fb.sb.size - FRAME_HDR;
	if (fb.err || msgpack_unpack_next(&a, args, len, &off) != MSGPACK_UNPACK_SUCCESS) {
		cli_err("cannot encode the request");
		status = EXIT_SOFTWARE;
	} else if (op_validate(cc->op, &a.data, vals, &err) != 0)
		status = cli_fail(cc->op->name, &err);
	else if (!cc->open && conn_open(&cc->c, cc->o, &err) != 0)
		status = cli_fail(NULL, &err);
	else if (cc->open = 1, cc->op->flags & OP_CLIENT)
		status = xop_cli_call(cc, args, len); /* git, tmux: run here (xop.c) */
	else {
		msgpack_unpacked_destroy(&cc->u);
		msgpack_unpacked_init(&cc->u);
		if (conn_call(&cc->c, cc->op->name, args, len, &cc->u, &cc->r, &err) != 0)
			status = cli_fail(cc->op->name, &err);
		else if (cc->op == &ops[OP_task_claim])
			status = xop_cli_claimed(cc); /* isolation:worktree: its worktree */
		else if (cc->op == &ops[OP_task_approve])
			status = xop_cli_approved(cc); /* baton.autoMerge: merged */
	}
out:
	msgpack_unpacked_destroy(&a);
	fbuf_free(&fb);
	return (status);
}

/* The usual exec: call once, then the result as JSON (--json) or for people. */
int
cmd_call_show(struct cmd_call *cc)
{
	int status;

	if ((status = cmd_call_op(cc)) != 0)
		return (status);
	if (cc->json || cc->sub == NULL || cc->sub->show == NULL)
		return (cli_print_json(cc->r));
	return (cli_flush(cc->sub->show(cc)));
}

/* The subcommand of ce named name, or NULL. */
static const struct cmd_sub *
cmd_sub_find(const struct cmd_entry *ce, const char *name)
{
	size_t k;

	for (k = 0; k < ce->nsubs; k++) {
		if (ce->subs[k].name != NULL && strcmp(ce->subs[k].name, name) == 0)
			return (&ce->subs[k]);
	}
	return (NULL);
}

/* "a, b or c": the names of ce's subcommands, for a message. */
static char *
cmd_sub_names(const struct cmd_entry *ce)
{
	char *s = xstrdup(""), *t;
	size_t k;

	for (k = 0; k < ce->nsubs; k++) {
		xasprintf(&t, "%s%s%s", s,
		    k == 0                   ? ""
			: k + 1 == ce->nsubs ? " or "
					     : ", ",
		    ce->subs[k].name);
		free(s);
		s = t;
	}
	return (s);
}

/*
 * The exec of a command made of subcommands: pick the subcommand (the
 * command's only one, the word after it, or the default when an option
 * or nothing follows), parse, run.
 */
int
cmd_sub_main(const struct cmd_entry *ce, const struct client_opts *o, int argc, char **argv)
{
	const struct cmd_sub *sub = NULL;
	struct cmd_call cc;
	char *names;
	int status, shift = 0;

	if (ce->nsubs == 1 && ce->subs[0].name == NULL)
		sub = &ce->subs[0];
	else if (argc > 1 && (sub = cmd_sub_find(ce, argv[1])) != NULL)
		shift = 1;
	else if (ce->dflt != NULL && (argc == 1 || argv[1][0] == '-'))
		sub = cmd_sub_find(ce, ce->dflt);
	if (sub == NULL) {
		names = cmd_sub_names(ce);
		if (argc > 1)
			status = cli_usage_err("unknown %s subcommand '%s' (%s)", ce->name,
			    argv[1], names);
		else
			status = cli_usage_err("%s needs a subcommand: %s", ce->name, names);
		free(names);
		return (status);
	}
	cmd_call_init(&cc, o, sub->op);
	cc.cmd = ce;
	cc.sub = sub;
	if ((status = cmd_parse(&cc, argc - shift, argv + shift)) == -1)
		status = cli_flush(0); /* help */
	else if (status == 0)
		status = sub->exec != NULL ? sub->exec(&cc) : cmd_call_show(&cc);
	cmd_call_done(&cc);
	return (status);
}
