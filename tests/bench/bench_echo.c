/*
 * The baseline for make bench: a raw Unix-socket echo of whole frames.
 * A forked child accepts one connection and writes every complete frame
 * (4-byte length + payload) back; the parent sends a frame the size of a
 * status request and waits for it to come back, over and over.  Whatever
 * the broker adds on top of this is its own cost.
 *
 *	bench_echo [-t SECONDS | -n COUNT]
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "bench.h"

#define ECHO_BUF 65536

/* Write all of buf; -1 on error. */
static int
echo_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * The server: read what is there, send back each whole frame, keep the
 * rest, as the broker's buffered reader does.
 */
static __dead void
echo_serve(int lfd)
{
	static char buf[ECHO_BUF];
	const char *cause;
	size_t len = 0, off;
	ssize_t n, flen;
	int fd;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(1);
	for (;;) {
		if ((n = read(fd, buf + len, sizeof buf - len)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			_exit(0);
		}
		len += (size_t)n;
		off = 0;
		for (;;) {
			flen =
			    frame_length(buf + off, len - off, sizeof buf - FRAME_HDR, &cause);
			if (flen < 0)
				_exit(1);
			if (flen == 0 || len - off < FRAME_HDR + (size_t)flen)
				break;
			off += FRAME_HDR + (size_t)flen;
		}
		if (off > 0 && echo_write(fd, buf, off) != 0)
			_exit(1);
		memmove(buf, buf + off, len - off);
		len -= off;
	}
}

/* The frame a status call sends: {t:3, id, op:"status", a:{}}. */
static void
echo_frame(struct fbuf *fb)
{
	fbuf_init(fb);
	pk_map(fb, 4);
	pk_kint(fb, "t", FRAME_REQ);
	pk_kuint(fb, "id", 1);
	pk_kstr(fb, "op", "status");
	pk_str(fb, "a");
	pk_map(fb, 0);
	if (fbuf_finish(fb) != 0) {
		fprintf(stderr, "bench_echo: cannot build the frame\n");
		exit(1);
	}
}

/* Send the frame and read it back whole. */
static int
echo_round_trip(int fd, const struct fbuf *fb, char *buf)
{
	size_t got = 0;
	ssize_t n;

	if (echo_write(fd, fb->sb.data, fb->sb.size) != 0)
		return (-1);
	while (got < fb->sb.size) {
		if ((n = read(fd, buf + got, ECHO_BUF - got)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return (-1);
		}
		got += (size_t)n;
	}
	return (got == fb->sb.size && memcmp(buf, fb->sb.data, got) == 0 ? 0 : -1);
}

int
main(int argc, char **argv)
{
	static char buf[ECHO_BUF];
	char dir[] = "/tmp/baton-echo.XXXXXX";
	struct sockaddr_un sun;
	struct bench b;
	struct fbuf fb;
	double t0, t1;
	pid_t pid;
	int lfd, fd, ch, i, status;

	bench_init(&b, "echo");
	while ((ch = getopt(argc, argv, "n:t:")) != -1) {
		switch (ch) {
		case 'n': b.count = strtoul(optarg, NULL, 10); break;
		case 't': b.seconds = strtod(optarg, NULL); break;
		default:
			fprintf(stderr, "usage: bench_echo [-t SECONDS | -n COUNT]\n");
			return (64);
		}
	}
	if (mkdtemp(dir) == NULL) {
		perror("bench_echo: mkdtemp");
		return (1);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/sock", dir);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof sun) == -1 || listen(lfd, 1) == -1) {
		perror("bench_echo: listen");
		return (1);
	}
	if ((pid = fork()) == -1) {
		perror("bench_echo: fork");
		return (1);
	}
	if (pid == 0)
		echo_serve(lfd);
	close(lfd);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		perror("bench_echo: connect");
		kill(pid, SIGTERM);
		return (1);
	}
	unlink(sun.sun_path);
	rmdir(dir);

	echo_frame(&fb);
	for (i = 0; i < BENCH_WARMUP; i++) {
		if (echo_round_trip(fd, &fb, buf) != 0)
			goto fail;
	}
	b.start = t1 = bench_now();
	while (!bench_done(&b, t1)) {
		t0 = bench_now();
		if (echo_round_trip(fd, &fb, buf) != 0)
			goto fail;
		t1 = bench_now();
		bench_add(&b, (t1 - t0) * 1e6);
	}
	b.total = t1 - b.start;
	close(fd);
	waitpid(pid, &status, 0);
	printf("# echo frame: %zu bytes\n", fb.sb.size);
	bench_report(&b);
	fbuf_free(&fb);
	return (0);
fail:
	fprintf(stderr, "bench_echo: round trip failed\n");
	kill(pid, SIGTERM);
	return (1);
}
