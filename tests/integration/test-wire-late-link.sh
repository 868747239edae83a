#!/usr/bin/env bash
# A link late throughout (docs/design.md §7, "The delay bound"): node3's
# datagrams all leave late (fault lag=), in order.
#  - 300 ms late, within the wire's 1 s bound: node3 stays connected and its
#    puts complete;
#  - 1.5 s late, past the bound: each one is older than the bound on
#    arrival, so node1 and node2 drop them as too old (too_old grows), see
#    node3 gone and go on serving; without the lag node3 is heard again and
#    reads what they put. The lag holds node3's handshakes and its answers
#    to stale echoes too: the whole link is late.
# The bound counted by sequence took a constantly late link for a live one
# (each late datagram came after every earlier one); the echo of the
# receiver's own stamp ages each datagram. Needs -Dfault_injection=true.
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}"

too_old() { t_field "$1" rejected | tr ' ' '\n' | sed -n 's/^too_old=//p'; }
too_old_above() { [ "$(too_old "$1")" -gt "$2" ]; } # NODE N
gone_for_both() { t_connected_is 1 2 && t_connected_is 2 2; }
all_connected() { t_connected_is 1 3 && t_connected_is 2 3 && t_connected_is 3 3; }
put_is() { # NODE KEY VALUE
	local got
	got=$(t_pkv -n "node$1" put --timeout 20000 "$2" "$3") || t_fail "put $2 on node$1 exited $?"
	[ "$got" = "$3" ] || t_fail "put $2 on node$1 chose '$got', want '$3'"
}

t_start_cluster 3
t_wait_for "all see 3 connected" all_connected

t_fault 3 "lag=300"
put_is 3 within-bound w
all_connected || t_fail "a link 300 ms late cut node3 off: $(t_field 1 connected)"
t_log "300 ms late: node3 connected, its put done; node1 too_old=$(too_old 1)"

before=$(too_old 1)
t_fault 3 "lag=1500"
t_wait_for "node1 and node2 see node3 gone (its datagrams 1.5 s late)" gone_for_both
t_quorum_is 1 yes || t_fail "node1 lost quorum"
put_is 1 late-1 a
put_is 2 late-2 b
t_wait_for "node1 counts node3's datagrams as too old" too_old_above 1 "$before"
# Late datagrams keep coming; none of them brings node3 back.
end=$(($(t_now_ms) + 3000))
while [ "$(t_now_ms)" -lt "$end" ]; do
	t_connected_is 1 2 || t_fail "node1 took node3's late datagrams for life: $(t_field 1 connected)"
	sleep 0.1
done
t_log "1.5 s late: node1 too_old $before -> $(too_old 1); node1 and node2 kept serving"

t_fault 3 ""
t_wait_for "node3 heard again once on time" all_connected
for k in 1 2; do
	got=$(t_pkv -n node3 get --timeout 20000 "late-$k") || t_fail "get late-$k on node3"
	[ "$got" = "$([ $k = 1 ] && echo a || echo b)" ] || t_fail "node3 reads late-$k as '$got'"
done
echo ok
