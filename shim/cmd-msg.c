/*
 * Presence, messages and discussions for people and shells: `baton
 * agents`, `baton msg send|inbox|ack`, `baton discuss start|reply|
 * resolve|list|show`.  Each subcommand maps its positional arguments
 * and options onto one operation's arguments (typed from the operation
 * table) and prints a table or a few lines; --json prints the result.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define MSG_STDIN_MAX (64 * 1024 + 1)

/* An option of a subcommand and the operation argument it sets. */
struct msg_opt {
	const char *flag;
	const char *arg;
};

/* One subcommand: which operation, its positional arguments and options. */
struct msg_sub {
	const char *area, *name, *op;
	const char *pos[3];
	int npos_min, npos_max;
	struct msg_opt opts[5];
	const char *usage;
	int (*show)(const msgpack_object *);
};

static int msg_show_agents(const msgpack_object *);
static int msg_show_sent(const msgpack_object *);
static int msg_show_inbox(const msgpack_object *);
static int msg_show_acked(const msgpack_object *);
static int msg_show_disc_changed(const msgpack_object *);
static int msg_show_disc_list(const msgpack_object *);
static int msg_show_disc(const msgpack_object *);

static const struct msg_sub msg_subs[] = {
	{ "agents", NULL, "agent_list", { NULL }, 0, 0, { { "--role", "role" } },
	    "baton agents [--role ROLE] [--json]", msg_show_agents },
	{ "msg", "send", "message_send", { "to", "body" }, 2, 2,
	    { { "--subject", "subject" }, { "--thread", "thread" } },
	    "baton msg send TO BODY|- [--subject S] [--thread T] [--json]", msg_show_sent },
	{ "msg", "inbox", "message_inbox", { NULL }, 0, 0,
	    { { "--after", "after" }, { "--unread", "unread_only" }, { "-w", "wait_seconds" },
	    { "--wait", "wait_seconds" }, { "--limit", "limit" } },
	    "baton msg inbox [--after ID] [--unread] [-w SECONDS] [--limit N] [--json]",
	    msg_show_inbox },
	{ "msg", "ack", "message_ack", { NULL }, 0, 1000, { { "--up-to", "up_to" } },
	    "baton msg ack ID... | --up-to ID | --all [--json]", msg_show_acked },
	{ "discuss", "start", "discussion_start", { "topic", "message" }, 2, 2,
	    { { "--waiting-on", "waiting_on" }, { "--category", "category" },
	    { "--priority", "priority" } },
	    "baton discuss start TOPIC MESSAGE [--waiting-on WHO] [--category C] "
	    "[--priority P] [--json]", msg_show_disc_changed },
	{ "discuss", "reply", "discussion_reply", { "id", "message" }, 2, 2,
	    { { "--waiting-on", "waiting_on" } },
	    "baton discuss reply ID MESSAGE [--waiting-on WHO] [--json]", msg_show_disc_changed },
	{ "discuss", "resolve", "discussion_resolve", { "id", "decision" }, 2, 2,
	    { { "--reasoning", "reasoning" }, { "--task", "linked_task" }, { "--token", "token" } },
	    "baton discuss resolve ID DECISION [--reasoning R] [--task T] [--token TOKEN] "
	    "[--json]", msg_show_disc_changed },
	{ "discuss", "list", "discussion_list", { NULL }, 0, 0,
	    { { "--status", "status" }, { "--waiting-on", "waiting_on" }, { "--limit", "limit" } },
	    "baton discuss list [--status open|resolved|all] [--waiting-on WHO] [--json]",
	    msg_show_disc_list },
	{ "discuss", "show", "discussion_get", { "id" }, 1, 1, { { NULL, NULL } },
	    "baton discuss show ID [--json]", msg_show_disc },
};

/* A string field of r, or def. */
static const char *
msg_str(const msgpack_object *r, const char *key, const char *def, char *buf, size_t len)
{
	const char *s;
	size_t n;

	if (mp_str(mp_get(r, key), &s, &n) != 0)
		return (def);
	snprintf(buf, len, "%.*s", (int)n, s);
	return (buf);
}

/* Print text with every line indented. */
static void
msg_indent(const char *text, const char *indent)
{
	const char *p = text, *nl;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		printf("%s%.*s\n", indent, (int)(nl != NULL ? nl - p : (ptrdiff_t)strlen(p)), p);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

/* An array field of r, or NULL. */
static const msgpack_object *
msg_array(const msgpack_object *r, const char *key)
{
	const msgpack_object *a = mp_get(r, key);

	return (a != NULL && a->type == MSGPACK_OBJECT_ARRAY ? a : NULL);
}

static int
msg_show_agents(const msgpack_object *r)
{
	const msgpack_object *as = msg_array(r, "agents"), *a, *ls;
	char b[7][128], locks[256];
	const char *name;
	uint32_t i, j;
	int64_t pid = 0;
	size_t len, nlen;

	if (as == NULL || as->via.array.size == 0) {
		printf("nobody is present in this project\n");
		return (0);
	}
	printf("%-20s %-12s %-7s %7s %-6s %-10s %8s %8s  %s\n", "AGENT", "ROLE", "SESSION", "PID",
	    "KIND", "STATE", "UP", "IDLE", "LOCKS");
	for (i = 0; i < as->via.array.size; i++) {
		a = &as->via.array.ptr[i];
		locks[0] = '\0';
		if ((ls = msg_array(a, "locks")) != NULL) {
			for (j = 0; j < ls->via.array.size; j++) {
				len = strlen(locks);
				if (mp_str(&ls->via.array.ptr[j], &name, &nlen) == 0 &&
				    len < sizeof locks - 1)
					snprintf(locks + len, sizeof locks - len, "%s%.*s", j > 0 ? "," : "",
					    (int)nlen, name);
			}
		}
		mp_int(mp_get(a, "pid"), &pid);
		printf("%-20s %-12s %-7s %7lld %-6s %-10s %8s %8s  %s\n",
		    msg_str(a, "agent", "?", b[0], sizeof b[0]), msg_str(a, "role", "-", b[1], sizeof b[1]),
		    msg_str(a, "session", "-", b[2], sizeof b[2]), (long long)pid,
		    msg_str(a, "kind", "-", b[3], sizeof b[3]), msg_str(a, "state", "-", b[4], sizeof b[4]),
		    cli_duration(mp_get(a, "connected_seconds"), b[5], sizeof b[5]),
		    cli_duration(mp_get(a, "idle_seconds"), b[6], sizeof b[6]), locks[0] ? locks : "-");
	}
	return (0);
}

static int
msg_show_sent(const msgpack_object *r)
{
	const msgpack_object *rc = msg_array(r, "recipients");
	char to[128];
	int64_t id = 0;
	uint32_t i;

	mp_int(mp_get(r, "id"), &id);
	printf("sent message %lld to %s", (long long)id, msg_str(r, "to", "?", to, sizeof to));
	if (rc == NULL || rc->via.array.size == 0)
		printf(" (nobody it reaches is present: it waits in the mailbox)\n");
	else {
		printf(" (present:");
		for (i = 0; i < rc->via.array.size; i++)
			printf(" %.*s", (int)rc->via.array.ptr[i].via.str.size,
			    rc->via.array.ptr[i].via.str.ptr);
		printf(")\n");
	}
	return (0);
}

static int
msg_show_inbox(const msgpack_object *r)
{
	const msgpack_object *ms = msg_array(r, "messages"), *ds = msg_array(r, "discussions"), *m;
	char b[5][256];
	const char *body;
	size_t blen;
	int64_t id = 0, cursor = 0, unread = 0;
	uint32_t i;

	for (i = 0; ms != NULL && i < ms->via.array.size; i++) {
		m = &ms->via.array.ptr[i];
		mp_int(mp_get(m, "id"), &id);
		printf("[%lld] %s %s -> %s%s%s\n", (long long)id, msg_str(m, "at", "?", b[0], sizeof b[0]),
		    msg_str(m, "from", "?", b[1], sizeof b[1]), msg_str(m, "to", "?", b[2], sizeof b[2]),
		    mp_get(m, "subject") != NULL ? ": " : "", msg_str(m, "subject", "", b[3], sizeof b[3]));
		if (mp_str(mp_get(m, "body"), &body, &blen) == 0) {
			char *t = xstrndup(body, blen);

			msg_indent(t, "    ");
			free(t);
		}
	}
	for (i = 0; ds != NULL && i < ds->via.array.size; i++) {
		m = &ds->via.array.ptr[i];
		printf("%s waits on you: %s (started by %s)\n", msg_str(m, "id", "?", b[0], sizeof b[0]),
		    msg_str(m, "topic", "?", b[1], sizeof b[1]),
		    msg_str(m, "started_by", "?", b[2], sizeof b[2]));
	}
	mp_int(mp_get(r, "cursor"), &cursor);
	mp_int(mp_get(r, "unread"), &unread);
	fprintf(stderr, "cursor %lld, %lld unread%s\n", (long long)cursor, (long long)unread,
	    ms == NULL || ms->via.array.size == 0 ? ", no new messages" : "");
	return (ms == NULL || ms->via.array.size == 0 ? -1 : 0);
}

static int
msg_show_acked(const msgpack_object *r)
{
	int64_t acked = 0, unread = 0;

	mp_int(mp_get(r, "acked"), &acked);
	mp_int(mp_get(r, "unread"), &unread);
	printf("marked %lld read; %lld unread\n", (long long)acked, (long long)unread);
	return (0);
}

static int
msg_show_disc_changed(const msgpack_object *r)
{
	char b[4][256];
	int64_t n = 0;

	printf("%s %s", msg_str(r, "id", "?", b[0], sizeof b[0]),
	    msg_str(r, "status", "?", b[1], sizeof b[1]));
	if (mp_int(mp_get(r, "replies"), &n) == 0)
		printf(", %lld message%s", (long long)n, n == 1 ? "" : "s");
	if (mp_get(r, "waiting_on") != NULL)
		printf(", waiting on %s", msg_str(r, "waiting_on", "", b[2], sizeof b[2]));
	if (mp_get(r, "decided_by") != NULL)
		printf(", decided by %s", msg_str(r, "decided_by", "", b[2], sizeof b[2]));
	printf("\n");
	if (mp_get(r, "token") != NULL)
		printf("token %s (resolving from another session needs it)\n",
		    msg_str(r, "token", "", b[3], sizeof b[3]));
	return (0);
}

static int
msg_show_disc_list(const msgpack_object *r)
{
	const msgpack_object *ds = msg_array(r, "discussions"), *d;
	char b[6][256];
	int64_t n = 0;
	uint32_t i;

	if (ds == NULL || ds->via.array.size == 0) {
		printf("no discussions\n");
		return (0);
	}
	printf("%-5s %-9s %-8s %-16s %-16s %7s  %s\n", "ID", "STATUS", "PRIORITY", "WAITING-ON",
	    "STARTED-BY", "REPLIES", "TOPIC");
	for (i = 0; i < ds->via.array.size; i++) {
		d = &ds->via.array.ptr[i];
		mp_int(mp_get(d, "replies"), &n);
		printf("%-5s %-9s %-8s %-16s %-16s %7lld  %s\n", msg_str(d, "id", "?", b[0], sizeof b[0]),
		    msg_str(d, "status", "?", b[1], sizeof b[1]),
		    msg_str(d, "priority", "-", b[2], sizeof b[2]),
		    msg_str(d, "waiting_on", "-", b[3], sizeof b[3]),
		    msg_str(d, "started_by", "?", b[4], sizeof b[4]), (long long)n,
		    msg_str(d, "topic", "", b[5], sizeof b[5]));
	}
	return (0);
}

/* Print a long string field indented under a label. */
static void
msg_show_text(const msgpack_object *o, const char *key, const char *label)
{
	const char *s;
	size_t n;
	char *t;

	if (mp_str(mp_get(o, key), &s, &n) != 0)
		return;
	t = xstrndup(s, n);
	if (label != NULL)
		printf("%s\n", label);
	msg_indent(t, "    ");
	free(t);
}

static int
msg_show_disc(const msgpack_object *r)
{
	const msgpack_object *rs = msg_array(r, "replies"), *e, *res = mp_get(r, "resolution");
	char b[6][256];
	uint32_t i;

	printf("%s: %s\n", msg_str(r, "id", "?", b[0], sizeof b[0]),
	    msg_str(r, "topic", "", b[1], sizeof b[1]));
	printf("status %s, priority %s, category %s, started by %s at %s\n",
	    msg_str(r, "status", "?", b[0], sizeof b[0]), msg_str(r, "priority", "-", b[1], sizeof b[1]),
	    msg_str(r, "category", "-", b[2], sizeof b[2]),
	    msg_str(r, "started_by", "?", b[3], sizeof b[3]),
	    msg_str(r, "started_at", "?", b[4], sizeof b[4]));
	if (mp_get(r, "waiting_on") != NULL)
		printf("waiting on %s\n", msg_str(r, "waiting_on", "", b[0], sizeof b[0]));
	for (i = 0; rs != NULL && i < rs->via.array.size; i++) {
		e = &rs->via.array.ptr[i];
		printf("\n%s at %s%s%s:\n", msg_str(e, "who", "?", b[0], sizeof b[0]),
		    msg_str(e, "at", "?", b[1], sizeof b[1]),
		    mp_get(e, "waiting_on") != NULL ? ", asking " : "",
		    msg_str(e, "waiting_on", "", b[2], sizeof b[2]));
		msg_show_text(e, "text", NULL);
	}
	if (res != NULL && res->type == MSGPACK_OBJECT_MAP) {
		printf("\nresolved by %s at %s%s%s\n", msg_str(res, "decided_by", "?", b[0], sizeof b[0]),
		    msg_str(res, "at", "?", b[1], sizeof b[1]),
		    mp_get(res, "linked_task") != NULL ? ", task " : "",
		    msg_str(res, "linked_task", "", b[2], sizeof b[2]));
		msg_show_text(res, "decision", "decision:");
		msg_show_text(res, "reasoning", "reasoning:");
	}
	return (0);
}

/* BODY "-": the message from stdin, or NULL (said why). */
static char *
msg_stdin(void)
{
	char *buf = xmalloc(MSG_STDIN_MAX + 1);
	size_t n = fread(buf, 1, MSG_STDIN_MAX, stdin);

	if (ferror(stdin) || n == MSG_STDIN_MAX) {
		cli_err(ferror(stdin) ? "cannot read stdin" : "the message on stdin is larger "
		    "than 64 KiB");
		free(buf);
		return (NULL);
	}
	buf[n] = '\0';
	return (buf);
}

/* Set argument name of op in args from the text val, typed by the table. */
static int
msg_set(const struct op *op, cJSON *args, const char *name, const char *val)
{
	const struct op_arg *a = op_arg_find(op, name, strlen(name));
	char *end;
	double d;

	if (a == NULL)
		return (cli_usage_err("internal: %s has no argument %s", op->name, name));
	cJSON_DeleteItemFromObjectCaseSensitive(args, name);
	switch (a->type) {
	case ARG_INT:
	case ARG_NUMBER:
		errno = 0;
		d = strtod(val, &end);
		if (errno != 0 || end == val || *end != '\0' || !isfinite(d) ||
		    (a->type == ARG_INT && d != floor(d)))
			return (cli_usage_err("%s takes %s, not '%s'", name, a->type == ARG_INT ?
			    "a whole number" : "a number", val));
		cJSON_AddNumberToObject(args, name, d);
		break;
	case ARG_BOOL:
		cJSON_AddBoolToObject(args, name, 1);
		break;
	default:
		cJSON_AddStringToObject(args, name, val);
		break;
	}
	return (0);
}

/* Parse argv of sub into args; 0, or an exit status. *json set by --json. */
static int
msg_parse(const struct msg_sub *sub, const struct op *op, int argc, char **argv, cJSON *args,
    int *json, cJSON **ids)
{
	const struct op_arg *a;
	const struct msg_opt *o;
	int i, npos = 0, r, opts = 1;

	for (i = 1; i < argc; i++) {
		if (opts && strcmp(argv[i], "--") == 0) {
			opts = 0;
			continue;
		}
		if (opts && strcmp(argv[i], "--json") == 0) {
			*json = 1;
			continue;
		}
		if (opts && argv[i][0] == '-' && argv[i][1] != '\0') {
			if (strcmp(sub->op, "message_ack") == 0 && strcmp(argv[i], "--all") == 0) {
				cJSON_AddNumberToObject(args, "up_to", 9007199254740991.0);
				continue;
			}
			for (o = sub->opts; o->flag != NULL && strcmp(o->flag, argv[i]) != 0; o++)
				;
			if (o->flag == NULL)
				return (cli_usage_err("unknown option '%s'; usage: %s", argv[i], sub->usage));
			a = op_arg_find(op, o->arg, strlen(o->arg));
			if (a != NULL && a->type == ARG_BOOL) {
				cJSON_AddBoolToObject(args, o->arg, 1);
				continue;
			}
			if (i + 1 >= argc)
				return (cli_usage_err("%s needs a value; usage: %s", argv[i], sub->usage));
			if ((r = msg_set(op, args, o->arg, argv[++i])) != 0)
				return (r);
			continue;
		}
		if (npos >= sub->npos_max)
			return (cli_usage_err("too many arguments; usage: %s", sub->usage));
		if (ids != NULL) {
			/* message_ack IDs */
			char *end;
			double d = strtod(argv[i], &end);

			if (end == argv[i] || *end != '\0' || d < 1 || d != floor(d))
				return (cli_usage_err("'%s' is not a message id; usage: %s", argv[i],
				    sub->usage));
			if (*ids == NULL)
				*ids = cJSON_AddArrayToObject(args, "ids");
			cJSON_AddItemToArray(*ids, cJSON_CreateNumber(d));
		} else if (strcmp(sub->pos[npos], "body") == 0 && strcmp(argv[i], "-") == 0) {
			char *body = msg_stdin();

			if (body == NULL)
				return (EXIT_DATAERR);
			cJSON_AddStringToObject(args, "body", body);
			free(body);
		} else
			cJSON_AddStringToObject(args, sub->pos[npos], argv[i]);
		npos++;
	}
	if (npos < sub->npos_min)
		return (cli_usage_err("missing arguments; usage: %s", sub->usage));
	return (0);
}

/* Validate args against the table, run the call, show the result. */
static int
msg_run(const struct client_opts *co, const struct msg_sub *sub, const struct op *op,
    cJSON *args, int json)
{
	const msgpack_object *a, *vals[OP_MAX_ARGS], *r;
	struct op_error err;
	msgpack_sbuffer sb;
	msgpack_unpacked u, res;
	struct conn c;
	int status;

	memset(&err, 0, sizeof err);
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&u);
	msgpack_unpacked_init(&res);
	if (json_args_to_msgpack(args, &sb, &u, &a, &err) != 0 ||
	    op_validate(op, a, vals, &err) != 0) {
		cli_err("%s: %s; usage: %s", op->name, err.message, sub->usage);
		status = exit_status_for(err.code);
	} else if (conn_open(&c, co, &err) != 0)
		status = cli_fail(NULL, &err);
	else {
		if (conn_call(&c, op->name, a, &res, &r, &err) != 0)
			status = cli_fail(op->name, &err);
		else if (json)
			status = cli_print_json(r);
		else {
			status = sub->show(r);
			/* an inbox that waited and got nothing: timed out */
			status = status == -1 ? (cJSON_HasObjectItem(args, "wait_seconds") ?
			    EXIT_CONFLICT : 0) : status;
			if (fflush(stdout) != 0)
				status = EXIT_SOFTWARE;
		}
		conn_close(&c);
	}
	msgpack_unpacked_destroy(&res);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	return (status);
}

/* baton agents | msg SUB | discuss SUB: find the subcommand and run it. */
int
cmd_msg(const struct client_opts *co, int argc, char **argv)
{
	const struct msg_sub *sub = NULL;
	const struct op *op;
	cJSON *args, *ids = NULL;
	size_t i;
	int json = 0, status, shift = strcmp(argv[0], "agents") == 0 ? 0 : 1;

	for (i = 0; i < nitems(msg_subs); i++) {
		if (strcmp(msg_subs[i].area, argv[0]) == 0 && (shift == 0 ||
		    (argc > 1 && strcmp(msg_subs[i].name, argv[1]) == 0))) {
			sub = &msg_subs[i];
			break;
		}
	}
	if (sub == NULL)
		return (cli_usage_err("%s needs a subcommand: %s", argv[0],
		    strcmp(argv[0], "msg") == 0 ? "send, inbox or ack" :
		    "start, reply, resolve, list or show"));
	if ((op = op_find(sub->op, strlen(sub->op))) == NULL)
		return (cli_usage_err("this broker build has no %s", sub->op));
	args = cJSON_CreateObject();
	status = msg_parse(sub, op, argc - shift, argv + shift, args, &json,
	    strcmp(sub->op, "message_ack") == 0 ? &ids : NULL);
	if (status == 0)
		status = msg_run(co, sub, op, args, json);
	cJSON_Delete(args);
	return (status);
}
