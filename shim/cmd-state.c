/*
 * Notes, counters and events for shells: `baton note set|get|delete|
 * list|wait`, `baton counter incr`, `baton event signal|wait`.  Each
 * prints what a script wants on stdout (a value, a version, a
 * generation) or, with --json, the operation's whole result; a
 * conflict, an absent note or a timeout is exit status 1.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define STATE_ONE_WAIT 3600.0 /* one wait request; the broker caps it (50 s by default) */

static int note_set_exec(struct cmd_call *);
static int note_get_exec(struct cmd_call *);
static int note_delete_exec(struct cmd_call *);
static int note_list_show(struct cmd_call *);
static int note_wait_exec(struct cmd_call *);
static int counter_show(struct cmd_call *);
static int event_signal_show(struct cmd_call *);
static int event_wait_exec(struct cmd_call *);

static const struct cmd_opt note_set_opts[] = {
	{ "if-version", 0, "if_version", NULL },
	{ "ttl", 0, "ttl_seconds", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt note_delete_opts[] = {
	{ "if-version", 0, "if_version", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt note_list_opts[] = {
	{ "limit", 0, "limit", NULL },
	{ "after", 0, "after", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt note_wait_opts[] = {
	{ "after", 0, "after_version", NULL },
	{ "wait", 'w', NULL, NULL }, /* baton's: it asks again past the broker's cap */
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt counter_opts[] = {
	{ "by", 0, "by", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt event_wait_opts[] = {
	{ "after", 0, "after", NULL },
	{ "next", 'n', "next", NULL },
	{ "wait", 'w', NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct cmd_sub note_subs[] = {
	{ .name = "set",
	    .op = "note_set",
	    .usage =
		"note set KEY VALUE [--json-value] [--if-version N] [--ttl SECONDS] [--json]",
	    .desc = "write a note (VALUE is a string unless --json-value); prints its "
		    "version; exit 1 if --if-version mismatched",
	    .flags = CMD_JSON | CMD_JSON_VALUE,
	    .opts = note_set_opts,
	    .pos = { "key", "value" },
	    .npos = 2,
	    .exec = note_set_exec },
	{ .name = "get",
	    .op = "note_get",
	    .usage = "note get KEY [--json]",
	    .desc = "print a note's value; exit 1 when absent",
	    .flags = CMD_JSON,
	    .pos = { "key" },
	    .npos = 1,
	    .exec = note_get_exec },
	{ .name = "delete",
	    .op = "note_delete",
	    .usage = "note delete KEY [--if-version N] [--json]",
	    .desc = "delete a note; exit 1 when there was none or --if-version mismatched",
	    .flags = CMD_JSON,
	    .opts = note_delete_opts,
	    .pos = { "key" },
	    .npos = 1,
	    .exec = note_delete_exec },
	{ .name = "list",
	    .op = "note_list",
	    .usage = "note list [PREFIX] [--limit N] [--after KEY] [--json]",
	    .desc = "the notes: key, version, author, size, expiry; a page of --limit (default "
		    "100), the next one --after the last key",
	    .flags = CMD_JSON,
	    .opts = note_list_opts,
	    .pos = { "prefix" },
	    .show = note_list_show },
	{ .name = "wait",
	    .op = "note_wait",
	    .usage = "note wait KEY [--after VERSION] [-w SECONDS] [--json]",
	    .desc = "wait until KEY is written or deleted past VERSION (default 0: until it "
		    "exists); prints the value; exit 1 on timeout",
	    .flags = CMD_JSON,
	    .opts = note_wait_opts,
	    .pos = { "key" },
	    .npos = 1,
	    .exec = note_wait_exec },
};
const struct cmd_entry cmd_note_entry = {
	.name = "note",
	.desc = "notes the agents of a project share; a value or payload that starts with - "
		"goes after --",
	.subs = note_subs,
	.nsubs = nitems(note_subs),
	.exec = cmd_sub_main,
};

static const struct cmd_sub counter_subs[] = {
	{ .name = "incr",
	    .op = "counter_incr",
	    .usage = "counter incr NAME [--by N] [--json]",
	    .desc = "add atomically (default 1, 0 reads); prints the value",
	    .flags = CMD_JSON,
	    .opts = counter_opts,
	    .pos = { "name" },
	    .npos = 1,
	    .show = counter_show },
};
const struct cmd_entry cmd_counter_entry = {
	.name = "counter",
	.subs = counter_subs,
	.nsubs = nitems(counter_subs),
	.exec = cmd_sub_main,
};

static const struct cmd_sub event_subs[] = {
	{ .name = "signal",
	    .op = "event_signal",
	    .usage = "event signal NAME [PAYLOAD] [--json-value] [--json]",
	    .desc = "wake every waiter; prints the new generation",
	    .flags = CMD_JSON | CMD_JSON_VALUE,
	    .pos = { "name", "payload" },
	    .npos = 1,
	    .show = event_signal_show },
	{ .name = "wait",
	    .op = "event_wait",
	    .usage = "event wait NAME [--after GENERATION | -n] [-w SECONDS] [--json]",
	    .desc = "wait until signaled past GENERATION (default 0), or with -n (--next) "
		    "for the next signal after it starts; prints the generation; exit 1 on "
		    "timeout",
	    .flags = CMD_JSON,
	    .opts = event_wait_opts,
	    .pos = { "name" },
	    .npos = 1,
	    .exec = event_wait_exec },
};
const struct cmd_entry cmd_event_entry = {
	.name = "event",
	.subs = event_subs,
	.nsubs = nitems(event_subs),
	.exec = cmd_sub_main,
};

/*
 * Print a value for people and scripts: a string as it is (escaped on a
 * terminal, where a peer's control characters would act), anything else
 * as JSON.
 */
static int
state_print_value(const msgpack_object *v)
{
	const char *s;
	size_t n;

	if (v != NULL && mp_str(v, &s, &n) == 0) {
		if (isatty(STDOUT_FILENO))
			fputs(cli_vis(s, n, UTF8_VIS_LINES), stdout);
		else
			fwrite(s, 1, n, stdout);
		putchar('\n');
		return (cli_flush(0));
	}
	if (v == NULL) {
		puts("null");
		return (cli_flush(0));
	}
	return (cli_print_json(v));
}

/* Print an integer field of the result on its own line. */
static int
state_print_int(const msgpack_object *r, const char *key)
{
	printf("%lld\n", (long long)mp_get_int(r, key, 0));
	return (cli_flush(0));
}

/* baton note set KEY VALUE: the version; a mismatched --if-version is exit 1. */
static int
note_set_exec(struct cmd_call *cc)
{
	const char *key = cmd_str(cc, "key");
	long long v, want = (long long)cmd_num(cc, "if_version");
	int status;

	if ((status = cmd_call_op(cc)) != 0)
		return (status);
	if (cc->json)
		status = cli_print_json(cc->r);
	else if (cmd_result_bool(cc, "written"))
		status = state_print_int(cc->r, "version");
	if (status != 0 || cmd_result_bool(cc, "written"))
		return (status);
	if ((v = (long long)mp_get_int(cc->r, "version", 0)) == 0)
		cli_err("%s does not exist; not written (--if-version %lld)", key, want);
	else
		cli_err("%s is at version %lld, not %lld; not written", key, v, want);
	return (EXIT_CONFLICT);
}

/* baton note get KEY: the value; an absent note is exit 1. */
static int
note_get_exec(struct cmd_call *cc)
{
	int status;

	if ((status = cmd_call_op(cc)) != 0)
		return (status);
	if (cc->json)
		status = cli_print_json(cc->r);
	else if (cmd_result_bool(cc, "found"))
		status = state_print_value(mp_get(cc->r, "value"));
	if (status != 0 || cmd_result_bool(cc, "found"))
		return (status);
	if (!cc->json)
		cli_err("no note %s", cmd_str(cc, "key"));
	return (EXIT_CONFLICT);
}

/* baton note delete KEY: exit 1 when there was none or --if-version mismatched. */
static int
note_delete_exec(struct cmd_call *cc)
{
	const char *key = cmd_str(cc, "key");
	long long v;
	int status;

	if ((status = cmd_call_op(cc)) != 0)
		return (status);
	if (cc->json && (status = cli_print_json(cc->r)) != 0)
		return (status);
	if (cmd_result_bool(cc, "deleted"))
		return (0);
	if ((v = (long long)mp_get_int(cc->r, "version", 0)) == 0)
		cli_err("no note %s", key);
	else
		cli_err("%s is at version %lld, not %lld; not deleted", key, v,
		    (long long)cmd_num(cc, "if_version"));
	return (EXIT_CONFLICT);
}

/* show for note list: a table for people. */
static int
note_list_show(struct cmd_call *cc)
{
	const msgpack_object *ns = mp_get(cc->r, "notes"), *n;
	const char *key = "", *author, *prefix = cmd_str(cc, "prefix");
	size_t kn = 0, an;
	double exp;
	char expbuf[32];
	uint32_t i;

	if (prefix == NULL)
		prefix = "";
	if (ns == NULL || ns->type != MSGPACK_OBJECT_ARRAY || ns->via.array.size == 0) {
		printf("no notes%s%s\n", *prefix ? " under " : "", prefix);
		return (0);
	}
	printf("%-32s %10s %-20s %8s %8s\n", "KEY", "VERSION", "AUTHOR", "BYTES", "EXPIRES");
	for (i = 0; i < ns->via.array.size; i++) {
		n = &ns->via.array.ptr[i];
		key = author = "";
		kn = an = 0;
		mp_str(mp_get(n, "key"), &key, &kn);
		mp_str(mp_get(n, "author"), &author, &an);
		if (mp_num(mp_get(n, "expires_in_seconds"), &exp) == 0)
			snprintf(expbuf, sizeof expbuf, "%.0fs", ceil(exp));
		else
			snprintf(expbuf, sizeof expbuf, "-");
		printf("%-32.*s %10lld %-20.*s %8lld %8s\n", (int)kn, key,
		    (long long)mp_get_int(n, "version", 0), (int)an, author,
		    (long long)mp_get_int(n, "size_bytes", 0), expbuf);
	}
	if (cmd_result_bool(cc, "more"))
		cli_err("more notes match: the next page is note list%s%s --after '%.*s'",
		    *prefix ? " " : "", prefix, (int)kn, key);
	return (0);
}

/*
 * Wait with cc's operation (note_wait or event_wait) until done_field
 * is true or -w seconds pass (*total; < 0: for ever), asking again past
 * the broker's cap with the same after, so nothing is missed in
 * between.  0 with the result in cc->r, -1 on timeout, or an exit status.
 */
static int
state_wait(struct cmd_call *cc, const char *done_field, double *total)
{
	const char *w = cmd_local(cc, "wait");
	double start = mono_now(), left, wait;
	int status;

	*total = -1;
	if (w != NULL && cli_seconds("-w", w, 1e7, total) != 0)
		return (EXIT_USAGE);
	for (;;) {
		wait = STATE_ONE_WAIT;
		if (*total >= 0 && (left = *total - (mono_now() - start)) < wait)
			wait = left > 0 ? left : 0;
		cmd_set_num(cc, "wait_seconds", wait);
		if ((status = cmd_call_op(cc)) != 0)
			return (status);
		if (cmd_result_bool(cc, done_field))
			return (0);
		if (op_arg_find(cc->op, "next", 4) != NULL && cmd_has(cc, "next")) {
			/* asked again past the cap: the next signal after the first call */
			cmd_set_num(cc, "after", (double)mp_get_int(cc->r, "generation", 0));
			cmd_set_num(cc, "next", 0);
		}
		if (*total >= 0 && mono_now() - start >= *total)
			return (-1);
	}
}

/* baton note wait KEY [--after N] [-w S]: the value once it changed. */
static int
note_wait_exec(struct cmd_call *cc)
{
	const char *key = cmd_str(cc, "key");
	double total;
	int status;

	if ((status = state_wait(cc, "changed", &total)) == -1) {
		if (cc->json)
			cli_print_json(cc->r);
		cli_err("timed out after %g s: %s did not change", total, key);
		return (EXIT_CONFLICT);
	}
	if (status != 0)
		return (status);
	if (cc->json)
		return (cli_print_json(cc->r));
	if (cmd_result_bool(cc, "found"))
		return (state_print_value(mp_get(cc->r, "value")));
	cli_err("%s was deleted (version %lld)", key,
	    (long long)mp_get_int(cc->r, "version", 0));
	return (0);
}

/* show for counter incr: the value. */
static int
counter_show(struct cmd_call *cc)
{
	return (state_print_int(cc->r, "value"));
}

/* show for event signal: the new generation. */
static int
event_signal_show(struct cmd_call *cc)
{
	return (state_print_int(cc->r, "generation"));
}

/* baton event wait NAME [--after N] [-w S]: the generation once signaled. */
static int
event_wait_exec(struct cmd_call *cc)
{
	double total;
	int status;

	if ((status = state_wait(cc, "fired", &total)) == -1) {
		if (cc->json)
			cli_print_json(cc->r);
		cli_err("timed out after %g s: %s was not signaled", total,
		    cmd_str(cc, "name"));
		return (EXIT_CONFLICT);
	}
	if (status != 0)
		return (status);
	return (cc->json ? cli_print_json(cc->r) : state_print_int(cc->r, "generation"));
}
