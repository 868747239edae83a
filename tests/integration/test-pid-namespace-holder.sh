#!/usr/bin/env bash
# Clients in another pid namespace (a container) bind to themselves: the
# daemon takes "the calling process" from the kernel (the attach
# connection's credentials, in its own pid namespace), never from a number
# the client computed. In a new pid namespace (unshare -p -f --mount-proc):
# `pkv hold` (there pid 1) and a library client that binds to itself
# (PKV_PID_SELF) each hold a key bound to their host pid; the key lives
# while they do, and ends when they are killed. An explicit --pid from the
# namespace names another process here, and is refused with a clear error.
# Skips (77) where pid namespaces cannot be created.
. "$(dirname "$0")/lib.sh"
: "${PKV_BIND_SELF:?}"

NS=(unshare -p -f --mount-proc)
if ! "${NS[@]}" true 2>/dev/null; then
	NS=(unshare -U -r -p -f --mount-proc)
	"${NS[@]}" true 2>/dev/null || {
		echo "SKIP: cannot create a pid namespace here (unshare -p, as root or in a user namespace)"
		exit 77
	}
fi

t_start_cluster 3
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is "$i" 3; done

# child_of PID: the one child of an unshare process (the namespace's pid 1)
child_of() { cat "/proc/$1/task/$1/children" 2>/dev/null | awk '{ print $1 }'; }
t_pid_is() { [ "$(t_pkv -n "node$1" pid "$2" 2>/dev/null)" = "$3" ]; }
# absent: exit 1 (not found), not a daemon that does not answer yet
t_absent() {
	local rc=0
	t_pkv -n "node$1" get "$2" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 1 ]
}

# ns_holder KEY NAME CMD...: start CMD in a new pid namespace; check that KEY
# is bound to its host pid everywhere and still held after twice the
# failure timeout; kill it; the key ends everywhere.
ns_holder() {
	local key=$1 name=$2 outer inner i t0
	shift 2
	"${NS[@]}" "$@" >"$T_DIR/$name.out" 2>&1 &
	outer=$!
	T_PID[$name]=$outer
	t_wait_for "$name started in its namespace" sh -c "[ -n \"\$(cat /proc/$outer/task/$outer/children 2>/dev/null)\" ]"
	inner=$(child_of "$outer")
	T_PID[$name-inner]=$inner
	grep -q '^NSpid:.*[0-9][[:space:]]\+1$' "/proc/$inner/status" ||
		t_fail "$name is not pid 1 of a new pid namespace: $(grep NSpid "/proc/$inner/status")"
	for i in 1 2 3; do
		t_wait_for "$key bound to host pid $inner on node$i" t_pid_is "$i" "$key" "$inner"
	done
	sleep $((2 * T_FT / 1000 + 1))
	for i in 1 2 3; do
		t_pid_is "$i" "$key" "$inner" || t_fail "$key ended on node$i while $name lives"
	done
	t0=$(t_now_ms)
	kill -KILL "$inner"
	for i in 1 2 3; do t_wait_for "$key gone on node$i after $name died" t_absent "$i" "$key"; done
	t_log "$name: $key bound to host pid $inner, held while it lived, gone $(($(t_now_ms) - t0)) ms after its death"
	wait "$outer" 2>/dev/null || true
	unset "T_PID[$name]" "T_PID[$name-inner]"
}

ns_holder ns-hold hold "$PKV" -n node1 hold ns-hold held -- sleep 600
ns_holder ns-self bind-self "$PKV_BIND_SELF" "$T_DIR/node1/pkvd.sock" ns-self mine

# An explicit pid from the namespace: refused, nothing bound.
rc=0
"${NS[@]}" sh -c 'exec "$0" -n node1 put --pid 1 ns-explicit v' "$PKV" >"$T_DIR/explicit.out" 2>&1 || rc=$?
[ "$rc" = 3 ] || t_fail "an explicit --pid from another pid namespace: exit $rc: $(cat "$T_DIR/explicit.out")"
grep -q "pid namespace" "$T_DIR/explicit.out" || t_fail "no clear error: $(cat "$T_DIR/explicit.out")"
t_absent 1 ns-explicit || t_fail "ns-explicit was bound"
grep -q "another pid namespace" "$T_DIR/node1/pkvd.log" || t_fail "the daemon did not log the refusal"
t_log "explicit --pid from the namespace: $(head -n 1 "$T_DIR/explicit.out")"
echo ok
