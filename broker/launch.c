/*
 * Launched agents (DESIGN 13).  baton launch and the launch_implementer
 * tool start agents in tmux, on a tmux server of baton's own; the client
 * runs tmux and records each agent here (record.c): its type, role,
 * window, directory, command line and state.  The broker adds what it
 * knows: whether the agent joined (agent_join under its name) and the
 * tasks it holds.  Whether its process still runs is tmux's to say: the
 * client asks tmux (implementer_list).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static const char *const launch_fields[] = { "type", "role", "server", "window", "pane", "cwd",
	"worktree", "command", "state", NULL };

struct rec_table launch_table = {
	.kind = "launch",
	.list = "agents",
	.fields = launch_fields,
	.detail = "window",
	.absolute = "cwd",
	.max = LAUNCHED_MAX,
	.sk = &launch_store_kind,
};

const struct store_kind launch_store_kind = {
	.name = "launch",
	.pack = rec_store_pack,
	.restore = rec_store_restore,
	.arg = &launch_table,
};

void
op_launch_implementer(struct req *r)
{
	client_side_op(r);
}

void
op_implementer_list(struct req *r)
{
	client_side_op(r);
}

void
op_launch_set(struct req *r)
{
	rec_set(&launch_table, r);
}

/* What the broker adds to a launched agent: whether it joined, the tasks it holds. */
static void
launch_extra(struct fbuf *fb, const struct rec *rc, struct req *r)
{
	struct presence *p;
	struct session *s;
	int joined = 0;

	TAILQ_FOREACH(p, &presences, entry) {
		if (strcmp(p->project, rc->project) == 0 && strcmp(p->agent, rc->name) == 0)
			joined = 1;
	}
	pk_kbool(fb, "joined", joined);
	pk_str(fb, "tasks");
	TAILQ_FOREACH(s, &sessions, entry) {
		if (strcmp(s->project, rc->project) == 0 && strcmp(s->agent, rc->name) == 0) {
			task_pack_session_ids(fb, s);
			return;
		}
	}
	pk_array(fb, 0);
}

void
op_launch_get(struct req *r)
{
	rec_get(&launch_table, r, launch_extra);
}
