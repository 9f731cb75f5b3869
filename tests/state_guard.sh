#!/bin/sh
# The state directory guards its database (issue 12): a state.db that is
# missing, emptied or older than what the directory recorded is refused
# with both figures and the way out, and fences never go back; a state
# directory the broker cannot write is called that, not a database it
# cannot trust.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR
S=$BATON_STATE_DIR

# fence: the fence a lock on x gets now
fence() {
	"$BATON" lock x -- sh -c 'echo $BATON_FENCE'
}
# refused NAME: batond exits 1 and nothing is listening
refused() {
	start_broker
	is $? 1 "$1: batond exits 1"
}

start_broker || bail_out "batond did not start"
"$BATON" note set early yes >/dev/null
stop_broker
is "$(stat -c %a "$S/state.revision" 2>&1)" 600 "a stop records the revision beside state.db (state.revision, 0600)"
cp "$S/state.db" "$D/old.db"
start_broker || bail_out "batond did not restart"
"$BATON" note set later yes >/dev/null
f1=$(fence)
stop_broker
mv "$S/state.db" "$D/good.db"

# --- an emptied state.db ---
: >"$S/state.db"
refused "an emptied state.db"
err=$(cat "$D/batond.err")
like "$err" "state.db holds revision 0 \(ceiling 0\), behind what this state directory recorded in state.revision: revision [1-9][0-9]* \(ceiling [1-9][0-9]*\)" \
    "and names both figures"
like "$err" "baton import --replace FILE.*batond -D $S --accept-state" "and the commands that recover"
is "$(stat -c %s "$S/state.db")" 0 "nothing was changed"

# --- a missing one ---
rm "$S/state.db"
refused "a missing state.db"
like "$(cat "$D/batond.err")" "state.db is missing, behind what this state directory recorded" \
    "and says it is missing"
[ ! -e "$S/state.db" ]
ok $? "and creates none"

# --- an older copy ---
cp "$D/old.db" "$S/state.db"
refused "an older copy of state.db"
like "$(cat "$D/batond.err")" "state.db holds revision [1-9][0-9]* \(ceiling [1-9][0-9]*\), behind" \
    "and names its revision"

# --- the right one back ---
cp "$D/good.db" "$S/state.db"
start_broker
ok $? "with the right state.db back, batond starts"
is "$("$BATON" note get later)" yes "with all its state"
stop_broker

# --- going on from the older copy, knowingly ---
cp "$D/old.db" "$S/state.db"
start_broker --accept-state
ok $? "--accept-state starts on the older copy"
is "$("$BATON" note get early)/$("$BATON" note get later 2>/dev/null)" yes/ \
    "with what it holds, and nothing newer"
f2=$(fence)
[ "$f2" -gt "$f1" ]
ok $? "fences go on above those handed out before ($f1 -> $f2)"
stop_broker
start_broker
ok $? "and the next start needs no --accept-state"
stop_broker

# --- an import continues above the record too ---
"$BATOND" -D "$S" --export "$D/small.json" 2>/dev/null
mv "$S/state.db" "$D/accepted.db"
"$BATOND" -S "$BATON_SOCKET" -D "$S" --import "$D/small.json" >/dev/null 2>&1
start_broker
ok $? "a state.db imported in place of a lost one starts"
f3=$(fence)
[ "$f3" -gt "$f2" ]
ok $? "and fences still go on ($f2 -> $f3)"
stop_broker

# --- a state directory batond cannot write ---
# readonly_start [FILE...]: batond on a state directory (mode 0500) holding
# copies of FILEs; sets rc, $D/ro.err and sum2, the md5 of its state.db
# after.  Root ignores directory modes: then the broker runs as nobody.
readonly_start() {
	RO=$(mktemp -d "${TMPDIR:-/tmp}/baton-ro.XXXXXX")
	chmod 711 "$RO"
	mkdir -m 700 "$RO/run" "$RO/state"
	[ $# -gt 0 ] && cp "$@" "$RO/state/"
	chmod 500 "$RO/state"
	if [ "$(id -u)" = 0 ]; then
		chown -R 65534:65534 "$RO/run" "$RO/state"
		set -- setpriv --reuid=65534 --regid=65534 --clear-groups
	else
		set --
	fi
	timeout 10 "$@" "$BATOND" -f -S "$RO/run/sock" -D "$RO/state" 2>"$D/ro.err"
	rc=$?
	sum2=$(md5sum <"$RO/state/state.db" 2>/dev/null)
	chmod -R u+rwx "$RO"
	rm -rf "$RO"
}

readonly_start
is "$rc" 1 "an empty state directory batond cannot write: batond exits 1"
like "$(cat "$D/ro.err")" "state directory .* is not writable by you \(Permission denied\).*chmod u\+rwx" \
    "and says the directory is not writable, and what to do"
sum=$(md5sum <"$S/state.db")
readonly_start "$S/state.db" "$S/state.revision"
is "$rc" 1 "one holding an intact state.db: batond exits 1"
like "$(cat "$D/ro.err")" "state directory .* is not writable by you \(Permission denied\)" \
    "and says the directory is not writable"
if grep -qE "cannot trust|move the file away" "$D/ro.err"; then
	fail "and does not call the database untrustworthy"
	diag "  got: '$(cat "$D/ro.err")'"
else
	pass "and does not call the database untrustworthy"
fi
is "$sum2" "$sum" "state.db is untouched"

done_testing
