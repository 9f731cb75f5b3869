/* Reading decoded msgpack objects.  Strings are length-counted, never NUL-terminated. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "common.h"

/* The value under a string key in a map, or NULL. */
const msgpack_object *
mp_get(const msgpack_object *map, const char *key)
{
	size_t klen = strlen(key);
	uint32_t i;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return (NULL);
	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    (klen == 0 || memcmp(k->via.str.ptr, key, klen) == 0))
			return (&map->via.map.ptr[i].val);
	}
	return (NULL);
}

/*
 * A string's bytes and length.  msgpack-c leaves ptr NULL for an empty
 * fixstr, and NULL must not reach memcmp/memchr/strndup even with a zero
 * length, so an empty string always comes back as "".
 */
int
mp_str(const msgpack_object *o, const char **s, size_t *n)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return (-1);
	*n = o->via.str.size;
	*s = *n != 0 ? o->via.str.ptr : "";
	return (0);
}

char *
mp_strdup(const msgpack_object *o)
{
	const char *s;
	size_t n;

	if (mp_str(o, &s, &n) != 0)
		return (NULL);
	/* msgpack-c leaves ptr NULL for an empty string */
	return (n == 0 ? xstrdup("") : xstrndup(s, n));
}

int
mp_streq(const msgpack_object *o, const char *s)
{
	return (o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	    (o->via.str.size == 0 || memcmp(o->via.str.ptr, s, o->via.str.size) == 0));
}

int
mp_int(const msgpack_object *o, int64_t *v)
{
	if (o == NULL)
		return (-1);
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > INT64_MAX)
			return (-1);
		*v = (int64_t)o->via.u64;
		return (0);
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return (0);
	}
	if ((o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) &&
	    isfinite(o->via.f64) && o->via.f64 == floor(o->via.f64) &&
	    fabs(o->via.f64) < 9007199254740992.0) {
		*v = (int64_t)o->via.f64;
		return (0);
	}
	return (-1);
}

int
mp_num(const msgpack_object *o, double *v)
{
	if (o == NULL)
		return (-1);
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER: *v = (double)o->via.u64; return (0);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: *v = (double)o->via.i64; return (0);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64))
			return (-1);
		*v = o->via.f64;
		return (0);
	default: return (-1);
	}
}

int
mp_bool(const msgpack_object *o, int *v)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN)
		return (-1);
	*v = o->via.boolean;
	return (0);
}

/* The frame type of a decoded frame, or -1. */
int
mp_frame_type(const msgpack_object *frame)
{
	int64_t t;

	if (mp_int(mp_get(frame, "t"), &t) != 0 || t < FRAME_HELLO || t > FRAME_ERROR)
		return (-1);
	return ((int)t);
}

/*
 * Fields of a map (stored rows, frames) with a value for when they are
 * absent or of another type.
 */
int64_t
mp_get_int(const msgpack_object *map, const char *key, int64_t def)
{
	int64_t v;

	return (mp_int(mp_get(map, key), &v) == 0 ? v : def);
}

double
mp_get_num(const msgpack_object *map, const char *key, double def)
{
	double v;

	return (mp_num(mp_get(map, key), &v) == 0 ? v : def);
}

int
mp_get_bool(const msgpack_object *map, const char *key, int def)
{
	int v;

	return (mp_bool(mp_get(map, key), &v) == 0 ? v : def);
}

/* A string field as a new NUL-terminated string; NULL when absent or not a string. */
char *
mp_get_strdup(const msgpack_object *map, const char *key)
{
	return (mp_strdup(mp_get(map, key)));
}
