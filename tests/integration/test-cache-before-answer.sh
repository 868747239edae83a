#!/usr/bin/env bash
# The daemon puts a loop turn's learned values into the shared cache before
# it wakes the clients the turn answers (docs/design.md §8), so a client that
# got generation g through the ring finds g or later in the cache: reads are
# monotonic. Tried: 300 puts of new keys on a one-node cluster, each followed
# at once by a cached get; the fault build stalls the loop 2 ms before each
# publish (cache_lag=2000), which the clients must never see: every get is a
# cache hit with the put's generation. (Before, the answers went out first and
# about every get after a put missed the cache.)
. "$(dirname "$0")/lib.sh"
: "${PKV_READ_AFTER_PUT:?}"

t_start_cluster 1
t_fault 1 "cache_lag=2000"
rc=0
out=$("$PKV_READ_AFTER_PUT" node1 300) || rc=$?
t_log "$out"
[ "$rc" = 0 ] || t_fail "reads after puts lagged the cache (exit $rc): $out"
# Without the stall too (the ordinary timing).
t_fault 1 ""
rc=0
out=$("$PKV_READ_AFTER_PUT" node1 300) || rc=$?
t_log "$out"
[ "$rc" = 0 ] || t_fail "reads after puts lagged the cache (exit $rc): $out"
