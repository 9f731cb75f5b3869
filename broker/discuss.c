/*
 * Discussions (DESIGN §5.4): a thread with a topic, waiting_on someone,
 * and a resolution.  Starting, replying to and resolving one also mails
 * a notice to whoever must act next (msg_post), which is how a blocked
 * inbox learns about it; an inbox lists the discussions waiting on its
 * reader (disc_pk_waiting).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

#define DISC_MAX 1000                /* discussions per project */
#define DISC_REPLIES_MAX 100         /* messages in a thread: 100 x 8 KiB fits a frame */
#define DISC_LIST_BYTES (512 * 1024) /* a discussion_list page, well under a frame */

/* Does d wait on agent in role (itself, or its role)? */
int
disc_waits_on(const struct disc *d, const char *agent, const char *role)
{
	return (!d->resolved && d->waiting_on != NULL &&
	    msg_addr_match(d->waiting_on, agent, role));
}

/* Open discussions waiting on the session's agent or role. */
size_t
msg_waiting_on(struct session *s)
{
	struct mproject *p = mproject_find(s->project);
	struct disc *d;
	size_t n = 0;

	if (p == NULL)
		return (0);
	TAILQ_FOREACH(d, &p->discs, entry) {
		if (disc_waits_on(d, s->agent, s->role))
			n++;
	}
	return (n);
}

/* An array of up to max discussions waiting on agent in role; how many. */
size_t
disc_pk_waiting(struct fbuf *fb, struct mproject *p, const char *agent, const char *role,
    size_t max)
{
	struct disc *d;
	size_t n = 0;

	pk_array_open(fb);
	TAILQ_FOREACH(d, &p->discs, entry) {
		if (n == max)
			break;
		if (disc_waits_on(d, agent, role)) {
			disc_pack_summary(fb, d);
			n++;
		}
	}
	pk_array_close(fb);
	return (n);
}

/* The discussion argument "id" names; NULL (answered) when none. */
static struct disc *
disc_find(struct req *r, struct mproject *p)
{
	struct disc *d;
	const char *s;
	size_t n;
	unsigned num;

	s = arg_str(r, "id", &n);
	num = disc_num(s, n);
	TAILQ_FOREACH(d, &p->discs, entry) {
		if (d->num == num)
			return (d);
	}
	reply_error(r->c, r->id, ERR_NOT_FOUND, "id",
	    "no discussion %.*s in this project; "
	    "discussion_list shows them",
	    (int)(n > 24 ? 24 : n), s);
	return (NULL);
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
			disc_free(d, 1);
			return (0);
		}
	}
	return (-1);
}

/*
 * d changed: its row is rewritten, a notice about it is mailed to addr
 * (unless that is the sender, from), and blocked inboxes wake.
 */
static void
disc_tell(struct mproject *p, struct disc *d, const char *from, const char *addr,
    const char *what, const char *body)
{
	char *subject, thread[16];

	disc_changed(p, d);
	if (addr != NULL && strcmp(addr, from) != 0) {
		snprintf(thread, sizeof thread, "D%u", d->num);
		xasprintf(&subject, "%s %s: %s", thread, what, d->topic);
		msg_post(p, revision_next(), from, addr, subject, body, thread);
		free(subject);
	} else
		revision_next();
	wait_wake(p->wkey);
}

void
op_discussion_start(struct req *r)
{
	struct mproject *p = mproject_ensure(r->s->project);
	struct disc *d;
	struct fbuf *fb;
	char *waiting, *text, id[16], *hint;

	if (msg_addr_arg(r, "waiting_on", &waiting) != 0)
		return;
	if (disc_room(p) != 0) {
		free(waiting);
		reply_error(r->c, r->id, ERR_LIMIT, NULL,
		    "%d discussions are open in this "
		    "project; resolve some before starting more",
		    DISC_MAX);
		return;
	}
	d = xcalloc(1, sizeof *d);
	d->num = ++p->next_disc;
	d->topic = arg_strdup(r, "topic");
	d->category = arg_strdup(r, "category");
	d->priority = arg_strdup(r, "priority"); /* "normal" when absent */
	d->waiting_on = waiting;
	d->started_by = xstrdup(r->s->agent);
	snprintf(d->sid, sizeof d->sid, "%s", r->s->id);
	random_hex(d->token, sizeof d->token);
	d->started_ms = wall_ms();
	text = arg_strdup(r, "message");
	disc_add_reply(d, r->s->agent, text, waiting);
	TAILQ_INSERT_TAIL(&p->discs, d, entry);
	p->ndiscs++;
	store_mark(&mproject_store_kind, p->name); /* next_disc */
	disc_tell(p, d, r->s->agent, waiting, "waits on you", text);
	free(text);

	snprintf(id, sizeof id, "D%u", d->num);
	feed_record(r->s, "discussion_start", "discussion", p->name, id, "started: %s%s%s",
	    d->topic, waiting != NULL ? "; waiting on " : "", waiting != NULL ? waiting : "");
	xasprintf(&hint,
	    "%s%s. Follow it with message_inbox (replies are mailed to "
	    "whoever the discussion waits on); resolve it with discussion_resolve id=%s "
	    "(keep the token to do that from another session).",
	    waiting != NULL ? "Started; waiting on "
			    : "Started; nobody is asked yet (reply "
			      "with waiting_on to ask someone)",
	    waiting != NULL ? waiting : "", id);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "status", "open");
	pk_kstr_opt(fb, "waiting_on", waiting);
	pk_kstr(fb, "token", d->token);
	pk_kstr(fb, "hint", hint);
	pk_map_close(fb);
	free(hint);
	reply_end(r->c, fb);
}

/* Refuse a change to a resolved discussion; 1 when refused. */
static int
disc_closed(struct req *r, const struct disc *d, const char *doing)
{
	char why[512];

	if (!d->resolved)
		return (0);
	disc_closed_why(why, sizeof why, d, doing);
	reply_error(r->c, r->id, ERR_CONFLICT, "id", "%s", why);
	return (1);
}

/*
 * Who a reply makes d wait on, in *waiting: the waiting_on argument; or
 * without it, whoever asked when the one asked answered, else the same.
 * -1 after replying to a bad address.
 */
static int
disc_next_waiting(struct req *r, const struct disc *d, char **waiting)
{
	struct session *s = r->s;

	if (msg_addr_arg(r, "waiting_on", waiting) != 0)
		return (-1);
	if (arg_has(r, "waiting_on") || d->waiting_on == NULL)
		return (0);
	if (msg_addr_match(d->waiting_on, s->agent, s->role) &&
	    strcmp(d->started_by, s->agent) != 0)
		*waiting = xstrdup(d->started_by);
	else
		*waiting = xstrdup(d->waiting_on);
	return (0);
}

void
op_discussion_reply(struct req *r)
{
	struct mproject *p = mproject_ensure(r->s->project);
	struct disc *d;
	struct fbuf *fb;
	char *waiting, *text, id[16];

	if ((d = disc_find(r, p)) == NULL || disc_closed(r, d, "replied to"))
		return;
	if (d->nreplies >= DISC_REPLIES_MAX) {
		reply_error(r->c, r->id, ERR_LIMIT, "id",
		    "D%u has %d messages, the most a "
		    "thread keeps; resolve it and start a new discussion",
		    d->num, DISC_REPLIES_MAX);
		return;
	}
	if (disc_next_waiting(r, d, &waiting) != 0)
		return;
	free(d->waiting_on);
	d->waiting_on = waiting;
	text = arg_strdup(r, "message");
	disc_add_reply(d, r->s->agent, text, waiting);
	disc_tell(p, d, r->s->agent, waiting, "reply", text);
	free(text);

	snprintf(id, sizeof id, "D%u", d->num);
	feed_record(r->s, "discussion_reply", "discussion", p->name, id, "replied%s%s",
	    waiting != NULL ? "; waiting on " : "", waiting != NULL ? waiting : "");
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "status", "open");
	pk_kuint(fb, "replies", d->nreplies);
	pk_kstr_opt(fb, "waiting_on", waiting);
	pk_kstr(fb, "hint",
	    waiting != NULL ? "the discussion now waits on waiting_on; its "
			      "answer reaches your inbox when it is addressed to you"
			    : "nobody is asked: pass waiting_on to ask someone, or resolve it");
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/* May the caller resolve d: its session, or its token?  Replies when not. */
static int
disc_may_resolve(struct req *r, const struct disc *d)
{
	const char *tok;
	size_t n;

	if (strcmp(d->sid, r->s->id) == 0)
		return (1);
	if ((tok = arg_str(r, "token", &n)) != NULL && token_cmp(d->token, tok, n) == 0)
		return (1);
	reply_error(r->c, r->id, ERR_PERMISSION, tok != NULL ? "token" : NULL,
	    "D%u was started by %s (session %s); resolving it needs the token "
	    "discussion_start returned%s, or that session; ask %s to resolve it, or "
	    "reply with your proposal",
	    d->num, d->started_by, d->sid, tok != NULL ? " (this one does not match)" : "",
	    d->started_by);
	return (0);
}

void
op_discussion_resolve(struct req *r)
{
	struct mproject *p = mproject_ensure(r->s->project);
	struct session *s = r->s;
	struct disc *d;
	struct fbuf *fb;
	char *body, id[16];

	if ((d = disc_find(r, p)) == NULL || disc_closed(r, d, "resolved again") ||
	    !disc_may_resolve(r, d))
		return;
	d->resolved = 1;
	d->decision = arg_strdup(r, "decision");
	d->reasoning = arg_strdup(r, "reasoning");
	d->linked_task = arg_strdup(r, "linked_task");
	d->decided_by = xstrdup(s->agent);
	d->resolved_ms = d->updated_ms = wall_ms();
	free(d->waiting_on);
	d->waiting_on = NULL;
	xasprintf(&body, "Decision: %s%s%s", d->decision,
	    d->reasoning != NULL ? "\nReasoning: " : "",
	    d->reasoning != NULL ? d->reasoning : "");
	disc_tell(p, d, s->agent, d->started_by, "resolved", body);
	free(body);

	snprintf(id, sizeof id, "D%u", d->num);
	feed_record(s, "discussion_resolve", "discussion", p->name, id, "resolved: %s",
	    d->decision);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "status", "resolved");
	pk_kstr(fb, "decided_by", d->decided_by);
	pk_kstr(fb, "hint",
	    strcmp(d->started_by, s->agent) != 0
		? "resolved; whoever started it was told by message"
		: "resolved");
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/* Does d pass discussion_list's filters (status "open", "resolved" or "all", waiting on)? */
static int
disc_list_match(const struct disc *d, const char *status, const char *waiting)
{
	if ((strcmp(status, "open") == 0 && d->resolved) ||
	    (strcmp(status, "resolved") == 0 && !d->resolved))
		return (0);
	return (
	    waiting == NULL || (d->waiting_on != NULL && strcmp(d->waiting_on, waiting) == 0));
}

void
op_discussion_list(struct req *r)
{
	struct mproject *p = mproject_ensure(r->s->project);
	struct disc *d, *last = NULL;
	struct fbuf *fb;
	char *status = arg_strdup(r, "status"); /* "open" when absent */
	char *waiting = arg_strdup(r, "waiting_on");
	char id[16];
	const char *after;
	size_t n = 0, alen, limit = (size_t)arg_int(r, "limit");
	unsigned before = 0;
	int more = 0;

	if ((after = arg_str(r, "after", &alen)) != NULL &&
	    (before = disc_num(after, alen)) == 0) {
		reply_error(r->c, r->id, ERR_INVALID, "after",
		    "after must be the cursor of a discussion_list page, an id like \"D12\"");
		free(status);
		free(waiting);
		return;
	}
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_str(fb, "discussions");
	pk_array_open(fb);
	TAILQ_FOREACH_REVERSE(d, &p->discs, dlist, entry) {
		if ((before != 0 && d->num >= before) || !disc_list_match(d, status, waiting))
			continue;
		/* a page ends at limit discussions, or once it is half a frame */
		if (n == limit || (n > 0 && fb->sb.size > DISC_LIST_BYTES)) {
			more = 1;
			break;
		}
		disc_pack_summary(fb, d);
		last = d;
		n++;
	}
	pk_array_close(fb);
	pk_kuint(fb, "count", n);
	pk_kbool(fb, "more", more);
	if (last != NULL) {
		snprintf(id, sizeof id, "D%u", last->num);
		pk_kstr(fb, "cursor", id);
	}
	pk_map_close(fb);
	free(status);
	free(waiting);
	reply_end(r->c, fb);
}

void
op_discussion_get(struct req *r)
{
	struct mproject *p = mproject_ensure(r->s->project);
	struct disc *d;
	struct fbuf *fb;

	if ((d = disc_find(r, p)) == NULL)
		return;
	fb = reply_begin(r->id);
	disc_pack(fb, d);
	reply_end(r->c, fb);
}

/* --- the checkpoint (store.c) ----------------------------------------- */

/* The discussion a row key names, or NULL. */
static struct disc *
disc_of_key(const char *key)
{
	struct mproject *p;
	struct disc *d;
	const char *rest;
	unsigned long num;

	if ((p = mproject_of_key(key, &rest, 0)) == NULL)
		return (NULL);
	num = strtoul(rest, NULL, 10);
	TAILQ_FOREACH(d, &p->discs, entry) {
		if (d->num == num)
			return (d);
	}
	return (NULL);
}

/* Row of a discussion: the thread and its resolution. */
static int
discussion_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct disc *d;
	size_t i;

	if ((d = disc_of_key(key)) == NULL)
		return (0);
	pk_map_open(fb);
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
		pk_map_open(fb);
		pk_kstr(fb, "who", d->replies[i].who);
		pk_kstr(fb, "text", d->replies[i].text);
		pk_kstr(fb, "waiting_on", d->replies[i].waiting_on);
		pk_kint(fb, "at", d->replies[i].at_ms);
		pk_map_close(fb);
	}
	pk_map_close(fb);
	return (1);
}

/* Copy a string field of a row into a fixed buffer (empty when absent or too long). */
static void
disc_row_buf(const msgpack_object *o, const char *key, char *buf, size_t len)
{
	const char *s = "";
	size_t n;

	if (mp_str(mp_get(o, key), &s, &n) != 0 || n >= len)
		n = 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

/* Rebuild a discussion's replies from its row (incomplete ones are skipped). */
static void
disc_restore_replies(struct disc *d, const msgpack_object *a)
{
	const msgpack_object *o;
	struct dreply *e;
	uint32_t i;

	if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size == 0)
		return;
	d->replies = xreallocarray(NULL, a->via.array.size, sizeof *d->replies);
	for (i = 0; i < a->via.array.size; i++) {
		o = &a->via.array.ptr[i];
		e = &d->replies[d->nreplies];
		e->who = mp_get_strdup(o, "who");
		e->text = mp_get_strdup(o, "text");
		if (e->who == NULL || e->text == NULL) {
			free(e->who);
			free(e->text);
			continue;
		}
		e->waiting_on = mp_get_strdup(o, "waiting_on");
		e->at_ms = mp_get_int(o, "at", 0);
		d->nreplies++;
	}
}

/* Put restored d in p in number order, as they were started. */
static void
disc_restore_place(struct mproject *p, struct disc *d)
{
	struct disc *after;

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
}

static int
discussion_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	struct mproject *p;
	struct disc *d;
	const char *rest;
	unsigned long num;

	if ((p = mproject_of_key(key, &rest, 1)) == NULL ||
	    (num = strtoul(rest, NULL, 10)) == 0 || num > UINT32_MAX) {
		xasprintf(cause, "discussion %s: bad key", key);
		return (-1);
	}
	d = xcalloc(1, sizeof *d);
	d->num = (unsigned)num;
	d->topic = mp_get_strdup(o, "topic");
	d->priority = mp_get_strdup(o, "priority");
	d->started_by = mp_get_strdup(o, "started_by");
	disc_row_buf(o, "sid", d->sid, sizeof d->sid);
	disc_row_buf(o, "token", d->token, sizeof d->token);
	d->resolved = mp_get_bool(o, "resolved", 0);
	d->decision = mp_get_strdup(o, "decision");
	if (d->topic == NULL || d->started_by == NULL || (d->resolved && d->decision == NULL)) {
		disc_free(d, 1);
		xasprintf(cause, "discussion %s: bad row", key);
		return (-1);
	}
	if (d->priority == NULL)
		d->priority = xstrdup("normal");
	d->category = mp_get_strdup(o, "category");
	d->waiting_on = mp_get_strdup(o, "waiting_on");
	d->started_ms = mp_get_int(o, "started", 0);
	d->updated_ms = mp_get_int(o, "updated", 0);
	d->resolved_ms = mp_get_int(o, "resolved_at", 0);
	d->reasoning = mp_get_strdup(o, "reasoning");
	d->decided_by = mp_get_strdup(o, "decided_by");
	if (d->resolved && d->decided_by == NULL)
		d->decided_by = xstrdup("?");
	d->linked_task = mp_get_strdup(o, "linked_task");
	disc_restore_replies(d, mp_get(o, "replies"));
	disc_restore_place(p, d);
	return (0);
}

const struct store_kind discussion_store_kind = {
	.name = "discussion",
	.pack = discussion_pack,
	.restore = discussion_restore,
};
