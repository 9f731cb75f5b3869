/*
 * Agent set-up: `baton install` / `uninstall` put baton's MCP server
 * entry into Claude Code's and Codex's configuration; `baton init` /
 * `enable` / `disable` keep the coordination instructions in CLAUDE.md
 * and AGENTS.md; `baton service` writes systemd user units for socket
 * activation.
 *
 * Every edit is textual, on the smallest span that holds baton's entry,
 * so that everything else in a user's file stays byte-identical and
 * uninstall undoes install exactly (a JSON library would reorder and
 * reformat the rest).  Every write goes to a temporary file in the same
 * directory, is fsync'd and renamed over the original, after the
 * original was copied to STATE/backup/.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define SETUP_FILE_MAX (16 * 1024 * 1024) /* larger configs are refused, not read */
#define SETUP_ENV_MAX 32

#define MD_BEGIN "<!-- baton:begin -->"
#define MD_END "<!-- baton:end -->"
#define TOML_BEGIN "# baton:begin"
#define TOML_END "# baton:end"
#define UNIT_MARK "# Written by `baton service install`"

extern char **environ;

/* A growing byte string. */
struct sbuf {
	char *s;
	size_t len, size;
};

/* A file's contents; exists is 0 for a missing file (then len is 0). */
struct text {
	char *s;
	size_t len;
	int exists;
	mode_t mode;
};

/*
 * What an edit decided besides the new text: remove the file (nothing
 * else was in it), and for install what it created, recorded in
 * STATE/installed/ so that uninstall takes out that much and no more.
 */
struct edit_out {
	int gone;
	const char *record; /* "file", "mcpServers", "entry" or NULL */
};

/* What the MCP server entry says: the command and the environment to pass on. */
struct entry {
	char *command;
	const char *env[SETUP_ENV_MAX]; /* "NAME=value", pointing into environ */
	size_t nenv;
};

/* Which agents and scope a command applies to. */
struct targets {
	int claude, codex;
	const char *scope; /* "project", "user" or NULL for the command's default */
};

/* Append n bytes. */
static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->size) {
		b->size = (b->len + n + 1) * 2;
		b->s = xreallocarray(b->s, 1, b->size);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Append a C string. */
static void
sb_adds(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Append formatted text. */
static void printflike(2, 3)
sb_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	sb_adds(b, s);
	free(s);
}

/* out = s with [a, b) replaced by ins. */
static void
sb_splice(struct sbuf *out, const char *s, size_t len, size_t a, size_t b, const char *ins)
{
	out->len = 0;
	sb_add(out, s, a);
	sb_adds(out, ins);
	sb_add(out, s + b, len - b);
}

/* Flush stdout; a failed write is an error too. */
static int
setup_flush(int status)
{
	if (fflush(stdout) != 0 && status == 0) {
		cli_err("cannot write the output: %s", strerror(errno));
		return (EXIT_SOFTWARE);
	}
	return (status);
}

/* The user's home directory: $HOME, else the passwd entry. */
static const char *
setup_home(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home != NULL && *home == '/')
		return (home);
	if ((pw = getpwuid(getuid())) != NULL)
		return (pw->pw_dir);
	return ("/");
}

/* The exit status for a failed file operation. */
static int
setup_errno_status(int e)
{
	return (e == EACCES || e == EPERM || e == EROFS ? EXIT_NOPERM : EXIT_SOFTWARE);
}

/* Read a whole file into t; a missing file is empty with exists 0.  0, or an exit status. */
static int
setup_read(const char *path, struct text *t)
{
	struct stat sb;
	ssize_t n;
	int fd;

	memset(t, 0, sizeof *t);
	t->s = xstrdup("");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return (0);
		cli_err("cannot read %s: %s", path, strerror(errno));
		return (setup_errno_status(errno));
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) || sb.st_size > SETUP_FILE_MAX) {
		cli_err("%s is not a regular file of at most %d bytes", path, SETUP_FILE_MAX);
		close(fd);
		return (EXIT_DATAERR);
	}
	t->exists = 1;
	t->mode = sb.st_mode & 07777;
	free(t->s);
	t->s = xmalloc((size_t)sb.st_size + 1);
	while (t->len < (size_t)sb.st_size &&
	    ((n = read(fd, t->s + t->len, (size_t)sb.st_size - t->len)) > 0 ||
	    (n == -1 && errno == EINTR)))
		if (n > 0)
			t->len += (size_t)n;
	close(fd);
	t->s[t->len] = '\0';
	if (memchr(t->s, '\0', t->len) != NULL) {
		cli_err("%s contains a NUL byte; not a text file", path);
		return (EXIT_DATAERR);
	}
	return (0);
}

/* mkdir -p dir; the directories it creates get mode. */
static int
setup_mkdirs(const char *dir, mode_t mode)
{
	char *p, *s = xstrdup(dir), c;
	int r = 0;

	for (p = s + 1; r == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(s, mode) == -1 && errno != EEXIST) {
			cli_err("cannot create %s: %s", s, strerror(errno));
			r = setup_errno_status(errno);
		}
		if ((*p = c) == '\0')
			break;
	}
	free(s);
	return (r);
}

/* Write len bytes to a new file next to path, fsync it and rename it over path. */
static int
setup_write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	char *tmp, *dir, *slash;
	ssize_t n;
	size_t off = 0;
	int fd, dfd, e;

	xasprintf(&tmp, "%s.baton-XXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		e = errno;
		cli_err("cannot create a temporary file next to %s: %s", path, strerror(e));
		free(tmp);
		return (setup_errno_status(e));
	}
	while (off < len && ((n = write(fd, data + off, len - off)) > 0 ||
	    (n == -1 && errno == EINTR)))
		if (n > 0)
			off += (size_t)n;
	if (off < len || fchmod(fd, mode) == -1 || fsync(fd) == -1 || close(fd) == -1 ||
	    rename(tmp, path) == -1) {
		e = errno;
		cli_err("cannot write %s: %s", path, strerror(e));
		unlink(tmp);
		free(tmp);
		return (setup_errno_status(e));
	}
	free(tmp);
	/* the rename is durable once the directory is */
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	free(dir);
	return (0);
}

/*
 * STATE/sub/PATH with every / of PATH as %, its directory created; NULL
 * with a message said.  One flat directory per purpose, like vim's
 * backupdir with //.
 */
static char *
setup_state_file(const char *sub, const char *path)
{
	char state[PATH_MAX], *dir, *file, *cause, *p;

	if (path_state_dir(state, sizeof state, &cause) != 0) {
		cli_err("%s", cause);
		free(cause);
		return (NULL);
	}
	xasprintf(&dir, "%s/%s", state, sub);
	if (setup_mkdirs(dir, 0700) != 0) {
		free(dir);
		return (NULL);
	}
	xasprintf(&file, "%s/%s", dir, path);
	for (p = file + strlen(dir) + 1; *p != '\0'; p++)
		if (*p == '/')
			*p = '%';
	free(dir);
	return (file);
}

/* Copy what path held to STATE/backup/; the backup's path, or NULL. */
static char *
setup_backup(const char *path, const struct text *old)
{
	char *file;

	if ((file = setup_state_file("backup", path)) == NULL)
		return (NULL);
	if (setup_write_file(file, old->s, old->len, 0600) != 0) {
		free(file);
		return (NULL);
	}
	return (file);
}

/*
 * Replace path with len bytes of data (remove it when data is NULL),
 * after a backup of what it held.  A symlink is followed, so a dotfile
 * kept elsewhere stays a link.
 */
static int
setup_commit(const char *path, const struct text *old, const char *data, size_t len,
    mode_t mode)
{
	char real[PATH_MAX], *bak = NULL;
	const char *target = path;

	if (old->exists && realpath(path, real) != NULL)
		target = real;
	if (old->exists && (bak = setup_backup(target, old)) == NULL)
		return (EXIT_SOFTWARE);
	free(bak);
	if (data == NULL) {
		if (unlink(target) == -1 && errno != ENOENT) {
			cli_err("cannot remove %s: %s", target, strerror(errno));
			return (setup_errno_status(errno));
		}
		return (0);
	}
	return (setup_write_file(target, data, len, old->exists ? old->mode : mode));
}

/* The absolute path of the running baton. */
static char *
setup_self(void)
{
	char buf[PATH_MAX];
	ssize_t n;

	if ((n = readlink("/proc/self/exe", buf, sizeof buf - 1)) <= 0)
		return (xstrdup("baton"));
	buf[n] = '\0';
	return (xstrdup(buf));
}

/*
 * The entry to write: this baton, `mcp`, and the BATON_* overrides set
 * now (DESIGN §2: agents filter the environment of MCP servers).  Names
 * of one session or one lock (agent, role, project, fence, token) are
 * left out: every session would share them.
 */
static void
setup_entry(struct entry *e, const struct client_opts *o)
{
	static const char *const skip[] = { "BATON_AGENT=", "BATON_ROLE=", "BATON_PROJECT=",
	    "BATON_FENCE=", "BATON_LOCK_TOKEN=" };
	static char sockvar[PATH_MAX + 16];
	char **ep;
	size_t i;
	int have_sock = 0;

	memset(e, 0, sizeof *e);
	e->command = setup_self();
	for (ep = environ; *ep != NULL && e->nenv < SETUP_ENV_MAX - 1; ep++) {
		if (strncmp(*ep, "BATON_", 6) != 0 || strchr(*ep, '=') == NULL ||
		    strchr(*ep, '=')[1] == '\0')
			continue;
		for (i = 0; i < nitems(skip); i++)
			if (strncmp(*ep, skip[i], strlen(skip[i])) == 0)
				break;
		if (i < nitems(skip))
			continue;
		if (strncmp(*ep, "BATON_SOCKET=", 13) == 0) {
			if (o->socket != NULL)
				continue; /* -S wins, below */
			have_sock = 1;
		}
		e->env[e->nenv++] = *ep;
	}
	if (o->socket != NULL && !have_sock) {
		snprintf(sockvar, sizeof sockvar, "BATON_SOCKET=%s", o->socket);
		e->env[e->nenv++] = sockvar;
	}
}

/* --- JSON: Claude Code's .mcp.json and ~/.claude.json ----------------- */

/* A member of a JSON object, as byte offsets into the text. */
struct jmember {
	size_t key;      /* the key's opening quote */
	size_t val, end; /* the value is [val, end) */
	size_t prev_end; /* end of the previous member's value, or just after '{' */
	size_t next_key; /* the next member's key, or 0 when this one is last */
};

/* The first non-blank offset at or after i. */
static size_t
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
static size_t
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
static int
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
		if (found == 0 && key != NULL && k + klen + 1 < len && strncmp(s + k + 1, key, klen) == 0 &&
		    s[k + klen + 1] == '"') {
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
static char *
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
static char *
js_member_indent(const char *s, size_t len, size_t obj, const char *unit)
{
	size_t first = js_ws(s, len, obj + 1);
	char *outer, *ind;

	if (s[first] == '}') {
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

/* The value of the baton entry, laid out like the file: ind is the member's indent, NULL for one line. */
static void
js_render(struct sbuf *b, const struct entry *e, const char *ind, const char *unit)
{
	const char *nl = ind != NULL ? "\n" : "", *sp = ind != NULL ? " " : "";
	char *i1, *i2;
	const char *eq;
	size_t k;

	if (ind == NULL)
		ind = unit = "";
	xasprintf(&i1, "%s%s", ind, unit);
	xasprintf(&i2, "%s%s%s", ind, unit, unit);
	sb_addf(b, "{%s%s\"type\":%s\"stdio\",%s%s\"command\":%s", nl, i1, sp, nl, i1, sp);
	js_quote(b, e->command, strlen(e->command));
	sb_addf(b, ",%s%s\"args\":%s[%s%s\"mcp\"%s%s]", nl, i1, sp, nl, i2, nl, i1);
	if (e->nenv > 0) {
		sb_addf(b, ",%s%s\"env\":%s{", nl, i1, sp);
		for (k = 0; k < e->nenv; k++) {
			eq = strchr(e->env[k], '=');
			sb_addf(b, "%s%s%s", k > 0 ? "," : "", nl, i2);
			js_quote(b, e->env[k], (size_t)(eq - e->env[k]));
			sb_addf(b, ":%s", sp);
			js_quote(b, eq + 1, strlen(eq + 1));
		}
		sb_addf(b, "%s%s}", nl, i1);
	}
	sb_addf(b, "%s%s}", nl, ind);
	free(i1);
	free(i2);
}

/* Parse text as JSON and check that it is an object; 0, or a message said and -1. */
static int
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
		cli_err("%s is not a JSON object; fix it or move it away, then run again", path);
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

/* Add member "key": value at the end of the object at obj, in its layout. */
static void
js_add_member(struct sbuf *out, const char *s, size_t len, size_t obj, const char *key,
    const struct entry *e, int nested, const char *unit)
{
	struct jmember m;
	struct sbuf ins = { NULL, 0, 0 };
	size_t close, count;
	char *ind, *outer;

	js_find(s, len, obj, NULL, &m, &close, &count);
	ind = js_member_indent(s, len, obj, unit);
	if (count > 0)
		sb_addf(&ins, ",%s%s", ind != NULL ? "\n" : "", ind != NULL ? ind : "");
	else if (ind != NULL)
		sb_addf(&ins, "\n%s", ind);
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
	if (count == 0) {
		outer = js_line_indent(s, obj);
		if (ind != NULL)
			sb_addf(&ins, "\n%s", outer);
		free(outer);
		sb_splice(out, s, len, obj + 1, close, ins.s);
	} else {
		/* after the last value: uninstall takes exactly this back out */
		size_t last = close;

		while (last > obj && strchr(" \t\r\n", s[last - 1]) != NULL)
			last--;
		sb_splice(out, s, len, last, last, ins.s);
	}
	free(ins.s);
	free(ind);
}

/*
 * Put mcpServers.baton = entry into the JSON text t.  Returns 1 changed
 * (out holds the new text), 0 already so, -1 on a malformed file.
 */
static int
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
static void
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
static int
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
static char *
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
	cmd = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "mcpServers"), "baton"), "command");
	if (cJSON_IsString(cmd))
		r = xstrdup(cmd->valuestring);
	cJSON_Delete(j);
	free(t.s);
	return (r);
}

/* --- Marked blocks: the Codex table, CLAUDE.md, AGENTS.md ------------- */

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
static int
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
	cli_err("%s has a '%s' line without its '%s' line; add or remove it by hand",
	    path, begin, end);
	return (-1);
}

/* Append block (ending in a newline) after text; blk_cut undoes exactly this. */
static void
blk_append(struct sbuf *out, const char *s, size_t len, const char *block)
{
	out->len = 0;
	sb_add(out, s, len);
	if (len > 0)
		sb_adds(out, "\n");
	sb_adds(out, block);
}

/* Remove the block [a, b) and the newline before it that blk_append added. */
static void
blk_cut(struct sbuf *out, const char *s, size_t len, size_t a, size_t b)
{
	if (a > 0 && s[a - 1] == '\n')
		a--;
	sb_splice(out, s, len, a, b, "");
}

/* --- TOML: Codex's config.toml ------------------------------------------ */

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

	sb_adds(b, TOML_BEGIN " (written by `baton install`; `baton uninstall` removes it)\n"
	    "[mcp_servers.baton]\ncommand = ");
	toml_quote(b, e->command, strlen(e->command));
	sb_adds(b, "\nargs = [\"mcp\"]\n");
	if (e->nenv > 0) {
		sb_adds(b, "env = { ");
		for (k = 0; k < e->nenv; k++) {
			eq = strchr(e->env[k], '=');
			sb_addf(b, "%s%.*s = ", k > 0 ? ", " : "", (int)(eq - e->env[k]), e->env[k]);
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
static int
toml_install(const char *path, const struct text *t, const struct entry *e,
    struct sbuf *out)
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
static int
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
static int
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

/* --- install / uninstall ------------------------------------------------ */

/*
 * A configuration path as its program finds it: $var/file when var is
 * set to an absolute path, else ~/home_file.
 */
static char *
setup_config_path(const char *var, const char *file, const char *home_file)
{
	const char *dir = getenv(var);
	char *p;

	if (dir != NULL && *dir == '/')
		xasprintf(&p, "%s/%s", dir, file);
	else
		xasprintf(&p, "%s/%s", setup_home(), home_file);
	return (p);
}

/* ~/.claude.json, or $CLAUDE_CONFIG_DIR/.claude.json as Claude Code reads it. */
static char *
setup_claude_user(void)
{
	return (setup_config_path("CLAUDE_CONFIG_DIR", ".claude.json", ".claude.json"));
}

/* ~/.codex/config.toml, or $CODEX_HOME/config.toml. */
static char *
setup_codex_config(void)
{
	return (setup_config_path("CODEX_HOME", "config.toml", ".codex/config.toml"));
}

/* The project root: --project, or the default (git top-level, cwd...). */
static char *
setup_project(const struct client_opts *o)
{
	char buf[PATH_MAX];

	if (o->project == NULL)
		return (project_default());
	if (realpath(o->project, buf) == NULL) {
		cli_err("project directory %s: %s", o->project, strerror(errno));
		return (NULL);
	}
	return (xstrdup(buf));
}

/* The project's .mcp.json. */
static char *
setup_claude_project(const struct client_opts *o)
{
	char *root, *p;

	if ((root = setup_project(o)) == NULL)
		return (NULL);
	xasprintf(&p, "%s/.mcp.json", root);
	free(root);
	return (p);
}

/*
 * Apply an edit to the file at path: read it, run edit, write the result
 * atomically when it changed.  Says what happened on stdout.
 */
typedef int setup_editor(const char *, const struct text *, const void *, struct sbuf *,
    struct edit_out *);

static int
setup_edit(const char *what, const char *path, mode_t mode, int install, const void *arg,
    setup_editor *edit)
{
	struct text t;
	struct sbuf out = { NULL, 0, 0 };
	struct edit_out eo = { 0, NULL };
	char *dir, *slash, *rec;
	int r;

	if ((r = setup_read(path, &t)) != 0) {
		free(t.s);
		return (r);
	}
	sb_adds(&out, "");
	r = edit(path, &t, arg, &out, &eo);
	if (r == -1)
		r = EXIT_DATAERR;
	else if (r == 0) {
		printf("%s: %s %s\n", what, install ? "already up to date in" : "not in", path);
	} else {
		dir = xstrdup(path);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
			*slash = '\0';
		r = t.exists ? 0 : setup_mkdirs(dir, 0700);
		free(dir);
		if (r == 0)
			r = setup_commit(path, &t, eo.gone ? NULL : out.s, out.len, mode);
		if (r == 0 && (rec = setup_state_file("installed", path)) != NULL) {
			if (eo.record != NULL)
				setup_write_file(rec, eo.record, strlen(eo.record), 0600);
			else if (!install)
				unlink(rec);
			free(rec);
		}
		if (r == 0)
			printf("%s: %s %s%s\n", what, install ? "wrote" : "removed from", path,
			    eo.gone ? " (removed the file: nothing else was in it)" : "");
	}
	free(out.s);
	free(t.s);
	return (r);
}

/* setup_edit adapters. */
static int
edit_js_install(const char *path, const struct text *t, const void *e,
    struct sbuf *out, struct edit_out *eo)
{
	return (js_install(path, t, e, out, eo));
}

static int
edit_js_uninstall(const char *path, const struct text *t, const void *e,
    struct sbuf *out, struct edit_out *eo)
{
	char *rec = setup_state_file("installed", path);
	struct text r;
	int status;

	/* no record (lost state): take out what would leave no trace */
	if (rec == NULL || setup_read(rec, &r) != 0) {
		r.s = xstrdup("");
		r.len = 0;
	}
	status = js_uninstall(path, t, r.s, out, eo);
	free(r.s);
	free(rec);
	return (status);
}

static int
edit_toml_install(const char *path, const struct text *t, const void *e,
    struct sbuf *out, struct edit_out *eo)
{
	return (toml_install(path, t, e, out));
}

static int
edit_toml_uninstall(const char *path, const struct text *t, const void *e,
    struct sbuf *out, struct edit_out *eo)
{
	int r = toml_uninstall(path, t, out);

	eo->gone = r == 1 && out->len == 0;
	return (r);
}

/* Options of install and uninstall; the index of the first operand, or -1 with *status. */
static int
setup_targets(int argc, char **argv, struct targets *tg, int *status)
{
	static const struct option longopts[] = {
		{ "claude", no_argument, NULL, 'c' },
		{ "codex", no_argument, NULL, 'x' },
		{ "all", no_argument, NULL, 'a' },
		{ "scope", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(tg, 0, sizeof *tg);
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': tg->claude = 1; break;
		case 'x': tg->codex = 1; break;
		case 'a': tg->claude = tg->codex = 1; break;
		case 's':
			if (strcmp(optarg, "project") != 0 && strcmp(optarg, "user") != 0) {
				*status = cli_usage_err("%s: --scope is project or user", argv[0]);
				return (-1);
			}
			tg->scope = optarg;
			break;
		default:
			*status = cli_usage_err("%s: unknown option '%s'", argv[0],
			    argv[optind - 1]);
			return (-1);
		}
	}
	if (!tg->claude && !tg->codex)
		tg->claude = tg->codex = 1;
	return (optind);
}

/* `baton install` and `baton uninstall`. */
static int
setup_install(const struct client_opts *o, int argc, char **argv, int install)
{
	struct targets tg;
	struct entry e;
	char *path;
	int status = 0, r, i, proj, user;

	if ((i = setup_targets(argc, argv, &tg, &status)) == -1)
		return (status);
	if (i < argc)
		return (cli_usage_err("%s takes options only", argv[0]));
	/* install defaults to the project; uninstall to both scopes */
	proj = tg.scope == NULL || strcmp(tg.scope, "project") == 0;
	user = tg.scope != NULL ? strcmp(tg.scope, "user") == 0 : !install;
	setup_entry(&e, o);
	if (tg.claude && proj) {
		if ((path = setup_claude_project(o)) == NULL)
			status = EXIT_USAGE;
		else if ((r = setup_edit("claude (project)", path, 0644, install, &e,
		    install ? edit_js_install : edit_js_uninstall)) != 0)
			status = r;
		free(path);
	}
	if (tg.claude && user) {
		path = setup_claude_user();
		if ((r = setup_edit("claude (user)", path, 0600, install, &e,
		    install ? edit_js_install : edit_js_uninstall)) != 0)
			status = r;
		free(path);
	}
	if (tg.codex) {
		path = setup_codex_config();
		if ((r = setup_edit("codex", path, 0600, install, &e,
		    install ? edit_toml_install : edit_toml_uninstall)) != 0)
			status = r;
		free(path);
	}
	free(e.command);
	if (status == 0 && install)
		printf("check with: claude mcp list; codex mcp list\n");
	return (setup_flush(status));
}

/* `baton install [--claude] [--codex] [--all] [--scope project|user]`. */
int
cmd_install(const struct client_opts *o, int argc, char **argv)
{
	return (setup_install(o, argc, argv, 1));
}

/* `baton uninstall [--claude] [--codex] [--all] [--scope project|user]`. */
int
cmd_uninstall(const struct client_opts *o, int argc, char **argv)
{
	return (setup_install(o, argc, argv, 0));
}

/* --- init / enable / disable: CLAUDE.md and AGENTS.md ------------------ */

static const char *const setup_md_files[] = { "CLAUDE.md", "AGENTS.md" };

/* What a markdown edit does. */
enum md_action { MD_INIT, MD_FORCE, MD_DISABLE, MD_ENABLE };

struct md_edit {
	enum md_action action;
	const char *block;  /* the text to write, markers included */
	const char *saved;  /* STATE/disabled/... file for disable and enable */
};

/* Is operation name in the table this baton was built with? */
static int
setup_has_op(const char *name)
{
	return (op_find(name, strlen(name)) != NULL);
}

/*
 * The coordination instructions, between their markers.  They name only
 * tools that exist in this build: the text grows with the table.
 */
static void
setup_instructions(struct sbuf *b)
{
	sb_adds(b, MD_BEGIN "\n"
	    "## Working alongside other agents (baton)\n"
	    "\n"
	    "Other agents work in this repository at the same time. Coordinate through the\n"
	    "tools of the `baton` MCP server (from a shell: `baton call TOOL '{...}'`):\n"
	    "\n");
	if (setup_has_op("agent_join"))
		sb_adds(b, "- Start with `agent_join` and your role (planner, implementer, "
		    "reviewer); it says what to do next.\n");
	sb_adds(b, "- Before editing a file, reserve it: `lock_acquire` "
	    "`{\"name\": \"file:PATH\"}` (PATH from the repository root; `file:DIR/` "
	    "covers a directory). Keep the `token` it returns.\n"
	    "- Before a shared command (`npm install`, migrations, the test database), "
	    "lock it by name: `lock_acquire` `{\"name\": \"npm\"}`; in a shell, "
	    "`baton lock npm -- npm ci`.\n"
	    "- `acquired: false` means someone else holds it (see `holders`): call again "
	    "with `wait_seconds` (e.g. 30) to wait in line. Do not poll, and do not edit "
	    "anyway.\n");
	if (setup_has_op("task_claim") && setup_has_op("task_submit"))
		sb_adds(b, "- Take work with `task_claim` (it can wait for a task with "
		    "`wait_seconds`) and hand it in with `task_submit`.\n");
	if (setup_has_op("message_inbox"))
		sb_adds(b, "- To wait for messages, call `message_inbox` with `wait_seconds` "
		    "instead of polling.\n");
	sb_adds(b, "- Release with `lock_release` (`name`, `token`) as soon as you are done; "
	    "`lock_list` shows who works where.\n"
	    MD_END "\n");
}

/* The markdown editor for init, disable and enable. */
static int
edit_md(const char *path, const struct text *t, const void *arg, struct sbuf *out,
    struct edit_out *eo)
{
	const struct md_edit *m = arg;
	struct text saved;
	size_t a, b;
	int r;

	if ((r = blk_find(path, t->s, t->len, MD_BEGIN, MD_END, &a, &b)) == -1)
		return (-1);
	switch (m->action) {
	case MD_INIT:
	case MD_FORCE:
		if (r == 1) {
			if (m->action == MD_INIT || (b - a == strlen(m->block) &&
			    memcmp(t->s + a, m->block, b - a) == 0))
				return (0);
			sb_splice(out, t->s, t->len, a, b, m->block);
			return (1);
		}
		blk_append(out, t->s, t->len, m->block);
		return (1);
	case MD_DISABLE:
		if (r == 0)
			return (0);
		if (setup_write_file(m->saved, t->s + a, b - a, 0600) != 0)
			return (-1);
		blk_cut(out, t->s, t->len, a, b);
		eo->gone = out->len == 0;
		return (1);
	case MD_ENABLE:
		if (r == 1)
			return (0);
		if (setup_read(m->saved, &saved) != 0 || !saved.exists ||
		    blk_find(m->saved, saved.s, saved.len, MD_BEGIN, MD_END, &a, &b) != 1)
			blk_append(out, t->s, t->len, m->block);
		else
			blk_append(out, t->s, t->len, saved.s);
		free(saved.s);
		return (1);
	}
	return (-1);
}

/* Run one markdown action on CLAUDE.md and AGENTS.md of the project. */
static int
setup_md(const struct client_opts *o, enum md_action action)
{
	struct sbuf block = { NULL, 0, 0 };
	struct md_edit m;
	char *root, *path;
	size_t i;
	int r, status = 0;

	if ((root = setup_project(o)) == NULL)
		return (EXIT_USAGE);
	setup_instructions(&block);
	for (i = 0; i < nitems(setup_md_files); i++) {
		xasprintf(&path, "%s/%s", root, setup_md_files[i]);
		memset(&m, 0, sizeof m);
		m.action = action;
		m.block = block.s;
		if (action == MD_DISABLE || action == MD_ENABLE)
			m.saved = setup_state_file("disabled", path);
		if ((action == MD_DISABLE || action == MD_ENABLE) && m.saved == NULL)
			r = EXIT_SOFTWARE;
		else
			r = setup_edit("instructions", path, 0644,
			    action != MD_DISABLE, &m, edit_md);
		if (r == 0 && action == MD_ENABLE)
			unlink(m.saved);
		if (r != 0)
			status = r;
		free((char *)m.saved);
		free(path);
	}
	free(block.s);
	free(root);
	return (setup_flush(status));
}

/* Only --force (init) or nothing (enable, disable) after the command. */
static int
setup_md_args(int argc, char **argv, int *force)
{
	int i;

	*force = 0;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[0], "init") == 0 &&
		    (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0))
			*force = 1;
		else
			return (cli_usage_err("%s: unknown argument '%s'", argv[0], argv[i]));
	}
	return (0);
}

/* `baton init [--force]`: the instructions into CLAUDE.md and AGENTS.md. */
int
cmd_init(const struct client_opts *o, int argc, char **argv)
{
	int force, r;

	if ((r = setup_md_args(argc, argv, &force)) != 0)
		return (r);
	return (setup_md(o, force ? MD_FORCE : MD_INIT));
}

/* `baton disable`: take the instructions out, keeping them for enable. */
int
cmd_disable(const struct client_opts *o, int argc, char **argv)
{
	int force, r;

	if ((r = setup_md_args(argc, argv, &force)) != 0)
		return (r);
	return (setup_md(o, MD_DISABLE));
}

/* `baton enable`: put back what disable took out (or fresh instructions). */
int
cmd_enable(const struct client_opts *o, int argc, char **argv)
{
	int force, r;

	if ((r = setup_md_args(argc, argv, &force)) != 0)
		return (r);
	return (setup_md(o, MD_ENABLE));
}

/* --- service: systemd user units with socket activation ---------------- */

/* ~/.config/systemd/user, or under $XDG_CONFIG_HOME as systemd reads it. */
static char *
setup_unit_dir(void)
{
	return (setup_config_path("XDG_CONFIG_HOME", "systemd/user", ".config/systemd/user"));
}

/* batond: next to this baton, else $BATON_BROKER, else on PATH. */
static char *
setup_batond(void)
{
	char *self = setup_self(), *slash, *p, *path, *dir, *save = NULL;
	const char *env;

	if ((slash = strrchr(self, '/')) != NULL) {
		*slash = '\0';
		xasprintf(&p, "%s/batond", self);
		if (access(p, X_OK) == 0) {
			free(self);
			return (p);
		}
		free(p);
	}
	free(self);
	if ((env = getenv("BATON_BROKER")) != NULL && *env == '/')
		return (xstrdup(env));
	path = xstrdup(getenv("PATH") != NULL ? getenv("PATH") : "/usr/bin:/bin");
	for (dir = strtok_r(path, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		xasprintf(&p, "%s/batond", dir);
		if (*dir == '/' && access(p, X_OK) == 0) {
			free(path);
			return (p);
		}
		free(p);
	}
	free(path);
	return (xstrdup("/usr/local/bin/batond"));
}

/* s for a unit file: % doubled; quoted (for ExecStart) with \ and " escaped. */
static void
setup_unit_quote(struct sbuf *b, const char *s, int quote)
{
	if (quote)
		sb_adds(b, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '%')
			sb_adds(b, "%%");
		else if (quote && (*s == '"' || *s == '\\'))
			sb_addf(b, "\\%c", *s);
		else
			sb_add(b, s, 1);
	}
	if (quote)
		sb_adds(b, "\"");
}

/* The two units: baton.socket listens, baton.service runs batond on it. */
static void
setup_units(struct sbuf *sock, struct sbuf *svc, const char *path)
{
	const char *state = getenv("BATON_STATE_DIR");
	char *batond = setup_batond();

	sb_adds(sock, UNIT_MARK "; `baton service uninstall` removes it.\n"
	    "[Unit]\n"
	    "Description=baton coordination broker (socket)\n"
	    "Documentation=man:batond(8) man:baton(1)\n"
	    "\n"
	    "[Socket]\n"
	    "ListenStream=");
	setup_unit_quote(sock, path, 0);
	sb_adds(sock, "\n"
	    "SocketMode=0600\n"
	    "DirectoryMode=0700\n"
	    "RemoveOnStop=yes\n"
	    "\n"
	    "[Install]\n"
	    "WantedBy=sockets.target\n");

	sb_adds(svc, UNIT_MARK "; `baton service uninstall` removes it.\n"
	    "[Unit]\n"
	    "Description=baton coordination broker\n"
	    "Documentation=man:batond(8)\n"
	    "Requires=baton.socket\n"
	    "After=baton.socket\n"
	    "\n"
	    "[Service]\n"
	    "ExecStart=");
	setup_unit_quote(svc, batond, 1);
	sb_adds(svc, " -f -S ");
	setup_unit_quote(svc, path, 1);
	if (state != NULL && *state != '\0') {
		sb_adds(svc, " -D ");
		setup_unit_quote(svc, state, 1);
	}
	sb_adds(svc, "\n");
	free(batond);
}

/* Write (or, with data NULL, remove) one unit file that is ours. */
static int
setup_unit(const char *path, const struct sbuf *data)
{
	struct text t;
	int r;

	if ((r = setup_read(path, &t)) != 0)
		goto done;
	if (t.exists && strncmp(t.s, UNIT_MARK, strlen(UNIT_MARK)) != 0) {
		cli_err("%s was not written by baton; move it away first", path);
		r = EXIT_DATAERR;
	} else if (data == NULL ? !t.exists :
	    t.exists && t.len == data->len && memcmp(t.s, data->s, t.len) == 0)
		printf("%s: %s\n", path, data == NULL ? "not there" : "already up to date");
	else if ((r = setup_commit(path, &t, data != NULL ? data->s : NULL,
	    data != NULL ? data->len : 0, 0644)) == 0)
		printf("%s: %s\n", path, data == NULL ? "removed" : "written");
done:
	free(t.s);
	return (r);
}

/* `baton service install|uninstall`. */
int
cmd_service(const struct client_opts *o, int argc, char **argv)
{
	struct sbuf sock = { NULL, 0, 0 }, svc = { NULL, 0, 0 };
	char buf[PATH_MAX], *dir, *psock, *psvc, *cause;
	int install, r;

	if (argc != 2 || (strcmp(argv[1], "install") != 0 && strcmp(argv[1], "uninstall") != 0))
		return (cli_usage_err("service takes install or uninstall"));
	install = strcmp(argv[1], "install") == 0;
	if (o->socket != NULL)
		snprintf(buf, sizeof buf, "%s", o->socket);
	else if (path_socket(buf, sizeof buf, &cause) != 0) {
		cli_err("%s", cause);
		free(cause);
		return (EXIT_SOFTWARE);
	}
	if (buf[0] != '/')
		return (cli_usage_err("service needs an absolute socket path, not '%s'", buf));
	dir = setup_unit_dir();
	xasprintf(&psock, "%s/baton.socket", dir);
	xasprintf(&psvc, "%s/baton.service", dir);
	setup_units(&sock, &svc, buf);
	if (install && (r = setup_mkdirs(dir, 0755)) != 0)
		goto done;
	if ((r = setup_unit(psvc, install ? &svc : NULL)) != 0 ||
	    (r = setup_unit(psock, install ? &sock : NULL)) != 0)
		goto done;
	if (install)
		printf("Socket activation is set up for %s.  Turn it on with:\n"
		    "  systemctl --user daemon-reload\n"
		    "  systemctl --user enable --now baton.socket\n"
		    "(stop a broker that runs now first: baton status shows its pid).\n", buf);
	else
		printf("If it was on, turn it off with:\n"
		    "  systemctl --user disable --now baton.socket baton.service\n"
		    "  systemctl --user daemon-reload\n");
done:
	free(sock.s);
	free(svc.s);
	free(psock);
	free(psvc);
	free(dir);
	return (setup_flush(r));
}

/* --- status ------------------------------------------------------------- */

/* Where one JSON config has baton, for status. */
static void
setup_status_json(FILE *fp, const char *path, const char *scope, const char *self, int *n)
{
	char *cmd;

	if ((cmd = js_installed(path)) == NULL)
		return;
	fprintf(fp, "%s%s (%s)", (*n)++ > 0 ? ", " : "", path, scope);
	if (strcmp(cmd, self) != 0)
		fprintf(fp, " runs %s", cmd);
	free(cmd);
}

/* The agents present in the project, but for ourselves (cli-PID), on one line. */
static void
setup_status_agents(const msgpack_object *r, const char *self)
{
	const msgpack_object *list = mp_get(r, "agents"), *a;
	const char *s;
	size_t n, i, shown = 0;
	int64_t pid;

	fputs("agents    ", stdout);
	for (i = 0; list != NULL && list->type == MSGPACK_OBJECT_ARRAY &&
	    i < list->via.array.size; i++) {
		a = &list->via.array.ptr[i];
		if (mp_streq(mp_get(a, "agent"), self) ||
		    (mp_int(mp_get(a, "pid"), &pid) == 0 && pid == (int64_t)getpid()))
			continue;
		if (shown++ == 8) {
			fputs(", ...", stdout);
			break;
		}
		if (mp_str(mp_get(a, "agent"), &s, &n) == 0)
			printf("%s%.*s", shown > 1 ? ", " : "", (int)n, s);
		if (mp_str(mp_get(a, "role"), &s, &n) == 0 && n > 0)
			printf(" (%.*s)", (int)n, s);
	}
	puts(shown == 0 ? "none but you" : "");
}

/* The project's tasks by status, from task_list's summary. */
static void
setup_status_tasks(const msgpack_object *r)
{
	const msgpack_object *sum = mp_get(r, "summary"), *k;
	const char *s;
	size_t n, i, shown = 0;
	int64_t v;

	fputs("tasks     ", stdout);
	for (i = 0; sum != NULL && sum->type == MSGPACK_OBJECT_MAP && i < sum->via.map.size;
	    i++) {
		k = &sum->via.map.ptr[i].key;
		if (mp_str(k, &s, &n) != 0 || mp_int(&sum->via.map.ptr[i].val, &v) != 0 ||
		    v == 0 || mp_streq(k, "total") || mp_streq(k, "ready") ||
		    mp_streq(k, "percent_done"))
			continue;
		printf("%s%lld %.*s", shown++ > 0 ? ", " : "", (long long)v, (int)n, s);
	}
	puts(shown == 0 ? "none" : "");
}

/*
 * The project's agents and tasks, when this build has the operations,
 * over a connection of its own (the caller's is busy with status).
 */
static void
setup_status_project(const struct client_opts *o)
{
	struct conn c;
	struct op_error err;
	msgpack_unpacked u;
	const msgpack_object *r;
	struct client_opts mine = *o;

	if (!setup_has_op("agent_list") && !setup_has_op("task_list"))
		return;
	mine.autostart = 0;
	memset(&err, 0, sizeof err);
	if (conn_open(&c, &mine, &err) != 0)
		return;
	msgpack_unpacked_init(&u);
	if (setup_has_op("agent_list") && conn_call(&c, "agent_list", NULL, &u, &r, &err) == 0)
		setup_status_agents(r, c.agent);
	msgpack_unpacked_destroy(&u);
	msgpack_unpacked_init(&u);
	if (setup_has_op("task_list") && conn_call(&c, "task_list", NULL, &u, &r, &err) == 0)
		setup_status_tasks(r);
	msgpack_unpacked_destroy(&u);
	conn_close(&c);
}

/* The set-up lines of `baton status`: which agents have baton, instructions. */
void
setup_status(const struct client_opts *o)
{
	FILE *fp = stdout;
	char *self = setup_self(), *p, *root;
	struct text t;
	size_t a, b, i;
	int n = 0, have = 0;

	setup_status_project(o);

	fputs("claude    ", fp);
	if ((p = setup_claude_project(o)) != NULL)
		setup_status_json(fp, p, "project", self, &n);
	free(p);
	p = setup_claude_user();
	setup_status_json(fp, p, "user", self, &n);
	free(p);
	fputs(n > 0 ? "\n" : "not set up (baton install --claude)\n", fp);
	p = setup_codex_config();
	fprintf(fp, "codex     %s%s\n", toml_installed(p) ? p : "not set up",
	    toml_installed(p) ? "" : " (baton install --codex)");
	free(p);
	fputs("init      ", fp);
	if ((root = setup_project(o)) != NULL) {
		for (i = 0; i < nitems(setup_md_files); i++) {
			xasprintf(&p, "%s/%s", root, setup_md_files[i]);
			if (setup_read(p, &t) == 0 &&
			    blk_find(p, t.s, t.len, MD_BEGIN, MD_END, &a, &b) == 1)
				fprintf(fp, "%s%s", have++ > 0 ? ", " : "instructions in ",
				    setup_md_files[i]);
			free(t.s);
			free(p);
		}
	}
	fputs(have > 0 ? "\n" : "no instructions in CLAUDE.md, AGENTS.md (baton init)\n", fp);
	free(root);
	free(self);
}
