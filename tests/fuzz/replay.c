/*
 * The fuzz targets without libFuzzer: a main that runs every file named
 * on the command line (every file of a directory named) through
 * LLVMFuzzerTestOneInput once.  make check builds each target with it,
 * with the project's own compiler and flags (and sanitizers when
 * configured so), and replays the seeds and the regression inputs in
 * tests/fuzz/regress: a target that no longer builds, or an input that
 * once crashed the broker, fails the tests.  LLVMFuzzerInitialize runs
 * first when the target has one, as libFuzzer runs it.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fuzz.h"

#define REPLAY_MAX (1024 * 1024) /* bytes of one input */

/* Run one file; 0, or -1 when it cannot be read. */
static int
replay_file(const char *path)
{
	static unsigned char buf[REPLAY_MAX];
	unsigned char *copy;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: cannot open\n", path);
		return (-1);
	}
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	/* an exact-size copy, so that the sanitizers see a read past the end */
	copy = xmalloc(n == 0 ? 1 : n);
	memcpy(copy, buf, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	return (0);
}

/* Run path, a file or every regular file of a directory; the count, -1 on error. */
static int
replay_path(const char *path)
{
	struct dirent *e;
	struct stat sb;
	char *p;
	DIR *d;
	int n = 0;

	if (stat(path, &sb) != 0) {
		fprintf(stderr, "replay: %s: no such file or directory\n", path);
		return (-1);
	}
	if (!S_ISDIR(sb.st_mode))
		return (replay_file(path) == 0 ? 1 : -1);
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL) {
		xasprintf(&p, "%s/%s", path, e->d_name);
		if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
			if (replay_file(p) != 0)
				n = -1;
			else if (n >= 0)
				n++;
		}
		free(p);
	}
	closedir(d);
	return (n);
}

int
main(int argc, char **argv)
{
	int i, n, total = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if ((n = replay_path(argv[i])) < 0)
			return (1);
		total += n;
	}
	printf("replayed %d inputs\n", total);
	return (0);
}
