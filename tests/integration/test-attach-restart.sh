#!/usr/bin/env bash
# A daemon restarted under a connected client: calls in flight and after
# return a clear error (unavailable, timeout) or succeed after re-attach;
# none hangs; the client ends up served by the new incarnation.
. "$(dirname "$0")/lib.sh"
: "${PKV_STRESS:?}"

t_start_cluster 3
"$PKV_STRESS" restart node1 50 >"$T_DIR/client.out" 2>&1 &
client=$!
t_wait_for "client progress" grep -q '^progress$' "$T_DIR/client.out"
t_stop 1
t_start 1
t_wait_for "node1 back and synced" t_field_is 1 synced yes
# The client ends by itself once 50 calls succeeded against the new daemon
# (it gives up after 120 s, and every call has a 3 s timeout).
wait "$client" || t_fail "client: $(cat "$T_DIR/client.out")"
t_log "$(tail -n 1 "$T_DIR/client.out")"
echo ok
