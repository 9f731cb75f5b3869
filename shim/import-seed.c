/*
 * `baton import --from lockstep|airlock FILE`: the seed tools' SQLite
 * databases into a project of the running broker (issue 19), through the
 * same operations agents use, so every guarantee holds for what comes in
 * and the history says who did what: the importer ("import-lockstep",
 * "import-airlock"), and each task's owner, note's author or lock's
 * holder under their own names.
 *
 * Lockstep (its schema from its public source, src/storage.ts): tasks
 * with their review state (in_progress comes back todo and assigned to
 * its owner, whose session is not in baton; review and done go through
 * claim, submit and approve as their owner), the notes (the log
 * `--compat lockstep` reads), discussions with their thread and
 * decision, the project context.  Not imported, and said: active locks
 * (a lock belongs to a live session), implementers (launchers come with
 * worktrees).
 *
 * Airlock (no public source could be had: its schema is assumed from its
 * README, and every table and column is looked up by name, so a
 * different layout is reported rather than misread): notes with their
 * TTLs, counters, event generations, the task queues, and the locks still
 * live (taken again, detached, for what is left of their TTL, under
 * their holder's name: their tokens are new).  Presence is live state
 * and is not imported.
 *
 * The file is opened read-only; the summary says what was imported and
 * what was not, and why.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "shim.h"

#define SEED_CONNS_MAX 64
#define SEED_EVENT_MAX 100000 /* generations replayed by signals, at most */

struct seed {
	const struct client_opts *o;
	sqlite3 *db;
	const char *importer;
	struct {
		char *agent;
		struct conn c;
	} conns[SEED_CONNS_MAX];
	size_t nconns;
	int failures;
	int wrong;                 /* not a database of that seed */
	struct sbuf done, skipped; /* the summary's two halves, one line each */
};

/* The connection of agent (opened under that name once). */
static struct conn *
seed_conn(struct seed *s, const char *agent, struct op_error *err)
{
	struct client_opts o = *s->o;
	size_t i;

	if (agent == NULL || *agent == '\0')
		agent = s->importer;
	for (i = 0; i < s->nconns; i++) {
		if (strcmp(s->conns[i].agent, agent) == 0)
			return (&s->conns[i].c);
	}
	if (s->nconns == SEED_CONNS_MAX)
		return (seed_conn(s, s->importer, err));
	o.agent = agent;
	o.kind = "cli";
	if (conn_open(&s->conns[s->nconns].c, &o, err) != 0)
		return (NULL);
	s->conns[s->nconns].agent = xstrdup(agent);
	return (&s->conns[s->nconns++].c);
}

/*
 * Run op with args (JSON, taken) as agent: its result as JSON, or NULL
 * with the failure counted and said on stderr (what: the object).
 */
static cJSON *
seed_call(struct seed *s, const char *agent, const char *op, cJSON *args, const char *what)
{
	const msgpack_object *obj, *r;
	struct op_error err;
	msgpack_sbuffer sb;
	msgpack_unpacked u, ru;
	struct conn *c;
	cJSON *out = NULL;

	memset(&err, 0, sizeof err);
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&u);
	msgpack_unpacked_init(&ru);
	if (json_args_to_msgpack(args, &sb, &u, &obj, &err) == 0 &&
	    (c = seed_conn(s, agent, &err)) != NULL &&
	    conn_call(c, op, sb.data, sb.size, &ru, &r, &err) == 0)
		out = json_from_msgpack(r);
	if (out == NULL) {
		s->failures++;
		cli_err("import: %s: %s failed: %s", what, op,
		    err.message[0] != '\0' ? err.message : "no answer");
	}
	msgpack_unpacked_destroy(&ru);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	cJSON_Delete(args);
	return (out);
}

/* ---- reading rows by column name ---- */

static int
seed_col(sqlite3_stmt *st, const char *name)
{
	int i;

	for (i = 0; i < sqlite3_column_count(st); i++) {
		if (strcmp(sqlite3_column_name(st, i), name) == 0)
			return (i);
	}
	return (-1);
}

/* A text column (the first of the names the row has), or NULL. */
static const char *
seed_text(sqlite3_stmt *st, const char *names)
{
	char *copy = xstrdup(names), *n, *sp = NULL;
	const char *v = NULL;
	int i;

	for (n = strtok_r(copy, "|", &sp); n != NULL && v == NULL;
	     n = strtok_r(NULL, "|", &sp)) {
		if ((i = seed_col(st, n)) != -1 && sqlite3_column_type(st, i) != SQLITE_NULL)
			v = (const char *)sqlite3_column_text(st, i);
	}
	free(copy);
	return (v);
}

/* A time column as wall ms: unix seconds or ms, or ISO 8601 text; 0 when absent. */
static int64_t
seed_time(sqlite3_stmt *st, const char *names)
{
	const char *v = seed_text(st, names);
	struct tm tm;
	double d;
	char *end;
	int ms = 0;

	if (v == NULL)
		return (0);
	d = strtod(v, &end);
	if (*end == '\0' && end != v)
		return ((int64_t)(d > 1e11 ? d : d * 1000));
	memset(&tm, 0, sizeof tm);
	if (sscanf(v, "%d-%d-%d%*c%d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		&tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
		return (0);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return ((int64_t)timegm(&tm) * 1000 + ms);
}

static int
seed_has_table(struct seed *s, const char *table)
{
	sqlite3_stmt *st;
	int r;

	if (sqlite3_prepare_v2(s->db,
		"SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1, &st,
		NULL) != SQLITE_OK)
		return (0);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	r = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return (r);
}

/* Does table have column col? */
static int
seed_has_column(struct seed *s, const char *table, const char *col)
{
	sqlite3_stmt *st;
	char *sql;
	int r = 0;

	xasprintf(&sql, "SELECT 1 FROM pragma_table_info('%s') WHERE name = ?", table);
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, col, -1, SQLITE_STATIC);
		r = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	free(sql);
	return (r);
}

/* SELECT * FROM table ORDER BY order; NULL (and said) when it cannot be read. */
static sqlite3_stmt *
seed_rows(struct seed *s, const char *table, const char *order)
{
	sqlite3_stmt *st;
	char *sql;

	if (!seed_has_table(s, table))
		return (NULL);
	xasprintf(&sql, "SELECT * FROM \"%s\"%s%s", table, order != NULL ? " ORDER BY " : "",
	    order != NULL ? order : "");
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		/* an order column it lacks: read it as it comes */
		free(sql);
		xasprintf(&sql, "SELECT * FROM \"%s\"", table);
		if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
			sb_addf(&s->skipped, "  table %s: unreadable (%s)\n", table,
			    sqlite3_errmsg(s->db));
			st = NULL;
		}
	}
	free(sql);
	return (st);
}

static cJSON *
seed_args(const char *key, const char *value)
{
	cJSON *a = cJSON_CreateObject();

	if (key != NULL && value != NULL)
		cJSON_AddStringToObject(a, key, value);
	return (a);
}

static void
seed_opt(cJSON *a, const char *key, const char *value)
{
	if (value != NULL && *value != '\0')
		cJSON_AddStringToObject(a, key, value);
}

/* A JSON array of strings (Lockstep's arrays) as newline-separated lines. */
static char *
seed_lines(const char *json)
{
	cJSON *a, *e;
	struct sbuf b;

	if (json == NULL)
		return (NULL);
	if ((a = cJSON_Parse(json)) == NULL || !cJSON_IsArray(a)) {
		cJSON_Delete(a);
		return (xstrdup(json)); /* plain text */
	}
	memset(&b, 0, sizeof b);
	sb_adds(&b, "");
	cJSON_ArrayForEach(e, a) {
		if (cJSON_IsString(e))
			sb_addf(&b, "%s%s", b.len > 0 ? "\n" : "", e->valuestring);
	}
	cJSON_Delete(a);
	return (b.s);
}

/* ---- Lockstep ---- */

/* Lockstep's project context: the row for this project, else the only/newest one. */
static void
seed_ls_context(struct seed *s, const char *project)
{
	static const char *const f[][2] = { { "tech_stack", "tech_stack" },
		{ "constraints", "constraints" }, { "acceptance_criteria", "acceptance" },
		{ "tests", "tests" }, { "implementation_plan", "plan" } };
	sqlite3_stmt *st = seed_rows(s, "project_contexts", "updated_at DESC");
	const char *root, *status;
	cJSON *a, *r;
	char *v;
	size_t i;
	int n = 0, found = 0;

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		n++;
		root = seed_text(st, "project_root");
		if (found || (n > 1 && (root == NULL || strcmp(root, project) != 0)))
			continue;
		found = root != NULL && strcmp(root, project) == 0;
		a = seed_args("description", seed_text(st, "description"));
		seed_opt(a, "end_state", seed_text(st, "end_state"));
		for (i = 0; i < nitems(f); i++) {
			if ((v = seed_lines(seed_text(st, f[i][0]))) != NULL && *v != '\0')
				cJSON_AddStringToObject(a, f[i][1], v);
			free(v);
		}
		status = seed_text(st, "status");
		if (status != NULL && strcmp(status, "planning") != 0)
			cJSON_AddStringToObject(a, "status", status);
		if ((r = seed_call(s, NULL, "project_set", a, "the project context")) != NULL)
			sb_addf(&s->done, "  the project context (from %s)\n",
			    root != NULL ? root : "?");
		cJSON_Delete(r);
	}
	if (n > 1)
		sb_addf(&s->skipped,
		    "  %d other project contexts: baton imports into one project (run again "
		    "with --project for another)\n",
		    n - 1);
	sqlite3_finalize(st);
}

/* One Lockstep task: created, then moved to its status as its owner and the importer. */
static int
seed_ls_task(struct seed *s, sqlite3_stmt *st, int *moved)
{
	const char *status = seed_text(st, "status"), *owner = seed_text(st, "owner");
	const char *notes = seed_text(st, "review_notes"),
		   *fb = seed_text(st, "review_feedback");
	char *desc, at[TIME_ISO_LEN], at2[TIME_ISO_LEN], *tid;
	cJSON *a, *r, *t;
	const char *c = seed_text(st, "complexity");

	xasprintf(&desc, "%s%s(imported from Lockstep task %s, created %s, updated %s%s%s)",
	    seed_text(st, "description") != NULL ? seed_text(st, "description") : "",
	    seed_text(st, "description") != NULL ? "\n\n" : "", seed_text(st, "id"),
	    time_iso(seed_time(st, "created_at"), at, sizeof at),
	    time_iso(seed_time(st, "updated_at"), at2, sizeof at2),
	    owner != NULL ? ", owner " : "", owner != NULL ? owner : "");
	a = seed_args("title", seed_text(st, "title"));
	cJSON_AddStringToObject(a, "description", desc);
	free(desc);
	cJSON_AddStringToObject(a, "complexity",
	    c != NULL && strstr("simple|medium|complex|critical", c) != NULL ? c : "medium");
	seed_opt(a, "isolation", seed_text(st, "isolation"));
	if ((t = cJSON_Parse(seed_text(st, "tags") != NULL ? seed_text(st, "tags") : "")) !=
		NULL &&
	    cJSON_IsArray(t))
		cJSON_AddItemToObject(a, "tags", t);
	else
		cJSON_Delete(t);
	/* in_progress: back to todo, for its owner alone (its session is not in baton) */
	if (status != NULL && owner != NULL && strcmp(status, "in_progress") == 0)
		cJSON_AddStringToObject(a, "assignee", owner);
	if ((r = seed_call(s, NULL, "task_create", a, seed_text(st, "title"))) == NULL)
		return (-1);
	tid = xstrdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "id")));
	cJSON_Delete(r);
	if (status != NULL && (strcmp(status, "review") == 0 || strcmp(status, "done") == 0)) {
		*moved += 1;
		cJSON_Delete(seed_call(s, owner, "task_claim", seed_args("id", tid), tid));
		a = seed_args("id", tid);
		cJSON_AddStringToObject(a, "notes",
		    notes != NULL ? notes : "imported from Lockstep");
		cJSON_Delete(seed_call(s, owner, "task_submit", a, tid));
		if (strcmp(status, "done") == 0) {
			a = seed_args("id", tid);
			seed_opt(a, "feedback", fb);
			cJSON_Delete(seed_call(s, NULL, "task_approve", a, tid));
		}
	} else if (status != NULL && strcmp(status, "blocked") == 0) {
		a = seed_args("id", tid);
		cJSON_AddStringToObject(a, "status", "blocked");
		cJSON_Delete(seed_call(s, NULL, "task_update", a, tid));
	}
	free(tid);
	return (0);
}

static void
seed_ls_tasks(struct seed *s)
{
	sqlite3_stmt *st = seed_rows(s, "tasks", "created_at");
	int n = 0, moved = 0, inprog = 0;
	const char *status;

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		status = seed_text(st, "status");
		if (status != NULL && strcmp(status, "in_progress") == 0)
			inprog++;
		if (seed_ls_task(s, st, &moved) == 0)
			n++;
	}
	sqlite3_finalize(st);
	sb_addf(&s->done,
	    "  %d tasks (%d reviewed or done, through claim, submit and approve)\n", n, moved);
	if (inprog > 0)
		sb_addf(&s->skipped,
		    "  %d in-progress claims: their owners' sessions are not in baton; the "
		    "tasks are todo and assigned to them\n",
		    inprog);
}

/* Lockstep's notes, into the numbered log `--compat lockstep` reads. */
static void
seed_ls_notes(struct seed *s)
{
	sqlite3_stmt *st = seed_rows(s, "notes", "created_at");
	cJSON *a, *v, *r;
	char key[64], at[TIME_ISO_LEN];
	double seq;
	int n = 0;

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		a = seed_args("name", "lockstep/notes");
		if ((r = seed_call(s, NULL, "counter_incr", a, "a note")) == NULL)
			continue;
		seq = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "value"));
		cJSON_Delete(r);
		snprintf(key, sizeof key, "lockstep/notes/%010.0f", seq);
		v = cJSON_CreateObject();
		snprintf(at, sizeof at, "%.0f", seq);
		cJSON_AddStringToObject(v, "id", at);
		cJSON_AddStringToObject(v, "text",
		    seed_text(st, "text") != NULL ? seed_text(st, "text") : "");
		seed_opt(v, "author", seed_text(st, "author"));
		cJSON_AddStringToObject(v, "createdAt",
		    time_iso(seed_time(st, "created_at"), at, sizeof at));
		a = seed_args("key", key);
		cJSON_AddItemToObject(a, "value", v);
		if ((r = seed_call(s, seed_text(st, "author"), "note_set", a, "a note")) !=
		    NULL)
			n++;
		cJSON_Delete(r);
	}
	sqlite3_finalize(st);
	sb_addf(&s->done, "  %d notes (the log of --compat lockstep's note_list)\n", n);
}

/* One discussion: started, replied to and resolved by its participants. */
static void
seed_ls_discussion(struct seed *s, sqlite3_stmt *st, int *resolved)
{
	static const char *const prio[][2] = { { "low", "low" }, { "medium", "normal" },
		{ "high", "high" }, { "blocking", "urgent" } };
	const char *id = seed_text(st, "id"), *by = seed_text(st, "created_by");
	const char *p = seed_text(st, "priority"), *dec = seed_text(st, "decision");
	sqlite3_stmt *ms;
	cJSON *a, *r;
	char *did = NULL;
	size_t i;
	int first = 1;

	if (sqlite3_prepare_v2(s->db,
		"SELECT * FROM discussion_messages WHERE discussion_id = ? ORDER BY created_at",
		-1, &ms, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(ms, 1, id, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(ms) == SQLITE_ROW) {
		if (first) {
			a = seed_args("topic", seed_text(st, "topic"));
			cJSON_AddStringToObject(a, "message", seed_text(ms, "message"));
			seed_opt(a, "category", seed_text(st, "category"));
			for (i = 0; p != NULL && i < nitems(prio); i++) {
				if (strcmp(p, prio[i][0]) == 0)
					cJSON_AddStringToObject(a, "priority", prio[i][1]);
			}
			seed_opt(a, "waiting_on", seed_text(st, "waiting_on"));
			if ((r = seed_call(s, by, "discussion_start", a, "a discussion")) ==
			    NULL)
				break;
			did = xstrdup(
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "id")));
			cJSON_Delete(r);
			first = 0;
			continue;
		}
		a = seed_args("id", did);
		cJSON_AddStringToObject(a, "message", seed_text(ms, "message"));
		cJSON_Delete(seed_call(s, seed_text(ms, "author"), "discussion_reply", a, did));
	}
	sqlite3_finalize(ms);
	if (did != NULL && (dec != NULL || strcmp(seed_text(st, "status"), "archived") == 0)) {
		a = seed_args("id", did);
		cJSON_AddStringToObject(a, "decision",
		    dec != NULL ? dec : "archived in Lockstep");
		seed_opt(a, "reasoning", seed_text(st, "decision_reasoning"));
		/* its starter's session resolves it: the decider is said in the reasoning */
		if ((r = seed_call(s, by, "discussion_resolve", a, did)) != NULL)
			*resolved += 1;
		cJSON_Delete(r);
	}
	free(did);
}

static void
seed_ls_discussions(struct seed *s)
{
	sqlite3_stmt *st = seed_rows(s, "discussions", "created_at");
	int n = 0, resolved = 0;

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (seed_text(st, "id") == NULL || seed_text(st, "topic") == NULL)
			continue;
		seed_ls_discussion(s, st, &resolved);
		n++;
	}
	sqlite3_finalize(st);
	sb_addf(&s->done, "  %d discussions with their threads (%d resolved)\n", n, resolved);
}

/* Count the rows of table matching where (NULL: all); -1 when there is no table. */
static int
seed_count(struct seed *s, const char *table, const char *where)
{
	sqlite3_stmt *st;
	char *sql;
	int n = -1;

	if (!seed_has_table(s, table))
		return (-1);
	xasprintf(&sql, "SELECT count(*) FROM \"%s\"%s%s", table,
	    where != NULL ? " WHERE " : "", where != NULL ? where : "");
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	free(sql);
	return (n);
}

static void
seed_lockstep(struct seed *s, const char *project)
{
	int n;

	if (!seed_has_column(s, "tasks", "title") && !seed_has_table(s, "project_contexts")) {
		sb_adds(&s->skipped,
		    "  everything: no tasks or project_contexts table: is it a "
		    "Lockstep database (~/.lockstep-mcp/data/coordinator.db)?\n");
		s->wrong = 1;
		return;
	}
	seed_ls_context(s, project);
	seed_ls_tasks(s);
	seed_ls_notes(s);
	seed_ls_discussions(s);
	if ((n = seed_count(s, "locks", "status = 'active'")) > 0)
		sb_addf(&s->skipped,
		    "  %d active locks: a baton lock belongs to a live session; take them "
		    "again "
		    "(lock_acquire)\n",
		    n);
	if ((n = seed_count(s, "implementers", NULL)) > 0)
		sb_addf(&s->skipped,
		    "  %d implementers: launched agents come with baton's worktrees and "
		    "launchers\n",
		    n);
}

/* ---- Airlock ---- */

static void
seed_al_notes(struct seed *s, int64_t now)
{
	sqlite3_stmt *st = seed_rows(s, "notes", NULL);
	int64_t exp;
	cJSON *a, *r;
	int n = 0, gone = 0;

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		exp = seed_time(st, "expires_at|expires");
		if (exp != 0 && exp <= now) {
			gone++;
			continue;
		}
		a = seed_args("key", seed_text(st, "key|name"));
		cJSON_AddStringToObject(a, "value",
		    seed_text(st, "value") != NULL ? seed_text(st, "value") : "");
		if (exp != 0)
			cJSON_AddNumberToObject(a, "ttl_seconds",
			    ceil((double)(exp - now) / 1000));
		if ((r = seed_call(s, seed_text(st, "author"), "note_set", a, "a note")) !=
		    NULL)
			n++;
		cJSON_Delete(r);
	}
	sqlite3_finalize(st);
	sb_addf(&s->done, "  %d notes (with what is left of their TTLs)\n", n);
	if (gone > 0)
		sb_addf(&s->skipped, "  %d expired notes\n", gone);
}

static void
seed_al_counters(struct seed *s)
{
	sqlite3_stmt *st = seed_rows(s, "counters", NULL);
	double v, cur;
	cJSON *a, *r;
	int n = 0;

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		v = seed_text(st, "value") != NULL ? strtod(seed_text(st, "value"), NULL) : 0;
		a = seed_args("name", seed_text(st, "name"));
		cJSON_AddNumberToObject(a, "by", 0);
		if ((r = seed_call(s, NULL, "counter_incr", a, "a counter")) == NULL)
			continue;
		cur = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "value"));
		cJSON_Delete(r);
		a = seed_args("name", seed_text(st, "name"));
		cJSON_AddNumberToObject(a, "by", v - cur);
		if ((r = seed_call(s, NULL, "counter_incr", a, "a counter")) != NULL)
			n++;
		cJSON_Delete(r);
	}
	sqlite3_finalize(st);
	sb_addf(&s->done, "  %d counters (at their values)\n", n);
}

/* Events: the generation is replayed by signals (it never goes back in baton). */
static void
seed_al_events(struct seed *s)
{
	sqlite3_stmt *st = seed_rows(s, "events", NULL);
	const char *name;
	double g, k;
	int n = 0, big = 0;
	cJSON *r;

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		name = seed_text(st, "name");
		g = seed_text(st, "generation") != NULL
		    ? strtod(seed_text(st, "generation"), NULL)
		    : 0;
		if (g > SEED_EVENT_MAX) {
			big++;
			continue;
		}
		for (k = 0; k < g; k++) {
			if ((r = seed_call(s, NULL, "event_signal", seed_args("name", name),
				 name)) == NULL)
				break;
			cJSON_Delete(r);
		}
		n++;
	}
	sqlite3_finalize(st);
	sb_addf(&s->done, "  %d events (at their generations)\n", n);
	if (big > 0)
		sb_addf(&s->skipped,
		    "  %d events past generation %d: too many signals to replay\n", big,
		    SEED_EVENT_MAX);
}

/* The task queues: pending items pushed; finished ones pushed, claimed and finished. */
static void
seed_al_tasks(struct seed *s)
{
	sqlite3_stmt *st = seed_rows(s, "tasks", "id");
	const char *state;
	cJSON *a, *r, *c;
	int n = 0, leased = 0;

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		state = seed_text(st, "state|status");
		a = seed_args("queue", seed_text(st, "queue"));
		cJSON_AddStringToObject(a, "payload",
		    seed_text(st, "payload") != NULL ? seed_text(st, "payload") : "");
		cJSON_AddNumberToObject(a, "priority",
		    seed_text(st, "priority") != NULL ? strtod(seed_text(st, "priority"), NULL)
						      : 0);
		if ((r = seed_call(s, seed_text(st, "author"), "queue_push", a,
			 "a queued task")) == NULL)
			continue;
		n++;
		if (state != NULL &&
		    (strcmp(state, "claimed") == 0 || strcmp(state, "leased") == 0))
			leased++;
		if (state == NULL ||
		    (strcmp(state, "done") != 0 && strcmp(state, "failed") != 0)) {
			cJSON_Delete(r);
			continue;
		}
		/* finished: the importer takes it and finishes it the same way */
		a = seed_args("queue", seed_text(st, "queue"));
		compat_copy(a, "id", r, "id");
		if ((c = seed_call(s, NULL, "queue_claim", a, "a finished task")) == NULL)
			continue;
		a = cJSON_CreateObject();
		compat_copy(a, "id", c, "id");
		compat_copy(a, "lease_token", c, "lease_token");
		cJSON_AddStringToObject(a, "outcome", state);
		cJSON_Delete(seed_call(s, NULL, "queue_finish", a, "a finished task"));
		cJSON_Delete(c);
		cJSON_Delete(r);
	}
	sqlite3_finalize(st);
	sb_addf(&s->done, "  %d queued tasks (done and failed ones kept so)\n", n);
	if (leased > 0)
		sb_addf(&s->skipped,
		    "  %d leases: their consumers are not in baton; the tasks are pending "
		    "again\n",
		    leased);
}

/* Live locks: taken again, detached, for the rest of their TTL, as their holder. */
static void
seed_al_locks(struct seed *s, int64_t now)
{
	sqlite3_stmt *st = seed_rows(s, "locks", NULL);
	int64_t exp;
	cJSON *a, *r;
	int n = 0, gone = 0;

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		exp = seed_time(st, "expires_at|expires");
		if (exp <= now) {
			gone++;
			continue;
		}
		a = seed_args("name", seed_text(st, "name"));
		cJSON_AddNumberToObject(a, "ttl_seconds",
		    fmin(ceil((double)(exp - now) / 1000), 86400));
		cJSON_AddStringToObject(a, "reason", "imported from Airlock");
		if ((r = seed_call(s, seed_text(st, "agent_id|holder|agent"), "lock_acquire", a,
			 seed_text(st, "name"))) != NULL &&
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "acquired")))
			n++;
		cJSON_Delete(r);
	}
	sqlite3_finalize(st);
	sb_addf(&s->done,
	    "  %d live locks (for the rest of their TTL, under their holders' names; their "
	    "lock tokens are new: holders lock again to get theirs)\n",
	    n);
	if (gone > 0)
		sb_addf(&s->skipped, "  %d expired locks\n", gone);
}

static void
seed_airlock(struct seed *s)
{
	static const char *const known[] = { "locks", "notes", "counters", "events", "tasks",
		"agents" };
	sqlite3_stmt *st;
	int64_t now = wall_ms();
	size_t i;
	int n, hit = 0;

	for (i = 0; i < nitems(known); i++)
		hit += seed_has_table(s, known[i]);
	if (hit == 0) {
		sb_adds(&s->skipped,
		    "  everything: none of the tables locks, notes, counters, "
		    "events, tasks: is it an Airlock database (~/.airlock/state.db)?\n");
		s->wrong = 1;
		return;
	}
	seed_al_notes(s, now);
	seed_al_counters(s);
	seed_al_events(s);
	seed_al_tasks(s);
	seed_al_locks(s, now);
	if ((n = seed_count(s, "agents", NULL)) > 0)
		sb_addf(&s->skipped,
		    "  %d agent registrations: presence is live; agents register again\n", n);
	/* tables we do not know, said rather than ignored */
	if (sqlite3_prepare_v2(s->db,
		"SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE "
		"'sqlite_%'",
		-1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (i = 0; i < nitems(known); i++) {
				if (strcmp((const char *)sqlite3_column_text(st, 0),
					known[i]) == 0)
					break;
			}
			if (i == nitems(known))
				sb_addf(&s->skipped,
				    "  table %s: not part of Airlock's documented "
				    "state\n",
				    sqlite3_column_text(st, 0));
		}
		sqlite3_finalize(st);
	}
}

/* `baton import --from SEED FILE`: into the running broker's project; the exit status. */
int
seed_import(const struct client_opts *o, const char *from, const char *file)
{
	struct seed s;
	char *project, *uri;
	size_t i;
	int lockstep = strcmp(from, "lockstep") == 0;

	if (!lockstep && strcmp(from, "airlock") != 0)
		return (cli_usage_err("import: --from is lockstep or airlock"));
	memset(&s, 0, sizeof s);
	s.o = o;
	s.importer = lockstep ? "import-lockstep" : "import-airlock";
	/* read-only, and never created */
	xasprintf(&uri, "file:%s?mode=ro", file);
	if (sqlite3_open_v2(uri, &s.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
		SQLITE_OK ||
	    sqlite3_exec(s.db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
		SQLITE_OK) {
		cli_err("import: %s is not a readable SQLite database: %s", file,
		    s.db != NULL ? sqlite3_errmsg(s.db) : "cannot open");
		sqlite3_close(s.db);
		free(uri);
		return (EXIT_DATAERR);
	}
	free(uri);
	sb_adds(&s.done, "");
	sb_adds(&s.skipped, "");
	project = o->project != NULL ? xstrdup(o->project) : project_default();
	if (lockstep)
		seed_lockstep(&s, project);
	else
		seed_airlock(&s);
	printf("imported from %s (%s) into %s:\n%s", lockstep ? "Lockstep" : "Airlock", file,
	    project, s.done.len > 0 ? s.done.s : "  nothing\n");
	if (s.skipped.len > 0)
		printf("not imported:\n%s", s.skipped.s);
	if (s.failures > 0)
		printf("%d operations failed (said above)\n", s.failures);
	for (i = 0; i < s.nconns; i++) {
		conn_close(&s.conns[i].c);
		free(s.conns[i].agent);
	}
	free(project);
	free(s.done.s);
	free(s.skipped.s);
	sqlite3_close(s.db);
	return (cli_flush(s.wrong ? EXIT_DATAERR : s.failures > 0 ? EXIT_SOFTWARE : 0));
}
