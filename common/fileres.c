/*
 * File reservations: lock names "file:PATH".  Paths are normalized
 * lexically against the project root (the broker never looks at the
 * file system for a peer's path), and two reservations overlap when one
 * could cover what the other names: a path covers everything beneath
 * it, a glob ("*", "?", "[...]" within a segment, "**" across segments)
 * covers every path it matches.  Names are kept relative to the root
 * when inside it, but always compared as absolute paths, so that a
 * reservation of an ancestor of the root ("file:..", "file:/") covers
 * the whole project.
 */
#include "config.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define SEGS_MAX 256

/* Does s contain glob syntax? */
int
file_is_glob(const char *s)
{
	return (strpbrk(s, "*?[") != NULL);
}

/* Is root a directory path the reservations of its project can be resolved against? */
static int
file_root_is_path(const char *root)
{
	return (root != NULL && root[0] == '/');
}

/*
 * Collapse "//", "." and ".." of joined (modified in place) into a new
 * malloc'd path: "/" or "." when nothing is left.  ".." above the top
 * stays in a relative path and goes in an absolute one.
 */
static int
file_collapse(char *joined, char **out, char **cause)
{
	char *segs[SEGS_MAX], *p, *save = NULL, *res;
	size_t nsegs = 0, i, len;
	int absolute = joined[0] == '/';

	for (p = strtok_r(joined, "/", &save); p != NULL; p = strtok_r(NULL, "/", &save)) {
		if (strcmp(p, ".") == 0)
			continue;
		if (strcmp(p, "..") == 0 && nsegs > 0 && strcmp(segs[nsegs - 1], "..") != 0) {
			nsegs--;
			continue;
		}
		if (strcmp(p, "..") == 0 && absolute)
			continue;
		if (nsegs == SEGS_MAX) {
			xasprintf(cause, "file path has more than %d components", SEGS_MAX);
			return (-1);
		}
		segs[nsegs++] = p;
	}
	len = 2;
	for (i = 0; i < nsegs; i++)
		len += strlen(segs[i]) + 1;
	res = xmalloc(len);
	res[0] = '\0';
	for (i = 0; i < nsegs; i++) {
		if (absolute || i > 0)
			strcat(res, "/");
		strcat(res, segs[i]);
	}
	if (res[0] == '\0')
		strcpy(res, absolute ? "/" : ".");
	*out = res;
	return (0);
}

/* The length of root without trailing slashes (1 for "/"). */
static size_t
file_root_len(const char *root)
{
	size_t n = strlen(root);

	while (n > 1 && root[n - 1] == '/')
		n--;
	return (n);
}

/*
 * Normalize path (n bytes) against root: collapse "//", ".", "..";
 * relative to root when inside it ("." for the root itself), absolute
 * otherwise.  A project that is not a path (a raw client's "default")
 * has no place in the file system: there a path must be relative and
 * stay inside it.  *out is malloc'd.
 */
int
file_normalize(const char *root, const char *path, size_t n, char **out, char **cause)
{
	char *joined, *res, *p;
	size_t rootlen;
	int r;

	if (n == 0) {
		xasprintf(cause, "empty file path");
		return (-1);
	}
	if (memchr(path, '\0', n) != NULL) {
		xasprintf(cause, "file path contains a NUL byte");
		return (-1);
	}
	if (!file_root_is_path(root)) {
		if (path[0] == '/') {
			xasprintf(cause,
			    "project %s is not a directory: a file path in it must be "
			    "relative",
			    root != NULL ? root : "(none)");
			return (-1);
		}
		xasprintf(&joined, "%.*s", (int)n, path);
	} else if (path[0] == '/')
		xasprintf(&joined, "%.*s", (int)n, path);
	else
		xasprintf(&joined, "%s/%.*s", root, (int)n, path);
	r = file_collapse(joined, &res, cause);
	free(joined);
	if (r != 0)
		return (-1);
	if (!file_root_is_path(root)) {
		if (strncmp(res, "..", 2) == 0 && (res[2] == '\0' || res[2] == '/')) {
			xasprintf(cause,
			    "project %s is not a directory: a file path in it cannot "
			    "leave it with ..",
			    root != NULL ? root : "(none)");
			free(res);
			return (-1);
		}
		*out = res;
		return (0);
	}
	/* inside the root: make it relative */
	rootlen = file_root_len(root);
	if (strncmp(res, root, rootlen) == 0 &&
	    (res[rootlen] == '\0' || res[rootlen] == '/' || rootlen == 1)) {
		p = res[rootlen] == '\0' ? xstrdup(".")
					 : xstrdup(res + rootlen + (rootlen == 1 ? 0 : 1));
		free(res);
		res = p;
	}
	*out = res;
	return (0);
}

/*
 * Split a normalized path into segments (in place); "." has none, an
 * absolute path starts with "/".  segs holds SEGS_MAX + 1.
 */
static size_t
file_split(char *s, char **segs)
{
	char *p, *save = NULL;
	size_t n = 0;

	if (strcmp(s, ".") == 0)
		return (0);
	if (s[0] == '/')
		segs[n++] = (char *)"/";
	for (p = strtok_r(s, "/", &save); p != NULL && n <= SEGS_MAX;
	     p = strtok_r(NULL, "/", &save))
		segs[n++] = p;
	return (n);
}

/* Literal text before the first wildcard of a segment pattern. */
static size_t
seg_prefix(const char *s)
{
	return (strcspn(s, "*?["));
}

/* Could one string match both segment patterns a and b? */
static int
seg_intersect(const char *a, const char *b)
{
	size_t pa, pb, la, lb, sa, sb;
	const char *ta, *tb;

	if (!file_is_glob(a))
		return (!file_is_glob(b) ? strcmp(a, b) == 0 : fnmatch(b, a, 0) == 0);
	if (!file_is_glob(b))
		return (fnmatch(a, b, 0) == 0);
	/* both wildcards: rule out only what literal prefixes or suffixes forbid */
	pa = seg_prefix(a);
	pb = seg_prefix(b);
	if (strncmp(a, b, pa < pb ? pa : pb) != 0)
		return (0);
	ta = strrchr(a, '*');
	tb = strrchr(b, '*');
	if (ta == NULL || tb == NULL || file_is_glob(ta + 1) || file_is_glob(tb + 1))
		return (1);
	la = strlen(ta + 1);
	lb = strlen(tb + 1);
	sa = la < lb ? la : lb;
	sb = sa;
	return (memcmp(ta + 1 + la - sa, tb + 1 + lb - sb, sa) == 0);
}

/*
 * May a and b (segment lists) name overlapping trees?  True when a
 * prefix of one can match the other: a path covers its subtree.
 * memo holds (na+1)*(nb+1) cells: 0 unknown, 1 yes, 2 no.
 */
static int
file_ov(char **a, size_t na, size_t i, char **b, size_t nb, size_t j, unsigned char *memo)
{
	unsigned char *m = &memo[i * (nb + 1) + j];
	int r;

	if (*m != 0)
		return (*m == 1);
	if (i == na || j == nb)
		r = 1;
	else if (strcmp(a[i], "**") == 0)
		r = file_ov(a, na, i + 1, b, nb, j, memo) ||
		    file_ov(a, na, i, b, nb, j + 1, memo);
	else if (strcmp(b[j], "**") == 0)
		r = file_ov(a, na, i, b, nb, j + 1, memo) ||
		    file_ov(a, na, i + 1, b, nb, j, memo);
	else if ((strcmp(a[i], "/") == 0) != (strcmp(b[j], "/") == 0))
		r = 0;
	else
		r = seg_intersect(a[i], b[j]) && file_ov(a, na, i + 1, b, nb, j + 1, memo);
	*m = r ? 1 : 2;
	return (r);
}

/*
 * A normalized reservation as an absolute path (malloc'd): relative
 * names are taken under root.  In a project that is not a path every
 * name is relative (file_normalize sees to it) and stays so.
 */
static char *
file_absolute(const char *root, const char *x)
{
	size_t n;
	char *p;

	if (x[0] == '/' || !file_root_is_path(root))
		return (xstrdup(x));
	n = file_root_len(root);
	if (strcmp(x, ".") == 0)
		return (xstrndup(root, n));
	xasprintf(&p, "%.*s%s%s", (int)n, root, n == 1 ? "" : "/", x);
	return (p);
}

/*
 * Do two normalized reservations (without "file:") of the project
 * rooted at root overlap?  Both are compared as absolute paths, so a
 * name outside the project that covers its root (an ancestor, a glob)
 * overlaps every name inside it.
 */
int
file_overlap(const char *root, const char *x, const char *y)
{
	char *a = file_absolute(root, x), *b = file_absolute(root, y);
	char *sa[SEGS_MAX + 1], *sb[SEGS_MAX + 1];
	size_t na, nb;
	unsigned char *memo;
	int r;

	if ((a[0] == '/') != (b[0] == '/'))
		r = 1; /* a name from before paths were checked: cannot rule it out */
	else {
		na = file_split(a, sa);
		nb = file_split(b, sb);
		memo = xcalloc((na + 1) * (nb + 1), 1);
		r = file_ov(sa, na, 0, sb, nb, 0, memo);
		free(memo);
	}
	free(a);
	free(b);
	return (r);
}
