#!/usr/bin/env bash
# A flood of a stopped daemon and a client killed mid-request: with node1
# stopped (SIGSTOP), a client waiting for its put's answer is SIGKILLed, then
# 64 handles flood node1 with short-timeout puts, 8 each, every one posted
# over the handle's last. Every call returns PKV_TIMEOUT in bounded time,
# none hangs.
# After SIGCONT every handle works again, the key put before the flood reads
# the same on every daemon, and each flooded (or killed) put is either absent
# or holds exactly the value proposed for it: nothing lost, nothing invented.
. "$(dirname "$0")/lib.sh"
: "${PKV_BAD_INPUT:?}"

t_start_cluster 3
"$PKV_BAD_INPUT" flood node1 "${T_PID[1]}" 64 node2 node3 || t_fail "flood"
kill -0 "${T_PID[1]}" || t_fail "node1 died"
t_wait_for "node1 back in the cluster" t_connected_is 1 3
[ "$(t_pkv -n node1 put after-flood fine)" = fine ] || t_fail "put after the flood"
for n in 1 2 3; do
	[ "$(t_pkv -n "node$n" get flood-base)" = base ] || t_fail "node$n lost flood-base"
done
echo ok
