/*
 * `baton mcp`'s connection to the broker: tools/call forwarded as req
 * frames on one connection, where many calls may wait at once, told
 * apart by the broker request id; their answers, cancels and progress;
 * and when the broker goes away, the calls owed fail with a text that
 * says what to do while a background reconnect reclaims the session
 * (and its locks) with its token.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "shim.h"

#define MCP_PROGRESS_SECONDS 5 /* keep-alive for waiting calls */
#define MCP_BROKER_OUT_MAX (8 * 1024 * 1024)
#define MCP_RETRY_FIRST_MS 50 /* reconnecting after the broker went away... */
#define MCP_RETRY_MAX_MS 2000 /* ...backing off to this (grace is 10 s) */

static void mcp_broker_lost(struct mcp *, const char *);

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
void
mcp_call_free(struct mcp *m, struct mcp_call *c)
{
	TAILQ_REMOVE(&m->calls, c, entry);
	m->ncalls--;
	if (c->progress != NULL)
		event_free(c->progress);
	cJSON_Delete(c->id);
	cJSON_Delete(c->progress_token);
	free(c->prompt);
	xop_free(c->xop);
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
	return (bev_write_now(m->bev, fb->sb.data, fb->sb.size, 1));
}

/* Ask the broker to end the wait of a call (it answers "cancelled"). */
static void
mcp_broker_cancel(struct mcp *m, struct mcp_call *c)
{
	struct fbuf fb;

	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "t", FRAME_CANCEL);
	pk_kuint(&fb, "id", c->bid);
	pk_map_close(&fb);
	if (mcp_broker_send(m, &fb) != 0)
		log_warnx("cannot send cancel for request %llu", (unsigned long long)c->bid);
	fbuf_free(&fb);
}

/*
 * agent_join answered: a reconnect must come back under the joined name
 * and role, not the one this shim started with.
 */
void
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
	client_req_open(&fb, ++m->next_bid, "agent_join");
	pk_map_open(&fb);
	pk_kstr(&fb, "name", m->agent);
	pk_kstr_opt(&fb, "role", m->role);
	pk_map_close(&fb);
	client_req_close(&fb);
	if (mcp_broker_send(m, &fb) != 0)
		log_warnx("cannot join again as %s after the reconnect", m->agent);
	fbuf_free(&fb);
}

/* Answer a call from the broker's res frame. */
static void
mcp_broker_res(struct mcp *m, const msgpack_object *f)
{
	struct mcp_call *c;
	int64_t bid;

	if (mp_int(mp_get(f, "id"), &bid) != 0 || bid < 0 ||
	    (c = mcp_call_find_bid(m, (uint64_t)bid)) == NULL) {
		log_debug("answer to an unknown request: ignored");
		return;
	}
	if (c->task != NULL) {
		mcp_task_answer(m, c, f); /* frees c */
		return;
	}
	if (c->xop != NULL) {
		mcp_xop_answer(m, c, f); /* frees c */
		return;
	}
	if (c->cancelled || c->id == NULL) {
		/* MCP: a cancelled request gets no response; ours need none */
		mcp_call_free(m, c);
		return;
	}
	if (c->prompt != NULL)
		mcp_prompt_answer(m, c, f);
	else
		mcp_tool_answer(m, c, f);
	mcp_call_free(m, c);
}

/* Handle one decoded broker frame; -1 when the connection must go. */
static int
mcp_broker_frame(void *arg, const msgpack_object *f, char *why, size_t whysize)
{
	struct mcp *m = arg;
	char *msg;

	switch (mp_frame_type(f)) {
	case FRAME_RES: mcp_broker_res(m, f); return (0);
	case FRAME_PUSH: return (0); /* nothing subscribes yet */
	case FRAME_ERROR:
		msg = mp_strdup(mp_get(f, "message"));
		snprintf(why, whysize, "the broker closed the connection: %s",
		    msg != NULL ? msg : "no reason given");
		free(msg);
		return (-1);
	default: snprintf(why, whysize, "unexpected frame from the broker"); return (-1);
	}
}

/*
 * Decode every complete frame in `in` and hand each to fn; 0 when more
 * bytes are needed, -1 with why set when the connection must go (a bad
 * frame, or fn's -1).  Shared with the compat links (compat-link.c).
 *
 * Frames decode into one zone kept and cleared between frames, not a
 * zone made and freed per frame; nothing keeps a frame past fn.  Should
 * fn read frames itself (it does not now), that inner read has a zone of
 * its own.
 */
int
mcp_read_frames(struct evbuffer *in, int (*fn)(void *, const msgpack_object *, char *, size_t),
    void *arg, char *why, size_t whysize)
{
	static msgpack_zone *kept;
	static int busy;
	msgpack_zone *z = busy ? NULL : kept;
	msgpack_object f;
	const char *cause = NULL;
	unsigned char *p;
	ssize_t n;
	size_t len;
	int r = 0, was_busy = busy;

	if (z == NULL && (z = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)) == NULL)
		fatalx("mcp: out of memory");
	if (!was_busy)
		kept = z;
	busy = 1;
	for (;;) {
		len = evbuffer_get_length(in);
		if (len < FRAME_HDR)
			break;
		p = evbuffer_pullup(in, FRAME_HDR);
		if ((n = frame_length(p, FRAME_HDR, FRAME_MAX_DEFAULT, &cause)) < 0) {
			snprintf(why, whysize, "bad frame from the broker: %s", cause);
			r = -1;
			break;
		}
		if (len < FRAME_HDR + (size_t)n)
			break;
		p = evbuffer_pullup(in, FRAME_HDR + n);
		if (frame_decode_zone(p + FRAME_HDR, (size_t)n, z, &f, &cause) != 0) {
			snprintf(why, whysize, "bad frame from the broker: %s", cause);
			r = -1;
		} else
			r = fn(arg, &f, why, whysize);
		msgpack_zone_clear(z);
		if (r != 0)
			break;
		evbuffer_drain(in, FRAME_HDR + (size_t)n);
	}
	busy = was_busy;
	if (was_busy)
		msgpack_zone_free(z);
	return (r != 0 ? -1 : 0);
}

/* Bytes from the broker: handle every complete frame. */
static void
mcp_broker_read(struct bufferevent *bev, void *arg)
{
	struct mcp *m = arg;
	char why[256];

	if (mcp_read_frames(bufferevent_get_input(bev), mcp_broker_frame, m, why, sizeof why) !=
	    0)
		mcp_broker_lost(m, why);
}

/* What a bufferevent event on a broker connection means, in words. */
void
mcp_event_why(short what, char *why, size_t whysize)
{
	if (what & BEV_EVENT_EOF)
		snprintf(why, whysize, "the broker closed the connection");
	else
		snprintf(why, whysize, "broker connection error: %s", strerror(errno));
}

/* The broker connection closed or failed. */
static void
mcp_broker_event(struct bufferevent *bev, short what, void *arg)
{
	char why[256];

	mcp_event_why(what, why, sizeof why);
	mcp_broker_lost(arg, why);
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
		if (c->task != NULL) {
			mcp_task_lost(m, c, why); /* frees c */
			continue;
		}
		if (!c->cancelled && c->id != NULL)
			mcp_tool_error(m, c->id, c->rev,
			    "%s: %s before answering %s. Call the tool "
			    "again: baton reconnects (starting the broker if needed) and "
			    "reclaims your session and its locks.",
			    ERR_UNAVAILABLE, why, c->op->name);
		mcp_call_free(m, c);
	}
	bev_reader_free(m->bev_rd);
	m->bev_rd = NULL;
	if (m->bev != NULL)
		bufferevent_free(m->bev);
	m->bev = NULL;
	conn_close(&m->conn);
	m->connected = 0;
	if (!m->eof) {
		struct timeval tv = tv_secs(MCP_RETRY_FIRST_MS / 1000.0);

		m->lost = 1;
		m->retry_ms = MCP_RETRY_FIRST_MS * 2;
		evtimer_add(m->connect_soon, &tv);
	}
	mcp_maybe_exit(m);
}

/*
 * Read and write an open connection c through a bufferevent of base with
 * these callbacks (bytes that came with the welcome are read first); the
 * bufferevent, or NULL with err (c is closed).
 */
struct bufferevent *
mcp_conn_attach(struct event_base *base, struct conn *c, bufferevent_data_cb readcb,
    bufferevent_event_cb eventcb, void *arg, struct op_error *err)
{
	struct bufferevent *bev;

	if (set_nonblock(c->fd) != 0 || set_cloexec(c->fd) != 0) {
		op_error_set(err, ERR_INTERNAL, NULL, "broker socket: %s", strerror(errno));
		conn_close(c);
		return (NULL);
	}
	if ((bev = bufferevent_socket_new(base, c->fd, 0)) == NULL)
		fatalx("mcp: bufferevent_socket_new failed");
	bufferevent_setcb(bev, readcb, NULL, eventcb, arg);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (c->rlen > 0) {
		/* the input takes bytes from its reader only: thawed for these, as bev_reader_cb does */
		evbuffer_unfreeze(bufferevent_get_input(bev), 0);
		if (evbuffer_add(bufferevent_get_input(bev), c->rbuf, c->rlen) != 0)
			fatalx("mcp: cannot keep input");
		evbuffer_freeze(bufferevent_get_input(bev), 0);
		c->rlen = 0;
		bufferevent_trigger(bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
	}
	return (bev);
}

/* Open the broker connection (starting the broker if allowed and may_start). */
int
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
	if ((m->bev = mcp_conn_attach(m->base, &m->conn, mcp_broker_read, mcp_broker_event, m,
		 err)) == NULL)
		return (-1);
	m->bev_rd = bev_reader_new(m->bev);
	m->connected = 1;
	m->lost = 0;
	evtimer_del(m->connect_soon);
	free(m->token);
	m->token = xstrdup(m->conn.token);
	if (m->conn.agent != NULL && strcmp(m->conn.agent, m->agent) != 0) {
		free(m->agent);
		m->agent = xstrdup(m->conn.agent);
	}
	log_info("session %s as %s in %s (broker %s)", m->conn.session, m->agent,
	    m->conn.project != NULL ? m->conn.project : "?",
	    m->conn.broker_version != NULL ? m->conn.broker_version : "?");
	if (m->joined)
		mcp_rejoin(m);
	return (0);
}

/* Connect right after initialization so that others see this session. */
void
mcp_connect_soon_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mcp *m = arg;
	struct op_error err;
	struct timeval tv = tv_secs(m->retry_ms / 1000.0);

	if (m->eof || m->connected)
		return;
	if (m->compat != NULL) {
		/* the client's own session, so that others see it at once */
		if (compat_link_get(m, NULL, &err) == NULL)
			log_warnx("%s (will retry at the next tool call)", err.message);
		return;
	}
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

/*
 * Send a validated call of op to the broker, args its len bytes of
 * packed arguments, and remember it until answered: the call (its
 * JSON-RPC id unset: the caller sets what it is for), or NULL with err.
 */
struct mcp_call *
mcp_call_send(struct mcp *m, const struct op *op, const void *args, size_t len, int progress,
    struct op_error *err)
{
	struct mcp_call *c;
	struct fbuf fb;
	int r;

	memset(err, 0, sizeof *err);
	if (!m->connected && mcp_connect(m, 1, err) != 0) {
		if (err->code == NULL)
			err->code = ERR_UNAVAILABLE;
		return (NULL);
	}
	c = xcalloc(1, sizeof *c);
	c->m = m;
	c->bid = ++m->next_bid;
	c->op = op;
	c->started = mono_now();
	fbuf_init(&fb);
	client_req_open(&fb, c->bid, op->name);
	pk_raw(&fb, args, len);
	if (progress)
		pk_kbool(&fb, "p", 1); /* progress keeps the call alive: the longer cap */
	client_req_close(&fb);
	r = mcp_broker_send(m, &fb);
	fbuf_free(&fb);
	if (r != 0) {
		free(c);
		op_error_set(err, ERR_LIMIT, NULL,
		    "the request to %s is too large or the broker is not reading; try again "
		    "with smaller arguments",
		    op->name);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&m->calls, c, entry);
	m->ncalls++;
	return (c);
}

/*
 * Send a tools/call (or prompts/get) to the broker and remember it until
 * answered: the call, or NULL when it could not be sent (the client was
 * told why).
 */
struct mcp_call *
mcp_forward(struct mcp *m, const struct mcp_req *req, const cJSON *params, const struct op *op,
    const void *args, size_t len)
{
	struct mcp_call *c;
	struct op_error err;
	struct timeval tv = tv_secs(MCP_PROGRESS_SECONDS);
	cJSON *ptok = (op->flags & OP_BLOCKS) ? mcp_progress_token(params) : NULL;

	if ((c = mcp_call_send(m, op, args, len, ptok != NULL, &err)) == NULL) {
		cJSON_Delete(ptok);
		if (strcmp(err.code, ERR_LIMIT) == 0)
			mcp_tool_error(m, req->id, req->rev, "%s: %s", err.code, err.message);
		else
			mcp_tool_error(m, req->id, req->rev,
			    "%s: %s. The baton broker could not be reached; check that "
			    "`batond` "
			    "can start (or run `baton status`), then call %s again.",
			    err.code, err.message, op->name);
		return (NULL);
	}
	c->id = cJSON_Duplicate(req->id, 1);
	c->rev = req->rev;
	if ((c->progress_token = ptok) != NULL) {
		c->progress = event_new(m->base, -1, EV_PERSIST, mcp_progress_cb, c);
		if (c->progress == NULL || event_add(c->progress, &tv) != 0)
			fatalx("mcp: cannot add a progress timer");
	}
	return (c);
}

/* Ask the broker to end the wait of a call (it answers "cancelled" or what it got). */
void
mcp_call_cancel(struct mcp *m, struct mcp_call *c)
{
	c->cancelled = 1;
	if (c->progress != NULL)
		event_del(c->progress);
	mcp_broker_cancel(m, c);
}

/* notifications/cancelled: end the named call's wait; it gets no answer. */
void
mcp_cancelled(struct mcp *m, const cJSON *params)
{
	const cJSON *rid;
	struct mcp_call *c;

	rid = cJSON_GetObjectItemCaseSensitive(params, "requestId");
	if (rid == NULL || compat_cancelled(m, rid))
		return;
	TAILQ_FOREACH(c, &m->calls, entry) {
		if (!c->cancelled && c->id != NULL && c->task == NULL &&
		    mcp_id_equal(c->id, rid)) {
			mcp_call_cancel(m, c);
			return;
		}
	}
}

/* The client is gone: end the waits of every call, so what comes back quickly is sent. */
void
mcp_cancel_all(struct mcp *m)
{
	struct mcp_call *c;

	TAILQ_FOREACH(c, &m->calls, entry) {
		if (!c->cancelled)
			mcp_broker_cancel(m, c);
	}
}
