/*
 * The agent operations: agent_join registers a session's name and role
 * (presence.c keeps the registrations) and says what to do next;
 * agent_list shows who is present, with what each holds.
 *
 * Names are labels, not identities: a plain hello may carry any name
 * (shell scripts with BATON_AGENT share their agent's name), only
 * agent_join claims one.  On a team broker every name starts with its
 * session's user (team.c), so one user's names are never another's.  In
 * a shared project (batond --share) the name is taken in etcd first,
 * across hosts (shared_join, shared-msg.c), and agent_list is served
 * from there.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

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
 * The name and role agent_join asks for (name: the session's when
 * absent; role NULL when absent); -1 when one is refused (answered).
 */
static int
agent_join_args(struct req *r, const char **name, size_t *nlen, const char **role, size_t *rlen)
{
	const char *why;
	size_t i;

	if ((*name = arg_str(r, "name", nlen)) == NULL) {
		*name = r->s->agent;
		*nlen = strlen(*name);
	} else if ((why = agent_name_bad(*name, *nlen)) != NULL) {
		reply_error(r->c, r->id, ERR_INVALID, "name", "bad agent name: %s", why);
		return (-1);
	}
	if ((*role = arg_str(r, "role", rlen)) == NULL)
		return (0);
	for (i = 0; i < *rlen; i++) {
		if ((unsigned char)(*role)[i] <= 0x20 || (*role)[i] == 0x7f) {
			reply_error(r->c, r->id, ERR_INVALID, "role",
			    "role cannot contain spaces or control characters");
			return (-1);
		}
	}
	return (0);
}

/* Answer agent_join: who the session is now, its mail, what to do next. */
static void
agent_join_reply(struct session *s, uint64_t id, double ttl, const struct join_counts *jc)
{
	struct fbuf *fb;
	char *steps = guide_next_steps(s, s->role), *hint = guide_join_hint(s, jc);

	fb = reply_begin(id);
	pk_map_open(fb);
	pk_kstr(fb, "session", s->id);
	pk_kstr(fb, "agent", s->agent);
	pk_kstr_opt(fb, "role", s->role);
	pk_kstr(fb, "project", s->project);
	if (ttl > 0)
		pk_kdouble(fb, "expires_in_seconds", ttl);
	pk_kuint(fb, "unread", jc != NULL ? jc->unread : msg_unread(s));
	pk_kstr(fb, "hint", hint);
	pk_kstr(fb, "next_steps", steps);
	pk_map_close(fb);
	free(hint);
	free(steps);
	if (s->client != NULL)
		reply_end(s->client, fb);
	else
		fbuf_free(fb), free(fb);
}

/*
 * Register s under name and role (both taken) for ttl, and answer
 * request id: at once, or once a shared project's presence is in etcd
 * (shared_join calls it then, with what it counted there).
 */
static void
agent_join_commit(struct session *s, uint64_t id, char *name, char *role, double ttl,
    const struct join_counts *jc)
{
	presence_join(s, name, role, ttl);
	feed_record(s, "agent_join", "agent", s->project, s->agent, "joined%s%s",
	    s->role != NULL ? " as " : "", s->role != NULL ? s->role : "");
	log_info("session %s: joined as %s (%s)", s->id, s->agent,
	    s->role != NULL ? s->role : "no role");
	agent_join_reply(s, id, ttl, jc);
}

void
op_agent_join(struct req *r)
{
	struct session *s = r->s;
	struct presence *other;
	const char *name, *role;
	size_t nlen, rlen;
	double ttl = arg_num(r, "ttl_seconds");
	char *cname, *cause, *crole;

	if (agent_join_args(r, &name, &nlen, &role, &rlen) != 0)
		return;
	if (ttl > 0 && !presence_may_outlive(s)) {
		reply_error(r->c, r->id, ERR_LIMIT, "ttl_seconds",
		    "%d registrations outlive their connections already; join without "
		    "ttl_seconds, or keep a connection open",
		    PRESENCE_DETACHED_MAX);
		return;
	}
	/* on a team broker the name is the user's: "alice/NAME" (team.c) */
	if ((cname = team_agent_name(s->uid, name, nlen, &cause)) == NULL) {
		reply_error(r->c, r->id, ERR_INVALID, "name", "%s", cause);
		free(cause);
		return;
	}
	if ((other = presence_taken(s, cname)) != NULL) {
		reply_error(r->c, r->id, ERR_CONFLICT, "name",
		    "agent name '%s' is taken: session %s (pid %ld) joined under it %llu s ago "
		    "and is still connected; pick another name, or wait until it disconnects",
		    cname, other->s->id, (long)other->pid,
		    (unsigned long long)((mono_ms() - other->joined_ms) / 1000));
		free(cname);
		return;
	}
	crole = role != NULL ? xstrndup(role, rlen) : NULL;
	/* a shared project: the name is taken in etcd first, across hosts */
	if (shared_join(r, presence_of_session(s) != NULL ? s->agent : NULL, cname, crole, ttl,
		agent_join_commit))
		return;
	agent_join_commit(s, r->id, cname, crole, ttl, NULL);
}

/* One row of agent_list: a session, or a registration (s NULL for both when detached). */
static void
agent_pack_row(struct fbuf *fb, struct session *s, struct presence *p, uint64_t now)
{
	const char *role = s != NULL ? s->role : p->role;
	const char *client = s != NULL ? s->client_name : p->client;
	int ttl = p != NULL && p->expires_ms > now;

	pk_map_open(fb);
	pk_kstr(fb, "agent", s != NULL ? s->agent : p->agent);
	pk_kstr_opt(fb, "role", role);
	pk_kstr(fb, "session", s != NULL ? s->id : p->sid);
	pk_kint(fb, "pid", s != NULL ? s->pid : p->pid);
	pk_kstr(fb, "project", s != NULL ? s->project : p->project);
	pk_kstr(fb, "kind", s != NULL ? s->kind : p->kind);
	pk_kstr_opt(fb, "client", client);
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
	if (s != NULL)
		task_pack_session_ids(fb, s);
	else
		pk_array(fb, 0);
	pk_kbool(fb, "connected", s != NULL && s->client != NULL);
	pk_kbool(fb, "joined", p != NULL);
	if (ttl)
		pk_kdouble(fb, "expires_in_seconds", (double)(p->expires_ms - now) / 1000.0);
	pk_kstr(fb, "state",
	    s == NULL               ? "registered"
		: s->client == NULL ? "restoring"
				    : "connected");
	pk_map_close(fb);
}

/* Does the row belong in the listing? */
static int
agent_wanted(const char *project, const char *role, const char *rproject, const char *rrole)
{
	if (strcmp(project, rproject) != 0)
		return (0);
	return (role == NULL || (rrole != NULL && strcmp(role, rrole) == 0));
}

/* One row agent_list may show: a session, or a registration that outlived its own. */
struct agent_row {
	uint64_t seq; /* of the session id: rows are listed in this order */
	struct session *s;
	struct presence *p; /* for a registration only; a session's is looked up when shown */
};

/* The number in a session id ("s42": 42), 0 when it is not one. */
static uint64_t
agent_seq(const char *id, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len < 2 || len > 21 || id[0] != 's')
		return (0);
	for (i = 1; i < len; i++) {
		if (id[i] < '0' || id[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return (0);
		v = v * 10 + (uint64_t)(id[i] - '0');
	}
	return (v);
}

static int
agent_row_cmp(const void *a, const void *b)
{
	const struct agent_row *x = a, *y = b;

	return (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/* Add a row past after to v (its length in *n, its room in *cap). */
static void
agent_row_add(struct agent_row **v, size_t *n, size_t *cap, const char *id, uint64_t after,
    struct session *s, struct presence *p)
{
	uint64_t seq = agent_seq(id, strlen(id));

	if (seq <= after)
		return;
	if (*n == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		*v = xreallocarray(*v, *cap, sizeof **v);
	}
	(*v)[*n].seq = seq;
	(*v)[*n].s = s;
	(*v)[*n].p = p;
	(*n)++;
}

/*
 * The rows agent_list shows r's session, after the session after, in
 * session order; their number in *np.
 */
static struct agent_row *
agent_collect(struct req *r, const char *role, uint64_t after, size_t *np)
{
	struct agent_row *v = NULL;
	struct session *s;
	struct presence *p;
	size_t n = 0, cap = 0;

	TAILQ_FOREACH(s, &sessions, entry) {
		if (agent_wanted(r->s->project, role, s->project, s->role))
			agent_row_add(&v, &n, &cap, s->id, after, s, NULL);
	}
	TAILQ_FOREACH(p, &presences, entry) {
		if (p->s == NULL && agent_wanted(r->s->project, role, p->project, p->role))
			agent_row_add(&v, &n, &cap, p->sid, after, NULL, p);
	}
	if (n > 0)
		qsort(v, n, sizeof *v, agent_row_cmp);
	*np = n;
	return (v);
}

void
op_agent_list(struct req *r)
{
	struct agent_row *v, *row;
	struct fbuf *fb;
	uint64_t now = mono_ms(), after = 0;
	char *role = arg_strdup(r, "role");
	size_t n, i, alen, limit = (size_t)arg_int(r, "limit");
	const char *a = arg_str(r, "after", &alen);

	if (alen > 0 && (after = agent_seq(a, alen)) == 0) {
		reply_error(r->c, r->id, ERR_INVALID, "after",
		    "after takes a session id as agent_list lists them (s42)");
		free(role);
		return;
	}
	v = agent_collect(r, role, after, &n);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_str(fb, "agents");
	pk_array_open(fb);
	for (i = 0; i < n && i < limit && !reply_full(fb); i++) {
		row = &v[i];
		agent_pack_row(fb, row->s,
		    row->s != NULL ? presence_of_session(row->s) : row->p, now);
	}
	pk_array_close(fb);
	pk_kuint(fb, "count", i);
	pk_kbool(fb, "more", n > i);
	pk_map_close(fb);
	free(v);
	free(role);
	reply_end(r->c, fb);
}
