/* Logging to a file or stderr, with a level. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

int log_level = 0;
static FILE *log_fp;
static const char *log_name = "baton";

/* Open the log: file (appended, path_file_mode) or NULL for stderr. */
void
log_open(const char *name, const char *file, int level)
{
	int fd;

	log_name = name;
	log_level = level;
	if (log_fp != NULL && log_fp != stderr)
		fclose(log_fp);
	log_fp = NULL;
	if (file != NULL) {
		fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, path_file_mode);
		if (fd != -1 && (log_fp = fdopen(fd, "a")) == NULL)
			close(fd);
		if (log_fp != NULL)
			setvbuf(log_fp, NULL, _IOLBF, 0);
	}
}

void
log_close(void)
{
	if (log_fp != NULL && log_fp != stderr)
		fclose(log_fp);
	log_fp = NULL;
}

static void
log_vwrite(const char *level, const char *fmt, va_list ap)
{
	FILE *fp = log_fp != NULL ? log_fp : stderr;
	struct timespec ts;
	struct tm tm;
	char when[32];
	int saved = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(fp, "%s.%03ldZ %s[%ld] %s: ", when, ts.tv_nsec / 1000000, log_name,
	    (long)getpid(), level);
	vfprintf(fp, fmt, ap);
	fputc('\n', fp);
	fflush(fp);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("error", fmt, ap);
	va_end(ap);
}

/* An error with the reason errno gives, as fatal() does. */
void
log_warn(const char *fmt, ...)
{
	char *msg;
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	log_warnx("%s: %s", msg != NULL ? msg : fmt, strerror(saved));
	free(msg);
	errno = saved;
}

/* Something the user may want to know later (a bypassed guard): written at every level. */
void
log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("notice", fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_level < 1)
		return;
	va_start(ap, fmt);
	log_vwrite("info", fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_level < 2)
		return;
	va_start(ap, fmt);
	log_vwrite("debug", fmt, ap);
	va_end(ap);
}
