#!/bin/sh
# Every answer comes, and the broker's memory stays bounded (issue 12):
# an answer over the frame limit is an error that says how to ask for
# less; lists are paged.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR
start_broker || bail_out "batond did not start"

# --- an answer over the frame limit is an error, never silence ---
# One session holds 5 120 locks of 250-byte names: its row of agent_list
# alone is over 1 MiB.
mcp_start 1 hoarder
pad=$(printf '%0240d' 0)
i=0
while [ $i -lt 160 ]; do
	names=$(seq -f "\"h$i-%03g-$pad\"" 1 32 | paste -sd, -)
	mcp_call 1 $((i + 10)) lock_acquire "{\"names\":[$names]}"
	i=$((i + 1))
done
is "$(mcp_result 1 169 | json .acquired)" true "set-up: one session holds 5 120 locks of 250-byte names"
baton_run call agent_list '{}'
[ "$RC" -ne 124 ]
ok $? "agent_list with that session answers (no hang)"
if [ "$RC" -eq 0 ]; then
	pass "its row fits in a frame" # the row's lock names became bounded
else
	like "$ERR" "over the frame limit of 1048576 bytes.*ask for less" \
	    "an answer over the frame limit is an error naming the limit and how to ask for less"
fi
exec 3>&-
wait_for '[ "$("$BATON" status --json | json .locks)" = 0 ]' 10

# --- agent_list is paged: 10 001 sessions ---
hold_start 1 conns 10001 || bail_out "10 001 sessions could not be opened"
baton_run call agent_list '{}'
is "$RC/$(printf '%s' "$OUT" | json '.count')/$(printf '%s' "$OUT" | json '.more')" 0/100/true \
    "agent_list with 10 001 sessions: a first page of 100 (the default), more: true"
after=
pages=0
: >"$D/agents"
while [ $pages -lt 20 ]; do
	OUT=$("$BATON" call agent_list "{\"limit\":1000,\"after\":\"$after\"}") || break
	pages=$((pages + 1))
	printf '%s' "$OUT" | json '.agents[] | select(.client == "wire") | .session' >>"$D/agents"
	[ "$(printf '%s' "$OUT" | json .more)" = true ] || break
	after=$(printf '%s' "$OUT" | json '.agents[-1].session')
done
is "$(sort -u "$D/agents" | wc -l | tr -d ' ')/$pages" 10001/11 \
    "paging with limit 1000 and after = the last session lists each of them once, in 11 pages"
is "$(tr -d s <"$D/agents" | sort -nc 2>&1 && echo sorted)" sorted "in session order"
baton_run call agent_list '{"after":"T5"}'
like "$RC:$ERR" "^65:.*after.*session id" "an after that is no session id is refused, naming the field"
hold_stop 1
wait_for '[ "$("$BATON" status --json | json .sessions)" = 1 ]' 20

# --- note_list is paged ---
i=0
while [ $i -lt 250 ]; do
	printf '{"key":"page/%03d","value":%d}\n' $i $i
	i=$((i + 1))
done | while IFS= read -r args; do "$BATON" call note_set "$args" >/dev/null || exit 1; done
ok $? "set-up: 250 notes under page/"
"$BATON" call note_set '{"key":"other","value":1}' >/dev/null
after=
: >"$D/notes"
shape=
while :; do
	OUT=$("$BATON" call note_list "{\"prefix\":\"page/\",\"after\":\"$after\"}") || break
	shape="$shape $(printf '%s' "$OUT" | json '"\(.count):\(.more)"')"
	printf '%s' "$OUT" | json '.notes[].key' >>"$D/notes"
	[ "$(printf '%s' "$OUT" | json .more)" = true ] || break
	after=$(printf '%s' "$OUT" | json '.notes[-1].key')
done
is "$shape" " 100:true 100:true 50:false" "note_list pages of 100 (the default): more until the last"
is "$(sort -u "$D/notes" | wc -l | tr -d ' ')" 250 "the pages hold every note under the prefix once"
is "$(sort -c "$D/notes" 2>&1 && echo sorted)" sorted "in key order"
baton_run note list page/ --limit 2 --after page/200
is "$(printf '%s' "$OUT" | awk 'NR > 1 { print $1 }' | paste -sd' ' -)/$ERR" \
    "page/201 page/202/baton: more notes match: the next page is note list page/ --after 'page/202'" \
    "baton note list --limit --after shows a page and says how to get the next"

stop_broker
done_testing
