/*
 * The feed (DESIGN 11): the audit log of every change, and the live
 * subscriptions that watch it.
 *
 * A module that changes state calls feed_record (who, what kind of
 * object, which one, one line saying what happened) where the change
 * happens: in a handler for an operation, in a timer for a TTL or a
 * lease that runs out, in a session-close hook for what a session's end
 * releases.  What a request records is kept until its handler returns
 * (server.c tells feed_request), so that one operation on one object is
 * one entry whatever the module did on the way; what a timer or a
 * session's end records, until the callback returns.  Then each entry takes
 * its revision, is packed once (the same bytes are the stored row, the
 * pushed frame and the element of a log_list reply) and goes into a
 * ring bounded by count (--log-max) and age (--log-age).
 *
 * Rows ride in the store's group commit (store_on_flush, into its journal): an entry is
 * durable exactly when the change it records is.  Pruned rows are
 * deleted in batches, and a restart keeps what is within the bounds.
 *
 * A subscriber is a cursor into the ring, not a buffer: pushes go to its
 * connection while what it has not read stays under FEED_PUSH_HIGH;
 * past that it stalls and catches up from the ring as its connection
 * drains.  One whose cursor falls out of retention is told to resync
 * (reload the state) and goes on from the newest entry.  So a slow
 * subscriber costs the broker at most FEED_PUSH_HIGH bytes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <sqlite3.h>

#include "broker.h"

#define FEED_SUMMARY_MAX 200        /* bytes of a summary line */
#define FEED_PENDING_MAX 64         /* entries of one request before they go out */
#define FEED_PUSH_HIGH (256 * 1024) /* unread bytes before a subscriber stalls */
#define FEED_BATCH_BYTES 65536      /* entries in one push frame, at most */
#define FEED_GAP_MS 2               /* between two pushes to a subscriber, at least */
#define FEED_SUBS_MAX 64            /* subscriptions */
#define FEED_PRUNE_BATCH 256        /* stored rows pruned at once */
#define FEED_WAIT_KEY "\001feed"    /* wait.c key of log_wait callers */
#define FEED_BROKER_AGENT "batond"  /* the agent of changes nobody asked for */

size_t feed_max = FEED_MAX_DEFAULT;
double feed_age = FEED_AGE_DEFAULT;

/* One entry: what filters read, and the packed map sent and stored. */
struct feed_entry {
	uint64_t rev;
	int64_t at_ms;
	const char *project, *agent, *kind, *key; /* inside str[] */
	size_t len;                               /* bytes of the packed map */
	unsigned char *data;                      /* inside str[] */
	char str[];
};

/* An entry a request made, waiting for the request's end. */
struct feed_pend {
	const struct session *s;
	char *strs; /* sid to key, one allocation */
	const char *sid, *agent, *op, *kind, *project, *key;
	char *summary;
	unsigned char *data;
	size_t dlen;
};

/* A live subscriber: a session's cursor into the ring. */
struct feed_sub {
	struct session *s;
	char *project;      /* NULL: every project */
	uint64_t cursor;    /* the newest entry it was sent or passed over */
	int stalled;        /* stopped getting pushes: catch up from the ring */
	uint64_t pushed_ms; /* its last push */
	int resync;         /* lost entries: to be told when it can take a frame */
	struct evbuffer_cb_entry *cbe;
	TAILQ_ENTRY(feed_sub) entry;
};

/* What log_list and log_wait select. */
struct feed_filter {
	char *project; /* NULL: every project */
	char *agent, *object;
	char **kinds;
	size_t nkinds, limit;
};

static struct feed_entry **ring;
static size_t ring_cap, ring_head, ring_n;
static size_t ring_bytes;
static uint64_t last_rev;     /* the newest entry's revision */
static uint64_t lost_rev;     /* the newest revision pruned */
static uint64_t saved_rev;    /* the newest entry stored */
static uint64_t unsaved_rev;  /* ... being stored by the commit in progress */
static uint64_t pruned_saved; /* stored rows at or below it are deleted */
static size_t pruned_since;   /* entries pruned since the last delete */
static struct event *age_ev, *kick_ev, *flush_ev, *gap_ev;
static TAILQ_HEAD(, feed_sub) subs = TAILQ_HEAD_INITIALIZER(subs);
static size_t nsubs;

/* The request being handled (server.c): its entries wait for its end. */
static const struct session *cur_s;
static const char *cur_op;
static int in_request;
static struct feed_pend pend[FEED_PENDING_MAX];
static size_t npend;

static void feed_push(const struct feed_entry *);
static void feed_catch_up(struct feed_sub *);

/* The i-th retained entry, oldest first. */
static struct feed_entry *
feed_at(size_t i)
{
	return (ring[(ring_head + i) % ring_cap]);
}

/* Index of the first retained entry after rev (ring_n when none). */
static size_t
feed_after(uint64_t rev)
{
	size_t lo = 0, hi = ring_n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (feed_at(mid)->rev <= rev)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo);
}

/* Drop the oldest entry. */
static void
feed_drop_oldest(void)
{
	struct feed_entry *e = ring[ring_head];

	lost_rev = e->rev;
	ring_bytes -= sizeof *e + e->len;
	free(e);
	ring[ring_head] = NULL;
	ring_head = (ring_head + 1) % ring_cap;
	ring_n--;
	pruned_since++;
}

/* Drop what is past the age bound; arm the timer for the next to go. */
static void
feed_prune_age(void)
{
	int64_t horizon = wall_ms() - (int64_t)(feed_age * 1000);
	size_t had = ring_n;

	while (ring_n > 0 && feed_at(0)->at_ms < horizon)
		feed_drop_oldest();
	if (ring_n < had)
		pruned_since = FEED_PRUNE_BATCH; /* their stored rows go at the next commit */
	if (age_ev != NULL && ring_n > 0)
		timer_in(age_ev, (double)(feed_at(0)->at_ms - horizon) / 1000.0 + 0.001);
}

static void
feed_age_cb(evutil_socket_t fd, short events, void *arg)
{
	feed_prune_age();
	if (pruned_since > 0)
		store_touch();
}

/* Append an entry, dropping the oldest past the count bound. */
static void
feed_append(struct feed_entry *e)
{
	if (ring_n == ring_cap)
		feed_drop_oldest();
	ring[(ring_head + ring_n) % ring_cap] = e;
	ring_n++;
	ring_bytes += sizeof *e + e->len;
	last_rev = e->rev;
	if (ring_n == 1 && age_ev != NULL)
		feed_prune_age();
}

/* Copy s into the entry's strings at *p; returns where it went. */
static const char *
feed_put(char **p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *at = *p;

	memcpy(at, s, n);
	*p += n;
	return (at);
}

/*
 * Pack an entry once: {rev, at, project, agent, session, op, kind, key,
 * summary, data?}.  data is a packed msgpack value or NULL.
 */
static struct feed_entry *
feed_entry_new(uint64_t rev, int64_t at, const char *project, const char *agent,
    const char *sid, const char *op, const char *kind, const char *key, const char *summary,
    const unsigned char *data, size_t dlen)
{
	/* packed in one buffer kept for the next entry (every change makes one) */
	static struct fbuf fb;
	static int fb_made;
	struct feed_entry *e;
	char iso[TIME_ISO_LEN], *p;
	size_t len, slen;

	if (!fb_made)
		fbuf_init(&fb);
	else
		fbuf_reset(&fb);
	fb_made = 1;
	pk_map_open(&fb);
	pk_kuint(&fb, "rev", rev);
	pk_kstr(&fb, "at", time_iso(at, iso, sizeof iso));
	pk_kstr(&fb, "project", project);
	pk_kstr(&fb, "agent", agent);
	pk_kstr_opt(&fb, "session", sid);
	pk_kstr(&fb, "op", op);
	pk_kstr(&fb, "kind", kind);
	pk_kstr(&fb, "key", key);
	pk_kstr(&fb, "summary", summary);
	if (data != NULL) {
		pk_str(&fb, "data");
		pk_raw(&fb, data, dlen);
	}
	pk_map_close(&fb);
	if (fb.err)
		fatalx("feed: cannot pack an entry");
	len = fb.sb.size - FRAME_HDR;
	slen = strlen(project) + strlen(agent) + strlen(kind) + strlen(key) + 4;
	e = xmalloc(sizeof *e + slen + len);
	e->rev = rev;
	e->at_ms = at;
	p = e->str;
	e->project = feed_put(&p, project);
	e->agent = feed_put(&p, agent);
	e->kind = feed_put(&p, kind);
	e->key = feed_put(&p, key);
	e->data = (unsigned char *)p;
	memcpy(e->data, fb.sb.data + FRAME_HDR, len);
	e->len = len;
	if (fb.sb.alloc > FEED_BATCH_BYTES) {
		fbuf_free(&fb); /* a big entry's buffer is not kept */
		fb_made = 0;
	}
	return (e);
}

/* s as one line of at most FEED_SUMMARY_MAX bytes, cut at a character, no controls. */
static char *
feed_line(char *s)
{
	char *p;
	size_t n;

	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	if ((n = strlen(s)) > FEED_SUMMARY_MAX) {
		n = FEED_SUMMARY_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		s[n] = '\0';
	}
	return (s);
}

/* Free what a pending entry holds. */
static void
feed_pend_free(struct feed_pend *pe)
{
	free(pe->strs);
	free(pe->summary);
	free(pe->data);
	memset(pe, 0, sizeof *pe);
}

/* An entry takes its revision, goes into the ring and out to its watchers. */
static void
feed_finish(struct feed_pend *pe)
{
	struct feed_entry *e;
	uint64_t rev;

	/*
	 * The change advanced the revision: the entry takes that one; a
	 * second entry of the same change takes a new one, so the revisions
	 * of entries only increase.
	 */
	rev = revision > last_rev ? revision : revision_next();
	e = feed_entry_new(rev, wall_ms(), pe->project, pe->agent, pe->sid, pe->op, pe->kind,
	    pe->key, pe->summary, pe->data, pe->dlen);
	feed_pend_free(pe);
	feed_append(e);
	if (durability != DURABILITY_NONE)
		store_touch();
	feed_push(e);
	wait_wake(FEED_WAIT_KEY);
}

/* Finish every entry the request made so far. */
static void
feed_flush(void)
{
	size_t i;

	for (i = 0; i < npend; i++)
		feed_finish(&pend[i]);
	npend = 0;
}

/* Entries made outside a request (timers, sessions ending), after the callback. */
static void
feed_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	feed_flush();
}

/*
 * server.c: a request's handler is about to run (r) or has returned
 * (NULL).  What it records is one entry per object, finished at its end.
 */
void
feed_request(const struct req *r)
{
	in_request = r != NULL;
	cur_s = r != NULL ? r->s : NULL;
	cur_op = r != NULL ? r->op->name : NULL;
	if (r == NULL)
		feed_flush();
}

/* The entry this request made on this object already, or NULL. */
static struct feed_pend *
feed_pend_find(const struct session *s, const char *kind, const char *project, const char *key)
{
	size_t i;

	for (i = 0; i < npend; i++) {
		if (pend[i].s == s && strcmp(pend[i].kind, kind) == 0 &&
		    strcmp(pend[i].project, project) == 0 && strcmp(pend[i].key, key) == 0)
			return (&pend[i]);
	}
	return (NULL);
}

/* Record a change (see feed_record); data is packed msgpack (taken) or NULL. */
static void
feed_add(const struct session *s, const char *op, const char *kind, const char *project,
    size_t plen, const char *key, unsigned char *data, size_t dlen, char *line)
{
	struct feed_pend *pe;
	const char *sid, *agent;
	char *both, *p;

	if (restoring || ring_cap == 0) {
		free(line);
		free(data);
		return;
	}
	line = feed_line(line);
	if (in_request && npend > 0) {
		char *proj = xstrndup(project, plen);

		pe = feed_pend_find(s, kind, proj, key);
		free(proj);
		if (pe != NULL) {
			/* one operation on one object: one entry saying all it did */
			xasprintf(&both, "%s; %s", pe->summary, line);
			free(pe->summary);
			free(line);
			pe->summary = feed_line(both);
			free(data);
			return;
		}
	}
	/* a session that ends records each of its locks: outside a request too */
	if (npend == FEED_PENDING_MAX)
		feed_flush();
	pe = &pend[npend++];
	pe->s = in_request ? s : NULL; /* only a request's entries are merged */
	sid = s != NULL ? s->id : NULL;
	agent = s != NULL ? s->agent : FEED_BROKER_AGENT;
	/* a request's own changes carry its operation; others what caused them */
	op = in_request && s != NULL && s == cur_s ? cur_op : op;
	plen = strnlen(project, plen);
	p = pe->strs = xmalloc((sid != NULL ? strlen(sid) + 1 : 0) + strlen(agent) +
	    strlen(op) + strlen(kind) + plen + strlen(key) + 5);
	pe->sid = sid != NULL ? feed_put(&p, sid) : NULL;
	pe->agent = feed_put(&p, agent);
	pe->op = feed_put(&p, op);
	pe->kind = feed_put(&p, kind);
	memcpy(p, project, plen);
	p[plen] = '\0';
	pe->project = p;
	p += plen + 1;
	pe->key = feed_put(&p, key);
	pe->summary = line;
	pe->data = data;
	pe->dlen = dlen;
	if (!in_request)
		event_active(flush_ev, EV_TIMEOUT, 0);
}

/* Append s to the summary being built at *p, before end; the rest is cut. */
static void
feed_fmt_put(char **p, char *end, const char *s, size_t n)
{
	if (n > (size_t)(end - *p))
		n = (size_t)(end - *p);
	memcpy(*p, s, n);
	*p += n;
}

/* Can feed_fmt format fmt: only %s, %llu and %zu in it? */
static int
feed_fmt_simple(const char *fmt)
{
	for (; (fmt = strchr(fmt, '%')) != NULL; fmt++) {
		if (fmt[1] == 's')
			fmt++;
		else if (strncmp(fmt + 1, "llu", 3) == 0)
			fmt += 3;
		else if (strncmp(fmt + 1, "zu", 2) == 0)
			fmt += 2;
		else
			return (0);
	}
	return (1);
}

/* fmt (feed_fmt_simple's) with ap into buf of len bytes, cut as vsnprintf cuts. */
static void
feed_fmt(char *buf, size_t len, const char *fmt, va_list ap)
{
	char *p = buf, *end = buf + len - 1, num[24], *d;
	const char *s, *pct;
	unsigned long long v;

	while ((pct = strchr(fmt, '%')) != NULL) {
		feed_fmt_put(&p, end, fmt, (size_t)(pct - fmt));
		if (pct[1] == 's') {
			if ((s = va_arg(ap, const char *)) == NULL)
				s = "(null)";
			feed_fmt_put(&p, end, s, strlen(s));
			fmt = pct + 2;
			continue;
		}
		if (pct[1] == 'l') {
			v = va_arg(ap, unsigned long long);
			fmt = pct + 4;
		} else {
			v = va_arg(ap, size_t);
			fmt = pct + 3;
		}
		d = num + sizeof num;
		do
			*--d = (char)('0' + v % 10);
		while ((v /= 10) != 0);
		feed_fmt_put(&p, end, d, (size_t)(num + sizeof num - d));
	}
	feed_fmt_put(&p, end, fmt, strlen(fmt));
	*p = '\0';
}

/*
 * A summary, formatted: on the stack, then copied (no vasprintf's
 * growing buffer).  feed_line keeps FEED_SUMMARY_MAX bytes, cut at a
 * character; the byte past them is kept to find that cut.  Every change
 * formats one, and most take only strings and counts: those are put
 * together here, which costs a tenth of vsnprintf (callgrind, a lock
 * acquire and release: 2.5 k instructions per pair in vsnprintf alone).
 */
static char *
feed_format(const char *fmt, va_list ap)
{
	char buf[FEED_SUMMARY_MAX + 2];

	if (feed_fmt_simple(fmt))
		feed_fmt(buf, sizeof buf, fmt, ap);
	else if (vsnprintf(buf, sizeof buf, fmt, ap) < 0)
		fatalx("feed: cannot format a summary");
	return (xstrdup(buf));
}

/*
 * Record a change of object kind/key in project, made by session s
 * (NULL: the broker itself, e.g. a TTL).  op names what caused it when s
 * is not the session whose request is being handled (a timer, a
 * session's end, another session's wait woken); a request's own changes
 * carry the request's operation.  The summary is one line.
 */
void
feed_record(const struct session *s, const char *op, const char *kind, const char *project,
    const char *key, const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	line = feed_format(fmt, ap);
	va_end(ap);
	feed_add(s, op, kind, project, strlen(project), key, NULL, 0, line);
}

/* feed_record for objects keyed "PROJECT\nNAME" (notes, counters, events). */
void
feed_record_pkey(const struct session *s, const char *op, const char *kind, const char *pkey,
    const char *fmt, ...)
{
	const char *nl = strchr(pkey, '\n');
	va_list ap;
	char *line;

	va_start(ap, fmt);
	line = feed_format(fmt, ap);
	va_end(ap);
	if (nl == NULL)
		feed_add(s, op, kind, GLOBAL_PROJECT, strlen(GLOBAL_PROJECT), pkey, NULL, 0,
		    line);
	else
		feed_add(s, op, kind, pkey, (size_t)(nl - pkey), nl + 1, NULL, 0, line);
}

/* ---- subscribers ---- */

/* Does a watcher of project (NULL: all) see e?  The global namespace is everyone's. */
static int
feed_visible(const char *project, const struct feed_entry *e)
{
	return (project == NULL || strcmp(e->project, project) == 0 ||
	    strcmp(e->project, GLOBAL_PROJECT) == 0);
}

/* Bytes queued to a subscriber and not read yet. */
static size_t
feed_unread(const struct feed_sub *sub)
{
	struct client *c = sub->s->client;

	if (c == NULL || c->closing)
		return (FEED_PUSH_HIGH); /* nowhere to send: as if full */
	return (evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    (c->held != NULL ? evbuffer_get_length(c->held) : 0));
}

/* Close a frame of entries and queue it to the subscriber; *unread grows. */
static void
feed_send_batch(struct feed_sub *sub, struct fbuf *fb, size_t *unread)
{
	pk_array_close(fb);
	pk_map_close(fb);
	*unread += fb->sb.size;
	client_send(sub->s->client, fb);
	sub->pushed_ms = mono_ms();
}

/* The oldest revision retained (0: none). */
static uint64_t
feed_oldest(void)
{
	return (ring_n > 0 ? feed_at(0)->rev : 0);
}

/*
 * Tell a subscriber that entries it had not read were dropped: it must
 * reload the state; it goes on from the newest entry.
 */
static void
feed_send_resync(struct feed_sub *sub)
{
	struct fbuf fb;

	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "t", FRAME_PUSH);
	pk_kstr(&fb, "kind", "resync");
	pk_kuint(&fb, "after", sub->cursor);
	pk_kuint(&fb, "oldest", feed_oldest());
	pk_kuint(&fb, "revision", last_rev);
	pk_kstr(&fb, "hint",
	    "entries after your cursor were dropped before you read them: reload the state; "
	    "entries after revision now follow");
	pk_map_close(&fb);
	client_send(sub->s->client, &fb);
	sub->cursor = last_rev;
	sub->resync = 0;
}

/*
 * Send a subscriber what it has not had, as far as its connection takes
 * it, in frames {t:6, kind:"log", entries:[...]} of at most
 * FEED_BATCH_BYTES: one write and one wake-up for many entries.
 */
static void
feed_catch_up(struct feed_sub *sub)
{
	struct feed_entry *e;
	struct fbuf fb;
	size_t i, n = 0, unread;

	if (sub->resync || sub->cursor < lost_rev) {
		if (feed_unread(sub) >= FEED_PUSH_HIGH) {
			sub->resync = sub->stalled = 1;
			return;
		}
		feed_send_resync(sub);
	}
	unread = feed_unread(sub);
	for (i = feed_after(sub->cursor); i < ring_n; i++) {
		e = feed_at(i);
		if (!feed_visible(sub->project, e)) {
			sub->cursor = e->rev; /* an open batch is always sent */
			continue;
		}
		if (n > 0 && fb.sb.size + e->len > FEED_BATCH_BYTES) {
			feed_send_batch(sub, &fb, &unread);
			n = 0;
		}
		if (n == 0 && unread >= FEED_PUSH_HIGH) {
			sub->stalled = 1;
			return;
		}
		if (n++ == 0) {
			fbuf_init(&fb);
			pk_map_open(&fb);
			pk_kint(&fb, "t", FRAME_PUSH);
			pk_kstr(&fb, "kind", "log");
			pk_str(&fb, "entries");
			pk_array_open(&fb);
		}
		pk_raw(&fb, e->data, e->len);
		sub->cursor = e->rev;
	}
	if (n > 0)
		feed_send_batch(sub, &fb, &unread);
	sub->stalled = 0;
}

/*
 * Catch a subscriber up now, unless it had a push less than FEED_GAP_MS
 * ago; then what it has not had goes with whatever follows when the gap
 * is over.  A change after a quiet while shows at once; a stream of
 * changes costs each subscriber a write and a wake-up per gap, not per
 * change.
 */
static void
feed_catch_up_gap(struct feed_sub *sub, uint64_t now)
{
	if (now >= sub->pushed_ms + FEED_GAP_MS) {
		feed_catch_up(sub);
		return;
	}
	sub->stalled = 1;
	if (!evtimer_pending(gap_ev, NULL))
		timer_in(gap_ev, (double)(sub->pushed_ms + FEED_GAP_MS - now) / 1000.0);
}

/* A new entry: to every subscriber that sees it (see feed_catch_up_gap). */
static void
feed_push(const struct feed_entry *e)
{
	struct feed_sub *sub;
	uint64_t now = mono_ms();

	TAILQ_FOREACH(sub, &subs, entry) {
		if (!sub->stalled && !feed_visible(sub->project, e))
			sub->cursor = e->rev;
		else
			feed_catch_up_gap(sub, now);
	}
}

/* Catch up every stalled subscriber (connections drained, a gap over). */
static void
feed_kick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct feed_sub *sub;
	uint64_t now = mono_ms();

	TAILQ_FOREACH(sub, &subs, entry) {
		if (sub->stalled)
			feed_catch_up_gap(sub, now);
	}
}

/* Some stalled subscriber may take more now: catch up after this callback. */
static void
feed_kick(void)
{
	struct feed_sub *sub;

	TAILQ_FOREACH(sub, &subs, entry) {
		if (sub->stalled) {
			event_active(kick_ev, EV_TIMEOUT, 0);
			return;
		}
	}
}

/* A subscriber's output changed: when a stalled one drains, catch it up. */
static void
feed_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct feed_sub *sub = arg;

	if (sub->stalled && info->n_deleted > 0 &&
	    info->orig_size + info->n_added - info->n_deleted < FEED_PUSH_HIGH / 2)
		event_active(kick_ev, EV_TIMEOUT, 0);
}

static struct feed_sub *
feed_sub_of(const struct session *s)
{
	struct feed_sub *sub;

	TAILQ_FOREACH(sub, &subs, entry) {
		if (sub->s == s)
			return (sub);
	}
	return (NULL);
}

/* A subscriber's session ended: its subscription goes with it. */
static void
feed_session_closed(struct session *s)
{
	struct feed_sub *sub;

	if ((sub = feed_sub_of(s)) == NULL)
		return;
	TAILQ_REMOVE(&subs, sub, entry);
	nsubs--;
	if (sub->cbe != NULL && s->client != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(s->client->bev), sub->cbe);
	free(sub->project);
	free(sub);
}

/* ---- the store ---- */

/* Into the commit's group: the new entries, and a batch of pruned rows out. */
static void
feed_store_write(void)
{
	struct feed_entry *e;
	size_t i;

	for (i = feed_after(saved_rev); i < ring_n; i++) {
		e = feed_at(i);
		journal_log(e->rev, e->at_ms, e->data, e->len);
	}
	unsaved_rev = last_rev;
	if (pruned_since >= FEED_PRUNE_BATCH && lost_rev > pruned_saved)
		journal_prune(lost_rev);
}

/* The commit is done: what it wrote is stored; stalled subscribers may go on. */
static void
feed_store_done(void)
{
	saved_rev = unsaved_rev;
	if (pruned_since >= FEED_PRUNE_BATCH && lost_rev > pruned_saved) {
		pruned_saved = lost_rev;
		pruned_since = 0;
	}
	feed_kick();
}

/* Rebuild one entry from its stored row. */
static int
feed_restore_row(uint64_t rev, int64_t at, const void *blob, size_t len)
{
	msgpack_unpacked u;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const msgpack_object *d;
	const char *why;
	char *f[7];
	size_t i;
	static const char *const keys[] = { "project", "agent", "session", "op", "kind", "key",
		"summary" };

	msgpack_unpacked_init(&u);
	if (frame_decode(blob, len, &u, &why) != 0) {
		msgpack_unpacked_destroy(&u);
		return (-1);
	}
	for (i = 0; i < nitems(keys); i++)
		f[i] = mp_get_strdup(&u.data, keys[i]);
	msgpack_sbuffer_init(&sb);
	if ((d = mp_get(&u.data, "data")) != NULL) {
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_object(&pk, *d);
	}
	if (f[0] != NULL && f[1] != NULL && f[3] != NULL && f[4] != NULL && f[5] != NULL &&
	    f[6] != NULL && rev > last_rev)
		feed_append(feed_entry_new(rev, at, f[0], f[1], f[2], f[3], f[4], f[5], f[6],
		    d != NULL ? (unsigned char *)sb.data : NULL, sb.size));
	msgpack_sbuffer_destroy(&sb);
	for (i = 0; i < nitems(keys); i++)
		free(f[i]);
	msgpack_unpacked_destroy(&u);
	return (0);
}

/*
 * Start-up: the entries within the bounds come back from the database
 * (after store_restore); a row that cannot be read is skipped and said.
 */
int
feed_restore(char **cause)
{
	sqlite3 *db = store_db();
	sqlite3_stmt *st;
	size_t bad = 0, n = 0;
	int rc;

	if (db == NULL)
		return (0);
	/* its table, beside the store's schema, is journal_attach's to create */
	if (ring_cap == 0) {
		/* --log-max 0: what is stored goes at the first commit */
		pruned_since = FEED_PRUNE_BATCH;
		lost_rev = revision;
		return (0);
	}
	if (sqlite3_prepare_v2(db, "SELECT rev, at, data FROM log ORDER BY rev", -1, &st,
		NULL) != SQLITE_OK) {
		xasprintf(cause, "reading the log: %s", sqlite3_errmsg(db));
		return (-1);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (feed_restore_row((uint64_t)sqlite3_column_int64(st, 0),
			sqlite3_column_int64(st, 1), sqlite3_column_blob(st, 2),
			(size_t)sqlite3_column_bytes(st, 2)) != 0)
			bad++;
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		xasprintf(cause, "reading the log: %s", sqlite3_errmsg(db));
		return (-1);
	}
	if (bad > 0)
		log_warnx("log: %zu stored entries could not be read; skipped", bad);
	saved_rev = unsaved_rev = last_rev;
	feed_prune_age();
	if (n > ring_n)
		pruned_since =
		    FEED_PRUNE_BATCH; /* rows past the bounds go at the first commit */
	log_info("log: restored %zu entries", ring_n);
	return (0);
}

/* ---- operations ---- */

static void
feed_filter_free(void *arg)
{
	struct feed_filter *f = arg;
	size_t i;

	free(f->project);
	free(f->agent);
	free(f->object);
	for (i = 0; i < f->nkinds; i++)
		free(f->kinds[i]);
	free(f->kinds);
	free(f);
}

/* What a log_list or log_wait asks for. */
static struct feed_filter *
feed_filter_new(struct req *r)
{
	struct feed_filter *f = xcalloc(1, sizeof *f);
	const msgpack_object *k = arg_get(r, "kinds");
	uint32_t i;

	f->project = arg_bool(r, "all_projects") ? NULL : xstrdup(r->s->project);
	f->agent = arg_text(r, "agent");
	f->object = arg_text(r, "object");
	f->limit = (size_t)arg_int(r, "limit");
	if (k != NULL && k->via.array.size > 0) {
		f->kinds = xreallocarray(NULL, k->via.array.size, sizeof *f->kinds);
		for (i = 0; i < k->via.array.size; i++)
			f->kinds[f->nkinds++] = mp_strdup(&k->via.array.ptr[i]);
	}
	return (f);
}

/* Does e pass the filter? */
static int
feed_match(const struct feed_filter *f, const struct feed_entry *e)
{
	size_t i;

	if (!feed_visible(f->project, e))
		return (0);
	if (f->agent != NULL && strcmp(f->agent, e->agent) != 0)
		return (0);
	if (f->object != NULL && strcmp(f->object, e->key) != 0)
		return (0);
	if (f->nkinds == 0)
		return (1);
	for (i = 0; i < f->nkinds; i++) {
		if (strcmp(f->kinds[i], e->kind) == 0)
			return (1);
	}
	return (0);
}

/* The first entry after rev that passes f, from index i on; ring_n when none. */
static size_t
feed_next(const struct feed_filter *f, size_t i)
{
	while (i < ring_n && !feed_match(f, feed_at(i)))
		i++;
	return (i);
}

/*
 * Answer with the entries after `after` that pass f (has_after 0: the
 * newest limit of them): {entries, count, cursor, more, missed, oldest}.
 */
static void
feed_reply(struct client *c, uint64_t id, const struct feed_filter *f, int has_after,
    uint64_t after)
{
	struct fbuf *fb = reply_begin(id);
	size_t i, n = 0, start;
	uint64_t cursor = after;

	if (has_after)
		start = feed_after(after);
	else {
		/* the newest limit entries, oldest first */
		for (start = ring_n; start > 0 && n < f->limit; start--) {
			if (feed_match(f, feed_at(start - 1)))
				n++;
		}
		n = 0;
	}
	pk_map_open(fb);
	pk_str(fb, "entries");
	pk_array_open(fb);
	for (i = feed_next(f, start); i < ring_n && n < f->limit; i = feed_next(f, i + 1)) {
		pk_raw(fb, feed_at(i)->data, feed_at(i)->len);
		cursor = feed_at(i)->rev;
		n++;
	}
	pk_array_close(fb);
	if (i == ring_n && last_rev > cursor)
		cursor = last_rev; /* nothing else passes up to the newest */
	pk_kuint(fb, "count", n);
	pk_kuint(fb, "cursor", cursor);
	pk_kbool(fb, "more", i < ring_n);
	pk_kbool(fb, "missed", has_after && after < lost_rev);
	pk_kuint(fb, "oldest", feed_oldest());
	if (n == 0)
		pk_kstr(fb, "hint",
		    "nothing new: call log_wait with after = cursor to wait for the next "
		    "change");
	pk_map_close(fb);
	reply_end(c, fb);
}

void
op_log_list(struct req *r)
{
	struct feed_filter *f = feed_filter_new(r);

	feed_reply(r->c, r->id, f, arg_has(r, "after"), (uint64_t)arg_int(r, "after"));
	feed_filter_free(f);
}

/* wait.c: answer a log_wait once something after its cursor passes its filter. */
static int
feed_wait_ready(struct bwait *w)
{
	struct feed_filter *f = w->arg;

	if (feed_next(f, feed_after(w->after)) == ring_n) {
		/* nothing up to the newest passes: the next look starts there */
		if (last_rev > w->after && w->after >= lost_rev)
			w->after = last_rev;
		return (0);
	}
	feed_reply(w->s->client, w->req_id, f, 1, w->after);
	return (1);
}

static void
feed_wait_timeout(struct bwait *w)
{
	feed_reply(w->s->client, w->req_id, w->arg, 1, w->after);
}

void
op_log_wait(struct req *r)
{
	struct feed_filter *f = feed_filter_new(r);
	uint64_t after = arg_has(r, "after") ? (uint64_t)arg_int(r, "after") : last_rev;
	struct bwait *w;

	w = wait_add(r, FEED_WAIT_KEY, arg_num(r, "wait_seconds"), feed_wait_ready,
	    feed_wait_timeout, f, after);
	if (w == NULL)
		feed_filter_free(f);
	else
		w->free_arg = feed_filter_free;
}

void
op_log_append(struct req *r)
{
	const msgpack_object *d = arg_get(r, "data");
	msgpack_sbuffer sb;
	msgpack_packer pk;
	unsigned char *data = NULL;
	size_t dlen = 0;
	struct fbuf *fb;
	char *event = arg_strdup(r, "event");

	if (d != NULL) {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		if (msgpack_pack_object(&pk, *d) != 0) {
			msgpack_sbuffer_destroy(&sb);
			free(event);
			reply_error(r->c, r->id, ERR_INVALID, "data", "data cannot be stored");
			return;
		}
		dlen = sb.size;
		data = (unsigned char *)msgpack_sbuffer_release(&sb);
	}
	revision_next();
	feed_add(r->s, "log_append", "log", r->s->project, strlen(r->s->project), event, data,
	    dlen, xstrdup(event));
	feed_flush();
	free(event);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kuint(fb, "revision", last_rev);
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/* One project a subscriber may switch to: its sessions and its newest entry. */
struct feed_project {
	const char *name;
	size_t sessions;
	uint64_t rev;
	UT_hash_handle hh;
};

static struct feed_project *
feed_project_get(struct feed_project **h, const char *name)
{
	struct feed_project *p;

	HASH_FIND_STR(*h, name, p);
	if (p == NULL) {
		p = xcalloc(1, sizeof *p);
		p->name = name;
		HASH_ADD_KEYPTR(hh, *h, p->name, strlen(p->name), p);
	}
	return (p);
}

/* The projects with sessions or retained entries: {project, sessions, revision}. */
static void
feed_pk_projects(struct fbuf *fb)
{
	struct feed_project *h = NULL, *p, *tmp;
	struct session *s;
	size_t i;

	TAILQ_FOREACH(s, &sessions, entry)
		feed_project_get(&h, s->project)->sessions++;
	for (i = 0; i < ring_n; i++)
		feed_project_get(&h, feed_at(i)->project)->rev = feed_at(i)->rev;
	pk_array_open(fb);
	HASH_ITER(hh, h, p, tmp) {
		pk_map_open(fb);
		pk_kstr(fb, "project", p->name);
		pk_kuint(fb, "sessions", p->sessions);
		pk_kuint(fb, "revision", p->rev);
		pk_map_close(fb);
		HASH_DEL(h, p);
		free(p);
	}
	pk_array_close(fb);
}

void
op_log_subscribe(struct req *r)
{
	struct feed_sub *sub = feed_sub_of(r->s);
	uint64_t after = arg_has(r, "after") ? (uint64_t)arg_int(r, "after") : last_rev;
	struct fbuf *fb;
	int missed = after < lost_rev;

	if (sub == NULL && nsubs == FEED_SUBS_MAX) {
		reply_error(r->c, r->id, ERR_LIMIT, NULL,
		    "%d sessions are subscribed already, the limit; close one", FEED_SUBS_MAX);
		return;
	}
	if (sub == NULL) {
		sub = xcalloc(1, sizeof *sub);
		sub->s = r->s;
		sub->cbe = evbuffer_add_cb(bufferevent_get_output(r->c->bev), feed_out_cb, sub);
		TAILQ_INSERT_TAIL(&subs, sub, entry);
		nsubs++;
	}
	free(sub->project);
	sub->project = arg_bool(r, "all_projects") ? NULL : xstrdup(r->s->project);
	/* entries lost before it came are said in the reply, not by a resync */
	sub->cursor = missed ? lost_rev : after;
	sub->resync = 0;
	sub->stalled = 1;
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kbool(fb, "subscribed", 1);
	pk_kuint(fb, "revision", last_rev);
	pk_kuint(fb, "oldest", feed_oldest());
	pk_kbool(fb, "missed", missed);
	pk_str(fb, "projects");
	feed_pk_projects(fb);
	pk_kstr(fb, "hint",
	    missed ? "entries after your revision were dropped: reload the state; the retained "
		     "ones follow as pushes"
		   : "changes follow as push frames {kind: log, e: entry}; a push {kind: "
		     "resync} means reload the state");
	pk_map_close(fb);
	reply_end(r->c, fb);
	feed_catch_up(sub);
}

/* ---- start-up ---- */

static const struct store_writer feed_writer = {
	.write = feed_store_write,
	.done = feed_store_done,
};

/*
 * The ring, its timers, the store hooks; a subscription ends with its
 * session (register first: nothing is pushed to a session that closes).
 */
void
feed_init(void)
{
	ring_cap = feed_max;
	ring = ring_cap > 0 ? xcalloc(ring_cap, sizeof *ring) : NULL;
	age_ev = timer_new(feed_age_cb, NULL);
	gap_ev = timer_new(feed_kick_cb, NULL);
	if ((kick_ev = event_new(base, -1, 0, feed_kick_cb, NULL)) == NULL ||
	    (flush_ev = event_new(base, -1, 0, feed_flush_cb, NULL)) == NULL)
		fatalx("cannot create the feed event");
	session_on_close(feed_session_closed);
	store_on_flush(&feed_writer);
}

/* Memory held by the retained entries, and how many (status, tests). */
size_t
feed_bytes(size_t *n)
{
	if (n != NULL)
		*n = ring_n;
	return (ring_bytes + ring_cap * sizeof *ring);
}
