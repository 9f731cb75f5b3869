/*
 * `baton mcp --http [ADDR:]PORT`: MCP over Streamable HTTP (the MCP
 * transport of 2025-03-26 on) for clients configured with "type": "http",
 * in front of the same broker as `baton mcp` (DESIGN 14).
 *
 * One process, one event loop, libevent's evhttp.  Each POST carries one
 * JSON-RPC message.  An initialize opens a session (an Mcp-Session-Id of
 * 32 random hex digits, its own struct mcp: its own agent and broker
 * session); a request without the header goes to the server's own
 * session, so that curl recipes that never initialize work.  Requests are
 * fed to the same dispatch as stdio (mcp_line) under an id of our own,
 * and their answer goes back to the HTTP request that asked: as JSON, or,
 * when the client accepts it, as a server-sent-events stream that stays
 * open through a long wait (comments every 15 s keep proxies and
 * clients from timing out) and ends with the answer.
 *
 * What keeps it the user's: the listener binds loopback unless an
 * address is given; every request must carry Authorization: Bearer TOKEN
 * (STATE/http-token, created 0600, shown by --print-token; compared in
 * constant time); Host must name this server (no DNS rebinding) and an
 * Origin, when sent, must be this server's own.
 */
#include "config.h"

#include <sys/stat.h>

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
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "shim.h"

#define HTTP_BODY_MAX (4 * 1024 * 1024) /* one JSON-RPC message */
#define HTTP_SESSIONS_MAX 256
#define HTTP_SESSION_IDLE 3600 /* seconds an unused session lives */
#define HTTP_KEEPALIVE 15      /* seconds between SSE comments */
#define HTTP_PENDING_MAX 4096  /* requests waiting for an answer */
#define HTTP_TOKEN_FILE "http-token"

struct http_session;

/* One POSTed request waiting for its answer. */
struct http_pending {
	char id[24]; /* ours, "h<n>", as the dispatch saw it */
	cJSON *orig; /* the client's id */
	struct evhttp_request *req;
	struct http_session *s;
	int sse; /* answering as an event stream */
	struct event *keepalive;
	TAILQ_ENTRY(http_pending) entry;
};

/* An MCP session: an initialize, and the requests naming its id. */
struct http_session {
	char id[33];
	struct mcp m;
	struct event *idle;
	TAILQ_ENTRY(http_session) entry;
};

static struct {
	struct event_base *base;
	struct evhttp *http;
	char token[TOKEN_LEN + 1];
	char host[300]; /* the address as given, for Host checks off loopback */
	int port;
	const struct mcp *tmpl;      /* the profile and options sessions copy */
	struct http_session *shared; /* requests without a session id */
	TAILQ_HEAD(, http_session) sessions;
	size_t nsessions;
	TAILQ_HEAD(, http_pending) pending;
	size_t npending;
	uint64_t seq;
} srv;

/* ---- the token ---- */

/*
 * The bearer token in STATE/http-token: read it, or make it (0600, 32
 * random hex digits).  A file that is not ours, not regular, or readable
 * by others is refused: -1 with *cause.
 */
int
mcp_http_token(char *tok, size_t len, char **cause)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], tmp[PATH_MAX + 64];
	struct stat st;
	ssize_t n;
	int fd;

	if (path_state_dir(dir, sizeof dir, cause) != 0 || path_check_dir(dir, 1, cause) != 0)
		return (-1);
	snprintf(path, sizeof path, "%s/" HTTP_TOKEN_FILE, dir);
	/*
	 * Made whole in a file of this process's, then linked into place:
	 * of several first starts at once one links, and the others, who
	 * find it there, read that one's token (never a half-written file).
	 */
	while ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 && errno == ENOENT) {
		snprintf(tmp, sizeof tmp, "%s/" HTTP_TOKEN_FILE ".%ld", dir, (long)getpid());
		random_hex(tok, len);
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			 0600)) == -1 ||
		    write(fd, tok, strlen(tok)) != (ssize_t)strlen(tok) ||
		    write(fd, "\n", 1) != 1 || close(fd) != 0 ||
		    (link(tmp, path) != 0 && errno != EEXIST)) {
			xasprintf(cause, "cannot create %s: %s", path, strerror(errno));
			unlink(tmp);
			return (-1);
		}
		unlink(tmp);
	}
	if (fd == -1 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077) != 0) {
		xasprintf(cause,
		    "%s must be a regular file of yours with mode 0600 (remove it to make a "
		    "new token)",
		    path);
		if (fd != -1)
			close(fd);
		return (-1);
	}
	n = read(fd, tok, len - 1);
	close(fd);
	while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r'))
		n--;
	if (n < 16) {
		xasprintf(cause, "%s holds no token (remove it to make a new one)", path);
		return (-1);
	}
	tok[n] = '\0';
	return (0);
}

/* ---- sessions ---- */

static void http_pending_end(struct http_pending *, int, const char *, const char *);

static void
http_session_free(struct http_session *s)
{
	struct http_pending *p, *next;

	for (p = TAILQ_FIRST(&srv.pending); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		if (p->s == s)
			http_pending_end(p, 404, NULL, "the session ended");
	}
	if (s != srv.shared) {
		TAILQ_REMOVE(&srv.sessions, s, entry);
		srv.nsessions--;
	}
	mcp_teardown(&s->m);
	if (s->idle != NULL)
		event_free(s->idle);
	free(s);
}

/* A session unused for HTTP_SESSION_IDLE ends (its broker session too). */
static void
http_idle_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_session *s = arg;

	log_info("http: session %s idle for %d s: ended", s->id, HTTP_SESSION_IDLE);
	http_session_free(s);
}

static void
http_touch(struct http_session *s)
{
	struct timeval tv = tv_secs(HTTP_SESSION_IDLE);

	if (s->idle != NULL)
		evtimer_add(s->idle, &tv);
}

static void http_sink(struct mcp *, const cJSON *);

static struct http_session *
http_session_new(const struct client_opts *opts)
{
	struct http_session *s = xcalloc(1, sizeof *s);

	random_hex(s->id, sizeof s->id);
	s->m.compat = srv.tmpl->compat;
	memcpy(s->m.offer, srv.tmpl->offer, sizeof s->m.offer);
	s->m.profile = srv.tmpl->profile != NULL ? xstrdup(srv.tmpl->profile) : NULL;
	mcp_setup(&s->m, srv.base, opts);
	s->m.sink = http_sink;
	s->m.sink_arg = s;
	return (s);
}

static struct http_session *
http_session_find(const char *id)
{
	struct http_session *s;

	TAILQ_FOREACH(s, &srv.sessions, entry) {
		if (token_cmp(s->id, id, strlen(id)) == 0)
			return (s);
	}
	return (NULL);
}

/* ---- answers ---- */

static void
http_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
}

/* A plain error answer to a request that never reached the dispatch. */
static void
http_fail(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	http_headers(req, "text/plain; charset=utf-8");
	evbuffer_add_printf(b, "%s\n", text);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

/* The client closed the connection of a pending request: end its wait. */
static void
http_closed_cb(struct evhttp_connection *conn, void *arg)
{
	struct http_pending *p = arg;
	cJSON *params;

	p->req = NULL;
	params = cJSON_CreateObject();
	cJSON_AddStringToObject(params, "requestId", p->id);
	mcp_cancelled(&p->s->m, params);
	cJSON_Delete(params);
	http_pending_end(p, 0, NULL, NULL); /* a late answer is dropped */
}

/* Forget p; answer its request with code and text if it is still there (and not streaming). */
static void
http_pending_end(struct http_pending *p, int code, const char *reason, const char *text)
{
	TAILQ_REMOVE(&srv.pending, p, entry);
	srv.npending--;
	if (p->req != NULL) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(p->req), NULL,
		    NULL);
		if (p->sse)
			evhttp_send_reply_end(p->req);
		else if (text != NULL)
			http_fail(p->req, code, reason, text);
	}
	if (p->keepalive != NULL)
		event_free(p->keepalive);
	cJSON_Delete(p->orig);
	free(p);
}

/* An SSE comment now and then: the stream stays open through a long wait. */
static void
http_keepalive_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_pending *p = arg;
	struct evbuffer *b;

	if (p->req == NULL)
		return;
	b = evbuffer_new();
	evbuffer_add_printf(b, ": waiting\n\n");
	evhttp_send_reply_chunk(p->req, b);
	evbuffer_free(b);
}

/*
 * A message from the dispatch of session m: the answer to a pending
 * request (its id is ours: the client's goes back in), or a
 * notification, sent on the stream of the request it is about.
 */
static void
http_sink(struct mcp *m, const cJSON *msg)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	struct http_pending *p;
	struct evbuffer *b;
	cJSON *copy;
	char *s;

	if (!cJSON_IsString(id)) {
		log_debug("http: a message for no request dropped");
		return;
	}
	TAILQ_FOREACH(p, &srv.pending, entry) {
		if (&p->s->m == m && strcmp(p->id, id->valuestring) == 0)
			break;
	}
	if (p == NULL) {
		log_debug("http: an answer to %s, which nobody waits for", id->valuestring);
		return;
	}
	copy = cJSON_Duplicate(msg, 1);
	cJSON_ReplaceItemInObjectCaseSensitive(copy, "id", cJSON_Duplicate(p->orig, 1));
	if ((s = cJSON_PrintUnformatted(copy)) == NULL)
		fatalx("http: cannot print a message");
	cJSON_Delete(copy);
	if (p->req != NULL) {
		b = evbuffer_new();
		if (p->sse) {
			evbuffer_add_printf(b, "event: message\ndata: %s\n\n", s);
			evhttp_send_reply_chunk(p->req, b);
		} else {
			http_headers(p->req, "application/json");
			if (p->s != srv.shared)
				evhttp_add_header(evhttp_request_get_output_headers(p->req),
				    "Mcp-Session-Id", p->s->id);
			evbuffer_add(b, s, strlen(s));
			evhttp_send_reply(p->req, HTTP_OK, "OK", b);
			evhttp_connection_set_closecb(evhttp_request_get_connection(p->req),
			    NULL, NULL);
			p->req = NULL;
		}
		evbuffer_free(b);
	}
	free(s);
	http_pending_end(p, 0, NULL, NULL);
}

/* ---- requests ---- */

/* Does the Host header name this server? */
static int
http_host_ok(const char *host)
{
	static const char *const loop[] = { "127.0.0.1", "localhost", "[::1]" };
	char want[340];
	size_t i;

	if (host == NULL)
		return (0);
	for (i = 0; i < nitems(loop); i++) {
		snprintf(want, sizeof want, "%s:%d", loop[i], srv.port);
		if (strcasecmp(host, want) == 0)
			return (1);
	}
	snprintf(want, sizeof want, "%s:%d", srv.host, srv.port);
	return (strcasecmp(host, want) == 0);
}

/* An Origin, when a browser sends one, must be this server itself. */
static int
http_origin_ok(const char *origin)
{
	char host[340];

	if (origin == NULL)
		return (1);
	if (strncmp(origin, "http://", 7) != 0)
		return (0);
	snprintf(host, sizeof host, "%s", origin + 7);
	return (http_host_ok(host));
}

/* Host, Origin and the bearer token; 0, or -1 answered. */
static int
http_check(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *auth = evhttp_find_header(h, "Authorization");

	if (!http_host_ok(evhttp_find_header(h, "Host"))) {
		http_fail(req, 403, "Forbidden", "Host must name this server (127.0.0.1:PORT)");
		return (-1);
	}
	if (!http_origin_ok(evhttp_find_header(h, "Origin"))) {
		http_fail(req, 403, "Forbidden", "cross-origin requests are refused");
		return (-1);
	}
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
	    token_cmp(srv.token, auth + 7, strlen(auth + 7)) != 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		    "Bearer realm=\"baton\"");
		http_fail(req, 401, "Unauthorized",
		    "a bearer token is required: Authorization: Bearer $(baton mcp --http "
		    "--print-token)");
		return (-1);
	}
	return (0);
}

/* Feed one JSON-RPC request to session s, its answer to go to req. */
static void
http_dispatch(struct evhttp_request *req, struct http_session *s, cJSON *msg, int sse)
{
	struct http_pending *p;
	struct timeval tv = tv_secs(HTTP_KEEPALIVE);
	char *line;

	if (srv.npending >= HTTP_PENDING_MAX) {
		http_fail(req, 503, "Service Unavailable", "too many requests in progress");
		return;
	}
	p = xcalloc(1, sizeof *p);
	snprintf(p->id, sizeof p->id, "h%llu", (unsigned long long)++srv.seq);
	p->orig = cJSON_DetachItemFromObjectCaseSensitive(msg, "id");
	p->req = req;
	p->s = s;
	cJSON_AddStringToObject(msg, "id", p->id);
	TAILQ_INSERT_TAIL(&srv.pending, p, entry);
	srv.npending++;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), http_closed_cb, p);
	if (sse) {
		p->sse = 1;
		http_headers(req, "text/event-stream");
		if (s != srv.shared)
			evhttp_add_header(evhttp_request_get_output_headers(req),
			    "Mcp-Session-Id", s->id);
		evhttp_send_reply_start(req, HTTP_OK, "OK");
		p->keepalive = event_new(srv.base, -1, EV_PERSIST, http_keepalive_cb, p);
		event_add(p->keepalive, &tv);
	}
	if ((line = cJSON_PrintUnformatted(msg)) == NULL)
		fatalx("http: cannot print a request");
	mcp_line(&s->m, line, strlen(line));
	free(line);
}

/* POST: one JSON-RPC message. */
static void
http_post(struct evhttp_request *req, const struct client_opts *opts)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *sid = evhttp_find_header(h, "Mcp-Session-Id");
	const char *accept = evhttp_find_header(h, "Accept");
	const cJSON *method, *id;
	struct http_session *s;
	size_t len = evbuffer_get_length(in);
	cJSON *msg;
	char *body;
	int init;

	if (len > HTTP_BODY_MAX) {
		http_fail(req, 413, "Payload Too Large",
		    "one JSON-RPC message of at most 4 MiB");
		return;
	}
	body = xmalloc(len + 1);
	evbuffer_remove(in, body, len);
	body[len] = '\0';
	msg = cJSON_ParseWithLength(body, len);
	free(body);
	if (!cJSON_IsObject(msg)) {
		cJSON_Delete(msg);
		http_fail(req, 400, "Bad Request",
		    "the body must be one JSON-RPC message (an object; batches are not "
		    "supported)");
		return;
	}
	method = cJSON_GetObjectItemCaseSensitive(msg, "method");
	id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	init = cJSON_IsString(method) && strcmp(method->valuestring, "initialize") == 0;
	if (init) {
		if (srv.nsessions >= HTTP_SESSIONS_MAX) {
			cJSON_Delete(msg);
			http_fail(req, 503, "Service Unavailable",
			    "too many sessions; end some");
			return;
		}
		s = http_session_new(opts);
		s->idle = evtimer_new(srv.base, http_idle_cb, s);
		TAILQ_INSERT_TAIL(&srv.sessions, s, entry);
		srv.nsessions++;
	} else if (sid == NULL)
		s = srv.shared;
	else if ((s = http_session_find(sid)) == NULL) {
		cJSON_Delete(msg);
		http_fail(req, 404, "Not Found", "no such session: initialize again");
		return;
	}
	http_touch(s);
	if (id == NULL || method == NULL) {
		/* a notification or a response: accepted, nothing to answer */
		body = cJSON_PrintUnformatted(msg);
		mcp_line(&s->m, body, strlen(body));
		free(body);
		cJSON_Delete(msg);
		evhttp_send_reply(req, 202, "Accepted", NULL);
		return;
	}
	http_dispatch(req, s, msg,
	    !init && accept != NULL && strstr(accept, "text/event-stream") != NULL);
	cJSON_Delete(msg);
}

static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	const struct client_opts *opts = arg;
	const char *sid;
	struct http_session *s;

	if (http_check(req) != 0)
		return;
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_POST: http_post(req, opts); return;
	case EVHTTP_REQ_DELETE:
		sid =
		    evhttp_find_header(evhttp_request_get_input_headers(req), "Mcp-Session-Id");
		if (sid == NULL || (s = http_session_find(sid)) == NULL) {
			http_fail(req, 404, "Not Found", "no such session");
			return;
		}
		http_session_free(s);
		evhttp_send_reply(req, HTTP_OK, "OK", NULL);
		return;
	case EVHTTP_REQ_GET:
		/* no messages of our own to stream outside an answer */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
		    "POST, DELETE");
		http_fail(req, 405, "Method Not Allowed",
		    "this server sends messages only in answer to a POST");
		return;
	default:
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
		    "POST, DELETE");
		http_fail(req, 405, "Method Not Allowed", "POST a JSON-RPC message");
	}
}

/* [ADDR:]PORT: the address (loopback by default) and port; -1 with *cause. */
static int
http_listen_arg(const char *arg, char *addr, size_t alen, int *port, char **cause)
{
	const char *colon = strrchr(arg, ':');
	char *end;
	long p;

	snprintf(addr, alen, "127.0.0.1");
	if (colon != NULL) {
		if (colon == arg || (size_t)(colon - arg) >= alen) {
			xasprintf(cause, "--http %s: give [ADDR:]PORT", arg);
			return (-1);
		}
		snprintf(addr, alen, "%.*s", (int)(colon - arg), arg);
		if (addr[0] == '[' && addr[strlen(addr) - 1] == ']') {
			memmove(addr, addr + 1, strlen(addr) - 2);
			addr[strlen(addr) - 2] = '\0';
		}
		arg = colon + 1;
	}
	p = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || p < 1 || p > 65535) {
		xasprintf(cause, "--http: the port must be from 1 to 65535 (got '%s')", arg);
		return (-1);
	}
	*port = (int)p;
	return (0);
}

/*
 * baton install --http [ADDR:]PORT: the URL of that server and the
 * Authorization header with its token; -1 with *cause.
 */
int
mcp_http_url(const char *arg, char **url, char **bearer, char **cause)
{
	char addr[256], tok[TOKEN_LEN + 1];
	int port;

	if (http_listen_arg(arg, addr, sizeof addr, &port, cause) != 0 ||
	    mcp_http_token(tok, sizeof tok, cause) != 0)
		return (-1);
	xasprintf(url, strchr(addr, ':') != NULL ? "http://[%s]:%d/mcp" : "http://%s:%d/mcp",
	    addr, port);
	xasprintf(bearer, "Bearer %s", tok);
	return (0);
}

static void
http_signal_cb(evutil_socket_t fd, short events, void *arg)
{
	log_info("http: signal %d: exiting", (int)fd);
	event_base_loopexit(srv.base, NULL);
}

/* `baton mcp --http [ADDR:]PORT`, or `--print-token`: serve until a signal. */
static int
mcp_http_run(struct mcp *tmpl, const struct client_opts *opts)
{
	struct event *sigterm, *sigint;
	struct http_session *s;
	char addr[256], *cause = NULL;

	if (mcp_http_token(srv.token, sizeof srv.token, &cause) != 0) {
		cli_err("mcp --http: %s", cause);
		free(cause);
		return (EXIT_SOFTWARE);
	}
	if (tmpl->print_token) {
		printf("%s\n", srv.token);
		return (cli_flush(0));
	}
	if (*tmpl->http == '\0' ||
	    http_listen_arg(tmpl->http, addr, sizeof addr, &srv.port, &cause) != 0) {
		cli_usage_err("mcp: %s", cause != NULL ? cause : "--http needs [ADDR:]PORT");
		free(cause);
		return (EXIT_USAGE);
	}
	snprintf(srv.host, sizeof srv.host, "%s", addr);
	signal(SIGPIPE, SIG_IGN);
	if ((srv.base = event_base_new()) == NULL || (srv.http = evhttp_new(srv.base)) == NULL)
		fatalx("mcp --http: cannot set up the event loop");
	if (evhttp_bind_socket(srv.http, addr, (ev_uint16_t)srv.port) != 0) {
		cli_err("mcp --http: cannot listen on %s:%d: %s", addr, srv.port,
		    strerror(errno));
		evhttp_free(srv.http);
		event_base_free(srv.base);
		return (EXIT_UNAVAILABLE);
	}
	if (strcmp(addr, "127.0.0.1") != 0 && strcmp(addr, "::1") != 0 &&
	    strcmp(addr, "localhost") != 0)
		log_warnx("listening on %s, not loopback: only the token keeps others out",
		    addr);
	evhttp_set_max_body_size(srv.http, HTTP_BODY_MAX + 1);
	evhttp_set_allowed_methods(srv.http,
	    EVHTTP_REQ_POST | EVHTTP_REQ_GET | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(srv.http, http_request_cb, (void *)opts);
	TAILQ_INIT(&srv.sessions);
	TAILQ_INIT(&srv.pending);
	srv.tmpl = tmpl;
	srv.shared = http_session_new(opts);
	snprintf(srv.shared->id, sizeof srv.shared->id, "shared");
	compat_owner = &srv.shared->m; /* compat links outlive sessions */
	sigterm = evsignal_new(srv.base, SIGTERM, http_signal_cb, NULL);
	sigint = evsignal_new(srv.base, SIGINT, http_signal_cb, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	log_info("MCP over HTTP on http://%s:%d/ (%s)", addr, srv.port,
	    tmpl->compat != NULL ? tmpl->compat->name : "baton's tools");
	fprintf(stderr, "baton mcp: listening on http://%s:%d/\n", addr, srv.port);

	event_base_dispatch(srv.base);

	while ((s = TAILQ_FIRST(&srv.sessions)) != NULL)
		http_session_free(s);
	compat_links_close(NULL);
	http_session_free(srv.shared);
	evhttp_free(srv.http);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(srv.base);
	return (0);
}

/* `baton mcp --http`: serve, or print the token; the template's profile is ours. */
int
mcp_http_main(struct mcp *tmpl, const struct client_opts *opts)
{
	int status = mcp_http_run(tmpl, opts);

	free(tmpl->profile);
	tmpl->profile = NULL;
	return (status);
}
