#!/usr/bin/env bash
# A daemon stopped with SIGTERM while local clients are attached (a watch
# subscribed to its events, a process holding a key through the library, a
# put waiting in the daemon for a quorum that is gone) and with durable
# state stops cleanly: exit status 0, "stopped" in its log, its control
# socket removed, the acceptor log closed — no use of the freed io_uring
# ring on the way out, as a `systemctl stop` of a host with clients would
# otherwise crash it. The sanitizer build checks the stop frees everything.
# It restarts from its log with what it held.
. "$(dirname "$0")/lib.sh"

T_SIZE=3
for i in 1 2 3; do t_start "$i" --bootstrap --durable; done
for i in 1 2 3; do t_wait_for "node$i ready" "$PKV" -n "node$i" wait --timeout 1; done
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

# A put that waits in node2 for a quorum: node1 and node3 are gone.
t_stop 1
t_stop 3
t_wait_for "node2 lost quorum" t_field_is 2 quorum no
"$PKV" -n node2 put --no-quorum retry --timeout 600000 waiting-key w >"$T_DIR/put.out" 2>&1 &
putter=$!
T_PID[put]=$putter
t_wait_for "the put waits in node2" sh -c "'$PKV' -n node2 stats | grep -q 'requests_in_flight=[1-9]'"

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
t_wait_for "the waiting put ends" sh -c "! kill -0 $putter 2>/dev/null"
rc=0
wait "$putter" || rc=$?
unset "T_PID[put]"
[ "$rc" != 0 ] || t_fail "the waiting put succeeded on a stopped daemon: $(cat "$T_DIR/put.out")"
t_stop hold
# The cluster comes back from its acceptor logs and serves.
for i in 1 2 3; do t_start "$i" --durable; done
t_wait_for "node1 has quorum again" t_field_is 1 quorum yes
[ "$(t_pkv -n node1 put after-stop ok)" = ok ] || t_fail "put after node2 stopped"
echo ok
