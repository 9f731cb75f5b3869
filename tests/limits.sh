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

# --- bounded memory ---
# rss: the broker's resident memory in KiB; peak: its most since peak_reset
rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$BROKER_PID/status"
}
peak() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$BROKER_PID/status"
}
peak_reset() {
	echo 5 >"/proc/$BROKER_PID/clear_refs"
}
# Under AddressSanitizer freed memory waits in its quarantine (256 MiB by
# default: kept small here) and RSS does not come back.
asan=
ldd "$BATOND" 2>/dev/null | grep -q libasan && asan=yes
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=8"
export ASAN_OPTIONS
# memory_back NAME: the broker's memory is back within 16 MiB of r0 (r1: its peak)
memory_back() {
	if [ -n "$asan" ]; then
		skip "$1" "AddressSanitizer keeps freed memory"
		return
	fi
	wait_for '[ $(($(rss) - r0)) -lt 16384 ]' 5
	_r2=$(rss)
	[ $((_r2 - r0)) -lt 16384 ]
	ok $? "$1 ($((r0 / 1024)) -> $((r1 / 1024)) -> $((_r2 / 1024)) MiB)"
}
# spawn N MODE ARGS: N tests/wire clients in the background, their
# stdin a fifo held open on fd 9 (exec 9>&- ends them all), their output
# in $D/spawn.I; waits until each has set up (said holding) or ended
spawn() {
	_n=$1
	shift
	rm -f "$D"/spawn.* "$D/spawn-in"
	mkfifo "$D/spawn-in"
	exec 9<>"$D/spawn-in"
	_i=0
	while [ $_i -lt "$_n" ]; do
		"$WIRE" "$BATON_SOCKET" "$@" <"$D/spawn-in" >"$D/spawn.$_i" 2>&1 &
		_bg_pids="$_bg_pids $!"
		_i=$((_i + 1))
	done
	wait_for "[ \$(grep -lE '^(holding|closed)\$' $D/spawn.* 2>/dev/null | wc -l) -ge $_n ]" 30
}
# spawned_closed: how many spawned clients the broker closed
spawned_closed() {
	grep -lx closed "$D"/spawn.* 2>/dev/null | wc -l | tr -d ' '
}

start_broker --frame-timeout 2 || bail_out "batond did not start with the memory options"

# peers that stop reading: 30 clients send 2 000 note_list requests whose
# answers are 25 KB each, and never read
pad=$(printf '%0200d' 0)
i=0
while [ $i -lt 100 ]; do
	printf '{"key":"big/%s-%03d","value":1}\n' "$pad" $i
	i=$((i + 1))
done | while IFS= read -r args; do "$BATON" call note_set "$args" >/dev/null || exit 1; done
r0=$(rss)
peak_reset
spawn 30 flood 2000 note_list prefix=big/
is "$("$BATON" status --json | json .sessions)" 31 "30 peers flood and do not read; the broker serves others"
WIRE_TIMEOUT=30000 "$WIRE" "$BATON_SOCKET" pipeline 2000 note_list prefix=big/ >"$D/reader.out"
is "$?/$(grep -c '"ok":true' "$D/reader.out")" 0/2000 \
    "a peer that pipelines 2 000 such requests and reads gets every answer (50 MB)"
r1=$(peak)
[ $((r1 - r0)) -lt 49152 ]
ok $? "30 peers that stop reading cost the broker $(((r1 - r0) / 1024)) MiB at most (under 48 MiB)"
exec 9>&-
wait_for '[ "$("$BATON" status --json | json .sessions)" = 1 ]' 10
memory_back "the memory comes back once they are gone"

# 200 peers each send all but the last byte of a 1 MiB frame
r0=$(rss)
peak_reset
spawn 200 partial 1048576
in=$("$BATON" status --json | json .input_bytes)
[ "$in" -le 67108864 ]
ok $? "200 peers each send 1 MiB but the last byte: $in bytes buffered, within --frame-budget's 64 MiB"
refused=$(grep -l 'incomplete frames of all peers' "$D"/spawn.* | wc -l | tr -d ' ')
[ "$refused" -gt 0 ] && [ "$(spawned_closed)" -ge "$refused" ]
ok $? "past the total budget a peer's frame is refused ($refused of them) with an error naming it"
wait_for '[ "$(spawned_closed)" = 200 ]' 10
is "$(spawned_closed)" 200 "the others are closed once their frame is incomplete for 2 s (--frame-timeout)"
like "$(cat "$D"/spawn.* | grep -m 1 'incomplete for')" "frame.*incomplete for 2 s" \
    "with an error saying so"
r1=$(peak)
[ $((r1 - r0)) -lt 102400 ]
ok $? "the 200 incomplete frames cost the broker $(((r1 - r0) / 1024)) MiB at most (under 100 MiB)"
exec 9>&-
memory_back "and the memory comes back"

# parked calls per session
WIRE_TIMEOUT=10000 "$WIRE" "$BATON_SOCKET" pipeline 300 note_wait key=parked wait_seconds=1 \
    >"$D/parked.out"
is "$(grep -c '"code":"limit"' "$D/parked.out")/$(grep -c '"changed":false' "$D/parked.out")" \
    44/256 "300 note_waits on one session: 256 wait, 44 are refused at once"
like "$(grep -m 1 '"code":"limit"' "$D/parked.out")" "256 calls waiting.*the limit" \
    "with an error naming the limit"
stop_broker

# a peer past its output limit is dropped, and the broker says so
start_broker --output-limit 2M || bail_out "batond did not start with --output-limit"
spawn 1 flood 64 note_wait key=w wait_seconds=30
wait_for '[ "$("$BATON" status --json | json .blocked)" = 64 ]' 10
head -c 60000 /dev/zero | tr '\0' x | sed 's/^/{"key":"w","value":"/; s/$/"}/' |
    "$BATON" call note_set - >/dev/null
wait_for '[ "$("$BATON" status --json | json .sessions)" = 1 ]' 10
is "$("$BATON" status --json | json .sessions)" 1 \
    "a peer that does not read 64 answers of 60 KB is dropped past --output-limit 2M"
like "$(grep 'output over' "$BATON_STATE_DIR/batond.log")" "output over 2097152 bytes, disconnecting" \
    "and the log says why"
exec 9>&-
stop_broker

done_testing
