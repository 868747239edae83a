#!/usr/bin/env bash
# The ring's hold (daemon/local.c, docs/design.md §8 "Batches under load"):
# while requests of a daemon's last take from its clients' ring are
# unanswered, newly posted ones wait for the next take. A lone client is
# never held (its next request comes only once its last is answered), not
# even when its answers need no datagram (a quorum read's);
# sixteen clients at once are, and every one of their puts is answered and
# chosen on every node; a daemon started with --batch-hold-us 0 never
# holds; a bad --batch-hold-us is refused before the daemon starts.
# Heartbeats every 400 ms: a daemon that waits for its hold's timer is not
# woken early by a peer's heartbeat (the lone reads below).
T_HB=400 T_FT=2000
. "$(dirname "$0")/lib.sh"
: "${PKV_BENCH:?}"

rc=0
"$PKVD" --batch-hold-us 100001 --help >/dev/null 2>"$T_DIR/bad.err" || rc=$?
[ "$rc" = 64 ] || t_fail "--batch-hold-us 100001: exit $rc, not 64"
grep -q -- '--batch-hold-us takes 0..100000 microseconds' "$T_DIR/bad.err" ||
	t_fail "--batch-hold-us 100001: no reason: $(cat "$T_DIR/bad.err")"
rc=0
"$PKVD" --batch-hold-us -5 --help >/dev/null 2>&1 || rc=$?
[ "$rc" = 64 ] || t_fail "--batch-hold-us -5: exit $rc, not 64"
t_log "a hold out of 0..100000 us is a usage error"

t_start_cluster 3
# bench BUCKET CLIENTS OPS: fresh keys through node1; every put answered
bench() {
	local out
	out=$("$PKV_BENCH" -n node1 put-new --bucket "$1" --clients "$2" --ops "$3" \
		--warmup-ops 0 --keys 16 --seconds 120 2>"$T_DIR/bench.err") ||
		t_fail "pkv-bench, $2 clients: exit $?: $(cat "$T_DIR/bench.err")"
	echo "$out" | sed 's/^/  | /'
	grep -Eq '^  errors +0$' <<<"$out" || t_fail "$2 clients: a put failed"
	grep -Eq "^  ops +$(($2 * $3)) in" <<<"$out" || t_fail "$2 clients: not $(($2 * $3)) puts"
}
# chosen I BUCKET: the keys of BUCKET nodeI has learned as chosen
chosen() { "$PKV" -n "node$1" stats | sed -n "s/^bucket: $2 .* chosen=\([0-9]*\) .*/\1/p"; }
all_chosen() { # BUCKET N
	local i
	for i in 1 2 3; do [ "$(chosen "$i" "$1")" = "$2" ] || return 1; done
}

h0=$(t_stat 1 holds)
[ -n "$h0" ] || t_fail "pkv stats has no holds counter"
bench lone 1 400
[ "$(t_stat 1 holds)" = "$h0" ] || t_fail "a lone client was held: holds $h0 -> $(t_stat 1 holds)"
t_log "one client, 400 puts: never held (holds=$h0)"

bench many 16 200
h1=$(t_stat 1 holds)
[ "$h1" -gt "$h0" ] || t_fail "16 clients at once were never held (holds=$h1)"
t_wait_for "16 x 200 keys chosen on every node" all_chosen many 3200
t_log "16 clients, 3200 puts: held $((h1 - h0)) times, every put answered and chosen everywhere"

# A lone client whose answers need no send (quorum reads of absent keys)
# is not held either. The turn that answers such a read may send nothing,
# and then only the doorbell can wake the daemon for the client's next
# request; a daemon that kept it off waited for the hold's timer (or the
# next datagram). With the longest hold, 100 ms, and heartbeats 400 ms
# apart, such a wait shows in the tail. Whether a turn sends nothing
# depends on how the replies fall into turns, so three rounds of 200.
t_stop 1
t_start 1 --batch-hold-us 100000
t_wait_for "node1 ready again" "$PKV" -n node1 wait --timeout 1
for round in 1 2 3; do
	out=$("$PKV_BENCH" -n node1 get-miss --bucket "lonereads$round" --clients 1 --ops 200 \
		--warmup-ops 0 --seconds 120 2>"$T_DIR/bench.err") ||
		t_fail "pkv-bench get-miss: exit $?: $(cat "$T_DIR/bench.err")"
	echo "$out" | sed 's/^/  | /'
	grep -Eq '^  errors +0$' <<<"$out" || t_fail "get-miss: a get failed"
	p99=$(echo "$out" | sed -n 's/^  latency µs .* p99 \([0-9]*\)\..*/\1/p')
	[ -n "$p99" ] || t_fail "get-miss: no p99 in the output"
	[ "$p99" -lt 50000 ] ||
		t_fail "a lone client's gets waited for the 100 ms hold: p99 $p99 us (round $round)"
	t_log "one client, 200 quorum reads under a 100 ms hold: p99 $p99 us"
done

t_stop 1
t_start 1 --batch-hold-us 0
t_wait_for "node1 ready again" "$PKV" -n node1 wait --timeout 1
bench nohold 16 200
[ "$(t_stat 1 holds)" = 0 ] || t_fail "--batch-hold-us 0 held: holds=$(t_stat 1 holds)"
t_wait_for "16 x 200 keys chosen on every node" all_chosen nohold 3200
t_log "--batch-hold-us 0: 3200 puts of 16 clients, never held"
echo ok
