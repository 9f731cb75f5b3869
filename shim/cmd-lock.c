/*
 * Lock commands for shells and Makefiles: `baton lock` (flock(1)-like:
 * run a command while holding locks), `baton acquire` / `release` /
 * `renew` for multi-step scripts, and `baton locks` for people.
 */
#include "config.h"

#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define LOCK_DEFAULT_TTL 600.0 /* baton acquire: a forgotten lock lapses after 10 min */
#define LOCK_FOREVER 3600.0    /* one wait request when no -w is given; the broker caps it */
#define LOCK_RECLAIM_SECONDS 30 /* how long baton lock tries to reach a restarted broker */

struct lock_req {
	char **names;
	int nnames;
	int shared;
	int nonblock;
	double timeout; /* -w; < 0: wait for ever */
	double ttl;     /* 0: session-bound */
	const char *reason;
	int conflict_code;
	int brk; /* --break: take the locks away from their holders */
};

static volatile sig_atomic_t lock_child_pid;

static int lock_break(const struct client_opts *, char **, int, const char *);

/*
 * Pack the lock_acquire arguments of one attempt into fb and decode them
 * into u for conn_call; u points into fb, which the caller frees after.
 */
static int
lock_args(const struct lock_req *q, double wait, const char *ticket, struct fbuf *fbp,
    msgpack_unpacked *u)
{
#define fb (*fbp)
	size_t n = 3 + (q->ttl > 0) + (ticket != NULL) + (q->reason != NULL), off = 0;
	int i, r;

	fbuf_init(&fb);
	pk_map(&fb, n);
	if (q->nnames == 1)
		pk_kstr(&fb, "name", q->names[0]);
	else {
		pk_str(&fb, "names");
		pk_array(&fb, (size_t)q->nnames);
		for (i = 0; i < q->nnames; i++)
			pk_str(&fb, q->names[i]);
	}
	pk_kstr(&fb, "mode", q->shared ? "shared" : "exclusive");
	pk_kdouble(&fb, "wait_seconds", wait);
	if (q->ttl > 0)
		pk_kdouble(&fb, "ttl_seconds", q->ttl);
	if (ticket != NULL)
		pk_kstr(&fb, "ticket", ticket);
	if (q->reason != NULL)
		pk_kstr(&fb, "reason", q->reason);
	r = fb.err ? -1 : 0;
	if (r == 0 && msgpack_unpack_next(u, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR,
	    &off) != MSGPACK_UNPACK_SUCCESS)
		r = -1;
	return (r);
#undef fb
}

/* One line naming who holds what, from an acquired:false result. */
static void
lock_describe_holders(const msgpack_object *r, char *buf, size_t len)
{
	const msgpack_object *h = mp_get(r, "holders"), *e;
	const char *agent = "someone", *name = "", *mode = "";
	size_t an = strlen(agent), nn = 0, mn = 0;

	if (h != NULL && h->type == MSGPACK_OBJECT_ARRAY && h->via.array.size > 0) {
		e = &h->via.array.ptr[0];
		mp_str(mp_get(e, "agent"), &agent, &an);
		mp_str(mp_get(e, "name"), &name, &nn);
		mp_str(mp_get(e, "mode"), &mode, &mn);
		snprintf(buf, len, "%.*s is held by %.*s (%.*s)%s", (int)nn, name, (int)an, agent,
		    (int)mn, mode, h->via.array.size > 1 ? " and others" : "");
		return;
	}
	snprintf(buf, len, "the lock is taken or others are queued ahead");
}

/*
 * Acquire q's locks on c, waiting as q says (re-asking with the ticket
 * past the broker's cap).  0 acquired (*res holds the result), 1 not
 * acquired (message printed), or an exit status.
 */
static int
lock_obtain(struct conn *c, const struct lock_req *q, msgpack_unpacked *res,
    const msgpack_object **result)
{
	msgpack_unpacked args;
	struct op_error err;
	struct fbuf fb;
	const msgpack_object *r;
	char *ticket = NULL, who[512];
	double start = mono_now(), left, wait;
	int64_t pos = 0;
	int acquired, status;

	for (;;) {
		if (q->nonblock)
			wait = 0;
		else if (q->timeout >= 0) {
			left = q->timeout - (mono_now() - start);
			wait = left > 0 ? left : 0;
		} else
			wait = LOCK_FOREVER;
		msgpack_unpacked_init(&args);
		if (lock_args(q, wait, ticket, &fb, &args) != 0) {
			msgpack_unpacked_destroy(&args);
			fbuf_free(&fb);
			free(ticket);
			cli_err("cannot encode the request");
			return (EXIT_SOFTWARE);
		}
		memset(&err, 0, sizeof err);
		status = conn_call(c, "lock_acquire", &args.data, res, &r, &err);
		msgpack_unpacked_destroy(&args);
		fbuf_free(&fb);
		if (status != 0) {
			free(ticket);
			status = cli_fail("lock_acquire", &err);
			return (status == EXIT_CONFLICT ? q->conflict_code : status);
		}
		if (mp_bool(mp_get(r, "acquired"), &acquired) == 0 && acquired) {
			free(ticket);
			*result = r;
			return (0);
		}
		free(ticket);
		ticket = mp_strdup(mp_get(r, "ticket"));
		mp_int(mp_get(r, "queue_position"), &pos);
		lock_describe_holders(r, who, sizeof who);
		if (q->nonblock || (q->timeout >= 0 && mono_now() - start >= q->timeout)) {
			free(ticket);
			if (q->nonblock)
				cli_err("%s", who);
			else
				cli_err("timed out after %g s: %s", q->timeout, who);
			return (1);
		}
	}
}

/* Forward a signal sent to baton by another process to the child. */
static void
lock_forward(int sig, siginfo_t *si, void *ctx)
{
	/* a terminal's signal already reached the child's process group */
	if (lock_child_pid > 0 && (si == NULL || si->si_code <= 0))
		kill((pid_t)lock_child_pid, sig);
}

/*
 * The broker went away while the command runs: reconnect with the
 * session token (auto-starting a broker that restores its state) and
 * reclaim the session's locks within the broker's grace period.
 */
static void
lock_reclaim(struct conn *c, const struct client_opts *o)
{
	struct client_opts ro = *o;
	struct op_error err;
	struct conn nc;
	char *token = c->token != NULL ? xstrdup(c->token) : NULL;
	double start = mono_now(), delay = 0.05;
	struct timespec ts;

	ro.token = token;
	conn_close(c);
	c->fd = -1;
	while (mono_now() - start < LOCK_RECLAIM_SECONDS) {
		memset(&err, 0, sizeof err);
		if (conn_open(&nc, &ro, &err) == 0) {
			if (nc.reclaimed == 0)
				cli_err("warning: the broker restarted and did not give the locks "
				    "back (grace period over?); the command goes on without them");
			*c = nc;
			free(token);
			return;
		}
		ts.tv_sec = (time_t)delay;
		ts.tv_nsec = (long)((delay - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL); /* backoff between reconnects: there is no event to wait for */
		if (delay < 1)
			delay *= 2;
	}
	cli_err("warning: cannot reach the broker again after %d s; the command goes on "
	    "without its locks", LOCK_RECLAIM_SECONDS);
	free(token);
}

/*
 * Wait for the child while watching the broker connection: its end (a
 * broker restart) is answered by a reclaim, so the locks survive it.
 * The child's wait status, or -1.
 */
static int
lock_watch(struct conn *c, const struct client_opts *o, pid_t pid)
{
	struct pollfd pfd[2];
	msgpack_unpacked u;
	struct op_error err;
	int status, pidfd, n;
	pid_t r;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r == -1 && errno != EINTR) {
			cli_err("waitpid: %s", strerror(errno));
			status = -1;
			break;
		}
		n = 0;
		if (c->fd != -1) {
			pfd[n].fd = c->fd;
			pfd[n++].events = POLLIN;
		}
		if (pidfd != -1) {
			pfd[n].fd = pidfd;
			pfd[n++].events = POLLIN;
		}
		/* without a pidfd (old kernels) look at the child every 100 ms */
		if (poll(pfd, (nfds_t)n, pidfd != -1 ? -1 : 100) <= 0)
			continue;
		if (c->fd != -1 && pfd[0].revents != 0) {
			msgpack_unpacked_init(&u);
			memset(&err, 0, sizeof err);
			if (conn_read_frame(c, &u, 0, &err) != 0 &&
			    strcmp(err.code, ERR_TIMEOUT) != 0)
				lock_reclaim(c, o);
			msgpack_unpacked_destroy(&u);
		}
	}
	if (pidfd != -1)
		close(pidfd);
	return (status);
}

/* Run argv with the fence and token in its environment; its exit status. */
static int
lock_run(struct conn *c, const struct client_opts *o, char **argv, const msgpack_object *r)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa;
	sigset_t block, saved;
	char *token, fence[32];
	int64_t f = 0;
	int status;
	size_t i;
	pid_t pid;

	mp_int(mp_get(r, "fence"), &f);
	snprintf(fence, sizeof fence, "%lld", (long long)f);
	token = mp_strdup(mp_get(r, "token"));
	setenv("BATON_FENCE", fence, 1);
	setenv("BATON_LOCK_TOKEN", token != NULL ? token : "", 1);
	free(token);
	/*
	 * Handlers go in before the fork with the signals blocked, so none is
	 * lost or kills baton (and with it the locks) in between.
	 */
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = lock_forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (i = 0; i < nitems(sigs); i++) {
		sigaddset(&block, sigs[i]);
		sigaction(sigs[i], &sa, NULL);
	}
	sigprocmask(SIG_BLOCK, &block, &saved);
	fflush(NULL);
	if ((pid = fork()) == -1) {
		sigprocmask(SIG_SETMASK, &saved, NULL);
		cli_err("cannot fork: %s", strerror(errno));
		return (EXIT_SOFTWARE);
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		for (i = 0; i < nitems(sigs); i++)
			signal(sigs[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, &saved, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "baton: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	lock_child_pid = pid;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	status = lock_watch(c, o, pid);
	if (status == -1)
		return (EXIT_SOFTWARE);
	lock_child_pid = 0;
	if (WIFEXITED(status))
		return (WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return (128 + WTERMSIG(status));
	return (EXIT_SOFTWARE);
}

/* Parse a number of seconds for option opt (also used by cmd-state.c). */
int
lock_seconds(const char *opt, const char *s, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 || v > max) {
		cli_usage_err("%s takes seconds from 0 to %g, not '%s'", opt, max, s);
		return (-1);
	}
	*out = v;
	return (0);
}

/* Shared option parsing of lock and acquire; returns optind or -1. */
static int
lock_options(int argc, char **argv, struct lock_req *q, int detached, int *json)
{
	static const struct option longopts[] = {
		{ "shared", no_argument, NULL, 's' },
		{ "exclusive", no_argument, NULL, 'x' },
		{ "nonblock", no_argument, NULL, 'n' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ "wait", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "conflict-exit-code", required_argument, NULL, 'E' },
		{ "reason", required_argument, NULL, 'r' },
		{ "ttl", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "break", no_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long code;
	int ch;

	q->timeout = -1;
	q->conflict_code = 1;
	q->ttl = detached ? LOCK_DEFAULT_TTL : 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+sxnw:E:", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': q->shared = 1; break;
		case 'x': q->shared = 0; break;
		case 'n': q->nonblock = 1; break;
		case 'r': q->reason = optarg; break;
		case 'w':
			if (lock_seconds("-w", optarg, 1e7, &q->timeout) != 0)
				return (-1);
			break;
		case 't':
			if (!detached) {
				cli_usage_err("--ttl is for baton acquire; baton lock holds its "
				    "locks while the command runs");
				return (-1);
			}
			if (lock_seconds("--ttl", optarg, 86400, &q->ttl) != 0)
				return (-1);
			if (q->ttl < 1) {
				cli_usage_err("--ttl takes 1 to 86400 seconds");
				return (-1);
			}
			break;
		case 'E':
			code = strtol(optarg, &end, 10);
			if (*end != '\0' || end == optarg || code < 0 || code > 255) {
				cli_usage_err("-E takes an exit status from 0 to 255");
				return (-1);
			}
			q->conflict_code = (int)code;
			break;
		case 'B':
			if (detached) {
				cli_usage_err("--break is for baton lock");
				return (-1);
			}
			q->brk = 1;
			break;
		case 'j':
			if (json == NULL) {
				cli_usage_err("--json is for baton acquire");
				return (-1);
			}
			*json = 1;
			break;
		default:
			cli_usage_err("unknown option for baton %s", detached ? "acquire" : "lock");
			return (-1);
		}
	}
	if (q->nonblock && q->timeout >= 0) {
		cli_usage_err("-n and -w do not go together");
		return (-1);
	}
	return (optind);
}

/* baton lock [-s|-x] [-n | -w S] [-E CODE] [--reason R] NAME... -- COMMAND [ARGS...] */
int
cmd_lock(const struct client_opts *o, int argc, char **argv)
{
	struct lock_req q;
	struct op_error err;
	struct conn c;
	msgpack_unpacked res;
	const msgpack_object *r;
	int first, dash, i, status;

	memset(&q, 0, sizeof q);
	if ((first = lock_options(argc, argv, &q, 0, NULL)) < 0)
		return (EXIT_USAGE);
	if (q.brk) {
		if (first >= argc)
			return (cli_usage_err("usage: baton lock --break [--reason TEXT] NAME..."));
		for (i = first; i < argc; i++) {
			if (strcmp(argv[i], "--") == 0 || *argv[i] == '\0')
				return (cli_usage_err("baton lock --break takes lock names only, "
				    "no command"));
		}
		return (lock_break(o, argv + first, argc - first, q.reason));
	}
	for (dash = first; dash < argc && strcmp(argv[dash], "--") != 0; dash++)
		;
	if (dash == first)
		return (cli_usage_err("usage: baton lock [-s|-x] [-n | -w SECONDS] [-E CODE] "
		    "NAME... -- COMMAND [ARGS...]"));
	if (dash >= argc)
		return (cli_usage_err("put -- between the lock names and the command: "
		    "baton lock %s -- COMMAND", argv[first]));
	if (dash + 1 >= argc)
		return (cli_usage_err("no command after --"));
	q.names = argv + first;
	q.nnames = dash - first;
	for (i = 0; i < q.nnames; i++) {
		if (*q.names[i] == '\0')
			return (cli_usage_err("empty lock name"));
	}
	memset(&err, 0, sizeof err);
	if (conn_open(&c, o, &err) != 0) {
		status = cli_fail("lock", &err);
		return (status);
	}
	msgpack_unpacked_init(&res);
	status = lock_obtain(&c, &q, &res, &r);
	if (status == 1)
		status = q.conflict_code;
	else if (status == 0)
		status = lock_run(&c, o, argv + dash + 1, r);
	msgpack_unpacked_destroy(&res);
	conn_close(&c); /* the session ends: its locks go */
	return (status);
}

/* baton acquire [-s|-x] [-n | -w S] [--ttl S] [--reason R] [--json] NAME... */
int
cmd_acquire(const struct client_opts *o, int argc, char **argv)
{
	struct lock_req q;
	struct op_error err;
	struct conn c;
	msgpack_unpacked res;
	const msgpack_object *r;
	char *token;
	int first, status, json = 0;

	memset(&q, 0, sizeof q);
	if ((first = lock_options(argc, argv, &q, 1, &json)) < 0)
		return (EXIT_USAGE);
	if (first >= argc)
		return (cli_usage_err("usage: baton acquire [-s|-x] [-n | -w SECONDS] "
		    "[--ttl SECONDS] NAME..."));
	q.names = argv + first;
	q.nnames = argc - first;
	memset(&err, 0, sizeof err);
	if (conn_open(&c, o, &err) != 0)
		return (cli_fail("acquire", &err));
	msgpack_unpacked_init(&res);
	status = lock_obtain(&c, &q, &res, &r);
	if (status == 1)
		status = q.conflict_code;
	else if (status == 0) {
		if (json)
			status = cli_print_json(r);
		else {
			token = mp_strdup(mp_get(r, "token"));
			printf("%s\n", token != NULL ? token : "");
			free(token);
			status = fflush(stdout) == 0 ? 0 : EXIT_SOFTWARE;
		}
	}
	msgpack_unpacked_destroy(&res);
	conn_close(&c);
	return (status);
}

/* Call op on a new connection with the args packed in fb (freed); the result in *u. */
static int
lock_call_args(const struct client_opts *o, const char *op, struct fbuf *fb,
    msgpack_unpacked *u, const msgpack_object **r)
{
	struct op_error err;
	struct conn c;
	msgpack_unpacked args;
	size_t off = 0;
	int status;

	msgpack_unpacked_init(&args);
	if (fb->err || msgpack_unpack_next(&args, fb->sb.data + FRAME_HDR,
	    fb->sb.size - FRAME_HDR, &off) != MSGPACK_UNPACK_SUCCESS) {
		fbuf_free(fb);
		msgpack_unpacked_destroy(&args);
		cli_err("cannot encode the request");
		return (EXIT_SOFTWARE);
	}
	memset(&err, 0, sizeof err);
	if (conn_open(&c, o, &err) != 0)
		status = cli_fail(op, &err);
	else {
		status = conn_call(&c, op, &args.data, u, r, &err) != 0 ? cli_fail(op, &err) : 0;
		conn_close(&c);
	}
	msgpack_unpacked_destroy(&args);
	fbuf_free(fb);
	return (status);
}

/* Call a release-like op with {name, token[, ttl_seconds]}; the result in *u. */
static int
lock_call_named(const struct client_opts *o, const char *op, const char *name,
    const char *token, double ttl, msgpack_unpacked *u, const msgpack_object **r)
{
	struct fbuf fb;

	fbuf_init(&fb);
	pk_map(&fb, ttl > 0 ? 3 : 2);
	pk_kstr(&fb, "name", name);
	pk_kstr(&fb, "token", token);
	if (ttl > 0)
		pk_kdouble(&fb, "ttl_seconds", ttl);
	return (lock_call_args(o, op, &fb, u, r));
}

/*
 * baton lock --break [--reason R] NAME...: take each lock away from
 * whoever holds it; 0 when every one was held, 1 when one was not, or
 * the first worse status.
 */
static int
lock_break(const struct client_opts *o, char **names, int n, const char *reason)
{
	const msgpack_object *r, *hs, *h;
	msgpack_unpacked u;
	struct fbuf fb;
	const char *agent, *sid, *mode;
	size_t al, sl, ml;
	int64_t fence;
	uint32_t k;
	int i, status = 0, st, broken;

	for (i = 0; i < n && status <= 1; i++) {
		fbuf_init(&fb);
		pk_map(&fb, reason != NULL ? 2 : 1);
		pk_kstr(&fb, "name", names[i]);
		if (reason != NULL)
			pk_kstr(&fb, "reason", reason);
		msgpack_unpacked_init(&u);
		st = lock_call_args(o, "lock_break", &fb, &u, &r);
		if (st == 0 && (mp_bool(mp_get(r, "broken"), &broken) != 0 || !broken)) {
			cli_err("%s: nobody holds it; nothing to break", names[i]);
			st = 1;
		} else if (st == 0 && (hs = mp_get(r, "holders")) != NULL &&
		    hs->type == MSGPACK_OBJECT_ARRAY) {
			for (k = 0; k < hs->via.array.size; k++) {
				h = &hs->via.array.ptr[k];
				agent = sid = mode = "?";
				al = sl = ml = 1;
				fence = 0;
				mp_str(mp_get(h, "agent"), &agent, &al);
				mp_str(mp_get(h, "session"), &sid, &sl);
				mp_str(mp_get(h, "mode"), &mode, &ml);
				mp_int(mp_get(h, "fence"), &fence);
				printf("broke %s: held by %.*s (session %.*s, %.*s, fence %lld)\n",
				    names[i], (int)al, agent, (int)sl, sid, (int)ml, mode,
				    (long long)fence);
			}
		}
		msgpack_unpacked_destroy(&u);
		if (st > status)
			status = st; /* past 1 (the broker is gone...), stop */
	}
	if (fflush(stdout) != 0 && status == 0)
		status = EXIT_SOFTWARE;
	return (status);
}

/* baton release NAME TOKEN */
int
cmd_release(const struct client_opts *o, int argc, char **argv)
{
	msgpack_unpacked u;
	const msgpack_object *r;
	int status, released = 0;

	if (argc != 3)
		return (cli_usage_err("usage: baton release NAME TOKEN"));
	msgpack_unpacked_init(&u);
	status = lock_call_named(o, "lock_release", argv[1], argv[2], 0, &u, &r);
	if (status == 0 && (mp_bool(mp_get(r, "released"), &released) != 0 || !released)) {
		cli_err("%s was not held (already released, or its ttl ran out)", argv[1]);
		status = 1;
	}
	msgpack_unpacked_destroy(&u);
	return (status);
}

/* baton renew NAME TOKEN SECONDS */
int
cmd_renew(const struct client_opts *o, int argc, char **argv)
{
	msgpack_unpacked u;
	const msgpack_object *r;
	double ttl;
	int status;

	if (argc != 4)
		return (cli_usage_err("usage: baton renew NAME TOKEN SECONDS"));
	if (lock_seconds("SECONDS", argv[3], 86400, &ttl) != 0 || ttl < 1)
		return (EXIT_USAGE);
	msgpack_unpacked_init(&u);
	status = lock_call_named(o, "lock_renew", argv[1], argv[2], ttl, &u, &r);
	msgpack_unpacked_destroy(&u);
	return (status);
}

/* Age or expiry in seconds as a short human string. */
static void
lock_secs(const msgpack_object *v, char *buf, size_t len)
{
	double d;

	if (mp_num(v, &d) != 0)
		snprintf(buf, len, "-");
	else if (d < 60)
		snprintf(buf, len, "%.0fs", d);
	else if (d < 3600)
		snprintf(buf, len, "%.0fm%02.0fs", floor(d / 60), fmod(d, 60));
	else
		snprintf(buf, len, "%.0fh%02.0fm", floor(d / 3600), fmod(floor(d / 60), 60));
}

/* Print one holder row of the locks table. */
static void
lock_row(const char *name, size_t nn, const msgpack_object *h, size_t nwait)
{
	const char *agent = "-", *mode = "-", *reason = "";
	size_t an = 1, mn = 1, rn = 0;
	char age[32], exp[32];

	mp_str(mp_get(h, "agent"), &agent, &an);
	mp_str(mp_get(h, "mode"), &mode, &mn);
	mp_str(mp_get(h, "reason"), &reason, &rn);
	lock_secs(mp_get(h, "age_seconds"), age, sizeof age);
	lock_secs(mp_get(h, "expires_in_seconds"), exp, sizeof exp);
	printf("%-28.*s %-9.*s %-20.*s %7s %7s %7zu  %.*s\n", (int)nn, name, (int)mn, mode,
	    (int)an, agent, age, exp, nwait, (int)rn, reason);
}

/* baton locks [--json] [PREFIX] */
int
cmd_locks(const struct client_opts *o, int argc, char **argv)
{
	const msgpack_object *r, *ls, *l, *hs, *ws;
	struct op_error err;
	struct conn c;
	struct fbuf fb;
	msgpack_unpacked args, u;
	const char *prefix = "", *name;
	size_t nn, off = 0, nwait;
	uint32_t i, j;
	int k, json = 0, status;

	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0)
			json = 1;
		else if (argv[k][0] == '-')
			return (cli_usage_err("usage: baton locks [--json] [PREFIX]"));
		else
			prefix = argv[k];
	}
	fbuf_init(&fb);
	pk_map(&fb, 1);
	pk_kstr(&fb, "prefix", prefix);
	msgpack_unpacked_init(&args);
	msgpack_unpacked_init(&u);
	if (fb.err || msgpack_unpack_next(&args, fb.sb.data + FRAME_HDR,
	    fb.sb.size - FRAME_HDR, &off) != MSGPACK_UNPACK_SUCCESS) {
		status = EXIT_SOFTWARE;
		goto out;
	}
	memset(&err, 0, sizeof err);
	if (conn_open(&c, o, &err) != 0) {
		status = cli_fail("locks", &err);
		goto out;
	}
	if (conn_call(&c, "lock_list", &args.data, &u, &r, &err) != 0) {
		status = cli_fail("lock_list", &err);
		conn_close(&c);
		goto out;
	}
	conn_close(&c);
	if (json) {
		status = cli_print_json(r);
		goto out;
	}
	ls = mp_get(r, "locks");
	if (ls == NULL || ls->type != MSGPACK_OBJECT_ARRAY || ls->via.array.size == 0) {
		printf("no locks held%s%s\n", *prefix ? " under " : "", prefix);
		status = 0;
		goto out;
	}
	printf("%-28s %-9s %-20s %7s %7s %7s  %s\n", "NAME", "MODE", "HOLDER", "AGE",
	    "EXPIRES", "WAITERS", "REASON");
	for (i = 0; i < ls->via.array.size; i++) {
		l = &ls->via.array.ptr[i];
		if (mp_str(mp_get(l, "name"), &name, &nn) != 0)
			continue;
		hs = mp_get(l, "holders");
		ws = mp_get(l, "waiters");
		nwait = ws != NULL && ws->type == MSGPACK_OBJECT_ARRAY ? ws->via.array.size : 0;
		if (hs == NULL || hs->type != MSGPACK_OBJECT_ARRAY || hs->via.array.size == 0) {
			printf("%-28.*s %-9s %-20s %7s %7s %7zu\n", (int)nn, name, "free", "-", "-",
			    "-", nwait);
			continue;
		}
		for (j = 0; j < hs->via.array.size; j++)
			lock_row(name, nn, &hs->via.array.ptr[j], nwait);
	}
	status = fflush(stdout) == 0 ? 0 : EXIT_SOFTWARE;
out:
	fbuf_free(&fb);
	msgpack_unpacked_destroy(&args);
	msgpack_unpacked_destroy(&u);
	return (status);
}
