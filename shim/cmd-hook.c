/*
 * `baton hook EVENT`: the agent CLIs' hooks (Claude Code and Codex share
 * one JSON format, DESIGN 12).  The hook's input is read from stdin and
 * answered on stdout with the documented output: SessionStart re-primes
 * the agent, UserPromptSubmit and PostToolUse bring what is new (told
 * once), PreToolUse denies an edit of a file another agent reserved,
 * Stop keeps or wakes the agent when news came.  The hook acts as the
 * agent's own baton mcp session (broker/hook.c finds it).  With no
 * broker it allows and says so once (--strict: edits fail closed); it
 * never starts a broker.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define HOOK_INPUT_MAX (64 * 1024 * 1024) /* a Write of a big file comes whole */
#define HOOK_PATHS_MAX 64                 /* files one edit may touch (hook_edit) */
#define HOOK_INTERVAL_DEFAULT 30.0        /* PostToolUse: news at most this often */
#define HOOK_WAIT_STEP 50.0               /* one wait of Stop --wait (the broker's cap) */

enum hook_event { HE_SESSION_START, HE_PROMPT, HE_PRE_TOOL, HE_POST_TOOL, HE_STOP };
static const char *const hook_events[] = {
	[HE_SESSION_START] = "SessionStart",
	[HE_PROMPT] = "UserPromptSubmit",
	[HE_PRE_TOOL] = "PreToolUse",
	[HE_POST_TOOL] = "PostToolUse",
	[HE_STOP] = "Stop",
};

struct hook {
	enum hook_event ev;
	int strict, reserve;
	double interval, wait;
	cJSON *in;
	const char *session_id, *cwd;
	char *paths[HOOK_PATHS_MAX];
	size_t npaths;
	cJSON *out;       /* what is printed, built as we go */
	struct sbuf ctx;  /* additionalContext */
	struct sbuf note; /* systemMessage: for the user */
};

/* A string member of o, or NULL. */
static const char *
hook_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return (cJSON_IsString(v) ? v->valuestring : NULL);
}

/* Add one path of the edit, made absolute against the hook's cwd; -1 past the bound. */
static int
hook_add_path(struct hook *h, const char *p, size_t n)
{
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
		n--;
	if (n == 0)
		return (0);
	if (h->npaths == HOOK_PATHS_MAX) {
		cli_err("hook: the edit touches more than %d files", HOOK_PATHS_MAX);
		return (-1);
	}
	if (p[0] == '/' || h->cwd == NULL)
		h->paths[h->npaths++] = xstrndup(p, n);
	else
		xasprintf(&h->paths[h->npaths++], "%s/%.*s", h->cwd, (int)n, p);
	return (0);
}

/*
 * The files an apply_patch patch touches: its "*** Add File:", "***
 * Update File:", "*** Delete File:" and "*** Move to:" lines.
 */
static int
hook_patch_paths(struct hook *h, const char *patch)
{
	static const char *const marks[] = { "*** Add File: ", "*** Update File: ",
		"*** Delete File: ", "*** Move to: " };
	const char *line = patch, *end;
	size_t i, len;

	for (; *line != '\0'; line = *end != '\0' ? end + 1 : end) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		for (i = 0; i < nitems(marks); i++) {
			len = strlen(marks[i]);
			if ((size_t)(end - line) > len && strncmp(line, marks[i], len) == 0 &&
			    hook_add_path(h, line + len, (size_t)(end - line) - len) != 0)
				return (-1);
		}
	}
	return (0);
}

/*
 * The files a PreToolUse edits: file_path or notebook_path (Claude Code's
 * Edit, Write, MultiEdit, NotebookEdit), or the files of an apply_patch
 * patch (Codex: tool_input.command, or a shell command carrying one).
 */
static int
hook_edit_paths(struct hook *h)
{
	const cJSON *ti = cJSON_GetObjectItemCaseSensitive(h->in, "tool_input");
	const char *s, *keys[] = { "file_path", "notebook_path" },
		       *pk[] = { "command", "patch", "input" };
	size_t i;

	if (cJSON_IsString(ti) && strstr(ti->valuestring, "*** Begin Patch") != NULL)
		return (hook_patch_paths(h, ti->valuestring));
	for (i = 0; i < nitems(keys); i++) {
		if ((s = hook_str(ti, keys[i])) != NULL)
			return (hook_add_path(h, s, strlen(s)));
	}
	for (i = 0; i < nitems(pk); i++) {
		if ((s = hook_str(ti, pk[i])) != NULL && strstr(s, "*** Begin Patch") != NULL)
			return (hook_patch_paths(h, s));
	}
	return (0);
}

/*
 * Say something once per agent session: 1 the first time what is asked
 * for this session (a marker file under STATE/hooks), 0 after.  Without
 * a state directory it says it every time.
 */
static int
hook_once(const struct hook *h, const char *what)
{
	char dir[PATH_MAX], path[PATH_MAX + 160], id[96], *cause;
	size_t i;
	int fd;

	snprintf(id, sizeof id, "%s", h->session_id != NULL ? h->session_id : "");
	if (id[0] == '\0')
		snprintf(id, sizeof id, "ppid-%ld", (long)getppid());
	for (i = 0; id[i] != '\0'; i++) {
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
			(id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			id[i] = '_';
	}
	if (path_state_dir(dir, sizeof dir, &cause) != 0) {
		free(cause);
		return (1);
	}
	snprintf(path, sizeof path, "%s/hooks", dir);
	if (path_check_dir(path, 1, &cause) != 0) {
		free(cause);
		return (1);
	}
	snprintf(path, sizeof path, "%s/hooks/%s-%s", dir, what, id);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		return (errno == EEXIST ? 0 : 1);
	close(fd);
	return (1);
}

/* Forget that what was said for this session (the broker is back: say a new outage). */
static void
hook_once_reset(const struct hook *h, const char *what)
{
	char dir[PATH_MAX], path[PATH_MAX + 160], *cause;

	if (h->session_id == NULL || strpbrk(h->session_id, "/.") != NULL ||
	    path_state_dir(dir, sizeof dir, &cause) != 0)
		return;
	snprintf(path, sizeof path, "%s/hooks/%s-%s", dir, what, h->session_id);
	unlink(path);
}

/* The hookSpecificOutput object for this event, made on first use. */
static cJSON *
hook_specific(struct hook *h)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(h->out, "hookSpecificOutput");

	if (o == NULL) {
		o = cJSON_AddObjectToObject(h->out, "hookSpecificOutput");
		cJSON_AddStringToObject(o, "hookEventName", hook_events[h->ev]);
	}
	return (o);
}

/* Deny the edit (PreToolUse) with reason. */
static void
hook_deny(struct hook *h, const char *reason)
{
	cJSON *o = hook_specific(h);

	cJSON_AddStringToObject(o, "permissionDecision", "deny");
	cJSON_AddStringToObject(o, "permissionDecisionReason", reason);
}

/* Print what was built: the context and the note, then the JSON on one line. */
static int
hook_print(struct hook *h)
{
	char *text;

	if (h->ctx.len > 0) {
		if (h->ev == HE_STOP) {
			cJSON_AddStringToObject(h->out, "decision", "block");
			cJSON_AddStringToObject(h->out, "reason", h->ctx.s);
		} else
			cJSON_AddStringToObject(hook_specific(h), "additionalContext",
			    h->ctx.s);
	}
	if (h->note.len > 0)
		cJSON_AddStringToObject(h->out, "systemMessage", h->note.s);
	if (cJSON_GetArraySize(h->out) == 0)
		return (cli_flush(0)); /* nothing to say: allow, add nothing */
	text = cJSON_PrintUnformatted(h->out);
	puts(text);
	free(text);
	return (cli_flush(0));
}

/* The broker is unreachable: allow (saying so once), or deny an edit when strict. */
static int
hook_unreachable(struct hook *h, const struct op_error *err)
{
	char *reason;

	if (h->ev == HE_PRE_TOOL && h->strict) {
		xasprintf(&reason,
		    "baton: the broker is unreachable (%s) and this hook is --strict: edits "
		    "are "
		    "refused until it runs again (baton status starts it)",
		    err->message);
		hook_deny(h, reason);
		free(reason);
	} else if (h->ev != HE_STOP && hook_once(h, "unreachable")) {
		sb_addf(&h->note,
		    "baton: the broker is unreachable (%s); hooks allow everything and bring "
		    "no "
		    "news until it runs again (baton status starts it)",
		    err->message);
		if (h->ev != HE_PRE_TOOL)
			sb_adds(&h->ctx, h->note.s);
	}
	return (hook_print(h));
}

/* Call op with the arguments in args (a JSON object); 0 with *r in u, else -1 with err. */
static int
hook_call(struct conn *c, const char *op, cJSON *args, msgpack_unpacked *u,
    const msgpack_object **r, struct op_error *err)
{
	msgpack_sbuffer sb;
	msgpack_unpacked au;
	const msgpack_object *a;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&au);
	rc = json_args_to_msgpack(args, &sb, &au, &a, err);
	if (rc == 0)
		rc = conn_call(c, op, sb.data, sb.size, u, r, err);
	msgpack_unpacked_destroy(&au);
	msgpack_sbuffer_destroy(&sb);
	return (rc);
}

/* A string field of a result, or def. */
static const char *
hook_field(const msgpack_object *r, const char *key, char *buf, size_t len, const char *def)
{
	const msgpack_object *v = mp_get(r, key);

	return (v != NULL && v->type == MSGPACK_OBJECT_STR ? cli_field(r, key, buf, len) : def);
}

/* Why no session matched, for the agent and the user. */
static void
hook_say_unmatched(struct sbuf *sb, const msgpack_object *r)
{
	char why[256];

	sb_addf(sb,
	    "baton could not tell which agent this is (%s), so it counts as an agent that "
	    "holds nothing. To fix it, run baton as this agent's MCP server (baton install) "
	    "and restart the agent.",
	    hook_field(r, "unmatched", why, sizeof why, "no session"));
}

/*
 * One blocker of hook_edit's answer (b) as "PATH is reserved by AGENT
 * (NAME, MODE, for AGE[, expires in T][: REASON])" (baton hook and baton
 * guard say it alike).
 */
void
hook_say_reserved(struct sbuf *sb, const msgpack_object *b)
{
	char path[PATH_MAX], name[PATH_MAX + 8], agent[96], mode[16], age[32], exp[32];
	char reason[300];
	const msgpack_object *e = mp_get(b, "expires_in_seconds");

	cli_field(b, "path", path, sizeof path);
	cli_field(b, "name", name, sizeof name);
	cli_field(b, "agent", agent, sizeof agent);
	cli_field(b, "mode", mode, sizeof mode);
	cli_duration(mp_get(b, "age_seconds"), age, sizeof age);
	sb_addf(sb, "%s is reserved by %s (%s, %s, for %s%s%s%s%s)", path, agent, name, mode,
	    age, e != NULL ? ", expires in " : "",
	    e != NULL ? cli_duration(e, exp, sizeof exp) : "",
	    mp_get(b, "reason") != NULL ? ": " : "",
	    mp_get(b, "reason") != NULL ? cli_field(b, "reason", reason, sizeof reason) : "");
}

/* One blocker of an edit, as a sentence: who holds what, since when, how to wait. */
static void
hook_say_blocker(struct sbuf *sb, const msgpack_object *b)
{
	char name[PATH_MAX + 8], agent[96];

	hook_say_reserved(sb, b);
	sb_addf(sb,
	    ". Do not edit it now: wait for it with lock_acquire {\"name\": \"%s\", "
	    "\"wait_seconds\": 50} (call again with the ticket while it times out), work on "
	    "something else, or ask %s with message_send. ",
	    cli_field(b, "name", name, sizeof name),
	    cli_field(b, "agent", agent, sizeof agent));
}

/* PreToolUse: deny an edit of a file another agent reserved, naming the holder. */
static int
hook_pre_tool(struct hook *h, struct conn *c)
{
	const msgpack_object *r, *bl, *res;
	struct op_error err;
	msgpack_unpacked u;
	struct sbuf why = { NULL, 0, 0 };
	cJSON *args, *paths;
	size_t i;
	int matched;

	args = cJSON_CreateObject();
	paths = cJSON_AddArrayToObject(args, "paths");
	for (i = 0; i < h->npaths; i++)
		cJSON_AddItemToArray(paths, cJSON_CreateString(h->paths[i]));
	if (h->reserve)
		cJSON_AddBoolToObject(args, "reserve", 1);
	msgpack_unpacked_init(&u);
	if (hook_call(c, "hook_edit", args, &u, &r, &err) != 0) {
		cJSON_Delete(args);
		msgpack_unpacked_destroy(&u);
		if (strcmp(err.code, ERR_UNAVAILABLE) == 0)
			return (hook_unreachable(h, &err));
		cli_err("hook: %s", err.message);
		return (exit_status_for(err.code));
	}
	cJSON_Delete(args);
	matched = mp_get_bool(r, "matched", 0);
	bl = mp_get(r, "blockers");
	if (!mp_get_bool(r, "allowed", 1) && bl != NULL && bl->type == MSGPACK_OBJECT_ARRAY) {
		sb_adds(&why, "baton: ");
		for (i = 0; i < bl->via.array.size; i++)
			hook_say_blocker(&why, &bl->via.array.ptr[i]);
		if (!matched)
			hook_say_unmatched(&why, r);
		while (why.len > 0 && why.s[why.len - 1] == ' ')
			why.s[--why.len] = '\0';
		hook_deny(h, why.s);
		free(why.s);
	} else if (!matched && hook_once(h, "unmatched"))
		hook_say_unmatched(&h->note, r);
	res = mp_get(r, "reserved");
	for (i = 0; res != NULL && res->type == MSGPACK_OBJECT_ARRAY && i < res->via.array.size;
	     i++) {
		sb_addf(&h->ctx, "%sbaton reserved %.*s for you", i == 0 ? "" : "; ",
		    (int)res->via.array.ptr[i].via.str.size, res->via.array.ptr[i].via.str.ptr);
		if (i + 1 == res->via.array.size)
			sb_adds(&h->ctx,
			    " (released when your session ends, or with lock_release).");
	}
	msgpack_unpacked_destroy(&u);
	return (hook_print(h));
}

/* An array of strings of r as "a, b, c" into sb; how many. */
static size_t
hook_list(struct sbuf *sb, const msgpack_object *a)
{
	uint32_t i;

	for (i = 0; a != NULL && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size;
	     i++) {
		if (a->via.array.ptr[i].type == MSGPACK_OBJECT_STR)
			sb_addf(sb, "%s%.*s", i > 0 ? ", " : "",
			    (int)a->via.array.ptr[i].via.str.size,
			    a->via.array.ptr[i].via.str.ptr);
	}
	return (i);
}

/* The prime of SessionStart: who the agent is, what it holds, what to do next. */
static void
hook_say_prime(struct sbuf *sb, const msgpack_object *r)
{
	char agent[96], role[48], project[PATH_MAX], sid[32], hint[1024], steps[4096];

	sb_addf(sb, "baton: you are %s (%s) in project %s, session %s. You hold ",
	    cli_field(r, "agent", agent, sizeof agent),
	    hook_field(r, "role", role, sizeof role, "no role yet: agent_join"),
	    cli_field(r, "project", project, sizeof project),
	    cli_field(r, "session", sid, sizeof sid));
	if (hook_list(sb, mp_get(r, "locks")) == 0)
		sb_adds(sb, "no locks");
	sb_adds(sb, " and ");
	if (hook_list(sb, mp_get(r, "tasks")) == 0)
		sb_adds(sb, "no tasks");
	sb_addf(sb, ". %s\nNext steps:\n%s\n", cli_field(r, "hint", hint, sizeof hint),
	    hook_field(r, "next_steps", steps, sizeof steps, ""));
}

/* One news item as a line. */
static void
hook_say_item(struct sbuf *sb, const msgpack_object *it)
{
	char kind[16], id[32], fbuf[96], sbuf[300], tbuf[512];
	const char *from, *subject, *text;
	int cut = mp_get_bool(it, "cut", 0);

	cli_field(it, "kind", kind, sizeof kind);
	cli_field(it, "id", id, sizeof id);
	from = hook_field(it, "from", fbuf, sizeof fbuf, "?");
	subject = hook_field(it, "subject", sbuf, sizeof sbuf, "");
	text = hook_field(it, "text", tbuf, sizeof tbuf, "");
	if (strcmp(kind, "message") == 0)
		sb_addf(sb, "- mail %s from %s: %s%s%s%s\n", id, from, subject,
		    subject[0] != '\0' ? ": " : "", text, cut ? "..." : "");
	else if (strcmp(kind, "review") == 0)
		sb_addf(sb,
		    "- %s \"%s\" waits for review (submitted by %s%s%s%s): task_get %s, then "
		    "task_approve or task_request_changes\n",
		    id, subject, from, text[0] != '\0' ? ": " : "", text, cut ? "..." : "", id);
	else
		sb_addf(sb,
		    "- changes requested on your %s \"%s\" by %s%s%s%s: make them, then "
		    "task_submit "
		    "again\n",
		    id, subject, from, text[0] != '\0' ? ": " : "", text, cut ? "..." : "");
}

/* The news of a hook_news result into sb; how many items. */
static size_t
hook_say_news(struct sbuf *sb, const msgpack_object *r)
{
	const msgpack_object *news = mp_get(r, "news");
	uint32_t i, n = 0;

	if (news != NULL && news->type == MSGPACK_OBJECT_ARRAY)
		n = news->via.array.size;
	if (n == 0)
		return (0);
	sb_adds(sb, "baton news for you (told once; message_inbox reads your mail):\n");
	for (i = 0; i < n; i++)
		hook_say_item(sb, &news->via.array.ptr[i]);
	if (mp_get_bool(r, "more", 0))
		sb_adds(sb, "- and more: read your inbox (message_inbox) and task_list\n");
	return (n);
}

/* hook_news with these arguments; 0 and the result, or -1 with err. */
static int
hook_news_call(struct conn *c, int prime, double interval, double wait, msgpack_unpacked *u,
    const msgpack_object **r, struct op_error *err)
{
	cJSON *args = cJSON_CreateObject();
	int rc;

	if (prime)
		cJSON_AddBoolToObject(args, "prime", 1);
	if (interval > 0)
		cJSON_AddNumberToObject(args, "interval_seconds", interval);
	if (wait > 0)
		cJSON_AddNumberToObject(args, "wait_seconds", wait);
	rc = hook_call(c, "hook_news", args, u, r, err);
	cJSON_Delete(args);
	return (rc);
}

/*
 * Stop --wait (Claude Code's asyncRewake): wait in the broker for news,
 * up to h->wait seconds in steps the broker allows; with news, print it
 * on stderr and exit 2, which wakes the agent.  Nothing: exit 0.
 */
static int
hook_stop_wait(struct hook *h, struct conn *c)
{
	const msgpack_object *r;
	struct op_error err;
	msgpack_unpacked u;
	double end = mono_now() + h->wait, left;
	size_t n = 0;

	while (n == 0 && (left = end - mono_now()) > 0) {
		msgpack_unpacked_init(&u);
		if (hook_news_call(c, 0, 0, left < HOOK_WAIT_STEP ? left : HOOK_WAIT_STEP, &u,
			&r, &err) != 0) {
			msgpack_unpacked_destroy(&u);
			return (0); /* the broker went away: nothing to wake for */
		}
		if (!mp_get_bool(r, "matched", 0)) {
			msgpack_unpacked_destroy(&u);
			return (0);
		}
		n = hook_say_news(&h->ctx, r);
		msgpack_unpacked_destroy(&u);
	}
	if (n == 0)
		return (0);
	fputs(h->ctx.s, stderr);
	return (2);
}

/* SessionStart, UserPromptSubmit, PostToolUse, Stop: the news (and the prime). */
static int
hook_news(struct hook *h, struct conn *c)
{
	const msgpack_object *r;
	struct op_error err;
	msgpack_unpacked u;
	int prime = h->ev == HE_SESSION_START;

	if (h->ev == HE_STOP && h->wait > 0)
		return (hook_stop_wait(h, c));
	msgpack_unpacked_init(&u);
	if (hook_news_call(c, prime, h->ev == HE_POST_TOOL ? h->interval : 0, 0, &u, &r,
		&err) != 0) {
		msgpack_unpacked_destroy(&u);
		if (strcmp(err.code, ERR_UNAVAILABLE) == 0)
			return (hook_unreachable(h, &err));
		cli_err("hook: %s", err.message);
		return (exit_status_for(err.code));
	}
	if (!mp_get_bool(r, "matched", 0)) {
		if (h->ev != HE_STOP && hook_once(h, "unmatched")) {
			hook_say_unmatched(&h->note, r);
			sb_adds(&h->ctx, h->note.s);
		}
	} else {
		if (prime)
			hook_say_prime(&h->ctx, r);
		if (hook_say_news(&h->ctx, r) > 0 && h->ev == HE_STOP)
			sb_adds(&h->ctx, "Act on this news before you stop.");
	}
	msgpack_unpacked_destroy(&u);
	return (hook_print(h));
}

/* Read and check the hook's input: a JSON object for this event. */
static int
hook_input(struct hook *h)
{
	char *text = cli_read_stdin(HOOK_INPUT_MAX, "the hook input");
	const char *ev;

	if (text == NULL)
		return (EXIT_DATAERR);
	h->in = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(h->in)) {
		cli_err(
		    "hook: the input on stdin is not a JSON object (the agent CLI writes one)");
		return (EXIT_DATAERR);
	}
	if ((ev = hook_str(h->in, "hook_event_name")) != NULL &&
	    strcmp(ev, hook_events[h->ev]) != 0) {
		cli_err("hook: the input is for %s, not %s: install it under that event", ev,
		    hook_events[h->ev]);
		return (EXIT_DATAERR);
	}
	h->session_id = hook_str(h->in, "session_id");
	h->cwd = hook_str(h->in, "cwd");
	if (h->cwd != NULL && h->cwd[0] != '/')
		h->cwd = NULL;
	if (h->ev == HE_PRE_TOOL && hook_edit_paths(h) != 0)
		return (EXIT_DATAERR);
	return (0);
}

/* Options: --strict, --reserve-on-edit, --interval SECONDS, --wait SECONDS. */
static int
hook_options(struct hook *h, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "strict", no_argument, NULL, 's' },
		{ "reserve-on-edit", no_argument, NULL, 'r' },
		{ "interval", required_argument, NULL, 'i' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	size_t i;
	int ch;

	h->interval = HOOK_INTERVAL_DEFAULT;
	optind = 0; /* glibc: start afresh (cli.c already ran getopt) */
	while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (ch) {
		case 's': h->strict = 1; break;
		case 'r': h->reserve = 1; break;
		case 'i':
			if (cli_seconds("--interval", optarg, 86400, &h->interval) != 0)
				return (EXIT_USAGE);
			break;
		case 'w':
			if (cli_seconds("--wait", optarg, 86400, &h->wait) != 0)
				return (EXIT_USAGE);
			break;
		default: return (cli_usage_err("hook: unknown option"));
		}
	}
	if (argc - optind != 1)
		return (cli_usage_err("hook: give one EVENT (SessionStart, UserPromptSubmit, "
				      "PreToolUse, PostToolUse or Stop)"));
	for (i = 0; i < nitems(hook_events); i++) {
		if (strcmp(argv[optind], hook_events[i]) == 0) {
			h->ev = (enum hook_event)i;
			return (0);
		}
	}
	return (cli_usage_err("hook: unknown EVENT %s (SessionStart, UserPromptSubmit, "
			      "PreToolUse, PostToolUse or Stop)",
	    argv[optind]));
}

static void
hook_free(struct hook *h)
{
	size_t i;

	for (i = 0; i < h->npaths; i++)
		free(h->paths[i]);
	cJSON_Delete(h->in);
	cJSON_Delete(h->out);
	free(h->ctx.s);
	free(h->note.s);
}

static int
hook_exec(const struct cmd_entry *self, const struct client_opts *gopts, int argc, char **argv)
{
	struct client_opts o = *gopts;
	struct op_error err;
	struct hook h;
	struct conn c;
	int status;

	memset(&h, 0, sizeof h);
	h.out = cJSON_CreateObject();
	if ((status = hook_options(&h, argc, argv)) != 0 || (status = hook_input(&h)) != 0)
		goto out;
	if (h.ev == HE_PRE_TOOL && h.npaths == 0) {
		status = hook_print(&h); /* not an edit: nothing to check */
		goto out;
	}
	o.kind = "hook";
	o.autostart = 0; /* a hook never starts a broker: no broker, nothing reserved */
	if (h.session_id != NULL)
		o.agent_session = h.session_id;
	if (conn_open(&c, &o, &err) != 0) {
		status = strcmp(err.code, ERR_UNAVAILABLE) == 0 ? hook_unreachable(&h, &err)
								: cli_fail("hook", &err);
		goto out;
	}
	hook_once_reset(&h, "unreachable");
	status = h.ev == HE_PRE_TOOL ? hook_pre_tool(&h, &c) : hook_news(&h, &c);
	conn_close(&c);
out:
	hook_free(&h);
	return (status);
}

const struct cmd_entry cmd_hook_entry = {
	.name = "hook",
	.usage = "hook [--strict] [--reserve-on-edit] [--interval SECONDS] [--wait SECONDS] "
		 "EVENT",
	.desc = "answer an agent CLI's hook (Claude Code, Codex) as the agent's own session: "
		"EVENT is SessionStart, UserPromptSubmit, PreToolUse, PostToolUse or Stop",
	.exec = hook_exec,
};
