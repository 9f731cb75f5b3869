/*
 * The client side of the wire protocol, shared by the CLI and the MCP
 * shim: find the broker (starting it when allowed), say hello, send
 * requests and read their responses.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define CLIENT_START_TIMEOUT_MS 5000 /* batond must be listening by then */
#define CLIENT_LOCK_TIMEOUT_MS 10000 /* another client starting the broker */
#define CLIENT_WELCOME_TIMEOUT_MS 10000
#define CLIENT_READ_CHUNK 65536

/* A non-empty environment variable, or NULL. */
const char *
client_env(const char *name)
{
	const char *v = getenv(name);

	return (v != NULL && *v != '\0' ? v : NULL);
}

/* op_error_set for a failed system call: the message, then ": " and strerror(errno). */
static void printflike(3, 4)
    client_syserr(struct op_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int saved = errno;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	op_error_set(err, code, NULL, "%s: %s", msg, strerror(saved));
	free(msg);
	errno = saved;
}

/*
 * Defaults from the environment: BATON_GROUP, BATON_SOCKET (the private
 * broker's: not with a group), BATON_NO_AUTOSTART, BATON_AGENT...
 */
void
client_opts_default(struct client_opts *o)
{
	const char *v;

	memset(o, 0, sizeof *o);
	o->group = client_env("BATON_GROUP");
	o->socket = o->group == NULL ? client_env("BATON_SOCKET") : NULL;
	v = client_env("BATON_NO_AUTOSTART");
	o->autostart = (v == NULL || strcmp(v, "0") == 0);
	o->kind = "cli";
	o->agent = client_env("BATON_AGENT");
	o->role = client_env("BATON_ROLE");
	o->project = client_env("BATON_PROJECT");
	o->client_name = "baton";
	o->client_version = BATON_VERSION;
	/* Claude Code starts MCP servers with its session id; hooks get it on stdin */
	o->agent_session = client_env("CLAUDE_CODE_SESSION_ID");
}

/* The sysexits status for an error code (DESIGN §7), from the table in common/. */
int
exit_status_for(const char *code)
{
	const struct err_code *e;

	if (code == NULL || (e = err_code_find(code, strlen(code))) == NULL)
		return (EXIT_SOFTWARE);
	return (e->exit_status);
}

/* Connect a new socket to path; the fd, or -1 with errno. */
static int
client_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, saved;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	while (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		if (errno == EINTR)
			continue;
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/* Is path an executable regular file? */
static int
client_executable(const char *path)
{
	struct stat sb;

	return (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0);
}

/* Where batond is: next to this executable, else $BATON_BROKER, else on PATH. */
char *
client_find_broker(void)
{
	char self[PATH_MAX], *slash, *p, *path, *dir, *save;
	const char *env;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			xasprintf(&p, "%.*s/batond", (int)(slash - self), self);
			if (client_executable(p))
				return (p);
			free(p);
		}
	}
	if ((env = client_env("BATON_BROKER")) != NULL)
		return (xstrdup(env));
	if ((env = client_env("PATH")) == NULL)
		return (NULL);
	path = xstrdup(env);
	for (dir = strtok_r(path, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		xasprintf(&p, "%s/batond", *dir != '\0' ? dir : ".");
		if (client_executable(p)) {
			free(path);
			return (p);
		}
		free(p);
	}
	free(path);
	return (NULL);
}

/* Take an exclusive flock on fd, waiting at most ms; 0 or -1. */
static int
client_flock(int fd, int ms)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	uint64_t end = mono_ms() + (uint64_t)ms;

	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return (0);
		if (errno != EWOULDBLOCK && errno != EINTR)
			return (-1);
		if (mono_ms() >= end) {
			errno = ETIMEDOUT;
			return (-1);
		}
		/* flock(2) has no timeout; another client holds it for a broker start at most */
		nanosleep(&ts, NULL);
	}
}

/*
 * Wait at most ms for child pid to exit, with SIGCHLD blocked by the
 * caller; its wait status, or -1 (timed out or lost).
 */
static int
client_wait_child(pid_t pid, int ms)
{
	struct timespec ts;
	sigset_t set;
	uint64_t end = mono_ms() + (uint64_t)ms, now;
	pid_t r;
	int status;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return (status);
		if (r == -1 && errno != EINTR)
			return (-1);
		if ((now = mono_ms()) >= end)
			return (-1);
		ts.tv_sec = (time_t)((end - now) / 1000);
		ts.tv_nsec = (long)((end - now) % 1000) * 1000000;
		if (sigtimedwait(&set, NULL, &ts) == -1 && errno != EAGAIN && errno != EINTR)
			return (-1);
	}
}

/* Run `batond -S sock` with stdin/stdout on /dev/null and wait for it to report readiness. */
static int
client_spawn_broker(const char *sock, struct op_error *err)
{
	struct sigaction sa, osa;
	sigset_t set, oset;
	char *broker;
	char *argv[4];
	pid_t pid;
	int status, null;

	if ((broker = client_find_broker()) == NULL) {
		op_error_set(err, ERR_UNAVAILABLE, NULL,
		    "no broker on %s and batond not found "
		    "next to baton, in $BATON_BROKER or on PATH; install batond",
		    sock);
		return (-1);
	}
	if (!client_executable(broker)) {
		op_error_set(err, ERR_UNAVAILABLE, NULL,
		    "no broker on %s and %s is not an "
		    "executable file; fix $BATON_BROKER or install batond",
		    sock, broker);
		free(broker);
		return (-1);
	}
	/* a caller that ignores SIGCHLD would have the child reaped before we see its status */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, &osa);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &oset);

	argv[0] = (char *)"batond";
	argv[1] = (char *)"-S";
	argv[2] = (char *)sock;
	argv[3] = NULL;
	switch ((pid = fork())) {
	case -1: status = -2; break;
	case 0:
		sigprocmask(SIG_SETMASK, &oset, NULL);
		if ((null = open("/dev/null", O_RDWR)) != -1) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		execv(broker, argv);
		fprintf(stderr, "baton: cannot run %s: %s\n", broker, strerror(errno));
		_exit(127);
	default:
		status = client_wait_child(pid, CLIENT_START_TIMEOUT_MS);
		if (status == -1) {
			kill(pid, SIGTERM);
			waitpid(pid, NULL, 0);
		}
		break;
	}
	sigprocmask(SIG_SETMASK, &oset, NULL);
	sigaction(SIGCHLD, &osa, NULL);

	if (status == -2)
		client_syserr(err, ERR_UNAVAILABLE, "cannot start %s: fork", broker);
	else if (status == -1)
		op_error_set(err, ERR_UNAVAILABLE, NULL,
		    "%s did not start within %d s; "
		    "see its log (batond.log in the state directory)",
		    broker, CLIENT_START_TIMEOUT_MS / 1000);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		op_error_set(err, ERR_UNAVAILABLE, NULL,
		    "could not start the broker "
		    "(%s exited with %s %d); run `batond -f -S %s` to see why",
		    broker, WIFEXITED(status) ? "status" : "signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), sock);
	free(broker);
	return (status == 0 ? 0 : -1);
}

/*
 * Start the broker when nobody answers on sock.  Serialized by an flock
 * on SOCK.start so that two clients never start two brokers: whoever
 * gets the lock second finds the first one's broker listening.
 */
static int
client_autostart(const char *sock, struct op_error *err)
{
	char *lockpath, *cause;
	int lfd, fd, r;

	if (path_check_socket_dir(sock, 1, &cause) != 0) {
		op_error_set(err, ERR_UNAVAILABLE, NULL, "cannot start the broker: %s", cause);
		free(cause);
		return (-1);
	}
	xasprintf(&lockpath, "%s.start", sock);
	lfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd == -1 || client_flock(lfd, CLIENT_LOCK_TIMEOUT_MS) != 0) {
		client_syserr(err, ERR_UNAVAILABLE, "cannot lock %s to start the broker",
		    lockpath);
		if (lfd != -1)
			close(lfd);
		free(lockpath);
		return (-1);
	}
	free(lockpath);
	if ((fd = client_connect(sock)) == -1) {
		r = client_spawn_broker(sock, err);
		if ((fd = client_connect(sock)) == -1 && r == 0)
			client_syserr(err, ERR_UNAVAILABLE,
			    "started batond but cannot "
			    "connect to %s",
			    sock);
	}
	close(lfd); /* releases the flock */
	return (fd);
}

/*
 * Is the listener on fd run by our own uid (a team broker: by a member
 * of its group, or root)?  The hello carries the session token: it goes
 * to nobody else, whatever the path led to.  Root's clients talk to any
 * broker (one started with --allow-root serves them); root's own default
 * paths cannot be pre-empted.
 */
static int
client_peer_ours(int fd, const char *sock, struct op_error *err)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	char user[64];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		client_syserr(err, ERR_PERMISSION, "refusing to use %s: no peer credentials",
		    sock);
		return (0);
	}
	if (group_selected() != NULL) {
		if (cred.uid == getuid() || cred.uid == 0 || getuid() == 0 ||
		    group_member(cred.uid))
			return (1);
		op_error_set(err, ERR_PERMISSION, NULL,
		    "refusing to use %s: it is served by %s (uid %u), who is not a member of "
		    "group %s",
		    sock, group_user(cred.uid, user, sizeof user), (unsigned)cred.uid,
		    group_selected());
		return (0);
	}
	if (cred.uid != getuid() && getuid() != 0) {
		op_error_set(err, ERR_PERMISSION, NULL,
		    "refusing to use %s: it is served by uid %u, not by you (uid %u); "
		    "set BATON_SOCKET to a path in a directory of your own",
		    sock, (unsigned)cred.uid, (unsigned)getuid());
		return (0);
	}
	return (1);
}

/* Refuse a socket path that is a symlink: it could lead anywhere. */
static int
client_not_symlink(const char *sock, struct op_error *err)
{
	struct stat sb;

	if (lstat(sock, &sb) == 0 && S_ISLNK(sb.st_mode)) {
		op_error_set(err, ERR_PERMISSION, NULL,
		    "refusing to use %s: it is a symlink, and baton never follows one; "
		    "remove it, or set BATON_SOCKET to the socket itself",
		    sock);
		return (0);
	}
	return (1);
}

/* fd (connected to sock) when the path is no symlink and the peer is ours; else closed, -1. */
static int
client_vet(int fd, const char *sock, struct op_error *err)
{
	if (fd == -1)
		return (-1);
	if (client_not_symlink(sock, err) && client_peer_ours(fd, sock, err))
		return (fd);
	close(fd);
	return (-1);
}

/* Connect to the broker on sock, starting it when allowed; the fd or -1. */
static int
client_reach(const char *sock, int autostart, struct op_error *err)
{
	struct stat sb;
	char *dir = path_dirname(sock), *cause;
	int fd, missing;

	missing = lstat(dir, &sb) == -1 && errno == ENOENT;
	free(dir);
	if (!missing && path_check_socket_dir(sock, 0, &cause) != 0) {
		op_error_set(err, ERR_PERMISSION, NULL, "refusing to use %s: %s", sock, cause);
		free(cause);
		return (-1);
	}
	if (!missing && !client_not_symlink(sock, err))
		return (-1);
	if (!missing && (fd = client_connect(sock)) != -1)
		return (client_vet(fd, sock, err));
	if (!missing && errno == EACCES && group_selected() != NULL) {
		op_error_set(err, ERR_PERMISSION, NULL,
		    "cannot connect to %s: only members of group %s may (a member added "
		    "lately logs in again to have the group)",
		    sock, group_selected());
		return (-1);
	}
	if (!missing && errno != ENOENT && errno != ECONNREFUSED) {
		client_syserr(err, ERR_UNAVAILABLE, "cannot connect to the broker on %s", sock);
		return (-1);
	}
	if (group_selected() != NULL) {
		/* who starts it owns it: a team broker is started on purpose, never here */
		op_error_set(err, ERR_UNAVAILABLE, NULL,
		    "no team broker of group %s on %s (%s); a member of the group starts it "
		    "with `batond --group %s`",
		    group_selected(), sock, missing ? "no socket directory" : "not running",
		    group_selected());
		return (-1);
	}
	if (autostart)
		return (client_vet(client_autostart(sock, err), sock, err));
	op_error_set(err, ERR_UNAVAILABLE, NULL,
	    "no broker on %s (%s); start it with `batond` "
	    "or drop --no-autostart",
	    sock,
	    missing               ? "no socket directory"
		: errno == ENOENT ? "no socket"
				  : "connection refused");
	return (-1);
}

/*
 * A process's parent and its start time (clock ticks after boot, which
 * tells a reused pid apart), from /proc/PID/stat; -1 when it is gone or
 * hidden.  The command name is in parentheses and may hold anything, so
 * the fields are counted from its last ')'.
 */
static int
client_proc_stat(pid_t pid, pid_t *ppid, uint64_t *start)
{
	char path[64], buf[1024], *p;
	unsigned long long st;
	long pp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (-1);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1,
		" %*c %ld %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
		"%*s %*s %*s %*s %llu",
		&pp, &st) != 2)
		return (-1);
	*ppid = (pid_t)pp;
	*start = st;
	return (0);
}

/*
 * Pack the client's ancestry: [pid, start time] of its parent, the
 * parent's parent and so on up to init (at most HELLO_ANCESTRY_MAX), so
 * that the broker can tell which agent process a hook and a `baton mcp`
 * share (baton hook acts as that session).
 */
static void
client_pk_ancestry(struct fbuf *fb)
{
	pid_t pid = getppid(), ppid;
	uint64_t start;
	int n = 0;

	pk_str(fb, "ancestry");
	pk_array_open(fb);
	while (
	    pid > 0 && n++ < HELLO_ANCESTRY_MAX && client_proc_stat(pid, &ppid, &start) == 0) {
		pk_array(fb, 2);
		pk_int(fb, pid);
		pk_uint(fb, start);
		pid = ppid;
	}
	pk_array_close(fb);
}

/* Send the hello frame (see proto.h). */
static int
client_hello(struct conn *c, const struct client_opts *o, const char *project)
{
	struct fbuf fb;
	char agent[32];
	int r;

	if (o->agent == NULL)
		snprintf(agent, sizeof agent, "cli-%ld", (long)getpid());
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "t", FRAME_HELLO);
	pk_kint(&fb, "v", PROTO_VERSION);
	pk_kstr(&fb, "kind", o->kind != NULL ? o->kind : "cli");
	pk_kstr(&fb, "agent", o->agent != NULL ? o->agent : agent);
	pk_kstr_opt(&fb, "role", o->role);
	pk_kstr(&fb, "project", project);
	pk_kint(&fb, "pid", (int64_t)getpid());
	pk_str(&fb, "client");
	pk_map_open(&fb);
	pk_kstr(&fb, "name", o->client_name != NULL ? o->client_name : "baton");
	pk_kstr(&fb, "version", o->client_version != NULL ? o->client_version : BATON_VERSION);
	pk_map_close(&fb);
	pk_kstr_opt(&fb, "token", o->token);
	pk_kstr_opt(&fb, "agent_session", o->agent_session);
	client_pk_ancestry(&fb);
	pk_map_close(&fb);
	r = conn_send(c, &fb);
	fbuf_free(&fb);
	return (r);
}

/* The static ERR_* string for a code the broker sent (op_error.code is not owned). */
static const char *
client_code(const msgpack_object *o, const char *dflt)
{
	const struct err_code *e;
	const char *s;
	size_t n;

	if (mp_str(o, &s, &n) != 0 || (e = err_code_find(s, n)) == NULL)
		return (dflt);
	return (e->code);
}

/* Turn an error frame {t:7, code, message} into err. */
static void
client_error_frame(const msgpack_object *f, struct op_error *err)
{
	const char *s;
	size_t n;

	if (mp_str(mp_get(f, "message"), &s, &n) != 0) {
		s = "closed the connection";
		n = strlen(s);
	}
	op_error_set(err, client_code(mp_get(f, "code"), ERR_PROTOCOL), NULL, "broker: %.*s",
	    (int)(n > 200 ? 200 : n), s);
}

/* Read the welcome frame and fill c. */
static int
client_welcome(struct conn *c, struct op_error *err)
{
	msgpack_unpacked u;
	const msgpack_object *f;
	int64_t v;
	int r = -1;

	msgpack_unpacked_init(&u);
	if (conn_read_frame(c, &u, CLIENT_WELCOME_TIMEOUT_MS, err) != 0) {
		if (strcmp(err->code, ERR_TIMEOUT) == 0)
			op_error_set(err, ERR_UNAVAILABLE, NULL,
			    "the broker accepted the "
			    "connection but did not answer hello within %d s; restart it",
			    CLIENT_WELCOME_TIMEOUT_MS / 1000);
		goto out;
	}
	f = &u.data;
	switch (mp_frame_type(f)) {
	case FRAME_WELCOME: break;
	case FRAME_ERROR: client_error_frame(f, err); goto out;
	default:
		op_error_set(err, ERR_PROTOCOL, NULL,
		    "the broker answered hello with "
		    "an unexpected frame");
		goto out;
	}
	if (mp_int(mp_get(f, "v"), &v) != 0 || v != PROTO_VERSION) {
		op_error_set(err, ERR_VERSION, NULL,
		    "the broker speaks protocol %lld, this "
		    "baton %d; restart the broker (`batond`) from the same installation",
		    (long long)v, PROTO_VERSION);
		goto out;
	}
	c->session = mp_strdup(mp_get(f, "session"));
	c->token = mp_strdup(mp_get(f, "token"));
	c->agent = mp_strdup(mp_get(f, "agent"));
	c->project = mp_strdup(mp_get(f, "project"));
	c->broker_version = mp_strdup(mp_get(f, "version"));
	if (mp_int(mp_get(f, "reclaimed"), &c->reclaimed) != 0)
		c->reclaimed = 0;
	if (c->session == NULL || c->token == NULL) {
		op_error_set(err, ERR_PROTOCOL, NULL, "the broker's welcome lacks a session");
		goto out;
	}
	r = 0;
out:
	msgpack_unpacked_destroy(&u);
	return (r);
}

/*
 * The socket of the broker o names: -S (or BATON_SOCKET), else the team
 * broker's of o's group, else the private broker's.  A group is selected
 * here (common/group.c): its directory and its broker are then checked
 * as the group's.  -1 with cause.
 */
int
client_socket(const struct client_opts *o, char *buf, size_t len, char **cause)
{
	if (o->group != NULL && group_select(o->group, cause) != 0)
		return (-1);
	if (o->socket == NULL)
		return (path_broker_socket(buf, len, cause));
	if (snprintf(buf, len, "%s", o->socket) >= (int)len) {
		xasprintf(cause, "socket path too long: %s", o->socket);
		return (-1);
	}
	return (0);
}

/*
 * Open a session with the broker: find it (start it if allowed), say
 * hello and read the welcome.  On failure err says what to do.
 */
int
conn_open(struct conn *c, const struct client_opts *o, struct op_error *err)
{
	char sock[PATH_MAX], *cause, *project;
	int r;

	memset(c, 0, sizeof *c);
	c->fd = -1;
	if (client_socket(o, sock, sizeof sock, &cause) != 0) {
		op_error_set(err, ERR_UNAVAILABLE, NULL, "%s", cause);
		free(cause);
		return (-1);
	}
	if ((c->fd = client_reach(sock, o->autostart, err)) == -1)
		return (-1);
	project = o->project != NULL ? project_abspath(o->project) : project_default();
	r = client_hello(c, o, project);
	free(project);
	if (r != 0) {
		client_syserr(err, ERR_UNAVAILABLE, "cannot send hello to the broker on %s",
		    sock);
		conn_close(c);
		return (-1);
	}
	if (client_welcome(c, err) != 0) {
		conn_close(c);
		return (-1);
	}
	return (0);
}

/* Close the connection and free what it holds; c can be opened again. */
void
conn_close(struct conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	free(c->session);
	free(c->token);
	free(c->agent);
	free(c->project);
	free(c->broker_version);
	free(c->rbuf);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

/* Finish and write a whole frame; 0, or -1 with errno (EMSGSIZE: too big). */
int
conn_send(struct conn *c, struct fbuf *fb)
{
	if (fbuf_finish(fb) != 0) {
		errno = EMSGSIZE;
		return (-1);
	}
	return (conn_send_bytes(c, fb->sb.data, fb->sb.size));
}

/* Send len bytes of finished frames (one or several); 0 or -1 with errno. */
int
conn_send_bytes(struct conn *c, const void *buf, size_t len)
{
	const char *p = buf;
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		/* MSG_NOSIGNAL: a dead broker is an error to report, not a SIGPIPE */
		n = send(c->fd, p + off, len - off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		off += (size_t)n;
	}
	return (0);
}

/* Decode the first frame of rbuf (len payload bytes) into out and drop it from rbuf. */
static int
conn_take_frame(struct conn *c, size_t len, msgpack_unpacked *out, struct op_error *err)
{
	const char *cause;
	char *copy;

	/*
	 * msgpack_unpack_next() leaves strings pointing into the input, so
	 * the frame gets its own copy owned by out's zone; rbuf can move on.
	 */
	copy = xmalloc(len);
	memcpy(copy, c->rbuf + FRAME_HDR, len);
	c->rlen -= FRAME_HDR + len;
	memmove(c->rbuf, c->rbuf + FRAME_HDR + len, c->rlen);
	if (frame_decode(copy, len, out, &cause) != 0) {
		free(copy);
		op_error_set(err, ERR_PROTOCOL, NULL, "bad frame from the broker: %s", cause);
		return (-1);
	}
	if (!msgpack_zone_push_finalizer(out->zone, free, copy))
		fatalx("msgpack_zone_push_finalizer: out of memory");
	return (0);
}

/* Read until one whole frame is in; ms is the timeout, -1 for none.  0 or -1 with err. */
int
conn_read_frame(struct conn *c, msgpack_unpacked *out, int ms, struct op_error *err)
{
	struct pollfd pfd;
	const char *cause;
	uint64_t end = ms >= 0 ? mono_ms() + (uint64_t)ms : 0, now;
	ssize_t len, n;
	size_t need;
	int wait, r, polled = 0;

	for (;;) {
		len = frame_length(c->rbuf, c->rlen, FRAME_MAX_DEFAULT, &cause);
		if (len < 0) {
			op_error_set(err, ERR_PROTOCOL, NULL, "bad frame from the broker: %s",
			    cause);
			return (-1);
		}
		if (len > 0 && c->rlen >= FRAME_HDR + (size_t)len)
			return (conn_take_frame(c, (size_t)len, out, err));
		need = len > 0 ? FRAME_HDR + (size_t)len : c->rlen + CLIENT_READ_CHUNK;
		if (need < c->rlen + CLIENT_READ_CHUNK)
			need = c->rlen + CLIENT_READ_CHUNK;
		if (c->rsize < need) {
			c->rbuf = xreallocarray(c->rbuf, 1, need);
			c->rsize = need;
		}
		wait = -1;
		if (ms >= 0) {
			now = mono_ms();
			wait = now >= end ? 0 : (int)(end - now);
		} else if (!polled)
			goto readit; /* no timeout: a blocking read does, one call less */
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if ((r = poll(&pfd, 1, wait)) == -1) {
			if (errno == EINTR)
				continue;
			client_syserr(err, ERR_INTERNAL, "poll");
			return (-1);
		}
		if (r == 0) {
			op_error_set(err, ERR_TIMEOUT, NULL,
			    "the broker did not answer within "
			    "%d ms",
			    ms);
			return (-1);
		}
	readit:
		n = read(c->fd, c->rbuf + c->rlen, c->rsize - c->rlen);
		if (n == -1 && errno == EAGAIN) {
			polled = 1; /* a non-blocking socket: wait in poll */
			continue;
		}
		polled = 0;
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			op_error_set(err, ERR_UNAVAILABLE, NULL,
			    "the broker closed the "
			    "connection%s%s; run the command again (it restarts the broker)",
			    n == -1 ? ": " : "", n == -1 ? strerror(errno) : "");
			return (-1);
		}
		c->rlen += (size_t)n;
	}
}

/*
 * Open a request {t:3, id, op, a: ...}: the caller packs the arguments
 * (one map) next, then closes it with client_req_close.
 */
void
client_req_open(struct fbuf *fb, uint64_t id, const char *op)
{
	pk_map_open(fb);
	pk_kint(fb, "t", FRAME_REQ);
	pk_kuint(fb, "id", id);
	pk_kstr(fb, "op", op);
	pk_str(fb, "a");
}

/* Close the request client_req_open began. */
void
client_req_close(struct fbuf *fb)
{
	pk_map_close(fb);
}

/* Fill err from a failed response's e {code, message, field}. */
static void
client_res_error(const msgpack_object *e, struct op_error *err)
{
	const char *s;
	size_t n;

	if (mp_str(mp_get(e, "message"), &s, &n) != 0) {
		s = "the operation failed";
		n = strlen(s);
	}
	op_error_set(err, client_code(mp_get(e, "code"), ERR_INTERNAL), NULL, "%.*s",
	    (int)(n > sizeof err->message - 1 ? sizeof err->message - 1 : n), s);
	if (mp_str(mp_get(e, "field"), &s, &n) == 0)
		snprintf(err->field, sizeof err->field, "%.*s", (int)n, s);
}

/*
 * Call op with args, len bytes of one packed map as they go on the wire
 * (NULL: {}), and wait for its response, skipping pushes.  On success
 * *result points at r inside u, which the caller owns
 * (msgpack_unpacked_init before, _destroy after).
 */
int
conn_call(struct conn *c, const char *op, const void *args, size_t len, msgpack_unpacked *u,
    const msgpack_object **result, struct op_error *err)
{
	static const unsigned char empty = 0x80; /* {} */
	struct fbuf fb;
	const msgpack_object *f, *e;
	uint64_t id = ++c->next_id;
	int64_t rid;
	int ok, r;

	*result = NULL;
	fbuf_init(&fb);
	client_req_open(&fb, id, op);
	if (args != NULL)
		pk_raw(&fb, args, len);
	else
		pk_raw(&fb, &empty, 1);
	client_req_close(&fb);
	r = conn_send(c, &fb);
	fbuf_free(&fb);
	if (r != 0) {
		if (errno == EMSGSIZE)
			op_error_set(err, ERR_LIMIT, "arguments",
			    "the request is larger than "
			    "%d bytes",
			    FRAME_MAX_DEFAULT);
		else
			client_syserr(err, ERR_UNAVAILABLE, "cannot send to the broker");
		return (-1);
	}
	for (;;) {
		if (conn_read_frame(c, u, -1, err) != 0)
			return (-1);
		f = &u->data;
		switch (mp_frame_type(f)) {
		case FRAME_ERROR: client_error_frame(f, err); return (-1);
		case FRAME_RES: break;
		default: continue; /* pushes and stray frames */
		}
		if (mp_int(mp_get(f, "id"), &rid) != 0 || (uint64_t)rid != id)
			continue;
		if (mp_bool(mp_get(f, "ok"), &ok) != 0) {
			op_error_set(err, ERR_PROTOCOL, NULL, "the broker's response lacks ok");
			return (-1);
		}
		if (!ok) {
			e = mp_get(f, "e");
			client_res_error(e, err);
			return (-1);
		}
		if ((*result = mp_get(f, "r")) == NULL) {
			op_error_set(err, ERR_PROTOCOL, NULL, "the broker's response lacks r");
			return (-1);
		}
		return (0);
	}
}
