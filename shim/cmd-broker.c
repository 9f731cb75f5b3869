/*
 * The broker process itself: `baton stop` and `baton restart`, and what
 * `baton status` says of the program the broker runs (deleted or
 * replaced since it started, another version than this baton).
 *
 * A stop is batond's own clean stop (SIGTERM): it commits what is
 * pending and releases nothing, so session-bound locks and task claims
 * come back in the next broker's grace period for their owners to
 * reclaim, exactly as after a crash.  The broker's pid comes from its
 * status answer and is pinned with a pidfd before the signal, so the
 * signal cannot reach a process that took over a recycled pid.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/syscall.h>
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

#define BROKER_STOP_MS 30000  /* a stopping broker commits what is pending, then exits */
#define BROKER_START_MS 10000 /* a starting batond reports readiness by exiting */
#define BROKER_ARGS_MAX 64
#define BROKER_CMDLINE_MAX 8192

static int broker_exec(const struct cmd_entry *, const struct client_opts *, int, char **);

const struct cmd_entry cmd_stop_entry = {
	.name = "stop",
	.usage = "stop",
	.desc = "stop the broker cleanly: it releases nothing, and session-bound locks and "
		"claims wait for their owners in the next broker's grace period, as after a "
		"crash",
	.exec = broker_exec,
};
const struct cmd_entry cmd_restart_entry = {
	.name = "restart",
	.usage = "restart",
	.desc = "stop the broker as stop does and start the batond next to this baton with "
		"the same options (after an upgrade); locks and claims are reclaimed by "
		"their sessions",
	.exec = broker_exec,
};

/* The running broker, as its status answer and /proc tell. */
struct broker {
	pid_t pid;
	int pidfd;                       /* -1 when pidfd_open is missing (old kernels) */
	char *version;                   /* owned */
	char *args[BROKER_ARGS_MAX + 1]; /* its options (argv[1]...), owned, NULL-terminated */
	char *cmdline;                   /* what args point into, owned */
	int have_args;                   /* its command line was read */
	int foreground;                  /* -f: a supervisor (systemd) or a terminal runs it */
};

/* Free what b holds. */
static void
broker_free(struct broker *b)
{
	if (b->pidfd != -1)
		close(b->pidfd);
	free(b->version);
	free(b->cmdline);
	memset(b, 0, sizeof *b);
	b->pidfd = -1;
}

/* status on c: the broker's pid and version; 0, or -1 with err set. */
static int
broker_status(struct conn *c, pid_t *pid, char **version, struct op_error *err)
{
	msgpack_unpacked u;
	const msgpack_object *r;
	int64_t p;
	int rc = -1;

	msgpack_unpacked_init(&u);
	if (conn_call(c, "status", NULL, 0, &u, &r, err) == 0) {
		if (mp_int(mp_get(r, "pid"), &p) != 0 || p <= 1)
			op_error_set(err, ERR_PROTOCOL, NULL, "the broker's status has no pid");
		else {
			*pid = (pid_t)p;
			if (version != NULL)
				*version = mp_strdup(mp_get(r, "version"));
			rc = 0;
		}
	}
	msgpack_unpacked_destroy(&u);
	return (rc);
}

/*
 * Does one of batond's options (as getopt_long takes them) say -f?  A
 * bundle of short options counts until one that takes a value (S, D).
 */
static int
broker_arg_foreground(const char *a)
{
	if (a[0] != '-' || a[1] == '\0')
		return (0);
	if (a[1] == '-')
		return (strlen(a) > 3 && strncmp("--foreground", a, strlen(a)) == 0);
	for (a++; *a != '\0' && *a != 'S' && *a != 'D'; a++) {
		if (*a == 'f')
			return (1);
	}
	return (0);
}

/* b's options from /proc/PID/cmdline (none when it cannot be read). */
static void
broker_args(struct broker *b)
{
	char path[64], *p, *end;
	ssize_t n;
	size_t k = 0;
	int fd, value = 0;

	snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)b->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	b->cmdline = xmalloc(BROKER_CMDLINE_MAX + 1);
	n = read(fd, b->cmdline, BROKER_CMDLINE_MAX);
	close(fd);
	if (n <= 0 || n == BROKER_CMDLINE_MAX) /* unreadable, or longer than we take */
		return;
	b->cmdline[n] = '\0';
	end = b->cmdline + n;
	for (p = b->cmdline + strlen(b->cmdline) + 1; p < end && k < BROKER_ARGS_MAX;
	     p += strlen(p) + 1) {
		/* the value of -S, -D (a path could look like an option) is not one */
		if (!value && broker_arg_foreground(p))
			b->foreground = 1;
		value = !value &&
		    (strcmp(p, "-S") == 0 || strcmp(p, "-D") == 0 ||
			strcmp(p, "--socket") == 0 || strcmp(p, "--state-dir") == 0);
		b->args[k++] = p;
	}
	b->args[k] = NULL;
	b->have_args = 1;
}

/*
 * Find the broker on o's socket and pin its process: 0, 1 when none
 * answers (err says why), or an exit status.
 */
static int
broker_find(const struct client_opts *o, struct broker *b, struct op_error *err)
{
	struct client_opts mine = *o;
	struct conn c;
	pid_t again;
	int status = 0;

	memset(b, 0, sizeof *b);
	b->pidfd = -1;
	mine.autostart = 0; /* never start a broker to stop it */
	if (conn_open(&c, &mine, err) != 0)
		return (
		    strcmp(err->code, ERR_UNAVAILABLE) == 0 ? 1 : exit_status_for(err->code));
	if (broker_status(&c, &b->pid, &b->version, err) != 0)
		status = exit_status_for(err->code);
	else {
		b->pidfd = (int)syscall(SYS_pidfd_open, b->pid, 0);
		/* still answering after the pidfd was opened: the pidfd is the broker */
		if (broker_status(&c, &again, NULL, err) != 0)
			status = exit_status_for(err->code);
		else if (again != b->pid) {
			op_error_set(err, ERR_PROTOCOL, NULL, "the broker's pid changed");
			status = EXIT_SOFTWARE;
		} else
			broker_args(b);
	}
	conn_close(&c);
	return (status);
}

/*
 * Has process pid (pinned by pidfd when not -1) ended?  Waits at most
 * ms.  With status, pid is our child, reaped into *status.
 */
static int
broker_gone(pid_t pid, int pidfd, int ms, int *status)
{
	struct pollfd pfd = { pidfd, POLLIN, 0 };
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	uint64_t end = mono_ms() + (uint64_t)ms, now;

	for (;;) {
		if (status != NULL ? waitpid(pid, status, WNOHANG) == pid
				   : kill(pid, 0) == -1 && errno == ESRCH)
			return (1);
		if (status == NULL && pidfd != -1 && poll(&pfd, 1, 0) == 1)
			return (1); /* ended; a zombie until its parent reaps it */
		if ((now = mono_ms()) >= end)
			return (0);
		/* without a pidfd (kernels before 5.3) look every 50 ms: nothing notifies us */
		if (pidfd != -1)
			poll(&pfd, 1, (int)(end - now));
		else
			nanosleep(&ts, NULL);
	}
}

/* SIGTERM to the broker b, and wait until it has exited; 0 or an exit status. */
static int
broker_stop(const char *sock, struct broker *b)
{
	int r;

	if (b->pidfd != -1)
		r = (int)syscall(SYS_pidfd_send_signal, b->pidfd, SIGTERM, NULL, 0);
	else
		r = kill(b->pid, SIGTERM);
	if (r == -1 && errno != ESRCH) {
		cli_syserr("cannot stop batond (pid %ld) on %s", (long)b->pid, sock);
		return (errno == EPERM ? EXIT_NOPERM : EXIT_SOFTWARE);
	}
	if (!broker_gone(b->pid, b->pidfd, BROKER_STOP_MS, NULL)) {
		cli_err("batond (pid %ld) on %s did not stop within %d s; see batond.log in "
			"its "
			"state directory",
		    (long)b->pid, sock, BROKER_STOP_MS / 1000);
		return (EXIT_SOFTWARE);
	}
	return (0);
}

/*
 * Start the batond next to this baton with b's options, as the broker
 * that was stopped had them; 0 or an exit status.  batond reports
 * readiness by exiting 0 once it listens (its own error on stderr).
 */
static int
broker_spawn(const struct broker *b)
{
	char *argv[BROKER_ARGS_MAX + 2], *path;
	int status = 0, pidfd, null, ready;
	size_t i;
	pid_t pid;

	if ((path = client_find_broker()) == NULL) {
		cli_err("batond is not next to baton, in $BATON_BROKER or on PATH; install it");
		return (EXIT_UNAVAILABLE);
	}
	argv[0] = (char *)"batond";
	for (i = 0; b->args[i] != NULL; i++)
		argv[i + 1] = b->args[i];
	argv[i + 1] = NULL;
	fflush(NULL);
	if ((pid = fork()) == -1) {
		cli_syserr("cannot fork");
		free(path);
		return (EXIT_SOFTWARE);
	}
	if (pid == 0) {
		if ((null = open("/dev/null", O_RDWR)) != -1) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		execv(path, argv);
		fprintf(stderr, "baton: cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	ready = broker_gone(pid, pidfd, BROKER_START_MS, &status);
	if (pidfd != -1)
		close(pidfd);
	if (!ready) {
		kill(pid, SIGTERM); /* batond stops cleanly on it */
		waitpid(pid, NULL, 0);
		cli_err("%s did not start within %d s", path, BROKER_START_MS / 1000);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		cli_err("%s did not start; run it with -f and the same options to see why",
		    path);
	if (!ready || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(path);
		return (EXIT_UNAVAILABLE);
	}
	free(path);
	return (0);
}

/* The broker that answers now: one line saying which, with what came before. */
static int
broker_started(const struct client_opts *o, const struct broker *old)
{
	struct client_opts mine = *o;
	struct op_error err;
	struct conn c;
	char *version = NULL;
	pid_t pid;
	int status = 0;

	memset(&err, 0, sizeof err);
	mine.autostart = 1; /* restart starts it, whatever --no-autostart says */
	if (conn_open(&c, &mine, &err) != 0)
		return (cli_fail(NULL, &err));
	if (broker_status(&c, &pid, &version, &err) != 0)
		status = cli_fail("status", &err);
	else if (old->pid > 0)
		printf("restarted: batond %s (pid %ld) replaces batond %s (pid %ld)\n",
		    version != NULL ? version : "?", (long)pid,
		    old->version != NULL ? old->version : "?", (long)old->pid);
	else
		printf("started: batond %s (pid %ld)\n", version != NULL ? version : "?",
		    (long)pid);
	free(version);
	conn_close(&c);
	return (cli_flush(status));
}

/* `baton stop` and `baton restart`. */
static int
broker_exec(const struct cmd_entry *ce, const struct client_opts *o, int argc, char **argv)
{
	struct broker b;
	struct op_error err;
	char sock[PATH_MAX];
	int status, restart = ce == &cmd_restart_entry;

	if (argc > 1)
		return (cli_usage_err("%s takes no arguments", argv[0]));
	if (cli_socket(o, sock, sizeof sock) != 0)
		return (EXIT_UNAVAILABLE);
	memset(&err, 0, sizeof err);
	status = broker_find(o, &b, &err);
	if (status == 1 && !restart) {
		printf("no broker running on %s\n", sock);
		broker_free(&b);
		return (cli_flush(0));
	}
	if (status > 1) {
		broker_free(&b);
		return (cli_fail(NULL, &err));
	}
	if (status == 0 && (status = broker_stop(sock, &b)) != 0) {
		broker_free(&b);
		return (status);
	}
	if (!restart) {
		printf("stopped batond (pid %ld) on %s\n", (long)b.pid, sock);
		broker_free(&b);
		return (cli_flush(0));
	}
	/*
	 * Started again with its options; but a broker in the foreground is its
	 * supervisor's (systemd's socket starts it again), and one whose
	 * options are unknown starts as auto-start does it.
	 */
	if (b.pid > 0 && b.have_args && !b.foreground && (status = broker_spawn(&b)) != 0) {
		broker_free(&b);
		return (status);
	}
	status = broker_started(o, &b);
	broker_free(&b);
	return (status);
}

/*
 * The lines `baton status` adds about the broker process pid: its
 * program deleted or replaced since it started (an upgrade it has not
 * picked up), or another version than this baton.
 */
void
broker_status_warnings(pid_t pid, const char *version)
{
	char link[64], exe[PATH_MAX];
	struct stat now, running;
	const char *what = NULL;
	ssize_t n;
	size_t len;

	if (version != NULL && strcmp(version, BATON_VERSION) != 0)
		printf("warning   the broker is version %s, this baton %s (baton restart)\n",
		    version, BATON_VERSION);
	snprintf(link, sizeof link, "/proc/%ld/exe", (long)pid);
	if ((n = readlink(link, exe, sizeof exe - 1)) <= 0)
		return; /* another pid namespace, or not ours to see */
	exe[n] = '\0';
	len = (size_t)n;
	if (len > 10 && strcmp(exe + len - 10, " (deleted)") == 0) {
		exe[len - 10] = '\0';
		what = stat(exe, &now) == 0 ? "replaced" : "deleted";
	} else if (stat(exe, &now) == 0 && stat(link, &running) == 0 &&
	    (now.st_dev != running.st_dev || now.st_ino != running.st_ino))
		what = "replaced";
	if (what != NULL)
		printf("warning   the broker runs %s, %s since it started (baton restart)\n",
		    exe, what);
}
