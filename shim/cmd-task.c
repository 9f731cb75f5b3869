/*
 * `baton task ...` and `baton project ...`: the task board for people
 * and scripts.  Each subcommand is a row of a table (its operation, its
 * options and positional arguments, how to show the result), so the
 * parsing is written once; --json prints the operation's result as is.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

enum topt_kind {
	TK_STR,   /* --opt VALUE: a string argument */
	TK_NUM,   /* --opt SECONDS: a number */
	TK_LIST,  /* --opt VALUE, repeatable: an array of strings */
	TK_TRUE,  /* --flag: the argument is true */
	TK_FALSE, /* --flag: the argument is false */
};

struct topt {
	const char *name; /* long option, without "--" */
	int ch;           /* short option, or 0 */
	const char *arg;  /* operation argument it sets */
	enum topt_kind kind;
};

struct tcmd {
	const char *name;
	const char *op;
	const char *usage;
	const struct topt *opts;
	const char *pos[2]; /* operation arguments of the positional words, in order */
	int npos_min;
	int pos_list;       /* the words beyond the first go to "ids" (approve) */
	int (*show)(const msgpack_object *);
};

static int task_show_task(const msgpack_object *);
static int task_show_list(const msgpack_object *);
static int task_show_claim(const msgpack_object *);
static int task_show_approve(const msgpack_object *);
static int task_show_project(const msgpack_object *);

static const struct topt create_opts[] = {
	{ "description", 'd', "description", TK_STR },
	{ "priority", 'p', "priority", TK_STR },
	{ "complexity", 'c', "complexity", TK_STR },
	{ "isolation", 0, "isolation", TK_STR },
	{ "tag", 't', "tags", TK_LIST },
	{ "dep", 0, "depends_on", TK_LIST },
	{ "assignee", 'a', "assignee", TK_STR },
	{ NULL, 0, NULL, 0 },
};
static const struct topt list_opts[] = {
	{ "status", 's', "status", TK_STR },
	{ "owner", 'o', "owner", TK_STR },
	{ "tag", 't', "tag", TK_STR },
	{ "ready", 'r', "ready", TK_TRUE },
	{ "limit", 'n', "limit", TK_NUM },
	{ "cursor", 0, "cursor", TK_STR },
	{ NULL, 0, NULL, 0 },
};
static const struct topt claim_opts[] = {
	{ "wait", 'w', "wait_seconds", TK_NUM },
	{ "lease", 'l', "lease_seconds", TK_NUM },
	{ "token", 0, "token", TK_STR },
	{ NULL, 0, NULL, 0 },
};
static const struct topt token_opts[] = {
	{ "token", 0, "token", TK_STR },
	{ NULL, 0, NULL, 0 },
};
static const struct topt approve_opts[] = {
	{ "feedback", 'f', "feedback", TK_STR },
	{ NULL, 0, NULL, 0 },
};
static const struct topt release_opts[] = {
	{ "token", 0, "token", TK_STR },
	{ "reason", 0, "reason", TK_STR },
	{ "block", 0, "requeue", TK_FALSE },
	{ NULL, 0, NULL, 0 },
};
static const struct topt update_opts[] = {
	{ "title", 0, "title", TK_STR },
	{ "description", 'd', "description", TK_STR },
	{ "priority", 'p', "priority", TK_STR },
	{ "tag", 't', "tags", TK_LIST },
	{ "dep", 0, "depends_on", TK_LIST },
	{ "assignee", 'a', "assignee", TK_STR },
	{ "status", 's', "status", TK_STR },
	{ "note", 0, "note", TK_STR },
	{ "token", 0, "token", TK_STR },
	{ NULL, 0, NULL, 0 },
};
static const struct topt no_opts[] = {
	{ NULL, 0, NULL, 0 },
};
static const struct topt project_opts[] = {
	{ "description", 'd', "description", TK_STR },
	{ "end-state", 0, "end_state", TK_STR },
	{ "tech-stack", 0, "tech_stack", TK_STR },
	{ "constraints", 0, "constraints", TK_STR },
	{ "acceptance", 0, "acceptance", TK_STR },
	{ "tests", 0, "tests", TK_STR },
	{ "plan", 0, "plan", TK_STR },
	{ "status", 's', "status", TK_STR },
	{ NULL, 0, NULL, 0 },
};

/* CLI claims outlive the baton process: a lease long enough to work in. */
#define TASK_CLI_LEASE "3600"

static const struct tcmd task_cmds[] = {
	{ "list", "task_list", "task list [--json] [-s STATUS] [-o AGENT] [-t TAG] [-r] [-n N]",
	    list_opts, { NULL, NULL }, 0, 0, task_show_list },
	{ "create", "task_create", "task create [--json] [-c COMPLEXITY] [-p PRIORITY] "
	    "[-d TEXT] [-t TAG]... [--dep ID]... [-a AGENT] [--isolation MODE] TITLE",
	    create_opts, { "title", NULL }, 1, 0, task_show_task },
	{ "get", "task_get", "task get [--json] ID", no_opts, { "id", NULL }, 1, 0,
	    task_show_task },
	{ "claim", "task_claim", "task claim [--json] [-w SECONDS] [-l LEASE] [--token T] [ID]",
	    claim_opts, { "id", NULL }, 0, 0, task_show_claim },
	{ "submit", "task_submit", "task submit [--json] [--token T] ID NOTES", token_opts,
	    { "id", "notes" }, 2, 0, task_show_task },
	{ "approve", "task_approve", "task approve [--json] [-f FEEDBACK] ID...", approve_opts,
	    { "id", NULL }, 1, 1, task_show_approve },
	{ "request-changes", "task_request_changes", "task request-changes [--json] ID FEEDBACK",
	    no_opts, { "id", "feedback" }, 2, 0, task_show_task },
	{ "release", "task_release", "task release [--json] [--block] [--reason TEXT] "
	    "[--token T] ID", release_opts, { "id", NULL }, 1, 0, task_show_task },
	{ "update", "task_update", "task update [--json] [--title T] [-d TEXT] [-p PRIORITY] "
	    "[-t TAG]... [--dep ID]... [-a AGENT] [-s STATUS] [--note TEXT] [--token T] ID",
	    update_opts, { "id", NULL }, 1, 0, task_show_task },
};

static const struct tcmd project_cmds[] = {
	{ "get", "project_get", "project get [--json]", no_opts, { NULL, NULL }, 0, 0,
	    task_show_project },
	{ "set", "project_set", "project set [--json] [-d TEXT] [--end-state TEXT] "
	    "[--tech-stack TEXT] [--constraints TEXT] [--acceptance TEXT] [--tests TEXT] "
	    "[--plan TEXT] [-s STATUS]", project_opts, { NULL, NULL }, 0, 0, task_show_project },
};

/* A string field of r, or def. */
static const char *
task_str(const msgpack_object *r, const char *key, const char *def, int *len)
{
	const char *s;
	size_t n;

	if (mp_str(mp_get(r, key), &s, &n) != 0) {
		*len = (int)strlen(def);
		return (def);
	}
	*len = n > 4096 ? 4096 : (int)n;
	return (s);
}

/* Print "label  value" when r has key, for `task get` and `project get`. */
static void
task_line(const msgpack_object *r, const char *label, const char *key)
{
	const char *s;
	int n;

	s = task_str(r, key, "", &n);
	if (n > 0)
		printf("%-12s %.*s\n", label, n, s);
}

/* The hint, if any, on stderr so stdout stays data. */
static void
task_hint(const msgpack_object *r)
{
	const char *s;
	int n;

	s = task_str(r, "hint", "", &n);
	if (n > 0)
		fprintf(stderr, "baton: %.*s\n", n, s);
}

/* One row of the table: id, status, priority, assignee (or owner), title. */
static void
task_row(const msgpack_object *t)
{
	const char *id, *st, *pr, *who, *title;
	int ni, ns, np, nw, nt;

	id = task_str(t, "id", "?", &ni);
	st = task_str(t, "status", "?", &ns);
	pr = task_str(t, "priority", "?", &np);
	who = task_str(t, "owner", "", &nw);
	if (nw == 0)
		who = task_str(t, "assignee", "-", &nw);
	title = task_str(t, "title", "", &nt);
	printf("%-6.*s %-12.*s %-8.*s %-20.*s %.*s\n", ni, id, ns, st, np, pr,
	    nw > 20 ? 20 : nw, who, nt, title);
}

/* The whole task, for people: fields, then the history. */
static int
task_show_task(const msgpack_object *r)
{
	const msgpack_object *h = mp_get(r, "history"), *e;
	const char *at, *who, *what, *note;
	int na, nw, nwh, nn;
	uint32_t i;

	task_line(r, "id", "id");
	task_line(r, "title", "title");
	task_line(r, "status", "status");
	task_line(r, "priority", "priority");
	task_line(r, "complexity", "complexity");
	task_line(r, "isolation", "isolation");
	task_line(r, "assignee", "assignee");
	task_line(r, "owner", "owner");
	task_line(r, "reviewer", "reviewer");
	task_line(r, "description", "description");
	task_line(r, "notes", "notes");
	task_line(r, "feedback", "feedback");
	if (h != NULL && h->type == MSGPACK_OBJECT_ARRAY) {
		printf("history\n");
		for (i = 0; i < h->via.array.size; i++) {
			e = &h->via.array.ptr[i];
			at = task_str(e, "at", "?", &na);
			who = task_str(e, "actor", "?", &nw);
			what = task_str(e, "action", "?", &nwh);
			note = task_str(e, "note", "", &nn);
			printf("  %.*s  %-18.*s %-17.*s %.*s\n", na, at, nw, who, nwh, what, nn, note);
		}
	}
	task_hint(r);
	return (0);
}

/* The table of task_list and the summary line. */
static int
task_show_list(const msgpack_object *r)
{
	const msgpack_object *ts = mp_get(r, "tasks"), *sum = mp_get(r, "summary");
	int64_t total = 0, done = 0, pct = 0;
	const char *ps;
	int n;
	uint32_t i;

	if (ts != NULL && ts->type == MSGPACK_OBJECT_ARRAY && ts->via.array.size > 0) {
		printf("%-6s %-12s %-8s %-20s %s\n", "ID", "STATUS", "PRIORITY", "ASSIGNEE",
		    "TITLE");
		for (i = 0; i < ts->via.array.size; i++)
			task_row(&ts->via.array.ptr[i]);
	} else
		printf("no tasks\n");
	mp_int(mp_get(sum, "total"), &total);
	mp_int(mp_get(sum, "done"), &done);
	mp_int(mp_get(sum, "percent_done"), &pct);
	ps = task_str(sum, "project_status", "?", &n);
	printf("%lld tasks, %lld done (%lld%%); project %.*s\n", (long long)total,
	    (long long)done, (long long)pct, n, ps);
	task_hint(r);
	return (0);
}

/* A claim: the id and token on stdout; claimed:false is exit status 1. */
static int
task_show_claim(const msgpack_object *r)
{
	const char *id, *tok, *title;
	int ni, nt, nti, claimed = 0;

	mp_bool(mp_get(r, "claimed"), &claimed);
	if (!claimed) {
		task_hint(r);
		return (EXIT_CONFLICT);
	}
	id = task_str(r, "id", "?", &ni);
	tok = task_str(r, "token", "", &nt);
	title = task_str(mp_get(r, "task"), "title", "", &nti);
	printf("%.*s %.*s\n", ni, id, nt, tok);
	fprintf(stderr, "baton: claimed %.*s: %.*s\n", ni, id, nti, title);
	task_hint(r);
	return (0);
}

static int
task_show_approve(const msgpack_object *r)
{
	const msgpack_object *a = mp_get(r, "approved");
	const char *s;
	size_t n;
	uint32_t i;

	for (i = 0; a != NULL && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size; i++) {
		if (mp_str(&a->via.array.ptr[i], &s, &n) == 0)
			printf("%.*s done\n", (int)n, s);
	}
	task_hint(r);
	return (0);
}

static int
task_show_project(const msgpack_object *r)
{
	const msgpack_object *sum = mp_get(r, "summary");
	int64_t total = 0, done = 0, pct = 0;

	task_line(r, "project", "project");
	task_line(r, "status", "status");
	task_line(r, "description", "description");
	task_line(r, "end state", "end_state");
	task_line(r, "tech stack", "tech_stack");
	task_line(r, "constraints", "constraints");
	task_line(r, "acceptance", "acceptance");
	task_line(r, "tests", "tests");
	task_line(r, "plan", "plan");
	mp_int(mp_get(sum, "total"), &total);
	mp_int(mp_get(sum, "done"), &done);
	mp_int(mp_get(sum, "percent_done"), &pct);
	printf("%-12s %lld, %lld done (%lld%%)\n", "tasks", (long long)total, (long long)done,
	    (long long)pct);
	task_hint(r);
	return (0);
}

/* Find the option argv[*i] names (consuming its value); NULL when unknown. */
static const struct topt *
task_opt(const struct tcmd *tc, int argc, char **argv, int *i, const char **val)
{
	const struct topt *o;
	const char *a = argv[*i], *eq;
	size_t n;

	*val = NULL;
	for (o = tc->opts; o->name != NULL; o++) {
		if (a[1] == '-') {
			eq = strchr(a + 2, '=');
			n = eq != NULL ? (size_t)(eq - (a + 2)) : strlen(a + 2);
			if (strlen(o->name) != n || strncmp(a + 2, o->name, n) != 0)
				continue;
			if (eq != NULL)
				*val = eq + 1;
		} else if (o->ch == 0 || a[1] != o->ch || a[2] != '\0')
			continue;
		if (o->kind == TK_TRUE || o->kind == TK_FALSE)
			return (o);
		if (*val == NULL) {
			if (*i + 1 >= argc)
				return (NULL);
			*val = argv[++*i];
		}
		return (o);
	}
	return (NULL);
}

/* Add value to the JSON arguments as option o says; -1 on a bad number. */
static int
task_add(cJSON *args, const struct topt *o, const char *val)
{
	cJSON *arr;
	char *end;
	double d;

	switch (o->kind) {
	case TK_STR:
		cJSON_DeleteItemFromObjectCaseSensitive(args, o->arg);
		cJSON_AddStringToObject(args, o->arg, val);
		break;
	case TK_NUM:
		d = strtod(val, &end);
		if (*val == '\0' || *end != '\0')
			return (-1);
		cJSON_DeleteItemFromObjectCaseSensitive(args, o->arg);
		cJSON_AddNumberToObject(args, o->arg, d);
		break;
	case TK_LIST:
		if ((arr = cJSON_GetObjectItemCaseSensitive(args, o->arg)) == NULL)
			arr = cJSON_AddArrayToObject(args, o->arg);
		cJSON_AddItemToArray(arr, cJSON_CreateString(val));
		break;
	case TK_TRUE:
	case TK_FALSE:
		cJSON_DeleteItemFromObjectCaseSensitive(args, o->arg);
		cJSON_AddBoolToObject(args, o->arg, o->kind == TK_TRUE);
		break;
	}
	return (0);
}

/* Parse one subcommand's words into JSON arguments; an exit status or -1 to go on. */
static int
task_parse(const struct tcmd *tc, int argc, char **argv, cJSON *args, int *json)
{
	const struct topt *o;
	const char *val;
	cJSON *ids = NULL;
	int i, npos = 0, opts = 1;

	for (i = 1; i < argc; i++) {
		if (opts && strcmp(argv[i], "--") == 0) {
			opts = 0;
			continue;
		}
		if (opts && (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)) {
			*json = 1;
			continue;
		}
		if (opts && argv[i][0] == '-' && argv[i][1] != '\0') {
			if ((o = task_opt(tc, argc, argv, &i, &val)) == NULL)
				return (cli_usage_err("unknown option or missing value '%s'; usage: "
				    "baton %s", argv[i], tc->usage));
			if (task_add(args, o, val) != 0)
				return (cli_usage_err("%s needs a number, not '%s'", argv[i - 1],
				    val));
			continue;
		}
		if (npos == 0 && tc->pos_list && argc - i > 1)
			ids = cJSON_AddArrayToObject(args, "ids");
		if (ids != NULL)
			cJSON_AddItemToArray(ids, cJSON_CreateString(argv[i]));
		else if (npos < 2 && tc->pos[npos] != NULL)
			cJSON_AddStringToObject(args, tc->pos[npos], argv[i]);
		else
			return (cli_usage_err("too many arguments; usage: baton %s", tc->usage));
		npos++;
	}
	if (npos < tc->npos_min)
		return (cli_usage_err("missing arguments; usage: baton %s", tc->usage));
	return (-1);
}

/* Run one subcommand of a table: parse, validate, call, show. */
static int
task_run(const struct client_opts *co, const struct tcmd *tc, int argc, char **argv)
{
	const msgpack_object *margs, *vals[OP_MAX_ARGS], *r;
	const struct op *op = op_find(tc->op, strlen(tc->op));
	struct op_error err;
	msgpack_sbuffer sb;
	msgpack_unpacked u, res;
	struct conn c;
	cJSON *args = cJSON_CreateObject();
	int status, json = 0, claimed;

	if (strcmp(tc->op, "task_create") == 0)
		cJSON_AddStringToObject(args, "complexity", "medium");
	if (strcmp(tc->op, "task_claim") == 0)
		cJSON_AddNumberToObject(args, "lease_seconds", atof(TASK_CLI_LEASE));
	if ((status = task_parse(tc, argc, argv, args, &json)) >= 0) {
		cJSON_Delete(args);
		return (status);
	}
	memset(&err, 0, sizeof err);
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&u);
	msgpack_unpacked_init(&res);
	if (op == NULL || json_args_to_msgpack(args, &sb, &u, &margs, &err) != 0 ||
	    op_validate(op, margs, vals, &err) != 0)
		status = cli_fail(tc->op, &err);
	else if (conn_open(&c, co, &err) != 0)
		status = cli_fail(NULL, &err);
	else {
		if (conn_call(&c, tc->op, margs, &res, &r, &err) != 0)
			status = cli_fail(tc->op, &err);
		else if (json) {
			status = cli_print_json(r);
			/* a script can test `baton task claim --json` like flock -n */
			if (status == 0 && strcmp(tc->op, "task_claim") == 0 &&
			    mp_bool(mp_get(r, "claimed"), &claimed) == 0 && !claimed)
				status = EXIT_CONFLICT;
		} else {
			status = tc->show(r);
			if (fflush(stdout) != 0 && status == 0)
				status = EXIT_SOFTWARE;
		}
		conn_close(&c);
	}
	msgpack_unpacked_destroy(&res);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	cJSON_Delete(args);
	return (status);
}

/* Dispatch `baton WHAT SUB ...` over a table of subcommands. */
static int
task_dispatch(const struct client_opts *co, const char *what, const struct tcmd *cmds,
    size_t n, const char *def, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : def;
	size_t i;

	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
		for (i = 0; i < n; i++)
			printf("usage: baton %s\n", cmds[i].usage);
		return (0);
	}
	for (i = 0; i < n; i++) {
		if (strcmp(cmds[i].name, sub) == 0)
			return (task_run(co, &cmds[i], argc > 1 ? argc - 1 : 1,
			    argc > 1 ? argv + 1 : argv));
	}
	return (cli_usage_err("unknown %s subcommand '%s'", what, sub));
}

/* `baton task [SUBCOMMAND ...]`: list by default. */
int
cmd_task(const struct client_opts *co, int argc, char **argv)
{
	if (argc > 1 && argv[1][0] == '-' && strcmp(argv[1], "-h") != 0 &&
	    strcmp(argv[1], "--help") != 0)
		return (task_run(co, &task_cmds[0], argc, argv)); /* baton task --json */
	return (task_dispatch(co, "task", task_cmds, nitems(task_cmds), "list", argc, argv));
}

/* `baton project [get|set ...]`: get by default. */
int
cmd_project(const struct client_opts *co, int argc, char **argv)
{
	if (argc > 1 && argv[1][0] == '-' && strcmp(argv[1], "-h") != 0 &&
	    strcmp(argv[1], "--help") != 0)
		return (task_run(co, &project_cmds[0], argc, argv));
	return (task_dispatch(co, "project", project_cmds, nitems(project_cmds), "get", argc,
	    argv));
}
