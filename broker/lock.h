/*
 * The lock family's own header: the locks, their queues and grants
 * (lock.c), their checkpoint rows and listings (lockrow.c) and the
 * reservations task claims hold (lockhold.c) share these structures.
 * They stay out of broker.h on purpose: no other module reaches into a
 * lock; the rest of the broker calls what broker.h's lock section
 * declares.
 */
#ifndef BATON_LOCK_H
#define BATON_LOCK_H

#include "broker.h"

struct wlink {
	struct waiter *w;
	TAILQ_ENTRY(wlink) entry;
};

struct lock {
	char *key;     /* project '\n' name: the hash key */
	char *project; /* namespace */
	char *name;    /* as shown; file reservations normalized */
	char *path;    /* file reservations: the normalized path, else NULL */
	TAILQ_HEAD(, grant) holders;
	TAILQ_HEAD(, wlink) queue;
	size_t nwaiters;
	int pumping; /* on the wake list */
	UT_hash_handle hh;
	TAILQ_ENTRY(lock) fentry; /* file reservations, for overlap checks */
};

/* The grants of one acquire: one token, released together by it. */
struct gset {
	char token[TOKEN_LEN + 1];
	TAILQ_HEAD(, grant) grants;
	UT_hash_handle hh;
};

/*
 * One holder of one lock: bound to its session (session set), detached
 * with a TTL (expires_ms set), or held for a task's claim (held: no
 * session, no expiry; lockhold.c releases it by its token).
 */
struct grant {
	struct lock *lock;
	struct gset *set;
	struct session *session; /* NULL when detached or held */
	char sid[24];            /* the session that took it (or holds the claim) */
	char *agent, *reason;
	uint64_t fence;
	enum lock_mode mode;
	int held;
	uint64_t granted_ms, expires_ms; /* expires_ms 0: not detached */
	struct event *ttl_ev;
	TAILQ_ENTRY(grant) lentry;
	TAILQ_ENTRY(grant) sentry;
	TAILQ_ENTRY(grant) gentry;
};

/* A request waiting in line for its locks (lock.c), parked when its wait timed out. */
struct waiter {
	struct session *session;
	uint64_t req_id;
	uint64_t seq; /* arrival order across all queues */
	int active;   /* 0: timed out, parked with a ticket */
	enum lock_mode mode;
	double ttl;
	double cap; /* the cap on its wait, told in the answer */
	char *reason;
	char ticket[TOKEN_LEN + 1];
	uint64_t since_ms;
	size_t n;
	struct lock **locks;
	struct wlink *links;
	char **held; /* names of the request the session held already */
	size_t nheld;
	struct event *timer;
	TAILQ_ENTRY(waiter) sentry;
};

/* Grants that stand in a request's way, without duplicates. */
struct blockers {
	struct grant **v;
	size_t n, cap;
};

/* lock.c */
extern struct lock *locks;
const char *mode_name(enum lock_mode);
struct lock *lock_find(const char *, const char *);
struct lock *lock_get(char *, char *, char *);
void lock_gc(struct lock *);
void lock_pump_all(void);
int lock_free_now(struct lock **, size_t, enum lock_mode, const char *);
void blockers_of(struct lock **, size_t, enum lock_mode, const char *, struct blockers *);
struct grant *grant_new(struct lock *, struct session *, const char *, const char *,
    enum lock_mode, double, const char *, const char *, uint64_t);
void grant_release(struct grant *, const char *);
struct gset *gset_find(const char *, size_t);
void pk_holder(struct fbuf *, const struct grant *, int);
void pk_holders(struct fbuf *, struct lock *);

#endif /* BATON_LOCK_H */
