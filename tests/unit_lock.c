/*
 * Unit tests of the lock queue (broker/lock.c, DESIGN §5.1), through the
 * real dispatch path: request frames in, the replies clients see out
 * (tests/broker_harness.h).
 *
 * Most cases are scripts: peers 'a', 'b'... (agents of those names, in
 * project /p) take turns, and each step says what its own reply must
 * hold (NULL: it must wait) and which waiting requests of others are
 * answered in the same moment, and how.  No other frame may arrive.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "broker_harness.h"
#include "tap.h"

#define X "{'name':'x'}"
#define XW "{'name':'x','wait_seconds':30}"
#define XSW "{'name':'x','mode':'shared','wait_seconds':30}"
#define GRANTED "ok=true r.acquired=true"
#define BUSY "ok=true r.acquired=false"
#define RELEASED "ok=true r.released=true"

/* FIFO: waiters are granted in the order they came; a newcomer never overtakes. */
static const struct hstep fifo[] = {
	{ 'a', "lock_acquire", X, GRANTED " r.mode=exclusive r.names.0=x r.token#32", NULL },
	{ 'b', "lock_acquire", XW, NULL, NULL },
	{ 'c', "lock_acquire", XW, NULL, NULL },
	{ 'd', "lock_acquire", X, BUSY " r.holders#1 r.holders.0.agent=a r.holders.0.name=x",
	    NULL },
	{ 'd', "lock_acquire", XW, NULL, NULL },
	{ 'e', "lock_list", NULL,
	    "r.count=1 r.locks[name=x].holders.0.agent=a "
	    "r.locks[name=x].waiters#3 r.locks[name=x].waiters.0.agent=b "
	    "r.locks[name=x].waiters.1.agent=c r.locks[name=x].waiters.2.agent=d",
	    NULL },
	{ 'a', "lock_release", X, RELEASED, "b: " GRANTED " r.names.0=x" },
	{ 'b', "lock_release", X, RELEASED, "c: " GRANTED },
	{ 'c', "lock_release", X, RELEASED, "d: " GRANTED },
	{ 'd', "lock_release", X, RELEASED, NULL },
	{ 'e', "lock_list", NULL, "r.count=0", NULL },
};

/*
 * No barging past an exclusive waiter: while b waits for x exclusively
 * behind a's shared grant, c's shared request is not granted with a's.
 */
static const struct hstep no_barging[] = {
	{ 'a', "lock_acquire", "{'name':'x','mode':'shared'}", GRANTED " r.mode=shared", NULL },
	{ 'b', "lock_acquire", XW, NULL, NULL },
	{ 'c', "lock_acquire", "{'name':'x','mode':'shared'}", BUSY, NULL },
	{ 'c', "lock_acquire", XSW, NULL, NULL },
	{ 'a', "lock_release", X, RELEASED, "b: " GRANTED " r.mode=exclusive" },
	{ 'b', "lock_release", X, RELEASED, "c: " GRANTED " r.mode=shared" },
	{ 'c', "lock_release", X, RELEASED, NULL },
};

/*
 * Consecutive shared waiters at the head are granted together; the
 * exclusive one behind them waits for both, and the shared one behind
 * it waits for it.
 */
static const struct hstep shared_batch[] = {
	{ 'a', "lock_acquire", X, GRANTED, NULL },
	{ 'b', "lock_acquire", XSW, NULL, NULL },
	{ 'c', "lock_acquire", XSW, NULL, NULL },
	{ 'd', "lock_acquire", XW, NULL, NULL },
	{ 'e', "lock_acquire", XSW, NULL, NULL },
	{ 'a', "lock_release", X, RELEASED,
	    "b: " GRANTED " r.mode=shared | c: " GRANTED " r.mode=shared" },
	{ 'f', "lock_list", NULL,
	    "r.locks[name=x].mode=shared r.locks[name=x].holders#2 "
	    "r.locks[name=x].waiters#2 r.locks[name=x].waiters.0.agent=d "
	    "r.locks[name=x].waiters.1.agent=e",
	    NULL },
	{ 'b', "lock_release", X, RELEASED, NULL },
	{ 'c', "lock_release", X, RELEASED, "d: " GRANTED " r.mode=exclusive" },
	{ 'd', "lock_release", X, RELEASED, "e: " GRANTED " r.mode=shared" },
	{ 'e', "lock_release", X, RELEASED, NULL },
};

/*
 * Several names are granted all together or not at all: b waiting for
 * [x, y] holds neither meanwhile (x stays free, yet nobody overtakes b
 * for it), and a refused request leaves nothing taken.
 */
static const struct hstep all_or_nothing[] = {
	{ 'a', "lock_acquire", "{'name':'y'}", GRANTED, NULL },
	{ 'b', "lock_acquire", "{'names':['x','y'],'wait_seconds':30}", NULL, NULL },
	{ 'c', "lock_list", NULL,
	    "r.locks[name=x].holders#0 r.locks[name=x].waiters.0.agent=b "
	    "r.locks[name=y].holders.0.agent=a r.locks[name=y].waiters.0.agent=b",
	    NULL },
	{ 'c', "lock_acquire", X, BUSY, NULL },
	{ 'c', "lock_acquire", XW, NULL, NULL },
	{ 'a', "lock_release", "{'name':'y'}", RELEASED,
	    "b: " GRANTED " r.names#2 r.names.0=x r.names.1=y" },
	{ 'd', "lock_acquire", "{'names':['z','x']}",
	    BUSY " r.names#2 r.holders#1 "
		 "r.holders.0.agent=b r.holders.0.name=x",
	    NULL },
	{ 'e', "lock_acquire", "{'name':'z'}", GRANTED, NULL },
	{ 'b', "lock_release", X, RELEASED, "c: " GRANTED },
	{ 'd', "lock_list", NULL,
	    "r.count=3 r.locks[name=y].holders.0.agent=b "
	    "r.locks[name=x].holders.0.agent=c r.locks[name=z].holders.0.agent=e",
	    NULL },
	{ 'b', "lock_release", "{'name':'y'}", RELEASED, NULL },
	{ 'c', "lock_release", X, RELEASED, NULL },
	{ 'e', "lock_release", "{'name':'z'}", RELEASED, NULL },
};

/* A cancelled waiter leaves the queue at once; the one behind it moves up. */
static const struct hstep leave_cancel[] = {
	{ 'a', "lock_acquire", X, GRANTED, NULL },
	{ 'b', "lock_acquire", XW, NULL, NULL },
	{ 'c', "lock_acquire", XW, NULL, NULL },
	{ 'b', H_CANCEL, NULL, "ok=false e.code=cancelled", NULL },
	{ 'd', "lock_list", NULL, "r.locks[name=x].waiters#1 r.locks[name=x].waiters.0.agent=c",
	    NULL },
	{ 'a', "lock_release", X, RELEASED, "c: " GRANTED },
	{ 'c', "lock_release", X, RELEASED, NULL },
};

/* A waiter that disconnects leaves the queue: the next one is granted, not it. */
static const struct hstep leave_close[] = {
	{ 'a', "lock_acquire", X, GRANTED, NULL },
	{ 'b', "lock_acquire", XW, NULL, NULL },
	{ 'c', "lock_acquire", XW, NULL, NULL },
	{ 'b', H_CLOSE, NULL, NULL, NULL },
	{ 'd', "lock_list", NULL, "r.locks[name=x].waiters#1 r.locks[name=x].waiters.0.agent=c",
	    NULL },
	{ 'a', H_CLOSE, NULL, NULL, "c: " GRANTED },
	{ 'd', "lock_list", NULL, "r.locks[name=x].holders.0.agent=c r.locks[name=x].waiters#0",
	    NULL },
	{ 'c', "lock_release", X, RELEASED, NULL },
};

/*
 * The head waiter b waits for [x, y] with y held, so c, behind it for
 * the free x, waits too; once b leaves, c is granted at that moment.
 */
static const struct hstep leave_head[] = {
	{ 'a', "lock_acquire", "{'name':'y'}", GRANTED, NULL },
	{ 'b', "lock_acquire", "{'names':['x','y'],'wait_seconds':30}", NULL, NULL },
	{ 'c', "lock_acquire", XW, NULL, NULL },
	{ 'b', H_CANCEL, NULL, "ok=false e.code=cancelled", "c: " GRANTED },
	{ 'd', "lock_acquire", "{'names':['x','y'],'wait_seconds':30}", NULL, NULL },
	{ 'e', "lock_acquire", "{'name':'y','wait_seconds':30}", NULL, NULL },
	{ 'd', H_CLOSE, NULL, NULL, "" },
	{ 'c', "lock_release", X, RELEASED, NULL },
	{ 'a', "lock_release", "{'name':'y'}", RELEASED, "e: " GRANTED },
	{ 'e', "lock_release", "{'name':'y'}", RELEASED, NULL },
};

/* Two sessions each holding what the other wants: the second wait is refused. */
static const struct hstep deadlock2[] = {
	{ 'a', "lock_acquire", X, GRANTED, NULL },
	{ 'b', "lock_acquire", "{'name':'y'}", GRANTED, NULL },
	{ 'a', "lock_acquire", "{'name':'y','wait_seconds':30}", NULL, NULL },
	{ 'b', "lock_acquire", XW,
	    "ok=false e.code=deadlock e.field=name "
	    "e.message~'waiting for x would close a cycle: a holds x; a waits for y; b holds y "
	    "(you are b)'",
	    NULL },
	{ 'c', "lock_list", NULL, "r.locks[name=x].waiters#0 r.locks[name=y].waiters#1", NULL },
	{ 'b', "lock_release", "{'name':'y'}", RELEASED, "a: " GRANTED " r.names.0=y" },
	{ 'a', "lock_release", X, RELEASED, NULL },
	{ 'a', "lock_release", "{'name':'y'}", RELEASED, NULL },
};

/* A cycle through three sessions, asked for with names. */
static const struct hstep deadlock3[] = {
	{ 'a', "lock_acquire", X, GRANTED, NULL },
	{ 'b', "lock_acquire", "{'name':'y'}", GRANTED, NULL },
	{ 'c', "lock_acquire", "{'name':'z'}", GRANTED, NULL },
	{ 'a', "lock_acquire", "{'name':'y','wait_seconds':30}", NULL, NULL },
	{ 'b', "lock_acquire", "{'name':'z','wait_seconds':30}", NULL, NULL },
	{ 'c', "lock_acquire", "{'names':['w','x'],'wait_seconds':30}",
	    "ok=false e.code=deadlock e.field=names e.message~'a holds x; a waits for y; "
	    "b holds y; b waits for z; c holds z (you are c)'",
	    NULL },
	/* a chain that closes no cycle waits */
	{ 'd', "lock_acquire", XW, NULL, NULL },
	{ 'c', H_CLOSE, NULL, NULL, "b: " GRANTED " r.names.0=z" },
	{ 'b', H_CLOSE, NULL, NULL, "a: " GRANTED " r.names.0=y" },
	{ 'a', H_CLOSE, NULL, NULL, "d: " GRANTED " r.names.0=x" },
	{ 'd', "lock_release", X, RELEASED, NULL },
};

/*
 * A cycle through a waiter ahead in line: b waits for m behind c, who
 * waits for [m, s] while a holds s; a asking for b's lock would wait
 * for itself.
 */
static const struct hstep deadlock_queue[] = {
	{ 'a', "lock_acquire", "{'name':'s'}", GRANTED, NULL },
	{ 'b', "lock_acquire", "{'name':'l'}", GRANTED, NULL },
	{ 'c', "lock_acquire", "{'names':['m','s'],'wait_seconds':30}", NULL, NULL },
	{ 'b', "lock_acquire", "{'name':'m','wait_seconds':30}", NULL, NULL },
	{ 'a', "lock_acquire", "{'name':'l','wait_seconds':30}",
	    "ok=false e.code=deadlock "
	    "e.message~'b holds l; b waits for m; c is queued ahead for m; c waits for m,...; "
	    "a holds s (you are a)'",
	    NULL },
	{ 'a', "lock_release", "{'name':'s'}", RELEASED, "c: " GRANTED " r.names#2" },
	{ 'c', "lock_release", "{'name':'m'}", RELEASED, "b: " GRANTED " r.names.0=m" },
	{ 'c', "lock_release", "{'name':'s'}", RELEASED, NULL },
	{ 'b', "lock_release", "{'name':'m'}", RELEASED, NULL },
	{ 'b', "lock_release", "{'name':'l'}", RELEASED, NULL },
};

/*
 * File reservations in line: a file under a directory someone waits
 * for is not given to a newcomer ahead of it, and a release of the
 * file lets the directory go, then the file.
 */
static const struct hstep file_queue[] = {
	{ 'a', "lock_acquire", "{'name':'file:src/a.c'}", GRANTED " r.names.0=file:src/a.c",
	    NULL },
	{ 'b', "lock_acquire", "{'name':'file:./src/','wait_seconds':30}", NULL, NULL },
	{ 'c', "lock_acquire", "{'name':'file:/p/src/b.c'}", BUSY " r.names.0=file:src/b.c",
	    NULL },
	{ 'c', "lock_acquire", "{'name':'file:src/b.c','wait_seconds':30}", NULL, NULL },
	{ 'd', "lock_acquire", "{'name':'file:docs/x.md'}", GRANTED, NULL },
	{ 'a', "lock_release", "{'name':'file:src/a.c'}", RELEASED,
	    "b: " GRANTED " r.names.0=file:src" },
	{ 'b', "lock_release", "{'name':'file:src'}", RELEASED,
	    "c: " GRANTED " r.names.0=file:src/b.c" },
	{ 'c', "lock_release", "{'name':'file:src/b.c'}", RELEASED, NULL },
	{ 'd', "lock_release", "{'name':'file:docs/x.md'}", RELEASED, NULL },
};

/*
 * A name given twice is refused, also when two spellings are one lock
 * once normalized, and the refusal frees nothing twice (issue 12: the
 * broker freed such a lock twice and died).
 */
static const struct hstep twice[] = {
	{ 'a', "lock_acquire", "{'names':['k','k']}",
	    "ok=false e.code=invalid_argument "
	    "e.field=names e.message~'k is named twice'",
	    NULL },
	{ 'a', "lock_acquire", "{'names':['file:src/a.c','file:./src/a.c']}",
	    "ok=false e.code=invalid_argument e.message~'file:src/a.c is named twice'", NULL },
	{ 'a', "lock_acquire",
	    "{'names':['file:src/a.c','file:src/x/../a.c'],'wait_seconds':30}",
	    "ok=false e.code=invalid_argument e.message~'file:src/a.c is named twice'", NULL },
	{ 'a', "lock_acquire", "{'names':['file:src/a.c','file:/p/src/a.c','j']}",
	    "ok=false e.code=invalid_argument e.message~'named twice'", NULL },
	{ 'a', "lock_acquire", "{'names':['k','j','k'],'wait_seconds':30}",
	    "ok=false "
	    "e.code=invalid_argument e.message~'k is named twice'",
	    NULL },
	{ 'b', "lock_acquire", "{'name':'k'}", GRANTED, NULL },
	{ 'a', "lock_acquire", "{'names':['j','k','j']}",
	    "ok=false e.code=invalid_argument "
	    "e.message~'j is named twice'",
	    NULL },
	{ 'c', "lock_list", NULL, "r.count=1 r.locks.0.name=k r.locks.0.holders.0.agent=b",
	    NULL },
	{ 'b', "lock_release", "{'name':'k'}", RELEASED, NULL },
};

/*
 * A lock you hold is yours when you ask again (DESIGN §5.1): the grant
 * you have comes back, never a conflict or a deadlock with yourself;
 * names you hold are left in their grant and the others granted anew;
 * a shared lock is not upgraded in place.
 */
static const struct hstep again[] = {
	{ 'a', "lock_acquire", X, GRANTED, NULL },
	{ 'a', "lock_acquire", X,
	    GRANTED " r.held#1 r.held.0=x r.names.0=x r.hint~'already yours'", NULL },
	{ 'b', "lock_acquire", XW, NULL, NULL },
	{ 'a', "lock_acquire", XW, GRANTED " r.held.0=x", NULL },
	{ 'a', "lock_acquire", XSW, GRANTED " r.held.0=x r.mode=exclusive", NULL },
	{ 'a', "lock_acquire", "{'names':['x','y']}",
	    GRANTED " r.names#2 r.held#1 r.held.0=x r.names.1=y", NULL },
	{ 'c', "lock_list", NULL,
	    "r.count=2 r.locks[name=x].holders#1 r.locks[name=x].waiters.0.agent=b "
	    "r.locks[name=y].holders.0.agent=a",
	    NULL },
	{ 'c', "lock_acquire", "{'name':'z','mode':'shared'}", GRANTED, NULL },
	{ 'c', "lock_acquire", "{'name':'z'}",
	    "ok=false e.code=conflict e.message~'you hold z shared' e.message~'not upgraded'",
	    NULL },
	{ 'a', "lock_release", X, RELEASED " r.names#1 r.names.0=x", "b: " GRANTED },
	{ 'a', "lock_release", "{'name':'y'}", RELEASED, NULL },
	{ 'b', "lock_release", X, RELEASED, NULL },
	{ 'c', "lock_release", "{'name':'z'}", RELEASED, NULL },
};

/*
 * A lock nobody holds but someone waits for in line is not given to a
 * newcomer, and the answer says so (not "held by someone else" with no
 * holder).
 */
static const struct hstep line_ahead[] = {
	{ 'a', "lock_acquire", "{'name':'y'}", GRANTED, NULL },
	{ 'b', "lock_acquire", "{'names':['x','y'],'wait_seconds':30}", NULL, NULL },
	{ 'c', "lock_acquire", X,
	    BUSY " r.holders#0 r.queued_ahead=1 r.hint~'nobody holds it, but 1 request "
		 "already waits in line'",
	    NULL },
	{ 'a', "lock_release", "{'name':'y'}", RELEASED, "b: " GRANTED " r.names#2" },
	{ 'c', "lock_acquire", X, BUSY " r.holders#1 r.holders.0.agent=b r.queued_ahead!",
	    NULL },
	{ 'b', "lock_release", "{'names':['x','y']}", RELEASED " r.names#2", NULL },
};

/* lock_release: a token frees its whole grant; names free those of the caller. */
static const struct hstep release_many[] = {
	{ 'a', "lock_acquire", "{'names':['p','q','r']}", GRANTED, NULL },
	{ 'a', "lock_release", "{'names':['p','q']}", RELEASED " r.names#2", NULL },
	{ 'b', "lock_list", NULL, "r.count=1 r.locks.0.name=r", NULL },
	{ 'b', "lock_release", "{'name':'r'}",
	    "ok=false e.code=permission e.message~'held by a'", NULL },
	{ 'b', "lock_release", "{'names':['s','r']}", "ok=false e.code=permission", NULL },
	{ 'a', "lock_release", NULL, "ok=false e.code=invalid_argument e.field=name", NULL },
	{ 'a', "lock_release", "{'name':'r','names':['r']}",
	    "ok=false e.code=invalid_argument e.field=names", NULL },
	{ 'a', "lock_release", "{'name':'r'}", RELEASED, NULL },
	{ 'a', "lock_release", "{'name':'r'}", "ok=true r.released=false r.hint~'nobody holds'",
	    NULL },
};

static const struct {
	const char *name;
	const struct hstep *steps;
	size_t n;
	size_t peers;
} scripts[] = {
	{ "fifo", fifo, nitems(fifo), 5 },
	{ "no barging", no_barging, nitems(no_barging), 3 },
	{ "shared batch", shared_batch, nitems(shared_batch), 6 },
	{ "all or nothing", all_or_nothing, nitems(all_or_nothing), 5 },
	{ "cancel", leave_cancel, nitems(leave_cancel), 4 },
	{ "disconnect", leave_close, nitems(leave_close), 4 },
	{ "head leaves", leave_head, nitems(leave_head), 5 },
	{ "deadlock of two", deadlock2, nitems(deadlock2), 3 },
	{ "deadlock of three", deadlock3, nitems(deadlock3), 4 },
	{ "deadlock through the queue", deadlock_queue, nitems(deadlock_queue), 3 },
	{ "file queue", file_queue, nitems(file_queue), 4 },
	{ "named twice", twice, nitems(twice), 3 },
	{ "asked again", again, nitems(again), 3 },
	{ "in line ahead", line_ahead, nitems(line_ahead), 3 },
	{ "release many", release_many, nitems(release_many), 2 },
};

/*
 * File reservations: does b's request conflict with what a holds?  Both
 * in project /p; the conflict names a's normalized reservation.
 */
static const struct {
	const char *held, *asked;
	const char *held_mode, *asked_mode; /* NULL: exclusive */
	int conflict;
} overlaps[] = {
	{ "file:src", "file:src/a.c", NULL, NULL, 1 },
	{ "file:src/a.c", "file:src", NULL, NULL, 1 },
	{ "file:src/a.c", "file:src/b.c", NULL, NULL, 0 },
	{ "file:src", "file:srcx", NULL, NULL, 0 },
	{ "file:./src/a.c", "file:src/x/../a.c", NULL, NULL, 1 },
	{ "file:/p/src/a.c", "file:src/a.c", NULL, NULL, 1 },
	{ "file:/q/src/a.c", "file:src/a.c", NULL, NULL, 0 },
	{ "file:.", "file:any/thing", NULL, NULL, 1 },
	{ "file:src/**/*.c", "file:src/x/y.c", NULL, NULL, 1 },
	{ "file:src/**/*.c", "file:docs/a.md", NULL, NULL, 0 },
	{ "file:src/*.c", "file:src/x/y.c", NULL, NULL, 0 },
	{ "file:src/*.c", "file:src/*.h", NULL, NULL, 0 },
	{ "file:src/**/*.c", "file:src/lib/**", NULL, NULL, 1 },
	{ "file:src", "file:src/a.c", "shared", "shared", 0 },
	{ "file:src", "file:src/a.c", "shared", NULL, 1 },
	{ "file:src", "src/a.c", NULL, NULL, 0 },
};

/* One script on fresh peers; then nothing may be left held or waiting. */
static void
run_script(size_t k)
{
	struct hscript sc;
	size_t i;

	if (!ok(h_script_open(&sc, "/p", scripts[k].peers) == 0, "%s: %zu peers connect",
		scripts[k].name, scripts[k].peers))
		return;
	for (i = 0; i < scripts[k].n; i++)
		ok(h_step(&sc, &scripts[k].steps[i]), "%s %zu: %s", scripts[k].name, i + 1,
		    h_step_text(&scripts[k].steps[i]));
	ok(h_script_close(&sc) == 0 && lock_count(NULL) == 0 && lock_waiter_count() == 0 &&
		wait_count() == 0,
	    "%s: nothing held or waiting once its peers are gone (locks %zu, "
	    "waiters %zu)",
	    scripts[k].name, lock_count(NULL), lock_waiter_count());
}

/* One overlap case: a holds, b asks without waiting. */
static void
run_overlap(struct hpeer *a, struct hpeer *b, size_t k)
{
	const msgpack_object *ra, *rb;
	char args[256], want[256], *canon;

	snprintf(args, sizeof args, "{'name':'%s','mode':'%s'}", overlaps[k].held,
	    overlaps[k].held_mode != NULL ? overlaps[k].held_mode : "exclusive");
	ra = h_call(a, "lock_acquire", args);
	canon = h_strdup(ra, "r.names.0");
	snprintf(args, sizeof args, "{'name':'%s','mode':'%s'}", overlaps[k].asked,
	    overlaps[k].asked_mode != NULL ? overlaps[k].asked_mode : "exclusive");
	rb = h_call(b, "lock_acquire", args);
	if (overlaps[k].conflict)
		snprintf(want, sizeof want,
		    BUSY " r.holders#1 r.holders.0.agent=a "
			 "r.holders.0.name=%s",
		    canon != NULL ? canon : "?");
	else
		snprintf(want, sizeof want, GRANTED);
	ok(h_check(ra, GRANTED) && h_check(rb, want), "%s held%s, %s asked%s: %s",
	    overlaps[k].held, overlaps[k].held_mode != NULL ? " shared" : "", overlaps[k].asked,
	    overlaps[k].asked_mode != NULL ? " shared" : "",
	    overlaps[k].conflict ? "conflict naming the holder" : "granted");
	free(canon);
	h_close(a);
	h_close(b);
}

/*
 * DESIGN §5.1: re-acquiring a lock you hold returns your grant (the
 * same token and fence, never a conflict or a deadlock with yourself),
 * and releasing by token frees every name of that grant.
 */
static void
own_grant(void)
{
	struct hpeer *a = h_connect("a", "/p");
	const msgpack_object *o;
	char args[128], want[128], *tok;
	int64_t fence;

	o = h_call(a, "lock_acquire", X);
	tok = h_strdup(o, "r.token");
	fence = h_int(o, "r.fence", -1);
	snprintf(want, sizeof want, GRANTED " r.token=%s r.fence=%lld", tok != NULL ? tok : "?",
	    (long long)fence);
	ok(h_check(h_call(a, "lock_acquire", X), want),
	    "re-acquiring a lock you hold returns your grant: the same token and fence");
	ok(h_check(h_call(a, "lock_acquire", XW), want),
	    "re-acquiring it with wait_seconds is no deadlock with yourself");
	free(tok);
	h_close(a);
	a = h_connect("a", "/p");
	o = h_call(a, "lock_acquire", "{'names':['y','z']}");
	tok = h_strdup(o, "r.token");
	snprintf(args, sizeof args, "{'name':'y','token':'%s'}", tok != NULL ? tok : "?");
	ok(h_check(h_call(a, "lock_release", args), RELEASED " r.names#2") &&
		h_check(h_call(a, "lock_list", NULL), "r.count=0"),
	    "releasing with the token frees every name of the grant");
	o = h_call(a, "lock_acquire", "{'names':['y','z'],'ttl_seconds':60}");
	free(tok);
	tok = h_strdup(o, "r.token");
	h_close(a);
	a = h_connect("b", "/p");
	snprintf(args, sizeof args, "{'token':'%s'}", tok != NULL ? tok : "?");
	ok(h_check(h_call(a, "lock_release", args), RELEASED " r.names#2") &&
		h_check(h_call(a, "lock_list", NULL), "r.count=0"),
	    "a token alone, from another session, frees the detached grant's every name");
	ok(h_check(h_call(a, "lock_release", args),
	       "ok=true r.released=false r.hint~'no lock is held with this token'"),
	    "a token whose grant is gone frees nothing, and says so");
	free(tok);
	h_close(a);
}

/* The reply to id of p once it comes (up to H_TIMEOUT), or NULL; as h_reply. */
static const msgpack_object *
reply_of(struct hpeer *p, uint64_t id)
{
	return (h_reply(p, id));
}

/*
 * A waiter between two calls (its wait timed out, it holds a ticket)
 * does not hold the line: the free lock goes to the present waiter
 * behind it at once, and when it comes back with its ticket it is ahead
 * of everyone still waiting (DESIGN §5.1, issue 13).
 */
static void
parked_waiter(void)
{
	struct hpeer *a = h_connect("a", "/park"), *b = h_connect("b", "/park");
	struct hpeer *c = h_connect("c", "/park"), *d = h_connect("d", "/park");
	const msgpack_object *o;
	uint64_t ib, ic, id;
	char args[128], *ticket;

	h_call(a, "lock_acquire", X);
	o = h_call(b, "lock_acquire", "{'name':'x','wait_seconds':0.05}");
	ticket = h_strdup(o, "r.ticket");
	ok(h_check(o,
	       BUSY " r.queue_position=1 r.ticket#32 r.wait_cap_seconds=50 "
		    "r.hint~'within 60 s'"),
	    "a wait that times out answers its place and a ticket kept 60 s");
	ic = h_send(c, "lock_acquire", XW);
	h_settle(c);
	ok(h_take(c, ic) == NULL, "c waits behind the parked b");
	h_call(a, "lock_release", X);
	h_settle(c);
	o = h_take(c, ic);
	ok(o != NULL && h_check(o, GRANTED),
	    "a releases: c, present, is granted at once while b is between calls");
	snprintf(args, sizeof args, "{'name':'x','wait_seconds':30,'ticket':'%s'}",
	    ticket != NULL ? ticket : "?");
	ib = h_send(b, "lock_acquire", args);
	id = h_send(d, "lock_acquire", XW);
	h_settle(d);
	ok(h_check(h_call(a, "lock_list", NULL),
	       "r.locks[name=x].holders.0.agent=c r.locks[name=x].waiters.0.agent=b "
	       "r.locks[name=x].waiters.1.agent=d"),
	    "b comes back with its ticket ahead of d, who came while b was away");
	h_call(c, "lock_release", X);
	ok(h_check(reply_of(b, ib), GRANTED) && h_take(d, id) == NULL,
	    "c releases: b is granted, d still waits");
	h_call(b, "lock_release", X);
	ok(h_check(reply_of(d, id), GRANTED), "b releases: d is granted");
	h_call(d, "lock_release", X);
	/* a parked waiter alone in line: a newcomer takes the free lock */
	h_call(a, "lock_acquire", X);
	free(ticket);
	o = h_call(b, "lock_acquire", "{'name':'x','wait_seconds':0.05}");
	ticket = h_strdup(o, "r.ticket");
	h_call(a, "lock_release", X);
	ok(h_check(h_call(c, "lock_acquire", X), GRANTED),
	    "a free lock with only a parked waiter in line goes to a newcomer");
	h_call(c, "lock_release", X);
	free(ticket);
	h_close(a);
	h_close(b);
	h_close(c);
	h_close(d);
}

/* What ticket_expired waits for: the parked waiter gone from the line. */
static int
line_empty(void *arg)
{
	return (lock_waiter_count() == 0);
}

/* A ticket that is not used within the grace (--ticket-grace) lets its place go. */
static void
ticket_expired(void)
{
	struct hpeer *a = h_connect("a", "/grace"), *b = h_connect("b", "/grace");
	const msgpack_object *o;
	double saved = cfg.ticket_grace;
	uint64_t t0;

	cfg.ticket_grace = 0.2;
	h_call(a, "lock_acquire", X);
	o = h_call(b, "lock_acquire", "{'name':'x','wait_seconds':0.05}");
	ok(h_check(o, BUSY " r.hint~'within 0.2 s'"), "the ticket's grace is told (0.2 s)");
	t0 = mono_ms();
	ok(h_until(line_empty, NULL, "the ticket's place lapses") == 0 && mono_ms() - t0 >= 150,
	    "the parked waiter leaves the line when its grace runs out (%llu ms)",
	    (unsigned long long)(mono_ms() - t0));
	cfg.ticket_grace = saved;
	h_close(a);
	h_close(b);
}

/* lock_list pages by name: limit, after = cursor, more. */
static void
list_pages(void)
{
	struct hpeer *a = h_connect("a", "/pages");

	h_call(a, "lock_acquire", "{'names':['e','b','d','a','c']}");
	ok(h_check(h_call(a, "lock_list", "{'limit':2}"),
	       "r.count=2 r.locks.0.name=a r.locks.1.name=b r.more=true r.cursor=b"),
	    "lock_list {limit:2}: a, b and more, cursor b");
	ok(h_check(h_call(a, "lock_list", "{'limit':2,'after':'b'}"),
	       "r.count=2 r.locks.0.name=c r.locks.1.name=d r.more=true r.cursor=d"),
	    "after b: c, d");
	ok(h_check(h_call(a, "lock_list", "{'limit':2,'after':'d'}"),
	       "r.count=1 r.locks.0.name=e r.more=false r.cursor=e"),
	    "after d: e, and no more");
	ok(h_check(h_call(a, "lock_list", "{'after':'e'}"), "r.count=0 r.more=false r.cursor!"),
	    "after the last: nothing");
	h_close(a);
}

/*
 * A name of NAME_MAX_LEN bytes: its key (project, newline, name) is
 * longer than the stack buffer lock_find looks keys up with, and the
 * lock is still found: the second session waits for it.
 */
static void
long_name(void)
{
	struct hpeer *a = h_connect("a", "/p"), *b = h_connect("b", "/p");
	char name[NAME_MAX_LEN + 1], q[NAME_MAX_LEN + 64];

	memset(name, 'n', NAME_MAX_LEN);
	name[NAME_MAX_LEN] = '\0';
	snprintf(q, sizeof q, "{'name':'%s'}", name);
	ok(h_check(h_call(a, "lock_acquire", q), "ok=true r.acquired=true") &&
		h_check(h_call(b, "lock_acquire", q), BUSY) &&
		h_check(h_call(a, "lock_release", q), "ok=true r.released=true") &&
		h_check(h_call(b, "lock_acquire", q), "ok=true r.acquired=true"),
	    "a lock named with %d bytes is found again: busy for another, free once released",
	    NAME_MAX_LEN);
	h_close(a);
	h_close(b);
}

int
main(void)
{
	size_t k;

	h_start();
	for (k = 0; k < nitems(scripts); k++)
		run_script(k);
	for (k = 0; k < nitems(overlaps); k++)
		run_overlap(h_connect("a", "/p"), h_connect("b", "/p"), k);
	own_grant();
	parked_waiter();
	ticket_expired();
	list_pages();
	long_name();
	ok(h_stop() == 0, "the broker stops cleanly");
	return (done_testing());
}
