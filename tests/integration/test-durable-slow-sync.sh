#!/usr/bin/env bash
# A slow disk stalls no heartbeat (docs/design.md §6.3): three durable
# daemons whose log syncs each take three failure timeouts longer
# (fault sync_delay=) keep every peer up and the quorum held while puts wait
# for those syncs, and the puts complete with their values once the disk is
# fast again. The sync runs on the ring, off the loop; when it ran inside the
# loop turn, each slow sync stopped the daemon's heartbeats for as long and
# its peers marked it down. Needs -Dfault_injection=true (skips otherwise).
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}"

DELAY=$((3 * T_FT))
for i in 1 2 3; do t_start "$i" --bootstrap --durable; done
for i in 1 2 3; do t_wait_for "node$i ready" "$PKV" -n "node$i" wait --timeout 1; done
t_fault 1 "" # skips on a build without faults
"$PKV" -n node1 watch >"$T_DIR/events" 2>"$T_DIR/watch.err" &
T_PID[w]=$!
t_wait_for "watch subscribed on node1" t_field_is 1 subscribers 1
for i in 1 2 3; do t_fault "$i" "sync_delay=$DELAY"; done
# What the daemons logged up to now is not this test's business.
for i in 1 2 3; do wc -l <"$T_DIR/node$i/pkvd.log" >"$T_DIR/mark$i"; done

t_log "puts on every node, each waiting for syncs of ${DELAY} ms (failure timeout ${T_FT} ms)"
start=$(t_now_ms)
for k in 1 2 3; do
	( rc=0; t_pkv -n "node$k" put --timeout 30000 "slow$k" "v$k" >"$T_DIR/put$k.out" 2>&1 || rc=$?
	  echo "$rc" >"$T_DIR/put$k.rc" ) &
	T_PID[p$k]=$!
done
# While the syncs are slow (two of them at least), every daemon sees the
# two others.
while [ $(($(t_now_ms) - start)) -lt $((2 * DELAY)) ]; do
	for i in 1 2 3; do
		c=$(t_connected_count "$i")
		[ "$c" = 3 ] || t_fail "node$i sees $c nodes connected while a sync is slow"
	done
	sleep 0.1
done
# The puts waited for the slow syncs: the fault was in effect. (A put needs
# its round's records on disk; its ballot ends after a second, so with every
# sync slower than that it may need the disk back to finish.)
for k in 1 2 3; do
	[ ! -f "$T_DIR/put$k.rc" ] || [ "$(($(stat -c %Y "$T_DIR/put$k.rc") * 1000 - start))" -ge $((DELAY - 1000)) ] ||
		t_fail "put slow$k was answered before its syncs could be done"
done
for i in 1 2 3; do t_fault "$i" ""; done
for k in 1 2 3; do t_wait_for "put slow$k answered after the slow syncs" test -f "$T_DIR/put$k.rc"; done
took=$(($(t_now_ms) - start))
for k in 1 2 3; do
	[ "$(cat "$T_DIR/put$k.rc")" = 0 ] || t_fail "put slow$k failed: $(cat "$T_DIR/put$k.out")"
	[ "$(cat "$T_DIR/put$k.out")" = "v$k" ] || t_fail "put slow$k returned $(cat "$T_DIR/put$k.out")"
done
t_log "three puts done in ${took} ms, every node connected throughout"

for i in 1 2 3; do
	new=$(tail -n +$(($(cat "$T_DIR/mark$i") + 1)) "$T_DIR/node$i/pkvd.log")
	if echo "$new" | grep -E ' down$|\[quorum:no\]'; then
		t_fail "node$i marked a peer down or lost quorum while its syncs were slow"
	fi
done
if grep -q quorum_lost "$T_DIR/events"; then
	t_fail "node1 told its subscriber quorum_lost: $(cat "$T_DIR/events")"
fi
# The sync's latency histogram saw the slow syncs.
p99=$("$PKV" -n node1 stats | sed -n 's/^latency: sync .* p99_us=\([0-9]*\).*/\1/p')
[ -n "$p99" ] && [ "$p99" -ge $((DELAY * 1000 / 2)) ] || t_fail "node1 sync_p99_us='$p99'"
[ "$(t_pkv -n node2 get slow1)" = v1 ] || t_fail "slow1 not readable after the syncs"
echo ok
