/*
 * Tasks (DESIGN §5.5): short ids per project, fields, dependencies and
 * history.  The status machine and the review are review.c's, the
 * claims and their leases claim.c's, the project context project.c's,
 * the rows in the checkpoint taskrow.c's and the role guidance
 * guide.c's; task.h holds what they share.
 *
 * A project keeps its tasks in an array indexed by number (T1 is
 * tasks[0]); tasks are never deleted, only cancelled, so ids stay
 * stable and lookups are O(1).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

#define TASK_TAG_MAX 64              /* bytes per tag */
#define TASK_HIST_NOTE_MAX 512       /* bytes of a note kept in the history */
#define TASK_LIST_BYTES (512 * 1024) /* a task_list page, well under a frame */

const char *const task_status_names[TS_COUNT] = { "todo", "in_progress", "review", "done",
	"blocked", "cancelled" };
const char *const task_priority_names[4] = { "low", "medium", "high", "urgent" };
const char *const task_complexity_names[4] = { "simple", "medium", "complex", "critical" };
const char *const task_isolation_names[2] = { "shared", "worktree" };

/* ---- names, arguments and lookups ---- */

/* The index of s (n bytes) in names, or -1. */
int
task_name_index(const char *const *names, size_t count, const char *s, size_t n)
{
	size_t i;

	for (i = 0; s != NULL && i < count; i++) {
		if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
			return ((int)i);
	}
	return (-1);
}

/* The index in names of a string argument's value (or its default), or def. */
int
task_arg_choice(struct req *r, const char *name, const char *const *names, size_t count,
    int def)
{
	const char *s;
	size_t n;
	int i;

	if ((s = arg_str(r, name, &n)) == NULL || (i = task_name_index(names, count, s, n)) < 0)
		return (def);
	return (i);
}

/* The index in names of a row's string field, or def. */
int
task_row_choice(const msgpack_object *row, const char *key, const char *const *names,
    size_t count, int def)
{
	const char *s;
	size_t n;
	int i;

	if (mp_str(mp_get(row, key), &s, &n) != 0 ||
	    (i = task_name_index(names, count, s, n)) < 0)
		return (def);
	return (i);
}

/* Replace *dst with a copy of the argument (NULL when empty). */
static void
task_set_text(struct req *r, const char *name, char **dst)
{
	free(*dst);
	*dst = arg_text(r, name);
}

/* The assignee argument (NULL: none); on a team broker "x" is the caller's user's agent. */
static char *
task_assignee_arg(struct req *r)
{
	char *a = arg_text(r, "assignee"), *full;

	if (a == NULL)
		return (NULL);
	full = team_agent_addr(r->s->uid, a, strlen(a));
	free(a);
	return (full);
}

/* Parse "T12" (or "t12", "12") into 12; 0 when it is not a task id. */
unsigned
task_parse_id(const char *s, size_t n)
{
	unsigned long v = 0;
	size_t i = 0;

	if (n > 0 && (s[0] == 'T' || s[0] == 't'))
		i = 1;
	if (i == n || n - i > 6)
		return (0);
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (0);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return ((unsigned)v);
}

struct task *
task_by_num(struct project *p, unsigned num)
{
	if (num == 0 || num > p->ntasks)
		return (NULL);
	return (p->tasks[num - 1]);
}

/* The task an id (a string object) names, or NULL after replying not_found. */
struct task *
task_find(struct req *r, struct project *p, const msgpack_object *o, const char *field)
{
	struct task *t;
	const char *s = "";
	size_t n;

	if (mp_str(o, &s, &n) != 0)
		n = 0;
	if ((t = task_by_num(p, task_parse_id(s, n))) == NULL)
		reply_error(r->c, r->id, ERR_NOT_FOUND, field,
		    "no task '%.*s' in this project; task_list shows the ids",
		    (int)(n > 16 ? 16 : n), s);
	return (t);
}

/*
 * Are all of t's dependencies resolved: done, or cancelled (a task
 * cancelled is no longer waited for; cancel or re-plan its dependents
 * when they needed it)?
 */
int
task_deps_done(const struct task *t)
{
	const struct task *d;
	size_t i;

	for (i = 0; i < t->ndeps; i++) {
		d = task_by_num(t->p, t->deps[i]);
		if (d == NULL || (d->status != TS_DONE && d->status != TS_CANCELLED))
			return (0);
	}
	return (1);
}

int
task_ready(const struct task *t)
{
	return (t->status == TS_TODO && task_deps_done(t));
}

/* May agent take t now (ready, and assigned to nobody else)? */
int
task_claimable_by(const struct task *t, const struct session *s)
{
	return (task_ready(t) && (t->assignee == NULL || strcmp(t->assignee, s->agent) == 0));
}

/* Counts per status of a project's tasks, and how many are ready. */
void
task_counts(const struct project *p, struct task_counts *c)
{
	size_t i;

	memset(c, 0, sizeof *c);
	for (i = 0; i < p->ntasks; i++) {
		if (p->tasks[i] == NULL)
			continue;
		c->n[p->tasks[i]->status]++;
		if (task_ready(p->tasks[i]))
			c->ready++;
	}
}

/* Is every task of p done or cancelled (none at all counts)? */
int
task_all_done(const struct project *p, const struct task_counts *c)
{
	return (c->n[TS_DONE] + c->n[TS_CANCELLED] == p->ntasks);
}

/* Who created t (its history keeps "created" first). */
const char *
task_creator(const struct task *t)
{
	return (t->nhist > 0 ? t->hist[0].actor : "baton");
}

/* ---- history and changes ---- */

/*
 * Add one change to t's history, dropping the oldest past the bound (the
 * audit log aside: task_hist).
 */
void
task_hist_add(struct task *t, const struct session *s, const char *action, int from, int to,
    const char *note)
{
	struct hist *h;
	size_t n;

	if (t->nhist == TASK_HISTORY_MAX) {
		/* keep "created": drop the oldest entry after it */
		h = &t->hist[1];
		free(h->actor);
		free(h->sid);
		free(h->action);
		free(h->note);
		memmove(&t->hist[1], &t->hist[2], (t->nhist - 2) * sizeof *t->hist);
		t->nhist--;
		t->hist_dropped++;
	}
	if (t->hist == NULL)
		t->hist = xreallocarray(NULL, TASK_HISTORY_MAX, sizeof *t->hist);
	h = &t->hist[t->nhist++];
	h->at = wall_ms();
	h->actor = xstrdup(s != NULL ? s->agent : "baton");
	h->sid = s != NULL ? xstrdup(s->id) : NULL;
	h->action = xstrdup(action);
	h->from = from;
	h->to = to;
	h->note = NULL;
	if (note != NULL && *note != '\0') {
		n = strlen(note);
		h->note = xstrndup(note, n > TASK_HIST_NOTE_MAX ? TASK_HIST_NOTE_MAX : n);
	}
}

/* Record one change of t in its history and in the audit log. */
void
task_hist(struct task *t, const struct session *s, const char *action, int from, int to,
    const char *note)
{
	feed_record(s, action, "task", t->p->name, t->id, "%s%s%s: %s", action,
	    to >= 0 ? " -> " : "", to >= 0 ? task_status_names[to] : "", t->title);
	task_hist_add(t, s, action, from, to, note);
}

/* t's row is to be rewritten at the next checkpoint (key: taskrow.c). */
void
task_changed(const struct task *t)
{
	char *key;

	xasprintf(&key, "%s\n%06u", t->p->name, t->num);
	store_mark(&task_store_kind, key);
	free(key);
}

/* t changed: a new version, now. */
void
task_touch(struct task *t)
{
	t->version = revision_next();
	t->updated_at = wall_ms();
	task_changed(t);
}

/* ---- packing ---- */

/* A wall-clock time as ISO 8601 under key; nil when it never happened (0). */
void
task_pk_iso(struct fbuf *fb, const char *key, int64_t ms)
{
	char buf[TIME_ISO_LEN];

	pk_kstr(fb, key, ms > 0 ? time_iso(ms, buf, sizeof buf) : NULL);
}

static void
task_pk_strings(struct fbuf *fb, const char *key, char *const *v, size_t n)
{
	size_t i;

	pk_str(fb, key);
	pk_array(fb, n);
	for (i = 0; i < n; i++)
		pk_str(fb, v[i]);
}

static void
task_pk_deps(struct fbuf *fb, const struct task *t)
{
	char id[16];
	size_t i;

	pk_str(fb, "depends_on");
	pk_array(fb, t->ndeps);
	for (i = 0; i < t->ndeps; i++) {
		snprintf(id, sizeof id, "T%u", t->deps[i]);
		pk_str(fb, id);
	}
}

static void
task_pk_history(struct fbuf *fb, const struct task *t)
{
	const struct hist *h;
	size_t i;

	pk_str(fb, "history");
	pk_array(fb, t->nhist);
	for (i = 0; i < t->nhist; i++) {
		h = &t->hist[i];
		pk_map_open(fb);
		task_pk_iso(fb, "at", h->at);
		pk_kstr(fb, "actor", h->actor);
		pk_kstr(fb, "session", h->sid);
		pk_kstr(fb, "action", h->action);
		pk_kstr(fb, "from", h->from >= 0 ? task_status_names[h->from] : NULL);
		pk_kstr(fb, "to", h->to >= 0 ? task_status_names[h->to] : NULL);
		pk_kstr(fb, "note", h->note);
		pk_map_close(fb);
	}
}

/* A task's fields into the open map: the brief ones task_list shows, or all. */
void
task_pk_fields(struct fbuf *fb, const struct task *t, int full)
{
	uint64_t now;

	pk_kstr(fb, "id", t->id);
	pk_kstr(fb, "title", t->title);
	pk_kstr(fb, "status", task_status_names[t->status]);
	pk_kstr(fb, "priority", task_priority_names[t->priority]);
	pk_kstr(fb, "complexity", task_complexity_names[t->complexity]);
	pk_kstr(fb, "isolation", task_isolation_names[t->isolation]);
	task_pk_strings(fb, "tags", t->tags, t->ntags);
	task_pk_deps(fb, t);
	task_pk_strings(fb, "files", t->files, t->nfiles);
	pk_kstr(fb, "assignee", t->assignee);
	pk_kstr(fb, "owner", t->owner);
	pk_kbool(fb, "ready", task_ready(t));
	task_pk_iso(fb, "updated_at", t->updated_at);
	if (!full)
		return;
	pk_kstr(fb, "description", t->description);
	pk_kstr(fb, "notes", t->notes);
	pk_kstr(fb, "feedback", t->feedback);
	pk_kstr(fb, "reviewer", t->reviewer);
	task_pk_iso(fb, "reviewed_at", t->reviewed_at);
	task_pk_iso(fb, "created_at", t->created_at);
	pk_kbool(fb, "claim_live", t->claim_s != NULL);
	if (t->lease_ev != NULL) {
		now = mono_ms();
		pk_kdouble(fb, "lease_expires_in_seconds",
		    t->lease_end_ms > now ? (double)(t->lease_end_ms - now) / 1000.0 : 0.0);
	} else
		pk_kstr(fb, "lease_expires_in_seconds", NULL);
	pk_kbool(fb, "changes_requested", t->changes_requested);
	pk_kbool(fb, "files_reserved", t->ftoken[0] != '\0');
	pk_kstr(fb, "review_taken_by", t->review_s != NULL ? t->review_s->agent : NULL);
	pk_kuint(fb, "version", t->version);
	task_pk_history(fb, t);
	pk_kuint(fb, "history_dropped", t->hist_dropped);
}

/* Reply with a whole task and a hint (nil for none). */
void
task_reply(struct req *r, const struct task *t, const char *hint)
{
	struct fbuf *fb = reply_begin(r->id);

	pk_map_open(fb);
	task_pk_fields(fb, t, 1);
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/* ---- arguments that need more than the table ---- */

/* Parse tags (an array of strings, or NULL) into a fresh array; -1 after replying. */
int
task_parse_tags(struct req *r, const msgpack_object *o, char ***tags, size_t *ntags)
{
	const char *s;
	size_t n;
	uint32_t i;

	*tags = NULL;
	*ntags = 0;
	if (o == NULL)
		return (0);
	for (i = 0; i < o->via.array.size; i++) {
		if (mp_str(&o->via.array.ptr[i], &s, &n) != 0 || n > TASK_TAG_MAX) {
			reply_error(r->c, r->id, ERR_INVALID, "tags",
			    "tags[%u] is longer than %d bytes", i, TASK_TAG_MAX);
			return (-1);
		}
	}
	*tags = xreallocarray(NULL, o->via.array.size + 1, sizeof **tags);
	for (i = 0; i < o->via.array.size; i++)
		(*tags)[(*ntags)++] = mp_strdup(&o->via.array.ptr[i]);
	return (0);
}

void
task_free_strings(char **tags, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(tags[i]);
	free(tags);
}

/*
 * Parse files (an array of paths, directories or globs as "file:" lock
 * names take them, with or without "file:", or NULL) for project p:
 * normalized as those names are, each once.  -1 after replying.
 */
static int
task_parse_files(struct req *r, struct project *p, const msgpack_object *o, char ***files,
    size_t *nfiles)
{
	char *norm, *cause = NULL;
	const char *s;
	size_t n, j;
	uint32_t i;

	*files = NULL;
	*nfiles = 0;
	if (o == NULL)
		return (0);
	*files = xreallocarray(NULL, o->via.array.size + 1, sizeof **files);
	for (i = 0; i < o->via.array.size; i++) {
		mp_str(&o->via.array.ptr[i], &s, &n);
		if (n >= 5 && memcmp(s, "file:", 5) == 0) {
			s += 5;
			n -= 5;
		}
		if (file_normalize(p->name, s, n, &norm, &cause) != 0) {
			reply_error(r->c, r->id, ERR_INVALID, "files", "files[%u]: %s", i,
			    cause);
			free(cause);
			task_free_strings(*files, *nfiles);
			*files = NULL;
			*nfiles = 0;
			return (-1);
		}
		for (j = 0; j < *nfiles && strcmp((*files)[j], norm) != 0; j++)
			;
		if (j < *nfiles)
			free(norm);
		else
			(*files)[(*nfiles)++] = norm;
	}
	return (0);
}

/* Can task num reach target by following dependencies (a cycle if it is t)? */
static int
task_reaches(struct project *p, unsigned num, unsigned target, unsigned char *seen)
{
	struct task *t = task_by_num(p, num);
	size_t i;

	if (num == target)
		return (1);
	if (t == NULL || seen[num - 1])
		return (0);
	seen[num - 1] = 1;
	for (i = 0; i < t->ndeps; i++) {
		if (task_reaches(p, t->deps[i], target, seen))
			return (1);
	}
	return (0);
}

/* Would t (number self) depending on deps close a cycle?  Replies when it would. */
static int
task_deps_cycle(struct req *r, struct project *p, unsigned self, const unsigned *deps,
    size_t ndeps)
{
	unsigned char *seen;
	size_t j;

	if (self > p->ntasks)
		return (0); /* a new task: nothing depends on it yet */
	seen = xcalloc(p->ntasks, 1);
	for (j = 0; j < ndeps; j++) {
		if (task_reaches(p, deps[j], self, seen)) {
			reply_error(r->c, r->id, ERR_INVALID, "depends_on",
			    "T%u already depends on T%u (directly or through others): that "
			    "would be a cycle",
			    deps[j], self);
			free(seen);
			return (1);
		}
	}
	free(seen);
	return (0);
}

/*
 * Parse depends_on (an array of ids, or NULL) for task number self (a
 * new task: ntasks + 1): ids that exist, no duplicates, no cycle.  -1
 * after replying.
 */
int
task_parse_deps(struct req *r, struct project *p, unsigned self, const msgpack_object *o,
    unsigned **deps, size_t *ndeps)
{
	const char *s = "";
	unsigned num;
	size_t n, j;
	uint32_t i;

	*deps = NULL;
	*ndeps = 0;
	if (o == NULL)
		return (0);
	*deps = xreallocarray(NULL, o->via.array.size + 1, sizeof **deps);
	for (i = 0; i < o->via.array.size; i++) {
		if (mp_str(&o->via.array.ptr[i], &s, &n) != 0)
			n = 0;
		num = task_parse_id(s, n);
		if (task_by_num(p, num) == NULL || num == self) {
			reply_error(r->c, r->id, ERR_INVALID, "depends_on",
			    "depends_on[%u]: %s '%.*s'", i,
			    num == self && num != 0 ? "a task cannot depend on itself:"
						    : "no such task",
			    (int)(n > 16 ? 16 : n), s);
			goto fail;
		}
		for (j = 0; j < *ndeps && (*deps)[j] != num; j++)
			;
		if (j == *ndeps)
			(*deps)[(*ndeps)++] = num;
	}
	if (task_deps_cycle(r, p, self, *deps, *ndeps))
		goto fail;
	return (0);
fail:
	free(*deps);
	*deps = NULL;
	*ndeps = 0;
	return (-1);
}

/* Put a new task at the end of p. */
static void
task_append(struct project *p, struct task *t)
{
	if (p->ntasks == p->cap) {
		p->cap = p->cap == 0 ? 16 : p->cap * 2;
		p->tasks = xreallocarray(p->tasks, p->cap, sizeof *p->tasks);
	}
	p->tasks[p->ntasks++] = t;
}

/* ---- operations ---- */

/*
 * The next task of p from task_create's arguments (not in p yet, no
 * history), or NULL after replying: the bound, tags, files and
 * dependencies checked.
 */
struct task *
task_build(struct req *r, struct project *p)
{
	struct task *t;
	char **tags, **files;
	unsigned *deps;
	size_t ntags, ndeps, nfiles;

	if (p->ntasks >= TASKS_MAX) {
		reply_error(r->c, r->id, ERR_LIMIT, "title",
		    "this project has %d tasks, the most one project may have", TASKS_MAX);
		return (NULL);
	}
	if (task_parse_tags(r, arg_get(r, "tags"), &tags, &ntags) != 0)
		return (NULL);
	if (task_parse_files(r, p, arg_get(r, "files"), &files, &nfiles) != 0) {
		task_free_strings(tags, ntags);
		return (NULL);
	}
	if (task_parse_deps(r, p, (unsigned)p->ntasks + 1, arg_get(r, "depends_on"), &deps,
		&ndeps) != 0) {
		task_free_strings(tags, ntags);
		task_free_strings(files, nfiles);
		return (NULL);
	}
	t = xcalloc(1, sizeof *t);
	t->p = p;
	t->num = (unsigned)p->ntasks + 1;
	snprintf(t->id, sizeof t->id, "T%u", t->num);
	t->title = arg_text(r, "title");
	t->description = arg_text(r, "description");
	t->priority =
	    task_arg_choice(r, "priority", task_priority_names, nitems(task_priority_names), 1);
	t->complexity = task_arg_choice(r, "complexity", task_complexity_names,
	    nitems(task_complexity_names), 1);
	t->isolation = task_arg_choice(r, "isolation", task_isolation_names,
	    nitems(task_isolation_names), 0);
	t->tags = tags;
	t->ntags = ntags;
	t->deps = deps;
	t->ndeps = ndeps;
	t->files = files;
	t->nfiles = nfiles;
	t->assignee = task_assignee_arg(r);
	t->status = TS_TODO;
	t->lease = TASK_LEASE_DEFAULT;
	t->created_at = wall_ms();
	return (t);
}

/* The hint of a task just created. */
void
task_created_hint(const struct task *t, char *hint, size_t size)
{
	snprintf(hint, size, "%s created%s; implementers get it with task_claim%s", t->id,
	    task_ready(t) ? " and ready" : ", ready once its dependencies are done",
	    t->nfiles > 0 ? ", which reserves its files for them" : "");
}

void
op_task_create(struct req *r)
{
	struct project *p = project_ensure(r->s->project);
	struct task *t;
	char hint[256];

	if ((t = task_build(r, p)) == NULL)
		return;
	task_append(p, t);
	task_hist(t, r->s, "created", -1, TS_TODO, NULL);
	task_touch(t);
	project_wake(p);
	task_created_hint(t, hint, sizeof hint);
	task_reply(r, t, hint);
}

void
op_task_get(struct req *r)
{
	struct task *t;

	if ((t = task_find(r, project_ensure(r->s->project), arg_get(r, "id"), "id")) != NULL)
		task_reply(r, t, NULL);
}

/* task_list's filters, read once. */
struct task_filter {
	const char *status, *owner, *tag; /* NULL: any */
	size_t nstatus, nowner, ntag;
	int ready; /* -1: any */
};

/* Does the NUL-terminated s equal the n bytes at v? */
static int
task_streq(const char *s, const char *v, size_t n)
{
	return (s != NULL && strlen(s) == n && memcmp(s, v, n) == 0);
}

/* Does t pass task_list's filters? */
static int
task_list_match(const struct task_filter *f, const struct task *t)
{
	size_t i;

	if (f->status != NULL) {
		if (f->nstatus == 4 && memcmp(f->status, "open", 4) == 0) {
			if (t->status == TS_DONE || t->status == TS_CANCELLED)
				return (0);
		} else if (task_name_index(task_status_names, TS_COUNT, f->status,
			       f->nstatus) != (int)t->status)
			return (0);
	}
	if (f->owner != NULL && !task_streq(t->owner, f->owner, f->nowner) &&
	    !task_streq(t->assignee, f->owner, f->nowner))
		return (0);
	if (f->tag != NULL) {
		for (i = 0; i < t->ntags; i++) {
			if (task_streq(t->tags[i], f->tag, f->ntag))
				break;
		}
		if (i == t->ntags)
			return (0);
	}
	return (f->ready == -1 || f->ready == task_ready(t));
}

void
op_task_list(struct req *r)
{
	task_list_reply(r, project_ensure(r->s->project));
}

/* Answer task_list r from the tasks of p. */
void
task_list_reply(struct req *r, struct project *p)
{
	struct task_filter f;
	struct task *last = NULL;
	struct fbuf *fb;
	const char *s;
	size_t n, shown = 0, i, start = 0, limit = (size_t)arg_int(r, "limit");
	int more = 0;

	if ((s = arg_str(r, "after", &n)) != NULL && (start = task_parse_id(s, n)) == 0) {
		reply_error(r->c, r->id, ERR_INVALID, "after",
		    "after must be the cursor of a task_list page, a task id like \"T20\"");
		return;
	}
	f.status = arg_str(r, "status", &f.nstatus);
	f.owner = arg_str(r, "owner", &f.nowner);
	f.tag = arg_str(r, "tag", &f.ntag);
	f.ready = arg_has(r, "ready") ? arg_bool(r, "ready") : -1;
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_str(fb, "tasks");
	pk_array_open(fb);
	for (i = start; i < p->ntasks; i++) {
		if (p->tasks[i] == NULL || !task_list_match(&f, p->tasks[i]))
			continue;
		/* a page ends at limit tasks, or once it is half a frame */
		if (shown == limit || (shown > 0 && fb->sb.size > TASK_LIST_BYTES)) {
			more = 1;
			break;
		}
		pk_map_open(fb);
		task_pk_fields(fb, p->tasks[i], 0);
		pk_map_close(fb);
		last = p->tasks[i];
		shown++;
	}
	pk_array_close(fb);
	pk_kuint(fb, "count", shown);
	pk_kbool(fb, "more", more);
	if (last != NULL)
		pk_kstr(fb, "cursor", last->id);
	project_pk_summary(fb, p);
	pk_kstr(fb, "hint",
	    p->ntasks == 0 ? "no tasks yet: a planner creates them with "
			     "task_create"
		: more     ? "more tasks: call task_list again with after = cursor"
			   : NULL);
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/* The fields task_update changes besides the status. */
static const char *const task_update_fields[] = { "title", "description", "priority", "tags",
	"depends_on", "assignee", "files" };

void
task_update_args_free(struct task_update_args *u)
{
	task_free_strings(u->tags, u->ntags);
	task_free_strings(u->files, u->nfiles);
	free(u->deps);
	memset(u, 0, sizeof *u);
}

/* Apply task_update's field changes (checked already, taken over); 1 when any was given. */
int
task_update_fields_set(struct req *r, struct task *t, struct task_update_args *u)
{
	size_t i;

	if (arg_has(r, "title"))
		task_set_text(r, "title", &t->title);
	if (arg_has(r, "description"))
		task_set_text(r, "description", &t->description);
	t->priority = task_arg_choice(r, "priority", task_priority_names,
	    nitems(task_priority_names), t->priority);
	if (arg_has(r, "tags")) {
		task_free_strings(t->tags, t->ntags);
		t->tags = u->tags;
		t->ntags = u->ntags;
		u->tags = NULL;
		u->ntags = 0;
	}
	if (arg_has(r, "depends_on")) {
		free(t->deps);
		t->deps = u->deps;
		t->ndeps = u->ndeps;
		u->deps = NULL;
	}
	if (arg_has(r, "files")) {
		task_free_strings(t->files, t->nfiles);
		t->files = u->files;
		t->nfiles = u->nfiles;
		u->files = NULL;
		u->nfiles = 0;
	}
	if (arg_has(r, "assignee")) {
		free(t->assignee);
		t->assignee = task_assignee_arg(r);
	}
	for (i = 0; i < nitems(task_update_fields); i++) {
		if (arg_has(r, task_update_fields[i]))
			return (1);
	}
	return (0);
}

/* Parse what task_update changes besides the status; -1 after replying. */
int
task_update_parse(struct req *r, struct project *p, struct task *t, struct task_update_args *u)
{
	memset(u, 0, sizeof *u);
	if (arg_has(r, "files") &&
	    (t->status == TS_IN_PROGRESS ||
		task_arg_choice(r, "status", task_status_names, TS_COUNT, -1) ==
		    TS_IN_PROGRESS)) {
		reply_error(r->c, r->id, ERR_CONFLICT, "files",
		    "%s is in progress (claimed by %s), with its files reserved: they change "
		    "when it is back in todo (task_release), or its claimant takes more with "
		    "lock_acquire",
		    t->id, t->owner != NULL ? t->owner : "someone");
		return (-1);
	}
	if (task_parse_tags(r, arg_get(r, "tags"), &u->tags, &u->ntags) != 0 ||
	    task_parse_files(r, p, arg_get(r, "files"), &u->files, &u->nfiles) != 0 ||
	    task_parse_deps(r, p, t->num, arg_get(r, "depends_on"), &u->deps, &u->ndeps) != 0) {
		task_update_args_free(u);
		return (-1);
	}
	return (0);
}

void
op_task_update(struct req *r)
{
	struct project *p = project_ensure(r->s->project);
	struct task_update_args u;
	struct task *t;
	char *note;
	int to, changed = 0;

	if ((t = task_find(r, p, arg_get(r, "id"), "id")) == NULL)
		return;
	if (task_update_parse(r, p, t, &u) != 0)
		return;
	note = arg_text(r, "note");
	/* the status move first: when it is refused, nothing else changes */
	to = task_arg_choice(r, "status", task_status_names, TS_COUNT, -1);
	if (to >= 0 && to != (int)t->status) {
		if (task_move(r, t, to, note, "token", TASK_LEASE_DEFAULT) != 0) {
			task_update_args_free(&u);
			free(note);
			return;
		}
		changed = 1;
	}
	if (task_update_fields_set(r, t, &u)) {
		task_hist(t, r->s, "updated", -1, -1, note);
		task_touch(t);
		project_wake(p); /* new dependencies or assignee may make it claimable */
		changed = 1;
	}
	task_update_args_free(&u);
	free(note);
	task_reply(r, t, changed ? NULL : "nothing changed");
}
