#!/bin/sh
# Peers that leave at awkward moments (issue 12): whatever way a peer
# goes, its session is released exactly once, its locks go and those
# waiting for them are granted, and its descriptor is closed; in every
# durability mode, also while its replies are held for the group commit.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
broker_dir
D=$TEST_DIR
N=100

# nfds: the descriptors the broker has open
nfds() {
	ls "/proc/$BROKER_PID/fd" 2>/dev/null | wc -l | tr -d ' '
}

# status_field NAME: one field of baton status --json
status_field() {
	"$BATON" status --json | json ".$1"
}

for mode in strict relaxed none; do
	start_broker --durability $mode || bail_out "batond did not start"
	# the descriptors with no session left but maybe the one asking
	wait_for '[ "$(status_field sessions)" = 1 ]' 10
	fd0=$(nfds)
	# A request and an empty frame (a protocol error) in one write; half
	# the peers close at once, half read until the broker closes them.
	i=0
	pids=
	while [ $i -lt $N ]; do
		"$WIRE" "$BATON_SOCKET" call-raw-close 00000000 lock_acquire "name=gone$i" \
		    >/dev/null &
		pids="$pids $!"
		WIRE_TIMEOUT=2000 "$WIRE" "$BATON_SOCKET" call-raw 00000000 lock_acquire \
		    "name=read$i" >"$D/read$i.out" &
		pids="$pids $!"
		i=$((i + 1))
	done
	wait $pids
	closed=0
	for f in "$D"/read*.out; do
		[ "$(tail -n 1 "$f")" = closed ] && closed=$((closed + 1))
	done
	is "$closed" $N "$mode: the broker closes each peer that sent an empty frame after a request"
	# each lock is free, or is granted to us once its taker is gone
	i=0
	while [ $i -lt $N ]; do
		"$BATON" lock -w 10 "gone$i" "read$i" -- true || break
		i=$((i + 1))
	done
	is "$i" $N "$mode: then every lock they took is free again"
	wait_for '[ "$(status_field locks)" = 0 ] && [ "$(status_field sessions)" = 1 ]' 10
	is "$(status_field locks)/$(status_field sessions)" 0/1 \
	    "$mode: no lock and no session of theirs is left"
	wait_for '[ "$(nfds)" -le "$fd0" ]' 10
	[ "$(nfds)" -le "$fd0" ]
	ok $? "$mode: the broker's descriptors are back to $fd0 at most ($(nfds))"
	# a peer dropped (an empty frame) while 400 KB of answers wait for it
	# and it reads none: it is freed once it has had CLIENT_LINGER (5 s)
	mkfifo "$D/deaf.in"
	exec 9<>"$D/deaf.in"
	WIRE_TAIL=00000000 "$WIRE" "$BATON_SOCKET" flood 1000 status <"$D/deaf.in" \
	    >"$D/deaf.out" 2>&1 &
	_bg_pids="$_bg_pids $!"
	wait_for "grep -qx holding '$D/deaf.out'" 10
	wait_for '[ "$(status_field sessions)" = 1 ]' 10
	is "$(status_field sessions)" 1 "$mode: a dropped peer that reads nothing is freed all the same"
	exec 9>&-
	rm -f "$D/deaf.in"
	stop_broker
	rm -f "$D"/read*.out
done

done_testing
