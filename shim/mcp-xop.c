/*
 * Client operations through baton mcp (xop.c, DESIGN 13): a tools/call
 * of a tool the client runs (worktree_*, launch_implementer,
 * implementer_list) runs its steps in this process, git and tmux
 * included, and its broker calls go over the session's own connection,
 * asynchronously: each call carries the operation (mcp_call.xop), and
 * its answer runs the next step.  A claim of an isolation:worktree task
 * gets its worktree here too, on its way back to the client.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

static void mcp_xop_run(struct mcp *, struct xop *, cJSON *, enum mcp_rev);

/*
 * The auto-merge of an approval (mcp_xop_approved): merge the next task
 * of todo, or answer the approval wrap, with its merges, once none is
 * left.  Takes wrap, todo and id.
 */
static void
mcp_xop_merge_next(struct mcp *m, cJSON *wrap, cJSON *todo, cJSON *id, enum mcp_rev rev)
{
	struct op_error err;
	struct fbuf fb;
	struct xop *x;
	cJSON *t;

	while ((t = cJSON_DetachItemFromArray(todo, 0)) != NULL) {
		if (!cJSON_IsString(t)) {
			cJSON_Delete(t);
			continue;
		}
		xop_merge_args(&fb, t->valuestring);
		cJSON_Delete(t);
		memset(&err, 0, sizeof err);
		x = xop_new(&ops[OP_worktree_merge], fb.sb.data + FRAME_HDR,
		    fb.sb.size - FRAME_HDR, m->conn.project, m->agent, &err);
		fbuf_free(&fb);
		if (x == NULL)
			continue;
		x->wrap = wrap;
		x->todo = todo;
		mcp_xop_run(m, x, id, rev);
		return;
	}
	cJSON_Delete(todo);
	mcp_result(m, id, rev, mcp_structured(wrap));
	cJSON_Delete(id);
}

/*
 * x ended (done or failed): answer the client, or, for an approval's
 * auto-merge, note it and go on with the next.  Takes x and id.
 */
static void
mcp_xop_end(struct mcp *m, struct xop *x, cJSON *id, enum mcp_rev rev)
{
	cJSON *wrap = x->wrap, *todo = x->todo, *merged;

	if (wrap != NULL) {
		if ((merged = xop_merged(x, xop_arg(x, "task"))) != NULL)
			cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(wrap, "merges"),
			    merged);
		x->wrap = x->todo = NULL;
		xop_free(x);
		mcp_xop_merge_next(m, wrap, todo, id, rev);
		return;
	}
	if (x->code != NULL)
		mcp_tool_error(m, id, rev, "%s: %s", x->code, x->why);
	else {
		mcp_result(m, id, rev, mcp_structured(x->result));
		x->result = NULL;
	}
	xop_free(x);
	cJSON_Delete(id);
}

/*
 * The answer of task_approve c (result, a CallToolResult) with git config
 * baton.autoMerge true: each approved task's worktree is merged first,
 * and the answer gets merges (xop_merged).  1 when it took result over.
 */
int
mcp_xop_approved(struct mcp *m, struct mcp_call *c, cJSON *result)
{
	cJSON *sc = cJSON_GetObjectItemCaseSensitive(result, "structuredContent");
	cJSON *ids = cJSON_GetObjectItemCaseSensitive(sc, "approved"), *todo;

	if (cJSON_GetArraySize(ids) == 0 || !wt_auto_merge(m->conn.project))
		return (0);
	todo = cJSON_Duplicate(ids, 1);
	sc = cJSON_DetachItemFromObjectCaseSensitive(result, "structuredContent");
	cJSON_Delete(result);
	cJSON_AddArrayToObject(sc, "merges");
	mcp_xop_merge_next(m, sc, todo, cJSON_Duplicate(c->id, 1), c->rev);
	return (1);
}

/*
 * Run x until it asks the broker (the call goes out, carrying x and the
 * JSON-RPC id) or ends (the client is answered).  Takes x and id.
 */
static void
mcp_xop_run(struct mcp *m, struct xop *x, cJSON *id, enum mcp_rev rev)
{
	struct op_error err;
	struct mcp_call *c;
	struct xop *p;

	switch (xop_step(x)) {
	case XOP_CALL:
		p = xop_pending(x);
		c = mcp_call_send(m, p->call, p->cfb.sb.data + FRAME_HDR,
		    p->cfb.sb.size - FRAME_HDR, 0, &err);
		if (c == NULL) {
			xop_fail(x, err.code,
			    "%s. The baton broker could not be reached; check that batond can "
			    "start (or run `baton status`), then call %s again.",
			    err.message, x->op->name);
			break;
		}
		c->id = id;
		c->rev = rev;
		c->op = x->op; /* what a lost connection names */
		c->xop = x;
		return;
	default: break;
	}
	mcp_xop_end(m, x, id, rev);
}

/* tools/call of a client operation: its arguments were validated (len packed bytes). */
void
mcp_xop_start(struct mcp *m, const struct mcp_req *req, const struct op *op, const void *args,
    size_t len)
{
	struct op_error err;
	struct xop *x;

	memset(&err, 0, sizeof err);
	if (!m->connected && mcp_connect(m, 1, &err) != 0) {
		mcp_tool_error(m, req->id, req->rev,
		    "%s: %s. The baton broker could not be reached; check that batond can "
		    "start (or run `baton status`), then call %s again.",
		    ERR_UNAVAILABLE, err.message, op->name);
		return;
	}
	if ((x = xop_new(op, args, len, m->conn.project, m->agent, &err)) == NULL) {
		mcp_tool_error(m, req->id, req->rev, "%s: %s", err.code, err.message);
		return;
	}
	mcp_xop_run(m, x, cJSON_Duplicate(req->id, 1), req->rev);
}

/* The broker answered a client operation's call c (frame f): its next step.  Frees c. */
void
mcp_xop_answer(struct mcp *m, struct mcp_call *c, const msgpack_object *f)
{
	struct xop *x = c->xop;
	cJSON *id = c->id;
	enum mcp_rev rev = c->rev;
	const msgpack_object *e;
	char *code, *msg;
	int cancelled = c->cancelled;

	c->xop = NULL;
	c->id = NULL;
	mcp_call_free(m, c);
	if (cancelled) { /* the client cancelled it: no answer, nothing more done */
		xop_free(x);
		cJSON_Delete(id);
		return;
	}
	if (!mp_get_bool(f, "ok", 0)) {
		e = mp_get(f, "e");
		code = mp_get_strdup(e, "code");
		msg = mp_get_strdup(e, "message");
		xop_fail(x, code != NULL ? code : ERR_INTERNAL, "%s: %s",
		    xop_pending(x)->call->name, msg != NULL ? msg : "failed");
		free(code);
		free(msg);
		mcp_xop_end(m, x, id, rev);
		return;
	}
	if (xop_answer(x, mp_get(f, "r")) != 0) {
		mcp_xop_end(m, x, id, rev);
		return;
	}
	mcp_xop_run(m, x, id, rev);
}

/* Record something in the broker for a claim's worktree; its answer is not awaited. */
static int
mcp_xop_record(void *arg, enum op_id op, struct fbuf *fb)
{
	struct mcp *m = arg;
	struct op_error err;

	return (mcp_call_send(m, &ops[op], fb->sb.data + FRAME_HDR, fb->sb.size - FRAME_HDR, 0,
		    &err) != NULL
		? 0
		: -1);
}

/* A task_claim result r on its way to the client: a worktree claim gets its worktree. */
void
mcp_xop_claimed(struct mcp *m, cJSON *r)
{
	if (cJSON_GetObjectItemCaseSensitive(r, "worktree") != NULL)
		wt_claim_fixup(r, m->conn.project, mcp_xop_record, m);
}
