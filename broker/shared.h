/*
 * The multi-host backend's own header (DESIGN 15, batond(8) "Shared
 * projects"): etcd.c, the client of etcd's HTTP/JSON gateway (calls with
 * a deadline and failover, watch streams; etcd-tls.c its TLS and
 * credentials), and the shared-*.c files,
 * which serve the operations of a shared project from etcd: shared.c
 * the layer (which projects are shared, a lease per session, calls in
 * flight), shared-lock.c locks, shared-note.c notes, counters and
 * events, shared-task.c tasks and claims (which also reads task.h: it
 * answers as task.c does), shared-msg.c presence and messages,
 * shared-disc.c discussions.  Nothing else in the broker includes it;
 * main.c and server.c call what broker.h's shared section declares.
 */
#ifndef BATON_SHARED_H
#define BATON_SHARED_H

#include <cjson/cJSON.h>

#include "broker.h"

/* etcd.c: the etcd client */
#define ETCD_ENDPOINTS_MAX 16
struct etcd_call;
struct etcd_watch;
/*
 * The answer to a call: res (the gateway's JSON object) or err (why it
 * failed: etcd unreachable within the bound, or etcd's own error).
 */
typedef void etcd_done(void *, const cJSON *, const char *);
/* Each event of a watch; compact_rev != 0: the history is gone, re-read. */
typedef void etcd_event(void *, const cJSON *, int64_t);
extern double etcd_timeout; /* seconds a call may take, retries included */
int etcd_configure(const char *, char **);
const char *etcd_endpoint_list(void);
int etcd_tls(void);
int etcd_login(char **);
void etcd_start(void);
void etcd_shutdown(void);
struct etcd_call *etcd_post(const char *, cJSON *, etcd_done *, void *);
void etcd_cancel(struct etcd_call *);
#define ETCD_WATCH_NOPUT 1
#define ETCD_WATCH_NODELETE 2
struct etcd_watch *etcd_watch(const char *, int, int64_t, int, etcd_event *, void *);
void etcd_watch_stop(struct etcd_watch *);
size_t etcd_watch_count(void);
cJSON *etcd_lease_id(int64_t);
void etcd_revoke(int64_t);
int64_t etcd_int(const cJSON *, const char *);
int64_t etcd_revision(const cJSON *);
cJSON *etcd_b64(const void *, size_t);
unsigned char *etcd_unb64(const cJSON *, size_t *);
char *etcd_prefix_end(const char *);
cJSON *etcd_cmp(const char *, const char *, const char *, int64_t);
cJSON *etcd_cmp_range(const char *, const char *, const char *, int64_t);
cJSON *etcd_put(const char *, const void *, size_t, int64_t);
cJSON *etcd_get(const char *, int, int64_t, int64_t);
cJSON *etcd_del(const char *, int);
cJSON *etcd_txn(cJSON *, cJSON *, cJSON *);
const cJSON *etcd_txn_kvs(const cJSON *, int);
const cJSON *etcd_kv_first(const cJSON *);

/* etcd-tls.c: TLS and the credentials of etcd's authentication */
struct bufferevent;
int etcd_cred_option(const char *, const char *);
int etcd_cred_check(int);
int etcd_cred_load(int, char **);
const char *etcd_cred_user(void);
const char *etcd_cred_pass(void);
struct bufferevent *etcd_cred_bev(const char *);
int etcd_cred_why(struct bufferevent *, char *, size_t);

/* shared.c: the layer */
struct shsess;
struct shcall;
TAILQ_HEAD(shcall_list, shcall);
/* A call's next step after an etcd answer; res is NULL after an error (call answered). */
typedef void shcall_step(struct shcall *, const cJSON *);
struct shcall {
	struct shsess *ss;
	uint64_t id;
	double cap; /* the cap on its wait (wait_cap) */
	struct etcd_call *ec;
	struct etcd_watch *w;
	struct event *timer;
	shcall_step *step;     /* what the answer of ec goes to */
	shcall_step *on_event; /* what the events of w go to */
	void (*on_timeout)(struct shcall *);
	void (*on_end)(struct shcall *);  /* cleans st up (also on a session's end) */
	void *st;                         /* the operation's state */
	int64_t compacted;                /* the watch's history was compacted to this */
	int bound;                        /* it bound keys to the session's lease */
	void (*trimmed)(struct shcall *); /* shared_msg_trim's next step */
	int trims;                        /* its rounds lost to other trimmers */
	TAILQ_ENTRY(shcall) entry;
};
extern char *shared_prefix;
extern double shared_ttl;
struct shcall *shcall_new(struct req *, size_t);
void shcall_end(struct shcall *);
void shcall_error(struct shcall *, const char *, const char *, const char *, ...)
    printflike(4, 5);
struct fbuf *shcall_reply_begin(struct shcall *);
void shcall_reply_end(struct shcall *, struct fbuf *);
void shcall_post(struct shcall *, const char *, cJSON *, shcall_step *);
void shcall_txn(struct shcall *, cJSON *, cJSON *, cJSON *, shcall_step *);
void shcall_leased(struct shcall *, shcall_step *);
void shcall_watch(struct shcall *, const char *, int, int64_t, int, shcall_step *);
void shcall_unwatch(struct shcall *);
void shcall_wait(struct shcall *, double, void (*)(struct shcall *));
int64_t shcall_lease(struct shcall *);
int64_t shcall_lease_kept(struct shcall *);
int64_t shcall_lease_id(const struct shcall *);
int shared_serves(const char *);
int shared_admit(struct req *);
struct session *shcall_session(const struct shcall *);
char *shared_key(const struct shcall *, const char *, const char *, size_t, int);
char *shared_root(const struct shcall *, const char *);
char *shared_esc(const char *, size_t);
char *shared_unesc(const char *, size_t);
void shared_bg(struct shsess *, const char *, cJSON *);
void shared_feed(const struct session *, const char *, const char *, const char *, const char *,
    ...) printflike(5, 6);
const char *shared_host(void);
char *shared_tag(void);
struct shrec { /* a stored record, decoded (its buffer owns the strings) */
	msgpack_unpacked u;
	unsigned char *buf;
	const msgpack_object *o;
	int64_t create, mod, lease;
	char *key;
};
int shrec_read(const cJSON *, struct shrec *);
void shrec_free(struct shrec *);
const msgpack_object *shrec_get(const struct shrec *, const char *);
int shrec_tag_is(const struct shrec *, const char *);
int shared_txn_ours(const cJSON *, int, const char *);

/*
 * shared-lock.c.  A recipe whose keys on a session's lease outlive the
 * call that put them (a lock's grant) says whether a session holds any
 * (shared_lock_holds; shared.c's shared_holds asks each): a session
 * whose lease is lost is disconnected only when it held something.
 */
void shared_lock_session_end(struct shsess *, const struct session *);
int shared_lock_holds(const struct shsess *);
struct shgrant;
extern TAILQ_HEAD(shgrant_list, shgrant) shgrants;
op_handler shared_lock_acquire, shared_lock_release, shared_lock_renew, shared_lock_list;
op_handler shared_lock_break;

/* shared-note.c */
op_handler shared_note_set, shared_note_get, shared_note_delete, shared_note_list;
op_handler shared_note_wait, shared_counter_incr, shared_event_signal, shared_event_wait;
char *shared_event_key(const struct shcall *, const char *);
void shared_event_txn(const struct shcall *, const char *, const cJSON *, const void *, size_t,
    cJSON *, cJSON *);

/* shared-msg.c (shared_join: broker.h) */
op_handler shared_agent_list, shared_message_send, shared_message_inbox, shared_message_ack;
cJSON *shared_msg_put(const struct shcall *, const char *, const char *, const char *,
    const char *, size_t, const char *, char **);
void shared_msg_trim(struct shcall *, void (*)(struct shcall *));
int shared_addr_arg(struct req *, const char *, char **);
int shared_addr_match(const char *, const char *, const char *);

/* shared-disc.c */
op_handler shared_discussion_start, shared_discussion_reply, shared_discussion_resolve;
op_handler shared_discussion_list, shared_discussion_get;
void shared_disc_ranges(const struct shcall *, cJSON *, const char *, const char *);
size_t shared_disc_pack_waiting(struct fbuf *, const cJSON *, int);

/* shared-task.c */
op_handler shared_task_create, shared_task_get, shared_task_list, shared_task_update;
op_handler shared_task_claim, shared_task_submit, shared_task_approve;
op_handler shared_task_request_changes, shared_task_release;
int shared_task_session_end(const struct session *, int64_t);

#endif /* BATON_SHARED_H */
