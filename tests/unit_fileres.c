/* Unit tests of file: reservations: normalization and overlap (common/fileres.c). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "tap.h"

static const struct {
	const char *root, *path, *want;
} norm_cases[] = {
	{ "/p", "a", "a" },
	{ "/p", "./a", "a" },
	{ "/p", "a/../a", "a" },
	{ "/p", "/p/a", "a" },
	{ "/p", "src//x/./y.c", "src/x/y.c" },
	{ "/p", "src/", "src" },
	{ "/p", ".", "." },
	{ "/p", "/p", "." },
	{ "/p", "..", "/" },
	{ "/p", "../q/a", "/q/a" },
	{ "/p", "/etc/passwd", "/etc/passwd" },
	{ "/p", "/p2/a", "/p2/a" },
	{ "/p", "a/../../../..", "/" },
	{ "/", "a", "a" },
	{ "default", "a/../b", "b" },
	{ "/p", "src/**/*.c", "src/**/*.c" },
	{ "/p/", "/p/a", "a" },
	{ "/p/", "/p", "." },
};

/* Paths a project that is not a directory cannot hold. */
static const struct {
	const char *root, *path;
} refuse_cases[] = {
	{ "/p", "" },
	{ "default", "/tmp" },
	{ "default", "/" },
	{ "default", ".." },
	{ "default", "../b" },
	{ "default", "a/../.." },
	{ NULL, "/etc/passwd" },
};

static const struct {
	const char *root, *a, *b;
	int want;
} overlap_cases[] = {
	{ "/p", "src", "src/a.c", 1 },
	{ "/p", "src/a.c", "src", 1 },
	{ "/p", "src/a.c", "src/a.c", 1 },
	{ "/p", "src/a.c", "src/b.c", 0 },
	{ "/p", "src", "srcx", 0 },
	{ "/p", "src", "docs/a.md", 0 },
	{ "/p", ".", "anything/at/all", 1 },
	{ "/p", "src/**/*.c", "src/x/y.c", 1 },
	{ "/p", "src/**/*.c", "src/y.c", 1 },
	{ "/p", "src/**/*.c", "docs/a.md", 0 },
	/* a plain path may be a directory: src/x/y.h/z.c would match */
	{ "/p", "src/**/*.c", "src/x/y.h", 1 },
	{ "/p", "src/*/*.c", "src/x.h", 1 },
	{ "/p", "src/*.c", "src/x.h", 0 },
	{ "/p", "src/**/*.c", "src", 1 },
	{ "/p", "src/**/*.c", "src/x", 1 },
	{ "/p", "src/*", "src/x/y.c", 1 },
	{ "/p", "src/*.c", "src/x/y.c", 0 },
	{ "/p", "src/*.c", "src/a.c", 1 },
	{ "/p", "src/*.c", "src/*.h", 0 },
	{ "/p", "src/*.c", "src/a*", 1 },
	{ "/p", "src/**", "docs/**", 0 },
	{ "/p", "src/**/*.c", "src/lib/**", 1 },
	{ "/p", "**/*.md", "src/a.c", 1 },
	{ "/p", "*.md", "a.c", 0 },
	{ "/p", "a/?.c", "a/b.c", 1 },
	{ "/p", "a/?.c", "a/bb.c", 0 },
	{ "/p", "a/[xy].c", "a/x.c", 1 },
	{ "/p", "a/[xy].c", "a/z.c", 0 },
	{ "/p", "/etc/x", "etc/x", 0 },
	{ "/p", "/etc", "/etc/x", 1 },
	/* names outside the project are compared with the project's own, as absolute paths */
	{ "/p", "/", "src/x.c", 1 },
	{ "/p", "/", ".", 1 },
	{ "/p", "/**", "src/x.c", 1 },
	{ "/p", "/*/src", "src/x.c", 1 },
	{ "/p", "/q/**", "src/x.c", 0 },
	{ "/p", "/p2", "src/x.c", 0 },
	{ "/home/u/p", "/home/u", "src/x.c", 1 },
	{ "/home/u/p/", "/home/u", "src/x.c", 1 },
	{ "/tmp/p", "/tmp", "src/x.c", 1 },
	{ "/home/u/p", "/tmp", "src/x.c", 0 },
	{ "/home/u/p", "/home/*/p/src", "src/x.c", 1 },
	{ "/home/u/p", "/home/*/q", "src/x.c", 0 },
	{ "/home/u/p", "/home/u/p/src", "src/x.c", 1 },
	{ "/", "etc", "etc/x", 1 },
	{ "default", "a", "a/b", 1 },
	{ "default", "a", "b", 0 },
};

int
main(void)
{
	char *out, *cause;
	size_t i;

	for (i = 0; i < nitems(norm_cases); i++) {
		out = cause = NULL;
		if (file_normalize(norm_cases[i].root, norm_cases[i].path,
			strlen(norm_cases[i].path), &out, &cause) != 0) {
			ok(0, "normalize %s in %s: %s", norm_cases[i].path, norm_cases[i].root,
			    cause);
			free(cause);
			continue;
		}
		if (!ok(strcmp(out, norm_cases[i].want) == 0, "normalize %s in %s -> %s",
			norm_cases[i].path, norm_cases[i].root, norm_cases[i].want))
			diag("got %s", out);
		free(out);
	}
	for (i = 0; i < nitems(refuse_cases); i++) {
		out = cause = NULL;
		if (!ok(file_normalize(refuse_cases[i].root, refuse_cases[i].path,
			    strlen(refuse_cases[i].path), &out, &cause) != 0,
			"'%s' refused in %s", refuse_cases[i].path,
			refuse_cases[i].root != NULL ? refuse_cases[i].root : "no project"))
			diag("got %s", out);
		else
			diag("%s", cause);
		free(out);
		free(cause);
	}
	cause = NULL;
	ok(file_normalize("/p", "a\0b", 3, &out, &cause) != 0, "NUL byte refused");
	free(cause);
	{
		/* ".." beyond the bound of components, where there is nothing to go up to */
		char deep[3 * 400 + 1];
		deep[0] = '\0';
		for (i = 0; i < 400; i++)
			strcat(deep, "../");
		out = cause = NULL;
		ok(file_normalize("default", deep, strlen(deep), &out, &cause) != 0,
		    "400 x .. in a project that is not a directory: refused");
		free(out);
		free(cause);
	}
	for (i = 0; i < nitems(overlap_cases); i++) {
		const char *root = overlap_cases[i].root;

		ok(file_overlap(root, overlap_cases[i].a, overlap_cases[i].b) ==
			overlap_cases[i].want,
		    "%s ~ %s in %s: %s", overlap_cases[i].a, overlap_cases[i].b, root,
		    overlap_cases[i].want ? "overlap" : "disjoint");
		ok(file_overlap(root, overlap_cases[i].b, overlap_cases[i].a) ==
			overlap_cases[i].want,
		    "%s ~ %s in %s (swapped)", overlap_cases[i].b, overlap_cases[i].a, root);
	}
	{
		/* many ** must not explode */
		char big[256], big2[256];
		strcpy(big, "");
		strcpy(big2, "");
		for (i = 0; i < 40; i++) {
			strcat(big, "**/");
			strcat(big2, "*/");
		}
		strcat(big, "x");
		strcat(big2, "y");
		ok(file_overlap("/p", big, big2) == 1,
		    "40 x ** against 40 x * terminates (x may hold y)");
	}
	return (done_testing());
}
