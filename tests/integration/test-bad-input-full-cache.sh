#!/usr/bin/env bash
# A full learner cache: 34000 distinct keys, more than the 32768 entries the
# shared cache holds, are put through node1 and each read back on node1 and
# node2. Keys the cache evicted (or could not fit) come through the ring with
# the right value; the cache reports evictions, so it really overflowed.
. "$(dirname "$0")/lib.sh"
: "${PKV_BAD_INPUT:?}"

t_start_cluster 3
"$PKV_BAD_INPUT" cache-fill node1 node2 "${FILL_KEYS:-34000}" 16 || t_fail "cache-fill"
kill -0 "${T_PID[1]}" || t_fail "node1 died"
echo ok
