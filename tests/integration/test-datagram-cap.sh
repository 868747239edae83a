#!/usr/bin/env bash
# Datagrams capped at 1,400 bytes on loopback (--max-datagram, config
# max_datagram; docs/design.md §7, "Datagram size"): 100 small puts, a
# listing of them (a page of replies, batched), and puts of 60,000-byte
# values all succeed and read back whole on every daemon; no datagram that
# batched several messages went over the cap (largest_batch in `pkv
# cluster`), the batches did fill up towards it, and the large values each
# went alone in an oversized datagram (oversize).
. "$(dirname "$0")/lib.sh"
CAP=1400

T_SIZE=3
for i in 1 2 3; do t_start "$i" --bootstrap --max-datagram "$CAP"; done
for i in 1 2 3; do t_wait_for "node$i ready" "$PKV" -n "node$i" wait --timeout 1; done
t_wait_for "node1 sees 3 connected" t_connected_is 1 3
grep -q "^peer: node2 .* max_datagram=$CAP" <<<"$("$PKV" -n node1 cluster)" ||
	t_fail "node1 does not report the cap for node2: $("$PKV" -n node1 cluster | grep '^peer:')"

for k in $(seq 1 100); do
	[ "$(t_pkv -n "node$((k % 3 + 1))" put -b small "key-$k" "value-$k")" = "value-$k" ] ||
		t_fail "small put key-$k"
done
keys=$(t_pkv -n node1 keys -b small | wc -l)
[ "$keys" = 100 ] || t_fail "node1 lists $keys keys of 100"

big() { head -c 60000 /dev/zero | tr '\0' "$1"; }
for c in a b c; do
	[ "$(t_pkv -n node2 put -b large "big-$c" "$(big "$c")")" = "$(big "$c")" ] ||
		t_fail "put of a 60,000-byte value big-$c"
done
for n in 1 2 3; do
	for c in a b c; do
		[ "$(t_pkv -n "node$n" get -b large "big-$c")" = "$(big "$c")" ] ||
			t_fail "node$n reads big-$c other than put"
	done
	[ "$(t_pkv -n "node$n" get -b small key-100)" = value-100 ] || t_fail "node$n key-100"
done

largest=0
oversize=0
for n in 1 2 3; do
	line=$(t_field "$n" datagrams)
	t_log "node$n datagrams: $line"
	lb=$(echo "$line" | tr ' ' '\n' | sed -n 's/^largest_batch=//p')
	ov=$(echo "$line" | tr ' ' '\n' | sed -n 's/^oversize=//p')
	[ -n "$lb" ] && [ -n "$ov" ] || t_fail "node$n: no largest_batch/oversize in '$line'"
	[ "$lb" -le "$CAP" ] || t_fail "node$n sent a batch of $lb bytes over the cap of $CAP"
	[ "$lb" -gt "$largest" ] && largest=$lb
	oversize=$((oversize + ov))
done
# A page of key replies fills batches to within a message of the cap.
[ "$largest" -ge $((CAP - 400)) ] || t_fail "the largest batch was only $largest bytes"
# Each large value crossed as an ACCEPT (and a CHOSEN) to each peer.
[ "$oversize" -ge 6 ] || t_fail "only $oversize oversized datagrams for 3 large values"
echo ok
