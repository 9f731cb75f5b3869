/*
 * libFuzzer target for the broker's input path: arbitrary bytes as a
 * stream of frames (reassembly with frame_length), each payload through
 * frame_decode, every decoded object through the mp_* readers, and any
 * "a" map through op_validate for every operation.  The input is also
 * tried as one bare payload, which reaches the decoder far more often.
 *
 * Beyond "no crash, no sanitizer report", one invariant is checked:
 * whatever frame_check accepts, msgpack-c decodes completely.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fuzz.h"

/* Touch every node with every reader, as handlers do with what they get. */
static void
fuzz_walk(const msgpack_object *o, int depth)
{
	const char *s;
	size_t n;
	int64_t i;
	double d;
	int b;
	uint32_t k;
	char *dup;

	(void)mp_int(o, &i);
	(void)mp_num(o, &d);
	(void)mp_bool(o, &b);
	if (mp_str(o, &s, &n) == 0 && n > 0)
		(void)mp_streq(o, "lock_acquire");
	if ((dup = mp_strdup(o)) != NULL)
		free(dup);
	if (depth > FRAME_MAX_DEPTH + 1)
		abort(); /* frame_check let something too deep through */
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		for (k = 0; k < o->via.array.size; k++)
			fuzz_walk(&o->via.array.ptr[k], depth + 1);
	} else if (o->type == MSGPACK_OBJECT_MAP) {
		(void)mp_get(o, "t");
		(void)mp_get(o, "id");
		for (k = 0; k < o->via.map.size; k++) {
			fuzz_walk(&o->via.map.ptr[k].key, depth + 1);
			fuzz_walk(&o->via.map.ptr[k].val, depth + 1);
		}
	}
}

/* What the broker does with one decoded request. */
static void
fuzz_request(const msgpack_object *frame)
{
	const msgpack_object *out[OP_MAX_ARGS], *a;
	const struct op *op;
	struct op_error err;
	const char *s;
	size_t n, i;
	int64_t id;

	(void)mp_frame_type(frame);
	(void)mp_int(mp_get(frame, "id"), &id);
	a = mp_get(frame, "a");
	if (mp_str(mp_get(frame, "op"), &s, &n) == 0 && (op = op_find(s, n)) != NULL) {
		memset(&err, 0, sizeof err);
		(void)op_validate(op, a, out, &err);
	}
	if (a == NULL)
		return;
	for (i = 0; i < OP_COUNT; i++) {
		memset(&err, 0, sizeof err);
		if (op_validate(&ops[i], a, out, &err) != 0 &&
		    (err.code == NULL || memchr(err.field, '\0', sizeof err.field) == NULL))
			abort(); /* a refusal must say what and where */
	}
}

/* One payload, in an exact-size copy so that ASan sees overreads. */
static void
fuzz_payload(const uint8_t *data, size_t len)
{
	msgpack_unpacked u;
	const char *cause = NULL;
	unsigned char *p;
	size_t off = 0;
	int checked;

	if ((p = malloc(len == 0 ? 1 : len)) == NULL)
		abort();
	if (len != 0)
		memcpy(p, data, len);

	checked = frame_check(p, len, &cause);
	if (checked != 0 && cause == NULL)
		abort();
	if (checked == 0) {
		msgpack_unpacked_init(&u);
		if (msgpack_unpack_next(&u, (const char *)p, len, &off) !=
			MSGPACK_UNPACK_SUCCESS ||
		    off != len)
			abort(); /* frame_check and msgpack-c disagree */
		msgpack_unpacked_destroy(&u);
	}

	msgpack_unpacked_init(&u);
	if (frame_decode(p, len, &u, &cause) == 0) {
		if (checked != 0 || u.data.type != MSGPACK_OBJECT_MAP)
			abort();
		fuzz_walk(&u.data, 1);
		fuzz_request(&u.data);
	}
	msgpack_unpacked_destroy(&u);
	free(p);
}

/* The input as a byte stream, reassembled as a reader of the socket would. */
static void
fuzz_stream(const uint8_t *data, size_t size)
{
	const char *cause = NULL;
	ssize_t flen;
	size_t off = 0;

	while (off < size) {
		flen = frame_length(data + off, size - off, FRAME_MAX_DEFAULT, &cause);
		if (flen < 0) {
			if (cause == NULL)
				abort();
			return; /* the peer is dropped */
		}
		if (flen == 0 || size - off - FRAME_HDR < (size_t)flen)
			return; /* incomplete: wait for more */
		fuzz_payload(data + off + FRAME_HDR, (size_t)flen);
		off += FRAME_HDR + (size_t)flen;
	}
}

/* A request frame for op with the args a builder packs. */
static void
fuzz_seed_req(const char *dir, const char *name, const char *op, int nargs,
    void (*args)(struct fbuf *))
{
	struct fbuf fb;

	fbuf_init(&fb);
	pk_map(&fb, 4);
	pk_kint(&fb, "t", FRAME_REQ);
	pk_kint(&fb, "id", 1);
	pk_kstr(&fb, "op", op);
	pk_str(&fb, "a");
	pk_map(&fb, (size_t)nargs);
	args(&fb);
	if (fbuf_finish(&fb) == 0) {
		fuzz_seed_write(dir, name, fb.sb.data, fb.sb.size);
		fuzz_seed_write(dir, name + 1, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR);
	}
	fbuf_free(&fb);
}

static void
fuzz_args_acquire(struct fbuf *fb)
{
	pk_kstr(fb, "name", "db");
	pk_kstr(fb, "mode", "shared");
	pk_kdouble(fb, "wait_seconds", 1.5);
	pk_kint(fb, "ttl_seconds", 60);
}

static void
fuzz_args_names(struct fbuf *fb)
{
	pk_str(fb, "names");
	pk_array(fb, 2);
	pk_str(fb, "a");
	pk_str(fb, "file:src/x.c");
	pk_kstr(fb, "reason", "why");
	pk_kbool(fb, "x", 1);
}

static void
fuzz_args_release(struct fbuf *fb)
{
	pk_kstr(fb, "name", "db");
	pk_kstr(fb, "token", "0123456789abcdef0123456789abcdef");
	pk_kuint(fb, "big", UINT64_MAX);
	pk_kstr(fb, "nil", NULL);
}

/* With FUZZ_SEED_DIR set, write a starting corpus built with the real packer. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_SEED_DIR");

	(void)argc;
	(void)argv;
	if (dir == NULL)
		return (0);
	fuzz_seed_req(dir, "Facquire", "lock_acquire", 4, fuzz_args_acquire);
	fuzz_seed_req(dir, "Fnames", "lock_acquire", 3, fuzz_args_names);
	fuzz_seed_req(dir, "Frelease", "lock_release", 4, fuzz_args_release);
	/* two frames back to back, the second cut short */
	fuzz_seed_write(dir, "stream", "\0\0\0\x04\x81\xa1t\x05\0\0\0\x09\x82\xa1t\x03\xa2id",
	    19);
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_payload(data, size);
	fuzz_stream(data, size);
	return (0);
}
