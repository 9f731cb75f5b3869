/*
 * The project a client works in (DESIGN §2): --project or
 * $BATON_PROJECT as given; else $CLAUDE_PROJECT_DIR, an MCP client's
 * first root or the working directory, each taken to the repository of
 * the git checkout that holds it: the top level of the main worktree,
 * found from the common git directory, so that every worktree of one
 * repository is one project.  Files are read, no git process is run:
 * this happens on every call.
 */
#include "config.h"

#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define PROJECT_GITFILE_MAX 4096 /* bytes read of .git, commondir, config lines */

/* An absolute, malloc'd form of path: resolved when it exists, else joined to the cwd. */
char *
project_abspath(const char *path)
{
	char buf[PATH_MAX], *p;

	if (realpath(path, buf) != NULL)
		return (xstrdup(buf));
	if (path[0] == '/' || getcwd(buf, sizeof buf) == NULL)
		return (xstrdup(path));
	xasprintf(&p, "%s/%s", buf, path);
	return (p);
}

/*
 * Is the project given explicitly (--project, $BATON_PROJECT,
 * $CLAUDE_PROJECT_DIR)?  Only then does it win over an MCP client's roots.
 */
int
project_explicit(const struct client_opts *o)
{
	return (o->project != NULL || client_env("BATON_PROJECT") != NULL ||
	    client_env("CLAUDE_PROJECT_DIR") != NULL);
}

/* The first line of file (without its newline), malloc'd, or NULL. */
static char *
project_read_line(const char *file)
{
	char buf[PROJECT_GITFILE_MAX];
	FILE *f;

	if ((f = fopen(file, "r")) == NULL)
		return (NULL);
	if (fgets(buf, sizeof buf, f) == NULL) {
		fclose(f);
		return (NULL);
	}
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return (xstrdup(buf));
}

/* path, relative to dir unless absolute, resolved; malloc'd, or NULL. */
static char *
project_resolve(const char *dir, const char *path)
{
	char buf[PATH_MAX], *joined;
	char *r;

	if (path[0] == '/')
		joined = xstrdup(path);
	else
		xasprintf(&joined, "%s/%s", dir, path);
	r = realpath(joined, buf) != NULL ? xstrdup(buf) : NULL;
	free(joined);
	return (r);
}

/*
 * core.worktree of the repository in gitdir (a submodule's checkout is
 * named there), resolved; NULL when unset.  A plain reading of the
 * [core] section: enough for what git itself writes.
 */
static char *
project_core_worktree(const char *gitdir)
{
	char buf[PROJECT_GITFILE_MAX], *file, *p, *v, *r = NULL;
	FILE *f;
	int core = 0;

	xasprintf(&file, "%s/config", gitdir);
	f = fopen(file, "r");
	free(file);
	if (f == NULL)
		return (NULL);
	while (r == NULL && fgets(buf, sizeof buf, f) != NULL) {
		p = buf + strspn(buf, " \t");
		p[strcspn(p, "\r\n")] = '\0';
		if (*p == '[') {
			core = strncasecmp(p, "[core]", 6) == 0;
			continue;
		}
		if (!core || strncasecmp(p, "worktree", 8) != 0)
			continue;
		v = p + 8 + strspn(p + 8, " \t");
		if (*v++ != '=')
			continue;
		v += strspn(v, " \t");
		v[strcspn(v, "\"#;")] = '\0';
		while (*v != '\0' && strchr(" \t", v[strlen(v) - 1]) != NULL)
			v[strlen(v) - 1] = '\0';
		if (*v != '\0')
			r = project_resolve(gitdir, v);
	}
	fclose(f);
	return (r);
}

/*
 * The repository of a checkout whose .git is a file ("gitdir: PATH", a
 * linked worktree or a submodule) in top: the main worktree's top level,
 * from the common git directory (PATH/commondir) when it is a ".git",
 * else its core.worktree, else the common directory itself (a bare
 * repository: its worktrees share it).  NULL when unreadable.
 */
static char *
project_gitfile(const char *top, const char *dotgit)
{
	char *line, *gitdir, *common, *cd, *file, *r;
	size_t n;

	if ((line = project_read_line(dotgit)) == NULL || strncmp(line, "gitdir:", 7) != 0) {
		free(line);
		return (NULL);
	}
	gitdir = project_resolve(top, line + 7 + strspn(line + 7, " \t"));
	free(line);
	if (gitdir == NULL)
		return (NULL);
	xasprintf(&file, "%s/commondir", gitdir);
	cd = project_read_line(file);
	free(file);
	common = cd != NULL ? project_resolve(gitdir, cd) : xstrdup(gitdir);
	free(cd);
	free(gitdir);
	if (common == NULL)
		return (NULL);
	n = strlen(common);
	if (n > 5 && strcmp(common + n - 5, "/.git") == 0)
		r = xstrndup(common, n - 5);
	else if ((r = project_core_worktree(common)) == NULL)
		r = xstrdup(common);
	free(common);
	return (r);
}

/*
 * The repository of the git checkout that holds dir (absolute): the
 * nearest directory at or above it with a .git; its own top level when
 * .git is a directory, else what the .git file leads to.  NULL when dir
 * is in no checkout.  *checkout (if not NULL) gets that checkout's top.
 */
char *
project_repository(const char *dir, char **checkout)
{
	char cur[PATH_MAX], probe[PATH_MAX + 8], *slash, *r;
	struct stat sb;
	size_t len;

	if (checkout != NULL)
		*checkout = NULL;
	if (snprintf(cur, sizeof cur, "%s", dir) >= (int)sizeof cur || cur[0] != '/')
		return (NULL);
	len = strlen(cur);
	while (len > 1 && cur[len - 1] == '/')
		cur[--len] = '\0';
	for (;;) {
		snprintf(probe, sizeof probe, "%s/.git", len == 1 ? "" : cur);
		if (lstat(probe, &sb) == 0) {
			if (checkout != NULL)
				*checkout = xstrdup(cur);
			if (S_ISREG(sb.st_mode) && (r = project_gitfile(cur, probe)) != NULL)
				return (r);
			return (xstrdup(cur));
		}
		if (len == 1 || (slash = strrchr(cur, '/')) == NULL)
			return (NULL);
		len = slash == cur ? 1 : (size_t)(slash - cur);
		cur[len] = '\0';
	}
}

/*
 * The checkout the client works in, for files that belong to it
 * (.mcp.json, CLAUDE.md): $BATON_PROJECT, $CLAUDE_PROJECT_DIR, else the
 * top of the checkout holding the cwd, else the cwd.
 */
char *
project_checkout(void)
{
	const char *env;
	char cwd[PATH_MAX], *top, *repo;

	if ((env = client_env("BATON_PROJECT")) != NULL ||
	    (env = client_env("CLAUDE_PROJECT_DIR")) != NULL)
		return (project_abspath(env));
	if (getcwd(cwd, sizeof cwd) == NULL)
		return (xstrdup("/"));
	repo = project_repository(cwd, &top);
	free(repo);
	return (top != NULL ? top : xstrdup(cwd));
}

/*
 * A directory as a project: the repository of the checkout holding it,
 * else the directory itself.  Takes dir (malloc'd) and returns a
 * malloc'd string.
 */
char *
project_of_dir(char *dir)
{
	char *repo;

	if ((repo = project_repository(dir, NULL)) == NULL)
		return (dir);
	free(dir);
	return (repo);
}

/*
 * The project namespace without --project (baton mcp puts the client's
 * first root, already taken to its repository, in o->project):
 * $BATON_PROJECT as given, else the repository of $CLAUDE_PROJECT_DIR
 * or of the cwd.
 */
char *
project_default(void)
{
	const char *env;

	if ((env = client_env("BATON_PROJECT")) != NULL)
		return (project_abspath(env));
	return (project_of_dir(project_checkout()));
}
