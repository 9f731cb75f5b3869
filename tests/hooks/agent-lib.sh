# Agent processes for the tests of baton hook and baton guard: each is
# tests/hooks/agent.sh (one process with a `baton mcp` child, as Claude
# Code and Codex have) running command lines as its children.  Sourced
# after tests/lib.sh, with a broker started; HOOKS is tests/hooks.

# agent_start NAME [VAR=VALUE...]: an agent process (tests/hooks/agent.sh)
# whose baton mcp is initialized as Claude Code; sets AGENT_NAME (its
# baton agent name).
agent_start() {
	_an=$1
	shift
	mkdir -p "$TEST_DIR/$_an"
	env "$@" sh "$HOOKS/agent.sh" "$TEST_DIR/$_an" </dev/null >/dev/null 2>&1 &
	_bg_pids="$_bg_pids $!"
	wait_for "[ -s '$TEST_DIR/$_an/pid' ]" 10 || bail_out "agent $_an did not start"
	_bg_pids="$_bg_pids $(cat "$TEST_DIR/$_an/pid") $(cat "$TEST_DIR/$_an/mcp.pid")"
	[ ! -f "$TEST_DIR/$_an/mcp2.pid" ] || _bg_pids="$_bg_pids $(cat "$TEST_DIR/$_an/mcp2.pid")"
	agent_mcp "$_an" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude-code","version":"2.1.197"}}}'
	agent_mcp "$_an" '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	agent_call "$_an" 2 agent_join '{}' >/dev/null
	AGENT_NAME=$(agent_call "$_an" 3 status '{}' | jq -r .agent)
}

# agent_mcp NAME JSON: one JSON-RPC line to the agent's baton mcp (its
# second one, started with AGENT_MCP2, when MCP=mcp2).
agent_mcp() {
	printf '%s\n' "$2" >"$TEST_DIR/$1/${MCP:-mcp}.in"
}

# agent_call NAME ID TOOL ARGS: a tool call through the agent's baton
# mcp (MCP=mcp2: its second); its structuredContent.
agent_call() {
	agent_mcp "$1" "{\"jsonrpc\":\"2.0\",\"id\":$2,\"method\":\"tools/call\",\"params\":{\"name\":\"$3\",\"arguments\":$4}}"
	wait_for "grep -q '\"id\":$2,' '$TEST_DIR/$1/${MCP:-mcp}.out'" 10 >&2
	grep "\"id\":$2," "$TEST_DIR/$1/${MCP:-mcp}.out" | jq -c .result.structuredContent
}

# agent_init2 NAME: initialize the agent's second baton mcp (as Codex);
# sets AGENT_NAME2 (its baton agent name).
agent_init2() {
	MCP=mcp2 agent_mcp "$1" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"codex-mcp-client","version":"0.130.0"}}}'
	MCP=mcp2 agent_mcp "$1" '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	AGENT_NAME2=$(MCP=mcp2 agent_call "$1" 2 status '{}' | jq -r .agent)
}

# agent_run NAME LINE: run the shell command LINE as a child of the
# agent, its stdout and stderr to files; waits for it and sets AGENT_RC,
# AGENT_OUT, AGENT_ERR and AGENT_FILE (the stdout's file).
agent_run() {
	eval "_n=\$((\${_hn_$1:-0} + 1)); _hn_$1=\$_n"
	AGENT_FILE=$TEST_DIR/$1/out.$_n
	printf '%s >"%s" 2>"%s"\n' "$2" "$AGENT_FILE" "$TEST_DIR/$1/err.$_n" >"$TEST_DIR/$1/cmd"
	wait_for "[ -f '$TEST_DIR/$1/rc.$_n' ]" 30 || diag "agent $1 did not finish: $2"
	AGENT_RC=$(cat "$TEST_DIR/$1/rc.$_n" 2>/dev/null)
	AGENT_OUT=$(cat "$AGENT_FILE")
	AGENT_ERR=$(cat "$TEST_DIR/$1/err.$_n")
	_saw="$2 in agent $1 exited $AGENT_RC
stdout: $AGENT_OUT
stderr: $AGENT_ERR"
}
