#!/bin/sh
# The baton CLI's contract with scripts: exit statuses, one JSON line on
# stdout for call, one line on stderr for errors (DESIGN §7).

. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir

# --- without a broker ------------------------------------------------

baton_run --version
ok $RC "baton --version exits 0"
like "$OUT" '[0-9]+\.[0-9]+' "baton --version prints a version"

baton_run --help
ok $RC "baton --help exits 0"
# every operation in the table, read from the X-macro in common.h
missing=
for op in $(sed -n 's/^[[:space:]]*X(\([a-z_]*\)).*/\1/p' "$TOP_SRCDIR/common/common.h"); do
	printf '%s\n' "$OUT" | grep -qw -- "$op" || missing="$missing $op"
done
is "$missing" "" "baton --help lists every operation"
like "$OUT" 'call' "baton --help lists the call command"

baton_run help
ok $RC "baton help exits 0"

# every command of the table, as --help lists them: `baton help CMD`,
# `baton CMD --help` and `baton CMD -h` exit 0 and print its usage
baton_run --help
cmds=$(printf '%s\n' "$OUT" | sed -n '/^Commands/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p' |
    sort -u)
missing=
for c in status call lock acquire release renew locks task project note counter event \
    agents msg discuss mcp install uninstall init enable disable service stop restart export \
    import help; do
	printf '%s\n' "$cmds" | grep -qx -- "$c" || missing="$missing $c"
done
is "$missing" "" "baton --help lists every command"
for c in $cmds; do
	for form in "help $c" "$c --help" "$c -h"; do
		# shellcheck disable=SC2086 # form is words
		baton_run $form </dev/null
		is "$RC:$(printf '%s\n' "$OUT" | head -n 1 | cut -d ' ' -f 1-3)" "0:usage: baton $c" \
		    "baton $form exits 0 and prints the usage of $c"
	done
done
baton_run note set --help
is "$RC:$(printf '%s\n' "$OUT" | head -n 1 | cut -d ' ' -f 1-4)" "0:usage: baton note set" \
    "baton note set --help prints the usage of the subcommand"
baton_run help task claim
is "$RC:$(printf '%s\n' "$OUT" | head -n 1 | cut -d ' ' -f 1-4)" "0:usage: baton task claim" \
    "baton help task claim prints the usage of the subcommand"
baton_run help lock_acquire
ok $RC "baton help OP exits 0"
like "$OUT" '^lock_acquire - ' "baton help OP shows the operation"
like "$OUT" 'wait_seconds' "with its arguments"
baton_run help no_such_thing
is "$RC" 65 "baton help of an unknown name exits 65"
test ! -e "$BATON_SOCKET"
ok $? "help started no broker"

baton_run lock --frobnicate x -- true
is "$RC" 64 "an unknown option of a command exits 64"
like "$ERR" 'frobnicate.*usage: baton lock' "the usage error names the option and shows the usage"
is "$(lines "$ERR")" 1 "the usage error is one line on stderr"

baton_run frobnicate
is "$RC" 64 "an unknown command exits 64"
like "$ERR" 'frobnicate' "the usage error names the command"

baton_run --no-such-option status
is "$RC" 64 "an unknown option exits 64"

baton_run call
is "$RC" 64 "call without an operation exits 64"

baton_run --no-autostart status
is "$RC" 69 "--no-autostart with no broker exits 69"
is "$(lines "$ERR")" 1 "the unavailable error is one line on stderr"
is "$OUT" "" "nothing on stdout when the broker is unavailable"
test ! -e "$BATON_SOCKET"
ok $? "--no-autostart started no broker" "$(ls -l "$BATON_SOCKET" 2>&1)"

BATON_NO_AUTOSTART=1 baton_run call status
is "$RC" 69 "BATON_NO_AUTOSTART=1 with no broker exits 69"

# --- with a broker ---------------------------------------------------

start_broker
[ -z "$BROKER_PID" ] && bail_out "no broker to test"

baton_run call status
ok $RC "call status without JSON exits 0"
is "$(lines "$OUT")" 1 "call prints exactly one line"
is "$(printf '%s' "$OUT" | json type)" object "that line is one JSON object"
is "$(printf '%s' "$OUT" | json .pid)" "$BROKER_PID" "call status answers from our broker"

baton_run call status '{}'
ok $RC "call status '{}' exits 0"

printf '{}' >"$TEST_DIR/args"
baton_run call status - <"$TEST_DIR/args"
ok $RC "call reads its JSON from stdin with -"

baton_run call lock_acquire '{"name":'
is "$RC" 65 "call with bad JSON exits 65"
is "$(lines "$ERR")" 1 "bad JSON is one line on stderr"
is "$OUT" "" "bad JSON prints nothing on stdout"

baton_run call lock_acquire '["x"]'
is "$RC" 65 "call with a JSON array instead of an object exits 65"

baton_run call no_such_op '{}'
is "$RC" 65 "call with an unknown operation exits 65"
like "$ERR" 'no_such_op' "the unknown-operation error names it"

baton_run call lock_acquire '{"name":5}'
is "$RC" 65 "a wrongly typed argument exits 65"
like "$ERR" 'name' "the error names the field"
is "$(lines "$ERR")" 1 "the error is one line on stderr"

baton_run call lock_acquire '{"name":"x","wait_seconds":-1}'
is "$RC" 65 "an out-of-bounds argument exits 65"
like "$ERR" 'wait_seconds' "the error names wait_seconds"

baton_run call lock_acquire '{}'
is "$RC" 65 "a missing required argument exits 65"
like "$ERR" 'name' "the error names what is missing"

baton_run call lock_acquire '{"name":"x","mode":"sideways"}'
is "$RC" 65 "a value outside the choices exits 65"
like "$ERR" 'mode' "the error names mode"

baton_run call lock_acquire '{"name":"x"}'
ok $RC "an acquired lock exits 0"
is "$(lines "$OUT")" 1 "lock_acquire prints exactly one line"
is "$(printf '%s' "$OUT" | json .acquired)" true "and it says acquired:true"

WIRE_AGENT=cli-test-holder hold_start 1 acquire x
ok $? "a wire client holds x"
baton_run call lock_acquire '{"name":"x"}'
is "$RC" 0 "acquired:false still exits 0"
is "$(lines "$OUT")" 1 "acquired:false is one JSON line"
is "$(printf '%s' "$OUT" | json .acquired)" false "it says acquired:false"
is "$ERR" "" "acquired:false writes nothing on stderr"

baton_run call lock_release '{"name":"x"}'
is "$RC" 77 "releasing another session's lock exits 77"
is "$(lines "$ERR")" 1 "the permission error is one line on stderr"
hold_stop 1

baton_run --agent named-agent call status
is "$(printf '%s' "$OUT" | json .agent)" named-agent "--agent names the session"

baton_run --project "$TEST_DIR/elsewhere" call status
is "$(printf '%s' "$OUT" | json .project)" "$TEST_DIR/elsewhere" "--project sets the namespace"

baton_run status
ok $RC "human status exits 0"
like "$OUT" '.' "human status prints something"

# a project that is no directory is a namespace all the same: status says
# once that install and init need one
baton_run --project /nonexistent/baton-test status
is "$RC:$ERR" "0:" "status with --project of no directory: exit 0, nothing on stderr"
is "$(printf '%s\n' "$OUT" | grep -c 'nonexistent/baton-test is not a directory')" 1 \
    "it says once that the project is not a directory"

# times for people: no 60 in the seconds (a lock of 600 s expires in 9m 59s, not 9m60s)
tok=$("$BATON" acquire --ttl 600 ten-minutes)
baton_run locks ten-minutes
like "$(printf '%s\n' "$OUT" | awk '$1 == "ten-minutes" { print $5, $6 }')" '^9m 5[0-9]s$' \
    "baton locks shows an expiry of 599.x s as 9m 5Xs"
"$BATON" release ten-minutes "$tok"
baton_run task create "the only task"
baton_run task
like "$OUT" '^1 task, 0 done' "one task is 1 task, not 1 tasks"

stop_broker
done_testing
