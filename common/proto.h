/*
 * baton wire protocol.
 *
 * A frame is a 4-byte big-endian payload length followed by exactly one
 * msgpack object, a map whose key "t" holds the frame type.  Keys are
 * short strings; every frame type and its keys are listed here and
 * nowhere else.
 *
 *   hello   client -> broker, first frame
 *           {t:1, v:PROTO_VERSION, kind:"cli"|"mcp"|"hook", agent, role, project,
 *            pid, client:{name, version}, token?, agent_session?,
 *            ancestry:[[pid, start], ...]}
 *           agent_session: the agent CLI's session id (Claude Code's
 *           CLAUDE_CODE_SESSION_ID); ancestry: the client's parent, its
 *           parent... up to init, each with its start time in clock
 *           ticks (/proc/PID/stat), at most HELLO_ANCESTRY_MAX
 *   welcome broker -> client, answer to hello
 *           {t:2, v, version, session, token, agent, project, reclaimed}
 *   req     client -> broker
 *           {t:3, id, op, a:{args}, p?}
 *           p:true: the client keeps a long wait alive (MCP progress),
 *           so its wait_seconds may go to --max-wait-progress
 *   res     broker -> client
 *           {t:4, id, ok:true, r:{result}} or
 *           {t:4, id, ok:false, e:{code, message, field?}}
 *   cancel  client -> broker: ends the wait of request id
 *           {t:5, id}
 *   push    broker -> client, unsolicited
 *           {t:6, kind, ...}
 *   error   broker -> client before closing (bad hello, bad frame)
 *           {t:7, code, message}
 *
 * A client-chosen id multiplexes calls on one connection.  The broker
 * answers every req exactly once (a cancelled wait answers with code
 * "cancelled").
 */
#ifndef BATON_PROTO_H
#define BATON_PROTO_H

#define PROTO_VERSION 1

#define FRAME_HDR 4
#define FRAME_MAX_DEFAULT (1024 * 1024) /* hard payload limit, bytes */
#define FRAME_MAX_DEPTH 32              /* nesting of arrays and maps */
#define HELLO_ANCESTRY_MAX 64           /* ancestors a hello carries */
#define HELLO_AGENT_SESSION_MAX 128     /* bytes of an agent CLI's session id */

enum frame_type {
	FRAME_HELLO = 1,
	FRAME_WELCOME = 2,
	FRAME_REQ = 3,
	FRAME_RES = 4,
	FRAME_CANCEL = 5,
	FRAME_PUSH = 6,
	FRAME_ERROR = 7,
};

/* Error codes carried in res.e.code and error.code. */
#define ERR_INVALID "invalid_argument" /* bad or missing argument; field set */
#define ERR_UNKNOWN_OP "unknown_op"
#define ERR_NOT_FOUND "not_found"
#define ERR_CONFLICT "conflict"     /* held by someone else, or a forbidden move */
#define ERR_PERMISSION "permission" /* needs the token or the owning session */
#define ERR_DEADLOCK "deadlock"
#define ERR_TIMEOUT "timeout"
#define ERR_CANCELLED "cancelled"
#define ERR_LIMIT "limit"       /* a documented bound was exceeded */
#define ERR_PROTOCOL "protocol" /* malformed frame or hello */
#define ERR_VERSION "version"   /* protocol version mismatch */
#define ERR_INTERNAL "internal"
#define ERR_UNAVAILABLE "unavailable"       /* broker not reachable (client side) */
#define ERR_CURSOR_EXPIRED "cursor_expired" /* inbox cursor older than retention */

/*
 * Every code once, with the sysexits(3) status the CLI exits with for it
 * (DESIGN 7); err_codes[] in common/util.c is built from this list.
 */
#define BATON_ERRORS(X) \
	X(ERR_INVALID, 65) \
	X(ERR_UNKNOWN_OP, 65) \
	X(ERR_NOT_FOUND, 65) \
	X(ERR_CONFLICT, 1) \
	X(ERR_PERMISSION, 77) \
	X(ERR_DEADLOCK, 1) \
	X(ERR_TIMEOUT, 1) \
	X(ERR_CANCELLED, 1) \
	X(ERR_LIMIT, 65) \
	X(ERR_PROTOCOL, 70) \
	X(ERR_VERSION, 70) \
	X(ERR_INTERNAL, 70) \
	X(ERR_UNAVAILABLE, 69) \
	X(ERR_CURSOR_EXPIRED, 65)

#endif /* BATON_PROTO_H */
