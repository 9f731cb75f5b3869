/*
 * Git worktrees for agents (DESIGN 13), run by the client as the user:
 * the broker runs no command and keeps the records (worktree_set,
 * worktree_get).  An agent's worktree is .baton/worktrees/NAME in the
 * main checkout, on branch baton/NAME, made from the base branch (the
 * one the main checkout has, unless told); NAME comes from the agent's
 * name.  .baton/ is kept out of git status through info/exclude.
 *
 * git runs from argument vectors (run.c), never through a shell.  A
 * merge touches no working tree but the main checkout's, and that one
 * only by fast-forwarding its branch: the merge commit is made without a
 * tree (git merge-tree --write-tree, git commit-tree) and the main
 * checkout's branch moves to it with git merge --ff-only, which keeps
 * every uncommitted change or refuses.  Before that, what is in the way
 * is refused with the reason, nothing changed: uncommitted work in the
 * worktree, uncommitted changes in the main checkout to files the merge
 * touches, another branch checked out there, a conflict.  Nothing here
 * checks out, resets or stashes.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define WT_TIMEOUT 120.0              /* seconds one git command may take */
#define WT_OUT_MAX (16 * 1024 * 1024) /* bytes of one git command's output kept */
#define WT_LIST_MAX 200               /* files in one list of an answer */
#define WT_NAME_MAX 48                /* bytes of a worktree's name */
#define WT_DIR ".baton/worktrees"     /* under the main checkout */
#define WT_BRANCH_PREFIX "baton/"     /* worktree branches */
#define WT_EXCLUDE "/.baton/"         /* the line in info/exclude */
#define WT_EXCLUDE_MAX (1024 * 1024)  /* bytes of info/exclude read */
#define WT_ARGS_MAX 24                /* words of one git command */
#define WT_LOCK_WAIT 150              /* seconds to wait for another baton's git */
#define WT_LOCK_POLL_MS 5

/* One worktree as git lists it. */
struct wt_tree {
	char *path, *head, *branch; /* branch: refs/heads/... or NULL */
};

/* The repository the project is: its main checkout and its worktrees. */
struct wt_repo {
	char *main;   /* the main checkout's top level */
	char *branch; /* its branch (short), or NULL when detached */
	struct wt_tree *trees;
	size_t ntrees;
};

/* What one operation works with. */
struct wt_st {
	struct wt_repo repo;
	cJSON *rec;  /* the record worked on (a copy) */
	cJSON *out;  /* the answer being built */
	cJSON *todo; /* cleanup: the worktrees left to look at */
	char *name;  /* create: the name chosen */
	int created;
};

static void
wt_st_free(void *arg)
{
	struct wt_st *st = arg;
	size_t i;

	for (i = 0; i < st->repo.ntrees; i++) {
		free(st->repo.trees[i].path);
		free(st->repo.trees[i].head);
		free(st->repo.trees[i].branch);
	}
	free(st->repo.trees);
	free(st->repo.main);
	free(st->repo.branch);
	cJSON_Delete(st->rec);
	cJSON_Delete(st->out);
	cJSON_Delete(st->todo);
	free(st->name);
	free(st);
}

static struct wt_st *
wt_st(struct xop *x)
{
	if (x->st == NULL) {
		x->st = xcalloc(1, sizeof(struct wt_st));
		x->st_free = wt_st_free;
	}
	return (x->st);
}

/*
 * git -C dir with the words that follow (NULL-terminated): 0 when it ran
 * (its status in ro->status), -1 when it could not (ro->err says why).
 */
static int
wt_git(struct run_out *ro, const char *dir, ...)
{
	static const char *const env[] = { "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0",
		NULL };
	const char *argv[WT_ARGS_MAX + 4];
	va_list ap;
	size_t n = 0;

	argv[n++] = "git";
	argv[n++] = "-C";
	argv[n++] = dir;
	va_start(ap, dir);
	while ((argv[n] = va_arg(ap, const char *)) != NULL) {
		if (++n == WT_ARGS_MAX + 3)
			fatalx("wt_git: too many words");
	}
	va_end(ap);
	return (run_argv(argv, env, WT_TIMEOUT, WT_OUT_MAX, ro));
}

/* Fail x with what git said when it did not run, or ran and failed. */
static int
wt_git_fail(struct xop *x, struct run_out *ro, const char *what)
{
	int r;

	if (ro->status == -1 || ro->timed_out)
		r = xop_fail(x, ERR_UNAVAILABLE, "%s: %s (is git installed?)", what,
		    run_said(ro));
	else if (ro->over)
		r = xop_fail(x, ERR_LIMIT, "%s: git said more than %d bytes", what, WT_OUT_MAX);
	else
		r = xop_fail(x, ERR_CONFLICT, "%s: %s", what, run_said(ro));
	run_free(ro);
	return (r);
}

/*
 * git is not safe against itself here: a `git worktree add` that runs
 * while another adds or lists worktrees fails ("failed to read
 * .git/worktrees/NAME/commondir").  So every baton that lists, adds,
 * merges or removes worktrees of a repository holds an flock(2) on
 * GITDIR/baton-worktrees.lock while it does, within one step (never
 * across a broker call: baton mcp runs several operations at once).
 * The holder runs git only, each command bounded by WT_TIMEOUT.
 * Returns the locked descriptor, -1 failed (x says why), or -2 when dir
 * is in no repository (the caller's git says so).
 */
static int
wt_lock(struct xop *x, const char *dir)
{
	struct run_out ro;
	double until;
	char *file;
	int fd;

	if (wt_git(&ro, dir, "rev-parse", "--path-format=absolute", "--git-common-dir", NULL) !=
		0 ||
	    ro.status != 0) {
		run_free(&ro);
		return (-2);
	}
	ro.out.s[strcspn(ro.out.s, "\n")] = '\0';
	xasprintf(&file, "%s/baton-worktrees.lock", ro.out.s);
	run_free(&ro);
	fd = open(file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		xop_fail(x, ERR_INTERNAL, "cannot open %s: %s", file, strerror(errno));
		free(file);
		return (-1);
	}
	until = mono_now() + WT_LOCK_WAIT;
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || mono_now() > until) {
			xop_fail(x, ERR_UNAVAILABLE,
			    "another baton has worked on this repository's worktrees for %d s "
			    "(%s): try again later",
			    WT_LOCK_WAIT, file);
			close(fd);
			free(file);
			return (-1);
		}
		usleep(WT_LOCK_POLL_MS * 1000); /* flock has no timeout: look, bounded */
	}
	free(file);
	return (fd);
}

static void
wt_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* The next NUL-terminated word of git's -z output at *off, or NULL at its end. */
static const char *
wt_word(const struct sbuf *sb, size_t *off)
{
	const char *w;

	if (*off >= sb->len)
		return (NULL);
	w = sb->s + *off;
	*off += strlen(w) + 1;
	return (w);
}

/* The directory git works from: the project when it is one, else the cwd. */
static char *
wt_start_dir(const char *project)
{
	struct stat sb;
	char cwd[PATH_MAX];

	if (project != NULL && project[0] == '/' && stat(project, &sb) == 0 &&
	    S_ISDIR(sb.st_mode))
		return (xstrdup(project));
	if (getcwd(cwd, sizeof cwd) == NULL)
		return (xstrdup("."));
	return (xstrdup(cwd));
}

/* Parse `git worktree list --porcelain -z` into rp (the first is the main checkout). */
static void
wt_parse_list(struct wt_repo *rp, const struct sbuf *out)
{
	struct wt_tree *t = NULL;
	const char *w;
	size_t off = 0;

	while ((w = wt_word(out, &off)) != NULL) {
		if (*w == '\0') {
			t = NULL;
			continue;
		}
		if (strncmp(w, "worktree ", 9) == 0) {
			rp->trees = xreallocarray(rp->trees, rp->ntrees + 1, sizeof *rp->trees);
			t = &rp->trees[rp->ntrees++];
			memset(t, 0, sizeof *t);
			t->path = xstrdup(w + 9);
		} else if (t != NULL && strncmp(w, "HEAD ", 5) == 0) {
			free(t->head);
			t->head = xstrdup(w + 5);
		} else if (t != NULL && strncmp(w, "branch ", 7) == 0) {
			free(t->branch);
			t->branch = xstrdup(w + 7);
		} else if (t != NULL && strcmp(w, "bare") == 0 && t == rp->trees) {
			free(t->path); /* no main checkout */
			t->path = NULL;
		}
	}
}

/* Find the repository of the project: its main checkout, its branch, its worktrees. */
static int
wt_repo(struct xop *x)
{
	struct wt_repo *rp = &wt_st(x)->repo;
	struct run_out ro;
	char *dir = wt_start_dir(x->project);
	int r, fd;

	if ((fd = wt_lock(x, dir)) == -1) {
		free(dir);
		return (XOP_FAIL);
	}
	r = wt_git(&ro, dir, "worktree", "list", "--porcelain", "-z", NULL);
	wt_unlock(fd);
	if (r != 0 || ro.status != 0) {
		r = xop_fail(x, ro.status == -1 ? ERR_UNAVAILABLE : ERR_NOT_FOUND,
		    "%s is not in a git repository (%s); worktrees need one", dir,
		    run_said(&ro));
		run_free(&ro);
		free(dir);
		return (r);
	}
	free(dir);
	wt_parse_list(rp, &ro.out);
	run_free(&ro);
	if (rp->ntrees == 0 || rp->trees[0].path == NULL)
		return (xop_fail(x, ERR_NOT_FOUND,
		    "the repository is bare: worktrees are made from a main checkout"));
	rp->main = xstrdup(rp->trees[0].path);
	if (rp->trees[0].branch != NULL && strncmp(rp->trees[0].branch, "refs/heads/", 11) == 0)
		rp->branch = xstrdup(rp->trees[0].branch + 11);
	return (0);
}

/* The worktree git has at path, or NULL. */
static struct wt_tree *
wt_tree_at(struct wt_repo *rp, const char *path)
{
	size_t i;

	for (i = 0; path != NULL && i < rp->ntrees; i++) {
		if (rp->trees[i].path != NULL && strcmp(rp->trees[i].path, path) == 0)
			return (&rp->trees[i]);
	}
	return (NULL);
}

/*
 * A worktree's name from an agent's: letters, digits, '.', '_' and '-'
 * kept, anything else '-'; no leading '.' or '-', no "..", no final '.'
 * or ".lock" (what git refuses in a branch), at most WT_NAME_MAX bytes.
 */
static void
wt_slug(const char *agent, char *out, size_t size)
{
	size_t n = 0;
	const char *p;
	char c;

	for (p = agent; *p != '\0' && n + 1 < size && n < WT_NAME_MAX; p++) {
		c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			c = '-';
		if (c == '.' && (n == 0 || out[n - 1] == '.'))
			c = '-';
		if (c == '-' && n == 0)
			continue;
		out[n++] = c;
	}
	out[n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[n - 1] = '-';
	if (n >= 5 && strcmp(out + n - 5, ".lock") == 0)
		out[n - 5] = '-';
	if (n == 0)
		snprintf(out, size, "agent");
}

/* A string member of a JSON object, or NULL. */
static const char *
wt_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return (cJSON_IsString(v) ? v->valuestring : NULL);
}

static int
wt_streq(const cJSON *o, const char *name, const char *want)
{
	const char *v = wt_str(o, name);

	return (v != NULL && want != NULL && strcmp(v, want) == 0);
}

/* The worktree record of agent in a worktree_get answer: its active one first. */
static cJSON *
wt_rec_of(const cJSON *answer, const char *agent)
{
	cJSON *w, *any = NULL;

	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(answer, "worktrees")) {
		if (!wt_streq(w, "agent", agent))
			continue;
		if (wt_streq(w, "state", "active"))
			return (w);
		if (any == NULL)
			any = w;
	}
	return (any);
}

/* The record named name in a worktree_get answer, or NULL. */
static cJSON *
wt_rec_named(const cJSON *answer, const char *name)
{
	cJSON *w;

	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(answer, "worktrees")) {
		if (wt_streq(w, "name", name))
			return (w);
	}
	return (NULL);
}

/* The agent an operation is about: its agent argument, else the caller. */
static const char *
wt_agent(struct xop *x)
{
	const char *a = xop_arg(x, "agent");

	return (a != NULL ? a : x->agent);
}

/* Ask the broker for the project's records (of agent, when not NULL). */
static int
wt_ask_records(struct xop *x, const char *agent)
{
	struct fbuf *fb = xop_call(x, OP_worktree_get);

	pk_kstr_opt(fb, "agent", agent);
	return (XOP_CALL);
}

/* Add up to WT_LIST_MAX strings to array arr; sets *more past that. */
static void
wt_list_add(cJSON *arr, const char *s, int *more)
{
	if (cJSON_GetArraySize(arr) >= WT_LIST_MAX) {
		*more = 1;
		return;
	}
	cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

/*
 * The files with uncommitted changes in the checkout at dir (untracked
 * files too: they are work nobody committed), into arr.  -1 when git
 * failed (ro kept for the message).
 */
static int
wt_dirty(struct run_out *ro, const char *dir, cJSON *arr, int *more)
{
	const char *w;
	size_t off = 0;

	if (wt_git(ro, dir, "status", "--porcelain=v1", "-z", "--untracked-files=all", NULL) !=
		0 ||
	    ro->status != 0)
		return (-1);
	while ((w = wt_word(&ro->out, &off)) != NULL) {
		if (strlen(w) < 4)
			continue;
		wt_list_add(arr, w + 3, more);
		if (w[0] == 'R' || w[0] == 'C')
			wt_word(&ro->out, &off); /* the name it had */
	}
	run_free(ro);
	return (0);
}

/* Make .baton/ invisible to git status: a line in the repository's info/exclude. */
static int
wt_exclude(struct xop *x)
{
	struct wt_repo *rp = &wt_st(x)->repo;
	struct run_out ro;
	struct text t;
	char *dir, *file, *line, *save = NULL;
	int fd, r = 0, found = 0;

	if (wt_git(&ro, rp->main, "rev-parse", "--path-format=absolute", "--git-common-dir",
		NULL) != 0 ||
	    ro.status != 0)
		return (wt_git_fail(x, &ro, "git rev-parse --git-common-dir"));
	ro.out.s[strcspn(ro.out.s, "\n")] = '\0';
	xasprintf(&dir, "%s/info", ro.out.s);
	xasprintf(&file, "%s/exclude", dir);
	run_free(&ro);
	if (mkdir(dir, 0777) == -1 && errno != EEXIST) {
		r = xop_fail(x, ERR_INTERNAL, "cannot make %s: %s", dir, strerror(errno));
		goto out;
	}
	if (setup_read(file, &t) != 0) {
		r = xop_fail(x, ERR_INTERNAL, "cannot read %s", file);
		goto out;
	}
	if (t.len > WT_EXCLUDE_MAX)
		found = 1; /* not ours to rewrite; git status shows .baton then */
	for (line = strtok_r(t.s, "\n", &save); !found && line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		found = strcmp(line, WT_EXCLUDE) == 0 || strcmp(line, ".baton/") == 0 ||
		    strcmp(line, ".baton") == 0 || strcmp(line, "/.baton") == 0;
	}
	if (!found) {
		fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
		if (fd == -1 ||
		    dprintf(fd, "%s# baton's worktrees and state\n" WT_EXCLUDE "\n",
			t.len > 0 && t.s[t.len - 1] != '\n' ? "\n" : "") < 0)
			r = xop_fail(x, ERR_INTERNAL, "cannot write %s: %s", file,
			    strerror(errno));
		if (fd != -1)
			close(fd);
	}
	free(t.s);
out:
	free(dir);
	free(file);
	return (r);
}

/* Is path a directory we may make worktrees under (not a symlink)?  Made when missing. */
static int
wt_safe_dir(struct xop *x, const char *path)
{
	struct stat sb;

	if (mkdir(path, 0777) == -1 && errno != EEXIST)
		return (xop_fail(x, ERR_INTERNAL, "cannot make %s: %s", path, strerror(errno)));
	if (lstat(path, &sb) == -1 || !S_ISDIR(sb.st_mode))
		return (xop_fail(x, ERR_CONFLICT,
		    "%s is not a directory (a symlink?): baton makes worktrees only in a "
		    "directory of the checkout",
		    path));
	return (0);
}

/* The commit name resolves to, into out (41+ bytes), or -1. */
static int
wt_rev(const char *dir, const char *name, char *out, size_t size)
{
	struct run_out ro;
	char *spec;
	int r;

	xasprintf(&spec, "%s^{commit}", name);
	r = wt_git(&ro, dir, "rev-parse", "--verify", "-q", spec, NULL);
	free(spec);
	if (r != 0 || ro.status != 0) {
		run_free(&ro);
		return (-1);
	}
	snprintf(out, size, "%.*s", (int)strcspn(ro.out.s, "\n"), ro.out.s);
	run_free(&ro);
	return (0);
}

/* Is commit a an ancestor of b (or b itself)?  1, 0, or -1 when git failed. */
static int
wt_ancestor(const char *dir, const char *a, const char *b)
{
	struct run_out ro;
	int r;

	r = wt_git(&ro, dir, "merge-base", "--is-ancestor", a, b, NULL);
	r = r != 0 ? -1 : ro.status == 0 ? 1 : ro.status == 1 ? 0 : -1;
	run_free(&ro);
	return (r);
}

/* ---- worktree_create ---- */

/* A name for agent's worktree: from its name, not taken by another agent's record. */
static char *
wt_pick_name(const cJSON *answer, const char *agent)
{
	char slug[WT_NAME_MAX + 1], *name;
	const cJSON *w;
	int k;

	wt_slug(agent, slug, sizeof slug);
	name = xstrdup(slug);
	for (k = 2; (w = wt_rec_named(answer, name)) != NULL && !wt_streq(w, "agent", agent);
	     k++) {
		free(name);
		xasprintf(&name, "%.*s-%d", WT_NAME_MAX - 4, slug, k);
	}
	return (name);
}

/*
 * Make the worktree named st->name on its branch, or adopt the one git
 * has there (its record was lost) when adopt is set; else a worktree
 * there already means the next name (NAME-2...).  Fills out with the
 * record to write.
 */
static int
wt_make_locked(struct xop *x, const char *agent, int adopt, cJSON *out)
{
	struct wt_st *st = wt_st(x);
	struct wt_repo *rp = &st->repo;
	const char *base = xop_arg(x, "base");
	char *path = NULL, *branch = NULL, *dir, *stem, commit[128], tip[128], *ref;
	struct wt_tree *t;
	struct run_out ro;
	struct stat sb;
	int r = 0, k;

	if (base == NULL && (base = rp->branch) == NULL)
		return (xop_fail(x, ERR_INVALID,
		    "the main checkout %s is on no branch (detached HEAD): give base, the "
		    "branch the worktree is to start from and merge into",
		    rp->main));
	if (wt_exclude(x) != 0)
		return (XOP_FAIL);
	xasprintf(&dir, "%s/.baton", rp->main);
	r = wt_safe_dir(x, dir);
	free(dir);
	xasprintf(&dir, "%s/" WT_DIR, rp->main);
	if (r == 0)
		r = wt_safe_dir(x, dir);
	free(dir);
	if (r != 0)
		return (XOP_FAIL);
	if (wt_rev(rp->main, base, commit, sizeof commit) != 0)
		return (xop_fail(x, ERR_NOT_FOUND, "base %s is no branch or commit of %s", base,
		    rp->main));
	stem = xstrdup(st->name);
	for (k = 1;; k++) {
		if (k > 1) {
			free(st->name);
			xasprintf(&st->name, "%.*s-%d", WT_NAME_MAX - 3, stem, k);
		}
		xasprintf(&path, "%s/" WT_DIR "/%s", rp->main, st->name);
		xasprintf(&branch, WT_BRANCH_PREFIX "%s", st->name);
		t = wt_tree_at(rp, path);
		if (t != NULL ? adopt : lstat(path, &sb) == -1)
			break;
		free(path);
		free(branch);
		if (k == 9) {
			r = xop_fail(x, ERR_CONFLICT,
			    "%s/" WT_DIR "/%s and 8 names after it are taken", rp->main, stem);
			free(stem);
			return (r);
		}
	}
	free(stem);
	if (t != NULL) {
		if (t->branch != NULL && strncmp(t->branch, "refs/heads/", 11) == 0) {
			free(branch);
			branch = xstrdup(t->branch + 11);
		}
	} else {
		xasprintf(&ref, "refs/heads/%s", branch);
		if (wt_rev(rp->main, ref, tip, sizeof tip) == 0)
			r = wt_git(&ro, rp->main, "worktree", "add", "--quiet", path, branch,
			    NULL);
		else
			r = wt_git(&ro, rp->main, "worktree", "add", "--quiet", "-b", branch,
			    path, commit, NULL);
		free(ref);
		if (r != 0 || ro.status != 0) {
			r = wt_git_fail(x, &ro, "git worktree add");
			goto out;
		}
		run_free(&ro);
		st->created = 1;
	}
	cJSON_AddStringToObject(out, "name", st->name);
	cJSON_AddStringToObject(out, "agent", agent);
	cJSON_AddStringToObject(out, "path", path);
	cJSON_AddStringToObject(out, "branch", branch);
	cJSON_AddStringToObject(out, "base", base);
	cJSON_AddStringToObject(out, "base_commit", commit);
out:
	free(path);
	free(branch);
	return (r);
}

/* wt_lock of the main checkout's repository: the descriptor, or -1 (x says why). */
static int
wt_lock_main(struct xop *x)
{
	int fd;

	if ((fd = wt_lock(x, wt_st(x)->repo.main)) == -2) {
		xop_fail(x, ERR_NOT_FOUND, "%s is no longer a git repository",
		    wt_st(x)->repo.main);
		return (-1);
	}
	return (fd);
}

/* wt_make_locked under the repository's worktree lock. */
static int
wt_make(struct xop *x, const char *agent, int adopt, cJSON *out)
{
	int fd, r;

	if ((fd = wt_lock_main(x)) == -1)
		return (XOP_FAIL);
	r = wt_make_locked(x, agent, adopt, out);
	wt_unlock(fd);
	return (r);
}

/* Record st->out's worktree in the broker: worktree_set with its fields. */
static int
wt_record(struct xop *x, const cJSON *w, const char *task)
{
	static const char *const fields[] = { "agent", "branch", "path", "base", "base_commit",
		NULL };
	struct fbuf *fb = xop_call(x, OP_worktree_set);
	size_t i;

	pk_kstr(fb, "name", wt_str(w, "name"));
	for (i = 0; fields[i] != NULL; i++)
		pk_kstr_opt(fb, fields[i], wt_str(w, fields[i]));
	pk_kstr_opt(fb, "task", task);
	pk_kstr(fb, "state", "active");
	return (XOP_CALL);
}

/*
 * worktree_create: the agent's worktree as recorded when git still has
 * it, else made (or adopted) and recorded.
 */
int
wt_create_step(struct xop *x)
{
	struct wt_st *st = wt_st(x);
	const char *agent = wt_agent(x), *task = xop_arg(x, "task");
	cJSON *rec;

	switch (x->n) {
	case 0:
		if (wt_repo(x) != 0)
			return (XOP_FAIL);
		return (wt_ask_records(x, NULL));
	case 1:
		st->out = cJSON_CreateObject();
		rec = wt_rec_of(x->answer, agent);
		if (rec != NULL && wt_tree_at(&st->repo, wt_str(rec, "path")) != NULL &&
		    (xop_arg(x, "base") == NULL || wt_streq(rec, "base", xop_arg(x, "base")))) {
			cJSON_AddStringToObject(st->out, "name", wt_str(rec, "name"));
			cJSON_AddStringToObject(st->out, "agent", agent);
			cJSON_AddStringToObject(st->out, "path", wt_str(rec, "path"));
			cJSON_AddStringToObject(st->out, "branch", wt_str(rec, "branch"));
			cJSON_AddStringToObject(st->out, "base", wt_str(rec, "base"));
			cJSON_AddStringToObject(st->out, "base_commit",
			    wt_str(rec, "base_commit") != NULL ? wt_str(rec, "base_commit")
							       : "");
			if (task == NULL)
				task = wt_str(rec, "task");
			return (wt_record(x, st->out, task));
		}
		st->name =
		    rec != NULL ? xstrdup(wt_str(rec, "name")) : wt_pick_name(x->answer, agent);
		if (wt_make(x, agent, 1, st->out) != 0)
			return (XOP_FAIL);
		return (wt_record(x, st->out, task));
	default:
		cJSON_DeleteItemFromObjectCaseSensitive(st->out, "agent");
		cJSON_AddBoolToObject(st->out, "created", st->created);
		cJSON_AddStringToObject(st->out, "hint",
		    "work and commit in path (your branch); the planner merges it into base "
		    "after approval (worktree_merge)");
		rec = st->out;
		st->out = NULL;
		return (xop_done(x, rec));
	}
}

/*
 * The claim of an isolation:worktree task answered r (task_claim's
 * result, changed in place): the claimant gets its worktree, made now
 * when git has none where the claim's record says, recorded with
 * record(arg, op, args); r's worktree and hint say where to work.  0, or
 * -1 with the hint saying what went wrong (the claim stands).
 */
int
wt_claim_fixup(cJSON *r, const char *project, int (*record)(void *, enum op_id, struct fbuf *),
    void *arg)
{
	cJSON *w = cJSON_GetObjectItemCaseSensitive(r, "worktree"), *out, *nw;
	const char *agent, *task, *path;
	struct op_error err;
	struct wt_st *st;
	struct xop *x;
	struct fbuf fb;
	char slug[WT_NAME_MAX + 1], *hint;
	int rc = 0;

	if (!cJSON_IsObject(w) ||
	    !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "claimed")) ||
	    (agent = wt_str(w, "agent")) == NULL)
		return (0);
	task = wt_str(w, "task");
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kstr(&fb, "agent", agent);
	pk_kstr_opt(&fb, "task", task);
	pk_map_close(&fb);
	memset(&err, 0, sizeof err);
	x = xop_new(&ops[OP_worktree_create], fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR,
	    project, agent, &err);
	fbuf_free(&fb);
	if (x == NULL)
		fatalx("wt_claim_fixup: %s", err.message);
	st = wt_st(x);
	out = cJSON_CreateObject();
	if (wt_repo(x) != 0)
		rc = -1;
	else if ((path = wt_str(w, "path")) != NULL && wt_tree_at(&st->repo, path) != NULL) {
		cJSON_AddStringToObject(out, "name", wt_str(w, "name"));
		cJSON_AddStringToObject(out, "agent", agent);
		cJSON_AddStringToObject(out, "path", path);
		cJSON_AddStringToObject(out, "branch", wt_str(w, "branch"));
		cJSON_AddStringToObject(out, "base", wt_str(w, "base"));
	} else {
		wt_slug(agent, slug, sizeof slug);
		st->name = xstrdup(wt_str(w, "name") != NULL ? wt_str(w, "name") : slug);
		if (wt_make(x, agent, 0, out) != 0)
			rc = -1;
	}
	if (rc == 0) {
		wt_record(x, out, task);
		pk_map_close(&x->cfb);
		if (record(arg, OP_worktree_set, &x->cfb) != 0)
			log_warnx("the worktree %s could not be recorded", wt_str(out, "name"));
		nw = cJSON_CreateObject();
		cJSON_AddStringToObject(nw, "name", wt_str(out, "name"));
		cJSON_AddStringToObject(nw, "path", wt_str(out, "path"));
		cJSON_AddStringToObject(nw, "branch", wt_str(out, "branch"));
		cJSON_AddStringToObject(nw, "base", wt_str(out, "base"));
		cJSON_AddBoolToObject(nw, "created", st->created);
		cJSON_ReplaceItemInObjectCaseSensitive(r, "worktree", nw);
		xasprintf(&hint,
		    "yours, in a git worktree of your own: cd %s (branch %s) and work and "
		    "commit "
		    "there, then task_submit {id, notes}; the planner merges it into %s after "
		    "approval",
		    wt_str(out, "path"), wt_str(out, "branch"), wt_str(out, "base"));
	} else
		xasprintf(&hint,
		    "yours, but your worktree could not be made (%s): tell the planner or "
		    "the user (baton worktree create -a AGENT -t TASK makes it); work there, "
		    "not in the main checkout",
		    x->why);
	cJSON_DeleteItemFromObjectCaseSensitive(r, "hint");
	cJSON_AddStringToObject(r, "hint", hint);
	free(hint);
	cJSON_Delete(out);
	xop_free(x);
	return (rc);
}

/* ---- worktree_status ---- */

/*
 * Is w (a record, or an orphan from git's list) a worktree baton made and
 * may run git on: its path under .baton/worktrees of the main checkout,
 * its branch baton/..., its base no option?  Records are written by any
 * client of the user's broker: what one names is never an argument git
 * could read as an option, nor a worktree or branch of the user's own.
 * NULL when it is, else why not (static).
 */
static const char *
wt_not_ours(struct xop *x, const cJSON *w)
{
	const char *path = wt_str(w, "path"), *branch = wt_str(w, "branch");
	const char *base = wt_str(w, "base");
	const char *main = wt_st(x)->repo.main;
	size_t n = strlen(main);

	if (path == NULL || strncmp(path, main, n) != 0 ||
	    strncmp(path + n, "/" WT_DIR "/", strlen(WT_DIR) + 2) != 0 ||
	    strstr(path + n, "/../") != NULL ||
	    strchr(path + n + strlen(WT_DIR) + 2, '/') != NULL)
		return ("its path is not a directory of " WT_DIR " in the main checkout");
	if (branch == NULL || strncmp(branch, WT_BRANCH_PREFIX, strlen(WT_BRANCH_PREFIX)) != 0)
		return ("its branch is not one of baton's (" WT_BRANCH_PREFIX "...)");
	if (base != NULL && base[0] == '-')
		return ("its base is no branch name");
	return (NULL);
}

/* The record this operation is about (rec, else agent's from the answer), kept in st->rec. */
static int
wt_take_rec(struct xop *x, const char *agent, const cJSON *rec)
{
	struct wt_st *st = wt_st(x);
	const char *why;

	if (rec == NULL)
		rec = wt_rec_of(x->answer, agent);
	if (rec == NULL)
		return (xop_fail(x, ERR_NOT_FOUND,
		    "%s has no worktree in this project (worktree_list lists them; "
		    "worktree_create makes one)",
		    agent));
	if ((why = wt_not_ours(x, rec)) != NULL)
		return (xop_fail(x, ERR_INVALID,
		    "%s's worktree record is not one baton works on: %s (worktree_set made it "
		    "so; forget it with remove)",
		    agent, why));
	st->rec = cJSON_Duplicate(rec, 1);
	return (0);
}

/* Files the branch changes against the merge base with base: {status, path}. */
static int
wt_changed(struct xop *x, const char *base, const char *branch, cJSON *out, int *more)
{
	struct wt_repo *rp = &wt_st(x)->repo;
	cJSON *files = cJSON_AddArrayToObject(out, "files"), *f;
	struct run_out ro;
	const char *st, *w;
	char *range;
	size_t off = 0;
	int r;

	xasprintf(&range, "%s...%s", base, branch);
	r = wt_git(&ro, rp->main, "diff", "--name-status", "-z", "--no-renames", range, NULL);
	free(range);
	if (r != 0 || ro.status != 0)
		return (wt_git_fail(x, &ro, "git diff"));
	while ((st = wt_word(&ro.out, &off)) != NULL && (w = wt_word(&ro.out, &off)) != NULL) {
		if (cJSON_GetArraySize(files) >= WT_LIST_MAX) {
			*more = 1;
			break;
		}
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "status", st);
		cJSON_AddStringToObject(f, "path", w);
		cJSON_AddItemToArray(files, f);
	}
	run_free(&ro);
	return (0);
}

/* Commits the branch has that base lacks (ahead) and the other way (behind). */
static int
wt_counts(struct xop *x, const char *base, const char *branch, cJSON *out)
{
	struct wt_repo *rp = &wt_st(x)->repo;
	struct run_out ro;
	long behind = 0, ahead = 0;
	char *range;
	int r;

	xasprintf(&range, "%s...%s", base, branch);
	r = wt_git(&ro, rp->main, "rev-list", "--left-right", "--count", range, NULL);
	free(range);
	if (r != 0 || ro.status != 0 || sscanf(ro.out.s, "%ld %ld", &behind, &ahead) != 2)
		return (wt_git_fail(x, &ro, "git rev-list"));
	run_free(&ro);
	cJSON_AddNumberToObject(out, "ahead", (double)ahead);
	cJSON_AddNumberToObject(out, "behind", (double)behind);
	return (0);
}

/*
 * Merge base and branch without touching any tree: *tree gets the
 * result's tree (41+ bytes), conflicts (when not NULL) the conflicting
 * files.  1 clean, 0 conflicts, -1 failed (x failed).
 */
static int
wt_merge_tree(struct xop *x, const char *base, const char *branch, char *tree, size_t size,
    cJSON *conflicts, int *more)
{
	struct wt_repo *rp = &wt_st(x)->repo;
	struct run_out ro;
	const char *w;
	size_t off = 0;
	int r;

	r = wt_git(&ro, rp->main, "merge-tree", "--write-tree", "--name-only", "--no-messages",
	    "-z", base, branch, NULL);
	if (r != 0 || (ro.status != 0 && ro.status != 1) || ro.out.len == 0) {
		wt_git_fail(x, &ro, "git merge-tree --write-tree (git 2.38 or later)");
		return (-1);
	}
	snprintf(tree, size, "%s", wt_word(&ro.out, &off));
	r = ro.status == 0;
	while (conflicts != NULL && (w = wt_word(&ro.out, &off)) != NULL && *w != '\0')
		wt_list_add(conflicts, w, more);
	run_free(&ro);
	return (r);
}

/* worktree_status: the worktree against its base, from git. */
int
wt_status_step(struct xop *x)
{
	struct wt_st *st = wt_st(x);
	const char *agent = wt_agent(x), *base, *branch, *path;
	cJSON *out, *unc, *conf;
	struct run_out ro;
	char tree[128];
	int more = 0, clean;

	if (x->n == 0) {
		if (wt_repo(x) != 0)
			return (XOP_FAIL);
		return (wt_ask_records(x, agent));
	}
	if (wt_take_rec(x, agent, NULL) != 0)
		return (XOP_FAIL);
	base = wt_str(st->rec, "base");
	branch = wt_str(st->rec, "branch");
	path = wt_str(st->rec, "path");
	if (base == NULL || branch == NULL || path == NULL)
		return (xop_fail(x, ERR_NOT_FOUND, "the record of %s's worktree is incomplete",
		    agent));
	out = st->out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "name", wt_str(st->rec, "name"));
	cJSON_AddStringToObject(out, "agent", agent);
	if (wt_str(st->rec, "task") != NULL)
		cJSON_AddStringToObject(out, "task", wt_str(st->rec, "task"));
	cJSON_AddStringToObject(out, "path", path);
	cJSON_AddStringToObject(out, "branch", branch);
	cJSON_AddStringToObject(out, "base", base);
	if (wt_counts(x, base, branch, out) != 0 ||
	    wt_changed(x, base, branch, out, &more) != 0)
		return (XOP_FAIL);
	unc = cJSON_AddArrayToObject(out, "uncommitted");
	if (wt_tree_at(&st->repo, path) != NULL && wt_dirty(&ro, path, unc, &more) != 0)
		return (wt_git_fail(x, &ro, "git status"));
	conf = cJSON_CreateArray();
	if ((clean = wt_merge_tree(x, base, branch, tree, sizeof tree, conf, &more)) < 0) {
		cJSON_Delete(conf);
		return (XOP_FAIL);
	}
	cJSON_AddBoolToObject(out, "clean_merge", clean);
	if (!clean)
		cJSON_AddItemToObject(out, "conflicts", conf);
	else
		cJSON_Delete(conf);
	cJSON_AddBoolToObject(out, "more", more);
	cJSON_AddStringToObject(out, "hint",
	    wt_tree_at(&st->repo, path) == NULL
		? "its directory is gone: worktree_cleanup forgets it"
		: cJSON_GetArraySize(unc) > 0 ? "commit the uncommitted files before a merge"
		: !clean ? "the conflicting files need the base merged into "
			   "the branch first, in the worktree"
			 : "worktree_merge merges it once its task is approved");
	st->out = NULL;
	return (xop_done(x, out));
}

/* ---- worktree_merge ---- */

/* A refusal: merged:false, the reason, the files in the way; nothing was changed. */
static int
wt_refuse(struct xop *x, cJSON *files, const char *hint, const char *fmt, ...)
{
	struct wt_st *st = wt_st(x);
	cJSON *out = cJSON_CreateObject();
	va_list ap;
	char *why;

	va_start(ap, fmt);
	if (xvasprintf(&why, fmt, ap) == -1)
		fatalx("out of memory");
	va_end(ap);
	cJSON_AddBoolToObject(out, "merged", 0);
	cJSON_AddStringToObject(out, "base", wt_str(st->rec, "base"));
	cJSON_AddStringToObject(out, "reason", why);
	cJSON_AddItemToObject(out, "files", files != NULL ? files : cJSON_CreateArray());
	cJSON_AddStringToObject(out, "hint", hint);
	free(why);
	return (xop_done(x, out));
}

/* The files the merge result tree changes against base, into files. */
static int
wt_touched(struct xop *x, const char *base, const char *tree, cJSON *files, int *more)
{
	struct wt_repo *rp = &wt_st(x)->repo;
	struct run_out ro;
	const char *w;
	size_t off = 0;

	if (wt_git(&ro, rp->main, "diff-tree", "-r", "--name-only", "-z", "--no-renames", base,
		tree, NULL) != 0 ||
	    ro.status != 0)
		return (wt_git_fail(x, &ro, "git diff-tree"));
	while ((w = wt_word(&ro.out, &off)) != NULL)
		wt_list_add(files, w, more);
	run_free(&ro);
	return (0);
}

/* The strings of a that are in b, as a new array. */
static cJSON *
wt_both(const cJSON *a, const cJSON *b)
{
	cJSON *both = cJSON_CreateArray(), *i, *j;

	cJSON_ArrayForEach(i, a) {
		cJSON_ArrayForEach(j, b) {
			if (strcmp(i->valuestring, j->valuestring) == 0) {
				cJSON_AddItemToArray(both, cJSON_CreateString(i->valuestring));
				break;
			}
		}
	}
	return (both);
}

/* Make the merge commit of tree on base and branch, without a working tree. */
static int
wt_commit_tree(struct xop *x, const char *tree, const char *base, const char *branch,
    char *commit, size_t size)
{
	struct wt_st *st = wt_st(x);
	const char *task = wt_str(st->rec, "task");
	struct run_out ro;
	char *msg;
	int r;

	xasprintf(&msg, "Merge branch '%s'%s%s%s into %s", wt_str(st->rec, "branch"),
	    task != NULL ? " (" : "", task != NULL ? task : "", task != NULL ? ")" : "",
	    wt_str(st->rec, "base"));
	r = wt_git(&ro, st->repo.main, "commit-tree", tree, "-p", base, "-p", branch, "-m", msg,
	    NULL);
	free(msg);
	if (r != 0 || ro.status != 0)
		return (wt_git_fail(x, &ro, "git commit-tree"));
	snprintf(commit, size, "%.*s", (int)strcspn(ro.out.s, "\n"), ro.out.s);
	run_free(&ro);
	return (0);
}

/*
 * Everything is checked: move the main checkout's branch to commit with
 * git merge --ff-only, which updates the files the merge changes and
 * keeps every other uncommitted change, or refuses.
 */
static int
wt_ff(struct xop *x, const char *commit, const char *how, cJSON *files)
{
	struct wt_st *st = wt_st(x);
	struct run_out ro;
	cJSON *out;
	char head[128];

	if (wt_git(&ro, st->repo.main, "merge", "--ff-only", "--quiet", commit, NULL) != 0)
		return (wt_git_fail(x, &ro, "git merge --ff-only"));
	if (ro.status != 0) {
		wt_refuse(x, files, "see the reason; commit or move your changes, then again",
		    "git merge --ff-only refused in the main checkout (nothing changed): %s",
		    run_said(&ro));
		run_free(&ro);
		return (XOP_DONE);
	}
	run_free(&ro);
	if (wt_rev(st->repo.main, "HEAD", head, sizeof head) != 0)
		snprintf(head, sizeof head, "%s", commit);
	out = st->out = cJSON_CreateObject();
	cJSON_AddBoolToObject(out, "merged", 1);
	cJSON_AddStringToObject(out, "how", how);
	cJSON_AddStringToObject(out, "commit", head);
	cJSON_AddStringToObject(out, "base", wt_str(st->rec, "base"));
	cJSON_AddItemToObject(out, "files", files);
	return (0);
}

/* The checks of a merge, then the merge: 0 merged (st->out), else x answered. */
static int
wt_merge_now_locked(struct xop *x)
{
	struct wt_st *st = wt_st(x);
	struct wt_repo *rp = &st->repo;
	const char *base = wt_str(st->rec, "base"), *branch = wt_str(st->rec, "branch");
	const char *path = wt_str(st->rec, "path");
	cJSON *files, *dirty, *both;
	struct run_out ro;
	char tree[128], commit[128], bc[128], brc[128];
	int more = 0, r;

	if (base == NULL || branch == NULL || path == NULL)
		return (xop_fail(x, ERR_NOT_FOUND, "the worktree's record is incomplete"));
	if (rp->branch == NULL || strcmp(rp->branch, base) != 0)
		return (wt_refuse(x, NULL,
		    "check out the base branch in the main checkout, or merge by hand",
		    "the main checkout %s has %s%s checked out, not %s, the branch this "
		    "worktree merges into",
		    rp->main, rp->branch != NULL ? "branch " : "",
		    rp->branch != NULL ? rp->branch : "no branch (detached HEAD)", base));
	dirty = cJSON_CreateArray();
	if (wt_tree_at(rp, path) != NULL && wt_dirty(&ro, path, dirty, &more) != 0) {
		cJSON_Delete(dirty);
		return (wt_git_fail(x, &ro, "git status in the worktree"));
	}
	if (cJSON_GetArraySize(dirty) > 0)
		return (wt_refuse(x, dirty,
		    "its owner commits (or removes) them in the worktree, then merge again",
		    "the worktree %s has uncommitted changes; they would not be merged", path));
	cJSON_Delete(dirty);
	if (wt_rev(rp->main, base, bc, sizeof bc) != 0 ||
	    wt_rev(rp->main, branch, brc, sizeof brc) != 0)
		return (
		    xop_fail(x, ERR_NOT_FOUND, "%s or %s is no longer a branch", base, branch));
	if ((r = wt_ancestor(rp->main, brc, bc)) == 1) {
		st->out = cJSON_CreateObject();
		cJSON_AddBoolToObject(st->out, "merged", 1);
		cJSON_AddStringToObject(st->out, "how", "nothing to merge");
		cJSON_AddStringToObject(st->out, "commit", bc);
		cJSON_AddStringToObject(st->out, "base", base);
		cJSON_AddItemToObject(st->out, "files", cJSON_CreateArray());
		return (0);
	}
	files = cJSON_CreateArray();
	if ((r = wt_merge_tree(x, bc, brc, tree, sizeof tree, files, &more)) < 0) {
		cJSON_Delete(files);
		return (XOP_FAIL);
	}
	if (r == 0)
		return (wt_refuse(x, files,
		    "merge the base into the branch in the worktree and resolve them there, "
		    "commit, then merge again",
		    "merging %s into %s conflicts in the files listed; nothing was changed",
		    branch, base));
	if (wt_touched(x, bc, tree, files, &more) != 0) {
		cJSON_Delete(files);
		return (XOP_FAIL);
	}
	dirty = cJSON_CreateArray();
	if (wt_dirty(&ro, rp->main, dirty, &more) != 0) {
		cJSON_Delete(dirty);
		cJSON_Delete(files);
		return (wt_git_fail(x, &ro, "git status in the main checkout"));
	}
	both = wt_both(files, dirty);
	cJSON_Delete(dirty);
	if (cJSON_GetArraySize(both) > 0) {
		cJSON_Delete(files);
		return (wt_refuse(x, both,
		    "commit or move those changes in the main checkout, then merge again",
		    "the main checkout %s has uncommitted changes in files the merge changes",
		    rp->main));
	}
	cJSON_Delete(both);
	if (wt_ancestor(rp->main, bc, brc) == 1)
		return (wt_ff(x, brc, "fast-forward", files));
	if (wt_commit_tree(x, tree, bc, brc, commit, sizeof commit) != 0) {
		cJSON_Delete(files);
		return (XOP_FAIL);
	}
	return (wt_ff(x, commit, "merge commit", files));
}

/*
 * The branch the main checkout has now, under the lock: the one read at
 * the start may have changed while the broker was asked about the task,
 * and git merge --ff-only moves whatever branch is checked out.
 */
static int
wt_merge_now_fresh(struct xop *x)
{
	struct wt_repo *rp = &wt_st(x)->repo;
	struct run_out ro;

	if (wt_git(&ro, rp->main, "symbolic-ref", "-q", "HEAD", NULL) != 0) {
		wt_git_fail(x, &ro, "git symbolic-ref HEAD");
		return (-1);
	}
	free(rp->branch);
	rp->branch = NULL;
	if (ro.status == 0 && ro.out.s != NULL && strncmp(ro.out.s, "refs/heads/", 11) == 0)
		rp->branch = xstrndup(ro.out.s + 11, strcspn(ro.out.s + 11, "\n"));
	run_free(&ro);
	return (0);
}

/* wt_merge_now_locked under the repository's worktree lock. */
static int
wt_merge_now(struct xop *x)
{
	int fd, r;

	if ((fd = wt_lock_main(x)) == -1)
		return (XOP_FAIL);
	r = wt_merge_now_fresh(x) != 0 ? XOP_FAIL : wt_merge_now_locked(x);
	wt_unlock(fd);
	return (r);
}

/* worktree_merge: checks, the merge, then the record says merged. */
int
wt_merge_step(struct xop *x)
{
	struct wt_st *st = wt_st(x);
	const char *agent = xop_arg(x, "agent"), *task, *status;
	struct fbuf *fb;
	const cJSON *w, *found = NULL;
	cJSON *out;
	int r;

	switch (x->n) {
	case 0:
		if (agent == NULL && xop_arg(x, "task") == NULL)
			return (xop_fail(x, ERR_INVALID,
			    "give agent (whose worktree) or task (the task's worktree)"));
		if (wt_repo(x) != 0)
			return (XOP_FAIL);
		return (wt_ask_records(x, agent));
	case 1:
		if (agent == NULL) { /* the task's worktree: the active one made for it */
			task = xop_arg(x, "task");
			found = NULL;
			cJSON_ArrayForEach(w,
			    cJSON_GetObjectItemCaseSensitive(x->answer, "worktrees")) {
				if (wt_streq(w, "task", task) &&
				    (found == NULL || wt_streq(w, "state", "active")))
					found = w;
			}
			if (found == NULL && (x->no_worktree = 1))
				return (xop_fail(x, ERR_NOT_FOUND,
				    "task %s has no worktree (worktree_list lists them)",
				    task));
			agent = wt_str(found, "agent");
		}
		if (wt_take_rec(x, agent, found) != 0)
			return (XOP_FAIL);
		if ((task = wt_str(st->rec, "task")) == NULL)
			return (XOP_NEXT);
		fb = xop_call(x, OP_task_get);
		pk_kstr(fb, "id", task);
		return (XOP_CALL);
	case 2:
		task = wt_str(st->rec, "task");
		status = x->answer != NULL ? wt_str(x->answer, "status") : NULL;
		if (task != NULL && status != NULL && strcmp(status, "done") != 0)
			return (wt_refuse(x, NULL, "review it (task_approve) first, then merge",
			    "%s is %s, not approved: its worktree is merged after approval",
			    task, status));
		if ((r = wt_merge_now(x)) != 0)
			return (r);
		fb = xop_call(x, OP_worktree_set);
		pk_kstr(fb, "name", wt_str(st->rec, "name"));
		pk_kstr(fb, "state", "merged");
		pk_kstr(fb, "commit", wt_str(st->out, "commit"));
		return (XOP_CALL);
	default:
		cJSON_AddStringToObject(st->out, "hint",
		    "merged; worktree_cleanup removes the worktree once its owner is gone");
		out = st->out;
		st->out = NULL;
		return (xop_done(x, out));
	}
}

/*
 * Does the project's repository merge a task's worktree when the task is
 * approved (git config baton.autoMerge true)?  Read by the client that
 * approves: baton task approve, task_approve through baton mcp.
 */
int
wt_auto_merge(const char *project)
{
	struct run_out ro;
	char *dir = wt_start_dir(project);
	int on;

	on = wt_git(&ro, dir, "config", "--type=bool", "--get", "baton.autoMerge", NULL) == 0 &&
	    ro.status == 0 && ro.out.s != NULL && strncmp(ro.out.s, "true", 4) == 0;
	run_free(&ro);
	free(dir);
	return (on);
}

/* ---- worktree_list ---- */

/*
 * Worktrees under .baton/worktrees that no record names (their record
 * was lost, or made by hand), added to list as records of state
 * "orphan" whose owner is nobody and whose base is the main checkout's.
 */
static void
wt_orphans(struct xop *x, cJSON *list)
{
	struct wt_repo *rp = &wt_st(x)->repo;
	const cJSON *w;
	const char *path, *branch;
	cJSON *o;
	char *dir;
	size_t i, n;

	xasprintf(&dir, "%s/" WT_DIR "/", rp->main);
	n = strlen(dir);
	for (i = 1; i < rp->ntrees; i++) {
		path = rp->trees[i].path;
		if (path == NULL || strncmp(path, dir, n) != 0 || strchr(path + n, '/') != NULL)
			continue;
		cJSON_ArrayForEach(w,
		    cJSON_GetObjectItemCaseSensitive(x->answer, "worktrees")) {
			if (wt_streq(w, "path", path))
				break;
		}
		if (w != NULL)
			continue;
		branch = rp->trees[i].branch;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", path + n);
		cJSON_AddStringToObject(o, "agent", "");
		cJSON_AddStringToObject(o, "branch",
		    branch != NULL && strncmp(branch, "refs/heads/", 11) == 0 ? branch + 11
									      : "");
		cJSON_AddStringToObject(o, "path", path);
		cJSON_AddStringToObject(o, "base", rp->branch != NULL ? rp->branch : "HEAD");
		cJSON_AddStringToObject(o, "state", "orphan");
		cJSON_AddBoolToObject(o, "owner_here", 0);
		cJSON_AddBoolToObject(o, "exists", 1);
		cJSON_AddItemToArray(list, o);
	}
	free(dir);
}

/* worktree_list: the records, with what git says of each, and worktrees nobody recorded. */
int
wt_list_step(struct xop *x)
{
	struct wt_st *st = wt_st(x);
	struct wt_repo *rp = &st->repo;
	cJSON *out, *list, *w, *o;

	if (x->n == 0) {
		if (wt_repo(x) != 0)
			return (XOP_FAIL);
		return (wt_ask_records(x, NULL));
	}
	out = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(out, "worktrees");
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(x->answer, "worktrees")) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", wt_str(w, "name"));
		cJSON_AddStringToObject(o, "agent",
		    wt_str(w, "agent") != NULL ? wt_str(w, "agent") : "");
		if (wt_str(w, "task") != NULL)
			cJSON_AddStringToObject(o, "task", wt_str(w, "task"));
		cJSON_AddStringToObject(o, "branch",
		    wt_str(w, "branch") != NULL ? wt_str(w, "branch") : "");
		cJSON_AddStringToObject(o, "path",
		    wt_str(w, "path") != NULL ? wt_str(w, "path") : "");
		cJSON_AddStringToObject(o, "base",
		    wt_str(w, "base") != NULL ? wt_str(w, "base") : "");
		cJSON_AddStringToObject(o, "state",
		    wt_str(w, "state") != NULL ? wt_str(w, "state") : "active");
		cJSON_AddBoolToObject(o, "owner_here",
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "owner_here")));
		cJSON_AddBoolToObject(o, "exists", wt_tree_at(rp, wt_str(w, "path")) != NULL);
		cJSON_AddItemToArray(list, o);
	}
	wt_orphans(x, list);
	cJSON_AddNumberToObject(out, "count", cJSON_GetArraySize(list));
	if (cJSON_GetArraySize(list) > 0)
		cJSON_AddStringToObject(out, "hint",
		    "worktree_status NAME shows one; worktree_cleanup removes those whose "
		    "owner "
		    "is gone and whose work is merged");
	return (xop_done(x, out));
}

/* ---- worktree_cleanup ---- */

/*
 * What removing w would lose: commits of its branch that its base
 * lacks, uncommitted files in it; into lost.  -1 when git failed.
 */
static int
wt_would_lose(struct xop *x, const cJSON *w, cJSON *lost)
{
	struct wt_repo *rp = &wt_st(x)->repo;
	const char *base = wt_str(w, "base"), *branch = wt_str(w, "branch");
	const char *path = wt_str(w, "path");
	cJSON *commits, *unc;
	struct run_out ro;
	char *range, c[128];
	const char *line;
	int more = 0;

	commits = cJSON_AddArrayToObject(lost, "commits");
	if (branch != NULL && *branch != '\0' && wt_rev(rp->main, branch, c, sizeof c) == 0) {
		xasprintf(&range, "%s..%s", base != NULL && *base != '\0' ? base : "HEAD",
		    branch);
		if (wt_git(&ro, rp->main, "log", "--format=%h %s", "-n", "50", range, NULL) !=
			0 ||
		    ro.status != 0) {
			free(range);
			return (wt_git_fail(x, &ro, "git log"));
		}
		free(range);
		for (line = strtok(ro.out.s, "\n"); line != NULL; line = strtok(NULL, "\n"))
			cJSON_AddItemToArray(commits, cJSON_CreateString(line));
		run_free(&ro);
	}
	unc = cJSON_AddArrayToObject(lost, "uncommitted");
	if (path != NULL && wt_tree_at(rp, path) != NULL &&
	    wt_dirty(&ro, path, unc, &more) != 0)
		return (wt_git_fail(x, &ro, "git status"));
	return (0);
}

/* Remove w's worktree and branch (git's own checks off when force). */
static int
wt_remove_locked(struct xop *x, const cJSON *w, int force)
{
	struct wt_repo *rp = &wt_st(x)->repo;
	const char *path = wt_str(w, "path"), *branch = wt_str(w, "branch");
	struct run_out ro;
	char c[128];
	int r;

	if (path != NULL && wt_tree_at(rp, path) != NULL) {
		if (force)
			r = wt_git(&ro, rp->main, "worktree", "remove", "--force", path, NULL);
		else
			r = wt_git(&ro, rp->main, "worktree", "remove", path, NULL);
		if (r != 0 || ro.status != 0)
			return (wt_git_fail(x, &ro, "git worktree remove"));
		run_free(&ro);
	}
	if (branch != NULL && *branch != '\0' && wt_rev(rp->main, branch, c, sizeof c) == 0) {
		if (wt_git(&ro, rp->main, "branch", "-D", "--quiet", branch, NULL) != 0 ||
		    ro.status != 0)
			return (wt_git_fail(x, &ro, "git branch -D"));
		run_free(&ro);
	}
	return (0);
}

/* wt_remove_locked under the repository's worktree lock. */
static int
wt_remove(struct xop *x, const cJSON *w, int force)
{
	int fd, r;

	if ((fd = wt_lock_main(x)) == -1)
		return (XOP_FAIL);
	r = wt_remove_locked(x, w, force);
	wt_unlock(fd);
	return (r);
}

/* Look at the next worktree of the cleanup: remove it (and ask to forget it) or keep it. */
static int
wt_cleanup_next(struct xop *x)
{
	struct wt_st *st = wt_st(x);
	cJSON *w, *lost, *o, *commits, *unc;
	struct fbuf *fb;
	const char *nw;
	char why[512];
	int force = xop_bool(x, "force"), nc, nu;

	while ((w = cJSON_DetachItemFromArray(st->todo, 0)) != NULL) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", wt_str(w, "name"));
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "owner_here"))) {
			snprintf(why, sizeof why, "its owner %s is here", wt_str(w, "agent"));
			cJSON_AddStringToObject(o, "why", why);
			cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(st->out, "kept"),
			    o);
			cJSON_Delete(w);
			continue;
		}
		if ((nw = wt_not_ours(x, w)) != NULL) {
			snprintf(why, sizeof why, "not baton's to remove: %s", nw);
			cJSON_AddStringToObject(o, "why", why);
			cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(st->out, "kept"),
			    o);
			cJSON_Delete(w);
			continue;
		}
		lost = cJSON_CreateObject();
		if (wt_would_lose(x, w, lost) != 0) {
			cJSON_Delete(lost);
			cJSON_Delete(o);
			cJSON_Delete(w);
			return (XOP_FAIL);
		}
		commits = cJSON_GetObjectItemCaseSensitive(lost, "commits");
		unc = cJSON_GetObjectItemCaseSensitive(lost, "uncommitted");
		nc = cJSON_GetArraySize(commits);
		nu = cJSON_GetArraySize(unc);
		if ((nc > 0 || nu > 0) && !force) {
			snprintf(why, sizeof why,
			    "%d commit%s not merged into %s, %d uncommitted file%s: merge or "
			    "commit them, or force to lose them",
			    nc, nc == 1 ? "" : "s",
			    wt_str(w, "base") != NULL ? wt_str(w, "base") : "its base", nu,
			    nu == 1 ? "" : "s");
			cJSON_AddStringToObject(o, "why", why);
			cJSON_AddItemToObject(o, "would_lose", lost);
			cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(st->out, "kept"),
			    o);
			cJSON_Delete(w);
			continue;
		}
		if (wt_remove(x, w, force) != 0) {
			cJSON_Delete(lost);
			cJSON_Delete(o);
			cJSON_Delete(w);
			return (XOP_FAIL);
		}
		cJSON_AddStringToObject(o, "branch",
		    wt_str(w, "branch") != NULL ? wt_str(w, "branch") : "");
		if (nc > 0 || nu > 0)
			cJSON_AddItemToObject(o, "lost", lost);
		else
			cJSON_Delete(lost);
		cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(st->out, "removed"), o);
		if (wt_str(w, "state") != NULL && strcmp(wt_str(w, "state"), "orphan") == 0) {
			cJSON_Delete(w);
			continue; /* no record to forget */
		}
		fb = xop_call(x, OP_worktree_set);
		pk_kstr(fb, "name", wt_str(w, "name"));
		pk_kbool(fb, "remove", 1);
		cJSON_Delete(w);
		return (XOP_CALL);
	}
	return (XOP_NEXT);
}

/*
 * worktree_cleanup: every worktree (or the agent's) whose owner is gone
 * and whose work is merged and committed goes, with its branch and
 * record; force takes the others too, saying what was lost.
 */
int
wt_cleanup_step(struct xop *x)
{
	struct wt_st *st = wt_st(x);
	const char *agent = xop_arg(x, "agent");
	struct run_out ro;
	cJSON *w, *list, *out;

	if (x->n == 0) {
		if (wt_repo(x) != 0)
			return (XOP_FAIL);
		return (wt_ask_records(x, NULL));
	}
	if (x->n == 1) {
		/* worktrees whose directory went: git forgets them first */
		if (wt_git(&ro, st->repo.main, "worktree", "prune", NULL) != 0 ||
		    ro.status != 0)
			return (wt_git_fail(x, &ro, "git worktree prune"));
		run_free(&ro);
		st->out = cJSON_CreateObject();
		cJSON_AddArrayToObject(st->out, "removed");
		cJSON_AddArrayToObject(st->out, "kept");
		st->todo = cJSON_CreateArray();
		list = cJSON_GetObjectItemCaseSensitive(x->answer, "worktrees");
		cJSON_ArrayForEach(w, list) {
			if (agent == NULL || wt_streq(w, "agent", agent))
				cJSON_AddItemToArray(st->todo, cJSON_Duplicate(w, 1));
		}
		if (agent == NULL)
			wt_orphans(x, st->todo);
	}
	if (cJSON_GetArraySize(st->todo) > 0 || x->n == 1) {
		int r = wt_cleanup_next(x);

		if (r != XOP_NEXT)
			return (r);
	}
	if (wt_git(&ro, st->repo.main, "worktree", "prune", NULL) == 0)
		run_free(&ro);
	else
		run_free(&ro);
	cJSON_AddStringToObject(st->out, "hint",
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st->out, "kept")) > 0
		? "kept ones say why; force removes those with unmerged or uncommitted work, "
		  "which is then lost"
		: "done");
	out = st->out;
	st->out = NULL;
	return (xop_done(x, out));
}
