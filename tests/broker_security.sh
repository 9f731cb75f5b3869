#!/bin/sh
# Who may reach the broker and where it listens: file modes, unsafe
# socket directories, stale and live sockets, other uids, and start-up
# races (DESIGN §2, §3).

. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir

# --- modes -----------------------------------------------------------

start_broker
ok $? "batond starts on a private 0700 directory"
[ -z "$BROKER_PID" ] && bail_out "no broker to test"
is "$(stat -c %a "$BATON_SOCKET")" 600 "the socket has mode 0600"
is "$(stat -c %a "$SOCK_DIR")" 700 "its directory has mode 0700"

# A directory the broker creates itself is 0700 too.
bad_start() {
	# its own state: two brokers never share a state directory
	timeout 10 "$BATOND" -S "$1" -D "$TEST_DIR/state-$$-$BAD_N" </dev/null >/dev/null \
	    2>"$TEST_DIR/bad.err"
	BAD_RC=$?
	BAD_ERR=$(cat "$TEST_DIR/bad.err")
	BAD_N=$((BAD_N + 1))
}
BAD_N=0
mkdir -m 700 "$TEST_DIR/other"
bad_start "$TEST_DIR/other/new/sock"
is "$BAD_RC" 0 "batond creates a missing socket directory"
is "$(stat -c %a "$TEST_DIR/other/new" 2>/dev/null)" 700 "the directory it creates is 0700"
pid2=$(BATON_SOCKET=$TEST_DIR/other/new/sock broker_pid)
[ -n "$pid2" ] && kill "$pid2"

# --- unsafe directories ----------------------------------------------

for mode in 750 705 770 777; do
	mkdir -m "$mode" "$TEST_DIR/d$mode"
	chmod "$mode" "$TEST_DIR/d$mode" # whatever the umask
	bad_start "$TEST_DIR/d$mode/sock"
	if [ "$BAD_RC" -ne 0 ] && [ ! -e "$TEST_DIR/d$mode/sock" ]; then
		pass "batond refuses a socket directory with mode $mode"
	else
		fail "batond refuses a socket directory with mode $mode" "exit $BAD_RC, stderr: $BAD_ERR"
	fi
done
like "$BAD_ERR" "d777.*(mode|700)|(mode|700).*d777" "the refusal names the directory and its mode"
is "$(lines "$BAD_ERR")" 1 "the refusal is one line on stderr"

mkdir -m 700 "$TEST_DIR/real"
ln -s "$TEST_DIR/real" "$TEST_DIR/link"
bad_start "$TEST_DIR/link/sock"
if [ "$BAD_RC" -ne 0 ] && [ ! -e "$TEST_DIR/real/sock" ]; then
	pass "batond refuses a socket directory that is a symlink"
else
	fail "batond refuses a socket directory that is a symlink" "exit $BAD_RC, stderr: $BAD_ERR"
fi
like "$BAD_ERR" "link" "the symlink refusal names the path"

# --- a live socket is never stolen -----------------------------------

bad_start "$BATON_SOCKET"
isnt_zero=$BAD_RC
cmp_ok "$isnt_zero" -ne 0 "a second batond on a live socket exits non-zero"
like "$BAD_ERR" "already running" "it says a broker is already running"
broker_alive
ok $? "the first broker still answers"
test -S "$BATON_SOCKET"
ok $? "the first broker's socket is still there" "$(ls -l "$SOCK_DIR" 2>&1)"

# --- another uid -----------------------------------------------------

if [ "$(id -u)" -eq 0 ]; then
	# Let uid 65534 reach connect(): only the broker's check stands in the way.
	chmod 711 "$TEST_DIR" "$SOCK_DIR"
	chmod 666 "$BATON_SOCKET"
	dirs_ok=0
	d=$(dirname "$WIRE")
	while [ "$d" != / ]; do
		[ "$(($(stat -c %a "$d") % 10 & 1))" -eq 1 ] || dirs_ok=1
		d=$(dirname "$d")
	done
	if [ "$dirs_ok" -ne 0 ]; then
		skip "a client of another uid is refused" "$WIRE is not reachable by uid 65534"
		skip "the refusal is logged" "see above"
		skip "the refused client got no welcome" "see above"
	else
		# LeakSanitizer needs ptrace, which another uid may lack
		out=$(ASAN_OPTIONS=detect_leaks=0 timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups \
		    "$WIRE" "$BATON_SOCKET" hello 2>&1)
		rc=$?
		is "$rc" 4 "a client of another uid is closed before any frame"
		like "$(cat "$BATON_STATE_DIR/batond.log" 2>/dev/null)" \
		    "refused.*65534" "the refusal is in the broker's log with the uid"
		case $out in *'"t":2'*) fail "the refused client got no welcome" ;;
		*) pass "the refused client got no welcome" ;; esac
		diag "wire as uid 65534: exit $rc: $(printf '%s' "$out" | tr '\n' ' ')"
	fi
	chmod 700 "$TEST_DIR" "$SOCK_DIR"
	chmod 600 "$BATON_SOCKET"
else
	skip "a client of another uid is refused" "not root: cannot run a client as another uid"
	skip "the refusal is logged" "not root"
	skip "the refused client got no welcome" "not root"
fi
broker_alive
ok $? "the broker still answers its own uid"

# --- a stale socket is replaced --------------------------------------

old=$BROKER_PID
kill -KILL "$old"
wait_for "! kill -0 $old 2>/dev/null" 10
ok $? "the broker is gone after SIGKILL"
test -S "$BATON_SOCKET"
ok $? "SIGKILL left a stale socket behind" "$(ls -l "$SOCK_DIR" 2>&1)"
start_broker
ok $? "batond starts over a stale socket"
like "$BROKER_PID" '^[0-9]+$' "the new broker answers on the same path"
[ "$BROKER_PID" != "$old" ]
ok $? "it is a new process" "pid '$BROKER_PID', the old one '$old'"
is "$(stat -c %a "$BATON_SOCKET")" 600 "the replacement socket is 0600"

# The CLI's auto-start replaces a stale socket too.
old=$BROKER_PID
kill -KILL "$old"
wait_for "! kill -0 $old 2>/dev/null" 10
unset BATON_NO_AUTOSTART
baton_run --agent autostarter status --json
BATON_NO_AUTOSTART=1
export BATON_NO_AUTOSTART
ok $RC "baton status auto-starts a broker over a stale socket"
BROKER_PID=$(broker_pid)
[ -n "$BROKER_PID" ] && [ "$BROKER_PID" != "$old" ] &&
    [ "$(printf '%s' "$OUT" | json .pid)" = "$BROKER_PID" ]
ok $? "the auto-started broker is a new process and answers" \
    "pid '$BROKER_PID', the old one '$old'; baton status said: $OUT"
stop_broker

# --- concurrent auto-start gives one broker --------------------------

unset BATON_NO_AUTOSTART
BATON_SOCKET=$TEST_DIR/auto/sock
export BATON_SOCKET
n=4
i=1
while [ "$i" -le "$n" ]; do
	timeout 30 "$BATON" status --json >"$TEST_DIR/auto$i.out" 2>"$TEST_DIR/auto$i.err" &
	eval "apid$i=$!"
	i=$((i + 1))
done
failed=0
pids=
i=1
while [ "$i" -le "$n" ]; do
	eval "wait \$apid$i" || {
		failed=$((failed + 1))
		diag "baton status $i: exit $?: $(cat "$TEST_DIR/auto$i.err")"
	}
	pids="$pids $(json .pid <"$TEST_DIR/auto$i.out")"
	i=$((i + 1))
done
is "$failed" 0 "$n concurrent auto-starting baton status all succeed"
is "$(printf '%s\n' $pids | sort -u | wc -l | tr -d ' ')" 1 "they all report the same broker pid"
is "$(pgrep -f -- "batond.*$BATON_SOCKET" | wc -l | tr -d ' ')" 1 \
    "exactly one batond runs on the socket"
BROKER_PID=$(printf '%s\n' $pids | head -n 1)
is "$(stat -c %a "$TEST_DIR/auto" 2>/dev/null)" 700 "the auto-created socket directory is 0700"
stop_broker

done_testing
