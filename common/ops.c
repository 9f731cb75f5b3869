/*
 * The operation table: every operation once, with its arguments, bounds,
 * results and descriptions.  The shim builds MCP schemas and CLI help
 * from it and validates calls with op_validate(); the broker validates
 * again with the same function before any handler runs.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const struct op_result status_results[] = {
	{ "version", "string", 0, "broker version" },
	{ "protocol", "integer", 0, "wire protocol version" },
	{ "pid", "integer", 0, "broker process id" },
	{ "uptime_seconds", "number", 0, "seconds since the broker started" },
	{ "revision", "integer", 0,
	    "global revision: advances on every change, never goes back" },
	{ "sessions", "integer", 0, "connected sessions, all projects" },
	{ "locks", "integer", 0, "locks held, all projects" },
	{ "waiters", "integer", 0, "lock requests waiting, all projects" },
	{ "blocked", "integer", 0,
	    "other calls waiting (note_wait, event_wait...), all projects" },
	{ "output_bytes", "integer", 0, "answers queued for peers that have not taken them" },
	{ "input_bytes", "integer", 0, "buffered incomplete frames (batond --frame-budget)" },
	{ "project", "string", 0, "your project namespace" },
	{ "project_sessions", "integer", 0, "sessions in your project" },
	{ "project_locks", "integer", 0, "locks held in your project" },
	{ "session", "string", 0, "your session id" },
	{ "agent", "string", 0, "your agent name" },
	{ "durability", "string", 0, "strict, relaxed or none (batond --durability)" },
	{ "state_dir", "string", 1, "the broker's state directory (state.db, batond.log)" },
	{ "group", "string", 1, "a team broker's Unix group (batond --group)" },
	{ "store_error", "string", 1, "why the last checkpoint failed, while it fails" },
	{ "fold_error", "string", 1, "why the journal does not fold into state.db" },
	/*
	 * With batond --backend etcd the answer also carries "shared" (the
	 * backend: endpoints, projects, leases, calls, watches), shown by
	 * baton status --json and batond(8) but not declared here: MCP
	 * agents have no use for it, and the full tools/list is at its
	 * budget (tests/mcp/profiles.mjs).
	 */
};

static const struct op_arg lock_acquire_args[] = {
	{ "name", ARG_STRING, 0, 1, NAME_MAX_LEN, NULL, NULL,
	    "Lock name: \"npm\", \"db\", or a file \"file:src/app.c\"." },
	{ "names", ARG_STRINGS, 0, 1, LOCK_NAMES_MAX, NULL, NULL,
	    "Several locks, granted all together or none." },
	{ "mode", ARG_STRING, 0, 0, 16, "\"exclusive\"", "exclusive|shared", NULL },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "0", NULL,
	    "Wait in line this long (capped, 50 s by default)." },
	{ "ttl_seconds", ARG_NUMBER, 0, 1, 86400, NULL, NULL,
	    "Detach it: it outlives your session and expires unless renewed." },
	{ "ticket", ARG_STRING, 0, 1, TOKEN_MAX_LEN, NULL, NULL,
	    "From a timed-out wait: keeps your place in line." },
	{ "reason", ARG_STRING, ARG_TEXT, 0, REASON_MAX_LEN, NULL, NULL,
	    "Why, shown to others." },
};
static const struct op_result lock_acquire_results[] = {
	{ "acquired", "boolean", 0, "true when you now hold the lock(s)" },
	{ "token", "string", 1, "capability to release or renew; keep it" },
	{ "fence", "integer", 1, "fencing token: strictly increases with every grant" },
	{ "mode", "string", 1, "exclusive or shared" },
	{ "names", "array", 1, "the lock names granted or asked for" },
	{ "held", "array", 1, "names you held already: your grant stands (same token)" },
	{ "expires_in_seconds", "number", 1, "seconds until a detached lock expires" },
	{ "holders", "array", 1,
	    "who holds it now (agent, session, mode, reason), when not acquired" },
	{ "queue_position", "integer", 1,
	    "your place in line (1 = next) after a timed-out wait" },
	{ "ticket", "string", 1, "pass back as ticket to keep your place in line" },
	{ "queued_ahead", "integer", 1, "nobody holds it but this many wait in line first" },
	{ "wait_cap_seconds", "number", 1, "the cap that applied to wait_seconds" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg lock_release_args[] = {
	{ "name", ARG_STRING, 0, 1, NAME_MAX_LEN, NULL, NULL, NULL },
	{ "names", ARG_STRINGS, 0, 1, LOCK_NAMES_MAX, NULL, NULL, "Several of yours." },
	{ "token", ARG_STRING, 0, 1, TOKEN_MAX_LEN, NULL, NULL,
	    "From lock_acquire: frees every name of its grant." },
};
static const struct op_result lock_release_results[] = {
	{ "released", "boolean", 0, "true when something of yours was released" },
	{ "names", "array", 0, "the names released" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg lock_renew_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, NULL },
	{ "token", ARG_STRING, 0, 1, TOKEN_MAX_LEN, NULL, NULL, "From lock_acquire." },
	{ "ttl_seconds", ARG_NUMBER, ARG_REQUIRED, 1, 86400, NULL, NULL,
	    "New lifetime from now." },
};
static const struct op_result lock_renew_results[] = {
	{ "renewed", "boolean", 0, "true when the lock is yours and now expires later" },
	{ "expires_in_seconds", "number", 1, "seconds until it expires" },
	{ "fence", "integer", 1, "the fence of the grant (unchanged by renewal)" },
};

static const struct op_arg lock_list_args[] = {
	{ "prefix", ARG_STRING, 0, 0, NAME_MAX_LEN, "\"\"", NULL, "Only names starting so." },
	{ "limit", ARG_INT, 0, 1, 1000, "100", NULL, NULL },
	{ "after", ARG_STRING, 0, 1, NAME_MAX_LEN, NULL, NULL, NULL },
};
static const struct op_result lock_list_results[] = {
	{ "locks", "array", 0,
	    "by name: name, mode, holders [{agent, session, mode, age_seconds, "
	    "expires_in_seconds, reason}], waiters in order" },
	{ "count", "integer", 0, "number of locks listed" },
	{ "more", "boolean", 0, "more locks past this page" },
	{ "cursor", "string", 1, "pass as after for the next page" },
	{ "hint", "string", 1, "what to do next" },
};
static const struct op_arg lock_break_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL,
	    "Name of the lock to break." },
	{ "reason", ARG_STRING, ARG_TEXT, 0, 256, NULL, NULL,
	    "Why, told to the holders in their inbox." },
};
static const struct op_result lock_break_results[] = {
	{ "broken", "boolean", 0, "true when someone held it and no longer does" },
	{ "holders", "array", 0, "who held it: agent, session, mode, age_seconds, fence" },
	{ "hint", "string", 1, "what to do next" },
};

/* Notes, counters and events (DESIGN §5.2); bounds documented in baton(1). */
#define NOTE_VALUE_MAX 65536           /* encoded bytes of a note value */
#define EVENT_PAYLOAD_MAX 16384        /* encoded bytes of an event payload */
#define VERSION_MAX 9007199254740991.0 /* 2^53 - 1: exact in every JSON client */

static const struct op_arg note_set_args[] = {
	{ "key", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL,
	    "e.g. \"api/base_url\"." },
	{ "value", ARG_JSON, ARG_REQUIRED, 0, NOTE_VALUE_MAX, NULL, NULL,
	    "A string or any JSON." },
	{ "if_version", ARG_INT, 0, 0, VERSION_MAX, NULL, NULL,
	    "Write only at this version (0: only if absent)." },
	{ "ttl_seconds", ARG_NUMBER, 0, 1, 2592000, NULL, NULL,
	    "Delete it after this long (at most 30 days)." },
};
static const struct op_result note_set_results[] = {
	{ "written", "boolean", 0,
	    "true when the value was stored; false when if_version did not match" },
	{ "version", "integer", 0,
	    "the new version when written, else the current one (0: absent)" },
	{ "current", "object", 1,
	    "when not written: the current {value, version} (value null when absent)" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg note_get_args[] = {
	{ "key", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, NULL },
};
static const struct op_result note_get_results[] = {
	{ "found", "boolean", 0, "true when the note exists" },
	{ "value", "any", 0, "its value (null when absent)" },
	{ "version", "integer", 0,
	    "revision of its last write (0 when absent); pass to if_version or note_wait" },
	{ "author", "string", 0, "agent that wrote it (empty when absent)" },
	{ "expires_in_seconds", "number", 1, "seconds until it expires, when it has a TTL" },
};

static const struct op_arg note_delete_args[] = {
	{ "key", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, NULL },
	{ "if_version", ARG_INT, 0, 1, VERSION_MAX, NULL, NULL,
	    "Delete only at this version." },
};
static const struct op_result note_delete_results[] = {
	{ "deleted", "boolean", 0, "true when the note existed (at if_version) and is gone" },
	{ "version", "integer", 0,
	    "revision of the deletion, else the current version (0: absent)" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg note_list_args[] = {
	{ "prefix", ARG_STRING, 0, 0, NAME_MAX_LEN, "\"\"", NULL, "Only keys starting so." },
	{ "limit", ARG_INT, 0, 1, 1000, "100", NULL, NULL },
	{ "after", ARG_STRING, 0, 0, NAME_MAX_LEN, "\"\"", NULL, NULL },
};
static const struct op_result note_list_results[] = {
	{ "notes", "array", 0,
	    "notes in key order: key, version, author, size_bytes, expires_in_seconds" },
	{ "count", "integer", 0, "number of notes listed" },
	{ "more", "boolean", 0,
	    "true when more notes match: call again with after = the last key listed" },
};

static const struct op_arg note_wait_args[] = {
	{ "key", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, NULL },
	{ "after_version", ARG_INT, 0, 0, VERSION_MAX, "0", NULL, "The version you last saw." },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "30", NULL, "Capped, 50 s by default." },
};
static const struct op_result note_wait_results[] = {
	{ "changed", "boolean", 0,
	    "true when the note was written or deleted after after_version" },
	{ "found", "boolean", 0, "true when the note exists now" },
	{ "version", "integer", 0,
	    "its version now (of the deletion when deleted); pass it as after_version next" },
	{ "value", "any", 1, "its value, when changed and found" },
	{ "author", "string", 1, "who wrote it, when changed and found" },
	{ "wait_cap_seconds", "number", 1, "the cap that applied to wait_seconds" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg counter_incr_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL,
	    "e.g. \"migration\"; starts at 0." },
	{ "by", ARG_INT, 0, -VERSION_MAX, VERSION_MAX, "1", NULL, NULL },
};
static const struct op_result counter_incr_results[] = {
	{ "value", "integer", 0,
	    "the counter after the addition; unique to this call when by is not 0" },
};

static const struct op_arg event_signal_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, NULL },
	{ "payload", ARG_JSON, 0, 0, EVENT_PAYLOAD_MAX, NULL, NULL,
	    "Any JSON, handed to the waiters." },
};
static const struct op_result event_signal_results[] = {
	{ "generation", "integer", 0,
	    "the event's new generation (1 at the first signal; never reset)" },
};

static const struct op_arg event_wait_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, NULL },
	{ "after", ARG_INT, 0, 0, VERSION_MAX, "0", NULL, "The generation you last saw." },
	{ "next", ARG_BOOL, 0, 0, 0, "false", NULL, "Only a signal after this call." },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "30", NULL, "Capped, 50 s by default." },
};
static const struct op_result event_wait_results[] = {
	{ "fired", "boolean", 0, "true when the generation is past after" },
	{ "generation", "integer", 0,
	    "the event's generation now; pass it as after next time" },
	{ "payload", "any", 1, "payload of the latest signal, when fired and it had one" },
	{ "wait_cap_seconds", "number", 1, "the cap that applied to wait_seconds" },
	{ "hint", "string", 1, "what to do next" },
};

/* Presence, messages and discussions (DESIGN §5.3, §5.4); bounds in baton(1). */
#define ADDR_MAX 70 /* an agent name, "role:ROLE" or "all" */
#define MSG_BODY_MAX 65536
#define MSG_SUBJECT_MAX 256
#define MSG_THREAD_MAX 128
#define DISC_TEXT_MAX 8192 /* a discussion message, decision or reasoning */
#define DISC_TOPIC_MAX 256
#define MSG_ID_MAX 9007199254740991.0 /* 2^53 - 1 */

static const struct op_arg agent_join_args[] = {
	{ "name", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL,
	    "e.g. \"alice\"; default: the name you connected with." },
	{ "role", ARG_STRING, 0, 1, ROLE_MAX_LEN, NULL, NULL,
	    "planner, implementer or reviewer; \"role:ROLE\" messages reach it." },
	{ "ttl_seconds", ARG_NUMBER, 0, 1, 86400, NULL, NULL,
	    "Stay present this long after your connection ends." },
};
static const struct op_result agent_join_results[] = {
	{ "session", "string", 0, "your session id" },
	{ "agent", "string", 0, "your agent name now" },
	{ "role", "string", 1, "your role now" },
	{ "project", "string", 0, "your project namespace" },
	{ "expires_in_seconds", "number", 1,
	    "when ttl_seconds was given: seconds your presence outlives you" },
	{ "unread", "integer", 0, "unread messages in your mailbox" },
	{ "hint", "string", 0, "what to do next in your role" },
	{ "next_steps", "string", 0,
	    "your role's next steps from the live project state (as guide and the MCP "
	    "prompts)" },
};

static const struct op_arg agent_list_args[] = {
	{ "role", ARG_STRING, 0, 1, ROLE_MAX_LEN, NULL, NULL, NULL },
	{ "limit", ARG_INT, 0, 1, 1000, "100", NULL, NULL },
	{ "after", ARG_STRING, 0, 0, 24, "\"\"", NULL, NULL },
};
static const struct op_result agent_list_results[] = {
	{ "agents", "array", 0,
	    "present agents, in session order: {agent, role, session, pid, project, kind, "
	    "client, connected_seconds, idle_seconds, locks [names held], tasks [ids "
	    "claimed], connected, expires_in_seconds?}; connected:false for a TTL "
	    "registration whose connection has ended" },
	{ "count", "integer", 0, "number of agents listed" },
	{ "more", "boolean", 0,
	    "true when more agents are present: call again with after = the last session "
	    "listed" },
};

static const struct op_arg message_send_args[] = {
	{ "to", ARG_STRING, ARG_REQUIRED, 1, ADDR_MAX, NULL, NULL,
	    "Agent name, \"role:ROLE\" or \"all\"." },
	{ "body", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, MSG_BODY_MAX, NULL, NULL, NULL },
	{ "subject", ARG_STRING, ARG_TEXT, 0, MSG_SUBJECT_MAX, NULL, NULL, NULL },
	{ "thread", ARG_STRING, 0, 0, MSG_THREAD_MAX, NULL, NULL,
	    "A label grouping messages, e.g. \"T4\"." },
};
static const struct op_result message_send_results[] = {
	{ "id", "integer", 0, "the message id (ids only increase)" },
	{ "to", "string", 0, "the address it was sent to" },
	{ "recipients", "array", 0, "names of the agents present now that it reaches" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg message_inbox_args[] = {
	{ "after", ARG_INT, 0, 0, MSG_ID_MAX, NULL, NULL,
	    "Your last cursor; omit for all retained." },
	{ "unread_only", ARG_BOOL, 0, 0, 0, "false", NULL, NULL },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "0", NULL,
	    "Wait this long for mail (capped, 50 s by default)." },
	{ "limit", ARG_INT, 0, 1, 1000, "100", NULL, NULL },
};
static const struct op_result message_inbox_results[] = {
	{ "messages", "array", 0,
	    "oldest first: {id, from, to, subject?, body, thread?, at (ISO 8601 UTC), read}" },
	{ "cursor", "integer", 0, "pass as after next time: nothing is skipped or repeated" },
	{ "more", "boolean", 0, "true when more messages are waiting past this page" },
	{ "unread", "integer", 0, "unread messages in your mailbox" },
	{ "wait_cap_seconds", "number", 1, "the cap that applied to wait_seconds" },
	{ "discussions", "array", 0,
	    "open discussions waiting on you: {id, topic, started_by, category, "
	    "priority, replies, updated_at}" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg message_ack_args[] = {
	{ "ids", ARG_JSON, 0, 0, 16384, NULL, NULL, "Message ids (up to 1000)." },
	{ "up_to", ARG_INT, 0, 0, MSG_ID_MAX, NULL, NULL, "Every message up to this id." },
};
static const struct op_result message_ack_results[] = {
	{ "acked", "integer", 0, "messages newly marked read" },
	{ "unread", "integer", 0, "unread messages left in your mailbox" },
};

static const struct op_arg discussion_start_args[] = {
	{ "topic", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, DISC_TOPIC_MAX, NULL, NULL,
	    "What is to be decided, in one line." },
	{ "message", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, DISC_TEXT_MAX, NULL, NULL,
	    "The question, the options, what you need." },
	{ "waiting_on", ARG_STRING, 0, 1, ADDR_MAX, NULL, NULL,
	    "Agent name or \"role:ROLE\"." },
	{ "category", ARG_STRING, 0, 1, 64, NULL, NULL, "e.g. question, design, blocker." },
	{ "priority", ARG_STRING, 0, 0, 16, "\"normal\"", "low|normal|high|urgent", NULL },
};
static const struct op_result discussion_start_results[] = {
	{ "id", "string", 0, "discussion id, D1, D2... per project" },
	{ "status", "string", 0, "open" },
	{ "waiting_on", "string", 1, "who must answer" },
	{ "token", "string", 0, "capability to resolve it from another session; keep it" },
	{ "hint", "string", 0, "what to do next" },
};

static const struct op_arg discussion_reply_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, 24, NULL, NULL, "e.g. \"D3\"." },
	{ "message", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, DISC_TEXT_MAX, NULL, NULL, NULL },
	{ "waiting_on", ARG_STRING, 0, 0, ADDR_MAX, NULL, NULL,
	    "Who answers next (\"\" clears)." },
};
static const struct op_result discussion_reply_results[] = {
	{ "id", "string", 0, "discussion id" },
	{ "status", "string", 0, "open" },
	{ "replies", "integer", 0, "messages in the thread, the opening one included" },
	{ "waiting_on", "string", 1, "who must answer next" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg discussion_resolve_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, 24, NULL, NULL, "e.g. \"D3\"." },
	{ "decision", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, DISC_TEXT_MAX, NULL, NULL, NULL },
	{ "reasoning", ARG_STRING, ARG_TEXT, 0, DISC_TEXT_MAX, NULL, NULL, NULL },
	{ "linked_task", ARG_STRING, 0, 1, 64, NULL, NULL, "e.g. \"T7\"." },
	{ "token", ARG_STRING, 0, 1, TOKEN_MAX_LEN, NULL, NULL,
	    "From discussion_start, from another session." },
};
static const struct op_result discussion_resolve_results[] = {
	{ "id", "string", 0, "discussion id" },
	{ "status", "string", 0, "resolved" },
	{ "decided_by", "string", 0, "your agent name, recorded with the decision" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg discussion_list_args[] = {
	{ "status", ARG_STRING, 0, 0, 16, "\"open\"", "open|resolved|all", NULL },
	{ "waiting_on", ARG_STRING, 0, 1, ADDR_MAX, NULL, NULL,
	    "Agent name or \"role:ROLE\"." },
	{ "limit", ARG_INT, 0, 1, 500, "100", NULL, NULL },
	{ "after", ARG_STRING, 0, 1, 24, NULL, NULL, NULL },
};
static const struct op_result discussion_list_results[] = {
	{ "discussions", "array", 0,
	    "newest first: {id, topic, status, waiting_on?, category?, priority, started_by, "
	    "replies, updated_at, decision?}" },
	{ "count", "integer", 0, "number listed" },
	{ "more", "boolean", 0, "more discussions past this page" },
	{ "cursor", "string", 1, "pass as after for the next page" },
};

static const struct op_arg discussion_get_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, 24, NULL, NULL, "e.g. \"D3\"." },
};
static const struct op_result discussion_get_results[] = {
	{ "id", "string", 0, "discussion id" },
	{ "topic", "string", 0, "the topic" },
	{ "status", "string", 0, "open or resolved" },
	{ "waiting_on", "string", 1, "who must answer next" },
	{ "category", "string", 1, "its category" },
	{ "priority", "string", 0, "low, normal, high or urgent" },
	{ "started_by", "string", 0, "agent that started it" },
	{ "started_at", "string", 0, "ISO 8601 UTC" },
	{ "replies", "array", 0, "the thread, oldest first: {who, at, text, waiting_on?}" },
	{ "resolution", "object", 1,
	    "{decision, reasoning?, decided_by, linked_task?, at} once resolved" },
	{ "hint", "string", 1, "what to do next" },
};

/* Tasks, the project plan and role guidance (DESIGN §5.5); bounds in baton(1) TASKS. */
#define TASK_ID_MAX 16
#define TASK_TITLE_MAX 200
#define TASK_TEXT_MAX 16384 /* description, notes, feedback, reasons */
#define TASK_PLAN_MAX 65536
#define TASK_TAGS_MAX 16
#define TASK_DEPS_MAX 32
#define TASK_APPROVE_MAX 100
#define TASK_LIST_MAX 200

static const struct op_arg task_create_args[] = {
	{ "title", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, TASK_TITLE_MAX, NULL, NULL,
	    "Short and imperative." },
	{ "description", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "What to do; files, acceptance, tests." },
	{ "priority", ARG_STRING, 0, 0, 16, "\"medium\"", "low|medium|high|urgent", NULL },
	{ "complexity", ARG_STRING, ARG_REQUIRED, 0, 16, NULL, "simple|medium|complex|critical",
	    "critical gets the most careful review." },
	{ "isolation", ARG_STRING, 0, 0, 16, "\"shared\"", "shared|worktree",
	    "worktree: a git worktree of its own." },
	{ "tags", ARG_STRINGS, 0, 0, TASK_TAGS_MAX, NULL, NULL, NULL },
	{ "depends_on", ARG_STRINGS, 0, 0, TASK_DEPS_MAX, NULL, NULL,
	    "Task ids to be done first." },
	{ "files", ARG_STRINGS, 0, 0, LOCK_NAMES_MAX, NULL, NULL,
	    "Paths, directories or globs it changes: its claim reserves them." },
	{ "assignee", ARG_STRING, 0, 1, 64, NULL, NULL, "Only this agent may claim it." },
};
static const struct op_result task_fields_results[] = {
	{ "id", "string", 0, "short task id, T1, T2... per project" },
	{ "title", "string", 0, "title" },
	{ "status", "string", 0, "todo, in_progress, review, done, blocked or cancelled" },
	{ "priority", "string", 0, "low, medium, high or urgent" },
	{ "complexity", "string", 0, "simple, medium, complex or critical" },
	{ "isolation", "string", 0, "shared or worktree" },
	{ "tags", "array", 0, "labels" },
	{ "depends_on", "array", 0, "ids that must be done first" },
	{ "files", "array", 0, "normalized paths its claim reserves" },
	{ "assignee", "string", 1, "the only agent that may claim it" },
	{ "owner", "string", 1, "agent that claimed it last" },
	{ "ready", "boolean", 0, "todo with every dependency done: claimable now" },
	{ "updated_at", "string", 0, "ISO 8601 UTC" },
	{ "description", "string", 1, "what to do" },
	{ "notes", "string", 1, "the claimant's notes at its last submit" },
	{ "feedback", "string", 1, "the reviewer's last feedback" },
	{ "reviewer", "string", 1, "who approved or requested changes last" },
	{ "reviewed_at", "string", 1, "when (ISO 8601 UTC)" },
	{ "created_at", "string", 0, "ISO 8601 UTC" },
	{ "claim_live", "boolean", 0, "the claimant's session is connected" },
	{ "lease_expires_in_seconds", "number", 1,
	    "the claimant's session is gone: back to todo in this many seconds" },
	{ "changes_requested", "boolean", 0, "changes were requested and not submitted yet" },
	{ "files_reserved", "boolean", 0, "its files are reserved for its claimant now" },
	{ "review_taken_by", "string", 1, "the reviewer reviewing it now" },
	{ "version", "integer", 0, "revision of the last change" },
	{ "history", "array", 0, "every change: {at, actor, session, action, from, to, note}" },
	{ "history_dropped", "integer", 0, "oldest entries dropped past the history bound" },
	{ "hint", "string", 1, "what to do next" },
};
/*
 * What a tool that changes a task answers through MCP: the task's id,
 * where it stands and what to do next (task_get shows the whole task;
 * the CLI's --json still prints it all).
 */
static const struct op_result task_change_results[] = {
	{ "id", "string", 0, "the task's id" },
	{ "status", "string", 0, "todo, in_progress, review, done, blocked or cancelled" },
	{ "ready", "boolean", 0, "todo with every dependency done: claimable now" },
	{ "hint", "string", 1, "what to do next" },
};
#define task_create_results task_change_results

static const struct op_arg task_get_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, TASK_ID_MAX, NULL, NULL, "e.g. \"T3\"." },
};
#define task_get_results task_fields_results

static const struct op_arg task_list_args[] = {
	{ "status", ARG_STRING, 0, 0, 16, NULL,
	    "todo|in_progress|review|done|blocked|cancelled|open",
	    "open = not done or cancelled." },
	{ "owner", ARG_STRING, 0, 1, 64, NULL, NULL, NULL },
	{ "tag", ARG_STRING, 0, 1, 64, NULL, NULL, NULL },
	{ "ready", ARG_BOOL, 0, 0, 0, NULL, NULL, "Only claimable now." },
	{ "limit", ARG_INT, 0, 1, TASK_LIST_MAX, "50", NULL, NULL },
	{ "after", ARG_STRING, 0, 1, TASK_ID_MAX, NULL, NULL, NULL },
};
static const struct op_result task_list_results[] = {
	{ "tasks", "array", 0,
	    "oldest first: {id, title, status, priority, complexity, isolation, tags, "
	    "depends_on, files, assignee, owner, ready, updated_at}" },
	{ "count", "integer", 0, "tasks in this page" },
	{ "more", "boolean", 0, "more tasks past this page" },
	{ "cursor", "string", 1, "pass as after for the next page" },
	{ "summary", "object", 0,
	    "whole project: total, per status counts, ready, percent_done, project_status" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg task_update_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, TASK_ID_MAX, NULL, NULL, NULL },
	{ "title", ARG_STRING, ARG_TEXT, 1, TASK_TITLE_MAX, NULL, NULL, NULL },
	{ "description", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL, NULL },
	{ "priority", ARG_STRING, 0, 0, 16, NULL, "low|medium|high|urgent", NULL },
	{ "tags", ARG_STRINGS, 0, 0, TASK_TAGS_MAX, NULL, NULL, "Replace the tags." },
	{ "depends_on", ARG_STRINGS, 0, 0, TASK_DEPS_MAX, NULL, NULL,
	    "Replace them; a cycle is refused." },
	{ "files", ARG_STRINGS, 0, 0, LOCK_NAMES_MAX, NULL, NULL, "Replace them." },
	{ "assignee", ARG_STRING, 0, 0, 64, NULL, NULL, "\"\" for anyone." },
	{ "status", ARG_STRING, 0, 0, 16, NULL,
	    "todo|in_progress|review|done|blocked|cancelled", NULL },
	{ "note", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "Why, kept in the history." },
	{ "token", ARG_STRING, 0, 1, 64, NULL, NULL, "Claim token, from another session." },
};
#define task_update_results task_change_results

static const struct op_arg task_claim_args[] = {
	{ "id", ARG_STRING, 0, 1, TASK_ID_MAX, NULL, NULL, "Default: the best ready task." },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "0", NULL,
	    "Wait this long for one (capped, 50 s by default)." },
	{ "lease_seconds", ARG_NUMBER, 0, 1, 86400, "30", NULL,
	    "If your session ends, back to todo after this long." },
	{ "token", ARG_STRING, 0, 1, 64, NULL, NULL,
	    "An earlier claim's token: take it over." },
	{ "review", ARG_BOOL, 0, 0, 0, "false", NULL,
	    "true: take a task in review to review." },
};
static const struct op_result task_claim_results[] = {
	{ "claimed", "boolean", 0, "true when the task (or its review) is yours" },
	{ "review", "boolean", 1, "true when what you got is a review" },
	{ "id", "string", 1, "the task's id" },
	{ "token", "string", 1,
	    "claim token: lets another session of yours submit or release" },
	{ "lease_seconds", "number", 1, "how long the claim outlives your session" },
	{ "task", "object", 1, "the task, with description, feedback and history" },
	{ "worktree", "object",
	    1, "an isolation:worktree task: your worktree {name, path, branch, base}: work there" },
	{ "owner", "string", 1, "who holds it, when someone else does" },
	{ "holders", "array", 1, "who holds its files, when they keep you from it" },
	{ "wait_cap_seconds", "number", 1, "the cap that applied to wait_seconds" },
	{ "project_status", "string", 0, "planning, ready, in_progress, complete or stopped" },
	{ "hint", "string", 0, "what to do next" },
};

static const struct op_arg task_submit_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, TASK_ID_MAX, NULL, NULL, NULL },
	{ "notes", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, TASK_TEXT_MAX, NULL, NULL,
	    "What you did and how you tested it." },
	{ "token", ARG_STRING, 0, 1, 64, NULL, NULL, "Claim token, from another session." },
};
#define task_submit_results task_change_results

static const struct op_arg task_approve_args[] = {
	{ "id", ARG_STRING, 0, 1, TASK_ID_MAX, NULL, NULL, NULL },
	{ "ids", ARG_STRINGS, 0, 1, TASK_APPROVE_MAX, NULL, NULL, "All approved, or none." },
	{ "feedback", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL, NULL },
};
static const struct op_result task_approve_results[] = {
	{ "approved", "array", 0, "ids now done" },
	{ "summary", "object", 0, "project: total, per status counts, percent_done..." },
	{ "all_done", "boolean", 0, "every task is done or cancelled (planners are told)" },
	{ "hint", "string", 0, "what to do next" },
	{ "merges", "array", 1,
	    "with git config baton.autoMerge true, through baton or baton mcp: the "
	    "worktree_merge of each approved task that has a worktree, with its task" },
};

static const struct op_arg task_request_changes_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, TASK_ID_MAX, NULL, NULL, NULL },
	{ "feedback", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, TASK_TEXT_MAX, NULL, NULL,
	    "What to change." },
};
#define task_request_changes_results task_change_results

static const struct op_arg task_release_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, TASK_ID_MAX, NULL, NULL, NULL },
	{ "requeue", ARG_BOOL, 0, 0, 0, "true", NULL, "false: blocked instead of todo." },
	{ "reason", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL, NULL },
	{ "token", ARG_STRING, 0, 1, 64, NULL, NULL, "Claim token, from another session." },
};
#define task_release_results task_change_results

static const struct op_arg project_set_args[] = {
	{ "description", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL, NULL },
	{ "end_state", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "What done looks like." },
	{ "tech_stack", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL, NULL },
	{ "constraints", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL, NULL },
	{ "acceptance", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL, NULL },
	{ "tests", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL, "How to test it." },
	{ "plan", ARG_STRING, ARG_TEXT, 0, TASK_PLAN_MAX, NULL, NULL, NULL },
	{ "status", ARG_STRING, 0, 0, 16, NULL, "planning|ready|in_progress|complete|stopped",
	    NULL },
	{ "self_review", ARG_BOOL, 0, 0, 0, NULL, NULL,
	    "true: a claimant may approve its own task." },
};
static const struct op_result project_fields_results[] = {
	{ "project", "string", 0, "the project namespace" },
	{ "status", "string", 0, "planning, ready, in_progress, complete or stopped" },
	{ "description", "string", 1, "what the project is" },
	{ "end_state", "string", 1, "what done looks like" },
	{ "tech_stack", "string", 1, "languages, libraries, tools" },
	{ "constraints", "string", 1, "rules to respect" },
	{ "acceptance", "string", 1, "acceptance criteria" },
	{ "tests", "string", 1, "how to test it" },
	{ "plan", "string", 1, "the implementation plan" },
	{ "self_review", "boolean", 0, "a claimant may review its own task" },
	{ "updated_by", "string", 1, "agent of the last change" },
	{ "updated_at", "string", 1, "ISO 8601 UTC" },
	{ "version", "integer", 0, "revision of the last change" },
	{ "summary", "object", 0, "tasks: total, per status counts, ready, percent_done" },
	{ "hint", "string", 1, "what to do next" },
};
static const struct op_result project_set_results[] = {
	{ "project", "string", 0, "the project namespace" },
	{ "status", "string", 0, "planning, ready, in_progress, complete or stopped" },
	{ "version", "integer", 0, "revision of the last change" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg guide_args[] = {
	{ "role", ARG_STRING, 0, 0, 16, NULL, "planner|implementer|reviewer",
	    "Default: your session's role." },
};
static const struct op_result guide_results[] = {
	{ "role", "string", 0, "the role guided" },
	{ "project_status", "string", 0, "planning, ready, in_progress, complete or stopped" },
	{ "next_steps", "string", 0, "what to do next, from the live state" },
};

static const struct op_result state_export_results[] = {
	{ "path", "string", 0,
	    "the snapshot: a SQLite database, 0600, in the state directory, removed when "
	    "your connection closes" },
	{ "revision", "integer", 0, "the broker's revision when the snapshot was taken" },
	{ "rows", "integer", 0, "how many rows the snapshot holds" },
	{ "hint", "string", 0, "what to do with it" },
};

static const struct op_arg hook_edit_args[] = {
	{ "paths", ARG_STRINGS, ARG_REQUIRED, 1, 64, NULL, NULL,
	    "The files the edit touches: absolute, or relative to the project." },
	{ "reserve", ARG_BOOL, 0, 0, 0, "false", NULL,
	    "When nothing is in the way, reserve each path for the agent (an exclusive "
	    "file: lock bound to its session), unless it holds one covering it." },
	{ "guard", ARG_STRING, 0, 0, 16, NULL, "pre-commit|pre-push",
	    "The edit is a commit or a push that baton guard checks in this git hook: "
	    "the broker logs what it refuses." },
	{ "bypass", ARG_BOOL, 0, 0, 0, "false", NULL,
	    "With guard: BATON_GUARD=off lets it through whatever is in the way; the "
	    "broker logs the bypass and what it let through." },
};
static const struct op_result hook_edit_results[] = {
	{ "matched", "boolean", 0, "whether baton could tell which agent session the hook is" },
	{ "agent", "string", 1, "the agent the hook acts as" },
	{ "session", "string", 1, "its session" },
	{ "role", "string", 1, "its role" },
	{ "project", "string", 1, "its project" },
	{ "matched_by", "string", 1, "\"session id\" or \"process\"" },
	{ "unmatched", "string", 1, "why no session matched" },
	{ "blockers", "array", 0,
	    "another agent's reservations in the way: path, name, agent, session, mode, "
	    "age_seconds, expires_in_seconds, reason" },
	{ "allowed", "boolean", 0, "true when nothing is in the way" },
	{ "reserved", "array", 1, "the file: locks taken for the agent (reserve)" },
};

static const struct op_arg hook_news_args[] = {
	{ "prime", ARG_BOOL, 0, 0, 0, "false", NULL,
	    "Also who the agent is: its locks, tasks, unread mail, discussions waiting "
	    "on it and what to do next (session start, resume, compaction)." },
	{ "interval_seconds", ARG_NUMBER, 0, 0, 86400, "0", NULL,
	    "Nothing when the agent was told news less than this long ago." },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "0", NULL,
	    "Wait until there is news, up to this long (capped by the broker)." },
};
static const struct op_result hook_news_results[] = {
	{ "matched", "boolean", 0, "whether baton could tell which agent session the hook is" },
	{ "agent", "string", 1, "the agent the hook acts as" },
	{ "session", "string", 1, "its session" },
	{ "role", "string", 1, "its role" },
	{ "project", "string", 1, "its project" },
	{ "matched_by", "string", 1, "\"session id\" or \"process\"" },
	{ "unmatched", "string", 1, "why no session matched" },
	{ "locks", "array", 1, "prime: the locks it holds" },
	{ "tasks", "array", 1, "prime: the tasks it holds" },
	{ "unread", "integer", 1, "prime: unread messages" },
	{ "waiting", "integer", 1, "prime: open discussions waiting on it" },
	{ "hint", "string", 1, "prime: its mail, who else is here, its role" },
	{ "next_steps", "string", 1, "prime: what to do next in its role" },
	{ "news", "array", 0,
	    "what is new since the last notice, each told once: kind (message, review, "
	    "changes), id, from, subject, text" },
	{ "more", "boolean", 0, "more news than one notice holds: the rest comes next time" },
};

/* The audit log (DESIGN 11); bounds in baton(1) LOG. */
#define LOG_KINDS \
	"lock, note, counter, event, agent, message, discussion, task, project, queue, log"

/* the filters log_list and log_wait share; self-explanatory names, no descriptions (MCP budget) */
#define LOG_FILTER_ARGS \
	{ "limit", ARG_INT, 0, 1, 1000, "100", NULL, NULL }, \
	    { "kinds", ARG_STRINGS, 0, 1, 16, NULL, NULL, "Any of: " LOG_KINDS "." }, \
	    { "agent", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL, NULL }, \
	    { "object", ARG_STRING, 0, 1, NAME_MAX_LEN, NULL, NULL, \
		    "A lock or note name, a task id..." }, \
	{ \
		"all_projects", ARG_BOOL, 0, 0, 0, "false", NULL, NULL \
	}
static const struct op_arg log_list_args[] = {
	{ "after", ARG_INT, 0, 0, VERSION_MAX, NULL, NULL,
	    "Entries past this revision (a cursor); without it, the newest." },
	LOG_FILTER_ARGS,
};
static const struct op_result log_list_results[] = {
	{ "entries", "array",
	    0, "oldest first: {rev, at, project, agent, session?, op, kind, key, summary, data?}" },
	{ "count", "integer", 0, "entries listed" },
	{ "cursor", "integer", 0, "pass as after next time" },
	{ "more", "boolean", 0, "more entries past this page" },
	{ "missed", "boolean", 0, "entries after `after` were dropped by retention" },
	{ "oldest", "integer", 0, "oldest revision kept" },
	{ "hint", "string", 1, "what to do next" },
};
static const struct op_arg log_wait_args[] = {
	{ "after", ARG_INT, 0, 0, VERSION_MAX, NULL, NULL,
	    "Wait for an entry past this revision (default: now)." },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "30", NULL, NULL },
	LOG_FILTER_ARGS,
};
#define log_wait_results log_list_results
static const struct op_arg log_append_args[] = {
	{ "event", ARG_STRING, ARG_REQUIRED, 1, LOG_EVENT_MAX, NULL, NULL,
	    "One line, e.g. \"tests green on T4\"." },
	{ "data", ARG_JSON, 0, 0, LOG_DATA_MAX, NULL, NULL, NULL },
};
static const struct op_result log_append_results[] = {
	{ "revision", "integer", 0, "the entry's revision" },
};
static const struct op_arg log_subscribe_args[] = {
	{ "after", ARG_INT, 0, 0, VERSION_MAX, NULL, NULL,
	    "Push the retained entries after this revision first; without it, only new ones." },
	{ "all_projects", ARG_BOOL, 0, 0, 0, "false", NULL,
	    "Every project's changes, not only your project's (and the global namespace's)." },
};
static const struct op_result log_subscribe_results[] = {
	{ "subscribed", "boolean", 0, "true: push frames follow" },
	{ "revision", "integer", 0, "the newest entry's revision" },
	{ "oldest", "integer", 0, "the oldest entry's revision (0: none)" },
	{ "missed", "boolean", 0,
	    "true when entries after `after` were dropped: reload the state" },
	{ "projects", "array", 0,
	    "projects with sessions or retained entries: {project, sessions, revision}" },
	{ "hint", "string", 0, "what to do next" },
};

/* Worktrees and launched agents (DESIGN 13); bounds in baton(1) WORKTREES and LAUNCH. */
#define COMMIT_MAX 64 /* a commit id in hex (SHA-256 repositories too) */

static const struct op_arg worktree_create_args[] = {
	{ "agent", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL, "Whose; default: you." },
	{ "task", ARG_STRING, 0, 1, TASK_ID_MAX, NULL, NULL, NULL },
	{ "base", ARG_STRING, 0, 1, BRANCH_MAX, NULL, NULL,
	    "Branch to start from; default: the main checkout's." },
};
static const struct op_result worktree_create_results[] = {
	{ "name", "string", 0, "the worktree's name (from the agent's)" },
	{ "path", "string", 0, "where to work: the worktree's directory" },
	{ "branch", "string", 0, "its branch, baton/NAME" },
	{ "base", "string", 0, "the branch it merges into" },
	{ "base_commit", "string", 0, "the commit it started from" },
	{ "created", "boolean", 0, "false when it existed already and is reused" },
	{ "hint", "string", 0, "what to do next" },
};
static const struct op_arg worktree_status_args[] = {
	{ "agent", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL, "Whose; default: you." },
};
static const struct op_result worktree_status_results[] = {
	{ "name", "string", 0, "the worktree's name" },
	{ "agent", "string", 0, "its owner" },
	{ "task", "string", 1, "the task it was made for" },
	{ "path", "string", 0, "its directory" },
	{ "branch", "string", 0, "its branch" },
	{ "base", "string", 0, "the branch it merges into" },
	{ "ahead", "integer", 0, "commits on the branch that the base lacks" },
	{ "behind", "integer", 0, "commits on the base that the branch lacks" },
	{ "files", "array", 0, "files the branch changes against the base: {status, path}" },
	{ "uncommitted", "array", 0, "files with uncommitted changes in the worktree" },
	{ "clean_merge", "boolean", 0, "whether it merges into the base without conflicts" },
	{ "conflicts", "array", 1, "the files that would conflict" },
	{ "more", "boolean", 0, "lists were cut at 200 entries" },
	{ "hint", "string", 0, "what to do next" },
};
static const struct op_arg worktree_merge_args[] = {
	{ "agent", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL, "Whose; or task." },
	{ "task", ARG_STRING, 0, 1, TASK_ID_MAX, NULL, NULL, "The task's worktree." },
};
static const struct op_result worktree_merge_results[] = {
	{ "merged", "boolean", 0, "true when the base branch now holds the work" },
	{ "how", "string", 1, "fast-forward, merge commit, or nothing to merge" },
	{ "commit", "string", 1, "the base branch's commit now" },
	{ "base", "string", 0, "the branch merged into" },
	{ "reason", "string", 1, "why it was refused; nothing was changed anywhere" },
	{ "files", "array", 0, "the files merged, or those in the way of the merge" },
	{ "hint", "string", 0, "what to do next" },
};
static const struct op_result worktree_list_results[] = {
	{ "worktrees", "array", 0,
	    "{name, agent, task?, branch, path, base, state (active or merged), owner_here, "
	    "exists}; and orphans: worktrees under .baton/worktrees nobody recorded" },
	{ "count", "integer", 0, "worktrees listed" },
	{ "hint", "string", 1, "what to do next" },
};
static const struct op_arg worktree_cleanup_args[] = {
	{ "agent", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL, "Only this one." },
	{ "force", ARG_BOOL, 0, 0, 0, NULL, NULL,
	    "Also those with unmerged or uncommitted work: lost (listed)." },
};
static const struct op_result worktree_cleanup_results[] = {
	{ "removed", "array", 0, "{name, branch, lost?}: worktrees and branches removed" },
	{ "kept", "array", 0, "{name, why}: worktrees left as they are" },
	{ "hint", "string", 1, "what to do next" },
};
static const struct op_arg worktree_set_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, AGENT_NAME_MAX_LEN, NULL, NULL,
	    "The worktree's name: its directory under .baton/worktrees." },
	{ "agent", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL, "Its owner." },
	{ "task", ARG_STRING, 0, 0, TASK_ID_MAX, NULL, NULL, NULL },
	{ "branch", ARG_STRING, 0, 1, BRANCH_MAX, NULL, NULL, NULL },
	{ "path", ARG_STRING, ARG_TEXT, 1, PATH_ARG_MAX, NULL, NULL, "Absolute." },
	{ "base", ARG_STRING, 0, 1, BRANCH_MAX, NULL, NULL, NULL },
	{ "base_commit", ARG_STRING, 0, 1, COMMIT_MAX, NULL, NULL, NULL },
	{ "state", ARG_STRING, 0, 0, 16, NULL, "active|merged", NULL },
	{ "commit", ARG_STRING, 0, 1, COMMIT_MAX, NULL, NULL, "The merge's commit." },
	{ "remove", ARG_BOOL, 0, 0, 0, "false", NULL, "Forget the record." },
};
static const struct op_result worktree_set_results[] = {
	{ "name", "string", 0, "the record's name" },
	{ "removed", "boolean", 0, "true when the record is gone" },
	{ "version", "integer", 0, "revision of the change" },
};
static const struct op_arg worktree_get_args[] = {
	{ "name", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL, NULL },
	{ "agent", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL, NULL },
};
static const struct op_result worktree_get_results[] = {
	{ "worktrees", "array", 0,
	    "by name: {name, agent, task?, branch, path, base, base_commit, state, commit?, "
	    "by, created_at, updated_at, owner_here}" },
	{ "count", "integer", 0, "records listed" },
};
static const struct op_arg launch_implementer_args[] = {
	{ "type", ARG_STRING, ARG_REQUIRED, 1, AGENT_NAME_MAX_LEN, NULL, NULL,
	    "claude, codex, or a command the user gave baton launch." },
	{ "name", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL, "Default: TYPE-N." },
	{ "isolation", ARG_STRING, 0, 0, 16, "\"shared\"", "shared|worktree",
	    "worktree: it starts in a worktree of its own." },
};
static const struct op_result launch_implementer_results[] = {
	{ "name", "string", 0, "the agent's name: it joins under it" },
	{ "type", "string", 0, "the agent command it runs" },
	{ "window", "string", 0, "its tmux window (session:index)" },
	{ "cwd", "string", 0, "where it works" },
	{ "hint", "string", 0, "what to do next" },
};
static const struct op_result implementer_list_results[] = {
	{ "agents", "array", 0,
	    "{name, type, role, state (running, joined or exited), task?, window, cwd}" },
	{ "session", "string", 1, "the project's tmux session, when it runs" },
	{ "hint", "string", 1, "what to do next" },
};
static const struct op_arg launch_set_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, AGENT_NAME_MAX_LEN, NULL, NULL, NULL },
	{ "type", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL, NULL },
	{ "role", ARG_STRING, 0, 1, ROLE_MAX_LEN, NULL, NULL, NULL },
	{ "server", ARG_STRING, 0, 1, 128, NULL, NULL, "The tmux server (tmux -L)." },
	{ "window", ARG_STRING, 0, 1, 160, NULL, NULL, "session:index" },
	{ "pane", ARG_STRING, 0, 1, 32, NULL, NULL,
	    "PID%N: the tmux server's pid and the pane's id." },
	{ "cwd", ARG_STRING, ARG_TEXT, 1, PATH_ARG_MAX, NULL, NULL, NULL },
	{ "worktree", ARG_STRING, 0, 0, AGENT_NAME_MAX_LEN, NULL, NULL, NULL },
	{ "command", ARG_STRING, ARG_TEXT, 1, PATH_ARG_MAX, NULL, NULL,
	    "The command line, for people." },
	{ "state", ARG_STRING, 0, 0, 16, NULL, "running|exited", NULL },
	{ "remove", ARG_BOOL, 0, 0, 0, "false", NULL, "Forget the record." },
};
#define launch_set_results worktree_set_results
static const struct op_arg launch_get_args[] = {
	{ "name", ARG_STRING, 0, 1, AGENT_NAME_MAX_LEN, NULL, NULL, NULL },
};
static const struct op_result launch_get_results[] = {
	{ "agents", "array", 0,
	    "by name: {name, type, role, server, window, pane, cwd, worktree?, command, state, "
	    "by, created_at, updated_at, joined, tasks}" },
	{ "count", "integer", 0, "records listed" },
};

/* Work queues (broker/queue.c); bounds in baton(1) QUEUES. */
#define QUEUE_PAYLOAD_MAX 65536
static const struct op_arg queue_push_args[] = {
	{ "queue", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, "e.g. \"builds\"." },
	{ "payload", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 0, QUEUE_PAYLOAD_MAX, NULL, NULL,
	    "The work, as text (JSON is fine)." },
	{ "priority", ARG_INT, 0, -1e9, 1e9, "0", NULL, "Higher is claimed first." },
};
static const struct op_result queue_push_results[] = {
	{ "id", "integer", 0, "the item's id (ids only increase)" },
	{ "queue", "string", 0, "the queue" },
	{ "pending", "integer", 0, "items pending in the queue now" },
};
static const struct op_arg queue_claim_args[] = {
	{ "queue", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, NULL },
	{ "id", ARG_INT, 0, 1, VERSION_MAX, NULL, NULL,
	    "This item, if pending (else the next)." },
	{ "lease_seconds", ARG_NUMBER, 0, 1, 86400, "120", NULL,
	    "Finish it within this long, or it goes back to pending." },
};
static const struct op_result queue_claim_results[] = {
	{ "claimed", "boolean", 0, "true when an item is yours" },
	{ "id", "integer", 1, "its id" },
	{ "queue", "string", 1, "the queue" },
	{ "payload", "string", 1, "the work" },
	{ "priority", "integer", 1, "its priority" },
	{ "lease_token", "string", 1, "capability to finish it; keep it" },
	{ "lease_expires_in_seconds", "number", 1, "time left to finish it" },
	{ "attempts", "integer", 1, "claims of this item so far, this one included" },
	{ "hint", "string", 1, "what to do next" },
};
static const struct op_arg queue_finish_args[] = {
	{ "id", ARG_INT, ARG_REQUIRED, 0, VERSION_MAX, NULL, NULL, NULL },
	{ "lease_token", ARG_STRING, ARG_REQUIRED, 1, TOKEN_MAX_LEN, NULL, NULL,
	    "From queue_claim." },
	{ "outcome", ARG_STRING, 0, 0, 8, "\"done\"", "done|failed|retry",
	    "retry: back to pending." },
};
static const struct op_result queue_finish_results[] = {
	{ "finished", "boolean", 0, "true when the lease was yours and the item moved" },
	{ "state", "string", 1, "the item's state now: done, failed or pending" },
	{ "hint", "string", 1, "why not, when finished is false" },
};
static const struct op_arg queue_list_args[] = {
	{ "queue", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, NULL },
	{ "state", ARG_STRING, 0, 0, 8, "\"all\"", "pending|leased|done|failed|all", NULL },
	{ "limit", ARG_INT, 0, 1, 1000, "100", NULL, NULL },
};
static const struct op_result queue_list_results[] = {
	{ "items", "array", 0,
	    "oldest first: {id, queue, payload, priority, state, author, attempts, created_at, "
	    "lease_agent?, lease_expires_in_seconds?}" },
	{ "count", "integer", 0, "items listed" },
	{ "more", "boolean", 0, "true when more match than limit" },
};

#define OPDEF(n, ...) \
	[OP_##n] = { .name = #n, \
		.args = n##_args, \
		.nargs = nitems(n##_args), \
		.results = n##_results, \
		.nresults = nitems(n##_results), \
		__VA_ARGS__ }

const struct op ops[OP_COUNT] = {
	[OP_status] = { .name = "status",
	    .args = NULL,
	    .nargs = 0,
	    .results = status_results,
	    .nresults = nitems(status_results),
	    .title = "Broker status",
	    .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "Check the broker: version, sessions and locks, and who you are." },
	OPDEF(lock_acquire, .title = "Acquire a lock", .flags = OP_MUTATES | OP_BLOCKS,
	    .one_of = "name|names",
	    .desc = "Before touching something shared (a file: name \"file:PATH\"; npm "
		    "install, a migration, the test database), take its lock; lock_release "
		    "it when done. Without ttl_seconds it goes when your session ends. If "
		    "held: acquired:false and the holders; wait_seconds waits in line. "
		    "Asking again for a lock you hold returns your grant."),
	OPDEF(lock_release, .title = "Release a lock", .flags = OP_MUTATES | OP_IDEMPOTENT,
	    .desc = "Release your locks when done: the token frees every name of its grant, "
		    "name or names free yours. Another agent's lock is refused, naming the "
		    "holder."),
	OPDEF(lock_renew, .title = "Renew a detached lock", .flags = OP_MUTATES | OP_IDEMPOTENT,
	    .desc = "Keep a lock taken with ttl_seconds: it expires ttl_seconds from now."),
	OPDEF(lock_list, .title = "List locks", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "See who holds which lock in your project (holders, age, reason, "
		    "waiters), e.g. before editing shared files. Page with after = cursor."),
	OPDEF(lock_break, .title = "Break a lock",
	    .flags = OP_MUTATES | OP_DESTRUCTIVE | OP_ADMIN | OP_OWNER,
	    .desc = "For the user, not agents: take a lock away from holders that forgot "
		    "it (baton lock --break NAME). Every holder loses it, the broker log "
		    "records who broke it and each holder's inbox says so; waiters are "
		    "granted in order. On a team broker: its owner, root and --admin users "
		    "only."),
	OPDEF(note_set, .title = "Write a note", .flags = OP_MUTATES | OP_DESTRUCTIVE,
	    .desc = "Share a value (any JSON) under a key. if_version (the version you "
		    "read; 0: only if absent) makes it safe: a write in between gives "
		    "written:false and the current value. \"global:\" keys span projects."),
	OPDEF(note_get, .title = "Read a note", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "Read a note: value, version (0 when absent) and author. Keep the "
		    "version for if_version or note_wait."),
	OPDEF(note_delete, .title = "Delete a note",
	    .flags = OP_MUTATES | OP_DESTRUCTIVE | OP_IDEMPOTENT,
	    .desc = "Delete a note (only at if_version when given); note_wait callers wake."),
	OPDEF(note_list, .title = "List notes", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "Find notes by key prefix: keys, versions, authors, sizes (not values). "
		    "Page with after = the last key."),
	OPDEF(note_wait, .title = "Wait for a note to change", .flags = OP_READONLY | OP_BLOCKS,
	    .desc = "Wait for a note to change after after_version instead of polling (at "
		    "once if it already did). Loop with after_version = the version "
		    "returned; 0 waits until it exists."),
	OPDEF(counter_incr, .title = "Increment a counter", .flags = OP_MUTATES,
	    .desc = "Get a number unique under any concurrency (migration 0042, a port): "
		    "adds by (default 1; 0 reads), returns the value."),
	OPDEF(event_signal, .title = "Signal an event", .flags = OP_MUTATES,
	    .desc = "Tell waiters something happened (\"build finished\"): the generation goes "
		    "up and every event_wait wakes with the payload."),
	OPDEF(event_wait, .title = "Wait for an event", .flags = OP_READONLY | OP_BLOCKS,
	    .desc = "Wait for an event instead of polling: returns once its generation is "
		    "past after (at once if it is: no signal is missed). Loop with after = "
		    "the generation returned."),
	OPDEF(agent_join, .title = "Join as an agent with a role",
	    .flags = OP_MUTATES | OP_IDEMPOTENT,
	    .desc = "Call first: your name (others message you by it) and role (planner, "
		    "implementer or reviewer). Returns your next steps and unread mail."),
	OPDEF(agent_list, .title = "List agents present", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "See who is in your project (name, role, idle time, locks, tasks): whom "
		    "to message or wait for. Page with after = the last session."),
	OPDEF(message_send, .title = "Send a message", .flags = OP_MUTATES,
	    .desc = "Message an agent by name, \"role:ROLE\" or \"all\"; kept in the mailbox "
		    "even while nobody by that name is present."),
	OPDEF(message_inbox, .title = "Read your inbox (can wait for mail)",
	    .flags = OP_READONLY | OP_BLOCKS,
	    .desc = "Read your mail (to your name, your role or all), oldest first, and "
		    "discussions waiting on you. Loop with after = the cursor returned; "
		    "wait_seconds blocks until mail comes."),
	OPDEF(message_ack, .title = "Mark messages read", .flags = OP_MUTATES | OP_IDEMPOTENT,
	    .one_of = "ids|up_to",
	    .desc = "Mark messages read for your name (ids, or up_to an id) so unread_only "
		    "skips them."),
	OPDEF(discussion_start, .title = "Start a discussion", .flags = OP_MUTATES,
	    .desc = "Ask a question or settle a decision: a topic, a message and waiting_on "
		    "(who must answer; in their inbox). discussion_resolve records the "
		    "decision."),
	OPDEF(discussion_reply, .title = "Reply to a discussion", .flags = OP_MUTATES,
	    .desc = "Answer in an open discussion; waiting_on names who must answer next "
		    "(else it goes back to whoever started it)."),
	OPDEF(discussion_resolve, .title = "Resolve a discussion", .flags = OP_MUTATES,
	    .desc = "Close a discussion with its decision; the starter is told. Needs the "
		    "starting session or its token."),
	OPDEF(discussion_list, .title = "List discussions",
	    .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "Find discussions: open (default), resolved or all, optionally those "
		    "waiting on someone."),
	OPDEF(discussion_get, .title = "Show a discussion",
	    .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "Read a whole discussion: its thread and, once resolved, the decision."),
	OPDEF(task_create, .title = "Create a task", .flags = OP_MUTATES,
	    .desc = "Plan work: a task with a title, description (acceptance), complexity, "
		    "files (its claim reserves them) and depends_on (ready once those are "
		    "done); implementers take it with task_claim."),
	OPDEF(task_get, .title = "Show a task", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "Read one task: description, notes, feedback and history."),
	OPDEF(task_list, .title = "List tasks", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "See the plan: tasks by status, owner, tag or ready, with counts and "
		    "percent done. Page with after = cursor."),
	OPDEF(task_update, .title = "Update a task", .flags = OP_MUTATES | OP_DESTRUCTIVE,
	    .desc = "Change a task's fields or status. Moves: todo>in_progress>review>done, "
		    "review>in_progress, in_progress>todo, open>blocked|cancelled, "
		    "blocked>todo; a forbidden one names the allowed."),
	OPDEF(task_claim, .title = "Claim a task (can wait for one)",
	    .flags = OP_MUTATES | OP_BLOCKS,
	    .desc = "Take the next ready task (or id) to work on: one winner, its files "
		    "reserved for you; a task of yours with changes requested comes first. "
		    "wait_seconds waits for one; review:true takes one to review. "
		    "claimed:false with project_status complete or stopped: stop."),
	OPDEF(task_submit, .title = "Submit a task for review", .flags = OP_MUTATES,
	    .desc = "Hand your claimed task in for review with notes (what you did, how you "
		    "tested it): its files are released, the reviewers told; then "
		    "task_claim the next."),
	OPDEF(task_approve, .title = "Approve reviewed tasks", .flags = OP_MUTATES,
	    .one_of = "id|ids",
	    .desc = "Approve tasks in review (one or a batch), by someone other than the "
		    "claimant: done; tasks depending on them become ready."),
	OPDEF(task_request_changes, .title = "Request changes on a task", .flags = OP_MUTATES,
	    .desc = "Send a task in review back to its claimant with feedback; they are "
		    "told."),
	OPDEF(task_release, .title = "Release a claimed task", .flags = OP_MUTATES,
	    .desc = "Give up a task you claimed: back to todo (default) or blocked, with a "
		    "reason."),
	OPDEF(project_set, .title = "Set the project context and status",
	    .flags = OP_MUTATES | OP_DESTRUCTIVE,
	    .desc = "Record the project's context (description, end_state, tech_stack, "
		    "constraints, acceptance, tests, plan) and status; only given fields "
		    "change. complete or stopped ends waiting claims."),
	[OP_project_get] = { .name = "project_get",
	    .args = NULL,
	    .nargs = 0,
	    .results = project_fields_results,
	    .nresults = nitems(project_fields_results),
	    .title = "Show the project context and status",
	    .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "Read the project's context, status and task summary." },
	OPDEF(guide, .title = "What to do next in a role", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "Ask what to do next as planner, implementer or reviewer, from the live "
		    "state."),
	[OP_state_export] = { .name = "state_export",
	    .args = NULL,
	    .nargs = 0,
	    .results = state_export_results,
	    .nresults = nitems(state_export_results),
	    .title = "Snapshot the state for export",
	    .flags = OP_READONLY | OP_ADMIN | OP_OWNER,
	    .desc = "For the user, not agents (baton export): commit what is pending and copy "
		    "the state database to a new file in the state directory, for `batond "
		    "--from PATH --export FILE` to write as JSON. One snapshot at a time (a "
		    "conflict while another session's exists); it is removed when the "
		    "connection that asked for it closes. On a team broker: its owner, root "
		    "and --admin users only." },
	OPDEF(hook_edit, .title = "Check an edit against reservations (baton hook)",
	    .flags = OP_MUTATES | OP_ADMIN,
	    .desc = "For baton hook and baton guard, not agents: acting as the agent's own "
		    "session (found by the agent CLI's session id, else by the agent process "
		    "the hook and its baton mcp share), say which of another agent's file: "
		    "reservations cover the paths an edit or a commit touches; with reserve, "
		    "reserve the free paths for the agent; with guard, log a refused or "
		    "bypassed commit."),
	OPDEF(hook_news, .title = "What is new for the agent (baton hook)",
	    .flags = OP_MUTATES | OP_BLOCKS | OP_ADMIN,
	    .desc = "For baton hook, not agents: acting as the agent's own session, what "
		    "is new for it since the last notice (unread mail, tasks it may review, "
		    "changes requested on its tasks), each told once; prime adds who it is "
		    "and what it holds; wait_seconds waits for news."),
	OPDEF(log_list, .title = "Read the audit log",
	    .flags = OP_READONLY | OP_IDEMPOTENT | OP_ADMIN,
	    .desc = "What changed in your project, oldest first: each change with its "
		    "revision, time, agent, operation, object and a summary. Page with "
		    "after = cursor."),
	OPDEF(log_wait, .title = "Wait for audit log entries",
	    .flags = OP_READONLY | OP_BLOCKS | OP_ADMIN,
	    .desc = "Wait for the next entries past after instead of polling; answers as "
		    "log_list. Loop with after = cursor."),
	OPDEF(log_append, .title = "Add an event to the audit log", .flags = OP_MUTATES,
	    .desc = "Record an event of your own in the project's audit log, with optional "
		    "JSON data; people see it in baton log and the dashboard."),
	OPDEF(log_subscribe, .title = "Subscribe to the audit log",
	    .flags = OP_READONLY | OP_ADMIN,
	    .desc = "For live clients (baton dashboard, baton top): every new entry of your "
		    "project (or all_projects) is pushed in frames {t: 6, kind: \"log\", "
		    "entries: [...]}; a subscriber that falls out of retention gets {kind: "
		    "\"resync\"} and must reload the state. Ends with the session."),
	OPDEF(worktree_create, .title = "Create a git worktree",
	    .flags = OP_CLIENT | OP_OPTIN | OP_MUTATES | OP_IDEMPOTENT,
	    .desc = "Give an agent its own git worktree, .baton/worktrees/NAME on branch "
		    "baton/NAME from the base branch, or reuse it. task_claim does this for "
		    "isolation:worktree tasks."),
	OPDEF(worktree_status, .title = "Show a worktree's state",
	    .flags = OP_CLIENT | OP_OPTIN | OP_READONLY | OP_IDEMPOTENT,
	    .desc = "An agent's worktree against its base: commits ahead and behind, files "
		    "changed, uncommitted changes, and whether it merges cleanly."),
	OPDEF(worktree_merge, .title = "Merge a worktree into its base",
	    .flags = OP_CLIENT | OP_OPTIN | OP_MUTATES,
	    .desc = "After approval: merge an agent's (or a task's) worktree branch into the "
		    "base branch of the main checkout (fast-forward or merge commit). "
		    "merged:false with "
		    "the reason and files when uncommitted work is in the way, the main "
		    "checkout is on another branch, or it conflicts."),
	[OP_worktree_list] = { .name = "worktree_list",
	    .args = NULL,
	    .nargs = 0,
	    .results = worktree_list_results,
	    .nresults = nitems(worktree_list_results),
	    .title = "List worktrees",
	    .flags = OP_CLIENT | OP_OPTIN | OP_READONLY | OP_IDEMPOTENT,
	    .desc = "The project's worktrees: owner, task, branch, path, whether the owner is "
		    "here." },
	OPDEF(worktree_cleanup, .title = "Remove finished worktrees",
	    .flags = OP_CLIENT | OP_OPTIN | OP_MUTATES | OP_DESTRUCTIVE,
	    .desc = "Remove the worktrees and branches whose owner is gone and whose commits "
		    "are merged."),
	OPDEF(worktree_set, .title = "Record a worktree", .flags = OP_ADMIN | OP_MUTATES,
	    .desc =
		"For baton and baton mcp, which run git: record (or with remove, forget) "
		"a worktree: its owner, task, branch, path, base and state. Only the fields "
		"given change."),
	OPDEF(worktree_get, .title = "Read worktree records",
	    .flags = OP_ADMIN | OP_READONLY | OP_IDEMPOTENT,
	    .desc = "For baton and baton mcp: the project's worktree records (or one name's or "
		    "one agent's), each with whether its owner is here."),
	OPDEF(launch_implementer, .title = "Launch an implementer agent",
	    .flags = OP_CLIENT | OP_OPTIN | OP_MUTATES,
	    .desc = "Start another implementer in a new window of the project's tmux session "
		    "(made if none); it joins under name."),
	[OP_implementer_list] = { .name = "implementer_list",
	    .args = NULL,
	    .nargs = 0,
	    .results = implementer_list_results,
	    .nresults = nitems(implementer_list_results),
	    .title = "List launched agents",
	    .flags = OP_CLIENT | OP_OPTIN | OP_READONLY | OP_IDEMPOTENT,
	    .desc = "The agents launched in tmux: running, joined or exited, and their task." },
	OPDEF(launch_set, .title = "Record a launched agent", .flags = OP_ADMIN | OP_MUTATES,
	    .desc = "For baton launch: record (or with remove, forget) an agent started in "
		    "tmux: its type, role, window, directory and state. Only the fields given "
		    "change."),
	OPDEF(launch_get, .title = "Read launched agents",
	    .flags = OP_ADMIN | OP_READONLY | OP_IDEMPOTENT,
	    .desc = "For baton launch and baton mcp: the project's launched agents, each with "
		    "whether it joined and the tasks it holds."),
	OPDEF(queue_push, .title = "Push work onto a queue", .flags = OP_MUTATES | OP_OPTIN,
	    .desc = "Add an item (payload, priority) to a work queue; consumers take the "
		    "highest priority, oldest first, with queue_claim."),
	OPDEF(queue_claim, .title = "Take the next item of a queue",
	    .flags = OP_MUTATES | OP_OPTIN,
	    .desc = "Lease the next pending item: finish it with queue_finish and its "
		    "lease_token before lease_seconds, else (or if your session ends) it goes "
		    "back to pending."),
	OPDEF(queue_finish, .title = "Finish a leased queue item",
	    .flags = OP_MUTATES | OP_OPTIN,
	    .desc = "End your lease on an item: done, failed, or retry (back to pending). "
		    "finished:false when the lease is no longer yours."),
	OPDEF(queue_list, .title = "List a queue",
	    .flags = OP_READONLY | OP_IDEMPOTENT | OP_OPTIN,
	    .desc = "Items of a queue with their state (pending, leased, done, failed)."),
};

const struct op *
op_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < OP_COUNT; i++) {
		if (strlen(ops[i].name) == len && memcmp(ops[i].name, name, len) == 0)
			return (&ops[i]);
	}
	return (NULL);
}

const struct op_arg *
op_arg_find(const struct op *op, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < op->nargs; i++) {
		if (strlen(op->args[i].name) == len && memcmp(op->args[i].name, name, len) == 0)
			return (&op->args[i]);
	}
	return (NULL);
}

void
op_error_set(struct op_error *err, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	snprintf(err->field, sizeof err->field, "%s", field != NULL ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

/* Is s (n bytes) one of the '|'-separated choices? */
static int
op_choice(const char *choices, const char *s, size_t n)
{
	const char *p = choices, *bar;
	size_t len;

	for (;;) {
		bar = strchr(p, '|');
		len = bar != NULL ? (size_t)(bar - p) : strlen(p);
		if (len == n && memcmp(p, s, n) == 0)
			return (1);
		if (bar == NULL)
			return (0);
		p = bar + 1;
	}
}

/* Encoded size of a value, for ARG_JSON bounds. */
static size_t
op_encoded_size(const msgpack_object *o)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	n = msgpack_pack_object(&pk, *o) == 0 ? sb.size : SIZE_MAX;
	msgpack_sbuffer_destroy(&sb);
	return (n);
}

static const char *
op_type_name(enum arg_type t)
{
	switch (t) {
	case ARG_STRING: return ("a string");
	case ARG_INT: return ("an integer");
	case ARG_NUMBER: return ("a number");
	case ARG_BOOL: return ("a boolean");
	case ARG_STRINGS: return ("an array of strings");
	case ARG_JSON: return ("a JSON value");
	}
	return ("?");
}

/* Check one argument value against its table entry. */
static int
op_check_arg(const struct op_arg *a, const msgpack_object *v, struct op_error *err)
{
	char why[96];
	const char *s;
	size_t n;
	double d;
	int64_t i;
	int b;
	uint32_t k;

	switch (a->type) {
	case ARG_STRING:
		if (mp_str(v, &s, &n) != 0)
			break;
		if (utf8_check(s, n, (a->flags & ARG_TEXT) ? UTF8_TEXT : 0, why, sizeof why) !=
		    0) {
			op_error_set(err, ERR_INVALID, a->name, "%s %s", a->name, why);
			return (-1);
		}
		if ((double)n < a->min || (double)n > a->max) {
			op_error_set(err, ERR_INVALID, a->name,
			    "%s must be %.15g to %.15g bytes long (got %zu)", a->name, a->min,
			    a->max, n);
			return (-1);
		}
		if (a->choices != NULL && !op_choice(a->choices, s, n)) {
			op_error_set(err, ERR_INVALID, a->name, "%s must be one of %s", a->name,
			    a->choices);
			return (-1);
		}
		return (0);
	case ARG_INT:
		if (mp_int(v, &i) != 0)
			break;
		if ((double)i < a->min || (double)i > a->max) {
			op_error_set(err, ERR_INVALID, a->name,
			    "%s must be from %.15g to %.15g", a->name, a->min, a->max);
			return (-1);
		}
		return (0);
	case ARG_NUMBER:
		if (mp_num(v, &d) != 0)
			break;
		if (d < a->min || d > a->max) {
			op_error_set(err, ERR_INVALID, a->name,
			    "%s must be from %.15g to %.15g", a->name, a->min, a->max);
			return (-1);
		}
		return (0);
	case ARG_BOOL:
		if (mp_bool(v, &b) != 0)
			break;
		return (0);
	case ARG_STRINGS:
		if (v->type != MSGPACK_OBJECT_ARRAY)
			break;
		if ((double)v->via.array.size < a->min || (double)v->via.array.size > a->max) {
			op_error_set(err, ERR_INVALID, a->name,
			    "%s must hold %.15g to %.15g items", a->name, a->min, a->max);
			return (-1);
		}
		for (k = 0; k < v->via.array.size; k++) {
			const msgpack_object *e = &v->via.array.ptr[k];
			if (mp_str(e, &s, &n) != 0 || n == 0 || n > NAME_MAX_LEN) {
				op_error_set(err, ERR_INVALID, a->name,
				    "%s[%u] must be a non-empty string of at most %d bytes",
				    a->name, k, NAME_MAX_LEN);
				return (-1);
			}
			if (utf8_check(s, n, 0, why, sizeof why) != 0) {
				op_error_set(err, ERR_INVALID, a->name, "%s[%u] %s", a->name, k,
				    why);
				return (-1);
			}
		}
		return (0);
	case ARG_JSON:
		if (a->max > 0 && (double)op_encoded_size(v) > a->max) {
			op_error_set(err, ERR_INVALID, a->name, "%s is larger than %.15g bytes",
			    a->name, a->max);
			return (-1);
		}
		return (0);
	}
	op_error_set(err, ERR_INVALID, a->name, "%s must be %s", a->name,
	    op_type_name(a->type));
	return (-1);
}

int
op_validate(const struct op *op, const msgpack_object *args, const msgpack_object **out,
    struct op_error *err)
{
	const msgpack_object *k, *v;
	const struct op_arg *a;
	const char *s, *bar;
	size_t n, i, idx, given;
	uint32_t j, seen = 0; /* one bit per argument: OP_MAX_ARGS <= 32 */

	for (i = 0; i < op->nargs; i++)
		out[i] = NULL;
	if (args != NULL && args->type != MSGPACK_OBJECT_NIL) {
		if (args->type != MSGPACK_OBJECT_MAP) {
			op_error_set(err, ERR_INVALID, "arguments",
			    "arguments must be an object");
			return (-1);
		}
		for (j = 0; j < args->via.map.size; j++) {
			k = &args->via.map.ptr[j].key;
			v = &args->via.map.ptr[j].val;
			if (mp_str(k, &s, &n) != 0) {
				op_error_set(err, ERR_INVALID, "arguments",
				    "argument names must be strings");
				return (-1);
			}
			if ((a = op_arg_find(op, s, n)) == NULL) {
				op_error_set(err, ERR_INVALID, "", "%s has no argument '%.*s'",
				    op->name, (int)(n > 48 ? 48 : n), s);
				snprintf(err->field, sizeof err->field, "%.*s", (int)n, s);
				return (-1);
			}
			idx = (size_t)(a - op->args);
			if (seen & ((uint32_t)1 << idx)) {
				op_error_set(err, ERR_INVALID, a->name, "%s given twice",
				    a->name);
				return (-1);
			}
			seen |= (uint32_t)1 << idx;
			if (v->type == MSGPACK_OBJECT_NIL && a->type != ARG_JSON)
				continue; /* null means absent */
			if (op_check_arg(a, v, err) != 0)
				return (-1);
			out[idx] = v;
		}
	}
	for (i = 0; i < op->nargs; i++) {
		if ((op->args[i].flags & ARG_REQUIRED) && out[i] == NULL) {
			op_error_set(err, ERR_INVALID, op->args[i].name, "%s is required",
			    op->args[i].name);
			return (-1);
		}
	}
	if (op->one_of != NULL) {
		given = 0;
		for (s = op->one_of; s != NULL; s = bar != NULL ? bar + 1 : NULL) {
			bar = strchr(s, '|');
			n = bar != NULL ? (size_t)(bar - s) : strlen(s);
			a = op_arg_find(op, s, n);
			if (a != NULL && out[a - op->args] != NULL)
				given++;
		}
		if (given != 1) {
			bar = strchr(op->one_of, '|');
			op_error_set(err, ERR_INVALID, "", "give exactly one of %s",
			    op->one_of);
			snprintf(err->field, sizeof err->field, "%.*s",
			    (int)(bar != NULL ? bar - op->one_of
					      : (ptrdiff_t)strlen(op->one_of)),
			    op->one_of);
			return (-1);
		}
	}
	return (0);
}

/*
 * Arguments by name.  Handlers read what op_validate() accepted through
 * these, never by position: vals is op_validate's out array, and a name
 * the operation does not have is a bug in the handler (the program
 * stops, so any test of the handler finds it).  Absent arguments read as
 * the table's default, else 0, false or NULL.
 */
/*
 * Handlers look arguments up on every request, by names that are string
 * literals: remember where each (operation, name) pair was found, keyed
 * by the literal's address, with its numeric default parsed once.  A
 * slot taken by another pair is looked up again and taken over.
 */
struct op_arg_memo {
	const struct op *op;
	const char *name;
	const struct op_arg *a;
	double def; /* the table's default as a number, or 0 */
};
static struct op_arg_memo op_arg_memos[256];

static const struct op_arg_memo *
op_arg_named(const struct op *op, const char *name)
{
	struct op_arg_memo *m;
	size_t i, h;

	h = (((uintptr_t)name >> 2) ^ ((uintptr_t)op >> 5)) & (nitems(op_arg_memos) - 1);
	m = &op_arg_memos[h];
	/* the strcmp keeps a reused buffer from hitting a stale slot */
	if (m->op == op && m->name == name && strcmp(m->a->name, name) == 0)
		return (m);
	for (i = 0; i < op->nargs; i++) {
		if (strcmp(op->args[i].name, name) == 0)
			break;
	}
	if (i == op->nargs)
		fatalx("operation %s has no argument %s", op->name, name);
	m->op = op;
	m->name = name;
	m->a = &op->args[i];
	m->def = m->a->def != NULL ? strtod(m->a->def, NULL) : 0;
	return (m);
}

const msgpack_object *
op_arg_value(const struct op *op, const msgpack_object *const *vals, const char *name)
{
	return (vals[op_arg_named(op, name)->a - op->args]);
}

double
op_arg_num(const struct op *op, const msgpack_object *const *vals, const char *name)
{
	const struct op_arg_memo *m = op_arg_named(op, name);
	double d;

	if (mp_num(vals[m->a - op->args], &d) == 0)
		return (d);
	return (m->def);
}

int64_t
op_arg_int(const struct op *op, const msgpack_object *const *vals, const char *name)
{
	const struct op_arg_memo *m = op_arg_named(op, name);
	int64_t i;

	if (mp_int(vals[m->a - op->args], &i) == 0)
		return (i);
	return ((int64_t)m->def);
}

int
op_arg_bool(const struct op *op, const msgpack_object *const *vals, const char *name)
{
	const struct op_arg *a = op_arg_named(op, name)->a;
	int b;

	if (mp_bool(vals[a - op->args], &b) == 0)
		return (b);
	return (a->def != NULL && strcmp(a->def, "true") == 0);
}

/*
 * A string argument's bytes (not NUL-terminated) and length; the table's
 * default when absent ("" defaults included), else NULL.
 */
const char *
op_arg_str(const struct op *op, const msgpack_object *const *vals, const char *name,
    size_t *len)
{
	const struct op_arg *a = op_arg_named(op, name)->a;
	const char *s;
	size_t n;

	if (mp_str(vals[a - op->args], &s, &n) == 0) {
		if (len != NULL)
			*len = n;
		return (s);
	}
	if (a->def == NULL || a->def[0] != '"')
		return (NULL);
	if (len != NULL)
		*len = strlen(a->def) - 2; /* defaults hold no escapes */
	return (a->def + 1);
}

/* A string argument (or its default) as a new NUL-terminated string, or NULL. */
char *
op_arg_strdup(const struct op *op, const msgpack_object *const *vals, const char *name)
{
	const char *s;
	size_t n;

	if ((s = op_arg_str(op, vals, name, &n)) == NULL)
		return (NULL);
	return (xstrndup(s, n));
}
