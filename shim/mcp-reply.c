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

/* Send a result; takes ownership of result. */
void
mcp_result(struct mcp *m, const cJSON *id, cJSON *result)
{
	cJSON *msg;

	msg = mcp_message(id);
	cJSON_AddItemToObject(msg, "result", result);
	mcp_write(m, msg);
	cJSON_Delete(msg);
}

/* Send an error; field, when not empty, goes into error.data. */
void printflike(5, 6)
    mcp_error(struct mcp *m, const cJSON *id, int code, const char *field, const char *fmt, ...)
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
void printflike(3, 4) mcp_tool_error(struct mcp *m, const cJSON *id, const char *fmt, ...)
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
