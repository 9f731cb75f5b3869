/*
 * The exact-span editor of Claude Code's JSON files (.mcp.json,
 * ~/.claude.json): mcpServers.baton goes in, or out, as text on the
 * smallest span that holds it, laid out like the members around it, so
 * that everything else in a user's file stays byte-identical and
 * uninstall undoes install exactly (a JSON library would reorder and
 * reformat the rest).  cJSON only checks the file first.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* The first non-blank offset at or after i. */
size_t
js_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	return (i);
}

/* Just past the string whose opening quote is at i. */
static size_t
js_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return (i < len ? i + 1 : len);
}

/* Just past the value that starts at i (the text was validated by cJSON first). */
size_t
js_value(const char *s, size_t len, size_t i)
{
	int depth = 0;

	if (i < len && s[i] == '"')
		return (js_string(s, len, i));
	if (i < len && s[i] != '{' && s[i] != '[') {
		while (i < len && strchr(",}] \t\r\n", s[i]) == NULL)
			i++;
		return (i);
	}
	for (; i < len; i++) {
		if (s[i] == '"')
			i = js_string(s, len, i) - 1;
		else if (s[i] == '{' || s[i] == '[')
			depth++;
		else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
			return (i + 1);
	}
	return (len);
}

/*
 * Look for key (NULL: none) in the object whose '{' is at obj: 1 and *m when found.
 * *close is the offset of its '}', *count its number of members.
 */
int
js_find(const char *s, size_t len, size_t obj, const char *key, struct jmember *m,
    size_t *close, size_t *count)
{
	size_t i, k, v, e, prev = obj + 1, klen = key != NULL ? strlen(key) : 0;
	int found = 0;

	memset(m, 0, sizeof *m);
	*count = 0;
	i = js_ws(s, len, obj + 1);
	while (i < len && s[i] == '"') {
		k = i;
		i = js_ws(s, len, js_string(s, len, i));
		v = js_ws(s, len, i + 1);
		e = js_value(s, len, v);
		if (found == 1) {
			m->next_key = k;
			found = 2;
		}
		if (found == 0 && key != NULL && k + klen + 1 < len &&
		    strncmp(s + k + 1, key, klen) == 0 && s[k + klen + 1] == '"') {
			m->key = k;
			m->val = v;
			m->end = e;
			m->prev_end = prev;
			found = 1;
		}
		(*count)++;
		prev = e;
		i = js_ws(s, len, e);
		if (i < len && s[i] == ',')
			i = js_ws(s, len, i + 1);
	}
	*close = i;
	return (found != 0);
}

/* The blanks that start the line holding offset i, malloc'd. */
char *
js_line_indent(const char *s, size_t i)
{
	size_t a = i, b;

	while (a > 0 && s[a - 1] != '\n')
		a--;
	for (b = a; s[b] == ' ' || s[b] == '\t'; b++)
		;
	return (xstrndup(s + a, b - a));
}

/*
 * How members of the object at obj are indented: NULL when it is
 * written on one line.  An empty object gets its line's indent + unit.
 */
char *
js_member_indent(const char *s, size_t len, size_t obj, const char *unit)
{
	size_t first = js_ws(s, len, obj + 1);
	char *outer, *ind;

	if (s[first] == '}' || s[first] == ']') {
		outer = js_line_indent(s, obj);
		if (unit == NULL && first == obj + 1 && obj > 0) {
			free(outer);
			return (NULL);
		}
		xasprintf(&ind, "%s%s", outer, unit != NULL ? unit : "  ");
		free(outer);
		return (ind);
	}
	if (memchr(s + obj + 1, '\n', first - obj - 1) == NULL)
		return (NULL);
	return (js_line_indent(s, first));
}

/* A JSON string literal for s, appended to b. */
static void
js_quote(struct sbuf *b, const char *s, size_t n)
{
	char *tmp = xstrndup(s, n), *q;
	cJSON *j = cJSON_CreateString(tmp);

	if (j == NULL || (q = cJSON_PrintUnformatted(j)) == NULL)
		fatalx("out of memory");
	sb_adds(b, q);
	free(q);
	cJSON_Delete(j);
	free(tmp);
}

/*
 * j as JSON text laid out like the file around it: each member or
 * element on its own line at ind + unit, the closing bracket at ind,
 * ": " after a key (the layout of the files agents write and people
 * edit); on one line, compact, when ind is NULL.  Empty containers
 * stay "{}" and "[]".
 */
void
js_render_json(struct sbuf *b, const cJSON *j, const char *ind, const char *unit)
{
	const cJSON *c;
	char *in, *text;
	int obj = cJSON_IsObject(j);

	if (ind == NULL || (!obj && !cJSON_IsArray(j)) || j->child == NULL) {
		if ((text = cJSON_PrintUnformatted(j)) == NULL)
			fatalx("out of memory");
		sb_adds(b, text);
		free(text);
		return;
	}
	xasprintf(&in, "%s%s", ind, unit);
	sb_adds(b, obj ? "{" : "[");
	for (c = j->child; c != NULL; c = c->next) {
		sb_addf(b, "\n%s", in);
		if (obj) {
			js_quote(b, c->string, strlen(c->string));
			sb_adds(b, ": ");
		}
		js_render_json(b, c, in, unit);
		if (c->next != NULL)
			sb_adds(b, ",");
	}
	sb_addf(b, "\n%s%s", ind, obj ? "}" : "]");
	free(in);
}

/* The value of the baton entry, laid out like the file: ind is the member's indent, NULL for one line. */
static void
js_render(struct sbuf *b, const struct entry *e, const char *ind, const char *unit)
{
	cJSON *j = cJSON_CreateObject(), *env;
	const char *eq;
	char *name;
	size_t k;

	if (e->url != NULL) { /* install --http: the server's URL and its token */
		cJSON_AddStringToObject(j, "type", "http");
		cJSON_AddStringToObject(j, "url", e->url);
		cJSON_AddStringToObject(cJSON_AddObjectToObject(j, "headers"), "Authorization",
		    e->bearer);
		js_render_json(b, j, ind, unit);
		cJSON_Delete(j);
		return;
	}
	cJSON_AddStringToObject(j, "type", "stdio");
	cJSON_AddStringToObject(j, "command", e->command);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "args"), cJSON_CreateString("mcp"));
	if (e->nenv > 0) {
		env = cJSON_AddObjectToObject(j, "env");
		for (k = 0; k < e->nenv; k++) {
			eq = strchr(e->env[k], '=');
			name = xstrndup(e->env[k], (size_t)(eq - e->env[k]));
			cJSON_AddStringToObject(env, name, eq + 1);
			free(name);
		}
	}
	js_render_json(b, j, ind, unit);
	cJSON_Delete(j);
}

/* Parse text as JSON and check that it is an object; 0, or a message said and -1. */
int
js_check(const char *path, const struct text *t)
{
	cJSON *j;
	int ok;

	if (t->len == 0)
		return (0);
	j = cJSON_ParseWithLength(t->s, t->len);
	ok = cJSON_IsObject(j);
	cJSON_Delete(j);
	if (!ok) {
		cli_err("%s is not a JSON object; fix it or move it away, then run again",
		    path);
		return (-1);
	}
	return (0);
}

/* The indent unit of the file: the indent of its first top-level member, or NULL. */
static char *
js_unit(const char *s, size_t len, size_t top)
{
	return (js_member_indent(s, len, top, NULL));
}

/*
 * Append text (a member "key": value, or an array element, laid out for
 * indent ind; NULL: one line) to the container at obj, whose closing
 * bracket is at close and which holds count items, in its layout.
 */
void
js_append(struct sbuf *out, const char *s, size_t len, size_t obj, size_t close, size_t count,
    const char *ind, const char *text)
{
	struct sbuf ins = { NULL, 0, 0 };
	size_t last = close;
	char *outer;

	if (count > 0)
		sb_addf(&ins, ",%s%s", ind != NULL ? "\n" : "", ind != NULL ? ind : "");
	else if (ind != NULL)
		sb_addf(&ins, "\n%s", ind);
	sb_adds(&ins, text);
	if (count == 0) {
		outer = js_line_indent(s, obj);
		if (ind != NULL)
			sb_addf(&ins, "\n%s", outer);
		free(outer);
		sb_splice(out, s, len, obj + 1, close, ins.s);
	} else {
		/* after the last value: uninstall takes exactly this back out */
		while (last > obj && strchr(" \t\r\n", s[last - 1]) != NULL)
			last--;
		sb_splice(out, s, len, last, last, ins.s);
	}
	free(ins.s);
}

/* Add member "key": value at the end of the object at obj, in its layout. */
static void
js_add_member(struct sbuf *out, const char *s, size_t len, size_t obj, const char *key,
    const struct entry *e, int nested, const char *unit)
{
	struct jmember m;
	struct sbuf ins = { NULL, 0, 0 };
	size_t close, count;
	char *ind;

	js_find(s, len, obj, NULL, &m, &close, &count);
	ind = js_member_indent(s, len, obj, unit);
	sb_addf(&ins, "\"%s\":%s", key, ind != NULL ? " " : "");
	if (nested) {
		/* {"baton": V} laid out one level deeper */
		char *ind2 = NULL;

		if (ind != NULL)
			xasprintf(&ind2, "%s%s", ind, unit);
		sb_addf(&ins, "{%s%s\"baton\":%s", ind2 != NULL ? "\n" : "",
		    ind2 != NULL ? ind2 : "", ind2 != NULL ? " " : "");
		js_render(&ins, e, ind2, unit);
		sb_addf(&ins, "%s%s}", ind != NULL ? "\n" : "", ind != NULL ? ind : "");
		free(ind2);
	} else
		js_render(&ins, e, ind, unit);
	js_append(out, s, len, obj, close, count, ind, ins.s);
	free(ins.s);
	free(ind);
}

/*
 * Put mcpServers.baton = entry into the JSON text t.  Returns 1 changed
 * (out holds the new text), 0 already so, -1 on a malformed file.
 */
int
js_install(const char *path, const struct text *t, const struct entry *e, struct sbuf *out,
    struct edit_out *eo)
{
	struct jmember srv, bat;
	struct sbuf v = { NULL, 0, 0 };
	size_t top, close, count, sclose;
	char *unit, *ind;
	int r = 1;

	if (js_check(path, t) != 0)
		return (-1);
	if (t->len == 0) {
		sb_adds(out, "{\n  \"mcpServers\": {\n    \"baton\": ");
		js_render(out, e, "    ", "  ");
		sb_adds(out, "\n  }\n}\n");
		eo->record = t->exists ? "mcpServers" : "file";
		return (1);
	}
	top = js_ws(t->s, t->len, 0);
	unit = js_unit(t->s, t->len, top);
	if (!js_find(t->s, t->len, top, "mcpServers", &srv, &close, &count)) {
		js_add_member(out, t->s, t->len, top, "mcpServers", e, 1,
		    unit != NULL ? unit : "  ");
		eo->record = "mcpServers";
	} else if (t->s[srv.val] != '{') {
		cli_err("%s: mcpServers is not an object; fix it, then run again", path);
		r = -1;
	} else if (js_find(t->s, t->len, srv.val, "baton", &bat, &sclose, &count)) {
		ind = js_member_indent(t->s, t->len, srv.val, unit != NULL ? unit : "  ");
		js_render(&v, e, ind, unit != NULL ? unit : "  ");
		free(ind);
		if (bat.end - bat.val == v.len && memcmp(t->s + bat.val, v.s, v.len) == 0)
			r = 0;
		else
			sb_splice(out, t->s, t->len, bat.val, bat.end, v.s);
	} else {
		js_add_member(out, t->s, t->len, srv.val, "baton", e, 0,
		    unit != NULL ? unit : "  ");
		eo->record = "entry";
	}
	free(v.s);
	free(unit);
	return (r);
}

/* Remove member m from the object at obj (close is its '}'). */
void
js_remove_member(struct sbuf *out, const char *s, size_t len, size_t obj, size_t close,
    const struct jmember *m, size_t count)
{
	if (count == 1)
		sb_splice(out, s, len, obj + 1, close, "");
	else if (m->next_key == 0)
		sb_splice(out, s, len, m->prev_end, m->end, "");
	else
		sb_splice(out, s, len, m->key, m->next_key, "");
}

/*
 * Take mcpServers.baton out of the JSON text t, with what install
 * created for it (rec: the record, "" when lost): mcpServers when
 * nothing else is in it, the file when nothing else is left.  1 changed,
 * 0 not there, -1 malformed.
 */
int
js_uninstall(const char *path, const struct text *t, const char *rec, struct sbuf *out,
    struct edit_out *eo)
{
	struct jmember srv, bat, m2;
	size_t top, close, count, sclose, scount;
	struct sbuf tmp = { NULL, 0, 0 };

	if (t->len == 0)
		return (0);
	if (js_check(path, t) != 0)
		return (-1);
	top = js_ws(t->s, t->len, 0);
	if (!js_find(t->s, t->len, top, "mcpServers", &srv, &close, &count) ||
	    t->s[srv.val] != '{' ||
	    !js_find(t->s, t->len, srv.val, "baton", &bat, &sclose, &scount))
		return (0);
	if (scount > 1 || strcmp(rec, "entry") == 0) {
		js_remove_member(out, t->s, t->len, srv.val, sclose, &bat, scount);
		return (1);
	}
	js_remove_member(&tmp, t->s, t->len, top, close, &srv, count);
	sb_splice(out, tmp.s, tmp.len, 0, 0, "");
	free(tmp.s);
	if (strcmp(rec, "mcpServers") == 0)
		return (1);
	top = js_ws(out->s, out->len, 0);
	js_find(out->s, out->len, top, NULL, &m2, &close, &count);
	eo->gone = count == 0 && js_ws(out->s, out->len, close + 1) == out->len;
	return (1);
}

/* The command of mcpServers.baton in a JSON file, malloc'd; NULL when absent. */
char *
js_installed(const char *path)
{
	struct text t;
	cJSON *j, *cmd;
	char *r = NULL;

	if (setup_read(path, &t) != 0 || !t.exists) {
		free(t.s);
		return (NULL);
	}
	j = cJSON_ParseWithLength(t.s, t.len);
	cmd = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "mcpServers"),
		"baton"),
	    "command");
	if (cJSON_IsString(cmd))
		r = xstrdup(cmd->valuestring);
	cJSON_Delete(j);
	free(t.s);
	return (r);
}
