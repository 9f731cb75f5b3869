/*
 * The tools and prompts of `baton mcp`, from the operation table: every
 * tool is an operation of common/ops.c (tools/list is generated from it
 * once; tools/call validates the arguments with op_validate() before
 * forwarding them), and every role prompt a call of the guide
 * operation.  The answers the broker sends back are shaped here too.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "shim.h"

/*
 * JSON Schema for one argument of the table.  Every token of tools/list
 * is paid by every agent on every turn, so the schema says what a model
 * can use to call right (type, choices, default, what it means) and no
 * more: bounds stay in the table, op_validate() enforces them and its
 * error names them.
 */
static cJSON *
mcp_arg_schema(const struct op_arg *a)
{
	static const char *const types[] = {
		[ARG_STRING] = "string",
		[ARG_INT] = "integer",
		[ARG_NUMBER] = "number",
		[ARG_BOOL] = "boolean",
		[ARG_STRINGS] = "array",
	};
	cJSON *s, *def;

	s = cJSON_CreateObject();
	if (a->type != ARG_JSON) /* ARG_JSON: any JSON value */
		cJSON_AddStringToObject(s, "type", types[a->type]);
	if (a->type == ARG_STRINGS)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(s, "items"), "type", "string");
	if (a->choices != NULL)
		cJSON_AddItemToObject(s, "enum", mcp_schema_enum(a->choices));
	if (a->def != NULL) {
		if ((def = cJSON_Parse(a->def)) == NULL)
			fatalx("ops.c: default of %s is not JSON: %s", a->name, a->def);
		cJSON_AddItemToObject(s, "default", def);
	}
	if (a->desc != NULL) /* else its name and type say it all */
		cJSON_AddStringToObject(s, "description", a->desc);
	return (s);
}

/* The JSON Schema enum of "a|b|c". */
cJSON *
mcp_schema_enum(const char *choices)
{
	cJSON *e = cJSON_CreateArray();
	const char *p, *bar;
	char *word;

	for (p = choices; p != NULL; p = bar != NULL ? bar + 1 : NULL) {
		bar = strchr(p, '|');
		word = bar != NULL ? xstrndup(p, (size_t)(bar - p)) : xstrdup(p);
		cJSON_AddItemToArray(e, cJSON_CreateString(word));
		free(word);
	}
	return (e);
}

/* inputSchema of an operation. */
static cJSON *
mcp_input_schema(const struct op *op)
{
	cJSON *s, *props, *req = NULL;
	size_t i;

	s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "type", "object");
	props = cJSON_AddObjectToObject(s, "properties");
	for (i = 0; i < op->nargs; i++) {
		cJSON_AddItemToObject(props, op->args[i].name, mcp_arg_schema(&op->args[i]));
		if (op->args[i].flags & ARG_REQUIRED) {
			if (req == NULL)
				req = cJSON_AddArrayToObject(s, "required");
			cJSON_AddItemToArray(req, cJSON_CreateString(op->args[i].name));
		}
	}
	/*
	 * one_of stays in the description: several clients (and the model
	 * APIs behind them) reject oneOf/anyOf at the top of an input schema.
	 * No additionalProperties: an unknown argument is refused with the
	 * closest known name, which says more to a model than a schema.
	 */
	return (s);
}

/*
 * outputSchema of an operation: the names of what structuredContent
 * holds, which is what a model reads before it calls (their types
 * would cost 3 500 characters of a 22 000-character list).  What a
 * field is, and whether it is always there, is in `baton help OP`; an
 * answer that asks something of the agent says it in its hint.
 */
static cJSON *
mcp_output_schema(const struct op *op)
{
	cJSON *s, *props;
	size_t i;

	s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "type", "object");
	props = cJSON_AddObjectToObject(s, "properties");
	for (i = 0; i < op->nresults; i++)
		cJSON_AddObjectToObject(props, op->results[i].name);
	return (s);
}

/*
 * The tool's annotations.  Unset hints take the MCP defaults (readOnly
 * false, destructive true, idempotent false, openWorld true): a
 * read-only tool says so and nothing else that only matters for tools
 * that write; a tool that writes says whether it destroys what another
 * agent relies on and whether repeating it changes more.  openWorldHint
 * is left out: no client acts on it, and on every tool it cost the list
 * 900 characters of its 6 000-token budget.
 */
static cJSON *
mcp_annotations(const struct op *op)
{
	cJSON *ann = cJSON_CreateObject();

	if (op->flags & OP_READONLY)
		cJSON_AddBoolToObject(ann, "readOnlyHint", 1);
	else {
		cJSON_AddBoolToObject(ann, "destructiveHint",
		    (op->flags & OP_DESTRUCTIVE) != 0);
		if (op->flags & OP_IDEMPOTENT)
			cJSON_AddBoolToObject(ann, "idempotentHint", 1);
	}
	return (ann);
}

/* The tool's description: the table's, plus what the schema cannot say. */
static char *
mcp_tool_desc(const struct op *op)
{
	char *desc, *list, *p;

	if (op->one_of == NULL)
		return (xstrdup(op->desc));
	list = xstrdup(op->one_of);
	for (p = list; *p != '\0'; p++) {
		if (*p == '|')
			*p = '/';
	}
	xasprintf(&desc, "%s Give exactly one of %s.", op->desc, list);
	free(list);
	return (desc);
}

/* One tool of tools/list. */
static cJSON *
mcp_tool(const struct op *op)
{
	cJSON *t;
	char *desc;

	t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "name", op->name);
	cJSON_AddStringToObject(t, "title", op->title != NULL ? op->title : op->name);
	desc = mcp_tool_desc(op);
	cJSON_AddStringToObject(t, "description", desc);
	free(desc);
	cJSON_AddItemToObject(t, "inputSchema", mcp_input_schema(op));
	cJSON_AddItemToObject(t, "outputSchema", mcp_output_schema(op));
	cJSON_AddItemToObject(t, "annotations", mcp_annotations(op));
	/* 2025-11-25: a client may ask for a task (2026-07-28: the server decides) */
	if (mcp_task_op(op))
		cJSON_AddStringToObject(cJSON_AddObjectToObject(t, "execution"), "taskSupport",
		    "optional");
	return (t);
}

/* The tools array of tools/list, the tools of the profile, generated once. */
const char *
mcp_tools_json(struct mcp *m)
{
	cJSON *tools;
	size_t i;

	if (m->tools_json != NULL)
		return (m->tools_json);
	tools = cJSON_CreateArray();
	for (i = 0; i < OP_COUNT; i++) {
		if (mcp_offered(m, &ops[i]))
			cJSON_AddItemToArray(tools, mcp_tool(&ops[i]));
	}
	if ((m->tools_json = cJSON_PrintUnformatted(tools)) == NULL)
		fatalx("mcp: cannot print tools/list");
	cJSON_Delete(tools);
	return (m->tools_json);
}

/* tools/list: the tools of the profile, generated once, sent as they are. */
void
mcp_tools_list(struct mcp *m, const struct mcp_req *req)
{
	cJSON *result;

	if (m->compat != NULL) {
		compat_tools_list(m, req);
		return;
	}
	result = cJSON_CreateObject();

	cJSON_AddItemToObject(result, "tools", cJSON_CreateRaw(mcp_tools_json(m)));
	if (req->rev >= MCP_REV_MODERN)
		mcp_cacheable(result);
	mcp_result(m, req->id, req->rev, result);
}

/*
 * Keep what the tool's outputSchema declares: the broker may say more
 * (a task-changing call answers the whole task; the CLI prints it), but
 * an agent pays for every token it reads.  Top-level nulls go too: an
 * absent optional field is not null, but for fields of type "any" (a
 * note's value, an event's payload) null is a value.
 */
static int
mcp_keep(void *arg, const char *name, int is_null)
{
	const struct op *op = arg;
	size_t i;

	for (i = 0; i < op->nresults; i++) {
		if (op->results[i].name[0] == name[0] && strcmp(op->results[i].name, name) == 0)
			return (!is_null || strcmp(op->results[i].type, "any") == 0);
	}
	return (0);
}

/* mcp_keep on the objects of result r. */
static void
mcp_project(cJSON *r, const struct op *op)
{
	cJSON *c, *next;

	for (c = r->child; c != NULL; c = next) {
		next = c->next;
		if (!mcp_keep((void *)(uintptr_t)op, c->string, cJSON_IsNull(c)))
			cJSON_Delete(cJSON_DetachItemViaPointer(r, c));
	}
}

static cJSON *mcp_structured_as(cJSON *, int);

/*
 * The CallToolResult of the broker's answer f to the call c: the result
 * as text and structuredContent, or isError with a text that says why.
 * With printed, structuredContent is the text itself as raw JSON: the
 * result is printed once, for both (what goes straight to the client).
 */
static cJSON *
mcp_tool_result_as(struct mcp_call *c, const msgpack_object *f, int printed)
{
	const msgpack_object *e;
	cJSON *r, *result;
	char *text, *code, *msg;

	if (!mp_get_bool(f, "ok", 0)) {
		e = mp_get(f, "e");
		if ((code = mp_get_strdup(e, "code")) == NULL)
			code = xstrdup(ERR_INTERNAL);
		if ((msg = mp_get_strdup(e, "message")) == NULL)
			msg = xstrdup("the operation failed");
		/* "code: message", unless the message already starts so */
		if (strncmp(msg, code, strlen(code)) == 0 && msg[strlen(code)] == ':')
			text = xstrdup(msg);
		else
			xasprintf(&text, "%s: %s", code, msg);
		result = mcp_text_result(text, 1);
		free(text);
		free(code);
		free(msg);
		return (result);
	}
	e = mp_get(f, "r");
	if (e == NULL || e->type != MSGPACK_OBJECT_MAP || (r = json_from_msgpack(e)) == NULL) {
		xasprintf(&text, "internal: the broker's answer to %s is not an object",
		    c->op->name);
		result = mcp_text_result(text, 1);
		free(text);
		return (result);
	}
	mcp_project(r, c->op);
	if (c->op == &ops[OP_agent_join])
		mcp_joined(c->m, r);
	if (c->op == &ops[OP_task_claim])
		mcp_xop_claimed(c->m, r); /* an isolation:worktree task: its worktree */
	return (mcp_structured_as(r, printed));
}

/* The CallToolResult of f as objects (a task keeps it and reads it). */
cJSON *
mcp_tool_result(struct mcp_call *c, const msgpack_object *f)
{
	return (mcp_tool_result_as(c, f, 0));
}

/*
 * The CallToolResult of a result object r (taken): its text, and as
 * structuredContent r itself or, printed, that same printing (raw JSON,
 * for what goes straight to the client).
 */
static cJSON *
mcp_structured_as(cJSON *r, int printed)
{
	cJSON *result;
	char *text;

	if ((text = json_print(r, NULL)) == NULL)
		fatalx("mcp: cannot print a result");
	result = mcp_text_result(text, 0);
	if (printed) {
		cJSON_AddItemToObject(result, "structuredContent", cJSON_CreateRaw(text));
		cJSON_Delete(r);
	} else
		cJSON_AddItemToObject(result, "structuredContent", r);
	free(text);
	return (result);
}

/* The CallToolResult of a result object r (taken), as objects. */
cJSON *
mcp_structured(cJSON *r)
{
	return (mcp_structured_as(r, 0));
}

/*
 * The broker's answer f to c printed straight from its msgpack, the
 * bytes mcp_tool_result_as and mcp_result give without a tree of objects
 * (the usual answer, on stdio): the result is printed once, kept
 * (mcp_keep), and copied escaped into the text content.  -1 when the
 * answer needs the objects: a failure, an answer a call reads
 * (agent_join's, task_claim's, task_approve's), --http.
 */
static int
mcp_tool_printed(struct mcp *m, struct mcp_call *c, const msgpack_object *f)
{
	struct jout *o = &m->answer, *t = &m->text; /* kept: no malloc per answer */
	const msgpack_object *r;

	if (m->sink != NULL || c->op == &ops[OP_agent_join] || c->op == &ops[OP_task_claim] ||
	    c->op == &ops[OP_task_approve] || !mp_get_bool(f, "ok", 0) ||
	    (r = mp_get(f, "r")) == NULL || r->type != MSGPACK_OBJECT_MAP)
		return (-1);
	t->len = 0;
	if (jout_msgpack_map(t, r, mcp_keep, (void *)(uintptr_t)c->op) != 0)
		return (-1);
	o->len = 0;
	mcp_printed_begin(o, c->id);
	jout_lit(o, "{\"content\":[{\"type\":\"text\",\"text\":");
	jout_stringn(o, t->s, t->len);
	jout_lit(o, "}],\"isError\":false,\"structuredContent\":");
	jout_add(o, t->s, t->len);
	mcp_printed_meta(o, c->rev);
	jout_add(o, "}", 1);
	mcp_printed_end(m, o);
	return (0);
}

/* The broker's answer f to tools/call c, to the client. */
void
mcp_tool_answer(struct mcp *m, struct mcp_call *c, const msgpack_object *f)
{
	cJSON *result;

	if (mcp_tool_printed(m, c, f) == 0)
		return;
	if (c->op == &ops[OP_task_approve]) {
		/* git config baton.autoMerge: its worktrees merged first */
		result = mcp_tool_result_as(c, f, 0);
		if (mcp_xop_approved(m, c, result))
			return;
	} else
		result = mcp_tool_result_as(c, f, 1);
	mcp_result(m, c->id, c->rev, result);
}

#define MCP_NAME_MAX 64    /* longer names are not compared */
#define MCP_ARGS_FIRST 512 /* bytes of the first buffer for a call's packed arguments */

/* Edit distance of a and b, names of arguments. */
size_t
mcp_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev, cur, up;
	size_t row[MCP_NAME_MAX + 1];

	if (la > MCP_NAME_MAX || lb > MCP_NAME_MAX)
		return (SIZE_MAX);
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			up = row[j];
			cur = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < cur)
				cur = row[j] + 1;
			if (row[j - 1] + 1 < cur)
				cur = row[j - 1] + 1;
			row[j] = cur;
			prev = up;
		}
	}
	return (row[lb]);
}

/*
 * The argument of op closest to an unknown name, or NULL when none is
 * close: a word of the name that is an argument ("task_id": id), else
 * the fewest edits, at most a third of the longer name.
 */
static const char *
mcp_closest_arg(const struct op *op, const char *name)
{
	const char *best = NULL, *a;
	size_t i, d, n, bestd = SIZE_MAX, len = strlen(name);

	for (i = 0; i < op->nargs; i++) {
		a = op->args[i].name;
		n = strlen(a);
		if (n < len &&
		    ((name[len - n - 1] == '_' && strcmp(name + len - n, a) == 0) ||
			(name[n] == '_' && strncmp(name, a, n) == 0)))
			return (a);
		d = mcp_distance(name, a);
		if (d < bestd && d * 3 <= (n > len ? n : len)) {
			bestd = d;
			best = a;
		}
	}
	return (best);
}

/*
 * Invalid arguments: from 2025-11-25 on a tool result with isError the
 * model can act on (the field, what was expected, for an unknown name
 * the closest known one), before it JSON-RPC -32602.
 */
static void
mcp_args_error(struct mcp *m, const struct mcp_req *req, const struct op *op,
    const struct op_error *err)
{
	const char *near = NULL;
	char *text, list[OP_MAX_ARGS * (MCP_NAME_MAX + 2)];
	size_t i, n = 0;
	int unknown = err->field[0] != '\0' && strcmp(err->field, "arguments") != 0 &&
	    op_arg_find(op, err->field, strlen(err->field)) == NULL;

	if (unknown)
		near = mcp_closest_arg(op, err->field);
	if (unknown && near != NULL)
		xasprintf(&text,
		    "invalid arguments for %s: unknown argument %s; did you mean %s?", op->name,
		    err->field, near);
	else if (unknown) {
		list[0] = '\0';
		for (i = 0; i < op->nargs && n < sizeof list; i++)
			n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
			    i > 0 ? ", " : "", op->args[i].name);
		xasprintf(&text, "invalid arguments for %s: unknown argument %s; it takes %s",
		    op->name, err->field, op->nargs > 0 ? list : "none");
	} else
		xasprintf(&text, "invalid arguments for %s: %s", op->name, err->message);
	if (req->rev >= MCP_REV_2025_11_25)
		mcp_result(m, req->id, req->rev, mcp_text_result(text, 1));
	else
		mcp_error(m, req->id, RPC_INVALID_PARAMS, err->field, "%s", text);
	free(text);
}

/* tools/call: validate from the table, then forward (or run as a task). */
void
mcp_tools_call(struct mcp *m, const struct mcp_req *req, const cJSON *params)
{
	const msgpack_object *args, *vals[OP_MAX_ARGS];
	const struct op *op;
	const cJSON *name, *arguments, *id = req->id;
	struct op_error err;
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	int task;

	if (m->compat != NULL) {
		compat_tools_call(m, req, params);
		return;
	}
	name = cJSON_GetObjectItemCaseSensitive(params, "name");
	if (!cJSON_IsString(name)) {
		mcp_error(m, id, RPC_INVALID_PARAMS, "name",
		    "tools/call needs params.name, "
		    "the tool's name (see tools/list)");
		return;
	}
	if ((op = op_find(name->valuestring, strlen(name->valuestring))) == NULL ||
	    (op->flags & OP_ADMIN)) {
		mcp_error(m, id, RPC_INVALID_PARAMS, "name", "unknown tool: %.100s",
		    name->valuestring);
		return;
	}
	if (!mcp_offered(m, op)) {
		mcp_error(m, id, RPC_INVALID_PARAMS, "name",
		    "tool %s is not offered by this baton mcp: its profile is '%.100s' "
		    "(baton mcp --tools, BATON_TOOLS); the user can add it with "
		    "baton install --tools",
		    op->name, m->profile);
		return;
	}
	arguments = cJSON_GetObjectItemCaseSensitive(params, "arguments");
	if (cJSON_IsNull(arguments))
		arguments = NULL;
	memset(&err, 0, sizeof err);
	msgpack_sbuffer_init(&sb);
	/* a first buffer from malloc's cache, not msgpack's 8 KiB: most arguments are small */
	sb.data = xmalloc(MCP_ARGS_FIRST);
	sb.alloc = MCP_ARGS_FIRST;
	msgpack_unpacked_init(&u);
	if (json_args_to_msgpack(arguments, &sb, &u, &args, &err) != 0 ||
	    op_validate(op, args, vals, &err) != 0)
		mcp_args_error(m, req, op, &err);
	else if (op->flags & OP_CLIENT)
		mcp_xop_start(m, req, op, sb.data, sb.size); /* git, tmux: run here */
	else if ((task = mcp_task_wanted(m, req, op, vals, params)) > 0)
		mcp_task_start(m, req, op, vals, sb.data, sb.size, task == 2);
	else if (task == 0)
		mcp_forward(m, req, params, op, sb.data, sb.size); /* packed once, sent as is */
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/* prompts/list: one prompt per role, without arguments. */
void
mcp_prompts_list(struct mcp *m, const struct mcp_req *req)
{
	const struct guide_role *g;
	cJSON *result, *list, *p;

	result = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(result, "prompts");
	for (g = guide_roles; g->name != NULL; g++) {
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", g->name);
		cJSON_AddStringToObject(p, "title", g->name);
		cJSON_AddStringToObject(p, "description", g->title);
		cJSON_AddItemToArray(list, p);
	}
	if (req->rev >= MCP_REV_MODERN)
		mcp_cacheable(result);
	mcp_result(m, req->id, req->rev, result);
}

/* prompts/get: ask the broker for the role's next steps (answered in mcp_prompt_answer). */
void
mcp_prompts_get(struct mcp *m, const struct mcp_req *req, const cJSON *params)
{
	const cJSON *id = req->id;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(params, "name");
	const struct guide_role *g = NULL;
	struct mcp_call *c;
	struct op_error err;
	struct fbuf fb;

	if (cJSON_IsString(name))
		g = guide_role_find(name->valuestring);
	if (g == NULL) {
		mcp_error(m, id, RPC_INVALID_PARAMS, "name",
		    "unknown prompt: give one of "
		    "planner, implementer, reviewer");
		return;
	}
	memset(&err, 0, sizeof err);
	if (!m->connected && mcp_connect(m, 1, &err) != 0) {
		mcp_error(m, id, RPC_INTERNAL_ERROR, NULL,
		    "%s: the baton broker could not be "
		    "reached: %s",
		    ERR_UNAVAILABLE, err.message);
		return;
	}
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kstr(&fb, "role", g->name);
	pk_map_close(&fb);
	if (fb.err)
		fatalx("mcp: cannot encode a guide call");
	c = mcp_forward(m, req, NULL, &ops[OP_guide], fb.sb.data + FRAME_HDR,
	    fb.sb.size - FRAME_HDR);
	if (c != NULL)
		c->prompt = xstrdup(g->name);
	fbuf_free(&fb);
}

/* The broker's answer to a prompts/get: one user message with the next steps. */
void
mcp_prompt_answer(struct mcp *m, struct mcp_call *c, const msgpack_object *f)
{
	const msgpack_object *r = mp_get(f, "r");
	cJSON *result, *msgs, *msg, *content;
	char *text, *desc;
	int ok = 0;

	if (mp_bool(mp_get(f, "ok"), &ok) != 0 || !ok ||
	    (text = mp_strdup(mp_get(r, "next_steps"))) == NULL) {
		text = mp_strdup(mp_get(mp_get(f, "e"), "message"));
		mcp_error(m, c->id, RPC_INTERNAL_ERROR, NULL, "guide failed: %s",
		    text != NULL ? text : "no answer");
		free(text);
		return;
	}
	xasprintf(&desc, "baton: next steps as %s, from the live project state", c->prompt);
	result = cJSON_CreateObject();
	cJSON_AddStringToObject(result, "description", desc);
	msgs = cJSON_AddArrayToObject(result, "messages");
	msg = cJSON_CreateObject();
	cJSON_AddStringToObject(msg, "role", "user");
	content = cJSON_AddObjectToObject(msg, "content");
	cJSON_AddStringToObject(content, "type", "text");
	cJSON_AddStringToObject(content, "text", text);
	cJSON_AddItemToArray(msgs, msg);
	mcp_result(m, c->id, c->rev, result);
	free(desc);
	free(text);
}
