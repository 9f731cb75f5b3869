/*
 * One peer's I/O (tmux's server-client.c): reading its frames into one
 * shared buffer (a buffer of its own only while a frame is partial),
 * handing each whole frame to the dispatcher server.c registered,
 * queueing replies, holding them for the commit in progress under
 * strict durability, and freeing it (its session closes with it, except
 * at a stop).
 *
 * Memory is bounded per peer and in all (batond(8), LIMITS): a peer
 * whose answers pile up (CLIENT_OUT_PAUSE) is not read until it takes
 * them, so a peer that stops reading costs that much, not what it asks
 * for; one whose queued output still passes --output-limit (answers to
 * its waits, which come without a request) is dropped.  The buffers of
 * incomplete frames share --frame-budget, and a frame must arrive whole
 * within --frame-timeout.  After a burst, the memory let go is given
 * back to the system.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/buffer.h>

#include "broker.h"

#define CLIENT_READ_CHUNK 65536         /* bytes asked of the kernel per read */
#define CLIENT_LINGER 5                 /* seconds a dropped peer has to take its last frames */
#define CLIENT_OUT_PAUSE (256 * 1024)   /* queued output past which a peer is not read */
#define CLIENT_TRIM_BYTES (1024 * 1024) /* let go of this much, and memory is trimmed */

static TAILQ_HEAD(, client) clients = TAILQ_HEAD_INITIALIZER(clients);
static TAILQ_HEAD(, client) held_clients = TAILQ_HEAD_INITIALIZER(held_clients);
static size_t nclients;
static size_t input_bytes; /* the read buffers of all peers: --frame-budget */
static size_t let_go;      /* bytes freed since the last trim */
static struct event *trim_ev;
static const char client_budget_msg[] =
    "incomplete frames of all peers would pass --frame-budget (batond(8)): send "
    "smaller frames, or try again later";
static int stopping;  /* client_shutdown: sessions stay as they are */
#define REPLY_SPARE 4 /* sent replies kept (reply_get) */
static struct reply *reply_spare[REPLY_SPARE];
static size_t nreply_spare;
static void (*client_dispatch)(struct client *, const msgpack_object *);

static void client_free(struct client *);
static void client_free_cb(evutil_socket_t, short, void *);
static void client_read_cb(evutil_socket_t, short, void *);
static void client_write_cb(struct bufferevent *, void *);
static void client_event_cb(struct bufferevent *, short, void *);
static void client_release_held(void);
static void client_resume(struct client *);

/*
 * Every whole frame a peer sends goes to dispatch; frames held for a
 * commit leave when the store says it is done.
 */
void
client_init(void (*dispatch)(struct client *, const msgpack_object *))
{
	client_dispatch = dispatch;
	store_on_commit(client_release_held);
}

size_t
client_count(void)
{
	return (nclients);
}

/* What is queued for c: its output, and what is held for the commit. */
static size_t
client_queued(struct client *c)
{
	return (evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    (c->held != NULL ? evbuffer_get_length(c->held) : 0));
}

/* What every peer's buffers hold: queued output, and input not handled yet. */
void
client_memory(size_t *output, size_t *input)
{
	struct client *c;

	*output = 0;
	TAILQ_FOREACH(c, &clients, entry)
		*output += client_queued(c);
	*input = input_bytes;
}

static void
client_trim_cb(evutil_socket_t fd, short events, void *arg)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	let_go = 0;
}

/*
 * A buffer of n bytes was let go: once a burst has let go of
 * CLIENT_TRIM_BYTES, give the free memory back to the system a second
 * later (at most once a second; malloc keeps it otherwise).
 */
static void
client_let_go(size_t n)
{
	let_go += n;
	if (let_go < CLIENT_TRIM_BYTES || base == NULL)
		return;
	if (trim_ev == NULL)
		trim_ev = timer_new(client_trim_cb, NULL);
	if (!evtimer_pending(trim_ev, NULL))
		timer_in(trim_ev, 1);
}

/*
 * Make c's read buffer size bytes (0: none), within --frame-budget for
 * all peers together; -1 when that would pass it (the buffer is as it was).
 */
static int
client_rbuf_size(struct client *c, size_t size)
{
	if (size > c->rsize && input_bytes - c->rsize + size > cfg.frame_budget)
		return (-1);
	input_bytes = input_bytes - c->rsize + size;
	if (size < c->rsize)
		client_let_go(c->rsize - size);
	if (size == 0) {
		free(c->rbuf);
		c->rbuf = NULL;
	} else
		c->rbuf = xreallocarray(c->rbuf, 1, size);
	c->rsize = size;
	return (0);
}

/* A peer accepted on fd, its credentials checked: watch it. */
struct client *
client_new(int fd, uid_t uid, pid_t pid)
{
	struct client *c = xcalloc(1, sizeof *c);

	c->fd = fd;
	c->uid = uid;
	c->pid = pid;
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new");
	/*
	 * Requests are read with our own event and buffer: the
	 * bufferevent's reader asks the kernel for the readable size
	 * (FIONREAD) before every read, a system call per request.
	 */
	bufferevent_setcb(c->bev, NULL, client_write_cb, client_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, CLIENT_OUT_PAUSE / 2, 0);
	bufferevent_enable(c->bev, EV_WRITE);
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, client_read_cb, c);
	if (c->rev == NULL || event_add(c->rev, NULL) != 0)
		fatalx("cannot watch a client");
	TAILQ_INSERT_TAIL(&clients, c, entry);
	nclients++;
	return (c);
}

/*
 * Drop every peer without closing its session: a stop is a restart to
 * come (see server_shutdown).
 */
void
client_shutdown(void)
{
	struct client *c;

	stopping = 1;
	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_free(c);
	while (nreply_spare > 0)
		free(reply_spare[--nreply_spare]);
}

/*
 * A closing client is freed as soon as nothing is held or queued for it
 * any more: every path that empties its output comes through here.
 */
static void
client_flushed(struct client *c)
{
	if (c->closing && !c->on_held_list &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		timer_in(c->free_ev, 0);
}

/*
 * Stop reading; free the client once its queued output is flushed, or
 * after CLIENT_LINGER seconds when the peer does not take it.  Its EOF
 * is not read any more, so this timer is what frees it.
 */
static void
client_close_later(struct client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	event_del(c->rev);
	c->free_ev = timer_new(client_free_cb, c);
	timer_in(c->free_ev, CLIENT_LINGER);
	client_flushed(c);
}

static void
client_free_cb(evutil_socket_t fd, short events, void *arg)
{
	client_free(arg);
}

static void
client_free(struct client *c)
{
	if (c->free_ev != NULL)
		event_free(c->free_ev);
	if (c->frame_ev != NULL)
		event_free(c->frame_ev);
	client_let_go(client_queued(c));
	client_rbuf_size(c, 0);
	if (c->session != NULL && stopping)
		c->session->client = NULL; /* kept as it is, see server_shutdown */
	else if (c->session != NULL)
		session_close(c->session);
	c->session = NULL;
	if (c->on_held_list)
		TAILQ_REMOVE(&held_clients, c, held_entry);
	if (c->held != NULL)
		evbuffer_free(c->held);
	TAILQ_REMOVE(&clients, c, entry);
	nclients--;
	event_free(c->rev);
	bufferevent_free(c->bev);
	free(c);
}

/*
 * Send bytes to a peer: straight to the socket when nothing is queued
 * (saving the poller two changes per reply), the rest through the
 * bufferevent, which writes it when the socket can take it.
 */
static void
client_write(struct client *c, const void *data, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	ssize_t n = 0;

	if (evbuffer_get_length(out) == 0) {
		n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			n = 0; /* EAGAIN, or an error the bufferevent will report */
	}
	if ((size_t)n < len && evbuffer_add(out, (const char *)data + n, len - (size_t)n) != 0)
		fatalx("evbuffer_add");
}

/*
 * Queue a finished frame (held for the commit in progress unless now);
 * a peer that stops reading is dropped.
 */
static void
client_send_how(struct client *c, struct fbuf *fb, int now)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (fbuf_finish(fb) != 0) {
		log_warnx("dropping an unencodable frame for session %s",
		    c->session != NULL ? c->session->id : "-");
		fbuf_free(fb);
		return;
	}
	if (c->closing) {
		fbuf_free(fb);
		return;
	}
	if (store_holding() && !now) {
		/* strict durability: nothing leaves before the commit */
		if (c->held == NULL && (c->held = evbuffer_new()) == NULL)
			fatalx("evbuffer_new");
		if (!c->on_held_list) {
			TAILQ_INSERT_TAIL(&held_clients, c, held_entry);
			c->on_held_list = 1;
		}
		out = c->held;
	}
	if (client_queued(c) + fb->sb.size > cfg.output_limit) {
		log_warnx("session %s: output over %zu bytes, disconnecting",
		    c->session != NULL ? c->session->id : "-", cfg.output_limit);
		client_let_go(client_queued(c) + fb->sb.size);
		fbuf_free(fb);
		evbuffer_drain(bufferevent_get_output(c->bev),
		    evbuffer_get_length(bufferevent_get_output(c->bev)));
		if (c->held != NULL)
			evbuffer_drain(c->held, evbuffer_get_length(c->held));
		client_close_later(c);
		return;
	}
	if (out == bufferevent_get_output(c->bev))
		client_write(c, fb->sb.data, fb->sb.size);
	else if (evbuffer_add(out, fb->sb.data, fb->sb.size) != 0)
		fatalx("evbuffer_add");
	if (fb->sb.size >= CLIENT_OUT_PAUSE)
		client_let_go(fb->sb.size); /* a big answer's buffer */
	fbuf_free(fb);
}

/* Queue a finished frame; a peer whose output passes its limit is dropped. */
void
client_send(struct client *c, struct fbuf *fb)
{
	client_send_how(c, fb, 0);
}

/* Send a finished frame at once, even while a commit is pending. */
void
client_send_now(struct client *c, struct fbuf *fb)
{
	client_send_how(c, fb, 1);
}

/* The commit is done: send every frame held for it, in order. */
static void
client_release_held(void)
{
	struct client *c;

	while ((c = TAILQ_FIRST(&held_clients)) != NULL) {
		TAILQ_REMOVE(&held_clients, c, held_entry);
		c->on_held_list = 0;
		client_write(c, evbuffer_pullup(c->held, -1), evbuffer_get_length(c->held));
		evbuffer_drain(c->held, evbuffer_get_length(c->held));
		client_flushed(c);
		client_resume(c);
	}
}

/* Send an error frame and close once it is flushed. */
void
client_fail(struct client *c, const char *code, const char *message)
{
	struct fbuf fb;

	log_info("session %s: %s: %s", c->session != NULL ? c->session->id : "-", code,
	    message);
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "t", FRAME_ERROR);
	pk_kstr(&fb, "code", code);
	pk_kstr(&fb, "message", message);
	pk_map_close(&fb);
	client_send(c, &fb);
	client_close_later(c);
}

/* A reply being built: the frame, and the request it answers. */
struct reply {
	struct fbuf fb; /* first: reply_begin hands out &fb */
	uint64_t id;
};

/*
 * Replies sent are kept for the next ones: a struct reply is over 1 KiB,
 * past what malloc keeps at hand per thread, and every request makes
 * one (callgrind, a lock acquire and release: ~1 k instructions a pair in
 * malloc and free).  A caller that drops a reply of its own still frees
 * it (free(fb)): these are malloc's.  (REPLY_SPARE, at the top.)
 */

/* A reply struct: a kept one, or a new one. */
static struct reply *
reply_get(void)
{
	if (nreply_spare > 0)
		return (reply_spare[--nreply_spare]);
	return (xmalloc(sizeof(struct reply)));
}

/* Done with rp (its frame buffer freed): kept, or freed past REPLY_SPARE. */
static void
reply_put(struct reply *rp)
{
	if (nreply_spare < REPLY_SPARE && !stopping)
		reply_spare[nreply_spare++] = rp;
	else
		free(rp);
}

/*
 * Begin a success reply: {t, id, ok, r: ...}.  The response map is open;
 * the caller packs the value of r (one object), and reply_end closes it.
 */
struct fbuf *
reply_begin(uint64_t id)
{
	struct reply *rp = reply_get();
	struct fbuf *fb = &rp->fb;

	rp->id = id;
	fbuf_init(fb);
	pk_map_open(fb);
	pk_kint(fb, "t", FRAME_RES);
	pk_kuint(fb, "id", id);
	pk_kbool(fb, "ok", 1);
	pk_str(fb, "r");
	return (fb);
}

/*
 * Close the response map reply_begin opened and queue the reply; a reply
 * that cannot go as one frame is answered with an error saying why, never
 * dropped: the caller waits for exactly one answer.
 */
static void
reply_finish(struct client *c, struct fbuf *fb, int now)
{
	struct reply *rp = (struct reply *)fb;
	size_t len;

	pk_map_close(fb);
	len = fb->sb.size - FRAME_HDR;
	if (!fb->err && len <= FRAME_MAX_DEFAULT) {
		client_send_how(c, fb, now);
		reply_put(rp);
		return;
	}
	fbuf_free(fb);
	if (fb->err)
		reply_error(c, rp->id, ERR_INTERNAL, NULL,
		    "the answer could not be encoded (nested too deep, or out of memory)");
	else
		reply_error(c, rp->id, ERR_LIMIT, NULL,
		    "the answer is %zu bytes, over the frame limit of %d bytes (%d MiB): ask "
		    "for less (a smaller limit, then after = the last item to page; or a "
		    "narrower prefix)",
		    len, FRAME_MAX_DEFAULT, FRAME_MAX_DEFAULT >> 20);
	reply_put(rp);
}

/* Close the response map reply_begin opened and queue the reply. */
void
reply_end(struct client *c, struct fbuf *fb)
{
	reply_finish(c, fb, 0);
}

/*
 * An answer that leaves at once, even while a commit is pending: for
 * status while the database refuses writes, so that people can see why
 * every other answer waits.
 */
void
reply_end_now(struct client *c, struct fbuf *fb)
{
	reply_finish(c, fb, 1);
}

/* Answer request id with an error: code, message and the argument at fault. */
void
reply_error(struct client *c, uint64_t id, const char *code, const char *field, const char *fmt,
    ...)
{
	struct fbuf fb;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kint(&fb, "t", FRAME_RES);
	pk_kuint(&fb, "id", id);
	pk_kbool(&fb, "ok", 0);
	pk_str(&fb, "e");
	pk_map_open(&fb);
	pk_kstr(&fb, "code", code);
	pk_kstr(&fb, "message", msg);
	pk_kstr_opt(&fb, "field", field != NULL && *field != '\0' ? field : NULL);
	pk_map_close(&fb);
	pk_map_close(&fb);
	client_send(c, &fb);
}

/*
 * A frame of c's has been incomplete for --frame-timeout: a peer that
 * stops in the middle of a frame would keep its buffer for ever.
 */
static void
client_frame_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct client *c = arg;
	char msg[160];

	snprintf(msg, sizeof msg,
	    "frame incomplete for %g s: a frame must arrive whole within --frame-timeout "
	    "(batond(8))",
	    cfg.frame_timeout);
	client_fail(c, ERR_PROTOCOL, msg);
}

/*
 * c's queued output passed CLIENT_OUT_PAUSE: read no more of its
 * requests until it takes its answers (client_resume).
 */
static void
client_pause(struct client *c)
{
	c->paused = 1;
	event_del(c->rev);
}

/*
 * c took enough of its answers: read its requests again, first those
 * already buffered (the read callback runs them, in this loop pass).
 */
static void
client_resume(struct client *c)
{
	if (!c->paused || c->closing || client_queued(c) > CLIENT_OUT_PAUSE / 2)
		return;
	c->paused = 0;
	c->backlog = c->rlen > 0;
	client_let_go(CLIENT_OUT_PAUSE);
	if (event_add(c->rev, NULL) != 0)
		fatalx("cannot watch a client");
	event_active(c->rev, EV_READ, 1);
}

/*
 * Keep what client_frames did not handle, buf from off to len: an
 * incomplete frame, with room to read the rest, or the requests of a
 * paused peer.  buf is c->rbuf or, when c had nothing buffered, the
 * shared read buffer.  Arms the frame deadline anew when a frame
 * completed (progress), else leaves it running.
 */
static void
client_keep(struct client *c, unsigned char *buf, size_t off, size_t len, int progress)
{
	size_t rest = len - off;

	if (buf == c->rbuf)
		memmove(c->rbuf, c->rbuf + off, rest);
	else if (client_rbuf_size(c, c->paused ? rest : rest + CLIENT_READ_CHUNK) == 0)
		memcpy(c->rbuf, buf + off, rest);
	else {
		c->rlen = 0;
		client_fail(c, ERR_LIMIT, client_budget_msg);
		return;
	}
	c->rlen = rest;
	if (c->paused) {
		if (c->frame_ev != NULL)
			event_del(c->frame_ev); /* we do not read it: not the peer's delay */
		return;
	}
	if (c->frame_ev == NULL)
		c->frame_ev = timer_new(client_frame_timeout_cb, c);
	if (progress || !evtimer_pending(c->frame_ev, NULL))
		timer_in(c->frame_ev, cfg.frame_timeout);
}

/*
 * Decode and dispatch every whole frame in buf; keep the rest in c->rbuf
 * (buf may be the shared read buffer or c->rbuf itself).  A peer whose
 * answers pile up is paused before its next frame.
 */
static void
client_frames(struct client *c, unsigned char *buf, size_t len)
{
	/*
	 * One zone for every request, cleared after each (its first chunk
	 * kept): frames are handled one at a time, as the shared read
	 * buffer is, and nothing keeps a request past its dispatch.
	 */
	static msgpack_zone *zone;
	const char *cause = NULL;
	msgpack_object f;
	size_t off = 0;
	ssize_t n;

	if (zone == NULL && (zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)) == NULL)
		fatalx("client: out of memory");

	while (!c->closing) {
		if (client_queued(c) > CLIENT_OUT_PAUSE) {
			client_pause(c);
			break;
		}
		if ((n = frame_length(buf + off, len - off, FRAME_MAX_DEFAULT, &cause)) < 0) {
			client_fail(c, ERR_PROTOCOL, cause);
			break;
		}
		if (n == 0 || len - off < (size_t)n + FRAME_HDR)
			break;
		if (frame_decode_zone(buf + off + FRAME_HDR, (size_t)n, zone, &f, &cause) !=
		    0) {
			msgpack_zone_clear(zone);
			client_fail(c, ERR_PROTOCOL, cause);
			break;
		}
		off += (size_t)n + FRAME_HDR;
		client_dispatch(c, &f);
		msgpack_zone_clear(zone);
	}
	if (!c->closing && len > off) {
		client_keep(c, buf, off, len, off > 0);
		return;
	}
	/* an idle session keeps no buffer (10 000 of them, DESIGN 9) */
	c->rlen = 0;
	client_rbuf_size(c, 0);
	if (c->frame_ev != NULL)
		event_del(c->frame_ev);
}

/*
 * Bytes from a peer: read what is there (one call), then handle the
 * frames.  Whole requests are read into one buffer shared by all
 * clients; only a client with a partial frame has a buffer of its own.
 */
static void
client_read_cb(evutil_socket_t fd, short events, void *arg)
{
	static unsigned char shared[CLIENT_READ_CHUNK];
	struct client *c = arg;
	unsigned char *buf;
	const char *cause;
	ssize_t n, want;
	size_t room;

	if (c->rlen > 0 && c->backlog) {
		/* resumed: first the requests read before the pause */
		c->backlog = 0;
		client_frames(c, c->rbuf, c->rlen);
		return;
	}
	if (c->rlen == 0) {
		buf = shared;
		room = sizeof shared;
	} else {
		/* room for the frame announced, or a good chunk more */
		want = frame_length(c->rbuf, c->rlen, FRAME_MAX_DEFAULT, &cause);
		if (want > 0 && (size_t)want + FRAME_HDR > c->rlen + CLIENT_READ_CHUNK)
			want += FRAME_HDR;
		else
			want = (ssize_t)(c->rlen + CLIENT_READ_CHUNK);
		if (c->rsize < (size_t)want && client_rbuf_size(c, (size_t)want) != 0) {
			client_fail(c, ERR_LIMIT, client_budget_msg);
			return;
		}
		buf = c->rbuf;
		room = c->rsize - c->rlen;
	}
	n = recv(fd, buf + (buf == shared ? 0 : c->rlen), room, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_debug("session %s: disconnected%s%s",
		    c->session != NULL ? c->session->id : "-", n == -1 ? ": " : "",
		    n == -1 ? strerror(errno) : "");
		client_free(c);
		return;
	}
	client_frames(c, buf, (buf == shared ? 0 : c->rlen) + (size_t)n);
}

/* The output went under the low watermark (CLIENT_OUT_PAUSE / 2). */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	client_flushed(arg);
	client_resume(arg);
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_debug("session %s: disconnected",
		    c->session != NULL ? c->session->id : "-");
		client_free(c);
	}
}
