/*
 * The journal (DESIGN 8): what makes a strict commit cost one write().
 *
 * A group commit appends one group to STATE/state.journal with a single
 * write() (and fdatasync with --fsync): the rows it changed, as the
 * records below.  The frames held for it go out once write() returns: a
 * kill -9 cannot take back what the kernel has (the page cache outlives
 * the process), and --fsync adds the power cut.  A thread of its own,
 * the folder, then writes the groups into SQLite, many in one
 * transaction, with SQLite's WAL checkpoints: nothing of SQLite runs on
 * the event loop while it serves.  SQLite stays the checkpoint and the
 * format of record: at start-up (journal_open) the groups not folded yet
 * are folded before anything is read, and the journal is emptied.
 *
 * Measured (make bench, bench_lock, one client): a strict lock
 * acquire+release through SQLite's own commit (BEGIN, the rows, COMMIT,
 * the WAL's 4 KiB pages for a row of a few hundred bytes, checkpoints
 * inline) cost ~29 us of broker time per operation and p99s of ms; the
 * journal's write() of that row costs a few us.  SQLite made cheaper
 * (prepared BEGIN/COMMIT) still writes whole pages and still has to
 * checkpoint somewhere: on the loop, or on a second connection that an
 * exclusive-locked WAL database does not allow.
 *
 * A group: a header (magic, the payload's length, its sequence number,
 * a CRC-32 of sequence and payload) and the records.  A torn last group
 * (kill -9 inside write(), a power cut) fails its length or its CRC and
 * ends the replay: it was never acknowledged.  Each fold stores the last
 * sequence it folded in SQLite's meta table, in its own transaction, so
 * a group is never folded twice (a crash after the fold's COMMIT and
 * before the journal is emptied replays nothing), and every record is
 * a whole row image or a deletion besides: replayed, it lands the same.
 * The journal is emptied (ftruncate) by the loop, between two groups,
 * once the folder has caught up and the file passed JOURNAL_TRUNCATE.
 *
 * Records: a type byte, then its fields: strings as a u32 length and the
 * bytes, numbers as u64, all little-endian.
 *	'P' kind key data	put an object row
 *	'D' kind key		delete an object row
 *	'M' name value		put a meta value
 *	'L' rev at data		put an audit log row
 *	'X' rev			delete the audit log rows at or below rev
 *
 * While folds fail (a database that takes no write), the groups wait in
 * memory and in the file, and status says why (journal_error); past
 * JOURNAL_BACKLOG_MAX bytes of them a commit fails as a write would: what
 * comes is held, not acknowledged, until a fold goes through.
 *
 * BATOND_TEST_JOURNAL_PAUSE=before|middle|after stops the folder for
 * good before a fold, in the middle of its transaction, or after its
 * COMMIT and before the journal is emptied, and says so on stderr
 * ("journal: paused ..."), for tests/journal.sh to kill -9 the broker
 * there.  BATOND_TEST_JOURNAL_FAIL=FILE fails every fold while FILE
 * exists, and BATOND_TEST_JOURNAL_BACKLOG=BYTES sets the backlog's bound,
 * for its test of folds that fail.  Nothing else reads them.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "broker.h"

#define JOURNAL_MAGIC 0x314a5442u              /* "BTJ1" */
#define JOURNAL_HDR 24                         /* magic, len, seq, crc, 0 */
#define JOURNAL_TRUNCATE (4 * 1024 * 1024)     /* bytes before it is emptied */
#define JOURNAL_FOLD_BYTES (1024 * 1024)       /* queued before a fold at once */
#define JOURNAL_FOLD_MS 100                    /* else a fold this long after a group */
#define JOURNAL_GROUP_MAX (256 * 1024 * 1024)  /* a group's payload, at most */
#define JOURNAL_BACKLOG_MAX (64 * 1024 * 1024) /* unfolded while folds fail, at most */
#define FOLD_LOG_ROWS 32                       /* audit log rows in one INSERT */

/* One group written, waiting for the folder. */
struct jgroup {
	uint64_t seq;
	size_t len;
	struct jgroup *next;
	unsigned char data[]; /* the records */
};

static int jfd = -1;
static char *jpath;
static int jsync;          /* --fsync: fdatasync each group */
static off_t jsize;        /* bytes in the file */
static uint64_t jseq;      /* the last group's sequence number */
static unsigned char *cur; /* the group being built (after JOURNAL_HDR) */
static size_t cur_len, cur_cap;

static sqlite3 *jdb;
static sqlite3_stmt *jst[6]; /* put, delete, meta, log, prune, FOLD_LOG_ROWS logs */
static pthread_t folder;
static int folder_up, folder_stop, folder_busy, folder_hurry;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_work = PTHREAD_COND_INITIALIZER, cv_idle = PTHREAD_COND_INITIALIZER;
static struct jgroup *q_head, **q_tail = &q_head;
static size_t q_bytes;
static uint64_t folded;  /* the last sequence folded (under mu) */
static char *fold_error; /* the last fold failure (under mu) */
static size_t unfolded;  /* bytes of groups written and not folded (under mu) */
static size_t backlog_max = JOURNAL_BACKLOG_MAX;
static char *fold_error_seen;             /* the loop's copy of fold_error (journal_error) */
static const char *pause_at, *fail_while; /* BATOND_TEST_JOURNAL_PAUSE, _FAIL */

/*
 * Little-endian fields of n bytes (4 or 8).  Spelled out, not a loop over
 * n: the compiler makes each one load or store (the folder reads every
 * field of every record twice).
 */
static inline uint32_t
get_le32(const unsigned char *p)
{
	return (
	    (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static void
put_le(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t
get_le(const unsigned char *p, int n)
{
	if (n == 4)
		return (get_le32(p));
	return ((uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32);
}

static uint32_t
group_crc(uint64_t seq, const unsigned char *p, size_t len)
{
	unsigned char s[8];

	put_le(s, seq, 8);
	return (crc32_update(crc32_update(0, s, 8), p, len));
}

/* Room for n more bytes in the group being built. */
static unsigned char *
cur_room(size_t n)
{
	if (cur_len + n > cur_cap) {
		cur_cap = cur_cap == 0 ? 4096 : cur_cap;
		while (cur_len + n > cur_cap)
			cur_cap *= 2;
		cur = xreallocarray(cur, 1, JOURNAL_HDR + cur_cap);
	}
	return (cur + JOURNAL_HDR + cur_len);
}

static void
cur_u64(uint64_t v)
{
	put_le(cur_room(8), v, 8);
	cur_len += 8;
}

static void
cur_bytes(const void *p, size_t n)
{
	put_le(cur_room(4 + n), n, 4);
	if (n > 0)
		memcpy(cur + JOURNAL_HDR + cur_len + 4, p, n);
	cur_len += 4 + n;
}

static void
cur_type(char t)
{
	*cur_room(1) = (unsigned char)t;
	cur_len++;
}

/* Put (data != NULL) or delete an object row in the group being built. */
void
journal_put(const char *kind, const char *key, const void *data, size_t len)
{
	cur_type(data != NULL ? 'P' : 'D');
	cur_bytes(kind, strlen(kind));
	cur_bytes(key, strlen(key));
	if (data != NULL)
		cur_bytes(data, len);
}

void
journal_meta(const char *name, uint64_t v)
{
	cur_type('M');
	cur_bytes(name, strlen(name));
	cur_u64(v);
}

void
journal_log(uint64_t rev, int64_t at, const void *data, size_t len)
{
	cur_type('L');
	cur_u64(rev);
	cur_u64((uint64_t)at);
	cur_bytes(data, len);
}

void
journal_prune(uint64_t rev)
{
	cur_type('X');
	cur_u64(rev);
}

/* Forget the group being built (its commit failed: it is rebuilt). */
void
journal_discard(void)
{
	cur_len = 0;
}

/* ---- folding: the records of groups into SQLite ---- */

static int
fold_prepare(sqlite3 *h, char **cause)
{
	static const char *const sql[6] = {
		"INSERT INTO objects(kind, key, data) VALUES(?, ?, ?) "
		"ON CONFLICT(kind, key) DO UPDATE SET data = excluded.data",
		"DELETE FROM objects WHERE kind = ? AND key = ?",
		"INSERT INTO meta(name, value) VALUES(?, ?) "
		"ON CONFLICT(name) DO UPDATE SET value = excluded.value",
		"INSERT OR REPLACE INTO log(rev, at, data) VALUES(?, ?, ?)",
		"DELETE FROM log WHERE rev <= ?",
		NULL, /* the log's INSERT with FOLD_LOG_ROWS rows, made below */
	};
	char logs[64 + 16 * FOLD_LOG_ROWS], *p;
	const char *q;
	size_t i;

	p = logs + snprintf(logs, sizeof logs, "%s", sql[3]);
	for (i = 1; i < FOLD_LOG_ROWS; i++)
		p += snprintf(p, (size_t)(logs + sizeof logs - p), ", (?, ?, ?)");
	for (i = 0; i < nitems(sql); i++) {
		q = sql[i] != NULL ? sql[i] : logs;
		if (jst[i] == NULL &&
		    sqlite3_prepare_v3(h, q, -1, SQLITE_PREPARE_PERSISTENT, &jst[i], NULL) !=
			SQLITE_OK) {
			xasprintf(cause, "%s: %s", q, sqlite3_errmsg(h));
			return (-1);
		}
	}
	return (0);
}

/*
 * Audit log rows gathered for one INSERT of FOLD_LOG_ROWS rows: every
 * change adds one, and a statement of its own cost ~5 k instructions in
 * SQLite (callgrind, a lock acquire and release: two of them were ~10 k
 * of the broker's ~71 k), most of it the statement's start and end.
 * They point into the groups being folded.
 */
struct jlogs {
	sqlite3_int64 rev[FOLD_LOG_ROWS], at[FOLD_LOG_ROWS];
	const void *data[FOLD_LOG_ROWS];
	int len[FOLD_LOG_ROWS];
	size_t n;
};

/* Insert the rows gathered in lg, in order; 0, or -1 (SQLite's error in its handle). */
static int
fold_logs(struct jlogs *lg)
{
	sqlite3_stmt *st = lg->n == FOLD_LOG_ROWS ? jst[5] : jst[3];
	size_t i = 0, k;

	while (i < lg->n) {
		sqlite3_reset(st);
		for (k = 0; k < (st == jst[5] ? FOLD_LOG_ROWS : 1); k++, i++) {
			sqlite3_bind_int64(st, (int)(3 * k + 1), lg->rev[i]);
			sqlite3_bind_int64(st, (int)(3 * k + 2), lg->at[i]);
			sqlite3_bind_blob(st, (int)(3 * k + 3), lg->data[i], lg->len[i],
			    SQLITE_STATIC);
		}
		if (sqlite3_step(st) != SQLITE_DONE)
			return (-1);
	}
	lg->n = 0;
	return (0);
}

/*
 * The last record of each object row in the groups folded together: the
 * rows a batch changes many times (a lock taken and released, a session
 * touched by every call) are written once, as their last record says.
 * Its id is the record's bytes after the type: kind and key, each with
 * its length.
 */
struct jlast {
	const unsigned char *id;
	size_t idlen;
	const unsigned char *rec; /* the last record of the row */
	UT_hash_handle hh;
};

/*
 * Past the fields at p that fields spells ('s' a string, 'u' a number);
 * NULL when they run past end.
 */
static const unsigned char *
rec_skip(const unsigned char *p, const unsigned char *end, const char *fields)
{
	uint64_t n;

	for (; *fields != '\0'; fields++) {
		if (*fields == 'u') {
			if (end - p < 8)
				return (NULL);
			p += 8;
		} else {
			if (end - p < 4 || (uint64_t)(end - p - 4) < (n = get_le(p, 4)))
				return (NULL);
			p += 4 + n;
		}
	}
	return (p);
}

/* The fields of a record of type t, or NULL for no such type. */
static const char *
rec_fields(int t)
{
	switch (t) {
	case 'P': return ("sss");
	case 'D': return ("ss");
	case 'M': return ("su");
	case 'L': return ("uus");
	case 'X': return ("u");
	}
	return (NULL);
}

/* The length of the id of the object record at rec (of [rec, end)), 0 if none. */
static size_t
rec_id(const unsigned char *rec, const unsigned char *end)
{
	const unsigned char *p;

	if (*rec != 'P' && *rec != 'D')
		return (0);
	if ((p = rec_skip(rec + 1, end, "ss")) == NULL)
		return (0);
	return ((size_t)(p - rec - 1));
}

/* A string field at *p of [*p, end): its bytes and length; -1 when past end. */
static int
rec_bytes(const unsigned char **p, const unsigned char *end, const void **s, int *n)
{
	uint64_t len;

	if (end - *p < 4)
		return (-1);
	len = get_le(*p, 4);
	if ((uint64_t)(end - *p - 4) < len)
		return (-1);
	*s = *p + 4;
	*n = (int)len;
	*p += 4 + len;
	return (0);
}

static int
rec_u64(const unsigned char **p, const unsigned char *end, sqlite3_int64 *v)
{
	if (end - *p < 8)
		return (-1);
	*v = (sqlite3_int64)get_le(*p, 8);
	*p += 8;
	return (0);
}

/*
 * Apply one group's records in the transaction open on h; 0, or -1 with
 * cause.  With half set, only its first half (the test's pause).  Its
 * audit log rows are gathered in lg, for the caller to insert the last
 * of them (fold_logs) before its COMMIT; with lg NULL, each at once.
 */
static int
fold_group(sqlite3 *h, uint64_t seq, const unsigned char *p, size_t len, int half,
    struct jlast *last, struct jlogs *lg, char **cause)
{
	const unsigned char *end = p + (half ? len / 2 : len), *start = p, *rec;
	const void *a = NULL, *b = NULL, *c = NULL;
	struct jlast *l;
	sqlite3_int64 x, y;
	int na = 0, nb = 0, nc = 0, t, bad = 0;
	sqlite3_stmt *st;
	size_t idlen;

	while (p < end && !bad) {
		rec = p;
		t = *p++;
		switch (t) {
		case 'P':
		case 'D':
			st = jst[t == 'P' ? 0 : 1];
			bad = rec_bytes(&p, end, &a, &na) || rec_bytes(&p, end, &b, &nb) ||
			    (t == 'P' && rec_bytes(&p, end, &c, &nc));
			if (bad)
				break;
			if (last != NULL && (idlen = rec_id(rec, end)) > 0) {
				HASH_FIND(hh, last, rec + 1, idlen, l);
				if (l != NULL && l->rec != rec)
					continue; /* a later record of the batch writes the row */
			}
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, a, na, SQLITE_STATIC);
			sqlite3_bind_blob(st, 2, b, nb, SQLITE_STATIC);
			if (t == 'P')
				sqlite3_bind_blob(st, 3, c, nc, SQLITE_STATIC);
			break;
		case 'M':
			st = jst[2];
			if ((bad = rec_bytes(&p, end, &a, &na) || rec_u64(&p, end, &x)))
				break;
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, a, na, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, x);
			break;
		case 'L':
			st = jst[3];
			if ((bad = rec_u64(&p, end, &x) || rec_u64(&p, end, &y) ||
				    rec_bytes(&p, end, &c, &nc)))
				break;
			if (lg != NULL) {
				lg->rev[lg->n] = x;
				lg->at[lg->n] = y;
				lg->data[lg->n] = c;
				lg->len[lg->n] = nc;
				if (++lg->n < FOLD_LOG_ROWS)
					continue;
				st = NULL; /* full: inserted below */
				break;
			}
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, x);
			sqlite3_bind_int64(st, 2, y);
			sqlite3_bind_blob(st, 3, c, nc, SQLITE_STATIC);
			break;
		case 'X':
			st = jst[4];
			if ((bad = rec_u64(&p, end, &x)))
				break;
			/* the rows it may prune go in first */
			if (lg != NULL && lg->n > 0 && fold_logs(lg) != 0)
				goto fail;
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, x);
			break;
		default: bad = 1; continue;
		}
		if (bad)
			break;
		if (st != NULL ? sqlite3_step(st) != SQLITE_DONE : fold_logs(lg) != 0)
			goto fail;
	}
	if (bad && !half) {
		xasprintf(cause, "journal group %llu has a bad record at byte %zu",
		    (unsigned long long)seq, (size_t)(p - start));
		return (-1);
	}
	return (0);
fail:
	xasprintf(cause, "folding journal group %llu: %s", (unsigned long long)seq,
	    sqlite3_errmsg(h));
	return (-1);
}

static int
fold_exec(sqlite3 *h, const char *sql, char **cause)
{
	if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", sql, sqlite3_errmsg(h));
		return (-1);
	}
	return (0);
}

/* Stop here for good (BATOND_TEST_JOURNAL_PAUSE), saying so. */
static void
fold_pause(const char *where, const char *what)
{
	if (pause_at == NULL || strcmp(pause_at, where) != 0)
		return;
	fprintf(stderr, "journal: paused %s\n", what);
	for (;;)
		pause();
}

/* Note the last record of each object row in the records of [p, p + len). */
static void
fold_last(struct jlast **rows, const unsigned char *p, size_t len)
{
	const unsigned char *end = p + len;
	const char *fields;
	struct jlast *l;
	size_t idlen;

	while (p < end) {
		if ((idlen = rec_id(p, end)) > 0) {
			HASH_FIND(hh, *rows, p + 1, idlen, l);
			if (l == NULL) {
				l = xmalloc(sizeof *l);
				l->id = p + 1;
				l->idlen = idlen;
				HASH_ADD_KEYPTR(hh, *rows, l->id, l->idlen, l);
			}
			l->rec = p;
		}
		if ((fields = rec_fields(*p)) == NULL ||
		    (p = rec_skip(p + 1, end, fields)) == NULL)
			return; /* malformed: fold_group says so */
	}
}

static void
fold_last_free(struct jlast **rows)
{
	struct jlast *l, *tmp;

	HASH_ITER(hh, *rows, l, tmp) {
		HASH_DEL(*rows, l);
		free(l);
	}
}

/* Fold the groups list (in order) in one transaction; 0, or -1 with cause. */
static int
fold_groups(struct jgroup *list, char **cause)
{
	struct jgroup *g, *last = NULL;
	struct jlast *rows = NULL;
	struct jlogs lg = { .n = 0 };
	int rc = 0;

	if (fail_while != NULL && access(fail_while, F_OK) == 0) {
		xasprintf(cause, "BATOND_TEST_JOURNAL_FAIL: %s exists", fail_while);
		return (-1);
	}
	if (fold_prepare(jdb, cause) != 0 || fold_exec(jdb, "BEGIN", cause) != 0)
		return (-1);
	for (g = list; g != NULL; g = g->next)
		fold_last(&rows, g->data, g->len);
	for (g = list; g != NULL; g = g->next) {
		if ((rc = fold_group(jdb, g->seq, g->data, g->len, 0, rows, &lg, cause)) != 0)
			break;
		last = g;
		if (g->next == NULL && pause_at != NULL && strcmp(pause_at, "middle") == 0) {
			fold_group(jdb, g->seq, g->data, g->len, 1, NULL, NULL, cause);
			fold_pause("middle", "in the middle of a fold");
		}
	}
	fold_last_free(&rows);
	if (rc != 0)
		goto fail;
	if (lg.n > 0 && fold_logs(&lg) != 0) {
		xasprintf(cause, "folding journal group %llu: %s",
		    (unsigned long long)last->seq, sqlite3_errmsg(jdb));
		goto fail;
	}
	if (last != NULL) {
		sqlite3_reset(jst[2]);
		sqlite3_bind_text(jst[2], 1, "journal_folded", -1, SQLITE_STATIC);
		sqlite3_bind_int64(jst[2], 2, (sqlite3_int64)last->seq);
		if (sqlite3_step(jst[2]) != SQLITE_DONE) {
			xasprintf(cause, "writing journal_folded: %s", sqlite3_errmsg(jdb));
			goto fail;
		}
	}
	if (fold_exec(jdb, "COMMIT", cause) != 0)
		goto fail;
	fold_pause("after", "after a fold's commit, before the journal is emptied");
	return (0);
fail:
	sqlite3_exec(jdb, "ROLLBACK", NULL, NULL, NULL);
	return (-1);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + ts.tv_nsec / 1e9);
}

/* The folder: waits for groups, lets a few gather, folds them in one transaction. */
static void *
folder_main(void *arg)
{
	struct jgroup *list, *g;
	struct timespec ts;
	char *cause;
	double due;

	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (q_head == NULL && !folder_stop)
			pthread_cond_wait(&cv_work, &mu);
		if (q_head == NULL && folder_stop)
			break;
		/* let groups gather: one transaction folds many */
		due = now_s() + JOURNAL_FOLD_MS / 1000.0;
		while (!folder_stop && !folder_hurry && q_bytes < JOURNAL_FOLD_BYTES &&
		    now_s() < due) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += JOURNAL_FOLD_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&cv_work, &mu, &ts);
		}
		list = q_head;
		q_head = NULL;
		q_tail = &q_head;
		q_bytes = 0;
		folder_busy = 1;
		pthread_mutex_unlock(&mu);

		fold_pause("before", "before a fold");
		cause = NULL;
		if (fold_groups(list, &cause) != 0) {
			/* put them back in front and try again in a second */
			pthread_mutex_lock(&mu);
			for (g = list; g->next != NULL; g = g->next)
				q_bytes += g->len;
			q_bytes += g->len;
			g->next = q_head;
			if (q_head == NULL)
				q_tail = &g->next;
			q_head = list;
			if (fold_error == NULL || strcmp(fold_error, cause) != 0)
				log_warnx("journal: fold failed, retrying: %s", cause);
			free(fold_error);
			fold_error = cause;
			folder_busy = 0;
			pthread_cond_broadcast(&cv_idle);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec++;
			if (!folder_stop)
				pthread_cond_timedwait(&cv_work, &mu, &ts);
			else
				break; /* closing: the journal keeps them for the next start */
			continue;
		}
		pthread_mutex_lock(&mu);
		for (g = list; g != NULL; g = list) {
			list = g->next;
			folded = g->seq;
			unfolded -= g->len;
			free(g);
		}
		if (fold_error != NULL) {
			log_warnx("journal: folds work again");
			free(fold_error);
			fold_error = NULL;
		}
		folder_busy = 0;
		pthread_cond_broadcast(&cv_idle);
	}
	folder_busy = 0;
	pthread_cond_broadcast(&cv_idle);
	pthread_mutex_unlock(&mu);
	return (NULL);
}

/* ---- the loop's side ---- */

/* Empty the file: every group in it is folded (the folder is idle, or caught up). */
static void
journal_truncate(void)
{
	if (ftruncate(jfd, 0) != 0) {
		log_warn("journal: cannot empty %s", jpath);
		return;
	}
	if (jsync)
		fdatasync(jfd);
	jsize = 0;
}

/* The group being built, as group seq of its own; the next one starts empty. */
static struct jgroup *
cur_take(uint64_t seq)
{
	struct jgroup *g = xmalloc(sizeof *g + cur_len);

	g->seq = seq;
	g->len = cur_len;
	g->next = NULL;
	memcpy(g->data, cur + JOURNAL_HDR, cur_len);
	cur_len = 0;
	return (g);
}

/*
 * Write the group built since the last commit with one write(), then
 * hand it to the folder; 0, or -1 with cause (nothing of it stays in the
 * file: the caller builds it again and retries).
 */
int
journal_commit(char **cause)
{
	struct jgroup *g;
	size_t total = JOURNAL_HDR + cur_len, off = 0;
	uint64_t seq = jseq + 1;
	ssize_t n;
	int caught_up;

	if (cur_len == 0)
		return (0);
	if (jfd == -1) { /* no journal: straight into the database */
		g = cur_take(seq);
		n = fold_groups(g, cause);
		free(g);
		if (n == 0)
			jseq = seq;
		return ((int)n);
	}
	if (cur_len > JOURNAL_GROUP_MAX) {
		xasprintf(cause, "a group of %zu bytes is past the journal's limit", cur_len);
		cur_len = 0;
		return (-1);
	}
	pthread_mutex_lock(&mu);
	caught_up = folded == jseq && !folder_busy && q_head == NULL;
	if (fold_error != NULL && unfolded + cur_len > backlog_max) {
		/* the database takes no fold: hold what comes until it does */
		xasprintf(cause,
		    "the database takes none of the journal's folds (%zu bytes wait): %s",
		    unfolded, fold_error);
		pthread_mutex_unlock(&mu);
		cur_len = 0;
		return (-1);
	}
	pthread_mutex_unlock(&mu);
	if (caught_up && jsize >= JOURNAL_TRUNCATE)
		journal_truncate();
	put_le(cur, JOURNAL_MAGIC, 4);
	put_le(cur + 4, cur_len, 4);
	put_le(cur + 8, seq, 8);
	put_le(cur + 16, group_crc(seq, cur + JOURNAL_HDR, cur_len), 4);
	put_le(cur + 20, 0, 4);
	while (off < total) {
		n = write(jfd, cur + off, total - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (jsync && fdatasync(jfd) != 0)
		goto fail;
	jsize += (off_t)total;
	jseq = seq;
	g = cur_take(seq);
	pthread_mutex_lock(&mu);
	if (!folder_up) {
		if (pthread_create(&folder, NULL, folder_main, NULL) != 0)
			fatalx("journal: cannot start the folder thread");
		folder_up = 1;
	}
	/*
	 * Wake the folder for the first group (it sleeps until one comes) and
	 * when enough gathered; not for every group: it wakes by itself when
	 * its gathering time is up, and a wake-up per commit costs more than
	 * the write.
	 */
	if (q_head == NULL ||
	    (q_bytes < JOURNAL_FOLD_BYTES && q_bytes + g->len >= JOURNAL_FOLD_BYTES))
		pthread_cond_signal(&cv_work);
	*q_tail = g;
	q_tail = &g->next;
	q_bytes += g->len;
	unfolded += g->len;
	pthread_mutex_unlock(&mu);
	return (0);
fail:
	xasprintf(cause, "writing %s: %s", jpath, strerror(errno != 0 ? errno : EIO));
	/* a torn group would end every replay early: take it back */
	if (ftruncate(jfd, jsize) != 0)
		log_warn("journal: cannot take a torn group back out of %s", jpath);
	lseek(jfd, 0, SEEK_END);
	cur_len = 0;
	return (-1);
}

/*
 * Wait until every group written is folded (batond's export, its stop);
 * the database is then the main thread's until the next commit.  0, or
 * -1 with the fold's error.
 */
int
journal_drain(char **cause)
{
	int rc = 0;

	if (jfd == -1)
		return (0);
	pthread_mutex_lock(&mu);
	folder_hurry = 1; /* no gathering: someone waits */
	pthread_cond_signal(&cv_work);
	while (folder_up && (q_head != NULL || folder_busy) && fold_error == NULL)
		pthread_cond_wait(&cv_idle, &mu);
	folder_hurry = 0;
	if (q_head != NULL || folder_busy) {
		xasprintf(cause, "the journal cannot be folded into the database: %s",
		    fold_error != NULL ? fold_error : "?");
		rc = -1;
	}
	pthread_mutex_unlock(&mu);
	if (rc == 0 && jsize > 0)
		journal_truncate();
	return (rc);
}

/* The last fold failure, or NULL (status): a copy the loop owns till the next call. */
const char *
journal_error(void)
{
	pthread_mutex_lock(&mu);
	if (fold_error == NULL) {
		free(fold_error_seen);
		fold_error_seen = NULL;
	} else if (fold_error_seen == NULL || strcmp(fold_error_seen, fold_error) != 0) {
		free(fold_error_seen);
		fold_error_seen = xstrdup(fold_error);
	}
	pthread_mutex_unlock(&mu);
	return (fold_error_seen);
}

/* The journal beside the database at dbpath (STATE/state.journal), allocated. */
char *
journal_path(const char *dbpath)
{
	const char *slash = strrchr(dbpath, '/');
	char *p;

	xasprintf(&p, "%.*sstate.journal", slash != NULL ? (int)(slash - dbpath + 1) : 0,
	    dbpath);
	return (p);
}

/*
 * The database groups are folded into (store_open_file); without
 * journal_open they are folded at once, in the commit (batond --import).
 */
int
journal_attach(sqlite3 *h, char **cause)
{
	const char *b;

	jdb = h;
	pause_at = getenv("BATOND_TEST_JOURNAL_PAUSE");
	fail_while = getenv("BATOND_TEST_JOURNAL_FAIL");
	if ((b = getenv("BATOND_TEST_JOURNAL_BACKLOG")) != NULL && atoi(b) > 0)
		backlog_max = (size_t)atoi(b);
	/* the audit log's table (feed.c) beside the store's: records fold into it */
	if (sqlite3_exec(h,
		"CREATE TABLE IF NOT EXISTS log(rev INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
		" data BLOB NOT NULL)",
		NULL, NULL, NULL) != SQLITE_OK) {
		xasprintf(cause, "creating the log table: %s", sqlite3_errmsg(h));
		return (-1);
	}
	return (fold_prepare(h, cause));
}

/*
 * Open the journal beside the attached database at dbpath (creating it
 * as state.db: 0600, a team broker's 0660) and fold what it holds that
 * the database has not folded yet (done: the database's journal_folded,
 * store.c reads it); then empty it.  0, or -1 with cause.
 */
int
journal_open(const char *dbpath, int full_sync, uint64_t done, char **cause)
{
	sqlite3 *h = jdb;
	unsigned char hdr[JOURNAL_HDR], *buf = NULL;
	uint64_t seq, len, n = 0, skipped = 0;
	off_t at = 0;
	ssize_t r;
	int rc;

	crc32_init();
	jpath = journal_path(dbpath);
	jfd = open(jpath, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, path_file_mode);
	if (jfd == -1) {
		xasprintf(cause, "cannot open %s: %s", jpath, strerror(errno));
		return (-1);
	}
	fchmod(jfd,
	    path_file_mode); /* as state.db: fails harmlessly on another member's file */
	jsync = full_sync;
	jseq = folded = done;
	if (fold_exec(h, "BEGIN", cause) != 0)
		return (-1);
	for (;;) {
		r = pread(jfd, hdr, sizeof hdr, at);
		if (r != (ssize_t)sizeof hdr || get_le(hdr, 4) != JOURNAL_MAGIC)
			break;
		len = get_le(hdr + 4, 4);
		seq = get_le(hdr + 8, 8);
		buf = xreallocarray(buf, 1, len > 0 ? len : 1);
		if (pread(jfd, buf, len, at + JOURNAL_HDR) != (ssize_t)len ||
		    group_crc(seq, buf, len) != (uint32_t)get_le(hdr + 16, 4))
			break; /* torn: never acknowledged */
		at += JOURNAL_HDR + (off_t)len;
		if (seq <= done) {
			skipped++; /* folded before */
			continue;
		}
		if (fold_group(h, seq, buf, len, 0, NULL, NULL, cause) != 0) {
			sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
			free(buf);
			return (-1);
		}
		jseq = folded = seq;
		n++;
	}
	free(buf);
	rc = 0;
	if (n > 0) {
		sqlite3_reset(jst[2]);
		sqlite3_bind_text(jst[2], 1, "journal_folded", -1, SQLITE_STATIC);
		sqlite3_bind_int64(jst[2], 2, (sqlite3_int64)jseq);
		if (sqlite3_step(jst[2]) != SQLITE_DONE) {
			xasprintf(cause, "writing journal_folded: %s", sqlite3_errmsg(h));
			rc = -1;
		}
	}
	if (rc != 0 || fold_exec(h, "COMMIT", cause) != 0) {
		sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
		return (-1);
	}
	if (n > 0 || skipped > 0)
		log_info("journal: folded %llu groups left by the last run, skipped %llu "
			 "folded before",
		    (unsigned long long)n, (unsigned long long)skipped);
	journal_truncate();
	return (0);
}

/* Stop the folder once it has folded everything, and close the journal. */
void
journal_close(void)
{
	struct jgroup *g;
	char *cause = NULL;
	size_t i;

	if (jfd != -1) {
		if (journal_drain(&cause) != 0) {
			log_warnx("journal: %s; it is kept for the next start", cause);
			free(cause);
		}
		pthread_mutex_lock(&mu);
		folder_stop = 1;
		pthread_cond_broadcast(&cv_work);
		pthread_mutex_unlock(&mu);
		if (folder_up)
			pthread_join(folder, NULL);
		folder_up = folder_stop = 0;
		/* what could not be folded stays in the file for the next start */
		while ((g = q_head) != NULL) {
			q_head = g->next;
			free(g);
		}
		q_tail = &q_head;
		q_bytes = unfolded = 0;
		free(fold_error);
		free(fold_error_seen);
		fold_error = fold_error_seen = NULL;
		close(jfd);
		jfd = -1;
		free(jpath);
		jpath = NULL;
	}
	for (i = 0; i < nitems(jst); i++) {
		sqlite3_finalize(jst[i]);
		jst[i] = NULL;
	}
	jdb = NULL;
	free(cur);
	cur = NULL;
	cur_len = cur_cap = 0;
}
