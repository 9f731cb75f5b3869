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
	{ "project", "string", 0, "your project namespace" },
	{ "project_sessions", "integer", 0, "sessions in your project" },
	{ "project_locks", "integer", 0, "locks held in your project" },
	{ "session", "string", 0, "your session id" },
	{ "agent", "string", 0, "your agent name" },
	{ "durability", "string", 0, "strict, relaxed or none (batond --durability)" },
	{ "state_dir", "string", 1, "the broker's state directory (state.db, batond.log)" },
	{ "store_error", "string", 1, "why the last checkpoint failed, while it fails" },
};

static const struct op_arg lock_acquire_args[] = {
	{ "name", ARG_STRING, 0, 1, NAME_MAX_LEN, NULL, NULL,
	    "Lock name, e.g. \"npm\", \"db\", or a file reservation \"file:src/app.c\". "
	    "Give name or names, not both." },
	{ "names", ARG_STRINGS, 0, 1, 32, NULL, NULL,
	    "Several lock names granted all together or not at all." },
	{ "mode", ARG_STRING, 0, 0, 16, "\"exclusive\"", "exclusive|shared",
	    "exclusive (one holder) or shared (any number of shared holders)." },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "0", NULL,
	    "How long to wait in line when the lock is held; 0 returns at once. "
	    "Capped by the broker (50 s by default)." },
	{ "ttl_seconds", ARG_NUMBER, 0, 1, 86400, NULL, NULL,
	    "Detach the lock from your session: it outlives a disconnect and expires "
	    "after this many seconds unless renewed. Without it the lock is released "
	    "when your session ends." },
	{ "ticket", ARG_STRING, 0, 1, TOKEN_MAX_LEN, NULL, NULL,
	    "Ticket from a timed-out wait: keeps your place in the queue." },
	{ "reason", ARG_STRING, ARG_TEXT, 0, REASON_MAX_LEN, NULL, NULL,
	    "Why you hold it, shown to others in lock_list and conflicts." },
};
static const struct op_result lock_acquire_results[] = {
	{ "acquired", "boolean", 0, "true when you now hold the lock(s)" },
	{ "token", "string", 1, "capability to release or renew; keep it" },
	{ "fence", "integer", 1, "fencing token: strictly increases with every grant" },
	{ "mode", "string", 1, "exclusive or shared" },
	{ "names", "array", 1, "the lock names granted or asked for" },
	{ "expires_in_seconds", "number", 1, "seconds until a detached lock expires" },
	{ "holders", "array", 1,
	    "who holds it now (agent, session, mode, reason), when not acquired" },
	{ "queue_position", "integer", 1,
	    "your place in line (1 = next) after a timed-out wait" },
	{ "ticket", "string", 1, "pass back as ticket to keep your place in line" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg lock_release_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL,
	    "Name of the lock to release." },
	{ "token", ARG_STRING, 0, 1, TOKEN_MAX_LEN, NULL, NULL,
	    "Token from lock_acquire; optional from the session that took it." },
};
static const struct op_result lock_release_results[] = {
	{ "released", "boolean", 0, "true when the lock was yours and is now free" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg lock_renew_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL,
	    "Name of the detached lock to renew." },
	{ "token", ARG_STRING, 0, 1, TOKEN_MAX_LEN, NULL, NULL,
	    "Token from lock_acquire; optional from the session that took it." },
	{ "ttl_seconds", ARG_NUMBER, ARG_REQUIRED, 1, 86400, NULL, NULL,
	    "New lifetime in seconds, counted from now." },
};
static const struct op_result lock_renew_results[] = {
	{ "renewed", "boolean", 0, "true when the lock is yours and now expires later" },
	{ "expires_in_seconds", "number", 1, "seconds until it expires" },
	{ "fence", "integer", 1, "the fence of the grant (unchanged by renewal)" },
};

static const struct op_arg lock_list_args[] = {
	{ "prefix", ARG_STRING, 0, 0, NAME_MAX_LEN, "\"\"", NULL,
	    "Only locks whose name starts with this." },
};
static const struct op_result lock_list_results[] = {
	{ "locks", "array", 0,
	    "held locks: name, mode, holders [{agent, session, mode, age_seconds, "
	    "expires_in_seconds, reason}], waiters in order" },
	{ "count", "integer", 0, "number of locks listed" },
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
	    "Note key, e.g. \"api/base_url\"; \"global:\" keys are shared by all projects." },
	{ "value", ARG_JSON, ARG_REQUIRED, 0, NOTE_VALUE_MAX, NULL, NULL,
	    "The value: a string or any JSON value." },
	{ "if_version", ARG_INT, 0, 0, VERSION_MAX, NULL, NULL,
	    "Compare-and-set: write only if the note's version is this one; 0 means "
	    "\"only if it does not exist\"." },
	{ "ttl_seconds", ARG_NUMBER, 0, 1, 2592000, NULL, NULL,
	    "Delete the note this many seconds from now (at most 30 days); without it "
	    "the note stays until deleted." },
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
	{ "key", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, "Note key." },
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
	{ "key", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, "Note key." },
	{ "if_version", ARG_INT, 0, 1, VERSION_MAX, NULL, NULL,
	    "Delete only if the note's version is this one." },
};
static const struct op_result note_delete_results[] = {
	{ "deleted", "boolean", 0, "true when the note existed (at if_version) and is gone" },
	{ "version", "integer", 0,
	    "revision of the deletion, else the current version (0: absent)" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg note_list_args[] = {
	{ "prefix", ARG_STRING, 0, 0, NAME_MAX_LEN, "\"\"", NULL,
	    "Only notes whose key starts with this." },
	{ "limit", ARG_INT, 0, 1, 1000, "100", NULL, "At most this many notes, in key order." },
};
static const struct op_result note_list_results[] = {
	{ "notes", "array", 0,
	    "notes in key order: key, version, author, size_bytes, expires_in_seconds" },
	{ "count", "integer", 0, "number of notes listed" },
	{ "truncated", "boolean", 0, "true when more notes match than limit" },
};

static const struct op_arg note_wait_args[] = {
	{ "key", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, "Note key to watch." },
	{ "after_version", ARG_INT, 0, 0, VERSION_MAX, "0", NULL,
	    "The version you last saw (0: none); returns as soon as the note's version "
	    "(or its deletion) is past it." },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "30", NULL,
	    "How long to wait; capped by the broker (50 s by default)." },
};
static const struct op_result note_wait_results[] = {
	{ "changed", "boolean", 0,
	    "true when the note was written or deleted after after_version" },
	{ "found", "boolean", 0, "true when the note exists now" },
	{ "version", "integer", 0,
	    "its version now (of the deletion when deleted); pass it as after_version next" },
	{ "value", "any", 1, "its value, when changed and found" },
	{ "author", "string", 1, "who wrote it, when changed and found" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg counter_incr_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL,
	    "Counter name, e.g. \"migration\"; a new counter starts at 0." },
	{ "by", ARG_INT, 0, -VERSION_MAX, VERSION_MAX, "1", NULL,
	    "Amount to add (negative subtracts; 0 reads)." },
};
static const struct op_result counter_incr_results[] = {
	{ "value", "integer", 0,
	    "the counter after the addition; unique to this call when by is not 0" },
};

static const struct op_arg event_signal_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, "Event name." },
	{ "payload", ARG_JSON, 0, 0, EVENT_PAYLOAD_MAX, NULL, NULL,
	    "Optional JSON value handed to the waiters of this generation." },
};
static const struct op_result event_signal_results[] = {
	{ "generation", "integer", 0,
	    "the event's new generation (1 at the first signal; never reset)" },
};

static const struct op_arg event_wait_args[] = {
	{ "name", ARG_STRING, ARG_REQUIRED, 1, NAME_MAX_LEN, NULL, NULL, "Event name." },
	{ "after", ARG_INT, 0, 0, VERSION_MAX, "0", NULL,
	    "The generation you last saw (0: none); returns as soon as the event's "
	    "generation is past it." },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "30", NULL,
	    "How long to wait; capped by the broker (50 s by default)." },
};
static const struct op_result event_wait_results[] = {
	{ "fired", "boolean", 0, "true when the generation is past after" },
	{ "generation", "integer", 0,
	    "the event's generation now; pass it as after next time" },
	{ "payload", "any", 1, "payload of the latest signal, when fired and it had one" },
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
	    "Your agent name, e.g. \"alice\" or \"impl-2\": others message you by it. "
	    "Refused while another live session has joined under it. Without it you "
	    "keep the name you connected with." },
	{ "role", ARG_STRING, 0, 1, ROLE_MAX_LEN, NULL, NULL,
	    "Your role: planner, implementer or reviewer (free text is accepted). "
	    "Messages to \"role:ROLE\" reach everyone in that role." },
	{ "ttl_seconds", ARG_NUMBER, 0, 1, 86400, NULL, NULL,
	    "Keep your presence this many seconds after your connection ends (for "
	    "clients without a lasting connection); join again to renew it." },
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
	{ "role", ARG_STRING, 0, 1, ROLE_MAX_LEN, NULL, NULL, "Only agents in this role." },
};
static const struct op_result agent_list_results[] = {
	{ "agents", "array", 0,
	    "present agents: {agent, role, session, pid, project, kind, client, "
	    "connected_seconds, idle_seconds, locks [names held], tasks [ids claimed], "
	    "connected, expires_in_seconds?}; connected:false for a TTL registration whose "
	    "connection has ended" },
	{ "count", "integer", 0, "number of agents listed" },
};

static const struct op_arg message_send_args[] = {
	{ "to", ARG_STRING, ARG_REQUIRED, 1, ADDR_MAX, NULL, NULL,
	    "An agent name, \"role:ROLE\" (everyone in that role, e.g. role:implementer) "
	    "or \"all\" (everyone in the project)." },
	{ "body", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, MSG_BODY_MAX, NULL, NULL,
	    "The message text." },
	{ "subject", ARG_STRING, ARG_TEXT, 0, MSG_SUBJECT_MAX, NULL, NULL,
	    "A short subject line." },
	{ "thread", ARG_STRING, 0, 0, MSG_THREAD_MAX, NULL, NULL,
	    "A thread label to group messages, e.g. a task id \"T4\"." },
};
static const struct op_result message_send_results[] = {
	{ "id", "integer", 0, "the message id (ids only increase)" },
	{ "to", "string", 0, "the address it was sent to" },
	{ "recipients", "array", 0, "names of the agents present now that it reaches" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg message_inbox_args[] = {
	{ "after", ARG_INT, 0, 0, MSG_ID_MAX, NULL, NULL,
	    "Cursor: only messages with a larger id. Pass the cursor of your last "
	    "call; omit it to read everything retained." },
	{ "unread_only", ARG_BOOL, 0, 0, 0, "false", NULL,
	    "Only messages not yet marked read with message_ack." },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "0", NULL,
	    "When nothing is there, wait this long for a message instead of polling; "
	    "capped by the broker (50 s by default)." },
	{ "limit", ARG_INT, 0, 1, 1000, "100", NULL, "At most this many messages." },
};
static const struct op_result message_inbox_results[] = {
	{ "messages", "array", 0,
	    "oldest first: {id, from, to, subject?, body, thread?, at (ISO 8601 UTC), read}" },
	{ "cursor", "integer", 0, "pass as after next time: nothing is skipped or repeated" },
	{ "more", "boolean", 0, "true when more messages are waiting past this page" },
	{ "unread", "integer", 0, "unread messages in your mailbox" },
	{ "discussions", "array", 0,
	    "open discussions waiting on you: {id, topic, started_by, category, "
	    "priority, replies, updated_at}" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg message_ack_args[] = {
	{ "ids", ARG_JSON, 0, 0, 16384, NULL, NULL,
	    "Message ids to mark read: an array of up to 1000 integers." },
	{ "up_to", ARG_INT, 0, 0, MSG_ID_MAX, NULL, NULL,
	    "Mark read every message up to this id (e.g. the inbox cursor)." },
};
static const struct op_result message_ack_results[] = {
	{ "acked", "integer", 0, "messages newly marked read" },
	{ "unread", "integer", 0, "unread messages left in your mailbox" },
};

static const struct op_arg discussion_start_args[] = {
	{ "topic", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, DISC_TOPIC_MAX, NULL, NULL,
	    "What is to be decided, in one line." },
	{ "message", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, DISC_TEXT_MAX, NULL, NULL,
	    "The opening message: the question, the options, what you need." },
	{ "waiting_on", ARG_STRING, 0, 1, ADDR_MAX, NULL, NULL,
	    "Who must answer: an agent name or \"role:ROLE\". Their inbox lists the "
	    "discussion and a blocked message_inbox wakes up." },
	{ "category", ARG_STRING, 0, 1, 64, NULL, NULL,
	    "e.g. question, design, blocker, review." },
	{ "priority", ARG_STRING, 0, 0, 16, "\"normal\"", "low|normal|high|urgent",
	    "How urgent an answer is." },
};
static const struct op_result discussion_start_results[] = {
	{ "id", "string", 0, "discussion id, D1, D2... per project" },
	{ "status", "string", 0, "open" },
	{ "waiting_on", "string", 1, "who must answer" },
	{ "token", "string", 0, "capability to resolve it from another session; keep it" },
	{ "hint", "string", 0, "what to do next" },
};

static const struct op_arg discussion_reply_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, 24, NULL, NULL, "Discussion id, e.g. \"D3\"." },
	{ "message", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, DISC_TEXT_MAX, NULL, NULL,
	    "Your reply." },
	{ "waiting_on", ARG_STRING, 0, 0, ADDR_MAX, NULL, NULL,
	    "Who must answer next (\"\" clears it). Without it, a reply from the one "
	    "waited on hands the discussion back to whoever started it." },
};
static const struct op_result discussion_reply_results[] = {
	{ "id", "string", 0, "discussion id" },
	{ "status", "string", 0, "open" },
	{ "replies", "integer", 0, "messages in the thread, the opening one included" },
	{ "waiting_on", "string", 1, "who must answer next" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg discussion_resolve_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, 24, NULL, NULL, "Discussion id, e.g. \"D3\"." },
	{ "decision", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, DISC_TEXT_MAX, NULL, NULL,
	    "What was decided." },
	{ "reasoning", ARG_STRING, ARG_TEXT, 0, DISC_TEXT_MAX, NULL, NULL,
	    "Why it was decided, for whoever reads it later." },
	{ "linked_task", ARG_STRING, 0, 1, 64, NULL, NULL,
	    "A task the decision leads to, e.g. \"T7\"." },
	{ "token", ARG_STRING, 0, 1, TOKEN_MAX_LEN, NULL, NULL,
	    "Token from discussion_start; not needed from the session that started it." },
};
static const struct op_result discussion_resolve_results[] = {
	{ "id", "string", 0, "discussion id" },
	{ "status", "string", 0, "resolved" },
	{ "decided_by", "string", 0, "your agent name, recorded with the decision" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg discussion_list_args[] = {
	{ "status", ARG_STRING, 0, 0, 16, "\"open\"", "open|resolved|all",
	    "Which discussions." },
	{ "waiting_on", ARG_STRING, 0, 1, ADDR_MAX, NULL, NULL,
	    "Only those waiting on this agent name or \"role:ROLE\"." },
	{ "limit", ARG_INT, 0, 1, 500, "100", NULL, "At most this many, newest first." },
};
static const struct op_result discussion_list_results[] = {
	{ "discussions", "array", 0,
	    "newest first: {id, topic, status, waiting_on?, category?, priority, started_by, "
	    "replies, updated_at, decision?}" },
	{ "count", "integer", 0, "number listed" },
};

static const struct op_arg discussion_get_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, 24, NULL, NULL, "Discussion id, e.g. \"D3\"." },
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
	    "Short imperative title, e.g. \"Add the /login endpoint\"." },
	{ "description", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "What to do and how to know it is done: files, acceptance, tests." },
	{ "priority", ARG_STRING, 0, 0, 16, "\"medium\"", "low|medium|high|urgent",
	    "Higher priority is claimed first." },
	{ "complexity", ARG_STRING, ARG_REQUIRED, 0, 16, NULL, "simple|medium|complex|critical",
	    "How hard it is; critical work deserves the most careful review." },
	{ "isolation", ARG_STRING, 0, 0, 16, "\"shared\"", "shared|worktree",
	    "shared: work in the common checkout (take file: locks); worktree: in a git "
	    "worktree of its own." },
	{ "tags", ARG_STRINGS, 0, 0, TASK_TAGS_MAX, NULL, NULL,
	    "Labels for task_list {tag} (each at most 64 bytes)." },
	{ "depends_on", ARG_STRINGS, 0, 0, TASK_DEPS_MAX, NULL, NULL,
	    "Ids of tasks (\"T1\") that must be done before this one is ready." },
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
	{ "version", "integer", 0, "revision of the last change" },
	{ "history", "array", 0, "every change: {at, actor, session, action, from, to, note}" },
	{ "history_dropped", "integer", 0, "oldest entries dropped past the history bound" },
	{ "hint", "string", 1, "what to do next" },
};
#define task_create_results task_fields_results

static const struct op_arg task_get_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, TASK_ID_MAX, NULL, NULL, "Task id, e.g. \"T3\"." },
};
#define task_get_results task_fields_results

static const struct op_arg task_list_args[] = {
	{ "status", ARG_STRING, 0, 0, 16, NULL,
	    "todo|in_progress|review|done|blocked|cancelled|open",
	    "Only tasks in this status; open = not done or cancelled." },
	{ "owner", ARG_STRING, 0, 1, 64, NULL, NULL,
	    "Only tasks this agent claimed or is assigned." },
	{ "tag", ARG_STRING, 0, 1, 64, NULL, NULL, "Only tasks with this tag." },
	{ "ready", ARG_BOOL, 0, 0, 0, NULL, NULL,
	    "true: only tasks claimable now (todo, dependencies done)." },
	{ "limit", ARG_INT, 0, 1, TASK_LIST_MAX, "50", NULL, "At most this many tasks." },
	{ "cursor", ARG_STRING, 0, 1, TASK_ID_MAX, NULL, NULL,
	    "next_cursor of the previous page: continue after that task." },
};
static const struct op_result task_list_results[] = {
	{ "tasks", "array", 0,
	    "oldest first: {id, title, status, priority, complexity, isolation, tags, "
	    "depends_on, assignee, owner, ready, updated_at}" },
	{ "count", "integer", 0, "tasks in this page" },
	{ "next_cursor", "string", 1, "pass as cursor for the next page" },
	{ "summary", "object", 0,
	    "whole project: total, per status counts, ready, percent_done, project_status" },
	{ "hint", "string", 1, "what to do next" },
};

static const struct op_arg task_update_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, TASK_ID_MAX, NULL, NULL, "Task id." },
	{ "title", ARG_STRING, ARG_TEXT, 1, TASK_TITLE_MAX, NULL, NULL, "New title." },
	{ "description", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "New description." },
	{ "priority", ARG_STRING, 0, 0, 16, NULL, "low|medium|high|urgent", "New priority." },
	{ "tags", ARG_STRINGS, 0, 0, TASK_TAGS_MAX, NULL, NULL, "New tags (replace)." },
	{ "depends_on", ARG_STRINGS, 0, 0, TASK_DEPS_MAX, NULL, NULL,
	    "New dependencies (replace); a cycle is refused." },
	{ "assignee", ARG_STRING, 0, 0, 64, NULL, NULL, "New assignee; \"\" for anyone." },
	{ "status", ARG_STRING, 0, 0, 16, NULL,
	    "todo|in_progress|review|done|blocked|cancelled",
	    "Move it through the status machine; a forbidden move is refused with the "
	    "allowed ones." },
	{ "note", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "Why: kept in the history (notes for review, feedback for done/in_progress)." },
	{ "token", ARG_STRING, 0, 1, 64, NULL, NULL,
	    "Claim token, for moves only the claimant may make from another session." },
};
#define task_update_results task_fields_results

static const struct op_arg task_claim_args[] = {
	{ "id", ARG_STRING, 0, 1, TASK_ID_MAX, NULL, NULL,
	    "Task to claim; without it, the best ready task (dependencies done, highest "
	    "priority, oldest first)." },
	{ "wait_seconds", ARG_NUMBER, 0, 0, 3600, "0", NULL,
	    "Wait this long for a task to become ready instead of returning claimed:false. "
	    "Capped by the broker (50 s by default)." },
	{ "lease_seconds", ARG_NUMBER, 0, 1, 86400, "30", NULL,
	    "If your session ends, the task goes back to todo after this many seconds. "
	    "While your session lives the claim holds: no heartbeat." },
	{ "token", ARG_STRING, 0, 1, 64, NULL, NULL,
	    "Claim token of an earlier claim: take it over from a session that ended." },
};
static const struct op_result task_claim_results[] = {
	{ "claimed", "boolean", 0, "true when the task is yours" },
	{ "id", "string", 1, "the task's id" },
	{ "token", "string", 1,
	    "claim token: lets another session of yours submit or release" },
	{ "lease_seconds", "number", 1, "how long the claim outlives your session" },
	{ "task", "object", 1, "the task, with description, feedback and history" },
	{ "owner", "string", 1, "who holds it, when someone else does" },
	{ "project_status", "string", 0, "planning, ready, in_progress, complete or stopped" },
	{ "hint", "string", 0, "what to do next" },
};

static const struct op_arg task_submit_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, TASK_ID_MAX, NULL, NULL, "Task id." },
	{ "notes", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, TASK_TEXT_MAX, NULL, NULL,
	    "What you did, how you tested it, anything the reviewer must know." },
	{ "token", ARG_STRING, 0, 1, 64, NULL, NULL,
	    "Claim token; not needed from the session that claimed it." },
};
#define task_submit_results task_fields_results

static const struct op_arg task_approve_args[] = {
	{ "id", ARG_STRING, 0, 1, TASK_ID_MAX, NULL, NULL, "Task in review to approve." },
	{ "ids", ARG_STRINGS, 0, 1, TASK_APPROVE_MAX, NULL, NULL,
	    "Several tasks in review: all approved, or none when one cannot be." },
	{ "feedback", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL, "Review comments." },
};
static const struct op_result task_approve_results[] = {
	{ "approved", "array", 0, "ids now done" },
	{ "summary", "object", 0, "project: total, per status counts, percent_done..." },
	{ "hint", "string", 0, "what to do next" },
};

static const struct op_arg task_request_changes_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, TASK_ID_MAX, NULL, NULL, "Task in review." },
	{ "feedback", ARG_STRING, ARG_REQUIRED | ARG_TEXT, 1, TASK_TEXT_MAX, NULL, NULL,
	    "What to change; the claimant's task_claim returns it." },
};
#define task_request_changes_results task_fields_results

static const struct op_arg task_release_args[] = {
	{ "id", ARG_STRING, ARG_REQUIRED, 1, TASK_ID_MAX, NULL, NULL, "Task you claimed." },
	{ "requeue", ARG_BOOL, 0, 0, 0, "true", NULL,
	    "true: back to todo for anyone; false: blocked until someone unblocks it." },
	{ "reason", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "Why, kept in the history." },
	{ "token", ARG_STRING, 0, 1, 64, NULL, NULL,
	    "Claim token; not needed from the session that claimed it." },
};
#define task_release_results task_fields_results

static const struct op_arg project_set_args[] = {
	{ "description", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "What the project is." },
	{ "end_state", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "What done looks like." },
	{ "tech_stack", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "Languages, libraries, tools." },
	{ "constraints", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "Rules to respect." },
	{ "acceptance", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL,
	    "Acceptance criteria." },
	{ "tests", ARG_STRING, ARG_TEXT, 0, TASK_TEXT_MAX, NULL, NULL, "How to test it." },
	{ "plan", ARG_STRING, ARG_TEXT, 0, TASK_PLAN_MAX, NULL, NULL,
	    "The implementation plan." },
	{ "status", ARG_STRING, 0, 0, 16, NULL, "planning|ready|in_progress|complete|stopped",
	    "complete or stopped ends every waiting task_claim at once." },
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
	{ "updated_by", "string", 1, "agent of the last change" },
	{ "updated_at", "string", 1, "ISO 8601 UTC" },
	{ "version", "integer", 0, "revision of the last change" },
	{ "summary", "object", 0, "tasks: total, per status counts, ready, percent_done" },
	{ "hint", "string", 1, "what to do next" },
};
#define project_set_results project_fields_results

static const struct op_arg guide_args[] = {
	{ "role", ARG_STRING, 0, 0, 16, NULL, "planner|implementer|reviewer",
	    "Role to guide; default: your session's role." },
};
static const struct op_result guide_results[] = {
	{ "role", "string", 0, "the role guided" },
	{ "project_status", "string", 0, "planning, ready, in_progress, complete or stopped" },
	{ "next_steps", "string", 0, "what to do next, from the live state" },
};

static const struct op_result state_export_results[] = {
	{ "path", "string", 0,
	    "the snapshot: a SQLite database, 0600, in the state directory" },
	{ "revision", "integer", 0, "the broker's revision when the snapshot was taken" },
	{ "rows", "integer", 0, "how many rows the snapshot holds" },
	{ "hint", "string", 0, "what to do with it" },
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
	    .desc = "Show the baton broker's state: version, uptime, sessions and locks, "
		    "overall and in your project, and who you are (session, agent)." },
	OPDEF(lock_acquire, .title = "Acquire a lock", .flags = OP_MUTATES | OP_BLOCKS,
	    .one_of = "name|names",
	    .desc = "Take a named lock before touching something shared: editing files "
		    "(name \"file:PATH\"), running npm install, migrations or the test "
		    "database. Returns acquired:true with a token and a fence; keep the "
		    "token and call lock_release when done. A lock taken without "
		    "ttl_seconds is released automatically when your session ends. "
		    "When someone else holds it you get acquired:false and the holders; "
		    "pass wait_seconds to wait in line instead of polling."),
	OPDEF(lock_release, .title = "Release a lock",
	    .flags = OP_MUTATES | OP_DESTRUCTIVE | OP_IDEMPOTENT,
	    .desc = "Release a lock you hold, by name, with the token lock_acquire "
		    "returned (not needed from the session that took it). Another "
		    "agent's lock cannot be released: the error says who holds it."),
	OPDEF(lock_renew, .title = "Renew a detached lock", .flags = OP_MUTATES | OP_IDEMPOTENT,
	    .desc = "Extend a lock taken with ttl_seconds before it expires: it will expire "
		    "ttl_seconds from now. Needs the token (or the session that took it). "
		    "A session-bound lock needs no renewal; renewing it detaches it with "
		    "this lifetime."),
	OPDEF(lock_list, .title = "List locks", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "List the locks held in your project: holders (agent, mode, age, "
		    "expiry, reason) and waiters in order. Use before editing shared "
		    "files to see who is working where."),
	OPDEF(lock_break, .title = "Break a lock",
	    .flags = OP_MUTATES | OP_DESTRUCTIVE | OP_ADMIN,
	    .desc = "For the user, not agents: take a lock away from holders that forgot "
		    "it (baton lock --break NAME). Every holder loses it, the broker log "
		    "records who broke it and each holder's inbox says so; waiters are "
		    "granted in order."),
	OPDEF(note_set, .title = "Write a note", .flags = OP_MUTATES,
	    .desc = "Store a value (a string or any JSON) under a key for other agents: "
		    "URLs, decisions, build results. Returns the note's new version. For a "
		    "safe update pass if_version (the version you read; 0 = only if absent): "
		    "when someone wrote in between you get written:false and the current "
		    "value and version instead of overwriting, so re-read and retry. "
		    "ttl_seconds makes it expire. Keys live in your project; \"global:\" "
		    "keys are shared by all projects."),
	OPDEF(note_get, .title = "Read a note", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "Read a note: found, value, version and author. An absent note gives "
		    "found:false and version 0. Keep the version for note_set if_version "
		    "or note_wait after_version."),
	OPDEF(note_delete, .title = "Delete a note",
	    .flags = OP_MUTATES | OP_DESTRUCTIVE | OP_IDEMPOTENT,
	    .desc = "Delete a note (only at if_version when given). Wakes note_wait "
		    "callers watching the key."),
	OPDEF(note_list, .title = "List notes", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "List notes by key prefix, in key order: key, version, author, size "
		    "and expiry (not the values; read them with note_get)."),
	OPDEF(note_wait, .title = "Wait for a note to change", .flags = OP_READONLY | OP_BLOCKS,
	    .desc = "Wait until the note is written or deleted after after_version, instead "
		    "of polling. Returns at once when it already was (a change between two "
		    "calls is never missed), else when it changes or after wait_seconds "
		    "(changed:false). Loop with after_version = the version returned. "
		    "after_version 0 waits until the note exists."),
	OPDEF(counter_incr, .title = "Increment a counter", .flags = OP_MUTATES,
	    .desc = "Atomically add to a named counter and get the new value: "
		    "collision-free numbers under any concurrency (migration 0042, port "
		    "offsets, build ids). by defaults to 1; by:0 reads the value. Counters "
		    "start at 0 and never expire."),
	OPDEF(event_signal, .title = "Signal an event", .flags = OP_MUTATES,
	    .desc = "Signal a named event: its generation goes up by one and every "
		    "event_wait caller wakes up, with the optional payload. Use for "
		    "\"build finished\", \"schema migrated\", \"ready for review\"."),
	OPDEF(event_wait, .title = "Wait for an event", .flags = OP_READONLY | OP_BLOCKS,
	    .desc = "Wait until an event's generation is past after (the generation you "
		    "last saw; 0 = it has ever been signaled). Returns at once when it "
		    "already is, so a signal between two calls is never missed; else when "
		    "signaled or after wait_seconds (fired:false). Loop with after = the "
		    "generation returned."),
	OPDEF(agent_join, .title = "Join as an agent with a role",
	    .flags = OP_MUTATES | OP_IDEMPOTENT,
	    .desc = "Say who you are: your agent name (others message you by it) and "
		    "role (planner, implementer or reviewer). Call it first. Returns what "
		    "to do next in that role and your unread mail. A name another live "
		    "session has joined under is refused (conflict, naming it): pick "
		    "another. Your presence ends when your connection closes; with "
		    "ttl_seconds it outlives the connection until the TTL lapses (join "
		    "again to renew)."),
	OPDEF(agent_list, .title = "List agents present", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "Who is present in your project: every connected session and TTL "
		    "registration, with agent name, role, pid, client, how long connected "
		    "and idle, and the locks each holds. Use it to find whom to message "
		    "or wait for."),
	OPDEF(message_send, .title = "Send a message", .flags = OP_MUTATES,
	    .desc = "Send a message to an agent by name, to \"role:ROLE\" (every agent in "
		    "that role, e.g. role:reviewer) or to \"all\" (the project). Mail is "
		    "kept in the recipient's mailbox even when nobody by that name is "
		    "present; recipients lists who is present now. Bodies up to 64 KiB; "
		    "the last 10 000 messages per project are retained."),
	OPDEF(message_inbox, .title = "Read your inbox (can wait for mail)",
	    .flags = OP_READONLY | OP_BLOCKS,
	    .desc = "Read messages addressed to you (your name, role:YOUR_ROLE, or all), "
		    "oldest first, and the open discussions waiting on you. Loop: call "
		    "with after = the cursor you got last (nothing is skipped or "
		    "repeated) and wait_seconds to block until mail arrives instead of "
		    "polling. Without after you get everything retained. unread_only "
		    "skips what message_ack marked read. Error cursor_expired: your "
		    "cursor fell out of retention; call again without after."),
	OPDEF(message_ack, .title = "Mark messages read", .flags = OP_MUTATES | OP_IDEMPOTENT,
	    .one_of = "ids|up_to",
	    .desc = "Mark messages read for your agent name (read state belongs to the "
		    "name and outlives sessions): give ids, or up_to (e.g. the inbox "
		    "cursor) for everything up to it. message_inbox unread_only then "
		    "skips them."),
	OPDEF(discussion_start, .title = "Start a discussion", .flags = OP_MUTATES,
	    .desc = "Open a discussion (D1, D2...) to ask a question or settle a decision: "
		    "a topic, an opening message and waiting_on (the agent or role:ROLE "
		    "who must answer; their inbox lists it and their waiting "
		    "message_inbox wakes up). Replies form a thread; discussion_resolve "
		    "records the decision. Keep the token to resolve it from another "
		    "session."),
	OPDEF(discussion_reply, .title = "Reply to a discussion", .flags = OP_MUTATES,
	    .desc = "Add a reply to an open discussion. waiting_on names who must answer "
		    "next; without it, a reply from the one waited on hands it back to "
		    "whoever started it. A resolved discussion takes no replies: start a "
		    "new one."),
	OPDEF(discussion_resolve, .title = "Resolve a discussion", .flags = OP_MUTATES,
	    .desc = "Close a discussion with a decision (and reasoning, a linked task); "
		    "your agent name is recorded as decided_by and whoever started it is "
		    "told. Needs the token from discussion_start, or the session that "
		    "started it."),
	OPDEF(discussion_list, .title = "List discussions",
	    .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "List discussions in your project, newest first: open (default), "
		    "resolved or all, optionally only those waiting on an agent or "
		    "role:ROLE. discussion_get shows a whole thread."),
	OPDEF(discussion_get, .title = "Show a discussion",
	    .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "A discussion with its whole thread (who, when, what) and its "
		    "resolution (decision, reasoning, decided_by, linked task) once "
		    "resolved."),
	OPDEF(task_create, .title = "Create a task", .flags = OP_MUTATES,
	    .desc = "Add a task to your project's plan; returns its short id (T1, T2...). "
		    "Give a title, a description with acceptance, a complexity, and "
		    "depends_on for tasks that must be done first (it is ready only then). "
		    "Implementers get tasks with task_claim; the status machine is "
		    "todo -> in_progress -> review -> done."),
	OPDEF(task_get, .title = "Show a task", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "One task with its description, review notes and feedback, and its "
		    "full history (who, when, what)."),
	OPDEF(task_list, .title = "List tasks", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "List your project's tasks (filter by status, owner, tag, ready) with a "
		    "summary: counts per status, percent done, project status. Pages with "
		    "limit and next_cursor."),
	OPDEF(task_update, .title = "Update a task", .flags = OP_MUTATES,
	    .desc = "Change a task's title, description, priority, tags, dependencies or "
		    "assignee, or move its status. Status moves are enforced: todo -> "
		    "in_progress (claim) -> review (submit) -> done (approve); review -> "
		    "in_progress (changes requested); in_progress -> todo (release); any "
		    "open task -> blocked or cancelled; blocked -> todo. A forbidden move is "
		    "an error listing the allowed ones. Submit and release need the claimant."),
	OPDEF(task_claim, .title = "Claim a task (can wait for one)",
	    .flags = OP_MUTATES | OP_BLOCKS,
	    .desc = "Take a task to work on: atomic, one winner. Without id you get the best "
		    "ready task (dependencies done, highest priority, oldest first), or a "
		    "task of yours with changes requested. Pass wait_seconds to wait for one "
		    "instead of polling. claimed:false with project_status complete or "
		    "stopped means stop working. The claim holds while your session lives; "
		    "submit with task_submit when done."),
	OPDEF(task_submit, .title = "Submit a task for review", .flags = OP_MUTATES,
	    .desc = "Hand your claimed task in for review (in_progress -> review) with notes: "
		    "what you did and how you tested it. Only the claimant (its session or "
		    "claim token) may submit. Then call task_claim for the next task."),
	OPDEF(task_approve, .title = "Approve reviewed tasks", .flags = OP_MUTATES,
	    .one_of = "id|ids",
	    .desc = "Approve tasks in review (review -> done), one or a batch; records who "
		    "and when. Tasks that depend on them become ready and waiting claims "
		    "wake."),
	OPDEF(task_request_changes, .title = "Request changes on a task", .flags = OP_MUTATES,
	    .desc = "Send a task in review back to its claimant (review -> in_progress) with "
		    "feedback; the claimant's task_claim returns it with the feedback."),
	OPDEF(task_release, .title = "Release a claimed task",
	    .flags = OP_MUTATES | OP_DESTRUCTIVE,
	    .desc = "Give up a task you claimed: back to todo for anyone (requeue, default) "
		    "or blocked (requeue:false), with a reason. Only the claimant (session "
		    "or claim token) may release."),
	OPDEF(project_set, .title = "Set the project context and status", .flags = OP_MUTATES,
	    .desc = "Record the project's context: description, end_state, tech_stack, "
		    "constraints, acceptance, tests, plan, and its status (planning -> ready "
		    "-> in_progress -> complete | stopped). Only the fields given change. "
		    "Status complete or stopped ends every waiting task_claim at once."),
	[OP_project_get] = { .name = "project_get",
	    .args = NULL,
	    .nargs = 0,
	    .results = project_fields_results,
	    .nresults = nitems(project_fields_results),
	    .title = "Show the project context and status",
	    .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "The project's context (description, end state, tech stack, "
		    "constraints, acceptance, tests, plan), status and task summary." },
	OPDEF(guide, .title = "What to do next in a role", .flags = OP_READONLY | OP_IDEMPOTENT,
	    .desc = "Next steps for a planner, implementer or reviewer, built from the live "
		    "project state. agent_join returns the same text."),
	[OP_state_export] = { .name = "state_export",
	    .args = NULL,
	    .nargs = 0,
	    .results = state_export_results,
	    .nresults = nitems(state_export_results),
	    .title = "Snapshot the state for export",
	    .flags = OP_READONLY | OP_ADMIN,
	    .desc =
		"For the user, not agents (baton export): commit what is pending and copy "
		"the state database to a new file in the state directory, for `batond "
		"--from PATH --export FILE` to write as JSON. The caller removes the file." },
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
static const struct op_arg *
op_arg_named(const struct op *op, const char *name)
{
	const struct op_arg *a = op_arg_find(op, name, strlen(name));

	if (a == NULL)
		fatalx("operation %s has no argument %s", op->name, name);
	return (a);
}

const msgpack_object *
op_arg_value(const struct op *op, const msgpack_object *const *vals, const char *name)
{
	return (vals[op_arg_named(op, name) - op->args]);
}

double
op_arg_num(const struct op *op, const msgpack_object *const *vals, const char *name)
{
	const struct op_arg *a = op_arg_named(op, name);
	double d;

	if (mp_num(vals[a - op->args], &d) == 0)
		return (d);
	return (a->def != NULL ? strtod(a->def, NULL) : 0);
}

int64_t
op_arg_int(const struct op *op, const msgpack_object *const *vals, const char *name)
{
	const struct op_arg *a = op_arg_named(op, name);
	int64_t i;

	if (mp_int(vals[a - op->args], &i) == 0)
		return (i);
	return (a->def != NULL ? strtoll(a->def, NULL, 10) : 0);
}

int
op_arg_bool(const struct op *op, const msgpack_object *const *vals, const char *name)
{
	const struct op_arg *a = op_arg_named(op, name);
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
	const struct op_arg *a = op_arg_named(op, name);
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
