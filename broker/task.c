/*
 * Tasks and the project plan (DESIGN §5.5): short ids per project, an
 * enforced status machine, atomic claims that are leases bound to the
 * claimant's session, dependencies, review with history, the project
 * context, and the next steps of each role built from all of it.
 *
 * A project keeps its tasks in an array indexed by number (T1 is
 * tasks[0]); tasks are never deleted, only cancelled, so ids stay
 * stable and lookups are O(1).  Claims bound to a live session sit on
 * one list that session_close walks; a claim whose session ended gets
 * an evtimer for its lease (no reaper scans anything).  Blocked
 * task_claim calls wait on one key per project and re-check on every
 * change that can make a task claimable (wait.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"

#define TASKS_MAX 1000        /* tasks per project */
#define TASK_TAG_MAX 64       /* bytes per tag */
#define TASK_HISTORY_MAX 100  /* entries per task; the oldest after "created" go */
#define TASK_HIST_NOTE_MAX 512 /* bytes of a note kept in the history */
#define TASK_LEASE_DEFAULT 30.0

enum task_status { TS_TODO, TS_IN_PROGRESS, TS_REVIEW, TS_DONE, TS_BLOCKED, TS_CANCELLED,
	TS_COUNT };
static const char *const status_names[TS_COUNT] = { "todo", "in_progress", "review", "done",
	"blocked", "cancelled" };

#define B(s) (1u << (s))
/* The status machine: allowed[from] has a bit for every status it may move to. */
static const unsigned allowed[TS_COUNT] = {
	[TS_TODO] = B(TS_IN_PROGRESS) | B(TS_BLOCKED) | B(TS_CANCELLED),
	[TS_IN_PROGRESS] = B(TS_REVIEW) | B(TS_TODO) | B(TS_BLOCKED) | B(TS_CANCELLED),
	[TS_REVIEW] = B(TS_DONE) | B(TS_IN_PROGRESS) | B(TS_BLOCKED) | B(TS_CANCELLED),
	[TS_DONE] = 0,
	[TS_BLOCKED] = B(TS_TODO) | B(TS_CANCELLED),
	[TS_CANCELLED] = 0,
};

static const char *const priority_names[] = { "low", "medium", "high", "urgent" };
static const char *const complexity_names[] = { "simple", "medium", "complex", "critical" };
static const char *const isolation_names[] = { "shared", "worktree" };

enum project_status { PS_PLANNING, PS_READY, PS_IN_PROGRESS, PS_COMPLETE, PS_STOPPED,
	PS_COUNT };
static const char *const pstatus_names[PS_COUNT] = { "planning", "ready", "in_progress",
	"complete", "stopped" };
/* The project's context fields, in project_set's argument order. */
#define PFIELDS 7
static const char *const pfield_names[PFIELDS] = { "description", "end_state", "tech_stack",
	"constraints", "acceptance", "tests", "plan" };

struct hist {
	int64_t at; /* wall ms */
	char *actor, *sid, *action, *note;
	int from, to; /* status, or -1 */
};

struct project;

struct task {
	struct project *p;
	unsigned num;
	char id[16];
	char *title, *description, *assignee, *owner;
	int priority, complexity, isolation;
	char **tags;
	size_t ntags;
	unsigned *deps;
	size_t ndeps;
	enum task_status status;
	/* the claim, while in_progress or review: token[0] != '\0' */
	char token[33];
	struct session *claim_s; /* NULL: the claimant's session ended */
	double lease;
	struct event *lease_ev;
	uint64_t lease_end_ms;
	int changes_pending;
	char *notes, *feedback, *reviewer;
	int64_t reviewed_at, created_at, updated_at;
	uint64_t version;
	struct hist *hist;
	size_t nhist, hist_dropped;
	int on_claims;
	TAILQ_ENTRY(task) centry;
};

struct project {
	char *name;
	char *wkey; /* wait key of claims in this project */
	char *fields[PFIELDS];
	enum project_status status;
	struct task **tasks;
	size_t ntasks, cap;
	char *updated_by;
	int64_t updated_at;
	uint64_t version;
	UT_hash_handle hh;
};

/* A parked task_claim. */
struct claim_wait {
	struct project *p;
	unsigned num; /* 0: the best ready task */
	double lease;
};

static struct project *projects;
static TAILQ_HEAD(, task) claims = TAILQ_HEAD_INITIALIZER(claims);

/* ---- small helpers ---- */

/* The index of s (n bytes) in names, or -1. */
static int
task_name_index(const char *const *names, size_t count, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < count; i++) {
		if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
			return ((int)i);
	}
	return (-1);
}

/* The index of a string argument's value in names, or def when absent. */
static int
task_arg_choice(const msgpack_object *o, const char *const *names, size_t count, int def)
{
	const char *s;
	size_t n;
	int i;

	if (o == NULL || mp_str(o, &s, &n) != 0 || (i = task_name_index(names, count, s, n)) < 0)
		return (def);
	return (i);
}

/* A copy of a string argument, or NULL when absent or empty. */
static char *
task_arg_str(const msgpack_object *o)
{
	const char *s;
	size_t n;

	if (o == NULL || mp_str(o, &s, &n) != 0 || n == 0)
		return (NULL);
	return (xstrndup(s, n));
}

/* Replace *dst with a copy of the argument (NULL when empty). */
static void
task_set_str(char **dst, const msgpack_object *o)
{
	free(*dst);
	*dst = task_arg_str(o);
}

/* Wall-clock ms as ISO 8601 UTC, in buf. */
static const char *
task_iso(int64_t ms, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return (NULL);
	return (buf);
}

/* ---- projects and lookups ---- */

/* The project named name, created on first use. */
static struct project *
task_project(const char *name)
{
	struct project *p;

	HASH_FIND_STR(projects, name, p);
	if (p != NULL)
		return (p);
	p = xcalloc(1, sizeof *p);
	p->name = xstrdup(name);
	xasprintf(&p->wkey, "task\n%s", name);
	HASH_ADD_KEYPTR(hh, projects, p->name, strlen(p->name), p);
	return (p);
}

/* Parse "T12" (or "t12", "12") into 12; 0 when it is not a task id. */
static unsigned
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

static struct task *
task_by_num(struct project *p, unsigned num)
{
	if (num == 0 || num > p->ntasks)
		return (NULL);
	return (p->tasks[num - 1]);
}

/* The task an "id" argument names, or NULL after replying not_found. */
static struct task *
task_arg_find(struct req *r, struct project *p, const msgpack_object *o, const char *field)
{
	struct task *t;
	const char *s;
	size_t n;

	if (mp_str(o, &s, &n) != 0)
		n = 0;
	if ((t = task_by_num(p, task_parse_id(s, n))) == NULL)
		reply_error(r->c, r->id, ERR_NOT_FOUND, field,
		    "no task '%.*s' in this project; task_list shows the ids", (int)(n > 16 ? 16 : n),
		    s);
	return (t);
}

/* Are all of t's dependencies done? */
static int
task_deps_done(const struct task *t)
{
	const struct task *d;
	size_t i;

	for (i = 0; i < t->ndeps; i++) {
		d = task_by_num(t->p, t->deps[i]);
		if (d == NULL || d->status != TS_DONE)
			return (0);
	}
	return (1);
}

static int
task_ready(const struct task *t)
{
	return (t->status == TS_TODO && task_deps_done(t));
}

/* May agent take t now (ready, and assigned to nobody else)? */
static int
task_claimable_by(const struct task *t, const struct session *s)
{
	return (task_ready(t) && (t->assignee == NULL || strcmp(t->assignee, s->agent) == 0));
}

/* ---- history and changes ---- */

/* Record one change of t in its history, dropping the oldest past the bound. */
static void
task_hist(struct task *t, const struct session *s, const char *action, int from, int to,
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

/* The store key of t: "PROJECT\nNNNNNN", zero-padded so rows load in id order. */
static char *
task_store_key(const struct task *t)
{
	char *key;

	xasprintf(&key, "%s\n%06u", t->p->name, t->num);
	return (key);
}

/* t's row is to be rewritten at the next checkpoint. */
static void
task_changed(const struct task *t)
{
	char *key = task_store_key(t);

	store_mark(&task_store_kind, key);
	free(key);
}

/* t changed: a new version, now. */
static void
task_touch(struct task *t)
{
	t->version = revision_next();
	t->updated_at = wall_ms();
	task_changed(t);
}

/* A change that may let a waiting task_claim answer. */
static void
task_wake(struct project *p)
{
	wait_wake(p->wkey);
}

/*
 * Bind t's claim to session s (or orphan it for NULL).  A session's row
 * in the store depends on the claims it holds, so both sessions' rows
 * are rewritten with the task's.
 */
static void
task_bind(struct task *t, struct session *s)
{
	if (t->on_claims) {
		TAILQ_REMOVE(&claims, t, centry);
		t->on_claims = 0;
	}
	if (t->lease_ev != NULL) {
		event_free(t->lease_ev);
		t->lease_ev = NULL;
	}
	if (t->claim_s != NULL && t->claim_s != s)
		session_changed(t->claim_s);
	t->claim_s = s;
	if (s != NULL) {
		TAILQ_INSERT_TAIL(&claims, t, centry);
		t->on_claims = 1;
		session_changed(s);
	}
	task_changed(t);
}

/* Forget t's claim entirely. */
static void
task_unclaim(struct task *t)
{
	task_bind(t, NULL);
	t->token[0] = '\0';
	t->changes_pending = 0;
}

static void task_lease_cb(evutil_socket_t, short, void *);

/* Orphan t's claim: back to todo unless someone takes it over within secs. */
static void
task_arm_lease_in(struct task *t, double secs)
{
	struct timeval tv;

	task_bind(t, NULL);
	t->lease_ev = evtimer_new(base, task_lease_cb, t);
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	evtimer_add(t->lease_ev, &tv);
	t->lease_end_ms = mono_ms() + (uint64_t)(secs * 1000);
}

/* The claimant's session is gone: back to todo after the lease. */
static void
task_arm_lease(struct task *t)
{
	task_arm_lease_in(t, t->lease);
}

/* A lease ran out: the task is free again and waiting claims wake. */
static void
task_lease_cb(evutil_socket_t fd, short events, void *arg)
{
	struct task *t = arg;
	char note[128];

	snprintf(note, sizeof note, "%s's session ended; lease of %g s ran out",
	    t->owner != NULL ? t->owner : "the claimant", t->lease);
	log_info("task %s %s: lease lost, back to todo", t->p->name, t->id);
	task_unclaim(t);
	task_hist(t, NULL, "lease_expired", t->status, TS_TODO, note);
	t->status = TS_TODO;
	task_touch(t);
	task_wake(t->p);
}

/* ---- packing ---- */

static void
task_pk_iso(struct fbuf *fb, const char *key, int64_t ms)
{
	char buf[32];

	pk_kstr(fb, key, task_iso(ms, buf, sizeof buf));
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
		pk_map(fb, 7);
		task_pk_iso(fb, "at", h->at);
		pk_kstr(fb, "actor", h->actor);
		pk_kstr(fb, "session", h->sid);
		pk_kstr(fb, "action", h->action);
		pk_kstr(fb, "from", h->from >= 0 ? status_names[h->from] : NULL);
		pk_kstr(fb, "to", h->to >= 0 ? status_names[h->to] : NULL);
		pk_kstr(fb, "note", h->note);
	}
}

#define TASK_KEYS_BRIEF 12
#define TASK_KEYS_FULL (TASK_KEYS_BRIEF + 12)

/* A task's fields, without the map header: TASK_KEYS_BRIEF or _FULL of them. */
static void
task_pk_fields(struct fbuf *fb, const struct task *t, int full)
{
	uint64_t now;

	pk_kstr(fb, "id", t->id);
	pk_kstr(fb, "title", t->title);
	pk_kstr(fb, "status", status_names[t->status]);
	pk_kstr(fb, "priority", priority_names[t->priority]);
	pk_kstr(fb, "complexity", complexity_names[t->complexity]);
	pk_kstr(fb, "isolation", isolation_names[t->isolation]);
	task_pk_strings(fb, "tags", t->tags, t->ntags);
	task_pk_deps(fb, t);
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
		pk_kdouble(fb, "lease_expires_in_seconds", t->lease_end_ms > now ?
		    (double)(t->lease_end_ms - now) / 1000.0 : 0.0);
	} else
		pk_kstr(fb, "lease_expires_in_seconds", NULL);
	pk_kbool(fb, "changes_requested", t->changes_pending);
	pk_kuint(fb, "version", t->version);
	task_pk_history(fb, t);
	pk_kuint(fb, "history_dropped", t->hist_dropped);
}

/* Counts per status of a project's tasks. */
static void
task_counts(const struct project *p, size_t *count, size_t *ready)
{
	size_t i;

	memset(count, 0, TS_COUNT * sizeof *count);
	*ready = 0;
	for (i = 0; i < p->ntasks; i++) {
		if (p->tasks[i] == NULL)
			continue;
		count[p->tasks[i]->status]++;
		if (task_ready(p->tasks[i]))
			(*ready)++;
	}
}

/* The project's task summary as a map value under key. */
static void
task_pk_summary(struct fbuf *fb, const struct project *p)
{
	size_t count[TS_COUNT], ready, live, i;

	task_counts(p, count, &ready);
	live = p->ntasks - count[TS_CANCELLED];
	pk_str(fb, "summary");
	pk_map(fb, 4 + TS_COUNT);
	pk_kuint(fb, "total", p->ntasks);
	for (i = 0; i < TS_COUNT; i++)
		pk_kuint(fb, status_names[i], count[i]);
	pk_kuint(fb, "ready", ready);
	pk_kint(fb, "percent_done", live == 0 ? 0 : (int64_t)(count[TS_DONE] * 100 / live));
	pk_kstr(fb, "project_status", pstatus_names[p->status]);
}

/* Reply with a whole task and a hint. */
static void
task_reply(struct req *r, const struct task *t, const char *hint)
{
	struct fbuf *fb = reply_begin(r->id);

	pk_map(fb, TASK_KEYS_FULL + 1);
	task_pk_fields(fb, t, 1);
	pk_kstr(fb, "hint", hint);
	reply_end(r->c, fb);
}

/* ---- the status machine ---- */

/* The operation that makes the move from -> to. */
static const char *
task_move_op(int from, int to)
{
	switch (to) {
	case TS_IN_PROGRESS:
		return (from == TS_REVIEW ? "task_request_changes" : "task_claim");
	case TS_REVIEW:
		return ("task_submit");
	case TS_DONE:
		return ("task_approve");
	case TS_TODO:
		return (from == TS_IN_PROGRESS ? "task_release" : "task_update");
	default:
		return ("task_update");
	}
}

/* Refuse a forbidden move with the allowed ones; always returns -1. */
static int
task_refuse(struct req *r, const struct task *t, int to)
{
	char list[256];
	size_t len = 0;
	int i;

	list[0] = '\0';
	for (i = 0; i < TS_COUNT; i++) {
		if (!(allowed[t->status] & B(i)))
			continue;
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s (%s)",
		    len > 0 ? ", " : "", status_names[i], task_move_op((int)t->status, i));
		if (len >= sizeof list)
			break;
	}
	if (allowed[t->status] == 0)
		reply_error(r->c, r->id, ERR_CONFLICT, "status",
		    "%s is %s and cannot move to %s: %s is final", t->id, status_names[t->status],
		    status_names[to], status_names[t->status]);
	else
		reply_error(r->c, r->id, ERR_CONFLICT, "status",
		    "%s is %s and cannot move to %s; allowed: %s", t->id, status_names[t->status],
		    status_names[to], list);
	return (-1);
}

/*
 * Is the caller t's claimant: its session, or the claim token (which
 * re-binds the claim to the caller's session)?  Replies permission and
 * returns 0 when not.
 */
static int
task_claimant(struct req *r, struct task *t, const msgpack_object *tok)
{
	const char *s;
	size_t n;

	if (t->token[0] != '\0' && t->claim_s == r->s)
		return (1);
	if (t->token[0] != '\0' && tok != NULL && mp_str(tok, &s, &n) == 0 &&
	    n == strlen(t->token) && memcmp(s, t->token, n) == 0) {
		if (t->status == TS_IN_PROGRESS || t->status == TS_REVIEW)
			task_bind(t, r->s);
		return (1);
	}
	reply_error(r->c, r->id, ERR_PERMISSION, tok != NULL ? "token" : "id",
	    "%s is claimed by %s; only its claimant (that session, or the claim token "
	    "task_claim returned) may do this", t->id, t->owner != NULL ? t->owner : "nobody");
	return (0);
}

/* Claim t for session s: a fresh token, in_progress. */
static void
task_take(struct task *t, struct session *s, double lease)
{
	int from = (int)t->status;

	t->status = TS_IN_PROGRESS;
	random_hex(t->token, sizeof t->token);
	task_bind(t, s);
	t->lease = lease;
	t->changes_pending = 0;
	free(t->owner);
	t->owner = xstrdup(s->agent);
	task_hist(t, s, "claimed", from, TS_IN_PROGRESS, NULL);
	task_touch(t);
}

/*
 * Move t to status to, as the caller, with note (notes, feedback or a
 * reason).  Checks the machine and who may make the move.  0 done; -1
 * after replying the error.
 */
static int
task_move(struct req *r, struct task *t, int to, const char *note, const msgpack_object *tok,
    double lease)
{
	int from = (int)t->status;
	char why[160];

	if (!(allowed[from] & B(to)))
		return (task_refuse(r, t, to));
	switch (to) {
	case TS_IN_PROGRESS:
		if (from == TS_TODO) {
			if (!task_claimable_by(t, r->s)) {
				snprintf(why, sizeof why, "%s", t->assignee != NULL &&
				    strcmp(t->assignee, r->s->agent) != 0 ?
				    "it is assigned to someone else" :
				    "a dependency is not done yet");
				reply_error(r->c, r->id, ERR_CONFLICT, "status",
				    "%s cannot be claimed: %s", t->id, why);
				return (-1);
			}
			task_take(t, r->s, lease);
			return (0);
		}
		/* review -> in_progress: changes requested, back to the claimant */
		free(t->feedback);
		t->feedback = note != NULL ? xstrdup(note) : NULL;
		free(t->reviewer);
		t->reviewer = xstrdup(r->s->agent);
		t->reviewed_at = wall_ms();
		t->changes_pending = 1;
		if (t->claim_s == NULL && t->token[0] != '\0')
			task_arm_lease(t);
		task_hist(t, r->s, "changes_requested", from, to, note);
		break;
	case TS_REVIEW:
		if (!task_claimant(r, t, tok))
			return (-1);
		free(t->notes);
		t->notes = note != NULL ? xstrdup(note) : NULL;
		t->changes_pending = 0;
		task_hist(t, r->s, "submitted", from, to, note);
		break;
	case TS_DONE:
		free(t->feedback);
		t->feedback = note != NULL ? xstrdup(note) : NULL;
		free(t->reviewer);
		t->reviewer = xstrdup(r->s->agent);
		t->reviewed_at = wall_ms();
		task_unclaim(t);
		task_hist(t, r->s, "approved", from, to, note);
		break;
	case TS_TODO:
		if (from == TS_IN_PROGRESS && !task_claimant(r, t, tok))
			return (-1);
		task_unclaim(t);
		task_hist(t, r->s, from == TS_IN_PROGRESS ? "released" : "unblocked", from, to,
		    note);
		break;
	case TS_BLOCKED:
	case TS_CANCELLED:
		task_unclaim(t);
		task_hist(t, r->s, to == TS_BLOCKED ? "blocked" : "cancelled", from, to, note);
		break;
	}
	t->status = (enum task_status)to;
	task_touch(t);
	task_wake(t->p);
	return (0);
}

/* ---- arguments that need more than the table ---- */

/* Parse tags into a fresh array; -1 after replying. */
static int
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

static void
task_free_tags(char **tags, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(tags[i]);
	free(tags);
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

/*
 * Parse depends_on for task number self (a new task: ntasks + 1): ids
 * that exist, no duplicates, no cycle.  -1 after replying.
 */
static int
task_parse_deps(struct req *r, struct project *p, unsigned self, const msgpack_object *o,
    unsigned **deps, size_t *ndeps)
{
	unsigned char *seen;
	const char *s;
	unsigned num;
	size_t n, j;
	uint32_t i;

	*deps = NULL;
	*ndeps = 0;
	if (o == NULL)
		return (0);
	*deps = xreallocarray(NULL, o->via.array.size + 1, sizeof **deps);
	for (i = 0; i < o->via.array.size; i++) {
		mp_str(&o->via.array.ptr[i], &s, &n);
		num = task_parse_id(s, n);
		if (task_by_num(p, num) == NULL || num == self) {
			reply_error(r->c, r->id, ERR_INVALID, "depends_on",
			    "depends_on[%u]: %s '%.*s'", i, num == self && num != 0 ?
			    "a task cannot depend on itself:" : "no such task", (int)(n > 16 ? 16 : n),
			    s);
			goto fail;
		}
		for (j = 0; j < *ndeps && (*deps)[j] != num; j++)
			;
		if (j == *ndeps)
			(*deps)[(*ndeps)++] = num;
	}
	if (self > p->ntasks)
		return (0); /* a new task: nothing depends on it yet */
	seen = xcalloc(p->ntasks, 1);
	for (j = 0; j < *ndeps; j++) {
		if (task_reaches(p, (*deps)[j], self, seen)) {
			reply_error(r->c, r->id, ERR_INVALID, "depends_on",
			    "T%u already depends on T%u (directly or through others): that "
			    "would be a cycle", (*deps)[j], self);
			free(seen);
			goto fail;
		}
	}
	free(seen);
	return (0);
fail:
	free(*deps);
	*deps = NULL;
	*ndeps = 0;
	return (-1);
}

/* ---- operations ---- */

void
op_task_create(struct req *r)
{
	struct project *p = task_project(r->s->project);
	struct task *t;
	char **tags, hint[256];
	unsigned *deps;
	size_t ntags, ndeps;

	if (p->ntasks >= TASKS_MAX) {
		reply_error(r->c, r->id, ERR_LIMIT, "title",
		    "this project has %d tasks, the most one project may have", TASKS_MAX);
		return;
	}
	if (task_parse_tags(r, r->args[5], &tags, &ntags) != 0)
		return;
	if (task_parse_deps(r, p, (unsigned)p->ntasks + 1, r->args[6], &deps, &ndeps) != 0) {
		task_free_tags(tags, ntags);
		return;
	}
	t = xcalloc(1, sizeof *t);
	t->p = p;
	t->num = (unsigned)p->ntasks + 1;
	snprintf(t->id, sizeof t->id, "T%u", t->num);
	t->title = task_arg_str(r->args[0]);
	t->description = task_arg_str(r->args[1]);
	t->priority = task_arg_choice(r->args[2], priority_names, nitems(priority_names), 1);
	t->complexity = task_arg_choice(r->args[3], complexity_names, nitems(complexity_names), 1);
	t->isolation = task_arg_choice(r->args[4], isolation_names, nitems(isolation_names), 0);
	t->tags = tags;
	t->ntags = ntags;
	t->deps = deps;
	t->ndeps = ndeps;
	t->assignee = task_arg_str(r->args[7]);
	t->status = TS_TODO;
	t->lease = TASK_LEASE_DEFAULT;
	t->created_at = wall_ms();
	if (p->ntasks == p->cap) {
		p->cap = p->cap == 0 ? 16 : p->cap * 2;
		p->tasks = xreallocarray(p->tasks, p->cap, sizeof *p->tasks);
	}
	p->tasks[p->ntasks++] = t;
	task_hist(t, r->s, "created", -1, TS_TODO, NULL);
	task_touch(t);
	task_wake(p);
	snprintf(hint, sizeof hint, "%s created%s; implementers get it with task_claim",
	    t->id, task_ready(t) ? " and ready" : ", ready once its dependencies are done");
	task_reply(r, t, hint);
}

void
op_task_get(struct req *r)
{
	struct task *t;

	if ((t = task_arg_find(r, task_project(r->s->project), r->args[0], "id")) != NULL)
		task_reply(r, t, NULL);
}

/* Does t pass task_list's filters (status, owner, tag, ready)? */
static int
task_list_match(struct req *r, const struct task *t)
{
	const char *s;
	size_t n, i;
	int b;

	if (mp_str(r->args[0], &s, &n) == 0) {
		if (n == 4 && memcmp(s, "open", 4) == 0) {
			if (t->status == TS_DONE || t->status == TS_CANCELLED)
				return (0);
		} else if (task_name_index(status_names, TS_COUNT, s, n) != (int)t->status)
			return (0);
	}
	if (mp_str(r->args[1], &s, &n) == 0) {
		if (!((t->owner != NULL && strlen(t->owner) == n && memcmp(t->owner, s, n) == 0) ||
		    (t->assignee != NULL && strlen(t->assignee) == n &&
		    memcmp(t->assignee, s, n) == 0)))
			return (0);
	}
	if (mp_str(r->args[2], &s, &n) == 0) {
		for (i = 0; i < t->ntags; i++) {
			if (strlen(t->tags[i]) == n && memcmp(t->tags[i], s, n) == 0)
				break;
		}
		if (i == t->ntags)
			return (0);
	}
	if (mp_bool(r->args[3], &b) == 0 && b != task_ready(t))
		return (0);
	return (1);
}

void
op_task_list(struct req *r)
{
	struct project *p = task_project(r->s->project);
	struct task **hits;
	struct fbuf *fb;
	const char *s;
	size_t n, nhits = 0, i, start = 0;
	int64_t limit = 50;
	int more = 0;

	mp_int(r->args[4], &limit);
	if (mp_str(r->args[5], &s, &n) == 0) {
		if ((start = task_parse_id(s, n)) == 0) {
			reply_error(r->c, r->id, ERR_INVALID, "cursor",
			    "cursor must be a next_cursor from task_list, like \"T20\"");
			return;
		}
	}
	hits = xreallocarray(NULL, (size_t)limit, sizeof *hits);
	for (i = start; i < p->ntasks; i++) {
		if (p->tasks[i] == NULL || !task_list_match(r, p->tasks[i]))
			continue;
		if (nhits == (size_t)limit) {
			more = 1;
			break;
		}
		hits[nhits++] = p->tasks[i];
	}
	fb = reply_begin(r->id);
	pk_map(fb, 4 + more);
	pk_str(fb, "tasks");
	pk_array(fb, nhits);
	for (i = 0; i < nhits; i++) {
		pk_map(fb, TASK_KEYS_BRIEF);
		task_pk_fields(fb, hits[i], 0);
	}
	pk_kuint(fb, "count", nhits);
	if (more)
		pk_kstr(fb, "next_cursor", hits[nhits - 1]->id);
	task_pk_summary(fb, p);
	pk_kstr(fb, "hint", p->ntasks == 0 ? "no tasks yet: a planner creates them with "
	    "task_create" : more ? "more tasks: call again with cursor = next_cursor" : NULL);
	reply_end(r->c, fb);
	free(hits);
}

void
op_task_update(struct req *r)
{
	struct project *p = task_project(r->s->project);
	struct task *t;
	char **tags = NULL, *note;
	unsigned *deps = NULL;
	size_t ntags = 0, ndeps = 0;
	int to, changed = 0;

	if ((t = task_arg_find(r, p, r->args[0], "id")) == NULL)
		return;
	if (r->args[4] != NULL && task_parse_tags(r, r->args[4], &tags, &ntags) != 0)
		return;
	if (r->args[5] != NULL &&
	    task_parse_deps(r, p, t->num, r->args[5], &deps, &ndeps) != 0) {
		task_free_tags(tags, ntags);
		return;
	}
	note = task_arg_str(r->args[8]);
	/* the status move first: when it is refused, nothing else changes */
	to = task_arg_choice(r->args[7], status_names, TS_COUNT, -1);
	if (to >= 0 && to != (int)t->status) {
		if (task_move(r, t, to, note, r->args[9], TASK_LEASE_DEFAULT) != 0) {
			task_free_tags(tags, ntags);
			free(deps);
			free(note);
			return;
		}
		changed = 1;
	}
	if (r->args[1] != NULL)
		task_set_str(&t->title, r->args[1]);
	if (r->args[2] != NULL)
		task_set_str(&t->description, r->args[2]);
	if (r->args[3] != NULL)
		t->priority = task_arg_choice(r->args[3], priority_names, nitems(priority_names),
		    t->priority);
	if (r->args[4] != NULL) {
		task_free_tags(t->tags, t->ntags);
		t->tags = tags;
		t->ntags = ntags;
	}
	if (r->args[5] != NULL) {
		free(t->deps);
		t->deps = deps;
		t->ndeps = ndeps;
	}
	if (r->args[6] != NULL)
		task_set_str(&t->assignee, r->args[6]);
	if (r->args[1] != NULL || r->args[2] != NULL || r->args[3] != NULL ||
	    r->args[4] != NULL || r->args[5] != NULL || r->args[6] != NULL) {
		task_hist(t, r->s, "updated", -1, -1, note);
		task_touch(t);
		task_wake(p); /* new dependencies or assignee may make it claimable */
		changed = 1;
	}
	free(note);
	task_reply(r, t, changed ? NULL : "nothing changed");
}

/* Reply to a claim: claimed:true with the task, or claimed:false with why. */
static void
task_claim_reply(struct client *c, uint64_t id, struct project *p, struct task *t,
    int claimed, const char *hint)
{
	struct fbuf *fb = reply_begin(id);

	pk_map(fb, claimed ? 7 : 3 + (t != NULL) * 2);
	pk_kbool(fb, "claimed", claimed);
	if (t != NULL)
		pk_kstr(fb, "id", t->id);
	if (claimed) {
		pk_kstr(fb, "token", t->token);
		pk_kdouble(fb, "lease_seconds", t->lease);
		pk_str(fb, "task");
		pk_map(fb, TASK_KEYS_FULL);
		task_pk_fields(fb, t, 1);
	} else if (t != NULL)
		pk_kstr(fb, "owner", t->token[0] != '\0' ? t->owner : NULL);
	pk_kstr(fb, "project_status", pstatus_names[p->status]);
	pk_kstr(fb, "hint", hint);
	reply_end(c, fb);
}

/* The best task s may claim now: changes requested of s first, then ready ones. */
static struct task *
task_pick(struct project *p, struct session *s, int *changes)
{
	struct task *t, *best = NULL;
	size_t i;

	*changes = 0;
	for (i = 0; i < p->ntasks; i++) {
		t = p->tasks[i];
		if (t != NULL && t->status == TS_IN_PROGRESS && t->changes_pending &&
		    t->claim_s == s) {
			*changes = 1;
			return (t);
		}
	}
	for (i = 0; i < p->ntasks; i++) {
		t = p->tasks[i];
		if (t != NULL && task_claimable_by(t, s) &&
		    (best == NULL || t->priority > best->priority))
			best = t;
	}
	return (best);
}

/*
 * Try to answer a task_claim of session s (request id): claim a task
 * and answer, or when final answer claimed:false.  1 when answered.
 */
static int
task_claim_try(struct session *s, uint64_t id, struct claim_wait *cw, int final)
{
	struct project *p = cw->p;
	struct task *t;
	char hint[256];
	int changes = 0;

	if (p->status == PS_COMPLETE || p->status == PS_STOPPED) {
		snprintf(hint, sizeof hint, "the project is %s: stop working on it",
		    pstatus_names[p->status]);
		task_claim_reply(s->client, id, p, NULL, 0, hint);
		return (1);
	}
	if (cw->num != 0) {
		t = task_by_num(p, cw->num);
		if (t->status == TS_IN_PROGRESS && t->claim_s == s) {
			changes = t->changes_pending;
			t->changes_pending = 0;
			task_changed(t);
			task_claim_reply(s->client, id, p, t, 1, changes ?
			    "changes were requested: read feedback, fix, then task_submit" :
			    "already yours; task_submit when done");
			return (1);
		}
		if (task_claimable_by(t, s)) {
			task_take(t, s, cw->lease);
			task_claim_reply(s->client, id, p, t, 1, "yours: do it, then task_submit "
			    "{id, notes}; take file: locks before editing shared files");
			return (1);
		}
		if (!final && t->status != TS_DONE && t->status != TS_CANCELLED &&
		    t->status != TS_REVIEW)
			return (0);
		snprintf(hint, sizeof hint, "%s is %s%s%s; call task_claim with wait_seconds to "
		    "wait for it, or without id for another task", t->id,
		    status_names[t->status], t->token[0] != '\0' ? " by " : "",
		    t->token[0] != '\0' ? t->owner : t->status == TS_TODO ?
		    (task_deps_done(t) ? ", assigned to someone else" :
		    ", waiting for its dependencies") : "");
		task_claim_reply(s->client, id, p, t, 0, hint);
		return (1);
	}
	if ((t = task_pick(p, s, &changes)) != NULL) {
		if (changes) {
			t->changes_pending = 0;
			task_changed(t);
			task_claim_reply(s->client, id, p, t, 1, "changes were requested on your "
			    "task: read feedback, fix, then task_submit");
		} else {
			task_take(t, s, cw->lease);
			task_claim_reply(s->client, id, p, t, 1, "yours: do it, then task_submit "
			    "{id, notes}; take file: locks before editing shared files");
		}
		return (1);
	}
	if (!final)
		return (0);
	task_claim_reply(s->client, id, p, NULL, 0, p->ntasks == 0 ?
	    "no tasks yet; call task_claim with wait_seconds to wait for the planner" :
	    "no ready task now; call task_claim again with wait_seconds to wait for one");
	return (1);
}

static int
task_claim_ready(struct bwait *w)
{
	return (task_claim_try(w->s, w->req_id, w->arg, 0));
}

static void
task_claim_timeout(struct bwait *w)
{
	task_claim_try(w->s, w->req_id, w->arg, 1);
}

void
op_task_claim(struct req *r)
{
	struct project *p = task_project(r->s->project);
	struct claim_wait *cw;
	struct bwait *w;
	struct task *t = NULL;
	double wait = 0, lease = TASK_LEASE_DEFAULT;

	mp_num(r->args[1], &wait);
	mp_num(r->args[2], &lease);
	if (r->args[0] != NULL && (t = task_arg_find(r, p, r->args[0], "id")) == NULL)
		return;
	if (t != NULL && r->args[3] != NULL) {
		/* take over an earlier claim with its token */
		if (t->token[0] == '\0') {
			reply_error(r->c, r->id, ERR_CONFLICT, "token",
			    "%s is %s and has no claim to take over", t->id, status_names[t->status]);
			return;
		}
		if (!task_claimant(r, t, r->args[3]))
			return;
		task_hist(t, r->s, "reattached", -1, -1, NULL);
		task_touch(t);
		task_claim_reply(r->c, r->id, p, t, 1, "the claim is bound to this session now");
		return;
	}
	if (t != NULL && (t->status == TS_DONE || t->status == TS_CANCELLED ||
	    t->status == TS_REVIEW) && p->status != PS_COMPLETE && p->status != PS_STOPPED) {
		task_refuse(r, t, TS_IN_PROGRESS);
		return;
	}
	cw = xcalloc(1, sizeof *cw);
	cw->p = p;
	cw->num = t != NULL ? t->num : 0;
	cw->lease = lease;
	if (wait <= 0) {
		task_claim_try(r->s, r->id, cw, 1);
		free(cw);
		return;
	}
	w = wait_add(r, p->wkey, wait, task_claim_ready, task_claim_timeout, cw, 0);
	if (w == NULL)
		free(cw);
	else
		w->free_arg = free;
}

/* An "id" string and a note, for the single-task review ops. */
static void
task_simple_move(struct req *r, int to, const msgpack_object *noteobj,
    const msgpack_object *tok, const char *hint)
{
	struct task *t;
	char *note;

	if ((t = task_arg_find(r, task_project(r->s->project), r->args[0], "id")) == NULL)
		return;
	note = task_arg_str(noteobj);
	if (task_move(r, t, to, note, tok, TASK_LEASE_DEFAULT) == 0)
		task_reply(r, t, hint);
	free(note);
}

void
op_task_submit(struct req *r)
{
	task_simple_move(r, TS_REVIEW, r->args[1], r->args[2],
	    "in review; call task_claim for your next task (it also returns this one if "
	    "changes are requested)");
}

void
op_task_request_changes(struct req *r)
{
	task_simple_move(r, TS_IN_PROGRESS, r->args[1], NULL,
	    "back to its claimant with your feedback");
}

void
op_task_release(struct req *r)
{
	int requeue = 1;

	mp_bool(r->args[1], &requeue);
	task_simple_move(r, requeue ? TS_TODO : TS_BLOCKED, r->args[2], r->args[3],
	    requeue ? "back in todo for anyone to claim" :
	    "blocked: task_update {status:\"todo\"} puts it back in the queue");
}

void
op_task_approve(struct req *r)
{
	struct project *p = task_project(r->s->project);
	const msgpack_object *ids = r->args[1];
	struct task **ts;
	struct fbuf *fb;
	char *feedback, hint[160];
	size_t n, i, j, count[TS_COUNT], ready;

	n = ids != NULL ? ids->via.array.size : 1;
	ts = xreallocarray(NULL, n, sizeof *ts);
	/* all or none: check every task before approving any */
	for (i = 0; i < n; i++) {
		ts[i] = task_arg_find(r, p, ids != NULL ? &ids->via.array.ptr[i] : r->args[0],
		    ids != NULL ? "ids" : "id");
		if (ts[i] == NULL) {
			free(ts);
			return;
		}
		if (ts[i]->status != TS_REVIEW) {
			task_refuse(r, ts[i], TS_DONE);
			free(ts);
			return;
		}
		for (j = 0; j < i && ts[j] != ts[i]; j++)
			;
		if (j < i) {
			reply_error(r->c, r->id, ERR_INVALID, "ids", "%s is listed twice", ts[i]->id);
			free(ts);
			return;
		}
	}
	feedback = task_arg_str(r->args[2]);
	for (i = 0; i < n; i++)
		task_move(r, ts[i], TS_DONE, feedback, NULL, 0);
	free(feedback);
	task_counts(p, count, &ready);
	if (count[TS_DONE] + count[TS_CANCELLED] == p->ntasks)
		snprintf(hint, sizeof hint, "every task is done: project_set {status:\"complete\"} "
		    "ends the implementers' waits");
	else
		snprintf(hint, sizeof hint, "%zu in review, %zu ready, %zu in progress",
		    count[TS_REVIEW], ready, count[TS_IN_PROGRESS]);
	fb = reply_begin(r->id);
	pk_map(fb, 3);
	pk_str(fb, "approved");
	pk_array(fb, n);
	for (i = 0; i < n; i++)
		pk_str(fb, ts[i]->id);
	task_pk_summary(fb, p);
	pk_kstr(fb, "hint", hint);
	reply_end(r->c, fb);
	free(ts);
}

/* ---- the project ---- */

/* Reply with the project's context, status and summary. */
static void
task_project_reply(struct req *r, struct project *p, const char *hint)
{
	struct fbuf *fb = reply_begin(r->id);
	size_t i;

	pk_map(fb, 7 + PFIELDS);
	pk_kstr(fb, "project", p->name);
	pk_kstr(fb, "status", pstatus_names[p->status]);
	for (i = 0; i < PFIELDS; i++)
		pk_kstr(fb, pfield_names[i], p->fields[i]);
	pk_kstr(fb, "updated_by", p->updated_by);
	task_pk_iso(fb, "updated_at", p->updated_at);
	pk_kuint(fb, "version", p->version);
	task_pk_summary(fb, p);
	pk_kstr(fb, "hint", hint);
	reply_end(r->c, fb);
}

/*
 * Project status moves: forward along planning -> ready -> in_progress
 * -> complete (skipping is fine), stopped from anywhere, and a complete
 * or stopped project may be reopened.
 */
static int
task_project_move_ok(enum project_status from, enum project_status to)
{
	if (from == PS_COMPLETE || from == PS_STOPPED)
		return (1);
	return (to == PS_STOPPED || to >= from);
}

void
op_project_set(struct req *r)
{
	struct project *p = task_project(r->s->project);
	char hint[200];
	size_t i, waiting;
	int to;

	to = task_arg_choice(r->args[PFIELDS], pstatus_names, PS_COUNT, -1);
	if (to >= 0 && !task_project_move_ok(p->status, (enum project_status)to)) {
		reply_error(r->c, r->id, ERR_CONFLICT, "status",
		    "the project is %s and cannot go back to %s; allowed: a later status "
		    "(planning -> ready -> in_progress -> complete) or stopped",
		    pstatus_names[p->status], pstatus_names[to]);
		return;
	}
	for (i = 0; i < PFIELDS; i++) {
		if (r->args[i] != NULL)
			task_set_str(&p->fields[i], r->args[i]);
	}
	hint[0] = '\0';
	if (to >= 0)
		p->status = (enum project_status)to;
	free(p->updated_by);
	p->updated_by = xstrdup(r->s->agent);
	p->updated_at = wall_ms();
	p->version = revision_next();
	store_mark(&project_store_kind, p->name);
	if (to == PS_COMPLETE || to == PS_STOPPED) {
		waiting = wait_count();
		task_wake(p);
		snprintf(hint, sizeof hint, "%s: %zu waiting task_claim calls were answered",
		    pstatus_names[to], waiting - wait_count());
	} else if (p->fields[6] == NULL)
		snprintf(hint, sizeof hint, "next: write the plan (project_set {plan}) and create "
		    "tasks with task_create");
	else if (p->ntasks == 0)
		snprintf(hint, sizeof hint, "next: create tasks with task_create");
	task_project_reply(r, p, hint[0] != '\0' ? hint : NULL);
}

void
op_project_get(struct req *r)
{
	task_project_reply(r, task_project(r->s->project), NULL);
}

/* ---- sessions ---- */

/* A session ended: its in-progress claims run on their leases. */
void
task_session_closed(struct session *s)
{
	struct task *t, *next;

	for (t = TAILQ_FIRST(&claims); t != NULL; t = next) {
		next = TAILQ_NEXT(t, centry);
		if (t->claim_s != s)
			continue;
		if (t->status == TS_IN_PROGRESS)
			task_arm_lease(t);
		else
			task_bind(t, NULL); /* in review: nothing to return yet */
	}
}

/* Claims bound to session s (they keep its row in the store while it is away). */
size_t
task_session_claims(struct session *s)
{
	struct task *t;
	size_t n = 0;

	TAILQ_FOREACH(t, &claims, centry) {
		if (t->claim_s == s)
			n++;
	}
	return (n);
}

/* ---- the checkpoint (store.c) ---- */

/*
 * A task's row: every field, the claim and the history.  A claim bound
 * to a session names it (the session is persisted while it holds
 * claims); an orphaned claim's lease is a wall-clock deadline, re-based
 * at restore like every other deadline.
 */
static int
task_pack(const char *key, struct fbuf *fb)
{
	const char *nl = strchr(key, '\n');
	struct project *p;
	struct task *t;
	const struct hist *h;
	char *name;
	size_t i;

	if (nl == NULL)
		return (0);
	name = xstrndup(key, (size_t)(nl - key));
	HASH_FIND_STR(projects, name, p);
	free(name);
	if (p == NULL || (t = task_by_num(p, task_parse_id(nl + 1, strlen(nl + 1)))) == NULL)
		return (0);
	pk_map(fb, 24);
	pk_kstr(fb, "title", t->title);
	pk_kstr(fb, "description", t->description);
	pk_kstr(fb, "assignee", t->assignee);
	pk_kstr(fb, "owner", t->owner);
	pk_kstr(fb, "priority", priority_names[t->priority]);
	pk_kstr(fb, "complexity", complexity_names[t->complexity]);
	pk_kstr(fb, "isolation", isolation_names[t->isolation]);
	task_pk_strings(fb, "tags", t->tags, t->ntags);
	pk_str(fb, "deps");
	pk_array(fb, t->ndeps);
	for (i = 0; i < t->ndeps; i++)
		pk_uint(fb, t->deps[i]);
	pk_kstr(fb, "status", status_names[t->status]);
	pk_kstr(fb, "token", t->token[0] != '\0' ? t->token : NULL);
	pk_kstr(fb, "sid", t->claim_s != NULL ? t->claim_s->id : NULL);
	pk_kdouble(fb, "lease", t->lease);
	pk_kint(fb, "lease_end", t->lease_ev == NULL ? 0 :
	    wall_ms() + ((int64_t)t->lease_end_ms - (int64_t)mono_ms()));
	pk_kbool(fb, "changes_pending", t->changes_pending);
	pk_kstr(fb, "notes", t->notes);
	pk_kstr(fb, "feedback", t->feedback);
	pk_kstr(fb, "reviewer", t->reviewer);
	pk_kint(fb, "reviewed_at", t->reviewed_at);
	pk_kint(fb, "created_at", t->created_at);
	pk_kint(fb, "updated_at", t->updated_at);
	pk_kuint(fb, "version", t->version);
	pk_kuint(fb, "history_dropped", t->hist_dropped);
	pk_str(fb, "history");
	pk_array(fb, t->nhist);
	for (i = 0; i < t->nhist; i++) {
		h = &t->hist[i];
		pk_map(fb, 7);
		pk_kint(fb, "at", h->at);
		pk_kstr(fb, "actor", h->actor);
		pk_kstr(fb, "sid", h->sid);
		pk_kstr(fb, "action", h->action);
		pk_kint(fb, "from", h->from);
		pk_kint(fb, "to", h->to);
		pk_kstr(fb, "note", h->note);
	}
	return (1);
}

/* An integer field of a row, or def. */
static int64_t
task_row_int(const msgpack_object *o, const char *key, int64_t def)
{
	int64_t v;

	return (mp_int(mp_get(o, key), &v) == 0 ? v : def);
}

/* A name field of a row as its index in names, or def. */
static int
task_row_choice(const msgpack_object *o, const char *key, const char *const *names,
    size_t count, int def)
{
	return (task_arg_choice(mp_get(o, key), names, count, def));
}

/* Rebuild the history of a task from its row. */
static void
task_restore_history(struct task *t, const msgpack_object *a)
{
	const msgpack_object *e;
	struct hist *h;
	uint32_t i;

	t->hist = xreallocarray(NULL, TASK_HISTORY_MAX, sizeof *t->hist);
	for (i = 0; a != NULL && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size &&
	    t->nhist < TASK_HISTORY_MAX; i++) {
		e = &a->via.array.ptr[i];
		h = &t->hist[t->nhist++];
		h->at = task_row_int(e, "at", 0);
		h->actor = mp_strdup(mp_get(e, "actor"));
		if (h->actor == NULL)
			h->actor = xstrdup("?");
		h->sid = mp_strdup(mp_get(e, "sid"));
		h->action = mp_strdup(mp_get(e, "action"));
		if (h->action == NULL)
			h->action = xstrdup("?");
		h->from = (int)task_row_int(e, "from", -1);
		h->to = (int)task_row_int(e, "to", -1);
		if (h->from < -1 || h->from >= TS_COUNT)
			h->from = -1;
		if (h->to < -1 || h->to >= TS_COUNT)
			h->to = -1;
		h->note = mp_strdup(mp_get(e, "note"));
	}
}

/* Put restored task t at its number in its project (rows may leave holes). */
static void
task_restore_place(struct project *p, struct task *t)
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

/*
 * Give a restored task its claim back: bound to its session when that
 * was restored (waiting to be reclaimed), else running on its lease,
 * re-based from the stored deadline.  A lease that ran out while the
 * broker was down runs out at once, through the usual path.
 */
static void
task_restore_claim(struct task *t, const msgpack_object *o)
{
	struct session *s = NULL;
	char *sid = mp_strdup(mp_get(o, "sid"));
	int64_t end = task_row_int(o, "lease_end", 0), left;

	if (sid != NULL)
		s = session_find(sid);
	free(sid);
	if (s != NULL && s->client == NULL)
		task_bind(t, s);
	else if (t->status != TS_IN_PROGRESS)
		return; /* in review: nothing to give back when it ends */
	else if (end == 0)
		task_arm_lease(t); /* its session was not restored: as if it ended now */
	else {
		left = end - wall_ms();
		task_arm_lease_in(t, left > 0 ? (double)left / 1000.0 : 0.001);
	}
}

/* Rebuild a task from its row. */
static int
task_restore(const char *key, const msgpack_object *o, char **cause)
{
	const char *nl = strchr(key, '\n'), *s;
	const msgpack_object *a;
	struct project *p;
	struct task *t;
	char *name;
	unsigned num;
	size_t n;
	int64_t d;
	uint32_t i;

	num = nl != NULL ? task_parse_id(nl + 1, strlen(nl + 1)) : 0;
	if (num == 0 || num > TASKS_MAX || mp_get(o, "status") == NULL) {
		xasprintf(cause, "task %s: bad row", key);
		return (-1);
	}
	name = xstrndup(key, (size_t)(nl - key));
	p = task_project(name);
	free(name);
	if (task_by_num(p, num) != NULL) {
		xasprintf(cause, "task %s: twice", key);
		return (-1);
	}
	t = xcalloc(1, sizeof *t);
	t->p = p;
	t->num = num;
	snprintf(t->id, sizeof t->id, "T%u", num);
	t->title = mp_strdup(mp_get(o, "title"));
	if (t->title == NULL)
		t->title = xstrdup("?");
	t->description = mp_strdup(mp_get(o, "description"));
	t->assignee = mp_strdup(mp_get(o, "assignee"));
	t->owner = mp_strdup(mp_get(o, "owner"));
	t->priority = task_row_choice(o, "priority", priority_names, nitems(priority_names), 1);
	t->complexity = task_row_choice(o, "complexity", complexity_names,
	    nitems(complexity_names), 1);
	t->isolation = task_row_choice(o, "isolation", isolation_names, nitems(isolation_names),
	    0);
	if ((a = mp_get(o, "tags")) != NULL && a->type == MSGPACK_OBJECT_ARRAY) {
		t->tags = xreallocarray(NULL, a->via.array.size + 1, sizeof *t->tags);
		for (i = 0; i < a->via.array.size; i++) {
			if (mp_str(&a->via.array.ptr[i], &s, &n) == 0)
				t->tags[t->ntags++] = xstrndup(s, n);
		}
	}
	if ((a = mp_get(o, "deps")) != NULL && a->type == MSGPACK_OBJECT_ARRAY) {
		t->deps = xreallocarray(NULL, a->via.array.size + 1, sizeof *t->deps);
		for (i = 0; i < a->via.array.size; i++) {
			if (mp_int(&a->via.array.ptr[i], &d) == 0 && d > 0 && d <= TASKS_MAX &&
			    (unsigned)d != num)
				t->deps[t->ndeps++] = (unsigned)d;
		}
	}
	t->status = (enum task_status)task_row_choice(o, "status", status_names, TS_COUNT,
	    TS_TODO);
	t->lease = TASK_LEASE_DEFAULT;
	mp_num(mp_get(o, "lease"), &t->lease);
	mp_bool(mp_get(o, "changes_pending"), &t->changes_pending);
	t->notes = mp_strdup(mp_get(o, "notes"));
	t->feedback = mp_strdup(mp_get(o, "feedback"));
	t->reviewer = mp_strdup(mp_get(o, "reviewer"));
	t->reviewed_at = task_row_int(o, "reviewed_at", 0);
	t->created_at = task_row_int(o, "created_at", 0);
	t->updated_at = task_row_int(o, "updated_at", 0);
	t->version = (uint64_t)task_row_int(o, "version", 0);
	t->hist_dropped = (size_t)task_row_int(o, "history_dropped", 0);
	task_restore_history(t, mp_get(o, "history"));
	task_restore_place(p, t);
	if (mp_str(mp_get(o, "token"), &s, &n) == 0 && n == sizeof t->token - 1 &&
	    (t->status == TS_IN_PROGRESS || t->status == TS_REVIEW)) {
		memcpy(t->token, s, n);
		t->token[n] = '\0';
		task_restore_claim(t, o);
	}
	return (0);
}

const struct store_kind task_store_kind = {
	.name = "task",
	.pack = task_pack,
	.restore = task_restore,
};

/* The project's row: its context and status; 0 until project_set was used. */
static int
project_pack(const char *key, struct fbuf *fb)
{
	struct project *p;
	size_t i;

	HASH_FIND_STR(projects, key, p);
	if (p == NULL || p->version == 0)
		return (0);
	pk_map(fb, 4 + PFIELDS);
	pk_kstr(fb, "status", pstatus_names[p->status]);
	for (i = 0; i < PFIELDS; i++)
		pk_kstr(fb, pfield_names[i], p->fields[i]);
	pk_kstr(fb, "updated_by", p->updated_by);
	pk_kint(fb, "updated_at", p->updated_at);
	pk_kuint(fb, "version", p->version);
	return (1);
}

/* Rebuild a project's context from its row. */
static int
project_restore(const char *key, const msgpack_object *o, char **cause)
{
	struct project *p = task_project(key);
	size_t i;

	(void)cause;
	p->status = (enum project_status)task_row_choice(o, "status", pstatus_names, PS_COUNT,
	    PS_PLANNING);
	for (i = 0; i < PFIELDS; i++) {
		free(p->fields[i]);
		p->fields[i] = mp_strdup(mp_get(o, pfield_names[i]));
	}
	free(p->updated_by);
	p->updated_by = mp_strdup(mp_get(o, "updated_by"));
	p->updated_at = task_row_int(o, "updated_at", 0);
	p->version = (uint64_t)task_row_int(o, "version", 1);
	return (0);
}

const struct store_kind project_store_kind = {
	.name = "project",
	.pack = project_pack,
	.restore = project_restore,
};

/* ---- role guidance ---- */

/* Append a formatted line to a growing text. */
static void printflike(2, 3)
task_guide_add(char **text, const char *fmt, ...)
{
	char *line, *joined;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&line, fmt, ap);
	va_end(ap);
	xasprintf(&joined, "%s%s\n", *text != NULL ? *text : "", line);
	free(*text);
	free(line);
	*text = joined;
}

/* Up to 10 ids of p's tasks in status st, comma-separated, in buf. */
static const char *
task_guide_ids(const struct project *p, enum task_status st, char *buf, size_t len)
{
	size_t i, n = 0, off = 0;

	buf[0] = '\0';
	for (i = 0; i < p->ntasks && off < len; i++) {
		if (p->tasks[i] == NULL || p->tasks[i]->status != st)
			continue;
		if (n++ == 10) {
			snprintf(buf + off, len - off, ", ...");
			break;
		}
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off > 0 ? ", " : "",
		    p->tasks[i]->id);
	}
	return (buf);
}

static void
task_guide_planner(char **text, const struct project *p, const size_t *count, size_t ready)
{
	char ids[128];

	if (p->fields[0] == NULL && p->fields[1] == NULL) {
		task_guide_add(text, "1. The project has no context yet. Ask the user what to build: "
		    "the goal, what done looks like, tech stack, constraints, acceptance criteria "
		    "and how to test. Record it with project_set {description, end_state, "
		    "tech_stack, constraints, acceptance, tests}.");
		task_guide_add(text, "2. Then write the implementation plan: project_set {plan, "
		    "status:\"ready\"}.");
		task_guide_add(text, "3. Then create the tasks with task_create.");
		return;
	}
	if (p->fields[6] == NULL) {
		task_guide_add(text, "1. Context is recorded. Write the implementation plan and save "
		    "it: project_set {plan, status:\"ready\"}.");
		task_guide_add(text, "2. Then create the tasks with task_create.");
		return;
	}
	if (p->ntasks == 0) {
		task_guide_add(text, "1. The plan is recorded. Break it into tasks an agent can finish "
		    "alone: task_create {title, description (with acceptance), complexity, "
		    "priority, depends_on} for each.");
		task_guide_add(text, "2. Then project_set {status:\"in_progress\"} and monitor.");
		return;
	}
	task_guide_add(text, "Monitor the work: %zu todo (%zu ready), %zu in progress, %zu in "
	    "review, %zu done, %zu blocked.", count[TS_TODO], ready, count[TS_IN_PROGRESS],
	    count[TS_REVIEW], count[TS_DONE], count[TS_BLOCKED]);
	if (count[TS_REVIEW] > 0)
		task_guide_add(text, "- Review %s: task_get, then task_approve {id} or "
		    "task_request_changes {id, feedback}.", task_guide_ids(p, TS_REVIEW, ids, sizeof ids));
	if (count[TS_BLOCKED] > 0)
		task_guide_add(text, "- Blocked: %s. Resolve them and task_update {status:\"todo\"}, "
		    "or cancel them.", task_guide_ids(p, TS_BLOCKED, ids, sizeof ids));
	task_guide_add(text, "- Answer questions: message_inbox {wait_seconds} waits for mail.");
	if (count[TS_DONE] + count[TS_CANCELLED] == p->ntasks)
		task_guide_add(text, "- Every task is done: check the acceptance criteria, then "
		    "project_set {status:\"complete\"}; that releases the implementers.");
	else
		task_guide_add(text, "- When every task is done, project_set {status:\"complete\"} "
		    "releases the implementers waiting in task_claim.");
}

static void
task_guide_implementer(char **text, const struct project *p, struct session *s, size_t ready)
{
	size_t i;

	for (i = 0; i < p->ntasks; i++) {
		if (p->tasks[i] != NULL && p->tasks[i]->claim_s == s &&
		    p->tasks[i]->status == TS_IN_PROGRESS)
			task_guide_add(text, "You hold %s (%s): finish it and task_submit {id, notes}.",
			    p->tasks[i]->id, p->tasks[i]->title);
	}
	task_guide_add(text, "Loop until the project is complete or stopped (%zu tasks ready now):",
	    ready);
	task_guide_add(text, "1. task_claim {wait_seconds: 50}: waits until a task is ready; no "
	    "polling. claimed:false with project_status complete or stopped: stop. "
	    "claimed:false otherwise: call it again.");
	task_guide_add(text, "2. Read the task (description, feedback). Take lock_acquire "
	    "{name:\"file:PATH\"} before editing shared files; release them after.");
	task_guide_add(text, "3. Do the work and run the tests.");
	task_guide_add(text, "4. task_submit {id, notes: what you did and how you tested it}. "
	    "If you cannot finish: task_release {id, reason}.");
	task_guide_add(text, "5. Back to 1. A task with changes requested comes back through "
	    "task_claim with the reviewer's feedback.");
}

static void
task_guide_reviewer(char **text, const struct project *p, const size_t *count)
{
	char ids[128];

	if (count[TS_REVIEW] > 0)
		task_guide_add(text, "%zu tasks wait for review: %s.", count[TS_REVIEW],
		    task_guide_ids(p, TS_REVIEW, ids, sizeof ids));
	else
		task_guide_add(text, "No task waits for review now.");
	task_guide_add(text, "1. task_list {status:\"review\"}, then task_get {id} for the notes "
	    "and history.");
	task_guide_add(text, "2. Check the change against the description and the project's "
	    "acceptance criteria (project_get); run the tests.");
	task_guide_add(text, "3. task_approve {id} (or {ids} for a batch), or "
	    "task_request_changes {id, feedback} saying exactly what to fix.");
}

/* What to do next in role, from the live state of s's project; malloc'd text. */
char *
task_next_steps(struct session *s, const char *role)
{
	struct project *p = task_project(s->project);
	size_t count[TS_COUNT], ready;
	char *text = NULL;

	task_counts(p, count, &ready);
	if (p->status == PS_COMPLETE || p->status == PS_STOPPED)
		task_guide_add(&text, "The project is %s: there is nothing more to do. "
		    "project_get shows its context.", pstatus_names[p->status]);
	else if (role != NULL && strcmp(role, "planner") == 0)
		task_guide_planner(&text, p, count, ready);
	else if (role != NULL && strcmp(role, "reviewer") == 0)
		task_guide_reviewer(&text, p, count);
	else if (role != NULL && strcmp(role, "implementer") == 0)
		task_guide_implementer(&text, p, s, ready);
	else
		task_guide_add(&text, "Join with a role (agent_join {role: planner, implementer or "
		    "reviewer}) to get its next steps; guide {role} shows them for any role.");
	text[strlen(text) - 1] = '\0'; /* every line ends in a newline; not the text */
	return (text);
}

void
op_guide(struct req *r)
{
	struct fbuf *fb;
	const char *role = r->s->role;
	char *text, *arg = task_arg_str(r->args[0]);

	if (arg != NULL)
		role = arg;
	text = task_next_steps(r->s, role);
	fb = reply_begin(r->id);
	pk_map(fb, 3);
	pk_kstr(fb, "role", role != NULL ? role : "none");
	pk_kstr(fb, "project_status", pstatus_names[task_project(r->s->project)->status]);
	pk_kstr(fb, "next_steps", text);
	reply_end(r->c, fb);
	free(text);
	free(arg);
}
