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

/* Bounds of the byte options: a peer's output must hold a frame or two. */
#define MAIN_OUTPUT_MIN (2 * (size_t)FRAME_MAX_DEFAULT)
#define MAIN_BUDGET_MIN (2 * (size_t)FRAME_MAX_DEFAULT)
#define MAIN_BYTES_MAX ((size_t)64 << 30)

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: batond [-fv] [-S socket] [-D state-dir] [--max-wait seconds] "
	    "[--allow-root]\n"
	    "              [--group NAME [--admin USER,...]]\n"
	    "       batond [-D state-dir] --export FILE|- [--from DBFILE]\n"
	    "       batond [-S socket] [-D state-dir] --import FILE [--replace]\n"
	    "       batond --backend etcd --etcd URL[,URL...] --share PROJECT[=NAME]... "
	    "[--etcd-ttl S]\n"
	    "              [--etcd-timeout S] [--etcd-prefix P] [--etcd-cacert FILE]\n"
	    "              [--etcd-cert FILE --etcd-key FILE]\n"
	    "              [--etcd-user NAME --etcd-password-file FILE] [other options]\n"
	    "       batond --version\n"
	    "  -f, --foreground   stay in the foreground and log to stderr\n"
	    "  -v, --verbose      log more (-vv: debug)\n"
	    "  -S, --socket PATH  listen here (default $BATON_SOCKET, "
	    "/run/user/UID/baton/sock,\n"
	    "                     ~/.local/state/baton/run/sock or /tmp/baton-UID/sock)\n"
	    "  -D, --state-dir D  state and log (default $BATON_STATE_DIR or "
	    "~/.local/state/baton)\n"
	    "  --max-wait S       cap on wait_seconds of blocking calls (default 50)\n"
	    "  --max-wait-progress S\n"
	    "                     the cap for MCP calls that send progress (default 600)\n"
	    "  --ticket-grace S   seconds a timed-out lock waiter keeps its place (default "
	    "60)\n"
	    "  --durability M     strict (default): acknowledge only what is committed;\n"
	    "                     relaxed: commit every 50 ms; none: keep no file\n"
	    "  --fsync            fsync every commit (survives power loss; slower)\n"
	    "  --grace S          seconds restored sessions have to reclaim (default 10)\n"
	    "  --message-retention N\n"
	    "                     messages kept per project (default 10000)\n"
	    "  --log-max N        audit log entries kept (default 50000; 0: no log)\n"
	    "  --log-age S        seconds an audit log entry is kept (default 604800)\n"
	    "  --output-limit B   output queued for one peer before it is dropped\n"
	    "                     (default 8M; K, M, G: KiB, MiB, GiB)\n"
	    "  --frame-budget B   buffers for incomplete frames, all peers (default 64M)\n"
	    "  --frame-timeout S  seconds a frame may take to arrive whole (default 30)\n"
	    "  --allow-root       also accept peers running as root\n"
	    "  --backend etcd     keep the state of shared projects in etcd (default local)\n"
	    "  --etcd URL,...     etcd's client URLs (http:// or https://HOST:PORT), for\n"
	    "                     --backend etcd\n"
	    "  --share P[=NAME]   project P is shared, as NAME in etcd (repeat for more)\n"
	    "  --etcd-ttl S       lease of each session: its locks and claims go S seconds\n"
	    "                     after its host stops renewing it (default 10)\n"
	    "  --etcd-timeout S   bound on one call to etcd, retries included (default 5)\n"
	    "  --etcd-prefix P    where baton's keys live in etcd (default /baton/)\n"
	    "  --etcd-cacert F    CA certificates to verify https:// members with\n"
	    "                     (default the system's)\n"
	    "  --etcd-cert F, --etcd-key F\n"
	    "                     client certificate and key (mode 0600) for etcd's TLS\n"
	    "  --etcd-user NAME   authenticate to etcd as NAME, with the password on the\n"
	    "                     first line of --etcd-password-file F (mode 0600)\n"
	    "  --group NAME       a team broker: serve the members of Unix group NAME\n"
	    "                     (socket /run/baton-group/NAME/sock or\n"
	    "                     /tmp/baton-group-NAME/sock; state /var/lib/baton-group/NAME\n"
	    "                     or /var/tmp/baton-group-NAME)\n"
	    "  --admin USER,...   besides its owner and root, users who may break locks\n"
	    "                     and export the state of the team broker\n"
	    "  --accept-state     start on a state.db that is missing or behind what\n"
	    "                     state.revision recorded (revisions go on above it)\n"
	    "  --export FILE      write the state (state.db, or DBFILE with --from) as JSON\n"
	    "                     to FILE (- for stdout) and exit; no broker may hold it\n"
	    "  --import FILE      build state.db from such a file and exit; no broker may\n"
	    "                     run; --replace moves a state.db holding rows aside\n");
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
		if (path_broker_state_dir(statebuf, sizeof statebuf, &cause) != 0)
			goto out;
		cfg.state_dir = statebuf;
	}
	if (export_file != NULL) {
		if (from == NULL)
			xasprintf(&db, "%s/state.db", cfg.state_dir);
		rc = dump_export(from != NULL ? from : db, export_file, &cause);
		goto out;
	}
	if (path_broker_mkstate(cfg.state_dir, &cause) != 0)
		goto out;
	/* a broker on the default socket must not run either; no socket path, no such broker */
	if (cfg.socket == NULL && path_broker_socket(sockbuf, sizeof sockbuf, &cause) == 0)
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
	feed_init();
	wait_init();
	presence_init();
	lock_init();
	task_init();
	msg_init();
	dump_init();
	shared_init();
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
	char buf[4096];
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
	const char *group, *admins; /* --group, --admin: a team broker (team.c) */
	int full_sync, replace, accept;
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

/*
 * Bytes from min to max for option name, with an optional K, M or G
 * (KiB, MiB, GiB); -1 (said why) when they are not.
 */
static int
main_bytes(const char *name, const char *arg, size_t min, size_t max, size_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (*end == 'K' || *end == 'M' || *end == 'G') {
		shift = *end == 'K' ? 10 : *end == 'M' ? 20 : 30;
		end += strcmp(end + 1, "iB") == 0 ? 3 : 1;
	}
	if (errno != 0 || *end != '\0' || *arg < '0' || *arg > '9' || v > (max >> shift) ||
	    (v << shift) < min) {
		fprintf(stderr,
		    "batond: --%s takes %zuM to %zuG bytes (a number, then K, M or G for "
		    "KiB, MiB or GiB)\n",
		    name, min >> 20, max >> 30);
		return (-1);
	}
	*out = (size_t)(v << shift);
	return (0);
}

/* batond's long options have no letters: codes past every character */
enum {
	OPT_MAX_WAIT = 256,
	OPT_MAX_WAIT_PROGRESS,
	OPT_TICKET_GRACE,
	OPT_ALLOW_ROOT,
	OPT_ACCEPT_STATE,
	OPT_DURABILITY,
	OPT_FSYNC,
	OPT_GRACE,
	OPT_MESSAGE_RETENTION,
	OPT_LOG_MAX,
	OPT_LOG_AGE,
	OPT_OUTPUT_LIMIT,
	OPT_FRAME_BUDGET,
	OPT_FRAME_TIMEOUT,
	OPT_EXPORT,
	OPT_IMPORT,
	OPT_FROM,
	OPT_REPLACE,
	OPT_VERSION,
	OPT_SHARED, /* the options of shared.c: --backend, --etcd, --share... */
	OPT_GROUP,
	OPT_ADMIN,
};

/* One option with an argument of its own kind; -1 (said why) when it is bad. */
static int
main_option(int ch, const char *arg)
{
	char *end;

	switch (ch) {
	case OPT_DURABILITY:
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
	case OPT_GRACE: return (main_seconds("grace", arg, &cfg.grace));
	case OPT_MAX_WAIT: return (main_seconds("max-wait", arg, &cfg.max_wait));
	case OPT_MAX_WAIT_PROGRESS:
		return (main_seconds("max-wait-progress", arg, &cfg.max_wait_progress));
	case OPT_TICKET_GRACE: return (main_seconds("ticket-grace", arg, &cfg.ticket_grace));
	case OPT_OUTPUT_LIMIT:
		return (main_bytes("output-limit", arg, MAIN_OUTPUT_MIN, MAIN_BYTES_MAX,
		    &cfg.output_limit));
	case OPT_FRAME_BUDGET:
		return (main_bytes("frame-budget", arg, MAIN_BUDGET_MIN, MAIN_BYTES_MAX,
		    &cfg.frame_budget));
	case OPT_FRAME_TIMEOUT:
		if (main_seconds("frame-timeout", arg, &cfg.frame_timeout) != 0)
			return (-1);
		if (cfg.frame_timeout < 1) {
			fprintf(stderr, "batond: --frame-timeout takes 1 to 3600 seconds\n");
			return (-1);
		}
		return (0);
	case OPT_MESSAGE_RETENTION:
		msg_retention = (size_t)strtoul(arg, &end, 10);
		if (*end != '\0' || *arg < '0' || *arg > '9' || msg_retention < 1 ||
		    msg_retention > 1000000) {
			fprintf(stderr,
			    "batond: --message-retention takes 1 to 1000000 "
			    "messages\n");
			return (-1);
		}
		return (0);
	case OPT_LOG_MAX:
		feed_max = (size_t)strtoul(arg, &end, 10);
		if (*end != '\0' || *arg < '0' || *arg > '9' || feed_max > 10000000) {
			fprintf(stderr, "batond: --log-max takes 0 to 10000000 entries\n");
			return (-1);
		}
		return (0);
	case OPT_LOG_AGE:
		feed_age = strtod(arg, &end);
		if (*end != '\0' || !(feed_age >= 1 && feed_age <= 3650 * 86400.0)) {
			fprintf(stderr, "batond: --log-age takes 1 to 315360000 seconds\n");
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
		{ "max-wait", required_argument, NULL, OPT_MAX_WAIT },
		{ "max-wait-progress", required_argument, NULL, OPT_MAX_WAIT_PROGRESS },
		{ "ticket-grace", required_argument, NULL, OPT_TICKET_GRACE },
		{ "allow-root", no_argument, NULL, OPT_ALLOW_ROOT },
		{ "accept-state", no_argument, NULL, OPT_ACCEPT_STATE },
		{ "durability", required_argument, NULL, OPT_DURABILITY },
		{ "fsync", no_argument, NULL, OPT_FSYNC },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ "message-retention", required_argument, NULL, OPT_MESSAGE_RETENTION },
		{ "log-max", required_argument, NULL, OPT_LOG_MAX },
		{ "log-age", required_argument, NULL, OPT_LOG_AGE },
		{ "output-limit", required_argument, NULL, OPT_OUTPUT_LIMIT },
		{ "frame-budget", required_argument, NULL, OPT_FRAME_BUDGET },
		{ "frame-timeout", required_argument, NULL, OPT_FRAME_TIMEOUT },
		{ "export", required_argument, NULL, OPT_EXPORT },
		{ "import", required_argument, NULL, OPT_IMPORT },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "replace", no_argument, NULL, OPT_REPLACE },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "backend", required_argument, NULL, OPT_SHARED },
		{ "etcd", required_argument, NULL, OPT_SHARED },
		{ "share", required_argument, NULL, OPT_SHARED },
		{ "etcd-ttl", required_argument, NULL, OPT_SHARED },
		{ "etcd-timeout", required_argument, NULL, OPT_SHARED },
		{ "etcd-prefix", required_argument, NULL, OPT_SHARED },
		{ "etcd-cacert", required_argument, NULL, OPT_SHARED },
		{ "etcd-cert", required_argument, NULL, OPT_SHARED },
		{ "etcd-key", required_argument, NULL, OPT_SHARED },
		{ "etcd-user", required_argument, NULL, OPT_SHARED },
		{ "etcd-password-file", required_argument, NULL, OPT_SHARED },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "admin", required_argument, NULL, OPT_ADMIN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, li;

	while ((ch = getopt_long(argc, argv, "fvS:D:h", longopts, &li)) != -1) {
		switch (ch) {
		case 'f': cfg.foreground = 1; break;
		case 'v': cfg.verbose++; break;
		case 'S': cfg.socket = optarg; break;
		case 'D': cfg.state_dir = optarg; break;
		case OPT_ALLOW_ROOT: cfg.allow_root = 1; break;
		case OPT_FSYNC: o->full_sync = 1; break;
		case OPT_ACCEPT_STATE: o->accept = 1; break;
		case OPT_EXPORT: o->export_file = optarg; break;
		case OPT_IMPORT: o->import_file = optarg; break;
		case OPT_FROM: o->from = optarg; break;
		case OPT_REPLACE: o->replace = 1; break;
		case OPT_GROUP: o->group = optarg; break;
		case OPT_ADMIN:
			if (o->admins != NULL) {
				fprintf(stderr,
				    "batond: give --admin once, with a "
				    "comma-separated list of users\n");
				return (64);
			}
			o->admins = optarg;
			break;
		case OPT_DURABILITY:
		case OPT_GRACE:
		case OPT_MAX_WAIT:
		case OPT_MAX_WAIT_PROGRESS:
		case OPT_TICKET_GRACE:
		case OPT_MESSAGE_RETENTION:
		case OPT_LOG_MAX:
		case OPT_LOG_AGE:
		case OPT_OUTPUT_LIMIT:
		case OPT_FRAME_BUDGET:
		case OPT_FRAME_TIMEOUT:
			if (main_option(ch, optarg) != 0)
				return (64);
			break;
		case OPT_SHARED:
			if (shared_option(longopts[li].name, optarg) != 0)
				return (64);
			break;
		case OPT_VERSION:
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
	if (shared_check() != 0)
		return (64);
	return (-1);
}

/*
 * The default socket and state directory where none was given (a team
 * broker's: its group's); the state directory made.
 */
static int
main_paths(char **cause)
{
	static char sockbuf[PATH_MAX], statebuf[PATH_MAX];

	if (cfg.socket == NULL) {
		if (path_broker_socket(sockbuf, sizeof sockbuf, cause) != 0)
			return (-1);
		cfg.socket = sockbuf;
	}
	if (cfg.state_dir == NULL) {
		if (path_broker_state_dir(statebuf, sizeof statebuf, cause) != 0)
			return (-1);
		cfg.state_dir = statebuf;
	}
	return (path_broker_mkstate(cfg.state_dir, cause));
}

/* --group and --admin (team.c); -1 to go on, else the exit status. */
static int
main_team(const struct main_opts *o)
{
	char *cause = NULL;

	if (team_init(o->group, o->admins, &cause) == 0)
		return (-1);
	fprintf(stderr, "batond: %s\n", cause);
	free(cause);
	return (64);
}

/* Listen, restore the state and start accepting; -1 with cause. */
static int
main_start(const struct main_opts *o, char **cause)
{
	if (server_listen(cfg.socket, cause) != 0)
		return (-1);
	ground_start();
	modules_init();
	if (store_open(cfg.state_dir, o->full_sync, o->accept, cause) != 0)
		goto fail;
	store_start();
	if (store_restore(cause) != 0 || feed_restore(cause) != 0)
		goto fail;
	dump_clean_snapshots(cfg.state_dir);
	session_seed(revision);
	server_start();
	return (0);
fail:
	/* let go of the database now: the next batond must not find it locked */
	store_forget();
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
	dump_shutdown();
	lock_shutdown();
	shared_shutdown();
	queue_shutdown();
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
}

/* Run the broker (daemonized unless -f); the exit status. */
static int
main_serve(const struct main_opts *o)
{
	char *logfile = NULL, *cause = NULL;
	int readyfd = -1, ex;

	log_open("batond", NULL, cfg.verbose);
	if (main_paths(&cause) != 0)
		goto fail;
	if ((ex = shared_preflight(&cause)) != 0) {
		/* before the fork: its status is batond's */
		fprintf(stderr, "batond: %s\n", cause);
		free(cause);
		return (ex);
	}
	if (!cfg.foreground) {
		readyfd = daemonize();
		xasprintf(&logfile, "%s/batond.log", cfg.state_dir);
		log_open("batond", logfile, cfg.verbose);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a file-size limit is a write error, like a full disk */
	raise_fd_limit();
	if (main_start(o, &cause) != 0)
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
	if ((rc = main_team(&o)) != -1)
		return (rc);
	if (o.export_file != NULL || o.import_file != NULL)
		return (offline(o.export_file, o.import_file, o.from, o.replace));
	return (main_serve(&o));
}
