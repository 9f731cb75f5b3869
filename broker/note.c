/*
 * Notes, counters and events (DESIGN §5.2).
 *
 * A note is a key -> value with its author and version (the revision of
 * its last write); values are kept as a msgpack copy, exactly sized, and
 * written into replies as they are.  A note with a TTL has its own
 * evtimer; nothing scans for expired notes.
 *
 * note_wait must never miss a change made between two calls, deletions
 * included.  A deleted (or expired) note therefore leaves a tombstone
 * that remembers the revision of the deletion.  Tombstones are bounded:
 * each is forgotten NOTE_TOMB_KEEP_MS after the deletion, or earlier,
 * oldest first, when there are more than NOTE_TOMBS_MAX.  Forgetting
 * one raises tomb_floor to its revision, and an absent key without a
 * tombstone is taken to have been deleted at tomb_floor: a waiter whose
 * after_version is below that is answered at once.  So once tombstones
 * are forgotten a waiter may be answered early (changed:true with the
 * key absent), but never late.
 *
 * Counters are 64-bit integers that start at 0 and are never forgotten;
 * events are generations (never reset, so no ABA) with the payload of
 * the latest signal.  Both are bounded in number.
 *
 * Every name is resolved to "project\nname", "global:" names to the
 * shared namespace, as lock.c does; the same string, prefixed by the
 * kind, is the wait.c key.
 *
 * All of it is checkpointed (store.c): notes with their tombstones and
 * tomb_floor (under the key "\n", which no name resolves to), counters,
 * events.  A TTL is stored as a wall-clock deadline; a note whose
 * deadline passed while the broker was down expires right after start.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define NOTES_MAX 1000000                  /* live notes, all projects */
#define NOTE_BYTES_MAX (256 * 1024 * 1024) /* their values together */
#define NOTE_TOMBS_MAX 100000              /* remembered deletions */
#define NOTE_TOMB_KEEP_MS (15 * 60 * 1000) /* how long a deletion is remembered */
#define COUNTERS_MAX 100000
#define EVENTS_MAX 100000
#define NOTE_FLOOR_KEY "\n" /* store row of tomb_floor */

struct note {
	char *key;          /* project '\n' name: the hash key, in this allocation */
	size_t nameoff;     /* where the name starts in key */
	unsigned char *val; /* msgpack; NULL in a tombstone; restored: after key */
	size_t vlen;
	const char *author;  /* interned: note_author_get */
	uint64_t version;    /* of the last write, or of the deletion */
	uint64_t expires_ms; /* 0: no TTL */
	uint64_t dead_ms;    /* tombstones: when it was deleted */
	struct event *ttl_ev;
	UT_hash_handle hh;
	TAILQ_ENTRY(note) tentry; /* tombstones, oldest first */
};

/*
 * Authors are few and notes many (a million): each name is kept once,
 * counted, instead of once per note.
 */
struct note_author {
	char *name;
	size_t refs;
	UT_hash_handle hh;
};
static struct note_author *authors;

/* The interned copy of name, counted once more. */
static const char *
note_author_get(const char *name)
{
	struct note_author *a;

	HASH_FIND_STR(authors, name, a);
	if (a == NULL) {
		a = xcalloc(1, sizeof *a);
		a->name = xstrdup(name);
		HASH_ADD_KEYPTR(hh, authors, a->name, strlen(a->name), a);
	}
	a->refs++;
	return (a->name);
}

/* One use of an interned name less; the last frees it. */
static void
note_author_put(const char *name)
{
	struct note_author *a;

	if (name == NULL)
		return;
	HASH_FIND_STR(authors, name, a);
	if (a != NULL && --a->refs == 0) {
		HASH_DEL(authors, a);
		free(a->name);
		free(a);
	}
}

/* A counter's value, or an event's generation and latest payload. */
struct tally {
	char *key;
	int64_t value;
	unsigned char *payload; /* msgpack of the latest signal's payload, or NULL */
	size_t plen;
	UT_hash_handle hh;
};

/* The counters, or the events. */
struct tallies {
	const char *what;
	struct tally *head;
	size_t n, max;
};

static struct note *notes;
static TAILQ_HEAD(, note) tombs = TAILQ_HEAD_INITIALIZER(tombs);
static size_t nnotes, ntombs, note_bytes;
static uint64_t tomb_floor;
static struct event *tomb_ev;
static struct tallies counters = { "counter", NULL, 0, COUNTERS_MAX };
static struct tallies evts = { "event", NULL, 0, EVENTS_MAX };
static size_t note_expected; /* rows the restore brings, for the first note */

/*
 * The restore is about to bring at most rows rows: the table is sized
 * for them when its first note comes, instead of doubling twenty times
 * on the way to a million (each time moving every note), with chains of
 * ten that every insert walks into.
 */
static void
note_expect(size_t rows)
{
	note_expected = rows < NOTES_MAX + NOTE_TOMBS_MAX ? rows : NOTES_MAX + NOTE_TOMBS_MAX;
}

/*
 * A new note (or tombstone) for key, which it copies into its own
 * allocation, with room for extra bytes after it (a restored value).
 */
static struct note *
note_new(const char *key, size_t nameoff, size_t extra)
{
	size_t klen = strlen(key);
	struct note *n = xcalloc(1, sizeof *n + klen + 1 + extra);
	int oomed = 0;

	n->key = (char *)(n + 1);
	memcpy(n->key, key, klen + 1);
	n->nameoff = nameoff;
	HASH_ADD_KEYPTR(hh, notes, n->key, klen, n);
	if (note_expected > 0) {
		while (notes->hh.tbl->num_buckets < note_expected)
			HASH_EXPAND_BUCKETS(&notes->hh, notes->hh.tbl, oomed);
		note_expected = 0;
	}
	(void)oomed;
	return (n);
}

/* Where a restored note's value sits: right after its key. */
static unsigned char *
note_inline(struct note *n)
{
	return ((unsigned char *)n->key + strlen(n->key) + 1);
}

/*
 * "project\nname" for the name in argument arg (key, or name for
 * counters and events); "global:" names are shared.
 */
static char *
note_resolve(struct req *r, const char *arg, size_t *nameoff)
{
	size_t n;
	const char *name = arg_str(r, arg, &n);
	struct session *s = r->s;
	char *key;

	if (n >= 7 && strncmp(name, "global:", 7) == 0)
		xasprintf(&key, "%s\n%.*s", GLOBAL_PROJECT, (int)n, name);
	else
		xasprintf(&key, "%s\n%.*s", s->project, (int)n, name);
	if (nameoff != NULL)
		*nameoff = strlen(key) - n;
	return (key);
}

/* The wait.c key of a resolved name: the kind, then the name. */
static char *
note_wait_key(const char *kind, const char *key)
{
	char *wk;

	xasprintf(&wk, "%s:%s", kind, key);
	return (wk);
}

/* Wake every note_wait on a note's key. */
static void
note_wake(const char *key)
{
	char *wk = note_wait_key("note", key);

	wait_wake(wk);
	free(wk);
}

/*
 * Pack a msgpack value into a buffer kept for the next one (no 8 KiB
 * allocation per value): valid until the next call; -1 if it cannot be
 * packed.
 */
static int
note_pack_value(const msgpack_object *o, unsigned char **out, size_t *len)
{
	static msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_clear(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (msgpack_pack_object(&pk, *o) != 0)
		return (-1);
	*out = (unsigned char *)sb.data;
	*len = sb.size;
	return (0);
}

/* Copy a msgpack value into an exactly sized buffer; -1 if it cannot be packed. */
static int
note_copy(const msgpack_object *o, unsigned char **out, size_t *len)
{
	unsigned char *p;

	if (note_pack_value(o, &p, len) != 0)
		return (-1);
	*out = xmalloc(*len > 0 ? *len : 1);
	memcpy(*out, p, *len);
	return (0);
}

static void note_arm_tomb_timer(void);

/* Forget the oldest tombstone; deletions up to its revision now count as tomb_floor. */
static void
note_forget_tomb(struct note *n)
{
	TAILQ_REMOVE(&tombs, n, tentry);
	ntombs--;
	if (n->version > tomb_floor) {
		tomb_floor = n->version;
		store_mark(&note_store_kind, NOTE_FLOOR_KEY);
	}
	store_mark(&note_store_kind, n->key);
	HASH_DEL(notes, n);
	free(n);
}

/* The oldest tombstone's time is up: forget every tombstone that is due. */
static void
note_tomb_cb(evutil_socket_t fd, short events, void *arg)
{
	struct note *n;
	uint64_t now = mono_ms();

	while ((n = TAILQ_FIRST(&tombs)) != NULL && n->dead_ms + NOTE_TOMB_KEEP_MS <= now)
		note_forget_tomb(n);
	note_arm_tomb_timer();
}

/* One timer for the oldest tombstone: they are kept in order of deletion. */
static void
note_arm_tomb_timer(void)
{
	struct note *n = TAILQ_FIRST(&tombs);

	if (tomb_ev == NULL)
		tomb_ev = timer_new(note_tomb_cb, NULL);
	if (n == NULL) {
		evtimer_del(tomb_ev);
		return;
	}
	if (evtimer_pending(tomb_ev, NULL))
		return; /* already set for an older (or the same) one */
	timer_at(tomb_ev, n->dead_ms + NOTE_TOMB_KEEP_MS);
}

/* Drop a live note's value and TTL (it is being deleted or overwritten). */
static void
note_clear(struct note *n)
{
	if (n->val != NULL) {
		note_bytes -= n->vlen;
		nnotes--;
	}
	if (n->val != note_inline(n))
		free(n->val);
	n->val = NULL;
	n->vlen = 0;
	note_author_put(n->author);
	n->author = NULL;
	n->expires_ms = 0;
	if (n->ttl_ev != NULL) {
		event_free(n->ttl_ev);
		n->ttl_ev = NULL;
	}
}

/* Delete a live note: it becomes a tombstone at a new revision; waiters wake. */
static uint64_t
note_kill(struct note *n)
{
	note_clear(n);
	n->version = revision_next();
	n->dead_ms = mono_ms();
	store_mark(&note_store_kind, n->key);
	TAILQ_INSERT_TAIL(&tombs, n, tentry);
	ntombs++;
	if (ntombs > NOTE_TOMBS_MAX)
		note_forget_tomb(TAILQ_FIRST(&tombs));
	note_arm_tomb_timer();
	note_wake(n->key);
	return (n->version);
}

/* A note's TTL ran out: delete it like note_delete would. */
static void
note_expire_cb(evutil_socket_t fd, short events, void *arg)
{
	struct note *n = arg;

	log_debug("note %s expired", n->key + n->nameoff);
	feed_record_pkey(NULL, "expired", "note", n->key, "expired (ttl ran out)");
	note_kill(n);
}

/* The live note under key, or NULL; *tomb gets a tombstone when there is one. */
static struct note *
note_find(const char *key, struct note **tomb)
{
	struct note *n;

	HASH_FIND_STR(notes, key, n);
	if (tomb != NULL)
		*tomb = n != NULL && n->val == NULL ? n : NULL;
	return (n != NULL && n->val != NULL ? n : NULL);
}

/* Pack {value, version} of a note (null and 0 when absent). */
static void
pk_current(struct fbuf *fb, const struct note *n)
{
	pk_map_open(fb);
	pk_str(fb, "value");
	pk_raw(fb, n != NULL ? n->val : NULL, n != NULL ? n->vlen : 0);
	pk_kuint(fb, "version", n != NULL ? n->version : 0);
	pk_map_close(fb);
}

/* Refuse a write that would pass the bounds on notes. */
static int
note_check_limits(struct req *r, const struct note *old, size_t vlen)
{
	size_t bytes = note_bytes - (old != NULL ? old->vlen : 0);

	if (old == NULL && nnotes >= NOTES_MAX) {
		reply_error(r->c, r->id, ERR_LIMIT, "key",
		    "the broker holds %d notes, its limit; delete some with note_delete",
		    NOTES_MAX);
		return (-1);
	}
	if (bytes + vlen > NOTE_BYTES_MAX) {
		reply_error(r->c, r->id, ERR_LIMIT, "value",
		    "notes hold %zu bytes and the limit is %d; delete some with note_delete",
		    note_bytes, NOTE_BYTES_MAX);
		return (-1);
	}
	return (0);
}

/*
 * Store value into the note under key (made or revived) at version (0:
 * a new revision, else the restored one), to expire at a mono_ms()
 * deadline (0: never); the note's version.  At restore the note is new
 * and val, borrowed, is copied into the note's own allocation.
 */
static uint64_t
note_store(const char *key, size_t nameoff, struct note *n, unsigned char *val, size_t vlen,
    const char *author, uint64_t expires, uint64_t version)
{
	if (n == NULL && restoring) {
		n = note_new(key, nameoff, vlen);
		if (vlen > 0)
			memcpy(note_inline(n), val, vlen);
		val = note_inline(n);
	} else if (n == NULL)
		n = note_new(key, nameoff, 0);
	else {
		if (n->val == NULL) { /* a tombstone comes back to life */
			TAILQ_REMOVE(&tombs, n, tentry);
			ntombs--;
		} else
			note_clear(n);
	}
	n->val = val;
	n->vlen = vlen;
	n->author = note_author_get(author);
	n->version = version != 0 ? version : revision_next();
	nnotes++;
	note_bytes += vlen;
	store_mark(&note_store_kind, n->key);
	if (expires != 0) {
		n->ttl_ev = timer_new(note_expire_cb, n);
		n->expires_ms = expires;
		timer_at(n->ttl_ev, expires);
	}
	if (!restoring) /* nobody can wait yet, and a restore makes a million of them */
		note_wake(n->key);
	return (n->version);
}

/* Answer a note_set whose if_version is not the note's: what it holds now. */
static void
note_set_refused(struct req *r, const struct note *n)
{
	struct fbuf *fb = reply_begin(r->id);

	pk_map_open(fb);
	pk_kbool(fb, "written", 0);
	pk_kuint(fb, "version", n != NULL ? n->version : 0);
	pk_str(fb, "current");
	pk_current(fb, n);
	pk_kstr(fb, "hint",
	    n == NULL
		? "the note does not exist (if_version 0 writes only then); read it with "
		  "note_get or write with if_version 0"
		: "someone else wrote it since: current holds its value and version; merge "
		  "and retry note_set with if_version = current.version");
	pk_map_close(fb);
	reply_end(r->c, fb);
}

void
op_note_set(struct req *r)
{
	struct note *n, *tomb;
	struct fbuf *fb;
	unsigned char *val;
	size_t vlen, nameoff;
	uint64_t version, cur;
	double ttl = arg_num(r, "ttl_seconds");
	char *key;

	key = note_resolve(r, "key", &nameoff);
	n = note_find(key, &tomb);
	cur = n != NULL ? n->version : 0;
	if (arg_has(r, "if_version") && (uint64_t)arg_int(r, "if_version") != cur) {
		free(key);
		note_set_refused(r, n);
		return;
	}
	if (note_copy(arg_get(r, "value"), &val, &vlen) != 0) {
		free(key);
		reply_error(r->c, r->id, ERR_INVALID, "value", "value cannot be stored");
		return;
	}
	if (note_check_limits(r, n, vlen) != 0) {
		free(key);
		free(val);
		return;
	}
	feed_record_pkey(r->s, "note_set", "note", key, "written (%zu bytes%s)", vlen,
	    ttl > 0 ? ", with a ttl" : "");
	version = note_store(key, nameoff, n != NULL ? n : tomb, val, vlen, r->s->agent,
	    ttl > 0 ? mono_ms() + (uint64_t)(ttl * 1000) : 0, 0);
	free(key);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kbool(fb, "written", 1);
	pk_kuint(fb, "version", version);
	pk_map_close(fb);
	reply_end(r->c, fb);
}

void
op_note_get(struct req *r)
{
	struct note *n;
	struct fbuf *fb;
	char *key;

	key = note_resolve(r, "key", NULL);
	n = note_find(key, NULL);
	free(key);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kbool(fb, "found", n != NULL);
	pk_str(fb, "value");
	pk_raw(fb, n != NULL ? n->val : NULL, n != NULL ? n->vlen : 0);
	pk_kuint(fb, "version", n != NULL ? n->version : 0);
	pk_kstr(fb, "author", n != NULL ? n->author : "");
	if (n != NULL && n->expires_ms != 0)
		pk_kdouble(fb, "expires_in_seconds", secs_left(n->expires_ms));
	pk_map_close(fb);
	reply_end(r->c, fb);
}

void
op_note_delete(struct req *r)
{
	struct note *n;
	struct fbuf *fb;
	const char *hint = NULL;
	uint64_t version;
	char *key;

	key = note_resolve(r, "key", NULL);
	n = note_find(key, NULL);
	free(key);
	if (n == NULL)
		hint = "no such note; nothing to delete";
	else if (arg_has(r, "if_version") && (uint64_t)arg_int(r, "if_version") != n->version)
		hint = "the note changed since the version you gave: read it again with "
		       "note_get before deleting";
	fb = reply_begin(r->id);
	pk_map_open(fb);
	if (hint != NULL) {
		pk_kbool(fb, "deleted", 0);
		pk_kuint(fb, "version", n != NULL ? n->version : 0);
		pk_kstr(fb, "hint", hint);
	} else {
		feed_record_pkey(r->s, "note_delete", "note", n->key, "deleted");
		version = note_kill(n);
		pk_kbool(fb, "deleted", 1);
		pk_kuint(fb, "version", version);
	}
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/* Order notes by name for note_list. */
static int
note_cmp(const void *a, const void *b)
{
	const struct note *x = *(struct note *const *)a, *y = *(struct note *const *)b;

	return (strcmp(x->key + x->nameoff, y->key + y->nameoff));
}

/* How the name compares with after (alen bytes, not NUL-terminated), as strcmp. */
static int
note_after(const char *name, const char *after, size_t alen)
{
	size_t nlen = strlen(name);
	int c = memcmp(name, after, nlen < alen ? nlen : alen);

	if (c != 0)
		return (c);
	return (nlen < alen ? -1 : nlen > alen ? 1 : 0);
}

/*
 * The live notes note_list shows the session (its project's and the
 * global ones) under prefix and after the key after, in key order; their
 * number in *np.
 */
static struct note **
note_collect(struct session *s, const char *prefix, size_t plen, const char *after, size_t alen,
    size_t *np)
{
	struct note *n, *tmp, **v = NULL;
	size_t len, nv = 0, cap = 0, gl = strlen(GLOBAL_PROJECT), pl = strlen(s->project);
	const char *name;

	HASH_ITER(hh, notes, n, tmp) {
		if (n->val == NULL)
			continue;
		len = n->nameoff - 1; /* the project's length */
		if (!(len == pl && memcmp(n->key, s->project, pl) == 0) &&
		    !(len == gl && memcmp(n->key, GLOBAL_PROJECT, gl) == 0))
			continue;
		name = n->key + n->nameoff;
		if (strncmp(name, prefix, plen) != 0 ||
		    (alen > 0 && note_after(name, after, alen) <= 0))
			continue;
		if (nv == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[nv++] = n;
	}
	if (nv > 0)
		qsort(v, nv, sizeof *v, note_cmp);
	*np = nv;
	return (v);
}

void
op_note_list(struct req *r)
{
	struct note *n, **v;
	size_t plen, alen, nv, i;
	const char *prefix = arg_str(r, "prefix", &plen), *after = arg_str(r, "after", &alen);
	size_t limit = (size_t)arg_int(r, "limit");
	struct fbuf *fb;

	v = note_collect(r->s, prefix, plen, after, alen, &nv);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_str(fb, "notes");
	pk_array_open(fb);
	for (i = 0; i < nv && i < limit && !reply_full(fb); i++) {
		n = v[i];
		pk_map_open(fb);
		pk_kstr(fb, "key", n->key + n->nameoff);
		pk_kuint(fb, "version", n->version);
		pk_kstr(fb, "author", n->author);
		pk_kuint(fb, "size_bytes", n->vlen);
		if (n->expires_ms != 0)
			pk_kdouble(fb, "expires_in_seconds", secs_left(n->expires_ms));
		pk_map_close(fb);
	}
	pk_array_close(fb);
	pk_kuint(fb, "count", i);
	pk_kbool(fb, "more", nv > i);
	pk_map_close(fb);
	reply_end(r->c, fb);
	free(v);
}

/*
 * The version a note_wait compares with: the live note's, its
 * tombstone's, or tomb_floor for a key whose deletion (if any) has
 * been forgotten.
 */
static uint64_t
note_seen_version(const char *key, struct note **live)
{
	struct note *tomb;

	*live = note_find(key, &tomb);
	if (*live != NULL)
		return ((*live)->version);
	return (tomb != NULL ? tomb->version : tomb_floor);
}

/* Answer a note_wait: changed or timed out, with the key's state now. */
static void
note_wait_reply(struct bwait *w, int changed)
{
	struct note *n;
	struct fbuf *fb;
	uint64_t v = note_seen_version(w->arg, &n);
	int full = changed && n != NULL;

	fb = reply_begin(w->req_id);
	pk_map_open(fb);
	pk_kbool(fb, "changed", changed);
	pk_kbool(fb, "found", n != NULL);
	pk_kuint(fb, "version", n != NULL ? n->version : v);
	pk_kdouble(fb, "wait_cap_seconds", w->cap);
	if (full) {
		pk_str(fb, "value");
		pk_raw(fb, n->val, n->vlen);
		pk_kstr(fb, "author", n->author);
	} else if (changed)
		pk_kstr(fb, "hint",
		    "the note was deleted (or expired); call note_wait with "
		    "after_version = version to wait for it to be written again");
	else
		pk_kstr(fb, "hint",
		    "no change yet; call note_wait again with the same "
		    "after_version to keep waiting without missing a change");
	pk_map_close(fb);
	reply_end(w->s->client, fb);
}

/* wait.c: answer when the key's version is past the caller's. */
static int
note_wait_ready(struct bwait *w)
{
	struct note *n;

	if (note_seen_version(w->arg, &n) <= w->after)
		return (0);
	note_wait_reply(w, 1);
	return (1);
}

static void
note_wait_timeout(struct bwait *w)
{
	note_wait_reply(w, 0);
}

/*
 * Park a note_wait or event_wait on the kind's wait key, for the
 * resolved key (taken over) past version after, for wait_seconds;
 * now(key) is the newest version anyone can have seen, and a larger
 * after is lowered to it so the next change wakes the caller.
 */
static void
note_park(struct req *r, const char *kind, char *key, uint64_t after,
    uint64_t (*now)(const char *), int (*ready)(struct bwait *),
    void (*on_timeout)(struct bwait *))
{
	struct bwait *w;
	char *wk;

	if (after > now(key))
		after = now(key);
	wk = note_wait_key(kind, key);
	w = wait_add(r, wk, arg_num(r, "wait_seconds"), ready, on_timeout, key, after);
	free(wk);
	if (w == NULL)
		free(key);
	else
		w->free_arg = free;
}

/* Nobody saw a note version past the global revision. */
static uint64_t
note_now(const char *key)
{
	return (revision);
}

void
op_note_wait(struct req *r)
{
	note_park(r, "note", note_resolve(r, "key", NULL),
	    (uint64_t)arg_int(r, "after_version"), note_now, note_wait_ready,
	    note_wait_timeout);
}

/*
 * The tally under *keyp; when absent and make is set, a new one (within
 * the bound unless restoring) that takes *keyp (set to NULL).  NULL
 * when there is none.
 */
static struct tally *
tally_get(struct tallies *ts, char **keyp, int make)
{
	struct tally *t;

	HASH_FIND_STR(ts->head, *keyp, t);
	if (t == NULL && make && (ts->n < ts->max || restoring)) {
		t = xcalloc(1, sizeof *t);
		t->key = *keyp;
		*keyp = NULL;
		HASH_ADD_KEYPTR(hh, ts->head, t->key, strlen(t->key), t);
		ts->n++;
	}
	return (t);
}

/* The tally a request names; NULL when absent, or refused (ERR_LIMIT answered). */
static struct tally *
tally_for(struct req *r, struct tallies *ts, int make, int *refused)
{
	struct tally *t;
	char *key;

	key = note_resolve(r, "name", NULL);
	t = tally_get(ts, &key, make);
	free(key);
	*refused = t == NULL && make;
	if (*refused)
		reply_error(r->c, r->id, ERR_LIMIT, "name",
		    "the broker holds %zu %ss, its limit; reuse an existing one", ts->max,
		    ts->what);
	return (t);
}

void
op_counter_incr(struct req *r)
{
	struct tally *c;
	struct fbuf *fb;
	int64_t by = arg_int(r, "by"), sum;
	int refused;

	if ((c = tally_for(r, &counters, by != 0, &refused)) == NULL && refused)
		return;
	if (c != NULL && __builtin_add_overflow(c->value, by, &sum)) {
		reply_error(r->c, r->id, ERR_LIMIT, "by",
		    "counter %s would overflow: %lld + %lld does not fit in 64 bits",
		    c->key + strcspn(c->key, "\n") + 1, (long long)c->value, (long long)by);
		return;
	}
	if (c != NULL && by != 0) {
		c->value = sum;
		revision_next();
		feed_record_pkey(r->s, "counter_incr", "counter", c->key, "%+lld: %lld",
		    (long long)by, (long long)sum);
		store_mark(&counter_store_kind, c->key);
	}
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kint(fb, "value", c != NULL ? c->value : 0);
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/* Signal e with payload p (plen bytes of msgpack, taken over; NULL: none). */
static void
event_bump(struct tally *e, unsigned char *p, size_t plen)
{
	char *wk;

	free(e->payload);
	e->payload = p;
	e->plen = plen;
	e->value++;
	revision_next();
	store_mark(&event_store_kind, e->key);
	wk = note_wait_key("event", e->key);
	wait_wake(wk);
	free(wk);
}

void
op_event_signal(struct req *r)
{
	struct tally *e;
	struct fbuf *fb;
	unsigned char *p = NULL;
	size_t plen = 0;
	int refused;

	if ((e = tally_for(r, &evts, 1, &refused)) == NULL)
		return;
	if (arg_has(r, "payload") && note_copy(arg_get(r, "payload"), &p, &plen) != 0) {
		reply_error(r->c, r->id, ERR_INVALID, "payload", "payload cannot be stored");
		return;
	}
	event_bump(e, p, plen); /* before the answer, which waits for its commit */
	feed_record_pkey(r->s, "event_signal", "event", e->key, "signaled, generation %lld",
	    (long long)e->value);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kint(fb, "generation", e->value);
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/*
 * The broker signals event name of project itself (task.c: a task in
 * review...), with payload (plen bytes of msgpack, copied; NULL: none).
 * Past the bound on events nothing is signaled, as for a peer.
 */
void
event_fire(const char *project, const char *name, const void *payload, size_t plen)
{
	struct tally *e;
	unsigned char *p = NULL;
	char *key;

	xasprintf(&key, "%s\n%s", project, name);
	e = tally_get(&evts, &key, 1);
	free(key);
	if (e == NULL)
		return;
	if (payload != NULL) {
		p = xmalloc(plen);
		memcpy(p, payload, plen);
	}
	event_bump(e, p, plen);
}

/* Answer an event_wait: fired or timed out, with the generation now. */
static void
event_wait_reply(struct bwait *w, const struct tally *e, int fired)
{
	struct fbuf *fb;
	int with_payload = fired && e != NULL && e->payload != NULL;

	fb = reply_begin(w->req_id);
	pk_map_open(fb);
	pk_kbool(fb, "fired", fired);
	pk_kint(fb, "generation", e != NULL ? e->value : 0);
	pk_kdouble(fb, "wait_cap_seconds", w->cap);
	if (with_payload) {
		pk_str(fb, "payload");
		pk_raw(fb, e->payload, e->plen);
	} else if (!fired)
		pk_kstr(fb, "hint",
		    "not signaled yet; call event_wait again with the same "
		    "after to keep waiting without missing a signal");
	pk_map_close(fb);
	reply_end(w->s->client, fb);
}

/* wait.c: answer when the event's generation is past the caller's. */
static int
event_wait_ready(struct bwait *w)
{
	struct tally *e;

	HASH_FIND_STR(evts.head, (const char *)w->arg, e);
	if (e == NULL || (uint64_t)e->value <= w->after)
		return (0);
	event_wait_reply(w, e, 1);
	return (1);
}

static void
event_wait_timeout(struct bwait *w)
{
	struct tally *e;

	HASH_FIND_STR(evts.head, (const char *)w->arg, e);
	event_wait_reply(w, e, 0);
}

/* Nor an event's generation past the current one (say, from before a restart). */
static uint64_t
event_now(const char *key)
{
	struct tally *e;

	HASH_FIND_STR(evts.head, key, e);
	return (e != NULL ? (uint64_t)e->value : 0);
}

void
op_event_wait(struct req *r)
{
	/* next: past the generation now (note_park lowers the largest after to it) */
	uint64_t after = arg_bool(r, "next") ? UINT64_MAX : (uint64_t)arg_int(r, "after");

	note_park(r, "event", note_resolve(r, "name", NULL), after, event_now, event_wait_ready,
	    event_wait_timeout);
}

/* Row of a note, a tombstone or tomb_floor; 0 when it is gone. */
static int
note_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct note *n;

	if (strcmp(key, NOTE_FLOOR_KEY) == 0) {
		pk_map_open(fb);
		pk_kuint(fb, "floor", tomb_floor);
		pk_map_close(fb);
		return (1);
	}
	HASH_FIND_STR(notes, key, n);
	if (n == NULL)
		return (0);
	pk_map_open(fb);
	pk_kuint(fb, "version", n->version);
	if (n->val == NULL)
		pk_kbool(fb, "dead", 1);
	else {
		pk_kstr(fb, "author", n->author);
		pk_str(fb, "value");
		pk_raw(fb, n->val, n->vlen);
		/* deadlines are stored as wall-clock time and re-based at restore */
		pk_kint(fb, "expires", deadline_to_wall(n->expires_ms));
	}
	pk_map_close(fb);
	return (1);
}

/* Rebuild a tombstone: kept NOTE_TOMB_KEEP_MS from now. */
static void
note_restore_tomb(const char *key, size_t nameoff, uint64_t version)
{
	struct note *n = note_new(key, nameoff, 0);

	n->version = version;
	n->dead_ms = mono_ms();
	TAILQ_INSERT_TAIL(&tombs, n, tentry);
	ntombs++;
	note_arm_tomb_timer();
}

/* Rebuild a note or tombstone from its row (or tomb_floor). */
static int
note_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	const msgpack_object *v = mp_get(o, "value"), *a = mp_get(o, "author");
	int64_t version = mp_get_int(o, "version", 0), floor;
	const char *nl = strchr(key, '\n');
	char author[NAME_MAX_LEN + 1];
	unsigned char *val;
	size_t vlen;

	if (strcmp(key, NOTE_FLOOR_KEY) == 0) {
		if ((floor = mp_get_int(o, "floor", 0)) > 0 && (uint64_t)floor > tomb_floor)
			tomb_floor = (uint64_t)floor;
		return (0);
	}
	if (nl == NULL || version <= 0) {
		xasprintf(cause, "note %s: bad row", key);
		return (-1);
	}
	if (mp_get_bool(o, "dead", 0)) {
		note_restore_tomb(key, (size_t)(nl - key) + 1, (uint64_t)version);
		return (0);
	}
	if (v == NULL || note_pack_value(v, &val, &vlen) != 0) {
		xasprintf(cause, "note %s: bad value", key);
		return (-1);
	}
	/* no copy of its own: interned by note_author_get */
	if (a != NULL && a->type == MSGPACK_OBJECT_STR && a->via.str.size < sizeof author) {
		memcpy(author, a->via.str.ptr, a->via.str.size);
		author[a->via.str.size] = '\0';
	} else
		memcpy(author, "?", 2);
	/* one that expired while we were down goes at once, as a deletion */
	note_store(key, (size_t)(nl - key) + 1, NULL, val, vlen, author,
	    deadline_from_wall(mp_get_int(o, "expires", 0)), (uint64_t)version);
	return (0);
}

const struct store_kind note_store_kind = {
	.name = "note",
	.pack = note_pack,
	.restore = note_restore,
	.expect = note_expect,
};

/* Row of a counter or an event (kind->arg: its tallies): its value, the latest payload. */
static int
tally_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct tallies *ts = kind->arg;
	struct tally *t;

	HASH_FIND_STR(ts->head, key, t);
	if (t == NULL)
		return (0);
	pk_map_open(fb);
	pk_kint(fb, "value", t->value);
	if (t->payload != NULL) {
		pk_str(fb, "payload");
		pk_raw(fb, t->payload, t->plen);
	}
	pk_map_close(fb);
	return (1);
}

/* Rebuild a counter or an event from its row. */
static int
tally_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	const msgpack_object *p = mp_get(o, "payload");
	struct tallies *ts = kind->arg;
	struct tally *t;
	char *k = xstrdup(key);
	int64_t value;

	if (mp_int(mp_get(o, "value"), &value) != 0) {
		free(k);
		xasprintf(cause, "%s %s: bad row", ts->what, key);
		return (-1);
	}
	t = tally_get(ts, &k, 1);
	free(k);
	t->value = value;
	if (p != NULL && note_copy(p, &t->payload, &t->plen) != 0) {
		xasprintf(cause, "%s %s: bad payload", ts->what, key);
		return (-1);
	}
	return (0);
}

const struct store_kind counter_store_kind = {
	.name = "counter",
	.pack = tally_pack,
	.restore = tally_restore,
	.arg = &counters,
};

const struct store_kind event_store_kind = {
	.name = "event",
	.pack = tally_pack,
	.restore = tally_restore,
	.arg = &evts,
};
