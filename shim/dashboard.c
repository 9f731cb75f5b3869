/*
 * `baton dashboard` (DESIGN 11): a process of its own, a client of the
 * broker over its Unix socket, serving a page on 127.0.0.1 with
 * libevent's evhttp (dash-http.c; the page is embedded, dash-assets.c).
 *
 * Two kinds of broker connection: one per project shown (opened when the
 * page first asks for it, at most DASH_PROJECTS_MAX, the least recently
 * used closed first), for snapshots and the operator's actions, made as
 * the operator (agent "operator" unless --agent says otherwise); and one
 * subscribed to every project's audit log, whose entries go to the
 * pages' event streams; a stream that resumes (Last-Event-ID =
 * revision) gets what it missed from the broker's log_list.  When the broker goes away the pages are
 * told and the feed reconnects, backing off; on its return it resumes
 * after the newest entry seen, or tells the pages to reload.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "shim.h"

#define DASH_SSE_MAX 64            /* event streams at once */
#define DASH_SSE_OUT_MAX (1 << 20) /* unsent bytes before a stream is closed */
#define DASH_PING_SECS 15          /* a comment on every stream, so dead ones show */
#define DASH_RETRY_MAX 5.0         /* seconds between reconnects, at most */
#define DASH_KNOWN_MAX 256         /* projects remembered for the switcher */
#define DASH_TIMEOUT_MS 5000       /* a snapshot's answers */

/* One page's event stream. */
struct dash_sse {
	struct dash *d;
	struct evhttp_request *req;
	char *project; /* NULL: every project */
	uint64_t sent; /* the newest revision sent or passed over */
	int dead;      /* stopped reading: to be closed */
	TAILQ_ENTRY(dash_sse) entry;
};

static int dash_exec(const struct cmd_entry *, const struct client_opts *, int, char **);
static void dash_watch(struct dash *);

const struct cmd_entry cmd_dashboard_entry = {
	.name = "dashboard",
	.usage = "dashboard [-p PORT] [--open] [--read-only] [--wait-warn SECONDS]",
	.desc = "a live web dashboard on 127.0.0.1: agents, locks, tasks, messages, the "
		"audit log; prints its URL with a secret token",
	.exec = dash_exec,
};

/* ---- projects ---- */

/* Remember a project for the switcher. */
static void
dash_know(struct dash *d, const char *project)
{
	size_t i;

	for (i = 0; i < d->nknown; i++) {
		if (strcmp(d->known[i], project) == 0)
			return;
	}
	if (d->nknown == DASH_KNOWN_MAX)
		return;
	d->known = xreallocarray(d->known, d->nknown + 1, sizeof *d->known);
	d->known[d->nknown++] = xstrdup(project);
}

/* The projects the switcher offers, into array a. */
void
dash_projects_json(struct dash *d, cJSON *a)
{
	size_t i;

	for (i = 0; i < d->nknown; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(d->known[i]));
}

/* Close a project's connection (it is opened again when next needed). */
static void
dash_proj_close(struct dash_proj *p)
{
	if (p->open)
		conn_close(&p->c);
	p->open = 0;
}

/* The operator's connection to project, opened when needed; NULL with err. */
struct conn *
dash_conn(struct dash *d, const char *project, struct op_error *err)
{
	struct client_opts o = d->opts;
	struct dash_proj *p = NULL, *lru = &d->projs[0];
	size_t i;

	for (i = 0; i < DASH_PROJECTS_MAX; i++) {
		if (d->projs[i].name != NULL && strcmp(d->projs[i].name, project) == 0) {
			p = &d->projs[i];
			break;
		}
		if (d->projs[i].used < lru->used)
			lru = &d->projs[i];
	}
	if (p == NULL) {
		p = lru;
		dash_proj_close(p);
		free(p->name);
		p->name = xstrdup(project);
	}
	p->used = ++d->uses;
	if (p->open)
		return (&p->c);
	o.project = project;
	if (conn_open(&p->c, &o, err) != 0)
		return (NULL);
	p->open = 1;
	dash_know(d, project);
	return (&p->c);
}

/* A call on project's connection failed: drop it, so the next one reconnects. */
void
dash_conn_failed(struct dash *d, const char *project)
{
	size_t i;

	for (i = 0; i < DASH_PROJECTS_MAX; i++) {
		if (d->projs[i].name != NULL && strcmp(d->projs[i].name, project) == 0)
			dash_proj_close(&d->projs[i]);
	}
}

/* ---- event streams ---- */

/* Take a stream out of the list and free it (not its request). */
static void
dash_sse_forget(struct dash_sse *e)
{
	TAILQ_REMOVE(&e->d->sse, e, entry);
	e->d->nsse--;
	free(e->project);
	free(e);
}

/* Close the streams that stopped reading, with their connections. */
static void
dash_sse_reap(struct dash *d)
{
	struct evhttp_connection *evcon;
	struct dash_sse *e, *next;

	for (e = TAILQ_FIRST(&d->sse); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		if (!e->dead || (evcon = evhttp_request_get_connection(e->req)) == NULL)
			continue;
		evhttp_connection_set_closecb(evcon, NULL, NULL);
		dash_sse_forget(e);
		evhttp_connection_free(evcon); /* and the request */
	}
}

/* Write to one stream; a stream that stopped reading is closed (it resumes). */
static int dash_sse_write(struct dash_sse *e, const char *fmt, ...) printflike(2, 3);

static int
dash_sse_write(struct dash_sse *e, const char *fmt, ...)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(e->req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct evbuffer *b;
	va_list ap;

	if (evcon == NULL || e->dead)
		return (-1); /* the page went; the close callback frees it */
	if (bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > DASH_SSE_OUT_MAX) {
		/* it stopped reading: dropped by dash_sse_reap (it resumes) */
		e->dead = 1;
		return (-1);
	}
	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	va_start(ap, fmt);
	evbuffer_add_vprintf(b, fmt, ap);
	va_end(ap);
	evhttp_send_reply_chunk(e->req, b);
	evbuffer_free(b);
	return (0);
}

/* Does a stream for project (NULL: all) show an entry of entry_project? */
static int
dash_sse_wants(const struct dash_sse *e, const char *entry_project)
{
	return (e->project == NULL || strcmp(e->project, entry_project) == 0 ||
	    strcmp(entry_project, "global") == 0);
}

/* An entry of the feed, as JSON when a stream first needs it (none may). */
struct dash_entry {
	uint64_t rev;
	const msgpack_object *o;
	char project[4100];
	char *json;
};

static const char *
dash_entry_json(struct dash_entry *de)
{
	cJSON *j;

	if (de->json == NULL && (j = json_from_msgpack(de->o)) != NULL) {
		de->json = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
	}
	return (de->json != NULL ? de->json : "{}");
}

/* Send one entry to a stream that shows it. */
static void
dash_sse_entry(struct dash_sse *e, struct dash_entry *de)
{
	if (de->rev <= e->sent)
		return;
	e->sent = de->rev;
	if (dash_sse_wants(e, de->project))
		dash_sse_write(e, "id: %llu\nevent: log\ndata: %s\n\n",
		    (unsigned long long)de->rev, dash_entry_json(de));
}

/* Read entry o: its revision and project; 0, or -1 when it has none. */
static int
dash_entry_read(struct dash_entry *de, const msgpack_object *o)
{
	const char *p;
	size_t n;
	int64_t rev;

	de->json = NULL;
	if (mp_int(mp_get(o, "rev"), &rev) != 0 || rev <= 0 ||
	    mp_str(mp_get(o, "project"), &p, &n) != 0 || n >= sizeof de->project)
		return (-1);
	de->rev = (uint64_t)rev;
	de->o = o;
	memcpy(de->project, p, n);
	de->project[n] = '\0';
	return (0);
}

/* Tell every stream something: event name and JSON data. */
static void
dash_sse_all(struct dash *d, const char *event, const char *data)
{
	struct dash_sse *e, *next;

	for (e = TAILQ_FIRST(&d->sse); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		dash_sse_write(e, "event: %s\ndata: %s\n\n", event, data);
	}
	dash_sse_reap(d);
}

/*
 * The page went away: forget the stream.  A reply never ended is left to
 * us by evhttp when its connection fails (it no longer has one): free it.
 */
static void
dash_sse_closed(struct evhttp_connection *evcon, void *arg)
{
	struct dash_sse *e = arg;

	if (evhttp_request_get_connection(e->req) == NULL)
		evhttp_request_free(e->req);
	dash_sse_forget(e);
}

/*
 * What a stream missed after revision after: the broker's log_list, sent
 * as events; a resync when the broker no longer has it all.
 */
static void
dash_sse_replay(struct dash *d, struct dash_sse *e, uint64_t after)
{
	const msgpack_object *r, *es;
	struct dash_entry de;
	struct op_error err;
	msgpack_unpacked u;
	struct conn *c;
	struct fbuf fb;
	uint32_t i;
	int ok = 0;

	memset(&err, 0, sizeof err);
	if ((c = dash_conn(d, e->project != NULL ? e->project : d->project, &err)) == NULL) {
		dash_sse_write(e, "event: resync\ndata: {}\n\n");
		e->sent = d->rev;
		return;
	}
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kuint(&fb, "after", after);
	pk_kint(&fb, "limit", 1000);
	pk_kbool(&fb, "all_projects", e->project == NULL);
	pk_map_close(&fb);
	msgpack_unpacked_init(&u);
	if (!fb.err &&
	    conn_call(c, "log_list", fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, &u, &r,
		&err) == 0 &&
	    !mp_get_bool(r, "missed", 0) && !mp_get_bool(r, "more", 0)) {
		ok = 1;
		es = mp_get(r, "entries");
		for (i = 0; es != NULL && i < es->via.array.size; i++) {
			if (dash_entry_read(&de, &es->via.array.ptr[i]) == 0)
				dash_sse_entry(e, &de);
			free(de.json);
		}
	}
	msgpack_unpacked_destroy(&u);
	fbuf_free(&fb);
	if (!ok) {
		if (err.code != NULL && strcmp(err.code, ERR_UNAVAILABLE) == 0)
			dash_conn_failed(d, e->project != NULL ? e->project : d->project);
		dash_sse_write(e, "event: resync\ndata: {}\n\n");
		e->sent = d->rev;
	}
}

/*
 * A page's event stream for project (NULL: all), resuming after revision
 * after (what it missed comes from the broker's log).  0, or -1 when too
 * many are open.
 */
int
dash_sse_open(struct dash *d, struct evhttp_request *req, const char *project, uint64_t after)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct dash_sse *e;

	if (d->nsse == DASH_SSE_MAX)
		return (-1);
	e = xcalloc(1, sizeof *e);
	e->d = d;
	e->req = req;
	e->project = project != NULL ? xstrdup(project) : NULL;
	e->sent = after;
	TAILQ_INSERT_TAIL(&d->sse, e, entry);
	d->nsse++;
	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	/* a stream is idle by nature: only the pings keep it going */
	evhttp_connection_set_timeout(evcon, 24 * 3600);
	evhttp_connection_set_closecb(evcon, dash_sse_closed, e);
	evhttp_send_reply_start(req, 200, "OK");
	dash_sse_write(e, "retry: 1000\nevent: broker\ndata: {\"connected\":%s}\n\n",
	    d->watching ? "true" : "false");
	if (after < d->rev)
		dash_sse_replay(d, e, after);
	return (0);
}

static void
dash_ping_cb(evutil_socket_t fd, short events, void *arg)
{
	struct dash *d = arg;
	struct dash_sse *e, *next;

	for (e = TAILQ_FIRST(&d->sse); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		dash_sse_write(e, ": ping\n\n");
	}
	dash_sse_reap(d);
}

/* ---- the feed ---- */

/*
 * A push of entries, oldest first: to the streams that show them (as
 * JSON only when one does, so a dashboard nobody looks at costs little).
 */
static void
dash_entries(struct dash *d, const msgpack_object *es)
{
	struct dash_sse *e, *next;
	struct dash_entry de;
	uint32_t i;

	for (i = 0; es != NULL && es->type == MSGPACK_OBJECT_ARRAY && i < es->via.array.size;
	     i++) {
		if (dash_entry_read(&de, &es->via.array.ptr[i]) != 0 || de.rev <= d->rev)
			continue;
		d->rev = de.rev;
		if (d->nknown == 0 || strcmp(d->known[d->nknown - 1], de.project) != 0)
			dash_know(d, de.project);
		for (e = TAILQ_FIRST(&d->sse); e != NULL; e = next) {
			next = TAILQ_NEXT(e, entry);
			dash_sse_entry(e, &de);
		}
		free(de.json);
	}
	dash_sse_reap(d);
}

/* The answer to log_subscribe: where the feed starts, the projects. */
static void
dash_subscribed(struct dash *d, const msgpack_object *r)
{
	const msgpack_object *ps = mp_get(r, "projects");
	char *name;
	uint32_t i;

	if (d->rev == 0) /* the first subscription: the feed starts now */
		d->rev = (uint64_t)mp_get_int(r, "revision", 0);
	else if (mp_get_bool(r, "missed", 0)) {
		d->rev = (uint64_t)mp_get_int(r, "revision", 0);
		dash_sse_all(d, "resync", "{}");
	}
	for (i = 0; ps != NULL && ps->type == MSGPACK_OBJECT_ARRAY && i < ps->via.array.size;
	     i++) {
		if ((name = mp_get_strdup(&ps->via.array.ptr[i], "project")) != NULL)
			dash_know(d, name);
		free(name);
	}
	d->retry_s = 0;
}

/* A frame on the feed connection. */
static void
dash_feed_frame(struct dash *d, const msgpack_object *f)
{
	const msgpack_object *kind = mp_get(f, "kind");

	switch (mp_frame_type(f)) {
	case FRAME_RES:
		if (mp_get_bool(f, "ok", 0))
			dash_subscribed(d, mp_get(f, "r"));
		break;
	case FRAME_PUSH:
		if (mp_streq(kind, "log"))
			dash_entries(d, mp_get(f, "entries"));
		else if (mp_streq(kind, "resync")) {
			d->rev = (uint64_t)mp_get_int(f, "revision", (int64_t)d->rev);
			dash_sse_all(d, "resync", "{}");
		}
		break;
	}
}

/* The feed went away: tell the pages, try again soon. */
static void
dash_feed_lost(struct dash *d)
{
	if (d->wbev != NULL) {
		bufferevent_free(d->wbev); /* closes the descriptor */
		d->wbev = NULL;
		d->watch.fd = -1;
		conn_close(&d->watch);
	}
	if (d->watching)
		dash_sse_all(d, "broker", "{\"connected\":false}");
	d->watching = 0;
	d->retry_s = d->retry_s == 0 ? 0.2 : d->retry_s * 2;
	if (d->retry_s > DASH_RETRY_MAX)
		d->retry_s = DASH_RETRY_MAX;
	event_add(d->retry_ev,
	    &(struct timeval){ (long)d->retry_s,
		(long)((d->retry_s - (long)d->retry_s) * 1e6) });
}

static void
dash_feed_read_cb(struct bufferevent *bev, void *arg)
{
	struct dash *d = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	msgpack_unpacked u;
	const char *cause;
	unsigned char *p;
	ssize_t n;

	for (;;) {
		p = evbuffer_pullup(in, FRAME_HDR);
		if (p == NULL)
			return;
		n = frame_length(p, FRAME_HDR, FRAME_MAX_DEFAULT, &cause);
		if (n < 0) {
			dash_feed_lost(d);
			return;
		}
		if (n == 0 || evbuffer_get_length(in) < (size_t)n + FRAME_HDR)
			return;
		p = evbuffer_pullup(in, n + FRAME_HDR);
		msgpack_unpacked_init(&u);
		if (frame_decode(p + FRAME_HDR, (size_t)n, &u, &cause) == 0)
			dash_feed_frame(d, &u.data);
		msgpack_unpacked_destroy(&u);
		evbuffer_drain(in, (size_t)n + FRAME_HDR);
	}
}

static void
dash_feed_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		dash_feed_lost(arg);
}

/* Connect the feed and subscribe to every project after the newest entry seen. */
static void
dash_watch(struct dash *d)
{
	struct client_opts o = d->opts;
	struct op_error err;
	struct fbuf fb;

	memset(&err, 0, sizeof err);
	o.project = d->project;
	if (conn_open(&d->watch, &o, &err) != 0) {
		dash_feed_lost(d);
		return;
	}
	d->wbev = bufferevent_socket_new(d->base, d->watch.fd, BEV_OPT_CLOSE_ON_FREE);
	if (d->wbev == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(d->wbev, dash_feed_read_cb, NULL, dash_feed_event_cb, d);
	bufferevent_enable(d->wbev, EV_READ);
	fbuf_init(&fb);
	client_req_open(&fb, ++d->watch.next_id, "log_subscribe");
	pk_map_open(&fb);
	pk_kbool(&fb, "all_projects", 1);
	if (d->rev > 0)
		pk_kuint(&fb, "after", d->rev);
	pk_map_close(&fb);
	client_req_close(&fb);
	if (fbuf_finish(&fb) != 0)
		fatalx("cannot encode log_subscribe");
	bufferevent_write(d->wbev, fb.sb.data, fb.sb.size);
	fbuf_free(&fb);
	if (!d->watching)
		dash_sse_all(d, "broker", "{\"connected\":true}");
	d->watching = 1;
}

static void
dash_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	dash_watch(arg);
}

static void
dash_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	event_base_loopbreak(arg);
}

/* ---- the command ---- */

/* Open url in the user's browser with xdg-open (no shell); said when it cannot. */
static void
dash_open_browser(const char *url)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		cli_syserr("cannot start xdg-open");
		return;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null != -1) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		execlp("xdg-open", "xdg-open", url, (char *)NULL);
		fprintf(stderr, "baton: cannot run xdg-open (%s): open %s by hand\n",
		    strerror(errno), url);
		_exit(127);
	}
}

/* The options; 0, -1 for help, or an exit status. */
static int
dash_options(struct dash *d, const struct cmd_entry *ce, int argc, char **argv, int *open_it)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "open", no_argument, NULL, 'o' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "wait-warn", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long port;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":p:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*end != '\0' || port < 0 || port > 65535)
				return (
				    cli_usage_err("--port takes 0 to 65535 (0: a free one), "
						  "not '%s'",
					optarg));
			d->port = (int)port;
			break;
		case 'o': *open_it = 1; break;
		case 'r': d->read_only = 1; break;
		case 'w':
			if (cli_seconds("--wait-warn", optarg, 86400, &d->vo.wait_warn) != 0)
				return (EXIT_USAGE);
			break;
		case 'h': help_command(stdout, ce); return (-1);
		default: return (cli_opt_err(ce, ch, argv));
		}
	}
	if (optind != argc)
		return (
		    cli_usage_err("unexpected '%s'; usage: baton %s", argv[optind], ce->usage));
	return (0);
}

/* Free what the dashboard holds. */
static void
dash_free(struct dash *d)
{
	size_t i;

	for (i = 0; i < DASH_PROJECTS_MAX; i++) {
		dash_proj_close(&d->projs[i]);
		free(d->projs[i].name);
	}
	for (i = 0; i < d->nknown; i++)
		free(d->known[i]);
	free(d->known);
	free(d->project);
}

static int
dash_exec(const struct cmd_entry *ce, const struct client_opts *o, int argc, char **argv)
{
	struct event *sigint, *sigterm;
	struct op_error err;
	struct dash d;
	char url[128];
	int open_it = 0, rc;
	struct timeval ping = { DASH_PING_SECS, 0 };

	memset(&d, 0, sizeof d);
	TAILQ_INIT(&d.sse);
	d.opts = *o;
	d.opts.kind = "dashboard";
	if (d.opts.agent == NULL)
		d.opts.agent = "operator";
	d.vo.operator= d.opts.agent;
	d.vo.wait_warn = 300;
	d.vo.timeout_ms = DASH_TIMEOUT_MS;
	if ((rc = dash_options(&d, ce, argc, argv, &open_it)) != 0)
		return (rc == -1 ? cli_flush(0) : rc);
	d.project = o->project != NULL ? xstrdup(o->project) : project_default();
	/* the broker must be there at the start: say so at once if not */
	memset(&err, 0, sizeof err);
	if (dash_conn(&d, d.project, &err) == NULL) {
		dash_free(&d);
		return (cli_fail(NULL, &err));
	}
	/* a broker stopped later stays stopped: the page says it is gone */
	d.opts.autostart = 0;
	signal(SIGPIPE, SIG_IGN);
	if ((d.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	random_hex(d.token, sizeof d.token);
	random_hex(d.cookie, sizeof d.cookie);
	random_hex(d.csrf, sizeof d.csrf);
	dash_http_start(&d);
	if (d.http == NULL) {
		dash_free(&d);
		return (EXIT_UNAVAILABLE);
	}
	d.retry_ev = evtimer_new(d.base, dash_retry_cb, &d);
	d.ping_ev = event_new(d.base, -1, EV_PERSIST, dash_ping_cb, &d);
	event_add(d.ping_ev, &ping);
	dash_watch(&d);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/?token=%s", d.port, d.token);
	printf("baton dashboard: %s%s\n", url, d.read_only ? " (read-only)" : "");
	fflush(stdout);
	if (open_it)
		dash_open_browser(url);
	sigint = evsignal_new(d.base, SIGINT, dash_signal_cb, d.base);
	sigterm = evsignal_new(d.base, SIGTERM, dash_signal_cb, d.base);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	event_base_dispatch(d.base);
	event_free(sigint);
	event_free(sigterm);
	event_free(d.retry_ev);
	event_free(d.ping_ev);
	if (d.wbev != NULL) {
		bufferevent_free(d.wbev);
		d.watch.fd = -1;
		conn_close(&d.watch);
	}
	evhttp_free(d.http);
	event_base_free(d.base);
	dash_free(&d);
	return (0);
}
