#!/bin/sh
# The Lockstep file tools (baton mcp --compat lockstep) refuse a path
# through a symlink; tests/mcp/compat_lockstep.mjs checks what they
# answer.  This checks what such a refusal leaves behind: baton mcp
# exits 0 at the end of its input, which under the sanitizers also
# means it leaked nothing (a path resolved and then refused by the walk
# was never freed).  The file tools work without a broker.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR
mkdir -p "$D/root" "$D/out"
echo secret >"$D/out/s"
ln -s "$D/out" "$D/root/link"

rpc() {
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":%s}}\n' \
	    "$1" "$2" "$3"
}
{
	printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"tests-sh","version":"0"}}}'
	printf '%s\n' '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	rpc 2 file_read '{"path":"link/s"}'
	rpc 3 file_write '{"path":"link/t","content":"x"}'
	rpc 4 artifact_read '{"path":"link/s","binary":true}'
	rpc 5 file_write '{"path":"inside.txt","content":"ok"}'
} | BATON_NO_AUTOSTART=1 timeout 20 "$BATON" mcp --compat lockstep --roots "$D/root" \
    >"$D/answers" 2>"$D/err"
rc=$?
ok $rc "baton mcp --compat lockstep exits 0 after refusing paths through a symlink" \
    "$(tail -n 20 "$D/err")"
for id in 2 3 4; do
	is "$(jq -c "select(.id == $id) | .result.isError" "$D/answers")" true \
	    "request $id through the symlink is refused"
done
is "$(jq -c 'select(.id == 5) | .result.isError // false' "$D/answers")" false \
    "a path inside the root is still written"
is "$(cat "$D/root/inside.txt")" ok "and holds what was written"
ok "$([ ! -e "$D/out/t" ]; echo $?)" "nothing was created through the symlink"

done_testing
