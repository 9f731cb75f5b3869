/*
 * What `baton mcp` writes on stdout: JSON-RPC 2.0 results and errors,
 * one message per line, and the tools/call results (text content, an
 * error flag).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "shim.h"

/* Queue one JSON-RPC message on stdout, as one line. */
void
mcp_write(struct mcp *m, const cJSON *msg)
{
	char *s;

	if (m->sink != NULL) { /* baton mcp --http */
		m->sink(m, msg);
		return;
	}
	if ((s = cJSON_PrintUnformatted(msg)) == NULL)
		fatalx("mcp: cannot print a JSON message");
	if (bufferevent_write(m->out, s, strlen(s)) != 0 ||
	    bufferevent_write(m->out, "\n", 1) != 0)
		fatalx("mcp: cannot queue output");
	free(s);
}

/* A message skeleton {jsonrpc, id}; id NULL gives id null. */
cJSON *
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

/*
 * Send a result of revision rev; takes ownership of result.  From
 * 2026-07-28 every result says its kind (resultType) and who answers.
 */
void
mcp_result(struct mcp *m, const cJSON *id, enum mcp_rev rev, cJSON *result)
{
	cJSON *msg, *meta;

	if (rev >= MCP_REV_MODERN) {
		if (cJSON_GetObjectItemCaseSensitive(result, "resultType") == NULL)
			cJSON_AddStringToObject(result, "resultType", "complete");
		if ((meta = cJSON_GetObjectItemCaseSensitive(result, "_meta")) == NULL)
			meta = cJSON_AddObjectToObject(result, "_meta");
		cJSON_AddItemToObject(meta, "io.modelcontextprotocol/serverInfo",
		    mcp_server_info());
	}
	msg = mcp_message(id);
	cJSON_AddItemToObject(msg, "result", result);
	mcp_write(m, msg);
	cJSON_Delete(msg);
}

/* Send an error with data (owned, or NULL). */
static void
mcp_error_send(struct mcp *m, const cJSON *id, int code, cJSON *data, const char *text)
{
	cJSON *msg, *err;

	msg = mcp_message(id);
	err = cJSON_AddObjectToObject(msg, "error");
	cJSON_AddNumberToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", text);
	if (data != NULL)
		cJSON_AddItemToObject(err, "data", data);
	mcp_write(m, msg);
	cJSON_Delete(msg);
}

/* Send an error; field, when not empty, goes into error.data. */
void printflike(5, 6)
    mcp_error(struct mcp *m, const cJSON *id, int code, const char *field, const char *fmt, ...)
{
	cJSON *data = NULL;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	if (field != NULL && *field != '\0') {
		data = cJSON_CreateObject();
		cJSON_AddStringToObject(data, "field", field);
	}
	mcp_error_send(m, id, code, data, text);
	free(text);
}

/* Send an error with a data object of its own (owned). */
void printflike(5, 6)
    mcp_error_data(struct mcp *m, const cJSON *id, int code, cJSON *data, const char *fmt, ...)
{
	char *text;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	mcp_error_send(m, id, code, data, text);
	free(text);
}

/* A tools/call result whose content is one text item. */
cJSON *
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
void printflike(4, 5)
    mcp_tool_error(struct mcp *m, const cJSON *id, enum mcp_rev rev, const char *fmt, ...)
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
	mcp_result(m, id, rev, mcp_text_result(text, 1));
	free(text);
}
