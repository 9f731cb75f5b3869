#!/bin/sh
# Tasks and claims of a shared project in etcd (DESIGN 15, issue 20): a
# 3-member etcd cluster on loopback and two batond processes on it as two
# "hosts", A and B, driven by real baton processes:
#   - a task created on A is read and listed on B, with the same fields;
#   - ids stay unique when both hosts create at once;
#   - 16 claims of one task at once, 8 per host: exactly one winner, the
#     others told who holds it; 16 claims of 4 tasks: 4 winners, each
#     task once, the others told there is none;
#   - a claim waiting on B is woken by a release on A;
#   - dependencies across hosts; submit, request_changes, approve across
#     hosts, a review by someone else only;
#   - a claimant's session that ends: its claim lives lease_seconds,
#     then the task is claimable again; kill -9 of the claimant's batond:
#     the task is claimable again after the etcd lease TTL;
#   - a task with files is refused, naming the field;
#   - review notices in etcd, as locally: a submit on A wakes a reviewer's
#     message_inbox blocked on B (and signals task:review), changes
#     requested on B reach the claimant's inbox on A, the last task
#     approved on B the planners' on A; retention trims them as it does
#     messages.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
. "${TOP_SRCDIR:-..}/tests/etcd-lib.sh"
need_jq
etcd_need
broker_dir
D=$TEST_DIR
TTL=2
RETAIN=5
trap 'etcd_cluster_stop; cleanup' EXIT

etcd_cluster_start "$D/etcd" || bail_out "etcd did not start: $(tail -5 "$D/etcd/m1.log")"

# on H ARGS...: baton ARGS as a client of host H in the shared project.
on() {
	_h=$1
	shift
	BATON_SOCKET="$D/$_h/run/sock" BATON_PROJECT="$D/p$_h" timeout 60 "$BATON" "$@"
}

etcd_host_start "$D" A --etcd-ttl $TTL --etcd-timeout 5 --message-retention $RETAIN
etcd_host_start "$D" B --etcd-ttl $TTL --etcd-timeout 5 --message-retention $RETAIN

# --- create on A, read on B ---------------------------------------------

out=$(on A task create --json -c simple -p high -d "the first" -t infra "build it")
is "$(echo "$out" | json .id)/$(echo "$out" | json .status)/$(echo "$out" | json .ready)" \
    T1/todo/true "task_create on A: T1, todo and ready"
out=$(on B task get --json T1)
is "$(echo "$out" | json '[.title, .description, .priority, .complexity, (.tags|join(",")), .history[0].action] | join("|")')" \
    "build it|the first|high|simple|infra|created" "task_get on B reads what A created"
is "$(on B task list --json | json '[.count, .summary.total, .summary.todo, .summary.ready] | join(" ")')" \
    "1 1 1 1" "task_list on B: the task and the summary"
out=$(on B call task_create '{"title":"x","complexity":"simple","files":["src/a.c"]}' 2>&1)
rc=$?
is "$rc" 65 "a task with files is refused in a shared project (exit 65)"
like "$out" "files" "naming the field"
out=$(on A call task_get '{"id":"T99"}' 2>&1)
like "$out" "no task 'T99'" "task_get of an unknown id: not found, as locally"

# --- ids under a create race from both hosts ----------------------------

i=0
while [ $i -lt 16 ]; do
	(on $(host_of $i) task create --json -c simple "race $i" | json .id >>"$D/ids") &
	i=$((i + 1))
done
wait
is "$(wc -l <"$D/ids" | tr -d ' ')" 16 "16 creates from two hosts at once all succeeded"
is "$(sort "$D/ids" | uniq -d)" "" "each with an id of its own"
is "$(sort -t T -k 2 -n "$D/ids" | tr '\n' ' ')" \
    "T2 T3 T4 T5 T6 T7 T8 T9 T10 T11 T12 T13 T14 T15 T16 T17 " "ids T2..T17, none skipped"

# --- one task, 16 claims at once from both hosts ------------------------

# claim_all ARGS: 16 workers, 8 per host, each "baton task claim --json ARGS"
# at once; their answers in $D/c.N.
claim_all() {
	rm -f "$D"/c.*
	i=0
	while [ $i -lt 16 ]; do
		(BATON_AGENT=w$i on $(host_of $i) task claim --json "$@" >"$D/c.$i") &
		i=$((i + 1))
	done
	wait
}

claim_all T1
is "$(cat "$D"/c.* | jq -s '[.[] | select(.claimed)] | length')" 1 \
    "16 claims of T1 from two hosts: exactly one winner"
winner=$(cat "$D"/c.* | jq -rs '.[] | select(.claimed) | .task.owner')
is "$(cat "$D"/c.* | jq -rs '[.[] | select(.claimed | not) | .owner] | unique | join(",")')" \
    "$winner" "the 15 others were told who holds it ($winner)"
is "$(on B task get --json T1 | json '[.status, .owner] | join(" ")')" "in_progress $winner" \
    "B reads T1 in progress by the winner"

claim_all
is "$(cat "$D"/c.* | jq -s '[.[] | select(.claimed)] | length')" 16 \
    "16 claims without id from two hosts: 16 winners (16 ready tasks)"
is "$(cat "$D"/c.* | jq -rs '[.[] | select(.claimed) | .id] | unique | length')" 16 \
    "each got a task of its own"
claim_all
is "$(cat "$D"/c.* | jq -rs '[.[] | select(.claimed)] | length')" 0 \
    "16 more: none claimed (every task is taken)"
like "$(cat "$D/c.3")" "no ready task now" "and told there is none"

# --- a claim waiting on B, woken by a release on A ------------------------

tok=$(on A call task_create '{"title":"wake","complexity":"simple"}' | json .id)
is "$tok" T18 "T18 created"
claim=$(BATON_AGENT=alpha on A task claim --json T18)
tok=$(echo "$claim" | json .token)
is "$(echo "$claim" | json .claimed)" true "A claims T18"
(BATON_AGENT=beta on B task claim --json -w 30 T18 >"$D/wait.out"; now_ms >"$D/wait.t") &
waiter=$!
wait_for '[ "$(on B status --json | json .shared.watches)" = 1 ]' 20
ok $? "B's claim of T18 waits (a watch on etcd)"
t0=$(now_ms)
on A task release --token "$tok" T18 >/dev/null
ok $? "A releases T18 with its token"
wait $waiter
dt=$(($(cat "$D/wait.t") - t0))
is "$(json '[.claimed, .task.owner] | join(" ")' <"$D/wait.out")" "true beta" \
    "B's waiting claim got T18 when A released it"
ok $([ $dt -le 3000 ] && echo 0 || echo 1) "$dt ms after the release"

# --- dependencies, submit, request_changes, approve across hosts ----------

on A call task_create '{"title":"base","complexity":"simple"}' >/dev/null
out=$(on B call task_create '{"title":"top","complexity":"simple","depends_on":["T19"]}')
is "$(echo "$out" | json '[.id, .ready] | join(" ")')" "T20 false" \
    "T20 on B depends on T19 (A's): not ready"
out=$(BATON_AGENT=beta on B task claim --json T20)
is "$(echo "$out" | json .claimed)" false "T20 cannot be claimed yet"
like "$(echo "$out" | json .hint)" "waiting for its dependencies" "saying why"
out=$(BATON_AGENT=alpha on A task claim --json T19)
tok=$(echo "$out" | json .token)
out=$(BATON_AGENT=alpha on B call task_submit "{\"id\":\"T19\",\"notes\":\"done it\",\"token\":\"$tok\"}")
is "$(echo "$out" | json .status)" review "alpha submits T19 on B with the token A's claim gave: in review"
out=$(BATON_AGENT=alpha on A call task_approve '{"id":"T19"}' 2>&1)
like "$out" "a review is by someone else" "its claimant may not approve it"
out=$(BATON_AGENT=rev on B task claim --json -r)
is "$(echo "$out" | json '[.claimed, .review, .id] | join(" ")')" "true true T19" \
    "a reviewer on B takes T19's review"
out=$(BATON_AGENT=rev on B call task_request_changes '{"id":"T19","feedback":"add a test"}')
is "$(echo "$out" | json .status)" in_progress "B requests changes: back in progress"
out=$(BATON_AGENT=alpha on A task claim --json --token "$tok" T19)
is "$(echo "$out" | json '[.claimed, .task.feedback, .task.changes_requested] | join("|")')" \
    "true|add a test|true" "A takes T19 back with its token, with the feedback"
on A task submit --token "$tok" T19 "with a test" >/dev/null
out=$(BATON_AGENT=rev on B call task_approve '{"id":"T19","feedback":"good"}')
is "$(echo "$out" | json '[(.approved|join(",")), .all_done] | join(" ")')" "T19 false" \
    "B approves T19"
is "$(on A task get --json T19 | json '[.status, .reviewer, .history[-1].action] | join(" ")')" \
    "done rev approved" "A reads T19 done, approved by rev"
out=$(BATON_AGENT=beta on B task claim --json T20)
is "$(echo "$out" | json .claimed)" true "T20 is claimable on B once T19 is done"

# --- task_update across hosts; a waiting review woken by a submit --------

on A call task_create '{"title":"one","complexity":"simple"}' >/dev/null
on A call task_create '{"title":"two","complexity":"simple","depends_on":["T21"]}' >/dev/null
out=$(on B call task_update '{"id":"T21","title":"first","depends_on":["T22"]}' 2>&1)
like "$out" "T22 already depends on T21.*cycle" "B's task_update closing a cycle with A's task is refused"
out=$(on B call task_update '{"id":"T21","title":"first","priority":"urgent"}')
is "$(on A task get --json T21 | json '[.title, .priority, .history[-1].action] | join(" ")')" \
    "first urgent updated" "A reads B's task_update"
out=$(on B call task_update '{"id":"T22","status":"cancelled","note":"not needed"}')
is "$(echo "$out" | json .status)" cancelled "B cancels T22"
out=$(on A call task_claim '{"id":"T22"}' 2>&1)
like "$out" "T22 is cancelled and cannot move to in_progress: cancelled is final" \
    "a claim of a cancelled task is refused as locally"
out=$(on A call task_approve "{\"ids\":[$(seq -s, 1 26 | sed 's/[0-9]*/"T&"/g')]}" 2>&1)
like "$out" "at most 25 tasks at once" "task_approve of 26 ids is refused, saying the bound"
(BATON_AGENT=rev on A task claim --json -r -w 30 >"$D/rwait.out") &
waiter=$!
wait_for '[ "$(on A status --json | json .shared.watches)" = 1 ]' 20
ok $? "a reviewer on A waits for a task to review"
out=$(BATON_AGENT=beta on B task claim --json T21)
tok=$(echo "$out" | json .token)
on B task submit --token "$tok" T21 "did it" >/dev/null
wait $waiter
is "$(json '[.claimed, .review, .id] | join(" ")' <"$D/rwait.out")" "true true T21" \
    "B's submit woke A's waiting reviewer with T21"
out=$(BATON_AGENT=rev2 on B call task_approve '{"id":"T21"}' 2>&1)
is "$(echo "$out" | json '.approved[0]')" T21 \
    "the review rev took ended with its session: another reviewer approves T21"

# --- a claimant's session ends: lease_seconds, then claimable again -------

on A call task_create '{"title":"short","complexity":"simple"}' >/dev/null
out=$(BATON_AGENT=alpha on A task claim --json -l 1 T23)
is "$(echo "$out" | json '[.claimed, .lease_seconds] | join(" ")')" "true 1" \
    "A claims T23 with lease_seconds 1 (and its session ends)"
t0=$(now_ms)
out=$(BATON_AGENT=beta on B task claim --json -w 20 T23)
dt=$(($(now_ms) - t0))
is "$(echo "$out" | json .claimed)" true "B's waiting claim gets T23 after the claim's lease"
ok $([ $dt -ge 500 ] && [ $dt -le 4000 ] && echo 0 || echo 1) "$dt ms later (lease 1 s)"
like "$(on A task get --json T23 | json '[.history[].action] | join(" ")')" \
    "claimed lease_expired claimed" "its history says the lease ran out"

# --- review notices: inbox messages and events in etcd, on any host -------

# rev: a reviewer present on B (joined); its inbox (a CLI session by its name and role).
join B rev reviewer
rinbox() {
	BATON_AGENT=rev BATON_ROLE=reviewer on B call message_inbox "$@"
}
n=$(on A call task_create '{"title":"notice me","complexity":"simple"}' | json .id)
tok=$(BATON_AGENT=alpha on A task claim --json "$n" | json .token)
c0=$(rinbox '{}' | json .cursor)
g0=$(on B call event_wait '{"name":"task:review","wait_seconds":0}' | json .generation)
(rinbox "{\"after\":$c0,\"wait_seconds\":30}" >"$D/nwake"; now_ms >"$D/nwake.t") &
waiter=$!
wait_for '[ "$(on B status --json | json .shared.watches)" = 1 ]' 20
ok $? "rev's message_inbox on B waits (a watch on etcd)"
t0=$(now_ms)
out=$(BATON_AGENT=alpha on A call task_submit "{\"id\":\"$n\",\"token\":\"$tok\",\"notes\":\"see it\"}")
like "$(echo "$out" | json .hint)" "the reviewers were told" "alpha submits $n on A: the hint says the reviewers were told"
wait $waiter
dt=$(($(cat "$D/nwake.t") - t0))
is "$(json '.messages[0] | [.subject, .from, .to, .thread] | join("|")' <"$D/nwake")" \
    "$n is ready for review: notice me|alpha|role:reviewer|$n" \
    "rev's blocked inbox on B woke with the notice, subject as locally, to role:reviewer"
like "$(json '.messages[0].body' <"$D/nwake")" "alpha submitted $n \\(notice me\\) for review. Notes: see it" \
    "its body as locally"
ok $([ $dt -le 3000 ] && echo 0 || echo 1) "$dt ms after the submit"
first=$(json '.messages[0].id' <"$D/nwake")
out=$(on B call event_wait "{\"name\":\"task:review\",\"after\":$g0}")
is "$(echo "$out" | json '[.fired, .generation - '"$g0"', .payload.id, .payload.by, .payload.to] | join(" ")')" \
    "true 1 $n alpha role:reviewer" "and the event task:review fired once (generation $g0 + 1), with its payload"
c1=$(BATON_AGENT=alpha on A call message_inbox '{}' | json .cursor)
out=$(BATON_AGENT=rev on B call task_request_changes "{\"id\":\"$n\",\"feedback\":\"add a test\"}")
like "$(echo "$out" | json .hint)" "told in their inbox" "rev requests changes on B"
out=$(BATON_AGENT=alpha on A call message_inbox "{\"after\":$c1}")
is "$(echo "$out" | json '.messages | map([.subject, .from, .to, .thread] | join("|")) | join(",")')" \
    "changes requested on $n: notice me|rev|alpha|$n" "the claimant's inbox on A has the notice"
like "$(echo "$out" | json '.messages[0].body')" "rev asks for changes on $n \\(notice me\\): add a test" \
    "its body with the feedback, as locally"
is "$(on A call event_wait '{"name":"task:changes","after":0}' | json '[.fired, .payload.to] | join(" ")')" \
    "true alpha" "the event task:changes fired"
# retention: notices count among the RETAIN messages kept
i=0
while [ $i -lt $RETAIN ]; do
	on A task submit --token "$tok" "$n" "again $i" >/dev/null || echo "submit $i failed" >>"$D/nerr"
	BATON_AGENT=rev on B call task_request_changes "{\"id\":\"$n\",\"feedback\":\"more $i\"}" >/dev/null ||
	    echo "changes $i failed" >>"$D/nerr"
	i=$((i + 1))
done
is "$(cat "$D/nerr" 2>/dev/null)" "" "$RETAIN more rounds of submit and request_changes"
is "$("$ETCDCTL" --endpoints "$ETCD_URLS" get --prefix /baton/p/team/m/ --keys-only | grep -c .)" \
    $RETAIN "$((2 * RETAIN + 2)) notices: $RETAIN messages kept in etcd (--message-retention)"
out=$(rinbox "{\"after\":$((first - 1))}" 2>&1)
like "$out" "no longer retained" "the first notice went: a cursor before it is refused"
is "$(rinbox '{}' | json '[.messages[].body | capture("Notes: (?<n>.*)\n").n] | join(",")')" \
    "again 3,again 4" "rev's inbox keeps the newest notices (its last two of the $RETAIN)"
# the last task approved: the planners hear the work is done
join A pl planner
for t in $(on A call task_list '{"limit":200}' |
    json ".tasks[] | select(.status != \"done\" and .status != \"cancelled\" and .id != \"$n\") | .id"); do
	on A call task_update "{\"id\":\"$t\",\"status\":\"cancelled\"}" >/dev/null ||
	    echo "cancel $t failed" >>"$D/nerr"
done
on A task submit --token "$tok" "$n" "last" >/dev/null || echo "last submit failed" >>"$D/nerr"
is "$(cat "$D/nerr" 2>/dev/null)" "" "every other open task cancelled, $n submitted again"
c2=$(BATON_AGENT=pl BATON_ROLE=planner on A call message_inbox '{}' | json .cursor)
out=$(BATON_AGENT=rev on B call task_approve "{\"id\":\"$n\"}")
is "$(echo "$out" | json .all_done)" true "rev approves $n on B, the last open task"
like "$(echo "$out" | json .hint)" "the planners were told" "its hint says the planners were told"
out=$(BATON_AGENT=pl BATON_ROLE=planner on A call message_inbox "{\"after\":$c2}")
is "$(echo "$out" | json '.messages | map([.subject, .from, .to, .thread] | join("|")) | join(",")')" \
    "every task is done|rev|role:planner|$n" "the planner's inbox on A has the notice"
like "$(echo "$out" | json '.messages[0].body')" "rev approved $n, the last open task" "its body as locally"
is "$(on A call event_wait '{"name":"task:all_done","after":0}' | json '[.fired, .payload.to] | join(" ")')" \
    "true role:planner" "the event task:all_done fired"
unhold rev
unhold pl

# --- kill -9 of the claimant's batond: claimable after the TTL ------------

hd=$(on A call task_create '{"title":"host dies","complexity":"simple"}' | json .id)
save_sock=$BATON_SOCKET
save_proj=$BATON_PROJECT
BATON_SOCKET=$D/B/run/sock
BATON_PROJECT=$D/pB
export BATON_SOCKET BATON_PROJECT
mcp_start 1 holder
BATON_SOCKET=$save_sock
BATON_PROJECT=$save_proj
mcp_call 1 2 task_claim "{\"id\":\"$hd\",\"lease_seconds\":600}"
is "$(mcp_result 1 2 | json .claimed)" true "a live session on B claims $hd (lease_seconds 600)"
is "$(on A task get --json "$hd" | json .claim_live)" true "A sees the claim live"
kill -9 "$PID_B"
t0=$(now_ms)
out=$(BATON_AGENT=alpha on A task claim --json -w 20 "$hd")
dt=$(($(now_ms) - t0))
is "$(echo "$out" | json .claimed)" true "A gets $hd after B's batond died"
like "$(echo "$out" | json '.task.history[-2].note')" "stopped renewing its etcd lease" \
    "its history says the claimant's broker let the lease go"
ok $([ $dt -ge 500 ] && [ $dt -le $(((TTL + 3) * 1000)) ] && echo 0 || echo 1) \
    "when B's lease ran out: $dt ms after the kill (TTL $TTL s)"
exec 3>&-

done_testing
