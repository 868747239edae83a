#!/usr/bin/env bash
# With 20% of datagrams dropped and 10% duplicated on every daemon (in and
# out), 30 concurrent puts of different values to one key still return one
# value that every daemon reads; a partition that cuts node3 off makes it
# answer no_quorum while the majority side keeps serving, and healing it
# lets node3 read the majority's value. Needs -Dfault_injection=true (skips
# otherwise).
T_HB=40 # no false "down" under 20% loss: see test-lifetimes.sh
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}"

t_start_cluster 3
fault() { "$PKV_FAULT" "$T_DIR/node$1/pkvd.sock" "$2"; }
rc=0; fault 1 "" || rc=$?
[ "$rc" = 77 ] && { echo "pkvd built without fault injection: skipped"; exit 77; }
[ "$rc" = 0 ] || t_fail "pkv-fault exited $rc"
for n in 1 2 3; do fault "$n" "drop=20 dup=10" || t_fail "fault node$n"; done

out=$T_DIR/puts
mkdir -p "$out"
pids=()
for i in $(seq 1 30); do
	(t_pkv -n "node$((i % 3 + 1))" put --timeout 30000 lossy "value-$i" >"$out/$i.val" 2>"$out/$i.err"; echo $? >"$out/$i.rc") &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for i in $(seq 1 30); do
	[ "$(cat "$out/$i.rc")" = 0 ] || t_fail "put $i: $(cat "$out/$i.err")"
done
distinct=$(sort -u "$out"/*.val)
[ "$(echo "$distinct" | wc -l)" = 1 ] || t_fail "puts returned different values: $distinct"
for n in 1 2 3; do
	[ "$(t_pkv -n "node$n" get --timeout 30000 lossy)" = "$distinct" ] || t_fail "node$n disagrees"
done
t_log "30 puts under 20% loss and 10% duplication agreed on $distinct; node1: $(t_field 1 faults)"

# Partition node3 away from the others (both directions), no loss otherwise.
fault 1 "block=3"; fault 2 "block=3"; fault 3 "block=1,2"
t_wait_for "node3 loses quorum" t_quorum_is 3 no
rc=0; t_pkv -n node3 put cut-off x >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || t_fail "put on the minority side exited $rc, want 2"
[ "$(t_pkv -n node1 put majority-side yes)" = yes ] || t_fail "majority side put"
for n in 1 2 3; do fault "$n" ""; done
t_wait_for "node3 regains quorum" t_quorum_is 3 yes
[ "$(t_pkv -n node3 get majority-side)" = yes ] || t_fail "node3 after heal"
echo ok
