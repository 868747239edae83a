#!/usr/bin/env bash
# pkv-bench --fdatasync-floor reports two floors: one writer, and W writers
# in lockstep (the voters' syncs of one durable put on one disk). W is the
# voters of the run dir's cluster (its cluster_size, as pkv-cluster writes
# it) unless --floor-writers says; --json carries both floors and the put's
# p50 over each; the floor leaves no file behind; a floor that cannot write
# (no dir, a writer's file too large) ends with exit 69 and a reason rather
# than hanging; a bad --floor-writers is a usage error. pkv-bench
# --wakeup-floor reports the machine's floors for an in-memory put (futex
# and UDP round trips, their chain, C clients' rate against one server, and
# against one server that takes each batch through a round trip to two
# peers, and one client's round trips through a server that waits for the
# echoes of both peers, the fast round's shape) in text and JSON, consistent with each other and with the put; a signal in
# the middle ends it at once with no process left behind; a bad
# --wakeup-floor is a usage error. No speed is judged.
. "$(dirname "$0")/lib.sh"
: "${PKV_BENCH:?}"

py=$(command -v python3) || { echo "# no python3 to read the JSON: skipped"; exit 77; }

t_start_cluster 2
echo 2 >"$T_DIR/cluster_size"
floor_dir=$T_DIR/floor
mkdir "$floor_dir"
bench() { # runs in the floor's dir, as bench-peers does with -n
	(cd "$floor_dir" && "$PKV_BENCH" -n node1 put-new --ops 20 --warmup-ops 5 --keys 16 "$@")
}

bench --fdatasync-floor 0.2 --json >"$T_DIR/floor.json" 2>"$T_DIR/floor.err" ||
	t_fail "pkv-bench --fdatasync-floor --json exited $?: $(cat "$T_DIR/floor.err")"
sed 's/^/  | /' "$T_DIR/floor.json"
"$py" - "$T_DIR/floor.json" <<'PY' || t_fail "the floor's JSON lacks a field or has a wrong one"
import json, sys
d = json.load(open(sys.argv[1]))
f = d["fdatasync_floor"]
num = (int, float)
def need(cond, what):
    if not cond:
        sys.exit("fdatasync_floor: " + what + ": " + json.dumps(f))
for k in ("syncs", "fdatasync_p50_ns", "fdatasync_p99_ns", "rounds", "colocated_p50_ns",
          "colocated_p99_ns", "p50_over_fdatasync_p50", "p50_over_colocated_p50"):
    need(isinstance(f.get(k), num) and not isinstance(f.get(k), bool), k + " is not a number")
need(isinstance(f.get("dir"), str) and f["dir"], "no dir")
need(f.get("writers") == 2, "writers is not the run dir's 2 voters")
need(f["syncs"] >= 20 and f["rounds"] >= 20, "fewer than 20 syncs or rounds")
need(0 < f["fdatasync_p50_ns"] <= f["fdatasync_p99_ns"], "one-writer p50/p99 out of order")
need(0 < f["colocated_p50_ns"] <= f["colocated_p99_ns"], "co-located p50/p99 out of order")
need(f["p50_over_colocated_p50"] > 0 and f["p50_over_fdatasync_p50"] > 0, "a ratio is not positive")
need(abs(f["p50_over_colocated_p50"] * f["colocated_p50_ns"] - d["p50_ns"]) <= 0.01 * d["p50_ns"],
     "p50_over_colocated_p50 is not the put's p50 over the co-located p50")
PY
t_log "--json: both floors, W from the run dir's cluster_size, both ratios"

bench --clients 3 --wakeup-floor 0.6 --json >"$T_DIR/wake.json" 2>"$T_DIR/wake.err" ||
	t_fail "pkv-bench --wakeup-floor --json exited $?: $(cat "$T_DIR/wake.err")"
sed 's/^/  | /' "$T_DIR/wake.json"
"$py" - "$T_DIR/wake.json" <<'PY' || t_fail "the wakeup floor's JSON lacks a field or has a wrong one"
import json, sys
d = json.load(open(sys.argv[1]))
w = d.get("wakeup_floor")
if not isinstance(w, dict):
    sys.exit("no wakeup_floor object")
num = (int, float)
def need(cond, what):
    if not cond:
        sys.exit("wakeup_floor: " + what + ": " + json.dumps(w))
for k in ("wake_seconds", "wake_futex_trips", "wake_futex_p50_ns", "wake_futex_p99_ns",
          "wake_udp_bytes", "wake_udp_trips", "wake_udp_p50_ns", "wake_udp_p99_ns",
          "wake_chain_p50_ns", "wake_clients", "wake_client_trips", "wake_client_ns",
          "wake_client_rate", "p50_over_chain_p50", "ops_per_s_over_client_rate",
          "wake_replicated_peers", "wake_replicated_trips", "wake_replicated_ns",
          "wake_replicated_rounds", "wake_replicated_rate", "ops_per_s_over_replicated_rate",
          "wake_fast_peers", "wake_fast_trips", "wake_fast_p50_ns", "wake_fast_p99_ns",
          "p50_over_fast_p50"):
    need(isinstance(w.get(k), num) and not isinstance(w.get(k), bool), k + " is not a number")
need(w["wake_seconds"] == 0.6, "wake_seconds is not the 0.6 asked")
need(w["wake_futex_trips"] >= 20 and w["wake_udp_trips"] >= 20, "fewer than 20 round trips")
need(0 < w["wake_futex_p50_ns"] <= w["wake_futex_p99_ns"], "futex p50/p99 out of order")
need(0 < w["wake_udp_p50_ns"] <= w["wake_udp_p99_ns"], "UDP p50/p99 out of order")
need(w["wake_udp_bytes"] == 128, "the UDP datagram is not 128 bytes")
need(w["wake_chain_p50_ns"] == w["wake_futex_p50_ns"] + w["wake_udp_p50_ns"],
     "the chain floor is not futex p50 + UDP p50")
need(w["wake_clients"] == 3, "wake_clients is not the run's 3 clients")
need(w["wake_client_trips"] > 0 and w["wake_client_ns"] > 0 and w["wake_client_rate"] > 0,
     "no client round trip counted")
need(abs(w["wake_client_rate"] - w["wake_client_trips"] * 1e9 / w["wake_client_ns"])
     <= 0.01 * w["wake_client_rate"], "the rate is not trips over their time")
need(abs(w["p50_over_chain_p50"] * w["wake_chain_p50_ns"] - d["p50_ns"]) <= 0.01 * d["p50_ns"],
     "p50_over_chain_p50 is not the put's p50 over the chain floor")
need(abs(w["ops_per_s_over_client_rate"] * w["wake_client_rate"] - d["ops_per_s"])
     <= 0.01 * d["ops_per_s"], "ops_per_s_over_client_rate is not the put's ops/s over the rate")
need(w["wake_replicated_peers"] == 2, "the replicated floor has not two peers")
need(0 < w["wake_replicated_rounds"] <= w["wake_replicated_trips"],
     "no round to the peers, or more rounds than round trips answered")
need(abs(w["wake_replicated_rate"] - w["wake_replicated_trips"] * 1e9 / w["wake_replicated_ns"])
     <= 0.01 * w["wake_replicated_rate"], "the replicated rate is not trips over their time")
need(abs(w["ops_per_s_over_replicated_rate"] * w["wake_replicated_rate"] - d["ops_per_s"])
     <= 0.01 * d["ops_per_s"], "ops_per_s_over_replicated_rate is not the put's ops/s over it")
need(w["wake_fast_peers"] == 2, "the fast-round floor has not two peers")
need(w["wake_fast_trips"] >= 1, "no fast-round round trip timed")
need(0 < w["wake_fast_p50_ns"] <= w["wake_fast_p99_ns"], "fast-round p50/p99 out of order")
need(abs(w["p50_over_fast_p50"] * w["wake_fast_p50_ns"] - d["p50_ns"]) <= 0.01 * d["p50_ns"],
     "p50_over_fast_p50 is not the put's p50 over the fast-round floor")
PY
t_log "--wakeup-floor --json: futex and UDP round trips, chain = futex + UDP, both client rates, the fast round, the ratios"

out=$(bench --fdatasync-floor 0.2 --floor-writers 3 --wakeup-floor 0.6 2>"$T_DIR/floor.err") ||
	t_fail "pkv-bench --floor-writers 3 exited $?: $(cat "$T_DIR/floor.err")"
echo "$out" | sed 's/^/  | /'
grep -Eq '^floor: fdatasync of a 4 KiB append p50 [0-9.]+ us p99 [0-9.]+ us' <<<"$out" ||
	t_fail "the one-writer floor line is gone"
grep -Eq '^floor: 3 writers in lockstep.* p50 [0-9.]+ us p99 [0-9.]+ us \([0-9]+ rounds\)' <<<"$out" ||
	t_fail "no line of the 3-writer floor"
grep -Eq '^floor: put-new p50 / fdatasync p50 = [0-9.]+$' <<<"$out" || t_fail "no ratio to the one-writer floor"
grep -Eq '^floor: put-new p50 / 3-writer floor p50 = [0-9.]+$' <<<"$out" || t_fail "no ratio to the 3-writer floor"
left=$(ls -A "$floor_dir")
[ -z "$left" ] || t_fail "the floor left files behind: $left"
t_log "--floor-writers 3 overrides the run dir; text shows both floors; no file is left"
us='[0-9]+\.[0-9] us'
for re in "^wakeup floor: futex round trip between two processes p50 $us p99 $us \([0-9]+ trips\)$" \
	"^wakeup floor: UDP round trip between two processes over 127\.0\.0\.1 \(128 B\) p50 $us p99 $us \([0-9]+ trips\)$" \
	"^wakeup floor: chain floor of an in-memory put \(futex p50 \+ UDP p50\) $us$" \
	'^wakeup floor: put-new p50 / chain floor = [0-9.]+$' \
	'^wakeup floor: client-rate floor, 1 client in lockstep with one server through futexes: [0-9]+ round trips/s' \
	'^wakeup floor: put-new ops/s / client-rate floor = [0-9.]+$' \
	'^wakeup floor: replicated-rate floor, .* to 2 peer processes .*: [0-9]+ round trips/s \([0-9]+ in [0-9.]+ s, [0-9.]+ a batch\)$' \
	'^wakeup floor: put-new ops/s / replicated-rate floor = [0-9.]+$' \
	"^wakeup floor: fast-round floor, 1 client .* all 2 peer processes \(every voter\): p50 $us p99 $us \([0-9]+ trips\)$" \
	'^wakeup floor: put-new p50 / fast-round floor = [0-9.]+$'; do
	grep -Eq "$re" <<<"$out" || t_fail "no line like /$re/"
done
t_log "--wakeup-floor beside --fdatasync-floor: text shows the five wakeup floors and the ratios"

# A SIGTERM while the floor's processes run (a 30 s floor): pkv-bench ends
# at once, as interrupted, and none of its processes (each has the run's
# bucket in its command line) is left.
mark=wake-$$
(cd "$floor_dir" && exec "$PKV_BENCH" -n node1 put-new --ops 5 --warmup-ops 0 --keys 16 \
	--bucket "$mark" --wakeup-floor 30 >/dev/null 2>"$T_DIR/term.err") &
pid=$!
deadline=$((SECONDS + T_DEADLINE))
until grep -q 'wakeup floor: 30.00 s' "$T_DIR/term.err" && [ -n "$(pgrep -P "$pid" || true)" ]; do
	kill -0 "$pid" 2>/dev/null || t_fail "pkv-bench ended before its floor: $(cat "$T_DIR/term.err")"
	[ "$SECONDS" -lt "$deadline" ] || t_fail "no floor process within ${T_DEADLINE} s"
	sleep 0.05
done
kill -TERM "$pid"
deadline=$((SECONDS + 10))
while kill -0 "$pid" 2>/dev/null; do
	[ "$SECONDS" -lt "$deadline" ] || t_fail "pkv-bench still measures the floor 10 s after SIGTERM"
	sleep 0.05
done
rc=0
wait "$pid" || rc=$?
[ "$rc" = 143 ] || t_fail "a SIGTERM in the floor: exit $rc, not 143: $(cat "$T_DIR/term.err")"
grep -q 'pkv-bench: interrupted' "$T_DIR/term.err" || t_fail "not told interrupted: $(cat "$T_DIR/term.err")"
left=$(pgrep -f -- "--bucket $mark" || true)
[ -z "$left" ] || t_fail "floor processes left behind: $left"
t_log "a SIGTERM in the wakeup floor ends pkv-bench at once, nothing left behind"

# A writer's file may not grow past 8 KiB: the lockstep rounds fail inside
# the threads after two rounds, and the run must end with the reason.
rc=0
(ulimit -f 8 && trap '' XFSZ && bench --fdatasync-floor 5 2>"$T_DIR/fsize.err" >/dev/null) || rc=$?
[ "$rc" = 69 ] || t_fail "a floor whose files cannot grow exited $rc, not 69: $(cat "$T_DIR/fsize.err")"
grep -q 'fdatasync-floor: File too large' "$T_DIR/fsize.err" || t_fail "no reason given: $(cat "$T_DIR/fsize.err")"
left=$(ls -A "$floor_dir")
[ -z "$left" ] || t_fail "the failed floor left files behind: $left"
t_log "a writer that fails ends the floor with exit 69 and the reason"

gone=$T_DIR/gone
mkdir "$gone"
rc=0
(cd "$gone" && rmdir "$gone" && "$PKV_BENCH" -n node1 put-new --ops 5 --warmup-ops 0 --keys 16 \
	--fdatasync-floor 0.2 >/dev/null 2>"$T_DIR/gone.err") || rc=$?
[ "$rc" = 69 ] || t_fail "a floor in a removed dir exited $rc, not 69"
grep -q 'fdatasync-floor: No such file or directory' "$T_DIR/gone.err" || t_fail "no reason: $(cat "$T_DIR/gone.err")"
t_log "a floor dir that is gone: exit 69 and the reason"

for bad in 0 65 x; do
	rc=0
	"$PKV_BENCH" -n node1 put-new --fdatasync-floor 0.2 --floor-writers "$bad" >/dev/null 2>"$T_DIR/bad.err" || rc=$?
	[ "$rc" = 64 ] || t_fail "--floor-writers $bad exited $rc, not 64"
	grep -q "bad value '$bad' for --floor-writers" "$T_DIR/bad.err" || t_fail "--floor-writers $bad: $(cat "$T_DIR/bad.err")"
done
rc=0
"$PKV_BENCH" -n node1 put-new --floor-writers 3 >/dev/null 2>"$T_DIR/bad.err" || rc=$?
if [ "$rc" != 64 ] || ! grep -q -- '--floor-writers belongs to --fdatasync-floor' "$T_DIR/bad.err"; then
	t_fail "--floor-writers without the floor: exit $rc, $(cat "$T_DIR/bad.err")"
fi
t_log "a bad --floor-writers is a usage error"

for bad in 0 -1 60.5 x 1s nan; do
	rc=0
	"$PKV_BENCH" -n node1 put-new --wakeup-floor "$bad" >/dev/null 2>"$T_DIR/bad.err" || rc=$?
	[ "$rc" = 64 ] || t_fail "--wakeup-floor $bad exited $rc, not 64"
	grep -qF -- "--wakeup-floor takes seconds, 0 < S <= 60 (got '$bad')" "$T_DIR/bad.err" ||
		t_fail "--wakeup-floor $bad: $(cat "$T_DIR/bad.err")"
done
t_log "a bad --wakeup-floor is a usage error"
echo ok
