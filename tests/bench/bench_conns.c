/*
 * Idle sessions (DESIGN 9: 10 000 on one broker): open COUNT sessions
 * (each a connection that said hello and got its welcome), then time
 * status round trips on one more while they all stay connected, and
 * report what they cost the broker in memory (its VmRSS before and
 * after, from /proc).
 *
 *	bench_conns -S SOCKET [-c COUNT] [-t SECONDS | -n CALLS]
 */
#include "config.h"

#include <sys/resource.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"
#include "bench.h"
#include "client.h"

#define CONNS_DEFAULT 10000
#define CONNS_SPARE 64 /* descriptors kept for everything else */

/* The broker's resident memory in KiB, or -1. */
static long
conns_rss_kib(long pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	}
	fclose(f);
	return (kib);
}

/* The broker's pid, from a status call; exits on failure. */
static long
conns_status(struct conn *c)
{
	const msgpack_object *r;
	msgpack_unpacked u;
	struct op_error err;
	int64_t pid;

	memset(&err, 0, sizeof err);
	msgpack_unpacked_init(&u);
	if (conn_call(c, "status", NULL, 0, &u, &r, &err) != 0 ||
	    mp_int(mp_get(r, "pid"), &pid) != 0) {
		fprintf(stderr, "bench_conns: status failed: %s\n", err.message);
		exit(1);
	}
	msgpack_unpacked_destroy(&u);
	return ((long)pid);
}

int
main(int argc, char **argv)
{
	const char *sock = NULL;
	struct client_opts o;
	struct op_error err;
	struct rlimit rl;
	struct bench b;
	struct conn probe, *cs;
	double t0, t1, opened;
	long pid, rss0, rss1;
	int ch, i, n = CONNS_DEFAULT, want;
	char agent[32];

	bench_init(&b, "status-idle");
	while ((ch = getopt(argc, argv, "c:n:S:t:")) != -1) {
		if (!bench_option(&b, ch, &sock, &n))
			goto usage;
	}
	if (sock == NULL || n < 1)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	want = n;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)n + CONNS_SPARE)
			n = rl.rlim_cur > CONNS_SPARE ? (int)rl.rlim_cur - CONNS_SPARE : 1;
	}
	if (n < want)
		printf("# only %d sessions: this process may open %llu files\n", n,
		    (unsigned long long)rl.rlim_cur);
	bench_connect(&probe, "bench_conns", sock, "idle-probe");
	pid = conns_status(&probe);
	rss0 = conns_rss_kib(pid);
	cs = xcalloc((size_t)n, sizeof *cs);
	client_opts_default(&o);
	o.autostart = 0;
	o.socket = sock;
	o.client_name = "bench_conns";
	t0 = bench_now();
	for (i = 0; i < n; i++) {
		snprintf(agent, sizeof agent, "idle-%d", i);
		o.agent = agent;
		memset(&err, 0, sizeof err);
		if (conn_open(&cs[i], &o, &err) != 0) {
			fprintf(stderr, "bench_conns: session %d: %s\n", i, err.message);
			return (1);
		}
	}
	opened = bench_now() - t0;
	conns_status(&probe); /* the broker has handled every hello */
	rss1 = conns_rss_kib(pid);
	printf("# %d idle sessions opened in %.2f s (%.0f/s)\n", n, opened, n / opened);
	if (rss0 > 0 && rss1 > 0)
		printf("idle sessions: %d; broker RSS %.1f -> %.1f MiB: %.0f bytes per "
		       "session\n",
		    n, rss0 / 1024.0, rss1 / 1024.0, (double)(rss1 - rss0) * 1024.0 / n);
	for (i = 0; i < BENCH_WARMUP; i++)
		conns_status(&probe);
	b.start = t1 = bench_now();
	while (!bench_done(&b, t1)) {
		t0 = bench_now();
		conns_status(&probe);
		t1 = bench_now();
		bench_add(&b, (t1 - t0) * 1e6);
	}
	b.total = t1 - b.start;
	printf("# status round trips with the %d sessions connected\n", n);
	bench_report(&b);
	for (i = 0; i < n; i++)
		conn_close(&cs[i]);
	free(cs);
	conn_close(&probe);
	return (0);
usage:
	fprintf(stderr, "usage: bench_conns -S SOCKET [-c COUNT] [-t SECONDS | -n CALLS]\n");
	return (64);
}
