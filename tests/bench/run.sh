#!/bin/sh
# make bench: status round trips through a private broker against a raw
# Unix-socket echo of the same frames, in one run, as a ratio (DESIGN §9);
# then locks: acquire+release round trips with 1 and 32 clients (also
# against a second broker with --durability none), release -> grant wake
# latency, and `baton lock x -- true` against `flock FILE true`.
# Never pass/fail: it prints figures.
#
#	run.sh BUILDDIR        BENCH_SECONDS (default 8) per benchmark,
#	                       BENCH_RUNS (default 200) of baton lock and flock
set -u

builddir=${1:?usage: run.sh BUILDDIR}
secs=${BENCH_SECONDS:-8}
batond=$builddir/batond
echo_bin=$builddir/tests/bench/bench_echo
status_bin=$builddir/tests/bench/bench_status
lock_bin=$builddir/tests/bench/bench_lock
baton=$builddir/baton
runs=${BENCH_RUNS:-200}

for f in "$batond" "$echo_bin" "$status_bin" "$lock_bin" "$baton"; do
	if [ ! -x "$f" ]; then
		echo "run.sh: $f is missing: run make bench" >&2
		exit 1
	fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench.XXXXXX") || exit 1
chmod 700 "$dir"
mkdir -m 700 "$dir/s" "$dir/state" "$dir/s2" "$dir/state2"
sock=$dir/s/sock
sock2=$dir/s2/sock
pid=
pid2=

cleanup() {
	for p in $pid $pid2; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# start_broker SOCKET STATE-DIR LOG [BATOND-OPTION...]: its pid in $started
start_broker() {
	_s=$1 _d=$2 _l=$3
	shift 3
	BATON_STATE_DIR=$_d BATON_SOCKET=$_s "$batond" -f -S "$_s" "$@" 2>"$_l" &
	started=$!
	# The broker accepts once bench_status can say hello; give it 5 s.
	tries=0
	until "$status_bin" -S "$_s" -n 1 >/dev/null 2>&1; do
		tries=$((tries + 1))
		if ! kill -0 "$started" 2>/dev/null || [ "$tries" -ge 50 ]; then
			echo "run.sh: batond $* did not start listening on $_s:" >&2
			cat "$_l" >&2
			exit 1
		fi
		sleep 0.1
	done
}

start_broker "$sock" "$dir/state" "$dir/batond.log"
pid=$started

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

# ---- locks ----

# field LINE NAME: the number after NAME on a result line ("p50 12.3 us")
field() {
	printf '%s\n' "$1" | awk -v k="$2" '/round trips in/ { for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'
}

# A second broker with --durability none, for the durability comparisons.
start_broker "$sock2" "$dir/state2" "$dir/batond2.log" --durability none
pid2=$started

lock1_out=$("$lock_bin" -S "$sock" -t "$secs") || { echo "run.sh: bench_lock failed" >&2; exit 1; }
lock1n_out=$("$lock_bin" -S "$sock2" -t "$secs") ||
	{ echo "run.sh: bench_lock (durability none) failed" >&2; exit 1; }
lock1n_out=$(printf '%s\n' "$lock1n_out" | sed 's/^lock:/lock-none:/; s/^# 1 client,/# 1 client, durability none,/')
lock32_out=$("$lock_bin" -S "$sock" -t "$secs" -c 32) ||
	{ echo "run.sh: bench_lock -c 32 failed" >&2; exit 1; }
lock32n_out=$("$lock_bin" -S "$sock2" -t "$secs" -c 32) ||
	{ echo "run.sh: bench_lock -c 32 (durability none) failed" >&2; exit 1; }
lock32n_out=$(printf '%s\n' "$lock32n_out" | sed 's/^lock32:/lock32-none:/; s/^# 32 clients,/# 32 clients, durability none,/')
wake_out=$("$lock_bin" -S "$sock" -w -t 2) || { echo "run.sh: bench_lock -w failed" >&2; exit 1; }
printf '%s\n' "$lock1_out" "$lock1n_out" "$lock32_out" "$lock32n_out" "$wake_out"

# wall time of RUNS runs of a command, in ms per run
per_run() {
	t0=$(date +%s%N)
	i=0
	while [ $i -lt "$runs" ]; do
		"$@" || return 1
		i=$((i + 1))
	done
	t1=$(date +%s%N)
	awk -v a="$t0" -v b="$t1" -v n="$runs" 'BEGIN { printf "%.3f", (b - a) / 1e6 / n }'
}
: >"$dir/x"
"$baton" -S "$sock" --no-autostart lock x -- true &&
	flock "$dir/x" true || { echo "run.sh: baton lock or flock failed" >&2; exit 1; }
bl=$(per_run "$baton" -S "$sock" --no-autostart lock x -- true) ||
	{ echo "run.sh: baton lock x -- true failed" >&2; exit 1; }
fl=$(per_run flock "$dir/x" true) || { echo "run.sh: flock failed" >&2; exit 1; }
echo "baton lock x -- true: $bl ms per run  flock FILE true: $fl ms per run ($runs runs each)"

echo "# ratios (goals in DESIGN 9)"
awk -v e="$e" -v l1="$(rate "$lock1_out")" -v l1n="$(rate "$lock1n_out")" \
    -v l32="$(rate "$lock32_out")" \
    -v l32n="$(rate "$lock32n_out")" -v ep50="$(field "$echo_out" p50)" \
    -v w50="$(field "$wake_out" p50)" -v w99="$(field "$wake_out" p99)" \
    -v bl="$bl" -v fl="$fl" 'BEGIN {
	printf "lock acquire+release, 1 client: %d/s  echo: %d/s  ratio %.2f (goal >= 0.6); durability none: %d/s  ratio %.2f\n", l1, e, (e > 0 ? l1 / e : 0), l1n, (e > 0 ? l1n / e : 0)
	printf "lock acquire+release, 32 clients: %d/s  = %.2f of echo; durability none: %d/s  strict/none %.2f (goal >= 0.5)\n", l32, (e > 0 ? l32 / e : 0), l32n, (l32n > 0 ? l32 / l32n : 0)
	printf "release -> grant: p50 %.1f us  p99 %.1f us  echo p50 %.1f us  p50 = %.2f echo round trips (goal <= 2)\n", w50, w99, ep50, (ep50 > 0 ? w50 / ep50 : 0)
	printf "baton lock x -- true vs flock: %.2fx (goal <= 2)\n", (fl > 0 ? bl / fl : 0)
}'
