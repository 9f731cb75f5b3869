/*
 * Shared projects (DESIGN 15, batond(8) "Shared projects"): when agents
 * on several hosts work on one repository, each host keeps its own
 * batond, and the state of a project named by --share lives in etcd
 * (etcd.c) instead of this broker's memory.  This is the layer between
 * the two: it knows which projects are shared, serves their operations
 * through the recipes of shared-*.c (server.c hands it every request
 * first: shared_serve; shared-lock.c locks, shared-note.c notes,
 * counters and events, shared-task.c tasks and claims), and carries
 * what those recipes stand on:
 *
 *   - a call (struct shcall) per request in flight: the request's id,
 *     its etcd call or watch, its wait timer; it ends with its answer,
 *     a cancel frame, or its session.  Every etcd call is bounded
 *     (--etcd-timeout): etcd unreachable is a clear error, never a hang
 *     and never a grant made here.
 *   - a lease per session (--etcd-ttl), granted at its first call that
 *     writes and kept alive while the session lives; what the session
 *     holds in etcd (its lock keys, claims, reviews, presence) is
 *     bound to it, so when a host dies or loses etcd, its holdings go
 *     when the lease expires.  The session's end revokes it at once, once its
 *     task claims are orphans that outlive it (shared_task_session_end).
 *     A lease this broker could not renew in time is lost: when the
 *     session held something on it (a grant, a call that bound keys to
 *     it) its client is told (an error frame) and disconnected, since
 *     what it held is gone; when it held nothing the lease is forgotten,
 *     and its next call that needs one gets a new one.
 *
 * Keys: --etcd-prefix, then "p/NAME/" for a shared project (NAME from
 * --share PROJECT=NAME) or "g/" for "global:" names, then a kind letter
 * and the name, with '/' and '%' escaped so a name is one path
 * element.  Values are msgpack maps (struct shrec reads them).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared.h"

#define SHARED_PROJECTS_MAX 64
#define SHARED_CALLS_MAX 256 /* calls one session may have in flight */
#define SHARED_BG_RETRY 1.0  /* seconds before a background write is tried again */
#define SHARED_NAME_MAX 128  /* a project's name in etcd */

struct shproj {
	char *project; /* the local project namespace */
	char *name;    /* its name in etcd */
	char *root;    /* prefix "p/" name "/" */
};

/* A session's share of etcd: its lease and its calls. */
struct shsess {
	struct session *s;
	struct shproj *p;
	int64_t lease; /* 0 until granted */
	int64_t ttl;   /* seconds, as granted */
	int granting, lost, closing;
	int keeps; /* keys outlive their calls on the lease (shcall_lease_kept) */
	struct etcd_call *grant_ec, *ka_ec;
	uint64_t ka_sent;     /* mono_ms() when the keepalive in flight left */
	uint64_t valid_until; /* mono_ms(): the lease surely lives until then */
	struct event *ka_ev, *expire_ev;
	struct shcall_list calls;
	struct shcall_list lease_wait; /* calls waiting for the grant */
	TAILQ_HEAD(, shbg) bgs;
	size_t ncalls;
	UT_hash_handle hh; /* by session pointer */
};

/* A write that must happen, for a session, with nobody waiting for it. */
struct shbg {
	struct shsess *ss;
	char *path;
	char *body;
	struct etcd_call *ec;
	struct event *retry_ev;
	TAILQ_ENTRY(shbg) entry;
};

char *shared_prefix;
double shared_ttl = 10;
static int enabled;
static struct shproj projs[SHARED_PROJECTS_MAX];
static size_t nprojs;
static struct shsess *shsessions;
static char hostname[256];

static void shared_lease_keepalive_cb(evutil_socket_t, short, void *);
static void shared_lease_expire_cb(evutil_socket_t, short, void *);

/*
 * Options (main.c): --backend, --etcd, --share, --etcd-prefix, --etcd-ttl,
 * --etcd-timeout; etcd-tls.c's --etcd-cacert, --etcd-cert, --etcd-key,
 * --etcd-user and --etcd-password-file.
 */
int
shared_option(const char *name, const char *arg)
{
	char *cause = NULL, *end, *eq;
	double v;

	if (strcmp(name, "backend") == 0) {
		if (strcmp(arg, "etcd") == 0)
			enabled = 1;
		else if (strcmp(arg, "local") == 0)
			enabled = 0;
		else {
			fprintf(stderr, "batond: --backend takes local or etcd\n");
			return (-1);
		}
		return (0);
	}
	if (strcmp(name, "etcd") == 0) {
		if (etcd_configure(arg, &cause) != 0) {
			fprintf(stderr, "batond: %s\n", cause);
			free(cause);
			return (-1);
		}
		return (0);
	}
	if (strcmp(name, "share") == 0) {
		eq = strrchr(arg, '=');
		if (nprojs == SHARED_PROJECTS_MAX || *arg == '\0' || *arg == '=' ||
		    (eq != NULL && (eq[1] == '\0' || strlen(eq + 1) > SHARED_NAME_MAX)) ||
		    (eq == NULL && strlen(arg) > SHARED_NAME_MAX)) {
			fprintf(stderr,
			    "batond: --share takes PROJECT or PROJECT=NAME (NAME up to %d "
			    "bytes), at most %d times\n",
			    SHARED_NAME_MAX, SHARED_PROJECTS_MAX);
			return (-1);
		}
		projs[nprojs].project =
		    eq != NULL ? xstrndup(arg, (size_t)(eq - arg)) : xstrdup(arg);
		projs[nprojs].name = xstrdup(eq != NULL ? eq + 1 : arg);
		nprojs++;
		return (0);
	}
	if (strcmp(name, "etcd-cacert") == 0 || strcmp(name, "etcd-cert") == 0 ||
	    strcmp(name, "etcd-key") == 0 || strcmp(name, "etcd-user") == 0 ||
	    strcmp(name, "etcd-password-file") == 0)
		return (etcd_cred_option(name, arg));
	if (strcmp(name, "etcd-prefix") == 0) {
		if (*arg == '\0' || strlen(arg) > 256 || arg[strlen(arg) - 1] != '/') {
			fprintf(stderr,
			    "batond: --etcd-prefix takes a key prefix ending in /, up "
			    "to 256 bytes\n");
			return (-1);
		}
		free(shared_prefix);
		shared_prefix = xstrdup(arg);
		return (0);
	}
	v = strtod(arg, &end);
	if (strcmp(name, "etcd-ttl") == 0) {
		if (*end != '\0' || !(v >= 1 && v <= 3600) || v != (double)(int64_t)v) {
			fprintf(stderr, "batond: --etcd-ttl takes 1 to 3600 whole seconds\n");
			return (-1);
		}
		shared_ttl = v;
		return (0);
	}
	if (strcmp(name, "etcd-timeout") == 0) {
		if (*end != '\0' || !(v >= 0.1 && v <= 600)) {
			fprintf(stderr, "batond: --etcd-timeout takes 0.1 to 600 seconds\n");
			return (-1);
		}
		etcd_timeout = v;
		return (0);
	}
	return (-1);
}

/* The options go together; -1 (said why) when they do not. */
int
shared_check(void)
{
	size_t i;

	if (!enabled && (nprojs > 0 || etcd_endpoint_list()[0] != '\0')) {
		fprintf(stderr, "batond: --share and --etcd need --backend etcd\n");
		return (-1);
	}
	if (enabled && (nprojs == 0 || etcd_endpoint_list()[0] == '\0')) {
		fprintf(stderr,
		    "batond: --backend etcd needs --etcd URL,... and at least one "
		    "--share PROJECT[=NAME]\n");
		return (-1);
	}
	if (etcd_cred_check(etcd_tls()) != 0)
		return (-1);
	if (shared_prefix == NULL)
		shared_prefix = xstrdup("/baton/");
	for (i = 0; i < nprojs; i++) {
		char *esc = shared_esc(projs[i].name, strlen(projs[i].name));

		xasprintf(&projs[i].root, "%sp/%s/", shared_prefix, esc);
		free(esc);
	}
	return (0);
}

/*
 * Before the broker starts: the TLS files read, etcd's authentication
 * tried (a wrong password stops the start).  0, or a sysexits status
 * with cause.
 */
int
shared_preflight(char **cause)
{
	int ex;

	if (!enabled)
		return (0);
	if ((ex = etcd_cred_load(etcd_tls(), cause)) != 0)
		return (ex);
	return (etcd_login(cause));
}

int
shared_enabled(void)
{
	return (enabled);
}

/* The shared project of a session's namespace, or NULL. */
static struct shproj *
shared_proj(const char *project)
{
	size_t i;

	for (i = 0; i < nprojs; i++) {
		if (strcmp(projs[i].project, project) == 0)
			return (&projs[i]);
	}
	return (NULL);
}

/* This host's name, as records show it. */
const char *
shared_host(void)
{
	return (hostname);
}

/* A fresh tag, to tell one's own write from another's after a retry. */
char *
shared_tag(void)
{
	char *t = xmalloc(17);

	random_hex(t, 17);
	return (t);
}

/* name (n bytes) as one key element: '%' and '/' escaped as %25, %2F. */
char *
shared_esc(const char *name, size_t n)
{
	char *out = xmalloc(3 * n + 1), *o = out;
	size_t i;

	for (i = 0; i < n; i++) {
		if (name[i] == '%' || name[i] == '/') {
			snprintf(o, 4, "%%%02X", (unsigned char)name[i]);
			o += 3;
		} else
			*o++ = name[i];
	}
	*o = '\0';
	return (out);
}

/* The name of a key element (shared_esc undone). */
char *
shared_unesc(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out, hex[3];
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n) {
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			hex[2] = '\0';
			*o++ = (char)strtol(hex, NULL, 16);
			i += 2;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return (out);
}

/* The root of kind's keys for name ("global:" names: the cluster's): "…/KIND/". */
char *
shared_root(const struct shcall *c, const char *kind)
{
	char *root;

	xasprintf(&root, "%s%s/", c->ss->p->root, kind);
	return (root);
}

/*
 * The key of name (n bytes) of kind: the project's, or the cluster's for
 * "global:" names.  A name that other elements follow in the key (a
 * lock's line) is escaped (esc); one at the end of its key is not, so
 * that keys sort as names do.
 */
char *
shared_key(const struct shcall *c, const char *kind, const char *name, size_t n, int esc)
{
	char *e = esc ? shared_esc(name, n) : xstrndup(name, n), *key;

	if (n >= 7 && strncmp(name, "global:", 7) == 0)
		xasprintf(&key, "%sg/%s/%s", shared_prefix, kind, e);
	else
		xasprintf(&key, "%s%s/%s", c->ss->p->root, kind, e);
	free(e);
	return (key);
}

/*
 * The audit log (feed.c) of this host's changes to a shared project:
 * name's project is the session's, or "global" for "global:" names.
 * Other hosts' changes are in their own logs.
 */
void
shared_feed(const struct session *s, const char *op, const char *kind, const char *name,
    const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	feed_record(s, op, kind, strncmp(name, "global:", 7) == 0 ? GLOBAL_PROJECT : s->project,
	    name, "%s (in etcd)", line);
}

/* A record: the value of kv (msgpack, checked as a frame is), its revisions. */
int
shrec_read(const cJSON *kv, struct shrec *r)
{
	const char *cause;
	unsigned char *key;
	size_t len, klen;

	memset(r, 0, sizeof *r);
	msgpack_unpacked_init(&r->u);
	if ((r->buf = etcd_unb64(cJSON_GetObjectItemCaseSensitive(kv, "value"), &len)) ==
		NULL ||
	    frame_decode(r->buf, len, &r->u, &cause) != 0 ||
	    r->u.data.type != MSGPACK_OBJECT_MAP) {
		shrec_free(r);
		return (-1);
	}
	r->o = &r->u.data;
	r->create = etcd_int(kv, "create_revision");
	r->mod = etcd_int(kv, "mod_revision");
	r->lease = etcd_int(kv, "lease");
	if ((key = etcd_unb64(cJSON_GetObjectItemCaseSensitive(kv, "key"), &klen)) != NULL)
		r->key = (char *)key;
	return (0);
}

void
shrec_free(struct shrec *r)
{
	msgpack_unpacked_destroy(&r->u);
	free(r->buf);
	free(r->key);
	memset(r, 0, sizeof *r);
	msgpack_unpacked_init(&r->u);
}

const msgpack_object *
shrec_get(const struct shrec *r, const char *name)
{
	return (r->o != NULL ? mp_get(r->o, name) : NULL);
}

/* Was the record written with tag (by this call, before a retry)? */
int
shrec_tag_is(const struct shrec *r, const char *tag)
{
	return (tag != NULL && mp_streq(shrec_get(r, "w"), tag));
}

/*
 * Did a compare-and-set txn write?  It succeeded, or it failed because
 * it had written before (its answer lost, it went to etcd again): the
 * record its failure read (the first kv of answer i) carries tag.
 */
int
shared_txn_ours(const cJSON *res, int i, const char *tag)
{
	const cJSON *kv = cJSON_GetArrayItem(etcd_txn_kvs(res, i), 0);
	struct shrec r;
	int ours;

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "succeeded")))
		return (1);
	if (kv == NULL || shrec_read(kv, &r) != 0)
		return (0);
	ours = shrec_tag_is(&r, tag);
	shrec_free(&r);
	return (ours);
}

/* The share of session s, made on its first call. */
static struct shsess *
shsess_get(struct session *s, struct shproj *p)
{
	struct shsess *ss;

	HASH_FIND_PTR(shsessions, &s, ss);
	if (ss != NULL)
		return (ss);
	ss = xcalloc(1, sizeof *ss);
	ss->s = s;
	ss->p = p;
	TAILQ_INIT(&ss->calls);
	TAILQ_INIT(&ss->lease_wait);
	TAILQ_INIT(&ss->bgs);
	ss->ka_ev = timer_new(shared_lease_keepalive_cb, ss);
	ss->expire_ev = timer_new(shared_lease_expire_cb, ss);
	HASH_ADD_PTR(shsessions, s, ss);
	return (ss);
}

struct session *
shcall_session(const struct shcall *c)
{
	return (c->ss->s);
}

/* The session's lease, for keys c binds to it (the session holds something now). */
int64_t
shcall_lease(struct shcall *c)
{
	c->bound = 1;
	return (c->ss->lease);
}

/*
 * The same for keys that outlive c and that no recipe keeps a record of
 * here (a task's claim or review): from now on the session holds
 * something for as long as its lease lives, so losing the lease is told.
 */
int64_t
shcall_lease_kept(struct shcall *c)
{
	c->ss->keeps = 1;
	return (shcall_lease(c));
}

/* The session's lease, to compare with a key's: binds nothing. */
int64_t
shcall_lease_id(const struct shcall *c)
{
	return (c->ss->lease);
}

/*
 * Does ss hold something on its lease: a call in flight that bound keys
 * to it, or what a recipe keeps after its call (a lock's grant)?
 */
static int
shared_holds(struct shsess *ss)
{
	struct shcall *c;

	if (ss->keeps)
		return (1);
	TAILQ_FOREACH(c, &ss->calls, entry) {
		if (c->bound)
			return (1);
	}
	return (shared_lock_holds(ss));
}

/* A call for request r, with st (stsize bytes, zeroed) for the operation. */
struct shcall *
shcall_new(struct req *r, size_t stsize)
{
	struct shsess *ss = shsess_get(r->s, shared_proj(r->s->project));
	struct shcall *c;

	c = xcalloc(1, sizeof *c);
	c->ss = ss;
	c->id = r->id;
	c->cap = wait_cap(r);
	c->st = stsize > 0 ? xcalloc(1, stsize) : NULL;
	TAILQ_INSERT_TAIL(&ss->calls, c, entry);
	ss->ncalls++;
	return (c);
}

/* The call is over (answered, cancelled, or its session gone): let go of everything. */
void
shcall_end(struct shcall *c)
{
	struct shsess *ss = c->ss;

	if (c->ec != NULL)
		etcd_cancel(c->ec);
	if (c->w != NULL)
		etcd_watch_stop(c->w);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->on_end != NULL)
		c->on_end(c);
	TAILQ_REMOVE(&ss->calls, c, entry);
	ss->ncalls--;
	free(c->st);
	free(c);
}

/* Answer the call with an error, and end it. */
void
shcall_error(struct shcall *c, const char *code, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->ss->s->client != NULL)
		reply_error(c->ss->s->client, c->id, code, field, "%s", msg);
	shcall_end(c);
}

struct fbuf *
shcall_reply_begin(struct shcall *c)
{
	return (reply_begin(c->id));
}

/* Send the answer reply_begin began, and end the call. */
void
shcall_reply_end(struct shcall *c, struct fbuf *fb)
{
	if (c->ss->s->client != NULL)
		reply_end(c->ss->s->client, fb);
	else
		fbuf_free(fb), free(fb);
	shcall_end(c);
}

/* etcd answered a call's POST: its next step, or the error to the caller. */
static void
shcall_done_cb(void *arg, const cJSON *res, const char *err)
{
	struct shcall *c = arg;

	c->ec = NULL;
	if (err != NULL) {
		shcall_error(c, ERR_UNAVAILABLE, NULL, "shared project %s: %s", c->ss->p->name,
		    err);
		return;
	}
	c->step(c, res);
}

/* POST body to path for call c; step(c, answer) next (an error answers the call). */
void
shcall_post(struct shcall *c, const char *path, cJSON *body, shcall_step *step)
{
	c->step = step;
	c->ec = etcd_post(path, body, shcall_done_cb, c);
}

/* A transaction for call c. */
void
shcall_txn(struct shcall *c, cJSON *cmp, cJSON *success, cJSON *failure, shcall_step *step)
{
	shcall_post(c, "/v3/kv/txn", etcd_txn(cmp, success, failure), step);
}

/* An event of a call's watch (NULL: its history was compacted, c->compacted says to what). */
static void
shcall_event_cb(void *arg, const cJSON *ev, int64_t compact)
{
	struct shcall *c = arg;

	if (ev == NULL) {
		c->compacted = compact;
		etcd_watch_stop(c->w);
		c->w = NULL;
	}
	c->on_event(c, ev);
}

/* Watch key (or every key under it) from revision start for c: on_event(c, event). */
void
shcall_watch(struct shcall *c, const char *key, int prefix, int64_t start, int filters,
    shcall_step *on_event)
{
	if (c->w != NULL)
		etcd_watch_stop(c->w);
	c->on_event = on_event;
	c->compacted = 0;
	c->w = etcd_watch(key, prefix, start, filters, shcall_event_cb, c);
}

void
shcall_unwatch(struct shcall *c)
{
	if (c->w != NULL)
		etcd_watch_stop(c->w);
	c->w = NULL;
}

static void
shcall_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct shcall *c = arg;

	c->on_timeout(c);
}

/* Give c at most secs (capped as every wait) before on_timeout(c) answers it. */
void
shcall_wait(struct shcall *c, double secs, void (*on_timeout)(struct shcall *))
{
	if (secs > c->cap)
		secs = c->cap;
	c->on_timeout = on_timeout;
	if (c->timer == NULL)
		c->timer = timer_new(shcall_timer_cb, c);
	timer_in(c->timer, secs);
}

/*
 * The lease went while ss held nothing on it: forget it (revoked, in
 * case etcd still has it); the next call that needs one asks for a new
 * one.  The client is not disturbed.
 */
static void
shared_lease_forget(struct shsess *ss, const char *why)
{
	log_notice("session %s (%s): etcd lease %llx lost (%s); it held nothing: a new one "
		   "at its next lock",
	    ss->s->id, ss->s->agent, (unsigned long long)ss->lease, why);
	event_del(ss->ka_ev);
	event_del(ss->expire_ev);
	if (ss->ka_ec != NULL)
		etcd_cancel(ss->ka_ec);
	ss->ka_ec = NULL;
	etcd_revoke(ss->lease);
	ss->lease = 0;
}

/*
 * The lease is lost: when the session held something on it, its client
 * is told and let go (its holdings are gone); else it is forgotten.
 */
static void
shared_lost(struct shsess *ss, const char *why)
{
	char msg[512];

	if (ss->lost)
		return;
	if (!shared_holds(ss)) {
		shared_lease_forget(ss, why);
		return;
	}
	ss->lost = 1;
	snprintf(msg, sizeof msg,
	    "shared project %s: this session's etcd lease is lost (%s): its locks, claims "
	    "and presence in etcd are gone; reconnect to start over",
	    ss->p->name, why);
	log_warnx("session %s (%s): %s", ss->s->id, ss->s->agent, msg);
	if (ss->s->client != NULL)
		client_fail(ss->s->client, ERR_UNAVAILABLE, msg);
}

static void
shared_lease_expire_cb(evutil_socket_t fd, short events, void *arg)
{
	struct shsess *ss = arg;
	char why[128];

	snprintf(why, sizeof why, "etcd could not be reached to renew it within its %lld s TTL",
	    (long long)ss->ttl);
	shared_lost(ss, why);
}

/* A keepalive's answer: the lease lives TTL seconds from when the keepalive left. */
static void
shared_keepalive_done(void *arg, const cJSON *res, const char *err)
{
	struct shsess *ss = arg;
	const cJSON *r;
	int64_t ttl;

	ss->ka_ec = NULL;
	if (err != NULL) {
		log_info("session %s: lease keepalive failed: %s", ss->s->id, err);
		timer_in(ss->ka_ev, 0.2);
		return;
	}
	r = cJSON_GetObjectItemCaseSensitive(res, "result");
	if ((ttl = etcd_int(r, "TTL")) <= 0) {
		shared_lost(ss, "etcd let it expire");
		return;
	}
	ss->valid_until = ss->ka_sent + (uint64_t)ttl * 1000;
	timer_at(ss->expire_ev, ss->valid_until);
	timer_in(ss->ka_ev, (double)ss->ttl / 3);
}

/* Renew the lease (a third of its TTL after the last renewal). */
static void
shared_lease_keepalive_cb(evutil_socket_t fd, short events, void *arg)
{
	struct shsess *ss = arg;
	cJSON *body;

	if (ss->ka_ec != NULL || ss->lost)
		return;
	body = etcd_lease_id(ss->lease);
	ss->ka_sent = mono_ms();
	ss->ka_ec = etcd_post("/v3/lease/keepalive", body, shared_keepalive_done, ss);
}

/* The lease was granted (or not): the calls waiting for it go on (or fail). */
static void
shared_grant_done(void *arg, const cJSON *res, const char *err)
{
	struct shsess *ss = arg;
	struct shcall *c;
	shcall_step *then;

	ss->grant_ec = NULL;
	ss->granting = 0;
	if (err == NULL && (ss->lease = etcd_int(res, "ID")) != 0) {
		ss->ttl = etcd_int(res, "TTL");
		ss->valid_until = ss->ka_sent + (uint64_t)ss->ttl * 1000;
		timer_at(ss->expire_ev, ss->valid_until);
		timer_in(ss->ka_ev, (double)ss->ttl / 3);
		log_info("session %s (%s): etcd lease %llx, %lld s", ss->s->id, ss->s->agent,
		    (unsigned long long)ss->lease, (long long)ss->ttl);
	}
	while ((c = TAILQ_FIRST(&ss->lease_wait)) != NULL) {
		TAILQ_REMOVE(&ss->lease_wait, c, entry);
		TAILQ_INSERT_TAIL(&ss->calls, c, entry);
		then = c->step;
		if (ss->lease == 0)
			shcall_error(c, ERR_UNAVAILABLE, NULL,
			    "shared project %s: no etcd lease for this session: %s",
			    ss->p->name, err != NULL ? err : "etcd granted none");
		else
			then(c, res);
	}
}

/*
 * Go on with then(c, answer) once c's session has its lease (at once
 * when it has one; the first call asks etcd for it).
 */
void
shcall_leased(struct shcall *c, shcall_step *then)
{
	struct shsess *ss = c->ss;
	cJSON *body;

	if (ss->lease != 0) {
		then(c, NULL);
		return;
	}
	c->step = then;
	TAILQ_REMOVE(&ss->calls, c, entry);
	TAILQ_INSERT_TAIL(&ss->lease_wait, c, entry);
	if (ss->granting)
		return;
	ss->granting = 1;
	body = cJSON_CreateObject();
	cJSON_AddNumberToObject(body, "TTL", shared_ttl);
	ss->ka_sent = mono_ms();
	ss->grant_ec = etcd_post("/v3/lease/grant", body, shared_grant_done, ss);
}

static void shared_bg_send(struct shbg *);

static void
shared_bg_free(struct shbg *b)
{
	TAILQ_REMOVE(&b->ss->bgs, b, entry);
	if (b->ec != NULL)
		etcd_cancel(b->ec);
	event_free(b->retry_ev);
	free(b->path);
	free(b->body);
	free(b);
}

static void
shared_bg_done(void *arg, const cJSON *res, const char *err)
{
	struct shbg *b = arg;

	b->ec = NULL;
	if (err == NULL) {
		shared_bg_free(b);
		return;
	}
	log_info("session %s: background write to etcd failed (tried again in %g s): %s",
	    b->ss->s->id, SHARED_BG_RETRY, err);
	timer_in(b->retry_ev, SHARED_BG_RETRY);
}

static void
shared_bg_send(struct shbg *b)
{
	b->ec = etcd_post(b->path, cJSON_Parse(b->body), shared_bg_done, b);
}

static void
shared_bg_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	shared_bg_send(arg);
}

/*
 * POST body (taken) to path for ss with nobody waiting: tried again
 * until it is done or the session ends (whose lease revocation then
 * does the same).  For what must not linger: a place in a lock's line
 * left by a wait that ended.
 */
void
shared_bg(struct shsess *ss, const char *path, cJSON *body)
{
	struct shbg *b;

	if (ss->closing || ss->lost) {
		cJSON_Delete(body);
		return;
	}
	b = xcalloc(1, sizeof *b);
	b->ss = ss;
	b->path = xstrdup(path);
	b->body = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	b->retry_ev = timer_new(shared_bg_retry_cb, b);
	TAILQ_INSERT_TAIL(&ss->bgs, b, entry);
	shared_bg_send(b);
}

/* The session ended: its calls end unanswered, its lease is revoked. */
static void
shared_session_closed(struct session *s)
{
	struct shsess *ss;
	struct shcall *c;
	struct shbg *b;

	HASH_FIND_PTR(shsessions, &s, ss);
	if (ss == NULL)
		return;
	ss->closing = 1;
	while ((c = TAILQ_FIRST(&ss->lease_wait)) != NULL) {
		TAILQ_REMOVE(&ss->lease_wait, c, entry);
		TAILQ_INSERT_TAIL(&ss->calls, c, entry);
	}
	while ((c = TAILQ_FIRST(&ss->calls)) != NULL)
		shcall_end(c);
	while ((b = TAILQ_FIRST(&ss->bgs)) != NULL)
		shared_bg_free(b);
	shared_lock_session_end(ss, s);
	if (ss->grant_ec != NULL)
		etcd_cancel(ss->grant_ec);
	if (ss->ka_ec != NULL)
		etcd_cancel(ss->ka_ec);
	/* nobody waits for it; if etcd cannot be reached, the lease expires */
	if (!shared_task_session_end(s, ss->lease != 0 && !ss->lost ? ss->lease : 0) &&
	    ss->lease != 0 && !ss->lost)
		etcd_revoke(ss->lease); /* else once its claims are orphans */
	event_free(ss->ka_ev);
	event_free(ss->expire_ev);
	HASH_DEL(shsessions, ss);
	free(ss);
}

/* A cancel frame for one of the session's calls: answered "cancelled". */
static int
shared_cancel(struct session *s, uint64_t id)
{
	struct shsess *ss;
	struct shcall *c;

	HASH_FIND_PTR(shsessions, &s, ss);
	if (ss == NULL)
		return (0);
	TAILQ_FOREACH(c, &ss->calls, entry) {
		if (c->id == id) {
			shcall_error(c, ERR_CANCELLED, NULL, "wait cancelled");
			return (1);
		}
	}
	return (0);
}

/* Start: the endpoints are known, the hooks go in. */
void
shared_init(void)
{
	if (!enabled)
		return;
	if (gethostname(hostname, sizeof hostname) != 0)
		snprintf(hostname, sizeof hostname, "unknown");
	hostname[sizeof hostname - 1] = '\0';
	etcd_start();
	session_on_close(shared_session_closed);
	session_on_cancel(shared_cancel);
	log_info("shared projects in etcd at %s (prefix %s, lease TTL %g s, timeout %g s)",
	    etcd_endpoint_list(), shared_prefix, shared_ttl, etcd_timeout);
}

void
shared_shutdown(void)
{
	if (enabled)
		etcd_shutdown();
}

/* status: the backend, and what this broker has going on in etcd. */
void
shared_status(struct fbuf *fb)
{
	struct shsess *ss, *tmp;
	size_t i, leases = 0, calls = 0;

	HASH_ITER(hh, shsessions, ss, tmp) {
		leases += ss->lease != 0;
		calls += ss->ncalls;
	}
	pk_map_open(fb);
	pk_kstr(fb, "backend", "etcd");
	pk_kstr(fb, "endpoints", etcd_endpoint_list());
	pk_kstr(fb, "prefix", shared_prefix);
	pk_str(fb, "projects");
	pk_array(fb, nprojs);
	for (i = 0; i < nprojs; i++) {
		pk_map_open(fb);
		pk_kstr(fb, "project", projs[i].project);
		pk_kstr(fb, "name", projs[i].name);
		pk_map_close(fb);
	}
	pk_kdouble(fb, "lease_ttl_seconds", shared_ttl);
	pk_kdouble(fb, "timeout_seconds", etcd_timeout);
	pk_kuint(fb, "leases", leases);
	pk_kuint(fb, "calls", calls);
	pk_kuint(fb, "watches", etcd_watch_count());
	pk_map_close(fb);
}

/* Operations a shared project's session is served from etcd. */
static op_handler *const shared_handlers[OP_COUNT] = {
	[OP_lock_acquire] = shared_lock_acquire,
	[OP_lock_release] = shared_lock_release,
	[OP_lock_renew] = shared_lock_renew,
	[OP_lock_list] = shared_lock_list,
	[OP_lock_break] = shared_lock_break,
	[OP_note_set] = shared_note_set,
	[OP_note_get] = shared_note_get,
	[OP_note_delete] = shared_note_delete,
	[OP_note_list] = shared_note_list,
	[OP_note_wait] = shared_note_wait,
	[OP_counter_incr] = shared_counter_incr,
	[OP_event_signal] = shared_event_signal,
	[OP_event_wait] = shared_event_wait,
	[OP_agent_list] = shared_agent_list,
	[OP_message_send] = shared_message_send,
	[OP_message_inbox] = shared_message_inbox,
	[OP_message_ack] = shared_message_ack,
	[OP_discussion_start] = shared_discussion_start,
	[OP_discussion_reply] = shared_discussion_reply,
	[OP_discussion_resolve] = shared_discussion_resolve,
	[OP_discussion_list] = shared_discussion_list,
	[OP_discussion_get] = shared_discussion_get,
	[OP_task_create] = shared_task_create,
	[OP_task_get] = shared_task_get,
	[OP_task_list] = shared_task_list,
	[OP_task_update] = shared_task_update,
	[OP_task_claim] = shared_task_claim,
	[OP_task_submit] = shared_task_submit,
	[OP_task_approve] = shared_task_approve,
	[OP_task_request_changes] = shared_task_request_changes,
	[OP_task_release] = shared_task_release,
};

/*
 * Operations that are about this broker, not the project: served here as
 * ever.  agent_join names the session here (the name its lock records
 * carry), once shared_join (shared-msg.c, called by agent.c) took the
 * name in etcd.
 */
static const unsigned char shared_local_ops[OP_COUNT] = {
	[OP_status] = 1,
	[OP_agent_join] = 1,
	[OP_guide] = 1,
	[OP_state_export] = 1,
	[OP_hook_edit] = 1,
	[OP_hook_news] = 1,
	[OP_log_list] = 1,
	[OP_log_wait] = 1,
	[OP_log_append] = 1,
	[OP_log_subscribe] = 1,
};

/* Is project shared (its state in etcd)? */
int
shared_serves(const char *project)
{
	return (enabled && shared_proj(project) != NULL);
}

/*
 * May r's session start a call in etcd?  0 when not (answered): its
 * lease is lost, or it has too many calls in flight.
 */
int
shared_admit(struct req *r)
{
	struct shsess *ss = shsess_get(r->s, shared_proj(r->s->project));

	if (ss->lost) {
		reply_error(r->c, r->id, ERR_UNAVAILABLE, NULL,
		    "this session lost its etcd lease; reconnect");
		return (0);
	}
	if (ss->ncalls + 1 > SHARED_CALLS_MAX) {
		reply_error(r->c, r->id, ERR_LIMIT, NULL,
		    "this session has %d calls in flight, the limit (batond(8)): let one end "
		    "before you start another",
		    SHARED_CALLS_MAX);
		return (0);
	}
	return (1);
}

/*
 * server.c: serve r from etcd when its session's project is shared; 1
 * when it was (answered now or later), 0 to let the local handler run.
 */
int
shared_serve(struct req *r)
{
	struct shproj *p;
	enum op_id id = (enum op_id)(r->op - ops);

	if (!enabled || (p = shared_proj(r->s->project)) == NULL || shared_local_ops[id])
		return (0);
	if (shared_handlers[id] == NULL) {
		reply_error(r->c, r->id, ERR_UNKNOWN_OP, "op",
		    "%s is not served for shared projects (batond --share) yet; this project "
		    "(%s) keeps its state in etcd",
		    r->op->name, p->name);
		return (1);
	}
	if (shared_admit(r))
		shared_handlers[id](r);
	return (1);
}
