#!/bin/sh
# Restored notes (issue 15): a restore sizes the notes' table for the rows
# it brings and keeps each restored value inside its note's own
# allocation.  What was written comes back byte for byte, of every kind
# and size; a restored note can be rewritten, deleted and can expire like
# any other (its value is not freed apart), and all of it survives the
# next restart as well.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR
start_broker || bail_out "batond did not start"

restart_broker() {
	kill -9 "$BROKER_PID"
	wait_for "! kill -0 $BROKER_PID 2>/dev/null" 5
	start_broker "$@"
}

big=$(awk 'BEGIN { for (i = 0; i < 3000; i++) printf "%c", 97 + i % 26 }')
"$BATON" note set s 'hello, world' >/dev/null
"$BATON" note set e '' >/dev/null
"$BATON" note set o '{"a":[1,2.5,"x",null,true],"b":{"c":"é"}}' --json-value >/dev/null
"$BATON" note set n 42 --json-value >/dev/null
"$BATON" note set big "$big" >/dev/null
"$BATON" note set rewrite one >/dev/null
"$BATON" note set gone doomed >/dev/null
i=0
while [ $i -lt 50 ]; do
	"$BATON" note set "many/$i" "v$i" >/dev/null
	i=$((i + 1))
done
"$BATON" note set ttl short --ttl 3 >/dev/null
restart_broker || bail_out "restart failed"

is "$("$BATON" note get s)" "hello, world" "a restored string is back"
is "$("$BATON" note get e --json | json '[.found, .value] | @json')" '[true,""]' \
    "an empty string is back, found"
is "$("$BATON" note get o --json | jq -c .value)" '{"a":[1,2.5,"x",null,true],"b":{"c":"é"}}' \
    "a map with an array and UTF-8 is back as it was"
is "$("$BATON" note get n --json | json '.value | type')" number "a number stays a number"
is "$("$BATON" note get big)" "$big" "a 3 000-byte value is back byte for byte"
bad=0
for i in 0 17 31 49; do
	[ "$("$BATON" note get "many/$i")" = "v$i" ] || bad=$((bad + 1))
done
is "$bad" 0 "notes written one after another are all back"
is "$("$BATON" note get ttl)" short "a note with a TTL is back before it expires"

"$BATON" note set rewrite two >/dev/null
is "$("$BATON" note get rewrite)" two "a restored note takes a new value"
"$BATON" note set rewrite three >/dev/null
is "$("$BATON" note get rewrite)" three "and another"
baton_run note delete gone
ok "$RC" "a restored note can be deleted" "$ERR"
baton_run note get gone
is "$RC" 1 "and is gone"
wait_for '! "$BATON" note get ttl >/dev/null 2>&1' 10
baton_run note get ttl
is "$RC" 1 "a restored note with a TTL expires"
ok "$(broker_alive && echo 0 || echo 1)" "the broker lives on"

restart_broker || bail_out "second restart failed"
is "$("$BATON" note get rewrite)" three "the rewritten value survives the next restart"
baton_run note get gone
is "$RC" 1 "the deletion too"
is "$("$BATON" note get big)" "$big" "and the untouched restored values"
stop_broker
done_testing
