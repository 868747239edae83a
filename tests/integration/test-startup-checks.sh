#!/usr/bin/env bash
# pkvd refuses to start on bad input, saying how to fix it: a key file that
# group or others can read, a missing key file, a node already running; and
# `--node _` takes the first free number.
. "$(dirname "$0")/lib.sh"

t_keygen
chmod 644 "$T_DIR/cluster.key"
rc=0; "$PKVD" --node 1 --run-dir "$T_DIR" --port-base "$T_PORT_BASE" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 78 ] || t_fail "world-readable key: exit $rc"
grep -q "chmod 600 $T_DIR/cluster.key" "$T_DIR/err" || t_fail "no fix in: $(cat "$T_DIR/err")"
chmod 600 "$T_DIR/cluster.key"

rc=0; "$PKVD" --node 1 --run-dir "$T_DIR" --key-file "$T_DIR/missing.key" \
	--port-base "$T_PORT_BASE" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 78 ] || t_fail "missing key: exit $rc"
grep -q "pkv-keygen $T_DIR/missing.key" "$T_DIR/err" || t_fail "no hint in: $(cat "$T_DIR/err")"

free_node() { # starts a daemon with --node _, records its pid under $1
	"$PKVD" --node _ --bootstrap --cluster-size 2 --run-dir "$T_DIR" --port-base "$T_PORT_BASE" \
		--failure-timeout "$T_FT" >>"$T_DIR/$1.log" 2>&1 &
	T_PID[$1]=$!
}
free_node first
t_wait_for "first daemon is node1" test -S "$T_DIR/node1/pkvd.sock"
free_node second
t_wait_for "second daemon is node2" test -S "$T_DIR/node2/pkvd.sock"
t_wait_for "node1 and node2 connect" t_quorum_is 1 yes
rc=0; "$PKVD" --node 1 --cluster-size 2 --run-dir "$T_DIR" --port-base "$T_PORT_BASE" \
	2>"$T_DIR/err" || rc=$?
[ "$rc" = 75 ] || t_fail "a second node1: exit $rc"
grep -q "node1 is already running" "$T_DIR/err" || t_fail "message: $(cat "$T_DIR/err")"
echo ok
