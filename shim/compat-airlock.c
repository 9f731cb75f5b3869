/*
 * `baton mcp --compat airlock`: Airlock's 22 tools (its README, the
 * only source we have of it), on baton.  Each agent_id is a broker
 * session of its own (compat-link.c), so that agents sharing one
 * server keep their locks and leases apart, and what an agent holds
 * goes the moment its session does: when its client exits, when it
 * unregisters, when its registration lapses.
 *
 * Where Airlock and baton differ, baton wins and the tool says so:
 * locks are released at once when their agent goes (no heartbeat
 * needed; ttl_seconds still bounds them while it lives); event
 * generations never go back (clear_event keeps them, and a wait from 0
 * after a clear waits for the next signal); the task queue is baton's
 * queue_* (leases bound to the session as well as to lease_seconds).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "shim.h"

#define AIRLOCK_WAIT_CAP 50            /* seconds: under Claude Code's 60 s tool timeout */
#define AIRLOCK_CAS_TRIES 8            /* set_note_if re-reads after a concurrent write */
#define AIRLOCK_CLEAR_PREFIX "~clear:" /* the note that keeps an event's clear floor */

/*
 * A lock an agent of this process holds: the broker's grant is bound to
 * the agent's session, and this keeps Airlock's ttl_seconds on it.
 */
struct agrant {
	char *agent, *name;
	char token[TOKEN_MAX_LEN + 1];
	uint64_t expires_ms;
	struct event *ev;
	struct compat_link *link;
	TAILQ_ENTRY(agrant) entry;
};
static TAILQ_HEAD(, agrant) agrants = TAILQ_HEAD_INITIALIZER(agrants);

static struct agrant *
agrant_find(const char *agent, const char *name, const char *token)
{
	struct agrant *g;

	TAILQ_FOREACH(g, &agrants, entry) {
		if (name != NULL && strcmp(g->name, name) != 0)
			continue;
		if (token != NULL ? strcmp(g->token, token) == 0 : strcmp(g->agent, agent) == 0)
			return (g);
	}
	return (NULL);
}

static void
agrant_free(struct agrant *g)
{
	TAILQ_REMOVE(&agrants, g, entry);
	event_free(g->ev);
	free(g->agent);
	free(g->name);
	free(g);
}

/* Release g at the broker (nobody waits for the answer) and forget it. */
static void
agrant_release(struct agrant *g)
{
	struct op_error err;
	cJSON *a = cJSON_CreateObject();

	cJSON_AddStringToObject(a, "name", g->name);
	cJSON_AddStringToObject(a, "token", g->token);
	if (g->link->connected && compat_send(NULL, g->link, "lock_release", a, &err) != 0)
		log_warnx("airlock: cannot release %s: %s", g->name, err.message);
	agrant_free(g);
}

/* Airlock's ttl_seconds ran out while the agent lives: the lock goes. */
static void
agrant_expire_cb(evutil_socket_t fd, short events, void *arg)
{
	struct agrant *g = arg;

	log_info("airlock: lock %s of %s reached its ttl_seconds", g->name, g->agent);
	agrant_release(g);
}

static void
agrant_arm(struct agrant *g, double ttl)
{
	struct timeval tv = tv_secs(ttl);

	g->expires_ms = mono_ms() + (uint64_t)(ttl * 1000);
	evtimer_add(g->ev, &tv);
}

static void
agrant_add(struct compat_link *l, const char *agent, const char *name, const char *token,
    double ttl)
{
	struct agrant *g;

	if ((g = agrant_find(agent, name, NULL)) != NULL)
		agrant_free(g);
	g = xcalloc(1, sizeof *g);
	g->agent = xstrdup(agent);
	g->name = xstrdup(name);
	snprintf(g->token, sizeof g->token, "%s", token);
	g->link = l;
	g->ev = evtimer_new(l->m->base, agrant_expire_cb, g);
	agrant_arm(g, ttl);
	TAILQ_INSERT_TAIL(&agrants, g, entry);
}

static double
agrant_left(const struct agrant *g)
{
	uint64_t now = mono_ms();

	return (g->expires_ms > now ? (double)(g->expires_ms - now) / 1000.0 : 0);
}

/*
 * The lock's reason carries its Airlock deadline, for the agents of
 * other processes: "airlock: expires 2026-11-29T05:00:00.000Z" (a renewal
 * in the holder's process is not seen there).
 */
#define AIRLOCK_REASON "airlock: expires "
static cJSON *
airlock_reason(double ttl)
{
	char at[TIME_ISO_LEN], *r;
	cJSON *j;

	xasprintf(&r, AIRLOCK_REASON "%s",
	    time_iso(wall_ms() + (int64_t)(ttl * 1000), at, sizeof at));
	j = cJSON_CreateString(r);
	free(r);
	return (j);
}

/* Seconds left of a holder's Airlock deadline, from its reason; -1 when it has none. */
static double
airlock_reason_left(const cJSON *holder)
{
	const char *r =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(holder, "reason"));
	struct tm tm;
	int ms = 0;
	double left;

	if (r == NULL || strncmp(r, AIRLOCK_REASON, strlen(AIRLOCK_REASON)) != 0)
		return (-1);
	memset(&tm, 0, sizeof tm);
	if (sscanf(r + strlen(AIRLOCK_REASON), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon,
		&tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
		return (-1);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	left = ((double)timegm(&tm) * 1000 + ms - (double)wall_ms()) / 1000;
	return (left > 0 ? left : 0);
}

/* expires_in_seconds of holder h of lock name: from this process's grant, else its reason. */
static void
airlock_add_expiry(cJSON *o, const cJSON *h, const char *name)
{
	const char *who = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "agent"));
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(h, "expires_in_seconds");
	const struct agrant *g;
	double left;

	if (who != NULL && name != NULL && (g = agrant_find(who, name, NULL)) != NULL)
		cJSON_AddNumberToObject(o, "expires_in_seconds", round(agrant_left(g)));
	else if ((left = airlock_reason_left(h)) >= 0)
		cJSON_AddNumberToObject(o, "expires_in_seconds", round(left));
	else if (cJSON_IsNumber(exp))
		cJSON_AddNumberToObject(o, "expires_in_seconds", round(exp->valuedouble));
}

/* An agent's session ends (unregister, lapse): its locks went with it. */
static void
airlock_forget(const char *agent)
{
	struct agrant *g, *next;

	for (g = TAILQ_FIRST(&agrants); g != NULL; g = next) {
		next = TAILQ_NEXT(g, entry);
		if (strcmp(g->agent, agent) == 0)
			agrant_free(g);
	}
}

/* ttl_seconds, or the deprecated ttl_minutes. */
static double
airlock_ttl(struct compat_call *cc, double dflt)
{
	if (compat_arg(cc, "ttl_seconds") == NULL && compat_arg(cc, "ttl_minutes") != NULL)
		return (compat_num(cc, "ttl_minutes", 0) * 60);
	return (compat_num(cc, "ttl_seconds", dflt));
}

/* Is the lock's first holder (in a lock_acquire answer) the session of link l? */
static int
airlock_held_by_link(const cJSON *a, struct compat_link *l)
{
	const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(a, "holders"), 0);
	const char *sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "session"));

	return (sid != NULL && l->conn.session != NULL && strcmp(sid, l->conn.session) == 0);
}

/* {locked:false, held_by, expires_in_seconds?} from a lock_acquire answer a. */
static cJSON *
airlock_busy(const cJSON *a)
{
	const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(a, "holders"), 0);
	const char *who = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "agent"));
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(a, "names");
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "locked", 0);
	if (who != NULL)
		cJSON_AddStringToObject(o, "held_by", who);
	if (h != NULL)
		airlock_add_expiry(o, h, cJSON_GetStringValue(cJSON_GetArrayItem(names, 0)));
	return (o);
}

static const struct compat_arg lock_resource_args[] = {
	{ "name", CA_STRING, 1, NULL, NULL, "e.g. \"npm-install\", \"file:/repo/x\"" },
	{ "agent_id", CA_STRING, 1, NULL, NULL, NULL },
	{ "ttl_seconds", CA_NUMBER, 0, "900", NULL, NULL },
	{ "ttl_minutes", CA_NUMBER, 0, NULL, NULL, "deprecated" },
	{ "wait_seconds", CA_NUMBER, 0, "0", NULL, "block up to this (cap 50)" },
	{ "wake_token", CA_STRING, 0, NULL, NULL, "from a queued reply: keeps your place" },
};
static void
lock_resource_run(struct compat_call *cc)
{
	const char *agent = compat_str(cc, "agent_id"), *name = compat_str(cc, "name");
	double wait = compat_num(cc, "wait_seconds", 0), ttl = airlock_ttl(cc, 900);
	struct compat_link *l;
	struct op_error err;
	struct agrant *g;
	const cJSON *a;
	cJSON *args, *o, *retry;

	if (cc->step == 0) {
		if (ttl <= 0 || ttl > 86400 || wait < 0) {
			compat_fail(cc,
			    "invalid arguments for lock_resource: ttl_seconds must be "
			    "from 1 to 86400 and wait_seconds at least 0");
			return;
		}
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "name", name);
		/* a lock the agent holds: never wait for itself */
		cJSON_AddNumberToObject(args, "wait_seconds",
		    agrant_find(agent, name, NULL) != NULL ? 0 : fmin(wait, AIRLOCK_WAIT_CAP));
		if (compat_str(cc, "wake_token") != NULL)
			cJSON_AddStringToObject(args, "ticket", compat_str(cc, "wake_token"));
		cJSON_AddItemToObject(args, "reason", airlock_reason(ttl));
		compat_op(cc, agent, "lock_acquire", args);
		return;
	}
	a = compat_ans(cc, 0);
	if ((l = compat_link_get(cc->m, agent, &err)) == NULL) {
		compat_fail(cc, "%s: %s", err.code, err.message);
		return;
	}
	g = agrant_find(agent, name, NULL);
	if (compat_err(a) != NULL &&
	    !(g != NULL && strcmp(compat_err_code(a), ERR_DEADLOCK) == 0)) {
		compat_failed(cc, a);
		return;
	}
	o = cJSON_CreateObject();
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "acquired"))) {
		agrant_add(l, agent, name,
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "token")), ttl);
		g = agrant_find(agent, name, NULL);
	} else if (g != NULL && (compat_err(a) != NULL || airlock_held_by_link(a, l))) {
		agrant_arm(g, ttl); /* asked again by its holder: still its, renewed */
	} else {
		cJSON_Delete(o);
		o = airlock_busy(a);
		if (cJSON_GetObjectItemCaseSensitive(a, "ticket") != NULL) {
			compat_copy(o, "wake_token", a, "ticket");
			compat_copy(o, "queue_position", a, "queue_position");
			retry = cJSON_AddObjectToObject(o, "retry_with");
			cJSON_AddStringToObject(retry, "name", name);
			cJSON_AddStringToObject(retry, "agent_id", agent);
			cJSON_AddNumberToObject(retry, "wait_seconds",
			    wait > 0 ? fmin(wait, AIRLOCK_WAIT_CAP) : AIRLOCK_WAIT_CAP);
			compat_copy(retry, "wake_token", a, "ticket");
		}
		compat_ok(cc, o);
		return;
	}
	cJSON_AddBoolToObject(o, "locked", 1);
	cJSON_AddStringToObject(o, "lock_token", g->token);
	cJSON_AddNumberToObject(o, "expires_in_seconds", round(agrant_left(g)));
	compat_ok(cc, o);
}

/* The grant an unlock or renew names: by lock_token, else by agent_id. */
static struct agrant *
airlock_named_grant(struct compat_call *cc)
{
	return (agrant_find(compat_str(cc, "agent_id"), compat_str(cc, "name"),
	    compat_str(cc, "lock_token")));
}

static const struct compat_arg unlock_resource_args[] = {
	{ "name", CA_STRING, 1, NULL, NULL, NULL },
	{ "lock_token", CA_STRING, 0, NULL, NULL, "preferred" },
	{ "agent_id", CA_STRING, 0, NULL, NULL, "v1: instead of lock_token" },
};
static void
unlock_resource_run(struct compat_call *cc)
{
	const char *token = compat_str(cc, "lock_token"), *agent = compat_str(cc, "agent_id");
	struct agrant *g;
	const cJSON *a;
	cJSON *args, *o;

	if (cc->step == 0) {
		if (token == NULL && agent == NULL) {
			compat_fail(cc,
			    "invalid arguments for unlock_resource: give lock_token "
			    "(preferred) or agent_id");
			return;
		}
		g = airlock_named_grant(cc);
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "name", compat_str(cc, "name"));
		if (g != NULL)
			cJSON_AddStringToObject(args, "token", g->token);
		else if (token != NULL)
			cJSON_AddStringToObject(args, "token", token);
		compat_op(cc, g != NULL ? g->agent : agent, "lock_release", args);
		return;
	}
	a = compat_ans(cc, 0);
	if (compat_err(a) != NULL && strcmp(compat_err_code(a), ERR_PERMISSION) != 0 &&
	    strcmp(compat_err_code(a), ERR_NOT_FOUND) != 0) {
		compat_failed(cc, a);
		return;
	}
	if ((g = airlock_named_grant(cc)) != NULL &&
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "released")))
		agrant_free(g);
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "released",
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "released")));
	compat_ok(cc, o);
}

static const struct compat_arg renew_lock_args[] = {
	{ "name", CA_STRING, 1, NULL, NULL, NULL },
	{ "lock_token", CA_STRING, 0, NULL, NULL, "preferred" },
	{ "agent_id", CA_STRING, 0, NULL, NULL, "v1: instead of lock_token" },
	{ "ttl_seconds", CA_NUMBER, 0, "900", NULL, NULL },
	{ "ttl_minutes", CA_NUMBER, 0, NULL, NULL, "deprecated" },
};
static void
renew_lock_run(struct compat_call *cc)
{
	double ttl = airlock_ttl(cc, 900);
	struct agrant *g = airlock_named_grant(cc);
	const cJSON *a;
	cJSON *o = cJSON_CreateObject(), *args;

	if (cc->step == 0 && g == NULL && compat_str(cc, "lock_token") != NULL && ttl > 0 &&
	    ttl <= 86400) {
		/* a grant of another process: the broker keeps its TTL from now on */
		cJSON_Delete(o);
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "name", compat_str(cc, "name"));
		cJSON_AddStringToObject(args, "token", compat_str(cc, "lock_token"));
		cJSON_AddNumberToObject(args, "ttl_seconds", ttl);
		compat_op(cc, NULL, "lock_renew", args);
		return;
	}
	if (cc->step == 1) {
		a = compat_ans(cc, 0);
		cJSON_AddBoolToObject(o, "renewed", compat_err(a) == NULL);
		if (compat_err(a) != NULL)
			cJSON_AddStringToObject(o, "error", compat_err(a));
		else
			compat_copy(o, "expires_in_seconds", a, "expires_in_seconds");
	} else if (ttl <= 0 || ttl > 86400) {
		cJSON_AddBoolToObject(o, "renewed", 0);
		cJSON_AddStringToObject(o, "error", "ttl_seconds must be from 1 to 86400");
	} else if (g == NULL) {
		cJSON_AddBoolToObject(o, "renewed", 0);
		cJSON_AddStringToObject(o, "error",
		    "not held: no lock of that name with that lock_token or agent_id (it may "
		    "have expired); take it again with lock_resource");
	} else {
		agrant_arm(g, ttl);
		cJSON_AddBoolToObject(o, "renewed", 1);
		cJSON_AddNumberToObject(o, "expires_in_seconds", round(ttl));
	}
	compat_ok(cc, o);
}

static const struct compat_arg list_locks_args[] = {};
static void
list_locks_run(struct compat_call *cc)
{
	const cJSON *a, *l, *h;
	const char *who, *name;
	cJSON *out, *o;

	if (cc->step == 0) {
		compat_op(cc, NULL, "lock_list", cJSON_CreateObject());
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(a, "locks")) {
		name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "name"));
		cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(l, "holders")) {
			who =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "agent"));
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "name", name != NULL ? name : "");
			cJSON_AddStringToObject(o, "agent_id", who != NULL ? who : "");
			airlock_add_expiry(o, h, name);
			cJSON_AddItemToArray(out, o);
		}
	}
	compat_ok(cc, out);
}

static const struct compat_arg lock_resources_args[] = {
	{ "names", CA_STRINGS, 1, NULL, NULL, "all or nothing" },
	{ "agent_id", CA_STRING, 1, NULL, NULL, NULL },
	{ "ttl_seconds", CA_NUMBER, 0, "900", NULL, NULL },
	{ "ttl_minutes", CA_NUMBER, 0, NULL, NULL, "deprecated" },
};
static void
lock_resources_run(struct compat_call *cc)
{
	const char *agent = compat_str(cc, "agent_id");
	const cJSON *names = compat_arg(cc, "names"), *n, *a;
	double ttl = airlock_ttl(cc, 900);
	struct compat_link *l;
	struct op_error err;
	cJSON *args, *o, *tokens;
	const char *token;

	if (cc->step == 0) {
		if (ttl <= 0 || ttl > 86400) {
			compat_fail(cc,
			    "invalid arguments for lock_resources: ttl_seconds must "
			    "be from 1 to 86400");
			return;
		}
		args = cJSON_CreateObject();
		cJSON_AddItemToObject(args, "names", cJSON_Duplicate(names, 1));
		cJSON_AddItemToObject(args, "reason", airlock_reason(ttl));
		compat_op(cc, agent, "lock_acquire", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "acquired"))) {
		o = airlock_busy(a);
		cJSON_DeleteItemFromObject(o, "expires_in_seconds");
		compat_ok(cc, o);
		return;
	}
	if ((l = compat_link_get(cc->m, agent, &err)) == NULL) {
		compat_fail(cc, "%s: %s", err.code, err.message);
		return;
	}
	token = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "token"));
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "locked", 1);
	tokens = cJSON_AddObjectToObject(o, "tokens");
	cJSON_ArrayForEach(n, names) {
		agrant_add(l, agent, n->valuestring, token != NULL ? token : "", ttl);
		if (cJSON_GetObjectItemCaseSensitive(tokens, n->valuestring) == NULL)
			cJSON_AddStringToObject(tokens, n->valuestring,
			    token != NULL ? token : "");
	}
	compat_ok(cc, o);
}

/* ---- notes and counters ---- */

static cJSON *
airlock_note(const char *key, const cJSON *a)
{
	cJSON *o = cJSON_CreateObject();
	const char *author =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "author"));

	cJSON_AddStringToObject(o, "key", key);
	compat_copy(o, "value", a, "value");
	if (author != NULL && *author != '\0')
		cJSON_AddStringToObject(o, "author", author);
	compat_copy(o, "expires_in_seconds", a, "expires_in_seconds");
	return (o);
}

static const struct compat_arg set_note_args[] = {
	{ "key", CA_STRING, 1, NULL, NULL, NULL },
	{ "value", CA_STRING, 1, NULL, NULL, NULL },
	{ "author", CA_STRING, 0, NULL, NULL, NULL },
	{ "ttl_seconds", CA_NUMBER, 0, NULL, NULL, NULL },
	{ "ttl_minutes", CA_NUMBER, 0, NULL, NULL, "deprecated" },
};
static void
set_note_run(struct compat_call *cc)
{
	cJSON *args, *o;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "key", compat_str(cc, "key"));
		cJSON_AddStringToObject(args, "value", compat_str(cc, "value"));
		if (compat_arg(cc, "ttl_seconds") != NULL ||
		    compat_arg(cc, "ttl_minutes") != NULL)
			cJSON_AddNumberToObject(args, "ttl_seconds", airlock_ttl(cc, 0));
		compat_op(cc, compat_str(cc, "author"), "note_set", args);
		return;
	}
	if (compat_failed(cc, compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "saved", 1);
	compat_ok(cc, o);
}

static cJSON *
airlock_key_args(const char *key)
{
	cJSON *args = cJSON_CreateObject();

	cJSON_AddStringToObject(args, "key", key);
	return (args);
}

static const struct compat_arg get_note_args[] = {
	{ "key", CA_STRING, 1, NULL, NULL, NULL },
};
static void
get_note_run(struct compat_call *cc)
{
	const cJSON *a;
	cJSON *o;

	if (cc->step == 0) {
		compat_op(cc, NULL, "note_get", airlock_key_args(compat_str(cc, "key")));
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "found"))) {
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "found", 0);
		compat_ok(cc, o);
		return;
	}
	compat_ok(cc, airlock_note(compat_str(cc, "key"), a));
}

static const struct compat_arg list_notes_args[] = {};
static void
list_notes_run(struct compat_call *cc)
{
	const cJSON *a, *n, *key;
	cJSON *out, *args;
	int i;

	switch (cc->step) {
	case 0:
		args = cJSON_CreateObject();
		cJSON_AddNumberToObject(args, "limit", 1000);
		compat_op(cc, NULL, "note_list", args);
		return;
	case 1:
		if (compat_failed(cc, a = compat_ans(cc, 0)))
			return;
		/* the values: one note_get each, all sent at once */
		cJSON_AddItemToObject(cc->st, "keys", cJSON_CreateArray());
		cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(a, "notes")) {
			key = cJSON_GetObjectItemCaseSensitive(n, "key");
			if (!cJSON_IsString(key) ||
			    strncmp(key->valuestring, AIRLOCK_CLEAR_PREFIX,
				strlen(AIRLOCK_CLEAR_PREFIX)) == 0)
				continue;
			cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(cc->st, "keys"),
			    cJSON_Duplicate(key, 0));
			if (compat_op(cc, NULL, "note_get",
				airlock_key_args(key->valuestring)) != 0)
				return;
		}
		if (cc->pending > 0)
			return;
		/* FALLTHROUGH */
	default:
		out = cJSON_CreateArray();
		i = 0;
		cJSON_ArrayForEach(key, cJSON_GetObjectItemCaseSensitive(cc->st, "keys")) {
			a = compat_ans(cc, i++);
			if (cc->step == 1 || compat_err(a) != NULL ||
			    !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "found")))
				continue; /* deleted meanwhile */
			cJSON_AddItemToArray(out, airlock_note(key->valuestring, a));
		}
		compat_ok(cc, out);
	}
}

static const struct compat_arg delete_note_args[] = {
	{ "key", CA_STRING, 1, NULL, NULL, NULL },
};
static void
delete_note_run(struct compat_call *cc)
{
	const cJSON *a;
	cJSON *o;

	if (cc->step == 0) {
		compat_op(cc, NULL, "note_delete", airlock_key_args(compat_str(cc, "key")));
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "deleted",
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "deleted")));
	compat_ok(cc, o);
}

static const struct compat_arg set_note_if_args[] = {
	{ "key", CA_STRING, 1, NULL, NULL, NULL },
	{ "expected_value", CA_STRING, 1, NULL, NULL, "absent counts as \"\"" },
	{ "new_value", CA_STRING, 1, NULL, NULL, NULL },
	{ "author", CA_STRING, 0, NULL, NULL, NULL },
	{ "ttl_seconds", CA_NUMBER, 0, NULL, NULL, NULL },
	{ "ttl_minutes", CA_NUMBER, 0, NULL, NULL, "deprecated" },
};
/*
 * Compare-and-swap by value on baton's compare-and-set by version: read
 * the note, and when its value is the expected one write at the version
 * read; a write in between fails the version check and the value is
 * read again, so the swap happens only on the value it was compared to.
 */
static void
set_note_if_run(struct compat_call *cc)
{
	const char *key = compat_str(cc, "key"), *cur;
	const cJSON *a;
	cJSON *args, *o;
	int found;

	if (cc->step % 2 == 0) {
		if (cc->step > 0) {
			a = compat_ans(cc, 0);
			if (compat_failed(cc, a))
				return;
			if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "written")) ||
			    cc->step >= 2 * AIRLOCK_CAS_TRIES) {
				o = cJSON_CreateObject();
				cJSON_AddBoolToObject(o, "swapped",
				    cJSON_IsTrue(
					cJSON_GetObjectItemCaseSensitive(a, "written")));
				compat_ok(cc, o);
				return;
			}
		}
		compat_op(cc, NULL, "note_get", airlock_key_args(key));
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	found = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "found"));
	cur = found ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "value")) : "";
	if (cur == NULL || strcmp(cur, compat_str(cc, "expected_value")) != 0) {
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "swapped", 0);
		compat_ok(cc, o);
		return;
	}
	args = cJSON_CreateObject();
	cJSON_AddStringToObject(args, "key", key);
	cJSON_AddStringToObject(args, "value", compat_str(cc, "new_value"));
	compat_copy(args, "if_version", a, "version");
	if (compat_arg(cc, "ttl_seconds") != NULL || compat_arg(cc, "ttl_minutes") != NULL)
		cJSON_AddNumberToObject(args, "ttl_seconds", airlock_ttl(cc, 0));
	compat_op(cc, compat_str(cc, "author"), "note_set", args);
}

static const struct compat_arg increment_counter_args[] = {
	{ "name", CA_STRING, 1, NULL, NULL, NULL },
	{ "by", CA_INT, 0, "1", NULL, NULL },
};
static void
increment_counter_run(struct compat_call *cc)
{
	const cJSON *a;
	cJSON *args, *o;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "name", compat_str(cc, "name"));
		cJSON_AddNumberToObject(args, "by", compat_num(cc, "by", 1));
		compat_op(cc, NULL, "counter_incr", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	compat_copy(o, "value", a, "value");
	compat_ok(cc, o);
}

/* ---- presence ---- */

static const struct compat_arg register_agent_args[] = {
	{ "agent_id", CA_STRING, 1, NULL, NULL, NULL },
	{ "ttl_seconds", CA_NUMBER, 0, "60", NULL, NULL },
	{ "ttl_minutes", CA_NUMBER, 0, NULL, NULL, "deprecated" },
};

/* A registration lapsed: the agent's session closes, and its locks and leases go. */
static void
airlock_lapse_cb(evutil_socket_t fd, short events, void *arg)
{
	struct compat_link *l = arg;

	log_info("airlock: registration of %s lapsed: its locks are released", l->agent);
	airlock_forget(l->agent);
	compat_link_close(l);
}

static void
register_agent_run(struct compat_call *cc)
{
	const char *agent = compat_str(cc, "agent_id");
	double ttl = airlock_ttl(cc, 60);
	struct compat_link *l;
	struct op_error err;
	struct timeval tv;
	cJSON *args, *o;

	if (cc->step == 0) {
		if (ttl <= 0 || ttl > 86400) {
			compat_fail(cc,
			    "invalid arguments for register_agent: ttl_seconds must "
			    "be from 1 to 86400");
			return;
		}
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "name", agent);
		cJSON_AddNumberToObject(args, "ttl_seconds", ttl);
		compat_op(cc, agent, "agent_join", args);
		return;
	}
	if (compat_failed(cc, compat_ans(cc, 0)))
		return;
	if ((l = compat_link_get(cc->m, agent, &err)) == NULL) {
		compat_fail(cc, "%s: %s", err.code, err.message);
		return;
	}
	if (l->ttl_ev == NULL)
		l->ttl_ev = evtimer_new(l->m->base, airlock_lapse_cb, l);
	l->ttl_ms = mono_ms() + (uint64_t)(ttl * 1000);
	tv = tv_secs(ttl);
	evtimer_add(l->ttl_ev, &tv);
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "registered", 1);
	cJSON_AddNumberToObject(o, "expires_in_seconds", round(ttl));
	compat_ok(cc, o);
}

static const struct compat_arg unregister_agent_args[] = {
	{ "agent_id", CA_STRING, 1, NULL, NULL, NULL },
};
static void
unregister_agent_run(struct compat_call *cc)
{
	const char *agent = compat_str(cc, "agent_id");
	struct compat_link *l;
	cJSON *o;

	for (l = compat_link_first(); l != NULL; l = compat_link_next(l)) {
		if (strcmp(l->agent, agent) == 0)
			break;
	}
	airlock_forget(agent);
	if (l != NULL)
		compat_link_close(l);
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "unregistered", 1);
	compat_ok(cc, o);
}

static const struct compat_arg list_agents_args[] = {};
static void
list_agents_run(struct compat_call *cc)
{
	const cJSON *a, *ag, *exp;
	cJSON *out, *o;

	if (cc->step == 0) {
		compat_op(cc, NULL, "agent_list", cJSON_CreateObject());
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(ag, cJSON_GetObjectItemCaseSensitive(a, "agents")) {
		/* registered agents whose session lives: not plain sessions, not lapsed ones */
		exp = cJSON_GetObjectItemCaseSensitive(ag, "expires_in_seconds");
		if (!cJSON_IsNumber(exp) ||
		    !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ag, "connected")))
			continue;
		o = cJSON_CreateObject();
		compat_copy(o, "agent_id", ag, "agent");
		cJSON_AddNumberToObject(o, "expires_in_seconds", round(exp->valuedouble));
		cJSON_AddItemToArray(out, o);
	}
	compat_ok(cc, out);
}

/* ---- events ---- */

static cJSON *
airlock_name_args(const char *name)
{
	cJSON *args = cJSON_CreateObject();

	cJSON_AddStringToObject(args, "name", name);
	return (args);
}

static char *
airlock_clear_key(const char *name)
{
	char *key;

	xasprintf(&key, AIRLOCK_CLEAR_PREFIX "%s", name);
	return (key);
}

static const struct compat_arg signal_event_args[] = {
	{ "name", CA_STRING, 1, NULL, NULL, NULL },
};
static void
signal_event_run(struct compat_call *cc)
{
	const cJSON *a;
	cJSON *o;

	if (cc->step == 0) {
		compat_op(cc, NULL, "event_signal", airlock_name_args(compat_str(cc, "name")));
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	compat_copy(o, "generation", a, "generation");
	compat_ok(cc, o);
}

static const struct compat_arg wait_for_event_args[] = {
	{ "name", CA_STRING, 1, NULL, NULL, NULL },
	{ "last_seen_generation", CA_INT, 0, "0", NULL, NULL },
	{ "wait_seconds", CA_NUMBER, 0, "25", NULL, "cap 50" },
};
static void
wait_for_event_run(struct compat_call *cc)
{
	double seen = compat_num(cc, "last_seen_generation", 0), floor = 0;
	const cJSON *a, *v;
	cJSON *args, *o;
	char *key;

	switch (cc->step) {
	case 0:
		key = airlock_clear_key(compat_str(cc, "name"));
		compat_op(cc, NULL, "note_get", airlock_key_args(key));
		free(key);
		return;
	case 1:
		if (compat_failed(cc, a = compat_ans(cc, 0)))
			return;
		v = cJSON_GetObjectItemCaseSensitive(a, "value");
		if (cJSON_IsNumber(v))
			floor = v->valuedouble;
		args = airlock_name_args(compat_str(cc, "name"));
		cJSON_AddNumberToObject(args, "after", fmax(fmax(seen, floor), 0));
		cJSON_AddNumberToObject(args, "wait_seconds",
		    fmax(fmin(compat_num(cc, "wait_seconds", 25), AIRLOCK_WAIT_CAP), 0));
		compat_op(cc, NULL, "event_wait", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	compat_copy(o, "generation", a, "generation");
	compat_copy(o, "fired", a, "fired");
	compat_ok(cc, o);
}

static const struct compat_arg clear_event_args[] = {
	{ "name", CA_STRING, 1, NULL, NULL, NULL },
};
static void
clear_event_run(struct compat_call *cc)
{
	const cJSON *a;
	cJSON *args, *o;
	char *key;

	switch (cc->step) {
	case 0: /* the generation now, without waiting */
		args = airlock_name_args(compat_str(cc, "name"));
		cJSON_AddNumberToObject(args, "wait_seconds", 0);
		compat_op(cc, NULL, "event_wait", args);
		return;
	case 1:
		if (compat_failed(cc, a = compat_ans(cc, 0)))
			return;
		key = airlock_clear_key(compat_str(cc, "name"));
		args = airlock_key_args(key);
		free(key);
		compat_copy(args, "value", a, "generation");
		compat_op(cc, NULL, "note_set", args);
		return;
	}
	if (compat_failed(cc, compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "cleared", 1);
	compat_ok(cc, o);
}

/* ---- the task queue ---- */

static const struct compat_arg push_task_args[] = {
	{ "queue", CA_STRING, 1, NULL, NULL, NULL },
	{ "payload", CA_STRING, 1, NULL, NULL, NULL },
	{ "author", CA_STRING, 0, NULL, NULL, NULL },
	{ "priority", CA_INT, 0, "0", NULL, "higher first" },
};
static void
push_task_run(struct compat_call *cc)
{
	const cJSON *a;
	cJSON *args, *o;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "queue", compat_str(cc, "queue"));
		cJSON_AddStringToObject(args, "payload", compat_str(cc, "payload"));
		cJSON_AddNumberToObject(args, "priority", compat_num(cc, "priority", 0));
		compat_op(cc, compat_str(cc, "author"), "queue_push", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	compat_copy(o, "id", a, "id");
	compat_ok(cc, o);
}

static const struct compat_arg claim_next_task_args[] = {
	{ "queue", CA_STRING, 1, NULL, NULL, NULL },
	{ "agent_id", CA_STRING, 1, NULL, NULL, NULL },
	{ "lease_seconds", CA_NUMBER, 0, "120", NULL, NULL },
};
static void
claim_next_task_run(struct compat_call *cc)
{
	const cJSON *a;
	cJSON *args, *o;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "queue", compat_str(cc, "queue"));
		cJSON_AddNumberToObject(args, "lease_seconds",
		    compat_num(cc, "lease_seconds", 120));
		compat_op(cc, compat_str(cc, "agent_id"), "queue_claim", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	compat_copy(o, "claimed", a, "claimed");
	compat_copy(o, "id", a, "id");
	compat_copy(o, "payload", a, "payload");
	compat_copy(o, "lease_token", a, "lease_token");
	compat_ok(cc, o);
}

/* queue_finish of the item cc names with outcome; answered as key: finished. */
static void
airlock_finish(struct compat_call *cc, const char *outcome, const char *key)
{
	const cJSON *id = compat_arg(cc, "id"), *a;
	cJSON *args, *o;
	char *end;
	double n;

	if (cc->step == 0) {
		n = cJSON_IsNumber(id) ? id->valuedouble : strtod(id->valuestring, &end);
		if ((cJSON_IsString(id) && (*id->valuestring == '\0' || *end != '\0')) ||
		    n < 0 || n != floor(n)) {
			compat_fail(cc,
			    "invalid arguments for %s: id must be a task id from "
			    "push_task",
			    cc->tool->name);
			return;
		}
		args = cJSON_CreateObject();
		cJSON_AddNumberToObject(args, "id", n);
		cJSON_AddStringToObject(args, "lease_token", compat_str(cc, "lease_token"));
		cJSON_AddStringToObject(args, "outcome", outcome);
		compat_op(cc, NULL, "queue_finish", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, key,
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "finished")));
	compat_ok(cc, o);
}

static const struct compat_arg complete_task_args[] = {
	{ "id", CA_ID, 1, NULL, NULL, NULL },
	{ "lease_token", CA_STRING, 1, NULL, NULL, NULL },
};
static void
complete_task_run(struct compat_call *cc)
{
	airlock_finish(cc, "done", "completed");
}

static const struct compat_arg fail_task_args[] = {
	{ "id", CA_ID, 1, NULL, NULL, NULL },
	{ "lease_token", CA_STRING, 1, NULL, NULL, NULL },
	{ "requeue", CA_BOOL, 0, "true", NULL, "false gives up" },
};
static void
fail_task_run(struct compat_call *cc)
{
	airlock_finish(cc, compat_num(cc, "requeue", 1) != 0 ? "retry" : "failed", "failed");
}

static const struct compat_arg list_tasks_args[] = {
	{ "queue", CA_STRING, 1, NULL, NULL, NULL },
};
static void
list_tasks_run(struct compat_call *cc)
{
	const cJSON *a, *it;
	const char *state;
	cJSON *out, *o, *args;

	if (cc->step == 0) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "queue", compat_str(cc, "queue"));
		cJSON_AddNumberToObject(args, "limit", 1000);
		compat_op(cc, NULL, "queue_list", args);
		return;
	}
	if (compat_failed(cc, a = compat_ans(cc, 0)))
		return;
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(a, "items")) {
		o = cJSON_CreateObject();
		compat_copy(o, "id", it, "id");
		compat_copy(o, "queue", it, "queue");
		compat_copy(o, "payload", it, "payload");
		compat_copy(o, "priority", it, "priority");
		state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "state"));
		cJSON_AddStringToObject(o, "state",
		    state != NULL && strcmp(state, "leased") == 0 ? "claimed"
			: state != NULL                           ? state
								  : "?");
		compat_copy(o, "author", it, "author");
		compat_copy(o, "lease_agent", it, "lease_agent");
		compat_copy(o, "lease_expires_in_seconds", it, "lease_expires_in_seconds");
		cJSON_AddItemToArray(out, o);
	}
	compat_ok(cc, out);
}

#define RO (OP_READONLY | OP_IDEMPOTENT)
static const struct compat_tool airlock_tools[] = {
	COMPAT_TOOL(lock_resource, OP_DESTRUCTIVE,
	    "Lock a named resource. wait_seconds blocks in a FIFO line instead of polling; "
	    "queued answers carry wake_token and retry_with. lock_token is the capability "
	    "to unlock. baton: released at once when your agent's session ends (no "
	    "heartbeat needed)."),
	COMPAT_TOOL(unlock_resource, OP_IDEMPOTENT, "Release a lock (lock_token preferred)."),
	COMPAT_TOOL(renew_lock, OP_IDEMPOTENT, "Extend a lock's ttl_seconds from now."),
	COMPAT_TOOL(list_locks, RO, "Held locks: [{name, agent_id, expires_in_seconds}]."),
	COMPAT_TOOL(lock_resources, OP_DESTRUCTIVE,
	    "Lock several names all-or-nothing (no deadlock). baton: one grant, so one "
	    "token for all the names."),
	COMPAT_TOOL(set_note, OP_DESTRUCTIVE, "Store a shared note."),
	COMPAT_TOOL(get_note, RO, "Read a note: {key, value, ...} or {found:false}."),
	COMPAT_TOOL(list_notes, RO, "Every note with its value."),
	COMPAT_TOOL(delete_note, OP_DESTRUCTIVE | OP_IDEMPOTENT, "Delete a note."),
	COMPAT_TOOL(set_note_if, OP_DESTRUCTIVE,
	    "Compare-and-swap: write new_value only if the note equals expected_value."),
	COMPAT_TOOL(increment_counter, 0,
	    "Atomic add; {value} after it: unique numbers under concurrency."),
	COMPAT_TOOL(register_agent, OP_IDEMPOTENT,
	    "Announce presence for ttl_seconds; re-call to stay. When it lapses your locks "
	    "and task leases are released."),
	COMPAT_TOOL(unregister_agent, OP_DESTRUCTIVE | OP_IDEMPOTENT,
	    "Leave; releases your locks."),
	COMPAT_TOOL(list_agents, RO, "Registered agents."),
	COMPAT_TOOL(signal_event, 0, "Bump an event's generation; wakes every waiter."),
	COMPAT_TOOL(wait_for_event, RO,
	    "Block until the generation passes last_seen_generation: {generation, fired}."),
	COMPAT_TOOL(clear_event, OP_IDEMPOTENT,
	    "Reset an event: a wait from 0 then waits for the next signal. baton: "
	    "generations never go back, so no waiter misses a signal."),
	COMPAT_TOOL(push_task, 0, "Queue work; higher priority, then older, first."),
	COMPAT_TOOL(claim_next_task, 0,
	    "Lease the next task: finish it within lease_seconds, else it is requeued "
	    "(baton: also when your session ends)."),
	COMPAT_TOOL(complete_task, 0, "Mark a leased task done (its lease_token)."),
	COMPAT_TOOL(fail_task, 0, "Give a leased task back (requeue) or up."),
	COMPAT_TOOL(list_tasks, RO, "A queue's tasks and their state."),
};

const struct compat_profile compat_airlock = {
	.name = "airlock",
	.seed = "Airlock",
	.instructions =
	    "Airlock's tools, served by baton. Take a lock before touching a shared "
	    "resource (lock_resource with wait_seconds blocks instead of polling) and "
	    "unlock it with its lock_token; increment_counter for unique numbers; "
	    "set_note_if for compare-and-swap; signal_event/wait_for_event for handoffs; "
	    "push_task/claim_next_task for a work queue. Your locks and leases are released "
	    "the moment your session ends.",
	.tools = airlock_tools,
	.ntools = nitems(airlock_tools),
};
