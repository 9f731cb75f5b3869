/*
 * The task status machine (DESIGN §5.5) and the moves through it that
 * are not a claim: submit, the review (approve, request changes), and
 * release.  Every move is checked against the machine, against the
 * statuses its operation starts from, and against who may make it, and
 * recorded in the task's history.
 *
 * A review is by someone else: the session that claimed or submitted a
 * task, or an agent of its claimant's name, may not approve it or send
 * it back unless the project allows self-review.  The review wakes
 * people: a submit is told to the project's reviewers (else planners,
 * else the task's creator), changes requested to the claimant, the
 * last task done to the planners, each with an inbox message (which
 * wakes a waiting message_inbox) and an event for scripts.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

#define B(s) (1u << (s))
/* The status machine: allowed[from] has a bit for every status it may move to. */
static const unsigned allowed[TS_COUNT] = {
	[TS_TODO] = B(TS_IN_PROGRESS) | B(TS_BLOCKED) | B(TS_CANCELLED),
	[TS_IN_PROGRESS] = B(TS_REVIEW) | B(TS_TODO) | B(TS_BLOCKED) | B(TS_CANCELLED),
	[TS_REVIEW] = B(TS_DONE) | B(TS_IN_PROGRESS) | B(TS_BLOCKED) | B(TS_CANCELLED),
	[TS_DONE] = 0,
	[TS_BLOCKED] = B(TS_TODO) | B(TS_CANCELLED),
	[TS_CANCELLED] = 0,
};

/* The operations that move a task from one status only, and that status. */
static const struct {
	const char *op;
	int from;
} op_from[] = {
	{ "task_claim", TS_TODO },
	{ "task_submit", TS_IN_PROGRESS },
	{ "task_approve", TS_REVIEW },
	{ "task_request_changes", TS_REVIEW },
	{ "task_release", TS_IN_PROGRESS },
};

/* The status op moves tasks from, or -1 for any the machine allows (task_update). */
static int
task_op_from(const char *op)
{
	size_t i;

	for (i = 0; i < nitems(op_from); i++) {
		if (strcmp(op_from[i].op, op) == 0)
			return (op_from[i].from);
	}
	return (-1);
}

/* The operation that makes the move from -> to. */
static const char *
task_move_op(int from, int to)
{
	switch (to) {
	case TS_IN_PROGRESS: return (from == TS_REVIEW ? "task_request_changes" : "task_claim");
	case TS_REVIEW: return ("task_submit");
	case TS_DONE: return ("task_approve");
	case TS_TODO: return (from == TS_IN_PROGRESS ? "task_release" : "task_update");
	default: return ("task_update");
	}
}

/*
 * Refuse a forbidden move with the allowed ones; always returns -1.  A
 * move the machine allows but not by the operation asked (task_release
 * of a blocked task) says which status that operation takes.
 */
int
task_refuse(struct req *r, const struct task *t, int to)
{
	const char *op = r->op->name;
	char list[256], by[128];
	size_t len = 0;
	int i, from = task_op_from(op);

	list[0] = by[0] = '\0';
	for (i = 0; i < TS_COUNT; i++) {
		if (!(allowed[t->status] & B(i)))
			continue;
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s (%s)",
		    len > 0 ? ", " : "", task_status_names[i], task_move_op((int)t->status, i));
		if (len >= sizeof list)
			break;
	}
	if (from >= 0 && from != (int)t->status)
		snprintf(by, sizeof by, " with %s, which moves a task in %s", op,
		    task_status_names[from]);
	if (allowed[t->status] == 0)
		reply_error(r->c, r->id, ERR_CONFLICT, "status",
		    "%s is %s and cannot move to %s: %s is final", t->id,
		    task_status_names[t->status], task_status_names[to],
		    task_status_names[t->status]);
	else
		reply_error(r->c, r->id, ERR_CONFLICT, "status",
		    "%s is %s and cannot move to %s%s; allowed: %s", t->id,
		    task_status_names[t->status], task_status_names[to], by, list);
	return (-1);
}

/* Did session s do t: it claimed or submitted it, or it bears its claimant's name? */
int
review_is_own(const struct task *t, const struct session *s)
{
	return ((t->owner_sid[0] != '\0' && strcmp(t->owner_sid, s->id) == 0) ||
	    (t->owner != NULL && strcmp(t->owner, s->agent) == 0));
}

/*
 * May the caller review t (approve it or request changes)?  Not its own
 * work unless the project allows self-review, nor a review another live
 * reviewer took.  0 if it may; -1 after replying.
 */
static int
review_check(struct req *r, const struct task *t)
{
	if (!t->p->self_review && review_is_own(t, r->s)) {
		reply_error(r->c, r->id, ERR_PERMISSION, "id",
		    "%s was done by %s: a review is by someone else (another session and "
		    "agent); a reviewer or planner reviews it (message_send to role:reviewer), "
		    "or the project allows it with project_set {self_review: true}",
		    t->id, t->owner != NULL ? t->owner : "you");
		return (-1);
	}
	if (t->review_s != NULL && t->review_s != r->s) {
		reply_error(r->c, r->id, ERR_CONFLICT, "id",
		    "%s is being reviewed by %s, who took its review with task_claim {review: "
		    "true}; leave it to them",
		    t->id, t->review_s->agent);
		return (-1);
	}
	return (0);
}

/* A reviewer's verdict on t: feedback, who and when. */
static void
task_reviewed(struct task *t, const struct session *s, const char *note)
{
	free(t->feedback);
	t->feedback = note != NULL ? xstrdup(note) : NULL;
	free(t->reviewer);
	t->reviewer = xstrdup(s->agent);
	t->reviewed_at = wall_ms();
	claim_review_drop(t);
}

/* ---- telling people ---- */

/* The events of review notices, by REVIEW_SUBMITTED, REVIEW_CHANGES, REVIEW_ALL_DONE. */
const char *const review_events[REVIEW_NEWS] = { "task:review", "task:changes",
	"task:all_done" };

/* Note whether agent, in role, is a reviewer or a planner (presence_foreach). */
void
review_who_add(const char *agent, const char *role, void *arg)
{
	struct review_who *w = arg;

	if (role != NULL && strcmp(role, "reviewer") == 0)
		w->reviewer = 1;
	if (role != NULL && strcmp(role, "planner") == 0)
		w->planner = 1;
}

/*
 * Who hears of t's review (reviewers, or with none present planners,
 * or with neither its creator) or, with planners_first, of the end of
 * the work (planners, else its creator); w says who is present.
 */
static const char *
review_addressee(const struct task *t, const struct review_who *w, int planners_first)
{
	if (w->reviewer && !planners_first)
		return ("role:reviewer");
	if (w->planner)
		return ("role:planner");
	return (task_creator(t));
}

/*
 * The notice of what by did to t (what: REVIEW_SUBMITTED,
 * REVIEW_CHANGES, REVIEW_ALL_DONE), w who is present: its addressee,
 * event, subject and body, as this broker tells them and shared-task.c
 * mails them in etcd (shared: project_get and project_set are not
 * served there, its all-done body does not send planners to them).
 * Free with review_notice_free.
 */
void
review_notice(struct review_notice *n, int what, const struct task *t, const char *by,
    const struct review_who *w, int shared)
{
	n->event = review_events[what];
	switch (what) {
	case REVIEW_SUBMITTED:
		n->to = review_addressee(t, w, 0);
		xasprintf(&n->subject, "%s is ready for review: %s", t->id, t->title);
		xasprintf(&n->body,
		    "%s submitted %s (%s) for review.%s%s\nReview it: task_get {id: \"%s\"}, "
		    "then task_approve {id: \"%s\"} or task_request_changes {id: \"%s\", "
		    "feedback}. task_claim {review: true, wait_seconds} takes the next task to "
		    "review.",
		    by, t->id, t->title, t->notes != NULL ? " Notes: " : "",
		    t->notes != NULL ? t->notes : "", t->id, t->id, t->id);
		break;
	case REVIEW_CHANGES:
		n->to = t->owner != NULL ? t->owner : task_creator(t);
		xasprintf(&n->subject, "changes requested on %s: %s", t->id, t->title);
		xasprintf(&n->body,
		    "%s asks for changes on %s (%s): %s\ntask_claim returns it to you "
		    "with this feedback; fix it, then task_submit {id: \"%s\", notes}.",
		    by, t->id, t->title, t->feedback != NULL ? t->feedback : "(no feedback)",
		    t->id);
		break;
	default:
		n->to = review_addressee(t, w, 1);
		n->subject = xstrdup("every task is done");
		xasprintf(&n->body,
		    "%s approved %s, the last open task: every task of the project is done or "
		    "cancelled. %s",
		    by, t->id,
		    shared
			? "Check the acceptance criteria and tell the implementers the work is "
			  "over (a shared project serves no project_set)."
			: "Check the acceptance criteria (project_get), then project_set "
			  "{status: \"complete\"}: that ends the implementers' waits.");
		break;
	}
}

void
review_notice_free(struct review_notice *n)
{
	free(n->subject);
	free(n->body);
}

/* The payload of n's event, about t, by by: {id, title, by, to}. */
void
review_notice_pack(struct fbuf *fb, const struct review_notice *n, const struct task *t,
    const char *by)
{
	pk_map_open(fb);
	pk_kstr(fb, "id", t->id);
	pk_kstr(fb, "title", t->title);
	pk_kstr(fb, "by", by);
	pk_kstr(fb, "to", n->to);
	pk_map_close(fb);
}

/*
 * Tell of what s did to t: an inbox message in t's thread to its
 * addressee (which wakes a waiting message_inbox) and an event.
 */
static void
review_tell(const struct task *t, const struct session *s, int what)
{
	struct review_who w = { 0, 0 };
	struct review_notice n;
	struct fbuf fb;

	presence_foreach(t->p->name, review_who_add, &w);
	review_notice(&n, what, t, s->agent, &w, 0);
	msg_notice(t->p->name, s->agent, n.to, n.subject, n.body, t->id);
	fbuf_init(&fb);
	review_notice_pack(&fb, &n, t, s->agent);
	if (!fb.err)
		event_fire(t->p->name, n.event, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR);
	fbuf_free(&fb);
	review_notice_free(&n);
}

/* ---- moves ---- */

/* review -> in_progress: the feedback goes back to the claimant, files taken again. */
static void
task_changes(struct req *r, struct task *t, const char *note)
{
	task_reviewed(t, r->s, note);
	t->changes_pending = 1;
	t->changes_requested = 1;
	if (t->claim_s == NULL && t->token[0] != '\0')
		claim_orphan(t);
	if (claim_files_free(t, t->owner_sid, NULL))
		claim_files_take(t);
	task_hist(t, r->s, "changes_requested", TS_REVIEW, TS_IN_PROGRESS, note);
}

/* todo -> in_progress by task_update: a claim, when t is claimable with its files. */
static int
task_claim_move(struct req *r, struct task *t, double lease)
{
	if (!task_claimable_by(t, r->s)) {
		reply_error(r->c, r->id, ERR_CONFLICT, "status", "%s cannot be claimed: %s",
		    t->id,
		    t->assignee != NULL && strcmp(t->assignee, r->s->agent) != 0
			? "it is assigned to someone else"
			: "a dependency is not done yet");
		return (-1);
	}
	if (!claim_files_free(t, r->s->id, NULL)) {
		reply_error(r->c, r->id, ERR_CONFLICT, "status",
		    "%s cannot be claimed now: others hold or wait for its files (lock_list "
		    "shows who); task_claim {id: \"%s\", wait_seconds} waits for them",
		    t->id, t->id);
		return (-1);
	}
	claim_take(t, r->s, lease);
	return (0);
}

/* May op move a task from status from to status to (the machine, and op's own start)? */
int
task_move_ok(const char *op, int from, int to)
{
	int opfrom = task_op_from(op);

	return ((allowed[from] & B(to)) && (opfrom < 0 || opfrom == from));
}

/*
 * Move t to status to, as the caller, with note (notes, feedback or a
 * reason).  Checks the machine, the status the operation starts from
 * and who may make the move; tokarg names the argument with the claim
 * token (NULL: the operation has none).  0 done; -1 after replying.
 */
int
task_move(struct req *r, struct task *t, int to, const char *note, const char *tokarg,
    double lease)
{
	int from = (int)t->status;

	if (!task_move_ok(r->op->name, from, to))
		return (task_refuse(r, t, to));
	switch (to) {
	case TS_IN_PROGRESS:
		if (from == TS_TODO)
			return (task_claim_move(r, t, lease));
		if (review_check(r, t) != 0)
			return (-1);
		task_changes(r, t, note);
		break;
	case TS_REVIEW:
		if (!claim_check(r, t, tokarg))
			return (-1);
		free(t->notes);
		t->notes = note != NULL ? xstrdup(note) : NULL;
		t->changes_pending = t->changes_requested = 0;
		snprintf(t->owner_sid, sizeof t->owner_sid, "%s", r->s->id);
		claim_files_drop(t);
		task_hist(t, r->s, "submitted", from, to, note);
		break;
	case TS_DONE:
		if (review_check(r, t) != 0)
			return (-1);
		task_reviewed(t, r->s, note);
		claim_drop(t);
		task_hist(t, r->s, "approved", from, to, note);
		break;
	case TS_TODO:
		if (from == TS_IN_PROGRESS && !claim_check(r, t, tokarg))
			return (-1);
		claim_drop(t);
		task_hist(t, r->s, from == TS_IN_PROGRESS ? "released" : "unblocked", from, to,
		    note);
		break;
	case TS_BLOCKED:
	case TS_CANCELLED:
		claim_drop(t);
		claim_review_drop(t);
		task_hist(t, r->s, to == TS_BLOCKED ? "blocked" : "cancelled", from, to, note);
		break;
	}
	t->status = (enum task_status)to;
	task_touch(t);
	project_wake(t->p);
	if (to == TS_REVIEW)
		review_tell(t, r->s, REVIEW_SUBMITTED);
	else if (to == TS_IN_PROGRESS)
		review_tell(t, r->s, REVIEW_CHANGES);
	return (0);
}

/*
 * The single-task review moves: the task "id" to status to, with the
 * text of argument notearg, the token in tokarg (NULL: none).
 */
static void
task_simple_move(struct req *r, int to, const char *notearg, const char *tokarg,
    const char *hint)
{
	struct task *t;
	char *note;

	if ((t = task_find(r, project_ensure(r->s->project), arg_get(r, "id"), "id")) == NULL)
		return;
	note = arg_text(r, notearg);
	if (task_move(r, t, to, note, tokarg, TASK_LEASE_DEFAULT) == 0)
		task_reply(r, t, hint);
	free(note);
}

void
op_task_submit(struct req *r)
{
	task_simple_move(r, TS_REVIEW, "notes", "token", REVIEW_HINT_SUBMITTED);
}

void
op_task_request_changes(struct req *r)
{
	task_simple_move(r, TS_IN_PROGRESS, "feedback", NULL, REVIEW_HINT_CHANGES);
}

void
op_task_release(struct req *r)
{
	int requeue = arg_bool(r, "requeue");

	task_simple_move(r, requeue ? TS_TODO : TS_BLOCKED, "reason", "token",
	    requeue ? "back in todo for anyone to claim"
		    : "blocked: task_update {status:\"todo\"} puts it back in the queue");
}

/*
 * The tasks task_approve names ("ids", or "id"), all in review, none
 * twice, each one the caller may review: a fresh array of *n, or NULL
 * after replying.
 */
static struct task **
task_approve_list(struct req *r, struct project *p, size_t *n)
{
	const msgpack_object *ids = arg_get(r, "ids");
	struct task **ts;
	size_t i, j;

	*n = ids != NULL ? ids->via.array.size : 1;
	ts = xreallocarray(NULL, *n, sizeof *ts);
	for (i = 0; i < *n; i++) {
		ts[i] = task_find(r, p, ids != NULL ? &ids->via.array.ptr[i] : arg_get(r, "id"),
		    ids != NULL ? "ids" : "id");
		if (ts[i] == NULL)
			goto fail;
		if (ts[i]->status != TS_REVIEW) {
			task_refuse(r, ts[i], TS_DONE);
			goto fail;
		}
		if (review_check(r, ts[i]) != 0)
			goto fail;
		for (j = 0; j < i && ts[j] != ts[i]; j++)
			;
		if (j < i) {
			reply_error(r->c, r->id, ERR_INVALID, "ids", "%s is listed twice",
			    ts[i]->id);
			goto fail;
		}
	}
	return (ts);
fail:
	free(ts);
	return (NULL);
}

void
op_task_approve(struct req *r)
{
	struct project *p = project_ensure(r->s->project);
	struct task_counts c;
	struct task **ts;
	struct fbuf *fb;
	char *feedback, hint[200];
	size_t n, i;
	int all;

	/* all or none: every task is checked before any is approved */
	if ((ts = task_approve_list(r, p, &n)) == NULL)
		return;
	feedback = arg_text(r, "feedback");
	for (i = 0; i < n; i++)
		task_move(r, ts[i], TS_DONE, feedback, NULL, 0);
	free(feedback);
	task_counts(p, &c);
	if ((all = task_all_done(p, &c)))
		snprintf(hint, sizeof hint,
		    "every task is done (the planners were told): check the acceptance "
		    "criteria, then project_set {status:\"complete\"} ends the implementers' "
		    "waits");
	else
		snprintf(hint, sizeof hint, "%zu in review, %zu ready, %zu in progress",
		    c.n[TS_REVIEW], c.ready, c.n[TS_IN_PROGRESS]);
	if (all)
		review_tell(ts[n - 1], r->s, REVIEW_ALL_DONE);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_str(fb, "approved");
	pk_array(fb, n);
	for (i = 0; i < n; i++)
		pk_str(fb, ts[i]->id);
	project_pk_summary(fb, p);
	pk_kbool(fb, "all_done", all);
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	reply_end(r->c, fb);
	free(ts);
}
