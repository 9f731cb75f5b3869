/*
 * The database for the restore benchmark (DESIGN §9: 1 M notes restore in
 * under 2 s), and the check that a restored broker holds it.  run.sh
 * fills a broker, stops it, times a fresh batond on the same state
 * directory, then checks.
 *
 *	bench_restore -S SOCKET -n COUNT [-w WINDOW] fill
 *	bench_restore -S SOCKET -n COUNT check
 *
 * fill pipelines note_set requests on one connection: up to WINDOW of
 * them in flight, sent in groups of one write each, every answer read
 * and checked (written:true).  Notes are bench-restore/0000000... with a
 * 40-byte string value.  check reads the first, the last and 1000 notes
 * spread between with note_get and compares their values.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"

#define RESTORE_WINDOW 1024 /* requests in flight */
#define RESTORE_GROUP 128   /* requests per write */
#define RESTORE_RBUF (1 << 20)
#define RESTORE_TIMEOUT 30000 /* ms without an answer before giving up */
#define RESTORE_CHECKS 1000

/* Answers read straight from the socket: no copy or move per frame. */
struct restore_in {
	char *buf;
	size_t off, len;
};

static void
restore_key(char *buf, size_t size, size_t i)
{
	snprintf(buf, size, "bench-restore/%07zu", i);
}

static void
restore_value(char *buf, size_t size, size_t i)
{
	snprintf(buf, size, "note %07zu of the restore benchmark", i);
}

/* Pack note_set of note i and append the whole frame to out; -1 if it cannot. */
static int
restore_pack(msgpack_sbuffer *out, uint64_t id, size_t i)
{
	char key[64], val[64];
	struct fbuf fb;
	int rv;

	restore_key(key, sizeof key, i);
	restore_value(val, sizeof val, i);
	fbuf_init(&fb);
	client_req_open(&fb, id, "note_set");
	pk_map_open(&fb);
	pk_kstr(&fb, "key", key);
	pk_kstr(&fb, "value", val);
	pk_map_close(&fb);
	client_req_close(&fb);
	rv = fbuf_finish(&fb) == 0 && msgpack_sbuffer_write(out, fb.sb.data, fb.sb.size) == 0
	    ? 0
	    : -1;
	fbuf_free(&fb);
	return (rv);
}

/* Check one answer frame: a response whose r has written:true.  0, 1 for a push, -1. */
static int
restore_answer(const msgpack_object *f, struct op_error *err)
{
	const msgpack_object *r;
	int ok = 0, yes = 0;

	if (mp_frame_type(f) != FRAME_RES) {
		if (mp_frame_type(f) != FRAME_ERROR)
			return (1);
		op_error_set(err, ERR_PROTOCOL, NULL, "the broker sent an error frame");
		return (-1);
	}
	if (mp_bool(mp_get(f, "ok"), &ok) != 0 || !ok || (r = mp_get(f, "r")) == NULL ||
	    mp_bool(mp_get(r, "written"), &yes) != 0 || !yes) {
		op_error_set(err, ERR_CONFLICT, NULL,
		    "a note_set was not written (the broker "
		    "holds at most 1000000 notes: start from an empty state directory)");
		return (-1);
	}
	return (0);
}

/* Wait for the next whole answer and check it; 0 (one more answered) or -1. */
static int
restore_read(struct conn *c, struct restore_in *in, struct op_error *err)
{
	msgpack_unpacked u;
	struct pollfd pfd;
	const char *cause;
	ssize_t len, n;
	int r;

	for (;;) {
		len = frame_length(in->buf + in->off, in->len - in->off, FRAME_MAX_DEFAULT,
		    &cause);
		if (len < 0) {
			op_error_set(err, ERR_PROTOCOL, NULL, "bad frame: %s", cause);
			return (-1);
		}
		if (len > 0 && in->len - in->off >= FRAME_HDR + (size_t)len) {
			msgpack_unpacked_init(&u);
			if (frame_decode(in->buf + in->off + FRAME_HDR, (size_t)len, &u,
				&cause) != 0) {
				op_error_set(err, ERR_PROTOCOL, NULL, "bad frame: %s", cause);
				r = -1;
			} else
				r = restore_answer(&u.data, err);
			msgpack_unpacked_destroy(&u);
			in->off += FRAME_HDR + (size_t)len;
			if (r != 1)
				return (r);
			continue;
		}
		/* keep the partial frame, at the start of the buffer */
		memmove(in->buf, in->buf + in->off, in->len - in->off);
		in->len -= in->off;
		in->off = 0;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if ((r = poll(&pfd, 1, RESTORE_TIMEOUT)) <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			op_error_set(err, ERR_TIMEOUT, NULL, "no answer in %d ms",
			    RESTORE_TIMEOUT);
			return (-1);
		}
		if ((n = read(c->fd, in->buf + in->len, RESTORE_RBUF - in->len)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			op_error_set(err, ERR_UNAVAILABLE, NULL,
			    "the broker closed the connection");
			return (-1);
		}
		in->len += (size_t)n;
	}
}

/* Write notes 0..count-1 with up to window requests in flight. */
static int
restore_fill(struct conn *c, size_t count, size_t window)
{
	struct restore_in in = { xmalloc(RESTORE_RBUF), 0, 0 };
	msgpack_sbuffer out;
	struct op_error err;
	size_t sent = 0, done = 0, k;
	double t0 = bench_now(), t;

	memset(&err, 0, sizeof err);
	msgpack_sbuffer_init(&out);
	if (c->rlen > 0) { /* what came with the welcome */
		memcpy(in.buf, c->rbuf, c->rlen);
		in.len = c->rlen;
	}
	while (done < count) {
		while (sent < count && sent - done < window) {
			out.size = 0;
			for (k = 0; k < RESTORE_GROUP && sent < count && sent - done < window;
			     k++)
				if (restore_pack(&out, ++c->next_id, sent++) != 0) {
					op_error_set(&err, ERR_INTERNAL, NULL, "cannot pack");
					goto fail;
				}
			if (conn_send_bytes(c, out.data, out.size) != 0) {
				op_error_set(&err, ERR_UNAVAILABLE, NULL, "send: %s",
				    strerror(errno));
				goto fail;
			}
		}
		if (restore_read(c, &in, &err) != 0)
			goto fail;
		done++;
	}
	t = bench_now() - t0;
	printf("# filled %zu notes in %.2f s: %.0f/s (%zu in flight)\n", count, t,
	    (double)count / t, window);
	msgpack_sbuffer_destroy(&out);
	free(in.buf);
	return (0);
fail:
	fprintf(stderr, "bench_restore: fill: after %zu notes: %s\n", done, err.message);
	return (1);
}

/* note_get note i and compare its value; 0 or -1 with err. */
static int
restore_check_one(struct conn *c, size_t i, struct op_error *err)
{
	struct bench_args a;
	const msgpack_object *r;
	msgpack_unpacked u;
	char key[64], val[64];
	int rv;

	restore_key(key, sizeof key, i);
	restore_value(val, sizeof val, i);
	bench_args(&a, "bench_restore", "{\"key\":\"%s\"}", key);
	msgpack_unpacked_init(&u);
	rv = bench_conn_call(c, "note_get", &a, &u, &r, err);
	if (rv == 0 && !mp_streq(mp_get(r, "value"), val)) {
		op_error_set(err, ERR_NOT_FOUND, NULL, "note %s is missing or changed", key);
		rv = -1;
	}
	msgpack_unpacked_destroy(&u);
	bench_args_free(&a);
	return (rv);
}

/* Read the first, the last and RESTORE_CHECKS notes between. */
static int
restore_check(struct conn *c, size_t count)
{
	struct op_error err;
	size_t k, n = 0;

	memset(&err, 0, sizeof err);
	for (k = 0; k <= RESTORE_CHECKS + 1 && k < count; k++, n++) {
		if (restore_check_one(c,
			k == 0                   ? 0
			    : k > RESTORE_CHECKS ? count - 1
						 : k * (count / (RESTORE_CHECKS + 1)),
			&err) != 0) {
			fprintf(stderr, "bench_restore: check: %s\n", err.message);
			return (1);
		}
	}
	printf("# checked %zu of %zu notes, the first and the last among them\n", n, count);
	return (0);
}

int
main(int argc, char **argv)
{
	const char *sock = NULL;
	struct conn c;
	size_t count = 0, window = RESTORE_WINDOW;
	int ch, rv;

	while ((ch = getopt(argc, argv, "n:S:w:")) != -1) {
		switch (ch) {
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 'S': sock = optarg; break;
		case 'w': window = strtoul(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	if (sock == NULL || count == 0 || window == 0 || optind != argc - 1)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	bench_connect(&c, "bench_restore", sock, "bench-restore");
	if (strcmp(argv[optind], "fill") == 0)
		rv = restore_fill(&c, count, window);
	else if (strcmp(argv[optind], "check") == 0)
		rv = restore_check(&c, count);
	else
		goto usage;
	conn_close(&c);
	return (rv);
usage:
	fprintf(stderr, "usage: bench_restore -S SOCKET -n COUNT [-w WINDOW] fill|check\n");
	return (64);
}
