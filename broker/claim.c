/*
 * Claims on tasks (DESIGN §5.5): atomic, one winner, and a lease bound to
 * the claimant's session rather than a heartbeat.
 *
 * Claims bound to a live session sit on one list that session_close
 * walks; a claim whose session ended gets an evtimer for its lease (no
 * reaper scans anything), and its token lets another session take it
 * over.  Blocked task_claim calls wait on one key per project
 * (project_wake) and re-check on every change that can make a task
 * claimable (wait.c), a release of a file reservation among them.
 *
 * A claim reserves the task's files for the claimant (lockhold.c): the
 * reservation belongs to the claim, not to a session, and goes with it
 * on submit, release or a lease that runs out.  A task whose files
 * others hold or wait for is not claimable yet: a claim without id
 * takes another, a claim of it waits for them (or says who holds them).
 *
 * A reviewer claims a review (task_claim {review: true}): one reviewer
 * per task, bound to its session; it ends with the verdict, or with the
 * session, when the review is free for another.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

static TAILQ_HEAD(, task) claims = TAILQ_HEAD_INITIALIZER(claims);
static TAILQ_HEAD(, task) reviews = TAILQ_HEAD_INITIALIZER(reviews);

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

/* Are t's files free for session sid?  When not, packs the holders into fb (if any). */
int
claim_files_free(const struct task *t, const char *sid, struct fbuf *fb)
{
	if (t->ftoken[0] != '\0')
		return (1); /* held already */
	return (lock_hold_free(t->p->name, sid, t->files, t->nfiles, fb));
}

/* Reserve t's files for its claimant (free: the caller asked claim_files_free). */
void
claim_files_take(struct task *t)
{
	char reason[64];

	if (t->nfiles == 0 || t->ftoken[0] != '\0')
		return;
	snprintf(reason, sizeof reason, "task %s", t->id);
	lock_hold(t->p->name, t->owner != NULL ? t->owner : "?", t->owner_sid, t->files,
	    t->nfiles, reason, t->ftoken);
	task_changed(t);
}

/* Let t's files go. */
void
claim_files_drop(struct task *t)
{
	char token[TOKEN_LEN + 1];

	if (t->ftoken[0] == '\0')
		return;
	/* forgotten first: whoever the release wakes sees t without them */
	snprintf(token, sizeof token, "%s", t->ftoken);
	t->ftoken[0] = '\0';
	task_changed(t);
	lock_hold_drop(token);
}

/* Forget t's claim entirely, and the reservation of its files. */
void
claim_drop(struct task *t)
{
	claim_bind(t, NULL);
	t->token[0] = '\0';
	t->changes_pending = 0;
	claim_files_drop(t);
}

/* t's review is nobody's any more: free for the next reviewer. */
void
claim_review_drop(struct task *t)
{
	if (!t->on_reviews)
		return;
	TAILQ_REMOVE(&reviews, t, rentry);
	t->on_reviews = 0;
	t->review_s = NULL;
}

/* The review of t is session s's. */
static void
claim_review_take(struct task *t, struct session *s)
{
	claim_review_drop(t);
	t->review_s = s;
	TAILQ_INSERT_TAIL(&reviews, t, rentry);
	t->on_reviews = 1;
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

/*
 * Claim t for session s: a fresh token, in_progress, its files reserved
 * (the caller saw them free), and the project's work started.
 */
void
claim_take(struct task *t, struct session *s, double lease)
{
	int from = (int)t->status;

	t->status = TS_IN_PROGRESS;
	random_hex(t->token, sizeof t->token);
	claim_bind(t, s);
	t->lease = lease;
	t->changes_pending = t->changes_requested = 0;
	free(t->owner);
	t->owner = xstrdup(s->agent);
	snprintf(t->owner_sid, sizeof t->owner_sid, "%s", s->id);
	claim_files_take(t);
	task_hist(t, s, "claimed", from, TS_IN_PROGRESS, NULL);
	task_touch(t);
	project_work_started(t->p, s);
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
		if (t->status == TS_IN_PROGRESS || t->status == TS_REVIEW) {
			claim_bind(t, r->s);
			snprintf(t->owner_sid, sizeof t->owner_sid, "%s", r->s->id);
			lock_hold_rebind(t->ftoken, t->owner != NULL ? t->owner : r->s->agent,
			    r->s->id);
		}
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

/* How a task_claim is answered. */
struct claim_answer {
	struct task *t; /* the task claimed, or named, or in the way; NULL: none */
	int claimed;
	int review;     /* a review was taken */
	int files_busy; /* t's files are others': the holders go with the answer */
	const char *hint;
};

/* Reply to a claim: claimed:true with the task, or claimed:false with why. */
static void
claim_reply(struct session *s, uint64_t id, const struct claim_wait *cw,
    const struct claim_answer *a)
{
	struct fbuf *fb = reply_begin(id);
	struct task *t = a->t;

	pk_map_open(fb);
	pk_kbool(fb, "claimed", a->claimed);
	if (t != NULL)
		pk_kstr(fb, "id", t->id);
	if (a->claimed && !a->review) {
		pk_kstr(fb, "token", t->token);
		pk_kdouble(fb, "lease_seconds", t->lease);
	}
	if (a->claimed) {
		pk_kbool(fb, "review", a->review);
		pk_str(fb, "task");
		pk_map_open(fb);
		task_pk_fields(fb, t, 1);
		pk_map_close(fb);
		if (!a->review && strcmp(task_isolation_names[t->isolation], "worktree") == 0)
			worktree_pack_claim(fb, t->p->name, s->agent, t->id);
	} else if (t != NULL)
		pk_kstr(fb, "owner", t->token[0] != '\0' ? t->owner : NULL);
	if (a->files_busy)
		claim_files_free(t, s->id, fb); /* packs the holders */
	if (cw->cap > 0)
		pk_kdouble(fb, "wait_cap_seconds", cw->cap);
	pk_kstr(fb, "project_status", project_status_names[cw->p->status]);
	pk_kstr(fb, "hint", a->hint);
	pk_map_close(fb);
	reply_end(s->client, fb);
}

/* Answer claimed:true for t (a review when review is set). */
void
claim_yes(struct session *s, uint64_t id, const struct claim_wait *cw, struct task *t,
    int review, const char *hint)
{
	struct claim_answer a = { t, 1, review, 0, hint };

	claim_reply(s, id, cw, &a);
}

/* Answer claimed:false, naming t (NULL: none) and, with files_busy, who holds its files. */
void
claim_no(struct session *s, uint64_t id, const struct claim_wait *cw, struct task *t,
    int files_busy, const char *hint)
{
	struct claim_answer a = { t, 0, 0, files_busy, hint };

	claim_reply(s, id, cw, &a);
}

/*
 * The best task s may claim now: changes requested of s first, then
 * ready ones whose files are free, highest priority, oldest first.
 * *busy is the best ready one passed over for its files (or NULL).
 */
static struct task *
claim_pick(struct project *p, struct session *s, int *changes, struct task **busy)
{
	struct task *t, *best = NULL;
	size_t i;

	*changes = 0;
	*busy = NULL;
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
		if (t == NULL || !task_claimable_by(t, s))
			continue;
		if (!claim_files_free(t, s->id, NULL)) {
			if (*busy == NULL || t->priority > (*busy)->priority)
				*busy = t;
		} else if (best == NULL || t->priority > best->priority)
			best = t;
	}
	return (best);
}

/* Hand back t, whose changes were requested, to its claimant s (files again if free). */
static void
claim_changes_back(struct session *s, uint64_t id, const struct claim_wait *cw, struct task *t)
{
	t->changes_pending = 0;
	if (claim_files_free(t, s->id, NULL))
		claim_files_take(t);
	task_changed(t);
	claim_yes(s, id, cw, t, 0,
	    t->nfiles > 0 && t->ftoken[0] == '\0' ? CLAIM_HINT_CHANGES
		"; others hold some of its files now: lock_acquire "
		"them with wait_seconds before editing"
						  : CLAIM_HINT_CHANGES);
}

/* Why t cannot be claimed now (someone has it, or it waits), and what to do. */
void
claim_busy_hint(const struct task *t, char *hint, size_t size)
{
	const char *why = t->token[0] != '\0' ? t->owner
	    : t->status != TS_TODO            ? ""
	    : task_deps_done(t)               ? ", assigned to someone else"
					      : ", waiting for its dependencies";

	snprintf(hint, size,
	    "%s is %s%s%s; call task_claim with wait_seconds to wait for it, or without id "
	    "for another task",
	    t->id, task_status_names[t->status], t->token[0] != '\0' ? " by " : "", why);
}

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

	if (t->status == TS_IN_PROGRESS && t->claim_s == s) {
		if (t->changes_pending)
			claim_changes_back(s, id, cw, t);
		else
			claim_yes(s, id, cw, t, 0, "already yours; task_submit when done");
		return (1);
	}
	if (task_claimable_by(t, s)) {
		if (claim_files_free(t, s->id, NULL)) {
			claim_take(t, s, cw->lease);
			claim_yes(s, id, cw, t, 0, CLAIM_HINT_TAKEN);
			return (1);
		}
		if (!final)
			return (0);
		claim_no(s, id, cw, t, 1,
		    "its files are held or waited for by others (see holders); call task_claim "
		    "with wait_seconds to wait for them");
		return (1);
	}
	if (!final && t->status != TS_DONE && t->status != TS_CANCELLED &&
	    t->status != TS_REVIEW)
		return (0);
	claim_busy_hint(t, hint, sizeof hint);
	claim_no(s, id, cw, t, 0, hint);
	return (1);
}

/* May s take the review of t now? */
static int
claim_reviewable(const struct task *t, const struct session *s)
{
	return (t->status == TS_REVIEW && (t->review_s == NULL || t->review_s == s) &&
	    (t->p->self_review || !review_is_own(t, s)));
}

/*
 * Try to answer a task_claim {review: true}: the review of the task
 * named, or of the best task in review nobody reviews (highest
 * priority, oldest first).  1 when answered.
 */
static int
claim_try_review(struct session *s, uint64_t id, struct claim_wait *cw, int final)
{
	struct project *p = cw->p;
	struct task *t, *best = NULL;
	char hint[256];
	size_t i;

	for (i = 0; i < p->ntasks; i++) {
		t = p->tasks[i];
		if (t == NULL || (cw->num != 0 && t->num != cw->num) || !claim_reviewable(t, s))
			continue;
		if (best == NULL || t->priority > best->priority)
			best = t;
	}
	if (best != NULL) {
		claim_review_take(best, s);
		claim_yes(s, id, cw, best, 1, CLAIM_HINT_REVIEW);
		return (1);
	}
	if (!final)
		return (0);
	t = cw->num != 0 ? task_by_num(p, cw->num) : NULL;
	if (t != NULL)
		snprintf(hint, sizeof hint,
		    "%s is %s%s%s%s; call again with wait_seconds to wait for its review",
		    t->id, task_status_names[t->status],
		    t->review_s != NULL ? ", reviewed by " : "",
		    t->review_s != NULL ? t->review_s->agent : "",
		    t->status == TS_REVIEW && !p->self_review && review_is_own(t, s)
			? " (your own work: someone else reviews it)"
			: "");
	else
		snprintf(hint, sizeof hint,
		    "nothing to review now; call task_claim {review: true, wait_seconds} to "
		    "wait for the next submit");
	claim_no(s, id, cw, t, 0, hint);
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
	struct task *t, *busy;
	char hint[256];
	int changes = 0;

	if (p->status == PS_COMPLETE || p->status == PS_STOPPED) {
		snprintf(hint, sizeof hint, "the project is %s: stop working on it",
		    project_status_names[p->status]);
		claim_no(s, id, cw, NULL, 0, hint);
		return (1);
	}
	if (cw->review)
		return (claim_try_review(s, id, cw, final));
	if (cw->num != 0)
		return (claim_try_num(s, id, cw, final));
	if ((t = claim_pick(p, s, &changes, &busy)) != NULL) {
		if (changes)
			claim_changes_back(s, id, cw, t);
		else {
			claim_take(t, s, cw->lease);
			claim_yes(s, id, cw, t, 0, CLAIM_HINT_TAKEN);
		}
		return (1);
	}
	if (!final)
		return (0);
	if (busy != NULL)
		claim_no(s, id, cw, busy, 1,
		    "the ready tasks' files are held or waited for by others (see holders); "
		    "call task_claim with wait_seconds: it waits for them");
	else
		claim_no(s, id, cw, NULL, 0,
		    p->ntasks == 0
			? "no tasks yet; call task_claim with wait_seconds to wait "
			  "for the planner"
			: "no ready task now; call task_claim again with wait_seconds "
			  "to wait for one");
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
claim_reattach(struct req *r, struct claim_wait *cw, struct task *t)
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
	claim_yes(r->s, r->id, cw, t, 0, "the claim is bound to this session now");
}

void
op_task_claim(struct req *r)
{
	struct project *p = project_ensure(r->s->project);
	struct claim_wait *cw;
	struct bwait *w;
	struct task *t = NULL;
	double wait = arg_num(r, "wait_seconds");
	int review = arg_bool(r, "review");

	if (arg_has(r, "id") && (t = task_find(r, p, arg_get(r, "id"), "id")) == NULL)
		return;
	cw = xcalloc(1, sizeof *cw);
	cw->p = p;
	cw->num = t != NULL ? t->num : 0;
	cw->lease = arg_num(r, "lease_seconds");
	cw->review = review;
	cw->cap = wait > 0 ? wait_cap(r) : 0;
	if (t != NULL && !review && arg_has(r, "token"))
		claim_reattach(r, cw, t);
	else if (t != NULL && !review &&
	    (t->status == TS_DONE || t->status == TS_CANCELLED || t->status == TS_REVIEW) &&
	    p->status != PS_COMPLETE && p->status != PS_STOPPED)
		task_refuse(r, t, TS_IN_PROGRESS);
	else if (wait <= 0)
		claim_try(r->s, r->id, cw, 1);
	else if ((w = wait_add(r, p->wkey, wait, claim_ready, claim_timeout, cw, 0)) != NULL) {
		w->free_arg = free;
		return;
	}
	free(cw);
}

/* ---- sessions ---- */

/*
 * A session ended: its in-progress claims run on their leases (their
 * files stay reserved meanwhile), its reviews are free for others.
 */
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
	/* a review taken up wakes the waiting reviewers: it goes at the tail */
	for (t = TAILQ_FIRST(&reviews); t != NULL; t = next) {
		next = TAILQ_NEXT(t, rentry);
		if (t->review_s != s)
			continue;
		claim_review_drop(t);
		project_wake(t->p);
	}
}

/* A file reservation of project moved: waiting claims may take their tasks now. */
static void
task_files_freed(const char *project)
{
	struct project *p = project_find(project);

	if (p != NULL)
		project_wake(p);
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

/*
 * Claims follow their sessions (registered after the lock module's
 * hooks), and wait for the files of their tasks.
 */
void
task_init(void)
{
	session_on_close(task_session_closed);
	session_on_hold(task_session_claims);
	lock_on_file_freed(task_files_freed);
}
