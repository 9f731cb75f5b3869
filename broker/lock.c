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
 *
 * A wait that times out leaves its waiter in line, parked, with a
 * ticket that keeps its place for cfg.ticket_grace seconds.  A parked
 * waiter is between two calls: the waiters behind it are served while
 * it is away (a free lock never sits idle for it), and when it comes
 * back with its ticket it is ahead of everyone still in line.
 *
 * A session's own grants never stand in its way: asking again for what
 * it holds returns the grant it has (same token, same fence).  The
 * grants of one acquire share their token (struct gset), and releasing
 * by that token frees them all.  Listings and the checkpoint rows are
 * lockrow.c's, the reservations of task claims lockhold.c's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"

#define LOCK_WAITERS_MAX 1024 /* waiters per lock */

struct lock *locks;
static TAILQ_HEAD(, lock) file_locks = TAILQ_HEAD_INITIALIZER(file_locks);
static struct gset *gsets;
static size_t nwaiting;
static uint64_t waiter_seq;
static struct lock **wake_list;
static size_t wake_len, wake_cap;
static void (*file_freed_fn)(const char *);

const char *
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

struct lock *
lock_find(const char *project, const char *name)
{
	size_t plen = strlen(project), nlen = strlen(name);
	char buf[256], *key = buf;
	struct lock *l;

	/* the key "PROJECT\nNAME", on the stack when it fits (every lookup of a lock) */
	if (plen + nlen + 2 > sizeof buf)
		key = xmalloc(plen + nlen + 2);
	memcpy(key, project, plen);
	key[plen] = '\n';
	memcpy(key + plen + 1, name, nlen + 1);
	HASH_FIND(hh, locks, key, plen + nlen + 1, l);
	if (key != buf)
		free(key);
	return (l);
}

/* Find or make the lock for a resolved name; takes ownership of the strings. */
struct lock *
lock_get(char *project, char *name, char *path)
{
	struct lock *l;
	size_t plen, nlen;

	if ((l = lock_find(project, name)) != NULL) {
		free(project);
		free(name);
		free(path);
		return (l);
	}
	l = xcalloc(1, sizeof *l);
	/* "PROJECT\nNAME" by hand: a lock is made on every first acquire */
	plen = strlen(project);
	nlen = strlen(name);
	l->key = xmalloc(plen + nlen + 2);
	memcpy(l->key, project, plen);
	l->key[plen] = '\n';
	memcpy(l->key + plen + 1, name, nlen + 1);
	l->project = project;
	l->name = name;
	l->path = path;
	TAILQ_INIT(&l->holders);
	TAILQ_INIT(&l->queue);
	HASH_ADD_KEYPTR(hh, locks, l->key, plen + nlen + 1, l);
	if (l->path != NULL)
		TAILQ_INSERT_TAIL(&file_locks, l, fentry);
	return (l);
}

/* Forget a lock nobody holds or waits for. */
void
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

/* Does grant g stand in the way of taking l in mode m, for session self? */
static int
grant_blocks(const struct grant *g, enum lock_mode m, const char *self)
{
	if (self != NULL && strcmp(g->sid, self) == 0)
		return (0); /* one's own grants never stand in one's way */
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
 * Call fn for every grant that keeps session self (its id; NULL:
 * nobody) from taking l in mode m: its holders and, for file
 * reservations, holders of overlapping ones.  Stops and returns 1 when
 * fn returns non-zero.
 */
static int
lock_blockers(struct lock *l, enum lock_mode m, const char *self,
    int (*fn)(struct grant *, void *), void *arg)
{
	struct grant *g;
	struct lock *o;

	TAILQ_FOREACH(g, &l->holders, lentry) {
		if (grant_blocks(g, m, self) && fn(g, arg))
			return (1);
	}
	if (l->path == NULL)
		return (0);
	TAILQ_FOREACH(o, &file_locks, fentry) {
		if (o == l || !lock_overlaps(l, o))
			continue;
		TAILQ_FOREACH(g, &o->holders, lentry) {
			if (grant_blocks(g, m, self) && fn(g, arg))
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
lock_free_for(struct lock *l, enum lock_mode m, const char *self)
{
	return (!lock_blockers(l, m, self, blocker_any, NULL));
}

/* Do two requests in modes m and o exclude each other? */
static int
modes_conflict(enum lock_mode m, enum lock_mode o)
{
	return (m == LOCK_EXCLUSIVE || o == LOCK_EXCLUSIVE);
}

/*
 * How many requests present in line (not parked) before seq, in a mode
 * that excludes m, stand on file reservations overlapping l (not l
 * itself: its own queue order covers that)?  Nobody may overtake them.
 */
static size_t
lock_queued_ahead(struct lock *l, enum lock_mode m, uint64_t seq)
{
	struct wlink *k;
	struct lock *o;
	size_t n = 0;

	if (l->path == NULL)
		return (0);
	TAILQ_FOREACH(o, &file_locks, fentry) {
		if (o == l || TAILQ_EMPTY(&o->queue) || !lock_overlaps(l, o))
			continue;
		TAILQ_FOREACH(k, &o->queue, entry) {
			if (k->w->active && k->w->seq < seq && modes_conflict(m, k->w->mode))
				n++;
		}
	}
	return (n);
}

/* Requests present in l's own line (parked ones are away). */
static size_t
lock_present(const struct lock *l)
{
	struct wlink *k;
	size_t n = 0;

	TAILQ_FOREACH(k, &l->queue, entry) {
		if (k->w->active)
			n++;
	}
	return (n);
}

/*
 * Can waiter w be granted now: nobody present ahead of it in any of its
 * queues (parked waiters are away: they do not hold the line), nothing
 * held in its way?
 */
static int
waiter_ready(struct waiter *w)
{
	struct wlink *k;
	size_t i;

	for (i = 0; i < w->n; i++) {
		for (k = TAILQ_FIRST(&w->locks[i]->queue); k != &w->links[i];
		     k = TAILQ_NEXT(k, entry)) {
			if (k->w->active)
				return (0);
		}
		if (!lock_free_for(w->locks[i], w->mode, w->session->id))
			return (0);
		if (lock_queued_ahead(w->locks[i], w->mode, w->seq) > 0)
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

/* A lock lost a holder or a waiter: its queue, and overlapping reservations, may move. */
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

/* The set of grants with this token (len bytes), or NULL. */
struct gset *
gset_find(const char *token, size_t len)
{
	struct gset *set;

	if (len != TOKEN_LEN)
		return (NULL);
	HASH_FIND(hh, gsets, token, len, set);
	if (set != NULL && token_cmp(set->token, token, len) != 0)
		return (NULL);
	return (set);
}

/* The set of token, made on first use. */
static struct gset *
gset_get(const char *token)
{
	struct gset *set = gset_find(token, strlen(token));

	if (set != NULL)
		return (set);
	set = xcalloc(1, sizeof *set);
	memcpy(set->token, token, strnlen(token, TOKEN_LEN)); /* calloc ended it */
	TAILQ_INIT(&set->grants);
	HASH_ADD(hh, gsets, token, TOKEN_LEN, set);
	return (set);
}

static void grant_expire_cb(evutil_socket_t, short, void *);

/*
 * Give lock l to session s; or detached, expiring after ttl seconds, in
 * the name of agent/sid; or, with neither, held for a task's claim.
 */
struct grant *
grant_new(struct lock *l, struct session *s, const char *agent, const char *sid,
    enum lock_mode m, double ttl, const char *reason, const char *token, uint64_t fence)
{
	struct grant *g = xcalloc(1, sizeof *g);

	g->lock = l;
	g->mode = m;
	g->fence = fence;
	g->agent = xstrdup(agent);
	g->reason = reason != NULL ? xstrdup(reason) : NULL;
	memcpy(g->sid, sid, strnlen(sid, sizeof g->sid - 1)); /* calloc ended it */
	g->set = gset_get(token);
	TAILQ_INSERT_TAIL(&g->set->grants, g, gentry);
	g->granted_ms = mono_ms();
	if (ttl > 0) {
		g->expires_ms = g->granted_ms + (uint64_t)(ttl * 1000);
		g->ttl_ev = timer_new(grant_expire_cb, g);
		timer_in(g->ttl_ev, ttl);
	} else if (s != NULL) {
		g->session = s;
		TAILQ_INSERT_TAIL(&s->grants, g, sentry);
		session_changed(s);
	} else
		g->held = 1;
	TAILQ_INSERT_TAIL(&l->holders, g, lentry);
	store_mark(&lock_store_kind, l->key);
	return (g);
}

/* Take a grant away and let the queue move. */
void
grant_release(struct grant *g, const char *why)
{
	struct lock *l = g->lock;

	log_info("lock %s: released by %s (%s)", l->name, g->agent, why);
	TAILQ_REMOVE(&l->holders, g, lentry);
	if (g->session != NULL) {
		TAILQ_REMOVE(&g->session->grants, g, sentry);
		session_changed(g->session);
	}
	TAILQ_REMOVE(&g->set->grants, g, gentry);
	if (TAILQ_EMPTY(&g->set->grants)) {
		HASH_DEL(gsets, g->set);
		free(g->set);
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

/*
 * A detached grant's TTL ran out: it is released and, like a broken
 * lock, its holder's inbox says so (a lost lock is news baton hook
 * brings to the agent).
 */
static void
grant_expire_cb(evutil_socket_t fd, short events, void *arg)
{
	struct grant *g = arg;
	char *subject, *body;

	xasprintf(&subject, "your lock %s expired", g->lock->name);
	xasprintf(&body,
	    "Your %s lock %s (fence %llu) reached the end of its ttl_seconds and was "
	    "released: it is no longer yours. Acquire it again before you go on, and "
	    "renew a detached lock (lock_renew) before it expires.",
	    mode_name(g->mode), g->lock->name, (unsigned long long)g->fence);
	msg_notice(g->lock->project, "baton", g->agent, subject, body, NULL);
	free(subject);
	free(body);
	feed_record(NULL, "expired", "lock", g->lock->project, g->lock->name,
	    "%s's lock expired (ttl ran out)", g->agent);
	grant_release(g, "ttl expired");
	lock_pump_all();
}

/* Pack a grant as a holder description. */
void
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
void
pk_holders(struct fbuf *fb, struct lock *l)
{
	struct grant *g;

	pk_array_open(fb);
	TAILQ_FOREACH(g, &l->holders, lentry)
		pk_holder(fb, g, 0);
	pk_array_close(fb);
}

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

/* The grants that keep session self (its id) from taking ls in mode m. */
void
blockers_of(struct lock **ls, size_t n, enum lock_mode m, const char *self, struct blockers *b)
{
	size_t i;

	memset(b, 0, sizeof *b);
	for (i = 0; i < n; i++)
		lock_blockers(ls[i], m, self, blocker_collect, b);
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

/* Pack the names of a request: those asked for now and those held already. */
static void
pk_names(struct fbuf *fb, struct lock **ls, size_t n, char *const *held, size_t nheld)
{
	size_t i;

	pk_str(fb, "names");
	pk_array(fb, n + nheld);
	for (i = 0; i < nheld; i++)
		pk_str(fb, held[i]);
	for (i = 0; i < n; i++)
		pk_str(fb, ls[i]->name);
	if (nheld == 0)
		return;
	pk_str(fb, "held");
	pk_array(fb, nheld);
	for (i = 0; i < nheld; i++)
		pk_str(fb, held[i]);
}

/* What a grant's answer says: the names and whether the call waited. */
struct granted {
	struct lock **ls; /* granted now */
	size_t n;
	char **held; /* the caller's already */
	size_t nheld;
	double cap; /* the cap on the wait; 0: the call did not ask to wait */
};

/* what a session-bound grant is told (reply_granted) */
#define GRANTED_SESSION_HINT \
	"held until you call lock_release (this token frees every name of this grant) or " \
	"your session ends"
#define GRANTED_HELD_HINT "; the names in held were yours already, under their own grant"

/* Answer a successful acquire with grant g (a new one, or the caller's). */
static void
reply_granted(struct client *c, uint64_t id, const struct granted *a, const struct grant *g)
{
	struct fbuf *fb = reply_begin(id);
	uint64_t now = mono_ms();
	double left = 0;
	char hint[256];
	const char *h = hint;

	if (g->expires_ms != 0)
		left = g->expires_ms > now ? (double)(g->expires_ms - now) / 1000.0 : 0.0;
	pk_map_open(fb);
	pk_kbool(fb, "acquired", 1);
	pk_kstr(fb, "token", g->set->token);
	pk_kuint(fb, "fence", g->fence);
	pk_kstr(fb, "mode", mode_name(g->mode));
	pk_names(fb, a->ls, a->n, a->held, a->nheld);
	if (g->expires_ms != 0)
		pk_kdouble(fb, "expires_in_seconds", left);
	if (a->cap > 0)
		pk_kdouble(fb, "wait_cap_seconds", a->cap);
	if (a->n == 0)
		snprintf(hint, sizeof hint,
		    "already yours: this is the grant you hold (same token and fence)%s%s",
		    g->reason != NULL ? ", for " : "", g->reason != NULL ? g->reason : "");
	else if (g->expires_ms != 0)
		snprintf(hint, sizeof hint,
		    "held until released or %g s from now (renew with lock_renew); "
		    "lock_release with this token frees every name of this grant",
		    left);
	else /* the common answers are constants: nothing printed */
		h = a->nheld > 0 ? GRANTED_SESSION_HINT GRANTED_HELD_HINT
				 : GRANTED_SESSION_HINT;
	pk_kstr(fb, "hint", h);
	pk_map_close(fb);
	reply_end(c, fb);
}

/* Grant every lock of a request with one token and one fence. */
static struct grant *
lock_grant_all(struct lock **ls, size_t n, struct session *s, enum lock_mode m, double ttl,
    const char *reason)
{
	struct grant *g = NULL;
	char token[TOKEN_LEN + 1];
	uint64_t fence = revision_next();
	size_t i;

	random_hex(token, sizeof token);
	for (i = 0; i < n; i++)
		g = grant_new(ls[i], s, s->agent, s->id, m, ttl, reason, token, fence);
	feed_record(s, "lock_acquire", "lock", ls[0]->project, ls[0]->name,
	    "granted %s%s, fence %llu%s%s", mode_name(m), n > 1 ? " with other names" : "",
	    (unsigned long long)fence, reason != NULL ? ": " : "",
	    reason != NULL ? reason : "");
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
waiter_free_held(struct waiter *w)
{
	size_t i;

	for (i = 0; i < w->nheld; i++)
		free(w->held[i]);
	free(w->held);
	w->held = NULL;
	w->nheld = 0;
}

static void
waiter_free(struct waiter *w)
{
	if (w->timer != NULL)
		event_free(w->timer);
	waiter_free_held(w);
	free(w->reason);
	free(w->locks);
	free(w->links);
	free(w);
}

/* Grant a waiter that nobody present is ahead of any more. */
static void
waiter_grant(struct waiter *w)
{
	struct granted a = { w->locks, w->n, w->held, w->nheld, w->cap };
	struct grant *g;

	waiter_unlink(w);
	g = lock_grant_all(w->locks, w->n, w->session, w->mode, w->ttl, w->reason);
	reply_granted(w->session->client, w->req_id, &a, g);
	waiter_free(w);
}

/*
 * The projects of the file reservations on the wake list (each once
 * in a row), copied: what lock_on_file_freed's function is told.
 */
static char **
lock_freed_projects(size_t *np)
{
	char **v = NULL;
	size_t i;

	*np = 0;
	for (i = 0; i < wake_len && file_freed_fn != NULL; i++) {
		if (wake_list[i]->path == NULL ||
		    (*np > 0 && strcmp(v[*np - 1], wake_list[i]->project) == 0))
			continue;
		v = xreallocarray(v, *np + 1, sizeof *v);
		v[(*np)++] = xstrdup(wake_list[i]->project);
	}
	return (v);
}

/*
 * Let every woken lock grant its waiters that may go, in this loop
 * iteration: in line order, past the parked ones, up to the first
 * present waiter that must still wait.  Then, once the wake list is
 * done with, tell whoever asked (lock_on_file_freed) which projects'
 * file reservations moved: what it does may take or free locks itself.
 */
void
lock_pump_all(void)
{
	struct wlink *k;
	struct lock *l;
	char **projects;
	size_t i, np;

	for (i = 0; i < wake_len; i++) {
		l = wake_list[i];
		k = TAILQ_FIRST(&l->queue);
		while (k != NULL) {
			if (!k->w->active) {
				k = TAILQ_NEXT(k, entry);
				continue;
			}
			if (!waiter_ready(k->w))
				break;
			waiter_grant(k->w); /* may append to wake_list */
			k = TAILQ_FIRST(&l->queue);
		}
	}
	projects = lock_freed_projects(&np);
	for (i = 0; i < wake_len; i++)
		wake_list[i]->pumping = 0;
	for (i = 0; i < wake_len; i++)
		lock_gc(wake_list[i]);
	wake_len = 0;
	for (i = 0; i < np; i++) {
		file_freed_fn(projects[i]);
		free(projects[i]);
	}
	free(projects);
}

/* Tell fn (the task claims) the project of every file reservation that moved. */
void
lock_on_file_freed(void (*fn)(const char *))
{
	file_freed_fn = fn;
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
	blockers_of(w->locks, w->n, w->mode, w->session->id, &b);
	fb = reply_begin(w->req_id);
	pk_map_open(fb);
	pk_kbool(fb, "acquired", 0);
	pk_names(fb, w->locks, w->n, w->held, w->nheld);
	pk_str(fb, "holders");
	pk_array(fb, b.n);
	for (i = 0; i < b.n; i++)
		pk_holder(fb, b.v[i], 1);
	pk_kuint(fb, "queue_position", pos);
	pk_kstr(fb, "ticket", w->ticket);
	if (w->cap > 0)
		pk_kdouble(fb, "wait_cap_seconds", w->cap);
	snprintf(hint, sizeof hint,
	    "still queued (position %zu); call lock_acquire again "
	    "with this ticket within %g s to keep your place",
	    pos, cfg.ticket_grace);
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	reply_end(w->session->client, fb);
	free(b.v);
	/* parked: those behind it go while it is away, it keeps its place */
	w->active = 0;
	w->req_id = 0;
	timer_in(w->timer, cfg.ticket_grace);
	for (i = 0; i < w->n; i++)
		lock_freed(w->locks[i]);
	lock_pump_all();
}

/*
 * Would session s waiting for ls close a cycle?  Walks from the
 * sessions that block the request (holders, and waiters present ahead
 * in line) through what they wait for.  On a cycle fills path and
 * returns 1.
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

/* Prepend a step ("who verb what more; ") to the cycle's description. */
static void
dl_step(struct dl_walk *d, const char *who, const char *verb, const char *what,
    const char *more)
{
	char *p;

	xasprintf(&p, "%s %s %s%s; %s", who, verb, what, more, d->path != NULL ? d->path : "");
	free(d->path);
	d->path = p;
}

/* Is origin reachable from the sessions blocking a request of session who? */
static int
dl_from(struct dl_walk *d, struct lock **ls, size_t n, enum lock_mode m,
    const struct waiter *self, struct session *who, int depth)
{
	struct blockers b;
	struct wlink *k;
	size_t i;
	int found = 0;

	blockers_of(ls, n, m, who->id, &b);
	for (i = 0; i < b.n && !found; i++) {
		if (b.v[i]->session == NULL)
			continue;
		if (dl_visit(d, b.v[i]->session, depth)) {
			dl_step(d, b.v[i]->agent, "holds", b.v[i]->lock->name, "");
			found = 1;
		}
	}
	free(b.v);
	for (i = 0; i < n && !found && self != NULL; i++) {
		TAILQ_FOREACH(k, &ls[i]->queue, entry) {
			if (k->w == self)
				break;
			if (!k->w->active || k->w->session == who)
				continue;
			if (dl_visit(d, k->w->session, depth)) {
				dl_step(d, k->w->session->agent, "is queued ahead for",
				    ls[i]->name, "");
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
		if (w->active && dl_from(d, w->locks, w->n, w->mode, w, s, depth + 1)) {
			dl_step(d, s->agent, "waits for", w->locks[0]->name,
			    w->n > 1 ? ",..." : "");
			return (1);
		}
	}
	return (0);
}

/* Copy the names held already into w (they are told when it is granted). */
static void
waiter_set_held(struct waiter *w, char *const *held, size_t nheld)
{
	size_t i;

	waiter_free_held(w);
	if (nheld == 0)
		return;
	w->held = xreallocarray(NULL, nheld, sizeof *w->held);
	for (i = 0; i < nheld; i++)
		w->held[i] = xstrdup(held[i]);
	w->nheld = nheld;
}

/* Put a new waiter in line behind everyone already queued. */
static struct waiter *
waiter_new(struct req *r, struct lock **ls, size_t n, enum lock_mode m, double ttl,
    const char *reason, const struct granted *a)
{
	struct waiter *w = xcalloc(1, sizeof *w);
	size_t i;

	w->session = r->s;
	w->req_id = r->id;
	w->seq = ++waiter_seq;
	w->active = 1;
	w->mode = m;
	w->ttl = ttl;
	w->cap = a->cap;
	w->reason = reason != NULL ? xstrdup(reason) : NULL;
	w->since_ms = mono_ms();
	w->n = n;
	w->locks = xreallocarray(NULL, n, sizeof *w->locks);
	w->links = xcalloc(n, sizeof *w->links);
	waiter_set_held(w, a->held, a->nheld);
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

/* Requests present in line for ls ahead of a newcomer, in a mode that excludes m. */
static size_t
lock_line_ahead(struct lock **ls, size_t n, enum lock_mode m)
{
	size_t i, ahead = 0;

	for (i = 0; i < n; i++)
		ahead += lock_present(ls[i]) + lock_queued_ahead(ls[i], m, UINT64_MAX);
	return (ahead);
}

/*
 * Answer "not acquired" at once, naming who is in the way: the holders,
 * or when nobody holds what was asked for, the requests in line ahead.
 */
static void
reply_busy(struct req *r, struct lock **ls, size_t n, enum lock_mode m, const struct granted *a)
{
	struct blockers b;
	struct fbuf *fb;
	size_t i, ahead = 0;
	char hint[256];

	blockers_of(ls, n, m, r->s->id, &b);
	if (b.n == 0)
		ahead = lock_line_ahead(ls, n, m);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kbool(fb, "acquired", 0);
	pk_names(fb, ls, n, a->held, a->nheld);
	pk_str(fb, "holders");
	pk_array(fb, b.n);
	for (i = 0; i < b.n; i++)
		pk_holder(fb, b.v[i], 1);
	if (b.n > 0)
		snprintf(hint, sizeof hint,
		    "held by someone else (see holders); call again with wait_seconds to wait "
		    "in line instead of polling");
	else {
		pk_kuint(fb, "queued_ahead", ahead);
		snprintf(hint, sizeof hint,
		    "nobody holds it, but %zu request%s already wait%s in line for it and "
		    "nobody overtakes them; call again with wait_seconds to take your place "
		    "in line",
		    ahead, ahead == 1 ? "" : "s", ahead == 1 ? "s" : "");
	}
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
				    "%s is named twice (names[%zu] and names[%zu] are the same "
				    "lock once normalized); name each lock once",
				    ls[i]->name, j, i);
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

/* The grant session sid holds on l, or NULL. */
static struct grant *
grant_of(struct lock *l, const char *sid)
{
	struct grant *g;

	TAILQ_FOREACH(g, &l->holders, lentry) {
		if (strcmp(g->sid, sid) == 0)
			return (g);
	}
	return (NULL);
}

/*
 * Split the n locks of ls: those the caller holds already go to held
 * (their names; valid while the locks live) with one of their grants in
 * *mine, the others to want (*nwant).  A lock held shared asked for
 * exclusive is refused (answered, -1): it would wait for the caller.
 */
static int
lock_split_mine(struct req *r, struct lock **ls, size_t n, enum lock_mode m, struct lock **want,
    size_t *nwant, struct granted *a, struct grant **mine)
{
	struct grant *g;
	size_t i;

	*nwant = 0;
	*mine = NULL;
	for (i = 0; i < n; i++) {
		if ((g = grant_of(ls[i], r->s->id)) == NULL) {
			want[(*nwant)++] = ls[i];
			continue;
		}
		if (g->mode == LOCK_SHARED && m == LOCK_EXCLUSIVE) {
			reply_error(r->c, r->id, ERR_CONFLICT,
			    arg_has(r, "name") ? "name" : "names",
			    "you hold %s shared; a lock is not upgraded in place (that would "
			    "wait for yourself): release it, then acquire it exclusive",
			    ls[i]->name);
			return (-1);
		}
		a->held[a->nheld++] = ls[i]->name;
		*mine = g;
	}
	return (0);
}

/* A ticket brings a timed-out waiter back in line where it was. */
static void
lock_acquire_again(struct req *r, struct waiter *w, enum lock_mode m, double wait,
    const struct granted *a)
{
	w->active = 1;
	w->req_id = r->id;
	w->mode = m;
	w->cap = a->cap;
	waiter_set_held(w, a->held, a->nheld);
	evtimer_del(w->timer);
	if (waiter_ready(w)) {
		waiter_grant(w);
		lock_pump_all();
	} else if (wait > 0)
		timer_in(w->timer, wait);
	else
		waiter_timeout_cb(-1, 0, w);
}

/*
 * Can session self (its id) take ls in mode m at once: nothing held in
 * its way, and nobody present in line for them?
 */
int
lock_free_now(struct lock **ls, size_t n, enum lock_mode m, const char *self)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (lock_present(ls[i]) > 0 || !lock_free_for(ls[i], m, self) ||
		    lock_queued_ahead(ls[i], m, UINT64_MAX) > 0)
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
	if ((refused = dl_from(&d, ls, n, m, NULL, r->s, 0))) {
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
	struct granted a;
	struct waiter *w;
	struct lock **ls, *want[LOCK_NAMES_MAX];
	struct grant *g, *mine;
	char *held[LOCK_NAMES_MAX];
	size_t all, n, i, tlen = 0;
	const char *ticket = arg_str(r, "ticket", &tlen);
	char *reason = arg_strdup(r, "reason");
	double wait = arg_num(r, "wait_seconds"), ttl = arg_num(r, "ttl_seconds");

	memset(&a, 0, sizeof a);
	a.held = held;
	if (wait > 0 && wait > (a.cap = wait_cap(r)))
		wait = a.cap;
	if ((ls = lock_resolve_all(r, arg_get(r, "name"), arg_get(r, "names"), &all)) == NULL) {
		free(reason);
		return;
	}
	if (lock_split_mine(r, ls, all, m, want, &n, &a, &mine) != 0)
		goto out;
	a.ls = want;
	a.n = n;
	if (n == 0)
		reply_granted(r->c, r->id, &a, mine);
	else if (ticket != NULL && (w = waiter_by_ticket(r->s, ticket, tlen, want, n)) != NULL)
		lock_acquire_again(r, w, m, wait, &a);
	else if (lock_free_now(want, n, m, r->s->id)) {
		g = lock_grant_all(want, n, r->s, m, ttl, reason);
		reply_granted(r->c, r->id, &a, g);
	} else if (wait <= 0)
		/* a request that does not wait can neither deadlock nor overfill a queue */
		reply_busy(r, want, n, m, &a);
	else if (!lock_refuse_wait(r, want, n, m)) {
		w = waiter_new(r, want, n, m, ttl, reason, &a);
		timer_in(w->timer, wait);
	}
out:
	/* the names are distinct locks (lock_resolve_all): each collected once */
	for (i = 0; i < all; i++)
		lock_gc(ls[i]);
	free(ls);
	free(reason);
}

/* The grant of l the request may act on: by its token, or the caller's own. */
static struct grant *
grant_for(struct req *r, struct lock *l)
{
	struct grant *g;
	size_t tlen;
	const char *t = arg_str(r, "token", &tlen);

	if (t == NULL)
		return (grant_of(l, r->s->id));
	TAILQ_FOREACH(g, &l->holders, lentry) {
		if (token_cmp(g->set->token, t, tlen) == 0)
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

/* Look up the lock a name (len bytes) names (*lp NULL: none); -1 answered. */
static int
lock_named(struct req *r, const char *field, const char *s, size_t len, struct lock **lp)
{
	char *project, *canon, *path, *cause = NULL;

	if (lock_resolve(r->s, s, len, &project, &canon, &path, &cause) != 0) {
		reply_error(r->c, r->id, ERR_INVALID, field, "%s", cause);
		free(cause);
		return (-1);
	}
	*lp = lock_find(project, canon);
	free(project);
	free(canon);
	free(path);
	return (0);
}

/* The lock argument "name" names; -1 answered. */
static int
lock_named_arg(struct req *r, struct lock **lp)
{
	size_t len;
	const char *s = arg_str(r, "name", &len);

	return (lock_named(r, "name", s, len, lp));
}

/*
 * The grants a lock_release lets go, into b: with a token, every grant
 * of that token (each lock named must be one of them, or held by
 * nobody); without, the caller's own grant of each lock named.  -1 when
 * answered (a bad name, or a lock named that is someone else's).
 */
static int
release_collect(struct req *r, struct blockers *b)
{
	const msgpack_object *one = arg_get(r, "name"), *names = arg_get(r, "names");
	size_t tlen = 0, n, i, len;
	const char *t = arg_str(r, "token", &tlen), *s;
	struct gset *set = t != NULL ? gset_find(t, tlen) : NULL;
	struct lock *l;
	struct grant *g;
	size_t found = 0;

	memset(b, 0, sizeof *b);
	n = one != NULL ? 1 : names != NULL ? names->via.array.size : 0;
	for (i = 0; i < n; i++) {
		mp_str(one != NULL ? one : &names->via.array.ptr[i], &s, &len);
		if (lock_named(r, one != NULL ? "name" : "names", s, len, &l) != 0)
			goto fail;
		if (l == NULL || TAILQ_EMPTY(&l->holders))
			continue;
		if ((g = grant_for(r, l)) == NULL) {
			reply_not_yours(r, l, t != NULL);
			goto fail;
		}
		found++;
		if (set == NULL)
			blocker_collect(g, b);
	}
	/* a token frees its whole grant, unless every lock named is free already */
	if (set != NULL && (n == 0 || found > 0)) {
		TAILQ_FOREACH(g, &set->grants, gentry)
			blocker_collect(g, b);
	}
	return (0);
fail:
	free(b->v);
	return (-1);
}

void
op_lock_release(struct req *r)
{
	struct blockers b;
	struct fbuf *fb;
	size_t i;

	if (!arg_has(r, "name") && !arg_has(r, "names") && !arg_has(r, "token")) {
		reply_error(r->c, r->id, ERR_INVALID, "name",
		    "lock_release needs name, names or token: the token frees every name of "
		    "its grant, names without a token free those of yours");
		return;
	}
	if (arg_has(r, "name") && arg_has(r, "names")) {
		reply_error(r->c, r->id, ERR_INVALID, "names", "give name or names, not both");
		return;
	}
	if (release_collect(r, &b) != 0)
		return;
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kbool(fb, "released", b.n > 0);
	pk_str(fb, "names");
	pk_array(fb, b.n);
	for (i = 0; i < b.n; i++)
		pk_str(fb, b.v[i]->lock->name);
	if (b.n == 0)
		pk_kstr(fb, "hint",
		    arg_has(r, "token") && !arg_has(r, "name") && !arg_has(r, "names")
			? "no lock is held with this token (released already, or expired)"
			: "nobody holds this lock; nothing to release");
	pk_map_close(fb);
	/* released before the answer leaves: it waits for their commit */
	for (i = 0; i < b.n; i++) {
		feed_record(r->s, "lock_release", "lock", b.v[i]->lock->project,
		    b.v[i]->lock->name, "released by %s", b.v[i]->agent);
		grant_release(b.v[i], "released");
	}
	free(b.v);
	/*
	 * The waiters they let go are granted first: a woken waiter's grant
	 * leaves before this answer (held for the same commit, in that
	 * order), so whoever waits on both is woken once.
	 */
	lock_pump_all();
	reply_end(r->c, fb);
}

void
op_lock_renew(struct req *r)
{
	struct fbuf *fb;
	struct lock *l;
	struct grant *g;
	double ttl = arg_num(r, "ttl_seconds");

	if (lock_named_arg(r, &l) != 0)
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
	if (g->held) {
		reply_error(r->c, r->id, ERR_CONFLICT, "name",
		    "%s is reserved for a task's claim (%s): it lasts until the task is "
		    "submitted or released, and needs no renewal",
		    l->name, g->reason != NULL ? g->reason : "a task");
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
	feed_record(r->s, "lock_renew", "lock", l->project, l->name, "renewed for %g s", ttl);
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
		msg_notice(l->project, breaker, g->agent, subject, body, NULL);
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

	if (lock_named_arg(r, &l) != 0)
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
	if (held) {
		/* broken before the answer leaves: it waits for their commit */
		reason = arg_strdup(r, "reason");
		feed_record(r->s, "lock_break", "lock", l->project, l->name,
		    "broken from %s%s%s", TAILQ_FIRST(&l->holders)->agent,
		    reason != NULL ? ": " : "", reason != NULL ? reason : "");
		while ((g = TAILQ_FIRST(&l->holders)) != NULL)
			lock_break_grant(g, r->s->agent, reason);
		free(reason);
	}
	reply_end(r->c, fb);
	lock_pump_all();
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
	while ((g = TAILQ_FIRST(&s->grants)) != NULL) {
		feed_record(s, "session_end", "lock", g->lock->project, g->lock->name,
		    "released: %s's session ended", g->agent);
		grant_release(g, "session ended");
	}
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

size_t
lock_waiter_count(void)
{
	return (nwaiting);
}

/* At exit: the grants stay, for the next broker to restore (DESIGN 8). */
void
lock_shutdown(void)
{
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
/*
 * What baton hook asks of file reservations (hook.c): who keeps an agent
 * from editing a path, and a reservation taken on its first edit.  own
 * says which grants (by session id) are the agent's: its own are never
 * in its way.
 */
struct lock_edit {
	int (*own)(const char *, void *);
	void *own_arg;
	void (*fn)(const struct lock_holding *, void *);
	void *arg;
	size_t others, mine;
};

static int
lock_edit_visit(struct grant *g, void *arg)
{
	struct lock_edit *e = arg;
	struct lock_holding h;
	uint64_t now = mono_ms();

	if (e->own(g->sid, e->own_arg)) {
		e->mine++;
		return (0);
	}
	e->others++;
	if (e->fn == NULL)
		return (0);
	memset(&h, 0, sizeof h);
	h.name = g->lock->name;
	h.agent = g->agent;
	h.sid = g->sid;
	h.reason = g->reason;
	h.mode = mode_name(g->mode);
	h.age_seconds = (double)(now - g->granted_ms) / 1000.0;
	if (g->expires_ms != 0)
		h.expires_in_seconds =
		    g->expires_ms > now ? (double)(g->expires_ms - now) / 1000.0 : 0.0;
	e->fn(&h, e->arg);
	return (0);
}

/* The lock of "file:path" in s's project (made if need be: lock_gc it); NULL with cause. */
static struct lock *
lock_edit_lock(struct session *s, const char *path, size_t n, char **cause)
{
	char *name, *project, *canon, *norm;
	int r;

	xasprintf(&name, "file:%.*s", (int)n, path);
	r = lock_resolve(s, name, strlen(name), &project, &canon, &norm, cause);
	free(name);
	return (r == 0 ? lock_get(project, canon, norm) : NULL);
}

/*
 * The grants that keep the agent of session s from editing path (any
 * mode: an edit needs the file to itself), other than its own; fn gets
 * each.  The number of them, or -1 with cause for a bad path.
 */
int
lock_edit_blockers(struct session *s, const char *path, size_t n,
    int (*own)(const char *, void *), void *own_arg,
    void (*fn)(const struct lock_holding *, void *), void *arg, char **cause)
{
	struct lock_edit e = { own, own_arg, fn, arg, 0, 0 };
	struct lock *l;

	if ((l = lock_edit_lock(s, path, n, cause)) == NULL)
		return (-1);
	lock_blockers(l, LOCK_EXCLUSIVE, NULL, lock_edit_visit, &e);
	lock_gc(l);
	return ((int)e.others);
}

/*
 * Reserve path for session s on its first edit: an exclusive,
 * session-bound "file:" lock, unless one of the agent's own grants
 * covers it already.  Never barges: nothing is taken while another holds
 * an overlapping reservation or waits for one.  1 when the agent now
 * holds it (*name: the lock, malloc'd, NULL when it held it already),
 * 0 when not, -1 with cause for a bad path.
 */
int
lock_edit_reserve(struct session *s, const char *path, size_t n,
    int (*own)(const char *, void *), void *own_arg, const char *reason, char **name,
    char **cause)
{
	struct lock_edit e = { own, own_arg, NULL, NULL, 0, 0 };
	struct lock *l;

	*name = NULL;
	if ((l = lock_edit_lock(s, path, n, cause)) == NULL)
		return (-1);
	lock_blockers(l, LOCK_EXCLUSIVE, NULL, lock_edit_visit, &e);
	if (e.others > 0 || (e.mine == 0 && !lock_free_now(&l, 1, LOCK_EXCLUSIVE, NULL))) {
		lock_gc(l);
		return (0);
	}
	if (e.mine == 0) {
		lock_grant_all(&l, 1, s, LOCK_EXCLUSIVE, 0, reason);
		*name = xstrdup(l->name);
	}
	return (1);
}
