/*
 * The floor under "CPU per lock pair through baton mcp" (DESIGN 9,
 * issue 15): the same chain of processes with no work in it.  A relay
 * child reads each JSON-RPC line from its stdin pipe and writes a frame
 * to an echo child over a Unix stream socket, as `baton mcp` does to
 * batond; the echo child answers each frame; the relay writes a line to
 * its stdout.  The relay waits in poll() on stdin and the socket, as
 * baton mcp does, and the echo child in epoll_wait(), as batond does;
 * the sizes are those of a lock_acquire and a lock_release through
 * baton mcp (line in, frame out, frame back, line out).  Two round trips
 * make a pair, and the CPU time of relay and echo child per pair is what
 * any stdio MCP server in front of a broker process pays on this machine
 * for its wake-ups and system calls alone: on a virtual machine, mostly
 * the wake-ups of another CPU.  bench_mcp -l minus this is what baton mcp
 * and batond spend of their own.
 *
 *	bench_relay [-t SECONDS | -n COUNT]
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* The bytes of a lock_acquire, then of a lock_release, through baton mcp. */
static const size_t line_in = 116, frame_out = 49;
static const size_t frame_back[2] = { 217, 49 }, line_out[2] = { 575, 199 };

/* Write all of n bytes of buf to fd, or exit. */
static void
relay_write(int fd, const char *buf, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, buf, n)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		buf += w;
		n -= (size_t)w;
	}
}

/* The echo child: answer every read with the next reply, until EOF. */
static void
echo_child(int fd)
{
	static char buf[4096];
	struct epoll_event ev = { .events = EPOLLIN }, got;
	ssize_t n;
	int ep, k = 0;

	if ((ep = epoll_create1(0)) == -1 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		_exit(1);
	memset(buf, 'e', sizeof buf);
	for (;;) {
		if (epoll_wait(ep, &got, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if ((n = read(fd, buf, sizeof buf)) <= 0)
			_exit(n == 0 ? 0 : 1);
		relay_write(fd, buf, frame_back[k]);
		k ^= 1;
	}
}

/* The relay child: stdin lines to the socket, the socket's answers to stdout. */
static void
relay_child(int fd)
{
	static char buf[4096];
	struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
		{ .fd = fd, .events = POLLIN } };
	ssize_t n;
	int k = 0;

	memset(buf, 'r', sizeof buf);
	for (;;) {
		if (poll(p, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (p[0].revents != 0) {
			if ((n = read(STDIN_FILENO, buf, sizeof buf)) <= 0)
				_exit(n == 0 ? 0 : 1);
			relay_write(fd, buf, frame_out);
		}
		if (p[1].revents != 0) {
			if ((n = read(fd, buf, sizeof buf)) <= 0)
				_exit(1);
			buf[line_out[k] - 1] = '\n';
			relay_write(STDOUT_FILENO, buf, line_out[k]);
			buf[line_out[k] - 1] = 'r';
			k ^= 1;
		}
	}
}

/* Fork a child running fn(fd) with stdin and stdout as given; its pid. */
static pid_t
spawn(void (*fn)(int), int fd, int close_fd, int in, int out)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		perror("bench_relay: fork");
		exit(1);
	}
	if (pid == 0) {
		close(close_fd);
		if ((in != -1 && dup2(in, STDIN_FILENO) == -1) ||
		    (out != -1 && dup2(out, STDOUT_FILENO) == -1))
			_exit(1);
		fn(fd);
		_exit(0);
	}
	return (pid);
}

/* One call: a line to the relay, its answer line back (of want bytes). */
static void
call(int to, int from, size_t want)
{
	static char line[4096], buf[4096];
	size_t got = 0;
	ssize_t n;

	if (line[0] == '\0') {
		memset(line, 'q', line_in - 1);
		line[line_in - 1] = '\n';
	}
	relay_write(to, line, line_in);
	while (got < want) {
		if ((n = read(from, buf, sizeof buf)) <= 0) {
			fprintf(stderr, "bench_relay: the relay went away\n");
			exit(1);
		}
		got += (size_t)n;
	}
	if (got != want || buf[(size_t)n - 1] != '\n') {
		fprintf(stderr, "bench_relay: an answer of %zu bytes, not %zu\n", got, want);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	const char *unused = NULL;
	int sp[2], in[2], out[2], ch, i, status;
	double r0, r1, e0, e1, t0, t1;
	pid_t relay, echo;
	struct bench b;

	bench_init(&b, "relay-pair");
	while ((ch = getopt(argc, argv, "n:t:")) != -1) {
		if (!bench_option(&b, ch, &unused, NULL)) {
			fprintf(stderr, "usage: bench_relay [-t SECONDS | -n COUNT]\n");
			return (64);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) {
		perror("bench_relay: socketpair");
		return (1);
	}
	echo = spawn(echo_child, sp[1], sp[0], -1, -1);
	close(sp[1]);
	/* the pipes after the echo child: it must not hold the relay's stdin open */
	if (pipe(in) != 0 || pipe(out) != 0) {
		perror("bench_relay: pipe");
		return (1);
	}
	relay = spawn(relay_child, sp[0], in[1], in[0], out[1]);
	close(sp[0]);
	close(in[0]);
	close(out[1]);
	for (i = 0; i < BENCH_WARMUP; i++) {
		call(in[1], out[0], line_out[0]);
		call(in[1], out[0], line_out[1]);
	}
	r0 = bench_cpu_us((long)relay);
	e0 = bench_cpu_us((long)echo);
	b.start = t1 = bench_now();
	while (!bench_done(&b, t1)) {
		t0 = bench_now();
		call(in[1], out[0], line_out[0]);
		call(in[1], out[0], line_out[1]);
		t1 = bench_now();
		bench_add(&b, (t1 - t0) * 1e6);
	}
	b.total = t1 - b.start;
	r1 = bench_cpu_us((long)relay);
	e1 = bench_cpu_us((long)echo);
	close(
	    in[1]); /* EOF: the relay exits, and its socket's end with it: the echo child too */
	waitpid(relay, &status, 0);
	waitpid(echo, &status, 0);
	printf("# lock-pair-shaped round trips through a bare relay and echo child\n");
	bench_report(&b);
	if (r0 >= 0 && r1 >= 0 && e0 >= 0 && e1 >= 0 && b.n > 0)
		printf("CPU per pair: relay %.1f us, echo %.1f us, together %.1f us over %zu "
		       "pairs\n",
		    (r1 - r0) / (double)b.n, (e1 - e0) / (double)b.n,
		    (r1 - r0 + e1 - e0) / (double)b.n, b.n);
	return (0);
}
