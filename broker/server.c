/*
 * Listening socket, accepting peers (SO_PEERCRED first), reading frames
 * and dispatching them from the operation table.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "broker.h"

struct server_config cfg = { .max_wait = 50.0, .grace = 10.0 };
struct event_base *base;
uint64_t revision;
uint64_t start_ms;

static int listen_fd = -1;
static int lock_fd = -1;
static struct event *listen_ev;
static char *listen_path;
static TAILQ_HEAD(, client) clients = TAILQ_HEAD_INITIALIZER(clients);
static TAILQ_HEAD(, client) held_clients = TAILQ_HEAD_INITIALIZER(held_clients);
static size_t nclients;
static int stopping; /* server_shutdown: sessions stay as they are */

static op_handler *const handlers[OP_COUNT] = {
#define OP_HANDLER(n) [OP_##n] = op_##n,
	BATON_OPS(OP_HANDLER)
#undef OP_HANDLER
};

#define SERVER_READ_CHUNK 65536 /* bytes asked of the kernel per read */

static void client_free(struct client *);
static void client_free_cb(evutil_socket_t, short, void *);
static void client_close_later(struct client *);
static void client_read_cb(evutil_socket_t, short, void *);
static void client_write_cb(struct bufferevent *, void *);
static void client_event_cb(struct bufferevent *, short, void *);

/* Advance the global revision; every mutation calls this once. */
uint64_t
revision_next(void)
{
	store_revision_used(++revision);
	return (revision);
}

size_t
server_client_count(void)
{
	return (nclients);
}

/*
 * Is something answering on path?  1 live, 0 stale or absent, -1 on an
 * unexpected error (cause set).
 */
static int
server_probe(const char *path, char **cause)
{
	struct sockaddr_un sa;
	int fd, r;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return (-1);
	}
	r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	if (r == 0)
		return (1);
	if (errno == ECONNREFUSED || errno == ENOENT)
		return (0);
	xasprintf(cause, "cannot probe %s: %s", path, strerror(errno));
	return (-1);
}

/*
 * Socket activation (systemd's LISTEN_FDS protocol): when our starter
 * passed the listening socket as fd 3, use it instead of binding.  1
 * taken, 0 not activated, -1 on error.  The path stays the starter's: we
 * never unlink it (listen_path stays NULL).
 */
static int
server_inherit(const char *path, char **cause)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	struct sockaddr_un sa;
	socklen_t len = sizeof sa, optlen = sizeof(int);
	int accepting = 0;

	if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != (long)getpid() ||
	    strtol(fds, NULL, 10) < 1)
		return (0);
	/* not for our children */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	memset(&sa, 0, sizeof sa);
	if (getsockname(3, (struct sockaddr *)&sa, &len) == -1 || sa.sun_family != AF_UNIX ||
	    getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &optlen) == -1 || !accepting) {
		xasprintf(cause, "LISTEN_FDS is set but fd 3 is not a listening Unix socket");
		return (-1);
	}
	if (strncmp(sa.sun_path, path, sizeof sa.sun_path) != 0)
		log_warnx("the socket passed in listens on %.*s, but clients look for %s",
		    (int)sizeof sa.sun_path, sa.sun_path, path);
	if (set_nonblock(3) == -1 || set_cloexec(3) == -1) {
		xasprintf(cause, "fd 3: %s", strerror(errno));
		return (-1);
	}
	listen_fd = 3;
	log_info("listening on the socket passed in by socket activation");
	return (1);
}

/*
 * Take the broker's lifetime lock next to the socket, replace a stale
 * socket, never a live one, and listen (or take the socket passed in).
 */
int
server_listen(const char *path, char **cause)
{
	struct sockaddr_un sa;
	struct stat sb;
	char *lockpath;
	mode_t mask;
	int live;

	if (path_check_socket_dir(path, 1, cause) != 0)
		return (-1);
	xasprintf(&lockpath, "%s.lock", path);
	lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(lockpath);
	if (lock_fd == -1) {
		xasprintf(cause, "cannot open %s.lock: %s", path, strerror(errno));
		return (-1);
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) == -1) {
		xasprintf(cause, "a broker is already running on %s", path);
		return (-1);
	}
	if ((live = server_inherit(path, cause)) != 0)
		return (live == 1 ? 0 : -1);
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			xasprintf(cause, "%s exists and is not a socket; remove it", path);
			return (-1);
		}
		if ((live = server_probe(path, cause)) != 0) {
			if (live == 1)
				xasprintf(cause, "a broker is already running on %s", path);
			return (-1);
		}
		log_info("replacing stale socket %s", path);
		if (unlink(path) == -1 && errno != ENOENT) {
			xasprintf(cause, "cannot remove stale socket %s: %s", path, strerror(errno));
			return (-1);
		}
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		xasprintf(cause, "socket path too long: %s", path);
		return (-1);
	}
	strcpy(sa.sun_path, path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return (-1);
	}
	mask = umask(0177);
	if (bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		umask(mask);
		xasprintf(cause, "bind %s: %s", path, strerror(errno));
		return (-1);
	}
	umask(mask);
	if (listen(listen_fd, 512) == -1) {
		xasprintf(cause, "listen %s: %s", path, strerror(errno));
		return (-1);
	}
	listen_path = xstrdup(path);
	return (0);
}

/* Out of descriptors for a while: listen again. */
static void
server_accept_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	if (listen_ev != NULL && event_add(listen_ev, NULL) != 0)
		fatalx("cannot watch the listening socket");
}

/* Accept every pending peer; refuse other uids before reading a byte. */
static void
server_accept_cb(evutil_socket_t fd, short events, void *arg)
{
	static struct event *resume;
	struct timeval pause = { 1, 0 };
	struct ucred cred;
	socklen_t len;
	struct client *c;
	int cfd;

	for (;;) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1 && (errno == EMFILE || errno == ENFILE)) {
			/*
			 * The peer stays in the backlog; the listening socket
			 * would be readable all along, so stop watching it for
			 * a second rather than spin.
			 */
			log_warnx("accept: %s (%zu sessions); new peers wait a second",
			    strerror(errno), nclients);
			if (resume == NULL &&
			    (resume = evtimer_new(base, server_accept_resume_cb, NULL)) == NULL)
				fatalx("evtimer_new");
			event_del(listen_ev);
			evtimer_add(resume, &pause);
			return;
		}
		if (cfd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warnx("accept: %s", strerror(errno));
			return;
		}
		len = sizeof cred;
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
		    len != sizeof cred) {
			log_warnx("refused a peer: no credentials (%s)", strerror(errno));
			close(cfd);
			continue;
		}
		if (cred.uid != getuid() && !(cfg.allow_root && cred.uid == 0)) {
			log_warnx("refused a peer: uid %u pid %ld is not uid %u",
			    (unsigned)cred.uid, (long)cred.pid, (unsigned)getuid());
			close(cfd);
			continue;
		}
		c = xcalloc(1, sizeof *c);
		c->fd = cfd;
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->bev = bufferevent_socket_new(base, cfd, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL)
			fatalx("bufferevent_socket_new");
		/*
		 * Requests are read with our own event and buffer: the
		 * bufferevent's reader asks the kernel for the readable size
		 * (FIONREAD) before every read, a system call per request.
		 */
		bufferevent_setcb(c->bev, NULL, client_write_cb, client_event_cb, c);
		bufferevent_enable(c->bev, EV_WRITE);
		c->rev = event_new(base, cfd, EV_READ | EV_PERSIST, client_read_cb, c);
		if (c->rev == NULL || event_add(c->rev, NULL) != 0)
			fatalx("cannot watch a client");
		TAILQ_INSERT_TAIL(&clients, c, entry);
		nclients++;
		log_debug("accepted pid %ld", (long)cred.pid);
	}
}

/* Start accepting once the event base exists. */
void server_start(void);
void
server_start(void)
{
	listen_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST, server_accept_cb, NULL);
	if (listen_ev == NULL || event_add(listen_ev, NULL) != 0)
		fatalx("cannot watch the listening socket");
}

/*
 * Stop listening, drop every client, remove the socket.  A stop is a
 * restart to come, like a crash: sessions are not closed (their locks
 * and claims are not released, nobody waiting is granted), so what the
 * database holds comes back in grace for its owners to reclaim.
 */
void
server_shutdown(void)
{
	struct client *c;

	stopping = 1;
	if (listen_ev != NULL) {
		event_free(listen_ev);
		listen_ev = NULL;
	}
	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_free(c);
	lock_shutdown();
	if (listen_fd != -1)
		close(listen_fd);
	if (listen_path != NULL) {
		unlink(listen_path);
		free(listen_path);
		listen_path = NULL;
	}
	if (lock_fd != -1)
		close(lock_fd);
}

/* Stop reading; free the client once its queued output is flushed. */
static void
client_close_later(struct client *c)
{
	static const struct timeval now = { 0, 0 };

	c->closing = 1;
	event_del(c->rev);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 && !c->on_held_list &&
	    c->free_ev == NULL) {
		c->free_ev = evtimer_new(base, client_free_cb, c);
		evtimer_add(c->free_ev, &now);
	}
}

static void
client_free_cb(evutil_socket_t fd, short events, void *arg)
{
	client_free(arg);
}

static void
client_free(struct client *c)
{
	if (c->free_ev != NULL)
		event_free(c->free_ev);
	if (c->session != NULL && stopping)
		c->session->client = NULL; /* kept as it is, see server_shutdown */
	else if (c->session != NULL)
		session_close(c->session);
	c->session = NULL;
	if (c->on_held_list)
		TAILQ_REMOVE(&held_clients, c, held_entry);
	if (c->held != NULL)
		evbuffer_free(c->held);
	TAILQ_REMOVE(&clients, c, entry);
	nclients--;
	event_free(c->rev);
	free(c->rbuf);
	bufferevent_free(c->bev);
	free(c);
}

/*
 * Send bytes to a peer: straight to the socket when nothing is queued
 * (saving the poller two changes per reply), the rest through the
 * bufferevent, which writes it when the socket can take it.
 */
static void
client_write(struct client *c, const void *data, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	ssize_t n = 0;

	if (evbuffer_get_length(out) == 0) {
		n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			n = 0; /* EAGAIN, or an error the bufferevent will report */
	}
	if ((size_t)n < len && evbuffer_add(out, (const char *)data + n, len - (size_t)n) != 0)
		fatalx("evbuffer_add");
}

/*
 * Queue a finished frame (held for the commit in progress unless now);
 * a peer that stops reading is dropped.
 */
static void
client_send_how(struct client *c, struct fbuf *fb, int now)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (fbuf_finish(fb) != 0) {
		log_warnx("dropping an unencodable frame for session %s",
		    c->session != NULL ? c->session->id : "-");
		fbuf_free(fb);
		return;
	}
	if (c->closing) {
		fbuf_free(fb);
		return;
	}
	if (store_holding() && !now) {
		/* strict durability: nothing leaves before the commit */
		if (c->held == NULL && (c->held = evbuffer_new()) == NULL)
			fatalx("evbuffer_new");
		if (!c->on_held_list) {
			TAILQ_INSERT_TAIL(&held_clients, c, held_entry);
			c->on_held_list = 1;
		}
		out = c->held;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    (c->held != NULL ? evbuffer_get_length(c->held) : 0) + fb->sb.size >
	    CLIENT_OUT_LIMIT) {
		log_warnx("session %s: output over %d bytes, disconnecting",
		    c->session != NULL ? c->session->id : "-", CLIENT_OUT_LIMIT);
		fbuf_free(fb);
		evbuffer_drain(bufferevent_get_output(c->bev),
		    evbuffer_get_length(bufferevent_get_output(c->bev)));
		if (c->held != NULL)
			evbuffer_drain(c->held, evbuffer_get_length(c->held));
		client_close_later(c);
		return;
	}
	if (out == bufferevent_get_output(c->bev))
		client_write(c, fb->sb.data, fb->sb.size);
	else if (evbuffer_add(out, fb->sb.data, fb->sb.size) != 0)
		fatalx("evbuffer_add");
	fbuf_free(fb);
}

/* Queue a finished frame; a peer that stops reading is dropped. */
void
client_send(struct client *c, struct fbuf *fb)
{
	client_send_how(c, fb, 0);
}

/* The commit is done: send every frame held for it, in order. */
void
server_release_held(void)
{
	struct client *c;

	while ((c = TAILQ_FIRST(&held_clients)) != NULL) {
		TAILQ_REMOVE(&held_clients, c, held_entry);
		c->on_held_list = 0;
		client_write(c, evbuffer_pullup(c->held, -1), evbuffer_get_length(c->held));
		evbuffer_drain(c->held, evbuffer_get_length(c->held));
	}
}

/* Send an error frame and close once it is flushed. */
static void
client_fail(struct client *c, const char *code, const char *message)
{
	struct fbuf fb;

	log_info("session %s: %s: %s", c->session != NULL ? c->session->id : "-", code,
	    message);
	fbuf_init(&fb);
	pk_map(&fb, 3);
	pk_kint(&fb, "t", FRAME_ERROR);
	pk_kstr(&fb, "code", code);
	pk_kstr(&fb, "message", message);
	client_send(c, &fb);
	client_close_later(c);
}

/* Begin a success reply: {t, id, ok, r: ...}; the caller packs r. */
struct fbuf *
reply_begin(uint64_t id)
{
	struct fbuf *fb = xmalloc(sizeof *fb);

	fbuf_init(fb);
	pk_map(fb, 4);
	pk_kint(fb, "t", FRAME_RES);
	pk_kuint(fb, "id", id);
	pk_kbool(fb, "ok", 1);
	pk_str(fb, "r");
	return (fb);
}

void
reply_end(struct client *c, struct fbuf *fb)
{
	client_send(c, fb);
	free(fb);
}

/*
 * An answer that leaves at once, even while a commit is pending: for
 * status while the database refuses writes, so that people can see why
 * every other answer waits.
 */
void
reply_end_now(struct client *c, struct fbuf *fb)
{
	client_send_how(c, fb, 1);
	free(fb);
}

void
reply_error(struct client *c, uint64_t id, const char *code, const char *field,
    const char *fmt, ...)
{
	struct fbuf fb;
	char msg[512];
	va_list ap;
	int has_field = field != NULL && *field != '\0';

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fbuf_init(&fb);
	pk_map(&fb, 4);
	pk_kint(&fb, "t", FRAME_RES);
	pk_kuint(&fb, "id", id);
	pk_kbool(&fb, "ok", 0);
	pk_str(&fb, "e");
	pk_map(&fb, has_field ? 3 : 2);
	pk_kstr(&fb, "code", code);
	pk_kstr(&fb, "message", msg);
	if (has_field)
		pk_kstr(&fb, "field", field);
	client_send(c, &fb);
}

/* The first frame must be a hello; answer with welcome or an error. */
static void
server_hello(struct client *c, const msgpack_object *f)
{
	struct session *s;
	struct fbuf fb;
	char *cause = NULL, msg[160];
	const char *tok;
	size_t toklen, reclaimed = 0;
	int64_t v;

	if (mp_frame_type(f) != FRAME_HELLO) {
		client_fail(c, ERR_PROTOCOL, "the first frame must be hello");
		return;
	}
	if (mp_int(mp_get(f, "v"), &v) != 0 || v != PROTO_VERSION) {
		snprintf(msg, sizeof msg,
		    "protocol version mismatch: broker speaks %d; restart batond or "
		    "update baton so both come from one build", PROTO_VERSION);
		client_fail(c, ERR_VERSION, msg);
		return;
	}
	if (mp_str(mp_get(f, "token"), &tok, &toklen) == 0 &&
	    (s = session_reclaim(c, tok, toklen)) != NULL)
		reclaimed = lock_session_grants(s);
	else if ((s = session_create(c, f, &cause)) == NULL) {
		client_fail(c, ERR_PROTOCOL, cause);
		free(cause);
		return;
	}
	c->session = s;
	fbuf_init(&fb);
	pk_map(&fb, 8);
	pk_kint(&fb, "t", FRAME_WELCOME);
	pk_kint(&fb, "v", PROTO_VERSION);
	pk_kstr(&fb, "version", BATON_VERSION);
	pk_kstr(&fb, "session", s->id);
	pk_kstr(&fb, "token", s->token);
	pk_kstr(&fb, "agent", s->agent);
	pk_kstr(&fb, "project", s->project);
	pk_kint(&fb, "reclaimed", (int64_t)reclaimed);
	/* a welcome acknowledges no change: it never waits for a commit */
	client_send_how(c, &fb, 1);
}

/* A request: find the operation, validate its arguments, run its handler. */
static void
server_request(struct client *c, const msgpack_object *f)
{
	const msgpack_object *idobj, *opobj;
	const struct op *op;
	struct op_error err;
	struct req req;
	const char *name;
	size_t len;
	int64_t id;

	idobj = mp_get(f, "id");
	if (mp_int(idobj, &id) != 0 || id < 0) {
		client_fail(c, ERR_PROTOCOL, "request without a valid id");
		return;
	}
	opobj = mp_get(f, "op");
	if (mp_str(opobj, &name, &len) != 0) {
		reply_error(c, (uint64_t)id, ERR_INVALID, "op", "request without an op name");
		return;
	}
	if ((op = op_find(name, len)) == NULL) {
		reply_error(c, (uint64_t)id, ERR_UNKNOWN_OP, "op", "unknown operation '%.*s'",
		    (int)(len > 64 ? 64 : len), name);
		return;
	}
	memset(&req, 0, sizeof req);
	if (op_validate(op, mp_get(f, "a"), req.args, &err) != 0) {
		reply_error(c, (uint64_t)id, err.code, err.field, "%s", err.message);
		return;
	}
	req.c = c;
	req.s = c->session;
	req.id = (uint64_t)id;
	req.op = op;
	c->session->active_ms = mono_ms();
	handlers[op - ops](&req);
}

/* Handle one decoded frame. */
static void
server_frame(struct client *c, const msgpack_object *f)
{
	int64_t id;

	if (c->session == NULL) {
		server_hello(c, f);
		return;
	}
	switch (mp_frame_type(f)) {
	case FRAME_REQ:
		server_request(c, f);
		break;
	case FRAME_CANCEL:
		if (mp_int(mp_get(f, "id"), &id) != 0 || id < 0) {
			client_fail(c, ERR_PROTOCOL, "cancel without a valid id");
			return;
		}
		if (!wait_cancel(c->session, (uint64_t)id))
			lock_cancel(c->session, (uint64_t)id);
		break;
	default:
		client_fail(c, ERR_PROTOCOL, "unexpected frame type");
		break;
	}
}

/*
 * Decode and dispatch every whole frame in buf; keep a partial one in
 * c->rbuf (buf may be the shared read buffer or c->rbuf itself).
 */
static void
client_frames(struct client *c, unsigned char *buf, size_t len)
{
	msgpack_unpacked u;
	const char *cause = NULL;
	size_t off = 0;
	ssize_t n;

	while (!c->closing) {
		if ((n = frame_length(buf + off, len - off, FRAME_MAX_DEFAULT, &cause)) < 0) {
			client_fail(c, ERR_PROTOCOL, cause);
			break;
		}
		if (n == 0 || len - off < (size_t)n + FRAME_HDR)
			break;
		msgpack_unpacked_init(&u);
		if (frame_decode(buf + off + FRAME_HDR, (size_t)n, &u, &cause) != 0) {
			msgpack_unpacked_destroy(&u);
			client_fail(c, ERR_PROTOCOL, cause);
			break;
		}
		off += (size_t)n + FRAME_HDR;
		server_frame(c, &u.data);
		msgpack_unpacked_destroy(&u);
	}
	c->rlen = c->closing ? 0 : len - off;
	if (c->rlen == 0) {
		/* an idle session keeps no buffer (10 000 of them, DESIGN 9) */
		free(c->rbuf);
		c->rbuf = NULL;
		c->rsize = 0;
		return;
	}
	if (buf != c->rbuf) {
		c->rsize = c->rlen + SERVER_READ_CHUNK;
		c->rbuf = xmalloc(c->rsize);
		memcpy(c->rbuf, buf + off, c->rlen);
	} else if (off > 0)
		memmove(c->rbuf, c->rbuf + off, c->rlen);
}

/*
 * Bytes from a peer: read what is there (one call), then handle the
 * frames.  Whole requests are read into one buffer shared by all
 * clients; only a client with a partial frame has a buffer of its own.
 */
static void
client_read_cb(evutil_socket_t fd, short events, void *arg)
{
	static unsigned char shared[SERVER_READ_CHUNK];
	struct client *c = arg;
	unsigned char *buf;
	const char *cause;
	ssize_t n, want;
	size_t room;

	if (c->rlen == 0) {
		buf = shared;
		room = sizeof shared;
	} else {
		/* room for the frame announced, or a good chunk more */
		want = frame_length(c->rbuf, c->rlen, FRAME_MAX_DEFAULT, &cause);
		if (want > 0 && (size_t)want + FRAME_HDR > c->rlen + SERVER_READ_CHUNK)
			want += FRAME_HDR;
		else
			want = (ssize_t)(c->rlen + SERVER_READ_CHUNK);
		if (c->rsize < (size_t)want) {
			c->rbuf = xreallocarray(c->rbuf, 1, (size_t)want);
			c->rsize = (size_t)want;
		}
		buf = c->rbuf;
		room = c->rsize - c->rlen;
	}
	n = recv(fd, buf + (buf == shared ? 0 : c->rlen), room, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_debug("session %s: disconnected%s%s",
		    c->session != NULL ? c->session->id : "-", n == -1 ? ": " : "",
		    n == -1 ? strerror(errno) : "");
		client_free(c);
		return;
	}
	client_frames(c, buf, (buf == shared ? 0 : c->rlen) + (size_t)n);
}

static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_free(c);
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_debug("session %s: disconnected", c->session != NULL ? c->session->id : "-");
		client_free(c);
	}
}
