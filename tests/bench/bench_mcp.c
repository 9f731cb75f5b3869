/*
 * What `baton mcp` adds to a call (DESIGN 9: shim overhead <= 30 us):
 * tools/call status through a `baton mcp` child over its stdio, one
 * JSON-RPC line each way, to set against bench_status's direct broker
 * call in the same run.  The answer is checked (a structuredContent
 * with the broker's pid), so a figure never comes from failed calls.
 * With -L it prints instead what tools/list costs: the bytes of its
 * compact result (and chars/4, the tokens every agent pays each turn)
 * for the profile -p (BATON_TOOLS; default full).
 *
 * With -l it measures lock pairs (issue 19): lock_acquire + lock_release,
 * or with -c airlock Airlock's lock_resource + unlock_resource (its
 * lock_token) through `baton mcp --compat airlock`; with -H PORT -T TOKEN
 * over HTTP to a running `baton mcp --http PORT` (one keep-alive
 * connection, JSON answers) instead of a child's stdio.  With -P BROKER-PID
 * it also reports the CPU time a pair costs `baton mcp` and the broker
 * (DESIGN 9: <= 120 us together), from /proc/PID/schedstat around the
 * measured pairs only: start-up and warm-up are left out, and nanoseconds
 * do not round as clock ticks do.
 *
 *	bench_mcp -S SOCKET -b BATON [-p PROFILE] [-L | -t SECONDS | -n COUNT]
 *	bench_mcp -S SOCKET -b BATON -l [-c airlock] [-H PORT -T TOKEN] [-P BROKER-PID]
 *	    [-t SECONDS]
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <arpa/inet.h>
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

/* One lock pair: native lock_acquire + lock_release, or Airlock's with its token. */
static void
mcp_lock_pair(struct mcp_child *m, long *id, const char *compat)
{
	char params[256], tok[65];
	const char *t;

	if (compat == NULL) {
		mcp_rpc(m, ++*id, "tools/call",
		    "{\"name\":\"lock_acquire\",\"arguments\":{\"name\":\"bench-pair\"}}",
		    "\"acquired\":true");
		mcp_rpc(m, ++*id, "tools/call",
		    "{\"name\":\"lock_release\",\"arguments\":{\"name\":\"bench-pair\"}}",
		    "\"released\":true");
		return;
	}
	mcp_rpc(m, ++*id, "tools/call",
	    "{\"name\":\"lock_resource\",\"arguments\":{\"name\":\"bench-pair\","
	    "\"agent_id\":\"bench\"}}",
	    "\"locked\":true");
	if ((t = strstr(m->line, "\"lock_token\":\"")) == NULL ||
	    sscanf(t + 14, "%64[0-9a-f]", tok) != 1) {
		fprintf(stderr, "bench_mcp: no lock_token in %s\n", m->line);
		exit(1);
	}
	snprintf(params, sizeof params,
	    "{\"name\":\"unlock_resource\",\"arguments\":{\"name\":\"bench-pair\","
	    "\"lock_token\":\"%s\"}}",
	    tok);
	mcp_rpc(m, ++*id, "tools/call", params, "\"released\":true");
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *baton = NULL, *profile = NULL, *compat = NULL;
	int locks = 0;
	struct rusage ru;
	size_t bytes;
	long calls = BENCH_WARMUP, bpid = 0;
	double s0 = -1, s1 = -1, b0 = -1, b1 = -1;
	int list = 0;
	struct mcp_child m;
	struct bench b;
	double t0, t1;
	long id = 0;
	int ch, i, status;

	bench_init(&b, "mcp-status");
	memset(&m, 0, sizeof m);
	while ((ch = getopt(argc, argv, "b:c:H:lLn:p:P:S:t:T:")) != -1) {
		if (bench_option(&b, ch, &sock, NULL))
			continue;
		switch (ch) {
		case 'b': baton = optarg; break;
		case 'c': compat = optarg; break;
		case 'H': m.port = atoi(optarg); break;
		case 'l': locks = 1; break;
		case 'L': list = 1; break;
		case 'p': profile = optarg; break;
		case 'P': bpid = strtol(optarg, NULL, 10); break;
		case 'T': m.token = optarg; break;
		default: goto usage;
		}
	}
	if (sock == NULL || baton == NULL || (m.port != 0 && m.token == NULL))
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	if (m.port != 0)
		http_connect(&m);
	else
		mcp_spawn(&m, baton, sock, profile, compat);
	if (locks) {
		/* tools/list once: baton mcp --http sessions are not needed for curl-style calls */
		for (i = 0; i < BENCH_WARMUP; i++)
			mcp_lock_pair(&m, &id, compat);
		b.name = compat != NULL
		    ? (m.port != 0 ? "airlock-http-pair" : "airlock-stdio-pair")
		    : (m.port != 0 ? "native-http-pair" : "native-stdio-pair");
		if (m.port == 0)
			s0 = bench_cpu_us((long)m.pid);
		b0 = bpid > 0 ? bench_cpu_us(bpid) : -1;
		b.start = t1 = bench_now();
		while (!bench_done(&b, t1)) {
			t0 = bench_now();
			mcp_lock_pair(&m, &id, compat);
			t1 = bench_now();
			bench_add(&b, (t1 - t0) * 1e6);
		}
		b.total = t1 - b.start;
		if (m.port == 0)
			s1 = bench_cpu_us((long)m.pid);
		b1 = bpid > 0 ? bench_cpu_us(bpid) : -1;
		fclose(m.in);
		if (m.port == 0)
			waitpid(m.pid, &status, 0);
		fclose(m.out);
		free(m.line);
		printf("# lock pairs through baton mcp%s%s\n",
		    compat != NULL ? " --compat " : "", compat != NULL ? compat : "");
		bench_report(&b);
		if (s0 >= 0 && s1 >= 0 && b0 >= 0 && b1 >= 0 && b.n > 0)
			printf("CPU per lock pair: baton mcp %.1f us, broker %.1f us, "
			       "together %.1f us over %zu pairs\n",
			    (s1 - s0) / (double)b.n, (b1 - b0) / (double)b.n,
			    (s1 - s0 + b1 - b0) / (double)b.n, b.n);
		return (0);
	}
	if (m.port != 0)
		goto usage;
	mcp_rpc(&m, ++id, "initialize",
	    "{\"protocolVersion\":\"2025-06-18\","
	    "\"capabilities\":{},\"clientInfo\":{\"name\":\"bench_mcp\",\"version\":\"1\"}}",
	    "\"protocolVersion\"");
	fprintf(m.in, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
	if (list) {
		mcp_rpc(&m, ++id, "tools/list", "{}", "\"tools\"");
		bytes = mcp_result_bytes(&m);
		printf("tools/list %s%s: %zu bytes, %zu tokens (chars/4)\n",
		    compat != NULL ? "--compat " : "",
		    compat != NULL        ? compat
			: profile != NULL ? profile
					  : "full",
		    bytes, (bytes + 3) / 4);
		fclose(m.in);
		waitpid(m.pid, &status, 0);
		fclose(m.out);
		free(m.line);
		return (0);
	}
	for (i = 0; i < BENCH_WARMUP; i++)
		mcp_rpc(&m, ++id, "tools/call", "{\"name\":\"status\",\"arguments\":{}}",
		    "\"structuredContent\"");
	b.start = t1 = bench_now();
	while (!bench_done(&b, t1)) {
		t0 = bench_now();
		mcp_rpc(&m, ++id, "tools/call", "{\"name\":\"status\",\"arguments\":{}}",
		    "\"structuredContent\"");
		t1 = bench_now();
		bench_add(&b, (t1 - t0) * 1e6);
		calls++;
	}
	b.total = t1 - b.start;
	fclose(m.in); /* EOF: baton mcp exits */
	if (waitpid(m.pid, &status, 0) == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "bench_mcp: baton mcp did not exit 0\n");
	fclose(m.out);
	free(m.line);
	printf("# tools/call status through baton mcp (JSON-RPC over pipes)\n");
	bench_report(&b);
	/* CPU time does not vary with the load of the machine as latency does */
	if (getrusage(RUSAGE_CHILDREN, &ru) == 0 && calls > 0)
		printf("baton mcp CPU: %.1f us per call (user %.1f, system %.1f) over %ld "
		       "calls\n",
		    (tv_us(&ru.ru_utime) + tv_us(&ru.ru_stime)) / (double)calls,
		    tv_us(&ru.ru_utime) / (double)calls, tv_us(&ru.ru_stime) / (double)calls,
		    calls);
	return (0);
usage:
	fprintf(stderr,
	    "usage: bench_mcp -S SOCKET -b BATON [-p PROFILE] [-L | -t SECONDS | -n COUNT]\n"
	    "       bench_mcp -S SOCKET -b BATON -l [-c airlock] [-H PORT -T TOKEN] "
	    "[-P BROKER-PID] [-t SECONDS]\n");
	return (64);
}
