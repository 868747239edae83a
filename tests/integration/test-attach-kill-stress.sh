#!/usr/bin/env bash
# 64 client processes × 1000 requests each over 3 daemons, while other
# clients are SIGKILLed at random instants (before attach, mid-request,
# mid-ring-write, while waiting): every survivor's request is answered
# correctly, none lost, shared keys agree, and the daemons keep serving.
# (Clients never take the cache's stripe locks — only the daemon writes —
# so a client dying with one held is covered by tests/client/test-cache.)
. "$(dirname "$0")/lib.sh"
: "${PKV_STRESS:?}"

t_start_cluster 3
clients=${PKV_STRESS_CLIENTS:-64}
requests=${PKV_STRESS_REQUESTS:-1000}
out=$("$PKV_STRESS" stress "$clients" "$requests" 6 "${PKV_SEED:-7}" node1 node2 node3) ||
	t_fail "stress: $out"
t_log "$out"
for n in 1 2 3; do
	kill -0 "${T_PID[$n]}" || t_fail "node$n died"
	[ "$(t_pkv -n "node$n" put after-stress ok)" = ok ] || t_fail "node$n stopped serving"
done
echo ok
