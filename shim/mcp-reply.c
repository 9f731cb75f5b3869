/*
 * What `baton mcp` writes on stdout: JSON-RPC 2.0 results and errors,
 * one message per line, and the tools/call results (text content, an
 * error flag).
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "shim.h"

/*
 * Write n bytes to bev's descriptor at once when nothing is queued
 * before them (the usual case: a pipe or socket with room), without the
 * poll for "writable" a bufferevent makes first; what does not go through
 * is queued.  0, or -1 when it cannot be queued.  A failed write is left
 * to the bufferevent, which meets it again and reports it.
 */
int
bev_write_now(struct bufferevent *bev, const void *p, size_t n, int sock)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	ssize_t w = 0;

	if (fd != -1 && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		do
			w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
		while (w == -1 && errno == EINTR);
		if (w < 0)
			w = 0;
	}
	if ((size_t)w == n)
		return (0);
	return (bufferevent_write(bev, (const char *)p + w, n - (size_t)w));
}

#define BEV_READ_CHUNK 4096 /* bytes per read, as a bufferevent reads */

/* A bufferevent whose reading is done here (bev_reader_new). */
struct bev_reader {
	struct bufferevent *bev;
	struct event *ev;
};

/*
 * Bytes to read on the reader's descriptor: one read() into its
 * bufferevent's input, then its read callback, as the bufferevent would
 * run them; end of file or a failure goes to its event callback, and
 * reading stops.
 */
static void
bev_reader_cb(evutil_socket_t fd, short events, void *arg)
{
	struct bev_reader *r = arg;
	struct evbuffer *in = bufferevent_get_input(r->bev);
	char buf[BEV_READ_CHUNK];
	bufferevent_data_cb readcb;
	bufferevent_event_cb eventcb;
	void *cbarg;
	ssize_t n;
	int rc;

	bufferevent_getcb(r->bev, &readcb, NULL, &eventcb, &cbarg);
	do
		n = read(fd, buf, sizeof buf);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		/* a chain of the bytes' size, not of the chunk's: the usual message is small */
		evbuffer_unfreeze(in, 0); /* the bufferevent thaws its input to fill it, too */
		rc = evbuffer_add(in, buf, (size_t)n);
		evbuffer_freeze(in, 0);
		if (rc != 0)
			fatalx("mcp: cannot keep input");
		if (readcb != NULL)
			readcb(r->bev, cbarg);
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	event_del(r->ev);
	if (eventcb != NULL)
		eventcb(r->bev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR),
		    cbarg);
}

/*
 * Read bev's descriptor here instead of in the bufferevent, which asks
 * the kernel how much there is (ioctl FIONREAD) before every read: one
 * system call less per message.  bev keeps its callbacks and its output;
 * bufferevent_trigger still runs its read callback.  Reading starts now.
 */
struct bev_reader *
bev_reader_new(struct bufferevent *bev)
{
	struct bev_reader *r = xcalloc(1, sizeof *r);

	r->bev = bev;
	bufferevent_disable(bev, EV_READ);
	r->ev = event_new(bufferevent_get_base(bev), bufferevent_getfd(bev),
	    EV_READ | EV_PERSIST, bev_reader_cb, r);
	if (r->ev == NULL || event_add(r->ev, NULL) != 0)
		fatalx("mcp: cannot watch for input");
	return (r);
}

/* Start (on) or stop reading. */
void
bev_reader_enable(struct bev_reader *r, int on)
{
	if (on ? event_add(r->ev, NULL) != 0 : event_del(r->ev) != 0)
		fatalx("mcp: cannot watch for input");
}

/* Stop reading for good (before the bufferevent is freed); NULL is nothing. */
void
bev_reader_free(struct bev_reader *r)
{
	if (r == NULL)
		return;
	event_free(r->ev);
	free(r);
}

/* Queue a line of n bytes (its newline included) on stdout (copied when it waits). */
static void
mcp_write_line(struct mcp *m, const char *s, size_t n)
{
	if (bev_write_now(m->out, s, n, 0) != 0)
		fatalx("mcp: cannot queue output");
	/* written at once, the bufferevent says nothing: the exit waits on it */
	if (m->eof && evbuffer_get_length(bufferevent_get_output(m->out)) == 0)
		bufferevent_trigger(m->out, EV_WRITE, BEV_OPT_DEFER_CALLBACKS);
}

/* Queue one JSON-RPC message on stdout, as one line. */
void
mcp_write(struct mcp *m, const cJSON *msg)
{
	size_t len;
	char *s;

	if (m->sink != NULL) { /* baton mcp --http */
		m->sink(m, msg);
		return;
	}
	if ((s = json_print(msg, &len)) == NULL)
		fatalx("mcp: cannot print a JSON message");
	s[len] = '\n'; /* the line in one write: json_print leaves room for its NUL */
	mcp_write_line(m, s, len + 1);
	free(s);
}

/*
 * A result printed straight into o (stdio only, not --http): o begins
 * with the message up to its result (mcp_printed_begin), the caller
 * prints the result, mcp_printed_end sends the line: the bytes mcp_result
 * would send, without building objects to print them.  o's buffer stays
 * the caller's (kept for the next answer).
 */
void
mcp_printed_begin(struct jout *o, const cJSON *id)
{
	jout_lit(o, "{\"jsonrpc\":\"2.0\",\"id\":");
	if (id == NULL)
		jout_add(o, "null", 4);
	else if (jout_json(o, id) != 0)
		fatalx("mcp: cannot print an id");
	jout_lit(o, ",\"result\":");
}

void
mcp_printed_end(struct mcp *m, struct jout *o)
{
	size_t len;

	jout_add(o, "}", 1);
	jout_end(o, &len)[len] = '\n'; /* jout_end leaves room for the NUL */
	mcp_write_line(m, o->s, len + 1);
}

/* What mcp_result adds to a result of revision rev (none before MCP_REV_MODERN), printed. */
void
mcp_printed_meta(struct jout *o, enum mcp_rev rev)
{
	static char *info;
	cJSON *j;

	if (rev < MCP_REV_MODERN)
		return;
	if (info == NULL) { /* printed once, kept */
		j = mcp_server_info();
		if ((info = json_print(j, NULL)) == NULL)
			fatalx("mcp: cannot print the server's info");
		cJSON_Delete(j);
	}
	jout_lit(o, ",\"resultType\":\"complete\",\"_meta\":{");
	jout_lit(o, "\"io.modelcontextprotocol/serverInfo\":");
	jout_add(o, info, strlen(info));
	jout_add(o, "}", 1);
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
