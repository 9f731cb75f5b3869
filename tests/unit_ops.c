/*
 * Unit tests of the operation table and op_validate() (common/ops.c).
 *
 * Arguments are written in a JSON-like shorthand packed straight to
 * msgpack by tj_pack(): single or double quotes, 'x'*300 repeats a string,
 * \0 is a NUL byte, bare nan and inf are doubles, map keys may be any
 * value.  Each case is sent as the "a" of a real request frame and read
 * back with frame_decode(), the path the broker takes.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "tap.h"

/* Skip blanks. */
static const char *
tj_ws(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return (p);
}

/* The end of the string starting at its quote p, repeat count included. */
static const char *
tj_skip_str(const char *p)
{
	char q = *p++;

	while (*p != '\0' && *p != q)
		p += (*p == '\\' && p[1] != '\0') ? 2 : 1;
	if (*p == q)
		p++;
	if (*p == '*')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	return (p);
}

/* The end of the value starting at p. */
static const char *
tj_skip(const char *p)
{
	int depth = 0;

	p = tj_ws(p);
	if (*p == '"' || *p == '\'')
		return (tj_skip_str(p));
	if (*p != '{' && *p != '[') {
		while (*p != '\0' && strchr(",:}]", *p) == NULL && !isspace((unsigned char)*p))
			p++;
		return (p);
	}
	while (*p != '\0') {
		if (*p == '"' || *p == '\'') {
			p = tj_skip_str(p);
			continue;
		}
		if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && --depth == 0)
			return (p + 1);
		p++;
	}
	return (p);
}

/* Elements of the container at p (just past its opening bracket). */
static size_t
tj_count(const char *p, char close)
{
	size_t n = 0;

	p = tj_ws(p);
	if (*p == close)
		return (0);
	for (;;) {
		p = tj_ws(tj_skip(p));
		if (*p == ':')
			p = tj_ws(tj_skip(p + 1));
		n++;
		if (*p != ',')
			return (n);
		p++;
	}
}

/* Pack one value; returns the text after it. */
static const char *
tj_value(struct fbuf *fb, const char *p)
{
	char buf[1024], q;
	const char *start;
	size_t n, rep, i;
	char *s, *end;

	p = tj_ws(p);
	if (*p == '{' || *p == '[') {
		q = *p == '{' ? '}' : ']';
		n = tj_count(p + 1, q);
		if (q == '}')
			pk_map(fb, n);
		else
			pk_array(fb, n);
		p = tj_ws(p + 1);
		while (*p != q && *p != '\0') {
			p = tj_value(fb, p);
			p = tj_ws(p);
			if (*p == ':')
				p = tj_ws(tj_value(fb, p + 1));
			if (*p == ',')
				p++;
			p = tj_ws(p);
		}
		return (*p == q ? p + 1 : p);
	}
	if (*p == '"' || *p == '\'') {
		q = *p++;
		for (n = 0; *p != q && *p != '\0' && n < sizeof buf; p++) {
			if (*p == '\\' && p[1] == '0') {
				buf[n++] = '\0';
				p++;
			} else if (*p == '\\' && p[1] != '\0')
				buf[n++] = *++p;
			else
				buf[n++] = *p;
		}
		if (*p != q)
			abort(); /* unterminated or longer than buf */
		p++;
		rep = 1;
		if (*p == '*') {
			rep = strtoul(p + 1, &end, 10);
			p = end;
		}
		if ((s = malloc(n * rep + 1)) == NULL)
			abort();
		for (i = 0; i < rep; i++)
			memcpy(s + i * n, buf, n);
		pk_strn(fb, s, n * rep);
		free(s);
		return (p);
	}
	start = p;
	while (*p != '\0' && *p != ',' && *p != ':' && *p != '}' && *p != ']' &&
	    !isspace((unsigned char)*p))
		p++;
	n = (size_t)(p - start);
	if (n >= sizeof buf)
		abort();
	memcpy(buf, start, n);
	buf[n] = '\0';
	if (strcmp(buf, "null") == 0)
		pk_nil(fb);
	else if (strcmp(buf, "true") == 0 || strcmp(buf, "false") == 0)
		pk_bool(fb, buf[0] == 't');
	else if (strcmp(buf, "nan") == 0)
		pk_double(fb, NAN);
	else if (strcmp(buf, "inf") == 0)
		pk_double(fb, INFINITY);
	else if (strpbrk(buf, ".eE") != NULL)
		pk_double(fb, strtod(buf, NULL));
	else if (buf[0] == '-')
		pk_int(fb, strtoll(buf, NULL, 10));
	else if (isdigit((unsigned char)buf[0]))
		pk_uint(fb, strtoull(buf, NULL, 10));
	else {
		fprintf(stderr, "unit_ops: bad literal '%s'\n", buf);
		abort();
	}
	return (p);
}

/* A decoded request frame holding args (NULL: no "a" key). */
struct req {
	msgpack_unpacked u;
	const msgpack_object *args;
	struct fbuf fb;
};

static void
req_make(struct req *r, const char *args)
{
	const char *cause = "";

	fbuf_init(&r->fb);
	pk_map(&r->fb, args != NULL ? 4 : 3);
	pk_kint(&r->fb, "t", FRAME_REQ);
	pk_kint(&r->fb, "id", 1);
	pk_kstr(&r->fb, "op", "x");
	if (args != NULL) {
		pk_str(&r->fb, "a");
		if (*tj_ws(tj_value(&r->fb, args)) != '\0') {
			fprintf(stderr, "unit_ops: trailing text in %s\n", args);
			abort();
		}
	}
	msgpack_unpacked_init(&r->u);
	if (fbuf_finish(&r->fb) != 0 ||
	    frame_decode(r->fb.sb.data + FRAME_HDR, r->fb.sb.size - FRAME_HDR, &r->u, &cause) !=
		0) {
		fprintf(stderr, "unit_ops: cannot build %s: %s\n", args, cause);
		abort();
	}
	r->args = mp_get(&r->u.data, "a");
}

static void
req_free(struct req *r)
{
	msgpack_unpacked_destroy(&r->u);
	fbuf_free(&r->fb);
}

/* Validate args (shorthand, or NULL) against op; 0 or -1, err filled. */
static int
validate(const struct op *op, const char *args, const msgpack_object **out,
    struct op_error *err)
{
	struct req r;
	int rv;

	req_make(&r, args);
	memset(err, 0, sizeof *err);
	rv = op_validate(op, r.args, out, err);
	req_free(&r);
	return (rv);
}

/* A table-only operation with one argument of every type. */
static const struct op_arg every_args[] = {
	{ "s", ARG_STRING, 0, 2, 4, NULL, NULL, "string of 2 to 4 bytes" },
	{ "i", ARG_INT, 0, -5, 5, NULL, NULL, "integer -5..5" },
	{ "n", ARG_NUMBER, 0, 0.5, 2.5, NULL, NULL, "number 0.5..2.5" },
	{ "b", ARG_BOOL, 0, 0, 0, NULL, NULL, "boolean" },
	{ "l", ARG_STRINGS, 0, 0, 3, NULL, NULL, "up to 3 strings" },
	{ "j", ARG_JSON, 0, 0, 16, NULL, NULL, "any value of at most 16 bytes" },
	{ "r", ARG_STRING, ARG_REQUIRED, 0, 8, NULL, "a|bb|", "required choice" },
};
static const struct op_result every_results[] = {
	{ "ok", "boolean", 0, "always" },
};
static const struct op every_op = {
	.name = "every",
	.title = "Every type",
	.desc = "test",
	.args = every_args,
	.nargs = nitems(every_args),
	.results = every_results,
	.nresults = nitems(every_results),
};

/* Cases on the real table (by op name) and on every_op (op NULL). */
static const struct {
	const char *op;
	const char *args;  /* NULL: no arguments at all */
	const char *field; /* NULL: valid */
} cases[] = {
	/* no arguments */
	{ "status", NULL, NULL },
	{ "status", "null", NULL },
	{ "status", "{}", NULL },
	{ "lock_list", NULL, NULL },
	{ "lock_list", "{'prefix':''}", NULL },
	{ "lock_list", "{'prefix':null}", NULL },
	/* arguments that are not a map */
	{ "status", "[]", "arguments" },
	{ "status", "'x'", "arguments" },
	{ "status", "0", "arguments" },
	{ "status", "true", "arguments" },
	{ "lock_acquire", "[{'name':'x'}]", "arguments" },
	/* argument names */
	{ "status", "{'verbose':true}", "verbose" },
	{ "lock_acquire", "{'name':'x','Name':'y'}", "Name" },
	{ "lock_acquire", "{'name':'x','':1}", "" },
	{ "lock_acquire", "{'name':'x',1:2}", "arguments" },
	{ "lock_acquire", "{'name':'x',null:2}", "arguments" },
	{ "lock_acquire", "{'name':'x','nam':'y'}", "nam" },
	{ "lock_acquire", "{'name':'x','name\\0':'y'}", "name" },
	{ "lock_acquire", "{'name':'x','name':'y'}", "name" },
	{ "lock_acquire", "{'name':'x','mode':'shared','mode':'shared'}", "mode" },
	/* strings */
	{ "lock_acquire", "{'name':'x'}", NULL },
	{ "lock_acquire", "{'name':''}", "name" },
	{ "lock_acquire", "{'name':'n'*256}", NULL },
	{ "lock_acquire", "{'name':'n'*257}", "name" },
	{ "lock_acquire", "{'name':'a\\0b'}", "name" },
	{ "lock_acquire", "{'name':1}", "name" },
	{ "lock_acquire", "{'name':['x']}", "name" },
	{ "lock_acquire", "{'name':{}}", "name" },
	{ "lock_acquire", "{'name':true}", "name" },
	{ "lock_acquire", "{'name':'x','reason':''}", NULL },
	{ "lock_acquire", "{'name':'x','reason':'r'*257}", "reason" },
	/* choices */
	{ "lock_acquire", "{'name':'x','mode':'exclusive'}", NULL },
	{ "lock_acquire", "{'name':'x','mode':'shared'}", NULL },
	{ "lock_acquire", "{'name':'x','mode':'sideways'}", "mode" },
	{ "lock_acquire", "{'name':'x','mode':'Shared'}", "mode" },
	{ "lock_acquire", "{'name':'x','mode':'share'}", "mode" },
	{ "lock_acquire", "{'name':'x','mode':'exclusive|shared'}", "mode" },
	{ "lock_acquire", "{'name':'x','mode':''}", "mode" },
	{ "lock_acquire", "{'name':'x','mode':null}", NULL },
	/* numbers */
	{ "lock_acquire", "{'name':'x','wait_seconds':0}", NULL },
	{ "lock_acquire", "{'name':'x','wait_seconds':3600}", NULL },
	{ "lock_acquire", "{'name':'x','wait_seconds':0.25}", NULL },
	{ "lock_acquire", "{'name':'x','wait_seconds':-1}", "wait_seconds" },
	{ "lock_acquire", "{'name':'x','wait_seconds':-0.001}", "wait_seconds" },
	{ "lock_acquire", "{'name':'x','wait_seconds':4000}", "wait_seconds" },
	{ "lock_acquire", "{'name':'x','wait_seconds':3600.5}", "wait_seconds" },
	{ "lock_acquire", "{'name':'x','wait_seconds':18446744073709551615}", "wait_seconds" },
	{ "lock_acquire", "{'name':'x','wait_seconds':-9223372036854775807}", "wait_seconds" },
	{ "lock_acquire", "{'name':'x','wait_seconds':nan}", "wait_seconds" },
	{ "lock_acquire", "{'name':'x','wait_seconds':inf}", "wait_seconds" },
	{ "lock_acquire", "{'name':'x','wait_seconds':'5'}", "wait_seconds" },
	{ "lock_acquire", "{'name':'x','wait_seconds':true}", "wait_seconds" },
	{ "lock_acquire", "{'name':'x','ttl_seconds':0}", "ttl_seconds" },
	{ "lock_acquire", "{'name':'x','ttl_seconds':1}", NULL },
	{ "lock_acquire", "{'name':'x','ttl_seconds':86401}", "ttl_seconds" },
	/* arrays of strings */
	{ "lock_acquire", "{'names':['a','b']}", NULL },
	{ "lock_acquire", "{'names':[]}", "names" },
	{ "lock_acquire", "{'names':['a',1]}", "names" },
	{ "lock_acquire", "{'names':['a','']}", "names" },
	{ "lock_acquire", "{'names':['a',null]}", "names" },
	{ "lock_acquire", "{'names':['a',['b']]}", "names" },
	{ "lock_acquire", "{'names':['a\\0']}", "names" },
	{ "lock_acquire", "{'names':['n'*256]}", NULL },
	{ "lock_acquire", "{'names':['n'*257]}", "names" },
	{ "lock_acquire", "{'names':'a'}", "names" },
	{ "lock_acquire", "{'names':{'a':'b'}}", "names" },
	{ "lock_acquire",
	    "{'names':['1','2','3','4','5','6','7','8','9','10','11','12','13',"
	    "'14','15','16','17','18','19','20','21','22','23','24','25','26','27','28','29',"
	    "'30','31','32']}",
	    NULL },
	{ "lock_acquire",
	    "{'names':['1','2','3','4','5','6','7','8','9','10','11','12','13',"
	    "'14','15','16','17','18','19','20','21','22','23','24','25','26','27','28','29',"
	    "'30','31','32','33']}",
	    "names" },
	/* required and one_of */
	{ "lock_renew", "{'name':'x','ttl_seconds':5}", NULL },
	{ "lock_renew", "{'name':'x','token':'t','ttl_seconds':5}", NULL },
	{ "lock_renew", "{'ttl_seconds':5}", "name" },
	{ "lock_renew", "{'name':null,'ttl_seconds':5}", "name" },
	/* lock_release: name, names or token (the handler asks for one of them) */
	{ "lock_release", "{'name':'x'}", NULL },
	{ "lock_release", "{'name':'x','token':'t'}", NULL },
	{ "lock_release", "{'token':'t'}", NULL },
	{ "lock_release", "{'names':['x','y']}", NULL },
	{ "lock_release", "{'names':[]}", "names" },
	{ "lock_release", "{'token':''}", "token" },
	{ "lock_acquire", NULL, "name" },
	{ "lock_acquire", "{}", "name" },
	{ "lock_acquire", "{'mode':'shared'}", "name" },
	{ "lock_acquire", "{'name':'x','names':['y']}", "name" },
	{ "lock_acquire", "{'name':'x','names':null}", NULL },
	{ "lock_acquire", "{'name':null,'names':['y']}", NULL },
	{ "lock_acquire", "{'name':null,'names':null}", "name" },
	/* every type, on the table-only op */
	{ NULL, "{'r':'a'}", NULL },
	{ NULL, "{'r':'bb'}", NULL },
	{ NULL, "{'r':''}", NULL },
	{ NULL, "{'r':'b'}", "r" },
	{ NULL, "{'r':'a|bb'}", "r" },
	{ NULL, "{}", "r" },
	{ NULL, "{'r':'a','s':'ab'}", NULL },
	{ NULL, "{'r':'a','s':'abcd'}", NULL },
	{ NULL, "{'r':'a','s':'a'}", "s" },
	{ NULL, "{'r':'a','s':'abcde'}", "s" },
	{ NULL, "{'r':'a','s':12}", "s" },
	{ NULL, "{'r':'a','i':-5}", NULL },
	{ NULL, "{'r':'a','i':5}", NULL },
	{ NULL, "{'r':'a','i':2.0}", NULL },
	{ NULL, "{'r':'a','i':6}", "i" },
	{ NULL, "{'r':'a','i':-6}", "i" },
	{ NULL, "{'r':'a','i':1.5}", "i" },
	{ NULL, "{'r':'a','i':9223372036854775808}", "i" },
	{ NULL, "{'r':'a','i':nan}", "i" },
	{ NULL, "{'r':'a','i':'1'}", "i" },
	{ NULL, "{'r':'a','i':false}", "i" },
	{ NULL, "{'r':'a','n':0.5}", NULL },
	{ NULL, "{'r':'a','n':2}", NULL },
	{ NULL, "{'r':'a','n':0.49}", "n" },
	{ NULL, "{'r':'a','n':3}", "n" },
	{ NULL, "{'r':'a','n':[1]}", "n" },
	{ NULL, "{'r':'a','b':true}", NULL },
	{ NULL, "{'r':'a','b':false}", NULL },
	{ NULL, "{'r':'a','b':1}", "b" },
	{ NULL, "{'r':'a','b':'true'}", "b" },
	{ NULL, "{'r':'a','l':[]}", NULL },
	{ NULL, "{'r':'a','l':['a','b','c']}", NULL },
	{ NULL, "{'r':'a','l':['a','b','c','d']}", "l" },
	{ NULL, "{'r':'a','l':'a'}", "l" },
	{ NULL, "{'r':'a','j':{'k':[1,2,true]}}", NULL },
	{ NULL, "{'r':'a','j':'x'*13}", NULL },
	{ NULL, "{'r':'a','j':'x'*16}", "j" },
	{ NULL, "{'r':'a','j':{'k':'x'*20}}", "j" },
	{ NULL, "{'r':'a','j':null}", NULL },
};

static void
test_cases(void)
{
	const msgpack_object *out[OP_MAX_ARGS];
	struct op_error err;
	const struct op *op;
	size_t i;
	int rv, good;

	for (i = 0; i < nitems(cases); i++) {
		op =
		    cases[i].op != NULL ? op_find(cases[i].op, strlen(cases[i].op)) : &every_op;
		if (op == NULL) {
			ok(0, "operation %s exists", cases[i].op);
			continue;
		}
		rv = validate(op, cases[i].args, out, &err);
		if (cases[i].field == NULL)
			good = rv == 0;
		else
			good = rv == -1 && err.code != NULL &&
			    strcmp(err.code, ERR_INVALID) == 0 &&
			    strcmp(err.field, cases[i].field) == 0 && err.message[0] != '\0';
		ok(good, "%s %s: %s%s", op->name, cases[i].args ? cases[i].args : "(none)",
		    cases[i].field ? "refused, field " : "accepted",
		    cases[i].field ? cases[i].field : "");
		if (!good)
			diag("got %d field '%s': %s", rv, rv ? err.field : "",
			    rv ? err.message : "");
	}
}

/* On success out[] points at each given value and is NULL for the others. */
static void
test_out(void)
{
	const struct op *op = &ops[OP_lock_acquire];
	const msgpack_object *out[OP_MAX_ARGS];
	const struct op_arg *name, *mode, *names, *wait;
	struct op_error err;
	struct req r;
	double d;

	name = op_arg_find(op, "name", 4);
	mode = op_arg_find(op, "mode", 4);
	names = op_arg_find(op, "names", 5);
	wait = op_arg_find(op, "wait_seconds", 12);
	ok(name != NULL && mode != NULL && names != NULL && wait != NULL,
	    "op_arg_find finds lock_acquire's arguments");
	if (name == NULL || mode == NULL || names == NULL || wait == NULL)
		return;
	req_make(&r, "{'wait_seconds':1.5,'names':null,'name':'db'}");
	ok(op_validate(op, r.args, out, &err) == 0 && mp_streq(out[name - op->args], "db") &&
		out[mode - op->args] == NULL && out[names - op->args] == NULL &&
		mp_num(out[wait - op->args], &d) == 0 && d == 1.5,
	    "op_validate points out[] at each given argument, NULL for absent and null");
	req_free(&r);

	req_make(&r, "{'r':'a','j':null}");
	ok(op_validate(&every_op, r.args, out, &err) == 0 && out[5] != NULL &&
		out[5]->type == MSGPACK_OBJECT_NIL,
	    "a null JSON value is a value, not absent");
	req_free(&r);

	ok(op_arg_find(op, "nam", 3) == NULL && op_arg_find(op, "namex", 5) == NULL &&
		op_arg_find(op, "name", 3) == NULL,
	    "op_arg_find matches whole names only");
	ok(op_find("status", 6) == &ops[OP_status] && op_find("statu", 5) == NULL &&
		op_find("Status", 6) == NULL && op_find("status ", 7) == NULL &&
		op_find("", 0) == NULL,
	    "op_find matches whole names only");
}

/* Every argument of every operation, given the wrong type, is refused by name. */
static void
test_wrong_types(void)
{
	static const struct {
		enum arg_type type;
		const char *wrong[4];
	} t[] = {
		{ ARG_STRING, { "1", "true", "['x']", "{}" } },
		{ ARG_INT, { "'1'", "true", "1.5", "[1]" } },
		{ ARG_NUMBER, { "'1'", "false", "[1]", "{}" } },
		{ ARG_BOOL, { "1", "'true'", "[true]", "0.0" } },
		{ ARG_STRINGS, { "'a'", "1", "{}", "[1]" } },
	};
	const msgpack_object *out[OP_MAX_ARGS];
	struct op_error err;
	const struct op *op;
	const struct op_arg *a;
	char args[512];
	size_t i, j, k, w, n, bad;

	for (i = 0; i <= OP_COUNT; i++) {
		op = i < OP_COUNT ? &ops[i] : &every_op;
		bad = n = 0;
		for (j = 0; j < op->nargs; j++) {
			a = &op->args[j];
			for (k = 0; k < nitems(t); k++) {
				if (t[k].type != a->type)
					continue;
				for (w = 0; w < nitems(t[k].wrong); w++) {
					snprintf(args, sizeof args, "{'%s':%s}", a->name,
					    t[k].wrong[w]);
					n++;
					if (validate(op, args, out, &err) != -1 ||
					    strcmp(err.field, a->name) != 0) {
						if (bad++ == 0)
							diag("%s %s: field '%s'", op->name,
							    args, err.field);
					}
				}
			}
		}
		ok(bad == 0, "%s: %zu wrong-type values refused naming the argument", op->name,
		    n);

		snprintf(args, sizeof args, "{'no_such_argument':1}");
		ok(validate(op, args, out, &err) == -1 &&
			strcmp(err.field, "no_such_argument") == 0 &&
			strstr(err.message, "no_such_argument") != NULL,
		    "%s: an unknown argument is refused by name", op->name);

		/* the first required argument is the one named when none is given */
		for (j = 0; j < op->nargs; j++) {
			if (!(op->args[j].flags & ARG_REQUIRED))
				continue;
			ok(validate(op, "{}", out, &err) == -1 &&
				strcmp(err.field, op->args[j].name) == 0,
			    "%s: missing required %s is refused by name", op->name,
			    op->args[j].name);
			break;
		}
	}
}

/* Unknown argument names longer than the field keep err within bounds. */
static void
test_long_names(void)
{
	const msgpack_object *out[OP_MAX_ARGS];
	struct op_error err;
	char args[1024], name[301];

	memset(name, 'z', 300);
	name[300] = '\0';
	snprintf(args, sizeof args, "{'%s':1}", name);
	ok(validate(&ops[OP_status], args, out, &err) == -1 &&
		strlen(err.field) == sizeof err.field - 1 &&
		strncmp(err.field, name, 10) == 0 && strlen(err.message) < sizeof err.message,
	    "a 300-byte unknown argument name is cut to fit the error");
}

/* What the shim and the broker rely on in the table itself. */
static void
test_table(void)
{
	static const char *names[] = {
#define OP_NAME(n) #n,
		BATON_OPS(OP_NAME)
#undef OP_NAME
	};
	static const char *types[] = { "string", "integer", "number", "boolean", "array",
		"object", "any" };
	const msgpack_object *out[OP_MAX_ARGS];
	struct op_error err;
	const struct op *op;
	const struct op_arg *a;
	const struct op_result *res;
	const char *s, *bar;
	char args[1024];
	size_t i, j, k, n, bad;
	int found;

	ok(nitems(names) == OP_COUNT, "BATON_OPS lists %d operations", OP_COUNT);
	for (i = 0; i < OP_COUNT; i++) {
		op = &ops[i];
		bad = 0;
		if (op->name == NULL || strcmp(op->name, names[i]) != 0) {
			ok(0, "ops[%zu] is %s", i, names[i]);
			continue;
		}
		ok(op_find(op->name, strlen(op->name)) == op, "%s: op_find finds it", op->name);
		ok(op->title != NULL && op->title[0] != '\0' && strlen(op->title) < 64,
		    "%s: has a short title", op->name);
		ok(op->desc != NULL && strlen(op->desc) >= 20 && strlen(op->desc) < 2048,
		    "%s: description of %zu bytes, under 2048", op->name,
		    op->desc ? strlen(op->desc) : 0);
		ok(op->nargs <= OP_MAX_ARGS && (op->nargs == 0 || op->args != NULL),
		    "%s: %zu arguments, at most %d", op->name, op->nargs, OP_MAX_ARGS);
		for (j = 0; j < op->nargs; j++) {
			a = &op->args[j];
			/* no description: the name and type say it (MCP tokens) */
			if (a->name == NULL || a->name[0] == '\0' ||
			    (a->desc != NULL &&
				(strlen(a->desc) < 5 || strlen(a->desc) >= 2048)) ||
			    a->min > a->max || (a->choices != NULL && a->type != ARG_STRING) ||
			    op_arg_find(op, a->name, strlen(a->name)) != a) {
				if (bad++ == 0)
					diag("%s: argument %zu is wrong", op->name, j);
			}
			/* a default must itself be valid */
			if (a->def != NULL) {
				snprintf(args, sizeof args, "{'%s':%s}", a->name, a->def);
				if (validate(op, args, out, &err) != 0 &&
				    strcmp(err.field, a->name) == 0) {
					if (bad++ == 0)
						diag("%s: default of %s: %s", op->name, a->name,
						    err.message);
				}
			}
		}
		ok(bad == 0,
		    "%s: every argument has a unique name, a short description or none, sane "
		    "bounds "
		    "and a valid default",
		    op->name);
		bad = 0;
		for (j = 0; j < op->nresults; j++) {
			res = &op->results[j];
			found = 0;
			for (k = 0; k < nitems(types); k++)
				found |= res->type != NULL && strcmp(res->type, types[k]) == 0;
			if (res->name == NULL || res->name[0] == '\0' || !found ||
			    res->desc == NULL || res->desc[0] == '\0')
				bad++;
			for (k = 0; k < j; k++)
				if (res->name != NULL && op->results[k].name != NULL &&
				    strcmp(res->name, op->results[k].name) == 0)
					bad++;
		}
		ok(op->nresults > 0 && op->results != NULL && bad == 0,
		    "%s: %zu results, each named, typed and described", op->name, op->nresults);
		if (op->one_of != NULL) {
			bad = 0;
			for (s = op->one_of; s != NULL; s = bar != NULL ? bar + 1 : NULL) {
				bar = strchr(s, '|');
				n = bar != NULL ? (size_t)(bar - s) : strlen(s);
				a = op_arg_find(op, s, n);
				if (a == NULL || (a->flags & ARG_REQUIRED))
					bad++;
			}
			ok(bad == 0, "%s: one_of names optional arguments it has", op->name);
		}
		if (op->flags & OP_READONLY)
			ok(!(op->flags & (OP_MUTATES | OP_DESTRUCTIVE)),
			    "%s: read-only and not mutating", op->name);
	}
}

int
main(void)
{
	test_table();
	test_cases();
	test_out();
	test_wrong_types();
	test_long_names();
	return (done_testing());
}
