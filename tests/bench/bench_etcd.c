/*
 * The floor under a shared project's lock (batond --backend etcd): the
 * two transactions of etcd's mutex recipe, sent straight to etcd's
 * HTTP/JSON gateway over one kept-alive connection, one at a time, as
 * batond sends them: take (compare the key absent, put it, read the
 * head of the line) and release (delete the key).  Each transaction is
 * one round trip, as each call is in bench_lock, so the two p50s set
 * side by side give the backend's overhead (tests/bench/run.sh).
 *
 *	bench_etcd -H HOST -p PORT [-t SECONDS | -n COUNT]
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define ETCD_ANSWER_MAX 65536

/* Send one POST of body to path and read its whole answer; -1 on an error. */
static int
etcd_roundtrip(int fd, const char *host, const char *path, const char *body)
{
	char req[2048], buf[ETCD_ANSWER_MAX], *hdr_end, *cl;
	size_t have = 0, want = 0;
	ssize_t n;
	int len;

	len = snprintf(req, sizeof req,
	    "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
	    "Grpc-Metadata-hasleader: true\r\nContent-Length: %zu\r\n\r\n%s",
	    path, host, strlen(body), body);
	if (len < 0 || (size_t)len >= sizeof req || write(fd, req, (size_t)len) != len)
		return (-1);
	for (;;) {
		if (have == sizeof buf - 1)
			return (-1);
		if ((n = read(fd, buf + have, sizeof buf - 1 - have)) <= 0)
			return (-1);
		have += (size_t)n;
		buf[have] = '\0';
		if ((hdr_end = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
			return (-1);
		if (want == 0) {
			if ((cl = strcasestr(buf, "\r\nContent-Length:")) == NULL ||
			    cl > hdr_end)
				return (-1); /* the gateway sizes its unary answers */
			want = (size_t)(hdr_end + 4 - buf) + strtoul(cl + 17, NULL, 10);
		}
		if (have >= want)
			return (have == want ? 0 : -1);
	}
}

int
main(int argc, char **argv)
{
	struct bench b;
	struct sockaddr_in sa;
	const char *host = "127.0.0.1", *sock = NULL;
	char hostport[64];
	double t0, t1;
	int ch, fd, port = 2379, one = 1, k;
	/* key "/bench/l/x/w/1", range over "/bench/l/x/", base64 */
	static const char take[] =
	    "{\"compare\":[{\"key\":\"L2JlbmNoL2wveC93LzE=\",\"target\":\"CREATE\","
	    "\"result\":\"EQUAL\",\"create_revision\":\"0\"}],\"success\":[{\"request_put\":"
	    "{\"key\":\"L2JlbmNoL2wveC93LzE=\",\"value\":\"eA==\"}},{\"request_range\":{"
	    "\"key\":"
	    "\"L2JlbmNoL2wveC8=\",\"range_end\":\"L2JlbmNoL2wveDA=\",\"sort_order\":\"ASCEND\","
	    "\"sort_target\":\"CREATE\",\"limit\":\"1025\"}}],\"failure\":[]}";
	static const char release[] =
	    "{\"compare\":[],\"success\":[{\"request_delete_range\":{\"key\":"
	    "\"L2JlbmNoL2wveC93LzE=\"}}],\"failure\":[]}";

	bench_init(&b, "etcd-txn");
	while ((ch = getopt(argc, argv, "H:p:n:t:")) != -1) {
		if (bench_option(&b, ch, &sock, NULL))
			continue;
		switch (ch) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		default:
			fprintf(stderr,
			    "usage: bench_etcd -H HOST -p PORT [-t SECONDS | -n COUNT]\n");
			return (64);
		}
	}
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "bench_etcd: %s: not an IPv4 address\n", host);
		return (64);
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		fprintf(stderr, "bench_etcd: %s:%d: %s\n", host, port, strerror(errno));
		return (69);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	snprintf(hostport, sizeof hostport, "%s:%d", host, port);
	for (k = 0; k < BENCH_WARMUP / 4; k++) {
		if (etcd_roundtrip(fd, hostport, "/v3/kv/txn", take) != 0 ||
		    etcd_roundtrip(fd, hostport, "/v3/kv/txn", release) != 0) {
			fprintf(stderr, "bench_etcd: a transaction failed\n");
			return (1);
		}
	}
	b.start = t1 = bench_now();
	while (!bench_done(&b, t1)) {
		t0 = bench_now();
		if (etcd_roundtrip(fd, hostport, "/v3/kv/txn", k++ % 2 == 0 ? take : release) !=
		    0) {
			fprintf(stderr, "bench_etcd: a transaction failed\n");
			return (1);
		}
		t1 = bench_now();
		bench_add(&b, (t1 - t0) * 1e6);
	}
	b.total = t1 - b.start;
	close(fd);
	bench_report(&b);
	return (0);
}
