/*
 * `baton call OP [JSON]`: any operation with a JSON object of arguments,
 * the result as one JSON line (generated from the table, so a new
 * operation needs nothing here); and `baton status`, the status
 * operation for people.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define CALL_STDIN_MAX (2 * 1024 * 1024)

static int call_exec(const struct cmd_entry *, const struct client_opts *, int, char **);
static int status_show(struct cmd_call *);

const struct cmd_entry cmd_call_entry = {
	.name = "call",
	.usage = "call OP [JSON]",
	.desc = "run operation OP with a JSON object of arguments (default {}; - reads it "
		"from stdin); prints the result as one JSON line",
	.exec = call_exec,
};

static const struct cmd_sub status_subs[] = {
	{ .op = "status",
	    .usage = "status [--json]",
	    .desc =
		"the broker, your session, and your project: its agents, tasks, worktrees and "
		"launched agents",
	    .flags = CMD_JSON,
	    .show = status_show },
};
const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.subs = status_subs,
	.nsubs = nitems(status_subs),
	.exec = cmd_sub_main,
};

/* Do two paths name one directory?  By realpath when both exist, else as written. */
static int
status_same_dir(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (realpath(a, ra) != NULL && realpath(b, rb) != NULL)
		return (strcmp(ra, rb) == 0);
	return (strcmp(a, b) == 0);
}

/*
 * The broker's state directory, with a warning when this client would
 * start its broker on another one (BATON_STATE_DIR set differently):
 * after a restart by this client, the state shown here would be gone.
 */
static void
status_state_dir(const msgpack_object *r)
{
	char theirs[PATH_MAX], mine[PATH_MAX], *cause;

	if (mp_get(r, "state_dir") == NULL)
		return;
	cli_field(r, "state_dir", theirs, sizeof theirs);
	printf("state dir %s\n", theirs);
	if (group_selected() != NULL) /* no client starts a team broker */
		return;
	if (path_state_dir(mine, sizeof mine, &cause) != 0) {
		free(cause);
		return;
	}
	if (!status_same_dir(theirs, mine))
		printf("          warning: this client would keep the state in %s%s; a broker "
		       "it starts would not see this one's\n",
		    mine, getenv("BATON_STATE_DIR") != NULL ? " (BATON_STATE_DIR)" : "");
}

/* show for `status`: a few aligned lines for people. */
static int
status_show(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
	char a[PATH_MAX], b[64], c[64], d[64], sock[PATH_MAX], *cause, *version;
	int64_t pid;

	if (client_socket(cc->o, sock, sizeof sock, &cause) != 0) {
		snprintf(sock, sizeof sock, "?");
		free(cause);
	}
	printf("broker    batond %s (protocol %s), pid %s, up %s\n",
	    cli_field(r, "version", a, sizeof a), cli_field(r, "protocol", b, sizeof b),
	    cli_field(r, "pid", c, sizeof c),
	    cli_duration(mp_get(r, "uptime_seconds"), d, sizeof d));
	if (mp_int(mp_get(r, "pid"), &pid) == 0 && pid > 1) {
		version = mp_strdup(mp_get(r, "version"));
		broker_status_warnings((pid_t)pid, version);
		free(version);
	}
	printf("socket    %s\n", sock);
	if (mp_get(r, "group") != NULL)
		printf("team      the broker of group %s\n",
		    cli_field(r, "group", a, sizeof a));
	printf("state     %s%s\n",
	    mp_get(r, "durability") != NULL ? "durability " : "none (in memory)",
	    mp_get(r, "durability") != NULL ? cli_field(r, "durability", a, sizeof a) : "");
	if (mp_get(r, "store_error") != NULL)
		printf("          NOT SAVING: %s (answers to changes wait until it can)\n",
		    cli_field(r, "store_error", a, sizeof a));
	if (mp_get(r, "fold_error") != NULL)
		printf("          NOT FOLDED: %s (changes are safe in state.journal; past 64 "
		       "MiB "
		       "of them, answers to changes wait)\n",
		    cli_field(r, "fold_error", a, sizeof a));
	status_state_dir(r);
	printf("sessions  %s connected, %s in this project\n",
	    cli_field(r, "sessions", a, sizeof a),
	    cli_field(r, "project_sessions", b, sizeof b));
	printf("locks     %s held, %s in this project; %s waiting; revision %s\n",
	    cli_field(r, "locks", a, sizeof a), cli_field(r, "project_locks", b, sizeof b),
	    cli_field(r, "waiters", c, sizeof c), cli_field(r, "revision", d, sizeof d));
	printf("project   %s\n", cli_field(r, "project", a, sizeof a));
	printf("you       agent %s, session %s\n", cli_field(r, "agent", a, sizeof a),
	    cli_field(r, "session", b, sizeof b));
	if (mp_get(r, "store_error") == NULL)
		setup_status(cc->o); /* its calls would wait for the database */
	return (0);
}

/* Say that name is not an operation; exit status 65. */
static int
call_unknown_op(const char *name)
{
	cli_err("unknown operation '%s'; 'baton help' lists them", name);
	return (EXIT_DATAERR);
}

/* Parse JSON text; NULL with a message naming the line and column. */
static cJSON *
call_parse_json(const char *text)
{
	const char *end = NULL, *p, *at;
	cJSON *j;
	int line = 1, col = 1;

	if ((j = cJSON_ParseWithOpts(text, &end, 1)) != NULL) {
		if (!cli_json_nul(text))
			return (j);
		cJSON_Delete(j);
		return (NULL);
	}
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
			"e.g. '{\"name\":\"x\"}'",
		    line, col);
	else
		cli_err("invalid JSON at line %d column %d near '%.16s'; give one object, "
			"e.g. '{\"name\":\"x\"}'",
		    line, col, at);
	return (NULL);
}

/* A client operation (git, tmux: xop.c) over c, its result printed as JSON. */
static int
call_client(const struct op *op, const void *args, size_t len, struct conn *c)
{
	cJSON *result;
	char *text;
	int status;

	if ((status = xop_cli(op, args, len, c, &result)) != 0)
		return (status);
	if ((text = cJSON_PrintUnformatted(result)) == NULL)
		fatalx("cannot print a result");
	printf("%s\n", text);
	free(text);
	cJSON_Delete(result);
	return (cli_flush(0));
}

/* Connect, call op with args (len packed bytes), print the result as JSON; the exit status. */
static int
call_run(const struct client_opts *o, const char *op, const void *args, size_t len)
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
	if (op_find(op, strlen(op))->flags & OP_CLIENT)
		status = call_client(op_find(op, strlen(op)), args, len, &c);
	else if (conn_call(&c, op, args, len, &u, &r, &err) != 0)
		status = cli_fail(op, &err);
	else
		status = cli_print_json(r);
	msgpack_unpacked_destroy(&u);
	conn_close(&c);
	return (status);
}

/* `baton call OP [JSON]`: validate locally, then run, print the result as JSON. */
static int
call_exec(const struct cmd_entry *ce, const struct client_opts *o, int argc, char **argv)
{
	const msgpack_object *args, *vals[OP_MAX_ARGS];
	const struct op *op;
	struct op_error err;
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	cJSON *j;
	char *text = NULL;
	size_t len;
	int status, named;

	if (argc < 2)
		return (cli_usage_err("call needs an operation: baton call OP [JSON]"));
	if (argc > 3)
		return (cli_usage_err("call takes OP and one JSON argument; quote the JSON"));
	if ((op = op_find(argv[1], strlen(argv[1]))) == NULL)
		return (call_unknown_op(argv[1]));
	if (argc == 3 && strcmp(argv[2], "-") == 0) {
		if ((text = cli_read_stdin(CALL_STDIN_MAX, "the JSON")) == NULL)
			return (EXIT_DATAERR);
	}
	j = call_parse_json(text != NULL ? text : argc == 3 ? argv[2] : "{}");
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
		named = strncmp(err.message, op->name, len) == 0 && err.message[len] == ' ';
		cli_err("%s%s%s; see 'baton help %s'", named ? "" : op->name, named ? "" : ": ",
		    err.message, op->name);
		status = exit_status_for(err.code);
	} else
		status = call_run(o, op->name, sb.data, sb.size); /* packed once, sent as is */
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	cJSON_Delete(j);
	return (status);
}
