/* shim/: the `baton` client — CLI and the MCP stdio server. */
#ifndef BATON_SHIM_H
#define BATON_SHIM_H

#include <cjson/cJSON.h>

#include "common.h"

/* sysexits(3) statuses used by the CLI (DESIGN §7) */
#define EXIT_CONFLICT 1
#define EXIT_USAGE 64
#define EXIT_DATAERR 65
#define EXIT_UNAVAILABLE 69
#define EXIT_SOFTWARE 70
#define EXIT_NOPERM 77

struct client_opts {
	const char *socket;  /* NULL: path_socket() */
	int autostart;       /* start batond when it is not running */
	const char *kind;    /* "cli" or "mcp" */
	const char *agent;   /* NULL: cli-PID */
	const char *role;    /* NULL: none */
	const char *project; /* NULL: project_default() */
	const char *client_name, *client_version;
	const char *token; /* session token to reclaim, or NULL */
};

struct conn {
	int fd;
	char *session, *token, *agent, *project, *broker_version;
	uint64_t next_id;
	int64_t reclaimed; /* session-bound holdings given back by the welcome */
	char *rbuf; /* bytes read, not yet decoded */
	size_t rlen, rsize;
};

/* client.c */
void client_opts_default(struct client_opts *);
char *client_find_broker(void);
int conn_open(struct conn *, const struct client_opts *, struct op_error *);
void conn_close(struct conn *);
int conn_send(struct conn *, struct fbuf *);
int conn_send_bytes(struct conn *, const void *, size_t);
int conn_read_frame(struct conn *, msgpack_unpacked *, int, struct op_error *);
int conn_call(struct conn *, const char *, const msgpack_object *, msgpack_unpacked *,
    const msgpack_object **, struct op_error *);
void client_pack_req(struct fbuf *, uint64_t, const char *);
char *project_default(void);
int project_explicit(const struct client_opts *);
int exit_status_for(const char *);

/* cli.c */
int cli_main(int, char **);
void cli_err(const char *, ...) printflike(1, 2);
int cli_usage_err(const char *, ...) printflike(1, 2);
int cli_fail(const char *, const struct op_error *);
int cli_print_json(const msgpack_object *);
const char *cli_duration(const msgpack_object *, char *, size_t);

/* cmd-lock.c */
int cmd_lock(const struct client_opts *, int, char **);
int cmd_acquire(const struct client_opts *, int, char **);
int cmd_release(const struct client_opts *, int, char **);
int cmd_renew(const struct client_opts *, int, char **);
int cmd_locks(const struct client_opts *, int, char **);
int lock_seconds(const char *, const char *, double, double *);

/* cmd-state.c */
int cmd_note(const struct client_opts *, int, char **);
int cmd_counter(const struct client_opts *, int, char **);
int cmd_event(const struct client_opts *, int, char **);

/* cmd-task.c */
int cmd_task(const struct client_opts *, int, char **);
int cmd_project(const struct client_opts *, int, char **);

/* cmd-msg.c */
int cmd_msg(const struct client_opts *, int, char **);

/* cmd-admin.c */
int cmd_export(const struct client_opts *, int, char **);
int cmd_import(const struct client_opts *, int, char **);

/* cmd-setup.c */
int cmd_install(const struct client_opts *, int, char **);
int cmd_uninstall(const struct client_opts *, int, char **);
int cmd_init(const struct client_opts *, int, char **);
int cmd_enable(const struct client_opts *, int, char **);
int cmd_disable(const struct client_opts *, int, char **);
int cmd_service(const struct client_opts *, int, char **);
void setup_status(const struct client_opts *);

/* mcp.c */
int mcp_main(const struct client_opts *);

#endif /* BATON_SHIM_H */
