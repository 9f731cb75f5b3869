/*
 * The whole state as JSON (DESIGN §8): `batond --export` writes every
 * row of a state database, `batond --import` builds a new database from
 * such a file, and the state_export operation gives `baton export` a
 * consistent snapshot of a running broker's database to read.
 *
 * The file: {"baton_state":1,"schema":N,"revision":R,"exported_at":T,
 * "rows":[ one {"kind","key","data"} per line ]}.  data is the row's
 * msgpack written by json_from_msgpack_exact, so import gives back the
 * very same msgpack; R is the revision ceiling (every fence and version
 * handed out is below it), and import continues above it.
 *
 * A damaged database is salvaged: every row that can still be read is
 * written, stderr says what could not be, and the status is 65.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "broker.h"

#define DUMP_FORMAT 1                       /* "baton_state" */
#define DUMP_MAX_FILE (1024L * 1024 * 1024) /* what import reads */

/* Exit statuses of the offline modes (sysexits, as the CLI). */
#define DUMP_OK 0
#define DUMP_CONFLICT 1  /* a broker holds the database; state.db not empty */
#define DUMP_DATAERR 65  /* bad file, damaged database, rows lost */
#define DUMP_SOFTWARE 70 /* cannot write, out of memory */

/* What an export could not read. */
struct dump_loss {
	size_t rows, kinds;
	char *what; /* one clause per loss, for stderr */
};

/* Note one loss. */
static void
dump_lost(struct dump_loss *l, const char *fmt, ...)
{
	char *clause, *all;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&clause, fmt, ap);
	va_end(ap);
	xasprintf(&all, "%s%s%s", l->what != NULL ? l->what : "", l->what != NULL ? "; " : "",
	    clause);
	free(l->what);
	free(clause);
	l->what = all;
}

/* A row key as JSON: a string, or {"$str":HEX} when it is not UTF-8. */
static cJSON *
dump_key_json(const char *key, size_t len)
{
	msgpack_object o;

	memset(&o, 0, sizeof o);
	o.type = MSGPACK_OBJECT_STR;
	o.via.str.ptr = key;
	o.via.str.size = (uint32_t)len;
	return (json_from_msgpack_exact(&o));
}

/* Print one row; 0, or -1 when it cannot be converted (counted as lost). */
static int
dump_row(FILE *fp, const char *kind, const void *key, size_t klen, const void *data,
    size_t dlen, size_t n, struct dump_loss *l)
{
	msgpack_unpacked u;
	const char *why;
	cJSON *row, *k, *d;
	char *text;

	msgpack_unpacked_init(&u);
	if (frame_decode(data, dlen, &u, &why) != 0) {
		msgpack_unpacked_destroy(&u);
		l->rows++;
		dump_lost(l, "a %s row is not readable msgpack (%s)", kind, why);
		return (-1);
	}
	row = cJSON_CreateObject();
	k = dump_key_json(key, klen);
	d = json_from_msgpack_exact(&u.data);
	msgpack_unpacked_destroy(&u);
	if (row == NULL || k == NULL || d == NULL) {
		cJSON_Delete(row);
		cJSON_Delete(k);
		cJSON_Delete(d);
		l->rows++;
		dump_lost(l, "a %s row cannot be written as JSON", kind);
		return (-1);
	}
	cJSON_AddStringToObject(row, "kind", kind);
	cJSON_AddItemToObject(row, "key", k);
	cJSON_AddItemToObject(row, "data", d);
	if ((text = cJSON_PrintUnformatted(row)) == NULL)
		fatalx("out of memory");
	fprintf(fp, "%s%s", n > 0 ? ",\n" : "\n", text);
	free(text);
	cJSON_Delete(row);
	return (0);
}

/*
 * Print the rows of kind in key order (desc: backwards, down to keys
 * above *last), counting them in *n; *last is left at the last key read.
 * How many were printed, and SQLite's error in *err if it stopped early.
 */
static size_t
dump_scan(sqlite3 *h, FILE *fp, const char *kind, int desc, char **last, size_t *lastlen,
    size_t *n, struct dump_loss *l, char **err)
{
	sqlite3_stmt *st;
	size_t got = 0;
	int rc;

	if (sqlite3_prepare_v2(h,
		desc ? "SELECT key, data FROM objects WHERE kind = ?1 AND "
		       "key > ?2 ORDER BY key DESC"
		     : "SELECT key, data FROM objects WHERE kind = ?1 "
		       "ORDER BY key",
		-1, &st, NULL) != SQLITE_OK) {
		*err = xstrdup(sqlite3_errmsg(h));
		return (0);
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (desc)
		sqlite3_bind_blob(st, 2, *last != NULL ? *last : "", (int)*lastlen,
		    SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (dump_row(fp, kind, sqlite3_column_blob(st, 0),
			(size_t)sqlite3_column_bytes(st, 0), sqlite3_column_blob(st, 1),
			(size_t)sqlite3_column_bytes(st, 1), *n, l) != 0)
			continue;
		(*n)++;
		got++;
		if (!desc) {
			free(*last);
			*lastlen = (size_t)sqlite3_column_bytes(st, 0);
			*last = xmalloc(*lastlen + 1);
			memcpy(*last, sqlite3_column_blob(st, 0), *lastlen);
		}
	}
	if (rc != SQLITE_DONE)
		*err = xstrdup(sqlite3_errmsg(h));
	sqlite3_finalize(st);
	return (got);
}

/*
 * Print every readable row of kind.  A damaged b-tree stops a scan at
 * the first page it cannot read; the rows past it are read from the
 * other end, down to where the first scan stopped.
 */
static void
dump_kind(sqlite3 *h, FILE *fp, const char *kind, size_t *n, struct dump_loss *l)
{
	char *last = NULL, *err = NULL, *err2 = NULL;
	size_t lastlen = 0, fwd, back;

	fwd = dump_scan(h, fp, kind, 0, &last, &lastlen, n, l, &err);
	if (err != NULL) {
		back = dump_scan(h, fp, kind, 1, &last, &lastlen, n, l, &err2);
		l->kinds++;
		dump_lost(l,
		    "%s rows: read %zu from the start and %zu from the end, the "
		    "rest not: %s",
		    kind, fwd, back, err);
	}
	free(last);
	free(err);
	free(err2);
}

/* Count rows of kinds this batond does not know (a newer schema's): lost. */
static void
dump_unknown_kinds(sqlite3 *h, struct dump_loss *l)
{
	sqlite3_stmt *st;
	const char *kind;

	if (sqlite3_prepare_v2(h, "SELECT kind, count(*) FROM objects GROUP BY kind", -1, &st,
		NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		kind = (const char *)sqlite3_column_text(st, 0);
		if (kind != NULL && store_kind_find(kind) == NULL) {
			l->rows += (size_t)sqlite3_column_int64(st, 1);
			l->kinds++;
			dump_lost(l, "%lld rows of unknown kind %s",
			    (long long)sqlite3_column_int64(st, 1), kind);
		}
	}
	sqlite3_finalize(st);
}

/*
 * A broker killed before its thread folded the journal into the
 * database left changes only the journal holds: the export lacks them.
 */
static void
dump_journal_check(const char *dbpath, struct dump_loss *l)
{
	struct stat sb;
	char *jp = journal_path(dbpath);

	if (stat(jp, &sb) == 0 && sb.st_size > 0) {
		dump_lost(l,
		    "%s holds %lld bytes of changes not folded into the database yet: "
		    "start batond once (it folds them) and export again",
		    jp, (long long)sb.st_size);
		l->kinds++;
	}
	free(jp);
}

/* Open dbpath read-only and check it is a state database; 0 or a status. */
static int
dump_open_db(const char *dbpath, sqlite3 **h, int *schema, uint64_t *rev, struct dump_loss *l,
    char **cause)
{
	char *c = NULL;
	int rc;

	if (access(dbpath, F_OK) != 0) {
		xasprintf(cause, "cannot read %s: %s", dbpath, strerror(errno));
		return (DUMP_DATAERR);
	}
	if (sqlite3_open_v2(dbpath, h, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		xasprintf(cause, "cannot open %s: %s", dbpath, sqlite3_errmsg(*h));
		return (DUMP_DATAERR);
	}
	/* a broker that is stopping holds its lock a moment longer */
	sqlite3_busy_timeout(*h, 1000);
	/* lets SQLite read a file shorter than its header says: salvage what is there */
	sqlite3_exec(*h, "PRAGMA writable_schema = ON", NULL, NULL, NULL);
	if (store_user_version(*h, schema, &c) != 0) {
		rc = sqlite3_errcode(*h);
		free(c);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
			xasprintf(cause,
			    "%s is in use by a running batond; `baton export` asks "
			    "the broker for a snapshot instead",
			    dbpath);
			return (DUMP_CONFLICT);
		}
		xasprintf(cause, "%s cannot be read at all: %s; nothing to export", dbpath,
		    sqlite3_errmsg(*h));
		return (DUMP_DATAERR);
	}
	if (*schema == 0 || *schema > store_schema_version()) {
		xasprintf(cause,
		    *schema == 0 ? "%s is not a baton state database"
				 : "%s has schema %d, newer than this batond's; export it with "
				   "the newer "
				   "batond",
		    dbpath, *schema);
		return (DUMP_DATAERR);
	}
	if (store_meta_get(*h, "revision_ceiling", rev, &c) != 0) {
		dump_lost(l,
		    "the revision ceiling (%s): after import, choose a revision "
		    "above every fence handed out",
		    c);
		l->kinds++;
		free(c);
	}
	dump_journal_check(dbpath, l);
	return (DUMP_OK);
}

/* Open out for writing: a temporary file next to it (renamed at the end), or stdout. */
static FILE *
dump_out_open(const char *out, char **tmp, char **cause)
{
	FILE *fp;
	int fd;

	*tmp = NULL;
	if (strcmp(out, "-") == 0)
		return (stdout);
	xasprintf(tmp, "%s.XXXXXX", out);
	if ((fd = mkstemp(*tmp)) == -1 || fchmod(fd, 0600) != 0 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		xasprintf(cause, "cannot create %s: %s", *tmp, strerror(errno));
		if (fd != -1) {
			close(fd);
			unlink(*tmp);
		}
		free(*tmp);
		*tmp = NULL;
		return (NULL);
	}
	return (fp);
}

/* Flush, sync and rename out into place; 0, or -1 with cause (the temp file is gone). */
static int
dump_out_close(FILE *fp, const char *out, char *tmp, char **cause)
{
	int bad;

	bad = fflush(fp) != 0 || ferror(fp);
	if (tmp == NULL) {
		if (bad)
			xasprintf(cause, "cannot write the export: %s", strerror(errno));
		return (bad ? -1 : 0);
	}
	bad = bad || fsync(fileno(fp)) != 0;
	if (fclose(fp) != 0 || bad || rename(tmp, out) != 0) {
		xasprintf(cause, "cannot write %s: %s", out, strerror(errno));
		unlink(tmp);
		free(tmp);
		return (-1);
	}
	free(tmp);
	return (0);
}

/*
 * batond --export: every readable row of dbpath as JSON in out ("-" is
 * stdout).  The status: 0 complete, 65 when anything was lost (cause
 * says what), 1 when a broker holds the database, 70 when out cannot be
 * written.
 */
int
dump_export(const char *dbpath, const char *out, char **cause)
{
	struct dump_loss l = { 0, 0, NULL };
	const struct store_kind *k;
	sqlite3 *h = NULL;
	uint64_t rev = 0;
	char when[32], *tmp;
	time_t now = time(NULL);
	size_t i, n = 0;
	FILE *fp;
	int schema, rc;

	if ((rc = dump_open_db(dbpath, &h, &schema, &rev, &l, cause)) != DUMP_OK) {
		sqlite3_close(h);
		free(l.what);
		return (rc);
	}
	if ((fp = dump_out_open(out, &tmp, cause)) == NULL) {
		sqlite3_close(h);
		free(l.what);
		return (DUMP_SOFTWARE);
	}
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(fp,
	    "{\"baton_state\":%d,\"schema\":%d,\"revision\":%llu,"
	    "\"exported_at\":\"%s\",\"rows\":[",
	    DUMP_FORMAT, schema, (unsigned long long)rev, when);
	for (i = 0; (k = store_kind_at(i)) != NULL; i++)
		dump_kind(h, fp, k->name, &n, &l);
	dump_unknown_kinds(h, &l);
	fputs("\n]}\n", fp);
	sqlite3_close(h);
	if (dump_out_close(fp, out, tmp, cause) != 0) {
		free(l.what);
		return (DUMP_SOFTWARE);
	}
	if (l.what == NULL)
		return (DUMP_OK);
	xasprintf(cause,
	    "%s is damaged: exported %zu rows; could not read %zu rows and %zu "
	    "kinds fully (%s)",
	    dbpath, n, l.rows, l.kinds, l.what);
	free(l.what);
	return (DUMP_DATAERR);
}

/* The whole of file path ("-": stdin), NUL-terminated; NULL with cause. */
static char *
dump_read_file(const char *path, char **cause)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	size_t len = 0, size = 65536, got;
	char *buf;

	if (fp == NULL) {
		xasprintf(cause, "cannot read %s: %s", path, strerror(errno));
		return (NULL);
	}
	buf = xmalloc(size);
	while ((got = fread(buf + len, 1, size - len - 1, fp)) > 0) {
		len += got;
		if (len > DUMP_MAX_FILE) {
			xasprintf(cause, "%s is larger than %ld bytes", path, DUMP_MAX_FILE);
			break;
		}
		if (size - len - 1 == 0) {
			buf = xreallocarray(buf, 2, size);
			size *= 2;
		}
	}
	if (len <= DUMP_MAX_FILE && ferror(fp))
		xasprintf(cause, "cannot read %s: %s", path, strerror(errno));
	if (fp != stdin)
		fclose(fp);
	if (*cause != NULL) {
		free(buf);
		return (NULL);
	}
	buf[len] = '\0';
	return (buf);
}

/* Where cJSON stopped parsing text, as "line L column C". */
static void
dump_json_where(const char *text, char *buf, size_t len)
{
	const char *at = cJSON_GetErrorPtr(), *p;
	int line = 1, col = 1;

	for (p = text; at != NULL && p < at && *p != '\0'; p++) {
		if (*p == '\n') {
			line++;
			col = 1;
		} else
			col++;
	}
	snprintf(buf, len, "line %d column %d", line, col);
}

/* A rows[] entry being imported: the row and its packed data. */
struct dump_item {
	struct store_row row;
	char *key;
	struct fbuf fb;
};

/* The key of a row as bytes (a string, or {"$str":HEX}); NULL with *why. */
static char *
dump_key(const cJSON *j, const char **why)
{
	msgpack_unpacked u;
	struct fbuf fb;
	const char *p;
	char *key = NULL;
	size_t len;

	*why = "key must be a string without NUL bytes";
	if (cJSON_IsString(j))
		return (*j->valuestring != '\0' ? xstrdup(j->valuestring) : NULL);
	if (!cJSON_IsObject(j))
		return (NULL);
	fbuf_init(&fb);
	msgpack_unpacked_init(&u);
	if (json_pack_exact(&fb, j, &p) == 0 &&
	    frame_decode(fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, &u, &p) == 0 &&
	    mp_str(&u.data, &p, &len) == 0 && len > 0 && memchr(p, '\0', len) == NULL)
		key = xstrndup(p, len);
	msgpack_unpacked_destroy(&u);
	fbuf_free(&fb);
	return (key);
}

/* Check and pack row i of the file; 0, or -1 with cause naming the row. */
static int
dump_item(const cJSON *j, size_t i, struct dump_item *it, char **cause)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
	const char *why = NULL, *kname = cJSON_IsString(kind) ? kind->valuestring : "?";
	char *kj;

	memset(it, 0, sizeof *it);
	fbuf_init(&it->fb);
	if (!cJSON_IsObject(j))
		why = "a row must be an object {\"kind\", \"key\", \"data\"}";
	else if (!cJSON_IsString(kind))
		why = "kind must be a string";
	else if ((it->row.kind = store_kind_find(kind->valuestring)) == NULL)
		why = "unknown kind (a newer batond's export?)";
	else if ((it->key = dump_key(key, &why)) == NULL)
		;
	else if (!cJSON_IsObject(data))
		why = "data must be an object";
	else if (json_pack_exact(&it->fb, data, &why) != 0)
		why = why != NULL ? why : "data cannot be encoded";
	else if (frame_check(it->fb.sb.data + FRAME_HDR, it->fb.sb.size - FRAME_HDR, &why) != 0)
		;
	else {
		it->row.key = it->key;
		it->row.data = it->fb.sb.data + FRAME_HDR;
		it->row.len = it->fb.sb.size - FRAME_HDR;
		return (0);
	}
	kj = key != NULL ? cJSON_PrintUnformatted(key) : NULL;
	xasprintf(cause, "row %zu (%s %s): %s", i + 1, kname, kj != NULL ? kj : "?", why);
	free(kj);
	return (-1);
}

/* Free what dump_items made. */
static void
dump_items_free(struct dump_item *items, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(items[i].key);
		fbuf_free(&items[i].fb);
	}
	free(items);
}

/* One (kind, key) seen, to refuse a file that gives a row twice. */
struct dump_seen {
	const struct dump_item *it;
	char *id; /* kind '\0' key */
	size_t len;
	UT_hash_handle hh;
};

/* Refuse two rows with one kind and key: which one was meant is unknown. */
static int
dump_duplicates(const struct dump_item *items, size_t n, char **cause)
{
	struct dump_seen *seen = NULL, *sn, *tmp;
	size_t i, kl;
	char *id;
	int rv = 0;

	for (i = 0; i < n && rv == 0; i++) {
		kl = strlen(items[i].row.kind->name);
		id = xmalloc(kl + 1 + strlen(items[i].key) + 1);
		memcpy(id, items[i].row.kind->name, kl + 1);
		strcpy(id + kl + 1, items[i].key);
		HASH_FIND(hh, seen, id, kl + 1 + strlen(items[i].key), sn);
		if (sn != NULL) {
			cJSON *kj = dump_key_json(items[i].key, strlen(items[i].key));
			char *ks = kj != NULL ? cJSON_PrintUnformatted(kj) : NULL;

			xasprintf(cause,
			    "row %zu (%s %s) repeats row %zu: each kind and key "
			    "may appear once",
			    i + 1, items[i].row.kind->name, ks != NULL ? ks : "?",
			    (size_t)(sn->it - items) + 1);
			cJSON_free(ks);
			cJSON_Delete(kj);
			free(id);
			rv = 1;
			break;
		}
		sn = xcalloc(1, sizeof *sn);
		sn->it = &items[i];
		sn->id = id;
		sn->len = kl + 1 + strlen(items[i].key);
		HASH_ADD_KEYPTR(hh, seen, sn->id, sn->len, sn);
	}
	HASH_ITER(hh, seen, sn, tmp) {
		HASH_DEL(seen, sn);
		free(sn->id);
		free(sn);
	}
	return (rv != 0 ? -1 : 0);
}

/* Check the file's header and every row; the rows packed, NULL with cause. */
static struct dump_item *
dump_items(const cJSON *top, const char *path, size_t *n, uint64_t *rev, char **cause)
{
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(top, "baton_state");
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(top, "schema");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(top, "revision");
	const cJSON *rows = cJSON_GetObjectItemCaseSensitive(top, "rows"), *j;
	struct dump_item *items;
	size_t i;

	if (!cJSON_IsNumber(fmt) || fmt->valuedouble != DUMP_FORMAT) {
		xasprintf(cause, "%s is not a baton state export (no \"baton_state\":%d)", path,
		    DUMP_FORMAT);
		return (NULL);
	}
	if (!cJSON_IsNumber(schema) || schema->valuedouble < 1 ||
	    schema->valuedouble > store_schema_version()) {
		xasprintf(cause,
		    "%s: schema must be 1 to %d (a newer batond's export needs that "
		    "batond)",
		    path, store_schema_version());
		return (NULL);
	}
	if (!cJSON_IsNumber(r) || !(r->valuedouble >= 0 && r->valuedouble < 9e15)) {
		xasprintf(cause, "%s: revision must be a number from 0 to 9e15", path);
		return (NULL);
	}
	*rev = (uint64_t)r->valuedouble;
	if (!cJSON_IsArray(rows)) {
		xasprintf(cause, "%s: rows must be an array", path);
		return (NULL);
	}
	*n = (size_t)cJSON_GetArraySize(rows);
	items = xcalloc(*n > 0 ? *n : 1, sizeof *items);
	for (i = 0, j = rows->child; j != NULL; i++, j = j->next) {
		if (dump_item(j, i, &items[i], cause) != 0) {
			dump_items_free(items, i + 1);
			return (NULL);
		}
	}
	if (dump_duplicates(items, *n, cause) != 0) {
		dump_items_free(items, *n);
		return (NULL);
	}
	return (items);
}

/*
 * What is at path: -1 nothing, 0 a database no broker holds (its row
 * count in *rows, UINT64_MAX when unreadable, and its revision ceiling),
 * 1 a database a broker holds.
 */
static int
dump_old_db(const char *path, uint64_t *rows, uint64_t *ceil)
{
	sqlite3_stmt *st;
	sqlite3 *h = NULL;
	char *c = NULL;
	int rc;

	*rows = UINT64_MAX;
	*ceil = 0;
	if (access(path, F_OK) != 0)
		return (-1);
	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(h);
		return (0);
	}
	if (sqlite3_prepare_v2(h, "SELECT count(*) FROM objects", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			*rows = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	rc = sqlite3_errcode(h);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
		sqlite3_close(h);
		return (1);
	}
	if (store_meta_get(h, "revision_ceiling", ceil, &c) != 0)
		free(c);
	sqlite3_close(h);
	return (0);
}

/* Hold sock's lock file (as batond does for life) when it exists; -1 if a broker has it. */
static int
dump_lock_socket(const char *sock, int *fd)
{
	char *path;

	*fd = -1;
	if (sock == NULL)
		return (0);
	xasprintf(&path, "%s.lock", sock);
	*fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (*fd != -1 && flock(*fd, LOCK_EX | LOCK_NB) == -1) {
		close(*fd);
		*fd = -1;
		return (-1);
	}
	return (0);
}

/* Rename (to != NULL) or remove path and its -wal and -shm files; 0 or -1. */
static int
dump_move_db(const char *path, const char *to)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char *a, *b;
	size_t i;
	int rc = 0;

	for (i = 0; i < nitems(suffix); i++) {
		xasprintf(&a, "%s%s", path, suffix[i]);
		if (to != NULL) {
			xasprintf(&b, "%s%s", to, suffix[i]);
			if (rename(a, b) != 0 && errno != ENOENT)
				rc = -1;
			free(b);
		} else if (unlink(a) != 0 && errno != ENOENT)
			rc = -1;
		free(a);
	}
	return (rc);
}

/* A free name for the previous state.db: state.db.bak-YYYYmmddTHHMMSS[-N]. */
static char *
dump_backup_name(const char *dbpath)
{
	char when[32], *name;
	time_t now = time(NULL);
	int i;

	strftime(when, sizeof when, "%Y%m%dT%H%M%S", localtime(&now));
	xasprintf(&name, "%s.bak-%s", dbpath, when);
	for (i = 2; access(name, F_OK) == 0; i++) {
		free(name);
		xasprintf(&name, "%s.bak-%s-%d", dbpath, when, i);
	}
	return (name);
}

/*
 * Build newpath from the checked rows and load it with the broker's own
 * store_restore, so that a row batond could not start on is refused now.
 */
static int
dump_build(const char *newpath, struct dump_item *items, size_t n, uint64_t floor, char **cause)
{
	struct store_row *rows;
	size_t i;
	int rc = DUMP_OK;

	dump_move_db(newpath, NULL);
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (store_open_file(newpath, 1, cause) != 0)
		return (DUMP_SOFTWARE);
	store_start();
	rows = xcalloc(n > 0 ? n : 1, sizeof *rows);
	for (i = 0; i < n; i++)
		rows[i] = items[i].row;
	if (store_write_rows(rows, n, floor, cause) != 0)
		rc = DUMP_SOFTWARE;
	else if (store_restore(cause) != 0) {
		char *c = *cause;
		xasprintf(cause, "the rows would not load (nothing was changed): %s", c);
		free(c);
		rc = DUMP_DATAERR;
	}
	free(rows);
	store_close();
	if (rc != DUMP_OK)
		dump_move_db(newpath, NULL);
	return (rc);
}

/*
 * The journal beside the replaced database belongs to it: its groups
 * must not be folded into the imported one.  Kept beside the backup
 * when it holds anything, else removed.
 */
static int
dump_swap_journal(const char *dbpath, const char *backup, char **cause)
{
	struct stat sb;
	char *jp = journal_path(dbpath), *to;
	int rc = DUMP_OK;

	if (stat(jp, &sb) == 0 && sb.st_size > 0) {
		xasprintf(&to, "%s.journal", backup != NULL ? backup : dbpath);
		if (rename(jp, to) != 0) {
			xasprintf(cause, "cannot move %s to %s: %s", jp, to, strerror(errno));
			rc = DUMP_SOFTWARE;
		}
		free(to);
	} else if (unlink(jp) != 0 && errno != ENOENT) {
		xasprintf(cause, "cannot remove %s: %s", jp, strerror(errno));
		rc = DUMP_SOFTWARE;
	}
	free(jp);
	return (rc);
}

/* Put newpath in place of dbpath, the old one moved to *backup or removed. */
static int
dump_swap(const char *dbpath, const char *newpath, int old, uint64_t oldrows, char **backup,
    char **cause)
{
	*backup = NULL;
	if (old == 0 && oldrows > 0) {
		*backup = dump_backup_name(dbpath);
		if (dump_move_db(dbpath, *backup) != 0) {
			xasprintf(cause, "cannot move %s to %s: %s", dbpath, *backup,
			    strerror(errno));
			return (DUMP_SOFTWARE);
		}
	} else if (old == 0 && dump_move_db(dbpath, NULL) != 0) {
		xasprintf(cause, "cannot remove the empty %s: %s", dbpath, strerror(errno));
		return (DUMP_SOFTWARE);
	}
	if (dump_move_db(newpath, dbpath) != 0) {
		xasprintf(cause, "cannot rename %s to %s: %s", newpath, dbpath,
		    strerror(errno));
		return (DUMP_SOFTWARE);
	}
	return (dump_swap_journal(dbpath, *backup, cause));
}

/*
 * Read and check the export in file: its rows (their number in *n, the
 * revision in *rev), which point into *top; NULL with cause.
 */
static struct dump_item *
dump_parse(const char *file, cJSON **top, size_t *n, uint64_t *rev, char **cause)
{
	struct dump_item *items;
	char *text, *c, where[64];

	if ((text = dump_read_file(file, cause)) == NULL)
		return (NULL);
	if ((*top = cJSON_ParseWithOpts(text, NULL, 1)) == NULL) {
		dump_json_where(text, where, sizeof where);
		xasprintf(cause, "%s: invalid JSON at %s", file, where);
		free(text);
		return (NULL);
	}
	free(text);
	if ((items = dump_items(*top, file, n, rev, cause)) == NULL &&
	    strncmp(*cause, file, strlen(file)) != 0) {
		c = *cause;
		xasprintf(cause, "%s: %s", file, c);
		free(c);
	}
	return (items);
}

/*
 * batond --import: replace dir/state.db by the rows of the export in
 * file; sock's broker, if any, must not run.  The status: 0, 1 (a broker
 * runs; state.db holds rows and replace is 0), 65 (bad file, a row that
 * would not load), 70 (cannot write).
 */
int
dump_import(const char *dir, const char *sock, const char *file, int replace, char **cause)
{
	struct dump_item *items = NULL;
	uint64_t rev = 0, oldrows, oldceil, markceil, markrev;
	char *dbpath = NULL, *newpath = NULL, *backup = NULL;
	cJSON *top = NULL;
	size_t n = 0;
	int rc, old = -1, lockfd = -1;

	*cause = NULL;
	if ((items = dump_parse(file, &top, &n, &rev, cause)) == NULL) {
		rc = DUMP_DATAERR;
		goto out;
	}
	xasprintf(&dbpath, "%s/state.db", dir);
	xasprintf(&newpath, "%s/state.db.importing", dir);
	if (dump_lock_socket(sock, &lockfd) != 0 ||
	    (old = dump_old_db(dbpath, &oldrows, &oldceil)) == 1) {
		xasprintf(cause,
		    "a batond is running on %s: stop it first (it would go on "
		    "with its own state)",
		    lockfd == -1 && sock != NULL ? sock : dbpath);
		rc = DUMP_CONFLICT;
		goto out;
	}
	if (old == 0 && oldrows > 0 && !replace) {
		if (oldrows == UINT64_MAX)
			xasprintf(cause,
			    "%s exists and cannot be read; add --replace to move it "
			    "aside and import",
			    dbpath);
		else
			xasprintf(cause,
			    "%s already holds %llu rows; add --replace to move it "
			    "aside and import",
			    dbpath, (unsigned long long)oldrows);
		rc = DUMP_CONFLICT;
		goto out;
	}
	/* fences never go back: above the file, the database replaced and the mark */
	if (store_mark_read(dir, &markceil, &markrev, cause) == -1) {
		rc = DUMP_DATAERR;
		goto out;
	}
	if (oldceil > rev)
		rev = oldceil;
	if (markceil > rev)
		rev = markceil;
	if ((rc = dump_build(newpath, items, n, rev, cause)) != DUMP_OK ||
	    (rc = dump_swap(dbpath, newpath, old, oldrows, &backup, cause)) != DUMP_OK)
		goto out;
	if (backup != NULL)
		fprintf(stderr, "batond: the previous state.db is now %s\n", backup);
	printf("imported %zu rows into %s\n", n, dbpath);
	if (fflush(stdout) != 0)
		rc = DUMP_SOFTWARE;
out:
	if (lockfd != -1)
		close(lockfd);
	if (items != NULL)
		dump_items_free(items, n);
	cJSON_Delete(top);
	free(dbpath);
	free(newpath);
	free(backup);
	return (rc);
}

/*
 * The one snapshot state_export made that is still there, and the session
 * it is for: each is a full copy of the database, so there is one at a
 * time, removed when that session ends (or asks for another).
 */
static char *snap_path;
static struct session *snap_owner;

/* Remove the snapshot, if there is one. */
static void
dump_snapshot_remove(void)
{
	if (snap_path == NULL)
		return;
	if (unlink(snap_path) == 0)
		log_info("state_export: removed %s", snap_path);
	else if (errno != ENOENT)
		log_warn("state_export: cannot remove %s", snap_path);
	free(snap_path);
	snap_path = NULL;
	snap_owner = NULL;
}

/* A session ended: its snapshot, converted or not, goes with it. */
static void
dump_session_closed(struct session *s)
{
	if (s == snap_owner)
		dump_snapshot_remove();
}

/* Snapshots end with the session that asked for them. */
void
dump_init(void)
{
	session_on_close(dump_session_closed);
}

/* The broker stops: no snapshot outlives it. */
void
dump_shutdown(void)
{
	dump_snapshot_remove();
}

/* Make the snapshot for r in a new file in the state directory: its path, or NULL (answered). */
static char *
dump_snapshot(struct req *r, uint64_t *rows)
{
	char rnd[17], dir[PATH_MAX], *path, *cause = NULL;
	int fd;

	if (realpath(cfg.state_dir, dir) == NULL) {
		reply_error(r->c, r->id, ERR_INTERNAL, NULL, "state directory %s: %s",
		    cfg.state_dir, strerror(errno));
		return (NULL);
	}
	random_hex(rnd, sizeof rnd);
	xasprintf(&path, "%s/export-%s.db", dir, rnd);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, path_file_mode);
	if (fd == -1 || close(fd) != 0 || store_snapshot(path, rows, &cause) != 0) {
		if (cause == NULL)
			xasprintf(&cause, "cannot create %s: %s", path, strerror(errno));
		if (fd != -1)
			unlink(path);
		log_warnx("state_export: %s", cause);
		reply_error(r->c, r->id, ERR_INTERNAL, NULL, "%s", cause);
		free(cause);
		free(path);
		return (NULL);
	}
	return (path);
}

/*
 * state_export: commit what is pending and copy the database (VACUUM
 * INTO) to a new 0600 file (a team's: 0660) in the state directory, named here, never by
 * the peer; `baton export` converts it with `batond --from`, removes it
 * and disconnects, and the broker removes it then if it is still there.
 */
void
op_state_export(struct req *r)
{
	struct fbuf *fb;
	uint64_t rows;
	char *path;

	if (durability == DURABILITY_NONE) {
		reply_error(r->c, r->id, ERR_UNAVAILABLE, NULL,
		    "this broker keeps no database "
		    "(--durability none): its state lives only in memory and cannot be "
		    "exported");
		return;
	}
	if (snap_owner != NULL && snap_owner != r->s) {
		reply_error(r->c, r->id, ERR_CONFLICT, NULL,
		    "an export is in progress (session %s, %s): one snapshot at a time; try "
		    "again when it is done",
		    snap_owner->id, snap_owner->agent);
		return;
	}
	dump_snapshot_remove(); /* the caller's previous one */
	if ((path = dump_snapshot(r, &rows)) == NULL)
		return;
	snap_path = path;
	snap_owner = r->s;
	log_info("state_export: %llu rows to %s", (unsigned long long)rows, path);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kstr(fb, "path", path);
	pk_kuint(fb, "revision", revision);
	pk_kuint(fb, "rows", rows);
	pk_kstr(fb, "hint",
	    "a snapshot of the state database, removed when this connection closes: "
	    "convert it first with `batond --from PATH --export FILE` (baton export does "
	    "both)");
	pk_map_close(fb);
	reply_end(r->c, fb);
}

/*
 * At start-up: remove the snapshots of exports whose `baton export` died
 * before it removed them (export-<16 hex>.db and its journal files).
 */
void
dump_clean_snapshots(const char *dir)
{
	struct dirent *e;
	size_t i;
	char *path;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "export-", 7) != 0)
			continue;
		for (i = 7; i < 7 + 16 && isxdigit((unsigned char)e->d_name[i]); i++)
			;
		if (i != 7 + 16 ||
		    (strcmp(e->d_name + i, ".db") != 0 &&
			strcmp(e->d_name + i, ".db-wal") != 0 &&
			strcmp(e->d_name + i, ".db-shm") != 0 &&
			strcmp(e->d_name + i, ".db-journal") != 0))
			continue;
		xasprintf(&path, "%s/%s", dir, e->d_name);
		if (unlink(path) == 0)
			log_info("removed %s, left by an export that did not finish", path);
		free(path);
	}
	closedir(d);
}
