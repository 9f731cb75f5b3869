/*
 * Unit tests of the feed (broker/feed.c, DESIGN 11) through the real
 * dispatch path (tests/broker_harness.h): every operation the table marks
 * OP_MUTATES makes exactly one audit-log entry with the right fields (a
 * row per operation; an operation without a row fails), changes nobody
 * asked for are recorded where they happen (a TTL, a session's end, a
 * lease), log_wait wakes on the next entry, the filters select, and a
 * subscriber gets each entry pushed once.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "broker_harness.h"
#include "tap.h"

#define PROJECT "feedp"

/*
 * One mutating operation: the calls that prepare it (peer, op, args;
 * "$id" in args is the r.id of the last of them), the call itself by
 * peer who, and the object its entry must name ("@id": the call's own
 * r.id; "$id": the setup's).
 */
struct row {
	const char *op;
	struct {
		char who;
		const char *op, *args;
	} setup[4];
	char who;
	const char *args;
	const char *kind, *key;
};

static const struct row rows[] = {
	{ "lock_acquire", { { 0 } }, 'a', "{'name':'L1','reason':'build'}", "lock", "L1" },
	{ "lock_release", { { 'a', "lock_acquire", "{'name':'L2'}" } }, 'a', "{'name':'L2'}",
	    "lock", "L2" },
	{ "lock_renew", { { 'a', "lock_acquire", "{'name':'L3'}" } }, 'a',
	    "{'name':'L3','ttl_seconds':120}", "lock", "L3" },
	{ "lock_break", { { 'b', "lock_acquire", "{'name':'L4'}" } }, 'a',
	    "{'name':'L4','reason':'stuck'}", "lock", "L4" },
	{ "note_set", { { 0 } }, 'a', "{'key':'N1','value':{'x':1}}", "note", "N1" },
	{ "note_delete", { { 'a', "note_set", "{'key':'N2','value':1}" } }, 'a', "{'key':'N2'}",
	    "note", "N2" },
	{ "counter_incr", { { 0 } }, 'a', "{'name':'C1','by':2}", "counter", "C1" },
	{ "event_signal", { { 0 } }, 'a', "{'name':'E1'}", "event", "E1" },
	{ "agent_join", { { 0 } }, 'c', "{'name':'cee','role':'implementer'}", "agent", "cee" },
	{ "message_send", { { 0 } }, 'a', "{'to':'b','body':'hi','subject':'s'}", "message",
	    "b" },
	{ "message_ack", { { 'b', "message_send", "{'to':'a','body':'yo'}" } }, 'a',
	    "{'up_to':9007199254740991}", "message", "a" },
	{ "discussion_start", { { 0 } }, 'a', "{'topic':'t','message':'m','waiting_on':'b'}",
	    "discussion", "@id" },
	{ "discussion_reply", { { 'a', "discussion_start", "{'topic':'t2','message':'m'}" } },
	    'b', "{'id':'$id','message':'r'}", "discussion", "$id" },
	{ "discussion_resolve", { { 'a', "discussion_start", "{'topic':'t3','message':'m'}" } },
	    'a', "{'id':'$id','decision':'yes'}", "discussion", "$id" },
	{ "task_create", { { 0 } }, 'a', "{'title':'one','complexity':'simple'}", "task",
	    "@id" },
	{ "task_update", { { 'a', "task_create", "{'title':'two','complexity':'simple'}" } },
	    'a', "{'id':'$id','title':'two!','priority':'high'}", "task", "$id" },
	{ "task_claim", { { 'a', "task_create", "{'title':'three','complexity':'simple'}" } },
	    'b', "{'id':'$id'}", "task", "$id" },
	{ "task_submit",
	    { { 'a', "task_create", "{'title':'four','complexity':'simple'}" },
		{ 'b', "task_claim", "{'id':'$id'}" } },
	    'b', "{'id':'$id','notes':'done'}", "task", "$id" },
	{ "task_approve",
	    { { 'a', "task_create", "{'title':'five','complexity':'simple'}" },
		{ 'b', "task_claim", "{'id':'$id'}" },
		{ 'b', "task_submit", "{'id':'$id','notes':'done'}" } },
	    'a', "{'id':'$id'}", "task", "$id" },
	{ "task_request_changes",
	    { { 'a', "task_create", "{'title':'six','complexity':'simple'}" },
		{ 'b', "task_claim", "{'id':'$id'}" },
		{ 'b', "task_submit", "{'id':'$id','notes':'done'}" } },
	    'a', "{'id':'$id','feedback':'again'}", "task", "$id" },
	{ "task_release",
	    { { 'a', "task_create", "{'title':'seven','complexity':'simple'}" },
		{ 'b', "task_claim", "{'id':'$id'}" } },
	    'b', "{'id':'$id','reason':'later'}", "task", "$id" },
	{ "project_set", { { 0 } }, 'a', "{'description':'d'}", "project", PROJECT },
	{ "queue_push", { { 0 } }, 'a', "{'queue':'Q1','payload':'build 7'}", "queue", "Q1" },
	{ "queue_claim", { { 'a', "queue_push", "{'queue':'Q2','payload':'x'}" } }, 'b',
	    "{'queue':'Q2'}", "queue", "Q2" },
	{ "queue_finish",
	    { { 'a', "queue_push", "{'queue':'Q3','payload':'x'}" },
		{ 'a', "queue_claim", "{'queue':'Q3'}" } },
	    'a', "{'id':$id,'lease_token':'$tok'}", "queue", "Q3" },
	{ "log_append", { { 0 } }, 'a', "{'event':'tests green','data':[1,2]}", "log",
	    "tests green" },
	{ "worktree_set", { { 0 } }, 'a',
	    "{'name':'W1','agent':'a','branch':'baton/a','path':'/w/.baton/worktrees/W1',"
	    "'base':'main'}",
	    "worktree", "W1" },
	{ "launch_set", { { 0 } }, 'a',
	    "{'name':'I1','type':'codex','role':'implementer','cwd':'/w','state':'running'}",
	    "launch", "I1" },
};

static struct hpeer *peers[4];
static char sids[4][24];
static const char *const agents[] = { "a", "b", "cee", "d" };

/* args with "$id" replaced by id and "$tok" by tok (a queue item's lease token). */
static char *
row_args(const char *args, const char *id, const char *tok)
{
	const char *p;
	char *out = xstrdup(args), *t;

	while ((p = strstr(out, "$id")) != NULL && id != NULL) {
		xasprintf(&t, "%.*s%s%s", (int)(p - out), out, id, p + 3);
		free(out);
		out = t;
	}
	while ((p = strstr(out, "$tok")) != NULL && tok != NULL) {
		xasprintf(&t, "%.*s%s%s", (int)(p - out), out, tok, p + 4);
		free(out);
		out = t;
	}
	return (out);
}

/* The newest revision in the log, as a cursor. */
static int64_t
log_cursor(void)
{
	return (h_int(h_call(peers[0], "log_list", "{'all_projects':true,'limit':1}"),
	    "r.cursor", -1));
}

/* Run one row: setup, the call, then the log since the call began. */
static void
run_row(const struct row *w)
{
	const msgpack_object *o;
	char *args, *id = NULL, *tok = NULL, *callid = NULL, want[512], q[128];
	const char *key;
	int64_t before;
	size_t i;
	int p;

	for (i = 0; i < nitems(w->setup) && w->setup[i].who != 0; i++) {
		args = row_args(w->setup[i].args, id, tok);
		o = h_call(peers[w->setup[i].who - 'a'], w->setup[i].op, args);
		free(args);
		if (!h_check(o, "ok=true")) {
			ok(0, "%s: set up with %s", w->op, w->setup[i].op);
			return;
		}
		if (id == NULL && (id = h_strdup(o, "r.id")) == NULL &&
		    h_int(o, "r.id", -1) >= 0) /* a queue item's id is a number */
			xasprintf(&id, "%" PRId64, h_int(o, "r.id", -1));
		if (tok == NULL)
			tok = h_strdup(o, "r.lease_token");
	}
	before = log_cursor();
	p = w->who - 'a';
	args = row_args(w->args, id, tok);
	o = h_call(peers[p], w->op, args);
	free(args);
	callid = h_strdup(o, "r.id");
	key = strcmp(w->key, "@id") == 0 ? callid : strcmp(w->key, "$id") == 0 ? id : w->key;
	snprintf(q, sizeof q, "{'after':%" PRId64 ",'all_projects':true}", before);
	snprintf(want, sizeof want,
	    "ok=true r.count=1 r.entries.0.op=%s r.entries.0.kind=%s r.entries.0.key='%s' "
	    "r.entries.0.agent=%s r.entries.0.session=%s r.entries.0.project=%s "
	    "r.entries.0.summary~'' r.entries.0.at~'Z'",
	    w->op, w->kind, key != NULL ? key : "?", agents[p], sids[p], PROJECT);
	ok(h_check(o, "ok=true") && h_check(h_call(peers[0], "log_list", q), want) &&
		h_int(h_call(peers[0], "log_list", q), "r.entries.0.rev", 0) > before,
	    "%s makes exactly one entry: op, kind %s, key, agent, session, project, time, "
	    "a revision past the one before",
	    w->op, w->kind);
	free(id);
	free(tok);
	free(callid);
}

/*
 * Mutating operations whose change is recorded under another name, or is
 * bookkeeping nobody watches, each with the reason; tests/hooks.sh covers
 * them.
 */
static const struct {
	const char *op, *why;
} exempt[] = {
	{ "hook_edit",
	    "its only change, a reservation on first edit, is recorded as the "
	    "lock_acquire it is" },
	{ "hook_news",
	    "it records which news an agent was told (so nothing nags twice): "
	    "bookkeeping, not a change of shared state" },
	{ "worktree_create",
	    "run by the client (OP_CLIENT), which records it as worktree_set" },
	{ "worktree_merge", "run by the client (OP_CLIENT), which records it as worktree_set" },
	{ "worktree_cleanup",
	    "run by the client (OP_CLIENT), which records it as worktree_set" },
	{ "launch_implementer",
	    "run by the client (OP_CLIENT), which records it as launch_set" },
};

/* Every OP_MUTATES operation has a row (or an exemption), and its row holds. */
static void
every_mutation(void)
{
	size_t i, k;

	for (i = 0; i < OP_COUNT; i++) {
		if (!(ops[i].flags & OP_MUTATES))
			continue;
		for (k = 0; k < nitems(exempt) && strcmp(exempt[k].op, ops[i].name) != 0; k++)
			;
		if (k < nitems(exempt)) {
			diag("%s: no row: %s", ops[i].name, exempt[k].why);
			continue;
		}
		for (k = 0; k < nitems(rows) && strcmp(rows[k].op, ops[i].name) != 0; k++)
			;
		if (k == nitems(rows)) {
			ok(0, "%s mutates but has no row in tests/unit_feed.c", ops[i].name);
			continue;
		}
		run_row(&rows[k]);
	}
}

/* Changes nobody asked for: a session's end, a TTL, a lease; log_wait wakes on them. */
static void
unasked(void)
{
	const msgpack_object *o;
	struct hpeer *e;
	char q[256], *tid;
	int64_t before;
	size_t i;

	before = log_cursor();
	h_call(peers[0], "lock_acquire", "{'name':'T1','ttl_seconds':1}");
	snprintf(q, sizeof q,
	    "{'after':%" PRId64 ",'kinds':['lock'],'object':'T1','wait_seconds':5}",
	    before + 1);
	o = h_call(peers[1], "log_wait", q);
	ok(h_check(o,
	       "ok=true r.count=1 r.entries.0.op=expired r.entries.0.agent=batond "
	       "r.entries.0.summary~'expired' r.entries.0.session!"),
	    "a lock whose TTL runs out is recorded as expired, by the broker; log_wait wakes "
	    "on "
	    "it");

	e = h_connect("e", PROJECT);
	h_call(e, "lock_acquire", "{'name':'T2'}");
	o = h_call(e, "task_create", "{'title':'leased','complexity':'simple'}");
	tid = h_strdup(o, "r.id");
	snprintf(q, sizeof q, "{'id':'%s','lease_seconds':1}", tid);
	h_call(e, "task_claim", q);
	before = log_cursor();
	h_close(e);
	snprintf(q, sizeof q, "{'after':%" PRId64 ",'object':'T2'}", before);
	ok(h_check(h_call(peers[0], "log_list", q),
	       "r.count=1 r.entries.0.op=session_end r.entries.0.agent=e "
	       "r.entries.0.summary~'session ended'"),
	    "a lock released by its session's end is recorded, in that session's name");
	snprintf(q, sizeof q,
	    "{'after':%" PRId64 ",'kinds':['task'],'object':'%s','wait_seconds':5}", before,
	    tid);
	ok(h_check(h_call(peers[1], "log_wait", q),
	       "r.count=1 r.entries.0.op=lease_expired r.entries.0.agent=batond "
	       "r.entries.0.summary~'todo'"),
	    "a claim whose lease runs out is recorded when it does");
	free(tid);

	/* more entries than one request's batch, outside any request */
	e = h_connect("many", PROJECT);
	for (i = 0; i < 200; i++) {
		snprintf(q, sizeof q, "{'name':'M%03zu'}", i);
		h_call(e, "lock_acquire", q);
	}
	before = log_cursor();
	h_close(e);
	snprintf(q, sizeof q, "{'after':%" PRId64 ",'agent':'many','limit':1000}", before);
	ok(h_check(h_call(peers[0], "log_list", q),
	       "ok=true r.count=200 r.entries.0.op=session_end r.entries.199.op=session_end"),
	    "a session that ends holding 200 locks records 200 entries (the broker lives on)");
}

/* The filters: kinds, agent, object; the newest without after; paging. */
static void
filters(void)
{
	const msgpack_object *o;
	char q[256];
	int64_t before = log_cursor(), cur;

	h_call(peers[0], "note_set", "{'key':'F1','value':1}");
	h_call(peers[1], "note_set", "{'key':'F2','value':2}");
	h_call(peers[0], "counter_incr", "{'name':'F3'}");
	snprintf(q, sizeof q, "{'after':%" PRId64 ",'kinds':['note']}", before);
	ok(h_check(h_call(peers[0], "log_list", q),
	       "r.count=2 r.entries.0.key=F1 r.entries.1.key=F2"),
	    "kinds selects entries by kind of object");
	snprintf(q, sizeof q, "{'after':%" PRId64 ",'agent':'b'}", before);
	ok(h_check(h_call(peers[0], "log_list", q), "r.count=1 r.entries.0.key=F2"),
	    "agent selects the changes of one agent");
	snprintf(q, sizeof q, "{'after':%" PRId64 ",'object':'F3'}", before);
	ok(h_check(h_call(peers[0], "log_list", q), "r.count=1 r.entries.0.kind=counter"),
	    "object selects the entries of one object");
	ok(h_check(h_call(peers[0], "log_list", "{'limit':2}"),
	       "r.count=2 r.entries.0.key=F2 r.entries.1.key=F3 r.more=false"),
	    "without after, the newest entries, oldest first");
	snprintf(q, sizeof q, "{'after':%" PRId64 ",'limit':1}", before);
	o = h_call(peers[0], "log_list", q);
	cur = h_int(o, "r.cursor", 0);
	ok(h_check(o, "r.count=1 r.entries.0.key=F1 r.more=true"), "a page stops at limit");
	snprintf(q, sizeof q, "{'after':%" PRId64 ",'limit':5}", cur);
	ok(h_check(h_call(peers[0], "log_list", q),
	       "r.count=2 r.entries.0.key=F2 r.entries.1.key=F3 r.more=false"),
	    "the next page starts after the cursor: nothing skipped or repeated");
	h_call(peers[3], "note_set", "{'key':'other','value':1}");
	snprintf(q, sizeof q, "{'after':%" PRId64 "}", before);
	ok(h_check(h_call(peers[0], "log_list", q), "r.count=3"),
	    "another project's entries are not listed without all_projects");
	h_call(peers[3], "note_set", "{'key':'global:shared','value':1}");
	snprintf(q, sizeof q, "{'after':%" PRId64 ",'kinds':['note']}", before);
	ok(h_check(h_call(peers[0], "log_list", q),
	       "r.count=3 r.entries.2.key=global:shared r.entries.2.project=global"),
	    "entries of the global namespace are every project's");
}

/* What a subscriber was pushed so far: entries, in order, of its project. */
struct pushed {
	struct hpeer *p;
	int64_t rev;
	int got, fine;
};

/* h_until: take the pushes there are; done once want of them came. */
static int
pushed_enough(void *arg)
{
	struct pushed *w = arg;
	const msgpack_object *f, *es;
	uint32_t i;

	while ((f = h_take_stray(w->p)) != NULL) {
		w->fine = w->fine && h_check(f, "t=6 kind=log");
		es = h_path(f, "entries");
		for (i = 0; es != NULL && i < es->via.array.size; i++) {
			w->fine = w->fine &&
			    h_check(&es->via.array.ptr[i], "project=" PROJECT) &&
			    h_int(&es->via.array.ptr[i], "rev", 0) > w->rev;
			w->rev = h_int(&es->via.array.ptr[i], "rev", 0);
			w->got++;
		}
	}
	return (w->got >= 2);
}

/*
 * A subscriber: its project's entries pushed, in order, another project's
 * not; a burst of changes in one frame or a few.
 */
static void
subscriber(void)
{
	struct pushed w = { peers[2], 0, 0, 1 };

	ok(h_check(h_call(peers[2], "log_subscribe", NULL),
	       "ok=true r.subscribed=true r.missed=false"),
	    "log_subscribe answers with the newest revision and the projects");
	w.rev = log_cursor();
	h_call(peers[0], "note_set", "{'key':'S1','value':1}");
	h_call(peers[3], "note_set", "{'key':'S2','value':1}"); /* another project */
	h_call(peers[1], "counter_incr", "{'name':'S3'}");
	h_until(pushed_enough, &w, "2 entries pushed to the subscriber");
	h_settle(peers[2]);
	pushed_enough(&w);
	ok(w.fine && w.got == 2,
	    "the subscriber got its project's 2 entries pushed, in order (%d)", w.got);
}

/*
 * A summary longer than a line keeps its first 200 bytes, cut at a
 * character: a reason of two-byte characters after an odd and an even
 * number of bytes, so that one of the two cuts falls inside a character.
 */
static void
summary_cut(void)
{
	char q[512], name[16], reason[300], *sum;
	int64_t before;
	size_t i, k, len;

	for (k = 0; k < 2; k++) {
		len = 0;
		if (k == 1)
			reason[len++] = 'x';
		for (i = 0; i < 120; i++) {
			memcpy(reason + len, "\xc3\xa9", 2);
			len += 2;
		}
		reason[len] = '\0';
		snprintf(name, sizeof name, "CUT%zu", k);
		before = log_cursor();
		snprintf(q, sizeof q, "{'name':'%s','reason':'%s'}", name, reason);
		h_call(peers[0], "lock_acquire", q);
		snprintf(q, sizeof q, "{'after':%" PRId64 ",'object':'%s','all_projects':true}",
		    before, name);
		sum = h_strdup(h_call(peers[0], "log_list", q), "r.entries.0.summary");
		len = sum != NULL ? strlen(sum) : 0;
		ok(sum != NULL && len >= 199 && len <= 200 &&
			utf8_check(sum, len, 0, NULL, 0) == 0,
		    "a long summary is cut to 200 bytes at a character (%zu bytes, %s)", len,
		    sum != NULL ? sum : "none");
		free(sum);
		snprintf(q, sizeof q, "{'name':'%s'}", name);
		h_call(peers[0], "lock_release", q);
	}
}

int
main(void)
{
	char *sid;
	size_t i;

	h_start();
	for (i = 0; i < 3; i++) {
		peers[i] = h_connect(agents[i], PROJECT);
		sid = h_strdup(h_call(peers[i], "status", NULL), "r.session");
		snprintf(sids[i], sizeof sids[i], "%s", sid != NULL ? sid : "?");
		free(sid);
	}
	peers[3] = h_connect("d", "otherp");
	every_mutation();
	unasked();
	filters();
	subscriber();
	summary_cut();
	for (i = 0; i < 4; i++)
		h_close(peers[i]);
	ok(h_stop() == 0, "the harness stops cleanly");
	return (done_testing());
}
