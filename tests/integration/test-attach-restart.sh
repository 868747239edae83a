#!/usr/bin/env bash
# A daemon restarted under a connected client: calls in flight and after
# return a clear error (unavailable, timeout) or succeed after re-attach;
# none hangs; the client ends up served by the new incarnation.
. "$(dirname "$0")/lib.sh"
: "${PKV_STRESS:?}"

t_start_cluster 3
coproc CLIENT { "$PKV_STRESS" restart node1 50; }
client=$CLIENT_PID
read -r -t 60 line <&"${CLIENT[0]}" || t_fail "client made no progress"
[ "$line" = progress ] || t_fail "client said: $line"
t_stop 1
t_start 1
t_wait_for "node1 back and synced" t_field_is 1 synced yes
read -r -t 120 line <&"${CLIENT[0]}" || t_fail "client did not finish"
wait "$client" || t_fail "client: $line"
t_log "$line"
echo ok
