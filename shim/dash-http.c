/*
 * The dashboard's HTTP side (evhttp), and what keeps it the user's:
 *
 *   - it listens on 127.0.0.1 only;
 *   - every request names the host it was sent to: the Host header must
 *     be 127.0.0.1:PORT or localhost:PORT, so a page of another site
 *     whose name was rebound to 127.0.0.1 is refused (DNS rebinding);
 *   - the URL printed at the start carries a secret token, exchanged for
 *     an HttpOnly, SameSite=Strict cookie (and a redirect that takes it
 *     out of the address bar); nothing but the token page answers
 *     without that cookie;
 *   - anything but GET must come from the dashboard's own origin
 *     (Origin), carry the per-run CSRF token the page reads from
 *     /api/session (X-CSRF-Token), and be JSON (Content-Type); with
 *     --read-only every action is refused.
 *
 * Routes: GET / (the page), /app.js, /app.css, /api/session,
 * /api/state?project=P (view.c's snapshot), /api/events?project=P&after=REV
 * (Server-Sent Events; Last-Event-ID wins over after), POST /api/action.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "shim.h"

#define DASH_BODY_MAX 65536 /* bytes of an action */
#define DASH_COOKIE "baton_dashboard"
#define DASH_CSP \
	"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " \
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* Headers every answer carries. */
static void
dash_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Content-Security-Policy", DASH_CSP);
}

/* Answer with a JSON value (taken). */
static void
dash_json(struct evhttp_request *req, int code, const char *reason, cJSON *j)
{
	struct evbuffer *b = evbuffer_new();
	char *s = cJSON_PrintUnformatted(j);

	if (b == NULL || s == NULL)
		fatalx("out of memory answering a request");
	evbuffer_add(b, s, strlen(s));
	dash_headers(req, "application/json");
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
	free(s);
	cJSON_Delete(j);
}

/* Answer with an error: {error: {code, message, field?}}. */
static void
dash_error(struct evhttp_request *req, int code, const char *reason, const char *ecode,
    const char *field, const char *message)
{
	cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");

	cJSON_AddStringToObject(e, "code", ecode);
	cJSON_AddStringToObject(e, "message", message);
	if (field != NULL && *field != '\0')
		cJSON_AddStringToObject(e, "field", field);
	dash_json(req, code, reason, j);
}

/* Is the Host header this server's (127.0.0.1:PORT or localhost:PORT)? */
static int
dash_host_ok(struct dash *d, const char *host)
{
	char a[64], b[64];

	if (host == NULL)
		return (0);
	snprintf(a, sizeof a, "127.0.0.1:%d", d->port);
	snprintf(b, sizeof b, "localhost:%d", d->port);
	return (strcmp(host, a) == 0 || strcasecmp(host, b) == 0);
}

/* Is the Origin header this server's? */
static int
dash_origin_ok(struct dash *d, const char *origin)
{
	char a[80], b[80];

	if (origin == NULL)
		return (0);
	snprintf(a, sizeof a, "http://127.0.0.1:%d", d->port);
	snprintf(b, sizeof b, "http://localhost:%d", d->port);
	return (strcmp(origin, a) == 0 || strcasecmp(origin, b) == 0);
}

/* Does the request carry the session cookie? */
static int
dash_cookie_ok(struct dash *d, const char *cookies)
{
	const char *p = cookies, *v, *end;
	size_t n = strlen(DASH_COOKIE);

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (strncmp(p, DASH_COOKIE, n) == 0 && p[n] == '=') {
			v = p + n + 1;
			if (token_cmp(d->cookie, v,
				end != NULL ? (size_t)(end - v) : strlen(v)) == 0)
				return (1);
		}
		p = end;
	}
	return (0);
}

/* A header compared with a secret of ours. */
static int
dash_secret_ok(const char *secret, const char *given)
{
	return (given != NULL && token_cmp(secret, given, strlen(given)) == 0);
}

/* The token in the URL: set the cookie and send the page without the token. */
static void
dash_login(struct dash *d, struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char cookie[128];

	snprintf(cookie, sizeof cookie, "%s=%s; HttpOnly; SameSite=Strict; Path=/", DASH_COOKIE,
	    d->cookie);
	evhttp_add_header(h, "Set-Cookie", cookie);
	evhttp_add_header(h, "Location", "/");
	dash_headers(req, "text/plain");
	evhttp_send_reply(req, 303, "See Other", NULL);
}

/* No cookie: say how to get in. */
static void
dash_unauthorized(struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b,
	    "baton dashboard: open the URL `baton dashboard` printed; it carries the token "
	    "this needs.\n");
	dash_headers(req, "text/plain; charset=utf-8");
	evhttp_send_reply(req, 401, "Unauthorized", b);
	evbuffer_free(b);
}

/* A query parameter of the request (into buf), or NULL. */
static const char *
dash_param(struct evhttp_request *req, const char *name, char *buf, size_t len)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *q = u != NULL ? evhttp_uri_get_query(u) : NULL;
	struct evkeyvalq kv;
	const char *v;

	if (q == NULL || evhttp_parse_query_str(q, &kv) != 0)
		return (NULL);
	v = evhttp_find_header(&kv, name);
	if (v != NULL)
		snprintf(buf, len, "%s", v);
	evhttp_clear_headers(&kv);
	return (v != NULL ? buf : NULL);
}

/* The project a request names (?project=), else the dashboard's. */
static const char *
dash_project(struct dash *d, struct evhttp_request *req, char *buf, size_t len)
{
	const char *p = dash_param(req, "project", buf, len);

	return (p != NULL && *p != '\0' ? p : d->project);
}

/* GET /api/session: what the page needs before anything else. */
static void
dash_session(struct dash *d, struct evhttp_request *req)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "csrf", d->csrf);
	cJSON_AddStringToObject(j, "operator", d->vo.operator);
	cJSON_AddBoolToObject(j, "read_only", d->read_only);
	cJSON_AddStringToObject(j, "project", d->project);
	cJSON_AddStringToObject(j, "version", BATON_VERSION);
	cJSON_AddNumberToObject(j, "wait_warn", d->vo.wait_warn);
	dash_projects_json(d, cJSON_AddArrayToObject(j, "projects"));
	dash_json(req, 200, "OK", j);
}

/* The status an operation's error code answers with. */
static int
dash_code_status(const char *code)
{
	if (code == NULL)
		return (502);
	if (strcmp(code, ERR_INVALID) == 0 || strcmp(code, ERR_LIMIT) == 0)
		return (400);
	if (strcmp(code, ERR_PERMISSION) == 0)
		return (403);
	if (strcmp(code, ERR_NOT_FOUND) == 0)
		return (404);
	if (strcmp(code, ERR_CONFLICT) == 0)
		return (409);
	return (502);
}

/* GET /api/state: the snapshot of a project. */
static void
dash_state(struct dash *d, struct evhttp_request *req)
{
	char buf[4200];
	const char *project = dash_project(d, req, buf, sizeof buf);
	struct op_error err;
	struct conn *c;
	cJSON *snap;

	memset(&err, 0, sizeof err);
	if ((c = dash_conn(d, project, &err)) == NULL ||
	    (snap = view_snapshot(c, &d->vo, &err)) == NULL) {
		dash_conn_failed(d, project);
		dash_error(req, 502, "Bad Gateway",
		    err.code != NULL ? err.code : ERR_UNAVAILABLE, NULL, err.message);
		return;
	}
	cJSON_AddBoolToObject(snap, "read_only", d->read_only);
	cJSON_AddBoolToObject(snap, "feed", d->watching);
	cJSON_AddNumberToObject(snap, "streams", (double)d->nsse);
	dash_projects_json(d, cJSON_AddArrayToObject(snap, "projects"));
	dash_json(req, 200, "OK", snap);
}

/* GET /api/events: a Server-Sent Events stream of the project's entries. */
static void
dash_events(struct dash *d, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *last = evhttp_find_header(in, "Last-Event-ID"), *all;
	char buf[4200], abuf[32], pbuf[8];
	const char *project = dash_project(d, req, buf, sizeof buf);
	uint64_t after = d->rev;

	if (last != NULL)
		after = strtoull(last, NULL, 10);
	else if (dash_param(req, "after", abuf, sizeof abuf) != NULL)
		after = strtoull(abuf, NULL, 10);
	all = dash_param(req, "all", pbuf, sizeof pbuf);
	if (dash_sse_open(d, req, all != NULL ? NULL : project, after) != 0)
		dash_error(req, 503, "Service Unavailable", ERR_LIMIT, NULL,
		    "too many event streams are open; close a tab");
}

/* POST /api/action: checks first, then the action as the operator. */
static void
dash_action(struct dash *d, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	const char *type = evhttp_find_header(in, "Content-Type");
	char *text, buf[4200];
	const char *project;
	struct op_error err;
	struct conn *c;
	cJSON *j, *r, *out;
	size_t len;

	if (!dash_origin_ok(d, evhttp_find_header(in, "Origin"))) {
		dash_error(req, 403, "Forbidden", ERR_PERMISSION, "Origin",
		    "actions come only from the dashboard's own page (Origin)");
		return;
	}
	if (type == NULL || strncasecmp(type, "application/json", 16) != 0 ||
	    (type[16] != '\0' && type[16] != ';')) {
		dash_error(req, 415, "Unsupported Media Type", ERR_INVALID, "Content-Type",
		    "actions are JSON: Content-Type: application/json");
		return;
	}
	if (!dash_secret_ok(d->csrf, evhttp_find_header(in, "X-CSRF-Token"))) {
		dash_error(req, 403, "Forbidden", ERR_PERMISSION, "X-CSRF-Token",
		    "the action lacks the page's CSRF token: reload the page");
		return;
	}
	if (d->read_only) {
		dash_error(req, 403, "Forbidden", ERR_PERMISSION, NULL,
		    "this dashboard is read-only (started with --read-only)");
		return;
	}
	len = evbuffer_get_length(body);
	text = xmalloc(len + 1);
	evbuffer_copyout(body, text, len);
	text[len] = '\0';
	j = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		dash_error(req, 400, "Bad Request", ERR_INVALID, NULL,
		    "the body must be one JSON object");
		return;
	}
	project = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "project"))
	    ? cJSON_GetObjectItemCaseSensitive(j, "project")->valuestring
	    : d->project;
	snprintf(buf, sizeof buf, "%s", project);
	memset(&err, 0, sizeof err);
	if ((c = dash_conn(d, buf, &err)) == NULL) {
		cJSON_Delete(j);
		dash_error(req, 502, "Bad Gateway", err.code, NULL, err.message);
		return;
	}
	r = view_action(c, j, &d->vo, &err);
	cJSON_Delete(j);
	if (r == NULL) {
		if (err.code != NULL && strcmp(err.code, ERR_UNAVAILABLE) == 0)
			dash_conn_failed(d, buf);
		dash_error(req, dash_code_status(err.code), "Refused",
		    err.code != NULL ? err.code : ERR_INTERNAL, err.field, err.message);
		return;
	}
	out = cJSON_CreateObject();
	cJSON_AddBoolToObject(out, "ok", 1);
	cJSON_AddItemToObject(out, "result", r);
	dash_json(req, 200, "OK", out);
}

/* GET of an embedded file. */
static void
dash_asset(struct evhttp_request *req, const struct dash_asset *a)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_reference(b, a->data, a->len, NULL, NULL);
	dash_headers(req, a->type);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* Every request: the checks, then the route. */
static void
dash_request_cb(struct evhttp_request *req, void *arg)
{
	struct dash *d = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct dash_asset *a;
	char tok[TOKEN_MAX_LEN + 1];

	if (path == NULL || *path == '\0')
		path = "/";
	if (!dash_host_ok(d, evhttp_find_header(in, "Host"))) {
		dash_error(req, 403, "Forbidden", ERR_PERMISSION, "Host",
		    "this dashboard answers to 127.0.0.1 and localhost only (Host)");
		return;
	}
	if (strcmp(path, "/") == 0 && cmd == EVHTTP_REQ_GET &&
	    dash_param(req, "token", tok, sizeof tok) != NULL) {
		if (dash_secret_ok(d->token, tok))
			dash_login(d, req);
		else
			dash_unauthorized(req);
		return;
	}
	if (!dash_cookie_ok(d, evhttp_find_header(in, "Cookie"))) {
		dash_unauthorized(req);
		return;
	}
	if (cmd == EVHTTP_REQ_POST && strcmp(path, "/api/action") == 0)
		dash_action(d, req);
	else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
		dash_error(req, 405, "Method Not Allowed", ERR_INVALID, NULL,
		    "only GET, and POST to /api/action");
	else if (strcmp(path, "/api/session") == 0)
		dash_session(d, req);
	else if (strcmp(path, "/api/state") == 0)
		dash_state(d, req);
	else if (strcmp(path, "/api/events") == 0)
		dash_events(d, req);
	else if ((a = dash_asset_find(path)) != NULL)
		dash_asset(req, a);
	else
		dash_error(req, 404, "Not Found", ERR_NOT_FOUND, NULL, "no such page");
}

/* Listen on 127.0.0.1 (the port chosen, or a free one); d->http NULL when it cannot. */
void
dash_http_start(struct dash *d)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;

	if ((d->http = evhttp_new(d->base)) == NULL)
		fatalx("evhttp_new");
	evhttp_set_allowed_methods(d->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
		EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(d->http, DASH_BODY_MAX);
	evhttp_set_max_headers_size(d->http, 16384);
	evhttp_set_timeout(d->http, 60);
	evhttp_set_gencb(d->http, dash_request_cb, d);
	bs = evhttp_bind_socket_with_handle(d->http, "127.0.0.1", (ev_uint16_t)d->port);
	if (bs == NULL) {
		cli_syserr("cannot listen on 127.0.0.1:%d", d->port);
		evhttp_free(d->http);
		d->http = NULL;
		return;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &len) == 0)
		d->port = ntohs(sa.sin_port);
}
