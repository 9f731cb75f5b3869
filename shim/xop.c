/*
 * Operations the client runs itself (OP_CLIENT in the operation table:
 * DESIGN 13): git for worktrees (worktree.c), tmux for launched agents
 * (launch.c).  The broker runs no command; it keeps the records these
 * operations read and write.  An operation is a step function called
 * until it is done: a step runs git or tmux, builds its result, or asks
 * the broker one call (xop_call) whose answer the next step reads in
 * x->answer.  A step may hand the rest to another operation (xop_sub:
 * launch_implementer makes a worktree) and read its result.
 *
 * Two drivers run them, so both faces behave alike: the CLI's (xop_cli,
 * over its connection: `baton worktree`, `baton call`) and baton mcp's
 * (mcp-xop.c, asynchronously over the session's own connection).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* The step function of each client operation. */
static const struct {
	enum op_id op;
	int (*step)(struct xop *);
} xop_steps[] = {
	{ OP_worktree_create, wt_create_step },
	{ OP_worktree_status, wt_status_step },
	{ OP_worktree_merge, wt_merge_step },
	{ OP_worktree_list, wt_list_step },
	{ OP_worktree_cleanup, wt_cleanup_step },
	{ OP_launch_implementer, launch_implementer_step },
	{ OP_implementer_list, launch_list_step },
};

/*
 * A client operation op with its arguments (len packed bytes, a map or
 * nothing), run in project for agent; NULL with err when they do not
 * fit the table.
 */
struct xop *
xop_new(const struct op *op, const void *args, size_t len, const char *project,
    const char *agent, struct op_error *err)
{
	struct xop *x;
	size_t i, off = 0;

	x = xcalloc(1, sizeof *x);
	x->op = op;
	for (i = 0; i < nitems(xop_steps); i++) {
		if (&ops[xop_steps[i].op] == op)
			x->step = xop_steps[i].step;
	}
	if (x->step == NULL)
		fatalx("xop: %s is not a client operation", op->name);
	x->project = xstrdup(project != NULL ? project : "");
	x->agent = xstrdup(agent != NULL ? agent : "");
	msgpack_sbuffer_init(&x->args);
	msgpack_unpacked_init(&x->u);
	if (len > 0)
		msgpack_sbuffer_write(&x->args, args, len);
	if (len > 0 &&
	    msgpack_unpack_next(&x->u, x->args.data, x->args.size, &off) !=
		MSGPACK_UNPACK_SUCCESS) {
		op_error_set(err, ERR_INVALID, "arguments", "cannot read the arguments");
		xop_free(x);
		return (NULL);
	}
	if (op_validate(op, len > 0 ? &x->u.data : NULL, x->vals, err) != 0) {
		xop_free(x);
		return (NULL);
	}
	return (x);
}

void
xop_free(struct xop *x)
{
	size_t i;

	if (x == NULL)
		return;
	xop_free(x->sub);
	if (x->st_free != NULL)
		x->st_free(x->st);
	for (i = 0; i < OP_MAX_ARGS; i++)
		free(x->argv[i]);
	if (x->calling)
		fbuf_free(&x->cfb);
	cJSON_Delete(x->answer);
	cJSON_Delete(x->result);
	cJSON_Delete(x->sub_result);
	msgpack_unpacked_destroy(&x->u);
	msgpack_sbuffer_destroy(&x->args);
	free(x->project);
	free(x->agent);
	free(x->why);
	free(x->code);
	cJSON_Delete(x->wrap);
	cJSON_Delete(x->todo);
	free(x);
}

/* A string argument (or its default) as a C string owned by x, or NULL. */
const char *
xop_arg(struct xop *x, const char *name)
{
	const struct op_arg *a = op_arg_find(x->op, name, strlen(name));
	size_t i;

	if (a == NULL)
		fatalx("xop: %s has no argument %s", x->op->name, name);
	i = (size_t)(a - x->op->args);
	if (x->argv[i] == NULL)
		x->argv[i] = op_arg_strdup(x->op, x->vals, name);
	return (x->argv[i]);
}

int
xop_bool(struct xop *x, const char *name)
{
	return (op_arg_bool(x->op, x->vals, name));
}

/* Ask the broker op: pack its arguments into the map returned, then return XOP_CALL. */
struct fbuf *
xop_call(struct xop *x, enum op_id op)
{
	if (x->calling)
		fbuf_free(&x->cfb);
	x->call = &ops[op];
	x->calling = 1;
	fbuf_init(&x->cfb);
	pk_map_open(&x->cfb);
	return (&x->cfb);
}

/* Fail with code (ERR_*) and a message that says what to do. */
int printflike(3, 4) xop_fail(struct xop *x, const char *code, const char *fmt, ...)
{
	va_list ap;

	free(x->code);
	free(x->why);
	x->code = xstrdup(code);
	va_start(ap, fmt);
	if (xvasprintf(&x->why, fmt, ap) == -1)
		fatalx("xop: out of memory");
	va_end(ap);
	return (XOP_FAIL);
}

/* Done with result (taken). */
int
xop_done(struct xop *x, cJSON *result)
{
	cJSON_Delete(x->result);
	x->result = result;
	return (XOP_DONE);
}

/*
 * Hand the rest to operation op (args: its map, taken): it runs next and
 * its result comes in x->sub_result for the step after this one.
 */
int
xop_sub(struct xop *x, enum op_id op, struct fbuf *args)
{
	struct op_error err;

	memset(&err, 0, sizeof err);
	pk_map_close(args);
	if (args->err)
		fatalx("xop: cannot pack the arguments of %s", ops[op].name);
	x->sub = xop_new(&ops[op], args->sb.data + FRAME_HDR, args->sb.size - FRAME_HDR,
	    x->project, x->agent, &err);
	fbuf_free(args);
	if (x->sub == NULL)
		return (xop_fail(x, err.code, "%s", err.message));
	return (XOP_NEXT);
}

/*
 * Run x until it needs the broker (XOP_CALL: xop_pending says what) or
 * is done (XOP_DONE: x->result) or failed (XOP_FAIL: x->code, x->why).
 */
int
xop_step(struct xop *x)
{
	int r;

	for (;;) {
		if (x->sub == NULL) {
			r = x->step(x);
			x->n++;
			if (r == XOP_NEXT)
				continue;
			if (r == XOP_CALL && (!x->calling || x->cfb.depth != 1))
				fatalx("xop: %s asked for a call without its arguments",
				    x->op->name);
			if (r == XOP_CALL)
				pk_map_close(&x->cfb);
			return (r);
		}
		if ((r = xop_step(x->sub)) == XOP_CALL)
			return (r);
		if (r == XOP_FAIL) {
			xop_fail(x, x->sub->code, "%s", x->sub->why);
			xop_free(x->sub);
			x->sub = NULL;
			return (XOP_FAIL);
		}
		cJSON_Delete(x->sub_result);
		x->sub_result = x->sub->result;
		x->sub->result = NULL;
		xop_free(x->sub);
		x->sub = NULL;
	}
}

/* The operation whose call is pending: x or the sub-operation it runs. */
struct xop *
xop_pending(struct xop *x)
{
	while (x->sub != NULL)
		x = x->sub;
	return (x);
}

/*
 * The broker's result r (a map) of the pending call, for the next step
 * (in its x->answer).  0 to go on with xop_step, -1 when x failed.
 */
int
xop_answer(struct xop *x, const msgpack_object *r)
{
	struct xop *p = xop_pending(x);

	cJSON_Delete(p->answer);
	p->answer = NULL;
	if (r == NULL || r->type != MSGPACK_OBJECT_MAP ||
	    (p->answer = json_from_msgpack(r)) == NULL) {
		xop_fail(x, ERR_INTERNAL, "the broker's answer to %s is not an object",
		    p->call->name);
		return (-1);
	}
	return (0);
}

/*
 * Run x to its end over c: 0 (x->result, or x->code and x->why when it
 * failed), or the exit status of a broker call that could not be made.
 */
static int
xop_cli_run(struct xop *x, struct conn *c)
{
	struct op_error err;
	struct xop *p;
	msgpack_unpacked u;
	const msgpack_object *r;
	int next;

	memset(&err, 0, sizeof err);
	while ((next = xop_step(x)) == XOP_CALL) {
		p = xop_pending(x);
		msgpack_unpacked_init(&u);
		if (conn_call(c, p->call->name, p->cfb.sb.data + FRAME_HDR,
			p->cfb.sb.size - FRAME_HDR, &u, &r, &err) != 0) {
			msgpack_unpacked_destroy(&u);
			return (cli_fail(p->call->name, &err));
		}
		next = xop_answer(x, r);
		msgpack_unpacked_destroy(&u);
		if (next != 0)
			break;
	}
	return (0);
}

/*
 * The CLI's driver: run op with its arguments over the open connection
 * c.  0 with *result, or an exit status (the failure said on stderr).
 */
int
xop_cli(const struct op *op, const void *args, size_t len, struct conn *c, cJSON **result)
{
	struct op_error err;
	struct xop *x;
	int status = 0;

	*result = NULL;
	memset(&err, 0, sizeof err);
	if ((x = xop_new(op, args, len, c->project, c->agent, &err)) == NULL)
		return (cli_fail(op->name, &err));
	if ((status = xop_cli_run(x, c)) != 0) {
		xop_free(x);
		return (status);
	}
	if (x->code != NULL) {
		cli_err("%s: %s", op->name, x->why);
		status = exit_status_for(x->code);
	} else {
		*result = x->result;
		x->result = NULL;
	}
	xop_free(x);
	return (status);
}

/* Make j cc's result (in cc->u, its bytes in cc->rbuf), as if the broker had answered it. */
static int
xop_cli_result(struct cmd_call *cc, const cJSON *j)
{
	struct fbuf fb;
	size_t off = 0;
	int r = 0;

	fbuf_init(&fb);
	if (json_pack(&fb, j) != 0 || fb.err) {
		fbuf_free(&fb);
		cli_err("cannot encode the result of %s", cc->op->name);
		return (EXIT_SOFTWARE);
	}
	free(cc->rbuf);
	cc->rbuf = xmalloc(fb.sb.size - FRAME_HDR);
	memcpy(cc->rbuf, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR);
	msgpack_unpacked_destroy(&cc->u);
	msgpack_unpacked_init(&cc->u);
	if (msgpack_unpack_next(&cc->u, cc->rbuf, fb.sb.size - FRAME_HDR, &off) !=
	    MSGPACK_UNPACK_SUCCESS) {
		cli_err("cannot encode the result of %s", cc->op->name);
		r = EXIT_SOFTWARE;
	} else
		cc->r = &cc->u.data;
	fbuf_free(&fb);
	return (r);
}

/* cmd_call_op's call of a client operation over cc's open connection: 0 with cc->r. */
int
xop_cli_call(struct cmd_call *cc, const void *args, size_t len)
{
	cJSON *result;
	int status;

	if ((status = xop_cli(cc->op, args, len, &cc->c, &result)) != 0)
		return (status);
	status = xop_cli_result(cc, result);
	cJSON_Delete(result);
	return (status);
}

/* Record for a claim's worktree over the CLI's connection. */
static int
xop_cli_record(void *arg, enum op_id op, struct fbuf *fb)
{
	struct cmd_call *cc = arg;
	struct op_error err;
	msgpack_unpacked u;
	const msgpack_object *r;
	int status;

	msgpack_unpacked_init(&u);
	status = conn_call(&cc->c, ops[op].name, fb->sb.data + FRAME_HDR,
	    fb->sb.size - FRAME_HDR, &u, &r, &err);
	msgpack_unpacked_destroy(&u);
	return (status);
}

/* A task_claim answered cc->r: an isolation:worktree task gets its worktree (wt_claim_fixup). */
int
xop_cli_claimed(struct cmd_call *cc)
{
	cJSON *j;
	int status;

	if (mp_get(cc->r, "worktree") == NULL || (j = json_from_msgpack(cc->r)) == NULL)
		return (0);
	wt_claim_fixup(j, cc->c.project, xop_cli_record, cc);
	status = xop_cli_result(cc, j);
	cJSON_Delete(j);
	return (status);
}

/*
 * The arguments of worktree_merge {task: id}, packed (without the frame
 * header: data, len).  The caller frees fb.
 */
void
xop_merge_args(struct fbuf *fb, const char *task)
{
	fbuf_init(fb);
	pk_map_open(fb);
	pk_kstr(fb, "task", task);
	pk_map_close(fb);
}

/*
 * What the auto-merge of task id (x, run to its end) says for the
 * approval's merges: its result with the task, {task, merged: false,
 * reason} when it failed, NULL when the task has no worktree.
 */
cJSON *
xop_merged(struct xop *x, const char *id)
{
	cJSON *m;
	char *why;

	if (x->no_worktree)
		return (NULL);
	if (x->code != NULL) {
		m = cJSON_CreateObject();
		cJSON_AddBoolToObject(m, "merged", 0);
		xasprintf(&why, "%s: %s", x->code, x->why);
		cJSON_AddStringToObject(m, "reason", why);
		free(why);
	} else {
		m = x->result != NULL ? x->result : cJSON_CreateObject();
		x->result = NULL;
	}
	cJSON_AddStringToObject(m, "task", id);
	return (m);
}

/* Say on stderr what the auto-merge m did. */
static void
xop_tell_merge(const cJSON *m)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "task");
	const cJSON *how = cJSON_GetObjectItemCaseSensitive(m, "how");
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(m, "reason");
	const cJSON *base = cJSON_GetObjectItemCaseSensitive(m, "base");

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "merged")))
		cli_err("%s: its worktree is merged into %s (%s; git config baton.autoMerge)",
		    cJSON_GetStringValue(t),
		    cJSON_IsString(base) ? base->valuestring : "its base",
		    cJSON_IsString(how) ? how->valuestring : "merged");
	else
		cli_err("%s: approved, but its worktree is not merged: %s",
		    cJSON_GetStringValue(t),
		    cJSON_IsString(why) ? why->valuestring : "refused");
}

/*
 * A task_approve answered cc->r: with git config baton.autoMerge true,
 * each approved task's worktree is merged (those without one are left
 * alone), and the answer gets merges: [{task, merged, ...}].  A merge
 * refused leaves the approval as it is, saying why.
 */
int
xop_cli_approved(struct cmd_call *cc)
{
	const msgpack_object *ids = mp_get(cc->r, "approved");
	cJSON *j, *merges, *m;
	struct fbuf fb;
	struct xop *x;
	struct op_error err;
	char id[64];
	uint32_t i;
	int status = 0;

	if (ids == NULL || ids->type != MSGPACK_OBJECT_ARRAY || ids->via.array.size == 0 ||
	    !wt_auto_merge(cc->c.project) || (j = json_from_msgpack(cc->r)) == NULL)
		return (0);
	merges = cJSON_AddArrayToObject(j, "merges");
	for (i = 0; i < ids->via.array.size && status == 0; i++) {
		if (ids->via.array.ptr[i].type != MSGPACK_OBJECT_STR ||
		    ids->via.array.ptr[i].via.str.size >= sizeof id)
			continue;
		snprintf(id, sizeof id, "%.*s", (int)ids->via.array.ptr[i].via.str.size,
		    ids->via.array.ptr[i].via.str.ptr);
		xop_merge_args(&fb, id);
		memset(&err, 0, sizeof err);
		x = xop_new(&ops[OP_worktree_merge], fb.sb.data + FRAME_HDR,
		    fb.sb.size - FRAME_HDR, cc->c.project, cc->c.agent, &err);
		fbuf_free(&fb);
		if (x == NULL || (status = xop_cli_run(x, &cc->c)) != 0) {
			xop_free(x);
			break;
		}
		if ((m = xop_merged(x, id)) != NULL) {
			cJSON_AddItemToArray(merges, m);
			xop_tell_merge(m);
		}
		xop_free(x);
	}
	if (status == 0)
		status = xop_cli_result(cc, j);
	cJSON_Delete(j);
	return (status);
}
