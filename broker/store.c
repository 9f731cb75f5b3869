/*
 * The SQLite checkpoint (DESIGN §8).  State lives in memory; modules
 * call store_mark(kind, key) when an object changes, and the commit
 * event writes every marked row in one transaction: the module's pack()
 * gives the row's current msgpack image, or says the object is gone and
 * the row is deleted.  So a checkpoint costs what changed, not the size
 * of the state.
 *
 * strict: the commit event has the lowest priority, so it runs after
 * every callback of the loop iteration that made the changes, and frames
 * queued for peers meanwhile are held (server.c) until COMMIT returns:
 * one transaction per iteration (group commit), no acknowledgement
 * before durability.  relaxed: a timer commits; replies go at once.
 * none: no file.
 *
 * Revisions (fences, versions) come from a ceiling persisted ahead of
 * use: restarting at the stored ceiling never hands out a revision
 * twice, even after a crash in relaxed mode.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "broker.h"

#define STORE_SCHEMA 1
#define STORE_RELAXED_MS 50
#define STORE_CEILING_STEP 65536

struct dirty {
	char *id; /* kind index byte + key */
	const struct store_kind *kind;
	UT_hash_handle hh;
};

enum durability durability = DURABILITY_STRICT;
static sqlite3 *db;
static sqlite3_stmt *st_put, *st_del, *st_meta;
static struct dirty *dirty;
static struct event *commit_ev;
static int commit_pending;
static uint64_t ceiling;       /* revisions below it may be handed out */
static uint64_t ceiling_saved; /* ... as stored in the database */
static char *store_error;      /* last commit failure, for status */
static uint64_t commits, rows_written;

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
};

static int
store_exec(const char *sql, char **cause)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", sql, err != NULL ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return (-1);
	}
	return (0);
}

static int
store_prepare(const char *sql, sqlite3_stmt **st, char **cause)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", sql, sqlite3_errmsg(db));
		return (-1);
	}
	return (0);
}

/* Create or migrate the schema; refuse a database from a newer baton. */
static int
store_schema(char **cause)
{
	sqlite3_stmt *st;
	int version = 0;

	if (store_prepare("PRAGMA user_version", &st, cause) != 0)
		return (-1);
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > STORE_SCHEMA) {
		xasprintf(cause, "state.db has schema %d, newer than this batond (%d); run the "
		    "newer batond, or move state.db away to start empty", version, STORE_SCHEMA);
		return (-1);
	}
	if (version == STORE_SCHEMA)
		return (0);
	/* version 0 -> 1: the first schema; later migrations go here, one step each */
	return (store_exec("BEGIN;"
	    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	    "CREATE TABLE IF NOT EXISTS objects(kind TEXT NOT NULL, key BLOB NOT NULL,"
	    " data BLOB NOT NULL, PRIMARY KEY(kind, key)) WITHOUT ROWID;"
	    "PRAGMA user_version = 1;"
	    "COMMIT;", cause));
}

/* Read one meta value (0 when absent). */
static int
store_meta_get(const char *name, uint64_t *v, char **cause)
{
	sqlite3_stmt *st;
	int rc;

	*v = 0;
	if (store_prepare("SELECT value FROM meta WHERE name = ?", &st, cause) != 0)
		return (-1);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		xasprintf(cause, "reading %s: %s", name, sqlite3_errmsg(db));
		return (-1);
	}
	return (0);
}

static void store_commit_cb(evutil_socket_t, short, void *);

/*
 * Open (creating 0600) dir/state.db, check it can be trusted, and load
 * the revision ceiling.  Nothing is restored yet: see store_restore.
 */
int
store_open(const char *dir, int full_sync, char **cause)
{
	char *path;
	int fd;

	if (durability == DURABILITY_NONE)
		return (0);
	xasprintf(&path, "%s/state.db", dir);
	/* create it 0600 ourselves: sqlite would honour the umask */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		xasprintf(cause, "cannot open %s: %s (check the state directory's permissions "
		    "and free space)", path, strerror(errno));
		free(path);
		return (-1);
	}
	fchmod(fd, 0600);
	close(fd);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		xasprintf(cause, "cannot open %s: %s", path, sqlite3_errmsg(db));
		free(path);
		return (-1);
	}
	sqlite3_busy_timeout(db, 200);
	/*
	 * Only this broker opens the file (it holds SOCKET.lock for life), so
	 * SQLite may keep its lock instead of taking and dropping POSIX locks
	 * around every transaction; set before WAL so no shared memory is used.
	 */
	if (store_exec("PRAGMA locking_mode=EXCLUSIVE", cause) != 0 ||
	    store_exec("PRAGMA journal_mode=WAL", cause) != 0 ||
	    store_exec(full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
	    cause) != 0 || store_exec("PRAGMA quick_check(1)", cause) != 0 ||
	    store_schema(cause) != 0) {
		char *c = *cause;
		if (sqlite3_errcode(db) == SQLITE_BUSY || sqlite3_errcode(db) == SQLITE_LOCKED) {
			xasprintf(cause, "%s is in use by another batond; give each broker its "
			    "own state directory (-D or BATON_STATE_DIR)", path);
			free(c);
			free(path);
			return (-1);
		}
		xasprintf(cause, "%s is not usable: %s; batond will not start on a database it "
		    "cannot trust: move the file away to start empty (sqlite3's .recover "
		    "command may salvage rows from it)", path, c);
		free(c);
		free(path);
		return (-1);
	}
	free(path);
	if (store_prepare("INSERT INTO objects(kind, key, data) VALUES(?, ?, ?) "
	    "ON CONFLICT(kind, key) DO UPDATE SET data = excluded.data", &st_put, cause) != 0 ||
	    store_prepare("DELETE FROM objects WHERE kind = ? AND key = ?", &st_del, cause) != 0 ||
	    store_prepare("INSERT INTO meta(name, value) VALUES(?, ?) "
	    "ON CONFLICT(name) DO UPDATE SET value = excluded.value", &st_meta, cause) != 0)
		return (-1);
	if (store_meta_get("revision_ceiling", &ceiling_saved, cause) != 0)
		return (-1);
	revision = ceiling_saved;
	ceiling = ceiling_saved;
	return (0);
}

/* Start committing: the commit event exists once the event base does. */
void
store_start(void)
{
	commit_ev = event_new(base, -1, 0, store_commit_cb, NULL);
	if (commit_ev == NULL || event_priority_set(commit_ev, 2) != 0)
		fatalx("cannot create the commit event");
}

/* Schedule the commit of this loop iteration's changes. */
static void
store_schedule(void)
{
	struct timeval tv = { 0, STORE_RELAXED_MS * 1000 };

	if (commit_pending || durability == DURABILITY_NONE || commit_ev == NULL)
		return;
	commit_pending = 1;
	if (durability == DURABILITY_STRICT)
		event_active(commit_ev, EV_TIMEOUT, 0);
	else
		event_add(commit_ev, &tv);
}

/* Remember that kind/key changed; it is written at the next commit. */
void
store_mark(const struct store_kind *kind, const char *key)
{
	struct dirty *d;
	size_t klen = strlen(key), idx;
	char *id;

	if (durability == DURABILITY_NONE || restoring)
		return;
	for (idx = 0; idx < nitems(kinds) && kinds[idx] != kind; idx++)
		;
	if (idx == nitems(kinds))
		fatalx("store_mark: unregistered kind %s", kind->name);
	id = xmalloc(klen + 2);
	id[0] = (char)('A' + idx);
	memcpy(id + 1, key, klen + 1);
	HASH_FIND_STR(dirty, id, d);
	if (d != NULL)
		free(id);
	else {
		d = xcalloc(1, sizeof *d);
		d->id = id;
		d->kind = kind;
		HASH_ADD_KEYPTR(hh, dirty, d->id, klen + 1, d);
	}
	store_schedule();
}

/* The revision ceiling must stay ahead of what was handed out. */
void
store_revision_used(uint64_t rev)
{
	if (durability == DURABILITY_NONE || rev < ceiling)
		return;
	ceiling = rev + STORE_CEILING_STEP;
	store_schedule();
	if (durability == DURABILITY_RELAXED && commit_pending) {
		/* relaxed acknowledges before commit: persist the new ceiling now */
		event_del(commit_ev);
		store_commit_cb(-1, 0, NULL);
	}
}

/* Are frames to peers to be held until the pending commit? */
int
store_holding(void)
{
	return (durability == DURABILITY_STRICT && commit_pending);
}

/* Write one dirty row: its current image, or its deletion. */
static int
store_write(struct dirty *d, struct fbuf *fb)
{
	const char *key = d->id + 1;
	sqlite3_stmt *st;
	int have;

	fbuf_init(fb);
	have = d->kind->pack(key, fb);
	if (fb->err) {
		log_warnx("store: cannot encode %s %s", d->kind->name, key);
		fbuf_free(fb);
		return (0);
	}
	st = have ? st_put : st_del;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, d->kind->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, key, (int)strlen(key), SQLITE_STATIC);
	if (have)
		sqlite3_bind_blob(st, 3, fb->sb.data + FRAME_HDR,
		    (int)(fb->sb.size - FRAME_HDR), SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		fbuf_free(fb);
		return (-1);
	}
	fbuf_free(fb);
	return (0);
}

static int
store_put_meta(const char *name, uint64_t v)
{
	sqlite3_reset(st_meta);
	sqlite3_bind_text(st_meta, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st_meta, 2, (sqlite3_int64)v);
	return (sqlite3_step(st_meta) == SQLITE_DONE ? 0 : -1);
}

/* One transaction with every dirty row, then release the held frames. */
static void
store_commit_cb(evutil_socket_t fd, short events, void *arg)
{
	struct timeval retry = { 1, 0 };
	struct dirty *d, *tmp;
	struct fbuf fb;
	size_t n = 0;
	char *cause = NULL;

	commit_pending = 0;
	if (store_exec("BEGIN", &cause) != 0)
		goto fail;
	HASH_ITER(hh, dirty, d, tmp) {
		if (store_write(d, &fb) != 0) {
			xasprintf(&cause, "writing %s: %s", d->kind->name, sqlite3_errmsg(db));
			goto rollback;
		}
		n++;
	}
	if (ceiling != ceiling_saved && store_put_meta("revision_ceiling", ceiling) != 0) {
		xasprintf(&cause, "writing the revision: %s", sqlite3_errmsg(db));
		goto rollback;
	}
	if (store_exec("COMMIT", &cause) != 0)
		goto rollback;
	ceiling_saved = ceiling;
	HASH_ITER(hh, dirty, d, tmp) {
		HASH_DEL(dirty, d);
		free(d->id);
		free(d);
	}
	commits++;
	rows_written += n;
	if (store_error != NULL) {
		log_warnx("store: commits work again");
		free(store_error);
		store_error = NULL;
	}
	server_release_held();
	return;

rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
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
	event_add(commit_ev, &retry);
}

/* Load every kind's rows, in order; the broker starts only if all load. */
int restoring;
int
store_restore(char **cause)
{
	msgpack_unpacked u;
	sqlite3_stmt *st;
	const char *why;
	size_t i, n = 0;
	int rc;

	if (durability == DURABILITY_NONE)
		return (0);
	if (store_prepare("SELECT key, data FROM objects WHERE kind = ?", &st, cause) != 0)
		return (-1);
	restoring = 1;
	for (i = 0; i < nitems(kinds); i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, kinds[i]->name, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			char *key = xstrndup(sqlite3_column_blob(st, 0),
			    (size_t)sqlite3_column_bytes(st, 0));
			msgpack_unpacked_init(&u);
			if (frame_decode(sqlite3_column_blob(st, 1),
			    (size_t)sqlite3_column_bytes(st, 1), &u, &why) != 0) {
				xasprintf(cause, "%s %s: %s", kinds[i]->name, key, why);
				rc = -1;
			} else if (kinds[i]->restore(key, &u.data, cause) != 0)
				rc = -1;
			msgpack_unpacked_destroy(&u);
			free(key);
			if (rc == -1)
				break;
			n++;
		}
		if (rc != SQLITE_DONE) {
			if (rc != -1)
				xasprintf(cause, "reading %s: %s", kinds[i]->name, sqlite3_errmsg(db));
			sqlite3_finalize(st);
			restoring = 0;
			return (-1);
		}
	}
	sqlite3_finalize(st);
	restoring = 0;
	log_info("store: restored %zu objects, revision %llu", n, (unsigned long long)revision);
	return (0);
}

/* Write what is pending and close. */
void
store_close(void)
{
	if (db == NULL)
		return;
	if (commit_pending || dirty != NULL) {
		if (commit_ev != NULL)
			event_del(commit_ev);
		store_commit_cb(-1, 0, NULL);
		if (commit_ev != NULL)
			event_del(commit_ev);
	}
	sqlite3_finalize(st_put);
	sqlite3_finalize(st_del);
	sqlite3_finalize(st_meta);
	if (commit_ev != NULL)
		event_free(commit_ev);
	commit_ev = NULL;
	sqlite3_close(db);
	db = NULL;
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
