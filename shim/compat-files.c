/*
 * Lockstep's file and command tools, done safely (issue 19): run by
 * this process (the agent's client, as the user), never by the broker.
 *
 * Files: a path is resolved lexically against the roots (--roots, else
 * the project root), then opened one component at a time from the
 * root's directory with O_NOFOLLOW: a symlink anywhere on the way is
 * refused, so nothing resolves out of the roots, and no race can swap
 * one in between a check and the open.  Reads are capped; a write goes
 * to a temporary file in the same directory, is fsync'd and renamed
 * over the target, so readers see the old file or the new, never half.
 *
 * Commands: an argument vector (a command string is split on blanks and
 * quotes only: no variable, glob, pipe or redirection is interpreted),
 * run with execve without a shell, only when the executable is on the
 * allowlist (--command-allow, BATON_COMMAND_ALLOW; empty by default: the
 * refusal says how to allow), in its own process group, in a cwd inside
 * the roots, with a filtered environment, a timeout that kills the
 * group, and output capped.  tool_install runs only allowed package
 * managers (--install-allow, BATON_INSTALL_ALLOW).
 *
 * Every call, refused or not, is recorded: in this process's log and in
 * the broker's audit log (baton log), as the agent that called.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "shim.h"

#define FILES_READ_DEFAULT (1024 * 1024) /* bytes file_read returns unless maxBytes */
#define FILES_READ_MAX (8 * 1024 * 1024)
#define FILES_WRITE_MAX (8 * 1024 * 1024)
#define FILES_ROOTS_MAX 16
#define FILES_DEPTH_MAX 64               /* path components */
#define CMD_TIMEOUT_DEFAULT_MS 60000     /* command_run timeoutMs */
#define CMD_TIMEOUT_MAX_MS 600000        /* 10 minutes */
#define CMD_OUTPUT_DEFAULT (1024 * 1024) /* each of stdout, stderr */
#define CMD_OUTPUT_MAX (8 * 1024 * 1024)
#define CMD_ARGS_MAX 256
#define CMD_KILL_GRACE 2 /* seconds between SIGTERM and SIGKILL */
#define CMD_RUNNING_MAX 8
#define AUDIT_FIELD_MAX 3072 /* bytes of what and of outcome in an audit entry */

static char *roots[FILES_ROOTS_MAX];
static size_t nroots;
static char *cmd_allow, *install_allow; /* comma-separated, or NULL: none */

/* ---- options ---- */

/* --roots, --command-allow, --install-allow for baton mcp --compat lockstep. */
int
compat_files_option(const char *name, const char *value, char **cause)
{
	char *list, *w, *sp = NULL, real[PATH_MAX];

	if (strcmp(name, "command-allow") == 0) {
		free(cmd_allow);
		cmd_allow = xstrdup(value);
		return (0);
	}
	if (strcmp(name, "install-allow") == 0) {
		free(install_allow);
		install_allow = xstrdup(value);
		return (0);
	}
	while (nroots > 0)
		free(roots[--nroots]);
	list = xstrdup(value);
	for (w = strtok_r(list, ",", &sp); w != NULL; w = strtok_r(NULL, ",", &sp)) {
		if (nroots == FILES_ROOTS_MAX || realpath(w, real) == NULL || w[0] != '/') {
			xasprintf(cause,
			    "--roots: %s is not an existing absolute directory (at most %d "
			    "roots)",
			    w, FILES_ROOTS_MAX);
			free(list);
			return (-1);
		}
		roots[nroots++] = xstrdup(real);
	}
	free(list);
	return (0);
}

/* The roots: given, else the project root. */
static void
files_roots(struct mcp *m)
{
	char *p, real[PATH_MAX];

	if (nroots > 0)
		return;
	p = m->opts.project != NULL ? xstrdup(m->opts.project) : project_default();
	roots[nroots++] = xstrdup(realpath(p, real) != NULL ? real : p);
	free(p);
}

/* Is word one of the comma-separated list? */
static int
files_listed(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list, *c;

	while (p != NULL && *p != '\0') {
		c = strchr(p, ',');
		if ((size_t)((c != NULL ? c : p + strlen(p)) - p) == n &&
		    strncmp(p, word, n) == 0)
			return (1);
		p = c != NULL ? c + 1 : NULL;
	}
	return (0);
}

/* The file and command policy, for status_get's config. */
cJSON *
compat_files_config(struct mcp *m)
{
	cJSON *c = cJSON_CreateObject(), *r;
	size_t i;

	files_roots(m);
	cJSON_AddStringToObject(c, "mode", "strict");
	r = cJSON_AddArrayToObject(c, "roots");
	for (i = 0; i < nroots; i++)
		cJSON_AddItemToArray(r, cJSON_CreateString(roots[i]));
	r = cJSON_AddObjectToObject(c, "command");
	cJSON_AddStringToObject(r, "mode", "allowlist");
	cJSON_AddStringToObject(r, "allow", cmd_allow != NULL ? cmd_allow : "");
	cJSON_AddStringToObject(r, "installAllow", install_allow != NULL ? install_allow : "");
	return (c);
}

/* ---- the audit ---- */

/*
 * Record a file or command call: in this process's log and in the
 * broker's audit log (log_append, as the calling agent), its event one
 * line ("file_write src/a.c: ok"), what and outcome in data, each clipped
 * to AUDIT_FIELD_MAX bytes so the entry stays within LOG_DATA_MAX.
 */
static void
files_audit(struct compat_call *cc, const char *what, const char *outcome)
{
	struct compat_link *l;
	struct op_error err;
	cJSON *args, *d;
	char *line, event[LOG_EVENT_MAX + 1], w[AUDIT_FIELD_MAX], o[AUDIT_FIELD_MAX];

	log_info("%s %s: %s", cc->tool->name, what, outcome);
	if (cc->m == NULL || (l = compat_link_get(cc->m, NULL, &err)) == NULL)
		return;
	xasprintf(&line, "%s %s: %s", cc->tool->name, what, outcome);
	utf8_line(event, sizeof event, line);
	free(line);
	args = cJSON_CreateObject();
	cJSON_AddStringToObject(args, "event", event);
	d = cJSON_AddObjectToObject(args, "data");
	cJSON_AddStringToObject(d, "tool", cc->tool->name);
	cJSON_AddStringToObject(d, "what", utf8_line(w, sizeof w, what));
	cJSON_AddStringToObject(d, "outcome", utf8_line(o, sizeof o, outcome));
	if (compat_send(NULL, l, "log_append", args, &err) != 0)
		log_warnx("audit of %s: %s", cc->tool->name, err.message);
}

/* Refuse cc with text, recorded. */
static void printflike(3, 4)
    files_refuse(struct compat_call *cc, const char *what, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	files_audit(cc, what, text);
	compat_fail(cc, "%s", text);
	free(text);
}

/* ---- paths ---- */

/*
 * Normalize path lexically (relative: against the first root) and find
 * the root it is in: *rel is what follows the root ("" for the root
 * itself).  -1 with *cause when it is outside every root.
 */
static int
files_resolve(struct mcp *m, const char *path, const char **root, char **rel, char **cause)
{
	char *joined, *segs[FILES_DEPTH_MAX], *p, *sp = NULL, *out;
	size_t n = 0, i, len;

	files_roots(m);
	if (path[0] == '/')
		joined = xstrdup(path);
	else
		xasprintf(&joined, "%s/%s", roots[0], path);
	for (p = strtok_r(joined, "/", &sp); p != NULL; p = strtok_r(NULL, "/", &sp)) {
		if (strcmp(p, ".") == 0)
			continue;
		if (strcmp(p, "..") == 0) {
			if (n > 0)
				n--;
			continue;
		}
		if (n == FILES_DEPTH_MAX) {
			free(joined);
			xasprintf(cause, "path %.200s has more than %d components", path,
			    FILES_DEPTH_MAX);
			return (-1);
		}
		segs[n++] = p;
	}
	out = xstrdup("");
	for (i = 0; i < n; i++) {
		p = out;
		xasprintf(&out, "%s/%s", p, segs[i]);
		free(p);
	}
	free(joined);
	for (i = 0; i < nroots; i++) {
		len = strlen(roots[i]);
		if (strcmp(roots[i], "/") == 0)
			len = 0;
		if (strncmp(out, roots[i], len) == 0 && (out[len] == '\0' || out[len] == '/')) {
			*root = roots[i];
			*rel = xstrdup(out[len] == '/' ? out + len + 1 : "");
			free(out);
			return (0);
		}
	}
	xasprintf(cause,
	    "%.200s is outside the roots (%s%s): baton confines file tools to them; the "
	    "user can add one with baton mcp --roots DIR,...",
	    out[0] != '\0' ? out : "/", roots[0], nroots > 1 ? ", ..." : "");
	free(out);
	return (-1);
}

/*
 * Open the directory holding rel under root, component by component,
 * never following a symlink (mkdir the missing ones when create); its
 * fd and, in *last, the final component (NULL for the root itself).
 */
static int
files_walk(const char *root, const char *rel, int create, char **last, char **cause)
{
	char *copy = xstrdup(rel), *p, *slash;
	int dfd, fd;

	*last = NULL;
	if ((dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "cannot open root %s: %s", root, strerror(errno));
		free(copy);
		return (-1);
	}
	for (p = copy; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
		*slash = '\0';
		fd = openat(dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1 && errno == ENOENT && create &&
		    (mkdirat(dfd, p, 0755) == 0 || errno == EEXIST))
			fd = openat(dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1) {
			if (errno == ELOOP || errno == ENOTDIR)
				xasprintf(cause,
				    "%s/%s is a symlink or not a directory: baton follows no "
				    "symlink in a path (name the target itself)",
				    root, rel);
			else
				xasprintf(cause, "%s/%s: %s%s", root, rel, strerror(errno),
				    errno == ENOENT
					? " (createDirs: true makes the directories)"
					: "");
			close(dfd);
			free(copy);
			return (-1);
		}
		close(dfd);
		dfd = fd;
	}
	if (*p != '\0')
		*last = xstrdup(p);
	free(copy);
	return (dfd);
}

/* ---- base64, for binary content ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
files_b64(const unsigned char *s, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3, o += 4) {
		o[0] = b64[s[i] >> 2];
		o[1] = b64[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		o[2] = b64[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		o[3] = b64[s[i + 2] & 63];
	}
	if (i < n) {
		o[0] = b64[s[i] >> 2];
		o[1] = b64[((s[i] & 3) << 4) | (i + 1 < n ? s[i + 1] >> 4 : 0)];
		o[2] = i + 1 < n ? b64[(s[i + 1] & 15) << 2] : '=';
		o[3] = '=';
		o += 4;
	}
	*o = '\0';
	return (out);
}

/* Decode base64 text; NULL when it is not base64. */
static unsigned char *
files_unb64(const char *s, size_t *len)
{
	size_t n = strlen(s), i, k = 0;
	unsigned char *out = xmalloc(n / 4 * 3 + 3);
	unsigned v = 0, bits = 0;
	const char *c;

	for (i = 0; i < n; i++) {
		if (s[i] == '=' || s[i] == '\n' || s[i] == '\r')
			continue;
		if ((c = strchr(b64, s[i])) == NULL || s[i] == '\0') {
			free(out);
			return (NULL);
		}
		v = (v << 6) | (unsigned)(c - b64);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[k++] = (unsigned char)(v >> bits);
		}
	}
	*len = k;
	return (out);
}

/* ---- file_read, artifact_read ---- */

static const struct compat_arg file_read_args[] = {
	{ "path", CA_STRING, 1, NULL, NULL, NULL },
	{ "encoding", CA_STRING, 0, "\"utf8\"", "utf8|utf-8|base64", NULL },
	{ "maxBytes", CA_NUMBER, 0, "1048576", NULL, "at most 8 MiB" },
	{ "binary", CA_BOOL, 0, "false", NULL, "base64 content" },
};
#define artifact_read_args file_read_args

static void
file_read_run(struct compat_call *cc)
{
	const char *path = compat_str(cc, "path"), *root, *enc = compat_str(cc, "encoding");
	double max = compat_num(cc, "maxBytes", FILES_READ_DEFAULT);
	char *rel = NULL, *last, *cause = NULL, *full, *text, what[64];
	unsigned char *buf;
	struct stat st;
	ssize_t r;
	size_t got = 0, want;
	int dfd, fd, b64out;
	cJSON *o;

	b64out =
	    compat_num(cc, "binary", 0) != 0 || (enc != NULL && strcmp(enc, "base64") == 0);
	if (max < 0 || max > FILES_READ_MAX || max != floor(max)) {
		files_refuse(cc, path, "maxBytes must be a whole number from 0 to %d",
		    FILES_READ_MAX);
		return;
	}
	if (files_resolve(cc->m, path, &root, &rel, &cause) != 0 ||
	    (dfd = files_walk(root, rel, 0, &last, &cause)) == -1) {
		if (cause == NULL)
			xasprintf(&cause, "cannot resolve %s", path);
		files_refuse(cc, path, "%s", cause);
		free(cause);
		free(rel);
		return;
	}
	fd = last != NULL ? openat(dfd, last, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
			  : -1;
	xasprintf(&full, "%s/%s", root, rel);
	if (fd == -1 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		files_refuse(cc, full, "%s: %s", full,
		    last == NULL ? "a directory, not a file"
			: fd == -1 && errno == ELOOP
			? "a symlink: baton follows none (name its target)"
			: fd == -1 ? strerror(errno)
				   : "not a regular file");
		goto out;
	}
	want = (size_t)fmin(max, (double)st.st_size);
	buf = xmalloc(want + 1);
	while (got < want && (r = read(fd, buf + got, want - got)) > 0)
		got += (size_t)r;
	if (b64out)
		text = files_b64(buf, got);
	else {
		buf[got] = '\0';
		text = xstrndup((char *)buf, got);
	}
	free(buf);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", full);
	cJSON_AddBoolToObject(o, "truncated", (double)st.st_size > got);
	if (b64out || memchr(text, '\0', got) == NULL)
		cJSON_AddStringToObject(o, "content", text);
	else
		cJSON_AddStringToObject(o, "content", ""); /* NUL bytes: ask for binary */
	free(text);
	snprintf(what, sizeof what, "read %zu bytes", got);
	files_audit(cc, full, what);
	compat_ok(cc, o);
out:
	if (fd != -1)
		close(fd);
	close(dfd);
	free(full);
	free(rel);
	free(last);
}

static void
artifact_read_run(struct compat_call *cc)
{
	file_read_run(cc);
}

/* ---- file_write, artifact_write ---- */

static const struct compat_arg file_write_args[] = {
	{ "path", CA_STRING, 1, NULL, NULL, NULL },
	{ "content", CA_STRING, 1, NULL, NULL, NULL },
	{ "encoding", CA_STRING, 0, "\"utf8\"", "utf8|utf-8|base64", NULL },
	{ "mode", CA_STRING, 0, "\"overwrite\"", "overwrite|append", NULL },
	{ "createDirs", CA_BOOL, 0, "false", NULL, NULL },
};
#define artifact_write_args file_write_args

/* Write data to last in dfd atomically (a temporary file, fsync, rename); 0 or -1 with cause. */
static int
files_replace(int dfd, const char *last, const void *data, size_t len, mode_t mode,
    char **cause)
{
	char tmp[NAME_MAX + 1], hex[9];
	const char *p = data;
	ssize_t w;
	int fd;

	random_hex(hex, sizeof hex);
	snprintf(tmp, sizeof tmp, ".%.200s.baton-%s", last, hex);
	if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		 mode)) == -1) {
		xasprintf(cause, "cannot create a temporary file beside %s: %s", last,
		    strerror(errno));
		return (-1);
	}
	while (len > 0 && (w = write(fd, p, len)) > 0) {
		p += w;
		len -= (size_t)w;
	}
	if (len > 0 || fsync(fd) != 0 || fchmod(fd, mode) != 0 || close(fd) != 0 ||
	    renameat(dfd, tmp, dfd, last) != 0) {
		xasprintf(cause, "cannot write %s: %s", last, strerror(errno));
		unlinkat(dfd, tmp, 0);
		return (-1);
	}
	return (0);
}

static void
file_write_run(struct compat_call *cc)
{
	const char *path = compat_str(cc, "path"), *root, *enc = compat_str(cc, "encoding");
	const char *content = compat_str(cc, "content"), *mode = compat_str(cc, "mode");
	char *rel = NULL, *last = NULL, *cause = NULL, *full = NULL, what[64];
	unsigned char *data, *both;
	size_t len, old = 0;
	struct stat st;
	mode_t fmode = 0644;
	ssize_t r;
	int dfd, fd;
	cJSON *o;

	if (enc != NULL && strcmp(enc, "base64") == 0) {
		if ((data = files_unb64(content, &len)) == NULL) {
			files_refuse(cc, path, "content is not base64 (encoding base64)");
			return;
		}
	} else {
		len = strlen(content);
		data = (unsigned char *)xstrdup(content);
	}
	if (len > FILES_WRITE_MAX) {
		files_refuse(cc, path, "content is larger than %d bytes", FILES_WRITE_MAX);
		free(data);
		return;
	}
	if (files_resolve(cc->m, path, &root, &rel, &cause) != 0 ||
	    (dfd = files_walk(root, rel, compat_num(cc, "createDirs", 0) != 0, &last,
		 &cause)) == -1) {
		files_refuse(cc, path, "%s", cause != NULL ? cause : "cannot resolve the path");
		free(cause);
		free(rel);
		free(data);
		return;
	}
	xasprintf(&full, "%s/%s", root, rel);
	if (last == NULL) {
		files_refuse(cc, full, "%s is a directory", full);
		goto out;
	}
	if (fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(st.st_mode)) {
			files_refuse(cc, full, "%s is %s: baton writes regular files only",
			    full, S_ISLNK(st.st_mode) ? "a symlink" : "not a regular file");
			goto out;
		}
		fmode = st.st_mode & 07777;
		old = (size_t)st.st_size;
	}
	if (mode != NULL && strcmp(mode, "append") == 0 && old > 0) {
		/* append: the old content and the new, replaced at once */
		if (old + len > FILES_WRITE_MAX ||
		    (fd = openat(dfd, last, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
			files_refuse(cc, full, "%s: cannot append (%s)", full,
			    old + len > FILES_WRITE_MAX ? "the file would pass 8 MiB"
							: strerror(errno));
			goto out;
		}
		both = xmalloc(old + len + 1);
		for (r = 0, old = 0; (r = read(fd, both + old, (size_t)st.st_size - old)) > 0;)
			old += (size_t)r;
		close(fd);
		memcpy(both + old, data, len);
		free(data);
		data = both;
		len += old;
	}
	if (files_replace(dfd, last, data, len, fmode, &cause) != 0) {
		files_refuse(cc, full, "%s", cause);
		free(cause);
		goto out;
	}
	snprintf(what, sizeof what, "wrote %zu bytes", len);
	files_audit(cc, full, what);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", full);
	cJSON_AddNumberToObject(o, "bytes", (double)len);
	compat_ok(cc, o);
out:
	close(dfd);
	free(data);
	free(full);
	free(rel);
	free(last);
}

static void
artifact_write_run(struct compat_call *cc)
{
	file_write_run(cc);
}

/* ---- command_run, tool_install ---- */

/* One command running for a call. */
struct cmdrun {
	struct compat_call *cc;
	pid_t pid;
	int fds[2];
	struct event *rev[2];
	char *out[2];
	size_t len[2], cap;
	int trunc[2];
	int status, exited, timed_out, open;
	struct event *timer, *kill_timer;
	char *what;
	struct cmdrun *next;
};
static struct cmdrun *running;
static size_t nrunning;
static struct event *sigchld_ev;

/*
 * Split a command line into words: blanks separate, '...' and "..."
 * quote (\\ and \" inside double quotes, \ before any character
 * outside); nothing else is special.  NULL with *cause when a quote is
 * not closed or there are too many words.
 */
static char **
cmd_split(const char *s, int *argc, char **cause)
{
	char **argv = xcalloc(CMD_ARGS_MAX + 1, sizeof *argv), *w = xmalloc(strlen(s) + 1);
	size_t n = 0;
	int in = 0, q = 0;

	*argc = 0;
	for (;; s++) {
		if (q == 0 && (*s == '\0' || *s == ' ' || *s == '\t' || *s == '\n')) {
			if (in) {
				if (*argc == CMD_ARGS_MAX) {
					xasprintf(cause, "more than %d words", CMD_ARGS_MAX);
					goto bad;
				}
				argv[(*argc)++] = xstrndup(w, n);
				n = 0;
				in = 0;
			}
			if (*s == '\0')
				break;
			continue;
		}
		in = 1;
		if (*s == '\0') {
			xasprintf(cause, "the %s quote is not closed",
			    q == '\'' ? "single" : "double");
			goto bad;
		}
		if (q == 0 && (*s == '\'' || *s == '"'))
			q = *s;
		else if (q != 0 && *s == q)
			q = 0;
		else if (*s == '\\' && q != '\'' && s[1] != '\0' &&
		    (q == 0 || s[1] == '"' || s[1] == '\\'))
			w[n++] = *++s;
		else
			w[n++] = *s;
	}
	free(w);
	return (argv);
bad:
	free(w);
	while (*argc > 0)
		free(argv[--*argc]);
	free(argv);
	return (NULL);
}

static void
cmd_free_argv(char **argv)
{
	size_t i;

	for (i = 0; argv != NULL && argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* The executable of name on PATH (a name with a slash is taken as it is); NULL if none. */
static char *
cmd_which(const char *name)
{
	const char *path = getenv("PATH"), *p, *c;
	char *f;

	if (strchr(name, '/') != NULL)
		return (access(name, X_OK) == 0 ? xstrdup(name) : NULL);
	for (p = path != NULL ? path : "/usr/bin:/bin"; p != NULL;
	     p = c != NULL ? c + 1 : NULL) {
		c = strchr(p, ':');
		xasprintf(&f, "%.*s/%s", (int)(c != NULL ? c - p : (ptrdiff_t)strlen(p)), p,
		    name);
		if (f[0] == '/' && access(f, X_OK) == 0)
			return (f);
		free(f);
	}
	return (NULL);
}

/* Variables a caller may not set: they change what runs, not how. */
static int
cmd_env_denied(const char *name)
{
	static const char *const deny[] = { "PATH", "IFS", "ENV", "BASH_ENV", "PS4",
		"SHELLOPTS", "BASHOPTS", "PROMPT_COMMAND", "NODE_OPTIONS", "PYTHONSTARTUP",
		"PYTHONPATH", "PERL5OPT", "PERL5LIB", "RUBYOPT", "GIT_EXEC_PATH",
		"GIT_SSH_COMMAND" };
	size_t i;

	if (strncmp(name, "LD_", 3) == 0 || strncmp(name, "DYLD_", 5) == 0)
		return (1);
	for (i = 0; i < nitems(deny); i++) {
		if (strcmp(deny[i], name) == 0)
			return (1);
	}
	return (0);
}

/* The child's environment: a few of ours, then the caller's (checked); NULL with *cause. */
static char **
cmd_env(const cJSON *env, char **cause)
{
	static const char *const keep[] = { "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL",
		"TERM", "TMPDIR", "TZ" };
	char **envp = xcalloc(nitems(keep) + CMD_ARGS_MAX + 1, sizeof *envp);
	const cJSON *e;
	size_t n = 0, i;
	const char *v, *p;

	for (i = 0; i < nitems(keep); i++) {
		if ((v = getenv(keep[i])) != NULL)
			xasprintf(&envp[n++], "%s=%s", keep[i], v);
	}
	cJSON_ArrayForEach(e, env) {
		for (p = e->string; *p != '\0' &&
		     (*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			 (p != e->string && *p >= '0' && *p <= '9'));
		     p++)
			;
		if (*p != '\0' || p == e->string || !cJSON_IsString(e) ||
		    cmd_env_denied(e->string) || n == nitems(keep) + CMD_ARGS_MAX) {
			xasprintf(cause,
			    "env.%.64s is refused: names are letters, digits and _, values "
			    "strings, "
			    "and PATH, LD_*, IFS, BASH_ENV and the like are not settable",
			    e->string);
			cmd_free_argv(envp);
			return (NULL);
		}
		xasprintf(&envp[n++], "%s=%s", e->string, e->valuestring);
	}
	return (envp);
}

static void cmd_maybe_done(struct cmdrun *);

/* Output from the child: kept up to the cap, the rest read and dropped. */
static void
cmd_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct cmdrun *c = arg;
	char buf[16384];
	ssize_t n;
	int i = fd == c->fds[0] ? 0 : 1;
	size_t keep;

	if ((n = read(fd, buf, sizeof buf)) > 0) {
		keep = c->len[i] < c->cap ? c->cap - c->len[i] : 0;
		if ((size_t)n > keep)
			c->trunc[i] = 1;
		else
			keep = (size_t)n;
		c->out[i] = realloc(c->out[i], c->len[i] + keep + 1);
		if (c->out[i] == NULL)
			fatal("realloc");
		memcpy(c->out[i] + c->len[i], buf, keep);
		c->len[i] += keep;
		c->out[i][c->len[i]] = '\0';
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	event_free(c->rev[i]);
	c->rev[i] = NULL;
	close(fd);
	c->fds[i] = -1;
	c->open--;
	cmd_maybe_done(c);
}

/* The timeout: SIGTERM to the group, SIGKILL if it outlives the grace. */
static void
cmd_kill_cb(evutil_socket_t fd, short events, void *arg)
{
	struct cmdrun *c = arg;
	struct timeval tv = tv_secs(CMD_KILL_GRACE);

	if (c->exited)
		return;
	if (!c->timed_out) {
		c->timed_out = 1;
		kill(-c->pid, SIGTERM);
		evtimer_add(c->kill_timer, &tv);
	} else
		kill(-c->pid, SIGKILL);
}

/* SIGCHLD: reap the commands that exited. */
static void
cmd_sigchld_cb(evutil_socket_t fd, short events, void *arg)
{
	struct cmdrun *c, *next;

	for (c = running; c != NULL; c = next) {
		next = c->next;
		if (!c->exited && waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
			c->exited = 1;
			/* whatever it left in its group goes with it, and its pipes close */
			kill(-c->pid, SIGKILL);
			cmd_maybe_done(c);
		}
	}
}

/* Exited and both pipes at EOF: answer, free. */
static void
cmd_maybe_done(struct cmdrun *c)
{
	struct cmdrun **pp;
	cJSON *o;
	char what[96];

	if (!c->exited || c->open > 0)
		return;
	for (pp = &running; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	nrunning--;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "stdout", c->out[0] != NULL ? c->out[0] : "");
	cJSON_AddStringToObject(o, "stderr", c->out[1] != NULL ? c->out[1] : "");
	if (WIFEXITED(c->status))
		cJSON_AddNumberToObject(o, "exitCode", WEXITSTATUS(c->status));
	else
		cJSON_AddNullToObject(o, "exitCode");
	if (WIFSIGNALED(c->status))
		cJSON_AddStringToObject(o, "signal", strsignal(WTERMSIG(c->status)));
	else
		cJSON_AddNullToObject(o, "signal");
	cJSON_AddBoolToObject(o, "timedOut", c->timed_out);
	cJSON_AddBoolToObject(o, "stdoutTruncated", c->trunc[0]);
	cJSON_AddBoolToObject(o, "stderrTruncated", c->trunc[1]);
	snprintf(what, sizeof what, "%s%s, status %d",
	    c->timed_out ? "timed out, killed" : "ran", "", c->status);
	files_audit(c->cc, c->what, what);
	compat_ok(c->cc, o);
	if (--c->cc->pending == 0)
		compat_call_free(c->cc);
	event_free(c->timer);
	event_free(c->kill_timer);
	free(c->out[0]);
	free(c->out[1]);
	free(c->what);
	free(c);
}

/*
 * Run argv (argv[0] an allowed name, already checked) for cc in the
 * roots: cwd, timeoutMs, maxOutputBytes and env are cc's arguments.
 */
static void
cmd_start(struct compat_call *cc, char **argv, const char *line)
{
	const char *cwd = compat_str(cc, "cwd"), *root;
	double tmo = compat_num(cc, "timeoutMs", CMD_TIMEOUT_DEFAULT_MS);
	double cap = compat_num(cc, "maxOutputBytes", CMD_OUTPUT_DEFAULT);
	char *exe = NULL, *rel = NULL, *last = NULL, *cause = NULL, **envp = NULL;
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, dfd = -1, fd, null;
	struct cmdrun *c;
	struct timeval tv;
	pid_t pid;

	if (tmo <= 0 || tmo > CMD_TIMEOUT_MAX_MS || cap < 0 || cap > CMD_OUTPUT_MAX) {
		files_refuse(cc, line,
		    "timeoutMs must be from 1 to %d and maxOutputBytes from 0 to %d",
		    CMD_TIMEOUT_MAX_MS, CMD_OUTPUT_MAX);
		return;
	}
	if (nrunning >= CMD_RUNNING_MAX) {
		files_refuse(cc, line,
		    "%d commands are running already; try again when one ends",
		    CMD_RUNNING_MAX);
		return;
	}
	if ((exe = cmd_which(argv[0])) == NULL) {
		files_refuse(cc, line, "%s: no such executable on PATH", argv[0]);
		return;
	}
	/* the cwd: inside the roots, reached without a symlink */
	if (files_resolve(cc->m, cwd != NULL ? cwd : ".", &root, &rel, &cause) != 0 ||
	    (dfd = files_walk(root, rel, 0, &last, &cause)) == -1 ||
	    (last != NULL &&
		((fd = openat(dfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) ==
			-1 ||
		    (close(dfd), dfd = fd, 0)))) {
		files_refuse(cc, line, "cwd: %s",
		    cause != NULL ? cause : "not a directory in the roots");
		goto out;
	}
	if ((envp = cmd_env(compat_arg(cc, "env"), &cause)) == NULL) {
		files_refuse(cc, line, "%s", cause);
		goto out;
	}
	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0 ||
	    (null = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
		files_refuse(cc, line, "cannot run it: %s", strerror(errno));
		goto out;
	}
	if (sigchld_ev == NULL) {
		sigchld_ev = evsignal_new(cc->m->base, SIGCHLD, cmd_sigchld_cb, NULL);
		evsignal_add(sigchld_ev, NULL);
	}
	if ((pid = fork()) == -1) {
		close(null);
		files_refuse(cc, line, "cannot run it: fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		setsid();
		if (fchdir(dfd) != 0 || dup2(null, 0) == -1 || dup2(po[1], 1) == -1 ||
		    dup2(pe[1], 2) == -1)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		execve(exe, argv, envp);
		dprintf(2, "baton: cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(null);
	close(po[1]);
	close(pe[1]);
	c = xcalloc(1, sizeof *c);
	c->cc = cc;
	c->pid = pid;
	c->fds[0] = po[0];
	c->fds[1] = pe[0];
	po[0] = pe[0] = -1;
	c->cap = (size_t)cap;
	c->open = 2;
	c->what = xstrdup(line);
	set_nonblock(c->fds[0]);
	set_nonblock(c->fds[1]);
	c->rev[0] = event_new(cc->m->base, c->fds[0], EV_READ | EV_PERSIST, cmd_read_cb, c);
	c->rev[1] = event_new(cc->m->base, c->fds[1], EV_READ | EV_PERSIST, cmd_read_cb, c);
	c->timer = evtimer_new(cc->m->base, cmd_kill_cb, c);
	c->kill_timer = evtimer_new(cc->m->base, cmd_kill_cb, c);
	event_add(c->rev[0], NULL);
	event_add(c->rev[1], NULL);
	tv = tv_secs(tmo / 1000);
	evtimer_add(c->timer, &tv);
	c->next = running;
	running = c;
	nrunning++;
	cc->pending++; /* answered by cmd_maybe_done */
	log_info("%s: running %s (pid %ld)", cc->tool->name, line, (long)pid);
out:
	if (po[0] != -1) {
		close(po[0]);
		close(po[1]);
	}
	if (pe[0] != -1) {
		close(pe[0]);
		close(pe[1]);
	}
	if (dfd != -1)
		close(dfd);
	cmd_free_argv(envp);
	free(exe);
	free(rel);
	free(last);
	free(cause);
}

/* End every command of m's calls (its client is gone): their groups are killed. */
void
compat_files_kill(void)
{
	struct cmdrun *c;

	for (c = running; c != NULL; c = c->next) {
		if (!c->exited)
			kill(-c->pid, SIGKILL);
	}
}

static const struct compat_arg command_run_args[] = {
	{ "command", CA_STRING, 1, NULL, NULL, "split into words; no shell" },
	{ "cwd", CA_STRING, 0, NULL, NULL, NULL },
	{ "timeoutMs", CA_NUMBER, 0, "60000", NULL, NULL },
	{ "maxOutputBytes", CA_NUMBER, 0, "1048576", NULL, NULL },
	{ "env", CA_OBJECT, 0, NULL, NULL, NULL },
};
static void
command_run_run(struct compat_call *cc)
{
	const char *line = compat_str(cc, "command");
	char **argv, *cause = NULL;
	int argc;

	if ((argv = cmd_split(line, &argc, &cause)) == NULL || argc == 0) {
		files_refuse(cc, line, "command: %s", cause != NULL ? cause : "empty");
		free(cause);
		cmd_free_argv(argv);
		return;
	}
	if (cmd_allow == NULL || *cmd_allow == '\0')
		files_refuse(cc, line,
		    "command_run is off: no executable is allowed. The user allows some with "
		    "baton mcp --compat lockstep --command-allow %s,... (or "
		    "BATON_COMMAND_ALLOW, "
		    "written by baton install --compat lockstep --command-allow)",
		    argv[0]);
	else if (!files_listed(cmd_allow, argv[0]))
		files_refuse(cc, line,
		    "%s is not an allowed executable (allowed: %s); the user adds it with "
		    "--command-allow",
		    argv[0], cmd_allow);
	else
		cmd_start(cc, argv, line);
	cmd_free_argv(argv);
}

static const struct compat_arg tool_install_args[] = {
	{ "manager", CA_STRING, 1, NULL, NULL, "e.g. npm, pip" },
	{ "args", CA_STRINGS, 0, NULL, NULL, NULL },
	{ "cwd", CA_STRING, 0, NULL, NULL, NULL },
	{ "timeoutMs", CA_NUMBER, 0, "60000", NULL, NULL },
	{ "env", CA_OBJECT, 0, NULL, NULL, NULL },
};
static void
tool_install_run(struct compat_call *cc)
{
	const char *mgr = compat_str(cc, "manager");
	const cJSON *a, *args = compat_arg(cc, "args");
	char **argv, *line;
	int n = 1;

	if (install_allow == NULL || *install_allow == '\0' ||
	    !files_listed(install_allow, mgr) || strchr(mgr, '/') != NULL) {
		files_refuse(cc, mgr,
		    "%s is not an allowed package manager (allowed: %s). The user allows one "
		    "with baton mcp --compat lockstep --install-allow npm,pip (or "
		    "BATON_INSTALL_ALLOW)",
		    mgr,
		    install_allow != NULL && *install_allow != '\0' ? install_allow : "none");
		return;
	}
	if (cJSON_GetArraySize(args) >= CMD_ARGS_MAX) {
		files_refuse(cc, mgr, "more than %d arguments", CMD_ARGS_MAX - 1);
		return;
	}
	argv = xcalloc(CMD_ARGS_MAX + 1, sizeof *argv);
	argv[0] = xstrdup(mgr);
	line = xstrdup(mgr);
	cJSON_ArrayForEach(a, args) {
		argv[n++] = xstrdup(a->valuestring);
		free(line);
		xasprintf(&line, "%s %s", argv[0], a->valuestring);
	}
	cmd_start(cc, argv, line);
	free(line);
	cmd_free_argv(argv);
}

const struct compat_tool compat_file_tools[] = {
	COMPAT_TOOL(file_read, OP_READONLY | OP_IDEMPOTENT | COMPAT_OPEN_WORLD,
	    "Read a file. baton: only inside the roots, no symlink followed, size-capped."),
	COMPAT_TOOL(file_write, OP_DESTRUCTIVE | COMPAT_OPEN_WORLD,
	    "Write a file atomically. baton: only inside the roots, no symlink followed."),
	COMPAT_TOOL(artifact_read, OP_READONLY | OP_IDEMPOTENT | COMPAT_OPEN_WORLD,
	    "Read an artifact (as file_read)."),
	COMPAT_TOOL(artifact_write, OP_DESTRUCTIVE | COMPAT_OPEN_WORLD,
	    "Write an artifact (as file_write)."),
	COMPAT_TOOL(command_run, OP_DESTRUCTIVE | COMPAT_OPEN_WORLD,
	    "Run a command: split into words, never a shell. baton: only allowed executables "
	    "(none by default), cwd in the roots, timeout, capped output."),
	COMPAT_TOOL(tool_install, OP_DESTRUCTIVE | COMPAT_OPEN_WORLD,
	    "Install with a package manager. baton: only allowed managers (none by default)."),
};
const size_t compat_nfile_tools = nitems(compat_file_tools);
