/*
 * Notes, counters and events for shells: `baton note set|get|delete|
 * list|wait`, `baton counter incr`, `baton event signal|wait`.  Each
 * prints what a script wants on stdout (a value, a version, a
 * generation) or, with --json, the operation's whole result; a
 * conflict, an absent note or a timeout is exit status 1.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define STATE_ONE_WAIT 3600.0 /* one wait request; the broker caps it (50 s by default) */

/* What the options of a subcommand gave. */
struct state_opts {
	int json;         /* --json: print the whole result */
	int json_value;   /* --json-value: VALUE/PAYLOAD is JSON text */
	int64_t version;  /* --if-version, or -1 */
	int64_t after;    /* --after, or -1 */
	int64_t by;       /* --by */
	int64_t limit;    /* --limit, or -1 */
	double ttl;       /* --ttl, or 0 */
	double wait;      /* -w, or < 0: for ever */
	char **pos;       /* positional arguments */
	int npos;
};

/* An open connection and the last result, for one or more calls. */
struct state_call {
	struct conn c;
	msgpack_unpacked u;
	const msgpack_object *r;
	int open;
};

/* Parse a whole integer from min to max for option opt. */
static int
state_int(const char *opt, const char *s, int64_t min, int64_t max, int64_t *out)
{
	long long v;
	char *end;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		cli_usage_err("%s takes a whole number from %lld to %lld, not '%s'", opt,
		    (long long)min, (long long)max, s);
		return (-1);
	}
	*out = v;
	return (0);
}

/* Is name one of the space-separated words of allowed? */
static int
state_allowed(const char *allowed, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	for (p = allowed; (p = strstr(p, name)) != NULL; p += n) {
		if ((p == allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return (1);
	}
	return (0);
}

/*
 * Options of "baton AREA SUB ...": allowed lists the long options this
 * subcommand takes; positional arguments go to so->pos (from npos_min
 * to npos_max of them).  0, or an exit status.
 */
static int
state_options(int argc, char **argv, const char *allowed, int npos_min, int npos_max,
    const char *usage, struct state_opts *so)
{
	enum { O_JSON = 256, O_JSON_VALUE, O_IF_VERSION, O_AFTER, O_BY, O_LIMIT, O_TTL };
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, O_JSON },
		{ "json-value", no_argument, NULL, O_JSON_VALUE },
		{ "if-version", required_argument, NULL, O_IF_VERSION },
		{ "after", required_argument, NULL, O_AFTER },
		{ "by", required_argument, NULL, O_BY },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "ttl", required_argument, NULL, O_TTL },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name;
	int ch, idx, r = 0;

	memset(so, 0, sizeof *so);
	so->version = so->after = so->limit = -1;
	so->by = 1;
	so->wait = -1;
	optind = 0; /* glibc: start afresh (cli.c already ran getopt) */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":w:", longopts, &idx)) != -1) {
		if (ch == '?' || ch == ':') {
			return (cli_usage_err("%s '%s'; usage: %s", ch == '?' ? "unknown option" :
			    "missing value for", argv[optind - 1], usage));
		}
		name = ch == 'w' ? "wait" : longopts[idx].name;
		if (!state_allowed(allowed, name))
			return (cli_usage_err("--%s does not apply here; usage: %s", name, usage));
		switch (ch) {
		case O_JSON: so->json = 1; break;
		case O_JSON_VALUE: so->json_value = 1; break;
		case O_IF_VERSION:
			r = state_int("--if-version", optarg, 0, 9007199254740991LL, &so->version);
			break;
		case O_AFTER:
			r = state_int("--after", optarg, 0, 9007199254740991LL, &so->after);
			break;
		case O_BY:
			r = state_int("--by", optarg, -9007199254740991LL, 9007199254740991LL,
			    &so->by);
			break;
		case O_LIMIT:
			r = state_int("--limit", optarg, 1, 1000, &so->limit);
			break;
		case O_TTL:
			r = lock_seconds("--ttl", optarg, 2592000, &so->ttl);
			if (r == 0 && so->ttl < 1)
				return (cli_usage_err("--ttl takes 1 to 2592000 seconds"));
			break;
		case 'w':
			r = lock_seconds("-w", optarg, 1e7, &so->wait);
			break;
		}
		if (r != 0)
			return (EXIT_USAGE);
	}
	so->pos = argv + optind;
	so->npos = argc - optind;
	if (so->npos < npos_min || so->npos > npos_max)
		return (cli_usage_err("usage: %s", usage));
	return (0);
}

/* Pack a JSON value (--json-value) or a string into fb. */
static int
state_pack_value(struct fbuf *fb, const char *text, int is_json)
{
	cJSON *j;
	int r;

	if (!is_json) {
		pk_str(fb, text);
		return (0);
	}
	if ((j = cJSON_ParseWithOpts(text, NULL, 1)) == NULL) {
		cli_err("invalid JSON value '%.40s'; quote strings (\"text\") or drop "
		    "--json-value", text);
		return (-1);
	}
	r = json_pack(fb, j);
	cJSON_Delete(j);
	if (r != 0)
		cli_err("cannot encode the JSON value");
	return (r);
}

/* Call op with the map packed in fb on sc (opened on first use); an exit status. */
static int
state_call(const struct client_opts *o, struct state_call *sc, const char *op, struct fbuf *fb)
{
	struct op_error err;
	msgpack_unpacked args;
	size_t off = 0;
	int status;

	memset(&err, 0, sizeof err);
	msgpack_unpacked_init(&args);
	if (fb->err || msgpack_unpack_next(&args, fb->sb.data + FRAME_HDR,
	    fb->sb.size - FRAME_HDR, &off) != MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(&args);
		cli_err("cannot encode the request");
		return (EXIT_SOFTWARE);
	}
	if (!sc->open) {
		if (conn_open(&sc->c, o, &err) != 0) {
			msgpack_unpacked_destroy(&args);
			return (cli_fail(NULL, &err));
		}
		msgpack_unpacked_init(&sc->u);
		sc->open = 1;
	}
	status = 0;
	if (conn_call(&sc->c, op, &args.data, &sc->u, &sc->r, &err) != 0)
		status = cli_fail(op, &err);
	msgpack_unpacked_destroy(&args);
	return (status);
}

static void
state_done(struct state_call *sc)
{
	if (sc->open) {
		msgpack_unpacked_destroy(&sc->u);
		conn_close(&sc->c);
	}
}

/* Print a value for people and scripts: a string as it is, anything else as JSON. */
static int
state_print_value(const msgpack_object *v)
{
	const char *s;
	size_t n;

	if (v != NULL && mp_str(v, &s, &n) == 0) {
		fwrite(s, 1, n, stdout);
		putchar('\n');
		return (fflush(stdout) == 0 ? 0 : EXIT_SOFTWARE);
	}
	if (v == NULL) {
		puts("null");
		return (fflush(stdout) == 0 ? 0 : EXIT_SOFTWARE);
	}
	return (cli_print_json(v));
}

/* Print an integer field of the result on its own line. */
static int
state_print_int(const msgpack_object *r, const char *key)
{
	int64_t v = 0;

	mp_int(mp_get(r, key), &v);
	printf("%lld\n", (long long)v);
	return (fflush(stdout) == 0 ? 0 : EXIT_SOFTWARE);
}

/* A boolean field of the result (0 when absent). */
static int
state_bool(const msgpack_object *r, const char *key)
{
	int b = 0;

	mp_bool(mp_get(r, key), &b);
	return (b);
}

/* baton note set KEY VALUE [--json-value] [--if-version N] [--ttl S] [--json] */
static int
note_set(const struct client_opts *o, int argc, char **argv)
{
	static const char usage[] = "baton note set KEY VALUE [--json-value] "
	    "[--if-version N] [--ttl SECONDS] [--json]";
	struct state_call sc = { .open = 0 };
	struct state_opts so;
	struct fbuf fb;
	int64_t v = 0;
	int status;

	if ((status = state_options(argc, argv, "json json-value if-version ttl", 2, 2,
	    usage, &so)) != 0)
		return (status);
	fbuf_init(&fb);
	pk_map(&fb, 2 + (so.version >= 0) + (so.ttl > 0));
	pk_kstr(&fb, "key", so.pos[0]);
	pk_str(&fb, "value");
	if (state_pack_value(&fb, so.pos[1], so.json_value) != 0) {
		fbuf_free(&fb);
		return (EXIT_DATAERR);
	}
	if (so.version >= 0)
		pk_kint(&fb, "if_version", so.version);
	if (so.ttl > 0)
		pk_kdouble(&fb, "ttl_seconds", so.ttl);
	status = state_call(o, &sc, "note_set", &fb);
	fbuf_free(&fb);
	if (status == 0) {
		if (so.json)
			status = cli_print_json(sc.r);
		else if (state_bool(sc.r, "written"))
			status = state_print_int(sc.r, "version");
		if (status == 0 && !state_bool(sc.r, "written")) {
			mp_int(mp_get(sc.r, "version"), &v);
			if (v == 0)
				cli_err("%s does not exist; not written (--if-version %lld)",
				    so.pos[0], (long long)so.version);
			else
				cli_err("%s is at version %lld, not %lld; not written", so.pos[0],
				    (long long)v, (long long)so.version);
			status = EXIT_CONFLICT;
		}
	}
	state_done(&sc);
	return (status);
}

/* A request {KEYNAME: name} and nothing else, for get. */
static void
state_pack_name(struct fbuf *fb, const char *keyname, const char *name, size_t extra)
{
	fbuf_init(fb);
	pk_map(fb, 1 + extra);
	pk_kstr(fb, keyname, name);
}

/* baton note get KEY [--json] */
static int
note_get(const struct client_opts *o, int argc, char **argv)
{
	struct state_call sc = { .open = 0 };
	struct state_opts so;
	struct fbuf fb;
	int status;

	if ((status = state_options(argc, argv, "json", 1, 1, "baton note get KEY [--json]",
	    &so)) != 0)
		return (status);
	state_pack_name(&fb, "key", so.pos[0], 0);
	status = state_call(o, &sc, "note_get", &fb);
	fbuf_free(&fb);
	if (status == 0) {
		if (so.json)
			status = cli_print_json(sc.r);
		else if (state_bool(sc.r, "found"))
			status = state_print_value(mp_get(sc.r, "value"));
		if (status == 0 && !state_bool(sc.r, "found")) {
			if (!so.json)
				cli_err("no note %s", so.pos[0]);
			status = EXIT_CONFLICT;
		}
	}
	state_done(&sc);
	return (status);
}

/* baton note delete KEY [--if-version N] [--json] */
static int
note_delete(const struct client_opts *o, int argc, char **argv)
{
	struct state_call sc = { .open = 0 };
	struct state_opts so;
	struct fbuf fb;
	int64_t v = 0;
	int status;

	if ((status = state_options(argc, argv, "json if-version", 1, 1,
	    "baton note delete KEY [--if-version N] [--json]", &so)) != 0)
		return (status);
	if (so.version == 0)
		return (cli_usage_err("note delete: --if-version takes a version from 1"));
	state_pack_name(&fb, "key", so.pos[0], so.version > 0);
	if (so.version > 0)
		pk_kint(&fb, "if_version", so.version);
	status = state_call(o, &sc, "note_delete", &fb);
	fbuf_free(&fb);
	if (status == 0 && so.json)
		status = cli_print_json(sc.r);
	if (status == 0 && !state_bool(sc.r, "deleted")) {
		mp_int(mp_get(sc.r, "version"), &v);
		if (v == 0)
			cli_err("no note %s", so.pos[0]);
		else
			cli_err("%s is at version %lld, not %lld; not deleted", so.pos[0],
			    (long long)v, (long long)so.version);
		status = EXIT_CONFLICT;
	}
	state_done(&sc);
	return (status);
}

/* Print the note_list result as a table for people. */
static int
note_list_show(const msgpack_object *r, const char *prefix)
{
	const msgpack_object *ns = mp_get(r, "notes"), *n;
	const char *key, *author;
	size_t kn, an;
	int64_t ver, size;
	double exp;
	char expbuf[32];
	uint32_t i;

	if (ns == NULL || ns->type != MSGPACK_OBJECT_ARRAY || ns->via.array.size == 0) {
		printf("no notes%s%s\n", *prefix ? " under " : "", prefix);
		return (fflush(stdout) == 0 ? 0 : EXIT_SOFTWARE);
	}
	printf("%-32s %10s %-20s %8s %8s\n", "KEY", "VERSION", "AUTHOR", "BYTES", "EXPIRES");
	for (i = 0; i < ns->via.array.size; i++) {
		n = &ns->via.array.ptr[i];
		ver = size = 0;
		key = author = "";
		kn = an = 0;
		mp_str(mp_get(n, "key"), &key, &kn);
		mp_str(mp_get(n, "author"), &author, &an);
		mp_int(mp_get(n, "version"), &ver);
		mp_int(mp_get(n, "size_bytes"), &size);
		if (mp_num(mp_get(n, "expires_in_seconds"), &exp) == 0)
			snprintf(expbuf, sizeof expbuf, "%.0fs", ceil(exp));
		else
			snprintf(expbuf, sizeof expbuf, "-");
		printf("%-32.*s %10lld %-20.*s %8lld %8s\n", (int)kn, key, (long long)ver,
		    (int)an, author, (long long)size, expbuf);
	}
	if (state_bool(r, "truncated"))
		fprintf(stderr, "baton: more notes match; raise --limit (up to 1000) or "
		    "narrow the prefix\n");
	return (fflush(stdout) == 0 ? 0 : EXIT_SOFTWARE);
}

/* baton note list [PREFIX] [--limit N] [--json] */
static int
note_list(const struct client_opts *o, int argc, char **argv)
{
	struct state_call sc = { .open = 0 };
	struct state_opts so;
	struct fbuf fb;
	const char *prefix;
	int status;

	if ((status = state_options(argc, argv, "json limit", 0, 1,
	    "baton note list [PREFIX] [--limit N] [--json]", &so)) != 0)
		return (status);
	prefix = so.npos > 0 ? so.pos[0] : "";
	state_pack_name(&fb, "prefix", prefix, so.limit > 0);
	if (so.limit > 0)
		pk_kint(&fb, "limit", so.limit);
	status = state_call(o, &sc, "note_list", &fb);
	fbuf_free(&fb);
	if (status == 0)
		status = so.json ? cli_print_json(sc.r) : note_list_show(sc.r, prefix);
	state_done(&sc);
	return (status);
}

/*
 * Wait with op (note_wait or event_wait) on name until done_field is
 * true or so->wait seconds pass, asking again past the broker's cap
 * with the same after, so nothing is missed in between.  0 with the
 * result in sc->r, 1 on timeout, or an exit status.
 */
static int
state_wait(const struct client_opts *o, struct state_call *sc, const char *op,
    const char *keyname, const char *aftername, const char *done_field,
    const struct state_opts *so)
{
	struct fbuf fb;
	double start = mono_now(), left, wait;
	int status;

	for (;;) {
		if (so->wait >= 0) {
			left = so->wait - (mono_now() - start);
			wait = left > 0 ? left : 0;
			if (wait > STATE_ONE_WAIT)
				wait = STATE_ONE_WAIT;
		} else
			wait = STATE_ONE_WAIT;
		state_pack_name(&fb, keyname, so->pos[0], 2);
		pk_kint(&fb, aftername, so->after > 0 ? so->after : 0);
		pk_kdouble(&fb, "wait_seconds", wait);
		status = state_call(o, sc, op, &fb);
		fbuf_free(&fb);
		if (status != 0)
			return (status);
		if (state_bool(sc->r, done_field))
			return (0);
		if (so->wait >= 0 && mono_now() - start >= so->wait)
			return (1);
	}
}

/* baton note wait KEY [--after N] [-w S] [--json] */
static int
note_wait(const struct client_opts *o, int argc, char **argv)
{
	struct state_call sc = { .open = 0 };
	struct state_opts so;
	int64_t v = 0;
	int status;

	if ((status = state_options(argc, argv, "json after wait", 1, 1,
	    "baton note wait KEY [--after VERSION] [-w SECONDS] [--json]", &so)) != 0)
		return (status);
	status = state_wait(o, &sc, "note_wait", "key", "after_version", "changed", &so);
	if (status == 1) {
		if (so.json)
			cli_print_json(sc.r);
		cli_err("timed out after %g s: %s did not change", so.wait, so.pos[0]);
	} else if (status == 0 && so.json)
		status = cli_print_json(sc.r);
	else if (status == 0 && state_bool(sc.r, "found"))
		status = state_print_value(mp_get(sc.r, "value"));
	else if (status == 0) {
		mp_int(mp_get(sc.r, "version"), &v);
		cli_err("%s was deleted (version %lld)", so.pos[0], (long long)v);
	}
	state_done(&sc);
	return (status);
}

/* baton note set|get|delete|list|wait ... */
int
cmd_note(const struct client_opts *o, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(const struct client_opts *, int, char **);
	} subs[] = {
		{ "set", note_set }, { "get", note_get }, { "delete", note_delete },
		{ "list", note_list }, { "wait", note_wait },
	};
	size_t i;

	if (argc >= 2) {
		for (i = 0; i < nitems(subs); i++) {
			if (strcmp(argv[1], subs[i].name) == 0)
				return (subs[i].fn(o, argc - 1, argv + 1));
		}
	}
	return (cli_usage_err("usage: baton note set|get|delete|list|wait ..."));
}

/* baton counter incr NAME [--by N] [--json] */
int
cmd_counter(const struct client_opts *o, int argc, char **argv)
{
	struct state_call sc = { .open = 0 };
	struct state_opts so;
	struct fbuf fb;
	int status;

	if (argc < 2 || strcmp(argv[1], "incr") != 0)
		return (cli_usage_err("usage: baton counter incr NAME [--by N] [--json]"));
	if ((status = state_options(argc - 1, argv + 1, "json by", 1, 1,
	    "baton counter incr NAME [--by N] [--json]", &so)) != 0)
		return (status);
	state_pack_name(&fb, "name", so.pos[0], 1);
	pk_kint(&fb, "by", so.by);
	status = state_call(o, &sc, "counter_incr", &fb);
	fbuf_free(&fb);
	if (status == 0)
		status = so.json ? cli_print_json(sc.r) : state_print_int(sc.r, "value");
	state_done(&sc);
	return (status);
}

/* baton event signal NAME [PAYLOAD] [--json-value] [--json] */
static int
event_signal(const struct client_opts *o, int argc, char **argv)
{
	struct state_call sc = { .open = 0 };
	struct state_opts so;
	struct fbuf fb;
	int status;

	if ((status = state_options(argc, argv, "json json-value", 1, 2,
	    "baton event signal NAME [PAYLOAD] [--json-value] [--json]", &so)) != 0)
		return (status);
	state_pack_name(&fb, "name", so.pos[0], so.npos > 1);
	if (so.npos > 1) {
		pk_str(&fb, "payload");
		if (state_pack_value(&fb, so.pos[1], so.json_value) != 0) {
			fbuf_free(&fb);
			return (EXIT_DATAERR);
		}
	}
	status = state_call(o, &sc, "event_signal", &fb);
	fbuf_free(&fb);
	if (status == 0)
		status = so.json ? cli_print_json(sc.r) : state_print_int(sc.r, "generation");
	state_done(&sc);
	return (status);
}

/* baton event wait NAME [--after N] [-w S] [--json] */
static int
event_wait(const struct client_opts *o, int argc, char **argv)
{
	struct state_call sc = { .open = 0 };
	struct state_opts so;
	int status;

	if ((status = state_options(argc, argv, "json after wait", 1, 1,
	    "baton event wait NAME [--after GENERATION] [-w SECONDS] [--json]", &so)) != 0)
		return (status);
	status = state_wait(o, &sc, "event_wait", "name", "after", "fired", &so);
	if (status == 1) {
		if (so.json)
			cli_print_json(sc.r);
		cli_err("timed out after %g s: %s was not signaled", so.wait, so.pos[0]);
	} else if (status == 0)
		status = so.json ? cli_print_json(sc.r) : state_print_int(sc.r, "generation");
	state_done(&sc);
	return (status);
}

/* baton event signal|wait ... */
int
cmd_event(const struct client_opts *o, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "signal") == 0)
		return (event_signal(o, argc - 1, argv + 1));
	if (argc >= 2 && strcmp(argv[1], "wait") == 0)
		return (event_wait(o, argc - 1, argv + 1));
	return (cli_usage_err("usage: baton event signal|wait NAME ..."));
}
