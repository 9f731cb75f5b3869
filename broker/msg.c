/*
 * Messages (DESIGN §5.4); the discussions are discuss.c's, and msg.h
 * holds the record of a project both share.
 *
 * Messages are kept per project, oldest first, up to a retention bound
 * (a count, --message-retention, and a byte total).  Their ids are the
 * revision of the send: they only increase, also across restarts, and a
 * cursor is simply the last id a reader has seen.  A message is
 * addressed to a name, "role:ROLE" or "all", and matched against the
 * reader's name and role when read, so mailboxes belong to names and
 * outlive sessions.  Read state (message_ack) is per name too.
 *
 * Blocked inboxes of a project all wait on one key; every send wakes
 * them and each decides from its own cursor whether it has mail, so a
 * message between two calls is never missed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

#define MSG_BYTES_MAX (64 * 1024 * 1024) /* bytes retained per project */
#define MSG_PAGE_BYTES (512 * 1024)      /* inbox page, well under a frame */
#define MSG_ACK_IDS_MAX 1000
#define MBOX_MAX 4096     /* names with read state, per project */
#define INBOX_DISC_MAX 20 /* discussions listed in an inbox */

size_t msg_retention = 10000;

/* An inbox call, parked or answered at once. */
struct inbox_q {
	struct mproject *p;
	int unread_only;
	int64_t limit;
	double cap; /* the cap on its wait; 0: it does not wait */
};

static struct mproject *mprojects;

/* The project named name, or NULL when nothing was sent in it yet. */
struct mproject *
mproject_find(const char *name)
{
	struct mproject *p;

	HASH_FIND_STR(mprojects, name, p);
	return (p);
}

/* The project named name, made on first use. */
struct mproject *
mproject_ensure(const char *name)
{
	struct mproject *p;

	if ((p = mproject_find(name)) != NULL)
		return (p);
	p = xcalloc(1, sizeof *p);
	p->name = xstrdup(name);
	xasprintf(&p->wkey, "msg\n%s", name);
	TAILQ_INIT(&p->msgs);
	TAILQ_INIT(&p->discs);
	HASH_ADD_KEYPTR(hh, mprojects, p->name, strlen(p->name), p);
	return (p);
}

/*
 * Store keys: "PROJECT\nREST", with numbers zero-padded so a project's
 * rows load in order.  Names never contain a newline.
 */
void
msg_mark(const struct store_kind *kind, const struct mproject *p, int width,
    unsigned long long v)
{
	char *key;

	xasprintf(&key, "%s\n%0*llu", p->name, width, v);
	store_mark(kind, key);
	free(key);
}

/*
 * The project of a store key "PROJECT\nREST" (NULL when it has none, or
 * is not a project with messages and create is 0); *rest points after
 * the newline.
 */
struct mproject *
mproject_of_key(const char *key, const char **rest, int create)
{
	const char *nl = strchr(key, '\n');
	struct mproject *p;
	char *name;

	if (nl == NULL)
		return (NULL);
	*rest = nl + 1;
	name = xstrndup(key, (size_t)(nl - key));
	p = create ? mproject_ensure(name) : mproject_find(name);
	free(name);
	return (p);
}

/* Does address addr ("all", "role:R" or a name) reach agent in role? */
int
msg_addr_match(const char *addr, const char *agent, const char *role)
{
	if (strcmp(addr, "all") == 0)
		return (1);
	if (strncmp(addr, "role:", 5) == 0)
		return (role != NULL && strcmp(addr + 5, role) == 0);
	return (strcmp(addr, agent) == 0);
}

/* Is m for agent in role?  One's own mail to all or to one's role is not. */
static int
msg_for(const struct message *m, const char *agent, const char *role)
{
	if (!msg_addr_match(m->to, agent, role))
		return (0);
	return (strcmp(m->to, agent) == 0 || strcmp(m->from, agent) != 0);
}

/* NULL when addr is a valid address, else why not. */
static const char *
msg_addr_bad(const char *addr, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)addr[i] <= 0x20 || addr[i] == 0x7f)
			return ("it cannot contain spaces or control characters");
	}
	if (n >= 5 && memcmp(addr, "role:", 5) == 0) {
		if (n == 5 || n - 5 > ROLE_MAX_LEN)
			return ("role:ROLE needs a role of 1 to 32 bytes");
		return (NULL);
	}
	if (n > AGENT_NAME_MAX_LEN)
		return ("agent names have at most 64 bytes");
	return (NULL);
}

/*
 * The address in argument name, copied to *out (NULL when absent or
 * empty); answers the request and returns -1 when it is not one.
 */
int
msg_addr_arg(struct req *r, const char *name, char **out)
{
	const char *s, *why;
	size_t n;

	*out = NULL;
	if ((s = arg_str(r, name, &n)) == NULL)
		return (0);
	if ((why = msg_addr_bad(s, n)) != NULL) {
		reply_error(r->c, r->id, ERR_INVALID, name,
		    "%s must be an agent name, "
		    "role:ROLE or all: %s",
		    name, why);
		return (-1);
	}
	if (n == 0)
		return (0);
	/* on a team broker "x" is the sender's user's agent (team.c) */
	*out = team_agent_addr(r->s->uid, s, n);
	if (strlen(*out) > AGENT_NAME_MAX_LEN) {
		reply_error(r->c, r->id, ERR_INVALID, name,
		    "%s '%s' is too long: with the user name in front, agent names have at "
		    "most %d bytes",
		    name, *out, AGENT_NAME_MAX_LEN);
		free(*out);
		*out = NULL;
		return (-1);
	}
	return (0);
}

static void
msg_free(struct message *m)
{
	free(m->from);
	free(m->to);
	free(m->subject);
	free(m->body);
	free(m->thread);
	free(m);
}

/* Add m to p's messages, in id order (restored rows may come in any order). */
static void
msg_keep(struct mproject *p, struct message *m)
{
	struct message *after;

	m->size = strlen(m->body) + (m->subject != NULL ? strlen(m->subject) : 0) +
	    (m->thread != NULL ? strlen(m->thread) : 0) + strlen(m->from) + strlen(m->to) + 64;
	TAILQ_FOREACH_REVERSE(after, &p->msgs, mlist, entry) {
		if (after->id < m->id)
			break;
	}
	if (after != NULL)
		TAILQ_INSERT_AFTER(&p->msgs, after, m, entry);
	else
		TAILQ_INSERT_HEAD(&p->msgs, m, entry);
	p->nmsgs++;
	p->bytes += m->size;
}

/* Keep a new message; drop the oldest past the retention bounds. */
struct message *
msg_post(struct mproject *p, uint64_t id, const char *from, const char *to, const char *subject,
    const char *body, const char *thread)
{
	struct message *m = xcalloc(1, sizeof *m), *old;

	m->id = id;
	m->from = xstrdup(from);
	m->to = xstrdup(to);
	m->subject = subject != NULL ? xstrdup(subject) : NULL;
	m->body = xstrdup(body);
	m->thread = thread != NULL ? xstrdup(thread) : NULL;
	m->at_ms = wall_ms();
	msg_keep(p, m);
	msg_mark(&message_store_kind, p, 20, (unsigned long long)m->id);
	while (p->nmsgs > msg_retention || p->bytes > MSG_BYTES_MAX) {
		old = TAILQ_FIRST(&p->msgs);
		TAILQ_REMOVE(&p->msgs, old, entry);
		p->nmsgs--;
		p->bytes -= old->size;
		p->expired_upto = old->id;
		msg_mark(&message_store_kind, p, 20, (unsigned long long)old->id);
		msg_free(old);
		store_mark(&mproject_store_kind, p->name);
	}
	wait_wake(p->wkey);
	return (m);
}

/*
 * Mail from the broker on someone's behalf (a broken lock, a task to
 * review...), in thread (NULL: none); returns its id.
 */
uint64_t
msg_notice(const char *project, const char *from, const char *to, const char *subject,
    const char *body, const char *thread)
{
	struct mproject *p = mproject_ensure(project);

	return (msg_post(p, revision_next(), from, to, subject, body, thread)->id);
}

static struct mbox *
mbox_find(struct mproject *p, const char *agent)
{
	struct mbox *mb;

	HASH_FIND_STR(p->mboxes, agent, mb);
	return (mb);
}

/* Has agent marked id read? */
static int
mbox_read(const struct mbox *mb, uint64_t id)
{
	size_t lo = 0, hi, mid;

	if (mb == NULL)
		return (0);
	if (id <= mb->acked_upto)
		return (1);
	hi = mb->nacked;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (mb->acked[mid] == id)
			return (1);
		if (mb->acked[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (0);
}

/* Unread messages for agent in role. */
static size_t
msg_count_unread(struct mproject *p, const char *agent, const char *role)
{
	struct mbox *mb = mbox_find(p, agent);
	struct message *m;
	size_t n = 0;

	TAILQ_FOREACH(m, &p->msgs, entry) {
		if (msg_for(m, agent, role) && !mbox_read(mb, m->id))
			n++;
	}
	return (n);
}

size_t
msg_unread(struct session *s)
{
	struct mproject *p = mproject_find(s->project);

	return (p != NULL ? msg_count_unread(p, s->agent, s->role) : 0);
}

/* A name or role changed in project: a blocked inbox may now have mail. */
static void
msg_presence_changed(const char *project)
{
	struct mproject *p = mproject_find(project);

	if (p != NULL)
		wait_wake(p->wkey);
}

/* Mail addressed to a role or a name follows presence. */
void
msg_init(void)
{
	presence_on_change(msg_presence_changed);
}

/* --- message_send ----------------------------------------------------- */

/* Names of the agents present that a message reaches, without repeats. */
struct reach {
	const struct message *m;
	const char *names[100];
	size_t n;
};

static void
msg_reach_add(const char *agent, const char *role, void *arg)
{
	struct reach *rc = arg;
	size_t i;

	if (!msg_for(rc->m, agent, role) || rc->n == nitems(rc->names))
		return;
	for (i = 0; i < rc->n; i++) {
		if (strcmp(rc->names[i], agent) == 0)
			return;
	}
	rc->names[rc->n++] = agent;
}

void
op_message_send(struct req *r)
{
	struct mproject *p = mproject_ensure(r->s->project);
	struct message *m;
	struct reach rc;
	struct fbuf *fb;
	char *to, *body, *subject, *thread;
	size_t i;

	if (msg_addr_arg(r, "to", &to) != 0)
		return;
	body = arg_strdup(r, "body");
	subject = arg_text(r, "subject");
	thread = arg_text(r, "thread");
	m = msg_post(p, revision_next(), r->s->agent, to, subject, body, thread);
	feed_record(r->s, "message_send", "message", p->name, to, "#%llu %s",
	    (unsigned long long)m->id, subject != NULL ? subject : body);
	free(to);
	free(body);
	free(subject);
	free(thread);

	memset(&rc, 0, sizeof rc);
	rc.m = m;
	presence_foreach(p->name, msg_reach_add, &rc);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kuint(fb, "id", m->id);
	pk_kstr(fb, "to", m->to);
	pk_str(fb, "recipients");
	pk_array(fb, rc.n);
	for (i = 0; i < rc.n; i++)
		pk_str(fb, rc.names[i]);
	if (rc.n == 0)
		pk_kstr(fb, "hint",
		    "nobody it reaches is present now; it waits in the "
		    "mailbox and is read when an agent by that name (or in that role) "
		    "calls message_inbox");
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/* --- message_inbox ---------------------------------------------------- */

static void
msg_pack(struct fbuf *fb, const struct message *m, const struct mbox *mb)
{
	char at[TIME_ISO_LEN];

	pk_map_open(fb);
	pk_kuint(fb, "id", m->id);
	pk_kstr(fb, "from", m->from);
	pk_kstr(fb, "to", m->to);
	pk_kstr_opt(fb, "subject", m->subject);
	pk_kstr(fb, "body", m->body);
	pk_kstr_opt(fb, "thread", m->thread);
	pk_kstr(fb, "at", time_iso(m->at_ms, at, sizeof at));
	pk_kbool(fb, "read", mbox_read(mb, m->id));
	pk_map_close(fb);
}

/* The first message with an id above after, or NULL. */
static struct message *
msg_first_after(struct mproject *p, uint64_t after)
{
	struct message *m, *first = NULL;

	TAILQ_FOREACH_REVERSE(m, &p->msgs, mlist, entry) {
		if (m->id <= after)
			break;
		first = m;
	}
	return (first);
}

/*
 * Unread mail for agent in role with an id above after, oldest first,
 * for baton hook's news (notice.c); fn gets each until it returns
 * non-zero.
 */
void
msg_foreach_new(const char *project, const char *agent, const char *role, uint64_t after,
    int (*fn)(const struct msg_view *, void *), void *arg)
{
	struct mproject *p = mproject_find(project);
	struct mbox *mb;
	struct message *m;
	struct msg_view v;

	if (p == NULL)
		return;
	mb = mbox_find(p, agent);
	for (m = msg_first_after(p, after); m != NULL; m = TAILQ_NEXT(m, entry)) {
		if (!msg_for(m, agent, role) || mbox_read(mb, m->id))
			continue;
		v.id = m->id;
		v.from = m->from;
		v.to = m->to;
		v.subject = m->subject;
		v.body = m->body;
		v.thread = m->thread;
		v.at_ms = m->at_ms;
		if (fn(&v, arg))
			break;
	}
}

/* The wait key that wakes on new mail in project (msg_foreach_new's news). */
const char *
msg_news_key(const char *project)
{
	return (mproject_ensure(project)->wkey);
}

/* What an inbox answer says to do next (malloc'd). */
static char *
inbox_hint(size_t n, int more, size_t ndisc, size_t unread, int unread_only)
{
	char *hint;
	size_t len;

	xasprintf(&hint, "%s%s%s",
	    ndisc > 0 ? "Discussions wait on you: answer with discussion_reply (or "
			"discussion_get for the thread). "
		      : "",
	    more ? "More mail is waiting: call message_inbox again now with after=cursor. "
		: n > 0 ? "Next: message_inbox with after=cursor and wait_seconds to wait for "
			  "more; message_ack up_to=cursor marks these read. "
			: "No new mail: call message_inbox with after=cursor and wait_seconds "
			  "(e.g. 30) "
			  "to wait for the next message. ",
	    unread > 0 && !unread_only && n == 0
		? "Some older mail is unread: call with unread_only=true and no after."
		: "");
	if ((len = strlen(hint)) > 0 && hint[len - 1] == ' ')
		hint[len - 1] = '\0';
	return (hint);
}

/*
 * Answer an inbox call when there is mail for it (or always, with
 * force); 1 when answered.
 */
static int
inbox_answer(struct session *s, uint64_t req_id, struct inbox_q *q, uint64_t after, int force)
{
	struct mproject *p = q->p;
	struct mbox *mb = mbox_find(p, s->agent);
	struct message *m, **page;
	struct fbuf *fb;
	size_t n = 0, bytes = 0, ndisc, i, unread;
	int more = 0;
	char *hint;

	page = xreallocarray(NULL, (size_t)q->limit, sizeof *page);
	for (m = msg_first_after(p, after); m != NULL; m = TAILQ_NEXT(m, entry)) {
		if (!msg_for(m, s->agent, s->role) || (q->unread_only && mbox_read(mb, m->id)))
			continue;
		if (n == (size_t)q->limit || (n > 0 && bytes + m->size > MSG_PAGE_BYTES)) {
			more = 1;
			break;
		}
		page[n++] = m;
		bytes += m->size;
	}
	if (n == 0 && !force) {
		free(page);
		return (0);
	}
	unread = msg_count_unread(p, s->agent, s->role);
	fb = reply_begin(req_id);
	pk_map_open(fb);
	pk_str(fb, "messages");
	pk_array(fb, n);
	for (i = 0; i < n; i++)
		msg_pack(fb, page[i], mb);
	pk_kuint(fb, "cursor", more ? page[n - 1]->id : revision > after ? revision : after);
	pk_kbool(fb, "more", more);
	pk_kuint(fb, "unread", unread);
	if (q->cap > 0)
		pk_kdouble(fb, "wait_cap_seconds", q->cap);
	pk_str(fb, "discussions");
	ndisc = disc_pk_waiting(fb, p, s->agent, s->role, INBOX_DISC_MAX);
	hint = inbox_hint(n, more, ndisc, unread, q->unread_only);
	pk_kstr(fb, "hint", hint);
	free(hint);
	pk_map_close(fb);
	reply_end(s->client, fb);
	free(page);
	return (1);
}

static int
inbox_ready(struct bwait *w)
{
	return (inbox_answer(w->s, w->req_id, w->arg, w->after, 0));
}

static void
inbox_timeout(struct bwait *w)
{
	inbox_answer(w->s, w->req_id, w->arg, w->after, 1);
}

/* Refuse a cursor this broker cannot continue from; 1 when refused. */
static int
inbox_bad_cursor(struct req *r, struct mproject *p, int64_t after)
{
	if ((uint64_t)after > revision) {
		reply_error(r->c, r->id, ERR_CURSOR_EXPIRED, "after",
		    "cursor %lld is newer than any message id this broker issued (was it "
		    "restarted without its state?); call message_inbox without after",
		    (long long)after);
		return (1);
	}
	if ((uint64_t)after < p->expired_upto) {
		reply_error(r->c, r->id, ERR_CURSOR_EXPIRED, "after",
		    "messages after %lld are no longer retained (the last %zu of the project "
		    "are kept); call message_inbox without after to read what is "
		    "retained (unread_only=true skips what you acked)",
		    (long long)after, msg_retention);
		return (1);
	}
	return (0);
}

void
op_message_inbox(struct req *r)
{
	struct mproject *p = mproject_ensure(r->s->project);
	struct inbox_q *q;
	struct bwait *w;
	int64_t after = arg_int(r, "after");
	double wait = arg_num(r, "wait_seconds");

	if (arg_has(r, "after") && inbox_bad_cursor(r, p, after))
		return;
	q = xcalloc(1, sizeof *q);
	q->p = p;
	q->unread_only = arg_bool(r, "unread_only");
	q->limit = arg_int(r, "limit");
	if (wait > 0)
		q->cap = wait_cap(r);
	if (wait <= 0) {
		inbox_answer(r->s, r->id, q, (uint64_t)after, 1);
		free(q);
		return;
	}
	w = wait_add(r, p->wkey, wait, inbox_ready, inbox_timeout, q, (uint64_t)after);
	if (w == NULL)
		free(q);
	else
		w->free_arg = free;
}

/* --- message_ack ------------------------------------------------------ */

/* Read state of agent, made on first use; NULL past MBOX_MAX. */
static struct mbox *
mbox_get(struct mproject *p, const char *agent)
{
	struct mbox *mb = mbox_find(p, agent);

	if (mb != NULL || p->nmboxes >= MBOX_MAX)
		return (mb);
	mb = xcalloc(1, sizeof *mb);
	mb->agent = xstrdup(agent);
	HASH_ADD_KEYPTR(hh, p->mboxes, mb->agent, strlen(mb->agent), mb);
	p->nmboxes++;
	return (mb);
}

/* Forget marks at or below acked_upto or older than anything retained. */
static void
mbox_prune(struct mproject *p, struct mbox *mb)
{
	struct message *first = TAILQ_FIRST(&p->msgs);
	uint64_t floor = mb->acked_upto;
	size_t i, k = 0;

	if (first != NULL && first->id > floor)
		floor = first->id - 1;
	for (i = 0; i < mb->nacked; i++) {
		if (mb->acked[i] > floor)
			mb->acked[k++] = mb->acked[i];
	}
	mb->nacked = k;
}

/* Mark one id read (kept sorted). */
static void
mbox_mark(struct mbox *mb, uint64_t id)
{
	size_t i;

	if (mb->nacked == mb->cap) {
		mb->cap = mb->cap == 0 ? 16 : mb->cap * 2;
		mb->acked = xreallocarray(mb->acked, mb->cap, sizeof *mb->acked);
	}
	for (i = mb->nacked; i > 0 && mb->acked[i - 1] > id; i--)
		mb->acked[i] = mb->acked[i - 1];
	mb->acked[i] = id;
	mb->nacked++;
}

/* mb's row is to be rewritten at the next checkpoint. */
static void
mbox_changed(const struct mproject *p, const struct mbox *mb)
{
	char *key;

	xasprintf(&key, "%s\n%s", p->name, mb->agent);
	store_mark(&mbox_store_kind, key);
	free(key);
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* The ids argument o: an array of positive integers, sorted into *out. */
static int
msg_ack_ids(struct req *r, const msgpack_object *o, uint64_t **out, size_t *n)
{
	uint32_t i;
	int64_t v;

	*out = NULL;
	*n = 0;
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > MSG_ACK_IDS_MAX) {
		reply_error(r->c, r->id, ERR_INVALID, "ids",
		    "ids must be an array of at most %d message ids", MSG_ACK_IDS_MAX);
		return (-1);
	}
	*out = xreallocarray(NULL, o->via.array.size + 1, sizeof **out);
	for (i = 0; i < o->via.array.size; i++) {
		if (mp_int(&o->via.array.ptr[i], &v) != 0 || v < 1) {
			free(*out);
			reply_error(r->c, r->id, ERR_INVALID, "ids",
			    "ids[%u] must be a positive message id", i);
			return (-1);
		}
		(*out)[i] = (uint64_t)v;
	}
	*n = o->via.array.size;
	qsort(*out, *n, sizeof **out, u64_cmp);
	return (0);
}

void
op_message_ack(struct req *r)
{
	struct mproject *p = mproject_ensure(r->s->project);
	struct session *s = r->s;
	struct message *m;
	struct mbox *mb;
	struct fbuf *fb;
	uint64_t *ids = NULL, upto = 0;
	size_t nids = 0, k = 0, acked = 0;
	int64_t v;

	if (arg_has(r, "ids") && msg_ack_ids(r, arg_get(r, "ids"), &ids, &nids) != 0)
		return;
	if (arg_has(r, "up_to")) {
		v = arg_int(r, "up_to");
		upto = (uint64_t)v > revision ? revision : (uint64_t)v; /* not the future */
	}
	if ((mb = mbox_get(p, s->agent)) == NULL) {
		free(ids);
		reply_error(r->c, r->id, ERR_LIMIT, NULL,
		    "%d agent names have read state in "
		    "this project already; use fewer names",
		    MBOX_MAX);
		return;
	}
	/* one pass over the retained messages, the sorted ids alongside */
	TAILQ_FOREACH(m, &p->msgs, entry) {
		while (k < nids && ids[k] < m->id)
			k++;
		if ((ids != NULL ? k < nids && ids[k] == m->id : m->id <= upto) &&
		    msg_for(m, s->agent, s->role) && !mbox_read(mb, m->id)) {
			acked++;
			if (ids != NULL)
				mbox_mark(mb, m->id);
		}
	}
	if (upto > mb->acked_upto)
		mb->acked_upto = upto;
	mbox_prune(p, mb);
	mbox_changed(p, mb);
	free(ids);
	revision_next();
	feed_record(r->s, "message_ack", "message", p->name, s->agent, "%zu marked read",
	    acked);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kuint(fb, "acked", acked);
	pk_kuint(fb, "unread", msg_count_unread(p, s->agent, s->role));
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/* --- the checkpoint (store.c) ----------------------------------------- */

/* Row of a project's counters: the retention floor and the discussion numbers. */
static int
mproject_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct mproject *p = mproject_find(key);

	if (p == NULL || (p->expired_upto == 0 && p->next_disc == 0))
		return (0);
	pk_map_open(fb);
	pk_kuint(fb, "expired_upto", p->expired_upto);
	pk_kuint(fb, "next_disc", p->next_disc);
	pk_map_close(fb);
	return (1);
}

static int
mproject_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	struct mproject *p = mproject_ensure(key);
	int64_t v;

	(void)cause;
	if ((v = mp_get_int(o, "expired_upto", 0)) > 0 && (uint64_t)v > p->expired_upto)
		p->expired_upto = (uint64_t)v;
	if ((v = mp_get_int(o, "next_disc", 0)) > 0 && v <= UINT32_MAX &&
	    (unsigned)v > p->next_disc)
		p->next_disc = (unsigned)v;
	return (0);
}

const struct store_kind mproject_store_kind = {
	.name = "mproject",
	.pack = mproject_pack,
	.restore = mproject_restore,
};

/* Row of one message; 0 once retention dropped it. */
static int
message_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct mproject *p;
	struct message *m;
	const char *rest;
	uint64_t id;

	if ((p = mproject_of_key(key, &rest, 0)) == NULL)
		return (0);
	id = strtoull(rest, NULL, 10);
	if ((m = TAILQ_FIRST(&p->msgs)) == NULL || id < m->id)
		return (0); /* dropped by retention: no walk past every kept one */
	/* newest first: a new message is found at once */
	TAILQ_FOREACH_REVERSE(m, &p->msgs, mlist, entry) {
		if (m->id <= id)
			break;
	}
	if (m == NULL || m->id != id)
		return (0);
	pk_map_open(fb);
	pk_kstr(fb, "from", m->from);
	pk_kstr(fb, "to", m->to);
	pk_kstr(fb, "subject", m->subject);
	pk_kstr(fb, "body", m->body);
	pk_kstr(fb, "thread", m->thread);
	pk_kint(fb, "at", m->at_ms);
	pk_map_close(fb);
	return (1);
}

static int
message_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	struct mproject *p;
	struct message *m;
	const char *rest;
	uint64_t id;

	if ((p = mproject_of_key(key, &rest, 1)) == NULL ||
	    (id = strtoull(rest, NULL, 10)) == 0) {
		xasprintf(cause, "message %s: bad key", key);
		return (-1);
	}
	m = xcalloc(1, sizeof *m);
	m->id = id;
	m->from = mp_get_strdup(o, "from");
	m->to = mp_get_strdup(o, "to");
	m->body = mp_get_strdup(o, "body");
	m->subject = mp_get_strdup(o, "subject");
	m->thread = mp_get_strdup(o, "thread");
	m->at_ms = mp_get_int(o, "at", 0);
	if (m->from == NULL || m->to == NULL || m->body == NULL) {
		msg_free(m);
		xasprintf(cause, "message %s: bad row", key);
		return (-1);
	}
	msg_keep(p, m);
	return (0);
}

const struct store_kind message_store_kind = {
	.name = "message",
	.pack = message_pack,
	.restore = message_restore,
};

/* Row of an agent name's read state. */
static int
mbox_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct mproject *p;
	struct mbox *mb;
	const char *rest;
	size_t i;

	if ((p = mproject_of_key(key, &rest, 0)) == NULL || (mb = mbox_find(p, rest)) == NULL)
		return (0);
	pk_map_open(fb);
	pk_kuint(fb, "upto", mb->acked_upto);
	pk_str(fb, "acked");
	pk_array(fb, mb->nacked);
	for (i = 0; i < mb->nacked; i++)
		pk_uint(fb, mb->acked[i]);
	pk_map_close(fb);
	return (1);
}

static int
mbox_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	const msgpack_object *a = mp_get(o, "acked");
	struct mproject *p;
	struct mbox *mb;
	const char *rest;
	int64_t v;
	uint32_t i;

	if ((p = mproject_of_key(key, &rest, 1)) == NULL || (mb = mbox_get(p, rest)) == NULL) {
		xasprintf(cause, "mbox %s: bad key", key);
		return (-1);
	}
	mb->acked_upto = (uint64_t)mp_get_int(o, "upto", 0);
	for (i = 0; a != NULL && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size;
	     i++) {
		if (mp_int(&a->via.array.ptr[i], &v) == 0 && v > 0)
			mbox_mark(mb, (uint64_t)v);
	}
	return (0);
}

const struct store_kind mbox_store_kind = {
	.name = "mbox",
	.pack = mbox_pack,
	.restore = mbox_restore,
};
