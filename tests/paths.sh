#!/bin/sh
# Where the socket and the state live (DESIGN 2; issue 12, items 9 and
# 11): a client never follows a socket path that is a symlink nor says
# hello to another user's listener; errors about the socket name
# BATON_SOCKET; a socket directory is made with its parents; `baton
# status` shows the broker's state directory and warns when this client
# would have chosen another.  (The defaults themselves: tests/unit_paths.)
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
start_broker || bail_out "batond did not start"
D=$TEST_DIR

# --- status: the broker's state directory ---
baton_run status
is "$RC" 0 "baton status runs"
like "$OUT" "^state dir +$BATON_STATE_DIR\$" "status shows the broker's state directory"
case $OUT in *warning*) fail "no warning when the client agrees"; diag "$OUT" ;;
*) pass "no warning when the client agrees" ;; esac
is "$("$BATON" status --json | json .state_dir)" "$BATON_STATE_DIR" \
    "status --json has state_dir"
BATON_STATE_DIR=$D/other baton_run status
like "$OUT" "warning: this client would keep the state in $D/other \\(BATON_STATE_DIR\\)" \
    "a client with another BATON_STATE_DIR is warned"
mkdir -m 700 "$D/alias"
ln -s "$BATON_STATE_DIR" "$D/alias/state"
BATON_STATE_DIR=$D/alias/state baton_run status
case $OUT in *warning*) fail "the same directory by another name: no warning"; diag "$OUT" ;;
*) pass "the same directory by another name: no warning" ;; esac

# --- a socket path that is a symlink is never followed ---
mkdir -m 700 "$D/links"
ln -s "$BATON_SOCKET" "$D/links/sock"
BATON_SOCKET=$D/links/sock baton_run status
is "$RC" 77 "a symlinked socket path: exit 77"
like "$ERR" "symlink" "the error says it is a symlink"
like "$ERR" "BATON_SOCKET" "and names BATON_SOCKET"
case $OUT in ?*) fail "nothing was said to the broker behind it"; diag "$OUT" ;;
*) pass "nothing was said to the broker behind it" ;; esac
# not with auto-start either (the broker must not replace the link)
BATON_NO_AUTOSTART= BATON_SOCKET=$D/links/sock baton_run status
is "$RC" 77 "a symlinked socket path with auto-start: exit 77"
[ -L "$D/links/sock" ]
ok $? "the symlink is left alone"
ln -s "$D/nowhere" "$D/links/dangling"
BATON_NO_AUTOSTART= BATON_SOCKET=$D/links/dangling baton_run status
is "$RC" 77 "a dangling symlink with auto-start: exit 77, no broker started on it"

# --- a socket directory others may write: refused, naming BATON_SOCKET ---
mkdir -m 755 "$D/open"
BATON_SOCKET=$D/open/sock baton_run status
is "$RC" 77 "a socket directory open to others: exit 77"
like "$ERR" "mode 755.*BATON_SOCKET" "the error says why and names BATON_SOCKET"

# --- auto-start makes the socket directory with its parents ---
BATON_NO_AUTOSTART= BATON_SOCKET=$D/deep/a/b/sock BATON_STATE_DIR=$D/state2 baton_run status
is "$RC" 0 "auto-start on a socket in directories that do not exist yet"
[ "$(stat -c %a "$D/deep")" = 700 ] && [ "$(stat -c %a "$D/deep/a/b")" = 700 ]
ok $? "each directory made is 0700"
BATON_SOCKET=$D/deep/a/b/sock "$BATON" status --json | json .pid >"$D/pid2"
[ -s "$D/pid2" ] && kill "$(cat "$D/pid2")"

# --- a listener of another uid gets no hello ---
# A client running as nobody, in a socket directory of its own, where a
# root helper listens: the peer's uid is 0, not the client's.
if [ "$(id -u)" -eq 0 ] && command -v python3 >/dev/null 2>&1 &&
    command -v setpriv >/dev/null 2>&1; then
	chmod 711 "$D"
	mkdir -m 711 "$D/pub"
	mkdir -m 700 "$D/pub/foreign"
	chown 65534:65534 "$D/pub/foreign"
	python3 - "$D/pub/foreign/sock" "$D/foreign.got" "$D/foreign.ready" <<'EOF' &
import os, socket, sys
os.umask(0)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
s.settimeout(20)
open(sys.argv[3], "w").write("listening\n")
c, _ = s.accept()
c.settimeout(5)
try:
    data = c.recv(65536)
except socket.timeout:
    data = b""
open(sys.argv[2], "wb").write(data)
EOF
	py=$!
	_bg_pids="$_bg_pids $py"
	wait_for "[ -s '$D/foreign.ready' ]" 10
	BATON_SOCKET=$D/pub/foreign/sock timeout 30 setpriv --reuid=65534 --regid=65534 \
	    --clear-groups "$BATON" status >"$D/out" 2>"$D/err"
	is "$?" 77 "a listener run by another uid: exit 77"
	like "$(cat "$D/err")" "served by uid 0, not by you \\(uid 65534\\)" \
	    "the error names its uid"
	wait "$py"
	is "$(wc -c <"$D/foreign.got" | tr -d ' ')" 0 "it got not one byte (no hello, no token)"
	chmod 700 "$D"
else
	skip "a listener run by another uid" "needs root, python3 and setpriv"
	skip "the error names its uid" "needs root, python3 and setpriv"
	skip "it got not one byte" "needs root, python3 and setpriv"
fi

broker_alive
ok $? "the broker is still up"
stop_broker
done_testing
