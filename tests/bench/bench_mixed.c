/*
 * Mixed mutations from many clients at once, to set the durability
 * modes against each other (DESIGN §8-9): CLIENTS processes, each on its
 * own connection, repeat a cycle of six calls, every one a change the
 * broker must checkpoint and a round trip:
 *
 *   counter_incr on a counter they share (values only grow),
 *   note_set on the client's own note with if_version = the version it
 *     got last (compare-and-set: nobody else writes it, so it must win),
 *   lock_acquire + lock_release of the client's own lock,
 *   event_signal on an event they share,
 *   message_send to itself.
 *
 * Every answer is checked; a failed call fails the run.
 *
 *	bench_mixed -S SOCKET [-t SECONDS | -n COUNT] [-c CLIENTS]
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"

#define MIXED_WARMUP 40 /* cycles before the clock starts */

enum {
	MIXED_COUNTER,
	MIXED_NOTE,
	MIXED_ACQUIRE,
	MIXED_RELEASE,
	MIXED_EVENT,
	MIXED_MSG,
	MIXED_STEPS
};

/* One call of the cycle: what must be true or a positive integer in the answer. */
struct mixed_step {
	const char *op;
	struct bench_args a;
	const char *key, *vkey;
	uint64_t v; /* vkey's last value */
};

/* Build the cycle of client name; note_set starts at the note's current version. */
static int
mixed_steps(struct conn *c, struct mixed_step *st, const char *name, struct op_error *err)
{
	struct bench_args first;
	int i;

	bench_args(&first, "bench_mixed", "{\"key\":\"%s\",\"value\":0}", name);
	i = bench_call(c, "note_set", &first, "written", "version", &st[MIXED_NOTE].v, err);
	bench_args_free(&first);
	if (i != 0)
		return (-1);
	st[MIXED_COUNTER] =
	    (struct mixed_step){ "counter_incr", .key = "value", .vkey = "value" };
	bench_args(&st[MIXED_COUNTER].a, "bench_mixed", "{\"name\":\"bench-mixed\"}");
	st[MIXED_NOTE].op = "note_set";
	st[MIXED_NOTE].key = "written";
	st[MIXED_NOTE].vkey = "version";
	bench_args(&st[MIXED_NOTE].a, "bench_mixed",
	    "{\"key\":\"%s\",\"value\":1,\"if_version\":1}", name);
	st[MIXED_ACQUIRE] = (struct mixed_step){ "lock_acquire", .key = "acquired" };
	bench_args(&st[MIXED_ACQUIRE].a, "bench_mixed", "{\"name\":\"%s\"}", name);
	st[MIXED_RELEASE] = (struct mixed_step){ "lock_release", .key = "released" };
	bench_args(&st[MIXED_RELEASE].a, "bench_mixed", "{\"name\":\"%s\"}", name);
	st[MIXED_EVENT] = (struct mixed_step){ "event_signal", .key = "generation" };
	bench_args(&st[MIXED_EVENT].a, "bench_mixed", "{\"name\":\"bench-mixed\"}");
	st[MIXED_MSG] = (struct mixed_step){ "message_send", .key = "id" };
	bench_args(&st[MIXED_MSG].a, "bench_mixed", "{\"to\":\"%s\",\"body\":\"bench\"}", name);
	return (0);
}

/* One call of the cycle (cycle k), checked; 0 or -1 with err. */
static int
mixed_call(struct conn *c, struct mixed_step *s, uint64_t k, struct op_error *err)
{
	uint64_t old = s->v;

	if (s->vkey != NULL && strcmp(s->op, "note_set") == 0) {
		bench_args_set(&s->a, "if_version", s->v);
		bench_args_set(&s->a, "value", k + 1);
	}
	if (bench_call(c, s->op, &s->a, s->key, s->vkey, &s->v, err) != 0)
		return (-1);
	if (s->vkey != NULL && s->v <= old) {
		op_error_set(err, ERR_CONFLICT, NULL, "%s: %s went from %llu back to %llu",
		    s->op, s->vkey, (unsigned long long)old, (unsigned long long)s->v);
		return (-1);
	}
	return (0);
}

/* Client i: warm up, then run cycles until the run is over, timing every call. */
static void
mixed_client(int i, const struct bench *b, struct bench_shared *sh, int ready, int go,
    void *arg)
{
	struct mixed_step st[MIXED_STEPS];
	struct op_error err;
	struct conn c;
	char name[32];
	double start, t0, t1;
	uint64_t k;
	int s;

	memset(st, 0, sizeof st);
	memset(&err, 0, sizeof err);
	snprintf(name, sizeof name, "bench-mixed-%d", i);
	bench_connect(&c, "bench_mixed", arg, name);
	if (mixed_steps(&c, st, name, &err) != 0)
		goto fail;
	for (k = 0; k < MIXED_WARMUP; k++) {
		for (s = 0; s < MIXED_STEPS; s++)
			if (mixed_call(&c, &st[s], k, &err) != 0)
				goto fail;
	}
	if (bench_go(sh, ready, go) != 0) {
		op_error_set(&err, ERR_INTERNAL, NULL, "no start signal");
		goto fail;
	}
	start = t1 = bench_now();
	while ((b->count != 0 ? sh->n < b->count : t1 - start < b->seconds) &&
	    sh->n + MIXED_STEPS <= sh->cap) {
		for (s = 0; s < MIXED_STEPS; s++, k++) {
			t0 = t1;
			if (mixed_call(&c, &st[s], k, &err) != 0)
				goto fail;
			t1 = bench_now();
			sh->lat[sh->n++] = (t1 - t0) * 1e6;
		}
	}
	sh->total = t1 - start;
	for (s = 0; s < MIXED_STEPS; s++)
		bench_args_free(&st[s].a);
	conn_close(&c);
	return;
fail:
	fprintf(stderr, "bench_mixed: client %d: %s\n", i, err.message);
	sh->failed = 1;
}

int
main(int argc, char **argv)
{
	static char name[32];
	const char *sock = NULL;
	struct bench b;
	int ch, clients = 32;

	bench_init(&b, "mixed");
	while ((ch = getopt(argc, argv, "c:n:S:t:")) != -1) {
		if (!bench_option(&b, ch, &sock, &clients))
			goto usage;
	}
	if (sock == NULL || clients < 1 || clients > BENCH_CLIENTS_MAX || optind != argc)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	snprintf(name, sizeof name, "mixed%d", clients);
	b.name = name;
	if (bench_clients(&b, "bench_mixed", clients, mixed_client, (void *)(uintptr_t)sock) !=
	    0)
		return (1);
	printf("# %d client%s, each cycling counter_incr, note_set if_version, lock_acquire, "
	       "lock_release, event_signal, message_send; a call is a round trip\n",
	    clients, clients > 1 ? "s" : "");
	bench_report(&b);
	return (0);
usage:
	fprintf(stderr, "usage: bench_mixed -S SOCKET [-t SECONDS | -n COUNT] [-c CLIENTS]\n");
	return (64);
}
