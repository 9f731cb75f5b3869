/*
 * A `baton mcp` child of a benchmark, over pipes (bench_mcp, bench_hook),
 * as agent bench-mcp: driven one JSON-RPC line at a time, every answer
 * checked.
 */
#ifndef BATON_BENCH_MCP_CHILD_H
#define BATON_BENCH_MCP_CHILD_H

#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mcp_child {
	pid_t pid;
	FILE *in;  /* its stdin */
	FILE *out; /* its stdout */
	char *line;
	size_t size;
};

/* Start `baton mcp` on sock with pipes for stdin and stdout (profile: BATON_TOOLS or NULL). */
static inline void
mcp_spawn(struct mcp_child *m, const char *baton, const char *sock, const char *profile)
{
	int in[2], out[2];

	if (pipe(in) != 0 || pipe(out) != 0) {
		perror("mcp_spawn: pipe");
		exit(1);
	}
	if ((m->pid = fork()) == -1) {
		perror("mcp_spawn: fork");
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
		execl(baton, baton, "mcp", (char *)NULL);
		perror(baton);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	m->in = fdopen(in[1], "w");
	m->out = fdopen(out[0], "r");
	if (m->in == NULL || m->out == NULL) {
		perror("mcp_spawn: fdopen");
		exit(1);
	}
}

/* Send one line and read lines until the answer to id; exits on failure. */
static inline void
mcp_rpc(struct mcp_child *m, long id, const char *method, const char *params, const char *must)
{
	char want[32];

	if (fprintf(m->in, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\",\"params\":%s}\n",
		id, method, params) < 0 ||
	    fflush(m->in) != 0) {
		perror("mcp_rpc: write");
		exit(1);
	}
	snprintf(want, sizeof want, "\"id\":%ld,", id);
	for (;;) {
		if (getline(&m->line, &m->size, m->out) == -1) {
			fprintf(stderr, "mcp_rpc: baton mcp closed its stdout\n");
			exit(1);
		}
		if (strstr(m->line, want) == NULL)
			continue; /* a notification */
		if (strstr(m->line, must) == NULL ||
		    strstr(m->line, "\"isError\":true") != NULL) {
			fprintf(stderr, "mcp_rpc: unexpected answer: %s", m->line);
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
