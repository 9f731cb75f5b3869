/*
 * broker/: batond, one per user.  One header, grouped by file.
 *
 * The files stand on each other in this order: each calls only files
 * listed before it (and common/), never one after it.
 *
 *   ground.c    the event base, the configuration, timers; calls nobody
 *   team.c      who may connect, who may run the owner's operations, and
 *               the names sessions go by (user/agent on a team broker)
 *   journal.c   the journal: a group commit's rows in one write(), folded
 *               into SQLite by a thread of its own; calls crc32.c only
 *   crc32.c     the CRC-32 of the journal's groups; calls nobody
 *   store.c     the SQLite checkpoint, and the revision counter whose
 *               ceiling it persists; tells client.c a commit is done
 *               through the function given to store_on_commit
 *   session.c   sessions.  What a session holds belongs to the modules
 *               that hold it, which register hooks in their init
 *               functions (session_on_close, session_on_cancel,
 *               session_on_hold); session.c calls none of them by name
 *   client.c    one peer's I/O: reads frames and hands them to the
 *               dispatcher server.c gave client_init; replies (reply_*),
 *               held for the commit in progress; frees the peer and
 *               closes its session
 *   wait.c      blocking calls parked on a key until it changes
 *   etcd.c      the etcd client (HTTP/JSON gateway, watches); calls
 *               ground.c and etcd-tls.c only
 *   etcd-tls.c  its TLS (OpenSSL bufferevents) and the credentials of
 *               etcd's authentication; calls ground.c only
 *   discpack.c  a discussion as the wire shows it (msg.h's struct disc),
 *               for discuss.c and shared-disc.c; calls nobody
 *   shared.c    shared projects: their operations served from etcd by
 *               shared-lock.c, shared-note.c, shared-msg.c and
 *               shared-disc.c (shared.h is theirs and etcd.c's); calls
 *               sessions, replies, waits; agent.c calls shared_join, with
 *               the step that joins.  Tasks are shared-task.c's, which
 *               stands after task.c (it packs and checks tasks with
 *               task.c's functions): shared.c reaches it through its
 *               handler table and its session-end function only
 *   feed.c      the audit log of every change (modules call feed_record
 *               where they change state) and its live subscribers;
 *               server.c tells it where a request begins and ends
 *   presence.c  who is present in a project; a change is told to the
 *               function given to presence_on_change (msg.c's)
 *   record.c    records of what clients did outside the broker: named
 *               string fields per project, one store kind per table
 *   worktree.c  the worktree records (reads presence); claim.c names
 *               the claimant's worktree through worktree_pack_claim
 *   msg.c       messages (reads presence); discuss.c discussions; the
 *               two share msg.h
 *   lock.c      locks: grants, queues, acquire and release (tells a
 *               broken lock's holders through msg_notice); lockrow.c
 *               their rows and lock_list, lockhold.c the reservations
 *               task claims hold; they share lock.h
 *   note.c      notes, counters, events
 *   queue.c     work queues: items taken under a lease bound to the
 *               session and a deadline
 *   task.c      tasks: task.c the task itself, review.c the status
 *               machine and review, claim.c claims and leases, taskrow.c
 *               its store kind, project.c the project context,
 *               tasknews.c what is news to an agent; they share task.h
 *   guide.c     the live role guidance from common/guide.c's texts
 *   launch.c    the launched-agent records (reads presence and tasks)
 *   agent.c     agent_join and agent_list: read presence, messages,
 *               tasks and locks
 *   status.c    the status operation
 *   notice.c    what baton hook told each agent: news told once (reads
 *               messages and tasks)
 *   hook.c      baton hook's operations: which agent session a hook
 *               acts as, the reservations in an edit's way, the news
 *   dump.c      the state as JSON (batond --export, --import, state_export)
 *   server.c    listen, accept, the hello, dispatch to every handler
 *   main.c      options and start-up: calls each module's init (which
 *               registers its hooks, in the order teardown runs them)
 *
 * Two tables name modules without calling back up: store.c's list of
 * store kinds (in restore order; each kind is called through its
 * pack and restore) and server.c's handler table (op_NAME for
 * every operation).  A new operation is a line in BATON_OPS and an entry
 * in common/ops.c, and its handler op_NAME in the file of its module.
 */
#ifndef BATON_BROKER_H
#define BATON_BROKER_H

#include <sys/queue.h>

#include <event2/event.h>
#include <event2/bufferevent.h>

#include <uthash.h>

#include "common.h"

#define GLOBAL_PROJECT "global"

enum lock_mode { LOCK_EXCLUSIVE, LOCK_SHARED };

struct session;
struct grant;
struct waiter;
struct bwait;
struct wait_key;

/* One accepted connection.  Owns its session until the connection closes. */
struct client {
	int fd;
	uid_t uid;
	pid_t pid;
	struct bufferevent *bev; /* output; input is read by rev into rbuf */
	struct event *rev;
	unsigned char *rbuf;
	size_t rlen, rsize;
	struct session *session; /* NULL until hello */
	int closing;             /* flush what is queued, then free */
	int paused;              /* its answers pile up: its requests wait */
	int backlog;             /* rbuf holds requests read before a pause */
	struct event *frame_ev;  /* rbuf's incomplete frame must be whole by then */
	struct evbuffer *held;   /* frames waiting for the commit in progress */
	int on_held_list;
	TAILQ_ENTRY(client) held_entry;
	struct event *
	    free_ev; /* frees a closing client: once flushed, or at the latest after a linger */
	TAILQ_ENTRY(client) entry;
};

/* A process above a client, as its hello names it (proto.h). */
struct ancestor {
	pid_t pid;
	uint64_t start; /* clock ticks after boot: a reused pid differs */
};

/* A connected agent or script: identity and what it holds. */
struct session {
	char id[24];
	char token[33];
	char *agent, *role, *project, *kind;
	char *client_name, *client_version;
	char *agent_session;       /* the agent CLI's session id, or NULL */
	uid_t uid;                 /* the peer's, as SO_PEERCRED said */
	struct ancestor *ancestry; /* parent first, up to init */
	size_t nancestry;
	pid_t pid;
	uint64_t connected_ms, active_ms;
	struct client *client;
	TAILQ_HEAD(, grant) grants;   /* session-bound lock grants */
	TAILQ_HEAD(, waiter) waiters; /* lock waits in progress */
	TAILQ_HEAD(, bwait) bwaits;   /* other blocking calls in progress */
	unsigned nparked;             /* blocking calls waiting: wait_session_full */
	struct event *grace_ev;       /* restored and not reclaimed yet */
	unsigned char *row;           /* its stored row, packed once (session_pack) */
	size_t rowlen;
	UT_hash_handle hh; /* sessions by id */
	TAILQ_ENTRY(session) entry;
};

/* A request being handled; lives for the handler call only. */
struct req {
	struct client *c;
	struct session *s;
	uint64_t id;
	int progress; /* the client keeps a long wait alive (req key "p") */
	const struct op *op;
	const msgpack_object *vals[OP_MAX_ARGS]; /* op_validate's: read with arg_*() */
};

typedef void op_handler(struct req *);

/*
 * A handler's arguments, by name (common/ops.c): absent ones read as the
 * table's default.  arg_get is NULL for an absent argument.
 */
static inline const msgpack_object *
arg_get(const struct req *r, const char *name)
{
	return (op_arg_value(r->op, r->vals, name));
}
static inline int
arg_has(const struct req *r, const char *name)
{
	return (op_arg_value(r->op, r->vals, name) != NULL);
}
static inline double
arg_num(const struct req *r, const char *name)
{
	return (op_arg_num(r->op, r->vals, name));
}
static inline int64_t
arg_int(const struct req *r, const char *name)
{
	return (op_arg_int(r->op, r->vals, name));
}
static inline int
arg_bool(const struct req *r, const char *name)
{
	return (op_arg_bool(r->op, r->vals, name));
}
static inline const char *
arg_str(const struct req *r, const char *name, size_t *len)
{
	return (op_arg_str(r->op, r->vals, name, len));
}
static inline char *
arg_strdup(const struct req *r, const char *name)
{
	return (op_arg_strdup(r->op, r->vals, name));
}
/* A copy of a string argument, or NULL when absent or empty (optional texts). */
static inline char *
arg_text(const struct req *r, const char *name)
{
	size_t n;
	const char *s = arg_str(r, name, &n);

	return (s != NULL && n > 0 ? xstrndup(s, n) : NULL);
}

/* ground.c: the event base, the configuration, timers */
struct broker_config {
	const char *socket;
	const char *state_dir;
	int allow_root;
	double max_wait;          /* cap on wait_seconds */
	double max_wait_progress; /* the cap when the client sends progress */
	double ticket_grace;      /* seconds a timed-out lock waiter keeps its place */
	int foreground;
	int verbose;
	double grace;         /* seconds a restored session may take to reclaim */
	size_t output_limit;  /* queued output past which a peer is dropped */
	size_t frame_budget;  /* read buffers of all peers together */
	double frame_timeout; /* seconds a frame may take to arrive whole */
};
extern struct broker_config cfg;
extern struct event_base *base;
extern uint64_t start_ms;
void ground_start(void);
struct event *timer_new(void (*)(evutil_socket_t, short, void *), void *);
void timer_in(struct event *, double);
void timer_at(struct event *, uint64_t);
double secs_left(uint64_t);
int64_t past_to_wall(uint64_t);
uint64_t past_from_wall(int64_t);

/* team.c: who may connect and run what, under which name (DESIGN 15) */
int team_init(const char *, const char *, char **); /* group and admins, or NULL */
int team_peer_ok(uid_t, pid_t);
int team_admin(uid_t); /* may run OP_OWNER operations */
const char *team_admin_why(void);
char *team_agent_name(uid_t, const char *, size_t, char **);
char *team_agent_addr(uid_t, const char *, size_t); /* "x" is the sender's user's */

/* crc32.c: CRC-32 (IEEE) of the journal's groups */
void crc32_init(void);
uint32_t crc32_update(uint32_t, const void *, size_t);

struct sqlite3;
/* journal.c: a group commit in one write(), folded into SQLite off the loop */
char *journal_path(const char *);
int journal_attach(struct sqlite3 *, char **);
int journal_open(const char *, int, uint64_t, char **);
void journal_put(const char *, const char *, const void *, size_t);
void journal_meta(const char *, uint64_t);
void journal_log(uint64_t, int64_t, const void *, size_t);
void journal_prune(uint64_t);
void journal_discard(void);
int journal_commit(char **);
int journal_drain(char **);
const char *journal_error(void);
void journal_close(void);

/* store.c: the SQLite checkpoint */
enum durability { DURABILITY_STRICT, DURABILITY_RELAXED, DURABILITY_NONE };
struct store_kind {
	const char *name;
	/* pack the row of key into fb; 0 when the object no longer exists (delete) */
	int (*pack)(const struct store_kind *, const char *, struct fbuf *);
	/* rebuild the object of key from its row at start-up; -1 with cause */
	int (
	    *restore)(const struct store_kind *, const char *, const msgpack_object *, char **);
	void *arg; /* the kind's data, for kinds that share pack and restore */
	/* optional: told before its restore how many rows it may get (at most) */
	void (*expect)(size_t);
};
extern enum durability durability;
extern int restoring;
extern uint64_t revision;
uint64_t revision_next(void);
void store_on_commit(void (*)(void));
struct sqlite3;
struct store_writer {        /* a table of one's own, written in every commit */
	void (*write)(void); /* its rows into the group: journal_log, journal_prune */
	void (*done)(void);  /* the group is durable */
};
void store_on_flush(const struct store_writer *);
struct sqlite3 *store_db(void);
void store_touch(void);
extern const struct store_kind session_store_kind, lock_store_kind;
extern const struct store_kind note_store_kind, counter_store_kind, event_store_kind;
extern const struct store_kind project_store_kind, task_store_kind;
extern const struct store_kind mproject_store_kind, message_store_kind, mbox_store_kind;
extern const struct store_kind discussion_store_kind, presence_store_kind;
extern const struct store_kind notice_store_kind;
extern const struct store_kind worktree_store_kind, launch_store_kind;
extern const struct store_kind queue_store_kind;
int store_open(const char *, int, int, char **);
int store_mark_read(const char *, uint64_t *, uint64_t *, char **);
struct sqlite3;
struct store_row { /* one row for store_write_rows */
	const struct store_kind *kind;
	const char *key;
	const void *data; /* msgpack */
	size_t len;
};
int store_open_file(const char *, int, char **);
int store_schema_version(void);
int store_user_version(struct sqlite3 *, int *, char **);
int store_meta_get(struct sqlite3 *, const char *, uint64_t *, char **);
int store_write_rows(const struct store_row *, size_t, uint64_t, char **);
int store_snapshot(const char *, uint64_t *, char **);
const struct store_kind *store_kind_find(const char *);
const struct store_kind *store_kind_at(size_t);
void store_start(void);
int store_restore(char **);
void store_mark(const struct store_kind *, const char *);
int store_holding(void);
void store_close(void);
void store_forget(void);
const char *durability_name(void);
const char *store_last_error(void);

/* session.c */
void session_on_close(void (*)(struct session *));
void session_on_cancel(int (*)(struct session *, uint64_t));
void session_on_hold(size_t (*)(struct session *));
int session_cancel(struct session *, uint64_t);
struct session *session_create(struct client *, const msgpack_object *, char **);
void session_close(struct session *);
void session_changed(struct session *);
void session_renamed(struct session *);
struct session *session_reclaim(struct client *, const char *, size_t);
void session_seed(uint64_t);
struct session *session_find(const char *);
size_t session_count(const char *);
extern TAILQ_HEAD(session_list, session) sessions;

/* client.c: one peer's I/O, replies */
void client_init(void (*)(struct client *, const msgpack_object *));
struct client *client_new(int, uid_t, pid_t);
void client_shutdown(void);
size_t client_count(void);
void client_send(struct client *, struct fbuf *);
void client_send_now(struct client *, struct fbuf *);
void client_fail(struct client *, const char *, const char *);
void client_memory(size_t *, size_t *);
struct fbuf *reply_begin(uint64_t);
void reply_end(struct client *, struct fbuf *);
void reply_end_now(struct client *, struct fbuf *);
void reply_error(struct client *, uint64_t, const char *, const char *, const char *, ...)
    printflike(5, 6);
/*
 * A paged list stops adding items once its reply has passed this size,
 * and says more: far enough under the frame limit for the item after.
 */
#define REPLY_PAGE_BYTES (FRAME_MAX_DEFAULT / 2)
static inline int
reply_full(const struct fbuf *fb)
{
	return (fb->sb.size > REPLY_PAGE_BYTES);
}

/* A blocking call parked until its key changes (wait.c). */
struct bwait {
	struct session *s;
	uint64_t req_id;
	struct wait_key *k;
	int (*ready)(struct bwait *);       /* answer and return 1 when it can */
	void (*on_timeout)(struct bwait *); /* answer when the deadline passes */
	void (*free_arg)(void *);           /* frees arg, or NULL */
	void *arg;
	uint64_t after;
	double cap; /* the cap on its wait (wait_cap), told in its answer */
	struct event *timer;
	TAILQ_ENTRY(bwait) kentry;
	TAILQ_ENTRY(bwait) sentry;
};

/* wait.c */
struct bwait *wait_add(struct req *, const char *, double, int (*)(struct bwait *),
    void (*)(struct bwait *), void *, uint64_t);
void wait_end(struct bwait *);
int wait_session_full(const struct session *);
void wait_wake(const char *);
void wait_init(void);
double wait_cap(const struct req *);
size_t wait_count(void);

/* feed.c: the audit log and its subscribers */
#define FEED_MAX_DEFAULT 50000         /* entries retained (batond --log-max) */
#define FEED_AGE_DEFAULT (7 * 86400.0) /* seconds an entry is retained (--log-age) */
extern size_t feed_max;
extern double feed_age;
void feed_init(void);
int feed_restore(char **);
void feed_request(const struct req *);
void feed_record(const struct session *, const char *, const char *, const char *, const char *,
    const char *, ...) printflike(6, 7);
void feed_record_pkey(const struct session *, const char *, const char *, const char *,
    const char *, ...) printflike(5, 6);
size_t feed_bytes(size_t *);

/* presence.c: who is present in a project */
#define PRESENCE_DETACHED_MAX 1024 /* TTL registrations that outlive their session */
struct presence {                  /* a registration made by agent_join */
	struct session *s;         /* NULL once its connection ended (TTL registrations) */
	char sid[24];
	char *project, *agent, *role, *kind, *client;
	pid_t pid;
	uint64_t joined_ms, active_ms;
	uint64_t expires_ms; /* 0: bound to the connection */
	struct event *ttl_ev;
	TAILQ_ENTRY(presence) entry;
};
extern TAILQ_HEAD(presence_list, presence) presences;
void presence_init(void);
void presence_on_change(void (*)(const char *));
struct presence *presence_of_session(const struct session *);
struct presence *presence_taken(struct session *, const char *);
int presence_may_outlive(struct session *);
void presence_join(struct session *, char *, char *, double);
void presence_foreach(const char *, void (*)(const char *, const char *, void *), void *);

/* record.c: records of what clients did outside the broker (worktrees, launches) */
struct rec {
	char *key; /* project '\n' name */
	char *project, *name;
	char **f;                 /* the table's fields, in its order; NULL when unset */
	char *by;                 /* the agent of the last change */
	int64_t created, updated; /* wall ms */
	uint64_t version;
	UT_hash_handle hh;
};
struct rec_table {
	const char *kind;          /* the audit log's kind */
	const char *list;          /* the array its _get answers */
	const char *const *fields; /* named as its _set's arguments, NULL-ended */
	const char *detail;        /* the field the audit log shows */
	const char *absolute;      /* a field that must hold an absolute path, or NULL */
	size_t max;                /* records per project */
	const struct store_kind *sk;
	struct rec *recs;
};
struct rec *rec_find(struct rec_table *, const char *, const char *);
const char *rec_field(const struct rec_table *, const struct rec *, const char *);
void rec_pack(struct fbuf *, const struct rec_table *, const struct rec *);
void rec_set(struct rec_table *, struct req *);
void rec_get(struct rec_table *, struct req *,
    void (*)(struct fbuf *, const struct rec *, struct req *));
int rec_store_pack(const struct store_kind *, const char *, struct fbuf *);
int rec_store_restore(const struct store_kind *, const char *, const msgpack_object *, char **);

/* worktree.c: the worktree records */
extern struct rec_table worktree_table;
int agent_here(const char *, const char *);
void client_side_op(struct req *);
void worktree_pack_claim(struct fbuf *, const char *, const char *, const char *);

/* launch.c: the launched-agent records */
extern struct rec_table launch_table;

/* msg.c: messages (msg.h: what msg.c and discuss.c share) */
extern size_t msg_retention;
size_t msg_unread(struct session *);
void msg_init(void);
uint64_t msg_notice(const char *, const char *, const char *, const char *, const char *,
    const char *);
struct msg_view { /* a message, as msg_foreach_new shows it */
	uint64_t id;
	const char *from, *to, *subject, *body, *thread;
	int64_t at_ms;
};
void msg_foreach_new(const char *, const char *, const char *, uint64_t,
    int (*)(const struct msg_view *, void *), void *);
const char *msg_news_key(const char *);

/* discuss.c: discussions */
size_t msg_waiting_on(struct session *);

/* note.c: notes, counters, events */
void event_fire(const char *, const char *, const void *, size_t);

/* task.c, claim.c, taskrow.c, project.c: tasks and the project (task.h: what they share) */
void task_init(void);
void task_pack_session_ids(struct fbuf *, struct session *);
struct task_view {        /* a task that is news to an agent (tasknews.c) */
	const char *kind; /* "review": it may review it; "changes": requested on its own */
	const char *id, *title;
	unsigned num;
	const char *who,
	    *text;        /* who submitted it and the notes, or who asked and the feedback */
	int64_t since_ms; /* wall ms it entered that state: tells a new one apart */
};
void task_foreach_news(const char *, const char *, const char *,
    void (*)(const struct task_view *, void *), void *);
const char *task_news_key(const char *);

/* guide.c: the live role guidance (the texts are common/guide.c's) */
char *guide_next_steps(struct session *, const char *);
struct join_counts; /* shared.c's section */
char *guide_join_hint(struct session *, const struct join_counts *);

/* lock.c, lockrow.c, lockhold.c (lock.h: what they share) */
void lock_init(void);
size_t lock_session_grants(struct session *);
size_t lock_count(const char *);
size_t lock_waiter_count(void);
void lock_shutdown(void);
void lock_pack_session_names(struct fbuf *, struct session *);
struct lock_holding { /* a grant in an agent's way, for baton hook */
	const char *name, *agent, *sid, *reason, *mode;
	double age_seconds;
	double expires_in_seconds; /* 0: bound to its session */
};
int lock_edit_blockers(struct session *, const char *, size_t, int (*)(const char *, void *),
    void *, void (*)(const struct lock_holding *, void *), void *, char **);
int lock_edit_reserve(struct session *, const char *, size_t, int (*)(const char *, void *),
    void *, const char *, char **, char **);

/* queue.c: work queues */
void queue_init(void);
void queue_shutdown(void);

/* notice.c: what baton hook told each agent */
int notice_pending(struct session *);
int notice_recent(struct session *, double);
size_t notice_pack_news(struct fbuf *, struct session *);
void lock_on_file_freed(void (*)(const char *));
int lock_hold_free(const char *, const char *, char *const *, size_t, struct fbuf *);
void lock_hold(const char *, const char *, const char *, char *const *, size_t, const char *,
    char *);
void lock_hold_drop(const char *);
void lock_hold_rebind(const char *, const char *, const char *);

/* dump.c: the whole state as JSON (batond --export, --import) */
int dump_export(const char *, const char *, char **);
int dump_import(const char *, const char *, const char *, int, char **);
void dump_clean_snapshots(const char *);
void dump_init(void);
void dump_shutdown(void);

/* shared.c: shared projects, their state in etcd (shared.h: the backend's own) */
int shared_option(const char *, const char *);
int shared_check(void);
int shared_preflight(char **);
int shared_enabled(void);
void shared_init(void);
void shared_shutdown(void);
int shared_serve(struct req *);
void shared_status(struct fbuf *);
/*
 * What agent_join tells a joining agent of its project when it is
 * counted elsewhere (a shared project's, in etcd): its unread mail, the
 * discussions waiting on it, who is present (agents[i] in roles[i]).
 */
struct join_counts {
	size_t unread, waiting, n;
	const char **agents, **roles;
};
/*
 * agent_join's next step once a name is taken (agent.c's): session,
 * request, name, role, ttl, what to tell (NULL: count it here).
 */
typedef void shared_joined_fn(struct session *, uint64_t, char *, char *, double,
    const struct join_counts *);
int shared_join(struct req *, const char *, char *, char *, double, shared_joined_fn *);

/* server.c: listen, accept, dispatch */
int server_listen(const char *, char **);
void server_start(void);
void server_shutdown(void);

/* handlers, one per operation (named op_NAME) */
#define OP_PROTO(n) op_handler op_##n;
BATON_OPS(OP_PROTO)
#undef OP_PROTO

#endif /* BATON_BROKER_H */
