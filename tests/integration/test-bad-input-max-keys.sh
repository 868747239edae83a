#!/usr/bin/env bash
# A daemon out of memory for new keys: `pkvd --max-keys N` caps the keys a
# daemon holds (all buckets, tombstones included); a put that would create
# key N+1 is refused at once with PKV_NO_MEMORY ("daemon out of memory"; pkv
# prints it and exits 69) instead of growing without bound until malloc
# fails. A get of a key the daemon holds nothing of is refused the same way:
# without room it cannot follow a round on it. Puts of keys it already
# holds, and gets of them, keep working; nothing already chosen is lost.
. "$(dirname "$0")/lib.sh"

MAX=20
for i in 1 2 3; do t_start "$i" --bootstrap --max-keys "$MAX"; done
for i in 1 2 3; do t_wait_for "node$i ready" "$PKV" -n "node$i" wait --timeout 1; done

for k in $(seq 1 "$MAX"); do
	[ "$(t_pkv -n "node$((k % 3 + 1))" put "key-$k" "value-$k")" = "value-$k" ] ||
		t_fail "put key-$k of $MAX"
done
for n in 1 2 3; do
	rc=0; t_pkv -n "node$n" put one-too-many v >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
	[ "$rc" = 69 ] || t_fail "node$n: key $((MAX + 1)): exit $rc, want 69: $(cat "$T_DIR/err")"
	grep -q "daemon out of memory" "$T_DIR/err" || t_fail "node$n: message: $(cat "$T_DIR/err")"
	[ ! -s "$T_DIR/out" ] || t_fail "node$n: printed a value for a refused put"
done
# A key already held is no new key: its put answers the chosen value.
[ "$(t_pkv -n node2 put key-1 other)" = value-1 ] || t_fail "re-put of key-1 when full"
for n in 1 2 3; do
	for k in $(seq 1 "$MAX"); do
		[ "$(t_pkv -n "node$n" get "key-$k")" = "value-$k" ] || t_fail "node$n lost key-$k"
	done
	rc=0; t_pkv -n "node$n" get one-too-many >/dev/null 2>&1 || rc=$?
	[ "$rc" = 69 ] || t_fail "node$n: get of a key it has no room for: exit $rc, want 69"
	grep -Eq ' max_keys='"$MAX"' keys_refused=[1-9]' <<<"$(t_pkv -n "node$n" stats)" ||
		t_fail "node$n does not count refused keys"
	kill -0 "${T_PID[$n]}" || t_fail "node$n died"
done
echo ok
