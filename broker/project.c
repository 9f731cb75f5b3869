/*
 * The project context (DESIGN §5.5): per project namespace, what is to
 * be built (description, end state, tech stack, constraints, acceptance
 * criteria, tests, the plan) and where the work stands (planning ->
 * ready -> in_progress -> complete, or stopped).  The projects are also
 * where the tasks hang from (task.c): one table for both, made on first
 * use, and one wait key for the claims of each.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

const char *const project_status_names[PS_COUNT] = { "planning", "ready", "in_progress",
	"complete", "stopped" };
const char *const project_field_names[PF_COUNT] = { "description", "end_state", "tech_stack",
	"constraints", "acceptance", "tests", "plan" };

static struct project *projects;

/* The project named name, or NULL when nothing was done in it yet. */
struct project *
project_find(const char *name)
{
	struct project *p;

	HASH_FIND_STR(projects, name, p);
	return (p);
}

/* The project named name, made on first use. */
struct project *
project_ensure(const char *name)
{
	struct project *p;

	if ((p = project_find(name)) != NULL)
		return (p);
	p = xcalloc(1, sizeof *p);
	p->name = xstrdup(name);
	xasprintf(&p->wkey, "task\n%s", name);
	HASH_ADD_KEYPTR(hh, projects, p->name, strlen(p->name), p);
	return (p);
}

/* A change that may let a waiting task_claim of p answer. */
void
project_wake(struct project *p)
{
	wait_wake(p->wkey);
}

/* Record a change of the project's context or status by agent. */
static void
project_changed(struct project *p, const char *agent)
{
	free(p->updated_by);
	p->updated_by = xstrdup(agent);
	p->updated_at = wall_ms();
	p->version = revision_next();
	store_mark(&project_store_kind, p->name);
}

/*
 * The first claim: a project planning or ready is in progress now (one
 * complete or stopped stays so).
 */
void
project_work_started(struct project *p, const struct session *s)
{
	if (p->status != PS_PLANNING && p->status != PS_READY)
		return;
	p->status = PS_IN_PROGRESS;
	project_changed(p, s->agent);
}

/* The project's task summary under key "summary". */
void
project_pk_summary(struct fbuf *fb, const struct project *p)
{
	struct task_counts c;
	size_t live, i;

	task_counts(p, &c);
	live = p->ntasks - c.n[TS_CANCELLED];
	pk_str(fb, "summary");
	pk_map_open(fb);
	pk_kuint(fb, "total", p->ntasks);
	for (i = 0; i < TS_COUNT; i++)
		pk_kuint(fb, task_status_names[i], c.n[i]);
	pk_kuint(fb, "ready", c.ready);
	pk_kint(fb, "percent_done", live == 0 ? 0 : (int64_t)(c.n[TS_DONE] * 100 / live));
	pk_kstr(fb, "project_status", project_status_names[p->status]);
	pk_map_close(fb);
}

/* Reply with the project's context, status and summary. */
static void
project_reply(struct req *r, struct project *p, const char *hint)
{
	struct fbuf *fb = reply_begin(r->id);
	size_t i;

	pk_map_open(fb);
	pk_kstr(fb, "project", p->name);
	pk_kstr(fb, "status", project_status_names[p->status]);
	for (i = 0; i < PF_COUNT; i++)
		pk_kstr(fb, project_field_names[i], p->fields[i]);
	pk_kbool(fb, "self_review", p->self_review);
	pk_kstr(fb, "updated_by", p->updated_by);
	task_pk_iso(fb, "updated_at", p->updated_at);
	pk_kuint(fb, "version", p->version);
	project_pk_summary(fb, p);
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/*
 * Project status moves: forward along planning -> ready -> in_progress
 * -> complete (skipping is fine), stopped from anywhere, and a complete
 * or stopped project may be reopened.
 */
static int
project_move_ok(enum project_status from, enum project_status to)
{
	if (from == PS_COMPLETE || from == PS_STOPPED)
		return (1);
	return (to == PS_STOPPED || to >= from);
}

void
op_project_set(struct req *r)
{
	struct project *p = project_ensure(r->s->project);
	char hint[200];
	size_t i, waiting;
	int to;

	to = task_arg_choice(r, "status", project_status_names, PS_COUNT, -1);
	if (to >= 0 && !project_move_ok(p->status, (enum project_status)to)) {
		reply_error(r->c, r->id, ERR_CONFLICT, "status",
		    "the project is %s and cannot go back to %s; allowed: a later status "
		    "(planning -> ready -> in_progress -> complete) or stopped",
		    project_status_names[p->status], project_status_names[to]);
		return;
	}
	for (i = 0; i < PF_COUNT; i++) {
		if (arg_has(r, project_field_names[i])) {
			free(p->fields[i]);
			p->fields[i] = arg_text(r, project_field_names[i]);
		}
	}
	hint[0] = '\0';
	if (to >= 0)
		p->status = (enum project_status)to;
	if (arg_has(r, "self_review"))
		p->self_review = arg_bool(r, "self_review");
	project_changed(p, r->s->agent);
	feed_record(r->s, "project_set", "project", p->name, p->name, "context set; status %s",
	    project_status_names[p->status]);
	if (to == PS_COMPLETE || to == PS_STOPPED) {
		waiting = wait_count();
		project_wake(p);
		snprintf(hint, sizeof hint, "%s: %zu waiting task_claim calls were answered",
		    project_status_names[to], waiting - wait_count());
	} else if (p->fields[PF_PLAN] == NULL)
		snprintf(hint, sizeof hint,
		    "next: write the plan (project_set {plan}) and create "
		    "tasks with task_create");
	else if (p->ntasks == 0)
		snprintf(hint, sizeof hint, "next: create tasks with task_create");
	project_reply(r, p, hint[0] != '\0' ? hint : NULL);
}

void
op_project_get(struct req *r)
{
	project_reply(r, project_ensure(r->s->project), NULL);
}

/* ---- the checkpoint (store.c) ---- */

/* The project's row: its context and status; 0 until project_set was used. */
static int
project_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct project *p = project_find(key);
	size_t i;

	if (p == NULL || p->version == 0)
		return (0);
	pk_map_open(fb);
	pk_kstr(fb, "status", project_status_names[p->status]);
	for (i = 0; i < PF_COUNT; i++)
		pk_kstr(fb, project_field_names[i], p->fields[i]);
	pk_kbool(fb, "self_review", p->self_review);
	pk_kstr(fb, "updated_by", p->updated_by);
	pk_kint(fb, "updated_at", p->updated_at);
	pk_kuint(fb, "version", p->version);
	pk_map_close(fb);
	return (1);
}

/* Rebuild a project's context from its row. */
static int
project_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	struct project *p = project_ensure(key);
	size_t i;

	(void)cause;
	p->status = (enum project_status)task_row_choice(o, "status", project_status_names,
	    PS_COUNT, PS_PLANNING);
	for (i = 0; i < PF_COUNT; i++) {
		free(p->fields[i]);
		p->fields[i] = mp_get_strdup(o, project_field_names[i]);
	}
	p->self_review = mp_get_bool(o, "self_review", 0);
	free(p->updated_by);
	p->updated_by = mp_get_strdup(o, "updated_by");
	p->updated_at = mp_get_int(o, "updated_at", 0);
	p->version = (uint64_t)mp_get_int(o, "version", 1);
	return (0);
}

const struct store_kind project_store_kind = {
	.name = "project",
	.pack = project_pack,
	.restore = project_restore,
};
