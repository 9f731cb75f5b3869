/*
 * Worktrees (DESIGN 13).  The client (baton, baton mcp) runs git, as the
 * user, in the project: it makes an agent's worktree, checks and merges
 * it, removes it.  The broker keeps the record of each (record.c): its
 * owner, task, branch, path, base and state, so that status, cleanup and
 * the dashboard know them, and says whether its owner is here.  A claim
 * of an isolation:worktree task names the claimant's worktree (claim.c
 * asks worktree_pack_claim); the client makes it when it does not exist.
 *
 * The operations that run git (worktree_create, _status, _merge, _list,
 * _cleanup) are the client's: the broker only refuses them, saying so.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static const char *const worktree_fields[] = { "agent", "task", "branch", "path", "base",
	"base_commit", "state", "commit", NULL };

struct rec_table worktree_table = {
	.kind = "worktree",
	.list = "worktrees",
	.fields = worktree_fields,
	.detail = "branch",
	.absolute = "path",
	.max = WORKTREES_MAX,
	.sk = &worktree_store_kind,
};

const struct store_kind worktree_store_kind = {
	.name = "worktree",
	.pack = rec_store_pack,
	.restore = rec_store_restore,
	.arg = &worktree_table,
};

/* Is agent here in project: a session under that name, or a registration that outlives one? */
struct here {
	const char *agent;
	int found;
};

static void
worktree_here_cb(const char *agent, const char *role, void *arg)
{
	struct here *h = arg;

	if (strcmp(agent, h->agent) == 0)
		h->found = 1;
}

int
agent_here(const char *project, const char *agent)
{
	struct here h = { agent, 0 };

	presence_foreach(project, worktree_here_cb, &h);
	return (h.found);
}

/* An operation that runs git or tmux: the client's, never the broker's. */
void
client_side_op(struct req *r)
{
	reply_error(r->c, r->id, ERR_INVALID, "op",
	    "%s runs git or tmux, which the broker never does: call it through baton (the "
	    "CLI, baton call) or baton mcp, which run it and record it here",
	    r->op->name);
}

void
op_worktree_create(struct req *r)
{
	client_side_op(r);
}

void
op_worktree_status(struct req *r)
{
	client_side_op(r);
}

void
op_worktree_merge(struct req *r)
{
	client_side_op(r);
}

void
op_worktree_list(struct req *r)
{
	client_side_op(r);
}

void
op_worktree_cleanup(struct req *r)
{
	client_side_op(r);
}

void
op_worktree_set(struct req *r)
{
	rec_set(&worktree_table, r);
}

/* What the broker adds to a worktree record: whether its owner is here. */
static void
worktree_extra(struct fbuf *fb, const struct rec *rc, struct req *r)
{
	const char *agent = rec_field(&worktree_table, rc, "agent");

	pk_kbool(fb, "owner_here", agent != NULL && agent_here(rc->project, agent));
}

void
op_worktree_get(struct req *r)
{
	rec_get(&worktree_table, r, worktree_extra);
}

/* The active worktree agent owns in project, or NULL. */
static struct rec *
worktree_of_agent(const char *project, const char *agent)
{
	struct rec *rc, *tmp;
	const char *owner, *state;

	HASH_ITER(hh, worktree_table.recs, rc, tmp) {
		owner = rec_field(&worktree_table, rc, "agent");
		state = rec_field(&worktree_table, rc, "state");
		if (strcmp(rc->project, project) == 0 && owner != NULL &&
		    strcmp(owner, agent) == 0 &&
		    (state == NULL || strcmp(state, "active") == 0))
			return (rc);
	}
	return (NULL);
}

/*
 * A claim of an isolation:worktree task by agent: "worktree" in the
 * claim's answer, the agent's worktree as recorded, or only the agent
 * and task when it has none yet (the client makes it, then says where).
 */
void
worktree_pack_claim(struct fbuf *fb, const char *project, const char *agent, const char *task)
{
	struct rec *rc = worktree_of_agent(project, agent);

	pk_str(fb, "worktree");
	pk_map_open(fb);
	pk_kstr(fb, "agent", agent);
	pk_kstr(fb, "task", task);
	if (rc != NULL) {
		pk_kstr(fb, "name", rc->name);
		pk_kstr_opt(fb, "path", rec_field(&worktree_table, rc, "path"));
		pk_kstr_opt(fb, "branch", rec_field(&worktree_table, rc, "branch"));
		pk_kstr_opt(fb, "base", rec_field(&worktree_table, rc, "base"));
	}
	pk_map_close(fb);
}
