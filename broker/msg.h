/*
 * The messaging family's own header: messages and read state (msg.c)
 * and discussions (discuss.c) share one record per project; discpack.c
 * packs a discussion for discuss.c and for shared-disc.c (a shared
 * project's discussions, in etcd), which use struct disc too.  It stays
 * out of broker.h on purpose: no other module reaches into a mailbox;
 * the rest of the broker calls what broker.h's msg section declares.
 */
#ifndef BATON_MSG_H
#define BATON_MSG_H

#include "broker.h"

struct message {
	uint64_t id;
	char *from, *to, *subject, *body, *thread;
	int64_t at_ms;
	size_t size;
	TAILQ_ENTRY(message) entry;
};

/* Read state of one agent name. */
struct mbox {
	char *agent;
	uint64_t acked_upto; /* everything up to here is read */
	uint64_t *acked;     /* and these above it, sorted */
	size_t nacked, cap;
	UT_hash_handle hh;
};

struct dreply {
	char *who, *text, *waiting_on;
	int64_t at_ms;
};

struct disc {
	unsigned num;
	char *topic, *category, *priority, *waiting_on, *started_by;
	char sid[24];
	char token[TOKEN_LEN + 1];
	int resolved;
	int64_t started_ms, updated_ms, resolved_ms;
	struct dreply *replies;
	size_t nreplies;
	char *decision, *reasoning, *decided_by, *linked_task;
	TAILQ_ENTRY(disc) entry;
};

/* A project's messages, read state and discussions. */
struct mproject {
	char *name;
	char *wkey; /* wait key of its inboxes */
	TAILQ_HEAD(mlist, message) msgs;
	size_t nmsgs, bytes;
	uint64_t expired_upto; /* newest id dropped by retention */
	struct mbox *mboxes;
	size_t nmboxes;
	TAILQ_HEAD(dlist, disc) discs;
	size_t ndiscs;
	unsigned next_disc;
	UT_hash_handle hh;
};

/* msg.c */
struct mproject *mproject_find(const char *);
struct mproject *mproject_ensure(const char *);
struct mproject *mproject_of_key(const char *, const char **, int);
void msg_mark(const struct store_kind *, const struct mproject *, int, unsigned long long);
int msg_addr_match(const char *, const char *, const char *);
int msg_addr_arg(struct req *, const char *, char **);
struct message *msg_post(struct mproject *, uint64_t, const char *, const char *, const char *,
    const char *, const char *);

/* discpack.c */
unsigned disc_num(const char *, size_t);
void disc_free(struct disc *, int);
void disc_add_reply(struct disc *, const char *, const char *, const char *);
void disc_closed_why(char *, size_t, const struct disc *, const char *);
void disc_pack_summary(struct fbuf *, const struct disc *);
void disc_pack(struct fbuf *, const struct disc *);

/* discuss.c */
int disc_waits_on(const struct disc *, const char *, const char *);
size_t disc_pk_waiting(struct fbuf *, struct mproject *, const char *, const char *, size_t);

#endif /* BATON_MSG_H */
