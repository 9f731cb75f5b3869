#!/bin/sh
# Presence and messages of a shared project across hosts (batond
# --backend etcd, DESIGN 15; batond(8) "Shared projects"): a 3-member
# etcd cluster on loopback and two batond processes on it as hosts A and
# B, driven by real baton and wire processes:
#   - agents joined on A and on B see each other in agent_list, from
#     either host; a name joined on one host is refused on the other;
#     a session's end removes its agent at once;
#   - a message from A to an agent on B wakes B's blocked message_inbox;
#     to a role and to all as locally;
#   - many senders on both hosts to one inbox, read meanwhile by a
#     blocked reader on its cursor: nothing lost, nothing twice;
#   - message_ack on one host is the read state on the other;
#   - discussions across hosts: numbers unique, notices wake an inbox,
#     resolving needs the token or the session;
#   - retention (--message-retention) enforced in etcd: the oldest go,
#     a cursor behind them is cursor_expired;
#   - kill -9 of the etcd leader while both hosts send: every
#     acknowledged message is delivered, once;
#   - kill -9 of batond B: B's agents leave A's agent_list after the TTL.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
. "${TOP_SRCDIR:-..}/tests/etcd-lib.sh"
need_jq
etcd_need
broker_dir
D=$TEST_DIR
TTL=3
RETAIN=100
trap 'etcd_cluster_stop; cleanup' EXIT

etcd_cluster_start "$D/etcd" || bail_out "etcd did not start: $(tail -5 "$D/etcd/m1.log")"

# on H ARGS...: baton ARGS as a client of host H in the shared project
# (as agent $AS in role $ROLE when set).
on() {
	_h=$1
	shift
	BATON_AGENT=${AS:-cli-$$} BATON_ROLE=${ROLE:-} BATON_SOCKET="$D/$_h/run/sock" \
	    BATON_PROJECT="$D/p$_h" "$BATON" "$@"
}

# agents H: the agents host H lists, "name@role" sorted, space-separated.
agents() {
	on "$1" call agent_list '{}' | json '[.agents[] | "\(.agent)@\(.role)"] | sort | join(" ")'
}

# etcd_watches H: the watch streams host H has open (a waiter parked on etcd).
etcd_watches() {
	on $1 status --json | json .shared.watches
}

etcd_host_start "$D" A --etcd-ttl $TTL --message-retention $RETAIN
etcd_host_start "$D" B --etcd-ttl $TTL --message-retention $RETAIN

# --- presence ----------------------------------------------------------

join A alpha planner
like "$(cat "$D/alpha.out")" '"agent":"alpha"' "alpha joined on A"
join B beta reviewer
like "$(cat "$D/beta.out")" '"agent":"beta"' "beta joined on B"
is "$(agents A)" "alpha@planner beta@reviewer" "A lists the agents of both hosts"
is "$(agents B)" "alpha@planner beta@reviewer" "so does B"
out=$(on A call agent_list '{"role":"reviewer"}')
is "$(echo "$out" | json '[.agents[].agent] | join(" ")')/$(echo "$out" | json '.agents[0].host')" \
    "beta/$(hostname)" "agent_list's role filter across hosts; each row names its host"

out=$(AS=x on A call agent_join '{"name":"beta"}' 2>&1)
rc=$?
ok $([ $rc != 0 ] && echo 0 || echo 1) "joining as beta on A while beta is on B is refused (exit $rc)"
like "$out" "agent name 'beta' is taken in this shared project: session s[0-9]+ .* on host" \
    "naming the session and host that hold it"
out=$(AS=x on A call agent_join '{"name":"t1","ttl_seconds":60}' 2>&1)
rc=$?
like "$rc:$out" "^65:.*presence lives with the session's etcd lease; join without ttl_seconds" \
    "ttl_seconds is refused in a shared project, saying why (exit 65)"
out=$(on B call agent_list '{"after":"s1"}' 2>&1)
like "$out" "answers in one page .*; after is not served there" \
    "agent_list's after is refused there, saying why"

# Eight sessions, four per host, join one free name at once: one wins.
i=0
while [ $i -lt 8 ]; do
	if [ $((i % 2)) = 0 ]; then h=A; else h=B; fi
	hold $h race$i same
	i=$((i + 1))
done
races_held() {
	for _r in 0 1 2 3 4 5 6 7; do
		held race$_r || return 1
	done
}
wait_for races_held 15
won=$(cat "$D"/race?.out | grep -c '"agent":"same"')
is "$won" 1 "eight joins of one name from two hosts at once: one holds it"
like "$(cat "$D"/race?.out)" "is taken in this shared project" "the others are told it is taken"
is "$(on B call agent_list '{}' | json '[.agents[].agent] | map(select(. == "same")) | length')" 1 \
    "agent_list shows it once"
i=0
while [ $i -lt 8 ]; do
	unhold race$i
	i=$((i + 1))
done
wait_for '[ "$(agents A)" = "alpha@planner beta@reviewer" ]' 10
is "$(agents A)" "alpha@planner beta@reviewer" "its session ended: the name is free again"

# --- messages ----------------------------------------------------------

# A message from A to beta wakes beta's blocked inbox on B.
c0=$(AS=beta on B call message_inbox '{}' | json .cursor)
(AS=beta on B call message_inbox "{\"after\":$c0,\"wait_seconds\":20}" >"$D/wake") &
w=$!
wait_for '[ "$(etcd_watches B)" -ge 1 ]' 10
t0=$(now_ms)
out=$(AS=alpha on A call message_send '{"to":"beta","subject":"hi","body":"from A","thread":"T1"}')
wait $w
dt=$(($(now_ms) - t0))
is "$(echo "$out" | json '.recipients | join(" ")')" beta "message_send on A names beta (on B) as reached"
is "$(json '.messages | length' <"$D/wake")/$(json '.messages[0].body' <"$D/wake")/$(json '.messages[0].from' <"$D/wake")/$(json '.messages[0].subject' <"$D/wake")/$(json '.messages[0].thread' <"$D/wake")" \
    "1/from A/alpha/hi/T1" "beta's blocked inbox on B got it, with its fields"
is "$(json '.messages[0].id' <"$D/wake")" "$(echo "$out" | json .id)" "under the id message_send answered"
ok $([ $dt -lt 3000 ] && echo 0 || echo 1) "at once ($dt ms)"

out=$(AS=alpha on A call message_send '{"to":"role:reviewer","body":"review please"}')
is "$(echo "$out" | json '.recipients | join(" ")')" beta "to role:reviewer reaches beta on B"
out=$(AS=beta on B call message_send '{"to":"all","body":"hello all"}')
is "$(echo "$out" | json '.recipients | join(" ")')" alpha "to all from beta reaches alpha, not beta"
ROLE=reviewer
out=$(AS=beta on B call message_inbox '{"unread_only":true}')
is "$(echo "$out" | json '[.messages[].body] | join(",")')/$(echo "$out" | json .unread)" \
    "from A,review please/2" "beta's unread mail: its own, its role's; not its own to all"
out=$(AS=alpha on A call message_inbox '{}')
is "$(echo "$out" | json '[.messages[].body] | join(",")')" "hello all" "alpha on A reads beta's mail to all"

# acks across hosts: beta acks on A what it read on B.
id1=$(AS=beta on B call message_inbox '{}' | json '.messages[0].id')
out=$(AS=beta on A call message_ack "{\"ids\":[$id1]}")
is "$(echo "$out" | json .acked)/$(echo "$out" | json .unread)" 1/1 "beta acks one message on A: one left unread"
out=$(AS=beta on B call message_inbox '{}')
is "$(echo "$out" | json '[.messages[].read] | join(",")')/$(echo "$out" | json .unread)" \
    "true,false/1" "B's inbox shows it read"
cur=$(echo "$out" | json .cursor)
out=$(AS=beta on B call message_ack "{\"up_to\":$cur}")
is "$(echo "$out" | json .acked)/$(echo "$out" | json .unread)" 1/0 "up_to the cursor acks the rest"
is "$(AS=beta on A call message_ack "{\"up_to\":$cur}" | json .acked)" 0 "acking again acks nothing"
ROLE=

# --- discussions ------------------------------------------------------

# alpha on A starts one waiting on beta: beta's blocked inbox on B wakes
# with the notice and lists it; beta's reply waits on alpha again.
c1=$(AS=beta on B call message_inbox '{}' | json .cursor)
(AS=beta on B call message_inbox "{\"after\":$c1,\"wait_seconds\":20}" >"$D/dwake") &
w=$!
wait_for '[ "$(etcd_watches B)" -ge 1 ]' 10
out=$(AS=alpha on A call discussion_start '{"topic":"schema?","message":"v1 or v2","waiting_on":"beta","category":"design"}')
d1=$(echo "$out" | json .id)
tok=$(echo "$out" | json .token)
wait $w
is "$d1/$(echo "$out" | json .waiting_on)" D1/beta "discussion_start on A: D1, waiting on beta"
is "$(json '.messages[0].thread' <"$D/dwake")/$(json '.messages[0].subject' <"$D/dwake")/$(json '.discussions[0].id' <"$D/dwake")/$(json '.discussions[0].topic' <"$D/dwake")" \
    "D1/D1 waits on you: schema?/D1/schema?" "beta's blocked inbox on B woke with its notice and lists D1"
out=$(AS=beta on B call discussion_reply '{"id":"D1","message":"v2"}')
is "$(echo "$out" | json .replies)/$(echo "$out" | json .waiting_on)" 2/alpha \
    "beta replies on B: two messages, waiting on alpha again"
out=$(AS=alpha on A call discussion_get '{"id":"d1"}')
is "$(echo "$out" | json '[.replies[] | "\(.who):\(.text)"] | join(",")')/$(echo "$out" | json .category)" \
    "alpha:v1 or v2,beta:v2/design" "discussion_get on A shows the thread"
is "$(AS=alpha on A call message_inbox '{}' | json '.discussions[0].id')" D1 "alpha's inbox lists D1 now"
out=$(AS=beta on B call discussion_resolve '{"id":"D1","decision":"v2"}' 2>&1)
like "$out" "resolving it needs the token" "resolve from another session without the token is refused"
out=$(AS=beta on B call discussion_resolve "{\"id\":\"D1\",\"decision\":\"v2\",\"reasoning\":\"smaller\",\"token\":\"$tok\"}")
is "$(echo "$out" | json .status)/$(echo "$out" | json .decided_by)" resolved/beta "with the token, from B: resolved"
out=$(AS=alpha on A call message_inbox '{"unread_only":true}')
is "$(echo "$out" | json '[.messages[] | select(.thread == "D1") | .subject] | join(",")')/$(echo "$out" | json '.discussions | length')" \
    "D1 reply: schema?,D1 resolved: schema?/0" "alpha on A was told of the reply and the decision; nothing waits on it"
out=$(AS=alpha on A call discussion_reply '{"id":"D1","message":"late"}' 2>&1)
like "$out" "D1 is resolved \(by beta: v2\)" "a resolved discussion takes no reply"
out=$(AS=x on A call discussion_get '{"id":"D9"}' 2>&1)
like "$out" "no discussion D9" "an unknown id is not_found"
# starts from both hosts at once: distinct numbers
: >"$D/dids"
starters=
i=0
while [ $i -lt 10 ]; do
	if [ $((i % 2)) = 0 ]; then h=A; else h=B; fi
	(AS=p$i on $h call discussion_start "{\"topic\":\"t$i\",\"message\":\"m\"}" |
	    json .id >>"$D/dids") &
	starters="$starters $!"
	i=$((i + 1))
done
wait $starters
is "$(sort -u "$D/dids" | wc -l | tr -d ' ')/$(sort -t D -k2 -n "$D/dids" | tail -1)" 10/D11 \
    "ten discussion_starts from two hosts at once: D2 to D11, each once"
out=$(AS=x on B call discussion_list '{"status":"all","limit":4}')
is "$(echo "$out" | json '[.discussions[].id] | join(",")')/$(echo "$out" | json .more)" \
    "D11,D10,D9,D8/true" "discussion_list on B: newest first, a page of 4"
out=$(AS=x on A call discussion_list "{\"status\":\"resolved\",\"after\":\"$(echo "$out" | json .cursor)\"}")
is "$(echo "$out" | json '[.discussions[] | "\(.id):\(.decision)"] | join(",")')" "D1:v2" \
    "its cursor on A, resolved only: D1 and its decision"

# A wait with no mail answers at its end, with a cursor that skips nothing.
c2=$(AS=zeta on A call message_inbox '{}' | json .cursor)
t0=$(now_ms)
out=$(AS=zeta on A call message_inbox "{\"after\":$c2,\"wait_seconds\":1}")
dt=$(($(now_ms) - t0))
is "$(echo "$out" | json '.messages | length')/$(echo "$out" | json '.cursor >= '"$c2")" 0/true \
    "an inbox wait with no mail answers empty, its cursor not behind"
ok $([ $dt -ge 900 ] && [ $dt -lt 5000 ] && echo 0 || echo 1) "after its wait_seconds ($dt ms)"

# Bad input: a clear error naming the field.
out=$(AS=alpha on A call message_send '{"to":"a b","body":"x"}' 2>&1)
like "$out" "to must be an agent name, role:ROLE or all" "a bad address is refused"
big=$(head -c 65537 /dev/zero | tr '\0' x)
out=$(AS=alpha on A call message_send "{\"to\":\"beta\",\"body\":\"$big\"}" 2>&1)
rc=$?
ok $([ $rc != 0 ] && echo 0 || echo 1) "a body past 64 KiB is refused (exit $rc)"
like "$out" "body" "naming body"

# Many senders on both hosts to one inbox, read meanwhile by a blocked
# reader following its cursor: every message once.
cat >"$D/reader.sh" <<'EOF'
cur=$(AS=gamma on A call message_inbox '{}' | jq -r .cursor)
n=0
while [ $n -lt 80 ]; do
	out=$(AS=gamma on A call message_inbox "{\"after\":$cur,\"wait_seconds\":20}") || exit 1
	echo "$out" | jq -r '.messages[].body' >>"$D/got"
	n=$((n + $(echo "$out" | jq '.messages | length')))
	new=$(echo "$out" | jq -r .cursor)
	[ "$(echo "$out" | jq '.messages | length')" = 0 ] && [ "$new" = "$cur" ] && exit 1
	cur=$new
done
EOF
: >"$D/got"
(. "$D/reader.sh") &
reader=$!
wait_for '[ "$(etcd_watches A)" -ge 1 ]' 10
senders=
i=0
while [ $i -lt 8 ]; do
	if [ $((i % 2)) = 0 ]; then h=A; else h=B; fi
	(
		n=0
		while [ $n -lt 10 ]; do
			AS=s$i on $h call message_send "{\"to\":\"gamma\",\"body\":\"m$i.$n\"}" >/dev/null ||
			    echo "sender $i: message_send failed" >>"$D/send.errors"
			n=$((n + 1))
		done
	) &
	senders="$senders $!"
	i=$((i + 1))
done
wait $senders
wait $reader
is "$(cat "$D/send.errors" 2>/dev/null)" "" "80 sends from 8 senders on two hosts all went through"
is "$(wc -l <"$D/got" | tr -d ' ')/$(sort -u "$D/got" | wc -l | tr -d ' ')" 80/80 \
    "gamma's blocked reader on A got 80 messages, 80 distinct: none lost, none twice"
out=$(AS=gamma on B call message_inbox '{"limit":1000}')
is "$(echo "$out" | json '[.messages[] | select(.to == "gamma")] | length')/$(echo "$out" | json '[.messages[].id] | (. == (sort | unique))')" \
    "80/true" "B's inbox of gamma: the same 80 (and beta's mail to all), in increasing ids"
p1=$(AS=gamma on B call message_inbox '{"limit":30}')
p2=$(AS=gamma on A call message_inbox "{\"limit\":1000,\"after\":$(echo "$p1" | json .cursor)}")
is "$(echo "$p1" | json .more)/$(( $(echo "$p1" | json '.messages | length') + $(echo "$p2" | json '.messages | length') ))" \
    true/81 "a page of 30 on B says more; its cursor on A gives the other 51"

jo=$(AS=gamma on B call agent_join '{"name":"gamma"}')
is "$(echo "$jo" | json .unread)" 81 \
    "gamma joining on B is told of its 81 unread messages (80 and beta's to all)"
like "$(echo "$jo" | json .hint)" \
    "^First read your inbox: 81 unread messages, 0 discussions waiting on you \\(message_inbox\\)\\. 2 other agents present: alpha \\(planner\\), beta \\(reviewer\\)\\." \
    "its hint counts them and names the agents of both hosts"

# Retention: past $RETAIN messages the oldest go, in etcd too (the
# messages before gamma's, then gamma's 5 oldest).
out=$(AS=gamma on B call message_inbox '{"limit":1000}')
first=$(echo "$out" | json '[.messages[] | select(.to == "gamma")][0].id')
n=0
all=$("$ETCDCTL" --endpoints "$ETCD_URLS" get --prefix /baton/p/team/m/ -w json)
total=$(echo "$all" | jq '.kvs | length')
older=$(echo "$all" | jq "[.kvs[] | select(.create_revision < $first)] | length")
while [ $n -lt $((RETAIN - total + older + 5)) ]; do
	AS=alpha on A call message_send "{\"to\":\"delta\",\"body\":\"r$n\"}" >/dev/null
	n=$((n + 1))
done
is "$("$ETCDCTL" --endpoints "$ETCD_URLS" get --prefix /baton/p/team/m/ --keys-only | grep -c .)" \
    $RETAIN "$n more sends: $RETAIN messages kept in etcd"
out=$(AS=gamma on B call message_inbox "{\"after\":$((first - 1))}" 2>&1)
like "$out" "no longer retained" "a cursor behind the oldest kept is refused (cursor_expired)"
is "$(AS=gamma on A call message_inbox '{"limit":1000}' | json '[.messages[].body] | join(" ")')" \
    "$(sed 1,5d "$D/got" | tr '\n' ' ' | sed 's/ $//')" "gamma's 5 oldest went; 75 left"

# --- kill -9 of the etcd leader while both hosts send --------------------

leader=$(etcd_leader)
ok $? "the cluster has a leader (member $leader)"
: >"$D/acked"
: >"$D/send2.errors"
senders=
i=0
while [ $i -lt 4 ]; do
	if [ $((i % 2)) = 0 ]; then h=A; else h=B; fi
	(
		n=0
		while [ $n -lt 20 ]; do
			if AS=f$i on $h call message_send "{\"to\":\"omega\",\"body\":\"f$i.$n\"}" \
			    >/dev/null 2>>"$D/send2.errors"; then
				echo "f$i.$n" >>"$D/acked"
			fi
			n=$((n + 1))
		done
	) &
	senders="$senders $!"
	i=$((i + 1))
done
wait_for '[ "$(wc -l <"$D/acked")" -ge 8 ]' 30
kill -9 "$(etcd_member_pid "$leader")"
before=$(wc -l <"$D/acked" | tr -d ' ')
wait $senders
diag "leader killed after $before of 80 sends"
is "$(cat "$D/send2.errors")" "" "every send went through across the leader's death"
out=$(AS=omega on A call message_inbox '{"limit":1000}')
is "$(echo "$out" | json '[.messages[].body] | sort | join(" ")')" \
    "$(sort "$D/acked" | tr '\n' ' ' | sed 's/ $//')" \
    "omega's inbox holds every acknowledged message, once"
etcd_member_restart "$leader"
wait_for '"$ETCDCTL" --endpoints "$ETCD_URLS" --command-timeout 1s endpoint health \
    >/dev/null 2>&1' 30
ok $? "member $leader is back: three healthy members"

# --- what an agent holds; a session's end, a host's death --------------

# An MCP session on B joins and takes a lock: A's agent_list shows it.
export BATON_SOCKET="$D/B/run/sock" BATON_PROJECT="$D/pB"
mcp_start 1 mu
mcp_call 1 2 agent_join '{"name":"nu","role":"planner"}'
is "$(mcp_result 1 2 | json .agent)" nu "an MCP session on B joins as nu"
mcp_call 1 4 agent_join '{"name":"mu"}'
is "$(mcp_result 1 4 | json .agent)/$(agents A)" "mu/alpha@planner beta@reviewer mu@planner" \
    "joining again as mu: A lists mu (its role kept), nu is gone (one txn)"
mcp_call 1 5 agent_join '{"name":"mu","role":"implementer"}'
is "$(mcp_result 1 5 | json .role)/$(agents A)" \
    "implementer/alpha@planner beta@reviewer mu@implementer" "mu again, as implementer: its own key rewritten"
mcp_call 1 3 lock_acquire '{"name":"db"}'
is "$(mcp_result 1 3 | json .acquired)" true "and takes the shared lock db"
on B lock -w 20 db -- true 3>&- &
waiter=$!
wait_for '[ "$("$ETCDCTL" --endpoints "$ETCD_URLS" get --prefix /baton/p/team/l/ --keys-only | grep -c .)" = 2 ]' 10
out=$(on A call agent_list '{"role":"implementer"}')
is "$(echo "$out" | json '[.agents[] | "\(.agent):\(.locks | join(","))"] | join(" ")')" "mu:db" \
    "A's agent_list shows mu on B holding db (not the waiter behind it)"
exec 3>&-
wait $waiter
ok $? "mu's session ended: the waiter got db"
wait_for '[ "$(on A call agent_list "{\"role\":\"implementer\"}" | json .count)" = 0 ]' 10
is "$(on A call agent_list '{"role":"implementer"}' | json .count)" 0 "and mu left A's agent_list"

t0=$(now_ms)
unhold alpha
wait_for '[ "$(agents B)" = "beta@reviewer" ]' 10
is "$(agents B)" "beta@reviewer" "alpha's session ended: gone from B's agent_list"
dt=$(($(now_ms) - t0))
ok $([ $dt -lt $((TTL * 1000)) ] && echo 0 || echo 1) "at once, not after the TTL ($dt ms)"

kill -9 "$PID_B"
t0=$(now_ms)
wait_for '[ "$(agents A)" = "" ]' $((TTL + 5))
dt=$(($(now_ms) - t0))
is "$(agents A)" "" "batond B killed: beta gone from A's agent_list"
ok $([ $dt -ge 1000 ] && [ $dt -le $(((TTL + 3) * 1000)) ] && echo 0 || echo 1) \
    "when B's lease ran out: $dt ms after the kill (TTL $TTL s)"
unhold beta

done_testing
