/*
 * What baton hook has told each agent (DESIGN 12).  An agent's news is
 * its unread mail (a discussion waiting on it and a lost lock come as
 * mail), the tasks it may review and the changes requested on its own
 * tasks; each is told once.  The read state, per project and agent
 * name: mail told up to an id, and the task items told (task, kind,
 * since when).  It is kept in the store (kind "notice") so that a
 * restart does not tell everything again; at most NOTICE_AGENTS_MAX
 * agents, the one told longest ago forgotten first.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define NOTICE_AGENTS_MAX 4096 /* read states kept */
#define NOTICE_ITEMS_MAX 20    /* items in one notice; the rest come next time */
#define NOTICE_TEXT_MAX 400    /* bytes of a body, notes or feedback shown */
#define NOTICE_TOLD_MAX 1000   /* task items remembered per agent (TASKS_MAX) */

struct told { /* one task item told */
	unsigned num;
	char kind; /* 'r' review, 'c' changes */
	int64_t since_ms;
};

struct notice {
	char *key; /* project '\n' agent */
	char *project, *agent;
	uint64_t msg_upto; /* mail told up to this id */
	struct told *told;
	size_t ntold;
	uint64_t last_ms; /* mono: the last notice with news (PostToolUse's rate limit) */
	int64_t at_wall;  /* wall: the same, for the eviction order across restarts */
	UT_hash_handle hh;
};

static struct notice *notices;

/* One item of a notice, pointing into the state it comes from (valid in this call). */
struct news_item {
	const char *kind; /* "message", "review", "changes" */
	char id[24];
	const char *from, *subject, *text;
	uint64_t msg_id;
	struct told t;
};

struct news {
	struct notice *st; /* NULL: nothing told yet */
	struct news_item item[NOTICE_ITEMS_MAX];
	size_t n;
	int more;
	struct told *keep; /* the task items to remember: still pending and told */
	size_t nkeep;
};

static char *
notice_key(const char *project, const char *agent)
{
	char *key;

	xasprintf(&key, "%s\n%s", project, agent);
	return (key);
}

static struct notice *
notice_find(const char *project, const char *agent)
{
	struct notice *st;
	char *key = notice_key(project, agent);

	HASH_FIND_STR(notices, key, st);
	free(key);
	return (st);
}

static void
notice_free(struct notice *st)
{
	HASH_DEL(notices, st);
	store_mark(&notice_store_kind, st->key); /* gone: its row is deleted */
	free(st->key);
	free(st->project);
	free(st->agent);
	free(st->told);
	free(st);
}

/* The read state of agent in project, made (evicting the oldest past the bound). */
static struct notice *
notice_get(const char *project, const char *agent)
{
	struct notice *st, *tmp, *oldest = NULL;

	if ((st = notice_find(project, agent)) != NULL)
		return (st);
	if (HASH_COUNT(notices) >= NOTICE_AGENTS_MAX) {
		HASH_ITER(hh, notices, st, tmp) {
			if (oldest == NULL || st->at_wall < oldest->at_wall)
				oldest = st;
		}
		notice_free(oldest);
	}
	st = xcalloc(1, sizeof *st);
	st->key = notice_key(project, agent);
	st->project = xstrdup(project);
	st->agent = xstrdup(agent);
	HASH_ADD_KEYPTR(hh, notices, st->key, strlen(st->key), st);
	return (st);
}

/* Was the task item t told already? */
static int
notice_told(const struct notice *st, const struct told *t)
{
	size_t i;

	for (i = 0; st != NULL && i < st->ntold; i++) {
		if (st->told[i].num == t->num && st->told[i].kind == t->kind &&
		    st->told[i].since_ms == t->since_ms)
			return (1);
	}
	return (0);
}

static void
news_keep(struct news *nw, const struct told *t)
{
	if (nw->nkeep == NOTICE_TOLD_MAX)
		return;
	nw->keep = xreallocarray(nw->keep, nw->nkeep + 1, sizeof *nw->keep);
	nw->keep[nw->nkeep++] = *t;
}

/* A free slot for an item, or NULL (and more set) when the notice is full. */
static struct news_item *
news_slot(struct news *nw)
{
	if (nw->n == NOTICE_ITEMS_MAX) {
		nw->more = 1;
		return (NULL);
	}
	memset(&nw->item[nw->n], 0, sizeof nw->item[nw->n]);
	return (&nw->item[nw->n++]);
}

static int
news_message(const struct msg_view *m, void *arg)
{
	struct news *nw = arg;
	struct news_item *it;

	if ((it = news_slot(nw)) == NULL)
		return (1);
	it->kind = "message";
	snprintf(it->id, sizeof it->id, "%llu", (unsigned long long)m->id);
	it->from = m->from;
	it->subject = m->subject;
	it->text = m->body;
	it->msg_id = m->id;
	return (0);
}

static void
news_task(const struct task_view *v, void *arg)
{
	struct news *nw = arg;
	struct news_item *it;
	struct told t;

	t.num = v->num;
	t.kind = strcmp(v->kind, "review") == 0 ? 'r' : 'c';
	t.since_ms = v->since_ms;
	if (notice_told(nw->st, &t)) {
		news_keep(nw, &t);
		return;
	}
	if ((it = news_slot(nw)) == NULL)
		return;
	news_keep(nw, &t);
	it->kind = v->kind;
	snprintf(it->id, sizeof it->id, "%s", v->id);
	it->from = v->who;
	it->subject = v->title;
	it->text = v->text;
	it->t = t;
}

/* Gather what is new for agent (role) in project; free with news_done. */
static void
news_gather(struct news *nw, const char *project, const char *agent, const char *role)
{
	memset(nw, 0, sizeof *nw);
	nw->st = notice_find(project, agent);
	msg_foreach_new(project, agent, role, nw->st != NULL ? nw->st->msg_upto : 0,
	    news_message, nw);
	task_foreach_news(project, agent, role, news_task, nw);
}

static void
news_done(struct news *nw)
{
	free(nw->keep);
}

/* Is there news for session s's agent? */
int
notice_pending(struct session *s)
{
	struct news nw;
	size_t n;

	news_gather(&nw, s->project, s->agent, s->role);
	n = nw.n;
	news_done(&nw);
	return (n > 0);
}

/* Did s's agent get news less than secs ago?  (PostToolUse's rate limit.) */
int
notice_recent(struct session *s, double secs)
{
	struct notice *st = notice_find(s->project, s->agent);

	return (secs > 0 && st != NULL && st->last_ms != 0 &&
	    mono_ms() - st->last_ms < (uint64_t)(secs * 1000));
}

/* Pack one item: its kind, id, from, subject and text cut to NOTICE_TEXT_MAX. */
static void
news_pk_item(struct fbuf *fb, const struct news_item *it)
{
	size_t n;

	pk_map_open(fb);
	pk_kstr(fb, "kind", it->kind);
	pk_kstr(fb, "id", it->id);
	pk_kstr_opt(fb, "from", it->from);
	pk_kstr_opt(fb, "subject", it->subject);
	if (it->text != NULL) {
		n = strlen(it->text);
		pk_str(fb, "text");
		pk_strn(fb, it->text, n > NOTICE_TEXT_MAX ? NOTICE_TEXT_MAX : n);
		pk_kbool(fb, "cut", n > NOTICE_TEXT_MAX);
	}
	pk_map_close(fb);
}

/* Remember what nw told: mail up to its last message, the task items pending. */
static void
news_mark(struct news *nw, const char *project, const char *agent)
{
	struct notice *st = notice_get(project, agent);
	size_t i;

	for (i = 0; i < nw->n; i++) {
		if (nw->item[i].msg_id > st->msg_upto)
			st->msg_upto = nw->item[i].msg_id;
	}
	free(st->told);
	st->told = nw->keep;
	st->ntold = nw->nkeep;
	nw->keep = NULL;
	nw->nkeep = 0;
	st->last_ms = mono_ms();
	st->at_wall = wall_ms();
	store_mark(&notice_store_kind, st->key);
	revision_next();
}

/*
 * Pack the news of session s's agent under "news" (and "more": some did
 * not fit) and remember it as told; the number of items.
 */
size_t
notice_pack_news(struct fbuf *fb, struct session *s)
{
	struct news nw;
	size_t i, n;

	news_gather(&nw, s->project, s->agent, s->role);
	pk_str(fb, "news");
	pk_array(fb, nw.n);
	for (i = 0; i < nw.n; i++)
		news_pk_item(fb, &nw.item[i]);
	pk_kbool(fb, "more", nw.more);
	if ((n = nw.n) > 0)
		news_mark(&nw, s->project, s->agent);
	news_done(&nw);
	return (n);
}

/* Row of a read state. */
static int
notice_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct notice *st;
	size_t i;

	HASH_FIND_STR(notices, key, st);
	if (st == NULL)
		return (0);
	pk_map_open(fb);
	pk_kstr(fb, "project", st->project);
	pk_kstr(fb, "agent", st->agent);
	pk_kuint(fb, "msg_upto", st->msg_upto);
	pk_kint(fb, "at", st->at_wall);
	pk_str(fb, "told");
	pk_array(fb, st->ntold);
	for (i = 0; i < st->ntold; i++) {
		pk_array(fb, 3);
		pk_uint(fb, st->told[i].num);
		pk_int(fb, st->told[i].kind);
		pk_int(fb, st->told[i].since_ms);
	}
	pk_map_close(fb);
	return (1);
}

/* Rebuild a read state from its row; told entries that are not [num, kind, since] go. */
static int
notice_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	const msgpack_object *told = mp_get(o, "told"), *e;
	char *project = mp_get_strdup(o, "project"), *agent = mp_get_strdup(o, "agent");
	struct notice *st;
	int64_t num, k, since;
	uint32_t i;

	if (project == NULL || agent == NULL) {
		free(project);
		free(agent);
		xasprintf(cause, "notice %s: bad row", key);
		return (-1);
	}
	st = notice_get(project, agent);
	free(project);
	free(agent);
	st->msg_upto = (uint64_t)mp_get_int(o, "msg_upto", 0);
	st->at_wall = mp_get_int(o, "at", 0);
	for (i = 0; told != NULL && told->type == MSGPACK_OBJECT_ARRAY &&
	     i < told->via.array.size && st->ntold < NOTICE_TOLD_MAX;
	     i++) {
		e = &told->via.array.ptr[i];
		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 3 ||
		    mp_int(&e->via.array.ptr[0], &num) != 0 ||
		    mp_int(&e->via.array.ptr[1], &k) != 0 ||
		    mp_int(&e->via.array.ptr[2], &since) != 0)
			continue;
		st->told = xreallocarray(st->told, st->ntold + 1, sizeof *st->told);
		st->told[st->ntold].num = (unsigned)num;
		st->told[st->ntold].kind = (char)k;
		st->told[st->ntold].since_ms = since;
		st->ntold++;
	}
	return (0);
}

const struct store_kind notice_store_kind = {
	.name = "notice",
	.pack = notice_pack,
	.restore = notice_restore,
};
