#!/usr/bin/env bash
# Key watches (docs/design.md §8.3) across real daemons: a watch on node2
# sees a key chosen on node1 and its lifetime end, in order, then the next
# generation; a watch started from generation g after g+1 was chosen
# reports that g ended and g+1 at once; a bucket watch reports every key;
# bad watch requests get a clear error.
. "$(dirname "$0")/lib.sh"
: "${PKV_KEY_EVENTS:?}"

t_start_cluster 3
t_watches() { [ "$(t_field "$1" watches | cut -d' ' -f1)" = "$2" ]; }
t_lines() { [ "$(wc -l <"$1")" -ge "$2" ]; }

# a watch of k on node2, before anything is chosen
t_pkv -n node2 watch k >"$T_DIR/w1" 2>"$T_DIR/w1.err" &
T_PID[w1]=$!
t_wait_for "node2 serves the watch" t_watches 2 1

# chosen on node1, bound to a process; the process exits: the lifetime ends
t_pkv -n node1 hold k v1 -- true || t_fail "hold"
t_wait_for "chosen and ended on the watch" t_lines "$T_DIR/w1" 2
t_pkv -n node3 put k v2 >/dev/null || t_fail "put of generation 2"
t_wait_for "generation 2 on the watch" t_lines "$T_DIR/w1" 3
printf 'chosen k 1 v1\nended k 1\nchosen k 2 v2\n' >"$T_DIR/want1"
diff -u "$T_DIR/want1" <(head -n 3 "$T_DIR/w1") || t_fail "watch of k: events out of order"

# from generation 1, after generation 2 was chosen: reported at once
t_pkv -n node3 watch --from 1 --json k >"$T_DIR/w2" &
T_PID[w2]=$!
t_wait_for "the state after generation 1" t_lines "$T_DIR/w2" 2
grep -q '^{"event":"ended","key":"k","generation":1}$' "$T_DIR/w2" ||
	t_fail "no ended event for generation 1: $(cat "$T_DIR/w2")"
grep -q '^{"event":"chosen","key":"k","generation":2,"value":"v2"}$' "$T_DIR/w2" ||
	t_fail "no chosen event for generation 2: $(cat "$T_DIR/w2")"

# a bucket watch: every key of the bucket, also those chosen before it
t_pkv -n node1 put -b bk a 1 >/dev/null || t_fail "put a"
t_pkv -n node1 wait >/dev/null
t_pkv -n node2 get -b bk a >/dev/null || t_fail "get a"
t_pkv -n node2 watch -b bk >"$T_DIR/w3" &
T_PID[w3]=$!
t_wait_for "the bucket's key a" t_lines "$T_DIR/w3" 1
t_pkv -n node3 put -b bk b 2 >/dev/null || t_fail "put b"
t_wait_for "the bucket's key b" t_lines "$T_DIR/w3" 2
printf 'chosen a 1 1\nchosen b 1 2\n' >"$T_DIR/want3"
diff -u "$T_DIR/want3" "$T_DIR/w3" || t_fail "bucket watch"

# bad input: a clear error, exit 64, and the daemon serves on
rc=0; t_pkv watch "" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 64 ] || t_fail "an empty key: exit $rc"
rc=0; t_pkv watch --from x k 2>"$T_DIR/err" || rc=$?
[ "$rc" = 64 ] && grep -q "generation" "$T_DIR/err" || t_fail "a bad --from: exit $rc"
rc=0; t_pkv watch -b "$(head -c 256 /dev/zero | tr '\0' b)" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 64 ] || t_fail "a bucket name over 255 bytes: exit $rc"
rc=0; t_pkv watch "$(head -c 1025 /dev/zero | tr '\0' k)" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 65 ] || t_fail "a key over 1024 bytes: exit $rc"
out=$("$PKV_KEY_EVENTS" bad-requests "$T_DIR/node2/pkvd.sock") || t_fail "$out"
t_log "$out"
[ "$(t_pkv -n node2 get k)" = v2 ] || t_fail "node2 after bad watches"
t_log "key watches: in order, from a generation, bucket-wide"
