/*
 * A `baton mcp` child of a benchmark, over pipes (bench_mcp, bench_hook),
 * as agent bench-mcp, or a connection to `baton mcp --http` (bench_mcp -H):
 * driven one JSON-RPC request at a time, every answer checked.
 */
#ifndef BATON_BENCH_MCP_CHILD_H
#define BATON_BENCH_MCP_CHILD_H

#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct mcp_child {
	pid_t pid;
	FILE *in;  /* its stdin */
	FILE *out; /* its stdout */
	char *line;
	size_t size;
	int http; /* -H: a socket to baton mcp --http instead */
	int port;
	const char *token; /* -T */
};

/* Start `baton mcp` on sock with pipes for stdin and stdout (profile: BATON_TOOLS or NULL). */
static inline void
mcp_spawn(struct mcp_child *m, const char *baton, const char *sock, const char *profile,
    const char *compat)
{
	int in[2], out[2];

	if (pipe(in) != 0 || pipe(out) != 0) {
		perror("mcp_child: pipe");
		exit(1);
	}
	if ((m->pid = fork()) == -1) {
		perror("mcp_child: fork");
		exit(1);
	}
	if (m->pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		setenv("BATON_SOCKET", sock, 1);
		setenv("BATON_NO_AUTOSTART", "1", 1);
		setenv("BATON_AGENT", "bench-mcp", 1);
		if (profile != NULL)
			setenv("BATON_TOOLS", profile, 1);
		if (compat != NULL)
			execl(baton, baton, "mcp", "--compat", compat, (char *)NULL);
		execl(baton, baton, "mcp", (char *)NULL);
		perror(baton);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	m->in = fdopen(in[1], "w");
	m->out = fdopen(out[0], "r");
	if (m->in == NULL || m->out == NULL) {
		perror("mcp_child: fdopen");
		exit(1);
	}
}

/* Connect to baton mcp --http on 127.0.0.1:port. */
static inline void
http_connect(struct mcp_child *m)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)m->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((m->http = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(m->http, (struct sockaddr *)&sa, sizeof sa) != 0) {
		perror("mcp_child: connect");
		exit(1);
	}
	m->in = fdopen(m->http, "w");
	m->out = fdopen(dup(m->http), "r");
}

/* One POST and its answer's body into m->line (Content-Length framed, keep-alive). */
static inline void
http_rpc(struct mcp_child *m, const char *body)
{
	size_t len = 0;

	if (fprintf(m->in,
		"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
		"Content-Type: application/json\r\nAccept: application/json\r\n"
		"Content-Length: %zu\r\n\r\n%s",
		m->port, m->token, strlen(body), body) < 0 ||
	    fflush(m->in) != 0) {
		perror("mcp_child: write");
		exit(1);
	}
	for (;;) { /* the status line and headers */
		if (getline(&m->line, &m->size, m->out) == -1) {
			fprintf(stderr, "mcp_child: the HTTP server closed the connection\n");
			exit(1);
		}
		if (strncasecmp(m->line, "Content-Length:", 15) == 0)
			len = strtoul(m->line + 15, NULL, 10);
		if (strcmp(m->line, "\r\n") == 0)
			break;
	}
	if (len + 1 > m->size) {
		m->size = len + 1;
		if ((m->line = realloc(m->line, m->size)) == NULL)
			exit(1);
	}
	if (fread(m->line, 1, len, m->out) != len) {
		fprintf(stderr, "mcp_child: a short HTTP answer\n");
		exit(1);
	}
	m->line[len] = '\0';
}

/* Send one line and read lines until the answer to id; exits on failure. */
static inline void
mcp_rpc(struct mcp_child *m, long id, const char *method, const char *params, const char *must)
{
	char want[32], *body;

	if (m->http > 0) {
		if (asprintf(&body,
			"{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\",\"params\":%s}", id,
			method, params) == -1)
			exit(1);
		http_rpc(m, body);
		free(body);
		if (strstr(m->line, must) == NULL ||
		    strstr(m->line, "\"isError\":true") != NULL) {
			fprintf(stderr, "mcp_child: unexpected answer: %s\n", m->line);
			exit(1);
		}
		return;
	}
	if (fprintf(m->in, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\",\"params\":%s}\n",
		id, method, params) < 0 ||
	    fflush(m->in) != 0) {
		perror("mcp_child: write");
		exit(1);
	}
	snprintf(want, sizeof want, "\"id\":%ld,", id);
	for (;;) {
		if (getline(&m->line, &m->size, m->out) == -1) {
			fprintf(stderr, "mcp_child: baton mcp closed its stdout\n");
			exit(1);
		}
		if (strstr(m->line, want) == NULL)
			continue; /* a notification */
		if (strstr(m->line, must) == NULL ||
		    strstr(m->line, "\"isError\":true") != NULL) {
			fprintf(stderr, "mcp_child: unexpected answer: %s", m->line);
			exit(1);
		}
		return;
	}
}

/* Initialize the child as client name, as an MCP client does first. */
static inline void
mcp_init(struct mcp_child *m, const char *name)
{
	char params[256];

	snprintf(params, sizeof params,
	    "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
	    "\"clientInfo\":{\"name\":\"%s\",\"version\":\"1\"}}",
	    name);
	mcp_rpc(m, 1, "initialize", params, "\"protocolVersion\"");
	fprintf(m->in, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
	fflush(m->in);
}

#endif /* BATON_BENCH_MCP_CHILD_H */
