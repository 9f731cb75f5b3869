#!/bin/sh
# A stand-in for an agent CLI, for tests/hooks.sh: one process with a
# `baton mcp` child and hook children, as Claude Code and Codex have.
#
#   agent.sh DIR
#
# It starts `baton mcp` reading DIR/mcp.in (a fifo it keeps open, so the
# test may write JSON-RPC lines to it) and writing DIR/mcp.out, then runs
# every line written to the fifo DIR/cmd as `sh -c LINE`, its child, and
# writes the exit status to DIR/rc.N (N counts the lines from 1).  It
# ends when DIR/cmd says "exit".  With AGENT_MCP2 set it starts a second
# `baton mcp` on DIR/mcp2.in and DIR/mcp2.out (an agent configured twice).
dir=$1
mkfifo "$dir/mcp.in" "$dir/cmd" || exit 1
"$BATON" mcp <"$dir/mcp.in" >"$dir/mcp.out" 2>"$dir/mcp.err" &
echo $! >"$dir/mcp.pid"
exec 3>"$dir/mcp.in" 4<>"$dir/cmd"
if [ -n "${AGENT_MCP2:-}" ]; then
	mkfifo "$dir/mcp2.in" || exit 1
	"$BATON" mcp <"$dir/mcp2.in" >"$dir/mcp2.out" 2>"$dir/mcp2.err" 3>&- 4>&- &
	echo $! >"$dir/mcp2.pid"
	exec 5>"$dir/mcp2.in"
fi
echo $$ >"$dir/pid"
n=0
while IFS= read -r line <&4; do
	[ "$line" = exit ] && break
	n=$((n + 1))
	sh -c "$line" 3>&- 4>&- 5>&-
	echo $? >"$dir/rc.tmp"
	mv "$dir/rc.tmp" "$dir/rc.$n"
done
exec 3>&- 5>&-
wait
