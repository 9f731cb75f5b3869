#!/bin/sh
# The multi-host backend (batond --backend etcd, DESIGN 15): a 3-member
# etcd cluster on loopback (Debian's etcd-server) and two batond
# processes on it as two "hosts", A and B, each serving the shared
# project under a path of its own (--share PATH=team), driven by many
# real baton processes:
#   - a lock contended from both sides: FIFO (fences increase in the
#     order of grants), no two holders at once (checked intervals);
#   - notes: compare-and-set from both sides, one winner per version;
#     counters collision-free; note_wait and event_wait across hosts;
#   - tasks are served (tests/etcd_tasks.sh: claims raced, one winner);
#   - kill -9 of the etcd leader during a lock and counter workload:
#     nothing acknowledged is lost, no lock is granted twice, service
#     resumes;
#   - kill -9 of a batond: its locks go after its lease TTL;
#   - a lock waiter whose watch resumes after etcd compacted its
#     history reads the line again and is granted in order;
#   - etcd frozen (a partition): a holder's lease expires and its client
#     is told; a session that held nothing keeps its connection and gets
#     a new lease at its next lock; calls fail with a clear error within
#     --etcd-timeout and nothing is granted locally; etcd gone: the same.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
. "${TOP_SRCDIR:-..}/tests/etcd-lib.sh"
etcd_need
broker_dir
D=$TEST_DIR
TTL=3
TIMEOUT=5
trap 'etcd_cluster_stop; cleanup' EXIT

# Bad options: one line on stderr, exit 64, before anything starts.
bad_opts() {
	out=$("$BATOND" -f -S "$D/bad/sock" -D "$D/bad" "$@" 2>&1 </dev/null)
	echo "$?:$out"
}
like "$(bad_opts --backend etcd --share p)" "^64:batond: --backend etcd needs --etcd" \
    "--backend etcd without --etcd is refused"
like "$(bad_opts --share p)" "^64:batond: --share and --etcd need --backend etcd" \
    "--share without --backend etcd is refused"
like "$(bad_opts --backend zk)" "^64:batond: --backend takes local or etcd" \
    "an unknown backend is refused"
like "$(bad_opts --backend etcd --etcd http://h:1 --share p --etcd-cacert /dev/null)" \
    "^64:batond: --etcd-cacert, --etcd-cert and --etcd-key are for https:// endpoints" \
    "TLS options without an https:// endpoint are refused (tests/etcd_tls.sh tests TLS)"
like "$(bad_opts --backend etcd --etcd http://h:0 --share p)" "^64:batond: --etcd takes" \
    "a bad endpoint is refused"
like "$(bad_opts --backend etcd --etcd http://h:1 --share p --etcd-ttl 0.5)" \
    "^64:batond: --etcd-ttl takes 1 to 3600 whole seconds" "a bad --etcd-ttl is refused"

etcd_cluster_start "$D/etcd" || bail_out "etcd did not start: $(tail -5 "$D/etcd/m1.log")"

export BATOND_TEST_ETCD_LOSE="$D/lose" # a txn's answer dropped while it exists
etcd_host_start "$D" A --etcd-ttl $TTL --etcd-timeout $TIMEOUT
etcd_host_start "$D" B --etcd-ttl $TTL --etcd-timeout $TIMEOUT

# --- locks: FIFO, increasing fences, no overlap ------------------------

etcd_section_script "$D/section.sh"

etcd_lock_workload 8 4 shared-db
is "$(wc -l <"$D/shared-db.sections" | tr -d ' ')" 32 "32 critical sections from 8 workers on two hosts"
is "$(check_intervals "$D/shared-db.sections")" "" \
    "no two holders at once; fences increase in grant order (FIFO)"
is "$(cat "$D/shared-db.errors")" "" "every lock was granted"

# A waiter on A is granted the moment B's holder releases, one wake.
on B lock shared-x -- sleep 1 &
wait_for '[ "$(on A locks --json shared-x | json ".locks[0].holders | length")" = 1 ]' 10
out=$(on A call lock_acquire '{"name":"shared-x"}')
is "$(echo "$out" | json .acquired)/$(echo "$out" | json '.holders[0].host')" \
    "false/$(hostname)" "a lock held on B is refused on A, naming its holder"
t0=$(now_ms)
out=$(on A call lock_acquire '{"name":"shared-x","wait_seconds":20}')
t1=$(now_ms)
wait
is "$(echo "$out" | json .acquired)" true "A's waiter gets the lock B released"
ok $([ $((t1 - t0)) -lt 5000 ] && echo 0 || echo 1) "within the holder's second ($((t1 - t0)) ms)"

# A wait that times out names the lock and its holder, as locally.
mkfifo "$D/named.fifo"
(on B lock named-x -- sh -c 'read x <"$1"' sh "$D/named.fifo") &
nh=$!
wait_for '[ "$(on A locks --json named-x | json ".locks[0].holders | length")" = 1 ]' 20
on A lock -w 1 named-x -- true 2>"$D/named.err"
is "$?" 1 "baton lock -w 1 on A times out on B's lock (exit 1)"
like "$(cat "$D/named.err")" "timed out after 1 s: named-x is held by" \
    "and its message names the lock: $(cat "$D/named.err")"
echo >"$D/named.fifo"
wait $nh

# lock_break from the other host: B's holder loses the lock, A gets it.
mkfifo "$D/brk.fifo"
(on B lock brk -- sh -c 'read x <"$1"' sh "$D/brk.fifo") &
bh=$!
wait_for '[ "$(on A locks --json brk | json ".locks[0].holders | length")" = 1 ]' 20
out=$(on A call lock_break '{"name":"brk","reason":"test"}')
is "$(echo "$out" | json .broken)/$(echo "$out" | json '.holders[0].host')" "true/$(hostname)" \
    "lock_break on A takes B's lock, naming its holder"
is "$(on A call lock_acquire '{"name":"brk"}' | json .acquired)" true \
    "the broken lock is free for A"
echo >"$D/brk.fifo"
wait $bh

# Each host's audit log records its own changes to the shared project.
out=$(on A log --json --object shared-db)
like "$out" '"op":"lock_acquire".*granted exclusive, fence [0-9]+ \(in etcd\)' \
    "A's audit log has its grants of the shared lock"
like "$out" '"op":"session_end".*"summary":"released: [^"]* session ended \(in etcd\)"' \
    "and its releases (baton lock's session ends)"

# --- notes, counters, events ----------------------------------------

on A call note_set '{"key":"cfg","value":{"n":0}}' >/dev/null
v=$(on B call note_get '{"key":"cfg"}' | json .version)
: >"$D/cas"
i=0
while [ $i -lt 10 ]; do
	h=$(host_of $i)
	on $h call note_set "{\"key\":\"cfg\",\"value\":{\"n\":$i},\"if_version\":$v}" |
	    json .written >>"$D/cas" &
	i=$((i + 1))
done
wait
is "$(grep -c true "$D/cas")/$(grep -c false "$D/cas")" 1/9 \
    "ten compare-and-sets of one version from two hosts: one written"

# A read-modify-write loop on both hosts loses no update.
cat >"$D/incr.sh" <<'EOF'
n=0
while [ $n -lt 5 ]; do
	r=$(on $1 call note_get '{"key":"sum"}')
	v=$(echo "$r" | jq -r .version)
	x=$(echo "$r" | jq -r '.value // 0')
	w=$(on $1 call note_set "{\"key\":\"sum\",\"value\":$((x + 1)),\"if_version\":$v}" |
	    jq -r .written)
	[ "$w" = true ] && n=$((n + 1))
done
EOF
i=0
while [ $i -lt 6 ]; do
	h=$(host_of $i)
	(. "$D/incr.sh" $h) &
	i=$((i + 1))
done
wait
is "$(on A call note_get '{"key":"sum"}' | json .value)" 30 \
    "30 compare-and-set increments from 6 writers on two hosts, none lost"

: >"$D/counts"
i=0
while [ $i -lt 8 ]; do
	h=$(host_of $i)
	(
		n=0
		while [ $n -lt 10 ]; do
			on $h call counter_incr '{"name":"mig"}' | json .value >>"$D/counts"
			n=$((n + 1))
		done
	) &
	i=$((i + 1))
done
wait
is "$(sort -n "$D/counts" | uniq | wc -l | tr -d ' ')/$(sort -n "$D/counts" | tail -1)" 80/80 \
    "80 counter increments from two hosts: 80 distinct values, 1 to 80"

# An increment etcd applied whose answer was lost (BATOND_TEST_ETCD_LOSE),
# with two increments from B before A tries again: A's retry finds its
# own write among the counter's recent ones and adds nothing.
touch "$D/lose"
(on A call counter_incr '{"name":"lost"}' >"$D/lost.out" 2>&1) &
lost=$!
wait_for '[ -e "$D/lose.held" ]' 10
ok $? "A's increment was applied and its answer dropped"
on B call counter_incr '{"name":"lost"}' >/dev/null
on B call counter_incr '{"name":"lost"}' >/dev/null
touch "$D/lose.go"
wait $lost
is "$(json .value <"$D/lost.out")" 1 "A's retry answers the value its lost write made"
is "$(on B call counter_incr '{"name":"lost","by":0}' | json .value)" 3 \
    "and the counter is at 3 after three increments: nothing added twice"

(on A call note_wait '{"key":"ready","wait_seconds":20}' >"$D/nw") &
nw=$!
wait_for '[ "$(etcd_watches A)" -ge 1 ]' 10
on B call note_set '{"key":"ready","value":"yes"}' >/dev/null
wait $nw
is "$(json .changed <"$D/nw")/$(json .value <"$D/nw")" true/yes \
    "note_wait on A wakes on B's write"
gen=$(on A call event_wait '{"name":"go"}' | json .generation)
(on B call event_wait "{\"name\":\"go\",\"after\":$gen,\"wait_seconds\":20}" >"$D/ew") &
ew=$!
wait_for '[ "$(etcd_watches B)" -ge 1 ]' 10
on A call event_signal '{"name":"go","payload":{"build":7}}' >/dev/null
wait $ew
is "$(json .fired <"$D/ew")/$(json .payload.build <"$D/ew")" true/7 \
    "event_wait on B wakes on A's signal, with its payload"

# A note_wait whose history etcd compacted: the note was deleted since
# the version the caller saw, and the events are gone: it still says so.
v=$(on A call note_set '{"key":"gone","value":1}' | json .version)
on B call note_delete '{"key":"gone"}' >/dev/null
on B call note_set '{"key":"other","value":2}' >/dev/null
rev=$("$ETCDCTL" --endpoints "$ETCD_URLS" endpoint status -w json | jq -r '.[0].Status.header.revision')
"$ETCDCTL" --endpoints "$ETCD_URLS" compact "$rev" >/dev/null
out=$(on A call note_wait "{\"key\":\"gone\",\"after_version\":$v,\"wait_seconds\":10}")
is "$(echo "$out" | json .changed)/$(echo "$out" | json .found)" true/false \
    "note_wait across a compacted history: changed, not found"

# --- what a shared project does not serve: a clear error ----------------

on A call agent_join '{"name":"alpha"}' >/dev/null
ok $? "agent_join names a session of a shared project (on its host)"
out=$(on A call project_set '{"description":"d"}' 2>&1)
rc=$?
is "$rc" 65 "project_set in a shared project is refused (exit 65)"
like "$out" "not served for shared projects" "naming what is missing"
is "$(on B call task_create '{"title":"t","complexity":"simple"}' | json .id)" T1 \
    "task_create is served (tests/etcd_tasks.sh tests tasks and claims)"

# --- a watch stream whose member dies is resumed on another ------------

# A waits on B's lock (a watch, on the first member: the one both hosts
# talk to while all is well); that member is killed, B releases: A's
# watch, resumed from its last revision elsewhere, sees the release.
mkfifo "$D/rx.fifo"
(on B lock resume-x -- sh -c 'read x <"$1"' sh "$D/rx.fifo") &
bl=$!
wait_for '[ "$(on A locks --json resume-x | json ".locks[0].holders | length")" = 1 ]' 20
(on A call lock_acquire '{"name":"resume-x","wait_seconds":30}' >"$D/rx") &
aw=$!
wait_for '[ "$(etcd_watches A)" -ge 1 ]' 10
kill -9 "$(etcd_member_pid 1)"
echo >"$D/rx.fifo"
wait $bl $aw
is "$(json .acquired <"$D/rx")" true "A's waiter got the lock: its watch resumed on another member"
etcd_member_restart 1
wait_for '"$ETCDCTL" --endpoints "$ETCD_URLS" --command-timeout 1s endpoint health \
    >/dev/null 2>&1' 30
ok $? "member 1 is back: three healthy members"

# --- a lock waiter whose watch resumes after a compaction ---------------

# C, a third host, talks to member 3 first.  Its waiter watches the
# holder's key on member 3; etcd compacts past the revision that watch
# started at, and member 3 dies: the watch, resumed on another member
# from that revision, is told the history is gone; the waiter reads the
# line again, keeps its place, and is granted in order when B releases.
mkdir -p -m 700 "$D/C/run" "$D/C/state" "$D/pC"
timeout 10 "$BATOND" -S "$D/C/run/sock" -D "$D/C/state" --backend etcd \
    --etcd "$(etcd_member_url 3),$(etcd_member_url 1),$(etcd_member_url 2)" \
    --share "$D/pC=team" --etcd-ttl $TTL --etcd-timeout $TIMEOUT \
    </dev/null >/dev/null 2>"$D/C.err" || bail_out "batond C: $(cat "$D/C.err")"
mkfifo "$D/cx.fifo"
(on B lock cmp-x -- sh -c 'read x <"$1"' sh "$D/cx.fifo") &
bl=$!
wait_for '[ "$(on C locks --json cmp-x | json ".locks[0].holders | length")" = 1 ]' 20
(
	on C call lock_acquire '{"name":"cmp-x","wait_seconds":30}' >"$D/cx1"
) &
w1=$!
wait_for '[ "$(etcd_watches C)" -ge 1 ]' 10
(
	on A call lock_acquire '{"name":"cmp-x","wait_seconds":30}' >"$D/cx2"
) &
w2=$!
wait_for '[ "$(on A locks --json cmp-x | json ".locks[0].waiters | length")" = 2 ]' 10
for n in 1 2 3; do
	on A call note_set "{\"key\":\"churn\",\"value\":$n}" >/dev/null
done
rev=$("$ETCDCTL" --endpoints "$ETCD_URLS" endpoint status -w json | jq -r '.[0].Status.header.revision')
"$ETCDCTL" --endpoints "$ETCD_URLS" compact "$rev" >/dev/null
ok $? "etcd compacted to revision $rev while two waiters wait"
kill -9 "$(etcd_member_pid 3)"
wait_for 'grep -q "watch .*/cmp-x/.* etcd compacted its history" "$D/C/state/batond.log"' 10
ok $? "C's waiter, its watch resumed on another member, was told the history was compacted" ||
    diag "C's log: $(tail -n 5 "$D/C/state/batond.log")"
echo >"$D/cx.fifo"
wait $bl $w1 $w2
is "$(json .acquired <"$D/cx1")/$(json .acquired <"$D/cx2")" true/true \
    "both waiters are granted once B releases"
# the fences are the grant order (each grant takes the next); when the two
# callers' processes exit is not: C's may finish after A's although granted first
ok $([ "$(json .fence <"$D/cx1")" -lt "$(json .fence <"$D/cx2")" ] && echo 0 || echo 1) \
    "in order: C's waiter first (fence $(json .fence <"$D/cx1")), then A's (fence $(json .fence <"$D/cx2"))"
etcd_member_restart 3
wait_for '"$ETCDCTL" --endpoints "$ETCD_URLS" --command-timeout 1s endpoint health \
    >/dev/null 2>&1' 30
ok $? "member 3 is back: three healthy members"

# --- kill -9 of the etcd leader during a lock and counter workload ------

# Four workers on two hosts: a locked section, a counter increment and a
# note of their own per round; every acknowledged result is recorded.
: >"$D/f.locks"
: >"$D/f.counts"
: >"$D/f.errors"
cat >"$D/fworker.sh" <<'EOF'
n=1
while [ $n -le 8 ]; do
	on $1 lock -w 60 fault-db -- sh "$D/section.sh" "$D/f.locks" ||
	    echo "worker $2: baton lock failed" >>"$D/f.errors"
	if r=$(on $1 call counter_incr '{"name":"fault"}' 2>&1); then
		echo "$r" | jq -r .value >>"$D/f.counts"
	else
		echo "worker $2: counter_incr: $r" >>"$D/f.errors"
	fi
	if r=$(on $1 call note_set "{\"key\":\"w$2\",\"value\":$n}" 2>&1); then
		echo $n >"$D/f.note$2"
	else
		echo "worker $2: note_set: $r" >>"$D/f.errors"
	fi
	n=$((n + 1))
done
EOF
pids=
i=0
while [ $i -lt 4 ]; do
	h=$(host_of $i)
	(. "$D/fworker.sh" $h $i) &
	pids="$pids $!"
	i=$((i + 1))
done
wait_for '[ "$(wc -l <"$D/f.locks")" -ge 6 ]' 60
leader=$(etcd_leader)
ok $? "the cluster has a leader (member $leader)"
kill -9 "$(etcd_member_pid "$leader")"
t_kill=$(now_ms)
before=$(wc -l <"$D/f.locks" | tr -d ' ')
wait $pids
diag "leader killed after $before of 32 sections; the workload ended $(($(now_ms) - t_kill)) ms later"
is "$(cat "$D/f.errors")" "" "every call of the workload succeeded across the leader's death"
is "$(wc -l <"$D/f.locks" | tr -d ' ')" 32 "32 locked sections, before and after the failover"
is "$(check_intervals "$D/f.locks")" "" "no lock granted twice: no overlap, fences increase"
final=$(on A call counter_incr '{"name":"fault","by":0}' | json .value)
is "$(sort -n "$D/f.counts" | uniq | wc -l | tr -d ' ')/$final" "32/32" \
    "32 acknowledged increments, 32 distinct values, the counter at 32: none lost or doubled"
i=0
notes=
while [ $i -lt 4 ]; do
	notes="$notes $(on B call note_get "{\"key\":\"w$i\"}" | json .value)/$(cat "$D/f.note$i")"
	i=$((i + 1))
done
is "$notes" " 8/8 8/8 8/8 8/8" "every acknowledged note is there after the failover"

# --- kill -9 of a batond: its locks go after its lease TTL --------------

(on B lock orphan -- sh -c 'sleep 60' "$D/orphan" >/dev/null 2>&1) &
wait_for '[ "$(on A locks --json orphan | json ".locks[0].holders | length")" = 1 ]' 20
kill -9 "$PID_B"
t0=$(now_ms)
out=$(on A call lock_acquire '{"name":"orphan","wait_seconds":30}')
dt=$(($(now_ms) - t0))
is "$(echo "$out" | json .acquired)" true "B's lock is granted to A after B's batond died"
ok $([ $dt -ge 1000 ] && [ $dt -le $(((TTL + 3) * 1000)) ] && echo 0 || echo 1) \
    "when B's lease ran out: $dt ms after the kill (TTL $TTL s)"

# --- etcd unreachable (frozen: a partition), then gone ------------------

# A session that took a lock and let it go holds nothing in etcd but
# keeps its lease: an MCP session on A.
_sock=$BATON_SOCKET
_proj=$BATON_PROJECT
export BATON_SOCKET="$D/A/run/sock" BATON_PROJECT="$D/pA"
mcp_start 1 idle-agent
export BATON_SOCKET="$_sock" BATON_PROJECT="$_proj"
mcp_call 1 2 lock_acquire '{"name":"idle-x"}'
got=$(mcp_result 1 2 | json .acquired)
mcp_call 1 3 lock_release '{"name":"idle-x"}'
is "$got/$(mcp_result 1 3 | json .released)" true/true \
    "an MCP session on A took a lock and released it"
# Another holds a task's claim: keys on its lease that outlive the call.
export BATON_SOCKET="$D/A/run/sock" BATON_PROJECT="$D/pA"
mcp_start 2 claim-agent
export BATON_SOCKET="$_sock" BATON_PROJECT="$_proj"
mcp_call 2 2 task_create '{"title":"held across the freeze","complexity":"simple"}'
tid=$(mcp_result 2 2 | json .id)
mcp_call 2 3 task_claim "{\"id\":\"$tid\"}"
is "$(mcp_result 2 3 | json .claimed)" true "an MCP session on A claimed $tid"

# A holder on A is told when its lease expires; calls fail within the
# bound with a clear error; nothing is granted.
rm -f "$D/held.rc"
(
	on A lock held -- sh -c 'sleep 60' "$D/held" >/dev/null 2>"$D/held.err"
	echo $? >"$D/held.rc"
	now_ms >"$D/held.t"
) &
held=$!
wait_for '[ "$(on A locks --json held | json ".locks[0].holders | length")" = 1 ]' 20
for p in $ETCD_PIDS; do
	kill -STOP "$p" 2>/dev/null
done
t0=$(now_ms)
out=$(on A call lock_acquire '{"name":"fresh"}' 2>&1)
rc=$?
dt=$(($(now_ms) - t0))
ok $([ $rc != 0 ] && [ $dt -le $(((TIMEOUT + 2) * 1000)) ] && echo 0 || echo 1) \
    "a lock_acquire with etcd frozen fails in $dt ms (bound $TIMEOUT s), exit $rc"
like "$out" "did not answer within" "with a clear error"
wait $held
dt=$(($(cat "$D/held.t") - t0))
is "$(cat "$D/held.rc")" 75 "the holder's baton lock stopped its command and exited 75"
like "$(cat "$D/held.err")" "lost the lock" "and said it lost the lock, $dt ms after etcd froze (TTL $TTL s)"
wait_for 'grep -q "(idle-agent): etcd lease [0-9a-f]* lost (.*); it held nothing" "$D/A/state/batond.log"' 10
ok $? "the idle MCP session's lease was lost too: it held nothing, it is forgotten"
is "$(grep -c "(idle-agent): .*lease is lost" "$D/A/state/batond.log")" 0 \
    "and the session was not told nor disconnected"
wait_for 'grep -q "(claim-agent): .*lease is lost" "$D/A/state/batond.log"' 10
ok $? "the session holding a claim was told its lease is lost (its claim is gone)"
for p in $ETCD_PIDS; do
	kill -CONT "$p" 2>/dev/null
done
# (the leader killed above is still down: two members serve)
wait_for 'on A call note_get "{\"key\":\"cfg\"}" >/dev/null 2>&1' 30
ok $? "etcd thawed, A is served again"
mcp_call 1 4 lock_acquire '{"name":"idle-x"}'
is "$(mcp_result 1 4 | json .acquired)" true "etcd back, its next lock is granted on a new lease"
exec 3>&- 4>&-
etcd_cluster_stop
t0=$(now_ms)
out=$(on A call note_get '{"key":"cfg"}' 2>&1)
rc=$?
dt=$(($(now_ms) - t0))
ok $([ $rc != 0 ] && [ $dt -le $(((TIMEOUT + 2) * 1000)) ] && echo 0 || echo 1) \
    "with etcd gone a note_get fails in $dt ms, exit $rc"
kill -0 "$PID_A"
ok $? "batond A still serves (it never granted locally, it said why)"

done_testing
