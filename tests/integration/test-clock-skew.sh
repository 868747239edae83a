#!/usr/bin/env bash
# `until` follows the voters' clocks, not one daemon's (docs/design.md §4.5):
#  1. node3's clock jumps 1 h ahead: a key with a 10-minute until stays on
#     every node, and node3 says its clock is off (log, `pkv cluster`);
#  2. node3 1 h behind and node2 1 h ahead at once: a key with a 6 s until
#     ends on every node at its until (not before, and not kept alive by
#     node3), and the 10-minute key still stays.
# Needs -Dfault_injection=true (skips otherwise).
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}" "${PKV_TOP:?}"

t_start_cluster 3
t_fault 1 "" # skips on a build without faults

clock_off() { grep -q "^off skew_ms=$2" <<<"$(t_field "$1" clock)"; }
# peer_clock N PEER: PEER's clock minus node N's, as node N's `pkv cluster` shows it
peer_clock() { t_field "$1" peer | sed -n "s/^$2 .* clock_ms=\([-+0-9]*\).*/\1/p"; }
# A quorum write through node $1, read back on node $2: every message node $1
# sent before it (an ERASE its clock started) has been handled by then.
fence() {
	local k=fence-$RANDOM$RANDOM
	[ "$(t_pkv -n "node$1" put "$k" x)" = x ] || t_fail "fence put on node$1"
	t_wait_for "fence on node$2" sh -c "[ \"\$('$PKV' -n node$2 get $k 2>/dev/null)\" = x ]"
}
all_have() { # KEY VALUE
	local n
	for n in 1 2 3; do
		[ "$(t_pkv -n "node$n" get "$1" 2>/dev/null)" = "$2" ] ||
			t_fail "node$n lost $1 (want $2): the skewed clock ended it"
	done
}

long_until=$(($(t_pkv now) + 600000))
[ "$(t_pkv -n node1 put --until "$long_until" session-lease x)" = x ] || t_fail "put session-lease"

t_log "1. node3 1 h ahead"
t_fault 3 "skew=3600000"
t_wait_for "node3 says its clock is off" clock_off 3 +3[56]
t_wait_for "node1 sees node3's clock ahead" sh -c "[ \"\$(\"$PKV\" -n node1 cluster | sed -n 's/^peer: node3 .* clock_ms=+\([0-9]*\).*/\1/p')\" -gt 3500000 ]"
grep -q "clock: this node's wall clock is +3[56]" "$T_DIR/node3/pkvd.log" ||
	t_fail "node3's log does not say its clock is off"
top=$("$PKV_TOP" -b -n node3) || t_fail "pkv-top -b exited $?"
grep -q "clock off skew_ms=+3[56]" <<<"$top" || t_fail "pkv-top does not show node3's clock: $top"
fence 3 1
fence 3 2
all_have session-lease x
t_log "node1 sees node3 at $(peer_clock 1 node3) ms"

t_log "2. node3 1 h behind, node2 1 h ahead"
# One clock off at a time: node1 and node2 first see node3 behind, so that
# no heartbeat still says it is ahead when node2 jumps (two clocks ahead
# would be a majority).
t_fault 3 "skew=-3600000"
t_wait_for "node3 says its clock is behind" clock_off 3 -3[56]
for n in 1 2; do
	t_wait_for "node$n sees node3's clock behind" sh -c "\"$PKV\" -n node$n cluster | grep -q '^peer: node3 .* clock_ms=-3[56]'"
done
t_fault 2 "skew=3600000"
t_wait_for "node2 says its clock is ahead" clock_off 2 +3[56]
fence 2 1
fence 3 1
all_have session-lease x

sleep 300 & owner=$!
T_PID[owner]=$owner # reaped by t_cleanup
short_until=$(($(t_pkv now) + 6000))
[ "$(t_pkv -n node1 put --pid "$owner" --until "$short_until" shortk y)" = y ] || t_fail "put shortk"
# Through the daemons (pkv pid asks the daemon, not the cache): present on
# every node until its until, absent on every node soon after.
for n in 1 2 3; do
	t_wait_for "node$n learns shortk" sh -c "'$PKV' -n node$n pid shortk >/dev/null 2>&1"
done
gone_on() { ! "$PKV" -n "node$1" pid shortk >/dev/null 2>&1; }
declare -A gone=()
while [ "${#gone[@]}" -lt 3 ]; do
	for n in 1 2 3; do
		[ -z "${gone[$n]:-}" ] && gone_on "$n" || continue
		at=$(t_pkv now)
		gone[$n]=$at
		[ "$at" -ge $((short_until - 100)) ] ||
			t_fail "node$n ended shortk $((short_until - at)) ms before its until"
		t_log "node$n: shortk gone $((at - short_until)) ms after its until"
	done
	[ "$(t_pkv now)" -lt $((short_until + 3000)) ] ||
		t_fail "shortk kept 3 s past its until on some node (gone: ${!gone[*]})"
	sleep 0.05
done
all_have session-lease x
echo ok
