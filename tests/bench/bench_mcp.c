/*
 * What `baton mcp` adds to a call (DESIGN 9: shim overhead <= 30 us):
 * tools/call status through a `baton mcp` child over its stdio, one
 * JSON-RPC line each way, to set against bench_status's direct broker
 * call in the same run.  The answer is checked (a structuredContent
 * with the broker's pid), so a figure never comes from failed calls.
 * With -l it calls lock_acquire and lock_release instead, a pair per
 * sample, and with -P BROKER-PID it reports the CPU time a pair costs
 * `baton mcp` and the broker (DESIGN 9: <= 120 us together), from
 * /proc/PID/schedstat around the measured calls only: start-up and
 * warm-up are left out, and nanoseconds do not round as clock ticks do.
 * With -L it prints instead what tools/list costs: the bytes of its
 * compact result (and chars/4, the tokens every agent pays each turn)
 * for the profile -p (BATON_TOOLS; default full).
 *
 *	bench_mcp -S SOCKET -b BATON [-l] [-P BROKER-PID] [-p PROFILE]
 *	    [-L | -t SECONDS | -n COUNT]
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "bench.h"
#include "mcp_child.h"

/* A timeval in microseconds. */
static double
tv_us(const struct timeval *tv)
{
	return (tv->tv_sec * 1e6 + tv->tv_usec);
}

/* The CPU time process pid has used, in microseconds; -1 when unknown. */
static double
cpu_us(long pid)
{
	char path[64];
	unsigned long long ns;
	FILE *f;
	int n;

	snprintf(path, sizeof path, "/proc/%ld/schedstat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	n = fscanf(f, "%llu", &ns);
	fclose(f);
	return (n == 1 ? (double)ns / 1e3 : -1);
}

/* One sample: a status call, or a lock_acquire and its lock_release (-l). */
static void
mcp_sample(struct mcp_child *m, long *id, int lock)
{
	if (!lock) {
		mcp_rpc(m, ++*id, "tools/call", "{\"name\":\"status\",\"arguments\":{}}",
		    "\"structuredContent\"");
		return;
	}
	mcp_rpc(m, ++*id, "tools/call",
	    "{\"name\":\"lock_acquire\",\"arguments\":{\"name\":\"bench-mcp\"}}",
	    "\"acquired\":true");
	mcp_rpc(m, ++*id, "tools/call",
	    "{\"name\":\"lock_release\",\"arguments\":{\"name\":\"bench-mcp\"}}",
	    "\"released\":true");
}

/* The bytes of the last answer's result (its line less the envelope). */
static size_t
mcp_result_bytes(const struct mcp_child *m)
{
	const char *r = strstr(m->line, "\"result\":");
	size_t n;

	if (r == NULL)
		return (0);
	r += strlen("\"result\":");
	n = strlen(r);
	while (n > 0 && (r[n - 1] == '\n' || r[n - 1] == '}'))
		n--;
	return (n + 1); /* the result's own closing brace */
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *baton = NULL, *profile = NULL;
	struct rusage ru;
	size_t bytes;
	long calls = BENCH_WARMUP, bpid = 0;
	double s0 = 0, s1 = 0, b0 = 0, b1 = 0;
	int list = 0, lock = 0;
	struct mcp_child m;
	struct bench b;
	double t0, t1;
	long id = 0;
	int ch, i, status;

	bench_init(&b, "mcp-status");
	while ((ch = getopt(argc, argv, "b:lLn:p:P:S:t:")) != -1) {
		if (bench_option(&b, ch, &sock, NULL))
			continue;
		switch (ch) {
		case 'b': baton = optarg; break;
		case 'l': lock = 1; break;
		case 'L': list = 1; break;
		case 'P': bpid = strtol(optarg, NULL, 10); break;
		case 'p': profile = optarg; break;
		default: goto usage;
		}
	}
	if (sock == NULL || baton == NULL)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	memset(&m, 0, sizeof m);
	mcp_spawn(&m, baton, sock, profile);
	mcp_init(&m, "bench_mcp");
	id = 1;
	if (list) {
		mcp_rpc(&m, ++id, "tools/list", "{}", "\"tools\"");
		bytes = mcp_result_bytes(&m);
		printf("tools/list %s: %zu bytes, %zu tokens (chars/4)\n",
		    profile != NULL ? profile : "full", bytes, (bytes + 3) / 4);
		fclose(m.in);
		waitpid(m.pid, &status, 0);
		fclose(m.out);
		free(m.line);
		return (0);
	}
	if (lock)
		b.name = "mcp-lock";
	for (i = 0; i < BENCH_WARMUP; i++)
		mcp_sample(&m, &id, lock);
	s0 = cpu_us((long)m.pid);
	b0 = bpid > 0 ? cpu_us(bpid) : -1;
	b.start = t1 = bench_now();
	while (!bench_done(&b, t1)) {
		t0 = bench_now();
		mcp_sample(&m, &id, lock);
		t1 = bench_now();
		bench_add(&b, (t1 - t0) * 1e6);
		calls++;
	}
	b.total = t1 - b.start;
	s1 = cpu_us((long)m.pid);
	b1 = bpid > 0 ? cpu_us(bpid) : -1;
	fclose(m.in); /* EOF: baton mcp exits */
	if (waitpid(m.pid, &status, 0) == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "bench_mcp: baton mcp did not exit 0\n");
	fclose(m.out);
	free(m.line);
	if (lock)
		printf("# tools/call lock_acquire + lock_release through baton mcp (JSON-RPC "
		       "over pipes): a round trip is the pair\n");
	else
		printf("# tools/call status through baton mcp (JSON-RPC over pipes)\n");
	bench_report(&b);
	if (lock && s0 >= 0 && s1 >= 0 && b.n > 0)
		printf("CPU per lock pair: baton mcp %.1f us, broker %.1f us, together %.1f us "
		       "over %zu pairs\n",
		    (s1 - s0) / (double)b.n, b0 >= 0 ? (b1 - b0) / (double)b.n : 0,
		    (s1 - s0 + (b0 >= 0 ? b1 - b0 : 0)) / (double)b.n, b.n);
	/* CPU time does not vary with the load of the machine as latency does */
	if (!lock && getrusage(RUSAGE_CHILDREN, &ru) == 0 && calls > 0)
		printf("baton mcp CPU: %.1f us per call (user %.1f, system %.1f) over %ld "
		       "calls\n",
		    (tv_us(&ru.ru_utime) + tv_us(&ru.ru_stime)) / (double)calls,
		    tv_us(&ru.ru_utime) / (double)calls, tv_us(&ru.ru_stime) / (double)calls,
		    calls);
	return (0);
usage:
	fprintf(stderr,
	    "usage: bench_mcp -S SOCKET -b BATON [-l] [-P BROKER-PID] [-p PROFILE] "
	    "[-L | -t SECONDS | -n COUNT]\n");
	return (64);
}
