/*
 * Tasks in the checkpoint (store.c): one row per task with every field,
 * the claim and the history, keyed "PROJECT\nNNNNNN" (zero-padded, so a
 * project's rows load in id order; task_changed marks them).  A claim
 * bound to a session names it (the session is persisted while it holds
 * claims); an orphaned claim's lease is a wall-clock deadline, re-based
 * at restore like every other deadline.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

/* The task a row key names, or NULL. */
static struct task *
taskrow_find(const char *key)
{
	const char *nl = strchr(key, '\n');
	struct project *p;
	char *name;

	if (nl == NULL)
		return (NULL);
	name = xstrndup(key, (size_t)(nl - key));
	p = project_find(name);
	free(name);
	return (p != NULL ? task_by_num(p, task_parse_id(nl + 1, strlen(nl + 1))) : NULL);
}

static void
taskrow_pk_history(struct fbuf *fb, const struct task *t)
{
	const struct hist *h;
	size_t i;

	pk_str(fb, "history");
	pk_array(fb, t->nhist);
	for (i = 0; i < t->nhist; i++) {
		h = &t->hist[i];
		pk_map_open(fb);
		pk_kint(fb, "at", h->at);
		pk_kstr(fb, "actor", h->actor);
		pk_kstr(fb, "sid", h->sid);
		pk_kstr(fb, "action", h->action);
		pk_kint(fb, "from", h->from);
		pk_kint(fb, "to", h->to);
		pk_kstr(fb, "note", h->note);
		pk_map_close(fb);
	}
}

/*
 * A task's fields, claim and history as a map: its row in the checkpoint,
 * and its record in etcd for a shared project (shared-task.c).
 */
void
taskrow_pack(struct fbuf *fb, const struct task *t)
{
	size_t i;

	pk_map_open(fb);
	pk_kstr(fb, "title", t->title);
	pk_kstr(fb, "description", t->description);
	pk_kstr(fb, "assignee", t->assignee);
	pk_kstr(fb, "owner", t->owner);
	pk_kstr(fb, "priority", task_priority_names[t->priority]);
	pk_kstr(fb, "complexity", task_complexity_names[t->complexity]);
	pk_kstr(fb, "isolation", task_isolation_names[t->isolation]);
	pk_str(fb, "tags");
	pk_array(fb, t->ntags);
	for (i = 0; i < t->ntags; i++)
		pk_str(fb, t->tags[i]);
	pk_str(fb, "deps");
	pk_array(fb, t->ndeps);
	for (i = 0; i < t->ndeps; i++)
		pk_uint(fb, t->deps[i]);
	pk_str(fb, "files");
	pk_array(fb, t->nfiles);
	for (i = 0; i < t->nfiles; i++)
		pk_str(fb, t->files[i]);
	pk_kstr(fb, "status", task_status_names[t->status]);
	pk_kstr(fb, "token", t->token[0] != '\0' ? t->token : NULL);
	pk_kstr(fb, "ftoken", t->ftoken[0] != '\0' ? t->ftoken : NULL);
	pk_kstr(fb, "owner_sid", t->owner_sid[0] != '\0' ? t->owner_sid : NULL);
	pk_kstr(fb, "sid", t->claim_s != NULL ? t->claim_s->id : NULL);
	pk_kdouble(fb, "lease", t->lease);
	pk_kint(fb, "lease_end", deadline_to_wall(t->lease_ev != NULL ? t->lease_end_ms : 0));
	pk_kbool(fb, "changes_pending", t->changes_pending);
	pk_kbool(fb, "changes_requested", t->changes_requested);
	pk_kstr(fb, "notes", t->notes);
	pk_kstr(fb, "feedback", t->feedback);
	pk_kstr(fb, "reviewer", t->reviewer);
	pk_kint(fb, "reviewed_at", t->reviewed_at);
	pk_kint(fb, "created_at", t->created_at);
	pk_kint(fb, "updated_at", t->updated_at);
	pk_kuint(fb, "version", t->version);
	pk_kuint(fb, "history_dropped", t->hist_dropped);
	taskrow_pk_history(fb, t);
	pk_map_close(fb);
}

/* A task's row; 0 when there is no such task. */
static int
task_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct task *t;

	if ((t = taskrow_find(key)) == NULL)
		return (0);
	taskrow_pack(fb, t);
	return (1);
}

/* A string field of a row, or a copy of def when absent. */
static char *
taskrow_strdup(const msgpack_object *o, const char *key, const char *def)
{
	char *s = mp_get_strdup(o, key);

	return (s != NULL ? s : xstrdup(def));
}

/* A status number of a history entry (-1: none, or out of range). */
static int
taskrow_status(const msgpack_object *e, const char *key)
{
	int64_t v = mp_get_int(e, key, -1);

	return (v >= 0 && v < TS_COUNT ? (int)v : -1);
}

/* Rebuild the history of a task from its row. */
static void
taskrow_history(struct task *t, const msgpack_object *a)
{
	const msgpack_object *e;
	struct hist *h;
	uint32_t i;

	t->hist = xreallocarray(NULL, TASK_HISTORY_MAX, sizeof *t->hist);
	for (i = 0; a != NULL && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size &&
	     t->nhist < TASK_HISTORY_MAX;
	     i++) {
		e = &a->via.array.ptr[i];
		h = &t->hist[t->nhist++];
		h->at = mp_get_int(e, "at", 0);
		h->actor = taskrow_strdup(e, "actor", "?");
		h->sid = mp_get_strdup(e, "sid");
		h->action = taskrow_strdup(e, "action", "?");
		h->from = taskrow_status(e, "from");
		h->to = taskrow_status(e, "to");
		h->note = mp_get_strdup(e, "note");
	}
}

/* The strings of a row's array under key into a fresh array (bad entries skipped). */
static char **
taskrow_strings(const msgpack_object *o, const char *key, size_t *np)
{
	const msgpack_object *a = mp_get(o, key);
	const char *s;
	char **v;
	size_t n;
	uint32_t i;

	*np = 0;
	if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY)
		return (NULL);
	v = xreallocarray(NULL, a->via.array.size + 1, sizeof *v);
	for (i = 0; i < a->via.array.size; i++) {
		if (mp_str(&a->via.array.ptr[i], &s, &n) == 0)
			v[(*np)++] = xstrndup(s, n);
	}
	return (v);
}

/* The tags, files and dependencies of a task from its row (bad entries are skipped). */
static void
taskrow_lists(struct task *t, const msgpack_object *o)
{
	const msgpack_object *a;
	int64_t d;
	uint32_t i;

	t->tags = taskrow_strings(o, "tags", &t->ntags);
	t->files = taskrow_strings(o, "files", &t->nfiles);
	if ((a = mp_get(o, "deps")) != NULL && a->type == MSGPACK_OBJECT_ARRAY) {
		t->deps = xreallocarray(NULL, a->via.array.size + 1, sizeof *t->deps);
		for (i = 0; i < a->via.array.size; i++) {
			if (mp_int(&a->via.array.ptr[i], &d) == 0 && d > 0 && d <= TASKS_MAX &&
			    (unsigned)d != t->num)
				t->deps[t->ndeps++] = (unsigned)d;
		}
	}
}

/* Put restored task t at its number in its project (rows may leave holes). */
static void
taskrow_place(struct project *p, struct task *t)
{
	size_t old = p->cap;

	if (t->num > p->cap) {
		p->cap = t->num > 2 * p->cap ? t->num : 2 * p->cap;
		p->tasks = xreallocarray(p->tasks, p->cap, sizeof *p->tasks);
		memset(p->tasks + old, 0, (p->cap - old) * sizeof *p->tasks);
	}
	if (t->num > p->ntasks) {
		memset(p->tasks + p->ntasks, 0, (t->num - p->ntasks) * sizeof *p->tasks);
		p->ntasks = t->num;
	}
	p->tasks[t->num - 1] = t;
}

/* A token of a row into buf (TOKEN_LEN + 1 bytes); 0 when it holds one. */
static int
taskrow_token(const msgpack_object *o, const char *key, char *buf)
{
	const char *s;
	size_t n;

	if (mp_str(mp_get(o, key), &s, &n) != 0 || n != TOKEN_LEN)
		return (-1);
	memcpy(buf, s, n);
	buf[n] = '\0';
	return (0);
}

/*
 * Give a restored task in progress or in review its claim back, and the
 * token of its files' reservation (lockrow.c restores the grants).
 */
static void
taskrow_claim(struct task *t, const msgpack_object *o)
{
	const char *s;
	size_t n;
	char *sid;

	if (mp_str(mp_get(o, "owner_sid"), &s, &n) == 0 && n < sizeof t->owner_sid) {
		memcpy(t->owner_sid, s, n);
		t->owner_sid[n] = '\0';
	}
	if (t->status != TS_IN_PROGRESS && t->status != TS_REVIEW)
		return;
	if (t->status == TS_IN_PROGRESS)
		taskrow_token(o, "ftoken", t->ftoken);
	if (taskrow_token(o, "token", t->token) != 0)
		return;
	sid = mp_get_strdup(o, "sid");
	claim_restore(t, sid, mp_get_int(o, "lease_end", 0));
	free(sid);
}

/* Rebuild a task from its row. */
static int
task_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	const char *nl = strchr(key, '\n');
	struct project *p;
	struct task *t;
	char *name;
	unsigned num;

	num = nl != NULL ? task_parse_id(nl + 1, strlen(nl + 1)) : 0;
	if (num == 0 || num > TASKS_MAX || mp_get(o, "status") == NULL) {
		xasprintf(cause, "task %s: bad row", key);
		return (-1);
	}
	name = xstrndup(key, (size_t)(nl - key));
	p = project_ensure(name);
	free(name);
	if (task_by_num(p, num) != NULL) {
		xasprintf(cause, "task %s: twice", key);
		return (-1);
	}
	t = xcalloc(1, sizeof *t);
	t->p = p;
	t->num = num;
	snprintf(t->id, sizeof t->id, "T%u", num);
	taskrow_fields(t, o);
	taskrow_place(p, t);
	taskrow_claim(t, o);
	return (0);
}

/*
 * A task's fields and history from its map (taskrow_pack's), its claim
 * aside: t's number is set.
 */
void
taskrow_fields(struct task *t, const msgpack_object *o)
{
	t->title = taskrow_strdup(o, "title", "?");
	t->description = mp_get_strdup(o, "description");
	t->assignee = mp_get_strdup(o, "assignee");
	t->owner = mp_get_strdup(o, "owner");
	t->priority =
	    task_row_choice(o, "priority", task_priority_names, nitems(task_priority_names), 1);
	t->complexity = task_row_choice(o, "complexity", task_complexity_names,
	    nitems(task_complexity_names), 1);
	t->isolation = task_row_choice(o, "isolation", task_isolation_names,
	    nitems(task_isolation_names), 0);
	taskrow_lists(t, o);
	t->status = (enum task_status)task_row_choice(o, "status", task_status_names, TS_COUNT,
	    TS_TODO);
	t->lease = mp_get_num(o, "lease", TASK_LEASE_DEFAULT);
	t->changes_pending = mp_get_bool(o, "changes_pending", 0);
	t->changes_requested = mp_get_bool(o, "changes_requested", 0);
	t->notes = mp_get_strdup(o, "notes");
	t->feedback = mp_get_strdup(o, "feedback");
	t->reviewer = mp_get_strdup(o, "reviewer");
	t->reviewed_at = mp_get_int(o, "reviewed_at", 0);
	t->created_at = mp_get_int(o, "created_at", 0);
	t->updated_at = mp_get_int(o, "updated_at", 0);
	t->version = (uint64_t)mp_get_int(o, "version", 0);
	t->hist_dropped = (size_t)mp_get_int(o, "history_dropped", 0);
	taskrow_history(t, mp_get(o, "history"));
}

const struct store_kind task_store_kind = {
	.name = "task",
	.pack = task_pack,
	.restore = task_restore,
};
