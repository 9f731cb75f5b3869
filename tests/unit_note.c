/*
 * Unit tests of notes (broker/note.c, DESIGN §5.2): compare-and-set by
 * version, and the tombstones that keep note_wait from missing a
 * delete, through the real dispatch path (tests/broker_harness.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "broker_harness.h"
#include "tap.h"

enum cas_state { ABSENT, LIVE, DEAD };
enum cas_if { IF_NONE, IF_ZERO, IF_CUR, IF_PREV };
static const char *const state_names[] = { "never written", "written twice",
	"written then deleted" };
static const char *const if_names[] = { "no if_version", "if_version 0", "the current version",
	"the version before" };

/*
 * note_set with if_version against a note in each state.  The current
 * version of a deleted note is its tombstone's (the revision of the
 * delete), the one before it the last write's; a never-written note
 * has none, and 1 stands for "the version before".  A deleted note
 * does not exist: if_version 0 writes it, and a refusal says version 0.
 */
static const struct {
	enum cas_state state;
	enum cas_if ifv;
	int written;
} cas[] = {
	{ ABSENT, IF_NONE, 1 },
	{ ABSENT, IF_ZERO, 1 },
	{ ABSENT, IF_PREV, 0 },
	{ LIVE, IF_NONE, 1 },
	{ LIVE, IF_ZERO, 0 },
	{ LIVE, IF_CUR, 1 },
	{ LIVE, IF_PREV, 0 },
	{ DEAD, IF_NONE, 1 },
	{ DEAD, IF_ZERO, 1 },
	{ DEAD, IF_CUR, 0 },
	{ DEAD, IF_PREV, 0 },
};

/* The version in a reply (r.version), or -1. */
static int64_t
version_of(const msgpack_object *o)
{
	return (h_int(o, "r.version", -1));
}

/* Bring note key to state; its current and previous versions. */
static int
cas_setup(struct hpeer *a, const char *key, enum cas_state state, int64_t *cur, int64_t *prev)
{
	char args[256];

	*cur = 0;
	*prev = 1;
	if (state == ABSENT)
		return (0);
	snprintf(args, sizeof args, "{'key':'%s','value':'first'}", key);
	*prev = version_of(h_call(a, "note_set", args));
	if (state == LIVE)
		snprintf(args, sizeof args, "{'key':'%s','value':'second'}", key);
	else
		snprintf(args, sizeof args, "{'key':'%s'}", key);
	*cur = version_of(h_call(a, state == LIVE ? "note_set" : "note_delete", args));
	return (*prev > 0 && *cur > *prev ? 0 : -1);
}

/* One compare-and-set case on a key of its own. */
static void
run_cas(struct hpeer *a, size_t k)
{
	const msgpack_object *o;
	char key[32], args[256], want[256];
	int64_t cur, prev, ifv, v;
	int holds;

	snprintf(key, sizeof key, "cas%zu", k);
	if (cas_setup(a, key, cas[k].state, &cur, &prev) != 0) {
		ok(0, "%s: set up", key);
		return;
	}
	ifv = cas[k].ifv == IF_ZERO ? 0 : cas[k].ifv == IF_CUR ? cur : prev;
	if (cas[k].ifv == IF_NONE)
		snprintf(args, sizeof args, "{'key':'%s','value':{'v':[1,2]}}", key);
	else
		snprintf(args, sizeof args,
		    "{'key':'%s','value':{'v':[1,2]},'if_version':%" PRId64 "}", key, ifv);
	o = h_call(a, "note_set", args);
	v = version_of(o);
	if (cas[k].written)
		holds = h_check(o, "ok=true r.written=true r.current!") && v > cur;
	else if (cas[k].state == LIVE) {
		snprintf(want, sizeof want,
		    "ok=true r.written=false r.version=%" PRId64 " r.current.version=%" PRId64
		    " r.current.value=second "
		    "r.hint~'someone else wrote it'",
		    cur, cur);
		holds = h_check(o, want);
	} else
		holds = h_check(o,
		    "ok=true r.written=false r.version=0 r.current.version=0 "
		    "r.current.value=null r.hint~'does not exist'");
	/* and the note is what the answer says */
	snprintf(args, sizeof args, "{'key':'%s'}", key);
	o = h_call(a, "note_get", args);
	if (cas[k].written)
		snprintf(want, sizeof want, "r.found=true r.value.v.1=2 r.version=%" PRId64, v);
	else if (cas[k].state == LIVE)
		snprintf(want, sizeof want, "r.found=true r.value=second r.version=%" PRId64,
		    cur);
	else
		snprintf(want, sizeof want, "r.found=false r.value=null r.version=0");
	holds = h_check(o, want) && holds;
	ok(holds, "note_set on a note %s with %s: %s", state_names[cas[k].state],
	    if_names[cas[k].ifv],
	    cas[k].written ? "written, with a newer version"
			   : "refused with the current version and value, and nothing changes");
}

/* Send a note_wait of key past version after; its id (the reply must not be there yet). */
static uint64_t
wait_past(struct hpeer *b, const char *key, int64_t after, int *parked)
{
	char args[256];
	uint64_t id;

	snprintf(args, sizeof args,
	    "{'key':'%s','after_version':%" PRId64 ",'wait_seconds':30}", key, after);
	id = h_send(b, "note_wait", args);
	*parked = h_settle(b) == 0 && h_take(b, id) == NULL;
	return (id);
}

/*
 * A delete wakes a wait parked before it; a wait that starts after it,
 * from the version seen before, is answered at once; and a wait from the
 * tombstone's version waits for the next write.
 */
static void
tombstones(struct hpeer *a, struct hpeer *b)
{
	const msgpack_object *o;
	char args[256], want[256];
	int64_t v, d, w;
	uint64_t id;
	int parked;

	v = version_of(h_call(a, "note_set", "{'key':'t','value':1}"));
	id = wait_past(b, "t", v, &parked);
	o = h_call(a, "note_delete", "{'key':'t'}");
	d = version_of(o);
	ok(parked && h_check(o, "ok=true r.deleted=true") && d > v,
	    "note_delete answers deleted:true with the delete's version (%" PRId64 " > %" PRId64
	    ")",
	    d, v);
	snprintf(want, sizeof want,
	    "ok=true r.changed=true r.found=false r.version=%" PRId64 " r.hint~'deleted'", d);
	ok(h_check(h_take(b, id), want),
	    "a note_wait parked before the delete is woken by it, "
	    "with the tombstone's version");
	snprintf(args, sizeof args, "{'key':'t','after_version':%" PRId64 ",'wait_seconds':30}",
	    v);
	snprintf(want, sizeof want, "ok=true r.changed=true r.found=false r.version=%" PRId64,
	    d);
	ok(h_check(h_call(b, "note_wait", args), want),
	    "a note_wait begun after the delete, "
	    "past the version before it, is answered at once");
	ok(h_check(h_call(a, "note_get", "{'key':'t'}"), "r.found=false r.version=0") &&
		h_check(h_call(a, "note_delete", "{'key':'t'}"),
		    "r.deleted=false r.version=0 "
		    "r.hint~'no such note'"),
	    "a deleted note reads as absent (version 0), and deleting "
	    "it again deletes nothing");
	id = wait_past(b, "t", d, &parked);
	o = h_call(a, "note_set", "{'key':'t','value':'again','if_version':0}");
	w = version_of(o);
	snprintf(want, sizeof want,
	    "ok=true r.changed=true r.found=true r.value=again "
	    "r.author=a r.version=%" PRId64,
	    w);
	ok(parked && h_check(o, "r.written=true") && w > d && h_check(h_take(b, id), want),
	    "a note_wait past the tombstone's version waits, and the next write (if_version 0) "
	    "wakes it with the value");
	snprintf(args, sizeof args, "{'key':'t','if_version':%" PRId64 "}", v);
	snprintf(want, sizeof want, "r.deleted=false r.version=%" PRId64, w);
	ok(h_check(h_call(a, "note_delete", args), want),
	    "note_delete with a stale if_version deletes nothing and says the version");
}

/* What note_expiry waits for: b's wait answered. */
struct answered {
	struct hpeer *b;
	uint64_t id;
	const msgpack_object *o;
};

static int
note_answered(void *arg)
{
	struct answered *w = arg;

	return ((w->o = h_take(w->b, w->id)) != NULL);
}

/*
 * A note whose TTL runs out leaves a tombstone too: a wait past its
 * version is answered with the deletion, whether it was parked before
 * the expiry (as it is unless this process stalls for a second) or not.
 */
static void
expiry(struct hpeer *a, struct hpeer *b)
{
	struct answered w;
	int64_t v;
	uint64_t t0 = mono_ms();
	int parked, holds;

	v = version_of(h_call(a, "note_set", "{'key':'ttl','value':1,'ttl_seconds':1}"));
	w.b = b;
	w.id = wait_past(b, "ttl", v, &parked);
	holds = h_until(note_answered, &w, "the note with a TTL of 1 s to expire") == 0 &&
	    h_check(w.o, "ok=true r.changed=true r.found=false") && version_of(w.o) > v;
	ok(holds, "a note_wait past a note with ttl_seconds 1 wakes when it expires (%.1f s%s)",
	    (double)(mono_ms() - t0) / 1000.0, parked ? "" : ", after it expired");
}

/*
 * A note never written has no tombstone: a wait from 0 waits; one from
 * past the revision waits too (lowered to it) and the next write wakes it.
 */
static void
unwritten(struct hpeer *a, struct hpeer *b)
{
	uint64_t id;
	int parked;

	id = wait_past(b, "never", 0, &parked);
	h_cancel(b, id);
	ok(parked && h_check(h_reply(b, id), "ok=false e.code=cancelled"),
	    "a note_wait from 0 on a note never written waits (until cancelled)");
	id = wait_past(b, "future", 9000000000000000, &parked);
	h_call(a, "note_set", "{'key':'future','value':'now'}");
	ok(parked && h_check(h_take(b, id), "ok=true r.changed=true r.value=now"),
	    "a note_wait past a version nobody has seen yet is woken by the next write");
}

int
main(void)
{
	struct hpeer *a, *b;
	size_t k;

	h_start();
	a = h_connect("a", "/notes");
	b = h_connect("b", "/notes");
	for (k = 0; k < nitems(cas); k++)
		run_cas(a, k);
	tombstones(a, b);
	expiry(a, b);
	unwritten(a, b);
	ok(h_stray(a) == NULL && h_stray(b) == NULL, "no frame came that nobody asked for");
	ok(h_stop() == 0 && wait_count() == 0, "the broker stops cleanly, nobody waiting");
	return (done_testing());
}
