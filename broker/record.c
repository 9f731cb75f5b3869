/*
 * Records of what the clients did outside the broker (DESIGN 13): the
 * git worktrees baton made (worktree.c) and the agents it started in
 * tmux (launch.c).  The broker runs no command; the client that ran git
 * or tmux writes a record with the table's _set operation, and everyone
 * reads them (status, cleanup, the dashboard).  A record is a name in a
 * project and a few string fields named as the _set operation's
 * arguments: a partial _set changes only the fields it gives.  Each
 * table is one store kind, rows keyed "PROJECT\nNAME", at most max
 * records per project.  uthash, as the rest of the broker.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

/* The record of name in project, or NULL. */
struct rec *
rec_find(struct rec_table *t, const char *project, const char *name)
{
	struct rec *rc;
	char *key;

	xasprintf(&key, "%s\n%s", project, name);
	HASH_FIND_STR(t->recs, key, rc);
	free(key);
	return (rc);
}

/* The value of field in rc (NULL when unset); the field must be the table's. */
const char *
rec_field(const struct rec_table *t, const struct rec *rc, const char *field)
{
	size_t i;

	for (i = 0; t->fields[i] != NULL; i++) {
		if (strcmp(t->fields[i], field) == 0)
			return (rc->f[i]);
	}
	fatalx("record table %s has no field %s", t->kind, field);
}

static size_t
rec_nfields(const struct rec_table *t)
{
	size_t n;

	for (n = 0; t->fields[n] != NULL; n++)
		;
	return (n);
}

/* A new, empty record (not yet in the table). */
static struct rec *
rec_new(struct rec_table *t, const char *project, const char *name)
{
	struct rec *rc = xcalloc(1, sizeof *rc);

	xasprintf(&rc->key, "%s\n%s", project, name);
	rc->project = xstrdup(project);
	rc->name = xstrdup(name);
	rc->f = xcalloc(rec_nfields(t), sizeof *rc->f);
	return (rc);
}

static void
rec_free(struct rec_table *t, struct rec *rc)
{
	size_t i, n = rec_nfields(t);

	for (i = 0; i < n; i++)
		free(rc->f[i]);
	free(rc->f);
	free(rc->key);
	free(rc->project);
	free(rc->name);
	free(rc->by);
	free(rc);
}

/* Records of project in t. */
static size_t
rec_count(const struct rec_table *t, const char *project)
{
	const struct rec *rc, *tmp;
	size_t n = 0;

	HASH_ITER(hh, t->recs, rc, tmp) {
		if (strcmp(rc->project, project) == 0)
			n++;
	}
	return (n);
}

/* Pack rc's fields into the open map fb, as its _get lists them. */
void
rec_pack(struct fbuf *fb, const struct rec_table *t, const struct rec *rc)
{
	char at[TIME_ISO_LEN];
	size_t i;

	pk_kstr(fb, "name", rc->name);
	for (i = 0; t->fields[i] != NULL; i++)
		pk_kstr_opt(fb, t->fields[i], rc->f[i]);
	pk_kstr(fb, "by", rc->by);
	pk_kstr(fb, "created_at", time_iso(rc->created, at, sizeof at));
	pk_kstr(fb, "updated_at", time_iso(rc->updated, at, sizeof at));
	pk_kuint(fb, "version", rc->version);
}

/*
 * The handler of a table's _set: create or change the record named
 * name in the caller's project, from the arguments named as the table's
 * fields ("" unsets one); remove forgets it.  The caller checked what
 * its fields must be.
 */
void
rec_set(struct rec_table *t, struct req *r)
{
	const char *project = r->s->project;
	char *name = arg_strdup(r, "name");
	struct rec *rc = rec_find(t, project, name);
	struct fbuf *fb;
	const char *v;
	size_t i, n;
	int removed = 0;

	if (t->absolute != NULL && arg_has(r, t->absolute) &&
	    (v = arg_str(r, t->absolute, &n)) != NULL && (n == 0 || v[0] != '/')) {
		reply_error(r->c, r->id, ERR_INVALID, t->absolute,
		    "%s must be an absolute path", t->absolute);
		free(name);
		return;
	}
	if (arg_bool(r, "remove")) {
		if (rc != NULL) {
			HASH_DEL(t->recs, rc);
			store_mark(t->sk, rc->key);
			feed_record(r->s, r->op->name, t->kind, project, name, "forgotten");
			rec_free(t, rc);
			revision_next();
		}
		removed = 1;
		goto reply;
	}
	if (rc == NULL) {
		if (rec_count(t, project) >= t->max) {
			reply_error(r->c, r->id, ERR_LIMIT, "name",
			    "%s records at most %zu %s per project; forget finished ones "
			    "first",
			    r->op->name, t->max, t->list);
			free(name);
			return;
		}
		rc = rec_new(t, project, name);
		rc->created = wall_ms();
		HASH_ADD_KEYPTR(hh, t->recs, rc->key, strlen(rc->key), rc);
	}
	for (i = 0; t->fields[i] != NULL; i++) {
		if (!arg_has(r, t->fields[i]) || (v = arg_str(r, t->fields[i], &n)) == NULL)
			continue;
		free(rc->f[i]);
		rc->f[i] = n > 0 ? xstrndup(v, n) : NULL;
	}
	free(rc->by);
	rc->by = xstrdup(r->s->agent);
	rc->updated = wall_ms();
	rc->version = revision_next();
	store_mark(t->sk, rc->key);
	feed_record(r->s, r->op->name, t->kind, project, name, "%s%s%s",
	    rec_field(t, rc, "state") != NULL ? rec_field(t, rc, "state") : "recorded",
	    rec_field(t, rc, t->detail) != NULL ? ": " : "",
	    rec_field(t, rc, t->detail) != NULL ? rec_field(t, rc, t->detail) : "");
reply:
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_kstr(fb, "name", name);
	pk_kbool(fb, "removed", removed);
	pk_kuint(fb, "version", revision);
	pk_map_close(fb);
	reply_end(r->c, fb);
	free(name);
}

/* Does rc match the filters of r: each argument of the _get that is a field or the name? */
static int
rec_matches(const struct rec_table *t, const struct rec *rc, struct req *r)
{
	const struct op_arg *a;
	const char *want, *have;
	size_t i, n;

	for (i = 0; i < r->op->nargs; i++) {
		a = &r->op->args[i];
		if (!arg_has(r, a->name) || (want = arg_str(r, a->name, &n)) == NULL)
			continue;
		have = strcmp(a->name, "name") == 0 ? rc->name : rec_field(t, rc, a->name);
		if (have == NULL || strlen(have) != n || memcmp(have, want, n) != 0)
			return (0);
	}
	return (1);
}

/* Records in name order, for a stable list. */
static int
rec_cmp(const void *a, const void *b)
{
	const struct rec *x = *(const struct rec *const *)a, *y = *(const struct rec *const *)b;

	return (strcmp(x->name, y->name));
}

/*
 * The handler of a table's _get: the caller's project's records that
 * match its arguments, in name order, each packed with rec_pack and
 * then extra (what the broker knows of it: who is here...).
 */
void
rec_get(struct rec_table *t, struct req *r,
    void (*extra)(struct fbuf *, const struct rec *, struct req *))
{
	struct rec *rc, *tmp, **v = NULL;
	struct fbuf *fb;
	size_t n = 0, i;

	HASH_ITER(hh, t->recs, rc, tmp) {
		if (strcmp(rc->project, r->s->project) != 0 || !rec_matches(t, rc, r))
			continue;
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n++] = rc;
	}
	if (n > 1)
		qsort(v, n, sizeof *v, rec_cmp);
	fb = reply_begin(r->id);
	pk_map_open(fb);
	pk_str(fb, t->list);
	pk_array(fb, n);
	for (i = 0; i < n; i++) {
		pk_map_open(fb);
		rec_pack(fb, t, v[i]);
		if (extra != NULL)
			extra(fb, v[i], r);
		pk_map_close(fb);
	}
	pk_kuint(fb, "count", n);
	pk_map_close(fb);
	reply_end(r->c, fb);
	free(v);
}

/* A store kind's pack for a record table (kind->arg): 0 when the record is gone. */
int
rec_store_pack(const struct store_kind *kind, const char *key, struct fbuf *fb)
{
	struct rec_table *t = kind->arg;
	struct rec *rc;
	size_t i;

	HASH_FIND_STR(t->recs, key, rc);
	if (rc == NULL)
		return (0);
	pk_map_open(fb);
	for (i = 0; t->fields[i] != NULL; i++)
		pk_kstr_opt(fb, t->fields[i], rc->f[i]);
	pk_kstr(fb, "by", rc->by);
	pk_kint(fb, "created", rc->created);
	pk_kint(fb, "updated", rc->updated);
	pk_kuint(fb, "version", rc->version);
	pk_map_close(fb);
	return (1);
}

/* A store kind's restore for a record table: the record of key from its row. */
int
rec_store_restore(const struct store_kind *kind, const char *key, const msgpack_object *o,
    char **cause)
{
	struct rec_table *t = kind->arg;
	const char *nl = strchr(key, '\n');
	struct rec *rc;
	char *project;
	size_t i;

	if (nl == NULL || nl == key || nl[1] == '\0' || o->type != MSGPACK_OBJECT_MAP) {
		xasprintf(cause, "%s %s: bad row", kind->name, key);
		return (-1);
	}
	project = xstrndup(key, (size_t)(nl - key));
	rc = rec_new(t, project, nl + 1);
	free(project);
	for (i = 0; t->fields[i] != NULL; i++)
		rc->f[i] = mp_get_strdup(o, t->fields[i]);
	if ((rc->by = mp_get_strdup(o, "by")) == NULL)
		rc->by = xstrdup("?");
	rc->created = mp_get_int(o, "created", 0);
	rc->updated = mp_get_int(o, "updated", 0);
	rc->version = (uint64_t)mp_get_int(o, "version", 0);
	HASH_ADD_KEYPTR(hh, t->recs, rc->key, strlen(rc->key), rc);
	return (0);
}
