/*
 * Running a program for the client (git, tmux: DESIGN 13): from an
 * argument vector, never through a shell; stdin from /dev/null; stdout
 * and stderr read into buffers up to a bound; killed when it outlasts
 * its deadline.  Variables of git's own that a git hook sets (GIT_DIR,
 * GIT_INDEX_FILE...) are taken out of its environment, so that baton
 * run from a hook works on the repository it names and nothing else.
 */
#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

/* What a hook or a wrapper may have set that would point git elsewhere. */
static const char *const run_unset[] = { "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
	"GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR",
	"GIT_PREFIX", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES", "GIT_QUARANTINE_PATH", NULL };

/* In the child: the environment, the descriptors, then exec. */
static __dead void
run_child(const char *const *argv, const char *const *env, int out, int err)
{
	const char *const *e;
	const char *eq;
	char *name;
	int null;

	for (e = run_unset; *e != NULL; e++)
		unsetenv(*e);
	for (e = env; e != NULL && *e != NULL; e++) {
		if ((eq = strchr(*e, '=')) == NULL) {
			unsetenv(*e);
			continue;
		}
		name = xstrndup(*e, (size_t)(eq - *e));
		setenv(name, eq + 1, 1);
		free(name);
	}
	if ((null = open("/dev/null", O_RDONLY)) != -1)
		dup2(null, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], (char *const *)argv);
	dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Read what fd has into sb (at most max bytes kept); 0 at end of file. */
static int
run_read(int fd, struct sbuf *sb, size_t max, int *over)
{
	char buf[16384];
	ssize_t n;

	if ((n = read(fd, buf, sizeof buf)) == -1)
		return (errno == EINTR || errno == EAGAIN ? 1 : 0);
	if (n == 0)
		return (0);
	if (sb->len + (size_t)n > max) {
		*over = 1;
		n = (ssize_t)(max - sb->len);
	}
	sb_add(sb, buf, (size_t)n);
	return (1);
}

/*
 * Run argv[0] (found on PATH) with argv, env ("NAME=VALUE" sets,
 * "NAME" unsets; NULL: none), at most timeout seconds, keeping at most
 * max bytes of each output.  0 when it ran (its status in ro); -1 when
 * it could not, with ro->err saying why.
 */
int
run_argv(const char *const *argv, const char *const *env, double timeout, size_t max,
    struct run_out *ro)
{
	struct pollfd pfd[2];
	double deadline = mono_now() + timeout, left;
	pid_t pid;
	int po[2], pe[2], status, nopen = 2, i;

	memset(ro, 0, sizeof *ro);
	sb_adds(&ro->out, "");
	sb_adds(&ro->err, "");
	ro->status = -1;
	if (pipe2(po, O_CLOEXEC) == -1)
		goto fail;
	if (pipe2(pe, O_CLOEXEC) == -1) {
		close(po[0]);
		close(po[1]);
		goto fail;
	}
	if ((pid = fork()) == -1) {
		close(po[0]);
		close(po[1]);
		close(pe[0]);
		close(pe[1]);
		goto fail;
	}
	if (pid == 0)
		run_child(argv, env, po[1], pe[1]);
	close(po[1]);
	close(pe[1]);
	pfd[0].fd = po[0];
	pfd[1].fd = pe[0];
	pfd[0].events = pfd[1].events = POLLIN;
	while (nopen > 0) {
		if ((left = deadline - mono_now()) <= 0) {
			ro->timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(pfd, 2, (int)(left * 1000) + 1) == -1 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			if (!run_read(pfd[i].fd, i == 0 ? &ro->out : &ro->err, max,
				&ro->over)) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				nopen--;
			}
		}
	}
	for (i = 0; i < 2; i++) {
		if (pfd[i].fd != -1)
			close(pfd[i].fd);
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			sb_addf(&ro->err, "waitpid: %s", strerror(errno));
			return (-1);
		}
	}
	ro->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (ro->timed_out) {
		sb_addf(&ro->err, "%s%s took longer than %g s and was stopped",
		    ro->err.len > 0 ? "\n" : "", argv[0], timeout);
		return (-1);
	}
	if (ro->status == 127 && strncmp(ro->err.s, "cannot run ", 11) == 0)
		return (-1);
	return (0);
fail:
	sb_addf(&ro->err, "cannot run %s: %s", argv[0], strerror(errno));
	return (-1);
}

void
run_free(struct run_out *ro)
{
	free(ro->out.s);
	free(ro->err.s);
	memset(ro, 0, sizeof *ro);
}

/* What it said on stderr, trimmed, for a message (points into ro). */
const char *
run_said(struct run_out *ro)
{
	char *s = ro->err.s, *p;

	if (s == NULL)
		return ("");
	while (*s == '\n' || *s == ' ')
		s++;
	for (p = s + strlen(s); p > s && (p[-1] == '\n' || p[-1] == ' '); p--)
		;
	*p = '\0';
	return (s);
}
