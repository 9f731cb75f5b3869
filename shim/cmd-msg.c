/*
 * Presence, messages and discussions for people and shells: `baton
 * agents`, `baton msg send|inbox|ack`, `baton discuss start|reply|
 * resolve|list|show`.  Each subcommand is an operation whose arguments
 * its words and options give (cmd-sub.c); here are the tables, and how
 * a result is shown to people: a table or a few lines.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

static int msg_show_agents(struct cmd_call *);
static int msg_show_sent(struct cmd_call *);
static int msg_show_inbox(struct cmd_call *);
static int msg_show_acked(struct cmd_call *);
static int msg_show_disc_changed(struct cmd_call *);
static int msg_show_disc_list(struct cmd_call *);
static int msg_show_disc(struct cmd_call *);

static const struct cmd_opt agents_opts[] = {
	{ "role", 0, "role", NULL },
	{ "limit", 0, "limit", NULL },
	{ "after", 0, "after", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt send_opts[] = {
	{ "subject", 0, "subject", NULL },
	{ "thread", 0, "thread", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt inbox_opts[] = {
	{ "after", 0, "after", NULL },
	{ "unread", 0, "unread_only", NULL },
	{ "wait", 'w', "wait_seconds", NULL },
	{ "limit", 0, "limit", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt ack_opts[] = {
	{ "up-to", 0, "up_to", NULL },
	{ "all", 0, "up_to", "9007199254740991" },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt start_opts[] = {
	{ "waiting-on", 0, "waiting_on", NULL },
	{ "category", 0, "category", NULL },
	{ "priority", 0, "priority", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt reply_opts[] = {
	{ "waiting-on", 0, "waiting_on", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt resolve_opts[] = {
	{ "reasoning", 0, "reasoning", NULL },
	{ "task", 0, "linked_task", NULL },
	{ "token", 0, "token", NULL },
	{ NULL, 0, NULL, NULL },
};
static const struct cmd_opt list_opts[] = {
	{ "status", 0, "status", NULL },
	{ "waiting-on", 0, "waiting_on", NULL },
	{ "limit", 0, "limit", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct cmd_sub agents_subs[] = {
	{ .op = "agent_list",
	    .usage = "agents [--role ROLE] [--limit N] [--after SESSION] [--json]",
	    .desc = "who is present in the project, their roles and locks; a page of --limit "
		    "(default 100), the next one --after the last session",
	    .flags = CMD_JSON,
	    .opts = agents_opts,
	    .show = msg_show_agents },
};
const struct cmd_entry cmd_agents_entry = {
	.name = "agents",
	.subs = agents_subs,
	.nsubs = nitems(agents_subs),
	.exec = cmd_sub_main,
};

static const struct cmd_sub msg_subs[] = {
	{ .name = "send",
	    .op = "message_send",
	    .usage = "msg send TO BODY|- [--subject S] [--thread T] [--json]",
	    .desc = "mail an agent, role:ROLE or all (- reads stdin)",
	    .flags = CMD_JSON,
	    .opts = send_opts,
	    .pos = { "to", "body" },
	    .npos = 2,
	    .stdin_arg = "body",
	    .show = msg_show_sent },
	{ .name = "inbox",
	    .op = "message_inbox",
	    .usage = "msg inbox [--after ID] [--unread] [-w SECONDS] [--limit N] [--json]",
	    .desc = "your mail (--agent names you); the cursor goes to stderr; with -w, "
		    "exit 1 when nothing came",
	    .flags = CMD_JSON,
	    .opts = inbox_opts,
	    .show = msg_show_inbox },
	{ .name = "ack",
	    .op = "message_ack",
	    .usage = "msg ack ID... | --up-to ID | --all [--json]",
	    .desc = "mark messages read",
	    .flags = CMD_JSON,
	    .opts = ack_opts,
	    .rest = "ids",
	    .show = msg_show_acked },
};
const struct cmd_entry cmd_msg_entry = {
	.name = "msg",
	.subs = msg_subs,
	.nsubs = nitems(msg_subs),
	.exec = cmd_sub_main,
};

static const struct cmd_sub discuss_subs[] = {
	{ .name = "start",
	    .op = "discussion_start",
	    .usage = "discuss start TOPIC MESSAGE [--waiting-on WHO] [--category C] "
		     "[--priority P] [--json]",
	    .desc = "open a discussion; prints its id and the token resolving it from "
		    "another session needs",
	    .flags = CMD_JSON,
	    .opts = start_opts,
	    .pos = { "topic", "message" },
	    .npos = 2,
	    .show = msg_show_disc_changed },
	{ .name = "reply",
	    .op = "discussion_reply",
	    .usage = "discuss reply ID MESSAGE [--waiting-on WHO] [--json]",
	    .desc = "add to a discussion; exit 1 when it is resolved",
	    .flags = CMD_JSON,
	    .opts = reply_opts,
	    .pos = { "id", "message" },
	    .npos = 2,
	    .show = msg_show_disc_changed },
	{ .name = "resolve",
	    .op = "discussion_resolve",
	    .usage = "discuss resolve ID DECISION [--reasoning R] [--task T] [--token TOKEN] "
		     "[--json]",
	    .desc = "record the decision",
	    .flags = CMD_JSON,
	    .opts = resolve_opts,
	    .pos = { "id", "decision" },
	    .npos = 2,
	    .show = msg_show_disc_changed },
	{ .name = "list",
	    .op = "discussion_list",
	    .usage = "discuss list [--status open|resolved|all] [--waiting-on WHO] [--limit N] "
		     "[--json]",
	    .desc = "the discussions",
	    .flags = CMD_JSON,
	    .opts = list_opts,
	    .show = msg_show_disc_list },
	{ .name = "show",
	    .op = "discussion_get",
	    .usage = "discuss show ID [--json]",
	    .desc = "a discussion's thread and resolution",
	    .flags = CMD_JSON,
	    .pos = { "id" },
	    .npos = 1,
	    .show = msg_show_disc },
};
const struct cmd_entry cmd_discuss_entry = {
	.name = "discuss",
	.subs = discuss_subs,
	.nsubs = nitems(discuss_subs),
	.exec = cmd_sub_main,
};

/* A string field of r, or def. */
static const char *
msg_str(const msgpack_object *r, const char *key, const char *def, char *buf, size_t len)
{
	const char *s;
	size_t n;

	if (mp_str(mp_get(r, key), &s, &n) != 0)
		return (def);
	snprintf(buf, len, "%s", cli_vis(s, n, 0));
	return (buf);
}

/* Print text with every line indented. */
static void
msg_indent(const char *text, const char *indent)
{
	const char *p = text, *nl;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		printf("%s%.*s\n", indent, (int)(nl != NULL ? nl - p : (ptrdiff_t)strlen(p)),
		    p);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

/* An array field of r, or NULL. */
static const msgpack_object *
msg_array(const msgpack_object *r, const char *key)
{
	const msgpack_object *a = mp_get(r, key);

	return (a != NULL && a->type == MSGPACK_OBJECT_ARRAY ? a : NULL);
}

static int
msg_show_agents(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
	const msgpack_object *as = msg_array(r, "agents"), *a, *ls;
	char b[7][128], locks[256];
	const char *name;
	uint32_t i, j;
	int64_t pid = 0;
	size_t len, nlen;

	if (as == NULL || as->via.array.size == 0) {
		printf("nobody is present in this project\n");
		return (0);
	}
	printf("%-20s %-12s %-7s %7s %-6s %-10s %8s %8s  %s\n", "AGENT", "ROLE", "SESSION",
	    "PID", "KIND", "STATE", "UP", "IDLE", "LOCKS");
	for (i = 0; i < as->via.array.size; i++) {
		a = &as->via.array.ptr[i];
		locks[0] = '\0';
		if ((ls = msg_array(a, "locks")) != NULL) {
			for (j = 0; j < ls->via.array.size; j++) {
				len = strlen(locks);
				if (mp_str(&ls->via.array.ptr[j], &name, &nlen) == 0 &&
				    len < sizeof locks - 1)
					snprintf(locks + len, sizeof locks - len, "%s%.*s",
					    j > 0 ? "," : "", (int)nlen, name);
			}
		}
		mp_int(mp_get(a, "pid"), &pid);
		printf("%-20s %-12s %-7s %7lld %-6s %-10s %8s %8s  %s\n",
		    msg_str(a, "agent", "?", b[0], sizeof b[0]),
		    msg_str(a, "role", "-", b[1], sizeof b[1]),
		    msg_str(a, "session", "-", b[2], sizeof b[2]), (long long)pid,
		    msg_str(a, "kind", "-", b[3], sizeof b[3]),
		    msg_str(a, "state", "-", b[4], sizeof b[4]),
		    cli_duration(mp_get(a, "connected_seconds"), b[5], sizeof b[5]),
		    cli_duration(mp_get(a, "idle_seconds"), b[6], sizeof b[6]),
		    locks[0] ? locks : "-");
	}
	if (cmd_result_bool(cc, "more"))
		cli_err("more agents are present: the next page is agents --after %s", b[2]);
	return (0);
}

static int
msg_show_sent(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
	const msgpack_object *rc = msg_array(r, "recipients");
	char to[128];
	int64_t id = 0;
	uint32_t i;

	mp_int(mp_get(r, "id"), &id);
	printf("sent message %lld to %s", (long long)id, msg_str(r, "to", "?", to, sizeof to));
	if (rc == NULL || rc->via.array.size == 0)
		printf(" (nobody it reaches is present: it waits in the mailbox)\n");
	else {
		printf(" (present:");
		for (i = 0; i < rc->via.array.size; i++)
			printf(" %.*s", (int)rc->via.array.ptr[i].via.str.size,
			    rc->via.array.ptr[i].via.str.ptr);
		printf(")\n");
	}
	return (0);
}

static int
msg_show_inbox(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
	const msgpack_object *ms = msg_array(r, "messages"), *ds = msg_array(r, "discussions"),
			     *m;
	char b[5][256];
	const char *body;
	size_t blen;
	int64_t id = 0, cursor = 0, unread = 0;
	uint32_t i;

	for (i = 0; ms != NULL && i < ms->via.array.size; i++) {
		m = &ms->via.array.ptr[i];
		mp_int(mp_get(m, "id"), &id);
		printf("[%lld] %s %s -> %s%s%s\n", (long long)id,
		    msg_str(m, "at", "?", b[0], sizeof b[0]),
		    msg_str(m, "from", "?", b[1], sizeof b[1]),
		    msg_str(m, "to", "?", b[2], sizeof b[2]),
		    mp_get(m, "subject") != NULL ? ": " : "",
		    msg_str(m, "subject", "", b[3], sizeof b[3]));
		if (mp_str(mp_get(m, "body"), &body, &blen) == 0) {
			char *t = utf8_vis(body, blen, UTF8_VIS_LINES);

			msg_indent(t, "    ");
			free(t);
		}
	}
	for (i = 0; ds != NULL && i < ds->via.array.size; i++) {
		m = &ds->via.array.ptr[i];
		printf("%s waits on you: %s (started by %s)\n",
		    msg_str(m, "id", "?", b[0], sizeof b[0]),
		    msg_str(m, "topic", "?", b[1], sizeof b[1]),
		    msg_str(m, "started_by", "?", b[2], sizeof b[2]));
	}
	mp_int(mp_get(r, "cursor"), &cursor);
	mp_int(mp_get(r, "unread"), &unread);
	fprintf(stderr, "cursor %lld, %lld unread%s\n", (long long)cursor, (long long)unread,
	    ms == NULL || ms->via.array.size == 0 ? ", no new messages" : "");
	/* an inbox that waited and got nothing: timed out */
	if ((ms == NULL || ms->via.array.size == 0) && cmd_has(cc, "wait_seconds"))
		return (EXIT_CONFLICT);
	return (0);
}

static int
msg_show_acked(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
	int64_t acked = 0, unread = 0;

	mp_int(mp_get(r, "acked"), &acked);
	mp_int(mp_get(r, "unread"), &unread);
	printf("marked %lld read; %lld unread\n", (long long)acked, (long long)unread);
	return (0);
}

static int
msg_show_disc_changed(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
	char b[4][256];
	int64_t n = 0;

	printf("%s %s", msg_str(r, "id", "?", b[0], sizeof b[0]),
	    msg_str(r, "status", "?", b[1], sizeof b[1]));
	if (mp_int(mp_get(r, "replies"), &n) == 0)
		printf(", %lld message%s", (long long)n, n == 1 ? "" : "s");
	if (mp_get(r, "waiting_on") != NULL)
		printf(", waiting on %s", msg_str(r, "waiting_on", "", b[2], sizeof b[2]));
	if (mp_get(r, "decided_by") != NULL)
		printf(", decided by %s", msg_str(r, "decided_by", "", b[2], sizeof b[2]));
	printf("\n");
	if (mp_get(r, "token") != NULL)
		printf("token %s (resolving from another session needs it)\n",
		    msg_str(r, "token", "", b[3], sizeof b[3]));
	return (0);
}

static int
msg_show_disc_list(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
	const msgpack_object *ds = msg_array(r, "discussions"), *d;
	char b[6][256];
	int64_t n = 0;
	uint32_t i;

	if (ds == NULL || ds->via.array.size == 0) {
		printf("no discussions\n");
		return (0);
	}
	printf("%-5s %-9s %-8s %-16s %-16s %7s  %s\n", "ID", "STATUS", "PRIORITY", "WAITING-ON",
	    "STARTED-BY", "REPLIES", "TOPIC");
	for (i = 0; i < ds->via.array.size; i++) {
		d = &ds->via.array.ptr[i];
		mp_int(mp_get(d, "replies"), &n);
		printf("%-5s %-9s %-8s %-16s %-16s %7lld  %s\n",
		    msg_str(d, "id", "?", b[0], sizeof b[0]),
		    msg_str(d, "status", "?", b[1], sizeof b[1]),
		    msg_str(d, "priority", "-", b[2], sizeof b[2]),
		    msg_str(d, "waiting_on", "-", b[3], sizeof b[3]),
		    msg_str(d, "started_by", "?", b[4], sizeof b[4]), (long long)n,
		    msg_str(d, "topic", "", b[5], sizeof b[5]));
	}
	return (0);
}

/* Print a long string field indented under a label. */
static void
msg_show_text(const msgpack_object *o, const char *key, const char *label)
{
	const char *s;
	size_t n;
	char *t;

	if (mp_str(mp_get(o, key), &s, &n) != 0)
		return;
	t = utf8_vis(s, n, UTF8_VIS_LINES);
	if (label != NULL)
		printf("%s\n", label);
	msg_indent(t, "    ");
	free(t);
}

static int
msg_show_disc(struct cmd_call *cc)
{
	const msgpack_object *r = cc->r;
	const msgpack_object *rs = msg_array(r, "replies"), *e, *res = mp_get(r, "resolution");
	char b[6][256];
	uint32_t i;

	printf("%s: %s\n", msg_str(r, "id", "?", b[0], sizeof b[0]),
	    msg_str(r, "topic", "", b[1], sizeof b[1]));
	printf("status %s, priority %s, category %s, started by %s at %s\n",
	    msg_str(r, "status", "?", b[0], sizeof b[0]),
	    msg_str(r, "priority", "-", b[1], sizeof b[1]),
	    msg_str(r, "category", "-", b[2], sizeof b[2]),
	    msg_str(r, "started_by", "?", b[3], sizeof b[3]),
	    msg_str(r, "started_at", "?", b[4], sizeof b[4]));
	if (mp_get(r, "waiting_on") != NULL)
		printf("waiting on %s\n", msg_str(r, "waiting_on", "", b[0], sizeof b[0]));
	for (i = 0; rs != NULL && i < rs->via.array.size; i++) {
		e = &rs->via.array.ptr[i];
		printf("\n%s at %s%s%s:\n", msg_str(e, "who", "?", b[0], sizeof b[0]),
		    msg_str(e, "at", "?", b[1], sizeof b[1]),
		    mp_get(e, "waiting_on") != NULL ? ", asking " : "",
		    msg_str(e, "waiting_on", "", b[2], sizeof b[2]));
		msg_show_text(e, "text", NULL);
	}
	if (res != NULL && res->type == MSGPACK_OBJECT_MAP) {
		printf("\nresolved by %s at %s%s%s\n",
		    msg_str(res, "decided_by", "?", b[0], sizeof b[0]),
		    msg_str(res, "at", "?", b[1], sizeof b[1]),
		    mp_get(res, "linked_task") != NULL ? ", task " : "",
		    msg_str(res, "linked_task", "", b[2], sizeof b[2]));
		msg_show_text(res, "decision", "decision:");
		msg_show_text(res, "reasoning", "reasoning:");
	}
	return (0);
}
