#!/bin/sh
# Events for scripts (DESIGN 5.2, issue 13): `baton event wait NAME`
# returns at once once the event was ever signaled, so a loop on it
# spins; `baton event wait --next NAME` waits for the next signal after
# it starts, also past the broker's cap on one wait (it asks again with
# the generation it saw, so a signal in between is not missed).
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
start_broker --max-wait 1 || bail_out "batond did not start"
D=$TEST_DIR

# blocked: calls waiting in the broker.
blocked() {
	"$BATON" status --json | json .blocked
}

is "$("$BATON" event signal built)" 1 "the event is signaled once (generation 1)"
baton_run event wait -w 5 built
is "$RC:$OUT" "0:1" "event wait without --next returns at once: it was signaled before"

"$BATON" event wait --next -w 20 built >"$D/next" 2>&1 &
npid=$!
wait_for '[ "$(blocked)" = 1 ]' 10
is "$(blocked)" 1 "event wait --next blocks although the event was signaled before"
sleep 1.5 # past the broker's 1 s cap: the CLI asks again without losing its place
kill -0 "$npid" 2>/dev/null
ok $? "it still waits past the broker's cap on one wait"
"$BATON" event signal built >/dev/null
wait "$npid"
is "$?:$(cat "$D/next")" "0:2" "the next signal ends it, with the new generation"

baton_run event wait --next -w 0.3 built
is "$RC" 1 "with nothing signaled it times out (exit 1)"
baton_run call event_wait '{"name":"built","next":true,"wait_seconds":0}'
is "$(printf '%s' "$OUT" | json '(.fired | tostring) + ":" + (.generation | tostring)')" \
    "false:2" "event_wait {next: true} does not count the signals before it"

# the README's loop: run the tests after each build, never twice for one
: >"$D/runs"
(
	i=0
	while [ $i -lt 2 ] && "$BATON" event wait --next -w 20 built >/dev/null; do
		echo run >>"$D/runs"
		i=$((i + 1))
	done
) &
lpid=$!
wait_for '[ "$(blocked)" = 1 ]' 10
"$BATON" event signal built >/dev/null
wait_for '[ "$(lines "$(cat "$D/runs")")" = 1 ] && [ "$(blocked)" = 1 ]' 10
is "$(lines "$(cat "$D/runs")")" 1 "one signal, one run"
"$BATON" event signal built >/dev/null
wait "$lpid"
is "$(lines "$(cat "$D/runs")")" 2 "the next signal, the next run"

stop_broker
done_testing
