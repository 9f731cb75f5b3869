/*
 * A broker in the test's own process, for the broker's unit tests
 * (memcached's testapp does the same): libbroker.a with durability none,
 * on an event base the test drives itself.
 *
 * Each peer is a socketpair: the broker's end goes to client_new(), as
 * an accepted connection would, and the test writes real request frames
 * into its end and reads back the frames a client would see.  Nothing
 * sleeps: a wait runs the event loop until what it waits for is there,
 * or until H_TIMEOUT passes (then it fails, saying what it waited for).
 *
 * Replies are checked with a small language of terms separated by
 * blanks, each "path OP value", the path dotted from the frame's root:
 *
 *	ok=true r.acquired=true r.mode=shared
 *	ok=false e.code=deadlock e.message~'a holds x'
 *	r.locks[name=x].holders#0 r.locks[name=x].waiters.0.agent=b
 *
 * OP is = (equal: true, false, null, a number or a string), ~ (the
 * string contains), # (the array, map or string has that many
 * elements) or ! with no value (absent or nil).  [key=value] picks the
 * first map of an array whose key has that value.  Strings with blanks
 * go in single quotes.
 *
 * The harness records no TAP results: the test program counts them
 * (tests/tap.h keeps its counters per program).  It returns whether a
 * check held and prints diagnostics saying what it saw when one did not.
 */
#ifndef BATON_BROKER_HARNESS_H
#define BATON_BROKER_HARNESS_H

#include "common.h"

#define H_TIMEOUT 10.0 /* seconds any one wait may take before it fails */
#define H_PEERS_MAX 8  /* peers of one script: sessions 'a' to 'h' */

struct hpeer;

/* Start the broker's modules on a fresh event base (once per program). */
void h_start(void);
/* Close every peer and free what the harness holds; 0 if all went well. */
int h_stop(void);

/* A new peer: hello as agent in project (NULL: "default"); NULL on failure. */
struct hpeer *h_connect(const char *, const char *);
/* Close the peer's end and wait for the broker to end its session. */
int h_close(struct hpeer *);

/* Send a request: op with args (JSON, ' for "; NULL: none); its id. */
uint64_t h_send(struct hpeer *, const char *, const char *);
/* Send a cancel frame for request id. */
void h_cancel(struct hpeer *, uint64_t);
/* The reply to id: waited for (up to H_TIMEOUT); NULL when none came. */
const msgpack_object *h_reply(struct hpeer *, uint64_t);
/* h_send then h_reply. */
const msgpack_object *h_call(struct hpeer *, const char *, const char *);
/* The reply to id if it is there now, without waiting. */
const msgpack_object *h_take(struct hpeer *, uint64_t);
/*
 * A barrier: a status request on the peer, answered after every frame
 * sent before it, so whatever they answer at once has arrived.
 */
int h_settle(struct hpeer *);
/* Read what is there; the first frame nobody took, or NULL. */
const msgpack_object *h_stray(struct hpeer *);
/* The same, taken: the next call returns the frame after it (pushes, in order). */
const msgpack_object *h_take_stray(struct hpeer *);

/* Run the event loop until fn(arg) holds (up to H_TIMEOUT); 0 if it did. */
int h_until(int (*)(void *), void *, const char *);

/* The object at path in o (see above), or NULL. */
const msgpack_object *h_path(const msgpack_object *, const char *);
/* Do the checks hold on o?  Says which did not, and what it saw. */
int h_check(const msgpack_object *, const char *);
/* o as JSON, for messages: a static buffer, overwritten by the next call. */
const char *h_json(const msgpack_object *);
/* A string at path in o, copied (NULL: not a string). */
char *h_strdup(const msgpack_object *, const char *);
/* An integer at path in o, or def. */
int64_t h_int(const msgpack_object *, const char *, int64_t);

/*
 * Scripts: peers 'a', 'b'... each step one request (or a cancel of the
 * peer's latest waiting request, or closing the peer) and what must come
 * back: want checks its reply, or is NULL when the request must wait;
 * wakes checks the replies other waiting requests get in the same
 * moment, "b: checks | c: checks", and no other peer may get any.
 */
#define H_CANCEL "<cancel>"
#define H_CLOSE "<close>"
struct hstep {
	char who;
	const char *op;
	const char *args;
	const char *want;
	const char *wakes;
};
struct hscript {
	const char *project;
	struct hpeer *peers[H_PEERS_MAX];
	uint64_t waiting[H_PEERS_MAX][8]; /* requests of each peer without a reply */
	size_t nwaiting[H_PEERS_MAX];
};
/* Connect peers 'a'... (as agents "a"...) in project; 0 on success. */
int h_script_open(struct hscript *, const char *, size_t);
/* Run one step; 1 when everything it wants came, and nothing else. */
int h_step(struct hscript *, const struct hstep *);
/* The step as text, for the test's description. */
const char *h_step_text(const struct hstep *);
/* Close every peer of the script (what they hold goes); 0 on success. */
int h_script_close(struct hscript *);

#endif /* BATON_BROKER_HARNESS_H */
