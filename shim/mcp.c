/*
 * `baton mcp`: the MCP stdio server (DESIGN §6), its loop and dispatch.
 *
 * Newline-delimited JSON-RPC 2.0 on stdin and stdout, one event loop:
 * each line is one message, dispatched here to initialize, tools
 * (mcp-tools.c), prompts, roots (mcp-roots.c) or a cancel; calls go to
 * the broker (mcp-broker.c) and answers out through mcp-reply.c.
 * Nothing but JSON-RPC ever reaches stdout: the protocol goes out on a
 * private duplicate of fd 1, and fd 1 itself is pointed at stderr so
 * that a stray write (ours, a library's, a child's) cannot corrupt the
 * stream.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "shim.h"

#define MCP_LINE_MAX (4 * 1024 * 1024)     /* one JSON-RPC message, bytes */
#define MCP_EOF_GRACE_SECONDS 2            /* answers still owed at stdin EOF */
#define MCP_HELD_MAX 1024                  /* messages held until the project is known */
#define MCP_STDOUT_HIGH (16 * 1024 * 1024) /* stop reading until the client reads */

static int mcp_exec(const struct cmd_entry *, const struct client_opts *, int, char **);

const struct cmd_entry cmd_mcp_entry = {
	.name = "mcp",
	.usage = "mcp [--tools core|planner|reviewer|full|queues|worktrees|NAME,...]\n"
		 "mcp --compat lockstep|airlock [--roots DIR,...] [--command-allow EXE,...] "
		 "[--install-allow MANAGER,...]\n"
		 "mcp --http [ADDR:]PORT [--tools ... | --compat ...]\n"
		 "mcp --http --print-token",
	.desc = "serve MCP over stdio (for agent clients) with the tools of a profile "
		"(--tools, else BATON_TOOLS, else full); a comma-separated list may mix "
		"profiles and tool names; --compat (else BATON_COMPAT) offers the tools of "
		"Lockstep MCP or Airlock instead, on baton. The profiles:",
	.exec = mcp_exec,
};

/* The agent name: --agent/BATON_AGENT, else clientInfo.name-XXXX (DESIGN §2). */
void
mcp_set_agent(struct mcp *m, const char *client)
{
	char base[49], hex[5];
	size_t i, n = 0;

	if (m->agent != NULL)
		return;
	if (m->opts.agent != NULL) {
		m->agent = xstrdup(m->opts.agent);
		return;
	}
	/* Names are labels others type: keep them short and plain. */
	for (i = 0; client != NULL && client[i] != '\0' && n < sizeof base - 1; i++) {
		char c = client[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.')
			base[n++] = c;
		else if (c >= 'A' && c <= 'Z')
			base[n++] = (char)(c - 'A' + 'a');
		else if (n > 0 && base[n - 1] != '-')
			base[n++] = '-';
	}
	while (n > 0 && base[n - 1] == '-')
		n--;
	base[n] = '\0';
	random_hex(hex, sizeof hex);
	xasprintf(&m->agent, "%s-%s", n > 0 ? base : "mcp", hex);
}

/* Dispatch a request (it has an id), in the revision it follows. */
static void
mcp_request(struct mcp *m, const cJSON *id, const char *method, const cJSON *params)
{
	struct mcp_req req;

	if (strcmp(method, "initialize") == 0) {
		mcp_initialize(m, id, params);
		return;
	}
	if (mcp_request_rev(m, id, params, &req) != 0)
		return;
	if (strcmp(method, "server/discover") == 0) {
		req.rev = MCP_REV_MODERN;
		mcp_discover(m, &req);
	} else if (strcmp(method, "ping") == 0)
		mcp_result(m, id, req.rev, cJSON_CreateObject());
	else if (strcmp(method, "tools/list") == 0)
		mcp_tools_list(m, &req);
	else if (strcmp(method, "tools/call") == 0)
		mcp_tools_call(m, &req, params);
	else if (strcmp(method, "prompts/list") == 0)
		mcp_prompts_list(m, &req);
	else if (strcmp(method, "prompts/get") == 0)
		mcp_prompts_get(m, &req, params);
	else if (strncmp(method, "tasks/", 6) == 0)
		mcp_tasks_request(m, &req, method, params);
	else
		mcp_error(m, id, RPC_METHOD_NOT_FOUND, NULL, "method not found: %.100s",
		    method);
}

/* Dispatch a notification (no id): never answered. */
static void
mcp_notification(struct mcp *m, const char *method, const cJSON *params)
{
	struct timeval tv = tv_secs(0);

	if (strcmp(method, "notifications/cancelled") == 0)
		mcp_cancelled(m, params);
	else if (strcmp(method, "notifications/initialized") == 0) {
		if (m->connected || m->roots_pending)
			return;
		/* over HTTP the server cannot ask the client (no stream back) */
		if (m->client_roots && m->sink == NULL && m->root_project == NULL &&
		    !project_explicit(&m->opts))
			mcp_roots_ask(m);
		else
			event_add(m->connect_soon, &tv);
	} else
		log_debug("notification %s ignored", method);
}

/*
 * The text of the top-level member key of the JSON object in s (len
 * bytes, valid JSON) when it is a number, else NULL; *n its length.
 */
static const char *
mcp_number_text(const char *s, size_t len, const char *key, size_t *n)
{
	size_t i, k0 = 0, j;
	int depth = 0, str = 0, esc = 0, want_key = 0, is_key = 0, match = 0;

	for (i = 0; i < len; i++) {
		if (str) {
			if (esc)
				esc = 0;
			else if (s[i] == '\\')
				esc = 1;
			else if (s[i] == '"') {
				str = 0;
				match = is_key && i - k0 == strlen(key) &&
				    memcmp(s + k0, key, i - k0) == 0;
			}
			continue;
		}
		switch (s[i]) {
		case '"':
			str = 1;
			is_key = want_key;
			want_key = 0;
			k0 = i + 1;
			break;
		case '{':
		case '[': want_key = ++depth == 1 && s[i] == '{'; break;
		case '}':
		case ']': depth--; break;
		case ',': want_key = depth == 1; break;
		case ':':
			if (depth != 1 || !match)
				break;
			for (j = i + 1; j < len && strchr(" \t\r\n", s[j]) != NULL; j++)
				;
			for (i = j; i < len && strchr(",} \t\r\n", s[i]) == NULL; i++)
				;
			*n = i - j;
			return (s[j] == '-' || (s[j] >= '0' && s[j] <= '9') ? s + j : NULL);
		}
	}
	return (NULL);
}

/*
 * Is the number text t (n bytes) an integer the number item prints back
 * as it is: no sign on zero, no leading zero, at most 15 digits (the
 * usual id, 1, 2, 3...)?
 */
static int
mcp_plain_int(const char *t, size_t n)
{
	size_t i = t[0] == '-';

	if (n - i == 0 || n - i > 15 || (t[i] == '0' && (n - i > 1 || i > 0)))
		return (0);
	for (; i < n; i++) {
		if (t[i] < '0' || t[i] > '9')
			return (0);
	}
	return (1);
}

/*
 * A number id as the client wrote it: a double would answer
 * 9007199254740993 as 9.00719925474099e+15.  A raw item of the id's
 * text in line, echoed byte for byte, for the caller to free; NULL when
 * the number prints back as written (mcp_plain_int).
 */
static cJSON *
mcp_raw_id(const char *line, size_t len)
{
	const char *t;
	cJSON *raw;
	char *text;
	size_t n;

	if ((t = mcp_number_text(line, len, "id", &n)) == NULL || n == 0 || n > 64 ||
	    mcp_plain_int(t, n))
		return (NULL);
	text = xstrndup(t, n);
	raw = cJSON_CreateRaw(text);
	free(text);
	return (raw);
}

/* Do two JSON-RPC ids name the same request (a raw id is a number's text)? */
int
mcp_id_equal(const cJSON *a, const cJSON *b)
{
	if (cJSON_IsRaw(a) && cJSON_IsNumber(b))
		return (strtod(a->valuestring, NULL) == b->valuedouble);
	if (cJSON_IsNumber(a) && cJSON_IsRaw(b))
		return (mcp_id_equal(b, a));
	return (cJSON_Compare(a, b, 1));
}

/* One line of stdin, len bytes (not a string: it may lie in the input buffer): a JSON-RPC message. */
void
mcp_line(struct mcp *m, const char *line, size_t len)
{
	const cJSON *id, *method, *jsonrpc, *params;
	cJSON *msg, *raw = NULL;
	struct json_scope scope;
	char field[64];
	size_t i;

	for (i = 0; i < len && strchr(" \t\r", line[i]) != NULL; i++)
		;
	if (i == len)
		return; /* blank line */
	/* the message's tree lives in a reusable block until the line is handled */
	if ((msg = json_parse_scoped(line, len, &scope)) == NULL) {
		json_scope_end(&scope);
		mcp_error(m, NULL, RPC_PARSE_ERROR, NULL,
		    "parse error: the line is not "
		    "valid JSON");
		return;
	}
	if (cJSON_IsArray(msg)) {
		mcp_error(m, NULL, RPC_INVALID_REQUEST, NULL,
		    "invalid request: batches are "
		    "not supported; send one message per line");
		goto out;
	}
	if (!cJSON_IsObject(msg)) {
		mcp_error(m, NULL, RPC_INVALID_REQUEST, NULL, "invalid request: not an object");
		goto out;
	}
	id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	if (json_find_nul(line, len, field, sizeof field)) {
		/* cJSON cut the string at it: refuse rather than act on less */
		if (id != NULL && cJSON_GetObjectItemCaseSensitive(msg, "method") != NULL)
			mcp_error(m, id, RPC_INVALID_PARAMS, field,
			    "invalid params: %s holds \\u0000 (NUL), which baton does not "
			    "take in names or text",
			    *field != '\0' ? field : "a string");
		else
			log_warnx("a message with \\u0000 (NUL) in %s ignored",
			    *field != '\0' ? field : "a string");
		goto out;
	}
	method = cJSON_GetObjectItemCaseSensitive(msg, "method");
	jsonrpc = cJSON_GetObjectItemCaseSensitive(msg, "jsonrpc");
	params = cJSON_GetObjectItemCaseSensitive(msg, "params");
	if (id != NULL && !cJSON_IsString(id) && !cJSON_IsNumber(id)) {
		mcp_error(m, NULL, RPC_INVALID_REQUEST, "id",
		    "invalid request: id must be "
		    "a string or a number");
		goto out;
	}
	if (!cJSON_IsString(jsonrpc) || strcmp(jsonrpc->valuestring, "2.0") != 0) {
		mcp_error(m, id, RPC_INVALID_REQUEST, "jsonrpc",
		    "invalid request: jsonrpc "
		    "must be \"2.0\"");
		goto out;
	}
	if (method == NULL && id != NULL &&
	    (cJSON_GetObjectItemCaseSensitive(msg, "result") != NULL ||
		cJSON_GetObjectItemCaseSensitive(msg, "error") != NULL)) {
		/* a response: only roots/list is ours */
		mcp_roots_answer(m, id, cJSON_GetObjectItemCaseSensitive(msg, "result"));
		goto out;
	}
	if (cJSON_IsNumber(id) && (raw = mcp_raw_id(line, len)) != NULL)
		id = raw;
	if (m->roots_pending && m->nheld < MCP_HELD_MAX && cJSON_IsString(method) &&
	    strcmp(method->valuestring, "ping") != 0) {
		/* tool calls wait for the project: the client's answer comes first */
		m->held = xreallocarray(m->held, m->nheld + 1, sizeof *m->held);
		m->held[m->nheld++] = xstrndup(line, len);
		goto out;
	}
	if (!cJSON_IsString(method)) {
		mcp_error(m, id, RPC_INVALID_REQUEST, "method",
		    "invalid request: method "
		    "must be a string");
		goto out;
	}
	if (params != NULL && !cJSON_IsObject(params)) {
		if (id != NULL)
			mcp_error(m, id, RPC_INVALID_PARAMS, "params",
			    "invalid params: params "
			    "must be an object");
		goto out;
	}
	if (id == NULL)
		mcp_notification(m, method->valuestring, params);
	else
		mcp_request(m, id, method->valuestring, params);
out:
	cJSON_Delete(raw);
	json_scope_end(&scope); /* frees msg */
}

/* Bytes on stdin: handle every complete line. */
static void
mcp_stdin_read(struct bufferevent *bev, void *arg)
{
	struct mcp *m = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	size_t n;
	char *line;

	for (;;) {
		/* a client that does not read its answers gets no more of them */
		if (!m->eof &&
		    evbuffer_get_length(bufferevent_get_output(m->out)) > MCP_STDOUT_HIGH) {
			bev_reader_enable(m->in_rd, 0);
			m->paused = 1;
			return;
		}
		eol = evbuffer_search_eol(in, NULL, &n, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) <= MCP_LINE_MAX)
				return;
			/* no newline in sight: reject now, skip to the next one */
			if (!m->skipping)
				mcp_error(m, NULL, RPC_PARSE_ERROR, NULL,
				    "parse error: message "
				    "longer than %d bytes; send at most %d bytes per line",
				    MCP_LINE_MAX, MCP_LINE_MAX);
			m->skipping = 1;
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		if (m->skipping || (size_t)eol.pos > MCP_LINE_MAX) {
			if (!m->skipping)
				mcp_error(m, NULL, RPC_PARSE_ERROR, NULL,
				    "parse error: message "
				    "longer than %d bytes",
				    MCP_LINE_MAX);
			m->skipping = 0;
			evbuffer_drain(in, (size_t)eol.pos + n);
			continue;
		}
		/* handled where it lies (mcp_line takes a length, not a string), then drained */
		line = (char *)evbuffer_pullup(in, eol.pos + (ev_ssize_t)n);
		mcp_line(m, line, (size_t)eol.pos);
		evbuffer_drain(in, (size_t)eol.pos + n);
	}
}

/* Give up on answers still owed after stdin closed. */
static void
mcp_grace_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mcp *m = arg;

	log_info("%zu call(s) unanswered at exit", m->ncalls);
	event_base_loopexit(m->base, NULL);
}

/* Leave the loop once stdin is closed, nothing is owed and stdout drained. */
void
mcp_maybe_exit(struct mcp *m)
{
	if (m->eof && m->ncalls == 0 &&
	    evbuffer_get_length(bufferevent_get_output(m->out)) == 0)
		event_base_loopexit(m->base, NULL);
}

/* stdin closed (or failed): finish what is owed, then exit. */
static void
mcp_stdin_event(struct bufferevent *bev, short what, void *arg)
{
	struct mcp *m = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct timeval tv = tv_secs(MCP_EOF_GRACE_SECONDS);
	size_t len;
	char *line;

	if (m->eof)
		return;
	if (what & BEV_EVENT_ERROR)
		log_warn("stdin");
	m->eof = 1;
	mcp_stdin_read(bev, m); /* complete lines still buffered */
	/* a last line without its newline */
	if (!m->skipping && (len = evbuffer_get_length(in)) > 0) {
		line = xmalloc(len + 1);
		evbuffer_remove(in, line, len);
		line[len] = '\0';
		mcp_line(m, line, len);
		free(line);
	}
	bev_reader_enable(m->in_rd, 0);
	if (m->roots_pending)
		mcp_roots_done(m); /* what waited for the roots goes now */
	/* the client is gone: end the waits, send what comes back quickly */
	mcp_cancel_all(m);
	compat_cancel_all(m);
	compat_files_kill();
	if (m->ncalls > 0)
		event_add(m->grace, &tv);
	mcp_maybe_exit(m);
}

/* stdout drained: read stdin again if it was paused, or exit if done. */
static void
mcp_stdout_write(struct bufferevent *bev, void *arg)
{
	struct mcp *m = arg;

	if (m->paused && !m->eof) {
		m->paused = 0;
		bev_reader_enable(m->in_rd, 1);
		/* lines already buffered need no new bytes to be handled */
		bufferevent_trigger(m->in, EV_READ, BEV_OPT_DEFER_CALLBACKS);
	}
	mcp_maybe_exit(m);
}

/* stdout failed: the client is gone. */
static void
mcp_stdout_event(struct bufferevent *bev, short what, void *arg)
{
	struct mcp *m = arg;

	log_info("stdout closed: exiting");
	evbuffer_drain(bufferevent_get_output(bev),
	    evbuffer_get_length(bufferevent_get_output(bev)));
	event_base_loopexit(m->base, NULL);
}

/*
 * Keep the protocol stream private: fd 1 becomes a copy of stderr and
 * fd 0 /dev/null, so nothing else (a library, a started broker) can
 * write to the client or eat its messages.
 */
static int
mcp_take_stdio(struct mcp *m)
{
	int null;

	if ((m->in_fd = fcntl(0, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (m->out_fd = fcntl(1, F_DUPFD_CLOEXEC, 3)) == -1) {
		log_warn("stdio");
		return (-1);
	}
	/* without a stderr, strays go nowhere */
	if ((null = open("/dev/null", O_RDWR)) == -1 || dup2(null, 0) == -1 ||
	    (dup2(2, 1) == -1 && dup2(null, 1) == -1)) {
		log_warn("stdio");
		return (-1);
	}
	if (null > 2)
		close(null);
	return (0);
}

/* Write what is left on stdout before exiting (the fd is blocking). */
static void
mcp_flush(struct mcp *m)
{
	struct evbuffer *out = bufferevent_get_output(m->out);

	while (evbuffer_get_length(out) > 0) {
		if (evbuffer_write(out, m->out_fd) <= 0 && errno != EINTR && errno != EAGAIN)
			break;
	}
}

/* `baton mcp [--tools SPEC | --compat SEED]`: the profile; -1 with *status on a usage error. */
static int
mcp_args(struct mcp *m, int argc, char **argv, int *status)
{
	static const char *const envs[][2] = { { "BATON_ROOTS", "roots" },
		{ "BATON_COMMAND_ALLOW", "command-allow" },
		{ "BATON_INSTALL_ALLOW", "install-allow" } };
	const char *spec = getenv("BATON_TOOLS"), *compat = getenv("BATON_COMPAT"), *v;
	int i, tools = 0;
	size_t k;
	char *cause;

	for (k = 0; k < nitems(envs); k++) {
		if ((v = getenv(envs[k][0])) != NULL && *v != '\0' &&
		    compat_files_option(envs[k][1], v, &cause) != 0) {
			*status = cli_usage_err("mcp: %s: %s", envs[k][0], cause);
			free(cause);
			return (-1);
		}
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tools") == 0 && i + 1 < argc)
			spec = argv[++i], tools = 1;
		else if (strncmp(argv[i], "--tools=", 8) == 0)
			spec = argv[i] + 8, tools = 1;
		else if (strcmp(argv[i], "--compat") == 0 && i + 1 < argc)
			compat = argv[++i];
		else if (strncmp(argv[i], "--compat=", 9) == 0)
			compat = argv[i] + 9;
		else if (strcmp(argv[i], "--http") == 0 && i + 1 < argc &&
		    strncmp(argv[i + 1], "--", 2) != 0)
			m->http = argv[++i];
		else if (strcmp(argv[i], "--http") == 0)
			m->http = ""; /* --print-token alone */
		else if (strcmp(argv[i], "--print-token") == 0)
			m->print_token = 1;
		else if ((strcmp(argv[i], "--roots") == 0 ||
			     strcmp(argv[i], "--command-allow") == 0 ||
			     strcmp(argv[i], "--install-allow") == 0) &&
		    i + 1 < argc) {
			if (compat_files_option(argv[i] + 2, argv[i + 1], &cause) != 0) {
				*status = cli_usage_err("mcp: %s", cause);
				free(cause);
				return (-1);
			}
			i++;
		} else if (strcmp(argv[i], "--tools") == 0) {
			*status =
			    cli_usage_err("mcp: --tools needs a profile: core, planner, "
					  "reviewer, full, queues, worktrees or tool names");
			return (-1);
		} else if (strcmp(argv[i], "--compat") == 0) {
			*status =
			    cli_usage_err("mcp: --compat needs a seed: lockstep or airlock");
			return (-1);
		} else {
			*status = cli_usage_err("mcp: unknown argument '%s' (mcp takes --tools "
						"PROFILE or --compat SEED)",
			    argv[i]);
			return (-1);
		}
	}
	if (compat != NULL && *compat != '\0') {
		if (tools) {
			*status = cli_usage_err("mcp: --tools and --compat do not go together: "
						"a compat profile offers its seed's tools");
			return (-1);
		}
		if (compat_parse(m, compat, &cause) != 0) {
			*status = cli_usage_err("mcp: %s", cause);
			free(cause);
			return (-1);
		}
	}
	if (mcp_profile_parse(m, spec, &cause) != 0) {
		*status = cli_usage_err("mcp: %s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/*
 * Make m ready to serve with options opts on base: no stdio (mcp_exec
 * adds it; baton mcp --http has none).  mcp_teardown undoes it.
 */
void
mcp_setup(struct mcp *m, struct event_base *base, const struct client_opts *opts)
{
	m->base = base;
	m->opts = *opts;
	m->opts.kind = "mcp";
	m->conn.fd = -1;
	TAILQ_INIT(&m->calls);
	TAILQ_INIT(&m->tasks);
	TAILQ_INIT(&m->ccalls);
	m->grace = evtimer_new(base, mcp_grace_cb, m);
	m->connect_soon = evtimer_new(base, mcp_connect_soon_cb, m);
	m->roots_timer = evtimer_new(base, mcp_roots_timeout_cb, m);
	if (m->grace == NULL || m->connect_soon == NULL || m->roots_timer == NULL)
		fatalx("mcp: cannot set up the event loop");
	if (m->compat != NULL)
		compat_tools_json(m->compat); /* a table error shows at start */
	else
		mcp_tools_json(m);
}

/* Free what m holds (not its event base, not its stdio). */
void
mcp_teardown(struct mcp *m)
{
	struct mcp_call *c;
	struct compat_call *cc;

	mcp_tasks_free(m);
	while ((c = TAILQ_FIRST(&m->calls)) != NULL)
		mcp_call_free(m, c);
	while ((cc = TAILQ_FIRST(&m->ccalls)) != NULL) {
		compat_cancel(cc);
		compat_call_forget(cc);
	}
	bev_reader_free(m->bev_rd);
	m->bev_rd = NULL;
	if (m->bev != NULL)
		bufferevent_free(m->bev);
	m->bev = NULL;
	conn_close(&m->conn);
	event_free(m->grace);
	event_free(m->connect_soon);
	event_free(m->roots_timer);
	while (m->nheld > 0)
		free(m->held[--m->nheld]);
	free(m->held);
	free(m->root_project);
	free(m->tools_json);
	free(m->answer.s);
	free(m->text.s);
	free(m->profile);
	free(m->agent);
	free(m->role);
	free(m->client_name);
	free(m->client_version);
	free(m->token);
}

/* `baton mcp`: serve until stdin closes and nothing is owed. */
static int
mcp_exec(const struct cmd_entry *ce, const struct client_opts *opts, int argc, char **argv)
{
	struct event_config *cfg;
	struct event_base *base;
	struct mcp m;
	int status;

	memset(&m, 0, sizeof m);
	if (mcp_args(&m, argc, argv, &status) != 0)
		return (status);
	if (m.http != NULL || m.print_token)
		return (mcp_http_main(&m, opts));
	signal(SIGPIPE, SIG_IGN);
	if (mcp_take_stdio(&m) != 0)
		return (EXIT_SOFTWARE);
	/*
	 * epoll refuses regular files and /dev/null; poll takes any fd, and
	 * we watch at most three.
	 */
	if ((cfg = event_config_new()) == NULL)
		fatalx("mcp: event_config_new failed");
	event_config_avoid_method(cfg, "epoll");
	if ((base = event_base_new_with_config(cfg)) == NULL)
		fatalx("mcp: event_base_new failed");
	event_config_free(cfg);
	mcp_setup(&m, base, opts);
	m.in = bufferevent_socket_new(m.base, m.in_fd, 0);
	m.out = bufferevent_socket_new(m.base, m.out_fd, 0);
	if (m.in == NULL || m.out == NULL)
		fatalx("mcp: cannot set up the event loop");
	bufferevent_setcb(m.in, mcp_stdin_read, NULL, mcp_stdin_event, &m);
	bufferevent_setcb(m.out, NULL, mcp_stdout_write, mcp_stdout_event, &m);
	m.in_rd = bev_reader_new(m.in);
	bufferevent_enable(m.out, EV_WRITE);

	event_base_dispatch(m.base);

	mcp_flush(&m);
	compat_links_close(NULL); /* their sessions end: what they held goes */
	mcp_teardown(&m);
	bev_reader_free(m.in_rd);
	bufferevent_free(m.in);
	bufferevent_free(m.out);
	event_base_free(m.base);
	close(m.in_fd);
	close(m.out_fd);
	return (0);
}
