/*
 * wire: a raw-frame client for the integration tests.  It speaks the
 * protocol by hand so the tests can send exactly the bytes they mean,
 * including broken ones, and see exactly what the broker answers.
 *
 *   wire SOCKET hello               send a valid hello
 *   wire SOCKET hello-version N     hello claiming protocol version N
 *   wire SOCKET raw HEX             send these bytes first, nothing else
 *   wire SOCKET raw-eof HEX         same, then shut down our write side
 *   wire SOCKET hello-raw HEX       valid hello, then these bytes
 *   wire SOCKET call OP [K=V ...]   hello, then one request
 *   wire SOCKET pipeline N OP [K=V ...]
 *                                   hello, then N requests (ids 1..N) in
 *                                   one write; waits for N results
 *   wire SOCKET hold                hello, then stay until stdin closes
 *   wire SOCKET acquire NAME        hello, lock_acquire NAME, then stay
 *                                   until stdin closes
 *   wire SOCKET call-hold OP [K=V ...]
 *                                   hello, one request, its answer, then
 *                                   stay until stdin closes
 *   wire SOCKET conns N             N sessions (this one and N - 1 more),
 *                                   each a connection that said hello and
 *                                   got its welcome; stay until stdin
 *                                   closes
 *   wire SOCKET flood N OP [K=V ...]
 *                                   hello, then N requests and the bytes
 *                                   of WIRE_TAIL (hex), as many as the
 *                                   socket takes within WIRE_TIMEOUT; then
 *                                   stay until stdin closes without ever
 *                                   reading an answer
 *   wire SOCKET partial N           hello, then the header of an N-byte
 *                                   frame and all of it but the last
 *                                   byte; stay until stdin closes
 *   wire SOCKET call-raw HEX OP [K=V ...]
 *                                   hello, then one request and these
 *                                   bytes in a single write; read until
 *                                   the broker closes
 *   wire SOCKET call-raw-close HEX OP [K=V ...]
 *                                   the same, but close at once without
 *                                   reading an answer
 *
 * Every frame received is printed as one line "frame JSON"; the hold
 * modes print "holding" once they are set up; the last line is "closed"
 * when the broker closed the connection, else "open".
 *
 * Exit status: 0 the answer we asked for (welcome, ok result) or, for
 * raw modes, an open connection and no error; 1 system error (connect
 * failed...); 2 usage; 3 an error frame (t:7) arrived; 4 the broker
 * closed without sending any frame; 5 a result with ok:false; 6 the
 * broker closed after frames that were not errors.
 *
 * WIRE_TIMEOUT (milliseconds, default 3000) bounds every wait for the
 * broker; WIRE_AGENT names the agent in the hello; WIRE_CHUNK=N sends
 * everything N bytes at a time, 2 ms apart, so that the broker reads
 * frames in pieces.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define W_SUCCESS 0
#define W_SYS 1
#define W_USAGE 2
#define W_ERRFRAME 3
#define W_CLOSED_EMPTY 4
#define W_NOTOK 5
#define W_CLOSED 6

struct wire {
	int fd;
	int timeout_ms;
	int closed;   /* the broker closed (EOF or reset) */
	int nframes;  /* frames received */
	int errframe; /* an error frame arrived */
	int notok;    /* a result with ok:false arrived */
	int nres;     /* results received */
	size_t chunk; /* WIRE_CHUNK: send this many bytes at a time */
	int quiet;    /* print no frames (the extra sessions of conns) */
	unsigned char *buf;
	size_t len, size;
};

/* Print a string as a JSON string literal. */
static void
wire_json_str(FILE *f, const char *s, size_t n)
{
	size_t i;
	unsigned char c;

	fputc('"', f);
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Print a msgpack object as JSON, so the shell tests can use jq on it. */
static void
wire_json(FILE *f, const msgpack_object *o)
{
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL: fputs("null", f); break;
	case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", f); break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		fprintf(f, "%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: fprintf(f, "%lld", (long long)o->via.i64); break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: fprintf(f, "%.17g", o->via.f64); break;
	case MSGPACK_OBJECT_STR: wire_json_str(f, o->via.str.ptr, o->via.str.size); break;
	case MSGPACK_OBJECT_BIN: fputs("\"<bin>\"", f); break;
	case MSGPACK_OBJECT_ARRAY:
		fputc('[', f);
		for (i = 0; i < o->via.array.size; i++) {
			if (i > 0)
				fputc(',', f);
			wire_json(f, &o->via.array.ptr[i]);
		}
		fputc(']', f);
		break;
	case MSGPACK_OBJECT_MAP:
		fputc('{', f);
		for (i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;
			if (i > 0)
				fputc(',', f);
			if (k->type == MSGPACK_OBJECT_STR)
				wire_json_str(f, k->via.str.ptr, k->via.str.size);
			else
				fputs("\"<non-string key>\"", f);
			fputc(':', f);
			wire_json(f, &o->via.map.ptr[i].val);
		}
		fputc('}', f);
		break;
	default: fputs("\"<ext>\"", f); break;
	}
}

/* Connect to the broker's socket; -1 with a message on failure. */
static int
wire_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "wire: socket path too long\n");
		return (-1);
	}
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "wire: socket: %s\n", strerror(errno));
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		fprintf(stderr, "wire: connect %s: %s\n", path, strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Send every byte; a broker that hung up counts as closed, not an error. */
static int
wire_send(struct wire *w, const void *p, size_t n)
{
	const char *s = p;
	ssize_t r;

	struct timespec gap = { 0, 2000000 };

	while (n > 0) {
		if (w->chunk > 0 && s != p)
			nanosleep(&gap, NULL); /* the input's pacing, not a wait for an event */
		r = send(w->fd, s, w->chunk > 0 && w->chunk < n ? w->chunk : n, MSG_NOSIGNAL);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EPIPE || errno == ECONNRESET)) {
			w->closed = 1;
			return (0);
		}
		if (r == -1) {
			fprintf(stderr, "wire: send: %s\n", strerror(errno));
			return (-1);
		}
		s += r;
		n -= (size_t)r;
	}
	return (0);
}

/* Finish a packed frame and send it. */
static int
wire_send_fbuf(struct wire *w, struct fbuf *fb)
{
	int r;

	if (fbuf_finish(fb) != 0) {
		fprintf(stderr, "wire: cannot encode a frame\n");
		fbuf_free(fb);
		return (-1);
	}
	r = wire_send(w, fb->sb.data, fb->sb.size);
	fbuf_free(fb);
	return (r);
}

/* Send a hello claiming protocol version v. */
static int
wire_hello(struct wire *w, int64_t v)
{
	struct fbuf fb;
	const char *agent = getenv("WIRE_AGENT");
	const char *project = getenv("BATON_PROJECT");
	char cwd[4096], name[64];

	if (agent == NULL || *agent == '\0') {
		snprintf(name, sizeof name, "wire-%ld", (long)getpid());
		agent = name;
	}
	if (project == NULL || *project == '\0')
		project = getcwd(cwd, sizeof cwd) != NULL ? cwd : "/";
	fbuf_init(&fb);
	pk_map(&fb, 8);
	pk_kint(&fb, "t", FRAME_HELLO);
	pk_kint(&fb, "v", v);
	pk_kstr(&fb, "kind", "cli");
	pk_kstr(&fb, "agent", agent);
	pk_kstr(&fb, "role", "");
	pk_kstr(&fb, "project", project);
	pk_kint(&fb, "pid", (int64_t)getpid());
	pk_str(&fb, "client");
	pk_map(&fb, 2);
	pk_kstr(&fb, "name", "wire");
	pk_kstr(&fb, "version", "0");
	return (wire_send_fbuf(w, &fb));
}

/* Pack "K=V" as a map entry: integers and booleans as such, else a string. */
static void
wire_pack_arg(struct fbuf *fb, const char *kv)
{
	const char *eq = strchr(kv, '='), *v, *p;
	int digits;

	if (eq == NULL) {
		pk_str(fb, kv);
		pk_bool(fb, 1);
		return;
	}
	pk_strn(fb, kv, (size_t)(eq - kv));
	v = eq + 1;
	p = (*v == '-') ? v + 1 : v;
	digits = *p != '\0';
	for (; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			digits = 0;
	if (digits)
		pk_int(fb, strtoll(v, NULL, 10));
	else if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
		pk_bool(fb, *v == 't');
	else
		pk_str(fb, v);
}

/* Send request id 1: op with K=V arguments. */
static int wire_pipeline(struct wire *, int, const char *, int, char **);

static int
wire_request(struct wire *w, const char *op, int argc, char **argv)
{
	return (wire_pipeline(w, 1, op, argc, argv));
}

/* n requests for op, ids 1 to n, then tail (tlen bytes), in one buffer; NULL on failure. */
static char *
wire_requests(int n, const char *op, int argc, char **argv, const unsigned char *tail,
    size_t tlen, size_t *lenp)
{
	struct fbuf fb;
	char *all = NULL;
	size_t len = 0;
	int i, k;

	for (k = 1; k <= n; k++) {
		fbuf_init(&fb);
		pk_map(&fb, 4);
		pk_kint(&fb, "t", FRAME_REQ);
		pk_kint(&fb, "id", k);
		pk_kstr(&fb, "op", op);
		pk_str(&fb, "a");
		pk_map(&fb, (size_t)argc);
		for (i = 0; i < argc; i++)
			wire_pack_arg(&fb, argv[i]);
		if (fbuf_finish(&fb) != 0) {
			fprintf(stderr, "wire: cannot encode a frame\n");
			fbuf_free(&fb);
			free(all);
			return (NULL);
		}
		all = xreallocarray(all, 1, len + fb.sb.size);
		memcpy(all + len, fb.sb.data, fb.sb.size);
		len += fb.sb.size;
		fbuf_free(&fb);
	}
	all = xreallocarray(all, 1, len + tlen);
	if (tlen > 0)
		memcpy(all + len, tail, tlen);
	*lenp = len + tlen;
	return (all);
}

/* Send n requests for op, ids 1 to n, and then tail (tlen bytes), in a single write. */
static int
wire_pipeline_tail(struct wire *w, int n, const char *op, int argc, char **argv,
    const unsigned char *tail, size_t tlen)
{
	size_t len;
	char *all;
	int r;

	if ((all = wire_requests(n, op, argc, argv, tail, tlen, &len)) == NULL)
		return (-1);
	r = wire_send(w, all, len);
	free(all);
	return (r);
}

/* Send n requests for op, ids 1 to n, in a single write. */
static int
wire_pipeline(struct wire *w, int n, const char *op, int argc, char **argv)
{
	return (wire_pipeline_tail(w, n, op, argc, argv, NULL, 0));
}

/* Decode HEX (spaces allowed) into a new buffer; -1 on a bad digit. */
static int
wire_unhex(const char *hex, unsigned char **out, size_t *outlen)
{
	size_t n = 0;
	int hi = -1, d;
	const char *p;

	*out = xmalloc(strlen(hex) / 2 + 1);
	for (p = hex; *p != '\0'; p++) {
		if (isspace((unsigned char)*p))
			continue;
		if (!isxdigit((unsigned char)*p)) {
			free(*out);
			return (-1);
		}
		d = isdigit((unsigned char)*p) ? *p - '0'
					       : tolower((unsigned char)*p) - 'a' + 10;
		if (hi == -1)
			hi = d;
		else {
			(*out)[n++] = (unsigned char)(hi << 4 | d);
			hi = -1;
		}
	}
	if (hi != -1) {
		free(*out);
		return (-1);
	}
	*outlen = n;
	return (0);
}

/*
 * Print the next whole frame in the buffer, if any.  Returns its type,
 * 0 when no whole frame has arrived yet, -1 when the bytes are not a
 * frame (printed as such).
 */
static int
wire_take_frame(struct wire *w)
{
	msgpack_unpacked u;
	const char *cause = "?";
	ssize_t n;
	int type, ok;

	if ((n = frame_length(w->buf, w->len, FRAME_MAX_DEFAULT, &cause)) == 0)
		return (0);
	if (n < 0) {
		printf("garbage %s\n", cause);
		return (-1);
	}
	if (w->len < (size_t)n + FRAME_HDR)
		return (0);
	msgpack_unpacked_init(&u);
	if (frame_decode(w->buf + FRAME_HDR, (size_t)n, &u, &cause) != 0) {
		printf("garbage %s\n", cause);
		msgpack_unpacked_destroy(&u);
		return (-1);
	}
	if (!w->quiet) {
		fputs("frame ", stdout);
		wire_json(stdout, &u.data);
		fputc('\n', stdout);
		fflush(stdout);
	}
	w->nframes++;
	type = mp_frame_type(&u.data);
	if (type == FRAME_ERROR)
		w->errframe = 1;
	if (type == FRAME_RES)
		w->nres++;
	if (type == FRAME_RES && mp_bool(mp_get(&u.data, "ok"), &ok) == 0 && !ok)
		w->notok = 1;
	msgpack_unpacked_destroy(&u);
	memmove(w->buf, w->buf + FRAME_HDR + n, w->len - FRAME_HDR - (size_t)n);
	w->len -= FRAME_HDR + (size_t)n;
	return (type > 0 ? type : 99); /* 99: a map without a valid t */
}

/* Read what is available into the buffer; 0 ok, -1 closed or error. */
static int
wire_fill(struct wire *w)
{
	ssize_t r;

	if (w->size - w->len < 65536) {
		w->size += 65536;
		w->buf = xreallocarray(w->buf, 1, w->size);
	}
	r = recv(w->fd, w->buf + w->len, w->size - w->len, 0);
	if (r == -1 && errno == EINTR)
		return (0);
	if (r <= 0) {
		w->closed = 1;
		return (-1);
	}
	w->len += (size_t)r;
	return (0);
}

/*
 * Read frames until one of type want arrives (0: none wanted, read
 * until the broker closes), the broker closes, or the timeout runs out.
 * An error frame also ends the wait for want, but then we go on reading
 * to see the close that must follow.  Returns the type that ended it.
 */
static int
wire_wait(struct wire *w, int want)
{
	struct pollfd pfd;
	uint64_t deadline = mono_ms() + (uint64_t)w->timeout_ms;
	uint64_t now;
	int type, got = 0;

	while (!w->closed) {
		while ((type = wire_take_frame(w)) > 0) {
			if (type == want && !w->errframe)
				return (type);
			if (type == FRAME_ERROR)
				got = type;
		}
		if (type < 0)
			return (-1);
		if ((now = mono_ms()) >= deadline)
			break;
		pfd.fd = w->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - now)) == -1 && errno != EINTR) {
			fprintf(stderr, "wire: poll: %s\n", strerror(errno));
			return (-1);
		}
		if (pfd.revents != 0)
			wire_fill(w);
	}
	while (wire_take_frame(w) > 0)
		;
	return (got);
}

/* Stay connected until stdin closes, printing anything the broker pushes. */
static void
wire_hold(struct wire *w)
{
	struct pollfd pfd[2];
	char b[512];

	printf("holding\n");
	fflush(stdout);
	for (;;) {
		pfd[0].fd = STDIN_FILENO;
		pfd[0].events = POLLIN;
		pfd[1].fd = w->fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pfd[0].revents != 0 && read(STDIN_FILENO, b, sizeof b) <= 0)
			return;
		if (pfd[1].revents != 0) {
			if (wire_fill(w) != 0)
				return;
			while (wire_take_frame(w) > 0)
				;
		}
	}
}

/* Stay until stdin closes, reading nothing from the broker. */
static void
wire_deaf(void)
{
	struct pollfd pfd;
	char b[512];

	printf("holding\n");
	fflush(stdout);
	pfd.fd = STDIN_FILENO;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, -1) != -1 || errno == EINTR) {
		if (pfd.revents != 0 && read(STDIN_FILENO, b, sizeof b) <= 0)
			return;
	}
}

/*
 * Send n requests for op without reading an answer: as much of them as
 * the socket takes, waiting at most WIRE_TIMEOUT for room each time it
 * is full.  Prints how many bytes went.
 */
static int
wire_flood(struct wire *w, int n, const char *op, int argc, char **argv)
{
	struct pollfd pfd;
	const char *hex = getenv("WIRE_TAIL");
	unsigned char *tail = NULL;
	size_t off = 0, len, tlen = 0;
	char *all;
	ssize_t r;

	if (hex != NULL && wire_unhex(hex, &tail, &tlen) != 0)
		return (-1);
	all = wire_requests(n, op, argc, argv, tail, tlen, &len);
	free(tail);
	if (all == NULL)
		return (-1);
	while (off < len) {
		r = send(w->fd, all + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r == -1 && errno != EAGAIN && errno != EINTR)
			break;
		pfd.fd = w->fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, w->timeout_ms) == 0)
			break; /* the broker stopped reading us */
	}
	printf("sent %zu of %zu bytes\n", off, len);
	free(all);
	return (0);
}

/* Send the header of an n-byte frame and n - 1 bytes of it. */
static int
wire_partial(struct wire *w, uint32_t n)
{
	unsigned char *p = xcalloc(1, (size_t)n + FRAME_HDR);
	int rc;

	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	rc = wire_send(w, p, (size_t)n + FRAME_HDR - 1);
	free(p);
	return (rc);
}

/*
 * Open n more sessions besides w's, one after the other (each waits for its
 * welcome), then hold them all until stdin closes.  0, or -1 when one
 * could not be opened (said why).
 */
static int
wire_conns(const char *path, struct wire *w, int n)
{
	struct rlimit rl;
	struct wire *ws;
	int i, rc = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ws = xcalloc((size_t)n, sizeof *ws);
	for (i = 0; i < n && rc == 0; i++) {
		ws[i].timeout_ms = w->timeout_ms;
		ws[i].quiet = 1;
		if ((ws[i].fd = wire_connect(path)) == -1 ||
		    wire_hello(&ws[i], PROTO_VERSION) != 0 ||
		    wire_wait(&ws[i], FRAME_WELCOME) != FRAME_WELCOME) {
			fprintf(stderr, "wire: session %d of %d was not opened\n", i + 1, n);
			rc = -1;
		}
		free(ws[i].buf); /* 10 000 idle sessions keep no buffer */
		ws[i].buf = NULL;
		ws[i].len = ws[i].size = 0;
	}
	if (rc == 0)
		wire_hold(w);
	for (i = 0; i < n; i++) {
		if (ws[i].fd > 0)
			close(ws[i].fd);
	}
	free(ws);
	return (rc);
}

/* The exit status that sums up what happened (see the top of the file). */
static int
wire_status(const struct wire *w, int wanted)
{
	if (w->errframe)
		return (W_ERRFRAME);
	if (w->notok)
		return (W_NOTOK);
	if (w->closed && w->nframes == 0)
		return (W_CLOSED_EMPTY);
	if (w->closed)
		return (W_CLOSED);
	if (!wanted)
		return (W_SYS);
	return (W_SUCCESS);
}

/* Say how to call us and exit 2. */
static __dead void
wire_usage(void)
{
	fprintf(stderr,
	    "usage: wire SOCKET hello | hello-version N | raw HEX | raw-eof HEX |\n"
	    "            hello-raw HEX | call OP [K=V ...] | pipeline N OP [K=V ...] |\n"
	    "            hold | acquire NAME | call-hold OP [K=V ...] | conns N |\n"
	    "            flood N OP [K=V ...] | partial N |\n"
	    "            call-raw HEX OP [K=V ...] | call-raw-close HEX OP [K=V ...]\n");
	exit(W_USAGE);
}

/* Static, so what it points at stays reachable for LeakSanitizer. */
static struct wire wire_state;

/* Connect, play the scene the mode names, report what the broker did. */
int
main(int argc, char **argv)
{
	struct wire *w = &wire_state;
	const char *mode, *env;
	unsigned char *bytes;
	size_t nbytes;
	char *name;
	int wanted = 1, type, rc;

	if (argc < 3)
		wire_usage();
	signal(SIGPIPE, SIG_IGN);
	w->timeout_ms = 3000;
	if ((env = getenv("WIRE_TIMEOUT")) != NULL && atoi(env) > 0)
		w->timeout_ms = atoi(env);
	if ((env = getenv("WIRE_CHUNK")) != NULL && atoi(env) > 0)
		w->chunk = (size_t)atoi(env);
	mode = argv[2];
	if ((w->fd = wire_connect(argv[1])) == -1)
		return (W_SYS);

	if (strcmp(mode, "raw") == 0 || strcmp(mode, "raw-eof") == 0) {
		if (argc != 4 || wire_unhex(argv[3], &bytes, &nbytes) != 0)
			wire_usage();
		rc = wire_send(w, bytes, nbytes);
		free(bytes);
		if (rc != 0)
			return (W_SYS);
		if (strcmp(mode, "raw-eof") == 0)
			shutdown(w->fd, SHUT_WR);
		wire_wait(w, 0);
		printf("%s\n", w->closed ? "closed" : "open");
		return (w->errframe                    ? W_ERRFRAME
			: w->closed && w->nframes == 0 ? W_CLOSED_EMPTY
			: w->closed                    ? W_CLOSED
						       : W_SUCCESS);
	}

	if (strcmp(mode, "hello-version") == 0) {
		if (argc != 4)
			wire_usage();
		rc = wire_hello(w, strtoll(argv[3], NULL, 10));
	} else
		rc = wire_hello(w, PROTO_VERSION);
	if (rc != 0)
		return (W_SYS);
	type = wire_wait(w, FRAME_WELCOME);
	if (type != FRAME_WELCOME) {
		printf("%s\n", w->closed ? "closed" : "open");
		return (wire_status(w, 0));
	}

	if (strcmp(mode, "hello") == 0 || strcmp(mode, "hello-version") == 0) {
		/* nothing more */
	} else if (strcmp(mode, "hello-raw") == 0) {
		if (argc != 4 || wire_unhex(argv[3], &bytes, &nbytes) != 0)
			wire_usage();
		rc = wire_send(w, bytes, nbytes);
		free(bytes);
		if (rc != 0)
			return (W_SYS);
		wire_wait(w, 0);
	} else if (strcmp(mode, "pipeline") == 0) {
		if (argc < 5 || atoi(argv[3]) < 1)
			wire_usage();
		if (wire_pipeline(w, atoi(argv[3]), argv[4], argc - 5, argv + 5) != 0)
			return (W_SYS);
		while (w->nres < atoi(argv[3]) && wire_wait(w, FRAME_RES) == FRAME_RES)
			;
		wanted = w->nres == atoi(argv[3]);
	} else if (strcmp(mode, "call-raw") == 0 || strcmp(mode, "call-raw-close") == 0) {
		if (argc < 5 || wire_unhex(argv[3], &bytes, &nbytes) != 0)
			wire_usage();
		rc = wire_pipeline_tail(w, 1, argv[4], argc - 5, argv + 5, bytes, nbytes);
		free(bytes);
		if (rc != 0)
			return (W_SYS);
		if (strcmp(mode, "call-raw-close") == 0) {
			close(w->fd);
			return (W_SUCCESS);
		}
		wire_wait(w, 0);
	} else if (strcmp(mode, "call") == 0) {
		if (argc < 4)
			wire_usage();
		if (wire_request(w, argv[3], argc - 4, argv + 4) != 0)
			return (W_SYS);
		wanted = wire_wait(w, FRAME_RES) == FRAME_RES;
	} else if (strcmp(mode, "hold") == 0) {
		wire_hold(w);
	} else if (strcmp(mode, "flood") == 0) {
		if (argc < 5 || atoi(argv[3]) < 1)
			wire_usage();
		if (wire_flood(w, atoi(argv[3]), argv[4], argc - 5, argv + 5) != 0)
			return (W_SYS);
		wire_deaf();
		return (W_SUCCESS);
	} else if (strcmp(mode, "partial") == 0) {
		if (argc != 4 || atoi(argv[3]) < 1)
			wire_usage();
		if (wire_partial(w, (uint32_t)atoi(argv[3])) != 0)
			return (W_SYS);
		wire_hold(w);
	} else if (strcmp(mode, "conns") == 0) {
		if (argc != 4 || atoi(argv[3]) < 1)
			wire_usage();
		if (wire_conns(argv[1], w, atoi(argv[3]) - 1) != 0)
			return (W_SYS);
	} else if (strcmp(mode, "acquire") == 0 || strcmp(mode, "call-hold") == 0) {
		if (strcmp(mode, "acquire") == 0) {
			if (argc != 4)
				wire_usage();
			xasprintf(&name, "name=%s", argv[3]);
			rc = wire_request(w, "lock_acquire", 1, &name);
			free(name);
		} else if (argc < 4)
			wire_usage();
		else
			rc = wire_request(w, argv[3], argc - 4, argv + 4);
		if (rc != 0)
			return (W_SYS);
		if (wire_wait(w, FRAME_RES) != FRAME_RES) {
			printf("%s\n", w->closed ? "closed" : "open");
			return (wire_status(w, 0));
		}
		wire_hold(w);
	} else
		wire_usage();
	printf("%s\n", w->closed ? "closed" : "open");
	return (wire_status(w, wanted));
}
