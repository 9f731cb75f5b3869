/*
 * JSON <-> msgpack for the shim: the CLI and the MCP server speak JSON,
 * the broker msgpack.  cJSON keeps every number as a double, so integral
 * values within +-2^53 travel as msgpack integers (the broker's integer
 * arguments accept nothing else) and everything else as float64.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define JSON_MAX_SAFE_INT 9007199254740992.0 /* 2^53 */
#define JSON_EXACT_PRINT 100000000000000ULL  /* 10^14: cJSON prints smaller ints exactly */

/*
 * Pack a raw value: json_from_msgpack makes big integers raw text so they
 * print exactly, and they must go back as integers.  Other raw text
 * (nobody else makes any) goes as a string.
 */
static int
json_pack_raw(msgpack_packer *pk, const char *s)
{
	unsigned long long u;
	long long i;
	size_t len;
	char *end;

	if (*s == '-') {
		errno = 0;
		i = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0' && end != s)
			return (msgpack_pack_int64(pk, i));
	} else if (*s >= '0' && *s <= '9') {
		errno = 0;
		u = strtoull(s, &end, 10);
		if (errno == 0 && *end == '\0')
			return (msgpack_pack_uint64(pk, u));
	}
	len = strlen(s);
	if (msgpack_pack_str(pk, len) != 0)
		return (-1);
	return (msgpack_pack_str_body(pk, s, len));
}

/* Pack one cJSON value with pk; 0 or -1 (a pack failed, or a type msgpack lacks). */
static int
json_pack_pk(msgpack_packer *pk, const cJSON *j)
{
	const cJSON *c;
	size_t n, len;
	double d;

	if (cJSON_IsNull(j))
		return (msgpack_pack_nil(pk));
	if (cJSON_IsTrue(j))
		return (msgpack_pack_true(pk));
	if (cJSON_IsFalse(j))
		return (msgpack_pack_false(pk));
	if (cJSON_IsNumber(j)) {
		d = j->valuedouble;
		if (isfinite(d) && d == floor(d) && fabs(d) <= JSON_MAX_SAFE_INT)
			return (msgpack_pack_int64(pk, (int64_t)d));
		return (msgpack_pack_double(pk, d));
	}
	if (cJSON_IsRaw(j) && j->valuestring != NULL)
		return (json_pack_raw(pk, j->valuestring));
	if (cJSON_IsString(j)) {
		if (j->valuestring == NULL)
			return (-1);
		len = strlen(j->valuestring);
		if (msgpack_pack_str(pk, len) != 0)
			return (-1);
		return (msgpack_pack_str_body(pk, j->valuestring, len));
	}
	if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
		n = 0;
		for (c = j->child; c != NULL; c = c->next)
			n++;
		if ((cJSON_IsArray(j) ? msgpack_pack_array(pk, n) : msgpack_pack_map(pk, n)) != 0)
			return (-1);
		for (c = j->child; c != NULL; c = c->next) {
			if (cJSON_IsObject(j)) {
				if (c->string == NULL)
					return (-1);
				len = strlen(c->string);
				if (msgpack_pack_str(pk, len) != 0 ||
				    msgpack_pack_str_body(pk, c->string, len) != 0)
					return (-1);
			}
			if (json_pack_pk(pk, c) != 0)
				return (-1);
		}
		return (0);
	}
	return (-1);
}

/* Pack any JSON value into a frame; 0, or -1 with fb->err set. */
int
json_pack(struct fbuf *fb, const cJSON *j)
{
	if (fb->err || json_pack_pk(&fb->pk, j) != 0)
		fb->err = 1;
	return (fb->err ? -1 : 0);
}

/* A new cJSON string from a length-counted one (cJSON wants it NUL-terminated). */
static cJSON *
json_strn(const char *s, size_t n)
{
	cJSON *j;
	char *t;

	if ((t = malloc(n + 1)) == NULL)
		return (NULL);
	if (n > 0)
		memcpy(t, s, n);
	t[n] = '\0';
	j = cJSON_CreateString(t);
	free(t);
	return (j);
}

/*
 * An integer too long for cJSON to print exactly, as raw JSON text: it
 * prints doubles with 15 significant digits when they compare equal
 * within DBL_EPSILON, which turns 2^53 into 9.00719925474099e+15.
 */
static cJSON *
json_bigint(uint64_t mag, int neg)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%s%llu", neg ? "-" : "", (unsigned long long)mag);
	return (cJSON_CreateRaw(buf));
}

/* The key of a map entry as a NUL-terminated string (integer keys in decimal), or NULL. */
static char *
json_key(const msgpack_object *k)
{
	char *s;

	switch (k->type) {
	case MSGPACK_OBJECT_STR: /* an empty string's ptr may be NULL */
		return (k->via.str.size == 0 ? xstrdup("") :
		    xstrndup(k->via.str.ptr, k->via.str.size));
	case MSGPACK_OBJECT_BIN:
		return (k->via.bin.size == 0 ? xstrdup("") :
		    xstrndup(k->via.bin.ptr, k->via.bin.size));
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		xasprintf(&s, "%llu", (unsigned long long)k->via.u64);
		return (s);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		xasprintf(&s, "%lld", (long long)k->via.i64);
		return (s);
	default:
		return (NULL);
	}
}

/* Add the entries of a msgpack map to object j; -1 on allocation failure. */
static int
json_add_map(cJSON *j, const msgpack_object *o)
{
	const msgpack_object_kv *kv;
	cJSON *v;
	char *k;
	uint32_t i;

	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if ((k = json_key(&kv->key)) == NULL)
			continue; /* JSON has no other key types */
		if ((v = json_from_msgpack(&kv->val)) == NULL) {
			free(k);
			return (-1);
		}
		if (!cJSON_AddItemToObject(j, k, v)) {
			cJSON_Delete(v);
			free(k);
			return (-1);
		}
		free(k);
	}
	return (0);
}

/* A new cJSON value equal to a msgpack object; NULL only when out of memory. */
cJSON *
json_from_msgpack(const msgpack_object *o)
{
	cJSON *j, *v;
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return (cJSON_CreateNull());
	case MSGPACK_OBJECT_BOOLEAN:
		return (cJSON_CreateBool(o->via.boolean));
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 >= JSON_EXACT_PRINT)
			return (json_bigint(o->via.u64, 0));
		return (cJSON_CreateNumber((double)o->via.u64));
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		if (o->via.i64 <= -(int64_t)JSON_EXACT_PRINT)
			return (json_bigint((uint64_t)-(o->via.i64 + 1) + 1, 1));
		return (cJSON_CreateNumber((double)o->via.i64));
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		/* JSON has no NaN or infinity: cJSON would print them as null anyway */
		if (!isfinite(o->via.f64))
			return (cJSON_CreateNull());
		return (cJSON_CreateNumber(o->via.f64));
	case MSGPACK_OBJECT_STR:
		return (json_strn(o->via.str.ptr, o->via.str.size));
	case MSGPACK_OBJECT_BIN:
		return (json_strn(o->via.bin.ptr, o->via.bin.size));
	case MSGPACK_OBJECT_ARRAY:
		if ((j = cJSON_CreateArray()) == NULL)
			return (NULL);
		for (i = 0; i < o->via.array.size; i++) {
			if ((v = json_from_msgpack(&o->via.array.ptr[i])) == NULL ||
			    !cJSON_AddItemToArray(j, v)) {
				cJSON_Delete(v);
				cJSON_Delete(j);
				return (NULL);
			}
		}
		return (j);
	case MSGPACK_OBJECT_MAP:
		if ((j = cJSON_CreateObject()) == NULL)
			return (NULL);
		if (json_add_map(j, o) != 0) {
			cJSON_Delete(j);
			return (NULL);
		}
		return (j);
	default:
		return (cJSON_CreateNull()); /* ext: never accepted on the wire */
	}
}

/* How deeply j nests arrays and objects (a scalar is 0). */
static int
json_depth(const cJSON *j)
{
	const cJSON *c;
	int d, max = 0;

	if (!cJSON_IsArray(j) && !cJSON_IsObject(j))
		return (0);
	for (c = j->child; c != NULL; c = c->next) {
		if ((d = json_depth(c)) > max)
			max = d;
	}
	return (max + 1);
}

/*
 * Pack a JSON arguments object into sbuf (initialized by the caller) and
 * unpack it into u, so that op_validate() checks exactly what will be
 * sent.  *obj points into u, whose strings point into sbuf: both must
 * outlive it.  NULL json means {}.
 */
int
json_args_to_msgpack(const cJSON *json, msgpack_sbuffer *sbuf, msgpack_unpacked *u,
    const msgpack_object **obj, struct op_error *err)
{
	msgpack_packer pk;
	const char *cause;
	size_t start = sbuf->size, off = 0;

	*obj = NULL;
	if (json != NULL && !cJSON_IsObject(json)) {
		op_error_set(err, ERR_INVALID, "arguments", "arguments must be a JSON object");
		return (-1);
	}
	/* the args sit one level down in the request frame, whose depth is bounded */
	if (json != NULL && json_depth(json) > FRAME_MAX_DEPTH - 1) {
		op_error_set(err, ERR_INVALID, "arguments", "arguments nest deeper than %d levels",
		    FRAME_MAX_DEPTH - 1);
		return (-1);
	}
	msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
	if (json == NULL ? msgpack_pack_map(&pk, 0) != 0 : json_pack_pk(&pk, json) != 0) {
		op_error_set(err, ERR_INTERNAL, "arguments", "cannot encode the arguments");
		return (-1);
	}
	/* what the broker would reject as a malformed frame is an argument error here */
	if (frame_check(sbuf->data + start, sbuf->size - start, &cause) != 0) {
		op_error_set(err, ERR_INVALID, "arguments", "arguments rejected: %s", cause);
		return (-1);
	}
	if (sbuf->size - start > FRAME_MAX_DEFAULT - 64) {
		op_error_set(err, ERR_LIMIT, "arguments", "arguments are larger than %d bytes",
		    FRAME_MAX_DEFAULT - 64);
		return (-1);
	}
	if (msgpack_unpack_next(u, sbuf->data + start, sbuf->size - start, &off) !=
	    MSGPACK_UNPACK_SUCCESS) {
		op_error_set(err, ERR_INTERNAL, "arguments", "cannot decode the arguments");
		return (-1);
	}
	*obj = &u->data;
	return (0);
}
