#!/bin/sh
# The crash loop (DESIGN 8): 8 client processes (tests/crash_client)
# increment counters, update notes with compare-and-set and take and
# release one exclusive lock while the broker is killed with SIGKILL and
# restarted 10 times under them.  Afterwards: every acknowledged counter
# value and note version is still there, no counter value was handed out
# twice, no two compare-and-set writes succeeded from the same version, and
# no two clients held the lock at once (each logs its grants with fences
# and monotonic times; the intervals must not overlap and fences must grow).
# CRASH_DURABILITY=relaxed|none runs the same loop against a broker that
# acknowledges before durability: it must then fail, which shows the test
# can see a loss.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR
CLIENT=${CRASH_CLIENT:-$TOP_BUILDDIR/tests/crash_client}
CLIENTS=8
RESTARTS=10
start_broker ${CRASH_DURABILITY:+--durability $CRASH_DURABILITY} || bail_out "batond did not start"

# acked: how many answers all clients have logged so far.
acked() {
	cat "$D"/log.* 2>/dev/null | wc -l
}

pids=
i=1
while [ $i -le $CLIENTS ]; do
	"$CLIENT" "$BATON_SOCKET" $i "$D/log.$i" "$D/stop" 2>"$D/err.$i" &
	pids="$pids $!"
	i=$((i + 1))
done
_bg_pids="$_bg_pids $pids"

# Kill the broker after a varying amount of progress, so the kills land in
# every phase of the clients' cycles: 30 to 157 more answers each round.
r=1
while [ $r -le $RESTARTS ]; do
	more=$((30 + $(od -An -N1 -tu1 /dev/urandom) / 2))
	target=$(($(acked) + more))
	wait_for '[ "$(acked)" -ge "$target" ]' 30 ||
	    bail_out "round $r: the clients made no progress: $(cat "$D"/err.* | head -n 3)"
	kill -9 "$BROKER_PID"
	wait_for "! kill -0 $BROKER_PID 2>/dev/null" 5 || bail_out "the broker did not die"
	start_broker ${CRASH_DURABILITY:+--durability $CRASH_DURABILITY} || bail_out "restart $r failed"
	r=$((r + 1))
done
target=$(($(acked) + 100))
wait_for '[ "$(acked)" -ge "$target" ]' 30
ok $? "the clients keep working after $RESTARTS restarts" \
    "$(acked) answers, want $target; $(cat "$D"/err.* | head -n 5)"
: >"$D/stop"
failed=0
for p in $pids; do
	wait "$p" || failed=$((failed + 1))
done
is "$failed" 0 "every client ended cleanly (no violation seen by a client, no broker outage over 30 s)"
grep -h '^BAD' "$D"/log.* | head -n 5 | while read -r line; do diag "$line"; done
cat "$D"/err.* | head -n 5 | while read -r line; do diag "$line"; done

reconnects=$(grep -h '^X' "$D"/log.* | wc -l)
cmp_ok "$reconnects" -ge $((CLIENTS * RESTARTS / 2)) \
    "the clients did reconnect across the restarts ($reconnects reconnects)"
diag "$(grep -h '^X reclaimed' "$D"/log.* | wc -l) reconnects reclaimed a session holding the lock"

# per_client TAG OP ARG PREFIX EXTRA FIELD: for each client i, OP {ARG:
# PREFIX+i} must answer a FIELD at least the last value it logged under
# TAG; prints the ones that do not.
per_client() {
	_i=1
	while [ $_i -le $CLIENTS ]; do
		_l=$(grep "^$1 " "$D/log.$_i" | tail -n 1 | awk '{ print $2 }')
		_v=$("$BATON" call "$2" "{$5\"$3\":\"$4$_i\"}" | json ".$6")
		[ -n "$_l" ] && [ "$_v" -ge "$_l" ] || printf ' %s%s=%s<%s' "$4" $_i "$_v" "$_l"
		_i=$((_i + 1))
	done
}

# --- counters ---
grep -h '^C ' "$D"/log.* | awk '{ print $2 }' | sort -n >"$D/c.values"
n=$(wc -l <"$D/c.values")
dups=$(uniq -d "$D/c.values" | head -n 3 | tr '\n' ' ')
is "$dups" "" "no value of the shared counter was returned twice ($n acknowledged)"
final=$("$BATON" call counter_incr '{"name":"crash.shared","by":0}' | json .value)
max=$(tail -n 1 "$D/c.values")
[ -n "$max" ] && [ "$final" -ge "$max" ]
ok $? "the shared counter ($final) is at least every acknowledged value (max $max)" \
    "final '$final', max acknowledged '$max'"
lost=$(per_client P counter_incr name crash.c. '"by":0,' value)
is "$lost" "" "every client's own counter holds its last acknowledged value"

# --- notes ---
grep -h '^N ' "$D"/log.* >"$D/n.lines"
n=$(wc -l <"$D/n.lines")
dups=$(awk '{ print $2 }' "$D/n.lines" | sort -n | uniq -d | head -n 3 | tr '\n' ' ')
is "$dups" "" "no two acknowledged compare-and-set writes started from the same version ($n writes)"
dups=$(awk '{ print $3 }' "$D/n.lines" | sort -n | uniq -d | head -n 3 | tr '\n' ' ')
is "$dups" "" "no note version was acknowledged twice"
last=$(sort -k3,3n "$D/n.lines" | tail -n 1)
got=$("$BATON" call note_get '{"key":"crash.note"}')
gv=$(printf '%s' "$got" | json .version)
[ -n "$last" ] && [ "$gv" -ge "$(echo "$last" | awk '{ print $3 }')" ]
ok $? "the shared note's version ($gv) is at least the last acknowledged one" \
    "note_get: $got; last acknowledged write (N base version value): $last"
if [ "$gv" = "$(echo "$last" | awk '{ print $3 }')" ]; then
	is "$(printf '%s' "$got" | json .value)" "$(echo "$last" | awk '{ print $4 }')" \
	    "and at that version it holds the acknowledged value"
else
	pass "a later, unacknowledged write moved it on (allowed)"
fi
lost=$(per_client M note_get key crash.n. '' version)
is "$lost" "" "every client's own note is at least at its last acknowledged version"

# --- the lock: intervals from each grant to the last release before the next ---
for f in "$D"/log.*; do
	awk -v c="${f##*.}" '
		$1 == "G" { if (s != "") print s, e, f0, c; s = $3; f0 = $2; e = "-" }
		$1 == "R" || $1 == "L" { e = $3 }
		END { if (s != "") print s, e, f0, c }' "$f"
done | sort -n >"$D/intervals"
n=$(wc -l <"$D/intervals")
cmp_ok "$n" -ge 20 "the clients took the lock many times ($n grants)"
is "$(awk '$2 == "-" { print; exit }' "$D/intervals")" "" "every grant has its release"
overlap=$(awk '
	NR > 1 && $1 <= pe { print "client " $4 " fence " $3 " from " $1 " inside client " pc " fence " pf " until " pe; exit }
	$2 > pe { pe = $2; pc = $4; pf = $3 }' "$D/intervals")
is "$overlap" "" "no two clients ever held the exclusive lock at once"
back=$(awk 'NR > 1 && $3 <= pf { print "fence " $3 " after " pf; exit } { pf = $3 }' "$D/intervals")
is "$back" "" "fences grow with every grant, across all restarts"
is "$(grep -h '^L ' "$D"/log.* | wc -l)" 0 "no held lock was lost across a restart (all reclaimed)"

done_testing
