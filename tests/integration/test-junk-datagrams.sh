#!/usr/bin/env bash
# Thousands of random and forged datagrams sent at a daemon's port change
# nothing: quorum stays, the daemon keeps running, the rejects are counted.
. "$(dirname "$0")/lib.sh"
: "${PKV_SPRAY:?}"

t_start_cluster 3
t_wait_for "node1 sees 3 connected" t_connected_is 1 3
rejects_at_least() {
	local total=0 kv
	for kv in $(t_field 1 rejected); do total=$((total + ${kv#*=})); done
	[ "$total" -ge "$1" ]
}
# 25 bursts of 200, each counted before the next, so the socket's queue never
# overflows and every datagram reaches the daemon's checks.
sent=0
for burst in $(seq 1 25); do
	"$PKV_SPRAY" $((T_PORT_BASE + 1)) 200 "$((${PKV_SEED:-42} + burst))" >/dev/null
	sent=$((sent + 200))
	t_wait_for "burst $burst counted" rejects_at_least "$sent"
done
t_log "sent $sent junk datagrams; rejects: $(t_field 1 rejected)"
t_log "$(t_field 1 rejected)"
kill -0 "${T_PID[1]}" || t_fail "node1 died"
t_quorum_is 1 yes || t_fail "node1 lost quorum"
[ "$(t_connected_count 1)" = 3 ] || t_fail "node1 lost a peer"
echo ok
