/*
 * One project's state for people: what `baton dashboard` sends its page
 * and `baton top` draws (DESIGN 11).  A snapshot is a handful of
 * operations sent at once on the project's own connection (status,
 * agent_list, lock_list, task_list, discussion_list, log_list,
 * project_get, worktree_get, launch_get, then task_get of the tasks in
 * review), put together as
 * one JSON object with what needs the operator's attention worked out
 * here, once, for both.  The operator's actions are operations too,
 * built from a whitelist of fields.
 */
#include "config.h"

#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define VIEW_CALLS_MAX 32   /* operations of one round */
#define VIEW_REVIEWS_MAX 20 /* tasks in review read whole */
#define VIEW_EXPIRING 60.0  /* a lock expiring within this many seconds needs you */

/* One operation of a round: its arguments in, its result or error out. */
struct vcall {
	const char *op;
	cJSON *args; /* owned; NULL: {} */
	cJSON *result;
	struct op_error err;
	uint64_t id;
	int done;
};

/* Pack one request frame: op with args (a JSON object or NULL). */
static int
view_pack(struct fbuf *fb, uint64_t id, const char *op, const cJSON *args)
{
	fbuf_init(fb);
	client_req_open(fb, id, op);
	if (args != NULL) {
		if (json_pack(fb, args) != 0)
			return (-1);
	} else
		pk_map(fb, 0);
	client_req_close(fb);
	return (fb->err ? -1 : 0);
}

/* The call of round v with request id, or NULL. */
static struct vcall *
view_call_of(struct vcall *v, size_t n, uint64_t id)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (v[i].id == id && !v[i].done)
			return (&v[i]);
	}
	return (NULL);
}

/* Take one response frame for round v. */
static void
view_take(struct vcall *v, size_t n, const msgpack_object *f)
{
	const msgpack_object *e;
	struct vcall *vc;
	int64_t id;
	char *s;

	if (mp_frame_type(f) != FRAME_RES || mp_int(mp_get(f, "id"), &id) != 0 ||
	    (vc = view_call_of(v, n, (uint64_t)id)) == NULL)
		return; /* a push, or an answer nobody waits for */
	vc->done = 1;
	if (mp_get_bool(f, "ok", 0)) {
		vc->result = json_from_msgpack(mp_get(f, "r"));
		return;
	}
	e = mp_get(f, "e");
	s = mp_get_strdup(e, "message");
	op_error_set(&vc->err, ERR_INTERNAL, NULL, "%s", s != NULL ? s : "failed");
	free(s);
	s = mp_get_strdup(e, "field");
	snprintf(vc->err.field, sizeof vc->err.field, "%s", s != NULL ? s : "");
	free(s);
	s = mp_get_strdup(e, "code");
	vc->err.code = s != NULL && err_code_find(s, strlen(s)) != NULL
	    ? err_code_find(s, strlen(s))->code
	    : ERR_INTERNAL;
	free(s);
}

/*
 * Send every call of a round at once, then read until each has its
 * answer or ms pass; 0, or -1 when the connection failed (err set).
 */
static int
view_round(struct conn *c, struct vcall *v, size_t n, int ms, struct op_error *err)
{
	msgpack_unpacked u;
	struct fbuf fb;
	size_t i, left = n;
	double end = mono_now() + ms / 1000.0;
	int r;

	for (i = 0; i < n; i++) {
		v[i].id = ++c->next_id;
		if (view_pack(&fb, v[i].id, v[i].op, v[i].args) != 0) {
			fbuf_free(&fb);
			op_error_set(err, ERR_INTERNAL, NULL, "cannot encode %s", v[i].op);
			return (-1);
		}
		r = conn_send(c, &fb);
		fbuf_free(&fb);
		if (r != 0) {
			op_error_set(err, ERR_UNAVAILABLE, NULL, "the broker went away");
			return (-1);
		}
	}
	while (left > 0) {
		msgpack_unpacked_init(&u);
		r = conn_read_frame(c, &u, (int)((end - mono_now()) * 1000) + 1, err);
		if (r == 0) {
			if (mp_frame_type(&u.data) == FRAME_ERROR)
				r = -1;
			view_take(v, n, &u.data);
		}
		msgpack_unpacked_destroy(&u);
		if (r != 0) {
			if (err->code == NULL || mono_now() >= end)
				op_error_set(err, ERR_TIMEOUT, NULL,
				    "the broker did not answer within %d ms", ms);
			return (-1);
		}
		for (left = 0, i = 0; i < n; i++)
			left += !v[i].done;
	}
	return (0);
}

static void
view_round_free(struct vcall *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		cJSON_Delete(v[i].args);
		cJSON_Delete(v[i].result);
	}
}

/* A round's result under key in o (moved), or null when it failed. */
static void
view_put(cJSON *o, const char *key, struct vcall *vc, const char *field)
{
	cJSON *r = vc->result, *f;

	if (r == NULL) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	if (field == NULL) {
		cJSON_AddItemToObject(o, key, r);
		vc->result = NULL;
		return;
	}
	f = cJSON_DetachItemFromObjectCaseSensitive(r, field);
	cJSON_AddItemToObject(o, key, f != NULL ? f : cJSON_CreateArray());
}

/* ---- what needs the operator ---- */

/* Add one item: kind, what it is about, a line, and the actions it offers. */
static void view_need(cJSON *needs, const char *kind, const char *severity, const char *okind,
    const char *key, const char *actions, const char *fmt, ...) printflike(7, 8);

static void
view_need(cJSON *needs, const char *kind, const char *severity, const char *okind,
    const char *key, const char *actions, const char *fmt, ...)
{
	cJSON *n = cJSON_CreateObject(), *a;
	char *text, *list, *p, *tok;
	va_list ap;

	va_start(ap, fmt);
	if (xvasprintf(&text, fmt, ap) == -1)
		fatalx("view: cannot format");
	va_end(ap);
	cJSON_AddStringToObject(n, "kind", kind);
	cJSON_AddStringToObject(n, "severity", severity);
	cJSON_AddStringToObject(n, "object_kind", okind);
	cJSON_AddStringToObject(n, "key", key);
	cJSON_AddStringToObject(n, "text", text);
	a = cJSON_AddArrayToObject(n, "actions");
	list = xstrdup(actions != NULL ? actions : "");
	for (p = list; (tok = strsep(&p, ",")) != NULL;) {
		if (*tok != '\0')
			cJSON_AddItemToArray(a, cJSON_CreateString(tok));
	}
	free(list);
	free(text);
	cJSON_AddItemToArray(needs, n);
}

static const char *
view_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return (cJSON_IsString(v) ? v->valuestring : NULL);
}

static double
view_num(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return (cJSON_IsNumber(v) ? v->valuedouble : dflt);
}

/* Is an agent of that name connected in the project? */
static int
view_agent_here(const cJSON *agents, const char *name)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, agents) {
		const char *n = view_str(a, "agent");
		if (n != NULL && name != NULL && strcmp(n, name) == 0 &&
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "connected")))
			return (1);
	}
	return (0);
}

/* Locks: waits past the threshold, holders gone, grants about to expire. */
static void
view_needs_locks(cJSON *needs, const cJSON *locks, const cJSON *agents,
    const struct view_opts *vo)
{
	const cJSON *l, *h, *w;
	const char *name, *holder;
	double t;

	cJSON_ArrayForEach(l, locks) {
		name = view_str(l, "name");
		h = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "holders"), 0);
		holder = h != NULL ? view_str(h, "agent") : NULL;
		cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(l, "holders")) {
			const char *who = view_str(h, "agent");
			if ((t = view_num(h, "expires_in_seconds", -1)) >= 0 &&
			    t < VIEW_EXPIRING)
				view_need(needs, "lock_expiring", "warn", "lock", name, "break",
				    "%s's lock %s expires in %.0f s", who, name, t);
			else if (!view_agent_here(agents, who))
				view_need(needs, "lock_orphaned", "warn", "lock", name, "break",
				    "%s is held by %s, who is gone", name, who);
		}
		cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(l, "waiters")) {
			if ((t = view_num(w, "waited_seconds", 0)) >= vo->wait_warn)
				view_need(needs, "long_wait", "warn", "lock", name, "break",
				    "%s has waited %.0f min for %s (held by %s)",
				    view_str(w, "agent"), t / 60, name,
				    holder != NULL ? holder : "nobody");
		}
	}
}

/* Is a discussion waiting on the operator (its name, or user / operator)? */
static int
view_waits_on_operator(const char *w, const struct view_opts *vo)
{
	static const char *const people[] = { "user", "human", "operator", "role:user",
		"role:operator", "role:human" };
	size_t i;

	if (w == NULL)
		return (0);
	if (strcmp(w, vo->operator) == 0)
		return (1);
	for (i = 0; i < nitems(people); i++) {
		if (strcmp(w, people[i]) == 0)
			return (1);
	}
	return (0);
}

/*
 * Worktrees whose owner is gone with their work not merged: nobody will
 * merge or remove them but the operator (baton worktree merge / remove).
 */
static void
view_needs_worktrees(cJSON *needs, const cJSON *worktrees)
{
	const cJSON *w;
	const char *state, *agent;

	cJSON_ArrayForEach(w, worktrees) {
		state = view_str(w, "state");
		agent = view_str(w, "agent");
		if ((state != NULL && strcmp(state, "merged") == 0) ||
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "owner_here")))
			continue;
		view_need(needs, "worktree_orphaned", "warn", "worktree", view_str(w, "name"),
		    NULL,
		    "worktree %s (branch %s) is not merged and %s%s%s: "
		    "baton worktree merge %s, or remove it",
		    view_str(w, "name"),
		    view_str(w, "branch") != NULL ? view_str(w, "branch") : "?",
		    agent != NULL ? "its owner " : "has no owner", agent != NULL ? agent : "",
		    agent != NULL ? " is gone" : "", view_str(w, "name"));
	}
}

/*
 * What a launched agent is now, as the broker knows it: exited (baton
 * launch --stop said so), joined (it is in the project under its name),
 * or started (launched, not joined; whether its process still runs is
 * tmux's to say: implementer_list asks it).
 */
const char *
view_launch_state(const char *recorded, int joined)
{
	if (recorded != NULL && strcmp(recorded, "exited") == 0)
		return ("exited");
	return (joined ? "joined" : "started");
}

/* What needs the operator, most urgent first. */
static cJSON *
view_needs(const cJSON *snap, const struct view_opts *vo)
{
	cJSON *needs = cJSON_CreateArray();
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(snap, "status"), *t, *d;
	const char *err = view_str(st, "store_error"), *s;

	if (err != NULL)
		view_need(needs, "not_saving", "critical", "broker", "", NULL,
		    "the broker is not saving: %s (answers to changes wait until it can)", err);
	view_needs_locks(needs, cJSON_GetObjectItemCaseSensitive(snap, "locks"),
	    cJSON_GetObjectItemCaseSensitive(snap, "agents"), vo);
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(snap, "tasks")) {
		s = view_str(t, "status");
		if (s != NULL && strcmp(s, "review") == 0)
			view_need(needs, "review", "info", "task", view_str(t, "id"),
			    "approve,request_changes", "%s waits for review: %s",
			    view_str(t, "id"), view_str(t, "title"));
		else if (s != NULL && strcmp(s, "blocked") == 0)
			view_need(needs, "blocked", "warn", "task", view_str(t, "id"), NULL,
			    "%s is blocked: %s", view_str(t, "id"), view_str(t, "title"));
	}
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(snap, "discussions")) {
		s = view_str(d, "status");
		if (s != NULL && strcmp(s, "open") == 0 &&
		    view_waits_on_operator(view_str(d, "waiting_on"), vo))
			view_need(needs, "discussion", "warn", "discussion", view_str(d, "id"),
			    "message", "%s waits on you: %s", view_str(d, "id"),
			    view_str(d, "topic"));
	}
	view_needs_worktrees(needs, cJSON_GetObjectItemCaseSensitive(snap, "worktrees"));
	return (needs);
}

/* Bytes of the state database and its WAL, or -1 when not found. */
static double
view_db_bytes(const cJSON *status)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], *cause = NULL;
	const char *sd = view_str(status, "state_dir");
	struct stat sb;
	double n = -1;

	if (sd != NULL)
		snprintf(dir, sizeof dir, "%s", sd);
	else if (getenv("BATON_STATE_DIR") != NULL)
		snprintf(dir, sizeof dir, "%s", getenv("BATON_STATE_DIR"));
	else if (path_state_dir(dir, sizeof dir, &cause) != 0) {
		free(cause);
		return (-1);
	}
	snprintf(path, sizeof path, "%s/state.db", dir);
	if (stat(path, &sb) == 0)
		n = (double)sb.st_size;
	snprintf(path, sizeof path, "%s/state.db-wal", dir);
	if (n >= 0 && stat(path, &sb) == 0)
		n += (double)sb.st_size;
	return (n);
}

/*
 * The snapshot of the connection's project: {project, revision, status,
 * agents, locks, tasks, task_summary, reviews, discussions, log,
 * project_info, worktrees, launched, needs, db_bytes}; NULL with err when
 * the broker failed.  Each launched agent has "now" (view_launch_state).
 */
cJSON *
view_snapshot(struct conn *c, const struct view_opts *vo, struct op_error *err)
{
	struct vcall v[VIEW_CALLS_MAX];
	cJSON *snap, *t;
	size_t n = 0, i;
	const char *s;

	memset(v, 0, sizeof v);
	v[n++].op = "status";
	v[n++].op = "agent_list";
	v[n++].op = "lock_list";
	v[n].op = "task_list";
	v[n++].args = cJSON_Parse("{\"limit\":200}");
	v[n].op = "discussion_list";
	v[n++].args = cJSON_Parse("{\"status\":\"all\",\"limit\":100}");
	v[n].op = "log_list";
	v[n++].args = cJSON_Parse("{\"limit\":200}");
	v[n++].op = "project_get";
	v[n++].op = "worktree_get";
	v[n++].op = "launch_get";
	if (view_round(c, v, n, vo->timeout_ms, err) != 0) {
		view_round_free(v, n);
		return (NULL);
	}
	snap = cJSON_CreateObject();
	cJSON_AddStringToObject(snap, "project", c->project != NULL ? c->project : "");
	cJSON_AddNumberToObject(snap, "revision", view_num(v[5].result, "cursor", 0));
	cJSON_AddStringToObject(snap, "operator", vo->operator);
	view_put(snap, "status", &v[0], NULL);
	view_put(snap, "agents", &v[1], "agents");
	view_put(snap, "locks", &v[2], "locks");
	view_put(snap, "task_summary", &v[3], "summary");
	view_put(snap, "tasks", &v[3], "tasks");
	view_put(snap, "discussions", &v[4], "discussions");
	view_put(snap, "log", &v[5], "entries");
	view_put(snap, "project_info", &v[6], NULL);
	view_put(snap, "worktrees", &v[7], "worktrees");
	view_put(snap, "launched", &v[8], "agents");
	view_round_free(v, n);
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(snap, "worktrees")) {
		if (view_str(t, "state") == NULL) /* as the broker takes it */
			cJSON_AddStringToObject(t, "state", "active");
	}
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(snap, "launched")) {
		cJSON_AddStringToObject(t, "now",
		    view_launch_state(view_str(t, "state"),
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "joined"))));
	}

	/* the tasks in review, whole: their notes */
	memset(v, 0, sizeof v);
	n = 0;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(snap, "tasks")) {
		s = view_str(t, "status");
		if (n == VIEW_REVIEWS_MAX || s == NULL || strcmp(s, "review") != 0)
			continue;
		v[n].op = "task_get";
		v[n].args = cJSON_CreateObject();
		cJSON_AddStringToObject(v[n++].args, "id", view_str(t, "id"));
	}
	t = cJSON_AddArrayToObject(snap, "reviews");
	if (n > 0 && view_round(c, v, n, vo->timeout_ms, err) == 0) {
		for (i = 0; i < n; i++) {
			if (v[i].result != NULL) {
				cJSON_AddItemToArray(t, v[i].result);
				v[i].result = NULL;
			}
		}
	}
	view_round_free(v, n);
	cJSON_AddItemToObject(snap, "needs", view_needs(snap, vo));
	cJSON_AddNumberToObject(snap, "db_bytes",
	    view_db_bytes(cJSON_GetObjectItemCaseSensitive(snap, "status")));
	return (snap);
}

/* ---- the operator's actions ---- */

/* An action: its operation and the fields it takes (required ones first, n of them). */
static const struct view_action {
	const char *name, *op;
	const char *fields[4];
	size_t required;
} view_actions[] = {
	{ "break", "lock_break", { "name", "reason" }, 1 },
	{ "approve", "task_approve", { "id", "feedback" }, 1 },
	{ "request_changes", "task_request_changes", { "id", "feedback" }, 2 },
	{ "message", "message_send", { "to", "body", "subject" }, 2 },
	{ "project_status", "project_set", { "status" }, 1 },
};

/*
 * Run the operator's action req ({action, FIELD: string...}) on c; its
 * result, or NULL with err naming what is wrong.
 */
cJSON *
view_action(struct conn *c, const cJSON *req, const struct view_opts *vo, struct op_error *err)
{
	const struct view_action *a = NULL;
	const char *name = view_str(req, "action");
	struct vcall v;
	cJSON *args, *f, *r;
	size_t i;

	for (i = 0; name != NULL && i < nitems(view_actions); i++) {
		if (strcmp(view_actions[i].name, name) == 0)
			a = &view_actions[i];
	}
	if (a == NULL) {
		op_error_set(err, ERR_INVALID, "action",
		    "action must be break, approve, request_changes, message or "
		    "project_status");
		return (NULL);
	}
	args = cJSON_CreateObject();
	for (i = 0; i < nitems(a->fields) && a->fields[i] != NULL; i++) {
		f = cJSON_GetObjectItemCaseSensitive(req, a->fields[i]);
		if (f == NULL || cJSON_IsNull(f) ||
		    (cJSON_IsString(f) && *f->valuestring == '\0' && i >= a->required))
			f = NULL;
		if (f == NULL && i < a->required) {
			op_error_set(err, ERR_INVALID, a->fields[i], "%s needs %s", a->name,
			    a->fields[i]);
			cJSON_Delete(args);
			return (NULL);
		}
		if (f == NULL)
			continue;
		if (!cJSON_IsString(f)) {
			op_error_set(err, ERR_INVALID, a->fields[i], "%s must be a string",
			    a->fields[i]);
			cJSON_Delete(args);
			return (NULL);
		}
		cJSON_AddStringToObject(args, a->fields[i], f->valuestring);
	}
	memset(&v, 0, sizeof v);
	v.op = a->op;
	v.args = args;
	if (view_round(c, &v, 1, vo->timeout_ms, err) != 0) {
		view_round_free(&v, 1);
		return (NULL);
	}
	if (v.result == NULL) {
		*err = v.err;
		view_round_free(&v, 1);
		return (NULL);
	}
	r = v.result;
	v.result = NULL;
	view_round_free(&v, 1);
	return (r);
}
