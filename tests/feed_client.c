/*
 * feed_client: a subscriber of the audit log for tests/feed.sh, that can
 * stop reading.  A tool, not a test.
 *
 *   feed_client SOCKET stall [all]
 *
 * hello, log_subscribe (every project with "all"), prints "subscribed
 * REV"; then reads nothing from the broker until its stdin closes, and
 * from then on prints a line per push: "log REV" or "resync AFTER REV",
 * until the broker closes ("closed") or nothing comes for
 * FEED_CLIENT_TIMEOUT milliseconds (default 10000; "timeout").
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static unsigned char buf[4 * 1024 * 1024];
static size_t len, used; /* bytes read; bytes of the frame handed out last */

/* Send a finished frame whole. */
static void
fc_send(int fd, struct fbuf *fb)
{
	size_t off = 0;
	ssize_t n;

	if (fbuf_finish(fb) != 0)
		fatalx("cannot encode a frame");
	while (off < fb->sb.size) {
		if ((n = write(fd, fb->sb.data + off, fb->sb.size - off)) <= 0)
			fatal("write");
		off += (size_t)n;
	}
	fbuf_free(fb);
}

/*
 * The next frame, decoded into u; 0, or 1 when the broker closed, 2 when
 * nothing came within ms.
 */
static int
fc_frame(int fd, msgpack_unpacked *u, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	const char *cause;
	ssize_t n, flen;

	/* the frame handed out last is done with: its bytes go */
	memmove(buf, buf + used, len - used);
	len -= used;
	used = 0;
	for (;;) {
		flen = frame_length(buf, len, FRAME_MAX_DEFAULT, &cause);
		if (flen < 0)
			fatalx("bad frame: %s", cause);
		if (flen > 0 && len >= (size_t)flen + FRAME_HDR) {
			if (frame_decode(buf + FRAME_HDR, (size_t)flen, u, &cause) != 0)
				fatalx("bad frame: %s", cause);
			used = FRAME_HDR + (size_t)flen; /* u points into them */
			return (0);
		}
		if (poll(&pfd, 1, ms) == 0)
			return (2);
		if ((n = read(fd, buf + len, sizeof buf - len)) < 0 && errno != EINTR)
			fatal("read");
		if (n == 0)
			return (1);
		if (n > 0)
			len += (size_t)n;
	}
}

/* A push of entries: a line "log REV" each. */
static void
fc_entries(const msgpack_object *es)
{
	uint32_t i;

	for (i = 0; es != NULL && es->type == MSGPACK_OBJECT_ARRAY && i < es->via.array.size;
	     i++)
		printf("log %lld\n", (long long)mp_get_int(&es->via.array.ptr[i], "rev", -1));
}

/* Connect and say hello; the descriptor. */
static int
fc_connect(const char *path)
{
	struct sockaddr_un sa;
	struct fbuf fb;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
		fatal("connect %s", path);
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "t", FRAME_HELLO);
	pk_kint(&fb, "v", PROTO_VERSION);
	pk_kstr(&fb, "kind", "cli");
	pk_kstr(&fb, "agent", "feed-client");
	pk_kint(&fb, "pid", getpid());
	pk_map_close(&fb);
	fc_send(fd, &fb);
	return (fd);
}

int
main(int argc, char **argv)
{
	msgpack_unpacked u;
	struct fbuf fb;
	char c;
	const char *env = getenv("FEED_CLIENT_TIMEOUT");
	int fd, rc, ms = env != NULL ? atoi(env) : 10000;

	if (argc < 3 || strcmp(argv[2], "stall") != 0) {
		fprintf(stderr, "usage: feed_client SOCKET stall [all]\n");
		return (2);
	}
	fd = fc_connect(argv[1]);
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "t", FRAME_REQ);
	pk_kint(&fb, "id", 1);
	pk_kstr(&fb, "op", "log_subscribe");
	pk_str(&fb, "a");
	pk_map_open(&fb);
	if (argc > 3 && strcmp(argv[3], "all") == 0)
		pk_kbool(&fb, "all_projects", 1);
	pk_map_close(&fb);
	pk_map_close(&fb);
	fc_send(fd, &fb);
	for (;;) { /* the welcome, then the answer */
		msgpack_unpacked_init(&u);
		if (fc_frame(fd, &u, ms) != 0)
			fatalx("no answer to log_subscribe");
		rc = mp_frame_type(&u.data) == FRAME_RES;
		if (rc)
			printf("subscribed %lld\n",
			    (long long)mp_get_int(mp_get(&u.data, "r"), "revision", -1));
		msgpack_unpacked_destroy(&u);
		if (rc)
			break;
	}
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	for (;;) {
		msgpack_unpacked_init(&u);
		if ((rc = fc_frame(fd, &u, ms)) != 0) {
			printf("%s\n", rc == 1 ? "closed" : "timeout");
			msgpack_unpacked_destroy(&u);
			break;
		}
		if (mp_frame_type(&u.data) == FRAME_PUSH &&
		    mp_streq(mp_get(&u.data, "kind"), "log"))
			fc_entries(mp_get(&u.data, "entries"));
		else if (mp_frame_type(&u.data) == FRAME_PUSH)
			printf("resync %lld %lld\n",
			    (long long)mp_get_int(&u.data, "after", -1),
			    (long long)mp_get_int(&u.data, "revision", -1));
		fflush(stdout);
		msgpack_unpacked_destroy(&u);
	}
	close(fd);
	return (0);
}
