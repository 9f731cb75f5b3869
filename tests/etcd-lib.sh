# A 3-member etcd cluster on loopback for the multi-host tests and the
# benchmark (tests/etcd.sh, tests/bench/run.sh): Debian's etcd-server,
# fast election settings, data in a temporary directory, killed with
# SIGKILL at the end (SIGTERM takes seconds).  The members are not
# children of the test shell (a plain "wait" there waits for its workers).  Sourced after
# tests/lib.sh; POSIX sh.
#
# etcd_cluster_start DIR [N]: start N members (default 3) under DIR;
#   sets ETCD_URLS (comma-separated client URLs), ETCD_PIDS, ETCD_EPS.
# etcd_member_pid I, etcd_member_url I: member I (1-based).
# etcd_member_restart I: start member I again on its data.
# etcd_leader: the index of the member that leads now (empty if none).
# etcd_cluster_stop: SIGKILL every member.
#
# For the tests of two batond "hosts" on the cluster (tests/etcd*.sh):
# etcd_need: SKIP the whole test when etcd or etcdctl is missing.
# etcd_host_start DIR H ARGS...: batond for host H under DIR, its project
#   DIR/pH shared as "team", with ARGS (--etcd-ttl...); sets PID_H.
# etcd_host_of I: the host of worker I, A and B in turn.

ETCD=${ETCD:-etcd}
ETCDCTL=${ETCDCTL:-etcdctl}

# A port that nothing listens on, from a base that differs per test run.
_etcd_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# _etcd_member_run I: start member I from its script, in a subshell: not
# a child of the test, whose plain "wait" waits for its own workers only.
_etcd_member_run() {
	( sh "$_ec_dir/m$1.sh" &
	echo $! >"$_ec_dir/m$1.pid" )
}

etcd_cluster_start() {
	_ec_dir=$1
	_ec_n=${2:-3}
	# below Linux's ephemeral ports (32768 on): a client connection's
	# local port there made a member's bind fail (seen: "bind: address
	# already in use" on 35016, which was free when checked)
	_ec_base=$((20000 + ($$ % 1000) * 11))
	while :; do
		_ec_ok=1
		_ec_i=0
		while [ $_ec_i -lt $((2 * _ec_n)) ]; do
			_etcd_port_free $((_ec_base + _ec_i)) || _ec_ok=0
			_ec_i=$((_ec_i + 1))
		done
		[ $_ec_ok = 1 ] && break
		_ec_base=$((_ec_base + 2 * _ec_n + 1))
		[ $_ec_base -lt 32000 ] || _ec_base=20000
	done
	_ec_cluster=
	_ec_i=1
	while [ $_ec_i -le "$_ec_n" ]; do
		_ec_cluster="${_ec_cluster:+$_ec_cluster,}m$_ec_i=http://127.0.0.1:$((_ec_base + 2 * _ec_i - 1))"
		_ec_i=$((_ec_i + 1))
	done
	ETCD_URLS=
	ETCD_PIDS=
	_ec_i=1
	while [ $_ec_i -le "$_ec_n" ]; do
		_ec_c=$((_ec_base + 2 * _ec_i - 2))
		_ec_p=$((_ec_base + 2 * _ec_i - 1))
		mkdir -p "$_ec_dir/m$_ec_i"
		cat >"$_ec_dir/m$_ec_i.sh" <<EOF
exec "$ETCD" --name "m$_ec_i" --data-dir "$_ec_dir/m$_ec_i" \\
    --listen-client-urls "http://127.0.0.1:$_ec_c" \\
    --advertise-client-urls "http://127.0.0.1:$_ec_c" \\
    --listen-peer-urls "http://127.0.0.1:$_ec_p" \\
    --initial-advertise-peer-urls "http://127.0.0.1:$_ec_p" \\
    --initial-cluster "$_ec_cluster" --initial-cluster-state new \\
    --initial-cluster-token "baton-test-$$" \\
    --heartbeat-interval 25 --election-timeout 250 \\
    >>"$_ec_dir/m$_ec_i.log" 2>&1 </dev/null
EOF
		_etcd_member_run $_ec_i
		ETCD_PIDS="$ETCD_PIDS $(cat "$_ec_dir/m$_ec_i.pid")"
		ETCD_URLS="${ETCD_URLS:+$ETCD_URLS,}http://127.0.0.1:$_ec_c"
		_ec_i=$((_ec_i + 1))
	done
	ETCD_N=$_ec_n
	ETCD_DIR=$_ec_dir
	export ETCDCTL_API=3
	wait_for '"$ETCDCTL" --endpoints "$ETCD_URLS" --command-timeout 1s endpoint health \
	    >/dev/null 2>&1' 30
}

# etcd_member_restart I: start member I again (after a kill -9), on its
# data; sets its new pid in ETCD_PIDS.
etcd_member_restart() {
	_ec_dir=$ETCD_DIR
	_etcd_member_run "$1"
	ETCD_PIDS=$(echo $ETCD_PIDS |
	    awk -v i="$1" -v p="$(cat "$_ec_dir/m$1.pid")" '{ $i = p; print }')
}

etcd_member_pid() {
	echo $ETCD_PIDS | cut -d' ' -f"$1"
}

etcd_member_url() {
	echo "$ETCD_URLS" | cut -d, -f"$1"
}

# The 1-based index of the leader, as the members answering say.
etcd_leader() {
	_el_i=1
	while [ $_el_i -le "$ETCD_N" ]; do
		_el_st=$("$ETCDCTL" --endpoints "$(etcd_member_url $_el_i)" \
		    --command-timeout 1s endpoint status -w json 2>/dev/null)
		if [ -n "$_el_st" ]; then
			_el_lead=$(printf '%s' "$_el_st" | jq -r '.[0].Status.leader')
			_el_me=$(printf '%s' "$_el_st" | jq -r '.[0].Status.header.member_id')
			if [ -n "$_el_lead" ] && [ "$_el_lead" = "$_el_me" ] &&
			    [ "$_el_lead" != 0 ]; then
				echo $_el_i
				return 0
			fi
		fi
		_el_i=$((_el_i + 1))
	done
	return 1
}

etcd_cluster_stop() {
	for _es_p in $ETCD_PIDS; do
		kill -9 "$_es_p" 2>/dev/null
	done
	ETCD_PIDS=
}

etcd_need() {
	if ! command -v "$ETCD" >/dev/null 2>&1 || ! command -v "$ETCDCTL" >/dev/null 2>&1; then
		echo "1..0 # SKIP etcd and etcdctl are not installed (Debian's etcd-server and etcd-client; ./bootstrap installs them)"
		exit 0
	fi
}

etcd_host_start() {
	_eh_d=$1
	_eh_h=$2
	shift 2
	mkdir -p -m 700 "$_eh_d/$_eh_h/run" "$_eh_d/$_eh_h/state" "$_eh_d/p$_eh_h"
	timeout 10 "$BATOND" -S "$_eh_d/$_eh_h/run/sock" -D "$_eh_d/$_eh_h/state" \
	    --backend etcd --etcd "$ETCD_URLS" --share "$_eh_d/p$_eh_h=team" "$@" \
	    </dev/null >/dev/null 2>"$_eh_d/$_eh_h.err" ||
	    bail_out "batond $_eh_h: $(cat "$_eh_d/$_eh_h.err")"
	_eh_pid=$(BATON_SOCKET="$_eh_d/$_eh_h/run/sock" BATON_PROJECT="$_eh_d/p$_eh_h" \
	    "$BATON" status --json | json .pid)
	eval "PID_$_eh_h=\$_eh_pid"
}

etcd_host_of() {
	if [ $(($1 % 2)) = 1 ]; then echo B; else echo A; fi
}
