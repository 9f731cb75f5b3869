#!/bin/sh
# make bench: the figures of DESIGN 9 (and a few of issues 13, 16, 18, 20),
# measured against private brokers, printed as one table: figure, result,
# goal, PASS or MISS.  Benchmarks never decide pass or fail of a build:
# the table says how this run went, on this machine, at this load.
#
# The figures that set two measurements against each other (a rate
# against the raw echo's, strict against none, baton lock against flock,
# baton mcp against a direct call) and the per-call costs run ROUNDS
# times, the measurements of one round back to back, and the table shows
# the median and, in brackets, the spread (lowest-highest) of the rounds:
# a machine that gets busy for a moment spoils one round, not the figure.
# The restore of 1 000 000 notes, the idle sessions and the tools/list
# sizes run once.  The load average is printed at the start and the end,
# with the CPU time other processes took meanwhile, and a warning when
# the machine was busy: latencies from a busy machine say little.
#
#	run.sh BUILDDIR
#
#	QUICK=1              a pass of about a minute: 1 s per measurement,
#	                     100 000 notes, 2 000 idle sessions, 50 runs
#	BENCH_BEFORE=DIR     another build directory (say, of main): every
#	                     figure is measured for its batond and baton too,
#	                     in the same rounds, in a column of its own
#	BENCH_SECONDS        per measurement (default 4; QUICK 1)
#	BENCH_ROUNDS         rounds of the paired figures (default 3)
#	BENCH_RUNS           runs of baton lock and of flock per round (200; QUICK 50)
#	BENCH_NOTES          notes to restore (1000000; QUICK 100000)
#	BENCH_LOG            where every measurement's own lines go
#	                     (default BUILDDIR/bench.log)
set -u

builddir=${1:?usage: run.sh BUILDDIR}
case ${QUICK:-0} in
0 | '') quick=0 ;;
*) quick=1 ;;
esac
if [ "$quick" = 1 ]; then
	secs=${BENCH_SECONDS:-1} runs=${BENCH_RUNS:-50} notes=${BENCH_NOTES:-100000}
	nconns=2000
else
	secs=${BENCH_SECONDS:-4} runs=${BENCH_RUNS:-200} notes=${BENCH_NOTES:-1000000}
	nconns=10000
fi
rounds=${BENCH_ROUNDS:-3}
log=${BENCH_LOG:-$builddir/bench.log}
before=${BENCH_BEFORE:-}
tb=$builddir/tests/bench
ncpu=$(nproc 2>/dev/null || echo 1)

for f in batond baton tests/bench/bench_echo tests/bench/bench_status tests/bench/bench_lock \
    tests/bench/bench_mixed tests/bench/bench_restore tests/bench/bench_conns \
    tests/bench/bench_mcp tests/bench/bench_sse tests/bench/bench_review \
    tests/bench/bench_hook tests/bench/bench_etcd tests/bench/bench_relay; do
	if [ ! -x "$builddir/$f" ]; then
		echo "run.sh: $builddir/$f is missing: run make bench" >&2
		exit 1
	fi
done
builds=this
if [ -n "$before" ]; then
	for f in batond baton; do
		if [ ! -x "$before/$f" ]; then
			echo "run.sh: BENCH_BEFORE=$before has no $f" >&2
			exit 1
		fi
	done
	builds="this before"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench.XXXXXX") || exit 1
chmod 700 "$dir"
res=$dir/results # lines: BUILD FIGURE VALUE, one per round
: >"$res"
: >"$dir/cpu" # CPU seconds of our processes that are not our children
: >"$log" || exit 1
pids=

cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	pids=
}
trap 'cleanup; rm -rf "$dir"' EXIT
trap 'exit 1' INT TERM HUP

say() {
	printf '%s\n' "$*" >&2
}
# fail: also from inside $(...): the main shell is told to stop
fail() {
	say "run.sh: $*"
	kill -TERM $$
	exit 1
}
# note "BUILD FIGURE" VALUE: one measurement of a figure (none when empty)
note() {
	[ -z "$2" ] || printf '%s %s\n' "$1" "$2" >>"$res"
}
# the program of build b (this or before)
prog() {
	if [ "$1" = before ]; then
		printf '%s/%s' "$before" "$2"
	else
		printf '%s/%s' "$builddir" "$2"
	fi
}
# cpu_busy: jiffies the machine's CPUs spent busy, and in all, from /proc/stat
cpu_busy() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

# start_broker NAME BUILD [BATOND-OPTION...]: a private broker; its socket
# in $dir/NAME/sock, its pid in the variable pid_NAME
start_broker() {
	_n=$1 _b=$2
	shift 2
	mkdir -m 700 "$dir/$_n" "$dir/$_n/state" || exit 1
	BATON_STATE_DIR=$dir/$_n/state BATON_SOCKET=$dir/$_n/sock \
	    "$(prog "$_b" batond)" -f -S "$dir/$_n/sock" "$@" 2>"$dir/$_n/log" &
	eval "pid_$_n=$!"
	pids="$pids $!"
	_tries=0
	until "$tb/bench_status" -S "$dir/$_n/sock" -n 1 >/dev/null 2>&1; do
		_tries=$((_tries + 1))
		if ! kill -0 "$(eval echo "\$pid_$_n")" 2>/dev/null || [ "$_tries" -ge 50 ]; then
			cat "$dir/$_n/log" >&2
			fail "batond $* did not start listening on $dir/$_n/sock"
		fi
		sleep 0.1
	done
}
sock() {
	printf '%s/%s/sock' "$dir" "$1"
}

# run LABEL COMMAND...: its output, logged; exits when it fails
run() {
	_l=$1
	shift
	printf '## %s\n' "$_l" >>"$log"
	"$@" >"$dir/out" 2>>"$log" || {
		cat "$dir/out" >>"$log"
		fail "$_l failed (see $log)"
	}
	cat "$dir/out" >>"$log"
	cat "$dir/out"
}
# get OUTPUT KEY: the number after KEY on the result line ("p50 12.3 us"),
# or the rate when KEY is rate
get() {
	printf '%s\n' "$1" | awk -v k="$2" '/round trips in/ {
		for (i = 1; i < NF; i++) {
			if (k == "rate" && $(i + 1) ~ /\/s$/ && $i == "s:") { v = $(i + 1); sub(/\/s$/, "", v); print v; exit }
			if ($i == k) { print $(i + 1); exit }
		}
	}'
}
# calc EXPR with variables a, b: the figure (awk)
calc() {
	awk -v a="$2" -v b="$3" "BEGIN { if (a == \"\" || b == \"\") exit; printf \"%.4f\", $1 }"
}

load_start=$(cut -d' ' -f1 /proc/loadavg)
busy0=$(cpu_busy)
t_start=$(date +%s)
say "make bench: $ncpu CPUs, load average $load_start at the start; $rounds rounds of $secs s per measurement${before:+; before: $before}"
case $quick in 1) say "(QUICK=1: a short pass; figures are rougher)" ;; esac

for b in $builds; do
	start_broker "strict_$b" "$b"
	start_broker "none_$b" "$b" --durability none
done

# ---- the paired figures, ROUNDS times ----

# round_build BUILD: every paired figure of one build, once
round_build() {
	_b=$1 s=$(sock "strict_$1") n=$(sock "none_$1")
	l1=$(run "lock, 1 client, strict ($_b)" "$tb/bench_lock" -S "$s" -t "$secs")
	l1n=$(run "lock, 1 client, none ($_b)" "$tb/bench_lock" -S "$n" -t "$secs")
	l32=$(run "lock, 32 clients, strict ($_b)" "$tb/bench_lock" -S "$s" -t "$secs" -c 32)
	l32n=$(run "lock, 32 clients, none ($_b)" "$tb/bench_lock" -S "$n" -t "$secs" -c 32)
	mx=$(run "mixed, 32 clients, strict ($_b)" "$tb/bench_mixed" -S "$s" -t "$secs" -c 32)
	mxn=$(run "mixed, 32 clients, none ($_b)" "$tb/bench_mixed" -S "$n" -t "$secs" -c 32)
	wk=$(run "wake ($_b)" "$tb/bench_lock" -S "$s" -w -t "$secs")
	note "$_b lock1" "$(calc 'a / b' "$(get "$l1" rate)" "$(get "$echo_out" rate)")"
	note "$_b lock1none" "$(calc 'a / b' "$(get "$l1n" rate)" "$(get "$echo_out" rate)")"
	note "$_b tail" "$(calc 'a / b' "$(get "$l1" p99)" "$(get "$l1" p50)")"
	note "$_b lock32" "$(calc 'a / b' "$(get "$l32" rate)" "$(get "$l32n" rate)")"
	note "$_b mixed32" "$(calc 'a / b' "$(get "$mx" rate)" "$(get "$mxn" rate)")"
	note "$_b wake" "$(calc 'a / b' "$(get "$wk" p50)" "$(get "$echo_out" p50)")"
	# baton lock x -- true against flock FILE true, RUNS each
	bl=$(per_run "$(prog "$_b" baton)" -S "$s" --no-autostart lock x -- true) ||
		fail "baton lock x -- true failed"
	fl=$(per_run flock "$dir/x" true) || fail "flock failed"
	printf '## baton lock x -- true (%s): %s ms per run; flock FILE true: %s ms per run\n' \
	    "$_b" "$bl" "$fl" >>"$log"
	note "$_b flock" "$(calc 'a / b' "$bl" "$fl")"
	# baton mcp: a status call through it against a direct one; CPU per lock pair
	mc=$(run "baton mcp status ($_b)" "$tb/bench_mcp" -S "$s" -b "$(prog "$_b" baton)" -t "$secs")
	st=$(run "status ($_b)" "$tb/bench_status" -S "$s" -t "$secs")
	note "$_b shim" "$(calc 'a - b' "$(get "$mc" p50)" "$(get "$st" p50)")"
	ml=$(run "baton mcp lock pairs ($_b)" "$tb/bench_mcp" -S "$s" -b "$(prog "$_b" baton)" -l \
	    -P "$(eval echo "\$pid_strict_$_b")" -t "$secs")
	mc=$(printf '%s\n' "$ml" | awk '/^CPU per lock pair:/ { print $(NF - 4) }')
	note "$_b mcpcpu" "$mc"
	# what of it is the chain's wake-ups and system calls (bench_relay, once a
	# round), what is baton's own; and the same pairs with client, baton mcp
	# and batond all on CPU 0, where no wake-up crosses to another CPU
	note "$_b relay" "$relay_cpu"
	note "$_b mcpown" "$(calc 'a - b' "$mc" "$relay_cpu")"
	if [ "$ncpu" -gt 1 ] && command -v taskset >/dev/null 2>&1; then
		_p=$(eval echo "\$pid_strict_$_b")
		taskset -a -p -c 0 "$_p" >/dev/null || fail "taskset -p $_p failed"
		m1=$(run "baton mcp lock pairs, all on CPU 0 ($_b)" taskset -c 0 "$tb/bench_mcp" \
		    -S "$s" -b "$(prog "$_b" baton)" -l -P "$_p" -t "$secs")
		taskset -a -p -c "0-$((ncpu - 1))" "$_p" >/dev/null || fail "taskset -p $_p failed"
		note "$_b mcpcpu1" "$(printf '%s\n' "$m1" | awk '/^CPU per lock pair:/ { print $(NF - 4) }')"
	fi
}
# per_run COMMAND...: wall time of RUNS runs, in ms per run
per_run() {
	_t0=$(date +%s%N)
	_i=0
	while [ $_i -lt "$runs" ]; do
		"$@" || return 1
		_i=$((_i + 1))
	done
	_t1=$(date +%s%N)
	awk -v a="$_t0" -v b="$_t1" -v n="$runs" 'BEGIN { printf "%.3f", (b - a) / 1e6 / n }'
}
: >"$dir/x"
r=1
while [ $r -le "$rounds" ]; do
	say "round $r of $rounds..."
	echo_out=$(run "echo" "$tb/bench_echo" -t "$secs")
	relay_out=$(run "relay and echo child, lock-pair-shaped" "$tb/bench_relay" -t "$secs")
	relay_cpu=$(printf '%s\n' "$relay_out" | awk '/^CPU per pair:/ { print $(NF - 4) }')
	for b in $builds; do
		round_build "$b"
	done
	r=$((r + 1))
done

# ---- once: restore, memory, idle sessions, tools/list ----

# restore BUILD: fill a strict broker with NOTES notes, stop it (SIGTERM
# saves what is pending), time a fresh daemonizing batond on its state
# until it answers; then its memory per note
restore() {
	_b=$1
	start_broker "restore_$_b" "$_b"
	_s=$(sock "restore_$_b")
	run "restore fill ($_b)" "$tb/bench_restore" -S "$_s" -n "$notes" fill >/dev/null
	_p=$(eval echo "\$pid_restore_$_b")
	kill "$_p"
	wait "$_p"
	_t0=$(date +%s%N)
	BATON_SOCKET=$_s "$(prog "$_b" batond)" -S "$_s" -D "$dir/restore_$_b/state" \
	    2>"$dir/restore_$_b/log2" || {
		cat "$dir/restore_$_b/log2" >&2
		fail "batond did not restore"
	}
	"$tb/bench_status" -S "$_s" -n 1 >/dev/null || fail "no answer after the restore"
	_t1=$(date +%s%N)
	_p=$("$(prog "$_b" baton)" -S "$_s" --no-autostart call status '{}' |
	    sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
	pids="$pids $_p"
	run "restore check ($_b)" "$tb/bench_restore" -S "$_s" -n "$notes" check >/dev/null
	note "$_b restore" "$(awk -v a="$_t0" -v b="$_t1" -v n="$notes" \
	    'BEGIN { printf "%.4f", (b - a) / 1e9 * 1000000 / n }')"
	_k=$(awk '/^VmRSS:/ { print $2 }' "/proc/$_p/status" 2>/dev/null)
	# a daemon is no child of ours: its CPU time is counted here
	awk '{ print ($14 + $15) / 100 }' "/proc/$_p/stat" >>"$dir/cpu" 2>/dev/null
	note "$_b pernote" "$(calc 'a * 1024 / b' "${_k:-}" "$notes")"
	printf '## restore (%s): %d notes in %s s; RSS %s KiB\n' "$_b" "$notes" \
	    "$(calc '(b - a) / 1e9' "$_t0" "$_t1")" "${_k:-?}" >>"$log"
	kill "$_p" 2>/dev/null
}
# the seconds of the restore, scaled to 1 000 000 notes (QUICK restores fewer)
for b in $builds; do
	say "restore of $notes notes ($b)..."
	restore "$b"
	s=$(sock "strict_$b")
	say "idle sessions and tools/list ($b)..."
	co=$(run "idle sessions ($b)" "$tb/bench_conns" -S "$s" -c "$nconns" -t "$secs")
	note "$b conns" "$(printf '%s\n' "$co" | awk '/^idle sessions:/ { sub(/;/, "", $3); print $3 }')"
	note "$b connbytes" "$(printf '%s\n' "$co" | awk '/^idle sessions:/ { print $(NF - 3) }')"
	for p in full core; do
		tl=$(run "tools/list $p ($b)" "$tb/bench_mcp" -S "$s" -b "$(prog "$b" baton)" -p "$p" -L)
		note "$b list_$p" "$(printf '%s\n' "$tl" | awk '{ print $(NF - 2) }')"
	done
	# the seed tools (issue 19): their tools/list, and lock pairs through
	# --compat airlock over stdio and over HTTP against the native tools
	for p in lockstep airlock; do
		tl=$(run "tools/list --compat $p ($b)" "$tb/bench_mcp" -S "$s" -b "$(prog "$b" baton)" -L -c "$p")
		note "$b list_$p" "$(printf '%s\n' "$tl" | awk '{ print $(NF - 2) }')"
	done
	np=$(run "native lock pairs ($b)" "$tb/bench_mcp" -S "$s" -b "$(prog "$b" baton)" -l -t "$secs")
	ap=$(run "airlock lock pairs ($b)" "$tb/bench_mcp" -S "$s" -b "$(prog "$b" baton)" -l -c airlock -t "$secs")
	note "$b airlock" "$(calc 'a / b' "$(get "$ap" p50)" "$(get "$np" p50)")"
	hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
	    echo 27999)
	BATON_SOCKET=$s BATON_STATE_DIR=$dir/strict_$b/state BATON_NO_AUTOSTART=1 \
	    "$(prog "$b" baton)" mcp --http "$hport" --compat airlock 2>"$dir/http_$b.log" &
	hpid=$!
	pids="$pids $hpid"
	htok=$(BATON_STATE_DIR=$dir/strict_$b/state "$(prog "$b" baton)" mcp --http --print-token)
	_i=0
	until grep -q listening "$dir/http_$b.log" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -ge 100 ] && fail "baton mcp --http did not start: $(cat "$dir/http_$b.log")"
		sleep 0.05
	done
	hp=$(run "airlock lock pairs over HTTP ($b)" "$tb/bench_mcp" -S "$s" -b "$(prog "$b" baton)" -l -c airlock \
	    -H "$hport" -T "$htok" -t "$secs")
	kill "$hpid"
	wait "$hpid" 2>/dev/null
	note "$b airlockhttp" "$(calc 'a / b' "$(get "$hp" p50)" "$(get "$np" p50)")"
done

# ---- the feed (issue 16): lock round trips with 5 dashboards subscribed ----
dash_start() {
	dpids=
	_i=0
	while [ $_i -lt 5 ]; do
		BATON_SOCKET=$1 "$2" --no-autostart dashboard -p 0 >"$dir/dash$_i.out" 2>&1 &
		dpids="$dpids $!"
		_i=$((_i + 1))
	done
	pids="$pids $dpids"
	_tries=0
	until [ "$(cat "$dir"/dash*.out 2>/dev/null | grep -c '^baton dashboard: http')" = 5 ]; do
		_tries=$((_tries + 1))
		[ "$_tries" -ge 100 ] && fail "the dashboards did not start: $(cat "$dir"/dash*.out)"
		sleep 0.1
	done
}
dash_stop() {
	for p in $dpids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -f "$dir"/dash*.out
}
for b in $builds; do
	say "the feed, the review workflow and baton hook ($b)..."
	s=$(sock "strict_$b")
	r=1
	while [ $r -le "$rounds" ]; do
		f0=$(run "lock without dashboards ($b)" "$tb/bench_lock" -S "$s" -t "$secs")
		dash_start "$s" "$(prog "$b" baton)"
		f5=$(run "lock with 5 dashboards ($b)" "$tb/bench_lock" -S "$s" -t "$secs")
		if [ $r = 1 ]; then
			url=$(sed -n 's/^baton dashboard: \([^ ]*\).*/\1/p' "$dir/dash0.out")
			sse=$(run "a change to its event ($b)" "$tb/bench_sse" -S "$s" -u "$url" -t "$secs")
			note "$b sse" "$(calc 'a / b' "$(get "$sse" p50)" "$(get "$echo_out" p50)")"
		fi
		dash_stop
		note "$b feed" "$(calc 'a / b' "$(get "$f5" rate)" "$(get "$f0" rate)")"
		r=$((r + 1))
	done
	rv=$(run "review workflow ($b)" "$tb/bench_review" -S "$s" -c 8 -n 1000 -r 3)
	note "$b review" "$(get "$rv" rate)"
	# bench_hook is the agent (a baton mcp child); another agent reserved
	# src/held.c, so DENY is refused and ALLOW (src/free.c) passes silently
	proj=$dir/proj_$b
	mkdir -p "$proj/src"
	for f in free held; do
		printf '{"session_id":"bench","transcript_path":"%s/t.jsonl","cwd":"%s","hook_event_name":"PreToolUse","tool_name":"Edit","tool_input":{"file_path":"%s/src/%s.c","old_string":"a","new_string":"b"}}\n' \
		    "$dir" "$proj" "$proj" "$f" >"$dir/$f.json"
	done
	BATON_PROJECT=$proj "$(prog "$b" baton)" -S "$s" --no-autostart acquire file:src/held.c \
	    --ttl 600 >/dev/null || fail "baton acquire file:src/held.c failed"
	hk=$(export BATON_PROJECT="$proj" && run "baton hook ($b)" "$tb/bench_hook" -S "$s" -b "$(prog "$b" baton)" \
	    -a "$dir/free.json" -d "$dir/held.json" -n "$runs")
	note "$b hook" "$(printf '%s\n' "$hk" | awk '/^hook-allow:/ { for (i = 1; i < NF; i++) if ($i == "p50") print $(i + 1) / 1000 }')"
done

# ---- once: a shared project's locks on etcd (batond --backend etcd, issue 20) ----
# A 3-member etcd on loopback; bench_lock through a broker whose project
# is shared, against bench_etcd (the two transactions of the same lock
# recipe sent straight to the same etcd member) and the strict broker.
if command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; then
	now_ms() { echo $(($(date +%s%N) / 1000000)); }
	wait_for() {
		_wf_end=$(($(now_ms) + $2 * 1000))
		until eval "$1"; do
			[ "$(now_ms)" -ge "$_wf_end" ] && return 1
			sleep 0.05
		done
	}
	. "$(dirname "$0")/../etcd-lib.sh"
	ETCD_PIDS=
	trap 'etcd_cluster_stop; cleanup; rm -rf "$dir"' EXIT
	etcd_cluster_start "$dir/cluster" || fail "etcd did not start"
	mkdir -m 700 "$dir/eproj"
	start_broker etcd this --backend etcd --etcd "$ETCD_URLS" --share "$dir/eproj=bench"
	m1=$(etcd_member_url 1)
	m1=${m1#http://}
	el=$(run "lock, 1 client, shared project on etcd" env BATON_PROJECT="$dir/eproj" \
	    "$tb/bench_lock" -S "$(sock etcd)" -t "$secs")
	et=$(run "etcd: the recipe's two txns, directly" "$tb/bench_etcd" -H "${m1%:*}" -p "${m1##*:}" \
	    -t "$secs")
	ll=$(run "lock, 1 client, strict (beside etcd)" "$tb/bench_lock" -S "$(sock strict_this)" \
	    -t "$secs")
	note "this etcdpair" "$(calc '2 * a / 1000' "$(get "$el" p50)" 1)"
	note "this etcdtxn" "$(calc 'a / b' "$(get "$el" p50)" "$(get "$et" p50)")"
	note "this etcdlocal" "$(calc 'a / b' "$(get "$el" p50)" "$(get "$ll" p50)")"
	etcd_cluster_stop
else
	say "shared-project locks on etcd: skipped (etcd and etcdctl are not installed: ./bootstrap)"
fi

cleanup
busy1=$(cpu_busy)
t_end=$(date +%s)
load_end=$(cut -d' ' -f1 /proc/loadavg)
# the CPU seconds of this script's processes (brokers, benchmarks, shims),
# all waited for by now: the second line of times
times >"$dir/times" # not in a pipeline: a subshell has no children of ours
own=$(awk 'NR == 2 {
	for (i = 1; i <= 2; i++) { split($i, t, "m"); sub(/s$/, "", t[2]); s += t[1] * 60 + t[2] }
	print s }' "$dir/times")
own=$(cat "$dir/cpu" 2>/dev/null | awk -v s="${own:-0}" '{ s += $1 } END { print s }')

# ---- the table ----
# figure KEY TEXT GOAL-OP GOAL UNIT FORMAT: one line; GOAL-OP is >=, <=, <
# or - (no goal)
figure() {
	awk -v key="$1" -v text="$2" -v op="$3" -v goal="$4" -v unit="$5" -v fmt="$6" \
	    -v builds="$builds" -v rounds="$rounds" '
	function show(v) { return sprintf(fmt, v) unit }
	function cmp(v) {
		if (op == ">=") return v >= goal
		if (op == "<=") return v <= goal
		if (op == "<") return v < goal
		return -1
	}
	$2 == key { n[$1]++; v[$1, n[$1]] = $3 }
	END {
		line = sprintf("%-52s", text)
		nb = split(builds, bs, " ")
		for (j = 1; j <= nb; j++) {
			b = bs[j]
			if (n[b] == 0) { line = line sprintf("  %-22s", "-"); continue }
			# sort the rounds: median and spread
			for (i = 1; i <= n[b]; i++) s[i] = v[b, i]
			for (i = 2; i <= n[b]; i++)
				for (k = i; k > 1 && s[k - 1] + 0 > s[k] + 0; k--) { t = s[k]; s[k] = s[k - 1]; s[k - 1] = t }
			med = n[b] % 2 ? s[(n[b] + 1) / 2] : (s[n[b] / 2] + s[n[b] / 2 + 1]) / 2
			if (b == "this") m = med
			cell = show(med)
			if (n[b] > 1) cell = cell " (" sprintf(fmt, s[1]) "-" sprintf(fmt, s[n[b]]) ")"
			line = line sprintf("  %-22s", cell)
		}
		g = op == "-" ? "" : op " " goal unit
		verdict = op == "-" || n["this"] == 0 ? "" : (cmp(m) ? "PASS" : "MISS")
		printf "%s  %-12s %s\n", line, g, verdict
	}' "$res"
}
echo
printf '%-52s' "figure"
for b in $builds; do
	case $b in
	this) printf '  %-22s' "result" ;;
	before) printf '  %-22s' "before" ;;
	esac
done
printf '  %-12s %s\n' "goal" "verdict"
figure lock1 "lock acquire+release, 1 client, strict / echo rate" ">=" 0.6 "" "%.2f"
figure lock1none "  same, durability none / echo rate" "-" "" "" "%.2f"
figure tail "strict lock round trip: p99 / p50" "<=" 5 "" "%.1f"
figure lock32 "lock acquire+release, 32 clients, strict / none" ">=" 0.5 "" "%.2f"
figure mixed32 "mixed mutations, 32 clients, strict / none" ">=" 0.5 "" "%.2f"
figure wake "release -> grant p50, in echo round trips" "<=" 2 "" "%.2f"
figure flock "baton lock x -- true / flock FILE true" "<=" 2 "x" "%.2f"
figure shim "MCP tools/call: baton mcp overhead (p50)" "<=" 30 " us" "%.1f"
figure mcpcpu "CPU per lock pair through baton mcp, shim + broker" "<=" 120 " us" "%.1f"
figure relay "  a bare relay + echo child, same chain (floor)" "-" "" " us" "%.1f"
figure mcpown "  shim + broker above that floor" "-" "" " us" "%.1f"
figure mcpcpu1 "  shim + broker, client and all on one CPU" "-" "" " us" "%.1f"
figure restore "restore of 1 000 000 notes (s, per 1 M)" "<" 2 " s" "%.2f"
figure pernote "broker memory per restored note (RSS / notes)" "<=" 570 " B" "%.0f"
figure conns "idle sessions on one broker" ">=" "$nconns" "" "%.0f"
figure connbytes "  broker memory per idle session" "-" "" " B" "%.0f"
figure list_full "tools/list, profile full (tokens, chars/4)" "<=" 6000 "" "%.0f"
figure list_core "tools/list, profile core (tokens, chars/4)" "<=" 3000 "" "%.0f"
figure list_lockstep "tools/list, --compat lockstep (tokens)" "-" "" "" "%.0f"
figure list_airlock "tools/list, --compat airlock (tokens)" "-" "" "" "%.0f"
figure airlock "lock pair p50, --compat airlock / native" "-" "" "x" "%.2f"
figure airlockhttp "  same over baton mcp --http / native stdio" "-" "" "x" "%.2f"
figure feed "lock rate with 5 dashboards / without" ">=" 0.9 "" "%.2f"
figure sse "a change to its event at a page, echo round trips" "-" "" "" "%.0f"
figure review "review cycles/s, 8 implementers + 1 reviewer" "-" "" "/s" "%.0f"
figure hook "baton hook PreToolUse, allowed, p50" "-" "" " ms" "%.2f"
figure etcdpair "shared-project lock pair p50, batond --backend etcd" "-" "" " ms" "%.2f"
figure etcdtxn "  / the recipe's two etcd txns sent directly" "-" "" "x" "%.2f"
figure etcdlocal "  / the local strict broker's lock pair" "-" "" "x" "%.0f"
echo
awk -v b0="$busy0" -v b1="$busy1" -v own="${own:-0}" -v el="$((t_end - t_start))" \
    -v n="$ncpu" -v l0="$load_start" -v l1="$load_end" -v quick="$quick" -v logf="$log" '
BEGIN {
	split(b0, x, " "); split(b1, y, " ")
	busy = (y[1] - x[1]) / 100
	others = busy - own
	if (others < 0) others = 0
	share = el > 0 ? others / el : 0
	printf "load average %s at the start, %s at the end (%d CPUs); other processes used %.2f CPUs on average during the %d s run\n", l0, l1, n, share, el
	if (l0 + 0 >= n / 2 || share >= 0.1 * n)
		printf "WARNING: the machine was busy (load %s at the start, others used %.0f%% of it): latencies and ratios are unreliable; run again on a quiet machine\n", l0, 100 * share / n
	if (quick)
		print "QUICK=1: short measurements and fewer notes; the restore is scaled to 1 M notes"
	printf "the measurements themselves: %s\n", logf
}'
