#!/bin/sh
# baton install --hooks (issue 18): the hook entries go into Claude Code's
# settings and Codex's hooks.json on exact spans, laid out like the file
# around them, and uninstall --hooks leaves the files byte-identical
# (fixtures with hooks of their own, and no file at all); baton status
# shows them; the real Codex (pinned in tests/agents, offline) loads the
# written hooks.json without warnings.

. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
start_broker || bail_out "batond did not start"
P=$BATON_PROJECT
FIX=$TOP_SRCDIR/tests/hooks
SELF=$(readlink -f "$BATON")
cd "$P" || bail_out "no project directory"
mkdir -p "$P/.claude" "$HOME/.codex"

# the usage: --hooks and its options continue the install line
baton_run install --help
is "$(printf '%s\n' "$OUT" | grep -c '^ *baton \[')" 0 \
    "install --help: no synopsis line is 'baton [' (the options of --hooks are install's)"
like "$OUT" "\\[--hooks \\[--reserve-on-edit\\] \\[--strict\\] \\[--stop\\]\\]" \
    "and it shows --hooks with its options"

# round trips on files that have hooks of their own
cp "$FIX/claude-settings.json" "$P/.claude/settings.json"
cp "$FIX/codex-hooks.json" "$HOME/.codex/hooks.json"
baton_run install --all --hooks --reserve-on-edit --stop
ok $RC "baton install --all --hooks exits 0"
like "$OUT" "codex asks you to trust new hooks" "and says Codex asks to trust them"
for f in "$P/.claude/settings.json" "$HOME/.codex/hooks.json"; do
	jq -e . "$f" >/dev/null
	ok $? "$f is still JSON" "$(cat "$f")"
done
# laid out like the rest of each file: one member or element a line, the
# file's own indent (two spaces in Claude's, tabs in Codex's), ": "
sed "s|@BATON@|'$SELF'|g" "$FIX/claude-settings.installed.json" >"$TEST_DIR/claude.want"
same_file "$P/.claude/settings.json" "$TEST_DIR/claude.want" \
    "Claude's settings: baton's hooks are laid out like the file around them"
sed "s|@BATON@|'$SELF'|g" "$FIX/codex-hooks.installed.json" >"$TEST_DIR/codex.want"
same_file "$HOME/.codex/hooks.json" "$TEST_DIR/codex.want" \
    "Codex's hooks.json: baton's hooks are laid out like the file around them"
is "$(jq -r '.hooks.PreToolUse[1].hooks[0].command' "$P/.claude/settings.json")" \
    "'$SELF' hook --reserve-on-edit PreToolUse" "Claude's PreToolUse runs baton hook, after the user's own"
is "$(jq -r '.hooks.PreToolUse[1].matcher' "$P/.claude/settings.json")" \
    "Edit|Write|MultiEdit|NotebookEdit" "on Claude's edit tools"
is "$(jq -c '.hooks.Stop[0].hooks[0] | [.asyncRewake, .command]' "$P/.claude/settings.json")" \
    "[true,\"'$SELF' hook --wait 3600 Stop\"]" "Claude's Stop is an asyncRewake hook that waits for news"
is "$(jq -r '.hooks.PreToolUse[0].matcher' "$HOME/.codex/hooks.json")" "apply_patch|Edit|Write" \
    "Codex's PreToolUse matches apply_patch"
is "$(jq -r '.hooks.Stop | length' "$HOME/.codex/hooks.json")" 2 \
    "Codex's own Stop hook stays, baton's is added"
baton_run status
like "$OUT" "^hooks +$P/.claude/settings.json \\(SessionStart UserPromptSubmit PreToolUse PostToolUse Stop\\)" \
    "baton status shows the hooks and their events"
baton_run install --all --hooks --reserve-on-edit --stop
like "$OUT" "claude hooks \\(project\\): already up to date" "a second install changes nothing"
baton_run uninstall --all --hooks
ok $RC "baton uninstall --hooks exits 0"
same_file "$P/.claude/settings.json" "$FIX/claude-settings.json" \
    "uninstall leaves Claude's settings byte-identical"
same_file "$HOME/.codex/hooks.json" "$FIX/codex-hooks.json" \
    "uninstall leaves Codex's hooks.json byte-identical"

# from nothing: the files made are removed again
rm -f "$P/.claude/settings.json" "$HOME/.codex/hooks.json"
baton_run install --all --hooks
ok $RC "install --hooks with no settings files exits 0"
test -f "$P/.claude/settings.json" && test -f "$HOME/.codex/hooks.json"
ok $? "it writes both files"

# the real Codex loads the hooks file: app-server hooks/list
BIN=
for d in "$TOP_SRCDIR/tests/agents/node_modules/.bin" "$TOP_BUILDDIR/tests/agents/node_modules/.bin"; do
	[ -x "$d/codex" ] && BIN=$d && break
done
if [ -n "$BIN" ]; then
	printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientInfo":{"name":"baton-tests","version":"1"}}}' \
	    '{"jsonrpc":"2.0","method":"initialized"}' \
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"hooks/list\",\"params\":{\"cwds\":[\"$P\"]}}" \
	    >"$TEST_DIR/as.in"
	mkfifo "$TEST_DIR/as.fifo"
	"$BIN/codex" app-server <"$TEST_DIR/as.fifo" >"$TEST_DIR/as.out" 2>"$TEST_DIR/as.err" &
	AS=$!
	_bg_pids="$_bg_pids $AS"
	exec 9>"$TEST_DIR/as.fifo"
	cat "$TEST_DIR/as.in" >&9
	wait_for "grep -q '\"id\":2,' '$TEST_DIR/as.out'" 60
	exec 9>&-
	res=$(grep '"id":2,' "$TEST_DIR/as.out")
	is "$(printf '%s' "$res" | jq -r '[.result.data[0].hooks[] | select(.command | test("baton.* hook ")) | .eventName] | sort | join(" ")')" \
	    "postToolUse preToolUse sessionStart userPromptSubmit" \
	    "codex app-server hooks/list: Codex loads baton's four hooks"
	is "$(printf '%s' "$res" | jq -r '[.result.data[0].warnings[]?, .result.data[0].errors[]?] | length')" 0 \
	    "with no warnings or errors"
	like "$(printf '%s' "$res" | jq -r '.result.data[0].hooks[0].trustStatus')" "untrusted" \
	    "and untrusted until the user approves them (the README says so)"
	wait_for "! kill -0 $AS 2>/dev/null" 20 || kill "$AS" 2>/dev/null
else
	skip "the agent CLIs are not installed (npm ci in tests/agents)"
fi
baton_run uninstall --all --hooks
test ! -e "$P/.claude/settings.json" && test ! -e "$HOME/.codex/hooks.json"
ok $? "uninstall removes the files it made" "$(ls -la "$P/.claude" "$HOME/.codex")"

done_testing
