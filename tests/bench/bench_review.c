/*
 * The review workflow (issue 13): claim -> submit -> approve cycles per
 * second with IMPLEMENTERS implementer processes and one reviewer, each
 * on its own connection and all of them blocking, never polling:
 *
 *   implementers: task_claim {wait_seconds} -> task_submit, until the
 *     claim answers that the project is complete;
 *   the reviewer: task_claim {review: true, wait_seconds} ->
 *     task_approve, until it approved every task; then project_set
 *     {status: complete}, which ends the implementers' waits.
 *
 * The planner (this process) creates the tasks of a fresh project
 * first (at most 1000 a project, the broker's bound): a run is ROUNDS
 * projects of TASKS tasks each.  A cycle is one task going through all
 * three steps; its latency is the time between two approvals.  Every
 * answer is checked; a failed call fails the run.
 *
 *	bench_review -S SOCKET [-n TASKS] [-c IMPLEMENTERS] [-r ROUNDS]
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"

#define REVIEW_WAIT 30 /* seconds one blocking call may wait */

/* What every client of a round needs. */
struct review_run {
	const char *sock;
	char project[64];
	size_t tasks;
};

/* Connect to run's project as agent in role. */
static void
review_connect(struct conn *c, const struct review_run *run, const char *agent,
    const char *role)
{
	struct client_opts o;
	struct op_error err;

	client_opts_default(&o);
	o.autostart = 0;
	o.socket = run->sock;
	o.agent = agent;
	o.role = role;
	o.project = run->project;
	o.client_name = "bench_review";
	memset(&err, 0, sizeof err);
	if (conn_open(c, &o, &err) != 0) {
		fprintf(stderr, "bench_review: %s\n", err.message);
		exit(69);
	}
}

/* One call with JSON arguments (a printf format); its result in *r (u owns it). */
static int printflike(6, 7) review_call(struct conn *c, const char *op, msgpack_unpacked *u,
    const msgpack_object **r, struct op_error *err, const char *fmt, ...)
{
	struct bench_args a;
	va_list ap;
	char *text;
	int rv;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1) {
		perror("bench_review");
		exit(1);
	}
	va_end(ap);
	bench_args(&a, "bench_review", "%s", text);
	free(text);
	msgpack_unpacked_destroy(u);
	msgpack_unpacked_init(u);
	rv = bench_conn_call(c, op, &a, u, r, err);
	bench_args_free(&a);
	return (rv);
}

/* The id of a claim's task into id (16 bytes); 0 when it claimed one. */
static int
review_claimed(const msgpack_object *r, char *id)
{
	const char *s;
	size_t n;
	int yes = 0;

	if (mp_bool(mp_get(r, "claimed"), &yes) != 0 || !yes ||
	    mp_str(mp_get(r, "id"), &s, &n) != 0 || n >= 16)
		return (-1);
	memcpy(id, s, n);
	id[n] = '\0';
	return (0);
}

/* An implementer: claim, submit, until the project is complete. */
static int
review_implementer(struct conn *c, struct op_error *err)
{
	const msgpack_object *r;
	msgpack_unpacked u;
	char id[16];
	int rv = -1;

	msgpack_unpacked_init(&u);
	for (;;) {
		if (review_call(c, "task_claim", &u, &r, err, "{\"wait_seconds\":%d}",
			REVIEW_WAIT) != 0)
			break;
		if (review_claimed(r, id) != 0) {
			if (mp_streq(mp_get(r, "project_status"), "complete"))
				rv = 0;
			else
				op_error_set(err, ERR_CONFLICT, NULL,
				    "task_claim came back with nothing before the end");
			break;
		}
		if (review_call(c, "task_submit", &u, &r, err,
			"{\"id\":\"%s\",\"notes\":\"done\"}", id) != 0)
			break;
	}
	msgpack_unpacked_destroy(&u);
	return (rv);
}

/* The reviewer: take each review, approve it; the time between approvals. */
static int
review_reviewer(struct conn *c, const struct review_run *run, struct bench_shared *sh,
    struct op_error *err)
{
	const msgpack_object *r;
	msgpack_unpacked u;
	char id[16];
	double t0, t1;
	size_t k;
	int rv = -1;

	msgpack_unpacked_init(&u);
	t0 = bench_now();
	for (k = 0; k < run->tasks; k++) {
		if (review_call(c, "task_claim", &u, &r, err,
			"{\"review\":true,\"wait_seconds\":%d}", REVIEW_WAIT) != 0)
			goto out;
		if (review_claimed(r, id) != 0) {
			op_error_set(err, ERR_CONFLICT, NULL, "no review came within %d s",
			    REVIEW_WAIT);
			goto out;
		}
		if (review_call(c, "task_approve", &u, &r, err, "{\"id\":\"%s\"}", id) != 0)
			goto out;
		t1 = bench_now();
		if (sh->n < sh->cap)
			sh->lat[sh->n++] = (t1 - t0) * 1e6;
		t0 = t1;
	}
	rv = review_call(c, "project_set", &u, &r, err, "{\"status\":\"complete\"}");
out:
	msgpack_unpacked_destroy(&u);
	return (rv);
}

/* Client i: 0 is the reviewer, the others implementers. */
static void
review_client(int i, const struct bench *b, struct bench_shared *sh, int ready, int go,
    void *arg)
{
	const struct review_run *run = arg;
	struct op_error err;
	struct conn c;
	char agent[32];
	double start;
	int rv;

	memset(&err, 0, sizeof err);
	snprintf(agent, sizeof agent, i == 0 ? "reviewer" : "impl-%d", i);
	review_connect(&c, run, agent, i == 0 ? "reviewer" : "implementer");
	if (bench_go(sh, ready, go) != 0) {
		fprintf(stderr, "bench_review: client %d: no start signal\n", i);
		sh->failed = 1;
		return;
	}
	start = bench_now();
	rv = i == 0 ? review_reviewer(&c, run, sh, &err) : review_implementer(&c, &err);
	sh->total = bench_now() - start;
	conn_close(&c);
	if (rv != 0) {
		fprintf(stderr, "bench_review: %s: %s\n", agent, err.message);
		sh->failed = 1;
	}
}

/* Create run's tasks as the planner (not timed). */
static void
review_plan(const struct review_run *run)
{
	const msgpack_object *r;
	struct op_error err;
	msgpack_unpacked u;
	struct conn c;
	size_t k;

	memset(&err, 0, sizeof err);
	msgpack_unpacked_init(&u);
	review_connect(&c, run, "planner", "planner");
	for (k = 0; k < run->tasks; k++) {
		if (review_call(&c, "task_create", &u, &r, &err,
			"{\"title\":\"task %zu\",\"complexity\":\"simple\"}", k + 1) != 0) {
			fprintf(stderr, "bench_review: task_create: %s\n", err.message);
			exit(1);
		}
	}
	msgpack_unpacked_destroy(&u);
	conn_close(&c);
}

int
main(int argc, char **argv)
{
	static char name[32];
	struct review_run run;
	struct bench b, all;
	int ch, impls = 8, rounds = 3, k;
	size_t i;

	bench_init(&b, "review");
	b.count = 1000;
	memset(&run, 0, sizeof run);
	while ((ch = getopt(argc, argv, "c:n:r:S:")) != -1) {
		if (ch == 'r')
			rounds = atoi(optarg);
		else if (!bench_option(&b, ch, &run.sock, &impls))
			goto usage;
	}
	if (run.sock == NULL || impls < 1 || impls >= BENCH_CLIENTS_MAX || b.count < 1 ||
	    b.count > 1000 || rounds < 1 || optind != argc)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	run.tasks = b.count;
	bench_init(&all, "review");
	snprintf(name, sizeof name, "review%d", impls);
	all.name = name;
	for (k = 0; k < rounds; k++) {
		snprintf(run.project, sizeof run.project, "/bench-review-%ld-%d",
		    (long)getpid(), k);
		review_plan(&run);
		bench_init(&b, "review");
		if (bench_clients(&b, "bench_review", impls + 1, review_client, &run) != 0)
			return (1);
		for (i = 0; i < b.n; i++)
			bench_add(&all, b.lat[i]);
		all.total += b.total;
		free(b.lat);
	}
	printf("# %d implementers and 1 reviewer, all blocking in task_claim: a round trip is "
	       "one task claimed, submitted and approved; %d projects of %zu tasks\n",
	    impls, rounds, run.tasks);
	bench_report(&all);
	return (0);
usage:
	fprintf(stderr,
	    "usage: bench_review -S SOCKET [-n TASKS (1-1000)] [-c IMPLEMENTERS] [-r "
	    "ROUNDS]\n");
	return (64);
}
