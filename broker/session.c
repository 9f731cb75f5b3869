/*
 * Sessions: who is connected, under which name, in which project.
 *
 * What a session holds belongs to the modules that hold it (locks,
 * waits, presence, task claims); they register hooks here and session.c
 * calls none of them by name: session_on_close (the session ended),
 * session_on_cancel (a cancel frame for one of its requests) and
 * session_on_hold (does it hold something that keeps its row in the
 * store).  Hooks run in the order they were registered (main.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"

/* Bounds on what a hello carries (agent and role: common.h, as agent_join) */
#define SESSION_PROJECT_MAX 4096 /* a project: a path */
#define SESSION_KIND_MAX 16      /* cli, mcp... */
#define SESSION_LABEL_MAX 128    /* the client's name and version */

/* Sessions per project, so that status does not walk every session. */
struct pcount {
	char *project;
	size_t n;
	UT_hash_handle hh;
};

/* One module's hooks; each registration fills one of them. */
struct session_hook {
	void (*closed)(struct session *);
	int (*cancel)(struct session *, uint64_t);
	size_t (*holds)(struct session *);
};
#define SESSION_HOOKS_MAX 16

struct session_list sessions = TAILQ_HEAD_INITIALIZER(sessions);
static struct session_hook hooks[SESSION_HOOKS_MAX];
static size_t nhooks;
static struct session *sessions_by_id;
static struct pcount *pcounts;
static uint64_t session_seq;

/* A new hook entry, at the end of the order. */
static struct session_hook *
session_hook_add(void)
{
	if (nhooks == SESSION_HOOKS_MAX)
		fatalx("too many session hooks");
	return (&hooks[nhooks++]);
}

/* Call fn with every session that closes, before it is freed. */
void
session_on_close(void (*fn)(struct session *))
{
	session_hook_add()->closed = fn;
}

/* Offer fn every cancel frame; it returns 1 when the request was its own. */
void
session_on_cancel(int (*fn)(struct session *, uint64_t))
{
	session_hook_add()->cancel = fn;
}

/* Ask fn what a session holds (non-zero keeps the session's row stored). */
void
session_on_hold(size_t (*fn)(struct session *))
{
	session_hook_add()->holds = fn;
}

/* A cancel frame for request id: the first module that had it answers; 1 if one did. */
int
session_cancel(struct session *s, uint64_t id)
{
	size_t i;

	for (i = 0; i < nhooks; i++) {
		if (hooks[i].cancel != NULL && hooks[i].cancel(s, id))
			return (1);
	}
	return (0);
}

/* Does s hold anything a module keeps for it across a restart? */
static int
session_holds(struct session *s)
{
	size_t i;

	for (i = 0; i < nhooks; i++) {
		if (hooks[i].holds != NULL && hooks[i].holds(s) > 0)
			return (1);
	}
	return (0);
}

/* Enter s in the lists and in its project's count. */
static void
session_link(struct session *s)
{
	struct pcount *pc;

	HASH_ADD_STR(sessions_by_id, id, s);
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	HASH_FIND_STR(pcounts, s->project, pc);
	if (pc == NULL) {
		pc = xcalloc(1, sizeof *pc);
		pc->project = xstrdup(s->project);
		HASH_ADD_KEYPTR(hh, pcounts, pc->project, strlen(pc->project), pc);
	}
	pc->n++;
}

/* Take s out of the lists and its project's count. */
static void
session_unlink(struct session *s)
{
	struct pcount *pc;

	HASH_DEL(sessions_by_id, s);
	TAILQ_REMOVE(&sessions, s, entry);
	HASH_FIND_STR(pcounts, s->project, pc);
	if (pc != NULL && --pc->n == 0) {
		HASH_DEL(pcounts, pc);
		free(pc->project);
		free(pc);
	}
}

/*
 * Copy an optional string field of the hello, bounded and a name (valid
 * UTF-8 without control characters, utf8_check); NULL when absent, -1
 * when present but bad.
 */
static int
session_field(const msgpack_object *hello, const char *key, size_t max, char **out,
    char **cause)
{
	const msgpack_object *o = mp_get(hello, key);
	const char *s;
	char why[96];
	size_t n;

	*out = NULL;
	if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
		return (0);
	if (mp_str(o, &s, &n) != 0 || n > max) {
		xasprintf(cause, "hello: %s must be a string of at most %zu bytes", key, max);
		return (-1);
	}
	if (utf8_check(s, n, 0, why, sizeof why) != 0) {
		xasprintf(cause, "hello: %s %s", key, why);
		return (-1);
	}
	*out = n > 0 ? xstrndup(s, n) : NULL;
	return (0);
}

/*
 * The hello's ancestry: [[pid, start], ...], parent first (proto.h);
 * absent is none, anything malformed is refused.
 */
static int
session_ancestry(struct session *s, const msgpack_object *o, char **cause)
{
	const msgpack_object *e;
	int64_t pid, start;
	uint32_t i;

	if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
		return (0);
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > HELLO_ANCESTRY_MAX) {
		xasprintf(cause, "hello: ancestry must be an array of at most %d [pid, start]",
		    HELLO_ANCESTRY_MAX);
		return (-1);
	}
	if (o->via.array.size == 0)
		return (0);
	s->ancestry = xreallocarray(NULL, o->via.array.size, sizeof *s->ancestry);
	for (i = 0; i < o->via.array.size; i++) {
		e = &o->via.array.ptr[i];
		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2 ||
		    mp_int(&e->via.array.ptr[0], &pid) != 0 ||
		    mp_int(&e->via.array.ptr[1], &start) != 0 || pid <= 0 || pid >= INT32_MAX ||
		    start < 0) {
			xasprintf(cause, "hello: ancestry[%u] must be [pid, start]", i);
			return (-1);
		}
		s->ancestry[i].pid = (pid_t)pid;
		s->ancestry[i].start = (uint64_t)start;
	}
	s->nancestry = o->via.array.size;
	return (0);
}

/* A session holding nothing, not linked yet. */
static struct session *
session_new(void)
{
	struct session *s = xcalloc(1, sizeof *s);

	TAILQ_INIT(&s->grants);
	TAILQ_INIT(&s->waiters);
	TAILQ_INIT(&s->bwaits);
	return (s);
}

/* Free a session's memory (it is unlinked, and holds nothing). */
static void
session_free(struct session *s)
{
	free(s->agent);
	free(s->role);
	free(s->project);
	free(s->kind);
	free(s->client_name);
	free(s->client_version);
	free(s->agent_session);
	free(s->ancestry);
	free(s->row);
	free(s);
}

/* What a hello or a row left out: the default project and kind, agent if NULL. */
static void
session_defaults(struct session *s, const char *agent)
{
	if (s->agent == NULL && agent != NULL)
		s->agent = xstrdup(agent);
	if (s->project == NULL)
		s->project = xstrdup("default");
	if (s->kind == NULL)
		s->kind = xstrdup("cli");
}

/* The session's agent name as its peer goes by it (team.c: user/agent on a team broker). */
static int
session_name(struct session *s, char **cause)
{
	char *full;

	if ((full = team_agent_name(s->uid, s->agent, strlen(s->agent), cause)) == NULL)
		return (-1);
	free(s->agent);
	s->agent = full;
	return (0);
}

/* Create the session a hello asks for. */
struct session *
session_create(struct client *c, const msgpack_object *hello, char **cause)
{
	const msgpack_object *client = mp_get(hello, "client");
	struct session *s = session_new();
	int64_t pid;

	if (session_field(hello, "agent", AGENT_NAME_MAX_LEN, &s->agent, cause) != 0 ||
	    session_field(hello, "role", ROLE_MAX_LEN, &s->role, cause) != 0 ||
	    session_field(hello, "project", SESSION_PROJECT_MAX, &s->project, cause) != 0 ||
	    session_field(hello, "kind", SESSION_KIND_MAX, &s->kind, cause) != 0 ||
	    (client != NULL &&
		(session_field(client, "name", SESSION_LABEL_MAX, &s->client_name, cause) != 0 ||
		    session_field(client, "version", SESSION_LABEL_MAX, &s->client_version,
			cause) != 0)) ||
	    session_field(hello, "agent_session", HELLO_AGENT_SESSION_MAX, &s->agent_session,
		cause) != 0 ||
	    session_ancestry(s, mp_get(hello, "ancestry"), cause) != 0) {
		session_free(s);
		return (NULL);
	}
	s->pid = c->pid;
	if ((pid = mp_get_int(hello, "pid", 0)) > 0 && pid < INT32_MAX)
		s->pid = (pid_t)pid;
	if (s->agent == NULL)
		xasprintf(&s->agent, "cli-%ld", (long)s->pid);
	s->uid = c->uid;
	if (session_name(s, cause) != 0) {
		session_free(s);
		return (NULL);
	}
	session_defaults(s, NULL);
	session_seq++;
	snprintf(s->id, sizeof s->id, "s%llu", (unsigned long long)session_seq);
	random_hex(s->token, sizeof s->token);
	s->connected_ms = s->active_ms = mono_ms();
	s->client = c;
	session_link(s);
	log_info("session %s: agent %s pid %ld project %s", s->id, s->agent, (long)s->pid,
	    s->project);
	return (s);
}

struct session *
session_find(const char *id)
{
	struct session *s;

	HASH_FIND_STR(sessions_by_id, id, s);
	return (s);
}

/* Sessions in a project, or all of them for NULL. */
size_t
session_count(const char *project)
{
	struct pcount *pc;

	if (project == NULL)
		return (HASH_COUNT(sessions_by_id));
	HASH_FIND_STR(pcounts, project, pc);
	return (pc != NULL ? pc->n : 0);
}

/* The connection ended: every module lets go of what the session held. */
void
session_close(struct session *s)
{
	size_t i;

	log_info("session %s: closed", s->id);
	if (s->grace_ev != NULL)
		event_free(s->grace_ev);
	for (i = 0; i < nhooks; i++) {
		if (hooks[i].closed != NULL)
			hooks[i].closed(s);
	}
	session_unlink(s);
	store_mark(&session_store_kind, s->id); /* gone: its row is deleted */
	session_free(s);
}

/*
 * Session ids continue past everything a previous run handed out, so an
 * id never names two sessions: they start above the restored revision.
 */
void
session_seed(uint64_t seq)
{
	if (seq > session_seq)
		session_seq = seq;
}

/* What a session holds changed: its row (kept only while it holds) is rewritten. */
void
session_changed(struct session *s)
{
	store_mark(&session_store_kind, s->id);
}

/* The session's agent or role changed (presence.c): its row is packed again. */
void
session_renamed(struct session *s)
{
	free(s->row);
	s->row = NULL;
	session_changed(s);
}

/* A restored session nobody reclaimed within the grace period. */
static void
session_grace_cb(evutil_socket_t fd, short events, void *arg)
{
	struct session *s = arg;

	log_warnx("session %s (%s): not reclaimed within %g s; releasing what it held", s->id,
	    s->agent, cfg.grace);
	session_close(s);
}

/*
 * A hello carrying a session token: hand a restored session back to its
 * owner, of the same uid (on a team broker its name says whose it is).
 * NULL when no restored session of that uid has that token.
 */
struct session *
session_reclaim(struct client *c, const char *token, size_t len)
{
	struct session *s;

	TAILQ_FOREACH(s, &sessions, entry) {
		if (s->client == NULL && s->uid == c->uid &&
		    token_cmp(s->token, token, len) == 0)
			break;
	}
	if (s == NULL)
		return (NULL);
	if (s->grace_ev != NULL) {
		event_free(s->grace_ev);
		s->grace_ev = NULL;
	}
	s->client = c;
	s->active_ms = mono_ms();
	log_info("session %s (%s): reclaimed", s->id, s->agent);
	return (s);
}

/* The row of a session: what it is, not what it holds. */
static void
session_pack_row(struct session *s, struct fbuf *fb)
{
	size_t i;

	pk_map_open(fb);
	pk_kstr(fb, "token", s->token);
	pk_kstr(fb, "agent", s->agent);
	pk_kstr(fb, "role", s->role);
	pk_kstr(fb, "project", s->project);
	pk_kstr(fb, "kind", s->kind);
	pk_kstr(fb, "client", s->client_name);
	pk_kint(fb, "pid", s->pid);
	pk_kuint(fb, "uid", s->uid);
	pk_kstr_opt(fb, "agent_session", s->agent_session);
	pk_str(fb, "ancestry");
	pk_array(fb, s->nancestry);
	for (i = 0; i < s->nancestry; i++) {
		pk_array(fb, 2);
		pk_int(fb, s->ancestry[i].pid);
		pk_uint(fb, s->ancestry[i].start);
	}
	pk_map_close(fb);
}

/*
 * Row of a session that holds locks or task claims; 0 once it holds
 * nothing.  Its fields do not change but by session_renamed, and every
 * first lock or claim stores it again: it is packed once and kept
 * (callgrind, a lock acquire and release: ~3.5 k instructions a pair).
 */
static int
session_pack(const struct store_kind *kind, const char *id, struct fbuf *fb)
{
	struct session *s = session_find(id);
	struct fbuf row;

	if (s == NULL || !session_holds(s))
		return (0);
	if (s->row == NULL) {
		fbuf_init(&row);
		session_pack_row(s, &row);
		if (row.err) {
			fb->err = 1;
			fbuf_free(&row);
			return (1);
		}
		s->rowlen = row.sb.size - FRAME_HDR;
		s->row = xmalloc(s->rowlen);
		memcpy(s->row, row.sb.data + FRAME_HDR, s->rowlen);
		fbuf_free(&row);
	}
	pk_raw(fb, s->row, s->rowlen);
	return (1);
}

/* Bring a session back without a connection, for its owner to reclaim. */
static int
session_restore(const struct store_kind *kind, const char *id, const msgpack_object *o,
    char **cause)
{
	struct session *s;
	const char *tok;
	size_t n;

	if (mp_str(mp_get(o, "token"), &tok, &n) != 0 || n != sizeof s->token - 1 ||
	    strlen(id) >= sizeof s->id) {
		xasprintf(cause, "session %s: bad row", id);
		return (-1);
	}
	s = session_new();
	snprintf(s->id, sizeof s->id, "%s", id);
	memcpy(s->token, tok, n);
	s->agent = mp_get_strdup(o, "agent");
	s->role = mp_get_strdup(o, "role");
	s->project = mp_get_strdup(o, "project");
	s->kind = mp_get_strdup(o, "kind");
	s->client_name = mp_get_strdup(o, "client");
	s->agent_session = mp_get_strdup(o, "agent_session");
	if (session_ancestry(s, mp_get(o, "ancestry"), cause) != 0) {
		session_free(s);
		return (-1);
	}
	session_defaults(s, "unknown");
	s->pid = (pid_t)mp_get_int(o, "pid", 0);
	/* rows from before uids were kept: the broker's own */
	s->uid = (uid_t)mp_get_int(o, "uid", (int64_t)getuid());
	s->connected_ms = s->active_ms = mono_ms();
	session_link(s);
	s->grace_ev = timer_new(session_grace_cb, s);
	timer_in(s->grace_ev, cfg.grace);
	return (0);
}

const struct store_kind session_store_kind = {
	.name = "session",
	.pack = session_pack,
	.restore = session_restore,
};
