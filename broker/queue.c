/*
 * Work queues: named FIFOs of payloads with integer priorities, taken
 * one at a time under a lease.  A claim hands out a lease token (the
 * capability to finish the item) and is bound twice: to the claiming
 * session, whose end puts the item back at once, and to lease_seconds,
 * after which it goes back too.  A worker that dies loses nothing.  (A
 * `baton call` session ends with its call: its leases are bound to
 * lease_seconds only.)
 *
 * Unlike tasks (task.c: a reviewed plan with a status machine), a queue
 * item is just work to be done once: pending -> leased -> done or
 * failed, or back to pending on retry, a lost lease or a dead session.
 * Finished items stay listed until QUEUE_FINISHED_MAX newer ones push
 * them out.  Names are per project; "global:" queues are shared.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define QUEUE_ITEMS_MAX 10000   /* items the broker holds, finished ones included */
#define QUEUE_FINISHED_MAX 1000 /* finished items kept for queue_list */

enum qstate { Q_PENDING, Q_LEASED, Q_DONE, Q_FAILED };
static const char *const qstate_names[] = { "pending", "leased", "done", "failed" };

struct qitem {
	char *key;     /* project '\n' queue '\n' id: the store key */
	char *project; /* namespace */
	char *queue;
	uint64_t id;
	int64_t priority;
	char *payload;
	char *author;
	enum qstate state;
	int64_t attempts; /* claims so far */
	int64_t created_wall, finished_wall;
	/* while leased */
	struct session *lease_s; /* NULL after a restart */
	char *lease_agent;
	char token[33];
	uint64_t lease_expires_ms;
	struct event *lease_ev;
	UT_hash_handle hh;        /* by key */
	TAILQ_ENTRY(qitem) entry; /* by id */
};
static struct qitem *qbykey;
static TAILQ_HEAD(qitem_list, qitem) qitems = TAILQ_HEAD_INITIALIZER(qitems);
static size_t nqitems, nfinished;
static uint64_t queue_seq = 1; /* ids start at 1 */

static const char *
queue_name(const struct qitem *q)
{
	return (q->queue);
}

/* The namespace and name of a queue argument: "global:" queues are shared. */
static void
queue_resolve(struct req *r, char **project, char **name)
{
	size_t n;
	const char *s = arg_str(r, "queue", &n);

	*project =
	    xstrdup(n >= 7 && strncmp(s, "global:", 7) == 0 ? GLOBAL_PROJECT : r->s->project);
	*name = xstrndup(s, n);
}

static void
queue_mark(struct qitem *q)
{
	store_mark(&queue_store_kind, q->key);
}

/* End a lease: the item goes back to pending (or finishes), its lease forgotten. */
static void
queue_unlease(struct qitem *q, enum qstate to)
{
	q->lease_s = NULL;
	free(q->lease_agent);
	q->lease_agent = NULL;
	q->token[0] = '\0';
	q->lease_expires_ms = 0;
	if (q->lease_ev != NULL) {
		event_free(q->lease_ev);
		q->lease_ev = NULL;
	}
	q->state = to;
	if (to == Q_DONE || to == Q_FAILED) {
		q->finished_wall = wall_ms();
		nfinished++;
	}
	revision_next();
	queue_mark(q);
}

/* Free q, out of the list already. */
static void
queue_item_destroy(struct qitem *q)
{
	if (q->lease_ev != NULL)
		event_free(q->lease_ev);
	free(q->key);
	free(q->project);
	free(q->queue);
	free(q->payload);
	free(q->author);
	free(q->lease_agent);
	free(q);
}

static void
queue_item_free(struct qitem *q)
{
	TAILQ_REMOVE(&qitems, q, entry);
	HASH_DEL(qbykey, q);
	nqitems--;
	if (q->state == Q_DONE || q->state == Q_FAILED)
		nfinished--;
	queue_mark(q); /* packs nothing now: the row goes */
	queue_item_destroy(q);
}

/* Keep at most QUEUE_FINISHED_MAX finished items: the oldest go first. */
static void
queue_trim(void)
{
	struct qitem *q, *next;

	for (q = TAILQ_FIRST(&qitems); q != NULL && nfinished > QUEUE_FINISHED_MAX; q = next) {
		next = TAILQ_NEXT(q, entry);
		if (q->state == Q_DONE || q->state == Q_FAILED)
			queue_item_free(q);
	}
}

/* A lease ran out: back to pending for the next consumer. */
static void
queue_lease_cb(evutil_socket_t fd, short events, void *arg)
{
	struct qitem *q = arg;

	log_info("queue %s: item %llu's lease by %s ran out: pending again", q->queue,
	    (unsigned long long)q->id, q->lease_agent != NULL ? q->lease_agent : "?");
	feed_record(NULL, "lease_expired", "queue", q->project, q->queue,
	    "item %llu back to pending: %s's lease ran out", (unsigned long long)q->id,
	    q->lease_agent != NULL ? q->lease_agent : "?");
	queue_unlease(q, Q_PENDING);
}

static struct qitem *
queue_item_new(const char *project, const char *queue, uint64_t id)
{
	struct qitem *q = xcalloc(1, sizeof *q), *after;

	q->project = xstrdup(project);
	q->queue = xstrdup(queue);
	q->id = id;
	xasprintf(&q->key, "%s\n%s\n%llu", project, queue, (unsigned long long)id);
	HASH_ADD_KEYPTR(hh, qbykey, q->key, strlen(q->key), q);
	/* kept in id order (rows are restored in key order) */
	TAILQ_FOREACH_REVERSE(after, &qitems, qitem_list, entry) {
		if (after->id < id)
			break;
	}
	if (after != NULL)
		TAILQ_INSERT_AFTER(&qitems, after, q, entry);
	else
		TAILQ_INSERT_HEAD(&qitems, q, entry);
	nqitems++;
	if (id >= queue_seq)
		queue_seq = id + 1;
	return (q);
}

void
op_queue_push(struct req *r)
{
	struct qitem *q;
	struct fbuf *fb;
	char *project, *name;
	size_t n, pending = 0;
	const char *payload = arg_str(r, "payload", &n);

	queue_trim();
	if (nqitems >= QUEUE_ITEMS_MAX) {
		reply_error(r->c, r->id, ERR_LIMIT, "queue",
		    "the broker holds %d queue items, its limit; finish or fail some first",
		    QUEUE_ITEMS_MAX);
		return;
	}
	queue_resolve(r, &project, &name);
	q = queue_item_new(project, name, queue_seq);
	q->priority = arg_int(r, "priority");
	q->payload = xstrndup(payload, n);
	q->author = xstrdup(r->s->agent);
	q->created_wall = wall_ms();
	q->state = Q_PENDING;
	revision_next();
	queue_mark(q);
	feed_record(r->s, "queue_push", "queue", project, name,
	    "pushed item %llu, priority %lld", (unsigned long long)q->id,
	    (long long)q->priority);
	TAILQ_FOREACH(q, &qitems, entry) {
		if (q->state == Q_PENDING && strcmp(q->project, project) == 0 &&
		    strcmp(q->queue, name) == 0)
			pending++;
	}
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kuint(fb, "id", queue_seq - 1);
	pk_kstr(fb, "queue", name);
	pk_kuint(fb, "pending", pending);
	pk_map_close(fb);
	reply_end(r->c, fb);
	free(project);
	free(name);
}

/* The next item to claim: highest priority, then oldest. */
static struct qitem *
queue_next(const char *project, const char *name)
{
	struct qitem *q, *best = NULL;

	TAILQ_FOREACH(q, &qitems, entry) {
		if (q->state != Q_PENDING || strcmp(q->project, project) != 0 ||
		    strcmp(queue_name(q), name) != 0)
			continue;
		if (best == NULL || q->priority > best->priority ||
		    (q->priority == best->priority && q->id < best->id))
			best = q;
	}
	return (best);
}

static struct qitem *
queue_find(uint64_t id)
{
	struct qitem *q;

	TAILQ_FOREACH(q, &qitems, entry) {
		if (q->id == id)
			return (q);
	}
	return (NULL);
}

void
op_queue_claim(struct req *r)
{
	struct qitem *q;
	struct fbuf *fb;
	char *project, *name;
	double lease = arg_num(r, "lease_seconds");

	queue_resolve(r, &project, &name);
	if (arg_has(r, "id")) {
		q = queue_find((uint64_t)arg_int(r, "id"));
		if (q != NULL &&
		    (q->state != Q_PENDING || strcmp(q->project, project) != 0 ||
			strcmp(q->queue, name) != 0))
			q = NULL;
	} else
		q = queue_next(project, name);
	free(project);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kbool(fb, "claimed", q != NULL);
	if (q == NULL)
		pk_kstr(fb, "hint",
		    arg_has(r, "id") ? "that item is not pending in this queue"
				     : "nothing pending in this queue; queue_push adds work");
	else {
		q->state = Q_LEASED;
		q->attempts++;
		q->lease_s = strcmp(r->s->kind, "cli") != 0 ? r->s : NULL;
		q->lease_agent = xstrdup(r->s->agent);
		random_hex(q->token, sizeof q->token);
		q->lease_expires_ms = mono_ms() + (uint64_t)(lease * 1000);
		q->lease_ev = timer_new(queue_lease_cb, q);
		timer_in(q->lease_ev, lease);
		revision_next();
		queue_mark(q);
		feed_record(r->s, "queue_claim", "queue", q->project, q->queue,
		    "claimed item %llu (attempt %lld)", (unsigned long long)q->id,
		    (long long)q->attempts);
		pk_kuint(fb, "id", q->id);
		pk_kstr(fb, "queue", name);
		pk_kstr(fb, "payload", q->payload);
		pk_kint(fb, "priority", q->priority);
		pk_kstr(fb, "lease_token", q->token);
		pk_kdouble(fb, "lease_expires_in_seconds", lease);
		pk_kint(fb, "attempts", q->attempts);
	}
	pk_map_close(fb);
	reply_end(r->c, fb);
	free(name);
}

void
op_queue_finish(struct req *r)
{
	struct qitem *q = queue_find((uint64_t)arg_int(r, "id"));
	const char *outcome = arg_str(r, "outcome", NULL), *hint = NULL;
	const char *tok;
	struct fbuf *fb;
	size_t tlen;
	enum qstate to = Q_PENDING;

	tok = arg_str(r, "lease_token", &tlen);
	if (q == NULL ||
	    (strcmp(q->project, r->s->project) != 0 && strcmp(q->project, GLOBAL_PROJECT) != 0))
		hint = "no such item in your project";
	else if (q->state != Q_LEASED)
		hint = "the item is not leased (its lease ran out, or it was finished): "
		       "another consumer may have it; claim again";
	else if (token_cmp(q->token, tok, tlen) != 0)
		hint = "that is not the item's lease token (its lease may have run out and "
		       "been claimed again)";
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kbool(fb, "finished", hint == NULL);
	if (hint != NULL)
		pk_kstr(fb, "hint", hint);
	else {
		to = strncmp(outcome, "done", 4) == 0  ? Q_DONE
		    : strncmp(outcome, "fail", 4) == 0 ? Q_FAILED
						       : Q_PENDING;
		feed_record(r->s, "queue_finish", "queue", q->project, q->queue, "item %llu %s",
		    (unsigned long long)q->id, qstate_names[to]);
		queue_unlease(q, to);
		queue_trim();
	}
	if (q != NULL && hint == NULL)
		pk_kstr(fb, "state", qstate_names[to]);
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/* One item, as queue_list shows it. */
static void
pk_qitem(struct fbuf *fb, const struct qitem *q)
{
	char at[TIME_ISO_LEN];

	pk_map_open(fb);
	pk_kuint(fb, "id", q->id);
	pk_kstr(fb, "queue", q->queue);
	pk_kstr(fb, "payload", q->payload);
	pk_kint(fb, "priority", q->priority);
	pk_kstr(fb, "state", qstate_names[q->state]);
	pk_kstr(fb, "author", q->author);
	pk_kint(fb, "attempts", q->attempts);
	pk_kstr(fb, "created_at", time_iso(q->created_wall, at, sizeof at));
	if (q->state == Q_LEASED) {
		pk_kstr_opt(fb, "lease_agent", q->lease_agent);
		pk_kdouble(fb, "lease_expires_in_seconds", secs_left(q->lease_expires_ms));
	}
	pk_map_close(fb);
}

void
op_queue_list(struct req *r)
{
	struct qitem *q;
	struct fbuf *fb;
	char *project, *name;
	size_t slen;
	const char *state = arg_str(r, "state", &slen);
	int64_t limit = arg_int(r, "limit"), n = 0;
	int all = slen == 3 && memcmp(state, "all", 3) == 0, more = 0;

	queue_resolve(r, &project, &name);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_str(fb, "items");
	pk_array_open(fb);
	TAILQ_FOREACH(q, &qitems, entry) {
		if (strcmp(q->project, project) != 0 || strcmp(q->queue, name) != 0 ||
		    (!all &&
			(strlen(qstate_names[q->state]) != slen ||
			    memcmp(qstate_names[q->state], state, slen) != 0)))
			continue;
		if (n == limit) {
			more = 1;
			break;
		}
		pk_qitem(fb, q);
		n++;
	}
	pk_array_close(fb);
	pk_kint(fb, "count", n);
	pk_kbool(fb, "more", more);
	pk_map_close(fb);
	reply_end(r->c, fb);
	free(project);
	free(name);
}

/* A session ended: what it leased goes back to pending at once. */
static void
queue_session_closed(struct session *s)
{
	struct qitem *q;

	TAILQ_FOREACH(q, &qitems, entry) {
		if (q->state == Q_LEASED && q->lease_s == s) {
			log_info("queue %s: item %llu back to pending (%s's session ended)",
			    q->queue, (unsigned long long)q->id, s->agent);
			feed_record(s, "session_end", "queue", q->project, q->queue,
			    "item %llu back to pending: %s's session ended",
			    (unsigned long long)q->id, s->agent);
			queue_unlease(q, Q_PENDING);
		}
	}
}

void
queue_init(void)
{
	session_on_close(queue_session_closed);
}

void
queue_shutdown(void)
{
	struct qitem *q;

	while ((q = TAILQ_FIRST(&qitems)) != NULL) {
		TAILQ_REMOVE(&qitems, q, entry);
		HASH_DEL(qbykey, q);
		queue_item_destroy(q);
	}
	nqitems = nfinished = 0;
}

static int
queue_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct qitem *q;

	HASH_FIND_STR(qbykey, key, q);
	if (q == NULL)
		return (0);
	pk_map_open(fb);
	pk_kint(fb, "priority", q->priority);
	pk_kstr(fb, "payload", q->payload);
	pk_kstr(fb, "author", q->author);
	pk_kstr(fb, "state", qstate_names[q->state]);
	pk_kint(fb, "attempts", q->attempts);
	pk_kint(fb, "created", q->created_wall);
	if (q->finished_wall != 0)
		pk_kint(fb, "finished", q->finished_wall);
	if (q->state == Q_LEASED) {
		pk_kstr(fb, "lease_agent", q->lease_agent);
		pk_kstr(fb, "lease_token", q->token);
		pk_kint(fb, "lease_expires", deadline_to_wall(q->lease_expires_ms));
	}
	pk_map_close(fb);
	return (1);
}

/* Rebuild an item from its row; a lease keeps its deadline (its session is gone). */
static int
queue_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	const char *nl1 = strchr(key, '\n'), *nl2 = nl1 != NULL ? strchr(nl1 + 1, '\n') : NULL;
	char *project, *name, *state, *tok;
	struct qitem *q;
	size_t i;

	if (nl2 == NULL || (state = mp_get_strdup(o, "state")) == NULL) {
		xasprintf(cause, "queue item %s: bad row", key);
		return (-1);
	}
	project = xstrndup(key, (size_t)(nl1 - key));
	name = xstrndup(nl1 + 1, (size_t)(nl2 - nl1 - 1));
	q = queue_item_new(project, name, strtoull(nl2 + 1, NULL, 10));
	free(project);
	free(name);
	q->priority = mp_get_int(o, "priority", 0);
	if ((q->payload = mp_get_strdup(o, "payload")) == NULL)
		q->payload = xstrdup("");
	if ((q->author = mp_get_strdup(o, "author")) == NULL)
		q->author = xstrdup("?");
	q->attempts = mp_get_int(o, "attempts", 0);
	q->created_wall = mp_get_int(o, "created", 0);
	q->finished_wall = mp_get_int(o, "finished", 0);
	for (i = 0; i < nitems(qstate_names); i++) {
		if (strcmp(state, qstate_names[i]) == 0)
			q->state = (enum qstate)i;
	}
	free(state);
	if (q->state == Q_DONE || q->state == Q_FAILED)
		nfinished++;
	if (q->state == Q_LEASED) {
		q->lease_agent = mp_get_strdup(o, "lease_agent");
		tok = mp_get_strdup(o, "lease_token");
		snprintf(q->token, sizeof q->token, "%s", tok != NULL ? tok : "");
		free(tok);
		q->lease_expires_ms = deadline_from_wall(mp_get_int(o, "lease_expires", 0));
		q->lease_ev = timer_new(queue_lease_cb, q);
		timer_at(q->lease_ev, q->lease_expires_ms);
	}
	return (0);
}

const struct store_kind queue_store_kind = {
	.name = "queue",
	.pack = queue_pack,
	.restore = queue_restore,
};
