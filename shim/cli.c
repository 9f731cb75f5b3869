/*
 * The `baton` command line: global options, then a command from the
 * table below.  Each entry is defined in the file that runs the command
 * (cmd-*.c); a command made of operations lists them as subcommands
 * (cmd-sub.c), and `baton help` and `baton CMD --help` read the same
 * entries, so a command's usage is written once.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* Every command, in the order `baton --help` lists them. */
const struct cmd_entry *const cli_table[] = {
	&cmd_status_entry,
	&cmd_call_entry,
	&cmd_lock_entry,
	&cmd_acquire_entry,
	&cmd_release_entry,
	&cmd_renew_entry,
	&cmd_locks_entry,
	&cmd_task_entry,
	&cmd_project_entry,
	&cmd_note_entry,
	&cmd_counter_entry,
	&cmd_event_entry,
	&cmd_agents_entry,
	&cmd_msg_entry,
	&cmd_discuss_entry,
	&cmd_log_entry,
	&cmd_dashboard_entry,
	&cmd_top_entry,
	&cmd_mcp_entry,
	&cmd_hook_entry,
	&cmd_guard_entry,
	&cmd_worktree_entry,
	&cmd_launch_entry,
	&cmd_install_entry,
	&cmd_uninstall_entry,
	&cmd_init_entry,
	&cmd_disable_entry,
	&cmd_enable_entry,
	&cmd_service_entry,
	&cmd_stop_entry,
	&cmd_restart_entry,
	&cmd_export_entry,
	&cmd_import_entry,
	&cmd_help_entry,
};
const size_t cli_ncmds = nitems(cli_table);

/* The command called name, or NULL. */
const struct cmd_entry *
cli_find(const char *name)
{
	size_t i;

	for (i = 0; i < cli_ncmds; i++) {
		if (strcmp(cli_table[i]->name, name) == 0)
			return (cli_table[i]);
	}
	return (NULL);
}

/* One line on stderr: "baton: " and the message. */
void printflike(1, 2) cli_err(const char *fmt, ...)
{
	va_list ap;

	fputs("baton: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* cli_err for a failed system call: the message, then ": " and strerror(errno). */
void printflike(1, 2) cli_syserr(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	fputs("baton: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(saved));
	errno = saved;
}

/* A usage error: say what is wrong and where help is; exit status 64. */
int printflike(1, 2) cli_usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("baton: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; try 'baton --help'\n", stderr);
	return (EXIT_USAGE);
}

/* A command's option getopt_long refused (ch ':' or '?'): a usage error. */
int
cli_opt_err(const struct cmd_entry *ce, int ch, char **argv)
{
	if (ch == ':')
		return (cli_usage_err("%s needs a value; usage: baton %s", argv[optind - 1],
		    ce->usage));
	return (
	    cli_usage_err("unknown option '%s'; usage: baton %s", argv[optind - 1], ce->usage));
}

/* Flush stdout and report a failed write (a full disk, a closed pipe). */
int
cli_flush(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_syserr("cannot write the output");
		return (status == 0 ? EXIT_SOFTWARE : status);
	}
	return (status);
}

/* Report a failed operation or connection on stderr; its exit status. */
int
cli_fail(const char *op, const struct op_error *err)
{
	if (op != NULL)
		cli_err("%s: %s", op, err->message);
	else
		cli_err("%s", err->message);
	return (exit_status_for(err->code));
}

/* Print a msgpack object as one compact JSON line. */
int
cli_print_json(const msgpack_object *o)
{
	cJSON *j;
	char *s;

	if ((j = json_from_msgpack(o)) == NULL || (s = cJSON_PrintUnformatted(j)) == NULL) {
		cJSON_Delete(j);
		cli_err("out of memory printing the result");
		return (EXIT_SOFTWARE);
	}
	puts(s);
	free(s);
	cJSON_Delete(j);
	return (cli_flush(0));
}

/*
 * s (n bytes) as a peer's text is shown to people (utf8_vis: escapes
 * for control characters and bytes that are not UTF-8).  The buffer is
 * one of CLI_VIS_RING used in turn, so that one printf may take several;
 * it stays valid until that many more calls.
 */
const char *
cli_vis(const char *s, size_t n, int flags)
{
	static char *ring[CLI_VIS_RING];
	static size_t next;
	char **slot = &ring[next++ % CLI_VIS_RING];

	free(*slot);
	*slot = utf8_vis(s, n, flags);
	return (*slot);
}

/*
 * Does JSON text hold a NUL in a string (json_find_nul)?  Then say so:
 * cJSON would cut the string there, and baton refuses rather than send
 * less than it was given.
 */
int
cli_json_nul(const char *text)
{
	char field[64];

	if (!json_find_nul(text, strlen(text), field, sizeof field))
		return (0);
	cli_err("%s%s holds \\u0000 (NUL), which baton does not take in names or text",
	    *field != '\0' ? "" : "a string", field);
	return (1);
}

/* A result field as text in buf ("?" when absent), a string escaped (cli_vis). */
const char *
cli_field(const msgpack_object *r, const char *key, char *buf, size_t len)
{
	const msgpack_object *v = mp_get(r, key);
	const char *s;
	size_t n;
	int64_t i;
	double d;

	if (mp_str(v, &s, &n) == 0)
		snprintf(buf, len, "%s", cli_vis(s, n, 0));
	else if (mp_int(v, &i) == 0)
		snprintf(buf, len, "%lld", (long long)i);
	else if (mp_num(v, &d) == 0)
		snprintf(buf, len, "%g", d);
	else
		snprintf(buf, len, "?");
	return (buf);
}

/* Seconds as "3d 4h", "5m 12s", "42s". */
const char *
cli_duration(const msgpack_object *v, char *buf, size_t len)
{
	double d;
	long s;

	if (mp_num(v, &d) != 0 || d < 0)
		return ("?");
	s = (long)d;
	if (s >= 86400)
		snprintf(buf, len, "%ldd %ldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%ldh %ldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, len, "%ldm %lds", s / 60, s % 60);
	else
		snprintf(buf, len, "%lds", s);
	return (buf);
}

/*
 * The broker's socket path into buf (-S, else the group's or the
 * default: client_socket); 0, or -1 with cause said.
 */
int
cli_socket(const struct client_opts *o, char *buf, size_t len)
{
	char *cause;

	if (client_socket(o, buf, len, &cause) != 0) {
		cli_err("%s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/* Parse a number of seconds from 0 to max for option opt; a usage error said on failure. */
int
cli_seconds(const char *opt, const char *s, double max, double *out)
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

/*
 * All of stdin, NUL-terminated, or NULL (more than max bytes, a read
 * error) with a message said; what names the input in that message.
 */
char *
cli_read_stdin(size_t max, const char *what)
{
	char *buf = NULL;
	size_t len = 0, size = 0, n;

	for (;;) {
		if (size - len < 4096) {
			size = size == 0 ? 8192 : size * 2;
			buf = xreallocarray(buf, 1, size + 1);
		}
		n = fread(buf + len, 1, size - len, stdin);
		len += n;
		if (len > max) {
			cli_err("%s on stdin is larger than %zu bytes", what, max);
			free(buf);
			return (NULL);
		}
		if (n == 0)
			break;
	}
	if (ferror(stdin)) {
		cli_syserr("cannot read stdin");
		free(buf);
		return (NULL);
	}
	if (memchr(buf, '\0', len) != NULL) {
		cli_err("%s on stdin holds a NUL byte; baton takes text", what);
		free(buf);
		return (NULL);
	}
	buf[len] = '\0';
	return (buf);
}

/* Global options into o; the index of the command in argv, or -1 with *status set. */
static int
cli_globals(int argc, char **argv, struct client_opts *o, int *status)
{
	enum { OPT_NO_AUTOSTART = 256, OPT_AGENT, OPT_ROLE, OPT_PROJECT, OPT_GROUP };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "no-autostart", no_argument, NULL, OPT_NO_AUTOSTART },
		{ "agent", required_argument, NULL, OPT_AGENT },
		{ "role", required_argument, NULL, OPT_ROLE },
		{ "project", required_argument, NULL, OPT_PROJECT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *why;
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:S:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'S': o->socket = sock = optarg; break;
		case OPT_GROUP: o->group = optarg; break;
		case OPT_NO_AUTOSTART: o->autostart = 0; break;
		case OPT_AGENT: o->agent = optarg; break;
		case OPT_ROLE: o->role = optarg; break;
		case OPT_PROJECT: o->project = optarg; break;
		case 'h':
			help_usage(stdout);
			*status = cli_flush(0);
			return (-1);
		case 'V':
			printf("baton %s\n", BATON_VERSION);
			*status = cli_flush(0);
			return (-1);
		case ':':
			*status =
			    cli_usage_err("option '%s' needs an argument", argv[optind - 1]);
			return (-1);
		default:
			if (optopt != 0)
				*status = cli_usage_err("unknown option '-%c'", optopt);
			else
				*status =
				    cli_usage_err("unknown option '%s'", argv[optind - 1]);
			return (-1);
		}
	}
	if (o->agent != NULL && *o->agent == '\0') {
		*status = cli_usage_err("--agent needs a non-empty name");
		return (-1);
	}
	if (o->group != NULL && (why = group_name_bad(o->group)) != NULL) {
		*status =
		    cli_usage_err("bad group '%s' (--group or BATON_GROUP): %s", o->group, why);
		return (-1);
	}
	/* with a group, BATON_SOCKET (the private broker's) gives way; -S does not */
	if (o->group != NULL)
		o->socket = sock;
	if (optind >= argc) {
		*status = cli_usage_err("no command given");
		return (-1);
	}
	return (optind);
}

/* The CLI: global options, then a command of the table. */
int
cli_main(int argc, char **argv)
{
	const struct cmd_entry *ce;
	struct client_opts o;
	int i, status = 0;

	log_open("baton", NULL, 0);
	client_opts_default(&o);
	if ((i = cli_globals(argc, argv, &o, &status)) == -1)
		return (status);
	argc -= i;
	argv += i;
	if ((ce = cli_find(argv[0])) == NULL)
		return (cli_usage_err("unknown command '%s'", argv[0]));
	/* every command: CMD -h and CMD --help are its help */
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		help_command(stdout, ce);
		return (cli_flush(0));
	}
	return (ce->exec(ce, &o, argc, argv));
}
