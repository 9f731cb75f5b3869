/*
 * baton mcp's broker connection (shim/mcp-broker.c, mcp_conn_attach):
 * bytes that came in with the welcome, read by conn_open before the
 * bufferevent existed, reach the read callback first and whole, and
 * what the broker sends after them follows in order.  A bufferevent's
 * input is frozen at its end for anybody but its own reader: an
 * evbuffer_add there fails, and the bytes were lost.
 */
#include "config.h"

#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "shim.h"
#include "tap.h"

static char seen[256];
static size_t nseen;

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	(void)arg;
	if (n > sizeof seen - 1 - nseen)
		n = sizeof seen - 1 - nseen;
	evbuffer_remove(in, seen + nseen, n);
	nseen += n;
	seen[nseen] = '\0';
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;
}

int
main(void)
{
	struct event_base *base;
	struct bufferevent *bev;
	struct op_error err;
	struct conn c;
	int sp[2], i;

	plan(3);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0 || (base = event_base_new()) == NULL)
		return (1);
	memset(&c, 0, sizeof c);
	memset(&err, 0, sizeof err);
	c.fd = sp[0];
	c.rsize = 64;
	c.rbuf = xmalloc(c.rsize);
	memcpy(c.rbuf, "first:", 6); /* what conn_open read past the welcome */
	c.rlen = 6;
	bev = mcp_conn_attach(base, &c, read_cb, event_cb, NULL, &err);
	ok(bev != NULL, "mcp_conn_attach attaches");
	if (write(sp[1], "then", 4) != 4)
		return (1);
	/* each pass runs what is ready; a few are plenty, no waiting in them */
	for (i = 0; i < 20 && nseen < 10; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ok(c.rlen == 0, "the bytes read with the welcome are handed over (%zu left)", c.rlen);
	ok(strcmp(seen, "first:then") == 0,
	    "the read callback sees them first, then the rest: '%s'", seen);
	bufferevent_free(bev);
	close(sp[1]);
	free(c.rbuf);
	event_base_free(base);
	return (done_testing());
}
