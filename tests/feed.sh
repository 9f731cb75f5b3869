#!/bin/sh
# The audit log and its subscribers (DESIGN 11) on a real broker: retention
# by count and age, what survives kill -9 and resumes after it, baton log
# and log -f, and a subscriber that stops reading: cut to a resync while
# the broker's memory stays flat.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR
FEEDC=$TOP_BUILDDIR/tests/feed_client

# restart_broker ARGS: kill -9 the broker and start a new one on the same state.
restart_broker() {
	kill -9 "$BROKER_PID"
	wait_for "! kill -0 $BROKER_PID 2>/dev/null" 5
	start_broker "$@"
}

# changes N KEY: N note_set calls in one pipelined write, all answered.
changes() {
	WIRE_TIMEOUT=60000 wire_run pipeline "$1" note_set "key=$2" value=v
	[ "$WIRE_RC" = 0 ] || diag "$_saw"
}

# log_json ARGS: baton call log_list with the JSON arguments; sets OUT.
log_json() {
	baton_run call log_list "$1"
}

# rss: the broker's resident memory, kB.
rss() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$BROKER_PID/status"
}

# --- retention by count, across a kill -9 ---
start_broker --log-max 100 || bail_out "batond did not start"
changes 150 count
log_json '{"all_projects":true,"limit":1000}'
is "$(printf '%s' "$OUT" | json '.count')" 100 "--log-max 100 keeps the newest 100 entries"
first=$(printf '%s' "$OUT" | json '.entries[0].rev')
last=$(printf '%s' "$OUT" | json '.entries[-1].rev')
log_json '{"after":0}'
is "$(printf '%s' "$OUT" | json '.missed')" true \
    "a cursor older than retention is told it missed entries"
restart_broker --log-max 100 || bail_out "restart failed"
log_json '{"all_projects":true,"limit":1000}'
is "$(printf '%s' "$OUT" | json '[.count, .entries[0].rev, .entries[-1].rev] | @csv')" \
    "100,$first,$last" "the same 100 entries come back after kill -9"
restart_broker --log-max 40 || bail_out "restart failed"
log_json '{"all_projects":true,"limit":1000}'
is "$(printf '%s' "$OUT" | json '[.count, .entries[-1].rev] | @csv')" "40,$last" \
    "a smaller --log-max at restart keeps the newest within it"

# --- resume after a restart: nothing retained is lost, revisions go on ---
"$BATON" note set before-restart 1 >/dev/null
cursor=$("$BATON" call log_list '{"limit":1}' | json '.cursor')
restart_broker --log-max 40 || bail_out "restart failed"
"$BATON" note set after-restart 1 >/dev/null
log_json "{\"after\":$((cursor - 1))}"
is "$(printf '%s' "$OUT" | json '[.entries[].key] | join(",")')" \
    "before-restart,after-restart" \
    "log_list after a cursor from before kill -9 returns the change before it and the one after"
cmp_ok "$(printf '%s' "$OUT" | json '.entries[1].rev')" -gt "$cursor" \
    "entries after the restart have larger revisions"

# --- baton log and log -f ---
baton_run log -n 2
like "$OUT" "note_set +note before-restart: written" "baton log prints a line per entry"
"$BATON" log -f -n 1 >"$D/follow.out" 2>&1 &
fpid=$!
_bg_pids="$_bg_pids $fpid"
wait_for '[ "$("$BATON" status --json | json .blocked)" = 1 ]' 10
"$BATON" call log_append '{"event":"deployed to staging"}' >/dev/null
wait_for 'grep -q "deployed to staging" "$D/follow.out"' 10
ok $? "baton log -f prints a new entry as it is made"
kill "$fpid"

# --- retention by age ---
stop_broker
start_broker --log-age 1 || bail_out "batond did not start"
"$BATON" note set young 1 >/dev/null
log_json '{"object":"young"}'
is "$(printf '%s' "$OUT" | json '.count')" 1 "a new entry is there"
wait_for '[ "$("$BATON" call log_list "{\"all_projects\":true}" | json .count)" = 0 ]' 10
ok $? "--log-age 1 drops entries older than a second"
restart_broker --log-age 1 || bail_out "restart failed"
log_json '{"all_projects":true}'
is "$(printf '%s' "$OUT" | json '.count')" 0 "and they do not come back at a restart"

# --- a subscriber that stops reading: cut to a resync, memory flat ---
stop_broker
# (under the sanitizers, freed memory is kept in quarantine: RSS would grow
# with the churn of any run, not with what the broker holds)
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0" start_broker --log-max 1000 ||
	bail_out "batond did not start"
changes 2000 warm
mkfifo "$D/stall.in"
"$FEEDC" "$BATON_SOCKET" stall all <"$D/stall.in" >"$D/stall.out" 2>&1 &
spid=$!
_bg_pids="$_bg_pids $spid"
exec 7>"$D/stall.in"
wait_for 'grep -q subscribed "$D/stall.out"' 10
rss0=$(rss)
changes 6000 flood
rss1=$(rss)
changes 6000 flood
rss2=$(rss)
cmp_ok "$((rss2 - rss1))" -lt 2048 \
    "a subscriber that reads nothing: 6 000 more changes grow the broker by under 2 MB ($rss0 -> $rss1 -> $rss2 kB)"
exec 7>&-
wait_for 'grep -q "^resync" "$D/stall.out"' 20
ok $? "once it reads again it is told to resync"
pushes=$(grep -c '^log' "$D/stall.out")
cmp_ok "$pushes" -lt 12000 "it got only what fitted its connection before ($pushes pushes)"
awk '/^log/ { if (prev && $2 <= prev) bad = 1; prev = $2 } END { exit bad }' "$D/stall.out"
ok $? "the pushes it got came in order"
"$BATON" note set after-resync 1 >/dev/null
rev=$("$BATON" call log_list '{"limit":1}' | json '.cursor')
wait_for 'grep -q "^log $rev\$" "$D/stall.out"' 10
ok $? "after the resync it gets the next change pushed"
kill "$spid" 2>/dev/null
stop_broker

# --- bad input ---
start_broker || bail_out "batond did not start"
baton_run call log_append '{"event":""}'
is "$RC" 65 "log_append without an event is refused (65)"
like "$ERR" "event" "naming the field"
baton_run call log_list '{"kinds":"lock"}'
is "$RC" 65 "kinds must be a list"
"$BATOND" --log-max x -f 2>"$D/opt.err"
is "$?" 64 "batond --log-max takes a number"
like "$(cat "$D/opt.err")" "log-max" "and says so"
ok "$(broker_alive; echo $?)" "the broker is still serving"

done_testing
