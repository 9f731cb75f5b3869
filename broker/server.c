/*
 * The server: the listening socket (its lifetime lock, a stale socket
 * replaced, socket activation), accepting peers (SO_PEERCRED first),
 * and dispatching their frames: the hello that opens a session, then
 * requests, each run through the operation table into its handler, and
 * cancels.  One peer's I/O is client.c's.
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

#include "broker.h"

static int listen_fd = -1;
static int lock_fd = -1;
static struct event *listen_ev;
static char *listen_path;

static op_handler *const handlers[OP_COUNT] = {
#define OP_HANDLER(n) [OP_##n] = op_##n,
	BATON_OPS(OP_HANDLER)
#undef OP_HANDLER
};

static void server_frame(struct client *, const msgpack_object *);

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

/* Take the broker's lifetime lock, PATH.lock next to the socket, for good. */
static int
server_lock(const char *path, char **cause)
{
	char *lockpath;

	xasprintf(&lockpath, "%s.lock", path);
	lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, path_file_mode);
	free(lockpath);
	if (lock_fd == -1) {
		xasprintf(cause, "cannot open %s.lock: %s", path, strerror(errno));
		return (-1);
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) == -1) {
		xasprintf(cause, "a broker is already running on %s", path);
		return (-1);
	}
	return (0);
}

/* Remove a stale socket at path, never a live one nor something else. */
static int
server_unlink_stale(const char *path, char **cause)
{
	struct stat sb;
	int live;

	if (lstat(path, &sb) != 0)
		return (0);
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
	return (0);
}

/*
 * Take the broker's lifetime lock next to the socket, replace a stale
 * socket, never a live one, and listen (or take the socket passed in).
 */
int
server_listen(const char *path, char **cause)
{
	struct sockaddr_un sa;
	mode_t mask;
	int live;

	if (path_check_socket_dir(path, 1, cause) != 0 || server_lock(path, cause) != 0)
		return (-1);
	if ((live = server_inherit(path, cause)) != 0)
		return (live == 1 ? 0 : -1);
	if (server_unlink_stale(path, cause) != 0)
		return (-1);
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
	mask = umask(~path_file_mode & 0777); /* 0600, or 0660 for a team */
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

/* Accept every pending peer; refuse those team.c refuses before reading a byte. */
static void
server_accept_cb(evutil_socket_t fd, short events, void *arg)
{
	static struct event *resume;
	struct ucred cred;
	socklen_t len;
	int cfd;

	for (;;) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1 && (errno == EMFILE || errno == ENFILE)) {
			/*
			 * The peer stays in the backlog; the listening socket
			 * would be readable all along, so stop watching it for
			 * a second rather than spin.
			 */
			log_warn("accept (%zu sessions); new peers wait a second",
			    client_count());
			if (resume == NULL)
				resume = timer_new(server_accept_resume_cb, NULL);
			event_del(listen_ev);
			timer_in(resume, 1);
			return;
		}
		if (cfd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		len = sizeof cred;
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
		    len != sizeof cred) {
			log_warn("refused a peer: no credentials");
			close(cfd);
			continue;
		}
		if (!team_peer_ok(cred.uid, cred.pid)) {
			close(cfd);
			continue;
		}
		client_new(cfd, cred.uid, cred.pid);
		log_debug("accepted pid %ld", (long)cred.pid);
	}
}

/*
 * Start accepting once the event base exists; frames come to server_frame.
 * Without a listening socket (the unit tests, tests/broker_harness.c) the
 * only peers are those handed to client_new.
 */
void
server_start(void)
{
	client_init(server_frame);
	if (listen_fd == -1)
		return;
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
	if (listen_ev != NULL) {
		event_free(listen_ev);
		listen_ev = NULL;
	}
	client_shutdown();
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
		    "update baton so both come from one build",
		    PROTO_VERSION);
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
	pk_map_open(&fb);
	pk_kint(&fb, "t", FRAME_WELCOME);
	pk_kint(&fb, "v", PROTO_VERSION);
	pk_kstr(&fb, "version", BATON_VERSION);
	pk_kstr(&fb, "session", s->id);
	pk_kstr(&fb, "token", s->token);
	pk_kstr(&fb, "agent", s->agent);
	pk_kstr(&fb, "project", s->project);
	pk_kint(&fb, "reclaimed", (int64_t)reclaimed);
	pk_map_close(&fb);
	/* a welcome acknowledges no change: it never waits for a commit */
	client_send_now(c, &fb);
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
	if (op_validate(op, mp_get(f, "a"), req.vals, &err) != 0) {
		reply_error(c, (uint64_t)id, err.code, err.field, "%s", err.message);
		return;
	}
	if ((op->flags & OP_OWNER) && !team_admin(c->uid)) {
		reply_error(c, (uint64_t)id, ERR_PERMISSION, NULL, "%s", team_admin_why());
		return;
	}
	req.c = c;
	req.s = c->session;
	req.id = (uint64_t)id;
	req.progress = mp_get_bool(f, "p", 0);
	req.op = op;
	c->session->active_ms = mono_ms();
	feed_request(&req);
	if (!shared_serve(&req)) /* a shared project's are served from etcd */
		handlers[op - ops](&req);
	feed_request(NULL);
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
	case FRAME_REQ: server_request(c, f); break;
	case FRAME_CANCEL:
		if (mp_int(mp_get(f, "id"), &id) != 0 || id < 0) {
			client_fail(c, ERR_PROTOCOL, "cancel without a valid id");
			return;
		}
		session_cancel(c->session, (uint64_t)id);
		break;
	default: client_fail(c, ERR_PROTOCOL, "unexpected frame type"); break;
	}
}
