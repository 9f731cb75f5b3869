#!/bin/sh
# File reservations outside the project (issue 12, item 6): every file:
# name is compared as one absolute path, so an ancestor of the project
# root (file:.., file:/, file:/**) conflicts with the files inside it;
# and a project that is not a directory refuses paths that leave it.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
start_broker || bail_out "batond did not start"
P=$BATON_PROJECT
UP=$(dirname "$P")

# conflicts HELD ASKED NAME: with HELD reserved (detached), ASKED is refused at once.
conflicts() {
	_tok=$("$BATON" acquire --ttl 60 "$1") || { fail "$3 (cannot reserve $1)"; return; }
	baton_run acquire -n --ttl 60 "$2"
	if [ "$RC" -eq 1 ]; then
		pass "$3"
	else
		fail "$3"
		diag "  $2 while $1 is held: exit $RC, out '$OUT', err '$ERR'"
		[ "$RC" -eq 0 ] && "$BATON" release "$2" "$OUT" >/dev/null 2>&1
	fi
	"$BATON" release "$1" "$_tok" >/dev/null 2>&1
}

# disjoint HELD ASKED NAME: both can be held at once.
disjoint() {
	_tok=$("$BATON" acquire --ttl 60 "$1") || { fail "$3 (cannot reserve $1)"; return; }
	baton_run acquire -n --ttl 60 "$2"
	if [ "$RC" -eq 0 ]; then
		pass "$3"
		"$BATON" release "$2" "$OUT" >/dev/null 2>&1
	else
		fail "$3"
		diag "  $2 while $1 is held: exit $RC, err '$ERR'"
	fi
	"$BATON" release "$1" "$_tok" >/dev/null 2>&1
}

conflicts file:.. file:src/x.c "file:.. (the parent of the project) covers file:src/x.c"
conflicts file:src/x.c file:.. "file:src/x.c stands in the way of file:.."
conflicts file:/ file:src/x.c "file:/ covers file:src/x.c"
conflicts file:src/x.c file:/ "file:src/x.c stands in the way of file:/"
conflicts "file:/**" file:src/x.c "file:/** covers file:src/x.c"
conflicts "file:$UP" file:src/x.c "file:$UP (an absolute ancestor) covers file:src/x.c"
conflicts "file:$UP/*" file:. "a glob over the project's parent covers the project"
conflicts "file:$P/src" file:src/x.c "the absolute path of src is src"
disjoint "file:$UP/elsewhere" file:src/x.c "a sibling of the project does not cover it"
disjoint "file:/nonexistent/baton" file:. "an unrelated absolute path does not cover the project"

# a conflict names the reservation that is held, as it is held
"$BATON" acquire --ttl 60 file:.. >"$TEST_DIR/tok" || fail "reserve file:.."
baton_run acquire -n file:src/x.c
like "$ERR" "file:$UP" "the conflict names the held reservation file:$UP"
"$BATON" release "file:$UP" "$(cat "$TEST_DIR/tok")" >/dev/null 2>&1

# a project that is not a directory (a raw client's) has no place to resolve them
BATON_PROJECT=default wire_run call lock_acquire name=file:/tmp
is "$(printf '%s' "$WIRE_RES" | json .e.code)" invalid_argument "file:/tmp in project default: invalid"
like "$(printf '%s' "$WIRE_RES" | json .e.message)" "not a directory.*relative" \
    "the error says why"
BATON_PROJECT=default wire_run call lock_acquire name=file:../x
is "$(printf '%s' "$WIRE_RES" | json .e.code)" invalid_argument "file:../x in project default: invalid"
BATON_PROJECT=default wire_run call lock_acquire name=file:src/x.c
is "$(printf '%s' "$WIRE_RES" | json .r.acquired)" true "file:src/x.c in project default is fine"

broker_alive
ok $? "the broker is still up"
stop_broker
done_testing
