/*
 * Presence (DESIGN §5.3): who is in a project.  Every connected session
 * is present by itself; agent_join (agent.c) adds a registration that
 * names the session's agent and role, keeps the name for that session (a
 * second live session cannot join under it) and, with a TTL, outlives
 * the connection for clients that do not keep one open.
 *
 * A change of who is present (a join, a registration lapsing) is told
 * to the function registered with presence_on_change (messages: a
 * blocked inbox may now have mail), so presence.c calls no module above
 * it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

struct presence_list presences = TAILQ_HEAD_INITIALIZER(presences);
static size_t ndetached;
static void (*change_hook)(const char *);

/* Call fn(project) whenever who is present in project changes. */
void
presence_on_change(void (*fn)(const char *))
{
	change_hook = fn;
}

/* Who is present in project changed: tell the hook. */
static void
presence_tell(const char *project)
{
	if (change_hook != NULL)
		change_hook(project);
}

struct presence *
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
	feed_record(NULL, "expired", "agent", p->project, p->agent,
	    "registration expired (ttl ran out)");
	presence_tell(p->project);
	presence_free(p);
	revision_next();
}

/* The session is gone: its registration ends too, unless its TTL runs on. */
static void
presence_session_closed(struct session *s)
{
	struct presence *p;

	if ((p = presence_of_session(s)) == NULL)
		return;
	feed_record(s, "session_end", "agent", p->project, p->agent, "left (session ended)");
	if (p->expires_ms == 0 || p->expires_ms <= mono_ms()) {
		presence_free(p);
		return;
	}
	p->active_ms = s->active_ms;
	p->s = NULL;
	ndetached++;
	presence_changed(p);
}

/*
 * Call fn(agent, role, arg) for everyone present in project: connected
 * sessions, then TTL registrations whose connection has ended.
 */
void
presence_foreach(const char *project, void (*fn)(const char *, const char *, void *), void *arg)
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

/* Set the deadline of a registration's TTL (a mono_ms() instant; 0: none). */
static void
presence_expire_at(struct presence *p, uint64_t deadline)
{
	if (p->ttl_ev != NULL) {
		event_free(p->ttl_ev);
		p->ttl_ev = NULL;
	}
	p->expires_ms = deadline;
	if (deadline == 0)
		return;
	p->ttl_ev = timer_new(presence_ttl_cb, p);
	timer_at(p->ttl_ev, deadline);
}

/* The live session (not s) that joined under name in s's project, or NULL. */
struct presence *
presence_taken(struct session *s, const char *name)
{
	struct presence *other = presence_of_name(s->project, name);

	return (other != NULL && other->s != NULL && other->s != s ? other : NULL);
}

/* May s join with a TTL?  Registrations outliving their session are bounded. */
int
presence_may_outlive(struct session *s)
{
	return (presence_of_session(s) != NULL || ndetached < PRESENCE_DETACHED_MAX);
}

/* The registration s renews, takes over (a TTL one without a connection) or makes. */
static struct presence *
presence_claim(struct session *s, const char *name)
{
	struct presence *mine = presence_of_session(s), *other;

	other = presence_of_name(s->project, name);
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

/*
 * Register s under name (taken over) with role (taken over, NULL: keep
 * the session's) for ttl seconds past its connection (0: none); the
 * caller checked presence_taken and presence_may_outlive.
 */
void
presence_join(struct session *s, char *name, char *role, double ttl)
{
	struct presence *p = presence_claim(s, name);

	free(s->agent);
	s->agent = name;
	if (role != NULL) {
		free(s->role);
		s->role = role;
	}
	session_renamed(s);
	presence_changed(p); /* under its old name, when it had one */
	presence_fill(p, s);
	presence_expire_at(p, ttl > 0 ? mono_ms() + (uint64_t)(ttl * 1000) : 0);
	presence_changed(p);
	revision_next();
	presence_tell(s->project);
}

/*
 * Row of a registration with a TTL (those outlive their connection, so
 * they outlive a restart too); 0 for one without, or gone.
 */
static int
presence_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	const char *nl = strchr(key, '\n');
	struct presence *p;
	char *project;

	if (nl == NULL)
		return (0);
	project = xstrndup(key, (size_t)(nl - key));
	p = presence_of_name(project, nl + 1);
	free(project);
	if (p == NULL || p->expires_ms == 0)
		return (0);
	pk_map_open(fb);
	pk_kstr(fb, "role", p->role);
	pk_kstr(fb, "kind", p->kind);
	pk_kstr(fb, "client", p->client);
	pk_kint(fb, "pid", p->pid);
	pk_kstr(fb, "sid", p->sid);
	/* times are stored as wall-clock time and re-based at restore */
	pk_kint(fb, "expires", deadline_to_wall(p->expires_ms));
	pk_kint(fb, "joined", past_to_wall(p->joined_ms));
	pk_kint(fb, "active", past_to_wall(p->active_ms));
	pk_map_close(fb);
	return (1);
}

/*
 * Rebuild a registration with what is left of its TTL, under its
 * session when that was restored too (waiting to be reclaimed).  One
 * that lapsed while the broker was down lapses at once, the usual way.
 */
static int
presence_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	const char *nl = strchr(key, '\n');
	struct presence *p;
	struct session *s;
	int64_t expires;
	char *sid;

	if (nl == NULL || nl == key || nl[1] == '\0' ||
	    mp_int(mp_get(o, "expires"), &expires) != 0) {
		xasprintf(cause, "presence %s: bad row", key);
		return (-1);
	}
	p = xcalloc(1, sizeof *p);
	p->project = xstrndup(key, (size_t)(nl - key));
	p->agent = xstrdup(nl + 1);
	p->role = mp_get_strdup(o, "role");
	if ((p->kind = mp_get_strdup(o, "kind")) == NULL)
		p->kind = xstrdup("cli");
	p->client = mp_get_strdup(o, "client");
	p->pid = (pid_t)mp_get_int(o, "pid", 0);
	if ((sid = mp_get_strdup(o, "sid")) != NULL)
		snprintf(p->sid, sizeof p->sid, "%s", sid);
	p->joined_ms = past_from_wall(mp_get_int(o, "joined", 0));
	p->active_ms = past_from_wall(mp_get_int(o, "active", 0));
	s = sid != NULL ? session_find(sid) : NULL;
	free(sid);
	if (s != NULL && s->client == NULL && presence_of_session(s) == NULL)
		p->s = s;
	else
		ndetached++;
	TAILQ_INSERT_TAIL(&presences, p, entry);
	/* a row always has a deadline; a bad one of 0 lapses at once too */
	presence_expire_at(p, expires != 0 ? deadline_from_wall(expires) : mono_ms());
	return (0);
}

const struct store_kind presence_store_kind = {
	.name = "presence",
	.pack = presence_pack,
	.restore = presence_restore,
};

/* A registration ends with its session (or outlives it by its TTL). */
void
presence_init(void)
{
	session_on_close(presence_session_closed);
}
