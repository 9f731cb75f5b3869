/*
 * The guidance baton gives agents, written once (DESIGN §5.5, §6).
 *
 * Two kinds of text live here.  The general rules: the MCP server's
 * instructions (guide_rules(GUIDE_TEXT)) and the block `baton init`
 * writes into CLAUDE.md and AGENTS.md (GUIDE_MARKDOWN), one list of
 * rules rendered twice.  And what each role does: a title (the MCP
 * prompt), a summary (agent_join's hint) and its steps, each step with
 * the state in which it applies.  The broker (broker/guide.c) states the
 * live facts and picks the steps that apply; it writes no advice of its
 * own, so whatever an agent reads says the same thing.
 *
 * In the rules, `code` marks names; the text rendering drops the marks.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define GUIDE_ROLES_TEXT "planner, implementer or reviewer"

/* How every role ends, and how the user turns baton off: one text for all. */
#define GUIDE_STOP \
	"Stop when the project is complete or stopped (task_claim says so in " \
	"project_status). If the user asks you to stop using baton, stop calling its tools " \
	"(they turn it off with baton disable)."

static const struct guide_step guide_planner_steps[] = {
	{ GUIDE_NO_CONTEXT,
	    "1. The project has no context yet. Ask the user what to build: "
	    "the goal, what done looks like, tech stack, constraints, acceptance criteria "
	    "and how to test. Record it with project_set {description, end_state, "
	    "tech_stack, constraints, acceptance, tests}." },
	{ GUIDE_NO_CONTEXT,
	    "2. Then write the implementation plan: project_set {plan, "
	    "status:\"ready\"}." },
	{ GUIDE_NO_CONTEXT, "3. Then create the tasks with task_create." },
	{ GUIDE_NO_PLAN,
	    "1. Context is recorded. Write the implementation plan and save "
	    "it: project_set {plan, status:\"ready\"}." },
	{ GUIDE_NO_PLAN, "2. Then create the tasks with task_create." },
	{ GUIDE_NO_TASKS,
	    "1. The plan is recorded. Break it into tasks an agent can finish "
	    "alone: task_create {title, description (with acceptance), complexity, "
	    "priority, files (what it changes: its claim reserves them), depends_on}." },
	{ GUIDE_NO_TASKS,
	    "2. Implementers take them with task_claim; the first claim "
	    "moves the project to in_progress." },
	{ GUIDE_WORKING,
	    "Follow the work without polling: message_inbox {after: cursor, wait_seconds: "
	    "50} wakes you for questions, for submitted tasks when no reviewer is "
	    "present, and when the last task is done." },
	{ GUIDE_WORKING | GUIDE_IN_REVIEW,
	    "- Tasks wait for review: a reviewer takes them; with none present, review "
	    "them: task_claim {review: true}, then task_approve {id} or "
	    "task_request_changes {id, feedback}." },
	{ GUIDE_WORKING | GUIDE_BLOCKED,
	    "- Resolve the blocked tasks and task_update "
	    "{status:\"todo\"}, or cancel them." },
	{ GUIDE_WORKING | GUIDE_ALL_DONE,
	    "- Every task is done: check the acceptance "
	    "criteria, then project_set {status:\"complete\"}; that releases the "
	    "implementers." },
	{ GUIDE_WORKING | GUIDE_NOT_DONE,
	    "- When every task is done you are told; then project_set "
	    "{status:\"complete\"} releases the implementers waiting in task_claim." },
	{ 0, GUIDE_STOP }, { 0, NULL }
};

static const struct guide_step guide_implementer_steps[] = {
	{ GUIDE_HOLDS, "Finish what you hold first: task_submit {id, notes} when it is done." },
	{ 0, "Loop:" },
	{ 0,
	    "1. task_claim {wait_seconds: 50}: waits until a task is ready and reserves its "
	    "files for you; no polling. claimed:false: call it again." },
	{ 0,
	    "2. Read the task (description, files, feedback) and work in its files. Any "
	    "other shared file: lock_acquire {name:\"file:PATH\"} first." },
	{ 0, "3. Do the work and run the tests." },
	{ 0,
	    "4. task_submit {id, notes: what you did and how you tested it}: its files are "
	    "released and the reviewer is told. If you cannot finish: task_release {id, "
	    "reason}." },
	{ 0,
	    "5. Back to 1. Requested changes come back through task_claim with the "
	    "reviewer's feedback." },
	{ 0, GUIDE_STOP }, { 0, NULL }
};

static const struct guide_step guide_reviewer_steps[] = { { 0, "Loop:" },
	{ 0,
	    "1. task_claim {review: true, wait_seconds: 50}: waits until a task is "
	    "submitted and makes its review yours (one reviewer per task); no polling." },
	{ 0,
	    "2. Read its notes and history (task_get), check it against the description and "
	    "the acceptance criteria (project_get), run the tests." },
	{ 0,
	    "3. task_approve {id}, or task_request_changes {id, feedback} saying exactly "
	    "what to fix. Nobody reviews their own task." },
	{ 0, "4. Back to 1." }, { 0, GUIDE_STOP }, { 0, NULL } };

static const struct guide_step guide_none_steps[] = {
	{ 0,
	    "Join with a role (agent_join {role: " GUIDE_ROLES_TEXT "}) to get its next "
	    "steps; guide {role} shows them for any role." },
	{ 0, NULL }
};

/* The roles, in the order the MCP prompts list them. */
const struct guide_role guide_roles[] = {
	{ "planner", "Plan the project: gather context, write the plan, create tasks, review",
	    "As planner: record the project's context and plan (project_set), split the "
	    "work into tasks with their files and dependencies (task_create), see that they "
	    "are reviewed, and set the project complete at the end.",
	    guide_planner_steps },
	{ "implementer", "Implement: claim a task, do it, submit it, loop until complete",
	    "As implementer: take tasks with task_claim (it waits for one and reserves its "
	    "files for you), work in those files, hand each in with task_submit, and loop "
	    "until the project is complete.",
	    guide_implementer_steps },
	{ "reviewer", "Review submitted tasks: approve or request changes",
	    "As reviewer: take each submitted task with task_claim {review: true} (it waits "
	    "for one), check it against the acceptance criteria, then task_approve it or "
	    "task_request_changes with feedback.",
	    guide_reviewer_steps },
	{ NULL, NULL, NULL, NULL }
};

/* A session without one of the roles. */
const struct guide_role guide_no_role = { "none", "Work without a role",
	"Read mail with message_inbox (wait_seconds to wait), write with message_send, "
	"and lock_acquire before touching shared things; a role gives next steps.",
	guide_none_steps };

/* For every role once the project is complete or stopped. */
const char guide_over[] = "There is nothing more to do; project_get shows its context.";

/* The guidance of role name, or NULL when baton has none for it. */
const struct guide_role *
guide_role_find(const char *name)
{
	const struct guide_role *g;

	for (g = guide_roles; name != NULL && g->name != NULL; g++) {
		if (strcmp(g->name, name) == 0)
			return (g);
	}
	return (NULL);
}

/* The guidance of a session in role name: guide_no_role for NULL or another role. */
const struct guide_role *
guide_role(const char *name)
{
	const struct guide_role *g = guide_role_find(name);

	return (g != NULL ? g : &guide_no_role);
}

/* Does a step of a role apply in state (GUIDE_* bits)? */
int
guide_step_applies(const struct guide_step *st, unsigned state)
{
	return ((st->when & state) == st->when);
}

/*
 * The general rules, most important first (Claude Code keeps only the
 * first 2048 characters of the instructions).  "%W" stands for the
 * operations that wait, from the table.
 */
static const char *const guide_rule_texts[] = {
	"Call `agent_join` with your role (" GUIDE_ROLES_TEXT ") first: it says what to "
	"do next in that role.",
	"Before editing a file others may edit, reserve it: `lock_acquire` "
	"`{\"name\": \"file:PATH\"}` (PATH from the repository root; `file:DIR/` covers a "
	"directory); `task_claim` does it for the files of your task. Before a shared "
	"command (`npm install`, migrations, the test database), lock it by name "
	"(`\"npm\"`, `\"db\"`); in a shell, `baton lock npm -- npm ci`.",
	"Keep the `token` `lock_acquire` returns: `lock_release` `{token}` frees every name "
	"of that grant as soon as you are done. Locks taken without `ttl_seconds` are "
	"released when your session ends; asking again for a lock you hold returns it.",
	"Never poll: %W take `wait_seconds` and return as soon as something happens. "
	"`acquired: false` means someone else holds the lock (see `holders`): wait in "
	"line with `wait_seconds`, and do not edit anyway; a wait that times out returns "
	"a `ticket` that keeps your place.",
	"Take work with `task_claim` (it waits for a task and reserves its files) and hand "
	"it in with `task_submit`; reviewers take reviews with `task_claim` "
	"`{\"review\": true}`. Nobody reviews their own task.",
	"Ask and answer other agents with `message_send`; read yours with `message_inbox`.",
	"`lock_list` shows who works where; `status` shows your session. Results carry a "
	"`hint` field when you have something to do next.",
	"Stop when `task_claim` says the project is complete or stopped. If the user asks "
	"you to stop using baton, stop calling its tools (`baton disable` turns it off).",
};

/* Append n bytes of s to the growing text t (length *len). */
static void
guide_cat(char **t, size_t *len, const char *s, size_t n)
{
	*t = xreallocarray(*t, *len + n + 1, 1);
	memcpy(*t + *len, s, n);
	*len += n;
	(*t)[*len] = '\0';
}

static void
guide_cats(char **t, size_t *len, const char *s)
{
	guide_cat(t, len, s, strlen(s));
}

/* Append one rule, rendered: code marks kept in markdown, dropped in text. */
static void
guide_cat_rule(char **t, size_t *len, const char *rule, enum guide_format fmt)
{
	const char *p;
	size_t i;

	for (p = rule; *p != '\0'; p++) {
		if (*p == '`' && fmt == GUIDE_TEXT)
			continue;
		if (p[0] != '%' || p[1] != 'W') {
			guide_cat(t, len, p, 1);
			continue;
		}
		/* the operations that wait, each a name of its own (agents' tools only) */
		for (i = 0; i < OP_COUNT; i++) {
			if (!(ops[i].flags & OP_BLOCKS) || (ops[i].flags & OP_ADMIN))
				continue;
			if (*len > 0 && (*t)[*len - 1] != ' ')
				guide_cats(t, len, ", ");
			if (fmt == GUIDE_MARKDOWN)
				guide_cats(t, len, "`");
			guide_cats(t, len, ops[i].name);
			if (fmt == GUIDE_MARKDOWN)
				guide_cats(t, len, "`");
		}
		p++;
	}
}

/*
 * The general rules as the MCP instructions (GUIDE_TEXT; agent, when
 * not NULL, is the name the others know the reader by) or as the
 * markdown block of `baton init`, without its markers.  Malloc'd.
 */
char *
guide_rules(enum guide_format fmt, const char *agent)
{
	char *t = NULL, num[16];
	size_t len = 0, i;
	const char *head;

	if (fmt == GUIDE_MARKDOWN)
		head = "## Working alongside other agents (baton)\n\n"
		       "Other agents work in this repository at the same time. Coordinate "
		       "through the\n"
		       "tools of the `baton` MCP server. From a shell, `baton call TOOL "
		       "'{...}'` runs one tool,\n"
		       "but a lock taken that way is released as soon as the command "
		       "returns: run a shell\n"
		       "command under a lock with `baton lock NAME -- COMMAND`.\n\n";
	else
		head = "baton coordinates the agents and scripts working in this repository. "
		       "Key rules:\n";
	guide_cats(&t, &len, head);
	for (i = 0; i < nitems(guide_rule_texts); i++) {
		if (fmt == GUIDE_MARKDOWN)
			guide_cats(&t, &len, "- ");
		else {
			snprintf(num, sizeof num, "%zu. ", i + 1);
			guide_cats(&t, &len, num);
		}
		guide_cat_rule(&t, &len, guide_rule_texts[i], fmt);
		guide_cats(&t, &len, "\n");
	}
	if (agent != NULL) {
		guide_cats(&t, &len, "You are known to the others as ");
		guide_cats(&t, &len, agent);
		guide_cats(&t, &len, ".\n");
	}
	if (fmt == GUIDE_TEXT)
		t[len - 1] = '\0'; /* the instructions end without a newline, as before */
	return (t);
}
