#!/usr/bin/env bash
# A client that gave up on a request (timeout) must never receive that
# request's late answer as the answer to its next one. Tried: node1's peers
# are stopped (SIGSTOP) so a put on node1 hangs in its round; node1 itself is
# then stopped until the client times out and sends its next put on the same
# handle; node1 continues (its old request now ends) and then the peers: the
# second put must answer its own value, the old one's end is dropped as
# stale. (Found by the scenario soak: answers of given-up requests showed up
# as other keys' values.)
# A failure timeout long enough that stopped peers still count as up.
T_FT=5000
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
field() { t_pkv -n node1 stats | grep -oE " $1=[0-9]+" | cut -d= -f2; }
before=$(field stale_completions)

kill -STOP "${T_PID[2]}" "${T_PID[3]}"
"$PKV_BAD_INPUT" late node1 >"$T_DIR/late.out" 2>&1 &
T_PID[late]=$!
first_in_flight() { [ "$(field requests_in_flight)" -ge 1 ]; }
t_wait_for "the first put is in node1's paxos" first_in_flight
kill -STOP "${T_PID[1]}"
second_sent() { grep -q "^sending second" "$T_DIR/late.out"; }
t_wait_for "the client gave up on the first put and sends the second" second_sent
# Its request is in node1's ring before node1 runs again.
kill -CONT "${T_PID[1]}"
t_wait_for "node1 answers again" first_in_flight
kill -CONT "${T_PID[2]}" "${T_PID[3]}"
rc=0
wait "${T_PID[late]}" || rc=$?
unset "T_PID[late]"
sed 's/^/  | /' "$T_DIR/late.out"
[ "$rc" = 0 ] || t_fail "the second put got another request's answer (exit $rc)"
[ "$(t_pkv -n node2 get late-second)" = second-value ] || t_fail "late-second does not read its value"
after=$(field stale_completions)
[ "$after" -gt "$before" ] || t_fail "the given-up request's end was not counted as stale"
t_log "the late end of a given-up request was dropped; the next request got its own answer"
echo ok
