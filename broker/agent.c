/*
 * Presence (DESIGN §5.3): who is in a project.  Every connected session
 * is present by itself; agent_join adds a registration that names the
 * session's agent and role, keeps the name for that session (a second
 * live session cannot join under it) and, with a TTL, outlives the
 * connection for clients that do not keep one open.
 *
 * Names are labels, not identities: a plain hello may carry any name
 * (shell scripts with BATON_AGENT share their agent's name), only
 * agent_join claims one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define AGENT_NAME_MAX 64
#define PRESENCE_DETACHED_MAX 1024 /* TTL registrations that outlive their session */
#define HINT_NAMES 5               /* agents named in agent_join's hint */

/* A registration made by agent_join. */
struct presence {
	struct session *s; /* NULL once its connection ended (TTL registrations) */
	char sid[24];
	char *project, *agent, *role, *kind, *client;
	pid_t pid;
	uint64_t joined_ms, active_ms;
	uint64_t expires_ms; /* 0: bound to the connection */
	struct event *ttl_ev;
	TAILQ_ENTRY(presence) entry;
};

static TAILQ_HEAD(, presence) presences = TAILQ_HEAD_INITIALIZER(presences);
static size_t ndetached;

static struct presence *
presence_of_session(const struct session *s)
{
	struct presence *p;

	TAILQ_FOREACH(p, &presences, entry) {
		if (p->s == s)
			return (p);
	}
	return (NULL);
}

static struct presence *
presence_of_name(const char *project, const char *agent)
{
	struct presence *p;

	TAILQ_FOREACH(p, &presences, entry) {
		if (strcmp(p->project, project) == 0 && strcmp(p->agent, agent) == 0)
			return (p);
	}
	return (NULL);
}

/*
 * p's row ("PROJECT\nAGENT", kept while it has a TTL) is to be rewritten
 * at the next checkpoint.
 */
static void
presence_changed(const struct presence *p)
{
	char *key;

	if (p->project == NULL || p->agent == NULL)
		return;
	xasprintf(&key, "%s\n%s", p->project, p->agent);
	store_mark(&presence_store_kind, key);
	free(key);
}

static void
presence_free(struct presence *p)
{
	TAILQ_REMOVE(&presences, p, entry);
	presence_changed(p); /* gone: its row is deleted */
	if (p->s == NULL)
		ndetached--;
	if (p->ttl_ev != NULL)
		event_free(p->ttl_ev);
	free(p->project);
	free(p->agent);
	free(p->role);
	free(p->kind);
	free(p->client);
	free(p);
}

/* Copy what the session says about itself into its registration. */
static void
presence_fill(struct presence *p, struct session *s)
{
	free(p->project);
	free(p->agent);
	free(p->role);
	free(p->kind);
	free(p->client);
	p->project = xstrdup(s->project);
	p->agent = xstrdup(s->agent);
	p->role = s->role != NULL ? xstrdup(s->role) : NULL;
	p->kind = xstrdup(s->kind);
	p->client = s->client_name != NULL ? xstrdup(s->client_name) : NULL;
	p->pid = s->pid;
	snprintf(p->sid, sizeof p->sid, "%s", s->id);
	p->active_ms = s->active_ms;
}

/* A TTL lapsed: a registration without a connection goes, one with a connection stays. */
static void
presence_ttl_cb(evutil_socket_t fd, short events, void *arg)
{
	struct presence *p = arg;

	p->expires_ms = 0;
	presence_changed(p);
	if (p->s != NULL)
		return;
	log_info("agent %s: registration expired", p->agent);
	msg_presence_changed(p->project);
	presence_free(p);
	revision_next();
}

/* The session is gone: its registration ends too, unless its TTL runs on. */
static void
agent_session_closed(struct session *s)
{
	struct presence *p;

	if ((p = presence_of_session(s)) == NULL)
		return;
	if (p->expires_ms == 0 || p->expires_ms <= mono_ms()) {
		presence_free(p);
		return;
	}
	p->active_ms = s->active_ms;
	p->s = NULL;
	ndetached++;
	presence_changed(p);
}

/* Is the name usable for agent_join?  NULL when it is, else why not. */
static const char *
agent_name_bad(const char *name, size_t n)
{
	size_t i;

	if (n == 3 && memcmp(name, "all", 3) == 0)
		return ("\"all\" addresses every agent and cannot be a name");
	if (n >= 5 && memcmp(name, "role:", 5) == 0)
		return ("names cannot start with \"role:\" (that addresses a role)");
	for (i = 0; i < n; i++) {
		if ((unsigned char)name[i] <= 0x20 || name[i] == 0x7f)
			return ("names cannot contain spaces or control characters");
	}
	return (NULL);
}

/*
 * Call fn(agent, role, arg) for everyone present in project: connected
 * sessions, then TTL registrations whose connection has ended.
 */
void
agent_foreach(const char *project, void (*fn)(const char *, const char *, void *), void *arg)
{
	struct session *s;
	struct presence *p;

	TAILQ_FOREACH(s, &sessions, entry) {
		if (strcmp(s->project, project) == 0)
			fn(s->agent, s->role, arg);
	}
	TAILQ_FOREACH(p, &presences, entry) {
		if (p->s == NULL && strcmp(p->project, project) == 0)
			fn(p->agent, p->role, arg);
	}
}

/* Set up the TTL of a registration (0: none). */
static void
presence_set_ttl(struct presence *p, double ttl)
{
	struct timeval tv;

	if (p->ttl_ev != NULL) {
		event_free(p->ttl_ev);
		p->ttl_ev = NULL;
	}
	p->expires_ms = 0;
	if (ttl <= 0)
		return;
	p->expires_ms = mono_ms() + (uint64_t)(ttl * 1000);
	p->ttl_ev = evtimer_new(base, presence_ttl_cb, p);
	tv.tv_sec = (time_t)ttl;
	tv.tv_usec = (suseconds_t)((ttl - (double)tv.tv_sec) * 1e6);
	evtimer_add(p->ttl_ev, &tv);
}

/* What agent_join's hint says about others present. */
struct join_hint {
	const char *self;
	char names[256];
	size_t n;
};

static void
join_hint_add(const char *agent, const char *role, void *arg)
{
	struct join_hint *h = arg;
	size_t len = strlen(h->names);

	if (strcmp(agent, h->self) == 0 || strstr(h->names, agent) != NULL)
		return;
	if (h->n++ < HINT_NAMES && len < sizeof h->names - 1)
		snprintf(h->names + len, sizeof h->names - len, "%s%s%s%s%s", len > 0 ? ", " : "",
		    agent, role != NULL ? " (" : "", role != NULL ? role : "", role != NULL ? ")" : "");
}

/* The next steps for a role, with the live state in front. */
static void
agent_pack_hint(struct fbuf *fb, struct session *s, size_t unread, size_t waiting)
{
	struct join_hint h;
	const char *todo, *role = s->role != NULL ? s->role : "";
	char *text;

	memset(&h, 0, sizeof h);
	h.self = s->agent;
	agent_foreach(s->project, join_hint_add, &h);
	if (strcmp(role, "planner") == 0)
		todo = "As planner: gather context, split the work, send it to "
		    "role:implementer with message_send (tasks once available), answer "
		    "their discussions, and wait for news with message_inbox wait_seconds.";
	else if (strcmp(role, "implementer") == 0)
		todo = "As implementer: take the work the planner sends, lock_acquire "
		    "file:PATH before editing, ask with discussion_start waiting_on the "
		    "planner, report with message_send, and wait with message_inbox "
		    "wait_seconds instead of polling.";
	else if (strcmp(role, "reviewer") == 0)
		todo = "As reviewer: wait for review requests with message_inbox "
		    "wait_seconds, answer with message_send or a discussion, and record "
		    "decisions with discussion_resolve.";
	else
		todo = "Read mail with message_inbox (wait_seconds to wait), write with "
		    "message_send, and lock_acquire before touching shared things.";
	xasprintf(&text, "%s%zu unread message%s, %zu discussion%s waiting on you%s. "
	    "%zu other agent%s present%s%s%s. %s",
	    unread + waiting > 0 ? "First read your inbox: " : "", unread, unread == 1 ? "" : "s",
	    waiting, waiting == 1 ? "" : "s", unread + waiting > 0 ? " (message_inbox)" : "",
	    h.n, h.n == 1 ? "" : "s", h.n > 0 ? ": " : "", h.names,
	    h.n > HINT_NAMES ? ", ..." : "", todo);
	pk_kstr(fb, "hint", text);
	free(text);
}

/* The registration agent_join makes or renews; NULL (answered) on conflict. */
static struct presence *
agent_claim(struct req *r, const char *name)
{
	struct session *s = r->s;
	struct presence *mine = presence_of_session(s), *other;

	other = presence_of_name(s->project, name);
	if (other != NULL && other->s != NULL && other->s != s) {
		reply_error(r->c, r->id, ERR_CONFLICT, "name",
		    "agent name '%s' is taken: session %s (pid %ld) joined under it %llu s ago "
		    "and is still connected; pick another name, or wait until it disconnects",
		    name, other->s->id, (long)other->pid,
		    (unsigned long long)((mono_ms() - other->joined_ms) / 1000));
		return (NULL);
	}
	if (other != NULL && other != mine) {
		/* a TTL registration without a connection: this session renews it */
		if (mine != NULL)
			presence_free(mine);
		mine = other;
		mine->s = s;
		ndetached--;
	}
	if (mine == NULL) {
		mine = xcalloc(1, sizeof *mine);
		mine->s = s;
		mine->joined_ms = mono_ms();
		TAILQ_INSERT_TAIL(&presences, mine, entry);
	}
	return (mine);
}

void
op_agent_join(struct req *r)
{
	struct session *s = r->s;
	struct presence *p;
	struct fbuf *fb;
	const char *name, *role, *why;
	size_t nlen, rlen, i;
	double ttl = 0;
	char *cname, *steps;

	if (r->args[0] != NULL)
		mp_str(r->args[0], &name, &nlen);
	else {
		name = s->agent;
		nlen = strlen(name);
	}
	if (r->args[0] != NULL && (why = agent_name_bad(name, nlen)) != NULL) {
		reply_error(r->c, r->id, ERR_INVALID, "name", "bad agent name: %s", why);
		return;
	}
	if (r->args[1] != NULL) {
		mp_str(r->args[1], &role, &rlen);
		for (i = 0; i < rlen; i++) {
			if ((unsigned char)role[i] <= 0x20 || role[i] == 0x7f) {
				reply_error(r->c, r->id, ERR_INVALID, "role",
				    "role cannot contain spaces or control characters");
				return;
			}
		}
	}
	if (r->args[2] != NULL)
		mp_num(r->args[2], &ttl);
	if (ttl > 0 && presence_of_session(s) == NULL && ndetached >= PRESENCE_DETACHED_MAX) {
		reply_error(r->c, r->id, ERR_LIMIT, "ttl_seconds",
		    "%d registrations outlive their connections already; join without "
		    "ttl_seconds, or keep a connection open", PRESENCE_DETACHED_MAX);
		return;
	}
	cname = xstrndup(name, nlen);
	if ((p = agent_claim(r, cname)) == NULL) {
		free(cname);
		return;
	}
	free(s->agent);
	s->agent = cname;
	if (r->args[1] != NULL) {
		free(s->role);
		s->role = xstrndup(role, rlen);
	}
	presence_changed(p); /* under its old name, when it had one */
	presence_fill(p, s);
	presence_set_ttl(p, ttl);
	presence_changed(p);
	revision_next();
	msg_presence_changed(s->project);
	log_info("session %s: joined as %s (%s)", s->id, s->agent,
	    s->role != NULL ? s->role : "no role");

	steps = task_next_steps(s, s->role);
	fb = reply_begin(r->id);
	pk_map(fb, 6 + (s->role != NULL) + (ttl > 0));
	pk_kstr(fb, "session", s->id);
	pk_kstr(fb, "agent", s->agent);
	if (s->role != NULL)
		pk_kstr(fb, "role", s->role);
	pk_kstr(fb, "project", s->project);
	if (ttl > 0)
		pk_kdouble(fb, "expires_in_seconds", ttl);
	pk_kuint(fb, "unread", msg_unread(s));
	agent_pack_hint(fb, s, msg_unread(s), msg_waiting_on(s));
	pk_kstr(fb, "next_steps", steps);
	free(steps);
	reply_end(r->c, fb);
}

/* One row of agent_list: a session, or a registration (s NULL for both when detached). */
static void
agent_pack_row(struct fbuf *fb, struct session *s, struct presence *p, uint64_t now)
{
	const char *role = s != NULL ? s->role : p->role;
	const char *client = s != NULL ? s->client_name : p->client;
	int ttl = p != NULL && p->expires_ms > now;

	pk_map(fb, 12 + (role != NULL) + (client != NULL) + ttl);
	pk_kstr(fb, "agent", s != NULL ? s->agent : p->agent);
	if (role != NULL)
		pk_kstr(fb, "role", role);
	pk_kstr(fb, "session", s != NULL ? s->id : p->sid);
	pk_kint(fb, "pid", s != NULL ? s->pid : p->pid);
	pk_kstr(fb, "project", s != NULL ? s->project : p->project);
	pk_kstr(fb, "kind", s != NULL ? s->kind : p->kind);
	if (client != NULL)
		pk_kstr(fb, "client", client);
	pk_kdouble(fb, "connected_seconds",
	    (double)(now - (s != NULL ? s->connected_ms : p->joined_ms)) / 1000.0);
	pk_kdouble(fb, "idle_seconds",
	    (double)(now - (s != NULL ? s->active_ms : p->active_ms)) / 1000.0);
	pk_str(fb, "locks");
	if (s != NULL)
		lock_pack_session_names(fb, s);
	else
		pk_array(fb, 0);
	pk_str(fb, "tasks");
	pk_array(fb, 0);
	pk_kbool(fb, "connected", s != NULL && s->client != NULL);
	pk_kbool(fb, "joined", p != NULL);
	if (ttl)
		pk_kdouble(fb, "expires_in_seconds", (double)(p->expires_ms - now) / 1000.0);
	pk_kstr(fb, "state", s == NULL ? "registered" : s->client == NULL ? "restoring" :
	    "connected");
}

/* Does the row belong in the listing? */
static int
agent_wanted(const char *project, const char *role, const char *rproject, const char *rrole)
{
	if (strcmp(project, rproject) != 0)
		return (0);
	return (role == NULL || (rrole != NULL && strcmp(role, rrole) == 0));
}

void
op_agent_list(struct req *r)
{
	struct fbuf *fb;
	struct session *s;
	struct presence *p;
	uint64_t now = mono_ms();
	char *role = r->args[0] != NULL ? mp_strdup(r->args[0]) : NULL;
	size_t n = 0;
	int pass;

	fb = reply_begin(r->id);
	pk_map(fb, 2);
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			pk_str(fb, "agents");
			pk_array(fb, n);
		}
		TAILQ_FOREACH(s, &sessions, entry) {
			if (!agent_wanted(r->s->project, role, s->project, s->role))
				continue;
			if (pass == 0)
				n++;
			else
				agent_pack_row(fb, s, presence_of_session(s), now);
		}
		TAILQ_FOREACH(p, &presences, entry) {
			if (p->s != NULL || !agent_wanted(r->s->project, role, p->project, p->role))
				continue;
			if (pass == 0)
				n++;
			else
				agent_pack_row(fb, NULL, p, now);
		}
	}
	pk_kuint(fb, "count", n);
	free(role);
	reply_end(r->c, fb);
}

/* Wall-clock time of a mono_ms() instant, for the store. */
static int64_t
presence_wall(uint64_t ms, uint64_t now, int64_t wall)
{
	return (wall - (int64_t)(now - ms));
}

/* The mono_ms() instant of a stored wall-clock time in the past. */
static uint64_t
presence_mono(int64_t at, uint64_t now, int64_t wall)
{
	uint64_t age = at > 0 && at < wall ? (uint64_t)(wall - at) : 0;

	return (age < now ? now - age : now);
}

/*
 * Row of a registration with a TTL (those outlive their connection, so
 * they outlive a restart too); 0 for one without, or gone.
 */
static int
presence_pack(const char *key, struct fbuf *fb)
{
	const char *nl = strchr(key, '\n');
	struct presence *p;
	uint64_t now = mono_ms();
	int64_t wall = wall_ms();
	char *project;

	if (nl == NULL)
		return (0);
	project = xstrndup(key, (size_t)(nl - key));
	p = presence_of_name(project, nl + 1);
	free(project);
	if (p == NULL || p->expires_ms == 0)
		return (0);
	pk_map(fb, 8);
	pk_kstr(fb, "role", p->role);
	pk_kstr(fb, "kind", p->kind);
	pk_kstr(fb, "client", p->client);
	pk_kint(fb, "pid", p->pid);
	pk_kstr(fb, "sid", p->sid);
	/* deadlines are stored as wall-clock time and re-based at restore */
	pk_kint(fb, "expires", wall + ((int64_t)p->expires_ms - (int64_t)now));
	pk_kint(fb, "joined", presence_wall(p->joined_ms, now, wall));
	pk_kint(fb, "active", presence_wall(p->active_ms, now, wall));
	return (1);
}

/*
 * Rebuild a registration with what is left of its TTL, under its
 * session when that was restored too (waiting to be reclaimed).  One
 * that lapsed while the broker was down lapses at once, the usual way.
 */
static int
presence_restore(const char *key, const msgpack_object *o, char **cause)
{
	const char *nl = strchr(key, '\n');
	struct presence *p;
	struct session *s;
	uint64_t now = mono_ms();
	int64_t wall = wall_ms(), expires = 0, pid = 0, at = 0;
	char *sid;

	if (nl == NULL || nl == key || nl[1] == '\0' ||
	    mp_int(mp_get(o, "expires"), &expires) != 0) {
		xasprintf(cause, "presence %s: bad row", key);
		return (-1);
	}
	p = xcalloc(1, sizeof *p);
	p->project = xstrndup(key, (size_t)(nl - key));
	p->agent = xstrdup(nl + 1);
	p->role = mp_strdup(mp_get(o, "role"));
	p->kind = mp_strdup(mp_get(o, "kind"));
	if (p->kind == NULL)
		p->kind = xstrdup("cli");
	p->client = mp_strdup(mp_get(o, "client"));
	mp_int(mp_get(o, "pid"), &pid);
	p->pid = (pid_t)pid;
	if ((sid = mp_strdup(mp_get(o, "sid"))) != NULL)
		snprintf(p->sid, sizeof p->sid, "%s", sid);
	mp_int(mp_get(o, "joined"), &at);
	p->joined_ms = presence_mono(at, now, wall);
	at = 0;
	mp_int(mp_get(o, "active"), &at);
	p->active_ms = presence_mono(at, now, wall);
	s = sid != NULL ? session_find(sid) : NULL;
	free(sid);
	if (s != NULL && s->client == NULL && presence_of_session(s) == NULL)
		p->s = s;
	else
		ndetached++;
	TAILQ_INSERT_TAIL(&presences, p, entry);
	presence_set_ttl(p, expires > wall ? (double)(expires - wall) / 1000.0 : 0.001);
	return (0);
}

const struct store_kind presence_store_kind = {
	.name = "presence",
	.pack = presence_pack,
	.restore = presence_restore,
};

/* A registration ends with its session (or outlives it by its TTL). */
void
agent_init(void)
{
	session_on_close(agent_session_closed);
}
