/*
 * common/: what the broker and the shim share.  One header, grouped by
 * file, as tmux does.
 */
#ifndef BATON_COMMON_H
#define BATON_COMMON_H

#include <sys/time.h>
#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <msgpack.h>

#include "proto.h"

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif
#define printflike(a, b) __attribute__((format(printf, a, b)))

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Bounds every side enforces, defined once (documented in baton(1)).
 * The operation table holds the bounds of each argument; these are the
 * ones code outside the table needs too.
 */
#define NAME_MAX_LEN 256      /* lock names, note keys: bytes */
#define AGENT_NAME_MAX_LEN 64 /* agent names (hello, agent_join) */
#define ROLE_MAX_LEN 32       /* roles (hello, agent_join) */
#define REASON_MAX_LEN 256    /* a lock's reason */
#define LOCK_NAMES_MAX 32     /* names in one lock request, files of a task */
#define TOKEN_MAX_LEN 64      /* tokens and tickets as sent */
#define LOG_EVENT_MAX 200     /* bytes of a log_append event */
#define LOG_DATA_MAX 8192     /* encoded bytes of its data */
#define TOKEN_LEN 32          /* tokens and tickets the broker makes: hex characters */
#define TIME_ISO_LEN 32       /* room for time_iso() */
#define WORKTREES_MAX 256     /* worktree records per project */
#define LAUNCHED_MAX 64       /* launched agents recorded per project */
#define PATH_ARG_MAX 4096     /* bytes of a path in a record */
#define BRANCH_MAX 200        /* bytes of a branch name in a record */

/* util.c */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
int xasprintf(char **, const char *, ...) printflike(2, 3);
int xvasprintf(char **, const char *, va_list);
__dead void fatal(const char *, ...) printflike(1, 2);
__dead void fatalx(const char *, ...) printflike(1, 2);
uint64_t mono_ms(void);
double mono_now(void);
int64_t wall_ms(void);
void random_hex(char *, size_t); /* fills n-1 hex chars and a NUL */
int set_cloexec(int);
int set_nonblock(int);
int token_cmp(const char *, const char *, size_t); /* secret, given, its length; 0 equal */
struct timeval tv_secs(double);
int64_t deadline_to_wall(uint64_t);   /* mono_ms deadline -> stored wall ms; 0 stays 0 */
uint64_t deadline_from_wall(int64_t); /* stored wall ms -> mono_ms deadline; 0 stays 0 */
const char *time_iso(int64_t, char *, size_t); /* wall ms -> ISO 8601 UTC with ms */
struct err_code {
	const char *code; /* ERR_* */
	int exit_status;  /* sysexits(3), DESIGN 7 */
};
extern const struct err_code err_codes[]; /* ends with a NULL code */
const struct err_code *err_code_find(const char *, size_t);

/* log.c: levels 0 error, 1 info, 2 debug */
void log_open(const char *, const char *, int); /* name, file or NULL=stderr, level */
void log_close(void);
void log_warnx(const char *, ...) printflike(1, 2);
void log_warn(const char *, ...) printflike(1, 2);   /* appends ": strerror(errno)" */
void log_notice(const char *, ...) printflike(1, 2); /* always written */
void log_info(const char *, ...) printflike(1, 2);
void log_debug(const char *, ...) printflike(1, 2);
extern int log_level;

/*
 * frame.c: the frame codec and the frame builder.  Containers count
 * their own entries: pk_map_open()/pk_array_open() write a header that
 * pk_*_close() fills in with the number of objects packed into it, so
 * no count is kept by hand.  pk_array(n) is for arrays whose length is
 * known up front (the length of a list); it closes itself with its n-th
 * element, and fbuf_finish() stops the program on a frame built with a
 * container still open.
 */
struct fbuf_level {     /* one open container */
	size_t off;     /* where its header starts in sb */
	uint64_t items; /* objects packed into it (keys and values for a map) */
	uint64_t left;  /* objects still owed, for a counted container */
	unsigned char map, fixed;
};
struct fbuf {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int err; /* a pack call failed: the frame must not be sent */
	int depth;
	struct fbuf_level lv[FRAME_MAX_DEPTH];
};
void fbuf_init(struct fbuf *); /* reserves the 4-byte header */
void fbuf_free(struct fbuf *);
void fbuf_reset(struct fbuf *); /* empty, for another frame in the same buffer */
int fbuf_finish(struct fbuf *); /* writes the header; -1 if err or too big */
void fbuf_item(struct fbuf *);  /* the caller packs one object through fb->pk itself */
void pk_map_open(struct fbuf *);
void pk_map_close(struct fbuf *);
void pk_array_open(struct fbuf *);
void pk_array_close(struct fbuf *);
void pk_array(struct fbuf *, size_t);             /* exactly n elements follow */
void pk_map(struct fbuf *, size_t);               /* deprecated: hand-counted, going away */
void pk_raw(struct fbuf *, const void *, size_t); /* one packed object; NULL: nil */
void pk_strn(struct fbuf *, const char *, size_t);
void pk_int(struct fbuf *, int64_t);
void pk_uint(struct fbuf *, uint64_t);
void pk_double(struct fbuf *, double);
void pk_bool(struct fbuf *, int);
void pk_nil(struct fbuf *);
void pk_object(struct fbuf *, const msgpack_object *);

/*
 * A string; NULL packs nil.  Inline, with the shorthands below: a key is
 * a literal whose strlen the compiler counts, and a reply or a stored
 * row packs dozens of them (callgrind, a lock acquire and release: ~10 k
 * instructions of the broker's ~77 k went to pk_str and strlen).
 */
static inline void
pk_str(struct fbuf *fb, const char *s)
{
	if (s == NULL)
		pk_nil(fb);
	else
		pk_strn(fb, s, strlen(s));
}

/* key + value shorthands for maps */
static inline void
pk_kstr(struct fbuf *fb, const char *k, const char *v) /* NULL value packs nil */
{
	pk_str(fb, k);
	pk_str(fb, v);
}
static inline void
pk_kint(struct fbuf *fb, const char *k, int64_t v)
{
	pk_str(fb, k);
	pk_int(fb, v);
}
static inline void
pk_kuint(struct fbuf *fb, const char *k, uint64_t v)
{
	pk_str(fb, k);
	pk_uint(fb, v);
}
static inline void
pk_kdouble(struct fbuf *fb, const char *k, double v)
{
	pk_str(fb, k);
	pk_double(fb, v);
}
static inline void
pk_kbool(struct fbuf *fb, const char *k, int v)
{
	pk_str(fb, k);
	pk_bool(fb, v);
}
/* Optional entries: nothing at all when absent (a NULL string). */
static inline void
pk_kstr_opt(struct fbuf *fb, const char *k, const char *v)
{
	if (v != NULL)
		pk_kstr(fb, k, v);
}

/*
 * frame_length: given the bytes received so far, the payload length of
 * the first frame, 0 if the header is incomplete, -1 if the length is
 * 0 or over max (cause set).
 */
ssize_t frame_length(const void *, size_t, size_t, const char **);
/*
 * frame_check: walk a payload without allocating and reject anything
 * msgpack-c would over-allocate for or choke on: truncated objects,
 * container counts that cannot fit in the bytes left, nesting past
 * FRAME_MAX_DEPTH, trailing bytes, ext types.  0 ok, -1 with cause.
 */
int frame_check(const void *, size_t, const char **);
/* frame_decode: frame_check, then unpack into *out; 0 ok, -1 with cause. */
int frame_decode(const void *, size_t, msgpack_unpacked *, const char **);
int frame_decode_zone(const void *, size_t, msgpack_zone *, msgpack_object *, const char **);

/* mp.c: reading msgpack objects (strings are not NUL-terminated) */
const msgpack_object *mp_get(const msgpack_object *, const char *);
int mp_str(const msgpack_object *, const char **, size_t *);
char *mp_strdup(const msgpack_object *); /* NULL if not a string */
int mp_streq(const msgpack_object *, const char *);
int mp_int(const msgpack_object *, int64_t *);
int mp_num(const msgpack_object *, double *);
int mp_bool(const msgpack_object *, int *);
int mp_frame_type(const msgpack_object *);
int64_t mp_get_int(const msgpack_object *, const char *, int64_t); /* map, key, absent */
double mp_get_num(const msgpack_object *, const char *, double);
int mp_get_bool(const msgpack_object *, const char *, int);
char *mp_get_strdup(const msgpack_object *, const char *); /* NULL when absent */

/* ops.c: the operation table (DESIGN §4) */
enum arg_type {
	ARG_STRING, /* UTF-8 string, a name unless ARG_TEXT; min/max bound its byte length */
	ARG_INT,    /* integer; min/max bound its value */
	ARG_NUMBER, /* integer or float; min/max bound its value */
	ARG_BOOL,
	ARG_STRINGS, /* array of strings; min/max bound the count */
	ARG_JSON,    /* any JSON value; max bounds its encoded size */
};

#define ARG_REQUIRED 0x1
#define ARG_TEXT 0x2 /* a string of free text: controls allowed; else a name (utf8.c) */

struct op_arg {
	const char *name;
	enum arg_type type;
	int flags;
	double min, max;
	const char *def;     /* default, as JSON text, or NULL */
	const char *choices; /* for strings: "a|b|c", or NULL */
	const char *desc;
};

struct op_result {
	const char *name;
	const char *type; /* JSON Schema type: string integer number boolean array object */
	int optional;
	const char *desc;
};

#define OP_READONLY 0x01    /* changes nothing (MCP readOnlyHint) */
#define OP_DESTRUCTIVE 0x02 /* overwrites or takes what others use */
#define OP_IDEMPOTENT 0x04  /* repeating it changes nothing more */
#define OP_BLOCKS 0x08      /* may wait (wait_seconds) */
#define OP_MUTATES 0x10     /* advances the revision */
#define OP_ADMIN 0x20       /* for the user (CLI, baton call), not an MCP tool */
#define OP_OPTIN 0x40       /* an MCP tool only when asked for (baton mcp --tools) */
#define OP_OWNER 0x80       /* a team broker runs it for its owner, root and --admin only */
#define OP_CLIENT 0x100 /* run by the client (git, tmux: shim/xop.c), recorded in the broker */

#define OP_MAX_ARGS 16

/* Every operation, once.  Adding one: a line here, an entry in ops.c, a handler. */
#define BATON_OPS(X) \
	X(status) \
	X(lock_acquire) \
	X(lock_release) \
	X(lock_renew) \
	X(lock_list) \
	X(lock_break) \
	X(note_set) \
	X(note_get) \
	X(note_delete) \
	X(note_list) \
	X(note_wait) \
	X(counter_incr) \
	X(event_signal) \
	X(event_wait) \
	X(agent_join) \
	X(agent_list) \
	X(message_send) \
	X(message_inbox) \
	X(message_ack) \
	X(discussion_start) \
	X(discussion_reply) \
	X(discussion_resolve) \
	X(discussion_list) \
	X(discussion_get) \
	X(task_create) \
	X(task_get) \
	X(task_list) \
	X(task_update) \
	X(task_claim) \
	X(task_submit) \
	X(task_approve) \
	X(task_request_changes) \
	X(task_release) \
	X(project_set) \
	X(project_get) \
	X(guide) \
	X(state_export) \
	X(hook_edit) \
	X(hook_news) \
	X(log_list) \
	X(log_wait) \
	X(log_append) \
	X(log_subscribe) \
	X(worktree_create) \
	X(worktree_status) \
	X(worktree_merge) \
	X(worktree_list) \
	X(worktree_cleanup) \
	X(worktree_set) \
	X(worktree_get) \
	X(launch_implementer) \
	X(implementer_list) \
	X(launch_set) \
	X(launch_get) \
	X(queue_push) \
	X(queue_claim) \
	X(queue_finish) \
	X(queue_list)

enum op_id {
#define OP_ENUM(n) OP_##n,
	BATON_OPS(OP_ENUM)
#undef OP_ENUM
	    OP_COUNT
};

struct op {
	const char *name;
	const char *title;
	const char *desc;
	int flags;
	const char *one_of; /* "a|b": exactly one of these arguments, or NULL */
	const struct op_arg *args;
	size_t nargs;
	const struct op_result *results;
	size_t nresults;
};

struct op_error {
	const char *code; /* ERR_* */
	char field[64];   /* argument at fault, or "" */
	char message[256];
};

extern const struct op ops[OP_COUNT];
const struct op *op_find(const char *, size_t);
const struct op_arg *op_arg_find(const struct op *, const char *, size_t);
/*
 * op_validate: check args (a map, or nil for none) against the table.
 * On success out[i] points at the value of op->args[i] or is NULL when
 * absent.  On failure err names the field.
 */
int op_validate(const struct op *, const msgpack_object *, const msgpack_object **,
    struct op_error *);
void op_error_set(struct op_error *, const char *, const char *, const char *, ...)
    printflike(4, 5);
/* Arguments by name from op_validate's out array (absent: the table's default). */
const msgpack_object *op_arg_value(const struct op *, const msgpack_object *const *,
    const char *);
double op_arg_num(const struct op *, const msgpack_object *const *, const char *);
int64_t op_arg_int(const struct op *, const msgpack_object *const *, const char *);
int op_arg_bool(const struct op *, const msgpack_object *const *, const char *);
const char *op_arg_str(const struct op *, const msgpack_object *const *, const char *,
    size_t *);
char *op_arg_strdup(const struct op *, const msgpack_object *const *, const char *);

/*
 * guide.c: the guidance for agents, written once.  The general rules
 * (MCP instructions, the `baton init` block) and each role's title,
 * summary and steps; the broker's guide.c adds the live state.
 */
enum guide_format {
	GUIDE_TEXT,     /* the MCP instructions: numbered, plain */
	GUIDE_MARKDOWN, /* the block of CLAUDE.md and AGENTS.md (without its markers) */
};
/* Where the project stands, as bits; a step shows when all of its bits hold. */
#define GUIDE_NO_CONTEXT 0x001 /* no description or end state yet */
#define GUIDE_NO_PLAN 0x002    /* a context but no plan */
#define GUIDE_NO_TASKS 0x004   /* a plan but no task */
#define GUIDE_WORKING 0x008    /* tasks exist */
#define GUIDE_IN_REVIEW 0x010  /* some task waits for review */
#define GUIDE_BLOCKED 0x020    /* some task is blocked */
#define GUIDE_ALL_DONE 0x040   /* every task is done or cancelled */
#define GUIDE_NOT_DONE 0x080   /* some task is not */
#define GUIDE_HOLDS 0x100      /* the reader holds a task in progress */
struct guide_step {
	unsigned when;    /* GUIDE_* bits that must all hold (0: always) */
	const char *text; /* one line; NULL ends the list */
};
struct guide_role {
	const char *name;    /* NULL ends guide_roles */
	const char *title;   /* one line: the MCP prompt's description */
	const char *summary; /* the role in a sentence: agent_join's hint */
	const struct guide_step *steps;
};
extern const struct guide_role guide_roles[]; /* planner, implementer, reviewer */
extern const struct guide_role guide_no_role;
extern const char guide_over[]; /* every role, once the project is complete or stopped */
const struct guide_role *guide_role_find(const char *); /* NULL when not a role */
const struct guide_role *guide_role(const char *);      /* guide_no_role when not a role */
int guide_step_applies(const struct guide_step *, unsigned);
char *guide_rules(enum guide_format, const char *); /* format, agent name or NULL */

/* json.c: JSON <-> msgpack with cJSON (the shim; batond's export and import) */
struct cJSON;
int json_pack(struct fbuf *, const struct cJSON *);
int json_pack_exact(struct fbuf *, const struct cJSON *, const char **);
struct cJSON *json_from_msgpack(const msgpack_object *);
struct cJSON *json_from_msgpack_exact(const msgpack_object *);
char *json_print(const struct cJSON *, size_t *);
int json_args_to_msgpack(const struct cJSON *, msgpack_sbuffer *, msgpack_unpacked *,
    const msgpack_object **, struct op_error *);
#define JSON_SCAN_DEPTH 64 /* json_find_nul: member names kept for this many levels */
int json_find_nul(const char *, size_t, char *, size_t); /* text, len; field */
/* a tree of json_parse_scoped, valid until json_scope_end */
struct json_scope {
	size_t mark;        /* where the block was */
	struct cJSON *tree; /* what was parsed, or NULL */
	int in_block;       /* all of it in the block: nothing to free one by one */
};
struct cJSON *json_parse_scoped(const char *, size_t, struct json_scope *); /* text, len */
void json_scope_end(struct json_scope *);
/* JSON text built in a growing buffer (json_print's, and msgpack printed straight) */
struct jout {
	char *s;
	size_t len, cap;
};
void jout_add(struct jout *, const char *, size_t);
void jout_stringn(struct jout *, const char *, size_t);
int jout_json(struct jout *, const struct cJSON *);
int jout_msgpack(struct jout *, const msgpack_object *);
int jout_msgpack_map(struct jout *, const msgpack_object *, int (*)(void *, const char *, int),
    void *);
char *jout_end(struct jout *, size_t *);
#define jout_lit(o, s) jout_add((o), (s), sizeof(s) - 1) /* a string literal */

/* fileres.c: "file:" reservations */
int file_is_glob(const char *);
int file_normalize(const char *, const char *, size_t, char **, char **);
int file_overlap(const char *, const char *, const char *); /* root, a, b */

/* utf8.c: names, text, and strings shown on a terminal */
#define UTF8_TEXT 0x1      /* utf8_check: text (controls allowed), not a name */
#define UTF8_VIS_LINES 0x1 /* utf8_vis: keep newlines and tabs */
size_t utf8_next(const char *, size_t, uint32_t *);        /* a sequence's length; 0 invalid */
int utf8_check(const char *, size_t, int, char *, size_t); /* 0, or -1 and why */
char *utf8_vis(const char *, size_t, int);                 /* escaped, malloc'd */
char *utf8_line(char *, size_t, const char *);             /* one line, clipped */

/* paths.c: where the socket and the state live (DESIGN §2) */
#define PATH_HOME_SOCKET ".local/state/baton/run/sock" /* under the home, without /run/user */
int path_socket(char *, size_t, char **);
int path_socket_default(char *, size_t, const char *, const char *); /* run dir, home */
int path_state_dir(char *, size_t, char **);
const char *path_home(char **); /* from the password database */
struct stat;
int path_lstat_dir(const char *, struct stat *, char **); /* a directory, no symlink */
int path_check_dir(const char *, int, char **);           /* create?: mkdir 0700 first */
int path_mkdirs(const char *, char **); /* mkdir -p, the last 0700 and checked */
char *path_dirname(const char *);
int path_check_socket_dir(const char *, int, char **); /* dirname of a socket */
extern mode_t path_file_mode; /* files the broker makes: 0600, a team broker's 0660 */
/* the selected group's (group.c) when there is one, else the private broker's */
int path_broker_socket(char *, size_t, char **);
int path_broker_state_dir(char *, size_t, char **);
int path_broker_mkstate(const char *, char **);

/* group.c: a team broker's Unix group (DESIGN 15) */
#define GROUP_NAME_MAX 32
const char *group_name_bad(const char *); /* NULL when usable, else why not */
int group_select(const char *, char **);  /* from the group database */
const char *group_selected(void);         /* its name, or NULL: the private broker */
int group_member(uid_t);                  /* by the group database, now */
const char *group_user(uid_t, char *, size_t);
int group_socket(char *, size_t, char **);
int group_state_dir(char *, size_t, char **);
int group_check_dir(const char *, int, char **); /* create?: mkdir 2770 first */

#endif /* BATON_COMMON_H */
