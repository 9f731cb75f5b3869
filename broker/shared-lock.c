/*
 * Locks of a shared project, in etcd (the etcd Mutex recipe, and its
 * readers-writer form):
 *
 *   - every request for a lock puts a key of its own in the lock's line,
 *     PREFIX/l/NAME/{w|r}/LEASE (w exclusive, r shared), bound to a
 *     lease; etcd orders the line by the keys' create revisions;
 *   - an exclusive request holds the lock when its key is the oldest; a
 *     shared one when no exclusive key is older: FIFO, no barging, the
 *     shared requests at the head granted together;
 *   - the fence is the key's create revision: it only increases along
 *     the line;
 *   - a waiter watches the one key that stands before it (its
 *     predecessor: the previous key, or the previous exclusive key for
 *     a shared request), from the revision it read the line at, so a
 *     release wakes one waiter and no release is missed;
 *   - several names in one request put all their keys in one
 *     transaction, at one revision: every line orders two such requests
 *     the same way, so they never deadlock, and nothing is granted
 *     before all of it is.
 *
 * The key's lease is its session's (the lock goes with the session, or
 * with the host when it stops renewing), or, for a detached lock
 * (ttl_seconds), a lease of its own that nobody renews: it expires at
 * the TTL; lock_renew moves the keys to a fresh lease.  The grant's
 * token is a capability this broker keeps (struct shgrant): release and
 * renew need it, or the session that took the lock.
 *
 * A wait that ends without the lock (wait_seconds 0, a timeout, a
 * cancel, an error) takes its keys out of the line before it answers,
 * or, when it cannot (etcd unreachable), keeps trying in the background
 * (shared_bg) while the session lives: a place left in a line would
 * hold up everyone behind it.  A timed-out wait has no ticket here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared.h"

#define LOCK_QUEUE_MAX 1024 /* requests in one lock's line */
#define LOCK_LIST_MAX 10000 /* keys lock_list reads */

/* A grant: the locks one lock_acquire took, released together by its token. */
struct shgrant {
	char token[TOKEN_LEN + 1];
	struct shsess *ss; /* NULL once detached */
	char sid[24];      /* the session that took it */
	char **names, **keys;
	size_t n;
	int shared;
	int64_t fence;
	int64_t lease;       /* the keys' lease */
	int own_lease;       /* detached: a lease of its own */
	uint64_t expires_ms; /* detached: when the lease runs out */
	unsigned char *val;  /* the keys' value */
	size_t vlen;
	TAILQ_ENTRY(shgrant) entry;
};
struct shgrant_list shgrants = TAILQ_HEAD_INITIALIZER(shgrants);

/* A lock_acquire in progress. */
struct lk {
	char **names, **pfx, **keys, **other; /* other: my key of the other mode */
	size_t n;
	int shared;
	double wait, ttl;
	char *reason;
	int64_t lease;
	int own_lease;
	int64_t rev;  /* my keys' create revision; 0 until they are put */
	int placed;   /* my keys are (or may be) in the lines */
	int waited;   /* it waited (a timeout answers with a place in line) */
	size_t ahead; /* waiters ahead in the line waited on */
	unsigned char *val;
	size_t vlen;
	struct fbuf holders; /* who holds the lock waited on: a msgpack array */
	int has_holders;
};

static void lk_evaluate(struct shcall *, const cJSON *, int);
static void lk_reread(struct shcall *);

static const char *
mode_name(int shared)
{
	return (shared ? "shared" : "exclusive");
}

/* Free a grant (its keys are gone, or go with its lease). */
static void
shgrant_free(struct shgrant *g)
{
	size_t i;

	TAILQ_REMOVE(&shgrants, g, entry);
	for (i = 0; i < g->n; i++) {
		free(g->names[i]);
		free(g->keys[i]);
	}
	free(g->names);
	free(g->keys);
	free(g->val);
	free(g);
}

/* Forget detached grants whose lease has run out (etcd deleted their keys). */
static void
shgrant_prune(void)
{
	struct shgrant *g, *next;
	uint64_t now = mono_ms();

	for (g = TAILQ_FIRST(&shgrants); g != NULL; g = next) {
		next = TAILQ_NEXT(g, entry);
		if (g->expires_ms != 0 && g->expires_ms <= now)
			shgrant_free(g);
	}
}

/* Does ss hold a lock on its lease (a grant not detached)? */
int
shared_lock_holds(const struct shsess *ss)
{
	const struct shgrant *g;

	TAILQ_FOREACH(g, &shgrants, entry) {
		if (g->ss == ss && !g->own_lease)
			return (1);
	}
	return (0);
}

/* The session ended: its bound grants go with its lease (s: the session). */
void
shared_lock_session_end(struct shsess *ss, const struct session *s)
{
	struct shgrant *g, *next;
	size_t i;

	for (g = TAILQ_FIRST(&shgrants); g != NULL; g = next) {
		next = TAILQ_NEXT(g, entry);
		if (g->ss != ss)
			continue;
		for (i = 0; i < g->n; i++)
			shared_feed(s, "session_end", "lock", g->names[i],
			    "released: %s's session ended", s->agent);
		shgrant_free(g);
	}
}

/* Does g hold name? */
static int
shgrant_has(const struct shgrant *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		if (strcmp(g->names[i], name) == 0)
			return (1);
	}
	return (0);
}

/* Is g the caller's: its token given, or taken by the caller's session? */
static int
shgrant_mine(const struct shgrant *g, const struct shcall *c, const char *tok, size_t toklen)
{
	if (tok != NULL)
		return (token_cmp(g->token, tok, toklen) == 0);
	return (strcmp(g->sid, shcall_session(c)->id) == 0);
}

/* The caller's grant holding name (a token names one grant), or NULL. */
static struct shgrant *
shgrant_find(const struct shcall *c, const char *name, const char *tok, size_t toklen)
{
	struct shgrant *g;

	shgrant_prune();
	TAILQ_FOREACH(g, &shgrants, entry) {
		if (shgrant_mine(g, c, tok, toklen) && (name == NULL || shgrant_has(g, name)))
			return (g);
	}
	return (NULL);
}

static void
lk_free(struct shcall *c)
{
	struct lk *l = c->st;
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->names[i]);
		free(l->pfx[i]);
		free(l->keys[i]);
		free(l->other[i]);
	}
	free(l->names);
	free(l->pfx);
	free(l->keys);
	free(l->other);
	free(l->reason);
	free(l->val);
	if (l->has_holders)
		fbuf_free(&l->holders);
}

/* The body that takes l's keys out of their lines: a txn, or a lease's revocation. */
static cJSON *
lk_leave_body(struct lk *l, const char **path)
{
	cJSON *acts, *body;
	size_t i;

	if (l->own_lease) {
		*path = "/v3/lease/revoke";
		body = etcd_lease_id(l->lease);
		return (body);
	}
	*path = "/v3/kv/txn";
	acts = cJSON_CreateArray();
	for (i = 0; i < l->n; i++)
		cJSON_AddItemToArray(acts, etcd_del(l->keys[i], 0));
	return (etcd_txn(NULL, acts, NULL));
}

/* The call ends: a place it may still have in a line is given up, in the background. */
static void
lk_end(struct shcall *c)
{
	struct lk *l = c->st;
	const char *path;
	cJSON *body;

	if (l->placed) {
		body = lk_leave_body(l, &path);
		shared_bg(c->ss, path, body);
	}
	lk_free(c);
}

/* Answer "not acquired" (the keys are out of the lines). */
static void
lk_refused(struct shcall *c, const cJSON *res)
{
	struct lk *l = c->st;
	struct fbuf *fb = shcall_reply_begin(c);
	size_t i;

	l->placed = 0;
	pk_map_open(fb);
	pk_kbool(fb, "acquired", 0);
	pk_kstr(fb, "mode", mode_name(l->shared));
	pk_str(fb, "names");
	pk_array(fb, l->n);
	for (i = 0; i < l->n; i++)
		pk_str(fb, l->names[i]);
	if (l->has_holders) {
		pk_str(fb, "holders");
		pk_raw(fb, l->holders.sb.data + FRAME_HDR, l->holders.sb.size - FRAME_HDR);
	}
	if (l->waited) {
		pk_kint(fb, "queue_position", (int64_t)l->ahead + 1);
		pk_kdouble(fb, "wait_cap_seconds", c->cap);
		pk_kstr(fb, "hint",
		    "timed out in line (a shared project keeps no ticket): call lock_acquire "
		    "again with wait_seconds to queue again");
	} else if (l->ahead > 0) {
		pk_kint(fb, "queued_ahead", (int64_t)l->ahead);
		pk_kstr(fb, "hint",
		    "others hold it or wait in line first; call lock_acquire with "
		    "wait_seconds to wait in line");
	} else
		pk_kstr(fb, "hint",
		    "held by someone else: call lock_acquire with wait_seconds to wait in "
		    "line");
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

/* Take l's keys out of their lines, then answer "not acquired". */
static void
lk_leave(struct shcall *c)
{
	struct lk *l = c->st;
	const char *path;
	cJSON *body = lk_leave_body(l, &path);

	shcall_unwatch(c);
	if (c->timer != NULL)
		event_del(c->timer);
	shcall_post(c, path, body, lk_refused);
}

/* The wait timed out: out of the line, and say where one stood. */
static void
lk_timeout(struct shcall *c)
{
	struct lk *l = c->st;

	l->waited = 1;
	if (c->ec != NULL) { /* a read in flight: its answer is not needed */
		etcd_cancel(c->ec);
		c->ec = NULL;
	}
	lk_leave(c);
}

/* Open the answer of a grant: acquired, its token, fence, mode and names. */
static void
lk_pack_grant(struct fbuf *fb, const struct shgrant *g, char *const *names, size_t n)
{
	size_t i;

	pk_map_open(fb);
	pk_kbool(fb, "acquired", 1);
	pk_kstr(fb, "token", g->token);
	pk_kint(fb, "fence", g->fence);
	pk_kstr(fb, "mode", mode_name(g->shared));
	pk_str(fb, "names");
	pk_array(fb, n);
	for (i = 0; i < n; i++)
		pk_str(fb, names[i]);
}

/* The locks are ours: a grant, and the answer. */
static void
lk_granted(struct shcall *c)
{
	struct lk *l = c->st;
	struct shgrant *g = xcalloc(1, sizeof *g);
	struct fbuf *fb;

	random_hex(g->token, sizeof g->token);
	g->ss = l->own_lease ? NULL : c->ss;
	snprintf(g->sid, sizeof g->sid, "%s", shcall_session(c)->id);
	g->n = l->n;
	g->names = l->names;
	g->keys = l->keys;
	l->names = xcalloc(l->n, sizeof *l->names);
	l->keys = xcalloc(l->n, sizeof *l->keys);
	g->shared = l->shared;
	g->fence = l->rev;
	g->lease = l->lease;
	g->own_lease = l->own_lease;
	if (l->own_lease)
		g->expires_ms = mono_ms() + (uint64_t)(l->ttl * 1000);
	g->val = l->val;
	g->vlen = l->vlen;
	l->val = NULL;
	l->placed = 0;
	TAILQ_INSERT_TAIL(&shgrants, g, entry);
	shared_feed(shcall_session(c), "lock_acquire", "lock", g->names[0],
	    "granted %s%s, fence %lld%s%s", mode_name(g->shared),
	    g->n > 1 ? " with other names" : "", (long long)g->fence,
	    l->reason != NULL ? ": " : "", l->reason != NULL ? l->reason : "");
	fb = shcall_reply_begin(c);
	lk_pack_grant(fb, g, g->names, g->n);
	if (g->own_lease)
		pk_kdouble(fb, "expires_in_seconds", l->ttl);
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

/*
 * Pack one entry of a line (holder or waiter) from its record; name
 * (NULL: none) is the lock's, which a holder in an acquire's answer
 * carries as lock.c's pk_holder does.
 */
static void
lk_pack_entry(struct fbuf *fb, const struct shrec *r, int holder, const char *name)
{
	static const char *const fields[][2] = { { "a", "agent" }, { "s", "session" },
		{ "h", "host" }, { "m", "mode" }, { "r", "reason" } };
	const msgpack_object *v;
	int64_t at = mp_get_int(r->o, "t", 0), now = wall_ms();
	size_t i;

	pk_map_open(fb);
	if (name != NULL)
		pk_kstr(fb, "name", name);
	for (i = 0; i < nitems(fields); i++) {
		if ((v = shrec_get(r, fields[i][0])) != NULL && v->type == MSGPACK_OBJECT_STR) {
			pk_str(fb, fields[i][1]);
			pk_object(fb, v);
		}
	}
	pk_kdouble(fb, holder ? "age_seconds" : "waited_seconds",
	    at > 0 && now > at ? (double)(now - at) / 1000.0 : 0);
	if (holder)
		pk_kint(fb, "fence", r->create);
	pk_map_close(fb);
}

/* The key of kv, or NULL. */
static char *
lk_kv_key(const cJSON *kv)
{
	size_t len;

	return ((char *)etcd_unb64(cJSON_GetObjectItemCaseSensitive(kv, "key"), &len));
}

/* Is kv an exclusive request ("PFX" "w/LEASE")? */
static int
lk_is_writer(const cJSON *kv, size_t pfxlen)
{
	char *key = lk_kv_key(kv);
	int w = key == NULL || strlen(key) <= pfxlen || key[pfxlen] != 'r';

	free(key);
	return (w);
}

/* How many at the head of a line (kvs, oldest first) hold the lock. */
static size_t
lk_nholders(const cJSON *kvs, size_t pfxlen)
{
	const cJSON *kv;
	size_t n = 0;

	cJSON_ArrayForEach(kv, kvs) {
		if (lk_is_writer(kv, pfxlen))
			return (n == 0 ? 1 : n);
		n++;
	}
	return (n);
}

/*
 * Pack the first n entries of a line; holders when holder is set, else
 * the rest; each with the lock's name when name is not NULL.
 */
static void
lk_pack_line(struct fbuf *fb, const cJSON *kvs, size_t from, size_t to, int holder,
    const char *name)
{
	const cJSON *kv;
	struct shrec r;
	size_t i = 0;

	pk_array_open(fb);
	cJSON_ArrayForEach(kv, kvs) {
		if (i >= from && i < to && shrec_read(kv, &r) == 0) {
			lk_pack_entry(fb, &r, holder, name);
			shrec_free(&r);
		}
		i++;
	}
	pk_array_close(fb);
}

/*
 * Where l stands in line i (kvs, oldest first, up to its own key): 1
 * granted, 0 waiting (*pred: the key it waits for), -1 when its key is
 * not in the line any more.
 */
static int
lk_line(struct lk *l, size_t i, const cJSON *kvs, char **pred)
{
	size_t pfxlen = strlen(l->pfx[i]), k = 0, nh, last_w = SIZE_MAX;
	const cJSON *kv, *before = NULL;
	int found = 0;

	*pred = NULL;
	cJSON_ArrayForEach(kv, kvs) {
		if (etcd_int(kv, "create_revision") == l->rev) {
			found = 1;
			break;
		}
		if (lk_is_writer(kv, pfxlen))
			last_w = k;
		before = kv;
		k++;
	}
	if (!found)
		return (-1);
	if (k == 0 || (l->shared && last_w == SIZE_MAX))
		return (1);
	if (l->shared)
		before = cJSON_GetArrayItem(kvs, (int)last_w);
	nh = lk_nholders(kvs, pfxlen);
	l->ahead = k > nh ? k - nh : 0;
	if (l->has_holders)
		fbuf_free(&l->holders);
	fbuf_init(&l->holders);
	lk_pack_line(&l->holders, kvs, 0, nh, 1, l->names[i]);
	l->has_holders = 1;
	*pred = lk_kv_key(before);
	return (0);
}

/* A release before us (or a compaction): read the lines again. */
static void
lk_wake(struct shcall *c, const cJSON *ev)
{
	shcall_unwatch(c);
	lk_reread(c);
}

/*
 * Decide from the lines in the txn answer res (the range of lock i at
 * responses[off + i]): granted, refused, or wait for the predecessor
 * in the first line that is not ours yet.
 */
static void
lk_evaluate(struct shcall *c, const cJSON *res, int off)
{
	struct lk *l = c->st;
	const cJSON *kvs;
	char *pred = NULL;
	size_t i;
	int st = 1;

	for (i = 0; i < l->n && st == 1; i++) {
		kvs = etcd_txn_kvs(res, off + (int)i);
		if (cJSON_GetArraySize(kvs) > LOCK_QUEUE_MAX) {
			shcall_error(c, ERR_LIMIT, "name",
			    "%s has %d requests in line, the limit (batond(8)); try later",
			    l->names[i], LOCK_QUEUE_MAX);
			return;
		}
		st = lk_line(l, i, kvs, &pred);
	}
	if (st == -1) {
		l->placed = 0;
		shcall_error(c, ERR_CONFLICT, "name",
		    "your place in the line of %s is gone: this session's etcd lease expired, "
		    "or the lock was broken; call lock_acquire again",
		    l->names[i - 1]);
		return;
	}
	if (st == 1) {
		lk_granted(c);
		return;
	}
	if (l->wait <= 0) {
		free(pred);
		lk_leave(c);
		return;
	}
	if (c->timer == NULL)
		shcall_wait(c, l->wait, lk_timeout);
	shcall_watch(c, pred, 0, etcd_revision(res) + 1, ETCD_WATCH_NOPUT, lk_wake);
	free(pred);
}

static void
lk_reread_done(struct shcall *c, const cJSON *res)
{
	lk_evaluate(c, res, 0);
}

/* Read l's lines again, up to its own keys. */
static void
lk_reread(struct shcall *c)
{
	struct lk *l = c->st;
	cJSON *acts = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < l->n; i++)
		cJSON_AddItemToArray(acts, etcd_get(l->pfx[i], 1, LOCK_QUEUE_MAX + 1, l->rev));
	shcall_txn(c, NULL, acts, NULL, lk_reread_done);
}

/*
 * The put's answer.  When the keys existed already (the compare
 * failed), they are this session's from an earlier request whose end
 * has not reached etcd yet: take them over (same place in line) when
 * they are of this mode and one revision, else refuse.
 */
static void
lk_placed(struct shcall *c, const cJSON *res)
{
	struct lk *l = c->st;
	const cJSON *kv;
	char *key;
	size_t i;
	int64_t rev = 0;
	int mine;

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "succeeded"))) {
		l->rev = etcd_revision(res);
		lk_evaluate(c, res, (int)l->n);
		return;
	}
	for (i = 0; i < l->n; i++) {
		mine = 0;
		cJSON_ArrayForEach(kv, etcd_txn_kvs(res, (int)i)) {
			key = lk_kv_key(kv);
			if (key != NULL && strcmp(key, l->keys[i]) == 0 &&
			    (rev == 0 || rev == etcd_int(kv, "create_revision"))) {
				rev = etcd_int(kv, "create_revision");
				mine = 1;
			}
			free(key);
		}
		if (!mine) {
			l->placed = 0;
			shcall_error(c, ERR_CONFLICT, l->n > 1 ? "names" : "name",
			    "this session already holds or waits for %s in another request or "
			    "mode; release it first",
			    l->names[i]);
			return;
		}
	}
	l->rev = rev;
	lk_evaluate(c, res, 0);
}

/* With the lease known: put l's keys in their lines, and read the lines. */
static void
lk_put(struct shcall *c, const cJSON *res)
{
	struct lk *l = c->st;
	cJSON *cmp = cJSON_CreateArray(), *ok = cJSON_CreateArray(), *no = cJSON_CreateArray();
	size_t i;

	if (!l->own_lease)
		l->lease = shcall_lease(c);
	for (i = 0; i < l->n; i++) {
		xasprintf(&l->keys[i], "%s%s/%016llx", l->pfx[i], l->shared ? "r" : "w",
		    (unsigned long long)l->lease);
		xasprintf(&l->other[i], "%s%s/%016llx", l->pfx[i], l->shared ? "w" : "r",
		    (unsigned long long)l->lease);
		cJSON_AddItemToArray(cmp, etcd_cmp(l->keys[i], "CREATE", "EQUAL", 0));
		cJSON_AddItemToArray(cmp, etcd_cmp(l->other[i], "CREATE", "EQUAL", 0));
		cJSON_AddItemToArray(ok, etcd_put(l->keys[i], l->val, l->vlen, l->lease));
	}
	for (i = 0; i < l->n; i++) {
		cJSON_AddItemToArray(ok, etcd_get(l->pfx[i], 1, LOCK_QUEUE_MAX + 1, 0));
		cJSON_AddItemToArray(no, etcd_get(l->pfx[i], 1, LOCK_QUEUE_MAX + 1, 0));
	}
	l->placed = 1;
	shcall_txn(c, cmp, ok, no, lk_placed);
}

/* A detached lock's own lease is granted. */
static void
lk_own_lease(struct shcall *c, const cJSON *res)
{
	struct lk *l = c->st;

	if ((l->lease = etcd_int(res, "ID")) == 0) {
		shcall_error(c, ERR_UNAVAILABLE, NULL, "etcd granted no lease");
		return;
	}
	l->own_lease = 1;
	lk_put(c, NULL);
}

/* A lease of its own for a detached grant: ttl seconds, rounded up. */
static cJSON *
lk_lease_body(double ttl)
{
	cJSON *body = cJSON_CreateObject();
	int64_t secs = (int64_t)ttl;

	if ((double)secs < ttl)
		secs++;
	cJSON_AddNumberToObject(body, "TTL", (double)secs);
	return (body);
}

/* The record a request puts in a line: who, from where, why, since when. */
static void
lk_value(struct shcall *c, struct lk *l)
{
	struct session *s = shcall_session(c);
	struct fbuf fb;

	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kstr(&fb, "a", s->agent);
	pk_kstr(&fb, "s", s->id);
	pk_kstr(&fb, "h", shared_host());
	pk_kstr(&fb, "m", mode_name(l->shared));
	pk_kstr_opt(&fb, "r", l->reason);
	pk_kint(&fb, "t", wall_ms());
	pk_map_close(&fb);
	l->vlen = fb.sb.size - FRAME_HDR;
	l->val = xmalloc(l->vlen);
	memcpy(l->val, fb.sb.data + FRAME_HDR, l->vlen);
	fbuf_free(&fb);
}

/* Answer with the grant of this session that holds every name already. */
static void
lk_held(struct shcall *c, const struct shgrant *g)
{
	struct lk *l = c->st;
	struct fbuf *fb = shcall_reply_begin(c);
	size_t i;

	lk_pack_grant(fb, g, l->names, l->n);
	pk_str(fb, "held");
	pk_array(fb, l->n);
	for (i = 0; i < l->n; i++)
		pk_str(fb, l->names[i]);
	if (g->expires_ms != 0)
		pk_kdouble(fb, "expires_in_seconds", secs_left(g->expires_ms));
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

/* Is a name of l wanted by another lock_acquire of the same session in flight? */
static const char *
lk_busy(struct shcall *c)
{
	struct lk *l = c->st, *o;
	struct shcall *oc;
	size_t i, j;

	for (oc = c; (oc = TAILQ_PREV(oc, shcall_list, entry)) != NULL;) {
		if (oc->on_end != lk_end)
			continue;
		o = oc->st;
		for (i = 0; i < l->n; i++)
			for (j = 0; j < o->n; j++)
				if (o->names[j] != NULL &&
				    strcmp(l->names[i], o->names[j]) == 0)
					return (l->names[i]);
	}
	return (NULL);
}

/* The prefix of the line of lock name (n bytes): "…/l/NAME/". */
static char *
lk_prefix(const struct shcall *c, const char *name, size_t n)
{
	char *key = shared_key(c, "l", name, n, 1), *pfx;

	xasprintf(&pfx, "%s/", key);
	free(key);
	return (pfx);
}

/* The names of the request, each once; -1 when answered. */
static int
lk_names(struct shcall *c, struct req *r)
{
	struct lk *l = c->st;
	const msgpack_object *one = arg_get(r, "name"), *names = arg_get(r, "names"), *o;
	const char *s;
	size_t i, j, len;

	if ((one == NULL) == (names == NULL)) {
		shcall_error(c, ERR_INVALID, "name",
		    "lock_acquire needs name or names (not both)");
		return (-1);
	}
	l->n = one != NULL ? 1 : names->via.array.size;
	l->names = xcalloc(l->n, sizeof *l->names);
	l->pfx = xcalloc(l->n, sizeof *l->pfx);
	l->keys = xcalloc(l->n, sizeof *l->keys);
	l->other = xcalloc(l->n, sizeof *l->other);
	for (i = 0; i < l->n; i++) {
		o = one != NULL ? one : &names->via.array.ptr[i];
		mp_str(o, &s, &len);
		l->names[i] = xstrndup(s, len);
		l->pfx[i] = lk_prefix(c, s, len);
		for (j = 0; j < i; j++) {
			if (strcmp(l->names[j], l->names[i]) == 0) {
				shcall_error(c, ERR_INVALID, "names",
				    "%s is named twice (names[%zu] and names[%zu]); name each "
				    "lock "
				    "once",
				    l->names[i], j, i);
				return (-1);
			}
		}
	}
	return (0);
}

void
shared_lock_acquire(struct req *r)
{
	struct shcall *c = shcall_new(r, sizeof(struct lk));
	struct lk *l = c->st;
	struct shgrant *g;
	const char *busy;
	size_t i, held = 0;

	c->on_end = lk_end;
	if (lk_names(c, r) != 0)
		return;
	l->shared = mp_streq(arg_get(r, "mode"), "shared");
	l->wait = arg_num(r, "wait_seconds");
	l->ttl = arg_has(r, "ttl_seconds") ? arg_num(r, "ttl_seconds") : 0;
	l->reason = arg_text(r, "reason");
	g = shgrant_find(c, l->names[0], NULL, 0);
	for (i = 0; i < l->n; i++)
		held += shgrant_find(c, l->names[i], NULL, 0) != NULL;
	if (g != NULL && held == l->n && g->n == l->n) {
		lk_held(c, g);
		return;
	}
	if (held > 0) {
		shcall_error(c, ERR_CONFLICT, l->n > 1 ? "names" : "name",
		    "you hold some of these names in another grant; release it first or ask "
		    "for the same names");
		return;
	}
	if ((busy = lk_busy(c)) != NULL) {
		shcall_error(c, ERR_CONFLICT, l->n > 1 ? "names" : "name",
		    "another lock_acquire of this session waits for %s; let it end first",
		    busy);
		return;
	}
	lk_value(c, l);
	if (l->ttl > 0)
		shcall_post(c, "/v3/lease/grant", lk_lease_body(l->ttl), lk_own_lease);
	else
		shcall_leased(c, lk_put);
}

/* A lock_release in progress: the names of one grant, found again by its token. */
struct rl {
	char token[TOKEN_LEN + 1];
	char **names;
	size_t n;
	int whole; /* every name of the grant */
};

static void
rl_end(struct shcall *c)
{
	struct rl *x = c->st;
	size_t i;

	for (i = 0; i < x->n; i++)
		free(x->names[i]);
	free(x->names);
}

/* The grant of token (a released one is gone), or NULL. */
static struct shgrant *
shgrant_by_token(const char *token)
{
	struct shgrant *g;

	TAILQ_FOREACH(g, &shgrants, entry) {
		if (strcmp(g->token, token) == 0)
			return (g);
	}
	return (NULL);
}

/* Take name out of g (freed when it holds nothing more). */
static void
shgrant_drop(struct shgrant *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		if (strcmp(g->names[i], name) == 0) {
			free(g->names[i]);
			free(g->keys[i]);
			g->names[i] = g->names[g->n - 1];
			g->keys[i] = g->keys[g->n - 1];
			g->n--;
			break;
		}
	}
	if (g->n == 0)
		shgrant_free(g);
}

/* The answer of etcd to a release: what was still there was released. */
static void
rl_done(struct shcall *c, const cJSON *res)
{
	struct rl *x = c->st;
	struct shgrant *g = shgrant_by_token(x->token);
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(res, "responses"), *d;
	struct fbuf *fb = shcall_reply_begin(c);
	size_t i, gone = 0;

	pk_map_open(fb);
	pk_str(fb, "names");
	pk_array_open(fb);
	for (i = 0; i < x->n; i++) {
		d = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rs, (int)i),
		    "response_delete_range");
		if (rs == NULL || etcd_int(d, "deleted") > 0) {
			pk_str(fb, x->names[i]);
			shared_feed(shcall_session(c), "lock_release", "lock", x->names[i],
			    "released by %s", shcall_session(c)->agent);
		} else
			gone++;
		if (g != NULL && !x->whole)
			shgrant_drop(g, x->names[i]);
	}
	pk_array_close(fb);
	if (g != NULL && x->whole)
		shgrant_free(g);
	pk_kbool(fb, "released", gone < x->n);
	if (gone == x->n)
		pk_kstr(fb, "hint",
		    "the lock was no longer held: its lease expired or it was broken; nothing "
		    "to release");
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

/* Answer that nothing of the caller's is held under these names or this token. */
static void
rl_nothing(struct shcall *c, int by_token)
{
	struct fbuf *fb = shcall_reply_begin(c);

	pk_map_open(fb);
	pk_kbool(fb, "released", 0);
	pk_str(fb, "names");
	pk_array(fb, 0);
	pk_kstr(fb, "hint",
	    by_token ? "no lock is held with this token (released already, or expired)"
		     : "you hold no lock of that name here; nothing to release");
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

void
shared_lock_release(struct req *r)
{
	struct shcall *c = shcall_new(r, sizeof(struct rl));
	struct rl *x = c->st;
	const msgpack_object *one = arg_get(r, "name"), *names = arg_get(r, "names"), *o;
	size_t tlen = 0, n, i, len;
	const char *tok = arg_str(r, "token", &tlen), *s;
	struct shgrant *g = NULL;
	cJSON *acts, *body;
	char *name;

	c->on_end = rl_end;
	if (one != NULL && names != NULL) {
		shcall_error(c, ERR_INVALID, "names", "give name or names, not both");
		return;
	}
	n = one != NULL ? 1 : names != NULL ? names->via.array.size : 0;
	if (n == 0 && tok == NULL) {
		shcall_error(c, ERR_INVALID, "name",
		    "lock_release needs name, names or token: the token frees every name of "
		    "its grant, names without a token free those of yours");
		return;
	}
	shgrant_prune();
	x->names = xcalloc(n > 0 ? n : 1, sizeof *x->names);
	for (i = 0; i < n; i++) {
		o = one != NULL ? one : &names->via.array.ptr[i];
		mp_str(o, &s, &len);
		name = xstrndup(s, len);
		if (g == NULL)
			g = shgrant_find(c, name, tok, tlen);
		if (g != NULL && shgrant_has(g, name))
			x->names[x->n++] = name;
		else
			free(name);
	}
	if (n == 0)
		g = shgrant_find(c, NULL, tok, tlen);
	if (g == NULL || (n > 0 && x->n == 0)) {
		rl_nothing(c, tok != NULL && n == 0);
		return;
	}
	snprintf(x->token, sizeof x->token, "%s", g->token);
	if (n == 0 || tok != NULL || x->n == g->n) { /* a token frees its whole grant */
		for (i = 0; i < x->n; i++)
			free(x->names[i]);
		x->names = xreallocarray(x->names, g->n, sizeof *x->names);
		for (i = 0; i < g->n; i++)
			x->names[i] = xstrdup(g->names[i]);
		x->n = g->n;
		x->whole = 1;
	}
	if (x->whole && g->own_lease) {
		body = etcd_lease_id(g->lease);
		shcall_post(c, "/v3/lease/revoke", body, rl_done);
		return;
	}
	acts = cJSON_CreateArray();
	for (i = 0; i < x->n; i++) {
		for (len = 0; len < g->n && strcmp(g->names[len], x->names[i]) != 0; len++)
			;
		cJSON_AddItemToArray(acts, etcd_del(g->keys[len], 0));
	}
	shcall_txn(c, NULL, acts, NULL, rl_done);
}

/* A lock_renew in progress: the grant (by token) moves to a fresh lease. */
struct rn {
	char token[TOKEN_LEN + 1];
	double ttl;
	int64_t lease; /* the fresh one */
};

/* The keys moved to the fresh lease (or were gone). */
static void
rn_moved(struct shcall *c, const cJSON *res)
{
	struct rn *x = c->st;
	struct shgrant *g = shgrant_by_token(x->token);
	struct fbuf *fb;

	if (g == NULL || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "succeeded"))) {
		etcd_revoke(x->lease);
		if (g != NULL)
			shgrant_free(g);
		shcall_error(c, ERR_NOT_FOUND, "name",
		    "the lock is no longer held (its lease expired, or it was broken); take it "
		    "again with lock_acquire");
		return;
	}
	if (g->own_lease) { /* the old lease holds nothing any more */
		etcd_revoke(g->lease);
	}
	g->lease = x->lease;
	g->own_lease = 1;
	g->ss = NULL;
	g->expires_ms = mono_ms() + (uint64_t)(x->ttl * 1000);
	fb = shcall_reply_begin(c);
	pk_map_open(fb);
	pk_kbool(fb, "renewed", 1);
	pk_kdouble(fb, "expires_in_seconds", x->ttl);
	pk_kint(fb, "fence", g->fence);
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

/* The fresh lease: move every key of the grant to it, if they are still there. */
static void
rn_leased(struct shcall *c, const cJSON *res)
{
	struct rn *x = c->st;
	struct shgrant *g = shgrant_by_token(x->token);
	cJSON *cmp = cJSON_CreateArray(), *acts = cJSON_CreateArray();
	size_t i;

	x->lease = etcd_int(res, "ID");
	for (i = 0; g != NULL && i < g->n; i++) {
		cJSON_AddItemToArray(cmp, etcd_cmp(g->keys[i], "CREATE", "EQUAL", g->fence));
		cJSON_AddItemToArray(acts, etcd_put(g->keys[i], g->val, g->vlen, x->lease));
	}
	if (g == NULL) /* released meanwhile: the compare fails */
		cJSON_AddItemToArray(cmp, etcd_cmp(shared_prefix, "CREATE", "EQUAL", -1));
	shcall_txn(c, cmp, acts, NULL, rn_moved);
}

void
shared_lock_renew(struct req *r)
{
	struct shcall *c = shcall_new(r, sizeof(struct rn));
	struct rn *x = c->st;
	size_t tlen = 0, n;
	const char *tok = arg_str(r, "token", &tlen), *name = arg_str(r, "name", &n);
	struct shgrant *g;
	char *nm = xstrndup(name, n);

	g = shgrant_find(c, nm, tok, tlen);
	free(nm);
	if (g == NULL) {
		shcall_error(c, ERR_NOT_FOUND, "name",
		    "you hold no lock of that name here (with this token); take it with "
		    "lock_acquire");
		return;
	}
	snprintf(x->token, sizeof x->token, "%s", g->token);
	x->ttl = arg_num(r, "ttl_seconds");
	shcall_post(c, "/v3/lease/grant", lk_lease_body(x->ttl), rn_leased);
}

/* One lock of a lock_list: its name and its line (indexes into the kvs). */
struct ll_lock {
	char *name;
	const cJSON **kvs;
	size_t n;
	UT_hash_handle hh;
};

/* The state of a lock_list: the listing's bounds. */
struct ll {
	char *prefix, *after;
	int64_t limit;
	size_t rootlen;
};

static void
ll_end(struct shcall *c)
{
	struct ll *x = c->st;

	free(x->prefix);
	free(x->after);
}

static int
ll_cmp(const void *a, const void *b)
{
	return (
	    strcmp((*(struct ll_lock *const *)a)->name, (*(struct ll_lock *const *)b)->name));
}

/* Pack one lock: name, mode, holders, waiters. */
static void
ll_pack(struct fbuf *fb, const struct ll_lock *k, size_t pfxlen)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i, nh;

	for (i = 0; i < k->n; i++)
		cJSON_AddItemReferenceToArray(arr, (cJSON *)k->kvs[i]);
	nh = lk_nholders(arr, pfxlen);
	pk_map_open(fb);
	pk_kstr(fb, "name", k->name);
	pk_kstr(fb, "mode", mode_name(!lk_is_writer(k->kvs[0], pfxlen)));
	pk_str(fb, "holders");
	lk_pack_line(fb, arr, 0, nh, 1, NULL);
	pk_str(fb, "waiters");
	lk_pack_line(fb, arr, nh, k->n, 0, NULL);
	pk_map_close(fb);
	cJSON_Delete(arr);
}

/* Group the keys by lock, sort the locks by name, answer a page. */
static void
ll_done(struct shcall *c, const cJSON *res)
{
	struct ll *x = c->st;
	struct ll_lock *locks = NULL, *k, *tmp, **v;
	const cJSON *kv;
	struct fbuf *fb;
	char *key, *slash;
	size_t nv = 0, i, shown = 0;
	int more = 0;

	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(res, "kvs")) {
		if ((key = lk_kv_key(kv)) == NULL || strlen(key) <= x->rootlen ||
		    (slash = strchr(key + x->rootlen, '/')) == NULL) {
			free(key);
			continue;
		}
		*slash = '\0';
		HASH_FIND_STR(locks, key + x->rootlen, k);
		if (k == NULL) {
			k = xcalloc(1, sizeof *k);
			k->name = xstrdup(key + x->rootlen);
			HASH_ADD_KEYPTR(hh, locks, k->name, strlen(k->name), k);
		}
		k->kvs = xreallocarray(k->kvs, k->n + 1, sizeof *k->kvs);
		k->kvs[k->n++] = kv;
		free(key);
	}
	v = xreallocarray(NULL, HASH_COUNT(locks) + 1, sizeof *v);
	HASH_ITER(hh, locks, k, tmp) {
		key = k->name;
		k->name = shared_unesc(key, strlen(key));
		free(key);
		v[nv++] = k;
	}
	qsort(v, nv, sizeof *v, ll_cmp);
	fb = shcall_reply_begin(c);
	pk_map_open(fb);
	pk_str(fb, "locks");
	pk_array_open(fb);
	for (i = 0; i < nv; i++) {
		if (x->after != NULL && strcmp(v[i]->name, x->after) <= 0)
			continue;
		if ((int64_t)shown == x->limit || reply_full(fb)) {
			more = 1;
			break;
		}
		key = shared_esc(v[i]->name, strlen(v[i]->name));
		ll_pack(fb, v[i], x->rootlen + strlen(key) + 1);
		free(key);
		shown++;
	}
	pk_array_close(fb);
	pk_kuint(fb, "count", shown);
	pk_kbool(fb, "more", more);
	if (more) {
		pk_kstr(fb, "cursor", v[i - 1]->name);
		pk_kstr(fb, "hint", "more locks: call lock_list again with after = cursor");
	}
	pk_map_close(fb);
	HASH_ITER(hh, locks, k, tmp) {
		HASH_DEL(locks, k);
		free(k->name);
		free(k->kvs);
		free(k);
	}
	free(v);
	shcall_reply_end(c, fb);
}

void
shared_lock_list(struct req *r)
{
	struct shcall *c = shcall_new(r, sizeof(struct ll));
	struct ll *x = c->st;
	size_t n;
	const char *prefix = arg_str(r, "prefix", &n);
	char *root, *key, *esc;
	cJSON *body;

	c->on_end = ll_end;
	x->limit = arg_int(r, "limit");
	x->after = arg_has(r, "after") ? arg_strdup(r, "after") : NULL;
	root = shared_key(c, "l", prefix != NULL ? prefix : "", prefix != NULL ? n : 0, 1);
	esc = shared_esc(prefix != NULL ? prefix : "", prefix != NULL ? n : 0);
	x->rootlen = strlen(root) - strlen(esc);
	free(esc);
	key = root;
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "key", etcd_b64(key, strlen(key)));
	esc = etcd_prefix_end(key);
	cJSON_AddItemToObject(body, "range_end", etcd_b64(esc, strlen(esc)));
	cJSON_AddStringToObject(body, "sort_order", "ASCEND");
	cJSON_AddStringToObject(body, "sort_target", "CREATE");
	cJSON_AddNumberToObject(body, "limit", LOCK_LIST_MAX);
	free(esc);
	free(key);
	shcall_post(c, "/v3/kv/range", body, ll_done);
}

/*
 * A lock_break in progress: the holders at the head of the lock's line,
 * read, then deleted in one transaction that compares each key's
 * creation revision (a line that moved in between is read again).  The
 * holders on other hosts learn it when they release: no inbox message
 * tells them, as the local lock_break's does.
 */
struct bk {
	char *name, *pfx, *reason;
	struct fbuf holders;
	int has_holders;
	int tries;
};

#define LOCK_BREAK_TRIES 100 /* readings of a line that keeps moving */

static void bk_read(struct shcall *);

static void
bk_end(struct shcall *c)
{
	struct bk *x = c->st;

	free(x->name);
	free(x->pfx);
	free(x->reason);
	if (x->has_holders)
		fbuf_free(&x->holders);
}

/* The answer: broken (the holders read are gone), or nobody held it. */
static void
bk_reply(struct shcall *c, int broken)
{
	struct bk *x = c->st;
	struct fbuf *fb = shcall_reply_begin(c);

	pk_map_open(fb);
	pk_kbool(fb, "broken", broken);
	pk_str(fb, "holders");
	if (broken)
		pk_raw(fb, x->holders.sb.data + FRAME_HDR, x->holders.sb.size - FRAME_HDR);
	else
		pk_array(fb, 0);
	pk_kstr(fb, "hint",
	    broken ? "the holders lost it; on other hosts they learn it when they release "
		     "(a shared project has no inbox yet); the line moves on"
		   : "nobody holds this lock; nothing to break");
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

static void
bk_deleted(struct shcall *c, const cJSON *res)
{
	struct bk *x = c->st;

	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "succeeded"))) {
		if (++x->tries == LOCK_BREAK_TRIES) {
			shcall_error(c, ERR_CONFLICT, "name",
			    "the line of %s kept changing %d times in a row; try again",
			    x->name, LOCK_BREAK_TRIES);
			return;
		}
		bk_read(c);
		return;
	}
	shared_feed(shcall_session(c), "lock_break", "lock", x->name, "broken%s%s",
	    x->reason != NULL ? ": " : "", x->reason != NULL ? x->reason : "");
	log_warnx("shared lock %s (%s): broken by %s (session %s)%s%s", x->name, shared_host(),
	    shcall_session(c)->agent, shcall_session(c)->id, x->reason != NULL ? ": " : "",
	    x->reason != NULL ? x->reason : "");
	bk_reply(c, 1);
}

/* The line read: delete its holders' keys, if they are still the ones read. */
static void
bk_line(struct shcall *c, const cJSON *res)
{
	struct bk *x = c->st;
	const cJSON *kvs = etcd_txn_kvs(res, 0), *kv;
	cJSON *cmp, *acts;
	size_t nh, i = 0;
	char *key;

	nh = cJSON_GetArraySize(kvs) > 0 ? lk_nholders(kvs, strlen(x->pfx)) : 0;
	if (nh == 0) {
		bk_reply(c, 0);
		return;
	}
	if (x->has_holders)
		fbuf_free(&x->holders);
	fbuf_init(&x->holders);
	x->has_holders = 1;
	lk_pack_line(&x->holders, kvs, 0, nh, 1, NULL);
	cmp = cJSON_CreateArray();
	acts = cJSON_CreateArray();
	cJSON_ArrayForEach(kv, kvs) {
		if (i++ == nh || (key = lk_kv_key(kv)) == NULL)
			break;
		cJSON_AddItemToArray(cmp,
		    etcd_cmp(key, "CREATE", "EQUAL", etcd_int(kv, "create_revision")));
		cJSON_AddItemToArray(acts, etcd_del(key, 0));
		free(key);
	}
	shcall_txn(c, cmp, acts, NULL, bk_deleted);
}

static void
bk_read(struct shcall *c)
{
	struct bk *x = c->st;
	cJSON *acts = cJSON_CreateArray();

	cJSON_AddItemToArray(acts, etcd_get(x->pfx, 1, LOCK_QUEUE_MAX + 1, 0));
	shcall_txn(c, NULL, acts, NULL, bk_line);
}

void
shared_lock_break(struct req *r)
{
	struct shcall *c = shcall_new(r, sizeof(struct bk));
	struct bk *x = c->st;
	size_t n;
	const char *name = arg_str(r, "name", &n);

	c->on_end = bk_end;
	x->name = xstrndup(name, n);
	x->reason = arg_strdup(r, "reason");
	x->pfx = lk_prefix(c, name, n);
	bk_read(c);
}
