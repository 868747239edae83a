#!/usr/bin/env bash
# With durable acceptor state (--durable), every daemon of the cluster is
# SIGKILLed at once and restarted: each replays its log, answers at once as
# synced (no sync majority to wait for, no new epoch), every chosen key is
# still there (the logs compacted at start), and a put of another value
# returns the old one. With restart_grace_ms = 0 keys bound to a pid of the
# killed incarnation end (test-restart-keeps-holders shows a restart within
# the grace keeping them), those bound to a node do not. A log
# damaged in the middle stops the daemon with a message naming the file.
. "$(dirname "$0")/lib.sh"

# Classic rounds in the first run (--no-fast-put): three records a key
# (promise, acceptance, choice), so the logs are worth compacting at start.
for i in 1 2 3; do t_start "$i" --bootstrap --durable --no-fast-put; done
for i in 1 2 3; do t_wait_for "node$i ready" "$PKV" -n "node$i" wait --timeout 1; done

N=200
for k in $(seq 1 $N); do
	n=$((k % 3 + 1))
	[ "$(t_pkv -n "node$n" put "k$k" "v$k")" = "v$k" ] || t_fail "put k$k on node$n"
done
t_pkv put -b other shared first >/dev/null || t_fail "put in bucket other"
t_pkv put --node node2 node-bound alive >/dev/null || t_fail "put node-bound"
# Bound to this script's pid, watched by node1: without a grace the binding
# ends with node1's incarnation even though the process lives on.
t_pkv -n node1 put --pid $$ held-by-pid v >/dev/null || t_fail "put held-by-pid"
t_log "$N keys put; the logs hold $(du -cb "$T_DIR"/node*/acceptor.log | tail -n 1 | cut -f1) bytes"

for i in 1 2 3; do t_stop "$i" KILL; done
for i in 1 2 3; do t_start "$i" --durable --restart-grace 0; done
start=$(t_now_ms)
for i in 1 2 3; do t_wait_for "node$i synced after replay" t_field_is "$i" synced yes; done
# Synced from its own log, a daemon may not hear its peers yet, and a get
# without a quorum fails at once ("no quorum"): wait for it too.
for i in 1 2 3; do t_wait_for "node$i has a quorum" "$PKV" -n "node$i" wait --timeout 1; done
t_log "all three serve again $(($(t_now_ms) - start)) ms after the restart"
for i in 1 2 3; do
	grep -q "durable: [0-9]* records replayed" "$T_DIR/node$i/pkvd.log" || t_fail "node$i did not replay"
	# Three records a key in the first run: compacted at start.
	grep -q "durable: log compacted" "$T_DIR/node$i/pkvd.log" || t_fail "node$i did not compact"
	! grep -q "NEW EPOCH" "$T_DIR/node$i/pkvd.log" || t_fail "node$i started a new epoch"
done

for k in $(seq 1 $N); do
	n=$((k % 3 + 1))
	[ "$(t_pkv -n "node$n" get "k$k")" = "v$k" ] || t_fail "k$k lost on node$n after the restart"
done
t_log "every chosen key reads the same after all daemons were killed"
for k in 1 2 3 $N; do
	[ "$(t_pkv -n node$((k % 3 + 1)) put "k$k" other)" = "v$k" ] || t_fail "a second put of k$k won"
done
[ "$(t_pkv -n node3 put -b other shared second)" = first ] || t_fail "bucket other lost its value"
[ "$(t_pkv -n node3 get node-bound)" = alive ] || t_fail "the node-bound key is lost"
t_log "puts of other values return the old values"

held_gone() { ! t_pkv -n "$1" get held-by-pid >/dev/null 2>&1; }
for i in 1 2 3; do t_wait_for "the key bound through node1's old incarnation is gone on node$i" held_gone "$i"; done
t_log "a pid binding of the killed incarnation ended"

# A compacted log replays: node1 killed again, every key still answers there.
t_stop 1 KILL
t_start 1 --durable
t_wait_for "node1 synced after replaying its compacted log" t_field_is 1 synced yes
# it reads what it restored once it holds a lease (docs/design.md §5.1)
t_pkv -n node1 wait --timeout 30 || t_fail "node1 has no quorum and lease after its restart"
for k in $(seq 1 7 $N); do
	[ "$(t_pkv -n node1 get "k$k")" = "v$k" ] || t_fail "k$k lost after replaying the compacted log"
done
t_log "the compacted log replays"

# Damage in the middle of a log is refused, never silently dropped. The
# middle of its records: the file also holds zeros written ahead of them.
records=$(t_pkv -n node3 stats | sed -n 's/^durable: .*log_bytes=\([0-9]*\).*/\1/p')
[ -n "$records" ] && [ "$records" -gt 1000 ] || t_fail "node3 reports no log_bytes: '$records'"
t_stop 3 TERM
log=$T_DIR/node3/acceptor.log
[ "$(stat -c %s "$log")" -ge "$records" ] || t_fail "node3's log is shorter than its records"
printf 'XXXXXXXX' | dd of="$log" bs=1 seek=$((records / 2)) conv=notrunc status=none
set +e
"$PKVD" --node 3 --cluster-size 3 --run-dir "$T_DIR" --port-base "$T_PORT_BASE" --durable \
	>"$T_DIR/damaged.out" 2>&1
rc=$?
set -e
[ "$rc" != 0 ] || t_fail "a daemon started over a damaged log"
grep -q "acceptor.log" "$T_DIR/damaged.out" || t_fail "no message names the log: $(cat "$T_DIR/damaged.out")"
t_log "a damaged log stops the daemon: $(head -n 1 "$T_DIR/damaged.out")"
# Moved aside, the node starts without state and copies it from the others.
mv "$log" "$log.damaged"
t_start 3 --durable
t_wait_for "node3 resynced from the majority" t_field_is 3 synced yes
[ "$(t_pkv -n node3 get k7)" = v7 ] || t_fail "node3 does not read k7 after its resync"
echo ok
