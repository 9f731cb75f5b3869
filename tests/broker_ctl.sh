#!/bin/sh
# baton stop and baton restart (issue 12, item 15): a clean stop that
# releases nothing (locks and claims come back in the grace period, as
# after a crash), a restart that runs the batond next to baton with the
# stopped broker's options; and baton status warning when the broker's
# program was deleted or replaced since it started, or is another version.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR

# exited PID: the process has ended (gone, or a zombie its parent has not
# reaped yet)
exited() {
	[ ! -e "/proc/$1/stat" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c 1)" = Z ]
}

# a broker run from a copy of batond, as an installed one that make
# install will replace
mkdir "$D/bin"
cp "$BATOND" "$D/bin/batond"
"$D/bin/batond" -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" --grace 5 </dev/null >/dev/null \
    2>"$D/batond.err" || bail_out "batond did not start: $(cat "$D/batond.err")"
BROKER_PID=$(broker_pid)
old=$BROKER_PID

# --- status: the broker's program ---
baton_run status
is "$RC:$(printf '%s\n' "$OUT" | grep -c '^warning')" "0:0" "status: no warning for a broker as it started"
cp "$BATOND" "$D/bin/batond.new"
mv -f "$D/bin/batond.new" "$D/bin/batond"
baton_run status
like "$OUT" "^warning   the broker runs $D/bin/batond, replaced since it started \(baton restart\)" \
    "status warns when the broker's program was replaced"
rm -f "$D/bin/batond"
baton_run status
like "$OUT" "^warning   the broker runs $D/bin/batond, deleted since it started \(baton restart\)" \
    "status warns when the broker's program was deleted"

# --- restart: locks held across it, the same options, the new program ---
tok=$("$BATON" acquire --ttl 120 kept)
rm -f "$D/lock.rc" "$D/lock.started" "$D/lock.finish"
( "$BATON" lock db -- sh -c "echo \$PPID >'$D/lock.started'
	while [ ! -e '$D/lock.finish' ]; do sleep 0.1; done" 2>"$D/lock.err"
  echo $? >"$D/lock.rc" ) &
wait_for "[ -s '$D/lock.started' ]" 10
locker=cli-$(cat "$D/lock.started")

baton_run restart
ok $RC "baton restart exits 0"
BROKER_PID=$(broker_pid)
is "$OUT" "restarted: batond $("$BATON" --version | cut -d ' ' -f 2) (pid $BROKER_PID) replaces batond $("$BATON" --version | cut -d ' ' -f 2) (pid $old)" \
    "it says which broker replaced which"
exited "$old"
ok $? "the old broker has exited"
is "$(readlink "/proc/$BROKER_PID/exe")" "$(readlink -f "$BATOND")" "the new one runs the batond next to baton"
like "$(tr '\0' ' ' <"/proc/$BROKER_PID/cmdline")" "^batond -S $BATON_SOCKET -D $BATON_STATE_DIR --grace 5 \$" \
    "with the options of the old one"
baton_run status
is "$(printf '%s\n' "$OUT" | grep -c '^warning')" 0 "and status has nothing to warn about"
"$BATON" acquire -n --ttl 5 kept >/dev/null 2>&1
is $? 1 "a detached lock is still held after the restart"
wait_for "[ \"\$(\"\$BATON\" agents --json | jq -r '.agents[] | select(.agent == \"$locker\") | .state + \" \" + (.locks | join(\",\"))')\" = 'connected db' ]" 15
ok $? "baton lock reconnected and holds db again"
: >"$D/lock.finish"
wait_for "[ -s '$D/lock.rc' ]" 15
is "$(cat "$D/lock.rc")" 0 "its command ran to its end: baton lock exits 0"
is "$(cat "$D/lock.err")" "" "with nothing on stderr"

# --- stop: nothing released ---
pid=$BROKER_PID
baton_run stop
is "$RC:$OUT" "0:stopped batond (pid $pid) on $BATON_SOCKET" "baton stop says which broker it stopped"
exited "$pid"
ok $? "the broker has exited when baton stop returns"
[ ! -e "$BATON_SOCKET" ]
ok $? "and its socket is gone"
baton_run stop
is "$RC:$OUT" "0:no broker running on $BATON_SOCKET" "baton stop without a broker: exit 0, says so"
baton_run restart
like "$RC:$OUT" "^0:started: batond .* \(pid [0-9]+\)$" "baton restart without a broker starts one"
BROKER_PID=$(broker_pid)
"$BATON" acquire -n --ttl 5 kept >/dev/null 2>&1
is $? 1 "the detached lock survived the stop"
"$BATON" release kept "$tok"
ok $? "and its token releases it"

baton_run stop extra
is "$RC" 64 "baton stop takes no arguments (64)"

# --- status: another version ---
if command -v node >/dev/null 2>&1; then
	fake=$SOCK_DIR/fake
	node "$TOP_SRCDIR/tests/fake_broker.mjs" "$fake" 9.9.9 >"$D/fake.out" 2>&1 &
	_bg_pids="$_bg_pids $!"
	wait_for "grep -q listening '$D/fake.out'" 10
	BATON_SOCKET=$fake baton_run status
	like "$OUT" "^warning   the broker is version 9\.9\.9, this baton $("$BATON" --version | cut -d ' ' -f 2) \(baton restart\)" \
	    "status warns when the broker is another version"
else
	skip "status warns when the broker is another version" "no node"
fi

stop_broker
done_testing
