/*
 * Locks seen from outside (lock.c holds them): their rows in the
 * checkpoint (store.c), the lock_list operation, a page at a time in
 * name order, and what agent_list and status count.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"

#define LOCK_LIST_BYTES (512 * 1024) /* a lock_list page, well under a frame */

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

/* Does name sort after the cursor (alen bytes, as strcmp orders names)? */
static int
lock_name_after(const char *name, const char *after, size_t alen)
{
	int c = strncmp(name, after, alen);

	return (c > 0 || (c == 0 && strlen(name) > alen));
}

static int
lock_name_cmp(const void *a, const void *b)
{
	const struct lock *const *x = a, *const *y = b;

	return (strcmp((*x)->name, (*y)->name));
}

/*
 * The locks lock_list shows to session s: of its project or global,
 * starting with prefix, named after after (NULL: from the first), held
 * or waited for; sorted by name.  A fresh array of *n.
 */
static struct lock **
lock_list_select(struct session *s, const char *prefix, size_t plen, const char *after,
    size_t alen, size_t *n)
{
	struct lock *l, *tmp, **v = NULL;
	size_t cap = 0;

	*n = 0;
	HASH_ITER(hh, locks, l, tmp) {
		if (strcmp(l->project, s->project) != 0 &&
		    strcmp(l->project, GLOBAL_PROJECT) != 0)
			continue;
		if (strncmp(l->name, prefix, plen) != 0 ||
		    (TAILQ_EMPTY(&l->holders) && TAILQ_EMPTY(&l->queue)))
			continue;
		if (after != NULL && !lock_name_after(l->name, after, alen))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[(*n)++] = l;
	}
	if (*n > 1)
		qsort(v, *n, sizeof *v, lock_name_cmp);
	return (v);
}

void
op_lock_list(struct req *r)
{
	size_t plen, alen = 0, n, i, shown = 0, limit = (size_t)arg_int(r, "limit");
	const char *prefix = arg_str(r, "prefix", &plen);
	const char *after = arg_str(r, "after", &alen);
	struct lock **v;
	struct fbuf *fb;
	int more = 0;

	v = lock_list_select(r->s, prefix, plen, after, alen, &n);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_str(fb, "locks");
	pk_array_open(fb);
	for (i = 0; i < n; i++) {
		/* a page ends at limit locks, or once it is half a frame */
		if (shown == limit || (shown > 0 && fb->sb.size > LOCK_LIST_BYTES)) {
			more = 1;
			break;
		}
		pk_lock(fb, v[i]);
		shown++;
	}
	pk_array_close(fb);
	pk_kuint(fb, "count", shown);
	pk_kbool(fb, "more", more);
	if (shown > 0)
		pk_kstr(fb, "cursor", v[shown - 1]->name);
	if (more)
		pk_kstr(fb, "hint", "more locks: call lock_list again with after = cursor");
	pk_map_close(fb);
	reply_end(r->c, fb);
	free(v);
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

/* The names of the locks a session holds, as an array (for agent_list). */
void
lock_pack_session_names(struct fbuf *fb, struct session *s)
{
	struct grant *g;
	struct lock *l, *tmp;

	pk_array_open(fb);
	TAILQ_FOREACH(g, &s->grants, sentry)
		pk_str(fb, g->lock->name);
	/* detached grants this session took, reservations of its claims */
	HASH_ITER(hh, locks, l, tmp) {
		TAILQ_FOREACH(g, &l->holders, lentry) {
			if (g->session == NULL && strcmp(g->sid, s->id) == 0)
				pk_str(fb, l->name);
		}
	}
	pk_array_close(fb);
}

/* ---- the checkpoint ---- */

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
		pk_kbool(fb, "held", g->held);
		pk_kstr(fb, "agent", g->agent);
		pk_kstr(fb, "reason", g->reason);
		pk_kstr(fb, "token", g->set->token);
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
 * grace period), one held for a task's claim as it was (the task lets
 * it go).  Expired or orphaned grants are dropped.
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
	int bound, held = mp_get_bool(h, "held", 0), keep;
	double ttl;

	if (mp_int(mp_get(h, "fence"), &fence) != 0 ||
	    mp_int(mp_get(h, "expires"), &expires) != 0 ||
	    mp_bool(mp_get(h, "bound"), &bound) != 0)
		goto out;
	s = bound && sid != NULL ? session_find(sid) : NULL;
	ttl = bound || held ? 0 : secs_left(deadline_from_wall(expires));
	keep = bound ? s != NULL && s->client == NULL : held || ttl > 0;
	if (sid != NULL && agent != NULL && token != NULL && strlen(token) == TOKEN_LEN &&
	    keep) {
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
