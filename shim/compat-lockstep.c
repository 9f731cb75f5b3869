/*
 * `baton mcp --compat lockstep`: Lockstep MCP's tools (their names,
 * arguments and result shapes as its source declares them), on baton.
 *
 * Where Lockstep's behaviour was a defect, baton's wins and the tool
 * says so: a claim has one winner (Lockstep let 4 of 4 racing agents
 * claim the same task), a released path can be locked again (its row
 * stayed and the next insert failed), locks go with their session, a
 * done task goes through review, and the file and command tools
 * (compat-files.c) are confined and off until allowed.
 *
 * Identity: Lockstep names the agent in owner, author and decidedBy;
 * each name is a broker session of its own (compat-link.c).  The claim,
 * lock and discussion tokens a session got are kept here, so that a
 * later call of this process without the name (lock_release {path},
 * task_update {id}) acts with them.
 *
 * implementer_list, launch_implementer and worktree_* are in
 * compat-launch.c.
 */
#include "config.h"

#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define LS_NOTES_COUNTER "lockstep/notes"
#define LS_NOTE_KEY "lockstep/notes/%010.0f"
#define LS_LIST_MAX 200 /* tasks, notes and discussions one call lists */

/* The tokens this process's sessions got: claims, locks, discussions. */
static cJSON *ls_tokens;

static void
ls_token_put(const char *kind, const char *id, const cJSON *tok)
{
	cJSON *k;

	if (!cJSON_IsString(tok) || id == NULL)
		return;
	if (ls_tokens == NULL)
		ls_tokens = cJSON_CreateObject();
	if ((k = cJSON_GetObjectItemCaseSensitive(ls_tokens, kind)) == NULL)
		k = cJSON_AddObjectToObject(ls_tokens, kind);
	cJSON_DeleteItemFromObjectCaseSensitive(k, id);
	cJSON_AddStringToObject(k, id, tok->valuestring);
}

static const char *
ls_token(const char *kind, const char *id)
{
	return (cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ls_tokens, kind),
		id)));
}

/* Add token (as "token") to args when this process holds one for kind/id. */
static void
ls_with_token(cJSON *args, const char *kind, const char *id)
{
	const char *t = ls_token(kind, id);

	if (t != NULL)
		cJSON_AddStringToObject(args, "token", t);
}

static const char *
ls_get(const cJSON *o, const char *k)
{
	return (cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k)));
}

/* A baton task as Lockstep shows one. */
static cJSON *
ls_task(const cJSON *t)
{
	cJSON *o = cJSON_CreateObject();

	compat_copy(o, "id", t, "id");
	compat_copy(o, "title", t, "title");
	compat_copy(o, "description", t, "description");
	compat_copy(o, "status", t, "status");
	compat_copy(o, "complexity", t, "complexity");
	compat_copy(o, "isolation", t, "isolation");
	compat_copy(o, "owner", t, "owner");
	if (ls_get(t, "owner") == NULL)
		compat_copy(o, "owner", t, "assignee");
	compat_copy(o, "tags", t, "tags");
	compat_copy(o, "reviewNotes", t, "notes");
	compat_copy(o, "reviewFeedback", t, "feedback");
	compat_copy(o, "createdAt", t, "created_at");
	compat_copy(o, "updatedAt", t, "updated_at");
	return (o);
}

/* A newline-separated text as an array of its lines (Lockstep keeps arrays). */
static cJSON *
ls_lines(const char *s)
{
	cJSON *a = cJSON_CreateArray();
	const char *nl;
	char *line;

	while (s != NULL && *s != '\0') {
		nl = strchr(s, '\n');
		line = nl != NULL ? xstrndup(s, (size_t)(nl - s)) : xstrdup(s);
		if (*line != '\0')
			cJSON_AddItemToArray(a, cJSON_CreateString(line));
		free(line);
		s = nl != NULL ? nl + 1 : NULL;
	}
	return (a);
}

/* An array of strings as one newline-separated text (NULL when v is absent). */
static char *
ls_join(const cJSON *v)
{
	const cJSON *e;
	char *s = NULL, *t;

	if (!cJSON_IsArray(v))
		return (NULL);
	cJSON_ArrayForEach(e, v) {
		if (s == NULL)
			s = xstrdup(e->valuestring);
		else {
			xasprintf(&t, "%s\n%s", s, e->valuestring);
			free(s);
			s = t;
		}
	}
	return (s != NULL ? s : xstrdup(""));
}

/* project_get's answer as Lockstep's context; NULL when no context was set. */
static cJSON *
ls_context(const cJSON *p)
{
	cJSON *o;
	const char *d = ls_get(p, "description");

	if (d == NULL || *d == '\0')
		return (NULL);
	o = cJSON_CreateObject();
	compat_copy(o, "projectRoot", p, "project");
	compat_copy(o, "description", p, "description");
	compat_copy(o, "endState", p, "end_state");
	cJSON_AddItemToObject(o, "techStack", ls_lines(ls_get(p, "tech_stack")));
	cJSON_AddItemToObject(o, "constraints", ls_lines(ls_get(p, "constraints")));
	cJSON_AddItemToObject(o, "acceptanceCriteria", ls_lines(ls_get(p, "acceptance")));
	cJSON_AddItemToObject(o, "tests", ls_lines(ls_get(p, "tests")));
	cJSON_AddItemToObject(o, "implementationPlan", ls_lines(ls_get(p, "plan")));
	compat_copy(o, "status", p, "status");
	compat_copy(o, "updatedAt", p, "updated_at");
	return (o);
}

static cJSON *
ls_id_args(const char *id)
{
	cJSON *a = cJSON_CreateObject();

	cJSON_AddStringToObject(a, "id", id);
	return (a);
}

/* ---- coordination and the project ---- */

/* What to do next in each of coordination_init's states, in Lockstep's tools. */
static const char *const ls_guide[][2] = {
	{ "needs_context",
	    "Explore the codebase, then ASK the user: the end state, acceptance criteria, "
	    "constraints. Only after their answers call project_context_set." },
	{ "needs_plan",
	    "Write an implementation plan, explain it to the user and get their approval; then "
	    "project_context_set with implementationPlan and status 'ready'." },
	{ "needs_tasks",
	    "Create specific, actionable tasks from the plan with task_create (complexity "
	    "decides their review)." },
	{ "monitoring",
	    "Monitor with task_list and note_list; review submitted work with task_approve or "
	    "task_request_changes; answer discussion_inbox; project_status_set 'complete' when "
	    "all is done, 'stopped' to halt." },
	{ "stopped", "The planner STOPPED the project: cease work." },
	{ "complete", "The project is COMPLETE: no more work." },
	{ "waiting",
	    "No tasks yet: call task_list again shortly; stop when projectStatus is stopped "
	    "or complete." },
	{ "ready",
	    "Loop: task_list; discussion_inbox; task_claim a todo task; lock_acquire each file "
	    "before editing it; do the work; lock_release; task_submit_for_review (or "
	    "task_update to done); repeat until projectStatus is stopped or complete." },
};

static const char *
ls_guide_for(const char *status)
{
	size_t i;

	for (i = 0; i < nitems(ls_guide); i++) {
		if (strcmp(ls_guide[i][0], status) == 0)
			return (ls_guide[i][1]);
	}
	return ("");
}

static const struct compat_arg coordination_init_args[] = {
	{ "role", CA_STRING, 1, NULL, "planner|implementer", NULL },
	{ "projectRoot", CA_STRING, 0, NULL, NULL, "baton: the session's project" },
};
static void
coordination_init_run(struct compat_call *cc)
{
	const char *role = compat_str(cc, "role"), *ps, *status, *phase = NULL;
	const cJSON *join, *p, *sum;
	cJSON *args, *o, *ctx;
	double todo, working;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "role", role);
		if (compat_op(cc, NULL, "agent_join", args) == 0)
			compat_op(cc, NULL, "project_get", cJSON_CreateObject());
		return;
	}
	join = compat_ans(cc, 0);
	p = compat_ans(cc, 1);
	if (compat_failed(cc, join) || compat_failed(cc, p))
		return;
	ctx = ls_context(p);
	sum = cJSON_GetObjectItemCaseSensitive(p, "summary");
	ps = ls_get(p, "status");
	todo = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(sum, "todo"));
	working = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(sum, "in_progress")) +
	    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(sum, "review"));
	if (strcmp(role, "planner") == 0) {
		if (ctx == NULL)
			status = "needs_context", phase = "gather_info";
		else if (ls_get(p, "plan") == NULL || *ls_get(p, "plan") == '\0')
			status = "needs_plan", phase = "create_plan";
		else if (cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(sum, "total")) ==
		    0)
			status = "needs_tasks", phase = "create_tasks";
		else
			status = "monitoring", phase = "monitor";
	} else if (ps != NULL && (strcmp(ps, "stopped") == 0 || strcmp(ps, "complete") == 0))
		status = ps;
	else if (todo + working == 0)
		status = "waiting";
	else
		status = "ready";
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "role", role);
	cJSON_AddStringToObject(o, "status", status);
	if (phase != NULL)
		cJSON_AddStringToObject(o, "phase", phase);
	cJSON_AddStringToObject(o, "message", ls_guide_for(status));
	if (ctx != NULL)
		cJSON_AddItemToObject(o, "projectContext", ctx);
	if (strcmp(role, "implementer") == 0) {
		cJSON_AddNumberToObject(o, "availableTasks", todo);
		cJSON_AddNumberToObject(o, "inProgressTasks", working);
	} else
		compat_copy(o, "taskSummary", p, "summary");
	cJSON_AddStringToObject(o, "instruction", ls_guide_for(status));
	compat_copy(o, "agent", join, "agent");
	compat_ok(cc, o);
}

static const struct compat_arg project_context_set_args[] = {
	{ "projectRoot", CA_STRING, 0, NULL, NULL, NULL },
	{ "description", CA_STRING, 1, NULL, NULL, NULL },
	{ "endState", CA_STRING, 1, NULL, NULL, NULL },
	{ "techStack", CA_STRINGS, 0, NULL, NULL, NULL },
	{ "constraints", CA_STRINGS, 0, NULL, NULL, NULL },
	{ "acceptanceCriteria", CA_STRINGS, 0, NULL, NULL, NULL },
	{ "tests", CA_STRINGS, 0, NULL, NULL, NULL },
	{ "implementationPlan", CA_STRINGS, 0, NULL, NULL, NULL },
	{ "preferredImplementer", CA_STRING, 0, NULL, "claude|codex", NULL },
	{ "status", CA_STRING, 0, NULL, "planning|ready|in_progress|complete|stopped", NULL },
};

/* Answer a project change with the context as it now is (step 1: project_get). */
static void
ls_project_answer(struct compat_call *cc, const char *message)
{
	const cJSON *p;
	cJSON *o, *ctx;

	if (cc->step == 1) {
		if (compat_failed(cc, compat_ans(cc, 0)))
			return;
		compat_op(cc, NULL, "project_get", cJSON_CreateObject());
		return;
	}
	if (compat_failed(cc, p = compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "success", 1);
	ctx = ls_context(p);
	cJSON_AddItemToObject(o, "context", ctx != NULL ? ctx : cJSON_CreateNull());
	cJSON_AddStringToObject(o, "message", message);
	compat_ok(cc, o);
}

static void
project_context_set_run(struct compat_call *cc)
{
	static const char *const fields[][2] = { { "techStack", "tech_stack" },
		{ "constraints", "constraints" }, { "acceptanceCriteria", "acceptance" },
		{ "tests", "tests" }, { "implementationPlan", "plan" } };
	cJSON *args;
	char *s;
	size_t i;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "description", compat_str(cc, "description"));
		cJSON_AddStringToObject(args, "end_state", compat_str(cc, "endState"));
		for (i = 0; i < nitems(fields); i++) {
			if ((s = ls_join(compat_arg(cc, fields[i][0]))) != NULL)
				cJSON_AddStringToObject(args, fields[i][1], s);
			free(s);
		}
		if (compat_str(cc, "status") != NULL)
			cJSON_AddStringToObject(args, "status", compat_str(cc, "status"));
		compat_op(cc, NULL, "project_set", args);
		return;
	}
	ls_project_answer(cc,
	    "Project context saved. Create tasks from the implementation plan with "
	    "task_create.");
}

static const struct compat_arg project_context_get_args[] = {
	{ "projectRoot", CA_STRING, 0, NULL, NULL, NULL },
};
static void
project_context_get_run(struct compat_call *cc)
{
	const cJSON *p;
	cJSON *o, *ctx;

	if (cc->step == 0) {
		compat_op(cc, NULL, "project_get", cJSON_CreateObject());
		return;
	}
	if (compat_failed(cc, p = compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	ctx = ls_context(p);
	cJSON_AddBoolToObject(o, "found", ctx != NULL);
	if (ctx != NULL)
		cJSON_AddItemToObject(o, "context", ctx);
	else
		cJSON_AddStringToObject(o, "message",
		    "No project context found. The planner needs to set it using "
		    "project_context_set.");
	compat_ok(cc, o);
}

static const struct compat_arg project_status_set_args[] = {
	{ "projectRoot", CA_STRING, 0, NULL, NULL, NULL },
	{ "status", CA_STRING, 1, NULL, "planning|ready|in_progress|complete|stopped", NULL },
};
static void
project_status_set_run(struct compat_call *cc)
{
	cJSON *args;
	char *msg;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "status", compat_str(cc, "status"));
		compat_op(cc, NULL, "project_set", args);
		return;
	}
	xasprintf(&msg, "Project status updated to '%s'.", compat_str(cc, "status"));
	ls_project_answer(cc, msg);
	free(msg);
}

static const struct compat_arg status_get_args[] = {};
static void
status_get_run(struct compat_call *cc)
{
	const cJSON *st, *p, *n;
	cJSON *o, *cfg, *sum, *args;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "name", LS_NOTES_COUNTER);
		cJSON_AddNumberToObject(args, "by", 0);
		if (compat_op(cc, NULL, "status", cJSON_CreateObject()) == 0 &&
		    compat_op(cc, NULL, "project_get", cJSON_CreateObject()) == 0)
			compat_op(cc, NULL, "counter_incr", args);
		else
			cJSON_Delete(args);
		return;
	}
	st = compat_ans(cc, 0);
	p = compat_ans(cc, 1);
	n = compat_ans(cc, 2);
	if (compat_failed(cc, st) || compat_failed(cc, p) || compat_failed(cc, n))
		return;
	o = cJSON_CreateObject();
	cfg = compat_files_config(cc->m);
	cJSON_AddStringToObject(cfg, "storage", "baton");
	compat_copy(cfg, "broker", st, "version");
	compat_copy(cfg, "project", st, "project");
	compat_copy(cfg, "durability", st, "durability");
	cJSON_AddItemToObject(o, "config", cfg);
	sum = cJSON_AddObjectToObject(o, "stateSummary");
	compat_copy(sum, "tasks", cJSON_GetObjectItemCaseSensitive(p, "summary"), "total");
	compat_copy(sum, "locks", st, "project_locks");
	compat_copy(sum, "notes", n, "value");
	compat_ok(cc, o);
}

/* ---- tasks ---- */

static const struct compat_arg task_create_args[] = {
	{ "title", CA_STRING, 1, NULL, NULL, NULL },
	{ "description", CA_STRING, 0, NULL, NULL, NULL },
	{ "status", CA_STRING, 0, NULL, "todo|in_progress|blocked|review|done", NULL },
	{ "complexity", CA_STRING, 0, "\"medium\"", "simple|medium|complex|critical",
	    "simple=1-2 files, medium=3-5, complex=6+ or architectural, "
	    "critical=schema/security" },
	{ "isolation", CA_STRING, 0, "\"shared\"", "shared|worktree", NULL },
	{ "owner", CA_STRING, 0, NULL, NULL, "baton: the only agent that may claim it" },
	{ "tags", CA_STRINGS, 0, NULL, NULL, NULL },
	{ "metadata", CA_OBJECT, 0, NULL, NULL, "baton: not kept" },
};
static void
task_create_run(struct compat_call *cc)
{
	const char *status = compat_str(cc, "status");
	const cJSON *a;
	cJSON *args;

	if (cc->step == 0) {
		if (status != NULL && strcmp(status, "todo") != 0 &&
		    strcmp(status, "blocked") != 0) {
			compat_fail(cc,
			    "task_create: a task starts todo (or blocked) in baton; it moves "
			    "on "
			    "with task_claim, task_submit_for_review and task_approve");
			return;
		}
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "title", compat_str(cc, "title"));
		if (compat_str(cc, "description") != NULL)
			cJSON_AddStringToObject(args, "description",
			    compat_str(cc, "description"));
		cJSON_AddStringToObject(args, "complexity",
		    compat_str(cc, "complexity") != NULL ? compat_str(cc, "complexity")
							 : "medium");
		if (compat_str(cc, "isolation") != NULL)
			cJSON_AddStringToObject(args, "isolation", compat_str(cc, "isolation"));
		if (compat_arg(cc, "tags") != NULL)
			cJSON_AddItemToObject(args, "tags",
			    cJSON_Duplicate(compat_arg(cc, "tags"), 1));
		if (compat_str(cc, "owner") != NULL)
			cJSON_AddStringToObject(args, "assignee", compat_str(cc, "owner"));
		compat_op(cc, NULL, "task_create", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	if (cc->step == 1 && status != NULL && strcmp(status, "blocked") == 0) {
		args = ls_id_args(ls_get(a, "id"));
		cJSON_AddStringToObject(args, "status", "blocked");
		compat_op(cc, NULL, "task_update", args);
		return;
	}
	compat_ok(cc, ls_task(a));
}

/* What to do with a claimed task of this complexity (Lockstep's words). */
static const char *
ls_instruction(const char *complexity)
{
	if (complexity != NULL && strcmp(complexity, "simple") == 0)
		return (
		    "Simple task - implement, then task_update it to done (baton sends it to "
		    "review).");
	if (complexity != NULL && strcmp(complexity, "complex") == 0)
		return (
		    "Complex task - discuss approach first if unclear, get planner approval "
		    "via task_submit_for_review.");
	if (complexity != NULL && strcmp(complexity, "critical") == 0)
		return ("CRITICAL task - discuss approach with planner BEFORE starting, get "
			"approval at each step.");
	return ("Medium task - implement carefully, task_submit_for_review when complete.");
}

static const struct compat_arg task_claim_args[] = {
	{ "id", CA_STRING, 1, NULL, NULL, NULL },
	{ "owner", CA_STRING, 1, NULL, NULL, NULL },
};
static void
task_claim_run(struct compat_call *cc)
{
	const char *id = compat_str(cc, "id");
	const cJSON *a, *t;
	cJSON *o;

	if (cc->step == 0) {
		compat_op(cc, compat_str(cc, "owner"), "task_claim", ls_id_args(id));
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "claimed"))) {
		compat_fail(cc, "task %s was not claimed: %s", id,
		    ls_get(a, "hint") != NULL ? ls_get(a, "hint") : "someone else holds it");
		return;
	}
	ls_token_put("task", id, cJSON_GetObjectItemCaseSensitive(a, "token"));
	t = cJSON_GetObjectItemCaseSensitive(a, "task");
	o = ls_task(t);
	cJSON_AddStringToObject(o, "_instruction", ls_instruction(ls_get(t, "complexity")));
	compat_ok(cc, o);
}

static const struct compat_arg task_update_args[] = {
	{ "id", CA_STRING, 1, NULL, NULL, NULL },
	{ "title", CA_STRING, 0, NULL, NULL, NULL },
	{ "description", CA_STRING, 0, NULL, NULL, NULL },
	{ "status", CA_STRING, 0, NULL, "todo|in_progress|blocked|review|done", NULL },
	{ "complexity", CA_STRING, 0, NULL, "simple|medium|complex|critical",
	    "baton: set at creation only" },
	{ "owner", CA_STRING, 0, NULL, NULL, NULL },
	{ "tags", CA_STRINGS, 0, NULL, NULL, NULL },
	{ "metadata", CA_OBJECT, 0, NULL, NULL, "baton: not kept" },
};
/*
 * A status Lockstep sets directly takes baton's move for it: in_progress
 * is a claim, review a submit, done an approval from review (from
 * in_progress it is a submit: done goes through review), todo from
 * in_progress a release.
 */
static void
task_update_run(struct compat_call *cc)
{
	const char *id = compat_str(cc, "id"), *want = compat_str(cc, "status"), *cur;
	const char *owner = compat_str(cc, "owner"), *op = "task_update";
	const cJSON *a;
	cJSON *args, *o;

	switch (cc->step) {
	case 0: compat_op(cc, NULL, "task_get", ls_id_args(id)); return;
	case 1:
		if (compat_failed(cc, a = compat_ans(cc, 0)))
			return;
		cur = ls_get(a, "status");
		cJSON_AddStringToObject(cc->st, "from", cur != NULL ? cur : "");
		args = ls_id_args(id);
		if (compat_str(cc, "title") != NULL)
			cJSON_AddStringToObject(args, "title", compat_str(cc, "title"));
		if (compat_str(cc, "description") != NULL)
			cJSON_AddStringToObject(args, "description",
			    compat_str(cc, "description"));
		if (compat_arg(cc, "tags") != NULL)
			cJSON_AddItemToObject(args, "tags",
			    cJSON_Duplicate(compat_arg(cc, "tags"), 1));
		if (owner != NULL &&
		    strcmp(owner, ls_get(a, "owner") != NULL ? ls_get(a, "owner") : "") != 0)
			cJSON_AddStringToObject(args, "assignee", owner);
		if (want == NULL || cur == NULL || strcmp(want, cur) == 0)
			;
		else if (strcmp(want, "in_progress") == 0 && strcmp(cur, "todo") == 0) {
			cJSON_Delete(args);
			args = ls_id_args(id);
			op = "task_claim";
		} else if ((strcmp(want, "review") == 0 || strcmp(want, "done") == 0) &&
		    strcmp(cur, "in_progress") == 0) {
			cJSON_Delete(args);
			args = ls_id_args(id);
			cJSON_AddStringToObject(args, "notes", "marked done with task_update");
			ls_with_token(args, "task", id);
			op = "task_submit";
		} else if (strcmp(want, "done") == 0 && strcmp(cur, "review") == 0) {
			cJSON_Delete(args);
			args = ls_id_args(id);
			op = "task_approve";
		} else if (strcmp(want, "todo") == 0 && strcmp(cur, "in_progress") == 0) {
			cJSON_Delete(args);
			args = ls_id_args(id);
			ls_with_token(args, "task", id);
			op = "task_release";
		} else {
			cJSON_AddStringToObject(args, "status", want);
			ls_with_token(args, "task", id);
		}
		compat_op(cc, strcmp(op, "task_claim") == 0 ? owner : NULL, op, args);
		return;
	case 2:
		if (compat_failed(cc, compat_ans(cc, 0)))
			return;
		compat_op(cc, NULL, "task_get", ls_id_args(id));
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	o = ls_task(a);
	if (want != NULL && strcmp(want, "done") == 0 && ls_get(a, "status") != NULL &&
	    strcmp(ls_get(a, "status"), "review") == 0)
		cJSON_AddStringToObject(o, "_instruction",
		    "baton: done goes through review; the task waits for the planner's "
		    "task_approve. Go on with the next task.");
	if (compat_str(cc, "complexity") != NULL &&
	    strcmp(compat_str(cc, "complexity"),
		ls_get(a, "complexity") != NULL ? ls_get(a, "complexity") : "") != 0)
		cJSON_AddStringToObject(o, "_warning",
		    "baton keeps a task's complexity as created: create a new task to change "
		    "it");
	compat_ok(cc, o);
}

static const struct compat_arg task_list_args[] = {
	{ "status", CA_STRING, 0, NULL, "todo|in_progress|blocked|review|done", NULL },
	{ "owner", CA_STRING, 0, NULL, NULL, NULL },
	{ "tag", CA_STRING, 0, NULL, NULL, NULL },
	{ "limit", CA_NUMBER, 0, NULL, NULL, NULL },
	{ "includeDone", CA_BOOL, 0, "false", NULL, NULL },
	{ "offset", CA_NUMBER, 0, "0", NULL, NULL },
};
static void
task_list_run(struct compat_call *cc)
{
	const char *status = compat_str(cc, "status"), *ps;
	const cJSON *a, *t, *sum;
	cJSON *args, *o, *tasks;
	double offset = fmax(compat_num(cc, "offset", 0), 0),
	       limit = compat_num(cc, "limit", 0);
	int include = compat_num(cc, "includeDone", 0) != 0, total = 0, n = 0;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		if (status != NULL)
			cJSON_AddStringToObject(args, "status", status);
		if (compat_str(cc, "owner") != NULL)
			cJSON_AddStringToObject(args, "owner", compat_str(cc, "owner"));
		if (compat_str(cc, "tag") != NULL)
			cJSON_AddStringToObject(args, "tag", compat_str(cc, "tag"));
		cJSON_AddNumberToObject(args, "limit", LS_LIST_MAX);
		compat_op(cc, NULL, "task_list", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	tasks = cJSON_AddArrayToObject(o, "tasks");
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(a, "tasks")) {
		if (status == NULL && !include && ls_get(t, "status") != NULL &&
		    (strcmp(ls_get(t, "status"), "done") == 0 ||
			strcmp(ls_get(t, "status"), "cancelled") == 0))
			continue;
		if (total++ < offset || (limit > 0 && n >= limit))
			continue;
		cJSON_AddItemToArray(tasks, ls_task(t));
		n++;
	}
	sum = cJSON_GetObjectItemCaseSensitive(a, "summary");
	ps = ls_get(sum, "project_status");
	cJSON_AddNumberToObject(o, "total", total);
	cJSON_AddNumberToObject(o, "offset", offset);
	cJSON_AddBoolToObject(o, "hasMore", offset + n < total);
	compat_copy(o, "doneCount", sum, "done");
	cJSON_AddStringToObject(o, "projectStatus", ps != NULL ? ps : "unknown");
	if (ps != NULL && strcmp(ps, "stopped") == 0)
		cJSON_AddStringToObject(o, "_hint", "PROJECT STOPPED - cease work immediately");
	else if (ps != NULL && strcmp(ps, "complete") == 0)
		cJSON_AddStringToObject(o, "_hint", "PROJECT COMPLETE - no more work needed");
	compat_ok(cc, o);
}

static const struct compat_arg task_submit_for_review_args[] = {
	{ "id", CA_STRING, 1, NULL, NULL, "Task ID" },
	{ "owner", CA_STRING, 1, NULL, NULL, "Your implementer name" },
	{ "reviewNotes", CA_STRING, 1, NULL, NULL, "What changed, files, concerns" },
};

/* Answer with the task a change answered, and an instruction. */
static void
ls_task_answer(struct compat_call *cc, const char *instruction)
{
	const cJSON *a = compat_ans(cc, 0);
	cJSON *o;

	if (compat_failed(cc, a))
		return;
	o = ls_task(a);
	if (instruction != NULL)
		cJSON_AddStringToObject(o, "_instruction", instruction);
	compat_ok(cc, o);
}

static void
task_submit_for_review_run(struct compat_call *cc)
{
	const char *id = compat_str(cc, "id");
	cJSON *args;

	if (cc->step == 0) {
		args = ls_id_args(id);
		cJSON_AddStringToObject(args, "notes", compat_str(cc, "reviewNotes"));
		ls_with_token(args, "task", id);
		compat_op(cc, compat_str(cc, "owner"), "task_submit", args);
		return;
	}
	ls_task_answer(cc,
	    "Task submitted for planner review. Continue with other tasks while waiting.");
}

static const struct compat_arg task_approve_args[] = {
	{ "id", CA_STRING, 1, NULL, NULL, "Task ID" },
	{ "feedback", CA_STRING, 0, NULL, NULL, NULL },
};
static void
task_approve_run(struct compat_call *cc)
{
	const char *id = compat_str(cc, "id");
	cJSON *args;

	switch (cc->step) {
	case 0:
		args = ls_id_args(id);
		if (compat_str(cc, "feedback") != NULL)
			cJSON_AddStringToObject(args, "feedback", compat_str(cc, "feedback"));
		compat_op(cc, NULL, "task_approve", args);
		return;
	case 1:
		if (compat_failed(cc, compat_ans(cc, 0)))
			return;
		compat_op(cc, NULL, "task_get", ls_id_args(id));
		return;
	}
	ls_task_answer(cc, NULL);
}

static const struct compat_arg task_request_changes_args[] = {
	{ "id", CA_STRING, 1, NULL, NULL, "Task ID" },
	{ "feedback", CA_STRING, 1, NULL, NULL, NULL },
};
static void
task_request_changes_run(struct compat_call *cc)
{
	cJSON *args;

	if (cc->step == 0) {
		args = ls_id_args(compat_str(cc, "id"));
		cJSON_AddStringToObject(args, "feedback", compat_str(cc, "feedback"));
		compat_op(cc, NULL, "task_request_changes", args);
		return;
	}
	ls_task_answer(cc, "Changes requested. Task returned to in_progress.");
}

static const struct compat_arg task_approve_batch_args[] = {
	{ "ids", CA_STRINGS, 1, NULL, NULL, NULL },
	{ "feedback", CA_STRING, 0, NULL, NULL, NULL },
};
static void
task_approve_batch_run(struct compat_call *cc)
{
	const cJSON *id;
	cJSON *args, *o, *res, *r;
	int i = 0, okn = 0, n = cJSON_GetArraySize(compat_arg(cc, "ids"));

	if (cc->step == 0) {
		/* one by one, each with its own result, as Lockstep did */
		cJSON_ArrayForEach(id, compat_arg(cc, "ids")) {
			args = ls_id_args(id->valuestring);
			if (compat_str(cc, "feedback") != NULL)
				cJSON_AddStringToObject(args, "feedback",
				    compat_str(cc, "feedback"));
			if (compat_op(cc, NULL, "task_approve", args) != 0)
				return;
		}
		if (n > 0)
			return;
	}
	o = cJSON_CreateObject();
	res = cJSON_CreateArray();
	cJSON_ArrayForEach(id, compat_arg(cc, "ids")) {
		r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "id", id->valuestring);
		cJSON_AddBoolToObject(r, "success", compat_err(compat_ans(cc, i)) == NULL);
		if (compat_err(compat_ans(cc, i)) != NULL)
			cJSON_AddStringToObject(r, "error", compat_err(compat_ans(cc, i)));
		else
			okn++;
		cJSON_AddItemToArray(res, r);
		i++;
	}
	cJSON_AddNumberToObject(o, "total", n);
	cJSON_AddNumberToObject(o, "approved", okn);
	cJSON_AddNumberToObject(o, "failed", n - okn);
	cJSON_AddItemToObject(o, "results", res);
	compat_ok(cc, o);
}

static const struct compat_arg task_summary_args[] = {};
static void
task_summary_run(struct compat_call *cc)
{
	static const char *const st[] = { "todo", "in_progress", "blocked", "review", "done" };
	const cJSON *p, *sum;
	cJSON *o, *s;
	size_t i;

	if (cc->step == 0) {
		compat_op(cc, NULL, "project_get", cJSON_CreateObject());
		return;
	}
	if (compat_failed(cc, p = compat_ans(cc, 0)))
		return;
	sum = cJSON_GetObjectItemCaseSensitive(p, "summary");
	o = cJSON_CreateObject();
	s = cJSON_AddObjectToObject(o, "summary");
	compat_copy(s, "total", sum, "total");
	for (i = 0; i < nitems(st); i++)
		compat_copy(s, st[i], sum, st[i]);
	compat_copy(o, "completionPercent", sum, "percent_done");
	compat_copy(o, "projectStatus", p, "status");
	compat_ok(cc, o);
}

/* ---- locks ---- */

static cJSON *
ls_lock(const char *path, const char *owner, const char *note, const char *status)
{
	cJSON *o = cJSON_CreateObject();
	char at[TIME_ISO_LEN];

	cJSON_AddStringToObject(o, "path", path);
	if (owner != NULL)
		cJSON_AddStringToObject(o, "owner", owner);
	if (note != NULL)
		cJSON_AddStringToObject(o, "note", note);
	cJSON_AddStringToObject(o, "status", status);
	cJSON_AddStringToObject(o, "updatedAt", time_iso(wall_ms(), at, sizeof at));
	return (o);
}

/*
 * Is who (an agent as the broker shows it) the agent Lockstep calls
 * owner?  On a team broker every agent is shown as user/agent, and a name
 * without a user is the caller's own user's agent, as the broker reads it.
 */
static int
ls_is_owner(const char *owner, const char *who)
{
	static char user[64];
	struct passwd *pw;
	size_t n;

	if (who == NULL)
		return (0);
	if (strcmp(owner, who) == 0)
		return (1);
	if (strchr(owner, '/') != NULL)
		return (0);
	if (user[0] == '\0') {
		if ((pw = getpwuid(getuid())) == NULL || strlen(pw->pw_name) >= sizeof user)
			return (0);
		snprintf(user, sizeof user, "%s", pw->pw_name);
	}
	n = strlen(user);
	return (strncmp(who, user, n) == 0 && who[n] == '/' && strcmp(who + n + 1, owner) == 0);
}

static char *
ls_lock_name(const char *path)
{
	char *n;

	xasprintf(&n, "file:%s", path);
	return (n);
}

static const struct compat_arg lock_acquire_args[] = {
	{ "path", CA_STRING, 1, NULL, NULL, NULL },
	{ "owner", CA_STRING, 0, NULL, NULL, NULL },
	{ "note", CA_STRING, 0, NULL, NULL, NULL },
};
static void
lock_acquire_run(struct compat_call *cc)
{
	const char *path = compat_str(cc, "path"), *who;
	const cJSON *a, *h;
	cJSON *args;
	char *name;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		name = ls_lock_name(path);
		cJSON_AddStringToObject(args, "name", name);
		free(name);
		if (compat_str(cc, "note") != NULL)
			cJSON_AddStringToObject(args, "reason", compat_str(cc, "note"));
		compat_op(cc, compat_str(cc, "owner"), "lock_acquire", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "acquired"))) {
		h = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(a, "holders"), 0);
		who = ls_get(h, "agent");
		compat_fail(cc, "Lock already active for %s%s%s; wait and try again", path,
		    who != NULL ? ", held by " : "", who != NULL ? who : "");
		return;
	}
	ls_token_put("lock", path, cJSON_GetObjectItemCaseSensitive(a, "token"));
	compat_ok(cc, ls_lock(path, compat_str(cc, "owner"), compat_str(cc, "note"), "active"));
}

static const struct compat_arg lock_release_args[] = {
	{ "path", CA_STRING, 1, NULL, NULL, NULL },
	{ "owner", CA_STRING, 0, NULL, NULL, NULL },
};
static void
lock_release_run(struct compat_call *cc)
{
	const char *path = compat_str(cc, "path");
	const cJSON *a;
	cJSON *args;
	char *name;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		name = ls_lock_name(path);
		cJSON_AddStringToObject(args, "name", name);
		free(name);
		ls_with_token(args, "lock", path);
		compat_op(cc, compat_str(cc, "owner"), "lock_release", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "released"))) {
		compat_fail(cc, "Active lock not found for %s", path);
		return;
	}
	compat_ok(cc, ls_lock(path, compat_str(cc, "owner"), NULL, "resolved"));
}

static const struct compat_arg lock_list_args[] = {
	{ "status", CA_STRING, 0, NULL, "active|resolved", "baton keeps no resolved locks" },
	{ "owner", CA_STRING, 0, NULL, NULL, NULL },
};
static void
lock_list_run(struct compat_call *cc)
{
	const char *owner = compat_str(cc, "owner"), *status = compat_str(cc, "status");
	const char *name, *who;
	const cJSON *a, *l, *h;
	cJSON *out;

	if (cc->step == 0) {
		compat_op(cc, NULL, "lock_list", cJSON_CreateObject());
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(a, "locks")) {
		name = ls_get(l, "name");
		if (name == NULL || (status != NULL && strcmp(status, "active") != 0))
			continue;
		cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(l, "holders")) {
			who = ls_get(h, "agent");
			if (owner != NULL && !ls_is_owner(owner, who))
				continue;
			cJSON_AddItemToArray(out,
			    ls_lock(strncmp(name, "file:", 5) == 0 ? name + 5 : name, who,
				ls_get(h, "reason"), "active"));
		}
	}
	compat_ok(cc, out);
}

/* ---- log_append: an entry in baton's audit log ---- */

static const struct compat_arg log_append_args[] = {
	{ "event", CA_STRING, 1, NULL, NULL, "one line, at most 200 bytes" },
	{ "payload", CA_OBJECT, 0, NULL, NULL, "at most 8 KiB as JSON" },
};
static void
log_append_run(struct compat_call *cc)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(cc->args, "payload");
	cJSON *args, *o;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "event", compat_str(cc, "event"));
		if (p != NULL)
			cJSON_AddItemToObject(args, "data", cJSON_Duplicate(p, 1));
		compat_op(cc, NULL, "log_append", args);
		return;
	}
	if (compat_failed(cc, compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", 1);
	compat_ok(cc, o);
}

/* ---- notes: a numbered log of baton notes under lockstep/notes/ ---- */

static const struct compat_arg note_append_args[] = {
	{ "text", CA_STRING, 1, NULL, NULL, NULL },
	{ "author", CA_STRING, 0, NULL, NULL, NULL },
};
static void
note_append_run(struct compat_call *cc)
{
	const cJSON *a;
	cJSON *args, *v;
	char *key, at[TIME_ISO_LEN], id[32];

	switch (cc->step) {
	case 0:
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "name", LS_NOTES_COUNTER);
		compat_op(cc, NULL, "counter_incr", args);
		return;
	case 1:
		if (compat_failed(cc, a = compat_ans(cc, 0)))
			return;
		snprintf(id, sizeof id, "%.0f",
		    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(a, "value")));
		v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "id", id);
		cJSON_AddStringToObject(v, "text", compat_str(cc, "text"));
		if (compat_str(cc, "author") != NULL)
			cJSON_AddStringToObject(v, "author", compat_str(cc, "author"));
		cJSON_AddStringToObject(v, "createdAt", time_iso(wall_ms(), at, sizeof at));
		cJSON_AddItemToObject(cc->st, "note", cJSON_Duplicate(v, 1));
		xasprintf(&key, LS_NOTE_KEY, strtod(id, NULL));
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "key", key);
		cJSON_AddItemToObject(args, "value", v);
		free(key);
		compat_op(cc, compat_str(cc, "author"), "note_set", args);
		return;
	}
	if (compat_failed(cc, compat_ans(cc, 0)))
		return;
	compat_ok(cc, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(cc->st, "note"), 1));
}

static const struct compat_arg note_list_args[] = {
	{ "limit", CA_NUMBER, 0, NULL, NULL, "the most recent" },
};
static void
note_list_run(struct compat_call *cc)
{
	double limit = compat_num(cc, "limit", 0), n, i;
	const cJSON *a;
	cJSON *args, *out;
	char *key;
	int k;

	switch (cc->step) {
	case 0:
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "name", LS_NOTES_COUNTER);
		cJSON_AddNumberToObject(args, "by", 0);
		compat_op(cc, NULL, "counter_incr", args);
		return;
	case 1:
		if (compat_failed(cc, a = compat_ans(cc, 0)))
			return;
		n = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(a, "value"));
		if (limit <= 0 || limit > LS_LIST_MAX)
			limit = LS_LIST_MAX;
		for (i = fmax(n - limit + 1, 1); i <= n; i++) {
			xasprintf(&key, LS_NOTE_KEY, i);
			args = cJSON_CreateObject();
			cJSON_AddStringToObject(args, "key", key);
			free(key);
			if (compat_op(cc, NULL, "note_get", args) != 0)
				return;
		}
		if (cc->pending > 0)
			return;
		compat_ok(cc, cJSON_CreateArray());
		return;
	}
	out = cJSON_CreateArray();
	for (k = 0; (a = compat_ans(cc, k)) != NULL; k++) {
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "found")))
			cJSON_AddItemToArray(out,
			    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(a, "value"), 1));
	}
	compat_ok(cc, out);
}

/* ---- discussions ---- */

/* Lockstep's priorities in baton's words, and back. */
static const char *const ls_prio[][2] = { { "low", "low" }, { "medium", "normal" },
	{ "high", "high" }, { "blocking", "urgent" } };

static const char *
ls_prio_map(const char *p, int to_baton)
{
	size_t i;

	for (i = 0; p != NULL && i < nitems(ls_prio); i++) {
		if (strcmp(p, ls_prio[i][!to_baton]) == 0)
			return (ls_prio[i][to_baton]);
	}
	return (NULL);
}

/* A baton discussion (list row or discussion_get) as Lockstep shows one. */
static cJSON *
ls_disc(const cJSON *d)
{
	cJSON *o = cJSON_CreateObject();
	const char *st = ls_get(d, "status"), *prio = ls_prio_map(ls_get(d, "priority"), 0);

	compat_copy(o, "id", d, "id");
	compat_copy(o, "topic", d, "topic");
	compat_copy(o, "category", d, "category");
	if (prio != NULL)
		cJSON_AddStringToObject(o, "priority", prio);
	cJSON_AddStringToObject(o, "status",
	    st != NULL && strcmp(st, "open") == 0 && ls_get(d, "waiting_on") != NULL ? "waiting"
		: st != NULL                                                         ? st
										     : "open");
	compat_copy(o, "createdBy", d, "started_by");
	compat_copy(o, "waitingOn", d, "waiting_on");
	compat_copy(o, "createdAt", d, "started_at");
	compat_copy(o, "updatedAt", d, "updated_at");
	if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(d, "resolution"))) {
		d = cJSON_GetObjectItemCaseSensitive(d, "resolution");
	}
	compat_copy(o, "decision", d, "decision");
	compat_copy(o, "decisionReasoning", d, "reasoning");
	compat_copy(o, "decidedBy", d, "decided_by");
	compat_copy(o, "linkedTaskId", d, "linked_task");
	return (o);
}

static const struct compat_arg discussion_start_args[] = {
	{ "topic", CA_STRING, 1, NULL, NULL, NULL },
	{ "category", CA_STRING, 0, NULL, "architecture|implementation|blocker|question|other",
	    NULL },
	{ "priority", CA_STRING, 0, NULL, "low|medium|high|blocking", NULL },
	{ "message", CA_STRING, 1, NULL, NULL, NULL },
	{ "author", CA_STRING, 1, NULL, NULL, "your agent name" },
	{ "waitingOn", CA_STRING, 0, NULL, NULL, "who should respond" },
	{ "projectRoot", CA_STRING, 0, NULL, NULL, NULL },
};
static void
discussion_start_run(struct compat_call *cc)
{
	const cJSON *a;
	cJSON *args, *o, *d, *msg;
	const char *w = compat_str(cc, "waitingOn");

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "topic", compat_str(cc, "topic"));
		cJSON_AddStringToObject(args, "message", compat_str(cc, "message"));
		if (w != NULL)
			cJSON_AddStringToObject(args, "waiting_on", w);
		cJSON_AddStringToObject(args, "category",
		    compat_str(cc, "category") != NULL ? compat_str(cc, "category") : "other");
		if (compat_str(cc, "priority") != NULL)
			cJSON_AddStringToObject(args, "priority",
			    ls_prio_map(compat_str(cc, "priority"), 1));
		compat_op(cc, compat_str(cc, "author"), "discussion_start", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	ls_token_put("discussion", ls_get(a, "id"),
	    cJSON_GetObjectItemCaseSensitive(a, "token"));
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "success", 1);
	d = cJSON_AddObjectToObject(o, "discussion");
	compat_copy(d, "id", a, "id");
	cJSON_AddStringToObject(d, "topic", compat_str(cc, "topic"));
	cJSON_AddStringToObject(d, "category",
	    compat_str(cc, "category") != NULL ? compat_str(cc, "category") : "other");
	cJSON_AddStringToObject(d, "priority",
	    compat_str(cc, "priority") != NULL ? compat_str(cc, "priority") : "medium");
	cJSON_AddStringToObject(d, "status", w != NULL ? "waiting" : "open");
	cJSON_AddStringToObject(d, "createdBy", compat_str(cc, "author"));
	if (w != NULL)
		cJSON_AddStringToObject(d, "waitingOn", w);
	msg = cJSON_AddObjectToObject(o, "message");
	compat_copy(msg, "discussionId", a, "id");
	cJSON_AddStringToObject(msg, "author", compat_str(cc, "author"));
	cJSON_AddStringToObject(msg, "message", compat_str(cc, "message"));
	cJSON_AddStringToObject(o, "instruction",
	    w != NULL ? "Discussion started. Continue with other work and check back later."
		      : "Discussion started. Other agents can reply using discussion_reply.");
	compat_ok(cc, o);
}

static const struct compat_arg discussion_reply_args[] = {
	{ "discussionId", CA_STRING, 1, NULL, NULL, NULL },
	{ "message", CA_STRING, 1, NULL, NULL, NULL },
	{ "author", CA_STRING, 1, NULL, NULL, NULL },
	{ "recommendation", CA_STRING, 0, NULL, NULL, NULL },
	{ "waitingOn", CA_STRING, 0, NULL, NULL, NULL },
};
static void
discussion_reply_run(struct compat_call *cc)
{
	const char *rec = compat_str(cc, "recommendation");
	const cJSON *a;
	cJSON *args, *o, *msg;
	char *text;

	if (cc->step == 0) {
		args = ls_id_args(compat_str(cc, "discussionId"));
		if (rec != NULL)
			xasprintf(&text, "%s\n\nRecommendation: %s", compat_str(cc, "message"),
			    rec);
		else
			text = xstrdup(compat_str(cc, "message"));
		cJSON_AddStringToObject(args, "message", text);
		free(text);
		/* Lockstep: no waitingOn means nobody in particular */
		cJSON_AddStringToObject(args, "waiting_on",
		    compat_str(cc, "waitingOn") != NULL ? compat_str(cc, "waitingOn") : "");
		compat_op(cc, compat_str(cc, "author"), "discussion_reply", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "success", 1);
	cJSON_AddItemToObject(o, "discussion", ls_disc(a));
	msg = cJSON_AddObjectToObject(o, "message");
	cJSON_AddStringToObject(msg, "discussionId", compat_str(cc, "discussionId"));
	cJSON_AddStringToObject(msg, "author", compat_str(cc, "author"));
	cJSON_AddStringToObject(msg, "message", compat_str(cc, "message"));
	if (rec != NULL)
		cJSON_AddStringToObject(msg, "recommendation", rec);
	cJSON_AddStringToObject(o, "instruction", "Reply posted.");
	compat_ok(cc, o);
}

static const struct compat_arg discussion_resolve_args[] = {
	{ "discussionId", CA_STRING, 1, NULL, NULL, NULL },
	{ "decision", CA_STRING, 1, NULL, NULL, NULL },
	{ "reasoning", CA_STRING, 1, NULL, NULL, NULL },
	{ "decidedBy", CA_STRING, 1, NULL, NULL, NULL },
	{ "linkedTaskId", CA_STRING, 0, NULL, NULL, NULL },
};
static void
discussion_resolve_run(struct compat_call *cc)
{
	const char *id = compat_str(cc, "discussionId");
	cJSON *args, *o;

	switch (cc->step) {
	case 0:
		args = ls_id_args(id);
		cJSON_AddStringToObject(args, "decision", compat_str(cc, "decision"));
		cJSON_AddStringToObject(args, "reasoning", compat_str(cc, "reasoning"));
		if (compat_str(cc, "linkedTaskId") != NULL)
			cJSON_AddStringToObject(args, "linked_task",
			    compat_str(cc, "linkedTaskId"));
		ls_with_token(args, "discussion", id);
		compat_op(cc, compat_str(cc, "decidedBy"), "discussion_resolve", args);
		return;
	case 1:
		if (compat_failed(cc, compat_ans(cc, 0)))
			return;
		compat_op(cc, NULL, "discussion_get", ls_id_args(id));
		return;
	}
	if (compat_failed(cc, compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "success", 1);
	cJSON_AddItemToObject(o, "discussion", ls_disc(compat_ans(cc, 0)));
	cJSON_AddStringToObject(o, "instruction", "Discussion resolved and decision recorded.");
	compat_ok(cc, o);
}

static const struct compat_arg discussion_get_args[] = {
	{ "discussionId", CA_STRING, 1, NULL, NULL, NULL },
};
static void
discussion_get_run(struct compat_call *cc)
{
	const cJSON *a, *r;
	cJSON *o, *msgs, *m;

	if (cc->step == 0) {
		compat_op(cc, NULL, "discussion_get",
		    ls_id_args(compat_str(cc, "discussionId")));
		return;
	}
	a = compat_ans(cc, 0);
	o = cJSON_CreateObject();
	if (compat_err(a) != NULL && strcmp(compat_err_code(a), ERR_NOT_FOUND) == 0) {
		cJSON_AddBoolToObject(o, "found", 0);
		cJSON_AddStringToObject(o, "message", "Discussion not found");
		compat_ok(cc, o);
		return;
	}
	if (compat_failed(cc, a)) {
		cJSON_Delete(o);
		return;
	}
	cJSON_AddBoolToObject(o, "found", 1);
	cJSON_AddItemToObject(o, "discussion", ls_disc(a));
	msgs = cJSON_AddArrayToObject(o, "messages");
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(a, "replies")) {
		m = cJSON_CreateObject();
		compat_copy(m, "discussionId", a, "id");
		compat_copy(m, "author", r, "who");
		compat_copy(m, "message", r, "text");
		compat_copy(m, "createdAt", r, "at");
		cJSON_AddItemToArray(msgs, m);
	}
	cJSON_AddNumberToObject(o, "messageCount", cJSON_GetArraySize(msgs));
	compat_ok(cc, o);
}

/* discussion_list with these arguments; the answer's rows as Lockstep's. */
static cJSON *
ls_disc_rows(const cJSON *a, const char *category)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *d;

	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(a, "discussions")) {
		if (category == NULL ||
		    (ls_get(d, "category") != NULL &&
			strcmp(ls_get(d, "category"), category) == 0))
			cJSON_AddItemToArray(out, ls_disc(d));
	}
	return (out);
}

static const struct compat_arg discussion_list_args[] = {
	{ "status", CA_STRING, 0, NULL, "open|waiting|resolved|archived", NULL },
	{ "category", CA_STRING, 0, NULL, "architecture|implementation|blocker|question|other",
	    NULL },
	{ "waitingOn", CA_STRING, 0, NULL, NULL, NULL },
	{ "projectRoot", CA_STRING, 0, NULL, NULL, NULL },
	{ "limit", CA_NUMBER, 0, NULL, NULL, NULL },
};
static void
discussion_list_run(struct compat_call *cc)
{
	const char *st = compat_str(cc, "status");
	double limit = compat_num(cc, "limit", 0);
	cJSON *args, *o, *rows;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "status",
		    st == NULL ? "all"
			: strcmp(st, "resolved") == 0 || strcmp(st, "archived") == 0
			? "resolved"
			: "open");
		if (compat_str(cc, "waitingOn") != NULL)
			cJSON_AddStringToObject(args, "waiting_on",
			    compat_str(cc, "waitingOn"));
		cJSON_AddNumberToObject(args, "limit",
		    limit > 0 && limit < LS_LIST_MAX ? limit : LS_LIST_MAX);
		compat_op(cc, NULL, "discussion_list", args);
		return;
	}
	if (compat_failed(cc, compat_ans(cc, 0)))
		return;
	rows = ls_disc_rows(compat_ans(cc, 0), compat_str(cc, "category"));
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "count", cJSON_GetArraySize(rows));
	cJSON_AddItemToObject(o, "discussions", rows);
	compat_ok(cc, o);
}

static const struct compat_arg discussion_inbox_args[] = {
	{ "agent", CA_STRING, 1, NULL, NULL, "your agent name" },
	{ "projectRoot", CA_STRING, 0, NULL, NULL, NULL },
};
static void
discussion_inbox_run(struct compat_call *cc)
{
	cJSON *args, *o, *rows;
	int n;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "waiting_on", compat_str(cc, "agent"));
		compat_op(cc, NULL, "discussion_list", args);
		return;
	}
	if (compat_failed(cc, compat_ans(cc, 0)))
		return;
	rows = ls_disc_rows(compat_ans(cc, 0), NULL);
	n = cJSON_GetArraySize(rows);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "agent", compat_str(cc, "agent"));
	cJSON_AddNumberToObject(o, "waitingCount", n);
	cJSON_AddItemToObject(o, "discussions", rows);
	cJSON_AddStringToObject(o, "instruction",
	    n > 0 ? "Discussions wait for your input: discussion_get, then discussion_reply."
		  : "No discussions waiting for your input.");
	compat_ok(cc, o);
}

#define RO (OP_READONLY | OP_IDEMPOTENT)
static const struct compat_tool lockstep_tools[] = {
	COMPAT_TOOL(coordination_init, 0,
	    "Call first with your role (planner or implementer): phase guidance from the live "
	    "project state."),
	COMPAT_TOOL(project_context_set, OP_DESTRUCTIVE,
	    "Store the project context: description, end state, stack, criteria, tests, plan."),
	COMPAT_TOOL(project_context_get, RO, "Get the stored project context."),
	COMPAT_TOOL(project_status_set, OP_DESTRUCTIVE,
	    "Set the project status; 'stopped' tells implementers to stop."),
	COMPAT_TOOL(status_get, RO, "Coordinator config and state summary."),
	COMPAT_TOOL(task_create, 0, "Create a task (complexity decides its review)."),
	COMPAT_TOOL(task_claim, 0,
	    "Claim a todo task (in_progress). baton: exactly one of racing claimants wins."),
	COMPAT_TOOL(task_update, OP_DESTRUCTIVE,
	    "Update a task. baton: status done from in_progress goes to review for the "
	    "planner's approval."),
	COMPAT_TOOL(task_list, RO,
	    "List tasks (done hidden unless includeDone) with projectStatus: stop when it is "
	    "stopped or complete."),
	COMPAT_TOOL(task_submit_for_review, 0, "Submit your finished task for planner review."),
	COMPAT_TOOL(task_approve, 0, "PLANNER: approve a task in review (done)."),
	COMPAT_TOOL(task_request_changes, 0,
	    "PLANNER: send a task in review back with feedback."),
	COMPAT_TOOL(task_approve_batch, 0, "PLANNER: approve several tasks in review."),
	COMPAT_TOOL(task_summary, RO, "Task counts by status."),
	COMPAT_TOOL(lock_acquire, OP_DESTRUCTIVE,
	    "Lock a file before editing it. baton: a released path can be locked again, and "
	    "locks go with your session."),
	COMPAT_TOOL(lock_release, OP_IDEMPOTENT, "Release your lock."),
	COMPAT_TOOL(lock_list, RO, "Active locks."),
	COMPAT_TOOL(note_append, 0, "Append a note for the other agents."),
	COMPAT_TOOL(note_list, RO, "Recent notes."),
	COMPAT_TOOL(log_append, 0, "Append an event to the audit log (baton log)."),
	COMPAT_TOOL(discussion_start, 0, "Start a discussion, optionally waiting on an agent."),
	COMPAT_TOOL(discussion_reply, 0, "Reply in a discussion."),
	COMPAT_TOOL(discussion_resolve, 0,
	    "Resolve a discussion with a decision. baton: by its starter (its session or "
	    "this process)."),
	COMPAT_TOOL(discussion_get, RO, "A discussion with its messages."),
	COMPAT_TOOL(discussion_list, RO, "List discussions."),
	COMPAT_TOOL(discussion_inbox, RO, "Discussions waiting on you."),
};

const struct compat_profile compat_lockstep = {
	.name = "lockstep",
	.seed = "Lockstep MCP",
	.instructions =
	    "Lockstep MCP's tools, served by baton. Call coordination_init with your role "
	    "(planner or implementer) first. Implementers loop: task_list (stop when "
	    "projectStatus is stopped or complete), task_claim, lock_acquire before editing a "
	    "file, lock_release, task_submit_for_review or task_update to done; repeat. "
	    "Planners set the context, create tasks and approve reviews.",
	.tools = lockstep_tools,
	.ntools = nitems(lockstep_tools),
	.extra = {
	    { compat_launch_tools, &compat_nlaunch_tools }, /* compat-launch.c */
	    { compat_file_tools, &compat_nfile_tools },     /* compat-files.c */
	},
};
