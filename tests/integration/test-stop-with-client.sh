#!/usr/bin/env bash
# A daemon stopped with SIGTERM while local clients are attached (a watch
# subscribed to its events, a process holding a key through the library)
# stops cleanly: exit status 0, "stopped" in its log, its control socket
# removed — no use of the freed io_uring ring on the way out, as a
# `systemctl stop` of a host with clients would otherwise crash it. The
# sanitizer build checks the stop frees everything.
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
"$PKV" -n node2 watch >"$T_DIR/watch.out" 2>&1 &
watcher=$!
T_PID[watch]=$watcher # the harness kills it on any exit
# A client attached through the shared segment, holding a key while it runs.
"$PKV" -n node2 hold held-key v -- tail -f /dev/null --pid=$$ >"$T_DIR/hold.out" 2>&1 &
holder=$!
T_PID[hold]=$holder
t_wait_for "node2 has quorum" t_field_is 2 quorum yes
t_wait_for "node2 serves the held key" sh -c "[ \"\$('$PKV' -n node1 get held-key 2>/dev/null)\" = v ]"
t_wait_for "the watch is subscribed" sh -c "'$PKV' -n node2 cluster | grep -q '^subscribers: [1-9]'"

pid=${T_PID[2]}
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
unset "T_PID[2]"
[ "$rc" = 0 ] || t_fail "pkvd stopped with a client attached exited $rc (139: a segfault)"
grep -q " stopped$" "$T_DIR/node2/pkvd.log" || t_fail "no 'stopped' in node2's log"
[ ! -e "$T_DIR/node2/pkvd.sock" ] || t_fail "node2's control socket was left behind"
# The clients see their daemon go, and the rest of the cluster goes on.
t_wait_for "the watch ends" sh -c "! kill -0 $watcher 2>/dev/null"
unset "T_PID[watch]"
t_stop hold
[ "$(t_pkv -n node1 put after-stop ok)" = ok ] || t_fail "put after node2 stopped"
echo ok
