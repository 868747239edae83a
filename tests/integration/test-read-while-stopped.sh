#!/usr/bin/env bash
# A process that attached and read a key keeps reading it while its daemon
# is stopped with SIGSTOP, with stale reads: they are served from the shared
# learner cache in the reader's own process. Plain reads stop returning it
# once the stopped daemon's lease is over (docs/design.md §5.1).
. "$(dirname "$0")/lib.sh"
: "${PKV_STRESS:?}"

t_start_cluster 3
[ "$(t_pkv -n node2 put cached-key cached-value)" = cached-value ] || t_fail "put"
out=$("$PKV_STRESS" read-stopped node1 cached-key cached-value "${T_PID[1]}" 100000) ||
	t_fail "reader: $out"
t_log "$out"
kill -CONT "${T_PID[1]}"
[ "$(t_pkv -n node1 get cached-key)" = cached-value ] || t_fail "node1 after SIGCONT"
echo ok
