/*
 * Messages and discussions (DESIGN §5.4).
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
 *
 * A discussion is a thread with a topic, waiting_on someone, and a
 * resolution.  Starting, replying to and resolving one also mails a
 * notice to whoever must act next, which is how a blocked inbox learns
 * about it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"

#define MSG_BYTES_MAX (64 * 1024 * 1024) /* bytes retained per project */
#define MSG_PAGE_BYTES (512 * 1024)      /* inbox page, well under a frame */
#define MSG_ACK_IDS_MAX 1000
#define MBOX_MAX 4096          /* names with read state, per project */
#define DISC_MAX 1000          /* discussions per project */
#define DISC_REPLIES_MAX 100   /* messages in a thread: 100 x 8 KiB fits a frame */
#define INBOX_DISC_MAX 20      /* discussions listed in an inbox */
#define ROLE_LEN_MAX 32
#define AGENT_NAME_MAX 64
#define ISO_LEN 32

size_t msg_retention = 10000;

struct message {
	uint64_t id;
	char *from, *to, *subject, *body, *thread;
	int64_t at_ms;
	size_t size;
	TAILQ_ENTRY(message) entry;
};

/* Read state of one agent name. */
struct mbox {
	char *agent;
	uint64_t acked_upto;  /* everything up to here is read */
	uint64_t *acked;      /* and these above it, sorted */
	size_t nacked, cap;
	UT_hash_handle hh;
};

struct dreply {
	char *who, *text, *waiting_on;
	int64_t at_ms;
};

struct disc {
	unsigned num;
	char *topic, *category, *priority, *waiting_on, *started_by;
	char sid[24];
	char token[33];
	int resolved;
	int64_t started_ms, updated_ms, resolved_ms;
	struct dreply *replies;
	size_t nreplies;
	char *decision, *reasoning, *decided_by, *linked_task;
	TAILQ_ENTRY(disc) entry;
};

struct mproject {
	char *name;
	char *wkey; /* wait key of its inboxes */
	TAILQ_HEAD(mlist, message) msgs;
	size_t nmsgs, bytes;
	uint64_t expired_upto; /* newest id dropped by retention */
	struct mbox *mboxes;
	size_t nmboxes;
	TAILQ_HEAD(dlist, disc) discs;
	size_t ndiscs;
	unsigned next_disc;
	UT_hash_handle hh;
};

/* An inbox call, parked or answered at once. */
struct inbox_q {
	struct mproject *p;
	int unread_only;
	int64_t limit;
	double waited;
};

static struct mproject *mprojects;

static struct mproject *
mproject_get(const char *name)
{
	struct mproject *p;

	HASH_FIND_STR(mprojects, name, p);
	if (p != NULL)
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
static void
msg_mark(const struct store_kind *kind, const struct mproject *p, int width,
    unsigned long long v)
{
	char *key;

	xasprintf(&key, "%s\n%0*llu", p->name, width, v);
	store_mark(kind, key);
	free(key);
}

/* Wall-clock milliseconds as ISO 8601 UTC with milliseconds. */
static const char *
msg_iso(int64_t ms, char *buf)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, ISO_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), ISO_LEN - strlen(buf), ".%03dZ", (int)(ms % 1000));
	return (buf);
}

/* Does address addr ("all", "role:R" or a name) reach agent in role? */
static int
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
		if (n == 5 || n - 5 > ROLE_LEN_MAX)
			return ("role:ROLE needs a role of 1 to 32 bytes");
		return (NULL);
	}
	if (n > AGENT_NAME_MAX)
		return ("agent names have at most 64 bytes");
	return (NULL);
}

/* Check an address argument; answers the request and returns -1 when bad. */
static int
msg_addr_arg(struct req *r, const msgpack_object *o, const char *field, char **out)
{
	const char *s, *why;
	size_t n;

	*out = NULL;
	if (o == NULL)
		return (0);
	mp_str(o, &s, &n);
	if ((why = msg_addr_bad(s, n)) != NULL) {
		reply_error(r->c, r->id, ERR_INVALID, field, "%s must be an agent name, "
		    "role:ROLE or all: %s", field, why);
		return (-1);
	}
	*out = n > 0 ? xstrndup(s, n) : NULL;
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
static struct message *
msg_post(struct mproject *p, uint64_t id, const char *from, const char *to,
    const char *subject, const char *body, const char *thread)
{
	struct message *m = xcalloc(1, sizeof *m);

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
		struct message *old = TAILQ_FIRST(&p->msgs);

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

/* Mail from the broker on someone's behalf (a broken lock...); returns its id. */
uint64_t
msg_notice(const char *project, const char *from, const char *to, const char *subject,
    const char *body)
{
	struct mproject *p = mproject_get(project);

	return (msg_post(p, revision_next(), from, to, subject, body, NULL)->id);
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
	struct mproject *p;

	HASH_FIND_STR(mprojects, s->project, p);
	return (p != NULL ? msg_count_unread(p, s->agent, s->role) : 0);
}

/* Open discussions waiting on the session's agent or role. */
size_t
msg_waiting_on(struct session *s)
{
	struct mproject *p;
	struct disc *d;
	size_t n = 0;

	HASH_FIND_STR(mprojects, s->project, p);
	if (p == NULL)
		return (0);
	TAILQ_FOREACH(d, &p->discs, entry) {
		if (!d->resolved && d->waiting_on != NULL &&
		    msg_addr_match(d->waiting_on, s->agent, s->role))
			n++;
	}
	return (n);
}

/* A name or role changed in project: a blocked inbox may now have mail. */
void
msg_presence_changed(const char *project)
{
	struct mproject *p;

	HASH_FIND_STR(mprojects, project, p);
	if (p != NULL)
		wait_wake(p->wkey);
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
	struct mproject *p = mproject_get(r->s->project);
	struct message *m;
	struct reach rc;
	struct fbuf *fb;
	char *to, *body, *subject, *thread;
	size_t i;

	if (msg_addr_arg(r, r->args[0], "to", &to) != 0)
		return;
	body = mp_strdup(r->args[1]);
	subject = r->args[2] != NULL ? mp_strdup(r->args[2]) : NULL;
	thread = r->args[3] != NULL ? mp_strdup(r->args[3]) : NULL;
	if (subject != NULL && *subject == '\0') {
		free(subject);
		subject = NULL;
	}
	if (thread != NULL && *thread == '\0') {
		free(thread);
		thread = NULL;
	}
	m = msg_post(p, revision_next(), r->s->agent, to, subject, body, thread);
	free(to);
	free(body);
	free(subject);
	free(thread);

	memset(&rc, 0, sizeof rc);
	rc.m = m;
	agent_foreach(p->name, msg_reach_add, &rc);
	fb = reply_begin(r->id);
	pk_map(fb, rc.n == 0 ? 4 : 3);
	pk_kuint(fb, "id", m->id);
	pk_kstr(fb, "to", m->to);
	pk_str(fb, "recipients");
	pk_array(fb, rc.n);
	for (i = 0; i < rc.n; i++)
		pk_str(fb, rc.names[i]);
	if (rc.n == 0)
		pk_kstr(fb, "hint", "nobody it reaches is present now; it waits in the "
		    "mailbox and is read when an agent by that name (or in that role) "
		    "calls message_inbox");
	reply_end(r->c, fb);
}

/* --- message_inbox ---------------------------------------------------- */

static void
msg_pack(struct fbuf *fb, const struct message *m, const struct mbox *mb)
{
	char at[ISO_LEN];

	pk_map(fb, 6 + (m->subject != NULL) + (m->thread != NULL));
	pk_kuint(fb, "id", m->id);
	pk_kstr(fb, "from", m->from);
	pk_kstr(fb, "to", m->to);
	if (m->subject != NULL)
		pk_kstr(fb, "subject", m->subject);
	pk_kstr(fb, "body", m->body);
	if (m->thread != NULL)
		pk_kstr(fb, "thread", m->thread);
	pk_kstr(fb, "at", msg_iso(m->at_ms, at));
	pk_kbool(fb, "read", mbox_read(mb, m->id));
}

/* A discussion in a few fields, for lists. */
static void
disc_pack_summary(struct fbuf *fb, const struct disc *d)
{
	char at[ISO_LEN], id[16];

	snprintf(id, sizeof id, "D%u", d->num);
	pk_map(fb, 7 + (d->waiting_on != NULL) + (d->category != NULL) + d->resolved);
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "topic", d->topic);
	pk_kstr(fb, "status", d->resolved ? "resolved" : "open");
	if (d->waiting_on != NULL)
		pk_kstr(fb, "waiting_on", d->waiting_on);
	if (d->category != NULL)
		pk_kstr(fb, "category", d->category);
	pk_kstr(fb, "priority", d->priority);
	pk_kstr(fb, "started_by", d->started_by);
	pk_kuint(fb, "replies", d->nreplies);
	pk_kstr(fb, "updated_at", msg_iso(d->updated_ms, at));
	if (d->resolved)
		pk_kstr(fb, "decision", d->decision);
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
 * Answer an inbox call when there is mail for it (or always, with
 * force); 1 when answered.
 */
static int
inbox_answer(struct session *s, uint64_t req_id, struct inbox_q *q, uint64_t after, int force)
{
	struct mproject *p = q->p;
	struct mbox *mb = mbox_find(p, s->agent);
	struct message *m, **page;
	struct disc *d;
	struct fbuf *fb;
	size_t n = 0, bytes = 0, nd = 0, i, unread;
	uint64_t cursor;
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
	cursor = more ? page[n - 1]->id : (revision > after ? revision : after);
	unread = msg_count_unread(p, s->agent, s->role);
	TAILQ_FOREACH(d, &p->discs, entry) {
		if (!d->resolved && d->waiting_on != NULL &&
		    msg_addr_match(d->waiting_on, s->agent, s->role))
			nd++;
	}
	if (nd > INBOX_DISC_MAX)
		nd = INBOX_DISC_MAX;

	fb = reply_begin(req_id);
	pk_map(fb, 6);
	pk_str(fb, "messages");
	pk_array(fb, n);
	for (i = 0; i < n; i++)
		msg_pack(fb, page[i], mb);
	pk_kuint(fb, "cursor", cursor);
	pk_kbool(fb, "more", more);
	pk_kuint(fb, "unread", unread);
	pk_str(fb, "discussions");
	pk_array(fb, nd);
	i = 0;
	TAILQ_FOREACH(d, &p->discs, entry) {
		if (i < nd && !d->resolved && d->waiting_on != NULL &&
		    msg_addr_match(d->waiting_on, s->agent, s->role)) {
			disc_pack_summary(fb, d);
			i++;
		}
	}
	xasprintf(&hint, "%s%s%s",
	    nd > 0 ? "Discussions wait on you: answer with discussion_reply (or "
	    "discussion_get for the thread). " : "",
	    more ? "More mail is waiting: call message_inbox again now with after=cursor. " :
	    n > 0 ? "Next: message_inbox with after=cursor and wait_seconds to wait for "
	    "more; message_ack up_to=cursor marks these read. " :
	    "No new mail: call message_inbox with after=cursor and wait_seconds (e.g. 30) "
	    "to wait for the next message. ",
	    unread > 0 && q->unread_only == 0 && n == 0 ?
	    "Some older mail is unread: call with unread_only=true and no after." : "");
	if ((i = strlen(hint)) > 0 && hint[i - 1] == ' ')
		hint[i - 1] = '\0';
	pk_kstr(fb, "hint", hint);
	free(hint);
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

void
op_message_inbox(struct req *r)
{
	struct mproject *p = mproject_get(r->s->project);
	struct inbox_q *q;
	struct bwait *w;
	int64_t after = 0;
	double wait = 0;
	int unread = 0;

	if (r->args[0] != NULL) {
		mp_int(r->args[0], &after);
		if ((uint64_t)after > revision) {
			reply_error(r->c, r->id, ERR_CURSOR_EXPIRED, "after",
			    "cursor %lld is newer than any message id this broker issued (was it "
			    "restarted without its state?); call message_inbox without after",
			    (long long)after);
			return;
		}
		if ((uint64_t)after < p->expired_upto) {
			reply_error(r->c, r->id, ERR_CURSOR_EXPIRED, "after",
			    "messages after %lld are no longer retained (the last %zu of the project "
			    "are kept); call message_inbox without after to read what is "
			    "retained (unread_only=true skips what you acked)",
			    (long long)after, msg_retention);
			return;
		}
	}
	if (r->args[1] != NULL)
		mp_bool(r->args[1], &unread);
	if (r->args[2] != NULL)
		mp_num(r->args[2], &wait);
	q = xcalloc(1, sizeof *q);
	q->p = p;
	q->unread_only = unread;
	q->limit = 100;
	if (r->args[3] != NULL)
		mp_int(r->args[3], &q->limit);
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

/* The store key of a read state, in *key (to free). */
static const char *
msg_mbox_key(const struct mproject *p, const struct mbox *mb, char **key)
{
	xasprintf(key, "%s\n%s", p->name, mb->agent);
	return (*key);
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

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* The ids argument: an array of positive integers, sorted into *out. */
static int
msg_ack_ids(struct req *r, uint64_t **out, size_t *n)
{
	const msgpack_object *o = r->args[0];
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
	struct mproject *p = mproject_get(r->s->project);
	struct session *s = r->s;
	struct message *m;
	struct mbox *mb;
	struct fbuf *fb;
	uint64_t *ids = NULL, upto = 0;
	size_t nids = 0, k = 0, acked = 0;
	int64_t v;
	char *key;

	if (r->args[0] != NULL && msg_ack_ids(r, &ids, &nids) != 0)
		return;
	if (r->args[1] != NULL) {
		mp_int(r->args[1], &v);
		upto = (uint64_t)v > revision ? revision : (uint64_t)v; /* not the future */
	}
	if ((mb = mbox_get(p, s->agent)) == NULL) {
		free(ids);
		reply_error(r->c, r->id, ERR_LIMIT, NULL, "%d agent names have read state in "
		    "this project already; use fewer names", MBOX_MAX);
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
	store_mark(&mbox_store_kind, msg_mbox_key(p, mb, &key));
	free(key);
	free(ids);
	revision_next();
	fb = reply_begin(r->id);
	pk_map(fb, 2);
	pk_kuint(fb, "acked", acked);
	pk_kuint(fb, "unread", msg_count_unread(p, s->agent, s->role));
	reply_end(r->c, fb);
}

/* --- discussions ------------------------------------------------------ */

/* "D3", "d3" or "3" in project p; NULL (answered) when there is none. */
static struct disc *
disc_find(struct req *r, struct mproject *p, const msgpack_object *o)
{
	struct disc *d;
	const char *s;
	size_t n, i;
	unsigned long num = 0;

	mp_str(o, &s, &n);
	i = n > 0 && (s[0] == 'D' || s[0] == 'd') ? 1 : 0;
	if (i == n)
		num = 0;
	for (; i < n && num < 1000000000UL; i++) {
		if (s[i] < '0' || s[i] > '9') {
			num = 0;
			break;
		}
		num = num * 10 + (unsigned long)(s[i] - '0');
	}
	TAILQ_FOREACH(d, &p->discs, entry) {
		if (d->num == num)
			return (d);
	}
	reply_error(r->c, r->id, ERR_NOT_FOUND, "id", "no discussion %.*s in this project; "
	    "discussion_list shows them", (int)(n > 24 ? 24 : n), s);
	return (NULL);
}

static void
disc_free(struct disc *d)
{
	size_t i;

	for (i = 0; i < d->nreplies; i++) {
		free(d->replies[i].who);
		free(d->replies[i].text);
		free(d->replies[i].waiting_on);
	}
	free(d->replies);
	free(d->topic);
	free(d->category);
	free(d->priority);
	free(d->waiting_on);
	free(d->started_by);
	free(d->decision);
	free(d->reasoning);
	free(d->decided_by);
	free(d->linked_task);
	free(d);
}

/* d's row is to be rewritten (or deleted) at the next checkpoint. */
static void
disc_changed(const struct mproject *p, const struct disc *d)
{
	msg_mark(&discussion_store_kind, p, 10, d->num);
}

/* Room for one more discussion: drop the oldest resolved one when full. */
static int
disc_room(struct mproject *p)
{
	struct disc *d;

	if (p->ndiscs < DISC_MAX)
		return (0);
	TAILQ_FOREACH(d, &p->discs, entry) {
		if (d->resolved) {
			TAILQ_REMOVE(&p->discs, d, entry);
			p->ndiscs--;
			disc_changed(p, d);
			disc_free(d);
			return (0);
		}
	}
	return (-1);
}

static void
disc_add_reply(struct disc *d, const char *who, const char *text, const char *waiting_on)
{
	struct dreply *e;

	d->replies = xreallocarray(d->replies, d->nreplies + 1, sizeof *d->replies);
	e = &d->replies[d->nreplies++];
	e->who = xstrdup(who);
	e->text = xstrdup(text);
	e->waiting_on = waiting_on != NULL ? xstrdup(waiting_on) : NULL;
	e->at_ms = d->updated_ms = wall_ms();
}

/* Mail a notice about d to addr (unless that is the sender). */
static void
disc_notify(struct mproject *p, struct disc *d, uint64_t id, const char *from,
    const char *addr, const char *what, const char *body)
{
	char *subject, thread[16];

	if (addr == NULL || strcmp(addr, from) == 0)
		return;
	snprintf(thread, sizeof thread, "D%u", d->num);
	xasprintf(&subject, "%s %s: %s", thread, what, d->topic);
	msg_post(p, id, from, addr, subject, body, thread);
	free(subject);
}

void
op_discussion_start(struct req *r)
{
	struct mproject *p = mproject_get(r->s->project);
	struct disc *d;
	struct fbuf *fb;
	char *waiting, *text, id[16], *hint;

	if (msg_addr_arg(r, r->args[2], "waiting_on", &waiting) != 0)
		return;
	if (disc_room(p) != 0) {
		free(waiting);
		reply_error(r->c, r->id, ERR_LIMIT, NULL, "%d discussions are open in this "
		    "project; resolve some before starting more", DISC_MAX);
		return;
	}
	d = xcalloc(1, sizeof *d);
	d->num = ++p->next_disc;
	d->topic = mp_strdup(r->args[0]);
	d->category = r->args[3] != NULL ? mp_strdup(r->args[3]) : NULL;
	d->priority = r->args[4] != NULL ? mp_strdup(r->args[4]) : xstrdup("normal");
	d->waiting_on = waiting;
	d->started_by = xstrdup(r->s->agent);
	snprintf(d->sid, sizeof d->sid, "%s", r->s->id);
	random_hex(d->token, sizeof d->token);
	d->started_ms = wall_ms();
	text = mp_strdup(r->args[1]);
	disc_add_reply(d, r->s->agent, text, waiting);
	TAILQ_INSERT_TAIL(&p->discs, d, entry);
	p->ndiscs++;
	disc_changed(p, d);
	store_mark(&mproject_store_kind, p->name); /* next_disc */
	disc_notify(p, d, revision_next(), r->s->agent, waiting, "waits on you", text);
	free(text);
	wait_wake(p->wkey);

	snprintf(id, sizeof id, "D%u", d->num);
	xasprintf(&hint, "%s%s. Follow it with message_inbox (replies are mailed to "
	    "whoever the discussion waits on); resolve it with discussion_resolve id=%s "
	    "(keep the token to do that from another session).",
	    waiting != NULL ? "Started; waiting on " : "Started; nobody is asked yet (reply "
	    "with waiting_on to ask someone)", waiting != NULL ? waiting : "", id);
	fb = reply_begin(r->id);
	pk_map(fb, 4 + (waiting != NULL));
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "status", "open");
	if (waiting != NULL)
		pk_kstr(fb, "waiting_on", waiting);
	pk_kstr(fb, "token", d->token);
	pk_kstr(fb, "hint", hint);
	free(hint);
	reply_end(r->c, fb);
}

/* Refuse a change to a resolved discussion; 1 when refused. */
static int
disc_closed(struct req *r, const struct disc *d, const char *doing)
{
	if (!d->resolved)
		return (0);
	reply_error(r->c, r->id, ERR_CONFLICT, "id", "D%u is resolved (by %s: %.120s%s); "
	    "it cannot be %s: start a new discussion to reopen the topic", d->num,
	    d->decided_by, d->decision, strlen(d->decision) > 120 ? "..." : "", doing);
	return (1);
}

void
op_discussion_reply(struct req *r)
{
	struct mproject *p = mproject_get(r->s->project);
	struct session *s = r->s;
	struct disc *d;
	struct fbuf *fb;
	char *waiting, *text, id[16];

	if ((d = disc_find(r, p, r->args[0])) == NULL || disc_closed(r, d, "replied to"))
		return;
	if (d->nreplies >= DISC_REPLIES_MAX) {
		reply_error(r->c, r->id, ERR_LIMIT, "id", "D%u has %d messages, the most a "
		    "thread keeps; resolve it and start a new discussion", d->num,
		    DISC_REPLIES_MAX);
		return;
	}
	if (msg_addr_arg(r, r->args[2], "waiting_on", &waiting) != 0)
		return;
	if (r->args[2] == NULL) {
		/* the one asked answered: the ball goes back to whoever asked */
		if (d->waiting_on != NULL && msg_addr_match(d->waiting_on, s->agent, s->role) &&
		    strcmp(d->started_by, s->agent) != 0)
			waiting = xstrdup(d->started_by);
		else if (d->waiting_on != NULL)
			waiting = xstrdup(d->waiting_on);
	}
	free(d->waiting_on);
	d->waiting_on = waiting;
	text = mp_strdup(r->args[1]);
	disc_add_reply(d, s->agent, text, waiting);
	disc_changed(p, d);
	disc_notify(p, d, revision_next(), s->agent, waiting, "reply", text);
	free(text);
	wait_wake(p->wkey);

	snprintf(id, sizeof id, "D%u", d->num);
	fb = reply_begin(r->id);
	pk_map(fb, 4 + (waiting != NULL));
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "status", "open");
	pk_kuint(fb, "replies", d->nreplies);
	if (waiting != NULL)
		pk_kstr(fb, "waiting_on", waiting);
	pk_kstr(fb, "hint", waiting != NULL ? "the discussion now waits on waiting_on; its "
	    "answer reaches your inbox when it is addressed to you" :
	    "nobody is asked: pass waiting_on to ask someone, or resolve it");
	reply_end(r->c, fb);
}

/* Constant-time comparison of a token argument with want. */
static int
disc_token_ok(const msgpack_object *o, const char *want)
{
	const char *s;
	size_t n, i, len = strlen(want);
	unsigned char diff = 0;

	if (o == NULL || mp_str(o, &s, &n) != 0 || n != len)
		return (0);
	for (i = 0; i < n; i++)
		diff |= (unsigned char)(s[i] ^ want[i]);
	return (diff == 0);
}

void
op_discussion_resolve(struct req *r)
{
	struct mproject *p = mproject_get(r->s->project);
	struct session *s = r->s;
	struct disc *d;
	struct fbuf *fb;
	char *body, id[16];

	if ((d = disc_find(r, p, r->args[0])) == NULL || disc_closed(r, d, "resolved again"))
		return;
	if (strcmp(d->sid, s->id) != 0 && !disc_token_ok(r->args[4], d->token)) {
		reply_error(r->c, r->id, ERR_PERMISSION, r->args[4] != NULL ? "token" : NULL,
		    "D%u was started by %s (session %s); resolving it needs the token "
		    "discussion_start returned%s, or that session; ask %s to resolve it, or "
		    "reply with your proposal", d->num, d->started_by, d->sid,
		    r->args[4] != NULL ? " (this one does not match)" : "", d->started_by);
		return;
	}
	d->resolved = 1;
	d->decision = mp_strdup(r->args[1]);
	d->reasoning = r->args[2] != NULL ? mp_strdup(r->args[2]) : NULL;
	d->linked_task = r->args[3] != NULL ? mp_strdup(r->args[3]) : NULL;
	d->decided_by = xstrdup(s->agent);
	d->resolved_ms = d->updated_ms = wall_ms();
	free(d->waiting_on);
	d->waiting_on = NULL;
	disc_changed(p, d);
	xasprintf(&body, "Decision: %s%s%s", d->decision,
	    d->reasoning != NULL ? "\nReasoning: " : "",
	    d->reasoning != NULL ? d->reasoning : "");
	disc_notify(p, d, revision_next(), s->agent, d->started_by, "resolved", body);
	free(body);
	wait_wake(p->wkey);

	snprintf(id, sizeof id, "D%u", d->num);
	fb = reply_begin(r->id);
	pk_map(fb, 4);
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "status", "resolved");
	pk_kstr(fb, "decided_by", d->decided_by);
	pk_kstr(fb, "hint", strcmp(d->started_by, s->agent) != 0 ?
	    "resolved; whoever started it was told by message" : "resolved");
	reply_end(r->c, fb);
}

void
op_discussion_list(struct req *r)
{
	struct mproject *p = mproject_get(r->s->project);
	struct disc *d;
	struct fbuf *fb;
	char *status = r->args[0] != NULL ? mp_strdup(r->args[0]) : xstrdup("open");
	char *waiting = r->args[1] != NULL ? mp_strdup(r->args[1]) : NULL;
	int64_t limit = 100;
	size_t n = 0, i;
	int pass;

	if (r->args[2] != NULL)
		mp_int(r->args[2], &limit);
	fb = reply_begin(r->id);
	pk_map(fb, 2);
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			pk_str(fb, "discussions");
			pk_array(fb, n);
		}
		i = 0;
		TAILQ_FOREACH_REVERSE(d, &p->discs, dlist, entry) {
			if (i == (size_t)limit)
				break;
			if ((strcmp(status, "open") == 0 && d->resolved) ||
			    (strcmp(status, "resolved") == 0 && !d->resolved) ||
			    (waiting != NULL && (d->waiting_on == NULL ||
			    strcmp(d->waiting_on, waiting) != 0)))
				continue;
			i++;
			if (pass == 0)
				n++;
			else
				disc_pack_summary(fb, d);
		}
	}
	pk_kuint(fb, "count", n);
	free(status);
	free(waiting);
	reply_end(r->c, fb);
}

void
op_discussion_get(struct req *r)
{
	struct mproject *p = mproject_get(r->s->project);
	struct disc *d;
	struct fbuf *fb;
	struct dreply *e;
	char at[ISO_LEN], id[16];
	size_t i;

	if ((d = disc_find(r, p, r->args[0])) == NULL)
		return;
	snprintf(id, sizeof id, "D%u", d->num);
	fb = reply_begin(r->id);
	pk_map(fb, 7 + (d->waiting_on != NULL) + (d->category != NULL) + d->resolved +
	    !d->resolved);
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "topic", d->topic);
	pk_kstr(fb, "status", d->resolved ? "resolved" : "open");
	if (d->waiting_on != NULL)
		pk_kstr(fb, "waiting_on", d->waiting_on);
	if (d->category != NULL)
		pk_kstr(fb, "category", d->category);
	pk_kstr(fb, "priority", d->priority);
	pk_kstr(fb, "started_by", d->started_by);
	pk_kstr(fb, "started_at", msg_iso(d->started_ms, at));
	pk_str(fb, "replies");
	pk_array(fb, d->nreplies);
	for (i = 0; i < d->nreplies; i++) {
		e = &d->replies[i];
		pk_map(fb, 3 + (e->waiting_on != NULL));
		pk_kstr(fb, "who", e->who);
		pk_kstr(fb, "at", msg_iso(e->at_ms, at));
		pk_kstr(fb, "text", e->text);
		if (e->waiting_on != NULL)
			pk_kstr(fb, "waiting_on", e->waiting_on);
	}
	if (d->resolved) {
		pk_str(fb, "resolution");
		pk_map(fb, 3 + (d->reasoning != NULL) + (d->linked_task != NULL));
		pk_kstr(fb, "decision", d->decision);
		if (d->reasoning != NULL)
			pk_kstr(fb, "reasoning", d->reasoning);
		pk_kstr(fb, "decided_by", d->decided_by);
		if (d->linked_task != NULL)
			pk_kstr(fb, "linked_task", d->linked_task);
		pk_kstr(fb, "at", msg_iso(d->resolved_ms, at));
	} else
		pk_kstr(fb, "hint", "reply with discussion_reply; resolve with "
		    "discussion_resolve (needs the token from discussion_start or the "
		    "session that started it)");
	reply_end(r->c, fb);
}

/* --- the checkpoint (store.c) ----------------------------------------- */

/*
 * The project of a store key "PROJECT\nREST" (NULL when it has none,
 * or is not a project with messages); *rest points after the newline.
 */
static struct mproject *
msg_key_project(const char *key, const char **rest, int create)
{
	const char *nl = strchr(key, '\n');
	struct mproject *p;
	char *name;

	if (nl == NULL)
		return (NULL);
	*rest = nl + 1;
	name = xstrndup(key, (size_t)(nl - key));
	if (create)
		p = mproject_get(name);
	else
		HASH_FIND_STR(mprojects, name, p);
	free(name);
	return (p);
}

/* A row's integer field, or 0. */
static int64_t
msg_row_int(const msgpack_object *o, const char *key)
{
	int64_t v;

	return (mp_int(mp_get(o, key), &v) == 0 ? v : 0);
}

/* Row of a project's counters: the retention floor and the discussion numbers. */
static int
mproject_pack(const char *key, struct fbuf *fb)
{
	struct mproject *p;

	HASH_FIND_STR(mprojects, key, p);
	if (p == NULL || (p->expired_upto == 0 && p->next_disc == 0))
		return (0);
	pk_map(fb, 2);
	pk_kuint(fb, "expired_upto", p->expired_upto);
	pk_kuint(fb, "next_disc", p->next_disc);
	return (1);
}

static int
mproject_restore(const char *key, const msgpack_object *o, char **cause)
{
	struct mproject *p = mproject_get(key);
	int64_t v;

	(void)cause;
	if ((v = msg_row_int(o, "expired_upto")) > 0 && (uint64_t)v > p->expired_upto)
		p->expired_upto = (uint64_t)v;
	if ((v = msg_row_int(o, "next_disc")) > 0 && v <= UINT32_MAX &&
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
message_pack(const char *key, struct fbuf *fb)
{
	struct mproject *p;
	struct message *m;
	const char *rest;
	uint64_t id;

	if ((p = msg_key_project(key, &rest, 0)) == NULL)
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
	pk_map(fb, 6);
	pk_kstr(fb, "from", m->from);
	pk_kstr(fb, "to", m->to);
	pk_kstr(fb, "subject", m->subject);
	pk_kstr(fb, "body", m->body);
	pk_kstr(fb, "thread", m->thread);
	pk_kint(fb, "at", m->at_ms);
	return (1);
}

static int
message_restore(const char *key, const msgpack_object *o, char **cause)
{
	struct mproject *p;
	struct message *m;
	const char *rest;
	uint64_t id;

	if ((p = msg_key_project(key, &rest, 1)) == NULL ||
	    (id = strtoull(rest, NULL, 10)) == 0) {
		xasprintf(cause, "message %s: bad key", key);
		return (-1);
	}
	m = xcalloc(1, sizeof *m);
	m->id = id;
	m->from = mp_strdup(mp_get(o, "from"));
	m->to = mp_strdup(mp_get(o, "to"));
	m->body = mp_strdup(mp_get(o, "body"));
	m->subject = mp_strdup(mp_get(o, "subject"));
	m->thread = mp_strdup(mp_get(o, "thread"));
	m->at_ms = msg_row_int(o, "at");
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
mbox_pack(const char *key, struct fbuf *fb)
{
	struct mproject *p;
	struct mbox *mb;
	const char *rest;
	size_t i;

	if ((p = msg_key_project(key, &rest, 0)) == NULL || (mb = mbox_find(p, rest)) == NULL)
		return (0);
	pk_map(fb, 2);
	pk_kuint(fb, "upto", mb->acked_upto);
	pk_str(fb, "acked");
	pk_array(fb, mb->nacked);
	for (i = 0; i < mb->nacked; i++)
		pk_uint(fb, mb->acked[i]);
	return (1);
}

static int
mbox_restore(const char *key, const msgpack_object *o, char **cause)
{
	const msgpack_object *a = mp_get(o, "acked");
	struct mproject *p;
	struct mbox *mb;
	const char *rest;
	int64_t v;
	uint32_t i;

	if ((p = msg_key_project(key, &rest, 1)) == NULL || (mb = mbox_get(p, rest)) == NULL) {
		xasprintf(cause, "mbox %s: bad key", key);
		return (-1);
	}
	mb->acked_upto = (uint64_t)msg_row_int(o, "upto");
	for (i = 0; a != NULL && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size; i++) {
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

/* Row of a discussion: the thread and its resolution. */
static int
discussion_pack(const char *key, struct fbuf *fb)
{
	struct mproject *p;
	struct disc *d;
	const char *rest;
	unsigned long num;
	size_t i;

	if ((p = msg_key_project(key, &rest, 0)) == NULL)
		return (0);
	num = strtoul(rest, NULL, 10);
	TAILQ_FOREACH(d, &p->discs, entry) {
		if (d->num == num)
			break;
	}
	if (d == NULL)
		return (0);
	pk_map(fb, 16);
	pk_kstr(fb, "topic", d->topic);
	pk_kstr(fb, "category", d->category);
	pk_kstr(fb, "priority", d->priority);
	pk_kstr(fb, "waiting_on", d->waiting_on);
	pk_kstr(fb, "started_by", d->started_by);
	pk_kstr(fb, "sid", d->sid);
	pk_kstr(fb, "token", d->token);
	pk_kbool(fb, "resolved", d->resolved);
	pk_kint(fb, "started", d->started_ms);
	pk_kint(fb, "updated", d->updated_ms);
	pk_kint(fb, "resolved_at", d->resolved_ms);
	pk_kstr(fb, "decision", d->decision);
	pk_kstr(fb, "reasoning", d->reasoning);
	pk_kstr(fb, "decided_by", d->decided_by);
	pk_kstr(fb, "linked_task", d->linked_task);
	pk_str(fb, "replies");
	pk_array(fb, d->nreplies);
	for (i = 0; i < d->nreplies; i++) {
		pk_map(fb, 4);
		pk_kstr(fb, "who", d->replies[i].who);
		pk_kstr(fb, "text", d->replies[i].text);
		pk_kstr(fb, "waiting_on", d->replies[i].waiting_on);
		pk_kint(fb, "at", d->replies[i].at_ms);
	}
	return (1);
}

/* Copy a string field of a row into a fixed buffer (empty when absent). */
static void
msg_row_buf(const msgpack_object *o, const char *key, char *buf, size_t len)
{
	const char *s = "";
	size_t n;

	if (mp_str(mp_get(o, key), &s, &n) != 0 || n >= len)
		n = 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

/* Rebuild a discussion's replies from its row. */
static void
disc_restore_replies(struct disc *d, const msgpack_object *a)
{
	struct dreply *e;
	uint32_t i;

	if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size == 0)
		return;
	d->replies = xreallocarray(NULL, a->via.array.size, sizeof *d->replies);
	for (i = 0; i < a->via.array.size; i++) {
		e = &d->replies[d->nreplies];
		e->who = mp_strdup(mp_get(&a->via.array.ptr[i], "who"));
		e->text = mp_strdup(mp_get(&a->via.array.ptr[i], "text"));
		if (e->who == NULL || e->text == NULL) {
			free(e->who);
			free(e->text);
			continue;
		}
		e->waiting_on = mp_strdup(mp_get(&a->via.array.ptr[i], "waiting_on"));
		e->at_ms = msg_row_int(&a->via.array.ptr[i], "at");
		d->nreplies++;
	}
}

static int
discussion_restore(const char *key, const msgpack_object *o, char **cause)
{
	struct mproject *p;
	struct disc *d, *after;
	const char *rest;
	unsigned long num;

	if ((p = msg_key_project(key, &rest, 1)) == NULL ||
	    (num = strtoul(rest, NULL, 10)) == 0 || num > UINT32_MAX) {
		xasprintf(cause, "discussion %s: bad key", key);
		return (-1);
	}
	d = xcalloc(1, sizeof *d);
	d->num = (unsigned)num;
	d->topic = mp_strdup(mp_get(o, "topic"));
	d->priority = mp_strdup(mp_get(o, "priority"));
	d->started_by = mp_strdup(mp_get(o, "started_by"));
	msg_row_buf(o, "sid", d->sid, sizeof d->sid);
	msg_row_buf(o, "token", d->token, sizeof d->token);
	mp_bool(mp_get(o, "resolved"), &d->resolved);
	d->decision = mp_strdup(mp_get(o, "decision"));
	if (d->topic == NULL || d->started_by == NULL || (d->resolved && d->decision == NULL)) {
		disc_free(d);
		xasprintf(cause, "discussion %s: bad row", key);
		return (-1);
	}
	if (d->priority == NULL)
		d->priority = xstrdup("normal");
	d->category = mp_strdup(mp_get(o, "category"));
	d->waiting_on = mp_strdup(mp_get(o, "waiting_on"));
	d->started_ms = msg_row_int(o, "started");
	d->updated_ms = msg_row_int(o, "updated");
	d->resolved_ms = msg_row_int(o, "resolved_at");
	d->reasoning = mp_strdup(mp_get(o, "reasoning"));
	d->decided_by = mp_strdup(mp_get(o, "decided_by"));
	if (d->resolved && d->decided_by == NULL)
		d->decided_by = xstrdup("?");
	d->linked_task = mp_strdup(mp_get(o, "linked_task"));
	disc_restore_replies(d, mp_get(o, "replies"));
	/* in number order, as they were started */
	TAILQ_FOREACH_REVERSE(after, &p->discs, dlist, entry) {
		if (after->num < d->num)
			break;
	}
	if (after != NULL)
		TAILQ_INSERT_AFTER(&p->discs, after, d, entry);
	else
		TAILQ_INSERT_HEAD(&p->discs, d, entry);
	p->ndiscs++;
	if (d->num > p->next_disc)
		p->next_disc = d->num;
	return (0);
}

const struct store_kind discussion_store_kind = {
	.name = "discussion",
	.pack = discussion_pack,
	.restore = discussion_restore,
};
