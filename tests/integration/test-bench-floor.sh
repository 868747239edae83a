#!/usr/bin/env bash
# pkv-bench --fdatasync-floor reports two floors: one writer, and W writers
# in lockstep (the voters' syncs of one durable put on one disk). W is the
# voters of the run dir's cluster (its cluster_size, as pkv-cluster writes
# it) unless --floor-writers says; --json carries both floors and the put's
# p50 over each; the floor leaves no file behind; a floor that cannot write
# (no dir, a writer's file too large) ends with exit 69 and a reason rather
# than hanging; a bad --floor-writers is a usage error. No speed is judged.
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

out=$(bench --fdatasync-floor 0.2 --floor-writers 3 2>"$T_DIR/floor.err") ||
	t_fail "pkv-bench --floor-writers 3 exited $?: $(cat "$T_DIR/floor.err")"
echo "$out" | sed 's/^/  | /'
echo "$out" | grep -Eq '^floor: fdatasync of a 4 KiB append p50 [0-9.]+ us p99 [0-9.]+ us' ||
	t_fail "the one-writer floor line is gone"
echo "$out" | grep -Eq '^floor: 3 writers in lockstep.* p50 [0-9.]+ us p99 [0-9.]+ us \([0-9]+ rounds\)' ||
	t_fail "no line of the 3-writer floor"
echo "$out" | grep -Eq '^floor: put-new p50 / fdatasync p50 = [0-9.]+$' || t_fail "no ratio to the one-writer floor"
echo "$out" | grep -Eq '^floor: put-new p50 / 3-writer floor p50 = [0-9.]+$' || t_fail "no ratio to the 3-writer floor"
left=$(ls -A "$floor_dir")
[ -z "$left" ] || t_fail "the floor left files behind: $left"
t_log "--floor-writers 3 overrides the run dir; text shows both floors; no file is left"

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
echo ok
