#!/bin/sh
# A team broker (batond --group NAME, DESIGN 15) with real users and a
# real group that this test makes and removes (root only: useradd,
# groupadd; clients run as the users with setpriv): members are served
# under user/agent names, a non-member is refused before one byte (also
# one whose process still has the group), two users' `baton lock`
# serialize, one user cannot release another's lock nor break it (the
# owner and --admin users can), another member restarts the broker on
# the same state, and every file and directory has the group's modes.

. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip_all "not root: the test makes users and a group (useradd, groupadd)"
for t in useradd groupadd userdel groupdel setpriv getent; do
	command -v "$t" >/dev/null 2>&1 || skip_all "$t is not installed"
done
# the users run the built programs: every directory above them must let them through
for prog in "$BATON" "$BATOND" "$WIRE"; do
	d=$(dirname "$prog")
	while [ "$d" != / ]; do
		[ "$(($(stat -c %a "$d") % 10 & 1))" -eq 1 ] ||
		    skip_all "$d is not searchable by other users, who run $prog"
		d=$(dirname "$d")
	done
done

# LeakSanitizer needs ptrace, which the test's users lack
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
export ASAN_OPTIONS

TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/baton-t.XXXXXX") || bail_out "mktemp failed"
chmod 711 "$TEST_DIR"
G=bt$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
A=${G}a # alice: a member (a supplementary group), who starts the broker
B=${G}b # bob: a member (his primary group)
C=${G}c # carol: not a member
D=${G}d # dave: a member named by --admin
USERS="$A $B $C $D"

# team_cleanup: the broker, the users, the group and their directories.
team_cleanup() {
	[ -n "${BROKER_PID:-}" ] && kill "$BROKER_PID" 2>/dev/null
	for u in $USERS; do
		for p in $(pgrep -u "$u" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	for u in $USERS; do userdel "$u" 2>/dev/null; done
	groupdel "$G" 2>/dev/null
	rm -rf "/tmp/baton-group-$G" "/var/tmp/baton-group-$G" \
	    "/run/baton-group/$G" "/var/lib/baton-group/$G"
	cleanup
}
trap team_cleanup EXIT

getent group "$G" >/dev/null && bail_out "group $G exists already"
groupadd "$G" || bail_out "groupadd $G failed"
GID=$(getent group "$G" | cut -d: -f3)
mkdir "$TEST_DIR/proj" "$TEST_DIR/work"
chgrp "$G" "$TEST_DIR/work"
chmod 2770 "$TEST_DIR/work"
W=$TEST_DIR/work
for u in $USERS; do
	case $u in
	"$A" | "$D") flags="-U -G $G" ;;
	"$B") flags="-N -g $G" ;;
	*) flags="-U" ;;
	esac
	# shellcheck disable=SC2086
	useradd -M $flags -d "$TEST_DIR/home-$u" -s /bin/sh "$u" || bail_out "useradd $u failed"
	mkdir -m 700 "$TEST_DIR/home-$u"
	chown "$u" "$TEST_DIR/home-$u"
done

# as USER CMD...: run CMD as USER with the groups of the group database
# (the test's own environment, its HOME, and one project for everyone).
as() {
	_u=$1
	shift
	setpriv --reuid="$_u" --regid="$(id -g "$_u")" --init-groups \
	    env HOME="$TEST_DIR/home-$_u" USER="$_u" LOGNAME="$_u" \
	    BATON_PROJECT="$TEST_DIR/proj" "$@"
}

# run USER ARGS: baton --group G ARGS as USER; sets OUT, ERR and RC.
run() {
	_u=$1
	shift
	as "$_u" timeout 30 "$BATON" --group "$G" "$@" >"$TEST_DIR/out" 2>"$TEST_DIR/err"
	RC=$?
	OUT=$(cat "$TEST_DIR/out")
	ERR=$(cat "$TEST_DIR/err")
	_saw="last command: baton --group $G $(printf "%.200s" "$*") as $_u exited $RC
stdout: $(head -c 2000 "$TEST_DIR/out")
stderr: $(head -c 2000 "$TEST_DIR/err")"
}

# The well-known paths, as batond and baton choose them.
if [ -d /run/baton-group ] && [ "$(stat -c %u /run/baton-group)" = 0 ] &&
    [ ! -L /run/baton-group ]; then
	RUN_DIR=/run/baton-group/$G
else
	RUN_DIR=/tmp/baton-group-$G
fi
if [ -d /var/lib/baton-group ] && [ "$(stat -c %u /var/lib/baton-group)" = 0 ] &&
    [ ! -L /var/lib/baton-group ]; then
	STATE_DIR=/var/lib/baton-group/$G
else
	STATE_DIR=/var/tmp/baton-group-$G
fi
SOCK=$RUN_DIR/sock

# start USER [ARGS]: batond --group G as USER; sets BROKER_PID.
start() {
	_u=$1
	shift
	as "$_u" timeout 10 "$BATOND" --group "$G" "$@" </dev/null >/dev/null \
	    2>"$TEST_DIR/batond.err"
	_st=$?
	# root is no member: the broker's pid comes from a member's status
	BROKER_PID=$(as "$_u" timeout 10 "$BATON" --group "$G" status --json 2>/dev/null |
	    json .pid)
	return "$_st"
}

# modes: every directory of the socket and the state is 2770, every file
# 0660, all of group G; prints what is not.
modes() {
	find "$RUN_DIR" "$STATE_DIR" -printf '%y %m %g %p\n' | while read -r t m g p; do
		want=660
		[ "$t" = d ] && want=2770
		[ "$m" = "$want" ] && [ "$g" = "$G" ] || echo "$t $m $g $p (want $want $G)"
	done
}

# --- start-up --------------------------------------------------------

as "$C" timeout 10 "$BATOND" --group "$G" </dev/null >/dev/null 2>"$TEST_DIR/batond.err"
is "$?" 64 "batond --group refuses to run for a user outside the group"
like "$(cat "$TEST_DIR/batond.err")" "not a member of group $G" "and says why"
as "$A" timeout 10 "$BATOND" --group "no-such-group-$G" </dev/null >/dev/null \
    2>"$TEST_DIR/batond.err"
is "$?" 64 "batond --group refuses a group the group database lacks"
like "$(cat "$TEST_DIR/batond.err")" "no group 'no-such-group-$G'" "and names it"
as "$A" timeout 10 "$BATOND" --group "$G" --admin "no-such-user-$G" </dev/null >/dev/null \
    2>"$TEST_DIR/batond.err"
is "$?" 64 "batond --admin refuses an unknown user"

start "$A" --admin "$D"
ok $? "a member starts the team broker" "$(cat "$TEST_DIR/batond.err")"
[ -n "$BROKER_PID" ] || bail_out "no team broker to test: $(cat "$TEST_DIR/batond.err")"
test -S "$SOCK"
ok $? "it listens at the group's well-known path $SOCK"
is "$(stat -c '%a %U %G' "$RUN_DIR")" "2770 $A $G" \
    "the socket directory is the starting user's and the group's, mode 2770"
is "$(stat -c '%a %U %G' "$SOCK")" "660 $A $G" "the socket is 0660, the group's"
is "$(stat -c '%a %G' "$STATE_DIR")" "2770 $G" "the state directory is the group's, 2770"

# --- members are served, under user/agent ----------------------------

run "$A" status --json
is "$RC" 0 "a member (supplementary group) is served"
is "$(printf '%s' "$OUT" | json .group)" "$G" "status names the group"
like "$(printf '%s' "$OUT" | json .agent)" "^$A/cli-[0-9]+$" "her session goes by user/agent"
run "$B" --agent claude-3f2a status --json
is "$RC" 0 "a member by his primary group is served"
is "$(printf '%s' "$OUT" | json .agent)" "$B/claude-3f2a" "his agent name is $B/claude-3f2a"
run "$B" --agent "$B/claude-3f2a" status --json
is "$(printf '%s' "$OUT" | json .agent)" "$B/claude-3f2a" "a name with his own user in front keeps it"
run "$B" call agent_join "{\"name\": \"$A/x\"}"
is "$(printf '%s' "$OUT" | json .agent)" "$B/$A/x" "another user's name is no disguise: $B/$A/x"
run "$A" --agent "$(printf '%060d' 0)" status
cmp_ok "$RC" -ne 0 "a name too long with the user in front is refused"
like "$ERR" "at most 64 bytes" "and the bound is said"

# --- a non-member is refused before one byte -------------------------

run "$C" status
is "$RC" 77 "a non-member's baton is refused (exit 77)"
like "$ERR" "only members of group $G" "and told who may"
# carol's process has the group (as after newgrp, or before her removal):
# the socket lets her connect, the group database says no
out=$(setpriv --reuid="$C" --regid="$(id -g "$C")" --groups="$GID" \
    timeout 20 "$WIRE" "$SOCK" hello 2>&1)
is "$?" 4 "a non-member whose process has the group is closed before any frame" "$out"
case $out in *'"t":2'*) fail "she got no welcome" "$out" ;; *) pass "she got no welcome" ;; esac
like "$(cat "$STATE_DIR/batond.log")" "refused a peer: $C \\(uid [0-9]+\\).*not a member of group $G" \
    "the refusal is logged with her user"
out=$(timeout 20 "$WIRE" "$SOCK" hello 2>&1)
is "$?" 4 "root, no member, is refused too (without --allow-root)" "$out"

# --- one user cannot release another's lock ---------------------------

run "$A" --agent claude-3f2a acquire --ttl 300 L
is "$RC" 0 "alice takes a detached lock"
TOKEN=$OUT
run "$B" locks --json
is "$(printf '%s' "$OUT" | json '.locks[] | select(.name == "L") | .holders[0].agent')" \
    "$A/claude-3f2a" "bob sees it held by $A/claude-3f2a"

# --- user/agent wherever names are shown: top, the audit log, agents,
# --- the dashboard ------------------------------------------------------

run "$B" top --once
like "$OUT" "held by $A/claude-3f2a," "baton top shows the holder as $A/claude-3f2a"
like "$OUT" "[0-9] $A/claude-3f2a +lock_acquire +lock L" "and its timeline (the feed) too"
run "$B" log --json
is "$(printf '%s' "$OUT" | json '.entries[] | select(.op == "lock_acquire" and .key == "L") | .agent')" \
    "$A/claude-3f2a" "the audit log names $A/claude-3f2a"
run "$A" call agent_join '{"name": "planner-9", "ttl_seconds": 300}'
is "$RC" 0 "alice's planner joins"
run "$B" agents --json
is "$(printf '%s' "$OUT" | json '.agents[] | select(.joined) | .agent')" "$A/planner-9" \
    "bob's agent list names it $A/planner-9"
# an address without a user is one of the sender's own agents
run "$A" call message_send '{"to": "planner-9", "body": "from alice"}'
is "$(printf '%s' "$OUT" | json .to)" "$A/planner-9" "alice's mail to planner-9 goes to $A/planner-9"
is "$(printf '%s' "$OUT" | json '.recipients | join(" ")')" "$A/planner-9" "and reaches it"
run "$B" call message_send '{"to": "planner-9", "body": "from bob"}'
is "$(printf '%s' "$OUT" | json .to)" "$B/planner-9" "bob's to planner-9 is his own $B/planner-9"
run "$B" call message_send "{\"to\": \"$A/planner-9\", \"body\": \"bob to alice\"}"
is "$(printf '%s' "$OUT" | json '.recipients | join(" ")')" "$A/planner-9" \
    "bob reaches alice's planner by its full name"
run "$A" call message_send "{\"to\": \"$(printf '%060d' 0)\", \"body\": \"x\"}"
like "$ERR" "too long: with the user name in front" "an address too long with the user is refused"
run "$A" call task_create '{"title": "t", "complexity": "simple", "assignee": "planner-9"}'
is "$(printf '%s' "$OUT" | json .assignee)" "$A/planner-9" "alice's task for planner-9 is for $A/planner-9"
if command -v curl >/dev/null 2>&1; then
	as "$B" timeout 60 "$BATON" --group "$G" dashboard >"$TEST_DIR/dash.out" 2>&1 &
	DASH=$!
	_bg_pids="$_bg_pids $DASH"
	wait_for "grep -q 'token=' '$TEST_DIR/dash.out'" 20
	url=$(grep -o 'http://127[.]0[.]0[.]1:[0-9]*/?token=[0-9a-f]*' "$TEST_DIR/dash.out")
	curl -s -m 10 -c "$TEST_DIR/jar" -o /dev/null "$url"
	out=$(curl -s -m 10 -b "$TEST_DIR/jar" "${url%%/\?*}/api/state?project=$TEST_DIR/proj")
	is "$(printf '%s' "$out" | json '.locks[] | select(.name == "L") | .holders[0].agent')" \
	    "$A/claude-3f2a" "bob's dashboard shows the holder as $A/claude-3f2a" "$out"
	is "$(printf '%s' "$out" | json .status.agent)" "$B/operator" \
	    "and goes by $B/operator itself" "$out"
	kill "$DASH"
	wait "$DASH" 2>/dev/null
else
	skip "the dashboard shows the holder" "curl is not installed"
	skip "the dashboard goes by user/operator" "curl is not installed"
fi

run "$B" call lock_release '{"name": "L"}'
cmp_ok "$RC" -ne 0 "bob cannot release alice's lock by its name"
like "$ERR" "$A/claude-3f2a" "the refusal names the holder"
run "$B" lock --break L
is "$RC" 77 "bob cannot break it: not the owner, root or an admin"
like "$ERR" "owner \\($A\\)" "the refusal says whose it is"
run "$B" export -o "$W/bob.json"
is "$RC" 77 "nor export the state"
run "$D" export -o "$W/dave.json"
is "$RC" 0 "dave (--admin) exports the state"
like "$(json '.rows[] | select(.kind == "lock") | .key' <"$W/dave.json" | tr '\n' ' ')" \
    "proj L $" "the export holds alice's lock" "$(head -c 600 "$W/dave.json")"
run "$A" release L "$TOKEN"
is "$RC" 0 "alice releases her lock with its token"

# a lock alice's `baton lock` holds for its command, while bob tries
mkfifo "$W/gate"
chgrp "$G" "$W/gate"
chmod 660 "$W/gate"
as "$A" timeout 60 "$BATON" --group "$G" lock M -- sh -c "echo held >'$W/held'; cat '$W/gate' >/dev/null" \
    >"$TEST_DIR/alock.out" 2>&1 &
ALOCK=$!
_bg_pids="$_bg_pids $ALOCK"
wait_for "[ -s '$W/held' ]" 20
run "$B" call lock_release '{"name": "M"}'
cmp_ok "$RC" -ne 0 "bob cannot release the lock alice's baton lock holds"
run "$B" lock -n M -- true
is "$RC" 1 "bob's baton lock -n finds it held"
run "$D" lock --break M
is "$RC" 0 "dave (--admin) breaks it"
echo go >"$W/gate"
wait "$ALOCK"
run "$B" lock -n M -- true
is "$RC" 0 "then bob's baton lock -n gets it"

# --- two users' baton lock serialize ------------------------------------

cat >"$W/crit.sh" <<'EOF'
# the critical section: a marker only one may make, and its interval
umask 007
set -C
if ! : >"$1/inside" 2>/dev/null; then echo "overlap $2" >>"$1/overlaps"; fi
s=$(date +%s%N)
i=0
while [ $i -lt 300 ]; do i=$((i + 1)); done
e=$(date +%s%N)
rm -f "$1/inside"
echo "$s $e $2" >>"$1/intervals"
EOF
chmod 644 "$W/crit.sh"
N=6
for u in "$A" "$B"; do
	as "$u" sh -c "n=0; while [ \$n -lt $N ]; do n=\$((n + 1));
	    timeout 60 '$BATON' --group '$G' lock -w 50 S -- sh '$W/crit.sh' '$W' '$u' || echo fail; done" \
	    >"$TEST_DIR/ser-$u.out" 2>&1 &
	eval "SER_$u=\$!"
done
eval "wait \$SER_$A"
eval "wait \$SER_$B"
is "$(cat "$TEST_DIR/ser-$A.out" "$TEST_DIR/ser-$B.out")" "" "every baton lock of both users ran"
is "$(wc -l <"$W/intervals" | tr -d ' ')" $((2 * N)) "both users' commands ran ($((2 * N)))"
is "$(cut -d' ' -f3 "$W/intervals" | sort -u | tr '\n' ' ')" "$A $B " "under both users"
over=$(sort -n "$W/intervals" | awk 'NR > 1 && $1 < end { print "overlap: " prev " / " $0 } { end = $2; prev = $0 }')
is "$over$(cat "$W/overlaps" 2>/dev/null)" "" "their critical sections never overlap"

# --- the hooks act as a session of their own user only ------------------

mkfifo "$TEST_DIR/mcp.in"
as "$A" env CLAUDE_CODE_SESSION_ID="sess-$G" BATON_GROUP="$G" timeout 60 "$BATON" mcp \
    <"$TEST_DIR/mcp.in" >"$TEST_DIR/mcp.out" 2>"$TEST_DIR/mcp.err" &
_bg_pids="$_bg_pids $!"
exec 3>"$TEST_DIR/mcp.in"
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude-code","version":"0"}}}' \
    '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
    '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"status","arguments":{}}}' >&3
wait_for "grep -q '\"id\":2,' '$TEST_DIR/mcp.out'" 20
MCP_AGENT=$(grep '"id":2,' "$TEST_DIR/mcp.out" | jq -r .result.structuredContent.agent 2>/dev/null)
like "$MCP_AGENT" "^$A/claude-code-" "baton mcp with BATON_GROUP is alice's session on the team broker"
CLAUDE_CODE_SESSION_ID=sess-$G run "$B" call hook_news '{"prime": true}'
OUT_B=$OUT
CLAUDE_CODE_SESSION_ID=sess-$G run "$A" call hook_news '{"prime": true}'
is "$(printf '%s' "$OUT" | json .agent)" "$MCP_AGENT" "alice's hook acts as her baton mcp"
is "$(printf '%s' "$OUT_B" | json .matched)" false "bob's hook with her agent's session id acts as nobody"
exec 3>&-

# --- Lockstep's lock_list {owner} finds the caller's own agent ------------

mkfifo "$TEST_DIR/ls.in"
as "$A" env BATON_GROUP="$G" timeout 60 "$BATON" mcp --compat lockstep \
    <"$TEST_DIR/ls.in" >"$TEST_DIR/ls.out" 2>"$TEST_DIR/ls.err" &
_bg_pids="$_bg_pids $!"
exec 3>"$TEST_DIR/ls.in"
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}' \
    '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
    '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"lock_acquire","arguments":{"path":"src/ls.c","owner":"impl-1"}}}' >&3
wait_for "grep -q '\"id\":2,' '$TEST_DIR/ls.out'" 20
printf '%s\n' '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"lock_list","arguments":{"owner":"impl-1"}}}' >&3
wait_for "grep -q '\"id\":3,' '$TEST_DIR/ls.out'" 20
LS=$(grep '"id":3,' "$TEST_DIR/ls.out" | jq -c '.result.content[0].text | fromjson | map(.owner)' 2>&1)
is "$LS" "[\"$A/impl-1\"]" "compat lockstep: lock_list {owner} without a user finds alice's own impl-1" \
    "$(cat "$TEST_DIR/ls.out" "$TEST_DIR/ls.err")"
exec 3>&-

# --- install --group: the agents' entry and hooks name the group ----------

as "$A" timeout 30 "$BATON" install --codex --hooks --group "$G" >"$TEST_DIR/out" 2>&1
is "$?" 0 "install --codex --hooks --group" "$(cat "$TEST_DIR/out")"
like "$(cat "$TEST_DIR/home-$A/.codex/config.toml" 2>&1)" "BATON_GROUP = \"$G\"" \
    "codex's baton entry gets BATON_GROUP"
like "$(cat "$TEST_DIR/home-$A/.codex/hooks.json" 2>&1)" "baton' --group '$G' hook" \
    "its hooks run baton --group $G hook"
as "$A" env BATON_GROUP="$G" timeout 30 "$BATON" install --claude --scope user \
    >"$TEST_DIR/out" 2>&1
is "$?" 0 "install --claude --scope user with BATON_GROUP" "$(cat "$TEST_DIR/out")"
is "$(jq -r '.mcpServers.baton.env.BATON_GROUP' "$TEST_DIR/home-$A/.claude.json" 2>&1)" "$G" \
    "claude's baton entry gets BATON_GROUP" "$(cat "$TEST_DIR/home-$A/.claude.json" 2>&1)"
as "$A" timeout 30 "$BATON" install --codex --group "no-such-group-$G" >"$TEST_DIR/out" 2>&1
is "$?" 64 "install --group refuses a group the group database lacks" "$(cat "$TEST_DIR/out")"

# --- another member restarts it on the same state ------------------------

run "$A" --agent keeper acquire --ttl 300 K
is "$RC" 0 "alice takes a lock before the restart"
kill "$BROKER_PID"
wait_for "! kill -0 $BROKER_PID 2>/dev/null" 10
start "$B"
ok $? "bob starts the broker again on the same state" "$(cat "$TEST_DIR/batond.err")"
run "$B" locks --json
is "$(printf '%s' "$OUT" | json '.locks[] | select(.name == "K") | .holders[0].agent')" \
    "$A/keeper" "alice's lock came back, still hers"
run "$A" lock --break K
is "$RC" 77 "alice is not this broker's owner: bob is"

# --- modes of every file and directory -----------------------------------

is "$(modes)" "" "every directory is 2770 and every file 0660, of group $G" \
    "$(find "$RUN_DIR" "$STATE_DIR" -printf '%y %m %u %g %p\n')"
test -f "$STATE_DIR/state.db" && test -f "$STATE_DIR/batond.log"
ok $? "state.db and batond.log are among them"

# --- the directories are checked -----------------------------------------

chmod 2777 "$RUN_DIR"
run "$A" status
is "$RC" 77 "a client refuses a socket directory others may write"
like "$ERR" "mode 2777.*2770" "and says the mode it must have"
chmod 2770 "$RUN_DIR"
run "$A" status
is "$RC" 0 "with 2770 it is served again"

done_testing
