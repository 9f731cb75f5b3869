/*
 * `baton install --hooks`: baton hook's entries in Claude Code's
 * settings (.claude/settings.json of the project, or ~/.claude/
 * settings.json) and in Codex's hooks file ($CODEX_HOME/hooks.json),
 * edited on exact spans like the MCP entries (setup-json.c): one matcher
 * group per event appended to the event's array, the arrays and the
 * "hooks" object made only when missing, and what install made is
 * recorded so that uninstall takes out that much and no more, leaving
 * the file byte-identical.  A group is baton's when one of its commands
 * runs "baton ... hook EVENT".
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define HOOKS_STOP_WAIT 3600 /* seconds Stop --wait (asyncRewake) waits for news */

/* One event's entry: its matcher (NULL: every occasion) and its command's options. */
struct hook_spec {
	const char *event;
	const char *claude_matcher, *codex_matcher;
	int stop; /* only with --stop */
};
static const struct hook_spec hook_specs[] = {
	{ "SessionStart", NULL, NULL, 0 },
	{ "UserPromptSubmit", NULL, NULL, 0 },
	{ "PreToolUse", "Edit|Write|MultiEdit|NotebookEdit", "apply_patch|Edit|Write", 0 },
	{ "PostToolUse", NULL, NULL, 0 },
	{ "Stop", NULL, NULL, 1 },
};

/* The command of event for agent (claude or codex), malloc'd. */
static char *
hooks_command(const struct hook_set *hs, const struct hook_spec *sp)
{
	struct sbuf b = { NULL, 0, 0 };

	/* the path in single quotes for the shell the CLIs run hooks with */
	sb_shquote(&b, hs->self);
	if (hs->group != NULL) {
		sb_adds(&b, " --group ");
		sb_shquote(&b, hs->group);
	}
	sb_adds(&b, " hook");
	if (strcmp(sp->event, "PreToolUse") == 0 && hs->reserve)
		sb_adds(&b, " --reserve-on-edit");
	if (strcmp(sp->event, "PreToolUse") == 0 && hs->strict)
		sb_adds(&b, " --strict");
	if (sp->stop && hs->claude)
		sb_addf(&b, " --wait %d", HOOKS_STOP_WAIT);
	sb_addf(&b, " %s", sp->event);
	return (b.s);
}

/* The matcher group of one event, as cJSON. */
static cJSON *
hooks_group(const struct hook_set *hs, const struct hook_spec *sp)
{
	const char *matcher = hs->claude ? sp->claude_matcher : sp->codex_matcher;
	cJSON *g = cJSON_CreateObject(), *list, *h;
	char *cmd = hooks_command(hs, sp);

	if (matcher != NULL)
		cJSON_AddStringToObject(g, "matcher", matcher);
	list = cJSON_AddArrayToObject(g, "hooks");
	h = cJSON_CreateObject();
	cJSON_AddItemToArray(list, h);
	cJSON_AddStringToObject(h, "type", "command");
	cJSON_AddStringToObject(h, "command", cmd);
	if (sp->stop && hs->claude) {
		/* Claude Code runs it in the background and wakes the agent on exit 2 */
		cJSON_AddBoolToObject(h, "asyncRewake", 1);
		cJSON_AddNumberToObject(h, "timeout", HOOKS_STOP_WAIT + 60);
	} else
		cJSON_AddNumberToObject(h, "timeout", 10);
	free(cmd);
	return (g);
}

/* Is the JSON value text [a, b) a matcher group with a "baton ... hook [OPTIONS] EVENT" command? */
static int
hooks_ours(const char *s, size_t a, size_t b, const char *event)
{
	cJSON *g = cJSON_ParseWithLength(s + a, b - a), *h;
	const cJSON *cmd;
	char tail[64];
	size_t n, tl;
	int ours = 0;

	snprintf(tail, sizeof tail, " %s", event);
	tl = strlen(tail);
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(g, "hooks")) {
		cmd = cJSON_GetObjectItemCaseSensitive(h, "command");
		if (!cJSON_IsString(cmd))
			continue;
		n = strlen(cmd->valuestring);
		if (n > tl && strcmp(cmd->valuestring + n - tl, tail) == 0 &&
		    strstr(cmd->valuestring, "baton") != NULL &&
		    strstr(cmd->valuestring, " hook ") != NULL)
			ours = 1;
	}
	cJSON_Delete(g);
	return (ours);
}

/*
 * The elements of the array at arr: *close its ']', *count how many; the
 * first of baton's groups for event in *m (1 when found).
 */
static int
hooks_elements(const char *s, size_t len, size_t arr, const char *event, struct jmember *m,
    size_t *close, size_t *count)
{
	size_t i = js_ws(s, len, arr + 1), e, prev = arr + 1;
	int found = 0;

	memset(m, 0, sizeof *m);
	*count = 0;
	while (i < len && s[i] != ']') {
		e = js_value(s, len, i);
		(*count)++;
		if (found == 1 && m->next_key == 0)
			m->next_key = i;
		if (!found && hooks_ours(s, i, e, event)) {
			found = 1;
			m->key = m->val = i;
			m->end = e;
			m->prev_end = prev;
		}
		prev = e;
		i = js_ws(s, len, e);
		if (i < len && s[i] == ',')
			i = js_ws(s, len, i + 1);
	}
	*close = i;
	return (found);
}

/* Copy out into a new text (the next step works on the result). */
static void
hooks_step(struct sbuf *cur, struct sbuf *out)
{
	free(cur->s);
	*cur = *out;
	memset(out, 0, sizeof *out);
}

/* Add event's group to the hooks object at obj of cur; 1 made the event's array. */
static int
hooks_add_event(struct sbuf *cur, size_t obj, const struct hook_set *hs,
    const struct hook_spec *sp, const char *unit)
{
	struct sbuf out = { NULL, 0, 0 }, v = { NULL, 0, 0 };
	struct jmember ev, el;
	size_t close, count, aclose, acount;
	cJSON *g = hooks_group(hs, sp), *arr;
	char *ind;
	int made = 0;

	sb_adds(&out, "");
	if (!js_find(cur->s, cur->len, obj, sp->event, &ev, &close, &count)) {
		ind = js_member_indent(cur->s, cur->len, obj, unit);
		arr = cJSON_CreateArray();
		cJSON_AddItemToArray(arr, g);
		g = NULL;
		sb_addf(&v, "\"%s\":%s", sp->event, ind != NULL ? " " : "");
		js_render_json(&v, arr, ind, unit);
		cJSON_Delete(arr);
		js_append(&out, cur->s, cur->len, obj, close, count, ind, v.s);
		made = 1;
	} else if (cur->s[ev.val] == '[' &&
	    !hooks_elements(cur->s, cur->len, ev.val, sp->event, &el, &aclose, &acount)) {
		ind = js_member_indent(cur->s, cur->len, ev.val, unit);
		js_render_json(&v, g, ind, unit);
		js_append(&out, cur->s, cur->len, ev.val, aclose, acount, ind, v.s);
	} else
		ind = NULL; /* there already, or not an array: left alone */
	if (out.len > 0)
		hooks_step(cur, &out);
	cJSON_Delete(g);
	free(out.s);
	free(v.s);
	free(ind);
	return (made);
}

/* The whole "hooks" object of a new file or member, rendered at ind. */
static void
hooks_render_all(struct sbuf *b, const struct hook_set *hs, const char *ind, const char *unit)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	size_t i;

	for (i = 0; i < nitems(hook_specs); i++) {
		if (hook_specs[i].stop && !hs->stop)
			continue;
		arr = cJSON_AddArrayToObject(o, hook_specs[i].event);
		cJSON_AddItemToArray(arr, hooks_group(hs, &hook_specs[i]));
	}
	js_render_json(b, o, ind, unit);
	cJSON_Delete(o);
}

/*
 * Put baton's hooks into the JSON text t.  1 changed (out), 0 already
 * so, -1 malformed.  eo->record: "file", "hooks", or "events:A,B" (the
 * event arrays it made); NULL when it only appended groups.
 */
int
hooks_install(const char *path, const struct text *t, const struct hook_set *hs,
    struct sbuf *out, struct edit_out *eo)
{
	static char rec[256];
	struct sbuf cur = { NULL, 0, 0 }, v = { NULL, 0, 0 };
	struct jmember hk;
	size_t top, close, count, i;
	char *unit, *ind;

	if (js_check(path, t) != 0)
		return (-1);
	if (t->len == 0) {
		sb_adds(out, "{\n  \"hooks\": ");
		hooks_render_all(out, hs, "  ", "  ");
		sb_adds(out, "\n}\n");
		eo->record = t->exists ? "hooks" : "file";
		return (1);
	}
	sb_add(&cur, t->s, t->len);
	top = js_ws(cur.s, cur.len, 0);
	unit = js_member_indent(cur.s, cur.len, top, NULL);
	if (!js_find(cur.s, cur.len, top, "hooks", &hk, &close, &count)) {
		ind = js_member_indent(cur.s, cur.len, top, unit != NULL ? unit : "  ");
		sb_addf(&v, "\"hooks\":%s", ind != NULL ? " " : "");
		hooks_render_all(&v, hs, ind, unit != NULL ? unit : "  ");
		js_append(out, cur.s, cur.len, top, close, count, ind, v.s);
		eo->record = "hooks";
		free(ind);
	} else if (cur.s[hk.val] != '{') {
		cli_err("%s: hooks is not an object; fix it, then run again", path);
		free(cur.s);
		free(unit);
		return (-1);
	} else {
		snprintf(rec, sizeof rec, "events:");
		for (i = 0; i < nitems(hook_specs); i++) {
			if (hook_specs[i].stop && !hs->stop)
				continue;
			js_find(cur.s, cur.len, top, "hooks", &hk, &close, &count);
			if (hooks_add_event(&cur, hk.val, hs, &hook_specs[i],
				unit != NULL ? unit : "  "))
				snprintf(rec + strlen(rec), sizeof rec - strlen(rec), "%s,",
				    hook_specs[i].event);
		}
		eo->record = strcmp(rec, "events:") != 0 ? rec : NULL;
		sb_add(out, cur.s, cur.len);
	}
	free(v.s);
	free(unit);
	if (out->len == t->len && memcmp(out->s, t->s, t->len) == 0) {
		free(cur.s);
		return (0);
	}
	free(cur.s);
	return (1);
}

/* Was event's array made by install (its record lists it)? */
static int
hooks_made(const char *rec, const char *event)
{
	char want[64];

	if (strcmp(rec, "file") == 0 || strcmp(rec, "hooks") == 0)
		return (1);
	if (strncmp(rec, "events:", 7) != 0)
		return (0);
	snprintf(want, sizeof want, ",%s,", event);
	return (
	    strstr(rec + 6, want) != NULL || strncmp(rec + 7, want + 1, strlen(want) - 1) == 0);
}

/* Take baton's group of one event out of cur; 1 when it was there. */
static int
hooks_remove_event(struct sbuf *cur, size_t obj, const char *event, const char *rec)
{
	struct sbuf out = { NULL, 0, 0 };
	struct jmember ev, el;
	size_t close, count, aclose, acount;

	if (!js_find(cur->s, cur->len, obj, event, &ev, &close, &count) ||
	    cur->s[ev.val] != '[' ||
	    !hooks_elements(cur->s, cur->len, ev.val, event, &el, &aclose, &acount))
		return (0);
	sb_adds(&out, "");
	if (acount == 1 && hooks_made(rec, event))
		js_remove_member(&out, cur->s, cur->len, obj, close, &ev, count);
	else
		js_remove_member(&out, cur->s, cur->len, ev.val, aclose, &el, acount);
	hooks_step(cur, &out);
	return (1);
}

/*
 * Take baton's hooks out of the JSON text t, with what install made
 * (rec: its record, "" when lost).  1 changed, 0 not there, -1 malformed.
 */
int
hooks_uninstall(const char *path, const struct text *t, const char *rec, struct sbuf *out,
    struct edit_out *eo)
{
	struct sbuf cur = { NULL, 0, 0 }, tmp = { NULL, 0, 0 };
	struct jmember hk, m;
	size_t top, close, count, hclose, hcount, i;
	int changed = 0;

	if (t->len == 0)
		return (0);
	if (js_check(path, t) != 0)
		return (-1);
	sb_add(&cur, t->s, t->len);
	top = js_ws(cur.s, cur.len, 0);
	for (i = 0; i < nitems(hook_specs); i++) {
		if (!js_find(cur.s, cur.len, top, "hooks", &hk, &close, &count) ||
		    cur.s[hk.val] != '{')
			break;
		changed |= hooks_remove_event(&cur, hk.val, hook_specs[i].event, rec);
	}
	if (changed && js_find(cur.s, cur.len, top, "hooks", &hk, &close, &count) &&
	    (strcmp(rec, "hooks") == 0 || strcmp(rec, "file") == 0)) {
		js_find(cur.s, cur.len, hk.val, NULL, &m, &hclose, &hcount);
		if (hcount == 0) {
			sb_adds(&tmp, "");
			js_remove_member(&tmp, cur.s, cur.len, top, close, &hk, count);
			hooks_step(&cur, &tmp);
		}
	}
	if (changed && strcmp(rec, "file") == 0) {
		top = js_ws(cur.s, cur.len, 0);
		js_find(cur.s, cur.len, top, NULL, &m, &close, &count);
		eo->gone = count == 0 && js_ws(cur.s, cur.len, close + 1) == cur.len;
	}
	sb_add(out, cur.s, cur.len);
	free(cur.s);
	return (changed);
}

/* The events baton's hooks are installed for in a JSON file, into sb; how many. */
size_t
hooks_installed(const char *path, struct sbuf *sb)
{
	struct text t;
	struct jmember hk, ev, el;
	size_t top, close, count, aclose, acount, i, n = 0;

	if (setup_read(path, &t) != 0 || !t.exists || t.len == 0 || js_check(path, &t) != 0) {
		free(t.s);
		return (0);
	}
	top = js_ws(t.s, t.len, 0);
	for (i = 0; i < nitems(hook_specs); i++) {
		if (js_find(t.s, t.len, top, "hooks", &hk, &close, &count) &&
		    t.s[hk.val] == '{' &&
		    js_find(t.s, t.len, hk.val, hook_specs[i].event, &ev, &close, &count) &&
		    t.s[ev.val] == '[' &&
		    hooks_elements(t.s, t.len, ev.val, hook_specs[i].event, &el, &aclose,
			&acount))
			sb_addf(sb, "%s%s", n++ > 0 ? " " : "", hook_specs[i].event);
	}
	free(t.s);
	return (n);
}
