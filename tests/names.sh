#!/bin/sh
# Names and values (issue 12, item 12): lock names, note keys, agent
# names... are valid UTF-8 without control characters, refused with a
# clear error by the CLI, the MCP shim and the broker itself; values
# (reasons, note values, message bodies) may hold anything and the CLI
# shows them escaped; "\u0000" is refused, never cut short.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
start_broker || bail_out "batond did not start"
D=$TEST_DIR
ESC=$(printf '\033')

# refused WHAT RE ARGS...: baton ARGS exits 65 with an error matching RE.
refused() {
	_what=$1
	_re=$2
	shift 2
	baton_run "$@"
	if [ "$RC" -eq 65 ] && printf '%s\n' "$ERR" | grep -Eq -- "$_re"; then
		pass "$_what"
	else
		fail "$_what"
		diag "  exit $RC, stderr '$ERR', stdout '$OUT'"
	fi
}

# --- names: refused, whoever sends them ---
refused "a lock name with ESC [2J is refused" "name must not contain control characters" \
    acquire -n --ttl 60 "x${ESC}[2J"
refused "a lock name that is not UTF-8 is refused" "name is not valid UTF-8" \
    acquire -n --ttl 60 "$(printf 'a\377b')"
refused "a lock name with a C1 control (U+009B) is refused" "U\\+009B" \
    acquire -n --ttl 60 "$(printf 'a\302\233b')"
refused "one of several names with a newline is refused" "names\\[1\\] must not contain" \
    acquire -n --ttl 60 ok "$(printf 'a\nb')"
refused "a note key with a newline is refused" "key must not contain control" \
    note set "$(printf 'a\nb')" v
refused "a note key with a tab is refused" "key must not contain control" \
    note get "$(printf 'a\tb')"
refused "an agent_join name with ESC is refused" "name must not contain control" \
    call agent_join "{\"name\":\"a\\u001bb\"}"
refused "a counter name with DEL is refused" "name must not contain control" \
    counter incr "$(printf 'c\177')"
is "$("$BATON" locks --json | json '.locks | length')" 0 "none of them was taken"

# the broker checks again: a raw client gets the same answer
wire_run call lock_acquire "name=$(printf 'x\033[2J')"
is "$(printf '%s' "$WIRE_RES" | json .e.code)" invalid_argument \
    "the broker refuses a raw client's control characters"
is "$(printf '%s' "$WIRE_RES" | json .e.field)" name "naming the field"
wire_run call note_set "key=$(printf 'k\377')" value=v
is "$(printf '%s' "$WIRE_RES" | json .e.code)" invalid_argument \
    "the broker refuses a raw client's key that is not UTF-8"
WIRE_AGENT=$(printf 'ag\033[2J') wire_run hello
like "$(printf '%s' "$WIRE_ERROR" | json .message)" "agent must not contain control" \
    "a hello whose agent name has ESC is refused"
baton_run --agent "$(printf 'a\302\233')" status
like "$ERR" "agent must not contain control characters" "so is --agent with a C1 control"

# names in any language are fine, and print as they are
tok=$("$BATON" acquire --ttl 60 "verrou-é-日本-🔒") || fail "acquire a UTF-8 name"
like "$("$BATON" locks)" "verrou-é-日本-🔒" "a UTF-8 name is accepted and shown as it is"
"$BATON" release "verrou-é-日本-🔒" "$tok" >/dev/null

# --- values: anything, shown escaped ---
refused "a reason that is not UTF-8 is refused (JSON could not carry it)" \
    "reason is not valid UTF-8" acquire -n --ttl 60 --reason "$(printf 'a\377')" lockA
reason=$(printf 'x\033[2Jy\rz\302\233w')
tok=$("$BATON" acquire --ttl 60 --reason "$reason" lockA 2>"$D/err")
is $? 0 "a reason with ESC, CR and a C1 control is taken"
"$BATON" locks >"$D/locks"
if grep -q "$ESC" "$D/locks" || grep -q "$(printf '\r')" "$D/locks"; then
	fail "baton locks prints no raw control character"
	diag "$(od -c "$D/locks" | head -5)"
else
	pass "baton locks prints no raw control character"
fi
like "$(cat "$D/locks")" 'x\\e\[2Jy\\rz\\u009bw' "it shows them escaped"
is "$("$BATON" locks --json | json '.locks[0].holders[0].reason')" "$reason" \
    "--json keeps the value"
"$BATON" release lockA "$tok" >/dev/null

"$BATON" note set k "$(printf 'a\033[2Jb\nsecond line')" >/dev/null
is "$("$BATON" note get k | od -An -c | tr -s ' ' | tr -d '\n')" \
    "$(printf 'a\033[2Jb\nsecond line\n' | od -An -c | tr -s ' ' | tr -d '\n')" \
    "note get to a pipe gives the value as it is, for scripts"
if command -v script >/dev/null 2>&1; then
	script -qec "'$BATON' note get k" /dev/null </dev/null >"$D/tty" 2>&1
	if grep -q "$ESC" "$D/tty"; then
		fail "note get on a terminal prints no raw ESC"
		diag "$(od -c "$D/tty" | head -5)"
	else
		pass "note get on a terminal prints no raw ESC"
	fi
	like "$(cat "$D/tty")" 'a\\e\[2Jb' "it shows the value escaped, newlines kept"
else
	skip "note get on a terminal prints no raw ESC" "no script(1)"
	skip "it shows the value escaped" "no script(1)"
fi

# a raw client may store any bytes in a note value: shown escaped, JSON stays valid
wire_run call note_set key=raw "value=$(printf 'p\033q\377r')"
is "$(printf '%s' "$WIRE_RES" | json .r.written)" true "a raw client stores a value that is not UTF-8"
is "$("$BATON" note get raw | od -An -tx1 | tr -d ' \n')" 701b71ff720a \
    "note get to a pipe gives its bytes"
"$BATON" note get raw --json >"$D/raw.json"
iconv -f UTF-8 -t UTF-8 <"$D/raw.json" >/dev/null 2>&1
ok $? "--json prints valid UTF-8"
is "$(json .value <"$D/raw.json")" "$(printf 'p\033q\357\277\275r')" \
    "with the stray byte as U+FFFD"

BATON_AGENT=bob "$BATON" msg send alice "$(printf 'hi\033]0;owned\007 there')" >/dev/null
BATON_AGENT=alice "$BATON" msg inbox >"$D/inbox" 2>/dev/null
if grep -q "$ESC" "$D/inbox"; then
	fail "msg inbox prints no raw ESC"
else
	pass "msg inbox prints no raw ESC"
fi
like "$(cat "$D/inbox")" 'hi\\e\]0;owned\\x07 there' "the body is shown escaped"

# text may span lines
"$BATON" call task_create "{\"title\":\"t\",\"complexity\":\"simple\",\"description\":\"line 1\\nline 2\\ttab\"}" >/dev/null
ok $? "a description with a newline and a tab is taken"

# --- "\u0000": refused, never cut short ---
refused "baton call refuses \\u0000 in a key" "key holds .u0000" \
    call note_set '{"key":"a\u0000b","value":"v"}'
refused "and in a value" "value holds .u0000" \
    call note_set '{"key":"nul","value":"x\u0000y"}'
printf '{"key":"a","value":"v"}\0{"x":1}' >"$D/nulin"
baton_run call note_set - <"$D/nulin"
is "$RC" 65 "a NUL byte in JSON on stdin is refused"
refused "--json-value refuses \\u0000" "holds .u0000" \
    note set nul2 --json-value '"x\u0000y"'
mcp_start 1 mcp-agent
mcp_call 1 2 note_set '{"key":"a\u0000b","value":"v"}'
mcp_call 1 3 note_set '{"key":"nul3","value":"x\u0000y"}'
mcp_call 1 4 note_set '{"key":"n\u001bm","value":"v"}'
mcp_call 1 5 note_get '{"key":"a"}'
wait_for "grep -q '\"id\":5,' '$D/mcp1.out'" 10
e2=$(grep '"id":2,' "$D/mcp1.out")
like "$e2" '"field":"key"' "MCP: \\u0000 in a key is an error naming the field"
like "$(grep '"id":3,' "$D/mcp1.out")" '"field":"value"' "MCP: \\u0000 in a value too"
like "$(grep '"id":4,' "$D/mcp1.out")" 'key must not contain control characters' \
    "MCP: a control character in a key is refused"
is "$(mcp_result 1 5 | json .found)" false "and no note \"a\" was written"
exec 3>&-
wait "$MCP_PID_1"
is "$("$BATON" note list --json | json '[.notes[].key] | sort | join(",")')" k,raw \
    "no note but k and raw exists"

broker_alive
ok $? "the broker is still up"
stop_broker
done_testing
