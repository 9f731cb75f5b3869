/*
 * Tasks and claims of a shared project, in etcd (DESIGN 5.5 and 15):
 * the same operations, arguments, answers and errors as task.c,
 * review.c and claim.c, with the state under the project's root:
 *
 *   t/#           the task counter {n}: the last id handed out
 *   t/NNNNNN      task N's record: taskrow_pack's map (fields, status,
 *                 claim token, history), as the checkpoint's row
 *   t/NNNNNN/c    its live claim {t: token, s: session, a: agent, h: host},
 *                 bound to the claimant session's lease
 *   t/NNNNNN/o    its orphaned claim {t, u: wall ms}: the claimant's
 *                 session ended, the claim lives lease_seconds more
 *   t/NNNNNN/r    the review taken {s, a}, bound to the reviewer's lease
 *
 * Every call reads every key under t/ at one revision (a snapshot,
 * rebuilt as a struct project that task.c's packers and checks read),
 * decides as the local broker does, and writes in one txn that
 * compares the mod revision of everything it read of the tasks it
 * changes (and of t/# when it hands out an id or changes
 * dependencies): of two hosts racing for one task exactly one wins, the
 * other reads again and decides again.
 *
 * A claim's key goes with its session's lease: when a host dies, its
 * claims go at the lease TTL and the tasks are claimable again (a task
 * in_progress with no claim key reads as todo, "lease_expired", and the
 * next write makes it so).  When a session ends on a live host, its
 * claims are moved to orphan keys before its lease is revoked, so a
 * claim outlives its session by lease_seconds as locally, and its token
 * takes it over meanwhile.  Orphans' deadlines are wall-clock times:
 * the hosts' clocks are assumed to agree (NTP).
 *
 * A move that review.c tells of (a submit, changes requested, the last
 * task approved) mails its notice with shared_msg_put and signals its
 * event (shared_event_txn) in the txn of the move: the notice exists
 * exactly when the move does and wakes a message_inbox or event_wait on
 * any host.  Such a call's snapshot is a txn that also reads who is
 * present (a/, for the addressee) and the three events' keys, whose mod
 * revisions the write compares: a signal from elsewhere in between
 * makes it read and decide again.  Retention then trims the messages,
 * as after a message_send.
 *
 * Not shared: task files (a task with files is refused: their
 * reservations are the local lock table's), project_set (project_status
 * reads planning, or in_progress once a task was claimed).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared.h"
#include "task.h"

#define STK_TRIES 100      /* txns lost to other writers in a row before a call gives up */
#define STK_APPROVE_MAX 25 /* ids of one task_approve: one txn, etcd's --max-txn-ops */

/* A claim, orphan or review key of a task, as read. */
struct stk_side {
	int64_t mod, lease, until;
	char *token, *sid, *agent;
	int put, del; /* to write */
};

/* What the snapshot holds of a task besides its record. */
struct stk_task {
	int64_t mod; /* the record's (0: new) */
	struct stk_side c, o, r;
	struct session *reviewer; /* what task_pk_fields reads of the review */
	int write;
};

/* A task call in progress. */
struct stk {
	struct req r; /* the request, its arguments kept (args) */
	msgpack_unpacked args;
	unsigned char *abuf;
	char *root; /* "…/t/" */
	void (*run)(struct shcall *);
	/* the snapshot */
	struct project p;
	struct stk_task *x; /* by number - 1 */
	size_t cap;
	int64_t rev, cmod;
	int read, bump;      /* read: a snapshot is held; bump: write t/# */
	struct session live; /* claim_s of a live claim */
	struct event *orphan_ev;
	int tries, final;
	double wait;
	void (*then)(struct shcall *); /* after the txn */
	struct task **ts;              /* task_approve's */
	size_t nts;
	char *note;
	const char *hint;
	int claimed_review;
	/* review notices (tells: the call may send some) */
	int tells, told;
	struct review_who who;   /* who is present, as read */
	cJSON *evs[REVIEW_NEWS]; /* the events' keys as read (NULL: absent) */
	cJSON *tcmp, *tok;       /* the notices' compares and writes */
};

/* Claims a session holds (moved to orphan keys when it ends). */
struct stk_held {
	char *key, *token, *agent, *sid;
	double lease;
	int64_t mod;
	struct stk_held *next;
};
struct stk_sess {
	const struct session *s;
	struct stk_held *held;
	UT_hash_handle hh;
};
static struct stk_sess *stk_sessions;

/* ---- the snapshot ---- */

static void
stk_side_free(struct stk_side *d)
{
	free(d->token);
	free(d->sid);
	free(d->agent);
	memset(d, 0, sizeof *d);
}

static void
stk_task_free(struct task *t)
{
	size_t i;

	free(t->title);
	free(t->description);
	free(t->assignee);
	free(t->owner);
	task_free_strings(t->tags, t->ntags);
	task_free_strings(t->files, t->nfiles);
	free(t->deps);
	free(t->notes);
	free(t->feedback);
	free(t->reviewer);
	for (i = 0; i < t->nhist; i++) {
		free(t->hist[i].actor);
		free(t->hist[i].sid);
		free(t->hist[i].action);
		free(t->hist[i].note);
	}
	free(t->hist);
	free(t);
}

static void
stk_forget(struct stk *x)
{
	size_t i;

	for (i = 0; i < x->p.ntasks; i++) {
		if (x->p.tasks[i] != NULL)
			stk_task_free(x->p.tasks[i]);
		stk_side_free(&x->x[i].c);
		stk_side_free(&x->x[i].o);
		stk_side_free(&x->x[i].r);
		free(x->x[i].reviewer);
	}
	free(x->p.tasks);
	free(x->x);
	free(x->ts);
	x->ts = NULL;
	x->nts = 0;
	for (i = 0; i < REVIEW_NEWS; i++) {
		cJSON_Delete(x->evs[i]);
		x->evs[i] = NULL;
	}
	cJSON_Delete(x->tcmp);
	cJSON_Delete(x->tok);
	x->tcmp = x->tok = NULL;
	x->told = 0;
	memset(&x->who, 0, sizeof x->who);
	x->p.tasks = NULL;
	x->x = NULL;
	x->p.ntasks = x->p.cap = x->cap = 0;
	x->read = x->bump = 0;
}

static void
stk_end(struct shcall *c)
{
	struct stk *x = c->st;

	stk_forget(x);
	msgpack_unpacked_destroy(&x->args);
	free(x->abuf);
	free(x->root);
	free(x->note);
	if (x->orphan_ev != NULL)
		event_free(x->orphan_ev);
}

/* Room for task num in the snapshot. */
static void
stk_room(struct stk *x, unsigned num)
{
	size_t old = x->cap;

	if (num <= x->cap)
		return;
	x->cap = num > 2 * x->cap ? num : 2 * x->cap;
	x->p.tasks = xreallocarray(x->p.tasks, x->cap, sizeof *x->p.tasks);
	x->x = xreallocarray(x->x, x->cap, sizeof *x->x);
	memset(x->p.tasks + old, 0, (x->cap - old) * sizeof *x->p.tasks);
	memset(x->x + old, 0, (x->cap - old) * sizeof *x->x);
	x->p.cap = x->cap;
}

/* A claim, orphan or review key's value into d. */
static void
stk_side_read(struct stk_side *d, const struct shrec *rec)
{
	d->mod = rec->mod;
	d->lease = rec->lease;
	d->token = mp_get_strdup(rec->o, "t");
	d->sid = mp_get_strdup(rec->o, "s");
	d->agent = mp_get_strdup(rec->o, "a");
	d->until = mp_get_int(rec->o, "u", 0);
}

/* A token string of a record into t->token ("" when none). */
static void
stk_token(struct task *t, const struct shrec *rec)
{
	const char *s;
	size_t n;

	t->token[0] = '\0';
	if (mp_str(shrec_get(rec, "token"), &s, &n) == 0 && n == TOKEN_LEN) {
		memcpy(t->token, s, n);
		t->token[n] = '\0';
	}
	if (mp_str(shrec_get(rec, "owner_sid"), &s, &n) == 0 && n < sizeof t->owner_sid) {
		memcpy(t->owner_sid, s, n);
		t->owner_sid[n] = '\0';
	}
}

/* One key of the snapshot (its name past the root). */
static void
stk_take(struct stk *x, const char *name, const struct shrec *rec)
{
	unsigned num;
	struct task *t;

	if (strcmp(name, "#") == 0) {
		x->cmod = rec->mod;
		return;
	}
	if (strlen(name) < 6 || (num = task_parse_id(name, 6)) == 0 || num > TASKS_MAX)
		return;
	stk_room(x, num);
	if (name[6] == '\0') {
		if (x->p.tasks[num - 1] != NULL)
			return;
		t = xcalloc(1, sizeof *t);
		t->p = &x->p;
		t->num = num;
		snprintf(t->id, sizeof t->id, "T%u", num);
		taskrow_fields(t, rec->o);
		stk_token(t, rec);
		t->version = (uint64_t)rec->mod;
		x->p.tasks[num - 1] = t;
		x->x[num - 1].mod = rec->mod;
		if (num > x->p.ntasks)
			x->p.ntasks = num;
		return;
	}
	if (strcmp(name + 6, "/c") == 0)
		stk_side_read(&x->x[num - 1].c, rec);
	else if (strcmp(name + 6, "/o") == 0)
		stk_side_read(&x->x[num - 1].o, rec);
	else if (strcmp(name + 6, "/r") == 0)
		stk_side_read(&x->x[num - 1].r, rec);
}

static int
stk_side_is(const struct stk_side *d, const struct task *t)
{
	return (d->mod != 0 && d->token != NULL && strcmp(d->token, t->token) == 0);
}

/*
 * Where t's claim stands: live (its key), orphaned (running on its
 * lease_seconds) or gone, when a task in progress is todo again.
 */
static void
stk_settle(struct stk *x, struct task *t, struct stk_task *e, int64_t now)
{
	char note[160];

	if (e->r.mod != 0 && t->status == TS_REVIEW) {
		e->reviewer = xcalloc(1, sizeof *e->reviewer);
		if (e->r.agent == NULL)
			e->r.agent = xstrdup("?");
		e->reviewer->agent = e->r.agent;
		t->review_s = e->reviewer;
	}
	if (t->token[0] == '\0')
		return;
	if (stk_side_is(&e->c, t)) {
		t->claim_s = &x->live;
		return;
	}
	if (stk_side_is(&e->o, t) && e->o.until > now) {
		/* task_pk_fields reads lease_ev and lease_end_ms: the orphan's deadline */
		t->lease_ev = x->orphan_ev;
		t->lease_end_ms = mono_ms() + (uint64_t)(e->o.until - now);
		return;
	}
	if (t->status != TS_IN_PROGRESS)
		return;
	if (stk_side_is(&e->o, t))
		snprintf(note, sizeof note, "%s's session ended; lease of %g s ran out",
		    t->owner != NULL ? t->owner : "the claimant", t->lease);
	else /* no orphan: its broker died or lost etcd, its lease expired */
		snprintf(note, sizeof note,
		    "%s's broker stopped renewing its etcd lease; the claim went with it",
		    t->owner != NULL ? t->owner : "the claimant");
	task_hist_add(t, NULL, "lease_expired", (int)t->status, TS_TODO, note);
	t->status = TS_TODO;
	t->token[0] = '\0';
	t->changes_pending = 0;
	/* written so with the next write of this task */
	e->c.del = e->c.mod != 0;
	e->o.del = e->o.mod != 0;
}

static void stk_read(struct shcall *);

/*
 * What a snapshot read for review notices holds besides the tasks: who
 * is present (a reviewer? a planner?) and the events' keys.
 */
static void
stk_got_news(struct stk *x, const cJSON *res)
{
	const cJSON *kv;
	struct shrec rec;
	char *role;
	int i;

	cJSON_ArrayForEach(kv, etcd_txn_kvs(res, 1)) {
		if (shrec_read(kv, &rec) != 0)
			continue;
		role = mp_get_strdup(rec.o, "r");
		review_who_add(NULL, role, &x->who);
		free(role);
		shrec_free(&rec);
	}
	for (i = 0; i < REVIEW_NEWS; i++) {
		kv = cJSON_GetArrayItem(etcd_txn_kvs(res, 2 + i), 0);
		x->evs[i] = kv != NULL ? cJSON_Duplicate(kv, 1) : NULL;
	}
	x->tcmp = cJSON_CreateArray();
	x->tok = cJSON_CreateArray();
}

/* The snapshot arrived: the operation decides on it. */
static void
stk_got(struct shcall *c, const cJSON *res)
{
	struct stk *x = c->st;
	struct session *s = shcall_session(c);
	const cJSON *kv, *kvs;
	struct shrec rec;
	size_t rootlen = strlen(x->root), i;
	int64_t now = wall_ms();

	stk_forget(x);
	x->read = 1;
	x->rev = etcd_revision(res);
	x->cmod = 0;
	x->p.status = PS_PLANNING;
	kvs = cJSON_GetObjectItemCaseSensitive(res, "kvs");
	if (x->tells) {
		stk_got_news(x, res);
		kvs = etcd_txn_kvs(res, 0);
	}
	cJSON_ArrayForEach(kv, kvs) {
		if (shrec_read(kv, &rec) != 0)
			continue;
		if (rec.key != NULL && strncmp(rec.key, x->root, rootlen) == 0)
			stk_take(x, rec.key + rootlen, &rec);
		shrec_free(&rec);
	}
	for (i = 0; i < x->p.ntasks; i++) {
		if (x->p.tasks[i] == NULL)
			continue;
		stk_settle(x, x->p.tasks[i], &x->x[i], now);
		if (x->p.tasks[i]->owner != NULL)
			x->p.status = PS_IN_PROGRESS;
	}
	if (s->client == NULL) { /* gone meanwhile */
		shcall_end(c);
		return;
	}
	x->r.c = s->client;
	x->run(c);
}

/*
 * Read every task key of the project, then run; a call that tells of
 * reviews reads in the same txn who is present and the events' keys.
 */
static void
stk_read(struct shcall *c)
{
	struct stk *x = c->st;
	cJSON *body, *ok;
	char *end, *key;
	int i;

	if (x->tells) {
		ok = cJSON_CreateArray();
		cJSON_AddItemToArray(ok, etcd_get(x->root, 1, 0, 0));
		key = shared_root(c, "a");
		cJSON_AddItemToArray(ok, etcd_get(key, 1, 0, 0));
		free(key);
		for (i = 0; i < REVIEW_NEWS; i++) {
			key = shared_event_key(c, review_events[i]);
			cJSON_AddItemToArray(ok, etcd_get(key, 0, 0, 0));
			free(key);
		}
		shcall_txn(c, NULL, ok, NULL, stk_got);
		return;
	}
	body = cJSON_CreateObject();
	end = etcd_prefix_end(x->root);
	cJSON_AddItemToObject(body, "key", etcd_b64(x->root, strlen(x->root)));
	cJSON_AddItemToObject(body, "range_end", etcd_b64(end, strlen(end)));
	free(end);
	shcall_post(c, "/v3/kv/range", body, stk_got);
}

/* A blocked claim's wake-up: an orphaned claim's lease ran out. */
static void
stk_orphan_cb(evutil_socket_t fd, short events, void *arg)
{
	struct shcall *c = arg;

	shcall_unwatch(c);
	stk_read(c);
}

/* A call for request r: its arguments kept for the answers to come. */
static struct shcall *
stk_new(struct req *r, void (*run)(struct shcall *))
{
	struct shcall *c = shcall_new(r, sizeof(struct stk));
	struct stk *x = c->st;
	struct fbuf fb;
	size_t i, len;

	c->on_end = stk_end;
	x->run = run;
	x->root = shared_root(c, "t");
	x->r = *r;
	fbuf_init(&fb);
	pk_array(&fb, r->op->nargs);
	for (i = 0; i < r->op->nargs; i++) {
		if (r->vals[i] != NULL)
			pk_object(&fb, r->vals[i]);
		else
			pk_nil(&fb);
	}
	len = fb.sb.size - FRAME_HDR;
	x->abuf = xmalloc(len);
	memcpy(x->abuf, fb.sb.data + FRAME_HDR, len);
	fbuf_free(&fb);
	msgpack_unpacked_init(&x->args);
	/* our own packing of what op_validate checked: it unpacks */
	msgpack_unpack_next(&x->args, (const char *)x->abuf, len, NULL);
	for (i = 0; i < r->op->nargs; i++)
		x->r.vals[i] = r->vals[i] != NULL ? &x->args.data.via.array.ptr[i] : NULL;
	x->p.name = r->s->project;
	x->orphan_ev = timer_new(stk_orphan_cb, c);
	return (c);
}

/* ---- writing ---- */

/* The key of task num's record (side: NULL) or of a side ("c", "o", "r"). */
static char *
stk_key(const struct stk *x, unsigned num, const char *side)
{
	char *key;

	xasprintf(&key, "%s%06u%s%s", x->root, num, side != NULL ? "/" : "",
	    side != NULL ? side : "");
	return (key);
}

/* A side's key: compared with what was read, and written or deleted as marked. */
static void
stk_side_txn(struct shcall *c, unsigned num, const char *name, const struct stk_side *d,
    const struct task *t, cJSON *cmp, cJSON *ok)
{
	struct stk *x = c->st;
	struct session *s = shcall_session(c);
	char *key = stk_key(x, num, name);
	struct fbuf fb;

	cJSON_AddItemToArray(cmp, etcd_cmp(key, "MOD", "EQUAL", d->mod));
	if (d->put) {
		fbuf_init(&fb);
		pk_map_open(&fb);
		if (strcmp(name, "r") != 0)
			pk_kstr(&fb, "t", t->token);
		pk_kstr(&fb, "s", s->id);
		pk_kstr(&fb, "a", s->agent);
		pk_kstr(&fb, "h", shared_host());
		if (strcmp(name, "o") == 0)
			pk_kint(&fb, "u", d->until);
		pk_map_close(&fb);
		cJSON_AddItemToArray(ok,
		    etcd_put(key, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR,
			strcmp(name, "o") == 0 ? 0 : shcall_lease_kept(c)));
		fbuf_free(&fb);
	} else if (d->del && d->mod != 0)
		cJSON_AddItemToArray(ok, etcd_del(key, 0));
	free(key);
}

/* Remember a claim the session took (its key's mod revision: rev). */
static void
stk_hold(struct shcall *c, const struct task *t, int64_t rev)
{
	struct session *s = shcall_session(c);
	struct stk *x = c->st;
	struct stk_sess *h;
	struct stk_held *e;

	HASH_FIND_PTR(stk_sessions, &s, h);
	if (h == NULL) {
		h = xcalloc(1, sizeof *h);
		h->s = s;
		HASH_ADD_PTR(stk_sessions, s, h);
	}
	e = xcalloc(1, sizeof *e);
	e->key = stk_key(x, t->num, NULL);
	e->token = xstrdup(t->token);
	e->agent = xstrdup(s->agent);
	e->sid = xstrdup(s->id);
	e->lease = t->lease;
	e->mod = rev;
	e->next = h->held;
	h->held = e;
}

/* The txn's answer: done (then), or someone wrote first: read and decide again. */
static void
stk_written(struct shcall *c, const cJSON *res)
{
	struct stk *x = c->st;
	struct session *s = shcall_session(c);
	int64_t rev = etcd_revision(res);
	struct task *t;
	size_t i;

	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "succeeded"))) {
		if (++x->tries == STK_TRIES) {
			shcall_error(c, ERR_CONFLICT, NULL,
			    "other hosts changed these tasks first %d times in a row; try "
			    "again",
			    STK_TRIES);
			return;
		}
		stk_read(c);
		return;
	}
	for (i = 0; i < x->p.ntasks; i++) {
		if ((t = x->p.tasks[i]) == NULL || !x->x[i].write)
			continue;
		t->version = (uint64_t)rev;
		if (x->x[i].c.put)
			stk_hold(c, t, rev);
		if (t->nhist > 0)
			shared_feed(s, x->r.op->name, "task", t->id, "%s %s: %s",
			    t->hist[t->nhist - 1].action, task_status_names[t->status],
			    t->title);
	}
	if (s->client == NULL) {
		shcall_end(c);
		return;
	}
	x->r.c = s->client;
	if (x->told)
		shared_msg_trim(c, x->then);
	else
		x->then(c);
}

/* Move the items of from (NULL: none) to the end of to. */
static void
stk_move_items(cJSON *to, cJSON *from)
{
	cJSON *it;

	while (from != NULL && (it = cJSON_DetachItemFromArray(from, 0)) != NULL)
		cJSON_AddItemToArray(to, it);
}

/* Write every task marked, comparing what was read; then(c) once written. */
static void
stk_commit(struct shcall *c, void (*then)(struct shcall *))
{
	struct stk *x = c->st;
	cJSON *cmp = cJSON_CreateArray(), *ok = cJSON_CreateArray();
	struct stk_task *e;
	struct task *t;
	struct fbuf fb;
	char *key;
	size_t i;

	x->then = then;
	if (x->bump) {
		key = stk_key(x, 0, NULL);
		strcpy(key + strlen(x->root), "#");
		fbuf_init(&fb);
		pk_map_open(&fb);
		pk_kuint(&fb, "n", x->p.ntasks);
		pk_map_close(&fb);
		cJSON_AddItemToArray(cmp, etcd_cmp(key, "MOD", "EQUAL", x->cmod));
		cJSON_AddItemToArray(ok,
		    etcd_put(key, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, 0));
		fbuf_free(&fb);
		free(key);
	}
	for (i = 0; i < x->p.ntasks; i++) {
		e = &x->x[i];
		if ((t = x->p.tasks[i]) == NULL || !e->write)
			continue;
		t->updated_at = wall_ms();
		key = stk_key(x, t->num, NULL);
		cJSON_AddItemToArray(cmp, etcd_cmp(key, "MOD", "EQUAL", e->mod));
		fbuf_init(&fb);
		taskrow_pack(&fb, t);
		cJSON_AddItemToArray(ok,
		    etcd_put(key, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, 0));
		fbuf_free(&fb);
		free(key);
		stk_side_txn(c, t->num, "c", &e->c, t, cmp, ok);
		stk_side_txn(c, t->num, "o", &e->o, t, cmp, ok);
		stk_side_txn(c, t->num, "r", &e->r, t, cmp, ok);
	}
	stk_move_items(cmp, x->tcmp);
	stk_move_items(ok, x->tok);
	shcall_txn(c, cmp, ok, NULL, stk_written);
}

/* ---- answers ---- */

/* Answer with task t in full and a hint, as task.c does. */
static void
stk_reply_task(struct shcall *c, const struct task *t, const char *hint)
{
	struct stk *x = c->st;

	task_reply(&x->r, t, hint);
	shcall_end(c);
}

/* The task "id" names, or NULL after answering not_found (and ending c). */
static struct task *
stk_find(struct shcall *c, const char *arg)
{
	struct stk *x = c->st;
	struct task *t = task_find(&x->r, &x->p, arg_get(&x->r, arg), arg);

	if (t == NULL)
		shcall_end(c);
	return (t);
}

/* Refuse a task with files: their reservations are not shared. */
static int
stk_no_files(struct shcall *c)
{
	struct stk *x = c->st;
	const msgpack_object *f = arg_get(&x->r, "files");

	if (f == NULL || f->type != MSGPACK_OBJECT_ARRAY || f->via.array.size == 0)
		return (0);
	shcall_error(c, ERR_INVALID, "files",
	    "files: a task of a shared project (batond --share) cannot reserve files: file "
	    "reservations are each host's own; take file: locks (shared) when you edit "
	    "them instead");
	return (-1);
}

/* ---- claims and moves ---- */

/*
 * The caller's session as owner_sid says it in etcd: session ids are
 * each broker's own, its lease is the cluster's.
 */
static void
stk_sid(const struct shcall *c, char *buf)
{
	snprintf(buf, sizeof((struct task *)0)->owner_sid, "L%llx",
	    (unsigned long long)shcall_lease_id(c));
}

/* Did the caller do t: its session claimed or submitted it, or it bears its claimant's name? */
static int
stk_is_own(const struct shcall *c, const struct task *t)
{
	char sid[sizeof((struct task *)0)->owner_sid];

	stk_sid(c, sid);
	return (strcmp(t->owner_sid, sid) == 0 ||
	    (t->owner != NULL && strcmp(t->owner, shcall_session(c)->agent) == 0));
}

/* The claim of t is the caller's: a fresh token, its key bound to the caller's lease. */
static void
stk_claim_take(struct shcall *c, struct task *t, double lease)
{
	struct stk *x = c->st;
	struct session *s = shcall_session(c);
	struct stk_task *e = &x->x[t->num - 1];
	int from = (int)t->status;

	t->status = TS_IN_PROGRESS;
	random_hex(t->token, sizeof t->token);
	t->lease = lease;
	t->changes_pending = t->changes_requested = 0;
	free(t->owner);
	t->owner = xstrdup(s->agent);
	stk_sid(c, t->owner_sid);
	t->claim_s = &x->live;
	task_hist_add(t, s, "claimed", from, TS_IN_PROGRESS, NULL);
	e->write = 1;
	e->c.put = 1;
	e->o.del = 1;
	x->p.status = PS_IN_PROGRESS;
}

/* Forget t's claim (its keys go with the write). */
static void
stk_claim_drop(struct stk *x, struct task *t)
{
	struct stk_task *e = &x->x[t->num - 1];

	t->token[0] = '\0';
	t->changes_pending = 0;
	t->claim_s = NULL;
	t->lease_ev = NULL;
	e->c.put = e->o.put = 0;
	e->c.del = e->o.del = 1;
}

/* t's review is nobody's any more. */
static void
stk_review_drop(struct stk *x, struct task *t)
{
	x->x[t->num - 1].r.del = 1;
	x->x[t->num - 1].r.put = 0;
	t->review_s = NULL;
}

/* Is t's live claim the caller's (its key on the caller's lease)? */
static int
stk_mine(struct shcall *c, const struct task *t)
{
	struct stk *x = c->st;
	const struct stk_side *d = &x->x[t->num - 1].c;

	return (t->token[0] != '\0' && stk_side_is(d, t) && d->lease == shcall_lease_id(c));
}

/*
 * Is the caller t's claimant: its live claim, or the claim token in
 * argument tokarg (which binds the claim to the caller's session)?
 * Answers permission (ending c) and returns 0 when not.
 */
static int
stk_claim_check(struct shcall *c, struct task *t, const char *tokarg)
{
	struct stk *x = c->st;
	struct stk_task *e = &x->x[t->num - 1];
	const char *tok = NULL;
	size_t n = 0;

	if (stk_mine(c, t))
		return (1);
	if (tokarg != NULL)
		tok = arg_str(&x->r, tokarg, &n);
	if (t->token[0] != '\0' && tok != NULL && token_cmp(t->token, tok, n) == 0) {
		if (t->status == TS_IN_PROGRESS || t->status == TS_REVIEW) {
			stk_sid(c, t->owner_sid);
			t->claim_s = &x->live;
			t->lease_ev = NULL;
			e->write = 1;
			e->c.put = 1;
			e->o.del = 1;
		}
		return (1);
	}
	shcall_error(c, ERR_PERMISSION, tok != NULL ? "token" : "id",
	    "%s is claimed by %s; only its claimant (that session, or the claim token "
	    "task_claim returned) may do this",
	    t->id, t->owner != NULL ? t->owner : "nobody");
	return (0);
}

/*
 * May the caller review t?  Not its own work (self-review is not
 * shared), nor a review another live reviewer took.  Answers and
 * returns -1 when not.
 */
static int
stk_review_check(struct shcall *c, const struct task *t)
{
	struct stk *x = c->st;
	const struct stk_side *r = &x->x[t->num - 1].r;

	if (stk_is_own(c, t)) {
		shcall_error(c, ERR_PERMISSION, "id",
		    "%s was done by %s: a review is by someone else (another session and "
		    "agent); a reviewer or planner reviews it",
		    t->id, t->owner != NULL ? t->owner : "you");
		return (-1);
	}
	if (r->mod != 0 && r->lease != shcall_lease_id(c)) {
		shcall_error(c, ERR_CONFLICT, "id",
		    "%s is being reviewed by %s, who took its review with task_claim {review: "
		    "true}; leave it to them",
		    t->id, r->agent != NULL ? r->agent : "someone");
		return (-1);
	}
	return (0);
}

/* A reviewer's verdict on t. */
static void
stk_reviewed(struct shcall *c, struct task *t, const char *note)
{
	free(t->feedback);
	t->feedback = note != NULL ? xstrdup(note) : NULL;
	free(t->reviewer);
	t->reviewer = xstrdup(shcall_session(c)->agent);
	t->reviewed_at = wall_ms();
	stk_review_drop(c->st, t);
}

/*
 * Tell of what the caller did to t (REVIEW_SUBMITTED...) as review.c
 * does: its notice mailed, its event signalled, in the txn of the move.
 */
static void
stk_tell(struct shcall *c, const struct task *t, int what)
{
	struct stk *x = c->st;
	const char *by = shcall_session(c)->agent;
	struct review_notice n;
	struct fbuf fb;
	char *key;

	if (x->tok == NULL) /* (not a call that tells: its snapshot has no news) */
		return;
	review_notice(&n, what, t, by, &x->who, 1);
	cJSON_AddItemToArray(x->tok,
	    shared_msg_put(c, by, n.to, n.subject, n.body, strlen(n.body), t->id, &key));
	free(key);
	fbuf_init(&fb);
	review_notice_pack(&fb, &n, t, by);
	shared_event_txn(c, n.event, x->evs[what], fb.sb.data + FRAME_HDR,
	    fb.sb.size - FRAME_HDR, x->tcmp, x->tok);
	fbuf_free(&fb);
	review_notice_free(&n);
	x->told = 1;
}

/*
 * Move t to status to as task_move does (review.c), in the snapshot:
 * the machine, the status the operation starts from, who may make it.
 * 0 done (t marked to write); -1 after answering (c ended).
 */
static int
stk_move(struct shcall *c, struct task *t, int to, const char *note, const char *tokarg)
{
	struct stk *x = c->st;
	struct session *s = shcall_session(c);
	struct stk_task *e = &x->x[t->num - 1];
	int from = (int)t->status;

	if (!task_move_ok(x->r.op->name, from, to)) {
		task_refuse(&x->r, t, to);
		shcall_end(c);
		return (-1);
	}
	switch (to) {
	case TS_IN_PROGRESS:
		if (from == TS_TODO) {
			if (!task_claimable_by(t, s)) {
				shcall_error(c, ERR_CONFLICT, "status",
				    "%s cannot be claimed: %s", t->id,
				    t->assignee != NULL && strcmp(t->assignee, s->agent) != 0
					? "it is assigned to someone else"
					: "a dependency is not done yet");
				return (-1);
			}
			stk_claim_take(c, t, TASK_LEASE_DEFAULT);
			return (0);
		}
		if (stk_review_check(c, t) != 0)
			return (-1);
		stk_reviewed(c, t, note);
		t->changes_pending = t->changes_requested = 1;
		if (t->token[0] != '\0' && !stk_side_is(&e->c, t)) {
			/* its claimant's session is gone: the lease runs from now */
			e->o.put = 1;
			e->o.del = 0;
			e->o.until = wall_ms() + (int64_t)(t->lease * 1000);
		}
		task_hist_add(t, s, "changes_requested", TS_REVIEW, TS_IN_PROGRESS, note);
		break;
	case TS_REVIEW:
		if (!stk_claim_check(c, t, tokarg))
			return (-1);
		free(t->notes);
		t->notes = note != NULL ? xstrdup(note) : NULL;
		t->changes_pending = t->changes_requested = 0;
		stk_sid(c, t->owner_sid);
		task_hist_add(t, s, "submitted", from, to, note);
		break;
	case TS_DONE:
		if (stk_review_check(c, t) != 0)
			return (-1);
		stk_reviewed(c, t, note);
		stk_claim_drop(x, t);
		task_hist_add(t, s, "approved", from, to, note);
		break;
	case TS_TODO:
		if (from == TS_IN_PROGRESS && !stk_claim_check(c, t, tokarg))
			return (-1);
		stk_claim_drop(x, t);
		task_hist_add(t, s, from == TS_IN_PROGRESS ? "released" : "unblocked", from, to,
		    note);
		break;
	default: /* blocked, cancelled */
		stk_claim_drop(x, t);
		stk_review_drop(x, t);
		task_hist_add(t, s, to == TS_BLOCKED ? "blocked" : "cancelled", from, to, note);
		break;
	}
	t->status = (enum task_status)to;
	e->write = 1;
	if (to == TS_REVIEW)
		stk_tell(c, t, REVIEW_SUBMITTED);
	else if (to == TS_IN_PROGRESS)
		stk_tell(c, t, REVIEW_CHANGES);
	return (0);
}

/* ---- task_create, task_get, task_list, task_update ---- */

static void
stk_created(struct shcall *c)
{
	struct stk *x = c->st;
	struct task *t = x->p.tasks[x->p.ntasks - 1];
	char hint[256];

	task_created_hint(t, hint, sizeof hint);
	stk_reply_task(c, t, hint);
}

static void
stk_create_run(struct shcall *c)
{
	struct stk *x = c->st;
	struct task *t;

	if ((t = task_build(&x->r, &x->p)) == NULL) {
		shcall_end(c);
		return;
	}
	stk_room(x, t->num);
	x->p.tasks[t->num - 1] = t;
	x->p.ntasks = t->num;
	memset(&x->x[t->num - 1], 0, sizeof x->x[0]);
	task_hist_add(t, shcall_session(c), "created", -1, TS_TODO, NULL);
	x->x[t->num - 1].write = 1;
	x->bump = 1;
	stk_commit(c, stk_created);
}

static void
stk_leased_read(struct shcall *c, const cJSON *res)
{
	stk_read(c);
}

void
shared_task_create(struct req *r)
{
	struct shcall *c = stk_new(r, stk_create_run);

	if (stk_no_files(c) == 0)
		shcall_leased(c, stk_leased_read);
}

static void
stk_get_run(struct shcall *c)
{
	struct task *t = stk_find(c, "id");

	if (t != NULL)
		stk_reply_task(c, t, NULL);
}

void
shared_task_get(struct req *r)
{
	stk_read(stk_new(r, stk_get_run));
}

static void
stk_list_run(struct shcall *c)
{
	struct stk *x = c->st;

	task_list_reply(&x->r, &x->p);
	shcall_end(c);
}

void
shared_task_list(struct req *r)
{
	stk_read(stk_new(r, stk_list_run));
}

static void
stk_updated(struct shcall *c)
{
	struct stk *x = c->st;

	stk_reply_task(c, x->ts[0], NULL);
}

static void
stk_update_run(struct shcall *c)
{
	struct stk *x = c->st;
	struct task_update_args u;
	struct task *t;
	int to, changed = 0;

	if ((t = stk_find(c, "id")) == NULL)
		return;
	if (task_update_parse(&x->r, &x->p, t, &u) != 0) {
		shcall_end(c);
		return;
	}
	to = task_arg_choice(&x->r, "status", task_status_names, TS_COUNT, -1);
	if (to >= 0 && to != (int)t->status) {
		if (stk_move(c, t, to, x->note, "token") != 0) {
			task_update_args_free(&u);
			return;
		}
		changed = 1;
	}
	if (task_update_fields_set(&x->r, t, &u)) {
		task_hist_add(t, shcall_session(c), "updated", -1, -1, x->note);
		x->x[t->num - 1].write = 1;
		x->bump |= arg_has(&x->r, "depends_on"); /* one dependency change at a time */
		changed = 1;
	}
	task_update_args_free(&u);
	if (!changed) {
		stk_reply_task(c, t, "nothing changed");
		return;
	}
	x->ts = xreallocarray(NULL, 1, sizeof *x->ts);
	x->ts[0] = t;
	x->nts = 1;
	stk_commit(c, stk_updated);
}

void
shared_task_update(struct req *r)
{
	struct shcall *c = stk_new(r, stk_update_run);
	struct stk *x = c->st;

	x->note = arg_text(r, "note");
	x->tells = 1;
	if (stk_no_files(c) == 0)
		shcall_leased(c, stk_leased_read);
}

/* ---- task_submit, task_request_changes, task_release ---- */

static void
stk_moved(struct shcall *c)
{
	struct stk *x = c->st;

	stk_reply_task(c, x->ts[0], x->hint);
}

/* The move of the single-task operations: task "id" to status to. */
static void
stk_simple_run(struct shcall *c)
{
	struct stk *x = c->st;
	struct task *t;
	int to = TS_REVIEW;
	const char *tokarg = "token";

	if ((t = stk_find(c, "id")) == NULL)
		return;
	if (strcmp(x->r.op->name, "task_request_changes") == 0) {
		to = TS_IN_PROGRESS;
		tokarg = NULL;
	} else if (strcmp(x->r.op->name, "task_release") == 0)
		to = arg_bool(&x->r, "requeue") ? TS_TODO : TS_BLOCKED;
	if (stk_move(c, t, to, x->note, tokarg) != 0)
		return;
	x->ts = xreallocarray(NULL, 1, sizeof *x->ts);
	x->ts[0] = t;
	x->nts = 1;
	stk_commit(c, stk_moved);
}

static void
stk_simple(struct req *r, const char *notearg, const char *hint)
{
	struct shcall *c = stk_new(r, stk_simple_run);
	struct stk *x = c->st;

	x->note = arg_text(r, notearg);
	x->hint = hint;
	x->tells = strcmp(r->op->name, "task_release") != 0;
	shcall_leased(c, stk_leased_read);
}

void
shared_task_submit(struct req *r)
{
	stk_simple(r, "notes", REVIEW_HINT_SUBMITTED);
}

void
shared_task_request_changes(struct req *r)
{
	stk_simple(r, "feedback", REVIEW_HINT_CHANGES);
}

void
shared_task_release(struct req *r)
{
	stk_simple(r, "reason",
	    arg_bool(r, "requeue")
		? "back in todo for anyone to claim"
		: "blocked: task_update {status:\"todo\"} puts it back in the queue");
}

/* ---- task_approve ---- */

static void
stk_approved(struct shcall *c)
{
	struct stk *x = c->st;
	struct task_counts n;
	struct fbuf *fb;
	char hint[200];
	size_t i;
	int all;

	task_counts(&x->p, &n);
	if ((all = task_all_done(&x->p, &n)))
		snprintf(hint, sizeof hint,
		    "every task is done (the planners were told): check the acceptance "
		    "criteria; a shared project serves no project_set");
	else
		snprintf(hint, sizeof hint, "%zu in review, %zu ready, %zu in progress",
		    n.n[TS_REVIEW], n.ready, n.n[TS_IN_PROGRESS]);
	fb = shcall_reply_begin(c);
	pk_map_open(fb);
	pk_str(fb, "approved");
	pk_array(fb, x->nts);
	for (i = 0; i < x->nts; i++)
		pk_str(fb, x->ts[i]->id);
	project_pk_summary(fb, &x->p);
	pk_kbool(fb, "all_done", all);
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

static void
stk_approve_run(struct shcall *c)
{
	struct stk *x = c->st;
	const msgpack_object *ids = arg_get(&x->r, "ids");
	const char *field = ids != NULL ? "ids" : "id";
	struct task_counts cnt;
	struct task *t;
	size_t i, j, n = ids != NULL ? ids->via.array.size : 1;

	x->ts = xreallocarray(NULL, n, sizeof *x->ts);
	for (i = 0; i < n; i++) {
		t = task_find(&x->r, &x->p,
		    ids != NULL ? &ids->via.array.ptr[i] : arg_get(&x->r, "id"), field);
		if (t == NULL) {
			shcall_end(c);
			return;
		}
		for (j = 0; j < i && x->ts[j] != t; j++)
			;
		if (j < i) {
			shcall_error(c, ERR_INVALID, "ids", "%s is listed twice", t->id);
			return;
		}
		if (t->status != TS_REVIEW) {
			task_refuse(&x->r, t, TS_DONE);
			shcall_end(c);
			return;
		}
		if (stk_review_check(c, t) != 0)
			return;
		x->ts[i] = t;
	}
	/* all or none: every task was checked before any moves */
	for (i = 0; i < n; i++)
		stk_move(c, x->ts[i], TS_DONE, x->note, NULL);
	x->nts = n;
	task_counts(&x->p, &cnt);
	if (task_all_done(&x->p, &cnt))
		stk_tell(c, x->ts[n - 1], REVIEW_ALL_DONE);
	stk_commit(c, stk_approved);
}

void
shared_task_approve(struct req *r)
{
	const msgpack_object *ids = arg_get(r, "ids");
	struct shcall *c;

	if (ids != NULL && ids->via.array.size > STK_APPROVE_MAX) {
		reply_error(r->c, r->id, ERR_LIMIT, "ids",
		    "a shared project approves at most %d tasks at once (one etcd txn); "
		    "approve the rest in another call",
		    STK_APPROVE_MAX);
		return;
	}
	c = stk_new(r, stk_approve_run);
	((struct stk *)c->st)->note = arg_text(r, "feedback");
	((struct stk *)c->st)->tells = 1;
	shcall_leased(c, stk_leased_read);
}

/* ---- task_claim ---- */

#define STK_HINT_TAKEN \
	"yours: do it, then task_submit {id, notes}; take file: locks before editing shared " \
	"files"

static void stk_claim_run(struct shcall *);

/* The claim's cw for claim_yes and claim_no. */
static void
stk_cw(struct shcall *c, struct claim_wait *cw)
{
	struct stk *x = c->st;

	memset(cw, 0, sizeof *cw);
	cw->p = &x->p;
	cw->lease = arg_num(&x->r, "lease_seconds");
	cw->review = arg_bool(&x->r, "review");
	cw->cap = x->wait > 0 ? c->cap : 0;
}

static void
stk_claim_answer(struct shcall *c, struct task *t, int yes, const char *hint)
{
	struct stk *x = c->st;
	struct claim_wait cw;

	stk_cw(c, &cw);
	if (yes)
		claim_yes(shcall_session(c), x->r.id, &cw, t, x->claimed_review, hint);
	else
		claim_no(shcall_session(c), x->r.id, &cw, t, 0, hint);
	shcall_end(c);
}

static void
stk_claimed(struct shcall *c)
{
	struct stk *x = c->st;

	stk_claim_answer(c, x->ts[0], 1, x->hint);
}

/* Claim (or take the review of, or hand back) t: written, then answered yes. */
static void
stk_claim_write(struct shcall *c, struct task *t, const char *hint)
{
	struct stk *x = c->st;

	x->ts = xreallocarray(NULL, 1, sizeof *x->ts);
	x->ts[0] = t;
	x->nts = 1;
	x->hint = hint;
	x->x[t->num - 1].write = 1;
	stk_commit(c, stk_claimed);
}

/* May the caller take the review of t now? */
static int
stk_reviewable(struct shcall *c, const struct task *t)
{
	struct stk *x = c->st;
	const struct stk_side *r = &x->x[t->num - 1].r;

	return (t->status == TS_REVIEW && (r->mod == 0 || r->lease == shcall_lease_id(c)) &&
	    !stk_is_own(c, t));
}

/* task_claim {review: true}: 1 when answered (or writing). */
static int
stk_try_review(struct shcall *c, unsigned num)
{
	struct stk *x = c->st;
	struct session *s = shcall_session(c);
	struct task *t, *best = NULL;
	char hint[256];
	size_t i;

	for (i = 0; i < x->p.ntasks; i++) {
		t = x->p.tasks[i];
		if (t == NULL || (num != 0 && t->num != num) || !stk_reviewable(c, t))
			continue;
		if (best == NULL || t->priority > best->priority)
			best = t;
	}
	if (best != NULL) {
		x->claimed_review = 1;
		x->x[best->num - 1].r.put = 1;
		best->review_s = s;
		stk_claim_write(c, best, CLAIM_HINT_REVIEW);
		return (1);
	}
	if (!x->final)
		return (0);
	t = num != 0 ? task_by_num(&x->p, num) : NULL;
	if (t != NULL)
		snprintf(hint, sizeof hint,
		    "%s is %s%s%s%s; call again with wait_seconds to wait for its review",
		    t->id, task_status_names[t->status],
		    t->review_s != NULL ? ", reviewed by " : "",
		    t->review_s != NULL ? t->review_s->agent : "",
		    t->status == TS_REVIEW && stk_is_own(c, t)
			? " (your own work: someone else reviews it)"
			: "");
	else
		snprintf(hint, sizeof hint,
		    "nothing to review now; call task_claim {review: true, wait_seconds} to "
		    "wait for the next submit");
	stk_claim_answer(c, t, 0, hint);
	return (1);
}

/* Hand back t, whose changes were requested, to its claimant. */
static void
stk_changes_back(struct shcall *c, struct task *t)
{
	t->changes_pending = 0;
	stk_claim_write(c, t, CLAIM_HINT_CHANGES);
}

/* task_claim {id}: 1 when answered (or writing). */
static int
stk_try_num(struct shcall *c, struct task *t)
{
	struct stk *x = c->st;
	struct session *s = shcall_session(c);
	char hint[256];

	if (t->status == TS_IN_PROGRESS && stk_mine(c, t)) {
		if (t->changes_pending)
			stk_changes_back(c, t);
		else
			stk_claim_answer(c, t, 1, "already yours; task_submit when done");
		return (1);
	}
	if (task_claimable_by(t, s)) {
		stk_claim_take(c, t, arg_num(&x->r, "lease_seconds"));
		stk_claim_write(c, t, STK_HINT_TAKEN);
		return (1);
	}
	if (!x->final && t->status != TS_DONE && t->status != TS_CANCELLED &&
	    t->status != TS_REVIEW)
		return (0);
	claim_busy_hint(t, hint, sizeof hint);
	stk_claim_answer(c, t, 0, hint);
	return (1);
}

/* task_claim without id: changes requested of the caller first, then the best ready. */
static int
stk_try_best(struct shcall *c)
{
	struct stk *x = c->st;
	struct session *s = shcall_session(c);
	struct task *t, *best = NULL;
	size_t i;

	for (i = 0; i < x->p.ntasks; i++) {
		t = x->p.tasks[i];
		if (t != NULL && t->status == TS_IN_PROGRESS && t->changes_pending &&
		    stk_mine(c, t)) {
			stk_changes_back(c, t);
			return (1);
		}
	}
	for (i = 0; i < x->p.ntasks; i++) {
		t = x->p.tasks[i];
		if (t != NULL && task_claimable_by(t, s) &&
		    (best == NULL || t->priority > best->priority))
			best = t;
	}
	if (best != NULL) {
		stk_claim_take(c, best, arg_num(&x->r, "lease_seconds"));
		stk_claim_write(c, best, STK_HINT_TAKEN);
		return (1);
	}
	if (!x->final)
		return (0);
	stk_claim_answer(c, NULL, 0,
	    x->p.ntasks == 0 ? "no tasks yet; call task_claim with wait_seconds to wait "
			       "for the planner"
			     : "no ready task now; call task_claim again with wait_seconds "
			       "to wait for one");
	return (1);
}

static void
stk_claim_timeout(struct shcall *c)
{
	struct stk *x = c->st;

	x->final = 1;
	shcall_unwatch(c);
	event_del(x->orphan_ev);
	stk_read(c);
}

/* Something changed under t/ (or its history was compacted): decide again. */
static void
stk_claim_event(struct shcall *c, const cJSON *ev)
{
	shcall_unwatch(c);
	event_del(((struct stk *)c->st)->orphan_ev);
	stk_read(c);
}

/* Wait for a change under t/ from the snapshot on, or for an orphan's lease to run out. */
static void
stk_claim_park(struct shcall *c)
{
	struct stk *x = c->st;
	uint64_t first = 0;
	size_t i;

	for (i = 0; i < x->p.ntasks; i++) {
		if (x->p.tasks[i] != NULL && x->p.tasks[i]->lease_ev != NULL &&
		    (first == 0 || x->p.tasks[i]->lease_end_ms < first))
			first = x->p.tasks[i]->lease_end_ms;
	}
	if (c->timer == NULL)
		shcall_wait(c, x->wait, stk_claim_timeout);
	if (first != 0)
		timer_at(x->orphan_ev, first + 5);
	shcall_watch(c, x->root, 1, x->rev + 1, 0, stk_claim_event);
}

static void
stk_claim_run(struct shcall *c)
{
	struct stk *x = c->st;
	struct task *t = NULL;
	int review = arg_bool(&x->r, "review"), done;

	if (arg_has(&x->r, "id") && (t = stk_find(c, "id")) == NULL)
		return;
	if (t != NULL && !review && arg_has(&x->r, "token")) {
		if (t->token[0] == '\0') {
			shcall_error(c, ERR_CONFLICT, "token",
			    "%s is %s and has no claim to take over", t->id,
			    task_status_names[t->status]);
			return;
		}
		if (!stk_claim_check(c, t, "token"))
			return;
		task_hist_add(t, shcall_session(c), "reattached", -1, -1, NULL);
		stk_claim_write(c, t, "the claim is bound to this session now");
		return;
	}
	if (t != NULL && !review &&
	    (t->status == TS_DONE || t->status == TS_CANCELLED || t->status == TS_REVIEW)) {
		task_refuse(&x->r, t, TS_IN_PROGRESS);
		shcall_end(c);
		return;
	}
	if (x->wait <= 0)
		x->final = 1;
	if (review)
		done = stk_try_review(c, t != NULL ? t->num : 0);
	else if (t != NULL)
		done = stk_try_num(c, t);
	else
		done = stk_try_best(c);
	if (!done)
		stk_claim_park(c);
}

void
shared_task_claim(struct req *r)
{
	struct shcall *c = stk_new(r, stk_claim_run);

	((struct stk *)c->st)->wait = arg_num(r, "wait_seconds");
	shcall_leased(c, stk_leased_read);
}

/* ---- sessions ---- */

/* The session's claims are orphans now: the last one written revokes the lease. */
struct stk_end {
	int64_t lease;
	size_t pending;
};

static void
stk_orphaned(void *arg, const cJSON *res, const char *err)
{
	struct stk_end *e = arg;

	if (--e->pending > 0)
		return;
	etcd_revoke(e->lease);
	free(e);
}

/*
 * Session s ends with its lease: its live claims move to orphan keys
 * (each if its claim key is still the one it wrote), which run on
 * their lease_seconds; then the lease is revoked.  1 when that revocation
 * is this function's (it had claims), 0 for the caller to revoke now.
 */
int
shared_task_session_end(const struct session *s, int64_t lease)
{
	struct stk_sess *h;
	struct stk_held *e, *next;
	struct stk_end *end;
	struct fbuf fb;
	cJSON *cmp, *ok;
	char *ckey, *okey;

	HASH_FIND_PTR(stk_sessions, &s, h);
	if (h == NULL)
		return (0);
	HASH_DEL(stk_sessions, h);
	end = xcalloc(1, sizeof *end);
	end->lease = lease;
	for (e = h->held; e != NULL; e = next) {
		next = e->next;
		if (lease != 0) {
			xasprintf(&ckey, "%s/c", e->key);
			xasprintf(&okey, "%s/o", e->key);
			fbuf_init(&fb);
			pk_map_open(&fb);
			pk_kstr(&fb, "t", e->token);
			pk_kstr(&fb, "s", e->sid);
			pk_kstr(&fb, "a", e->agent);
			pk_kstr(&fb, "h", shared_host());
			pk_kint(&fb, "u", wall_ms() + (int64_t)(e->lease * 1000));
			pk_map_close(&fb);
			cmp = cJSON_CreateArray();
			ok = cJSON_CreateArray();
			cJSON_AddItemToArray(cmp, etcd_cmp(ckey, "MOD", "EQUAL", e->mod));
			cJSON_AddItemToArray(ok,
			    etcd_put(okey, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, 0));
			fbuf_free(&fb);
			end->pending++;
			etcd_post("/v3/kv/txn", etcd_txn(cmp, ok, NULL), stk_orphaned, end);
			free(ckey);
			free(okey);
		}
		free(e->key);
		free(e->token);
		free(e->agent);
		free(e->sid);
		free(e);
	}
	free(h);
	if (end->pending == 0) {
		free(end);
		return (0);
	}
	return (1);
}
