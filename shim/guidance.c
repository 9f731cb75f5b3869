/*
 * The role guidance the shim shows, in one place: the instructions of
 * the MCP server (its initialize answer), the role prompts it offers
 * (their text is the guide operation's, from the broker), and the block
 * `baton init` writes into CLAUDE.md and AGENTS.md.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* The role prompts (DESIGN §5.5): prompts/get asks the guide operation for the live text. */
const struct guidance_prompt guidance_prompts[] = {
	{ "planner", "Plan the project: gather context, write the plan, create tasks, review" },
	{ "implementer", "Implement: claim a task, do it, submit it, loop until complete" },
	{ "reviewer", "Review submitted tasks: approve or request changes" },
};
const size_t guidance_nprompts = nitems(guidance_prompts);

/* Append a numbered rule to the instructions. */
static void printflike(3, 4)
guidance_rule(char **s, int *n, const char *fmt, ...)
{
	char *rule, *t;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&rule, fmt, ap);
	va_end(ap);
	xasprintf(&t, "%s%d. %s\n", *s, ++*n, rule);
	free(rule);
	free(*s);
	*s = t;
}

/*
 * The MCP server's instructions for agent (NULL: not named yet),
 * malloc'd: how to use baton, key rules first (Claude Code keeps only
 * the first 2048 characters).  The blocking operations are listed from
 * the table.
 */
char *
guidance_instructions(const char *agent)
{
	char *s, *waits = NULL, *t;
	size_t i;
	int n = 0;

	for (i = 0; i < OP_COUNT; i++) {
		if (!(ops[i].flags & OP_BLOCKS))
			continue;
		xasprintf(&t, "%s%s%s", waits != NULL ? waits : "", waits != NULL ? ", " : "",
		    ops[i].name);
		free(waits);
		waits = t;
	}
	s = xstrdup("baton coordinates the agents and scripts working in this "
	    "repository. Key rules:\n");
	guidance_rule(&s, &n, "Call agent_join with your role (planner, implementer or "
	    "reviewer) first: it tells you what to do next in that role.");
	guidance_rule(&s, &n, "Before editing a file others may edit, call lock_acquire "
	    "{name: \"file:PATH\"} (PATH relative to the project root); before a "
	    "shared command (npm install, migrations, the test database) take a lock "
	    "named after it (\"npm\", \"db\").");
	guidance_rule(&s, &n, "Keep the token lock_acquire returns and call lock_release "
	    "{name, token} as soon as you are done. Locks taken without ttl_seconds "
	    "are released when your session ends.");
	guidance_rule(&s, &n, "Never poll: %s take wait_seconds and return as soon as "
	    "something happens. acquired:false means someone holds the lock (see "
	    "holders): wait in line with wait_seconds; a wait that times out returns "
	    "a ticket that keeps your place.", waits != NULL ? waits : "lock_acquire");
	guidance_rule(&s, &n, "lock_list shows who works where; status shows your session.");
	guidance_rule(&s, &n, "Ask and answer other agents with message_send; read "
	    "yours with message_inbox.");
	guidance_rule(&s, &n, "Work from the plan: task_claim, then task_submit when "
	    "done.");
	if (agent != NULL) {
		xasprintf(&t, "%sYou are known to the others as %s.\n", s, agent);
		free(s);
		s = t;
	}
	xasprintf(&t, "%sResults carry a hint field when you have something to do next.", s);
	free(s);
	free(waits);
	return (t);
}

/*
 * The coordination instructions `baton init` writes into CLAUDE.md and
 * AGENTS.md (between its markers), malloc'd.
 */
char *
guidance_init_block(void)
{
	return (xstrdup("## Working alongside other agents (baton)\n"
	    "\n"
	    "Other agents work in this repository at the same time. Coordinate through the\n"
	    "tools of the `baton` MCP server (from a shell: `baton call TOOL '{...}'`):\n"
	    "\n"
	    "- Start with `agent_join` and your role (planner, implementer, "
	    "reviewer); it says what to do next.\n"
	    "- Before editing a file, reserve it: `lock_acquire` "
	    "`{\"name\": \"file:PATH\"}` (PATH from the repository root; `file:DIR/` "
	    "covers a directory). Keep the `token` it returns.\n"
	    "- Before a shared command (`npm install`, migrations, the test database), "
	    "lock it by name: `lock_acquire` `{\"name\": \"npm\"}`; in a shell, "
	    "`baton lock npm -- npm ci`.\n"
	    "- `acquired: false` means someone else holds it (see `holders`): call again "
	    "with `wait_seconds` (e.g. 30) to wait in line. Do not poll, and do not edit "
	    "anyway.\n"
	    "- Take work with `task_claim` (it can wait for a task with "
	    "`wait_seconds`) and hand it in with `task_submit`.\n"
	    "- To wait for messages, call `message_inbox` with `wait_seconds` "
	    "instead of polling.\n"
	    "- Release with `lock_release` (`name`, `token`) as soon as you are done; "
	    "`lock_list` shows who works where.\n"));
}
