#!/bin/sh
# The multi-host backend over TLS and with etcd's authentication (batond
# --etcd https://..., DESIGN 15, issue 20): one etcd member on loopback
# serving https with certificates the test makes with the openssl CLI,
# and asking every client for a certificate (--client-cert-auth):
#   - bad TLS and authentication options: one line, a sysexits status;
#   - locks (contended from two hosts: no overlap, fences increasing)
#     and notes (compare-and-set) over https, the member named by its
#     address on one host and by its name (localhost) on the other;
#   - a CA that did not sign etcd's certificate: calls fail within
#     --etcd-timeout, saying the certificate is refused; a certificate
#     that does not name the server (openssl s_server): the same; no
#     client certificate: the same, saying etcd wants one;
#   - etcd's authentication on (a user with a role on the prefix): the
#     right password serves, a wrong one stops batond at start (exit
#     77, one line); without --etcd-user calls fail saying why;
#   - the token forgotten (the member restarted): a waiting lock's watch
#     and the next calls authenticate again and go on.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
. "${TOP_SRCDIR:-..}/tests/etcd-lib.sh"
etcd_need
if ! command -v openssl >/dev/null 2>&1; then
	echo "1..0 # SKIP the openssl CLI is not installed (./bootstrap installs it)"
	exit 0
fi
broker_dir
D=$TEST_DIR
T=$D/tls
TIMEOUT=2
trap 'etcd_cluster_stop; cleanup' EXIT
etcd_tls_certs "$T" || bail_out "openssl could not make the test's certificates"
TLS="--etcd-cacert $T/ca.pem --etcd-cert $T/client.pem --etcd-key $T/client.key"

# --- options: one line on stderr, a sysexits status, nothing started ----

bad_opts() {
	out=$("$BATOND" -f -S "$D/bad/sock" -D "$D/bad" --backend etcd --share p "$@" 2>&1 </dev/null)
	echo "$?:$out"
}
like "$(bad_opts --etcd https://h:1 --etcd-cert "$T/client.pem")" \
    "^64:batond: --etcd-cert and --etcd-key go together$" "a client certificate needs its key"
like "$(bad_opts --etcd https://h:1 --etcd-user baton)" \
    "^64:batond: --etcd-user and --etcd-password-file go together" \
    "--etcd-user needs --etcd-password-file (never a password on the command line)"
like "$(bad_opts --etcd https://h:1 --etcd-cacert "$D/none.pem")" \
    "^66:batond: --etcd-cacert $D/none.pem: No such file or directory$" "a missing CA file: exit 66"
like "$(bad_opts --etcd https://h:1 --etcd-cacert "$D")" \
    "^66:batond: --etcd-cacert $D: not a regular file$" "a directory as CA file: exit 66"
cp "$T/client.key" "$D/open.key"
chmod 644 "$D/open.key"
like "$(bad_opts --etcd https://h:1 --etcd-cert "$T/client.pem" --etcd-key "$D/open.key")" \
    "^78:batond: --etcd-key $D/open.key: mode 0644 lets others at it; .*chmod 600" \
    "a key file others may read is refused: exit 78"
like "$(bad_opts --etcd https://h:1 --etcd-cert "$T/client.pem" --etcd-key "$T/client.pem")" \
    "^78:batond: --etcd-key $T/client.pem: mode 0644" "so is a certificate given as the key"
chmod 600 "$D/open.key"
cp "$T/ca.pem" "$D/ca-as-key"
chmod 600 "$D/ca-as-key"
like "$(bad_opts --etcd https://h:1 --etcd-cert "$T/client.pem" --etcd-key "$D/ca-as-key")" \
    "^78:batond: --etcd-key $D/ca-as-key: no PEM private key in it$" "a key file without a key: exit 78"
like "$(bad_opts --etcd https://h:1 --etcd-cert "$T/client.pem" --etcd-key "$T/other-ca.key")" \
    "^78:batond: --etcd-key $T/other-ca.key: .*values mismatch" \
    "a key that is not the certificate's: exit 78"
printf 'pw\n' >"$D/pw.open"
chmod 640 "$D/pw.open"
like "$(bad_opts --etcd http://h:1 --etcd-user baton --etcd-password-file "$D/pw.open")" \
    "^78:batond: --etcd-password-file $D/pw.open: mode 0640" "a password file others may read: exit 78"
: >"$D/pw.empty"
chmod 600 "$D/pw.empty"
like "$(bad_opts --etcd http://h:1 --etcd-user baton --etcd-password-file "$D/pw.empty")" \
    "^78:batond: --etcd-password-file $D/pw.empty: no password on its first line" \
    "an empty password file: exit 78"

# --- locks and notes over https ----------------------------------------

ETCD_TLS=$T
ETCD_CLIENT_CERT_AUTH=1
etcd_cluster_start "$D/etcd" 1 || bail_out "etcd did not start: $(tail -5 "$D/etcd/m1.log")"
URL=$ETCD_URLS
PORT=${URL##*:}

# start_host H URL ARGS...: batond for host H on URL, its project $D/pH shared as "team".
start_host() {
	_h=$1
	_u=$2
	shift 2
	mkdir -p -m 700 "$D/$_h/run" "$D/$_h/state" "$D/p$_h"
	timeout 10 "$BATOND" -S "$D/$_h/run/sock" -D "$D/$_h/state" --backend etcd \
	    --etcd "$_u" --share "$D/p$_h=team" --etcd-ttl 3 --etcd-timeout $TIMEOUT "$@" \
	    </dev/null >/dev/null 2>"$D/$_h.err"
}

# fails_fast H OP ARGS: OP on host H fails within the bound; prints "RC MS ERROR".
fails_fast() {
	_t0=$(now_ms)
	_out=$(on "$1" call "$2" "$3" 2>&1)
	_rc=$?
	echo "$_rc $(($(now_ms) - _t0)) $_out"
}

start_host A "$URL" $TLS || bail_out "batond A: $(cat "$D/A.err")"
start_host B "https://localhost:$PORT" $TLS || bail_out "batond B: $(cat "$D/B.err")"
is "$(on A status --json | json .shared.endpoints)" "$URL" "A talks to etcd over https"

etcd_lock_workload 6 3 tls-db
is "$(cat "$D/tls-db.errors")" "" "every lock over https was granted (B names the member localhost)"
is "$(wc -l <"$D/tls-db.sections" | tr -d ' ')/$(check_intervals "$D/tls-db.sections")" "18/" \
    "18 sections from two hosts: no two holders at once, fences increasing"

v=$(on A call note_set '{"key":"cfg","value":{"n":0}}' | json .version)
: >"$D/cas"
for h in A B A B; do
	on $h call note_set "{\"key\":\"cfg\",\"value\":{\"n\":1},\"if_version\":$v}" |
	    json .written >>"$D/cas" &
done
wait
is "$(grep -c true "$D/cas")/$(grep -c false "$D/cas")" 1/3 \
    "four compare-and-sets of one version over https: one written"
is "$(on B call note_get '{"key":"cfg"}' | json .value.n)" 1 "B reads A's note"

# --- a wrong CA, no client certificate: clear errors within the bound ----

start_host W "$URL" --etcd-cacert "$T/other-ca.pem" --etcd-cert "$T/client.pem" \
    --etcd-key "$T/client.key" || bail_out "batond W: $(cat "$D/W.err")"
set -- $(fails_fast W note_get '{"key":"cfg"}')
ok $([ "$1" = 69 ] && [ "$2" -le $(((TIMEOUT + 2) * 1000)) ] && echo 0 || echo 1) \
    "with a CA that did not sign etcd's certificate a call fails in $2 ms (bound $TIMEOUT s), exit $1"
shift 2
like "$*" "certificate is refused: unable to get local issuer certificate \(is --etcd-cacert" \
    "saying the certificate is refused and what to check"

start_host N "$URL" --etcd-cacert "$T/ca.pem" || bail_out "batond N: $(cat "$D/N.err")"
set -- $(fails_fast N lock_acquire '{"name":"x"}')
ok $([ "$1" = 69 ] && [ "$2" -le $(((TIMEOUT + 2) * 1000)) ] && echo 0 || echo 1) \
    "without the client certificate etcd wants a call fails in $2 ms, exit $1"
shift 2
like "$*" "etcd refused the handshake .*client certificate" "saying etcd may want one"

# A TLS server with a certificate from the same CA that names neither
# 127.0.0.1 nor localhost (the client's): refused, by address and by name.
port=$((PORT + 100))
while ! _etcd_port_free $port; do port=$((port + 1)); done
openssl s_server -quiet -naccept 1000 -accept "$port" -cert "$T/client.pem" \
    -key "$T/client.key" </dev/null >/dev/null 2>&1 &
_bg_pids="$_bg_pids $!"
wait_for '! _etcd_port_free '$port 10
start_host M "https://127.0.0.1:$port,https://localhost:$port" $TLS ||
    bail_out "batond M: $(cat "$D/M.err")"
set -- $(fails_fast M note_get '{"key":"cfg"}')
ok $([ "$1" = 69 ] && [ "$2" -le $(((TIMEOUT + 2) * 1000)) ] && echo 0 || echo 1) \
    "a server whose certificate does not name it is refused in $2 ms, exit $1"
shift 2
like "$*" "certificate is refused: (IP address|hostname) mismatch" "saying the name does not match"

{
	"$ETCDCTL" --endpoints "$URL" user add root --new-user-password rootpw &&
	"$ETCDCTL" --endpoints "$URL" user grant-role root root &&
	"$ETCDCTL" --endpoints "$URL" user add baton --new-user-password s3cret &&
	"$ETCDCTL" --endpoints "$URL" role add baton &&
	"$ETCDCTL" --endpoints "$URL" role grant-permission baton readwrite /baton/ \
	    --prefix=true &&
	"$ETCDCTL" --endpoints "$URL" user grant-role baton baton &&
	"$ETCDCTL" --endpoints "$URL" auth enable
} >"$D/auth.out" 2>&1
ok $? "etcd's authentication enabled, user baton with a role on /baton/" ||
    diag "$(cat "$D/auth.out")"
ETCDCTL_USER=root:rootpw
export ETCDCTL_USER

out=$(on A call note_get '{"key":"cfg"}' 2>&1)
like "$out" "etcdserver: permission denied \(etcd's authentication is on: batond --etcd-user" \
    "batond without --etcd-user is refused by etcd, saying why"

printf 's3cret\n' >"$D/pw"
printf 'wrong\n' >"$D/pw.bad"
chmod 600 "$D/pw" "$D/pw.bad"
start_host X "$URL" $TLS --etcd-user baton --etcd-password-file "$D/pw.bad"
is "$?" 77 "a wrong password: batond refuses to start, exit 77"
is "$(cat "$D/X.err")" \
    "batond: etcd authentication as baton failed: etcd at 127.0.0.1:$PORT: etcdserver: authentication failed, invalid user ID or password" \
    "in one line"
ok $([ ! -S "$D/X/run/sock" ] && echo 0 || echo 1) "and listens nowhere"

start_host U "$URL" $TLS --etcd-user baton --etcd-password-file "$D/pw" ||
    bail_out "batond U: $(cat "$D/U.err")"
start_host V "https://localhost:$PORT" $TLS --etcd-user baton --etcd-password-file "$D/pw" ||
    bail_out "batond V: $(cat "$D/V.err")"
is "$(on U call note_set '{"key":"auth","value":"yes"}' | json .written)" true \
    "with the right password U writes a note"
is "$(on V call note_get '{"key":"auth"}' | json .value)" yes "which V reads"

# The member restarts and forgets every token: a waiter's watch (on U)
# and the holder's release (on V) authenticate again; the lock passes.
mkfifo "$D/h.fifo"
(on V lock tok -- sh -c 'read x <"$1"' sh "$D/h.fifo") &
hp=$!
wait_for '[ "$(on U locks --json tok | json ".locks[0].holders | length")" = 1 ]' 20
(on U call lock_acquire '{"name":"tok","wait_seconds":30}' >"$D/tok") &
wp=$!
wait_for '[ "$(etcd_watches U)" -ge 1 ]' 10
kill -9 "$(etcd_member_pid 1)"
etcd_member_restart 1
wait_for '"$ETCDCTL" --endpoints "$URL" --command-timeout 1s endpoint health >/dev/null 2>&1' 30
ok $? "the member is back"
wait_for 'grep -q "watch .*invalid auth token: authenticating again" "$D/U/state/batond.log"' 10
ok $? "U's waiter, its watch resumed, was told its token is invalid, and authenticated again"
echo >"$D/h.fifo"
wait $hp $wp
is "$(json .acquired <"$D/tok")" true "U's waiter got the lock V released after the restart"
like "$(cat "$D/V/state/batond.log")" "invalid auth token: authenticating again" \
    "V's release authenticated again too"
is "$(on U call note_get '{"key":"auth"}' | json .value)" yes "U's calls go on with the fresh token"
is "$(grep -c "authenticated as baton" "$D/U/state/batond.log")" 1 \
    "U asked for one token after the restart, not one per call"

done_testing
