/*
 * The task status machine (DESIGN §5.5) and the moves through it that
 * are not a claim: submit, the review (approve, request changes), and
 * release.  Every move is checked against the machine and against who
 * may make it, and recorded in the task's history.
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

/* Refuse a forbidden move with the allowed ones; always returns -1. */
int
task_refuse(struct req *r, const struct task *t, int to)
{
	char list[256];
	size_t len = 0;
	int i;

	list[0] = '\0';
	for (i = 0; i < TS_COUNT; i++) {
		if (!(allowed[t->status] & B(i)))
			continue;
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s (%s)",
		    len > 0 ? ", " : "", task_status_names[i], task_move_op((int)t->status, i));
		if (len >= sizeof list)
			break;
	}
	if (allowed[t->status] == 0)
		reply_error(r->c, r->id, ERR_CONFLICT, "status",
		    "%s is %s and cannot move to %s: %s is final", t->id,
		    task_status_names[t->status], task_status_names[to],
		    task_status_names[t->status]);
	else
		reply_error(r->c, r->id, ERR_CONFLICT, "status",
		    "%s is %s and cannot move to %s; allowed: %s", t->id,
		    task_status_names[t->status], task_status_names[to], list);
	return (-1);
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
}

/*
 * Move t to status to, as the caller, with note (notes, feedback or a
 * reason).  Checks the machine and who may make the move; tokarg names
 * the argument with the claim token (NULL: the operation has none).
 * 0 done; -1 after replying the error.
 */
int
task_move(struct req *r, struct task *t, int to, const char *note, const char *tokarg,
    double lease)
{
	int from = (int)t->status;

	if (!(allowed[from] & B(to)))
		return (task_refuse(r, t, to));
	switch (to) {
	case TS_IN_PROGRESS:
		if (from == TS_TODO) {
			if (!task_claimable_by(t, r->s)) {
				reply_error(r->c, r->id, ERR_CONFLICT, "status",
				    "%s cannot be claimed: %s", t->id,
				    t->assignee != NULL && strcmp(t->assignee, r->s->agent) != 0
					? "it is assigned to someone else"
					: "a dependency is not done yet");
				return (-1);
			}
			claim_take(t, r->s, lease);
			return (0);
		}
		/* review -> in_progress: changes requested, back to the claimant */
		task_reviewed(t, r->s, note);
		t->changes_pending = 1;
		if (t->claim_s == NULL && t->token[0] != '\0')
			claim_orphan(t);
		task_hist(t, r->s, "changes_requested", from, to, note);
		break;
	case TS_REVIEW:
		if (!claim_check(r, t, tokarg))
			return (-1);
		free(t->notes);
		t->notes = note != NULL ? xstrdup(note) : NULL;
		t->changes_pending = 0;
		task_hist(t, r->s, "submitted", from, to, note);
		break;
	case TS_DONE:
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
		task_hist(t, r->s, to == TS_BLOCKED ? "blocked" : "cancelled", from, to, note);
		break;
	}
	t->status = (enum task_status)to;
	task_touch(t);
	project_wake(t->p);
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
	task_simple_move(r, TS_REVIEW, "notes", "token",
	    "in review; call task_claim for your next task (it also returns this one if "
	    "changes are requested)");
}

void
op_task_request_changes(struct req *r)
{
	task_simple_move(r, TS_IN_PROGRESS, "feedback", NULL,
	    "back to its claimant with your feedback");
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
 * The tasks task_approve names ("ids", or "id"), all in review and none
 * twice: a fresh array of *n, or NULL after replying.
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
	char *feedback, hint[160];
	size_t n, i;

	/* all or none: every task is checked before any is approved */
	if ((ts = task_approve_list(r, p, &n)) == NULL)
		return;
	feedback = arg_text(r, "feedback");
	for (i = 0; i < n; i++)
		task_move(r, ts[i], TS_DONE, feedback, NULL, 0);
	free(feedback);
	task_counts(p, &c);
	if (task_all_done(p, &c))
		snprintf(hint, sizeof hint,
		    "every task is done: project_set {status:\"complete\"} "
		    "ends the implementers' waits");
	else
		snprintf(hint, sizeof hint, "%zu in review, %zu ready, %zu in progress",
		    c.n[TS_REVIEW], c.ready, c.n[TS_IN_PROGRESS]);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_str(fb, "approved");
	pk_array(fb, n);
	for (i = 0; i < n; i++)
		pk_str(fb, ts[i]->id);
	project_pk_summary(fb, p);
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	reply_end(r->c, fb);
	free(ts);
}
