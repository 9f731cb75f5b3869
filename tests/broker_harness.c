/*
 * A broker in the test's own process (see broker_harness.h): the peers,
 * the frames they send and receive, waits on the event loop, the check
 * language, and scripts of steps.
 */
#include "config.h"

#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "broker.h"
#include "broker_harness.h"
#include "tap.h" /* diag only: the test program counts */

/* One frame a peer received. */
struct hframe {
	msgpack_unpacked u;
	unsigned char *bytes; /* the payload u's strings point into: the frame's own */
	int type;
	uint64_t id; /* res frames */
	int taken;
};

struct hpeer {
	int fd; /* the test's end of the socketpair */
	char agent[AGENT_NAME_MAX_LEN + 1];
	uint64_t next_id;
	unsigned char *buf; /* bytes of a frame not whole yet */
	size_t len, cap;
	struct hframe **frames;
	size_t nframes, capframes;
	TAILQ_ENTRY(hpeer) entry;
};

static TAILQ_HEAD(, hpeer) peers = TAILQ_HEAD_INITIALIZER(peers);
static struct event *guard; /* ends a blocking loop pass at a wait's deadline */
static int failures;        /* harness errors h_stop reports */

/* A mistake in a test itself (not in the broker): stop at once. */
static __dead void printflike(1, 2) h_bug(const char *fmt, ...)
{
	va_list ap;

	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	exit(99);
}

/* The guard only ends a loop pass: h_until checks the deadline. */
static void
h_guard_cb(evutil_socket_t fd, short events, void *arg)
{
}

/*
 * The broker as main.c starts it, without a socket or a database: the
 * modules register their session hooks in main.c's order (modules_init).
 */
void
h_start(void)
{
	durability = DURABILITY_NONE;
	ground_start();
	feed_init();
	wait_init();
	presence_init();
	lock_init();
	task_init();
	msg_init();
	dump_init();
	store_start();
	session_seed(revision);
	server_start();
	guard = timer_new(h_guard_cb, NULL);
}

/* Free a peer's frames and buffer. */
static void
h_peer_free(struct hpeer *p)
{
	size_t i;

	for (i = 0; i < p->nframes; i++) {
		msgpack_unpacked_destroy(&p->frames[i]->u);
		free(p->frames[i]->bytes);
		free(p->frames[i]);
	}
	free(p->frames);
	free(p->buf);
	free(p);
}

/* Close every peer (their sessions end, what they held goes); 0 if all went well. */
int
h_stop(void)
{
	struct hpeer *p;

	while ((p = TAILQ_FIRST(&peers)) != NULL) {
		if (h_close(p) != 0)
			return (-1);
	}
	event_free(guard);
	guard = NULL;
	lock_shutdown();
	store_close();
	return (failures == 0 ? 0 : -1);
}

/* Write a whole frame to the broker's end. */
static void
h_write(struct hpeer *p, struct fbuf *fb)
{
	ssize_t n;

	if (fbuf_finish(fb) != 0)
		h_bug("cannot finish a frame");
	n = send(p->fd, fb->sb.data, fb->sb.size, MSG_NOSIGNAL);
	if (n < 0 || (size_t)n != fb->sb.size)
		h_bug("short write to the broker: %s", n < 0 ? strerror(errno) : "partial");
	fbuf_free(fb);
}

/* Take the whole frames out of the peer's buffer. */
static void
h_parse(struct hpeer *p)
{
	struct hframe *f;
	const char *cause = NULL;
	size_t off = 0;
	ssize_t n;
	int64_t v;

	while ((n = frame_length(p->buf + off, p->len - off, FRAME_MAX_DEFAULT, &cause)) > 0 &&
	    p->len - off >= (size_t)n + FRAME_HDR) {
		f = xcalloc(1, sizeof *f);
		msgpack_unpacked_init(&f->u);
		/* decoded strings point into the bytes: the peer's buffer is reused */
		f->bytes = xmalloc((size_t)n);
		memcpy(f->bytes, p->buf + off + FRAME_HDR, (size_t)n);
		if (frame_decode(f->bytes, (size_t)n, &f->u, &cause) != 0)
			h_bug("the broker sent a frame that does not decode: %s", cause);
		f->type = mp_frame_type(&f->u.data);
		if (mp_int(mp_get(&f->u.data, "id"), &v) == 0)
			f->id = (uint64_t)v;
		if (p->nframes == p->capframes) {
			p->capframes = p->capframes ? p->capframes * 2 : 16;
			p->frames = xreallocarray(p->frames, p->capframes, sizeof *p->frames);
		}
		p->frames[p->nframes++] = f;
		off += (size_t)n + FRAME_HDR;
	}
	if (n < 0)
		h_bug("the broker sent a bad frame header: %s", cause);
	memmove(p->buf, p->buf + off, p->len - off);
	p->len -= off;
}

/* Read whatever the broker sent the peer (never blocks). */
static void
h_pump(struct hpeer *p)
{
	ssize_t n;

	for (;;) {
		if (p->cap - p->len < 65536) {
			p->cap = p->len + 65536;
			p->buf = xreallocarray(p->buf, 1, p->cap);
		}
		n = recv(p->fd, p->buf + p->len, p->cap - p->len, MSG_DONTWAIT);
		if (n <= 0)
			break;
		p->len += (size_t)n;
	}
	h_parse(p);
}

/* An untaken frame of the given type (and id, for res frames), or NULL. */
static struct hframe *
h_find(struct hpeer *p, int type, uint64_t id)
{
	size_t i;

	for (i = 0; i < p->nframes; i++) {
		if (!p->frames[i]->taken && p->frames[i]->type == type &&
		    (type != FRAME_RES || p->frames[i]->id == id))
			return (p->frames[i]);
	}
	return (NULL);
}

/* Run the loop until fn(arg) holds or H_TIMEOUT passes; 0 if it held. */
int
h_until(int (*fn)(void *), void *arg, const char *what)
{
	uint64_t deadline = mono_ms() + (uint64_t)(H_TIMEOUT * 1000);

	while (!fn(arg)) {
		if (mono_ms() >= deadline) {
			evtimer_del(guard);
			diag("waited %g s for %s; it did not happen", H_TIMEOUT, what);
			return (-1);
		}
		/* one pass that runs what is ready, or sleeps until the deadline */
		timer_at(guard, deadline);
		if (event_base_loop(base, EVLOOP_ONCE) == -1)
			h_bug("event_base_loop failed");
	}
	evtimer_del(guard);
	return (0);
}

/* What h_until waits for in h_wait: a frame arriving at a peer. */
struct h_wanted {
	struct hpeer *p;
	int type;
	uint64_t id;
	struct hframe *f;
};

/* Has the frame come?  (Reads what is there first.) */
static int
h_arrived(void *arg)
{
	struct h_wanted *w = arg;

	h_pump(w->p);
	return ((w->f = h_find(w->p, w->type, w->id)) != NULL);
}

/* Wait for a frame of type (and id) at p; taken, or NULL after saying why. */
static struct hframe *
h_wait(struct hpeer *p, int type, uint64_t id)
{
	struct h_wanted w = { p, type, id, NULL };
	char what[128];

	snprintf(what, sizeof what, "%s to get a frame of type %d (id %llu)", p->agent, type,
	    (unsigned long long)id);
	if (h_until(h_arrived, &w, what) != 0)
		return (NULL);
	w.f->taken = 1;
	return (w.f);
}

/* A new peer, as if accepted: hello as agent in project, and its welcome. */
struct hpeer *
h_connect(const char *agent, const char *project)
{
	struct hpeer *p;
	struct hframe *f;
	struct fbuf fb;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == -1)
		h_bug("socketpair: %s", strerror(errno));
	p = xcalloc(1, sizeof *p);
	p->fd = sv[1];
	snprintf(p->agent, sizeof p->agent, "%s", agent);
	TAILQ_INSERT_TAIL(&peers, p, entry);
	client_new(sv[0], getuid(), getpid());
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "t", FRAME_HELLO);
	pk_kint(&fb, "v", PROTO_VERSION);
	pk_kstr(&fb, "kind", "cli");
	pk_kstr(&fb, "agent", agent);
	pk_kstr(&fb, "project", project != NULL ? project : "default");
	pk_map_close(&fb);
	h_write(p, &fb);
	if ((f = h_wait(p, FRAME_WELCOME, 0)) == NULL) {
		failures++;
		return (NULL);
	}
	return (p);
}

/* What h_close waits for: the broker freed one client more. */
static int
h_freed(void *arg)
{
	return (client_count() <= *(size_t *)arg);
}

/* Close the peer's end; the broker ends its session when it reads the EOF. */
int
h_close(struct hpeer *p)
{
	size_t want = client_count() - 1;
	char what[128];
	int rv;

	close(p->fd);
	TAILQ_REMOVE(&peers, p, entry);
	snprintf(what, sizeof what, "the broker to end %s's session", p->agent);
	rv = h_until(h_freed, &want, what);
	h_peer_free(p);
	if (rv != 0)
		failures++;
	return (rv);
}

/* Pack JSON args written with ' for " (the tests' shorthand); stops on bad JSON. */
static void
h_pack_args(struct fbuf *fb, const char *args)
{
	char *text = xstrdup(args), *c;
	cJSON *j;

	for (c = text; *c != '\0'; c++) {
		if (*c == '\'')
			*c = '"';
	}
	if ((j = cJSON_Parse(text)) == NULL)
		h_bug("bad JSON in a test: %s", args);
	if (json_pack(fb, j) != 0)
		h_bug("cannot pack %s", args);
	cJSON_Delete(j);
	free(text);
}

/* Send a request frame {t, id, op, a}; its id. */
uint64_t
h_send(struct hpeer *p, const char *op, const char *args)
{
	struct fbuf fb;
	uint64_t id = ++p->next_id;

	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "t", FRAME_REQ);
	pk_kuint(&fb, "id", id);
	pk_kstr(&fb, "op", op);
	if (args != NULL) {
		pk_str(&fb, "a");
		h_pack_args(&fb, args);
	}
	pk_map_close(&fb);
	h_write(p, &fb);
	return (id);
}

/* Send a cancel frame for request id. */
void
h_cancel(struct hpeer *p, uint64_t id)
{
	struct fbuf fb;

	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "t", FRAME_CANCEL);
	pk_kuint(&fb, "id", id);
	pk_map_close(&fb);
	h_write(p, &fb);
}

/* The reply to id, waited for. */
const msgpack_object *
h_reply(struct hpeer *p, uint64_t id)
{
	struct hframe *f = h_wait(p, FRAME_RES, id);

	return (f != NULL ? &f->u.data : NULL);
}

/* Send a request and wait for its reply. */
const msgpack_object *
h_call(struct hpeer *p, const char *op, const char *args)
{
	return (h_reply(p, h_send(p, op, args)));
}

/* The reply to id if it came already. */
const msgpack_object *
h_take(struct hpeer *p, uint64_t id)
{
	struct hframe *f;

	h_pump(p);
	if ((f = h_find(p, FRAME_RES, id)) == NULL)
		return (NULL);
	f->taken = 1;
	return (&f->u.data);
}

/* A barrier: every frame sent before it is answered by the time status is. */
int
h_settle(struct hpeer *p)
{
	return (h_reply(p, h_send(p, "status", NULL)) != NULL ? 0 : -1);
}

/* The first frame nobody took, after reading what is there; NULL if none. */
static struct hframe *
h_stray_frame(struct hpeer *p)
{
	size_t i;

	h_pump(p);
	for (i = 0; i < p->nframes; i++) {
		if (!p->frames[i]->taken)
			return (p->frames[i]);
	}
	return (NULL);
}

/* The first frame nobody took, after reading what is there. */
const msgpack_object *
h_stray(struct hpeer *p)
{
	struct hframe *f = h_stray_frame(p);

	return (f != NULL ? &f->u.data : NULL);
}

/* Take the first frame nobody took (a push), after reading what is there. */
const msgpack_object *
h_take_stray(struct hpeer *p)
{
	struct hframe *f = h_stray_frame(p);

	if (f == NULL)
		return (NULL);
	f->taken = 1;
	return (&f->u.data);
}

/* ---- the check language ---- */

/* Does the object equal the text (a bare word or a string)? */
static int
h_equal(const msgpack_object *o, const char *v)
{
	const char *s;
	char *end;
	size_t n;
	double want, have;

	if (o == NULL)
		return (0);
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return (strcmp(v, "null") == 0);
	case MSGPACK_OBJECT_BOOLEAN: return (strcmp(v, o->via.boolean ? "true" : "false") == 0);
	case MSGPACK_OBJECT_STR:
		mp_str(o, &s, &n);
		return (strlen(v) == n && memcmp(v, s, n) == 0);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		want = strtod(v, &end);
		return (*v != '\0' && *end == '\0' && mp_num(o, &have) == 0 && have == want);
	default: return (0);
	}
}

/* The first map in array o whose key has the value v (a string or number). */
static const msgpack_object *
h_select(const msgpack_object *o, const char *key, const char *v)
{
	uint32_t i;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		return (NULL);
	for (i = 0; i < o->via.array.size; i++) {
		if (o->via.array.ptr[i].type == MSGPACK_OBJECT_MAP &&
		    h_equal(mp_get(&o->via.array.ptr[i], key), v))
			return (&o->via.array.ptr[i]);
	}
	return (NULL);
}

/* One step of a path: a map key, or an array index. */
static const msgpack_object *
h_member(const msgpack_object *o, const char *name)
{
	char *end;
	unsigned long i;

	if (o->type == MSGPACK_OBJECT_MAP)
		return (mp_get(o, name));
	if (o->type != MSGPACK_OBJECT_ARRAY || !isdigit((unsigned char)*name))
		return (NULL);
	i = strtoul(name, &end, 10);
	if (*end != '\0' || i >= o->via.array.size)
		return (NULL);
	return (&o->via.array.ptr[i]);
}

/* The object at a dotted path, with [key=value] selectors; NULL if absent. */
const msgpack_object *
h_path(const msgpack_object *o, const char *path)
{
	char name[128], key[128], val[256];
	const char *p = path;
	size_t n;

	while (o != NULL && *p != '\0') {
		if (*p == '.')
			p++;
		n = strcspn(p, ".[");
		if (n >= sizeof name)
			h_bug("path too long: %s", path);
		if (n > 0) {
			memcpy(name, p, n);
			name[n] = '\0';
			o = h_member(o, name);
			p += n;
		}
		while (o != NULL && *p == '[') {
			if (sscanf(p, "[%127[^=]=%255[^]]]", key, val) != 2)
				h_bug("bad selector in path %s", path);
			o = h_select(o, key, val);
			p = strchr(p, ']') + 1;
		}
	}
	return (o);
}

static char h_json_buf[8192];

/* An object as one line of JSON, for messages. */
const char *
h_json(const msgpack_object *o)
{
	cJSON *j;
	char *s;

	if (o == NULL)
		return ("(absent)");
	if ((j = json_from_msgpack(o)) == NULL || (s = cJSON_PrintUnformatted(j)) == NULL)
		h_bug("cannot show an object as JSON");
	snprintf(h_json_buf, sizeof h_json_buf, "%s", s);
	free(s);
	cJSON_Delete(j);
	return (h_json_buf);
}

/* A copy of the string at path, or NULL. */
char *
h_strdup(const msgpack_object *o, const char *path)
{
	return (o != NULL ? mp_strdup(h_path(o, path)) : NULL);
}

/* The integer at path, or def. */
int64_t
h_int(const msgpack_object *o, const char *path, int64_t def)
{
	int64_t v;

	if (o == NULL || mp_int(h_path(o, path), &v) != 0)
		return (def);
	return (v);
}

/*
 * Copy the next blank-separated term of *sp (quotes kept together,
 * removed) into buf; 0 when there is none.
 */
static int
h_term(const char **sp, char *buf, size_t len)
{
	const char *s = *sp;
	size_t n = 0;
	int quoted = 0;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return (0);
	for (; *s != '\0' && (quoted || !isspace((unsigned char)*s)); s++) {
		if (*s == '\'') {
			quoted = !quoted;
			continue;
		}
		if (n + 1 >= len)
			h_bug("check too long: %s", *sp);
		buf[n++] = *s;
	}
	buf[n] = '\0';
	*sp = s;
	return (1);
}

/* The operator of a term: the first of = ~ # ! outside a [selector]. */
static char *
h_operator(char *term)
{
	char *c;
	int depth = 0;

	for (c = term; *c != '\0'; c++) {
		if (*c == '[')
			depth++;
		else if (*c == ']')
			depth--;
		else if (depth == 0 && strchr("=~#!", *c) != NULL)
			return (c);
	}
	h_bug("no operator in check '%s'", term);
}

/* Does one term hold on o? */
static int
h_term_holds(const msgpack_object *o, char *term, const msgpack_object **seen)
{
	char *opc = h_operator(term), op = *opc, *v = opc + 1;
	const msgpack_object *x;
	const char *s;
	size_t n;

	*opc = '\0';
	*seen = x = h_path(o, term);
	switch (op) {
	case '=': return (h_equal(x, v));
	case '~':
		return (
		    x != NULL && mp_str(x, &s, &n) == 0 && memmem(s, n, v, strlen(v)) != NULL);
	case '#':
		if (x == NULL)
			return (0);
		n = x->type == MSGPACK_OBJECT_ARRAY ? x->via.array.size
		    : x->type == MSGPACK_OBJECT_MAP ? x->via.map.size
		    : x->type == MSGPACK_OBJECT_STR ? x->via.str.size
						    : (size_t)-1;
		return (n == strtoul(v, NULL, 10));
	default: /* '!' */ return (x == NULL || x->type == MSGPACK_OBJECT_NIL);
	}
}

/* Check every term on o; say which failed and what o is. */
int
h_check(const msgpack_object *o, const char *checks)
{
	const msgpack_object *seen;
	char term[1024], shown[1024];
	const char *s = checks;
	int holds = 1;

	if (o == NULL) {
		diag("no frame to check '%s' on", checks);
		return (0);
	}
	while (h_term(&s, term, sizeof term)) {
		snprintf(shown, sizeof shown, "%s", term);
		if (!h_term_holds(o, term, &seen)) {
			diag("check '%s' failed: saw %s", shown, h_json(seen));
			holds = 0;
		}
	}
	if (!holds)
		diag("in %s", h_json(o));
	return (holds);
}

/* ---- scripts ---- */

/* Connect the script's peers, agents "a", "b"... */
int
h_script_open(struct hscript *sc, const char *project, size_t n)
{
	char agent[2] = { 0, 0 };
	size_t i;

	if (n > H_PEERS_MAX)
		h_bug("a script has at most %d peers", H_PEERS_MAX);
	memset(sc, 0, sizeof *sc);
	sc->project = project;
	for (i = 0; i < n; i++) {
		agent[0] = (char)('a' + i);
		if ((sc->peers[i] = h_connect(agent, project)) == NULL)
			return (-1);
	}
	return (0);
}

/* Close the script's peers that are still connected. */
int
h_script_close(struct hscript *sc)
{
	size_t i;
	int rv = 0;

	for (i = 0; i < H_PEERS_MAX; i++) {
		if (sc->peers[i] != NULL && h_close(sc->peers[i]) != 0)
			rv = -1;
		sc->peers[i] = NULL;
	}
	return (rv);
}

/* What a step does, in a line. */
const char *
h_step_text(const struct hstep *st)
{
	static char buf[512];

	if (strcmp(st->op, H_CLOSE) == 0)
		snprintf(buf, sizeof buf, "%c disconnects", st->who);
	else if (strcmp(st->op, H_CANCEL) == 0)
		snprintf(buf, sizeof buf, "%c cancels its wait", st->who);
	else
		snprintf(buf, sizeof buf, "%c %s %s%s", st->who, st->op,
		    st->args != NULL ? st->args : "{}", st->want == NULL ? ": waits" : "");
	return (buf);
}

/* Forget that peer i waits for request id; 0 if it did. */
static int
h_unwait(struct hscript *sc, size_t i, uint64_t id)
{
	size_t k;

	for (k = 0; k < sc->nwaiting[i]; k++) {
		if (sc->waiting[i][k] == id) {
			memmove(&sc->waiting[i][k], &sc->waiting[i][k + 1],
			    (sc->nwaiting[i] - k - 1) * sizeof sc->waiting[i][0]);
			sc->nwaiting[i]--;
			return (0);
		}
	}
	return (-1);
}

/* Send the step's request (or cancel, or close) and check its own answer. */
static int
h_step_own(struct hscript *sc, const struct hstep *st, size_t i)
{
	struct hpeer *p = sc->peers[i];
	const msgpack_object *o;
	uint64_t id;

	if (strcmp(st->op, H_CLOSE) == 0) {
		sc->peers[i] = NULL;
		sc->nwaiting[i] = 0; /* waits end with the session, unanswered */
		return (h_close(p) == 0);
	}
	if (strcmp(st->op, H_CANCEL) == 0) {
		if (sc->nwaiting[i] == 0)
			h_bug("%c cancels but waits for nothing", st->who);
		id = sc->waiting[i][--sc->nwaiting[i]];
		h_cancel(p, id);
		return (h_check(h_reply(p, id), st->want));
	}
	id = h_send(p, st->op, st->args);
	if (st->want != NULL)
		return (h_check(h_reply(p, id), st->want));
	if (h_settle(p) != 0)
		return (0);
	if ((o = h_take(p, id)) != NULL) {
		diag("answered at once instead of waiting: %s", h_json(o));
		return (0);
	}
	if (sc->nwaiting[i] == nitems(sc->waiting[i]))
		h_bug("%c waits for too many requests", st->who);
	sc->waiting[i][sc->nwaiting[i]++] = id;
	return (1);
}

/* The checks wakes has for peer who, the k-th time it names it; NULL if none. */
static char *
h_wake_checks(const char *wakes, char who, size_t k)
{
	const char *s = wakes, *end;
	int quoted;

	while (s != NULL && *s != '\0') {
		while (isspace((unsigned char)*s) || *s == '|')
			s++;
		for (end = s, quoted = 0; *end != '\0' && (quoted || *end != '|'); end++) {
			if (*end == '\'')
				quoted = !quoted;
		}
		if (s[0] == who && s[1] == ':' && k-- == 0)
			return (xstrndup(s + 2, (size_t)(end - s - 2)));
		s = end;
	}
	return (NULL);
}

/* Every frame the other peers got: exactly the wakes, on requests that waited. */
static int
h_step_wakes(struct hscript *sc, const struct hstep *st)
{
	struct hframe *f;
	char *checks;
	size_t i, k;
	int holds = 1;

	for (i = 0; i < H_PEERS_MAX; i++) {
		if (sc->peers[i] == NULL)
			continue;
		for (k = 0; (f = h_stray_frame(sc->peers[i])) != NULL; k++) {
			f->taken = 1;
			checks = st->wakes != NULL
			    ? h_wake_checks(st->wakes, (char)('a' + i), k)
			    : NULL;
			if (checks == NULL || f->type != FRAME_RES ||
			    h_unwait(sc, i, f->id) != 0) {
				diag("%c got a frame nobody expected: %s", (int)('a' + i),
				    h_json(&f->u.data));
				holds = 0;
			} else if (!h_check(&f->u.data, checks))
				holds = 0;
			free(checks);
		}
		if (st->wakes != NULL &&
		    (checks = h_wake_checks(st->wakes, (char)('a' + i), k)) != NULL) {
			diag("%c's waiting request got no answer (wanted %s)", (int)('a' + i),
			    checks);
			free(checks);
			holds = 0;
		}
	}
	return (holds);
}

/* Run a step: its own answer, then the wakes of everyone else. */
int
h_step(struct hscript *sc, const struct hstep *st)
{
	size_t i = (size_t)(st->who - 'a');
	int holds;

	if (st->who < 'a' || i >= H_PEERS_MAX || sc->peers[i] == NULL)
		h_bug("step for a peer %c the script does not have", st->who);
	holds = h_step_own(sc, st, i);
	return (h_step_wakes(sc, st) && holds);
}
