#!/bin/sh
# Agent set-up: baton install / uninstall on real-world configuration
# files (byte-identical after the round trip, idempotent, valid for the
# agent), init / disable / enable on CLAUDE.md and AGENTS.md (never a
# byte outside the markers), baton service, and batond under socket
# activation (LISTEN_FDS).  HOME is always a scratch directory.

. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
unset CLAUDE_CONFIG_DIR CODEX_HOME XDG_CONFIG_HOME
FIX=$TOP_SRCDIR/tests/setup
P=$BATON_PROJECT
SELF=$(readlink -f "$BATON")

# toml FILE EXPR: evaluate a Python expression on the parsed TOML (as t).
if command -v python3 >/dev/null 2>&1 && python3 -c 'import tomllib' 2>/dev/null; then
	toml() {
		python3 -c 'import sys, tomllib, json
t = tomllib.load(open(sys.argv[1], "rb"))
print(json.dumps(eval(sys.argv[2]), sort_keys=True))' "$1" "$2" 2>&1
	}
else
	toml() { echo "no tomllib"; }
fi

# --- Claude Code: JSON --------------------------------------------------

# json_round FIXTURE WHERE: install into a copy of FIXTURE at WHERE
# (project or user), check it, install again, uninstall, compare.
json_round() {
	_f=$1
	if [ "$2" = user ]; then
		_dst=$HOME/.claude.json
		_args="--claude --scope user"
	else
		_dst=$P/.mcp.json
		_args="--claude"
	fi
	cp "$FIX/$_f" "$_dst"
	baton_run install $_args
	ok $RC "$_f ($2): install exits 0"
	is "$(jq -c '.mcpServers.baton | [.command, .args, .type]' "$_dst" 2>&1)" \
	    "[\"$SELF\",[\"mcp\"],\"stdio\"]" "$_f ($2): baton runs this binary with args [\"mcp\"]"
	is "$(jq -S -c 'del(.mcpServers)' "$_dst")" "$(jq -S -c 'del(.mcpServers)' "$FIX/$_f")" \
	    "$_f ($2): every other top-level key is unchanged"
	is "$(jq -S -c '.mcpServers // {} | del(.baton)' "$_dst")" \
	    "$(jq -S -c '.mcpServers // {}' "$FIX/$_f")" "$_f ($2): every other server is unchanged"
	cp "$_dst" "$TEST_DIR/once"
	baton_run install $_args
	same_file "$_dst" "$TEST_DIR/once" "$_f ($2): a second install changes nothing"
	like "$OUT" 'already' "$_f ($2): and says so"
	baton_run uninstall $_args
	ok $RC "$_f ($2): uninstall exits 0"
	same_file "$_dst" "$FIX/$_f" "$_f ($2): install then uninstall leaves the file byte-identical"
	rm -f "$_dst"
}

json_round mcp-project.json project
json_round mcp-compact.json project
json_round mcp-tabs.json project
json_round claude-user.json user
json_round claude-user-fresh.json user
json_round claude-user-empty-servers.json user

# layout: the entry is indented like the file around it
cp "$FIX/mcp-tabs.json" "$P/.mcp.json"
"$BATON" install --claude >/dev/null
grep -q "$(printf '^\t\t"baton": {$')" "$P/.mcp.json"
ok $? "a tab-indented file gets a tab-indented entry" "$(cat -A "$P/.mcp.json" | head -n 20)"
"$BATON" uninstall --claude >/dev/null
cp "$FIX/mcp-compact.json" "$P/.mcp.json"
"$BATON" install --claude >/dev/null
is "$(wc -l <"$P/.mcp.json" | tr -d ' ')" 1 "a one-line file stays one line"
"$BATON" uninstall --claude >/dev/null
rm -f "$P/.mcp.json"

# a missing file is created, and uninstall removes it again
baton_run install --claude
ok $RC "install creates a missing .mcp.json"
is "$(jq -c '.mcpServers.baton.args' "$P/.mcp.json")" '["mcp"]' "the new .mcp.json has the entry"
is "$(jq -r '.mcpServers.baton.env.BATON_SOCKET' "$P/.mcp.json")" "$BATON_SOCKET" \
    "BATON_SOCKET set now is passed on in env (agents filter the environment)"
is "$(jq -r '.mcpServers.baton.env.BATON_STATE_DIR' "$P/.mcp.json")" "$BATON_STATE_DIR" \
    "so is BATON_STATE_DIR"
is "$(jq -r '.mcpServers.baton.env | has("BATON_PROJECT")' "$P/.mcp.json")" false \
    "BATON_PROJECT (one session's namespace) is not written"
baton_run uninstall --claude
test ! -e "$P/.mcp.json"
ok $? "uninstall removes the .mcp.json that install created" "$(cat "$P/.mcp.json" 2>&1)"
baton_run uninstall --claude
ok $RC "uninstall when not installed exits 0"

# an update replaces only the entry's value
cp "$FIX/mcp-project.json" "$P/.mcp.json"
"$BATON" install --claude >/dev/null
sed "s|$SELF|/old/path/baton|" "$P/.mcp.json" >"$TEST_DIR/old.json"
cp "$TEST_DIR/old.json" "$P/.mcp.json"
baton_run install --claude
is "$(jq -r '.mcpServers.baton.command' "$P/.mcp.json")" "$SELF" "install updates an entry that runs another baton"
"$BATON" uninstall --claude >/dev/null
same_file "$P/.mcp.json" "$FIX/mcp-project.json" "and uninstall still restores the original"
ls "$BATON_STATE_DIR/backup/" | grep -q 'mcp.json'
ok $? "the original was backed up in STATE/backup/" "$(ls -l "$BATON_STATE_DIR/backup/" 2>&1)"

# a broken file is refused and left alone
printf '{"mcpServers": {,}\n' >"$P/.mcp.json"
cp "$P/.mcp.json" "$TEST_DIR/bad"
baton_run install --claude
is "$RC" 65 "install refuses a .mcp.json that is not JSON (exit 65)"
same_file "$P/.mcp.json" "$TEST_DIR/bad" "and does not touch it"
is "$(lines "$ERR")" 1 "with one line on stderr"
rm -f "$P/.mcp.json"

# a symlinked ~/.claude.json (dotfiles) stays a symlink
mkdir -p "$HOME/dotfiles"
cp "$FIX/claude-user.json" "$HOME/dotfiles/claude.json"
ln -s dotfiles/claude.json "$HOME/.claude.json"
"$BATON" install --claude --scope user >/dev/null
test -L "$HOME/.claude.json" && jq -e '.mcpServers.baton' "$HOME/dotfiles/claude.json" >/dev/null
ok $? "a symlinked ~/.claude.json stays a link; its target gets the entry" \
    "$(ls -l "$HOME/.claude.json"; cat "$HOME/dotfiles/claude.json")"
"$BATON" uninstall --claude --scope user >/dev/null
same_file "$HOME/dotfiles/claude.json" "$FIX/claude-user.json" "and uninstall restores the target"
rm -f "$HOME/.claude.json"

# --- Codex: TOML ----------------------------------------------------------

mkdir -p "$HOME/.codex"
CX=$HOME/.codex/config.toml
for f in codex.toml codex-notrail.toml; do
	cp "$FIX/$f" "$CX"
	baton_run install --codex
	ok $RC "$f: install exits 0"
	is "$(toml "$CX" '[t["mcp_servers"]["baton"]["command"], t["mcp_servers"]["baton"]["args"]]')" \
	    "[\"$SELF\", [\"mcp\"]]" "$f: the file parses, with baton's command and args"
	case $f in codex.toml)
		is "$(toml "$CX" '[sorted(t["mcp_servers"]), t["profiles"]["deep"]["instructions"].count("baton"), len(t["skills"])]')" \
		    '[["baton", "context7", "github"], 1, 1]' "$f: the other tables are intact"
		;;
	esac
	cp "$CX" "$TEST_DIR/once"
	"$BATON" install --codex >/dev/null
	same_file "$CX" "$TEST_DIR/once" "$f: a second install changes nothing"
	baton_run uninstall --codex
	same_file "$CX" "$FIX/$f" "$f: install then uninstall leaves it byte-identical (comments too)"
done
is "$(printf '%s' "$ERR" | grep -c 'by hand')" 0 "a [mcp_servers.baton] line inside a string is not taken for a table"

cp "$FIX/codex-handwritten.toml" "$CX"
baton_run install --codex
ok $RC "install over a hand-written [mcp_servers.baton] exits 0"
is "$(toml "$CX" '[t["model"], t["mcp_servers"]["baton"]["command"], t["mcp_servers"]["baton"]["env"]["BATON_SOCKET"], t["mcp_servers"]["other"]["command"]]')" \
    "[\"o3\", \"$SELF\", \"$BATON_SOCKET\", \"other\"]" "it replaces that table and its env subtable, once"
"$BATON" uninstall --codex >/dev/null
is "$(toml "$CX" '[sorted(t), sorted(t["mcp_servers"])]')" '[["mcp_servers", "model"], ["other"]]' \
    "uninstall then takes baton out of Codex entirely"
rm -f "$CX"
baton_run install --codex
"$BATON" uninstall --codex >/dev/null
test ! -e "$CX"
ok $? "a config.toml that install created is removed by uninstall" "$(cat "$CX" 2>&1)"

# --all, default both
cp "$FIX/codex.toml" "$CX"
cp "$FIX/mcp-project.json" "$P/.mcp.json"
baton_run install
ok $RC "install with no agent named sets up both"
grep -q 'mcp_servers.baton' "$CX" && jq -e '.mcpServers.baton' "$P/.mcp.json" >/dev/null
ok $? "both files have the entry" "$(cat "$CX" "$P/.mcp.json")"
baton_run uninstall --all
cmp -s "$CX" "$FIX/codex.toml" && cmp -s "$P/.mcp.json" "$FIX/mcp-project.json"
ok $? "uninstall --all restores both" \
    "$(diff -u "$FIX/codex.toml" "$CX"; diff -u "$FIX/mcp-project.json" "$P/.mcp.json")"
baton_run install --scope team
is "$RC" 64 "an unknown --scope is a usage error"

# --- init / disable / enable ----------------------------------------------

cp "$FIX/CLAUDE.md" "$FIX/AGENTS.md" "$P/"
baton_run init
ok $RC "init exits 0"
for f in CLAUDE.md AGENTS.md; do
	grep -q '^<!-- baton:begin -->$' "$P/$f" && grep -q '^<!-- baton:end -->$' "$P/$f"
	ok $? "init writes the block between markers into $f" "$(cat "$P/$f")"
	head -c "$(wc -c <"$FIX/$f")" "$P/$f" >"$TEST_DIR/head"
	same_file "$TEST_DIR/head" "$FIX/$f" "the text of $f before the block is untouched"
done
grep -q 'lock_acquire' "$P/CLAUDE.md" && grep -q 'file:PATH' "$P/CLAUDE.md" &&
    grep -q 'wait_seconds' "$P/CLAUDE.md"
ok $? "the instructions say how to reserve files and wait" "$(cat "$P/CLAUDE.md")"
ops=$("$BATON" --help | sed -n '/^Operations/,/^$/p' | awk 'NR > 1 { print $1 }')
unknown=
for t in $(grep -o '`[a-z]*_[a-z_]*`' "$P/CLAUDE.md" | tr -d '`' | sort -u); do
	case $t in wait_seconds|ttl_seconds) continue ;; esac
	printf '%s\n' "$ops" | grep -qx "$t" || unknown="$unknown $t"
done
is "$unknown" "" "the instructions name only tools of this build"
cp "$P/CLAUDE.md" "$TEST_DIR/c1"
cp "$P/AGENTS.md" "$TEST_DIR/a1"
baton_run init
cmp -s "$P/CLAUDE.md" "$TEST_DIR/c1" && cmp -s "$P/AGENTS.md" "$TEST_DIR/a1"
ok $? "a second init changes nothing" \
    "$(diff -u "$TEST_DIR/c1" "$P/CLAUDE.md"; diff -u "$TEST_DIR/a1" "$P/AGENTS.md")"

# --force refreshes only the block
sed 's/^- Before editing a file.*/- (edited by hand)/' "$P/CLAUDE.md" >"$TEST_DIR/c2"
printf 'Appended after the block by a person.\n' >>"$TEST_DIR/c2"
cp "$TEST_DIR/c2" "$P/CLAUDE.md"
baton_run init
grep -q 'edited by hand' "$P/CLAUDE.md"
ok $? "init without --force keeps an edited block" "$(cat "$P/CLAUDE.md")"
baton_run init --force
ok $RC "init --force exits 0"
{ cat "$TEST_DIR/c1"; printf 'Appended after the block by a person.\n'; } >"$TEST_DIR/want"
same_file "$P/CLAUDE.md" "$TEST_DIR/want" "init --force restores the block and keeps the text after it"

# disable / enable
printf 'Appended after the block by a person.\n' >"$TEST_DIR/tail"
baton_run disable
ok $RC "disable exits 0"
{ cat "$FIX/CLAUDE.md"; cat "$TEST_DIR/tail"; } >"$TEST_DIR/want"
same_file "$P/CLAUDE.md" "$TEST_DIR/want" "disable removes the block from CLAUDE.md and nothing else"
same_file "$P/AGENTS.md" "$FIX/AGENTS.md" "disable leaves AGENTS.md byte-identical to before init (no final newline)"
baton_run disable
ok $RC "a second disable exits 0"
same_file "$P/AGENTS.md" "$FIX/AGENTS.md" "and changes nothing"
baton_run enable
ok $RC "enable exits 0"
same_file "$P/AGENTS.md" "$TEST_DIR/a1" "enable puts the block back"
baton_run enable
same_file "$P/AGENTS.md" "$TEST_DIR/a1" "a second enable changes nothing"
# a block a person edited comes back as it was
sed 's/^- Before editing a file.*/- (our own rule)/' "$TEST_DIR/a1" >"$P/AGENTS.md"
cp "$P/AGENTS.md" "$TEST_DIR/a3"
"$BATON" disable >/dev/null
"$BATON" enable >/dev/null
same_file "$P/AGENTS.md" "$TEST_DIR/a3" "disable then enable restores an edited block as it was"

# a fresh project: init creates the files, disable removes them again
rm -f "$P/CLAUDE.md" "$P/AGENTS.md"
"$BATON" init >/dev/null
test -s "$P/CLAUDE.md" && test -s "$P/AGENTS.md"
ok $? "init creates CLAUDE.md and AGENTS.md when missing" "$(ls -l "$P")"
"$BATON" disable >/dev/null
test ! -e "$P/CLAUDE.md" && test ! -e "$P/AGENTS.md"
ok $? "disable removes files that held only the block" "$(ls -l "$P")"
printf 'x\n<!-- baton:begin -->\nno end\n' >"$P/CLAUDE.md"
baton_run init
is "$RC" 65 "init refuses a begin marker without an end marker"
rm -f "$P/CLAUDE.md" "$P/AGENTS.md"

# a CLAUDE.md that imports AGENTS.md (Claude Code reads both): the block once
printf '@AGENTS.md\n' >"$P/CLAUDE.md"
baton_run init
ok $RC "init with a CLAUDE.md that is only @AGENTS.md exits 0"
is "$(cat "$P/CLAUDE.md")" "@AGENTS.md" "it leaves that CLAUDE.md as it was"
is "$(grep -c '^<!-- baton:begin -->$' "$P/AGENTS.md")" 1 "and writes the block into AGENTS.md once"
like "$OUT" "CLAUDE.md brings in AGENTS.md; they go into AGENTS.md only" "and says why"
# the copy an init before this one wrote goes; a link to AGENTS.md is one file
cp "$P/AGENTS.md" "$TEST_DIR/a4"
{ printf '@AGENTS.md\n\n'; sed -n '/^<!-- baton:begin -->$/,$p' "$P/AGENTS.md"; } >"$P/CLAUDE.md"
"$BATON" init >/dev/null
is "$(cat "$P/CLAUDE.md")" "@AGENTS.md" "init takes a second copy out of a CLAUDE.md that imports AGENTS.md"
rm -f "$P/CLAUDE.md"
ln -s AGENTS.md "$P/CLAUDE.md"
"$BATON" init --force >/dev/null
test -L "$P/CLAUDE.md" && cmp -s "$P/AGENTS.md" "$TEST_DIR/a4"
ok $? "init keeps a CLAUDE.md that links to AGENTS.md a link, and the block once"
rm -f "$P/CLAUDE.md" "$P/AGENTS.md"

# the block does not offer baton call for locks: its session, and the lock, end with it
"$BATON" init >/dev/null
like "$(tr '\n' ' ' <"$P/AGENTS.md")" 'lock taken that way is released as soon as the command returns: run a shell command under a lock with `baton lock NAME -- COMMAND`' \
    "the block says a lock from baton call ends with the command, and what to use instead"
rm -f "$P/CLAUDE.md" "$P/AGENTS.md"

# --- status ---------------------------------------------------------------

cp "$FIX/codex.toml" "$CX"
"$BATON" install >/dev/null
"$BATON" init >/dev/null
start_broker || bail_out "batond did not start"
baton_run status
ok $RC "status exits 0"
like "$OUT" "claude +$P/.mcp.json \\(project\\)" "status shows Claude Code's project entry"
like "$OUT" "codex +$CX" "status shows Codex's config"
like "$OUT" 'instructions in CLAUDE.md, AGENTS.md' "status shows the instructions"
cp "$P/CLAUDE.md" "$TEST_DIR/c5"
printf '@AGENTS.md\n' >"$P/CLAUDE.md"
baton_run status
like "$OUT" '^init +instructions in AGENTS.md \(CLAUDE.md brings in AGENTS.md\)' \
    "status says where the instructions are, and that CLAUDE.md imports AGENTS.md"
cp "$TEST_DIR/c5" "$P/CLAUDE.md"
like "$OUT" '^state +(durability [a-z]+|none \(in memory\))' "status shows the durability"
if "$BATON" help task_create >/dev/null 2>&1 && "$BATON" help agent_list >/dev/null 2>&1; then
	"$BATON" call task_create '{"title":"t","complexity":"simple"}' >/dev/null
	baton_run --agent planner-1 --role planner lock -n x -- "$BATON" status
	like "$OUT" '^tasks +1 todo$' "status shows the project's tasks by status"
	like "$OUT" '^agents +planner-1 \(planner\)$' "status shows the other agents present, with roles"
else
	skip "status shows tasks" "no task operations in this build"
	skip "status shows agents" "no agent operations in this build"
fi
"$BATON" uninstall >/dev/null
baton_run status
like "$OUT" 'claude +not set up' "after uninstall status says Claude Code is not set up"
stop_broker

# --- service ----------------------------------------------------------------

UD=$HOME/.config/systemd/user
baton_run service install
ok $RC "service install exits 0"
grep -qx "ListenStream=$BATON_SOCKET" "$UD/baton.socket"
ok $? "baton.socket listens on the socket path" "$(cat "$UD/baton.socket")"
like "$(grep '^ExecStart=' "$UD/baton.service")" "batond\" -f -S \"$BATON_SOCKET\" -D \"$BATON_STATE_DIR\"" \
    "baton.service runs batond -f on the same socket and state"
like "$OUT" 'systemctl --user enable --now baton.socket' "it prints how to turn it on"
if command -v systemd-analyze >/dev/null 2>&1; then
	v=$(cd "$UD" && systemd-analyze verify --man=no ./baton.socket ./baton.service 2>&1)
	is "$?:$v" "0:" "systemd-analyze verify finds nothing wrong in the units"
else
	skip "systemd-analyze verify" "systemd-analyze is not installed"
fi
cp "$UD/baton.socket" "$TEST_DIR/s1"
baton_run service install
same_file "$UD/baton.socket" "$TEST_DIR/s1" "a second service install changes nothing"
baton_run service uninstall
ok $RC "service uninstall exits 0"
test ! -e "$UD/baton.socket" && test ! -e "$UD/baton.service"
ok $? "service uninstall removes both units" "$(ls -l "$UD")"
printf '[Unit]\n' >"$UD/baton.service"
baton_run service install
is "$RC" 65 "service install will not overwrite a unit baton did not write"
rm -f "$UD/baton.service"

# --- socket activation ------------------------------------------------------

if command -v systemd-socket-activate >/dev/null 2>&1; then
	rm -f "$BATON_SOCKET"
	systemd-socket-activate -l "$BATON_SOCKET" "$BATOND" -f -S "$BATON_SOCKET" \
	    -D "$BATON_STATE_DIR" >"$TEST_DIR/act.log" 2>&1 &
	ACT=$!
	_bg_pids="$_bg_pids $ACT"
	wait_for "test -S '$BATON_SOCKET'" 10
	baton_run --no-autostart status
	ok $RC "a socket-activated batond answers on the socket it was passed"; [ $RC -eq 0 ] ||
	    diag "$ERR $(cat "$TEST_DIR/act.log")"
	BROKER_PID=$(broker_pid)
	is "$BROKER_PID" "$ACT" "it is the process the activator started (LISTEN_PID)"
	"$BATOND" -f -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" 2>"$TEST_DIR/second.err"
	is "$?" 1 "a second batond on that socket refuses (the flock is held)"
	stop_broker
	ok $? "the activated batond stops on SIGTERM"
	test -S "$BATON_SOCKET"
	ok $? "and leaves the socket it did not create in place" "$(ls -l "$SOCK_DIR")"
	baton_run --no-autostart status
	is "$RC" 69 "nothing answers there afterwards"
else
	for t in 1 2 3 4 5 6; do
		skip "socket activation $t" "systemd-socket-activate is not installed"
	done
fi

done_testing
