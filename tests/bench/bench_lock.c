/*
 * Locks over the real broker protocol, through the shim's client library,
 * to set against bench_echo's raw baseline (DESIGN §9):
 *
 *   - lock_acquire + lock_release round trips (each call is one round
 *     trip) from CLIENTS processes at once, each on a lock of its own, so
 *     that the figure is the broker's cost and not a queue;
 *   - with -w, the wake latency: one process holds two connections; A
 *     holds a lock, B waits for it, and the time from A sending its
 *     lock_release to B reading its grant is one sample.
 *
 *	bench_lock -S SOCKET [-t SECONDS | -n COUNT] [-c CLIENTS] [-w]
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"

#define LOCK_WAKE_WAIT 30 /* wait_seconds of the waiter, far beyond a sample */

/*
 * One client of a throughput run: acquire and release its own lock until
 * the run is over, recording every call.
 */
static void
lock_client(int i, const struct bench *b, struct bench_shared *sh, int ready, int go, void *arg)
{
	struct bench_args a;
	struct op_error err;
	struct conn c;
	char name[32];
	double start, t0, t1;
	int k;

	snprintf(name, sizeof name, "bench-%d", i);
	bench_connect(&c, "bench_lock", arg, name);
	bench_args(&a, "bench_lock", "{\"name\":\"%s\"}", name);
	memset(&err, 0, sizeof err);
	for (k = 0; k < BENCH_WARMUP; k++) {
		if (bench_call(&c, "lock_acquire", &a, "acquired", NULL, NULL, &err) != 0 ||
		    bench_call(&c, "lock_release", &a, "released", NULL, NULL, &err) != 0)
			goto fail;
	}
	if (bench_go(sh, ready, go) != 0) {
		op_error_set(&err, ERR_INTERNAL, NULL, "no start signal");
		goto fail;
	}
	start = t1 = bench_now();
	while ((b->count != 0 ? sh->n < b->count : t1 - start < b->seconds) &&
	    sh->n + 2 <= sh->cap) {
		t0 = bench_now();
		if (bench_call(&c, "lock_acquire", &a, "acquired", NULL, NULL, &err) != 0)
			goto fail;
		t1 = bench_now();
		sh->lat[sh->n++] = (t1 - t0) * 1e6;
		if (bench_call(&c, "lock_release", &a, "released", NULL, NULL, &err) != 0)
			goto fail;
		t0 = t1;
		t1 = bench_now();
		sh->lat[sh->n++] = (t1 - t0) * 1e6;
	}
	sh->total = t1 - start;
	conn_close(&c);
	bench_args_free(&a);
	return;
fail:
	fprintf(stderr, "bench_lock: client %d: %s\n", i, err.message);
	sh->failed = 1;
}

/* CLIENTS processes acquiring and releasing at once; one result line for all. */
static int
lock_throughput(const char *sock, struct bench *b, int clients)
{
	if (bench_clients(b, "bench_lock", clients, lock_client, (void *)(uintptr_t)sock) != 0)
		return (1);
	printf("# %d client%s, acquire+release on a lock each; a call is a round trip\n",
	    clients, clients > 1 ? "s" : "");
	bench_report(b);
	return (0);
}

/* How many wait in line for NAME, as A sees it; -1 on error. */
static int
lock_waiters(struct conn *c, const struct bench_args *list, struct op_error *err)
{
	const msgpack_object *r, *ls, *w;
	msgpack_unpacked u;
	int n = -1;

	msgpack_unpacked_init(&u);
	if (bench_conn_call(c, "lock_list", list, &u, &r, err) == 0) {
		ls = mp_get(r, "locks");
		if (ls != NULL && ls->type == MSGPACK_OBJECT_ARRAY && ls->via.array.size == 1 &&
		    (w = mp_get(&ls->via.array.ptr[0], "waiters")) != NULL &&
		    w->type == MSGPACK_OBJECT_ARRAY)
			n = (int)w->via.array.size;
		else if (ls != NULL && ls->type == MSGPACK_OBJECT_ARRAY)
			n = 0;
	}
	msgpack_unpacked_destroy(&u);
	return (n);
}

/* Read the answer to request id on c and check it granted; 0 or -1. */
static int
lock_read_grant(struct conn *c, uint64_t id, struct op_error *err)
{
	const msgpack_object *f, *r;
	msgpack_unpacked u;
	int64_t rid;
	int yes = 0, rv = -1;

	msgpack_unpacked_init(&u);
	for (;;) {
		if (conn_read_frame(c, &u, 10000, err) != 0)
			break;
		f = &u.data;
		if (mp_frame_type(f) != FRAME_RES || mp_int(mp_get(f, "id"), &rid) != 0 ||
		    (uint64_t)rid != id)
			continue;
		if ((r = mp_get(f, "r")) != NULL && mp_bool(mp_get(r, "acquired"), &yes) == 0 &&
		    yes)
			rv = 0;
		else
			op_error_set(err, ERR_CONFLICT, NULL, "the waiter was not granted");
		break;
	}
	msgpack_unpacked_destroy(&u);
	return (rv);
}

/*
 * Wake latency: A holds the lock and B waits in line for it (A checks
 * with lock_list that B is queued); A sends lock_release and the clock
 * runs until B reads its grant.  Then they swap roles.
 */
static int
lock_wake(const char *sock, struct bench *b)
{
	struct bench_args a, aw, list;
	struct op_error err;
	struct conn c[2];
	struct fbuf fb;
	struct conn *hold, *wait;
	double t0, t1;
	uint64_t id;
	int k, turn = 0, tries;

	bench_connect(&c[0], "bench_lock", sock, "bench-wake-a");
	bench_connect(&c[1], "bench_lock", sock, "bench-wake-b");
	bench_args(&a, "bench_lock", "{\"name\":\"bench-wake\"}");
	bench_args(&aw, "bench_lock", "{\"name\":\"bench-wake\",\"wait_seconds\":%d}",
	    LOCK_WAKE_WAIT);
	bench_args(&list, "bench_lock", "{\"prefix\":\"bench-wake\"}");
	memset(&err, 0, sizeof err);
	if (bench_call(&c[0], "lock_acquire", &a, "acquired", NULL, NULL, &err) != 0)
		goto fail;
	b->start = t1 = bench_now();
	for (k = 0; !bench_done(b, t1); k++) {
		hold = &c[turn];
		wait = &c[1 - turn];
		id = ++wait->next_id;
		fbuf_init(&fb);
		client_req_open(&fb, id, "lock_acquire");
		pk_object(&fb, aw.o);
		client_req_close(&fb);
		if (conn_send(wait, &fb) != 0) {
			fbuf_free(&fb);
			op_error_set(&err, ERR_UNAVAILABLE, NULL, "send: %s", strerror(errno));
			goto fail;
		}
		fbuf_free(&fb);
		for (tries = 0; lock_waiters(hold, &list, &err) != 1; tries++) {
			if (tries > 10000) {
				op_error_set(&err, ERR_TIMEOUT, NULL,
				    "the waiter never queued");
				goto fail;
			}
		}
		t0 = bench_now();
		if (bench_call(hold, "lock_release", &a, "released", NULL, NULL, &err) != 0)
			goto fail;
		if (lock_read_grant(wait, id, &err) != 0)
			goto fail;
		t1 = bench_now();
		if (k >= BENCH_WARMUP / 10)
			bench_add(b, (t1 - t0) * 1e6);
		else
			b->start = t1;
		turn = 1 - turn;
	}
	b->total = t1 - b->start;
	conn_close(&c[0]);
	conn_close(&c[1]);
	bench_args_free(&a);
	bench_args_free(&aw);
	bench_args_free(&list);
	printf("# release -> grant: A sends lock_release, B reads its grant\n");
	bench_report(b);
	return (0);
fail:
	fprintf(stderr, "bench_lock: wake: %s\n", err.message);
	return (1);
}

int
main(int argc, char **argv)
{
	const char *sock = NULL;
	struct bench b;
	int ch, clients = 1, wake = 0;
	static char name[32];

	bench_init(&b, "lock");
	while ((ch = getopt(argc, argv, "c:n:S:t:w")) != -1) {
		if (bench_option(&b, ch, &sock, &clients))
			continue;
		switch (ch) {
		case 'w': wake = 1; break;
		default: goto usage;
		}
	}
	if (sock == NULL || clients < 1 || clients > BENCH_CLIENTS_MAX)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	if (wake) {
		b.name = "wake";
		return (lock_wake(sock, &b));
	}
	if (clients > 1) {
		snprintf(name, sizeof name, "lock%d", clients);
		b.name = name;
	}
	return (lock_throughput(sock, &b, clients));
usage:
	fprintf(stderr,
	    "usage: bench_lock -S SOCKET [-t SECONDS | -n COUNT] [-c CLIENTS] [-w]\n");
	return (64);
}
