#!/usr/bin/env bash
# The fast round with real daemons (daemon/paxos-acceptor.c, "The fast
# round"): puts of fresh keys are chosen without phase 1 while every node is
# up; two puts of one key racing on two nodes still agree; with a node
# stopped (SIGSTOP, not yet seen as down) a put waits the fast round out and
# is chosen by a classic round of the other two; and a daemon started with
# --no-fast-put never tries it.
# A failure timeout long enough that a stopped node still counts as up.
T_FT=5000
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
stat() { t_pkv -n "node$1" stats | grep -oE " $2=[0-9]+" | head -n 1 | cut -d= -f2; }

n=0
fast_enough() {
	n=$((n + 1))
	[ "$(t_pkv -n node1 put "fresh$n" "v$n")" = "v$n" ] || t_fail "put fresh$n"
	[ "$(stat 1 fast_chosen)" -ge 10 ]
}
t_wait_for "10 puts chosen in the fast round on node1" fast_enough
for k in $(seq 1 "$n"); do
	for i in 1 2 3; do
		[ "$(t_pkv -n "node$i" get "fresh$k")" = "v$k" ] || t_fail "fresh$k on node$i"
	done
done
t_log "$n fresh keys, $(stat 1 fast_chosen) chosen fast; rounds_started=$(stat 1 rounds_started)"

# Races: the same key put on node1 and node2 at once, 20 times.
for k in $(seq 1 20); do
	t_pkv -n node1 put "race$k" "one$k" >"$T_DIR/a$k" &
	T_PID[a$k]=$!
	t_pkv -n node2 put "race$k" "two$k" >"$T_DIR/b$k" &
	T_PID[b$k]=$!
done
for k in $(seq 1 20); do
	wait "${T_PID[a$k]}" || t_fail "race$k on node1 failed"
	wait "${T_PID[b$k]}" || t_fail "race$k on node2 failed"
	unset "T_PID[a$k]" "T_PID[b$k]"
	a=$(cat "$T_DIR/a$k") b=$(cat "$T_DIR/b$k")
	[ "$a" = "$b" ] || t_fail "race$k: node1 answered $a, node2 $b"
	case "$a" in one$k | two$k) ;; *) t_fail "race$k: $a was nobody's value" ;; esac
	[ "$(t_pkv -n node3 get "race$k")" = "$a" ] || t_fail "race$k reads otherwise on node3"
done
refused=$(($(stat 1 fast_refused) + $(stat 2 fast_refused) + $(stat 3 fast_refused)))
fallbacks=$(($(stat 1 fast_fallbacks) + $(stat 2 fast_fallbacks)))
t_log "20 races agree (fast votes refused: $refused, fast rounds gone classic: $fallbacks)"

# node3 stopped but not yet down: the fast round cannot finish. A race above
# may have paused node1's fast round (a fast round with no majority's answer
# in 10 ms pauses it for 200 ms): first a put chosen fast again.
m=0
chosen_fast() {
	local was
	was=$(stat 1 fast_chosen)
	m=$((m + 1))
	[ "$(t_pkv -n node1 put "again$m" v)" = v ] || t_fail "put again$m"
	[ "$(stat 1 fast_chosen)" -gt "$was" ]
}
t_wait_for "node1 chooses fast again" chosen_fast
before=$(stat 1 fast_fallbacks)
kill -STOP "${T_PID[3]}"
[ "$(t_pkv -n node1 put stalled v)" = v ] || t_fail "put with node3 stopped"
[ "$(stat 1 fast_fallbacks)" -gt "$before" ] || t_fail "the put did not go on classically"
[ "$(t_pkv -n node2 get stalled)" = v ] || t_fail "stalled does not read on node2"
kill -CONT "${T_PID[3]}"
node3_has() { [ "$(t_pkv -n node3 get stalled 2>/dev/null)" = v ]; }
t_wait_for "node3 reads the key chosen while it was stopped" node3_has
t_log "with node3 stopped the put went on in a classic round"

t_stop 1
t_start 1 --no-fast-put
t_wait_for "node1 back" "$PKV" -n node1 wait --timeout 1
for k in 1 2 3 4 5; do
	[ "$(t_pkv -n node1 put "classic$k" "c$k")" = "c$k" ] || t_fail "put classic$k"
done
[ "$(stat 1 fast_rounds)" = 0 ] || t_fail "--no-fast-put tried the fast round"
[ "$(stat 1 rounds_started)" -ge 5 ] || t_fail "--no-fast-put did not run classic rounds"
t_log "with --no-fast-put every put ran phase 1"
echo ok
