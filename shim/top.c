/*
 * `baton top` (DESIGN 11): the dashboard's views in a terminal, with
 * ncurses.  The same snapshot as the page (view.c), redrawn when the
 * audit log says something changed (a second connection subscribed to
 * the project's log) and every 5 seconds; keys switch views, move the
 * selection and act on it as the operator: break a lock, approve or
 * request changes, message.  --once prints every view once, as text,
 * without a terminal.
 */
#include "config.h"

#include <sys/ioctl.h>

#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define TOP_REFRESH_MS 5000 /* a full refresh at least this often */
#define TOP_SOON_MS 100     /* after a change, once for a burst */
#define TOP_LINES_MAX 2000  /* lines of one view */
#define TOP_TIMEOUT_MS 5000

enum top_view {
	V_NEEDS,
	V_AGENTS,
	V_LOCKS,
	V_TASKS,
	V_MESSAGES,
	V_TIMELINE,
	V_HEALTH,
	V_WORKTREES,
	V_COUNT
};
static const char *const top_view_names[V_COUNT] = { "Needs you", "Agents", "Locks", "Tasks",
	"Messages", "Timeline", "Health", "Worktrees" };

/* A line of a view; what it is about, when something can be done with it. */
struct top_line {
	char *text;
	int attr;         /* 0, or 1 for a heading, 2 for a warning */
	const char *kind; /* "lock", "task", "review", "discussion" or NULL */
	char *key;
};

struct top {
	struct client_opts opts;
	struct view_opts vo;
	struct conn c; /* snapshots and actions */
	struct conn w; /* the subscribed feed */
	int watching;
	cJSON *snap;
	char err[256];
	enum top_view view;
	struct top_line lines[TOP_LINES_MAX];
	size_t nlines;
	size_t sel, top; /* selected line, first line shown */
	char note[512];  /* the last action's outcome */
};

static int top_exec(const struct cmd_entry *, const struct client_opts *, int, char **);

const struct cmd_entry cmd_top_entry = {
	.name = "top",
	.usage = "top [--once] [--wait-warn SECONDS]",
	.desc = "the dashboard in a terminal: what needs you, agents (and those baton launch "
		"started), locks, tasks, messages, the audit log, health, worktrees, live; "
		"--once prints it once",
	.exec = top_exec,
};

/* ---- the lines of each view ---- */

static void top_add(struct top *t, int attr, const char *kind, const char *key, const char *fmt,
    ...) printflike(5, 6);

static void
top_add(struct top *t, int attr, const char *kind, const char *key, const char *fmt, ...)
{
	struct top_line *l;
	va_list ap;
	char *p;

	if (t->nlines == TOP_LINES_MAX)
		return;
	l = &t->lines[t->nlines++];
	va_start(ap, fmt);
	if (xvasprintf(&l->text, fmt, ap) == -1)
		fatalx("top: cannot format");
	va_end(ap);
	for (p = l->text; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	l->attr = attr;
	l->kind = kind;
	l->key = key != NULL ? xstrdup(key) : NULL;
}

static void
top_clear(struct top *t)
{
	size_t i;

	for (i = 0; i < t->nlines; i++) {
		free(t->lines[i].text);
		free(t->lines[i].key);
	}
	t->nlines = 0;
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return (cJSON_IsString(v) ? v->valuestring : "");
}

static double
jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return (cJSON_IsNumber(v) ? v->valuedouble : -1);
}

static const cJSON *
jarr(const cJSON *o, const char *k)
{
	return (cJSON_GetObjectItemCaseSensitive(o, k));
}

/* Seconds as "42s", "5m", "3h". */
static const char *
top_secs(double s, char *buf, size_t len)
{
	if (s < 0)
		snprintf(buf, len, "-");
	else if (s < 120)
		snprintf(buf, len, "%.0fs", s);
	else if (s < 7200)
		snprintf(buf, len, "%.0fm", s / 60);
	else
		snprintf(buf, len, "%.0fh", s / 3600);
	return (buf);
}

/* Strings of an array, joined with ", " into buf. */
static const char *
top_join(const cJSON *a, char *buf, size_t len)
{
	const cJSON *e;
	size_t n = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(e, a) {
		if (cJSON_IsString(e) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n > 0 ? ", " : "",
			    e->valuestring);
	}
	return (buf);
}

static void
top_needs(struct top *t, const cJSON *s)
{
	const cJSON *n;
	const char *k;

	cJSON_ArrayForEach(n, jarr(s, "needs")) {
		k = jstr(n, "object_kind");
		top_add(t, strcmp(jstr(n, "severity"), "info") != 0 ? 2 : 0,
		    strcmp(k, "task") == 0 && strcmp(jstr(n, "kind"), "review") == 0 ? "review"
			: strcmp(k, "lock") == 0                                     ? "lock"
			: strcmp(k, "discussion") == 0 ? "discussion"
						       : NULL,
		    jstr(n, "key"), "%-8s %s", jstr(n, "severity"), jstr(n, "text"));
	}
	if (t->nlines == 0)
		top_add(t, 0, NULL, NULL, "Nothing needs you right now.");
}

static void
top_agents(struct top *t, const cJSON *s)
{
	const cJSON *a;
	char b1[256], b2[512], b3[16];

	top_add(t, 1, NULL, NULL, "%-16s %-12s %-10s %-10s %-6s %s", "AGENT", "ROLE", "STATE",
	    "TASKS", "IDLE", "LOCKS");
	cJSON_ArrayForEach(a, jarr(s, "agents")) {
		if (strcmp(jstr(a, "kind"), "dashboard") == 0 ||
		    strcmp(jstr(a, "kind"), "top") == 0)
			continue;
		top_add(t, 0, NULL, NULL, "%-16s %-12s %-10s %-10s %-6s %s", jstr(a, "agent"),
		    jstr(a, "role"), jstr(a, "state"),
		    top_join(jarr(a, "tasks"), b1, sizeof b1),
		    top_secs(jnum(a, "idle_seconds"), b3, sizeof b3),
		    top_join(jarr(a, "locks"), b2, sizeof b2));
	}
	top_add(t, 0, NULL, NULL, "%s", "");
	top_add(t, 1, NULL, NULL, "%-16s %-12s %-10s %-10s %-12s %s", "LAUNCHED", "ROLE",
	    "STATE", "TASKS", "TYPE", "TMUX WINDOW");
	cJSON_ArrayForEach(a, jarr(s, "launched")) {
		top_add(t, 0, NULL, NULL, "%-16s %-12s %-10s %-10s %-12s %s", jstr(a, "name"),
		    jstr(a, "role"), jstr(a, "now"), top_join(jarr(a, "tasks"), b1, sizeof b1),
		    jstr(a, "type"), jstr(a, "window"));
	}
	if (cJSON_GetArraySize(jarr(s, "launched")) <= 0)
		top_add(t, 0, NULL, NULL, "No agent was started by baton launch.");
}

static void
top_locks(struct top *t, const cJSON *s)
{
	const cJSON *l, *h, *w;
	char b1[16], b2[16];
	int i;

	top_add(t, 1, NULL, NULL, "%-28s %-10s %s", "LOCK", "MODE", "HOLDERS / QUEUE");
	cJSON_ArrayForEach(l, jarr(s, "locks")) {
		top_add(t, 0, cJSON_GetArraySize(jarr(l, "holders")) > 0 ? "lock" : NULL,
		    jstr(l, "name"), "%-28s %-10s %d held, %d waiting", jstr(l, "name"),
		    jstr(l, "mode"), cJSON_GetArraySize(jarr(l, "holders")),
		    cJSON_GetArraySize(jarr(l, "waiters")));
		cJSON_ArrayForEach(h, jarr(l, "holders")) {
			top_add(t, 0, "lock", jstr(l, "name"),
			    "    held by %s, fence %.0f, for %s%s%s%s%s", jstr(h, "agent"),
			    jnum(h, "fence"), top_secs(jnum(h, "age_seconds"), b1, sizeof b1),
			    jnum(h, "expires_in_seconds") >= 0 ? ", expires in " : "",
			    jnum(h, "expires_in_seconds") >= 0
				? top_secs(jnum(h, "expires_in_seconds"), b2, sizeof b2)
				: "",
			    *jstr(h, "reason") != '\0' ? ": " : "", jstr(h, "reason"));
		}
		i = 1;
		cJSON_ArrayForEach(w, jarr(l, "waiters")) {
			top_add(t, jnum(w, "waited_seconds") >= t->vo.wait_warn ? 2 : 0, "lock",
			    jstr(l, "name"), "    %d. %s waits (%s), for %s", i++,
			    jstr(w, "agent"), jstr(w, "mode"),
			    top_secs(jnum(w, "waited_seconds"), b1, sizeof b1));
		}
	}
	if (t->nlines == 1)
		top_add(t, 0, NULL, NULL, "No lock is held or waited for.");
}

static void
top_tasks(struct top *t, const cJSON *s)
{
	static const char *const order[] = { "review", "in_progress", "todo", "blocked", "done",
		"cancelled" };
	const cJSON *k;
	char b1[256];
	size_t i;

	for (i = 0; i < nitems(order); i++) {
		top_add(t, 1, NULL, NULL, "%s", order[i]);
		cJSON_ArrayForEach(k, jarr(s, "tasks")) {
			if (strcmp(jstr(k, "status"), order[i]) != 0)
				continue;
			top_add(t, 0, i == 0 ? "review" : "task", jstr(k, "id"),
			    "  %-5s %-44.44s %-8s %-12s%s%s", jstr(k, "id"), jstr(k, "title"),
			    jstr(k, "priority"), jstr(k, "owner"),
			    cJSON_GetArraySize(jarr(k, "depends_on")) > 0 ? " after " : "",
			    top_join(jarr(k, "depends_on"), b1, sizeof b1));
		}
	}
}

static void
top_messages(struct top *t, const cJSON *s)
{
	const cJSON *d, *e;

	top_add(t, 1, NULL, NULL, "DISCUSSIONS");
	cJSON_ArrayForEach(d, jarr(s, "discussions")) {
		top_add(t, 0, "discussion", jstr(d, "started_by"),
		    "  %-4s %-8s %-40.40s waiting on %s", jstr(d, "id"), jstr(d, "status"),
		    jstr(d, "topic"),
		    *jstr(d, "waiting_on") != '\0' ? jstr(d, "waiting_on") : "nobody");
	}
	top_add(t, 1, NULL, NULL, "MESSAGES (from the audit log)");
	for (e = jarr(s, "log") != NULL ? jarr(s, "log")->child : NULL; e != NULL;
	     e = e->next) {
		if (strcmp(jstr(e, "op"), "message_send") == 0)
			top_add(t, 0, NULL, NULL, "  %s -> %s: %s", jstr(e, "agent"),
			    jstr(e, "key"), jstr(e, "summary"));
	}
}

static void
top_timeline(struct top *t, const cJSON *s)
{
	const cJSON *log = jarr(s, "log");
	const cJSON *e;
	int i;

	for (i = cJSON_GetArraySize(log) - 1; i >= 0; i--) {
		e = cJSON_GetArrayItem(log, i);
		top_add(t, 0, NULL, NULL, "%6.0f %.8s %-14s %-16s %s %s: %s", jnum(e, "rev"),
		    strlen(jstr(e, "at")) > 11 ? jstr(e, "at") + 11 : jstr(e, "at"),
		    jstr(e, "agent"), jstr(e, "op"), jstr(e, "kind"), jstr(e, "key"),
		    jstr(e, "summary"));
	}
}

static void
top_health(struct top *t, const cJSON *s)
{
	const cJSON *st = jarr(s, "status"), *pi = jarr(s, "project_info");
	char b[16];

	top_add(t, 0, NULL, NULL, "broker     batond %s, pid %.0f, up %s", jstr(st, "version"),
	    jnum(st, "pid"), top_secs(jnum(st, "uptime_seconds"), b, sizeof b));
	top_add(t, 0, NULL, NULL, "durability %s", jstr(st, "durability"));
	if (*jstr(st, "store_error") != '\0')
		top_add(t, 2, NULL, NULL, "saving     NOT SAVING: %s", jstr(st, "store_error"));
	else if (*jstr(st, "fold_error") != '\0')
		top_add(t, 2, NULL, NULL, "saving     NOT FOLDED: %s (safe in the journal)",
		    jstr(st, "fold_error"));
	else
		top_add(t, 0, NULL, NULL, "saving     yes");
	top_add(t, 0, NULL, NULL, "database   %.1f MB",
	    jnum(s, "db_bytes") >= 0 ? jnum(s, "db_bytes") / 1048576 : 0);
	top_add(t, 0, NULL, NULL, "revision   %.0f", jnum(st, "revision"));
	top_add(t, 0, NULL, NULL, "sessions   %.0f, %.0f in this project", jnum(st, "sessions"),
	    jnum(st, "project_sessions"));
	top_add(t, 0, NULL, NULL, "locks      %.0f held, %.0f waiting", jnum(st, "locks"),
	    jnum(st, "waiters"));
	top_add(t, 0, NULL, NULL, "project    %s (%s)", jstr(s, "project"), jstr(pi, "status"));
}

static void
top_worktrees(struct top *t, const cJSON *s)
{
	const cJSON *w;
	int gone;

	top_add(t, 1, NULL, NULL, "%-16s %-16s %-6s %-24s %-8s %s", "WORKTREE", "OWNER", "TASK",
	    "BRANCH", "STATE", "OWNER IS");
	cJSON_ArrayForEach(w, jarr(s, "worktrees")) {
		gone = !cJSON_IsTrue(jarr(w, "owner_here"));
		top_add(t, gone && strcmp(jstr(w, "state"), "merged") != 0 ? 2 : 0, NULL, NULL,
		    "%-16s %-16s %-6s %-24s %-8s %s", jstr(w, "name"), jstr(w, "agent"),
		    jstr(w, "task"), jstr(w, "branch"), jstr(w, "state"),
		    gone ? "gone" : "here");
	}
	if (t->nlines == 1)
		top_add(t, 0, NULL, NULL, "No worktree (baton worktree create makes one).");
}

/* The lines of the view shown, from the snapshot. */
static void
top_build(struct top *t, enum top_view v)
{
	top_clear(t);
	if (t->snap == NULL) {
		top_add(t, 2, NULL, NULL, "no data: %s", t->err);
		return;
	}
	switch (v) {
	case V_NEEDS: top_needs(t, t->snap); break;
	case V_AGENTS: top_agents(t, t->snap); break;
	case V_LOCKS: top_locks(t, t->snap); break;
	case V_TASKS: top_tasks(t, t->snap); break;
	case V_MESSAGES: top_messages(t, t->snap); break;
	case V_TIMELINE: top_timeline(t, t->snap); break;
	case V_HEALTH: top_health(t, t->snap); break;
	case V_WORKTREES: top_worktrees(t, t->snap); break;
	case V_COUNT: break;
	}
}

/* ---- the broker ---- */

/* Take a fresh snapshot (kept on failure, with the error said). */
static void
top_snapshot(struct top *t)
{
	struct op_error err;
	cJSON *s;

	memset(&err, 0, sizeof err);
	if (t->c.fd == -1 && conn_open(&t->c, &t->opts, &err) != 0) {
		snprintf(t->err, sizeof t->err, "%s", err.message);
		return;
	}
	if ((s = view_snapshot(&t->c, &t->vo, &err)) == NULL) {
		snprintf(t->err, sizeof t->err, "%s", err.message);
		conn_close(&t->c);
		return;
	}
	cJSON_Delete(t->snap);
	t->snap = s;
	t->err[0] = '\0';
}

/* Subscribe the feed connection to the project's log. */
static void
top_watch(struct top *t)
{
	static const unsigned char none[] = { 0x80 };
	const msgpack_object *r;
	struct op_error err;
	msgpack_unpacked u;

	memset(&err, 0, sizeof err);
	if (conn_open(&t->w, &t->opts, &err) != 0)
		return;
	msgpack_unpacked_init(&u);
	t->watching = conn_call(&t->w, "log_subscribe", none, sizeof none, &u, &r, &err) == 0;
	msgpack_unpacked_destroy(&u);
	if (!t->watching)
		conn_close(&t->w);
}

/* Read what the feed sent; 1 when an entry came (time to refresh). */
static int
top_feed(struct top *t)
{
	struct op_error err;
	msgpack_unpacked u;
	int changed = 0, r;

	for (;;) {
		msgpack_unpacked_init(&u);
		memset(&err, 0, sizeof err);
		r = conn_read_frame(&t->w, &u, 0, &err);
		if (r == 0 && mp_frame_type(&u.data) == FRAME_PUSH)
			changed = 1;
		msgpack_unpacked_destroy(&u);
		if (r != 0) {
			if (err.code != NULL && strcmp(err.code, ERR_TIMEOUT) != 0) {
				conn_close(&t->w); /* the broker went: poll it again later */
				t->watching = 0;
				changed = 1;
			}
			return (changed);
		}
	}
}

/* Run an action on the selected object; its outcome in t->note. */
static void
top_act(struct top *t, cJSON *req)
{
	struct op_error err;
	cJSON *r;

	memset(&err, 0, sizeof err);
	if (t->c.fd == -1 && conn_open(&t->c, &t->opts, &err) != 0) {
		snprintf(t->note, sizeof t->note, "%s", err.message);
		cJSON_Delete(req);
		return;
	}
	r = view_action(&t->c, req, &t->vo, &err);
	if (r == NULL)
		snprintf(t->note, sizeof t->note, "refused: %s", err.message);
	else
		snprintf(t->note, sizeof t->note, "done: %s %s", jstr(req, "action"),
		    *jstr(req, "name") != '\0'     ? jstr(req, "name")
			: *jstr(req, "id") != '\0' ? jstr(req, "id")
						   : jstr(req, "to"));
	cJSON_Delete(r);
	cJSON_Delete(req);
	top_snapshot(t);
}

/* ---- the terminal ---- */

/* A selectable line at or after i going by step (+1/-1), or i itself when none. */
static size_t
top_selectable(const struct top *t, size_t i, int step)
{
	size_t j = i;

	while (j < t->nlines) {
		if (t->lines[j].kind != NULL)
			return (j);
		if (step < 0 && j == 0)
			break;
		j = (size_t)((long)j + step);
	}
	return (i < t->nlines && t->lines[i].kind != NULL ? i : SIZE_MAX);
}

/* Rebuild the view's lines, keeping the selection on the same object. */
static void
top_rebuild(struct top *t)
{
	char *kind = NULL, *key = NULL;
	size_t i;

	if (t->sel < t->nlines && t->lines[t->sel].key != NULL) {
		kind = xstrdup(t->lines[t->sel].kind);
		key = xstrdup(t->lines[t->sel].key);
	}
	top_build(t, t->view);
	t->sel = top_selectable(t, 0, 1);
	for (i = 0; key != NULL && i < t->nlines; i++) {
		if (t->lines[i].key != NULL && strcmp(t->lines[i].key, key) == 0 &&
		    strcmp(t->lines[i].kind, kind) == 0) {
			t->sel = i;
			break;
		}
	}
	free(kind);
	free(key);
}

/* Draw everything. */
static void
top_draw(struct top *t)
{
	int rows = LINES - 4, r, x = 0;
	size_t i, need = cJSON_GetArraySize(jarr(t->snap, "needs"));
	char head[512];

	erase();
	snprintf(head, sizeof head, "baton top  %s  %s  revision %.0f",
	    t->snap != NULL ? jstr(t->snap, "project") : "?",
	    t->watching ? "live" : "disconnected",
	    t->snap != NULL ? jnum(t->snap, "revision") : 0);
	attron(A_BOLD);
	mvaddnstr(0, 0, head, COLS);
	attroff(A_BOLD);
	for (i = 0; i < V_COUNT; i++) {
		snprintf(head, sizeof head, " %zu %s", i + 1, top_view_names[i]);
		if (i == V_NEEDS && need > 0)
			snprintf(head + strlen(head), sizeof head - strlen(head), " (%zu)",
			    need);
		if (i == t->view)
			attron(A_REVERSE);
		mvaddnstr(1, x, head, COLS - x > 0 ? COLS - x : 0);
		attroff(A_REVERSE);
		x += (int)strlen(head) + 1;
	}
	if (t->sel != SIZE_MAX && t->sel < t->top)
		t->top = t->sel;
	if (t->sel != SIZE_MAX && rows > 0 && t->sel >= t->top + (size_t)rows)
		t->top = t->sel - (size_t)rows + 1;
	for (r = 0, i = t->top; i < t->nlines && r < rows; i++, r++) {
		int a = t->lines[i].attr != 0 ? A_BOLD : 0;

		if (i == t->sel)
			a |= A_REVERSE;
		attron(a);
		mvaddnstr(2 + r, 0, t->lines[i].text, COLS);
		attroff(a);
	}
	mvaddnstr(LINES - 2, 0, t->err[0] != '\0' ? t->err : t->note, COLS);
	attron(A_REVERSE);
	mvaddnstr(LINES - 1, 0,
	    "q quit  1-8/Tab views  j/k select  b break lock  a approve  c request changes  "
	    "m message  r refresh",
	    COLS);
	attroff(A_REVERSE);
	refresh();
}

/* Ask for a line at the bottom; 0, or -1 when left empty and required. */
static int
top_prompt(const char *label, char *buf, size_t len, int required)
{
	move(LINES - 2, 0);
	clrtoeol();
	mvaddnstr(LINES - 2, 0, label, COLS);
	echo();
	curs_set(1);
	nodelay(stdscr, FALSE);
	buf[0] = '\0';
	getnstr(buf, (int)len - 1);
	nodelay(stdscr, TRUE);
	noecho();
	curs_set(0);
	return (required && buf[0] == '\0' ? -1 : 0);
}

/* An action on the selected line (kind wanted), from the key pressed. */
static void
top_key_act(struct top *t, int ch)
{
	const struct top_line *l = t->sel < t->nlines ? &t->lines[t->sel] : NULL;
	char a[1024], b[4096];
	cJSON *req = cJSON_CreateObject();

	if (ch == 'b' && l != NULL && strcmp(l->kind, "lock") == 0) {
		snprintf(b, sizeof b, "break %s; reason: ", l->key);
		if (top_prompt(b, a, sizeof a, 1) == 0) {
			cJSON_AddStringToObject(req, "action", "break");
			cJSON_AddStringToObject(req, "name", l->key);
			cJSON_AddStringToObject(req, "reason", a);
			top_act(t, req);
			return;
		}
	} else if ((ch == 'a' || ch == 'c') && l != NULL && strcmp(l->kind, "review") == 0) {
		snprintf(b, sizeof b,
		    "%s %s; %s: ", ch == 'a' ? "approve" : "request changes on", l->key,
		    ch == 'a' ? "feedback (Enter: none)" : "what to change");
		if (top_prompt(b, a, sizeof a, ch == 'c') == 0) {
			cJSON_AddStringToObject(req, "action",
			    ch == 'a' ? "approve" : "request_changes");
			cJSON_AddStringToObject(req, "id", l->key);
			cJSON_AddStringToObject(req, "feedback", a);
			top_act(t, req);
			return;
		}
	} else if (ch == 'm') {
		if (top_prompt("message to (an agent, role:ROLE or all): ", a, sizeof a, 1) ==
			0 &&
		    top_prompt("message: ", b, sizeof b, 1) == 0) {
			cJSON_AddStringToObject(req, "action", "message");
			cJSON_AddStringToObject(req, "to", a);
			cJSON_AddStringToObject(req, "body", b);
			top_act(t, req);
			return;
		}
	} else
		snprintf(t->note, sizeof t->note, "select %s first",
		    ch == 'b' ? "a lock (3)" : "a task in review (4, or 1)");
	cJSON_Delete(req);
}

/* One key; 1 to quit. */
static int
top_key(struct top *t, int ch)
{
	size_t s;

	switch (ch) {
	case 'q':
	case 'Q': return (1);
	case '\t': t->view = (t->view + 1) % V_COUNT; break;
	case 'r': top_snapshot(t); break;
	case 'j':
	case KEY_DOWN:
		if ((s = top_selectable(t, t->sel + 1, 1)) != SIZE_MAX && s > t->sel)
			t->sel = s;
		return (0);
	case 'k':
	case KEY_UP:
		if (t->sel > 0 && t->sel != SIZE_MAX &&
		    (s = top_selectable(t, t->sel - 1, -1)) != SIZE_MAX && s < t->sel)
			t->sel = s;
		return (0);
	case 'b':
	case 'a':
	case 'c':
	case 'm': top_key_act(t, ch); break;
	default:
		if (ch >= '1' && ch < '1' + V_COUNT) {
			t->view = (enum top_view)(ch - '1');
			t->top = 0;
			t->sel = SIZE_MAX;
		}
		break;
	}
	top_rebuild(t);
	return (0);
}

/* The terminal loop: keys, the feed, a refresh every TOP_REFRESH_MS. */
static void
top_loop(struct top *t)
{
	struct pollfd pfd[2];
	double next = 0, soon = 0, now;
	int ch, n;

	for (;;) {
		now = mono_now();
		if (now >= next || (soon > 0 && now >= soon)) {
			if (!t->watching)
				top_watch(t);
			top_snapshot(t);
			top_rebuild(t);
			next = now + TOP_REFRESH_MS / 1000.0;
			soon = 0;
		}
		top_draw(t);
		pfd[0].fd = STDIN_FILENO;
		pfd[0].events = POLLIN;
		pfd[1].fd = t->watching ? t->w.fd : -1;
		pfd[1].events = POLLIN;
		n = poll(pfd, 2, (int)(((soon > 0 ? soon : next) - mono_now()) * 1000) + 1);
		if (n < 0 && errno != EINTR)
			fatal("poll");
		while ((ch = getch()) != ERR) {
			if (top_key(t, ch))
				return;
		}
		if (n > 0 && pfd[1].revents != 0 && top_feed(t) && soon == 0)
			soon = mono_now() + TOP_SOON_MS / 1000.0;
	}
}

/* --once: every view as text on stdout. */
static int
top_once(struct top *t)
{
	size_t i;
	enum top_view v;

	top_snapshot(t);
	if (t->snap == NULL) {
		cli_err("%s", t->err);
		return (EXIT_UNAVAILABLE);
	}
	for (v = 0; v < V_COUNT; v++) {
		top_build(t, v);
		printf("== %s ==\n", top_view_names[v]);
		for (i = 0; i < t->nlines; i++)
			printf("%s\n", t->lines[i].text);
		printf("\n");
	}
	return (cli_flush(0));
}

static int
top_exec(const struct cmd_entry *ce, const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, '1' },
		{ "wait-warn", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct top *t = xcalloc(1, sizeof *t);
	int ch, once = 0, rc;

	t->opts = *o;
	t->opts.kind = "top";
	if (t->opts.agent == NULL)
		t->opts.agent = "operator";
	t->vo.operator= t->opts.agent;
	t->vo.wait_warn = 300;
	t->vo.timeout_ms = TOP_TIMEOUT_MS;
	t->c.fd = t->w.fd = -1;
	t->sel = SIZE_MAX;
	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case '1': once = 1; break;
		case 'w':
			if (cli_seconds("--wait-warn", optarg, 86400, &t->vo.wait_warn) != 0) {
				free(t);
				return (EXIT_USAGE);
			}
			break;
		case 'h':
			free(t);
			help_command(stdout, ce);
			return (cli_flush(0));
		default: free(t); return (cli_opt_err(ce, ch, argv));
		}
	}
	if (once)
		rc = top_once(t);
	else if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		cli_err("top needs a terminal; --once prints one snapshot without one");
		rc = EXIT_USAGE;
	} else {
		top_snapshot(t); /* a broker that is not there: say so before the screen */
		if (t->snap == NULL) {
			cli_err("%s", t->err);
			rc = EXIT_UNAVAILABLE;
		} else {
			t->opts.autostart = 0; /* a broker stopped later stays stopped */
			initscr();
			cbreak();
			noecho();
			keypad(stdscr, TRUE);
			nodelay(stdscr, TRUE);
			curs_set(0);
			top_loop(t);
			endwin();
			rc = 0;
		}
	}
	top_clear(t);
	cJSON_Delete(t->snap);
	if (t->c.fd != -1)
		conn_close(&t->c);
	if (t->w.fd != -1)
		conn_close(&t->w);
	free(t);
	return (rc);
}
