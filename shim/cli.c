/*
 * The `baton` command line: global options, then a command.  Generic
 * commands (call, help) are generated from the operation table so a new
 * operation needs nothing here.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define CLI_WIDTH 78
#define CLI_STDIN_MAX (2 * 1024 * 1024)

/* One line on stderr: "baton: " and the message. */
void printflike(1, 2)
cli_err(const char *fmt, ...)
{
	va_list ap;

	fputs("baton: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A usage error: say what is wrong and where help is; exit status 64. */
int printflike(1, 2)
cli_usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("baton: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; try 'baton --help'\n", stderr);
	return (EXIT_USAGE);
}

/* Print text wrapped at CLI_WIDTH, continuation lines indented by indent; col is where we are. */
static void
cli_wrap(FILE *fp, const char *text, int indent, int col)
{
	const char *p = text, *sp;
	int len;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		sp = strchr(p, ' ');
		len = sp != NULL ? (int)(sp - p) : (int)strlen(p);
		if (col > indent && col + 1 + len > CLI_WIDTH) {
			fprintf(fp, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', fp);
			col++;
		}
		fprintf(fp, "%.*s", len, p);
		col += len;
		p += len;
	}
	fputc('\n', fp);
}

/* The usage of the CLI and the list of operations. */
static void
cli_usage(FILE *fp)
{
	size_t i;

	fputs("usage: baton [-S socket] [--no-autostart] [--agent NAME] [--role ROLE]\n"
	    "             [--project DIR] COMMAND [ARGS...]\n"
	    "\n"
	    "Commands:\n"
	    "  status [--json]     the broker, your project and your session\n"
	    "  call OP [JSON]      run operation OP with a JSON object of arguments\n"
	    "                      (default {}; - reads it from stdin); prints the result\n"
	    "                      as one JSON line\n"
	    "  lock [-s|-x] [-n | -w SECONDS] [-E CODE] [--reason TEXT] NAME... -- CMD...\n"
	    "                      run CMD holding the locks (like flock(1)); they go\n"
	    "                      when CMD ends or baton dies; the exit status is CMD's\n"
	    "  lock --break [--reason TEXT] NAME...\n"
	    "                      take a forgotten lock away from its holders (they are\n"
	    "                      told in their inbox)\n"
	    "  acquire [-s|-x] [-n | -w SECONDS] [--ttl SECONDS] [--json] NAME...\n"
	    "                      take detached locks (ttl default 600 s); prints the token\n"
	    "  release NAME TOKEN  release a lock taken with acquire\n"
	    "  renew NAME TOKEN SECONDS\n"
	    "                      make a detached lock expire SECONDS from now\n"
	    "  locks [--json] [PREFIX]\n"
	    "                      who holds which lock, and who waits\n"
	    "  task [list] [--json] [-s STATUS] [-o AGENT] [-t TAG] [-r]\n"
	    "                      the task board: id, status, priority, assignee, title\n"
	    "  task create [-c COMPLEXITY] [-p PRIORITY] [-d TEXT] [--dep ID]... TITLE\n"
	    "  task get|claim|submit|approve|request-changes|release|update ...\n"
	    "                      tasks through their status machine ('baton task -h')\n"
	    "  project [get] | project set [--plan TEXT] [-s STATUS] ...\n"
	    "                      the project's context, plan and status\n"
	    "  note set KEY VALUE [--json-value] [--if-version N] [--ttl SECONDS]\n"
	    "                      write a note (VALUE is a string unless --json-value);\n"
	    "                      prints its version; exit 1 if --if-version mismatched\n"
	    "  note get KEY        print a note's value; exit 1 when absent\n"
	    "  note delete KEY [--if-version N]\n"
	    "  note list [PREFIX] [--limit N]\n"
	    "  note wait KEY [--after VERSION] [-w SECONDS]\n"
	    "                      wait until KEY is written or deleted past VERSION\n"
	    "                      (default 0: until it exists); prints the value\n"
	    "  counter incr NAME [--by N]\n"
	    "                      add atomically (default 1, 0 reads); prints the value\n"
	    "  event signal NAME [PAYLOAD] [--json-value]\n"
	    "                      wake every waiter; prints the new generation\n"
	    "  event wait NAME [--after GENERATION] [-w SECONDS]\n"
	    "                      wait until signaled past GENERATION (default 0);\n"
	    "                      prints the generation; exit 1 on timeout\n"
	    "                      (note, counter and event take --json for scripts)\n"
	    "  agents [--role ROLE] [--json]\n"
	    "                      who is present in the project, their roles and locks\n"
	    "  msg send TO BODY|- [--subject S] [--thread T]\n"
	    "                      mail an agent, role:ROLE or all (- reads stdin)\n"
	    "  msg inbox [--after ID] [--unread] [-w SECONDS] [--limit N]\n"
	    "                      your mail (--agent names you); the cursor goes to\n"
	    "                      stderr; with -w, exit 1 when nothing came\n"
	    "  msg ack ID... | --up-to ID | --all\n"
	    "                      mark messages read\n"
	    "  discuss start TOPIC MESSAGE [--waiting-on WHO] [--category C] [--priority P]\n"
	    "  discuss reply ID MESSAGE [--waiting-on WHO]\n"
	    "  discuss resolve ID DECISION [--reasoning R] [--task T] [--token TOKEN]\n"
	    "  discuss list [--status open|resolved|all] [--waiting-on WHO]\n"
	    "  discuss show ID     a discussion's thread and resolution\n"
	    "                      (agents, msg and discuss take --json for scripts)\n"
	    "  mcp                 serve MCP over stdio (for agent clients)\n"
	    "  install [--claude] [--codex] [--all] [--scope project|user]\n"
	    "                      add baton to Claude Code (the project's .mcp.json, or\n"
	    "                      ~/.claude.json with --scope user) and to Codex\n"
	    "                      (~/.codex/config.toml); default: both agents\n"
	    "  uninstall [--claude] [--codex] [--all] [--scope project|user]\n"
	    "                      take out exactly what install added\n"
	    "  init [--force]      write the coordination instructions into CLAUDE.md\n"
	    "                      and AGENTS.md (--force: refresh them)\n"
	    "  disable, enable     take the instructions out of this project, put them back\n"
	    "  service install|uninstall\n"
	    "                      systemd user units that start batond on demand\n"
	    "  export [-o FILE] [-D STATE-DIR]\n"
	    "                      the whole state as JSON (stdout by default): from the\n"
	    "                      running broker, else read from the state directory\n"
	    "  import [--replace] [-D STATE-DIR] FILE\n"
	    "                      build state.db from an export, with no broker running\n"
	    "                      (--replace moves a state.db holding rows aside)\n"
	    "  help [OP]           this text, or the arguments and results of OP\n"
	    "\n"
	    "Options:\n"
	    "  -S, --socket PATH   broker socket (default $BATON_SOCKET, else\n"
	    "                      /run/user/UID/baton/sock or /tmp/baton-UID/sock)\n"
	    "      --no-autostart  fail instead of starting batond (BATON_NO_AUTOSTART=1)\n"
	    "      --agent NAME    agent name (default $BATON_AGENT, else cli-PID)\n"
	    "      --role ROLE     role: planner, implementer, reviewer... ($BATON_ROLE)\n"
	    "      --project DIR   project namespace (default $BATON_PROJECT,\n"
	    "                      $CLAUDE_PROJECT_DIR, an MCP client's first root,\n"
	    "                      the git top-level, the cwd)\n"
	    "  -h, --help          this text\n"
	    "  -V, --version       the version\n"
	    "\n"
	    "Operations, also MCP tools (baton help OP shows arguments and results):\n", fp);
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
	    "69 broker unavailable; 70 internal error; 77 permission denied.\n", fp);
}

static const char *
cli_type_name(enum arg_type t)
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
cli_arg_summary(const struct op_arg *a, char *buf, size_t len)
{
	size_t n;

	n = (size_t)snprintf(buf, len, "%s%s", cli_type_name(a->type),
	    (a->flags & ARG_REQUIRED) ? ", required" : "");
	if (n >= len)
		return;
	switch (a->type) {
	case ARG_STRING:
		if (a->choices == NULL)
			n += (size_t)snprintf(buf + n, len - n, ", %g to %g bytes", a->min, a->max);
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
	case ARG_BOOL:
		break;
	}
	if (n < len && a->choices != NULL)
		n += (size_t)snprintf(buf + n, len - n, ", one of %s", a->choices);
	if (n < len && a->def != NULL)
		snprintf(buf + n, len - n, ", default %s", a->def);
}

/* An example argument object: the required arguments and the first of one_of. */
static void
cli_example(FILE *fp, const struct op *op)
{
	const struct op_arg *a;
	size_t i, n = 0, len;
	int want;

	fprintf(fp, "Example:\n  baton call %s '{", op->name);
	for (i = 0; i < op->nargs; i++) {
		a = &op->args[i];
		len = strlen(a->name);
		want = (a->flags & ARG_REQUIRED) || (op->one_of != NULL &&
		    strncmp(op->one_of, a->name, len) == 0 &&
		    (op->one_of[len] == '|' || op->one_of[len] == '\0'));
		if (!want)
			continue;
		fprintf(fp, "%s\"%s\":", n++ > 0 ? "," : "", a->name);
		switch (a->type) {
		case ARG_STRING: fputs("\"...\"", fp); break;
		case ARG_INT: case ARG_NUMBER: fputs("1", fp); break;
		case ARG_BOOL: fputs("true", fp); break;
		case ARG_STRINGS: fputs("[\"...\"]", fp); break;
		case ARG_JSON: fputs("{}", fp); break;
		}
	}
	fputs("}'\n", fp);
}

/* `baton help OP`: everything about one operation, from the table. */
static void
cli_help_op(FILE *fp, const struct op *op)
{
	char sum[256];
	size_t i;

	fprintf(fp, "%s - %s\n\n", op->name, op->title);
	cli_wrap(fp, op->desc, 0, 0);
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
		cli_arg_summary(&op->args[i], sum, sizeof sum);
		fprintf(fp, "  %-18s  ", op->args[i].name);
		cli_wrap(fp, sum, 22, 22);
		if (op->args[i].desc != NULL) {
			fprintf(fp, "%22s", "");
			cli_wrap(fp, op->args[i].desc, 22, 22);
		}
	}
	fputs("\nResult fields:\n", fp);
	for (i = 0; i < op->nresults; i++) {
		fprintf(fp, "  %-18s  %s%s\n", op->results[i].name, op->results[i].type,
		    op->results[i].optional ? ", optional" : "");
		if (op->results[i].desc != NULL) {
			fprintf(fp, "%22s", "");
			cli_wrap(fp, op->results[i].desc, 22, 22);
		}
	}
	fputc('\n', fp);
	cli_example(fp, op);
}

/* Say that name is not an operation; exit status 65. */
static int
cli_unknown_op(const char *name)
{
	cli_err("unknown operation '%s'; 'baton help' lists them", name);
	return (EXIT_DATAERR);
}

/* `baton help [OP]`. */
static int
cli_cmd_help(int argc, char **argv)
{
	const struct op *op;

	if (argc > 2)
		return (cli_usage_err("help takes at most one operation name"));
	if (argc < 2) {
		cli_usage(stdout);
		return (0);
	}
	if ((op = op_find(argv[1], strlen(argv[1]))) == NULL)
		return (cli_unknown_op(argv[1]));
	cli_help_op(stdout, op);
	return (0);
}

/* Flush stdout and report a failed write (a full disk, a closed pipe). */
static int
cli_flush(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_err("cannot write the output: %s", strerror(errno));
		return (status == 0 ? EXIT_SOFTWARE : status);
	}
	return (status);
}

/* Report a failed operation or connection on stderr; its exit status. */
int
cli_fail(const char *op, const struct op_error *err)
{
	if (op != NULL)
		cli_err("%s: %s", op, err->message);
	else
		cli_err("%s", err->message);
	return (exit_status_for(err->code));
}

/* Print a msgpack object as one compact JSON line. */
int
cli_print_json(const msgpack_object *o)
{
	cJSON *j;
	char *s;

	if ((j = json_from_msgpack(o)) == NULL || (s = cJSON_PrintUnformatted(j)) == NULL) {
		cJSON_Delete(j);
		cli_err("out of memory printing the result");
		return (EXIT_SOFTWARE);
	}
	puts(s);
	free(s);
	cJSON_Delete(j);
	return (cli_flush(0));
}

/* Connect, call op with args, print the result with show; the exit status. */
static int
cli_run(const struct client_opts *o, const char *op, const msgpack_object *args,
    int (*show)(const struct client_opts *, const msgpack_object *))
{
	struct conn c;
	struct op_error err;
	msgpack_unpacked u;
	const msgpack_object *r;
	int status;

	memset(&err, 0, sizeof err);
	if (conn_open(&c, o, &err) != 0)
		return (cli_fail(NULL, &err));
	msgpack_unpacked_init(&u);
	if (conn_call(&c, op, args, &u, &r, &err) != 0)
		status = cli_fail(op, &err);
	else
		status = show(o, r);
	msgpack_unpacked_destroy(&u);
	conn_close(&c);
	return (status);
}

/* show for `call` and `status --json`. */
static int
cli_show_json(const struct client_opts *o, const msgpack_object *r)
{
	return (cli_print_json(r));
}

/* A result field as text in buf ("?" when absent). */
static const char *
cli_field(const msgpack_object *r, const char *key, char *buf, size_t len)
{
	const msgpack_object *v = mp_get(r, key);
	const char *s;
	size_t n;
	int64_t i;
	double d;

	if (mp_str(v, &s, &n) == 0)
		snprintf(buf, len, "%.*s", (int)n, s);
	else if (mp_int(v, &i) == 0)
		snprintf(buf, len, "%lld", (long long)i);
	else if (mp_num(v, &d) == 0)
		snprintf(buf, len, "%g", d);
	else
		snprintf(buf, len, "?");
	return (buf);
}

/* Seconds as "3d 4h", "5m 12s", "42s". */
const char *
cli_duration(const msgpack_object *v, char *buf, size_t len)
{
	double d;
	long s;

	if (mp_num(v, &d) != 0 || d < 0)
		return ("?");
	s = (long)d;
	if (s >= 86400)
		snprintf(buf, len, "%ldd %ldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%ldh %ldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, len, "%ldm %lds", s / 60, s % 60);
	else
		snprintf(buf, len, "%lds", s);
	return (buf);
}

/* show for `status`: a few aligned lines for people. */
static int
cli_show_status(const struct client_opts *o, const msgpack_object *r)
{
	char a[PATH_MAX], b[64], c[64], d[64], sock[PATH_MAX], *cause;

	if (o->socket != NULL)
		snprintf(sock, sizeof sock, "%s", o->socket);
	else if (path_socket(sock, sizeof sock, &cause) != 0) {
		snprintf(sock, sizeof sock, "?");
		free(cause);
	}
	printf("broker    batond %s (protocol %s), pid %s, up %s\n",
	    cli_field(r, "version", a, sizeof a), cli_field(r, "protocol", b, sizeof b),
	    cli_field(r, "pid", c, sizeof c), cli_duration(mp_get(r, "uptime_seconds"), d, sizeof d));
	printf("socket    %s\n", sock);
	printf("state     %s%s\n", mp_get(r, "durability") != NULL ? "durability " :
	    "none (in memory)", mp_get(r, "durability") != NULL ?
	    cli_field(r, "durability", a, sizeof a) : "");
	if (mp_get(r, "store_error") != NULL)
		printf("          NOT SAVING: %s (answers to changes wait until it can)\n",
		    cli_field(r, "store_error", a, sizeof a));
	printf("sessions  %s connected, %s in this project\n", cli_field(r, "sessions", a, sizeof a),
	    cli_field(r, "project_sessions", b, sizeof b));
	printf("locks     %s held, %s in this project; %s waiting; revision %s\n",
	    cli_field(r, "locks", a, sizeof a), cli_field(r, "project_locks", b, sizeof b),
	    cli_field(r, "waiters", c, sizeof c), cli_field(r, "revision", d, sizeof d));
	printf("project   %s\n", cli_field(r, "project", a, sizeof a));
	printf("you       agent %s, session %s\n", cli_field(r, "agent", a, sizeof a),
	    cli_field(r, "session", b, sizeof b));
	if (mp_get(r, "store_error") == NULL)
		setup_status(o); /* its calls would wait for the database */
	return (cli_flush(0));
}

/* `baton status [--json]`. */
static int
cli_cmd_status(const struct client_opts *o, int argc, char **argv)
{
	int i, json = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			json = 1;
		else
			return (cli_usage_err("status: unknown argument '%s' (only --json)", argv[i]));
	}
	return (cli_run(o, "status", NULL, json ? cli_show_json : cli_show_status));
}

/* All of stdin, NUL-terminated, or NULL (too big, read error) with a message said. */
static char *
cli_read_stdin(void)
{
	char *buf = NULL;
	size_t len = 0, size = 0, n;

	for (;;) {
		if (size - len < 4096) {
			size = size == 0 ? 8192 : size * 2;
			buf = xreallocarray(buf, 1, size + 1);
		}
		n = fread(buf + len, 1, size - len, stdin);
		len += n;
		if (len > CLI_STDIN_MAX) {
			cli_err("the JSON on stdin is larger than %d bytes", CLI_STDIN_MAX);
			free(buf);
			return (NULL);
		}
		if (n == 0)
			break;
	}
	if (ferror(stdin)) {
		cli_err("cannot read stdin: %s", strerror(errno));
		free(buf);
		return (NULL);
	}
	buf[len] = '\0';
	return (buf);
}

/* Parse JSON text; NULL with a message naming the line and column. */
static cJSON *
cli_parse_json(const char *text)
{
	const char *end = NULL, *p, *at;
	cJSON *j;
	int line = 1, col = 1;

	if ((j = cJSON_ParseWithOpts(text, &end, 1)) != NULL)
		return (j);
	at = cJSON_GetErrorPtr();
	if (at == NULL || at < text || at > text + strlen(text))
		at = end != NULL ? end : text;
	for (p = text; p < at; p++) {
		if (*p == '\n') {
			line++;
			col = 1;
		} else
			col++;
	}
	if (*at == '\0')
		cli_err("invalid JSON at line %d column %d: unexpected end; give one object, "
		    "e.g. '{\"name\":\"x\"}'", line, col);
	else
		cli_err("invalid JSON at line %d column %d near '%.16s'; give one object, "
		    "e.g. '{\"name\":\"x\"}'", line, col, at);
	return (NULL);
}

/* `baton call OP [JSON]`: validate locally, then run, print the result as JSON. */
static int
cli_cmd_call(const struct client_opts *o, int argc, char **argv)
{
	const msgpack_object *args, *vals[OP_MAX_ARGS];
	const struct op *op;
	struct op_error err;
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	cJSON *j;
	char *text = NULL;
	size_t len;
	int status;

	if (argc < 2)
		return (cli_usage_err("call needs an operation: baton call OP [JSON]"));
	if (argc > 3)
		return (cli_usage_err("call takes OP and one JSON argument; quote the JSON"));
	if ((op = op_find(argv[1], strlen(argv[1]))) == NULL)
		return (cli_unknown_op(argv[1]));
	if (argc == 3 && strcmp(argv[2], "-") == 0) {
		if ((text = cli_read_stdin()) == NULL)
			return (EXIT_DATAERR);
	}
	j = cli_parse_json(text != NULL ? text : argc == 3 ? argv[2] : "{}");
	free(text);
	if (j == NULL)
		return (EXIT_DATAERR);

	memset(&err, 0, sizeof err);
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&u);
	if (json_args_to_msgpack(j, &sb, &u, &args, &err) != 0 ||
	    op_validate(op, args, vals, &err) != 0) {
		/* op_validate's messages sometimes start with the op's name already */
		len = strlen(op->name);
		cli_err("%s%s%s; see 'baton help %s'",
		    strncmp(err.message, op->name, len) == 0 && err.message[len] == ' ' ?
		    "" : op->name, strncmp(err.message, op->name, len) == 0 &&
		    err.message[len] == ' ' ? "" : ": ", err.message, op->name);
		status = exit_status_for(err.code);
	} else
		status = cli_run(o, op->name, args, cli_show_json);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	cJSON_Delete(j);
	return (status);
}

/* Global options into o; the index of the command in argv, or -1 with *status set. */
static int
cli_globals(int argc, char **argv, struct client_opts *o, int *status)
{
	enum { OPT_NO_AUTOSTART = 256, OPT_AGENT, OPT_ROLE, OPT_PROJECT };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "no-autostart", no_argument, NULL, OPT_NO_AUTOSTART },
		{ "agent", required_argument, NULL, OPT_AGENT },
		{ "role", required_argument, NULL, OPT_ROLE },
		{ "project", required_argument, NULL, OPT_PROJECT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:S:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			o->socket = optarg;
			break;
		case OPT_NO_AUTOSTART:
			o->autostart = 0;
			break;
		case OPT_AGENT:
			o->agent = optarg;
			break;
		case OPT_ROLE:
			o->role = optarg;
			break;
		case OPT_PROJECT:
			o->project = optarg;
			break;
		case 'h':
			cli_usage(stdout);
			*status = cli_flush(0);
			return (-1);
		case 'V':
			printf("baton %s\n", BATON_VERSION);
			*status = cli_flush(0);
			return (-1);
		case ':':
			*status = cli_usage_err("option '%s' needs an argument", argv[optind - 1]);
			return (-1);
		default:
			if (optopt != 0)
				*status = cli_usage_err("unknown option '-%c'", optopt);
			else
				*status = cli_usage_err("unknown option '%s'", argv[optind - 1]);
			return (-1);
		}
	}
	if (o->agent != NULL && *o->agent == '\0') {
		*status = cli_usage_err("--agent needs a non-empty name");
		return (-1);
	}
	if (optind >= argc) {
		*status = cli_usage_err("no command given");
		return (-1);
	}
	return (optind);
}

/* The CLI: global options, then a command. */
int
cli_main(int argc, char **argv)
{
	struct client_opts o;
	const char *cmd;
	int i, status = 0;

	log_open("baton", NULL, 0);
	client_opts_default(&o);
	if ((i = cli_globals(argc, argv, &o, &status)) == -1)
		return (status);
	argc -= i;
	argv += i;
	cmd = argv[0];
	if (strcmp(cmd, "status") == 0)
		return (cli_cmd_status(&o, argc, argv));
	if (strcmp(cmd, "call") == 0)
		return (cli_cmd_call(&o, argc, argv));
	if (strcmp(cmd, "help") == 0)
		return (cli_cmd_help(argc, argv));
	if (strcmp(cmd, "lock") == 0)
		return (cmd_lock(&o, argc, argv));
	if (strcmp(cmd, "acquire") == 0)
		return (cmd_acquire(&o, argc, argv));
	if (strcmp(cmd, "release") == 0)
		return (cmd_release(&o, argc, argv));
	if (strcmp(cmd, "renew") == 0)
		return (cmd_renew(&o, argc, argv));
	if (strcmp(cmd, "locks") == 0)
		return (cmd_locks(&o, argc, argv));
	if (strcmp(cmd, "task") == 0)
		return (cmd_task(&o, argc, argv));
	if (strcmp(cmd, "project") == 0)
		return (cmd_project(&o, argc, argv));
	if (strcmp(cmd, "note") == 0)
		return (cmd_note(&o, argc, argv));
	if (strcmp(cmd, "counter") == 0)
		return (cmd_counter(&o, argc, argv));
	if (strcmp(cmd, "event") == 0)
		return (cmd_event(&o, argc, argv));
	if (strcmp(cmd, "agents") == 0 || strcmp(cmd, "msg") == 0 ||
	    strcmp(cmd, "discuss") == 0)
		return (cmd_msg(&o, argc, argv));
	if (strcmp(cmd, "install") == 0)
		return (cmd_install(&o, argc, argv));
	if (strcmp(cmd, "uninstall") == 0)
		return (cmd_uninstall(&o, argc, argv));
	if (strcmp(cmd, "init") == 0)
		return (cmd_init(&o, argc, argv));
	if (strcmp(cmd, "enable") == 0)
		return (cmd_enable(&o, argc, argv));
	if (strcmp(cmd, "disable") == 0)
		return (cmd_disable(&o, argc, argv));
	if (strcmp(cmd, "service") == 0)
		return (cmd_service(&o, argc, argv));
	if (strcmp(cmd, "export") == 0)
		return (cmd_export(&o, argc, argv));
	if (strcmp(cmd, "import") == 0)
		return (cmd_import(&o, argc, argv));
	if (strcmp(cmd, "mcp") == 0) {
		if (argc > 1)
			return (cli_usage_err("mcp takes no arguments"));
		o.kind = "mcp";
		return (mcp_main(&o));
	}
	return (cli_usage_err("unknown command '%s'", cmd));
}
