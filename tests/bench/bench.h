/*
 * Shared by the benchmarks: option parsing, latency samples and the one
 * output line run.sh reads:
 *
 *   NAME: N round trips in S s: R/s  mean M us  p50 P us  p99 Q us
 */
#ifndef BATON_BENCH_H
#define BATON_BENCH_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_WARMUP 200

struct bench {
	const char *name;
	double seconds; /* run this long, or */
	size_t count;   /* this many round trips (when set) */
	double *lat;    /* microseconds per round trip */
	size_t n, size;
	double start, total;
};

/* Monotonic time in seconds. */
static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Parse -t SECONDS and -n COUNT; other options are left to the caller via optstring. */
static inline void
bench_init(struct bench *b, const char *name)
{
	memset(b, 0, sizeof *b);
	b->name = name;
	b->seconds = 5;
}

/*
 * The options the benchmarks share: -n COUNT, -t SECONDS, -S SOCKET and,
 * when clients is not NULL, -c CLIENTS.  1 when ch was one of them.
 */
static inline int
bench_option(struct bench *b, int ch, const char **sock, int *clients)
{
	switch (ch) {
	case 'c':
		if (clients == NULL)
			return (0);
		*clients = atoi(optarg);
		return (1);
	case 'n': b->count = strtoul(optarg, NULL, 10); return (1);
	case 'S': *sock = optarg; return (1);
	case 't': b->seconds = strtod(optarg, NULL); return (1);
	}
	return (0);
}

/* Is the run over? */
static inline int
bench_done(const struct bench *b, double now)
{
	if (b->count != 0)
		return (b->n >= b->count);
	return (now - b->start >= b->seconds);
}

/* Record one round trip that took us microseconds. */
static inline void
bench_add(struct bench *b, double us)
{
	if (b->n == b->size) {
		b->size = b->size != 0 ? b->size * 2 : 65536;
		if ((b->lat = realloc(b->lat, b->size * sizeof *b->lat)) == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	b->lat[b->n++] = us;
}

/* qsort comparator for doubles. */
static inline int
bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

/* Print the result line. */
static inline void
bench_report(struct bench *b)
{
	double sum = 0;
	size_t i;

	if (b->n == 0) {
		printf("%s: no round trips\n", b->name);
		return;
	}
	for (i = 0; i < b->n; i++)
		sum += b->lat[i];
	qsort(b->lat, b->n, sizeof *b->lat, bench_cmp);
	printf("%s: %zu round trips in %.2f s: %.0f/s  mean %.1f us  p50 %.1f us  p99 %.1f "
	       "us\n",
	    b->name, b->n, b->total, (double)b->n / b->total, sum / (double)b->n,
	    b->lat[b->n / 2], b->lat[(b->n * 99) / 100]);
	fflush(stdout);
	free(b->lat);
	b->lat = NULL;
}

/*
 * The CPU time process pid has used, all its threads (batond's folder
 * too), in microseconds; -1 when unknown.
 */
static inline double
bench_cpu_us(long pid)
{
	char path[320];
	unsigned long long ns, sum = 0;
	struct dirent *de;
	DIR *d;
	FILE *f;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%ld/task", pid);
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%ld/task/%s/schedstat", pid, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fscanf(f, "%llu", &ns) == 1) {
			sum += ns;
			n++;
		}
		fclose(f);
	}
	closedir(d);
	return (n > 0 ? (double)sum / 1e3 : -1);
}

#endif /* BATON_BENCH_H */
