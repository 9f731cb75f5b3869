/*
 * Shared by the benchmarks that drive the broker through the shim's
 * client library (bench_mixed, bench_restore): connecting, arguments
 * written as JSON text, and calls whose answers are checked, so that a
 * figure is never taken from calls that failed.
 */
#ifndef BATON_BENCH_CLIENT_H
#define BATON_BENCH_CLIENT_H

#include <sys/mman.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>

#include "shim.h"

/* An arguments object decoded for conn_call, and the buffers it points into. */
struct bench_args {
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	const msgpack_object *o;
};

/* Connect to sock as agent, never starting a broker; exits 69 when there is none. */
static inline void
bench_connect(struct conn *c, const char *prog, const char *sock, const char *agent)
{
	struct client_opts o;
	struct op_error err;

	client_opts_default(&o);
	o.autostart = 0; /* measure the broker run.sh started */
	o.socket = sock;
	o.agent = agent;
	o.client_name = prog;
	memset(&err, 0, sizeof err);
	if (conn_open(c, &o, &err) != 0) {
		fprintf(stderr, "%s: %s\n", prog, err.message);
		exit(69);
	}
}

/* Build an arguments object from JSON text (a printf format); exits on bad text. */
static inline void printflike(3, 4)
    bench_args(struct bench_args *a, const char *prog, const char *fmt, ...)
{
	struct op_error err;
	va_list ap;
	cJSON *j;
	char *text;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1) {
		perror(prog);
		exit(1);
	}
	va_end(ap);
	msgpack_sbuffer_init(&a->sb);
	msgpack_unpacked_init(&a->u);
	memset(&err, 0, sizeof err);
	if ((j = cJSON_Parse(text)) == NULL ||
	    json_args_to_msgpack(j, &a->sb, &a->u, &a->o, &err) != 0) {
		fprintf(stderr, "%s: bad arguments %s: %s\n", prog, text,
		    j == NULL ? "not JSON" : err.message);
		exit(1);
	}
	cJSON_Delete(j);
	free(text);
}

static inline void
bench_args_free(struct bench_args *a)
{
	msgpack_unpacked_destroy(&a->u);
	msgpack_sbuffer_destroy(&a->sb);
}

/*
 * Change the integer under key in place: the args of a call repeated with
 * a new version cost no parsing.  The key must hold a non-negative integer.
 */
static inline void
bench_args_set(struct bench_args *a, const char *key, uint64_t v)
{
	msgpack_object *o = (msgpack_object *)(uintptr_t)mp_get(a->o, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		fprintf(stderr, "bench: no integer %s in the arguments\n", key);
		exit(1);
	}
	o->via.u64 = v;
}

/* Is o true, or a positive integer (stored in *v)? */
static inline int
bench_good(const msgpack_object *o, uint64_t *v)
{
	int64_t n;
	int yes;

	if (o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN)
		return (mp_bool(o, &yes) == 0 && yes);
	if (mp_int(o, &n) != 0 || n <= 0)
		return (0);
	*v = (uint64_t)n;
	return (1);
}

/* conn_call with a's object, packed again (bench_args_set may have changed it). */
static inline int
bench_conn_call(struct conn *c, const char *op, const struct bench_args *a, msgpack_unpacked *u,
    const msgpack_object **r, struct op_error *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rv;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (msgpack_pack_object(&pk, *a->o) != 0) {
		fprintf(stderr, "bench: cannot pack the arguments\n");
		exit(1);
	}
	rv = conn_call(c, op, sb.data, sb.size, u, r, err);
	msgpack_sbuffer_destroy(&sb);
	return (rv);
}

/*
 * One call; its result must hold key as true or as a positive integer, and
 * vkey (when not NULL) as a positive integer, stored in *v.  0, or -1 with
 * err.
 */
static inline int
bench_call(struct conn *c, const char *op, const struct bench_args *a, const char *key,
    const char *vkey, uint64_t *v, struct op_error *err)
{
	const msgpack_object *r;
	msgpack_unpacked u;
	uint64_t n = 0;
	int rv;

	msgpack_unpacked_init(&u);
	rv = bench_conn_call(c, op, a, &u, &r, err);
	if (rv == 0 && !bench_good(mp_get(r, key), &n)) {
		op_error_set(err, ERR_CONFLICT, NULL,
		    "%s answered %s: neither true nor a "
		    "positive integer",
		    op, key);
		rv = -1;
	} else if (rv == 0 && vkey != NULL && !bench_good(mp_get(r, vkey), v)) {
		op_error_set(err, ERR_CONFLICT, NULL, "%s answered no positive %s", op, vkey);
		rv = -1;
	}
	msgpack_unpacked_destroy(&u);
	return (rv);
}

#define BENCH_CLIENTS_MAX 256
#define BENCH_SAMPLES_ALL (1 << 22) /* shared by the clients of a run */

/* What a client process of bench_clients hands back to the parent. */
struct bench_shared {
	size_t n;
	double total;
	int failed;
	int started; /* passed bench_go */
	size_t cap;
	double lat[]; /* cap samples */
};

/*
 * The body of client i: connect and warm up, call bench_go(sh, ready, go),
 * then fill sh->lat until the run is over and set sh->total (or
 * sh->failed).
 */
typedef void bench_client_fn(int i, const struct bench *, struct bench_shared *sh, int ready,
    int go, void *arg);

/* Say this client is ready and wait for the start: the parent closes go. */
static inline int
bench_go(struct bench_shared *sh, int ready, int go)
{
	char ch;

	sh->started = 1;
	return (write(ready, "r", 1) == 1 && read(go, &ch, 1) == 0 ? 0 : -1);
}

/*
 * Run clients processes of fn at once, started together once every one is
 * ready; their samples go into b and b->total is the longest run.  0, or
 * 1 when a client failed.
 */
static inline int
bench_clients(struct bench *b, const char *prog, int clients, bench_client_fn *fn, void *arg)
{
	size_t cap = BENCH_SAMPLES_ALL / (size_t)clients;
	size_t stride = sizeof(struct bench_shared) + cap * sizeof(double);
	size_t size = stride * (size_t)clients, k;
	struct bench_shared *sh;
	pid_t pids[BENCH_CLIENTS_MAX];
	int ready[2], go[2], i, status, failed = 0;
	double total = 0;
	char *area, ch;

	area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || pipe(ready) != 0 || pipe(go) != 0) {
		perror(prog);
		return (1);
	}
	for (i = 0; i < clients; i++) {
		if ((pids[i] = fork()) == -1) {
			perror(prog);
			return (1);
		}
		if (pids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			sh = (struct bench_shared *)(void *)(area + stride * (size_t)i);
			sh->cap = cap;
			fn(i, b, sh, ready[1], go[0], arg);
			/* one that failed before the start must not leave the parent waiting */
			if (!sh->started && write(ready[1], "f", 1) != 1)
				_exit(1);
			_exit(sh->failed);
		}
	}
	close(ready[1]);
	close(go[0]);
	for (i = 0; i < clients; i++) {
		if (read(ready[0], &ch, 1) != 1 || ch != 'r') {
			fprintf(stderr, "%s: a client did not get ready\n", prog);
			for (i = 0; i < clients; i++)
				kill(pids[i], SIGTERM);
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
		sh = (struct bench_shared *)(void *)(area + stride * (size_t)i);
		for (k = 0; k < sh->n; k++)
			bench_add(b, sh->lat[k]);
		if (sh->total > total)
			total = sh->total;
	}
	munmap(area, size);
	if (failed) {
		fprintf(stderr, "%s: a client failed\n", prog);
		return (1);
	}
	b->total = total;
	return (0);
}

#endif /* BATON_BENCH_CLIENT_H */
