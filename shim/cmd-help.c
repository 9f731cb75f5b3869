/*
 * Help, all of it from the tables: `baton --help` lists the commands of
 * cli_table (their subcommands' usage and what they do) and the
 * operations of common/ops.c; `baton help CMD [SUB]`, `baton CMD -h`
 * and `baton CMD --help` show one command; `baton help OP` one
 * operation's arguments and results.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "shim.h"

#define HELP_WIDTH 78
#define HELP_COL 22 /* where what a command does starts */

static int help_exec(const struct cmd_entry *, const struct client_opts *, int, char **);

const struct cmd_entry cmd_help_entry = {
	.name = "help",
	.usage = "help [COMMAND [SUBCOMMAND] | OP]",
	.desc = "this text; a command's usage; or the arguments and results of an "
		"operation",
	.exec = help_exec,
};

/* The length of the word at p; a [bracketed group] of a synopsis is one word. */
static int
help_word(const char *p)
{
	int len, depth = 0;

	for (len = 0; p[len] != '\0' && (p[len] != ' ' || depth > 0); len++) {
		if (p[len] == '[')
			depth++;
		else if (p[len] == ']' && depth > 0)
			depth--;
	}
	return (len);
}

/*
 * Print text wrapped at HELP_WIDTH: the first word at col (where the
 * caller left the line), continuation lines indented by indent.
 */
static void
help_wrap(FILE *fp, const char *text, int indent, int col)
{
	const char *p = text;
	int len, start = 1;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		len = help_word(p);
		if (!start && col + 1 + len > HELP_WIDTH) {
			fprintf(fp, "\n%*s", indent, "");
			col = indent;
			start = 1;
		}
		if (!start) {
			fputc(' ', fp);
			col++;
		}
		fprintf(fp, "%.*s", len, p);
		col += len;
		p += len;
		start = 0;
	}
	fputc('\n', fp);
}

/* The synopsis lines of usage (split by \n), each after prefix, then "       " (or two spaces). */
static void
help_synopsis(FILE *fp, const char *usage, const char *first, const char *next)
{
	const char *p, *nl;
	char *line;
	size_t n;

	for (p = usage; *p != '\0'; p = nl != NULL ? nl + 1 : p + n) {
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		line = xstrndup(p, n);
		fputs(p == usage ? first : next, fp);
		help_wrap(fp, line, (int)strlen(next) + 4, (int)strlen(next));
		free(line);
		if (nl == NULL)
			break;
	}
}

/* One block of --help: a usage, and what it does at HELP_COL (on its line when it fits). */
static void
help_block(FILE *fp, const char *usage, const char *desc)
{
	if (desc != NULL && strchr(usage, '\n') == NULL && strlen(usage) <= HELP_COL - 4) {
		fprintf(fp, "  %-*s", HELP_COL - 2, usage);
		help_wrap(fp, desc, HELP_COL, HELP_COL);
		return;
	}
	help_synopsis(fp, usage, "  ", "  ");
	if (desc != NULL) {
		fprintf(fp, "%*s", HELP_COL, "");
		help_wrap(fp, desc, HELP_COL, HELP_COL);
	}
}

/* The commands' blocks of --help. */
static void
help_commands(FILE *fp)
{
	const struct cmd_entry *ce;
	size_t i, k;

	for (i = 0; i < cli_ncmds; i++) {
		ce = cli_table[i];
		if (ce->subs == NULL) {
			help_block(fp, ce->usage, ce->desc);
			continue;
		}
		for (k = 0; k < ce->nsubs; k++)
			help_block(fp, ce->subs[k].usage, ce->subs[k].desc);
	}
}

/* The usage of the CLI: its commands, options and operations. */
void
help_usage(FILE *fp)
{
	size_t i;

	fputs("usage: baton [-S socket] [--group NAME] [--no-autostart] [--agent NAME]\n"
	      "             [--role ROLE] [--project DIR] COMMAND [ARGS...]\n"
	      "\n"
	      "Commands ('baton help COMMAND' or 'baton COMMAND --help' for one):\n",
	    fp);
	help_commands(fp);
	fputs("\n"
	      "Options:\n"
	      "  -S, --socket PATH   broker socket (default $BATON_SOCKET, else\n"
	      "                      /run/user/UID/baton/sock, ~/.local/state/baton/run/sock\n"
	      "                      or /tmp/baton-UID/sock)\n"
	      "      --group NAME    the team broker of Unix group NAME (batond --group;\n"
	      "                      default $BATON_GROUP): its socket, not BATON_SOCKET\n"
	      "      --no-autostart  fail instead of starting batond (BATON_NO_AUTOSTART=1)\n"
	      "      --agent NAME    agent name (default $BATON_AGENT, else cli-PID)\n"
	      "      --role ROLE     role: planner, implementer, reviewer... ($BATON_ROLE)\n"
	      "      --project DIR   project namespace (default $BATON_PROJECT,\n"
	      "                      $CLAUDE_PROJECT_DIR, an MCP client's first root,\n"
	      "                      the cwd; in a git checkout, its repository's\n"
	      "                      main worktree)\n"
	      "  -h, --help          this text\n"
	      "  -V, --version       the version\n"
	      "\n"
	      "Operations, also MCP tools (baton help OP shows arguments and results):\n",
	    fp);
	for (i = 0; i < OP_COUNT; i++) {
		if (!(ops[i].flags & OP_ADMIN))
			fprintf(fp, "  %-18s  %s\n", ops[i].name, ops[i].title);
	}
	fputs("\nFor the user, not offered to agents as tools (baton call OP):\n", fp);
	for (i = 0; i < OP_COUNT; i++) {
		if (ops[i].flags & OP_ADMIN)
			fprintf(fp, "  %-18s  %s\n", ops[i].name, ops[i].title);
	}
	fputs("\nExit status: 0 ok; 1 conflict or timeout; 64 usage; 65 bad data;\n"
	      "69 broker unavailable; 70 internal error; 75 baton lock lost its lock;\n"
	      "77 permission denied.\n",
	    fp);
}

/* The operations a command's subcommands run, and where their arguments are told. */
static void
help_ops(FILE *fp, const struct cmd_entry *ce, const struct cmd_sub *only)
{
	char *list = xstrdup(""), *t;
	size_t k, j, n = 0;

	for (k = 0; k < ce->nsubs; k++) {
		if (only != NULL && &ce->subs[k] != only)
			continue;
		for (j = 0;
		     only == NULL && j < k && strcmp(ce->subs[j].op, ce->subs[k].op) != 0; j++)
			;
		if (only == NULL && j < k)
			continue; /* another subcommand runs it too */
		xasprintf(&t, "%s%s%s", list, n++ > 0 ? ", " : "", ce->subs[k].op);
		free(list);
		list = t;
	}
	fprintf(fp, "\n%s ", n > 1 ? "Operations" : "Operation");
	xasprintf(&t, "%s: 'baton help %s' shows %s arguments and results.", list,
	    n > 1 ? "OP" : list, n > 1 ? "their" : "its");
	help_wrap(fp, t, 0, n > 1 ? 11 : 10);
	free(t);
	free(list);
}

/* `baton help CMD SUB`, `baton CMD SUB --help`: one subcommand. */
void
help_sub(FILE *fp, const struct cmd_entry *ce, const struct cmd_sub *sub)
{
	help_synopsis(fp, sub->usage, "usage: baton ", "       baton ");
	if (sub->desc != NULL) {
		fputc('\n', fp);
		help_wrap(fp, sub->desc, 0, 0);
	}
	help_ops(fp, ce, sub);
}

/* `baton help CMD`, `baton CMD --help`: its usage, and what it and its subcommands do. */
void
help_command(FILE *fp, const struct cmd_entry *ce)
{
	const struct cmd_sub *sub;
	size_t k;
	int width = 0;

	if (ce->subs == NULL) {
		help_synopsis(fp, ce->usage, "usage: baton ", "       baton ");
		fputc('\n', fp);
		help_wrap(fp, ce->desc, 0, 0);
		if (ce == &cmd_mcp_entry)
			mcp_profile_help(fp);
		return;
	}
	if (ce->nsubs == 1) {
		help_sub(fp, ce, &ce->subs[0]);
		return;
	}
	for (k = 0; k < ce->nsubs; k++) {
		help_synopsis(fp, ce->subs[k].usage, k == 0 ? "usage: baton " : "       baton ",
		    "       baton ");
		if ((int)strlen(ce->subs[k].name) > width)
			width = (int)strlen(ce->subs[k].name);
	}
	if (ce->desc != NULL) {
		fputc('\n', fp);
		help_wrap(fp, ce->desc, 0, 0);
	}
	fputc('\n', fp);
	for (k = 0; k < ce->nsubs; k++) {
		sub = &ce->subs[k];
		fprintf(fp, "  %-*s  ", width, sub->name);
		help_wrap(fp, sub->desc != NULL ? sub->desc : sub->usage, width + 4, width + 4);
	}
	if (ce->dflt != NULL)
		fprintf(fp, "\n'baton %s' alone is 'baton %s %s'.\n", ce->name, ce->name,
		    ce->dflt);
	help_ops(fp, ce, NULL);
}

static const char *
help_type_name(enum arg_type t)
{
	switch (t) {
	case ARG_STRING: return ("string");
	case ARG_INT: return ("integer");
	case ARG_NUMBER: return ("number");
	case ARG_BOOL: return ("boolean");
	case ARG_STRINGS: return ("array of strings");
	case ARG_JSON: return ("any JSON value");
	}
	return ("?");
}

/* Type, requirement, bounds, choices and default of an argument, in a few words. */
static void
help_arg_summary(const struct op_arg *a, char *buf, size_t len)
{
	size_t n;

	n = (size_t)snprintf(buf, len, "%s%s", help_type_name(a->type),
	    (a->flags & ARG_REQUIRED) ? ", required" : "");
	if (n >= len)
		return;
	switch (a->type) {
	case ARG_STRING:
		if (a->choices == NULL)
			n += (size_t)snprintf(buf + n, len - n, ", %g to %g bytes", a->min,
			    a->max);
		break;
	case ARG_INT:
	case ARG_NUMBER:
		n += (size_t)snprintf(buf + n, len - n, ", %g to %g", a->min, a->max);
		break;
	case ARG_STRINGS:
		n += (size_t)snprintf(buf + n, len - n, ", %g to %g items", a->min, a->max);
		break;
	case ARG_JSON:
		if (a->max > 0)
			n += (size_t)snprintf(buf + n, len - n, ", at most %g bytes", a->max);
		break;
	case ARG_BOOL: break;
	}
	if (n < len && a->choices != NULL)
		n += (size_t)snprintf(buf + n, len - n, ", one of %s", a->choices);
	if (n < len && a->def != NULL)
		snprintf(buf + n, len - n, ", default %s", a->def);
}

/* An example argument object: the required arguments and the first of one_of. */
static void
help_example(FILE *fp, const struct op *op)
{
	const struct op_arg *a;
	size_t i, n = 0, len;
	int want;

	fprintf(fp, "Example:\n  baton call %s '{", op->name);
	for (i = 0; i < op->nargs; i++) {
		a = &op->args[i];
		len = strlen(a->name);
		want = (a->flags & ARG_REQUIRED) ||
		    (op->one_of != NULL && strncmp(op->one_of, a->name, len) == 0 &&
			(op->one_of[len] == '|' || op->one_of[len] == '\0'));
		if (!want)
			continue;
		fprintf(fp, "%s\"%s\":", n++ > 0 ? "," : "", a->name);
		switch (a->type) {
		case ARG_STRING: fputs("\"...\"", fp); break;
		case ARG_INT:
		case ARG_NUMBER: fputs("1", fp); break;
		case ARG_BOOL: fputs("true", fp); break;
		case ARG_STRINGS: fputs("[\"...\"]", fp); break;
		case ARG_JSON: fputs("{}", fp); break;
		}
	}
	fputs("}'\n", fp);
}

/* `baton help OP`: everything about one operation, from the table. */
static void
help_op(FILE *fp, const struct op *op)
{
	char sum[256];
	size_t i;

	fprintf(fp, "%s - %s\n\n", op->name, op->title);
	help_wrap(fp, op->desc, 0, 0);
	snprintf(sum, sizeof sum, "%s%s%s%s",
	    (op->flags & OP_READONLY) ? "Read-only." : "Changes state.",
	    (op->flags & OP_IDEMPOTENT) ? " Idempotent." : "",
	    (op->flags & OP_DESTRUCTIVE) ? " May take something away." : "",
	    (op->flags & OP_BLOCKS) ? " May wait (wait_seconds)." : "");
	fprintf(fp, "\n%s\n", sum);
	fputc('\n', fp);
	if (op->nargs == 0)
		fputs("Arguments: none\n", fp);
	else if (op->one_of != NULL)
		fprintf(fp, "Arguments (give exactly one of %s):\n", op->one_of);
	else
		fputs("Arguments:\n", fp);
	for (i = 0; i < op->nargs; i++) {
		help_arg_summary(&op->args[i], sum, sizeof sum);
		fprintf(fp, "  %-18s  ", op->args[i].name);
		help_wrap(fp, sum, 22, 22);
		if (op->args[i].desc != NULL) {
			fprintf(fp, "%22s", "");
			help_wrap(fp, op->args[i].desc, 22, 22);
		}
	}
	fputs("\nResult fields:\n", fp);
	for (i = 0; i < op->nresults; i++) {
		fprintf(fp, "  %-18s  %s%s\n", op->results[i].name, op->results[i].type,
		    op->results[i].optional ? ", optional" : "");
		if (op->results[i].desc != NULL) {
			fprintf(fp, "%22s", "");
			help_wrap(fp, op->results[i].desc, 22, 22);
		}
	}
	fputc('\n', fp);
	help_example(fp, op);
}

/*
 * `baton help [COMMAND [SUBCOMMAND] | OP]`.  A name that is a command
 * and an operation (status) shows both.
 */
static int
help_exec(const struct cmd_entry *self, const struct client_opts *o, int argc, char **argv)
{
	const struct cmd_entry *ce;
	const struct op *op;
	size_t k;

	if (argc > 3)
		return (
		    cli_usage_err("help takes a command (and a subcommand) or an operation"));
	if (argc < 2) {
		help_usage(stdout);
		return (cli_flush(0));
	}
	ce = cli_find(argv[1]);
	op = op_find(argv[1], strlen(argv[1]));
	if (ce == NULL && op == NULL) {
		cli_err("no command or operation '%s'; 'baton help' lists them", argv[1]);
		return (EXIT_DATAERR);
	}
	if (argc == 3) {
		for (k = 0; ce != NULL && k < ce->nsubs; k++) {
			if (ce->subs[k].name != NULL &&
			    strcmp(ce->subs[k].name, argv[2]) == 0) {
				help_sub(stdout, ce, &ce->subs[k]);
				return (cli_flush(0));
			}
		}
		return (cli_usage_err("%s has no subcommand '%s'", argv[1], argv[2]));
	}
	if (ce != NULL)
		help_command(stdout, ce);
	if (ce != NULL && op != NULL)
		printf("\nThe operation %s:\n\n", op->name);
	if (op != NULL)
		help_op(stdout, op);
	return (cli_flush(0));
}
