/*
 * `baton mcp --compat lockstep`: Lockstep MCP's tools, on baton.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

static const struct compat_tool lockstep_tools[] = {};

const struct compat_profile compat_lockstep = {
	.name = "lockstep",
	.seed = "Lockstep MCP",
	.instructions = "Lockstep MCP's tools, served by baton.",
	.tools = lockstep_tools,
	.ntools = nitems(lockstep_tools),
};
