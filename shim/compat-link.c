/*
 * The broker sessions behind the compat profiles (compat.c): one per
 * agent identity.  The seeds name the agent in each call (Airlock's
 * agent_id, Lockstep's owner and author), and several agents may share
 * one server (subagents of one client, or every client of `baton mcp
 * --http`): each identity gets a broker session of its own, named after
 * it, so that its locks, leases and notes are its own and go when it
 * goes.  A link is a connection like mcp-broker.c's, with its own
 * requests in flight; the links live as long as the process (or, for an
 * Airlock registration, until it lapses), and with them what their
 * sessions hold.
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

#define COMPAT_LINKS_MAX 256                  /* agent identities one process serves */
#define COMPAT_LINK_OUT_MAX (8 * 1024 * 1024) /* queued to the broker, per link */

/* One request sent on a link: the call it answers and its place in the call's answers. */
struct compat_req {
	uint64_t bid;
	struct compat_call *cc;
	int slot;
	TAILQ_ENTRY(compat_req) entry;
};

static TAILQ_HEAD(, compat_link) links = TAILQ_HEAD_INITIALIZER(links);
static size_t nlinks;
struct mcp *compat_owner; /* baton mcp --http: the server, whose links outlive sessions */
static int closing;       /* the process is ending: no new sessions */

static void compat_link_lost(struct compat_link *, const char *);

/* An answer for slot of cc; when the step has all of its answers, the next step runs. */
static void
compat_answered(struct compat_call *cc, int slot, cJSON *a)
{
	if (cc == NULL) { /* sent for no call (compat_send_bg): nobody waits */
		cJSON_Delete(a);
		return;
	}
	cJSON_ReplaceItemInArray(cc->ans, slot, a);
	if (--cc->pending > 0)
		return;
	if (cc->done)
		compat_call_free(cc);
	else
		compat_call_step(cc);
}

/* An error answer: {"_error": {code, message}}. */
cJSON *
compat_error_answer(const char *code, const char *message)
{
	cJSON *a = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(a, "_error");

	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", message);
	return (a);
}

static struct compat_req *
compat_req_find(struct compat_link *l, uint64_t bid)
{
	struct compat_req *q;

	TAILQ_FOREACH(q, &l->reqs, entry) {
		if (q->bid == bid)
			return (q);
	}
	return (NULL);
}

/* One frame from the broker on link arg. */
static int
compat_link_frame(void *arg, const msgpack_object *f, char *why, size_t whysize)
{
	struct compat_link *l = arg;
	struct compat_req *q;
	const msgpack_object *e;
	cJSON *a;
	char *code, *msg;
	int64_t bid;

	switch (mp_frame_type(f)) {
	case FRAME_RES: break;
	case FRAME_PUSH: return (0);
	case FRAME_ERROR:
		msg = mp_strdup(mp_get(f, "message"));
		snprintf(why, whysize, "the broker closed the connection: %s",
		    msg != NULL ? msg : "no reason given");
		free(msg);
		return (-1);
	default: snprintf(why, whysize, "unexpected frame from the broker"); return (-1);
	}
	if (mp_int(mp_get(f, "id"), &bid) != 0 || bid < 0 ||
	    (q = compat_req_find(l, (uint64_t)bid)) == NULL)
		return (0);
	TAILQ_REMOVE(&l->reqs, q, entry);
	if (mp_get_bool(f, "ok", 0)) {
		e = mp_get(f, "r");
		if (e == NULL || e->type != MSGPACK_OBJECT_MAP ||
		    (a = json_from_msgpack(e)) == NULL)
			a = compat_error_answer(ERR_INTERNAL,
			    "the broker's answer is not an object");
	} else {
		e = mp_get(f, "e");
		code = mp_get_strdup(e, "code");
		msg = mp_get_strdup(e, "message");
		a = compat_error_answer(code != NULL ? code : ERR_INTERNAL,
		    msg != NULL ? msg : "the operation failed");
		free(code);
		free(msg);
	}
	compat_answered(q->cc, q->slot, a);
	free(q);
	return (0);
}

static void
compat_link_read(struct bufferevent *bev, void *arg)
{
	struct compat_link *l = arg;
	char why[256];

	if (mcp_read_frames(bufferevent_get_input(bev), compat_link_frame, l, why,
		sizeof why) != 0)
		compat_link_lost(l, why);
}

static void
compat_link_event(struct bufferevent *bev, short what, void *arg)
{
	char why[256];

	mcp_event_why(what, why, sizeof why);
	compat_link_lost(arg, why);
}

/* Drop the connection; every request in flight fails with why (the calls go on). */
static void
compat_link_drop(struct compat_link *l, const char *why)
{
	struct compat_req *q;
	char *text;

	if (l->bev != NULL)
		bufferevent_free(l->bev);
	l->bev = NULL;
	conn_close(&l->conn);
	l->connected = 0;
	xasprintf(&text,
	    "%s. Call the tool again: baton reconnects (starting the broker if needed) and "
	    "reclaims the session of %s and its locks.",
	    why, l->agent);
	while ((q = TAILQ_FIRST(&l->reqs)) != NULL) {
		TAILQ_REMOVE(&l->reqs, q, entry);
		compat_answered(q->cc, q->slot, compat_error_answer(ERR_UNAVAILABLE, text));
		free(q);
	}
	free(text);
}

static void
compat_link_lost(struct compat_link *l, const char *why)
{
	log_warnx("%s (agent %s)", why, l->agent);
	compat_link_drop(l, why);
}

/* Open l's broker session, reclaiming the previous one with its token. */
static int
compat_link_open(struct compat_link *l, struct op_error *err)
{
	struct client_opts o = l->m->opts;

	o.kind = "mcp";
	o.agent = l->agent;
	o.project = l->project;
	o.token = l->token;
	if (l->m->client_name != NULL) {
		o.client_name = l->m->client_name;
		o.client_version = l->m->client_version != NULL ? l->m->client_version : "";
	}
	if (conn_open(&l->conn, &o, err) != 0)
		return (-1);
	if ((l->bev = mcp_conn_attach(l->m->base, &l->conn, compat_link_read, compat_link_event,
		 l, err)) == NULL)
		return (-1);
	l->connected = 1;
	free(l->token);
	l->token = xstrdup(l->conn.token);
	log_info("compat: session %s as %s in %s", l->conn.session,
	    l->conn.agent != NULL ? l->conn.agent : l->agent,
	    l->conn.project != NULL ? l->conn.project : "?");
	return (0);
}

/* The project a link of m works in: m's explicit or root project, else the default. */
static char *
compat_project(struct mcp *m)
{
	return (m->opts.project != NULL ? xstrdup(m->opts.project) : project_default());
}

/*
 * The link of agent (NULL: m's own agent) in m's project, made and
 * connected if need be; NULL with err when the broker cannot be reached
 * or too many identities are in use.
 */
struct compat_link *
compat_link_get(struct mcp *m, const char *agent, struct op_error *err)
{
	struct compat_link *l;
	char *project;

	memset(err, 0, sizeof *err);
	if (closing) {
		op_error_set(err, ERR_UNAVAILABLE, NULL, "baton mcp is exiting");
		return (NULL);
	}
	if (agent == NULL) {
		mcp_set_agent(m, m->client_name);
		agent = m->agent;
	}
	project = compat_project(m);
	TAILQ_FOREACH(l, &links, entry) {
		if (strcmp(l->agent, agent) == 0 && strcmp(l->project, project) == 0)
			break;
	}
	if (l == NULL) {
		if (nlinks >= COMPAT_LINKS_MAX) {
			free(project);
			op_error_set(err, ERR_LIMIT, "agent_id",
			    "this baton serves %d agent identities at most; unregister some",
			    COMPAT_LINKS_MAX);
			return (NULL);
		}
		l = xcalloc(1, sizeof *l);
		l->m = compat_owner != NULL ? compat_owner : m;
		l->agent = xstrdup(agent);
		l->project = project;
		project = NULL;
		l->conn.fd = -1;
		TAILQ_INIT(&l->reqs);
		TAILQ_INSERT_TAIL(&links, l, entry);
		nlinks++;
	}
	free(project);
	if (!l->connected && compat_link_open(l, err) != 0) {
		if (err->code == NULL)
			err->code = ERR_UNAVAILABLE;
		return (NULL);
	}
	return (l);
}

/* The name the broker gave l's session (it may have added a suffix). */
const char *
compat_link_agent(const struct compat_link *l)
{
	return (l->conn.agent != NULL ? l->conn.agent : l->agent);
}

/* Close l: its broker session ends, and with it what the session holds. */
void
compat_link_close(struct compat_link *l)
{
	compat_link_drop(l, "the agent's session was closed");
	if (l->ttl_ev != NULL)
		event_free(l->ttl_ev);
	TAILQ_REMOVE(&links, l, entry);
	nlinks--;
	free(l->agent);
	free(l->project);
	free(l->token);
	free(l);
}

/* Every link of the process (for the Airlock presence and lock tables). */
struct compat_link *
compat_link_first(void)
{
	return (TAILQ_FIRST(&links));
}

struct compat_link *
compat_link_next(struct compat_link *l)
{
	return (TAILQ_NEXT(l, entry));
}

/* Close every link of m (its process is ending, or its HTTP session). */
void
compat_links_close(struct mcp *m)
{
	struct compat_link *l, *next;

	if (m == NULL)
		closing = 1;
	for (l = TAILQ_FIRST(&links); l != NULL; l = next) {
		next = TAILQ_NEXT(l, entry);
		if (m == NULL || l->m == m)
			compat_link_close(l);
	}
}

/*
 * Send operation op with args (a JSON object, taken) on l for cc; its
 * answer fills the next slot of cc->ans.  -1 with err when the
 * arguments do not pass the operation table or cannot be sent.
 */
int
compat_send(struct compat_call *cc, struct compat_link *l, const char *opname, cJSON *args,
    struct op_error *err)
{
	const msgpack_object *obj, *vals[OP_MAX_ARGS];
	const struct op *op = op_find(opname, strlen(opname));
	struct compat_req *q;
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	struct fbuf fb;
	int r = -1;

	if (op == NULL)
		fatalx("compat: no operation %s", opname);
	memset(err, 0, sizeof *err);
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&u);
	if (json_args_to_msgpack(args, &sb, &u, &obj, err) != 0 ||
	    op_validate(op, obj, vals, err) != 0)
		goto out;
	if (evbuffer_get_length(bufferevent_get_output(l->bev)) > COMPAT_LINK_OUT_MAX) {
		op_error_set(err, ERR_LIMIT, NULL,
		    "the broker is not reading; try again later");
		goto out;
	}
	q = xcalloc(1, sizeof *q);
	q->bid = ++l->next_bid;
	q->cc = cc;
	q->slot = cc != NULL ? cJSON_GetArraySize(cc->ans) : 0;
	fbuf_init(&fb);
	client_req_open(&fb, q->bid, op->name);
	pk_raw(&fb, sb.data, sb.size);
	client_req_close(&fb);
	if (fbuf_finish(&fb) != 0 || bufferevent_write(l->bev, fb.sb.data, fb.sb.size) != 0) {
		fbuf_free(&fb);
		free(q);
		op_error_set(err, ERR_LIMIT, NULL, "the request to %s is too large", op->name);
		goto out;
	}
	fbuf_free(&fb);
	if (cc != NULL) {
		cJSON_AddItemToArray(cc->ans, cJSON_CreateNull());
		cc->pending++;
	}
	TAILQ_INSERT_TAIL(&l->reqs, q, entry);
	r = 0;
out:
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	cJSON_Delete(args);
	return (r);
}

/* Ask the broker to end the waits of cc's requests (they answer "cancelled"). */
void
compat_cancel(struct compat_call *cc)
{
	struct compat_link *l;
	struct compat_req *q;
	struct fbuf fb;

	TAILQ_FOREACH(l, &links, entry) {
		TAILQ_FOREACH(q, &l->reqs, entry) {
			if (q->cc != cc || l->bev == NULL)
				continue;
			fbuf_init(&fb);
			pk_map_open(&fb);
			pk_kint(&fb, "t", FRAME_CANCEL);
			pk_kuint(&fb, "id", q->bid);
			pk_map_close(&fb);
			if (fbuf_finish(&fb) != 0 ||
			    bufferevent_write(l->bev, fb.sb.data, fb.sb.size) != 0)
				log_warnx("compat: cannot cancel request %llu",
				    (unsigned long long)q->bid);
			fbuf_free(&fb);
		}
	}
}
