/*
 * The frame codec: 4-byte big-endian length, then one msgpack object.
 *
 * msgpack-c trusts the counts it reads: an array header of 2^32-1
 * elements makes it allocate 24 bytes per element before any element
 * arrives, and nesting past its limit is reported as NOMEM.  So every
 * payload is walked here first, without allocating, and only a payload
 * whose every count fits in the bytes that remain is handed to
 * msgpack_unpack_next().
 */
#include "config.h"

#include <string.h>

#include "common.h"

#define FBUF_FIRST 512 /* bytes of a new frame buffer */

void
fbuf_init(struct fbuf *fb)
{
	msgpack_sbuffer_init(&fb->sb);
	msgpack_packer_init(&fb->pk, &fb->sb, msgpack_sbuffer_write);
	fb->depth = 0;
	fb->err = 0;
	/*
	 * Most frames are small: a first buffer malloc keeps in its
	 * per-thread cache, not msgpack's first 8 KiB (a reply, a feed entry
	 * and a stored row each take one); a bigger frame doubles it.
	 */
	fb->sb.data = xmalloc(FBUF_FIRST);
	fb->sb.alloc = FBUF_FIRST;
	memset(fb->sb.data, 0, FRAME_HDR);
	fb->sb.size = FRAME_HDR;
}

void
fbuf_free(struct fbuf *fb)
{
	msgpack_sbuffer_destroy(&fb->sb);
}

/* Empty fb for another frame, keeping its buffer. */
void
fbuf_reset(struct fbuf *fb)
{
	fb->sb.size = FRAME_HDR;
	fb->depth = 0;
	fb->err = 0;
}

/*
 * Write the length header; -1 if packing failed or the frame is too big.
 * A container still open is a bug in the code that built the frame.
 */
int
fbuf_finish(struct fbuf *fb)
{
	size_t len;

	if (fb->depth != 0)
		fatalx("frame finished with %d container(s) still open", fb->depth);
	if (fb->err || fb->sb.size < FRAME_HDR)
		return (-1);
	len = fb->sb.size - FRAME_HDR;
	if (len == 0 || len > FRAME_MAX_DEFAULT)
		return (-1);
	fb->sb.data[0] = (char)((len >> 24) & 0xff);
	fb->sb.data[1] = (char)((len >> 16) & 0xff);
	fb->sb.data[2] = (char)((len >> 8) & 0xff);
	fb->sb.data[3] = (char)(len & 0xff);
	return (0);
}

#define PK(fb, call) \
	do { \
		if ((call) != 0) \
			(fb)->err = 1; \
	} while (0)

/*
 * One object is about to be packed: count it in the innermost open
 * container.  A container of a count given up front closes itself with
 * its last object; one opened without a count is counted here and gets
 * its header patched when it is closed.
 */
static inline void
fbuf_count(struct fbuf *fb)
{
	struct fbuf_level *l;

	if (fb->depth == 0)
		return;
	l = &fb->lv[fb->depth - 1];
	if (l->fixed) {
		if (--l->left == 0)
			fb->depth--;
	} else
		l->items++;
}

/* fbuf_count for callers outside: the packers here inline it (one per object). */
void
fbuf_item(struct fbuf *fb)
{
	fbuf_count(fb);
}

/* Enter a container: counted in its parent, then objects go into it. */
static void
fbuf_push(struct fbuf *fb, int map, int fixed, uint64_t left)
{
	struct fbuf_level *l;

	if (fixed && left == 0)
		return; /* empty: nothing will go into it */
	if (fb->depth == FRAME_MAX_DEPTH) {
		fb->err = 1; /* the peer would refuse it: nesting too deep */
		return;
	}
	l = &fb->lv[fb->depth++];
	l->off = fb->sb.size;
	l->items = 0;
	l->left = left;
	l->map = (unsigned char)map;
	l->fixed = (unsigned char)fixed;
}

void
pk_map(struct fbuf *fb, size_t n)
{
	fbuf_count(fb);
	PK(fb, msgpack_pack_map(&fb->pk, n));
	fbuf_push(fb, 1, 1, 2 * (uint64_t)n);
}

void
pk_array(struct fbuf *fb, size_t n)
{
	fbuf_count(fb);
	PK(fb, msgpack_pack_array(&fb->pk, n));
	fbuf_push(fb, 0, 1, n);
}

/* A container whose count is written when it is closed (5-byte header). */
static void
fbuf_open(struct fbuf *fb, int map)
{
	unsigned char hdr[5] = { map ? 0xdf : 0xdd, 0, 0, 0, 0 };

	fbuf_count(fb);
	fbuf_push(fb, map, 0, 0);
	PK(fb, msgpack_sbuffer_write(&fb->sb, (const char *)hdr, sizeof hdr));
}

void
pk_map_open(struct fbuf *fb)
{
	fbuf_open(fb, 1);
}
void
pk_array_open(struct fbuf *fb)
{
	fbuf_open(fb, 0);
}

/*
 * Close the innermost container opened without a count: write its count
 * in the smallest header that holds it, moving the contents up over the
 * bytes the header does not need, so the frame is what pk_map(n) would
 * have made.
 */
static void
fbuf_close(struct fbuf *fb, int map)
{
	struct fbuf_level *l;
	unsigned char *p;
	uint64_t n;
	size_t hlen;

	if (fb->err)
		goto pop; /* the frame is not sent anyway */
	if (fb->depth == 0 || fb->lv[fb->depth - 1].fixed || fb->lv[fb->depth - 1].map != map)
		fatalx("pk_%s_close without a matching open", map ? "map" : "array");
	l = &fb->lv[fb->depth - 1];
	if (map && l->items % 2 != 0)
		fatalx("map closed after a key without its value");
	n = map ? l->items / 2 : l->items;
	if (n > UINT32_MAX) {
		fb->err = 1;
		goto pop;
	}
	p = (unsigned char *)fb->sb.data + l->off;
	if (n < 16) {
		p[0] = (unsigned char)((map ? 0x80 : 0x90) | n);
		hlen = 1;
	} else if (n < 65536) {
		p[0] = map ? 0xde : 0xdc;
		p[1] = (unsigned char)(n >> 8);
		p[2] = (unsigned char)n;
		hlen = 3;
	} else {
		p[1] = (unsigned char)(n >> 24);
		p[2] = (unsigned char)(n >> 16);
		p[3] = (unsigned char)(n >> 8);
		p[4] = (unsigned char)n;
		hlen = 5;
	}
	if (hlen < 5) {
		memmove(p + hlen, p + 5, fb->sb.size - l->off - 5);
		fb->sb.size -= 5 - hlen;
	}
pop:
	if (fb->depth > 0)
		fb->depth--;
}

void
pk_map_close(struct fbuf *fb)
{
	fbuf_close(fb, 1);
}
void
pk_array_close(struct fbuf *fb)
{
	fbuf_close(fb, 0);
}

void
pk_int(struct fbuf *fb, int64_t v)
{
	fbuf_count(fb);
	PK(fb, msgpack_pack_int64(&fb->pk, v));
}
void
pk_uint(struct fbuf *fb, uint64_t v)
{
	fbuf_count(fb);
	PK(fb, msgpack_pack_uint64(&fb->pk, v));
}
void
pk_double(struct fbuf *fb, double v)
{
	fbuf_count(fb);
	PK(fb, msgpack_pack_double(&fb->pk, v));
}
void
pk_nil(struct fbuf *fb)
{
	fbuf_count(fb);
	PK(fb, msgpack_pack_nil(&fb->pk));
}

void
pk_object(struct fbuf *fb, const msgpack_object *o)
{
	fbuf_count(fb);
	PK(fb, msgpack_pack_object(&fb->pk, *o));
}

void
pk_bool(struct fbuf *fb, int v)
{
	fbuf_count(fb);
	PK(fb, v ? msgpack_pack_true(&fb->pk) : msgpack_pack_false(&fb->pk));
}

void
pk_strn(struct fbuf *fb, const char *s, size_t n)
{
	msgpack_sbuffer *sb = &fb->sb;
	unsigned char *p;
	size_t hl = n < 32 ? 1 : n < 256 ? 2 : 3;

	fbuf_count(fb);
	/*
	 * Most strings are short and the buffer has room: header and body
	 * go in with one copy, not two buffer writes (a reply packs dozens).
	 */
	if (n >= 65536 || sb->alloc - sb->size < hl + n) {
		PK(fb, msgpack_pack_str(&fb->pk, n));
		PK(fb, msgpack_pack_str_body(&fb->pk, s, n));
		return;
	}
	p = (unsigned char *)sb->data + sb->size;
	if (hl == 1)
		p[0] = (unsigned char)(0xa0 | n);
	else if (hl == 2) {
		p[0] = 0xd9;
		p[1] = (unsigned char)n;
	} else {
		p[0] = 0xda;
		p[1] = (unsigned char)(n >> 8);
		p[2] = (unsigned char)n;
	}
	if (n > 0)
		memcpy(p + hl, s, n);
	sb->size += hl + n;
}

/* Raw msgpack bytes holding exactly one object (a stored value); NULL packs nil. */
void
pk_raw(struct fbuf *fb, const void *data, size_t len)
{
	if (data == NULL) {
		pk_nil(fb);
		return;
	}
	fbuf_count(fb);
	PK(fb, msgpack_sbuffer_write(&fb->sb, data, len));
}

ssize_t
frame_length(const void *buf, size_t len, size_t max, const char **cause)
{
	const unsigned char *p = buf;
	uint32_t n;

	if (len < FRAME_HDR)
		return (0);
	n = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	if (n == 0) {
		*cause = "empty frame";
		return (-1);
	}
	if (n > max) {
		*cause = "frame too large";
		return (-1);
	}
	return ((ssize_t)n);
}

/* Big-endian integer of width w at p. */
static uint64_t
be(const unsigned char *p, size_t w)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < w; i++)
		v = (v << 8) | p[i];
	return (v);
}

/*
 * Decode one header at p (left bytes available).  Sets *hdr to the header
 * size, *body to the payload bytes that follow (strings, numbers) and
 * *children to the objects it contains.  -1 on a bad or truncated header.
 */
static int
frame_header(const unsigned char *p, size_t left, size_t *hdr, uint64_t *body,
    uint64_t *children, const char **cause)
{
	unsigned char c = p[0];
	size_t w;

	*hdr = 1;
	*body = 0;
	*children = 0;
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
		return (0);
	if (c >= 0x80 && c <= 0x8f) {
		*children = 2 * (uint64_t)(c & 0x0f);
		return (0);
	}
	if (c >= 0x90 && c <= 0x9f) {
		*children = c & 0x0f;
		return (0);
	}
	if (c >= 0xa0 && c <= 0xbf) {
		*body = c & 0x1f;
		return (0);
	}
	switch (c) {
	case 0xca: *body = 4; return (0);
	case 0xcb: *body = 8; return (0);
	case 0xcc:
	case 0xd0: *body = 1; return (0);
	case 0xcd:
	case 0xd1: *body = 2; return (0);
	case 0xce:
	case 0xd2: *body = 4; return (0);
	case 0xcf:
	case 0xd3: *body = 8; return (0);
	case 0xc4:
	case 0xd9: w = 1; break;
	case 0xc5:
	case 0xda:
	case 0xdc:
	case 0xde: w = 2; break;
	case 0xc6:
	case 0xdb:
	case 0xdd:
	case 0xdf: w = 4; break;
	default:
		*cause = (c == 0xc1) ? "invalid msgpack byte 0xc1"
				     : "msgpack ext types are not accepted";
		return (-1);
	}
	if (left < 1 + w) {
		*cause = "truncated frame";
		return (-1);
	}
	*hdr = 1 + w;
	if (c == 0xdc || c == 0xdd)
		*children = be(p + 1, w);
	else if (c == 0xde || c == 0xdf)
		*children = 2 * be(p + 1, w);
	else
		*body = be(p + 1, w);
	return (0);
}

/* Is c the first byte of an array or map header? */
static int
frame_is_container(unsigned char c)
{
	return ((c >= 0x80 && c <= 0x9f) || (c >= 0xdc && c <= 0xdf));
}

int
frame_check(const void *buf, size_t len, const char **cause)
{
	const unsigned char *p = buf;
	uint64_t pending[FRAME_MAX_DEPTH + 1]; /* objects still owed per level */
	uint64_t body, children;
	size_t off = 0, hdr, depth = 0;
	int container;

	if (len == 0) {
		*cause = "empty frame";
		return (-1);
	}
	pending[0] = 1;
	for (;;) {
		while (depth > 0 && pending[depth] == 0)
			depth--;
		if (pending[depth] == 0)
			break;
		if (off >= len) {
			*cause = "truncated frame";
			return (-1);
		}
		container = frame_is_container(p[off]);
		if (frame_header(p + off, len - off, &hdr, &body, &children, cause) != 0)
			return (-1);
		pending[depth]--;
		off += hdr;
		if (body > len - off) {
			*cause = "truncated frame";
			return (-1);
		}
		off += (size_t)body;
		/* msgpack-c takes a stack slot for an empty container too */
		if (container && depth + 1 > FRAME_MAX_DEPTH) {
			*cause = "nesting too deep";
			return (-1);
		}
		if (children == 0)
			continue;
		/* every element needs at least one byte */
		if (children > len - off) {
			*cause = "container count exceeds frame size";
			return (-1);
		}
		pending[++depth] = children;
	}
	if (off != len) {
		*cause = "trailing bytes after the frame's object";
		return (-1);
	}
	return (0);
}

/*
 * frame_decode into a zone the caller keeps and clears between frames
 * (a restore decodes a million rows: one zone, not a million); the map
 * in *out lives until the zone is cleared.
 */
int
frame_decode_zone(const void *buf, size_t len, msgpack_zone *z, msgpack_object *out,
    const char **cause)
{
	size_t off = 0;

	if (frame_check(buf, len, cause) != 0)
		return (-1);
	if (msgpack_unpack(buf, len, &off, z, out) != MSGPACK_UNPACK_SUCCESS || off != len) {
		*cause = "malformed msgpack";
		return (-1);
	}
	if (out->type != MSGPACK_OBJECT_MAP) {
		*cause = "frame is not a map";
		return (-1);
	}
	return (0);
}

int
frame_decode(const void *buf, size_t len, msgpack_unpacked *out, const char **cause)
{
	size_t off = 0;

	if (frame_check(buf, len, cause) != 0)
		return (-1);
	if (msgpack_unpack_next(out, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len) {
		*cause = "malformed msgpack";
		return (-1);
	}
	if (out->data.type != MSGPACK_OBJECT_MAP) {
		*cause = "frame is not a map";
		return (-1);
	}
	return (0);
}
