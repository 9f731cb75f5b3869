/*
 * The etcd client: etcd's HTTP/JSON gateway (the v3 API, /v3/kv/txn,
 * /v3/lease/..., /v3/watch) spoken with libevent's evhttp and cJSON,
 * for the shared projects of the multi-host backend (shared.c).
 *
 * A call is one POST with a deadline (--etcd-timeout): it goes to the
 * endpoint that answered last, and when that one cannot be reached or
 * says it has no leader (every request carries Grpc-Metadata-hasleader,
 * without which a member cut off from the others would hang), to the
 * next one, with a short backoff once every endpoint has been tried.
 * When the deadline passes the caller is told why, never left waiting.
 * A call may so reach etcd twice (its answer was lost): the recipes in
 * shared-*.c are written so that a repeated transaction does no harm
 * (a compare that fails the second time, a tag that recognises one's
 * own write).
 *
 * Connections are kept per endpoint, ETCD_POOL at most, one request at
 * a time each (HTTP/1.1); calls beyond that queue in order.  A watch
 * has a connection of its own: the gateway streams its events as
 * chunked JSON lines.  A stream that drops is resumed from the revision
 * after the last event it delivered, on any endpoint, so no event is
 * lost; when etcd has compacted that history the owner is told, and
 * re-reads.
 *
 * https:// endpoints are reached over TLS (etcd-tls.c makes the
 * bufferevents and says why a handshake failed).  With --etcd-user,
 * every call and watch carries the token of etcd's authentication in
 * its Authorization header: the first call asks /v3/auth/authenticate
 * for it (the others wait), and a call that etcd answers "invalid auth
 * token" (it expired, or a restarted member forgot it) waits for a
 * fresh one and goes again, once, within its deadline.
 *
 * A connection that closed is not opened again by evhttp (an OpenSSL
 * bufferevent cannot start over): it is replaced, and freed outside
 * its own callbacks.
 *
 * 64-bit ids and revisions travel as JSON strings: read with strtoll,
 * never through a double.  Keys and values are base64.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "shared.h"

#define ETCD_POOL 8                    /* connections per endpoint */
#define ETCD_ATTEMPT_SECONDS 2.0       /* one attempt at one endpoint */
#define ETCD_BACKOFF_MAX 0.5           /* seconds between rounds of attempts */
#define ETCD_BODY_MAX (64 << 20)       /* the largest answer taken */
#define ETCD_WATCH_IDLE 3600.0         /* seconds a watch stream may stay silent */
#define ETCD_WATCH_LINE_MAX (64 << 20) /* one event line of a watch */

struct etcd_ep {
	char *host;
	int port;
	int tls; /* https:// */
	char *hostport;
	struct etcd_conn *conns[ETCD_POOL];
	size_t nconns;
};

struct etcd_conn {
	struct evhttp_connection *evcon;
	struct etcd_ep *ep;
	struct etcd_call *call; /* in flight on it, or NULL: idle */
	int closed;             /* replaced before its next request */
};

struct etcd_call {
	char *path, *body;
	size_t len;
	uint64_t deadline;
	etcd_done *cb;
	void *arg;
	struct etcd_conn *conn; /* sent on it, or NULL */
	struct evhttp_request *req;
	struct event *deadline_ev, *retry_ev;
	unsigned tries;
	int queued;
	int authwait;     /* in authq, for a token */
	unsigned round;   /* the authentication it waits for */
	int noauth;       /* the authentication itself */
	int reauthed;     /* it went again with a fresh token */
	unsigned authgen; /* the token it was sent with */
	int gated;        /* its answer was dropped for a test (lose_gate) */
	char err[256];    /* why the last attempt failed */
	TAILQ_ENTRY(etcd_call) qentry;
};

/*
 * For tests only (tests/etcd.sh): while the file BATOND_TEST_ETCD_LOSE
 * names exists, the next successful txn's answer is dropped as if the
 * connection broke after etcd applied it; the file is removed, FILE.held
 * made, and the call tried again once FILE.go exists, checked every
 * 20 ms within the call's deadline.  Other hosts can write in between.
 */
static const char *lose_gate;

struct etcd_watch {
	char *key, *end;
	int64_t next; /* revision to resume from */
	int filters;
	etcd_event *cb;
	void *arg;
	struct evhttp_connection *evcon;
	struct evhttp_request *req;
	struct evbuffer *line;
	struct event *retry_ev, *free_ev;
	size_t ep;
	unsigned tries;
	unsigned authgen; /* the token its stream was opened with */
	int authwait;     /* for a token before it opens */
	int stopped;
	TAILQ_ENTRY(etcd_watch) entry;
};

double etcd_timeout = 5.0;
static struct etcd_ep eps[ETCD_ENDPOINTS_MAX];
static size_t neps, cur;
static char *ep_list;
static TAILQ_HEAD(, etcd_call) queue = TAILQ_HEAD_INITIALIZER(queue);
static TAILQ_HEAD(, etcd_call) authq = TAILQ_HEAD_INITIALIZER(authq); /* wait for a token */
static char *token;                      /* etcd's authentication token, or NULL */
static unsigned authgen;                 /* tokens had so far */
static struct etcd_call *authc;          /* the authentication in flight */
static unsigned authround;               /* authentications asked for so far */
static int auth_answered;                /* etcd itself refused the last one */
static int tls_any;                      /* some endpoint is https:// */
static struct evhttp_connection **grave; /* replaced, to be freed */
static size_t ngrave;
static struct event *grave_ev;
static TAILQ_HEAD(, etcd_watch) watches = TAILQ_HEAD_INITIALIZER(watches);
static size_t nwatches;

static void etcd_attempt(struct etcd_call *);
static void etcd_watch_connect(struct etcd_watch *);
static void etcd_watch_drop(struct etcd_watch *, const char *);
static struct etcd_call *etcd_call_new(const char *, cJSON *, etcd_done *, void *);

/* Parse one endpoint, http[s]://HOST[:PORT] or HOST[:PORT]; -1 with cause. */
static int
etcd_endpoint(const char *s, size_t n, char **cause)
{
	struct etcd_ep *ep = &eps[neps];
	const char *colon, *end = s + n;
	char *e;
	long port = 2379;
	int tls = 0;

	if (n > 7 && strncmp(s, "http://", 7) == 0) {
		s += 7;
		n -= 7;
	} else if (n > 8 && strncmp(s, "https://", 8) == 0) {
		s += 8;
		n -= 8;
		tls = 1;
	}
	if (n > 0 && s[n - 1] == '/')
		n--, end--;
	colon = memchr(s, ':', n);
	if (colon != NULL) {
		port = strtol(colon + 1, &e, 10);
		if (e != end || port < 1 || port > 65535)
			goto bad;
	} else
		colon = end;
	if (colon == s || neps == ETCD_ENDPOINTS_MAX)
		goto bad;
	ep->host = xstrndup(s, (size_t)(colon - s));
	ep->port = (int)port;
	ep->tls = tls;
	tls_any |= tls;
	xasprintf(&ep->hostport, "%s:%d", ep->host, ep->port);
	neps++;
	return (0);
bad:
	xasprintf(cause,
	    "--etcd takes up to %d URLs separated by commas, each http://HOST:PORT "
	    "or https://HOST:PORT (not '%.*s')",
	    ETCD_ENDPOINTS_MAX, (int)n, s);
	return (-1);
}

/* The endpoints, "http://h:p,http://h:p"; -1 with cause. */
int
etcd_configure(const char *list, char **cause)
{
	const char *p = list, *comma;
	size_t i;

	for (i = 0; i < neps; i++) {
		free(eps[i].host);
		free(eps[i].hostport);
	}
	neps = 0;
	tls_any = 0;
	do {
		comma = strchr(p, ',');
		if (etcd_endpoint(p, comma != NULL ? (size_t)(comma - p) : strlen(p), cause) !=
		    0)
			return (-1);
		p = comma + 1;
	} while (comma != NULL);
	free(ep_list);
	ep_list = xstrdup(list);
	return (0);
}

const char *
etcd_endpoint_list(void)
{
	return (ep_list != NULL ? ep_list : "");
}

/* Is some endpoint https://? */
int
etcd_tls(void)
{
	return (tls_any);
}

/* Free the replaced connections (from the event loop, or at the stop). */
static void
etcd_grave_cb(evutil_socket_t fd, short events, void *arg)
{
	while (ngrave > 0)
		evhttp_connection_free(grave[--ngrave]);
}

/* Free evcon soon, outside its own callbacks (which may be running). */
static void
etcd_evcon_free_later(struct evhttp_connection *evcon)
{
	grave = xreallocarray(grave, ngrave + 1, sizeof *grave);
	grave[ngrave++] = evcon;
	if (grave_ev == NULL)
		grave_ev = timer_new(etcd_grave_cb, NULL);
	timer_in(grave_ev, 0);
}

/* A connection to ep (TLS for https://), idle for at most secs. */
static struct evhttp_connection *
etcd_evcon_new(struct etcd_ep *ep, double secs)
{
	struct evhttp_connection *evcon;
	struct timeval tv = tv_secs(secs);

	if (ep->tls)
		evcon = evhttp_connection_base_bufferevent_new(base, NULL,
		    etcd_cred_bev(ep->host), ep->host, (unsigned short)ep->port);
	else
		evcon =
		    evhttp_connection_base_new(base, NULL, ep->host, (unsigned short)ep->port);
	if (evcon == NULL)
		fatalx("evhttp_connection_base_new");
	evhttp_connection_set_timeout_tv(evcon, &tv);
	evhttp_connection_set_retries(evcon, 0);
	return (evcon);
}

/* Why an attempt at ep could not reach it (TLS says more when it failed). */
static void
etcd_unreachable(const struct etcd_ep *ep, struct evhttp_connection *evcon, char *buf,
    size_t len)
{
	char why[300];

	if (ep->tls && etcd_cred_why(evhttp_connection_get_bufferevent(evcon), why, sizeof why))
		snprintf(buf, len, "TLS with etcd at %s failed: %.200s", ep->hostport, why);
	else
		snprintf(buf, len, "cannot reach etcd at %s%s", ep->hostport,
		    ep->tls ? " (or its TLS handshake failed)" : "");
}

/* Free a watch and its connection (with the request on it). */
static void
etcd_watch_free(struct etcd_watch *w)
{
	if (w->evcon != NULL)
		evhttp_connection_free(w->evcon);
	event_free(w->retry_ev);
	event_free(w->free_ev);
	evbuffer_free(w->line);
	free(w->key);
	free(w->end);
	free(w);
}

/* Nothing to do before the first call: connections are made on demand. */
void
etcd_start(void)
{
	if (neps == 0)
		fatalx("etcd_start without endpoints");
	lose_gate = getenv("BATOND_TEST_ETCD_LOSE");
}

/* Test only: drop c's answer now (lose_gate)?  Then c waits for FILE.go. */
static int
etcd_lose(struct etcd_call *c)
{
	char held[PATH_MAX];
	int fd;

	if (lose_gate == NULL || strcmp(c->path, "/v3/kv/txn") != 0 || unlink(lose_gate) != 0)
		return (0);
	snprintf(held, sizeof held, "%s.held", lose_gate);
	if ((fd = open(held, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
		close(fd);
	log_warnx("etcd: %s: the answer dropped for a test (BATOND_TEST_ETCD_LOSE)", c->path);
	c->gated = 1;
	timer_in(c->retry_ev, 0.02);
	return (1);
}

/* Test only: may gated call c go again (FILE.go exists)? */
static int
etcd_gate_open(struct etcd_call *c)
{
	char go[PATH_MAX];

	snprintf(go, sizeof go, "%s.go", lose_gate);
	if (access(go, F_OK) != 0) {
		timer_in(c->retry_ev, 0.02);
		return (0);
	}
	c->gated = 0;
	return (1);
}

/* Let go of every connection and watch (at the broker's stop). */
void
etcd_shutdown(void)
{
	struct etcd_watch *w;
	size_t i, j;

	while ((w = TAILQ_FIRST(&watches)) != NULL) {
		TAILQ_REMOVE(&watches, w, entry);
		etcd_watch_free(w);
	}
	for (i = 0; i < neps; i++) {
		for (j = 0; j < eps[i].nconns; j++) {
			evhttp_connection_free(eps[i].conns[j]->evcon);
			free(eps[i].conns[j]);
		}
		eps[i].nconns = 0;
	}
	etcd_grave_cb(-1, 0, NULL);
	if (grave_ev != NULL)
		event_free(grave_ev);
	grave_ev = NULL;
}

/* The headers every request carries (the token, unless it is the authentication). */
static void
etcd_headers(struct evhttp_request *req, const struct etcd_ep *ep, int auth)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Host", ep->hostport);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Grpc-Metadata-hasleader", "true");
	if (auth && token != NULL)
		evhttp_add_header(h, "Authorization", token);
}

/* The connection closed: evhttp must not open it again (see above). */
static void
etcd_conn_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct etcd_conn *c = arg;

	c->closed = 1;
}

/* A connection to ep for a unary call, idle or new; NULL when all are busy. */
static struct etcd_conn *
etcd_conn_get(struct etcd_ep *ep)
{
	struct etcd_conn *c = NULL;
	size_t i;

	for (i = 0; i < ep->nconns && c == NULL; i++) {
		if (ep->conns[i]->call == NULL)
			c = ep->conns[i];
	}
	if (c == NULL) {
		if (ep->nconns == ETCD_POOL)
			return (NULL);
		c = xcalloc(1, sizeof *c);
		c->ep = ep;
		ep->conns[ep->nconns++] = c;
	} else if (c->closed) {
		etcd_evcon_free_later(c->evcon);
		c->evcon = NULL;
	}
	if (c->evcon == NULL) {
		c->closed = 0;
		c->evcon = etcd_evcon_new(ep, ETCD_ATTEMPT_SECONDS);
		evhttp_connection_set_max_body_size(c->evcon, ETCD_BODY_MAX);
		evhttp_connection_set_closecb(c->evcon, etcd_conn_close_cb, c);
	}
	return (c);
}

/* Free a call, out of the queues it waits in (it is on no connection). */
static void
etcd_call_free(struct etcd_call *c)
{
	if (c->queued)
		TAILQ_REMOVE(&queue, c, qentry);
	if (c->authwait)
		TAILQ_REMOVE(&authq, c, qentry);
	if (authc == c)
		authc = NULL;
	event_free(c->deadline_ev);
	event_free(c->retry_ev);
	free(c->path);
	if (c->noauth) /* it holds the password */
		explicit_bzero(c->body, c->len);
	free(c->body);
	free(c);
}

/* Finish c: free it, then tell its owner (who may start other calls). */
static void
etcd_finish(struct etcd_call *c, const cJSON *res, const char *err)
{
	etcd_done *cb = c->cb;
	void *arg = c->arg;
	char why[700]; /* the longest a caller builds */

	if (err != NULL)
		snprintf(why, sizeof why, "%s", err);
	etcd_call_free(c);
	if (cb != NULL)
		cb(arg, res, err != NULL ? why : NULL);
}

/* A connection came free: the oldest queued call goes out. */
static void
etcd_dequeue(void)
{
	struct etcd_call *c;

	if ((c = TAILQ_FIRST(&queue)) == NULL)
		return;
	TAILQ_REMOVE(&queue, c, qentry);
	c->queued = 0;
	etcd_attempt(c);
}

static void etcd_authenticate(void);

/* c waits for a token (asked for unless that is under way). */
static void
etcd_auth_wait(struct etcd_call *c)
{
	if (authc == NULL)
		etcd_authenticate();
	c->authwait = 1;
	c->round = authround;
	TAILQ_INSERT_TAIL(&authq, c, qentry);
}

/*
 * The token, or why there is none: the calls and watches waiting for it
 * go on.  arg is not NULL at the start, where the caller says why.
 */
static void
etcd_auth_done(void *arg, const cJSON *res, const char *err)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(res, "token");
	struct etcd_call *c;
	struct etcd_watch *w;
	unsigned round = authround;
	char why[700];

	authc = NULL;
	if (err == NULL && (!cJSON_IsString(t) || *t->valuestring == '\0'))
		err = "etcd gave no token (is its authentication enabled?)";
	if (err == NULL) {
		free(token);
		token = xstrdup(t->valuestring);
		authgen++;
		log_notice("etcd: authenticated as %s", etcd_cred_user());
	} else {
		snprintf(why, sizeof why, "etcd authentication as %s failed: %s",
		    etcd_cred_user(), err);
		if (arg == NULL)
			log_warnx("%s", why);
	}
	/* those that came meanwhile wait for the next round */
	while ((c = TAILQ_FIRST(&authq)) != NULL && c->round == round) {
		TAILQ_REMOVE(&authq, c, qentry);
		c->authwait = 0;
		if (err == NULL)
			etcd_attempt(c);
		else
			etcd_finish(c, NULL, why);
	}
	TAILQ_FOREACH(w, &watches, entry) {
		if (!w->authwait)
			continue;
		w->authwait = 0;
		if (err == NULL)
			etcd_watch_connect(w);
		else
			etcd_watch_drop(w, why);
	}
}

/* Ask etcd for a token: user and password to /v3/auth/authenticate; cb is told. */
static void
etcd_auth_post(etcd_done *cb, void *arg)
{
	cJSON *body = cJSON_CreateObject();

	cJSON_AddStringToObject(body, "name", etcd_cred_user());
	cJSON_AddStringToObject(body, "password", etcd_cred_pass());
	authround++;
	auth_answered = 0;
	authc = etcd_call_new("/v3/auth/authenticate", body, cb, arg);
	authc->noauth = 1;
	etcd_attempt(authc);
}

static void
etcd_authenticate(void)
{
	etcd_auth_post(etcd_auth_done, NULL);
}

static void
etcd_login_done(void *arg, const cJSON *res, const char *err)
{
	char **cause = arg;

	etcd_auth_done(arg, res, err);
	if (err != NULL)
		xasprintf(cause, "etcd authentication as %s failed: %s", etcd_cred_user(), err);
}

/*
 * Before the broker starts (and forks): authenticate once, on an event
 * base of its own, so that a wrong password stops it with a clear
 * error.  0 (a token, or etcd could not be reached: the first call
 * tries again), or EX_NOPERM (77) with cause.
 */
int
etcd_login(char **cause)
{
	if (etcd_cred_user() == NULL)
		return (0);
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	etcd_auth_post(etcd_login_done, cause);
	while (authc != NULL)
		event_base_loop(base, EVLOOP_ONCE);
	etcd_shutdown();
	event_base_free(base);
	base = NULL;
	if (token != NULL || !auth_answered) {
		if (*cause != NULL)
			log_warnx("%s; trying again at the first call", *cause);
		free(*cause);
		*cause = NULL;
		return (0);
	}
	return (77);
}

/* Does etcd's error (grpc code, message) say the token is no good (expired, forgotten)? */
static int
etcd_auth_invalid(int64_t grpc, const char *msg)
{
	return (grpc == 16 || strstr(msg, "invalid auth token") != NULL ||
	    strstr(msg, "revision of auth store is old") != NULL ||
	    strstr(msg, "user name is empty") != NULL);
}

/*
 * etcd refused c's token: forget it (unless a fresher one came since c
 * left) and let c go again, once; 0 when c is to fail as it is.
 */
static int
etcd_auth_stale(struct etcd_call *c, int64_t grpc, const char *msg)
{
	if (c->noauth || etcd_cred_user() == NULL || c->reauthed ||
	    !etcd_auth_invalid(grpc, msg))
		return (0);
	c->reauthed = 1;
	log_notice("etcd: %s: authenticating again", msg);
	if (c->authgen == authgen) {
		free(token);
		token = NULL;
	}
	return (1);
}

/* The attempt failed for a reason worth another try: the next endpoint, maybe later. */
static void etcd_retry(struct etcd_call *c, const char *fmt, ...) printflike(2, 3);
static void
etcd_retry(struct etcd_call *c, const char *fmt, ...)
{
	va_list ap;
	double delay = 0;
	unsigned rounds;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	log_debug("etcd: %s %s: %s", c->conn != NULL ? c->conn->ep->hostport : "-", c->path,
	    c->err);
	if (c->conn != NULL && c->conn->ep == &eps[cur])
		cur = (cur + 1) % neps;
	c->conn = NULL;
	c->tries++;
	if (c->tries % neps == 0) {
		rounds = c->tries / neps;
		delay = 0.05 * (double)(1u << (rounds < 4 ? rounds : 4));
		if (delay > ETCD_BACKOFF_MAX)
			delay = ETCD_BACKOFF_MAX;
	}
	timer_in(c->retry_ev, delay);
}

/* What to check when etcd denies a call (grpc code 7), or "". */
static const char *
etcd_denied_hint(int64_t grpc)
{
	if (grpc != 7)
		return ("");
	if (etcd_cred_user() == NULL)
		return (" (etcd's authentication is on: batond --etcd-user, "
			"--etcd-password-file)");
	return (" (does a role of --etcd-user grant readwrite on --etcd-prefix?)");
}

/* How much of in's first line, at most max bytes, is printable. */
static size_t
etcd_text_len(struct evbuffer *in, size_t max)
{
	const unsigned char *p = evbuffer_pullup(in, -1);
	size_t n = 0, len = evbuffer_get_length(in);

	while (n < len && n < max && p[n] >= 0x20 && p[n] < 0x7f)
		n++;
	return (n);
}

/* The answer (or failure) of an attempt. */
static void
etcd_response_cb(struct evhttp_request *req, void *arg)
{
	struct etcd_call *c = arg;
	struct etcd_conn *conn = c->conn;
	struct evbuffer *in;
	const cJSON *e;
	cJSON *res;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	int64_t grpc;
	char why[300];

	c->req = NULL;
	conn->call = NULL;
	if (code == 0) {
		conn->closed = 1;
		etcd_unreachable(conn->ep, conn->evcon, why, sizeof why);
		etcd_retry(c, "%s", why);
		goto out;
	}
	in = evhttp_request_get_input_buffer(req);
	res = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in));
	if (res == NULL || !cJSON_IsObject(res)) {
		cJSON_Delete(res);
		snprintf(why, sizeof why, "etcd at %s answered HTTP %d without JSON: %.*s",
		    conn->ep->hostport, code, (int)etcd_text_len(in, 160),
		    (const char *)evbuffer_pullup(in, -1));
		/* a refusal stays one (a proxy's 5xx may pass) */
		if (code >= 400 && code < 500)
			etcd_finish(c, NULL, why);
		else
			etcd_retry(c, "%s", why);
		goto out;
	}
	auth_answered = c == authc;
	if ((e = cJSON_GetObjectItemCaseSensitive(res, "error")) != NULL || code != 200) {
		grpc = etcd_int(res, "code");
		snprintf(why, sizeof why, "etcd at %s: %s%s", conn->ep->hostport,
		    cJSON_IsString(e) ? e->valuestring : "error", etcd_denied_hint(grpc));
		cJSON_Delete(res);
		if (etcd_auth_stale(c, grpc, why)) {
			etcd_attempt(c); /* with a fresh token */
			goto out;
		}
		/* unavailable (no leader, leader changed, timed out), deadline */
		if (grpc == 14 || grpc == 4 || grpc == 0 || code >= 500)
			etcd_retry(c, "%s", why);
		else
			etcd_finish(c, NULL, why);
		goto out;
	}
	cur = (size_t)(conn->ep - eps);
	if (!etcd_lose(c))
		etcd_finish(c, res, NULL);
	cJSON_Delete(res);
out:
	etcd_dequeue();
}

/* Send c to the current endpoint (or queue it until a connection is free). */
static void
etcd_attempt(struct etcd_call *c)
{
	struct etcd_conn *conn;
	struct evhttp_request *req;

	if (!c->noauth && etcd_cred_user() != NULL && token == NULL) {
		etcd_auth_wait(c);
		return;
	}
	c->authgen = authgen;
	if ((conn = etcd_conn_get(&eps[cur])) == NULL) {
		TAILQ_INSERT_TAIL(&queue, c, qentry);
		c->queued = 1;
		return;
	}
	if ((req = evhttp_request_new(etcd_response_cb, c)) == NULL)
		fatalx("evhttp_request_new");
	etcd_headers(req, conn->ep, !c->noauth);
	evbuffer_add(evhttp_request_get_output_buffer(req), c->body, c->len);
	c->conn = conn;
	conn->call = c;
	c->req = req;
	if (evhttp_make_request(conn->evcon, req, EVHTTP_REQ_POST, c->path) != 0) {
		/* the request was freed */
		c->req = NULL;
		conn->call = NULL;
		etcd_retry(c, "cannot send to etcd at %s", conn->ep->hostport);
	}
}

static void
etcd_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct etcd_call *c = arg;

	if (c->gated && !etcd_gate_open(c))
		return;
	etcd_attempt(c);
}

/* Abandon what c has in flight: its request, its place in the queue. */
static void
etcd_abandon(struct etcd_call *c)
{
	if (c->req != NULL) {
		evhttp_cancel_request(c->req);
		c->req = NULL;
		c->conn->call = NULL;
		c->conn = NULL;
	}
	event_del(c->retry_ev);
}

/* The deadline passed: the owner hears why, etcd hears no more. */
static void
etcd_deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	struct etcd_call *c = arg;
	char why[600];

	etcd_abandon(c);
	snprintf(why, sizeof why,
	    "etcd did not answer within %g s (batond --etcd-timeout): %s%s; nothing was "
	    "granted",
	    etcd_timeout, c->err[0] != '\0' ? c->err : "no answer yet",
	    strncmp(c->err, "TLS", 3) == 0 ? ""
					   : "; the cluster is unreachable or has no leader");
	etcd_finish(c, NULL, why);
	etcd_dequeue();
}

/*
 * POST body (taken) to path; cb(arg, answer, NULL) or cb(arg, NULL, why)
 * once, within --etcd-timeout, unless cancelled first.  cb may be NULL
 * (fire and forget).
 */
struct etcd_call *
etcd_post(const char *path, cJSON *body, etcd_done *cb, void *arg)
{
	struct etcd_call *c = etcd_call_new(path, body, cb, arg);

	etcd_attempt(c);
	return (c);
}

/* A call of etcd_post, not sent yet: its deadline runs from now. */
static struct etcd_call *
etcd_call_new(const char *path, cJSON *body, etcd_done *cb, void *arg)
{
	struct etcd_call *c = xcalloc(1, sizeof *c);

	c->path = xstrdup(path);
	if ((c->body = cJSON_PrintUnformatted(body)) == NULL)
		fatalx("cJSON_PrintUnformatted");
	cJSON_Delete(body);
	c->len = strlen(c->body);
	c->cb = cb;
	c->arg = arg;
	c->deadline_ev = timer_new(etcd_deadline_cb, c);
	c->retry_ev = timer_new(etcd_retry_cb, c);
	timer_in(c->deadline_ev, etcd_timeout);
	return (c);
}

/* The owner no longer wants the answer: nothing more is called. */
void
etcd_cancel(struct etcd_call *c)
{
	etcd_abandon(c);
	etcd_call_free(c);
	etcd_dequeue();
}

/* Free a stopped watch, outside its connection's callbacks. */
static void
etcd_watch_free_cb(evutil_socket_t fd, short events, void *arg)
{
	etcd_watch_free(arg);
}

/* The stream dropped: resume after the last event, on the next endpoint, soon. */
static void
etcd_watch_drop(struct etcd_watch *w, const char *why)
{
	double delay;

	if (w->stopped)
		return;
	log_debug("etcd: watch %s dropped: %s", w->key, why);
	w->req = NULL; /* the connection goes (with it) when the stream is opened again */
	evbuffer_drain(w->line, evbuffer_get_length(w->line));
	if (w->ep == cur)
		cur = (cur + 1) % neps;
	w->tries++;
	delay = w->tries < neps ? 0 : 0.05 * (double)(w->tries < 4 ? 1u << w->tries : 16);
	if (delay > ETCD_BACKOFF_MAX)
		delay = ETCD_BACKOFF_MAX;
	timer_in(w->retry_ev, delay);
}

/*
 * A watch etcd refused or cancelled (its reason, or error): when it is
 * the token it was opened with, that token goes, and the stream opens
 * again with a fresh one.
 */
static void
etcd_watch_refused(struct etcd_watch *w, const cJSON *why)
{
	const cJSON *m =
	    cJSON_IsObject(why) ? cJSON_GetObjectItemCaseSensitive(why, "message") : why;
	const char *msg = cJSON_IsString(m) ? m->valuestring : "";

	if (etcd_cred_user() == NULL || w->authgen != authgen || token == NULL ||
	    (strstr(msg, "permission denied") == NULL &&
		!etcd_auth_invalid(etcd_int(why, "grpc_code"), msg)))
		return;
	log_notice("etcd: watch %s: %s: authenticating again", w->key, msg);
	free(token);
	token = NULL;
}

/* One JSON line of the stream; -1 when the stream is to be dropped. */
static int
etcd_watch_line(struct etcd_watch *w, const char *line, size_t len)
{
	const cJSON *res, *evs, *ev, *kv;
	cJSON *j = cJSON_ParseWithLength(line, len);
	int64_t compact, rev;

	if (j == NULL)
		return (-1);
	if ((res = cJSON_GetObjectItemCaseSensitive(j, "result")) == NULL) {
		/* an error: no leader here, or the token */
		etcd_watch_refused(w, cJSON_GetObjectItemCaseSensitive(j, "error"));
		cJSON_Delete(j);
		return (-1);
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "canceled"))) {
		compact = etcd_int(res, "compact_revision");
		if (compact == 0)
			etcd_watch_refused(w,
			    cJSON_GetObjectItemCaseSensitive(res, "cancel_reason"));
		cJSON_Delete(j);
		if (compact == 0)
			return (-1);
		log_notice("etcd: watch %s from revision %lld: etcd compacted its history to "
			   "%lld; the key is read again",
		    w->key, (long long)w->next, (long long)compact);
		w->cb(w->arg, NULL, compact); /* the owner stops it, re-reads, watches anew */
		return (0);
	}
	w->tries = 0;
	evs = cJSON_GetObjectItemCaseSensitive(res, "events");
	cJSON_ArrayForEach(ev, evs) {
		if (w->stopped)
			break;
		kv = cJSON_GetObjectItemCaseSensitive(ev, "kv");
		if ((rev = etcd_int(kv, "mod_revision")) >= w->next)
			w->next = rev + 1;
		w->cb(w->arg, ev, 0);
	}
	cJSON_Delete(j);
	return (0);
}

/*
 * Chunks of the stream: whole lines are events.  A stream given up
 * (w->req no longer req) is left alone: its connection is freed from a
 * timer, never inside its own callbacks.
 */
static void
etcd_watch_chunk_cb(struct evhttp_request *req, void *arg)
{
	struct etcd_watch *w = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer_ptr p;
	size_t n;
	char *line;

	if (w->stopped || w->req != req) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	evbuffer_add_buffer(w->line, in);
	while (!w->stopped && w->req == req) {
		p = evbuffer_search(w->line, "\n", 1, NULL);
		if (p.pos < 0)
			break;
		n = (size_t)p.pos;
		line = xmalloc(n + 1);
		evbuffer_remove(w->line, line, n + 1);
		if (etcd_watch_line(w, line, n) != 0)
			etcd_watch_drop(w, "error line");
		free(line);
	}
	if (!w->stopped && w->req == req && evbuffer_get_length(w->line) > ETCD_WATCH_LINE_MAX)
		etcd_watch_drop(w, "line too long");
}

/* The stream ended (etcd went, or closed it). */
static void
etcd_watch_done_cb(struct evhttp_request *req, void *arg)
{
	struct etcd_watch *w = arg;
	char why[300];

	if (w->stopped || w->req == NULL || (req != NULL && w->req != req))
		return;
	if (req == NULL)
		etcd_unreachable(&eps[w->ep], w->evcon, why, sizeof why);
	etcd_watch_drop(w, req == NULL ? why : "stream ended");
}

/* Open the stream on the current endpoint from w->next. */
static void
etcd_watch_connect(struct etcd_watch *w)
{
	struct etcd_ep *ep = &eps[cur];
	cJSON *body, *cr, *f;
	char rev[32], *text;

	if (w->evcon != NULL)
		evhttp_connection_free(w->evcon);
	w->evcon = NULL;
	if (etcd_cred_user() != NULL && token == NULL) {
		w->authwait = 1; /* etcd_auth_done opens it */
		if (authc == NULL)
			etcd_authenticate();
		return;
	}
	w->authgen = authgen;
	w->ep = cur;
	w->evcon = etcd_evcon_new(ep, ETCD_WATCH_IDLE);
	body = cJSON_CreateObject();
	cr = cJSON_AddObjectToObject(body, "create_request");
	cJSON_AddItemToObject(cr, "key", etcd_b64(w->key, strlen(w->key)));
	if (w->end != NULL)
		cJSON_AddItemToObject(cr, "range_end", etcd_b64(w->end, strlen(w->end)));
	snprintf(rev, sizeof rev, "%lld", (long long)w->next);
	cJSON_AddStringToObject(cr, "start_revision", rev);
	if (w->filters != 0) {
		f = cJSON_AddArrayToObject(cr, "filters");
		if (w->filters & ETCD_WATCH_NOPUT)
			cJSON_AddItemToArray(f, cJSON_CreateString("NOPUT"));
		if (w->filters & ETCD_WATCH_NODELETE)
			cJSON_AddItemToArray(f, cJSON_CreateString("NODELETE"));
	}
	text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	if ((w->req = evhttp_request_new(etcd_watch_done_cb, w)) == NULL || text == NULL)
		fatalx("evhttp_request_new");
	evhttp_request_set_chunked_cb(w->req, etcd_watch_chunk_cb);
	etcd_headers(w->req, ep, 1);
	evbuffer_add(evhttp_request_get_output_buffer(w->req), text, strlen(text));
	free(text);
	if (evhttp_make_request(w->evcon, w->req, EVHTTP_REQ_POST, "/v3/watch") != 0)
		etcd_watch_drop(w, "cannot send");
}

static void
etcd_watch_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	etcd_watch_connect(arg);
}

/*
 * Watch key (with prefix: every key under it) from revision start:
 * cb(arg, event, 0) for each event, in order, across drops of the
 * stream; cb(arg, NULL, compact) once when that history is compacted
 * (the watch is over then; the owner stops it).
 */
struct etcd_watch *
etcd_watch(const char *key, int prefix, int64_t start, int filters, etcd_event *cb, void *arg)
{
	struct etcd_watch *w = xcalloc(1, sizeof *w);

	w->key = xstrdup(key);
	if (prefix)
		w->end = etcd_prefix_end(key);
	w->next = start;
	w->filters = filters;
	w->cb = cb;
	w->arg = arg;
	if ((w->line = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	w->retry_ev = timer_new(etcd_watch_retry_cb, w);
	w->free_ev = timer_new(etcd_watch_free_cb, w);
	TAILQ_INSERT_TAIL(&watches, w, entry);
	nwatches++;
	etcd_watch_connect(w);
	return (w);
}

/*
 * Stop a watch: no more events.  Freed from a timer, outside the
 * callbacks of its stream (freeing the connection frees its request).
 */
void
etcd_watch_stop(struct etcd_watch *w)
{
	w->stopped = 1;
	w->req = NULL;
	TAILQ_REMOVE(&watches, w, entry);
	nwatches--;
	event_del(w->retry_ev);
	timer_in(w->free_ev, 0);
}

size_t
etcd_watch_count(void)
{
	return (nwatches);
}

/* The body that names a lease: {"ID": "id"} (a string: 64 bits). */
cJSON *
etcd_lease_id(int64_t id)
{
	cJSON *body = cJSON_CreateObject();
	char num[32];

	snprintf(num, sizeof num, "%lld", (long long)id);
	cJSON_AddStringToObject(body, "ID", num);
	return (body);
}

/* Revoke a lease, nobody waiting: if etcd cannot be reached, it expires. */
void
etcd_revoke(int64_t id)
{
	etcd_post("/v3/lease/revoke", etcd_lease_id(id), NULL, NULL);
}

/* A 64-bit field of an answer: a string of digits (or a small number); 0 when absent. */
int64_t
etcd_int(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (cJSON_IsString(v))
		return (strtoll(v->valuestring, NULL, 10));
	if (cJSON_IsNumber(v))
		return ((int64_t)v->valuedouble);
	return (0);
}

/* The revision an answer was made at (its header's). */
int64_t
etcd_revision(const cJSON *res)
{
	return (etcd_int(cJSON_GetObjectItemCaseSensitive(res, "header"), "revision"));
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* p (n bytes) as a base64 JSON string. */
cJSON *
etcd_b64(const void *p, size_t n)
{
	const unsigned char *s = p;
	char *out = xmalloc(4 * ((n + 2) / 3) + 1), *o = out;
	uint32_t v;
	size_t i;
	cJSON *j;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = b64chars[v >> 18];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = b64chars[(v >> 6) & 63];
		*o++ = b64chars[v & 63];
	}
	if (i < n) {
		v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
		*o++ = b64chars[v >> 18];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	j = cJSON_CreateString(out);
	free(out);
	return (j);
}

/* The bytes of a base64 JSON string (NUL-terminated too); NULL when it is not one. */
unsigned char *
etcd_unb64(const cJSON *j, size_t *len)
{
	const char *s;
	unsigned char *out;
	uint32_t v = 0;
	size_t n = 0, bits = 0;
	const char *c;

	*len = 0;
	if (!cJSON_IsString(j))
		return (NULL);
	s = j->valuestring;
	out = xmalloc(strlen(s) / 4 * 3 + 4);
	for (; *s != '\0' && *s != '='; s++) {
		if ((c = strchr(b64chars, *s)) == NULL) {
			free(out);
			return (NULL);
		}
		v = v << 6 | (uint32_t)(c - b64chars);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(v >> bits);
		}
	}
	out[n] = '\0';
	*len = n;
	return (out);
}

/* The end of the range of every key starting with prefix. */
char *
etcd_prefix_end(const char *prefix)
{
	char *end = xstrdup(prefix);
	size_t n = strlen(end);

	/* our prefixes end in '/' or a printable byte: no carry */
	if (n == 0 || (unsigned char)end[n - 1] == 0xff)
		fatalx("etcd_prefix_end: bad prefix");
	end[n - 1]++;
	return (end);
}

/* target is "CREATE", "MOD", "VERSION": the field of a compare. */
static const char *
etcd_cmp_field(const char *target)
{
	if (strcmp(target, "CREATE") == 0)
		return ("create_revision");
	if (strcmp(target, "MOD") == 0)
		return ("mod_revision");
	return ("version");
}

/* A compare of key's target ("CREATE", "MOD", "VERSION") with v: result "EQUAL"... */
cJSON *
etcd_cmp(const char *key, const char *target, const char *result, int64_t v)
{
	cJSON *c = cJSON_CreateObject();
	char num[32];

	snprintf(num, sizeof num, "%lld", (long long)v);
	cJSON_AddItemToObject(c, "key", etcd_b64(key, strlen(key)));
	cJSON_AddStringToObject(c, "target", target);
	cJSON_AddStringToObject(c, "result", result);
	cJSON_AddStringToObject(c, etcd_cmp_field(target), num);
	return (c);
}

/* The same over every key under prefix (true when there is none). */
cJSON *
etcd_cmp_range(const char *prefix, const char *target, const char *result, int64_t v)
{
	cJSON *c = etcd_cmp(prefix, target, result, v);
	char *end = etcd_prefix_end(prefix);

	cJSON_AddItemToObject(c, "range_end", etcd_b64(end, strlen(end)));
	free(end);
	return (c);
}

/* A put of value (len bytes) under key, bound to lease (0: none), for a txn. */
cJSON *
etcd_put(const char *key, const void *value, size_t len, int64_t lease)
{
	cJSON *op = cJSON_CreateObject(), *p = cJSON_AddObjectToObject(op, "request_put");
	char num[32];

	cJSON_AddItemToObject(p, "key", etcd_b64(key, strlen(key)));
	cJSON_AddItemToObject(p, "value", etcd_b64(value, len));
	if (lease != 0) {
		snprintf(num, sizeof num, "%lld", (long long)lease);
		cJSON_AddStringToObject(p, "lease", num);
	}
	return (op);
}

/*
 * A range for a txn: key, or every key under it (prefix), oldest
 * created first, at most limit (0: all), created at max_create or
 * before (0: any).
 */
cJSON *
etcd_get(const char *key, int prefix, int64_t limit, int64_t max_create)
{
	cJSON *op = cJSON_CreateObject(), *r = cJSON_AddObjectToObject(op, "request_range");
	char *end, num[32];

	cJSON_AddItemToObject(r, "key", etcd_b64(key, strlen(key)));
	if (prefix) {
		end = etcd_prefix_end(key);
		cJSON_AddItemToObject(r, "range_end", etcd_b64(end, strlen(end)));
		free(end);
		cJSON_AddStringToObject(r, "sort_order", "ASCEND");
		cJSON_AddStringToObject(r, "sort_target", "CREATE");
	}
	if (limit > 0) {
		snprintf(num, sizeof num, "%lld", (long long)limit);
		cJSON_AddStringToObject(r, "limit", num);
	}
	if (max_create > 0) {
		snprintf(num, sizeof num, "%lld", (long long)max_create);
		cJSON_AddStringToObject(r, "max_create_revision", num);
	}
	return (op);
}

/* A delete of key (or every key under it) for a txn. */
cJSON *
etcd_del(const char *key, int prefix)
{
	cJSON *op = cJSON_CreateObject(),
	      *d = cJSON_AddObjectToObject(op, "request_delete_range");
	char *end;

	cJSON_AddItemToObject(d, "key", etcd_b64(key, strlen(key)));
	if (prefix) {
		end = etcd_prefix_end(key);
		cJSON_AddItemToObject(d, "range_end", etcd_b64(end, strlen(end)));
		free(end);
	}
	return (op);
}

/* A txn body: compares, then the ops of success and of failure (arrays, or NULL). */
cJSON *
etcd_txn(cJSON *cmp, cJSON *success, cJSON *failure)
{
	cJSON *t = cJSON_CreateObject();

	cJSON_AddItemToObject(t, "compare", cmp != NULL ? cmp : cJSON_CreateArray());
	cJSON_AddItemToObject(t, "success", success != NULL ? success : cJSON_CreateArray());
	cJSON_AddItemToObject(t, "failure", failure != NULL ? failure : cJSON_CreateArray());
	return (t);
}

/* The kvs of the i-th answer of a txn, when it is a range (NULL: none). */
const cJSON *
etcd_txn_kvs(const cJSON *res, int i)
{
	const cJSON *r =
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "responses"), i);

	r = cJSON_GetObjectItemCaseSensitive(r, "response_range");
	return (cJSON_GetObjectItemCaseSensitive(r, "kvs"));
}

/* The first kv of a range answer (plain /v3/kv/range), or NULL. */
const cJSON *
etcd_kv_first(const cJSON *res)
{
	return (cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "kvs"), 0));
}
