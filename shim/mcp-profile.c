/*
 * Which tools `baton mcp` offers: a profile (`--tools`, BATON_TOOLS).
 * Every tool in tools/list costs the agent tokens on every turn, so an
 * agent that only implements gets the ten-odd tools it needs.  A call
 * of a tool outside the profile is refused, naming the profile.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* A profile: a name, what it is for, its tools (NULL: every agent tool). */
struct mcp_profile {
	const char *name;
	const char *desc;
	const char *const *tools;
};

static const char *const profile_core[] = { "agent_join", "lock_acquire", "lock_release",
	"lock_list", "task_claim", "task_submit", "task_release", "message_inbox",
	"message_send", "discussion_start", "discussion_reply", "discussion_get", NULL };
static const char *const profile_planner[] = { "agent_join", "agent_list", "project_set",
	"project_get", "task_create", "task_update", "task_list", "task_get", "task_approve",
	"message_inbox", "message_send", "discussion_start", "discussion_reply",
	"discussion_resolve", "discussion_list", "discussion_get", "guide", "worktree_create",
	"worktree_status", "worktree_merge", "worktree_list", "worktree_cleanup",
	"launch_implementer", "implementer_list", NULL };
static const char *const profile_reviewer[] = { "agent_join", "task_list", "task_get",
	"task_approve", "task_request_changes", "lock_list", "message_inbox", "message_send",
	"discussion_start", "discussion_reply", "discussion_resolve", "discussion_get", NULL };

static const char *const profile_queues[] = { "queue_push", "queue_claim", "queue_finish",
	"queue_list", NULL };

/* Run by baton mcp itself (git, tmux): the planner's, and opt-in beside full. */
static const char *const profile_worktrees[] = { "worktree_create", "worktree_status",
	"worktree_merge", "worktree_list", "worktree_cleanup", "launch_implementer",
	"implementer_list", NULL };

static const struct mcp_profile mcp_profiles[] = {
	{ "full",
	    "every tool agents may call (but the queues and worktrees, named or by their "
	    "profile)",
	    NULL },
	{ "core", "an implementer: join, locks, claim and submit, mail, discussions",
	    profile_core },
	{ "planner", "a planner: the project, tasks, mail, discussions, worktrees, launches",
	    profile_planner },
	{ "reviewer", "a reviewer: tasks in review, mail, discussions", profile_reviewer },
	{ "queues", "work queues, to add to another profile (full,queues)", profile_queues },
	{ "worktrees", "git worktrees and launched agents, to add to another (full,worktrees)",
	    profile_worktrees },
};

/* Offer one tool by name; -1 when no agent tool has that name. */
static int
mcp_profile_add(unsigned char *offer, const char *name, size_t len)
{
	const struct op *op = op_find(name, len);

	if (op == NULL || (op->flags & OP_ADMIN))
		return (-1);
	offer[op - ops] = 1;
	return (0);
}

/* Offer what one word of the list names: a profile, else a tool. */
static int
mcp_profile_word(unsigned char *offer, const char *w, size_t len)
{
	const struct mcp_profile *p;
	size_t i, k;

	for (i = 0; i < nitems(mcp_profiles); i++) {
		p = &mcp_profiles[i];
		if (strlen(p->name) != len || memcmp(p->name, w, len) != 0)
			continue;
		for (k = 0; k < OP_COUNT; k++) {
			if (p->tools == NULL && !(ops[k].flags & (OP_ADMIN | OP_OPTIN)))
				offer[k] = 1;
		}
		for (k = 0; p->tools != NULL && p->tools[k] != NULL; k++) {
			if (mcp_profile_add(offer, p->tools[k], strlen(p->tools[k])) != 0)
				fatalx("mcp-profile.c: %s names no agent tool %s", p->name,
				    p->tools[k]);
		}
		return (0);
	}
	return (mcp_profile_add(offer, w, len));
}

/*
 * Parse a profile: "core", "full", a comma-separated list of profiles
 * and tool names, or NULL/"" for full.  Fills offer (one byte per
 * operation) and m->profile; -1 with *cause (allocated) on a bad word.
 */
int
mcp_profile_parse(struct mcp *m, const char *spec, char **cause)
{
	const char *w, *comma;
	size_t len;

	memset(m->offer, 0, sizeof m->offer);
	if (spec == NULL || *spec == '\0')
		spec = "full";
	for (w = spec; w != NULL; w = comma != NULL ? comma + 1 : NULL) {
		comma = strchr(w, ',');
		len = comma != NULL ? (size_t)(comma - w) : strlen(w);
		if (len == 0)
			continue;
		if (mcp_profile_word(m->offer, w, len) != 0) {
			xasprintf(cause,
			    "unknown profile or tool '%.*s' in --tools/BATON_TOOLS: give "
			    "core, planner, reviewer, full, queues, worktrees or tool names "
			    "separated by "
			    "commas "
			    "(baton help mcp lists them)",
			    (int)(len > 64 ? 64 : len), w);
			return (-1);
		}
	}
	free(m->profile);
	m->profile = xstrdup(spec);
	return (0);
}

/* Does this server offer op as a tool? */
int
mcp_offered(const struct mcp *m, const struct op *op)
{
	return (!(op->flags & OP_ADMIN) && m->offer[op - ops]);
}

/* The profiles, one per line, for help. */
void
mcp_profile_help(FILE *fp)
{
	size_t i, k;

	for (i = 0; i < nitems(mcp_profiles); i++) {
		fprintf(fp, "  %-9s %s", mcp_profiles[i].name, mcp_profiles[i].desc);
		if (mcp_profiles[i].tools != NULL) {
			fputs(":", fp);
			for (k = 0; mcp_profiles[i].tools[k] != NULL; k++)
				fprintf(fp, " %s", mcp_profiles[i].tools[k]);
		}
		fputs("\n", fp);
	}
}
