/*
 * Unit tests of the task status machine and of claims (broker/review.c,
 * broker/claim.c, DESIGN §5.5), through the real dispatch path: request
 * frames in, the replies clients see out (tests/broker_harness.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "broker_harness.h"
#include "tap.h"

#define GRANTED_T "ok=true r.acquired=true"

enum { TODO, IN_PROGRESS, REVIEW, DONE, BLOCKED, CANCELLED, NSTATUS };
static const char *const status_names[NSTATUS] = { "todo", "in_progress", "review", "done",
	"blocked", "cancelled" };

/* What a refusal from each status lists as allowed (DESIGN §5.5). */
static const char *const allowed[NSTATUS] = {
	[TODO] = "allowed: in_progress (task_claim), blocked (task_update), cancelled "
		 "(task_update)",
	[IN_PROGRESS] = "allowed: todo (task_release), review (task_submit), blocked "
			"(task_update), cancelled (task_update)",
	[REVIEW] = "allowed: in_progress (task_request_changes), done (task_approve), blocked "
		   "(task_update), cancelled (task_update)",
	[DONE] = "done is final",
	[BLOCKED] = "allowed: todo (task_update), cancelled (task_update)",
	[CANCELLED] = "cancelled is final",
};

/*
 * The operations of the table: args take the task id; the status each
 * moves to; who calls it: the task's claimant 'a', or the reviewer 'v'
 * (a review is by someone else).
 */
static const struct {
	const char *name, *op, *args;
	int to;
	char who;
} mops[] = {
	{ "task_claim", "task_claim", "{'id':'%s'}", IN_PROGRESS, 'a' },
	{ "task_submit", "task_submit", "{'id':'%s','notes':'done'}", REVIEW, 'a' },
	{ "task_approve", "task_approve", "{'id':'%s'}", DONE, 'v' },
	{ "task_request_changes", "task_request_changes", "{'id':'%s','feedback':'again'}",
	    IN_PROGRESS, 'v' },
	{ "task_release", "task_release", "{'id':'%s'}", TODO, 'a' },
	{ "task_release requeue:false", "task_release", "{'id':'%s','requeue':false}", BLOCKED,
	    'a' },
	{ "task_update todo", "task_update", "{'id':'%s','status':'todo'}", TODO, 'a' },
	{ "task_update in_progress", "task_update", "{'id':'%s','status':'in_progress'}",
	    IN_PROGRESS, 'v' },
	{ "task_update review", "task_update", "{'id':'%s','status':'review'}", REVIEW, 'a' },
	{ "task_update done", "task_update", "{'id':'%s','status':'done'}", DONE, 'v' },
	{ "task_update blocked", "task_update", "{'id':'%s','status':'blocked'}", BLOCKED,
	    'a' },
	{ "task_update cancelled", "task_update", "{'id':'%s','status':'cancelled'}", CANCELLED,
	    'a' },
};
#define NMOPS (sizeof mops / sizeof mops[0])

/*
 * From each status (rows), each operation (columns, in mops order): M
 * moves to its status, R is refused naming the allowed moves, S
 * succeeds and changes nothing, N answers claimed:false.
 *
 * Each operation moves tasks from its own status only: task_release
 * takes a task in progress (not a blocked one, which task_update
 * unblocks; not one in todo or review), task_request_changes and
 * task_approve a task in review.
 */
static const char *const grid[NSTATUS] = {
	/*                 cl su ap rc rl rb ut ui ur ud ub uc */
	[TODO] = "M  R  R  R  R  R  S  M  R  R  M  M",
	[IN_PROGRESS] = "S  M  R  R  M  M  M  S  M  R  M  M",
	[REVIEW] = "R  R  M  M  R  R  R  M  S  M  M  M",
	[DONE] = "R  R  R  R  R  R  R  R  R  S  R  R",
	[BLOCKED] = "N  R  R  R  R  R  M  R  R  R  S  M",
	[CANCELLED] = "R  R  R  R  R  R  R  R  R  R  R  S",
};

/* The way to each status from todo: by the task's claimant 'a', approved by 'v'. */
static const char *const path_to[NSTATUS][3] = {
	[TODO] = { NULL },
	[IN_PROGRESS] = { "a task_claim {'id':'%s'}" },
	[REVIEW] = { "a task_claim {'id':'%s'}", "a task_submit {'id':'%s','notes':'n'}" },
	[DONE] = { "a task_claim {'id':'%s'}", "a task_submit {'id':'%s','notes':'n'}",
	    "v task_approve {'id':'%s'}" },
	[BLOCKED] = { "a task_update {'id':'%s','status':'blocked'}" },
	[CANCELLED] = { "a task_update {'id':'%s','status':'cancelled'}" },
};

/* Call "op {args}" with every %s in args replaced by the task id; the reply. */
static const msgpack_object *
call_id(struct hpeer *p, const char *op, const char *fmt, const char *id)
{
	char args[256];
	size_t n = 0, idlen = strlen(id);

	for (; *fmt != '\0' && n + idlen < sizeof args; fmt++) {
		if (fmt[0] == '%' && fmt[1] == 's') {
			memcpy(args + n, id, idlen);
			n += idlen;
			fmt++;
		} else
			args[n++] = *fmt;
	}
	args[n] = '\0';
	return (h_call(p, op, args));
}

/* A new task in from, made by p (the reviewer v approves); its id (static), or NULL. */
static const char *
task_in(struct hpeer *p, struct hpeer *v, int from)
{
	static char id[16];
	const msgpack_object *o;
	char op[32], want[64], *sp, *tid;
	const char *step;
	size_t i;

	o = h_call(p, "task_create", "{'title':'t','complexity':'simple'}");
	if ((tid = h_strdup(o, "r.id")) == NULL) {
		h_check(o, "ok=true");
		return (NULL);
	}
	snprintf(id, sizeof id, "%s", tid);
	free(tid);
	for (i = 0; i < 3 && path_to[from][i] != NULL; i++) {
		step = path_to[from][i] + 2; /* past "a " or "v " */
		snprintf(op, sizeof op, "%s", step);
		sp = strchr(op, ' ');
		*sp = '\0';
		o = call_id(path_to[from][i][0] == 'v' ? v : p, op, strchr(step, ' ') + 1, id);
		if (!h_check(o, "ok=true"))
			return (NULL);
	}
	snprintf(want, sizeof want, "ok=true r.status=%s", status_names[from]);
	if (!h_check(call_id(p, "task_get", "{'id':'%s'}", id), want))
		return (NULL);
	return (id);
}

/* The checks on the reply to operation k from status from, for its cell c. */
static void
cell_want(int from, size_t k, char c, const char *id, char *want, size_t len)
{
	switch (c) {
	case 'M':
	case 'S': snprintf(want, len, "ok=true"); break;
	case 'N':
		snprintf(want, len, "ok=true r.claimed=false r.id=%s r.hint~'is %s'", id,
		    status_names[from]);
		break;
	default: /* R, T */
		snprintf(want, len,
		    "ok=false e.code=conflict e.field=status "
		    "e.message~'%s is %s and cannot move to %s' e.message~'%s'",
		    id, status_names[from], status_names[mops[k].to], allowed[from]);
		break;
	}
}

/* One cell of the grid on a fresh task: claimant p, reviewer v. */
static void
run_cell(struct hpeer *p, struct hpeer *v, int from, size_t k)
{
	const msgpack_object *o;
	const char *id;
	char c = grid[from][k * 3], want[512], after[64], what[160];
	int64_t version;
	int holds;

	if ((id = task_in(p, v, from)) == NULL) {
		ok(0, "%s: a task reaches %s", mops[k].name, status_names[from]);
		return;
	}
	version = h_int(call_id(p, "task_get", "{'id':'%s'}", id), "r.version", -1);
	cell_want(from, k, c, id, want, sizeof want);
	holds =
	    h_check(call_id(mops[k].who == 'v' ? v : p, mops[k].op, mops[k].args, id), want);
	/* what the task is now: moved, or exactly as it was */
	o = call_id(p, "task_get", "{'id':'%s'}", id);
	snprintf(after, sizeof after, "r.status=%s",
	    status_names[c == 'M' ? mops[k].to : from]);
	holds = h_check(o, after) && holds;
	if (c != 'M' && h_int(o, "r.version", -2) != version) {
		diag("the version moved from %lld to %lld", (long long)version,
		    (long long)h_int(o, "r.version", -2));
		holds = 0;
	}
	snprintf(what, sizeof what, "%s from %s: %s%s", mops[k].name, status_names[from],
	    c == 'M'       ? "moves to "
		: c == 'S' ? "succeeds, nothing changes"
		: c == 'N' ? "claimed:false, nothing changes"
			   : "refused naming the allowed moves",
	    c == 'M' ? status_names[mops[k].to] : "");
	ok(holds, "%s", what);
}

/* Two claims of one task at the same moment: exactly one wins. */
static void
claim_race(void)
{
	struct hpeer *a = h_connect("a", "/race"), *b = h_connect("b", "/race");
	struct hpeer *c = h_connect("c", "/race");
	const msgpack_object *rb, *rc;
	uint64_t ib, ic;
	int nb, nc;

	h_call(a, "task_create", "{'title':'one','complexity':'simple'}");
	h_call(a, "task_create", "{'title':'two','complexity':'simple'}");
	ib = h_send(b, "task_claim", "{'id':'T1'}");
	ic = h_send(c, "task_claim", "{'id':'T1'}");
	rb = h_reply(b, ib);
	rc = h_reply(c, ic);
	nb = mp_get_bool(h_path(rb, "r"), "claimed", 0);
	nc = mp_get_bool(h_path(rc, "r"), "claimed", 0);
	ok(nb + nc == 1 &&
		h_check(nb ? rc : rb,
		    nb ? "r.claimed=false r.owner=b" : "r.claimed=false r.owner=c"),
	    "two claims of T1 sent together: one wins, the other "
	    "is told who holds it");
	/* three claimers, one ready task left: one gets T2, nobody gets T1 again */
	ib = h_send(b, "task_claim", NULL);
	ic = h_send(c, "task_claim", NULL);
	rb = h_reply(b, ib);
	rc = h_reply(c, ic);
	nb = mp_get_bool(h_path(rb, "r"), "claimed", 0);
	nc = mp_get_bool(h_path(rc, "r"), "claimed", 0);
	ok(nb + nc == 1 && h_check(nb ? rb : rc, "r.id=T2 r.task.status=in_progress") &&
		h_check(nb ? rc : rb, "r.claimed=false r.hint~'no ready task'"),
	    "two claims without id, one ready task: one gets T2, the other claimed:false");
	h_close(a);
	h_close(b);
	h_close(c);
}

/*
 * Dependencies gate claims, and a waiting claim takes a task the moment
 * it becomes ready: T2 waits for T1 to be done (review is not enough).
 */
static const struct hstep deps[] = {
	{ 'a', "task_create", "{'title':'base','complexity':'simple'}",
	    "ok=true r.id=T1 "
	    "r.ready=true",
	    NULL },
	{ 'a', "task_create",
	    "{'title':'top','complexity':'simple','depends_on':['T1'],"
	    "'priority':'urgent'}",
	    "ok=true r.id=T2 r.ready=false r.depends_on.0=T1 "
	    "r.hint~'ready once its dependencies are done'",
	    NULL },
	{ 'b', "task_claim", "{'id':'T2'}",
	    "ok=true r.claimed=false r.id=T2 "
	    "r.hint~'waiting for its dependencies'",
	    NULL },
	{ 'b', "task_update", "{'id':'T2','status':'in_progress'}",
	    "ok=false e.code=conflict "
	    "e.message~'a dependency is not done yet'",
	    NULL },
	{ 'b', "task_claim", NULL, "ok=true r.claimed=true r.id=T1", NULL },
	{ 'c', "task_claim", "{'wait_seconds':30}", NULL, NULL },
	{ 'd', "task_claim", "{'id':'T2','wait_seconds':30}", NULL, NULL },
	{ 'b', "task_submit", "{'id':'T1','notes':'n'}", "ok=true r.status=review", NULL },
	{ 'a', "task_update", "{'id':'T1','depends_on':['T2']}",
	    "ok=false "
	    "e.code=invalid_argument e.field=depends_on e.message~'cycle'",
	    NULL },
	{ 'a', "task_approve", "{'id':'T1'}", "ok=true r.approved.0=T1",
	    "c: ok=true r.claimed=true r.id=T2 r.task.owner=c" },
	{ 'd', H_CANCEL, NULL, "ok=false e.code=cancelled", NULL },
	{ 'a', "task_list", "{'status':'in_progress'}",
	    "r.count=1 r.tasks.0.id=T2 "
	    "r.tasks.0.owner=c r.summary.done=1",
	    NULL },
};

/*
 * Waiting claims are answered in the order they came, one task each; a
 * higher priority is taken first; a claim's lease runs out once its
 * session is gone, and the task goes to the next waiter.
 */
static const struct hstep waits[] = {
	{ 'b', "task_claim", "{'wait_seconds':30}", NULL, NULL },
	{ 'c', "task_claim", "{'wait_seconds':30,'lease_seconds':1}", NULL, NULL },
	{ 'a', "task_create", "{'title':'one','complexity':'simple'}", "ok=true r.id=T1",
	    "b: r.claimed=true r.id=T1" },
	{ 'a', "task_create", "{'title':'two','complexity':'simple'}", "ok=true r.id=T2",
	    "c: r.claimed=true r.id=T2 r.lease_seconds=1" },
	{ 'a', "task_create", "{'title':'low','complexity':'simple','priority':'low'}",
	    "ok=true r.id=T3", NULL },
	{ 'a', "task_create", "{'title':'high','complexity':'simple','priority':'high'}",
	    "ok=true r.id=T4", NULL },
	{ 'd', "task_claim", NULL, "r.claimed=true r.id=T4", NULL },
	{ 'd', "task_claim", "{'id':'T3'}", "r.claimed=true r.id=T3", NULL },
	{ 'e', "task_claim", "{'id':'T2','wait_seconds':30}", NULL, NULL },
	{ 'c', H_CLOSE, NULL, NULL, NULL },
};

/*
 * The review (issue 13): a task's claim reserves its files (a claim of
 * a task sharing them waits, and is granted when the first is
 * submitted); a submit wakes a reviewer blocked in task_claim {review}
 * and one blocked in message_inbox; one reviewer per task; a review is
 * by someone else; request_changes tells the claimant, whose claim
 * returns the task with changes_requested; the last approval tells the
 * planner; the first claim moves the project to in_progress.
 */
static const struct hstep review[] = {
	{ 'a', "agent_join", "{'role':'planner'}", "ok=true", NULL },
	{ 'd', "agent_join", "{'role':'reviewer'}", "ok=true", NULL },
	{ 'e', "agent_join", "{'role':'reviewer'}", "ok=true", NULL },
	{ 'a', "project_set", "{'status':'ready'}", "ok=true r.status=ready", NULL },
	{ 'd', "task_claim", "{'review':true,'wait_seconds':30}", NULL, NULL },
	{ 'e', "message_inbox", "{'wait_seconds':30}", NULL, NULL },
	{ 'a', "task_create", "{'title':'one','complexity':'simple','files':['src/a.c']}",
	    "ok=true r.id=T1 r.files#1 r.files.0=src/a.c r.files_reserved=false", NULL },
	{ 'a', "task_create", "{'title':'two','complexity':'simple','files':['file:./src/']}",
	    "ok=true r.id=T2 r.files.0=src", NULL },
	{ 'b', "task_claim", NULL,
	    "ok=true r.claimed=true r.id=T1 r.task.files_reserved=true "
	    "r.project_status=in_progress",
	    NULL },
	{ 'c', "task_claim", "{'id':'T2'}",
	    "ok=true r.claimed=false r.holders.0.agent=b r.holders.0.name=file:src/a.c "
	    "r.hint~'its files are held'",
	    NULL },
	{ 'c', "task_claim", "{'wait_seconds':30}", NULL, NULL },
	{ 'a', "lock_list", NULL,
	    "r.locks[name=file:src/a.c].holders.0.agent=b "
	    "r.locks[name=file:src/a.c].holders.0.reason='task T1'",
	    NULL },
	{ 'b', "lock_acquire", "{'name':'file:src/a.c'}",
	    GRANTED_T " r.held.0=file:src/a.c r.hint~'task T1'", NULL },
	{ 'b', "task_submit", "{'id':'T1','notes':'n'}", "ok=true r.status=review",
	    "c: r.claimed=true r.id=T2 r.task.files_reserved=true | "
	    "d: r.claimed=true r.review=true r.id=T1 r.task.review_taken_by=d | "
	    "e: r.messages#1 r.messages.0.subject~'T1 is ready for review' "
	    "r.messages.0.to=role:reviewer r.messages.0.from=b r.messages.0.thread=T1" },
	{ 'a', "task_approve", "{'id':'T1'}",
	    "ok=false e.code=conflict e.message~'being reviewed by d'", NULL },
	{ 'b', "task_approve", "{'id':'T1'}",
	    "ok=false e.code=permission e.message~'a review is by someone else'", NULL },
	{ 'b', "task_request_changes", "{'id':'T1','feedback':'mine'}",
	    "ok=false e.code=permission", NULL },
	{ 'd', "task_request_changes", "{'id':'T1','feedback':'more tests'}",
	    "ok=true r.status=in_progress r.changes_requested=true r.files_reserved=false",
	    NULL },
	{ 'b', "message_inbox", NULL,
	    "r.messages#1 r.messages.0.subject~'changes requested on T1' "
	    "r.messages.0.body~'more tests' r.messages.0.from=d",
	    NULL },
	{ 'b', "task_claim", NULL,
	    "ok=true r.claimed=true r.id=T1 r.task.changes_requested=true "
	    "r.task.feedback='more tests' r.hint~'others hold some of its files'",
	    NULL },
	{ 'c', "task_submit", "{'id':'T2','notes':'n'}", "ok=true", NULL },
	{ 'b', "task_submit", "{'id':'T1','notes':'fixed'}",
	    "ok=true r.status=review r.changes_requested=false", NULL },
	{ 'd', "task_claim", "{'review':true}", "r.claimed=true r.review=true r.id=T1", NULL },
	{ 'e', "task_claim", "{'review':true}", "r.claimed=true r.review=true r.id=T2", NULL },
	{ 'c', "task_claim", "{'review':true}",
	    "r.claimed=false r.hint~'nothing to review now'", NULL },
	{ 'd', "task_approve", "{'id':'T1'}", "ok=true r.all_done=false", NULL },
	{ 'e', "task_approve", "{'id':'T2'}",
	    "ok=true r.all_done=true r.hint~'the planners were told'", NULL },
	{ 'a', "message_inbox", NULL,
	    "r.messages#1 r.messages.0.subject='every task is done' r.messages.0.from=e "
	    "r.messages.0.to=role:planner",
	    NULL },
	{ 'a', "event_wait", "{'name':'task:review','wait_seconds':0}",
	    "r.fired=true r.generation=3 r.payload.id=T1 r.payload.by=b", NULL },
	{ 'a', "project_get", NULL, "r.status=in_progress r.summary.done=2", NULL },
};

/*
 * Two tasks with the very same file: the second claim waits and takes
 * the file the moment the first is submitted (the lock released is the
 * one the claim takes again: it must not be freed under the release).
 */
static const struct hstep same_file[] = {
	{ 'a', "task_create", "{'title':'one','complexity':'simple','files':['src/a.c']}",
	    "ok=true", NULL },
	{ 'a', "task_create", "{'title':'two','complexity':'simple','files':['./src/a.c']}",
	    "ok=true r.files.0=src/a.c", NULL },
	{ 'b', "task_claim", "{'id':'T1'}", "r.claimed=true", NULL },
	{ 'c', "task_claim", "{'id':'T2','wait_seconds':30}", NULL, NULL },
	{ 'd', "lock_acquire", "{'name':'file:src/b.c'}", "ok=true r.acquired=true", NULL },
	{ 'b', "task_submit", "{'id':'T1','notes':'n'}", "ok=true",
	    "c: r.claimed=true r.id=T2 r.task.files_reserved=true" },
	{ 'd', "lock_release", "{'name':'file:src/b.c'}", "ok=true r.released=true", NULL },
	{ 'a', "lock_list", NULL,
	    "r.count=1 r.locks.0.name=file:src/a.c r.locks.0.holders.0.agent=c", NULL },
	{ 'c', "task_release", "{'id':'T2'}", "ok=true r.status=todo", NULL },
	{ 'a', "lock_list", NULL, "r.count=0", NULL },
};

/* Self-review is refused unless the project allows it. */
static const struct hstep self_review[] = {
	{ 'a', "task_create", "{'title':'mine','complexity':'simple'}", "ok=true", NULL },
	{ 'a', "task_claim", NULL, "r.claimed=true", NULL },
	{ 'a', "task_submit", "{'id':'T1','notes':'n'}", "ok=true", NULL },
	{ 'a', "task_claim", "{'review':true}", "r.claimed=false r.hint~'nothing to review'",
	    NULL },
	{ 'a', "task_approve", "{'id':'T1'}",
	    "ok=false e.code=permission e.field=id e.message~'self_review'", NULL },
	{ 'a', "project_set", "{'self_review':true}", "ok=true r.self_review=true", NULL },
	{ 'a', "task_approve", "{'id':'T1'}", "ok=true r.approved.0=T1", NULL },
};

/*
 * A cancelled dependency counts as resolved: the task that depends on
 * it becomes ready (before, it could never be claimed).
 */
static const struct hstep cancelled_dep[] = {
	{ 'a', "task_create", "{'title':'base','complexity':'simple'}", "ok=true", NULL },
	{ 'a', "task_create", "{'title':'top','complexity':'simple','depends_on':['T1']}",
	    "ok=true r.ready=false", NULL },
	{ 'b', "task_claim", "{'id':'T2','wait_seconds':30}", NULL, NULL },
	{ 'a', "task_update", "{'id':'T1','status':'cancelled'}", "ok=true",
	    "b: r.claimed=true r.id=T2" },
};

/* task_list pages: limit, after = cursor, more. */
static const struct hstep pages[] = {
	{ 'a', "task_create", "{'title':'1','complexity':'simple'}", "ok=true", NULL },
	{ 'a', "task_create", "{'title':'2','complexity':'simple'}", "ok=true", NULL },
	{ 'a', "task_create", "{'title':'3','complexity':'simple'}", "ok=true", NULL },
	{ 'a', "task_list", "{'limit':2}",
	    "r.count=2 r.tasks.0.id=T1 r.more=true r.cursor=T2 r.summary.total=3", NULL },
	{ 'a', "task_list", "{'limit':2,'after':'T2'}",
	    "r.count=1 r.tasks.0.id=T3 r.more=false r.cursor=T3", NULL },
	{ 'a', "task_list", "{'after':'x'}", "ok=false e.code=invalid_argument e.field=after",
	    NULL },
};

/* Run a script on fresh peers in project; nothing is left waiting after. */
static void
run_script(const char *name, const char *project, const struct hstep *steps, size_t n,
    size_t npeers, struct hscript *sc)
{
	size_t i;

	if (!ok(h_script_open(sc, project, npeers) == 0, "%s: %zu peers connect", name, npeers))
		return;
	for (i = 0; i < n; i++)
		ok(h_step(sc, &steps[i]), "%s %zu: %s", name, i + 1, h_step_text(&steps[i]));
}

/* What lease_expired waits for: e's claim answered. */
struct lease_wait {
	struct hpeer *e;
	const msgpack_object *o;
};

static int
lease_answered(void *arg)
{
	struct lease_wait *w = arg;

	return ((w->o = h_stray(w->e)) != NULL);
}

int
main(void)
{
	struct hpeer *p, *v;
	struct hscript sc;
	struct lease_wait lw;
	uint64_t t0;
	size_t k;
	int from, holds;

	h_start();
	p = h_connect("a", "/machine");
	v = h_connect("v", "/machine");
	for (from = 0; from < NSTATUS; from++) {
		for (k = 0; k < NMOPS; k++)
			run_cell(p, v, from, k);
	}
	h_close(p);
	h_close(v);
	claim_race();
	run_script("dependencies", "/deps", deps, nitems(deps), 4, &sc);
	ok(h_script_close(&sc) == 0 && wait_count() == 0, "dependencies: nothing left waiting");
	run_script("waits", "/waits", waits, nitems(waits), 5, &sc);
	/*
	 * c's session is gone: its lease of 1 s runs out, and e's wait takes T2
	 * (whenever the step after the close runs: the answer is the same)
	 */
	t0 = mono_ms();
	lw.e = sc.peers['e' - 'a'];
	lw.o = NULL;
	holds = h_until(lease_answered, &lw, "e's claim of T2 after c's lease") == 0 &&
	    h_check(lw.o,
		"ok=true r.claimed=true r.id=T2 r.task.owner=e "
		"r.task.history[action=lease_expired].actor=baton");
	ok(holds,
	    "waits: c's lease of 1 s runs out and e's waiting claim takes T2 (after %.1f s)",
	    (double)(mono_ms() - t0) / 1000.0);
	ok(h_script_close(&sc) == 0 && wait_count() == 0, "waits: nothing left waiting");
	run_script("review", "/review", review, nitems(review), 5, &sc);
	ok(h_script_close(&sc) == 0 && wait_count() == 0 && lock_count(NULL) == 0,
	    "review: nothing left waiting or held");
	run_script("same file", "/same", same_file, nitems(same_file), 4, &sc);
	ok(h_script_close(&sc) == 0 && lock_count(NULL) == 0, "same file: nothing left held");
	run_script("self-review", "/self", self_review, nitems(self_review), 1, &sc);
	ok(h_script_close(&sc) == 0, "self-review: closed");
	run_script("cancelled dependency", "/cancel", cancelled_dep, nitems(cancelled_dep), 2,
	    &sc);
	ok(h_script_close(&sc) == 0, "cancelled dependency: closed");
	run_script("pages", "/pages", pages, nitems(pages), 1, &sc);
	ok(h_script_close(&sc) == 0, "pages: closed");
	ok(h_stop() == 0, "the broker stops cleanly");
	return (done_testing());
}
