/*
 * crash_client: one client of the crash-loop test (tests/crashloop.sh).
 * It works against a broker that is killed with SIGKILL and restarted
 * under it, reconnects with its session token, and logs every answer it
 * got (only those: a call cut off by the crash is unknown) so that the
 * test can check afterwards that nothing acknowledged was lost.
 *
 *	crash_client SOCKET ID LOG STOPFILE
 *
 * Each cycle, until STOPFILE exists:
 *   - counter_incr crash.shared         log "C value"
 *   - counter_incr crash.c.ID           log "P value"  (must grow)
 *   - note_set crash.note if_version=B  log "N B version value"
 *   - note_set crash.n.ID if_version    log "M version"  (must not go back)
 *   - lock_acquire crash.lock (wait)    log "G fence t_ns" after the grant,
 *     counter_incr crash.shared inside, "R fence t_ns" before the release
 *     ("L fence t_ns" if the lock was found lost after a restart; a release
 *     cut off and found not done is logged "R" again before it is retried).
 * t_ns is CLOCK_MONOTONIC, comparable across processes.  A reconnect logs
 * "X reclaimed|new"; a violation seen here logs "BAD ..." and makes the
 * exit status 1.  Exit 2: the broker stayed away for 30 s.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define CRASH_RECONNECT_S 30 /* the broker may stay away this long */
#define CRASH_LOCK_WAIT 20   /* wait_seconds of lock_acquire */

static const char *sock;
static int id, logfd, bad;
static struct conn conn;
static int connected;
static char *token;

/* CLOCK_MONOTONIC in nanoseconds. */
static long long
crash_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

/* Append one line to the log with a single write (O_APPEND). */
static void printflike(1, 2) crash_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line - 1)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (write(logfd, line, (size_t)n) != n) {
		perror("crash_client: log");
		exit(70);
	}
	if (strncmp(fmt, "BAD", 3) == 0)
		bad = 1;
}

/* (Re)connect with backoff, presenting the last session token. */
static void
crash_connect(void)
{
	struct client_opts o;
	struct op_error err;
	struct timespec delay = { 0, 5000000 };
	long long deadline = crash_now() + CRASH_RECONNECT_S * 1000000000LL;
	char agent[32];

	client_opts_default(&o);
	o.autostart = 0; /* the test restarts the broker itself */
	o.socket = sock;
	snprintf(agent, sizeof agent, "crash-%d", id);
	o.agent = agent;
	o.client_name = "crash_client";
	for (;;) {
		o.token = token;
		memset(&err, 0, sizeof err);
		if (conn_open(&conn, &o, &err) == 0)
			break;
		if (crash_now() > deadline) {
			fprintf(stderr, "crash_client %d: no broker for %d s: %s\n", id,
			    CRASH_RECONNECT_S, err.message);
			exit(2);
		}
		nanosleep(&delay, NULL); /* backoff: nothing tells us it is back */
		if (delay.tv_nsec < 80000000)
			delay.tv_nsec *= 2;
	}
	if (token != NULL)
		crash_log("X %s", conn.reclaimed > 0 ? "reclaimed" : "new");
	free(token);
	token = xstrdup(conn.token);
	connected = 1;
}

/*
 * One call with args as JSON text; 0 with the result in u and r, -1 when the
 * connection broke (the outcome is unknown), exit on any other error.
 */
static int
crash_call(const char *op, const char *json, msgpack_unpacked *u, const msgpack_object **r)
{
	const msgpack_object *args;
	msgpack_sbuffer sb;
	msgpack_unpacked au;
	struct op_error err;
	cJSON *j;
	int rv;

	memset(&err, 0, sizeof err);
	if ((j = cJSON_Parse(json)) == NULL) {
		fprintf(stderr, "crash_client: bad JSON %s\n", json);
		exit(70);
	}
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&au);
	if (json_args_to_msgpack(j, &sb, &au, &args, &err) != 0) {
		fprintf(stderr, "crash_client: %s\n", err.message);
		exit(70);
	}
	rv = conn_call(&conn, op, sb.data, sb.size, u, r, &err);
	msgpack_unpacked_destroy(&au);
	msgpack_sbuffer_destroy(&sb);
	cJSON_Delete(j);
	if (rv == 0)
		return (0);
	if (strcmp(err.code, ERR_UNAVAILABLE) == 0 || strcmp(err.code, ERR_PROTOCOL) == 0) {
		conn_close(&conn);
		connected = 0;
		return (-1);
	}
	fprintf(stderr, "crash_client %d: %s: %s: %s\n", id, op, err.code, err.message);
	exit(70);
}

/* An integer field of a result, or exit. */
static int64_t
crash_int(const msgpack_object *r, const char *key)
{
	int64_t v;

	if (mp_int(mp_get(r, key), &v) != 0) {
		fprintf(stderr, "crash_client %d: the answer lacks %s\n", id, key);
		exit(70);
	}
	return (v);
}

/* op {arg: name}: the integer field of its answer, or -1 when cut off. */
static int64_t
crash_call_int(const char *op, const char *arg, const char *name, const char *field)
{
	const msgpack_object *r;
	msgpack_unpacked u;
	char args[128];
	int64_t v = -1;

	snprintf(args, sizeof args, "{\"%s\":\"%s\"}", arg, name);
	msgpack_unpacked_init(&u);
	if (crash_call(op, args, &u, &r) == 0)
		v = crash_int(r, field);
	msgpack_unpacked_destroy(&u);
	return (v);
}

/* counter_incr NAME: the new value, or -1 when the connection broke. */
static int64_t
crash_incr(const char *name)
{
	return (crash_call_int("counter_incr", "name", name, "value"));
}

/*
 * note_set KEY with if_version *base: 1 written (*base becomes the new
 * version), 0 refused (*base becomes the current one), -1 cut off.
 */
static int
crash_cas(const char *key, int64_t *base, const char *value)
{
	const msgpack_object *r;
	msgpack_unpacked u;
	char args[256];
	int written = 0, rv = -1;

	snprintf(args, sizeof args, "{\"key\":\"%s\",\"value\":\"%s\",\"if_version\":%lld}",
	    key, value, (long long)*base);
	msgpack_unpacked_init(&u);
	if (crash_call("note_set", args, &u, &r) == 0) {
		mp_bool(mp_get(r, "written"), &written);
		*base = crash_int(r, "version");
		rv = written;
	}
	msgpack_unpacked_destroy(&u);
	return (rv);
}

/* The version of note KEY, or -1 when cut off. */
static int64_t
crash_note_version(const char *key)
{
	return (crash_call_int("note_get", "key", key, "version"));
}

/*
 * Does this session hold crash.lock (after a reconnect)?  1 with its
 * fence in *fence, 0 no, -1 cut off.
 */
static int
crash_holding(int64_t *fence)
{
	const msgpack_object *r, *ls, *hs, *h;
	msgpack_unpacked u;
	const char *sid;
	size_t len, i;
	int rv = -1;

	msgpack_unpacked_init(&u);
	if (crash_call("lock_list", "{\"prefix\":\"crash.lock\"}", &u, &r) == 0) {
		rv = 0;
		ls = mp_get(r, "locks");
		if (ls != NULL && ls->type == MSGPACK_OBJECT_ARRAY && ls->via.array.size > 0 &&
		    (hs = mp_get(&ls->via.array.ptr[0], "holders")) != NULL &&
		    hs->type == MSGPACK_OBJECT_ARRAY) {
			for (i = 0; i < hs->via.array.size; i++) {
				h = &hs->via.array.ptr[i];
				if (mp_str(mp_get(h, "session"), &sid, &len) == 0 &&
				    len == strlen(conn.session) &&
				    memcmp(sid, conn.session, len) == 0) {
					*fence = crash_int(h, "fence");
					rv = 1;
				}
			}
		}
	}
	msgpack_unpacked_destroy(&u);
	return (rv);
}

/* lock_acquire crash.lock: 1 granted (*fence), 0 not, -1 cut off. */
static int
crash_acquire(int64_t *fence)
{
	const msgpack_object *r;
	msgpack_unpacked u;
	char args[128];
	int yes = 0, rv = -1;

	snprintf(args, sizeof args, "{\"name\":\"crash.lock\",\"wait_seconds\":%d}",
	    CRASH_LOCK_WAIT);
	msgpack_unpacked_init(&u);
	if (crash_call("lock_acquire", args, &u, &r) == 0) {
		mp_bool(mp_get(r, "acquired"), &yes);
		if (yes)
			*fence = crash_int(r, "fence");
		rv = yes;
	}
	msgpack_unpacked_destroy(&u);
	return (rv);
}

/* lock_release crash.lock: 0 released, -1 cut off. */
static int
crash_release(void)
{
	const msgpack_object *r;
	msgpack_unpacked u;
	int yes = 0, rv = -1;

	msgpack_unpacked_init(&u);
	if (crash_call("lock_release", "{\"name\":\"crash.lock\"}", &u, &r) == 0) {
		mp_bool(mp_get(r, "released"), &yes);
		if (!yes)
			crash_log("BAD release of a held lock answered released:false");
		rv = 0;
	}
	msgpack_unpacked_destroy(&u);
	return (rv);
}

int
main(int argc, char **argv)
{
	char ckey[64], nkey[64], value[64];
	int64_t v, last_p = 0, shared_base = 0, my_base = 0, my_acked = 0, fence = 0, f = 0;
	int holding = 0, releasing = 0, seq = 0, rc;
	const char *stop;

	if (argc != 5) {
		fprintf(stderr, "usage: crash_client SOCKET ID LOG STOPFILE\n");
		return (64);
	}
	sock = argv[1];
	id = atoi(argv[2]);
	stop = argv[4];
	if ((logfd = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) == -1) {
		perror(argv[3]);
		return (70);
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(ckey, sizeof ckey, "crash.c.%d", id);
	snprintf(nkey, sizeof nkey, "crash.n.%d", id);

	while (access(stop, F_OK) != 0) {
		if (!connected) {
			crash_connect();
			/* what the last attempt left: our note, a lock we may hold */
			if ((v = crash_note_version(nkey)) < 0)
				continue;
			if (v < my_acked)
				crash_log("BAD note %s is at version %lld below the "
					  "acknowledged %lld",
				    nkey, (long long)v, (long long)my_acked);
			my_base = v;
			if ((rc = crash_holding(&f)) < 0)
				continue;
			if (releasing && rc) {
				/* the release did not get through: it is still ours */
				crash_log("R %lld %lld", (long long)fence, crash_now());
				goto release;
			}
			if (releasing)
				holding = releasing = 0; /* it did, the answer was lost */
			else if (holding && !rc) {
				crash_log("L %lld %lld", (long long)fence, crash_now());
				holding = 0;
			} else if (!holding && rc) {
				/* granted, but the answer was lost in the crash */
				crash_log("G %lld %lld", (long long)f, crash_now());
				holding = 1;
				fence = f;
			} else if (holding && f != fence)
				crash_log("BAD fence of the held lock changed %lld -> %lld",
				    (long long)fence, (long long)f);
			if (holding)
				goto inside;
		}
		seq++;
		if ((v = crash_incr("crash.shared")) < 0)
			continue;
		crash_log("C %lld", (long long)v);
		if ((v = crash_incr(ckey)) < 0)
			continue;
		if (v <= last_p)
			crash_log("BAD counter %s answered %lld after %lld", ckey, (long long)v,
			    (long long)last_p);
		crash_log("P %lld", (long long)v);
		last_p = v;
		snprintf(value, sizeof value, "%d:%d", id, seq);
		v = shared_base;
		if ((rc = crash_cas("crash.note", &shared_base, value)) < 0)
			continue;
		if (rc == 1)
			crash_log("N %lld %lld %s", (long long)v, (long long)shared_base,
			    value);
		v = my_base;
		if ((rc = crash_cas(nkey, &my_base, value)) < 0)
			continue;
		if (rc == 0 && my_base < my_acked)
			crash_log("BAD note %s refused at version %lld below the acknowledged "
				  "%lld",
			    nkey, (long long)my_base, (long long)my_acked);
		if (rc == 1) {
			crash_log("M %lld", (long long)my_base);
			my_acked = my_base;
		}
		if ((rc = crash_acquire(&fence)) < 0)
			continue;
		if (rc == 0)
			continue; /* timed out in line: try again next cycle */
		holding = 1;
		crash_log("G %lld %lld", (long long)fence, crash_now());
	inside:
		if ((v = crash_incr("crash.shared")) < 0)
			continue;
		crash_log("C %lld", (long long)v);
		crash_log("R %lld %lld", (long long)fence, crash_now());
		releasing = 1;
	release:
		if (crash_release() < 0)
			continue; /* whether it went through is checked on reconnect */
		holding = releasing = 0;
	}
	if (connected && holding) {
		crash_log("R %lld %lld", (long long)fence, crash_now());
		crash_release();
	}
	crash_log("E %lld %lld", (long long)last_p, (long long)my_acked);
	if (connected)
		conn_close(&conn);
	return (bad);
}
