#!/usr/bin/env bash
# Heartbeats rarer than the wire's 1 s delay bound (heartbeat_ms 2000, a
# failure timeout of 8 s): the wire keeps each peer's echo of our stamp
# young on its own (docs/design.md §7, "The delay bound": an empty datagram
# to a peer that talks to us when we sent it nothing for a quarter of the
# bound), so no datagram is dropped as too old, every daemon sees the others
# throughout, and puts on each daemon complete.
T_FT=8000
T_HB=2000
. "$(dirname "$0")/lib.sh"

too_old_sum() {
	local n t=0
	for n in 1 2 3; do
		t=$((t + $(t_field "$n" rejected | tr ' ' '\n' | sed -n 's/^too_old=//p')))
	done
	echo "$t"
}
all_connected() { t_connected_is 1 3 && t_connected_is 2 3 && t_connected_is 3 3; }

t_start_cluster 3
t_wait_for "all see 3 connected" all_connected
start=$(t_now_ms)
k=0
while [ $(($(t_now_ms) - start)) -lt 6000 ]; do
	all_connected || t_fail "a peer went down: $(t_field 1 connected) / $(t_field 2 connected) / $(t_field 3 connected)"
	k=$((k + 1))
	n=$((k % 3 + 1))
	got=$(t_pkv -n "node$n" put --timeout 20000 "slow-hb-$k" "v$k") || t_fail "put on node$n exited $?"
	[ "$got" = "v$k" ] || t_fail "put slow-hb-$k on node$n chose '$got'"
	sleep 0.3
done
dropped=$(too_old_sum)
t_log "$k puts over 6 s with heartbeats every 2 s; too_old on the three: $dropped"
[ "$dropped" = 0 ] || t_fail "$dropped datagrams dropped as too old with heartbeats every 2 s"
echo ok
