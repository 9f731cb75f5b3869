/*
 * The compat profiles (`baton mcp --compat lockstep|airlock`, DESIGN
 * 14): the seed tools' names, arguments, defaults and result shapes,
 * each tool a row of its profile's table (compat-lockstep.c,
 * compat-airlock.c) whose translation runs baton operations on the
 * agent's own broker session (compat-link.c) and shapes their answers
 * as the seed did.
 *
 * A translation is a small state machine: run(cc) is called at step 0
 * with the caller's arguments, sends one or more operations (compat_op)
 * and returns; when every answer of the step is in, it is called again
 * at the next step with them (compat_ans), until it answers the call
 * (compat_ok, compat_fail).  Arguments are checked against the tool's
 * row before any step runs, and every operation's arguments against the
 * operation table before they are sent.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

static const struct compat_profile *const compat_profiles[] = {
	&compat_airlock,
	&compat_lockstep,
};

const struct compat_profile *
compat_profile_find(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(compat_profiles); i++) {
		if (strcmp(compat_profiles[i]->name, name) == 0)
			return (compat_profiles[i]);
	}
	return (NULL);
}

/* The i-th tool of a profile (its own, then its extra tables'), or NULL past the end. */
static const struct compat_tool *
compat_tool_at(const struct compat_profile *p, size_t i)
{
	size_t k;

	if (i < p->ntools)
		return (&p->tools[i]);
	i -= p->ntools;
	for (k = 0; k < nitems(p->extra) && p->extra[k].tools != NULL; k++) {
		if (i < *p->extra[k].n)
			return (&p->extra[k].tools[i]);
		i -= *p->extra[k].n;
	}
	return (NULL);
}

static const struct compat_tool *
compat_tool_find(const struct compat_profile *p, const char *name)
{
	const struct compat_tool *t;
	size_t i;

	for (i = 0; (t = compat_tool_at(p, i)) != NULL; i++) {
		if (strcmp(t->name, name) == 0)
			return (t);
	}
	return (NULL);
}

static const struct compat_arg *
compat_arg_find(const struct compat_tool *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->nargs; i++) {
		if (strcmp(t->args[i].name, name) == 0)
			return (&t->args[i]);
	}
	return (NULL);
}

/* JSON Schema of one argument, as short as the seed's. */
static cJSON *
compat_arg_schema(const struct compat_arg *a)
{
	static const char *const types[] = {
		[CA_STRING] = "string",
		[CA_INT] = "integer",
		[CA_NUMBER] = "number",
		[CA_BOOL] = "boolean",
		[CA_STRINGS] = "array",
		[CA_OBJECT] = "object",
	};
	cJSON *s = cJSON_CreateObject(), *e, *def;

	if (a->type == CA_ID) {
		e = cJSON_AddArrayToObject(s, "type");
		cJSON_AddItemToArray(e, cJSON_CreateString("string"));
		cJSON_AddItemToArray(e, cJSON_CreateString("integer"));
	} else if (a->type != CA_ANY)
		cJSON_AddStringToObject(s, "type", types[a->type]);
	if (a->type == CA_STRINGS)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(s, "items"), "type", "string");
	if (a->choices != NULL)
		cJSON_AddItemToObject(s, "enum", mcp_schema_enum(a->choices));
	if (a->def != NULL) {
		if ((def = cJSON_Parse(a->def)) == NULL)
			fatalx("compat: default of %s is not JSON: %s", a->name, a->def);
		cJSON_AddItemToObject(s, "default", def);
	}
	if (a->desc != NULL)
		cJSON_AddStringToObject(s, "description", a->desc);
	return (s);
}

/* One tool of tools/list. */
static cJSON *
compat_tool_json(const struct compat_tool *t)
{
	cJSON *j = cJSON_CreateObject(), *s, *props, *req = NULL, *ann;
	size_t i;

	cJSON_AddStringToObject(j, "name", t->name);
	cJSON_AddStringToObject(j, "description", t->desc);
	s = cJSON_AddObjectToObject(j, "inputSchema");
	cJSON_AddStringToObject(s, "type", "object");
	props = cJSON_AddObjectToObject(s, "properties");
	for (i = 0; i < t->nargs; i++) {
		cJSON_AddItemToObject(props, t->args[i].name, compat_arg_schema(&t->args[i]));
		if (t->args[i].required) {
			if (req == NULL)
				req = cJSON_AddArrayToObject(s, "required");
			cJSON_AddItemToArray(req, cJSON_CreateString(t->args[i].name));
		}
	}
	ann = cJSON_AddObjectToObject(j, "annotations");
	if (t->flags & OP_READONLY)
		cJSON_AddBoolToObject(ann, "readOnlyHint", 1);
	else {
		cJSON_AddBoolToObject(ann, "destructiveHint", (t->flags & OP_DESTRUCTIVE) != 0);
		if (t->flags & OP_IDEMPOTENT)
			cJSON_AddBoolToObject(ann, "idempotentHint", 1);
	}
	/* only the file and command tools reach outside baton */
	cJSON_AddBoolToObject(ann, "openWorldHint", (t->flags & COMPAT_OPEN_WORLD) != 0);
	return (j);
}

/* The tools array of a profile, built once. */
const char *
compat_tools_json(const struct compat_profile *p)
{
	static char *cache[nitems(compat_profiles)];
	const struct compat_tool *t;
	cJSON *tools;
	size_t i, k;

	for (k = 0; k < nitems(compat_profiles) && compat_profiles[k] != p; k++)
		;
	if (k == nitems(compat_profiles))
		fatalx("compat: unknown profile");
	if (cache[k] != NULL)
		return (cache[k]);
	tools = cJSON_CreateArray();
	for (i = 0; (t = compat_tool_at(p, i)) != NULL; i++)
		cJSON_AddItemToArray(tools, compat_tool_json(t));
	if ((cache[k] = cJSON_PrintUnformatted(tools)) == NULL)
		fatalx("compat: cannot print tools/list");
	cJSON_Delete(tools);
	return (cache[k]);
}

/* Does v have the type a wants? */
static int
compat_type_ok(const struct compat_arg *a, const cJSON *v)
{
	const cJSON *e;

	switch (a->type) {
	case CA_STRING: return (cJSON_IsString(v));
	case CA_INT:
		return (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
		    fabs(v->valuedouble) <= 9007199254740991.0);
	case CA_NUMBER: return (cJSON_IsNumber(v) && isfinite(v->valuedouble));
	case CA_BOOL: return (cJSON_IsBool(v));
	case CA_OBJECT: return (cJSON_IsObject(v));
	case CA_ID: return (cJSON_IsString(v) || cJSON_IsNumber(v));
	case CA_ANY: return (1);
	case CA_STRINGS:
		if (!cJSON_IsArray(v))
			return (0);
		cJSON_ArrayForEach(e, v) {
			if (!cJSON_IsString(e))
				return (0);
		}
		return (1);
	}
	return (0);
}

static const char *
compat_type_name(enum compat_type t)
{
	switch (t) {
	case CA_STRING: return ("a string");
	case CA_INT: return ("an integer");
	case CA_NUMBER: return ("a number");
	case CA_BOOL: return ("a boolean");
	case CA_STRINGS: return ("an array of strings");
	case CA_OBJECT: return ("an object");
	case CA_ID: return ("a string or an integer");
	case CA_ANY: return ("any JSON");
	}
	return ("?");
}

/* Is s one of the '|'-separated choices? */
static int
compat_choice(const char *choices, const char *s)
{
	size_t n = strlen(s);
	const char *p = choices, *bar;

	for (;;) {
		bar = strchr(p, '|');
		if ((size_t)((bar != NULL ? bar : p + strlen(p)) - p) == n &&
		    strncmp(p, s, n) == 0)
			return (1);
		if (bar == NULL)
			return (0);
		p = bar + 1;
	}
}

/*
 * Check args against the tool's row; NULL when they pass, else the text
 * of the error (allocated), naming the field.
 */
static char *
compat_check_args(const struct compat_tool *t, const cJSON *args)
{
	const struct compat_arg *a, *best;
	const cJSON *v;
	size_t i, d, bestd;
	char *text;

	cJSON_ArrayForEach(v, args) {
		if ((a = compat_arg_find(t, v->string)) != NULL)
			continue;
		best = NULL;
		bestd = SIZE_MAX;
		for (i = 0; i < t->nargs; i++) {
			d = mcp_distance(v->string, t->args[i].name);
			if (d < bestd && d * 3 <= strlen(t->args[i].name) + 1) {
				bestd = d;
				best = &t->args[i];
			}
		}
		if (best != NULL)
			xasprintf(&text,
			    "invalid arguments for %s: unknown argument %.64s; did "
			    "you mean %s?",
			    t->name, v->string, best->name);
		else
			xasprintf(&text, "invalid arguments for %s: unknown argument %.64s",
			    t->name, v->string);
		return (text);
	}
	for (i = 0; i < t->nargs; i++) {
		a = &t->args[i];
		v = cJSON_GetObjectItemCaseSensitive(args, a->name);
		if (v == NULL || cJSON_IsNull(v)) {
			if (!a->required)
				continue;
			xasprintf(&text, "invalid arguments for %s: %s is required", t->name,
			    a->name);
			return (text);
		}
		if (!compat_type_ok(a, v)) {
			xasprintf(&text, "invalid arguments for %s: %s must be %s", t->name,
			    a->name, compat_type_name(a->type));
			return (text);
		}
		if (a->choices != NULL && !compat_choice(a->choices, v->valuestring)) {
			xasprintf(&text, "invalid arguments for %s: %s must be one of %s",
			    t->name, a->name, a->choices);
			return (text);
		}
	}
	return (NULL);
}

/* tools/list of a compat profile. */
void
compat_tools_list(struct mcp *m, const struct mcp_req *req)
{
	cJSON *result = cJSON_CreateObject();

	cJSON_AddItemToObject(result, "tools", cJSON_CreateRaw(compat_tools_json(m->compat)));
	if (req->rev >= MCP_REV_MODERN)
		mcp_cacheable(result);
	mcp_result(m, req->id, req->rev, result);
}

/* tools/call of a compat profile: check the arguments, then run the translation. */
void
compat_tools_call(struct mcp *m, const struct mcp_req *req, const cJSON *params)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(params, "name");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(params, "arguments");
	const struct compat_tool *t;
	struct compat_call *cc;
	char *text;

	if (!cJSON_IsString(name)) {
		mcp_error(m, req->id, RPC_INVALID_PARAMS, "name",
		    "tools/call needs params.name, the tool's name (see tools/list)");
		return;
	}
	if ((t = compat_tool_find(m->compat, name->valuestring)) == NULL) {
		mcp_error(m, req->id, RPC_INVALID_PARAMS, "name",
		    "unknown tool: %.100s (baton mcp --compat %s offers the %s tools; see "
		    "tools/list)",
		    name->valuestring, m->compat->name, m->compat->seed);
		return;
	}
	if (args != NULL && !cJSON_IsNull(args) && !cJSON_IsObject(args))
		text = xstrdup("invalid arguments: arguments must be a JSON object");
	else
		text = compat_check_args(t, args);
	if (text != NULL) {
		if (req->rev >= MCP_REV_2025_11_25)
			mcp_result(m, req->id, req->rev, mcp_text_result(text, 1));
		else
			mcp_error(m, req->id, RPC_INVALID_PARAMS, NULL, "%s", text);
		free(text);
		return;
	}
	cc = xcalloc(1, sizeof *cc);
	cc->m = m;
	cc->id = cJSON_Duplicate(req->id, 1);
	cc->rev = req->rev;
	cc->tool = t;
	cc->args = cJSON_IsObject(args) ? cJSON_Duplicate(args, 1) : cJSON_CreateObject();
	cc->ans = cJSON_CreateArray();
	cc->st = cJSON_CreateObject();
	TAILQ_INSERT_TAIL(&m->ccalls, cc, entry);
	m->ncalls++;
	cc->step = -1;
	compat_call_step(cc);
}

/* Run the next step of cc with the answers of the last. */
void
compat_call_step(struct compat_call *cc)
{
	cJSON *prev = cc->prev;

	cc->prev = cc->ans;
	cc->ans = cJSON_CreateArray();
	cc->step++;
	cc->tool->run(cc);
	cJSON_Delete(prev);
	if (!cc->done && cc->pending == 0)
		fatalx("compat: %s step %d neither answered nor asked", cc->tool->name,
		    cc->step);
	if (cc->done && cc->pending == 0)
		compat_call_free(cc);
}

void
compat_call_free(struct compat_call *cc)
{
	struct mcp *m = cc->m;

	if (m != NULL) {
		TAILQ_REMOVE(&m->ccalls, cc, entry);
		m->ncalls--;
	}
	cJSON_Delete(cc->id);
	cJSON_Delete(cc->args);
	cJSON_Delete(cc->ans);
	cJSON_Delete(cc->prev);
	cJSON_Delete(cc->st);
	xop_free(cc->xop);
	free(cc);
	if (m != NULL)
		mcp_maybe_exit(m);
}

/*
 * m is going away (an HTTP session ends): cc is answered no more, and
 * freed when the answers it still waits for come in.
 */
void
compat_call_forget(struct compat_call *cc)
{
	TAILQ_REMOVE(&cc->m->ccalls, cc, entry);
	cc->m->ncalls--;
	cc->m = NULL;
	cc->cancelled = cc->done = 1;
	if (cc->pending == 0)
		compat_call_free(cc);
}

/* Answer cc with v (taken): its JSON as text and, for an object, structuredContent. */
void
compat_ok(struct compat_call *cc, cJSON *v)
{
	cJSON *result;
	char *text;

	if ((text = cJSON_PrintUnformatted(v)) == NULL)
		fatalx("compat: cannot print a result");
	result = mcp_text_result(text, 0);
	free(text);
	if (cJSON_IsObject(v))
		cJSON_AddItemToObject(result, "structuredContent", v);
	else
		cJSON_Delete(v);
	cc->done = 1;
	if (!cc->cancelled && cc->m != NULL)
		mcp_result(cc->m, cc->id, cc->rev, result);
	else
		cJSON_Delete(result);
}

/* Answer cc with an error the agent can act on. */
void printflike(2, 3) compat_fail(struct compat_call *cc, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	cc->done = 1;
	if (!cc->cancelled && cc->m != NULL)
		mcp_result(cc->m, cc->id, cc->rev, mcp_text_result(text, 1));
	free(text);
}

/* The i-th answer of the last step (a result object or {"_error": ...}). */
const cJSON *
compat_ans(const struct compat_call *cc, int i)
{
	return (cJSON_GetArrayItem(cc->prev, i));
}

/* An answer's error message, or NULL when it is a result. */
const char *
compat_err(const cJSON *a)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(a, "_error");

	return (e != NULL ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"))
			  : NULL);
}

/* An answer's error code, or NULL when it is a result. */
const char *
compat_err_code(const cJSON *a)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(a, "_error");

	return (e != NULL ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"))
			  : NULL);
}

/* Fail cc with answer a's error when it is one: 1 when it failed. */
int
compat_failed(struct compat_call *cc, const cJSON *a)
{
	const char *msg = compat_err(a), *code = compat_err_code(a);

	if (msg == NULL)
		return (0);
	if (strncmp(msg, code, strlen(code)) == 0 && msg[strlen(code)] == ':')
		compat_fail(cc, "%s", msg);
	else
		compat_fail(cc, "%s: %s", code, msg);
	return (1);
}

/*
 * Send operation op with args (taken) for cc on the session of agent
 * (NULL: the client's own); 0, or -1 when cc was answered with the error.
 */
int
compat_op(struct compat_call *cc, const char *agent, const char *op, cJSON *args)
{
	struct compat_link *l;
	struct op_error err;

	if ((l = compat_link_get(cc->m, agent, &err)) == NULL) {
		cJSON_Delete(args);
		compat_fail(cc,
		    "%s: %s. The baton broker could not be reached; check that batond can "
		    "start (baton status), then call %s again.",
		    err.code, err.message, cc->tool->name);
		return (-1);
	}
	if (compat_send(cc, l, op, args, &err) != 0) {
		compat_fail(cc, "%s: %s%s%s", err.code, err.field[0] != '\0' ? err.field : "",
		    err.field[0] != '\0' ? ": " : "", err.message);
		return (-1);
	}
	return (0);
}

/*
 * Run client operation op (git, tmux: xop.c) for cc, a step of cc's at a
 * time: its broker calls go on the client's own session, as they do for
 * baton mcp's own tools.  The first call gives op's arguments (args,
 * taken); later steps call it again with NULL.  1 with op's result in
 * *res (the caller's), 0 while a broker call is out (return from the
 * step), -1 when cc was answered with the failure.
 */
int
compat_xop(struct compat_call *cc, enum op_id op, cJSON *args, cJSON **res)
{
	struct compat_link *l;
	struct op_error err;
	msgpack_unpacked u;
	struct fbuf fb;
	struct xop *p;
	const cJSON *ans;
	cJSON *a;
	size_t off = 0;

	*res = NULL;
	memset(&err, 0, sizeof err);
	if (cc->xop == NULL) {
		if ((l = compat_link_get(cc->m, NULL, &err)) == NULL) {
			cJSON_Delete(args);
			compat_fail(cc, "%s: %s", err.code, err.message);
			return (-1);
		}
		if (args == NULL)
			args = cJSON_CreateObject();
		fbuf_init(&fb);
		json_pack(&fb, args);
		cJSON_Delete(args);
		cc->xop = xop_new(&ops[op], fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR,
		    l->project, compat_link_agent(l), &err);
		fbuf_free(&fb);
		if (cc->xop == NULL) {
			compat_fail(cc, "%s: %s%s%s", err.code, err.field,
			    err.field[0] != '\0' ? ": " : "", err.message);
			return (-1);
		}
	} else {
		if (compat_failed(cc, ans = compat_ans(cc, 0)))
			return (-1);
		p = xop_pending(cc->xop);
		cJSON_Delete(p->answer);
		p->answer = cJSON_Duplicate(ans, 1);
	}
	switch (xop_step(cc->xop)) {
	case XOP_CALL:
		p = xop_pending(cc->xop);
		msgpack_unpacked_init(&u);
		if (msgpack_unpack_next(&u, p->cfb.sb.data + FRAME_HDR,
			p->cfb.sb.size - FRAME_HDR, &off) != MSGPACK_UNPACK_SUCCESS)
			fatalx("compat: cannot read the arguments of %s", p->call->name);
		a = json_from_msgpack(&u.data);
		msgpack_unpacked_destroy(&u);
		return (compat_op(cc, NULL, p->call->name, a) == 0 ? 0 : -1);
	case XOP_DONE:
		*res = cc->xop->result;
		cc->xop->result = NULL;
		return (1);
	default: compat_fail(cc, "%s: %s", cc->xop->code, cc->xop->why); return (-1);
	}
}

/* Member k of object o as a string, or NULL. */
const char *
compat_jstr(const cJSON *o, const char *k)
{
	return (cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k)));
}

/* The caller's argument name: a string, or NULL when absent. */
const char *
compat_str(const struct compat_call *cc, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cc->args, name);

	if (cJSON_IsString(v))
		return (v->valuestring);
	return (NULL);
}

/* The caller's numeric argument, else its default, else dflt. */
double
compat_num(const struct compat_call *cc, const char *name, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cc->args, name);
	const struct compat_arg *a = compat_arg_find(cc->tool, name);

	if (cJSON_IsNumber(v))
		return (v->valuedouble);
	if (cJSON_IsBool(v))
		return (cJSON_IsTrue(v));
	if (a != NULL && a->def != NULL)
		return (strcmp(a->def, "true") == 0    ? 1
			: strcmp(a->def, "false") == 0 ? 0
						       : strtod(a->def, NULL));
	return (dflt);
}

/* The caller's argument name as it came (NULL when absent or null). */
const cJSON *
compat_arg(const struct compat_call *cc, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cc->args, name);

	return (cJSON_IsNull(v) ? NULL : v);
}

/* A new object {"key": value...} is built with the cJSON calls; this copies one field. */
void
compat_copy(cJSON *to, const char *key, const cJSON *from, const char *fkey)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, fkey);

	if (v != NULL && !cJSON_IsNull(v))
		cJSON_AddItemToObject(to, key, cJSON_Duplicate(v, 1));
}

/* notifications/cancelled for a compat call: 1 when it named one. */
int
compat_cancelled(struct mcp *m, const cJSON *rid)
{
	struct compat_call *cc;

	TAILQ_FOREACH(cc, &m->ccalls, entry) {
		if (!cc->cancelled && mcp_id_equal(cc->id, rid)) {
			cc->cancelled = 1;
			compat_cancel(cc);
			return (1);
		}
	}
	return (0);
}

/* The client is gone: end every wait of m's calls. */
void
compat_cancel_all(struct mcp *m)
{
	struct compat_call *cc;

	TAILQ_FOREACH(cc, &m->ccalls, entry)
		compat_cancel(cc);
}

/* `baton mcp --compat NAME`: the profile, or -1 with *cause. */
int
compat_parse(struct mcp *m, const char *name, char **cause)
{
	if ((m->compat = compat_profile_find(name)) == NULL) {
		xasprintf(cause,
		    "unknown compat profile '%.64s': give lockstep or airlock (the tools of "
		    "Lockstep MCP or Airlock, on baton)",
		    name);
		return (-1);
	}
	return (0);
}
