/*
 * status round trips over the real broker protocol, through the shim's
 * client library (conn_open, conn_call): what an agent's cheapest call
 * costs, to set against bench_echo's raw baseline.
 *
 *	bench_status -S SOCKET [-t SECONDS | -n COUNT]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"
#include "bench.h"

/* One status call; 0 or -1 with err. */
static int
status_call(struct conn *c, struct op_error *err)
{
	const msgpack_object *r;
	msgpack_unpacked u;
	int64_t pid;
	int rv;

	msgpack_unpacked_init(&u);
	rv = conn_call(c, "status", NULL, 0, &u, &r, err);
	if (rv == 0 && mp_int(mp_get(r, "pid"), &pid) != 0) {
		op_error_set(err, ERR_PROTOCOL, NULL, "status result without pid");
		rv = -1;
	}
	msgpack_unpacked_destroy(&u);
	return (rv);
}

int
main(int argc, char **argv)
{
	struct client_opts o;
	struct op_error err;
	struct bench b;
	struct conn c;
	double t0, t1;
	int ch, i;

	bench_init(&b, "status");
	client_opts_default(&o);
	o.autostart = 0; /* measure the broker run.sh started, never start one */
	o.agent = "bench";
	o.client_name = "bench_status";
	while ((ch = getopt(argc, argv, "n:S:t:")) != -1) {
		switch (ch) {
		case 'n': b.count = strtoul(optarg, NULL, 10); break;
		case 'S': o.socket = optarg; break;
		case 't': b.seconds = strtod(optarg, NULL); break;
		default:
			fprintf(stderr,
			    "usage: bench_status -S SOCKET [-t SECONDS | -n COUNT]\n");
			return (64);
		}
	}
	memset(&err, 0, sizeof err);
	if (conn_open(&c, &o, &err) != 0) {
		fprintf(stderr, "bench_status: %s\n", err.message);
		return (69);
	}
	for (i = 0; i < BENCH_WARMUP; i++) {
		if (status_call(&c, &err) != 0)
			goto fail;
	}
	b.start = t1 = bench_now();
	while (!bench_done(&b, t1)) {
		t0 = bench_now();
		if (status_call(&c, &err) != 0)
			goto fail;
		t1 = bench_now();
		bench_add(&b, (t1 - t0) * 1e6);
	}
	b.total = t1 - b.start;
	conn_close(&c);
	bench_report(&b);
	return (0);
fail:
	fprintf(stderr, "bench_status: status failed: %s\n", err.message);
	conn_close(&c);
	return (1);
}
