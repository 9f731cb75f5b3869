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
	{ "default", "../b", "../b" },
	{ "/p", "src/**/*.c", "src/**/*.c" },
};

static const struct {
	const char *a, *b;
	int want;
} overlap_cases[] = {
	{ "src", "src/a.c", 1 },
	{ "src/a.c", "src", 1 },
	{ "src/a.c", "src/a.c", 1 },
	{ "src/a.c", "src/b.c", 0 },
	{ "src", "srcx", 0 },
	{ "src", "docs/a.md", 0 },
	{ ".", "anything/at/all", 1 },
	{ "src/**/*.c", "src/x/y.c", 1 },
	{ "src/**/*.c", "src/y.c", 1 },
	{ "src/**/*.c", "docs/a.md", 0 },
	/* a plain path may be a directory: src/x/y.h/z.c would match */
	{ "src/**/*.c", "src/x/y.h", 1 },
	{ "src/*/*.c", "src/x.h", 1 },
	{ "src/*.c", "src/x.h", 0 },
	{ "src/**/*.c", "src", 1 },
	{ "src/**/*.c", "src/x", 1 },
	{ "src/*", "src/x/y.c", 1 },
	{ "src/*.c", "src/x/y.c", 0 },
	{ "src/*.c", "src/a.c", 1 },
	{ "src/*.c", "src/*.h", 0 },
	{ "src/*.c", "src/a*", 1 },
	{ "src/**", "docs/**", 0 },
	{ "src/**/*.c", "src/lib/**", 1 },
	{ "**/*.md", "src/a.c", 1 },
	{ "*.md", "a.c", 0 },
	{ "a/?.c", "a/b.c", 1 },
	{ "a/?.c", "a/bb.c", 0 },
	{ "a/[xy].c", "a/x.c", 1 },
	{ "a/[xy].c", "a/z.c", 0 },
	{ "/etc/x", "etc/x", 0 },
	{ "/etc", "/etc/x", 1 },
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
	cause = NULL;
	ok(file_normalize("/p", "", 0, &out, &cause) != 0, "empty path refused");
	free(cause);
	cause = NULL;
	ok(file_normalize("/p", "a\0b", 3, &out, &cause) != 0, "NUL byte refused");
	free(cause);
	for (i = 0; i < nitems(overlap_cases); i++) {
		ok(file_overlap(overlap_cases[i].a, overlap_cases[i].b) ==
			overlap_cases[i].want,
		    "%s ~ %s: %s", overlap_cases[i].a, overlap_cases[i].b,
		    overlap_cases[i].want ? "overlap" : "disjoint");
		ok(file_overlap(overlap_cases[i].b, overlap_cases[i].a) ==
			overlap_cases[i].want,
		    "%s ~ %s (swapped)", overlap_cases[i].b, overlap_cases[i].a);
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
		ok(file_overlap(big, big2) == 1,
		    "40 x ** against 40 x * terminates (x may hold y)");
	}
	return (done_testing());
}
