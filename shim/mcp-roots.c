/*
 * The project of `baton mcp` from the client's roots (DESIGN §2):
 * without an explicit project (--project, $BATON_PROJECT,
 * $CLAUDE_PROJECT_DIR), a client that offers roots is asked for them
 * after initialization, and its first local directory is the project.
 * Tool calls that come meanwhile are held (bounded in time) and replayed
 * in order once the answer is in.
 */
#include "config.h"

#include <sys/stat.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "shim.h"

#define MCP_ROOTS_WAIT_MS 3000     /* for the client's answer to roots/list */
#define MCP_ROOTS_ID "baton-roots" /* the id of our one request to the client */

/* The value of a hex digit, or -1. */
static int
mcp_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/*
 * The directory of a file:// URI (empty or "localhost" host, %XX
 * decoded), malloc'd and resolved, or NULL when it is not a local
 * directory.
 */
static char *
mcp_root_dir(const char *uri)
{
	char buf[PATH_MAX], *path, *o;
	const char *p;
	struct stat sb;
	int hi, lo;

	if (strncmp(uri, "file://", 7) != 0)
		return (NULL);
	p = uri + 7;
	if (strncmp(p, "localhost/", 10) == 0)
		p += 9;
	if (*p != '/' || strlen(p) >= PATH_MAX)
		return (NULL);
	o = path = xmalloc(strlen(p) + 1);
	for (; *p != '\0' && *p != '?' && *p != '#'; p++) {
		if (*p == '%' && (hi = mcp_hex_digit(p[1])) >= 0 &&
		    (lo = mcp_hex_digit(p[2])) >= 0 && (hi != 0 || lo != 0)) {
			*o++ = (char)(hi << 4 | lo);
			p += 2;
		} else if (*p == '%') {
			free(path);
			return (NULL);
		} else
			*o++ = *p;
	}
	*o = '\0';
	if (realpath(path, buf) == NULL || stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		log_warnx("root %s is not a local directory; not using it as the project", uri);
		free(path);
		return (NULL);
	}
	free(path);
	return (project_of_dir(xstrdup(buf))); /* a worktree's root: its repository */
}

/* The project is settled: connect, then handle what waited for it. */
void
mcp_roots_done(struct mcp *m)
{
	struct op_error err;
	char **held = m->held;
	size_t i, n = m->nheld;

	m->roots_pending = 0;
	evtimer_del(m->roots_timer);
	m->held = NULL;
	m->nheld = 0;
	if (mcp_connect(m, 1, &err) != 0)
		log_warnx("%s (will retry at the next tool call)", err.message);
	for (i = 0; i < n; i++) {
		mcp_line(m, held[i], strlen(held[i]));
		free(held[i]);
	}
	free(held);
}

/* Ask the client for its roots; tool calls wait for the answer (bounded). */
void
mcp_roots_ask(struct mcp *m)
{
	struct timeval tv = tv_secs(MCP_ROOTS_WAIT_MS / 1000.0);
	cJSON *req = cJSON_CreateObject();

	cJSON_AddStringToObject(req, "jsonrpc", "2.0");
	cJSON_AddStringToObject(req, "id", MCP_ROOTS_ID);
	cJSON_AddStringToObject(req, "method", "roots/list");
	mcp_write(m, req);
	cJSON_Delete(req);
	m->roots_pending = 1;
	evtimer_add(m->roots_timer, &tv);
}

/*
 * A response from the client, to request id: only roots/list is ours.
 * Its roots (or error: result NULL): the first local one is the project.
 */
void
mcp_roots_answer(struct mcp *m, const cJSON *id, const cJSON *result)
{
	const cJSON *roots = cJSON_GetObjectItemCaseSensitive(result, "roots"), *r, *uri;
	char *dir = NULL;

	if (!m->roots_pending || !cJSON_IsString(id) ||
	    strcmp(id->valuestring, MCP_ROOTS_ID) != 0)
		return;

	cJSON_ArrayForEach(r, roots) {
		uri = cJSON_GetObjectItemCaseSensitive(r, "uri");
		if (cJSON_IsString(uri) && (dir = mcp_root_dir(uri->valuestring)) != NULL)
			break;
	}
	if (dir != NULL) {
		log_info("project %s, the client's first root", dir);
		free(m->root_project);
		m->root_project = dir;
		m->opts.project = dir;
	} else
		log_info("no local root from the client; the project comes from the cwd");
	mcp_roots_done(m);
}

/* The client did not answer roots/list in time. */
void
mcp_roots_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mcp *m = arg;

	log_warnx("no answer to roots/list in %d ms; the project comes from the cwd",
	    MCP_ROOTS_WAIT_MS);
	mcp_roots_done(m);
}
