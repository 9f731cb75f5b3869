/*
 * `baton guard install|uninstall|check`: git hooks that refuse a commit
 * (pre-commit: its staged paths) or a push (pre-push: the paths of the
 * commits it sends) touching files another agent reserved (DESIGN 12).
 * The check is hook_edit's (broker/hook.c): the guard acts as the
 * committing agent's own session, found from its ancestry as baton
 * hook's is; when baton cannot tell which agent commits (a commit from a
 * terminal), every agent's reservation counts as another's.
 *
 * install writes a small script at the hook's name in the directory git
 * runs hooks from (git rev-parse --git-path hooks: core.hooksPath, and
 * the common directory that every worktree shares).  A hook that was
 * there is renamed NAME.baton-chained and run after the check;
 * uninstall renames it back, so it is restored byte for byte.
 * BATON_GUARD=off lets a refused commit through, and the broker logs
 * that.  git runs from argument vectors, never through a shell.
 */
#include "config.h"

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

#include "shim.h"

#define GUARD_MARK "# baton guard: "
#define GUARD_MADE_DIR "# baton guard made this directory\n"
#define GUARD_CHAINED ".baton-chained"
#define GUARD_GIT_MAX (64 * 1024 * 1024) /* bytes of git output read: the paths of a push */
#define GUARD_REFS_MAX (1024 * 1024)     /* pre-push: the refs git gives the hook on stdin */
#define GUARD_BATCH 64                   /* paths per hook_edit (its bound) */
#define GUARD_SHOW 20                    /* reservations named in a refusal */

static const char *const guard_hooks[] = { "pre-commit", "pre-push" };

/* What one `baton guard check` works with. */
struct guard {
	const char *hook; /* pre-commit or pre-push */
	const char *self; /* the hook git ran (--hook), whose chained hook runs after */
	int strict, bypass;
	char **args; /* git's arguments to the hook */
	int nargs;
	char *refs;      /* pre-push: its stdin, for the chained hook too */
	struct sbuf raw; /* the paths as git printed them, NUL-separated */
	char **paths;    /* into raw, sorted, each once */
	size_t npaths;
	struct sbuf said; /* the reservations in the way, one line each */
	size_t nblocked;
	int matched;
	char unmatched[256];
};

/*
 * Run git with argv (argv[0] "git", NULL-terminated), stdin /dev/null,
 * its stdout appended to out (at most GUARD_GIT_MAX bytes); its exit
 * status, or -1 when it could not run or said too much (said).
 */
static int
guard_git(const char *const *argv, struct sbuf *out)
{
	char buf[65536];
	ssize_t n;
	pid_t pid;
	int fd[2], status, null, over = 0;

	if (pipe2(fd, O_CLOEXEC) == -1) {
		cli_syserr("guard: cannot run git");
		return (-1);
	}
	if ((pid = fork()) == -1) {
		cli_syserr("guard: cannot run git");
		close(fd[0]);
		close(fd[1]);
		return (-1);
	}
	if (pid == 0) {
		dup2(fd[1], STDOUT_FILENO);
		if ((null = open("/dev/null", O_RDONLY)) != -1)
			dup2(null, STDIN_FILENO);
		execvp("git", (char *const *)argv);
		fprintf(stderr, "baton: guard: cannot run git: %s\n", strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	while ((n = read(fd[0], buf, sizeof buf)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || out->len + (size_t)n > GUARD_GIT_MAX) {
			over = 1;
			kill(pid, SIGTERM);
			break;
		}
		sb_add(out, buf, (size_t)n);
	}
	close(fd[0]);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			cli_syserr("guard: git %s", argv[1]);
			return (-1);
		}
	}
	if (over) {
		cli_err("guard: git %s said more than %d bytes", argv[1], GUARD_GIT_MAX);
		return (-1);
	}
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* The directory git runs this repository's hooks from, absolute, malloc'd; NULL said. */
static char *
guard_hooks_dir(void)
{
	static const char *const argv[] = { "git", "rev-parse", "--git-path", "hooks", NULL };
	struct sbuf out = { NULL, 0, 0 };
	char cwd[PATH_MAX], *dir;

	sb_adds(&out, "");
	if (guard_git(argv, &out) != 0 || out.len < 2) {
		cli_err("guard: git rev-parse --git-path hooks failed: run baton guard in a "
			"git repository");
		free(out.s);
		return (NULL);
	}
	out.s[strcspn(out.s, "\n")] = '\0';
	if (out.s[0] == '/')
		return (out.s);
	if (getcwd(cwd, sizeof cwd) == NULL) {
		cli_syserr("guard: getcwd");
		free(out.s);
		return (NULL);
	}
	xasprintf(&dir, "%s/%s", cwd, out.s);
	free(out.s);
	return (dir);
}

/* The script that runs the guard for hook (pre-commit, pre-push), into b. */
static void
guard_script(struct sbuf *b, const char *self, const char *hook, int strict, int made_dir)
{
	const char *what = strcmp(hook, "pre-push") == 0 ? "push" : "commit";

	sb_addf(b,
	    "#!/bin/sh\n" GUARD_MARK "refuses a %s of files another agent reserved "
	    "(baton(1) GUARD).\n"
	    "# Written by `baton guard install`; `baton guard uninstall` takes it out and\n"
	    "# puts back the hook that was here, kept meanwhile as %s" GUARD_CHAINED ".\n"
	    "# BATON_GUARD=off lets a %s through; the broker logs it.\n",
	    what, hook, what);
	if (made_dir)
		sb_adds(b, GUARD_MADE_DIR);
	sb_adds(b, "b=");
	sb_shquote(b, self);
	sb_addf(b,
	    "\nif [ -x \"$b\" ]; then\n"
	    "\texec \"$b\" guard check%s --hook \"$0\" %s \"$@\"\n"
	    "fi\n"
	    "echo \"baton guard: $b is gone: nothing is checked (baton guard uninstall takes "
	    "this hook out)\" >&2\n"
	    "[ ! -x \"$0" GUARD_CHAINED "\" ] || exec \"$0" GUARD_CHAINED "\" \"$@\"\n",
	    strict ? " --strict" : "", hook);
}

/*
 * Is path a guard script install wrote?  1 (*made_dir: it says install
 * made its directory), 0 when it is something else or nothing.
 */
static int
guard_ours(const char *path, int *made_dir)
{
	struct stat sb;
	char buf[4096];
	ssize_t n;
	int fd;

	*made_dir = 0;
	if (lstat(path, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return (0);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	if (strlen(buf) != (size_t)n || strstr(buf, "\n" GUARD_MARK) == NULL)
		return (0);
	*made_dir = strstr(buf, "\n" GUARD_MADE_DIR) != NULL;
	return (1);
}

/* Does anything (a link too, even a dangling one) sit at path? */
static int
guard_exists(const char *path)
{
	struct stat sb;

	return (lstat(path, &sb) == 0);
}

/* Install the guard as hook in dir, keeping the hook that was there; an exit status. */
static int
guard_install_one(const char *dir, const char *hook, const char *self, int strict, int made_dir)
{
	struct sbuf script = { NULL, 0, 0 };
	struct text t;
	char *path, *kept;
	int r = 0, moved = 0, ours, was_made;

	xasprintf(&path, "%s/%s", dir, hook);
	xasprintf(&kept, "%s" GUARD_CHAINED, path);
	ours = guard_ours(path, &was_made);
	guard_script(&script, self, hook, strict, made_dir || was_made);
	if (ours) {
		if ((r = setup_read(path, &t)) == 0 && t.len == script.len &&
		    memcmp(t.s, script.s, t.len) == 0)
			printf("%s: already installed\n", path);
		else if (r == 0 &&
		    (r = setup_write_file(path, script.s, script.len, 0755)) == 0)
			printf("%s: updated\n", path);
		free(t.s);
		goto out;
	}
	if (guard_exists(path)) {
		if (guard_exists(kept)) {
			cli_err("guard: %s and %s are both there: move one of them away, then "
				"run "
				"again",
			    path, kept);
			r = EXIT_DATAERR;
			goto out;
		}
		if (rename(path, kept) == -1) {
			cli_syserr("guard: cannot rename %s", path);
			r = EXIT_DATAERR;
			goto out;
		}
		moved = 1;
	}
	if ((r = setup_write_file(path, script.s, script.len, 0755)) != 0) {
		if (moved && rename(kept, path) == -1)
			cli_syserr("guard: cannot put %s back as %s", kept, path);
		goto out;
	}
	printf("%s: installed%s\n", path,
	    moved ? "; the hook that was there runs after the check (kept as " GUARD_CHAINED ")"
		  : "");
out:
	free(script.s);
	free(path);
	free(kept);
	return (r);
}

/* Take the guard out of hook in dir and put back what was there; an exit status. */
static int
guard_uninstall_one(const char *dir, const char *hook, int *made_dir)
{
	char *path, *kept;
	int r = 0, made;

	xasprintf(&path, "%s/%s", dir, hook);
	xasprintf(&kept, "%s" GUARD_CHAINED, path);
	if (guard_ours(path, &made)) {
		*made_dir |= made;
		if (unlink(path) == -1) {
			cli_syserr("guard: cannot remove %s", path);
			r = EXIT_DATAERR;
			goto out;
		}
	} else if (guard_exists(path) && guard_exists(kept)) {
		cli_err("guard: %s is not baton's guard (it changed after baton guard "
			"install): "
			"left alone; the hook it replaced is %s",
		    path, kept);
		r = EXIT_DATAERR;
		goto out;
	} else if (!guard_exists(kept)) {
		printf("%s: not installed\n", path);
		goto out;
	}
	if (guard_exists(kept) && rename(kept, path) == -1) {
		cli_syserr("guard: cannot rename %s back to %s", kept, path);
		r = EXIT_DATAERR;
		goto out;
	}
	printf("%s: removed%s\n", path,
	    guard_exists(path) ? "; the hook that was there is back" : "");
out:
	free(path);
	free(kept);
	return (r);
}

/* `baton guard install [--strict]` and `baton guard uninstall`. */
static int
guard_setup(int install, int strict)
{
	char *dir, *self;
	size_t i;
	int r = 0, e, made_dir = 0;

	if ((dir = guard_hooks_dir()) == NULL)
		return (EXIT_DATAERR);
	if (install) {
		self = setup_self();
		if (!guard_exists(dir)) {
			if ((r = setup_mkdirs(dir, 0755)) != 0)
				goto out;
			made_dir = 1;
		}
		for (i = 0; i < nitems(guard_hooks) && r == 0; i++)
			r = guard_install_one(dir, guard_hooks[i], self, strict, made_dir);
		free(self);
	} else {
		for (i = 0; i < nitems(guard_hooks); i++) {
			if ((e = guard_uninstall_one(dir, guard_hooks[i], &made_dir)) != 0)
				r = e;
		}
		if (made_dir && rmdir(dir) == 0)
			printf("%s: removed (baton guard install made it)\n", dir);
	}
out:
	free(dir);
	return (cli_flush(r));
}

/* strcmp for qsort on an array of strings. */
static int
guard_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/*
 * The paths in g->raw (NUL-separated) into g->paths, each once.  A path
 * longer than a lock name can be is checked as its longest parent that
 * fits: a reservation can only cover it from there.
 */
static void
guard_split(struct guard *g)
{
	size_t i, n = 0, off;
	char *p, *slash;

	for (off = 0; off < g->raw.len; off += strlen(g->raw.s + off) + 1)
		n++;
	g->paths = xreallocarray(NULL, n + 1, sizeof *g->paths);
	for (off = 0; off < g->raw.len; off += strlen(p) + 1) {
		p = g->raw.s + off;
		if (*p == '\0')
			continue;
		g->paths[g->npaths++] = p;
	}
	for (i = 0; i < g->npaths; i++) {
		p = g->paths[i];
		while (strlen(p) > NAME_MAX_LEN && (slash = strrchr(p, '/')) != NULL)
			*slash = '\0';
		if (strlen(p) > NAME_MAX_LEN)
			p[NAME_MAX_LEN] = '\0'; /* one segment that long: its prefix */
	}
	qsort(g->paths, g->npaths, sizeof *g->paths, guard_cmp);
	for (i = n = 0; i < g->npaths; i++) {
		if (n == 0 || strcmp(g->paths[n - 1], g->paths[i]) != 0)
			g->paths[n++] = g->paths[i];
	}
	g->npaths = n;
}

/* The paths a commit stages (renames as both paths), into g->raw; 0, or an exit status. */
static int
guard_commit_paths(struct guard *g)
{
	static const char *const argv[] = { "git", "diff", "--cached", "--name-only", "-z",
		"--no-renames", NULL };

	if (guard_git(argv, &g->raw) != 0) {
		cli_err("guard: git diff --cached failed: cannot check the commit");
		return (EXIT_SOFTWARE);
	}
	return (0);
}

/* Is s (n bytes) an object name: 40 or 64 hex digits? */
static int
guard_sha(const char *s, size_t n)
{
	return ((n == 40 || n == 64) && strspn(s, "0123456789abcdef") >= n);
}

/*
 * The paths of the commits one ref of a push sends, into g->raw: those
 * of local not on any remote-tracking branch, nor in remote when git
 * has it.  Merges name what they changed against every parent (--cc).
 */
static int
guard_push_ref(struct guard *g, const char *local, const char *remote)
{
	const char *argv[12] = { "git", "log", "--format=", "--name-only", "-z", "--no-renames",
		"--cc", local, "--not", "--remotes", NULL, NULL };
	const char *probe[] = { "git", "cat-file", "-e", NULL, NULL };
	char *have = NULL;
	struct sbuf none = { NULL, 0, 0 };
	int r;

	if (strspn(remote, "0") != strlen(remote)) {
		xasprintf(&have, "%s^{commit}", remote);
		probe[3] = have;
		if (guard_git(probe, &none) == 0)
			argv[10] = remote;
	}
	r = guard_git(argv, &g->raw);
	free(none.s);
	free(have);
	if (r != 0) {
		cli_err("guard: git log of the commits pushed failed: cannot check the push");
		return (EXIT_SOFTWARE);
	}
	return (0);
}

/* The paths a push sends: each line of stdin is "LOCAL-REF SHA REMOTE-REF SHA". */
static int
guard_push_paths(struct guard *g)
{
	char *line, *save = NULL, *f[4], *fs;
	size_t i;
	int r;

	if ((g->refs = cli_read_stdin(GUARD_REFS_MAX, "the refs of the push")) == NULL)
		return (EXIT_DATAERR);
	line = xstrdup(g->refs);
	for (fs = strtok_r(line, "\n", &save); fs != NULL; fs = strtok_r(NULL, "\n", &save)) {
		for (i = 0; i < 4; i++) {
			f[i] = fs;
			fs += strcspn(fs, " ");
			if (*fs != '\0')
				*fs++ = '\0';
		}
		if (!guard_sha(f[1], strlen(f[1])) || !guard_sha(f[3], strlen(f[3]))) {
			cli_err("guard: pre-push: '%s' is not what git gives the hook on stdin "
				"(LOCAL-REF SHA REMOTE-REF SHA)",
			    f[0]);
			free(line);
			return (EXIT_DATAERR);
		}
		if (strspn(f[1], "0") == strlen(f[1]))
			continue; /* a deletion sends no commits */
		if ((r = guard_push_ref(g, f[1], f[3])) != 0) {
			free(line);
			return (r);
		}
	}
	free(line);
	return (0);
}

/* The blockers of one hook_edit answer, as lines in g->said. */
static void
guard_note_blockers(struct guard *g, const msgpack_object *r)
{
	const msgpack_object *bl = mp_get(r, "blockers");
	uint32_t i;

	for (i = 0; bl != NULL && bl->type == MSGPACK_OBJECT_ARRAY && i < bl->via.array.size;
	     i++) {
		if (g->nblocked++ >= GUARD_SHOW)
			continue;
		sb_adds(&g->said, "  ");
		hook_say_reserved(&g->said, &bl->via.array.ptr[i]);
		sb_adds(&g->said, "\n");
	}
	g->matched = mp_get_bool(r, "matched", 0);
	if (!g->matched)
		cli_field(r, "unmatched", g->unmatched, sizeof g->unmatched);
}

/* The broker is unreachable: a note and on (an exit status 0), or refused when strict. */
static int
guard_unreachable(struct guard *g, const struct op_error *err)
{
	if (g->bypass)
		cli_err("guard: BATON_GUARD=off, and the broker is unreachable (%s): the %s "
			"goes ahead unchecked and unlogged",
		    err->message, g->hook);
	else if (g->strict) {
		cli_err("guard: the broker is unreachable (%s) and the guard is --strict: %s "
			"refused until it runs again (baton status starts it; BATON_GUARD=off "
			"goes ahead)",
		    err->message, g->hook);
		return (EXIT_UNAVAILABLE);
	} else
		cli_err("guard: the broker is unreachable (%s): the %s goes ahead unchecked",
		    err->message, g->hook);
	return (0);
}

/* Ask the broker about every path, GUARD_BATCH at a time; 0, or an exit status. */
static int
guard_ask(struct guard *g, const struct client_opts *gopts)
{
	struct client_opts o = *gopts;
	struct cmd_call cc;
	struct op_error err;
	size_t i, n;
	int r = 0;

	o.kind = "guard";
	o.autostart = 0; /* no broker, nothing reserved */
	cmd_call_init(&cc, &o, "hook_edit");
	memset(&err, 0, sizeof err);
	if (conn_open(&cc.c, &o, &err) != 0) {
		r = strcmp(err.code, ERR_UNAVAILABLE) == 0 ? guard_unreachable(g, &err)
							   : cli_fail("guard", &err);
		cmd_call_done(&cc);
		return (r);
	}
	cc.open = 1;
	cmd_set_str(&cc, "guard", g->hook);
	cmd_set_num(&cc, "bypass", g->bypass);
	for (i = 0; i < g->npaths && r == 0; i += n) {
		n = g->npaths - i < GUARD_BATCH ? g->npaths - i : GUARD_BATCH;
		cmd_set_list(&cc, "paths", g->paths + i, n);
		if ((r = cmd_call_op(&cc)) == 0)
			guard_note_blockers(g, cc.r);
	}
	cmd_call_done(&cc);
	return (r);
}

/* Say what stands in the way; the exit status (1 refused, 0 bypassed). */
static int
guard_refuse(struct guard *g)
{
	fprintf(stderr, "baton guard: this %s files another agent reserved:\n%s",
	    strcmp(g->hook, "pre-push") == 0 ? "push sends commits that touch"
					     : "commit touches",
	    g->said.s);
	if (g->nblocked > GUARD_SHOW)
		fprintf(stderr, "  and %zu more\n", g->nblocked - GUARD_SHOW);
	if (!g->matched)
		fprintf(stderr,
		    "baton could not tell which agent this is (%s), so every agent's "
		    "reservation counts.\n",
		    g->unmatched);
	if (g->bypass) {
		fprintf(stderr,
		    "BATON_GUARD=off: it goes ahead anyway; the broker logged that.\n");
		return (0);
	}
	fprintf(stderr,
	    "Wait until they are released (baton locks shows them), ask the holder (baton msg "
	    "send AGENT TEXT), or go ahead anyway with BATON_GUARD=off (the broker logs "
	    "it).\n");
	return (EXIT_CONFLICT);
}

/*
 * Run the hook that was there before install (the script's own path,
 * --hook, and .baton-chained), with git's arguments and, for pre-push,
 * the same stdin; its exit status.  None: 0.
 */
static int
guard_chain(struct guard *g)
{
	char *kept, **argv;
	size_t len = g->refs != NULL ? strlen(g->refs) : 0, off = 0;
	ssize_t n;
	pid_t pid;
	int fd[2] = { -1, -1 }, status, i;

	if (g->self == NULL)
		return (0);
	xasprintf(&kept, "%s" GUARD_CHAINED, g->self);
	if (access(kept, X_OK) != 0) {
		free(kept);
		return (0); /* git does not run a hook that is not executable either */
	}
	argv = xreallocarray(NULL, (size_t)g->nargs + 2, sizeof *argv);
	argv[0] = kept;
	for (i = 0; i < g->nargs; i++)
		argv[i + 1] = g->args[i];
	argv[i + 1] = NULL;
	fflush(NULL);
	if (g->refs == NULL) {
		execv(kept, argv); /* pre-commit: it takes our place and our stdin */
		cli_syserr("guard: cannot run %s", kept);
		free(argv);
		free(kept);
		return (EXIT_SOFTWARE);
	}
	if (pipe2(fd, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		cli_syserr("guard: cannot run %s", kept);
		free(argv);
		free(kept);
		return (EXIT_SOFTWARE);
	}
	if (pid == 0) {
		dup2(fd[0], STDIN_FILENO);
		execv(kept, argv);
		fprintf(stderr, "baton: guard: cannot run %s: %s\n", kept, strerror(errno));
		_exit(127);
	}
	close(fd[0]);
	signal(SIGPIPE, SIG_IGN); /* a hook that does not read its stdin */
	while (off < len &&
	    ((n = write(fd[1], g->refs + off, len - off)) > 0 || (n == -1 && errno == EINTR)))
		off += n > 0 ? (size_t)n : 0;
	close(fd[1]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	free(argv);
	free(kept);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* `baton guard check [--strict] [--hook PATH] pre-commit|pre-push [ARGS...]`. */
static int
guard_check(struct guard *g, const struct client_opts *o)
{
	const char *env = getenv("BATON_GUARD");
	int r;

	g->bypass = env != NULL && strcmp(env, "off") == 0;
	sb_adds(&g->raw, "");
	sb_adds(&g->said, "");
	r = strcmp(g->hook, "pre-push") == 0 ? guard_push_paths(g) : guard_commit_paths(g);
	if (r == 0) {
		guard_split(g);
		if (g->npaths > 0)
			r = guard_ask(g, o);
	}
	if (r != 0 && g->bypass) {
		cli_err("guard: BATON_GUARD=off: the %s goes ahead unchecked", g->hook);
		return (guard_chain(g));
	}
	if (r != 0)
		return (r);
	if (g->nblocked > 0 && (r = guard_refuse(g)) != 0)
		return (r);
	if (g->bypass && g->nblocked == 0 && g->npaths > 0)
		fprintf(stderr,
		    "baton guard: BATON_GUARD=off: nothing was in the way; the "
		    "broker logged the bypass.\n");
	return (guard_chain(g));
}

/* --strict and --hook PATH, up to the next word; 0, or a usage error's status. */
static int
guard_options(struct guard *g, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "strict", no_argument, NULL, 's' },
		{ "hook", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "+", lopts, NULL)) != -1) {
		switch (ch) {
		case 's': g->strict = 1; break;
		case 'k': g->self = optarg; break;
		default: return (cli_usage_err("guard: unknown option or missing argument"));
		}
	}
	return (0);
}

/* The words of `baton guard`. */
static int
guard_exec(const struct cmd_entry *ce, const struct client_opts *o, int argc, char **argv)
{
	struct guard g;
	const char *what;
	int r;

	memset(&g, 0, sizeof g);
	optind = 0; /* glibc: start afresh (cli.c already ran getopt) */
	if ((r = guard_options(&g, argc, argv)) != 0)
		return (r);
	if (optind >= argc)
		return (cli_usage_err("guard takes install, uninstall or check"));
	what = argv[optind++];
	/* the options may follow the word too: the hook script puts them there */
	if ((r = guard_options(&g, argc, argv)) != 0)
		return (r);
	if (strcmp(what, "install") == 0 || strcmp(what, "uninstall") == 0) {
		if (optind != argc || g.self != NULL ||
		    (g.strict && strcmp(what, "uninstall") == 0))
			return (cli_usage_err("guard: usage: baton guard install [--strict] | "
					      "baton guard uninstall"));
		return (guard_setup(strcmp(what, "install") == 0, g.strict));
	}
	if (strcmp(what, "check") != 0)
		return (cli_usage_err("guard: unknown subcommand '%s' (install, uninstall or "
				      "check)",
		    what));
	if (optind >= argc ||
	    (strcmp(argv[optind], "pre-commit") != 0 && strcmp(argv[optind], "pre-push") != 0))
		return (cli_usage_err("guard check takes pre-commit or pre-push"));
	g.hook = argv[optind++];
	g.args = argv + optind;
	g.nargs = argc - optind;
	r = guard_check(&g, o);
	free(g.raw.s);
	free(g.said.s);
	free(g.paths);
	free(g.refs);
	return (cli_flush(r));
}

const struct cmd_entry cmd_guard_entry = {
	.name = "guard",
	.usage = "guard install [--strict]\n"
		 "guard uninstall\n"
		 "guard check [--strict] [--hook PATH] pre-commit|pre-push [ARGS...]",
	.desc = "git hooks that refuse a commit or push of files another agent reserved "
		"(from a terminal: any agent): install adds pre-commit and pre-push where git "
		"runs hooks, keeping the hooks there and running them after the check; "
		"uninstall puts them back; check is what the hooks run; BATON_GUARD=off goes "
		"ahead, logged by the broker",
	.exec = guard_exec,
};
