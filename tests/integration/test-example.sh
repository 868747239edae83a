#!/usr/bin/env bash
# The README's example program: the first candidate becomes leader, the
# second is told who is.
. "$(dirname "$0")/lib.sh"
: "${PKV_EXAMPLE:?}"

t_start_cluster 3
out=$(PKV_NODE=node1 "$PKV_EXAMPLE" alice) || t_fail "alice: $out"
grep -q '^leader: alice (me) (generation 1)$' <<<"$out" || t_fail "alice: $out"
out=$(PKV_NODE=node3 "$PKV_EXAMPLE" bob) || t_fail "bob: $out"
grep -q '^leader: alice (generation 1)$' <<<"$out" || t_fail "bob: $out"
grep -q '^read back: alice$' <<<"$out" || t_fail "bob's read: $out"
echo ok
