#!/bin/sh
# One project per repository (DESIGN 2; issue 12, item 14), with real
# git: every worktree of a repository, and every directory in them, is
# the project of the main worktree's top level; a bare repository's
# worktrees share the bare directory; a submodule is its own project;
# --project and BATON_PROJECT still win; set-up files stay in the
# checkout they are run in.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
command -v git >/dev/null 2>&1 || bail_out "git is not installed: run ./bootstrap"
broker_dir
start_broker || bail_out "batond did not start"
unset BATON_PROJECT
D=$(cd "$TEST_DIR" && pwd -P)
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org \
    GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
G() { git -c init.defaultBranch=main -c protocol.file.allow=always "$@" >/dev/null 2>&1; }

# project_in DIR [ENV...]: the project `baton status` reports, run in DIR.
project_in() {
	(cd "$1" && shift && env "$@" "$BATON" status --json) | json .project
}

G init "$D/repo" && mkdir -p "$D/repo/src/deep" && echo x >"$D/repo/src/a.c" &&
    G -C "$D/repo" add . && G -C "$D/repo" commit -m one &&
    G -C "$D/repo" worktree add "$D/wt" -b wt &&
    G -C "$D/repo" worktree add "$D/nested/wt2" -b wt2 ||
    bail_out "cannot set up the git repository"
mkdir -p "$D/wt/src/deep"

is "$(project_in "$D/repo")" "$D/repo" "the main worktree is its own project"
is "$(project_in "$D/repo/src/deep")" "$D/repo" "so is any directory in it"
is "$(project_in "$D/wt")" "$D/repo" "a linked worktree is the repository's project"
is "$(project_in "$D/wt/src/deep")" "$D/repo" "so is a directory deep in it"
is "$(project_in "$D/nested/wt2")" "$D/repo" "and another worktree elsewhere"

# agents in two worktrees meet: a lock taken in one is held in the other
tok=$(cd "$D/wt" && "$BATON" acquire --ttl 60 file:src/a.c)
(cd "$D/nested/wt2" && "$BATON" acquire -n file:src/a.c) >/dev/null 2>&1
is $? 1 "a reservation made in one worktree holds in another"
(cd "$D/repo" && "$BATON" release file:src/a.c "$tok") >/dev/null 2>&1
ok $? "and is released from the main worktree"

# explicit settings win; CLAUDE_PROJECT_DIR (set by the agent) is taken to its repository
is "$(project_in "$D/wt" BATON_PROJECT="$D/wt")" "$D/wt" "BATON_PROJECT wins"
is "$(cd "$D/wt" && "$BATON" --project "$D/wt" status --json | json .project)" "$D/wt" \
    "--project wins"
is "$(project_in /tmp CLAUDE_PROJECT_DIR="$D/wt")" "$D/repo" \
    "CLAUDE_PROJECT_DIR of a worktree: the repository"

# not a checkout: the directory itself
mkdir -p "$D/plain/sub"
is "$(project_in "$D/plain/sub")" "$D/plain/sub" "outside any checkout: the cwd"

# a bare repository's worktrees share the bare directory
G clone --bare "$D/repo" "$D/bare.git" && G -C "$D/bare.git" worktree add "$D/b1" -b b1 &&
    G -C "$D/bare.git" worktree add "$D/b2" -b b2 || bail_out "cannot set up the bare repository"
is "$(project_in "$D/b1")" "$D/bare.git" "a bare repository's worktree: the bare directory"
is "$(project_in "$D/b2/src")" "$D/bare.git" "and its other worktree too"

# a submodule is a repository of its own
G init "$D/lib" && echo y >"$D/lib/l.c" && G -C "$D/lib" add . && G -C "$D/lib" commit -m l &&
    G -C "$D/repo" submodule add "$D/lib" vendor/lib || bail_out "cannot add the submodule"
is "$(project_in "$D/repo/vendor/lib")" "$D/repo/vendor/lib" "a submodule is its own project"

# a .git file that leads nowhere: the checkout's own top
mkdir -p "$D/broken/x" && echo "gitdir: $D/nowhere" >"$D/broken/.git"
is "$(project_in "$D/broken/x")" "$D/broken" "a .git file that leads nowhere: its directory"

# the MCP client's first root, a worktree, is taken to its repository too
rm -f "$TEST_DIR/mcp1.in"
mkfifo "$TEST_DIR/mcp1.in"
(cd /tmp && BATON_AGENT=roots-agent "$BATON" mcp <"$TEST_DIR/mcp1.in" >"$TEST_DIR/mcp1.out" \
    2>"$TEST_DIR/mcp1.err") &
MCP_PID_1=$!
_bg_pids="$_bg_pids $!"
exec 3>"$TEST_DIR/mcp1.in"
mcp_send 1 '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"r","version":"0"}}}'
mcp_send 1 '{"jsonrpc":"2.0","method":"notifications/initialized"}'
wait_for "grep -q baton-roots '$TEST_DIR/mcp1.out'" 10
mcp_send 1 "{\"jsonrpc\":\"2.0\",\"id\":\"baton-roots\",\"result\":{\"roots\":[{\"uri\":\"file://$D/wt\"}]}}"
mcp_call 1 3 status '{}'
is "$(mcp_result 1 3 | json .project)" "$D/repo" "an MCP root in a worktree: the repository"
exec 3>&-
wait "$MCP_PID_1"

# set-up files belong to the checkout they are run in, not the main worktree
(cd "$D/wt" && "$BATON" install --claude --scope project) >"$TEST_DIR/install.out" 2>&1
[ -f "$D/wt/.mcp.json" ] && [ ! -f "$D/repo/.mcp.json" ]
ok $? "baton install in a worktree writes that worktree's .mcp.json"
[ -f "$D/wt/.mcp.json" ] || diag "$(cat "$TEST_DIR/install.out")"

broker_alive
ok $? "the broker is still up"
stop_broker
done_testing
