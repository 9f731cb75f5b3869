#!/bin/sh
# make bench: status round trips through a private broker against a raw
# Unix-socket echo of the same frames, in one run, as a ratio (DESIGN §9).
# Never pass/fail: it prints figures.
#
#	run.sh BUILDDIR        BENCH_SECONDS (default 8) per benchmark
set -u

builddir=${1:?usage: run.sh BUILDDIR}
secs=${BENCH_SECONDS:-8}
batond=$builddir/batond
echo_bin=$builddir/tests/bench/bench_echo
status_bin=$builddir/tests/bench/bench_status

for f in "$batond" "$echo_bin" "$status_bin"; do
	if [ ! -x "$f" ]; then
		echo "run.sh: $f is missing: run make bench" >&2
		exit 1
	fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench.XXXXXX") || exit 1
chmod 700 "$dir"
mkdir -m 700 "$dir/s" "$dir/state"
sock=$dir/s/sock
pid=

cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

BATON_STATE_DIR=$dir/state BATON_SOCKET=$sock "$batond" -f -S "$sock" \
	2>"$dir/batond.log" &
pid=$!

# The broker accepts once bench_status can say hello; give it 5 s.
tries=0
until "$status_bin" -S "$sock" -n 1 >/dev/null 2>&1; do
	tries=$((tries + 1))
	if ! kill -0 "$pid" 2>/dev/null || [ "$tries" -ge 50 ]; then
		echo "run.sh: batond did not start listening on $sock:" >&2
		cat "$dir/batond.log" >&2
		exit 1
	fi
	sleep 0.1
done

echo "# $secs s each, one client, $(nproc 2>/dev/null || echo ?) CPUs"
echo_out=$("$echo_bin" -t "$secs") || { echo "run.sh: bench_echo failed" >&2; exit 1; }
status_out=$("$status_bin" -S "$sock" -t "$secs") ||
	{ echo "run.sh: bench_status failed" >&2; exit 1; }
printf '%s\n%s\n' "$echo_out" "$status_out"

# the rate is the field before "/s" on the result line
rate() {
	printf '%s\n' "$1" | awk '/round trips in/ { for (i = 1; i <= NF; i++) if ($i ~ /\/s$/) { sub(/\/s$/, "", $i); print $i } }'
}
e=$(rate "$echo_out")
s=$(rate "$status_out")
awk -v s="$s" -v e="$e" 'BEGIN {
	printf "status round trips: %d/s  echo: %d/s  ratio %.2f (goal >= 0.6)\n", s, e, (e > 0 ? s / e : 0)
}'
