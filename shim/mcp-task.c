/*
 * Waits as tasks: the io.modelcontextprotocol/tasks extension (SEP-2663,
 * MCP 2026-07-28).  When a request declares the extension, a tools/call
 * that waits (lock_acquire, task_claim, message_inbox, note_wait,
 * event_wait with a wait) answers at once with a task handle; the client
 * polls tasks/get, which carries the CallToolResult once the wait ends,
 * and may tasks/cancel it.
 *
 * The wait is the call's wait_seconds, without the broker's cap on one
 * call: the shim asks again for what is left whenever the broker answers
 * that the wait ran out (a lock wait with its ticket, so it keeps its
 * place in line).  It lasts only while the client keeps it alive: a
 * working task not polled for MCP_TASK_IDLE seconds is cancelled, and
 * whatever a task got that its client never fetched, or that came after
 * it was cancelled, is given back (a cancelled lock wait holds nothing).
 * Bounded: MCP_TASKS_MAX tasks per process (past that a wait runs as an
 * ordinary call), each kept MCP_TASK_KEEP seconds once settled.
 *
 * The same tasks serve the experimental tasks of 2025-11-25 (SEP-1686),
 * which a client asks for with params.task on the tools/call: the
 * answer is always {task}, tasks/get reports it, tasks/result blocks
 * until it settles and answers the CallToolResult, tasks/list lists them
 * and tasks/cancel answers the task.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "shim.h"

#define MCP_TASKS_MAX 32     /* tasks of one baton mcp, working or settled */
#define MCP_TASK_IDLE 30     /* seconds without tasks/get that end a task's claim on us */
#define MCP_TASK_KEEP 60     /* seconds a settled task stays for tasks/get */
#define MCP_TASK_POLL_MS 500 /* the poll interval we suggest */
#define RPC_MISSING_CAPABILITY -32021
#define MCP_STR_(x) #x
#define MCP_STR(x) MCP_STR_(x)
#define MCP_TASK_RESULT_WAITERS 4 /* tasks/result calls held per task (2025-11-25) */

/* TASK_ASKING: the first call, without a wait; the client has no handle yet */
enum mcp_task_status { TASK_WORKING, TASK_COMPLETED, TASK_CANCELLED, TASK_ASKING };
static const char *const mcp_task_status_names[] = { "working", "completed", "cancelled",
	"working" };

struct mcp_task {
	struct mcp *m;
	char id[33]; /* unguessable: it is all a caller needs */
	const struct op *op;
	enum mcp_task_status status;
	const char *message; /* statusMessage, static, or NULL */
	void *args;          /* the packed arguments, to ask again */
	size_t len;
	char *ticket;             /* lock_acquire: the place in line from the last answer */
	double deadline;          /* mono: when the wait ends */
	int64_t created, updated; /* wall ms */
	double wait;
	struct mcp_call *call; /* the broker call in flight, or NULL */
	cJSON *result;         /* the CallToolResult once completed */
	int fetched;           /* a tasks/get returned its result */
	cJSON *req_id;         /* TASK_ASKING: the tools/call to answer, owned */
	enum mcp_rev rev;
	int v1; /* 2025-11-25's experimental tasks: asked for, {task} */
	cJSON *waiters[MCP_TASK_RESULT_WAITERS]; /* 2025-11-25 tasks/result ids, owned */
	size_t nwaiters;
	struct event *timer; /* idle, unfetched, or time to go */
	TAILQ_ENTRY(mcp_task) entry;
};

/* The waits that may be tasks, and the result field that says the wait got something. */
static const struct {
	enum op_id op;
	const char *got;
} mcp_task_ops[] = {
	{ OP_lock_acquire, "acquired" },
	{ OP_task_claim, "claimed" },
	{ OP_message_inbox, "messages" },
	{ OP_note_wait, "changed" },
	{ OP_event_wait, "fired" },
};

static void mcp_task_send(struct mcp *, struct mcp_task *);
static void mcp_task_settle(struct mcp *, struct mcp_task *, cJSON *, const char *);
static void mcp_task_results(struct mcp *, struct mcp_task *);

/* The field of op's result that is true (or a non-empty list) when the wait got something. */
static const char *
mcp_task_got_field(const struct op *op)
{
	size_t i;

	for (i = 0; i < nitems(mcp_task_ops); i++) {
		if (&ops[mcp_task_ops[i].op] == op)
			return (mcp_task_ops[i].got);
	}
	return (NULL);
}

/* Can op run as a task (it waits)? */
int
mcp_task_op(const struct op *op)
{
	return (mcp_task_got_field(op) != NULL);
}

/*
 * Should this call run as a task?  0: no; 1: a 2026-07-28 request that
 * declared the extension and waits; 2: a 2025-11-25 request that asked
 * for one (params.task); -1: it asked and there is no room (answered).
 */
int
mcp_task_wanted(struct mcp *m, const struct mcp_req *req, const struct op *op,
    const msgpack_object **vals, const cJSON *params)
{
	if (mcp_task_got_field(op) == NULL)
		return (0);
	if (req->rev == MCP_REV_2025_11_25 &&
	    cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(params, "task"))) {
		if (m->ntasks < MCP_TASKS_MAX)
			return (2);
		mcp_error(m, req->id, RPC_INTERNAL_ERROR, "task",
		    "%s: at most %d tasks per baton mcp; wait for one to end, or call %s "
		    "without task",
		    ERR_LIMIT, MCP_TASKS_MAX, op->name);
		return (-1);
	}
	if (!req->tasks || req->rev < MCP_REV_MODERN || m->ntasks >= MCP_TASKS_MAX)
		return (0);
	return (op_arg_num(op, vals, "wait_seconds") > 0);
}

/* Arm the task's timer to fire in secs. */
static void
mcp_task_timer(struct mcp_task *t, double secs)
{
	struct timeval tv = tv_secs(secs);

	evtimer_add(t->timer, &tv);
}

/* Forget a task (its call, if any, is answered to nobody). */
static void
mcp_task_free(struct mcp *m, struct mcp_task *t)
{
	if (t->call != NULL) {
		t->call->task = NULL;
		if (!t->call->cancelled)
			mcp_call_cancel(m, t->call);
	}
	TAILQ_REMOVE(&m->tasks, t, entry);
	m->ntasks--;
	event_free(t->timer);
	while (t->nwaiters > 0)
		cJSON_Delete(t->waiters[--t->nwaiters]);
	cJSON_Delete(t->req_id);
	cJSON_Delete(t->result);
	free(t->ticket);
	free(t->args);
	free(t);
}

/* Forget every task (at exit). */
void
mcp_tasks_free(struct mcp *m)
{
	struct mcp_task *t;

	while ((t = TAILQ_FIRST(&m->tasks)) != NULL)
		mcp_task_free(m, t);
}

/* The task's state changed now. */
static void
mcp_task_set(struct mcp_task *t, enum mcp_task_status status, const char *message)
{
	t->status = status;
	t->message = message;
	t->updated = wall_ms();
}

/* Send one call of op on our own behalf, answered to nobody. */
static void
mcp_task_call(struct mcp *m, enum op_id op, struct fbuf *fb)
{
	struct op_error err;
	struct mcp_call *c;

	if (fb->err)
		fatalx("mcp: cannot encode a give-back call");
	c = mcp_call_send(m, &ops[op], fb->sb.data + FRAME_HDR, fb->sb.size - FRAME_HDR, 0,
	    &err);
	if (c == NULL)
		log_warnx("cannot give back what a task got (%s): %s", ops[op].name,
		    err.message);
}

/*
 * Give back what a wait got and nobody will use: the locks of a grant,
 * the task of a claim (sc is the result's structuredContent).
 */
static void
mcp_task_give_back(struct mcp *m, const struct op *op, const cJSON *sc)
{
	const cJSON *token = cJSON_GetObjectItemCaseSensitive(sc, "token"), *n;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(sc, "id");
	struct fbuf fb;

	if (op == &ops[OP_lock_acquire] &&
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sc, "acquired"))) {
		cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(sc, "names")) {
			fbuf_init(&fb);
			pk_map_open(&fb);
			pk_kstr(&fb, "name", n->valuestring);
			if (cJSON_IsString(token))
				pk_kstr(&fb, "token", token->valuestring);
			pk_map_close(&fb);
			mcp_task_call(m, OP_lock_release, &fb);
			fbuf_free(&fb);
		}
		log_info("a lock_acquire task's grant was given back");
	} else if (op == &ops[OP_task_claim] &&
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sc, "claimed")) &&
	    cJSON_IsString(id)) {
		fbuf_init(&fb);
		pk_map_open(&fb);
		pk_kstr(&fb, "id", id->valuestring);
		if (cJSON_IsString(token))
			pk_kstr(&fb, "token", token->valuestring);
		pk_kstr(&fb, "reason", "the task_claim task that claimed it was cancelled");
		pk_map_close(&fb);
		mcp_task_call(m, OP_task_release, &fb);
		fbuf_free(&fb);
		log_info("a task_claim task's claim was given back");
	}
}

/*
 * The task's timer: a working task nobody polls (nor waits on with
 * tasks/result) is cancelled; a result nobody fetched gives back what it
 * got; a settled task goes.
 */
static void
mcp_task_timeout(evutil_socket_t fd, short events, void *arg)
{
	static const char idle[] = "cancelled: no tasks/get for " MCP_STR(MCP_TASK_IDLE) " s";
	static const char unfetched[] = "cancelled: its result was not fetched within " MCP_STR(
	    MCP_TASK_IDLE) " s, and what it got was given back";
	struct mcp_task *t = arg;
	struct mcp *m = t->m;
	cJSON *sc;

	if (t->status == TASK_WORKING && t->nwaiters > 0) {
		mcp_task_timer(t, MCP_TASK_IDLE); /* a tasks/result waits on it */
		return;
	}
	if (t->status == TASK_WORKING) {
		if (t->call != NULL)
			mcp_call_cancel(m, t->call);
		mcp_task_set(t, TASK_CANCELLED, idle);
	} else if (t->status == TASK_COMPLETED && !t->fetched) {
		sc = cJSON_GetObjectItemCaseSensitive(t->result, "structuredContent");
		mcp_task_give_back(m, t->op, sc);
		mcp_task_set(t, TASK_CANCELLED, unfetched);
		t->fetched = 1;
	} else {
		mcp_task_free(m, t);
		return;
	}
	mcp_task_timer(t, MCP_TASK_KEEP);
}

/*
 * Run a wait as a task.  The broker is asked first without a wait: what
 * is there now is answered as an ordinary result; only a call that must
 * wait gets a task handle (at once), and then waits.
 */
void
mcp_task_start(struct mcp *m, const struct mcp_req *req, const struct op *op,
    const msgpack_object **vals, const void *args, size_t len, int v1)
{
	struct mcp_task *t;

	t = xcalloc(1, sizeof *t);
	t->m = m;
	random_hex(t->id, sizeof t->id);
	t->op = op;
	t->args = xmalloc(len);
	memcpy(t->args, args, len);
	t->len = len;
	t->wait = op_arg_num(op, vals, "wait_seconds");
	t->req_id = cJSON_Duplicate(req->id, 1);
	t->rev = req->rev;
	t->v1 = v1;
	if ((t->timer = evtimer_new(m->base, mcp_task_timeout, t)) == NULL)
		fatalx("mcp: cannot add a task timer");
	TAILQ_INSERT_TAIL(&m->tasks, t, entry);
	m->ntasks++;
	mcp_task_set(t, TASK_ASKING, NULL);
	mcp_task_send(m, t);
}

/* Send the tools/call its task handle: {task} (2025-11-25) or resultType "task". */
static void
mcp_task_created(struct mcp *m, struct mcp_task *t)
{
	cJSON *r;

	if (t->v1) {
		r = cJSON_CreateObject();
		cJSON_AddItemToObject(r, "task", mcp_task_json(t, NULL));
	} else
		r = mcp_task_json(t, "task");
	mcp_result(m, t->req_id, t->rev, r);
	cJSON_Delete(t->req_id);
	t->req_id = NULL;
}

/* The first answer got nothing: the task waits; its client gets the handle. */
static void
mcp_task_wait(struct mcp *m, struct mcp_task *t)
{
	t->deadline = mono_now() + t->wait;
	t->created = wall_ms();
	mcp_task_set(t, TASK_WORKING, "waiting");
	mcp_task_timer(t, MCP_TASK_IDLE);
	mcp_task_send(m, t);
	mcp_task_created(m, t);
	log_info("task %.8s: %s, waiting up to %.0f s", t->id, t->op->name, t->wait);
}

/*
 * The arguments of the next call of a task: the first ones, the wait
 * what is left of it, and a lock wait's ticket (its place in line).
 */
static void
mcp_task_pack(struct mcp_task *t, struct fbuf *fb)
{
	msgpack_unpacked u;
	const msgpack_object *k;
	uint32_t i;
	double left = t->status == TASK_ASKING ? 0 : t->deadline - mono_now();

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, t->args, t->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_MAP)
		fatalx("mcp: a task's arguments do not unpack");
	pk_map_open(fb);
	for (i = 0; i < u.data.via.map.size; i++) {
		k = &u.data.via.map.ptr[i].key;
		if (mp_streq(k, "wait_seconds") || mp_streq(k, "ticket"))
			continue;
		pk_object(fb, k);
		pk_object(fb, &u.data.via.map.ptr[i].val);
	}
	pk_kdouble(fb, "wait_seconds", left > 0 ? left : 0);
	if (t->ticket != NULL)
		pk_kstr(fb, "ticket", t->ticket);
	pk_map_close(fb);
	msgpack_unpacked_destroy(&u);
}

/* Ask the broker (again) for what the task waits for. */
static void
mcp_task_send(struct mcp *m, struct mcp_task *t)
{
	struct op_error err;
	struct fbuf fb;
	char *text;

	fbuf_init(&fb);
	mcp_task_pack(t, &fb);
	if (fb.err)
		fatalx("mcp: cannot encode a task's call");
	t->call =
	    mcp_call_send(m, t->op, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, 0, &err);
	fbuf_free(&fb);
	if (t->call != NULL) {
		t->call->task = t;
		return;
	}
	xasprintf(&text,
	    "%s: %s. The baton broker could not be reached; check that `batond` can start "
	    "(or run `baton status`), then call %s again.",
	    err.code, err.message, t->op->name);
	mcp_task_settle(m, t, mcp_text_result(text, 1),
	    "failed: the broker could not be reached");
	free(text);
}

/* Did the broker's answer r (a map) get what the wait was for? */
static int
mcp_task_got(const struct op *op, const msgpack_object *r)
{
	const msgpack_object *v = mp_get(r, mcp_task_got_field(op));
	int b;

	if (v != NULL && v->type == MSGPACK_OBJECT_ARRAY)
		return (v->via.array.size > 0);
	return (mp_bool(v, &b) == 0 && b);
}

/* After the first answer (r), that got nothing: is there something to wait for? */
static int
mcp_task_must_wait(struct mcp_task *t, const msgpack_object *r)
{
	const msgpack_object *status = mp_get(r, "project_status");

	/* a claim in a finished project has nothing to wait for */
	return (t->op != &ops[OP_task_claim] ||
	    (!mp_streq(status, "complete") && !mp_streq(status, "stopped")));
}

/* Should the task ask again after this answer (r) that got nothing? */
static int
mcp_task_again(struct mcp_task *t, const msgpack_object *r)
{
	if (t->deadline - mono_now() < 0.05)
		return (0);
	if (t->op == &ops[OP_lock_acquire]) {
		free(t->ticket);
		return ((t->ticket = mp_strdup(mp_get(r, "ticket"))) != NULL);
	}
	return (mcp_task_must_wait(t, r));
}

/*
 * The task has its result (owned): the first answer goes to the
 * tools/call as it is, and the task goes; a waiting task completes.
 */
static void
mcp_task_settle(struct mcp *m, struct mcp_task *t, cJSON *result, const char *message)
{
	int asking = t->status == TASK_ASKING;

	if (asking && !t->v1) {
		mcp_result(m, t->req_id, t->rev, result);
		mcp_task_free(m, t);
		return;
	}
	t->result = result;
	if (asking)
		t->created = wall_ms();
	mcp_task_set(t, TASK_COMPLETED, message);
	mcp_task_timer(t, MCP_TASK_IDLE);
	if (asking)
		mcp_task_created(m, t); /* 2025-11-25: a task was asked for; it is done */
	mcp_task_results(m, t);
}

/* The broker answered a task's call: settle it, wait, or ask again. */
void
mcp_task_answer(struct mcp *m, struct mcp_call *c, const msgpack_object *f)
{
	struct mcp_task *t = c->task;
	const msgpack_object *r = mp_get(f, "r");
	int ok = mp_get_bool(f, "ok", 0), got = ok && mcp_task_got(t->op, r);
	cJSON *result;

	t->call = NULL;
	if (c->cancelled || (t->status != TASK_WORKING && t->status != TASK_ASKING)) {
		/* it came after the cancel: nobody will use it */
		if (got) {
			result = mcp_tool_result(c, f);
			mcp_task_give_back(m, t->op,
			    cJSON_GetObjectItemCaseSensitive(result, "structuredContent"));
			cJSON_Delete(result);
		}
		mcp_call_free(m, c);
		return;
	}
	if (t->status == TASK_ASKING && ok && !got && mcp_task_must_wait(t, r)) {
		mcp_call_free(m, c);
		mcp_task_wait(m, t);
		return;
	}
	if (t->status == TASK_WORKING && ok && !got && mcp_task_again(t, r)) {
		mcp_call_free(m, c);
		mcp_task_send(m, t);
		return;
	}
	result = mcp_tool_result(c, f);
	mcp_call_free(m, c);
	mcp_task_settle(m, t, result, got ? "done" : "done: the wait ended");
}

/* The broker went away during a task's call: it completes with the error. */
void
mcp_task_lost(struct mcp *m, struct mcp_call *c, const char *why)
{
	struct mcp_task *t = c->task;
	char *text;

	t->call = NULL;
	mcp_call_free(m, c);
	if (t->status != TASK_WORKING && t->status != TASK_ASKING)
		return;
	xasprintf(&text,
	    "%s: %s before answering %s. Call the tool again: baton reconnects "
	    "(starting the broker if needed) and reclaims your session and its locks.",
	    ERR_UNAVAILABLE, why, t->op->name);
	mcp_task_settle(m, t, mcp_text_result(text, 1), "failed: the broker went away");
	free(text);
}

/* A task as JSON: the handle (resultType "task") or tasks/get's DetailedTask. */
cJSON *
mcp_task_json(struct mcp_task *t, const char *type)
{
	char created[TIME_ISO_LEN], updated[TIME_ISO_LEN];
	cJSON *o = cJSON_CreateObject(), *r;
	double ttl = (t->wait + MCP_TASK_IDLE + MCP_TASK_KEEP) * 1000;

	if (t->v1) { /* 2025-11-25's Task */
		cJSON_AddStringToObject(o, "taskId", t->id);
		cJSON_AddStringToObject(o, "status", mcp_task_status_names[t->status]);
		if (t->message != NULL)
			cJSON_AddStringToObject(o, "statusMessage", t->message);
		cJSON_AddStringToObject(o, "createdAt",
		    time_iso(t->created, created, sizeof created));
		cJSON_AddStringToObject(o, "lastUpdatedAt",
		    time_iso(t->updated, updated, sizeof updated));
		cJSON_AddNumberToObject(o, "ttl", ttl);
		cJSON_AddNumberToObject(o, "pollInterval", MCP_TASK_POLL_MS);
		return (o);
	}
	cJSON_AddStringToObject(o, "resultType", type);
	cJSON_AddStringToObject(o, "taskId", t->id);
	cJSON_AddStringToObject(o, "status", mcp_task_status_names[t->status]);
	if (t->message != NULL)
		cJSON_AddStringToObject(o, "statusMessage", t->message);
	cJSON_AddStringToObject(o, "createdAt", time_iso(t->created, created, sizeof created));
	cJSON_AddStringToObject(o, "lastUpdatedAt",
	    time_iso(t->updated, updated, sizeof updated));
	cJSON_AddNumberToObject(o, "ttlMs", ttl);
	cJSON_AddNumberToObject(o, "pollIntervalMs", MCP_TASK_POLL_MS);
	if (t->status == TASK_COMPLETED && strcmp(type, "complete") == 0) {
		/* the tools/call result as it would have been: of its kind too */
		r = cJSON_AddItemToObject(o, "result", cJSON_Duplicate(t->result, 1))
		    ? cJSON_GetObjectItemCaseSensitive(o, "result")
		    : NULL;
		if (r != NULL && cJSON_GetObjectItemCaseSensitive(r, "resultType") == NULL)
			cJSON_AddStringToObject(r, "resultType", "complete");
	}
	return (o);
}

/* tasks/get: the task now; a working one is kept alive, a result is fetched. */
static void
mcp_tasks_get(struct mcp *m, const struct mcp_req *req, struct mcp_task *t)
{
	if (t->status == TASK_WORKING)
		mcp_task_timer(t, MCP_TASK_IDLE);
	else if (!t->fetched && !t->v1) { /* 2025-11-25 fetches with tasks/result */
		t->fetched = 1;
		mcp_task_timer(t, MCP_TASK_KEEP);
	}
	mcp_result(m, req->id, req->rev, mcp_task_json(t, "complete"));
}

/*
 * Answer a 2025-11-25 tasks/result of a settled task: its CallToolResult,
 * tied to the task, or an error when it was cancelled.
 */
static void
mcp_task_result_send(struct mcp *m, struct mcp_task *t, const cJSON *id)
{
	cJSON *r, *meta, *rel;

	if (t->status != TASK_COMPLETED) {
		mcp_error(m, id, RPC_INVALID_PARAMS, "taskId", "task %s was cancelled: %s",
		    t->id, t->message != NULL ? t->message : "no result");
		return;
	}
	t->fetched = 1;
	mcp_task_timer(t, MCP_TASK_KEEP);
	r = cJSON_Duplicate(t->result, 1);
	meta = cJSON_AddObjectToObject(r, "_meta");
	rel = cJSON_AddObjectToObject(meta, "io.modelcontextprotocol/related-task");
	cJSON_AddStringToObject(rel, "taskId", t->id);
	mcp_result(m, id, t->rev, r);
}

/* The task settled: answer the tasks/result calls that wait on it. */
static void
mcp_task_results(struct mcp *m, struct mcp_task *t)
{
	size_t i;

	for (i = 0; i < t->nwaiters; i++) {
		mcp_task_result_send(m, t, t->waiters[i]);
		cJSON_Delete(t->waiters[i]);
	}
	t->nwaiters = 0;
}

/* tasks/result (2025-11-25): the result now, or when the task settles. */
static void
mcp_tasks_result(struct mcp *m, const struct mcp_req *req, struct mcp_task *t)
{
	if (t->status != TASK_WORKING) {
		mcp_task_result_send(m, t, req->id);
		return;
	}
	if (t->nwaiters == MCP_TASK_RESULT_WAITERS) {
		mcp_error(m, req->id, RPC_INTERNAL_ERROR, "taskId",
		    "%s: at most %d tasks/result calls wait on one task", ERR_LIMIT,
		    MCP_TASK_RESULT_WAITERS);
		return;
	}
	t->waiters[t->nwaiters++] = cJSON_Duplicate(req->id, 1);
}

/* tasks/list (2025-11-25): the tasks a client may still ask about. */
static void
mcp_tasks_list(struct mcp *m, const struct mcp_req *req)
{
	struct mcp_task *t;
	cJSON *r = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(r, "tasks");

	TAILQ_FOREACH(t, &m->tasks, entry) {
		if (t->v1 && t->status != TASK_ASKING)
			cJSON_AddItemToArray(list, mcp_task_json(t, NULL));
	}
	mcp_result(m, req->id, req->rev, r);
}

/* tasks/cancel: end the wait; what it got and nobody fetched is given back. */
static void
mcp_tasks_cancel(struct mcp *m, const struct mcp_req *req, struct mcp_task *t)
{
	if (t->status == TASK_WORKING) {
		if (t->call != NULL)
			mcp_call_cancel(m, t->call);
		mcp_task_set(t, TASK_CANCELLED, "cancelled by the client");
		mcp_task_timer(t, MCP_TASK_KEEP);
	} else if (t->status == TASK_COMPLETED && !t->fetched) {
		mcp_task_give_back(m, t->op,
		    cJSON_GetObjectItemCaseSensitive(t->result, "structuredContent"));
		mcp_task_set(t, TASK_CANCELLED,
		    "cancelled by the client; what it got was given back");
		t->fetched = 1;
		mcp_task_timer(t, MCP_TASK_KEEP);
	}
	mcp_task_results(m, t);
	mcp_result(m, req->id, req->rev, t->v1 ? mcp_task_json(t, NULL) : cJSON_CreateObject());
}

/* tasks/get, tasks/update, tasks/cancel of a client that declared the extension. */
void
mcp_tasks_request(struct mcp *m, const struct mcp_req *req, const char *method,
    const cJSON *params)
{
	const cJSON *tid = cJSON_GetObjectItemCaseSensitive(params, "taskId");
	struct mcp_task *t;
	cJSON *data;

	int v1 = req->rev == MCP_REV_2025_11_25;

	if (strcmp(method, "tasks/get") != 0 && strcmp(method, "tasks/cancel") != 0 &&
	    strcmp(method, v1 ? "tasks/result" : "tasks/update") != 0 &&
	    (!v1 || strcmp(method, "tasks/list") != 0)) {
		mcp_error(m, req->id, RPC_METHOD_NOT_FOUND, NULL, "method not found: %.100s",
		    method);
		return;
	}
	if (v1 && strcmp(method, "tasks/list") == 0) {
		mcp_tasks_list(m, req);
		return;
	}
	if (!req->tasks && !v1) {
		data = cJSON_CreateObject();
		cJSON_AddObjectToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(data,
								    "requiredCapabilities"),
					    "extensions"),
		    "io.modelcontextprotocol/tasks");
		mcp_error_data(m, req->id, RPC_MISSING_CAPABILITY, data,
		    "Missing required client capability: %s needs the "
		    "io.modelcontextprotocol/tasks extension in _meta "
		    "io.modelcontextprotocol/clientCapabilities",
		    method);
		return;
	}
	TAILQ_FOREACH(t, &m->tasks, entry) {
		if (t->status != TASK_ASKING && cJSON_IsString(tid) &&
		    strcmp(t->id, tid->valuestring) == 0)
			break;
	}
	if (t == NULL) {
		mcp_error(m, req->id, RPC_INVALID_PARAMS, "taskId",
		    "Failed to retrieve task: no task %.64s (a settled task is kept %d s after "
		    "its result is fetched)",
		    cJSON_IsString(tid) ? tid->valuestring : "(taskId must be a string)",
		    MCP_TASK_KEEP);
		return;
	}
	if (strcmp(method, "tasks/get") == 0)
		mcp_tasks_get(m, req, t);
	else if (strcmp(method, "tasks/result") == 0)
		mcp_tasks_result(m, req, t);
	else if (strcmp(method, "tasks/cancel") == 0)
		mcp_tasks_cancel(m, req, t);
	else
		mcp_result(m, req->id, req->rev, cJSON_CreateObject()); /* no input is asked */
}
