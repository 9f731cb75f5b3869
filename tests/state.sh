#!/bin/sh
# Notes, counters and events through the CLI with many real processes
# (DESIGN 5.2, 7): collision-free counters, one winner of a
# compare-and-set race, note_wait woken by a write, a delete and a TTL,
# events never missed, values that round trip, exit statuses.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
start_broker || bail_out "batond did not start"
D=$TEST_DIR

# blocked: calls parked in note_wait/event_wait, from status.
blocked() {
	"$BATON" status --json | json .blocked
}

# --- 100 increments from 10 concurrent processes: 1..100, each once ---
: >"$D/values"
t0=$(now_ms)
p=0
while [ $p -lt 10 ]; do
	( i=0
	  while [ $i -lt 10 ]; do
		BATON_AGENT=inc$p "$BATON" counter incr migration >>"$D/values.$p" || echo fail >>"$D/values.$p"
		i=$((i + 1))
	  done ) &
	p=$((p + 1))
done
wait
t1=$(now_ms)
cat "$D"/values.* >"$D/values"
diag "100 concurrent increments from 10 processes: $((t1 - t0)) ms"
is "$(lines "$(cat "$D/values")")" 100 "100 increments answered"
is "$(sort -n "$D/values" | uniq | wc -l | tr -d ' ')" 100 "no value was returned twice"
is "$(sort -n "$D/values" | head -n 1)-$(sort -n "$D/values" | tail -n 1)" "1-100" \
    "the values are exactly 1..100"
is "$("$BATON" counter incr migration --by 0)" 100 "--by 0 reads the final value, 100"
is "$("$BATON" counter incr migration --by -10)" 90 "a negative --by subtracts"
is "$("$BATON" counter incr migration --json | json .value)" 91 "--json gives {value}"

# --- 50 concurrent compare-and-set creations: exactly one wins ---
p=0
while [ $p -lt 50 ]; do
	( BATON_AGENT=cas$p "$BATON" note set owner "agent $p" --if-version 0 --json \
	    >"$D/cas.$p" 2>/dev/null
	  echo $? >"$D/cas.$p.rc" ) &
	p=$((p + 1))
done
wait
won=$(cat "$D"/cas.*[0-9] | json 'select(.written == true) | .version')
is "$(lines "$won")" 1 "50 racers with --if-version 0: exactly one is written"
is "$(grep -lx 0 "$D"/cas.*.rc | wc -l | tr -d ' ')" 1 "the winner exits 0"
is "$(grep -lx 1 "$D"/cas.*.rc | wc -l | tr -d ' ')" 49 "the 49 others exit 1 (conflict)"
is "$(cat "$D"/cas.*[0-9] | json 'select(.written == false) | .current.version' | sort -u)" \
    "$won" "every loser is told the winner's version"
winner=$("$BATON" note get owner --json)
is "$(printf '%s' "$winner" | json .version)" "$won" "note get shows the winning version"
wagent=$(printf '%s' "$winner" | json .author)
is "agent ${wagent#cas}" "$(printf '%s' "$winner" | json .value)" \
    "the value stored is the winner's own, and its author is recorded"
baton_run note set owner "late" --if-version "$won"
ok "$RC" "a compare-and-set at the current version is written"
baton_run note set owner "stale" --if-version "$won"
is "$RC" 1 "a compare-and-set at an old version exits 1"
like "$ERR" "owner is at version [0-9]+, not $won; not written" \
    "and says which version the note is at"

# --- values round trip ---
"$BATON" note set s 'hello, world' >/dev/null
is "$("$BATON" note get s)" "hello, world" "a string value prints as it is"
"$BATON" note set o '{"a":[1,2.5,"x",null,true],"b":{"c":"é"}}' --json-value >/dev/null
is "$("$BATON" note get o --json | jq -c .value)" \
    '{"a":[1,2.5,"x",null,true],"b":{"c":"é"}}' "an object round trips through --json-value"
"$BATON" note set n 42 --json-value >/dev/null
is "$("$BATON" note get n --json | json '.value | type')" number "a number stays a number"
"$BATON" note set ns 42 >/dev/null
is "$("$BATON" note get ns --json | json '.value | type')" string \
    "without --json-value the same text is a string"
"$BATON" note set e '' >/dev/null
is "$("$BATON" note get e --json | json '[.found, .value] | @json')" '[true,""]' \
    "an empty string is a value: found, not absent"
baton_run note get nothing-here
is "$RC" 1 "note get of an absent key exits 1"
like "$ERR" "no note nothing-here" "and says there is no such note"
is "$("$BATON" note get nothing-here --json | json '[.found, .version] | @json')" '[false,0]' \
    "an absent note is found:false, version 0"

# --- namespaces ---
BATON_PROJECT=$D/other baton_run note get s
is "$RC" 1 "a note is invisible from another project"
BATON_PROJECT=$D/other "$BATON" note set global:url http://x >/dev/null
is "$("$BATON" note get global:url)" http://x "a global: note is shared by all projects"

# --- note_wait ---
v=$("$BATON" note get s --json | json .version)
( "$BATON" note wait s --after "$v" -w 20 --json >"$D/w1"; echo $? >"$D/w1.rc"
  now_ms >"$D/w1.t" ) &
wait_for '[ "$(blocked)" = 1 ]' 10
is "$(blocked)" 1 "note wait blocks while the note is unchanged"
t0=$(now_ms)
v2=$("$BATON" note set s 'second')
wait
ms=$(($(cat "$D/w1.t") - t0))
diag "note set to note wait's exit: $ms ms"
is "$(json '[.changed, .value, .version] | @json' <"$D/w1")" "[true,\"second\",$v2]" \
    "a write wakes a waiting note wait with the new value and version"
cmp_ok "$ms" -lt 500 "promptly ($ms ms from the write to the waiter's exit)"
t0=$(now_ms)
out=$("$BATON" note wait s --after "$v" -w 20)
t1=$(now_ms)
is "$out" second "a note wait started after the write returns the value at once"
cmp_ok $((t1 - t0)) -lt 2000 "without waiting ($((t1 - t0)) ms)"
baton_run note wait s --after "$v2" -w 0.3
is "$RC" 1 "a note wait that times out exits 1"
like "$ERR" "timed out" "and says it timed out"
is "$("$BATON" note wait s --after "$v2" -w 0 --json 2>/dev/null | json .changed)" false \
    "--json on a timeout shows changed:false"

( "$BATON" note wait s --after "$v2" -w 20 --json >"$D/w2"; echo $? >"$D/w2.rc" ) &
wait_for '[ "$(blocked)" = 1 ]' 10
baton_run note delete s
ok "$RC" "note delete exits 0 when it deletes"
wait
is "$(json '[.changed, .found] | @json' <"$D/w2")" "[true,false]" "a delete wakes note wait (found:false)"
dv=$(json .version <"$D/w2")
cmp_ok "$dv" -gt "$v2" "the deletion has its own, later version ($dv)"
is "$("$BATON" note wait s --after "$v2" -w 5 --json | json '[.changed, .found, .version] | @json')" \
    "[true,false,$dv]" "a delete between two waits is not missed"
baton_run note wait s --after "$dv" -w 0.2
is "$RC" 1 "after the deletion's version, note wait waits again"
baton_run note delete s
is "$RC" 1 "deleting an absent note exits 1"

# a note wait for a note that does not exist yet (after 0)
( "$BATON" note wait later -w 20 >"$D/w3"; echo $? >"$D/w3.rc" ) &
wait_for '[ "$(blocked)" = 1 ]' 10
"$BATON" note set later ready >/dev/null
wait
is "$(cat "$D/w3")-$(cat "$D/w3.rc")" "ready-0" "note wait KEY waits until KEY exists, then prints it"

# --- TTL: the note disappears on time, and its waiters see it ---
t0=$(now_ms)
tv=$("$BATON" note set temp soon --ttl 1)
like "$("$BATON" note list temp --json | json '.notes[0].expires_in_seconds')" '^(0\.|1$)' \
    "note list shows the time left"
out=$("$BATON" note wait temp --after "$tv" -w 10 --json)
t1=$(now_ms)
is "$(printf '%s' "$out" | json '[.changed, .found] | @json')" "[true,false]" \
    "a TTL note disappears and wakes its waiters"
[ $((t1 - t0)) -ge 900 ] && [ $((t1 - t0)) -lt 3000 ]
ok $? "after its TTL ($((t1 - t0)) ms for --ttl 1)" "want 900 <= ms < 3000"
baton_run note get temp
is "$RC" 1 "the expired note is gone"

# --- note list ---
for k in list/b list/a list/c; do "$BATON" note set $k x >/dev/null; done
is "$("$BATON" note list list/ --json | json '[.notes[].key] | join(",")')" \
    "list/a,list/b,list/c" "note list PREFIX lists in key order"
is "$("$BATON" note list list/ --limit 2 --json | json '[.count, .more] | @json')" \
    "[2,true]" "--limit cuts the list and says there is more"
like "$("$BATON" note list list/)" "^KEY +VERSION +AUTHOR" "note list prints a table for people"

# --- events ---
g=$("$BATON" event signal built)
is "$g" 1 "the first signal is generation 1"
t0=$(now_ms)
is "$("$BATON" event wait built -w 10)" 1 "a signal before event wait (after 0) returns at once"
t1=$(now_ms)
cmp_ok $((t1 - t0)) -lt 2000 "without waiting ($((t1 - t0)) ms)"
"$BATON" event signal built '{"sha":"abc"}' --json-value >/dev/null
out=$("$BATON" event wait built --after 1 -w 10 --json)
is "$(printf '%s' "$out" | json '[.fired, .generation, .payload.sha] | @json')" '[true,2,"abc"]' \
    "a signal between two waits is not missed, and carries its payload"
( "$BATON" event wait built --after 2 -w 20 >"$D/e1"; echo $? >"$D/e1.rc" ) &
( "$BATON" event wait built --after 2 -w 20 >"$D/e2"; echo $? >"$D/e2.rc" ) &
wait_for '[ "$(blocked)" = 2 ]' 10
"$BATON" event signal built >/dev/null
wait
is "$(cat "$D/e1")/$(cat "$D/e2")/$(cat "$D/e1.rc")$(cat "$D/e2.rc")" "3/3/00" \
    "a signal wakes every waiter"
baton_run event wait built --after 3 -w 0.2
is "$RC" 1 "event wait exits 1 on timeout"
baton_run event wait never -w 0.2
is "$RC" 1 "an event never signaled times out"

# --- bad input and bounds ---
baton_run note set x '{bad' --json-value
is "$RC" 65 "an invalid --json-value is bad data (65)"
baton_run note set x
is "$RC" 64 "note set without a value is a usage error (64)"
baton_run note get x --frobnicate
is "$RC" 64 "an unknown option is a usage error (64)"
baton_run counter incr c --by nope
is "$RC" 64 "--by takes a number"
head -c 70000 /dev/zero | tr '\0' a >"$D/big"
baton_run note set big "$(cat "$D/big")"
is "$RC" 65 "a value over 64 KiB is refused (65)"
like "$ERR" "value is larger than 65536 bytes" "naming the value and the bound"
baton_run note set "$(head -c 257 /dev/zero | tr '\0' k)" v
is "$RC" 65 "a key over 256 bytes is refused"
baton_run --no-autostart -S "$D/none/sock" note get x
is "$RC" 69 "no broker: 69"

broker_alive
ok $? "the broker survived all of it"

# --- kill -9 and restart: what was acknowledged is still there ---
"$BATON" note set kept '{"k":[1,2]}' --json-value >/dev/null
"$BATON" note set soon-gone x >/dev/null
gv=$("$BATON" note set doomed x)
"$BATON" note delete doomed
"$BATON" note set short y --ttl 1 >/dev/null
cv=$("$BATON" counter incr migration)
ev=$("$BATON" event signal built '"payload"' --json-value)
kill -9 "$BROKER_PID"
wait_for "! kill -0 $BROKER_PID 2>/dev/null" 10
sleep 1.1 # let the TTL of "short" pass while the broker is down
start_broker || bail_out "batond did not restart"
is "$("$BATON" note get kept --json | jq -c .value)" '{"k":[1,2]}' "a note survives kill -9"
is "$("$BATON" counter incr migration)" $((cv + 1)) "a counter goes on from its value after kill -9"
is "$("$BATON" event wait built --after $((ev - 1)) -w 5 --json | jq -c '[.generation, .payload]')" \
    "[$ev,\"payload\"]" "an event keeps its generation and payload"
is "$("$BATON" note wait doomed --after "$gv" -w 5 --json | json '[.changed, .found] | @json')" \
    "[true,false]" "a deletion before the crash still wakes a note wait"
baton_run note get short
is "$RC" 1 "a note whose TTL passed while the broker was down is gone"
stop_broker
done_testing
