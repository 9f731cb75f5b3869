/*
 * Unit tests of the frame codec (common/frame.c) and the msgpack readers
 * (common/mp.c).  Every payload that must be refused is copied into a
 * buffer of exactly its size first, so that ASan sees any read past it.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "tap.h"

/* A payload literal and its length (the literal's NUL excluded). */
#define P(s) (const unsigned char *)(s), sizeof(s) - 1

/* One decoded frame, copied out before its buffer moves. */
struct seen {
	int type;
	int64_t id;
};

/* A stream reader as the broker and the client have one. */
struct reader {
	unsigned char *buf;
	size_t len, size;
	struct seen got[16];
	int ngot;
	int failed; /* a frame was refused: the peer would be dropped */
	const char *cause;
};

/* An exact-size heap copy, so that ASan catches a read past the end. */
static unsigned char *
dup_exact(const void *p, size_t n)
{
	unsigned char *q = malloc(n == 0 ? 1 : n);

	if (q == NULL)
		abort();
	if (n != 0)
		memcpy(q, p, n);
	return (q);
}

/*
 * Append bytes and decode every complete frame.  The length header is
 * judged before the buffer grows for the payload, as a real reader must.
 */
static void
reader_feed(struct reader *r, const unsigned char *p, size_t n)
{
	msgpack_unpacked u;
	ssize_t flen;
	int64_t id;

	if (r->failed || n == 0)
		return;
	if (r->len + n > r->size) {
		r->size = r->len + n;
		if ((r->buf = realloc(r->buf, r->size)) == NULL)
			abort();
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	for (;;) {
		flen = frame_length(r->buf, r->len, FRAME_MAX_DEFAULT, &r->cause);
		if (flen < 0) {
			r->failed = 1;
			return;
		}
		if (flen == 0 || r->len < FRAME_HDR + (size_t)flen)
			return;
		msgpack_unpacked_init(&u);
		if (frame_decode(r->buf + FRAME_HDR, (size_t)flen, &u, &r->cause) != 0) {
			msgpack_unpacked_destroy(&u);
			r->failed = 1;
			return;
		}
		if (r->ngot < (int)nitems(r->got)) {
			r->got[r->ngot].type = mp_frame_type(&u.data);
			r->got[r->ngot].id = mp_int(mp_get(&u.data, "id"), &id) == 0 ? id : -1;
			r->ngot++;
		}
		msgpack_unpacked_destroy(&u);
		r->len -= FRAME_HDR + (size_t)flen;
		memmove(r->buf, r->buf + FRAME_HDR + flen, r->len);
	}
}

static void
reader_free(struct reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof *r);
}

/* Frames of every type, as the peers send them. */
static void
build_hello(struct fbuf *fb)
{
	pk_map(fb, 8);
	pk_kint(fb, "t", FRAME_HELLO);
	pk_kint(fb, "v", PROTO_VERSION);
	pk_kstr(fb, "kind", "cli");
	pk_kstr(fb, "agent", "tester");
	pk_kstr(fb, "role", NULL);
	pk_kstr(fb, "project", "/tmp/p");
	pk_kint(fb, "pid", 4242);
	pk_str(fb, "client");
	pk_map(fb, 2);
	pk_kstr(fb, "name", "unit");
	pk_kstr(fb, "version", "0.0");
}

static void
build_req(struct fbuf *fb)
{
	pk_map(fb, 4);
	pk_kint(fb, "t", FRAME_REQ);
	pk_kint(fb, "id", 7);
	pk_kstr(fb, "op", "lock_acquire");
	pk_str(fb, "a");
	pk_map(fb, 3);
	pk_str(fb, "names");
	pk_array(fb, 2);
	pk_str(fb, "db");
	pk_str(fb, "file:src/a.c");
	pk_kdouble(fb, "wait_seconds", 2.5);
	pk_kbool(fb, "x", 1);
}

static void
build_res(struct fbuf *fb)
{
	pk_map(fb, 4);
	pk_kint(fb, "t", FRAME_RES);
	pk_kuint(fb, "id", 8);
	pk_kbool(fb, "ok", 0);
	pk_str(fb, "e");
	pk_map(fb, 3);
	pk_kstr(fb, "code", ERR_INVALID);
	pk_kstr(fb, "message", "mode must be one of exclusive|shared");
	pk_kstr(fb, "field", "mode");
}

static void
build_cancel(struct fbuf *fb)
{
	pk_map(fb, 2);
	pk_kint(fb, "t", FRAME_CANCEL);
	pk_kint(fb, "id", 9);
}

static const struct {
	const char *name;
	void (*build)(struct fbuf *);
	int type;
	int64_t id;
} frames[] = {
	{ "hello", build_hello, FRAME_HELLO, -1 },
	{ "req", build_req, FRAME_REQ, 7 },
	{ "res", build_res, FRAME_RES, 8 },
	{ "cancel", build_cancel, FRAME_CANCEL, 9 },
};

/* Build every frame of the table into one stream. */
static unsigned char *
build_stream(size_t *len, size_t *ends)
{
	unsigned char *s = NULL;
	struct fbuf fb;
	size_t i;

	*len = 0;
	for (i = 0; i < nitems(frames); i++) {
		fbuf_init(&fb);
		frames[i].build(&fb);
		if (fbuf_finish(&fb) != 0)
			abort();
		if ((s = realloc(s, *len + fb.sb.size)) == NULL)
			abort();
		memcpy(s + *len, fb.sb.data, fb.sb.size);
		*len += fb.sb.size;
		ends[i] = *len;
		fbuf_free(&fb);
	}
	return (s);
}

/* Did the reader see exactly the first n frames of the table, in order? */
static int
reader_saw(const struct reader *r, int n)
{
	int i;

	if (r->failed || r->ngot != n)
		return (0);
	for (i = 0; i < n; i++) {
		if (r->got[i].type != frames[i].type || r->got[i].id != frames[i].id)
			return (0);
	}
	return (1);
}

/*
 * time_iso writes its digits by hand: every instant gives what strftime
 * and snprintf give (before the epoch, the ends of year 9999, after).
 */
static void
test_time_iso(void)
{
	static const int64_t at[] = { 0, 1, 999, 1000, -1, -999, -1000, -1001, 1796005352123LL,
		951782400000LL, 253402300799999LL, 253402300800000LL, -62167219200000LL,
		-62167219200001LL };
	char got[TIME_ISO_LEN], want[TIME_ISO_LEN];
	struct tm tm;
	time_t t;
	size_t i, n, bad = 0;
	int64_t ms;

	for (i = 0; i < nitems(at) + 2000; i++) {
		ms = i < nitems(at)
		    ? at[i]
		    : (int64_t)(i * 987654321013ULL % 400000000000000ULL) - 100000000000000LL;
		t = (time_t)(ms / 1000);
		if (gmtime_r(&t, &tm) == NULL)
			continue;
		n = strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want + n, sizeof want - n, ".%03dZ",
		    (int)(ms % 1000 + (ms < 0 ? 1000 : 0)) % 1000);
		if (strcmp(time_iso(ms, got, sizeof got), want) != 0 && bad++ == 0)
			diag("time_iso(%lld) is %s, strftime says %s", (long long)ms, got,
			    want);
	}
	ok(bad == 0, "time_iso writes what strftime writes");
}

/*
 * pk_strn writes short strings straight into the buffer: every length
 * class and every amount of room left (from none to plenty) gives the
 * bytes msgpack's own packer gives.
 */
static void
test_pk_strn(void)
{
	static const size_t lens[] = { 0, 1, 31, 32, 255, 256, 65535, 65536, 70000 };
	msgpack_sbuffer want;
	msgpack_packer pk;
	struct fbuf fb;
	char *s;
	size_t i, pad, bad = 0;

	s = xmalloc(70000);
	for (i = 0; i < 70000; i++)
		s[i] = (char)('a' + i % 26);
	for (i = 0; i < nitems(lens); i++) {
		for (pad = 0; pad < 8200; pad += pad < 40 ? 1 : 997) {
			fbuf_init(&fb);
			msgpack_sbuffer_init(&want);
			msgpack_packer_init(&pk, &want, msgpack_sbuffer_write);
			/* fill the buffer to pad bytes past the header, both sides */
			if (pad > 0) { /* msgpack copies even 0 bytes into a NULL buffer */
				msgpack_sbuffer_write(&fb.sb, s, pad);
				msgpack_sbuffer_write(&want, s, pad);
			}
			pk_strn(&fb, s, lens[i]);
			pk_strn(&fb, "tail", 4);
			msgpack_pack_str(&pk, lens[i]);
			msgpack_pack_str_body(&pk, s, lens[i]);
			msgpack_pack_str(&pk, 4);
			msgpack_pack_str_body(&pk, "tail", 4);
			if (fb.err || fb.sb.size != FRAME_HDR + want.size ||
			    memcmp(fb.sb.data + FRAME_HDR, want.data, want.size) != 0) {
				if (bad++ == 0)
					diag("length %zu after %zu bytes: %zu bytes packed, "
					     "msgpack "
					     "packs %zu",
					    lens[i], pad, fb.sb.size - FRAME_HDR, want.size);
			}
			fbuf_free(&fb);
			msgpack_sbuffer_destroy(&want);
		}
	}
	free(s);
	ok(bad == 0, "pk_strn packs every length as msgpack does, whatever room is left");
}

static void
test_roundtrip(void)
{
	struct fbuf fb;
	msgpack_unpacked u;
	const msgpack_object *a, *names;
	const char *cause = NULL, *s;
	size_t n;
	int64_t i;
	double d;
	int b;

	fbuf_init(&fb);
	build_req(&fb);
	ok(fbuf_finish(&fb) == 0, "fbuf_finish accepts a request frame");
	ok(frame_length(fb.sb.data, fb.sb.size, FRAME_MAX_DEFAULT, &cause) ==
		(ssize_t)(fb.sb.size - FRAME_HDR),
	    "header holds the payload length");
	msgpack_unpacked_init(&u);
	ok(frame_decode(fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, &u, &cause) == 0,
	    "request frame decodes");
	ok(mp_frame_type(&u.data) == FRAME_REQ, "frame type is req");
	ok(mp_int(mp_get(&u.data, "id"), &i) == 0 && i == 7, "id reads back");
	ok(mp_streq(mp_get(&u.data, "op"), "lock_acquire"), "op reads back");
	a = mp_get(&u.data, "a");
	names = mp_get(a, "names");
	ok(names != NULL && names->type == MSGPACK_OBJECT_ARRAY && names->via.array.size == 2 &&
		mp_str(&names->via.array.ptr[1], &s, &n) == 0 && n == 12 &&
		memcmp(s, "file:src/a.c", n) == 0,
	    "nested array of strings reads back");
	ok(mp_num(mp_get(a, "wait_seconds"), &d) == 0 && d == 2.5, "double reads back");
	ok(mp_bool(mp_get(a, "x"), &b) == 0 && b == 1, "bool reads back");
	msgpack_unpacked_destroy(&u);
	fbuf_free(&fb);
}

static void
test_stream(void)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 7, 64, 4096 };
	struct reader r;
	unsigned char *s;
	size_t len, ends[nitems(frames)], off, c, k, i, bad;

	s = build_stream(&len, ends);

	memset(&r, 0, sizeof r);
	reader_feed(&r, s, len);
	ok(reader_saw(&r, nitems(frames)), "%zu frames fed whole decode in order",
	    nitems(frames));
	reader_free(&r);

	for (c = 0; c < nitems(chunks); c++) {
		memset(&r, 0, sizeof r);
		for (off = 0; off < len; off += k) {
			k = len - off < chunks[c] ? len - off : chunks[c];
			reader_feed(&r, s + off, k);
		}
		ok(reader_saw(&r, nitems(frames)) && r.len == 0,
		    "stream fed %zu byte(s) at a time decodes every frame", chunks[c]);
		reader_free(&r);
	}

	/* Every prefix of the stream: only whole frames come out, no error. */
	bad = 0;
	for (k = 0; k <= len; k++) {
		unsigned char *p = dup_exact(s, k);
		int want = 0;

		for (i = 0; i < nitems(frames); i++)
			if (ends[i] <= k)
				want = (int)i + 1;
		memset(&r, 0, sizeof r);
		reader_feed(&r, p, k);
		if (!reader_saw(&r, want)) {
			if (bad++ == 0)
				diag("prefix of %zu bytes: %d frames, failed %d (%s)", k,
				    r.ngot, r.failed, r.cause ? r.cause : "");
		}
		reader_free(&r);
		free(p);
	}
	ok(bad == 0, "every prefix of the stream yields its whole frames and waits");
	free(s);
}

/* Truncating a payload anywhere is refused by frame_check and frame_decode. */
static void
test_truncated(void)
{
	struct fbuf fb;
	msgpack_unpacked u;
	const char *cause;
	size_t i, k, plen, bad;
	unsigned char *p;

	for (i = 0; i < nitems(frames); i++) {
		fbuf_init(&fb);
		frames[i].build(&fb);
		if (fbuf_finish(&fb) != 0)
			abort();
		plen = fb.sb.size - FRAME_HDR;
		bad = 0;
		for (k = 0; k < plen; k++) {
			p = dup_exact(fb.sb.data + FRAME_HDR, k);
			cause = NULL;
			if (frame_check(p, k, &cause) != -1 || cause == NULL)
				bad++;
			msgpack_unpacked_init(&u);
			if (frame_decode(p, k, &u, &cause) != -1)
				bad++;
			msgpack_unpacked_destroy(&u);
			free(p);
		}
		ok(bad == 0, "%s payload truncated at each of %zu lengths is refused",
		    frames[i].name, plen);
		fbuf_free(&fb);
	}
}

static void
test_frame_length(void)
{
	static const struct {
		const char *name;
		unsigned char hdr[4];
		size_t have;
		ssize_t want;
	} t[] = {
		{ "no bytes yet", { 0, 0, 0, 5 }, 0, 0 },
		{ "3 header bytes", { 0, 0, 0, 5 }, 3, 0 },
		{ "length 5", { 0, 0, 0, 5 }, 4, 5 },
		{ "zero length", { 0, 0, 0, 0 }, 4, -1 },
		{ "exactly the maximum", { 0, 0x10, 0, 0 }, 4, FRAME_MAX_DEFAULT },
		{ "maximum + 1", { 0, 0x10, 0, 1 }, 4, -1 },
		{ "0x7fffffff", { 0x7f, 0xff, 0xff, 0xff }, 4, -1 },
		{ "0xffffffff", { 0xff, 0xff, 0xff, 0xff }, 4, -1 },
	};
	const char *cause;
	unsigned char *p;
	ssize_t got;
	size_t i;

	for (i = 0; i < nitems(t); i++) {
		p = dup_exact(t[i].hdr, t[i].have);
		cause = NULL;
		got = frame_length(p, t[i].have, FRAME_MAX_DEFAULT, &cause);
		ok(got == t[i].want && (got != -1 || cause != NULL),
		    "frame_length, %s, from the header alone: %zd", t[i].name, got);
		free(p);
	}
	cause = NULL;
	ok(frame_length("\0\0\0\x09", 4, 8, &cause) == -1 && cause != NULL,
	    "frame_length honours a smaller maximum");
}

/* Payloads judged by frame_check; then frame_decode, which wants a map. */
static void
test_check_table(void)
{
	static const struct {
		const char *name;
		const unsigned char *p;
		size_t len;
		int check;  /* frame_check result */
		int decode; /* frame_decode result */
	} t[] = {
		{ "empty map", P("\x80"), 0, 0 },
		{ "{t:3}", P("\x81\xa1t\x03"), 0, 0 },
		{ "empty payload", P(""), -1, -1 },
		{ "array32 of 2^32-1 in 5 bytes", P("\xdd\xff\xff\xff\xff"), -1, -1 },
		{ "map32 of 2^32-1 in 5 bytes", P("\xdf\xff\xff\xff\xff"), -1, -1 },
		{ "str32 of 2^32-1 in 5 bytes", P("\xdb\xff\xff\xff\xff"), -1, -1 },
		{ "bin32 of 2^32-1 in 5 bytes", P("\xc6\xff\xff\xff\xff"), -1, -1 },
		{ "array16 of 65535 in 3 bytes", P("\xdc\xff\xff"), -1, -1 },
		{ "map16 of 65535 in 3 bytes", P("\xde\xff\xff"), -1, -1 },
		{ "str8 of 255 in 2 bytes", P("\xd9\xff"), -1, -1 },
		{ "bin8 of 3 with 2 bytes",
		    P("\xc4\x03"
		      "ab"),
		    -1, -1 },
		{ "map32 header cut short", P("\xdf\x00\x00"), -1, -1 },
		{ "map of 1 inside a map32 of 2^31", P("\xdf\x80\x00\x00\x00\x81\x01\x02"), -1,
		    -1 },
		{ "fixarray of 15 with 14 elements",
		    P("\x9f\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e"), -1, -1 },
		{ "fixmap with a key and no value", P("\x81\xa1k"), -1, -1 },
		{ "map with a value cut short", P("\x81\xa1k\xcd\x01"), -1, -1 },
		{ "uint64 cut short", P("\x81\xa1k\xcf\x00\x00\x00"), -1, -1 },
		{ "float64 cut short", P("\x81\xa1k\xcb\x00"), -1, -1 },
		{ "fixext1", P("\xd4\x01\x00"), -1, -1 },
		{ "fixext16 inside a map",
		    P("\x81\xa1k\xd8\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
		      "\x00\x00\x00"),
		    -1, -1 },
		{ "ext8", P("\xc7\x01\x01\x00"), -1, -1 },
		{ "ext32", P("\xc9\x00\x00\x00\x01\x01\x00"), -1, -1 },
		{ "0xc1 (never used)", P("\xc1"), -1, -1 },
		{ "0xc1 as a map value", P("\x81\xa1k\xc1"), -1, -1 },
		{ "trailing byte after a map", P("\x80\x00"), -1, -1 },
		{ "two maps in one frame", P("\x81\xa1t\x03\x81\xa1t\x03"), -1, -1 },
		{ "top-level array", P("\x92\x01\x02"), 0, -1 },
		{ "top-level string",
		    P("\xa3"
		      "abc"),
		    0, -1 },
		{ "top-level nil", P("\xc0"), 0, -1 },
		{ "top-level int", P("\x2a"), 0, -1 },
		{ "top-level empty array", P("\x90"), 0, -1 },
		{ "map with every scalar type",
		    P("\x89\x00\xc0\x01\xc2\x02\xc3\x03\xff\x04\xd3\x80\x00\x00\x00\x00\x00\x00"
		      "\x00"
		      "\x05\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\x06\xca\x3f\xc0\x00\x00"
		      "\x07\xc4\x02\x00\x01\x08\xd9\x01z"),
		    0, 0 },
		{ "map with empty containers",
		    P("\x82\xa1"
		      "a\x90\xa1m\x80"),
		    0, 0 },
		{ "str16 of 3", P("\x81\xa1k\xda\x00\x03xyz"), 0, 0 },
		{ "non-string map keys", P("\x82\x01\x02\x90\x03"), 0, 0 },
	};
	msgpack_unpacked u;
	const char *cause;
	unsigned char *p;
	int r;
	size_t i;

	for (i = 0; i < nitems(t); i++) {
		p = dup_exact(t[i].p, t[i].len);
		cause = NULL;
		r = frame_check(p, t[i].len, &cause);
		ok(r == t[i].check && (r == 0 || cause != NULL), "frame_check %s: %s",
		    t[i].check ? "refuses" : "accepts", t[i].name);
		if (r != t[i].check)
			diag("got %d (%s)", r, cause ? cause : "no cause");
		msgpack_unpacked_init(&u);
		cause = NULL;
		r = frame_decode(p, t[i].len, &u, &cause);
		ok(r == t[i].decode && (r == 0 || cause != NULL), "frame_decode %s: %s",
		    t[i].decode ? "refuses" : "accepts", t[i].name);
		msgpack_unpacked_destroy(&u);
		free(p);
	}
}

/*
 * Nesting: n maps, each {"k": <next>}, the innermost {"k": 1} or
 * {"k": []}.  msgpack-c counts an empty container against its stack of
 * 32 too, so 32 maps around an empty array are one level too many.
 */
static unsigned char *
build_nested(size_t n, int empty_inside, size_t *len)
{
	unsigned char *p;
	size_t i, off = 0;

	if ((p = malloc(3 * n + 2)) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		p[off++] = 0x81;
		p[off++] = 0xa1;
		p[off++] = 'k';
	}
	p[off++] = empty_inside ? 0x90 : 0x01;
	*len = off;
	return (p);
}

static void
test_depth(void)
{
	static const struct {
		size_t depth;
		int empty_inside;
		int want;
	} t[] = {
		{ 1, 0, 0 },
		{ FRAME_MAX_DEPTH - 1, 0, 0 },
		{ FRAME_MAX_DEPTH, 0, 0 },
		{ FRAME_MAX_DEPTH - 1, 1, 0 },
		{ FRAME_MAX_DEPTH, 1, -1 },
		{ FRAME_MAX_DEPTH + 1, 0, -1 },
		{ 1000, 0, -1 },
	};
	msgpack_unpacked u;
	const msgpack_object *o;
	const char *cause;
	unsigned char *p;
	size_t i, len, d;
	int r;

	for (i = 0; i < nitems(t); i++) {
		p = build_nested(t[i].depth, t[i].empty_inside, &len);
		cause = NULL;
		ok(frame_check(p, len, &cause) == t[i].want, "frame_check %s %zu nested maps%s",
		    t[i].want ? "refuses" : "accepts", t[i].depth,
		    t[i].empty_inside ? " around an empty array" : "");
		msgpack_unpacked_init(&u);
		r = frame_decode(p, len, &u, &cause);
		if (t[i].want == 0) {
			/* msgpack-c agrees: the whole tree is there */
			for (o = &u.data, d = 0;
			     r == 0 && o != NULL && o->type == MSGPACK_OBJECT_MAP; d++)
				o = mp_get(o, "k");
			ok(r == 0 && d == t[i].depth && o != NULL,
			    "frame_decode yields all %zu levels", t[i].depth);
		} else
			ok(r == -1 && cause != NULL && strstr(cause, "deep") != NULL,
			    "frame_decode refuses %zu levels: %s", t[i].depth,
			    cause ? cause : "");
		msgpack_unpacked_destroy(&u);
		free(p);
	}
}

/* A map of values of every kind, to try the readers on. */
static void
build_values(struct fbuf *fb)
{
	pk_map(fb, 16);
	pk_kstr(fb, "s", "abc");
	pk_kint(fb, "neg", -5);
	pk_kuint(fb, "u63", (uint64_t)1 << 63);
	pk_kint(fb, "max", INT64_MAX);
	pk_kint(fb, "min", INT64_MIN);
	pk_kdouble(fb, "f", 1.5);
	pk_kdouble(fb, "fint", 3.0);
	pk_kdouble(fb, "f2p60", 1152921504606846976.0);
	pk_kdouble(fb, "nan", NAN);
	pk_kdouble(fb, "inf", INFINITY);
	pk_kbool(fb, "b", 1);
	pk_kstr(fb, "n", NULL);
	pk_str(fb, "a");
	pk_array(fb, 1);
	pk_int(fb, 1);
	pk_str(fb, "m");
	pk_map(fb, 0);
	pk_str(fb, "nul");
	pk_strn(fb, "a\0b", 3);
	pk_kstr(fb, "empty", "");
}

static void
test_accessors(void)
{
	enum { INT, NUM, STR, BOOL };
	static const struct {
		const char *key;
		int fn;
		int want;
		double value; /* when want == 0 */
	} t[] = {
		{ "neg", INT, 0, -5 },
		{ "max", INT, 0, (double)INT64_MAX },
		{ "min", INT, 0, (double)INT64_MIN },
		{ "u63", INT, -1, 0 },
		{ "fint", INT, 0, 3 },
		{ "f", INT, -1, 0 },
		{ "f2p60", INT, -1, 0 },
		{ "nan", INT, -1, 0 },
		{ "inf", INT, -1, 0 },
		{ "s", INT, -1, 0 },
		{ "b", INT, -1, 0 },
		{ "n", INT, -1, 0 },
		{ "a", INT, -1, 0 },
		{ "missing", INT, -1, 0 },
		{ "neg", NUM, 0, -5 },
		{ "u63", NUM, 0, 9223372036854775808.0 },
		{ "f", NUM, 0, 1.5 },
		{ "nan", NUM, -1, 0 },
		{ "inf", NUM, -1, 0 },
		{ "s", NUM, -1, 0 },
		{ "b", NUM, -1, 0 },
		{ "n", NUM, -1, 0 },
		{ "m", NUM, -1, 0 },
		{ "s", STR, 0, 3 },
		{ "empty", STR, 0, 0 },
		{ "nul", STR, 0, 3 },
		{ "neg", STR, -1, 0 },
		{ "n", STR, -1, 0 },
		{ "a", STR, -1, 0 },
		{ "missing", STR, -1, 0 },
		{ "b", BOOL, 0, 1 },
		{ "neg", BOOL, -1, 0 },
		{ "s", BOOL, -1, 0 },
		{ "n", BOOL, -1, 0 },
	};
	static const char *fname[] = { "mp_int", "mp_num", "mp_str", "mp_bool" };
	struct fbuf fb;
	msgpack_unpacked u;
	const msgpack_object *o;
	const char *cause, *s;
	size_t i, n;
	int64_t iv;
	double d;
	int r, b;
	char *dup = NULL;

	fbuf_init(&fb);
	build_values(&fb);
	if (fbuf_finish(&fb) != 0)
		abort();
	msgpack_unpacked_init(&u);
	ok(frame_decode(fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, &u, &cause) == 0,
	    "map of every value kind decodes");
	for (i = 0; i < nitems(t); i++) {
		o = mp_get(&u.data, t[i].key);
		d = 0;
		switch (t[i].fn) {
		case INT:
			iv = 0;
			r = mp_int(o, &iv);
			d = (double)iv;
			break;
		case NUM: r = mp_num(o, &d); break;
		case STR:
			s = NULL;
			n = 0;
			r = mp_str(o, &s, &n);
			d = (double)n;
			break;
		default:
			b = 0;
			r = mp_bool(o, &b);
			d = b;
			break;
		}
		ok(r == t[i].want && (r != 0 || d == t[i].value), "%s(%s) %s", fname[t[i].fn],
		    t[i].key, t[i].want ? "refuses" : "reads");
	}
	s = NULL;
	dup = NULL;
	ok(mp_str(mp_get(&u.data, "empty"), &s, &n) == 0 && s != NULL && n == 0 &&
		(dup = mp_strdup(mp_get(&u.data, "empty"))) != NULL && *dup == '\0',
	    "an empty string reads as \"\", never NULL (msgpack-c leaves its ptr NULL)");
	free(dup);
	ok(mp_streq(mp_get(&u.data, "empty"), ""), "mp_streq matches an empty string");
	ok(mp_int(mp_get(&u.data, "min"), &iv) == 0 && iv == INT64_MIN,
	    "mp_int reads INT64_MIN exactly");
	ok(mp_int(mp_get(&u.data, "max"), &iv) == 0 && iv == INT64_MAX,
	    "mp_int reads INT64_MAX exactly");
	dup = mp_strdup(mp_get(&u.data, "s"));
	ok(dup != NULL && strcmp(dup, "abc") == 0, "mp_strdup copies and terminates");
	free(dup);
	ok(mp_strdup(mp_get(&u.data, "neg")) == NULL, "mp_strdup of an integer is NULL");
	ok(mp_streq(mp_get(&u.data, "s"), "abc") && !mp_streq(mp_get(&u.data, "s"), "ab") &&
		!mp_streq(mp_get(&u.data, "s"), "abcd") &&
		!mp_streq(mp_get(&u.data, "neg"), "abc") && !mp_streq(NULL, "abc"),
	    "mp_streq compares whole strings only");
	ok(!mp_streq(mp_get(&u.data, "nul"), "a"), "mp_streq does not stop at an embedded NUL");
	ok(mp_get(mp_get(&u.data, "a"), "s") == NULL && mp_get(NULL, "s") == NULL,
	    "mp_get of a non-map is NULL");
	ok(mp_get(&u.data, "") == NULL && mp_get(&u.data, "ss") == NULL,
	    "mp_get does not match a prefix or an empty key");
	ok(mp_frame_type(&u.data) == -1, "mp_frame_type without t is -1");
	msgpack_unpacked_destroy(&u);
	fbuf_free(&fb);
}

static void
test_frame_type(void)
{
	static const struct {
		const char *name;
		const unsigned char *p;
		size_t len;
		int want;
	} t[] = {
		{ "t:1", P("\x81\xa1t\x01"), FRAME_HELLO },
		{ "t:7", P("\x81\xa1t\x07"), FRAME_ERROR },
		{ "t:0", P("\x81\xa1t\x00"), -1 },
		{ "t:8", P("\x81\xa1t\x08"), -1 },
		{ "t:-1", P("\x81\xa1t\xff"), -1 },
		{ "t:2^32+3", P("\x81\xa1t\xcf\x00\x00\x00\x01\x00\x00\x00\x03"), -1 },
		{ "t:\"3\"",
		    P("\x81\xa1t\xa1"
		      "3"),
		    -1 },
		{ "t:nil", P("\x81\xa1t\xc0"), -1 },
	};
	msgpack_unpacked u;
	const char *cause;
	size_t i;
	int r;

	for (i = 0; i < nitems(t); i++) {
		msgpack_unpacked_init(&u);
		r = frame_decode(t[i].p, t[i].len, &u, &cause) == 0 ? mp_frame_type(&u.data)
								    : -2;
		ok(r == t[i].want, "mp_frame_type of {%s} is %d", t[i].name, t[i].want);
		msgpack_unpacked_destroy(&u);
	}
}

static void
test_fbuf_finish(void)
{
	struct fbuf fb;
	char *big;
	size_t n;
	const char *cause;

	fbuf_init(&fb);
	ok(fbuf_finish(&fb) == -1, "fbuf_finish refuses an empty payload");
	fbuf_free(&fb);

	/* a str32 header is 5 bytes: this payload is exactly the maximum */
	n = FRAME_MAX_DEFAULT - 5;
	big = calloc(1, n + 1);
	if (big == NULL)
		abort();
	fbuf_init(&fb);
	pk_strn(&fb, big, n);
	ok(fbuf_finish(&fb) == 0 && fb.sb.size == FRAME_HDR + FRAME_MAX_DEFAULT &&
		frame_length(fb.sb.data, fb.sb.size, FRAME_MAX_DEFAULT, &cause) ==
		    FRAME_MAX_DEFAULT,
	    "fbuf_finish accepts a payload of exactly the maximum");
	fbuf_free(&fb);

	fbuf_init(&fb);
	pk_strn(&fb, big, n + 1);
	ok(fbuf_finish(&fb) == -1, "fbuf_finish refuses a payload one byte over the maximum");
	fbuf_free(&fb);
	free(big);

	fbuf_init(&fb);
	pk_map(&fb, 0);
	fb.err = 1;
	ok(fbuf_finish(&fb) == -1, "fbuf_finish refuses a frame whose packing failed");
	fbuf_free(&fb);
}

/*
 * Mutated frames: flip, drop and insert bytes of valid frames with a fixed
 * seed.  Nothing to assert but that every answer is 0 or -1 and ASan stays
 * quiet; the fuzz targets do this at length.
 */
static void
test_mutations(void)
{
	struct fbuf fb;
	msgpack_unpacked u;
	const char *cause;
	unsigned char *p, *q;
	uint32_t seed = 12345;
	size_t i, len, pos, odd = 0, accepted = 0;
	int round, r;

	for (i = 0; i < nitems(frames); i++) {
		fbuf_init(&fb);
		frames[i].build(&fb);
		if (fbuf_finish(&fb) != 0)
			abort();
		for (round = 0; round < 2000; round++) {
			len = fb.sb.size - FRAME_HDR;
			p = dup_exact(fb.sb.data + FRAME_HDR, len + 1);
			seed = seed * 1103515245 + 12345;
			pos = (seed >> 8) % len;
			switch ((seed >> 4) % 3) {
			case 0: p[pos] = (unsigned char)(seed >> 16); break;
			case 1:
				memmove(p + pos, p + pos + 1, len - pos - 1);
				len--;
				break;
			default:
				memmove(p + pos + 1, p + pos, len - pos);
				p[pos] = (unsigned char)(seed >> 16);
				len++;
				break;
			}
			q = dup_exact(p, len);
			free(p);
			msgpack_unpacked_init(&u);
			r = frame_decode(q, len, &u, &cause);
			if (r == 0)
				accepted++;
			else if (r != -1)
				odd++;
			msgpack_unpacked_destroy(&u);
			free(q);
		}
		fbuf_free(&fb);
	}
	ok(odd == 0, "8000 mutated frames: each accepted or refused (%zu accepted)", accepted);
}

/* Pack n entries into a map, counted by hand or by the builder. */
static void
pack_map_of(struct fbuf *fb, size_t n, int counted)
{
	char k[24];
	size_t i;

	if (counted)
		pk_map(fb, n);
	else
		pk_map_open(fb);
	for (i = 0; i < n; i++) {
		snprintf(k, sizeof k, "k%zu", i);
		pk_kint(fb, k, (int64_t)i);
	}
	if (!counted)
		pk_map_close(fb);
}

/* Self-counting containers make the bytes a hand-counted header would. */
static void
test_self_counting(void)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 300, 65535, 65536 };
	struct fbuf a, b;
	size_t i, same = 0;

	for (i = 0; i < nitems(sizes); i++) {
		fbuf_init(&a);
		fbuf_init(&b);
		pk_map_open(&a);
		pk_str(&a, "m");
		pack_map_of(&a, sizes[i], 0);
		pk_str(&a, "a");
		pk_array_open(&a);
		pk_int(&a, 1);
		pk_map_open(&a);
		pk_map_close(&a);
		pk_array_close(&a);
		pk_map_close(&a);
		pk_map(&b, 2);
		pk_str(&b, "m");
		pack_map_of(&b, sizes[i], 1);
		pk_str(&b, "a");
		pk_array(&b, 2);
		pk_int(&b, 1);
		pk_map(&b, 0);
		if (fbuf_finish(&a) == 0 && fbuf_finish(&b) == 0 && a.sb.size == b.sb.size &&
		    memcmp(a.sb.data, b.sb.data, a.sb.size) == 0)
			same++;
		else
			diag("map of %zu: %zu bytes counted, %zu self-counted", sizes[i],
			    b.sb.size, a.sb.size);
		fbuf_free(&a);
		fbuf_free(&b);
	}
	ok(same == nitems(sizes),
	    "self-counted maps of 0..65536 entries, nested, encode "
	    "byte for byte as counted ones");

	/* a counted array closes itself: what follows goes to its parent */
	fbuf_init(&a);
	pk_map_open(&a);
	pk_str(&a, "xs");
	pk_array(&a, 2);
	pk_int(&a, 1);
	pk_int(&a, 2);
	pk_kbool(&a, "after", 1);
	pk_map_close(&a);
	ok(a.depth == 0 && fbuf_finish(&a) == 0 && a.sb.data[FRAME_HDR] == (char)0x82,
	    "a counted array closes with its last element; the map counts 2 entries");
	fbuf_free(&a);

	/* nesting past what a peer accepts marks the frame unsendable */
	fbuf_init(&a);
	for (i = 0; i < FRAME_MAX_DEPTH + 1; i++)
		pk_array_open(&a);
	while (a.depth > 0)
		pk_array_close(&a);
	ok(fbuf_finish(&a) == -1, "a frame nested past FRAME_MAX_DEPTH is refused");
	fbuf_free(&a);
}

int
main(void)
{
	test_roundtrip();
	test_stream();
	test_truncated();
	test_frame_length();
	test_check_table();
	test_depth();
	test_accessors();
	test_frame_type();
	test_fbuf_finish();
	test_mutations();
	test_self_counting();
	test_pk_strn();
	test_time_iso();
	return (done_testing());
}
