/*
 * Presence and messages of a shared project, in etcd (DESIGN 5.3, 5.4,
 * 15; batond(8) "Shared projects"):
 *
 *   - a session that joins (agent_join) puts PREFIX/a/NAME, bound to its
 *     session's lease: {n: name, r: role, h: host, s: session, p: pid,
 *     k: kind, c: client, t: joined at (wall ms), w: tag}.  The put is a
 *     txn "only if absent", so a name is held by one session on one host
 *     at a time; the same session joining again (a new role) rewrites
 *     its own key, one joining under a new name deletes its old key in
 *     the same txn.  The key goes when the session ends (its lease is
 *     revoked) or its host dies (the lease expires after --etcd-ttl).
 *     agent_list reads every host's keys.
 *   - a message is PREFIX/m/TO/FROM/TAG holding {f, t, s, b, h, at, w},
 *     with no lease (mail outlives sessions); its id is the key's create
 *     revision, so ids only increase across hosts and a cursor is the
 *     revision an inbox read saw.  An inbox reads its three mailboxes'
 *     keys (TO = its name, role:ROLE, all), then the values of a page;
 *     message_inbox's wait watches PREFIX/m/ from the revision read.
 *   - read state is PREFIX/k/NAME holding {u: acked up to, a: [ids
 *     above], w}, written by compare-and-set on its mod revision;
 *   - retention: past min(--message-retention, SHARED_MSG_MAX) messages
 *     the sender deletes the oldest, and records the newest id dropped
 *     in PREFIX/mx ({x}) in the same txn, compared on mx's mod revision
 *     so trimmers take turns; a cursor below it is cursor_expired.
 *
 * Discussions are shared-disc.c's: their notices are messages put with
 * shared_msg_put, an inbox lists those waiting on it.  This file stands
 * beside shared.c in broker.h's order: it calls nothing of presence.c or
 * msg.c; agent.c calls shared_join, with the step that registers the
 * name on this host once etcd took it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared.h"

#define SHARED_MSG_MAX 1000 /* messages kept per shared project, at most */
#define SHARED_TRIM_MAX 100 /* keys one trim txn deletes */
#define SHARED_MSG_PAGE (512 * 1024)
#define SHARED_MBOX_MAX 4096 /* names with read state, per project */
#define SHARED_ACK_IDS_MAX 1000
#define SHARED_RECIPIENTS_MAX 100
#define SHARED_LOCK_KEYS_MAX 10000 /* lock keys agent_list reads */
#define SHARED_TRIES 100           /* compare-and-set rounds before giving up */

/* What a read of the mailboxes (mbox_read) adds */
#define MBOX_COUNT 1 /* the read counts the names with read state (ack) */
#define MBOX_DISCS 2 /* the read has the discussions waiting on the reader (inbox) */
#define MBOX_JOIN 3  /* those and who is present (agent_join) */

/* A message's place, from its key: m/TO/FROM/TAG. */
struct ment {
	int64_t id;
	char *to, *from, *key;
};

/* A lock's holder, from the keys of its line: l/NAME/{w|r}/LEASE. */
struct holder {
	char *name;
	int64_t lease;
};

/* A presence or message call in progress. */
struct sm {
	char *name, *role, *old; /* agent_join */
	shared_joined_fn *joined;
	char *key, *tag;
	unsigned char *val;
	size_t vlen;
	char *to;
	char *me, *myrole; /* whose mailboxes: the session's name and role */
	int64_t after, limit, upto;
	int has_after, unread_only, has_upto, tries;
	int more;      /* inbox: more messages than the page */
	cJSON *discs;  /* inbox: the read with the discussions waiting on it */
	int timed_out; /* inbox: its wait is over, answer what there is */
	double wait;
	int64_t read_at, floor, mbox_mod, acked_upto, id;
	int64_t *acked; /* read state: ids above acked_upto */
	size_t nacked;
	uint64_t *ids; /* message_ack's ids, sorted */
	size_t nids;
	struct ment *ents; /* the mailboxes' messages, by id */
	size_t nents;
	struct holder *holders; /* agent_list: who holds which lock */
	size_t nholders;
	char *recipients[SHARED_RECIPIENTS_MAX];
	size_t nrecipients;
};

static void
sm_ents_free(struct sm *x)
{
	size_t i;

	for (i = 0; i < x->nents; i++) {
		free(x->ents[i].to);
		free(x->ents[i].from);
		free(x->ents[i].key);
	}
	free(x->ents);
	x->ents = NULL;
	x->nents = 0;
}

static void
sm_end(struct shcall *c)
{
	struct sm *x = c->st;
	size_t i;

	free(x->name);
	free(x->role);
	free(x->old);
	free(x->key);
	free(x->tag);
	free(x->val);
	free(x->to);
	free(x->me);
	free(x->myrole);
	cJSON_Delete(x->discs);
	free(x->acked);
	free(x->ids);
	for (i = 0; i < x->nrecipients; i++)
		free(x->recipients[i]);
	for (i = 0; i < x->nholders; i++)
		free(x->holders[i].name);
	free(x->holders);
	sm_ents_free(x);
}

static struct sm *
sm_new(struct req *r, struct shcall **cp)
{
	struct shcall *c = shcall_new(r, sizeof(struct sm));
	struct sm *x = c->st;

	c->on_end = sm_end;
	x->tag = shared_tag();
	x->me = xstrdup(r->s->agent);
	x->myrole = r->s->role != NULL ? xstrdup(r->s->role) : NULL;
	*cp = c;
	return (x);
}

/* ROOT KIND/ESC(name)[SUFFIX]: a key of this project. */
static char *
sm_key(const struct shcall *c, const char *kind, const char *name, const char *suffix)
{
	char *root = shared_root(c, kind), *e = shared_esc(name, strlen(name)), *key;

	xasprintf(&key, "%s%s%s", root, e, suffix);
	free(root);
	free(e);
	return (key);
}

/* The msgpack of a record fb holds, copied into x->val. */
static void
sm_take(struct sm *x, struct fbuf *fb)
{
	free(x->val);
	x->vlen = fb->sb.size - FRAME_HDR;
	x->val = xmalloc(x->vlen);
	memcpy(x->val, fb->sb.data + FRAME_HDR, x->vlen);
	fbuf_free(fb);
}

/* A range of a txn over prefix (keys only: no values), from min_create on (0: all). */
static cJSON *
sm_range(const char *prefix, int keys_only, int64_t min_create, int64_t max_create)
{
	cJSON *op = etcd_get(prefix, 1, 0, max_create);
	cJSON *r = cJSON_GetObjectItemCaseSensitive(op, "request_range");
	char num[32];

	if (keys_only)
		cJSON_AddBoolToObject(r, "keys_only", 1);
	if (min_create > 0) {
		snprintf(num, sizeof num, "%lld", (long long)min_create);
		cJSON_AddStringToObject(r, "min_create_revision", num);
	}
	return (op);
}

/* The key of the retention floor: ROOT mx. */
static char *
sm_mx_key(const struct shcall *c)
{
	char *key = shared_root(c, "mx");

	key[strlen(key) - 1] = '\0'; /* a key, not a folder */
	return (key);
}

/*
 * Ranges of the session's three mailboxes (the messages to its name,
 * its role, all) into ok: keys only, or values created from lo to hi.
 */
static void
sm_boxes(struct shcall *c, cJSON *ok, int keys_only, int64_t lo, int64_t hi)
{
	struct sm *x = c->st;
	char *role, *p;
	const char *box[3];
	int i;

	xasprintf(&role, "role:%s", x->myrole != NULL ? x->myrole : "");
	box[0] = x->me;
	box[1] = role;
	box[2] = "all";
	for (i = 0; i < 3; i++) {
		p = sm_key(c, "m", box[i], "/");
		cJSON_AddItemToArray(ok, sm_range(p, keys_only, lo, hi));
		free(p);
	}
	free(role);
}

/* The i-th answer of a txn, when a range. */
static const cJSON *
sm_resp(const cJSON *res, int i)
{
	return (cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "responses"), i),
	    "response_range"));
}

static int
sm_succeeded(const cJSON *res)
{
	return (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "succeeded")));
}

/* Does address addr ("all", "role:R" or a name) reach agent in role? */
int
shared_addr_match(const char *addr, const char *agent, const char *role)
{
	if (strcmp(addr, "all") == 0 || strcmp(addr, agent) == 0)
		return (1);
	return (strncmp(addr, "role:", 5) == 0 && role != NULL && strcmp(addr + 5, role) == 0);
}

/* Is mail from from to to for agent in role?  One's own mail to all or a role is not. */
static int
sm_for(const char *to, const char *from, const char *agent, const char *role)
{
	if (strcmp(to, agent) == 0)
		return (1);
	return (strcmp(from, agent) != 0 && shared_addr_match(to, agent, role));
}

/* A string field of a record, or def. */
static const char *
sm_str(const struct shrec *r, const char *field, char *buf, size_t size, const char *def)
{
	const msgpack_object *o = shrec_get(r, field);
	const char *s;
	size_t n;

	if (o == NULL || mp_str(o, &s, &n) != 0)
		return (def);
	snprintf(buf, size, "%.*s", (int)n, s);
	return (buf);
}

/* --- presence: agent_join, agent_list --------------------------------- */

static void join_write(struct shcall *, int64_t);

static void mbox_read(struct shcall *, shcall_step *, int);
static void mbox_take(struct shcall *, const cJSON *);
static size_t sm_unread(const struct sm *);

/*
 * The name is ours in etcd, its mail, the discussions waiting on it and
 * who is present read: agent.c registers it here and answers with those.
 */
static void
join_taken(struct shcall *c, const cJSON *res)
{
	struct sm *x = c->st;
	struct session *s = shcall_session(c);
	char *name = x->name, *role = x->role;
	struct join_counts jc;
	const cJSON *kv;
	struct shrec r;
	size_t i, cap = (size_t)cJSON_GetArraySize(etcd_txn_kvs(res, 8));
	int j;

	mbox_take(c, res);
	memset(&jc, 0, sizeof jc);
	jc.unread = sm_unread(x);
	for (j = 5; j <= 7; j++)
		jc.waiting += (size_t)cJSON_GetArraySize(etcd_txn_kvs(res, j));
	jc.agents = xreallocarray(NULL, cap + 1, sizeof *jc.agents);
	jc.roles = xreallocarray(NULL, cap + 1, sizeof *jc.roles);
	cJSON_ArrayForEach(kv, etcd_txn_kvs(res, 8)) {
		if (jc.n == cap || shrec_read(kv, &r) != 0)
			continue;
		jc.agents[jc.n] = mp_get_strdup(r.o, "n");
		jc.roles[jc.n] = mp_get_strdup(r.o, "r");
		shrec_free(&r);
		if (jc.agents[jc.n] == NULL)
			free((char *)jc.roles[jc.n]);
		else
			jc.n++;
	}
	x->name = x->role = NULL;
	shared_feed(s, "agent_join", "agent", name, "present on host %s", shared_host());
	x->joined(s, c->id, name, role, 0, &jc);
	for (i = 0; i < jc.n; i++) {
		free((char *)jc.agents[i]);
		free((char *)jc.roles[i]);
	}
	free(jc.agents);
	free(jc.roles);
	shcall_end(c);
}

/*
 * The put's answer: the name is ours; or it is held: by this session
 * (a join again: rewritten at its revision), or by another (refused,
 * naming it).
 */
static void
join_done(struct shcall *c, const cJSON *res)
{
	struct sm *x = c->st;
	const cJSON *kv = cJSON_GetArrayItem(etcd_txn_kvs(res, 0), 0);
	struct shrec r;
	char host[256], sid[24];
	int64_t pid, since, now = wall_ms();
	int own;

	if (sm_succeeded(res)) { /* the mail of the name and role joined */
		free(x->me);
		free(x->myrole);
		x->me = xstrdup(x->name);
		x->myrole = x->role != NULL           ? xstrdup(x->role)
		    : shcall_session(c)->role != NULL ? xstrdup(shcall_session(c)->role)
						      : NULL;
		mbox_read(c, join_taken, MBOX_JOIN);
		return;
	}
	if (kv == NULL || shrec_read(kv, &r) != 0) { /* gone meanwhile: again */
		if (++x->tries < SHARED_TRIES) {
			join_write(c, 0);
			return;
		}
		shcall_error(c, ERR_CONFLICT, "name", "agent name '%s' keeps changing hands",
		    x->name);
		return;
	}
	/* this session's own key (a join again, or our put before a retry) */
	own = r.lease == shcall_lease_id(c) || shrec_tag_is(&r, x->tag);
	sm_str(&r, "h", host, sizeof host, "?");
	sm_str(&r, "s", sid, sizeof sid, "?");
	pid = mp_get_int(r.o, "p", 0);
	since = mp_get_int(r.o, "t", now);
	shrec_free(&r);
	if (own && ++x->tries < SHARED_TRIES) {
		join_write(c, etcd_int(kv, "mod_revision"));
		return;
	}
	shcall_error(c, ERR_CONFLICT, "name",
	    "agent name '%s' is taken in this shared project: session %s (pid %lld) on host "
	    "%s joined under it %lld s ago and is still connected; pick another name, or "
	    "wait until it disconnects (or its host's etcd lease expires)",
	    x->name, sid, (long long)pid, host,
	    (long long)(now > since ? (now - since) / 1000 : 0));
}

/*
 * Put the presence key: only if absent (mod 0), or over this session's
 * own at mod; the old name's key (a rename) goes in the same txn.
 */
static void
join_write(struct shcall *c, int64_t mod)
{
	struct sm *x = c->st;
	cJSON *cmp = cJSON_CreateArray(), *ok = cJSON_CreateArray(), *no = cJSON_CreateArray();
	char *old;

	cJSON_AddItemToArray(cmp, etcd_cmp(x->key, mod == 0 ? "CREATE" : "MOD", "EQUAL", mod));
	cJSON_AddItemToArray(ok, etcd_put(x->key, x->val, x->vlen, shcall_lease_kept(c)));
	if (x->old != NULL && strcmp(x->old, x->name) != 0) {
		old = sm_key(c, "a", x->old, "");
		cJSON_AddItemToArray(ok, etcd_del(old, 0));
		free(old);
	}
	cJSON_AddItemToArray(no, etcd_get(x->key, 0, 0, 0));
	shcall_txn(c, cmp, ok, no, join_done);
}

/* The session has its lease: its record, then the put. */
static void
join_leased(struct shcall *c, const cJSON *res)
{
	struct sm *x = c->st;
	struct session *s = shcall_session(c);
	struct fbuf fb;

	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kstr(&fb, "n", x->name);
	pk_kstr_opt(&fb, "r", x->role != NULL ? x->role : s->role);
	pk_kstr(&fb, "h", shared_host());
	pk_kstr(&fb, "s", s->id);
	pk_kint(&fb, "p", s->pid);
	pk_kstr(&fb, "k", s->kind);
	pk_kstr_opt(&fb, "c", s->client_name);
	pk_kint(&fb, "t", wall_ms());
	pk_kstr(&fb, "w", x->tag);
	pk_map_close(&fb);
	sm_take(x, &fb);
	join_write(c, 0);
}

/*
 * agent_join in a shared project (agent.c, once its own checks passed):
 * take name (and role; both taken over when this returns 1) in etcd,
 * then joined(session, request, name, role, ttl).  0 when the project is
 * not shared: agent.c goes on alone.
 */
int
shared_join(struct req *r, const char *old, char *name, char *role, double ttl,
    shared_joined_fn *joined)
{
	struct shcall *c;
	struct sm *x;

	if (!shared_serves(r->s->project))
		return (0);
	if (ttl > 0)
		reply_error(r->c, r->id, ERR_INVALID, "ttl_seconds",
		    "in a shared project presence lives with the session's etcd lease; join "
		    "without ttl_seconds and keep the connection open");
	if (ttl > 0 || !shared_admit(r)) { /* answered */
		free(name);
		free(role);
		return (1);
	}
	x = sm_new(r, &c);
	x->name = name;
	x->role = role;
	x->old = old != NULL ? xstrdup(old) : NULL;
	x->joined = joined;
	x->key = sm_key(c, "a", name, "");
	shcall_leased(c, join_leased);
	return (1);
}

/* One key of a lock's line, in key order (by name, then mode). */
struct lkey {
	char *name;
	int w;
	int64_t create, lease;
};

/*
 * The holders of the locks whose lines kvs holds (keys only, in key
 * order): the oldest key of a line when it is exclusive, else every
 * shared key older than the oldest exclusive one (shared-lock.c).
 */
static void
holders_take(struct shcall *c, const cJSON *kvs)
{
	struct sm *x = c->st;
	char *root = shared_root(c, "l");
	size_t rlen = strlen(root), n = 0, i, j, k, klen;
	struct lkey *v = NULL;
	unsigned char *key;
	const cJSON *kv;
	char *p, *m;
	int64_t minw, minall;

	cJSON_ArrayForEach(kv, kvs) {
		if ((key = etcd_unb64(cJSON_GetObjectItemCaseSensitive(kv, "key"), &klen)) ==
		    NULL)
			continue;
		p = (char *)key;
		/* ROOT l/NAME/{w|r}/LEASE: NAME escaped, so its last '/' splits */
		if (strncmp(p, root, rlen) != 0 || (m = strrchr(p + rlen, '/')) == NULL ||
		    m - (p + rlen) < 3 || m[-2] != '/' || (m[-1] != 'w' && m[-1] != 'r')) {
			free(key);
			continue;
		}
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n].name = shared_unesc(p + rlen, (size_t)(m - 2 - (p + rlen)));
		v[n].w = m[-1] == 'w';
		v[n].create = etcd_int(kv, "create_revision");
		v[n].lease = etcd_int(kv, "lease");
		n++;
		free(key);
	}
	for (i = 0; i < n; i = j) {
		minw = minall = INT64_MAX;
		for (j = i; j < n && strcmp(v[j].name, v[i].name) == 0; j++) {
			if (v[j].w && v[j].create < minw)
				minw = v[j].create;
			if (v[j].create < minall)
				minall = v[j].create;
		}
		for (k = i; k < j; k++) {
			if (v[k].w ? v[k].create != minall : v[k].create > minw)
				continue;
			x->holders =
			    xreallocarray(x->holders, x->nholders + 1, sizeof *x->holders);
			x->holders[x->nholders].name = xstrdup(v[k].name);
			x->holders[x->nholders++].lease = v[k].lease;
		}
	}
	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	free(root);
}

/* The names of the locks held under lease. */
static void
holders_pack(struct fbuf *fb, const struct sm *x, int64_t lease)
{
	size_t i;

	pk_array_open(fb);
	for (i = 0; i < x->nholders; i++) {
		if (x->holders[i].lease == lease && lease != 0)
			pk_str(fb, x->holders[i].name);
	}
	pk_array_close(fb);
}

/* agent_list's answer: every host's joined agents, in join order, with the locks they hold. */
static void
agent_list_done(struct shcall *c, const cJSON *res)
{
	struct sm *x = c->st;
	struct session *me = shcall_session(c), *s;
	const cJSON *kv;
	struct shrec r;
	struct fbuf *fb = shcall_reply_begin(c);
	char agent[AGENT_NAME_MAX_LEN + 1], role[ROLE_MAX_LEN + 1], sid[24], host[256];
	char kind[32], client[128];
	const char *rl, *cl, *h;
	int64_t shown = 0, now = wall_ms(), t;
	int more = 0;

	holders_take(c, etcd_txn_kvs(res, 1));
	pk_map_open(fb);
	pk_str(fb, "agents");
	pk_array_open(fb);
	cJSON_ArrayForEach(kv, etcd_txn_kvs(res, 0)) {
		if (shrec_read(kv, &r) != 0)
			continue;
		rl = sm_str(&r, "r", role, sizeof role, NULL);
		if (x->role != NULL && (rl == NULL || strcmp(rl, x->role) != 0)) {
			shrec_free(&r);
			continue;
		}
		if (shown == x->limit || reply_full(fb)) {
			shrec_free(&r);
			more = 1;
			break;
		}
		h = sm_str(&r, "h", host, sizeof host, "");
		cl = sm_str(&r, "c", client, sizeof client, NULL);
		sm_str(&r, "s", sid, sizeof sid, "");
		t = mp_get_int(r.o, "t", now);
		s = strcmp(h, shared_host()) == 0 ? session_find(sid) : NULL;
		pk_map_open(fb);
		pk_kstr(fb, "agent", sm_str(&r, "n", agent, sizeof agent, ""));
		pk_kstr_opt(fb, "role", rl);
		pk_kstr(fb, "session", sid);
		pk_kint(fb, "pid", mp_get_int(r.o, "p", 0));
		pk_kstr(fb, "project", me->project);
		pk_kstr(fb, "kind", sm_str(&r, "k", kind, sizeof kind, "cli"));
		pk_kstr_opt(fb, "client", cl);
		pk_kstr(fb, "host", h);
		pk_kdouble(fb, "connected_seconds", now > t ? (double)(now - t) / 1000.0 : 0);
		pk_kdouble(fb, "idle_seconds",
		    s != NULL ? (double)(mono_ms() - s->active_ms) / 1000.0 : 0);
		pk_str(fb, "locks");
		holders_pack(fb, x, r.lease);
		pk_str(fb, "tasks");
		pk_array(fb, 0);
		pk_kbool(fb, "connected", 1);
		pk_kbool(fb, "joined", 1);
		pk_kstr(fb, "state", "connected");
		pk_map_close(fb);
		shrec_free(&r);
		shown++;
	}
	pk_array_close(fb);
	pk_kint(fb, "count", shown);
	pk_kbool(fb, "more", more);
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

void
shared_agent_list(struct req *r)
{
	struct shcall *c;
	struct sm *x;
	size_t alen;
	cJSON *ok, *op, *rr;
	char *root, num[32];

	if (arg_str(r, "after", &alen) != NULL && alen > 0) {
		reply_error(r->c, r->id, ERR_INVALID, "after",
		    "in a shared project agent_list answers in one page (up to limit agents, "
		    "every host's); after is not served there");
		return;
	}
	x = sm_new(r, &c);
	x->role = arg_strdup(r, "role");
	x->limit = arg_int(r, "limit");
	ok = cJSON_CreateArray();
	root = shared_root(c, "a");
	cJSON_AddItemToArray(ok, etcd_get(root, 1, 0, 0));
	free(root);
	/* the locks' lines, keys only, in key order: each line's keys together */
	root = shared_root(c, "l");
	op = sm_range(root, 1, 0, 0);
	rr = cJSON_GetObjectItemCaseSensitive(op, "request_range");
	cJSON_DeleteItemFromObjectCaseSensitive(rr, "sort_order");
	cJSON_DeleteItemFromObjectCaseSensitive(rr, "sort_target");
	snprintf(num, sizeof num, "%d", SHARED_LOCK_KEYS_MAX);
	cJSON_AddStringToObject(rr, "limit", num);
	cJSON_AddItemToArray(ok, op);
	free(root);
	shcall_txn(c, NULL, ok, NULL, agent_list_done);
}

/* --- messages: message_send ------------------------------------------- */

/*
 * An address argument (a name, role:ROLE, all) in *out (NULL when absent
 * or empty); -1 when refused (answered).
 */
int
shared_addr_arg(struct req *r, const char *arg, char **out)
{
	size_t n, i;
	const char *s = arg_str(r, arg, &n), *why = NULL;

	*out = NULL;
	if (s == NULL || n == 0)
		return (0);
	for (i = 0; i < n && why == NULL; i++) {
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			why = "it cannot contain spaces or control characters";
	}
	if (why == NULL && n >= 5 && memcmp(s, "role:", 5) == 0 &&
	    (n == 5 || n - 5 > ROLE_MAX_LEN))
		why = "role:ROLE needs a role of 1 to 32 bytes";
	else if (why == NULL && (n < 5 || memcmp(s, "role:", 5) != 0) && n > AGENT_NAME_MAX_LEN)
		why = "agent names have at most 64 bytes";
	if (why != NULL) {
		reply_error(r->c, r->id, ERR_INVALID, arg,
		    "%s must be an agent name, role:ROLE or all: %s", arg, why);
		return (-1);
	}
	*out = team_agent_addr(r->s->uid, s, n);
	if (strlen(*out) > AGENT_NAME_MAX_LEN) {
		reply_error(r->c, r->id, ERR_INVALID, arg,
		    "%s '%s' is too long: with the user name in front, agent names have at "
		    "most %d bytes",
		    arg, *out, AGENT_NAME_MAX_LEN);
		free(*out);
		*out = NULL;
		return (-1);
	}
	return (0);
}

/* The number of messages a shared project keeps. */
static int64_t
sm_retention(void)
{
	return (msg_retention < SHARED_MSG_MAX ? (int64_t)msg_retention : SHARED_MSG_MAX);
}

static void
send_reply(struct shcall *c)
{
	struct sm *x = c->st;
	struct fbuf *fb = shcall_reply_begin(c);
	size_t i;

	pk_map_open(fb);
	pk_kuint(fb, "id", (uint64_t)x->id);
	pk_kstr(fb, "to", x->to);
	pk_str(fb, "recipients");
	pk_array(fb, x->nrecipients);
	for (i = 0; i < x->nrecipients; i++)
		pk_str(fb, x->recipients[i]);
	if (x->nrecipients == 0)
		pk_kstr(fb, "hint",
		    "nobody it reaches is present now (on any host); it waits in the mailbox "
		    "and is read when an agent by that name (or in that role) calls "
		    "message_inbox");
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

static void trim_read(struct shcall *, const cJSON *);

/* A trim went through (or raced another: read again). */
static void
trim_done(struct shcall *c, const cJSON *res)
{
	if (sm_succeeded(res) || ++c->trims >= SHARED_TRIES) {
		c->trimmed(c);
		return;
	}
	trim_read(c, NULL);
}

/* The count and the oldest messages: past retention, the oldest go (one txn). */
static void
trim_check(struct shcall *c, const cJSON *res)
{
	const cJSON *mx = cJSON_GetArrayItem(etcd_txn_kvs(res, 0), 0);
	const cJSON *old = sm_resp(res, 1), *kv;
	int64_t count = etcd_int(old, "count"), k, i = 0, last = 0;
	cJSON *cmp = cJSON_CreateArray(), *ok = cJSON_CreateArray();
	unsigned char *key;
	size_t klen;
	char *mxkey = sm_mx_key(c);
	struct fbuf fb;

	if ((k = count - sm_retention()) <= 0) {
		cJSON_Delete(cmp);
		cJSON_Delete(ok);
		free(mxkey);
		c->trimmed(c);
		return;
	}
	if (k > SHARED_TRIM_MAX)
		k = SHARED_TRIM_MAX;
	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(old, "kvs")) {
		if (i == k)
			break;
		if ((key = etcd_unb64(cJSON_GetObjectItemCaseSensitive(kv, "key"), &klen)) ==
		    NULL)
			continue;
		cJSON_AddItemToArray(ok, etcd_del((char *)key, 0));
		free(key);
		last = etcd_int(kv, "create_revision");
		i++;
	}
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "x", last);
	pk_map_close(&fb);
	cJSON_AddItemToArray(cmp,
	    etcd_cmp(mxkey, "MOD", "EQUAL", etcd_int(mx, "mod_revision")));
	cJSON_AddItemToArray(ok,
	    etcd_put(mxkey, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, 0));
	fbuf_free(&fb);
	free(mxkey);
	shcall_txn(c, cmp, ok, NULL, trim_done);
}

/* Read the retention floor and the oldest messages (with the count of all). */
static void
trim_read(struct shcall *c, const cJSON *unused)
{
	char *mxkey = sm_mx_key(c), *root = shared_root(c, "m"), num[32];
	cJSON *ok = cJSON_CreateArray(), *op;

	cJSON_AddItemToArray(ok, etcd_get(mxkey, 0, 0, 0));
	op = sm_range(root, 1, 0, 0);
	snprintf(num, sizeof num, "%d", SHARED_TRIM_MAX);
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(op, "request_range"), "limit",
	    num);
	cJSON_AddItemToArray(ok, op);
	free(mxkey);
	free(root);
	shcall_txn(c, NULL, ok, NULL, trim_check);
}

/*
 * Past retention (min(--message-retention, SHARED_MSG_MAX) messages in
 * the project), delete the oldest, as whoever puts a message does once
 * it is in; then then(c).
 */
void
shared_msg_trim(struct shcall *c, void (*then)(struct shcall *))
{
	c->trimmed = then;
	c->trims = 0;
	trim_read(c, NULL);
}

/* The message is in: its id, who present it reaches; then retention. */
static void
send_done(struct shcall *c, const cJSON *res)
{
	struct sm *x = c->st;
	struct session *s = shcall_session(c);
	const cJSON *kv;
	struct shrec r;
	char name[AGENT_NAME_MAX_LEN + 1], role[ROLE_MAX_LEN + 1];
	const char *rl;
	size_t i;

	x->id = etcd_int(cJSON_GetArrayItem(etcd_txn_kvs(res, 1), 0), "create_revision");
	cJSON_ArrayForEach(kv, etcd_txn_kvs(res, 2)) {
		if (x->nrecipients == SHARED_RECIPIENTS_MAX)
			break;
		if (shrec_read(kv, &r) != 0)
			continue;
		sm_str(&r, "n", name, sizeof name, "");
		rl = sm_str(&r, "r", role, sizeof role, NULL);
		shrec_free(&r);
		if (!sm_for(x->to, s->agent, name, rl))
			continue;
		for (i = 0; i < x->nrecipients && strcmp(x->recipients[i], name) != 0; i++)
			;
		if (i == x->nrecipients)
			x->recipients[x->nrecipients++] = xstrdup(name);
	}
	shared_feed(s, "message_send", "message", x->to, "#%lld to %s", (long long)x->id,
	    x->to);
	shared_msg_trim(c, send_reply);
}

/*
 * The put of a message (subject and thread NULL when none) for a txn;
 * its key in *keyp.  Discussions mail their notices with it, in the txn
 * of their change.
 */
cJSON *
shared_msg_put(const struct shcall *c, const char *from, const char *to, const char *subject,
    const char *body, size_t blen, const char *thread, char **keyp)
{
	struct fbuf fb;
	char *tag = shared_tag(), *efrom, *tail;
	cJSON *op;

	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kstr(&fb, "f", from);
	pk_kstr(&fb, "t", to);
	pk_kstr_opt(&fb, "s", subject);
	pk_str(&fb, "b");
	pk_strn(&fb, body, blen);
	pk_kstr_opt(&fb, "h", thread);
	pk_kint(&fb, "at", wall_ms());
	pk_kstr(&fb, "w", tag);
	pk_map_close(&fb);
	efrom = shared_esc(from, strlen(from));
	xasprintf(&tail, "/%s/%s", efrom, tag);
	*keyp = sm_key(c, "m", to, tail);
	op = etcd_put(*keyp, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, 0);
	fbuf_free(&fb);
	free(tail);
	free(efrom);
	free(tag);
	return (op);
}

void
shared_message_send(struct req *r)
{
	struct shcall *c;
	struct sm *x;
	char *to, *subject, *thread, *root;
	const char *body;
	size_t n;
	cJSON *ok;

	if (shared_addr_arg(r, "to", &to) != 0)
		return;
	x = sm_new(r, &c);
	x->to = to;
	subject = arg_text(r, "subject");
	thread = arg_text(r, "thread");
	body = arg_str(r, "body", &n);
	ok = cJSON_CreateArray();
	cJSON_AddItemToArray(ok,
	    shared_msg_put(c, r->s->agent, to, subject, body, n, thread, &x->key));
	free(subject);
	free(thread);
	root = shared_root(c, "a");
	cJSON_AddItemToArray(ok, etcd_get(x->key, 0, 0, 0));
	cJSON_AddItemToArray(ok, etcd_get(root, 1, 0, 0));
	free(root);
	shcall_txn(c, NULL, ok, NULL, send_done);
}

/* --- messages: reading the mailboxes ---------------------------------- */

/*
 * One read of the session's mailboxes (a txn): its read state, the
 * retention floor, then the keys of the messages to its name, its role
 * and all (2 to 4), then (MBOX_COUNT) how many names have read state or
 * (MBOX_DISCS, MBOX_JOIN) the discussions waiting on it (5 to 7) and
 * (MBOX_JOIN) the agents present (8).
 */
static void
mbox_read(struct shcall *c, shcall_step *step, int what)
{
	struct sm *x = c->st;
	cJSON *ok = cJSON_CreateArray(), *op;
	char *k = sm_key(c, "k", x->me, ""), *mx = sm_mx_key(c);

	cJSON_AddItemToArray(ok, etcd_get(k, 0, 0, 0));
	cJSON_AddItemToArray(ok, etcd_get(mx, 0, 0, 0));
	sm_boxes(c, ok, 1, 0, 0);
	if (what == MBOX_DISCS || what == MBOX_JOIN)
		shared_disc_ranges(c, ok, x->me, x->myrole);
	if (what == MBOX_JOIN) {
		free(k);
		k = shared_root(c, "a");
		cJSON_AddItemToArray(ok, etcd_get(k, 1, 0, 0));
	}
	if (what == MBOX_COUNT) {
		free(k);
		k = shared_root(c, "k");
		op = etcd_get(k, 1, 0, 0);
		cJSON_AddBoolToObject(cJSON_GetObjectItemCaseSensitive(op, "request_range"),
		    "count_only", 1);
		cJSON_AddItemToArray(ok, op);
	}
	free(k);
	free(mx);
	shcall_txn(c, NULL, ok, NULL, step);
}

static int
ment_cmp(const void *a, const void *b)
{
	const struct ment *x = a, *y = b;

	return (x->id < y->id ? -1 : x->id > y->id);
}

/* The message's TO and FROM from its key ROOT m/TO/FROM/TAG; -1 when it is not one. */
static int
ment_parse(const char *root, const char *key, struct ment *m)
{
	const char *p, *s1, *s2;

	if (strncmp(key, root, strlen(root)) != 0)
		return (-1);
	p = key + strlen(root);
	if ((s1 = strchr(p, '/')) == NULL || (s2 = strchr(s1 + 1, '/')) == NULL)
		return (-1);
	m->to = shared_unesc(p, (size_t)(s1 - p));
	m->from = shared_unesc(s1 + 1, (size_t)(s2 - s1 - 1));
	return (0);
}

/* Has the session read id? */
static int
sm_is_read(const struct sm *x, int64_t id)
{
	size_t i;

	if (id <= x->acked_upto)
		return (1);
	for (i = 0; i < x->nacked; i++) {
		if (x->acked[i] == id)
			return (1);
	}
	return (0);
}

/* What mbox_read read: the read state, the floor, the session's messages by id. */
static void
mbox_take(struct shcall *c, const cJSON *res)
{
	struct sm *x = c->st;
	const cJSON *kv;
	struct shrec r;
	const msgpack_object *a;
	char *root = shared_root(c, "m");
	unsigned char *key;
	struct ment m;
	size_t klen;
	uint32_t j;
	int i;

	sm_ents_free(x);
	free(x->acked);
	x->acked = NULL;
	x->nacked = 0;
	x->acked_upto = 0;
	x->read_at = etcd_revision(res);
	kv = cJSON_GetArrayItem(etcd_txn_kvs(res, 0), 0);
	x->mbox_mod = kv != NULL ? etcd_int(kv, "mod_revision") : 0;
	if (kv != NULL && shrec_read(kv, &r) == 0) {
		x->acked_upto = mp_get_int(r.o, "u", 0);
		a = shrec_get(&r, "a");
		if (a != NULL && a->type == MSGPACK_OBJECT_ARRAY && a->via.array.size > 0) {
			x->acked = xreallocarray(NULL, a->via.array.size, sizeof *x->acked);
			for (j = 0; j < a->via.array.size; j++) {
				if (mp_int(&a->via.array.ptr[j], &x->acked[x->nacked]) == 0)
					x->nacked++;
			}
		}
		shrec_free(&r);
	}
	kv = cJSON_GetArrayItem(etcd_txn_kvs(res, 1), 0);
	x->floor = 0;
	if (kv != NULL && shrec_read(kv, &r) == 0) {
		x->floor = mp_get_int(r.o, "x", 0);
		shrec_free(&r);
	}
	for (i = 2; i <= 4; i++) {
		cJSON_ArrayForEach(kv, etcd_txn_kvs(res, i)) {
			memset(&m, 0, sizeof m);
			if ((key = etcd_unb64(cJSON_GetObjectItemCaseSensitive(kv, "key"),
				 &klen)) == NULL)
				continue;
			if (ment_parse(root, (char *)key, &m) != 0 ||
			    !sm_for(m.to, m.from, x->me, x->myrole)) {
				free(m.to);
				free(m.from);
				free(key);
				continue;
			}
			m.key = (char *)key;
			m.id = etcd_int(kv, "create_revision");
			x->ents = xreallocarray(x->ents, x->nents + 1, sizeof *x->ents);
			x->ents[x->nents++] = m;
		}
	}
	if (x->nents > 1)
		qsort(x->ents, x->nents, sizeof *x->ents, ment_cmp);
	free(root);
}

static size_t
sm_unread(const struct sm *x)
{
	size_t i, n = 0;

	for (i = 0; i < x->nents; i++)
		n += !sm_is_read(x, x->ents[i].id);
	return (n);
}

/* --- messages: message_inbox ------------------------------------------ */

static void inbox_read(struct shcall *, const cJSON *);

/* What an inbox answer says to do next (malloc'd). */
static char *
inbox_hint(size_t n, int more, size_t ndisc, size_t unread, int unread_only)
{
	char *hint;

	xasprintf(&hint, "%s%s",
	    ndisc > 0 ? "Discussions wait on you: answer with discussion_reply (or "
			"discussion_get for the thread). "
		      : "",
	    more ? "More mail is waiting: call message_inbox again now with after=cursor."
		: n > 0
		? "Next: message_inbox with after=cursor and wait_seconds to wait for more; "
		  "message_ack up_to=cursor marks these read."
		: unread > 0 && !unread_only
		? "No new mail: call message_inbox with after=cursor and wait_seconds (e.g. "
		  "30) "
		  "to wait for the next message. Some older mail is unread: call with "
		  "unread_only=true and no after."
		: "No new mail: call message_inbox with after=cursor and wait_seconds (e.g. "
		  "30) "
		  "to wait for the next message.");
	return (hint);
}

/*
 * The page's values (a range of each mailbox between its first and
 * last id): the answer, in id order, up to the page's bytes.
 */
static void
inbox_page(struct shcall *c, const cJSON *res)
{
	struct sm *x = c->st;
	const cJSON *kv;
	struct shrec *recs;
	int64_t *ids;
	size_t n = 0, i, k, bytes = 0, shown = 0, cap = 0, unread = sm_unread(x), ndisc;
	int more = x->more, j;
	char at[TIME_ISO_LEN], buf[256], *hint;
	const msgpack_object *o;
	struct fbuf *fb;

	for (j = 0; j < 3; j++)
		cap += (size_t)cJSON_GetArraySize(etcd_txn_kvs(res, j));
	recs = xreallocarray(NULL, cap + 1, sizeof *recs);
	ids = xreallocarray(NULL, cap + 1, sizeof *ids);
	for (j = 0; j < 3; j++) {
		cJSON_ArrayForEach(kv, etcd_txn_kvs(res, j)) {
			int64_t id = etcd_int(kv, "create_revision");

			for (k = 0; k < x->nents && x->ents[k].id != id; k++)
				;
			if (k == x->nents || (x->unread_only && sm_is_read(x, id)) ||
			    id <= x->after || shrec_read(kv, &recs[n]) != 0)
				continue;
			ids[n++] = id;
		}
	}
	/* in id order (three mailboxes merged); a page is short, a sort by hand */
	for (i = 1; i < n; i++) {
		for (k = i; k > 0 && ids[k - 1] > ids[k]; k--) {
			struct shrec t = recs[k];
			int64_t ti = ids[k];

			recs[k] = recs[k - 1], ids[k] = ids[k - 1];
			recs[k - 1] = t, ids[k - 1] = ti;
		}
	}
	for (i = 0; i < n; i++) /* a record's o points into itself: moved, it moves */
		recs[i].o = &recs[i].u.data;
	fb = shcall_reply_begin(c);
	pk_map_open(fb);
	pk_str(fb, "messages");
	pk_array_open(fb);
	for (i = 0; i < n; i++) {
		bytes += 64;
		if ((o = shrec_get(&recs[i], "b")) != NULL && o->type == MSGPACK_OBJECT_STR)
			bytes += o->via.str.size;
		if (shown > 0 && bytes > SHARED_MSG_PAGE) {
			more = 1;
			break;
		}
		pk_map_open(fb);
		pk_kuint(fb, "id", (uint64_t)ids[i]);
		pk_kstr(fb, "from", sm_str(&recs[i], "f", buf, sizeof buf, ""));
		pk_kstr(fb, "to", sm_str(&recs[i], "t", buf, sizeof buf, ""));
		pk_kstr_opt(fb, "subject", sm_str(&recs[i], "s", buf, sizeof buf, NULL));
		pk_str(fb, "body");
		if ((o = shrec_get(&recs[i], "b")) != NULL)
			pk_object(fb, o);
		else
			pk_str(fb, "");
		pk_kstr_opt(fb, "thread", sm_str(&recs[i], "h", buf, sizeof buf, NULL));
		pk_kstr(fb, "at", time_iso(mp_get_int(recs[i].o, "at", 0), at, sizeof at));
		pk_kbool(fb, "read", sm_is_read(x, ids[i]));
		pk_map_close(fb);
		shown++;
	}
	pk_array_close(fb);
	pk_kuint(fb, "cursor",
	    (uint64_t)(more && shown > 0 ? ids[shown - 1]
					 : (x->read_at > x->after ? x->read_at : x->after)));
	pk_kbool(fb, "more", more);
	pk_kuint(fb, "unread", unread);
	if (x->wait > 0)
		pk_kdouble(fb, "wait_cap_seconds", c->cap);
	pk_str(fb, "discussions");
	ndisc = shared_disc_pack_waiting(fb, x->discs, 5);
	hint = inbox_hint(shown, more, ndisc, unread, x->unread_only);
	pk_kstr(fb, "hint", hint);
	free(hint);
	pk_map_close(fb);
	for (i = 0; i < n; i++)
		shrec_free(&recs[i]);
	free(recs);
	free(ids);
	shcall_reply_end(c, fb);
}

static void
inbox_timeout(struct shcall *c)
{
	struct sm *x = c->st;

	x->timed_out = 1;
	if (c->ec != NULL)
		return; /* a read is under way: it answers */
	shcall_unwatch(c);
	mbox_read(c, inbox_read, MBOX_DISCS);
}

/* A message came (or the history was compacted): read the mailboxes again. */
static void
inbox_event(struct shcall *c, const cJSON *ev)
{
	struct sm *x = c->st;
	char *root = shared_root(c, "m");
	unsigned char *key;
	size_t klen;
	struct ment m;
	int mine = 1;

	if (ev != NULL) {
		memset(&m, 0, sizeof m);
		key =
		    etcd_unb64(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ev,
								    "kv"),
				   "key"),
			&klen);
		mine = key != NULL && ment_parse(root, (char *)key, &m) == 0 &&
		    sm_for(m.to, m.from, x->me, x->myrole);
		free(m.to);
		free(m.from);
		free(key);
	}
	free(root);
	if (!mine)
		return;
	shcall_unwatch(c);
	mbox_read(c, inbox_read, MBOX_DISCS);
}

/*
 * The mailboxes as read: a cursor that cannot go on is refused; the
 * page past after is fetched; none, and the call waits for a message
 * (a watch of every mailbox from the revision read).
 */
static void
inbox_read(struct shcall *c, const cJSON *res)
{
	struct sm *x = c->st;
	size_t i, n = 0;
	char *p;
	cJSON *ok;
	int64_t lo = 0, hi = 0;

	mbox_take(c, res);
	cJSON_Delete(x->discs); /* the discussions of this read, for the answer */
	x->discs = cJSON_Duplicate(res, 1);
	x->more = 0;
	if (x->has_after && x->after > x->read_at) {
		shcall_error(c, ERR_CURSOR_EXPIRED, "after",
		    "cursor %lld is newer than any message id of this shared project (etcd "
		    "revision %lld); call message_inbox without after",
		    (long long)x->after, (long long)x->read_at);
		return;
	}
	if (x->has_after && x->after < x->floor) {
		shcall_error(c, ERR_CURSOR_EXPIRED, "after",
		    "messages after %lld are no longer retained (the last %lld of the shared "
		    "project are kept); call message_inbox without after to read what is "
		    "retained (unread_only=true skips what you acked)",
		    (long long)x->after, (long long)sm_retention());
		return;
	}
	for (i = 0; i < x->nents; i++) {
		if (x->ents[i].id <= x->after ||
		    (x->unread_only && sm_is_read(x, x->ents[i].id)))
			continue;
		if (n == 0)
			lo = x->ents[i].id;
		if (n == (size_t)x->limit) {
			x->more = 1;
			break;
		}
		hi = x->ents[i].id;
		n++;
	}
	if (n == 0 && !x->timed_out && x->wait > 0) {
		if (c->timer == NULL)
			shcall_wait(c, x->wait, inbox_timeout);
		p = shared_root(c, "m");
		shcall_watch(c, p, 1, x->read_at + 1, ETCD_WATCH_NODELETE, inbox_event);
		free(p);
		return;
	}
	if (n == 0) { /* nothing to fetch: an empty page */
		inbox_page(c, NULL);
		return;
	}
	/* the values of the page: each mailbox between its first and last id */
	ok = cJSON_CreateArray();
	sm_boxes(c, ok, 0, lo, hi);
	shcall_txn(c, NULL, ok, NULL, inbox_page);
}

void
shared_message_inbox(struct req *r)
{
	struct shcall *c;
	struct sm *x = sm_new(r, &c);

	x->has_after = arg_has(r, "after");
	x->after = arg_int(r, "after");
	x->unread_only = arg_bool(r, "unread_only");
	x->limit = arg_int(r, "limit");
	x->wait = arg_num(r, "wait_seconds");
	mbox_read(c, inbox_read, MBOX_DISCS);
}

/* --- messages: message_ack -------------------------------------------- */

static void ack_read(struct shcall *, const cJSON *);

static void
ack_reply(struct shcall *c, size_t acked)
{
	struct sm *x = c->st;
	struct fbuf *fb;

	shared_feed(shcall_session(c), "message_ack", "message", shcall_session(c)->agent,
	    "%zu marked read", acked);
	fb = shcall_reply_begin(c);
	pk_map_open(fb);
	pk_kuint(fb, "acked", acked);
	pk_kuint(fb, "unread", sm_unread(x));
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

/* The read state was written (or raced another writer: again from a fresh read). */
static void
ack_done(struct shcall *c, const cJSON *res)
{
	struct sm *x = c->st;

	if (shared_txn_ours(res, 0, x->tag)) {
		ack_reply(c, (size_t)x->id);
		return;
	}
	if (++x->tries == SHARED_TRIES) {
		shcall_error(c, ERR_CONFLICT, NULL,
		    "the read state of %s changed under this ack %d times in a row; try again",
		    shcall_session(c)->agent, SHARED_TRIES);
		return;
	}
	mbox_read(c, ack_read, MBOX_COUNT);
}

/* Mark what the ack names, keep what is still retained, write it back (compare-and-set). */
static void
ack_read(struct shcall *c, const cJSON *res)
{
	struct sm *x = c->st;
	const cJSON *cnt = sm_resp(res, 5);
	size_t i, k = 0, acked = 0, nk = 0;
	int64_t upto = x->has_upto && x->upto > 0 ? x->upto : 0, *keep, floor;
	cJSON *cmp, *ok, *no;
	struct fbuf fb;
	char *key;

	mbox_take(c, res);
	if (x->mbox_mod == 0 && etcd_int(cnt, "count") >= SHARED_MBOX_MAX) {
		shcall_error(c, ERR_LIMIT, NULL,
		    "%d agent names have read state in this shared project already; use fewer "
		    "names",
		    SHARED_MBOX_MAX);
		return;
	}
	if (upto > x->read_at)
		upto = x->read_at; /* not the future */
	floor = upto > x->acked_upto ? upto : x->acked_upto;
	keep = xreallocarray(NULL, x->nents + 1, sizeof *keep);
	/* one pass over the messages, the sorted ids alongside */
	for (i = 0; i < x->nents; i++) {
		int64_t id = x->ents[i].id;
		int read = sm_is_read(x, id), named;

		while (k < x->nids && x->ids[k] < (uint64_t)id)
			k++;
		named = x->ids != NULL ? k < x->nids && x->ids[k] == (uint64_t)id : id <= upto;
		if (named && !read)
			acked++;
		/* marks above the new floor, of messages still retained */
		if ((read || named) && id > floor)
			keep[nk++] = id;
	}
	x->acked_upto = floor;
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "u", x->acked_upto);
	pk_str(&fb, "a");
	pk_array(&fb, nk);
	for (i = 0; i < nk; i++)
		pk_int(&fb, keep[i]);
	pk_kstr(&fb, "w", x->tag);
	pk_map_close(&fb);
	sm_take(x, &fb);
	free(x->acked);
	x->acked = keep;
	x->nacked = nk;
	x->id = (int64_t)acked; /* what the answer says */
	key = sm_key(c, "k", x->me, "");
	cmp = cJSON_CreateArray();
	ok = cJSON_CreateArray();
	no = cJSON_CreateArray();
	cJSON_AddItemToArray(cmp, etcd_cmp(key, "MOD", "EQUAL", x->mbox_mod));
	cJSON_AddItemToArray(ok, etcd_put(key, x->val, x->vlen, 0));
	cJSON_AddItemToArray(no, etcd_get(key, 0, 0, 0));
	free(key);
	shcall_txn(c, cmp, ok, no, ack_done);
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

void
shared_message_ack(struct req *r)
{
	const msgpack_object *o = arg_get(r, "ids");
	struct shcall *c;
	struct sm *x;
	uint32_t i;
	int64_t v;

	if (o != NULL &&
	    (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > SHARED_ACK_IDS_MAX)) {
		reply_error(r->c, r->id, ERR_INVALID, "ids",
		    "ids must be an array of at most %d message ids", SHARED_ACK_IDS_MAX);
		return;
	}
	for (i = 0; o != NULL && i < o->via.array.size; i++) {
		if (mp_int(&o->via.array.ptr[i], &v) != 0 || v < 1) {
			reply_error(r->c, r->id, ERR_INVALID, "ids",
			    "ids[%u] must be a positive message id", i);
			return;
		}
	}
	x = sm_new(r, &c);
	if (o != NULL) {
		x->ids = xreallocarray(NULL, o->via.array.size + 1, sizeof *x->ids);
		for (i = 0; i < o->via.array.size; i++) {
			mp_int(&o->via.array.ptr[i], &v);
			x->ids[i] = (uint64_t)v;
		}
		x->nids = o->via.array.size;
		qsort(x->ids, x->nids, sizeof *x->ids, u64_cmp);
	}
	x->has_upto = arg_has(r, "up_to");
	x->upto = arg_int(r, "up_to");
	mbox_read(c, ack_read, MBOX_COUNT);
}
