/*
 * A discussion as the wire shows it (DESIGN 5.4): its id, its summary
 * in lists, its whole thread; and the record's own upkeep.  discuss.c
 * (this broker's discussions) and shared-disc.c (a shared project's, in
 * etcd) answer with the same fields through these, from struct disc
 * (msg.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

/* The number of a discussion id ("D3", "d3" or "3") of n bytes; 0 when it is none. */
unsigned
disc_num(const char *s, size_t n)
{
	unsigned long num = 0;
	size_t i;

	i = n > 0 && (s[0] == 'D' || s[0] == 'd') ? 1 : 0;
	for (; i < n && num < 1000000000UL; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (0);
		num = num * 10 + (unsigned long)(s[i] - '0');
	}
	return ((unsigned)num);
}

/* Free what d holds (and d, with all). */
void
disc_free(struct disc *d, int all)
{
	size_t i;

	for (i = 0; i < d->nreplies && d->replies != NULL; i++) {
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
	if (all)
		free(d);
	else
		memset(d, 0, sizeof *d);
}

/* Add a message to d's thread, from who, waiting on waiting_on (NULL: nobody). */
void
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

/* Why d, resolved, cannot be changed (doing: "replied to"...), in buf. */
void
disc_closed_why(char *buf, size_t size, const struct disc *d, const char *doing)
{
	snprintf(buf, size,
	    "D%u is resolved (by %s: %.120s%s); it cannot be %s: start a new discussion to "
	    "reopen the topic",
	    d->num, d->decided_by != NULL ? d->decided_by : "?",
	    d->decision != NULL ? d->decision : "",
	    d->decision != NULL && strlen(d->decision) > 120 ? "..." : "", doing);
}

/* Open d's map with the fields lists and discussion_get share. */
static void
disc_pk_head(struct fbuf *fb, const struct disc *d)
{
	char id[16];

	snprintf(id, sizeof id, "D%u", d->num);
	pk_map_open(fb);
	pk_kstr(fb, "id", id);
	pk_kstr(fb, "topic", d->topic);
	pk_kstr(fb, "status", d->resolved ? "resolved" : "open");
	pk_kstr_opt(fb, "waiting_on", d->waiting_on);
	pk_kstr_opt(fb, "category", d->category);
	pk_kstr(fb, "priority", d->priority);
	pk_kstr(fb, "started_by", d->started_by);
}

/* A discussion in a few fields, for lists. */
void
disc_pack_summary(struct fbuf *fb, const struct disc *d)
{
	char at[TIME_ISO_LEN];

	disc_pk_head(fb, d);
	pk_kuint(fb, "replies", d->nreplies);
	pk_kstr(fb, "updated_at", time_iso(d->updated_ms, at, sizeof at));
	if (d->resolved)
		pk_kstr(fb, "decision", d->decision);
	pk_map_close(fb);
}

/* The thread of d: every message with who, when and who it waited on. */
static void
disc_pk_replies(struct fbuf *fb, const struct disc *d)
{
	const struct dreply *e;
	char at[TIME_ISO_LEN];
	size_t i;

	pk_str(fb, "replies");
	pk_array(fb, d->nreplies);
	for (i = 0; i < d->nreplies; i++) {
		e = &d->replies[i];
		pk_map_open(fb);
		pk_kstr(fb, "who", e->who);
		pk_kstr(fb, "at", time_iso(e->at_ms, at, sizeof at));
		pk_kstr(fb, "text", e->text);
		pk_kstr_opt(fb, "waiting_on", e->waiting_on);
		pk_map_close(fb);
	}
}

/* discussion_get's answer: d whole. */
void
disc_pack(struct fbuf *fb, const struct disc *d)
{
	char at[TIME_ISO_LEN];

	disc_pk_head(fb, d);
	pk_kstr(fb, "started_at", time_iso(d->started_ms, at, sizeof at));
	disc_pk_replies(fb, d);
	if (d->resolved) {
		pk_str(fb, "resolution");
		pk_map_open(fb);
		pk_kstr(fb, "decision", d->decision);
		pk_kstr_opt(fb, "reasoning", d->reasoning);
		pk_kstr(fb, "decided_by", d->decided_by);
		pk_kstr_opt(fb, "linked_task", d->linked_task);
		pk_kstr(fb, "at", time_iso(d->resolved_ms, at, sizeof at));
		pk_map_close(fb);
	} else
		pk_kstr(fb, "hint",
		    "reply with discussion_reply; resolve with "
		    "discussion_resolve (needs the token from discussion_start or the "
		    "session that started it)");
	pk_map_close(fb);
}
