/*
 * `baton mcp`: the MCP stdio server (DESIGN §6).
 *
 * Newline-delimited JSON-RPC 2.0 on stdin and stdout, one event loop.
 * Every tool is an operation of the table in common/ops.c: tools/list
 * is generated from it once, tools/call validates the arguments with
 * op_validate() and forwards them as a req frame on one broker
 * connection, where many calls may wait at once, told apart by the
 * broker request id.  Nothing but JSON-RPC ever reaches stdout: the
 * protocol goes out on a private duplicate of fd 1, and fd 1 itself is
 * pointed at stderr so that a stray write (ours, a library's, a child's)
 * cannot corrupt the stream.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "shim.h"

#define MCP_LINE_MAX (4 * 1024 * 1024) /* one JSON-RPC message, bytes */
#define MCP_PROGRESS_SECONDS 5          /* keep-alive for waiting calls */
#define MCP_EOF_GRACE_SECONDS 2         /* answers still owed at stdin EOF */
#define MCP_BROKER_OUT_MAX (8 * 1024 * 1024)
#define MCP_ROOTS_WAIT_MS 3000 /* for the client's answer to roots/list */
#define MCP_RETRY_FIRST_MS 50  /* reconnecting after the broker went away... */
#define MCP_RETRY_MAX_MS 2000  /* ...backing off to this (grace is 10 s) */
#define MCP_HELD_MAX 1024      /* messages held until the project is known */
#define MCP_ROOTS_ID "baton-roots" /* the id of our one request to the client */
#define MCP_STDOUT_HIGH (16 * 1024 * 1024) /* stop reading until the client reads */

/* JSON-RPC 2.0 error codes. */
#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
#define RPC_INTERNAL_ERROR -32603

/* Protocol versions we speak, newest first. */
static const char *const mcp_versions[] = {
	"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
};

/* One tools/call forwarded to the broker and not answered yet. */
struct mcp_call {
	struct mcp *m;
	uint64_t bid;       /* broker request id */
	cJSON *id;          /* JSON-RPC id, owned */
	const struct op *op;
	cJSON *progress_token; /* owned, or NULL */
	struct event *progress;
	int progress_n;
	double started;
	int cancelled; /* by the client: its answer is not sent */
	char *prompt;  /* prompts/get of this role (a guide call), or NULL */
	TAILQ_ENTRY(mcp_call) entry;
};
TAILQ_HEAD(mcp_calls, mcp_call);

struct mcp {
	struct event_base *base;
	struct client_opts opts;
	char *agent;  /* name we connect with, owned */
	char *role;   /* role from agent_join, owned, or NULL */
	int joined;   /* agent_join succeeded: join again after a reconnect */
	char *client_name, *client_version; /* from initialize, owned */
	char *token;  /* session token to reclaim after a reconnect */
	int in_fd, out_fd;
	struct bufferevent *in, *out;
	int skipping; /* discarding the rest of an over-long line */
	int eof;
	int paused;   /* stdin not read while stdout is backed up */
	struct event *grace;
	struct event *connect_soon;
	int lost;     /* the broker went away: reconnect in the background */
	int retry_ms; /* the next background attempt, backing off */

	struct conn conn;
	int connected;
	struct bufferevent *bev; /* broker connection */
	uint64_t next_bid;
	struct mcp_calls calls;
	size_t ncalls;

	char *tools_json; /* tools/list result, built once */

	/* DESIGN 2: without an explicit project, the client's first root */
	int client_roots;  /* it offered roots in initialize */
	int roots_pending; /* roots/list sent, no answer yet */
	char *root_project; /* owned; m->opts.project points at it */
	struct event *roots_timer;
	char **held;       /* lines that came meanwhile, replayed in order */
	size_t nheld;
};

static void mcp_broker_lost(struct mcp *, const char *);
static void mcp_maybe_exit(struct mcp *);

/* Queue one JSON-RPC message on stdout, as one line. */
static void
mcp_write(struct mcp *m, const cJSON *msg)
{
	char *s;

	if ((s = cJSON_PrintUnformatted(msg)) == NULL)
		fatalx("mcp: cannot print a JSON message");
	if (bufferevent_write(m->out, s, strlen(s)) != 0 ||
	    bufferevent_write(m->out, "\n", 1) != 0)
		fatalx("mcp: cannot queue output");
	free(s);
}

/* A message skeleton {jsonrpc, id}; id NULL gives id null. */
static cJSON *
mcp_message(const cJSON *id)
{
	cJSON *msg;

	msg = cJSON_CreateObject();
	cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
	if (id != NULL)
		cJSON_AddItemToObject(msg, "id", cJSON_Duplicate(id, 1));
	else
		cJSON_AddNullToObject(msg, "id");
	return (msg);
}

/* Send a result; takes ownership of result. */
static void
mcp_result(struct mcp *m, const cJSON *id, cJSON *result)
{
	cJSON *msg;

	msg = mcp_message(id);
	cJSON_AddItemToObject(msg, "result", result);
	mcp_write(m, msg);
	cJSON_Delete(msg);
}

/* Send an error; field, when not empty, goes into error.data. */
static void printflike(5, 6)
mcp_error(struct mcp *m, const cJSON *id, int code, const char *field,
    const char *fmt, ...)
{
	cJSON *msg, *err, *data;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	msg = mcp_message(id);
	err = cJSON_AddObjectToObject(msg, "error");
	cJSON_AddNumberToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", text);
	if (field != NULL && *field != '\0') {
		data = cJSON_AddObjectToObject(err, "data");
		cJSON_AddStringToObject(data, "field", field);
	}
	mcp_write(m, msg);
	cJSON_Delete(msg);
	free(text);
}

/* A tools/call result whose content is one text item. */
static cJSON *
mcp_text_result(const char *text, int is_error)
{
	cJSON *result, *content, *item;

	result = cJSON_CreateObject();
	content = cJSON_AddArrayToObject(result, "content");
	item = cJSON_CreateObject();
	cJSON_AddStringToObject(item, "type", "text");
	cJSON_AddStringToObject(item, "text", text);
	cJSON_AddItemToArray(content, item);
	cJSON_AddBoolToObject(result, "isError", is_error);
	return (result);
}

/* A tools/call result that failed: text only (no structuredContent, see below). */
static void printflike(3, 4)
mcp_tool_error(struct mcp *m, const cJSON *id, const char *fmt, ...)
{
	char *text;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	/*
	 * An error object would not match the tool's outputSchema, and
	 * clients validate structuredContent whenever it is present.
	 */
	mcp_result(m, id, mcp_text_result(text, 1));
	free(text);
}

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
	case ARG_BOOL:
		cJSON_AddStringToObject(s, "type", "boolean");
		break;
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
	case ARG_JSON:
		break; /* any JSON value */
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
static const char *
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
		cJSON_AddBoolToObject(ann, "destructiveHint", (op->flags & OP_DESTRUCTIVE) != 0);
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
static void
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

/* Does the operation table have this operation? */
static int
mcp_has_op(const char *name)
{
	return (op_find(name, strlen(name)) != NULL);
}

/* Append a numbered rule to the instructions. */
static void printflike(3, 4)
mcp_rule(char **s, int *n, const char *fmt, ...)
{
	char *rule, *t;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&rule, fmt, ap);
	va_end(ap);
	xasprintf(&t, "%s%d. %s\n", *s, ++*n, rule);
	free(rule);
	free(*s);
	*s = t;
}

/*
 * The server's instructions: how to use baton, key rules first (Claude
 * Code keeps only the first 2048 characters).  Rules about operations
 * the table lacks are left out; the blocking ones are listed from it.
 */
static char *
mcp_instructions(const struct mcp *m)
{
	char *s, *waits = NULL, *t;
	size_t i;
	int n = 0;

	for (i = 0; i < OP_COUNT; i++) {
		if (!(ops[i].flags & OP_BLOCKS))
			continue;
		xasprintf(&t, "%s%s%s", waits != NULL ? waits : "", waits != NULL ? ", " : "",
		    ops[i].name);
		free(waits);
		waits = t;
	}
	s = xstrdup("baton coordinates the agents and scripts working in this "
	    "repository. Key rules:\n");
	if (mcp_has_op("agent_join"))
		mcp_rule(&s, &n, "Call agent_join with your role (planner, implementer or "
		    "reviewer) first: it tells you what to do next in that role.");
	mcp_rule(&s, &n, "Before editing a file others may edit, call lock_acquire "
	    "{name: \"file:PATH\"} (PATH relative to the project root); before a "
	    "shared command (npm install, migrations, the test database) take a lock "
	    "named after it (\"npm\", \"db\").");
	mcp_rule(&s, &n, "Keep the token lock_acquire returns and call lock_release "
	    "{name, token} as soon as you are done. Locks taken without ttl_seconds "
	    "are released when your session ends.");
	mcp_rule(&s, &n, "Never poll: %s take wait_seconds and return as soon as "
	    "something happens. acquired:false means someone holds the lock (see "
	    "holders): wait in line with wait_seconds; a wait that times out returns "
	    "a ticket that keeps your place.", waits != NULL ? waits : "lock_acquire");
	mcp_rule(&s, &n, "lock_list shows who works where; status shows your session.");
	if (mcp_has_op("message_send") && mcp_has_op("message_inbox"))
		mcp_rule(&s, &n, "Ask and answer other agents with message_send; read "
		    "yours with message_inbox.");
	if (mcp_has_op("task_claim"))
		mcp_rule(&s, &n, "Work from the plan: task_claim, then task_submit when "
		    "done.");
	if (m->agent != NULL) {
		xasprintf(&t, "%sYou are known to the others as %s.\n", s, m->agent);
		free(s);
		s = t;
	}
	xasprintf(&t, "%sResults carry a hint field when you have something to do next.", s);
	free(s);
	free(waits);
	return (t);
}

/* The agent name: --agent/BATON_AGENT, else clientInfo.name-XXXX (DESIGN §2). */
static void
mcp_set_agent(struct mcp *m, const char *client)
{
	char base[49], hex[5];
	size_t i, n = 0;

	if (m->agent != NULL)
		return;
	if (m->opts.agent != NULL) {
		m->agent = xstrdup(m->opts.agent);
		return;
	}
	/* Names are labels others type: keep them short and plain. */
	for (i = 0; client != NULL && client[i] != '\0' && n < sizeof base - 1; i++) {
		char c = client[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || c == '.')
			base[n++] = c;
		else if (c >= 'A' && c <= 'Z')
			base[n++] = (char)(c - 'A' + 'a');
		else if (n > 0 && base[n - 1] != '-')
			base[n++] = '-';
	}
	while (n > 0 && base[n - 1] == '-')
		n--;
	base[n] = '\0';
	random_hex(hex, sizeof hex);
	xasprintf(&m->agent, "%s-%s", n > 0 ? base : "mcp", hex);
}

/* initialize: negotiate the version, name ourselves, give instructions. */
static void
mcp_initialize(struct mcp *m, const cJSON *id, const cJSON *params)
{
	const cJSON *v, *info, *name, *ver;
	const char *version = mcp_versions[0];
	cJSON *result, *caps, *tools, *server;
	char *instr;
	size_t i;

	v = cJSON_GetObjectItemCaseSensitive(params, "protocolVersion");
	for (i = 0; cJSON_IsString(v) && i < nitems(mcp_versions); i++) {
		if (strcmp(v->valuestring, mcp_versions[i]) == 0)
			version = mcp_versions[i];
	}
	info = cJSON_GetObjectItemCaseSensitive(params, "clientInfo");
	name = cJSON_GetObjectItemCaseSensitive(info, "name");
	ver = cJSON_GetObjectItemCaseSensitive(info, "version");
	if (cJSON_IsString(name) && m->client_name == NULL) {
		m->client_name = xstrdup(name->valuestring);
		if (cJSON_IsString(ver))
			m->client_version = xstrdup(ver->valuestring);
	}
	mcp_set_agent(m, m->client_name);
	m->client_roots = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(params, "capabilities"), "roots"));
	log_info("initialize from %s %s, protocol %s, agent %s",
	    m->client_name != NULL ? m->client_name : "?",
	    m->client_version != NULL ? m->client_version : "?", version, m->agent);

	result = cJSON_CreateObject();
	cJSON_AddStringToObject(result, "protocolVersion", version);
	caps = cJSON_AddObjectToObject(result, "capabilities");
	tools = cJSON_AddObjectToObject(caps, "tools");
	cJSON_AddBoolToObject(tools, "listChanged", 0);
	if (mcp_has_op("guide"))
		cJSON_AddBoolToObject(cJSON_AddObjectToObject(caps, "prompts"), "listChanged", 0);
	server = cJSON_AddObjectToObject(result, "serverInfo");
	cJSON_AddStringToObject(server, "name", "baton");
	cJSON_AddStringToObject(server, "version", BATON_VERSION);
	instr = mcp_instructions(m);
	cJSON_AddStringToObject(result, "instructions", instr);
	free(instr);
	mcp_result(m, id, result);
}

/* Find a call by its broker request id. */
static struct mcp_call *
mcp_call_find_bid(struct mcp *m, uint64_t bid)
{
	struct mcp_call *c;

	TAILQ_FOREACH(c, &m->calls, entry) {
		if (c->bid == bid)
			return (c);
	}
	return (NULL);
}

/* Forget a call (answered, failed or cancelled). */
static void
mcp_call_free(struct mcp *m, struct mcp_call *c)
{
	TAILQ_REMOVE(&m->calls, c, entry);
	m->ncalls--;
	if (c->progress != NULL)
		event_free(c->progress);
	cJSON_Delete(c->id);
	cJSON_Delete(c->progress_token);
	free(c->prompt);
	free(c);
}

/* Every few seconds of a wait, tell the client we are alive. */
static void
mcp_progress_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mcp_call *c = arg;
	cJSON *msg, *params;
	char text[128];

	c->progress_n++;
	snprintf(text, sizeof text, "waiting (%s, %.0f s)...", c->op->name,
	    mono_now() - c->started);
	msg = cJSON_CreateObject();
	cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
	cJSON_AddStringToObject(msg, "method", "notifications/progress");
	params = cJSON_AddObjectToObject(msg, "params");
	cJSON_AddItemToObject(params, "progressToken", cJSON_Duplicate(c->progress_token, 1));
	cJSON_AddNumberToObject(params, "progress", c->progress_n);
	cJSON_AddStringToObject(params, "message", text);
	mcp_write(c->m, msg);
	cJSON_Delete(msg);
}

/* Write one finished frame to the broker; -1 if it cannot be queued. */
static int
mcp_broker_send(struct mcp *m, struct fbuf *fb)
{
	if (fbuf_finish(fb) != 0)
		return (-1);
	if (evbuffer_get_length(bufferevent_get_output(m->bev)) > MCP_BROKER_OUT_MAX)
		return (-1); /* the broker stopped reading: do not buffer forever */
	return (bufferevent_write(m->bev, fb->sb.data, fb->sb.size));
}

/* Ask the broker to end the wait of a call (it answers "cancelled"). */
static void
mcp_broker_cancel(struct mcp *m, struct mcp_call *c)
{
	struct fbuf fb;

	fbuf_init(&fb);
	pk_map(&fb, 2);
	pk_kint(&fb, "t", FRAME_CANCEL);
	pk_kuint(&fb, "id", c->bid);
	if (mcp_broker_send(m, &fb) != 0)
		log_warnx("cannot send cancel for request %llu", (unsigned long long)c->bid);
	fbuf_free(&fb);
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

/* The role prompts (DESIGN §5.5): the guide operation's live text. */
static const char *const mcp_prompts[][2] = {
	{ "planner", "Plan the project: gather context, write the plan, create tasks, review" },
	{ "implementer", "Implement: claim a task, do it, submit it, loop until complete" },
	{ "reviewer", "Review submitted tasks: approve or request changes" },
};

/* prompts/list: one prompt per role, without arguments. */
static void
mcp_prompts_list(struct mcp *m, const cJSON *id)
{
	cJSON *result, *list, *p;
	size_t i;

	result = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(result, "prompts");
	for (i = 0; i < nitems(mcp_prompts); i++) {
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", mcp_prompts[i][0]);
		cJSON_AddStringToObject(p, "title", mcp_prompts[i][0]);
		cJSON_AddStringToObject(p, "description", mcp_prompts[i][1]);
		cJSON_AddItemToArray(list, p);
	}
	mcp_result(m, id, result);
}

static void mcp_forward(struct mcp *, const cJSON *, const cJSON *, const struct op *,
    const msgpack_object *);
static int mcp_connect(struct mcp *, int, struct op_error *);

/* prompts/get: ask the broker for the role's next steps (answered in mcp_prompt_res). */
static void
mcp_prompts_get(struct mcp *m, const cJSON *id, const cJSON *params)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(params, "name");
	const struct op *op = op_find("guide", 5);
	msgpack_unpacked u;
	struct op_error err;
	struct fbuf fb;
	size_t i, off = 0;

	for (i = 0; cJSON_IsString(name) && i < nitems(mcp_prompts); i++) {
		if (strcmp(name->valuestring, mcp_prompts[i][0]) == 0)
			break;
	}
	if (op == NULL || !cJSON_IsString(name) || i == nitems(mcp_prompts)) {
		mcp_error(m, id, RPC_INVALID_PARAMS, "name", "unknown prompt: give one of "
		    "planner, implementer, reviewer");
		return;
	}
	memset(&err, 0, sizeof err);
	if (!m->connected && mcp_connect(m, 1, &err) != 0) {
		mcp_error(m, id, RPC_INTERNAL_ERROR, NULL, "%s: the baton broker could not be "
		    "reached: %s", ERR_UNAVAILABLE, err.message);
		return;
	}
	fbuf_init(&fb);
	pk_map(&fb, 1);
	pk_kstr(&fb, "role", mcp_prompts[i][0]);
	msgpack_unpacked_init(&u);
	if (fb.err || msgpack_unpack_next(&u, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR,
	    &off) != MSGPACK_UNPACK_SUCCESS)
		fatalx("mcp: cannot encode a guide call");
	mcp_forward(m, id, NULL, op, &u.data);
	if (!TAILQ_EMPTY(&m->calls) && cJSON_Compare(TAILQ_LAST(&m->calls, mcp_calls)->id, id, 1))
		TAILQ_LAST(&m->calls, mcp_calls)->prompt = xstrdup(mcp_prompts[i][0]);
	msgpack_unpacked_destroy(&u);
	fbuf_free(&fb);
}

/* The broker's answer to a prompts/get: one user message with the next steps. */
static void
mcp_prompt_res(struct mcp *m, struct mcp_call *c, const msgpack_object *f)
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

/*
 * agent_join answered: a reconnect must come back under the joined name
 * and role, not the one this shim started with.
 */
static void
mcp_joined(struct mcp *m, const cJSON *r)
{
	const cJSON *agent = cJSON_GetObjectItemCaseSensitive(r, "agent");
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(r, "role");

	if (!cJSON_IsString(agent))
		return;
	free(m->agent);
	m->agent = xstrdup(agent->valuestring);
	if (cJSON_IsString(role)) {
		free(m->role);
		m->role = xstrdup(role->valuestring);
	}
	m->joined = 1;
}

/* After a reconnect: join again as before (the answer is not awaited). */
static void
mcp_rejoin(struct mcp *m)
{
	struct fbuf fb;

	fbuf_init(&fb);
	client_pack_req(&fb, ++m->next_bid, "agent_join");
	pk_map(&fb, m->role != NULL ? 2 : 1);
	pk_kstr(&fb, "name", m->agent);
	if (m->role != NULL)
		pk_kstr(&fb, "role", m->role);
	if (mcp_broker_send(m, &fb) != 0)
		log_warnx("cannot join again as %s after the reconnect", m->agent);
	fbuf_free(&fb);
}

/* Answer a call from the broker's res frame. */
static void
mcp_broker_res(struct mcp *m, const msgpack_object *f)
{
	const msgpack_object *ok, *e;
	struct mcp_call *c;
	cJSON *r, *result;
	char *text, *code, *msg;
	int64_t bid;
	int b;

	if (mp_int(mp_get(f, "id"), &bid) != 0 || bid < 0 ||
	    (c = mcp_call_find_bid(m, (uint64_t)bid)) == NULL) {
		log_debug("answer to an unknown request: ignored");
		return;
	}
	if (c->cancelled) {
		/* MCP: a cancelled request gets no response */
		mcp_call_free(m, c);
		return;
	}
	if (c->prompt != NULL) {
		mcp_prompt_res(m, c, f);
		mcp_call_free(m, c);
		return;
	}
	ok = mp_get(f, "ok");
	if (mp_bool(ok, &b) != 0 || !b) {
		e = mp_get(f, "e");
		code = mp_strdup(mp_get(e, "code"));
		msg = mp_strdup(mp_get(e, "message"));
		if (code == NULL)
			code = xstrdup(ERR_INTERNAL);
		if (msg == NULL)
			msg = xstrdup("the operation failed");
		/* "code: message", unless the message already starts so */
		if (strncmp(msg, code, strlen(code)) == 0 && msg[strlen(code)] == ':')
			mcp_tool_error(m, c->id, "%s", msg);
		else
			mcp_tool_error(m, c->id, "%s: %s", code, msg);
		free(code);
		free(msg);
		mcp_call_free(m, c);
		return;
	}
	e = mp_get(f, "r");
	if (e == NULL || e->type != MSGPACK_OBJECT_MAP || (r = json_from_msgpack(e)) == NULL) {
		mcp_tool_error(m, c->id, "internal: the broker's answer to %s is not an object",
		    c->op->name);
		mcp_call_free(m, c);
		return;
	}
	mcp_drop_nulls(r, c->op);
	if (strcmp(c->op->name, "agent_join") == 0)
		mcp_joined(m, r);
	if ((text = cJSON_PrintUnformatted(r)) == NULL)
		fatalx("mcp: cannot print a result");
	result = mcp_text_result(text, 0);
	cJSON_AddItemToObject(result, "structuredContent", r);
	mcp_result(m, c->id, result);
	free(text);
	mcp_call_free(m, c);
}

/* Handle one decoded broker frame; -1 when the connection must go. */
static int
mcp_broker_frame(struct mcp *m, const msgpack_object *f, char *why, size_t whysize)
{
	char *msg;

	switch (mp_frame_type(f)) {
	case FRAME_RES:
		mcp_broker_res(m, f);
		return (0);
	case FRAME_PUSH:
		return (0); /* nothing subscribes yet */
	case FRAME_ERROR:
		msg = mp_strdup(mp_get(f, "message"));
		snprintf(why, whysize, "the broker closed the connection: %s",
		    msg != NULL ? msg : "no reason given");
		free(msg);
		return (-1);
	default:
		snprintf(why, whysize, "unexpected frame from the broker");
		return (-1);
	}
}

/* Bytes from the broker: decode every complete frame. */
static void
mcp_broker_read(struct bufferevent *bev, void *arg)
{
	struct mcp *m = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	msgpack_unpacked u;
	const char *cause = NULL;
	unsigned char *p;
	char why[256];
	ssize_t n;
	size_t len;
	int r;

	for (;;) {
		len = evbuffer_get_length(in);
		if (len < FRAME_HDR)
			return;
		p = evbuffer_pullup(in, FRAME_HDR);
		if ((n = frame_length(p, FRAME_HDR, FRAME_MAX_DEFAULT, &cause)) < 0) {
			snprintf(why, sizeof why, "bad frame from the broker: %s", cause);
			break;
		}
		if (len < FRAME_HDR + (size_t)n)
			return;
		p = evbuffer_pullup(in, FRAME_HDR + n);
		msgpack_unpacked_init(&u);
		if (frame_decode(p + FRAME_HDR, (size_t)n, &u, &cause) != 0) {
			msgpack_unpacked_destroy(&u);
			snprintf(why, sizeof why, "bad frame from the broker: %s", cause);
			break;
		}
		r = mcp_broker_frame(m, &u.data, why, sizeof why);
		msgpack_unpacked_destroy(&u);
		if (r != 0)
			break;
		evbuffer_drain(in, FRAME_HDR + (size_t)n);
	}
	mcp_broker_lost(m, why);
}

/* The broker connection closed or failed. */
static void
mcp_broker_event(struct bufferevent *bev, short what, void *arg)
{
	struct mcp *m = arg;
	char why[256];

	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof why, "the broker closed the connection");
	else
		snprintf(why, sizeof why, "broker connection error: %s", strerror(errno));
	mcp_broker_lost(m, why);
}

/*
 * The connection is gone: every call still owed an answer fails with a
 * text that says what to do, and the next call reconnects, reclaiming
 * the session with its token.
 */
static void
mcp_broker_lost(struct mcp *m, const char *why)
{
	struct mcp_call *c;

	log_warnx("%s", why);
	while ((c = TAILQ_FIRST(&m->calls)) != NULL) {
		if (!c->cancelled)
			mcp_tool_error(m, c->id, "%s: %s before answering %s. Call the tool "
			    "again: baton reconnects (starting the broker if needed) and "
			    "reclaims your session and its locks.", ERR_UNAVAILABLE, why,
			    c->op->name);
		mcp_call_free(m, c);
	}
	if (m->bev != NULL)
		bufferevent_free(m->bev);
	m->bev = NULL;
	conn_close(&m->conn);
	m->connected = 0;
	if (!m->eof) {
		struct timeval tv = { 0, MCP_RETRY_FIRST_MS * 1000 };

		m->lost = 1;
		m->retry_ms = MCP_RETRY_FIRST_MS * 2;
		evtimer_add(m->connect_soon, &tv);
	}
	mcp_maybe_exit(m);
}

/* Open the broker connection (starting the broker if allowed and may_start). */
static int
mcp_connect(struct mcp *m, int may_start, struct op_error *err)
{
	struct client_opts o = m->opts;

	if (m->connected)
		return (0);
	if (!may_start)
		o.autostart = 0;
	mcp_set_agent(m, m->client_name);
	o.kind = "mcp";
	o.agent = m->agent;
	if (m->client_name != NULL) {
		o.client_name = m->client_name;
		o.client_version = m->client_version != NULL ? m->client_version : "";
	}
	o.token = m->token;
	if (m->role != NULL)
		o.role = m->role;
	if (conn_open(&m->conn, &o, err) != 0)
		return (-1);
	if (set_nonblock(m->conn.fd) != 0 || set_cloexec(m->conn.fd) != 0) {
		op_error_set(err, ERR_INTERNAL, NULL, "broker socket: %s", strerror(errno));
		conn_close(&m->conn);
		return (-1);
	}
	if ((m->bev = bufferevent_socket_new(m->base, m->conn.fd, 0)) == NULL)
		fatalx("mcp: bufferevent_socket_new failed");
	bufferevent_setcb(m->bev, mcp_broker_read, NULL, mcp_broker_event, m);
	bufferevent_enable(m->bev, EV_READ | EV_WRITE);
	m->connected = 1;
	m->lost = 0;
	evtimer_del(m->connect_soon);
	free(m->token);
	m->token = xstrdup(m->conn.token);
	if (m->conn.agent != NULL && strcmp(m->conn.agent, m->agent) != 0) {
		free(m->agent);
		m->agent = xstrdup(m->conn.agent);
	}
	/* bytes that arrived with the welcome */
	if (m->conn.rlen > 0) {
		evbuffer_add(bufferevent_get_input(m->bev), m->conn.rbuf, m->conn.rlen);
		m->conn.rlen = 0;
		bufferevent_trigger(m->bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
	}
	log_info("session %s as %s in %s (broker %s)", m->conn.session,
	    m->agent, m->conn.project != NULL ? m->conn.project : "?",
	    m->conn.broker_version != NULL ? m->conn.broker_version : "?");
	if (m->joined)
		mcp_rejoin(m);
	return (0);
}

/* Connect right after initialization so that others see this session. */
static void
mcp_connect_soon_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mcp *m = arg;
	struct op_error err;
	struct timeval tv;

	if (m->eof || m->connected)
		return;
	/*
	 * After a loss, come back by ourselves so that the session and its
	 * locks are reclaimed within the broker's grace period even while
	 * the agent makes no call; only a tool call starts a broker.
	 */
	if (mcp_connect(m, !m->lost, &err) == 0)
		return;
	if (!m->lost) {
		log_warnx("%s (will retry at the next tool call)", err.message);
		return;
	}
	tv.tv_sec = m->retry_ms / 1000;
	tv.tv_usec = (m->retry_ms % 1000) * 1000;
	evtimer_add(m->connect_soon, &tv);
	if ((m->retry_ms *= 2) > MCP_RETRY_MAX_MS)
		m->retry_ms = MCP_RETRY_MAX_MS;
}

/* A progress token of the request, if any. */
static cJSON *
mcp_progress_token(const cJSON *params)
{
	const cJSON *meta, *t;

	meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
	t = cJSON_GetObjectItemCaseSensitive(meta, "progressToken");
	if (!cJSON_IsString(t) && !cJSON_IsNumber(t))
		return (NULL);
	return (cJSON_Duplicate(t, 1));
}

/* Send a validated call to the broker and remember it until answered. */
static void
mcp_forward(struct mcp *m, const cJSON *id, const cJSON *params, const struct op *op,
    const msgpack_object *args)
{
	struct mcp_call *c;
	struct op_error err;
	struct fbuf fb;
	struct timeval tv = { MCP_PROGRESS_SECONDS, 0 };
	int r;

	if (!m->connected && mcp_connect(m, 1, &err) != 0) {
		mcp_tool_error(m, id, "%s: %s. The baton broker could not be reached; "
		    "check that `batond` can start (or run `baton status`), then call "
		    "%s again.", err.code != NULL ? err.code : ERR_UNAVAILABLE,
		    err.message, op->name);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->m = m;
	c->bid = ++m->next_bid;
	c->op = op;
	c->started = mono_now();
	fbuf_init(&fb);
	client_pack_req(&fb, c->bid, op->name);
	pk_object(&fb, args);
	r = mcp_broker_send(m, &fb);
	fbuf_free(&fb);
	if (r != 0) {
		free(c);
		mcp_tool_error(m, id, "%s: the request to %s is too large or the broker "
		    "is not reading; try again with smaller arguments", ERR_LIMIT, op->name);
		return;
	}
	c->id = cJSON_Duplicate(id, 1);
	TAILQ_INSERT_TAIL(&m->calls, c, entry);
	m->ncalls++;
	if ((op->flags & OP_BLOCKS) && (c->progress_token = mcp_progress_token(params)) != NULL) {
		c->progress = event_new(m->base, -1, EV_PERSIST, mcp_progress_cb, c);
		if (c->progress == NULL || event_add(c->progress, &tv) != 0)
			fatalx("mcp: cannot add a progress timer");
	}
}

/* tools/call: validate from the table, then forward. */
static void
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
		mcp_error(m, id, RPC_INVALID_PARAMS, "name", "tools/call needs params.name, "
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
		mcp_forward(m, id, params, op, args);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/* notifications/cancelled: end the named call's wait; it gets no answer. */
static void
mcp_cancelled(struct mcp *m, const cJSON *params)
{
	const cJSON *rid;
	struct mcp_call *c;

	rid = cJSON_GetObjectItemCaseSensitive(params, "requestId");
	if (rid == NULL)
		return;
	TAILQ_FOREACH(c, &m->calls, entry) {
		if (!c->cancelled && cJSON_Compare(c->id, rid, 1)) {
			c->cancelled = 1;
			if (c->progress != NULL)
				event_del(c->progress);
			mcp_broker_cancel(m, c);
			return;
		}
	}
}

static void mcp_line(struct mcp *, const char *, size_t);

/* The value of a hex digit, or -1. */
static int
mcp_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/*
 * The directory of a file:// URI (empty or "localhost" host, %XX
 * decoded), malloc'd and resolved, or NULL when it is not a local
 * directory.
 */
static char *
mcp_root_dir(const char *uri)
{
	char buf[PATH_MAX], *path, *o;
	const char *p;
	struct stat sb;
	int hi, lo;

	if (strncmp(uri, "file://", 7) != 0)
		return (NULL);
	p = uri + 7;
	if (strncmp(p, "localhost/", 10) == 0)
		p += 9;
	if (*p != '/' || strlen(p) >= PATH_MAX)
		return (NULL);
	o = path = xmalloc(strlen(p) + 1);
	for (; *p != '\0' && *p != '?' && *p != '#'; p++) {
		if (*p == '%' && (hi = mcp_hex_digit(p[1])) >= 0 &&
		    (lo = mcp_hex_digit(p[2])) >= 0 &&
		    (hi != 0 || lo != 0)) {
			*o++ = (char)(hi << 4 | lo);
			p += 2;
		} else if (*p == '%') {
			free(path);
			return (NULL);
		} else
			*o++ = *p;
	}
	*o = '\0';
	if (realpath(path, buf) == NULL || stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		log_warnx("root %s is not a local directory; not using it as the project", uri);
		free(path);
		return (NULL);
	}
	free(path);
	return (xstrdup(buf));
}

/* The project is settled: connect, then handle what waited for it. */
static void
mcp_roots_done(struct mcp *m)
{
	struct op_error err;
	char **held = m->held;
	size_t i, n = m->nheld;

	m->roots_pending = 0;
	evtimer_del(m->roots_timer);
	m->held = NULL;
	m->nheld = 0;
	if (mcp_connect(m, 1, &err) != 0)
		log_warnx("%s (will retry at the next tool call)", err.message);
	for (i = 0; i < n; i++) {
		mcp_line(m, held[i], strlen(held[i]));
		free(held[i]);
	}
	free(held);
}

/* Ask the client for its roots; tool calls wait for the answer (bounded). */
static void
mcp_roots_ask(struct mcp *m)
{
	struct timeval tv = { MCP_ROOTS_WAIT_MS / 1000, (MCP_ROOTS_WAIT_MS % 1000) * 1000 };
	cJSON *req = cJSON_CreateObject();

	cJSON_AddStringToObject(req, "jsonrpc", "2.0");
	cJSON_AddStringToObject(req, "id", MCP_ROOTS_ID);
	cJSON_AddStringToObject(req, "method", "roots/list");
	mcp_write(m, req);
	cJSON_Delete(req);
	m->roots_pending = 1;
	evtimer_add(m->roots_timer, &tv);
}

/* The client's roots (or error: result NULL): the first local one is the project. */
static void
mcp_roots_answer(struct mcp *m, const cJSON *result)
{
	const cJSON *roots = cJSON_GetObjectItemCaseSensitive(result, "roots"), *r, *uri;
	char *dir = NULL;

	cJSON_ArrayForEach(r, roots) {
		uri = cJSON_GetObjectItemCaseSensitive(r, "uri");
		if (cJSON_IsString(uri) && (dir = mcp_root_dir(uri->valuestring)) != NULL)
			break;
	}
	if (dir != NULL) {
		log_info("project %s, the client's first root", dir);
		free(m->root_project);
		m->root_project = dir;
		m->opts.project = dir;
	} else
		log_info("no local root from the client; the project comes from the cwd");
	mcp_roots_done(m);
}

/* The client did not answer roots/list in time. */
static void
mcp_roots_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mcp *m = arg;

	log_warnx("no answer to roots/list in %d ms; the project comes from the cwd",
	    MCP_ROOTS_WAIT_MS);
	mcp_roots_done(m);
}

/* Dispatch a request (it has an id). */
static void
mcp_request(struct mcp *m, const cJSON *id, const char *method, const cJSON *params)
{
	if (strcmp(method, "initialize") == 0)
		mcp_initialize(m, id, params);
	else if (strcmp(method, "ping") == 0)
		mcp_result(m, id, cJSON_CreateObject());
	else if (strcmp(method, "tools/list") == 0)
		mcp_tools_list(m, id);
	else if (strcmp(method, "tools/call") == 0)
		mcp_tools_call(m, id, params);
	else if (strcmp(method, "prompts/list") == 0 && mcp_has_op("guide"))
		mcp_prompts_list(m, id);
	else if (strcmp(method, "prompts/get") == 0 && mcp_has_op("guide"))
		mcp_prompts_get(m, id, params);
	else
		mcp_error(m, id, RPC_METHOD_NOT_FOUND, NULL, "method not found: %.100s", method);
}

/* Dispatch a notification (no id): never answered. */
static void
mcp_notification(struct mcp *m, const char *method, const cJSON *params)
{
	struct timeval tv = { 0, 0 };

	if (strcmp(method, "notifications/cancelled") == 0)
		mcp_cancelled(m, params);
	else if (strcmp(method, "notifications/initialized") == 0) {
		if (m->connected || m->roots_pending)
			return;
		if (m->client_roots && m->root_project == NULL && !project_explicit(&m->opts))
			mcp_roots_ask(m);
		else
			event_add(m->connect_soon, &tv);
	} else
		log_debug("notification %s ignored", method);
}

/* One line of stdin: a JSON-RPC message. */
static void
mcp_line(struct mcp *m, const char *line, size_t len)
{
	const cJSON *id, *method, *jsonrpc, *params;
	cJSON *msg;
	size_t i;

	for (i = 0; i < len && strchr(" \t\r", line[i]) != NULL; i++)
		;
	if (i == len)
		return; /* blank line */
	if ((msg = cJSON_ParseWithLength(line, len)) == NULL) {
		mcp_error(m, NULL, RPC_PARSE_ERROR, NULL, "parse error: the line is not "
		    "valid JSON");
		return;
	}
	if (cJSON_IsArray(msg)) {
		mcp_error(m, NULL, RPC_INVALID_REQUEST, NULL, "invalid request: batches are "
		    "not supported; send one message per line");
		goto out;
	}
	if (!cJSON_IsObject(msg)) {
		mcp_error(m, NULL, RPC_INVALID_REQUEST, NULL, "invalid request: not an object");
		goto out;
	}
	id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	method = cJSON_GetObjectItemCaseSensitive(msg, "method");
	jsonrpc = cJSON_GetObjectItemCaseSensitive(msg, "jsonrpc");
	params = cJSON_GetObjectItemCaseSensitive(msg, "params");
	if (id != NULL && !cJSON_IsString(id) && !cJSON_IsNumber(id)) {
		mcp_error(m, NULL, RPC_INVALID_REQUEST, "id", "invalid request: id must be "
		    "a string or a number");
		goto out;
	}
	if (!cJSON_IsString(jsonrpc) || strcmp(jsonrpc->valuestring, "2.0") != 0) {
		mcp_error(m, id, RPC_INVALID_REQUEST, "jsonrpc", "invalid request: jsonrpc "
		    "must be \"2.0\"");
		goto out;
	}
	if (method == NULL && id != NULL && (cJSON_GetObjectItemCaseSensitive(msg, "result") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(msg, "error") != NULL)) {
		/* a response: only roots/list is ours */
		if (m->roots_pending && cJSON_IsString(id) &&
		    strcmp(id->valuestring, MCP_ROOTS_ID) == 0)
			mcp_roots_answer(m, cJSON_GetObjectItemCaseSensitive(msg, "result"));
		goto out;
	}
	if (m->roots_pending && m->nheld < MCP_HELD_MAX && cJSON_IsString(method) &&
	    strcmp(method->valuestring, "ping") != 0) {
		/* tool calls wait for the project: the client's answer comes first */
		m->held = xreallocarray(m->held, m->nheld + 1, sizeof *m->held);
		m->held[m->nheld++] = xstrndup(line, len);
		goto out;
	}
	if (!cJSON_IsString(method)) {
		mcp_error(m, id, RPC_INVALID_REQUEST, "method", "invalid request: method "
		    "must be a string");
		goto out;
	}
	if (params != NULL && !cJSON_IsObject(params)) {
		if (id != NULL)
			mcp_error(m, id, RPC_INVALID_PARAMS, "params", "invalid params: params "
			    "must be an object");
		goto out;
	}
	if (id == NULL)
		mcp_notification(m, method->valuestring, params);
	else
		mcp_request(m, id, method->valuestring, params);
out:
	cJSON_Delete(msg);
}

/* Bytes on stdin: handle every complete line. */
static void
mcp_stdin_read(struct bufferevent *bev, void *arg)
{
	struct mcp *m = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	size_t n;
	char *line;

	for (;;) {
		/* a client that does not read its answers gets no more of them */
		if (!m->eof &&
		    evbuffer_get_length(bufferevent_get_output(m->out)) > MCP_STDOUT_HIGH) {
			bufferevent_disable(bev, EV_READ);
			m->paused = 1;
			return;
		}
		eol = evbuffer_search_eol(in, NULL, &n, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) <= MCP_LINE_MAX)
				return;
			/* no newline in sight: reject now, skip to the next one */
			if (!m->skipping)
				mcp_error(m, NULL, RPC_PARSE_ERROR, NULL, "parse error: message "
				    "longer than %d bytes; send at most %d bytes per line",
				    MCP_LINE_MAX, MCP_LINE_MAX);
			m->skipping = 1;
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		if (m->skipping || (size_t)eol.pos > MCP_LINE_MAX) {
			if (!m->skipping)
				mcp_error(m, NULL, RPC_PARSE_ERROR, NULL, "parse error: message "
				    "longer than %d bytes", MCP_LINE_MAX);
			m->skipping = 0;
			evbuffer_drain(in, (size_t)eol.pos + n);
			continue;
		}
		line = xmalloc((size_t)eol.pos + 1);
		evbuffer_remove(in, line, (size_t)eol.pos);
		line[eol.pos] = '\0';
		evbuffer_drain(in, n);
		mcp_line(m, line, (size_t)eol.pos);
		free(line);
	}
}

/* Give up on answers still owed after stdin closed. */
static void
mcp_grace_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mcp *m = arg;

	log_info("%zu call(s) unanswered at exit", m->ncalls);
	event_base_loopexit(m->base, NULL);
}

/* Leave the loop once stdin is closed, nothing is owed and stdout drained. */
static void
mcp_maybe_exit(struct mcp *m)
{
	if (m->eof && m->ncalls == 0 &&
	    evbuffer_get_length(bufferevent_get_output(m->out)) == 0)
		event_base_loopexit(m->base, NULL);
}

/* stdin closed (or failed): finish what is owed, then exit. */
static void
mcp_stdin_event(struct bufferevent *bev, short what, void *arg)
{
	struct mcp *m = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct timeval tv = { MCP_EOF_GRACE_SECONDS, 0 };
	struct mcp_call *c;
	size_t len;
	char *line;

	if (m->eof)
		return;
	if (what & BEV_EVENT_ERROR)
		log_warnx("stdin: %s", strerror(errno));
	m->eof = 1;
	mcp_stdin_read(bev, m); /* complete lines still buffered */
	/* a last line without its newline */
	if (!m->skipping && (len = evbuffer_get_length(in)) > 0) {
		line = xmalloc(len + 1);
		evbuffer_remove(in, line, len);
		line[len] = '\0';
		mcp_line(m, line, len);
		free(line);
	}
	bufferevent_disable(bev, EV_READ);
	if (m->roots_pending)
		mcp_roots_done(m); /* what waited for the roots goes now */
	/* the client is gone: end the waits, send what comes back quickly */
	TAILQ_FOREACH(c, &m->calls, entry) {
		if (!c->cancelled)
			mcp_broker_cancel(m, c);
	}
	if (m->ncalls > 0)
		event_add(m->grace, &tv);
	mcp_maybe_exit(m);
}

/* stdout drained: read stdin again if it was paused, or exit if done. */
static void
mcp_stdout_write(struct bufferevent *bev, void *arg)
{
	struct mcp *m = arg;

	if (m->paused && !m->eof) {
		m->paused = 0;
		bufferevent_enable(m->in, EV_READ);
		/* lines already buffered need no new bytes to be handled */
		bufferevent_trigger(m->in, EV_READ, BEV_OPT_DEFER_CALLBACKS);
	}
	mcp_maybe_exit(m);
}

/* stdout failed: the client is gone. */
static void
mcp_stdout_event(struct bufferevent *bev, short what, void *arg)
{
	struct mcp *m = arg;

	log_info("stdout closed: exiting");
	evbuffer_drain(bufferevent_get_output(bev), evbuffer_get_length(bufferevent_get_output(bev)));
	event_base_loopexit(m->base, NULL);
}

/*
 * Keep the protocol stream private: fd 1 becomes a copy of stderr and
 * fd 0 /dev/null, so nothing else (a library, a started broker) can
 * write to the client or eat its messages.
 */
static int
mcp_take_stdio(struct mcp *m)
{
	int null;

	if ((m->in_fd = fcntl(0, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (m->out_fd = fcntl(1, F_DUPFD_CLOEXEC, 3)) == -1) {
		log_warnx("stdio: %s", strerror(errno));
		return (-1);
	}
	/* without a stderr, strays go nowhere */
	if ((null = open("/dev/null", O_RDWR)) == -1 || dup2(null, 0) == -1 ||
	    (dup2(2, 1) == -1 && dup2(null, 1) == -1)) {
		log_warnx("stdio: %s", strerror(errno));
		return (-1);
	}
	if (null > 2)
		close(null);
	return (0);
}

/* Write what is left on stdout before exiting (the fd is blocking). */
static void
mcp_flush(struct mcp *m)
{
	struct evbuffer *out = bufferevent_get_output(m->out);

	while (evbuffer_get_length(out) > 0) {
		if (evbuffer_write(out, m->out_fd) <= 0 && errno != EINTR && errno != EAGAIN)
			break;
	}
}

int
mcp_main(const struct client_opts *opts)
{
	struct event_config *cfg;
	struct mcp m;
	struct mcp_call *c;

	memset(&m, 0, sizeof m);
	m.opts = *opts;
	m.conn.fd = -1;
	TAILQ_INIT(&m.calls);
	signal(SIGPIPE, SIG_IGN);
	if (mcp_take_stdio(&m) != 0)
		return (EXIT_SOFTWARE);
	/*
	 * epoll refuses regular files and /dev/null; poll takes any fd, and
	 * we watch at most three.
	 */
	if ((cfg = event_config_new()) == NULL)
		fatalx("mcp: event_config_new failed");
	event_config_avoid_method(cfg, "epoll");
	if ((m.base = event_base_new_with_config(cfg)) == NULL)
		fatalx("mcp: event_base_new failed");
	event_config_free(cfg);
	m.in = bufferevent_socket_new(m.base, m.in_fd, 0);
	m.out = bufferevent_socket_new(m.base, m.out_fd, 0);
	m.grace = evtimer_new(m.base, mcp_grace_cb, &m);
	m.connect_soon = evtimer_new(m.base, mcp_connect_soon_cb, &m);
	m.roots_timer = evtimer_new(m.base, mcp_roots_timeout_cb, &m);
	if (m.in == NULL || m.out == NULL || m.grace == NULL || m.connect_soon == NULL ||
	    m.roots_timer == NULL)
		fatalx("mcp: cannot set up the event loop");
	bufferevent_setcb(m.in, mcp_stdin_read, NULL, mcp_stdin_event, &m);
	bufferevent_setcb(m.out, NULL, mcp_stdout_write, mcp_stdout_event, &m);
	bufferevent_enable(m.in, EV_READ);
	bufferevent_enable(m.out, EV_WRITE);
	mcp_tools_json(&m); /* a table error shows at start, not mid-session */

	event_base_dispatch(m.base);

	mcp_flush(&m);
	while ((c = TAILQ_FIRST(&m.calls)) != NULL)
		mcp_call_free(&m, c);
	if (m.bev != NULL)
		bufferevent_free(m.bev);
	conn_close(&m.conn);
	bufferevent_free(m.in);
	bufferevent_free(m.out);
	event_free(m.grace);
	event_free(m.connect_soon);
	event_free(m.roots_timer);
	while (m.nheld > 0)
		free(m.held[--m.nheld]);
	free(m.held);
	free(m.root_project);
	event_base_free(m.base);
	free(m.tools_json);
	free(m.agent);
	free(m.role);
	free(m.client_name);
	free(m.client_version);
	free(m.token);
	close(m.in_fd);
	close(m.out_fd);
	return (0);
}
