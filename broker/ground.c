/*
 * The ground floor of batond: what every module stands on and that calls
 * nothing above it.  The event base, the configuration, the start time,
 * and timers on the event base (tmux keeps the same apart from server.c,
 * which listens and accepts, and server-client.c, one client's I/O).
 *
 * Times: instants and deadlines live on the monotonic clock (mono_ms),
 * which a change of the wall clock cannot move; the store keeps them as
 * wall-clock time, re-based at restore (deadline_to_wall and
 * deadline_from_wall in common/, past_to_wall and past_from_wall here).
 */
#include "config.h"

#include "broker.h"

struct broker_config cfg = {
	.max_wait = 50.0,
	.max_wait_progress = 600.0,
	.ticket_grace = 60.0,
	.grace = 10.0,
	.output_limit = 8 * 1024 * 1024,
	.frame_budget = 64 * 1024 * 1024,
	.frame_timeout = 30.0,
};
struct event_base *base;
uint64_t start_ms;

/* Make the event base; the broker's clock starts now. */
void
ground_start(void)
{
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	start_ms = mono_ms();
}

/* A timer on the event base that calls cb(arg); not armed yet. */
struct event *
timer_new(void (*cb)(evutil_socket_t, short, void *), void *arg)
{
	struct event *ev;

	if ((ev = evtimer_new(base, cb, arg)) == NULL)
		fatalx("evtimer_new");
	return (ev);
}

/* (Re)arm a timer to fire in secs seconds (0 or less: at the next loop pass). */
void
timer_in(struct event *ev, double secs)
{
	struct timeval tv = tv_secs(secs);

	if (evtimer_add(ev, &tv) != 0)
		fatalx("evtimer_add");
}

/* (Re)arm a timer to fire at a mono_ms() deadline (a passed one: at once). */
void
timer_at(struct event *ev, uint64_t deadline)
{
	uint64_t now = mono_ms();

	timer_in(ev, deadline > now ? (double)(deadline - now) / 1000.0 : 0);
}

/* Seconds until a mono_ms() deadline, never negative. */
double
secs_left(uint64_t deadline)
{
	uint64_t now = mono_ms();

	return (deadline > now ? (double)(deadline - now) / 1000.0 : 0.0);
}

/* The wall-clock time of a mono_ms() instant in the past, for the store. */
int64_t
past_to_wall(uint64_t at)
{
	return (wall_ms() - (int64_t)(mono_ms() - at));
}

/*
 * The mono_ms() instant of a stored wall-clock time in the past (one in
 * the future, or absent, is now).
 */
uint64_t
past_from_wall(int64_t at)
{
	uint64_t now = mono_ms();
	int64_t wall = wall_ms();
	uint64_t age = at > 0 && at < wall ? (uint64_t)(wall - at) : 0;

	return (age < now ? now - age : now);
}
