/*
 * bench_sse: the time from a change to its Server-Sent Event at a page of
 * `baton dashboard` (DESIGN 11).  Logs in with the URL's token like a
 * browser, opens /api/events for every project, then, one at a time,
 * appends an entry to the audit log (log_append) and waits for the event
 * whose id is that entry's revision; a round trip is from sending the
 * change to reading its event.  Changes come 10 ms apart, as a person's
 * page sees them: a stream of back-to-back changes is pushed in batches
 * (the broker's 2 ms gap), which measures the batching, not the path.
 *
 *	bench_sse -S SOCKET -u URL [-t SECONDS | -n COUNT]
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <getopt.h>
#include <poll.h>

#include "shim.h"
#include "bench.h"
#include "client.h"

#define SSE_PACE_US 10000 /* between two changes */

static char sbuf[1 << 20]; /* the event stream, read so far */
static size_t slen;

/* Connect to 127.0.0.1:port; exits on failure. */
static int
sse_connect(int port)
{
	struct sockaddr_in sa;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		perror("bench_sse: connect");
		exit(1);
	}
	return (fd);
}

/* Send an HTTP GET; exits on failure. */
static void
sse_get(int fd, int port, const char *path, const char *cookie)
{
	char req[1024];
	int n;

	n = snprintf(req, sizeof req,
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s%sAccept: text/event-stream\r\n\r\n",
	    path, port, cookie != NULL ? "Cookie: " : "", cookie != NULL ? cookie : "",
	    cookie != NULL ? "\r\n" : "");
	if (write(fd, req, (size_t)n) != n) {
		perror("bench_sse: write");
		exit(1);
	}
}

/* Read more of the stream within ms; 0, or -1 on end or timeout. */
static int
sse_read(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (slen == sizeof sbuf - 1)
		slen = 0; /* what was read before is done with */
	if (poll(&pfd, 1, ms) <= 0 || (n = read(fd, sbuf + slen, sizeof sbuf - 1 - slen)) <= 0)
		return (-1);
	slen += (size_t)n;
	sbuf[slen] = '\0';
	return (0);
}

/* The cookie the token buys: "baton_dashboard=..." into buf. */
static void
sse_login(int port, const char *path, char *buf, size_t len)
{
	int fd = sse_connect(port);
	char *p, *e;

	sse_get(fd, port, path, NULL);
	while ((p = strstr(sbuf, "Set-Cookie: ")) == NULL || strchr(p, ';') == NULL) {
		if (sse_read(fd, 5000) != 0) {
			fprintf(stderr, "bench_sse: no cookie for the token\n");
			exit(1);
		}
	}
	p += strlen("Set-Cookie: ");
	e = strchr(p, ';');
	snprintf(buf, len, "%.*s", (int)(e - p), p);
	close(fd);
	slen = 0;
}

/* Wait for the event with id rev (or a later one); exits after 10 s without it. */
static void
sse_wait(int fd, uint64_t rev)
{
	char *p, *nl;
	uint64_t id;

	for (;;) {
		for (p = sbuf; (p = strstr(p, "id: ")) != NULL; p = nl) {
			id = strtoull(p + 4, &nl, 10);
			if (id >= rev) {
				slen = 0; /* everything read is behind us */
				sbuf[0] = '\0';
				return;
			}
		}
		if (sse_read(fd, 10000) != 0) {
			fprintf(stderr, "bench_sse: no event for revision %llu\n",
			    (unsigned long long)rev);
			exit(1);
		}
	}
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *url = NULL, *path;
	struct bench_args a;
	struct op_error err;
	struct bench b;
	struct conn c;
	char cookie[128];
	uint64_t rev = 0;
	double t0;
	int ch, port, fd, i;

	bench_init(&b, "sse");
	while ((ch = getopt(argc, argv, "S:t:n:u:")) != -1) {
		if (ch == 'u')
			url = optarg;
		else if (!bench_option(&b, ch, &sock, NULL)) {
			fprintf(stderr,
			    "usage: bench_sse -S SOCKET -u URL [-t SECONDS | -n COUNT]\n");
			return (2);
		}
	}
	if (sock == NULL || url == NULL || sscanf(url, "http://127.0.0.1:%d", &port) != 1 ||
	    (path = strchr(url + strlen("http://"), '/')) == NULL) {
		fprintf(stderr, "usage: bench_sse -S SOCKET -u URL [-t SECONDS | -n COUNT]\n");
		return (2);
	}
	sse_login(port, path, cookie, sizeof cookie);
	fd = sse_connect(port);
	sse_get(fd, port, "/api/events?all=1", cookie);
	bench_connect(&c, "bench_sse", sock, "bench-sse");
	bench_args(&a, "bench_sse", "{\"event\":\"bench\"}");
	memset(&err, 0, sizeof err);
	for (i = 0; i < BENCH_WARMUP / 10; i++) {
		if (bench_call(&c, "log_append", &a, "revision", "revision", &rev, &err) != 0) {
			fprintf(stderr, "bench_sse: %s\n", err.message);
			return (1);
		}
		sse_wait(fd, rev);
	}
	b.start = bench_now();
	while (!bench_done(&b, bench_now())) {
		t0 = bench_now();
		if (bench_call(&c, "log_append", &a, "revision", "revision", &rev, &err) != 0) {
			fprintf(stderr, "bench_sse: %s\n", err.message);
			return (1);
		}
		sse_wait(fd, rev);
		bench_add(&b, (bench_now() - t0) * 1e6);
		usleep(SSE_PACE_US);
	}
	b.total = bench_now() - b.start;
	printf("# 1 client, a log_append and its event at a dashboard page, 10 ms apart; a "
	       "call is a round trip\n");
	bench_report(&b);
	bench_args_free(&a);
	conn_close(&c);
	close(fd);
	return (0);
}
