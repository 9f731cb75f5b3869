/*
 * JSON <-> msgpack (common/json.c): what the CLI and the MCP
 * server send is what the user wrote, and what they print is what the
 * broker answered.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "shim.h"
#include "tap.h"
#include "json_tree.h"

/* JSON in, the compact JSON expected after JSON -> msgpack -> JSON. */
static const struct {
	const char *in, *out;
} round_trips[] = {
	{ "{}", "{}" },
	{ "[]", "[]" },
	{ "null", "null" },
	{ "true", "true" },
	{ "false", "false" },
	{ "0", "0" },
	{ "-1", "-1" },
	{ "42", "42" },
	{ "1.5", "1.5" },
	{ "-0.25", "-0.25" },
	{ "1e300", "1e+300" },
	{ "12345678901234", "12345678901234" },
	{ "123456789012345", "123456789012345" },
	{ "1234567890123456", "1234567890123456" },
	{ "9007199254740992", "9007199254740992" },
	{ "-9007199254740992", "-9007199254740992" },
	{ "\"\"", "\"\"" },
	{ "{\"\":\"\"}", "{\"\":\"\"}" },
	{ "\"h\\u00e9llo \\u2603 \\ud83d\\ude00\"",
	    "\"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\"" },
	{ "\"caf\xc3\xa9\"", "\"caf\xc3\xa9\"" },
	{ "\"quote \\\" backslash \\\\ newline \\n tab \\t\"",
	    "\"quote \\\" backslash \\\\ newline \\n tab \\t\"" },
	{ "{\"a\": {\"b\": [1, {\"c\": null}]}, \"d\": [], \"e\": {}}",
	    "{\"a\":{\"b\":[1,{\"c\":null}]},\"d\":[],\"e\":{}}" },
	{ "[[[[[[[[1]]]]]]]]", "[[[[[[[[1]]]]]]]]" },
	{ "{\"name\":\"x\",\"wait_seconds\":2.5,\"names\":[\"a\",\"b\"],\"ok\":true}",
	    "{\"name\":\"x\",\"wait_seconds\":2.5,\"names\":[\"a\",\"b\"],\"ok\":true}" },
	{ "[-1.5e-7, 0.1, 100000000000000000000]", "[-1.5e-07,0.1,1e+20]" },
};

/* JSON number in, the msgpack type it must travel as. */
static const struct {
	const char *in;
	msgpack_object_type type;
} num_types[] = {
	{ "0", MSGPACK_OBJECT_POSITIVE_INTEGER },
	{ "42", MSGPACK_OBJECT_POSITIVE_INTEGER },
	{ "3.0", MSGPACK_OBJECT_POSITIVE_INTEGER },
	{ "-3", MSGPACK_OBJECT_NEGATIVE_INTEGER },
	{ "9007199254740992", MSGPACK_OBJECT_POSITIVE_INTEGER },
	{ "-9007199254740992", MSGPACK_OBJECT_NEGATIVE_INTEGER },
	{ "18014398509481984", MSGPACK_OBJECT_FLOAT64 }, /* 2^54: past exact ints */
	{ "1.5", MSGPACK_OBJECT_FLOAT64 },
	{ "-0.5", MSGPACK_OBJECT_FLOAT64 },
	{ "1e300", MSGPACK_OBJECT_FLOAT64 },
};

/* Pack JSON text and unpack it into u; 0 ok. */
static int
pack_text(const char *text, struct fbuf *fb, msgpack_unpacked *u)
{
	cJSON *j;
	size_t off = 0;
	int r;

	if ((j = cJSON_Parse(text)) == NULL)
		return (-1);
	r = json_pack(fb, j);
	cJSON_Delete(j);
	if (r != 0)
		return (-1);
	if (msgpack_unpack_next(u, fb->sb.data + FRAME_HDR, fb->sb.size - FRAME_HDR, &off) !=
		MSGPACK_UNPACK_SUCCESS ||
	    off != fb->sb.size - FRAME_HDR)
		return (-1);
	return (0);
}

/* JSON -> msgpack -> compact JSON text (malloc'd), or NULL. */
static char *
round_trip(const char *text)
{
	struct fbuf fb;
	msgpack_unpacked u;
	cJSON *j;
	char *s = NULL;

	fbuf_init(&fb);
	msgpack_unpacked_init(&u);
	if (pack_text(text, &fb, &u) == 0 && (j = json_from_msgpack(&u.data)) != NULL) {
		s = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
	}
	msgpack_unpacked_destroy(&u);
	fbuf_free(&fb);
	return (s);
}

static void
test_round_trips(void)
{
	size_t i;
	char *s;

	for (i = 0; i < nitems(round_trips); i++) {
		s = round_trip(round_trips[i].in);
		if (!ok(s != NULL && strcmp(s, round_trips[i].out) == 0, "round trip %s",
			round_trips[i].in))
			diag("got %s, want %s", s != NULL ? s : "(null)", round_trips[i].out);
		free(s);
	}
}

static void
test_number_types(void)
{
	struct fbuf fb;
	msgpack_unpacked u;
	size_t i;
	int r;

	for (i = 0; i < nitems(num_types); i++) {
		fbuf_init(&fb);
		msgpack_unpacked_init(&u);
		r = pack_text(num_types[i].in, &fb, &u);
		if (!ok(r == 0 && u.data.type == num_types[i].type,
			"%s packs as msgpack type %d", num_types[i].in, (int)num_types[i].type))
			diag("got type %d", r == 0 ? (int)u.data.type : -1);
		msgpack_unpacked_destroy(&u);
		fbuf_free(&fb);
	}
}

/* Decode msgpack built by hand: bin, integer keys, NaN, which JSON lacks. */
static void
test_from_msgpack_oddities(void)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	cJSON *j;
	char *s = NULL;
	size_t off = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	msgpack_pack_str_with_body(&pk, "bin", 3);
	msgpack_pack_bin_with_body(&pk, "raw", 3);
	msgpack_pack_int(&pk, 7);
	msgpack_pack_str_with_body(&pk, "seven", 5);
	msgpack_pack_str_with_body(&pk, "nan", 3);
	msgpack_pack_double(&pk, 0.0 / 0.0);
	msgpack_pack_str_with_body(&pk, "u64", 3);
	msgpack_pack_uint64(&pk, UINT64_MAX);
	msgpack_pack_str_with_body(&pk, "i64", 3);
	msgpack_pack_int64(&pk, INT64_MIN);
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
	    (j = json_from_msgpack(&u.data)) != NULL) {
		s = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
	}
	if (!ok(s != NULL &&
		    strcmp(s,
			"{\"bin\":\"raw\",\"7\":\"seven\",\"nan\":null,"
			"\"u64\":18446744073709551615,\"i64\":-9223372036854775808}") == 0,
		"bin as string, integer key as text, NaN as null, 64-bit ints exact"))
		diag("got %s", s != NULL ? s : "(null)");
	free(s);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/* json_args_to_msgpack: objects pass, anything else names "arguments". */
static void
test_args(void)
{
	static const struct {
		const char *in; /* NULL: no arguments at all */
		int ok;
		const char *field;
	} cases[] = {
		{ NULL, 1, "" },
		{ "{}", 1, "" },
		{ "{\"name\":\"x\",\"names\":[\"a\"]}", 1, "" },
		{ "[]", 0, "arguments" },
		{ "\"name\"", 0, "arguments" },
		{ "null", 0, "arguments" },
		{ "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
		  "]]]]]]]]]]]]}",
		    0, "arguments" },
	};
	const msgpack_object *obj;
	struct op_error err;
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	cJSON *j;
	size_t i;
	int r;

	for (i = 0; i < nitems(cases); i++) {
		j = cases[i].in != NULL ? cJSON_Parse(cases[i].in) : NULL;
		msgpack_sbuffer_init(&sb);
		msgpack_unpacked_init(&u);
		memset(&err, 0, sizeof err);
		r = json_args_to_msgpack(j, &sb, &u, &obj, &err);
		if (cases[i].ok)
			ok(r == 0 && obj != NULL && obj->type == MSGPACK_OBJECT_MAP,
			    "args %s become a map",
			    cases[i].in != NULL ? cases[i].in : "(none)");
		else if (!ok(r == -1 && strcmp(err.field, cases[i].field) == 0 &&
				 strcmp(err.code, ERR_INVALID) == 0,
			     "args %.20s rejected, field %s", cases[i].in, cases[i].field))
			diag("r %d field '%s' message '%s'", r, err.field, err.message);
		msgpack_unpacked_destroy(&u);
		msgpack_sbuffer_destroy(&sb);
		cJSON_Delete(j);
	}
}

/* The args map is what op_validate checks: a valid call passes, a bad one names its field. */
static void
test_args_validate(void)
{
	const msgpack_object *obj, *vals[OP_MAX_ARGS];
	const struct op *op = op_find("lock_acquire", 12);
	struct op_error err;
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	cJSON *j;
	int r;

	j = cJSON_Parse("{\"name\":\"npm\",\"wait_seconds\":3,\"mode\":\"nope\"}");
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&u);
	memset(&err, 0, sizeof err);
	r = json_args_to_msgpack(j, &sb, &u, &obj, &err);
	ok(r == 0 && op != NULL && op_validate(op, obj, vals, &err) == -1 &&
		strcmp(err.field, "mode") == 0,
	    "op_validate on converted args names the field (mode)");
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	cJSON_Delete(j);
}

/* Exact JSON (batond's export) that must come back unchanged through msgpack. */
static const char *const exact_round_trips[] = {
	"{\"$int\":\"18446744073709551615\"}",
	"{\"$int\":\"-9223372036854775808\"}",
	"{\"$int\":\"9007199254740993\"}",
	"9007199254740992",
	"-9007199254740992",
	"{\"$float\":\"600\"}",
	"{\"$float\":\"-0\"}",
	"{\"$float\":\"inf\"}",
	"0.30000000000000004",
	"-3e-07",
	"{\"$str\":\"ff00\"}",
	"{\"$str\":\"6100\"}",
	"{\"$bin\":\"0102\"}",
	"{\"$bin\":\"\"}",
	"{\"$map\":[[\"$int\",\"x\"]]}",
	"{\"$map\":[[1,2],[\"a\",3]]}",
	"{\"a\":{\"$int\":\"x\",\"b\":1},\"c\":[1,2.5,\"caf\xc3\xa9\"]}",
	"{\"line\":\"a\\nb\"}",
};

/* Exact JSON that json_pack_exact must refuse. */
static const char *const exact_refused[] = {
	"{\"$int\":\"12x\"}",
	"{\"$int\":\"18446744073709551616\"}",
	"{\"$int\":7}",
	"{\"$float\":\"1.5.2\"}",
	"{\"$str\":\"f\"}",
	"{\"$str\":\"zz\"}",
	"{\"$map\":[[1]]}",
	"{\"$map\":{}}",
	"{\"$nope\":1}",
};

/* Exact JSON -> msgpack -> exact JSON text (malloc'd), or NULL with *why. */
static char *
exact_round_trip(const char *text, const char **why)
{
	struct fbuf fb;
	msgpack_unpacked u;
	cJSON *j, *back;
	size_t off = 0;
	char *s = NULL;

	*why = "not JSON";
	if ((j = cJSON_Parse(text)) == NULL)
		return (NULL);
	fbuf_init(&fb);
	msgpack_unpacked_init(&u);
	if (json_pack_exact(&fb, j, why) == 0 &&
	    msgpack_unpack_next(&u, fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, &off) ==
		MSGPACK_UNPACK_SUCCESS &&
	    (back = json_from_msgpack_exact(&u.data)) != NULL) {
		s = cJSON_PrintUnformatted(back);
		cJSON_Delete(back);
	}
	msgpack_unpacked_destroy(&u);
	fbuf_free(&fb);
	cJSON_Delete(j);
	return (s);
}

static void
test_exact(void)
{
	const char *why;
	size_t i;
	char *s;

	for (i = 0; i < nitems(exact_round_trips); i++) {
		s = exact_round_trip(exact_round_trips[i], &why);
		if (!ok(s != NULL && strcmp(s, exact_round_trips[i]) == 0,
			"exact round trip %s", exact_round_trips[i]))
			diag("got %s", s != NULL ? s : why != NULL ? why : "(null)");
		free(s);
	}
	for (i = 0; i < nitems(exact_refused); i++) {
		s = exact_round_trip(exact_refused[i], &why);
		ok(s == NULL && why != NULL, "exact packing refuses %s (%s)", exact_refused[i],
		    why != NULL ? why : "no reason");
		free(s);
	}
}

/* json_print gives the bytes cJSON_PrintUnformatted gives, integers without printf. */
static void
test_print(void)
{
	static const char *const docs[] = {
		"{\"a\":1,\"b\":-1,\"c\":0,\"d\":99999999999999,\"e\":-99999999999999}",
		"[0.5,-0.25,3.141592653589793,1e-07,1.5e+300,0.1,123456789012345.6]",
		"{\"s\":\"quote \\\" back \\\\ nl \\n tab \\t cr \\r bs \\b ff \\f \\u0001 "
		"\\u001f é ☃\"}",
		"{\"n\":null,\"t\":true,\"f\":false,\"e\":{},\"a\":[],\"x\":[[{}]]}",
		"{\"k\\n\\\"\":[1,2,{\"z\":[true,null]}]}",
	};
	char *want, *got;
	cJSON *j, *big;
	size_t i, len;

	for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		j = cJSON_Parse(docs[i]);
		want = cJSON_PrintUnformatted(j);
		got = json_print(j, &len);
		ok(j != NULL && got != NULL && strcmp(want, got) == 0 && len == strlen(got),
		    "json_print of %s: %s (cJSON: %s)", docs[i], got, want);
		free(want);
		free(got);
		cJSON_Delete(j);
	}
	/* raw text (large integers, printed results) goes out as it is */
	j = cJSON_CreateObject();
	big = cJSON_CreateRaw("9007199254740993");
	cJSON_AddItemToObject(j, "big", big);
	got = json_print(j, NULL);
	ok(got != NULL && strcmp(got, "{\"big\":9007199254740993}") == 0,
	    "raw text verbatim: %s", got);
	free(got);
	cJSON_Delete(j);
}

/*
 * json_parse_scoped parses the usual lines itself: the tree must be the
 * one cJSON_ParseWithLength builds, and what it gives up on (or cJSON
 * refuses) must come out as cJSON has it.
 */
static void
test_parse_fast(void)
{
	static const char *const docs[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/call\",\"params\":{\"name\":"
		"\"lock_acquire\",\"arguments\":{\"name\":\"bench-pair\"}}}",
		" \t{ \"a\" : [ 1 , -2 , 0 , -0 , 007 , true , false , null , { } , [ ] ] "
		"}\r\n",
		"{\"big\":999999999999999,\"neg\":-999999999999999,\"int\":2147483648,"
		"\"low\":-2147483649,\"edge\":2147483647}",
		"{\"more\":9999999999999999,\"frac\":1.5,\"exp\":1e3,\"plus\":1e+2}",
		"{\"esc\":\"a\\\"b\",\"u\":\"\\u00e9\",\"raw\":\"é ☃\"}",
		"{\"dup\":1,\"dup\":2}",
		"{\"ctl\":\"a\tb\"}",
		"{\"a\":1} trailing",
		"{\"a\":1,}",
		"{\"a\" 1}",
		"{\"a\":nul}",
		"{\"a\":truex}",
		"{\"a\":-}",
		"{\"a\":1-2}",
		"{\"a\":[1,2}",
		"{\"a\":\"open",
		"{\"a\":",
		"{",
		"[1,2,3]",
		"\"text\"",
		"42",
		"{\"d\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
		"]]]]]]]]]]}",
		"\xef\xbb\xbf{\"bom\":1}",
	};
	struct json_scope scope;
	cJSON *mine, *theirs;
	char *a, *b;
	size_t i;

	for (i = 0; i < nitems(docs); i++) {
		mine = json_parse_scoped(docs[i], strlen(docs[i]), &scope);
		theirs = cJSON_ParseWithLength(docs[i], strlen(docs[i]));
		a = mine != NULL ? json_print(mine, NULL) : NULL;
		b = theirs != NULL ? json_print(theirs, NULL) : NULL;
		ok(same_tree(mine, theirs), "parsed as cJSON parses %s: %s (cJSON: %s)",
		    docs[i], a != NULL ? a : "(none)", b != NULL ? b : "(none)");
		free(a);
		free(b);
		cJSON_Delete(theirs);
		json_scope_end(&scope);
	}
}

/*
 * json_parse_scoped: trees in the reusable block, nested scopes, a tree
 * too big for it, and what is duplicated outliving its scope.
 */
static void
test_parse_scoped(void)
{
	const char *doc = "{\"jsonrpc\":\"2.0\",\"id\":7,\"params\":{\"name\":\"x\"}}";
	char *big, *got, *want;
	struct json_scope s1, s2;
	cJSON *outer, *inner, *kept, *j;
	size_t n = 20000, i, len = 0;

	outer = json_parse_scoped(doc, strlen(doc), &s1);
	kept = cJSON_Duplicate(outer, 1);
	inner = json_parse_scoped("[1,\"two\",{}]", 13, &s2);
	got = json_print(inner, NULL);
	ok(got != NULL && strcmp(got, "[1,\"two\",{}]") == 0, "nested parse: %s", got);
	free(got);
	json_scope_end(&s2);
	got = json_print(outer, NULL);
	ok(got != NULL && strcmp(got, doc) == 0, "outer tree after the inner scope: %s", got);
	free(got);
	json_scope_end(&s1);
	got = json_print(kept, NULL);
	ok(got != NULL && strcmp(got, doc) == 0, "a duplicate outlives its scope: %s", got);
	free(got);
	cJSON_Delete(kept);

	/* more than the block holds: the rest comes from malloc, freed by cJSON_Delete */
	big = xmalloc(n * 8 + 3);
	big[len++] = '[';
	for (i = 0; i < n; i++)
		len +=
		    (size_t)snprintf(big + len, 9, "%s\"%04zu\"", i > 0 ? "," : "", i % 10000);
	big[len++] = ']';
	big[len] = '\0';
	j = json_parse_scoped(big, len, &s1);
	got = json_print(j, NULL);
	ok(got != NULL && strcmp(got, big) == 0 && !s1.in_block,
	    "a tree bigger than the block (%zu bytes)", len);
	free(got);
	json_scope_end(&s1); /* LSan: what went to malloc is freed */
	free(big);

	j = json_parse_scoped("{\"a\":[1,", 8, &s1);
	ok(j == NULL, "malformed text: no tree");
	json_scope_end(&s1);
	/* printing (after the hooks are in place) still gives what free() takes */
	j = cJSON_Parse(doc);
	want = cJSON_PrintUnformatted(j);
	ok(want != NULL && strcmp(want, doc) == 0, "cJSON prints with the hooks: %s", want);
	free(want);
	cJSON_Delete(j);
}

/* jout_msgpack of o: the bytes json_print gives for json_from_msgpack of it? */
static void
same_printing(const msgpack_object *o, const char *what)
{
	struct jout out = { NULL, 0, 0 };
	char *want = NULL, *got;
	cJSON *j;
	size_t len;

	if ((j = json_from_msgpack(o)) != NULL)
		want = json_print(j, NULL);
	cJSON_Delete(j);
	got = jout_msgpack(&out, o) == 0 ? jout_end(&out, &len) : NULL;
	if (!ok(want != NULL && got != NULL && strcmp(want, got) == 0 && len == strlen(got),
		"msgpack printed straight as through cJSON: %s", what))
		diag("got %s, want %s", got != NULL ? got : "(null)",
		    want != NULL ? want : "(null)");
	free(want);
	free(got);
}

/* Keep members a and n (n even when null), as the shim keeps a tool's declared results. */
static int
keep_a_n(void *arg, const char *name, int is_null)
{
	(*(int *)arg)++;
	return (strcmp(name, "a") == 0 || (strcmp(name, "n") == 0 && is_null));
}

/*
 * jout_msgpack, which baton mcp prints answers with, gives what
 * json_from_msgpack and json_print give: the round trips above and the
 * odd bytes a raw client may store (invalid UTF-8, NUL, control
 * characters, NUL in a key, binaries, ext, NaN, 64-bit extremes).
 */
static void
test_print_msgpack(void)
{
	static const char bad[] = "a\0b\xff\xc3(\xe2\x82\x01\x7f\x1f\"\\\xf0\x9f\x98\x80z"
				  "\xed\xa0\x80\xc0\x80";
	struct jout out = { NULL, 0, 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	struct fbuf fb;
	size_t i, off = 0;
	char *got;
	int calls = 0;

	for (i = 0; i < sizeof round_trips / sizeof round_trips[0]; i++) {
		fbuf_init(&fb);
		msgpack_unpacked_init(&u);
		if (pack_text(round_trips[i].in, &fb, &u) == 0)
			same_printing(&u.data, round_trips[i].in);
		else
			ok(0, "pack %s", round_trips[i].in);
		msgpack_unpacked_destroy(&u);
		fbuf_free(&fb);
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 12);
	msgpack_pack_str_with_body(&pk, "bad", 3);
	msgpack_pack_str_with_body(&pk, bad, sizeof bad - 1);
	msgpack_pack_str_with_body(&pk, "bin", 3);
	msgpack_pack_bin_with_body(&pk, bad, sizeof bad - 1);
	msgpack_pack_str_with_body(&pk, "k\0ey\n\xff", 7);
	msgpack_pack_str_with_body(&pk, "", 0);
	msgpack_pack_int(&pk, -7);
	msgpack_pack_float(&pk, 0.1f);
	msgpack_pack_uint64(&pk, UINT64_MAX);
	msgpack_pack_double(&pk, 1.0 / 0.0);
	msgpack_pack_str_with_body(&pk, "i64", 3);
	msgpack_pack_int64(&pk, INT64_MIN);
	msgpack_pack_str_with_body(&pk, "big", 3);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint64(&pk, 100000000000000ULL);
	msgpack_pack_int64(&pk, -100000000000000LL);
	msgpack_pack_double(&pk, 123456789012345.6);
	msgpack_pack_double(&pk, -0.0);
	msgpack_pack_nil(&pk);
	msgpack_pack_ext_with_body(&pk, "x", 1, 1);
	msgpack_pack_bin(&pk, 0);
	msgpack_pack_true(&pk);
	msgpack_pack_array(&pk, 0); /* an array key: left out */
	msgpack_pack_false(&pk);
	msgpack_pack_str_with_body(&pk, "a", 1);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "n", 1);
	msgpack_pack_nil(&pk);
	msgpack_pack_str_with_body(&pk, "n", 1);
	msgpack_pack_nil(&pk);
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS) {
		same_printing(&u.data, "odd bytes, keys and numbers");
		jout_msgpack_map(&out, &u.data, keep_a_n, &calls);
		got = jout_end(&out, NULL);
		ok(strcmp(got, "{\"a\":{\"n\":null},\"n\":null}") == 0 && calls == 10,
		    "jout_msgpack_map keeps what keep says, asked once per key JSON can hold: "
		    "%s, %d calls",
		    got, calls);
		free(got);
	} else
		ok(0, "unpack the odd map");
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/*
 * Strings are escaped eight bytes at a time: every byte that needs care
 * (a quote, a backslash, controls, a two-byte character, bytes that are
 * not UTF-8, NUL) at every offset of a chunk, against cJSON's own
 * printing (jout_stringn of the text, jout_msgpack of the string).
 */
static void
test_escape_chunks(void)
{
	static const char *const odd[] = { "\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xc3\xa9",
		"\xff", "\xe2\x82", "" };
	struct jout out = { NULL, 0, 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	char str[40], *want, *got;
	size_t i, pos, len, off, bad = 0;
	cJSON *j;

	for (i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		for (pos = 0; pos < 20; pos++) {
			memset(str, 'a', sizeof str);
			len = strlen(odd[i]) > 0 ? strlen(odd[i]) : 1; /* "": a NUL */
			memcpy(str + pos, odd[i], len);
			len = 20 + (pos % 9);
			/* the text content: a string without NUL, as cJSON prints it */
			if (*odd[i] != '\0' && (odd[i][0] & 0x80) == 0) {
				str[len] = '\0';
				j = cJSON_CreateString(str);
				want = cJSON_PrintUnformatted(j);
				cJSON_Delete(j);
				jout_stringn(&out, str, len);
				got = jout_end(&out, NULL);
				bad += strcmp(want, got) != 0;
				free(want);
				free(got);
				memset(&out, 0, sizeof out);
			}
			/* a string from the broker, through json_from_msgpack */
			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			msgpack_pack_str_with_body(&pk, str, len);
			msgpack_unpacked_init(&u);
			off = 0;
			if (msgpack_unpack_next(&u, sb.data, sb.size, &off) ==
			    MSGPACK_UNPACK_SUCCESS) {
				j = json_from_msgpack(&u.data);
				want = cJSON_PrintUnformatted(j);
				cJSON_Delete(j);
				jout_msgpack(&out, &u.data);
				got = jout_end(&out, NULL);
				bad += strcmp(want, got) != 0;
				free(want);
				free(got);
				memset(&out, 0, sizeof out);
			} else
				bad++;
			msgpack_unpacked_destroy(&u);
			msgpack_sbuffer_destroy(&sb);
		}
	}
	ok(bad == 0,
	    "escaping eight bytes at a time prints what cJSON prints, at every offset "
	    "(%zu differ)",
	    bad);
}

int
main(void)
{
	test_round_trips();
	test_number_types();
	test_from_msgpack_oddities();
	test_args();
	test_args_validate();
	test_exact();
	test_print();
	test_parse_scoped();
	test_parse_fast();
	test_print_msgpack();
	test_escape_chunks();
	return (done_testing());
}
