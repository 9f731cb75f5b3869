/*
 * baton hook's operations (DESIGN 12): a hook is a short-lived session
 * of its own that acts as its agent's `baton mcp` session.  It finds
 * that session by the agent CLI's session id when both carry it (Claude
 * Code hands it to MCP servers and to hooks), else by the agent process
 * both descend from: the MCP server's parent, found among the hook's
 * ancestors (hooks may run under a shell, so the nearest such parent
 * wins).  Several baton sessions under one agent process that are not
 * one agent name are ambiguous, and an ambiguous hook acts as nobody:
 * never as another agent.  hook_edit says which reservations stand in
 * an edit's way (or a commit's: baton guard, whose refusals and bypasses
 * it logs) and may reserve on the first edit; hook_news tells what
 * is new for the agent (notice.c), once, and can wait for it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define HOOK_MATCH_MAX 8 /* sessions of one agent a hook acts for */
#define HOOK_RESERVE_REASON "reserved on its first edit (baton hook --reserve-on-edit)"

/* The sessions a hook acts for (s[0] first), or why none. */
struct hook_match {
	struct session *s[HOOK_MATCH_MAX];
	size_t n;
	const char *how; /* "session id" or "process" */
	char why[200];   /* n == 0: why not */
};

static int
hook_same(const struct ancestor *a, const struct ancestor *b)
{
	return (a->pid == b->pid && a->start == b->start);
}

/* Where in h's ancestry the agent process of s (its parent) is; -1 when not there. */
static int
hook_depth(const struct session *h, const struct session *s)
{
	size_t i;

	if (s->nancestry == 0)
		return (-1);
	for (i = 0; i < h->nancestry; i++) {
		if (hook_same(&h->ancestry[i], &s->ancestry[0]))
			return ((int)i);
	}
	return (-1);
}

/* Is s a baton mcp session hook h could act as: of the same user (a team broker's)? */
static int
hook_candidate(const struct session *h, const struct session *s)
{
	return (s != h && s->uid == h->uid && s->kind != NULL && strcmp(s->kind, "mcp") == 0);
}

static void
hook_add(struct hook_match *m, struct session *s)
{
	if (m->n < HOOK_MATCH_MAX)
		m->s[m->n++] = s;
}

/* The sessions hook session h acts for: by session id, else by process. */
static void
hook_match(struct session *h, struct hook_match *m)
{
	struct session *s;
	size_t i;
	int d, best = -1;

	memset(m, 0, sizeof *m);
	if (h->agent_session != NULL) {
		m->how = "session id";
		TAILQ_FOREACH(s, &sessions, entry) {
			if (hook_candidate(h, s) && s->agent_session != NULL &&
			    strcmp(s->agent_session, h->agent_session) == 0)
				hook_add(m, s);
		}
		if (m->n > 0)
			return;
	}
	m->how = "process";
	TAILQ_FOREACH(s, &sessions, entry) {
		if (!hook_candidate(h, s) || (d = hook_depth(h, s)) < 0 ||
		    (best >= 0 && d > best))
			continue;
		if (d < best || best < 0)
			m->n = 0;
		best = d;
		hook_add(m, s);
	}
	for (i = 1; i < m->n; i++) {
		if (strcmp(m->s[i]->agent, m->s[0]->agent) != 0) {
			snprintf(m->why, sizeof m->why,
			    "%zu baton mcp sessions (%s, %s%s) run under this agent's "
			    "process: configure baton once for this agent",
			    m->n, m->s[0]->agent, m->s[i]->agent, m->n > 2 ? ", ..." : "");
			m->n = 0;
			return;
		}
	}
	if (m->n == 0)
		snprintf(m->why, sizeof m->why,
		    "no baton mcp session shares this hook's agent %s",
		    h->agent_session != NULL ? "session id or process" : "process");
}

/* Is the grant of session id sid one of the matched sessions'? */
static int
hook_own(const char *sid, void *arg)
{
	const struct hook_match *m = arg;
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (strcmp(m->s[i]->id, sid) == 0)
			return (1);
	}
	return (0);
}

/* The identity part of a hook's answer: matched, agent, session, how or why not. */
static void
hook_pk_who(struct fbuf *fb, const struct hook_match *m)
{
	pk_kbool(fb, "matched", m->n > 0);
	if (m->n > 0) {
		pk_kstr(fb, "agent", m->s[0]->agent);
		pk_kstr(fb, "session", m->s[0]->id);
		pk_kstr_opt(fb, "role", m->s[0]->role);
		pk_kstr(fb, "project", m->s[0]->project);
		pk_kstr(fb, "matched_by", m->how);
	} else
		pk_kstr(fb, "unmatched", m->why);
}

/* One grant in an edit's way, with the path it stands in the way of. */
struct hook_blocked {
	struct fbuf *fb;
	const char *path;
	size_t len, n;
	char said[400]; /* the first of them, for the log of a commit (guard) */
};

static void
hook_pk_blocker(const struct lock_holding *h, void *arg)
{
	struct hook_blocked *b = arg;

	pk_map_open(b->fb);
	pk_str(b->fb, "path");
	pk_strn(b->fb, b->path, b->len);
	pk_kstr(b->fb, "name", h->name);
	pk_kstr(b->fb, "agent", h->agent);
	pk_kstr(b->fb, "session", h->sid);
	pk_kstr(b->fb, "mode", h->mode);
	pk_kdouble(b->fb, "age_seconds", h->age_seconds);
	if (h->expires_in_seconds > 0)
		pk_kdouble(b->fb, "expires_in_seconds", h->expires_in_seconds);
	pk_kstr_opt(b->fb, "reason", h->reason);
	pk_map_close(b->fb);
	if (b->n++ < 3)
		snprintf(b->said + strlen(b->said), sizeof b->said - strlen(b->said),
		    "%s%.*s (%s, held by %s)", b->n > 1 ? ", " : "", (int)b->len, b->path,
		    h->name, h->agent);
}

/*
 * The grants in the way of every path of the edit, packed under
 * "blockers" and counted in b; 0, or -1 (fb unusable) with cause for a
 * bad path.
 */
static int
hook_blockers(struct hook_blocked *b, struct session *as, struct hook_match *m,
    const msgpack_object *paths, char **cause)
{
	uint32_t i;

	pk_str(b->fb, "blockers");
	pk_array_open(b->fb);
	for (i = 0; i < paths->via.array.size; i++) {
		mp_str(&paths->via.array.ptr[i], &b->path, &b->len);
		if (lock_edit_blockers(as, b->path, b->len, hook_own, m, hook_pk_blocker, b,
			cause) < 0)
			return (-1);
	}
	pk_array_close(b->fb);
	return (0);
}

/*
 * A commit or push that baton guard refused, or let through because the
 * user said BATON_GUARD=off: one line in the broker's log, always
 * written, with who committed (the agent, or the guard's own session
 * when baton could not tell) and what was in the way.
 */
static void
hook_guard_log(struct req *r, const struct hook_match *m, const struct hook_blocked *b,
    uint32_t npaths)
{
	size_t glen;
	const char *guard = arg_str(r, "guard", &glen);
	char who[200];

	if (m->n > 0)
		snprintf(who, sizeof who, "agent %s (session %s)", m->s[0]->agent, m->s[0]->id);
	else
		snprintf(who, sizeof who,
		    "an agent baton could not tell (guard session %s, pid %ld)", r->s->id,
		    (long)r->s->pid);
	if (arg_bool(r, "bypass"))
		log_notice("guard %.*s in project %s: %s went ahead with BATON_GUARD=off: %u "
			   "paths, %zu reservations of other agents in the way%s%s%s",
		    (int)glen, guard, r->s->project, who, npaths, b->n, b->n > 0 ? ": " : "",
		    b->said, b->n > 3 ? ", ..." : "");
	else if (b->n > 0)
		log_notice("guard %.*s in project %s: refused for %s: %s%s", (int)glen, guard,
		    r->s->project, who, b->said, b->n > 3 ? ", ..." : "");
}

/* Reserve every path of an edit nobody is in the way of, packed under "reserved". */
static void
hook_reserve(struct fbuf *fb, struct hook_match *m, const msgpack_object *paths)
{
	const char *path;
	char *name, *cause = NULL;
	size_t len;
	uint32_t i;

	pk_str(fb, "reserved");
	pk_array_open(fb);
	for (i = 0; i < paths->via.array.size; i++) {
		mp_str(&paths->via.array.ptr[i], &path, &len);
		if (lock_edit_reserve(m->s[0], path, len, hook_own, m, HOOK_RESERVE_REASON,
			&name, &cause) == 1 &&
		    name != NULL) {
			pk_str(fb, name);
			free(name);
		}
		free(cause); /* the paths were checked by hook_blockers */
		cause = NULL;
	}
	pk_array_close(fb);
}

void
op_hook_edit(struct req *r)
{
	const msgpack_object *paths = arg_get(r, "paths");
	struct hook_blocked b;
	struct hook_match m;
	char *cause = NULL;

	hook_match(r->s, &m);
	memset(&b, 0, sizeof b);
	b.fb = reply_begin(r->id);
	pk_map_open(b.fb);
	hook_pk_who(b.fb, &m);
	/* an agent baton cannot tell holds nothing: it sees the hook's own project */
	if (hook_blockers(&b, m.n > 0 ? m.s[0] : r->s, &m, paths, &cause) != 0) {
		fbuf_free(b.fb);
		free(b.fb);
		reply_error(r->c, r->id, ERR_INVALID, "paths", "%s", cause);
		free(cause);
		return;
	}
	if (arg_has(r, "guard"))
		hook_guard_log(r, &m, &b, paths->via.array.size);
	pk_kbool(b.fb, "allowed", b.n == 0);
	if (b.n == 0 && m.n > 0 && arg_bool(r, "reserve"))
		hook_reserve(b.fb, &m, paths);
	pk_map_close(b.fb);
	reply_end(r->c, b.fb);
}

/* What re-primes an agent: who it is, what it holds, its mail, what to do next. */
static void
hook_pk_prime(struct fbuf *fb, struct session *s)
{
	char *hint = guide_join_hint(s, NULL), *steps = guide_next_steps(s, s->role);

	pk_str(fb, "locks");
	lock_pack_session_names(fb, s);
	pk_str(fb, "tasks");
	task_pack_session_ids(fb, s);
	pk_kuint(fb, "unread", msg_unread(s));
	pk_kuint(fb, "waiting", msg_waiting_on(s));
	pk_kstr(fb, "hint", hint);
	pk_kstr(fb, "next_steps", steps);
	free(hint);
	free(steps);
}

/* Answer hook_news for hook session h: who, the prime when asked, the news (told once). */
static void
hook_news_answer(struct session *h, uint64_t id, int prime, int skip)
{
	struct hook_match m;
	struct fbuf *fb;

	hook_match(h, &m);
	fb = reply_begin(id);
	pk_map_open(fb);
	hook_pk_who(fb, &m);
	if (m.n > 0 && prime)
		hook_pk_prime(fb, m.s[0]);
	if (m.n > 0 && !skip)
		notice_pack_news(fb, m.s[0]);
	else {
		pk_str(fb, "news");
		pk_array(fb, 0);
		pk_kbool(fb, "more", 0);
	}
	pk_map_close(fb);
	reply_end(h->client, fb);
}

/* Has the agent hook session h acts for news now? */
static int
hook_news_now(struct session *h)
{
	struct hook_match m;

	hook_match(h, &m);
	return (m.n > 0 && notice_pending(m.s[0]));
}

/*
 * A hook_news that waits: parked on two keys, new mail and task changes
 * in the agent's project; whichever answers ends the other.
 */
struct hook_wait {
	struct bwait *w[2];
	int refs;
};

static void
hook_wait_unref(void *arg)
{
	struct hook_wait *hw = arg;

	if (--hw->refs == 0)
		free(hw);
}

/* w answered: end its sibling on the other key. */
static void
hook_wait_sibling(struct bwait *w)
{
	struct hook_wait *hw = w->arg;
	struct bwait *o = hw->w[0] == w ? hw->w[1] : hw->w[0];

	hw->w[0] = hw->w[1] = NULL;
	if (o != NULL)
		wait_end(o);
}

static int
hook_wait_ready(struct bwait *w)
{
	if (!hook_news_now(w->s))
		return (0);
	hook_news_answer(w->s, w->req_id, 0, 0);
	hook_wait_sibling(w);
	return (1);
}

static void
hook_wait_timeout(struct bwait *w)
{
	hook_news_answer(w->s, w->req_id, 0, 0);
	hook_wait_sibling(w);
}

/* Wait up to secs for news of the agent of m in its project. */
static void
hook_news_wait(struct req *r, struct hook_match *m, double secs)
{
	struct hook_wait *hw = xcalloc(1, sizeof *hw);
	const char *keys[2];
	size_t i;

	keys[0] = msg_news_key(m->s[0]->project);
	keys[1] = task_news_key(m->s[0]->project);
	for (i = 0; i < 2; i++) {
		/* the caller found no news: neither key can answer at once */
		if ((hw->w[i] = wait_add(r, keys[i], secs, hook_wait_ready, hook_wait_timeout,
			 hw, 0)) == NULL)
			fatalx("hook_news: answered while parking");
		hw->refs++;
		hw->w[i]->free_arg = hook_wait_unref;
	}
}

void
op_hook_news(struct req *r)
{
	double secs = arg_num(r, "wait_seconds");
	int prime = arg_bool(r, "prime");
	struct hook_match m;

	hook_match(r->s, &m);
	if (m.n > 0 && !prime && secs > 0 && !notice_pending(m.s[0])) {
		hook_news_wait(r, &m, secs);
		return;
	}
	hook_news_answer(r->s, r->id, prime,
	    !prime && m.n > 0 && notice_recent(m.s[0], arg_num(r, "interval_seconds")));
}
