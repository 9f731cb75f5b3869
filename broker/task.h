/*
 * The task family's own header: tasks (task.c), the status machine and
 * the review (review.c), their checkpoint rows (taskrow.c), claims and leases (claim.c), the
 * project context (project.c) and the live role guidance (guide.c)
 * share these structures.  They stay out of broker.h on purpose: no
 * other module reaches into a task or a project; the rest of the broker
 * calls what broker.h's task section declares.
 */
#ifndef BATON_TASK_H
#define BATON_TASK_H

#include "broker.h"

#define TASKS_MAX 1000                /* tasks per project */
#define TASK_LEASE_DEFAULT 30.0       /* as task_claim's lease_seconds default */
#define TASK_HISTORY_MAX 100          /* entries per task; the oldest after "created" go */
#define TASK_FILES_MAX LOCK_NAMES_MAX /* files of a task */

enum task_status {
	TS_TODO,
	TS_IN_PROGRESS,
	TS_REVIEW,
	TS_DONE,
	TS_BLOCKED,
	TS_CANCELLED,
	TS_COUNT
};
extern const char *const task_status_names[TS_COUNT];
extern const char *const task_priority_names[4];
extern const char *const task_complexity_names[4];
extern const char *const task_isolation_names[2];

enum project_status {
	PS_PLANNING,
	PS_READY,
	PS_IN_PROGRESS,
	PS_COMPLETE,
	PS_STOPPED,
	PS_COUNT
};
extern const char *const project_status_names[PS_COUNT];

/* The project's context fields: project_set's arguments and the row's keys. */
enum project_field {
	PF_DESCRIPTION,
	PF_END_STATE,
	PF_TECH_STACK,
	PF_CONSTRAINTS,
	PF_ACCEPTANCE,
	PF_TESTS,
	PF_PLAN,
	PF_COUNT
};
extern const char *const project_field_names[PF_COUNT];

/* One entry of a task's history. */
struct hist {
	int64_t at; /* wall ms */
	char *actor, *sid, *action, *note;
	int from, to; /* status, or -1 */
};

struct project;

struct task {
	struct project *p;
	unsigned num;
	char id[16];
	char *title, *description, *assignee, *owner;
	int priority, complexity, isolation;
	char **tags;
	size_t ntags;
	unsigned *deps;
	size_t ndeps;
	char **files; /* normalized paths (fileres.c) its claim reserves */
	size_t nfiles;
	enum task_status status;
	/* the claim, while in_progress or review: token[0] != '\0' */
	char token[TOKEN_LEN + 1];
	struct session *claim_s;    /* NULL: the claimant's session ended */
	char owner_sid[24];         /* the session that claimed or submitted it last */
	char ftoken[TOKEN_LEN + 1]; /* the reservation of its files, while held */
	double lease;
	struct event *lease_ev;
	uint64_t lease_end_ms;    /* mono_ms, while lease_ev runs */
	int changes_pending;      /* requested and not yet handed back by task_claim */
	int changes_requested;    /* requested and not submitted again yet */
	struct session *review_s; /* the reviewer that took its review (task_claim review) */
	char *notes, *feedback, *reviewer;
	int64_t reviewed_at, created_at, updated_at;
	uint64_t version;
	struct hist *hist;
	size_t nhist, hist_dropped;
	int on_claims, on_reviews;
	TAILQ_ENTRY(task) centry;
	TAILQ_ENTRY(task) rentry;
};

/*
 * A project: its context and status, and its tasks in an array indexed
 * by number (T1 is tasks[0]; restored rows may leave NULL holes).
 */
struct project {
	char *name;
	char *wkey; /* wait key of claims in this project */
	char *fields[PF_COUNT];
	enum project_status status;
	int self_review; /* a task's claimant may review it (off by default) */
	struct task **tasks;
	size_t ntasks, cap;
	char *updated_by;
	int64_t updated_at;
	uint64_t version; /* 0 until project_set: no row */
	UT_hash_handle hh;
};

/* Tasks of a project by status, and how many are ready (task_counts). */
struct task_counts {
	size_t n[TS_COUNT];
	size_t ready;
};

/* What task_update parses before it changes anything. */
struct task_update_args {
	char **tags, **files;
	size_t ntags, nfiles;
	unsigned *deps;
	size_t ndeps;
};

/* task.c */
int task_name_index(const char *const *, size_t, const char *, size_t);
int task_arg_choice(struct req *, const char *, const char *const *, size_t, int);
int task_row_choice(const msgpack_object *, const char *, const char *const *, size_t, int);
unsigned task_parse_id(const char *, size_t);
struct task *task_by_num(struct project *, unsigned);
struct task *task_find(struct req *, struct project *, const msgpack_object *, const char *);
int task_deps_done(const struct task *);
int task_ready(const struct task *);
int task_claimable_by(const struct task *, const struct session *);
void task_counts(const struct project *, struct task_counts *);
int task_all_done(const struct project *, const struct task_counts *);
void task_hist(struct task *, const struct session *, const char *, int, int, const char *);
void task_hist_add(struct task *, const struct session *, const char *, int, int, const char *);
void task_changed(const struct task *);
void task_touch(struct task *);
void task_pk_iso(struct fbuf *, const char *, int64_t);
void task_pk_fields(struct fbuf *, const struct task *, int);
const char *task_creator(const struct task *);
void task_reply(struct req *, const struct task *, const char *);
void task_list_reply(struct req *, struct project *);
int task_parse_tags(struct req *, const msgpack_object *, char ***, size_t *);
int task_parse_deps(struct req *, struct project *, unsigned, const msgpack_object *,
    unsigned **, size_t *);
void task_free_strings(char **, size_t);
struct task *task_build(struct req *, struct project *);
void task_created_hint(const struct task *, char *, size_t);
int task_update_parse(struct req *, struct project *, struct task *, struct task_update_args *);
int task_update_fields_set(struct req *, struct task *, struct task_update_args *);
void task_update_args_free(struct task_update_args *);

/* review.c */
int task_refuse(struct req *, const struct task *, int);
int task_move(struct req *, struct task *, int, const char *, const char *, double);
int review_is_own(const struct task *, const struct session *);
int task_move_ok(const char *, int, int);
/* Whether reviewers and planners are present: who a review notice goes to. */
struct review_who {
	int reviewer, planner;
};
/* A review notice (review_notice): to whom, the event, the message. */
#define REVIEW_SUBMITTED 0
#define REVIEW_CHANGES 1
#define REVIEW_ALL_DONE 2
#define REVIEW_NEWS 3
extern const char *const review_events[REVIEW_NEWS];
struct review_notice {
	const char *to, *event;
	char *subject, *body;
};
void review_who_add(const char *, const char *, void *);
void review_notice(struct review_notice *, int, const struct task *, const char *,
    const struct review_who *, int);
void review_notice_free(struct review_notice *);
void review_notice_pack(struct fbuf *, const struct review_notice *, const struct task *,
    const char *);
#define REVIEW_HINT_SUBMITTED \
	"in review: the reviewers were told (inbox and event task:review). Call task_claim " \
	"{wait_seconds} for your next task; it also returns this one if changes are requested"
#define REVIEW_HINT_CHANGES \
	"back to its claimant with your feedback (told in their inbox); their task_claim " \
	"returns it. task_claim {review: true, wait_seconds} takes your next review"

/* taskrow.c (and task_store_kind) */
void taskrow_pack(struct fbuf *, const struct task *);
void taskrow_fields(struct task *, const msgpack_object *);

#define CLAIM_HINT_TAKEN \
	"yours, with its files reserved for you: do it, then task_submit {id, notes}; take " \
	"file: locks for other shared files before editing them"
#define CLAIM_HINT_CHANGES "changes were requested: read feedback, fix, then task_submit"
#define CLAIM_HINT_REVIEW \
	"yours to review: read its notes and history, check the acceptance criteria " \
	"(project_get) and run the tests, then task_approve {id} or task_request_changes " \
	"{id, feedback}"

/* A task_claim: parked, or answered (claim_yes, claim_no). */
struct claim_wait {
	struct project *p;
	unsigned num; /* 0: the best ready task */
	double lease;
	int review; /* a review to take, not a task to do */
	double cap; /* the cap on its wait; 0: it did not ask to wait */
};

/* claim.c */
void claim_bind(struct task *, struct session *);
void claim_drop(struct task *);
void claim_orphan(struct task *);
int claim_files_free(const struct task *, const char *, struct fbuf *);
void claim_files_take(struct task *);
void claim_files_drop(struct task *);
void claim_take(struct task *, struct session *, double);
int claim_check(struct req *, struct task *, const char *);
void claim_restore(struct task *, const char *, int64_t);
void claim_review_drop(struct task *);
void claim_busy_hint(const struct task *, char *, size_t);
void claim_yes(struct session *, uint64_t, const struct claim_wait *, struct task *, int,
    const char *);
void claim_no(struct session *, uint64_t, const struct claim_wait *, struct task *, int,
    const char *);

/* project.c */
struct project *project_ensure(const char *);
struct project *project_find(const char *);
void project_wake(struct project *);
void project_pk_summary(struct fbuf *, const struct project *);
void project_work_started(struct project *, const struct session *);

#endif /* BATON_TASK_H */
