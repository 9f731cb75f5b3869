/*
 * JSON <-> msgpack: the CLI and the MCP server speak JSON, the broker
 * msgpack.  cJSON keeps every number as a double, so integral values
 * within +-2^53 travel as msgpack integers (the broker's integer
 * arguments accept nothing else) and everything else as float64.
 *
 * The exact variants serve batond's export and import (dump.c), which
 * must give back the very same msgpack: what plain JSON cannot say is
 * written as a one-member object whose name starts with '$' (DESIGN §8):
 * {"$int":"DIGITS"} an integer beyond +-2^53, {"$float":"%.17g"} a float
 * with an integral or non-finite value, {"$str":"HEX"} a string that is
 * not UTF-8 or holds a NUL, {"$bin":"HEX"} a binary, and {"$map":[[K,V],
 * ...]} a map with a key JSON cannot hold or that could be read as one
 * of these.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define JSON_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define JSON_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define JSON_POISON(p, n) ((void)(p), (void)(n))
#define JSON_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#include "common.h"

#define JSON_MAX_SAFE_INT 9007199254740992.0 /* 2^53 */
#define JSON_SAFE_INT 9007199254740992ULL    /* the same, as an integer */
#define JSON_EXACT_PRINT 100000000000000ULL  /* 10^14: cJSON prints smaller ints exactly */
#define JSON_ARGS_ZONE 512                   /* first zone chunk of unpacked arguments */

static const char json_digits[] = "0123456789abcdef";

/* How a conversion goes: plain (the CLI, MCP) or exact (export, import). */
struct jmode {
	int exact;
	const char *why; /* exact packing: what is wrong with the JSON */
};

static int json_pack_pk(msgpack_packer *, const cJSON *, struct jmode *);

/* Pack decimal text as an integer: 0, 1 when it is not one, -1 when a pack failed. */
static int
json_pack_int_text(msgpack_packer *pk, const char *s)
{
	unsigned long long u;
	long long i;
	char *end;

	errno = 0;
	if (*s == '-' && s[1] >= '0' && s[1] <= '9') {
		i = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0')
			return (msgpack_pack_int64(pk, i) == 0 ? 0 : -1);
	} else if (*s >= '0' && *s <= '9') {
		u = strtoull(s, &end, 10);
		if (errno == 0 && *end == '\0')
			return (msgpack_pack_uint64(pk, u) == 0 ? 0 : -1);
	}
	return (1);
}

/*
 * Pack a raw value: json_from_msgpack makes big integers raw text so they
 * print exactly, and they must go back as integers.  Other raw text
 * (nobody else makes any) goes as a string.
 */
static int
json_pack_raw(msgpack_packer *pk, const char *s)
{
	size_t len;
	int rc;

	if ((rc = json_pack_int_text(pk, s)) != 1)
		return (rc);
	len = strlen(s);
	if (msgpack_pack_str(pk, len) != 0)
		return (-1);
	return (msgpack_pack_str_body(pk, s, len));
}

/* The value of a lowercase hex digit (what json_hex writes), or -1. */
static int
json_hexval(char c)
{
	const char *p = c != '\0' ? strchr(json_digits, c) : NULL;

	return (p != NULL ? (int)(p - json_digits) : -1);
}

/* Pack {"$str"|"$bin": "HEX"}: bytes that are no JSON string. */
static int
json_pack_hex(msgpack_packer *pk, const cJSON *v, int bin, struct jmode *m)
{
	const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
	size_t n, i;
	char *buf;
	int hi, lo, rc;

	if (s == NULL || (n = strlen(s)) % 2 != 0) {
		m->why = "$str and $bin take a string of lowercase hex digit pairs";
		return (-1);
	}
	buf = xmalloc(n / 2 + 1);
	for (i = 0; i < n / 2; i++) {
		if ((hi = json_hexval(s[2 * i])) < 0 || (lo = json_hexval(s[2 * i + 1])) < 0) {
			free(buf);
			m->why = "$str and $bin take a string of lowercase hex digit pairs";
			return (-1);
		}
		buf[i] = (char)(hi << 4 | lo);
	}
	if (bin)
		rc = msgpack_pack_bin(pk, n / 2) != 0 ||
		    msgpack_pack_bin_body(pk, buf, n / 2) != 0;
	else
		rc = msgpack_pack_str(pk, n / 2) != 0 ||
		    msgpack_pack_str_body(pk, buf, n / 2) != 0;
	free(buf);
	return (rc ? -1 : 0);
}

/* Pack {"$map": [[K, V], ...]}. */
static int
json_pack_pairs(msgpack_packer *pk, const cJSON *v, struct jmode *m)
{
	const cJSON *c;
	size_t n = 0;

	if (!cJSON_IsArray(v)) {
		m->why = "$map takes an array of [key, value] pairs";
		return (-1);
	}
	for (c = v->child; c != NULL; c = c->next) {
		if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) != 2) {
			m->why = "$map takes an array of [key, value] pairs";
			return (-1);
		}
		n++;
	}
	if (msgpack_pack_map(pk, n) != 0)
		return (-1);
	for (c = v->child; c != NULL; c = c->next) {
		if (json_pack_pk(pk, c->child, m) != 0 ||
		    json_pack_pk(pk, c->child->next, m) != 0)
			return (-1);
	}
	return (0);
}

/* Pack a tagged value (a one-member object named "$..."), exact mode only. */
static int
json_pack_tagged(msgpack_packer *pk, const cJSON *t, struct jmode *m)
{
	const char *s = cJSON_IsString(t) ? t->valuestring : NULL;
	char *end;
	double d;
	int rc;

	if (strcmp(t->string, "$int") == 0) {
		if (s == NULL || (rc = json_pack_int_text(pk, s)) == 1) {
			m->why = "$int takes a string of decimal digits within 64 bits";
			return (-1);
		}
		return (rc);
	}
	if (strcmp(t->string, "$float") == 0) {
		if (s == NULL || *s == '\0' || (d = strtod(s, &end), *end != '\0')) {
			m->why = "$float takes a number as a string";
			return (-1);
		}
		return (msgpack_pack_double(pk, d));
	}
	if (strcmp(t->string, "$str") == 0 || strcmp(t->string, "$bin") == 0)
		return (json_pack_hex(pk, t, t->string[1] == 'b', m));
	if (strcmp(t->string, "$map") == 0)
		return (json_pack_pairs(pk, t, m));
	m->why = "unknown tag: an object with one member named \"$...\" must be "
		 "$int, $float, $str, $bin or $map";
	return (-1);
}

/* Pack one cJSON value with pk; 0 or -1 (a pack failed, or a type msgpack lacks). */
static int
json_pack_pk(msgpack_packer *pk, const cJSON *j, struct jmode *m)
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
	if (m->exact && cJSON_IsObject(j) && j->child != NULL && j->child->next == NULL &&
	    j->child->string != NULL && j->child->string[0] == '$')
		return (json_pack_tagged(pk, j->child, m));
	if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
		n = 0;
		for (c = j->child; c != NULL; c = c->next)
			n++;
		if ((cJSON_IsArray(j) ? msgpack_pack_array(pk, n) : msgpack_pack_map(pk, n)) !=
		    0)
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
			if (json_pack_pk(pk, c, m) != 0)
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
	struct jmode m = { 0, NULL };

	fbuf_item(fb);
	if (fb->err || json_pack_pk(&fb->pk, j, &m) != 0)
		fb->err = 1;
	return (fb->err ? -1 : 0);
}

/*
 * Pack JSON written by json_from_msgpack_exact (tags understood); 0, or
 * -1 with fb->err set and *why saying what is wrong (NULL: a pack failed).
 */
int
json_pack_exact(struct fbuf *fb, const cJSON *j, const char **why)
{
	struct jmode m = { 1, NULL };

	fbuf_item(fb);
	if (fb->err || json_pack_pk(&fb->pk, j, &m) != 0)
		fb->err = 1;
	*why = m.why;
	return (fb->err ? -1 : 0);
}

/*
 * A new cJSON string from a length-counted one (cJSON wants it
 * NUL-terminated).  What JSON text cannot carry -- a NUL, bytes that are
 * not UTF-8, which a raw client may store in a value -- becomes U+FFFD,
 * so that the JSON stays valid and nothing is cut short; the exact
 * conversion tags such strings instead ({"$str":HEX}).
 */
static cJSON *
json_strn(const char *s, size_t n)
{
	cJSON *j;
	char *t, *o;
	size_t i = 0, k;
	uint32_t cp;

	if ((o = t = malloc(3 * n + 1)) == NULL)
		return (NULL);
	while (i < n) {
		if ((k = utf8_next(s + i, n - i, &cp)) == 0 || cp == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(o, s + i, k);
		o += k;
		i += k;
	}
	*o = '\0';
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

/* {"$TAG": v}, taking v; NULL when out of memory. */
static cJSON *
json_tagged(const char *tag, cJSON *v)
{
	cJSON *j;

	if (v == NULL)
		return (NULL);
	if ((j = cJSON_CreateObject()) == NULL || !cJSON_AddItemToObject(j, tag, v)) {
		cJSON_Delete(v);
		cJSON_Delete(j);
		return (NULL);
	}
	return (j);
}

/* {"$str"|"$bin": "HEX"} of n bytes. */
static cJSON *
json_hex(const char *tag, const char *p, size_t n)
{
	cJSON *v;
	char *s;
	size_t i;

	s = xmalloc(2 * n + 1);
	for (i = 0; i < n; i++) {
		s[2 * i] = json_digits[(unsigned char)p[i] >> 4];
		s[2 * i + 1] = json_digits[(unsigned char)p[i] & 0xf];
	}
	s[2 * n] = '\0';
	v = cJSON_CreateString(s);
	free(s);
	return (json_tagged(tag, v));
}

/* Is p[0..n) UTF-8 without NUL, so that it survives as a JSON string through cJSON? */
static int
json_utf8(const char *p, size_t n)
{
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		if ((k = utf8_next(p + i, n - i, &cp)) == 0 || cp == 0)
			return (0);
		i += k;
	}
	return (1);
}

/* The shortest text of a double that reads back as the same double. */
static void
json_double_text(double d, char *buf, size_t len)
{
	int prec;

	for (prec = 15; prec < 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
	snprintf(buf, len, "%.17g", d);
}

/* A number, exactly: integers raw or as $int, floats raw or as $float. */
static cJSON *
json_exact_number(const msgpack_object *o)
{
	char buf[40];
	double d;

	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)o->via.u64);
		if (o->via.u64 > JSON_SAFE_INT)
			return (json_tagged("$int", cJSON_CreateString(buf)));
		return (cJSON_CreateRaw(buf));
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(buf, sizeof buf, "%lld", (long long)o->via.i64);
		if (o->via.i64 < -(int64_t)JSON_SAFE_INT)
			return (json_tagged("$int", cJSON_CreateString(buf)));
		return (cJSON_CreateRaw(buf));
	default:
		/* a float32 is read as the double it equals and comes back as one */
		d = o->via.f64;
		json_double_text(d, buf, sizeof buf);
		/* what import would take for an integer, or JSON cannot write */
		if (!isfinite(d) || d == floor(d))
			return (json_tagged("$float", cJSON_CreateString(buf)));
		return (cJSON_CreateRaw(buf));
	}
}

/* Can map o be a JSON object without losing anything in exact mode? */
static int
json_plain_map(const msgpack_object *o)
{
	const msgpack_object *k;
	uint32_t i;

	for (i = 0; i < o->via.map.size; i++) {
		k = &o->via.map.ptr[i].key;
		if (k->type != MSGPACK_OBJECT_STR ||
		    !json_utf8(k->via.str.ptr, k->via.str.size))
			return (0);
		/* {"$...": v} would be read back as a tag */
		if (o->via.map.size == 1 && k->via.str.size > 0 && k->via.str.ptr[0] == '$')
			return (0);
	}
	return (1);
}

static cJSON *json_from_mp(const msgpack_object *, int);

/* {"$map": [[K, V], ...]}: a map that is no JSON object. */
static cJSON *
json_pairs(const msgpack_object *o)
{
	const msgpack_object_kv *kv;
	cJSON *a, *pair, *k, *v;
	uint32_t i;

	if ((a = cJSON_CreateArray()) == NULL)
		return (NULL);
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		pair = cJSON_CreateArray();
		k = json_from_mp(&kv->key, 1);
		v = json_from_mp(&kv->val, 1);
		if (pair == NULL || k == NULL || v == NULL) {
			cJSON_Delete(k);
			cJSON_Delete(v);
			cJSON_Delete(pair);
			cJSON_Delete(a);
			return (NULL);
		}
		/* adding fails only for NULL items */
		cJSON_AddItemToArray(pair, k);
		cJSON_AddItemToArray(pair, v);
		cJSON_AddItemToArray(a, pair);
	}
	return (json_tagged("$map", a));
}

/* The key of a map entry as a NUL-terminated string (integer keys in decimal), or NULL. */
static char *
json_key(const msgpack_object *k)
{
	char *s;

	switch (k->type) {
	case MSGPACK_OBJECT_STR: /* an empty string's ptr may be NULL */
		return (k->via.str.size == 0 ? xstrdup("")
					     : xstrndup(k->via.str.ptr, k->via.str.size));
	case MSGPACK_OBJECT_BIN:
		return (k->via.bin.size == 0 ? xstrdup("")
					     : xstrndup(k->via.bin.ptr, k->via.bin.size));
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		xasprintf(&s, "%llu", (unsigned long long)k->via.u64);
		return (s);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		xasprintf(&s, "%lld", (long long)k->via.i64);
		return (s);
	default: return (NULL);
	}
}

/* Add the entries of a msgpack map to object j; -1 on allocation failure. */
static int
json_add_map(cJSON *j, const msgpack_object *o, int exact)
{
	const msgpack_object_kv *kv;
	cJSON *v;
	char *k;
	uint32_t i;

	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if ((k = json_key(&kv->key)) == NULL)
			continue; /* JSON has no other key types */
		if ((v = json_from_mp(&kv->val, exact)) == NULL) {
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
static cJSON *
json_from_mp(const msgpack_object *o, int exact)
{
	cJSON *j, *v;
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return (cJSON_CreateNull());
	case MSGPACK_OBJECT_BOOLEAN: return (cJSON_CreateBool(o->via.boolean));
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (exact)
			return (json_exact_number(o));
		if (o->via.u64 >= JSON_EXACT_PRINT)
			return (json_bigint(o->via.u64, 0));
		return (cJSON_CreateNumber((double)o->via.u64));
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		if (exact)
			return (json_exact_number(o));
		if (o->via.i64 <= -(int64_t)JSON_EXACT_PRINT)
			return (json_bigint((uint64_t) - (o->via.i64 + 1) + 1, 1));
		return (cJSON_CreateNumber((double)o->via.i64));
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (exact)
			return (json_exact_number(o));
		/* JSON has no NaN or infinity: cJSON would print them as null anyway */
		if (!isfinite(o->via.f64))
			return (cJSON_CreateNull());
		return (cJSON_CreateNumber(o->via.f64));
	case MSGPACK_OBJECT_STR:
		if (exact && !json_utf8(o->via.str.ptr, o->via.str.size))
			return (json_hex("$str", o->via.str.ptr, o->via.str.size));
		return (json_strn(o->via.str.ptr, o->via.str.size));
	case MSGPACK_OBJECT_BIN:
		if (exact)
			return (json_hex("$bin", o->via.bin.ptr, o->via.bin.size));
		return (json_strn(o->via.bin.ptr, o->via.bin.size));
	case MSGPACK_OBJECT_ARRAY:
		if ((j = cJSON_CreateArray()) == NULL)
			return (NULL);
		for (i = 0; i < o->via.array.size; i++) {
			if ((v = json_from_mp(&o->via.array.ptr[i], exact)) == NULL ||
			    !cJSON_AddItemToArray(j, v)) {
				cJSON_Delete(v);
				cJSON_Delete(j);
				return (NULL);
			}
		}
		return (j);
	case MSGPACK_OBJECT_MAP:
		if (exact && !json_plain_map(o))
			return (json_pairs(o));
		if ((j = cJSON_CreateObject()) == NULL)
			return (NULL);
		if (json_add_map(j, o, exact) != 0) {
			cJSON_Delete(j);
			return (NULL);
		}
		return (j);
	default:
		/* ext: never accepted on the wire, nor in a stored row */
		return (exact ? NULL : cJSON_CreateNull());
	}
}

/* A new cJSON value equal to a msgpack object; NULL only when out of memory. */
cJSON *
json_from_msgpack(const msgpack_object *o)
{
	return (json_from_mp(o, 0));
}

/*
 * The same, exactly: json_pack_exact gives back the same msgpack (see
 * the tags above).  NULL when out of memory or for an ext value.
 */
cJSON *
json_from_msgpack_exact(const msgpack_object *o)
{
	return (json_from_mp(o, 1));
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
	struct jmode m = { 0, NULL };
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
		op_error_set(err, ERR_INVALID, "arguments",
		    "arguments nest deeper than %d levels", FRAME_MAX_DEPTH - 1);
		return (-1);
	}
	msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
	if (json == NULL ? msgpack_pack_map(&pk, 0) != 0 : json_pack_pk(&pk, json, &m) != 0) {
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
	/* a zone of a small first chunk (malloc's cache), not msgpack_unpack_next's 8 KiB */
	msgpack_unpacked_destroy(u);
	if ((u->zone = msgpack_zone_new(JSON_ARGS_ZONE)) == NULL)
		fatalx("json: out of memory");
	if (msgpack_unpack(sbuf->data + start, sbuf->size - start, &off, u->zone, &u->data) !=
	    MSGPACK_UNPACK_SUCCESS) {
		op_error_set(err, ERR_INTERNAL, "arguments", "cannot decode the arguments");
		return (-1);
	}
	*obj = &u->data;
	return (0);
}

/*
 * Scan the string token at text[i] (after its quote): its text (escapes
 * undone roughly, \uXXXX left out: enough to name a field) into key,
 * *nul set when it holds a NUL.  The index past its closing quote.
 */
static size_t
json_scan_string(const char *text, size_t len, size_t i, char *key, size_t klen, int *nul)
{
	size_t k = 0;

	for (; i < len && text[i] != '"'; i++) {
		if (text[i] == '\0')
			*nul = 1;
		if (text[i] == '\\' && i + 1 < len && text[i + 1] == 'u') {
			/* \uXXXX: only its being \u0000 matters, not in the name */
			if (i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
				*nul = 1;
			i += i + 5 < len ? 5 : 1;
			continue;
		}
		if (text[i] == '\\' && i + 1 < len)
			i++;
		if (k + 1 < klen)
			key[k++] = text[i];
	}
	key[k] = '\0';
	return (i + 1);
}

/* Does text hold \u0000 (looked for at each backslash: most lines have none)? */
static int
json_has_u0000(const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0)
			return (1);
		p++;
	}
	return (0);
}

/*
 * Does JSON text hold a string with a NUL in it ("\u0000" or a raw NUL
 * byte)?  cJSON keeps strings NUL-terminated and would silently cut it
 * there ("a\u0000b" becomes "a"), so callers refuse the text instead.
 * field gets the member it is in (the innermost object member, the one
 * holding an array for its elements; "" at the top).
 */
int
json_find_nul(const char *text, size_t len, char *field, size_t flen)
{
	char keys[JSON_SCAN_DEPTH][64], tok[64];
	size_t i = 0, j;
	int depth = 0, nul;

	/* a NUL is a NUL byte or \u0000: without either, no need to scan (the usual case) */
	if (memchr(text, '\0', len) == NULL && !json_has_u0000(text, len))
		return (0);
	keys[0][0] = '\0';
	while (i < len) {
		switch (text[i]) {
		case '{':
		case '[':
			if (depth + 1 < JSON_SCAN_DEPTH) {
				depth++;
				if (text[i] == '[')
					memcpy(keys[depth], keys[depth - 1],
					    sizeof keys[depth]);
				else
					keys[depth][0] = '\0';
			}
			i++;
			break;
		case '}':
		case ']':
			if (depth > 0)
				depth--;
			i++;
			break;
		case '"':
			nul = 0;
			i = json_scan_string(text, len, i + 1, tok, sizeof tok, &nul);
			for (j = i; j < len && strchr(" \t\r\n", text[j]) != NULL; j++)
				;
			if (j < len && text[j] == ':')
				memcpy(keys[depth], tok, sizeof tok);
			if (nul) {
				snprintf(field, flen, "%s",
				    keys[depth][0] != '\0' ? keys[depth] : "");
				return (1);
			}
			break;
		default: i++; break;
		}
	}
	return (0);
}

/* ---- parsing a message into a reusable block ---- */

#define JSON_ARENA_SIZE (64 * 1024) /* a request line's tree; bigger ones use malloc */
#define JSON_ARENA_ALIGN 16

/*
 * The block json_parse_scoped() parses into.  cJSON makes a malloc per
 * node and per string, and as many frees: for a tools/call line that was
 * a third of what baton mcp spent on it.  Bump-allocated while a parse
 * runs (parsing), given back by json_scope_end() in the order taken
 * (scopes nest: a held line is handled inside the line that releases it).
 */
static struct {
	char *base;
	size_t top;
	int parsing;
	unsigned long spilled; /* allocations a parse made with malloc (the block was full) */
} json_arena;

/* n bytes of the block, or NULL when it is full. */
static void *
json_arena_take(size_t n)
{
	size_t need = (n + JSON_ARENA_ALIGN - 1) & ~(size_t)(JSON_ARENA_ALIGN - 1);
	void *p;

	if (need < n || need > JSON_ARENA_SIZE - json_arena.top)
		return (NULL);
	p = json_arena.base + json_arena.top;
	json_arena.top += need;
	JSON_UNPOISON(p, n);
	return (p);
}

static void *
json_arena_malloc(size_t n)
{
	void *p;

	if (json_arena.parsing && (p = json_arena_take(n)) != NULL)
		return (p);
	json_arena.spilled += json_arena.parsing;
	return (malloc(n));
}

/* cJSON_Delete of a parsed tree: its nodes in the block go with the scope. */
static void
json_arena_free(void *p)
{
	if ((char *)p >= json_arena.base && (char *)p < json_arena.base + JSON_ARENA_SIZE)
		return;
	free(p);
}

/*
 * The usual request line, parsed without cJSON into the block: objects,
 * arrays, strings without escapes or control bytes, integers of at most
 * 15 digits, true, false, null.  Anything else (an escape, a fraction, a
 * malformed or odd text, a full block) makes it give up (NULL), and
 * cJSON parses the line instead: cJSON alone decides what is not valid,
 * and what is parsed here is the very tree cJSON would build (fuzz_jsonrpc
 * and unit_json compare the two).
 */
#define JSON_FAST_DEPTH 32
#define JSON_FAST_DIGITS 15 /* below 2^53: exact as a double, as strtod gives it */

struct jfast {
	const unsigned char *p, *end;
	int depth;
};

static cJSON *jfast_value(struct jfast *);
static int jout_plain8(const unsigned char *, int);

/* Skip what cJSON takes for whitespace: every byte up to 32. */
static void
jfast_ws(struct jfast *j)
{
	while (j->p < j->end && *j->p <= 32)
		j->p++;
}

/* A string at j->p (its quote), copied NUL-terminated into the block. */
static char *
jfast_string(struct jfast *j)
{
	const unsigned char *q, *c;
	char *s;

	/* its end, then what lies before it checked eight bytes at a time */
	if ((q = memchr(j->p + 1, '"', (size_t)(j->end - j->p - 1))) == NULL)
		return (NULL);
	for (c = j->p + 1; q - c >= 8 && jout_plain8(c, 0); c += 8)
		;
	for (; c < q; c++) {
		if (*c == '\\' || *c < 0x20)
			return (NULL);
	}
	if ((s = json_arena_take((size_t)(q - j->p))) == NULL)
		return (NULL);
	memcpy(s, j->p + 1, (size_t)(q - j->p - 1));
	s[q - j->p - 1] = '\0';
	j->p = q + 1;
	return (s);
}

/* An integer, as cJSON's parse_number makes it (valueint saturated). */
static int
jfast_number(struct jfast *j, cJSON *v)
{
	const unsigned char *q = j->p + (*j->p == '-');
	uint64_t u = 0;
	size_t n = 0;
	double d;

	for (; q < j->end && *q >= '0' && *q <= '9' && n <= JSON_FAST_DIGITS; q++, n++)
		u = u * 10 + (uint64_t)(*q - '0');
	if (n == 0 || n > JSON_FAST_DIGITS ||
	    (q < j->end && strchr("+-.eE", *q) != NULL && *q != '\0'))
		return (-1);
	d = *j->p == '-' ? -(double)u : (double)u;
	v->type = cJSON_Number;
	v->valuedouble = d;
	v->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
	j->p = q;
	return (0);
}

/* The members of an object or elements of an array at j->p (its bracket) into v. */
static int
jfast_container(struct jfast *j, cJSON *v, int object)
{
	cJSON *head = NULL, *last = NULL, *c;
	char *key = NULL;

	if (++j->depth > JSON_FAST_DEPTH)
		return (-1);
	v->type = object ? cJSON_Object : cJSON_Array;
	j->p++;
	jfast_ws(j);
	if (j->p < j->end && *j->p == (object ? '}' : ']')) {
		j->p++;
		j->depth--;
		return (0);
	}
	for (;;) {
		if (object) {
			if (j->p == j->end || *j->p != '"' || (key = jfast_string(j)) == NULL)
				return (-1);
			jfast_ws(j);
			if (j->p == j->end || *j->p != ':')
				return (-1);
			j->p++;
			jfast_ws(j);
		}
		if ((c = jfast_value(j)) == NULL)
			return (-1);
		c->string = key;
		if (head == NULL)
			head = c;
		else {
			last->next = c;
			c->prev = last;
		}
		last = c;
		jfast_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			jfast_ws(j);
			continue;
		}
		if (j->p == j->end || *j->p != (object ? '}' : ']'))
			return (-1);
		j->p++;
		head->prev = last; /* as cJSON links them: the first's prev is the last */
		v->child = head;
		j->depth--;
		return (0);
	}
}

/* One value at j->p (not whitespace), or NULL to give up. */
static cJSON *
jfast_value(struct jfast *j)
{
	static const struct {
		const char *word;
		int type;
	} words[] = { { "null", cJSON_NULL }, { "false", cJSON_False },
		{ "true", cJSON_True } };
	size_t i, n, left = (size_t)(j->end - j->p);
	cJSON *v;
	int rc = -1;

	if (left == 0 || (v = json_arena_take(sizeof *v)) == NULL)
		return (NULL);
	memset(v, 0, sizeof *v);
	switch (*j->p) {
	case '{':
	case '[': rc = jfast_container(j, v, *j->p == '{'); break;
	case '"':
		v->type = cJSON_String;
		rc = (v->valuestring = jfast_string(j)) != NULL ? 0 : -1;
		break;
	case 'n':
	case 'f':
	case 't':
		for (i = 0; i < nitems(words); i++) {
			n = strlen(words[i].word);
			if (left >= n && memcmp(j->p, words[i].word, n) == 0) {
				v->type = words[i].type;
				v->valueint = words[i].type == cJSON_True; /* cJSON's, too */
				j->p += n;
				rc = 0;
				break;
			}
		}
		break;
	default:
		if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
			rc = jfast_number(j, v);
		break;
	}
	return (rc == 0 ? v : NULL);
}

/*
 * Parse len bytes of JSON text as cJSON_ParseWithLength does, into the
 * block while it has room: the tree is valid until json_scope_end(scope),
 * which frees it (the caller does not).  Nothing parsed here may be kept
 * past it: cJSON_Duplicate what must stay (made with malloc, as
 * everything cJSON makes outside a parse), and nothing made outside may
 * be added to the tree (it would not be freed).
 */
cJSON *
json_parse_scoped(const char *text, size_t len, struct json_scope *scope)
{
	static cJSON_Hooks hooks = { json_arena_malloc, json_arena_free };
	struct jfast j = { (const unsigned char *)text, (const unsigned char *)text + len, 0 };
	unsigned long spilled;
	cJSON *v;

	if (json_arena.base == NULL) {
		/* the hooks stay: a tree's nodes must be freed by json_arena_free */
		json_arena.base = xmalloc(JSON_ARENA_SIZE);
		JSON_POISON(json_arena.base, JSON_ARENA_SIZE);
		cJSON_InitHooks(&hooks);
	}
	scope->mark = json_arena.top;
	scope->in_block = 1;
	json_arena.parsing = 1;
	/* an object, then only whitespace: else cJSON says what it is */
	jfast_ws(&j);
	if (j.p < j.end && *j.p == '{' && (v = jfast_value(&j)) != NULL) {
		jfast_ws(&j);
		if (j.p == j.end) {
			json_arena.parsing = 0;
			return (scope->tree = v);
		}
	}
	json_arena.top = scope->mark; /* what the fast parse took */
	spilled = json_arena.spilled;
	v = cJSON_ParseWithLength(text, len);
	scope->in_block = json_arena.spilled == spilled;
	json_arena.parsing = 0;
	return (scope->tree = v);
}

/*
 * Free the tree of json_parse_scoped() (a walk only when some of it is
 * not in the block) and take its room again (poisoned for ASan).
 */
void
json_scope_end(struct json_scope *scope)
{
	if (!scope->in_block)
		cJSON_Delete(scope->tree); /* json_arena_free skips what is in the block */
	scope->tree = NULL;
	if (json_arena.top > scope->mark)
		JSON_POISON(json_arena.base + scope->mark, json_arena.top - scope->mark);
	json_arena.top = scope->mark;
}

/* ---- printing ---- */

static void
jout_room(struct jout *o, size_t n)
{
	if (o->len + n + 1 <= o->cap)
		return;
	while (o->len + n + 1 > o->cap)
		o->cap = o->cap == 0 ? 256 : o->cap * 2;
	o->s = xreallocarray(o->s, 1, o->cap);
}

void
jout_add(struct jout *o, const char *s, size_t n)
{
	jout_room(o, n);
	memcpy(o->s + o->len, s, n);
	o->len += n;
}

/* One byte (a bracket, a comma, a quote), without jout_add's call to memcpy. */
static inline void
jout_byte(struct jout *o, char c)
{
	if (o->len + 2 > o->cap)
		jout_room(o, 1);
	o->s[o->len++] = c;
}

/*
 * A number as cJSON prints it, integers without printf: the integral
 * values json_from_msgpack makes (below 10^14; larger ones are raw text)
 * in decimal at once, anything else as "%1.15g" when that reads back the
 * same, else "%1.17g".
 */
static void
jout_number(struct jout *o, double d)
{
	char buf[32], *p = buf + sizeof buf;
	unsigned long long u;
	double back;
	int n;

	if (!isfinite(d)) {
		jout_add(o, "null", 4);
		return;
	}
	if (d == floor(d) && fabs(d) < 1e15) {
		u = (unsigned long long)fabs(d);
		do {
			*--p = (char)('0' + u % 10);
			u /= 10;
		} while (u > 0);
		if (d < 0)
			*--p = '-';
		jout_add(o, p, (size_t)(buf + sizeof buf - p));
		return;
	}
	n = snprintf(buf, sizeof buf, "%1.15g", d);
	if (sscanf(buf, "%lg", &back) != 1 || back != d)
		n = snprintf(buf, sizeof buf, "%1.17g", d);
	jout_add(o, buf, (size_t)n);
}

/* The JSON escape of byte c (below 0x20, '"' or '\\') into esc; its length (2 or 6). */
static size_t
jout_escape(unsigned char c, char *esc)
{
	esc[0] = '\\';
	switch (c) {
	case '"':
	case '\\': esc[1] = (char)c; break;
	case '\b': esc[1] = 'b'; break;
	case '\f': esc[1] = 'f'; break;
	case '\n': esc[1] = 'n'; break;
	case '\r': esc[1] = 'r'; break;
	case '\t': esc[1] = 't'; break;
	default:
		memcpy(esc + 1, "u00", 3);
		esc[4] = json_digits[c >> 4];
		esc[5] = json_digits[c & 0xf];
		return (6);
	}
	return (2);
}

#define JOUT_ONES 0x0101010101010101ULL
#define JOUT_HIGHS 0x8080808080808080ULL

/*
 * Is every byte of the 8 at p one a JSON string takes as it is: none
 * below 0x20, no '"', no '\\' (and, with ascii, none from 0x80)?  Eight
 * bytes tested at once; a yes is exact, so is a no.
 */
static int
jout_plain8(const unsigned char *p, int ascii)
{
	uint64_t v, q, b;

	memcpy(&v, p, sizeof v);
	q = v ^ (JOUT_ONES * '"');
	b = v ^ (JOUT_ONES * '\\');
	/* (x - ONES * n) & ~x & HIGHS: some byte of x is below n (n <= 0x80) */
	return ((((v - JOUT_ONES * 0x20) & ~v) | ((q - JOUT_ONES) & ~q) |
		    ((b - JOUT_ONES) & ~b) | (ascii ? v : 0)) &
		   JOUT_HIGHS) == 0;
}

/*
 * A string of n bytes, escaped as JSON (and cJSON) want it: written in
 * place, room made once for the worst (every byte a \\u00XX), eight
 * plain bytes at a time.
 */
void
jout_stringn(struct jout *o, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n, *stop;
	char *w;

	jout_room(o, 6 * n + 2);
	w = o->s + o->len;
	*w++ = '"';
	while (p < end) {
		if (end - p >= 8 && jout_plain8(p, 0)) {
			memcpy(w, p, 8);
			w += 8;
			p += 8;
			continue;
		}
		/* a chunk with something to escape (JSON text: quotes), byte by byte */
		for (stop = end - p >= 8 ? p + 8 : end; p < stop; p++) {
			if (*p >= 0x20 && *p != '"' && *p != '\\')
				*w++ = (char)*p;
			else if (*p >= 0x20) { /* '"' or '\\', the usual: no call */
				w[0] = '\\';
				w[1] = (char)*p;
				w += 2;
			} else
				w += jout_escape(*p, w);
		}
	}
	*w++ = '"';
	o->len = (size_t)(w - o->s);
}

/* A NUL-terminated string, escaped. */
static void
jout_string(struct jout *o, const char *s)
{
	jout_stringn(o, s, strlen(s));
}

int
jout_json(struct jout *o, const cJSON *j)
{
	const cJSON *c;

	switch (j->type & 0xff) {
	case cJSON_NULL: jout_add(o, "null", 4); return (0);
	case cJSON_False: jout_add(o, "false", 5); return (0);
	case cJSON_True: jout_add(o, "true", 4); return (0);
	case cJSON_Number: jout_number(o, j->valuedouble); return (0);
	case cJSON_String:
		if (j->valuestring == NULL)
			return (-1);
		jout_string(o, j->valuestring);
		return (0);
	case cJSON_Raw:
		if (j->valuestring == NULL)
			return (-1);
		jout_add(o, j->valuestring, strlen(j->valuestring));
		return (0);
	case cJSON_Array:
	case cJSON_Object:
		jout_byte(o, (j->type & 0xff) == cJSON_Array ? '[' : '{');
		for (c = j->child; c != NULL; c = c->next) {
			if (c != j->child)
				jout_byte(o, ',');
			if ((j->type & 0xff) == cJSON_Object) {
				if (c->string == NULL)
					return (-1);
				jout_string(o, c->string);
				jout_byte(o, ':');
			}
			if (jout_json(o, c) != 0)
				return (-1);
		}
		jout_byte(o, (j->type & 0xff) == cJSON_Array ? ']' : '}');
		return (0);
	}
	return (-1);
}

/*
 * j as compact JSON text, the bytes cJSON_PrintUnformatted gives, in one
 * pass without printf for strings and integers; its length in *len.
 * NULL when j cannot be printed.
 */
char *
json_print(const cJSON *j, size_t *len)
{
	struct jout o = { NULL, 0, 0 };

	if (jout_json(&o, j) != 0) {
		free(o.s);
		return (NULL);
	}
	return (jout_end(&o, len));
}

/* The text of o, NUL-terminated (room for one byte more: a newline), and its length. */
char *
jout_end(struct jout *o, size_t *len)
{
	jout_room(o, 0);
	o->s[o->len] = '\0';
	if (len != NULL)
		*len = o->len;
	return (o->s);
}

/* ---- msgpack straight to JSON text ---- */

/*
 * A string or binary of n bytes as json_strn makes it and jout_stringn
 * prints it: what is not UTF-8, and NUL, as U+FFFD.
 */
static void
jout_mp_strn(struct jout *o, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run, k;
	uint32_t cp;
	char esc[8];

	jout_byte(o, '"');
	while (i < n) {
		run = i;
		while (n - i >= 8 && jout_plain8(p + i, 1))
			i += 8;
		while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
			i++;
		jout_add(o, s + run, i - run);
		if (i == n)
			break;
		if ((k = utf8_next(s + i, n - i, &cp)) == 0 || cp == 0) {
			jout_add(o, "\xef\xbf\xbd", 3);
			i++;
		} else if (k == 1) {
			jout_add(o, esc, jout_escape(p[i++], esc));
		} else {
			jout_add(o, s + i, k);
			i += k;
		}
	}
	jout_byte(o, '"');
}

/* An integer in decimal. */
static void
jout_int(struct jout *o, uint64_t mag, int neg)
{
	char buf[24], *p = buf + sizeof buf;

	do {
		*--p = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag > 0);
	if (neg)
		*--p = '-';
	jout_add(o, p, (size_t)(buf + sizeof buf - p));
}

/* Does v become null in JSON (json_from_msgpack: nil, NaN, infinities, ext)? */
static int
jout_mp_null(const msgpack_object *v)
{
	switch (v->type) {
	case MSGPACK_OBJECT_NIL: return (1);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return (!isfinite(v->via.f64));
	case MSGPACK_OBJECT_BOOLEAN:
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
	case MSGPACK_OBJECT_STR:
	case MSGPACK_OBJECT_BIN:
	case MSGPACK_OBJECT_ARRAY:
	case MSGPACK_OBJECT_MAP: return (0);
	default: return (1);
	}
}

/*
 * The name of map key k as json_key gives it, in buf when it fits, else
 * allocated (*heap, for the caller to free); NULL for a key JSON has no
 * room for.  A name stops at a NUL, as a cJSON member's name does.
 */
static const char *
jout_mp_key(const msgpack_object *k, char *buf, size_t size, char **heap)
{
	const char *p;
	size_t n;

	*heap = NULL;
	switch (k->type) {
	case MSGPACK_OBJECT_STR:
	case MSGPACK_OBJECT_BIN:
		p = k->type == MSGPACK_OBJECT_STR ? k->via.str.ptr : k->via.bin.ptr;
		n = k->type == MSGPACK_OBJECT_STR ? k->via.str.size : k->via.bin.size;
		if (n > 0 && memchr(p, '\0', n) != NULL)
			n = strlen(p);
		if (n >= size)
			return (*heap = xstrndup(p, n));
		if (n > 0)
			memcpy(buf, p, n);
		buf[n] = '\0';
		return (buf);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(buf, size, "%llu", (unsigned long long)k->via.u64);
		return (buf);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(buf, size, "%lld", (long long)k->via.i64);
		return (buf);
	default: return (NULL);
	}
}

/*
 * Map o as a JSON object, the members keep (when not NULL) says yes to:
 * keep(arg, name, is_null).
 */
int
jout_msgpack_map(struct jout *o, const msgpack_object *map,
    int (*keep)(void *, const char *, int), void *arg)
{
	const msgpack_object_kv *kv;
	const char *name;
	char buf[128], *heap;
	uint32_t i;
	int first = 1, rc = 0;

	jout_byte(o, '{');
	for (i = 0; i < map->via.map.size && rc == 0; i++) {
		kv = &map->via.map.ptr[i];
		if ((name = jout_mp_key(&kv->key, buf, sizeof buf, &heap)) == NULL)
			continue; /* JSON has no other key types */
		if (keep == NULL || keep(arg, name, jout_mp_null(&kv->val))) {
			if (!first)
				jout_byte(o, ',');
			first = 0;
			jout_string(o, name);
			jout_byte(o, ':');
			rc = jout_msgpack(o, &kv->val);
		}
		free(heap);
	}
	jout_byte(o, '}');
	return (rc);
}

/*
 * A msgpack object as JSON text, the very bytes json_print gives for
 * json_from_msgpack of it, without building the cJSON tree.
 */
int
jout_msgpack(struct jout *o, const msgpack_object *v)
{
	uint32_t i;

	switch (v->type) {
	case MSGPACK_OBJECT_BOOLEAN:
		if (v->via.boolean)
			jout_add(o, "true", 4);
		else
			jout_add(o, "false", 5);
		return (0);
	case MSGPACK_OBJECT_POSITIVE_INTEGER: jout_int(o, v->via.u64, 0); return (0);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		jout_int(o, (uint64_t) - (v->via.i64 + 1) + 1, 1);
		return (0);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(v->via.f64))
			break;
		jout_number(o, v->via.f64);
		return (0);
	case MSGPACK_OBJECT_STR: jout_mp_strn(o, v->via.str.ptr, v->via.str.size); return (0);
	case MSGPACK_OBJECT_BIN: jout_mp_strn(o, v->via.bin.ptr, v->via.bin.size); return (0);
	case MSGPACK_OBJECT_ARRAY:
		jout_byte(o, '[');
		for (i = 0; i < v->via.array.size; i++) {
			if (i > 0)
				jout_byte(o, ',');
			if (jout_msgpack(o, &v->via.array.ptr[i]) != 0)
				return (-1);
		}
		jout_byte(o, ']');
		return (0);
	case MSGPACK_OBJECT_MAP: return (jout_msgpack_map(o, v, NULL, NULL));
	default: break;
	}
	jout_add(o, "null", 4); /* nil, and what JSON has no room for */
	return (0);
}
