# Shared helpers for the integration tests: TAP output, a private broker
# per test, and a raw-frame client (tests/wire).  Sourced by every
# tests/*.sh; POSIX sh.
#
# make check exports BATON, BATOND, TOP_SRCDIR and TOP_BUILDDIR; run by
# hand from a build directory, they default to it.

set -u

TOP_BUILDDIR=${TOP_BUILDDIR:-$(pwd)}
TOP_SRCDIR=${TOP_SRCDIR:-$TOP_BUILDDIR/..}
BATON=${BATON:-$TOP_BUILDDIR/baton}
BATOND=${BATOND:-$TOP_BUILDDIR/batond}
WIRE=${WIRE:-$TOP_BUILDDIR/tests/wire}
export BATON BATOND TOP_SRCDIR TOP_BUILDDIR WIRE

# Never let a test reach the user's real broker or state.
unset BATON_SOCKET BATON_STATE_DIR BATON_PROJECT BATON_AGENT BATON_ROLE \
    BATON_NO_AUTOSTART BATON_BROKER CLAUDE_PROJECT_DIR

# --- TAP -------------------------------------------------------------

_tap_n=0
_tap_failed=0
_tap_planned=
# What the last command run through a helper (baton_run, wire_run...)
# printed: the first assertion to fail after it shows it, naming the
# command (the checks that follow a command are usually about it).
_saw=

# plan N: announce how many tests follow.
plan() {
	_tap_planned=$1
	echo "1..$1"
}

# pass NAME / fail NAME [WHAT]: record one result.  A failure prints
# WHAT (what the test saw) and what the last helper-run command printed.
pass() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $1"
}
fail() {
	_tap_n=$((_tap_n + 1))
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_n - $1"
	[ $# -lt 2 ] || diag "$2"
	[ -z "$_saw" ] || diag "$_saw"
	_saw=
}

# ok STATUS NAME [WHAT]: passes when STATUS (usually $?) is 0; a failure
# prints the status and WHAT, the values the check looked at.
ok() {
	if [ "$1" -eq 0 ] 2>/dev/null; then
		pass "$2"
	else
		fail "$2" "  status:   '$1'${3+
  saw:      $3}"
	fi
}

# is GOT EXPECTED NAME [WHAT]: string equality; a failure prints both
# values and WHAT (more of what the test saw, such as a command's output).
is() {
	if [ "$1" = "$2" ]; then
		pass "$3"
	else
		fail "$3" "  got:      '$1'
  expected: '$2'${4+
  saw:      $4}"
	fi
}

# like GOT ERE NAME [WHAT]: GOT matches the extended regular expression.
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		pass "$3"
	else
		fail "$3" "  got:          '$1'
  expected ERE: '$2'${4+
  saw:          $4}"
	fi
}

# cmp_ok GOT OP EXPECTED NAME: the integer comparison [ GOT OP EXPECTED ]
# (-lt -le -eq -ne -ge -gt) holds.
cmp_ok() {
	if [ "$1" "$2" "$3" ] 2>/dev/null; then
		pass "$4"
	else
		fail "$4" "  got:      '$1'
  expected: $2 '$3'"
	fi
}

# same_file GOT EXPECTED NAME: the two files are identical; a failure
# prints how they differ (at most 60 lines of diff -u).
same_file() {
	if cmp -s "$2" "$1"; then
		pass "$3"
	else
		fail "$3" "$(diff -u "$2" "$1" 2>&1 | head -n 60)"
	fi
}

# skip NAME REASON: a test that cannot run here, and why.
skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $1 # SKIP $2"
}

# diag TEXT: comment lines (shown in the .log file), one "# " per line
# so that no line of a multi-line value breaks the TAP stream.
diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# bail_out REASON: stop the whole test run.
bail_out() {
	echo "Bail out! $*"
	exit 1
}

# done_testing: print the plan at the end when plan was not called;
# complain when the count does not match a plan given up front.
done_testing() {
	if [ -z "$_tap_planned" ]; then
		echo "1..$_tap_n"
	elif [ "$_tap_n" -ne "$_tap_planned" ]; then
		diag "planned $_tap_planned tests but ran $_tap_n"
		exit 1
	fi
	exit 0
}

# --- waiting ---------------------------------------------------------

# now_ms: wall clock in milliseconds.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# wait_for CMD TIMEOUT: run CMD (eval'd) until it succeeds, for at most
# TIMEOUT seconds of wall-clock time (however long each try takes on a
# busy machine); for conditions nothing notifies us of (a process gone
# that is not our child).  On a timeout it says what it waited for.
wait_for() {
	_wf_end=$(($(now_ms) + $2 * 1000))
	while ! eval "$1"; do
		if [ "$(now_ms)" -ge "$_wf_end" ]; then
			eval "$1" && return 0
			diag "waited $2 s in vain for: $1"
			return 1
		fi
		sleep 0.05
	done
	return 0
}

# --- a private broker ------------------------------------------------

TEST_DIR=
BROKER_PID=
_bg_pids=

# cleanup: end what this test started (anything whose command line names
# the private directory, by pid) and remove the directory.
cleanup() {
	for _p in $_bg_pids; do
		kill "$_p" 2>/dev/null
	done
	if [ -n "$TEST_DIR" ] && [ -d "$TEST_DIR" ]; then
		for _p in $(pgrep -f -- "$TEST_DIR" 2>/dev/null); do
			[ "$_p" != "$$" ] && kill "$_p" 2>/dev/null
		done
		chmod -R u+rwx "$TEST_DIR" 2>/dev/null
		rm -rf "$TEST_DIR"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# need_jq: the tests read JSON with jq.
need_jq() {
	command -v jq >/dev/null 2>&1 ||
	    bail_out "jq is not installed: run ./bootstrap (or apt-get install jq)"
}

# broker_dir: a private directory with a 0700 socket directory; exports
# BATON_SOCKET, BATON_STATE_DIR, BATON_PROJECT, HOME and
# BATON_NO_AUTOSTART=1 (tests that want auto-start unset it).
broker_dir() {
	TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/baton-t.XXXXXX") || bail_out "mktemp failed"
	chmod 700 "$TEST_DIR"
	SOCK_DIR=$TEST_DIR/run
	mkdir -m 700 "$SOCK_DIR" "$TEST_DIR/state" "$TEST_DIR/proj" "$TEST_DIR/home"
	BATON_SOCKET=$SOCK_DIR/sock
	BATON_STATE_DIR=$TEST_DIR/state
	BATON_PROJECT=$TEST_DIR/proj
	HOME=$TEST_DIR/home
	BATON_NO_AUTOSTART=1
	export BATON_SOCKET BATON_STATE_DIR BATON_PROJECT HOME BATON_NO_AUTOSTART
}

# start_broker [ARGS]: start batond on BATON_SOCKET (it daemonizes and
# returns once listening); sets BROKER_PID.  Returns batond's status;
# its stderr is in $TEST_DIR/batond.err.
start_broker() {
	timeout 10 "$BATOND" -S "$BATON_SOCKET" -D "$BATON_STATE_DIR" "$@" \
	    </dev/null >/dev/null 2>"$TEST_DIR/batond.err"
	_sb_rc=$?
	BROKER_PID=
	if [ "$_sb_rc" -eq 0 ]; then
		BROKER_PID=$(broker_pid)
		[ -n "$BROKER_PID" ] || diag "batond started but does not answer status"
	else
		diag "batond exited $_sb_rc: $(cat "$TEST_DIR/batond.err")"
	fi
	return "$_sb_rc"
}

# broker_pid: the pid the broker on BATON_SOCKET reports, or nothing.
broker_pid() {
	WIRE_TIMEOUT=3000 "$WIRE" "$BATON_SOCKET" call status 2>/dev/null |
	    sed -n 's/^frame //p' | jq -r 'select(.t == 4) | .r.pid' 2>/dev/null
}

# broker_alive: the broker answers a status request with its pid.
broker_alive() {
	_ba_pid=$(broker_pid)
	[ -n "$BROKER_PID" ] && [ "$_ba_pid" = "$BROKER_PID" ] && return 0
	_saw="status over the wire answered pid '$_ba_pid'; the broker started was '$BROKER_PID'"
	return 1
}

# stop_broker: SIGTERM, then wait (bounded) until it is gone.
stop_broker() {
	[ -n "$BROKER_PID" ] || return 0
	kill -TERM "$BROKER_PID" 2>/dev/null
	wait_for "! kill -0 $BROKER_PID 2>/dev/null" 10
	_st_rc=$?
	BROKER_PID=
	return "$_st_rc"
}

# --- the raw-frame client --------------------------------------------

# wire_run ARGS: run tests/wire against BATON_SOCKET; sets WIRE_OUT (all
# it printed), WIRE_RC, WIRE_ERROR (the first error frame, JSON) and
# WIRE_RES (the first res frame, JSON).
wire_run() {
	WIRE_OUT=$(timeout 20 "$WIRE" "$BATON_SOCKET" "$@" 2>&1)
	WIRE_RC=$?
	WIRE_ERROR=$(printf '%s\n' "$WIRE_OUT" | sed -n 's/^frame //p' |
	    jq -c 'select(.t == 7)' 2>/dev/null | head -n 1)
	WIRE_RES=$(printf '%s\n' "$WIRE_OUT" | sed -n 's/^frame //p' |
	    jq -c 'select(.t == 4)' 2>/dev/null | head -n 1)
	_saw="last command: wire $(printf "%.200s" "$*") exited $WIRE_RC, printing:
$(printf '%s\n' "$WIRE_OUT" | head -n 20)"
}

# wire_closed: the last wire_run ended with the broker closing.
wire_closed() {
	[ "$(printf '%s\n' "$WIRE_OUT" | tail -n 1)" = closed ]
}

# hold_start SLOT ARGS: run "wire SOCKET ARGS" (hold or acquire) in the
# background, connected until hold_stop SLOT; SLOT is 1 or 2.  Waits for
# it to be set up and sets HOLD_OUT (what it printed so far), HOLD_WELCOME
# and HOLD_RES (JSON frames) and HOLD_PID.
hold_start() {
	_hs=$1
	shift
	rm -f "$TEST_DIR/hold$_hs.in" "$TEST_DIR/hold$_hs.out"
	mkfifo "$TEST_DIR/hold$_hs.in" "$TEST_DIR/hold$_hs.out"
	# (none of the other slots' descriptors: see mcp_start)
	"$WIRE" "$BATON_SOCKET" "$@" <"$TEST_DIR/hold$_hs.in" >"$TEST_DIR/hold$_hs.out" \
	    3>&- 4>&- 5>&- 6>&- 7>&- 8>&- &
	HOLD_PID=$!
	eval "HOLD_PID_$_hs=$HOLD_PID"
	_bg_pids="$_bg_pids $HOLD_PID"
	# the opening order matches wire's redirections: no deadlock
	if [ "$_hs" = 1 ]; then
		exec 7>"$TEST_DIR/hold1.in" 8<"$TEST_DIR/hold1.out"
	else
		exec 5>"$TEST_DIR/hold2.in" 6<"$TEST_DIR/hold2.out"
	fi
	_hfd=6
	[ "$_hs" = 1 ] && _hfd=8
	HOLD_OUT=
	# every line comes within wire's own timeout, or wire exits (EOF)
	while IFS= read -r _line <&"$_hfd"; do
		HOLD_OUT="$HOLD_OUT$_line
"
		case $_line in holding | closed | open) break ;; esac
	done
	HOLD_WELCOME=$(printf '%s' "$HOLD_OUT" | sed -n 's/^frame //p' |
	    jq -c 'select(.t == 2)' 2>/dev/null | head -n 1)
	HOLD_RES=$(printf '%s' "$HOLD_OUT" | sed -n 's/^frame //p' |
	    jq -c 'select(.t == 4)' 2>/dev/null | head -n 1)
	case $HOLD_OUT in *holding*) return 0 ;; esac
	diag "holder $_hs did not get set up: $HOLD_OUT"
	return 1
}

# hold_stop SLOT: close the holder's stdin so it disconnects and exits;
# sets HOLD_REST (what it printed after setting up) and HOLD_RC.
hold_stop() {
	_hs=$1
	_hfd=6
	[ "$_hs" = 1 ] && _hfd=8
	if [ "$_hs" = 1 ]; then exec 7>&-; else exec 5>&-; fi
	HOLD_REST=$(cat <&"$_hfd")
	if [ "$_hs" = 1 ]; then exec 8<&-; else exec 6<&-; fi
	eval "_hp=\$HOLD_PID_$_hs"
	wait "$_hp"
	HOLD_RC=$?
}

# json FILTER: run jq -r FILTER on stdin, quietly.
json() {
	jq -r "$1" 2>/dev/null
}

# baton_run ARGS: run the CLI with a bound; sets OUT, ERR and RC.
baton_run() {
	timeout 30 "$BATON" "$@" >"$TEST_DIR/out" 2>"$TEST_DIR/err"
	RC=$?
	OUT=$(cat "$TEST_DIR/out")
	ERR=$(cat "$TEST_DIR/err")
	_saw="last command: baton $(printf "%.200s" "$*") exited $RC
stdout: $(head -c 2000 "$TEST_DIR/out")
stderr: $(head -c 2000 "$TEST_DIR/err")"
}

# lines TEXT: how many lines TEXT has (0 for empty).
lines() {
	if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l | tr -d ' '; fi
}

# --- baton mcp over a fifo -------------------------------------------

# mcp_start SLOT AGENT: a `baton mcp` session (SLOT 1 or 2) fed through a
# fifo on fd 3 or 4, initialized; sets MCP_PID_SLOT.  Its answers go to
# $TEST_DIR/mcpSLOT.out; closing the fd (exec 3>&-) ends it.  The session
# gets none of the descriptors of the other slots (3-8): a writer it kept
# open would stop the other slot's fifo from ever reaching end-of-file.
mcp_start() {
	rm -f "$TEST_DIR/mcp$1.in"
	mkfifo "$TEST_DIR/mcp$1.in"
	: >"$TEST_DIR/mcp$1.out" # a slot used before: no stale answers to find
	BATON_AGENT=$2 "$BATON" mcp <"$TEST_DIR/mcp$1.in" >"$TEST_DIR/mcp$1.out" \
	    2>"$TEST_DIR/mcp$1.err" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- &
	eval "MCP_PID_$1=\$!"
	_bg_pids="$_bg_pids $!"
	if [ "$1" = 1 ]; then exec 3>"$TEST_DIR/mcp1.in"; else exec 4>"$TEST_DIR/mcp2.in"; fi
	mcp_send "$1" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"tests-sh","version":"0"}}}'
	mcp_send "$1" '{"jsonrpc":"2.0","method":"notifications/initialized"}'
}

# mcp_send SLOT JSON: one JSON-RPC line to the session.
mcp_send() {
	if [ "$1" = 1 ]; then printf '%s\n' "$2" >&3; else printf '%s\n' "$2" >&4; fi
}

# mcp_call SLOT ID TOOL ARGS: call a tool (ARGS a JSON object).
mcp_call() {
	mcp_send "$1" "{\"jsonrpc\":\"2.0\",\"id\":$2,\"method\":\"tools/call\",\"params\":{\"name\":\"$3\",\"arguments\":$4}}"
}

# mcp_result SLOT ID: the structuredContent of answer ID, once it came.
# Used in $(...), so when the answer does not come it says so on stderr
# (which make check keeps in the test's log).
mcp_result() {
	wait_for "grep -q '\"id\":$2,' '$TEST_DIR/mcp$1.out'" 10 >&2 ||
	    diag "no answer $2 from baton mcp $1; it wrote: $(tail -n 5 "$TEST_DIR/mcp$1.out")
its stderr: $(tail -n 5 "$TEST_DIR/mcp$1.err")" >&2
	grep "\"id\":$2," "$TEST_DIR/mcp$1.out" | jq -c .result.structuredContent 2>/dev/null
}
