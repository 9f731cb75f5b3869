/*
 * baton export and baton import (DESIGN §8): the whole state as JSON,
 * for backups and for recovering from a damaged state.db.  The work is
 * batond's (--export, --import, --from); baton finds batond the way
 * autostart does and runs it with an argument vector, never a shell.
 *
 * export asks a running broker for a consistent snapshot (state_export)
 * and converts that; with no broker it reads the state directory itself.
 * import refuses while a broker runs: the broker would go on with the
 * state it holds in memory and write it over the imported one.
 */
#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

static int admin_export(const struct cmd_entry *, const struct client_opts *, int, char **);
static int admin_import(const struct cmd_entry *, const struct client_opts *, int, char **);

const struct cmd_entry cmd_export_entry = {
	.name = "export",
	.usage = "export [-o FILE] [-D STATE-DIR]",
	.desc = "the whole state as JSON (stdout by default): from the running broker, else "
		"read from the state directory",
	.exec = admin_export,
};
const struct cmd_entry cmd_import_entry = {
	.name = "import",
	.usage = "import [--replace] [-D STATE-DIR] FILE\n"
		 "import --from lockstep|airlock FILE",
	.desc = "build state.db from an export, with no broker running (--replace moves a "
		"state.db holding rows aside); --from reads a Lockstep MCP or Airlock database "
		"into the project, through the running broker, and says what it imported and "
		"what not",
	.exec = admin_import,
};

/* Run batond with argv (argv[0] is set here); its exit status. */
static int
admin_batond(char **argv)
{
	char *broker;
	pid_t pid;
	int status;

	if ((broker = client_find_broker()) == NULL) {
		cli_err("batond not found next to baton, in $BATON_BROKER or on PATH; "
			"install batond");
		return (EXIT_UNAVAILABLE);
	}
	argv[0] = (char *)"batond";
	/* a caller that ignores SIGCHLD would have batond reaped before we see its status */
	signal(SIGCHLD, SIG_DFL);
	fflush(stdout);
	if ((pid = fork()) == -1) {
		cli_syserr("cannot run %s: fork", broker);
		free(broker);
		return (EXIT_SOFTWARE);
	}
	if (pid == 0) {
		execv(broker, argv);
		cli_syserr("cannot run %s", broker);
		_exit(EXIT_UNAVAILABLE);
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			cli_syserr("waiting for %s", broker);
			free(broker);
			return (EXIT_SOFTWARE);
		}
	}
	if (WIFEXITED(status)) {
		free(broker);
		return (WEXITSTATUS(status));
	}
	cli_err("%s died of signal %d", broker, WTERMSIG(status));
	free(broker);
	return (EXIT_SOFTWARE);
}

/* batond's --group NAME for a team broker's state, at argv[n]; the next n. */
static int
admin_group_args(const struct client_opts *o, char **argv, int n)
{
	if (o->group != NULL) {
		argv[n++] = (char *)"--group";
		argv[n++] = (char *)o->group;
	}
	return (n);
}

/*
 * Connect to a running broker, never starting one: 1 connected, 0 no
 * broker, else the exit status of the reported failure.
 */
static int
admin_connect(const struct client_opts *o, struct conn *c)
{
	struct client_opts lo = *o;
	struct op_error err;

	memset(&err, 0, sizeof err);
	lo.autostart = 0;
	if (conn_open(c, &lo, &err) == 0)
		return (1);
	if (err.code != NULL && strcmp(err.code, ERR_UNAVAILABLE) == 0)
		return (0);
	return (cli_fail(NULL, &err));
}

/* The options of export and import: -o FILE, -D DIR, --replace; 0, -1 (help), or a status. */
static int
admin_options(const struct cmd_entry *ce, int argc, char **argv, const char **out,
    const char **dir, int *replace)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "state-dir", required_argument, NULL, 'D' },
		{ "replace", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0; /* glibc: start afresh (cli.c already ran getopt) */
	while ((ch = getopt_long(argc, argv, ":o:D:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			if (out == NULL)
				return (cli_usage_err("usage: baton %s", ce->usage));
			*out = optarg;
			break;
		case 'D': *dir = optarg; break;
		case 'R':
			if (replace == NULL)
				return (cli_usage_err("usage: baton %s", ce->usage));
			*replace = 1;
			break;
		case 'h': help_command(stdout, ce); return (-1);
		default: return (cli_opt_err(ce, ch, argv));
		}
	}
	return (0);
}

/* Ask the running broker for a snapshot and convert it; the exit status. */
static int
admin_export_live(struct conn *c, const char *out)
{
	const msgpack_object *r;
	struct op_error err;
	msgpack_unpacked u;
	char *path = NULL, *argv[7];
	int status;

	memset(&err, 0, sizeof err);
	msgpack_unpacked_init(&u);
	if (conn_call(c, "state_export", NULL, 0, &u, &r, &err) != 0)
		status = cli_fail("state_export", &err);
	else if ((path = mp_strdup(mp_get(r, "path"))) == NULL) {
		cli_err("state_export: the broker gave no snapshot path");
		status = EXIT_SOFTWARE;
	} else {
		argv[1] = (char *)"--from";
		argv[2] = path;
		argv[3] = (char *)"--export";
		argv[4] = (char *)out;
		argv[5] = NULL;
		status = admin_batond(argv);
		if (unlink(path) != 0 && errno != ENOENT)
			cli_syserr("cannot remove the snapshot %s", path);
	}
	free(path);
	msgpack_unpacked_destroy(&u);
	return (status);
}

/* baton export [-o FILE] [-D STATE-DIR]: the whole state as JSON (stdout by default). */
static int
admin_export(const struct cmd_entry *ce, const struct client_opts *o, int argc, char **argv)
{
	const char *out = "-", *dir = NULL;
	struct conn c;
	char *bargv[9];
	int status, n = 1;

	if ((status = admin_options(ce, argc, argv, &out, &dir, NULL)) != 0)
		return (status == -1 ? cli_flush(0) : status);
	if (optind != argc)
		return (cli_usage_err("unexpected argument '%s'; usage: baton %s", argv[optind],
		    ce->usage));
	/* -D names a state directory: read it, whatever broker runs on the socket */
	if (dir == NULL) {
		if ((status = admin_connect(o, &c)) == 1) {
			status = admin_export_live(&c, out);
			conn_close(&c);
			return (status);
		}
		if (status != 0)
			return (status);
	}
	n = admin_group_args(o, bargv, n);
	if (dir != NULL) {
		bargv[n++] = (char *)"-D";
		bargv[n++] = (char *)dir;
	}
	bargv[n++] = (char *)"--export";
	bargv[n++] = (char *)out;
	bargv[n] = NULL;
	return (admin_batond(bargv));
}

/* baton import [--replace] [-D STATE-DIR] FILE: the state from an export. */
static int
admin_import(const struct cmd_entry *ce, const struct client_opts *o, int argc, char **argv)
{
	const char *dir = NULL;
	char sock[PATH_MAX], *bargv[11];
	struct conn c;
	int status, replace = 0, n = 1;

	/* the seed tools' databases (import-seed.c) */
	if (argc > 1 && strcmp(argv[1], "--from") == 0)
		return (argc == 4 ? seed_import(o, argv[2], argv[3])
				  : cli_usage_err("import --from lockstep|airlock FILE"));
	if (argc > 1 && strncmp(argv[1], "--from=", 7) == 0)
		return (argc == 3 ? seed_import(o, argv[1] + 7, argv[2])
				  : cli_usage_err("import --from lockstep|airlock FILE"));
	if ((status = admin_options(ce, argc, argv, NULL, &dir, &replace)) != 0)
		return (status == -1 ? cli_flush(0) : status);
	if (optind != argc - 1)
		return (cli_usage_err("import takes one FILE; usage: baton %s", ce->usage));
	if (cli_socket(o, sock, sizeof sock) != 0)
		return (EXIT_USAGE);
	if ((status = admin_connect(o, &c)) == 1) {
		conn_close(&c);
		cli_err("a broker is running on %s: stop it first with baton stop (it would "
			"write the state it holds over the import)",
		    sock);
		return (EXIT_CONFLICT);
	}
	if (status != 0)
		return (status);
	bargv[n++] = (char *)"-S";
	bargv[n++] = sock;
	n = admin_group_args(o, bargv, n);
	if (dir != NULL) {
		bargv[n++] = (char *)"-D";
		bargv[n++] = (char *)dir;
	}
	bargv[n++] = (char *)"--import";
	bargv[n++] = argv[optind];
	if (replace)
		bargv[n++] = (char *)"--replace";
	bargv[n] = NULL;
	return (admin_batond(bargv));
}
