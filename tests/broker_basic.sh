#!/bin/sh
# The broker on a private socket: status, session-bound locks, and
# malformed frames that must cost only the peer that sent them
# (DESIGN §2, §4, §5.1).

. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir

# --- start-up and status ---------------------------------------------

# (fd 9 open: the daemon must not keep its starter's descriptors)
start_broker 9>"$TEST_DIR/starter-fd"
ok $? "batond returns 0 once listening"
test -S "$BATON_SOCKET"
ok $? "the socket exists when batond returns" "$(ls -l "$SOCK_DIR" 2>&1)"
like "$BROKER_PID" '^[0-9]+$' "the broker answers status over the wire with its pid"
[ -z "$BROKER_PID" ] && bail_out "no broker to test"
# a pipe or fifo it kept open would never reach end-of-file for its reader
is "$(ls -l "/proc/$BROKER_PID/fd" | grep starter-fd)" "" \
    "the daemon keeps none of its starter's descriptors"

baton_run status --json
ok $RC "baton status --json exits 0"
is "$(lines "$OUT")" 1 "status --json prints one line"
missing=
for f in version protocol pid uptime_seconds revision sessions locks waiters \
    project project_sessions project_locks session agent; do
	printf '%s' "$OUT" | jq -e "has(\"$f\")" >/dev/null 2>&1 || missing="$missing $f"
done
is "$missing" "" "status --json has every documented field"
is "$(printf '%s' "$OUT" | json .pid)" "$BROKER_PID" "status reports the broker's pid"
is "$(printf '%s' "$OUT" | json .protocol)" 1 "status reports protocol 1"
is "$(printf '%s' "$OUT" | json .project)" "$BATON_PROJECT" "status reports the caller's project"

# --- session-bound locks ---------------------------------------------

baton_run call lock_acquire '{"name":"x"}'
ok $RC "a CLI lock_acquire exits 0"
is "$(printf '%s' "$OUT" | json .acquired)" true "a free lock is acquired"
like "$(printf '%s' "$OUT" | json .token)" '^[0-9a-f]{16,}$' "the grant carries a token"
like "$(printf '%s' "$OUT" | json .fence)" '^[1-9][0-9]*$' "the grant carries a fence"
baton_run call lock_list '{}'
is "$(printf '%s' "$OUT" | json '[.locks[] | select(.name == "x")] | length')" 0 \
    "the lock went with the CLI process that took it"

WIRE_AGENT=holder-a hold_start 1 acquire x
ok $? "a wire client acquires x and stays connected"
is "$(printf '%s' "$HOLD_RES" | json .r.acquired)" true "the holder got x"
holder_token=$(printf '%s' "$HOLD_RES" | json .r.token)
holder_session=$(printf '%s' "$HOLD_WELCOME" | json .session)
like "$holder_session" '.' "the holder's welcome names its session"

baton_run --agent other call lock_acquire '{"name":"x"}'
ok $RC "acquiring a held lock still exits 0"
is "$(printf '%s' "$OUT" | json .acquired)" false "a held lock answers acquired:false"
is "$(printf '%s' "$OUT" | json '.holders[0].agent')" holder-a "acquired:false names the holder"

baton_run call lock_list '{}'
ok $RC "lock_list exits 0"
is "$(printf '%s' "$OUT" | json '.locks[] | select(.name == "x") | .holders[0].agent')" \
    holder-a "lock_list shows the holder's agent"
is "$(printf '%s' "$OUT" | json '.locks[] | select(.name == "x") | .holders[0].session')" \
    "$holder_session" "lock_list shows the holder's session"

baton_run --agent other call lock_release '{"name":"x"}'
is "$RC" 77 "releasing someone else's lock without the token exits 77"
is "$(lines "$ERR")" 1 "the refusal is one line on stderr"
like "$ERR" 'holder-a' "the refusal names the holder"
baton_run call lock_list '{}'
is "$(printf '%s' "$OUT" | json '[.locks[] | select(.name == "x")] | length')" 1 \
    "the refused release left the lock held"

hold_stop 1
is "$HOLD_RC" 0 "the holder was never disconnected by the broker"
baton_run call lock_list '{}'
is "$(printf '%s' "$OUT" | json '[.locks[] | select(.name == "x")] | length')" 0 \
    "x is free once its holder disconnects"

# The token is the capability: another session holding it may release.
WIRE_AGENT=holder-b hold_start 1 acquire y
holder_token=$(printf '%s' "$HOLD_RES" | json .r.token)
baton_run call lock_release "{\"name\":\"y\",\"token\":\"$holder_token\"}"
ok $RC "another session releases with the grant's token"
is "$(printf '%s' "$OUT" | json .released)" true "release with the token answers released:true"
hold_stop 1

# --- malformed frames ------------------------------------------------

# A client that stays connected through all of this must keep its session.
WIRE_AGENT=bystander hold_start 2 acquire bystander-lock
ok $? "a bystander holds a lock during the malformed-frame tests"

# bad_frame NAME MODE HEX: the peer gets an error frame with code
# protocol and is closed, and the broker goes on answering others.
bad_frame() {
	wire_run "$2" "$3"
	is "$(printf '%s' "$WIRE_ERROR" | json .code)" protocol "$1: error frame with code protocol"
	wire_closed
	ok $? "$1: the broker closes the connection"
	broker_alive
	ok $? "$1: the broker still answers another client"
}

bad_frame "garbage bytes" raw 68656c6c6f20776f726c640a
bad_frame "invalid msgpack byte" raw 00000003c1c1c1
bad_frame "a length over 1 MiB" raw 00100001
bad_frame "an empty frame" raw 00000000
bad_frame "a 5-byte frame declaring a 2^32-1 array" raw 00000005ddffffffff
bad_frame "a 5-byte frame declaring a 2^32-1 map" raw 00000005dfffffffff
bad_frame "nesting 40 deep" raw \
    00000029$(printf '91%.0s' 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 \
    21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40)01
bad_frame "trailing bytes after the object" raw 000000020101
bad_frame "a frame that is not a map" raw 0000000101
# {t:3, id:1, op:"status", a:{}} before any hello
bad_frame "a request before hello" raw 0000001584a17403a2696401a26f70a6737461747573a16180
# {t:2} as the first frame
bad_frame "a non-hello first frame" raw 0000000481a17402
# {"x":1}: a map without a type
bad_frame "a first frame without a type" raw 0000000481a17801
# {t:9} after a good hello
bad_frame "an unknown frame type after hello" hello-raw 0000000481a17409

wire_run raw-eof 0000000a82a174
wire_closed
ok $? "a truncated frame then close: the connection ends"
is "$WIRE_RES" "" "a truncated frame is never answered as a request"
broker_alive
ok $? "a truncated frame then close: the broker still answers"

# --- protocol version ------------------------------------------------

wire_run hello-version 99
is "$(printf '%s' "$WIRE_ERROR" | json .code)" version "hello v99 gets an error frame with code version"
like "$(printf '%s' "$WIRE_ERROR" | json .message)" '[Vv]ersion' "the version error says what is wrong"
wire_closed
ok $? "hello v99 is then disconnected"
case $WIRE_OUT in *'"t":2'*) fail "hello v99 got no welcome" ;; *) pass "hello v99 got no welcome" ;; esac

wire_run hello
ok $WIRE_RC "a v1 hello is welcomed"
like "$(printf '%s\n' "$WIRE_OUT" | sed -n 's/^frame //p' | json 'select(.t == 2) | .token')" \
    '^[0-9a-f]{32}$' "the welcome carries a 32-hex session token"

hold_stop 2
is "$HOLD_RC" 0 "the bystander stayed connected through every bad peer"
is "$HOLD_REST" open "the bystander received nothing unexpected"

# --- frames in pieces, and many frames in one read --------------------

WIRE_CHUNK=1 wire_run call status
is "$WIRE_RC" 0 "a hello and a request sent a byte at a time are answered"
WIRE_CHUNK=5 wire_run pipeline 20 counter_incr name=pieces
is "$(printf '%s\n' "$WIRE_OUT" | grep -c '"ok":true')" 20 \
    "20 requests in one write, sent 5 bytes at a time, get 20 answers"
wire_run pipeline 200 counter_incr name=burst
is "$(printf '%s\n' "$WIRE_OUT" | grep -c '"ok":true')" 200 "200 requests in one write get 200 answers"
is "$("$BATON" call counter_incr '{"name":"burst","by":0}' | jq -r .value)" 200 \
    "and each of them counted once"
big=$(head -c 60000 /dev/zero | tr '\0' y)
WIRE_CHUNK=4096 wire_run call note_set key=big "value=$big"
is "$WIRE_RC" 0 "a 60 KB request arriving in 4 KB pieces is answered"
is "$("$BATON" note get big | wc -c | tr -d ' ')" 60001 "and its value is whole"

# --- shutdown --------------------------------------------------------

pid=$BROKER_PID
stop_broker
ok $? "SIGTERM stops the broker"
test ! -e "$BATON_SOCKET"
ok $? "the broker removes its socket on SIGTERM" "$(ls -l "$SOCK_DIR" 2>&1)"

# In the foreground it logs to stderr and exits 0 on SIGTERM.
"$BATOND" -f -v -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" 2>"$TEST_DIR/fg.log" &
fg=$!
_bg_pids="$_bg_pids $fg"
wait_for "test -S '$BATON_SOCKET'" 10
ok $? "batond -f listens" "$(cat "$TEST_DIR/fg.log")"
BROKER_PID=$fg
broker_alive
ok $? "batond -f answers with its own pid"
kill -TERM "$fg"
wait_for "! kill -0 $fg 2>/dev/null || ! ps -o stat= -p $fg | grep -qv Z" 10 ||
    kill -KILL "$fg"
wait "$fg"
is "$?" 0 "batond -f exits 0 on SIGTERM"
test ! -e "$BATON_SOCKET"
ok $? "batond -f removes its socket on SIGTERM" "$(ls -l "$SOCK_DIR" 2>&1)"
like "$(cat "$TEST_DIR/fg.log")" '.' "batond -f -v logs to stderr"
BROKER_PID=

# --- out of descriptors: new peers wait in the backlog, no busy loop ---
sh -c 'ulimit -n 40 && exec "$BATOND" -S "$BATON_SOCKET" -D "$BATON_STATE_DIR"' \
    </dev/null >/dev/null 2>"$TEST_DIR/batond.err"
is $? 0 "batond starts with a hard limit of 40 descriptors"
BROKER_PID=$(broker_pid)
rm -f "$TEST_DIR/fdhold"
mkfifo "$TEST_DIR/fdhold"
i=0
while [ $i -lt 50 ]; do
	"$WIRE" "$BATON_SOCKET" hold <"$TEST_DIR/fdhold" >/dev/null 2>&1 &
	_bg_pids="$_bg_pids $!"
	i=$((i + 1))
done
exec 5>"$TEST_DIR/fdhold"
log=$BATON_STATE_DIR/batond.log
wait_for '[ "$(grep -c "new peers wait a second" "$log")" -ge 2 ]' 10
ok $? "past its limit the broker says new peers wait, and retries a second later" \
    "$(tail -n 5 "$log")"
n=$(grep -c "new peers wait a second" "$log")
cmp_ok "$n" -le 10 "without spinning on the listening socket ($n warnings)"
exec 5>&-
wait_for '"$BATON" status >/dev/null 2>&1' 10
ok $? "once the holders leave, new peers are served again" "$(tail -n 5 "$log")"
stop_broker

done_testing
