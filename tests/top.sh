#!/bin/sh
# baton top (DESIGN 11) under a real tmux: send-keys and capture-pane show
# a lock appear and disappear as another client takes and releases it,
# a key approves a task in review, another breaks a lock; worktrees and
# the agents baton launch started (their records) show, key 8 and the
# Agents view; --once prints every view without a terminal.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
command -v tmux >/dev/null 2>&1 || bail_out "tmux is not installed: run ./bootstrap (or apt-get install tmux)"
broker_dir
D=$TEST_DIR
start_broker || bail_out "batond did not start"
TMUX_SOCK=$D/tmux.sock
unset TMUX

# tm ARGS: tmux on the test's own server.
tm() {
	tmux -S "$TMUX_SOCK" "$@"
}
# screen: what the pane shows now.
screen() {
	tm capture-pane -p -t top 2>/dev/null
}
# shows TEXT: the pane shows TEXT (a fixed string).
shows() {
	screen | grep -qF -- "$1"
}

# --- without a terminal ---
"$BATON" acquire --ttl 60 --reason before-top early >/dev/null
baton_run top --once
is "$RC" 0 "top --once runs without a terminal"
like "$OUT" "== Locks ==" "and prints every view"
like "$OUT" "early .*1 held" "with the lock held now"
baton_run top </dev/null
is "$RC" 64 "top without a terminal and without --once is a usage error"
like "$ERR" "--once" "that names --once"

# --- in tmux ---
tm -f /dev/null new-session -d -s top -x 150 -y 40 \
    "env TERM=screen BATON_SOCKET='$BATON_SOCKET' BATON_PROJECT='$BATON_PROJECT' BATON_NO_AUTOSTART=1 '$BATON' top; sleep 30" ||
	bail_out "tmux did not start"
wait_for 'shows "Needs you"' 10
ok $? "baton top starts in tmux on the Needs you view"
tm send-keys -t top 3
wait_for 'shows "HOLDERS / QUEUE"' 5
ok $? "key 3 shows the locks"
tok=$("$BATON" acquire --ttl 60 --reason migrating db-migrate)
wait_for 'shows "db-migrate"' 5
ok $? "a lock taken by another client appears" "$(screen)"
like "$(screen)" "migrating" "with its holder's reason"
"$BATON" release db-migrate "$tok" >/dev/null
wait_for '! shows "db-migrate"' 5
ok $? "and disappears when released" "$(screen)"

# a key approves the task in review
id=$("$BATON" --agent planner task create --json "Add the login endpoint" | json .id)
ctok=$("$BATON" --agent impl task claim --json "$id" | json .token)
"$BATON" --agent impl task submit --token "$ctok" "$id" "done, tests pass" >/dev/null 2>&1
tm send-keys -t top 4
# (it may show in progress first: wait for it under "review")
wait_for 'screen | grep -A1 "^review" | grep -qF "$id"' 10
ok $? "key 4 shows the task in review" "$(screen)"
tm send-keys -t top a
wait_for 'shows "approve $id"' 5
ok $? "key a asks for feedback" "$(screen)"
tm send-keys -t top "fine work" Enter
wait_for '[ "$("$BATON" task get --json "$id" | json .status)" = done ]' 5
ok $? "and approves it" "$(screen)"
e=$("$BATON" call log_list "{\"object\":\"$id\",\"limit\":1}" | json '.entries[0] | .agent + " " + .op')
is "$e" "operator task_approve" "as the operator, in the audit log"

# a key breaks the selected lock
tm send-keys -t top 3
wait_for 'shows "early"' 5
tm send-keys -t top b
wait_for 'shows "break early"' 5
ok $? "key b on a lock asks for a reason" "$(screen)"
tm send-keys -t top "stuck" Enter
wait_for '[ "$("$BATON" locks --json early | json ".locks | length")" = 0 ]' 5
ok $? "and breaks it" "$(screen)"

# worktrees: key 8, live (a record, as baton worktree create writes it)
tm send-keys -t top 8
wait_for 'shows "WORKTREE"' 5
ok $? "key 8 shows the worktrees" "$(screen)"
"$BATON" call worktree_set "{\"name\":\"wt1\",\"agent\":\"gone-owner\",\"task\":\"T9\",\"branch\":\"baton/wt1\",\"path\":\"$D/wt1\",\"base\":\"main\",\"state\":\"active\"}" >/dev/null
wait_for 'screen | grep -q "^wt1 .*gone-owner .*T9 .*baton/wt1 .*active .*gone"' 5
ok $? "a worktree recorded by another client appears: owner, task, branch, state, owner gone" "$(screen)"

tm send-keys -t top q
wait_for '[ "$(tm list-panes -t top -F "#{pane_current_command}")" = sleep ]' 5
ok $? "q quits" "$(tm list-panes -t top -F "#{pane_current_command}")"
tm kill-server 2>/dev/null

# --- worktrees and launched agents, --once ---
"$BATON" call launch_set "{\"name\":\"codex-1\",\"type\":\"codex\",\"role\":\"implementer\",\"window\":\"proj:2\",\"cwd\":\"$D/wt1\",\"state\":\"running\"}" >/dev/null
baton_run top --once
like "$OUT" "== Worktrees ==" "--once prints the Worktrees view"
like "$OUT" "wt1 +gone-owner +T9 +baton/wt1 +active +gone" "with the recorded worktree"
like "$OUT" "warn +worktree wt1 \\(branch baton/wt1\\) is not merged and its owner gone-owner is gone" \
    "Needs you: a worktree whose owner is gone, not merged"
like "$OUT" "codex-1 +implementer +started +codex +proj:2" \
    "the Agents view lists the launched agent: role, started (not joined), type, window"
"$BATON" call worktree_set "{\"name\":\"wt2\",\"branch\":\"baton/wt2\",\"path\":\"$D/wt2\"}" >/dev/null
baton_run top --once
like "$OUT" "wt2 +baton/wt2 +active +gone" "a record without owner or state: active, nobody here"
like "$OUT" "warn +worktree wt2 \\(branch baton/wt2\\) is not merged and has no owner:" "and it needs you, saying so"
"$BATON" call worktree_set '{"name":"wt2","remove":true}' >/dev/null
"$BATON" --agent gone-owner call agent_join '{"ttl_seconds":60}' >/dev/null
"$BATON" --agent codex-1 call agent_join '{"role":"implementer","ttl_seconds":60}' >/dev/null
baton_run top --once
like "$OUT" "wt1 +gone-owner +T9 +baton/wt1 +active +here" "the owner joined: here"
! printf '%s\n' "$OUT" | grep -q "is not merged"
ok $? "and the worktree no longer needs you" "$OUT"
like "$OUT" "codex-1 +implementer +joined" "the launched agent joined: joined"
"$BATON" call worktree_set '{"name":"wt1","state":"merged"}' >/dev/null
"$BATON" call launch_set '{"name":"codex-1","state":"exited"}' >/dev/null
baton_run top --once
like "$OUT" "wt1 +gone-owner +T9 +baton/wt1 +merged" "merged, once its record says so"
like "$OUT" "codex-1 +implementer +exited" "exited, once its record says so"
done_testing
