#!/usr/bin/env bash
# A daemon set up as on a real host: one config file with no `self` (the
# host name says which node this is: its first label here), `state_dir` for
# the state file and the acceptor log, `socket = /run/paxoskv/pkvd.sock`, the
# well-known path. `pkv wait`, put and get with a clean environment (env -i)
# find it there; PKV_RUN_DIR still wins when set. A restart keeps the values
# (durable state in state_dir); a host name that names no node, another
# cluster's state dir and a state dir others may write are refused with a
# clear error. Runs in private mount and UTS namespaces (a tmpfs over /run,
# a host name of its own); skipped where unshare is not permitted.
. "$(dirname "$0")/lib.sh"

command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
unshare -mu true 2>/dev/null || { echo "SKIP: unshare -m -u is not permitted here"; exit 77; }

t_keygen
export T_DIR PKVD PKV T_DEADLINE
export PORT=$((T_PORT_BASE + 1))
cat >"$T_DIR/inner.sh" <<'INNER'
set -euo pipefail
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T_DIR/alpha.log" >&2 2>/dev/null || true; exit 1; }
pid=
trap '[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true' EXIT
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /run
state=$T_DIR/state
conf=$T_DIR/paxoskv.conf
write_conf() { # CLUSTER
	cat >"$conf" <<CONF
cluster = $1
cluster_size = 1
key_file = $T_DIR/cluster.key
state_dir = $state
socket = /run/paxoskv/pkvd.sock
durable = yes
node alpha 127.0.0.1:$PORT
CONF
}
write_conf hosts-test
# wait_for WHAT CMD...: CMD succeeds within T_DEADLINE seconds
wait_for() {
	local what=$1 end=$((SECONDS + T_DEADLINE))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || fail "timed out waiting for: $what"
		sleep 0.05
	done
}
start() { "$PKVD" -c "$conf" "$@" >>"$T_DIR/alpha.log" 2>&1 & pid=$!; }
stop() {
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	pid=
	[ "$rc" = 0 ] || fail "pkvd exited $rc on SIGTERM"
}
clean() { env -i "$@"; }

echo "# a host name that names no node: a clear error"
hostname nobody.example.net
rc=0
out=$("$PKVD" -c "$conf" 2>&1) || rc=$?
[ "$rc" = 78 ] || fail "pkvd with no node for its host name exited $rc: $out"
grep -q "self is not set and the host name 'nobody.example.net' names no configured node (alpha); set 'self = NAME' or give --name NAME" <<<"$out" ||
	fail "unclear error: $out"

echo "# the host name's first label is the node; clients find the well-known socket"
hostname alpha.example.net
start --bootstrap
wait_for "pkv wait with a clean environment" clean "$PKV" wait --timeout 1
[ -S /run/paxoskv/pkvd.sock ] || fail "no socket at /run/paxoskv/pkvd.sock"
[ "$(clean "$PKV" put host-key v1)" = v1 ] || fail "put through the well-known socket"
grep -q "^node: alpha$" <<<"$(clean "$PKV" cluster)" || fail "the daemon is not node alpha"
rc=0
env -i PKV_RUN_DIR="$T_DIR/empty" "$PKV" cluster >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "PKV_RUN_DIR set: the client went past it to the well-known socket"
stop
[ ! -e /run/paxoskv/pkvd.sock ] || fail "the socket was left behind"
for f in state acceptor.log pkvd.lock; do
	[ -e "$state/$f" ] || fail "no $f in the state dir"
done
[ "$(stat -c %a "$state")" = 700 ] || fail "state dir made with mode $(stat -c %a "$state")"

echo "# a restart keeps what was chosen (durable state in state_dir)"
start
wait_for "the restarted daemon serves" clean "$PKV" wait --timeout 1
[ "$(clean "$PKV" get host-key)" = v1 ] || fail "host-key lost across a restart"
stop

echo "# another cluster's state dir is refused"
write_conf other-cluster
rc=0
out=$("$PKVD" -c "$conf" 2>&1) || rc=$?
[ "$rc" = 78 ] || fail "another cluster's state dir: exit $rc: $out"
grep -q "$state/state belongs to cluster 'hosts-test', not 'other-cluster'" <<<"$out" ||
	fail "unclear error: $out"
write_conf hosts-test

echo "# a state dir others may write is refused"
chmod 0777 "$state"
rc=0
out=$("$PKVD" -c "$conf" 2>&1) || rc=$?
[ "$rc" = 78 ] || fail "a world-writable state dir: exit $rc: $out"
grep -q "state dir $state is writable by group or others (mode 0777)" <<<"$out" || fail "unclear error: $out"
chmod 0700 "$state"
echo ok
INNER
unshare -mu bash "$T_DIR/inner.sh" || t_fail "see above"
echo ok
