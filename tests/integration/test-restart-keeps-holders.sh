#!/usr/bin/env bash
# A daemon with durable state restarted within the grace (restart_grace_ms,
# by default the failure timeout) takes back the pid bindings of its
# previous incarnation whose processes still live (docs/design.md §6.2):
# stopped with SIGTERM and started again, then SIGKILLed and started again,
# a lock whose holder lives is still held on every node, in the same
# generation, and `pkv hold` rides the restart out (its command is not
# signalled); a lock whose holder was killed while the daemon was down is
# erased everywhere soon after the start (the time is printed). Finally the
# daemon stays down: the live holder's lock ends on the others once the
# failure timeout and the grace have passed.
T_FT=2000 # a generous grace (= the failure timeout) for a loaded machine
. "$(dirname "$0")/lib.sh"

for i in 1 2 3; do t_start "$i" --bootstrap --durable; done
for i in 1 2 3; do t_wait_for "node$i ready" "$PKV" -n "node$i" wait --timeout 1; done
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is "$i" 3; done

t_gen() { t_pkv -n "node$1" get -g "$2" 2>/dev/null | tail -n 1; }
# absent: exit 1 (not found), not a daemon that does not answer yet
t_absent() {
	local rc=0
	t_pkv -n "node$1" get "$2" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 1 ]
}
t_holder() { # NAME: a process to hold a lock, killed by the harness at exit
	sleep 600 &
	T_PID[$1]=$!
}

t_holder live
live=${T_PID[live]}
[ "$(t_pkv -n node1 put --pid "$live" lock-live on)" = on ] || t_fail "put lock-live"
gen=$(t_gen 1 lock-live)
for i in 2 3; do t_wait_for "lock-live on node$i" sh -c "[ \"\$('$PKV' -n node$i get lock-live 2>/dev/null)\" = on ]"; done
t_log "lock-live held by pid $live through node1, generation $gen"
t_hold 1 lock-hold h
hgen=$(t_gen 1 lock-hold)

# restart_round SIGNAL: node1 stopped with SIGNAL; a second holder killed
# while it is down; node1 started again.
restart_round() {
	local sig=$1 dies t0 t1 i k
	k=lock-dies-$sig
	t_holder "dies$sig"
	dies=${T_PID[dies$sig]}
	[ "$(t_pkv -n node1 put --pid "$dies" "$k" on)" = on ] || t_fail "put $k"
	for i in 2 3; do t_wait_for "$k on node$i" sh -c "[ \"\$('$PKV' -n node$i get $k 2>/dev/null)\" = on ]"; done

	t_stop 1 "$sig"
	kill -KILL "$dies"
	wait "$dies" 2>/dev/null || true
	unset "T_PID[dies$sig]"
	t0=$(t_now_ms)
	t_start 1 --durable
	for i in 1 2 3; do t_wait_for "$k gone on node$i" t_absent "$i" "$k"; done
	t1=$(t_now_ms)
	t_log "SIG$sig: the lock of a holder killed while node1 was down was gone on every node $((t1 - t0)) ms after node1 started"

	# The peers have heard the new incarnation (they learned a put made
	# through it), which is when they ended its old bindings before; and
	# the grace after the stop is over too.
	t_holder "probe$sig"
	[ "$(t_pkv -n node1 put --pid "${T_PID[probe$sig]}" "probe-$sig" on)" = on ] || t_fail "put probe-$sig"
	for i in 2 3; do t_wait_for "probe-$sig on node$i" sh -c "[ \"\$('$PKV' -n node$i get probe-$sig 2>/dev/null)\" = on ]"; done
	while [ $(($(t_now_ms) - t0)) -lt $((2 * T_FT + 500)) ]; do sleep 0.1; done
	for i in 1 2 3; do
		[ "$(t_gen "$i" lock-live)" = "$gen" ] ||
			t_fail "SIG$sig: lock-live not held in generation $gen on node$i after node1's restart (got '$(t_gen "$i" lock-live)')"
		[ "$(t_pkv -n "node$i" pid lock-live)" = "$live" ] || t_fail "SIG$sig: lock-live's pid on node$i"
		[ "$(t_gen "$i" lock-hold)" = "$hgen" ] ||
			t_fail "SIG$sig: pkv hold's lock-hold not held on node$i: $(cat "$T_DIR/hold.err")"
	done
	kill -0 "${T_PID[hold]}" 2>/dev/null || t_fail "SIG$sig: pkv hold ended: $(cat "$T_DIR/hold.err")"
	[ ! -s "$T_DIR/hold.err" ] || t_fail "SIG$sig: pkv hold signalled its command: $(cat "$T_DIR/hold.err")"
	grep -q "taking back the pid bindings" "$T_DIR/node1/pkvd.log" ||
		t_fail "SIG$sig: node1 did not say it took back its bindings"
	t_log "SIG$sig: lock-live still held by pid $live, generation $gen, on every node"
}
# T_ROUNDS=KILL runs the SIGKILL round alone.
for sig in ${T_ROUNDS:-TERM KILL}; do restart_round "$sig"; done

# Down for good: the others end node1's pid bindings once the failure
# timeout and the grace are over.
t_stop 1 KILL
t0=$(t_now_ms)
for i in 2 3; do t_wait_for "lock-live gone on node$i with node1 down" t_absent "$i" lock-live; done
t_log "node1 down for good: lock-live gone on node2 and node3 $(($(t_now_ms) - t0)) ms after its SIGKILL (failure timeout $T_FT ms + grace $T_FT ms)"
echo ok
