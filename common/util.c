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

/*
 * Compare a secret (token, ticket) with what a peer sent in time that
 * does not depend on where they differ.  0 when equal.
 */
int
token_cmp(const char *secret, const char *given, size_t glen)
{
	size_t slen = strlen(secret), i;
	unsigned char d = slen != glen;

	for (i = 0; i < glen && i < slen; i++)
		d |= (unsigned char)(secret[i] ^ given[i]);
	return (d != 0);
}

/* A relative time in seconds as a timeval (negative: zero). */
struct timeval
tv_secs(double secs)
{
	struct timeval tv;

	if (!(secs > 0))
		secs = 0;
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	if (tv.tv_usec >= 1000000)
		tv.tv_usec = 999999;
	return (tv);
}

/*
 * Deadlines live on the monotonic clock (mono_ms) and are stored as wall
 * time (wall_ms), re-based at restore: the pair converts both ways.  A
 * mono deadline of 0 means "none" and stays 0.
 */
int64_t
deadline_to_wall(uint64_t mono_deadline)
{
	if (mono_deadline == 0)
		return (0);
	return (wall_ms() + ((int64_t)mono_deadline - (int64_t)mono_ms()));
}

uint64_t
deadline_from_wall(int64_t wall_deadline)
{
	int64_t left;
	uint64_t now;

	if (wall_deadline == 0)
		return (0); /* before the clock: a restore asks for each of a million notes */
	now = mono_ms();
	left = wall_deadline - wall_ms();
	/* passed while the broker was down: due at once, but never "none" */
	return (left > 0 ? now + (uint64_t)left : now > 0 ? now : 1);
}

/* v in width decimal digits (zero-padded) at p, then the character after. */
static void
time_digits(char *p, int v, int width, char after)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	p[width] = after;
}

/* Wall-clock ms as ISO 8601 UTC with milliseconds: 2026-11-29T02:22:32.123Z. */
const char *
time_iso(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	int64_t days = (int64_t)t / 86400, sod = (int64_t)t % 86400, era, doe, yoe, doy, mp, y;
	int frac = (int)(ms % 1000 + (ms < 0 ? 1000 : 0)) % 1000, m, d;
	struct tm tm;
	size_t n;

	if (len < TIME_ISO_LEN)
		return ("");
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	/*
	 * The civil date of a day count by arithmetic (H. Hinnant's
	 * civil_from_days) and the digits by hand: gmtime_r, strftime and
	 * snprintf cost ten times more, and every feed entry has a time.
	 */
	days += 719468; /* from 0000-03-01 */
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (int)(doy - (153 * mp + 2) / 5 + 1);
	m = (int)(mp < 10 ? mp + 3 : mp - 9);
	y = yoe + era * 400 + (m <= 2);
	if (y >= 1000 && y <= 9999) {
		time_digits(buf, (int)y, 4, '-');
		time_digits(buf + 5, m, 2, '-');
		time_digits(buf + 8, d, 2, 'T');
		time_digits(buf + 11, (int)(sod / 3600), 2, ':');
		time_digits(buf + 14, (int)(sod / 60 % 60), 2, ':');
		time_digits(buf + 17, (int)(sod % 60), 2, '.');
		time_digits(buf + 20, frac, 3, 'Z');
		buf[24] = '\0';
		return (buf);
	}
	/* other years as strftime writes them (glibc does not pad year 0) */
	if (gmtime_r(&t, &tm) == NULL ||
	    (n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm)) == 0)
		return ("");
	snprintf(buf + n, len - n, ".%03dZ", frac);
	return (buf);
}

/* The error codes (common/proto.h) with their exit statuses. */
const struct err_code err_codes[] = {
#define ERR_ROW(code, status) { code, status },
	BATON_ERRORS(ERR_ROW)
#undef ERR_ROW
	    { NULL, 0 }
};

/* The table's entry for a code a peer sent (length-counted), or NULL. */
const struct err_code *
err_code_find(const char *code, size_t len)
{
	const struct err_code *e;

	for (e = err_codes; e->code != NULL; e++) {
		if (strlen(e->code) == len && memcmp(e->code, code, len) == 0)
			return (e);
	}
	return (NULL);
}
