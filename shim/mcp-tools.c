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

/* JSON Schema for one argument of the table. */
static cJSON *
mcp_arg_schema(const struct op_arg *a)
{
	cJSON *s, *items, *e, *def;
	const char *p, *bar;
	char *desc;

	s = cJSON_CreateObject();
	switch (a->type) {
	case ARG_STRING:
		cJSON_AddStringToObject(s, "type", "string");
		if (a->min > 0)
			cJSON_AddNumberToObject(s, "minLength", a->min);
		if (a->max > 0)
			cJSON_AddNumberToObject(s, "maxLength", a->max);
		break;
	case ARG_INT:
	case ARG_NUMBER:
		cJSON_AddStringToObject(s, "type", a->type == ARG_INT ? "integer" : "number");
		cJSON_AddNumberToObject(s, "minimum", a->min);
		cJSON_AddNumberToObject(s, "maximum", a->max);
		break;
	case ARG_BOOL: cJSON_AddStringToObject(s, "type", "boolean"); break;
	case ARG_STRINGS:
		cJSON_AddStringToObject(s, "type", "array");
		items = cJSON_AddObjectToObject(s, "items");
		cJSON_AddStringToObject(items, "type", "string");
		cJSON_AddNumberToObject(items, "minLength", 1);
		if (a->min > 0)
			cJSON_AddNumberToObject(s, "minItems", a->min);
		if (a->max > 0)
			cJSON_AddNumberToObject(s, "maxItems", a->max);
		break;
	case ARG_JSON: break; /* any JSON value */
	}
	if (a->type == ARG_JSON && a->max > 0)
		xasprintf(&desc, "%s (At most %.0f bytes.)", a->desc, a->max);
	else
		desc = xstrdup(a->desc);
	cJSON_AddStringToObject(s, "description", desc);
	free(desc);
	if (a->choices != NULL) {
		e = cJSON_AddArrayToObject(s, "enum");
		for (p = a->choices; p != NULL; p = bar != NULL ? bar + 1 : NULL) {
			bar = strchr(p, '|');
			if (bar != NULL) {
				desc = xstrndup(p, (size_t)(bar - p));
				cJSON_AddItemToArray(e, cJSON_CreateString(desc));
				free(desc);
			} else
				cJSON_AddItemToArray(e, cJSON_CreateString(p));
		}
	}
	if (a->def != NULL) {
		if ((def = cJSON_Parse(a->def)) == NULL)
			fatalx("ops.c: default of %s is not JSON: %s", a->name, a->def);
		cJSON_AddItemToObject(s, "default", def);
	}
	return (s);
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
	 */
	cJSON_AddBoolToObject(s, "additionalProperties", 0);
	return (s);
}

/* outputSchema of an operation: what structuredContent holds. */
static cJSON *
mcp_output_schema(const struct op *op)
{
	cJSON *s, *props, *p, *req = NULL;
	size_t i;

	s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "type", "object");
	props = cJSON_AddObjectToObject(s, "properties");
	for (i = 0; i < op->nresults; i++) {
		p = cJSON_AddObjectToObject(props, op->results[i].name);
		/* "any": a note value or event payload, any JSON value */
		if (strcmp(op->results[i].type, "any") != 0)
			cJSON_AddStringToObject(p, "type", op->results[i].type);
		cJSON_AddStringToObject(p, "description", op->results[i].desc);
		if (!op->results[i].optional) {
			if (req == NULL)
				req = cJSON_AddArrayToObject(s, "required");
			cJSON_AddItemToArray(req, cJSON_CreateString(op->results[i].name));
		}
	}
	return (s);
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

/* The tools/list result, generated from ops[] once. */
const char *
mcp_tools_json(struct mcp *m)
{
	const struct op *op;
	cJSON *result, *tools, *t, *ann;
	char *desc;
	size_t i;

	if (m->tools_json != NULL)
		return (m->tools_json);
	result = cJSON_CreateObject();
	tools = cJSON_AddArrayToObject(result, "tools");
	for (i = 0; i < OP_COUNT; i++) {
		op = &ops[i];
		if (op->flags & OP_ADMIN)
			continue; /* the user's, from the CLI */
		t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "name", op->name);
		cJSON_AddStringToObject(t, "title", op->title != NULL ? op->title : op->name);
		desc = mcp_tool_desc(op);
		cJSON_AddStringToObject(t, "description", desc);
		free(desc);
		cJSON_AddItemToObject(t, "inputSchema", mcp_input_schema(op));
		cJSON_AddItemToObject(t, "outputSchema", mcp_output_schema(op));
		ann = cJSON_AddObjectToObject(t, "annotations");
		cJSON_AddStringToObject(ann, "title", op->title != NULL ? op->title : op->name);
		cJSON_AddBoolToObject(ann, "readOnlyHint", (op->flags & OP_READONLY) != 0);
		cJSON_AddBoolToObject(ann, "destructiveHint",
		    (op->flags & OP_DESTRUCTIVE) != 0);
		cJSON_AddBoolToObject(ann, "idempotentHint", (op->flags & OP_IDEMPOTENT) != 0);
		cJSON_AddBoolToObject(ann, "openWorldHint", 0);
		cJSON_AddItemToArray(tools, t);
	}
	if ((m->tools_json = cJSON_PrintUnformatted(result)) == NULL)
		fatalx("mcp: cannot print tools/list");
	cJSON_Delete(result);
	return (m->tools_json);
}

/* Send the cached tools/list result without re-encoding it. */
void
mcp_tools_list(struct mcp *m, const cJSON *id)
{
	cJSON *msg;
	char *head, *s;
	size_t n;

	msg = mcp_message(id);
	if ((head = cJSON_PrintUnformatted(msg)) == NULL)
		fatalx("mcp: cannot print a JSON message");
	cJSON_Delete(msg);
	n = strlen(head);
	head[n - 1] = '\0'; /* drop the closing brace */
	xasprintf(&s, "%s,\"result\":%s}\n", head, mcp_tools_json(m));
	if (bufferevent_write(m->out, s, strlen(s)) != 0)
		fatalx("mcp: cannot queue output");
	free(s);
	free(head);
}

/*
 * Drop the broker's top-level nulls: an absent optional field is not
 * null.  Fields of type "any" (a note's value, an event's payload) keep
 * theirs: there null is a value.
 */
static void
mcp_drop_nulls(cJSON *r, const struct op *op)
{
	cJSON *c, *next;
	size_t i;

	for (c = r->child; c != NULL; c = next) {
		next = c->next;
		if (!cJSON_IsNull(c))
			continue;
		for (i = 0; i < op->nresults; i++) {
			if (strcmp(op->results[i].name, c->string) == 0)
				break;
		}
		if (i == op->nresults || strcmp(op->results[i].type, "any") != 0)
			cJSON_Delete(cJSON_DetachItemViaPointer(r, c));
	}
}

/* The broker's answer f to tools/call c: the result as text and structuredContent, or an error. */
void
mcp_tool_answer(struct mcp *m, struct mcp_call *c, const msgpack_object *f)
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
			mcp_tool_error(m, c->id, "%s", msg);
		else
			mcp_tool_error(m, c->id, "%s: %s", code, msg);
		free(code);
		free(msg);
		return;
	}
	e = mp_get(f, "r");
	if (e == NULL || e->type != MSGPACK_OBJECT_MAP || (r = json_from_msgpack(e)) == NULL) {
		mcp_tool_error(m, c->id, "internal: the broker's answer to %s is not an object",
		    c->op->name);
		return;
	}
	mcp_drop_nulls(r, c->op);
	if (c->op == &ops[OP_agent_join])
		mcp_joined(m, r);
	if ((text = cJSON_PrintUnformatted(r)) == NULL)
		fatalx("mcp: cannot print a result");
	result = mcp_text_result(text, 0);
	cJSON_AddItemToObject(result, "structuredContent", r);
	mcp_result(m, c->id, result);
	free(text);
}

/* tools/call: validate from the table, then forward. */
void
mcp_tools_call(struct mcp *m, const cJSON *id, const cJSON *params)
{
	const msgpack_object *args, *vals[OP_MAX_ARGS];
	const struct op *op;
	const cJSON *name, *arguments;
	struct op_error err;
	msgpack_sbuffer sb;
	msgpack_unpacked u;

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
	arguments = cJSON_GetObjectItemCaseSensitive(params, "arguments");
	if (cJSON_IsNull(arguments))
		arguments = NULL;
	memset(&err, 0, sizeof err);
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&u);
	if (json_args_to_msgpack(arguments, &sb, &u, &args, &err) != 0 ||
	    op_validate(op, args, vals, &err) != 0)
		mcp_error(m, id, RPC_INVALID_PARAMS, err.field, "invalid arguments for %s: %s",
		    op->name, err.message);
	else
		mcp_forward(m, id, params, op, sb.data, sb.size); /* packed once, sent as is */
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/* prompts/list: one prompt per role, without arguments. */
void
mcp_prompts_list(struct mcp *m, const cJSON *id)
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
	mcp_result(m, id, result);
}

/* prompts/get: ask the broker for the role's next steps (answered in mcp_prompt_answer). */
void
mcp_prompts_get(struct mcp *m, const cJSON *id, const cJSON *params)
{
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
	c = mcp_forward(m, id, NULL, &ops[OP_guide], fb.sb.data + FRAME_HDR,
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
	mcp_result(m, c->id, result);
	free(desc);
	free(text);
}
