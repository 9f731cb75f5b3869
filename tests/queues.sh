#!/bin/sh
# Work queues (queue_push, queue_claim, queue_finish, queue_list; the
# broker side of Airlock's task queue, issue 19): priority then age
# order, a lease bound to the claiming session (its end puts the item
# back at once) and to lease_seconds, the lease token as the capability,
# items and leases kept across kill -9 of the broker, bounds refused.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
start_broker || bail_out "batond did not start"

# as AGENT OP JSON: baton call as AGENT.
as() {
	BATON_AGENT=$1 timeout 20 "$BATON" call "$2" "$3"
}

id1=$(as planner queue_push '{"queue":"q","payload":"low"}' | json .id)
id2=$(as planner queue_push '{"queue":"q","payload":"high","priority":5}' | json .id)
id3=$(as planner queue_push '{"queue":"q","payload":"low2"}' | json .id)
ok $([ "$id1" -ge 1 ] && [ "$id2" -gt "$id1" ] && [ "$id3" -gt "$id2" ]; echo $?) \
    "queue_push: increasing ids" "$id1 $id2 $id3"
r=$(as w queue_claim '{"queue":"q"}')
is "$(printf '%s' "$r" | json '.payload + " " + (.attempts|tostring)')" "high 1" \
    "queue_claim: the highest priority first" "$r"
tok=$(printf '%s' "$r" | json .lease_token)
r=$(as w queue_finish "{\"id\":$id2,\"lease_token\":\"ffffffffffffffffffffffffffffffff\"}")
is "$(printf '%s' "$r" | json .finished)" false "queue_finish with a wrong token: finished false" "$r"
r=$(as w queue_finish "{\"id\":$id2,\"lease_token\":\"$tok\"}")
is "$(printf '%s' "$r" | json '(.finished|tostring) + " " + .state')" "true done" "queue_finish done" "$r"
r=$(as w queue_claim '{"queue":"q"}')
is "$(printf '%s' "$r" | json .payload)" low "then the oldest of equal priority" "$r"

# a lease bound to a live session: its end puts the item back at once
BATON_TOOLS=full,queues mcp_start 1 holder
mcp_call 1 2 queue_claim '{"queue":"q","lease_seconds":3600}'
r=$(mcp_result 1 2)
is "$(printf '%s' "$r" | json .payload)" low2 "a baton mcp session leases the last item" "$r"
is "$(as x queue_list '{"queue":"q","state":"leased"}' | json '[.items[].lease_agent]|sort|join(",")')" \
    "holder,w" "queue_list shows the leases and who holds them"
exec 3>&-
wait_for "[ \"\$(as x queue_list '{\"queue\":\"q\",\"state\":\"pending\"}' | json .count)\" = 1 ]" 10
ok $? "the session ends: its leased item is pending again at once"

# items and leases survive kill -9 (y's short lease aside: it may run out meanwhile)
idy=$(as planner queue_push '{"queue":"q","payload":"y"}' | json .id)
as w queue_claim '{"queue":"q","lease_seconds":3600}' >/dev/null
as w queue_claim '{"queue":"q","lease_seconds":3}' >/dev/null
snap() {
	as x queue_list '{"queue":"q"}' |
	    jq -S "[.items[] | select(.id != $idy) | del(.lease_expires_in_seconds)]"
}
before=$(snap)
kill -9 "$BROKER_PID"
wait_for "! kill -0 $BROKER_PID 2>/dev/null" 5
start_broker || bail_out "batond did not restart"
is "$(snap)" "$before" "queue items and leases come back after kill -9"
wait_for "[ \"\$(as x queue_list '{\"queue\":\"q\",\"state\":\"pending\"}' | json '.items[].id')\" = $idy ]" 10
ok $? "a restored lease still runs out at its deadline"
id4=$(as planner queue_push '{"queue":"q","payload":"after"}' | json .id)
cmp_ok "$id4" -gt "$idy" "ids never repeat after a restart"

# bounds and bad input: clear errors, the broker lives on
baton_run call queue_push '{"queue":"q","payload":"x","priority":"high"}'
ok $([ $RC -eq 65 ] && printf '%s' "$ERR" | grep -q priority; echo $?) "a bad priority: exit 65 naming it"
baton_run call queue_claim '{"queue":"q","lease_seconds":0}'
ok $([ $RC -eq 65 ] && printf '%s' "$ERR" | grep -q lease_seconds; echo $?) "lease_seconds 0 is refused"
baton_run call queue_finish '{"id":999999,"lease_token":"x"}'
is "$(printf '%s' "$OUT" | json .finished)" false "finishing an unknown item: finished false"
ok $(broker_alive; echo $?) "the broker is alive"
done_testing
