/*
 * batond: the per-user broker.  Parses options, daemonizes with a
 * readiness pipe so that whoever started it knows when it listens, and
 * runs the event loop.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: batond [-fv] [-S socket] [-D state-dir] [--max-wait seconds] "
	    "[--allow-root]\n"
	    "       batond [-D state-dir] --export FILE|- [--from DBFILE]\n"
	    "       batond [-S socket] [-D state-dir] --import FILE [--replace]\n"
	    "       batond --version\n"
	    "  -f, --foreground   stay in the foreground and log to stderr\n"
	    "  -v, --verbose      log more (-vv: debug)\n"
	    "  -S, --socket PATH  listen here (default $BATON_SOCKET, "
	    "/run/user/UID/baton/sock\n"
	    "                     or /tmp/baton-UID/sock)\n"
	    "  -D, --state-dir D  state and log (default $BATON_STATE_DIR or "
	    "~/.local/state/baton)\n"
	    "  --max-wait S       cap on wait_seconds of blocking calls (default 50)\n"
	    "  --durability M     strict (default): acknowledge only what is committed;\n"
	    "                     relaxed: commit every 50 ms; none: keep no file\n"
	    "  --fsync            fsync every commit (survives power loss; slower)\n"
	    "  --grace S          seconds restored sessions have to reclaim (default 10)\n"
	    "  --message-retention N\n"
	    "                     messages kept per project (default 10000)\n"
	    "  --allow-root       also accept peers running as root\n"
	    "  --export FILE      write the state (state.db, or DBFILE with --from) as JSON\n"
	    "                     to FILE (- for stdout) and exit; no broker may hold it\n"
	    "  --import FILE      build state.db from such a file and exit; no broker may\n"
	    "                     run; --replace moves a state.db holding rows aside\n");
}

/* mkdir -p, the last component 0700 and checked. */
static int
mkdirs(const char *dir, char **cause)
{
	char path[PATH_MAX], *p;

	if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
		xasprintf(cause, "path too long: %s", dir);
		return (-1);
	}
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST) {
			xasprintf(cause, "cannot create %s: %s", path, strerror(errno));
			return (-1);
		}
		*p = '/';
	}
	return (path_check_dir(path, 1, cause));
}

/*
 * --export and --import: run in the foreground on the state directory
 * and exit with the status of dump.c (0, 1 a broker holds it, 65 bad or
 * lost data, 70 cannot write).
 */
static int
offline(const char *export_file, const char *import_file, const char *from, int replace)
{
	char sockbuf[PATH_MAX], statebuf[PATH_MAX], *cause = NULL, *db = NULL;
	int rc = 1;

	log_open("batond", NULL, cfg.verbose);
	if (cfg.state_dir == NULL && from == NULL) {
		if (path_state_dir(statebuf, sizeof statebuf, &cause) != 0)
			goto out;
		cfg.state_dir = statebuf;
	}
	if (export_file != NULL) {
		if (from == NULL)
			xasprintf(&db, "%s/state.db", cfg.state_dir);
		rc = dump_export(from != NULL ? from : db, export_file, &cause);
		goto out;
	}
	if (mkdirs(cfg.state_dir, &cause) != 0)
		goto out;
	/* a broker on the default socket must not run either; no socket path, no such broker */
	if (cfg.socket == NULL && path_socket(sockbuf, sizeof sockbuf, &cause) == 0)
		cfg.socket = sockbuf;
	free(cause);
	cause = NULL;
	durability = DURABILITY_STRICT; /* the new state.db is written and checked */
	rc = dump_import(cfg.state_dir, cfg.socket, import_file, replace, &cause);
out:
	if (cause != NULL)
		fprintf(stderr, "batond: %s\n", cause);
	free(cause);
	free(db);
	log_close();
	return (rc);
}

/*
 * Each module registers what it does when a session ends, is cancelled
 * or is stored.  The order is the order of session teardown: blocking
 * calls end, presence goes, locks are released (waiters granted), task
 * claims start their leases; a cancel frame is offered to blocking calls
 * and then to lock waits.
 */
static void
modules_init(void)
{
	wait_init();
	presence_init();
	lock_init();
	task_init();
	msg_init();
	queue_init();
}

static void
signal_cb(evutil_socket_t sig, short events, void *arg)
{
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopbreak(base);
}

/*
 * A session is a descriptor: take the hard limit on open files (often
 * 1024 soft), so that thousands of idle sessions fit (DESIGN 9).
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("cannot raise the open-file limit");
	else
		log_debug("open-file limit raised to %llu", (unsigned long long)rl.rlim_cur);
}

/*
 * Detach: fork, setsid, fork again.  The first parent waits on the pipe
 * for "ok" (exit 0) or an error line (printed, exit 1).  The daemon keeps
 * no descriptor of its starter but stdio (made /dev/null): one it kept
 * open (a pipe, a fifo) would never reach end-of-file for its reader.
 */
static int
daemonize(void)
{
	char buf[512];
	ssize_t n;
	size_t got = 0;
	int fds[2], status, nullfd;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0) {
		close(fds[1]);
		while (got < sizeof buf - 1 &&
		    ((n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0 ||
			(n == -1 && errno == EINTR)))
			if (n > 0)
				got += (size_t)n;
		buf[got] = '\0';
		waitpid(pid, &status, 0);
		if (strncmp(buf, "ok", 2) == 0)
			_exit(0);
		fprintf(stderr, "batond: %s\n", got > 0 ? buf : "broker failed to start");
		_exit(1);
	}
	close(fds[0]);
	if (setsid() == -1)
		fatal("setsid");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0)
		_exit(0);
	/* the readiness pipe becomes fd 3; everything above it goes */
	if (fds[1] != 3) {
		if (dup3(fds[1], 3, O_CLOEXEC) == -1)
			fatal("dup3");
		close(fds[1]);
	}
	closefrom(4);
	if ((nullfd = open("/dev/null", O_RDWR)) != -1) {
		dup2(nullfd, STDIN_FILENO);
		dup2(nullfd, STDOUT_FILENO);
		dup2(nullfd, STDERR_FILENO);
		if (nullfd > STDERR_FILENO)
			close(nullfd);
	}
	if (chdir("/") == -1)
		fatal("chdir");
	return (3);
}

/* Report readiness (or why not) to whoever waits on the pipe. */
static void
ready(int fd, const char *cause)
{
	const char *msg = cause != NULL ? cause : "ok";

	if (fd == -1) {
		if (cause != NULL)
			fprintf(stderr, "batond: %s\n", cause);
		return;
	}
	if (write(fd, msg, strlen(msg)) == -1)
		log_warn("readiness pipe");
	close(fd);
}

/* What the command line asks for besides cfg. */
struct main_opts {
	const char *export_file, *import_file, *from;
	int full_sync, replace;
};

/* Seconds from 0 to 3600 for option name; -1 (said why) when it is not. */
static int
main_seconds(const char *name, const char *arg, double *out)
{
	char *end;

	*out = strtod(arg, &end);
	if (*end != '\0' || !(*out >= 0 && *out <= 3600)) {
		fprintf(stderr, "batond: --%s takes 0 to 3600 seconds\n", name);
		return (-1);
	}
	return (0);
}

/* One option with an argument of its own kind; -1 (said why) when it is bad. */
static int
main_option(int ch, const char *arg)
{
	char *end;

	switch (ch) {
	case 'U':
		if (strcmp(arg, "strict") == 0)
			durability = DURABILITY_STRICT;
		else if (strcmp(arg, "relaxed") == 0)
			durability = DURABILITY_RELAXED;
		else if (strcmp(arg, "none") == 0)
			durability = DURABILITY_NONE;
		else {
			fprintf(stderr, "batond: --durability takes strict, relaxed or none\n");
			return (-1);
		}
		return (0);
	case 'G': return (main_seconds("grace", arg, &cfg.grace));
	case 'W': return (main_seconds("max-wait", arg, &cfg.max_wait));
	case 'M':
		msg_retention = (size_t)strtoul(arg, &end, 10);
		if (*end != '\0' || *arg < '0' || *arg > '9' || msg_retention < 1 ||
		    msg_retention > 1000000) {
			fprintf(stderr,
			    "batond: --message-retention takes 1 to 1000000 "
			    "messages\n");
			return (-1);
		}
		return (0);
	}
	return (-1);
}

/* Parse the command line into cfg and o; -1 to go on, else the exit status. */
static int
main_options(int argc, char **argv, struct main_opts *o)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "socket", required_argument, NULL, 'S' },
		{ "state-dir", required_argument, NULL, 'D' },
		{ "max-wait", required_argument, NULL, 'W' },
		{ "allow-root", no_argument, NULL, 'R' },
		{ "durability", required_argument, NULL, 'U' },
		{ "fsync", no_argument, NULL, 'F' },
		{ "grace", required_argument, NULL, 'G' },
		{ "message-retention", required_argument, NULL, 'M' },
		{ "export", required_argument, NULL, 'E' },
		{ "import", required_argument, NULL, 'I' },
		{ "from", required_argument, NULL, 'O' },
		{ "replace", no_argument, NULL, 'P' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "fvS:D:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f': cfg.foreground = 1; break;
		case 'v': cfg.verbose++; break;
		case 'S': cfg.socket = optarg; break;
		case 'D': cfg.state_dir = optarg; break;
		case 'R': cfg.allow_root = 1; break;
		case 'F': o->full_sync = 1; break;
		case 'E': o->export_file = optarg; break;
		case 'I': o->import_file = optarg; break;
		case 'O': o->from = optarg; break;
		case 'P': o->replace = 1; break;
		case 'U':
		case 'G':
		case 'W':
		case 'M':
			if (main_option(ch, optarg) != 0)
				return (64);
			break;
		case 'V':
			printf("batond %s (protocol %d)\n", BATON_VERSION, PROTO_VERSION);
			return (0);
		case 'h': usage(stdout); return (0);
		default: usage(stderr); return (64);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "batond: unexpected argument '%s'; try 'batond --help'\n",
		    argv[optind]);
		return (64);
	}
	if ((o->export_file != NULL && o->import_file != NULL) ||
	    (o->from != NULL && o->export_file == NULL) ||
	    (o->replace && o->import_file == NULL)) {
		fprintf(stderr,
		    "batond: --export [--from] and --import [--replace] go alone; "
		    "try 'batond --help'\n");
		return (64);
	}
	return (-1);
}

/* The default socket and state directory where none was given; made. */
static int
main_paths(char **cause)
{
	static char sockbuf[PATH_MAX], statebuf[PATH_MAX];

	if (cfg.socket == NULL) {
		if (path_socket(sockbuf, sizeof sockbuf, cause) != 0)
			return (-1);
		cfg.socket = sockbuf;
	}
	if (cfg.state_dir == NULL) {
		if (path_state_dir(statebuf, sizeof statebuf, cause) != 0)
			return (-1);
		cfg.state_dir = statebuf;
	}
	return (mkdirs(cfg.state_dir, cause));
}

/* Listen, restore the state and start accepting; -1 with cause. */
static int
main_start(int full_sync, char **cause)
{
	if (server_listen(cfg.socket, cause) != 0)
		return (-1);
	ground_start();
	modules_init();
	if (store_open(cfg.state_dir, full_sync, cause) != 0)
		goto fail;
	store_start();
	if (store_restore(cause) != 0)
		goto fail;
	dump_clean_snapshots(cfg.state_dir);
	session_seed(revision);
	server_start();
	return (0);
fail:
	server_shutdown();
	return (-1);
}

/* Serve until SIGTERM or SIGINT, then commit what is pending and stop. */
static void
main_loop(void)
{
	struct event *sigterm, *sigint;

	sigterm = evsignal_new(base, SIGTERM, signal_cb, NULL);
	sigint = evsignal_new(base, SIGINT, signal_cb, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	event_base_dispatch(base);
	/* commit (and answer) what is pending; the stop itself changes nothing */
	store_close();
	server_shutdown();
	lock_shutdown();
	queue_shutdown();
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
}

/* Run the broker (daemonized unless -f); the exit status. */
static int
main_serve(int full_sync)
{
	char *logfile = NULL, *cause = NULL;
	int readyfd = -1;

	log_open("batond", NULL, cfg.verbose);
	if (main_paths(&cause) != 0)
		goto fail;
	if (!cfg.foreground) {
		readyfd = daemonize();
		xasprintf(&logfile, "%s/batond.log", cfg.state_dir);
		log_open("batond", logfile, cfg.verbose);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a file-size limit is a write error, like a full disk */
	raise_fd_limit();
	if (main_start(full_sync, &cause) != 0)
		goto fail;
	log_info("listening on %s (version %s, pid %ld)", cfg.socket, BATON_VERSION,
	    (long)getpid());
	ready(readyfd, NULL);
	main_loop();
	log_info("stopped");
	log_close();
	free(logfile);
	return (0);
fail:
	if (readyfd != -1)
		log_warnx("%s", cause);
	ready(readyfd, cause);
	free(cause);
	return (1);
}

int
main(int argc, char **argv)
{
	struct main_opts o;
	int rc;

	memset(&o, 0, sizeof o);
	if ((rc = main_options(argc, argv, &o)) != -1)
		return (rc);
	if (o.export_file != NULL || o.import_file != NULL)
		return (offline(o.export_file, o.import_file, o.from, o.replace));
	return (main_serve(o.full_sync));
}
