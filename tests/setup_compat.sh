#!/bin/sh
# baton install for the seed tools (issue 19): --compat writes
# BATON_COMPAT (and the file and command options of Lockstep's tools)
# into the stdio entry; --http writes an HTTP entry with the bearer token
# of `baton mcp --http` for Claude Code and Codex; uninstall takes out
# exactly that; bad values are usage errors that write nothing.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
unset CLAUDE_CONFIG_DIR CODEX_HOME XDG_CONFIG_HOME
P=$BATON_PROJECT
cd "$P" || bail_out "no project directory"

baton_run install --claude --compat lockstep --roots "$P" --command-allow make,git
ok $RC "install --compat lockstep exits 0"
is "$(jq -c '.mcpServers.baton.env | {BATON_COMPAT, BATON_ROOTS, BATON_COMMAND_ALLOW}' "$P/.mcp.json")" \
    "{\"BATON_COMPAT\":\"lockstep\",\"BATON_ROOTS\":\"$P\",\"BATON_COMMAND_ALLOW\":\"make,git\"}" \
    "the entry carries BATON_COMPAT, BATON_ROOTS and BATON_COMMAND_ALLOW"
is "$(jq -c '.mcpServers.baton.args' "$P/.mcp.json")" '["mcp"]' "and still runs baton mcp"
BATON_COMPAT=airlock baton_run install --claude --compat lockstep
is "$(jq -r '.mcpServers.baton.env.BATON_COMPAT' "$P/.mcp.json")" lockstep \
    "--compat wins over BATON_COMPAT in the environment"
baton_run uninstall --claude
ok $([ ! -e "$P/.mcp.json" ]; echo $?) "uninstall takes it out (the file held nothing else)"

baton_run install --all --http 27183
ok $RC "install --http exits 0"
tok=$("$BATON" mcp --http --print-token)
is "$(jq -c .mcpServers.baton "$P/.mcp.json")" \
    "{\"type\":\"http\",\"url\":\"http://127.0.0.1:27183/mcp\",\"headers\":{\"Authorization\":\"Bearer $tok\"}}" \
    "Claude Code: an http entry with the URL and the bearer token"
like "$(cat "$HOME/.codex/config.toml")" "url = \"http://127.0.0.1:27183/mcp\"" "Codex: the URL"
like "$(cat "$HOME/.codex/config.toml")" "http_headers = \\{ Authorization = \"Bearer $tok\" \\}" \
    "Codex: the Authorization header"
is "$(stat -c %a "$BATON_STATE_DIR/http-token")" 600 "the token was created 0600"
baton_run uninstall --all
ok $([ ! -e "$P/.mcp.json" ] && [ ! -e "$HOME/.codex/config.toml" ]; echo $?) \
    "uninstall removes both entries"

baton_run install --claude --compat nope
ok $([ $RC -eq 64 ] && [ ! -e "$P/.mcp.json" ]; echo $?) "--compat nope: exit 64, nothing written" "$ERR"
baton_run install --claude --http 99999
ok $([ $RC -eq 64 ] && [ ! -e "$P/.mcp.json" ]; echo $?) "--http with a bad port: exit 64, nothing written" "$ERR"
baton_run install --claude --http 8080 --compat airlock
ok $([ $RC -eq 64 ] && printf '%s' "$ERR" | grep -q 'mcp --http'; echo $?) \
    "--http with --compat: the options belong to the server; exit 64" "$ERR"
# first starts at once make one token, and every one of them gets it
# (twenty rounds of twelve: one in seven rounds raced before the token
# was linked into place whole)
r=0
bad=
while [ $r -lt 20 ]; do
	rm -f "$BATON_STATE_DIR/http-token"
	i=0
	while [ $i -lt 12 ]; do
		"$BATON" mcp --http --print-token >"$TEST_DIR/tok.$i" 2>&1 &
		_bg_pids="$_bg_pids $!"
		i=$((i + 1))
	done
	wait
	[ "$(cat "$TEST_DIR"/tok.* | sort -u | wc -l)" -eq 1 ] &&
	    [ "$(cat "$TEST_DIR/tok.0")" = "$(cat "$BATON_STATE_DIR/http-token")" ] ||
	    bad="$bad round $r: $(cat "$TEST_DIR"/tok.* | sort | uniq -c | tr '\n' ' ')"
	r=$((r + 1))
done
is "$bad" "" "twelve first --print-token at once, twenty times: all print the one token of http-token"
is "$(ls "$BATON_STATE_DIR" | grep -c http-token)" 1 "and no temporary file is left"

done_testing
