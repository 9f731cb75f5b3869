/*
 * `baton task ...` and `baton project ...`: the task board for people
 * and scripts.  Each subcommand is a row of a table (its operation, its
 * options and positional arguments, how to show the result), run by
 * cmd-sub.c; --json prints the operation's result as is.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

static int task_show_task(struct cmd_call *);
static int task_show_list(struct cmd_call *);
static int task_show_claim(struct cmd_call *);
static int task_show_approve(struct cmd_call *);
static int task_show_project(struct cmd_call *);
static int task_claim_exec(struct cmd_call *);

static const struct cmd_opt create_opts[] = {
	{ "description", 'd', "description", NULL },
	{ "priority", 'p', "priority", NULL },
	{ "complexity", 'c', "complexity", NULL },
	{ "isolation", 0, "isolation", NULL },
	{ "tag", 't', "tags", NULL },
	{ "dep", 0, "depends_on", NULL },
	{ "file", 'F', "files", NULL },
	{ "assignee", 'a', "assignee", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt list_opts[] = {
	{ "status", 's', "status", NULL },
	{ "owner", 'o', "owner", NULL },
	{ "tag", 't', "tag", NULL },
	{ "ready", 'r', "ready", NULL },
	{ "limit", 'n', "limit", NULL },
	{ "after", 0, "after", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt claim_opts[] = {
	{ "wait", 'w', "wait_seconds", NULL },
	{ "lease", 'l', "lease_seconds", NULL },
	{ "token", 0, "token", NULL },
	{ "review", 'r', "review", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt token_opts[] = {
	{ "token", 0, "token", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt approve_opts[] = {
	{ "feedback", 'f', "feedback", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt release_opts[] = {
	{ "token", 0, "token", NULL },
	{ "reason", 0, "reason", NULL },
	{ "block", 0, "requeue", "false" },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt update_opts[] = {
	{ "title", 0, "title", NULL },
	{ "description", 'd', "description", NULL },
	{ "priority", 'p', "priority", NULL },
	{ "tag", 't', "tags", NULL },
	{ "dep", 0, "depends_on", NULL },
	{ "file", 'F', "files", NULL },
	{ "assignee", 'a', "assignee", NULL },
	{ "status", 's', "status", NULL },
	{ "note", 0, "note", NULL },
	{ "token", 0, "token", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt project_opts[] = {
	{ "description", 'd', "description", NULL },
	{ "end-state", 0, "end_state", NULL },
	{ "tech-stack", 0, "tech_stack", NULL },
	{ "constraints", 0, "constraints", NULL },
	{ "acceptance", 0, "acceptance", NULL },
	{ "tests", 0, "tests", NULL },
	{ "plan", 0, "plan", NULL },
	{ "status", 's', "status", NULL },
	{ "self-review", 0, "self_review", NULL },
	{ "no-self-review", 0, "self_review", "false" },
	{ NULL, 0, NULL, NULL },
};

static const struct cmd_sub task_subs[] = {
	{ .name = "list",
	    .op = "task_list",
	    .usage = "task [list] [--json] [-s STATUS] [-o AGENT] [-t TAG] [-r] [-n N] "
		     "[--after ID]",
	    .desc = "the task board: id, status, priority, assignee, title",
	    .flags = CMD_JSON,
	    .opts = list_opts,
	    .show = task_show_list },
	{ .name = "create",
	    .op = "task_create",
	    .usage = "task create [--json] [-c COMPLEXITY] [-p PRIORITY] [-d TEXT] [-t TAG]... "
		     "[--dep ID]... [-F FILE]... [-a AGENT] [--isolation MODE] TITLE",
	    .desc = "a new task (complexity medium unless -c)",
	    .flags = CMD_JSON,
	    .opts = create_opts,
	    .pos = { "title" },
	    .npos = 1,
	    .preset = { "complexity", "medium" },
	    .show = task_show_task },
	{ .name = "get",
	    .op = "task_get",
	    .usage = "task get [--json] ID",
	    .desc = "a task and its history",
	    .flags = CMD_JSON,
	    .pos = { "id" },
	    .npos = 1,
	    .show = task_show_task },
	{ .name = "claim",
	    .op = "task_claim",
	    .usage = "task claim [--json] [-r] [-w SECONDS] [-l LEASE] [--token T] [ID]",
	    .desc = "take a task (the next ready one without ID), its files reserved; prints "
		    "its id and token; -r takes a review instead; exit 1 when none was "
		    "claimed",
	    .flags = CMD_JSON,
	    .opts = claim_opts,
	    .pos = { "id" },
	    .preset = { "lease_seconds", "3600" }, /* CLI claims outlive baton: time to work */
	    .exec = task_claim_exec,
	    .show = task_show_claim },
	{ .name = "submit",
	    .op = "task_submit",
	    .usage = "task submit [--json] [--token T] ID NOTES",
	    .desc = "hand a claimed task in for review",
	    .flags = CMD_JSON,
	    .opts = token_opts,
	    .pos = { "id", "notes" },
	    .npos = 2,
	    .show = task_show_task },
	{ .name = "approve",
	    .op = "task_approve",
	    .usage = "task approve [--json] [-f FEEDBACK] ID...",
	    .desc = "mark reviewed tasks done",
	    .flags = CMD_JSON,
	    .opts = approve_opts,
	    .pos = { "id" },
	    .npos = 1,
	    .rest = "ids",
	    .show = task_show_approve },
	{ .name = "request-changes",
	    .op = "task_request_changes",
	    .usage = "task request-changes [--json] ID FEEDBACK",
	    .desc = "send a reviewed task back to its claimant",
	    .flags = CMD_JSON,
	    .pos = { "id", "feedback" },
	    .npos = 2,
	    .show = task_show_task },
	{ .name = "release",
	    .op = "task_release",
	    .usage = "task release [--json] [--block] [--reason TEXT] [--token T] ID",
	    .desc = "give a claimed task back (--block: it waits, blocked)",
	    .flags = CMD_JSON,
	    .opts = release_opts,
	    .pos = { "id" },
	    .npos = 1,
	    .show = task_show_task },
	{ .name = "update",
	    .op = "task_update",
	    .usage =
		"task update [--json] [--title T] [-d TEXT] [-p PRIORITY] [-t TAG]... "
		"[--dep ID]... [-F FILE]... [-a AGENT] [-s STATUS] [--note TEXT] [--token T] "
		"ID",
	    .desc = "change a task's fields or status",
	    .flags = CMD_JSON,
	    .opts = update_opts,
	    .pos = { "id" },
	    .npos = 1,
	    .show = task_show_task },
};
const struct cmd_entry cmd_task_entry = {
	.name = "task",
	.desc = "tasks through their status machine",
	.subs = task_subs,
	.nsubs = nitems(task_subs),
	.dflt = "list",
	.exec = cmd_sub_main,
};

static const struct cmd_sub project_subs[] = {
	{ .name = "get",
	    .op = "project_get",
	    .usage = "project [get] [--json]",
	    .desc = "the project's context, plan and status",
	    .flags = CMD_JSON,
	    .show = task_show_project },
	{ .name = "set",
	    .op = "project_set",
	    .usage = "project set [--json] [-d TEXT] [--end-state TEXT] [--tech-stack TEXT] "
		     "[--constraints TEXT] [--acceptance TEXT] [--tests TEXT] [--plan TEXT] "
		     "[-s STATUS] [--self-review | --no-self-review]",
	    .desc = "change them",
	    .flags = CMD_JSON,
	    .opts = project_opts,
	    .show = task_show_project },
};
const struct cmd_entry cmd_project_entry = {
	.name = "project",
	.subs = project_subs,
	.nsubs = nitems(project_subs),
	.dflt = "get",
	.exec = cmd_sub_main,
};

/* A string field of r escaped for a terminal (cli_vis: one of its ring), or def. */
static const char *
task_str(const msgpack_object *r, const char *key, const char *def, int *len)
{
	const char *s;
	size_t n;

	if (mp_str(mp_get(r, key), &s, &n) != 0) {
		*len = (int)strlen(def);
		return (def);
	}
	s = cli_vis(s, n > 4096 ? 4096 : n, UTF8_VIS_LINES);
	*len = (int)strlen(s);
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

/* Print "label  a, b, c" when r's array under key has strings. */
static void
task_strings(const msgpack_object *r, const char *label, const char *key)
{
	const msgpack_object *a = mp_get(r, key);
	const char *s;
	size_t n;
	uint32_t i;

	if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size == 0)
		return;
	printf("%-12s ", label);
	for (i = 0; i < a->via.array.size; i++) {
		if (mp_str(&a->via.array.ptr[i], &s, &n) == 0)
			printf("%s%.*s", i > 0 ? ", " : "", (int)n, s);
	}
	printf("\n");
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
task_show_task(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
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
	task_strings(r, "files", "files");
	task_strings(r, "depends on", "depends_on");
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
			printf("  %.*s  %-18.*s %-17.*s %.*s\n", na, at, nw, who, nwh, what, nn,
			    note);
		}
	}
	task_hint(r);
	return (0);
}

/* The table of task_list and the summary line. */
static int
task_show_list(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
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
	printf("%lld task%s, %lld done (%lld%%); project %.*s\n", (long long)total,
	    total == 1 ? "" : "s", (long long)done, (long long)pct, n, ps);
	task_hint(r);
	return (0);
}

/* A claim: the id and token on stdout; claimed:false is exit status 1. */
static int
task_show_claim(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
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
task_show_approve(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
	const msgpack_object *a = mp_get(r, "approved");
	const char *s;
	size_t n;
	uint32_t i;

	for (i = 0; a != NULL && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size;
	     i++) {
		if (mp_str(&a->via.array.ptr[i], &s, &n) == 0)
			printf("%.*s done\n", (int)n, s);
	}
	task_hint(r);
	return (0);
}

static int
task_show_project(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
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

/* task claim: --json too is exit 1 when nothing was claimed, so a script can test it like flock -n. */
static int
task_claim_exec(struct cmd_call *cc)
{
	int status = cmd_call_show(cc);

	if (status == 0 && cc->json && !cmd_result_bool(cc, "claimed"))
		status = EXIT_CONFLICT;
	return (status);
}
