/*
 * Lockstep's implementer and worktree tools (`baton mcp --compat
 * lockstep`) on baton's own launcher and worktrees: client operations
 * (git, tmux: xop.c) run a step at a time through compat_xop, on the
 * client's own session.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/*
 * ---- implementers and worktrees: baton's own client operations ----
 *
 * baton launches in a tmux session of its own rather than a macOS
 * Terminal, and an implementer's worktree is the agent's (implementerId
 * is its name); merges never commit, check out or stash anyone's work.
 */

/* The client operation op with args (taken) for cc; 1 with *r when it is done. */
static int
cl_xop(struct compat_call *cc, enum op_id op, cJSON *args, cJSON **r)
{
	if (cc->xop != NULL) {
		cJSON_Delete(args);
		args = NULL;
	}
	return (compat_xop(cc, op, args, r) == 1);
}

static const struct compat_arg launch_implementer_args[] = {
	{ "type", CA_STRING, 1, NULL, NULL,
	    "claude, codex, or a command given to baton launch" },
	{ "name", CA_STRING, 0, NULL, NULL, "default TYPE-N" },
	{ "projectRoot", CA_STRING, 0, NULL, NULL, NULL },
	{ "isolation", CA_STRING, 0, "\"shared\"", "shared|worktree", NULL },
};
static void
launch_implementer_run(struct compat_call *cc)
{
	const char *iso = compat_str(cc, "isolation");
	cJSON *args = cJSON_CreateObject(), *r, *o, *impl;

	cJSON_AddStringToObject(args, "type", compat_str(cc, "type"));
	if (compat_str(cc, "name") != NULL)
		cJSON_AddStringToObject(args, "name", compat_str(cc, "name"));
	cJSON_AddStringToObject(args, "isolation", iso != NULL ? iso : "shared");
	if (!cl_xop(cc, OP_launch_implementer, args, &r))
		return;
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "success", 1);
	impl = cJSON_AddObjectToObject(o, "implementer");
	compat_copy(impl, "id", r, "name");
	compat_copy(impl, "name", r, "name");
	compat_copy(impl, "type", r, "type");
	cJSON_AddStringToObject(impl, "status", "active");
	cJSON_AddStringToObject(o, "isolation", iso != NULL ? iso : "shared");
	if (iso != NULL && strcmp(iso, "worktree") == 0)
		compat_copy(o, "worktreePath", r, "cwd");
	compat_copy(o, "window", r, "window");
	compat_copy(o, "message", r, "hint");
	cJSON_Delete(r);
	compat_ok(cc, o);
}

static const struct compat_arg implementer_list_args[] = {
	{ "projectRoot", CA_STRING, 0, NULL, NULL, NULL },
};
static void
implementer_list_run(struct compat_call *cc)
{
	const cJSON *a;
	const char *state;
	cJSON *r, *o, *rows, *i;
	int active = 0;

	if (!cl_xop(cc, OP_implementer_list, NULL, &r))
		return;
	o = cJSON_CreateObject();
	rows = cJSON_CreateArray();
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(r, "agents")) {
		state = compat_jstr(a, "state");
		i = cJSON_CreateObject();
		compat_copy(i, "id", a, "name");
		compat_copy(i, "name", a, "name");
		compat_copy(i, "type", a, "type");
		if (state != NULL && strcmp(state, "exited") != 0) {
			cJSON_AddStringToObject(i, "status", "active");
			active++;
		} else
			cJSON_AddStringToObject(i, "status", "stopped");
		compat_copy(i, "state", a, "state");
		compat_copy(i, "task", a, "task");
		compat_copy(i, "cwd", a, "cwd");
		cJSON_AddItemToArray(rows, i);
	}
	cJSON_AddNumberToObject(o, "total", cJSON_GetArraySize(rows));
	cJSON_AddNumberToObject(o, "active", active);
	cJSON_AddItemToObject(o, "implementers", rows);
	cJSON_Delete(r);
	compat_ok(cc, o);
}

static const struct compat_arg worktree_status_args[] = {
	{ "implementerId", CA_STRING, 1, NULL, NULL, "the implementer's name" },
};
static void
worktree_status_run(struct compat_call *cc)
{
	cJSON *args = cJSON_CreateObject(), *r, *o;
	const cJSON *un;
	double ahead;

	cJSON_AddStringToObject(args, "agent", compat_str(cc, "implementerId"));
	if (!cl_xop(cc, OP_worktree_status, args, &r))
		return;
	un = cJSON_GetObjectItemCaseSensitive(r, "uncommitted");
	ahead = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "ahead"));
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "found", 1);
	cJSON_AddItemToObject(o, "worktreeStatus", r);
	cJSON_AddStringToObject(o, "instruction",
	    cJSON_GetArraySize(un) > 0 ? "Implementer has uncommitted changes. They should "
					 "commit before merge."
		: ahead > 0            ? "Implementer has commits ready to merge."
				       : "No changes to merge.");
	compat_ok(cc, o);
}

static const struct compat_arg worktree_merge_args[] = {
	{ "implementerId", CA_STRING, 1, NULL, NULL, "the implementer's name" },
	{ "targetBranch", CA_STRING, 0, NULL, NULL, "baton: only the worktree's base branch" },
};
static void
worktree_merge_run(struct compat_call *cc)
{
	const char *target = compat_str(cc, "targetBranch"), *base, *reason;
	const cJSON *w;
	cJSON *args, *r, *o;

	if (cc->step == 0 && target != NULL) {
		args = cJSON_CreateObject();
		cJSON_AddStringToObject(args, "agent", compat_str(cc, "implementerId"));
		compat_op(cc, NULL, "worktree_get", args);
		return;
	}
	if (cc->step == 1 && target != NULL) {
		if (compat_failed(cc, compat_ans(cc, 0)))
			return;
		w = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(compat_ans(cc, 0),
					   "worktrees"),
		    0);
		if ((base = compat_jstr(w, "base")) != NULL && strcmp(base, target) != 0) {
			compat_fail(cc,
			    "%s's worktree merges into %s, its base, not %s: baton merges a "
			    "worktree only into the branch it was made from",
			    compat_str(cc, "implementerId"), base, target);
			return;
		}
	}
	args = cJSON_CreateObject();
	cJSON_AddStringToObject(args, "agent", compat_str(cc, "implementerId"));
	if (!cl_xop(cc, OP_worktree_merge, args, &r))
		return;
	reason = compat_jstr(r, "reason");
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "success", reason == NULL);
	cJSON_AddBoolToObject(o, "merged",
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "merged")));
	compat_copy(o, "how", r, "how");
	compat_copy(o, "base", r, "base");
	if (reason != NULL) {
		cJSON_AddStringToObject(o, "error", reason);
		compat_copy(o, "conflicts", r, "files");
	}
	compat_copy(o, "instruction", r, "hint");
	cJSON_Delete(r);
	compat_ok(cc, o);
}

static const struct compat_arg worktree_list_args[] = {
	{ "projectRoot", CA_STRING, 0, NULL, NULL, NULL },
};
static void
worktree_list_run(struct compat_call *cc)
{
	cJSON *r, *o;

	if (!cl_xop(cc, OP_worktree_list, NULL, &r))
		return;
	o = cJSON_CreateObject();
	compat_copy(o, "count", r, "count");
	compat_copy(o, "worktrees", r, "worktrees");
	cJSON_Delete(r);
	compat_ok(cc, o);
}

static const struct compat_arg worktree_cleanup_args[] = {
	{ "projectRoot", CA_STRING, 0, NULL, NULL, NULL },
};
static void
worktree_cleanup_run(struct compat_call *cc)
{
	cJSON *r, *o;
	int n;

	if (!cl_xop(cc, OP_worktree_cleanup, NULL, &r))
		return;
	n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "removed"));
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "success", 1);
	cJSON_AddNumberToObject(o, "cleanedCount", n);
	compat_copy(o, "cleaned", r, "removed");
	compat_copy(o, "kept", r, "kept");
	cJSON_AddStringToObject(o, "message",
	    n > 0 ? "Removed the worktrees whose owner is gone and whose work is merged."
		  : "No orphaned worktrees found");
	cJSON_Delete(r);
	compat_ok(cc, o);
}

#define RO (OP_READONLY | OP_IDEMPOTENT)
const struct compat_tool compat_launch_tools[] = {
	COMPAT_TOOL(launch_implementer, 0,
	    "PLANNER: start an implementer (claude or codex) in a window of the project's tmux "
	    "session; isolation worktree gives it a git worktree."),
	COMPAT_TOOL(implementer_list, RO, "Launched implementers and their status."),
	COMPAT_TOOL(worktree_status, RO,
	    "An implementer's worktree: commits ahead/behind, changed and uncommitted files, "
	    "whether it merges cleanly."),
	COMPAT_TOOL(worktree_merge, OP_DESTRUCTIVE,
	    "After approval: merge an implementer's worktree. baton: refused with the reason "
	    "(conflicts listed) rather than committing, checking out or stashing anything."),
	COMPAT_TOOL(worktree_list, RO, "The project's worktrees."),
	COMPAT_TOOL(worktree_cleanup, OP_DESTRUCTIVE,
	    "Remove worktrees whose implementer is gone and whose work is merged."),
};
const size_t compat_nlaunch_tools = nitems(compat_launch_tools);
