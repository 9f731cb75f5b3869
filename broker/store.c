/*
 * The SQLite checkpoint (DESIGN §8).  State lives in memory; modules
 * call store_mark(kind, key) when an object changes, and the commit
 * event writes every marked row in one transaction: the module's pack()
 * gives the row's current msgpack image, or says the object is gone and
 * the row is deleted.  So a checkpoint costs what changed, not the size
 * of the state.
 *
 * strict: the first change of a loop iteration activates the commit
 * event, which libevent runs after the callbacks already active (every
 * peer that was readable, every timer that was due: they are queued
 * before any runs), in the same pass and without another poll; frames
 * queued for peers meanwhile are held (server.c) until the commit's
 * group is in the journal (journal.c: one write(), folded into SQLite
 * by a thread of its own): one group per iteration (group commit), no
 * acknowledgement before durability.  A change made by a callback activated later in
 * the pass activates the commit again.  relaxed: a timer commits; replies go at once.
 * none: no file.
 *
 * Revisions (fences, versions) come from a ceiling persisted ahead of
 * use: restarting at the stored ceiling never hands out a revision
 * twice, even after a crash in relaxed mode.  So the revision counter
 * lives here, with the ceiling that keeps it honest.
 *
 * A database that lost what it held (emptied, replaced by an older copy,
 * gone) would restart the revisions lower, and its state silently older.
 * So the ceiling, and the revision when it was written, are also kept
 * beside the database in STATE/state.revision (STORE_MARK), rewritten
 * after each commit that raises the ceiling and at a stop, and always
 * after the database: a database whose figures are below the mark's is
 * refused (--accept-state goes on from it, above the mark).
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "broker.h"

#define STORE_RELAXED_MS 50
#define STORE_CEILING_STEP 65536
#define STORE_MARK "state.revision" /* the revision record beside state.db */
#define STORE_RECOVER_HINT \
	"To recover: with no batond running, `baton export -o " \
	"state.json` saves every row that can still be read; move the file away and " \
	"`baton import state.json` loads the rows back"

struct dirty {
	const struct store_kind *kind;
	UT_hash_handle hh;
	char id[]; /* kind index byte + key */
};

enum durability durability = DURABILITY_STRICT;
static sqlite3 *db;
static sqlite3_stmt *st_put, *st_del, *st_meta;
static struct dirty *dirty;
static struct event *commit_ev;
static int commit_pending;
static uint64_t ceiling;       /* revisions below it may be handed out */
static uint64_t ceiling_saved; /* ... as stored in the database */
static uint64_t recorded;      /* the revision stored with it (and in the mark) */
static char *mark_path;        /* STATE/STORE_MARK: store_open's only */
static int mark_sync;          /* --fsync: the mark too */
static char *store_error;      /* last commit failure, for status */
static uint64_t commits, rows_written;
static void (*commit_hook)(void); /* client.c: release the frames held for a commit */
static const struct store_writer *flush_hook; /* feed.c: rows of its own table */
uint64_t revision;                            /* the global revision: last one handed out */

/* Every kind of state, in restore order (sessions before what they hold). */
static const struct store_kind *const kinds[] = {
	&session_store_kind,
	&lock_store_kind,
	&note_store_kind,
	&counter_store_kind,
	&event_store_kind,
	&project_store_kind,
	&task_store_kind,
	&mproject_store_kind,
	&message_store_kind,
	&mbox_store_kind,
	&discussion_store_kind,
	&presence_store_kind,
	&notice_store_kind,
	&worktree_store_kind,
	&launch_store_kind,
	&queue_store_kind,
};

/*
 * The schema, one step per version: step i takes user_version i to i + 1.
 * A new schema is one more entry, applied with the others in one
 * transaction by store_schema.
 */
static const char *const migrations[] = {
	/* 0 -> 1: the first schema */
	"CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS objects(kind TEXT NOT NULL, key BLOB NOT NULL,"
	" data BLOB NOT NULL, PRIMARY KEY(kind, key)) WITHOUT ROWID;",
};
#define STORE_SCHEMA ((int)nitems(migrations))

static int
store_exec(sqlite3 *h, const char *sql, char **cause)
{
	char *err = NULL;

	if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", sql, err != NULL ? err : sqlite3_errmsg(h));
		sqlite3_free(err);
		return (-1);
	}
	return (0);
}

static int
store_prepare(sqlite3 *h, const char *sql, sqlite3_stmt **st, char **cause)
{
	if (sqlite3_prepare_v3(h, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", sql, sqlite3_errmsg(h));
		return (-1);
	}
	return (0);
}

/* The schema this batond writes. */
int
store_schema_version(void)
{
	return (STORE_SCHEMA);
}

/* The schema version of database h: its user_version. */
int
store_user_version(sqlite3 *h, int *version, char **cause)
{
	sqlite3_stmt *st;
	int rc;

	*version = 0;
	if (store_prepare(h, "PRAGMA user_version", &st, cause) != 0)
		return (-1);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		xasprintf(cause, "reading the schema version: %s", sqlite3_errmsg(h));
		return (-1);
	}
	return (0);
}

/* Create or migrate the schema of h; refuse a database from a newer baton. */
static int
store_schema(sqlite3 *h, char **cause)
{
	char *sql, *next;
	int version, v;

	if (store_user_version(h, &version, cause) != 0)
		return (-1);
	if (version > STORE_SCHEMA) {
		xasprintf(cause,
		    "state.db has schema %d, newer than this batond (%d); run the "
		    "newer batond, or move state.db away to start empty",
		    version, STORE_SCHEMA);
		return (-1);
	}
	if (version == STORE_SCHEMA)
		return (0);
	sql = xstrdup("BEGIN;");
	for (v = version; v < STORE_SCHEMA; v++) {
		xasprintf(&next, "%s%sPRAGMA user_version = %d;", sql, migrations[v], v + 1);
		free(sql);
		sql = next;
	}
	xasprintf(&next, "%sCOMMIT;", sql);
	free(sql);
	if (store_exec(h, next, cause) != 0) {
		sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
		free(next);
		return (-1);
	}
	free(next);
	return (0);
}

/* Read one meta value of database h (0 when absent). */
int
store_meta_get(sqlite3 *h, const char *name, uint64_t *v, char **cause)
{
	sqlite3_stmt *st;
	int rc;

	*v = 0;
	if (store_prepare(h, "SELECT value FROM meta WHERE name = ?", &st, cause) != 0)
		return (-1);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		xasprintf(cause, "reading %s: %s", name, sqlite3_errmsg(h));
		return (-1);
	}
	return (0);
}

static void store_commit_cb(evutil_socket_t, short, void *);
static int store_put_revision(uint64_t, uint64_t, char **);
static int store_load_ceiling(char **);

/* Does quick_check find h sound?  0, or -1 with what it found. */
static int
store_check(sqlite3 *h, char **cause)
{
	sqlite3_stmt *st;
	const char *what;
	int rc;

	if (store_prepare(h, "PRAGMA quick_check(1)", &st, cause) != 0)
		return (-1);
	rc = sqlite3_step(st);
	what = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (rc == SQLITE_ROW && what != NULL && strcmp(what, "ok") == 0) {
		sqlite3_finalize(st);
		return (0);
	}
	xasprintf(cause, "integrity check: %s", what != NULL ? what : sqlite3_errmsg(h));
	sqlite3_finalize(st);
	return (-1);
}

/* Is a SQLite error one of the file's surroundings (permissions, room), not its content? */
static int
store_cannot_write(int code)
{
	return (code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM ||
	    code == SQLITE_FULL);
}

/*
 * Open (creating 0600) the database at path, check it can be trusted,
 * create or migrate its schema, take its lock for good and load the
 * revision ceiling.  Nothing is restored yet: see store_restore.
 */
int
store_open_file(const char *path, int full_sync, char **cause)
{
	char *c;
	int fd;

	/* create it 0600 (a team's: 0660) ourselves: sqlite would honour the umask */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, path_file_mode);
	if (fd == -1) {
		xasprintf(cause,
		    "cannot open %s: %s (check the state directory's permissions "
		    "and free space)",
		    path, strerror(errno));
		return (-1);
	}
	fchmod(fd, path_file_mode); /* fails harmlessly on another member's file */
	close(fd);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		xasprintf(cause, "cannot open %s: %s", path, sqlite3_errmsg(db));
		return (-1);
	}
	sqlite3_busy_timeout(db, 200);
	/*
	 * Only this broker opens the file (it holds SOCKET.lock for life), so
	 * SQLite may keep its lock instead of taking and dropping POSIX locks
	 * around every transaction; set before WAL so no shared memory is used.
	 * The empty exclusive transaction takes that lock now, so `batond
	 * --export` or --import on this file finds it busy from the start.
	 */
	if (store_exec(db, "PRAGMA locking_mode=EXCLUSIVE", cause) != 0 ||
	    store_exec(db, "PRAGMA journal_mode=WAL", cause) != 0 ||
	    store_exec(db, full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
		cause) != 0 ||
	    store_check(db, cause) != 0 || store_schema(db, cause) != 0 ||
	    store_exec(db, "BEGIN EXCLUSIVE; COMMIT", cause) != 0) {
		c = *cause;
		if (sqlite3_errcode(db) == SQLITE_BUSY || sqlite3_errcode(db) == SQLITE_LOCKED)
			xasprintf(cause,
			    "%s is in use by another batond; give each broker its "
			    "own state directory (-D or BATON_STATE_DIR)",
			    path);
		else if (store_cannot_write(sqlite3_errcode(db)))
			xasprintf(cause,
			    "cannot write %s: %s; nothing is wrong with the database, but "
			    "batond must write it and its WAL file beside it: make the file "
			    "and its directory writable by you and give the disk room, or "
			    "use another state directory (-D or BATON_STATE_DIR)",
			    path, c);
		else
			xasprintf(cause,
			    "%s is not usable: %s; batond will not start on a "
			    "database it cannot trust. %s",
			    path, c, STORE_RECOVER_HINT);
		free(c);
		return (-1);
	}
	if (store_prepare(db,
		"INSERT INTO objects(kind, key, data) VALUES(?, ?, ?) "
		"ON CONFLICT(kind, key) DO UPDATE SET data = excluded.data",
		&st_put, cause) != 0 ||
	    store_prepare(db, "DELETE FROM objects WHERE kind = ? AND key = ?", &st_del,
		cause) != 0 ||
	    store_prepare(db,
		"INSERT INTO meta(name, value) VALUES(?, ?) "
		"ON CONFLICT(name) DO UPDATE SET value = excluded.value",
		&st_meta, cause) != 0 ||
	    journal_attach(db, cause) != 0)
		return (-1);
	return (store_load_ceiling(cause));
}

/* The revision ceiling and the revision recorded with it, from the database. */
static int
store_load_ceiling(char **cause)
{
	if (store_meta_get(db, "revision_ceiling", &ceiling_saved, cause) != 0 ||
	    store_meta_get(db, "revision_recorded", &recorded, cause) != 0)
		return (-1);
	revision = ceiling_saved;
	ceiling = ceiling_saved;
	return (0);
}

/*
 * Read the mark in dir: 0 with its figures, 1 when there is none, -1
 * (cause) when it cannot be read.
 */
int
store_mark_read(const char *dir, uint64_t *ceil, uint64_t *rev, char **cause)
{
	unsigned long long c, r;
	char *path, buf[128];
	ssize_t n;
	int fd;

	*ceil = *rev = 0;
	xasprintf(&path, "%s/" STORE_MARK, dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 && errno == ENOENT) {
		free(path);
		return (1);
	}
	n = fd == -1 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd != -1)
		close(fd);
	if (n >= 0)
		buf[n] = '\0';
	if (n < 0 ||
	    sscanf(buf, "baton revision mark\nceiling %llu\nrevision %llu\n", &c, &r) != 2) {
		xasprintf(cause,
		    "cannot read %s (%s): it records the revision this state directory "
		    "reached; if state.db is the right database, remove it",
		    path, n < 0 ? strerror(errno) : "not a revision mark");
		free(path);
		return (-1);
	}
	free(path);
	*ceil = c;
	*rev = r;
	return (0);
}

/*
 * Write the database's figures to the mark, atomically (a new file
 * renamed over it); a mark that cannot be written is logged, not fatal:
 * it only ever lags the database.
 */
static void
store_mark_write(void)
{
	char *tmp, buf[128];
	int fd, n, ok;

	if (mark_path == NULL)
		return;
	xasprintf(&tmp, "%s.tmp", mark_path);
	n = snprintf(buf, sizeof buf, "baton revision mark\nceiling %llu\nrevision %llu\n",
	    (unsigned long long)ceiling_saved, (unsigned long long)recorded);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, path_file_mode);
	ok = fd != -1 && write(fd, buf, (size_t)n) == n && (!mark_sync || fsync(fd) == 0);
	if (fd != -1 && close(fd) != 0)
		ok = 0;
	if (!ok || rename(tmp, mark_path) != 0) {
		log_warn("store: cannot write %s", mark_path);
		unlink(tmp);
	}
	free(tmp);
}

/* Store the ceiling and the revision now as recorded, in a transaction of their own. */
static int
store_record(char **cause)
{
	if (store_exec(db, "BEGIN", cause) != 0)
		return (-1);
	if (store_put_revision(ceiling, revision, cause) != 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return (-1);
	}
	if (store_exec(db, "COMMIT", cause) != 0)
		return (-1);
	ceiling_saved = ceiling;
	recorded = revision;
	store_mark_write();
	return (0);
}

/*
 * Close the database without writing anything more: refused, or the
 * start-up failed (before whoever started batond hears why, so that a
 * start right after does not find the database still locked).
 */
void
store_forget(void)
{
	journal_close(); /* its statements and its thread go before the database closes */
	sqlite3_finalize(st_put);
	sqlite3_finalize(st_del);
	sqlite3_finalize(st_meta);
	st_put = st_del = st_meta = NULL;
	sqlite3_close(db);
	db = NULL;
}

/*
 * The database at path holds less than the mark in dir recorded (cr,
 * rr): why batond will not start on it, with both figures and what to do.
 */
static void
store_behind(const char *dir, const char *path, int missing, uint64_t cr, uint64_t rr,
    char **cause)
{
	char *what;

	if (missing)
		xasprintf(&what, "%s is missing", path);
	else
		xasprintf(&what, "%s holds revision %llu (ceiling %llu)", path,
		    (unsigned long long)recorded, (unsigned long long)ceiling_saved);
	xasprintf(cause,
	    "%s, behind what this state directory recorded in " STORE_MARK ": revision "
	    "%llu (ceiling %llu). It was emptied, replaced or restored from an older copy; "
	    "starting on it would lose state and reuse fences, so nothing was changed. "
	    "Recover with no batond running: put the right state.db back, or `baton import "
	    "--replace FILE` from an export; or go on from it as it is (revisions above "
	    "%llu): `batond -D %s --accept-state`",
	    what, (unsigned long long)rr, (unsigned long long)cr, (unsigned long long)cr, dir);
	free(what);
}

/*
 * Can batond create files in dir?  Said plainly, before SQLite says it
 * in its own words.
 */
static int
store_dir_writable(const char *dir, char **cause)
{
	struct statvfs sv;

	if (statvfs(dir, &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
		xasprintf(cause,
		    "the state directory %s is on a read-only file system: batond writes "
		    "state.db and its WAL file there; remount it read-write or use another "
		    "state directory (-D or BATON_STATE_DIR)",
		    dir);
		return (-1);
	}
	if (access(dir, W_OK | X_OK) != 0) {
		xasprintf(cause,
		    "the state directory %s is not writable by you (%s): batond writes "
		    "state.db and its WAL file there; make it writable (chmod u+rwx %s) or "
		    "use another state directory (-D or BATON_STATE_DIR)",
		    dir, strerror(errno), dir);
		return (-1);
	}
	return (0);
}

/*
 * Open dir/state.db (see store_open_file), unless nothing is kept, and
 * hold it to the mark beside it: a database missing, emptied or behind
 * is refused, unless accept (then the revisions go on above the mark).
 */
int
store_open(const char *dir, int full_sync, int accept, char **cause)
{
	struct stat sb;
	uint64_t cr, rr, folded;
	char *path;
	int mark, missing, empty;

	if (durability == DURABILITY_NONE)
		return (0);
	if (store_dir_writable(dir, cause) != 0 ||
	    (mark = store_mark_read(dir, &cr, &rr, cause)) == -1)
		return (-1);
	xasprintf(&path, "%s/state.db", dir);
	missing = lstat(path, &sb) != 0 && errno == ENOENT;
	empty = missing || (S_ISREG(sb.st_mode) && sb.st_size == 0);
	if (mark == 0 && empty && (cr > 0 || rr > 0) && !accept) {
		recorded = ceiling_saved = 0;
		store_behind(dir, path, missing, cr, rr, cause);
		free(path);
		return (-1);
	}
	/* what the journal holds goes in before anything is read or compared */
	if (store_open_file(path, full_sync, cause) != 0 ||
	    store_meta_get(db, "journal_folded", &folded, cause) != 0 ||
	    journal_open(path, full_sync, folded, cause) != 0 ||
	    store_load_ceiling(cause) != 0) {
		free(path);
		return (-1);
	}
	if (mark == 0 && (ceiling_saved < cr || recorded < rr) && !accept) {
		store_behind(dir, path, 0, cr, rr, cause);
		store_forget(); /* refused */
		free(path);
		return (-1);
	}
	free(path);
	xasprintf(&mark_path, "%s/" STORE_MARK, dir);
	mark_sync = full_sync;
	if (mark == 0 && (ceiling_saved < cr || recorded < rr)) {
		log_warnx("store: starting on a state.db behind %s (--accept-state): revisions "
			  "go on above %llu",
		    mark_path, (unsigned long long)cr);
		revision = ceiling = cr > ceiling_saved ? cr : ceiling_saved;
		return (store_record(cause));
	}
	if (mark == 1)
		store_mark_write();
	return (0);
}

/* Start committing: the commit event exists once the event base does. */
void
store_start(void)
{
	commit_ev = event_new(base, -1, 0, store_commit_cb, NULL);
	if (commit_ev == NULL)
		fatalx("cannot create the commit event");
}

/* Schedule the commit of this loop iteration's changes. */
void
store_touch(void)
{
	if (commit_pending || durability == DURABILITY_NONE || commit_ev == NULL)
		return;
	commit_pending = 1;
	if (durability == DURABILITY_STRICT)
		event_active(commit_ev, EV_TIMEOUT, 0);
	else
		timer_in(commit_ev, STORE_RELAXED_MS / 1000.0);
}

/* Remember that kind/key changed; it is written at the next commit. */
void
store_mark(const struct store_kind *kind, const char *key)
{
	struct dirty *d, *had;
	size_t klen = strlen(key), idx;
	unsigned hv;

	if (durability == DURABILITY_NONE || restoring)
		return;
	for (idx = 0; idx < nitems(kinds) && kinds[idx] != kind; idx++)
		;
	if (idx == nitems(kinds))
		fatalx("store_mark: unregistered kind %s", kind->name);
	/* one allocation, the id in it: a lock pair marks four rows */
	d = xmalloc(sizeof *d + klen + 2);
	memset(d, 0, sizeof *d);
	d->id[0] = (char)('A' + idx);
	memcpy(d->id + 1, key, klen + 1);
	HASH_VALUE(d->id, klen + 1, hv); /* once, for the look-up and the add */
	HASH_FIND_BYHASHVALUE(hh, dirty, d->id, klen + 1, hv, had);
	if (had != NULL)
		free(d);
	else {
		d->kind = kind;
		HASH_ADD_KEYPTR_BYHASHVALUE(hh, dirty, d->id, klen + 1, hv, d);
	}
	store_touch();
}

/* Write a table of one's own in every commit (feed.c: the audit log). */
void
store_on_flush(const struct store_writer *hook)
{
	flush_hook = hook;
}

/* The database, for a module with a table of its own (NULL: none kept). */
struct sqlite3 *
store_db(void)
{
	return (db);
}

/* Call fn after every commit (client.c sends the frames held for it). */
void
store_on_commit(void (*fn)(void))
{
	commit_hook = fn;
}

/* The revision ceiling must stay ahead of what was handed out. */
static void
store_revision_used(uint64_t rev)
{
	if (durability == DURABILITY_NONE || rev < ceiling)
		return;
	ceiling = rev + STORE_CEILING_STEP;
	store_touch();
	if (durability == DURABILITY_RELAXED && commit_pending) {
		/* relaxed acknowledges before commit: persist the new ceiling now */
		event_del(commit_ev);
		store_commit_cb(-1, 0, NULL);
	}
}

/* Advance the global revision; every mutation calls this once. */
uint64_t
revision_next(void)
{
	store_revision_used(++revision);
	return (revision);
}

/* Are frames to peers to be held until the pending commit? */
int
store_holding(void)
{
	return (durability == DURABILITY_STRICT && commit_pending);
}

/* Put (data != NULL) or delete one row; 0, or -1 with SQLite's error in db. */
static int
store_put(const char *kind, const char *key, const void *data, size_t len)
{
	sqlite3_stmt *st = data != NULL ? st_put : st_del;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, key, (int)strlen(key), SQLITE_STATIC);
	if (data != NULL)
		sqlite3_bind_blob(st, 3, data, (int)len, SQLITE_STATIC);
	return (sqlite3_step(st) == SQLITE_DONE ? 0 : -1);
}

/*
 * One dirty row into the commit's group: its current image, or its
 * deletion.  fb is the commit's, emptied for each row.
 */
static void
store_write(struct dirty *d, struct fbuf *fb)
{
	const char *key = d->id + 1;
	int have;

	fbuf_reset(fb);
	have = d->kind->pack(d->kind, key, fb);
	if (fb->err) {
		log_warnx("store: cannot encode %s %s", d->kind->name, key);
		return;
	}
	journal_put(d->kind->name, key, have ? fb->sb.data + FRAME_HDR : NULL,
	    fb->sb.size - FRAME_HDR);
}

static int
store_put_meta(const char *name, uint64_t v)
{
	sqlite3_reset(st_meta);
	sqlite3_bind_text(st_meta, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st_meta, 2, (sqlite3_int64)v);
	return (sqlite3_step(st_meta) == SQLITE_DONE ? 0 : -1);
}

/*
 * Put the ceiling and the revision recorded with it, in the transaction
 * open; -1 with cause (the caller rolls back).
 */
static int
store_put_revision(uint64_t ceil, uint64_t rec, char **cause)
{
	if (store_put_meta("revision_ceiling", ceil) == 0 &&
	    store_put_meta("revision_recorded", rec) == 0)
		return (0);
	xasprintf(cause, "writing the revision: %s", sqlite3_errmsg(db));
	return (-1);
}

/*
 * Write rows into the database store_open_file opened, in one
 * transaction with a revision ceiling a step above floor, so that no
 * revision at or below floor is handed out again (batond --import);
 * 0, or -1 with cause.
 */
int
store_write_rows(const struct store_row *rows, size_t n, uint64_t floor, char **cause)
{
	uint64_t ceil = floor + STORE_CEILING_STEP;
	size_t i;

	if (store_exec(db, "BEGIN", cause) != 0)
		return (-1);
	for (i = 0; i < n; i++) {
		if (store_put(rows[i].kind->name, rows[i].key, rows[i].data, rows[i].len) !=
		    0) {
			xasprintf(cause, "writing %s %s: %s", rows[i].kind->name, rows[i].key,
			    sqlite3_errmsg(db));
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return (-1);
		}
	}
	if (store_put_revision(ceil, ceil, cause) != 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return (-1);
	}
	if (store_exec(db, "COMMIT", cause) != 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return (-1);
	}
	ceiling = ceiling_saved = revision = recorded = ceil;
	return (0);
}

/*
 * Commit what is pending now rather than at the end of the loop
 * iteration; 0, or -1 when the commit failed (it is retried as usual).
 */
static int
store_flush(char **cause)
{
	if (commit_pending || dirty != NULL) {
		if (commit_ev != NULL)
			event_del(commit_ev);
		store_commit_cb(-1, 0, NULL);
	}
	if (commit_pending) {
		xasprintf(cause, "cannot commit: %s", store_error != NULL ? store_error : "?");
		return (-1);
	}
	return (0);
}

/*
 * A consistent copy of the committed state in path, an empty file the
 * caller created (state_export); the copy's row count in *rows.
 */
int
store_snapshot(const char *path, uint64_t *rows, char **cause)
{
	sqlite3_stmt *st;
	char *sql;
	int rc;

	if (db == NULL) {
		xasprintf(cause,
		    "this broker keeps no database (--durability none): its state "
		    "lives only in memory and cannot be exported");
		return (-1);
	}
	if (store_flush(cause) != 0 || journal_drain(cause) != 0)
		return (-1);
	if (store_prepare(db, "SELECT count(*) FROM objects", &st, cause) != 0)
		return (-1);
	rc = sqlite3_step(st);
	*rows = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		xasprintf(cause, "counting rows: %s", sqlite3_errmsg(db));
		return (-1);
	}
	sql = sqlite3_mprintf("VACUUM INTO %Q", path);
	rc = store_exec(db, sql, cause);
	sqlite3_free(sql);
	return (rc);
}

/* The kind named name, or NULL. */
const struct store_kind *
store_kind_find(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(kinds); i++) {
		if (strcmp(kinds[i]->name, name) == 0)
			return (kinds[i]);
	}
	return (NULL);
}

/* The i-th kind in restore order, or NULL past the last. */
const struct store_kind *
store_kind_at(size_t i)
{
	return (i < nitems(kinds) ? kinds[i] : NULL);
}

/* One group with every dirty row into the journal, then release the held frames. */
static void
store_commit_cb(evutil_socket_t fd, short events, void *arg)
{
	struct dirty *d, *tmp;
	struct fbuf fb;
	size_t n = 0;
	char *cause = NULL;
	int raised;

	commit_pending = 0;
	fbuf_init(&fb);
	HASH_ITER(hh, dirty, d, tmp) {
		store_write(d, &fb);
		n++;
	}
	fbuf_free(&fb);
	raised = ceiling != ceiling_saved;
	if (raised) {
		journal_meta("revision_ceiling", ceiling);
		journal_meta("revision_recorded", revision);
	}
	if (flush_hook != NULL)
		flush_hook->write();
	if (journal_commit(&cause) != 0)
		goto fail;
	if (flush_hook != NULL)
		flush_hook->done();
	if (raised) {
		ceiling_saved = ceiling;
		recorded = revision;
		store_mark_write(); /* after the database: the mark never leads it */
	}
	HASH_ITER(hh, dirty, d, tmp) {
		HASH_DEL(dirty, d);
		free(d);
	}
	commits++;
	rows_written += n;
	if (store_error != NULL) {
		log_warnx("store: commits work again");
		free(store_error);
		store_error = NULL;
	}
	if (commit_hook != NULL)
		commit_hook();
	return;

fail:
	/*
	 * Nothing is acknowledged that is not durable: held frames stay
	 * held and the commit is retried until the disk takes it.
	 */
	if (store_error == NULL || strcmp(store_error, cause) != 0)
		log_warnx("store: commit failed, retrying: %s", cause);
	free(store_error);
	store_error = cause;
	commit_pending = 1;
	timer_in(commit_ev, 1);
}

/*
 * The rows of every kind together (SQLite counts a table's cells without
 * reading them): what a kind that sizes its table is told; 0 if unknown.
 */
static size_t
store_rows(void)
{
	sqlite3_stmt *st;
	char *cause = NULL;
	size_t rows = 0;

	if (store_prepare(db, "SELECT count(*) FROM objects", &st, &cause) != 0) {
		free(cause);
		return (0);
	}
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
		rows = (size_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return (rows);
}

/* Load every kind's rows, in order; the broker starts only if all load. */
int restoring;
int
store_restore(char **cause)
{
	msgpack_object o;
	msgpack_zone z;
	sqlite3_stmt *st;
	const char *why;
	char *key = NULL;
	size_t i, n = 0, klen, kcap = 0, rows;
	int rc;

	if (durability == DURABILITY_NONE)
		return (0);
	if (store_prepare(db, "SELECT key, data FROM objects WHERE kind = ?", &st, cause) != 0)
		return (-1);
	/* one zone and one key buffer for every row: a row costs only its object */
	if (!msgpack_zone_init(&z, MSGPACK_ZONE_CHUNK_SIZE))
		fatalx("store: out of memory");
	restoring = 1;
	rows = store_rows();
	for (i = 0; i < nitems(kinds); i++) {
		if (kinds[i]->expect != NULL && rows > 0)
			kinds[i]->expect(rows);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, kinds[i]->name, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			klen = (size_t)sqlite3_column_bytes(st, 0);
			if (klen + 1 > kcap) {
				kcap = klen + 64;
				key = xreallocarray(key, 1, kcap);
			}
			if (klen > 0)
				memcpy(key, sqlite3_column_blob(st, 0), klen);
			key[klen] = '\0';
			if (frame_decode_zone(sqlite3_column_blob(st, 1),
				(size_t)sqlite3_column_bytes(st, 1), &z, &o, &why) != 0) {
				xasprintf(cause, "%s %s: %s", kinds[i]->name, key, why);
				rc = -1;
			} else if (kinds[i]->restore(kinds[i], key, &o, cause) != 0)
				rc = -1;
			msgpack_zone_clear(&z);
			if (rc == -1)
				break;
			n++;
		}
		if (rc != SQLITE_DONE) {
			if (rc != -1)
				xasprintf(cause,
				    "reading %s rows: %s; batond will not start on a "
				    "database it cannot trust. %s",
				    kinds[i]->name, sqlite3_errmsg(db), STORE_RECOVER_HINT);
			break;
		}
	}
	sqlite3_finalize(st);
	msgpack_zone_destroy(&z);
	free(key);
	restoring = 0;
	if (i < nitems(kinds))
		return (-1);
	log_info("store: restored %zu objects, revision %llu", n, (unsigned long long)revision);
	return (0);
}

/* Write what is pending and close. */
void
store_close(void)
{
	char *cause = NULL;
	int written;

	if (db == NULL)
		return;
	if (!(written = store_flush(&cause) == 0)) {
		log_warnx("store: closing with changes not written: %s", cause);
		free(cause);
		cause = NULL;
	}
	journal_close(); /* folds what is left: the database is the main thread's again */
	if (written && revision > recorded && store_record(&cause) != 0) {
		log_warnx("store: cannot record revision %llu at the stop: %s",
		    (unsigned long long)revision, cause);
		free(cause);
	}
	if (commit_ev != NULL)
		event_free(commit_ev);
	commit_ev = NULL;
	store_forget();
	free(mark_path);
	mark_path = NULL;
}

const char *
durability_name(void)
{
	switch (durability) {
	case DURABILITY_STRICT: return ("strict");
	case DURABILITY_RELAXED: return ("relaxed");
	case DURABILITY_NONE: return ("none");
	}
	return ("?");
}

const char *
store_last_error(void)
{
	return (store_error);
}
