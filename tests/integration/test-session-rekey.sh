#!/usr/bin/env bash
# Sessions rekey (docs/design.md §7, "Rekeying"): with the bound lowered to
# 20 datagrams on every node (fault injection: rekey=20), 150 puts of fresh
# keys through all three nodes make every daemon rekey its sending sessions
# many times. Nothing is lost or taken twice: every put returns its own
# value, every node lists exactly the keys put, and no daemon refused a
# datagram as of no session while the rekeys ran.
. "$(dirname "$0")/lib.sh"
t_start_cluster 3
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is "$i" 3; done
no_session() { t_field "$1" rejected | tr ' ' '\n' | sed -n 's/^no_session=//p'; }
rekeys() { t_field "$1" sessions | tr ' ' '\n' | sed -n 's/^rekeys=//p'; }
for i in 1 2 3; do
	t_fault "$i" "rekey=20"
	ns0[$i]=$(no_session "$i")
done
for n in $(seq 1 150); do
	node=$((n % 3 + 1))
	v=$(t_pkv -n "node$node" put -b rekey "k$n" "v$n") || t_fail "put k$n on node$node"
	[ "$v" = "v$n" ] || t_fail "put k$n on node$node chose '$v'"
done
for i in 1 2 3; do
	r=$(rekeys "$i")
	t_log "node$i: $(t_field "$i" sessions); $(t_field "$i" rejected)"
	[ "${r:-0}" -ge 5 ] || t_fail "node$i rekeyed ${r:-0} times, want at least 5"
	[ "$(no_session "$i")" = "${ns0[$i]}" ] ||
		t_fail "node$i refused datagrams as of no session: $(t_field "$i" rejected)"
	got=$(t_pkv -n "node$i" keys -b rekey | sort -u | wc -l)
	[ "$got" = 150 ] || t_fail "node$i lists $got keys, want 150"
	for n in 1 75 150; do
		[ "$(t_pkv -n "node$i" get -b rekey "k$n")" = "v$n" ] || t_fail "node$i: k$n"
	done
done
echo ok
