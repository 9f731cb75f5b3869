/*
 * `baton worktree create|list|status|merge|remove|prune`: agents' git
 * worktrees for people and scripts (DESIGN 13).  Each subcommand is a
 * client operation (worktree.c runs git here, the broker records it),
 * a row run by cmd-sub.c; --json prints the result as is.  merge and
 * remove exit 1 when they refuse, as a lock that is taken does.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

static int wt_show_create(struct cmd_call *);
static int wt_show_list(struct cmd_call *);
static int wt_show_status(struct cmd_call *);
static int wt_show_merge(struct cmd_call *);
static int wt_show_cleanup(struct cmd_call *);
static int wt_refusing_exec(struct cmd_call *);

static const struct cmd_opt create_opts[] = {
	{ "agent", 'a', "agent", NULL },
	{ "task", 't', "task", NULL },
	{ "base", 'b', "base", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt force_opts[] = {
	{ "force", 'f', "force", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct cmd_sub worktree_subs[] = {
	{ .name = "create",
	    .op = "worktree_create",
	    .usage = "worktree create [--json] [-a AGENT] [-t TASK] [-b BASE]",
	    .desc = "make AGENT's (default: yours) git worktree, .baton/worktrees/NAME on "
		    "branch baton/NAME from BASE (default: the main checkout's branch), or "
		    "show the one it has; its path on stdout",
	    .flags = CMD_JSON,
	    .opts = create_opts,
	    .show = wt_show_create },
	{ .name = "list",
	    .op = "worktree_list",
	    .usage = "worktree list [--json]",
	    .desc = "the project's worktrees: owner, task, state, whether the owner is here "
		    "and git still has it; orphans are worktrees nobody recorded",
	    .flags = CMD_JSON,
	    .show = wt_show_list },
	{ .name = "status",
	    .op = "worktree_status",
	    .usage = "worktree status [--json] [AGENT]",
	    .desc = "AGENT's worktree against its base: commits ahead and behind, files "
		    "changed, uncommitted changes, whether it merges cleanly",
	    .flags = CMD_JSON,
	    .pos = { "agent" },
	    .show = wt_show_status },
	{ .name = "merge",
	    .op = "worktree_merge",
	    .usage = "worktree merge [--json] AGENT",
	    .desc = "merge AGENT's branch into its base in the main checkout (fast-forward or "
		    "a merge commit); refused, changing nothing, when uncommitted work is in "
		    "the way, the main checkout is on another branch, the task is not "
		    "approved or it conflicts (exit 1)",
	    .flags = CMD_JSON,
	    .pos = { "agent" },
	    .npos = 1,
	    .exec = wt_refusing_exec,
	    .show = wt_show_merge },
	{ .name = "remove",
	    .op = "worktree_cleanup",
	    .usage = "worktree remove [--json] [-f] AGENT",
	    .desc = "remove AGENT's worktree and branch when AGENT is gone and its work is "
		    "merged (else exit 1, saying what would be lost); -f: anyway, saying what "
		    "is lost",
	    .flags = CMD_JSON,
	    .opts = force_opts,
	    .pos = { "agent" },
	    .npos = 1,
	    .exec = wt_refusing_exec,
	    .show = wt_show_cleanup },
	{ .name = "prune",
	    .op = "worktree_cleanup",
	    .usage = "worktree prune [--json] [-f]",
	    .desc = "remove every worktree whose owner is gone and whose work is merged, "
		    "orphans included (-f: the others too, saying what is lost)",
	    .flags = CMD_JSON,
	    .opts = force_opts,
	    .show = wt_show_cleanup },
};
const struct cmd_entry cmd_worktree_entry = {
	.name = "worktree",
	.desc = "agents' git worktrees: create, list, status, merge, remove, prune",
	.subs = worktree_subs,
	.nsubs = nitems(worktree_subs),
	.dflt = "list",
	.exec = cmd_sub_main,
};

/* A string field of a result map for printing, or def. */
static const char *
wt_field(const msgpack_object *o, const char *key, const char *def)
{
	const char *s;
	size_t n;

	if (mp_str(mp_get(o, key), &s, &n) != 0)
		return (def);
	return (cli_vis(s, n, 0));
}

/* The strings of array key of o, one per line, indented, at most max. */
static void
wt_print_list(const msgpack_object *o, const char *key, const char *label)
{
	const msgpack_object *a = mp_get(o, key), *e;
	uint32_t i;

	if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size == 0)
		return;
	printf("%s\n", label);
	for (i = 0; i < a->via.array.size; i++) {
		e = &a->via.array.ptr[i];
		if (e->type == MSGPACK_OBJECT_MAP)
			printf("  %s %s\n", wt_field(e, "status", "?"),
			    wt_field(e, "path", "?"));
		else if (e->type == MSGPACK_OBJECT_STR)
			printf("  %s\n", cli_vis(e->via.str.ptr, e->via.str.size, 0));
	}
}

static void
wt_hint(const msgpack_object *r)
{
	if (mp_get(r, "hint") != NULL)
		fprintf(stderr, "baton: %s\n", wt_field(r, "hint", ""));
}

static int
wt_show_create(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;

	printf("%s\n", wt_field(r, "path", "?"));
	fprintf(stderr, "baton: %s worktree %s on branch %s, merging into %s\n",
	    mp_get_bool(r, "created", 0) ? "made" : "reusing", wt_field(r, "name", "?"),
	    wt_field(r, "branch", "?"), wt_field(r, "base", "?"));
	return (0);
}

static int
wt_show_list(struct cmd_call *cc)
{
	const msgpack_object *a = mp_get(cc->r, "worktrees"), *w;
	uint32_t i;

	if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size == 0) {
		printf("no worktrees\n");
		return (0);
	}
	printf("%-16s %-16s %-5s %-8s %-5s %-6s %s\n", "NAME", "AGENT", "TASK", "STATE", "HERE",
	    "EXISTS", "BRANCH");
	for (i = 0; i < a->via.array.size; i++) {
		w = &a->via.array.ptr[i];
		printf("%-16s %-16s %-5s %-8s %-5s %-6s %s\n", wt_field(w, "name", "?"),
		    wt_field(w, "agent", "-"), wt_field(w, "task", "-"),
		    wt_field(w, "state", "?"), mp_get_bool(w, "owner_here", 0) ? "yes" : "no",
		    mp_get_bool(w, "exists", 0) ? "yes" : "no", wt_field(w, "branch", "?"));
	}
	return (0);
}

static int
wt_show_status(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
	char ahead[32], behind[32];

	printf("%s: branch %s at %s\n", wt_field(r, "agent", "?"), wt_field(r, "branch", "?"),
	    wt_field(r, "path", "?"));
	printf("base %s: %s ahead, %s behind; %s\n", wt_field(r, "base", "?"),
	    cli_field(r, "ahead", ahead, sizeof ahead),
	    cli_field(r, "behind", behind, sizeof behind),
	    mp_get_bool(r, "clean_merge", 0) ? "merges cleanly" : "would conflict");
	wt_print_list(r, "files", "changed:");
	wt_print_list(r, "uncommitted", "uncommitted:");
	wt_print_list(r, "conflicts", "conflicts:");
	wt_hint(r);
	return (0);
}

static int
wt_show_merge(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;

	if (!mp_get_bool(r, "merged", 0)) {
		fprintf(stderr, "baton: not merged: %s\n", wt_field(r, "reason", "?"));
		wt_print_list(r, "files", "files:");
		wt_hint(r);
		return (EXIT_CONFLICT);
	}
	printf("%s\n", wt_field(r, "commit", "?"));
	fprintf(stderr, "baton: merged into %s (%s)\n", wt_field(r, "base", "?"),
	    wt_field(r, "how", "?"));
	return (0);
}

/* What would be (or was) lost: commits and uncommitted files. */
static void
wt_print_lost(const msgpack_object *lost, const char *verb)
{
	if (lost == NULL)
		return;
	wt_print_list(lost, "commits",
	    verb[0] == 'w' ? "  commits that would be lost:" : "  commits lost:");
	wt_print_list(lost, "uncommitted",
	    verb[0] == 'w' ? "  uncommitted files that would be lost:"
			   : "  uncommitted files lost:");
}

static int
wt_show_cleanup(struct cmd_call *cc)
{
	const msgpack_object *a, *w;
	uint32_t i;
	int kept = 0;

	a = mp_get(cc->r, "removed");
	for (i = 0; a != NULL && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size;
	     i++) {
		w = &a->via.array.ptr[i];
		printf("removed %s (branch %s)\n", wt_field(w, "name", "?"),
		    wt_field(w, "branch", "?"));
		wt_print_lost(mp_get(w, "lost"), "lost");
	}
	a = mp_get(cc->r, "kept");
	for (i = 0; a != NULL && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size;
	     i++) {
		w = &a->via.array.ptr[i];
		printf("kept %s: %s\n", wt_field(w, "name", "?"), wt_field(w, "why", "?"));
		wt_print_lost(mp_get(w, "would_lose"), "would");
		kept++;
	}
	return (kept > 0 && cc->sub->pos[0] != NULL ? EXIT_CONFLICT : 0);
}

/* merge and remove: exit 1 when refused, with --json too. */
static int
wt_refusing_exec(struct cmd_call *cc)
{
	const msgpack_object *kept;
	int status = cmd_call_show(cc);

	if (status != 0 || !cc->json)
		return (status);
	if (cc->op == &ops[OP_worktree_merge])
		return (cmd_result_bool(cc, "merged") ? 0 : EXIT_CONFLICT);
	kept = mp_get(cc->r, "kept");
	return (kept != NULL && kept->type == MSGPACK_OBJECT_ARRAY && kept->via.array.size > 0
		? EXIT_CONFLICT
		: 0);
}
