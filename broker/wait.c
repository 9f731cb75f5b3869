/*
 * Blocking calls other than lock waits (note_wait, event_wait,
 * message_inbox, task_claim...): a waiter watches a key and ends on a
 * change of that key, its deadline, a cancel frame or its session's
 * end.  A change calls wait_wake(key) in the same loop iteration, and
 * each waiter's ready() decides whether it can answer now, so a change
 * between a caller's two calls is never missed: ready() compares
 * versions, not "something happened since I started waiting".
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define WAIT_SESSION_MAX 256 /* calls one session may have waiting */

struct wait_key {
	char *key;
	TAILQ_HEAD(, bwait) waiters;
	UT_hash_handle hh;
};

static struct wait_key *wait_keys;
static size_t nblocked;

static void
wait_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct bwait *w = arg;

	w->on_timeout(w);
	wait_end(w);
}

/*
 * The cap on a wait of r: --max-wait, or --max-wait-progress when its
 * client keeps the call alive with progress notifications (an MCP
 * client that sent a progress token).
 */
double
wait_cap(const struct req *r)
{
	return (r->progress ? cfg.max_wait_progress : cfg.max_wait);
}

/*
 * Has s as many calls waiting as it may have (WAIT_SESSION_MAX)?  Each
 * costs the broker a timer and the state of the call, and a peer could
 * park them by the hundred thousand on one connection.
 */
int
wait_session_full(const struct session *s)
{
	return (s->nparked >= WAIT_SESSION_MAX);
}

/*
 * Park request r on key for at most secs (capped by --max-wait).
 * ready(w) answers and returns 1 when it can; on_timeout(w) answers when
 * the deadline passes.  Returns the waiter (its arg/after are the
 * caller's), or NULL when the request was answered at once: by ready(),
 * or with an error when the session has WAIT_SESSION_MAX calls waiting.
 */
struct bwait *
wait_add(struct req *r, const char *key, double secs, int (*ready)(struct bwait *),
    void (*on_timeout)(struct bwait *), void *arg, uint64_t after)
{
	struct wait_key *k;
	struct bwait *w;

	if (secs > wait_cap(r))
		secs = wait_cap(r);
	w = xcalloc(1, sizeof *w);
	w->s = r->s;
	w->req_id = r->id;
	w->cap = wait_cap(r);
	w->ready = ready;
	w->on_timeout = on_timeout;
	w->arg = arg;
	w->after = after;
	if (w->ready(w)) {
		free(w);
		return (NULL);
	}
	if (wait_session_full(r->s)) {
		reply_error(r->c, r->id, ERR_LIMIT, NULL,
		    "this session has %d calls waiting, the limit (batond(8)): let one end or "
		    "cancel it before you start another, or use another connection",
		    WAIT_SESSION_MAX);
		free(w);
		return (NULL);
	}
	HASH_FIND_STR(wait_keys, key, k);
	if (k == NULL) {
		k = xcalloc(1, sizeof *k);
		k->key = xstrdup(key);
		TAILQ_INIT(&k->waiters);
		HASH_ADD_KEYPTR(hh, wait_keys, k->key, strlen(k->key), k);
	}
	w->k = k;
	TAILQ_INSERT_TAIL(&k->waiters, w, kentry);
	TAILQ_INSERT_TAIL(&r->s->bwaits, w, sentry);
	r->s->nparked++;
	nblocked++;
	w->timer = timer_new(wait_timer_cb, w);
	timer_in(w->timer, secs);
	return (w);
}

/* Remove a waiter that has been answered (or whose peer is gone). */
void
wait_end(struct bwait *w)
{
	struct wait_key *k = w->k;

	TAILQ_REMOVE(&k->waiters, w, kentry);
	TAILQ_REMOVE(&w->s->bwaits, w, sentry);
	w->s->nparked--;
	if (TAILQ_EMPTY(&k->waiters)) {
		HASH_DEL(wait_keys, k);
		free(k->key);
		free(k);
	}
	nblocked--;
	event_free(w->timer);
	if (w->free_arg != NULL)
		w->free_arg(w->arg);
	free(w);
}

/* Something under key changed: let every waiter on it answer if it can. */
void
wait_wake(const char *key)
{
	struct wait_key *k;
	struct bwait *w, *next;

	HASH_FIND_STR(wait_keys, key, k);
	if (k == NULL)
		return;
	/*
	 * ready() only answers; it never adds or ends waiters, so next stays
	 * valid.  Ending the last waiter frees k, and then next is NULL.
	 */
	for (w = TAILQ_FIRST(&k->waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, kentry);
		if (w->ready(w))
			wait_end(w);
	}
}

/* A cancel frame: answer "cancelled" and drop the waiter; 1 if found. */
static int
wait_cancel(struct session *s, uint64_t id)
{
	struct bwait *w;

	TAILQ_FOREACH(w, &s->bwaits, sentry) {
		if (w->req_id == id) {
			reply_error(s->client, id, ERR_CANCELLED, NULL, "wait cancelled");
			wait_end(w);
			return (1);
		}
	}
	return (0);
}

/* The session is gone: drop its waiters without answering. */
static void
wait_session_closed(struct session *s)
{
	struct bwait *w;

	while ((w = TAILQ_FIRST(&s->bwaits)) != NULL)
		wait_end(w);
}

size_t
wait_count(void)
{
	return (nblocked);
}

/* Blocking calls end with their session and can be cancelled. */
void
wait_init(void)
{
	session_on_close(wait_session_closed);
	session_on_cancel(wait_cancel);
}
