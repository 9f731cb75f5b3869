#!/bin/sh
# Tasks and the project plan (DESIGN 5.5) through the CLI and `baton mcp`
# with many real processes: one winner per task under a race of 20
# claimers, the status machine table (every forbidden move refused,
# every allowed one made), dependencies and blocked claims that wake,
# leases after SIGKILL and live claimants that keep their task, the
# review loop with its history, project status ending blocked claims.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
start_broker || bail_out "batond did not start"
D=$TEST_DIR

# in_project NAME: use a fresh project namespace for what follows.
in_project() {
	BATON_PROJECT=$D/$1
	export BATON_PROJECT
}

# tget ID FILTER: a field of a task.
tget() {
	"$BATON" task get --json "$1" | json "$2"
}

# blocked: calls waiting in the broker (task_claim waits among them).
blocked() {
	"$BATON" status --json | json .blocked
}

# --- 10 tasks, 20 claimers: exactly 10 win, with distinct ids ---
in_project race
i=1
while [ $i -le 10 ]; do
	"$BATON" task create -c simple "task $i" >/dev/null 2>&1
	i=$((i + 1))
done
is "$("$BATON" task list --json | json .summary.total)" 10 "10 tasks created"
: >"$D/ids"
: >"$D/rcs"
i=0
while [ $i -lt 20 ]; do
	( BATON_AGENT=racer$i "$BATON" task claim --json >"$D/claim$i" 2>/dev/null
	  echo $? >>"$D/rcs" ) &
	i=$((i + 1))
done
wait
i=0
while [ $i -lt 20 ]; do
	json 'select(.claimed) | .id' <"$D/claim$i" >>"$D/ids"
	i=$((i + 1))
done
is "$(grep -c '^0$' "$D/rcs")" 10 "20 claimers: exactly 10 claims succeed"
is "$(grep -c '^1$' "$D/rcs")" 10 "the 10 others get claimed:false (exit 1)"
is "$(sort -u "$D/ids" | wc -l | tr -d ' ')" 10 "the 10 winners hold 10 distinct tasks"
is "$("$BATON" task list --json -s in_progress | json .count)" 10 "all 10 tasks are in_progress"

# --- the status machine, table-driven ---
in_project machine
# to_state STATE: a new task in STATE; prints "ID TOKEN".
to_state() {
	_id=$("$BATON" task create --json -c simple "in $1" | json .id)
	_tok=-
	case $1 in
	in_progress | review | done)
		_tok=$("$BATON" task claim --json "$_id" | json .token) ;;
	esac
	case $1 in
	review | done) "$BATON" task submit --token "$_tok" "$_id" "did it" >/dev/null 2>&1 ;;
	esac
	case $1 in
	done) "$BATON" task approve "$_id" >/dev/null 2>&1 ;;
	blocked | cancelled) "$BATON" task update -s "$1" "$_id" >/dev/null 2>&1 ;;
	esac
	echo "$_id $_tok"
}
allowed_moves="todo:in_progress todo:blocked todo:cancelled in_progress:review
in_progress:todo in_progress:blocked in_progress:cancelled review:done review:in_progress
review:blocked review:cancelled blocked:todo blocked:cancelled"
states="todo in_progress review done blocked cancelled"
nallowed=0
nrefused=0
bad=
for from in $states; do
	for to in $states; do
		[ "$from" = "$to" ] && continue
		set -- $(to_state "$from")
		id=$1
		tok=$2
		if [ "$(tget "$id" .status)" != "$from" ]; then
			bad="$bad setup:$from"
			continue
		fi
		if [ "$tok" != - ]; then
			baton_run task update --json -s "$to" --token "$tok" "$id"
		else
			baton_run task update --json -s "$to" "$id"
		fi
		after=$(tget "$id" .status)
		case " $(echo $allowed_moves) " in
		*" $from:$to "*)
			if [ "$RC" -eq 0 ] && [ "$after" = "$to" ]; then
				nallowed=$((nallowed + 1))
			else
				bad="$bad $from->$to(rc=$RC,$after)"
			fi ;;
		*)
			if [ "$RC" -eq 1 ] && [ "$after" = "$from" ] &&
			    printf '%s' "$ERR" | grep -q "cannot move to $to"; then
				nrefused=$((nrefused + 1))
			else
				bad="$bad !$from->$to(rc=$RC,$after)"
			fi ;;
		esac
	done
done
is "$nallowed" 13 "each of the 13 allowed moves works"
is "$nrefused" 17 "each of the 17 forbidden moves is refused (exit 1), status unchanged"
[ -z "$bad" ] || diag "wrong:$bad"
set -- $(to_state todo)
baton_run task update -s done "$1"
like "$ERR" "cannot move to done; allowed: in_progress \(task_claim\), blocked \(task_update\), cancelled" \
    "a refused move names the allowed ones and their operations"
set -- $(to_state done)
baton_run task update -s todo "$1"
like "$ERR" "done is final" "a done task says it is final"
set -- $(to_state in_progress)
BATON_AGENT=intruder baton_run task submit "$1" "not mine"
is "$RC" 77 "submit by another session without the token: permission denied (77)"
like "$ERR" "only its claimant" "the error says only the claimant may"
BATON_AGENT=intruder baton_run task release "$1"
is "$RC" 77 "release by another session without the token: permission denied"
baton_run task release --token "$2" "$1"
is "$RC:$(tget "$1" .status)" "0:todo" "release with the claim token works: back to todo"

# --- dependencies ---
in_project deps
"$BATON" task create -c simple -p low "base" >/dev/null 2>&1
"$BATON" task create -c simple -p urgent --dep T1 "on top" >/dev/null 2>&1
is "$(tget T2 .ready)" false "T2 depends on T1: not ready"
baton_run task update --dep T2 T1
is "$RC" 65 "a dependency cycle (T1 -> T2 -> T1) is refused"
like "$ERR" "cycle" "the error names the cycle"
baton_run task create -c simple --dep T9 "dangling"
is "$RC" 65 "a dependency on a task that does not exist is refused"
set -- $("$BATON" task claim --json | json '.id + " " + .token')
is "$1" T1 "task_claim without id skips the urgent T2 (not ready) and takes T1"
tok1=$2
baton_run task claim --json
is "$RC:$(printf '%s' "$OUT" | json .claimed)" "1:false" "nothing else is ready: claimed:false"
BATON_AGENT=waiter "$BATON" task claim --json -w 20 >"$D/waited" 2>&1 &
wpid=$!
wait_for '[ "$(blocked)" = 1 ]' 10
is "$(blocked)" 1 "a claim with -w blocks while nothing is ready"
"$BATON" task submit --token "$tok1" T1 "base done" >/dev/null 2>&1
is "$(blocked)" 1 "still blocked while T1 is only in review"
"$BATON" task approve T1 >/dev/null 2>&1
wait "$wpid"
is "$(json .id <"$D/waited"):$(json .task.owner <"$D/waited")" "T2:waiter" \
    "approving T1 wakes the blocked claim, which gets T2"

# --- leases: SIGKILLed and live claimants ---
in_project lease
"$BATON" task create -c simple "killed" >/dev/null 2>&1
"$BATON" task create -c simple "kept" >/dev/null 2>&1
mcp_start 1 doomed
mcp_call 1 2 task_claim '{"id":"T1","lease_seconds":1.5}'
is "$(mcp_result 1 2 | json .claimed)" true "an MCP client claims T1 with a 1.5 s lease"
mcp_start 2 alive
mcp_call 2 2 task_claim '{"id":"T2","lease_seconds":1}'
is "$(mcp_result 2 2 | json .claimed)" true "another MCP client claims T2 with a 1 s lease"
BATON_AGENT=next "$BATON" task claim --json -w 20 T1 >"$D/next" 2>&1 &
npid=$!
wait_for '[ "$(blocked)" = 1 ]' 10
kill -KILL "$MCP_PID_1"
exec 3>&-
# The 1.5 s lease runs from the session's end: the checks below use the
# first read that shows it ended (two more reads, each a process, could
# come after the lease on a busy machine, when "next" holds T1).
wait_for '"$BATON" task get --json T1 >"$D/t1" && [ "$(json .claim_live <"$D/t1")" = false ]' 10
is "$(json .status <"$D/t1")" in_progress \
    "right after SIGKILL the task is still in_progress (lease running)" "$(cat "$D/t1")"
like "$(json .lease_expires_in_seconds <"$D/t1")" '^[0-9.]+$' "task_get shows the lease running out"
wait "$npid"
is "$(json .claimed <"$D/next"):$(json .task.owner <"$D/next")" "true:next" \
    "the lease runs out: T1 back in todo and the blocked claim for it wakes and wins"
like "$(tget T1 '[.history[].action] | join(",")')" "claimed,lease_expired,claimed" \
    "the history records the lost lease"
sleep 3.5 # three lease periods of T2 must pass with its claimant connected
is "$(tget T2 .status):$(tget T2 .owner):$(tget T2 .claim_live)" "in_progress:alive:true" \
    "a live claimant keeps its task past many lease periods (no heartbeat)"
exec 4>&-
wait_for '[ "$(tget T2 .status)" = todo ]' 10
is "$(tget T2 .status)" todo "once that claimant disconnects too, T2 returns to todo after its lease"

# --- the review loop ---
in_project review
"$BATON" task create -c medium -d "make it so" "reviewed" >/dev/null 2>&1
tok=$(BATON_AGENT=impl "$BATON" task claim --json T1 | json .token)
BATON_AGENT=impl "$BATON" task submit --token "$tok" T1 "first try" >/dev/null 2>&1
is "$(tget T1 .status)" review "submit: in review"
BATON_AGENT=rev "$BATON" task request-changes T1 "add tests" >/dev/null 2>&1
is "$(tget T1 .status):$(tget T1 .feedback)" "in_progress:add tests" \
    "request changes: back in_progress with the feedback"
BATON_AGENT=impl "$BATON" task submit --token "$tok" T1 "with tests" >/dev/null 2>&1
BATON_AGENT=rev "$BATON" task approve -f "good" T1 >/dev/null 2>&1
is "$(tget T1 .status):$(tget T1 .reviewer)" "done:rev" "approve: done, reviewer recorded"
is "$(tget T1 '[.history[] | .action + "/" + .actor] | .[1:] | join(" ")')" \
    "claimed/impl submitted/impl changes_requested/rev submitted/impl approved/rev" \
    "the history shows all five review steps with their actors"
like "$(tget T1 '.history[3].at')" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T' "history entries carry when"

# --- batch approve is all or nothing ---
in_project batch
for n in 1 2 3; do
	"$BATON" task create -c simple "b$n" >/dev/null 2>&1
	t=$("$BATON" task claim --json "T$n" | json .token)
	[ "$n" = 3 ] || "$BATON" task submit --token "$t" "T$n" "ok" >/dev/null 2>&1
done
baton_run task approve T1 T2 T3
is "$RC:$(tget T1 .status)" "1:review" "approving T1 T2 T3 when T3 is not in review approves none"
baton_run task approve --json T1 T2
is "$(printf '%s' "$OUT" | json '.approved | join(",")'):$(printf '%s' "$OUT" | json .summary.done)" \
    "T1,T2:2" "a batch approve of tasks in review approves them all"

# --- the project: context, status, and the end of blocked claims ---
in_project proj
baton_run project set -d "a thing" --end-state "it works" -s ready
is "$RC:$("$BATON" project get --json | json '.status + "/" + .description')" "0:ready/a thing" \
    "project set: partial update of context and status"
baton_run project set --plan "step by step"
is "$("$BATON" project get --json | json '.description + "/" + .plan')" "a thing/step by step" \
    "a partial update leaves the other fields alone"
baton_run project set -s planning
is "$RC" 1 "the project status does not go back (ready -> planning refused)"
for n in 1 2 3; do
	BATON_AGENT=idle$n "$BATON" task claim --json -w 30 >"$D/idle$n" 2>&1 &
	eval "ipid$n=\$!"
done
wait_for '[ "$(blocked)" = 3 ]' 10
is "$(blocked)" 3 "three implementers block in task_claim (no tasks)"
baton_run project set --json -s complete
wait "$ipid1" "$ipid2" "$ipid3"
is "$(cat "$D/idle1" "$D/idle2" "$D/idle3" | jq -rs '[.[] | .project_status] | join(",")')" \
    "complete,complete,complete" "project_set complete ends every blocked claim with that status"
baton_run task claim
is "$RC" 1 "claiming in a complete project answers claimed:false at once"

# --- bounds ---
in_project bounds
baton_run task create -c simple "$(printf '%0201d' 0)"
is "$RC" 65 "a title over 200 bytes is refused"
baton_run task create -c simple -t "$(printf '%065d' 0)" "t"
is "$RC" 65 "a tag over 64 bytes is refused"
baton_run call task_create '{"title":"x","complexity":"hard"}'
is "$RC" 65 "a complexity outside the choices is refused"
baton_run call task_get '{"id":"T99"}'
is "$RC" 65 "an unknown task is not_found (65)"

# --- role guidance ---
in_project guide
like "$("$BATON" call guide '{"role":"planner"}' | json .next_steps)" "no context yet" \
    "the planner without context is told to ask the user and project_set"
"$BATON" project set -d "x" --end-state "y" >/dev/null 2>&1
like "$("$BATON" call guide '{"role":"planner"}' | json .next_steps)" "implementation plan" \
    "with context but no plan: write the plan"
"$BATON" project set --plan "p" >/dev/null 2>&1
like "$("$BATON" call guide '{"role":"planner"}' | json .next_steps)" "task_create" \
    "with a plan but no tasks: create them"
like "$("$BATON" call guide '{"role":"implementer"}' | json .next_steps)" "task_claim" \
    "the implementer is told to claim, work, submit"

# --- tasks carry their files (issue 13) ---
in_project files
baton_run task create -c simple -F src/a.c -F file:./src/b.c "first"
is "$RC:$(tget T1 '.files | join(",")')" "0:src/a.c,src/b.c" \
    "task create -F: the task carries its files, normalized"
"$BATON" task create -c simple -F src "second" >/dev/null 2>&1
like "$("$BATON" task get T1)" "files +src/a.c, src/b.c" "task get shows the files"
set -- $(BATON_AGENT=impl1 "$BATON" task claim --json T1 | json '.id + " " + .token')
tok1=$2
is "$("$BATON" locks --json file: | json '[.locks[] | .holders[0].agent + "/" + .holders[0].reason] | join(",")')" \
    "impl1/task T1,impl1/task T1" "the claim reserves T1's files for its claimant"
baton_run task update -F src/c.c T1
is "$RC" 1 "the files of a task in progress do not change under its claimant"
BATON_AGENT=impl2 baton_run task claim --json T2
is "$RC:$(printf '%s' "$OUT" | json '.holders[0].agent')" "1:impl1" \
    "a claim of T2 (files src) is refused while T1 holds src/a.c, naming the holder"
BATON_AGENT=impl2 "$BATON" task claim --json -w 20 T2 >"$D/second" 2>&1 &
spid=$!
wait_for '[ "$(blocked)" = 1 ]' 10
is "$(blocked)" 1 "with -w the second implementer waits for the files"
BATON_AGENT=impl1 "$BATON" task submit --token "$tok1" T1 "done" >/dev/null 2>&1
wait "$spid"
is "$(json .id <"$D/second"):$(json .task.files_reserved <"$D/second")" "T2:true" \
    "T1 submitted: its files are released and the waiting claim of T2 is granted"
is "$("$BATON" locks --json file: | json '[.locks[].name] | join(",")')" "file:src" \
    "T2 holds src now, T1 nothing"

# --- the review: a reviewer blocks for the next review, a review is by someone else ---
BATON_AGENT=rev "$BATON" task claim --json -r -w 20 >"$D/rev" 2>&1 &
rpid=$!
wait "$rpid"
is "$(json .id <"$D/rev"):$(json .review <"$D/rev")" "T1:true" \
    "task claim -r takes the review of the task in review"
BATON_AGENT=impl1 baton_run task approve T1
is "$RC" 77 "its implementer cannot approve it (permission, 77)"
like "$ERR" "a review is by someone else" "the error says why"
BATON_AGENT=rev baton_run task approve T1
is "$RC" 0 "the reviewer approves it"
BATON_AGENT=rev baton_run task request-changes T1 "no"
is "$RC" 1 "request-changes on a done task is refused"
"$BATON" task create -c simple "third" >/dev/null 2>&1
"$BATON" task update -s blocked T3 >/dev/null 2>&1
baton_run task release T3
like "$ERR" "T3 is blocked and cannot move to todo with task_release, which moves a task in in_progress" \
    "task_release of a blocked task is refused: it takes a task in progress (it used to unblock it)"
is "$(tget T3 .status)" blocked "and the task stays blocked"

stop_broker
done_testing
