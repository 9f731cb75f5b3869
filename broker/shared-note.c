/*
 * Notes, counters and events of a shared project, in etcd (DESIGN 5.2):
 *
 *   - a note is PREFIX/n/NAME holding {v: value, a: author, w: tag}; its
 *     version is the key's mod revision, so compare-and-set is a txn
 *     comparing it (0: the key must not exist); a TTL is a lease of the
 *     note's own that nobody renews;
 *   - a counter is PREFIX/c/NAME holding {v, w}, an event PREFIX/e/NAME
 *     holding {g: generation, p: payload, w}: each change is a txn that
 *     compares the mod revision read before, retried on a race;
 *   - note_wait and event_wait watch the key from the revision after
 *     the one the caller saw (or read), so nothing in between is
 *     missed; when etcd compacted that history, the key is read again.
 *
 * Every write carries a tag of its own (w): when an answer was lost and
 * the txn went to etcd twice, the second compare fails, and the tag in
 * the current record tells that the write was ours, so a counter never
 * adds twice and a compare-and-set never reports a write it made as
 * refused.  Other hosts may write between the lost answer and the
 * retry (a leader's failover takes seconds), so a counter or event also
 * keeps the tags of its last TALLY_RECENT writes with the values they
 * wrote (r: [[tag, value]...]): a retry finds its own there.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared.h"

#define TALLY_TRIES 1000 /* compare-and-set rounds before a counter gives up */
#define TALLY_RECENT 64  /* writes a counter or event remembers the tags of */
#define NOTE_LIST_MAX 1000

/* A note, counter or event call in progress. */
struct nt {
	char *name; /* as the caller gave it */
	char *key, *tag;
	unsigned char *val; /* the record to write (msgpack) */
	size_t vlen;
	int64_t if_version; /* -1: none */
	int64_t lease;      /* a TTL note's own */
	double ttl, wait;
	int64_t after; /* note_wait, event_wait */
	int found;     /* what was read before a wait */
	int64_t version;
	int64_t by;      /* counter_incr */
	int64_t read_at; /* note_wait: the revision the note was read at */
	int64_t written; /* the counter's value or event's generation written */
	int tries;
	unsigned char *payload; /* event_signal: msgpack */
	size_t plen;
	int is_event;
	char *prefix, *start; /* note_list */
	size_t plen_prefix, startlen;
	int64_t limit;
};

static void
nt_end(struct shcall *c)
{
	struct nt *x = c->st;

	free(x->name);
	free(x->key);
	free(x->tag);
	free(x->val);
	free(x->payload);
	free(x->prefix);
	free(x->start);
}

static struct nt *
nt_new(struct req *r, struct shcall **cp, const char *arg)
{
	struct shcall *c = shcall_new(r, sizeof(struct nt));
	struct nt *x = c->st;
	size_t n;
	const char *name = arg_str(r, arg, &n);

	c->on_end = nt_end;
	x->name = xstrndup(name, n);
	x->key = shared_key(c,
	    strcmp(arg, "key") == 0                        ? "n"
		: strcmp(r->op->name, "counter_incr") == 0 ? "c"
							   : "e",
	    name, n, 0);
	x->tag = shared_tag();
	*cp = c;
	return (x);
}

/* The msgpack of o, copied; its length in *len. */
static unsigned char *
nt_copy(const msgpack_object *o, size_t *len)
{
	struct fbuf fb;
	unsigned char *p;

	fbuf_init(&fb);
	pk_object(&fb, o);
	*len = fb.sb.size - FRAME_HDR;
	p = xmalloc(*len > 0 ? *len : 1);
	memcpy(p, fb.sb.data + FRAME_HDR, *len);
	fbuf_free(&fb);
	return (p);
}

/* The first kv of the i-th range of a txn answer, or NULL. */
static const cJSON *
nt_kv(const cJSON *res, int i)
{
	return (cJSON_GetArrayItem(etcd_txn_kvs(res, i), 0));
}

/* Pack a record's field as the value of name (nil when absent). */
static void
nt_pack_field(struct fbuf *fb, const char *name, const struct shrec *r, const char *field)
{
	const msgpack_object *v = r != NULL ? shrec_get(r, field) : NULL;

	pk_str(fb, name);
	if (v != NULL)
		pk_object(fb, v);
	else
		pk_nil(fb);
}

/* Give back a TTL note's lease that no write used. */
static void
nt_revoke(struct nt *x)
{
	if (x->lease == 0)
		return;
	etcd_revoke(x->lease);
	x->lease = 0;
}

/* note_set's answer: written, or refused with what is there now. */
static void
note_set_done(struct shcall *c, const cJSON *res)
{
	struct nt *x = c->st;
	const cJSON *kv = NULL;
	struct shrec r;
	struct fbuf *fb;
	int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "succeeded")), have = 0;
	int64_t version = etcd_revision(res);

	if (!ok && (kv = nt_kv(res, 0)) != NULL && shrec_read(kv, &r) == 0) {
		have = 1;
		if (shrec_tag_is(&r, x->tag)) { /* ours, before a retry */
			ok = 1;
			version = r.mod;
		}
	}
	if (!ok)
		nt_revoke(x);
	else
		shared_feed(shcall_session(c), "note_set", "note", x->name,
		    "written (%zu bytes%s)", x->vlen, x->ttl > 0 ? ", with a ttl" : "");
	fb = shcall_reply_begin(c);
	pk_map_open(fb);
	pk_kbool(fb, "written", ok);
	pk_kint(fb, "version", ok ? version : have ? r.mod : 0);
	if (!ok) {
		pk_str(fb, "current");
		pk_map_open(fb);
		nt_pack_field(fb, "value", have ? &r : NULL, "v");
		pk_kint(fb, "version", have ? r.mod : 0);
		pk_map_close(fb);
		pk_kstr(fb, "hint",
		    !have ? "the note does not exist (if_version 0 writes only then); read it "
			    "with note_get or write with if_version 0"
			  : "someone else wrote it since: current holds its value and version; "
			    "merge and retry note_set with if_version = current.version");
	}
	pk_map_close(fb);
	if (have)
		shrec_free(&r);
	shcall_reply_end(c, fb);
}

/* Write the note (compared with if_version when given). */
static void
note_set_write(struct shcall *c, const cJSON *res)
{
	struct nt *x = c->st;
	cJSON *cmp = NULL, *ok = cJSON_CreateArray(), *no = NULL;

	if (res != NULL && x->ttl > 0 && (x->lease = etcd_int(res, "ID")) == 0) {
		shcall_error(c, ERR_UNAVAILABLE, NULL,
		    "etcd granted no lease for the note's TTL");
		return;
	}
	if (x->if_version >= 0) {
		cmp = cJSON_CreateArray();
		cJSON_AddItemToArray(cmp, etcd_cmp(x->key, "MOD", "EQUAL", x->if_version));
		no = cJSON_CreateArray();
		cJSON_AddItemToArray(no, etcd_get(x->key, 0, 0, 0));
	}
	cJSON_AddItemToArray(ok, etcd_put(x->key, x->val, x->vlen, x->lease));
	shcall_txn(c, cmp, ok, no, note_set_done);
}

/* The record of a note: value, author, tag. */
static void
note_record(struct shcall *c, struct nt *x, const msgpack_object *value)
{
	struct fbuf fb;

	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_str(&fb, "v");
	pk_object(&fb, value);
	pk_kstr(&fb, "a", shcall_session(c)->agent);
	pk_kstr(&fb, "w", x->tag);
	pk_map_close(&fb);
	x->vlen = fb.sb.size - FRAME_HDR;
	x->val = xmalloc(x->vlen);
	memcpy(x->val, fb.sb.data + FRAME_HDR, x->vlen);
	fbuf_free(&fb);
}

void
shared_note_set(struct req *r)
{
	struct shcall *c;
	struct nt *x = nt_new(r, &c, "key");
	cJSON *body;
	int64_t secs;

	x->if_version = arg_has(r, "if_version") ? arg_int(r, "if_version") : -1;
	x->ttl = arg_has(r, "ttl_seconds") ? arg_num(r, "ttl_seconds") : 0;
	note_record(c, x, arg_get(r, "value"));
	if (x->ttl <= 0) {
		note_set_write(c, NULL);
		return;
	}
	secs = (int64_t)x->ttl;
	if ((double)secs < x->ttl)
		secs++;
	body = cJSON_CreateObject();
	cJSON_AddNumberToObject(body, "TTL", (double)secs);
	shcall_post(c, "/v3/lease/grant", body, note_set_write);
}

/* note_get's answer. */
static void
note_get_done(struct shcall *c, const cJSON *res)
{
	const cJSON *kv = etcd_kv_first(res);
	struct shrec r;
	struct fbuf *fb = shcall_reply_begin(c);
	int found = kv != NULL && shrec_read(kv, &r) == 0;

	pk_map_open(fb);
	pk_kbool(fb, "found", found);
	nt_pack_field(fb, "value", found ? &r : NULL, "v");
	pk_kint(fb, "version", found ? r.mod : 0);
	if (found)
		nt_pack_field(fb, "author", &r, "a");
	else
		pk_kstr(fb, "author", "");
	pk_map_close(fb);
	if (found)
		shrec_free(&r);
	shcall_reply_end(c, fb);
}

/* A plain read of one key for call c. */
static void
nt_read(struct shcall *c, const char *key, shcall_step *step)
{
	cJSON *body = cJSON_CreateObject();

	cJSON_AddItemToObject(body, "key", etcd_b64(key, strlen(key)));
	shcall_post(c, "/v3/kv/range", body, step);
}

void
shared_note_get(struct req *r)
{
	struct shcall *c;
	struct nt *x = nt_new(r, &c, "key");

	nt_read(c, x->key, note_get_done);
}

/* note_delete's answer. */
static void
note_delete_done(struct shcall *c, const cJSON *res)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "responses"), 0),
	    "response_delete_range");
	const cJSON *kv = nt_kv(res, 0);
	int deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "succeeded")) &&
	    etcd_int(d, "deleted") > 0;
	struct nt *x = c->st;
	struct fbuf *fb;

	if (deleted)
		shared_feed(shcall_session(c), "note_delete", "note", x->name, "deleted");
	fb = shcall_reply_begin(c);
	pk_map_open(fb);
	pk_kbool(fb, "deleted", deleted);
	pk_kint(fb, "version", deleted ? etcd_revision(res) : etcd_int(kv, "mod_revision"));
	if (!deleted)
		pk_kstr(fb, "hint",
		    kv == NULL ? "no such note; nothing to delete"
			       : "the note changed since the version you gave: read it again "
				 "with note_get before deleting");
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

void
shared_note_delete(struct req *r)
{
	struct shcall *c;
	struct nt *x = nt_new(r, &c, "key");
	cJSON *cmp = cJSON_CreateArray(), *ok = cJSON_CreateArray(), *no = cJSON_CreateArray();

	/* absent: nothing to delete (the failure reads that it is absent) */
	cJSON_AddItemToArray(cmp, etcd_cmp(x->key, "VERSION", "GREATER", 0));
	if (arg_has(r, "if_version"))
		cJSON_AddItemToArray(cmp,
		    etcd_cmp(x->key, "MOD", "EQUAL", arg_int(r, "if_version")));
	cJSON_AddItemToArray(ok, etcd_del(x->key, 0));
	cJSON_AddItemToArray(no, etcd_get(x->key, 0, 0, 0));
	shcall_txn(c, cmp, ok, no, note_delete_done);
}

/* The encoded size of a value. */
static size_t
nt_size(const msgpack_object *v)
{
	size_t n = 0;

	if (v != NULL)
		free(nt_copy(v, &n));
	return (n);
}

/* note_list's answer: a page of notes in key order. */
static void
note_list_done(struct shcall *c, const cJSON *res)
{
	struct nt *x = c->st;
	const cJSON *kv;
	struct shrec r;
	struct fbuf *fb = shcall_reply_begin(c);
	size_t rootlen = strlen(x->key) - x->plen_prefix;
	int64_t shown = 0;
	int more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "more"));

	pk_map_open(fb);
	pk_str(fb, "notes");
	pk_array_open(fb);
	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(res, "kvs")) {
		if (shown == x->limit || reply_full(fb)) {
			more = 1;
			break;
		}
		if (shrec_read(kv, &r) != 0 || r.key == NULL || strlen(r.key) < rootlen) {
			shrec_free(&r);
			continue;
		}
		pk_map_open(fb);
		pk_kstr(fb, "key", r.key + rootlen);
		pk_kint(fb, "version", r.mod);
		nt_pack_field(fb, "author", &r, "a");
		pk_kuint(fb, "size_bytes", nt_size(shrec_get(&r, "v")));
		pk_map_close(fb);
		shrec_free(&r);
		shown++;
	}
	pk_array_close(fb);
	pk_kint(fb, "count", shown);
	pk_kbool(fb, "more", more);
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

void
shared_note_list(struct req *r)
{
	struct shcall *c = shcall_new(r, sizeof(struct nt));
	struct nt *x = c->st;
	size_t n, an, klen;
	const char *prefix = arg_str(r, "prefix", &n), *after = arg_str(r, "after", &an);
	char *end, *from;
	cJSON *body = cJSON_CreateObject();

	c->on_end = nt_end;
	x->limit = arg_int(r, "limit");
	x->plen_prefix = prefix != NULL ? n : 0;
	x->key = shared_key(c, "n", prefix != NULL ? prefix : "", x->plen_prefix, 0);
	end = etcd_prefix_end(x->key);
	from = xstrdup(x->key);
	klen = strlen(from);
	if (after != NULL && an > 0) { /* past after: after, then a NUL byte */
		free(from);
		from = shared_key(c, "n", after, an, 0);
		klen = strlen(from) + 1;
		if (strcmp(from, x->key) < 0) {
			free(from);
			from = xstrdup(x->key);
			klen = strlen(from);
		}
	}
	cJSON_AddItemToObject(body, "key", etcd_b64(from, klen));
	cJSON_AddItemToObject(body, "range_end", etcd_b64(end, strlen(end)));
	cJSON_AddNumberToObject(body, "limit", (double)(x->limit + 1));
	free(from);
	free(end);
	shcall_post(c, "/v3/kv/range", body, note_list_done);
}

/* Answer a note_wait: changed (with the event's kv, or what was read) or not. */
static void
note_wait_reply(struct shcall *c, int changed, const cJSON *kv, int deleted, int64_t version)
{
	struct nt *x = c->st;
	struct shrec r;
	struct fbuf *fb = shcall_reply_begin(c);
	int full = changed && !deleted && kv != NULL && shrec_read(kv, &r) == 0;

	pk_map_open(fb);
	pk_kbool(fb, "changed", changed);
	pk_kbool(fb, "found", changed ? full : x->found);
	pk_kint(fb, "version", version);
	pk_kdouble(fb, "wait_cap_seconds", c->cap);
	if (full) {
		nt_pack_field(fb, "value", &r, "v");
		nt_pack_field(fb, "author", &r, "a");
		shrec_free(&r);
	} else if (changed)
		pk_kstr(fb, "hint",
		    "the note was deleted (or expired); call note_wait with after_version = "
		    "version to wait for it to be written again");
	else
		pk_kstr(fb, "hint",
		    "no change yet; call note_wait again with the same after_version to keep "
		    "waiting without missing a change");
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

static void
note_wait_timeout(struct shcall *c)
{
	struct nt *x = c->st;

	note_wait_reply(c, 0, NULL, 0, x->version);
}

/*
 * An event on the note.  One at or before the revision read (replayed
 * from after_version while the note is absent) says it changed and is
 * gone now; NULL: that history was compacted, the same when the note is
 * absent and the caller saw a version, else the note is read again.
 */
static void note_wait_read(struct shcall *, const cJSON *);

static void
note_wait_event(struct shcall *c, const cJSON *ev)
{
	struct nt *x = c->st;
	const cJSON *kv = cJSON_GetObjectItemCaseSensitive(ev, "kv");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	int deleted = cJSON_IsString(type) && strcmp(type->valuestring, "DELETE") == 0;
	int64_t rev = etcd_int(kv, "mod_revision");

	if (ev == NULL && (x->found || x->after <= 0)) {
		nt_read(c, x->key, note_wait_read); /* compacted: what is it now? */
		return;
	}
	if (ev == NULL || rev <= x->read_at) {
		note_wait_reply(c, 1, NULL, 1, x->read_at);
		return;
	}
	note_wait_reply(c, 1, kv, deleted, rev);
}

/*
 * What the note is now: answer at once when it is past after_version,
 * else watch it: from the revision read, or, when it is absent and the
 * caller saw a version, from that version on (its deletion since then
 * is replayed).
 */
static void
note_wait_read(struct shcall *c, const cJSON *res)
{
	struct nt *x = c->st;
	const cJSON *kv = etcd_kv_first(res);
	int64_t from;

	x->read_at = etcd_revision(res);
	x->found = kv != NULL;
	x->version = kv != NULL ? etcd_int(kv, "mod_revision") : 0;
	if (kv != NULL && x->version > x->after) {
		note_wait_reply(c, 1, kv, 0, x->version);
		return;
	}
	if (x->wait <= 0) {
		note_wait_reply(c, 0, NULL, 0, x->version);
		return;
	}
	from = x->read_at;
	if (kv == NULL && x->after > 0 && x->after < from)
		from = x->after;
	if (c->timer == NULL) /* not again after a compaction: one deadline */
		shcall_wait(c, x->wait, note_wait_timeout);
	shcall_watch(c, x->key, 0, from + 1, 0, note_wait_event);
}

void
shared_note_wait(struct req *r)
{
	struct shcall *c;
	struct nt *x = nt_new(r, &c, "key");

	x->after = arg_int(r, "after_version");
	x->wait = arg_num(r, "wait_seconds");
	nt_read(c, x->key, note_wait_read);
}

/* An int64 field of a record, 0 when absent. */
static int64_t
nt_int(const struct shrec *r, const char *field)
{
	int64_t v = 0;

	if (r != NULL)
		mp_int(shrec_get(r, field), &v);
	return (v);
}

static void tally_try(struct shcall *, const struct shrec *);

/* The value a counter or event answers with. */
static void
tally_reply(struct shcall *c, int64_t v)
{
	struct nt *x = c->st;
	struct fbuf *fb = shcall_reply_begin(c);

	pk_map_open(fb);
	pk_kint(fb, x->is_event ? "generation" : "value", v);
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

/* A change was written: the audit log, and the answer. */
static void
tally_written(struct shcall *c, int64_t v)
{
	struct nt *x = c->st;

	if (x->is_event)
		shared_feed(shcall_session(c), "event_signal", "event", x->name,
		    "signaled, generation %lld", (long long)v);
	else
		shared_feed(shcall_session(c), "counter_incr", "counter", x->name,
		    "%+lld: %lld", (long long)x->by, (long long)v);
	tally_reply(c, v);
}

/*
 * Did r's record come from a write tagged tag, or does it remember one
 * (its recent writes)?  1 and *v the value that write left, else 0.
 */
static int
tally_ours(const struct shrec *r, const char *tag, const char *field, int64_t *v)
{
	const msgpack_object *ring = shrec_get(r, "r"), *e;
	uint32_t i;

	if (shrec_tag_is(r, tag)) {
		*v = nt_int(r, field);
		return (1);
	}
	if (ring == NULL || ring->type != MSGPACK_OBJECT_ARRAY)
		return (0);
	for (i = 0; i < ring->via.array.size; i++) {
		e = &ring->via.array.ptr[i];
		if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 2 &&
		    mp_streq(&e->via.array.ptr[0], tag) && mp_int(&e->via.array.ptr[1], v) == 0)
			return (1);
	}
	return (0);
}

/* The recent writes a new record keeps: this one, then r's (NULL: none), TALLY_RECENT in all. */
static void
tally_ring(struct fbuf *fb, const char *tag, int64_t v, const struct shrec *r)
{
	const msgpack_object *ring = r != NULL ? shrec_get(r, "r") : NULL;
	uint32_t i, n = 0;

	pk_str(fb, "r");
	pk_array_open(fb);
	pk_array(fb, 2);
	pk_str(fb, tag);
	pk_int(fb, v);
	if (ring != NULL && ring->type == MSGPACK_OBJECT_ARRAY)
		for (i = 0; i < ring->via.array.size && ++n < TALLY_RECENT; i++)
			pk_object(fb, &ring->via.array.ptr[i]);
	pk_array_close(fb);
}

/*
 * The compare (key still at r's mod revision; r NULL: absent) and the
 * put of a counter's or event's next record into cmp and ok: field
 * (v or g) at v, payload (NULL: none), the tag and the recent writes.
 */
static void
tally_write(const char *key, const char *field, int64_t v, const unsigned char *payload,
    size_t plen, const char *tag, const struct shrec *r, cJSON *cmp, cJSON *ok)
{
	struct fbuf fb;

	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, field, v);
	if (payload != NULL) {
		pk_str(&fb, "p");
		pk_raw(&fb, payload, plen);
	}
	pk_kstr(&fb, "w", tag);
	tally_ring(&fb, tag, v, r);
	pk_map_close(&fb);
	cJSON_AddItemToArray(cmp, etcd_cmp(key, "MOD", "EQUAL", r != NULL ? r->mod : 0));
	cJSON_AddItemToArray(ok,
	    etcd_put(key, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, 0));
	fbuf_free(&fb);
}

/* A change's answer: done, ours already (a retry), or raced: again from what is there. */
static void
tally_done(struct shcall *c, const cJSON *res)
{
	struct nt *x = c->st;
	const cJSON *kv;
	struct shrec r;
	int64_t mine;
	int have;

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "succeeded"))) {
		tally_written(c, x->written);
		return;
	}
	kv = nt_kv(res, 0);
	have = kv != NULL && shrec_read(kv, &r) == 0;
	if (have && tally_ours(&r, x->tag, x->is_event ? "g" : "v", &mine)) {
		tally_written(c, mine);
		shrec_free(&r);
		return;
	}
	if (++x->tries == TALLY_TRIES) {
		if (have)
			shrec_free(&r);
		shcall_error(c, ERR_CONFLICT, NULL,
		    "other writers changed it first %d times in a row; try again", TALLY_TRIES);
		return;
	}
	tally_try(c, have ? &r : NULL);
	if (have)
		shrec_free(&r);
}

/*
 * One compare-and-set round from r (what is there now; NULL: absent):
 * the new record, written if the key is still at r's mod revision.
 */
static void
tally_try(struct shcall *c, const struct shrec *r)
{
	struct nt *x = c->st;
	cJSON *cmp = cJSON_CreateArray(), *ok = cJSON_CreateArray(), *no = cJSON_CreateArray();
	int64_t old = nt_int(r, x->is_event ? "g" : "v"), v;

	if (__builtin_add_overflow(old, x->is_event ? 1 : x->by, &v)) {
		cJSON_Delete(cmp);
		cJSON_Delete(ok);
		cJSON_Delete(no);
		shcall_error(c, ERR_LIMIT, "by", "the counter would overflow: %lld + %lld",
		    (long long)old, (long long)x->by);
		return;
	}
	tally_write(x->key, x->is_event ? "g" : "v", v, x->payload, x->plen, x->tag, r, cmp,
	    ok);
	cJSON_AddItemToArray(no, etcd_get(x->key, 0, 0, 0));
	x->written = v; /* what a success answers */
	shcall_txn(c, cmp, ok, no, tally_done);
}

/* The first read of a counter or event: the round from what is there. */
static void
tally_read(struct shcall *c, const cJSON *res)
{
	struct nt *x = c->st;
	const cJSON *kv = etcd_kv_first(res);
	struct shrec r;
	int have = kv != NULL && shrec_read(kv, &r) == 0;

	if (!x->is_event && x->by == 0) /* a read */
		tally_reply(c, nt_int(have ? &r : NULL, "v"));
	else
		tally_try(c, have ? &r : NULL);
	if (have)
		shrec_free(&r);
}

void
shared_counter_incr(struct req *r)
{
	struct shcall *c;
	struct nt *x = nt_new(r, &c, "name");

	x->by = arg_int(r, "by");
	nt_read(c, x->key, tally_read);
}

void
shared_event_signal(struct req *r)
{
	struct shcall *c;
	struct nt *x = nt_new(r, &c, "name");

	x->is_event = 1;
	if (arg_has(r, "payload"))
		x->payload = nt_copy(arg_get(r, "payload"), &x->plen);
	nt_read(c, x->key, tally_read);
}

/* Answer an event_wait: fired (with the record signalled) or not. */
static void
event_wait_reply(struct shcall *c, int fired, const struct shrec *r, int64_t g)
{
	struct fbuf *fb = shcall_reply_begin(c);
	const msgpack_object *p = r != NULL ? shrec_get(r, "p") : NULL;

	pk_map_open(fb);
	pk_kbool(fb, "fired", fired);
	pk_kint(fb, "generation", g);
	pk_kdouble(fb, "wait_cap_seconds", c->cap);
	if (fired && p != NULL) {
		pk_str(fb, "payload");
		pk_object(fb, p);
	} else if (!fired)
		pk_kstr(fb, "hint",
		    "not signaled yet; call event_wait again with the same after to keep "
		    "waiting without missing a signal");
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

static void
event_wait_timeout(struct shcall *c)
{
	struct nt *x = c->st;

	event_wait_reply(c, 0, NULL, x->version);
}

static void event_wait_read(struct shcall *, const cJSON *);

/* A signal (or a compaction: read again). */
static void
event_wait_event(struct shcall *c, const cJSON *ev)
{
	struct nt *x = c->st;
	struct shrec r;
	int64_t g;

	if (ev == NULL) {
		nt_read(c, x->key, event_wait_read);
		return;
	}
	if (shrec_read(cJSON_GetObjectItemCaseSensitive(ev, "kv"), &r) != 0)
		return;
	g = nt_int(&r, "g");
	if (g > x->after)
		event_wait_reply(c, 1, &r, g);
	else
		x->version = g;
	shrec_free(&r);
}

/* The generation now: fired already, or watch for the next signal. */
static void
event_wait_read(struct shcall *c, const cJSON *res)
{
	struct nt *x = c->st;
	const cJSON *kv = etcd_kv_first(res);
	struct shrec r;
	int have = kv != NULL && shrec_read(kv, &r) == 0;
	int64_t g = nt_int(have ? &r : NULL, "g");

	if (x->after < 0) /* next: only a signal after this call */
		x->after = g;
	x->version = g;
	if (g > x->after)
		event_wait_reply(c, 1, have ? &r : NULL, g);
	else if (x->wait <= 0)
		event_wait_reply(c, 0, NULL, g);
	else {
		if (c->timer == NULL)
			shcall_wait(c, x->wait, event_wait_timeout);
		shcall_watch(c, x->key, 0, etcd_revision(res) + 1, ETCD_WATCH_NODELETE,
		    event_wait_event);
	}
	if (have)
		shrec_free(&r);
}

void
shared_event_wait(struct req *r)
{
	struct shcall *c;
	struct nt *x = nt_new(r, &c, "name");

	x->is_event = 1;
	x->after = arg_bool(r, "next") ? -1 : arg_int(r, "after");
	x->wait = arg_num(r, "wait_seconds");
	nt_read(c, x->key, event_wait_read);
}

/* The key of event name (of the project, or global:). */
char *
shared_event_key(const struct shcall *c, const char *name)
{
	return (shared_key(c, "e", name, strlen(name), 0));
}

/*
 * Signal event name in another recipe's txn, as event_signal does
 * (shared-task.c's review notices): kv is its key as read before (NULL:
 * absent); the compare of its mod revision goes to cmp, the put of the
 * next generation with payload (plen bytes of msgpack) to ok, so the
 * event fires exactly when the txn succeeds.
 */
void
shared_event_txn(const struct shcall *c, const char *name, const cJSON *kv, const void *payload,
    size_t plen, cJSON *cmp, cJSON *ok)
{
	struct shrec r;
	int have = kv != NULL && shrec_read(kv, &r) == 0;
	char *key = shared_event_key(c, name), *tag = shared_tag();

	tally_write(key, "g", nt_int(have ? &r : NULL, "g") + 1, payload, plen, tag,
	    have ? &r : NULL, cmp, ok);
	if (have)
		shrec_free(&r);
	free(key);
	free(tag);
}
