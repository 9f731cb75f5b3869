/*
 * `baton log [-f]`: the audit log (DESIGN 11) for people and shells.  One
 * page of log_list, then with -f log_wait after its cursor, for ever:
 * a line per entry, or a JSON line per entry with --json.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shim.h"

#define LOG_FOLLOW_WAIT 50 /* seconds of one log_wait (the broker's default cap) */

static int log_exec(struct cmd_call *);

static const struct cmd_opt log_opts[] = {
	{ "follow", 'f', NULL, "1" },
	{ "limit", 'n', "limit", NULL },
	{ "after", 0, "after", NULL },
	{ "kind", 'k', "kinds", NULL },
	{ "agent", 0, "agent", NULL },
	{ "object", 0, "object", NULL },
	{ "all", 'a', "all_projects", "true" },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_sub log_subs[] = {
	{ .op = "log_list",
	    .usage = "log [-f] [--json] [-n N] [--after REV] [-k KIND]... [--agent A] "
		     "[--object KEY] [-a]",
	    .desc = "the audit log of your project: who changed what, when (-f: follow it; "
		    "-a: every project)",
	    .flags = CMD_JSON,
	    .opts = log_opts,
	    .exec = log_exec },
};
const struct cmd_entry cmd_log_entry = {
	.name = "log",
	.subs = log_subs,
	.nsubs = nitems(log_subs),
	.exec = cmd_sub_main,
};

/* One entry as a line: revision, local time, agent, operation, object, summary. */
static void
log_print_entry(const msgpack_object *e, int all)
{
	char rev[32], at[64], agent[128], op[64], kind[32], key[512], project[512], sum[512];
	char when[80];
	struct tm tm;
	time_t t;
	int ms;

	cli_field(e, "at", at, sizeof at);
	/* "2026-11-29T03:55:34.828Z" in local time, to the second */
	memset(&tm, 0, sizeof tm);
	if (sscanf(at, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		&tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		t = timegm(&tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	} else
		snprintf(when, sizeof when, "%s", at);
	printf("%6s %s %-14s %-16s %s %s%s%s: %s\n", cli_field(e, "rev", rev, sizeof rev), when,
	    cli_field(e, "agent", agent, sizeof agent), cli_field(e, "op", op, sizeof op),
	    cli_field(e, "kind", kind, sizeof kind),
	    all ? cli_field(e, "project", project, sizeof project) : "", all ? ":" : "",
	    cli_field(e, "key", key, sizeof key), cli_field(e, "summary", sum, sizeof sum));
}

/* Print a result's entries (a JSON line each with json); its cursor. */
static uint64_t
log_print(const msgpack_object *r, int json, int all)
{
	const msgpack_object *es = mp_get(r, "entries");
	uint32_t i;

	if (mp_get_bool(r, "missed", 0))
		cli_err("entries after your cursor were dropped by the log's retention "
			"(batond --log-max, --log-age)");
	for (i = 0; es != NULL && es->type == MSGPACK_OBJECT_ARRAY && i < es->via.array.size;
	     i++) {
		if (json)
			cli_print_json(&es->via.array.ptr[i]);
		else
			log_print_entry(&es->via.array.ptr[i], all);
	}
	fflush(stdout);
	return ((uint64_t)mp_get_int(r, "cursor", 0));
}

/* Pack log_wait's arguments: the filters given, after cursor. */
static void
log_wait_args(struct cmd_call *cc, uint64_t cursor, struct fbuf *fb)
{
	size_t i, k;

	pk_map_open(fb);
	pk_kuint(fb, "after", cursor);
	pk_kint(fb, "wait_seconds", LOG_FOLLOW_WAIT);
	for (i = 0; i < cc->op->nargs; i++) {
		const char *name = cc->op->args[i].name;

		if (!cc->v[i].set || strcmp(name, "after") == 0 || strcmp(name, "limit") == 0)
			continue;
		pk_str(fb, name);
		switch (cc->op->args[i].type) {
		case ARG_STRINGS:
			pk_array(fb, cc->v[i].n);
			for (k = 0; k < cc->v[i].n; k++)
				pk_str(fb, cc->v[i].list[k]);
			break;
		case ARG_BOOL: pk_bool(fb, cc->v[i].num != 0); break;
		default: pk_str(fb, cc->v[i].text); break;
		}
	}
	pk_map_close(fb);
}

/* Follow: log_wait after the cursor, for ever (until the broker goes). */
static int
log_follow(struct cmd_call *cc, uint64_t cursor, int all)
{
	struct op_error err;
	msgpack_unpacked u;
	const msgpack_object *r;
	struct fbuf fb;
	int rc;

	for (;;) {
		fbuf_init(&fb);
		log_wait_args(cc, cursor, &fb);
		msgpack_unpacked_init(&u);
		memset(&err, 0, sizeof err);
		rc = conn_call(&cc->c, "log_wait", fb.sb.data + FRAME_HDR,
		    fb.sb.size - FRAME_HDR, &u, &r, &err);
		fbuf_free(&fb);
		if (rc != 0) {
			msgpack_unpacked_destroy(&u);
			return (cli_fail("log_wait", &err));
		}
		cursor = log_print(r, cc->json, all);
		msgpack_unpacked_destroy(&u);
		if (ferror(stdout))
			return (cli_flush(0));
	}
}

/* `baton log`: a page of the log, then (-f) what follows. */
static int
log_exec(struct cmd_call *cc)
{
	int all = cmd_has(cc, "all_projects"), status;
	uint64_t cursor;

	if ((status = cmd_call_op(cc)) != 0)
		return (status);
	if (cc->json && cmd_local(cc, "follow") == NULL)
		return (cli_print_json(cc->r));
	cursor = log_print(cc->r, cc->json, all);
	if (cmd_local(cc, "follow") == NULL)
		return (cli_flush(0));
	return (log_follow(cc, cursor, all));
}
