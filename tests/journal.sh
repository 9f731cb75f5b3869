#!/bin/sh
# The journal (DESIGN 8, issue 15): a strict commit is one write() to
# STATE/state.journal, folded into state.db by a thread of the broker.
# The broker is killed with SIGKILL where the journal and the database
# disagree: before a fold (the changes only in the journal), in the
# middle of a fold's transaction, and after a fold's COMMIT before the
# journal is emptied (BATOND_TEST_JOURNAL_PAUSE stops the folder there
# and says so).  After a restart nothing acknowledged is lost, every
# audit log entry is there once, the journal is empty, and a group
# folded before is not folded again.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR
N=20

# changes PAUSE: N acknowledged counter increments, a note, a detached
# lock, against a foreground broker whose folder stops at PAUSE
changes() {
	BATOND_TEST_JOURNAL_PAUSE=$1 "$BATOND" -f -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" \
	    </dev/null >/dev/null 2>"$D/err.$1" &
	BROKER_PID=$!
	_bg_pids="$_bg_pids $BROKER_PID"
	wait_for '[ -n "$(broker_pid)" ]' 10 || bail_out "batond did not start: $(cat "$D/err.$1")"
	i=1
	while [ $i -le $N ]; do
		v=$("$BATON" counter incr c) || bail_out "counter incr failed"
		i=$((i + 1))
	done
	is "$v" "$N" "$1: $N increments acknowledged"
	"$BATON" note set k "value of $1" >/dev/null || bail_out "note set failed"
	tok=$("$BATON" acquire --ttl 600 "held-$1") || bail_out "acquire failed"
}

for p in before middle after; do
	BATON_STATE_DIR=$D/state.$p
	mkdir -m 700 "$BATON_STATE_DIR"
	changes "$p"
	wait_for 'grep -q "journal: paused" "$D/err.$p"' 10
	ok $? "$p: the folder stopped where it was told: $(grep journal: "$D/err.$p")"
	size=$(wc -c <"$BATON_STATE_DIR/state.journal")
	cmp_ok "$size" -gt 0 "$p: the journal holds what was acknowledged ($size bytes)"
	kill -9 "$BROKER_PID"
	wait "$BROKER_PID" 2>/dev/null
	"$BATOND" -f -v -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" </dev/null >/dev/null \
	    2>"$D/err2.$p" &
	BROKER_PID=$!
	_bg_pids="$_bg_pids $BROKER_PID"
	wait_for '[ -n "$(broker_pid)" ]' 10 || bail_out "restart failed: $(cat "$D/err2.$p")"
	is "$("$BATON" counter incr c --by 0)" "$N" "$p: after kill -9 the counter is at $N"
	is "$("$BATON" note get k)" "value of $p" "$p: the note is back"
	baton_run acquire -n --ttl 5 "held-$p"
	is "$RC" 1 "$p: the lock is still held"
	baton_run release "held-$p" "$tok"
	ok "$RC" "$p: its token releases it"
	log=$("$BATON" call log_list '{"kinds":["counter"],"limit":1000}')
	is "$(printf '%s' "$log" | jq '.entries | length')" "$N" \
	    "$p: the audit log has each increment once"
	log=$("$BATON" call log_list '{"limit":1000}')
	is "$(printf '%s' "$log" | jq '[.entries[].rev] | length - (unique | length)')" 0 \
	    "$p: no revision in the audit log twice"
	# how many groups the restart folded, and skipped as folded before
	# (the folder may have taken them all in its one fold: it gathers)
	case $p in
	after)
		want='folded [0-9]* groups left by the last run, skipped [1-9][0-9]* folded before'
		what="the groups folded before the kill are not folded again"
		;;
	*)
		want='folded [1-9][0-9]* groups left by the last run, skipped 0 folded before'
		what="the restart folds what only the journal held, nothing twice"
		;;
	esac
	grep -q "journal: $want" "$D/err2.$p"
	ok $? "$p: $what: $(grep journal: "$D/err2.$p")"
	kill "$BROKER_PID"
	wait "$BROKER_PID" 2>/dev/null
	is "$(wc -c <"$BATON_STATE_DIR/state.journal")" 0 \
	    "$p: after a clean stop everything is folded and the journal is empty"
done

# a torn group at the end (a kill inside write()) was never acknowledged:
# the start folds what is whole before it and goes on
BATON_STATE_DIR=$D/state.torn
mkdir -m 700 "$BATON_STATE_DIR"
changes before
wait_for 'grep -q "journal: paused" "$D/err.before"' 10
kill -9 "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null
# an offline export meanwhile would miss what only the journal holds: it says so
baton_run export -o "$D/offline.json"
is "$RC" 65 "an offline export with changes only in the journal exits 65"
like "$ERR" "state.journal holds .* start batond once" "and says to start batond once"
printf 'BTJ1 a torn group, cut off by a kill' >>"$BATON_STATE_DIR/state.journal"
"$BATOND" -f -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" </dev/null >/dev/null 2>"$D/err.torn" &
BROKER_PID=$!
_bg_pids="$_bg_pids $BROKER_PID"
wait_for '[ -n "$(broker_pid)" ]' 10
ok $? "a torn group at the journal's end does not stop the start: $(cat "$D/err.torn")"
is "$("$BATON" counter incr c --by 0)" "$N" "what was whole before it is back"
kill "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null

# the journal is private
is "$(stat -c %a "$BATON_STATE_DIR/state.journal")" 600 "state.journal is 0600"

# folds that fail (a database that takes no write): changes are still
# acknowledged from the journal and status says why; past the backlog's
# bound answers to changes wait, and once a fold goes through they come,
# and survive a kill -9
BATON_STATE_DIR=$D/state.fail
mkdir -m 700 "$BATON_STATE_DIR"
: >"$D/failing"
BATOND_TEST_JOURNAL_FAIL=$D/failing BATOND_TEST_JOURNAL_BACKLOG=40000 \
    "$BATOND" -f -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" </dev/null >/dev/null 2>"$D/err.fail" &
BROKER_PID=$!
_bg_pids="$_bg_pids $BROKER_PID"
wait_for '[ -n "$(broker_pid)" ]' 10 || bail_out "batond did not start: $(cat "$D/err.fail")"
is "$("$BATON" counter incr f)" 1 "with folds failing a change is still acknowledged"
wait_for '"$BATON" status --json | jq -e .fold_error >/dev/null' 10
ok $? "status says why the journal does not fold"
baton_run status
like "$OUT" "NOT FOLDED: BATOND_TEST_JOURNAL_FAIL" "baton status: NOT FOLDED, and why"
baton_run top --once
like "$OUT" "saving +NOT FOLDED: BATOND_TEST_JOURNAL_FAIL" "baton top's health: NOT FOLDED, and why"
big=$(head -c 9000 /dev/zero | tr '\0' x)
i=0
while [ $i -lt 8 ] && ! "$BATON" status --json | jq -e .store_error >/dev/null; do
	timeout 5 "$BATON" note set "big$i" "$big" >/dev/null 2>&1
	i=$((i + 1))
done
"$BATON" status --json >"$D/status.fail"
like "$(jq -r .store_error "$D/status.fail")" "the database takes none of the journal's folds" \
    "past the backlog's bound commits stop: status says so" "$(cat "$D/status.fail")"
rev0=$("$BATON" status --json | jq .revision)
timeout 30 "$BATON" counter incr f >"$D/held.out" 2>&1 &
held=$!
# the broker has made the change (its revision moved) and holds the answer
wait_for '[ "$("$BATON" status --json | jq .revision)" -gt "$rev0" ]' 10
kill -0 "$held" 2>/dev/null
ok $? "a change past the bound is made but not answered while folds fail" "$(cat "$D/held.out")"
rm -f "$D/failing"
wait "$held"
is "$?:$(cat "$D/held.out")" "0:2" "once a fold goes through it is answered"
wait_for '! "$BATON" status --json | jq -e ".fold_error // .store_error" >/dev/null' 10
ok $? "and status no longer warns"
kill -9 "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null
"$BATOND" -f -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" </dev/null >/dev/null 2>"$D/err.fail2" &
BROKER_PID=$!
_bg_pids="$_bg_pids $BROKER_PID"
wait_for '[ -n "$(broker_pid)" ]' 10 || bail_out "restart failed: $(cat "$D/err.fail2")"
is "$("$BATON" counter incr f --by 0)" 2 "after kill -9 both increments are there"
is "$("$BATON" note get big0 | wc -c)" 9001 "and the notes written while folds failed"
kill "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null

# one fold of many groups: their audit log rows go into the database
# FOLD_LOG_ROWS (32) to an INSERT, and the rest one by one; after a
# kill -9 the restart skips them as folded before and every entry is there
# once, in order
BATON_STATE_DIR=$D/state.many
mkdir -m 700 "$BATON_STATE_DIR"
: >"$D/failing"
BATOND_TEST_JOURNAL_FAIL=$D/failing \
    "$BATOND" -f -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" </dev/null >/dev/null 2>"$D/err.many" &
BROKER_PID=$!
_bg_pids="$_bg_pids $BROKER_PID"
wait_for '[ -n "$(broker_pid)" ]' 10 || bail_out "batond did not start: $(cat "$D/err.many")"
M=70
i=1
while [ $i -le $M ]; do
	"$BATON" counter incr m >/dev/null || bail_out "counter incr failed"
	i=$((i + 1))
done
rm -f "$D/failing"
wait_for '! "$BATON" status --json | jq -e ".fold_error // .store_error" >/dev/null' 10
ok $? "$M changes folded in one go once folds work"
kill -9 "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null
"$BATOND" -f -v -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" </dev/null >/dev/null \
    2>"$D/err.many2" &
BROKER_PID=$!
_bg_pids="$_bg_pids $BROKER_PID"
wait_for '[ -n "$(broker_pid)" ]' 10 || bail_out "restart failed: $(cat "$D/err.many2")"
skipped=$(sed -n 's/.*journal: folded .*, skipped \([0-9]*\) folded before.*/\1/p' "$D/err.many2")
cmp_ok "${skipped:-0}" -ge $M "the restart folds none of them again: $(grep 'journal: folded' "$D/err.many2")"
log=$("$BATON" call log_list '{"kinds":["counter"],"limit":1000}')
is "$(printf '%s' "$log" | jq -c '[.entries[].summary | capture("(?<n>[0-9]+)$").n]')" \
    "$(seq -s, $M | sed 's/.*/["&"]/; s/,/","/g')" \
    "the audit log has each of the $M increments once, in order" "$log"
kill "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null

done_testing
