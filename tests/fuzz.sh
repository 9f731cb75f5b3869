#!/bin/sh
# The fuzz targets (issue 12, item 13): `make fuzz` has a rule for every
# source it names, and each target -- the frame reader, the JSON-RPC
# reader and the broker in the process (hello and dispatch to every
# handler) -- built with tests/fuzz/replay.c instead of libFuzzer, runs
# its own seeds and the regression inputs of tests/fuzz/regress without
# a crash or a sanitizer report.  The real fuzzing, under clang's
# sanitizers for a bounded time, is a step of .ci/run.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
broker_dir
D=$TEST_DIR
F=$TOP_BUILDDIR/tests/fuzz

# every prerequisite of every target exists (make -n stops at the first missing one)
make -n -f "$TOP_SRCDIR/tests/fuzz/Makefile.fuzz" top_srcdir="$TOP_SRCDIR" OUT="$D/fuzz" \
    CONFIG_DIR="$TOP_BUILDDIR" all >"$D/make-n" 2>&1
ok $? "make fuzz knows how to build every target"
[ $? -eq 0 ] || diag "$(tail -3 "$D/make-n")"
for t in fuzz_frame fuzz_jsonrpc fuzz_broker; do
	grep -q -- "-o $D/fuzz/$t " "$D/make-n"
	ok $? "make fuzz builds $t"
done

# replay: seeds written by the targets, then read back
for t in frame jsonrpc broker; do
	mkdir -p "$D/seeds-$t"
	FUZZ_SEED_DIR=$D/seeds-$t timeout 120 "$F/replay_$t" >"$D/replay-$t" 2>&1
	ok $? "replay_$t starts (and writes its seeds)"
	timeout 300 "$F/replay_$t" "$D/seeds-$t" >"$D/replay-$t" 2>&1
	rc=$?
	is "$rc" 0 "replay_$t runs its $(ls "$D/seeds-$t" | wc -l | tr -d ' ') seeds"
	[ "$rc" -eq 0 ] || diag "$(tail -20 "$D/replay-$t")"
done
n=$(ls "$D/seeds-broker" | wc -l)
[ "$n" -gt 2 ]
ok $? "the broker target seeds every operation ($n inputs)"

timeout 300 "$F/replay_broker" "$TOP_SRCDIR/tests/fuzz/regress" >"$D/regress" 2>&1
rc=$?
is "$rc" 0 "the broker survives every input of tests/fuzz/regress"
[ "$rc" -eq 0 ] || diag "$(tail -20 "$D/regress")"
like "$(cat "$D/regress")" "replayed [1-9][0-9]* inputs" "and they were all run"
done_testing
