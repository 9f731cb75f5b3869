/*
 * What an agent waits for on every edit (issue 18): the wall time of one
 * `baton hook PreToolUse` process, from fork to its exit, against
 * `true` as a process spawned the same way, in one run.  This program
 * is the agent: its `baton mcp` child is connected, so each hook finds
 * that session by process (as under Claude Code or Codex) and answers as
 * it.  ALLOW is the input of an edit nothing stands in the way of (the
 * hook must print nothing), DENY, when given, one of a file another
 * agent reserved (it must print a deny).  Every call is checked.
 *
 *	bench_hook -S SOCKET -b BATON -a ALLOW [-d DENY] [-n COUNT | -t SECONDS]
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "bench.h"
#include "mcp_child.h"

/* One process to time: its argv, the file on its stdin, what its stdout must hold. */
struct run {
	const char *name;
	const char *const *argv;
	const char *input;
	const char *must; /* NULL: nothing; "": anything */
};

/*
 * Spawn r's process with its input on stdin and its stdout on a pipe,
 * read that to the end and reap it; exits when it failed or said the
 * wrong thing.
 */
static void
run_once(const struct run *r)
{
	char out[65536];
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int fd[2], in, status;

	if (pipe(fd) != 0 || (pid = fork()) == -1) {
		perror("bench_hook: pipe or fork");
		exit(1);
	}
	if (pid == 0) {
		if ((in = open(r->input, O_RDONLY)) == -1) {
			perror(r->input);
			_exit(127);
		}
		dup2(in, STDIN_FILENO);
		dup2(fd[1], STDOUT_FILENO);
		close(fd[0]);
		close(fd[1]);
		execvp(r->argv[0], (char *const *)r->argv);
		perror(r->argv[0]);
		_exit(127);
	}
	close(fd[1]);
	while ((n = read(fd[0], out + len, sizeof out - 1 - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == sizeof out - 1)
			break;
	}
	out[len] = '\0';
	close(fd[0]);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_hook: %s did not exit 0 (it printed: %s)\n", r->name,
		    out);
		exit(1);
	}
	if (r->must != NULL ? strstr(out, r->must) == NULL : len != 0) {
		fprintf(stderr, "bench_hook: %s printed the wrong thing: '%s'\n", r->name, out);
		exit(1);
	}
}

/* Time runs of r for b's seconds or count; print its line. */
static void
run_bench(struct bench *b, const struct run *r)
{
	double t0, t1;
	int i;

	for (i = 0; i < 20; i++) /* warm the page cache and the broker */
		run_once(r);
	b->start = t1 = bench_now();
	while (!bench_done(b, t1)) {
		t0 = bench_now();
		run_once(r);
		t1 = bench_now();
		bench_add(b, (t1 - t0) * 1e6);
	}
	b->total = t1 - b->start;
	bench_report(b);
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *baton = NULL, *allow = NULL, *deny = NULL;
	const char *hook_argv[] = { NULL, "hook", "PreToolUse", NULL };
	const char *true_argv[] = { "true", NULL };
	struct run r_true = { "true", true_argv, NULL, NULL };
	struct run r_allow = { "baton hook", hook_argv, NULL, NULL };
	struct run r_deny = { "baton hook (deny)", hook_argv, NULL, "\"deny\"" };
	struct mcp_child m;
	struct bench b, bt, bd;
	int ch, status;

	bench_init(&b, "hook-allow");
	while ((ch = getopt(argc, argv, "a:b:d:n:S:t:")) != -1) {
		if (bench_option(&b, ch, &sock, NULL))
			continue;
		switch (ch) {
		case 'a': allow = optarg; break;
		case 'b': baton = optarg; break;
		case 'd': deny = optarg; break;
		default: goto usage;
		}
	}
	if (sock == NULL || baton == NULL || allow == NULL)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	setenv("BATON_SOCKET", sock, 1);
	setenv("BATON_NO_AUTOSTART", "1", 1);
	unsetenv("CLAUDE_CODE_SESSION_ID"); /* the hook finds its session by process */
	memset(&m, 0, sizeof m);
	mcp_spawn(&m, baton, sock, NULL, NULL);
	mcp_init(&m, "bench_hook");
	mcp_rpc(&m, 2, "tools/call", "{\"name\":\"status\",\"arguments\":{}}",
	    "\"structuredContent\""); /* connected: the session exists */
	hook_argv[0] = baton;
	r_true.input = r_allow.input = allow;
	r_deny.input = deny;
	bt = b;
	bt.name = "true";
	bd = b;
	bd.name = "hook-deny";
	printf("# baton hook PreToolUse as a process, fork to exit, vs true spawned the same "
	       "way\n");
	run_bench(&bt, &r_true);
	run_bench(&b, &r_allow);
	if (deny != NULL)
		run_bench(&bd, &r_deny);
	fclose(m.in); /* EOF: baton mcp exits */
	waitpid(m.pid, &status, 0);
	fclose(m.out);
	free(m.line);
	return (0);
usage:
	fprintf(stderr,
	    "usage: bench_hook -S SOCKET -b BATON -a ALLOW [-d DENY] "
	    "[-n COUNT | -t SECONDS]\n");
	return (64);
}
