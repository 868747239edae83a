#!/usr/bin/env bash
# The recipes (recipes/, README "Recipes") against a 3-node cluster: a
# follower takes over when the leader dies, and a leader hands over by
# resigning; a fenced lock refuses the write of a holder whose lock ended
# (its token is older than the next holder's); a service registry entry
# dies with its process; a barrier lets nobody through before the last
# member arrives.
. "$(dirname "$0")/lib.sh"
: "${RECIPE_LEADER:?}" "${RECIPE_FENCED_LOCK:?}" "${RECIPE_REGISTRY:?}" "${RECIPE_BARRIER:?}"

t_start_cluster 3
s() { echo "$T_DIR/node$1/pkvd.sock"; }
t_has_line() { grep -q "$2" "$1" 2>/dev/null; }

# ---- leader election
mkfifo "$T_DIR/a.in" "$T_DIR/b.in" "$T_DIR/c.in"
"$RECIPE_LEADER" "$(s 1)" leader alice <"$T_DIR/a.in" >"$T_DIR/a.out" 2>&1 &
T_PID[la]=$!
exec 7>"$T_DIR/a.in"
t_wait_for "alice leads" t_has_line "$T_DIR/a.out" "^leader alice term 1$"
"$RECIPE_LEADER" "$(s 2)" leader bob <"$T_DIR/b.in" >"$T_DIR/b.out" 2>&1 &
T_PID[lb]=$!
exec 8>"$T_DIR/b.in"
"$RECIPE_LEADER" "$(s 3)" leader carol <"$T_DIR/c.in" >"$T_DIR/c.out" 2>&1 &
T_PID[lc]=$!
exec 9>"$T_DIR/c.in"
t_wait_for "bob follows" t_has_line "$T_DIR/b.out" "^follower of alice term 1$"
t_wait_for "carol follows" t_has_line "$T_DIR/c.out" "^follower of alice term 1$"
kill -KILL "${T_PID[la]}"
t_wait_for "a new leader in term 2" \
	sh -c "grep -q '^leader .* term 2$' '$T_DIR/b.out' '$T_DIR/c.out'"
if grep -q '^leader bob term 2$' "$T_DIR/b.out"; then new=b old=c; else new=c old=b; fi
t_wait_for "the other follows term 2" t_has_line "$T_DIR/$old.out" "^follower of .* term 2$"
# the new leader resigns: the last one takes term 3
if [ "$new" = b ]; then echo resign >&8; else echo resign >&9; fi
t_wait_for "term 3 after a resignation" t_has_line "$T_DIR/$old.out" "^leader .* term 3$"
t_log "leader: take-over after a kill (term 2) and after a resignation (term 3)"

# ---- fenced lock: a stale holder's write refused
res=$T_DIR/resource
mkfifo "$T_DIR/f1.in" "$T_DIR/f2.in"
"$RECIPE_FENCED_LOCK" "$(s 1)" flock "$res" <"$T_DIR/f1.in" >"$T_DIR/f1.out" 2>&1 &
T_PID[f1]=$!
exec 5>"$T_DIR/f1.in"
t_wait_for "the first holder" t_has_line "$T_DIR/f1.out" "^locked token 1$"
echo "write one" >&5
t_wait_for "the first write" t_has_line "$T_DIR/f1.out" "^written 1$"
"$RECIPE_FENCED_LOCK" "$(s 2)" flock "$res" <"$T_DIR/f2.in" >"$T_DIR/f2.out" 2>&1 &
T_PID[f2]=$!
exec 6>"$T_DIR/f2.in"
echo release >&5 # the first holder's lock ends; it lives on, and is now stale
t_wait_for "the second holder" t_has_line "$T_DIR/f2.out" "^locked token 2$"
echo "write two" >&6
t_wait_for "the second write" t_has_line "$T_DIR/f2.out" "^written 2$"
echo "write stale" >&5
t_wait_for "the stale write refused" t_has_line "$T_DIR/f1.out" "^refused 1 < 2$"
[ "$(tail -n 1 "$res")" = two ] || t_fail "the resource holds '$(tail -n 1 "$res")'"
echo quit >&5; echo quit >&6
t_log "fenced lock: token 1's write after token 2 refused"

# ---- service registry
mkfifo "$T_DIR/r1.in" "$T_DIR/r2.in"
"$RECIPE_REGISTRY" "$(s 1)" register web 10.0.0.1:80 node1 <"$T_DIR/r1.in" >"$T_DIR/r1.out" &
T_PID[r1]=$!
exec 3>"$T_DIR/r1.in"
"$RECIPE_REGISTRY" "$(s 2)" register web 10.0.0.2:80 node2 <"$T_DIR/r2.in" >"$T_DIR/r2.out" &
T_PID[r2]=$!
exec 4>"$T_DIR/r2.in"
t_wait_for "r1 registered" t_has_line "$T_DIR/r1.out" "^registered"
t_wait_for "r2 registered" t_has_line "$T_DIR/r2.out" "^registered"
list_is() { [ "$("$RECIPE_REGISTRY" "$(s 3)" list web | tr '\n' ' ')" = "$1" ]; }
t_wait_for "both listed" list_is "10.0.0.1:80 10.0.0.2:80 "
kill -KILL "${T_PID[r1]}"
t_wait_for "the dead instance gone" list_is "10.0.0.2:80 "
t_log "registry: an instance's entry gone with its process"

# ---- barrier: 3 members, nobody passes before the third
for m in 1 2; do
	mkfifo "$T_DIR/b$m.in"
	"$RECIPE_BARRIER" "$(s $m)" start 3 m$m <"$T_DIR/b$m.in" >"$T_DIR/bar$m.out" 2>&1 &
	T_PID[b$m]=$!
	eval "exec $((m + 9))>'$T_DIR/b$m.in'"
	t_wait_for "m$m joined" t_has_line "$T_DIR/bar$m.out" "^joined m$m$"
done
sleep 0.3 # a member passing early would have printed by now
grep -q passed "$T_DIR"/bar*.out && t_fail "a member passed the barrier with 2 of 3"
mkfifo "$T_DIR/b3.in"
"$RECIPE_BARRIER" "$(s 3)" start 3 m3 <"$T_DIR/b3.in" >"$T_DIR/bar3.out" 2>&1 &
T_PID[b3]=$!
exec 12>"$T_DIR/b3.in"
for m in 1 2 3; do t_wait_for "m$m passed" t_has_line "$T_DIR/bar$m.out" "^passed$"; done
t_log "barrier: all three passed once the third arrived"
