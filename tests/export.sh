#!/bin/sh
# The whole state as JSON (DESIGN 8): baton export from a running broker
# and offline, baton import into a fresh state directory, exact round
# trips, refusals, bad files, and the salvage of a damaged state.db.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR
S=$BATON_STATE_DIR
start_broker || bail_out "batond did not start"

# rows FILE: the rows of an export, one per line (the header line differs)
rows() {
	sed 1d "$1"
}

# --- populate: every kind a user makes ---
BIG=18014398509481982 # 2 * (2^53 - 1): no double holds it exactly
"$BATON" note set plain "hello world" >/dev/null &&
    "$BATON" note set conf '{"a":[1,2.5,-3e-7,{"$int":"x"}],"b":null,"c":"line\nbreak \u00e9"}' \
    --json-value >/dev/null &&
    "$BATON" note set global:shared '"global value"' --json-value >/dev/null &&
    "$BATON" counter incr big --by 9007199254740991 >/dev/null &&
    "$BATON" counter incr big --by 9007199254740991 >/dev/null &&
    "$BATON" event signal built '{"ok":true}' --json-value >/dev/null &&
    "$BATON" acquire --ttl 600 --reason backup db >"$D/token" &&
    "$BATON" task create -d "write the parser" "parser" >/dev/null &&
    "$BATON" --agent boss msg send alice "build the parser" --subject parser >/dev/null &&
    "$BATON" --agent alice discuss start "which db" "sqlite or postgres?" >/dev/null
ok $? "set-up: notes, a counter, an event, a TTL lock, a task, a message, a discussion"
is "$("$BATON" counter incr big --by 0)" "$BIG" "the counter holds 2^54 - 2"

# --- live export ---
baton_run export -o "$D/live.json"
is "$RC" 0 "baton export with a broker running exits 0"
is "$(json '.baton_state' <"$D/live.json")/$(json '.schema' <"$D/live.json")" 1/1 \
    "the file says baton_state 1, schema 1"
is "$(stat -c %a "$D/live.json")" 600 "the export is written 0600"
is "$(json '[.rows[].kind] | unique | join(",")' <"$D/live.json")" \
    "counter,discussion,event,lock,message,mproject,note,task" \
    "every kind of state made is in it"
is "$(ls "$S" | grep -c '^export-')" 0 "the broker's snapshot is removed afterwards"
like "$(json '.rows[] | select(.kind == "counter") | .data.value."$int"' <"$D/live.json")" \
    "^$BIG\$" "a counter above 2^53 is written exactly, as {\"\$int\":\"...\"}"
like "$(json '.rows[] | select(.kind == "note") | .key' <"$D/live.json" | head -n 2 | tr '\n' '|')" \
    "proj.conf\|" "row keys are project and name, the newline escaped"
REV=$(json '.revision' <"$D/live.json")
"$BATON" export >"$D/stdout.json"
ok $? "baton export without -o writes to stdout"
is "$(rows "$D/stdout.json" | md5sum)" "$(rows "$D/live.json" | md5sum)" \
    "with the same rows"
baton_run call state_export
is "$(printf '%s' "$OUT" | json '.rows > 0')" true "baton call state_export answers path, rows"
# snapshots: one at a time, gone with the connection that asked
snapshots() {
	ls "$S" | grep -c '^export-'
}
i=0
while [ $i -lt 20 ]; do
	"$BATON" call state_export >/dev/null || break
	i=$((i + 1))
done
wait_for '[ "$(snapshots)" = 0 ]' 5
is "$i/$(snapshots)" 20/0 "20 state_export calls that never remove their snapshot leave none behind"
hold_start 1 call-hold state_export || bail_out "a held state_export failed"
snap=$(printf '%s' "$HOLD_RES" | json .r.path)
[ -f "$snap" ]
ok $? "a snapshot stays while the connection that asked for it is open"
baton_run call state_export
is "$RC" 1 "a second export meanwhile is a conflict (exit 1)"
like "$ERR" "export is in progress \(session s[0-9]+.*one snapshot at a time" \
    "which says an export is in progress, and whose"
hold_stop 1
wait_for "[ ! -e '$snap' ]" 5
[ ! -e "$snap" ]
ok $? "the snapshot goes when that connection closes"

# --- offline export equals the live one ---
baton_run import "$D/live.json"
is "$RC" 1 "baton import while a broker runs exits 1"
like "$ERR" "broker is running.*stop it first" "and says to stop it first"
"$BATOND" -D "$S" --export "$D/busy.json" 2>"$D/err"
is "$?" 1 "batond --export on a database a broker holds exits 1"
like "$(cat "$D/err")" "in use by a running batond.*baton export" "and points at baton export"
stop_broker
baton_run export -o "$D/offline.json"
is "$RC" 0 "baton export with no broker reads the state directory (exit 0)"
# Only the header (exported_at, revision) may differ: a clean stop
# (SIGTERM) changes no state, so locks and claims come back after it too.
is "$(json '[.rows[] | select(.kind == "lock")] | length' <"$D/offline.json")" \
    "$(json '[.rows[] | select(.kind == "lock")] | length' <"$D/live.json")" \
    "after SIGTERM the locks are still in the database"
is "$(rows "$D/offline.json" | sed 's/,$//' | md5sum)" \
    "$(rows "$D/live.json" | sed 's/,$//' | md5sum)" \
    "the offline export has the same rows as the live one"

# --- import into a fresh state directory ---
S2=$D/state2
baton_run -S "$D/run/sock" import -D "$S2" "$D/live.json"
is "$RC" 0 "baton import into a fresh state directory exits 0"
like "$OUT" "^imported [0-9]+ rows into .*state2/state.db$" "and says how many rows"
is "$(stat -c %a "$S2/state.db")" 600 "the new state.db is 0600"
"$BATOND" -D "$S2" --export "$D/again.json"
is "$(rows "$D/again.json" | md5sum)" "$(rows "$D/live.json" | md5sum)" \
    "export -> import -> export gives byte-identical rows"
BATON_STATE_DIR=$S2
start_broker || bail_out "batond did not start on the imported state"
is "$("$BATON" note get plain)" "hello world" "a note is back"
is "$("$BATON" note get --json conf | jq -c .value)" \
    "$(printf '%s' '{"a":[1,2.5,-3e-7,{"$int":"x"}],"b":null,"c":"line\nbreak é"}' | jq -c .)" \
    "a JSON note is back, '\$int' user keys and all"
is "$("$BATON" note get global:shared)" "global value" "a global note is back"
is "$("$BATON" counter incr big --by 0)" "$BIG" "the counter above 2^53 is back exactly"
is "$("$BATON" event wait built -w 1)" 1 "the event's generation is back"
is "$("$BATON" locks --json db | json '.locks[0].holders[0].reason')" backup \
    "the TTL lock is held again"
baton_run release db "$(cat "$D/token")"
ok "$RC" "its token still releases it"
is "$("$BATON" task get --json T1 | json .title)" parser "the task is back"
is "$("$BATON" --agent alice msg inbox --json | json '.messages[0].body')" "build the parser" \
    "the message is in alice's inbox"
is "$("$BATON" discuss show --json D1 | json .topic)" "which db" "the discussion is back"
f=$("$BATON" lock -n after -- sh -c 'echo $BATON_FENCE')
cmp_ok "$f" -gt "$REV" "a new fence ($f) is above the exported revision ($REV)"

# --- refusals ---
baton_run import -D "$S2" "$D/live.json"
is "$RC" 1 "import refused while a broker runs on that state (exit 1)"
stop_broker
baton_run import -D "$S2" "$D/live.json"
is "$RC" 1 "import over a state.db holding rows, without --replace: exit 1"
like "$ERR" "already holds [0-9]+ rows; add --replace" "and says --replace moves it aside"
baton_run import --replace -D "$S2" "$D/live.json"
is "$RC" 0 "with --replace it imports"
bak=$(ls "$S2" | grep '^state.db.bak-[0-9T]*$')
[ -n "$bak" ] && [ -s "$S2/$bak" ]
ok $? "the previous state.db is kept as $bak" "$(ls -l "$S2")"
like "$ERR" "previous state.db is now .*$bak" "and the user is told where"

# badfile NAME TEXT PATTERN: importing TEXT fails with one line matching PATTERN, exit 65
badfile() {
	printf '%s\n' "$2" >"$D/bad.json"
	baton_run import -D "$D/state3" "$D/bad.json"
	is "$RC/$(lines "$ERR")" 65/1 "$1: exit 65, one line on stderr"
	like "$ERR" "$3" "$1: the message says what is wrong"
}
badfile "bad JSON" '{"baton_state":1, "rows":[' 'invalid JSON at line 2 column 1'
badfile "not an export" '{"rows":[]}' 'not a baton state export'
badfile "unknown kind" \
    '{"baton_state":1,"schema":1,"revision":5,"rows":[{"kind":"note","key":"p\nk","data":{"version":1,"author":"a","value":1,"expires":0}},{"kind":"gizmo","key":"k","data":{}}]}' \
    'row 2 \(gizmo "k"\): unknown kind'
badfile "a row given twice" \
    '{"baton_state":1,"schema":1,"revision":5,"rows":[{"kind":"counter","key":"p\nc","data":{"value":1}},{"kind":"counter","key":"p\nc","data":{"value":2}}]}' \
    'row 2 \(counter "p\\nc"\) repeats row 1'
badfile "a row without data" \
    '{"baton_state":1,"schema":1,"revision":5,"rows":[{"kind":"note","key":"p\nk"}]}' \
    'row 1 \(note "p\\nk"\): data must be an object'
badfile "a bad tag" \
    '{"baton_state":1,"schema":1,"revision":5,"rows":[{"kind":"counter","key":"p\nc","data":{"value":{"$int":"12x"}}}]}' \
    'row 1 \(counter "p\\nc"\): \$int takes'
badfile "a row the broker would not load" \
    '{"baton_state":1,"schema":1,"revision":5,"rows":[{"kind":"note","key":"nonewline","data":{"version":1}}]}' \
    'would not load.*note nonewline: bad row'
[ ! -e "$D/state3/state.db" ] && [ ! -e "$D/state3/state.db.importing" ]
ok $? "a refused import leaves no database behind" "$(ls -l "$D/state3" 2>&1)"

# --- a damaged state.db: batond refuses, export salvages ---
BATON_STATE_DIR=$D/state4
mkdir -m 700 "$BATON_STATE_DIR"
: >"$BATON_STATE_DIR/export-0123456789abcdef.db"
: >"$BATON_STATE_DIR/export-notes.txt"
start_broker || bail_out "batond did not start"
[ ! -e "$BATON_STATE_DIR/export-0123456789abcdef.db" ] && [ -e "$BATON_STATE_DIR/export-notes.txt" ]
ok $? "a start removes snapshots left by an export that died, and nothing else" \
    "$(ls -l "$BATON_STATE_DIR")"
i=0
pad=$(printf '%0400d' 0)
while [ $i -lt 300 ]; do
	echo "{\"key\":\"n$i\",\"value\":\"$pad\"}"
	i=$((i + 1))
done | while IFS= read -r args; do "$BATON" call note_set "$args" >/dev/null || exit 1; done
ok $? "set-up: 300 notes of 400 bytes"
stop_broker
size=$(stat -c %s "$BATON_STATE_DIR/state.db")
head -c $((size / 2)) "$BATON_STATE_DIR/state.db" >"$D/half.db"
mv "$D/half.db" "$BATON_STATE_DIR/state.db"
start_broker
is $? 1 "a state.db cut in half: batond exits 1"
# the refused broker's detached child may still be exiting (leak checks under ASan)
wait_for "! pgrep -f -- '$BATON_STATE_DIR' >/dev/null" 10
like "$(cat "$D/batond.err")" "baton export -o state.json.*baton import state.json" \
    "and says how to recover with baton export and import"
baton_run export -o "$D/salvage.json"
is "$RC" 65 "baton export salvages what it can and exits 65"
like "$ERR" "damaged: exported [0-9]+ rows; could not read [0-9]+ rows and [0-9]+ kinds fully" \
    "and says what it could not read"
n=$(json '.rows | length' <"$D/salvage.json")
cmp_ok "${n:-0}" -gt 0 "the salvaged export holds the $n rows that could be read"
mv "$BATON_STATE_DIR/state.db" "$D/damaged.db"
baton_run import "$D/salvage.json"
is "$RC" 0 "the salvaged rows import"
start_broker
ok $? "and the broker starts on them"
stop_broker

done_testing
