/*
 * Claims on tasks (DESIGN §5.5): atomic, one winner, and a lease bound to
 * the claimant's session rather than a heartbeat.
 *
 * Claims bound to a live session sit on one list that session_close
 * walks; a claim whose session ended gets an evtimer for its lease (no
 * reaper scans anything), and its token lets another session take it
 * over.  Blocked task_claim calls wait on one key per project
 * (project_wake) and re-check on every change that can make a task
 * claimable (wait.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

/* A parked task_claim. */
struct claim_wait {
	struct project *p;
	unsigned num; /* 0: the best ready task */
	double lease;
};

static TAILQ_HEAD(, task) claims = TAILQ_HEAD_INITIALIZER(claims);

/*
 * Bind t's claim to session s (or orphan it for NULL).  A session's row
 * in the store depends on the claims it holds, so both sessions' rows
 * are rewritten with the task's.
 */
void
claim_bind(struct task *t, struct session *s)
{
	if (t->on_claims) {
		TAILQ_REMOVE(&claims, t, centry);
		t->on_claims = 0;
	}
	if (t->lease_ev != NULL) {
		event_free(t->lease_ev);
		t->lease_ev = NULL;
	}
	if (t->claim_s != NULL && t->claim_s != s)
		session_changed(t->claim_s);
	t->claim_s = s;
	if (s != NULL) {
		TAILQ_INSERT_TAIL(&claims, t, centry);
		t->on_claims = 1;
		session_changed(s);
	}
	task_changed(t);
}

/* Forget t's claim entirely. */
void
claim_drop(struct task *t)
{
	claim_bind(t, NULL);
	t->token[0] = '\0';
	t->changes_pending = 0;
}

/* A lease ran out: the task is free again and waiting claims wake. */
static void
claim_lease_cb(evutil_socket_t fd, short events, void *arg)
{
	struct task *t = arg;
	char note[128];

	snprintf(note, sizeof note, "%s's session ended; lease of %g s ran out",
	    t->owner != NULL ? t->owner : "the claimant", t->lease);
	log_info("task %s %s: lease lost, back to todo", t->p->name, t->id);
	claim_drop(t);
	task_hist(t, NULL, "lease_expired", t->status, TS_TODO, note);
	t->status = TS_TODO;
	task_touch(t);
	project_wake(t->p);
}

/* Orphan t's claim: back to todo at due (mono_ms) unless someone takes it over. */
static void
claim_orphan_until(struct task *t, uint64_t due)
{
	uint64_t now = mono_ms();
	struct timeval tv = tv_secs(due > now ? (double)(due - now) / 1000.0 : 0);

	claim_bind(t, NULL);
	t->lease_ev = evtimer_new(base, claim_lease_cb, t);
	evtimer_add(t->lease_ev, &tv);
	t->lease_end_ms = due;
}

/* The claimant's session is gone: back to todo after the lease. */
void
claim_orphan(struct task *t)
{
	claim_orphan_until(t, mono_ms() + (uint64_t)(t->lease * 1000));
}

/* Claim t for session s: a fresh token, in_progress. */
void
claim_take(struct task *t, struct session *s, double lease)
{
	int from = (int)t->status;

	t->status = TS_IN_PROGRESS;
	random_hex(t->token, sizeof t->token);
	claim_bind(t, s);
	t->lease = lease;
	t->changes_pending = 0;
	free(t->owner);
	t->owner = xstrdup(s->agent);
	task_hist(t, s, "claimed", from, TS_IN_PROGRESS, NULL);
	task_touch(t);
}

/*
 * Is the caller t's claimant: its session, or the claim token in
 * argument tokarg (which re-binds the claim to the caller's session)?
 * Replies permission and returns 0 when not.
 */
int
claim_check(struct req *r, struct task *t, const char *tokarg)
{
	const char *tok = NULL;
	size_t n = 0;

	if (t->token[0] != '\0' && t->claim_s == r->s)
		return (1);
	if (tokarg != NULL)
		tok = arg_str(r, tokarg, &n);
	if (t->token[0] != '\0' && tok != NULL && token_cmp(t->token, tok, n) == 0) {
		if (t->status == TS_IN_PROGRESS || t->status == TS_REVIEW)
			claim_bind(t, r->s);
		return (1);
	}
	reply_error(r->c, r->id, ERR_PERMISSION, tok != NULL ? "token" : "id",
	    "%s is claimed by %s; only its claimant (that session, or the claim token "
	    "task_claim returned) may do this",
	    t->id, t->owner != NULL ? t->owner : "nobody");
	return (0);
}

/*
 * Give a restored task its claim back: bound to its session (sid) when
 * that was restored (waiting to be reclaimed), else running on its
 * lease, re-based from the stored deadline (wall ms, 0: none).  A lease
 * that ran out while the broker was down runs out at once, through the
 * usual path.
 */
void
claim_restore(struct task *t, const char *sid, int64_t lease_end)
{
	struct session *s = sid != NULL ? session_find(sid) : NULL;

	if (s != NULL && s->client == NULL)
		claim_bind(t, s);
	else if (t->status != TS_IN_PROGRESS)
		return; /* in review: nothing to give back when it ends */
	else if (lease_end == 0)
		claim_orphan(t); /* its session was not restored: as if it ended now */
	else
		claim_orphan_until(t, deadline_from_wall(lease_end));
}

/* ---- task_claim ---- */

/* Reply to a claim: claimed:true with the task, or claimed:false with why. */
static void
claim_reply(struct client *c, uint64_t id, struct project *p, struct task *t, int claimed,
    const char *hint)
{
	struct fbuf *fb = reply_begin(id);

	pk_map_open(fb);
	pk_kbool(fb, "claimed", claimed);
	if (t != NULL)
		pk_kstr(fb, "id", t->id);
	if (claimed) {
		pk_kstr(fb, "token", t->token);
		pk_kdouble(fb, "lease_seconds", t->lease);
		pk_str(fb, "task");
		pk_map_open(fb);
		task_pk_fields(fb, t, 1);
		pk_map_close(fb);
	} else if (t != NULL)
		pk_kstr(fb, "owner", t->token[0] != '\0' ? t->owner : NULL);
	pk_kstr(fb, "project_status", project_status_names[p->status]);
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	reply_end(c, fb);
}

/* The best task s may claim now: changes requested of s first, then ready ones. */
static struct task *
claim_pick(struct project *p, struct session *s, int *changes)
{
	struct task *t, *best = NULL;
	size_t i;

	*changes = 0;
	for (i = 0; i < p->ntasks; i++) {
		t = p->tasks[i];
		if (t != NULL && t->status == TS_IN_PROGRESS && t->changes_pending &&
		    t->claim_s == s) {
			*changes = 1;
			return (t);
		}
	}
	for (i = 0; i < p->ntasks; i++) {
		t = p->tasks[i];
		if (t != NULL && task_claimable_by(t, s) &&
		    (best == NULL || t->priority > best->priority))
			best = t;
	}
	return (best);
}

#define CLAIM_HINT_TAKEN \
	"yours: do it, then task_submit {id, notes}; take file: locks " \
	"before editing shared files"

/*
 * Try to answer a task_claim of a given task (cw->num): 1 when
 * answered; when final, it answers claimed:false rather than wait.
 */
static int
claim_try_num(struct session *s, uint64_t id, struct claim_wait *cw, int final)
{
	struct project *p = cw->p;
	struct task *t = task_by_num(p, cw->num);
	char hint[256];
	int changes;

	if (t->status == TS_IN_PROGRESS && t->claim_s == s) {
		changes = t->changes_pending;
		t->changes_pending = 0;
		task_changed(t);
		claim_reply(s->client, id, p, t, 1,
		    changes ? "changes were requested: read feedback, fix, then task_submit"
			    : "already yours; task_submit when done");
		return (1);
	}
	if (task_claimable_by(t, s)) {
		claim_take(t, s, cw->lease);
		claim_reply(s->client, id, p, t, 1, CLAIM_HINT_TAKEN);
		return (1);
	}
	if (!final && t->status != TS_DONE && t->status != TS_CANCELLED &&
	    t->status != TS_REVIEW)
		return (0);
	snprintf(hint, sizeof hint,
	    "%s is %s%s%s; call task_claim with wait_seconds to "
	    "wait for it, or without id for another task",
	    t->id, task_status_names[t->status], t->token[0] != '\0' ? " by " : "",
	    t->token[0] != '\0'        ? t->owner
		: t->status == TS_TODO ? (task_deps_done(t) ? ", assigned to someone else"
							    : ", waiting for its dependencies")
				       : "");
	claim_reply(s->client, id, p, t, 0, hint);
	return (1);
}

/*
 * Try to answer a task_claim of session s (request id): claim a task
 * and answer, or when final answer claimed:false.  1 when answered.
 */
static int
claim_try(struct session *s, uint64_t id, struct claim_wait *cw, int final)
{
	struct project *p = cw->p;
	struct task *t;
	char hint[256];
	int changes = 0;

	if (p->status == PS_COMPLETE || p->status == PS_STOPPED) {
		snprintf(hint, sizeof hint, "the project is %s: stop working on it",
		    project_status_names[p->status]);
		claim_reply(s->client, id, p, NULL, 0, hint);
		return (1);
	}
	if (cw->num != 0)
		return (claim_try_num(s, id, cw, final));
	if ((t = claim_pick(p, s, &changes)) != NULL) {
		if (changes) {
			t->changes_pending = 0;
			task_changed(t);
			claim_reply(s->client, id, p, t, 1,
			    "changes were requested on your "
			    "task: read feedback, fix, then task_submit");
		} else {
			claim_take(t, s, cw->lease);
			claim_reply(s->client, id, p, t, 1, CLAIM_HINT_TAKEN);
		}
		return (1);
	}
	if (!final)
		return (0);
	claim_reply(s->client, id, p, NULL, 0,
	    p->ntasks == 0
		? "no tasks yet; call task_claim with wait_seconds to wait for the planner"
		: "no ready task now; call task_claim again with wait_seconds to wait for one");
	return (1);
}

static int
claim_ready(struct bwait *w)
{
	return (claim_try(w->s, w->req_id, w->arg, 0));
}

static void
claim_timeout(struct bwait *w)
{
	claim_try(w->s, w->req_id, w->arg, 1);
}

/* task_claim {id, token}: take over an earlier claim of t with its token. */
static void
claim_reattach(struct req *r, struct project *p, struct task *t)
{
	if (t->token[0] == '\0') {
		reply_error(r->c, r->id, ERR_CONFLICT, "token",
		    "%s is %s and has no claim to take over", t->id,
		    task_status_names[t->status]);
		return;
	}
	if (!claim_check(r, t, "token"))
		return;
	task_hist(t, r->s, "reattached", -1, -1, NULL);
	task_touch(t);
	claim_reply(r->c, r->id, p, t, 1, "the claim is bound to this session now");
}

void
op_task_claim(struct req *r)
{
	struct project *p = project_ensure(r->s->project);
	struct claim_wait *cw;
	struct bwait *w;
	struct task *t = NULL;
	double wait = arg_num(r, "wait_seconds");

	if (arg_has(r, "id") && (t = task_find(r, p, arg_get(r, "id"), "id")) == NULL)
		return;
	if (t != NULL && arg_has(r, "token")) {
		claim_reattach(r, p, t);
		return;
	}
	if (t != NULL &&
	    (t->status == TS_DONE || t->status == TS_CANCELLED || t->status == TS_REVIEW) &&
	    p->status != PS_COMPLETE && p->status != PS_STOPPED) {
		task_refuse(r, t, TS_IN_PROGRESS);
		return;
	}
	cw = xcalloc(1, sizeof *cw);
	cw->p = p;
	cw->num = t != NULL ? t->num : 0;
	cw->lease = arg_num(r, "lease_seconds");
	if (wait <= 0) {
		claim_try(r->s, r->id, cw, 1);
		free(cw);
		return;
	}
	w = wait_add(r, p->wkey, wait, claim_ready, claim_timeout, cw, 0);
	if (w == NULL)
		free(cw);
	else
		w->free_arg = free;
}

/* ---- sessions ---- */

/* A session ended: its in-progress claims run on their leases. */
static void
task_session_closed(struct session *s)
{
	struct task *t, *next;

	for (t = TAILQ_FIRST(&claims); t != NULL; t = next) {
		next = TAILQ_NEXT(t, centry);
		if (t->claim_s != s)
			continue;
		if (t->status == TS_IN_PROGRESS)
			claim_orphan(t);
		else
			claim_bind(t, NULL); /* in review: nothing to return yet */
	}
}

/* Claims bound to session s (they keep its row in the store while it is away). */
static size_t
task_session_claims(struct session *s)
{
	struct task *t;
	size_t n = 0;

	TAILQ_FOREACH(t, &claims, centry) {
		if (t->claim_s == s)
			n++;
	}
	return (n);
}

/* The ids of the tasks session s holds, as an array (agent_list's tasks). */
void
task_pack_session_ids(struct fbuf *fb, struct session *s)
{
	struct task *t;

	pk_array_open(fb);
	TAILQ_FOREACH(t, &claims, centry) {
		if (t->claim_s == s)
			pk_str(fb, t->id);
	}
	pk_array_close(fb);
}

/* Claims follow their sessions: registered after the lock module's hooks. */
void
task_init(void)
{
	session_on_close(task_session_closed);
	session_on_hold(task_session_claims);
}
