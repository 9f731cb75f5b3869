/*
 * libFuzzer target for the broker itself: the input is what one peer
 * sends, through a socketpair into an accepted connection of a broker
 * in this process (libbroker.a with durability none, started as the
 * unit tests' harness starts it), so that every byte goes through the
 * frame reader, the hello, op_validate and the handlers.
 *
 * The first byte chooses: bit 0 set, the input brings its own hello
 * (the hello itself is fuzzed); else a valid hello goes first, so that
 * most inputs reach dispatch.  Bit 1 picks the project "default" (not a
 * directory) instead of "/fuzz/p".  The peer then half-closes: the
 * broker must answer, close, and end the session, within a bounded
 * number of loop passes.
 *
 * Checked beyond the sanitizers: every byte the broker sends is a whole,
 * valid frame, and the broker lets go of the peer (its connection is
 * freed) within a bounded number of loop passes.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "broker_harness.h"
#include "fuzz.h"

#define FUZZ_PASSES_MAX 100000 /* loop passes before "the broker never let go" */
#define FUZZ_PROJECT "/fuzz/p"

/* What the broker sent the peer, not yet whole frames. */
static unsigned char *out;
static size_t outlen, outsize;
static int verbose;               /* FUZZ_VERBOSE: say what each input got */
static unsigned answered, failed; /* results of the input: ok, not ok */

/* A hello frame into fb (finished). */
static void
fuzz_hello(struct fbuf *fb, const char *project)
{
	fbuf_init(fb);
	pk_map_open(fb);
	pk_kint(fb, "t", FRAME_HELLO);
	pk_kint(fb, "v", PROTO_VERSION);
	pk_kstr(fb, "kind", "fuzz");
	pk_kstr(fb, "agent", "fuzz");
	pk_kstr(fb, "project", project);
	pk_map_close(fb);
	if (fbuf_finish(fb) != 0)
		abort();
}

/* Send all of buf to fd, running the broker while the socket is full. */
static void
fuzz_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			event_base_loop(base, EVLOOP_NONBLOCK);
			continue;
		}
		if (n == -1)
			return; /* the broker closed: what is left is never read */
		p += n;
		len -= (size_t)n;
	}
}

/* Check the whole frames the broker sent; keep a partial one. */
static void
fuzz_check_output(void)
{
	msgpack_unpacked u;
	const char *cause = NULL;
	size_t off = 0;
	ssize_t n;

	while ((n = frame_length(out + off, outlen - off, FRAME_MAX_DEFAULT, &cause)) > 0 &&
	    outlen - off >= FRAME_HDR + (size_t)n) {
		msgpack_unpacked_init(&u);
		if (frame_decode(out + off + FRAME_HDR, (size_t)n, &u, &cause) != 0 ||
		    mp_frame_type(&u.data) < FRAME_WELCOME)
			abort(); /* the broker sent something no client could read */
		if (mp_frame_type(&u.data) == FRAME_RES)
			*(mp_get_bool(&u.data, "ok", 0) ? &answered : &failed) += 1;
		msgpack_unpacked_destroy(&u);
		off += FRAME_HDR + (size_t)n;
	}
	if (n < 0)
		abort();
	memmove(out, out + off, outlen - off);
	outlen -= off;
}

/* Read what the broker sent; 1 once it closed its end. */
static int
fuzz_drain(int fd)
{
	ssize_t n;

	for (;;) {
		if (outsize - outlen < 65536) {
			outsize = outlen + 65536;
			out = xreallocarray(out, 1, outsize);
		}
		n = recv(fd, out + outlen, outsize - outlen, MSG_DONTWAIT);
		if (n > 0) {
			outlen += (size_t)n;
			fuzz_check_output();
			continue;
		}
		return (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fbuf fb;
	int sv[2], mode = size > 0 ? data[0] : 0, passes;

	if (size > 0) {
		data++;
		size--;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	client_new(sv[0], getuid(), getpid());
	if (!(mode & 1)) {
		fuzz_hello(&fb, (mode & 2) ? "default" : FUZZ_PROJECT);
		fuzz_send(sv[1], fb.sb.data, fb.sb.size);
		fbuf_free(&fb);
	}
	fuzz_send(sv[1], data, size);
	shutdown(sv[1], SHUT_WR);
	outlen = 0;
	answered = failed = 0;
	for (passes = 0; !fuzz_drain(sv[1]); passes++) {
		if (passes == FUZZ_PASSES_MAX)
			abort(); /* the broker never let go of a peer that hung up */
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	close(sv[1]);
	if (client_count() != 0)
		abort(); /* a closed peer left its connection behind */
	if (verbose)
		fprintf(stderr,
		    "fuzz_broker: %zu bytes, mode %d: %u ok, %u refused, %d passes\n", size,
		    mode, answered, failed, passes);
	return (0);
}

/* A plausible value for argument a (names, the first choice, the minimum...). */
static void
fuzz_seed_value(struct fbuf *fb, const struct op_arg *a)
{
	char choice[32];

	switch (a->type) {
	case ARG_STRING:
		if (a->choices != NULL) {
			snprintf(choice, sizeof choice, "%.*s", (int)strcspn(a->choices, "|"),
			    a->choices);
			pk_str(fb, choice);
		} else
			pk_str(fb, strcmp(a->name, "name") == 0 ? "file:src/a.c" : "x");
		break;
	case ARG_INT:
	case ARG_NUMBER: pk_int(fb, (int64_t)(a->min > 0 ? a->min : 1)); break;
	case ARG_BOOL: pk_bool(fb, 1); break;
	case ARG_STRINGS:
		pk_array(fb, 2);
		pk_str(fb, "a");
		pk_str(fb, "b");
		break;
	case ARG_JSON: pk_str(fb, "v"); break;
	}
}

/* Is argument a the second or later of its op's one_of? */
static int
fuzz_seed_other_of(const struct op *op, const struct op_arg *a)
{
	size_t n;

	if (op->one_of == NULL)
		return (0);
	n = strcspn(op->one_of, "|");
	return (strstr(op->one_of, a->name) != NULL && strncmp(op->one_of, a->name, n) != 0);
}

/* A request for op with its required arguments (all: every argument) into fb. */
static void
fuzz_seed_req(struct fbuf *fb, const struct op *op, int id, int all)
{
	size_t i;

	pk_map_open(fb);
	pk_kint(fb, "t", FRAME_REQ);
	pk_kint(fb, "id", id);
	pk_kstr(fb, "op", op->name);
	pk_str(fb, "a");
	pk_map_open(fb);
	for (i = 0; i < op->nargs; i++) {
		if ((!all && !(op->args[i].flags & ARG_REQUIRED)) ||
		    fuzz_seed_other_of(op, &op->args[i]))
			continue;
		pk_str(fb, op->args[i].name);
		fuzz_seed_value(fb, &op->args[i]);
	}
	pk_map_close(fb);
	pk_map_close(fb);
}

/* One seed: mode byte, then the frames of every op in list (NULL-terminated). */
static void
fuzz_seed(const char *dir, const char *name, int mode, int all, const char *const *list)
{
	struct fbuf fb;
	const struct op *op;
	unsigned char *p = xmalloc(1);
	size_t len = 1;
	int id = 1;

	p[0] = (unsigned char)mode;
	for (; *list != NULL; list++) {
		if ((op = op_find(*list, strlen(*list))) == NULL)
			abort();
		fbuf_init(&fb);
		fuzz_seed_req(&fb, op, id++, all);
		if (fbuf_finish(&fb) != 0)
			abort();
		p = xreallocarray(p, 1, len + fb.sb.size);
		memcpy(p + len, fb.sb.data, fb.sb.size);
		len += fb.sb.size;
		fbuf_free(&fb);
	}
	fuzz_seed_write(dir, name, p, len);
	free(p);
}

/* The corpus to start from: each operation alone, and a few sessions of work. */
static void
fuzz_seeds(const char *dir)
{
	static const char *const locks[] = { "lock_acquire", "lock_list", "lock_renew",
		"lock_release", "lock_break", "status", NULL };
	static const char *const notes[] = { "note_set", "note_get", "note_wait", "note_list",
		"note_delete", "counter_incr", "event_signal", "event_wait", NULL };
	static const char *const tasks[] = { "project_set", "task_create", "task_claim",
		"task_update", "task_submit", "task_approve", "task_list", "task_get",
		"project_get", NULL };
	static const char *const talk[] = { "agent_join", "message_send", "message_inbox",
		"message_ack", "discussion_start", "discussion_reply", "discussion_resolve",
		"discussion_list", "agent_list", "guide", NULL };
	const char *one[2] = { NULL, NULL };
	char name[64];
	size_t i;

	for (i = 0; i < OP_COUNT; i++) {
		one[0] = ops[i].name;
		snprintf(name, sizeof name, "op-%s", ops[i].name);
		fuzz_seed(dir, name, 0, 0, one);
		snprintf(name, sizeof name, "op-%s-all", ops[i].name);
		fuzz_seed(dir, name, 0, 1, one);
	}
	fuzz_seed(dir, "locks", 0, 1, locks);
	fuzz_seed(dir, "locks-default", 2, 1, locks);
	fuzz_seed(dir, "notes", 0, 1, notes);
	fuzz_seed(dir, "tasks", 0, 0, tasks);
	fuzz_seed(dir, "talk", 0, 1, talk);
}

/* Start the broker once; with FUZZ_SEED_DIR set, write the starting corpus there. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_SEED_DIR");
	struct fbuf fb;
	unsigned char *raw;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	log_open("fuzz", "/dev/null", 0);
	h_start();
	if (dir == NULL)
		return (0);
	fuzz_seeds(dir);
	/* mode 1: the hello is part of the input */
	fuzz_hello(&fb, FUZZ_PROJECT);
	raw = xmalloc(fb.sb.size + 1);
	raw[0] = 1;
	memcpy(raw + 1, fb.sb.data, fb.sb.size);
	fuzz_seed_write(dir, "hello", raw, fb.sb.size + 1);
	free(raw);
	fbuf_free(&fb);
	return (0);
}
