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

#include <sys/mman.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"
#include "bench.h"

#define LOCK_CLIENTS_MAX 256
#define LOCK_SAMPLES_ALL (1 << 22) /* shared by the clients of a run */
#define LOCK_WAKE_WAIT 30        /* wait_seconds of the waiter, far beyond a sample */

/* What the children of a multi-client run hand back to the parent. */
struct lock_shared {
	size_t n;
	double total;
	int failed;
	size_t cap;
	double lat[]; /* cap samples */
};

/* The args map {name: NAME}, kept decoded for the life of the run. */
struct lock_args {
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	const msgpack_object *o;
};

/* Pack {key: val, [wait_seconds]} and decode it into an object conn_call can send. */
static void
lock_args_make(struct lock_args *a, const char *key, const char *val, int wait)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(&a->sb);
	msgpack_packer_init(&pk, &a->sb, msgpack_sbuffer_write);
	if (msgpack_pack_map(&pk, wait > 0 ? 2 : 1) != 0 ||
	    msgpack_pack_str(&pk, strlen(key)) != 0 ||
	    msgpack_pack_str_body(&pk, key, strlen(key)) != 0 ||
	    msgpack_pack_str(&pk, strlen(val)) != 0 ||
	    msgpack_pack_str_body(&pk, val, strlen(val)) != 0 ||
	    (wait > 0 && (msgpack_pack_str(&pk, 12) != 0 ||
	    msgpack_pack_str_body(&pk, "wait_seconds", 12) != 0 ||
	    msgpack_pack_int(&pk, wait) != 0))) {
		fprintf(stderr, "bench_lock: cannot pack the arguments\n");
		exit(1);
	}
	msgpack_unpacked_init(&a->u);
	if (msgpack_unpack_next(&a->u, a->sb.data, a->sb.size, NULL) != MSGPACK_UNPACK_SUCCESS) {
		fprintf(stderr, "bench_lock: cannot decode the arguments\n");
		exit(1);
	}
	a->o = &a->u.data;
}

static void
lock_args_free(struct lock_args *a)
{
	msgpack_unpacked_destroy(&a->u);
	msgpack_sbuffer_destroy(&a->sb);
}

/* One call whose result must carry a true boolean key; 0 or -1 with err. */
static int
lock_call(struct conn *c, const char *op, const struct lock_args *a, const char *key,
    struct op_error *err)
{
	const msgpack_object *r;
	msgpack_unpacked u;
	int rv, yes = 0;

	msgpack_unpacked_init(&u);
	rv = conn_call(c, op, a->o, &u, &r, err);
	if (rv == 0 && (mp_bool(mp_get(r, key), &yes) != 0 || !yes)) {
		op_error_set(err, ERR_CONFLICT, NULL, "%s answered %s other than true", op, key);
		rv = -1;
	}
	msgpack_unpacked_destroy(&u);
	return (rv);
}

/* Connect as agent NAME; exits 69 when the broker is not there. */
static void
lock_connect(struct conn *c, const char *sock, const char *agent)
{
	struct client_opts o;
	struct op_error err;

	client_opts_default(&o);
	o.autostart = 0; /* measure the broker run.sh started, never start one */
	o.socket = sock;
	o.agent = agent;
	o.client_name = "bench_lock";
	memset(&err, 0, sizeof err);
	if (conn_open(c, &o, &err) != 0) {
		fprintf(stderr, "bench_lock: %s\n", err.message);
		exit(69);
	}
}

/*
 * One client of a throughput run: acquire and release its own lock until
 * the run is over, recording every call.  ready/go make all clients start
 * together once every one of them is connected.
 */
static void
lock_client(const char *sock, int i, struct bench *b, struct lock_shared *sh, int ready,
    int go)
{
	struct lock_args a;
	struct op_error err;
	struct conn c;
	char name[32], ch;
	double t0, t1;
	int k;

	snprintf(name, sizeof name, "bench-%d", i);
	lock_connect(&c, sock, name);
	lock_args_make(&a, "name", name, 0);
	memset(&err, 0, sizeof err);
	for (k = 0; k < BENCH_WARMUP; k++) {
		if (lock_call(&c, "lock_acquire", &a, "acquired", &err) != 0 ||
		    lock_call(&c, "lock_release", &a, "released", &err) != 0)
			goto fail;
	}
	/* the parent closes go when all are ready: EOF is the start signal */
	if (write(ready, "r", 1) != 1 || read(go, &ch, 1) != 0) {
		op_error_set(&err, ERR_INTERNAL, NULL, "no start signal");
		goto fail;
	}
	b->start = t1 = bench_now();
	while ((b->count != 0 ? sh->n < b->count : t1 - b->start < b->seconds) &&
	    sh->n + 2 <= sh->cap) {
		t0 = bench_now();
		if (lock_call(&c, "lock_acquire", &a, "acquired", &err) != 0)
			goto fail;
		t1 = bench_now();
		sh->lat[sh->n++] = (t1 - t0) * 1e6;
		if (lock_call(&c, "lock_release", &a, "released", &err) != 0)
			goto fail;
		t0 = t1;
		t1 = bench_now();
		sh->lat[sh->n++] = (t1 - t0) * 1e6;
	}
	sh->total = t1 - b->start;
	conn_close(&c);
	lock_args_free(&a);
	return;
fail:
	fprintf(stderr, "bench_lock: client %d: %s\n", i, err.message);
	sh->failed = 1;
}

/* CLIENTS processes acquiring and releasing at once; one result line for all. */
static int
lock_throughput(const char *sock, struct bench *b, int clients)
{
	size_t cap = LOCK_SAMPLES_ALL / (size_t)clients;
	size_t stride = sizeof(struct lock_shared) + cap * sizeof(double);
	size_t size = stride * (size_t)clients, k;
	struct lock_shared *sh;
	char *area;
	double total = 0;
	int ready[2], go[2], i, status, failed = 0;
	pid_t pids[LOCK_CLIENTS_MAX];
	char ch;

	area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || pipe(ready) != 0 || pipe(go) != 0) {
		perror("bench_lock");
		return (1);
	}
	for (i = 0; i < clients; i++) {
		if ((pids[i] = fork()) == -1) {
			perror("bench_lock: fork");
			return (1);
		}
		if (pids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			sh = (struct lock_shared *)(area + stride * (size_t)i);
			sh->cap = cap;
			lock_client(sock, i, b, sh, ready[1], go[0]);
			_exit(sh->failed);
		}
	}
	close(ready[1]);
	close(go[0]);
	for (i = 0; i < clients; i++) {
		if (read(ready[0], &ch, 1) != 1) {
			fprintf(stderr, "bench_lock: a client did not get ready\n");
			break;
		}
	}
	close(go[1]); /* EOF on go: every client starts */
	for (i = 0; i < clients; i++) {
		if (waitpid(pids[i], &status, 0) == -1 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed = 1;
	}
	close(ready[0]);
	for (i = 0; i < clients && !failed; i++) {
		sh = (struct lock_shared *)(area + stride * (size_t)i);
		for (k = 0; k < sh->n; k++)
			bench_add(b, sh->lat[k]);
		if (sh->total > total)
			total = sh->total;
	}
	munmap(area, size);
	if (failed) {
		fprintf(stderr, "bench_lock: a client failed\n");
		return (1);
	}
	b->total = total;
	printf("# %d client%s, acquire+release on a lock each; a call is a round trip\n",
	    clients, clients > 1 ? "s" : "");
	bench_report(b);
	return (0);
}

/* How many wait in line for NAME, as A sees it; -1 on error. */
static int
lock_waiters(struct conn *c, const struct lock_args *list, struct op_error *err)
{
	const msgpack_object *r, *ls, *w;
	msgpack_unpacked u;
	int n = -1;

	msgpack_unpacked_init(&u);
	if (conn_call(c, "lock_list", list->o, &u, &r, err) == 0) {
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
	struct lock_args a, aw, list;
	struct op_error err;
	struct conn c[2];
	struct fbuf fb;
	struct conn *hold, *wait;
	double t0, t1;
	uint64_t id;
	int k, turn = 0, tries;

	lock_connect(&c[0], sock, "bench-wake-a");
	lock_connect(&c[1], sock, "bench-wake-b");
	lock_args_make(&a, "name", "bench-wake", 0);
	lock_args_make(&aw, "name", "bench-wake", LOCK_WAKE_WAIT);
	lock_args_make(&list, "prefix", "bench-wake", 0);
	memset(&err, 0, sizeof err);
	if (lock_call(&c[0], "lock_acquire", &a, "acquired", &err) != 0)
		goto fail;
	b->start = t1 = bench_now();
	for (k = 0; !bench_done(b, t1); k++) {
		hold = &c[turn];
		wait = &c[1 - turn];
		id = ++wait->next_id;
		fbuf_init(&fb);
		client_pack_req(&fb, id, "lock_acquire");
		pk_object(&fb, aw.o);
		if (conn_send(wait, &fb) != 0) {
			fbuf_free(&fb);
			op_error_set(&err, ERR_UNAVAILABLE, NULL, "send: %s", strerror(errno));
			goto fail;
		}
		fbuf_free(&fb);
		for (tries = 0; lock_waiters(hold, &list, &err) != 1; tries++) {
			if (tries > 10000) {
				op_error_set(&err, ERR_TIMEOUT, NULL, "the waiter never queued");
				goto fail;
			}
		}
		t0 = bench_now();
		if (lock_call(hold, "lock_release", &a, "released", &err) != 0)
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
	lock_args_free(&a);
	lock_args_free(&aw);
	lock_args_free(&list);
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
		switch (ch) {
		case 'c':
			clients = atoi(optarg);
			break;
		case 'n':
			b.count = strtoul(optarg, NULL, 10);
			break;
		case 'S':
			sock = optarg;
			break;
		case 't':
			b.seconds = strtod(optarg, NULL);
			break;
		case 'w':
			wake = 1;
			break;
		default:
			goto usage;
		}
	}
	if (sock == NULL || clients < 1 || clients > LOCK_CLIENTS_MAX)
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
	fprintf(stderr, "usage: bench_lock -S SOCKET [-t SECONDS | -n COUNT] [-c CLIENTS] [-w]\n");
	return (64);
}
