/*
 * Lock commands for shells and Makefiles: `baton lock` (flock(1)-like:
 * run a command while holding locks), `baton acquire` / `release` /
 * `renew` for multi-step scripts, and `baton locks` for people.
 */
#include "config.h"

#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define LOCK_FOREVER 3600.0     /* one wait request when no -w is given; the broker caps it */
#define LOCK_RECLAIM_SECONDS 30 /* how long baton lock tries to reach a restarted broker */
#define LOCK_KILL_AFTER 10.0    /* from SIGTERM to SIGKILL for a command that lost its lock */
#define LOCK_KILL_AFTER_MAX 3600.0

static volatile sig_atomic_t lock_child_pid;

static int lock_exec(struct cmd_call *);
static int acquire_exec(struct cmd_call *);
static int release_exec(struct cmd_call *);
static int lock_break(struct cmd_call *);
static int locks_show(struct cmd_call *);

/* The options of lock and acquire; -w, -n, -E are baton's, not the operation's. */
#define LOCK_OPTS \
	{ "shared", 's', "mode", "shared" }, { "exclusive", 'x', "mode", "exclusive" }, \
	    { "nonblock", 'n', NULL, "1" }, { "no-wait", 0, NULL, "1" }, \
	    { "wait", 'w', NULL, NULL }, { "timeout", 0, NULL, NULL }, \
	    { "conflict-exit-code", 'E', NULL, NULL }, \
	{ \
		"reason", 0, "reason", NULL \
	}
static const struct cmd_opt lock_opts[] = {
	LOCK_OPTS,
	{ "break", 0, NULL, "1" },
	{ "keep-going", 0, NULL, "1" },
	{ "kill-after", 0, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt acquire_opts[] = {
	LOCK_OPTS,
	{ "ttl", 0, "ttl_seconds", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct cmd_sub lock_subs[] = {
	{ .op = "lock_acquire",
	    .usage = "lock [-s|-x] [-n | -w SECONDS] [-E CODE] [--reason TEXT] "
		     "[--keep-going | --kill-after SECONDS] NAME... -- CMD...\n"
		     "lock --break [--reason TEXT] NAME...",
	    .desc = "run CMD holding the locks (like flock(1)); they go when CMD ends or "
		    "baton dies; the exit status is CMD's. A lock lost while CMD runs (the "
		    "broker restarted and its grace passed) stops CMD: SIGTERM, SIGKILL "
		    "--kill-after seconds later (default 10), exit status 75; --keep-going "
		    "lets CMD run on unprotected. --break takes a forgotten lock away from its "
		    "holders (they are told in their inbox)",
	    .flags = CMD_STOP,
	    .opts = lock_opts,
	    .exec = lock_exec },
};
const struct cmd_entry cmd_lock_entry = {
	.name = "lock",
	.subs = lock_subs,
	.nsubs = nitems(lock_subs),
	.exec = cmd_sub_main,
};

static const struct cmd_sub acquire_subs[] = {
	{ .op = "lock_acquire",
	    .usage = "acquire [-s|-x] [-n | -w SECONDS] [-E CODE] [--ttl SECONDS] "
		     "[--reason TEXT] [--json] NAME...",
	    .desc = "take detached locks (ttl default 600 s); prints the token",
	    .flags = CMD_STOP | CMD_JSON,
	    .opts = acquire_opts,
	    .preset = { "ttl_seconds", "600" }, /* a forgotten lock lapses after 10 min */
	    .exec = acquire_exec },
};
const struct cmd_entry cmd_acquire_entry = {
	.name = "acquire",
	.subs = acquire_subs,
	.nsubs = nitems(acquire_subs),
	.exec = cmd_sub_main,
};

static const struct cmd_sub release_subs[] = {
	{ .op = "lock_release",
	    .usage = "release NAME TOKEN",
	    .desc = "release a lock taken with acquire; exit 1 when it was not held",
	    .pos = { "name", "token" },
	    .npos = 2,
	    .exec = release_exec },
};
const struct cmd_entry cmd_release_entry = {
	.name = "release",
	.subs = release_subs,
	.nsubs = nitems(release_subs),
	.exec = cmd_sub_main,
};

static const struct cmd_sub renew_subs[] = {
	{ .op = "lock_renew",
	    .usage = "renew NAME TOKEN SECONDS",
	    .desc = "make a detached lock expire SECONDS from now",
	    .pos = { "name", "token", "ttl_seconds" },
	    .npos = 3,
	    .exec = cmd_call_op },
};
const struct cmd_entry cmd_renew_entry = {
	.name = "renew",
	.subs = renew_subs,
	.nsubs = nitems(renew_subs),
	.exec = cmd_sub_main,
};

static const struct cmd_opt locks_opts[] = {
	{ "limit", 'n', "limit", NULL },
	{ "after", 0, "after", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_sub locks_subs[] = {
	{ .op = "lock_list",
	    .usage = "locks [--json] [-n N] [--after NAME] [PREFIX]",
	    .desc = "who holds which lock, and who waits (by name, N a page, default 100)",
	    .flags = CMD_JSON,
	    .opts = locks_opts,
	    .pos = { "prefix" },
	    .show = locks_show },
};
const struct cmd_entry cmd_locks_entry = {
	.name = "locks",
	.subs = locks_subs,
	.nsubs = nitems(locks_subs),
	.exec = cmd_sub_main,
};

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
		snprintf(buf, len, "%.*s is held by %.*s (%.*s)%s", (int)nn, name, (int)an,
		    agent, (int)mn, mode, h->via.array.size > 1 ? " and others" : "");
		return;
	}
	snprintf(buf, len, "the lock is taken or others are queued ahead");
}

/* What baton's own options of lock and acquire say. */
struct lock_opts {
	int nonblock;
	double timeout; /* -w; < 0: wait for ever */
	int conflict_code;
};

/* Read -n, -w and -E; 0 or a usage error. */
static int
lock_options(const struct cmd_call *cc, struct lock_opts *lo)
{
	const char *w = cmd_local(cc, "wait"), *e = cmd_local(cc, "conflict-exit-code");
	char *end;
	long code;

	if (w == NULL)
		w = cmd_local(cc, "timeout");
	lo->nonblock = cmd_local(cc, "nonblock") != NULL || cmd_local(cc, "no-wait") != NULL;
	lo->timeout = -1;
	lo->conflict_code = 1;
	if (w != NULL && cli_seconds("-w", w, 1e7, &lo->timeout) != 0)
		return (EXIT_USAGE);
	if (e != NULL) {
		code = strtol(e, &end, 10);
		if (*end != '\0' || end == e || code < 0 || code > 255)
			return (cli_usage_err("-E takes an exit status from 0 to 255"));
		lo->conflict_code = (int)code;
	}
	if (lo->nonblock && lo->timeout >= 0)
		return (cli_usage_err("-n and -w do not go together"));
	return (0);
}

/* The first n words are the lock names: name for one, names for several. */
static void
lock_names(struct cmd_call *cc, int n)
{
	if (n == 1)
		cmd_set_str(cc, "name", cc->words[0]);
	else
		cmd_set_list(cc, "names", cc->words, (size_t)n);
}

/*
 * Acquire cc's locks, waiting as lo says (re-asking with the ticket
 * past the broker's cap).  0 acquired (cc->r holds the result), 1 not
 * acquired (message printed), or an exit status.
 */
static int
lock_obtain(struct cmd_call *cc, const struct lock_opts *lo)
{
	char *ticket = NULL, who[512];
	double start = mono_now(), left, wait;
	int status;

	for (;;) {
		if (lo->nonblock)
			wait = 0;
		else if (lo->timeout >= 0) {
			left = lo->timeout - (mono_now() - start);
			wait = left > 0 ? left : 0;
		} else
			wait = LOCK_FOREVER;
		cmd_set_num(cc, "wait_seconds", wait);
		cmd_set_str(cc, "ticket", ticket);
		if ((status = cmd_call_op(cc)) != 0) {
			if (status == EXIT_CONFLICT)
				status = lo->conflict_code;
			break;
		}
		if (cmd_result_bool(cc, "acquired"))
			break;
		cmd_set_str(cc, "ticket", NULL);
		free(ticket);
		ticket = mp_get_strdup(cc->r, "ticket");
		if (lo->nonblock || (lo->timeout >= 0 && mono_now() - start >= lo->timeout)) {
			lock_describe_holders(cc->r, who, sizeof who);
			if (lo->nonblock)
				cli_err("%s", who);
			else
				cli_err("timed out after %g s: %s", lo->timeout, who);
			status = 1;
			break;
		}
	}
	cmd_set_str(cc, "ticket", NULL);
	free(ticket);
	return (status);
}

/* Forward a signal sent to baton by another process to the child. */
static void
lock_forward(int sig, siginfo_t *si, void *ctx)
{
	/* a terminal's signal already reached the child's process group */
	if (lock_child_pid > 0 && (si == NULL || si->si_code <= 0))
		kill((pid_t)lock_child_pid, sig);
}

/* What became of the locks of a running command when the broker went away. */
enum lock_fate { LOCK_KEPT, LOCK_LOST, LOCK_UNREACHABLE };

/*
 * The broker went away while the command runs: reconnect with the
 * session token (auto-starting a broker that restores its state) and
 * reclaim the session's locks within the broker's grace period.
 */
static enum lock_fate
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
			*c = nc;
			free(token);
			return (nc.reclaimed == 0 ? LOCK_LOST : LOCK_KEPT);
		}
		ts.tv_sec = (time_t)delay;
		ts.tv_nsec = (long)((delay - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts,
		    NULL); /* backoff between reconnects: there is no event to wait for */
		if (delay < 1)
			delay *= 2;
	}
	free(token);
	return (LOCK_UNREACHABLE);
}

/* How a running command is watched, and what happened. */
struct lock_child {
	pid_t pid;
	int pidfd;         /* -1 without pidfd_open (old kernels) */
	int keep_going;    /* --keep-going: a lost lock does not stop the command */
	int lost;          /* the locks were lost (said once) */
	double kill_after; /* seconds from SIGTERM to SIGKILL */
	double killed_at;  /* mono_now() of the SIGTERM; 0: not sent */
	int killed_hard;   /* SIGKILL sent */
	char *names;       /* the lock names, for messages */
	const char *cmd;   /* the command, for messages */
};

/* The locks are gone: say so, and stop the command unless --keep-going. */
static void
lock_lost(struct lock_child *lc, enum lock_fate fate)
{
	char why[128];

	if (lc->lost++ > 0)
		return; /* said and done at the first loss; later sessions held nothing */
	if (fate == LOCK_LOST)
		snprintf(why, sizeof why, "%s",
		    "the broker restarted and its grace period had passed");
	else
		snprintf(why, sizeof why, "the broker could not be reached again within %d s",
		    LOCK_RECLAIM_SECONDS);
	if (lc->keep_going) {
		cli_err("warning: lost the lock on %s (%s); --keep-going: %s runs on "
			"without it",
		    lc->names, why, lc->cmd);
		return;
	}
	cli_err("lost the lock on %s (%s); stopping %s: SIGTERM, SIGKILL after %g s", lc->names,
	    why, lc->cmd, lc->kill_after);
	kill(lc->pid, SIGTERM);
	lc->killed_at = mono_now();
}

/* Milliseconds poll may sleep: until SIGKILL is due, or 100 ms without a pidfd. */
static int
lock_poll_ms(const struct lock_child *lc)
{
	double left;
	int ms = lc->pidfd != -1 ? -1 : 100;

	if (lc->killed_at > 0 && !lc->killed_hard) {
		left = lc->killed_at + lc->kill_after - mono_now();
		if (left < 0)
			left = 0;
		if (ms == -1 || left * 1000 < ms)
			ms = (int)(left * 1000) + 1;
	}
	return (ms);
}

/*
 * Wait for the child while watching the broker connection: its end (a
 * broker restart) is answered by a reclaim, so the locks survive it; a
 * lock that does not survive stops the command (lock_lost).  The
 * child's wait status, or -1.
 */
static int
lock_watch(struct conn *c, const struct client_opts *o, struct lock_child *lc)
{
	struct pollfd pfd[2];
	msgpack_unpacked u;
	struct op_error err;
	enum lock_fate fate;
	int status, n;
	pid_t r;

	lc->pidfd = (int)syscall(SYS_pidfd_open, lc->pid, 0);
	for (;;) {
		r = waitpid(lc->pid, &status, WNOHANG);
		if (r == lc->pid)
			break;
		if (r == -1 && errno != EINTR) {
			cli_syserr("waitpid");
			status = -1;
			break;
		}
		if (lc->killed_at > 0 && !lc->killed_hard &&
		    mono_now() >= lc->killed_at + lc->kill_after) {
			kill(lc->pid, SIGKILL);
			lc->killed_hard = 1;
		}
		n = 0;
		if (c->fd != -1) {
			pfd[n].fd = c->fd;
			pfd[n++].events = POLLIN;
		}
		if (lc->pidfd != -1) {
			pfd[n].fd = lc->pidfd;
			pfd[n++].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)n, lock_poll_ms(lc)) <= 0)
			continue;
		if (c->fd != -1 && pfd[0].revents != 0) {
			msgpack_unpacked_init(&u);
			memset(&err, 0, sizeof err);
			if (conn_read_frame(c, &u, 0, &err) != 0 &&
			    strcmp(err.code, ERR_TIMEOUT) != 0 &&
			    (fate = lock_reclaim(c, o)) != LOCK_KEPT)
				lock_lost(lc, fate);
			msgpack_unpacked_destroy(&u);
		}
	}
	if (lc->pidfd != -1)
		close(lc->pidfd);
	return (status);
}

/* Start argv with the signals that baton forwards set up; its pid, or -1. */
static pid_t
lock_spawn(char **argv)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa;
	sigset_t block, saved;
	size_t i;
	pid_t pid;

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
		cli_syserr("cannot fork");
		return (-1);
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		for (i = 0; i < nitems(sigs); i++)
			signal(sigs[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, &saved, NULL);
		execvp(argv[0], argv);
		cli_syserr("cannot run %s", argv[0]);
		_exit(errno == ENOENT ? 127 : 126);
	}
	lock_child_pid = pid;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return (pid);
}

/*
 * Run argv holding cc's locks, the fence and token in its environment;
 * its exit status, or 75 when the locks were lost and the command
 * stopped.
 */
static int
lock_run(struct cmd_call *cc, char **argv, struct lock_child *lc)
{
	char *token, fence[32];
	int status;

	snprintf(fence, sizeof fence, "%lld", (long long)mp_get_int(cc->r, "fence", 0));
	token = mp_get_strdup(cc->r, "token");
	setenv("BATON_FENCE", fence, 1);
	setenv("BATON_LOCK_TOKEN", token != NULL ? token : "", 1);
	free(token);
	lc->cmd = argv[0];
	if ((lc->pid = lock_spawn(argv)) == -1)
		return (EXIT_SOFTWARE);
	status = lock_watch(&cc->c, cc->o, lc);
	lock_child_pid = 0;
	if (status == -1)
		return (EXIT_SOFTWARE);
	if (lc->killed_at > 0)
		return (EXIT_TEMPFAIL);
	if (WIFEXITED(status))
		return (WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return (128 + WTERMSIG(status));
	return (EXIT_SOFTWARE);
}

/* --keep-going and --kill-after into lc; 0 or a usage error. */
static int
lock_child_options(const struct cmd_call *cc, struct lock_child *lc)
{
	const char *ka = cmd_local(cc, "kill-after");

	memset(lc, 0, sizeof *lc);
	lc->pidfd = -1;
	lc->keep_going = cmd_local(cc, "keep-going") != NULL;
	lc->kill_after = LOCK_KILL_AFTER;
	if (ka != NULL &&
	    cli_seconds("--kill-after", ka, LOCK_KILL_AFTER_MAX, &lc->kill_after) != 0)
		return (EXIT_USAGE);
	if (ka != NULL && lc->keep_going)
		return (cli_usage_err("--keep-going and --kill-after do not go together"));
	return (0);
}

/* baton lock [-s|-x] [-n | -w S] [-E CODE] [--reason R] NAME... -- COMMAND [ARGS...] */
static int
lock_exec(struct cmd_call *cc)
{
	struct lock_opts lo;
	struct lock_child lc;
	char *prev;
	int dash, i, status;

	if ((status = lock_options(cc, &lo)) != 0 ||
	    (status = lock_child_options(cc, &lc)) != 0)
		return (status);
	if (cmd_local(cc, "break") != NULL)
		return (lock_break(cc));
	for (dash = 0; dash < cc->nwords && strcmp(cc->words[dash], "--") != 0; dash++)
		;
	if (dash == 0)
		return (cli_usage_err("usage: baton lock [-s|-x] [-n | -w SECONDS] [-E CODE] "
				      "NAME... -- COMMAND [ARGS...]"));
	if (dash >= cc->nwords)
		return (cli_usage_err("put -- between the lock names and the command: "
				      "baton lock %s -- COMMAND",
		    cc->words[0]));
	if (dash + 1 >= cc->nwords)
		return (cli_usage_err("no command after --"));
	for (i = 0; i < dash; i++) {
		if (*cc->words[i] == '\0')
			return (cli_usage_err("empty lock name"));
	}
	lock_names(cc, dash);
	if ((status = lock_obtain(cc, &lo)) == 1)
		return (lo.conflict_code);
	if (status == 0) {
		lc.names = xstrdup(cc->words[0]);
		for (i = 1; i < dash; i++) {
			prev = lc.names;
			xasprintf(&lc.names, "%s %s", prev, cc->words[i]);
			free(prev);
		}
		status = lock_run(cc, cc->words + dash + 1, &lc); /* the words end with NULL */
		free(lc.names);
	}
	return (status); /* then the session ends: its locks go */
}

/* baton acquire [-s|-x] [-n | -w S] [--ttl S] [--reason R] [--json] NAME... */
static int
acquire_exec(struct cmd_call *cc)
{
	struct lock_opts lo;
	char *token;
	int status;

	if ((status = lock_options(cc, &lo)) != 0)
		return (status);
	if (cc->nwords == 0)
		return (cli_usage_err("usage: baton acquire [-s|-x] [-n | -w SECONDS] "
				      "[--ttl SECONDS] NAME..."));
	lock_names(cc, cc->nwords);
	if ((status = lock_obtain(cc, &lo)) == 1)
		return (lo.conflict_code);
	if (status != 0)
		return (status);
	if (cc->json)
		return (cli_print_json(cc->r));
	token = mp_get_strdup(cc->r, "token");
	printf("%s\n", token != NULL ? token : "");
	free(token);
	return (cli_flush(0));
}

/* One line per holder lock_break took name from. */
static void
lock_show_broken(const char *name, const msgpack_object *r)
{
	const msgpack_object *hs = mp_get(r, "holders"), *h;
	const char *agent, *sid, *mode;
	size_t al, sl, ml;
	uint32_t k;

	for (k = 0; hs != NULL && hs->type == MSGPACK_OBJECT_ARRAY && k < hs->via.array.size;
	     k++) {
		h = &hs->via.array.ptr[k];
		agent = sid = mode = "?";
		al = sl = ml = 1;
		mp_str(mp_get(h, "agent"), &agent, &al);
		mp_str(mp_get(h, "session"), &sid, &sl);
		mp_str(mp_get(h, "mode"), &mode, &ml);
		printf("broke %s: held by %.*s (session %.*s, %.*s, fence %lld)\n", name,
		    (int)al, agent, (int)sl, sid, (int)ml, mode,
		    (long long)mp_get_int(h, "fence", 0));
	}
}

/*
 * baton lock --break [--reason R] NAME...: take each lock away from
 * whoever holds it; 0 when every one was held, 1 when one was not, or
 * the first worse status.
 */
static int
lock_break(struct cmd_call *cc)
{
	struct cmd_call bc;
	int i, status = 0, st;

	if (cc->nwords == 0)
		return (cli_usage_err("usage: baton lock --break [--reason TEXT] NAME..."));
	for (i = 0; i < cc->nwords; i++) {
		if (strcmp(cc->words[i], "--") == 0 || *cc->words[i] == '\0')
			return (cli_usage_err("baton lock --break takes lock names only, "
					      "no command"));
	}
	cmd_call_init(&bc, cc->o, "lock_break");
	cmd_set_str(&bc, "reason", cmd_str(cc, "reason"));
	for (i = 0; i < cc->nwords && status <= 1; i++) {
		cmd_set_str(&bc, "name", cc->words[i]);
		if ((st = cmd_call_op(&bc)) == 0 && !cmd_result_bool(&bc, "broken")) {
			cli_err("%s: nobody holds it; nothing to break", cc->words[i]);
			st = 1;
		} else if (st == 0)
			lock_show_broken(cc->words[i], bc.r);
		if (st > status)
			status = st; /* past 1 (the broker is gone...), stop */
	}
	cmd_call_done(&bc);
	return (cli_flush(status));
}

/* baton release NAME TOKEN: exit 1 when it was not held. */
static int
release_exec(struct cmd_call *cc)
{
	int status;

	if ((status = cmd_call_op(cc)) != 0)
		return (status);
	if (!cmd_result_bool(cc, "released")) {
		cli_err("%s was not held (already released, or its ttl ran out)",
		    cmd_str(cc, "name"));
		return (1);
	}
	return (0);
}

/* Age or expiry as cli_duration writes it; "-" when there is none. */
static void
lock_secs(const msgpack_object *v, char *buf, size_t len)
{
	const char *s;
	double d;

	if (mp_num(v, &d) != 0)
		snprintf(buf, len, "-");
	else if ((s = cli_duration(v, buf, len)) != buf)
		snprintf(buf, len, "%s", s);
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
	printf("%-28s %-9.*s %-20s %7s %7s %7zu  %s\n", cli_vis(name, nn, 0), (int)mn, mode,
	    cli_vis(agent, an, 0), age, exp, nwait, cli_vis(reason, rn, 0));
}

/* show for `baton locks`: a table of holders and waiters. */
static int
locks_show(struct cmd_call *cc)
{
	const msgpack_object *ls, *l, *hs, *ws;
	const char *prefix = cmd_str(cc, "prefix"), *name;
	size_t nn, nwait;
	uint32_t i, j;

	if (prefix == NULL)
		prefix = "";
	ls = mp_get(cc->r, "locks");
	if (ls == NULL || ls->type != MSGPACK_OBJECT_ARRAY || ls->via.array.size == 0) {
		printf("no locks held%s%s\n", *prefix ? " under " : "", prefix);
		return (0);
	}
	printf("%-28s %-9s %-20s %7s %7s %7s  %s\n", "NAME", "MODE", "HOLDER", "AGE", "EXPIRES",
	    "WAITERS", "REASON");
	for (i = 0; i < ls->via.array.size; i++) {
		l = &ls->via.array.ptr[i];
		if (mp_str(mp_get(l, "name"), &name, &nn) != 0)
			continue;
		hs = mp_get(l, "holders");
		ws = mp_get(l, "waiters");
		nwait = ws != NULL && ws->type == MSGPACK_OBJECT_ARRAY ? ws->via.array.size : 0;
		if (hs == NULL || hs->type != MSGPACK_OBJECT_ARRAY || hs->via.array.size == 0) {
			printf("%-28s %-9s %-20s %7s %7s %7zu\n", cli_vis(name, nn, 0), "free",
			    "-", "-", "-", nwait);
			continue;
		}
		for (j = 0; j < hs->via.array.size; j++)
			lock_row(name, nn, &hs->via.array.ptr[j], nwait);
	}
	if (cmd_result_bool(cc, "more") && mp_str(mp_get(cc->r, "cursor"), &name, &nn) == 0)
		cli_err("more locks: baton locks --after '%.*s'", (int)nn, name);
	return (0);
}
