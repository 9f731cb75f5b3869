/*
 * Marked blocks (lines from a begin marker to an end marker: baton's
 * table in Codex's config.toml, its instructions in CLAUDE.md and
 * AGENTS.md), and the exact-span editor of Codex's TOML: install appends
 * [mcp_servers.baton] between markers, or replaces a table of that name
 * written by hand; uninstall cuts exactly that back out.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define TOML_BEGIN "# baton:begin"
#define TOML_END "# baton:end"

/* Does the line at i start with prefix? */
static int
blk_line_is(const char *s, size_t len, size_t i, const char *prefix)
{
	size_t n = strlen(prefix);

	return (len - i >= n && strncmp(s + i, prefix, n) == 0);
}

/* Just past the line that starts at i (its newline included). */
static size_t
blk_eol(const char *s, size_t len, size_t i)
{
	const char *nl = memchr(s + i, '\n', len - i);

	return (nl != NULL ? (size_t)(nl - s) + 1 : len);
}

/*
 * Find the lines from begin to end: [*a, *b).  1 found, 0 not, -1 when
 * begin has no end (a message is said).
 */
int
blk_find(const char *path, const char *s, size_t len, const char *begin, const char *end,
    size_t *a, size_t *b)
{
	size_t i;

	for (i = 0; i < len; i = blk_eol(s, len, i))
		if (blk_line_is(s, len, i, begin))
			break;
	if (i >= len)
		return (0);
	*a = i;
	for (i = blk_eol(s, len, i); i < len; i = blk_eol(s, len, i))
		if (blk_line_is(s, len, i, end)) {
			*b = blk_eol(s, len, i);
			return (1);
		}
	cli_err("%s has a '%s' line without its '%s' line; add or remove it by hand", path,
	    begin, end);
	return (-1);
}

/* Append block (ending in a newline) after text; blk_cut undoes exactly this. */
void
blk_append(struct sbuf *out, const char *s, size_t len, const char *block)
{
	out->len = 0;
	sb_add(out, s, len);
	if (len > 0)
		sb_adds(out, "\n");
	sb_adds(out, block);
}

/*
 * Remove the block [a, b) and the newline before it that blk_append
 * added: at the end of the text, or after a blank line; a block between
 * two lines leaves them two lines.
 */
void
blk_cut(struct sbuf *out, const char *s, size_t len, size_t a, size_t b)
{
	if (a > 0 && s[a - 1] == '\n' && (b == len || (a > 1 && s[a - 2] == '\n')))
		a--;
	sb_splice(out, s, len, a, b, "");
}

/* A TOML basic string literal for n bytes of s. */
static void
toml_quote(struct sbuf *b, const char *s, size_t n)
{
	size_t i;

	sb_adds(b, "\"");
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			sb_addf(b, "\\%c", s[i]);
		else if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			sb_addf(b, "\\u%04x", (unsigned char)s[i]);
		else
			sb_add(b, s + i, 1);
	}
	sb_adds(b, "\"");
}

/* The [mcp_servers.baton] table install writes, between its markers. */
static void
toml_render(struct sbuf *b, const struct entry *e)
{
	const char *eq;
	size_t k;

	sb_adds(b,
	    TOML_BEGIN " (written by `baton install`; `baton uninstall` removes it)\n"
		       "[mcp_servers.baton]\n");
	if (e->url != NULL) { /* install --http */
		sb_adds(b, "url = ");
		toml_quote(b, e->url, strlen(e->url));
		sb_adds(b, "\nhttp_headers = { Authorization = ");
		toml_quote(b, e->bearer, strlen(e->bearer));
		sb_adds(b, " }\n" TOML_END "\n");
		return;
	}
	sb_adds(b, "command = ");
	toml_quote(b, e->command, strlen(e->command));
	sb_adds(b, "\nargs = [\"mcp\"]\n");
	if (e->nenv > 0) {
		sb_adds(b, "env = { ");
		for (k = 0; k < e->nenv; k++) {
			eq = strchr(e->env[k], '=');
			sb_addf(b, "%s%.*s = ", k > 0 ? ", " : "", (int)(eq - e->env[k]),
			    e->env[k]);
			toml_quote(b, eq + 1, strlen(eq + 1));
		}
		sb_adds(b, " }\n");
	}
	sb_adds(b, TOML_END "\n");
}

/* Skip a TOML key part (bare or quoted) at p; its text in [*k, *kn). */
static const char *
toml_key(const char *p, const char *end, const char **k, size_t *kn)
{
	char q;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end && (*p == '"' || *p == '\'')) {
		q = *p++;
		*k = p;
		while (p < end && *p != q)
			p++;
		*kn = (size_t)(p - *k);
		return (p < end ? p + 1 : p);
	}
	*k = p;
	while (p < end && *p != '.' && *p != ']' && *p != ' ' && *p != '\t')
		p++;
	*kn = (size_t)(p - *k);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return (p);
}

/* Is the header line [s, end) a table of mcp_servers.baton (or beneath it)? */
static int
toml_is_baton(const char *s, const char *end)
{
	const char *k;
	size_t kn;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s >= end || *s != '[' || (s + 1 < end && s[1] == '['))
		return (0);
	s = toml_key(s + 1, end, &k, &kn);
	if (kn != 11 || strncmp(k, "mcp_servers", 11) != 0 || s >= end || *s != '.')
		return (0);
	s = toml_key(s + 1, end, &k, &kn);
	return (kn == 5 && strncmp(k, "baton", 5) == 0 && s < end && (*s == ']' || *s == '.'));
}

/*
 * Track multi-line strings over the line [p, end): *ml is the open
 * delimiter ('"' or '\'') or 0.  Lines inside one are not headers.
 */
static void
toml_scan_line(const char *p, const char *end, char *ml)
{
	char q;

	while (p < end) {
		if (*ml != 0) {
			if (*ml == '"' && *p == '\\') {
				p += 2;
				continue;
			}
			if (end - p >= 3 && p[0] == *ml && p[1] == *ml && p[2] == *ml) {
				*ml = 0;
				p += 3;
				continue;
			}
			p++;
			continue;
		}
		if (*p == '#')
			return;
		if (*p == '"' || *p == '\'') {
			q = *p;
			if (end - p >= 3 && p[1] == q && p[2] == q) {
				*ml = q;
				p += 3;
				continue;
			}
			for (p++; p < end && *p != q; p++)
				if (q == '"' && *p == '\\')
					p++;
		}
		p++;
	}
}

/*
 * Find the first [mcp_servers.baton...] table not written by install:
 * [*a, *b) runs from its header to the next other table.  1 found.
 */
static int
toml_find_plain(const char *s, size_t len, size_t *a, size_t *b)
{
	size_t i, e;
	char ml = 0;
	int in = 0, hdr;

	for (i = 0; i < len; i = e) {
		e = blk_eol(s, len, i);
		hdr = ml == 0 && s[i + strspn(s + i, " \t")] == '[';
		if (hdr && in && !toml_is_baton(s + i, s + e)) {
			*b = i;
			return (1);
		}
		if (hdr && !in && toml_is_baton(s + i, s + e)) {
			*a = i;
			in = 1;
		}
		toml_scan_line(s + i, s + e, &ml);
	}
	*b = len;
	return (in);
}

/*
 * Put baton's table into the TOML text t: 1 changed (out), 0 already so,
 * -1 malformed.  A table the user wrote by hand is replaced.
 */
int
toml_install(const char *path, const struct text *t, const struct entry *e, struct sbuf *out)
{
	struct sbuf blk = { NULL, 0, 0 }, cur = { NULL, 0, 0 };
	size_t a, b;
	int r;

	toml_render(&blk, e);
	if ((r = blk_find(path, t->s, t->len, TOML_BEGIN, TOML_END, &a, &b)) == -1)
		goto done;
	if (r == 1) {
		if (b - a == blk.len && memcmp(t->s + a, blk.s, blk.len) == 0)
			r = 0;
		else {
			sb_splice(out, t->s, t->len, a, b, blk.s);
			r = 1;
		}
		goto done;
	}
	sb_add(&cur, t->s, t->len);
	while (toml_find_plain(cur.s, cur.len, &a, &b)) {
		cli_err("%s: replacing the [mcp_servers.baton] table written by hand", path);
		sb_splice(out, cur.s, cur.len, a, b, "");
		sb_splice(&cur, out->s, out->len, 0, 0, "");
	}
	blk_append(out, cur.s, cur.len, blk.s);
	r = 1;
done:
	free(blk.s);
	free(cur.s);
	return (r);
}

/* Take baton's table(s) out of the TOML text t: 1 changed, 0 not there, -1 malformed. */
int
toml_uninstall(const char *path, const struct text *t, struct sbuf *out)
{
	struct sbuf cur = { NULL, 0, 0 };
	size_t a, b;
	int r, changed = 0;

	sb_add(&cur, t->s, t->len);
	for (;;) {
		if ((r = blk_find(path, cur.s, cur.len, TOML_BEGIN, TOML_END, &a, &b)) == -1)
			break;
		if (r == 1)
			blk_cut(out, cur.s, cur.len, a, b);
		else if (toml_find_plain(cur.s, cur.len, &a, &b))
			sb_splice(out, cur.s, cur.len, a, b, "");
		else
			break;
		sb_splice(&cur, out->s, out->len, 0, 0, "");
		changed = 1;
	}
	if (r != -1) {
		sb_splice(out, cur.s, cur.len, 0, 0, "");
		r = changed;
	}
	free(cur.s);
	return (r);
}

/* Is baton in the TOML file at path? */
int
toml_installed(const char *path)
{
	struct text t;
	size_t a, b;
	int r;

	if (setup_read(path, &t) != 0)
		r = 0;
	else
		r = strstr(t.s, TOML_BEGIN) != NULL || toml_find_plain(t.s, t.len, &a, &b);
	free(t.s);
	return (r);
}
