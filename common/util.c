/* Allocation that dies on exhaustion, clocks, randomness, fd flags. */
#include "config.h"

#include <sys/random.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

void *
xmalloc(size_t size)
{
	void *p;

	if (size == 0)
		fatalx("xmalloc: zero size");
	if ((p = malloc(size)) == NULL)
		fatal("xmalloc: allocating %zu bytes", size);
	return (p);
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		fatalx("xcalloc: zero size");
	if ((p = calloc(nmemb, size)) == NULL)
		fatal("xcalloc: allocating %zu * %zu bytes", nmemb, size);
	return (p);
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		fatalx("xreallocarray: zero size");
	if (size != 0 && nmemb > SIZE_MAX / size)
		fatalx("xreallocarray: %zu * %zu overflows", nmemb, size);
	if ((p = realloc(ptr, nmemb * size)) == NULL)
		fatal("xreallocarray: allocating %zu * %zu bytes", nmemb, size);
	return (p);
}

char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		fatal("xstrdup");
	return (p);
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;

	if ((p = strndup(s, n)) == NULL)
		fatal("xstrndup");
	return (p);
}

int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	int n;

	if ((n = vasprintf(ret, fmt, ap)) == -1)
		fatal("xvasprintf");
	return (n);
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return (n);
}

/* A broken invariant or exhausted resource: log and stop. */
void
fatal(const char *fmt, ...)
{
	char *msg;
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	log_warnx("fatal: %s: %s", msg != NULL ? msg : fmt, strerror(saved));
	exit(70);
}

void
fatalx(const char *fmt, ...)
{
	char *msg;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	log_warnx("fatal: %s", msg != NULL ? msg : fmt);
	exit(70);
}

uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * Fill buf with size-1 random hex digits from the kernel CSPRNG, drawn
 * from a pool refilled 4096 bytes at a time (one syscall per 256 tokens).
 */
void
random_hex(char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	static unsigned char pool[4096];
	static size_t avail;
	unsigned char raw[64];
	size_t n, i, got;
	ssize_t r;

	if (size == 0)
		return;
	n = size / 2;
	if (n > sizeof raw)
		fatalx("random_hex: %zu too long", size);
	if (avail < n) {
		for (got = 0; got < sizeof pool; got += (size_t)r) {
			r = getrandom(pool + got, sizeof pool - got, 0);
			if (r == -1) {
				if (errno != EINTR)
					fatal("getrandom");
				r = 0;
			}
		}
		avail = sizeof pool;
	}
	memcpy(raw, pool + sizeof pool - avail, n);
	explicit_bzero(pool + sizeof pool - avail, n); /* never hand out the same bytes twice */
	avail -= n;
	for (i = 0; i < size - 1; i++)
		buf[i] = hex[(raw[i / 2] >> ((i % 2) ? 0 : 4)) & 0xf];
	buf[size - 1] = '\0';
}

int
set_cloexec(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFD)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFD, fl | FD_CLOEXEC));
}

int
set_nonblock(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, fl | O_NONBLOCK));
}
