#!/bin/sh
# baton launch (DESIGN 13, issue 17) with real tmux and stand-in agents
# (tests/mcp/standin.mjs, acting through baton mcp with the SDK client):
# the tmux server is baton's own and the project's; each window runs the
# right command in the right directory (tmux list-panes -F) with the right
# BATON_AGENT and BATON_ROLE, and the agents join under those names and
# roles; --worktrees starts implementers in their worktrees; the planner's
# launch_implementer adds a window, implementer_list shows them; --stop
# ends them cleanly.  And: the command lines built for claude and codex
# use only options the installed CLIs (tests/agents) document.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
command -v tmux >/dev/null 2>&1 || bail_out "tmux is not installed: run ./bootstrap (or apt-get install tmux)"
command -v git >/dev/null 2>&1 || bail_out "git is not installed: run ./bootstrap (or apt-get install git)"
command -v node >/dev/null 2>&1 || bail_out "node is not installed: run ./bootstrap"
broker_dir
start_broker || bail_out "batond did not start"
# tmux's sockets in the private directory: nothing here meets the user's tmux
TMUX_TMPDIR=$TEST_DIR
export TMUX_TMPDIR
unset TMUX

R=$BATON_PROJECT
export GIT_AUTHOR_NAME=tester GIT_AUTHOR_EMAIL=t@example.org
export GIT_COMMITTER_NAME=tester GIT_COMMITTER_EMAIL=t@example.org GIT_CONFIG_NOSYSTEM=1
git -C "$R" init -q -b main && git -C "$R" commit -q --allow-empty -m init || bail_out "git init failed"
cd "$R" || bail_out "no project"
SEEN=$TEST_DIR/seen
mkdir "$SEEN"
STANDIN=$TOP_SRCDIR/tests/mcp/standin.mjs

# --- the command lines for claude and codex, against the real CLIs ---
AGENTS_BIN=$TOP_SRCDIR/tests/agents/node_modules/.bin
[ -x "$AGENTS_BIN/claude" ] || AGENTS_BIN=$TOP_BUILDDIR/tests/agents/node_modules/.bin
baton_run launch --dry-run --planner claude --implementers codex:1,claude:1 --reviewer codex
is "$RC" 0 "launch --dry-run prints the plan"
PLAN=$TEST_DIR/plan.json
printf '%s' "$OUT" >"$PLAN"
is "$(json '[.agents[] | .name + ":" + .role + ":" + .argv[0]] | join(" ")' <"$PLAN")" \
    "planner:planner:claude codex-1:implementer:codex claude-1:implementer:claude reviewer:reviewer:codex" \
    "a planner, implementers named TYPE-N, a reviewer, each with its agent's command"
like "$(json '.agents[1].argv[-1]' <"$PLAN")" "You are codex-1, the implementer" \
    "the last word is the first prompt, saying who the agent is"
for cli in claude codex; do
	if [ ! -x "$AGENTS_BIN/$cli" ]; then
		fail "$cli is installed in tests/agents (make check installs it)"
		continue
	fi
	help=$(timeout 60 "$AGENTS_BIN/$cli" --help 2>&1)
	opts=$(json '[.agents[] | select(.argv[0] == "'$cli'") | .argv[1:-1][] | select(startswith("-"))] | unique | join(" ")' <"$PLAN")
	bad=
	for o in $opts; do
		printf '%s\n' "$help" | grep -Eq -- "(^|[ ,])$o([ ,=<]|\$)" || bad="$bad $o"
	done
	is "$bad" "" "the $cli command line ($opts) uses only options $cli --help documents"
	printf '%s\n' "$help" | grep -Eq -- '\[prompt\]|\[PROMPT\]'
	ok $? "and $cli --help takes the prompt as its argument"
done

# --- a team of stand-ins ---
baton_run launch --planner stub --implementers stub:2 --reviewer stub --worktrees \
    -- stub=node "$STANDIN" "$BATON" "$SEEN" '{prompt}'
is "$RC" 0 "baton launch starts a team of stand-ins"
like "$ERR" "tmux -L baton-proj-" "saying how to attach, on baton's own tmux server"
SERVER=$(printf '%s' "$ERR" | sed -n 's/.*tmux -L \([^ ]*\) attach.*/\1/p')
[ -S "$TMUX_TMPDIR/tmux-$(id -u)/$SERVER" ]
ok $? "the server is baton's own (tmux -L), not the user's default server"

wait_for '[ -e "$SEEN/planner.json" ] && [ -e "$SEEN/stub-1.json" ] && [ -e "$SEEN/stub-2.json" ] && [ -e "$SEEN/reviewer.json" ]' 60
ok $? "every stand-in came up and joined"
PANES=$(tmux -L "$SERVER" list-panes -s -t proj -F '#{window_name}|#{pane_current_path}|#{pane_start_command}')
is "$(printf '%s\n' "$PANES" | cut -d'|' -f1 | sort | tr '\n' ' ')" "extra planner reviewer stub-1 stub-2 top " \
    "one window per agent and one for baton top (extra: launched by the planner)"
like "$(printf '%s\n' "$PANES" | grep '^top|')" "top|$R|.*baton top" "the top window runs baton top"
for a in planner reviewer; do
	like "$(printf '%s\n' "$PANES" | grep "^$a|")" "^$a|$R|node $STANDIN $BATON $SEEN " \
	    "$a's window runs its command in the project"
done
for a in stub-1 stub-2; do
	like "$(printf '%s\n' "$PANES" | grep "^$a|")" "^$a|$R/.baton/worktrees/$a|node " \
	    "$a's window runs in its worktree (--worktrees)"
	is "$(git -C "$R/.baton/worktrees/$a" symbolic-ref --short HEAD)" "baton/$a" "on branch baton/$a"
done
for a in planner:planner stub-1:implementer stub-2:implementer reviewer:reviewer; do
	n=${a%%:*} role=${a#*:}
	is "$(json '[.name, .role, .joined_as, .joined_role] | join(" ")' <"$SEEN/$n.json")" "$n $role $n $role" \
	    "$n got BATON_AGENT=$n, BATON_ROLE=$role and joined so"
	like "$(json .prompt <"$SEEN/$n.json")" "You are $n, the $role" "and a first prompt telling it so"
done
is "$(json .cwd <"$SEEN/stub-1.json")" "$R/.baton/worktrees/stub-1" "an implementer's cwd is its worktree"

# --- the planner's launch_implementer ---
is "$(json '.launched | [.name, .type, (.window | test(":[0-9]+$") | tostring)] | join(" ")' <"$SEEN/planner.json")" \
    "extra stub true" "launch_implementer (the planner, through baton mcp) started extra in a new window"
like "$(json .bad_type.error <"$SEEN/planner.json")" "type nosuch is no agent command baton knows: give one of" \
    "launch_implementer refuses a command the user did not configure, naming those it knows"
wait_for '[ -e "$SEEN/extra.json" ]' 60
ok $? "extra came up"
is "$(json '[.joined_as, .joined_role, .cwd] | join(" ")' <"$SEEN/extra.json")" "extra implementer $R" \
    "and joined as an implementer, in the project (isolation shared)"
baton_run agents --json
is "$(printf '%s' "$OUT" | json '[.agents[] | select(.joined) | .agent + ":" + .role] | sort | join(" ")')" \
    "extra:implementer planner:planner reviewer:reviewer stub-1:implementer stub-2:implementer" \
    "the broker has them all under their names and roles"
baton_run call implementer_list
is "$(printf '%s' "$OUT" | json '[.agents[] | .name + ":" + .state] | sort | join(" ")')" \
    "extra:joined planner:joined reviewer:joined stub-1:joined stub-2:joined" \
    "implementer_list: every launched agent and its state"
baton_run status
like "$OUT" "^launched  extra \\(implementer, stub, joined\\), planner \\(planner, stub, joined\\), reviewer \\(reviewer, stub, joined\\), stub-1 \\(implementer, stub, joined\\), stub-2 \\(implementer, stub, joined\\)\$" \
    "baton status lists the launched agents: role, type, joined"
like "$OUT" "^worktrees stub-1 \\(baton/stub-1, active, owner here\\), stub-2 \\(baton/stub-2, active, owner here\\)\$" \
    "and their worktrees, owners here"

# --- launching again is refused while the team runs ---
baton_run launch --planner stub -- stub=node "$STANDIN" "$BATON" "$SEEN" '{prompt}'
cmp_ok "$RC" -ne 0 "a second baton launch while the session runs is refused"
like "$ERR" "runs already" "saying so"

# --- stop ---
baton_run launch --stop
is "$RC" 0 "baton launch --stop"
for n in planner stub-1 stub-2 reviewer extra; do
	[ -e "$SEEN/$n.exit" ]
	ok $? "$n ended on SIGTERM, cleanly"
done
tmux -L "$SERVER" has-session 2>/dev/null
cmp_ok $? -ne 0 "the tmux server is gone"
baton_run call implementer_list
is "$(printf '%s' "$OUT" | json '[.agents[] | .state] | unique | join(",")')" "exited" "implementer_list says exited"
baton_run status
like "$OUT" "^launched  extra \\(implementer, stub, exited\\), planner \\(planner, stub, exited\\)," "so does baton status"
wait_for '! "$BATON" agents --json | jq -e "[.agents[] | select(.joined)] | length > 0" >/dev/null' 10
ok $? "and the agents left the broker"
baton_run launch --stop
is "$RC" 0 "--stop with nothing running is fine"
is "$OUT" "no agent of the project runs" "and says so"

# --- panes: one window of agents ---
baton_run launch --planner nap --implementers nap:2 --layout panes -- nap=sleep 600
is "$RC" 0 "--layout panes"
PANES=$(tmux -L "$SERVER" list-panes -s -t proj -F '#{window_name}')
is "$(printf '%s\n' "$PANES" | sort | uniq -c | awk '{ print $2 ":" $1 }' | tr '\n' ' ')" "agents:3 top:1 " \
    "puts the three agents in panes of one window, baton top in its own"
baton_run launch --stop
is "$RC" 0 "--stop ends them"
is "$(printf '%s\n' "$OUT" | sort | tr '\n' ' ')" "stopped nap-1 stopped nap-2 stopped planner " \
    "naming each agent it stopped, and only those (the first team's records are not this server's panes)"
tmux -L "$SERVER" has-session 2>/dev/null
cmp_ok $? -ne 0 "and the server"

# --- two launch_implementer at once, no session yet: both get a window ---
baton_run launch --stop
mkdir "$TEST_DIR/bin"
printf '#!/bin/sh\nexec sleep 600\n' >"$TEST_DIR/bin/codex" # a stand-in codex: no model here
chmod +x "$TEST_DIR/bin/codex"
pids=
for n in one two three; do
	PATH=$TEST_DIR/bin:$PATH "$BATON" call launch_implementer "{\"type\":\"codex\",\"name\":\"c-$n\"}" \
	    >"$TEST_DIR/li-$n" 2>&1 &
	pids="$pids $!"
done
bad=0
for p in $pids; do
	wait "$p" || bad=$((bad + 1))
done
is "$bad" 0 "three launch_implementer at once with no session: each starts its agent" \
    "$(cat "$TEST_DIR"/li-*)"
is "$(tmux -L "$SERVER" list-windows -t proj -F '#{window_name}' | sort | tr '\n' ' ')" "c-one c-three c-two " \
    "in one session, a window each"
baton_run launch --stop

# --- bad input ---
baton_run launch --implementers nosuch:1
is "$RC" 64 "an unknown agent type is a usage error"
like "$ERR" "nosuch" "naming it"
baton_run launch --layout sideways
is "$RC" 64 "a bad --layout is a usage error"
baton_run launch --implementers codex:99
is "$RC" 64 "more implementers than the limit is a usage error"
baton_run launch -- 'x;y=/bin/true'
is "$RC" 64 "a NAME=COMMAND whose name is no word is a usage error"
baton_run launch --planner many -- many=/bin/echo $(seq 1 30)
is "$RC" 64 "a command of more than 24 words is a usage error"
like "$ERR" "at most 24 words" "saying the limit"

# --- the records' bounds (baton(1) LAUNCH) ---
baton_run call launch_set '{"name":"rel","cwd":"relative"}'
is "$RC" 65 "a launched agent's cwd must be absolute"
i=$("$BATON" call launch_get | json .count)
while [ "$i" -lt 64 ]; do
	"$BATON" call launch_set "{\"name\":\"l$i\",\"type\":\"stub\",\"cwd\":\"/nowhere\"}" >/dev/null 2>&1 || break
	i=$((i + 1))
done
is "$i" 64 "a project holds 64 launched-agent records"
baton_run call launch_set '{"name":"one-more","type":"stub"}'
is "$RC" 65 "the 65th is refused"
like "$ERR" "at most 64 agents per project" "naming the limit"

done_testing
