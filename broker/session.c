/* Sessions: who is connected, under which name, in which project. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define AGENT_MAX 64
#define ROLE_MAX 32
#define PROJECT_MAX 4096
#define LABEL_MAX 128

struct session_list sessions = TAILQ_HEAD_INITIALIZER(sessions);
static struct session *sessions_by_id;
static uint64_t session_seq;

/*
 * Copy an optional string field of the hello, bounded and free of
 * control characters; NULL when absent, -1 when present but bad.
 */
static int
session_field(const msgpack_object *hello, const char *key, size_t max, char **out,
    char **cause)
{
	const msgpack_object *o = mp_get(hello, key);
	const char *s;
	size_t n, i;

	*out = NULL;
	if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
		return (0);
	if (mp_str(o, &s, &n) != 0 || n > max) {
		xasprintf(cause, "hello: %s must be a string of at most %zu bytes", key, max);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			xasprintf(cause, "hello: %s must not contain control characters", key);
			return (-1);
		}
	}
	*out = n > 0 ? xstrndup(s, n) : NULL;
	return (0);
}

/* Create the session a hello asks for. */
struct session *
session_create(struct client *c, const msgpack_object *hello, char **cause)
{
	const msgpack_object *client = mp_get(hello, "client");
	struct session *s;
	int64_t pid;

	s = xcalloc(1, sizeof *s);
	TAILQ_INIT(&s->grants);
	TAILQ_INIT(&s->waiters);
	TAILQ_INIT(&s->bwaits);
	if (session_field(hello, "agent", AGENT_MAX, &s->agent, cause) != 0 ||
	    session_field(hello, "role", ROLE_MAX, &s->role, cause) != 0 ||
	    session_field(hello, "project", PROJECT_MAX, &s->project, cause) != 0 ||
	    session_field(hello, "kind", 16, &s->kind, cause) != 0 ||
	    (client != NULL &&
		(session_field(client, "name", LABEL_MAX, &s->client_name, cause) != 0 ||
		session_field(client, "version", LABEL_MAX, &s->client_version, cause) != 0))) {
		free(s->agent);
		free(s->role);
		free(s->project);
		free(s->kind);
		free(s->client_name);
		free(s);
		return (NULL);
	}
	s->pid = c->pid;
	if (mp_int(mp_get(hello, "pid"), &pid) == 0 && pid > 0 && pid < INT32_MAX)
		s->pid = (pid_t)pid;
	if (s->agent == NULL)
		xasprintf(&s->agent, "cli-%ld", (long)s->pid);
	if (s->project == NULL)
		s->project = xstrdup("default");
	if (s->kind == NULL)
		s->kind = xstrdup("cli");
	snprintf(s->id, sizeof s->id, "s%llu", (unsigned long long)++session_seq);
	random_hex(s->token, sizeof s->token);
	s->connected_ms = s->active_ms = mono_ms();
	s->client = c;
	HASH_ADD_STR(sessions_by_id, id, s);
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	log_info("session %s: agent %s pid %ld project %s", s->id, s->agent, (long)s->pid,
	    s->project);
	return (s);
}

struct session *
session_find(const char *id)
{
	struct session *s;

	HASH_FIND_STR(sessions_by_id, id, s);
	return (s);
}

/* Sessions in a project, or all of them for NULL. */
size_t
session_count(const char *project)
{
	struct session *s;
	size_t n = 0;

	if (project == NULL)
		return (HASH_COUNT(sessions_by_id));
	TAILQ_FOREACH(s, &sessions, entry) {
		if (strcmp(s->project, project) == 0)
			n++;
	}
	return (n);
}

/* The connection ended: release what the session held, end its waits. */
void
session_close(struct session *s)
{
	log_info("session %s: closed", s->id);
	wait_session_closed(s);
	lock_session_closed(s);
	HASH_DEL(sessions_by_id, s);
	TAILQ_REMOVE(&sessions, s, entry);
	free(s->agent);
	free(s->role);
	free(s->project);
	free(s->kind);
	free(s->client_name);
	free(s->client_version);
	free(s);
}
