#!/usr/bin/env bash
# A key watch rides out a restart of its daemon (docs/design.md §8.3): a
# `pkv watch k` on node2 sees generation 1 chosen; node2 stops; while it is
# down generation 1 ends (its holder exits) and generation 2 is chosen
# through node3; node2 starts again (in memory: it copies the keys from a
# majority), and the same watch prints the end of 1, the value of 2 and,
# when its ttl passes, its end — no event lost across the restart, none
# printed twice.
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
t_watches() { [ "$(t_field "$1" watches | cut -d' ' -f1)" = "$2" ]; }
t_lines() { [ "$(wc -l <"$1")" -ge "$2" ]; }

t_pkv -n node2 watch k >"$T_DIR/w" 2>"$T_DIR/w.err" &
T_PID[w]=$!
t_wait_for "node2 serves the watch" t_watches 2 1

# generation 1, held by a process that waits for a file
t_pkv -n node1 hold k v1 -- sh -c "until [ -e '$T_DIR/go' ]; do sleep 0.02; done" &
T_PID[h]=$!
t_wait_for "generation 1 on the watch" t_lines "$T_DIR/w" 1

t_stop 2
touch "$T_DIR/go"
wait "${T_PID[h]}" || t_fail "the holder exited $?"
unset "T_PID[h]"
t_wait_for "generation 1 ended on node3" sh -c "! '$PKV' -n node3 get k >/dev/null 2>&1"
t_pkv -n node3 put --ttl 6000 k v2 >/dev/null || t_fail "put of generation 2"

t_start 2
t_wait_for "node2 ready again" "$PKV" -n node2 wait --timeout 1
# generation 2 ends with its ttl: its end is the fourth line, after which
# nothing was printed twice (the stream is in order)
t_wait_for "the end of 1, generation 2 and its end on the watch" t_lines "$T_DIR/w" 4
printf 'chosen k 1 v1\nended k 1\nchosen k 2 v2\nended k 2\n' >"$T_DIR/want"
diff -u "$T_DIR/want" "$T_DIR/w" || t_fail "the watch across node2's restart: $(cat "$T_DIR/w.err")"
kill -0 "${T_PID[w]}" 2>/dev/null || t_fail "the watch ended: $(cat "$T_DIR/w.err")"
t_log "a key watch across its daemon's restart: no event lost, none twice"
