/*
 * Reservations held for a task's claim (DESIGN §5.5: a task's files are
 * reserved for its claimant).  The task module asks, by project and
 * normalized paths, whether the files are free for the claimant, takes
 * them as one grant with a token of their own, and lets them go by that
 * token; in between they are ordinary "file:" locks that others see in
 * lock_list and wait for.  They belong to no session and do not expire:
 * the claim decides (submit, release, a lease that runs out).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"

/* The locks of project's paths, made as needed, into ls. */
static void
lock_hold_locks(const char *project, char *const *paths, size_t n, struct lock **ls)
{
	char *canon;
	size_t i;

	for (i = 0; i < n; i++) {
		xasprintf(&canon, "file:%s", paths[i]);
		ls[i] = lock_get(xstrdup(project), canon, xstrdup(paths[i]));
	}
}

static void
lock_hold_gc(struct lock **ls, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		lock_gc(ls[i]);
}

/*
 * Are project's paths (normalized, distinct) free for session sid now:
 * nothing held in its way (its own grants aside), nobody in line for
 * them?  When not and fb is not NULL, packs the holders in the way as
 * "holders" (an empty array when only the line is).
 */
int
lock_hold_free(const char *project, const char *sid, char *const *paths, size_t n,
    struct fbuf *fb)
{
	struct lock *ls[LOCK_NAMES_MAX];
	struct blockers b;
	size_t i;
	int free_now;

	if (n == 0)
		return (1);
	lock_hold_locks(project, paths, n, ls);
	free_now = lock_free_now(ls, n, LOCK_EXCLUSIVE, sid);
	if (!free_now && fb != NULL) {
		blockers_of(ls, n, LOCK_EXCLUSIVE, sid, &b);
		pk_str(fb, "holders");
		pk_array(fb, b.n);
		for (i = 0; i < b.n; i++)
			pk_holder(fb, b.v[i], 1);
		free(b.v);
	}
	lock_hold_gc(ls, n);
	return (free_now);
}

/*
 * Take project's paths for agent (session sid) as one grant held for
 * reason, whether free or not (the caller asked lock_hold_free); its
 * token into token.  Nothing when n is 0 (token "").
 */
void
lock_hold(const char *project, const char *agent, const char *sid, char *const *paths, size_t n,
    const char *reason, char *token)
{
	struct lock *ls[LOCK_NAMES_MAX];
	uint64_t fence;
	size_t i;

	token[0] = '\0';
	if (n == 0)
		return;
	lock_hold_locks(project, paths, n, ls);
	fence = revision_next();
	random_hex(token, TOKEN_LEN + 1);
	for (i = 0; i < n; i++)
		grant_new(ls[i], NULL, agent, sid, LOCK_EXCLUSIVE, 0, reason, token, fence);
	log_info("lock %s%s: held for %s (%s, fence %llu)", ls[0]->name, n > 1 ? ",..." : "",
	    agent, reason, (unsigned long long)fence);
}

/* Let go of what the grant of token still holds (nothing: no harm); the lines move. */
void
lock_hold_drop(const char *token)
{
	struct gset *set;
	struct grant *g;

	if (token[0] == '\0' || (set = gset_find(token, strlen(token))) == NULL)
		return;
	/* the last grant frees the set: take them one by one from its head */
	while ((g = TAILQ_FIRST(&set->grants)) != NULL) {
		if (TAILQ_NEXT(g, gentry) == NULL) {
			grant_release(g, "claim ended");
			break;
		}
		grant_release(g, "claim ended");
	}
	lock_pump_all();
}

/* The grant of token now belongs to agent in session sid (a claim taken over). */
void
lock_hold_rebind(const char *token, const char *agent, const char *sid)
{
	struct gset *set;
	struct grant *g;

	if (token[0] == '\0' || (set = gset_find(token, strlen(token))) == NULL)
		return;
	TAILQ_FOREACH(g, &set->grants, gentry) {
		free(g->agent);
		g->agent = xstrdup(agent);
		snprintf(g->sid, sizeof g->sid, "%s", sid);
		store_mark(&lock_store_kind, g->lock->key);
	}
}
