#!/usr/bin/env bash
# A bucket watch rides out a restart of its daemon (docs/design.md §8.3):
# `pkv watch -b wb` on node2 has printed keys a, r (each held by a process),
# c and k1..k80; node2 stops; while it is down a's and r's holders exit, r is put
# again and n is put for the first time, through node1; node2 starts again
# (in memory: it copies the keys from a majority). The same watch prints
# the ends of a and r, r's new value and n, and afterwards e (held, then
# let go) and a last key z as they happen: each event exactly once, each
# key's in order, nothing for c or k1..k80 again. e and z are put after a's
# tombstone was collected (docs/design.md §4.6), so they start at the
# bucket's floor, and the watch must not print an end of the generation
# below it, which no daemon held (the old code printed "ended e 1").
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
t_watches() { [ "$(t_field "$1" watches | cut -d' ' -f1)" = "$2" ]; }
t_has_line() { grep -qxF -- "$2" "$1"; }
# t_hold NAME KEY VALUE: KEY held on node1 by a process that waits for the
# file NAME (not signalled when node1's lease lapses on a loaded host), or
# for the run dir to go (the test ended early); pkv's output goes to
# NAME.out, which a failure prints
t_hold() {
	"$PKV" -n node1 hold --doubt-signal 0 -b wb "$2" "$3" -- \
		sh -c "until [ -e '$T_DIR/$1' ] || [ ! -d '$T_DIR' ]; do sleep 0.02; done" \
		>"$T_DIR/$1.out" 2>&1 &
	T_PID[$1]=$!
}
# t_wait_held NAME LINE: LINE on the watch, else fail with the holder's output
t_wait_held() {
	local end=$(($(t_now_ms) + T_DEADLINE * 1000))
	until t_has_line "$T_DIR/w" "$2"; do
		[ "$(t_now_ms)" -lt "$end" ] && { sleep 0.02; continue; }
		t_fail "timed out after ${T_DEADLINE}s waiting for '$2' on the watch; \
pkv hold of $1: $(cat "$T_DIR/$1.out")$(kill -0 "${T_PID[$1]}" 2>/dev/null && echo ' (still running)'); \
the watch: $(tr '\n' '|' <"$T_DIR/w")"
	done
}
# the key ends with its holder; how the holder ended is not what is tested
t_let_go() {
	local rc=0
	touch "$T_DIR/$1"
	wait "${T_PID[$1]}" || rc=$?
	[ "$rc" = 0 ] || t_log "the holder of $1 exited $rc"
	unset "T_PID[$1]"
}

t_pkv -n node2 watch -b wb >"$T_DIR/w" 2>"$T_DIR/w.err" &
T_PID[w]=$!
t_wait_for "node2 serves the watch" t_watches 2 1

t_hold go-a a va
t_hold go-r r vr1
t_pkv -n node1 put -b wb c vc >/dev/null || t_fail "put c"
# more keys than the watch's first table holds (64): it grows, and none of
# them prints again after the restart
for i in $(seq 1 80); do
	t_pkv -n node3 put -b wb "k$i" "v$i" >/dev/null || t_fail "put k$i"
done
for l in "chosen a 1 va" "chosen r 1 vr1" "chosen c 1 vc" "chosen k80 1 v80"; do
	t_wait_for "'$l' on the watch" t_has_line "$T_DIR/w" "$l"
done

t_stop 2
t_let_go go-a
t_let_go go-r
t_wait_for "a and r ended on node3" sh -c \
	"! '$PKV' -n node3 get -b wb a >/dev/null 2>&1 && ! '$PKV' -n node3 get -b wb r >/dev/null 2>&1"
t_pkv -n node1 put -b wb r vr2 >/dev/null || t_fail "put of r's generation 2"
t_pkv -n node1 put -b wb n vn >/dev/null || t_fail "put n"

t_start 2
for l in "ended a 1" "ended r 1" "chosen r 2 vr2" "chosen n 1 vn"; do
	t_wait_for "'$l' on the watch after node2's restart" t_has_line "$T_DIR/w" "$l"
done
kill -0 "${T_PID[w]}" 2>/dev/null || t_fail "the watch ended: $(cat "$T_DIR/w.err")"

# a's tombstone is collected on every daemon (§4.6: node2 too, once synced),
# so the bucket's floor is 2, a's generation after its end
t_a_collected() {
	local out n
	out=$("$PKV" -n node1 info -b wb a 2>/dev/null) || return 1
	for n in 1 2 3; do grep -q "^node$n acceptor gen=0 " <<<"$out" || return 1; done
}
t_wait_for "a's tombstone collected on every daemon" t_a_collected

# events after the restart, on the same stream; z comes last of all. e,
# never put before, starts at the floor: its first generation is 2, and
# node2, which meets e first at 2, reports no end of a generation 1 it never
# held (it was collected, or never began)
t_hold go-e e ve
t_wait_held go-e "chosen e 2 ve"
t_let_go go-e
t_wait_for "'ended e 2' on the watch" t_has_line "$T_DIR/w" "ended e 2"
t_pkv -n node1 put -b wb z vz >/dev/null || t_fail "put z"
# z starts at the floor, 2 or 3 as e's tombstone was collected yet or not
t_z_line() { grep -xE "chosen z [23] vz" "$T_DIR/w" >"$T_DIR/z"; }
t_wait_for "'chosen z 2|3 vz' on the watch" t_z_line

# each event once: the lines as a set, then each key's in order
{
	printf '%s\n' "chosen a 1 va" "chosen r 1 vr1" "chosen c 1 vc" "ended a 1" "ended r 1" \
		"chosen r 2 vr2" "chosen n 1 vn" "chosen e 2 ve" "ended e 2" "$(head -n 1 "$T_DIR/z")"
	for i in $(seq 1 80); do echo "chosen k$i 1 v$i"; done
} | sort >"$T_DIR/want"
sort "$T_DIR/w" | diff -u "$T_DIR/want" - || t_fail "the bucket watch across node2's restart: $(cat "$T_DIR/w.err")"
for k in a r e; do
	grep " $k " "$T_DIR/w" >"$T_DIR/w.$k"
	grep " $k " "$T_DIR/want" | sort -t' ' -k3,3n -k1,1 | diff -u - "$T_DIR/w.$k" ||
		t_fail "key $k's events out of order"
done
kill -0 "${T_PID[w]}" 2>/dev/null || t_fail "the watch ended: $(cat "$T_DIR/w.err")"
t_log "a bucket watch across its daemon's restart: no event lost, none twice"
echo ok
