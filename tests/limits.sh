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

stop_broker
done_testing
