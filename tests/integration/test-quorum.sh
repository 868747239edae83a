#!/usr/bin/env bash
# 3 daemons reach quorum; with one stopped the other two keep it; with a
# second stopped the last one reports quorum lost within the failure timeout;
# restarting one regains it.
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
for i in 1 2 3; do
	t_wait_for "node$i sees 3 connected" t_connected_is $i 3
	[ "$(t_field $i cluster_size)" = 3 ] || t_fail "node$i cluster_size"
done
grep -q '\[quorum:yes\]' "$T_DIR/node1/pkvd.log" || t_fail "no [quorum:yes] log line"
t_log "3 daemons reached quorum"

t_stop 3
t_wait_for "node1 sees node3 gone" t_connected_is 1 2
t_quorum_is 1 yes || t_fail "node1 lost quorum with 2 of 3"
t_quorum_is 2 yes || t_fail "node2 lost quorum with 2 of 3"
t_log "2 of 3 keep quorum"

stopped=$(t_now_ms)
t_stop 2
t_wait_for "node1 reports quorum lost" t_quorum_is 1 no
took=$(($(t_now_ms) - stopped))
t_log "quorum loss reported after ${took} ms (failure timeout ${T_FT} ms)"
# Reported within the failure timeout plus one heartbeat and the polling slack.
[ "$took" -le $((T_FT + 2000)) ] || t_fail "quorum loss took ${took} ms"
grep -q '\[quorum:no\]' "$T_DIR/node1/pkvd.log" || t_fail "no [quorum:no] log line"

t_start 2
t_wait_for "node1 regains quorum" t_quorum_is 1 yes
t_wait_for "node2 has quorum" t_quorum_is 2 yes
t_log "quorum regained after restart"
echo "ok"
