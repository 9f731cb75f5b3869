#!/bin/sh
# `baton install` checked with the agents' own CLIs, pinned in tests/agents
# (@anthropic-ai/claude-code, @openai/codex): after install, Claude Code
# starts baton and lists its tools (`claude mcp list` says Connected;
# `claude -p` offers its model every tool of the profile as
# mcp__baton__*, and only those of core after install --tools core),
# Codex reads the right command and args (`codex mcp list/get`), and
# Codex's app-server starts it and returns its tools.  Offline, without
# a login, HOME a scratch directory.

. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq

BIN=
for d in "$TOP_SRCDIR/tests/agents/node_modules/.bin" "$TOP_BUILDDIR/tests/agents/node_modules/.bin"; do
	if [ -x "$d/claude" ] && [ -x "$d/codex" ]; then
		BIN=$d
		break
	fi
done
if [ -z "$BIN" ]; then
	echo "1..0 # SKIP the agent CLIs are not installed (npm ci in tests/agents, or ./bootstrap)"
	exit 0
fi
CLAUDE=$BIN/claude
CODEX=$BIN/codex

broker_dir
unset CLAUDE_CONFIG_DIR CODEX_HOME XDG_CONFIG_HOME
# no update checks, telemetry or other traffic: this runs offline
DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1
export DISABLE_AUTOUPDATER CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC DISABLE_TELEMETRY
start_broker || bail_out "batond did not start"
# the agents start `baton mcp` with only what the config says: the
# broker is found through the BATON_SOCKET written into the entry
unset BATON_NO_AUTOSTART
P=$BATON_PROJECT
SELF=$(readlink -f "$BATON")
cd "$P" || bail_out "no project directory"

baton_run install --all
ok $RC "baton install --all exits 0"

# --- Claude Code --------------------------------------------------------

# claude_list: `claude mcp list` here; its exit status is 0 even when a
# server fails, so the text is what counts.
claude_list() {
	timeout 120 "$CLAUDE" --settings '{"enableAllProjectMcpServers":true}' mcp list \
	    >"$TEST_DIR/claude.out" 2>&1
	CL_OUT=$(cat "$TEST_DIR/claude.out")
}

claude_list
like "$CL_OUT" "^baton: $SELF mcp - ✔ Connected" \
    "claude mcp list: baton (project .mcp.json) is Connected"
[ -n "$(printf '%s\n' "$CL_OUT" | grep '^baton:' | grep Connected)" ] ||
    diag "claude mcp list said: $CL_OUT"

# claude_tools: the mcp__baton__* tools the real `claude -p` offers its
# model with this project's .mcp.json, one per line.  Offline and without
# a login the prompt fails, but the init message, written first, lists
# the tools; MCP_CONNECTION_NONBLOCKING=false waits for baton to connect.
claude_tools() {
	MCP_CONNECTION_NONBLOCKING=false timeout 120 "$CLAUDE" -p --mcp-config "$P/.mcp.json" \
	    --strict-mcp-config --output-format stream-json --verbose hi \
	    >"$TEST_DIR/claude-p.out" 2>&1
	head -n 1 "$TEST_DIR/claude-p.out" | jq -r '.tools[]? | select(startswith("mcp__baton__"))' |
	    sed 's/^mcp__baton__//' | sort
}

ops=$("$BATON" --help | sed -n '/^Operations/,/^$/p' | awk 'NR > 1 && NF { print $1 }' |
    grep -vx 'lock_break' | grep -vx 'state_export' | grep -v '^queue_' | grep -v '^worktree_' |
    grep -vx 'launch_implementer' | grep -vx 'implementer_list' | sort)
CT=$(claude_tools)
is "$CT" "$ops" "claude -p --mcp-config lists every agent tool of full as mcp__baton__*"
[ -n "$CT" ] || diag "claude -p said: $(head -c 2000 "$TEST_DIR/claude-p.out")"

baton_run install --claude --tools core
ok $RC "baton install --claude --tools core exits 0"
is "$(jq -r '.mcpServers.baton.env.BATON_TOOLS' "$P/.mcp.json")" core \
    "install --tools core writes BATON_TOOLS=core into the entry"
core="agent_join discussion_get discussion_reply discussion_start lock_acquire lock_list lock_release
message_inbox message_send task_claim task_release task_submit"
is "$(claude_tools | tr '\n' ' ')" "$(printf '%s\n' $core | sort | tr '\n' ' ')" \
    "claude -p then lists the core profile's tools, and no other"
baton_run install --claude --tools nosuch
is "$RC" 64 "install --tools with an unknown profile is a usage error"
like "$ERR" "unknown profile or tool 'nosuch'" "naming the bad word"

"$BATON" uninstall --claude >/dev/null
"$BATON" install --claude --scope user >/dev/null
test ! -e "$P/.mcp.json" && jq -e '.mcpServers.baton' "$HOME/.claude.json" >/dev/null
ok $? "--scope user writes ~/.claude.json, not .mcp.json" \
    "$(ls -l "$P"; cat "$HOME/.claude.json")"
claude_list
like "$CL_OUT" "^baton: $SELF mcp - ✔ Connected" \
    "claude mcp list: baton (user ~/.claude.json) is Connected"
timeout 60 "$CLAUDE" mcp get baton >"$TEST_DIR/get.out" 2>&1
like "$(cat "$TEST_DIR/get.out")" 'Scope: User' "claude mcp get baton: user scope"
"$BATON" uninstall --claude >/dev/null
claude_list
is "$(printf '%s\n' "$CL_OUT" | grep -c '^baton:')" 0 "after uninstall claude lists no baton"

# the entries the README gives for adding baton by hand: baton sees them
for scope in project user; do
	timeout 60 "$CLAUDE" mcp add --scope $scope baton -- "$SELF" mcp >/dev/null 2>&1
	baton_run status
	like "$(printf '%s\n' "$OUT" | grep '^claude ')" "\\($scope\\)" \
	    "baton status sees the entry of claude mcp add --scope $scope"
	"$BATON" uninstall --claude >/dev/null
	claude_list
	is "$(printf '%s\n' "$CL_OUT" | grep -c '^baton:')" 0 "and baton uninstall takes it out"
done

# --- Codex ----------------------------------------------------------------

timeout 60 "$CODEX" mcp list >"$TEST_DIR/codex.out" 2>"$TEST_DIR/codex.err"
ok $? "codex mcp list exits 0" "$(cat "$TEST_DIR/codex.out" "$TEST_DIR/codex.err")"
like "$(grep '^baton ' "$TEST_DIR/codex.out")" "^baton +$SELF +mcp " \
    "codex mcp list: baton runs this binary with mcp"
timeout 60 "$CODEX" mcp get baton --json >"$TEST_DIR/get.json" 2>"$TEST_DIR/codex.err"
ok $? "codex mcp get baton --json exits 0" "$(cat "$TEST_DIR/get.json" "$TEST_DIR/codex.err")"
is "$(jq -c '[.transport.type, .transport.command, .transport.args, .enabled]' "$TEST_DIR/get.json")" \
    "[\"stdio\",\"$SELF\",[\"mcp\"],true]" "codex mcp get: stdio, this binary, args [\"mcp\"], enabled"
is "$(jq -r '.transport.env.BATON_SOCKET' "$TEST_DIR/get.json")" "$BATON_SOCKET" \
    "codex mcp get: BATON_SOCKET is passed in env"

# app-server: JSON-RPC over stdio; mcpServerStatus/list starts each
# configured server and returns its tools.
mkfifo "$TEST_DIR/as.in"
"$CODEX" app-server <"$TEST_DIR/as.in" >"$TEST_DIR/as.out" 2>"$TEST_DIR/as.err" &
AS=$!
_bg_pids="$_bg_pids $AS"
exec 9>"$TEST_DIR/as.in"
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientInfo":{"name":"baton-tests","version":"1"}}}' \
    '{"jsonrpc":"2.0","method":"initialized"}' >&9
wait_for "grep -q '\"id\":1' '$TEST_DIR/as.out'" 60
ok $? "codex app-server answers initialize" "$(tail -c 2000 "$TEST_DIR/as.err")"
# the first answer may come while servers still start: ask again, bounded
tools=
for id in 2 3 4 5 6; do
	printf '{"jsonrpc":"2.0","id":%d,"method":"mcpServerStatus/list","params":{}}\n' "$id" >&9
	wait_for "grep -q '\"id\":$id,' '$TEST_DIR/as.out'" 60 || break
	tools=$(grep "\"id\":$id," "$TEST_DIR/as.out" | jq -r \
	    '.result.data[]? | select(.name == "baton") | .tools // {} | keys[]' 2>/dev/null)
	[ -n "$tools" ] && break
	sleep 2 # nothing tells us when its servers are up: ask again later
done
exec 9>&-
wait_for "! kill -0 $AS 2>/dev/null" 20 || kill "$AS" 2>/dev/null
like "$tools" '^lock_acquire$' "codex app-server mcpServerStatus/list: baton's tools are listed"
missing=
for op in $("$BATON" --help | sed -n '/^Operations/,/^$/p' | awk 'NR > 1 { print $1 }' |
    grep -v '^queue_' | grep -v '^worktree_' | grep -vx 'launch_implementer' |
    grep -vx 'implementer_list'); do
	printf '%s\n' "$tools" | grep -qx "$op" || missing="$missing $op"
done
is "$missing" "" "every operation of this build (the opt-in queues and worktrees aside) is a tool Codex sees"
[ -n "$tools" ] || diag "app-server said: $(tail -c 2000 "$TEST_DIR/as.out")"

"$BATON" uninstall --codex >/dev/null
timeout 60 "$CODEX" mcp list >"$TEST_DIR/codex.out" 2>&1
is "$(grep -c '^baton ' "$TEST_DIR/codex.out")" 0 "after uninstall codex lists no baton"

done_testing
