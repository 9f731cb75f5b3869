/*
 * Locks (DESIGN §5.1): exclusive and shared, session-bound or detached
 * with a TTL, strict FIFO waits with no barging, several names granted
 * all together or not at all, deadlock detection over the wait-for
 * graph, and "file:" reservations that conflict across names.
 *
 * A waiter joins the queue of every lock it needs at once, so any two
 * waiters stand in the same order in every queue they share: waiters
 * can never wait for each other in a cycle, only through what sessions
 * already hold, and that is what the deadlock check walks.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define LOCK_WAITERS_MAX 1024      /* waiters per lock */
#define LOCK_TICKET_GRACE_MS 15000 /* a timed-out waiter keeps its place this long */

struct wlink {
	struct waiter *w;
	TAILQ_ENTRY(wlink) entry;
};

struct lock {
	char *key;     /* project '\n' name: the hash key */
	char *project; /* namespace */
	char *name;    /* as shown; file reservations normalized */
	char *path;    /* file reservations: the normalized path, else NULL */
	TAILQ_HEAD(, grant) holders;
	TAILQ_HEAD(, wlink) queue;
	size_t nwaiters;
	int pumping; /* on the wake list */
	UT_hash_handle hh;
	TAILQ_ENTRY(lock) fentry; /* file reservations, for overlap checks */
};

struct grant {
	struct lock *lock;
	struct session *session; /* NULL when detached */
	char sid[24];
	char *agent, *reason;
	char token[33];
	uint64_t fence;
	enum lock_mode mode;
	uint64_t granted_ms, expires_ms; /* expires_ms 0: session-bound */
	struct event *ttl_ev;
	TAILQ_ENTRY(grant) lentry;
	TAILQ_ENTRY(grant) sentry;
};

struct waiter {
	struct session *session;
	uint64_t req_id;
	uint64_t seq; /* arrival order across all queues */
	int active;   /* 0: timed out, parked with a ticket */
	enum lock_mode mode;
	double ttl;
	char *reason;
	char ticket[33];
	uint64_t since_ms;
	size_t n;
	struct lock **locks;
	struct wlink *links;
	struct event *timer;
	TAILQ_ENTRY(waiter) sentry;
};

static struct lock *locks;
static TAILQ_HEAD(, lock) file_locks = TAILQ_HEAD_INITIALIZER(file_locks);
static size_t nwaiting;
static uint64_t waiter_seq;
static struct lock **wake_list;
static size_t wake_len, wake_cap;

static void lock_pump_all(void);
static void waiter_free(struct waiter *);

static const char *
mode_name(enum lock_mode m)
{
	return (m == LOCK_SHARED ? "shared" : "exclusive");
}

/*
 * Resolve a requested name to its namespace and canonical form:
 * "global:" names live in the shared namespace, "file:" paths are
 * normalized against the project root.
 */
static int
lock_resolve(struct session *s, const char *name, size_t n, char **project, char **canon,
    char **path, char **cause)
{
	char *norm;

	*path = NULL;
	if (n >= 7 && strncmp(name, "global:", 7) == 0) {
		*project = xstrdup(GLOBAL_PROJECT);
		*canon = xstrndup(name, n);
		return (0);
	}
	*project = xstrdup(s->project);
	if (n >= 5 && strncmp(name, "file:", 5) == 0) {
		if (file_normalize(s->project, name + 5, n - 5, &norm, cause) != 0) {
			free(*project);
			return (-1);
		}
		*path = norm;
		xasprintf(canon, "file:%s", norm);
		return (0);
	}
	*canon = xstrndup(name, n);
	return (0);
}

static struct lock *
lock_find(const char *project, const char *name)
{
	struct lock *l;
	char *key;

	xasprintf(&key, "%s\n%s", project, name);
	HASH_FIND_STR(locks, key, l);
	free(key);
	return (l);
}

/* Find or make the lock for a resolved name; takes ownership of the strings. */
static struct lock *
lock_get(char *project, char *name, char *path)
{
	struct lock *l;

	if ((l = lock_find(project, name)) != NULL) {
		free(project);
		free(name);
		free(path);
		return (l);
	}
	l = xcalloc(1, sizeof *l);
	xasprintf(&l->key, "%s\n%s", project, name);
	l->project = project;
	l->name = name;
	l->path = path;
	TAILQ_INIT(&l->holders);
	TAILQ_INIT(&l->queue);
	HASH_ADD_KEYPTR(hh, locks, l->key, strlen(l->key), l);
	if (l->path != NULL)
		TAILQ_INSERT_TAIL(&file_locks, l, fentry);
	return (l);
}

/* Forget a lock nobody holds or waits for. */
static void
lock_gc(struct lock *l)
{
	if (!TAILQ_EMPTY(&l->holders) || !TAILQ_EMPTY(&l->queue) || l->pumping)
		return;
	HASH_DEL(locks, l);
	if (l->path != NULL)
		TAILQ_REMOVE(&file_locks, l, fentry);
	free(l->key);
	free(l->project);
	free(l->name);
	free(l->path);
	free(l);
}

/* Does grant g stand in the way of taking l in mode m? */
static int
grant_blocks(const struct grant *g, enum lock_mode m)
{
	return (m == LOCK_EXCLUSIVE || g->mode == LOCK_EXCLUSIVE);
}

/* Do l and other overlap (the same lock, or overlapping file reservations)? */
static int
lock_overlaps(const struct lock *l, const struct lock *other)
{
	if (l == other)
		return (1);
	if (l->path == NULL || other->path == NULL || strcmp(l->project, other->project) != 0)
		return (0);
	return (file_overlap(l->project, l->path, other->path));
}

/*
 * Call fn for every grant that keeps l from being taken in mode m:
 * its own holders and, for file reservations, holders of overlapping
 * ones.  Stops and returns 1 when fn returns non-zero.
 */
static int
lock_blockers(struct lock *l, enum lock_mode m, int (*fn)(struct grant *, void *), void *arg)
{
	struct grant *g;
	struct lock *o;

	TAILQ_FOREACH(g, &l->holders, lentry) {
		if (grant_blocks(g, m) && fn(g, arg))
			return (1);
	}
	if (l->path == NULL)
		return (0);
	TAILQ_FOREACH(o, &file_locks, fentry) {
		if (o == l || !lock_overlaps(l, o))
			continue;
		TAILQ_FOREACH(g, &o->holders, lentry) {
			if (grant_blocks(g, m) && fn(g, arg))
				return (1);
		}
	}
	return (0);
}

static int
blocker_any(struct grant *g, void *arg)
{
	return (1);
}

static int
lock_free_for(struct lock *l, enum lock_mode m)
{
	return (!lock_blockers(l, m, blocker_any, NULL));
}

/*
 * Is a conflicting request that arrived before seq queued on a file
 * reservation overlapping l (not l itself: its own queue order covers
 * that)?  Such a waiter is ahead in line: nobody may overtake it.
 */
static int
lock_queued_ahead(struct lock *l, enum lock_mode m, uint64_t seq)
{
	struct wlink *k;
	struct lock *o;

	if (l->path == NULL)
		return (0);
	TAILQ_FOREACH(o, &file_locks, fentry) {
		if (o == l || TAILQ_EMPTY(&o->queue) || !lock_overlaps(l, o))
			continue;
		TAILQ_FOREACH(k, &o->queue, entry) {
			if (k->w->seq < seq &&
			    (m == LOCK_EXCLUSIVE || k->w->mode == LOCK_EXCLUSIVE))
				return (1);
		}
	}
	return (0);
}

/* Can waiter w be granted now: first in line everywhere, nothing blocking? */
static int
waiter_ready(struct waiter *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		if (TAILQ_FIRST(&w->locks[i]->queue) != &w->links[i])
			return (0);
		if (!lock_free_for(w->locks[i], w->mode))
			return (0);
		if (lock_queued_ahead(w->locks[i], w->mode, w->seq))
			return (0);
	}
	return (1);
}

/* Queue l to have its waiters looked at before the loop iteration ends. */
static void
lock_wake(struct lock *l)
{
	if (l->pumping)
		return;
	if (wake_len == wake_cap) {
		wake_cap = wake_cap ? wake_cap * 2 : 16;
		wake_list = xreallocarray(wake_list, wake_cap, sizeof *wake_list);
	}
	l->pumping = 1;
	wake_list[wake_len++] = l;
}

/* A lock lost a holder: its queue, and overlapping reservations, may move. */
static void
lock_freed(struct lock *l)
{
	struct lock *o;

	lock_wake(l);
	if (l->path == NULL)
		return;
	TAILQ_FOREACH(o, &file_locks, fentry) {
		if (o != l && !TAILQ_EMPTY(&o->queue) && lock_overlaps(l, o))
			lock_wake(o);
	}
}

static void grant_expire_cb(evutil_socket_t, short, void *);

/*
 * Give lock l to session s, or detached (expiring after ttl seconds) in
 * the name of agent/sid.
 */
static struct grant *
grant_new(struct lock *l, struct session *s, const char *agent, const char *sid,
    enum lock_mode m, double ttl, const char *reason, const char *token, uint64_t fence)
{
	struct grant *g = xcalloc(1, sizeof *g);

	g->lock = l;
	g->mode = m;
	g->fence = fence;
	g->agent = xstrdup(agent);
	g->reason = reason != NULL ? xstrdup(reason) : NULL;
	snprintf(g->sid, sizeof g->sid, "%s", sid);
	snprintf(g->token, sizeof g->token, "%s", token);
	g->granted_ms = mono_ms();
	if (ttl > 0) {
		g->expires_ms = g->granted_ms + (uint64_t)(ttl * 1000);
		g->ttl_ev = timer_new(grant_expire_cb, g);
		timer_in(g->ttl_ev, ttl);
	} else {
		g->session = s;
		TAILQ_INSERT_TAIL(&s->grants, g, sentry);
		session_changed(s);
	}
	TAILQ_INSERT_TAIL(&l->holders, g, lentry);
	store_mark(&lock_store_kind, l->key);
	return (g);
}

/* Take a grant away and let the queue move. */
static void
grant_release(struct grant *g, const char *why)
{
	struct lock *l = g->lock;

	log_info("lock %s: released by %s (%s)", l->name, g->agent, why);
	TAILQ_REMOVE(&l->holders, g, lentry);
	if (g->session != NULL) {
		TAILQ_REMOVE(&g->session->grants, g, sentry);
		session_changed(g->session);
	}
	store_mark(&lock_store_kind, l->key);
	if (g->ttl_ev != NULL)
		event_free(g->ttl_ev);
	free(g->agent);
	free(g->reason);
	free(g);
	revision_next();
	lock_freed(l);
}

static void
grant_expire_cb(evutil_socket_t fd, short events, void *arg)
{
	grant_release(arg, "ttl expired");
	lock_pump_all();
}

/* Pack a grant as a holder description. */
static void
pk_holder(struct fbuf *fb, const struct grant *g, int with_name)
{
	uint64_t now = mono_ms();

	pk_map_open(fb);
	if (with_name)
		pk_kstr(fb, "name", g->lock->name);
	pk_kstr(fb, "agent", g->agent);
	pk_kstr(fb, "session", g->sid);
	pk_kstr(fb, "mode", mode_name(g->mode));
	pk_kdouble(fb, "age_seconds", (double)(now - g->granted_ms) / 1000.0);
	if (!with_name)
		pk_kuint(fb, "fence", g->fence);
	if (g->expires_ms != 0)
		pk_kdouble(fb, "expires_in_seconds",
		    g->expires_ms > now ? (double)(g->expires_ms - now) / 1000.0 : 0.0);
	pk_kstr_opt(fb, "reason", g->reason);
	pk_map_close(fb);
}

/* A lock's holders, as holder descriptions. */
static void
pk_holders(struct fbuf *fb, struct lock *l)
{
	struct grant *g;

	pk_array_open(fb);
	TAILQ_FOREACH(g, &l->holders, lentry)
		pk_holder(fb, g, 0);
	pk_array_close(fb);
}

/* Collect blocking grants of a request, without duplicates. */
struct blockers {
	struct grant **v;
	size_t n, cap;
};

static int
blocker_collect(struct grant *g, void *arg)
{
	struct blockers *b = arg;
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (b->v[i] == g)
			return (0);
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 8;
		b->v = xreallocarray(b->v, b->cap, sizeof *b->v);
	}
	b->v[b->n++] = g;
	return (0);
}

static void
blockers_of(struct lock **ls, size_t n, enum lock_mode m, struct blockers *b)
{
	size_t i;

	memset(b, 0, sizeof *b);
	for (i = 0; i < n; i++)
		lock_blockers(ls[i], m, blocker_collect, b);
}

/* Position of w in the longest of its queues (1 = next). */
static size_t
waiter_position(const struct waiter *w)
{
	struct wlink *k;
	size_t i, pos, best = 0;

	for (i = 0; i < w->n; i++) {
		pos = 1;
		TAILQ_FOREACH(k, &w->locks[i]->queue, entry) {
			if (k == &w->links[i])
				break;
			pos++;
		}
		if (pos > best)
			best = pos;
	}
	return (best);
}

/* Pack the names of a request. */
static void
pk_names(struct fbuf *fb, struct lock **ls, size_t n)
{
	size_t i;

	pk_str(fb, "names");
	pk_array(fb, n);
	for (i = 0; i < n; i++)
		pk_str(fb, ls[i]->name);
}

/* Answer a successful acquire. */
static void
reply_granted(struct client *c, uint64_t id, struct lock **ls, size_t n, struct grant *g,
    double ttl)
{
	struct fbuf *fb = reply_begin(id);
	char hint[160];

	pk_map_open(fb);
	pk_kbool(fb, "acquired", 1);
	pk_kstr(fb, "token", g->token);
	pk_kuint(fb, "fence", g->fence);
	pk_kstr(fb, "mode", mode_name(g->mode));
	pk_names(fb, ls, n);
	if (ttl > 0) {
		pk_kdouble(fb, "expires_in_seconds", ttl);
		snprintf(hint, sizeof hint,
		    "held until released or %g s from now (renew with "
		    "lock_renew); release with lock_release and this token",
		    ttl);
	} else
		snprintf(hint, sizeof hint,
		    "held until you call lock_release or your session "
		    "ends");
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	reply_end(c, fb);
}

/* Grant every lock of a request with one token and one fence. */
static struct grant *
lock_grant_all(struct lock **ls, size_t n, struct session *s, enum lock_mode m, double ttl,
    const char *reason)
{
	struct grant *g = NULL;
	char token[33];
	uint64_t fence = revision_next();
	size_t i;

	random_hex(token, sizeof token);
	for (i = 0; i < n; i++)
		g = grant_new(ls[i], s, s->agent, s->id, m, ttl, reason, token, fence);
	log_info("lock %s%s: granted to %s (%s, fence %llu)", ls[0]->name, n > 1 ? ",..." : "",
	    s->agent, mode_name(m), (unsigned long long)fence);
	return (g);
}

/* Take w out of all its queues. */
static void
waiter_unlink(struct waiter *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		TAILQ_REMOVE(&w->locks[i]->queue, &w->links[i], entry);
		w->locks[i]->nwaiters--;
		lock_freed(w->locks[i]); /* those behind it here or on overlaps may go */
	}
	nwaiting--;
	TAILQ_REMOVE(&w->session->waiters, w, sentry);
}

static void
waiter_free(struct waiter *w)
{
	if (w->timer != NULL)
		event_free(w->timer);
	free(w->reason);
	free(w->locks);
	free(w->links);
	free(w);
}

/* Grant a waiter that reached the head of all its queues. */
static void
waiter_grant(struct waiter *w)
{
	struct grant *g;

	waiter_unlink(w);
	g = lock_grant_all(w->locks, w->n, w->session, w->mode, w->ttl, w->reason);
	reply_granted(w->session->client, w->req_id, w->locks, w->n, g, w->ttl);
	waiter_free(w);
}

/* Let every woken lock grant its head waiters, in this loop iteration. */
static void
lock_pump_all(void)
{
	struct wlink *k;
	struct lock *l;
	size_t i;

	for (i = 0; i < wake_len; i++) {
		l = wake_list[i];
		while (
		    (k = TAILQ_FIRST(&l->queue)) != NULL && k->w->active && waiter_ready(k->w))
			waiter_grant(k->w); /* may append to wake_list */
	}
	for (i = 0; i < wake_len; i++)
		wake_list[i]->pumping = 0;
	for (i = 0; i < wake_len; i++)
		lock_gc(wake_list[i]);
	wake_len = 0;
}

/* Answer a wait that timed out: place in line and a ticket to keep it. */
static void
waiter_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct waiter *w = arg;
	struct blockers b;
	struct fbuf *fb;
	char hint[256];
	size_t i, pos;

	if (!w->active) {
		/* the ticket's grace ran out */
		waiter_unlink(w);
		waiter_free(w);
		lock_pump_all();
		return;
	}
	pos = waiter_position(w);
	blockers_of(w->locks, w->n, w->mode, &b);
	fb = reply_begin(w->req_id);
	pk_map_open(fb);
	pk_kbool(fb, "acquired", 0);
	pk_names(fb, w->locks, w->n);
	pk_str(fb, "holders");
	pk_array(fb, b.n);
	for (i = 0; i < b.n; i++)
		pk_holder(fb, b.v[i], 1);
	pk_kuint(fb, "queue_position", pos);
	pk_kstr(fb, "ticket", w->ticket);
	snprintf(hint, sizeof hint,
	    "still queued (position %zu); call lock_acquire again "
	    "with this ticket within %d s to keep your place",
	    pos, LOCK_TICKET_GRACE_MS / 1000);
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	reply_end(w->session->client, fb);
	free(b.v);
	w->active = 0;
	w->req_id = 0;
	timer_in(w->timer, LOCK_TICKET_GRACE_MS / 1000.0);
}

/*
 * Would session s waiting for ls close a cycle?  Walks from the
 * sessions that block the request (holders, and waiters ahead in line)
 * through what they wait for.  On a cycle fills path and returns 1.
 */
struct dl_walk {
	struct session *origin;
	struct session **seen;
	size_t nseen, cap;
	char *path;
	size_t pathlen;
};

static int dl_visit(struct dl_walk *, struct session *, int);

static int
dl_seen(struct dl_walk *d, struct session *s)
{
	size_t i;

	for (i = 0; i < d->nseen; i++) {
		if (d->seen[i] == s)
			return (1);
	}
	if (d->nseen == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->seen = xreallocarray(d->seen, d->cap, sizeof *d->seen);
	}
	d->seen[d->nseen++] = s;
	return (0);
}

/* Is origin reachable from the sessions blocking w's request? */
static int
dl_from(struct dl_walk *d, struct lock **ls, size_t n, enum lock_mode m,
    const struct waiter *self, int depth)
{
	struct blockers b;
	struct wlink *k;
	size_t i;
	int found = 0;

	blockers_of(ls, n, m, &b);
	for (i = 0; i < b.n && !found; i++) {
		if (b.v[i]->session == NULL)
			continue;
		if (dl_visit(d, b.v[i]->session, depth)) {
			char *p;
			xasprintf(&p, "%s holds %s; %s", b.v[i]->agent, b.v[i]->lock->name,
			    d->path != NULL ? d->path : "");
			free(d->path);
			d->path = p;
			found = 1;
		}
	}
	free(b.v);
	for (i = 0; i < n && !found && self != NULL; i++) {
		TAILQ_FOREACH(k, &ls[i]->queue, entry) {
			if (k->w == self)
				break;
			if (dl_visit(d, k->w->session, depth)) {
				char *p;
				xasprintf(&p, "%s is queued ahead for %s; %s",
				    k->w->session->agent, ls[i]->name,
				    d->path != NULL ? d->path : "");
				free(d->path);
				d->path = p;
				found = 1;
				break;
			}
		}
	}
	return (found);
}

static int
dl_visit(struct dl_walk *d, struct session *s, int depth)
{
	struct waiter *w;

	if (s == d->origin)
		return (1);
	if (depth > 64 || dl_seen(d, s))
		return (0);
	TAILQ_FOREACH(w, &s->waiters, sentry) {
		if (w->active && dl_from(d, w->locks, w->n, w->mode, w, depth + 1)) {
			char *p;
			xasprintf(&p, "%s waits for %s%s; %s", s->agent, w->locks[0]->name,
			    w->n > 1 ? ",..." : "", d->path);
			free(d->path);
			d->path = p;
			return (1);
		}
	}
	return (0);
}

/* Put a new waiter in line behind everyone already queued. */
static struct waiter *
waiter_new(struct req *r, struct lock **ls, size_t n, enum lock_mode m, double ttl,
    const char *reason)
{
	struct waiter *w = xcalloc(1, sizeof *w);
	size_t i;

	w->session = r->s;
	w->req_id = r->id;
	w->seq = ++waiter_seq;
	w->active = 1;
	w->mode = m;
	w->ttl = ttl;
	w->reason = reason != NULL ? xstrdup(reason) : NULL;
	w->since_ms = mono_ms();
	w->n = n;
	w->locks = xreallocarray(NULL, n, sizeof *w->locks);
	w->links = xcalloc(n, sizeof *w->links);
	random_hex(w->ticket, sizeof w->ticket);
	for (i = 0; i < n; i++) {
		w->locks[i] = ls[i];
		w->links[i].w = w;
		TAILQ_INSERT_TAIL(&ls[i]->queue, &w->links[i], entry);
		ls[i]->nwaiters++;
	}
	nwaiting++;
	TAILQ_INSERT_TAIL(&r->s->waiters, w, sentry);
	w->timer = timer_new(waiter_timeout_cb, w);
	return (w);
}

/* Find the session's parked waiter for this ticket and the same locks. */
static struct waiter *
waiter_by_ticket(struct session *s, const char *ticket, size_t tlen, struct lock **ls, size_t n)
{
	struct waiter *w;
	size_t i;

	TAILQ_FOREACH(w, &s->waiters, sentry) {
		if (w->active || token_cmp(w->ticket, ticket, tlen) != 0)
			continue;
		if (w->n != n)
			return (NULL);
		for (i = 0; i < n; i++) {
			if (w->locks[i] != ls[i])
				return (NULL);
		}
		return (w);
	}
	return (NULL);
}

/* Answer "not acquired" at once, naming who is in the way. */
static void
reply_busy(struct req *r, struct lock **ls, size_t n, enum lock_mode m, const char *hint)
{
	struct blockers b;
	struct fbuf *fb;
	size_t i;

	blockers_of(ls, n, m, &b);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kbool(fb, "acquired", 0);
	pk_names(fb, ls, n);
	pk_str(fb, "holders");
	pk_array(fb, b.n);
	for (i = 0; i < b.n; i++)
		pk_holder(fb, b.v[i], 1);
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	reply_end(r->c, fb);
	free(b.v);
}

/* Resolve the names of an acquire into locks; NULL on a bad name (answered). */
static struct lock **
lock_resolve_all(struct req *r, const msgpack_object *name, const msgpack_object *names,
    size_t *np)
{
	const msgpack_object *one;
	struct lock **ls;
	char *project, *canon, *path, *cause = NULL;
	const char *s;
	size_t n, i, j, len;

	n = name != NULL ? 1 : names->via.array.size;
	ls = xreallocarray(NULL, n, sizeof *ls);
	for (i = 0; i < n; i++) {
		one = name != NULL ? name : &names->via.array.ptr[i];
		mp_str(one, &s, &len);
		if (lock_resolve(r->s, s, len, &project, &canon, &path, &cause) != 0) {
			reply_error(r->c, r->id, ERR_INVALID, name != NULL ? "name" : "names",
			    "%s", cause);
			free(cause);
			for (j = 0; j < i; j++)
				lock_gc(ls[j]);
			free(ls);
			return (NULL);
		}
		ls[i] = lock_get(project, canon, path);
		for (j = 0; j < i; j++) {
			if (ls[j] == ls[i]) {
				reply_error(r->c, r->id, ERR_INVALID, "names",
				    "%s is named twice", ls[i]->name);
				/* ls[i] is one of these: collect it once */
				for (j = 0; j < i; j++)
					lock_gc(ls[j]);
				free(ls);
				return (NULL);
			}
		}
	}
	*np = n;
	return (ls);
}

/* A ticket brings a timed-out waiter back in line where it was. */
static void
lock_acquire_again(struct req *r, struct waiter *w, enum lock_mode m, double wait)
{
	w->active = 1;
	w->req_id = r->id;
	w->mode = m;
	evtimer_del(w->timer);
	if (waiter_ready(w)) {
		waiter_grant(w);
		lock_pump_all();
	} else if (wait > 0)
		timer_in(w->timer, wait);
	else
		waiter_timeout_cb(-1, 0, w);
}

/* Can ls be granted in mode m at once: free, and nobody in line for them? */
static int
lock_free_now(struct lock **ls, size_t n, enum lock_mode m)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!TAILQ_EMPTY(&ls[i]->queue) || !lock_free_for(ls[i], m) ||
		    lock_queued_ahead(ls[i], m, UINT64_MAX))
			return (0);
	}
	return (1);
}

/*
 * May r wait in line for ls?  Not past a full queue, nor when waiting
 * would close a cycle of waits (answered with the cycle); 0 if it may.
 */
static int
lock_refuse_wait(struct req *r, struct lock **ls, size_t n, enum lock_mode m)
{
	struct dl_walk d;
	size_t i, len;
	int refused;

	for (i = 0; i < n; i++) {
		if (ls[i]->nwaiters >= LOCK_WAITERS_MAX) {
			reply_error(r->c, r->id, ERR_LIMIT, "name",
			    "%s already has %d waiters; try again later", ls[i]->name,
			    LOCK_WAITERS_MAX);
			return (1);
		}
	}
	memset(&d, 0, sizeof d);
	d.origin = r->s;
	if ((refused = dl_from(&d, ls, n, m, NULL, 0))) {
		/* the walk leaves "a holds x; a waits for y; b holds y; " */
		len = strlen(d.path);
		while (len > 0 && (d.path[len - 1] == ' ' || d.path[len - 1] == ';'))
			d.path[--len] = '\0';
		reply_error(r->c, r->id, ERR_DEADLOCK, arg_has(r, "name") ? "name" : "names",
		    "waiting for %s would close a cycle: %s (you are %s); release what you "
		    "hold first, or take every lock you need in one call with names",
		    ls[0]->name, d.path, r->s->agent);
	}
	free(d.path);
	free(d.seen);
	return (refused);
}

void
op_lock_acquire(struct req *r)
{
	enum lock_mode m =
	    mp_streq(arg_get(r, "mode"), "shared") ? LOCK_SHARED : LOCK_EXCLUSIVE;
	struct waiter *w;
	struct lock **ls;
	struct grant *g;
	size_t n, i, tlen = 0;
	const char *ticket = arg_str(r, "ticket", &tlen);
	char *reason = arg_strdup(r, "reason");
	double wait = arg_num(r, "wait_seconds"), ttl = arg_num(r, "ttl_seconds");

	if (wait > cfg.max_wait)
		wait = cfg.max_wait;
	if ((ls = lock_resolve_all(r, arg_get(r, "name"), arg_get(r, "names"), &n)) == NULL) {
		free(reason);
		return;
	}
	if (ticket != NULL && (w = waiter_by_ticket(r->s, ticket, tlen, ls, n)) != NULL)
		lock_acquire_again(r, w, m, wait);
	else if (lock_free_now(ls, n, m)) {
		g = lock_grant_all(ls, n, r->s, m, ttl, reason);
		reply_granted(r->c, r->id, ls, n, g, ttl);
	} else if (wait <= 0) {
		/* a request that does not wait can neither deadlock nor overfill a queue */
		reply_busy(r, ls, n, m,
		    "held by someone else; call again with wait_seconds "
		    "to wait in line instead of polling");
		for (i = 0; i < n; i++)
			lock_gc(ls[i]);
	} else if (lock_refuse_wait(r, ls, n, m)) {
		for (i = 0; i < n; i++)
			lock_gc(ls[i]);
	} else {
		w = waiter_new(r, ls, n, m, ttl, reason);
		timer_in(w->timer, wait);
	}
	free(ls);
	free(reason);
}

/* Find the grant of l that the request may act on: by its token or by session. */
static struct grant *
grant_for(struct req *r, struct lock *l)
{
	struct grant *g;
	size_t tlen;
	const char *t = arg_str(r, "token", &tlen);

	if (t != NULL) {
		TAILQ_FOREACH(g, &l->holders, lentry) {
			if (token_cmp(g->token, t, tlen) == 0)
				return (g);
		}
		return (NULL);
	}
	TAILQ_FOREACH(g, &l->holders, lentry) {
		if (g->session == r->s)
			return (g);
	}
	return (NULL);
}

/* Refuse an action on someone else's lock, naming the holder. */
static void
reply_not_yours(struct req *r, struct lock *l, int with_token)
{
	struct grant *g = TAILQ_FIRST(&l->holders);

	reply_error(r->c, r->id, ERR_PERMISSION, with_token ? "token" : "name",
	    "lock %s is held by %s (session %s, %s)%s; only its holder, with its token, "
	    "can release or renew it",
	    l->name, g->agent, g->sid, mode_name(g->mode),
	    with_token ? " and that token is not its" : "");
}

/* Look up the lock a release, renew or break names (*lp NULL: none); -1 answered. */
static int
lock_named(struct req *r, struct lock **lp)
{
	char *project, *canon, *path, *cause = NULL;
	size_t len;
	const char *s = arg_str(r, "name", &len);

	if (lock_resolve(r->s, s, len, &project, &canon, &path, &cause) != 0) {
		reply_error(r->c, r->id, ERR_INVALID, "name", "%s", cause);
		free(cause);
		return (-1);
	}
	*lp = lock_find(project, canon);
	free(project);
	free(canon);
	free(path);
	return (0);
}

void
op_lock_release(struct req *r)
{
	struct fbuf *fb;
	struct lock *l;
	struct grant *g;

	if (lock_named(r, &l) != 0)
		return;
	if (l == NULL || TAILQ_EMPTY(&l->holders)) {
		fb = reply_begin(r->id);
		pk_map_open(fb);
		pk_kbool(fb, "released", 0);
		pk_kstr(fb, "hint", "nobody holds this lock; nothing to release");
		pk_map_close(fb);
		reply_end(r->c, fb);
		return;
	}
	if ((g = grant_for(r, l)) == NULL) {
		reply_not_yours(r, l, arg_has(r, "token"));
		return;
	}
	grant_release(g, "released");
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kbool(fb, "released", 1);
	pk_map_close(fb);
	reply_end(r->c, fb);
	lock_pump_all();
}

void
op_lock_renew(struct req *r)
{
	struct fbuf *fb;
	struct lock *l;
	struct grant *g;
	double ttl = arg_num(r, "ttl_seconds");

	if (lock_named(r, &l) != 0)
		return;
	if (l == NULL || TAILQ_EMPTY(&l->holders)) {
		reply_error(r->c, r->id, ERR_NOT_FOUND, "name",
		    "nobody holds this lock (it may have expired); take it again with "
		    "lock_acquire");
		return;
	}
	if ((g = grant_for(r, l)) == NULL) {
		reply_not_yours(r, l, arg_has(r, "token"));
		return;
	}
	if (g->session != NULL) {
		TAILQ_REMOVE(&g->session->grants, g, sentry);
		session_changed(g->session);
		g->session = NULL;
	}
	store_mark(&lock_store_kind, l->key);
	if (g->ttl_ev == NULL)
		g->ttl_ev = timer_new(grant_expire_cb, g);
	g->expires_ms = mono_ms() + (uint64_t)(ttl * 1000);
	timer_in(g->ttl_ev, ttl);
	revision_next();
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kbool(fb, "renewed", 1);
	pk_kdouble(fb, "expires_in_seconds", ttl);
	pk_kuint(fb, "fence", g->fence);
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/*
 * The user breaks a lock its holder forgot (DESIGN 5.1): every holder
 * loses it, the broker log records who broke it, and each holder's
 * inbox says so, from the breaker; then the queue moves.
 */
/* Take g away from its holder on behalf of breaker, logged and told in its inbox. */
static void
lock_break_grant(struct grant *g, const char *breaker, const char *reason)
{
	struct lock *l = g->lock;
	char *subject, *body, why[96];

	log_warnx("lock %s (project %s): %s broke the %s grant of %s (session %s, fence "
		  "%llu)%s%s",
	    l->name, l->project, breaker, mode_name(g->mode), g->agent, g->sid,
	    (unsigned long long)g->fence, reason != NULL ? ": " : "",
	    reason != NULL ? reason : "");
	if (strcmp(g->agent, breaker) != 0) {
		xasprintf(&subject, "your lock %s was broken by %s", l->name, breaker);
		xasprintf(&body,
		    "%s broke your %s lock %s (fence %llu)%s%s. It is no longer "
		    "yours: stop what you were doing under it, and acquire it again "
		    "before you go on.",
		    breaker, mode_name(g->mode), l->name, (unsigned long long)g->fence,
		    reason != NULL ? ". Reason: " : "", reason != NULL ? reason : "");
		msg_notice(l->project, breaker, g->agent, subject, body);
		free(subject);
		free(body);
	}
	snprintf(why, sizeof why, "broken by %s", breaker);
	grant_release(g, why);
}

void
op_lock_break(struct req *r)
{
	struct grant *g;
	struct fbuf *fb;
	struct lock *l;
	char *reason;
	int held;

	if (lock_named(r, &l) != 0)
		return;
	held = l != NULL && !TAILQ_EMPTY(&l->holders);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kbool(fb, "broken", held);
	pk_str(fb, "holders");
	if (held)
		pk_holders(fb, l);
	else
		pk_array(fb, 0);
	pk_kstr(fb, "hint",
	    held ? "the holders were told in their inbox; what they do under "
		   "the lock is no longer protected"
		 : "nobody holds this lock; nothing to break");
	pk_map_close(fb);
	reply_end(r->c, fb);
	if (!held)
		return;
	reason = arg_strdup(r, "reason");
	while ((g = TAILQ_FIRST(&l->holders)) != NULL)
		lock_break_grant(g, r->s->agent, reason);
	free(reason);
	lock_pump_all();
}

/* Mode of a lock's holders, for listings. */
static const char *
lock_mode_of(const struct lock *l)
{
	const struct grant *g = TAILQ_FIRST(&l->holders);

	return (g == NULL ? "free" : mode_name(g->mode));
}

/* One lock of lock_list: its holders and its queue. */
static void
pk_lock(struct fbuf *fb, struct lock *l)
{
	struct wlink *k;
	uint64_t now = mono_ms();

	pk_map_open(fb);
	pk_kstr(fb, "name", l->name);
	pk_kstr(fb, "mode", lock_mode_of(l));
	pk_str(fb, "holders");
	pk_holders(fb, l);
	pk_str(fb, "waiters");
	pk_array_open(fb);
	TAILQ_FOREACH(k, &l->queue, entry) {
		pk_map_open(fb);
		pk_kstr(fb, "agent", k->w->session->agent);
		pk_kstr(fb, "session", k->w->session->id);
		pk_kstr(fb, "mode", mode_name(k->w->mode));
		pk_kdouble(fb, "waited_seconds", (double)(now - k->w->since_ms) / 1000.0);
		pk_kbool(fb, "active", k->w->active);
		pk_map_close(fb);
	}
	pk_array_close(fb);
	pk_map_close(fb);
}

void
op_lock_list(struct req *r)
{
	size_t plen, n = 0;
	const char *prefix = arg_str(r, "prefix", &plen);
	struct lock *l, *tmp;
	struct fbuf *fb;

	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_str(fb, "locks");
	pk_array_open(fb);
	HASH_ITER(hh, locks, l, tmp) {
		if (strcmp(l->project, r->s->project) != 0 &&
		    strcmp(l->project, GLOBAL_PROJECT) != 0)
			continue;
		if (strncmp(l->name, prefix, plen) != 0 ||
		    (TAILQ_EMPTY(&l->holders) && TAILQ_EMPTY(&l->queue)))
			continue;
		pk_lock(fb, l);
		n++;
	}
	pk_array_close(fb);
	pk_kuint(fb, "count", n);
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/* The session ended: drop its waits and session-bound grants, wake queues. */
static void
lock_session_closed(struct session *s)
{
	struct waiter *w;
	struct grant *g;

	while ((w = TAILQ_FIRST(&s->waiters)) != NULL) {
		waiter_unlink(w);
		waiter_free(w);
	}
	while ((g = TAILQ_FIRST(&s->grants)) != NULL)
		grant_release(g, "session ended");
	lock_pump_all();
}

/* A cancel frame: end the wait of that request; 1 if it was a lock wait. */
static int
lock_cancel(struct session *s, uint64_t id)
{
	struct waiter *w;

	TAILQ_FOREACH(w, &s->waiters, sentry) {
		if (w->active && w->req_id == id)
			break;
	}
	if (w == NULL)
		return (0);
	reply_error(s->client, id, ERR_CANCELLED, NULL, "wait cancelled");
	waiter_unlink(w);
	waiter_free(w);
	lock_pump_all();
	return (1);
}

/*
 * Locks end with their session (the session-bound ones), waits can be
 * cancelled, and a session holding grants keeps its row.
 */
void
lock_init(void)
{
	session_on_close(lock_session_closed);
	session_on_cancel(lock_cancel);
	session_on_hold(lock_session_grants);
}

/* Locks held in a project (NULL: all). */
size_t
lock_count(const char *project)
{
	struct lock *l, *tmp;
	size_t n = 0;

	HASH_ITER(hh, locks, l, tmp) {
		if (!TAILQ_EMPTY(&l->holders) &&
		    (project == NULL || strcmp(l->project, project) == 0))
			n++;
	}
	return (n);
}

size_t
lock_waiter_count(void)
{
	return (nwaiting);
}

/* At exit: the grants stay, for the next broker to restore (DESIGN 8). */
void
lock_shutdown(void)
{
	/* grants stay: the database has them for the next broker (DESIGN 8) */
	free(wake_list);
	wake_list = NULL;
	wake_cap = 0;
}

/* Session-bound grants a session holds (what a reclaim gives back). */
size_t
lock_session_grants(struct session *s)
{
	struct grant *g;
	size_t n = 0;

	TAILQ_FOREACH(g, &s->grants, sentry)
		n++;
	return (n);
}

/* Row of a lock: its holders; 0 when nobody holds it. */
static int
lock_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct lock *l;
	struct grant *g;

	HASH_FIND_STR(locks, key, l);
	if (l == NULL || TAILQ_EMPTY(&l->holders))
		return (0);
	pk_map_open(fb);
	pk_kstr(fb, "project", l->project);
	pk_kstr(fb, "name", l->name);
	pk_kstr(fb, "path", l->path);
	pk_str(fb, "holders");
	pk_array_open(fb);
	TAILQ_FOREACH(g, &l->holders, lentry) {
		pk_map_open(fb);
		pk_kstr(fb, "sid", g->sid);
		pk_kbool(fb, "bound", g->session != NULL);
		pk_kstr(fb, "agent", g->agent);
		pk_kstr(fb, "reason", g->reason);
		pk_kstr(fb, "token", g->token);
		pk_kuint(fb, "fence", g->fence);
		pk_kstr(fb, "mode", mode_name(g->mode));
		/* times are stored as wall-clock time and re-based at restore */
		pk_kint(fb, "granted", past_to_wall(g->granted_ms));
		pk_kint(fb, "expires", deadline_to_wall(g->expires_ms));
		pk_map_close(fb);
	}
	pk_array_close(fb);
	pk_map_close(fb);
	return (1);
}

/*
 * Rebuild one grant of a stored lock: a detached one with what is left
 * of its TTL, a session-bound one under its restored session (in its
 * grace period).  Expired or orphaned grants are dropped.
 */
static void
lock_restore_grant(struct lock *l, const msgpack_object *h)
{
	char *sid = mp_get_strdup(h, "sid"), *agent = mp_get_strdup(h, "agent");
	char *token = mp_get_strdup(h, "token"), *reason = mp_get_strdup(h, "reason");
	enum lock_mode m = mp_streq(mp_get(h, "mode"), "shared") ? LOCK_SHARED : LOCK_EXCLUSIVE;
	struct session *s;
	struct grant *g;
	int64_t fence, expires;
	int bound;
	double ttl;

	if (mp_int(mp_get(h, "fence"), &fence) != 0 ||
	    mp_int(mp_get(h, "expires"), &expires) != 0 ||
	    mp_bool(mp_get(h, "bound"), &bound) != 0)
		goto out;
	s = bound && sid != NULL ? session_find(sid) : NULL;
	ttl = bound ? 0 : secs_left(deadline_from_wall(expires));
	if (sid != NULL && agent != NULL && token != NULL && strlen(token) == TOKEN_LEN &&
	    (bound ? s != NULL && s->client == NULL : ttl > 0)) {
		g = grant_new(l, s, agent, sid, m, ttl, reason, token, (uint64_t)fence);
		g->granted_ms = past_from_wall(mp_get_int(h, "granted", 0));
	}
out:
	free(sid);
	free(agent);
	free(token);
	free(reason);
}

/* Rebuild a lock and the grants of its row. */
static int
lock_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	const msgpack_object *hs = mp_get(o, "holders");
	char *project = mp_get_strdup(o, "project"), *name = mp_get_strdup(o, "name");
	char *path = mp_get_strdup(o, "path");
	struct lock *l;
	uint32_t i;

	if (project == NULL || name == NULL || hs == NULL || hs->type != MSGPACK_OBJECT_ARRAY) {
		free(project);
		free(name);
		free(path);
		xasprintf(cause, "lock %s: bad row", key);
		return (-1);
	}
	l = lock_get(project, name, path);
	for (i = 0; i < hs->via.array.size; i++)
		lock_restore_grant(l, &hs->via.array.ptr[i]);
	lock_gc(l);
	return (0);
}

const struct store_kind lock_store_kind = {
	.name = "lock",
	.pack = lock_pack,
	.restore = lock_restore,
};

/* The names of the locks a session holds, as an array (for agent_list). */
void
lock_pack_session_names(struct fbuf *fb, struct session *s)
{
	struct grant *g;
	struct lock *l, *tmp;

	pk_array_open(fb);
	TAILQ_FOREACH(g, &s->grants, sentry)
		pk_str(fb, g->lock->name);
	/* detached grants this session took */
	HASH_ITER(hh, locks, l, tmp) {
		TAILQ_FOREACH(g, &l->holders, lentry) {
			if (g->session == NULL && strcmp(g->sid, s->id) == 0)
				pk_str(fb, l->name);
		}
	}
	pk_array_close(fb);
}
