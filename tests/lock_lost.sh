#!/bin/sh
# baton lock ... -- COMMAND that loses its lock while COMMAND runs (the
# broker restarted and the grace period passed before baton could
# reclaim): COMMAND is stopped (SIGTERM, then SIGKILL after --kill-after)
# and baton exits 75; --keep-going lets it run on and says so.
#
# To lose the lock for certain, baton lock is stopped (SIGSTOP) while the
# broker is killed and restarted with a short grace, and continued once
# the new broker has released the lock.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR
start_broker || bail_out "batond did not start"

# run_locked NAME ARGS...: `baton ARGS` in the background; its exit status
# goes to $D/NAME.rc, its stderr to $D/NAME.err.  The command must write
# its parent's pid (baton's) to $D/NAME.started.
run_locked() {
	_n=$1
	shift
	rm -f "$D/$_n.rc" "$D/$_n.err" "$D/$_n.started"
	( "$BATON" "$@" 2>"$D/$_n.err"; echo $? >"$D/$_n.rc" ) &
	wait_for "[ -s '$D/$_n.started' ]" 10 || diag "$_n: the command did not start"
	LOCKER=$(cat "$D/$_n.started" 2>/dev/null)
}

# lose_lock: with baton lock ($LOCKER) stopped, kill -9 the broker, start
# one with a short grace, wait until it has released db, continue baton.
lose_lock() {
	[ -n "$LOCKER" ] || return 1
	kill -STOP "$LOCKER"
	kill -9 "$BROKER_PID"
	wait_for "! kill -0 $BROKER_PID 2>/dev/null" 5
	start_broker --grace 0.2 || bail_out "restart failed"
	wait_for '[ "$("$BATON" locks --json db | json .count)" = 0 ]' 10 ||
	    diag "the restarted broker still holds db"
	kill -CONT "$LOCKER"
}

# --- by default the command is stopped with SIGTERM; exit 75 ---
run_locked term lock db -- sh -c "trap 'echo TERM >\"$D/term.sig\"; exit 0' TERM
	echo \$PPID >\"$D/term.started\"
	while :; do sleep 0.1; done"
is "$("$BATON" locks --json db | json '.locks[0].holders | length')" 1 "baton lock holds db"
lose_lock
wait_for "[ -s '$D/term.rc' ]" 20
is "$(cat "$D/term.rc" 2>/dev/null)" 75 "a command whose lock was lost: baton lock exits 75"
is "$(cat "$D/term.sig" 2>/dev/null)" TERM "the command got SIGTERM"
err=$(cat "$D/term.err")
is "$(lines "$err")" 1 "one line on stderr"
like "$err" '^baton: lost the lock on db \(the broker restarted and its grace period had passed\); stopping sh' \
    "it says which lock was lost, why, and that the command is stopped"

# --- a command that ignores SIGTERM is killed after --kill-after ---
run_locked kill lock --kill-after 0.5 db -- sh -c "trap '' TERM
	echo \$\$ >\"$D/kill.child\"
	echo \$PPID >\"$D/kill.started\"
	while :; do sleep 0.1; done"
child=$(cat "$D/kill.child")
lose_lock
wait_for "[ -s '$D/kill.rc' ]" 20
is "$(cat "$D/kill.rc" 2>/dev/null)" 75 "a command that ignores SIGTERM: exit 75 too"
! kill -0 "$child" 2>/dev/null
ok $? "the command was killed (SIGKILL after --kill-after)"
like "$(cat "$D/kill.err")" 'SIGKILL after 0.5 s' "the message gives the delay"

# --- --keep-going: the command runs on without the lock, with its own status ---
run_locked keep lock --keep-going db -- sh -c "echo \$PPID >\"$D/keep.started\"
	while [ ! -e \"$D/keep.finish\" ]; do sleep 0.1; done
	exit 7"
lose_lock
wait_for "grep -q 'lost the lock' '$D/keep.err'" 20
like "$(cat "$D/keep.err")" '^baton: warning: lost the lock on db .*--keep-going: sh runs on without it' \
    "--keep-going: baton warns that the command runs on unprotected"
[ ! -s "$D/keep.rc" ]
ok $? "and the command is still running"
: >"$D/keep.finish"
wait_for "[ -s '$D/keep.rc' ]" 20
is "$(cat "$D/keep.rc" 2>/dev/null)" 7 "then baton lock exits with the command's status"

# --- a restart within the grace period loses nothing: the command is not touched ---
run_locked kept lock db -- sh -c "echo \$PPID >\"$D/kept.started\"
	while [ ! -e \"$D/kept.finish\" ]; do sleep 0.1; done"
kill -9 "$BROKER_PID"
wait_for "! kill -0 $BROKER_PID 2>/dev/null" 5
start_broker --grace 10 -v || bail_out "restart failed"
wait_for "grep -q '(cli-$LOCKER): reclaimed' '$BATON_STATE_DIR/batond.log'" 20
ok $? "baton lock reclaims its session from the restarted broker"
: >"$D/kept.finish"
wait_for "[ -s '$D/kept.rc' ]" 20
is "$(cat "$D/kept.rc" 2>/dev/null)" 0 "a lock reclaimed within the grace period: exit 0"
is "$(cat "$D/kept.err")" "" "and nothing on stderr"

# --- the options ---
baton_run lock --kill-after soon db -- true
is "$RC" 64 "--kill-after takes seconds (64)"
baton_run lock --keep-going --kill-after 1 db -- true
is "$RC" 64 "--keep-going and --kill-after do not go together (64)"

stop_broker
done_testing
