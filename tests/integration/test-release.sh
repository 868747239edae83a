#!/usr/bin/env bash
# Release (docs/design.md §8.4): the process a key is bound to ends its
# lifetime early and the key is gone from every daemon while the process
# lives on; another process is refused; a release of a generation that
# already ended says so and changes nothing.
. "$(dirname "$0")/lib.sh"
: "${PKV_KEY_EVENTS:?}"

t_start_cluster 3
t_absent() { ! t_pkv -n "node$1" get --timeout 1000 rk >/dev/null 2>&1; }
t_has() { [ "$(t_pkv -n "node$1" get rk 2>/dev/null)" = held ]; }

coproc HOLDER { "$PKV_KEY_EVENTS" holder "$T_DIR/node1/pkvd.sock" rk; }
T_PID[holder]=$HOLDER_PID
read -r word gen <&"${HOLDER[0]}" || t_fail "the holder did not start"
[ "$word" = gen ] || t_fail "holder: $word $gen"
for n in 1 2 3; do t_wait_for "rk on node$n" t_has "$n"; done

# another process, on the holder's daemon and elsewhere: refused, nothing ends
rc=0; t_pkv -n node1 release rk "$gen" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 3 ] && grep -q "not bound to this process" "$T_DIR/err" ||
	t_fail "a release by another process: exit $rc: $(cat "$T_DIR/err")"
rc=0; t_pkv -n node2 release rk "$gen" 2>/dev/null || rc=$?
[ "$rc" = 3 ] || t_fail "a release through another daemon: exit $rc"
for n in 1 2 3; do t_has "$n" || t_fail "rk lost on node$n after refused releases"; done

# the holder releases: gone everywhere while it still runs
echo go >&"${HOLDER[1]}"
read -r r1 <&"${HOLDER[0]}"
read -r r2 <&"${HOLDER[0]}"
[ "$r1" = released ] || t_fail "the holder's release: $r1"
[ "$r2" = stale ] || t_fail "a second release of generation $gen: $r2"
for n in 1 2 3; do t_wait_for "rk gone from node$n" t_absent "$n"; done
kill -0 "$HOLDER_PID" || t_fail "the holder exited"

# a stale generation from the command line: exit 1, says so
rc=0; t_pkv -n node1 release rk "$gen" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 1 ] && grep -q "already ended" "$T_DIR/err" ||
	t_fail "a stale release: exit $rc: $(cat "$T_DIR/err")"
# the next put chooses anew, in a higher generation
[ "$(t_pkv -n node2 put rk again)" = again ] || t_fail "put after the release"
g2=$(t_pkv -n node3 get -g rk | tail -n 1)
[ "$g2" -gt "$gen" ] || t_fail "generation after the release: $g2"
# bad input
rc=0; t_pkv release rk 0 2>/dev/null || rc=$?
[ "$rc" = 64 ] || t_fail "generation 0: exit $rc"
rc=0; t_pkv release rk 2>/dev/null || rc=$?
[ "$rc" = 64 ] || t_fail "no generation: exit $rc"
t_log "release: generation $gen released by its holder, next generation $g2"
