#!/bin/sh
# Locks through the CLI with many real processes (DESIGN 5.1, 7):
# one winner of a race, re-lock after release, strict FIFO, shared
# holders, SIGKILLed holders, TTLs, tokens, fences, file reservations,
# flock(1)-style exit statuses and a real Makefile under make -j4.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
start_broker || bail_out "batond did not start"
D=$TEST_DIR

# waiters NAME: how many are queued for NAME.
waiters() {
	"$BATON" locks --json "$1" | json "[.locks[] | select(.name == \"$1\") | .waiters | length] | add // 0"
}

# holder NAME: agents holding NAME, space separated.
holder() {
	"$BATON" locks --json "$1" | json "[.locks[] | select(.name == \"$1\") | .holders[].agent] | join(\" \")"
}

# gate NAME: a fifo a holder blocks on until the test opens it.
gate() {
	rm -f "$D/$1"
	mkfifo "$D/$1"
}
open_gate() {
	# bounded: opening a fifo blocks until its reader is there
	timeout 10 sh -c "echo go >'$D/$1'" || diag "nobody was waiting at gate $1"
}

# --- a race of 25 processes: exactly one wins ---
gate race
: >"$D/won"
: >"$D/rc"
i=0
while [ $i -lt 25 ]; do
	( BATON_AGENT=racer$i "$BATON" lock -n race -- sh -c "echo \$BATON_FENCE >>'$D/won'; read _ <'$D/race'" 2>/dev/null
	  echo $? >>"$D/rc" ) &
	i=$((i + 1))
done
wait_for '[ "$(lines "$(cat "$D/rc")")" -ge 24 ] && [ -s "$D/won" ]' 20
is "$(lines "$(cat "$D/won")")" 1 "25 racers: exactly one holds the lock"
is "$(grep -c '^1$' "$D/rc")" 24 "the 24 others exit 1 at once (-n)"
open_gate race
wait
is "$(grep -c '^0$' "$D/rc")" 1 "the winner exits 0 when its command does"

# --- 100 acquire/release cycles by alternating agents ---
i=0
okc=0
while [ $i -lt 100 ]; do
	BATON_AGENT=cyc$((i % 2)) "$BATON" lock -n cycle -- true && okc=$((okc + 1))
	i=$((i + 1))
done
is "$okc" 100 "100 cycles of lock/release by alternating agents all succeed"

# --- strict FIFO: A holds, B then C wait, a newcomer does not overtake ---
gate A; gate B; gate C
: >"$D/order"
BATON_AGENT=A "$BATON" lock fifo -- sh -c "echo A >>'$D/order'; read _ <'$D/A'" &
wait_for '[ "$(holder fifo)" = A ]' 10
BATON_AGENT=B "$BATON" lock fifo -- sh -c "echo B >>'$D/order'; read _ <'$D/B'" &
wait_for '[ "$(waiters fifo)" = 1 ]' 10
BATON_AGENT=C "$BATON" lock fifo -- sh -c "echo C >>'$D/order'; read _ <'$D/C'" &
wait_for '[ "$(waiters fifo)" = 2 ]' 10
BATON_AGENT=D baton_run lock -n fifo -- true
is "$RC" 1 "a newcomer with -n does not overtake the queue"
is "$("$BATON" locks --json fifo | json '[.locks[0].waiters[].agent] | join(",")')" "B,C" \
    "lock_list shows the waiters in order"
open_gate A
wait_for '[ "$(holder fifo)" = B ]' 10
is "$(holder fifo)" B "A releases: B, first in line, is granted"
is "$(waiters fifo)" 1 "C still waits"
open_gate B
wait_for '[ "$(holder fifo)" = C ]' 10
open_gate C
wait
is "$(tr '\n' ' ' <"$D/order")" "A B C " "critical sections ran in arrival order"

# --- shared: three readers together, a writer waits, a later reader waits behind it ---
gate r; gate w; gate r4
for n in 1 2 3; do
	BATON_AGENT=reader$n "$BATON" lock -s rw -- sh -c "read _ <'$D/r'" &
done
wait_for '[ "$(holder rw | wc -w)" = 3 ]' 10
is "$(holder rw | wc -w | tr -d ' ')" 3 "three shared holders at once"
BATON_AGENT=writer "$BATON" lock -x rw -- sh -c "read _ <'$D/w'" &
wait_for '[ "$(waiters rw)" = 1 ]' 10
BATON_AGENT=reader4 "$BATON" lock -s rw -- sh -c "read _ <'$D/r4'" &
wait_for '[ "$(waiters rw)" = 2 ]' 10
is "$(holder rw | wc -w | tr -d ' ')" 3 "a reader arriving after the writer is not let in"
exec 3>"$D/r"; echo x >&3; echo x >&3; echo x >&3; exec 3>&-
wait_for '[ "$(holder rw)" = writer ]' 10
is "$(holder rw)" writer "the writer is granted once every reader released"
is "$(waiters rw)" 1 "reader4 waits behind the writer"
open_gate w
wait_for '[ "$(holder rw)" = reader4 ]' 10
open_gate r4
wait

# --- a SIGKILLed holder: released at once, the head waiter granted ---
# (typically a few ms; the bound is loose because the time includes the
# heir's fork and exec on a machine that may be busy, and it still tells
# "at once" from any timeout, the shortest of which is seconds)
# (the victim's command notes its pid, to be ended by pid: pkill -f
# "sleep 300" also ended the victims of other runs of this test on the
# machine, whose heirs were then granted before any SIGKILL)
BATON_AGENT=victim "$BATON" lock k -- sh -c "echo \$\$ >'$D/victim.pid'; exec sleep 300" &
victim=$!
wait_for '[ "$(holder k)" = victim ]' 10
BATON_AGENT=heir "$BATON" lock k -- sh -c "date +%s%N >'$D/granted'" &
heir=$!
wait_for '[ "$(waiters k)" = 1 ]' 10
t0=$(date +%s%N)
kill -9 $victim
wait $heir
t1=$(cat "$D/granted")
ms=$(((t1 - t0) / 1000000))
diag "SIGKILL to grant: $ms ms"
cmp_ok "$ms" -lt 1000 "the waiter is granted at once after the holder's SIGKILL ($ms ms, bound 1 s)"
kill "$(cat "$D/victim.pid")" 2>/dev/null

# --- detached locks: TTL, renew, tokens ---
# t0 before the grant: the TTL runs from the grant, which cannot come earlier
t0=$(now_ms)
tok=$("$BATON" acquire --ttl 1 ttl)
ok $? "baton acquire --ttl prints a token"
like "$tok" '^[0-9a-f]{32}$' "the token is 128 random bits in hex"
"$BATON" acquire -n --ttl 5 ttl >/dev/null 2>&1
is $? 1 "a detached lock outlives the session that took it"
"$BATON" acquire -w 3 --ttl 5 ttl >/dev/null
ok $? "it expires at its TTL and a waiter gets it"
el=$(($(now_ms) - t0))
diag "TTL 1 s expired after $el ms"
[ "$el" -ge 1000 ] && [ "$el" -lt 2500 ]
ok $? "not before its TTL, not long after ($el ms)" "'$el'; want 1000 <= ms < 2500"
tok=$("$BATON" acquire --ttl 1 renew)
"$BATON" renew renew "$tok" 30
ok $? "baton renew extends a detached lock"
baton_run acquire -w 1.5 --ttl 5 renew
is "$RC" 1 "a renewed lock is still held past its first TTL"
baton_run release renew wrongwrongwrongwrongwrongwrong12
is "$RC" 77 "releasing with the wrong token is refused (77)"
like "$ERR" "held by" "the refusal names the holder"
baton_run call lock_release '{"name":"renew"}'
is "$RC" 77 "another session without the token cannot release it"
baton_run release renew "$tok"
ok "$RC" "the token releases it"
baton_run release renew "$tok"
is "$RC" 1 "releasing it twice says it was not held (exit 1)"

# fences strictly increase
prev=0
incr=1
for i in 1 2 3 4 5 6; do
	f=$("$BATON" lock -n fence -- sh -c 'echo $BATON_FENCE')
	[ "$f" -gt "$prev" ] || incr=0
	prev=$f
done
is "$incr" 1 "fences strictly increase across grants ($prev)"
t=$("$BATON" lock -n envtok -- sh -c 'echo $BATON_LOCK_TOKEN')
like "$t" '^[0-9a-f]{32}$' "the command gets BATON_LOCK_TOKEN"

# --- file reservations ---
tok=$("$BATON" acquire --ttl 60 --reason "refactor" file:src)
baton_run acquire -n file:src/a.c
is "$RC" 1 "file:src held: file:src/a.c conflicts"
like "$ERR" "file:src" "the conflict names the held reservation"
baton_run acquire -n "file:./src/../src/b.c"
is "$RC" 1 "file:./src/../src/b.c is normalized and conflicts too"
baton_run acquire -n "file:$BATON_PROJECT/src/c.c"
is "$RC" 1 "the absolute path in the project is the same name"
"$BATON" release file:src "$tok"
tok=$("$BATON" acquire --ttl 60 'file:src/**/*.c')
baton_run acquire -n file:src/x/y.c
is "$RC" 1 "file:src/**/*.c conflicts with file:src/x/y.c"
t2=$("$BATON" acquire -n --ttl 60 file:docs/a.md)
ok $? "file:src/**/*.c does not conflict with file:docs/a.md"
"$BATON" call lock_acquire '{"name":"file:src/x/y.c"}' | json '.holders[0].name' >"$D/h"
is "$(cat "$D/h")" "file:src/**/*.c" "lock_acquire's conflict result names the holding glob"
"$BATON" release 'file:src/**/*.c' "$tok"
"$BATON" release file:docs/a.md "$t2"

# no barging across overlapping reservations: a directory waiter is not starved
tok=$("$BATON" acquire --ttl 60 file:lib/x.c)
gate dirw
BATON_AGENT=dirwaiter "$BATON" lock file:lib -- sh -c "read _ <'$D/dirw'" &
wait_for '[ "$(waiters file:lib)" = 1 ]' 10
baton_run acquire -n --ttl 60 file:lib/a.c
is "$RC" 1 "a newcomer for file:lib/a.c does not overtake a queued file:lib"
"$BATON" release file:lib/x.c "$tok"
wait_for '[ "$(holder file:lib)" = dirwaiter ]' 10
is "$(holder file:lib)" dirwaiter "the directory waiter is granted when the file is released"
open_gate dirw
wait

# --- several names: all or nothing ---
tok=$("$BATON" acquire --ttl 60 m2)
baton_run acquire -n m1 m2
is "$RC" 1 "names [m1, m2] with m2 held is refused"
baton_run acquire -n --ttl 60 m1
ok "$RC" "and m1 was not taken by the refused request"

# --- flock(1) exit statuses ---
tok=$("$BATON" acquire --ttl 60 held)
baton_run lock -n held -- true
is "$RC" 1 "-n on a held lock exits 1"
baton_run lock -n -E 9 held -- true
is "$RC" 9 "-E 9 exits 9"
t0=$(now_ms)
"$BATON" lock -w 0.2 held -- true 2>/dev/null
rc=$?
el=$(($(now_ms) - t0))
is $rc 1 "-w 0.2 times out with 1"
[ "$el" -ge 180 ] && [ "$el" -lt 1000 ]
ok $? "-w 0.2 times out in about 0.2 s ($el ms)" "'$el'; want 180 <= ms < 1000"
baton_run lock -n free -- sh -c 'exit 7'
is "$RC" 7 "the command's exit status is baton's"
baton_run lock -n free -- /nonexistent/cmd
is "$RC" 127 "a command that does not exist exits 127"
baton_run lock free true
is "$RC" 64 "a missing -- is a usage error (64)"

# --- a Makefile under make -j4: critical sections never overlap ---
mkdir -p "$D/mk"
cat >"$D/mk/Makefile" <<MK
all: t1 t2 t3 t4
t1 t2 t3 t4:
	"$BATON" lock db -- sh -c 'echo "\$\$(date +%s%N) start \$@" >>"$D/mk/log"; sleep 0.1; echo "\$\$(date +%s%N) end \$@" >>"$D/mk/log"'
.PHONY: all t1 t2 t3 t4
MK
make -s -j4 -C "$D/mk" >/dev/null
is $? 0 "make -j4 with four baton lock targets exits 0"
sort -n "$D/mk/log" | awk '
	$2 == "start" { if (open) bad = 1; open = 1 }
	$2 == "end" { open = 0 }
	END { exit bad }'
ok $? "their critical sections never overlap" "$(sort -n "$D/mk/log")"
is "$(grep -c start "$D/mk/log")" 4 "all four ran"

# --- baton lock --break: the user takes a forgotten lock away ---
tok=$(BATON_AGENT=forgetful "$BATON" acquire --ttl 600 --reason "long job" stuck)
# a waiter in line, granted once the lock is broken
BATON_AGENT=next "$BATON" lock -w 10 stuck -- echo granted >"$D/brk.out" 2>&1 &
brk_waiter=$!
wait_for '[ "$("$BATON" locks --json stuck | json ".locks[0].waiters | length")" = 1 ]' 10
BATON_AGENT=the-user baton_run lock --break --reason "stale since yesterday" stuck
out=$OUT
is "$RC" 0 "baton lock --break NAME exits 0 when someone held it"
like "$out" "broke stuck: held by forgetful \(session .*, exclusive, fence [0-9]+\)" \
    "and says whose lock it broke, with its fence"
wait "$brk_waiter"
is "$?:$(cat "$D/brk.out")" "0:granted" "the waiter in line is granted at once"
baton_run release stuck "$tok"
is "$RC" 1 "the old token no longer releases anything"
inbox=$(BATON_AGENT=forgetful "$BATON" msg inbox --json)
is "$(printf '%s' "$inbox" | json '.messages[0].from')" the-user "the holder's inbox says who broke it"
like "$(printf '%s' "$inbox" | json '.messages[0].subject + " " + .messages[0].body')" \
    "your lock stuck was broken by the-user.*Reason: stale since yesterday" \
    "with the lock and the reason"
baton_run lock --break stuck
is "$RC" 1 "breaking a lock nobody holds exits 1"
like "$ERR" "stuck: nobody holds it" "and says so"
baton_run lock --break stuck -- true
is "$RC" 64 "--break with a command is a usage error"
baton_run acquire --break stuck
is "$RC" 64 "--break is not an acquire option"

# --- a lock named twice (issue 12): refused, and the broker goes on ---
"$BATON" lock twice twice -- true 2>"$D/err"
is $? 65 "baton lock x x -- true: a name given twice is refused (65)"
like "$(cat "$D/err")" "twice is named twice" "the error says which name"
"$BATON" lock file:src/t.c file:./src/t.c -- true 2>"$D/err"
is $? 65 "two spellings of one file (file:src/t.c file:./src/t.c) are refused too"
like "$(cat "$D/err")" "file:src/t.c is named twice" "naming the normalized file"
"$BATON" call lock_acquire '{"names":["file:src/t.c","file:src/./t.c"]}' >/dev/null 2>&1
is $? 65 "lock_acquire {names} with one file twice is refused"
is "$(broker_pid)" "$BROKER_PID" "the broker lives on (it used to free such a lock twice and die)"
"$BATON" lock -n twice -- true
ok $? "and serves that lock"

# --- a token releases every name of its grant ---
tok=$("$BATON" acquire --ttl 60 grant1 grant2 grant3)
"$BATON" release grant2 "$tok"
ok $? "baton release NAME TOKEN releases a grant of three names"
is "$("$BATON" locks --json grant | json .count)" 0 "all three go: the token frees the whole grant"
tok=$("$BATON" acquire --ttl 60 grant1 grant2)
is "$("$BATON" call lock_release "{\"token\":\"$tok\"}" | json '.names | length')" 2 \
    "lock_release {token} alone frees them too"

# --- lock_list pages ---
tok=$("$BATON" acquire --ttl 60 page1 page2 page3 page4 page5)
baton_run locks -n 2 page
is "$(printf '%s\n' "$OUT" | grep -c '^page')" 2 "baton locks -n 2: a page of two"
like "$ERR" "more locks: baton locks --after 'page2'" "and how to get the next page"
is "$("$BATON" locks --json -n 2 --after page2 page | json '[.locks[].name] | join(",")')" \
    "page3,page4" "--after the cursor: the next two, in name order"
is "$("$BATON" locks --json --after page4 page | json '(.more | tostring) + ":" + .cursor')" \
    "false:page5" "the last page says there is no more"

done_testing
