/*
 * The protocol revisions `baton mcp` speaks, and how a request says
 * which one it follows.  Up to 2025-11-25 a client opens with
 * initialize, which sets the revision of the process; 2026-07-28 is
 * stateless: every request carries its revision, client info and
 * capabilities in _meta, and server/discover tells what we speak.  One
 * process serves both, request by request.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "shim.h"

#define META_VERSION "io.modelcontextprotocol/protocolVersion"
#define META_CLIENT "io.modelcontextprotocol/clientInfo"
#define META_CAPS "io.modelcontextprotocol/clientCapabilities"
#define EXT_TASKS "io.modelcontextprotocol/tasks"
#define RPC_UNSUPPORTED_VERSION -32022
#define MCP_CACHE_MS 3600000 /* tools, prompts, discover: fixed for the process */

/* The revisions, newest first, and what each is. */
static const struct {
	const char *name;
	enum mcp_rev rev;
} mcp_revs[] = {
	{ "2026-07-28", MCP_REV_2026_07_28 },
	{ "2025-11-25", MCP_REV_2025_11_25 },
	{ "2025-06-18", MCP_REV_2025_06_18 },
	{ "2025-03-26", MCP_REV_2025_03_26 },
	{ "2024-11-05", MCP_REV_2024_11_05 },
};

/* The revision named s, or -1. */
static int
mcp_rev_find(const char *s)
{
	size_t i;

	for (i = 0; i < nitems(mcp_revs); i++) {
		if (strcmp(mcp_revs[i].name, s) == 0)
			return ((int)i);
	}
	return (-1);
}

/* Every revision we speak, newest first, as a JSON array. */
static cJSON *
mcp_rev_list(void)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < nitems(mcp_revs); i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(mcp_revs[i].name));
	return (a);
}

/* The client's name and version, the first time it gives them: our agent name follows. */
static void
mcp_client_info(struct mcp *m, const cJSON *info)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(info, "name");
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(info, "version");

	if (!cJSON_IsString(name) || m->client_name != NULL)
		return;
	m->client_name = xstrdup(name->valuestring);
	if (cJSON_IsString(ver))
		m->client_version = xstrdup(ver->valuestring);
}

/*
 * What we can do, for initialize and server/discover: waits as tasks,
 * 2025-11-25's experimental ones or the 2026-07-28 extension.
 */
static cJSON *
mcp_capabilities(enum mcp_rev rev)
{
	cJSON *caps = cJSON_CreateObject(), *tasks;

	cJSON_AddBoolToObject(cJSON_AddObjectToObject(caps, "tools"), "listChanged", 0);
	cJSON_AddBoolToObject(cJSON_AddObjectToObject(caps, "prompts"), "listChanged", 0);
	if (rev >= MCP_REV_MODERN)
		cJSON_AddObjectToObject(cJSON_AddObjectToObject(caps, "extensions"), EXT_TASKS);
	else if (rev == MCP_REV_2025_11_25) {
		tasks = cJSON_AddObjectToObject(caps, "tasks");
		cJSON_AddObjectToObject(tasks, "list");
		cJSON_AddObjectToObject(tasks, "cancel");
		cJSON_AddObjectToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(tasks,
								    "requests"),
					    "tools"),
		    "call");
	}
	return (caps);
}

/* serverInfo: our name and version. */
cJSON *
mcp_server_info(void)
{
	cJSON *server = cJSON_CreateObject();

	cJSON_AddStringToObject(server, "name", "baton");
	cJSON_AddStringToObject(server, "version", BATON_VERSION);
	return (server);
}

/* The instructions: how to use baton, in a few lines, for this agent. */
static void
mcp_add_instructions(struct mcp *m, cJSON *result)
{
	char *instr;

	if (m->compat != NULL) {
		cJSON_AddStringToObject(result, "instructions", m->compat->instructions);
		return;
	}
	instr = guide_rules(GUIDE_TEXT, m->agent);
	cJSON_AddStringToObject(result, "instructions", instr);
	free(instr);
}

/* initialize (up to 2025-11-25): negotiate the revision, name ourselves, give instructions. */
void
mcp_initialize(struct mcp *m, const cJSON *id, const cJSON *params)
{
	const cJSON *v;
	cJSON *result;
	int i = 1; /* the newest revision with initialize */

	v = cJSON_GetObjectItemCaseSensitive(params, "protocolVersion");
	if (cJSON_IsString(v) && mcp_rev_find(v->valuestring) > 0)
		i = mcp_rev_find(v->valuestring);
	m->rev = mcp_revs[i].rev;
	mcp_client_info(m, cJSON_GetObjectItemCaseSensitive(params, "clientInfo"));
	mcp_set_agent(m, m->client_name);
	m->client_roots = cJSON_IsObject(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(params,
						 "capabilities"),
		"roots"));
	log_info("initialize from %s %s, protocol %s, agent %s",
	    m->client_name != NULL ? m->client_name : "?",
	    m->client_version != NULL ? m->client_version : "?", mcp_revs[i].name, m->agent);

	result = cJSON_CreateObject();
	cJSON_AddStringToObject(result, "protocolVersion", mcp_revs[i].name);
	cJSON_AddItemToObject(result, "capabilities", mcp_capabilities(m->rev));
	cJSON_AddItemToObject(result, "serverInfo", mcp_server_info());
	mcp_add_instructions(m, result);
	mcp_result(m, id, m->rev, result);
}

/* server/discover (2026-07-28): the revisions we speak, capabilities, who we are. */
void
mcp_discover(struct mcp *m, const struct mcp_req *req)
{
	cJSON *result = cJSON_CreateObject();

	cJSON_AddItemToObject(result, "supportedVersions", mcp_rev_list());
	cJSON_AddItemToObject(result, "capabilities", mcp_capabilities(MCP_REV_MODERN));
	cJSON_AddItemToObject(result, "serverInfo", mcp_server_info());
	mcp_add_instructions(m, result);
	mcp_cacheable(result);
	mcp_result(m, req->id, MCP_REV_MODERN, result);
}

/* A list result may be cached by the client (2026-07-28 CacheableResult). */
void
mcp_cacheable(cJSON *result)
{
	cJSON_AddNumberToObject(result, "ttlMs", MCP_CACHE_MS);
	/* private: the instructions name this agent */
	cJSON_AddStringToObject(result, "cacheScope", "private");
}

/*
 * The revision of a request from its _meta: 2026-07-28 when it names
 * one, else the process's (initialize).  0, or -1 when the request was
 * answered with an error: an unsupported revision (-32022, with the
 * ones we speak) or a _meta without the capabilities it must carry.
 */
int
mcp_request_rev(struct mcp *m, const cJSON *id, const cJSON *params, struct mcp_req *req)
{
	const cJSON *meta, *v, *caps, *ext;
	cJSON *data;
	int i;

	memset(req, 0, sizeof *req);
	req->id = id;
	req->rev = m->rev;
	meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
	if ((v = cJSON_GetObjectItemCaseSensitive(meta, META_VERSION)) == NULL)
		return (0);
	if (!cJSON_IsString(v) || (i = mcp_rev_find(v->valuestring)) == -1 ||
	    mcp_revs[i].rev < MCP_REV_MODERN) {
		data = cJSON_CreateObject();
		cJSON_AddItemToObject(data, "supported", mcp_rev_list());
		if (cJSON_IsString(v))
			cJSON_AddStringToObject(data, "requested", v->valuestring);
		mcp_error_data(m, id, RPC_UNSUPPORTED_VERSION, data,
		    "Unsupported protocol version: _meta " META_VERSION
		    " must be 2026-07-28 (earlier revisions open with initialize)");
		return (-1);
	}
	caps = cJSON_GetObjectItemCaseSensitive(meta, META_CAPS);
	if (!cJSON_IsObject(caps)) {
		mcp_error(m, id, RPC_INVALID_PARAMS, "_meta",
		    "invalid params: _meta " META_CAPS " must be an object (2026-07-28)");
		return (-1);
	}
	req->rev = MCP_REV_MODERN;
	ext = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(caps,
						   "extensions"),
	    EXT_TASKS);
	req->tasks = cJSON_IsObject(ext);
	mcp_client_info(m, cJSON_GetObjectItemCaseSensitive(meta, META_CLIENT));
	mcp_set_agent(m, m->client_name);
	if (!m->modern_seen) {
		/* no initialized notification comes: be seen by others now */
		struct timeval tv = tv_secs(0);

		m->modern_seen = 1;
		log_info("2026-07-28 requests from %s, agent %s",
		    m->client_name != NULL ? m->client_name : "?", m->agent);
		if (!m->connected && !m->roots_pending)
			event_add(m->connect_soon, &tv);
	}
	return (0);
}
