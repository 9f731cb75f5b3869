#!/bin/sh
# Presence, messages and discussions with many real processes (DESIGN
# 5.3, 5.4, 7): presence that ends with a SIGKILL, TTL registrations,
# role addressing, a blocked inbox woken by a send (measured), cursors
# that never skip or repeat, cursor_expired past retention, read state,
# and a discussion from start to a refused late reply.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
start_broker --message-retention 300 || bail_out "batond did not start"
D=$TEST_DIR

# agents_json: agent_list as JSON.
agents_json() {
	"$BATON" agents --json
}

# present NAME: is NAME listed by agent_list?
present() {
	[ "$(agents_json | json "[.agents[] | select(.agent == \"$1\")] | length")" -gt 0 ]
}

# blocked: calls parked in the broker.
blocked() {
	"$BATON" call status | json .blocked
}

# inbox_bg NAME ROLE FILE [SECONDS]: a blocked inbox of NAME in the background
# (its session is NAME's presence); sets BG.
inbox_bg() {
	BATON_AGENT=$1 BATON_ROLE=$2 "$BATON" msg inbox --json -w "${4:-30}" >"$D/$3" 2>"$D/$3.err" &
	BG=$!
	_bg_pids="$_bg_pids $BG"
}

# --- presence: live sessions with names and roles ---
b0=$(blocked)
inbox_bg imp1 implementer imp1.out; imp1=$BG
inbox_bg imp2 implementer imp2.out; imp2=$BG
inbox_bg plan planner plan.out 60; plan=$BG
wait_for '[ "$(blocked)" -ge $((b0 + 3)) ]' 10
is "$(agents_json | json '[.agents[] | select(.connected and (.agent | startswith("cli-") | not)) | "\(.agent):\(.role)"] | sort | join(" ")')" \
    "imp1:implementer imp2:implementer plan:planner" \
    "agent_list shows every live session with its name and role"
is "$(agents_json | json "[.agents[] | select(.agent == \"imp1\") | .pid] | .[0]")" "$imp1" \
    "agent_list gives each session's pid"

# --- role addressing: both implementers, not the planner ---
out=$("$BATON" --agent boss msg send --json role:implementer "build the parser" --subject parser)
is "$(printf '%s' "$out" | json '.recipients | sort | join(",")')" "imp1,imp2" \
    "message_send to role:implementer names both implementers as recipients"
wait $imp1; wait $imp2
is "$(json '.messages[0].body' <"$D/imp1.out")/$(json '.messages[0].body' <"$D/imp2.out")" \
    "build the parser/build the parser" "both blocked implementer inboxes receive it"
is "$(json '.messages[0].subject' <"$D/imp1.out")" parser "subject and from are kept"
kill -0 $plan 2>/dev/null && [ ! -s "$D/plan.out" ]
ok $? "the planner's blocked inbox does not wake for role:implementer" \
    "its output: $(cat "$D/plan.out" "$D/plan.out.err")"

# --- presence ends at once when a process is SIGKILLed ---
present plan
ok $? "the planner is present while its process lives" "$(agents_json)"
t0=$(now_ms)
kill -9 $plan
wait_for '! present plan' 10
t1=$(now_ms)
! present plan
ok $? "SIGKILL: the planner's presence is gone ($((t1 - t0)) ms, polled every 50 ms)" "$(agents_json)"
diag "presence gone $((t1 - t0)) ms after SIGKILL"

# --- a blocked inbox wakes within 100 ms of the send ---
b0=$(blocked)
# the time is taken when the answer's line arrives, before the client exits
( BATON_AGENT=lat "$BATON" msg inbox --json -w 30 |
  { IFS= read -r l; date +%s%N >"$D/lat.t"; printf '%s\n' "$l" >"$D/lat.out"; cat >/dev/null; } ) &
lat=$!
wait_for '[ "$(blocked)" -ge $((b0 + 1)) ]' 10
t0=$(date +%s%N)
"$BATON" --agent boss msg send lat "ping" >/dev/null
wait $lat
t1=$(cat "$D/lat.t")
at=$(date -d "$(json '.messages[0].at' <"$D/lat.out")" +%s%N)
ms=$(((t1 - at) / 1000000))
diag "send -> blocked inbox answered: $ms ms after the broker took the message," \
    "$(((t1 - t0) / 1000000)) ms after the sender started"
cmp_ok "$ms" -lt 100 "a blocked message_inbox wakes within 100 ms of message_send ($ms ms)"
is "$(json '.messages[0].body' <"$D/lat.out")" ping "and returns the message"

# --- TTL registrations outlive the connection, then lapse ---
# t0 before the join: the TTL runs from the join, which cannot come
# earlier (taken after the CLI's exit, t0 was late by as long as a busy
# machine took to run it and `date`, which the bound had to guess)
t0=$(now_ms)
"$BATON" call agent_join '{"name":"ttl1","role":"reviewer","ttl_seconds":1}' >/dev/null
is "$(agents_json | json '[.agents[] | select(.agent == "ttl1") | "\(.connected):\(.role)"] | join(" ")')" \
    "false:reviewer" "a TTL registration stays listed after its CLI exited (connected:false)"
wait_for '! present ttl1' 10
t1=$(now_ms)
[ $((t1 - t0)) -ge 900 ] && ! present ttl1
ok $? "it lapses after its TTL ($((t1 - t0)) ms for 1 s)" "want >= 900 ms; agents: $(agents_json)"
"$BATON" call agent_join '{"name":"ttl2","ttl_seconds":2}' >/dev/null
"$BATON" call agent_join '{"name":"ttl2","ttl_seconds":60}' >/dev/null
e=$(agents_json | json '[.agents[] | select(.agent == "ttl2") | .expires_in_seconds] | .[0] | floor')
[ "$e" -ge 50 ] && [ "$(agents_json | json '[.agents[] | select(.agent == "ttl2")] | length')" = 1 ]
ok $? "joining again under the name renews the registration (expires in ${e}s, listed once)" \
    "$(agents_json)"
baton_run call agent_join '{"name":"all"}'
is "$RC" 65 "\"all\" cannot be an agent name (exit 65)"

# --- cursors never skip or repeat: 200 messages from 4 senders, in pages ---
: >"$D/sent"
for s in 1 2 3 4; do
	( i=0
	  while [ $i -lt 50 ]; do
		"$BATON" --agent sender$s msg send --json reader "m$s-$i" | json .id >>"$D/sent.$s"
		[ $((i % 5)) = 0 ] && "$BATON" --agent sender$s msg send other "noise" >/dev/null
		i=$((i + 1))
	  done ) &
done
cursor=""
: >"$D/got"
pages=0
while [ $pages -lt 200 ]; do
	if [ -z "$cursor" ]; then a='{"limit":7}'; else a="{\"limit\":7,\"after\":$cursor}"; fi
	r=$(BATON_AGENT=reader "$BATON" call message_inbox "$a") || break
	printf '%s' "$r" | json '.messages[].id' >>"$D/got"
	cursor=$(printf '%s' "$r" | json .cursor)
	pages=$((pages + 1))
	[ "$(lines "$(cat "$D/got")")" -ge 200 ] && break
	# while senders run, wait for more mail instead of polling
	[ "$(printf '%s' "$r" | json '.messages | length')" = 0 ] &&
	    BATON_AGENT=reader "$BATON" call message_inbox "{\"after\":$cursor,\"wait_seconds\":5,\"limit\":1}" >/dev/null
done
wait
r=$(BATON_AGENT=reader "$BATON" call message_inbox "{\"after\":$cursor}")
printf '%s' "$r" | json '.messages[].id' >>"$D/got"
cat "$D"/sent.* | sort -n >"$D/sent"
is "$(lines "$(cat "$D/got")")" 200 "200 messages read in $pages pages of 7 with after=cursor"
is "$(sort -n "$D/got" | uniq | wc -l | tr -d ' ')" 200 "no message is repeated"
sort -n -c "$D/got" 2>/dev/null
ok $? "ids come in increasing order" "$(sort -n -c "$D/got" 2>&1)"
same_file "$D/got" "$D/sent" "exactly the ids the senders got back, none skipped (nor the 40 to others)"

# --- read state: ack, unread_only ---
r=$(BATON_AGENT=reader "$BATON" call message_ack "{\"up_to\":$cursor}")
is "$(printf '%s' "$r" | json '"\(.acked) \(.unread)"')" "200 0" "message_ack up_to the cursor marks all 200 read"
"$BATON" --agent boss msg send reader "new one" >/dev/null
r=$(BATON_AGENT=reader "$BATON" call message_inbox '{"unread_only":true}')
is "$(printf '%s' "$r" | json '[.messages[].body] | join(",")')" "new one" \
    "unread_only returns only what was not acked, also without a cursor"

# --- cursor_expired past retention (--message-retention 300) ---
old=$cursor
i=0
while [ $i -lt 310 ]; do
	"$BATON" --agent boss msg send other "filler $i" >/dev/null
	i=$((i + 1))
done
baton_run --agent reader call message_inbox "{\"after\":$old}"
is "$RC" 65 "an inbox cursor older than retention fails (exit 65)"
like "$ERR" "no longer retained.*without after" "the error says how to recover"
wire_run call message_inbox after="$old"
is "$(printf '%s' "$WIRE_RES" | json .e.code)" cursor_expired "its code is cursor_expired"
baton_run --agent reader call message_inbox '{}'
is "$RC" 0 "calling without after recovers"

# --- discussions: start -> inbox -> reply -> resolve -> late reply refused ---
b0=$(blocked)
inbox_bg dev implementer dev.out 30; dev=$BG
wait_for '[ "$(blocked)" -ge $((b0 + 1)) ]' 10
r=$("$BATON" --agent lead discuss start --json "Which database?" "postgres or sqlite?" \
    --waiting-on dev --category design --priority high)
did=$(printf '%s' "$r" | json .id)
tok=$(printf '%s' "$r" | json .token)
is "$did" D1 "discussion_start gives D1"
wait $dev
is "$(json '[.discussions[] | "\(.id):\(.topic)"] | join(",")' <"$D/dev.out")" "D1:Which database?" \
    "the blocked inbox of the agent it waits on wakes and lists the discussion"
is "$(json '.messages[0].thread' <"$D/dev.out")" D1 "and carries the opening message in thread D1"
r=$("$BATON" --agent dev discuss reply --json D1 "sqlite: one file, no server")
is "$(printf '%s' "$r" | json '"\(.replies) \(.waiting_on)"')" "2 lead" \
    "a reply by the one asked hands the discussion back to whoever started it"
baton_run --agent dev discuss resolve D1 "sqlite"
is "$RC" 77 "resolving without the token from another session is refused (exit 77)"
r=$("$BATON" --agent dev discuss resolve --json D1 "sqlite" --reasoning "simplest" --task T9 --token "$tok")
is "$(printf '%s' "$r" | json '"\(.status) \(.decided_by)"')" "resolved dev" \
    "discussion_resolve with the token records the decision and decided_by"
baton_run --agent dev discuss reply D1 "one more thing"
is "$RC" 1 "replying to a resolved discussion fails (exit 1)"
like "$ERR" "D1 is resolved.*start a new discussion" "and says it is resolved"
r=$("$BATON" discuss show --json D1)
is "$(printf '%s' "$r" | json '"\(.replies | length) \(.resolution.decision) \(.resolution.reasoning) \(.resolution.linked_task)"')" \
    "2 sqlite simplest T9" "discussion_get shows the thread and the resolution"
is "$("$BATON" discuss list --json --status resolved | json '[.discussions[].id] | join(",")')" D1 \
    "discussion_list filters by status"
like "$("$BATON" --agent lead msg inbox 2>/dev/null)" "D1 resolved: Which database" \
    "whoever started it gets a message when it is resolved"

# --- bounds ---
baton_run msg send "role:" x
is "$RC" 65 "an empty role address is refused (exit 65)"
head -c 65537 /dev/zero | tr '\0' a >"$D/big"
baton_run call message_send "{\"to\":\"x\",\"body\":\"$(cat "$D/big")\"}"
is "$RC" 65 "a body over 64 KiB is refused (exit 65)"

# --- discussion_list pages (issue 12 item 3: 500 decisions of 8 KiB passed a frame) ---
for t in one two three; do
	"$BATON" call discussion_start "{\"topic\":\"page $t\",\"message\":\"m\"}" >/dev/null
done
p1=$("$BATON" call discussion_list '{"status":"all","limit":2}')
is "$(printf '%s' "$p1" | json '([.discussions[].topic] | join(",")) + ":" + (.more | tostring)')" \
    "page three,page two:true" "discussion_list {limit: 2}: the two newest, and more"
p2=$("$BATON" call discussion_list "{\"status\":\"all\",\"limit\":2,\"after\":\"$(printf '%s' "$p1" | json .cursor)\"}")
is "$(printf '%s' "$p2" | json '.discussions[0].topic')" "page one" "after = cursor: the older ones"
baton_run call discussion_list '{"after":"x"}'
is "$RC" 65 "a cursor that is no discussion id is refused"

stop_broker
ok $? "batond stops on SIGTERM"
done_testing
