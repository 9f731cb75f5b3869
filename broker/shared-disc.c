/*
 * Discussions of a shared project, in etcd (DESIGN 5.4, 15; batond(8)
 * "Shared projects"), with the fields and errors of discuss.c:
 *
 *   - PREFIX/dn holds the last number given ({v, w}): a start compares
 *     its mod revision, so numbers D1, D2... are unique across hosts;
 *   - PREFIX/d/NUM (ten digits) is the whole discussion: topic, thread,
 *     resolution, the host and session that started it and its token;
 *     each change is a txn comparing its mod revision, retried on a race;
 *   - PREFIX/s/NUM its summary (discussion_list reads those), PREFIX/r/NUM
 *     marks a resolved one (the oldest goes when DISC_MAX are kept), and
 *     PREFIX/w/ADDR/NUM the summary of an open one waiting on ADDR (an
 *     inbox lists those);
 *   - the notice mailed to whoever must act next is a message put in the
 *     same txn as the change (shared_msg_put): it wakes a blocked inbox
 *     on any host.
 *
 * Every write carries a tag of its own (w), so a txn that went to etcd
 * twice (its answer lost in a failover) is known as ours.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "shared.h"

#define DISC_MAX 1000        /* discussions per shared project */
#define DISC_REPLIES_MAX 100 /* messages in a thread */
#define DISC_LIST_BYTES (512 * 1024)
#define DISC_INBOX_MAX 20 /* discussions an inbox lists */
#define DISC_TRIES 100

/* A discussion call in progress. */
struct sd {
	struct disc d; /* as its record holds it */
	char *host;    /* where it was started */
	unsigned num;
	char *tag, *waiting, *text;
	int64_t mod;
	int tries, has_waiting;
	char *status, *filter;                       /* discussion_list */
	char *decision, *reasoning, *token, *linked; /* discussion_resolve */
	unsigned before;
	int64_t limit;
};

static void
sd_end(struct shcall *c)
{
	struct sd *x = c->st;

	disc_free(&x->d, 0);
	free(x->host);
	free(x->tag);
	free(x->waiting);
	free(x->text);
	free(x->status);
	free(x->filter);
	free(x->decision);
	free(x->reasoning);
	free(x->token);
	free(x->linked);
}

static struct sd *
sd_new(struct req *r, struct shcall **cp)
{
	struct shcall *c = shcall_new(r, sizeof(struct sd));
	struct sd *x = c->st;

	c->on_end = sd_end;
	x->tag = shared_tag();
	*cp = c;
	return (x);
}

/* ROOT KIND/NUM, or ROOT KIND/ESC(addr)/NUM. */
static char *
sd_key(const struct shcall *c, const char *kind, const char *addr, unsigned num)
{
	char *root = shared_root(c, kind), *e = NULL, *key;

	if (addr != NULL)
		e = shared_esc(addr, strlen(addr));
	xasprintf(&key, "%s%s%s%010u", root, e != NULL ? e : "", e != NULL ? "/" : "", num);
	free(root);
	free(e);
	return (key);
}

/* The key of the numbers: ROOT dn. */
static char *
sd_dn_key(const struct shcall *c)
{
	char *key = shared_root(c, "dn");

	key[strlen(key) - 1] = '\0';
	return (key);
}

/* A string field of o, copied (NULL when absent or nil). */
static char *
sd_str(const msgpack_object *o, const char *field)
{
	return (o != NULL ? mp_get_strdup(o, field) : NULL);
}

/* The discussion a record holds (the host it was started on in *host); -1 when none. */
static int
dd_read(const struct shrec *r, struct disc *d, char **host)
{
	const msgpack_object *o = r->o, *a, *e;
	char *v;
	uint32_t i;

	memset(d, 0, sizeof *d);
	d->num = (unsigned)mp_get_int(o, "n", 0);
	d->topic = sd_str(o, "tp");
	d->category = sd_str(o, "ca");
	d->priority = sd_str(o, "pr");
	d->waiting_on = sd_str(o, "wo");
	d->started_by = sd_str(o, "sb");
	*host = sd_str(o, "h");
	if ((v = sd_str(o, "s")) != NULL)
		snprintf(d->sid, sizeof d->sid, "%s", v);
	free(v);
	if ((v = sd_str(o, "tk")) != NULL)
		snprintf(d->token, sizeof d->token, "%s", v);
	free(v);
	d->resolved = mp_get_bool(o, "rs", 0);
	d->started_ms = mp_get_int(o, "st", 0);
	d->updated_ms = mp_get_int(o, "up", 0);
	d->resolved_ms = mp_get_int(o, "ra", 0);
	d->decision = sd_str(o, "de");
	d->reasoning = sd_str(o, "re");
	d->decided_by = sd_str(o, "db");
	d->linked_task = sd_str(o, "lt");
	a = mp_get(o, "R");
	if (a != NULL && a->type == MSGPACK_OBJECT_ARRAY && a->via.array.size > 0) {
		d->replies = xreallocarray(NULL, a->via.array.size, sizeof *d->replies);
		for (i = 0; i < a->via.array.size; i++) {
			e = &a->via.array.ptr[i];
			if (e->type != MSGPACK_OBJECT_MAP)
				continue;
			d->replies[d->nreplies].who = sd_str(e, "who");
			d->replies[d->nreplies].text = sd_str(e, "t");
			d->replies[d->nreplies].waiting_on = sd_str(e, "wo");
			d->replies[d->nreplies].at_ms = mp_get_int(e, "at", 0);
			d->nreplies++;
		}
	}
	if (d->num == 0 || d->topic == NULL || d->started_by == NULL || d->priority == NULL ||
	    *host == NULL) {
		disc_free(d, 0);
		free(*host);
		*host = NULL;
		return (-1);
	}
	return (0);
}

/* The whole record of d, started on host, written with tag. */
static void
dd_pack(struct fbuf *fb, const struct disc *d, const char *host, const char *tag)
{
	size_t i;

	fbuf_init(fb);
	pk_map_open(fb);
	pk_kint(fb, "n", d->num);
	pk_kstr(fb, "tp", d->topic);
	pk_kstr_opt(fb, "ca", d->category);
	pk_kstr(fb, "pr", d->priority);
	pk_kstr_opt(fb, "wo", d->waiting_on);
	pk_kstr(fb, "sb", d->started_by);
	pk_kstr(fb, "h", host);
	pk_kstr(fb, "s", d->sid);
	pk_kstr(fb, "tk", d->token);
	pk_kbool(fb, "rs", d->resolved);
	pk_kint(fb, "st", d->started_ms);
	pk_kint(fb, "up", d->updated_ms);
	pk_kint(fb, "ra", d->resolved_ms);
	pk_kstr_opt(fb, "de", d->decision);
	pk_kstr_opt(fb, "re", d->reasoning);
	pk_kstr_opt(fb, "db", d->decided_by);
	pk_kstr_opt(fb, "lt", d->linked_task);
	pk_str(fb, "R");
	pk_array(fb, d->nreplies);
	for (i = 0; i < d->nreplies; i++) {
		pk_map_open(fb);
		pk_kstr(fb, "who", d->replies[i].who);
		pk_kstr(fb, "t", d->replies[i].text);
		pk_kstr_opt(fb, "wo", d->replies[i].waiting_on);
		pk_kint(fb, "at", d->replies[i].at_ms);
		pk_map_close(fb);
	}
	pk_kstr(fb, "w", tag);
	pk_map_close(fb);
}

/* The summary lists show, as a record. */
static void
dd_summary(struct fbuf *fb, const struct disc *d)
{
	fbuf_init(fb);
	pk_map_open(fb);
	pk_kint(fb, "n", d->num);
	pk_kstr(fb, "tp", d->topic);
	pk_kbool(fb, "rs", d->resolved);
	pk_kstr_opt(fb, "wo", d->waiting_on);
	pk_kstr_opt(fb, "ca", d->category);
	pk_kstr(fb, "pr", d->priority);
	pk_kstr(fb, "sb", d->started_by);
	pk_kint(fb, "nr", (int64_t)d->nreplies);
	pk_kint(fb, "up", d->updated_ms);
	pk_kstr_opt(fb, "de", d->decision);
	pk_map_close(fb);
}

/* Add a put of the record fb holds to the txn's ops txo. */
static void
sd_put(cJSON *txo, const char *key, struct fbuf *fb)
{
	cJSON_AddItemToArray(txo,
	    etcd_put(key, fb->sb.data + FRAME_HDR, fb->sb.size - FRAME_HDR, 0));
	fbuf_free(fb);
}

/* Add the puts of d (record, summary, waiting index) to txo. */
static void
sd_put_all(const struct shcall *c, cJSON *txo, const struct disc *d, const char *host,
    const char *tag)
{
	struct fbuf fb;
	char *key;

	dd_pack(&fb, d, host, tag);
	key = sd_key(c, "d", NULL, d->num);
	sd_put(txo, key, &fb);
	free(key);
	key = sd_key(c, "s", NULL, d->num);
	dd_summary(&fb, d);
	sd_put(txo, key, &fb);
	free(key);
	if (d->waiting_on != NULL && !d->resolved) {
		key = sd_key(c, "w", d->waiting_on, d->num);
		dd_summary(&fb, d);
		sd_put(txo, key, &fb);
		free(key);
	}
}

/* Mail the notice of a change to addr (unless it is from itself), in txo. */
static void
sd_tell(const struct shcall *c, cJSON *txo, const struct disc *d, const char *from,
    const char *addr, const char *what, const char *body)
{
	char *subject, thread[16], *key;

	if (addr == NULL || strcmp(addr, from) == 0)
		return;
	snprintf(thread, sizeof thread, "D%u", d->num);
	xasprintf(&subject, "%s %s: %s", thread, what, d->topic);
	cJSON_AddItemToArray(txo,
	    shared_msg_put(c, from, addr, subject, body, strlen(body), thread, &key));
	free(subject);
	free(key);
}

/* Pack a discussion's summary record (s/ or w/) as lists show it. */
static void
sd_pack_summary(struct fbuf *fb, const struct shrec *r)
{
	const msgpack_object *o = r->o;
	struct disc d;

	memset(&d, 0, sizeof d);
	d.num = (unsigned)mp_get_int(o, "n", 0);
	d.topic = sd_str(o, "tp");
	d.resolved = mp_get_bool(o, "rs", 0);
	d.waiting_on = sd_str(o, "wo");
	d.category = sd_str(o, "ca");
	d.priority = sd_str(o, "pr");
	d.started_by = sd_str(o, "sb");
	d.nreplies = (size_t)mp_get_int(o, "nr", 0); /* a count: no thread here */
	d.updated_ms = mp_get_int(o, "up", 0);
	d.decision = sd_str(o, "de");
	disc_pack_summary(fb, &d);
	disc_free(&d, 0);
}

/* --- the inbox's discussions (shared-msg.c) ----------------------------- */

/* Add the ranges of the discussions waiting on agent, its role, all to ok. */
void
shared_disc_ranges(const struct shcall *c, cJSON *ok, const char *agent, const char *role)
{
	char *addr[3], *root, *e;
	int i;

	addr[0] = xstrdup(agent);
	xasprintf(&addr[1], "role:%s", role != NULL ? role : "");
	addr[2] = xstrdup("all");
	root = shared_root(c, "w");
	for (i = 0; i < 3; i++) {
		char *key;

		e = shared_esc(addr[i], strlen(addr[i]));
		xasprintf(&key, "%s%s/", root, e);
		cJSON_AddItemToArray(ok, etcd_get(key, 1, DISC_INBOX_MAX, 0));
		free(key);
		free(e);
		free(addr[i]);
	}
	free(root);
}

/* Pack the discussions of the three ranges from first on (up to DISC_INBOX_MAX); how many. */
size_t
shared_disc_pack_waiting(struct fbuf *fb, const cJSON *res, int first)
{
	const cJSON *kv;
	struct shrec r;
	size_t n = 0;
	int i;

	pk_array_open(fb);
	for (i = first; i < first + 3; i++) {
		cJSON_ArrayForEach(kv, etcd_txn_kvs(res, i)) {
			if (n == DISC_INBOX_MAX)
				break;
			if (shrec_read(kv, &r) != 0)
				continue;
			sd_pack_summary(fb, &r);
			shrec_free(&r);
			n++;
		}
	}
	pk_array_close(fb);
	return (n);
}

/* --- discussion_start ---------------------------------------------------- */

static void start_read(struct shcall *, const cJSON *);

static void
start_reply(struct shcall *c)
{
	struct sd *x = c->st;
	struct fbuf *fb;
	char id[16], *hint;

	snprintf(id, sizeof id, "D%u", x->d.num);
	shared_feed(shcall_session(c), "discussion_start", "discussion", id, "started: %s%s%s",
	    x->d.topic, x->d.waiting_on != NULL ? "; waiting on " : "",
	    x->d.waiting_on != NULL ? x->d.waiting_on : "");
	xasprintf(&hint,
	    "%s%s. Follow it with message_inbox (replies are mailed to whoever the "
	    "discussion waits on); resolve it with discussion_resolve id=%s (keep the token "
	    "to do that from another session, on any host).",
	    x->d.waiting_on != NULL
		? "Started; waiting on "
		: "Started; nobody is asked yet (reply with waiting_on to ask someone)",
	    x->d.waiting_on != NULL ? x->d.waiting_on : "", id);
	fb = shcall_reply_begin(c);
	pk_map_open(fb);
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "status", "open");
	pk_kstr_opt(fb, "waiting_on", x->d.waiting_on);
	pk_kstr(fb, "token", x->d.token);
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	free(hint);
	shcall_reply_end(c, fb);
}

/* The start went in, or ours did before a retry, or another took the number first. */
static void
start_done(struct shcall *c, const cJSON *res)
{
	struct sd *x = c->st;

	if (shared_txn_ours(res, 0, x->tag)) {
		start_reply(c);
		return;
	}
	if (++x->tries == DISC_TRIES) {
		shcall_error(c, ERR_CONFLICT, NULL,
		    "other hosts started discussions first %d times in a row; try again",
		    DISC_TRIES);
		return;
	}
	start_read(c, NULL);
}

/*
 * The last number, how many are kept and the oldest resolved: write the
 * next one (dropping that oldest when DISC_MAX are kept), compared on
 * the numbers' mod revision.
 */
static void
start_write(struct shcall *c, const cJSON *res)
{
	struct sd *x = c->st;
	const cJSON *kv = cJSON_GetArrayItem(etcd_txn_kvs(res, 0), 0), *old;
	struct shrec r;
	int64_t last = 0, count;
	unsigned drop = 0;
	cJSON *cmp = cJSON_CreateArray(), *ok = cJSON_CreateArray(), *no = cJSON_CreateArray();
	char *key, *dn = sd_dn_key(c), *rkey;
	struct fbuf fb;
	unsigned char *k;
	size_t klen;

	if (kv != NULL && shrec_read(kv, &r) == 0) {
		last = mp_get_int(r.o, "v", 0);
		shrec_free(&r);
	}
	count =
	    etcd_int(cJSON_GetObjectItemCaseSensitive(
			 cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "responses"),
			     1),
			 "response_range"),
		"count");
	old = cJSON_GetArrayItem(etcd_txn_kvs(res, 2), 0);
	if (count >= DISC_MAX) {
		if (old == NULL ||
		    (k = etcd_unb64(cJSON_GetObjectItemCaseSensitive(old, "key"), &klen)) ==
			NULL) {
			cJSON_Delete(cmp);
			cJSON_Delete(ok);
			cJSON_Delete(no);
			free(dn);
			shcall_error(c, ERR_LIMIT, NULL,
			    "%d discussions are open in this shared project; resolve some "
			    "before starting more",
			    DISC_MAX);
			return;
		}
		drop = klen >= 10 ? disc_num((char *)k + klen - 10, 10) : 0;
		free(k);
	}
	x->d.num = (unsigned)last + 1;
	cJSON_AddItemToArray(cmp,
	    etcd_cmp(dn, "MOD", "EQUAL", kv != NULL ? etcd_int(kv, "mod_revision") : 0));
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "v", x->d.num);
	pk_kstr(&fb, "w", x->tag);
	pk_map_close(&fb);
	sd_put(ok, dn, &fb);
	sd_put_all(c, ok, &x->d, x->host, x->tag);
	sd_tell(c, ok, &x->d, x->d.started_by, x->d.waiting_on, "waits on you", x->text);
	if (drop != 0) {
		rkey = sd_key(c, "r", NULL, drop);
		cJSON_AddItemToArray(cmp, etcd_cmp(rkey, "CREATE", "GREATER", 0));
		cJSON_AddItemToArray(ok, etcd_del(rkey, 0));
		free(rkey);
		key = sd_key(c, "d", NULL, drop);
		cJSON_AddItemToArray(ok, etcd_del(key, 0));
		free(key);
		key = sd_key(c, "s", NULL, drop);
		cJSON_AddItemToArray(ok, etcd_del(key, 0));
		free(key);
	}
	cJSON_AddItemToArray(no, etcd_get(dn, 0, 0, 0));
	free(dn);
	shcall_txn(c, cmp, ok, no, start_done);
}

/* Read the numbers, the count and the oldest resolved discussion. */
static void
start_read(struct shcall *c, const cJSON *unused)
{
	cJSON *ok = cJSON_CreateArray(), *op;
	char *dn = sd_dn_key(c), *root = shared_root(c, "d");

	cJSON_AddItemToArray(ok, etcd_get(dn, 0, 0, 0));
	op = etcd_get(root, 1, 0, 0);
	cJSON_AddBoolToObject(cJSON_GetObjectItemCaseSensitive(op, "request_range"),
	    "count_only", 1);
	cJSON_AddItemToArray(ok, op);
	free(root);
	root = shared_root(c, "r");
	op = etcd_get(root, 1, 1, 0);
	cJSON_AddBoolToObject(cJSON_GetObjectItemCaseSensitive(op, "request_range"),
	    "keys_only", 1);
	cJSON_AddItemToArray(ok, op);
	free(root);
	free(dn);
	shcall_txn(c, NULL, ok, NULL, start_write);
}

void
shared_discussion_start(struct req *r)
{
	struct shcall *c;
	struct sd *x;
	struct session *s = r->s;
	char *waiting;

	if (shared_addr_arg(r, "waiting_on", &waiting) != 0)
		return;
	x = sd_new(r, &c);
	x->d.topic = arg_strdup(r, "topic");
	x->d.category = arg_strdup(r, "category");
	x->d.priority = arg_strdup(r, "priority");
	x->d.waiting_on = waiting;
	x->d.started_by = xstrdup(s->agent);
	x->host = xstrdup(shared_host());
	snprintf(x->d.sid, sizeof x->d.sid, "%s", s->id);
	random_hex(x->d.token, sizeof x->d.token);
	x->d.started_ms = wall_ms();
	x->text = arg_strdup(r, "message");
	disc_add_reply(&x->d, s->agent, x->text, waiting);
	start_read(c, NULL);
}

/* --- reading one: discussion_reply, _resolve, _get ------------------------ */

/* Read discussion x->num, then step. */
static void
sd_read(struct shcall *c, shcall_step *step)
{
	struct sd *x = c->st;
	char *key = sd_key(c, "d", NULL, x->num);
	cJSON *body = cJSON_CreateObject();

	cJSON_AddItemToObject(body, "key", etcd_b64(key, strlen(key)));
	free(key);
	shcall_post(c, "/v3/kv/range", body, step);
}

/* Take the discussion read; answers not_found (and 0) when there is none. */
static int
sd_take(struct shcall *c, const cJSON *res)
{
	struct sd *x = c->st;
	const cJSON *kv = etcd_kv_first(res);
	struct shrec r;
	int ok;

	disc_free(&x->d, 0);
	free(x->host);
	x->host = NULL;
	if (kv == NULL || shrec_read(kv, &r) != 0) {
		shcall_error(c, ERR_NOT_FOUND, "id",
		    "no discussion D%u in this shared project; discussion_list shows them",
		    x->num);
		return (0);
	}
	x->mod = r.mod;
	ok = dd_read(&r, &x->d, &x->host) == 0;
	shrec_free(&r);
	if (!ok)
		shcall_error(c, ERR_INTERNAL, "id", "D%u: its record in etcd is unreadable",
		    x->num);
	return (ok);
}

/* Refuse a change to a resolved discussion; 1 when refused. */
static int
sd_closed(struct shcall *c, const char *doing)
{
	struct disc *d = &((struct sd *)c->st)->d;
	char why[512];

	if (!d->resolved)
		return (0);
	disc_closed_why(why, sizeof why, d, doing);
	shcall_error(c, ERR_CONFLICT, "id", "%s", why);
	return (1);
}

/* The id argument's number in x->num; 0 (answered) when it names none. */
static int
sd_id_arg(struct req *r, struct sd *x)
{
	size_t n;
	const char *s = arg_str(r, "id", &n);

	if ((x->num = disc_num(s, n)) != 0)
		return (1);
	reply_error(r->c, r->id, ERR_NOT_FOUND, "id",
	    "no discussion %.*s in this shared project; discussion_list shows them",
	    (int)(n > 24 ? 24 : n), s);
	return (0);
}

/* A change was written (or ours before a retry): answer; or raced: again. */
static void
sd_changed(struct shcall *c, const cJSON *res, void (*reply)(struct shcall *),
    shcall_step *again)
{
	struct sd *x = c->st;

	if (shared_txn_ours(res, 0, x->tag)) {
		reply(c);
		return;
	}
	if (++x->tries == DISC_TRIES) {
		shcall_error(c, ERR_CONFLICT, NULL,
		    "D%u changed under this call %d times in a row; try again", x->num,
		    DISC_TRIES);
		return;
	}
	sd_read(c, again);
}

/*
 * The txn of a change to the discussion read (old waiting on old_wo):
 * its puts, the old waiting index gone, the notice; compared on its
 * mod revision.
 */
static void
sd_write(struct shcall *c, const char *old_wo, const char *from, const char *addr,
    const char *what, const char *body, shcall_step *done)
{
	struct sd *x = c->st;
	cJSON *cmp = cJSON_CreateArray(), *ok = cJSON_CreateArray(), *no = cJSON_CreateArray();
	char *key = sd_key(c, "d", NULL, x->num), *w;

	cJSON_AddItemToArray(cmp, etcd_cmp(key, "MOD", "EQUAL", x->mod));
	cJSON_AddItemToArray(no, etcd_get(key, 0, 0, 0));
	free(key);
	/* the old waiting index goes (a put of the same key would be a duplicate in the txn) */
	if (old_wo != NULL &&
	    (x->d.resolved || x->d.waiting_on == NULL ||
		strcmp(old_wo, x->d.waiting_on) != 0)) {
		w = sd_key(c, "w", old_wo, x->num);
		cJSON_AddItemToArray(ok, etcd_del(w, 0));
		free(w);
	}
	sd_put_all(c, ok, &x->d, x->host, x->tag);
	if (x->d.resolved) {
		key = sd_key(c, "r", NULL, x->num);
		cJSON_AddItemToArray(ok, etcd_put(key, "", 0, 0));
		free(key);
	}
	sd_tell(c, ok, &x->d, from, addr, what, body);
	shcall_txn(c, cmp, ok, no, done);
}

static void reply_go(struct shcall *, const cJSON *);

static void
reply_answer(struct shcall *c)
{
	struct sd *x = c->st;
	struct fbuf *fb;
	char id[16];

	snprintf(id, sizeof id, "D%u", x->d.num);
	shared_feed(shcall_session(c), "discussion_reply", "discussion", id, "replied%s%s",
	    x->d.waiting_on != NULL ? "; waiting on " : "",
	    x->d.waiting_on != NULL ? x->d.waiting_on : "");
	fb = shcall_reply_begin(c);
	pk_map_open(fb);
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "status", "open");
	pk_kuint(fb, "replies", x->d.nreplies);
	pk_kstr_opt(fb, "waiting_on", x->d.waiting_on);
	pk_kstr(fb, "hint",
	    x->d.waiting_on != NULL
		? "the discussion now waits on waiting_on; its answer reaches your "
		  "inbox when it is addressed to you"
		: "nobody is asked: pass waiting_on to ask someone, or resolve it");
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

static void
reply_done(struct shcall *c, const cJSON *res)
{
	sd_changed(c, res, reply_answer, reply_go);
}

/*
 * The discussion read: add the reply, waiting on waiting_on; without
 * it, on whoever asked when the one asked answers, else the same.
 */
static void
reply_go(struct shcall *c, const cJSON *res)
{
	struct sd *x = c->st;
	struct session *s = shcall_session(c);
	char *old, *next;

	if (!sd_take(c, res) || sd_closed(c, "replied to"))
		return;
	if (x->d.nreplies >= DISC_REPLIES_MAX) {
		shcall_error(c, ERR_LIMIT, "id",
		    "D%u has %d messages, the most a thread keeps; resolve it and start a new "
		    "discussion",
		    x->num, DISC_REPLIES_MAX);
		return;
	}
	if (x->has_waiting || x->d.waiting_on == NULL)
		next = x->waiting != NULL ? xstrdup(x->waiting) : NULL;
	else if (shared_addr_match(x->d.waiting_on, s->agent, s->role) &&
	    strcmp(x->d.started_by, s->agent) != 0)
		next = xstrdup(x->d.started_by);
	else
		next = xstrdup(x->d.waiting_on);
	old = x->d.waiting_on;
	x->d.waiting_on = next;
	disc_add_reply(&x->d, s->agent, x->text, next);
	sd_write(c, old, s->agent, next, "reply", x->text, reply_done);
	free(old);
}

void
shared_discussion_reply(struct req *r)
{
	struct shcall *c;
	struct sd *x;
	char *waiting;

	if (shared_addr_arg(r, "waiting_on", &waiting) != 0)
		return;
	x = sd_new(r, &c);
	x->waiting = waiting;
	x->has_waiting = arg_has(r, "waiting_on");
	x->text = arg_strdup(r, "message");
	if (!sd_id_arg(r, x)) {
		shcall_end(c);
		return;
	}
	sd_read(c, reply_go);
}

/* --- discussion_resolve ------------------------------------------------ */

static void resolve_go(struct shcall *, const cJSON *);

static void
resolve_answer(struct shcall *c)
{
	struct sd *x = c->st;
	struct fbuf *fb;
	char id[16];

	snprintf(id, sizeof id, "D%u", x->d.num);
	shared_feed(shcall_session(c), "discussion_resolve", "discussion", id, "resolved: %s",
	    x->d.decision);
	fb = shcall_reply_begin(c);
	pk_map_open(fb);
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "status", "resolved");
	pk_kstr(fb, "decided_by", x->d.decided_by);
	pk_kstr(fb, "hint",
	    strcmp(x->d.started_by, x->d.decided_by) != 0
		? "resolved; whoever started it was told by message"
		: "resolved");
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

static void
resolve_done(struct shcall *c, const cJSON *res)
{
	sd_changed(c, res, resolve_answer, resolve_go);
}

/* The discussion read: resolved by its session (on its host) or its token. */
static void
resolve_go(struct shcall *c, const cJSON *res)
{
	struct sd *x = c->st;
	struct session *s = shcall_session(c);
	struct disc *d = &x->d;
	char *old, *body;

	if (!sd_take(c, res) || sd_closed(c, "resolved again"))
		return;
	if (!(strcmp(x->host, shared_host()) == 0 && strcmp(d->sid, s->id) == 0) &&
	    (x->token == NULL || token_cmp(d->token, x->token, strlen(x->token)) != 0)) {
		shcall_error(c, ERR_PERMISSION, x->token != NULL ? "token" : NULL,
		    "D%u was started by %s (session %s on host %s); resolving it needs the "
		    "token discussion_start returned%s, or that session; ask %s to resolve it, "
		    "or reply with your proposal",
		    d->num, d->started_by, d->sid, x->host,
		    x->token != NULL ? " (this one does not match)" : "", d->started_by);
		return;
	}
	d->resolved = 1;
	d->decision = xstrdup(x->decision);
	d->reasoning = x->reasoning != NULL ? xstrdup(x->reasoning) : NULL;
	d->linked_task = x->linked != NULL ? xstrdup(x->linked) : NULL;
	d->decided_by = xstrdup(s->agent);
	d->resolved_ms = d->updated_ms = wall_ms();
	old = d->waiting_on;
	d->waiting_on = NULL;
	xasprintf(&body, "Decision: %s%s%s", d->decision,
	    d->reasoning != NULL ? "\nReasoning: " : "",
	    d->reasoning != NULL ? d->reasoning : "");
	sd_write(c, old, s->agent, d->started_by, "resolved", body, resolve_done);
	free(body);
	free(old);
}

void
shared_discussion_resolve(struct req *r)
{
	struct shcall *c;
	struct sd *x = sd_new(r, &c);

	x->decision = arg_strdup(r, "decision");
	x->reasoning = arg_text(r, "reasoning");
	x->token = arg_strdup(r, "token");
	x->linked = arg_strdup(r, "linked_task");
	if (!sd_id_arg(r, x)) {
		shcall_end(c);
		return;
	}
	sd_read(c, resolve_go);
}

/* --- discussion_get ---------------------------------------------------- */

static void
get_done(struct shcall *c, const cJSON *res)
{
	struct sd *x = c->st;
	struct fbuf *fb;

	if (!sd_take(c, res))
		return;
	fb = shcall_reply_begin(c);
	disc_pack(fb, &x->d);
	shcall_reply_end(c, fb);
}

void
shared_discussion_get(struct req *r)
{
	struct shcall *c;
	struct sd *x = sd_new(r, &c);

	if (!sd_id_arg(r, x)) {
		shcall_end(c);
		return;
	}
	sd_read(c, get_done);
}

/* --- discussion_list --------------------------------------------------- */

/* The summaries, newest first: a page of those that pass the filters. */
static void
list_done(struct shcall *c, const cJSON *res)
{
	struct sd *x = c->st;
	const cJSON *kv;
	struct shrec r;
	struct fbuf *fb = shcall_reply_begin(c);
	int64_t n = 0, last = 0;
	int more = 0, resolved;
	char *wo, id[16];

	pk_map_open(fb);
	pk_str(fb, "discussions");
	pk_array_open(fb);
	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(res, "kvs")) {
		if (shrec_read(kv, &r) != 0)
			continue;
		resolved = mp_get_bool(r.o, "rs", 0);
		wo = sd_str(r.o, "wo");
		if ((strcmp(x->status, "open") == 0 && resolved) ||
		    (strcmp(x->status, "resolved") == 0 && !resolved) ||
		    (x->filter != NULL && (wo == NULL || strcmp(wo, x->filter) != 0))) {
			free(wo);
			shrec_free(&r);
			continue;
		}
		free(wo);
		if (n == x->limit || (n > 0 && fb->sb.size > DISC_LIST_BYTES)) {
			shrec_free(&r);
			more = 1;
			break;
		}
		sd_pack_summary(fb, &r);
		last = mp_get_int(r.o, "n", 0);
		shrec_free(&r);
		n++;
	}
	pk_array_close(fb);
	pk_kuint(fb, "count", (uint64_t)n);
	pk_kbool(fb, "more", more);
	if (last != 0) {
		snprintf(id, sizeof id, "D%lld", (long long)last);
		pk_kstr(fb, "cursor", id);
	}
	pk_map_close(fb);
	shcall_reply_end(c, fb);
}

void
shared_discussion_list(struct req *r)
{
	struct shcall *c;
	struct sd *x;
	const char *after;
	size_t alen;
	unsigned before = 0;
	char *root, *end;
	cJSON *body;

	if ((after = arg_str(r, "after", &alen)) != NULL &&
	    (before = disc_num(after, alen)) == 0) {
		reply_error(r->c, r->id, ERR_INVALID, "after",
		    "after must be the cursor of a discussion_list page, an id like \"D12\"");
		return;
	}
	x = sd_new(r, &c);
	x->status = arg_strdup(r, "status");
	x->filter = arg_strdup(r, "waiting_on");
	x->limit = arg_int(r, "limit");
	root = shared_root(c, "s");
	end = before != 0 ? sd_key(c, "s", NULL, before) : etcd_prefix_end(root);
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "key", etcd_b64(root, strlen(root)));
	cJSON_AddItemToObject(body, "range_end", etcd_b64(end, strlen(end)));
	cJSON_AddStringToObject(body, "sort_order", "DESCEND");
	cJSON_AddStringToObject(body, "sort_target", "KEY");
	free(root);
	free(end);
	shcall_post(c, "/v3/kv/range", body, list_done);
}
