/*
 * The live role guidance (DESIGN §5.5): what to do next in a role, from
 * the state of the session's project.  The advice is common/guide.c's;
 * this file states the facts (counts, ids, what one holds, who else is
 * here) and picks the steps that apply, so agent_join's hint and
 * next_steps, the guide operation and the MCP prompts all say the same.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

#define GUIDE_IDS_MAX 10  /* task ids named in one line */
#define GUIDE_NAMES_MAX 5 /* other agents named in agent_join's hint */

/* Append a formatted line to a growing text. */
static void printflike(2, 3) guide_add(char **text, const char *fmt, ...)
{
	char *line, *joined;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&line, fmt, ap);
	va_end(ap);
	xasprintf(&joined, "%s%s\n", *text != NULL ? *text : "", line);
	free(*text);
	free(line);
	*text = joined;
}

/* Up to GUIDE_IDS_MAX ids of p's tasks in status st, comma-separated, in buf. */
static const char *
guide_ids(const struct project *p, enum task_status st, char *buf, size_t len)
{
	size_t i, n = 0, off = 0;

	buf[0] = '\0';
	for (i = 0; i < p->ntasks && off < len; i++) {
		if (p->tasks[i] == NULL || p->tasks[i]->status != st)
			continue;
		if (n++ == GUIDE_IDS_MAX) {
			snprintf(buf + off, len - off, ", ...");
			break;
		}
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off > 0 ? ", " : "",
		    p->tasks[i]->id);
	}
	return (buf);
}

/* Where p stands for the planner (one stage), and what the others need. */
static unsigned
guide_state(const struct project *p, const struct task_counts *c, struct session *s)
{
	unsigned state;
	size_t i;

	if (p->fields[PF_DESCRIPTION] == NULL && p->fields[PF_END_STATE] == NULL)
		state = GUIDE_NO_CONTEXT;
	else if (p->fields[PF_PLAN] == NULL)
		state = GUIDE_NO_PLAN;
	else if (p->ntasks == 0)
		state = GUIDE_NO_TASKS;
	else
		state = GUIDE_WORKING;
	if (c->n[TS_REVIEW] > 0)
		state |= GUIDE_IN_REVIEW;
	if (c->n[TS_BLOCKED] > 0)
		state |= GUIDE_BLOCKED;
	state |= task_all_done(p, c) ? GUIDE_ALL_DONE : GUIDE_NOT_DONE;
	for (i = 0; i < p->ntasks; i++) {
		if (p->tasks[i] != NULL && p->tasks[i]->claim_s == s &&
		    p->tasks[i]->status == TS_IN_PROGRESS)
			state |= GUIDE_HOLDS;
	}
	return (state);
}

/* The facts a role's steps rest on. */
static void
guide_facts(char **text, const struct guide_role *g, const struct project *p,
    const struct task_counts *c, struct session *s, unsigned state)
{
	char ids[128];
	size_t i;

	if (strcmp(g->name, "planner") == 0 && (state & GUIDE_WORKING)) {
		guide_add(text,
		    "Tasks: %zu todo (%zu ready), %zu in progress, %zu in review, "
		    "%zu done, %zu blocked.",
		    c->n[TS_TODO], c->ready, c->n[TS_IN_PROGRESS], c->n[TS_REVIEW],
		    c->n[TS_DONE], c->n[TS_BLOCKED]);
		if (state & GUIDE_IN_REVIEW)
			guide_add(text, "In review: %s.",
			    guide_ids(p, TS_REVIEW, ids, sizeof ids));
		if (state & GUIDE_BLOCKED)
			guide_add(text, "Blocked: %s.",
			    guide_ids(p, TS_BLOCKED, ids, sizeof ids));
	} else if (strcmp(g->name, "implementer") == 0) {
		for (i = 0; i < p->ntasks; i++) {
			if (p->tasks[i] != NULL && p->tasks[i]->claim_s == s &&
			    p->tasks[i]->status == TS_IN_PROGRESS)
				guide_add(text, "You hold %s (%s).", p->tasks[i]->id,
				    p->tasks[i]->title);
		}
		guide_add(text, "%zu task%s ready now.", c->ready,
		    c->ready == 1 ? " is" : "s are");
	} else if (strcmp(g->name, "reviewer") == 0) {
		if (state & GUIDE_IN_REVIEW)
			guide_add(text, "%zu task%s wait%s for review: %s.", c->n[TS_REVIEW],
			    c->n[TS_REVIEW] == 1 ? "" : "s", c->n[TS_REVIEW] == 1 ? "s" : "",
			    guide_ids(p, TS_REVIEW, ids, sizeof ids));
		else
			guide_add(text, "No task waits for review now.");
	}
}

/* What to do next in role, from the live state of s's project; malloc'd text. */
char *
guide_next_steps(struct session *s, const char *role)
{
	struct project *p = project_ensure(s->project);
	const struct guide_role *g = guide_role(role);
	const struct guide_step *st;
	struct task_counts c;
	char *text = NULL;
	unsigned state;

	if (p->status == PS_COMPLETE || p->status == PS_STOPPED) {
		guide_add(&text, "The project is %s. %s", project_status_names[p->status],
		    guide_over);
		text[strlen(text) - 1] = '\0';
		return (text);
	}
	task_counts(p, &c);
	state = guide_state(p, &c, s);
	guide_facts(&text, g, p, &c, s, state);
	for (st = g->steps; st->text != NULL; st++) {
		if (guide_step_applies(st, state))
			guide_add(&text, "%s", st->text);
	}
	text[strlen(text) - 1] = '\0'; /* every line ends in a newline; not the text */
	return (text);
}

/* Who else agent_join's hint names. */
struct guide_others {
	const char *self;
	char names[256];
	size_t n;
};

static void
guide_others_add(const char *agent, const char *role, void *arg)
{
	struct guide_others *h = arg;
	size_t len = strlen(h->names);

	if (strcmp(agent, h->self) == 0 || strstr(h->names, agent) != NULL)
		return;
	if (h->n++ < GUIDE_NAMES_MAX && len < sizeof h->names - 1)
		snprintf(h->names + len, sizeof h->names - len, "%s%s%s%s%s",
		    len > 0 ? ", " : "", agent, role != NULL ? " (" : "",
		    role != NULL ? role : "", role != NULL ? ")" : "");
}

/*
 * agent_join's hint: the mail waiting, who else is here, and the role in
 * a sentence; next_steps (guide_next_steps) says what to do now.  jc:
 * what a shared project counted in etcd (NULL: this broker's).
 * Malloc'd text.
 */
char *
guide_join_hint(struct session *s, const struct join_counts *jc)
{
	struct guide_others h;
	size_t unread, waiting, i;
	char *text;

	memset(&h, 0, sizeof h);
	h.self = s->agent;
	if (jc != NULL) {
		unread = jc->unread;
		waiting = jc->waiting;
		for (i = 0; i < jc->n; i++)
			guide_others_add(jc->agents[i], jc->roles[i], &h);
	} else {
		unread = msg_unread(s);
		waiting = msg_waiting_on(s);
		presence_foreach(s->project, guide_others_add, &h);
	}
	xasprintf(&text,
	    "%s%zu unread message%s, %zu discussion%s waiting on you%s. "
	    "%zu other agent%s present%s%s%s. %s",
	    unread + waiting > 0 ? "First read your inbox: " : "", unread,
	    unread == 1 ? "" : "s", waiting, waiting == 1 ? "" : "s",
	    unread + waiting > 0 ? " (message_inbox)" : "", h.n, h.n == 1 ? "" : "s",
	    h.n > 0 ? ": " : "", h.names, h.n > GUIDE_NAMES_MAX ? ", ..." : "",
	    guide_role(s->role)->summary);
	return (text);
}

void
op_guide(struct req *r)
{
	struct fbuf *fb;
	const char *role = r->s->role;
	char *text, *arg = arg_text(r, "role");

	if (arg != NULL)
		role = arg;
	text = guide_next_steps(r->s, role);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kstr(fb, "role", role != NULL ? role : "none");
	pk_kstr(fb, "project_status",
	    project_status_names[project_ensure(r->s->project)->status]);
	pk_kstr(fb, "next_steps", text);
	pk_map_close(fb);
	reply_end(r->c, fb);
	free(text);
	free(arg);
}
