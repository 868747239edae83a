#!/usr/bin/env bash
# Memory bounded by live keys (docs/design.md §4.6): 2,000 keys put with a
# 200 ms until into a 3-daemon cluster expire, their tombstones are
# collected, and `entries=` in `pkv stats` falls back near zero on every
# daemon (it stayed at 2,000 when tombstones were kept for good). Then the
# same names are put again through another daemon: every put succeeds with
# its own value, in a generation above the one each key had before.
. "$(dirname "$0")/lib.sh"
: "${PKV_STRESS:?}"

N=2000
t_start_cluster 3
for n in 1 2 3; do t_wait_for "node$n sees 3 connected" t_connected_is "$n" 3; done

out=$("$PKV_STRESS" put-many node1 churn k "$N" 200) || t_fail "first puts: $out"
t_log "first lifetimes: $out"
max1=$(echo "$out" | sed -n 's/.* max_gen=\([0-9]*\).*/\1/p')

# A daemon holds every key, live or tombstone, until collection.
t_entries_at_most() { [ "$(t_stat "$1" entries)" -le "$2" ]; }
t_collected() {
	local n
	for n in 1 2 3; do t_entries_at_most "$n" 10 || return 1; done
}
t_wait_for "entries near 0 on every daemon after expiry" t_collected
for n in 1 2 3; do
	t_log "node$n: entries=$(t_stat "$n" entries) collected=$(t_stat "$n" collected)"
	[ "$(t_stat "$n" collected)" -ge $((N * 9 / 10)) ] || t_fail "node$n collected too few"
done

out=$("$PKV_STRESS" put-many node2 churn k "$N" 0) || t_fail "puts after collection: $out"
t_log "after collection: $out"
min2=$(echo "$out" | sed -n 's/.* min_gen=\([0-9]*\).*/\1/p')
[ "$min2" -gt "$max1" ] || t_fail "a key came back in generation $min2, not above $max1"
for n in 1 2 3; do
	[ "$(t_pkv -n "node$n" get -b churn k17)" = k17 ] || t_fail "node$n: k17"
	[ "$(t_stat "$n" violations)" = 0 ] || t_fail "node$n counted a violation"
done
echo ok
