/*
 * shim/: the `baton` client — the CLI and the MCP stdio server.  One
 * header, grouped by file.
 *
 * The CLI: cli.c holds the command table (one struct cmd_entry per
 * command, defined in the cmd-*.c file that runs it); a command is
 * either its own function or a list of subcommands (struct cmd_sub)
 * that are operations with arguments, parsed, packed and called once
 * in cmd-sub.c.  The MCP server: mcp.c reads JSON-RPC, mcp-tools.c
 * answers from the operation table, mcp-broker.c forwards to the
 * broker; client.c is the wire protocol both use.
 */
#ifndef BATON_SHIM_H
#define BATON_SHIM_H

#include <sys/queue.h>

#include <stdio.h>

#include <cjson/cJSON.h>

#include "common.h"

/* sysexits(3) statuses used by the CLI (DESIGN §7) */
#define EXIT_CONFLICT 1
#define EXIT_USAGE 64
#define EXIT_DATAERR 65
#define EXIT_UNAVAILABLE 69
#define EXIT_SOFTWARE 70
#define EXIT_TEMPFAIL 75 /* baton lock: the lock was lost while the command ran */
#define EXIT_NOPERM 77

struct client_opts {
	const char *socket;  /* NULL: path_socket(), or the group's */
	const char *group;   /* a team broker's group (--group, BATON_GROUP), or NULL */
	int autostart;       /* start batond when it is not running */
	const char *kind;    /* "cli" or "mcp" */
	const char *agent;   /* NULL: cli-PID */
	const char *role;    /* NULL: none */
	const char *project; /* NULL: project_default() */
	const char *client_name, *client_version;
	const char *token;         /* session token to reclaim, or NULL */
	const char *agent_session; /* the agent CLI's own session id, or NULL */
};

struct conn {
	int fd;
	char *session, *token, *agent, *project, *broker_version;
	uint64_t next_id;
	int64_t reclaimed; /* session-bound holdings given back by the welcome */
	char *rbuf;        /* bytes read, not yet decoded */
	size_t rlen, rsize;
};

/* client.c */
void client_opts_default(struct client_opts *);
char *client_find_broker(void);
int client_socket(const struct client_opts *, char *, size_t, char **);
int conn_open(struct conn *, const struct client_opts *, struct op_error *);
void conn_close(struct conn *);
int conn_send(struct conn *, struct fbuf *);
int conn_send_bytes(struct conn *, const void *, size_t);
int conn_read_frame(struct conn *, msgpack_unpacked *, int, struct op_error *);
/* op, its arguments packed as one msgpack map (NULL: {}) and their length */
int conn_call(struct conn *, const char *, const void *, size_t, msgpack_unpacked *,
    const msgpack_object **, struct op_error *);
void client_req_open(struct fbuf *, uint64_t, const char *); /* then the args map */
void client_req_close(struct fbuf *);
int exit_status_for(const char *);
const char *client_env(const char *); /* a non-empty variable, or NULL */

/* project.c: the project namespace and the checkout (DESIGN §2) */
char *project_abspath(const char *);
int project_explicit(const struct client_opts *);
char *project_repository(const char *, char **); /* dir; its checkout's top */
char *project_checkout(void);                    /* for files of the checkout: .mcp.json... */
char *project_of_dir(char *);                    /* takes a directory to its repository */
char *project_default(void);                     /* the namespace without --project */

/*
 * cli.c: the command table.  A command is an entry: its name, what
 * follows "baton" in its synopsis (lines split by \n), what it does, and
 * either its own exec or subcommands run by cmd_sub_main.
 */
struct cmd_sub;
struct cmd_entry {
	const char *name;
	const char *usage; /* NULL: the subcommands' */
	const char *desc;  /* for help; lower case, no final period */
	const struct cmd_sub *subs;
	size_t nsubs;
	const char *dflt; /* the subcommand when none is named (task: list) */
	int (*exec)(const struct cmd_entry *, const struct client_opts *, int, char **);
};
int cli_main(int, char **);
const struct cmd_entry *cli_find(const char *);
extern const struct cmd_entry *const cli_table[];
extern const size_t cli_ncmds;
void cli_err(const char *, ...) printflike(1, 2);
int cli_usage_err(const char *, ...) printflike(1, 2);
int cli_opt_err(const struct cmd_entry *, int, char **); /* getopt_long's ':' or '?' */
void cli_syserr(const char *, ...) printflike(1, 2);     /* appends ": strerror(errno)" */
int cli_fail(const char *, const struct op_error *);
int cli_flush(int);
int cli_print_json(const msgpack_object *);
const char *cli_duration(const msgpack_object *, char *, size_t);
const char *cli_field(const msgpack_object *, const char *, char *, size_t);
#define CLI_VIS_RING 8                          /* cli_vis results alive at once */
const char *cli_vis(const char *, size_t, int); /* a peer's text, safe to print */
int cli_json_nul(const char *);                 /* JSON text with \u0000 in a string: said, 1 */
char *cli_read_stdin(size_t, const char *);
int cli_seconds(const char *, const char *, double, double *);
int cli_socket(const struct client_opts *, char *, size_t);

/* cmd-help.c: --help, `baton help [COMMAND [SUB] | OP]`, CMD --help */
extern const struct cmd_entry cmd_help_entry;
void help_usage(FILE *);
void help_command(FILE *, const struct cmd_entry *);
void help_sub(FILE *, const struct cmd_entry *, const struct cmd_sub *);

/*
 * cmd-sub.c: subcommands that are operations with arguments.  The words
 * of the command line fill the arguments named in pos (and rest), the
 * options set the arguments they name; types, bounds and defaults come
 * from the operation table.  Packed once, validated with op_validate
 * before a broker is contacted, sent as they are.
 */
#define CMD_JSON 0x01       /* takes --json (-j): print the result as JSON */
#define CMD_JSON_VALUE 0x02 /* takes --json-value: the JSON argument's word is JSON text */
#define CMD_STOP 0x04       /* options end at the first word; the words go to the exec */

/*
 * An option: it sets the operation's argument arg (typed by the table;
 * a boolean takes no value) or, with arg NULL, is local: the exec reads
 * it with cmd_local.  With value set it takes no word and sets value.
 */
struct cmd_opt {
	const char *name; /* long option, without "--" */
	int ch;           /* short option, or 0 */
	const char *arg;
	const char *value;
};
#define CMD_OPTS_MAX 16

struct cmd_call;
struct cmd_sub {
	const char *name;  /* the subcommand's word; NULL: the command itself */
	const char *op;    /* the operation it runs */
	const char *usage; /* what follows "baton ", lines split by \n */
	const char *desc;
	int flags;
	const struct cmd_opt *opts;     /* ends with a NULL name; NULL: none */
	const char *pos[3];             /* the arguments the words fill, in order */
	int npos;                       /* words needed */
	const char *rest;               /* when the words outnumber pos, all go to this list */
	const char *stdin_arg;          /* the word "-" for this argument reads stdin */
	const char *preset[2];          /* an argument the CLI sets by default, and its value */
	int (*exec)(struct cmd_call *); /* NULL: cmd_call_show */
	int (*show)(struct cmd_call *); /* the result for people (else printed as JSON) */
};

/* What one argument was given. */
struct cmd_val {
	int set;
	const char *text;  /* strings; JSON text or a string */
	double num;        /* numbers and booleans */
	const char **list; /* lists; for a JSON argument, whole numbers */
	size_t n;
};

/* One subcommand being run: its arguments, its connection, the last result. */
struct cmd_call {
	const struct client_opts *o;
	const struct cmd_entry *cmd;
	const struct cmd_sub *sub; /* NULL for a call made up by an exec */
	const struct op *op;
	struct cmd_val v[OP_MAX_ARGS];
	const char *local[CMD_OPTS_MAX]; /* local options, by their index in sub->opts */
	int json, json_value;
	char **words; /* CMD_STOP: the words after the options */
	int nwords;
	char *stdin_text;
	struct conn c;
	int open;
	msgpack_unpacked u;
	const msgpack_object *r; /* the last result, in u */
	char *rbuf;              /* u's bytes, when made here (a client operation's) */
};
int cmd_sub_main(const struct cmd_entry *, const struct client_opts *, int, char **);
void cmd_call_init(struct cmd_call *, const struct client_opts *, const char *);
void cmd_call_done(struct cmd_call *);
int cmd_call_op(struct cmd_call *);
int cmd_call_show(struct cmd_call *);
const char *cmd_local(const struct cmd_call *, const char *);
int cmd_usage_err(const struct cmd_call *, const char *, ...) printflike(2, 3);
void cmd_set_str(struct cmd_call *, const char *, const char *);
void cmd_set_num(struct cmd_call *, const char *, double);
void cmd_set_list(struct cmd_call *, const char *, char **, size_t);
int cmd_has(const struct cmd_call *, const char *);
const char *cmd_str(const struct cmd_call *, const char *);
double cmd_num(const struct cmd_call *, const char *);
int cmd_result_bool(const struct cmd_call *, const char *);

/* cmd-call.c: `baton call OP [JSON]` and `baton status` */
extern const struct cmd_entry cmd_call_entry;
extern const struct cmd_entry cmd_status_entry;

/* cmd-lock.c */
extern const struct cmd_entry cmd_lock_entry;
extern const struct cmd_entry cmd_acquire_entry;
extern const struct cmd_entry cmd_release_entry;
extern const struct cmd_entry cmd_renew_entry;
extern const struct cmd_entry cmd_locks_entry;

/* cmd-state.c */
extern const struct cmd_entry cmd_note_entry;
extern const struct cmd_entry cmd_counter_entry;
extern const struct cmd_entry cmd_event_entry;

/* cmd-task.c */
extern const struct cmd_entry cmd_task_entry;
extern const struct cmd_entry cmd_project_entry;

/* cmd-msg.c */
extern const struct cmd_entry cmd_agents_entry;
extern const struct cmd_entry cmd_msg_entry;
extern const struct cmd_entry cmd_discuss_entry;

/* cmd-admin.c */
extern const struct cmd_entry cmd_export_entry;
extern const struct cmd_entry cmd_import_entry;

/* import-seed.c: baton import --from lockstep|airlock FILE */
int seed_import(const struct client_opts *, const char *, const char *);

/*
 * setup-file.c: the files set-up edits.  Every write goes to a temporary
 * file in the same directory, is fsync'd and renamed over the original,
 * after the original was copied to STATE/backup/.
 */
struct sbuf { /* a growing byte string, always NUL-terminated */
	char *s;
	size_t len, size;
};
struct text { /* a file's contents; exists is 0 for a missing file (len 0) */
	char *s;
	size_t len;
	int exists;
	mode_t mode;
};
/*
 * What an edit decided besides the new text: remove the file (nothing
 * else was in it), and for install what it created, recorded in
 * STATE/installed/ so that uninstall takes out that much and no more.
 */
struct edit_out {
	int gone;
	const char *record; /* "file", "mcpServers", "entry" or NULL */
};
#define SETUP_ENV_MAX 32
struct entry { /* what the MCP server entry says */
	char *command;
	const char *env[SETUP_ENV_MAX]; /* "NAME=value", pointing into environ */
	size_t nenv;
	char *url, *bearer; /* install --http: an HTTP entry, with its token */
};
typedef int setup_editor(const char *, const struct text *, const void *, struct sbuf *,
    struct edit_out *);
void sb_add(struct sbuf *, const char *, size_t);
void sb_adds(struct sbuf *, const char *);
void sb_addf(struct sbuf *, const char *, ...) printflike(2, 3);
void sb_shquote(struct sbuf *, const char *);
void sb_splice(struct sbuf *, const char *, size_t, size_t, size_t, const char *);
int setup_read(const char *, struct text *);
int setup_mkdirs(const char *, mode_t);
int setup_write_file(const char *, const char *, size_t, mode_t);
char *setup_state_file(const char *, const char *);
int setup_commit(const char *, const struct text *, const char *, size_t, mode_t);
int setup_edit(const char *, const char *, mode_t, int, const void *, setup_editor *);
char *setup_self(void);
char *setup_config_path(const char *, const char *, const char *);
char *setup_project(const struct client_opts *);

/* setup-json.c: the exact-span editor of Claude Code's JSON files */
struct jmember {         /* a member of a JSON object, as byte offsets into the text */
	size_t key;      /* the key's opening quote */
	size_t val, end; /* the value is [val, end) */
	size_t prev_end; /* end of the previous member's value, or just after '{' */
	size_t next_key; /* the next member's key, or 0 when this one is last */
};
size_t js_ws(const char *, size_t, size_t);
size_t js_value(const char *, size_t, size_t);
int js_find(const char *, size_t, size_t, const char *, struct jmember *, size_t *, size_t *);
char *js_line_indent(const char *, size_t);
char *js_member_indent(const char *, size_t, size_t, const char *);
int js_check(const char *, const struct text *);
void js_render_json(struct sbuf *, const cJSON *, const char *, const char *);
void js_remove_member(struct sbuf *, const char *, size_t, size_t, size_t,
    const struct jmember *, size_t);
void js_append(struct sbuf *, const char *, size_t, size_t, size_t, size_t, const char *,
    const char *);
int js_install(const char *, const struct text *, const struct entry *, struct sbuf *,
    struct edit_out *);
int js_uninstall(const char *, const struct text *, const char *, struct sbuf *,
    struct edit_out *);
char *js_installed(const char *);

/* setup-toml.c: marked blocks, and the exact-span editor of Codex's TOML */
int blk_find(const char *, const char *, size_t, const char *, const char *, size_t *,
    size_t *);
void blk_append(struct sbuf *, const char *, size_t, const char *);
void blk_cut(struct sbuf *, const char *, size_t, size_t, size_t);
int toml_install(const char *, const struct text *, const struct entry *, struct sbuf *);
int toml_uninstall(const char *, const struct text *, struct sbuf *);
int toml_installed(const char *);

/* setup-hooks.c: baton hook's entries in Claude Code's settings and Codex's hooks.json */
struct hook_set {
	const char *self;  /* this baton, absolute */
	const char *group; /* --group NAME for the hooks, or NULL */
	int claude;        /* for Claude Code (else Codex) */
	int reserve, strict, stop;
};
int hooks_install(const char *, const struct text *, const struct hook_set *, struct sbuf *,
    struct edit_out *);
int hooks_uninstall(const char *, const struct text *, const char *, struct sbuf *,
    struct edit_out *);
size_t hooks_installed(const char *, struct sbuf *);

/* cmd-setup.c: install, uninstall, init, enable, disable; the lines of status */
extern const struct cmd_entry cmd_install_entry;
extern const struct cmd_entry cmd_uninstall_entry;
extern const struct cmd_entry cmd_init_entry;
extern const struct cmd_entry cmd_enable_entry;
extern const struct cmd_entry cmd_disable_entry;
void setup_status(const struct client_opts *);

/* cmd-hook.c: baton hook EVENT, the agent CLIs' hooks */
extern const struct cmd_entry cmd_hook_entry;
void hook_say_reserved(struct sbuf *, const msgpack_object *);

/* cmd-guard.c: baton guard, the git hooks that refuse commits of reserved files */
extern const struct cmd_entry cmd_guard_entry;

/* cmd-log.c: `baton log` */
extern const struct cmd_entry cmd_log_entry;

/* view.c: one project's state for people (baton dashboard, baton top) */
struct view_opts {
	const char *operator; /* the agent name the operator acts as */
	double wait_warn;     /* seconds a lock wait lasts before it needs the operator */
	int timeout_ms;       /* for the broker's answers */
};
cJSON *view_snapshot(struct conn *, const struct view_opts *, struct op_error *);
cJSON *view_action(struct conn *, const cJSON *, const struct view_opts *, struct op_error *);
const char *view_launch_state(const char *, int);

/* dashboard.c, dash-http.c, dash-assets.c: `baton dashboard` */
#define DASH_PROJECTS_MAX 16 /* projects with a connection open at once */
struct evhttp;
struct evhttp_request;
struct dash_sse;
struct dash_proj { /* a project's connection, opened when first shown */
	char *name;
	struct conn c;
	int open;
	uint64_t used; /* for closing the least recently used */
};
struct dash {
	struct event_base *base;
	struct evhttp *http;
	struct client_opts opts;
	struct view_opts vo;
	int port;
	int read_only;
	char token[TOKEN_LEN + 1];  /* in the printed URL */
	char cookie[TOKEN_LEN + 1]; /* what the token is exchanged for */
	char csrf[TOKEN_LEN + 1];   /* every action carries it */
	char *project;              /* shown first */
	struct dash_proj projs[DASH_PROJECTS_MAX];
	uint64_t uses;
	/* the feed: one connection subscribed to every project */
	struct conn watch;
	struct bufferevent *wbev;
	int watching;
	uint64_t rev; /* the newest entry seen */
	char **known; /* projects seen */
	size_t nknown;
	TAILQ_HEAD(, dash_sse) sse;
	size_t nsse;
	struct event *retry_ev, *ping_ev;
	double retry_s;
};
extern const struct cmd_entry cmd_dashboard_entry;

/* top.c: `baton top` */
extern const struct cmd_entry cmd_top_entry;
struct conn *dash_conn(struct dash *, const char *, struct op_error *);
void dash_conn_failed(struct dash *, const char *);
void dash_http_start(struct dash *);
int dash_sse_open(struct dash *, struct evhttp_request *, const char *, uint64_t);
void dash_projects_json(struct dash *, cJSON *);
struct dash_asset {
	const char *path, *type;
	const unsigned char *data;
	size_t len;
};
const struct dash_asset *dash_asset_find(const char *);

/* run.c: running git and tmux from argument vectors, never through a shell */
struct run_out {
	int status; /* exit status, 128 + signal; -1 when it did not run */
	struct sbuf out, err;
	int timed_out, over; /* killed at its deadline; said more than the bound */
};
int run_argv(const char *const *, const char *const *, double, size_t, struct run_out *);
void run_free(struct run_out *);
const char *run_said(struct run_out *);

/*
 * xop.c: operations the client runs (OP_CLIENT: git, tmux), recording in
 * the broker.  A step returns what comes next.
 */
enum xop_next {
	XOP_CALL, /* ask the broker x->call with x->cfb; its answer comes in x->answer */
	XOP_NEXT, /* run the next step now */
	XOP_DONE, /* x->result is the answer */
	XOP_FAIL, /* x->code and x->why say what went wrong */
};
struct xop {
	const struct op *op;
	msgpack_sbuffer args; /* its arguments, packed (a copy) */
	msgpack_unpacked u;
	const msgpack_object *vals[OP_MAX_ARGS];
	char *argv[OP_MAX_ARGS]; /* xop_arg's copies */
	char *project, *agent;   /* the session it runs for */
	int (*step)(struct xop *);
	int n; /* the step to run: 0, 1... */
	void *st;
	void (*st_free)(void *);
	const struct op *call; /* the broker operation asked for */
	struct fbuf cfb;       /* its arguments */
	int calling;
	cJSON *answer;     /* the broker's result of the last call */
	struct xop *sub;   /* an operation it handed the rest to (xop_sub) */
	cJSON *sub_result; /* what that one answered */
	cJSON *result;
	char *code, *why;
	cJSON *wrap, *todo; /* an auto-merge: the approval answered, the tasks left */
	int no_worktree;    /* worktree_merge {task}: the task has none */
};
struct xop *xop_new(const struct op *, const void *, size_t, const char *, const char *,
    struct op_error *);
void xop_free(struct xop *);
const char *xop_arg(struct xop *, const char *);
int xop_bool(struct xop *, const char *);
struct fbuf *xop_call(struct xop *, enum op_id);
int xop_fail(struct xop *, const char *, const char *, ...) printflike(3, 4);
int xop_done(struct xop *, cJSON *);
int xop_sub(struct xop *, enum op_id, struct fbuf *);
int xop_step(struct xop *);
struct xop *xop_pending(struct xop *);
int xop_answer(struct xop *, const msgpack_object *);
int xop_cli(const struct op *, const void *, size_t, struct conn *, cJSON **);
int xop_cli_call(struct cmd_call *, const void *, size_t);
int xop_cli_claimed(struct cmd_call *);
int xop_cli_approved(struct cmd_call *);
void xop_merge_args(struct fbuf *, const char *);
cJSON *xop_merged(struct xop *, const char *);

/* worktree.c: git worktrees (the client runs git; the broker records them) */
int wt_create_step(struct xop *);
int wt_status_step(struct xop *);
int wt_merge_step(struct xop *);
int wt_list_step(struct xop *);
int wt_cleanup_step(struct xop *);
int wt_claim_fixup(cJSON *, const char *, int (*)(void *, enum op_id, struct fbuf *), void *);
int wt_auto_merge(const char *);

/* launch.c: agents in tmux, on a tmux server of baton's own */
struct launch_agent { /* one agent to start */
	char *name, *role, *type, *cwd, *worktree;
	char **argv;       /* NULL-terminated */
	const char *wname; /* its window's name; NULL: the agent's */
	int top;           /* the baton top window, not an agent */
};
struct launch_where {     /* where tmux started it */
	char window[160]; /* session:index */
	char pane[32];    /* PID%N: the server's pid, the pane's id */
};
void launch_names(const char *, char *, size_t, char *, size_t);
int launch_tmux(struct run_out *, const char *, const char *const *);
int launch_has_session(const char *, const char *);
cJSON *launch_commands(const char *);
char **launch_argv(const char *, const cJSON *, const char *, const char *, const char *);
void launch_argv_free(char **);
char *launch_types(const cJSON *);
char *launch_prompt(const char *, const char *, const char *);
char *launch_command_line(char *const *);
int launch_start(const struct launch_agent *, const char *, const char *, const char *,
    struct launch_where *, char **);
char *launch_project_dir(const char *);
cJSON *launch_live_panes(const char *);
const char *launch_state(const cJSON *, const cJSON *);
int launch_implementer_step(struct xop *);
int launch_list_step(struct xop *);

/* cmd-worktree.c, cmd-launch.c */
extern const struct cmd_entry cmd_worktree_entry;
extern const struct cmd_entry cmd_launch_entry;

/* cmd-service.c */
extern const struct cmd_entry cmd_service_entry;

/* cmd-broker.c: baton stop, baton restart; what status says of the broker's program */
extern const struct cmd_entry cmd_stop_entry;
extern const struct cmd_entry cmd_restart_entry;
void broker_status_warnings(pid_t, const char *);

/* mcp.c: the MCP stdio server (DESIGN §6) */
#define RPC_PARSE_ERROR -32700 /* JSON-RPC 2.0 error codes */
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
#define RPC_INTERNAL_ERROR -32603

struct event;
struct event_base;
struct bufferevent;
struct mcp;
struct mcp_task;

/* Protocol revisions, oldest first: a request behaves as its revision says. */
enum mcp_rev {
	MCP_REV_2024_11_05,
	MCP_REV_2025_03_26,
	MCP_REV_2025_06_18,
	MCP_REV_2025_11_25, /* argument errors are isError tool results from here on */
	MCP_REV_2026_07_28, /* stateless: each request carries its _meta */
};
#define MCP_REV_MODERN MCP_REV_2026_07_28

/* What a request says besides its method and params. */
struct mcp_req {
	const cJSON *id;
	enum mcp_rev rev;
	int tasks; /* it declared the io.modelcontextprotocol/tasks extension */
};

/* One tools/call forwarded to the broker and not answered yet. */
struct mcp_call {
	struct mcp *m;
	uint64_t bid; /* broker request id */
	cJSON *id;    /* JSON-RPC id, owned */
	enum mcp_rev rev;
	const struct op *op;
	cJSON *progress_token; /* owned, or NULL */
	struct event *progress;
	int progress_n;
	double started;
	int cancelled;         /* by the client: its answer is not sent */
	char *prompt;          /* prompts/get of this role (a guide call), or NULL */
	struct mcp_task *task; /* the task it runs for, or NULL */
	struct xop *xop;       /* the client operation it asks for, owned, or NULL */
	TAILQ_ENTRY(mcp_call) entry;
};
TAILQ_HEAD(mcp_calls, mcp_call);

struct compat_profile;
TAILQ_HEAD(compat_calls, compat_call);

struct mcp {
	struct event_base *base;
	const char *http;                          /* --http [ADDR:]PORT, or NULL */
	int print_token;                           /* --print-token */
	void (*sink)(struct mcp *, const cJSON *); /* --http: where messages go */
	void *sink_arg;
	const struct compat_profile *compat; /* --compat: a seed's tools, or NULL */
	struct compat_calls ccalls;          /* its calls in progress */
	struct client_opts opts;
	char *agent; /* name we connect with, owned */
	char *role;  /* role from agent_join, owned, or NULL */
	int joined;  /* agent_join succeeded: join again after a reconnect */
	char *client_name, *client_version; /* from initialize or _meta, owned */
	enum mcp_rev rev;                   /* from initialize (before it: 2024-11-05) */
	int modern_seen;                    /* a 2026-07-28 request came */
	char *token;                        /* session token to reclaim after a reconnect */
	int in_fd, out_fd;
	struct bufferevent *in, *out;
	struct bev_reader *in_rd; /* reads stdin for in */
	int skipping;             /* discarding the rest of an over-long line */
	int eof;
	int paused; /* stdin not read while stdout is backed up */
	struct event *grace;
	struct event *connect_soon;
	int lost;     /* the broker went away: reconnect in the background */
	int retry_ms; /* the next background attempt, backing off */

	struct conn conn;
	int connected;
	struct bufferevent *bev;   /* broker connection */
	struct bev_reader *bev_rd; /* reads it for bev */
	uint64_t next_bid;
	struct mcp_calls calls;
	size_t ncalls;
	TAILQ_HEAD(, mcp_task) tasks; /* waits run as tasks (mcp-task.c) */
	size_t ntasks;

	unsigned char offer[OP_COUNT]; /* the tools of the profile, by operation */
	char *profile;                 /* --tools/BATON_TOOLS as given, owned */
	char *tools_json;              /* the tools array of tools/list, built once */
	struct jout answer, text;      /* mcp_tool_printed's buffers, kept between calls */

	/* DESIGN 2: without an explicit project, the client's first root */
	int client_roots;   /* it offered roots in initialize */
	int roots_pending;  /* roots/list sent, no answer yet */
	char *root_project; /* owned; m->opts.project points at it */
	struct event *roots_timer;
	char **held; /* lines that came meanwhile, replayed in order */
	size_t nheld;
};
extern const struct cmd_entry cmd_mcp_entry;
void mcp_setup(struct mcp *, struct event_base *, const struct client_opts *);
void mcp_teardown(struct mcp *);
void mcp_line(struct mcp *, const char *, size_t);
void mcp_set_agent(struct mcp *, const char *);
int mcp_id_equal(const cJSON *, const cJSON *);
void mcp_maybe_exit(struct mcp *);

/* mcp-reply.c: JSON-RPC results and errors on stdout */
void mcp_write(struct mcp *, const cJSON *);
void mcp_printed_begin(struct jout *, const cJSON *);
void mcp_printed_meta(struct jout *, enum mcp_rev);
void mcp_printed_end(struct mcp *, struct jout *);
int bev_write_now(struct bufferevent *, const void *, size_t, int);
struct bev_reader *bev_reader_new(struct bufferevent *);
void bev_reader_enable(struct bev_reader *, int);
void bev_reader_free(struct bev_reader *);
cJSON *mcp_message(const cJSON *);
void mcp_result(struct mcp *, const cJSON *, enum mcp_rev, cJSON *);
void mcp_error(struct mcp *, const cJSON *, int, const char *, const char *, ...)
    printflike(5, 6);
void mcp_error_data(struct mcp *, const cJSON *, int, cJSON *, const char *, ...)
    printflike(5, 6);
cJSON *mcp_text_result(const char *, int);
void mcp_tool_error(struct mcp *, const cJSON *, enum mcp_rev, const char *, ...)
    printflike(4, 5);

/* mcp-rev.c: the revisions, initialize, server/discover, per-request _meta */
void mcp_initialize(struct mcp *, const cJSON *, const cJSON *);
void mcp_discover(struct mcp *, const struct mcp_req *);
int mcp_request_rev(struct mcp *, const cJSON *, const cJSON *, struct mcp_req *);
cJSON *mcp_server_info(void);
void mcp_cacheable(cJSON *);

/* mcp-tools.c: tools and prompts, from the operation table */
const char *mcp_tools_json(struct mcp *);
void mcp_tools_list(struct mcp *, const struct mcp_req *);
void mcp_tools_call(struct mcp *, const struct mcp_req *, const cJSON *);
void mcp_tool_answer(struct mcp *, struct mcp_call *, const msgpack_object *);
cJSON *mcp_tool_result(struct mcp_call *, const msgpack_object *);
cJSON *mcp_structured(cJSON *);
void mcp_prompts_list(struct mcp *, const struct mcp_req *);
void mcp_prompts_get(struct mcp *, const struct mcp_req *, const cJSON *);
void mcp_prompt_answer(struct mcp *, struct mcp_call *, const msgpack_object *);
size_t mcp_distance(const char *, const char *);
cJSON *mcp_schema_enum(const char *);

/* mcp-broker.c: forwarding calls to the broker, reconnecting when it goes */
int mcp_connect(struct mcp *, int, struct op_error *);
void mcp_connect_soon_cb(int, short, void *);
struct mcp_call *mcp_forward(struct mcp *, const struct mcp_req *, const cJSON *,
    const struct op *, const void *, size_t);
struct mcp_call *mcp_call_send(struct mcp *, const struct op *, const void *, size_t, int,
    struct op_error *); /* progress: the client sent a progress token */
void mcp_call_cancel(struct mcp *, struct mcp_call *);
void mcp_cancelled(struct mcp *, const cJSON *);
void mcp_cancel_all(struct mcp *);
void mcp_call_free(struct mcp *, struct mcp_call *);
void mcp_joined(struct mcp *, const cJSON *);
struct evbuffer;
void mcp_event_why(short, char *, size_t);
struct bufferevent *mcp_conn_attach(struct event_base *, struct conn *,
    void (*)(struct bufferevent *, void *), void (*)(struct bufferevent *, short, void *),
    void *, struct op_error *);
int mcp_read_frames(struct evbuffer *, int (*)(void *, const msgpack_object *, char *, size_t),
    void *, char *, size_t);

/* mcp-xop.c: client operations (git, tmux) through baton mcp */
void mcp_xop_start(struct mcp *, const struct mcp_req *, const struct op *, const void *,
    size_t);
void mcp_xop_answer(struct mcp *, struct mcp_call *, const msgpack_object *);
void mcp_xop_claimed(struct mcp *, cJSON *);
int mcp_xop_approved(struct mcp *, struct mcp_call *, cJSON *);

/* mcp-profile.c: which tools are offered (--tools, BATON_TOOLS) */
int mcp_profile_parse(struct mcp *, const char *, char **);
int mcp_offered(const struct mcp *, const struct op *);
void mcp_profile_help(FILE *);

/* mcp-task.c: waits as tasks (the io.modelcontextprotocol/tasks extension) */
int mcp_task_op(const struct op *);
int mcp_task_wanted(struct mcp *, const struct mcp_req *, const struct op *,
    const msgpack_object **, const cJSON *);
void mcp_task_start(struct mcp *, const struct mcp_req *, const struct op *,
    const msgpack_object **, const void *, size_t, int);
void mcp_task_answer(struct mcp *, struct mcp_call *, const msgpack_object *);
void mcp_task_lost(struct mcp *, struct mcp_call *, const char *);
void mcp_tasks_request(struct mcp *, const struct mcp_req *, const char *, const cJSON *);
cJSON *mcp_task_json(struct mcp_task *, const char *);
void mcp_tasks_free(struct mcp *);

/*
 * compat.c: the seed tools' profiles (baton mcp --compat).  A profile is
 * a table of tools; a tool, the seed's arguments and a translation run
 * step by step (see compat.c) on the agent's broker session
 * (compat-link.c).
 */
enum compat_type {
	CA_STRING,
	CA_INT,
	CA_NUMBER,
	CA_BOOL,
	CA_STRINGS,
	CA_OBJECT,
	CA_ID,
	CA_ANY
};
struct compat_arg {
	const char *name;
	enum compat_type type;
	int required;
	const char *def;     /* default as JSON, or NULL */
	const char *choices; /* "a|b|c" for strings, or NULL */
	const char *desc;
};
struct compat_call;
#define COMPAT_OPEN_WORLD 0x100 /* reaches outside baton: files, commands */
struct compat_tool {
	const char *name;
	const char *desc;
	const struct compat_arg *args;
	size_t nargs;
	int flags; /* OP_READONLY, OP_DESTRUCTIVE, OP_IDEMPOTENT, COMPAT_OPEN_WORLD */
	void (*run)(struct compat_call *);
};
#define COMPAT_TOOL(n, f, d) \
	{ \
		.name = #n, .desc = d, .args = n##_args, .nargs = nitems(n##_args), \
		.flags = f, .run = n##_run \
	}
struct compat_profile {
	const char *name; /* lockstep, airlock */
	const char *seed; /* Lockstep MCP, Airlock */
	const char *instructions;
	const struct compat_tool *tools;
	size_t ntools;
	struct {
		const struct compat_tool *tools;
		const size_t *n;
	} extra[2]; /* tables of more tools: the launch and the file tools */
};
/* One tools/call in progress. */
struct compat_call {
	struct mcp *m;
	cJSON *id;
	enum mcp_rev rev;
	const struct compat_tool *tool;
	cJSON *args; /* the caller's, checked against the tool's row */
	int step;
	int pending;     /* answers the step still waits for */
	cJSON *ans;      /* this step's answers, by the order asked */
	cJSON *prev;     /* the last step's: compat_ans() */
	cJSON *st;       /* the translation's own state */
	struct xop *xop; /* a client operation it runs (compat_xop), or NULL */
	int done;        /* answered */
	int cancelled;   /* by the client: no answer is sent */
	TAILQ_ENTRY(compat_call) entry;
};
extern const struct compat_profile compat_airlock, compat_lockstep;
const struct compat_profile *compat_profile_find(const char *);
int compat_parse(struct mcp *, const char *, char **);
const char *compat_tools_json(const struct compat_profile *);
void compat_tools_list(struct mcp *, const struct mcp_req *);
void compat_tools_call(struct mcp *, const struct mcp_req *, const cJSON *);
void compat_call_step(struct compat_call *);
void compat_call_free(struct compat_call *);
void compat_call_forget(struct compat_call *);
void compat_ok(struct compat_call *, cJSON *);
int compat_xop(struct compat_call *, enum op_id, cJSON *, cJSON **);
const char *compat_jstr(const cJSON *, const char *);
void compat_fail(struct compat_call *, const char *, ...) printflike(2, 3);
const cJSON *compat_ans(const struct compat_call *, int);
const char *compat_err(const cJSON *);
const char *compat_err_code(const cJSON *);
int compat_failed(struct compat_call *, const cJSON *);
int compat_op(struct compat_call *, const char *, const char *, cJSON *);
const char *compat_str(const struct compat_call *, const char *);
double compat_num(const struct compat_call *, const char *, double);
const cJSON *compat_arg(const struct compat_call *, const char *);
void compat_copy(cJSON *, const char *, const cJSON *, const char *);
int compat_cancelled(struct mcp *, const cJSON *);
void compat_cancel_all(struct mcp *);

/* compat-files.c: Lockstep's file and command tools, confined */
extern const struct compat_tool compat_file_tools[];
extern const size_t compat_nfile_tools;
extern const struct compat_tool compat_launch_tools[]; /* compat-launch.c */
extern const size_t compat_nlaunch_tools;
int compat_files_option(const char *, const char *, char **);
cJSON *compat_files_config(struct mcp *);
void compat_files_kill(void);

/* compat-link.c: a broker session per agent identity */
struct compat_req;
struct compat_link {
	struct mcp *m; /* whose options and event base it uses */
	char *agent, *project;
	struct conn conn;
	struct bufferevent *bev;
	int connected;
	char *token; /* to reclaim the session after the broker restarts */
	uint64_t next_bid;
	TAILQ_HEAD(, compat_req) reqs;
	struct event *ttl_ev; /* an Airlock registration: the link closes when it lapses */
	uint64_t ttl_ms;      /* its mono_ms deadline */
	TAILQ_ENTRY(compat_link) entry;
};
extern struct mcp *compat_owner;
struct compat_link *compat_link_get(struct mcp *, const char *, struct op_error *);
const char *compat_link_agent(const struct compat_link *);
void compat_link_close(struct compat_link *);
struct compat_link *compat_link_first(void);
struct compat_link *compat_link_next(struct compat_link *);
void compat_links_close(struct mcp *);
int compat_send(struct compat_call *, struct compat_link *, const char *, cJSON *,
    struct op_error *);
void compat_cancel(struct compat_call *);
cJSON *compat_error_answer(const char *, const char *);

/* mcp-http.c: baton mcp --http, MCP over Streamable HTTP */
int mcp_http_main(struct mcp *, const struct client_opts *);
int mcp_http_token(char *, size_t, char **);
int mcp_http_url(const char *, char **, char **, char **);

/* mcp-roots.c: the project from the client's first root (DESIGN §2) */
void mcp_roots_ask(struct mcp *);
void mcp_roots_answer(struct mcp *, const cJSON *, const cJSON *);
void mcp_roots_done(struct mcp *);
void mcp_roots_timeout_cb(int, short, void *);

#endif /* BATON_SHIM_H */
