#!/usr/bin/env bash
# pkv-cluster, the dev launcher: up 3 returns with quorum, generating the key;
# status, stop I, start I and down do what they say.
. "$(dirname "$0")/lib.sh"
: "${PKV_CLUSTER:?}"
export PKVD PKV_FAILURE_TIMEOUT=$T_FT

"$PKV_CLUSTER" up 3 >"$T_DIR/up.out" || t_fail "up: $(cat "$T_DIR/up.out")"
for i in 1 2 3; do T_PID[$i]=$(cat "$T_DIR/node$i/pkvd.pid"); done # cleaned up by the harness too
[ "$(stat -c %a "$T_DIR/cluster.key")" = 600 ] || t_fail "key file mode"
t_quorum_is 1 yes || t_fail "no quorum after up"
"$PKV_CLUSTER" status >"$T_DIR/status"
[ "$(grep -c ': running' "$T_DIR/status")" = 3 ] || t_fail "status: $(cat "$T_DIR/status")"
[ "$(t_pkv cluster | sed -n 's/^node: //p')" = node1 ] || t_fail "pkv without -n picks node1"

"$PKV_CLUSTER" stop 3 >/dev/null
grep -q '^node3: stopped' <("$PKV_CLUSTER" status) || t_fail "node3 not stopped"
t_wait_for "node1 sees 2" t_connected_is 1 2
"$PKV_CLUSTER" start 3 >/dev/null
T_PID[3]=$(cat "$T_DIR/node3/pkvd.pid")
t_wait_for "node1 sees 3 again" t_connected_is 1 3
"$PKV_CLUSTER" down >/dev/null
for i in 1 2 3; do
	[ ! -d "/proc/${T_PID[$i]}" ] || grep -q '^State:.*Z' "/proc/${T_PID[$i]}/status" ||
		t_fail "node$i still running after down"
done
rc=0; t_pkv -n node1 cluster >/dev/null 2>&1 || rc=$?
[ "$rc" = 69 ] || t_fail "pkv against a stopped daemon exited $rc, want 69"

# pkvd under another name ($PKVD a copy, as a benchmark of two builds runs
# it): status and down know its daemons too, and down stops them, also
# when $PKVD no longer names it (pkv-bench --baseline-pkvd: the main run's
# environment takes the baseline's cluster down).
ln -s "$(readlink -f "$PKVD")" "$T_DIR/pkvd-copy"
PKVD=$T_DIR/pkvd-copy "$PKV_CLUSTER" up 3 >"$T_DIR/up2.out" ||
	t_fail "up of a pkvd named pkvd-copy: $(cat "$T_DIR/up2.out")"
for i in 1 2 3; do T_PID[$i]=$(cat "$T_DIR/node$i/pkvd.pid"); done
[ "$(PKVD=$T_DIR/pkvd-copy "$PKV_CLUSTER" status | grep -c ': running')" = 3 ] ||
	t_fail "status does not see the daemons of a pkvd named pkvd-copy"
"$PKV_CLUSTER" down >/dev/null
for i in 1 2 3; do
	[ ! -d "/proc/${T_PID[$i]}" ] || grep -q '^State:.*Z' "/proc/${T_PID[$i]}/status" ||
		t_fail "node$i of a pkvd named pkvd-copy still running after down"
done
echo ok
