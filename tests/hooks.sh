#!/bin/sh
# baton hook (issue 18): agent processes with a `baton mcp` child and
# hook children (tests/hooks/agent.sh), the documented hook input of
# Claude Code and Codex (fixtures in tests/hooks/, written from their
# published schemas) in, the output validated against the published
# output schemas (Codex's, taken from the installed CLI; Claude Code's
# in tests/hooks/claude-hooks.schema.json) with ajv.  The hook acts as
# its agent's own session; another agent's reserved file, directory and
# glob are refused naming the holder; two baton mcp sessions of two
# agents under one agent process make the hook act as nobody; news is
# told once; without a broker hooks fail open, --strict fails closed.

. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq

broker_dir
start_broker || bail_out "batond did not start"
P=$BATON_PROJECT
mkdir -p "$P/src" "$P/lib/x" "$P/docs"
HOOKS=$TOP_SRCDIR/tests/hooks
. "$HOOKS/agent-lib.sh"

# --- helpers ------------------------------------------------------------

# fixture CLI EVENT SID [FILE [REL1 REL2]]: the fixture with its
# placeholders filled, on stdout.
fixture() {
	sed -e "s|@SID@|$3|g" -e "s|@CWD@|$P|g" -e "s|@HOME@|$HOME|g" \
	    -e "s|@FILE@|${4:-}|g" -e "s|@REL1@|${5:-}|g" -e "s|@REL2@|${6:-}|g" \
	    "$HOOKS/$1/$2.json"
}

# agent_hook NAME INPUT ARGS...: run `baton hook ARGS <INPUT` as a child
# of the agent; sets HOOK_OUT, HOOK_ERR, HOOK_RC and HOOK_FILE (the output).
agent_hook() {
	_ah=$1
	_in=$2
	shift 2
	agent_run "$_ah" "\"$BATON\" hook $* <\"$_in\""
	HOOK_RC=$AGENT_RC HOOK_OUT=$AGENT_OUT HOOK_ERR=$AGENT_ERR HOOK_FILE=$AGENT_FILE
}

# shell_hook INPUT ARGS...: the same from this shell: no agent's process.
shell_hook() {
	_in=$1
	shift
	HOOK_FILE=$TEST_DIR/shell.out
	timeout 20 "$BATON" hook "$@" <"$_in" >"$HOOK_FILE" 2>"$TEST_DIR/shell.err"
	HOOK_RC=$?
	HOOK_OUT=$(cat "$HOOK_FILE")
	HOOK_ERR=$(cat "$TEST_DIR/shell.err")
	_saw="hook $* from the test shell exited $HOOK_RC
stdout: $HOOK_OUT
stderr: $HOOK_ERR"
}

# Output validation: ajv from tests/mcp; Codex's schemas from its binary.
VALIDATE=
if command -v node >/dev/null 2>&1 && node "$HOOKS/validate.mjs" probe >/dev/null 2>&1; then
	VALIDATE="node $HOOKS/validate.mjs"
fi
CODEX_BIN=
for d in "$TOP_SRCDIR" "$TOP_BUILDDIR"; do
	for b in "$d"/tests/agents/node_modules/@openai/codex-linux-*/vendor/*/bin/codex; do
		[ -x "$b" ] && CODEX_BIN=$b && break 2
	done
done
SCHEMAS=$TEST_DIR/codex-schemas
mkdir -p "$SCHEMAS"
if [ -n "$VALIDATE" ] && [ -n "$CODEX_BIN" ]; then
	$VALIDATE extract "$CODEX_BIN" "$SCHEMAS" >/dev/null 2>&1 || CODEX_BIN=
fi

# valid CLI EVENT FILE KIND: FILE (KIND input or output) follows CLI's
# published schema for EVENT; an empty output (nothing to say) is valid.
valid() {
	if [ -z "$VALIDATE" ] || { [ "$1" = codex ] && [ -z "$CODEX_BIN" ]; }; then
		skip "$1 $2 $4 against its schema (node, ajv or the agent CLIs are not installed)"
		return
	fi
	if [ ! -s "$3" ]; then
		pass "$1 $2 $4: empty (allow, nothing to add) is valid"
		return
	fi
	case $1:$2 in
	codex:SessionStart) _s=session-start ;;
	codex:UserPromptSubmit) _s=user-prompt-submit ;;
	codex:PreToolUse) _s=pre-tool-use ;;
	codex:PostToolUse) _s=post-tool-use ;;
	codex:Stop) _s=stop ;;
	esac
	if [ "$1" = codex ]; then
		_v=$($VALIDATE check "$SCHEMAS/$_s.command.$4.json" "$3" 2>&1)
	else
		_v=$($VALIDATE check "$HOOKS/claude-hooks.schema.json#$2-$4" "$3" 2>&1)
	fi
	ok $? "$1 $2 $4 follows the published schema" "$_v: $(cat "$3")"
}

# --- the agents ---------------------------------------------------------

# A: Claude Code (its baton mcp has CLAUDE_CODE_SESSION_ID); B: Codex
# (no session id for MCP servers: matched by process)
agent_start a CLAUDE_CODE_SESSION_ID=sess-a
A=$AGENT_NAME
agent_start b
B=$AGENT_NAME
like "$A" '^claude-code-' "agent A's baton mcp is connected ($A)"
like "$B" '^claude-code-' "agent B's baton mcp is connected ($B)"

fixture claude PreToolUse sess-a "$P/src/a.c" >"$TEST_DIR/a-edit.json"
fixture codex PreToolUse thread-b "" "src/a.c" "src/b.c" >"$TEST_DIR/b-patch.json"

# the fixtures follow the published input schemas
for f in SessionStart UserPromptSubmit PreToolUse PreToolUse-Write PreToolUse-NotebookEdit \
    PostToolUse Stop; do
	fixture claude "$f" sess-a "$P/src/a.c" >"$TEST_DIR/in-claude-$f.json"
	valid claude "${f%%-*}" "$TEST_DIR/in-claude-$f.json" input
done
for f in SessionStart UserPromptSubmit PreToolUse PostToolUse Stop; do
	fixture codex "$f" thread-b "" src/a.c src/b.c >"$TEST_DIR/in-codex-$f.json"
	valid codex "$f" "$TEST_DIR/in-codex-$f.json" input
done

# --- PreToolUse: reservations ----------------------------------------------

is "$(agent_call a 10 lock_acquire '{"name":"file:src/a.c","reason":"refactoring"}' | jq -r .acquired)" \
    true "A reserves file:src/a.c through its baton mcp"

agent_hook a "$TEST_DIR/a-edit.json" PreToolUse
is "$HOOK_RC/$HOOK_OUT" "0/" "A's own reservation: its edit of src/a.c is allowed, silently"

fixture claude PreToolUse thread-b "$P/src/a.c" >"$TEST_DIR/b-edit.json"
agent_hook b "$TEST_DIR/b-edit.json" PreToolUse
is "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecision)" deny \
    "B's edit of A's reserved src/a.c is denied"
like "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecisionReason)" \
    "reserved by $A \\(file:src/a.c, exclusive, for [0-9]+s: refactoring\\)" \
    "the reason names the holder, the reservation and its reason"
like "$HOOK_OUT" 'lock_acquire .*wait_seconds' "and says how to wait for it"
valid claude PreToolUse "$HOOK_FILE" output
cp "$HOOK_FILE" "$TEST_DIR/deny.json"
valid codex PreToolUse "$TEST_DIR/deny.json" output

# a reserved directory and a glob
agent_call a 11 lock_acquire '{"names":["file:lib","file:docs/*.md"]}' >/dev/null
for f in lib/x/y.c docs/guide.md; do
	fixture claude PreToolUse-Write thread-b "$P/$f" >"$TEST_DIR/b-w.json"
	agent_hook b "$TEST_DIR/b-w.json" PreToolUse
	is "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecision)" deny \
	    "B's Write of $f (under A's file:lib / file:docs/*.md) is denied"
done
like "$HOOK_OUT" "reserved by $A \\(file:docs/\\*\\.md" "the glob reservation is named"
fixture claude PreToolUse-NotebookEdit thread-b "$P/docs/guide.txt" >"$TEST_DIR/b-w.json"
agent_hook b "$TEST_DIR/b-w.json" PreToolUse
is "$HOOK_RC/$HOOK_OUT" "0/" "B's NotebookEdit of docs/guide.txt (outside the glob) is allowed"

# Codex: an apply_patch touching two files, one reserved
agent_hook b "$TEST_DIR/b-patch.json" PreToolUse
is "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecision)" deny \
    "B's apply_patch of src/a.c and src/b.c is denied"
reason=$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecisionReason)
like "$reason" "src/a.c is reserved by $A" "the reason names the reserved file"
case $reason in *src/b.c*) fail "the free src/b.c is not named" "$reason" ;;
*) pass "the free src/b.c is not named" ;; esac
valid codex PreToolUse "$HOOK_FILE" output

# --reserve-on-edit: B's first edit of a free file reserves it for B's session
fixture claude PreToolUse thread-b "$P/src/new.c" >"$TEST_DIR/b-new.json"
agent_hook b "$TEST_DIR/b-new.json" --reserve-on-edit PreToolUse
is "$HOOK_RC" 0 "B's edit of the free src/new.c is allowed"
like "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.additionalContext)" \
    "baton reserved file:src/new.c for you" "and reserves it for B (--reserve-on-edit)"
valid claude PreToolUse "$HOOK_FILE" output
baton_run locks --json
is "$(printf '%s' "$OUT" | jq -r '.locks[] | select(.name == "file:src/new.c") | .holders[0].agent')" \
    "$B" "file:src/new.c is held by B's own session"
agent_hook b "$TEST_DIR/b-new.json" --reserve-on-edit PreToolUse
is "$HOOK_RC/$HOOK_OUT" "0/" "B's next edit of it: allowed, nothing reserved twice"
fixture claude PreToolUse sess-a "$P/src/new.c" >"$TEST_DIR/a-new.json"
agent_hook a "$TEST_DIR/a-new.json" PreToolUse
like "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecisionReason)" \
    "src/new.c is reserved by $B" "A's edit of it is now denied, naming B"

# the session id: a hook outside A's process with A's session id acts as A
fixture claude PreToolUse sess-a "$P/src/a.c" >"$TEST_DIR/sid.json"
shell_hook "$TEST_DIR/sid.json" PreToolUse
is "$HOOK_RC/$HOOK_OUT" "0/" "a hook with A's session id, outside its process, acts as A"

# no session matches: an agent that holds nothing
fixture claude PreToolUse nobody "$P/src/a.c" >"$TEST_DIR/nobody.json"
shell_hook "$TEST_DIR/nobody.json" PreToolUse
like "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecisionReason)" \
    "reserved by $A.*baton could not tell which agent this is" \
    "an unknown agent's edit of a reserved file is denied, saying baton cannot tell who it is"
fixture claude PreToolUse nobody "$P/src/free.c" >"$TEST_DIR/nobody-free.json"
shell_hook "$TEST_DIR/nobody-free.json" PreToolUse
like "$(printf '%s' "$HOOK_OUT" | jq -r .systemMessage)" "could not tell which agent" \
    "its edit of a free file is allowed, saying once that baton cannot tell who it is"
is "$(printf '%s' "$HOOK_OUT" | jq -r '.hookSpecificOutput.permissionDecision // "none"')" none \
    "(no decision: the CLI's own permissions apply)"
shell_hook "$TEST_DIR/nobody-free.json" PreToolUse
is "$HOOK_RC/$HOOK_OUT" "0/" "the second time it says nothing"

# --- two baton sessions under one agent process ---------------------------

# C: an agent process with two baton mcp children of different agent
# names (configured twice): the hook cannot tell which one it is and acts
# as an agent that holds nothing, never as either of them
agent_start c AGENT_MCP2=1
C=$AGENT_NAME
agent_init2 c
C2=$AGENT_NAME2
like "$C2" '^codex-mcp-client-' "agent C's second baton mcp is another agent ($C2, $C)"
is "$(agent_call c 10 lock_acquire '{"name":"file:src/c.c"}' | jq -r .acquired)" true \
    "C's first baton mcp reserves file:src/c.c"
fixture claude PreToolUse thread-c "$P/src/c.c" >"$TEST_DIR/c-edit.json"
agent_hook c "$TEST_DIR/c-edit.json" PreToolUse
reason=$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecisionReason)
is "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecision)" deny \
    "C's edit of src/c.c is denied: the hook does not act as either session"
like "$reason" "src/c.c is reserved by $C \\(file:src/c.c" "naming the holder"
like "$reason" "baton could not tell which agent this is \\(2 baton mcp sessions \\(($C, $C2|$C2, $C)\\) run under this agent's process" \
    "and saying baton cannot tell which of the two agents it is"
fixture claude PreToolUse thread-c "$P/src/c-free.c" >"$TEST_DIR/c-free.json"
agent_hook c "$TEST_DIR/c-free.json" PreToolUse
like "$(printf '%s' "$HOOK_OUT" | jq -r .systemMessage)" "could not tell which agent this is \\(2 baton mcp" \
    "its edit of a free file is allowed, saying why it cannot tell"
fixture claude UserPromptSubmit thread-c >"$TEST_DIR/c-prompt.json"
"$BATON" msg send "$C" "for the first of C" >/dev/null
agent_hook c "$TEST_DIR/c-prompt.json" UserPromptSubmit
case $HOOK_OUT in *"for the first of C"*) fail "nobody's news is told to the ambiguous hook" "$HOOK_OUT" ;;
*) pass "nobody's news is told to the ambiguous hook" ;; esac

# D: two baton mcp of one agent name (BATON_AGENT) are one agent: the
# hook acts as it, and what either session holds is its own
agent_start d AGENT_MCP2=1 BATON_AGENT=dee
agent_init2 d
is "$AGENT_NAME/$AGENT_NAME2" "dee/dee" "agent D's two baton mcp are one agent, dee"
is "$(MCP=mcp2 agent_call d 10 lock_acquire '{"name":"file:src/d.c"}' | jq -r .acquired)" true \
    "D's second baton mcp reserves file:src/d.c"
fixture claude PreToolUse thread-d "$P/src/d.c" >"$TEST_DIR/d-edit.json"
agent_hook d "$TEST_DIR/d-edit.json" PreToolUse
is "$HOOK_RC/$HOOK_OUT" "0/" "D's edit of src/d.c is allowed, silently: the reservation is dee's own"
fixture claude PreToolUse thread-c "$P/src/d.c" >"$TEST_DIR/c-d.json"
agent_hook c "$TEST_DIR/c-d.json" PreToolUse
like "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecisionReason)" \
    "src/d.c is reserved by dee" "C's edit of it is denied, naming dee"

# --- news -----------------------------------------------------------------

fixture claude UserPromptSubmit thread-b >"$TEST_DIR/b-prompt.json"
agent_hook b "$TEST_DIR/b-prompt.json" UserPromptSubmit
is "$HOOK_RC/$HOOK_OUT" "0/" "no news for B yet: UserPromptSubmit adds nothing"

"$BATON" msg send "$B" "please look at src/a.c" --subject "a question" >/dev/null
agent_call b 20 agent_join '{"role":"reviewer"}' >/dev/null
"$BATON" task create "add the parser" >/dev/null
tid=$("$BATON" task list --json | jq -r '.tasks[0].id')
agent_call a 21 task_claim "{\"id\":\"$tid\"}" >/dev/null
agent_call a 22 task_submit "{\"id\":\"$tid\",\"notes\":\"done, tested\"}" >/dev/null
agent_call b 23 lock_acquire '{"name":"build"}' >/dev/null
"$BATON" lock --break build >/dev/null 2>&1

agent_hook b "$TEST_DIR/b-prompt.json" UserPromptSubmit
ctx=$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.additionalContext)
like "$ctx" "mail [0-9]+ from .*: a question: please look at src/a.c" "B is told of the message"
like "$ctx" "$tid \"add the parser\" waits for review \\(submitted by $A: done, tested\\)" \
    "and of the review it may do"
like "$ctx" "your lock build was broken" "and of the lock it lost"
valid claude UserPromptSubmit "$HOOK_FILE" output
cp "$HOOK_FILE" "$TEST_DIR/news.json"
valid codex UserPromptSubmit "$TEST_DIR/news.json" output
agent_hook b "$TEST_DIR/b-prompt.json" UserPromptSubmit
is "$HOOK_RC/$HOOK_OUT" "0/" "the same news is not told twice"

# changes requested on A's task reach A, once
agent_call b 24 task_request_changes "{\"id\":\"$tid\",\"feedback\":\"handle empty input\"}" >/dev/null
fixture claude PostToolUse sess-a >"$TEST_DIR/a-post.json"
agent_hook a "$TEST_DIR/a-post.json" PostToolUse --interval 0
like "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.additionalContext)" \
    "changes requested on your $tid \"add the parser\" by $B: handle empty input" \
    "A is told of the changes requested on its task (PostToolUse)"
valid claude PostToolUse "$HOOK_FILE" output
cp "$HOOK_FILE" "$TEST_DIR/post.json"
valid codex PostToolUse "$TEST_DIR/post.json" output
agent_hook a "$TEST_DIR/a-post.json" PostToolUse --interval 0
is "$HOOK_RC/$HOOK_OUT" "0/" "and not twice"
# PostToolUse is rate-limited: news within the interval waits for the next one
"$BATON" msg send "$A" "one more thing" >/dev/null
agent_hook a "$TEST_DIR/a-post.json" PostToolUse --interval 3600
is "$HOOK_RC/$HOOK_OUT" "0/" "PostToolUse within --interval of the last news says nothing"
fixture claude UserPromptSubmit sess-a >"$TEST_DIR/a-prompt.json"
agent_hook a "$TEST_DIR/a-prompt.json" UserPromptSubmit
like "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.additionalContext)" "one more thing" \
    "the next UserPromptSubmit brings it"

# SessionStart re-primes: who, role, tasks, reservations, mail, next steps
fixture claude SessionStart sess-a >"$TEST_DIR/a-start.json"
agent_hook a "$TEST_DIR/a-start.json" SessionStart
ctx=$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.additionalContext)
like "$ctx" "you are $A .* in project $P, session s[0-9]+" "SessionStart says who the agent is"
like "$ctx" "You hold file:src/a.c, file:lib, file:docs/\\*\\.md and $tid" \
    "its reservations and its task"
like "$ctx" "unread message" "its mail"
like "$ctx" "Next steps:" "and what to do next"
valid claude SessionStart "$HOOK_FILE" output
fixture codex SessionStart thread-b >"$TEST_DIR/b-start.json"
agent_hook b "$TEST_DIR/b-start.json" SessionStart
like "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.additionalContext)" \
    "you are $B \\(reviewer\\)" "Codex's SessionStart: B is primed as a reviewer"
valid codex SessionStart "$HOOK_FILE" output

# Stop keeps the agent going while news waits, then lets it stop
fixture claude Stop sess-a >"$TEST_DIR/a-stop.json"
agent_hook a "$TEST_DIR/a-stop.json" Stop
is "$HOOK_RC/$HOOK_OUT" "0/" "Stop without news: the agent stops"
"$BATON" msg send "$A" "wait, one more" >/dev/null
agent_hook a "$TEST_DIR/a-stop.json" Stop
is "$(printf '%s' "$HOOK_OUT" | jq -r .decision)" block "Stop with news keeps the agent going"
like "$(printf '%s' "$HOOK_OUT" | jq -r .reason)" "wait, one more" "with the news as the reason"
valid claude Stop "$HOOK_FILE" output
cp "$HOOK_FILE" "$TEST_DIR/stop.json"
valid codex Stop "$TEST_DIR/stop.json" output
agent_hook a "$TEST_DIR/a-stop.json" Stop
is "$HOOK_RC/$HOOK_OUT" "0/" "the next Stop lets it stop"

# Stop --wait (Claude Code's asyncRewake): it waits in the broker, and
# mail arriving wakes the agent (exit 2, the news on stderr)
printf '"%s" hook --wait 30 Stop <"%s" >"%s" 2>"%s"; echo $? >"%s"\n' "$BATON" \
    "$TEST_DIR/a-stop.json" "$TEST_DIR/wait.out" "$TEST_DIR/wait.err" "$TEST_DIR/wait.rc.tmp" \
    >"$TEST_DIR/wait.sh"
(sh "$TEST_DIR/wait.sh" && mv "$TEST_DIR/wait.rc.tmp" "$TEST_DIR/wait.rc") &
_bg_pids="$_bg_pids $!"
wait_for "\"$BATON\" agents --json | jq -e '[.agents[] | select(.kind == \"hook\")] | length == 1' >/dev/null" 10
"$BATON" msg send "$A" "wake up" >/dev/null
wait_for "[ -f '$TEST_DIR/wait.rc' ]" 20
is "$(cat "$TEST_DIR/wait.rc" 2>/dev/null)" 2 "Stop --wait exits 2 when mail comes (Claude wakes the agent)"
like "$(cat "$TEST_DIR/wait.err")" "wake up" "with the mail on stderr"
is "$(cat "$TEST_DIR/wait.out")" "" "and nothing on stdout"

# --- bad input ----------------------------------------------------------

printf 'not json' >"$TEST_DIR/bad.json"
shell_hook "$TEST_DIR/bad.json" PreToolUse
is "$HOOK_RC" 65 "input that is not JSON: exit 65"
like "$HOOK_ERR" "not a JSON object" "with one line saying so"
shell_hook "$TEST_DIR/a-edit.json" Stop
is "$HOOK_RC" 65 "input of another event: exit 65"
shell_hook "$TEST_DIR/a-edit.json" Nonsense
is "$HOOK_RC" 64 "an unknown EVENT: exit 64"

# --- fail open without a broker, --strict fails closed ----------------------

stop_broker
shell_hook "$TEST_DIR/b-edit.json" PreToolUse
is "$HOOK_RC" 0 "no broker: the edit is allowed"
like "$(printf '%s' "$HOOK_OUT" | jq -r .systemMessage)" "broker is unreachable" "and the hook says so"
shell_hook "$TEST_DIR/b-edit.json" PreToolUse
is "$HOOK_RC/$HOOK_OUT" "0/" "once"
shell_hook "$TEST_DIR/b-edit.json" --strict PreToolUse
is "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecision)" deny \
    "--strict: without a broker the edit is denied"
like "$(printf '%s' "$HOOK_OUT" | jq -r .hookSpecificOutput.permissionDecisionReason)" \
    "unreachable .* --strict" "saying why"
test ! -S "$BATON_SOCKET" || [ -z "$(broker_pid)" ]
ok $? "and no hook started a broker"

done_testing
