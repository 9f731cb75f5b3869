# A 3-member etcd cluster on loopback for the multi-host tests and the
# benchmark (tests/etcd.sh, tests/bench/run.sh): Debian's etcd-server,
# fast election settings, data in a temporary directory, killed with
# SIGKILL at the end (SIGTERM takes seconds).  The members are not
# children of the test shell (a plain "wait" there waits for its workers).  Sourced after
# tests/lib.sh; POSIX sh.
#
# etcd_cluster_start DIR [N]: start N members (default 3) under DIR;
#   sets ETCD_URLS (comma-separated client URLs), ETCD_PIDS, ETCD_EPS.
#   With ETCD_TLS set (a directory etcd_tls_certs filled), the client
#   URLs are https:// with its server certificate, and etcdctl uses its
#   CA and client certificate; ETCD_CLIENT_CERT_AUTH=1 makes etcd ask
#   every client for a certificate signed by that CA.  ETCD_ARGS: more
#   arguments for every member.
# etcd_tls_certs DIR: make with the openssl CLI, in DIR, a CA (ca.pem),
#   a server certificate for 127.0.0.1 and localhost signed by it
#   (server.pem, server.key), a client certificate without a CommonName
#   (client.pem, client.key) and another CA that signed none of them
#   (other-ca.pem).
# etcd_member_pid I, etcd_member_url I: member I (1-based).
# etcd_member_restart I: start member I again on its data.
# etcd_leader: the index of the member that leads now (empty if none).
# etcd_cluster_stop: SIGKILL every member.
# etcd_need: jq, etcd and etcdctl, or the test is skipped (saying why).
# on H ARGS...: baton ARGS as a client of host H, whose socket is
#   $TEST_DIR/H/run/sock, in its shared project $TEST_DIR/pH.
# host_of I: the host of worker I, A and B in turn.
# etcd_watches H: the watch streams host H has open (a waiter parked on etcd).
# etcd_lock_workload N ROUNDS LOCK: N workers on hosts A and B in turn,
#   each running the section script under baton lock LOCK ROUNDS times;
#   the sections in $TEST_DIR/LOCK.sections, failures in LOCK.errors.
# etcd_section_script FILE: write a critical section to FILE: run under
#   baton lock as "sh FILE LOG", it appends "START END FENCE" (ns) to LOG.
# check_intervals LOG: what is wrong in LOG: an overlap of two sections,
#   or a fence not above the one before (nothing when all is well).
# etcd_host_start DIR H ARGS...: batond for host H under DIR, its project
#   DIR/pH shared as "team", with ARGS (--etcd-ttl...); sets PID_H.

ETCD=${ETCD:-etcd}
ETCDCTL=${ETCDCTL:-etcdctl}
ETCD_TLS=${ETCD_TLS:-}
ETCD_CLIENT_CERT_AUTH=${ETCD_CLIENT_CERT_AUTH:-0}
ETCD_ARGS=${ETCD_ARGS:-}

# _etcd_cert DIR NAME SUBJECT SAN: a key and a certificate signed by DIR's CA.
_etcd_cert() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$1/$2.key" -out "$1/$2.csr" -subj "$3" 2>/dev/null &&
	printf '%s\n' "subjectAltName=$4" "extendedKeyUsage=serverAuth,clientAuth" \
	    >"$1/$2.ext" &&
	openssl x509 -req -in "$1/$2.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" \
	    -CAcreateserial -days 2 -extfile "$1/$2.ext" -out "$1/$2.pem" 2>/dev/null &&
	chmod 600 "$1/$2.key"
}

etcd_tls_certs() {
	mkdir -p "$1" &&
	for _et_ca in ca other-ca; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		    -keyout "$1/$_et_ca.key" -out "$1/$_et_ca.pem" -days 2 \
		    -subj "/CN=baton test $_et_ca" 2>/dev/null || return 1
	done &&
	_etcd_cert "$1" server /CN=etcd-test-server "IP:127.0.0.1,DNS:localhost" &&
	# no CommonName: etcd 3.4's gateway refuses a client certificate with one
	# once its authentication is enabled
	_etcd_cert "$1" client /O=baton-test-client "DNS:baton-test-client"
}

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
	_ec_scheme=http
	_ec_tls=
	if [ -n "$ETCD_TLS" ]; then
		_ec_scheme=https
		_ec_tls="--cert-file \"$ETCD_TLS/server.pem\" --key-file \"$ETCD_TLS/server.key\""
		[ "$ETCD_CLIENT_CERT_AUTH" = 1 ] && _ec_tls="$_ec_tls --client-cert-auth \
    --trusted-ca-file \"$ETCD_TLS/ca.pem\""
		ETCDCTL_CACERT=$ETCD_TLS/ca.pem
		ETCDCTL_CERT=$ETCD_TLS/client.pem
		ETCDCTL_KEY=$ETCD_TLS/client.key
		export ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY
	fi
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
    --listen-client-urls "$_ec_scheme://127.0.0.1:$_ec_c" \\
    --advertise-client-urls "$_ec_scheme://127.0.0.1:$_ec_c" $_ec_tls \\
    --listen-peer-urls "http://127.0.0.1:$_ec_p" \\
    --initial-advertise-peer-urls "http://127.0.0.1:$_ec_p" \\
    --initial-cluster "$_ec_cluster" --initial-cluster-state new \\
    --initial-cluster-token "baton-test-$$" \\
    --heartbeat-interval 25 --election-timeout 250 $ETCD_ARGS \\
    >>"$_ec_dir/m$_ec_i.log" 2>&1 </dev/null
EOF
		_etcd_member_run $_ec_i
		ETCD_PIDS="$ETCD_PIDS $(cat "$_ec_dir/m$_ec_i.pid")"
		ETCD_URLS="${ETCD_URLS:+$ETCD_URLS,}$_ec_scheme://127.0.0.1:$_ec_c"
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

etcd_section_script() {
	cat >"$1" <<'EOF'
s=$(date +%s%N)
sleep 0.02
e=$(date +%s%N)
echo "$s $e $BATON_FENCE" >>"$1"
EOF
}

check_intervals() {
	sort -n "$1" | awk '
	    NR > 1 && $1 < end { print "overlap: " prev " and " $0 }
	    NR > 1 && $3 <= fence { print "fence not increasing: " prev " then " $0 }
	    { end = $2; fence = $3; prev = $0 }'
}

on() {
	_on_h=$1
	shift
	BATON_SOCKET="$TEST_DIR/$_on_h/run/sock" BATON_PROJECT="$TEST_DIR/p$_on_h" "$BATON" "$@"
}

host_of() {
	if [ $(($1 % 2)) = 1 ]; then echo B; else echo A; fi
}

etcd_watches() {
	on $1 status --json | json .shared.watches
}

etcd_lock_workload() {
	[ -f "$TEST_DIR/section.sh" ] || etcd_section_script "$TEST_DIR/section.sh"
	: >"$TEST_DIR/$3.sections"
	: >"$TEST_DIR/$3.errors"
	_lw_i=0
	while [ $_lw_i -lt "$1" ]; do
		(
			_lw_n=0
			while [ $_lw_n -lt "$2" ]; do
				on "$(host_of $_lw_i)" lock -w 60 "$3" -- sh "$TEST_DIR/section.sh" \
				    "$TEST_DIR/$3.sections" ||
				    echo "worker $_lw_i: baton lock failed" >>"$TEST_DIR/$3.errors"
				_lw_n=$((_lw_n + 1))
			done
		) &
		_lw_i=$((_lw_i + 1))
	done
	wait
}

# hold H SLOT NAME [ROLE]: a session on host H (wire call-hold) that
# joins as NAME, kept open until unhold SLOT (its stdin a fifo that a
# sleep holds open); $TEST_DIR/SLOT.out has what it printed.  Its answer may
# take a lease and a txn in etcd on a busy machine: wire waits 15 s.
hold() {
	rm -f "$TEST_DIR/$2.in"
	mkfifo "$TEST_DIR/$2.in"
	sleep 300 >"$TEST_DIR/$2.in" &
	eval "SLEEP_$2=$!"
	BATON_PROJECT="$TEST_DIR/p$1" WIRE_AGENT=$2 WIRE_TIMEOUT=15000 "$WIRE" "$TEST_DIR/$1/run/sock" \
	    call-hold agent_join \
	    name=$3 ${4:+role=$4} <"$TEST_DIR/$2.in" >"$TEST_DIR/$2.out" 2>&1 &
	eval "WIRE_$2=$!"
	_bg_pids="$_bg_pids $(eval echo \$SLEEP_$2) $(eval echo \$WIRE_$2)"
}

# held SLOT: the session of hold SLOT is set up (joined) or gone (refused).
held() {
	grep -q -e holding -e open -e closed "$TEST_DIR/$1.out"
}

# join H NAME ROLE: hold H NAME NAME ROLE, once it joined.
join() {
	hold "$1" "$2" "$2" "$3"
	wait_for "held $2" 10
}

# unhold SLOT: end the session of hold SLOT.
unhold() {
	kill "$(eval echo \$SLEEP_$1)" 2>/dev/null
	wait "$(eval echo \$WIRE_$1)" 2>/dev/null
}

etcd_need() {
	need_jq
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

