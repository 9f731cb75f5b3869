#!/bin/sh
# Durability (DESIGN 8): what is acknowledged survives kill -9 of the
# broker; restored session-bound locks wait for their owner in a grace
# period; fences never go backwards; an unusable database stops the
# broker with a clear error instead of starting empty.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR
start_broker --grace 3 || bail_out "batond did not start"

# restart_broker ARGS: kill -9 the broker and start a new one on the same state.
restart_broker() {
	kill -9 "$BROKER_PID"
	wait_for "! kill -0 $BROKER_PID 2>/dev/null" 5
	start_broker "$@"
}

# --- a detached lock and its fence survive kill -9 ---
tok=$("$BATON" acquire --ttl 60 --reason durable keep)
f1=$("$BATON" locks --json keep | json '.locks[0].holders[0].fence')
restart_broker --grace 3 || bail_out "restart failed"
baton_run locks --json keep
is "$(printf '%s' "$OUT" | json '.locks[0].holders[0].agent != null')" true \
    "a detached lock is still held after kill -9 and restart"
baton_run acquire -n --ttl 5 keep
is "$RC" 1 "and nobody else can take it"
baton_run release keep "$tok"
ok "$RC" "its token still releases it after the restart"
f2=$("$BATON" lock -n after -- sh -c 'echo $BATON_FENCE')
cmp_ok "$f2" -gt "$f1" "fences keep increasing across restarts ($f1 -> $f2)"

# --- a clean stop (SIGTERM) is a restart too: it releases nothing ---
tok=$("$BATON" acquire --ttl 60 kept-on-stop)
# a waiter in line must not be granted by the stop
"$BATON" acquire -w 30 --ttl 60 kept-on-stop >"$D/stopwait.out" 2>&1 &
swpid=$!
wait_for '[ "$("$BATON" locks --json kept-on-stop | json ".locks[0].waiters | length")" = 1 ]' 10
stop_broker
wait "$swpid"
is "$?" 69 "the stop ends the waiter's call (unavailable, 69), not with a grant" \
    "$(cat "$D/stopwait.out")"
start_broker --grace 3 || bail_out "restart failed"
baton_run acquire -n --ttl 5 kept-on-stop
is "$RC" 1 "after SIGTERM and a restart the detached lock is still held"
baton_run release kept-on-stop "$tok"
ok "$RC" "and its token releases it"

# --- baton lock keeps its lock across a restart, without interrupting the command ---
rm -f "$D/go"
mkfifo "$D/go"
( "$BATON" lock db -- sh -c "read _ <'$D/go'; echo done" >"$D/lock.out" 2>"$D/lock.err"
  echo $? >"$D/lock.rc" ) &
wait_for '[ "$("$BATON" locks --json db | json ".count")" = 1 ]' 10
restart_broker --grace 5 || bail_out "restart failed"
baton_run lock -n db -- true
is "$RC" 1 "during the grace period a second baton lock -n db exits 1"
wait_for '[ "$("$BATON" locks --json db | json ".locks[0].holders | length")" = 1 ]' 10
echo go >"$D/go"
wait_for '[ -s "$D/lock.rc" ]' 20
is "$(cat "$D/lock.rc")" 0 "the command ran to its end and baton lock exits 0" \
    "$(cat "$D/lock.err")"
is "$(cat "$D/lock.out")" done "the command was not interrupted by the restart"
is "$("$BATON" locks --json db | json '.count')" 0 "its lock is released when it ends"

# --- an unreclaimed session-bound lock is released after the grace period ---
# a wire holder (it never reconnects: its session goes unclaimed); it
# ends when the broker dies.  (It used to hang off `sleep 60`, ended with
# pkill -f "sleep 60", which also killed the holders of any other run of
# this test on the machine.)
hold_start 1 acquire orphan || bail_out "the orphan's holder did not get the lock"
kill -9 "$BROKER_PID"
wait_for "! kill -0 $BROKER_PID 2>/dev/null" 5
hold_stop 1
t0=$(date +%s%N)
start_broker --grace 1 || bail_out "restart failed"
baton_run locks --json orphan
is "$(printf '%s' "$OUT" | json '.count')" 1 "a restored session-bound lock is held in grace"
baton_run acquire -w 5 --ttl 5 orphan
ok "$RC" "it is released once the grace period passes unclaimed"
ms=$((($(date +%s%N) - t0) / 1000000))
cmp_ok "$ms" -ge 900 "not before the grace period ($ms ms)"

# --- a session's row follows its name: a holder that joined under a new
# name after its lock comes back under that name ---
restart_broker --grace 30 || bail_out "restart failed"
mcp_start 1 before-join
mcp_call 1 2 lock_acquire '{"name":"renamed"}'
is "$(mcp_result 1 2 | jq -r .acquired)" true "a baton mcp session takes a lock"
mcp_call 1 3 agent_join '{"name":"after-join","role":"worker"}'
is "$(mcp_result 1 3 | jq -r .agent)" after-join "and joins under another name"
# the broker first: it must not see the session end before it dies
kill -9 "$BROKER_PID"
wait_for "! kill -0 $BROKER_PID 2>/dev/null" 5
kill -9 "$MCP_PID_1"
wait "$MCP_PID_1" 2>/dev/null
start_broker --grace 30 || bail_out "restart failed"
"$BATON" call agent_list '{}' >"$D/agents.json"
is "$(jq -c '[.agents[] | select(.locks == ["renamed"]) | [.agent, .role]]' "$D/agents.json")" \
    '[["after-join","worker"]]' "after kill -9 its restored session holds the lock under its new name" \
    "$(cat "$D/agents.json")"
exec 3>&-

# --- the disk refuses writes: answers wait, status says why, nothing is lost ---
stop_broker
# a file-size limit makes writes fail (EFBIG) as a full disk would
sh -c 'ulimit -S -f 4096 && exec "$BATOND" -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" --grace 3' \
    </dev/null >/dev/null 2>"$TEST_DIR/batond.err" || bail_out "batond did not start"
BROKER_PID=$(broker_pid)
big=$(head -c 45000 /dev/zero | tr '\0' x)
i=0
rc=0
while [ $i -lt 400 ]; do
	timeout 3 "$BATON" note set "full/$i" "$big" >/dev/null 2>&1
	rc=$?
	[ $rc -ne 0 ] && break
	i=$((i + 1))
done
is "$rc" 124 "once the database cannot grow, a write gets no answer (it is not durable)"
st=$(timeout 5 "$BATON" status --json)
like "$(printf '%s' "$st" | json .store_error)" "cannot commit|large|full|disk" \
    "status answers meanwhile, with the store's error" "$st"
like "$(timeout 5 "$BATON" status)" "NOT SAVING" "and baton status says the state is not being saved"
( "$BATON" note set after-full kept >"$D/af.out" 2>&1; echo $? >"$D/af.rc" ) &
prlimit --pid "$BROKER_PID" --fsize=unlimited: # the soft limit, up to the hard one
wait_for '[ -s "$D/af.rc" ]' 10
is "$(cat "$D/af.rc" 2>/dev/null)" 0 "when the disk takes writes again, the waiting write is answered" \
    "$(cat "$D/af.out")"
st=$(timeout 5 "$BATON" status --json)
[ -n "$(printf '%s' "$st" | json '.pid // empty')" ] &&
    [ -z "$(printf '%s' "$st" | json '.store_error // empty')" ]
ok $? "and status no longer reports an error" "$st"
restart_broker --grace 3 || bail_out "restart failed"
is "$("$BATON" note get after-full)" kept "what was answered after the outage survives kill -9"
is "$("$BATON" note get "full/$i" | head -c 5)" xxxxx "so does the write that waited through it"

# --- state files are private ---
is "$(stat -c %a "$BATON_STATE_DIR/state.db")" 600 "state.db is 0600"

# --- a database of a newer schema is refused, not migrated down ---
stop_broker
# user_version: the big-endian integer at offset 60 of the header (the
# stop checkpointed the WAL into the file)
printf '\000\000\000\143' | dd of="$BATON_STATE_DIR/state.db" bs=1 seek=60 conv=notrunc 2>/dev/null
start_broker
is $? 1 "a state.db of schema 99: batond exits 1"
like "$(cat "$D/batond.err")" "schema 99, newer than this batond" "and says it is newer"
printf '\000\000\000\001' | dd of="$BATON_STATE_DIR/state.db" bs=1 seek=60 conv=notrunc 2>/dev/null
start_broker
ok $? "back at schema 1 it starts"
is "$("$BATON" note get after-full)" kept "with its state"

# --- an unusable database stops the broker with a clear error ---
stop_broker
cp "$BATON_STATE_DIR/state.db" "$D/good.db"
rm -f "$BATON_STATE_DIR"/state.db-wal "$BATON_STATE_DIR"/state.db-shm
head -c 100 "$D/good.db" >"$BATON_STATE_DIR/state.db"
start_broker
is $? 1 "a truncated state.db: batond exits 1"
like "$(cat "$D/batond.err")" "state.db.*(not usable|malformed|not a database)" \
    "and says the database is not usable"
like "$(cat "$D/batond.err")" "move the file away" "and how to recover"
rm -f "$BATON_STATE_DIR"/state.db*
# (a state directory batond cannot write: tests/state_guard.sh)
start_broker --durability none
ok $? "--durability none starts without a file"
is "$("$BATON" status --json | json .durability)" none "status reports the durability"
[ ! -e "$BATON_STATE_DIR/state.db" ]
ok $? "and keeps no state.db" "$(ls -l "$BATON_STATE_DIR")"
stop_broker

done_testing
