/*
 * The files agent set-up edits, and how: read whole, changed in memory,
 * written to a temporary file in the same directory, fsync'd and renamed
 * over the original after the original was copied to STATE/backup/
 * (setup_commit); setup_edit runs one editor (setup-json.c,
 * setup-toml.c, the markdown of cmd-setup.c) on one file that way.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define SETUP_FILE_MAX (16 * 1024 * 1024) /* larger configs are refused, not read */

/* Append n bytes. */
void
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
void
sb_adds(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Append formatted text. */
void printflike(2, 3) sb_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	sb_adds(b, s);
	free(s);
}

/* Append s single-quoted for sh: nothing in it is expanded. */
void
sb_shquote(struct sbuf *b, const char *s)
{
	sb_adds(b, "'");
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			sb_adds(b, "'\\''");
		else
			sb_add(b, s, 1);
	}
	sb_adds(b, "'");
}

/* out = s with [a, b) replaced by ins. */
void
sb_splice(struct sbuf *out, const char *s, size_t len, size_t a, size_t b, const char *ins)
{
	out->len = 0;
	sb_add(out, s, a);
	sb_adds(out, ins);
	sb_add(out, s + b, len - b);
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
int
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
		cli_syserr("cannot read %s", path);
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
int
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
			cli_syserr("cannot create %s", s);
			r = setup_errno_status(errno);
		}
		if ((*p = c) == '\0')
			break;
	}
	free(s);
	return (r);
}

/* Write len bytes to a new file next to path, fsync it and rename it over path. */
int
setup_write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	char *tmp, *dir, *slash;
	ssize_t n;
	size_t off = 0;
	int fd, dfd, e;

	xasprintf(&tmp, "%s.baton-XXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		e = errno;
		cli_syserr("cannot create a temporary file next to %s", path);
		free(tmp);
		return (setup_errno_status(e));
	}
	while (off < len &&
	    ((n = write(fd, data + off, len - off)) > 0 || (n == -1 && errno == EINTR)))
		if (n > 0)
			off += (size_t)n;
	if (off < len || fchmod(fd, mode) == -1 || fsync(fd) == -1 || close(fd) == -1 ||
	    rename(tmp, path) == -1) {
		e = errno;
		cli_syserr("cannot write %s", path);
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
char *
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
int
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
			cli_syserr("cannot remove %s", target);
			return (setup_errno_status(errno));
		}
		return (0);
	}
	return (setup_write_file(target, data, len, old->exists ? old->mode : mode));
}

/* The absolute path of the running baton. */
char *
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
 * A configuration path as its program finds it: $var/file when var is
 * set to an absolute path, else ~/home_file.
 */
char *
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

/* The checkout set-up writes to: --project, else project_checkout() (not the repository). */
char *
setup_project(const struct client_opts *o)
{
	char buf[PATH_MAX];

	if (o->project == NULL)
		return (project_checkout());
	if (realpath(o->project, buf) == NULL) {
		cli_syserr("project directory %s", o->project);
		return (NULL);
	}
	return (xstrdup(buf));
}

/*
 * Apply an edit to the file at path: read it, run edit, write the result
 * atomically when it changed.  Says what happened on stdout.
 */
int
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
